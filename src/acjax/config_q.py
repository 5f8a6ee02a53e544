"""The `q` config section: the value-based algorithms (qmix, vdn, iql; `acjax.valuebased`).

Defaults are PyMARL's (`src/config/algs/qmix.yaml`, `default.yaml`: RMSprop 5e-4, 5000-episode
buffer, 32-episode batches, target copied every 200 episodes, epsilon 1 -> 0.05 over 50k steps,
GRU 64, mixing embed 32, hypernet embed 64); the ACPO authors' warehouse files (MARLlib) are the
presets in experiments/authors/rware/*-{qmix,vdn}.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

from acjax.config_io import (
    require,
    require_nonnegative,
    require_one_of,
    require_positive,
    require_unit,
)


@dataclass(frozen=True)
class QConfig:
    episode_len: int = 0  # steps each env plays per update from a reset (0 = the world's limit)
    buffer_episodes: int = 5000  # episodes a run's replay holds (over all environments)
    batch_episodes: int = 32  # episodes per gradient step (over all devices)
    train_steps: int = 1  # gradient steps per update (one episode per environment)
    target_update_episodes: int = 200  # episodes between hard copies into the target networks
    epsilon_start: float = 1.0  # epsilon-greedy: the first epsilon
    epsilon_finish: float = 0.05  # epsilon after the anneal
    epsilon_anneal_steps: int = 50_000  # env steps of the linear anneal
    optimizer: str = "rmsprop"  # rmsprop (PyMARL: alpha 0.99, eps 1e-5) | adam
    lr: float = 5e-4  # learning rate of agent networks and mixer
    max_grad_norm: float = 10.0  # global gradient norm clipping
    gamma: float = 0.99  # discount
    double_q: bool = True  # argmax of the online network, value of the target network
    n_step: int = 1  # rewards summed before the bootstrap (1 = TD(0))
    reward_standardize: bool = False  # rewards of a batch to mean 0, std 1 (MARLlib)
    agent_hidden: tuple[int, ...] = (64,)  # MLP widths of the agent Q-network before its GRU
    rnn_hidden: int = 64  # the agent network's GRU width (0: feed-forward)
    mixing_embed: int = 32  # qmix: width of the mixing network's hidden layer
    hypernet_embed: int = 64  # qmix: hidden width of the weight hypernetworks (0: one layer)

    def validate(self) -> None:
        require_nonnegative(self, "q", ("episode_len", "rnn_hidden", "hypernet_embed"))
        require_positive(self, "q", ("buffer_episodes", "batch_episodes", "train_steps"))
        require_positive(self, "q", ("target_update_episodes", "lr", "max_grad_norm", "n_step"))
        require_positive(self, "q", ("mixing_embed",))
        require_nonnegative(self, "q", ("epsilon_anneal_steps",))
        require_unit(self, "q", ("gamma", "epsilon_start", "epsilon_finish"))
        require_one_of(self, "q", "optimizer", ("rmsprop", "adam"))
        h = self.agent_hidden
        require(
            len(h) > 0 and all(x > 0 for x in h),
            "q.agent_hidden",
            f"needs positive sizes, got {list(h)}",
        )

    def validate_in_use(self, num_envs: int) -> None:
        """What the value-based trainer needs of the section (its replay per environment)."""
        require(
            self.buffer_episodes >= num_envs,
            "q.buffer_episodes",
            f"{self.buffer_episodes} holds fewer than one episode per environment "
            f"(num_envs={num_envs})",
        )
        require(
            self.batch_episodes <= self.buffer_episodes,
            "q.batch_episodes",
            f"{self.batch_episodes} is more than the replay holds "
            f"(q.buffer_episodes={self.buffer_episodes})",
        )

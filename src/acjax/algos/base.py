"""The algorithm interface the trainers call: four pieces and the diagnostics, each a Protocol.
The interface is one-way: the pieces see the update's maths (`acjax.ppo.PPOContext`), never a
trainer, and no trainer names an algorithm's classes.

Shapes carry an explicit agent axis: obs [..., N, O], global_state [..., S], actions [..., N]
(discrete) or [..., N, A] (continuous), memories [..., N, H].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp


class Acting(Protocol):
    """How agents choose actions (decentralized execution) and what the policy sees."""

    def inputs(self, obs: jax.Array) -> jax.Array:
        """Policy inputs of agent i for its own action ([..., N, D]; the shape of every input)."""

    def act(self, policy, head, obs, mask, hidden, reset, key):
        """policy(h, x, reset) -> (h', out): one step of the actor for every agent.
        Returns (actions, log_probs [..., N], inputs [..., N, D], memories [..., N, H])."""

    def aux_loss(self, policy_out: Callable, head, batch) -> jax.Array:
        """An extra actor loss on the update's batch (0 for most); policy_out(x) evaluates the
        actor at the batch's memories on inputs x [C, L, ..., N, D]."""

    def init_params(self, key: jax.Array, obs_dim: int) -> dict:
        """Parameters the acting piece owns besides the actor ({} for most; ACPO's belief
        network: {"belief": ...}), added to the learner's params."""

    def bind(self, params) -> Acting:
        """The piece reading its own parameters from the learner's `params` (itself for most)."""

    def param_losses(self, ctx, params, batch) -> dict:
        """{name: loss} on the parameters of `init_params`, added to the update's loss and
        reported as metrics ({} for most)."""

    reads_behaviour: bool  # param_losses reads the behaviour policy's outputs (Batch.old_out)


class Critic(Protocol):
    """What each agent's value function sees, and the value a truncated step bootstraps from."""

    bootstrap_agent: int | None  # None: B_t per agent from its own value; k: agent k's value

    def input_parts(self, obs, global_state, actions, actor_inputs):
        """(a block every agent sees [..., S] or None, each agent's block [..., N, P]): the
        first layer multiplies the shared block once per state (`PPOContext.critic_step`)."""

    def inputs(self, obs, global_state, actions, actor_inputs) -> jax.Array:
        """Critic inputs of every agent, [..., N, Dc]: `acjax.nets.join_inputs(*input_parts)`."""

    def bootstrap_inputs(self, final_obs, final_global_state) -> jax.Array:
        """Inputs whose values are B_t, the value of the state after step t: [..., N, Dc], or
        [..., Dc] for agent `bootstrap_agent`."""


class Advantages(Protocol):
    def __call__(self, rewards, values, bootstrap, terminated, truncated):
        """rewards, terminated, truncated [T, E]; values, bootstrap [T, E, N] (or [T, E] for
        one bootstrap agent) -> (advantages, targets) [T, E, N]."""


class Optimization(Protocol):
    def make_optimizer(self, ppo, num_updates: int) -> Any:
        """An object whose `init(params)` gives the learner's optimizer state (`ppo`: the PPO
        config section, with a sweep's values as arrays)."""

    def optimize(self, ctx, params, opt_state, batch, value_norm, key):
        """The optimization phase of one update on the local `Batch`, through the maths of
        `ctx` (`acjax.ppo.PPOContext`) -> (params, opt_state, metrics). A piece whose metrics
        add names to the PPO family's lists them in a `metric_names` attribute (HATRPO)."""


class Diagnostics(Protocol):
    """Metrics an algorithm adds about its own pieces (ACPO: `pred_match`, `prefix_sens`)."""

    names: tuple[str, ...]

    def __call__(self, ctx, critic_params, traj, values, critic_h) -> dict:
        """{name: scalar} from the rollout `traj` (`acjax.ppo.Transition` [T, E, ...]), the
        critic's values [T, E, N] and its memories entering each step."""


class OwnsNoParams:
    """The `Acting` methods of a piece without parameters of its own."""

    reads_behaviour = False

    def init_params(self, key, obs_dim):
        return {}

    def bind(self, params):
        return self

    def param_losses(self, ctx, params, batch):
        return {}


class NoDiagnostics:
    names: tuple[str, ...] = ()

    def __call__(self, ctx, critic_params, traj, values, critic_h) -> dict:
        return {}


class Algorithm(NamedTuple):
    name: str
    acting: Acting
    critic: Critic
    advantages: Advantages | None
    optimization: Optimization
    diagnostics: Diagnostics = NoDiagnostics()


def input_dims(algo: Algorithm, spec, head) -> tuple[int, int]:
    """(the policy's input size, the critic's) for a world of this spec: the sizes the
    networks are built for."""
    obs = jnp.zeros((spec.num_agents, spec.obs_dim), jnp.float32)
    actor_in = algo.acting.inputs(obs)
    state = jnp.zeros((spec.state_dim,), jnp.float32)
    critic_in = algo.critic.inputs(obs, state, head.zeros((spec.num_agents,)), actor_in)
    return actor_in.shape[-1], critic_in.shape[-1]

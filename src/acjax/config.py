"""Typed, frozen run configuration: YAML plus `key=value` overrides (dotted for nested keys).

Public top-level keys (scripts rely on them): env, algo, total_timesteps, num_envs, num_seeds,
seed, run_dir, resume. Every problem (unknown key, wrong type, impossible value) is a
`ConfigError` with a one-line message naming the key, raised before anything compiles. Each
section checks its own values (`validate`); what an algorithm demands of the config is declared
on its registry entry (`acjax.algos.AlgoInfo`). Reading files and overrides is
`acjax.config_io`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from acjax.algos import NAMES as ALGOS
from acjax.algos import REGISTRY as ALGO_REGISTRY
from acjax.algos import SWEEPABLE  # noqa: F401  (re-exported)
from acjax.config_io import (  # noqa: F401  (re-exported: acjax.config's public names)
    ConfigError,
    build,
    default_config_path,
    did_you_mean,
    json_like,
    load_yaml,
    merge,
    parse_overrides,
    require,
    require_nonnegative,
    require_one_of,
    require_positive,
    require_unit,
    to_dict,
)
from acjax.config_io import describe as _describe
from acjax.config_q import QConfig
from acjax.config_sections import ExternalConfig, HATRPOConfig, MaMuJoCoConfig
from acjax.sweep import flat_sweep, sweep_grid, with_values  # noqa: F401  (re-exported)

SPLITS = ("auto", "runs", "envs")  # how the runs of a program share the devices (Trainer)
# launch settings of this process (docs/distributed.md): a resumed run takes them from its
# command line, never from the saved config.yaml
DIST_KEYS = ("dist_coordinator", "dist_num_processes", "dist_process_id")


@dataclass(frozen=True)
class NetConfig:
    actor_hidden: tuple[int, ...] = (128, 128)  # hidden layer widths of the actor MLP
    critic_hidden: tuple[int, ...] = (128, 128)  # hidden layer widths of the critic MLP
    activation: str = "relu"  # relu | tanh | gelu
    layer_norm: bool = False  # layer normalization after each hidden layer
    share_params: bool = True  # an algorithm may force it (acjax.algos.REGISTRY; happo: false)
    rnn: str = "none"  # none | gru: a GRU after the MLP layers of actor and critic
    rnn_hidden: int = 64  # GRU width (net.rnn=gru)
    log_std_init: float = -0.5  # Gaussian heads: initial state-independent log-std

    def validate(self) -> None:
        from acjax.nets import ACTIVATIONS

        require(self.rnn in ("none", "gru"), "net.rnn", f"expected none or gru, got {self.rnn!r}")
        require_positive(self, "net", ("rnn_hidden",))
        for key in ("actor_hidden", "critic_hidden"):
            h = getattr(self, key)
            require(
                len(h) > 0 and all(x > 0 for x in h),
                f"net.{key}",
                f"needs positive sizes, got {list(h)}",
            )
        require(
            self.activation in ACTIVATIONS,
            "net.activation",
            f"expected one of {sorted(ACTIVATIONS)}, got {self.activation!r}",
        )


@dataclass(frozen=True)
class PPOConfig:
    rollout_len: int = 128  # env steps per environment per update
    epochs: int = 4  # PPO epochs over each rollout
    num_minibatches: int = 2  # minibatches per epoch
    lr: float = 5e-4  # actor learning rate (Adam)
    critic_lr: float = 5e-4  # critic learning rate (Adam)
    lr_decay: bool = False  # linear decay to 0 over the run
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda (ACPO: lambda per step; see acpo.lambda_micro)
    clip_eps: float = 0.2  # PPO ratio clipping
    ent_coef: float = 0.01  # entropy bonus
    max_grad_norm: float = 10.0  # global gradient norm clipping
    value_loss: str = "huber"  # huber | mse
    huber_delta: float = 10.0  # the Huber loss threshold (value_loss=huber)
    value_clip: float = 0.0  # 0 = no value clipping
    value_norm: bool = True  # MAPPO's running normalization of value targets
    adv_norm: bool = True  # normalize advantages over the minibatch
    adv_norm_per_agent: bool = False  # normalize advantages per agent instead of jointly
    adam_eps: float = 1e-5  # Adam's epsilon
    chunk_len: int = 16  # net.rnn=gru: steps per sequence chunk (divides rollout_len)
    kl_coef: float = 0.0  # RLlib's adaptive KL penalty: its initial coefficient (0 = off)
    kl_target: float = 0.01  # the KL the penalty's coefficient adapts to (RLlib's kl_target)
    complete_episodes: bool = False  # rollouts of whole episodes (rollout_len = the time limit)

    def validate(self) -> None:
        require_positive(self, "ppo", ("rollout_len", "epochs", "num_minibatches", "chunk_len"))
        require_positive(
            self, "ppo", ("lr", "critic_lr", "max_grad_norm", "adam_eps", "huber_delta")
        )
        require_positive(self, "ppo", ("kl_target",))
        require_nonnegative(self, "ppo", ("kl_coef",))
        require_unit(self, "ppo", ("gamma", "gae_lambda"))
        require(0 < self.clip_eps < 1, "ppo.clip_eps", f"must lie in (0, 1), got {self.clip_eps}")
        require_nonnegative(self, "ppo", ("ent_coef", "value_clip"))
        require_one_of(self, "ppo", "value_loss", ("huber", "mse"))


BELIEFS = ("sample", "mode", "none", "soft", "net")  # acpo.belief
SOFT_BELIEFS = ("soft", "net")  # probability vectors: discrete actions only


@dataclass(frozen=True)
class ACPOConfig:
    belief: str = "sample"  # sample | mode | none | soft | net (docs/acpo.md §2, §8)
    belief_mask: bool = False  # apply agent j's action mask to predictions of a_j
    belief_lr: float = 1e-3  # acpo.belief=net: the belief network's Adam learning rate
    belief_hidden: tuple[int, ...] = (64, 64)  # acpo.belief=net: its hidden layer widths
    critic_view: str = "global"  # global | local
    critic_prefix: str = "actual"  # actual | predicted
    lambda_micro: float = 0.0  # 0 = gae_lambda ** (1/N)
    aux_coef: float = -1.0  # -1 = auto: 0 with parameter sharing, 1 without

    def validate(self) -> None:
        require_one_of(self, "acpo", "belief", BELIEFS)
        require_positive(self, "acpo", ("belief_lr",))
        require_one_of(self, "acpo", "critic_view", ("global", "local"))
        require_one_of(self, "acpo", "critic_prefix", ("actual", "predicted"))
        require_unit(self, "acpo", ("lambda_micro",))


@dataclass(frozen=True)
class TD3Config:
    """The off-policy algorithms (ac_td3, hatd3, maddpg): HARL's off-policy MA-MuJoCo values
    (docs/references.md, "HARL MaMuJoCo settings": `algos_cfgs/hatd3.yaml`); noise terms are in
    units of (high - low) / 2."""

    train_interval: int = 50  # vector env steps per update, then the gradient steps
    updates_per_train: float = 1.0  # gradient steps per vector env step
    batch_size: int = 1000  # windows per gradient step (over all devices)
    buffer_size: int = 1_000_000  # transitions of a run's replay (over all environments)
    warmup_steps: int = 10_000  # env steps of uniform random actions before learning
    n_step: int = 1  # transitions per target window (k + 1 of Appendix N's k-step form)
    chain_target: str = "kstep"  # ac_td3: kstep | onestep (Appendix N's two forms; n_step 1)
    actor_lr: float = 5e-4  # actor learning rate (Adam)
    critic_lr: float = 1e-3  # critic learning rate (Adam)
    gamma: float = 0.99  # discount
    tau: float = 0.005  # Polyak averaging of the target networks
    expl_noise: float = 0.1  # Gaussian exploration noise while acting
    policy_noise: float = 0.2  # target policy smoothing (0: none)
    noise_clip: float = 0.5  # clip of the smoothing noise
    policy_freq: int = 2  # critic steps per actor (and target) step

    def validate(self) -> None:
        require_positive(self, "td3", ("train_interval", "batch_size", "buffer_size", "n_step"))
        require_positive(self, "td3", ("policy_freq", "updates_per_train", "actor_lr", "critic_lr"))
        for key in ("warmup_steps", "expl_noise", "policy_noise", "noise_clip"):
            require(
                getattr(self, key) >= 0, f"td3.{key}", f"must be >= 0, got {getattr(self, key)}"
            )
        require_unit(self, "td3", ("gamma", "tau"))

    def validate_in_use(self, num_envs: int) -> None:
        """What the off-policy trainer needs of the section (its replay per environment)."""
        per_env = self.buffer_size // num_envs
        require(
            per_env >= max(self.n_step, self.train_interval),
            "td3.buffer_size",
            f"{self.buffer_size} holds {per_env} transitions per environment, fewer than "
            f"td3.n_step and td3.train_interval",
        )
        require_one_of(self, "td3", "chain_target", ("kstep", "onestep"))
        require(
            self.chain_target == "kstep" or self.n_step == 1,
            "td3.chain_target",
            f"onestep targets read one transition: td3.n_step must be 1, got {self.n_step}",
        )


@dataclass(frozen=True)
class LogConfig:
    """What a run writes besides metrics.jsonl/metrics.csv."""

    tensorboard: bool = False  # TensorBoard event files in RUN_DIR/tensorboard (tensorboardX)


@dataclass(frozen=True)
class Config:
    env: str = "jumanji-rware-tiny-2ag"  # the world (`acjax list` shows every name)
    algo: str = "mappo"  # a key of acjax.algos.REGISTRY: mappo, acpo, happo, hatrpo, qmix, ...
    total_timesteps: int = 2_000_000  # env steps per seed, rounded up to whole updates
    num_envs: int = 64  # parallel environments per seed
    num_seeds: int = 1  # seeds trained together as one vmapped program
    seed: int = 0  # the first seed (seeds seed, seed+1, ...)
    run_dir: str = ""  # default runs/<env>-<algo>-<time>
    resume: str = ""  # a run folder to continue
    updates_per_call: int = 10  # PPO updates scanned in one compiled call
    devices: int = 0  # 0 = all local devices that divide what `split` shares out
    split: str = "auto"  # auto | runs (whole runs per device) | envs (each run's envs over all)
    checkpoint_interval_s: float = 60.0  # seconds between checkpoints (also at the end, on a stop)
    keep_checkpoints: int = 3  # checkpoints kept in RUN_DIR/checkpoints
    progress: bool = True  # the progress bar on stderr
    # multi-process runs with jax.distributed (docs/distributed.md); launch settings, not part
    # of what a run computes: a resumed run takes them from its command line, not config.yaml
    dist_coordinator: str = ""  # host:port of process 0 ("" = JAX_COORDINATOR_ADDRESS / auto)
    dist_num_processes: int = 1  # 1 = one process; 0 = detect the cluster (SLURM, Open MPI, ...)
    dist_process_id: int = 0  # this process's index in [0, dist_num_processes)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    net: NetConfig = field(default_factory=NetConfig)
    acpo: ACPOConfig = field(default_factory=ACPOConfig)
    hatrpo: HATRPOConfig = field(default_factory=HATRPOConfig)
    td3: TD3Config = field(default_factory=TD3Config)
    q: QConfig = field(default_factory=QConfig)
    mamujoco: MaMuJoCoConfig = field(default_factory=MaMuJoCoConfig)
    external: ExternalConfig = field(default_factory=ExternalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    # keyword arguments of a world's constructor (pettingzoo:<module>, jaxmarl:<env_id>,
    # smax-<scenario>), for instance env_kwargs.continuous_actions=true; plain YAML values
    env_kwargs: dict = field(default_factory=dict)  # pettingzoo:/jaxmarl:/smax- world kwargs
    # hyper-parameter sweep in one program: sweep.<key>=[v1, v2, ...] for keys in SWEEPABLE; the
    # grid of all swept keys' values (first key slowest) crossed with the seeds, value-major
    sweep: dict = field(default_factory=dict)  # sweep.<key>=[v1, v2]: one program (SWEEPABLE)

    @property
    def batch_steps(self) -> int:
        """Environment steps per update (per seed)."""
        family = ALGO_REGISTRY[self.algo].family if self.algo in ALGO_REGISTRY else "onpolicy"
        if family == "valuebased":  # one episode of q.episode_len steps per environment
            require(self.q.episode_len > 0, "q.episode_len", "0 (the world's limit) unresolved")
            return self.num_envs * self.q.episode_len
        steps = self.td3.train_interval if family == "offpolicy" else self.ppo.rollout_len
        return self.num_envs * steps

    @property
    def num_updates(self) -> int:
        """Updates of a run: enough for total_timesteps, rounded up to whole updates."""
        return -(-self.total_timesteps // self.batch_steps)

    def validate(self) -> None:
        """The values of every key, section by section, and the algorithm's constraints
        (`acjax.algos.AlgoInfo`); `acjax.config.validate` adds the sweep and the world."""
        require(
            self.algo in ALGOS,
            "algo",
            f"unknown algorithm {self.algo!r}"
            + (did_you_mean(self.algo, ALGOS) or f"; expected one of {', '.join(ALGOS)}"),
        )
        self.mamujoco.validate()
        self.external.validate()
        top = ("total_timesteps", "num_envs", "num_seeds", "updates_per_call", "keep_checkpoints")
        require_positive(self, "", top)
        require(self.devices >= 0, "devices", f"must be >= 0, got {self.devices}")
        require(
            self.split in SPLITS,
            "split",
            f"expected one of {', '.join(SPLITS)}, got {self.split!r}",
        )
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        self.ppo.validate()
        self.td3.validate()
        self.q.validate()
        info = ALGO_REGISTRY[self.algo]
        if info.off_policy:
            self.td3.validate_in_use(self.num_envs)
        if info.family == "valuebased":
            self.q.validate_in_use(self.num_envs)
        require(
            not info.feed_forward_only or self.net.rnn == "none",
            "net.rnn",
            f"{self.algo} has feed-forward policies only",
        )
        require(
            not self.sweep or bool(info.sweepable),
            "sweep",
            f"{self.algo} runs no hyper-parameter sweeps yet",
        )
        self.acpo.validate()
        self.hatrpo.validate()
        require(
            info.kl_penalty or self.ppo.kl_coef == 0,
            "ppo.kl_coef",
            f"{self.algo} has no KL penalty (its steps keep the KL under a bound): set it to 0",
        )
        self.net.validate()
        p = self.ppo
        if self.net.rnn != "none":
            require(
                p.rollout_len % p.chunk_len == 0,
                "ppo.chunk_len",
                f"{p.chunk_len} does not divide ppo.rollout_len={p.rollout_len}",
            )
        if info.family == "onpolicy":
            minibatch_chunks(self)


def minibatch_chunks(cfg: Config, env_devices: int | None = None) -> int:
    """The batch arithmetic of one PPO update, in one place: the sequences its minibatches
    split (chunks of ppo.chunk_len steps with net.rnn=gru, single steps otherwise) over the run's
    environments, or over one device's (`env_devices`: the devices the environments split
    over); a ConfigError where ppo.num_minibatches does not divide them. The steps of an update
    are `Config.batch_steps`."""
    p = cfg.ppo
    n = p.num_minibatches
    if env_devices is None:
        require(
            cfg.batch_steps % n == 0,
            "ppo.num_minibatches",
            f"num_envs * rollout_len = {cfg.batch_steps} does not split into {n} minibatches",
        )
    chunk_len = p.chunk_len if cfg.net.rnn != "none" else 1
    envs = cfg.num_envs if env_devices is None else cfg.num_envs // env_devices
    chunks = p.rollout_len // chunk_len * envs
    where = "(num_envs * rollout_len / chunk_len)" if env_devices is None else "of one device"
    require(
        chunks % n == 0,
        "ppo.num_minibatches",
        f"the {chunks} sequence chunks {where} do not split into {n} minibatches",
    )
    return chunks


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, check: bool = True
) -> Config:
    """Config from a YAML file (default: the embedded default) and `key=value` overrides.
    check=False skips `validate` (which loads JAX): only names and types are checked."""
    data = load_yaml(path or default_config_path())
    given = data if path else {}  # what the user wrote: their file (with its bases), overrides
    over = parse_overrides(overrides or [])
    data = merge(data, over)
    return from_dict(data, check, merge(given, over))


def _resolve(cfg: Config, given: dict) -> Config:
    """Settings an algorithm fixes (`acjax.algos.REGISTRY`). HAPPO (HARL) has no parameter
    sharing: algo=happo always runs with net.share_params=false, whatever was set, and the
    resolved config records it. HATRPO too, but a config that asks for shared parameters
    (`given`: the keys of the user's file and overrides, not the embedded default) is an error."""
    info = ALGO_REGISTRY.get(cfg.algo)
    if info is not None and info.share_params is not None:
        asked = (given.get("net") or {}) if isinstance(given.get("net"), dict) else {}
        require(
            not info.share_params_strict
            or "share_params" not in asked
            or cfg.net.share_params == info.share_params,
            "net.share_params",
            f"{info.why}: set net.share_params={str(info.share_params).lower()} or leave it out",
        )
        if cfg.net.share_params != info.share_params:
            net = dataclasses.replace(cfg.net, share_params=info.share_params)
            cfg = dataclasses.replace(cfg, net=net)
    return cfg


def from_dict(data: dict, check: bool = True, given: dict | None = None) -> Config:
    """The config of `data`; `given`: the part of it the user wrote (default: all of it)."""
    cfg = _resolve(build(Config, data), data if given is None else given)
    validate_dist(cfg)
    if check:
        validate(cfg)
        from acjax.config_world import resolve_world

        cfg = resolve_world(cfg)
    return cfg


def describe_keys() -> list[tuple[str, str, str]]:
    """(dotted key, default, comment) of every config key: the comment beside each field of the
    dataclasses above is its documentation (`acjax list`)."""
    return _describe(Config)


def validate_dist(cfg: Config) -> None:
    """The multi-process keys (checked without loading JAX: they are needed before it starts)."""
    n, i = cfg.dist_num_processes, cfg.dist_process_id
    require(n >= 0, "dist_num_processes", f"must be >= 0 (0 = detect the cluster), got {n}")
    require(i >= 0, "dist_process_id", f"must be >= 0, got {i}")
    require(n != 1 or i == 0, "dist_process_id", f"must be 0 with dist_num_processes=1, got {i}")
    require(n <= 1 or i < n, "dist_process_id", f"must be < dist_num_processes={n}, got {i}")
    c = cfg.dist_coordinator
    require(
        not c or (":" in c and c.rsplit(":", 1)[1].isdigit()),
        "dist_coordinator",
        f"expected host:port, got {c!r}",
    )
    require(not c or n != 1, "dist_coordinator", "needs dist_num_processes > 1 (or 0 to detect)")


def validate(cfg: Config) -> None:
    """Every key of cfg, the swept values and the world (built once, to check its name)."""
    from acjax.config_world import validate_world  # loads JAX and the worlds

    cfg.validate()
    for key, values in flat_sweep(cfg).items():
        for value in values:
            _validate_swept(with_values(cfg, (key,), (value,)), f"sweep.{key}")
        if key == "acpo.lambda_micro":
            require(min(values) > 0, "sweep.acpo.lambda_micro", "values must be > 0 (0 = auto)")
    validate_world(cfg)


def _validate_swept(cfg: Config, where: str) -> None:
    """cfg with one swept value set: its error names the sweep (`where`)."""
    try:
        cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"config key '{where}': {str(e).split(': ', 1)[1]}") from None

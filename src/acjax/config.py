"""Typed, frozen run configuration: YAML plus `key=value` overrides (dotted for nested keys).

Public top-level keys (scripts rely on them): env, algo, total_timesteps, num_envs, num_seeds,
seed, run_dir, resume. Every problem (unknown key, wrong type, impossible value) is a
`ConfigError` with a one-line message naming the key, raised before anything compiles.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from acjax.algos import NAMES as ALGOS
from acjax.algos import REGISTRY as ALGO_REGISTRY


class ConfigError(ValueError):
    """A bad configuration; the message names the key."""


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


@dataclass(frozen=True)
class ACPOConfig:
    belief: str = "sample"  # sample | mode | none (ablation: empty prefix)
    belief_mask: bool = False  # apply agent j's action mask to predictions of a_j
    critic_view: str = "global"  # global | local
    critic_prefix: str = "actual"  # actual | predicted
    lambda_micro: float = 0.0  # 0 = gae_lambda ** (1/N)
    aux_coef: float = -1.0  # -1 = auto: 0 with parameter sharing, 1 without


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


@dataclass(frozen=True)
class MaMuJoCoConfig:
    """Options of the multi-agent MuJoCo worlds (`mamujoco-<robot>-<partition>`)."""

    obsk: int = 1  # observation depth k in the joint graph
    backend: str = "positional"  # brax pipeline: positional | generalized | spring | mjx
    max_steps: int = 1000  # episode time limit (truncation)
    stagger: bool = True  # first episodes start at a random step of the limit (desynchronized)


@dataclass(frozen=True)
class ExternalConfig:
    """Options of the worlds stepped on the host (`external-rware-*`, `pettingzoo:*`,
    `smacv2-*`; `acjax.envs.external.PoolOptions`)."""

    workers: int = 0  # 0: instances step in this process; W > 0: in W worker processes
    fault_rate: float = 0.0  # injected: probability that an instance's step raises
    worker_fault_rate: float = 0.0  # injected: probability that a worker dies at a step
    timeout_s: float = 600.0  # a worker silent this long in one call is replaced (hung)


@dataclass(frozen=True)
class LogConfig:
    """What a run writes besides metrics.jsonl/metrics.csv."""

    tensorboard: bool = False  # TensorBoard event files in RUN_DIR/tensorboard (tensorboardX)


@dataclass(frozen=True)
class Config:
    env: str = "jumanji-rware-tiny-2ag"  # the world (`acjax list` shows every name)
    algo: str = "mappo"  # mappo | ippo | acpo | acpo_nochain | happo | ac_td3 | hatd3 | maddpg
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
    td3: TD3Config = field(default_factory=TD3Config)
    mamujoco: MaMuJoCoConfig = field(default_factory=MaMuJoCoConfig)
    external: ExternalConfig = field(default_factory=ExternalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    # keyword arguments of an external world's constructor (pettingzoo:<module>), for instance
    # env_kwargs.continuous_actions=true; plain YAML values
    env_kwargs: dict = field(default_factory=dict)  # pettingzoo:<module> constructor kwargs
    # hyper-parameter sweep in one program: sweep.<key>=[v1, v2, ...] for keys in SWEEPABLE; the
    # grid of all swept keys' values (first key slowest) crossed with the seeds, value-major
    sweep: dict = field(default_factory=dict)  # sweep.<key>=[v1, v2]: one program (SWEEPABLE)

    @property
    def batch_steps(self) -> int:
        """Environment steps per update (per seed)."""
        info = ALGO_REGISTRY.get(self.algo)
        steps = self.td3.train_interval if info and info.off_policy else self.ppo.rollout_len
        return self.num_envs * steps

    @property
    def num_updates(self) -> int:
        """Updates of a run: enough for total_timesteps, rounded up to whole updates."""
        return -(-self.total_timesteps // self.batch_steps)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp in (int, float) and isinstance(value, str):
        try:  # YAML 1.1 reads 3e-4 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
    elif origin is tuple:
        if isinstance(value, list | tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            return tuple(value)
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"config key '{key}': expected {name}, got {value!r}")


def did_you_mean(name: str, candidates, prefix: str = "") -> str:
    """'; did you mean 'x'?' for the closest candidate, or ''."""
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key '{full}'{did_you_mean(key, names, prefix)}")
        tp = hints[key]
        if tp is dict:  # free-form options (env_kwargs): a mapping of plain values
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{full}': expected a mapping, got {value!r}")
            kwargs[key] = dict(value)
        elif dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{full}': expected a mapping, got {value!r}")
            kwargs[key] = _build(tp, value, f"{full}.")
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key '{dotted}': '{p}' is not a section")
    node[parts[-1]] = value


def parse_overrides(args: list[str]) -> dict:
    data: dict = {}
    for arg in args:
        if "=" not in arg:
            raise ConfigError(f"override '{arg}' is not of the form key=value")
        key, raw = arg.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(data, key.strip(), value)
    return data


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"config file '{path}' is not valid YAML{where}: {what}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys")
    base = data.pop("base", None)
    if base is not None:  # `base: other.yaml` (relative to this file) supplies defaults
        data = _merge(load_yaml(p.parent / str(base)), data)
    return data


def default_config_path() -> Path:
    return Path(__file__).parent / "configs" / "default.yaml"


SPLITS = ("auto", "runs", "envs")  # how the runs of a program share the devices (Trainer)
DIST_KEYS = ("dist_coordinator", "dist_num_processes", "dist_process_id")


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, check: bool = True
) -> Config:
    """Config from a YAML file (default: the embedded default) and `key=value` overrides.
    check=False skips `validate` (which loads JAX): only names and types are checked."""
    data = load_yaml(path or default_config_path())
    data = _merge(data, parse_overrides(overrides or []))
    cfg = _resolve(_build(Config, data))
    validate_dist(cfg)
    if check:
        validate(cfg)
    return cfg


def to_dict(cfg: Config) -> dict:
    def conv(x):
        if isinstance(x, tuple):
            return list(x)
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    return conv(dataclasses.asdict(cfg))


def _resolve(cfg: Config) -> Config:
    """Settings an algorithm fixes (`acjax.algos.REGISTRY`). HAPPO (HARL) has no parameter
    sharing: algo=happo always runs with net.share_params=false, whatever was set, and the
    resolved config records it."""
    info = ALGO_REGISTRY.get(cfg.algo)
    if info is not None and info.share_params is not None:
        if cfg.net.share_params != info.share_params:
            net = dataclasses.replace(cfg.net, share_params=info.share_params)
            cfg = dataclasses.replace(cfg, net=net)
    return cfg


def from_dict(data: dict, check: bool = True) -> Config:
    cfg = _resolve(_build(Config, data))
    validate_dist(cfg)
    if check:
        validate(cfg)
    return cfg


# keys the compiled update takes as arrays (`acjax.onpolicy.PPOTrainer.context` builds them in)
SWEEPABLE = (
    "ppo.lr",
    "ppo.critic_lr",
    "ppo.clip_eps",
    "ppo.ent_coef",
    "ppo.gamma",
    "ppo.gae_lambda",
    "ppo.max_grad_norm",
    "ppo.huber_delta",
    "ppo.adam_eps",
    "acpo.lambda_micro",
)


def flat_sweep(cfg: Config) -> dict[str, tuple[float, ...]]:
    """The `sweep` section as {dotted key: values}, checked: sweepable keys, lists of numbers."""
    out: dict[str, tuple[float, ...]] = {}

    def walk(node, prefix):
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, f"{key}.")
                continue
            _check(
                key in SWEEPABLE,
                f"sweep.{key}",
                f"cannot be swept (the compiled update takes only {', '.join(SWEEPABLE)} "
                "as arrays)",
            )
            values = v if isinstance(v, list | tuple) and v else [None]
            try:  # YAML reads 1e-4 as a string
                out[key] = tuple(float(x) for x in values if not isinstance(x, bool))
            except (TypeError, ValueError):
                out[key] = ()
            _check(
                len(out[key]) == len(values),
                f"sweep.{key}",
                f"expected a non-empty list of numbers, got {v!r}",
            )

    walk(cfg.sweep, "")
    return out


def sweep_grid(cfg: Config) -> tuple[tuple[str, ...], list[tuple[float, ...]]]:
    """(swept keys, their value combinations): the grid, first key slowest; ((), [()]) when
    nothing is swept."""
    flat = flat_sweep(cfg)
    return tuple(flat), list(itertools.product(*flat.values()))


def with_values(cfg: Config, keys: tuple[str, ...], values: tuple) -> Config:
    """cfg with dotted `keys` set to `values` (any objects: traced arrays in a sweep)."""
    for key, value in zip(keys, values, strict=True):
        section, name = key.split(".")
        sub = dataclasses.replace(getattr(cfg, section), **{name: value})
        cfg = dataclasses.replace(cfg, **{section: sub})
    return cfg


def describe_keys() -> list[tuple[str, str, str]]:
    """(dotted key, default, comment) of every config key, read from this module's source:
    the comment beside each field is its documentation (`acjax list`)."""
    import inspect
    import re

    out = []

    def walk(cls, prefix):
        notes = {}
        for line in inspect.getsource(cls).splitlines():
            m = re.match(r"\s+(\w+): [^=]+=.*?#\s*(.*)$", line)
            if m:
                notes[m.group(1)] = m.group(2)
        default = cls()
        for f in dataclasses.fields(cls):
            value = getattr(default, f.name)
            if dataclasses.is_dataclass(value):
                walk(type(value), f"{prefix}{f.name}.")
            else:
                text = json_like(value)
                out.append((f"{prefix}{f.name}", text, notes.get(f.name, "")))

    walk(Config, "")
    return out


def json_like(value: Any) -> str:
    """A default as it would be typed in an override."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    if value == "" or value == {}:
        return '""' if value == "" else "{}"
    return str(value)


def _check(ok: bool, key: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}': {msg}")


def validate_dist(cfg: Config) -> None:
    """The multi-process keys (checked without loading JAX: they are needed before it starts)."""
    n, i = cfg.dist_num_processes, cfg.dist_process_id
    _check(n >= 0, "dist_num_processes", f"must be >= 0 (0 = detect the cluster), got {n}")
    _check(i >= 0, "dist_process_id", f"must be >= 0, got {i}")
    _check(n != 1 or i == 0, "dist_process_id", f"must be 0 with dist_num_processes=1, got {i}")
    _check(n <= 1 or i < n, "dist_process_id", f"must be < dist_num_processes={n}, got {i}")
    c = cfg.dist_coordinator
    _check(
        not c or (":" in c and c.rsplit(":", 1)[1].isdigit()),
        "dist_coordinator",
        f"expected host:port, got {c!r}",
    )
    _check(not c or n != 1, "dist_coordinator", "needs dist_num_processes > 1 (or 0 to detect)")


def validate(cfg: Config) -> None:
    """Every key of cfg, the swept values and the world (built once, to check its name)."""
    from acjax.envs.registry import make

    _validate_values(cfg)
    for key, values in flat_sweep(cfg).items():
        for value in values:
            _validate_values(with_values(cfg, (key,), (value,)), f"sweep.{key}")
        if key == "acpo.lambda_micro":
            _check(min(values) > 0, "sweep.acpo.lambda_micro", "values must be > 0 (0 = auto)")
    try:
        world = make(cfg.env, cfg)
    except ValueError as e:
        raise ConfigError(f"config key 'env': {e}") from None
    if ALGO_REGISTRY[cfg.algo].off_policy and not world.spec.continuous:
        raise ConfigError(
            f"config key 'algo': {cfg.algo} needs continuous actions; {cfg.env} has discrete ones"
        )


def _validate_values(cfg: Config, where: str = "") -> None:
    """The values of cfg's keys (a swept value's error names the sweep: `where`)."""
    if where:
        try:
            _validate_values(cfg)
        except ConfigError as e:
            raise ConfigError(f"config key '{where}': {str(e).split(': ', 1)[1]}") from None
        return

    _check(
        cfg.algo in ALGOS,
        "algo",
        f"unknown algorithm {cfg.algo!r}"
        + (did_you_mean(cfg.algo, ALGOS) or f"; expected one of {', '.join(ALGOS)}"),
    )
    from acjax.envs.mamujoco import BACKENDS

    m = cfg.mamujoco
    _check(m.obsk >= 0, "mamujoco.obsk", f"must be >= 0, got {m.obsk}")
    _check(m.max_steps > 0, "mamujoco.max_steps", f"must be positive, got {m.max_steps}")
    _check(
        m.backend in BACKENDS,
        "mamujoco.backend",
        f"expected one of {', '.join(BACKENDS)}, got {m.backend!r}",
    )
    x = cfg.external
    _check(x.workers >= 0, "external.workers", f"must be >= 0, got {x.workers}")
    _check(x.timeout_s > 0, "external.timeout_s", f"must be positive, got {x.timeout_s}")
    for key in ("fault_rate", "worker_fault_rate"):
        rate = getattr(x, key)
        _check(0 <= rate < 1, f"external.{key}", f"must lie in [0, 1), got {rate}")
    for key in ("total_timesteps", "num_envs", "num_seeds", "updates_per_call", "keep_checkpoints"):
        _check(getattr(cfg, key) > 0, key, f"must be positive, got {getattr(cfg, key)}")
    _check(cfg.devices >= 0, "devices", f"must be >= 0, got {cfg.devices}")
    _check(cfg.split in SPLITS, "split", f"expected one of {', '.join(SPLITS)}, got {cfg.split!r}")
    _check(cfg.seed >= 0, "seed", f"must be >= 0, got {cfg.seed}")
    p = cfg.ppo
    for key in ("rollout_len", "epochs", "num_minibatches"):
        _check(getattr(p, key) > 0, f"ppo.{key}", f"must be positive, got {getattr(p, key)}")
    for key in ("lr", "critic_lr", "max_grad_norm", "adam_eps", "huber_delta"):
        _check(getattr(p, key) > 0, f"ppo.{key}", f"must be positive, got {getattr(p, key)}")
    for key in ("gamma", "gae_lambda"):
        _check(
            0 <= getattr(p, key) <= 1, f"ppo.{key}", f"must lie in [0, 1], got {getattr(p, key)}"
        )
    _check(0 < p.clip_eps < 1, "ppo.clip_eps", f"must lie in (0, 1), got {p.clip_eps}")
    _check(p.ent_coef >= 0, "ppo.ent_coef", f"must be >= 0, got {p.ent_coef}")
    _check(p.value_clip >= 0, "ppo.value_clip", f"must be >= 0, got {p.value_clip}")
    _check(
        p.value_loss in ("huber", "mse"),
        "ppo.value_loss",
        f"expected huber or mse, got {p.value_loss!r}",
    )
    off_policy = ALGO_REGISTRY[cfg.algo].off_policy
    _check(
        off_policy or cfg.batch_steps % p.num_minibatches == 0,
        "ppo.num_minibatches",
        f"num_envs * rollout_len = {cfg.batch_steps} does not split into "
        f"{p.num_minibatches} minibatches",
    )
    t = cfg.td3
    for key in ("train_interval", "batch_size", "buffer_size", "n_step", "policy_freq"):
        _check(getattr(t, key) > 0, f"td3.{key}", f"must be positive, got {getattr(t, key)}")
    for key in ("updates_per_train", "actor_lr", "critic_lr"):
        _check(getattr(t, key) > 0, f"td3.{key}", f"must be positive, got {getattr(t, key)}")
    for key in ("warmup_steps", "expl_noise", "policy_noise", "noise_clip"):
        _check(getattr(t, key) >= 0, f"td3.{key}", f"must be >= 0, got {getattr(t, key)}")
    for key in ("gamma", "tau"):
        _check(
            0 <= getattr(t, key) <= 1, f"td3.{key}", f"must lie in [0, 1], got {getattr(t, key)}"
        )
    if off_policy:
        per_env = t.buffer_size // cfg.num_envs
        _check(
            per_env >= max(t.n_step, t.train_interval),
            "td3.buffer_size",
            f"{t.buffer_size} holds {per_env} transitions per environment, fewer than "
            f"td3.n_step and td3.train_interval",
        )
        _check(cfg.net.rnn == "none", "net.rnn", f"{cfg.algo} has feed-forward policies only")
        _check(
            t.chain_target in ("kstep", "onestep"),
            "td3.chain_target",
            f"expected kstep or onestep, got {t.chain_target!r}",
        )
        _check(
            t.chain_target == "kstep" or t.n_step == 1,
            "td3.chain_target",
            f"onestep targets read one transition: td3.n_step must be 1, got {t.n_step}",
        )
        _check(not cfg.sweep, "sweep", f"{cfg.algo} runs no hyper-parameter sweeps yet")
    c = cfg.acpo
    _check(
        c.belief in ("sample", "mode", "none"),
        "acpo.belief",
        f"expected sample, mode or none, got {c.belief!r}",
    )
    _check(
        c.critic_view in ("global", "local"),
        "acpo.critic_view",
        f"expected global or local, got {c.critic_view!r}",
    )
    _check(
        c.critic_prefix in ("actual", "predicted"),
        "acpo.critic_prefix",
        f"expected actual or predicted, got {c.critic_prefix!r}",
    )
    _check(
        0 <= c.lambda_micro <= 1, "acpo.lambda_micro", f"must lie in [0, 1], got {c.lambda_micro}"
    )
    n = cfg.net
    _check(n.rnn in ("none", "gru"), "net.rnn", f"expected none or gru, got {n.rnn!r}")
    _check(n.rnn_hidden > 0, "net.rnn_hidden", f"must be positive, got {n.rnn_hidden}")
    _check(p.chunk_len > 0, "ppo.chunk_len", f"must be positive, got {p.chunk_len}")
    if n.rnn != "none":
        _check(
            p.rollout_len % p.chunk_len == 0,
            "ppo.chunk_len",
            f"{p.chunk_len} does not divide ppo.rollout_len={p.rollout_len}",
        )
        chunks = cfg.num_envs * (p.rollout_len // p.chunk_len)
        _check(
            chunks % p.num_minibatches == 0,
            "ppo.num_minibatches",
            f"the {chunks} sequence chunks (num_envs * rollout_len / chunk_len) do not split "
            f"into {p.num_minibatches} minibatches",
        )
    for key in ("actor_hidden", "critic_hidden"):
        h = getattr(n, key)
        _check(
            len(h) > 0 and all(x > 0 for x in h),
            f"net.{key}",
            f"needs positive sizes, got {list(h)}",
        )
    from acjax.nets import ACTIVATIONS

    _check(
        n.activation in ACTIVATIONS,
        "net.activation",
        f"expected one of {sorted(ACTIVATIONS)}, got {n.activation!r}",
    )

"""The harness: devices, runs and compiled programs for any trainer family. It knows nothing of
PPO or replay.

`make_trainer(cfg)` builds a `Harness` around the family of cfg.algo (`acjax.algos.REGISTRY`,
`FAMILIES`: `acjax.onpolicy.PPOTrainer`, `acjax.offpolicy.OffPolicyTrainer` or
`acjax.valuebased.QTrainer`), which provides

    init_learner(key) -> Learner, init_runner(key) -> Runner     one run's state
    update(learner, runner, hparams) -> (learner, runner, metrics)  one update of one run
    runner_spec(runner)        how the runner's leaves lie on the devices
    metric_names, loss_names, steps_per_update, act(...)

and the harness gives

    init()                      -> (learner, runner)   every leaf has a leading run axis
    compile(learner, runner, k) -> chunk(learner, runner) -> (learner, runner, metrics [runs, k])

where one chunk loops over k updates; one program of K = updates_per_call updates serves every
call of a run (a shorter call skips the surplus updates: a dynamic trip count). Runs are a vmapped
axis of the whole program: the seeds, crossed with the values of swept hyper-parameters
(`sweep.<key>=[...]`, value-major: run r is value combination r // num_seeds and seed index
r % num_seeds; each run's values enter `update` as the `hparams` arrays). The program is sharded
over the devices with `shard_map` in one of two ways (`Layout.of`): whole runs per device (`runs`,
mesh axis 'r': the default when the runs divide over the devices; nothing crosses them, and each
run computes exactly what it computes on one device), or each run's environments over all devices
(`envs`, mesh axis 'd' = `acjax.runner.AXIS`: the runner's env axis is sharded; gradients and
statistics are averaged over 'd', so every device holds the same learner). An update reduces over
'd' in both: with whole runs per device, 'd' is an axis of size 1. The host loop
(`acjax.run.train`) only logs, checkpoints and checks signals between chunks.

Multi-process (`jax.distributed`, docs/distributed.md): the mesh spans every process's devices
(`jax.devices()`), each process drives its own and holds its slice of the env axis; every process
runs the same host loop in lockstep, process 0 alone writes the run's files.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from acjax import algos
from acjax.config import Config, ConfigError, sweep_grid
from acjax.runner import AXIS

RUNS = "r"  # the devices whole runs split over (split=runs)
RUN_SPLIT = P(RUNS)  # [runs, ...] with the runs split over the devices
FAMILIES = {  # `acjax.algos.AlgoInfo.family` -> its trainer
    "onpolicy": "acjax.onpolicy:PPOTrainer",
    "offpolicy": "acjax.offpolicy:OffPolicyTrainer",
    "valuebased": "acjax.valuebased:QTrainer",
}


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, limit + 1) if n % d == 0)


@dataclass(frozen=True)
class Layout:
    """How a program's runs share the devices: `split` ('runs' or 'envs'), the devices used,
    and how many environments of a run one device steps."""

    split: str
    devices: tuple
    env_devices: int  # the devices one run's environments split over (1 when runs split)
    local_envs: int
    num_runs: int  # seeds x swept values

    @staticmethod
    def of(cfg: Config, num_runs: int, devices: list) -> Layout:
        """Whole runs per device ('runs': nothing crosses the devices, each run computes what it
        computes on one device) or each run's environments over all of them ('envs': gradients
        and statistics averaged over the devices). `auto` takes 'runs' when they split over at
        least as many devices as the environments would, in one process (several processes
        split the environments)."""
        split, n = _split(cfg, num_runs, len(devices))
        env_devices = 1 if split == "runs" else n
        local_envs = cfg.num_envs // env_devices
        return Layout(split, tuple(devices[:n]), env_devices, local_envs, num_runs)


def _split(cfg: Config, runs: int, available: int) -> tuple[str, int]:
    envs, asked = cfg.num_envs, cfg.devices
    if jax.process_count() > 1:  # the mesh must hold every process's devices
        where = f"the {available} devices of {jax.process_count()} processes"
        if cfg.split == "runs":
            raise ConfigError(f"config key 'split': runs split in one process only ({where})")
        if asked not in (0, available):
            raise ConfigError(f"config key 'devices': must be 0 or {available} ({where})")
        if envs % available:
            raise ConfigError(f"config key 'num_envs': {envs} does not split over {where}")
        return "envs", available
    if asked > available:
        raise ConfigError(f"config key 'devices': {asked} but only {available} are available")
    if asked:  # the devices asked for, where they divide (0: they do not)
        n_runs, n_envs = (asked if x % asked == 0 else 0 for x in (runs, envs))
    else:
        n_runs, n_envs = _largest_divisor(runs, available), _largest_divisor(envs, available)
    split = cfg.split
    if split == "auto":
        split = "runs" if runs > 1 and n_runs and n_runs >= n_envs else "envs"
    n = n_runs if split == "runs" else n_envs
    if not n:
        what = f"'num_envs': {envs} does" if split == "envs" else f"'split': {runs} runs do"
        raise ConfigError(f"config key {what} not split over devices={asked}")
    return split, n


class Harness:
    """Compiled training programs of one config around a trainer family (module docstring).
    Attributes it does not have are the family's (`spec`, `head`, `actor`, `act`, ...)."""

    def __init__(self, cfg: Config, family, layout: Layout):
        self.cfg, self.trainer, self.layout = cfg, family, layout
        self.sweep_keys, combos = sweep_grid(cfg)
        self.num_runs = len(combos) * cfg.num_seeds
        self.run_values = [combos[r // cfg.num_seeds] for r in range(self.num_runs)]
        self.run_seeds = [cfg.seed + r % cfg.num_seeds for r in range(self.num_runs)]
        self.split, self.n_devices = layout.split, len(layout.devices)
        self.mesh = Mesh(np.array(layout.devices), (RUNS if self.split == "runs" else AXIS,))
        self.env_devices, self.local_envs = layout.env_devices, layout.local_envs
        self.num_updates = cfg.num_updates
        self._compiled: dict[int, Any] = {}  # program size -> call(learner, runner, k)
        self._slices: dict[int, Any] = {}
        self._init_fns = None

    def __getattr__(self, name: str):
        if name == "trainer":  # not yet set (during unpickling)
            raise AttributeError(name)
        return getattr(self.trainer, name)

    # ------------------------------------------------------------------ runs and placement
    def seed_keys(self) -> jax.Array:
        return jnp.stack([jax.random.PRNGKey(s) for s in self.run_seeds])

    def hparams(self) -> dict:
        """Each run's values of the swept keys, {key: [runs]} (empty without a sweep)."""
        return {
            k: np.asarray([v[j] for v in self.run_values], np.float32)
            for j, k in enumerate(self.sweep_keys)
        }

    def specs(self, runner) -> tuple[P, Any]:
        """Partition specs of (the learner and every other per-run tree, the runner)."""
        if self.split == "runs":
            return RUN_SPLIT, jax.tree.map(lambda _: RUN_SPLIT, runner)
        return P(), self.trainer.runner_spec(runner)

    def shardings(self, learner, runner):
        per_run, spec = self.specs(runner)
        rep = NamedSharding(self.mesh, per_run)
        return jax.tree.map(lambda _: rep, learner), jax.tree.map(
            lambda p: NamedSharding(self.mesh, p), spec, is_leaf=lambda x: isinstance(x, P)
        )

    def init(self):
        """Initial learner and runner for every run: run r has seed `run_seeds[r]` (seed index s
        runs seed `cfg.seed + s`), so a vmapped sweep reproduces its runs one by one."""
        keys = self.seed_keys()
        if self._init_fns is None:  # compiled once: a second init (a benchmark's) reuses them
            # init_learner jitted per key, not vmapped (AgentNet.init); bit-equal to eager
            self._init_fns = (
                jax.jit(self.trainer.init_learner),
                jax.jit(jax.vmap(self.trainer.init_runner)),
            )
        init_learner, init_runner = self._init_fns
        learner = jax.tree.map(lambda *xs: jnp.stack(xs), *[init_learner(k) for k in keys])
        runner = init_runner(keys)
        chex.assert_tree_shape_prefix((learner, runner), (self.num_runs,))
        ls, rs = self.shardings(learner, runner)
        return place(learner, ls), place(runner, rs)

    # ------------------------------------------------------------------ programs
    def _chunk_fn(self, size: int, specs: tuple[P, Any]):
        """The program of a chunk: up to `size` updates, as many as its traced `count` argument
        (a loop with a dynamic trip count), so that every call of a run, the shorter ones
        included, is one compiled program. Metrics [runs, size]: columns >= count stay zero.
        `specs`: `Harness.specs`. When whole runs split over the devices, each device's runs see
        a device axis of size 1 (reductions over it are the identity, its index 0): a run
        computes there exactly what it computes on one device."""

        # jitted, so that the loop body reuses the trace that gave the metrics' shapes
        update = jax.jit(self.trainer.update)

        def per_run(learner, runner, hparams, count):
            shapes = jax.eval_shape(update, learner, runner, hparams)[2]
            rows = jax.tree.map(lambda s: jnp.zeros((size, *s.shape), s.dtype), shapes)

            def body(i, carry):
                learner, runner, rows = carry
                learner, runner, metrics = update(learner, runner, hparams)
                rows = jax.tree.map(lambda buf, x: buf.at[i].set(x), rows, metrics)
                return learner, runner, rows

            return jax.lax.fori_loop(0, count, body, (learner, runner, rows))

        runs = jax.vmap(per_run, in_axes=(0, 0, 0, None))
        if self.split == "runs":
            one = lambda tree: jax.tree.map(lambda x: x[None], tree)  # noqa: E731
            dev = jax.vmap(runs, in_axes=(0, 0, 0, None), axis_name=AXIS)

            def chunk(learner, runner, hparams, count):
                out = dev(one(learner), one(runner), one(hparams), count)
                return jax.tree.map(lambda x: x[0], out)
        else:
            chunk = runs
        per_run_spec, runner_spec = specs
        return jax.shard_map(
            chunk,
            mesh=self.mesh,
            in_specs=(per_run_spec, runner_spec, per_run_spec, P()),
            out_specs=(per_run_spec, runner_spec, per_run_spec),
            check_vma=False,  # Jumanji mixes device-varying and replicated values internally
        )

    def program_size(self, k: int) -> int:
        """The updates the compiled program of a call of k updates holds: updates_per_call
        (capped at the run's updates) for every call of a run, k itself when it is larger."""
        return max(k, min(self.cfg.updates_per_call, self.num_updates))

    def compile(self, learner, runner, k: int):
        """fn(learner, runner) -> (learner, runner, metrics [runs, k]) doing k updates: one
        AOT-compiled program of `program_size(k)` updates for these shapes serves every k up to
        that size (the surplus updates are skipped, not computed), cached."""
        size = self.program_size(k)
        if size not in self._compiled:
            self._compiled[size] = self._compile(learner, runner, size)
        call = self._compiled[size]
        if k == size:
            return lambda learner, runner: call(learner, runner, k)
        first = self._first_columns(k)

        def shorter(learner, runner):
            learner, runner, metrics = call(learner, runner, k)
            return learner, runner, first(metrics)

        return shorter

    def _compile(self, learner, runner, size: int):
        """call(learner, runner, k): the program of `size` updates, compiled for these shapes."""
        ls, rs = self.shardings(learner, runner)  # explicit: also for empty (H = 0) memories
        rep = NamedSharding(self.mesh, P())
        specs = self.specs(runner)
        hp = self.hparams()
        hparams = place(hp, jax.tree.map(lambda _: NamedSharding(self.mesh, specs[0]), hp))
        chunk = self._chunk_fn(size, specs)
        fn = jax.jit(chunk, donate_argnums=(0, 1), out_shardings=(ls, rs, rep))
        count = place(np.asarray(size, np.int32), rep)
        compiled = fn.lower(learner, runner, hparams, count).compile()
        counts = {}

        def call(learner, runner, k):
            if k not in counts:
                counts[k] = place(np.asarray(k, np.int32), rep)
            return compiled(learner, runner, hparams, counts[k])

        return call

    def _first_columns(self, k: int):
        """metrics [runs, size] -> [runs, k] (a small jitted slice, replicated)."""
        if k not in self._slices:
            rep = NamedSharding(self.mesh, P())
            self._slices[k] = jax.jit(
                lambda m: jax.tree.map(lambda x: x[:, :k], m), out_shardings=rep
            )
        return self._slices[k]

    def chunk_sizes(self, start_update: int = 0) -> list[int]:
        """Updates per call from start_update to the end (fixed K, a shorter first call when a
        resumed run starts between multiples of K, a shorter last call); every size runs the
        same compiled program (`compile`)."""
        k = min(self.cfg.updates_per_call, self.num_updates)
        sizes, u = [], start_update
        while u < self.num_updates:
            step = k - (u % k) if u % k else k
            step = min(step, self.num_updates - u)
            sizes.append(step)
            u += step
        return sizes


def place(tree, shardings):
    """Put arrays that every process computed alike onto (possibly multi-process) shardings."""
    if all(s.is_fully_addressable for s in jax.tree.leaves(shardings)):
        return jax.device_put(tree, shardings)
    # a process can only fill its own devices: each takes its slices of the host value
    host = jax.device_get(tree)
    return jax.tree.map(
        lambda x, s: jax.make_array_from_callback(x.shape, s, lambda idx: x[idx]), host, shardings
    )


def local_value(tree):
    """A replicated output on the host (a process reads its own copy; no cross-process fetch)."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def make_trainer(cfg: Config, devices: list | None = None, env=None) -> Harness:
    """The harness for cfg around its algorithm's family (env: a world object instead of
    cfg.env's, e.g. a test world; devices: every process's devices by default)."""
    if cfg.algo not in algos.REGISTRY:
        raise ConfigError(f"config key 'algo': unknown algorithm {cfg.algo!r}")
    module, name = FAMILIES[algos.REGISTRY[cfg.algo].family].split(":")
    family = getattr(importlib.import_module(module), name)
    _, combos = sweep_grid(cfg)
    devices = devices if devices is not None else jax.devices()
    layout = Layout.of(cfg, len(combos) * cfg.num_seeds, devices)
    return Harness(cfg, family(cfg, layout, env), layout)

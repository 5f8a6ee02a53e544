"""External (plain Python) environments inside the compiled program: a host-callback adapter.

A `HostPool` holds Python environment instances on the host; an `ExternalWorld` presents them as
a world of the common interface (`acjax.envs.core`), so the fused trainer runs unchanged. The
JAX-side state of one environment is only a handle (its instance id and a step tick); `reset`
and `step` cross to the host through `jax.pure_callback(..., vmap_method="expand_dims")`, so a
vmapped batch of environments (and a vmapped seed axis above it) makes ONE host call per time
step with the whole batch, not one per element. Each step's callback consumes the previous
step's tick, so the calls are ordered by data dependence and none can be merged or dropped.

The host auto-resets: when an instance's episode ends, it keeps the true final observation
and state in `final_obs` / `final_global_state` and resets the instance in the same call. An
episode ends by the instance's own termination or truncation, or by the world's time limit,
which is reported as truncation. The world says `self_resetting = True`, and `AutoReset` then
passes its steps through.

An instance implements `Instance`: `reset(seed) -> (obs [N, O], state [S], mask [N, A])` and
`step(actions) -> (obs, state, mask, reward, terminated, truncated[, info])` with numpy values;
the backends adapt real environments to it (`RwareInstance`: the original `rware` package;
`PettingZooInstance`: a PettingZoo parallel environment; `SmacStyleInstance`: any environment
with SMACv2's API, SMACv2 itself included).

Host parallelism and faults (`PoolOptions`, the config's `external` section): the instances
step in this process or in worker processes, in parallel. An instance whose step raises, or
whose worker process dies, is replaced by a fresh one: its episode ends as truncated at its last
known observation, the next episode starts in the same call, and `TimeStep.restarts` counts it
(the `restarts` metric). Nothing else is lost: the other instances and everything collected go on.

Instances live in the host processes of the run: a resumed run starts new episodes (their
state is not in the checkpoint; `HostPool._ensure` makes the instances its restored handles name,
so the first step after a resume continues from a fresh episode, not from the checkpointed
observation). With several devices, each device's shard calls the host once per step, from its
own thread; the pool serves them one at a time.
"""

from __future__ import annotations

import dataclasses
import inspect
import multiprocessing
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, World, make_timestep


class Instance(Protocol):
    """A Python environment instance. `step` may add a dict as a seventh value, with "alive"
    ([N] bool: which agents live) and "won" (bool: the episode just ended in a win)."""

    def reset(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def step(self, actions: np.ndarray) -> tuple[Any, ...]: ...


class InjectedFault(RuntimeError):
    """A failure injected by `PoolOptions.fault_rate` (tests, drills)."""


@dataclass(frozen=True)
class PoolOptions:
    """How a `HostPool` runs its instances (the config's `external` section).

    workers: 0 steps the instances in this process; W > 0 in W worker processes, instance i in
    worker i % W, the workers stepping in parallel. fault_rate: the probability that an
    instance's step raises `InjectedFault`; worker_fault_rate: the probability that a worker
    process dies before it answers a step. Both inject failures for tests and drills; the pool
    survives them as it survives real ones. fault_seed: the injection's random stream.
    timeout_s: a worker that does not answer a call within this time is treated as dead."""

    workers: int = 0
    fault_rate: float = 0.0
    worker_fault_rate: float = 0.0
    fault_seed: int = 0
    timeout_s: float = 600.0


def _close(instance) -> None:
    close = getattr(instance, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001  (a broken instance may fail to close)
            pass


def _reset(instances: dict, factory, i: int, seed: int, fresh: bool = False):
    """Reset instance i (making it if absent, or anew with `fresh`): (obs, state, mask)."""
    if fresh or i not in instances:
        _close(instances.pop(i, None))
        instances[i] = factory()
    return instances[i].reset(seed)


def _advance(instances: dict, factory, op):
    """One instance's step where it lives (this process or a worker): op = (i, action,
    at_limit, next_seed, fault). Returns ("ok", step outputs, first outputs of the next
    episode or None) or, when the step raised or the instance is missing (its worker died),
    ("restarted", first outputs of a fresh instance's episode, what went wrong)."""
    i, action, at_limit, next_seed, fault = op
    try:
        if i not in instances:
            raise LookupError(f"instance {i} was lost with its worker process")
        if fault:
            raise InjectedFault(f"injected fault in instance {i}")
        out = instances[i].step(action)
    except Exception as e:  # noqa: BLE001  (any failure of the instance: replace it)
        why = f"{type(e).__name__}: {e}"
        return "restarted", _reset(instances, factory, i, next_seed, fresh=True), why
    obs, state, mask, reward, terminated, truncated, *rest = out
    info = rest[0] if rest else {}
    terminated = bool(terminated)
    # the world's time limit is truncation (unless the instance terminated at that step)
    truncated = not terminated and (bool(truncated) or at_limit)
    won = bool(info.get("won", False))
    alive = info.get("alive")
    step = (obs, state, mask, float(reward), terminated, truncated, alive, won)
    first = _reset(instances, factory, i, next_seed) if terminated or truncated else None
    return "ok", step, first


def _run_ops(instances: dict, factory, kind: str, ops: list) -> list:
    """A batch of resets ((i, seed): fresh instances) or steps (`_advance` ops), in order."""
    if kind == "reset":
        return [_reset(instances, factory, i, seed, fresh=True) for i, seed in ops]
    return [_advance(instances, factory, op) for op in ops]


def _worker_main(conn, factory) -> None:
    """A worker process: holds its instances, runs the ops it is sent, answers in order. Ctrl-C
    is the training process's to handle (it stops at the next chunk and checkpoints); a
    worker ends when the training process closes its pipe or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    instances: dict = {}
    try:
        conn.send("ready")  # started (JAX imported): from here on answers are timed
        while True:
            msg = conn.recv()
            if msg is None:
                break
            kind, ops, die = msg
            if die:
                os._exit(3)  # an injected worker death
            conn.send(_run_ops(instances, factory, kind, ops))
    except (EOFError, OSError):  # the training process closed the pipe (or replaced this one)
        pass
    for inst in instances.values():
        _close(inst)


class _InProcess:
    """Instances in this process."""

    def __init__(self, factory):
        self.factory, self.instances = factory, {}

    def run(self, kind: str, ops: list, rng) -> list:
        return _run_ops(self.instances, self.factory, kind, ops)

    def close(self):
        for inst in self.instances.values():
            _close(inst)


class _Workers:
    """Instances in W worker processes (spawned: JAX's threads make fork unsafe); each step
    sends every worker its share of the batch first and then gathers, so they run in
    parallel. A worker that dies, or does not answer within `timeout_s` (a hung simulator), is
    replaced and its share sent again: the new worker lacks the instances, so each one
    restarts (`_advance`)."""

    def __init__(self, factory, workers: int, worker_fault_rate: float, timeout_s: float):
        self.factory, self.n, self.rate, self.timeout = (
            factory,
            workers,
            worker_fault_rate,
            timeout_s,
        )
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list = [None] * workers
        self.conns: list = [None] * workers
        self.deaths = 0  # workers are started at the first call (a validated config starts none)

    def _start(self, w: int) -> None:
        mine, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(theirs, self.factory), daemon=True)
        proc.start()
        theirs.close()
        self.procs[w], self.conns[w] = proc, mine

    def _ready(self, w: int) -> None:
        """Wait for worker w's start-up (a fresh Python importing JAX: seconds on a loaded
        machine), untimed: only answers to calls count against `timeout_s`."""
        if self.conns[w].recv() != "ready":
            raise RuntimeError(f"worker process {w} did not start")

    def run(self, kind: str, ops: list, rng) -> list:
        new = [w for w in range(self.n) if self.procs[w] is None]
        for w in new:
            self._start(w)
        for w in new:
            self._ready(w)
        shares = [[k for k, op in enumerate(ops) if op[0] % self.n == w] for w in range(self.n)]
        out: list = [None] * len(ops)
        for w, share in enumerate(shares):
            if share:
                die = kind == "step" and self.rate > 0 and rng.random() < self.rate
                self._send(w, (kind, [ops[k] for k in share], die))
        for w, share in enumerate(shares):
            if not share:
                continue
            try:
                if not self.conns[w].poll(self.timeout):
                    raise TimeoutError(f"no answer in {self.timeout:g} s")
                answers = self.conns[w].recv()
            except (EOFError, OSError) as e:  # the worker died or hangs: a new one, same share
                self.deaths += 1
                self._replace(w)
                if self.deaths <= 3:
                    why = "hangs" if isinstance(e, TimeoutError) else "died"
                    print(
                        f"acjax: worker process {w} {why}; its instances restart", file=sys.stderr
                    )
                self.conns[w].send((kind, [ops[k] for k in share], False))
                if not self.conns[w].poll(self.timeout):  # hangs again: give up, not forever
                    raise RuntimeError(f"worker process {w} hangs again after a restart") from e
                answers = self.conns[w].recv()
            for k, a in zip(share, answers, strict=True):
                out[k] = a
        return out

    def _send(self, w: int, msg) -> None:
        try:
            self.conns[w].send(msg)
        except OSError:  # died since the last step; `run` notices at recv
            pass

    def _replace(self, w: int) -> None:
        self.conns[w].close()
        self.procs[w].join(timeout=5)
        if self.procs[w].is_alive():
            self.procs[w].kill()
        self._start(w)
        self._ready(w)

    def close(self):
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if proc is None:
                continue
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


class HostPool:
    """Instances on the host, addressed by integer ids, with counters of what was done.

    `host_calls` counts the callbacks ({"reset": r, "step": s}); `instance_steps[i]` the steps
    of instance i (its resets not included); `restarts` the instances restarted after a
    failure (a step that raised, a worker that died)."""

    def __init__(self, factory: Callable[[], Instance], spec: EnvSpec, options=PoolOptions()):
        self.factory, self.spec, self.options = factory, spec, options
        self.executor = (
            _Workers(factory, options.workers, options.worker_fault_rate, options.timeout_s)
            if options.workers
            else _InProcess(factory)
        )
        weakref.finalize(self, self.executor.close)
        self.rng = np.random.default_rng(options.fault_seed)
        self.instance_steps: list[int] = []
        self.episode_steps: list[int] = []
        self.seeds: list[int] = []
        self.last: list = []  # each instance's latest (obs, state): a failed step's final ones
        self.host_calls = {"reset": 0, "step": 0}
        self.restarts = 0
        self.all_alive = np.ones(spec.num_agents, bool)
        # with several devices, each device's shard calls from its own thread: one at a time
        self.lock = threading.Lock()

    def _new_ids(self, seeds: list[int]) -> list[int]:
        ids = list(range(len(self.seeds), len(self.seeds) + len(seeds)))
        self.instance_steps += [0] * len(seeds)
        self.episode_steps += [0] * len(seeds)
        self.seeds += [int(s) - 1_000_003 for s in seeds]
        self.last += [None] * len(seeds)
        return ids

    def _next_seed(self, i: int) -> int:
        return self.seeds[i] + 1_000_003  # the next episode of an instance gets a new seed

    def _started(self, i: int, first) -> tuple:
        """Bookkeeping of instance i's new episode from its first outputs (obs, state, mask)."""
        self.seeds[i] = self._next_seed(i)
        self.episode_steps[i] = 0
        obs, state, mask = first
        self.last[i] = (obs, state)
        return obs, state, mask

    def reset(self, seeds: np.ndarray):
        """New instances for a batch of seeds (any leading shape): ids, obs, state, mask."""
        with self.lock:
            return self._reset_batch(seeds)

    def _reset_batch(self, seeds: np.ndarray):
        self.host_calls["reset"] += 1
        seeds = np.asarray(seeds)
        out = self._make(seeds.reshape(-1).tolist())
        return self._stack(out, seeds.shape, (np.int32, np.float32, np.float32, bool))

    def _make(self, seeds: list[int]) -> list[tuple]:
        """New instances in their first episodes: (id, obs, state, mask) for each seed."""
        ids = self._new_ids(seeds)
        firsts = self.executor.run("reset", [(i, self._next_seed(i)) for i in ids], self.rng)
        return [(i, *self._started(i, f)) for i, f in zip(ids, firsts, strict=True)]

    def _ensure(self, ids: list[int]) -> None:
        """Instances a resumed run refers to but this process has not made yet: made now, in
        new episodes (seeded by their ids)."""
        if max(ids) >= len(self.seeds):
            self._make(list(range(len(self.seeds), max(ids) + 1)))

    def step(self, ids: np.ndarray, ticks: np.ndarray, actions: np.ndarray):
        """Step every instance of the batch once (auto-resetting ended episodes)."""
        with self.lock:
            return self._step_batch(ids, ticks, actions)

    def _step_batch(self, ids: np.ndarray, ticks: np.ndarray, actions: np.ndarray):
        self.host_calls["step"] += 1
        ids = np.asarray(ids)
        batch = np.broadcast_shapes(ids.shape, np.shape(ticks))
        per_env = np.shape(actions)[len(np.shape(actions)) - (2 if self.spec.continuous else 1) :]
        actions = np.broadcast_to(actions, batch + per_env).reshape(-1, *per_env)
        ids = np.broadcast_to(ids, batch).reshape(-1).tolist()
        rate, limit, everyone = self.options.fault_rate, self.spec.max_steps, self.all_alive
        self._ensure(ids)
        ops = []
        for i, a in zip(ids, actions, strict=True):
            at_limit = bool(limit) and self.episode_steps[i] + 1 >= limit
            fault = rate > 0 and self.rng.random() < rate
            ops.append((i, a, at_limit, self._next_seed(i), fault))
        out = []
        for i, res in zip(ids, self.executor.run("step", ops, self.rng), strict=True):
            self.instance_steps[i] += 1
            self.episode_steps[i] += 1
            if res[0] == "restarted":  # the episode ends truncated at its last known state
                self.restarts += 1
                if self.restarts <= 3:  # say why, a few times; the metrics count the rest
                    more = " (later ones are counted in the restarts metric)"
                    print(
                        f"acjax: {self.spec.name}: instance {i} restarted after {res[2]}"
                        + (more if self.restarts == 3 else ""),
                        file=sys.stderr,
                    )
                final_obs, final_state = self.last[i]
                obs, state, mask = self._started(i, res[1])
                row = (obs, state, mask, 0.0, False, True, everyone, False, 1)
            else:
                _, (obs, state, mask, reward, term, trunc, alive, won), first = res
                alive = everyone if alive is None else alive
                final_obs, final_state = obs, state
                self.last[i] = (obs, state)
                if first is not None:
                    obs, state, mask = self._started(i, first)
                    alive = everyone  # the next episode's first step
                row = (obs, state, mask, reward, term, trunc, alive, won, 0)
            out.append((i, *row, final_obs, final_state))
        types = (np.int32, np.float32, np.float32, bool, np.float32, bool, bool, bool, bool)
        return self._stack(out, batch, types + (np.int32, np.float32, np.float32))

    def close(self) -> None:
        self.executor.close()

    @staticmethod
    def _stack(rows, batch, types):
        return tuple(
            np.asarray(np.stack([r[k] for r in rows]), t).reshape(batch + np.shape(rows[0][k]))
            for k, t in enumerate(types)
        )


class ExternalState(NamedTuple):
    ids: jax.Array  # [] int32: the instance on the host
    tick: jax.Array  # [] int32: steps taken (orders the host calls)


class ExternalWorld(World):
    """A `HostPool` as a world (module docstring)."""

    self_resetting = True

    def __init__(self, pool: HostPool):
        self.pool = pool
        # every external world reports the instances restarted after faults
        metrics = tuple(dict.fromkeys((*pool.spec.metrics, "restarts")))
        self.spec = pool.spec = dataclasses.replace(pool.spec, metrics=metrics)

    def _shapes(self):
        s = self.spec
        a = (s.num_agents, s.num_actions)
        f32 = jnp.float32
        return (
            jax.ShapeDtypeStruct((), jnp.int32),
            jax.ShapeDtypeStruct((s.num_agents, s.obs_dim), f32),
            jax.ShapeDtypeStruct((s.state_dim,), f32),
            jax.ShapeDtypeStruct(a, jnp.bool_),
        )

    def reset(self, key: jax.Array):
        seed = jax.random.randint(key, (), 0, 2**30, dtype=jnp.int32)
        ids, obs, state, mask = jax.pure_callback(
            self.pool.reset, self._shapes(), seed, vmap_method="expand_dims"
        )
        return ExternalState(ids, jnp.zeros((), jnp.int32)), make_timestep(obs, state, mask)

    def step(self, state: ExternalState, actions: jax.Array):
        ids, obs, st, mask = self._shapes()
        scalar = jax.ShapeDtypeStruct((), jnp.float32)
        flag = jax.ShapeDtypeStruct((), jnp.bool_)
        alive = jax.ShapeDtypeStruct((self.spec.num_agents,), jnp.bool_)
        count = jax.ShapeDtypeStruct((), jnp.int32)
        shapes = (ids, obs, st, mask, scalar, flag, flag, alive, flag, count, obs, st)
        dtype = jnp.float32 if self.spec.continuous else jnp.int32
        out = jax.pure_callback(
            self.pool.step,
            shapes,
            state.ids,
            state.tick,
            jnp.asarray(actions, dtype),
            vmap_method="expand_dims",
        )
        new_ids, obs, st, mask, reward, terminated, truncated, alive, won, restarts = out[:10]
        final_obs, final_st = out[10:]
        ts = make_timestep(obs, st, mask, reward, None, terminated, truncated, alive, won, restarts)
        ts = ts._replace(final_obs=final_obs, final_global_state=final_st)
        return ExternalState(new_ids, state.tick + 1), ts


# ---------------------------------------------------------------------- backends
class RwareInstance:
    """The original `rware` package (gymnasium API) as an `Instance`: observations as rware
    computes them, the global state their concatenation, all actions available, the team reward
    the sum of the agents' rewards. Nothing ends a warehouse episode but its step limit, which
    rware 2.0.0 calls `done`: it is reported as truncation."""

    def __init__(self, task: str, max_steps: int):
        import gymnasium as gym
        import rware  # noqa: F401  (registers the tasks)

        self.env = gym.make(task, max_steps=max_steps, disable_env_checker=True)
        self.n = self.env.unwrapped.n_agents
        self.num_actions = int(self.env.action_space[0].n)
        self.mask = np.ones((self.n, self.num_actions), bool)

    def _out(self, obs):
        obs = np.stack(obs).astype(np.float32, copy=False)
        return obs, obs.reshape(-1), self.mask

    def reset(self, seed: int):
        obs, _ = self.env.reset(seed=int(seed))
        return self._out(obs)

    def step(self, actions):
        obs, rewards, done, truncated, _ = self.env.step(tuple(np.asarray(actions).tolist()))
        return (*self._out(obs), float(sum(rewards)), False, bool(done or truncated))


def make_rware(
    size: str, n_agents: int, difficulty: str, max_steps: int = 500, options=PoolOptions()
) -> ExternalWorld:
    """`external-rware-<size>-<N>ag[-easy|-hard]`: the original rware through the adapter."""
    suffix = {"normal": "", "easy": "-easy", "hard": "-hard"}[difficulty]
    task = f"rware-{size}-{n_agents}ag{suffix}-v2"
    probe = RwareInstance(task, max_steps)
    obs_dim = probe.env.observation_space[0].shape[0]
    spec = EnvSpec(
        f"external-rware-{size}-{n_agents}ag{suffix}",
        num_agents=n_agents,
        obs_dim=obs_dim,
        state_dim=n_agents * obs_dim,
        num_actions=probe.num_actions,
        max_steps=max_steps,
    )
    return ExternalWorld(HostPool(partial(RwareInstance, task, max_steps), spec, options))


class PettingZooInstance:
    """A PettingZoo parallel environment whose agents share observation and action spaces, as
    an `Instance`: observations in `possible_agents` order, the global state from `state()`
    when the environment has one (else the concatenated observations), every action available,
    the team reward the sum of the agents' rewards (as rware's), the episode over when every
    agent is terminated or truncated."""

    def __init__(self, module: str, kwargs: dict | None = None):
        import importlib

        self.env = importlib.import_module(module).parallel_env(**(kwargs or {}))
        self.agents = list(self.env.possible_agents)
        spaces = [(self.env.observation_space(a), self.env.action_space(a)) for a in self.agents]
        if any(repr(sp) != repr(spaces[0]) for sp in spaces):
            raise ValueError(f"{module}: agents with different observation or action spaces")
        obs_space, act_space = spaces[0]
        self.obs_dim = int(np.prod(obs_space.shape))
        self.continuous = hasattr(act_space, "low")
        if self.continuous:
            low, high = np.asarray(act_space.low), np.asarray(act_space.high)
            if np.ptp(low) or np.ptp(high):
                raise ValueError(f"{module}: action bounds differ between dimensions")
            self.num_actions, self.bounds = (
                int(act_space.shape[0]),
                (float(low.flat[0]), float(high.flat[0])),
            )
        else:
            self.num_actions, self.bounds = int(act_space.n), (-1.0, 1.0)
        self.state_dim = len(self._state(self.env.reset(seed=0)[0]))

    def _state(self, obs: dict) -> np.ndarray:
        try:
            return np.asarray(self.env.state(), np.float32).reshape(-1)
        except (AttributeError, NotImplementedError):
            return np.concatenate([np.asarray(obs[a], np.float32).reshape(-1) for a in self.agents])

    def _out(self, obs: dict):
        stacked = np.stack([np.asarray(obs[a], np.float32).reshape(-1) for a in self.agents])
        mask = np.ones((len(self.agents), self.num_actions), bool)
        return stacked, self._state(obs), mask

    def reset(self, seed: int):
        obs, _ = self.env.reset(seed=int(seed))
        return self._out(obs)

    def step(self, actions):
        if self.continuous:
            act = {a: np.asarray(x, np.float32) for a, x in zip(self.agents, actions, strict=True)}
        else:
            act = {a: int(x) for a, x in zip(self.agents, actions, strict=True)}
        obs, rewards, terms, truncs, _ = self.env.step(act)
        terminated = all(bool(terms[a]) for a in self.agents)
        truncated = all(bool(terms[a] or truncs[a]) for a in self.agents) and not terminated
        reward = float(sum(rewards[a] for a in self.agents))
        return (*self._out(obs), reward, terminated, truncated)


def make_pettingzoo(
    module: str, kwargs: dict | None = None, options=PoolOptions()
) -> ExternalWorld:
    """`pettingzoo:<module>`: a PettingZoo parallel environment through the adapter."""
    probe = PettingZooInstance(module, kwargs)
    low, high = probe.bounds
    spec = EnvSpec(
        f"pettingzoo:{module}",
        num_agents=len(probe.agents),
        obs_dim=probe.obs_dim,
        state_dim=probe.state_dim,
        num_actions=probe.num_actions,
        max_steps=int(getattr(probe.env.unwrapped, "max_cycles", 0) or 0),
        action_type="continuous" if probe.continuous else "discrete",
        action_low=low,
        action_high=high,
    )
    return ExternalWorld(HostPool(partial(PettingZooInstance, module, kwargs), spec, options))


class SmacStyleInstance:
    """Any environment with SMACv2's API as an `Instance`: `reset()`, `step(actions) ->
    (reward, terminated, info)`, `get_obs()`, `get_state()`, `get_avail_actions()` and
    `get_env_info()` (n_agents, n_actions, obs_shape, state_shape, episode_limit).

    - an agent is dead where only its no-op (action 0) is available, SMAC's convention; a dead
      agent's observation is zeroed (death masking, `EnvSpec.agents_die`);
    - `info["battle_won"]` is the win flag; an episode that ends at `episode_limit` with the
      battle not over (not won, an ally alive) ends by truncation, as does one whose info says
      `episode_limit` (SMAC's continuing-episode mode);
    - a step that ends the episode with an empty info is how SMACv2 reports a StarCraft II
      protocol error: the instance raises, and the pool restarts it (the episode ends truncated).

    `make_env` builds the environment (a picklable callable, so that worker processes can make
    their own); `seed` is passed to `reset` where the environment's reset takes one."""

    def __init__(self, make_env: Callable[[], Any]):
        self.env = make_env()
        info = self.env.get_env_info()
        self.n, self.num_actions = int(info["n_agents"]), int(info["n_actions"])
        self.episode_limit = int(info.get("episode_limit", 0) or 0)
        self.seeded = "seed" in inspect.signature(self.env.reset).parameters

    def _out(self):
        mask = np.asarray(self.env.get_avail_actions(), bool).reshape(self.n, self.num_actions)
        alive = ~mask[:, 0]  # SMAC: the no-op is available to dead agents only
        obs = np.asarray(self.env.get_obs(), np.float32).reshape(self.n, -1) * alive[:, None]
        state = np.asarray(self.env.get_state(), np.float32).reshape(-1)
        return obs, state, mask, alive

    def reset(self, seed: int):
        self.t = 0
        # SMACv2's reset takes no seed: StarCraft II draws its own randomness
        self.env.reset(seed=int(seed)) if self.seeded else self.env.reset()
        return self._out()[:3]

    def step(self, actions):
        reward, terminated, info = self.env.step([int(a) for a in actions])
        self.t += 1
        if terminated and not info:
            raise RuntimeError("StarCraft II protocol error (the environment restarted itself)")
        obs, state, mask, alive = self._out()
        won = bool(info.get("battle_won", False))
        # SMACv2 ends an episode at its limit as `terminated`: unless the battle is over (won,
        # or every ally dead) at that step, it is a time limit, reported as truncation
        over = won or not alive.any()
        limit = bool(self.episode_limit) and self.t >= self.episode_limit
        truncated = bool(info.get("episode_limit", False)) or (terminated and limit and not over)
        terminated = bool(terminated) and not truncated
        return obs, state, mask, float(reward), terminated, truncated, {"alive": alive, "won": won}

    def close(self):
        _close(self.env)


def make_smac_style(
    name: str, make_env: Callable[[], Any], options=PoolOptions(), max_steps: int | None = None
) -> ExternalWorld:
    """A world of instances of an environment with SMACv2's API (`SmacStyleInstance`), with
    death masking and the win rate as a metric; the time limit is the environment's
    `episode_limit` unless `max_steps` is given."""
    probe = SmacStyleInstance(make_env)
    info = probe.env.get_env_info()
    _close(probe)
    obs_dim, state_dim = int(np.prod(info["obs_shape"])), int(np.prod(info["state_shape"]))
    spec = EnvSpec(
        name,
        num_agents=probe.n,
        obs_dim=obs_dim,
        state_dim=state_dim,
        num_actions=probe.num_actions,
        max_steps=probe.episode_limit if max_steps is None else max_steps,
        agents_die=True,
        metrics=("win_rate",),
    )
    return ExternalWorld(HostPool(partial(SmacStyleInstance, make_env), spec, options))


# SMACv2's scenarios (its example configs sc2_gen_<race>.yaml): race, allies, enemies
SMACV2_SCENARIOS = {
    "protoss_5_vs_5": ("protoss", 5, 5),
    "zerg_5_vs_5": ("zerg", 5, 5),
    "protoss_10_vs_11": ("protoss", 10, 11),
    "terran_10_vs_11": ("terran", 10, 11),
    "zerg_10_vs_11": ("zerg", 10, 11),
}
# unit types, their weights, and the type no team may consist of only
SMACV2_UNITS = {
    "protoss": (("stalker", "zealot", "colossus"), (0.45, 0.45, 0.1), "colossus"),
    "terran": (("marine", "marauder", "medivac"), (0.45, 0.45, 0.1), "medivac"),
    "zerg": (("zergling", "baneling", "hydralisk"), (0.45, 0.1, 0.45), "baneling"),
}
SMACV2_INSTALL = (
    "install SMACv2 (pip install git+https://github.com/oxwhirl/smacv2.git) and StarCraft II "
    "4.10 with the SMAC maps, and set SC2PATH (docs/external.md)"
)


def smacv2_kwargs(scenario: str) -> dict:
    """`StarCraftCapabilityEnvWrapper`'s keyword arguments for a scenario: SMACv2's own
    settings (its `sc2_gen_<race>.yaml` example configs)."""
    race, n_units, n_enemies = SMACV2_SCENARIOS[scenario]
    units, weights, exception = SMACV2_UNITS[race]
    return dict(
        map_name=f"10gen_{race}",
        capability_config={
            "n_units": n_units,
            "n_enemies": n_enemies,
            "team_gen": {
                "dist_type": "weighted_teams",
                "unit_types": list(units),
                "weights": list(weights),
                "exception_unit_types": [exception],
                "observe": True,
            },
            "start_positions": {
                "dist_type": "surrounded_and_reflect",
                "p": 0.5,
                "n_enemies": n_enemies,
                "map_x": 32,
                "map_y": 32,
            },
        },
        continuing_episode=False,
        difficulty="7",
        move_amount=2,
        obs_all_health=True,
        obs_own_health=True,
        obs_last_action=False,
        obs_pathing_grid=False,
        obs_terrain_height=False,
        obs_timestep_number=False,
        obs_instead_of_state=False,
        obs_own_pos=True,
        conic_fov=False,
        use_unit_ranges=True,
        min_attack_range=2,
        num_fov_actions=12,
        reward_death_value=10,
        reward_defeat=0,
        reward_negative_scale=0.5,
        reward_only_positive=True,
        reward_scale=True,
        reward_scale_rate=20,
        reward_sparse=False,
        reward_win=200,
        state_last_action=True,
        state_timestep_number=False,
        step_mul=8,
        heuristic_ai=False,
        debug=False,
        prob_obs_enemy=0,
    )


class SMACv2Env:
    """Makes a SMACv2 environment (picklable, for worker processes)."""

    def __init__(self, scenario: str):
        self.scenario = scenario

    def __call__(self):
        from smacv2.env.starcraft2.wrapper import StarCraftCapabilityEnvWrapper

        return StarCraftCapabilityEnvWrapper(**smacv2_kwargs(self.scenario))


def smacv2_missing() -> str | None:
    """What keeps SMACv2 from running here (None when nothing does)."""
    import importlib.util

    if importlib.util.find_spec("smacv2") is None:
        return "the smacv2 package is not installed"
    path = os.environ.get("SC2PATH", "")
    if not path or not os.path.isdir(path):
        return f"StarCraft II is not found (SC2PATH={path!r})"
    return None


def make_smacv2(scenario: str, options=PoolOptions()) -> ExternalWorld:
    """`smacv2-<scenario>`: SMACv2 through the adapter (`SmacStyleInstance`)."""
    if scenario not in SMACV2_SCENARIOS:
        raise ValueError(
            f"unknown SMACv2 scenario {scenario!r}; expected one of {', '.join(SMACV2_SCENARIOS)}"
        )
    missing = smacv2_missing()
    if missing:
        raise ValueError(f"smacv2-{scenario}: {missing}; {SMACV2_INSTALL}")
    return make_smac_style(f"smacv2-{scenario}", SMACv2Env(scenario), options)

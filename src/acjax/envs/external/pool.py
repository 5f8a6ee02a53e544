"""`HostPool`: the instances on the host, addressed by integer ids, with auto-reset and
restarts after failures (the package docstring); the `Instance` protocol it holds and the
`PoolOptions` it runs them by."""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from acjax.envs.core import EnvSpec
from acjax.envs.external.workers import _InProcess, _Workers


class Instance(Protocol):
    """A Python environment instance. `step` may add a dict as a seventh value, with "alive"
    ([N] bool: which agents live) and "won" (bool: the episode just ended in a win)."""

    def reset(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def step(self, actions: np.ndarray) -> tuple[Any, ...]: ...


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

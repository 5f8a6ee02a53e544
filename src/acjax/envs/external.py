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
which is always reported as truncation (also where the instance calls it `done`, as rware
2.0.0 does). The world says `self_resetting = True`, and `AutoReset` then passes its steps
through.

An instance implements `Instance`: `reset(seed) -> (obs [N, O], state [S], mask [N, A])` and
`step(actions) -> (obs, state, mask, reward, terminated, truncated)` with numpy values; the
backends adapt real environments to it (`RwareInstance`: the original `rware` package;
`PettingZooInstance`: a PettingZoo parallel environment).

Instances live in this process: a resumed run starts new episodes (their state is not in the
checkpoint; `HostPool._ensure` makes the instances its restored handles name, so the first step
after a resume continues from a fresh episode, not from the checkpointed observation). With
several devices, each device's shard calls the host once per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, World, make_timestep


class Instance(Protocol):
    def reset(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def step(self, actions: np.ndarray) -> tuple[Any, ...]: ...


class HostPool:
    """Instances on the host, addressed by integer ids, with counters of what was done.

    `host_calls` counts the callbacks ({"reset": r, "step": s}); `instance_steps[i]` the steps
    of instance i (its resets not included)."""

    def __init__(self, factory: Callable[[], Instance], spec: EnvSpec):
        self.factory, self.spec = factory, spec
        self.instances: list[Instance] = []
        self.instance_steps: list[int] = []
        self.episode_steps: list[int] = []
        self.seeds: list[int] = []
        self.host_calls = {"reset": 0, "step": 0}

    def _reset_one(self, i: int) -> tuple[np.ndarray, ...]:
        self.episode_steps[i] = 0
        self.seeds[i] += 1_000_003  # the next episode of an instance gets a new seed
        return self.instances[i].reset(self.seeds[i])

    def _new(self, seed: int) -> int:
        i = len(self.instances)
        self.instances.append(self.factory())
        self.instance_steps.append(0)
        self.episode_steps.append(0)
        self.seeds.append(int(seed) - 1_000_003)
        return i

    def reset(self, seeds: np.ndarray):
        """New instances for a batch of seeds (any leading shape): ids, obs, state, mask."""
        self.host_calls["reset"] += 1
        seeds = np.asarray(seeds)
        out = []
        for seed in seeds.reshape(-1).tolist():
            i = self._new(seed)
            out.append((i, *self._reset_one(i)))
        return self._stack(out, seeds.shape, (np.int32, np.float32, np.float32, bool))

    def _ensure(self, i: int) -> None:
        """Instances a resumed run refers to but this process has not made yet: new episodes."""
        while len(self.instances) <= i:
            self._reset_one(self._new(len(self.instances)))

    def step(self, ids: np.ndarray, ticks: np.ndarray, actions: np.ndarray):
        """Step every instance of the batch once (auto-resetting ended episodes)."""
        self.host_calls["step"] += 1
        ids = np.asarray(ids)
        batch = np.broadcast_shapes(ids.shape, np.shape(ticks))
        per_env = np.shape(actions)[len(np.shape(actions)) - (2 if self.spec.continuous else 1) :]
        actions = np.broadcast_to(actions, batch + per_env).reshape(-1, *per_env)
        out = []
        for i, a in zip(np.broadcast_to(ids, batch).reshape(-1).tolist(), actions, strict=True):
            self._ensure(i)
            obs, state, mask, reward, terminated, truncated = self.instances[i].step(a)
            self.instance_steps[i] += 1
            self.episode_steps[i] += 1
            if self.spec.max_steps and self.episode_steps[i] >= self.spec.max_steps:
                # the world's time limit is truncation, also where the instance calls its own
                # step limit `done` (rware 2.0.0 does)
                terminated, truncated = False, True
            else:
                terminated = bool(terminated)
                truncated = not terminated and bool(truncated)
            final_obs, final_state = obs, state
            if terminated or truncated:
                obs, state, mask = self._reset_one(i)
            out.append((i, obs, state, mask, reward, terminated, truncated, final_obs, final_state))
        types = (np.int32, np.float32, np.float32, bool, np.float32, bool, bool)
        return self._stack(out, batch, types + (np.float32, np.float32))

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
        self.spec = pool.spec

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
        shapes = (ids, obs, st, mask, scalar, flag, flag, obs, st)
        dtype = jnp.float32 if self.spec.continuous else jnp.int32
        out = jax.pure_callback(
            self.pool.step,
            shapes,
            state.ids,
            state.tick,
            jnp.asarray(actions, dtype),
            vmap_method="expand_dims",
        )
        new_ids, obs, st, mask, reward, terminated, truncated, final_obs, final_st = out
        ts = make_timestep(obs, st, mask, reward, None, terminated, truncated)
        ts = ts._replace(final_obs=final_obs, final_global_state=final_st)
        return ExternalState(new_ids, state.tick + 1), ts


# ---------------------------------------------------------------------- backends
class RwareInstance:
    """The original `rware` package (gymnasium API) as an `Instance`: observations as rware
    computes them, the global state their concatenation, all actions available, the team reward
    the sum of the agents' rewards."""

    def __init__(self, task: str, max_steps: int):
        import gymnasium as gym
        import rware  # noqa: F401  (registers the tasks)

        self.env = gym.make(task, max_steps=max_steps, disable_env_checker=True)
        self.n = self.env.unwrapped.n_agents
        self.num_actions = int(self.env.action_space[0].n)

    def _out(self, obs):
        obs = np.stack([np.asarray(o, np.float32) for o in obs])
        return obs, obs.reshape(-1), np.ones((self.n, self.num_actions), bool)

    def reset(self, seed: int):
        obs, _ = self.env.reset(seed=int(seed))
        return self._out(obs)

    def step(self, actions):
        obs, rewards, terminated, truncated, _ = self.env.step(tuple(int(a) for a in actions))
        return (*self._out(obs), float(np.sum(rewards)), terminated, truncated)


def make_rware(size: str, n_agents: int, difficulty: str, max_steps: int = 500) -> ExternalWorld:
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
    return ExternalWorld(HostPool(lambda: RwareInstance(task, max_steps), spec))


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


def make_pettingzoo(module: str, kwargs: dict | None = None) -> ExternalWorld:
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
    return ExternalWorld(HostPool(lambda: PettingZooInstance(module, kwargs), spec))

"""`ExternalWorld`: a `HostPool` as a world of the common interface, crossing to the host
through `jax.pure_callback` (the package docstring)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from acjax.envs.core import World, make_timestep
from acjax.envs.external.pool import HostPool


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

"""Wrappers: amortized auto-reset and episode statistics.

Auto-reset. Under `vmap` a `lax.cond` runs both branches, so an auto-reset that calls the reset
generator inside `step` pays a full reset every step (Jumanji's AutoResetWrapper: about 2.7x a
plain step on the warehouse). `AutoReset` instead keeps one pre-generated reset state per
environment and swaps it in when an episode ends (a cheap select). `refresh(state, key)`
draws a new reset state; the trainer calls it once per rollout, so the generator runs once per
environment per rollout instead of once per step. An environment that ends two episodes inside
one rollout starts both from the same initial state (its dynamics still differ with the
actions); with rollouts much shorter than episodes this is rare.

Staggered starts. A batch of environments reset together also truncates together: every
environment ends its episode in the same update, and the updates between see no finished
episode (or only early terminations). A world may offer `stagger(state, key)`, which starts the
running episode partway through the time limit; the trainer applies it once, to the first
episodes (`AutoReset.stagger`, `EpisodeStats.stagger` pass it through).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from acjax.envs.core import EnvSpec, MultiAgentEnv, TimeStep, World


def tree_where(cond: jax.Array, a: Any, b: Any) -> Any:
    """Elementwise select between two pytrees of equal structure on a scalar condition."""
    return jax.tree.map(lambda x, y: jnp.where(cond, x, y), a, b)


class AutoResetState(NamedTuple):
    env_state: Any
    reset_state: Any
    reset_timestep: TimeStep


class AutoReset(World):
    """Starts the next episode from a pre-generated reset state when one ends.

    The returned TimeStep of a final step carries the next episode's first `obs`,
    `global_state` and `action_mask`, the ending step's reward/terminated/truncated, and the
    true last observation/state in `final_obs` / `final_global_state`.
    """

    def __init__(self, env: MultiAgentEnv):
        self.env = env
        self.spec: EnvSpec = env.spec
        # a world that resets itself (acjax.envs.external) passes through unchanged
        self.passthrough = bool(getattr(env, "self_resetting", False))

    def reset(self, key: jax.Array) -> tuple[AutoResetState, TimeStep]:
        k0, k1 = jax.random.split(key)
        env_state, ts = self.env.reset(k0)
        if self.passthrough:
            return AutoResetState(env_state, None, None), ts
        reset_state, reset_ts = self.env.reset(k1)
        return AutoResetState(env_state, reset_state, reset_ts), ts

    def refresh(self, state: AutoResetState, key: jax.Array) -> AutoResetState:
        if self.passthrough:
            return state
        reset_state, reset_ts = self.env.reset(key)
        return state._replace(reset_state=reset_state, reset_timestep=reset_ts)

    def stagger(self, state: AutoResetState, key: jax.Array) -> AutoResetState:
        """The world's `stagger` on the running episode (unchanged where the world has none)."""
        inner = getattr(self.env, "stagger", None)
        return state if inner is None else state._replace(env_state=inner(state.env_state, key))

    def step(self, state: AutoResetState, actions: jax.Array) -> tuple[AutoResetState, TimeStep]:
        env_state, ts = self.env.step(state.env_state, actions)
        if self.passthrough:
            return state._replace(env_state=env_state), ts
        done = ts.done
        nxt = state.reset_timestep
        ts = ts._replace(
            obs=jnp.where(done, nxt.obs, ts.obs),
            global_state=jnp.where(done, nxt.global_state, ts.global_state),
            action_mask=jnp.where(done, nxt.action_mask, ts.action_mask),
            alive=jnp.where(done, nxt.alive, ts.alive),
            final_obs=ts.obs,
            final_global_state=ts.global_state,
        )
        env_state = tree_where(done, state.reset_state, env_state)
        return state._replace(env_state=env_state), ts


class EpisodeStatsState(NamedTuple):
    inner: Any
    episode_return: jax.Array  # running team return of the current episode
    episode_length: jax.Array
    returned_return: jax.Array  # return of the most recently finished episode
    returned_length: jax.Array


class EpisodeStats(World):
    """Team return and length of each episode; `returned_*` hold the last finished one."""

    def __init__(self, env: Any):
        self.env = env
        self.spec: EnvSpec = env.spec

    def reset(self, key: jax.Array) -> tuple[EpisodeStatsState, TimeStep]:
        inner, ts = self.env.reset(key)
        z, zi = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return EpisodeStatsState(inner, z, zi, z, zi), ts

    def refresh(self, state: EpisodeStatsState, key: jax.Array) -> EpisodeStatsState:
        return state._replace(inner=self.env.refresh(state.inner, key))

    def stagger(self, state: EpisodeStatsState, key: jax.Array) -> EpisodeStatsState:
        return state._replace(inner=self.env.stagger(state.inner, key))

    def step(self, state: EpisodeStatsState, actions: jax.Array):
        inner, ts = self.env.step(state.inner, actions)
        ret = state.episode_return + ts.reward
        length = state.episode_length + 1
        done = ts.done
        return (
            EpisodeStatsState(
                inner,
                jnp.where(done, 0.0, ret),
                jnp.where(done, 0, length),
                jnp.where(done, ret, state.returned_return),
                jnp.where(done, length, state.returned_length),
            ),
            ts,
        )

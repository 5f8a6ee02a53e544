"""What every trainer family shares below the harness: the learner and runner records, the world
with auto-reset and episode statistics, stepping it for T steps, and the episode metrics.

A trainer family (`acjax.onpolicy.PPOTrainer`, `acjax.offpolicy.OffPolicyTrainer`) holds one run's
state as a `Learner` (parameters, optimizer state, key, update count) and a `Runner` (the worlds
of its environments, their last time step, carried memories and, off-policy, the replay). Code
inside one update reduces over the device axis `AXIS` (the devices one run's environments split
over; size 1 when whole runs split over the devices: `acjax.harness`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from acjax.envs.registry import make as make_env
from acjax.envs.wrappers import AutoReset, EpisodeStats

AXIS = "d"  # the devices one run's environments split over (size 1 when runs split)
ENV_SPLIT = P(None, AXIS)  # [runs, envs, ...] with the environments split over the devices


class Learner(NamedTuple):
    params: Any  # {"actor": ..., "critic": ...[, "target": ...]}
    opt_state: Any
    value_norm: Any  # acjax.losses.ValueNorm (PPO's; carried unchanged off-policy)
    key: jax.Array
    update: jax.Array  # number of updates done


class Runner(NamedTuple):
    env_state: Any
    timestep: Any
    actor_h: jax.Array  # [E, N, H] memories carried between updates (H = 0 without an RNN)
    critic_h: jax.Array
    buffer: Any = ()  # the off-policy algorithms' replay (acjax.offpolicy); none on-policy


def make_world(cfg, env=None):
    """The world of cfg.env (or `env`, e.g. a test world) with auto-reset and episode returns."""
    return EpisodeStats(AutoReset(env if env is not None else make_env(cfg.env, cfg)))


def init_runner(
    world, num_envs: int, key: jax.Array, actor_h, critic_h, stagger: bool = True
) -> Runner:
    """`num_envs` fresh worlds whose first episodes end at different times (the world's
    `stagger`), or (stagger=False) all at the start of their first episode."""
    env_state, ts = jax.vmap(world.reset)(jax.random.split(jax.random.fold_in(key, 1), num_envs))
    if stagger:
        k_stagger = jax.random.fold_in(key, 2)
        env_state = jax.vmap(world.stagger)(env_state, jax.random.split(k_stagger, num_envs))
    return Runner(env_state, ts, actor_h, critic_h)


def run_steps(world, runner: Runner, carry, key: jax.Array, steps: int, local_envs: int,
              act: Callable, record: Callable):  # fmt: skip
    """T = `steps` steps of the runner's worlds: act(carry, ts, key) -> (carry, env actions, aux)
    chooses the actions, record(aux, ts, nts, env_state) -> what the scan stacks. The worlds'
    reset pools are refreshed first. Returns (runner with the new worlds and time step, carry,
    records [T, E, ...])."""
    k_reset, k_steps = jax.random.split(key)
    env_state = jax.vmap(world.refresh)(runner.env_state, jax.random.split(k_reset, local_envs))

    def step(c, k):
        env_state, ts, inner = c
        inner, env_actions, aux = act(inner, ts, k)
        env_state, nts = jax.vmap(world.step)(env_state, env_actions)
        return (env_state, nts, inner), record(aux, ts, nts, env_state)

    keys = jax.random.split(k_steps, steps)
    (env_state, ts, carry), out = jax.lax.scan(step, (env_state, runner.timestep, carry), keys)
    return runner._replace(env_state=env_state, timestep=ts), carry, out


class Episodes(NamedTuple):
    """What the episode metrics read of T steps, [T, E]."""

    done: jax.Array  # an episode ended at this step (terminated or truncated)
    episode_return: jax.Array  # the return of the episode that ended here (where done)
    won: jax.Array  # that episode was won
    restarts: jax.Array  # instances restarted after a fault at this step


def episode_record(ts, nts, env_state) -> Episodes:
    """The episode record of one step from the time steps before (ts) and after (nts) it."""
    del ts
    done = jnp.logical_or(nts.terminated, nts.truncated)
    return Episodes(done, env_state.returned_return, nts.won, nts.restarts)


def episode_metrics(ep: Episodes, world_metrics: tuple[str, ...]) -> dict:
    """The metrics every family reports of the episodes that ended in an update, summed over the
    devices: `episodes`, `episode_return` (their mean; NaN when none ended) and the world's own
    (`win_rate`, `restarts`: `acjax.envs.core.WORLD_METRICS`)."""
    done = ep.done
    episodes = jax.lax.psum(jnp.sum(done), AXIS)
    ret_sum = jax.lax.psum(jnp.sum(jnp.where(done, ep.episode_return, 0.0)), AXIS)
    some = episodes > 0
    out = {
        "episodes": episodes.astype(jnp.float32),
        "episode_return": jnp.where(some, ret_sum / jnp.maximum(episodes, 1), jnp.nan),
    }
    if "win_rate" in world_metrics:
        won = jax.lax.psum(jnp.sum(done & ep.won), AXIS)
        out["win_rate"] = jnp.where(some, won / jnp.maximum(episodes, 1), jnp.nan)
    if "restarts" in world_metrics:
        out["restarts"] = jax.lax.psum(jnp.sum(ep.restarts), AXIS).astype(jnp.float32)
    return out


EPISODE_METRICS = ("episode_return", "episodes")

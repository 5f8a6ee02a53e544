"""The multi-agent environment interface: one world, an explicit agent axis.

Every world is a pure, jittable and vmappable pair of functions

    reset(key)             -> (state, TimeStep)
    step(state, actions)   -> (state, TimeStep)

with actions int32 [N] (discrete) or float32 [N, A] (continuous, A the largest action size).
Agents of one world may differ in observation and action sizes: arrays are padded to the largest
along the agent axis and `EnvSpec.obs_sizes` / `EnvSpec.action_sizes` give each agent's true
sizes. The trainer zeroes padded action dimensions and clips continuous actions into
[action_low, action_high] before they reach `step`; a world reads only its agents' true
dimensions.

The state carries whatever randomness the world needs (its own key), so `step` takes no key.
Termination (the task ended: nothing to bootstrap) and truncation (a time limit: bootstrap from
the final state) are separate fields. When a world ends an episode, `final_obs` and
`final_global_state` hold the true last observation/state; on ordinary steps they equal `obs`
and `global_state`. This is what lets an auto-reset wrapper replace `obs` by the first
observation of the next episode without losing the state a truncated episode bootstraps from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

WORLD_METRICS = ("win_rate", "restarts")


@dataclass(frozen=True)
class EnvSpec:
    """Static description of a world.

    num_agents: N; obs_dim: size of the (padded) observation of each agent; state_dim: size of
    the global state a centralized critic sees; num_actions: A, the number of discrete actions
    or, for continuous actions, the largest action vector; max_steps: the episode time limit
    (reported as truncation), 0 when there is none. action_type: "discrete" or "continuous";
    action_low / action_high: bounds of every continuous action dimension. obs_sizes /
    action_sizes: each agent's true sizes (default: all equal to obs_dim / num_actions).

    The TimeStep's `action_mask` [N, A] means "what the agent may use": available actions
    (discrete) or the agent's true action dimensions (continuous, constant over time).

    agents_die: the world reports dead agents in `TimeStep.alive`; the trainer masks them out
    of the policy losses (death masking). metrics: what the world adds to the training metrics,
    from `WORLD_METRICS`: "win_rate" (the share of the episodes that ended in an update whose
    `TimeStep.won` is set) and "restarts" (environment instances restarted after a fault,
    `TimeStep.restarts`, summed over the update).
    """

    name: str
    num_agents: int
    obs_dim: int
    state_dim: int
    num_actions: int
    max_steps: int
    action_type: str = "discrete"
    action_low: float = -1.0
    action_high: float = 1.0
    obs_sizes: tuple[int, ...] = ()
    action_sizes: tuple[int, ...] = ()
    agents_die: bool = False
    metrics: tuple[str, ...] = ()

    def __post_init__(self):
        if self.action_type not in ("discrete", "continuous"):
            raise ValueError(f"action_type must be discrete or continuous, got {self.action_type}")
        for name, full in (("obs_sizes", self.obs_dim), ("action_sizes", self.num_actions)):
            sizes = tuple(getattr(self, name)) or (full,) * self.num_agents
            if len(sizes) != self.num_agents or max(sizes) != full or min(sizes) < 1:
                raise ValueError(
                    f"{name} {sizes} must give {self.num_agents} sizes, largest {full}"
                )
            object.__setattr__(self, name, sizes)
        unknown = set(self.metrics) - set(WORLD_METRICS)
        if unknown:
            raise ValueError(f"metrics {sorted(unknown)}: a world may add {WORLD_METRICS}")
        if self.action_type == "discrete" and len(set(self.action_sizes)) > 1:
            raise ValueError("discrete worlds give every agent the same actions (use the mask)")

    @property
    def continuous(self) -> bool:
        return self.action_type == "continuous"

    def action_dim_mask(self):
        """[N, A] bool: True on each agent's true action dimensions (continuous worlds)."""
        return np.arange(self.num_actions)[None, :] < np.asarray(self.action_sizes)[:, None]


class TimeStep(NamedTuple):
    """What the world returns after a reset or a step (shapes for one environment)."""

    obs: jax.Array  # [N, obs_dim] float32 (zero beyond an agent's obs_sizes entry)
    global_state: jax.Array  # [state_dim] float32
    action_mask: jax.Array  # [N, A] bool: available actions / true action dimensions
    reward: jax.Array  # [] float32, the team reward
    agent_rewards: jax.Array  # [N] float32, individual rewards (team reward for shared worlds)
    terminated: jax.Array  # [] bool
    truncated: jax.Array  # [] bool
    final_obs: jax.Array  # [N, obs_dim], the true last observation when the episode ended
    final_global_state: jax.Array  # [state_dim]
    alive: jax.Array  # [N] bool: the agent is alive (all True where agents cannot die)
    won: jax.Array  # [] bool: the episode that ended at this step was won
    restarts: jax.Array  # [] int32: instances restarted after a fault at this step

    @property
    def done(self) -> jax.Array:
        return jnp.logical_or(self.terminated, self.truncated)


def make_timestep(
    obs: jax.Array,
    global_state: jax.Array,
    action_mask: jax.Array,
    reward: jax.Array | float = 0.0,
    agent_rewards: jax.Array | None = None,
    terminated: jax.Array | bool = False,
    truncated: jax.Array | bool = False,
    alive: jax.Array | None = None,
    won: jax.Array | bool = False,
    restarts: jax.Array | int = 0,
) -> TimeStep:
    """Build a TimeStep with the conventional dtypes; final_* default to the current obs/state,
    `alive` to every agent."""
    obs = jnp.asarray(obs, jnp.float32)
    global_state = jnp.asarray(global_state, jnp.float32)
    n = obs.shape[0]
    reward = jnp.asarray(reward, jnp.float32)
    if agent_rewards is None:
        agent_rewards = jnp.broadcast_to(reward, (n,))
    return TimeStep(
        obs=obs,
        global_state=global_state,
        action_mask=jnp.asarray(action_mask, bool),
        reward=reward,
        agent_rewards=jnp.asarray(agent_rewards, jnp.float32),
        terminated=jnp.asarray(terminated, bool),
        truncated=jnp.asarray(truncated, bool),
        final_obs=obs,
        final_global_state=global_state,
        alive=jnp.ones((n,), bool) if alive is None else jnp.asarray(alive, bool),
        won=jnp.asarray(won, bool),
        restarts=jnp.asarray(restarts, jnp.int32),
    )


class MultiAgentEnv(Protocol):
    """A world: `spec` plus pure `reset` and `step` (see the module docstring)."""

    spec: EnvSpec  # spec.obs_sizes, spec.action_sizes: each agent's true sizes

    def reset(self, key: jax.Array) -> tuple[Any, TimeStep]: ...

    def step(self, state: Any, actions: jax.Array) -> tuple[Any, TimeStep]: ...


class World:
    """Base of the worlds (and wrappers): each agent's true sizes read off the spec."""

    spec: EnvSpec

    @property
    def obs_sizes(self) -> tuple[int, ...]:
        return self.spec.obs_sizes

    @property
    def action_sizes(self) -> tuple[int, ...]:
        return self.spec.action_sizes

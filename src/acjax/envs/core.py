"""The multi-agent environment interface: one world, an explicit agent axis.

Every world is a pure, jittable and vmappable pair of functions

    reset(key)             -> (state, TimeStep)
    step(state, actions)   -> (state, TimeStep)      actions: int32 [N]

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


@dataclass(frozen=True)
class EnvSpec:
    """Static description of a world.

    num_agents: N; obs_dim: size of each agent's observation; state_dim: size of the global
    state a centralized critic sees; num_actions: A (discrete action space, same for every
    agent); max_steps: the episode time limit (reported as truncation), 0 when there is none.
    """

    name: str
    num_agents: int
    obs_dim: int
    state_dim: int
    num_actions: int
    max_steps: int


class TimeStep(NamedTuple):
    """What the world returns after a reset or a step (shapes for one environment)."""

    obs: jax.Array  # [N, obs_dim] float32
    global_state: jax.Array  # [state_dim] float32
    action_mask: jax.Array  # [N, A] bool, True = available
    reward: jax.Array  # [] float32, the team reward
    agent_rewards: jax.Array  # [N] float32, individual rewards (team reward for shared worlds)
    terminated: jax.Array  # [] bool
    truncated: jax.Array  # [] bool
    final_obs: jax.Array  # [N, obs_dim], the true last observation when the episode ended
    final_global_state: jax.Array  # [state_dim]

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
) -> TimeStep:
    """Build a TimeStep with the conventional dtypes; final_* default to the current obs/state."""
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
    )


class MultiAgentEnv(Protocol):
    """A world: `spec` plus pure `reset` and `step` (see the module docstring)."""

    spec: EnvSpec

    def reset(self, key: jax.Array) -> tuple[Any, TimeStep]: ...

    def step(self, state: Any, actions: jax.Array) -> tuple[Any, TimeStep]: ...

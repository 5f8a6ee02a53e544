"""Test worlds: `HeteroWorld`, three agents of different observation and action sizes.

HeteroWorld (continuous actions in [-1, 1], 5-step episodes ended by truncation):
- agent i has true action size ACTION_SIZES[i] = (1, 3, 2), padded to num_actions 3, and true
  observation size OBS_SIZES[i] = ACTION_SIZES[i] + 1 = (2, 4, 3), padded to obs_dim 4;
- at reset each environment draws a random target vector per agent (uniform in [-0.8, 0.8], one
  value per true action dimension, zero in padded ones);
- agent i observes [its target..., t / 5] (t the step count), then exact zeros up to obs_dim;
  the global state (state_dim 6) is the six true target values;
- the team reward is -sum over every agent's TRUE action dimensions of (a - target)**2, so the
  optimal policy outputs the observed target (reward 0); padded dimensions are ignored;
- terminated is always False; truncated is True on step 5 (and any later step).

Its state also records two counters that tests read to check what the trainer sends:
- `max_padded`: the largest |value| ever received in a padded action dimension (must stay 0.0
  if the trainer zeroes padded dimensions);
- `max_abs`: the largest |action| ever received in a true dimension (must stay <= 1.0 if the
  trainer clips into the bounds). Counters see the raw actions; the reward uses clipped ones.
reset() sets both to 0 and step() only ever grows them; they are carried through steps. An
auto-reset wrapper (envs/wrappers.AutoReset) swaps in a fresh reset state when an episode ends,
which zeroes them and drops the counts of that final step: read them from states before such a
swap, or take the max over the rollout (which then misses each episode's last step).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, World, make_timestep

OBS_SIZES = (2, 4, 3)
ACTION_SIZES = (1, 3, 2)
MAX_STEPS = 5
TARGET_RANGE = 0.8


class HeteroState(NamedTuple):
    target: jax.Array  # [N, A] float32, zero beyond each agent's action size
    t: jax.Array  # [] int32, steps taken in this episode
    max_padded: jax.Array  # [] float32, largest |action| seen in a padded dimension
    max_abs: jax.Array  # [] float32, largest |action| seen in a true dimension


class HeteroWorld(World):
    """Three agents with obs sizes (2, 4, 3) and continuous action sizes (1, 3, 2).

    See the module docstring for observations, reward and the `max_padded` / `max_abs` counters.
    """

    def __init__(self, max_steps: int = MAX_STEPS):
        self.spec = EnvSpec(
            "hetero",
            num_agents=3,
            obs_dim=max(OBS_SIZES),
            state_dim=sum(ACTION_SIZES),
            num_actions=max(ACTION_SIZES),
            max_steps=max_steps,
            action_type="continuous",
            action_low=-1.0,
            action_high=1.0,
            obs_sizes=OBS_SIZES,
            action_sizes=ACTION_SIZES,
        )
        self._mask = jnp.asarray(self.spec.action_dim_mask())  # [N, A] true action dims
        self._true_flat = np.flatnonzero(self.spec.action_dim_mask())  # the 6 true dims

    def _timestep(self, state: HeteroState, **kw):
        n, a, d = self.spec.num_agents, self.spec.num_actions, self.spec.obs_dim
        frac = jnp.broadcast_to(state.t.astype(jnp.float32) / self.spec.max_steps, (n, 1))
        obs = jnp.concatenate([state.target, jnp.zeros((n, d - a), jnp.float32)], axis=1)
        sizes = jnp.asarray(ACTION_SIZES)[:, None]
        # the step fraction sits right after each agent's target: column ACTION_SIZES[i]
        obs = jnp.where(jnp.arange(d)[None, :] == sizes, frac, obs)
        global_state = state.target.reshape(-1)[self._true_flat]
        return make_timestep(obs, global_state, self._mask, **kw)

    def reset(self, key: jax.Array):
        shape = (self.spec.num_agents, self.spec.num_actions)
        target = jax.random.uniform(key, shape, jnp.float32, -TARGET_RANGE, TARGET_RANGE)
        state = HeteroState(
            target=jnp.where(self._mask, target, 0.0),
            t=jnp.zeros((), jnp.int32),
            max_padded=jnp.zeros((), jnp.float32),
            max_abs=jnp.zeros((), jnp.float32),
        )
        return state, self._timestep(state)

    def step(self, state: HeteroState, actions: jax.Array):
        raw = jnp.abs(jnp.asarray(actions, jnp.float32))
        a = jnp.clip(jnp.asarray(actions, jnp.float32), self.spec.action_low, self.spec.action_high)
        reward = -jnp.sum(jnp.where(self._mask, (a - state.target) ** 2, 0.0))
        t = state.t + 1
        state = HeteroState(
            target=state.target,
            t=t,
            max_padded=jnp.maximum(state.max_padded, jnp.max(jnp.where(self._mask, 0.0, raw))),
            max_abs=jnp.maximum(state.max_abs, jnp.max(jnp.where(self._mask, raw, 0.0))),
        )
        return state, self._timestep(state, reward=reward, truncated=t >= self.spec.max_steps)

    def optimal_actions(self, state: HeteroState) -> jax.Array:
        """[N, A] the actions of reward 0: each agent's target, zero in padded dimensions."""
        return state.target

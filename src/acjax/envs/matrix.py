"""Matrix games: one state, two agents, one step per episode.

Each step both agents pick an action; the team reward is the payoff of the joint action and the
episode terminates. The observation is a constant (a single 1.0), the global state likewise.
- `matrix-table1`: the 3x3 game of the paper's Table 1 (optimum (C, C) = 20; (A, A) = 5 and
  (B, B) = 10 are suboptimal equilibria).
- `matrix-climbing`: the climbing game (Claus & Boutilier 1998), optimum (a0, a0) = 11.
- `matrix-penalty`: the penalty game with k = -100, optima (a0, a2) and (a2, a0) = 10.
- `matrix-continuous`: a continuous analogue of the climbing game (`ContinuousMatrixGame`): each
  agent's action is a 1-vector in [-1, 1]; a wide low optimum (-0.5, -0.5) = 5 and a narrow high
  one (0.6, 0.6) = 10 (`continuous_payoff`, `LOW_OPTIMUM`, `HIGH_OPTIMUM`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, World, make_timestep

PAYOFFS = {
    "table1": [[5, -20, -20], [-20, 10, -20], [-20, -20, 20]],
    "climbing": [[11, -30, 0], [-30, 7, 6], [0, 0, 5]],
    "penalty": [[-100, 0, 10], [0, 2, 0], [10, 0, -100]],
}


class MatrixGame(World):
    def __init__(self, game: str):
        if game not in PAYOFFS:
            names = sorted([*PAYOFFS, "continuous"])
            raise ValueError(f"unknown matrix game {game!r}; expected one of {names}")
        self.payoff = jnp.asarray(np.asarray(PAYOFFS[game], np.float32))
        a = self.payoff.shape[0]
        self.spec = EnvSpec(f"matrix-{game}", 2, 1, 1, a, 1)

    def _first(self):
        a = self.spec.num_actions
        return make_timestep(jnp.ones((2, 1)), jnp.ones((1,)), jnp.ones((2, a), bool))

    def reset(self, key: jax.Array):
        return jnp.zeros((), jnp.int32), self._first()

    def step(self, state, actions: jax.Array):
        r = self.payoff[actions[0], actions[1]]
        first = self._first()
        return state, first._replace(
            reward=r, agent_rewards=jnp.stack([r, r]), terminated=jnp.asarray(True)
        )


# The continuous game: r(x, y) = LOW_HEIGHT * g(LOW_OPTIMUM, LOW_WIDTH)
#                                + HIGH_HEIGHT * g(HIGH_OPTIMUM, HIGH_WIDTH),
# g(c, w) = exp(-|(x, y) - c|^2 / (2 w^2)).
LOW_OPTIMUM = (-0.5, -0.5)
LOW_HEIGHT = 5.0
LOW_WIDTH = 0.4
HIGH_OPTIMUM = (0.6, 0.6)
HIGH_HEIGHT = 10.0
HIGH_WIDTH = 0.08


def continuous_payoff(x, y, xp=jnp):
    """Team reward of `matrix-continuous` for actions x (agent 0) and y (agent 1).

    r(x, y) = 5 exp(-((x + 0.5)^2 + (y + 0.5)^2) / (2 * 0.4^2))
            + 10 exp(-((x - 0.6)^2 + (y - 0.6)^2) / (2 * 0.08^2)).
    Elementwise; `xp` is the array module (jax.numpy by default; numpy or math also work).
    """

    def bump(center, width):
        d2 = (x - center[0]) ** 2 + (y - center[1]) ** 2
        return xp.exp(-d2 / (2 * width**2))

    return LOW_HEIGHT * bump(LOW_OPTIMUM, LOW_WIDTH) + HIGH_HEIGHT * bump(HIGH_OPTIMUM, HIGH_WIDTH)


LOW_VALUE = float(continuous_payoff(*LOW_OPTIMUM, xp=math))  # 5.0 (+ ~1e-82 of the high bump)
HIGH_VALUE = float(continuous_payoff(*HIGH_OPTIMUM, xp=math))  # 10.0026 (10 + the low bump's tail)


class ContinuousMatrixGame(World):
    """`matrix-continuous`: a one-step two-agent game with continuous actions in [-1, 1].

    A continuous analogue of the climbing game. Each agent's action is a 1-vector; with x and y
    the two agents' actions the team reward is

        r(x, y) = 5 * exp(-((x + 0.5)**2 + (y + 0.5)**2) / (2 * 0.4**2))
                + 10 * exp(-((x - 0.6)**2 + (y - 0.6)**2) / (2 * 0.08**2))

    - the high (global) optimum HIGH_OPTIMUM = (0.6, 0.6), r = HIGH_VALUE ~ 10.0026: a narrow
      peak (width 0.08);
    - the low (local) optimum LOW_OPTIMUM = (-0.5, -0.5), r = LOW_VALUE ~ 5.0: a wide basin
      (width 0.4) that covers most of the action square, so gradient-following and
      independently exploring agents are drawn to it.
    (The true maximizers lie within 2e-5 of these points, the bumps' tails barely overlapping.)

    Observation and global state are a constant 1.0, the action mask is all True (each agent's
    single true action dimension), and every episode terminates after its one step with reward
    r for both agents. Actions are clipped into [-1, 1] again inside `step`.
    """

    def __init__(self):
        self.spec = EnvSpec(
            "matrix-continuous",
            num_agents=2,
            obs_dim=1,
            state_dim=1,
            num_actions=1,
            max_steps=1,
            action_type="continuous",
            action_low=-1.0,
            action_high=1.0,
        )

    def _first(self):
        return make_timestep(jnp.ones((2, 1)), jnp.ones((1,)), jnp.ones((2, 1), bool))

    def reset(self, key: jax.Array):
        return jnp.zeros((), jnp.int32), self._first()

    def step(self, state, actions: jax.Array):
        a = jnp.clip(jnp.asarray(actions, jnp.float32), self.spec.action_low, self.spec.action_high)
        r = continuous_payoff(a[0, 0], a[1, 0]).astype(jnp.float32)
        first = self._first()
        return state, first._replace(
            reward=r, agent_rewards=jnp.stack([r, r]), terminated=jnp.asarray(True)
        )

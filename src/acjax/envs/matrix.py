"""Matrix games: one state, two agents, one step per episode.

Each step both agents pick an action; the team reward is the payoff of the joint action and the
episode terminates. The observation is a constant (a single 1.0), the global state likewise.
- `matrix-table1`: the 3x3 game of the paper's Table 1 (optimum (C, C) = 20; (A, A) = 5 and
  (B, B) = 10 are suboptimal equilibria).
- `matrix-climbing`: the climbing game (Claus & Boutilier 1998), optimum (a0, a0) = 11.
- `matrix-penalty`: the penalty game with k = -100, optima (a0, a2) and (a2, a0) = 10.
"""

from __future__ import annotations

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
            raise ValueError(f"unknown matrix game {game!r}; expected one of {sorted(PAYOFFS)}")
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

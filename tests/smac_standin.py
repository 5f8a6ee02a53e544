"""A stand-in for StarCraft II behind SMACv2's documented API, for the adapter's tests.

It is not a simulation of StarCraft II: only the API and the conventions the adapter
translates are SMACv2's (`reset()`, `step(actions) -> (reward, terminated, info)`, `get_obs()`,
`get_state()`, `get_avail_actions()`, `get_env_info()`, `close()`):

- actions 0 no-op, 1 stop, 2-5 moves, 6 + j attack enemy j; a dead agent may only take the
  no-op, a living one never; attacking a dead enemy is unavailable;
- a dead agent's observation and its rows of the state are zeros;
- at the episode limit the episode ends with `terminated=True` (SMACv2's default
  `continuing_episode=False`); `info["battle_won"]` says whether every enemy died;
- a StarCraft II protocol error is `(0, True, {})` (at `error_at`); at `hang_at` the game hangs.

Dynamics: allies start at random positions with health 1; each step every enemy hits the
living ally of lowest index for 0.35 (allies die after three hits) and each attack deals 0.25
to its target enemy (health 1). Reward: damage dealt, +1 per enemy killed, +5 for a win.
"""

from __future__ import annotations

import time

import numpy as np


class SmacStandIn:
    def __init__(
        self, n_agents=3, n_enemies=2, episode_limit=12, seed=0, error_at=None, hang_at=None
    ):
        self.n, self.m, self.limit = n_agents, n_enemies, episode_limit
        self.rng = np.random.default_rng(seed)
        self.error_at, self.hang_at = error_at, hang_at  # (episode, step) of a failure
        self.episode = -1
        self.closed = False

    def get_env_info(self):
        return {
            "state_shape": self.n * 3 + self.m,
            "obs_shape": 3 + self.m + 1,
            "cap_shape": 0,
            "n_actions": 6 + self.m,
            "n_agents": self.n,
            "episode_limit": self.limit,
            "agent_features": ["health", "x", "y"],
            "enemy_features": ["health"],
        }

    def reset(self):
        self.episode += 1
        self.t = 0
        self.hp = np.ones(self.n)
        self.pos = self.rng.uniform(0, 32, (self.n, 2))
        self.enemy = np.ones(self.m)
        return self.get_obs(), self.get_state()

    def alive(self):
        return self.hp > 0

    def get_obs(self):
        obs = np.concatenate(
            [self.hp[:, None], self.pos / 32, np.tile(self.enemy, (self.n, 1)),
             np.full((self.n, 1), self.t / self.limit)], axis=1,
        )  # fmt: skip
        return list(obs * self.alive()[:, None])

    def get_state(self):
        allies = np.concatenate([self.hp[:, None], self.pos / 32], axis=1) * self.alive()[:, None]
        return np.concatenate([allies.reshape(-1), self.enemy])

    def get_avail_actions(self):
        avail = np.zeros((self.n, 6 + self.m), int)
        avail[~self.alive(), 0] = 1
        avail[self.alive(), 1:6] = 1
        avail[np.ix_(self.alive(), 6 + np.nonzero(self.enemy > 0)[0])] = 1
        return [list(row) for row in avail]

    def step(self, actions):
        self.t += 1
        if (self.episode, self.t) == self.hang_at:
            time.sleep(3600)  # a hung simulator
        if (self.episode, self.t) == self.error_at:
            return 0, True, {}
        avail = np.asarray(self.get_avail_actions())
        actions = np.asarray(actions)
        assert avail[np.arange(self.n), actions].all(), "an unavailable action"
        before = self.enemy.copy()
        for a in actions[actions >= 6]:
            self.enemy[a - 6] = max(0.0, self.enemy[a - 6] - 0.25)
        moves = {2: (0, 1), 3: (0, -1), 4: (1, 0), 5: (-1, 0)}
        for i, a in enumerate(actions):
            if int(a) in moves:
                self.pos[i] = np.clip(self.pos[i] + moves[int(a)], 0, 32)
        living = np.nonzero(self.alive())[0]
        if len(living):
            self.hp[living[0]] = max(0.0, self.hp[living[0]] - 0.35 * np.sum(self.enemy > 0))
        killed = int(np.sum((before > 0) & (self.enemy == 0)))
        won = bool(np.all(self.enemy == 0))
        reward = float(np.sum(before - self.enemy)) + killed + 5.0 * won
        terminated = won or not self.alive().any() or self.t >= self.limit
        return reward, terminated, {"battle_won": won, "dead_allies": int(np.sum(~self.alive()))}

    def close(self):
        self.closed = True

"""The original `rware` package through the adapter (`external-rware-*`)."""

from __future__ import annotations

from functools import partial

import numpy as np

from acjax.envs.core import EnvSpec
from acjax.envs.external.pool import HostPool, PoolOptions
from acjax.envs.external.world import ExternalWorld


class RwareInstance:
    """The original `rware` package (gymnasium API) as an `Instance`: observations as rware
    computes them, the global state their concatenation, all actions available, the team reward
    the sum of the agents' rewards. Nothing ends a warehouse episode but its step limit, which
    rware 2.0.0 calls `done`: it is reported as truncation."""

    def __init__(self, task: str, max_steps: int):
        import gymnasium as gym
        import rware  # noqa: F401  (registers the tasks)

        self.env = gym.make(task, max_steps=max_steps, disable_env_checker=True)
        self.n = self.env.unwrapped.n_agents
        self.num_actions = int(self.env.action_space[0].n)
        self.mask = np.ones((self.n, self.num_actions), bool)

    def _out(self, obs):
        obs = np.stack(obs).astype(np.float32, copy=False)
        return obs, obs.reshape(-1), self.mask

    def reset(self, seed: int):
        obs, _ = self.env.reset(seed=int(seed))
        return self._out(obs)

    def step(self, actions):
        obs, rewards, done, truncated, _ = self.env.step(tuple(np.asarray(actions).tolist()))
        return (*self._out(obs), float(sum(rewards)), False, bool(done or truncated))


def make_rware(
    size: str, n_agents: int, difficulty: str, max_steps: int = 500, options=PoolOptions()
) -> ExternalWorld:
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
    return ExternalWorld(HostPool(partial(RwareInstance, task, max_steps), spec, options))

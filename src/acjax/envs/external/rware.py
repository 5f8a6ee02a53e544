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

    def __init__(self, task: str, max_steps: int, scale: float = 1.0, **kwargs):
        import gymnasium as gym
        import rware  # noqa: F401  (registers the tasks)

        self.env = gym.make(task, max_steps=max_steps, disable_env_checker=True, **kwargs)
        self.scale = scale  # of the team reward (1 / N for the team mean)
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
        reward = float(sum(rewards)) * self.scale
        return (*self._out(obs), reward, False, bool(done or truncated))


def make_rware(
    size: str,
    n_agents: int,
    difficulty: str,
    max_steps: int = 500,
    options=PoolOptions(),
    column_height: int = 8,
    version: int = 2,
    team_mean: bool = False,
) -> ExternalWorld:
    """`external-rware-<size>-<N>ag[-easy|-hard][-c<C>][-v1][-mean]`: the original rware
    through the adapter; rware 2.0.0's `column_height`, or for `version=1` the layout of rware
    1.0.1 as a layout string (`warehouse_layout.Layout.to_rware_string`)."""
    from acjax.envs.warehouse_layout import name_suffix, task_layout

    layout = task_layout(size, n_agents, difficulty, column_height, version)
    suffix = {"normal": "", "easy": "-easy", "hard": "-hard"}[difficulty]
    task = f"rware-{size}-{n_agents}ag{suffix}-v2"
    kwargs = {"scale": 1 / n_agents if team_mean else 1.0}
    if version == 1:
        kwargs["layout"] = layout.to_rware_string()
    elif column_height != 8:
        kwargs["column_height"] = column_height
    probe = RwareInstance(task, max_steps, **kwargs)
    obs_dim = probe.env.observation_space[0].shape[0]
    suffix = name_suffix(difficulty, column_height, version, team_mean)
    spec = EnvSpec(
        f"external-rware-{size}-{n_agents}ag{suffix}",
        num_agents=n_agents,
        obs_dim=obs_dim,
        state_dim=n_agents * obs_dim,
        num_actions=probe.num_actions,
        max_steps=max_steps,
    )
    return ExternalWorld(HostPool(partial(RwareInstance, task, max_steps, **kwargs), spec, options))

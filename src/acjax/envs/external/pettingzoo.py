"""PettingZoo parallel environments through the adapter (`pettingzoo:<module>`)."""

from __future__ import annotations

from functools import partial

import numpy as np

from acjax.envs.core import EnvSpec
from acjax.envs.external.pool import HostPool, PoolOptions
from acjax.envs.external.world import ExternalWorld


class PettingZooInstance:
    """A PettingZoo parallel environment whose agents share observation and action spaces, as
    an `Instance`: observations in `possible_agents` order, the global state from `state()`
    when the environment has one (else the concatenated observations), every action available,
    the team reward the sum of the agents' rewards (as rware's), the episode over when every
    agent is terminated or truncated."""

    def __init__(self, module: str, kwargs: dict | None = None):
        import importlib

        self.env = importlib.import_module(module).parallel_env(**(kwargs or {}))
        self.agents = list(self.env.possible_agents)
        spaces = [(self.env.observation_space(a), self.env.action_space(a)) for a in self.agents]
        if any(repr(sp) != repr(spaces[0]) for sp in spaces):
            raise ValueError(f"{module}: agents with different observation or action spaces")
        obs_space, act_space = spaces[0]
        self.obs_dim = int(np.prod(obs_space.shape))
        self.continuous = hasattr(act_space, "low")
        if self.continuous:
            low, high = np.asarray(act_space.low), np.asarray(act_space.high)
            if np.ptp(low) or np.ptp(high):
                raise ValueError(f"{module}: action bounds differ between dimensions")
            self.num_actions, self.bounds = (
                int(act_space.shape[0]),
                (float(low.flat[0]), float(high.flat[0])),
            )
        else:
            self.num_actions, self.bounds = int(act_space.n), (-1.0, 1.0)
        self.state_dim = len(self._state(self.env.reset(seed=0)[0]))

    def _state(self, obs: dict) -> np.ndarray:
        try:
            return np.asarray(self.env.state(), np.float32).reshape(-1)
        except (AttributeError, NotImplementedError):
            return np.concatenate([np.asarray(obs[a], np.float32).reshape(-1) for a in self.agents])

    def _out(self, obs: dict):
        stacked = np.stack([np.asarray(obs[a], np.float32).reshape(-1) for a in self.agents])
        mask = np.ones((len(self.agents), self.num_actions), bool)
        return stacked, self._state(obs), mask

    def reset(self, seed: int):
        obs, _ = self.env.reset(seed=int(seed))
        return self._out(obs)

    def step(self, actions):
        if self.continuous:
            act = {a: np.asarray(x, np.float32) for a, x in zip(self.agents, actions, strict=True)}
        else:
            act = {a: int(x) for a, x in zip(self.agents, actions, strict=True)}
        obs, rewards, terms, truncs, _ = self.env.step(act)
        terminated = all(bool(terms[a]) for a in self.agents)
        truncated = all(bool(terms[a] or truncs[a]) for a in self.agents) and not terminated
        reward = float(sum(rewards[a] for a in self.agents))
        return (*self._out(obs), reward, terminated, truncated)


def make_pettingzoo(
    module: str, kwargs: dict | None = None, options=PoolOptions()
) -> ExternalWorld:
    """`pettingzoo:<module>`: a PettingZoo parallel environment through the adapter."""
    probe = PettingZooInstance(module, kwargs)
    low, high = probe.bounds
    spec = EnvSpec(
        f"pettingzoo:{module}",
        num_agents=len(probe.agents),
        obs_dim=probe.obs_dim,
        state_dim=probe.state_dim,
        num_actions=probe.num_actions,
        max_steps=int(getattr(probe.env.unwrapped, "max_cycles", 0) or 0),
        action_type="continuous" if probe.continuous else "discrete",
        action_low=low,
        action_high=high,
    )
    return ExternalWorld(HostPool(partial(PettingZooInstance, module, kwargs), spec, options))

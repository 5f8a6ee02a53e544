"""Environments with SMACv2's API through the adapter (`SmacStyleInstance`), and SMACv2
itself (`smacv2-<scenario>`)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from acjax.envs.core import EnvSpec
from acjax.envs.external.pool import HostPool, PoolOptions
from acjax.envs.external.workers import _close
from acjax.envs.external.world import ExternalWorld


class SmacStyleInstance:
    """Any environment with SMACv2's API as an `Instance`: `reset()`, `step(actions) ->
    (reward, terminated, info)`, `get_obs()`, `get_state()`, `get_avail_actions()` and
    `get_env_info()` (n_agents, n_actions, obs_shape, state_shape, episode_limit).

    - an agent is dead where only its no-op (action 0) is available, SMAC's convention; a dead
      agent's observation is zeroed (death masking, `EnvSpec.agents_die`);
    - `info["battle_won"]` is the win flag; an episode that ends at `episode_limit` with the
      battle not over (not won, an ally alive) ends by truncation, as does one whose info says
      `episode_limit` (SMAC's continuing-episode mode);
    - a step that ends the episode with an empty info is how SMACv2 reports a StarCraft II
      protocol error: the instance raises, and the pool restarts it (the episode ends truncated).

    `make_env` builds the environment (a picklable callable, so that worker processes can make
    their own); `seed` is passed to `reset` where the environment's reset takes one."""

    def __init__(self, make_env: Callable[[], Any]):
        self.env = make_env()
        info = self.env.get_env_info()
        self.n, self.num_actions = int(info["n_agents"]), int(info["n_actions"])
        self.episode_limit = int(info.get("episode_limit", 0) or 0)
        self.seeded = "seed" in inspect.signature(self.env.reset).parameters

    def _out(self):
        mask = np.asarray(self.env.get_avail_actions(), bool).reshape(self.n, self.num_actions)
        alive = ~mask[:, 0]  # SMAC: the no-op is available to dead agents only
        obs = np.asarray(self.env.get_obs(), np.float32).reshape(self.n, -1) * alive[:, None]
        state = np.asarray(self.env.get_state(), np.float32).reshape(-1)
        return obs, state, mask, alive

    def reset(self, seed: int):
        self.t = 0
        # SMACv2's reset takes no seed: StarCraft II draws its own randomness
        self.env.reset(seed=int(seed)) if self.seeded else self.env.reset()
        return self._out()[:3]

    def step(self, actions):
        reward, terminated, info = self.env.step([int(a) for a in actions])
        self.t += 1
        if terminated and not info:
            raise RuntimeError("StarCraft II protocol error (the environment restarted itself)")
        obs, state, mask, alive = self._out()
        won = bool(info.get("battle_won", False))
        # SMACv2 ends an episode at its limit as `terminated`: unless the battle is over (won,
        # or every ally dead) at that step, it is a time limit, reported as truncation
        over = won or not alive.any()
        limit = bool(self.episode_limit) and self.t >= self.episode_limit
        truncated = bool(info.get("episode_limit", False)) or (terminated and limit and not over)
        terminated = bool(terminated) and not truncated
        return obs, state, mask, float(reward), terminated, truncated, {"alive": alive, "won": won}

    def close(self):
        _close(self.env)


def make_smac_style(
    name: str, make_env: Callable[[], Any], options=PoolOptions(), max_steps: int | None = None
) -> ExternalWorld:
    """A world of instances of an environment with SMACv2's API (`SmacStyleInstance`), with
    death masking and the win rate as a metric; the time limit is the environment's
    `episode_limit` unless `max_steps` is given."""
    probe = SmacStyleInstance(make_env)
    info = probe.env.get_env_info()
    _close(probe)
    obs_dim, state_dim = int(np.prod(info["obs_shape"])), int(np.prod(info["state_shape"]))
    spec = EnvSpec(
        name,
        num_agents=probe.n,
        obs_dim=obs_dim,
        state_dim=state_dim,
        num_actions=probe.num_actions,
        max_steps=probe.episode_limit if max_steps is None else max_steps,
        agents_die=True,
        metrics=("win_rate",),
    )
    return ExternalWorld(HostPool(partial(SmacStyleInstance, make_env), spec, options))


# SMACv2's scenarios (its example configs sc2_gen_<race>.yaml): race, allies, enemies
SMACV2_SCENARIOS = {
    "protoss_5_vs_5": ("protoss", 5, 5),
    "zerg_5_vs_5": ("zerg", 5, 5),
    "protoss_10_vs_11": ("protoss", 10, 11),
    "terran_10_vs_11": ("terran", 10, 11),
    "zerg_10_vs_11": ("zerg", 10, 11),
}
# unit types, their weights, and the type no team may consist of only
SMACV2_UNITS = {
    "protoss": (("stalker", "zealot", "colossus"), (0.45, 0.45, 0.1), "colossus"),
    "terran": (("marine", "marauder", "medivac"), (0.45, 0.45, 0.1), "medivac"),
    "zerg": (("zergling", "baneling", "hydralisk"), (0.45, 0.1, 0.45), "baneling"),
}
SMACV2_INSTALL = (
    "install SMACv2 (pip install git+https://github.com/oxwhirl/smacv2.git) and StarCraft II "
    "4.10 with the SMAC maps, and set SC2PATH (docs/external.md)"
)


def smacv2_kwargs(scenario: str) -> dict:
    """`StarCraftCapabilityEnvWrapper`'s keyword arguments for a scenario: SMACv2's own
    settings (its `sc2_gen_<race>.yaml` example configs)."""
    race, n_units, n_enemies = SMACV2_SCENARIOS[scenario]
    units, weights, exception = SMACV2_UNITS[race]
    return dict(
        map_name=f"10gen_{race}",
        capability_config={
            "n_units": n_units,
            "n_enemies": n_enemies,
            "team_gen": {
                "dist_type": "weighted_teams",
                "unit_types": list(units),
                "weights": list(weights),
                "exception_unit_types": [exception],
                "observe": True,
            },
            "start_positions": {
                "dist_type": "surrounded_and_reflect",
                "p": 0.5,
                "n_enemies": n_enemies,
                "map_x": 32,
                "map_y": 32,
            },
        },
        continuing_episode=False,
        difficulty="7",
        move_amount=2,
        obs_all_health=True,
        obs_own_health=True,
        obs_last_action=False,
        obs_pathing_grid=False,
        obs_terrain_height=False,
        obs_timestep_number=False,
        obs_instead_of_state=False,
        obs_own_pos=True,
        conic_fov=False,
        use_unit_ranges=True,
        min_attack_range=2,
        num_fov_actions=12,
        reward_death_value=10,
        reward_defeat=0,
        reward_negative_scale=0.5,
        reward_only_positive=True,
        reward_scale=True,
        reward_scale_rate=20,
        reward_sparse=False,
        reward_win=200,
        state_last_action=True,
        state_timestep_number=False,
        step_mul=8,
        heuristic_ai=False,
        debug=False,
        prob_obs_enemy=0,
    )


class SMACv2Env:
    """Makes a SMACv2 environment (picklable, for worker processes)."""

    def __init__(self, scenario: str):
        self.scenario = scenario

    def __call__(self):
        from smacv2.env.starcraft2.wrapper import StarCraftCapabilityEnvWrapper

        return StarCraftCapabilityEnvWrapper(**smacv2_kwargs(self.scenario))


def smacv2_missing() -> str | None:
    """What keeps SMACv2 from running here (None when nothing does)."""
    import importlib.util

    if importlib.util.find_spec("smacv2") is None:
        return "the smacv2 package is not installed"
    path = os.environ.get("SC2PATH", "")
    if not path or not os.path.isdir(path):
        return f"StarCraft II is not found (SC2PATH={path!r})"
    return None


def make_smacv2(scenario: str, options=PoolOptions()) -> ExternalWorld:
    """`smacv2-<scenario>`: SMACv2 through the adapter (`SmacStyleInstance`)."""
    if scenario not in SMACV2_SCENARIOS:
        raise ValueError(
            f"unknown SMACv2 scenario {scenario!r}; expected one of {', '.join(SMACV2_SCENARIOS)}"
        )
    from acjax.envs import external  # looked up on the package, where tests replace it

    missing = external.smacv2_missing()
    if missing:
        raise ValueError(f"smacv2-{scenario}: {missing}; {SMACV2_INSTALL}")
    return make_smac_style(f"smacv2-{scenario}", SMACv2Env(scenario), options)

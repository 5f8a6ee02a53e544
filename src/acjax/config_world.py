"""The checks of a config that need its world: the world is built once, to check its name and
what the algorithm and the options demand of it (`acjax.config.validate` calls
`validate_world` after the keys and the sweep)."""

from __future__ import annotations

import dataclasses
import re

from acjax.algos import REGISTRY as ALGO_REGISTRY
from acjax.config import SOFT_BELIEFS, Config
from acjax.config_io import ConfigError, require
from acjax.envs.registry import make

# worlds whose episodes always last exactly their time limit (`EnvSpec.max_steps`): the rware
# port and the original rware never terminate early (Jumanji's warehouse ends on collisions)
FIXED_LENGTH_WORLDS = re.compile(r"^(external-)?rware-")


def validate_complete_episodes(cfg: Config, limit: int) -> None:
    """ppo.complete_episodes: every update's rollout is exactly one whole episode of each
    environment, so the world's episodes must all last its time limit `limit`, and
    ppo.rollout_len must equal it."""
    require(
        FIXED_LENGTH_WORLDS.match(cfg.env) is not None and limit > 0,
        "ppo.complete_episodes",
        f"needs a world whose episodes all last a fixed time limit (rware-*, "
        f"external-rware-*); {cfg.env} can end them early or has no limit",
    )
    require(
        cfg.ppo.rollout_len == limit,
        "ppo.rollout_len",
        f"ppo.complete_episodes needs the episode's length {limit} "
        f"(the time limit of {cfg.env}), got {cfg.ppo.rollout_len}",
    )


def validate_world(cfg: Config) -> None:
    """The world's name, and what the algorithm and the options need of the world."""
    try:
        world = make(cfg.env, cfg)
    except ValueError as e:
        raise ConfigError(f"config key 'env': {e}") from None
    if ALGO_REGISTRY[cfg.algo].continuous_only and not world.spec.continuous:
        raise ConfigError(
            f"config key 'algo': {cfg.algo} needs continuous actions; {cfg.env} has discrete ones"
        )
    if cfg.acpo.belief in SOFT_BELIEFS and world.spec.continuous and "acpo" in cfg.algo:
        raise ConfigError(
            f"config key 'acpo.belief': {cfg.acpo.belief} beliefs are probability vectors over "
            f"discrete actions; {cfg.env} has continuous ones"
        )
    if ALGO_REGISTRY[cfg.algo].discrete_only and world.spec.continuous:
        raise ConfigError(
            f"config key 'algo': {cfg.algo} needs discrete actions; {cfg.env} has continuous ones"
        )
    if cfg.ppo.complete_episodes and ALGO_REGISTRY[cfg.algo].family == "onpolicy":
        validate_complete_episodes(cfg, world.spec.max_steps)
    if ALGO_REGISTRY[cfg.algo].family == "valuebased" and not cfg.q.episode_len:
        require(
            world.spec.max_steps > 0,
            "q.episode_len",
            f"0 takes the world's time limit, and {cfg.env} has none: set it",
        )


def resolve_world(cfg: Config) -> Config:
    """Settings taken from the world: q.episode_len 0 is its time limit (value-based
    algorithms); the resolved config records the number."""
    if ALGO_REGISTRY[cfg.algo].family == "valuebased" and not cfg.q.episode_len:
        limit = make(cfg.env, cfg).spec.max_steps
        cfg = dataclasses.replace(cfg, q=dataclasses.replace(cfg.q, episode_len=limit))
    return cfg

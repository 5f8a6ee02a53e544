"""Algorithms: names, the constraints each one puts on the config, and `make`.

An algorithm is an `acjax.algos.base.Algorithm`: four pieces (acting, critic, advantages,
optimization) that the trainer calls. The algorithms combine the pieces and differ only where the
maths differs:

    mappo         independent acting   centralized critic V(s, i)        GAE        joint PPO
    ippo          independent acting   local critic V(o_i, i)            GAE        joint PPO
    acpo          belief chain         chained critic V(s, i, a_<i)      chained    joint PPO
    acpo_nochain  belief chain         centralized critic V(s, i)        GAE        joint PPO
    happo         independent acting   centralized critic V(s, i)        team GAE   sequential

and, off-policy (`acjax.offpolicy`: replay, deterministic policies, TD targets):

    ac_td3   belief chain         chained twin Q^(i)([s, a^<i], a^(i))   chained k-step targets
    hatd3    independent acting   centralized twin Q(s, a)               sequential actor updates
    maddpg   independent acting   centralized Q(s, a)                    no TD3 additions

This module imports nothing heavy: the config reads `NAMES` and `REGISTRY` from it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class AlgoInfo:
    module: str  # where the factory lives
    factory: str  # factory(cfg, spec, head) -> Algorithm
    share_params: bool | None = None  # a value the algorithm forces on net.share_params
    why: str = ""
    off_policy: bool = False  # trained by acjax.offpolicy.OffPolicyTrainer (continuous actions)


REGISTRY = {
    "mappo": AlgoInfo("acjax.algos.mappo", "mappo"),
    "ippo": AlgoInfo("acjax.algos.mappo", "ippo"),
    "acpo": AlgoInfo("acjax.algos.acpo", "acpo"),
    "acpo_nochain": AlgoInfo("acjax.algos.acpo", "acpo_nochain"),
    "happo": AlgoInfo(
        "acjax.algos.happo", "happo", share_params=False, why="happo trains per-agent parameters"
    ),
    "ac_td3": AlgoInfo("acjax.algos.td3", "ac_td3", off_policy=True),
    "hatd3": AlgoInfo(
        "acjax.algos.td3",
        "hatd3",
        share_params=False,
        off_policy=True,
        why="hatd3 trains per-agent parameters",
    ),  # fmt: skip
    "maddpg": AlgoInfo("acjax.algos.td3", "maddpg", share_params=False, off_policy=True),
}
NAMES = tuple(REGISTRY)


def make(cfg, spec, head):
    """The algorithm named by cfg.algo for a world with this spec and action head."""
    if cfg.algo not in REGISTRY:
        raise ValueError(f"unknown algorithm {cfg.algo!r}; expected one of {NAMES}")
    info = REGISTRY[cfg.algo]
    return getattr(importlib.import_module(info.module), info.factory)(cfg, spec, head)

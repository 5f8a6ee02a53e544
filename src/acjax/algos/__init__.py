"""Algorithms: each class defines only what differs (acting, critic inputs, advantages)."""

from __future__ import annotations

import importlib

REGISTRY = {
    "mappo": ("acjax.algos.mappo", "MAPPO"),
    "ippo": ("acjax.algos.ippo", "IPPO"),
    "acpo": ("acjax.algos.acpo", "ACPO"),
    "acpo_nochain": ("acjax.algos.acpo", "ACPONoChain"),
    "happo": ("acjax.algos.happo", "HAPPO"),
}
NAMES = tuple(REGISTRY)


def make(cfg, spec):
    """The algorithm object named by cfg.algo for a world with this spec."""
    if cfg.algo not in REGISTRY:
        raise ValueError(f"unknown algorithm {cfg.algo!r}; expected one of {NAMES}")
    module, cls = REGISTRY[cfg.algo]
    return getattr(importlib.import_module(module), cls)(cfg, spec)

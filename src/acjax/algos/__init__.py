"""Algorithms: each module defines only what differs (acting, critic inputs, advantages)."""

from __future__ import annotations

import importlib
from types import ModuleType

NAMES = ("mappo", "ippo")


def get(name: str) -> ModuleType:
    if name not in NAMES:
        raise ValueError(f"unknown algorithm {name!r}; expected one of {NAMES}")
    return importlib.import_module(f"acjax.algos.{name}")

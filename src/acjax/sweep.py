"""Hyper-parameter sweeps in one program: the config's `sweep` section (`sweep.<key>=[v1, v2]`
for keys in `acjax.algos.SWEEPABLE`) as a grid of value combinations, first key slowest, crossed
with the seeds, value-major (`acjax.harness.Harness`)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from acjax.algos import SWEEPABLE
from acjax.config_io import require


def flat_sweep(cfg: Any) -> dict[str, tuple[float, ...]]:
    """The `sweep` section as {dotted key: values}, checked: sweepable keys, lists of numbers."""
    out: dict[str, tuple[float, ...]] = {}

    def walk(node, prefix):
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, f"{key}.")
                continue
            require(
                key in SWEEPABLE,
                f"sweep.{key}",
                f"cannot be swept (the compiled update takes only {', '.join(SWEEPABLE)} "
                "as arrays)",
            )
            values = v if isinstance(v, list | tuple) and v else [None]
            try:  # YAML reads 1e-4 as a string
                out[key] = tuple(float(x) for x in values if not isinstance(x, bool))
            except (TypeError, ValueError):
                out[key] = ()
            require(
                len(out[key]) == len(values),
                f"sweep.{key}",
                f"expected a non-empty list of numbers, got {v!r}",
            )

    walk(cfg.sweep, "")
    return out


def sweep_grid(cfg: Any) -> tuple[tuple[str, ...], list[tuple[float, ...]]]:
    """(swept keys, their value combinations): the grid, first key slowest; ((), [()]) when
    nothing is swept."""
    flat = flat_sweep(cfg)
    return tuple(flat), list(itertools.product(*flat.values()))


def with_values(cfg: Any, keys: tuple[str, ...], values: tuple) -> Any:
    """cfg with dotted `keys` set to `values` (any objects: traced arrays in a sweep)."""
    for key, value in zip(keys, values, strict=True):
        section, name = key.split(".")
        sub = dataclasses.replace(getattr(cfg, section), **{name: value})
        cfg = dataclasses.replace(cfg, **{section: sub})
    return cfg

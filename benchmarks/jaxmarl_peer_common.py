"""What the JaxMARL peer benchmarks share (`jaxmarl_peer.py`, `jaxmarl_qmix_peer.py`): finding
JaxMARL's source tree, importing one of its baseline scripts from it as it is (its command-line
imports stood in for when absent, its wandb logging caught), and timing one call."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np


def find_source(src: str | None, peer_file: Path) -> Path | None:
    """The folder holding peer_file (src itself or a parent of it)."""
    if not src:
        return None
    p = Path(src).resolve()
    for root in (p, *p.parents):
        if (root / peer_file).is_file():
            return root
    return None


def commit_of(root: Path) -> str:
    """The JaxMARL commit `jaxmarl_peer_setup.sh` wrote beside the tree."""
    sha = root / "JAXMARL_COMMIT"
    return sha.read_text().strip() if sha.is_file() else "unknown"


def stand_ins() -> list[str]:
    """Empty modules for the peer scripts' command-line imports that are not installed."""
    made = []
    for name in ("hydra", "omegaconf", "wandb"):
        try:
            importlib.import_module(name)
            continue
        except ImportError:
            pass
        mod = types.ModuleType(name)
        if name == "hydra":
            mod.main = lambda *a, **k: lambda f: f
        elif name == "omegaconf":
            mod.OmegaConf = types.SimpleNamespace(to_yaml=str, to_container=dict, save=None)
        else:
            mod.init = mod.log = lambda *a, **k: None
        sys.modules[name] = mod
        made.append(name)
    return made


class LogCatcher:
    """Stands in for `wandb` inside a peer module: `log(metrics)` (called by the peer's
    per-update `io_callback`) keeps each metric's mean as a float, in `rows`."""

    def __init__(self):
        self.rows: list[dict] = []

    def log(self, metrics: dict, *args, **kwargs) -> None:
        row = {}
        for k, v in metrics.items():
            if isinstance(v, dict):
                continue
            with np.errstate(all="ignore"):
                row[k] = float(np.mean(np.asarray(v, np.float64)))
        self.rows.append(row)

    def take(self) -> list[dict]:
        rows, self.rows = self.rows, []
        return rows


def load_peer(root: Path, peer_file: Path, name: str):
    """The peer's script as a module, imported from the source tree, with `wandb` replaced by a
    `LogCatcher` (`mod.wandb`). Returns (module, the modules stood in for)."""
    stubbed = stand_ins()
    spec = importlib.util.spec_from_file_location(name, root / peer_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.wandb = LogCatcher()
    return mod, stubbed


def timed(p) -> float:
    """Calls program p once; its time is appended to p.times and returned."""
    t0 = time.perf_counter()
    p.call()
    dt = time.perf_counter() - t0
    p.times.append(dt)
    return dt

"""Train several configs with the same seeds and plot mean and spread of the return over seeds.

    python experiments/compare.py experiments/jumanji-rware/tiny-4ag-{mappo,acpo}.yaml \
        --seeds 3 --steps 2000000 --out runs/compare-tiny-4ag [key=value ...]

Each config trains as one vmapped program (seeds on a leading axis) in OUT/<config name>;
OUT/compare.json holds each run's summary and final returns; OUT/compare.png the curves
(mean over seeds, shaded min..max).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count()}")

import numpy as np  # noqa: E402

from acjax.config import load_config  # noqa: E402
from acjax.run import train  # noqa: E402


def curves(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(env_steps [U], returns [seeds, U]) with updates that finished no episode carried forward."""
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    seeds = sorted({r["seed"] for r in rows})
    steps = np.array(sorted({r["env_steps"] for r in rows}))
    out = np.full((len(seeds), len(steps)), np.nan)
    for r in rows:
        out[seeds.index(r["seed"]), np.searchsorted(steps, r["env_steps"])] = (
            np.nan if r["episode_return"] is None else r["episode_return"]
        )
    for s in range(len(seeds)):  # carry the last finished episode's return forward
        last = 0.0
        for u in range(len(steps)):
            last = out[s, u] = last if np.isnan(out[s, u]) else out[s, u]
    return steps, out


def smooth(x: np.ndarray, k: int) -> np.ndarray:
    if k <= 1:
        return x
    kernel = np.ones(k) / k
    return np.stack([np.convolve(np.pad(r, (k - 1, 0), mode="edge"), kernel, "valid") for r in x])


def plot(results: dict[str, Path], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, run_dir in results.items():
        steps, ret = curves(run_dir)
        ret = smooth(ret, max(1, len(steps) // 50))
        ax.plot(steps, ret.mean(0), label=name)
        ax.fill_between(steps, ret.min(0), ret.max(0), alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=float, default=None)
    parser.add_argument("--out", default="runs/compare")
    args, overrides = parser.parse_known_args()
    configs = [c for c in args.configs if "=" not in c]
    overrides += [c for c in args.configs if "=" in c]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries, dirs = {}, {}
    for path in configs:
        name = Path(path).stem
        extra = [f"num_seeds={args.seeds}", f"run_dir={out / name}", *overrides]
        if args.steps:
            extra.append(f"total_timesteps={int(args.steps)}")
        cfg = load_config(path, extra)
        print(f"== {name}: {cfg.algo} on {cfg.env}, {cfg.num_seeds} seeds", file=sys.stderr)
        summaries[name] = train(dataclasses.replace(cfg))
        dirs[name] = out / name
    (out / "compare.json").write_text(json.dumps(summaries, indent=2))
    plot(dirs, out / "compare.png", ", ".join(sorted({s["env"] for s in summaries.values()})))
    for name, s in summaries.items():
        finals = [x for x in s["final_returns"] if x is not None]
        spread = f"{np.mean(finals):.2f} +- {np.std(finals):.2f}" if finals else "-"
        print(
            f"{name}: final return {spread} over {len(finals)} seeds, "
            f"{s['steps_per_second']:.0f} steps/s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()

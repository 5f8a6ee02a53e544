"""ACPO / MAPPO time per env step as a user measures it: `acjax train` runs, summary steps/s.

    python benchmarks/cli_ratio.py [--agents 4 12] [--rounds 3] [--src NAME=DIR ...]
        [--steps 61440] [--out FILE.json]

Each round runs, for every agent count and every source tree (`--src`: a name and the `src`
folder put on PYTHONPATH; default: this checkout's), ACPO then MAPPO through
`python -m acjax.cli train` on rware-tiny-<N>ag, 32 envs x 64 steps, the default network,
and reads `steps_per_second` from the run's summary.json (compilation excluded). Runs of
one round follow each other (A-ACPO, A-MAPPO, B-ACPO, B-MAPPO, ...), so that a change of load on
a shared machine hits every side alike; the table gives the medians over rounds of steps/s and
of each round's ACPO / MAPPO time ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(src: str, algo: str, agents: int, steps: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        cmd = [
            sys.executable, "-m", "acjax.cli", "train", f"env=rware-tiny-{agents}ag",
            f"algo={algo}", "num_envs=32", "ppo.rollout_len=64", f"total_timesteps={steps}",
            "progress=false", f"run_dir={run_dir}", *extra,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=src)
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        summary = json.loads((run_dir / "summary.json").read_text())
    return {k: summary[k] for k in ("steps_per_second", "compile_seconds", "run_seconds")}


def load() -> float:
    return os.getloadavg()[0]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, nargs="+", default=[4, 12])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--src", nargs="+", default=[f"here={ROOT / 'src'}"])
    p.add_argument("--steps", type=int, default=61440)  # 30 updates of 32 x 64
    p.add_argument("--out", default="")
    p.add_argument("extra", nargs="*", help="further key=value overrides of every run")
    a = p.parse_args(argv)
    srcs = dict(s.split("=", 1) for s in a.src)
    records = []
    for r in range(a.rounds):
        for n in a.agents:
            for name, src in srcs.items():
                for algo in ("acpo", "mappo"):
                    before = load()
                    rec = run_once(src, algo, n, a.steps, a.extra)
                    rec.update(round=r, agents=n, src=name, algo=algo, load=[before, load()])
                    records.append(rec)
                    print(json.dumps(rec), flush=True)
                    if a.out:
                        Path(a.out).write_text(json.dumps(records, indent=1))
    print(table(records))


def table(records: list[dict]) -> str:
    lines = [
        "| agents | src | ACPO steps/s | MAPPO steps/s | ACPO / MAPPO time (per-round median) "
        "| rounds' ratios |",
        "|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["agents"], r["src"]) for r in records}, key=lambda k: k[0])
    for n, src in keys:
        mine = [r for r in records if r["agents"] == n and r["src"] == src]
        sps = {
            algo: [r["steps_per_second"] for r in mine if r["algo"] == algo]
            for algo in ("acpo", "mappo")
        }
        rounds = sorted({r["round"] for r in mine})
        ratios = []
        for k in rounds:
            pair = {r["algo"]: r["steps_per_second"] for r in mine if r["round"] == k}
            if len(pair) == 2:
                ratios.append(pair["mappo"] / pair["acpo"])
        if not ratios:
            continue
        lines.append(
            f"| {n} | {src} | {statistics.median(sps['acpo']):,.0f} "
            f"| {statistics.median(sps['mappo']):,.0f} | {statistics.median(ratios):.3f} "
            f"| {', '.join(f'{x:.3f}' for x in ratios)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

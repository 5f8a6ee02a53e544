"""The README's figures, generated from committed result files (`make readme`).

Each block of README.md between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->` is the
output of BLOCKS[NAME] on the files it names; `tests/test_readme.py` fails when a block differs
from what the files give, so no figure in those blocks is typed by hand.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(rel: str):
    return json.loads((RESULTS / rel).read_text())


def _k(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


def _pick(records, **match) -> float:
    hits = [r for r in records if all(r.get(k) == v for k, v in match.items())]
    if len(hits) != 1:
        raise ValueError(f"expected one record with {match}, found {len(hits)}")
    return hits[0]["steps_per_second"]


QUICK = "cpu2-2026-11-27-quick.json"
PEER = "cpu2-2026-12-06-peer.json"


def cpu_quick() -> str:
    rel = QUICK
    r = _load(rel)
    own = _pick(r, section="env", variant="autoreset") / _pick(r, section="env", variant="no_reset")
    d1 = _pick(r, section="scaling", devices=1)
    d2 = _pick(r, section="scaling", devices=2)

    def vs_mappo(algo):
        agents = lambda a, n: _pick(r, section="agents", algo=a, n_agents=n)
        return ", ".join(f"{agents('mappo', n) / agents(algo, n):.2f}" for n in (2, 4, 12))

    return "\n".join(
        [
            f"CPU, 2 cores (`make bench BENCH=quick`, `benchmarks/results/{rel[:-5]}.md`):",
            "",
            "| measurement | figure |",
            "|---|---|",
            f"| auto-reset cost, warehouse tiny-4ag, 1024 envs | {1 / own:.2f}x a step without "
            "reset |",
            f"| 2 devices / 1 device (MAPPO, 128 envs) | {d2 / d1:.2f}x |",
            f"| time / MAPPO's at 2, 4, 12 agents (32 envs x 64) | ACPO {vs_mappo('acpo')}; "
            f"HAPPO {vs_mappo('happo')}; IPPO {vs_mappo('ippo')} |",
        ]
    )


def peer() -> str:
    """acjax's MAPPO beside the peer trainer, per device count: medians over the rounds."""
    rel = PEER
    rows = [
        "| devices | acjax env steps/s | peer env steps/s | acjax / peer (rounds) | compile s, "
        "acjax / peer |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(
        (r for r in _load(rel) if r["section"] == "peer" and "vs_peer" in r),
        key=lambda r: r["devices"],
    ):
        rounds = ", ".join(f"{x:.2f}" for x in r["vs_peer_rounds"])
        peer_compile = sorted(x["compile_seconds"] for x in r["peer_rounds"])
        rows.append(
            f"| {r['devices']} | {_k(r['steps_per_second'])} | {_k(r['peer_steps_per_second'])} | "
            f"{r['vs_peer']:.2f} ({rounds}) | {r['compile_seconds']:.1f} / "
            f"{peer_compile[len(peer_compile) // 2]:.1f} |"
        )
    return "\n".join(
        [
            "MAPPO beside the peer trainer (Mava's feed-forward MAPPO, tiny-4ag, 64 envs x 128, "
            "4 epochs x 2 minibatches, MLP 128-128), one run on this 2-core CPU, alternating a "
            "peer run and an `acjax train` run of as many steps per round, acjax's figure the "
            "one its summary.json gives a user (`make bench BENCH=peer` after "
            f"`shared/peer/setup.sh`; `benchmarks/results/{rel[:-5]}.md`):",
            "",
            *rows,
        ]
    )


def gpu() -> str:
    r1, r2 = (
        _load("gpu/nvidia-h200-2026-11-26-run1.json"),
        _load("gpu/nvidia-h200-2026-11-26-run2.json"),
    )
    big = dict(section="large", num_envs=16384)
    acpo, mappo = _pick(r1, algo="acpo", **big), _pick(r1, algo="mappo", **big)

    def ratio(algo, n):
        a = dict(section="agents", n_agents=n)
        return _pick(r1, algo="mappo", **a) / _pick(r1, algo=algo, **a)

    seeds = _pick(r2, section="seeds", num_seeds=8) / _pick(r2, section="seeds", num_seeds=1)
    raw = _pick(r2, section="env", variant="no_reset")
    own = raw / _pick(r2, section="env", variant="autoreset")
    jum = _pick(r2, section="env", variant="jumanji_no_reset")
    jum /= _pick(r2, section="env", variant="jumanji_autoreset")
    return "\n".join(
        [
            "One NVIDIA H200 (`benchmarks/results/gpu/nvidia-h200-2026-11-26-run{1,2}.json`):",
            "",
            "| measurement | figure |",
            "|---|---|",
            f"| ACPO, rware-tiny-4ag, 16384 envs x 128, including the update | {_k(acpo)} env "
            f"steps/s (MAPPO {_k(mappo)}, ratio {mappo / acpo:.2f}) |",
            f"| ACPO / MAPPO time at 4096 envs, 4 and 12 agents | {ratio('acpo', 4):.2f}, "
            f"{ratio('acpo', 12):.2f} (HAPPO / MAPPO {ratio('happo', 4):.2f}, "
            f"{ratio('happo', 12):.2f}) |",
            f"| 8 vmapped seeds vs 1 (ACPO, 1024 envs each) | {seeds:.2f}x the total steps/s |",
            f"| raw warehouse, 16384 envs | {_k(raw)} steps/s; auto-reset {own:.2f}x "
            f"(Jumanji's {jum:.2f}x) |",
        ]
    )


def offpolicy() -> str:
    rel = "offpolicy/cpu2-offpolicy.json"
    recs = {r["algo"]: r for r in _load(rel)["records"]}
    sps = lambda algo: recs[algo]["env_steps_per_second"]
    rows = [
        "| algo | env steps/s | gradient steps/s | time per env step / ACPO's |",
        "|---|---|---|---|",
    ]
    for algo in ("ac_td3", "hatd3", "maddpg", "acpo"):
        r = recs[algo]
        grad = r.get("gradient_steps_per_second")
        rows.append(
            f"| {algo} | {r['env_steps_per_second']:,.0f} | "
            f"{'-' if grad is None else f'{grad:.1f}'} | {r['time_per_env_step_vs_acpo']:.2f} |"
        )
    final = (RESULTS / "offpolicy" / "cpu2-halfcheetah-2x3-100k" / "final.md").read_text()
    return "\n".join(
        [
            f"Off-policy on halfcheetah-2x3, 2-core CPU (`make bench-offpolicy`, `benchmarks/"
            f"results/{rel[:-5]}.md`; HARL's settings, 10 envs, ACPO at its PPO settings):",
            "",
            *rows,
            "",
            f"AC-TD3 takes {sps('hatd3') / sps('ac_td3'):.2f}x HATD3's time per env step.",
            "",
            "Returns at 100k env steps x 3 seeds (1% of HARL's 10M budget; `benchmarks/results/"
            "offpolicy/cpu2-halfcheetah-2x3-100k/`):",
            "",
            final.strip(),
        ]
    )


def default_run() -> str:
    """The default run's final return as a range a user can expect (seeds 0-2 of one run and
    the single default run), and its speed."""
    rel, seeds_rel = "default-run/summary.json", "default-run-3seeds/summary.json"
    s, three = _load(rel), _load(seeds_rel)
    finals = [*three["final_returns"], s["final_return_mean"]]
    each = ", ".join(f"{x:.1f}" for x in three["final_returns"])
    minutes = s["wall_seconds"] / 60
    return (
        f"On a 2-core CPU the default `make train` ({s['algo'].upper()}, {s['env']}, "
        f"{s['env_steps']:,} env steps) ends at a return of about {math.floor(min(finals))}-"
        f"{math.ceil(max(finals))}: seeds 0, 1, 2 of one run with `num_seeds=3` ended at {each}, "
        f"the default run alone (seed 0, an earlier run on another machine of this kind) at "
        f"{s['final_return_mean']:.1f}. The exact value depends "
        "on the seed, on the CPU model and the jax/XLA version (XLA compiles for the host's "
        "instruction set, so floating-point rounding differs between CPUs) and on the device "
        "count and how the runs split over the devices; on one machine with one device count a "
        f"run repeats exactly. It ran at {_k(s['steps_per_second'])} env steps/s, "
        f"{minutes:.1f} minutes on {s['device']} with the cores to itself; a loaded machine "
        f"gives proportionally less (`benchmarks/results/{rel}`, `benchmarks/results/"
        f"{seeds_rel}`)."
    )


BLOCKS = {
    "cpu-quick": cpu_quick,
    "peer": peer,
    "gpu": gpu,
    "offpolicy": offpolicy,
    "default-run": default_run,
}
_BLOCK = re.compile(r"(<!-- figures:([\w-]+) -->\n)(.*?)(<!-- /figures:\2 -->)", re.S)


def fill(text: str) -> str:
    """text with every figures block regenerated."""
    return _BLOCK.sub(lambda m: m[1] + BLOCKS[m[2]]() + "\n" + m[4], text)


def main() -> int:
    path = ROOT / "README.md"
    old = path.read_text()
    new = fill(old)
    path.write_text(new)
    print(f"README.md: {'updated' if new != old else 'unchanged'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

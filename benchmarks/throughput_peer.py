"""The peer section: acjax MAPPO at the setting of Mava's FF-MAPPO and, when the peer is built
(shared/peer), the peer run beside it in alternation."""

from __future__ import annotations

import gc
import os
import re
import statistics
import time
import traceback
from pathlib import Path

import jax
from bench_timing import finish, run_group
from throughput_programs import train_program

PEER_TARGET = {1: 2.0, 2: 2.0}  # acjax / peer, measured side by side: the target, at least 2x


def peer_paths() -> tuple[Path | None, Path]:
    """(the peer's run.sh, the folder where its setup.sh builds it). Scripts: $ACJAX_PEER_SCRIPTS,
    shared/peer of the checkout or /work/shared/peer; the build: $PEER_DIR or
    ${TMPDIR:-/tmp}/acjax-peer (as setup.sh and run.sh have it)."""
    here = Path(__file__).resolve().parents[1]
    places = [os.environ.get("ACJAX_PEER_SCRIPTS"), here / "shared" / "peer", "/work/shared/peer"]
    script = next(
        (Path(p) / "run.sh" for p in places if p and (Path(p) / "run.sh").is_file()), None
    )
    build = os.environ.get("PEER_DIR") or Path(os.environ.get("TMPDIR") or "/tmp") / "acjax-peer"
    return script, Path(build)


def peer_ready() -> tuple[Path | None, str]:
    """(run.sh when the peer is built, else None; why not)."""
    script, build = peer_paths()
    if script is None:
        return None, "no peer scripts (run.sh) found"
    if not (build / "venv" / "bin" / "python").is_file() or not (build / "Mava" / "mava").is_dir():
        return None, f"the peer is not built in {build} (see {script.parent}/README.md, setup.sh)"
    return script, ""


def run_peer(script: Path, devices: int, timesteps: int, timeout: float) -> dict:
    """One run of the peer (run.sh DEVICES TIMESTEPS): the fields of its last `PEER ...` line."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # run.sh sets its own
    out = subprocess.run(
        ["bash", str(script), str(devices), str(timesteps)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("PEER ")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"peer run failed (rc {out.returncode}): {tail[0]}")
    fields = dict(kv.split("=", 1) for kv in lines[-1].split()[1:] if "=" in kv)
    return {
        k: float(v) if re.fullmatch(r"[-+0-9.eE]+|nan|inf", v) else v for k, v in fields.items()
    }


def section_peer(res, budget, calls, k, devices_list=(1, 2), rounds=2, peer_steps=98304):
    """acjax MAPPO at the peer's setting and, when the peer is built, the peer itself run beside
    it: per round and device count, one peer run (run.sh: the median of its steady calls), then
    `calls` acjax calls; the ratio of each round is acjax's median over the peer's, the record
    keeps every round and the median ratio. Without a built peer: a printed note, no ratio."""
    extra = ("ppo.lr=2.5e-4", "ppo.critic_lr=2.5e-4", "net.share_params=true")
    devs = [d for d in devices_list if d <= len(jax.local_devices())]
    script, why = peer_ready()
    if script is None:
        print(f"[bench] peer: {why}; acjax alone, no ratio", flush=True)
    builders = [
        (
            lambda d=d: train_program(
                "peer",
                "mappo",
                "jumanji-rware-tiny-4ag",
                64,
                devices=d,
                k=k,
                extra=extra,
                budget=budget,
            )
        )
        for d in devs
    ]
    if script is None:
        recs = run_group(res, budget, "peer (acjax side)", builders, calls, 15.0)
    else:
        recs = _peer_rounds(res, budget, script, builders, devs, calls, rounds, peer_steps)
    one = [r for r in recs if r["devices"] == 1]
    for r in recs:
        if one and r["devices"] > 1:
            r["speedup_vs_1_device"] = r["steps_per_second"] / one[0]["steps_per_second"]
    res.add(recs)
    return recs


def _peer_rounds(res, budget, script, builders, devs, calls, rounds, peer_steps):
    """Build acjax's programs, then alternate peer runs and acjax calls, round by round."""
    if not budget.fits(len(builders) + 2 * len(devs), 15.0):
        res.skip(f"peer (budget: {budget.left():.0f} s left)")
        return []
    programs = [b() for b in builders]
    for p in programs:  # warm-up
        p.call()
    peer = {d: [] for d in devs}
    ratios = {d: [] for d in devs}
    try:
        for r in range(rounds):
            if r > 0 and budget.left() < 120 * len(devs):
                break
            for d, p in zip(devs, programs, strict=True):
                got = run_peer(script, d, peer_steps, timeout=max(60.0, budget.left()))
                peer[d].append(got)
                mine = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    p.call()
                    mine.append(time.perf_counter() - t0)
                p.times += mine
                ratios[d].append(
                    p.steps_per_call / statistics.median(mine) / got["steps_per_second"]
                )
    except Exception as e:  # noqa: BLE001 - the acjax side stays measured
        traceback.print_exc()
        res.skip(f"peer runs: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    recs = [finish(p, res.mode) for p in programs if p.times]
    for rec in recs:
        d = rec["devices"]
        if ratios[d]:
            rec["peer"] = "Mava FF-MAPPO 57c8e64, run beside acjax (shared/peer/run.sh)"
            rec["peer_steps_per_second"] = statistics.median(x["steps_per_second"] for x in peer[d])
            rec["peer_rounds"] = peer[d]
            rec["vs_peer_rounds"] = ratios[d]
            rec["vs_peer"] = statistics.median(ratios[d])
            rec["target_vs_peer"] = PEER_TARGET[d]
        print(
            f"[bench] peer     dev={d} acjax {rec['steps_per_second']:,.0f} steps/s, peer "
            f"{rec.get('peer_steps_per_second', float('nan')):,.0f}, ratio {rec.get('vs_peer')}",
            flush=True,
        )
    del programs
    gc.collect()
    return recs

"""The peer section: acjax MAPPO at the setting of Mava's FF-MAPPO, run as a user runs it
(`acjax train`), and, when the peer is built (shared/peer), the peer run beside it in
alternation."""

from __future__ import annotations

import os
import re
import statistics
import traceback
from pathlib import Path

import jax

PEER_TARGET = {1: 2.5, 2: 2.5}  # acjax train / peer, measured side by side: at least 2.5x


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


# acjax's command line at the peer's setting (shared/peer/README.md): what a user runs
CLI_SETTING = (
    "env=jumanji-rware-tiny-4ag", "algo=mappo", "num_envs=64", "ppo.rollout_len=128",
    "ppo.epochs=4", "ppo.num_minibatches=2", "net.actor_hidden=[128,128]",
    "net.critic_hidden=[128,128]", "net.share_params=true", "ppo.lr=2.5e-4",
    "ppo.critic_lr=2.5e-4", "progress=false",
)  # fmt: skip


def run_cli(devices: int, timesteps: int, timeout: float) -> dict:
    """One `acjax train` run at the peer's setting on `devices` devices: its summary.json
    (`steps_per_second`: env steps over the compiled calls' time, compilation excluded)."""
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "acjax.cli", "train", *CLI_SETTING, f"devices={devices}",
            f"total_timesteps={timesteps}", f"run_dir={Path(tmp) / 'run'}",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # the CLI sets its own
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"acjax train failed (rc {out.returncode}): {tail[0]}")
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
    return {"load": os.getloadavg()[0], **summary}


def section_peer(res, budget, devices_list=(1, 2), rounds=2, steps=393216):
    """acjax MAPPO at the peer's setting as a user runs it (`acjax train`, the summary's
    steps/s) and, when the peer is built, the peer run beside it: per round and device count,
    one peer run (run.sh: the median of its steady calls), then one acjax run of as many steps.
    The ratio of each round is acjax's over the peer's; the record keeps every round and the
    median ratio. Without a built peer: a printed note, no ratio."""
    devs = [d for d in devices_list if d <= len(jax.local_devices())]
    script, why = peer_ready()
    if script is None:
        print(f"[bench] peer: {why}; acjax alone, no ratio", flush=True)
    cost = steps / 5000.0 + 40.0  # a slow run's seconds, compile included
    runs = {d: [] for d in devs}
    peer = {d: [] for d in devs}
    try:
        for r in range(rounds):
            if not budget.fits(len(devs) * (2 if script else 1), cost):
                res.skip(f"peer round {r + 1} (budget: {budget.left():.0f} s left)")
                break
            for d in devs:
                if script is not None:
                    peer[d].append(run_peer(script, d, steps, timeout=max(60.0, budget.left())))
                runs[d].append(run_cli(d, steps, timeout=max(60.0, budget.left())))
    except Exception as e:  # noqa: BLE001 - what was measured stays recorded
        traceback.print_exc()
        res.skip(f"peer runs: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    recs = [_cli_record(res.mode, d, runs[d], peer[d]) for d in devs if runs[d]]
    one = [r for r in recs if r["devices"] == 1]
    for r in recs:
        if one and r["devices"] > 1:
            r["speedup_vs_1_device"] = r["steps_per_second"] / one[0]["steps_per_second"]
    res.add(recs)
    return recs


def _cli_record(mode: str, devices: int, runs: list[dict], peer: list[dict]) -> dict:
    import datetime

    sps = [x["steps_per_second"] for x in runs]
    rec = dict(
        section="peer", algo="mappo", env="jumanji-rware-tiny-4ag", n_agents=4, num_envs=64,
        devices=devices, rollout_len=128, epochs=4, num_minibatches=2,
        measured="acjax train (summary.json steps_per_second)", acjax_cli=list(CLI_SETTING),
        steps_per_run=runs[0]["env_steps"], steps_per_second=statistics.median(sps),
        compile_seconds=statistics.median(x["compile_seconds"] for x in runs),
        cli_rounds=[{k: x[k] for k in ("steps_per_second", "compile_seconds", "run_seconds",
                                       "wall_seconds", "load")} for x in runs],
        mode=mode, load_avg_1min=os.getloadavg()[0],
        timestamp=datetime.datetime.now().isoformat(timespec="seconds"),
    )  # fmt: skip
    if peer:
        ratios = [a / b["steps_per_second"] for a, b in zip(sps, peer, strict=False)]
        rec.update(
            peer="Mava FF-MAPPO 57c8e64, run beside acjax (shared/peer/run.sh)",
            peer_steps_per_second=statistics.median(x["steps_per_second"] for x in peer),
            peer_rounds=peer, vs_peer_rounds=ratios, vs_peer=statistics.median(ratios),
            target_vs_peer=PEER_TARGET[devices],
        )  # fmt: skip
    print(
        f"[bench] peer     dev={devices} acjax train {rec['steps_per_second']:,.0f} steps/s, "
        f"peer {rec.get('peer_steps_per_second', float('nan')):,.0f}, ratio {rec.get('vs_peer')}",
        flush=True,
    )
    return rec

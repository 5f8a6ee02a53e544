"""Scale curves of the throughput suite (`--mode scale-envs`, `--mode scale-agents`): training
steps/s of MAPPO and ACPO against the number of environments and against the number of agents,
with the peak memory of each point, and the point where throughput saturates.

Each point runs in a process of its own (this file with `--point JSON`), so that its peak memory
is its own: on a CPU the process's peak resident set (`VmHWM` of /proc/self/status), on a GPU
also JAX's `memory_stats()` (`peak_bytes_in_use` against `bytes_limit`). The point builds the
trainer's compiled chunk (`throughput_programs.train_program`: rollout + advantages + PPO
update), compiles it (`compile_seconds`), calls it once to warm up, then times calls until both
`min_calls` calls and `min_seconds` seconds are reached; `steps_per_second` is the median call's.

The env curve grows the env count until the list ends, a point fails (out of memory: the
process is killed or XLA cannot allocate), or, on a CPU, the next point's peak resident set,
extrapolated linearly from the last point, would pass 80% of MemAvailable. Where it stopped is
listed under "Stopped". The saturation point is the smallest env count whose steps/s are within
`SATURATION_TOL` of the curve's best (`saturation_point`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SATURATION_TOL = 0.10
MEMORY_FRACTION = 0.8  # of MemAvailable: the most a CPU point may be expected to take
MARK = "SCALE_POINT "


def saturation_point(xs, ys, tol: float = SATURATION_TOL):
    """The smallest x whose y is within `tol` of the best y, with the best (x, y):
    (x_sat, x_best, y_best); (None, None, None) for no points."""
    pts = sorted(zip(xs, ys, strict=True))
    if not pts:
        return None, None, None
    x_best, y_best = max(pts, key=lambda p: p[1])
    x_sat = next(x for x, y in pts if y >= (1.0 - tol) * y_best)
    return x_sat, x_best, y_best


def predicted_peak(prev_x: int, prev_peak: float, base: float, x: int) -> float:
    """A point's peak memory extrapolated from the last one: the baseline (the process before
    building anything) plus what the last point added above it, scaled by x / prev_x."""
    return base + max(prev_peak - base, 0.0) * x / prev_x


def mem_available() -> float | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _status_bytes(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss() -> float:
    """The process's peak resident set in bytes (VmHWM; getrusage where /proc is absent)."""
    hwm = _status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# ---------------------------------------------------------------------- one point (child)
def run_point(spec: dict) -> dict:
    """Build, compile, warm up and time one training chunk; its record with memory figures."""
    import jax
    from bench_timing import finish
    from throughput_programs import train_program

    base_rss = _status_bytes("VmRSS") or 0.0
    p = train_program(
        spec["section"], spec["algo"], spec["env"], spec["num_envs"], devices=spec["devices"],
        rollout=spec["rollout"], epochs=spec["epochs"], minibatches=spec["minibatches"],
        hidden=tuple(spec["hidden"]),
    )  # fmt: skip
    t0 = time.perf_counter()
    p.call()
    p.warmup_seconds = time.perf_counter() - t0
    start = time.perf_counter()

    def more() -> bool:  # min_calls and min_seconds; 2 calls past 10 s, 1 past a 20 s warm-up
        n, took = len(p.times), time.perf_counter() - start
        if n >= spec["max_calls"] or (n >= 2 and took >= 10.0):
            return False
        if n >= 1 and p.warmup_seconds > 20.0:
            return False
        return n < spec["min_calls"] or took < spec["min_seconds"]

    while more():
        t0 = time.perf_counter()
        p.call()
        p.times.append(time.perf_counter() - t0)
    rec = finish(p, spec["mode"])
    rec.update(base_rss_bytes=base_rss, peak_rss_bytes=peak_rss())
    stats = jax.local_devices()[0].memory_stats() or {}
    for key in ("peak_bytes_in_use", "bytes_limit"):
        if key in stats:
            rec[f"device_{key}"] = int(stats[key])
    rec["agent_steps_per_second"] = rec["steps_per_second"] * rec["n_agents"]
    return rec


def point_main(argv: list[str]) -> int:
    spec = json.loads(argv[argv.index("--point") + 1])
    rec = run_point(spec)
    print(MARK + json.dumps(rec), flush=True)
    return 0


# ---------------------------------------------------------------------- the curves (parent)
def _child(spec: dict, timeout: float) -> tuple[dict | None, str]:
    """Run one point in a fresh process; (record, '') or (None, why it failed)."""
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.95")  # a GPU point may use it all
    cmd = [sys.executable, str(HERE / "throughput_scale.py"), "--point", json.dumps(spec)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    for line in out.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :]), ""
    tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
    why = "killed (out of memory?)" if out.returncode in (-9, 137) else f"exit {out.returncode}"
    oom = any("RESOURCE_EXHAUSTED" in t or "out of memory" in t.lower() for t in tail)
    return None, ("out of memory: " if oom else "") + why + (": " + tail[-1][:200] if tail else "")


def _too_big(done: list[dict], x: int, key: str) -> str:
    """Why a point at `key`=x would not fit in memory (CPU: MemAvailable), or ''."""
    if not done or done[-1].get("platform") != "cpu":
        return ""
    last, avail = done[-1], mem_available()
    if avail is None:
        return ""
    need = predicted_peak(last[key], last["peak_rss_bytes"], last["base_rss_bytes"], x)
    if need > MEMORY_FRACTION * avail:
        return (
            f"{key}={x}: predicted peak RSS {need / 2**30:.1f} GiB > {MEMORY_FRACTION:.0%} of "
            f"MemAvailable {avail / 2**30:.1f} GiB"
        )
    return ""


def _point(res, budget, axis: str, algo: str, x: int, opts: dict, done: list[dict]):
    """One point of `algo`'s curve at x: (record, '') or (None, why the curve stops here)."""
    key = "num_envs" if axis == "envs" else "n_agents"
    n_agents = x if axis == "agents" else opts["agents"]
    num_envs = x if axis == "envs" else opts["envs"]
    why = _too_big(done, x, key) if axis == "envs" else ""
    last_wall = max((r["point_seconds"] for r in done), default=opts["first_point_s"])
    if not why and budget.left() < last_wall * 1.5:
        why = f"{key}={x}: budget ({budget.left():.0f} s left)"
    if why:
        return None, why
    spec = dict(
        section=f"scale-{axis}", algo=algo, env=opts["env"].format(n=n_agents),
        num_envs=num_envs, devices=opts["devices"], rollout=opts["rollout"],
        epochs=opts["epochs"], minibatches=opts["minibatches"], hidden=opts["hidden"],
        min_calls=opts["min_calls"], max_calls=opts["max_calls"],
        min_seconds=opts["min_seconds"], mode=res.mode,
    )  # fmt: skip
    t0 = time.perf_counter()
    rec, why = _child(spec, min(opts["point_timeout"], max(budget.left(), 1.0)))
    if rec is None:
        return None, f"{key}={x}: {why}"
    rec.update(point_seconds=time.perf_counter() - t0, scale_axis=axis)
    mem = rec.get("device_peak_bytes_in_use") or rec["peak_rss_bytes"]
    print(
        f"[scale] {algo:6s} {rec['env']:18s} envs={num_envs:<7d} "
        f"{rec['steps_per_second']:>11,.0f} steps/s  peak {mem / 2**20:,.0f} MiB  "
        f"compile {rec['compile_seconds']:.1f} s  load {rec['load_avg_1min']:.2f}",
        flush=True,
    )
    return rec, ""


def section_scale(res, budget, axis: str, algos, values: list[int], opts: dict) -> list[dict]:
    """The curves of `algos` along `axis` ('envs' or 'agents'), a process per point; at each
    value every algorithm in turn (so that a budget cut or a change of load hits all alike).
    An algorithm's curve stops at its first point that fails or would not fit."""
    done: dict[str, list[dict]] = {a: [] for a in algos}
    stopped: set[str] = set()
    for x in values:
        for algo in algos:
            if algo in stopped:
                continue
            rec, why = _point(res, budget, axis, algo, x, opts, done[algo])
            if rec is None:
                res.skip(f"{algo} {axis} curve stopped at {why}")
                stopped.add(algo)
                continue
            done[algo].append(rec)
            res.add([rec])
    return [r for a in algos for r in done[a]]


DEFAULTS = dict(
    env="rware-tiny-{n}ag", agents=4, envs=256, devices=0, rollout=16, epochs=4, minibatches=2,
    hidden=[128, 128], min_calls=3, max_calls=20, min_seconds=3.0, point_timeout=300.0,
    first_point_s=20.0,
)  # fmt: skip
ENVS = [16, 64, 256, 1024, 4096, 16384]
AGENTS = [2, 4, 8, 12, 20]


def plan_scale(mode: str, args) -> list:
    """The sections of a scale mode: one, the curves of every algorithm."""
    axis = mode.removeprefix("scale-")
    opts = dict(DEFAULTS)
    for k in ("rollout", "devices", "point_timeout"):
        if getattr(args, k, None) is not None:
            opts[k] = getattr(args, k)
    if args.at_envs:
        opts["envs"] = args.at_envs
    if args.at_agents:
        opts["agents"] = args.at_agents
    values = (args.envs or ENVS) if axis == "envs" else (args.agents or AGENTS)
    if args.tiny:
        values = values[:2] if axis == "agents" else [8, 16]
        opts.update(envs=8, rollout=4, epochs=1, hidden=[16], min_calls=2, min_seconds=0.0)
    algos = args.algos or ["mappo", "acpo"]
    return [lambda r, b: section_scale(r, b, axis, algos, sorted(values), opts)]


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(point_main(sys.argv))

"""Shared timing and records of the benchmark scripts: a wall-clock `Budget`, compiled `Program`s
timed in alternation (`interleave`, `run_group`), their records (`finish`, `validate_records`)
and markdown helpers (`fmt`, `table`)."""

from __future__ import annotations

import datetime
import gc
import math
import os
import re
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import jax

REQUIRED = {
    "section": str,
    "algo": str,
    "env": str,
    "n_agents": int,
    "num_envs": int,
    "num_seeds": int,
    "devices": int,
    "steps_per_second": float,
    "compile_seconds": float,
    "wall_seconds": float,
    "device_kind": str,
}


class Budget:
    """Wall-clock budget of the whole run (inf when not set)."""

    def __init__(self, seconds: float | None):
        self.start = time.perf_counter()
        self.deadline = self.start + seconds if seconds else math.inf
        self.max_compile = 0.0  # the longest compile seen: the estimate for the next one

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def fits(self, n_programs: int, default_compile: float) -> bool:
        need = n_programs * max(self.max_compile, default_compile) * 1.3 + 5
        return self.left() > need


@dataclass
class Program:
    """One compiled program ready to be called: `call()` runs it once and blocks."""

    record: dict  # static description (section, algo, env, ...)
    call: Callable[[], None]
    steps_per_call: int
    compile_seconds: float
    setup_seconds: float = 0.0
    warmup_seconds: float = 0.0
    times: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


def device_kind() -> str:
    d = jax.local_devices()[0]
    return str(getattr(d, "device_kind", d.platform))


def machine_name() -> str:
    d = jax.local_devices()[0]
    if d.platform == "cpu":
        return f"cpu{os.cpu_count()}"
    return re.sub(r"[^a-z0-9]+", "-", device_kind().lower()).strip("-") or d.platform


def timed_compile(fn_lower: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn_lower()
    return out, time.perf_counter() - t0


def interleave(programs: list[Program], calls: int, budget: Budget) -> None:
    """Warm up every program once, then time `calls` rounds of one call each, in alternation.
    Stops early (after at least one timed round) when the budget runs out."""
    for p in programs:
        t0 = time.perf_counter()
        p.call()
        p.warmup_seconds = time.perf_counter() - t0
    for r in range(calls):
        if r > 0 and budget.left() < max(p.warmup_seconds for p in programs) * len(programs):
            break
        for p in programs:
            t0 = time.perf_counter()
            p.call()
            p.times.append(time.perf_counter() - t0)


def finish(p: Program, mode: str) -> dict:
    median = statistics.median(p.times)
    rec = dict(p.record)
    rec.update(
        steps_per_second=p.steps_per_call / median,
        seconds_per_env_step=median / p.steps_per_call,
        compile_seconds=p.compile_seconds,
        setup_seconds=p.setup_seconds,
        warmup_seconds=p.warmup_seconds,
        median_call_seconds=median,
        call_seconds=p.times,
        steps_per_call=p.steps_per_call,
        wall_seconds=time.perf_counter() - p.started,
        device_kind=device_kind(),
        platform=jax.local_devices()[0].platform,
        mode=mode,
        load_avg_1min=os.getloadavg()[0],  # other processes on a shared machine
        timestamp=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    return rec


def run_group(
    res,  # a throughput_report.Results (skip, mode)
    budget: Budget,
    what: str,
    builders: list[Callable[[], Program]],
    calls: int,
    default_compile: float,
) -> list[dict]:
    """Build (compile) the programs of one group, time them in alternation, record them.
    Programs that do not fit the budget are skipped; an error skips the group and is recorded."""
    if not budget.fits(len(builders), default_compile):
        res.skip(f"{what} (budget: {budget.left():.0f} s left)")
        return []
    programs: list[Program] = []
    try:
        for b in builders:
            if programs and not budget.fits(1, default_compile):
                res.skip(f"part of {what} (budget)")
                break
            programs.append(b())
        interleave(programs, calls, budget)
        recs = [finish(p, res.mode) for p in programs]
    except Exception as e:  # noqa: BLE001 - a failed measurement must not lose the others
        traceback.print_exc()
        res.skip(f"{what}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return []
    finally:
        del programs
        gc.collect()
    for r in recs:
        print(
            f"[bench] {r['section']:8s} {r['algo']:12s} {r['env']:24s} N={r['n_agents']:<2d} "
            f"envs={r['num_envs']:<6d} seeds={r['num_seeds']:<2d} dev={r['devices']} "
            f"{r.get('variant', ''):18s} {r['steps_per_second']:>12,.0f} steps/s "
            f"compile {r['compile_seconds']:.1f}s",
            flush=True,
        )
    return recs


def validate_records(records: list[dict]) -> None:
    """Schema of a results file: required keys with their types, positive numbers."""
    if not isinstance(records, list) or not records:
        raise ValueError("results must be a non-empty list of records")
    for i, r in enumerate(records):
        for key, tp in REQUIRED.items():
            if key not in r:
                raise ValueError(f"record {i}: missing key {key!r}")
            v = r[key]
            ok = isinstance(v, tp) and not isinstance(v, bool)
            if tp is float:
                ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok:
                raise ValueError(f"record {i}: {key}={v!r} is not {tp.__name__}")
            if tp in (int, float) and not v > 0:
                raise ValueError(f"record {i}: {key}={v!r} is not positive")


def fmt(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def table(rows: list[list], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"

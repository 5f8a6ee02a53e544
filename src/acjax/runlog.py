"""Run outputs: metrics as JSONL and CSV (one row per update per seed) and a progress bar."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

COLUMNS = ("seed", "update", "env_steps")


def _clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


class MetricsWriter:
    """Appends rows to metrics.jsonl and metrics.csv; `truncate(u)` drops rows past update u.
    With files=False (the other processes of a multi-process run) it writes nothing and only
    keeps this session's rows in memory for `read`."""

    def __init__(self, run_dir: Path, names: tuple[str, ...], files: bool = True):
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"
        self.fields = list(COLUMNS) + list(names)
        self.files = files
        self._rows: list[dict] = []

    def load(self) -> list[dict]:
        """The rows of metrics.jsonl. Its last line is left out when cut short (the process
        killed while writing it: no newline at its end, or not JSON); a bad line before it is
        a ValueError."""
        if not self.jsonl.exists():
            return []
        lines = self.jsonl.read_text(errors="replace").split("\n")
        lines.pop()  # after the last newline: "" or a row cut short
        rows = []
        for i, line in enumerate(lines):
            try:
                row = json.loads(line) if line else None
            except ValueError:
                row = None
            if isinstance(row, dict) and "update" in row:
                rows.append(row)
            elif line and i < len(lines) - 1:
                raise ValueError(f"{self.jsonl} line {i + 1} is not a metrics row: {line[:60]!r}")
        return rows

    def complete_to(self, runs: int) -> int | None:
        """The last update u such that metrics.jsonl holds the rows of all `runs` runs for
        every update up to u; None without the file."""
        if not self.jsonl.exists():
            return None
        count: dict[int, int] = {}
        for r in self.load():
            count[r["update"]] = count.get(r["update"], 0) + 1
        u = 0
        while count.get(u + 1, 0) >= runs:
            u += 1
        return u

    def truncate(self, last_update: int) -> None:
        """Keep the rows up to `last_update`; metrics.csv is rewritten from metrics.jsonl (so a
        row cut short in either file is gone)."""
        if not self.files:
            self._rows = [r for r in self._rows if r["update"] <= last_update]
            return
        rows = [r for r in self.load() if r["update"] <= last_update]
        self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
        with self.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(rows)

    def write(self, rows: list[dict]) -> None:
        rows = [{k: _clean(v) for k, v in r.items()} for r in rows]
        if not self.files:
            self._rows.extend(rows)
            return
        with self.jsonl.open("a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        with self.csv.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerows(rows)

    def read(self) -> list[dict]:
        if not self.files:
            return list(self._rows)
        return self.load()


class TensorBoard:
    """The metrics rows as TensorBoard scalars (tensorboardX): one tag per metric, one run
    label per seed (and swept values), against env steps. Written by process 0 only."""

    def __init__(self, log_dir: Path, label_keys: tuple[str, ...]):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(log_dir), flush_secs=10)
        self.label_keys = label_keys

    def write(self, rows: list[dict], names: tuple[str, ...]) -> None:
        for r in rows:
            label = "_".join([f"seed{r['seed']}", *(f"{k}_{r[k]:g}" for k in self.label_keys)])
            for n in names:
                v = r.get(n)
                if isinstance(v, float) and math.isfinite(v):
                    self.writer.add_scalar(f"{n}/{label}", v, r["env_steps"])

    def close(self) -> None:
        self.writer.close()


def _fmt(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


class Progress:
    """A one-line progress bar on stderr: env steps, steps/s, mean return, time left."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True, width: int = 24):
        self.total, self.start, self.enabled, self.width = total, start, enabled, width
        self.tty = sys.stderr.isatty()

    def update(self, steps: int, ret: float | None, elapsed: float) -> None:
        """steps done so far, the latest mean return, seconds spent running (not compiling)."""
        if not self.enabled:
            return
        elapsed = max(elapsed, 1e-9)
        rate = (steps - self.start) / elapsed
        frac = min(steps / max(self.total, 1), 1.0)
        bar = "#" * int(frac * self.width) + "-" * (self.width - int(frac * self.width))
        eta = (self.total - steps) / rate if rate > 0 else float("inf")
        ret_s = f"{ret:.2f}" if ret is not None and math.isfinite(ret) else "-"
        eta_s = f"{eta:.0f}s" if math.isfinite(eta) else "?"
        line = (
            f"[{bar}] {_fmt(steps)}/{_fmt(self.total)} steps  {_fmt(rate)} steps/s  "
            f"return {ret_s}  eta {eta_s}"
        )
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")

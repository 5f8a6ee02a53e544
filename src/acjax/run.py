"""The host loop: compiled chunks of updates, logging, checkpoints and signals.

`train(cfg)` calls the trainer's compiled chunks (`acjax.harness.Harness`) until the run is done,
writing metrics after every call and checkpoints at call boundaries; SIGINT/SIGTERM stop it after
the current call with a checkpoint, a non-finite loss stops it with the last good checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import yaml

from acjax.checkpoint import Checkpointer, Mismatch
from acjax.config import Config, flat_sweep
from acjax.harness import Harness, local_value, make_trainer
from acjax.stop import Interrupted, StopFlag


class NonFiniteLoss(RuntimeError):
    pass


class ResumeError(FileNotFoundError):
    """A run folder that cannot be resumed (no checkpoint restores; metrics.jsonl unreadable):
    reported like a missing checkpoint, in one line."""


def _agree(*flags: bool) -> tuple[bool, ...]:
    """Each flag or-ed over all processes (a tiny blocking collective between calls)."""
    from jax.experimental import multihost_utils

    mine = np.array(flags, np.int32)
    every = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, len(flags))
    return tuple(bool(x) for x in every.max(axis=0))


def _final_returns(
    rows: list[dict], runs: list[tuple], last_frac: float = 0.1, key: str = "episode_return"
) -> list[float | None]:
    """Per run (seed, swept values): the mean of `key` (the episode return) over the last 10%
    of the updates that finished episodes."""
    out = []
    for seed, values in runs:
        mine = (r for r in rows if r["seed"] == seed and all(r[k] == v for k, v in values.items()))
        rets = [r[key] for r in mine]
        vals = [x for x in rets if x is not None]
        tail = vals[-max(1, int(len(vals) * last_frac)) :]
        out.append(float(np.mean(tail)) if tail else None)
    return out


_SPLIT_SAYS = {"runs": "whole runs on each", "envs": "each run's environments over them"}


def _device_name(trainer: Harness) -> str:
    d = trainer.mesh.devices.flat[0]
    return f"{trainer.n_devices}x {d.platform}:{getattr(d, 'device_kind', '')}"


def _resume_hint(run_dir: Path) -> str:
    """How to resume, as typed from the project root (`acjax` is not on PATH after `make`)."""
    return f'make train ARGS="resume={run_dir}" (or .venv/bin/acjax train resume={run_dir})'


def _segments(run_dir: Path, start: int) -> list[dict]:
    """The timed segments of earlier sessions of a resumed run that its checkpoint keeps."""
    try:
        old = json.loads((run_dir / "summary.json").read_text()).get("segments", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [g for g in old if isinstance(g, dict) and g.get("to_update", start + 1) <= start]


def _edited(cfg: Config, run_dir: Path) -> str | None:
    """Which key of config.yaml differs from what the checkpoints were written with, where
    summary.json (written with every checkpoint) says."""
    try:
        was = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    for key in ("env", "algo", "num_envs", "num_seeds"):
        if isinstance(was, dict) and key in was and was[key] != getattr(cfg, key):
            return (
                f"config key '{key}' is {getattr(cfg, key)!r}, the checkpoints were written "
                f"with {was[key]!r}"
            )
    return None


def _resume(cfg: Config, run_dir: Path, writer, runs: int, like) -> tuple[int, Any, Checkpointer]:
    """The newest checkpoint of run_dir that restores and that the metrics reach (their rows
    complete up to its update): (update, state, checkpointer). The newer checkpoints passed over
    (damaged ones; ones ahead of metrics cut short) are deleted once one has restored: the run
    recomputes them exactly. Nothing in the folder changes when none restores (ResumeError)."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():  # Orbax would make it
        raise ResumeError(f"resume: no checkpoint in {folder}")
    try:
        complete = writer.complete_to(runs)
    except ValueError as e:
        raise ResumeError(f"resume: {e}") from None
    ckpt = Checkpointer(folder, cfg.keep_checkpoints)
    try:
        step, state, skipped = ckpt.restore_newest(like, at_most=complete)
    except Mismatch as e:
        ckpt.close()
        raise ResumeError(
            f"resume: {run_dir / 'config.yaml'}: {_edited(cfg, run_dir) or e}; nothing changed"
        ) from None
    if step is None:
        ckpt.close()
        if not skipped:  # killed before its first checkpoint
            raise ResumeError(
                f"resume: no checkpoint in {folder}: the run ended before its first one; "
                "nothing to resume (train it again)"
            )
        why = "".join(f" (checkpoint {s} {w})" for s, w in skipped[:1])
        more = f", and {len(skipped) - 1} older one(s) too" if len(skipped) > 1 else ""
        raise ResumeError(f"resume: no intact checkpoint in {folder}{why}{more}")
    for s, why in skipped:
        if jax.process_index() == 0:
            print(f"resume: checkpoint {s} {why}; resuming from {step}", file=sys.stderr)
        ckpt.delete(s)
    return step, state, ckpt


def train(cfg: Config, env=None, stop: StopFlag | None = None) -> dict:
    """Train to cfg.total_timesteps in cfg.run_dir (resuming from its last checkpoint when
    cfg.resume is set); returns the summary written to summary.json.

    Everything that can fail on the config (devices, the world) fails before the run folder is
    written; a resumed run that is already complete is left untouched (status "complete").
    `stop` (installed by the command line from its start) turns SIGINT/SIGTERM into a stop after
    the current call, with a checkpoint; without one, train installs its own.

    In a multi-process run every process calls this with the same config: all of them compute,
    checkpoint (Orbax coordinates them) and stop at the same call boundary; only process 0
    writes config.yaml, the metrics, summary.json and the progress bar."""
    if stop is None:
        with StopFlag() as own:
            return train(cfg, env, own)
    t_start = time.perf_counter()
    session = _Session(cfg, make_trainer(cfg, env=env), stop, t_start)
    learner, runner = session.trainer.init()
    if stop.requested:
        raise Interrupted
    if cfg.resume:  # the folder stays as it was until a checkpoint has been restored
        learner, runner = session.resume((learner, runner))
        if session.start >= session.trainer.num_updates:
            session.ckpt.close()
            session.say(f"{session.run_dir} is complete ({session.start} updates); nothing to do")
            return {"status": "complete", "updates": session.start, "run_dir": str(session.run_dir)}
    session.open()
    return session.loop(learner, runner)


class _Session:
    """One session of a run (from its start or a checkpoint to its end or a stop): the run
    folder's writers, the timings, and the loop over compiled calls."""

    def __init__(self, cfg: Config, trainer: Harness, stop: StopFlag, t_start: float):
        from acjax.runlog import MetricsWriter

        self.cfg, self.trainer, self.stop, self.t_start = cfg, trainer, stop, t_start
        self.primary = jax.process_index() == 0
        self.run_dir = Path(cfg.resume or cfg.run_dir)
        self.steps_per_update = trainer.steps_per_update
        # each run's label: its seed and its values of the swept keys (a column per key)
        self.runs = [
            (seed, dict(zip(trainer.sweep_keys, values, strict=True)))
            for seed, values in zip(trainer.run_seeds, trainer.run_values, strict=True)
        ]
        self.writer = MetricsWriter(
            self.run_dir, trainer.sweep_keys + trainer.metric_names, files=self.primary
        )
        self.start = self.update = 0
        self.compile_s = self.run_s = 0.0
        self.status = "running"
        self.segments: list[dict] = []
        self.summary: dict = {}
        self.ckpt: Checkpointer | None = None
        self.tboard = self.progress = None

    def say(self, msg: str) -> None:
        if self.primary:
            print(msg, file=sys.stderr, flush=True)

    def resume(self, like) -> Any:
        self.start, state, self.ckpt = _resume(
            self.cfg, self.run_dir, self.writer, len(self.runs), like
        )
        self.update = self.start
        return state

    def open(self) -> None:
        """Say what will run; make the folder of a new run (only now: every check has passed),
        write config.yaml, cut the metrics to the start, open TensorBoard and the progress."""
        from acjax.config import to_dict
        from acjax.runlog import Progress, TensorBoard

        cfg, trainer = self.cfg, self.trainer
        total = trainer.num_updates * self.steps_per_update
        self.say(
            f"acjax: {cfg.algo} on {cfg.env}, {cfg.num_seeds} seed(s)"
            + "".join(f" x {len(v)} {k}" for k, v in flat_sweep(cfg).items())
            + f", {trainer.num_updates} updates x {self.steps_per_update} = {total} env steps "
            "per seed"
            + (f" ({cfg.total_timesteps} rounded up)" if total != cfg.total_timesteps else "")
            + (f", resuming from update {self.start}" if cfg.resume else "")
            + f", run folder {self.run_dir}"
            + (f", {jax.process_count()} processes" if jax.process_count() > 1 else "")
            + (
                f", {trainer.n_devices} devices ({_SPLIT_SAYS[trainer.split]})"
                if trainer.n_devices > 1
                else ""
            )
        )
        if not cfg.resume:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.ckpt = Checkpointer(self.run_dir / "checkpoints", cfg.keep_checkpoints)
        if self.primary:
            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        self.writer.truncate(self.start)
        self.segments = _segments(self.run_dir, self.start) if cfg.resume else []
        if cfg.log.tensorboard and self.primary:
            self.tboard = TensorBoard(self.run_dir / "tensorboard", trainer.sweep_keys)
        self.progress = Progress(
            total, self.start * self.steps_per_update, cfg.progress and self.primary
        )

    def summarize(self) -> dict:
        """summary.json (written by process 0) of what the checkpoint just saved keeps."""
        trainer, cfg = self.trainer, self.cfg
        rows = self.writer.read()
        finals = _final_returns(rows, self.runs)
        vals = [x for x in finals if x is not None]
        mine = {
            "from_update": self.start,
            "to_update": self.update,
            "compile_seconds": self.compile_s,
            "run_seconds": self.run_s,
            "wall_seconds": time.perf_counter() - self.t_start,
        }
        segs = [*self.segments, mine]
        timed = sum(g["to_update"] - g["from_update"] for g in segs)
        run_total = sum(g["run_seconds"] for g in segs)
        steps = timed * self.steps_per_update * trainer.num_runs
        summary = {
            "env": cfg.env,
            "algo": cfg.algo,
            "num_seeds": cfg.num_seeds,
            "num_envs": cfg.num_envs,
            "total_timesteps": cfg.total_timesteps,
            "updates": self.update,
            "env_steps": self.update * self.steps_per_update,
            "status": self.status,
            "sweep": {k: list(v) for k, v in flat_sweep(cfg).items()},
            "runs": trainer.num_runs,
            "final_returns": finals,
            "final_return_mean": float(np.mean(vals)) if vals else None,
            # timings of all sessions of the run that its checkpoints keep (`segments`);
            # `timed_updates` < `updates` when an earlier session left no summary (SIGKILL)
            "steps_per_second": steps / run_total if run_total > 0 else None,
            "compile_seconds": sum(g["compile_seconds"] for g in segs),
            "run_seconds": run_total,
            "wall_seconds": sum(g["wall_seconds"] for g in segs),
            "timed_updates": timed,
            "segments": segs,
            "device": _device_name(trainer),
            "devices": trainer.n_devices,
            "split": trainer.split,
            "processes": jax.process_count(),
        }
        if "win_rate" in trainer.metric_names:
            summary["final_win_rates"] = _final_returns(rows, self.runs, key="win_rate")
        if "restarts" in trainer.metric_names:  # instances restarted after faults, all seeds
            summary["restarts"] = int(sum(r["restarts"] or 0 for r in rows))
        if self.primary:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def loop(self, learner, runner) -> dict:
        """Compiled calls until the run is done or stopped (the loop ends with a checkpoint)."""
        compiled: set[int] = set()  # program sizes: one per run (shorter calls skip updates)
        saved_at = time.perf_counter()
        for k in self.trainer.chunk_sizes(self.start):
            fn, t1 = self._compile(learner, runner, k, compiled)
            new_learner, new_runner, metrics = fn(learner, runner)
            # waiting here keeps one multi-device program in flight at a time (XLA:CPU can
            # deadlock collectives of several queued programs on a small thread pool); metrics
            # are replicated: each process reads its own copy
            metrics = local_value(metrics)
            self.run_s += time.perf_counter() - t1
            self._check_finite(metrics)
            learner, runner = new_learner, new_runner
            self._record(metrics, k)
            done = self.update >= self.trainer.num_updates
            stopping = self.stop.requested
            save = (
                done or stopping or time.perf_counter() - saved_at > self.cfg.checkpoint_interval_s
            )
            if jax.process_count() > 1:  # a signal or a due checkpoint on any process: all act
                stopping, save = _agree(stopping, save)
            if save:
                self.ckpt.save(self.update, (learner, runner))
                saved_at = time.perf_counter()
                self.status = "finished" if done else "interrupted" if stopping else self.status
                self.summary = self.summarize()  # timings and returns of what the checkpoint keeps
            if stopping and not done:
                break
        self.close()
        if self.status == "interrupted":
            self.say(
                f"interrupted at update {self.update}/{self.trainer.num_updates}; checkpoint "
                f"saved. Resume with: {_resume_hint(self.run_dir)}"
            )
        return self.summary

    def _compile(self, learner, runner, k: int, compiled: set[int]):
        """The compiled call of k updates (said when a program size is new), and the time it
        was ready; a stop asked meanwhile says when it will take effect."""
        t0 = time.perf_counter()
        size = self.trainer.program_size(k)
        done = self.update - self.start
        took = f", about {self.run_s / done * k:.0f} s" if done else ""
        if size not in compiled:
            self.say(f"compiling {size} update(s) per call ...")
            self.stop.when = (
                f"once this call is compiled and has run its {k} update(s){took}, with a checkpoint"
            )
        fn = self.trainer.compile(learner, runner, k)
        t1 = time.perf_counter()
        self.stop.when = f"after this call's {k} update(s){took}, with a checkpoint"
        if size not in compiled:
            self.say(f"compiled in {t1 - t0:.1f} s")
            compiled.add(size)
        self.compile_s += t1 - t0
        return fn, t1

    def _check_finite(self, metrics) -> None:
        losses = np.stack([metrics[n] for n in self.trainer.loss_names])
        if np.all(np.isfinite(losses)):
            return
        bad = int(np.argwhere(~np.isfinite(losses))[0][2]) + self.update + 1
        last = self.ckpt.latest()
        self.close()
        kept = (
            f"The last good checkpoint is update {last} in {self.run_dir / 'checkpoints'} "
            f"(resume={self.run_dir})"
            if last is not None
            else "No checkpoint was written before it"
        )
        raise NonFiniteLoss(f"non-finite loss at update {bad}; stopped. {kept}")

    def _record(self, metrics, k: int) -> None:
        """The k updates' rows (per run) into the metrics, TensorBoard and the progress bar."""
        rows = []
        spu = self.steps_per_update
        for i in range(k):
            u = self.update + i + 1
            for r, (seed, values) in enumerate(self.runs):
                row = {"seed": seed, "update": u, "env_steps": u * spu}
                row.update(values)
                row.update({n: float(metrics[n][r, i]) for n in self.trainer.metric_names})
                rows.append(row)
        self.update += k
        self.writer.write(rows)
        if self.tboard is not None:
            self.tboard.write(rows, self.trainer.metric_names)
        rets = [r["episode_return"] for r in rows[-len(self.runs) :]]
        rets = [x for x in rets if np.isfinite(x)]
        self.progress.update(self.update * spu, float(np.mean(rets)) if rets else None, self.run_s)

    def close(self) -> None:
        self.progress.close()
        self.ckpt.close()
        if self.tboard is not None:
            self.tboard.close()

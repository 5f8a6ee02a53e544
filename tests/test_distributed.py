"""Multi-process training with jax.distributed (docs/distributed.md).

The slow checks launch `python -m acjax.cli train` as 2 CPU processes on localhost (one forced
host device each, gloo collectives) and compare them with one process holding 2 devices: the
same mesh, the same env shards, the same metrics.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml
from conftest import TINY, tiny_config

from acjax.cli import main, resolve_config
from acjax.config import to_dict
from acjax.harness import local_value, make_trainer, place
from acjax.runlog import MetricsWriter

REPO = Path(__file__).resolve().parents[1]
# several processes split each run's environments; the one-process reference does the same
ARGS = [*TINY, "env=matrix-table1", "num_seeds=2", "updates_per_call=1", "split=envs"]


# ---------------------------------------------------------------------- fast checks
@pytest.mark.parametrize(
    "args, needle",
    [
        (["dist_num_processes=-1"], "config key 'dist_num_processes'"),
        (["dist_num_processes=2", "dist_process_id=2"], "config key 'dist_process_id'"),
        (["dist_process_id=1"], "config key 'dist_process_id'"),
        (["dist_num_processes=2", "dist_coordinator=nohost"], "config key 'dist_coordinator'"),
        (["dist_coordinator=localhost:1234"], "config key 'dist_coordinator'"),
    ],
)
def test_dist_config_errors_are_one_line_exit_2(args, needle, capsys):
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_resume_takes_dist_keys_from_the_command_line_not_the_saved_config(tmp_path):
    cfg = tiny_config("env=matrix-table1", tmp_path=tmp_path)
    saved = dict(to_dict(cfg), dist_coordinator="h:1", dist_num_processes=2, dist_process_id=1)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    again = resolve_config(None, [f"resume={tmp_path}"])
    assert (again.dist_coordinator, again.dist_num_processes, again.dist_process_id) == ("", 1, 0)
    over = ["dist_coordinator=h:2", "dist_num_processes=4", "dist_process_id=3"]
    other = resolve_config(None, [f"resume={tmp_path}", *over])
    assert (other.dist_coordinator, other.dist_num_processes, other.dist_process_id) == (
        "h:2",
        4,
        3,
    )


def test_metrics_writer_without_files_writes_nothing(tmp_path):
    w = MetricsWriter(tmp_path, ("x",), files=False)
    w.truncate(0)
    w.write([{"seed": 0, "update": 1, "env_steps": 8, "x": 1.0}])
    w.write([{"seed": 0, "update": 2, "env_steps": 16, "x": float("nan")}])
    assert [r["x"] for r in w.read()] == [1.0, None]
    assert list(tmp_path.iterdir()) == []


def test_place_and_local_value_on_one_process():
    trainer = make_trainer(tiny_config("env=matrix-table1"))
    learner, runner = trainer.init()
    ls, _ = trainer.shardings(learner, runner)
    again = place(local_value(learner), ls)
    for a, b in zip(jax.tree.leaves(learner), jax.tree.leaves(again), strict=True):
        assert b.sharding == a.sharding
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------------- 2 processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict:
    return dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
    )


def _launch(args: list[str], port: int, pid: int) -> subprocess.Popen:
    dist = ["dist_num_processes=2", f"dist_process_id={pid}", f"dist_coordinator=localhost:{port}"]
    return subprocess.Popen(
        [sys.executable, "-m", "acjax.cli", "train", *args, *dist],
        cwd=REPO,
        env=_env(1),
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[str]:
    errs = []
    try:
        for p in procs:
            errs.append(p.communicate(timeout=timeout)[1])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, err in zip(procs, errs, strict=True):
        assert p.returncode == 0, err
    return errs


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _latest_checkpoint(run: Path) -> int:
    return max(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: one process with 2 forced CPU devices (the same mesh of 2)."""

    def run(total: int) -> list[dict]:
        out = tmp_path_factory.mktemp(f"one{total}")
        cmd = [sys.executable, "-m", "acjax.cli", "train", *ARGS]
        cmd += [f"total_timesteps={total}", f"run_dir={out}"]
        subprocess.run(cmd, cwd=REPO, env=_env(2), check=True, capture_output=True, timeout=600)
        return _rows(out)

    return run


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_devices(tmp_path, one_process):
    args = [*ARGS, "total_timesteps=512"]  # 8 updates of 64 env steps
    run, port = tmp_path / "two", _free_port()
    procs = [_launch([*args, f"run_dir={run}"], port, pid) for pid in (1, 0)]
    err1, err0 = _finish(procs)
    rows = _rows(run)
    assert rows == one_process(512)  # bit for bit: same shards, same reduction order
    assert len(rows) == 8 * 2 and len({(r["seed"], r["update"]) for r in rows}) == 16
    # process 0 alone writes the run's files (process 1 appending would duplicate rows)
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 16
    assert yaml.safe_load((run / "config.yaml").read_text())["dist_process_id"] == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["devices"] == 2 and summary["updates"] == 8
    assert "done:" in err0 and "done:" not in err1 and "acjax:" not in err1
    assert _latest_checkpoint(run) == 8


@pytest.mark.slow
def test_sigterm_to_process_0_stops_all_and_resume_matches(tmp_path, one_process):
    args = [*ARGS, "total_timesteps=2560"]  # 40 updates
    run, port = tmp_path / "two", _free_port()
    procs = [_launch([*args, f"run_dir={run}"], port, pid) for pid in (1, 0)]
    deadline = time.time() + 600  # bounds a failure only: a loaded machine is slow
    while time.time() < deadline and procs[1].poll() is None:
        if (run / "metrics.jsonl").exists() and len(_rows(run)) >= 4:
            break
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGTERM)  # process 0 only
    _, err0 = _finish(procs)
    assert f"resume={run}" in err0
    stopped = max(r["update"] for r in _rows(run))
    assert stopped < 40, "the run should have been interrupted before its end"
    assert _latest_checkpoint(run) == stopped  # both processes saved the same call boundary
    port = _free_port()
    resume = [f"resume={run}", "checkpoint_interval_s=600"]  # saves only at the end
    _finish([_launch(resume, port, pid) for pid in (1, 0)])
    assert _latest_checkpoint(run) == 40
    assert _rows(run) == one_process(2560)

"""Resuming damaged run folders: a checkpoint with truncated files, no intact checkpoint, a
metrics line cut short, a config.yaml edited or removed, a SIGKILL during a checkpoint save.
Every recovery ends with exactly the metrics of one uninterrupted run (shared by the tests)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY

from acjax.cli import main
from acjax.runlog import MetricsWriter

REPO = Path(__file__).resolve().parents[1]
# 8 updates of 2 seeds in 4 calls: checkpoints 2, 4, 6, 8 written, the last 3 kept
ARGS = [*TINY, "env=matrix-table1", "num_seeds=2", "total_timesteps=512", "keep_checkpoints=3"]
ENV = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's folder."""
    run = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", *ARGS, f"run_dir={run}"]) == 0
    return run


def _copy(reference, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    return run


def _rows(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _steps(run):
    """The finished checkpoints' steps (Orbax renames a step's folder to its number when done)."""
    folder = run / "checkpoints"
    return sorted(int(n) for n in os.listdir(folder) if n.isdigit()) if folder.is_dir() else []


def _damage(run, step):
    """Truncate the data files of a checkpoint to half (a full disk, an interrupted copy)."""
    files = [p for p in (run / "checkpoints" / str(step)).rglob("*") if p.parent.name == "d"]
    assert files
    for p in files:
        os.truncate(p, p.stat().st_size // 2)


def _snapshot(run):
    return {p.relative_to(run): p.read_bytes() if p.is_file() else None for p in run.rglob("*")}


def _quiet(err):
    assert "Traceback" not in err and "Event loop is closed" not in err, err


def _same_as_reference(run, reference):
    assert _rows(run) == _rows(reference)
    assert (run / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    assert _steps(run) == [4, 6, 8]


def test_damaged_newest_checkpoint_is_skipped(reference, tmp_path, capsys):
    run = _copy(reference, tmp_path)
    _damage(run, 8)
    capsys.readouterr()
    assert main(["train", f"resume={run}"]) == 0
    err = capsys.readouterr().err
    _quiet(err)
    skips = [x for x in err.splitlines() if x.startswith("resume:")]
    assert len(skips) == 1, err
    assert skips[0].startswith("resume: checkpoint 8 is damaged (") and "OUT_OF_RANGE" in skips[0]
    assert skips[0].endswith("; resuming from 6")
    _same_as_reference(run, reference)  # checkpoint 8 written again
    assert main(["train", f"resume={run}"]) == 0  # ... and intact: nothing left to run
    assert "resume:" not in capsys.readouterr().err
    _same_as_reference(run, reference)


def test_no_intact_checkpoint_is_one_line_and_changes_nothing(reference, tmp_path):
    run = _copy(reference, tmp_path)
    for step in _steps(run):
        _damage(run, step)
    before = _snapshot(run)
    proc = subprocess.run(
        [sys.executable, "-m", "acjax.cli", "train", f"resume={run}"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    _quiet(proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: resume: no intact checkpoint in {run / 'checkpoints'} (")
    assert "checkpoint 8 is damaged" in lines[0]
    assert _snapshot(run) == before


def test_metrics_line_cut_short_is_rewritten(reference, tmp_path, capsys):
    """Both files cut inside their last row (update 8, seed 1): the run resumes from
    checkpoint 6, the newest the metrics reach, and writes updates 7 and 8 again."""
    run = _copy(reference, tmp_path)
    for name in ("metrics.jsonl", "metrics.csv"):
        text = (run / name).read_text()
        last = text.rstrip("\n").rfind("\n") + 1
        (run / name).write_text(text[: last + (len(text) - last) // 2])
    writer = MetricsWriter(run, ())
    assert len(writer.load()) == 15 and writer.complete_to(2) == 7
    capsys.readouterr()
    assert main(["train", f"resume={run}"]) == 0
    err = capsys.readouterr().err
    _quiet(err)
    assert (
        "resume: checkpoint 8 is ahead of the metrics (complete to update 7); resuming from 6"
        in err
    )
    _same_as_reference(run, reference)


def test_metrics_reader_drops_only_a_last_row_cut_short(tmp_path):
    rows = [{"seed": s, "update": u, "env_steps": 64 * u} for u in (1, 2) for s in (0, 1)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    writer = MetricsWriter(tmp_path, ())
    for cut, n, complete in [(len(text), 4, 2), (len(text) - 1, 3, 1), (len(text) - 9, 3, 1)]:
        writer.jsonl.write_text(text[:cut])
        assert writer.load() == rows[:n] and writer.complete_to(2) == complete
    writer.jsonl.write_text(text + '{"seed": 0, "upd\n')  # cut short, then a newline
    assert writer.load() == rows
    writer.truncate(1)
    assert writer.load() == rows[:2] and len(writer.csv.read_text().splitlines()) == 3
    writer.jsonl.write_text('{"seed": 0, "upd\n' + text)
    with pytest.raises(ValueError, match="line 1 is not a metrics row"):
        writer.load()


@pytest.mark.parametrize(
    "edit, needle",
    [
        (("lr: 0.0005", "lr: abc"), "config key 'ppo.lr' in {path}: expected float"),
        (("num_envs: 8", "num_envs: 0"), "config key 'num_envs' in {path}: must be positive"),
        (("lr: 0.0005", "lrr: 0.0005"), "unknown config key 'ppo.lrr' in {path}"),
        (("algo: mappo", "algo: [mappo"), "config file '{path}' is not valid YAML at line 3"),
        (None, "config key 'resume': no run folder with config.yaml at '{run}' ('{path}' does"),
    ],
    ids=["bad-value", "impossible-value", "unknown-key", "yaml-syntax", "missing"],
)
def test_edited_or_missing_config_is_one_line_and_changes_nothing(
    reference, tmp_path, capsys, edit, needle
):
    run = _copy(reference, tmp_path)
    path = run / "config.yaml"
    if edit is None:
        path.unlink()
    else:
        text = path.read_text()
        assert edit[0] in text
        path.write_text(text.replace(edit[0], edit[1], 1))
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", f"resume={run}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert needle.format(path=path, run=run) in err[0]
    assert _snapshot(run) == before


def test_a_config_that_no_longer_matches_is_one_line_and_changes_nothing(reference, tmp_path):
    """Another world in config.yaml: not a damaged checkpoint but the wrong config, named in one
    line; nothing is deleted (every checkpoint would mismatch alike), nothing else printed."""
    run = _copy(reference, tmp_path)
    path = run / "config.yaml"
    path.write_text(path.read_text().replace("env: matrix-table1", "env: matrix-continuous", 1))
    before = _snapshot(run)
    proc = subprocess.run(
        [sys.executable, "-m", "acjax.cli", "train", f"resume={run}"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: resume: {path}: config key 'env' is 'matrix-continuous', the checkpoints were "
        "written with 'matrix-table1'; nothing changed"
    ], proc.stderr
    assert _snapshot(run) == before


def test_a_mismatch_without_summary_names_the_array_and_its_shapes(reference, tmp_path, capsys):
    run = _copy(reference, tmp_path)
    (run / "summary.json").unlink()
    path = run / "config.yaml"
    path.write_text(path.read_text().replace("actor_hidden:\n  - 16", "actor_hidden:\n  - 17"))
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", f"resume={run}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: resume: {path}: the config no longer matches checkpoint 8 (0.params.actor.params."
        "Dense_0.bias: shape (2, 17) for the config, shape (2, 16) stored); nothing changed"
    ], err
    assert _snapshot(run) == before


def _tmp_steps(run):
    folder = run / "checkpoints"
    return (
        [n for n in os.listdir(folder) if ".orbax-checkpoint-tmp" in n] if folder.is_dir() else []
    )


@pytest.mark.slow  # a run in a subprocess, killed, and resumed: about 20 s
def test_sigkill_during_checkpoint_save_leaves_no_trusted_checkpoint(reference, tmp_path):
    """Kill the run while Orbax writes a checkpoint (its temporary folder exists, after a first
    checkpoint is finished); retried until a kill lands inside a save."""
    for attempt in range(6):
        run = tmp_path / f"killed{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "acjax.cli", "train", *ARGS, f"run_dir={run}"],
            cwd=REPO,
            env=ENV,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 240
        while proc.poll() is None and time.time() < deadline:
            if _steps(run) and _tmp_steps(run):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        proc.wait(timeout=60)
        if proc.returncode == -signal.SIGKILL and _tmp_steps(run):
            break
    else:
        pytest.fail("no kill landed inside a checkpoint save in 6 tries")
    print(f"the kill landed inside a save at try {attempt + 1}: {os.listdir(run / 'checkpoints')}")
    killed = int(_tmp_steps(run)[0].split(".")[0])
    assert killed not in _steps(run) and _steps(run)  # the half-written one is not a step
    assert main(["train", f"resume={run}"]) == 0
    assert not _tmp_steps(run)  # saved again over the half-written one
    _same_as_reference(run, reference)


def test_only_abandoned_checkpoint_reads_are_kept_out_of_the_log(caplog):
    """asyncio logs a future whose error nobody read; after a failed restore those are
    TensorStore read errors (dropped), anything else still reaches the log."""
    import asyncio
    import gc

    from acjax.checkpoint import _quiet_closed_loops

    _quiet_closed_loops()

    def abandon(error):
        loop = asyncio.new_event_loop()
        future = loop.create_future()
        future.set_exception(error)
        loop.close()
        del future
        gc.collect()

    def abandon_task(error):  # a task that failed and was never awaited
        loop = asyncio.new_event_loop()

        async def read():
            raise error

        task = loop.create_task(read())
        loop.run_until_complete(asyncio.wait([task]))
        loop.close()
        del task
        gc.collect()

    with caplog.at_level("ERROR", logger="asyncio"):
        for drop in (abandon, abandon_task):
            drop(ValueError("OUT_OF_RANGE: Error reading ... in OCDBT database"))
        assert not caplog.records
        abandon(ValueError("something else"))
        abandon_task(ValueError("something else too"))
        kept = [r.exc_info[1].args[0] for r in caplog.records]
        assert kept == ["something else", "something else too"]


def test_a_folder_killed_before_its_first_checkpoint_says_so(reference, tmp_path, capsys):
    run = _copy(reference, tmp_path)
    for step in _steps(run):
        shutil.rmtree(run / "checkpoints" / str(step))
    (run / "metrics.jsonl").write_text("")
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", f"resume={run}"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: resume: no checkpoint in {run / 'checkpoints'}: the run ended before its first "
        "one; nothing to resume (train it again)"
    ]
    assert _snapshot(run) == before


def test_a_damage_reason_keeps_what_went_wrong_and_drops_tensorstore_specs():
    from acjax.checkpoint import _reason

    junk = (
        'DATA_LOSS: Error reading "0.params/.zarray": bad checksum. See full TensorStore '
        "details: <bound method pybind11_detail_function_record_v1_system_libstdcpp_gxx_abi_1"
        '.spec of TensorStore({"driver": "zarr"})>'
    )
    assert _reason(ValueError(junk)) == 'DATA_LOSS: Error reading "0.params/.zarray": bad checksum.'
    spec = "OUT_OF_RANGE: byte range [0, 9) is not valid [tensorstore_spec='{\"driver\": 1}']"
    assert _reason(ValueError(spec)) == "OUT_OF_RANGE: byte range [0, 9) is not valid"

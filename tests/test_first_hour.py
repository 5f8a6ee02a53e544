"""What a new user meets first: help and listings, suggestions for typos, YAML positions, the
budget, an interrupt in the first second, and messages while compiling."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY

from acjax.cli import main
from acjax.config import to_dict

REPO = Path(__file__).resolve().parents[1]


def test_train_help_lists_worlds_algorithms_and_where_keys_are(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for needle in ("jumanji-rware-<size>-<N>ag", "mamujoco-<robot>-<partition>", "pettingzoo:"):
        assert needle in out
    for algo in ("mappo", "acpo", "happo", "ac_td3", "maddpg"):
        assert f"\n  {algo} " in out
    assert "acjax list" in out and "src/acjax/config.py" in out


def test_list_prints_every_config_key_with_its_default_and_meaning(capsys):
    assert main(["list", "keys"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    keys = {ln.split()[0]: ln for ln in lines}
    assert "ppo.lr" in keys and "0.0005" in keys["ppo.lr"] and "learning rate" in keys["ppo.lr"]
    assert "td3.chain_target" in keys and "acpo.lambda_micro" in keys
    assert all(len(ln.split(maxsplit=2)) == 3 for ln in lines), "a key without a description"


def test_listing_and_help_give_the_embedded_defaults(capsys):
    """`acjax train` without --config trains the embedded default config: its world and its
    budget (which a --config file does not inherit) are the ones the listing and help name."""
    from acjax.config import load_config

    cfg = load_config()
    assert main(["list", "keys"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "total_timesteps " in x)
    assert line.endswith(f"[acjax train without --config: {cfg.total_timesteps}]"), line
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    example = next(x for x in capsys.readouterr().out.splitlines() if x.strip() == "acjax train"
                   or x.strip().startswith("acjax train  "))  # fmt: skip
    assert f"({cfg.algo.upper()}, {cfg.env}, {cfg.total_timesteps // 10**6}M steps)" in example


def test_a_listing_into_a_closed_pipe_is_quiet():
    """`acjax list algos | head -1`: the reader gone, no BrokenPipeError traceback, exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "acjax.cli", "list", "algos"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    proc.stdout.close()  # before the listing is written: its write fails
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and err == "", err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["num_env=8"], "unknown config key 'num_env'; did you mean 'num_envs'?"),
        (["ppo.lrr=1"], "unknown config key 'ppo.lrr'; did you mean 'ppo.lr'?"),
        (["algo=mapo"], "unknown algorithm 'mapo'; did you mean 'mappo'?"),
        (["env=jumanji-rware-tiny-2agg"], "did you mean 'jumanji-rware-tiny-2ag'?"),
        (["env=mamujoco-halfchetah-2x3"], "did you mean 'mamujoco-halfcheetah-2x3'?"),
        (["env=matrix-tabel1"], "did you mean 'matrix-table1'?"),
    ],
)
def test_typos_get_the_closest_valid_name(args, needle, capsys):
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_yaml_errors_give_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: matrix-table1\nppo:\n  lr: [0.1\n  epochs: 2\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"config file '{bad}' is not valid YAML at line 4, column" in err[0]


def test_an_override_refused_on_resume_names_the_dotted_key(tmp_path, capsys):
    from acjax.config import load_config

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(to_dict(load_config())))
    assert main(["train", f"resume={tmp_path}", "ppo.lr=0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config key 'ppo.lr': cannot change when resuming" in err[0], err


def test_budget_rounds_up_to_whole_updates_and_says_so(tmp_path, capsys):
    """64 env steps per update: 100 asked -> 2 updates, 128 steps; the compile is announced."""
    assert (
        main(["train", *TINY, "env=matrix-table1", "total_timesteps=100", f"run_dir={tmp_path}"])
        == 0
    )
    err = capsys.readouterr().err
    assert "2 updates x 64 = 128 env steps per seed (100 rounded up)" in err
    assert "compiling 2 update(s) per call ..." in err and "compiled in " in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["env_steps"] == 128 and summary["updates"] == 2
    assert (tmp_path / "summary.json").read_text().endswith("}\n")


def _wait_for_stop_flag(proc, timeout=120.0):
    """Until the process catches SIGTERM (the stop flag is installed: its first act), however
    loaded the machine; Linux says which signals a process catches in /proc/PID/status."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1], 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.01)
    raise AssertionError("the stop flag was not installed")


def _start(run, *args):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    return subprocess.Popen(
        [sys.executable, "-m", "acjax.cli", "train", *TINY, *args, f"run_dir={run}"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_second_sigint_while_compiling_aborts_at_once_and_cleanly(tmp_path):
    """The first Ctrl-C is heard at once (saying when the stop takes effect: after the call
    being compiled), the second ends the process with exit 130 wherever it lands (tracing,
    XLA's compile): no traceback, no crash, and the folder without a checkpoint removed."""
    for attempt, delay in enumerate((0.0, 0.5, 1.5)):
        run = tmp_path / f"run{attempt}"
        proc = _start(run)
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("compiling "):
                time.sleep(delay)
                proc.send_signal(signal.SIGINT)
            if line.startswith("SIGINT: heard"):
                proc.send_signal(signal.SIGINT)
                break
        lines.append(proc.communicate(timeout=600)[1])
        err = "".join(lines)
        assert proc.returncode == 130, (attempt, err)
        assert (
            "SIGINT: heard; stopping once this call is compiled and has run its 2 update(s)" in err
        )
        assert "Ctrl-C again aborts at once" in err
        assert err.rstrip().endswith(
            f"aborted before the first checkpoint; removed {run} (nothing to resume)"
        ), err
        for bad in ("Traceback", "Exception ignored", "KeyboardInterrupt", "compiled in"):
            assert bad not in err, (attempt, err)
        assert not run.exists()


def test_a_crash_before_the_first_checkpoint_removes_the_folder_and_says_so(
    tmp_path, capsys, monkeypatch
):
    from acjax.harness import Harness

    def broken(*args):
        raise RuntimeError("a bug in the compiled program")

    monkeypatch.setattr(Harness, "compile", broken)
    run = tmp_path / "run"
    assert main(["train", *TINY, "env=matrix-table1", f"run_dir={run}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == "RuntimeError: a bug in the compiled program"
    assert err[-1] == f"crashed before the first checkpoint; removed {run} (nothing to resume)"
    assert not run.exists()


def test_sigint_in_the_first_second_leaves_no_traceback_and_no_folder(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_stop_flag(proc)  # JAX is still loading: nothing compiled, no folder yet
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode == 130, err
    assert "interrupted before training started; nothing written" in err
    assert not run.exists()


def test_an_error_found_by_the_trainer_comes_first_and_leaves_no_folder(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "devices=3", f"run_dir={run}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: config key 'devices'"), err
    assert not run.exists()

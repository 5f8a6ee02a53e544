"""The off-policy algorithms (acjax.offpolicy): AC-TD3, HATD3 and MADDPG through the CLI,
vmapped seeds against seeds run one by one, resume against an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from acjax.cli import main

REPO = Path(__file__).resolve().parents[1]
# 32 env steps per update; learning starts after 64 (update 3); windows of 3 transitions
TD3 = [
    "env=matrix-continuous", "num_envs=8", "td3.train_interval=4", "td3.batch_size=16",
    "td3.buffer_size=800", "td3.warmup_steps=64", "td3.n_step=3", "updates_per_call=2",
    "net.actor_hidden=[16]", "net.critic_hidden=[16]", "progress=false", "checkpoint_interval_s=0",
]  # fmt: skip


def _rows(run):
    return [json.loads(x) for x in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def _check_short_run(rows):
    for r in rows:
        if r["env_steps"] <= 64:  # warm-up: random actions, no learning
            assert r["critic_loss"] == r["actor_loss"] == 0 and r["q_mean"] is None
        else:
            assert r["critic_loss"] > 0 and np.isfinite([r["actor_loss"], r["q_mean"]]).all()
        assert r["episodes"] == 32  # one-step episodes: every step ends one


@pytest.mark.parametrize(
    "algo",  # ac_td3 with k-step targets: the seeds test below
    ["hatd3", "maddpg", "ac_td3 td3.chain_target=onestep td3.n_step=1"],
)
def test_short_runs_through_the_cli(algo, tmp_path):
    algo, *extra = algo.split()
    args = [*TD3, f"algo={algo}", *extra, "total_timesteps=320", f"run_dir={tmp_path}"]
    assert main(["train", *args]) == 0
    rows = _rows(tmp_path)
    assert [r["update"] for r in rows] == list(range(1, 11))
    _check_short_run(rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["env_steps"] == 320


def test_vmapped_seeds_equal_seeds_run_one_by_one(tmp_path):
    base = [*TD3, "algo=ac_td3", "total_timesteps=256"]
    # two runs on two devices, one each: each computes what it computes on one device
    assert main(["train", *base, "num_seeds=2", "seed=3", f"run_dir={tmp_path / 'two'}"]) == 0
    one = ["num_seeds=1", "seed=4", "devices=1", f"run_dir={tmp_path / 'one'}"]
    assert main(["train", *base, *one]) == 0
    two = [r for r in _rows(tmp_path / "two") if r["seed"] == 4]
    one = _rows(tmp_path / "one")
    assert len(two) == len(one) == 8
    _check_short_run(_rows(tmp_path / "two"))
    for a, b in zip(two, one, strict=True):
        for k in a:
            if b[k] is None:
                assert a[k] is None, k
            else:
                assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    other = [r["critic_loss"] for r in _rows(tmp_path / "two") if r["seed"] == 3]
    assert other != [r["critic_loss"] for r in one]


@pytest.mark.slow  # three compiles and a subprocess (about 30 s); `make test-slow`
def test_resume_with_the_replay_equals_an_uninterrupted_run(tmp_path):
    """SIGTERM stops the run at a call boundary; its checkpoint holds the replay, so the
    resumed run samples exactly what the uninterrupted one does."""
    args = [*TD3, "algo=ac_td3", "total_timesteps=1280", "updates_per_call=1"]
    run = tmp_path / "interrupted"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "acjax.cli", "train", *args, f"run_dir={run}"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 600  # bounds a failure only: a loaded machine is slow
    while time.time() < deadline:
        if (run / "metrics.jsonl").exists() and len(_rows(run)) >= 8:  # learning has started
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert max(r["update"] for r in _rows(run)) < 40, "the run should have been interrupted"
    assert main(["train", f"resume={run}"]) == 0
    assert main(["train", *args, f"run_dir={tmp_path / 'full'}"]) == 0
    assert _rows(run) == _rows(tmp_path / "full")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["env=matrix-table1"], "config key 'algo': ac_td3 needs continuous actions"),
        (["sweep.ppo.lr=[0.1,0.2]"], "config key 'sweep': ac_td3 runs no hyper-parameter sweeps"),
        (["net.rnn=gru"], "config key 'net.rnn': ac_td3 has feed-forward policies only"),
        (["td3.buffer_size=8"], "config key 'td3.buffer_size': 8 holds 1 transitions per env"),
        (["td3.tau=2"], "config key 'td3.tau': must lie in [0, 1]"),
        (["td3.chain_target=micro"], "config key 'td3.chain_target': expected kstep or onestep"),
        (["td3.chain_target=onestep"], "config key 'td3.chain_target': onestep targets read one"),
    ],
)
def test_off_policy_config_errors(args, needle, capsys):
    assert main(["train", *TD3, "algo=ac_td3", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ac_td3", "hatd3", "maddpg"])
def test_short_runs_on_halfcheetah(algo, tmp_path):
    """Each algorithm's experiment file on mamujoco-halfcheetah-2x3, shrunk: 2 updates of 4
    environments x 50 steps, learning from the second (n_step of the file: 10 or 20)."""
    config = REPO / "experiments" / "mamujoco" / f"halfcheetah-2x3-{algo}.yaml"
    args = ["num_envs=4", "total_timesteps=400", "td3.batch_size=16", "td3.buffer_size=2000",
            "td3.warmup_steps=200", "updates_per_call=1", "net.actor_hidden=[16]",
            "net.critic_hidden=[16]", "progress=false", f"run_dir={tmp_path}"]  # fmt: skip
    assert main(["train", "--config", str(config), *args]) == 0
    first, second = _rows(tmp_path)
    assert first["critic_loss"] == 0 and second["critic_loss"] > 0
    assert np.isfinite([second["actor_loss"], second["q_mean"]]).all()

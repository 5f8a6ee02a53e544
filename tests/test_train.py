"""End-to-end trainer checks on tiny configs (few compilations)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import TINY, tiny_config

from acjax.cli import main
from acjax.config import ConfigError
from acjax.harness import Harness, make_trainer
from acjax.onpolicy import PPOTrainer
from acjax.run import NonFiniteLoss, train

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("algo", ["mappo", "ippo"])
def test_short_warehouse_run_writes_outputs(algo, tmp_path):
    cfg = tiny_config(
        f"algo={algo}", "env=jumanji-rware-tiny-2ag", "num_seeds=2", tmp_path=tmp_path
    )
    summary = train(cfg)
    for f in ("config.yaml", "metrics.jsonl", "metrics.csv", "summary.json"):
        assert (tmp_path / f).is_file(), f
    assert (tmp_path / "checkpoints").is_dir()
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    for key in (
        "env",
        "algo",
        "num_seeds",
        "total_timesteps",
        "env_steps",
        "final_returns",
        "final_return_mean",
        "steps_per_second",
        "compile_seconds",
        "wall_seconds",
        "device",
    ):
        assert key in on_disk, key
    assert on_disk["env_steps"] == 256 and len(on_disk["final_returns"]) == 2
    assert summary["algo"] == algo
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * 2 and {r["seed"] for r in rows} == {0, 1}
    for r in rows:
        assert np.isfinite([r["actor_loss"], r["value_loss"], r["entropy"], r["grad_norm"]]).all()
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("seed,update,env_steps,episode_return") and len(csv_lines) == 9


def _rows(path):
    return [json.loads(x) for x in (Path(path) / "metrics.jsonl").read_text().splitlines()]


def _assert_same_rows(rows, reference):
    """The same metrics, up to the last bits of floating point."""
    for a, b in zip(rows, reference, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if b[k] is None:  # no episode ended in that update
                assert a[k] is None, k
            else:
                assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k


GRU = ("env=jumanji-rware-tiny-2ag", "net.rnn=gru", "net.rnn_hidden=8", "ppo.chunk_len=4")


# the GRU cases (about 45, 35 and 65 s) run in `make test-slow`: the MLP cases keep make test
# within its budget and the GRU's sequence handling is checked by test_acpo and test_policies
@pytest.mark.parametrize(
    "world",
    [
        pytest.param(("env=matrix-table1",), id="mlp"),
        pytest.param(GRU, id="gru", marks=pytest.mark.slow),
    ],
)
def test_vmapped_seeds_equal_seeds_run_one_by_one_and_runs_repeat(world, tmp_path):
    base = (*world, "updates_per_call=4", "total_timesteps=256")
    train(tiny_config(*base, "num_seeds=3", "seed=5", tmp_path=tmp_path / "sweep"))
    train(tiny_config(*base, "num_seeds=1", "seed=6", tmp_path=tmp_path / "one"))
    train(tiny_config(*base, "num_seeds=1", "seed=6", tmp_path=tmp_path / "again"))
    sweep = [r for r in _rows(tmp_path / "sweep") if r["seed"] == 6]
    one, again = _rows(tmp_path / "one"), _rows(tmp_path / "again")
    assert one == again
    assert len(sweep) == len(one) == 4
    _assert_same_rows(sweep, one)
    other = [r for r in _rows(tmp_path / "sweep") if r["seed"] == 5]
    assert [r["actor_loss"] for r in other] != [r["actor_loss"] for r in one]


def test_whole_runs_per_device_compute_what_each_run_computes_on_one_device(tmp_path):
    base = ("env=matrix-table1", "updates_per_call=4", "total_timesteps=256")
    trainer = make_trainer(tiny_config(*base, "num_seeds=2"))
    assert (trainer.split, trainer.n_devices, trainer.local_envs) == ("runs", 2, 8)
    learner, _ = trainer.init()
    for leaf in jax.tree.leaves(learner.params):  # each device holds one run's networks
        assert [s.data.shape[0] for s in leaf.addressable_shards] == [1, 1]
    train(tiny_config(*base, "num_seeds=2", "seed=5", tmp_path=tmp_path / "runs"))
    train(tiny_config(*base, "seed=6", "devices=1", tmp_path=tmp_path / "one"))
    train(tiny_config(*base, "num_seeds=2", "seed=5", "split=envs", tmp_path=tmp_path / "envs"))
    one = _rows(tmp_path / "one")
    runs, envs = ([r for r in _rows(tmp_path / s) if r["seed"] == 6] for s in ("runs", "envs"))
    assert len(runs) == len(envs) == len(one) == 4
    _assert_same_rows(runs, one)
    # each run's environments over both devices: keys per device, another random stream
    for a, b in zip(envs[1:], one[1:], strict=True):
        assert a["actor_loss"] != pytest.approx(b["actor_loss"], rel=1e-5)


@pytest.mark.parametrize(
    "args, split, devices",
    [
        (("num_seeds=2",), "runs", 2),
        (("sweep.ppo.lr=[1e-3, 3e-3]",), "runs", 2),  # runs are seeds x swept values
        (("num_seeds=3",), "envs", 2),  # 3 runs do not split over 2 devices, 8 envs do
        (("num_seeds=1",), "envs", 2),
        (("num_seeds=3", "split=runs"), "runs", 1),
        (("num_seeds=2", "split=envs"), "envs", 2),
        (("num_seeds=2", "num_envs=3", "split=envs"), "envs", 1),
        (("num_seeds=2", "num_envs=3"), "runs", 2),
        (("num_seeds=2", "devices=1"), "runs", 1),
    ],
)
def test_the_runs_or_their_environments_split_over_the_devices(args, split, devices):
    trainer = make_trainer(tiny_config("env=matrix-table1", *args))
    assert (trainer.split, trainer.n_devices) == (split, devices)


def test_runs_that_do_not_split_over_the_devices_asked_are_one_line():
    with pytest.raises(
        ConfigError, match=r"^config key 'split': 3 runs do not split over devices=2$"
    ):
        make_trainer(tiny_config("env=matrix-table1", "num_seeds=3", "split=runs", "devices=2"))
    with pytest.raises(ConfigError, match=r"^config key 'split': expected one of auto, runs, envs"):
        tiny_config("split=seeds")


@pytest.mark.parametrize(
    "world", [("env=matrix-table1",), ("algo=acpo", *GRU)], ids=["mlp", "acpo-gru"]
)
def test_second_call_does_not_recompile(world, monkeypatch, backend_compiles):
    cfg = tiny_config(*world)
    trainer = make_trainer(cfg)
    learner, runner = trainer.init()
    traces, update = [], PPOTrainer.update
    monkeypatch.setattr(PPOTrainer, "update", lambda *a: traces.append(1) or update(*a))
    learner, runner, _ = trainer.compile(learner, runner, 2)(learner, runner)
    assert len(traces) == 1  # the metrics' shapes come from the trace the program uses
    n_first = len(backend_compiles)
    learner, runner, m = trainer.compile(learner, runner, 2)(learner, runner)
    jax.block_until_ready(m)
    assert len(backend_compiles) == n_first
    assert int(learner.update[0]) == 4


@pytest.mark.parametrize(
    "world",
    [
        pytest.param(("env=matrix-table1",), id="mlp"),
        pytest.param(("algo=acpo", *GRU), id="acpo-gru", marks=pytest.mark.slow),
    ],
)
def test_a_run_with_a_shorter_last_call_compiles_one_program(world, tmp_path, monkeypatch):
    """5 updates at 2 per call (calls of 2, 2, 1) build one program, and its metrics equal, row
    by row and bit for bit, those of the same run at 1 update per call (same maths, one loop
    with a dynamic trip count in both)."""
    built = []
    chunk_fn = Harness._chunk_fn

    def counting(self, size, *a):
        built.append(size)
        return chunk_fn(self, size, *a)

    monkeypatch.setattr(Harness, "_chunk_fn", counting)
    base = (*world, "total_timesteps=320", "num_seeds=2")  # 5 updates of 64 steps
    train(tiny_config(*base, "updates_per_call=2", tmp_path=tmp_path / "two"))
    assert built == [2]
    built.clear()
    train(tiny_config(*base, "updates_per_call=1", tmp_path=tmp_path / "one"))
    assert built == [1]
    two, one = _rows(tmp_path / "two"), _rows(tmp_path / "one")
    assert [r["update"] for r in two] == [u for u in range(1, 6) for _ in range(2)]
    assert two == one


def test_non_finite_loss_stops_with_clear_message(tmp_path):
    cfg = tiny_config(
        "env=matrix-table1",
        "ppo.lr=1e38",
        "ppo.critic_lr=1e38",
        "ppo.max_grad_norm=1e30",
        "total_timesteps=2560",
        tmp_path=tmp_path,
    )
    with pytest.raises(NonFiniteLoss, match="non-finite loss at update"):
        train(cfg)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["ppo.lrr=1"], "unknown config key 'ppo.lrr'"),
        (["num_envs=abc"], "config key 'num_envs': expected int"),
        (["num_envs=0"], "config key 'num_envs': must be positive"),
        (["algo=qmixx"], "config key 'algo': unknown algorithm"),
        (["env=rware-huge-2ag"], "config key 'env': unknown env"),
        (["num_envs=6", "ppo.rollout_len=5", "ppo.num_minibatches=4"], "ppo.num_minibatches"),
        (["ppo.gamma=1.5"], "config key 'ppo.gamma'"),
        (["total_timesteps=0"], "config key 'total_timesteps'"),
        (["--config", "nope.yaml"], "config file 'nope.yaml' does not exist"),
        (["resume=/nonexistent/run"], "config key 'resume'"),
        (["net.rnn=lstm"], "config key 'net.rnn': expected none or gru"),
        (["net.rnn=gru", "ppo.rollout_len=128", "ppo.chunk_len=48"], "config key 'ppo.chunk_len'"),
        (["net.rnn=gru", "num_envs=3", "ppo.chunk_len=128"], "sequence chunks"),
    ],
)
def test_config_errors_are_one_line_exit_2(args, needle, capsys):
    opts = [a for a in args if a.startswith("--") or a.endswith(".yaml")]
    rest = [a for a in args if a not in opts]
    assert main(["train", *opts, *rest]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize(
    "world, updates",
    [
        pytest.param(("env=matrix-table1",), 60, id="mlp"),
        pytest.param(GRU, 20, id="gru", marks=pytest.mark.slow),
    ],
)
def test_sigterm_checkpoints_and_resume_equals_uninterrupted_run(world, updates, tmp_path):
    steps = f"total_timesteps={updates * 64}"
    args = [*TINY, *world, steps, "updates_per_call=1", "num_seeds=2"]
    run = tmp_path / "interrupted"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "acjax.cli", "train", *args, f"run_dir={run}"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 600  # a bound on a failure only: a loaded machine compiles slowly
    while time.time() < deadline:
        if (run / "metrics.jsonl").exists() and len(_rows(run)) >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f'Resume with: make train ARGS="resume={run}"' in err  # as typed in the project root
    assert "done:" not in err
    stopped = max(r["update"] for r in _rows(run))
    assert stopped < updates, "the run should have been interrupted before its end"
    assert main(["train", f"resume={run}"]) == 0
    full = tmp_path / "full"
    assert main(["train", *args, f"run_dir={full}"]) == 0
    resumed, uninterrupted = _rows(run), _rows(full)
    assert len(resumed) == len(uninterrupted) == 2 * updates
    assert resumed == uninterrupted
    # the summary's timings cover both sessions, each named
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["timed_updates"] == updates
    assert [(g["from_update"], g["to_update"]) for g in summary["segments"]] == [
        (0, stopped),
        (stopped, updates),
    ]
    assert summary["run_seconds"] == pytest.approx(
        sum(g["run_seconds"] for g in summary["segments"])
    )


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_resuming_a_finished_run_leaves_it_untouched(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "env=matrix-table1", "total_timesteps=128", f"run_dir={run}"]) == 0
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", f"resume={run}"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is complete" in err[0], err
    assert _snapshot(run) == before


CONTINUOUS = ("env=matrix-continuous",)


@pytest.mark.parametrize(
    "args",
    [
        (*CONTINUOUS, "algo=mappo"),
        (*CONTINUOUS, "algo=ippo"),
        (*CONTINUOUS, "algo=acpo"),
        (*CONTINUOUS, "algo=happo"),
        (*GRU, "algo=mappo"),
        (*GRU, "algo=acpo"),
    ],
    ids=["cont-mappo", "cont-ippo", "cont-acpo", "cont-happo", "gru-mappo", "gru-acpo"],
)
def test_short_runs_through_the_cli(args, tmp_path):
    assert main(["train", *TINY, "total_timesteps=256", *args, f"run_dir={tmp_path}"]) == 0
    rows = _rows(tmp_path)
    assert len(rows) == 4
    for r in rows:
        vals = [r["actor_loss"], r["value_loss"], r["entropy"], r["grad_norm"], r["approx_kl"]]
        assert np.isfinite(vals).all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["env_steps"] == 256
    if args[0] == CONTINUOUS[0]:  # one-step episodes: every update reports returns
        assert all(np.isfinite(r["episode_return"]) for r in rows)
        assert all(r["entropy"] < 2.0 for r in rows)  # two 1-d Gaussians, std e^-0.5 at init

"""Hyper-parameter sweeps in one program: a sweep's run equals the single run with its values;
metrics columns and summary order; keys that cannot be swept."""

import json

import numpy as np
import pytest
from conftest import tiny_config

from acjax.config import SWEEPABLE, ConfigError
from acjax.run import train

# every sweepable key, a non-default value (the traced path must equal the constant one)
VALUES = {
    "ppo.critic_lr": 0.002,
    "ppo.clip_eps": 0.15,
    "ppo.ent_coef": 0.02,
    "ppo.gamma": 0.97,
    "ppo.gae_lambda": 0.9,
    "ppo.max_grad_norm": 0.5,
    "ppo.huber_delta": 5.0,
    "ppo.adam_eps": 1e-6,
    "acpo.lambda_micro": 0.93,
}
LRS = (0.001, 0.003)


def _rows(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_sweep_run_equals_the_single_run_with_its_values(tmp_path):
    assert set(VALUES) | {"ppo.lr"} == set(SWEEPABLE)
    common = ["algo=acpo", "devices=1", "total_timesteps=128", "num_seeds=2"]
    sweep = [f"sweep.{k}=[{v}]" for k, v in VALUES.items()]
    cfg = tiny_config(
        *common, *sweep, f"sweep.ppo.lr=[{LRS[0]}, {LRS[1]}]", tmp_path=tmp_path / "s"
    )
    summary = train(cfg)
    assert summary["runs"] == 4 and summary["sweep"]["ppo.lr"] == list(LRS)
    assert summary["sweep"]["ppo.gamma"] == [0.97]
    rows = _rows(tmp_path / "s")
    # value-major, seed-minor, a column per swept key
    last = rows[-4:]
    assert [(r["ppo.lr"], r["seed"]) for r in last] == [(a, s) for a in LRS for s in (0, 1)]
    assert all(r["ppo.gamma"] == 0.97 for r in rows)
    header = (tmp_path / "s" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["seed", "update", "env_steps", *list(VALUES)[:2]]
    assert len(summary["final_returns"]) == 4

    # the run (lr = LRS[1], seed 1) alone, its values as plain config keys
    plain = [f"{k}={v}" for k, v in VALUES.items()]
    one = tiny_config(*common[:3], "seed=1", f"ppo.lr={LRS[1]}", *plain, tmp_path=tmp_path / "o")
    train(one)
    mine = [r for r in rows if r["ppo.lr"] == LRS[1] and r["seed"] == 1]
    alone = _rows(tmp_path / "o")
    assert len(mine) == len(alone) == 2
    for a, b in zip(mine, alone, strict=True):
        for key in ("actor_loss", "value_loss", "entropy", "approx_kl", "grad_norm"):
            # the traced values and the constants may differ in the last bits
            np.testing.assert_allclose(a[key], b[key], rtol=2e-4, atol=1e-6, err_msg=key)
    # and the other value of the sweep did change the run
    other = [r for r in rows if r["ppo.lr"] == LRS[0] and r["seed"] == 1]
    assert not np.allclose([r["actor_loss"] for r in other], [r["actor_loss"] for r in mine])


@pytest.mark.parametrize(
    "override, needle",
    [
        ("sweep.ppo.epochs=[1, 2]", "config key 'sweep.ppo.epochs': cannot be swept"),
        ("sweep.net.rnn_hidden=[8]", "config key 'sweep.net.rnn_hidden': cannot be swept"),
        ("sweep.ppo.lr=0.1", "config key 'sweep.ppo.lr': expected a non-empty list"),
        ("sweep.ppo.clip_eps=[0.1, 2]", "config key 'sweep.ppo.clip_eps': must lie in"),
        ("sweep.acpo.lambda_micro=[0]", "values must be > 0"),
    ],
)
def test_keys_that_cannot_be_swept_are_one_line_errors(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")) as e:
        tiny_config(override)
    assert "\n" not in str(e.value)

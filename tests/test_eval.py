"""`acjax eval`: greedy and sampled decentralized execution of a run's saved policies."""

import json

import jax
import jax.numpy as jnp
import numpy as np
from conftest import tiny_config

from acjax.cli import main
from acjax.evaluate import GreedyHead
from acjax.nets import make_head
from acjax.run import train


def _tensorboard_scalars(log_dir):
    """{tag: [steps]} from TensorBoard event files (TFRecord framing around Event protos)."""
    import struct

    from tensorboardX.proto import event_pb2

    out = {}
    for f in log_dir.glob("events.out.tfevents.*"):
        data, i = f.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, []).append(event.step)
    return out


def test_greedy_head_samples_the_mode():
    from acjax.envs.registry import make

    head = GreedyHead(make_head(make("rware-tiny-2ag").spec))
    logits = jax.random.normal(jax.random.PRNGKey(0), (64, 5))
    mask = jnp.ones((64, 5), bool).at[:, 2].set(False)
    for k in range(3):
        a = head.dist(logits, mask).sample(seed=jax.random.PRNGKey(k))
        assert (a == jnp.argmax(jnp.where(mask, logits, -jnp.inf), -1)).all()


def test_eval_of_a_sweep_run_folder_writes_numbers_and_a_gif(tmp_path, capsys):
    cfg = tiny_config("env=rware-tiny-2ag", "num_seeds=2", "sweep.ppo.lr=[0.001]",
                      "total_timesteps=128", "log.tensorboard=true", tmp_path=tmp_path)  # fmt: skip
    train(cfg)
    # TensorBoard: every metric per run label, at the env steps of each update
    scalars = _tensorboard_scalars(tmp_path / "tensorboard")
    assert scalars["actor_loss/seed1_ppo.lr_0.001"][0] == 64
    assert len(scalars["value_loss/seed0_ppo.lr_0.001"]) == 2
    assert main(["eval", str(tmp_path), "--episodes", "4", "--steps", "30"]) == 0
    out = json.loads((tmp_path / "eval.json").read_text())
    assert out["env"] == "rware-tiny-2ag" and out["update"] == 2 and out["steps"] == 30
    assert [r["seed"] for r in out["runs"]] == [0, 1] and out["runs"][0]["ppo.lr"] == 0.001
    for r in out["runs"]:
        for mode in ("sampled", "greedy"):
            m = r[mode]
            assert m["episodes"] == 4 and m["finished"] == 0  # 30 of 500 steps
            assert np.isfinite(m["return_mean"]) and m["return_se"] >= 0
            assert "win_rate" not in m
    assert (tmp_path / "eval-episode.gif").stat().st_size > 0
    err = capsys.readouterr().err
    assert "seed 1 ppo.lr=0.001 greedy: return" in err
    assert main(["eval", str(tmp_path / "nothing")]) == 2

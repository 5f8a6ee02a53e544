"""The authors' PPO backbone as options (RLlib 1.8's PPO, docs/acpo.md §8): the adaptive KL
penalty (`ppo.kl_coef`, `ppo.kl_target`) against plain numpy, in training, across a resume and
over vmapped seeds; rollouts of complete episodes (`ppo.complete_episodes`)."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from acjax import losses as L
from acjax.algos.mappo import IndependentActing
from acjax.cli import main
from acjax.config import ConfigError, PPOConfig
from acjax.harness import make_trainer
from acjax.nets import CategoricalHead, GaussianHead
from acjax.ppo import Batch, PPOContext
from acjax.run import train
from acjax.runlog import COLUMNS, MetricsWriter
from acjax.runner import init_runner


def rllib_update_kl(coef: float, kl: float, target: float) -> float:
    """RLlib 1.8's KLCoeffMixin.update_kl, as a plain function."""
    if kl > 2.0 * target:
        coef *= 1.5
    elif kl < 0.5 * target:
        coef *= 0.5
    return coef


def test_kl_coefficient_adapts_as_rllib_does():
    target = 0.01
    kls = [0.05, 0.03, 0.021, 0.02, 0.01, 0.005, 0.0049, 0.0, 0.5, 0.012, 1e-4, 0.019]
    want, coef = [], 0.2
    for kl in kls:
        coef = rllib_update_kl(coef, kl, target)
        want.append(coef)

    def step(c, kl):
        c = L.adapt_kl_coef(c, kl, target)
        return c, c

    _, got = jax.lax.scan(step, jnp.float32(0.2), jnp.asarray(kls, jnp.float32))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert len(set(np.round(np.diff(np.log(want)), 6))) == 3  # grew, halved and stayed


def _np_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _np_categorical_kl(old, new, mask):
    lo = np.where(mask, old, -np.inf)
    ln = np.where(mask, new, -np.inf)
    po, lpo, lpn = np.exp(_np_log_softmax(lo)), _np_log_softmax(lo), _np_log_softmax(ln)
    return np.where(mask, po * (np.where(mask, lpo, 0) - np.where(mask, lpn, 0)), 0).sum(-1)


def _np_gaussian_kl(old, new, mask, a):
    m0, s0 = old[..., :a], np.exp(old[..., a:])
    m1, s1 = new[..., :a], np.exp(new[..., a:])
    terms = np.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5
    return np.where(mask, terms, 0).sum(-1)


def _context(head, kl_coef):
    spec = SimpleNamespace(agents_die=False)
    algo = SimpleNamespace(acting=IndependentActing())
    return PPOContext(None, None, head, spec, algo, PPOConfig(), None, kl_coef)


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_kl_penalty_is_the_coefficient_times_the_mean_exact_kl(kind):
    """On a small batch [C, L, N]: the actor loss with the behaviour outputs stored gains
    kl_coef * mean KL(pi_old || pi_new), the exact KL of the two distributions (numpy)."""
    rng = np.random.default_rng(0)
    c, t, n, a, d = 3, 2, 2, 4, 5
    w_old = (0.3 * rng.normal(size=(d, 2 * a))).astype(np.float32)
    w_new = (w_old + 0.1 * rng.normal(size=(d, 2 * a))).astype(np.float32)
    x = rng.normal(size=(c, t, n, d)).astype(np.float32)
    if kind == "categorical":
        head, width = CategoricalHead(a), a
        mask = rng.random((c, t, n, a)) < 0.7
        mask[..., 0] = True
        action = np.argmax(np.where(mask, rng.random((c, t, n, a)), -1), -1)
    else:
        head, width = GaussianHead(a, -1.0, 1.0), 2 * a
        mask = np.broadcast_to(np.arange(a) < np.array([a, a - 1])[:, None], (c, t, n, a))
        action = np.where(mask, rng.normal(size=(c, t, n, a)), 0.0).astype(np.float32)
    out_old, out_new = x @ w_old[:, :width], x @ w_new[:, :width]
    policy = lambda h, xs, reset: (h, xs @ jnp.asarray(w_new[:, :width]))  # noqa: E731
    logp = head.dist(jnp.asarray(out_old), jnp.asarray(mask)).log_prob(jnp.asarray(action))
    zeros = jnp.zeros((c, t, n))
    batch = Batch(
        actor_in=jnp.asarray(x), mask=jnp.asarray(mask), action=jnp.asarray(action), logp=logp,
        obs=zeros[..., None], global_state=zeros, first=jnp.zeros((c, t), bool),
        adv=jnp.asarray(rng.normal(size=(c, t, n)), jnp.float32), target=zeros, old_v=zeros,
        actor_h0=jnp.zeros((c, n, 0)), critic_h0=jnp.zeros((c, n, 0)),
        alive=jnp.ones((c, t, n), bool),
    )  # fmt: skip
    if kind == "categorical":
        want_kl = _np_categorical_kl(out_old, out_new, mask).mean()
    else:
        want_kl = _np_gaussian_kl(out_old, out_new, mask, a).mean()
    assert want_kl > 1e-3
    plain, _ = _context(head, None).actor_loss(policy, batch)
    with_kl = batch._replace(old_out=jnp.asarray(out_old))
    penalized, stats = _context(head, jnp.float32(0.7)).actor_loss(policy, with_kl)
    np.testing.assert_allclose(stats["kl"], want_kl, rtol=1e-5)
    np.testing.assert_allclose(penalized - plain, 0.7 * want_kl, rtol=1e-4)
    # the KL of a distribution to itself is zero
    same = _context(head, 1.0).actor_loss(policy, batch._replace(old_out=jnp.asarray(out_new)))
    np.testing.assert_allclose(same[1]["kl"], 0.0, atol=1e-6)


# --------------------------------------------------------------------- training with the penalty
KL_RUN = (
    "env=matrix-table1", "ppo.kl_coef=0.2", "ppo.kl_target=1e-5", "keep_checkpoints=3", "split=envs"
)  # fmt: skip


def _rows(run):
    return [json.loads(x) for x in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def _assert_follow_the_rule(rows, init, target):
    """Per seed: the first update runs with the initial coefficient, each next one with RLlib's
    rule applied to the previous update's measured KL (either branch where the KL lies within
    float32 rounding of a threshold)."""
    for seed in {r["seed"] for r in rows}:
        mine = sorted((r for r in rows if r["seed"] == seed), key=lambda r: r["update"])
        assert mine[0]["kl_coef"] == pytest.approx(init, rel=1e-6)
        for prev, row in zip(mine[:-1], mine[1:], strict=True):
            near = min(abs(prev["kl"] / (f * target) - 1) for f in (0.5, 2.0)) < 1e-4
            allowed = {rllib_update_kl(prev["kl_coef"], prev["kl"], target)}
            if near:
                allowed |= {prev["kl_coef"] * f for f in (0.5, 1.0, 1.5)}
            assert any(row["kl_coef"] == pytest.approx(x, rel=1e-6) for x in allowed), row


@pytest.fixture(scope="module")
def kl_run(tmp_path_factory):
    """mappo with the penalty, 2 seeds, 8 updates in 4 calls (checkpoints 4, 6, 8)."""
    run = tmp_path_factory.mktemp("kl") / "run"
    train(tiny_config(*KL_RUN, "num_seeds=2", "total_timesteps=512", tmp_path=run))
    return run


def test_training_with_the_kl_penalty_adapts_its_coefficient(kl_run):
    rows = _rows(kl_run)
    assert len(rows) == 16
    for r in rows:
        assert np.isfinite([r[k] for k in ("actor_loss", "value_loss", "kl", "kl_coef")]).all()
        assert r["kl"] >= 0
    _assert_follow_the_rule(rows, 0.2, 1e-5)
    assert len({r["kl_coef"] for r in rows}) > 2  # the coefficient moved


def test_happo_continuous_with_the_kl_penalty(tmp_path):
    """HAPPO's agents each pay the penalty on their own KL (Gaussian heads here)."""
    args = ("algo=happo", "env=matrix-continuous", "ppo.kl_coef=0.3", "ppo.kl_target=1e-5")
    train(tiny_config(*args, tmp_path=tmp_path))
    rows = _rows(tmp_path)
    assert np.isfinite([[r["kl"], r["kl_coef"], r["actor_loss"]] for r in rows]).all()
    assert all(r["kl"] > 0 for r in rows)
    _assert_follow_the_rule(rows, 0.3, 1e-5)


def test_resume_of_a_kl_penalty_run_equals_the_uninterrupted_run(kl_run, tmp_path, capsys):
    """The coefficient is checkpointed: cut the metrics back to update 4, resume from
    checkpoint 4, and updates 5-8 (run with coefficients already adapted) come out the same."""
    run = tmp_path / "run"
    shutil.copytree(kl_run, run)
    names = tuple(k for k in _rows(run)[0] if k not in COLUMNS)
    MetricsWriter(run, names).truncate(4)
    capsys.readouterr()
    assert main(["train", f"resume={run}"]) == 0
    assert "resuming from 4" in capsys.readouterr().err
    rows, reference = _rows(run), _rows(kl_run)
    assert rows == reference
    assert all(r["kl_coef"] < 0.2 / 8 for r in rows if r["update"] > 4)


def test_vmapped_seeds_with_the_penalty_equal_the_runs_one_by_one(kl_run, tmp_path):
    train(tiny_config(*KL_RUN, "num_seeds=1", "seed=1", "total_timesteps=512", tmp_path=tmp_path))
    one = _rows(tmp_path)
    vmapped = [r for r in _rows(kl_run) if r["seed"] == 1]
    assert len(one) == len(vmapped) == 8
    for a, b in zip(one, vmapped, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k


def test_runs_without_the_penalty_keep_their_state_and_metrics():
    """No `kl`/`kl_coef` metrics and the bare optimizer state (checkpoints keep their
    structure) unless ppo.kl_coef > 0."""
    plain = make_trainer(tiny_config("env=matrix-table1"))
    kl = make_trainer(tiny_config("env=matrix-table1", "ppo.kl_coef=0.2"))
    assert "kl_coef" not in plain.metric_names and kl.metric_names[-2:] == ("kl", "kl_coef")
    key = jax.random.PRNGKey(0)
    bare = plain.init_learner(key).opt_state
    wrapped = kl.init_learner(key).opt_state
    assert jax.tree.structure(wrapped.inner) == jax.tree.structure(bare)
    assert float(wrapped.coef) == pytest.approx(0.2)


# --------------------------------------------------------------------- complete episodes
def test_complete_episodes_with_another_rollout_len_is_one_line():
    with pytest.raises(ConfigError) as e:
        tiny_config("env=rware-tiny-2ag", "ppo.complete_episodes=true", "ppo.rollout_len=64")
    assert str(e.value) == (
        "config key 'ppo.rollout_len': ppo.complete_episodes needs the episode's length 500 "
        "(the time limit of rware-tiny-2ag), got 64"
    )
    with pytest.raises(ConfigError, match="config key 'ppo.complete_episodes': needs a world"):
        tiny_config("env=jumanji-rware-tiny-2ag", "ppo.complete_episodes=true")  # collisions


def test_complete_episodes_skip_the_staggered_start():
    class Staggered:  # a world whose `stagger` moves the running episode on
        def reset(self, key):
            return jnp.zeros((), jnp.int32), jnp.zeros(())

        def stagger(self, state, key):
            return state + jax.random.randint(key, (), 1, 100)

    h = jnp.zeros((4, 1, 0))
    key = jax.random.PRNGKey(0)
    assert (init_runner(Staggered(), 4, key, h, h).env_state > 0).all()
    assert (init_runner(Staggered(), 4, key, h, h, stagger=False).env_state == 0).all()


@pytest.mark.slow  # 500 warehouse steps compiled and run twice: about 15 s
def test_every_rollout_is_whole_episodes():
    cfg = tiny_config(
        "env=rware-tiny-2ag", "ppo.complete_episodes=true", "ppo.rollout_len=500", "num_envs=2",
        "ppo.num_minibatches=1", "devices=1",
    )  # fmt: skip
    trainer = make_trainer(cfg)
    learner, runner = trainer.init()
    params, runner = jax.tree.map(lambda x: x[0], (learner.params, runner))
    rollout = jax.jit(trainer.trainer.rollout)
    for k in range(2):  # two updates' rollouts: each starts an episode and ends it, truncated
        runner, traj, _ = rollout(params, runner, jax.random.PRNGKey(k))
        first = np.asarray(traj.first)  # after an episode's end (the very first reset: not)
        assert (first[0].all() or k == 0) and not first[1:].any()
        assert np.asarray(traj.truncated[-1]).all() and not np.asarray(traj.truncated[:-1]).any()
        assert not np.asarray(traj.terminated).any()

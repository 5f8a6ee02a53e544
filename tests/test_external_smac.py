"""The adapter's SMACv2 translation (through a stand-in of SMACv2's API), worker processes,
and faults: instances that raise, workers that die, injected failures; training goes on."""

import os
import subprocess
import sys
from contextlib import contextmanager
from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config
from smac_standin import SmacStandIn

from acjax.envs.external import PoolOptions, make_smac_style
from acjax.envs.wrappers import AutoReset
from acjax.harness import make_trainer
from acjax.ppo import Batch

rware = pytest.importorskip("rware")

from acjax.envs.external import make_rware  # noqa: E402


def _masked_rollout(env, state, ts, key, steps, batch=(), focus=0.0):
    """`steps` steps of random available actions; `focus` adds to the logit of the first
    available attack (SMAC's actions from 6 on), so that agents focus fire and win."""
    step = env.step
    for _ in batch:
        step = jax.vmap(step)

    def body(carry, k):
        st, ts = carry
        m = ts.action_mask
        first_attack = jnp.argmax(m & (jnp.arange(m.shape[-1]) >= 6), axis=-1)[..., None]
        bonus = focus * (jnp.arange(m.shape[-1]) == first_attack)
        a = jax.random.categorical(k, jnp.where(m, bonus, -jnp.inf))
        st, nts = step(st, a)
        return (st, nts), (a, nts)

    keys = jax.random.split(key, steps)
    return jax.jit(lambda c, ks: jax.lax.scan(body, c, ks))((state, ts), keys)


def test_smac_style_translation_death_masks_wins_and_a_protocol_error():
    kw = dict(seed=7, episode_limit=6, error_at=(2, 2))
    w = make_smac_style("standin", partial(SmacStandIn, **kw))
    s = w.spec
    assert (s.num_agents, s.obs_dim, s.state_dim, s.num_actions, s.max_steps) == (3, 6, 11, 8, 6)
    assert s.agents_die and s.metrics == ("win_rate", "restarts")
    env = AutoReset(w)
    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
    steps = 40
    _, (actions, out) = _masked_rollout(env, state, ts, jax.random.PRNGKey(1), steps, focus=2.0)
    out = jax.tree.map(np.asarray, out)

    raw = SmacStandIn(**kw)  # SMACv2's API stepped directly with the same actions
    raw.reset()
    np.testing.assert_allclose(ts.obs, np.stack(raw.get_obs()))
    seen = {"error": 0, "won": 0, "lost": 0, "limit": 0, "dead": 0}
    t_ep = 0
    for t in range(steps):
        last_obs, last_state = np.stack(raw.get_obs()), raw.get_state()
        reward, term, info = raw.step(np.asarray(actions[t]))
        t_ep += 1
        if term and not info:  # a protocol error: the pool restarts the instance
            seen["error"] += 1
            assert out.restarts[t] == 1 and out.truncated[t] and not out.terminated[t]
            assert out.reward[t] == 0 and not out.won[t]
            np.testing.assert_allclose(out.final_obs[t], last_obs)
            np.testing.assert_allclose(out.final_global_state[t], last_state)
            raw = SmacStandIn(**kw)
            raw.reset()
            t_ep = 0
        else:
            won, dead = info["battle_won"], ~raw.alive()
            over = won or dead.all()
            seen["dead"] += int(dead.any() and not over)
            assert out.restarts[t] == 0 and out.won[t] == won
            assert out.reward[t] == pytest.approx(reward)
            np.testing.assert_allclose(out.final_obs[t], np.stack(raw.get_obs()))
            np.testing.assert_allclose(out.final_global_state[t], raw.get_state(), atol=1e-6)
            limit = term and not over  # SMACv2 calls its time limit `terminated`
            assert out.truncated[t] == limit and out.terminated[t] == (term and not limit)
            if term:
                seen["won" if won else "lost" if dead.all() else "limit"] += 1
                raw.reset()
                t_ep = 0
        # what the agents see next: dead agents' observations zeroed, only the no-op for them
        np.testing.assert_allclose(out.obs[t], np.stack(raw.get_obs()))
        mask = np.asarray(raw.get_avail_actions(), bool)
        assert (out.action_mask[t] == mask).all() and (out.alive[t] == raw.alive()).all()
        assert (out.obs[t][~raw.alive()] == 0).all() and (mask[~raw.alive(), 1:] == 0).all()
    assert seen["error"] > 0 and seen["dead"] > 0, seen
    assert seen["won"] > 0 and seen["lost"] + seen["limit"] > 0, seen
    assert w.pool.restarts == seen["error"]


def test_dead_agents_are_masked_out_of_the_policy_loss():
    w = make_smac_style("standin", partial(SmacStandIn, episode_limit=6))
    trainer = make_trainer(tiny_config("algo=acpo", "devices=1"), env=w)
    learner, _ = trainer.init()
    actor = jax.tree.map(lambda x: x[0], learner.params["actor"])
    n, a, b = 3, 8, 16
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    obs = jax.random.normal(k[0], (b, n, 6))
    actor_in = trainer.algo.acting.inputs(obs)
    alive = jax.random.bernoulli(k[1], 0.6, (b, n)).at[0].set(True)
    one = lambda x: x[:, None]  # noqa: E731  (chunks of one step)
    z = jnp.zeros((b, 1, n))
    batch = Batch(
        actor_in=one(actor_in), mask=jnp.ones((b, 1, n, a), bool),
        action=one(jax.random.randint(k[2], (b, n), 0, a)), logp=one(-jnp.ones((b, n))),
        obs=one(obs), global_state=jnp.zeros((b, 1, 11)), first=jnp.ones((b, 1), bool),
        adv=one(jax.random.normal(k[3], (b, n))), target=z, old_v=z,
        actor_h0=jnp.zeros((b, n, 0)), critic_h0=jnp.zeros((b, n, 0)), alive=one(alive),
    )  # fmt: skip
    loss_fn = jax.jit(lambda p, mb: trainer.context().actor_loss(trainer.actor.step(p), mb))
    loss, stats = loss_fn(actor, batch)
    # what dead agents did cannot change the loss: their advantages and old log-probs replaced
    noise = batch._replace(
        adv=jnp.where(one(alive), batch.adv, 1e6), logp=jnp.where(one(alive), batch.logp, -50.0)
    )
    loss2, stats2 = loss_fn(actor, noise)
    assert float(loss2) == pytest.approx(float(loss), rel=1e-6)
    assert float(stats2["approx_kl"]) == pytest.approx(float(stats["approx_kl"]), rel=1e-6)
    # where agents cannot die (rware), every agent counts
    assert not make_rware("tiny", 2, "normal").spec.agents_die


def _rware_rollout(options, steps=12, envs=4, max_steps=5):
    w = make_rware("tiny", 2, "normal", max_steps=max_steps, options=options)
    env = AutoReset(w)
    state, ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(3), envs))
    _, (actions, out) = _masked_rollout(env, state, ts, jax.random.PRNGKey(4), steps, (envs,))
    return w.pool, ts, jax.tree.map(np.asarray, out)


def test_worker_processes_step_like_this_process_and_survive_injected_faults():
    local_pool, ts0, local = _rware_rollout(PoolOptions())
    pool, ts1, workers = _rware_rollout(PoolOptions(workers=2))
    np.testing.assert_array_equal(ts0.obs, ts1.obs)
    chex.assert_trees_all_equal(local, workers)
    assert pool.host_calls == local_pool.host_calls and pool.instance_steps == [12] * 4
    # workers killed mid-rollout and steps that raise: restarted, nothing else changes
    opts = PoolOptions(workers=2, fault_rate=0.05, worker_fault_rate=0.1, fault_seed=2)
    pool, _, faulty = _rware_rollout(opts)
    assert pool.executor.deaths > 0 and pool.restarts > 0
    assert pool.instance_steps == [12] * 4 and int(faulty.restarts.sum()) == pool.restarts
    hit = faulty.restarts.astype(bool)
    assert (faulty.truncated[hit]).all() and (faulty.reward[hit] == 0).all()
    # until its first fault, every environment follows the fault-free trajectory exactly; the
    # faulty step ends its episode at the last observation it had
    for e in range(4):
        first = int(np.argmax(hit[:, e])) if hit[:, e].any() else len(hit)
        np.testing.assert_array_equal(faulty.obs[:first, e], local.obs[:first, e])
        np.testing.assert_array_equal(faulty.reward[:first, e], local.reward[:first, e])
        if 0 < first < len(hit):
            np.testing.assert_array_equal(faulty.final_obs[first, e], local.obs[first - 1, e])


@contextmanager
def _busy_cores():
    """One CPU-bound process per core for the duration: the machine under load."""
    spin = [sys.executable, "-c", "while True: pass"]
    procs = [subprocess.Popen(spin) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_a_hung_worker_is_replaced():
    """Only a call's answer is timed, never a worker's start-up (importing JAX, seconds when the
    cores are busy): on a loaded machine exactly the hung step restarts. Without the
    replacement (`_Workers._replace` doing nothing) the retry hangs too and the step raises."""
    opts = PoolOptions(workers=1, timeout_s=1.0)
    w = make_smac_style("standin", partial(SmacStandIn, hang_at=(0, 3)), opts)
    env = AutoReset(w)
    with _busy_cores():
        state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
        _, (_, out) = _masked_rollout(env, state, ts, jax.random.PRNGKey(1), 5)
    assert np.asarray(out.restarts).tolist() == [0, 0, 1, 0, 0]
    assert bool(out.truncated[2]) and w.pool.executor.deaths == 1
    w.pool.close()


def test_training_goes_on_through_injected_faults(tmp_path):
    from acjax.run import train

    # two devices: their shards call the host from two threads at once (the pool serializes)
    cfg = tiny_config(
        "env=external-rware-tiny-2ag", "devices=2", "external.fault_rate=0.02",
        "external.workers=1", "external.worker_fault_rate=0.05", f"run_dir={tmp_path}",
    )  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "finished" and summary["restarts"] > 0
    import json

    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["restarts"] for r in rows) == summary["restarts"]
    for r in rows:
        assert all(np.isfinite(r[k]) for k in ("actor_loss", "value_loss", "entropy"))


def test_smac_style_training_reports_the_win_rate(tmp_path):
    from acjax.run import train

    w = make_smac_style("standin", partial(SmacStandIn, episode_limit=6))
    cfg = tiny_config(
        "algo=mappo", "devices=1", "net.rnn=gru", "ppo.chunk_len=4", f"run_dir={tmp_path}"
    )
    summary = train(cfg, env=w)
    rates = [x for x in summary["final_win_rates"] if x is not None]
    assert rates and all(0 <= x <= 1 for x in rates) and summary["restarts"] == 0


def test_smacv2_without_starcraft_is_a_one_line_error(capsys, monkeypatch):
    from acjax import cli
    from acjax.envs import external

    monkeypatch.setattr(external, "smacv2_missing", lambda: "the smacv2 package is not installed")
    assert cli.main(["train", "env=smacv2-protoss_5_vs_5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "smacv2 package is not installed" in err
    assert "SC2PATH" in err and "pip install" in err
    assert cli.main(["train", "env=smacv2-protoss_6_vs_6"]) == 2
    assert "protoss_10_vs_11" in capsys.readouterr().err

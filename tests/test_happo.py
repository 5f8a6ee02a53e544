"""HAPPO: the factor M, the agent order, one agent training alone, and a short run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from acjax import losses
from acjax.algos.happo import agent_order, put_agent, sequential_agents, take_agent
from acjax.harness import make_trainer
from acjax.nets import masked_categorical
from acjax.ppo import Batch
from acjax.run import train
from acjax.runner import AXIS

ENV = "env=jumanji-rware-tiny-4ag"


@pytest.fixture(scope="module")
def trainer():
    return make_trainer(tiny_config("algo=happo", ENV))


def test_factor_is_one_first_then_product_of_earlier_ratios():
    n, b = 5, 7
    ratios = jax.random.uniform(jax.random.PRNGKey(0), (n, b), minval=0.5, maxval=1.5)
    order = jnp.array([3, 0, 4, 1, 2])
    params = {"w": jnp.zeros((n, 2))}
    opt_state = {"count": jnp.zeros((n,), jnp.int32)}

    def step(k, p_k, s_k, factor, key):  # agent k "trains": marks its slice, reports its ratio
        p_k = jax.tree.map(lambda x: x + 1.0 + k, p_k)
        s_k = jax.tree.map(lambda x: x + 1, s_k)
        return p_k, s_k, ratios[k], {"factor_sum": jnp.sum(factor)}

    params, opt_state, factors, aux = jax.jit(sequential_agents, static_argnums=0)(
        step, order, params, opt_state, jnp.ones((b,)), jax.random.split(jax.random.PRNGKey(1), n)
    )
    r, m = np.asarray(ratios, np.float64), np.ones(b)
    for j, k in enumerate(np.asarray(order)):
        np.testing.assert_allclose(factors[j], m, rtol=1e-6)
        m = m * r[k]
    np.testing.assert_array_equal(factors[0], 1.0)
    np.testing.assert_allclose(aux["factor_sum"], np.asarray(factors).sum(-1), rtol=1e-6)
    # every agent trained exactly once, on its own slice
    np.testing.assert_array_equal(params["w"], np.broadcast_to(1.0 + np.arange(n)[:, None], (n, 2)))
    np.testing.assert_array_equal(opt_state["count"], 1)


def test_weighted_surrogate_matches_numpy(trainer):  # the loss HAPPO's agents train on
    b, a, eps = 64, 5, trainer.cfg.ppo.clip_eps
    ks = jax.random.split(jax.random.PRNGKey(2), 5)
    logits = jax.random.normal(ks[0], (b, a))
    mask = jax.random.bernoulli(ks[1], 0.7, (b, a)).at[:, 0].set(True)
    action = jnp.zeros((b,), jnp.int32)
    mb = dict(
        mask=mask,
        action=action,
        logp=jax.random.normal(ks[2], (b,)) * 0.3 - 1.0,
        adv=jax.random.normal(ks[3], (b,)),
    )
    factor = jax.random.uniform(ks[4], (b,), minval=0.2, maxval=3.0)

    def policy_loss(logits, mb, factor):
        logp = masked_categorical(logits, mb["mask"]).log_prob(mb["action"])
        return losses.ppo_surrogate(logp, mb["logp"], mb["adv"], eps, factor)

    pg, stats = policy_loss(logits, mb, factor)
    lg = np.where(np.asarray(mask), np.asarray(logits, np.float64), -np.inf)
    logp = lg[:, 0] - np.log(np.exp(lg - lg.max(-1, keepdims=True)).sum(-1)) - lg.max(-1)
    r = np.exp(logp - np.asarray(mb["logp"]))
    adv = np.asarray(mb["adv"])
    ref = -np.mean(np.asarray(factor) * np.minimum(r * adv, np.clip(r, 1 - eps, 1 + eps) * adv))
    np.testing.assert_allclose(pg, ref, rtol=1e-5)
    # M is data: the gradient of the loss is M-weighted, M itself gets none (it is not clipped)
    g = jax.grad(lambda f: policy_loss(logits, mb, f)[0])(factor)
    np.testing.assert_allclose(
        g, -np.minimum(r * adv, np.clip(r, 1 - eps, 1 + eps) * adv) / b, 1e-5
    )


def test_agent_order_is_a_permutation_that_depends_on_the_key():
    orders = {tuple(np.asarray(agent_order(jax.random.PRNGKey(s), 6))) for s in range(20)}
    assert all(sorted(o) == list(range(6)) for o in orders) and len(orders) > 10
    np.testing.assert_array_equal(
        agent_order(jax.random.PRNGKey(3), 6), agent_order(jax.random.PRNGKey(3), 6)
    )


def test_only_the_training_agent_changes(trainer):
    learner, _ = trainer.init()
    params = jax.tree.map(lambda x: x[0], learner.params["actor"])  # seed 0, [N, ...]
    opt_state = jax.tree.map(lambda x: x[0], learner.opt_state["actor"])
    n, b, a = trainer.spec.num_agents, 32, trainer.spec.num_actions
    d = trainer.spec.obs_dim + n
    ks = jax.random.split(jax.random.PRNGKey(4), 4)
    actor_in = jax.random.normal(ks[0], (b, n, d))
    mask = jnp.ones((b, n, a), bool)
    action = jax.random.randint(ks[1], (b, n), 0, a)
    h = jnp.zeros((b, n, 0))
    logits = lambda p: trainer.actor.apply(p, h, actor_in, False)[1]  # noqa: E731
    logp = masked_categorical(logits(params), mask).log_prob(action)
    seq = lambda x: x[:, None]  # noqa: E731  (chunks of one step, as feed-forward nets use)
    zeros = jnp.zeros((b, 1, n))
    batch = Batch(
        actor_in=seq(actor_in), mask=seq(mask), action=seq(action), logp=seq(logp),
        obs=zeros[..., None], global_state=zeros, first=jnp.zeros((b, 1), bool),
        adv=seq(jax.random.normal(ks[2], (b, n))), target=zeros, old_v=zeros, actor_h0=h,
        critic_h0=h, alive=jnp.ones((b, 1, n), bool),
    )  # fmt: skip
    factor = jax.random.uniform(ks[3], (b, 1), minval=0.5, maxval=2.0)
    k = 2

    def update(params, opt_state):  # agent k's step on the stacked parameters
        step = trainer.algo.optimization.agent_step(trainer.context(), batch)
        kk = jnp.int32(k)
        p_k, s_k, ratio, aux = step(
            kk, take_agent(params, kk), take_agent(opt_state, kk), factor, jax.random.PRNGKey(5)
        )
        return put_agent(params, kk, p_k), put_agent(opt_state, kk, s_k), ratio, aux

    # one-device axis 'd' for the gradients' pmean
    new_p, new_s, ratio, aux = jax.jit(jax.vmap(update, axis_name=AXIS))(
        *jax.tree.map(lambda x: x[None], (params, opt_state))
    )
    new_p, new_s, ratio = jax.tree.map(lambda x: x[0], (new_p, new_s, ratio))
    others = np.array([i for i in range(n) if i != k])
    for old, new in zip(
        jax.tree.leaves((params, opt_state)), jax.tree.leaves((new_p, new_s)), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(old)[others], np.asarray(new)[others])
    changed = [
        not np.array_equal(np.asarray(o)[k], np.asarray(w)[k])
        for o, w in zip(jax.tree.leaves(params), jax.tree.leaves(new_p), strict=True)
    ]
    assert all(changed)
    counts = [x for x in jax.tree.leaves(new_s) if x.dtype == jnp.int32]
    steps = trainer.cfg.ppo.epochs * trainer.cfg.ppo.num_minibatches
    assert counts and all(
        np.asarray(c)[k] == steps and np.asarray(c)[others].sum() == 0 for c in counts
    )
    new_logp = masked_categorical(logits(new_p), mask).log_prob(action)
    np.testing.assert_allclose(ratio[:, 0], np.exp(new_logp[:, k] - logp[:, k]), rtol=1e-5)
    assert np.all(np.isfinite(np.asarray(aux["actor_loss"])))


def test_orders_in_the_compiled_update_come_from_the_seed_and_no_recompile(
    trainer, backend_compiles
):
    learner, runner = trainer.init()
    keys = np.asarray(learner.key)  # [seeds, 2]; the learner is donated below
    n = trainer.spec.num_agents
    learner, runner, m1 = trainer.compile(learner, runner, 2)(learner, runner)
    n_first = len(backend_compiles)
    learner, runner, m2 = trainer.compile(learner, runner, 2)(learner, runner)
    jax.block_until_ready(m2)
    assert len(backend_compiles) == n_first
    orders = np.concatenate([m1["agent_order"], m2["agent_order"]], axis=1)  # [seeds, 4, N]
    key = jnp.asarray(keys[0])
    expected = []
    for _ in range(4):  # PPOTrainer.update: key, k_roll, k_opt = split(key); HAPPO: split(k_opt)
        key, _, k_opt = jax.random.split(key, 3)
        expected.append(np.asarray(agent_order(jax.random.split(k_opt, 3)[0], n)))
    np.testing.assert_array_equal(orders[0], np.stack(expected))
    assert len({tuple(o) for o in orders[0]}) > 1  # a new order at each update
    for name in ("actor_loss", "value_loss", "grad_norm", "entropy"):
        assert np.all(np.isfinite(np.concatenate([m1[name], m2[name]], axis=1))), name


def test_short_run_through_train_writes_outputs(tmp_path):
    cfg = tiny_config("algo=happo", ENV, "net.share_params=true", tmp_path=tmp_path)
    assert cfg.net.share_params is False  # happo always runs per-agent parameters
    summary = train(cfg)
    for f in ("config.yaml", "metrics.jsonl", "metrics.csv", "summary.json"):
        assert (tmp_path / f).is_file(), f
    assert (tmp_path / "checkpoints").is_dir()
    assert summary["algo"] == "happo" and summary["env_steps"] == 256
    assert "share_params: false" in (tmp_path / "config.yaml").read_text()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    for r in rows:
        vals = [r["actor_loss"], r["value_loss"], r["entropy"], r["grad_norm"], r["approx_kl"]]
        assert np.isfinite(vals).all()

"""HATRPO: conjugate gradient, the Fisher-vector product, the line search, the KL bound of one
update, and the config errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config
from jax.flatten_util import ravel_pytree

from acjax import losses
from acjax.algos.hatrpo import conjugate_gradient, fisher_vector_product, line_search
from acjax.cli import main
from acjax.config import ConfigError, load_config
from acjax.harness import make_trainer
from acjax.nets import GaussianHead, masked_categorical
from acjax.ppo import Batch
from acjax.run import train
from acjax.runner import AXIS

ENV = "env=jumanji-rware-tiny-4ag"


def test_conjugate_gradient_solves_a_random_spd_system():
    rng = np.random.default_rng(0)
    n = 12
    q = rng.normal(size=(n, n))
    a = q @ q.T / n + 0.5 * np.eye(n)
    b = rng.normal(size=n)
    matvec = lambda v: jnp.asarray(a, jnp.float32) @ v  # noqa: E731
    x, r = jax.jit(lambda b: conjugate_gradient(matvec, b, 40))(jnp.asarray(b, jnp.float32))
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)
    # a fixed number of iterations: fewer than needed give a worse, still finite, answer
    x3, r3 = conjugate_gradient(matvec, jnp.asarray(b, jnp.float32), 3)
    err = lambda y: np.linalg.norm(a @ np.asarray(y, np.float64) - b)  # noqa: E731
    assert np.isfinite(err(x3)) and err(x3) > 10 * err(x)
    # the residual it returns is b - A x (HATRPO's x^T A x = x^T (b - r))
    np.testing.assert_allclose(r3, b - a @ np.asarray(x3, np.float64), rtol=1e-3, atol=1e-4)
    # converged early (b an eigenvector): later iterations leave x as it is, no 0/0
    w, v = np.linalg.eigh(a)
    x1, _ = conjugate_gradient(matvec, jnp.asarray(v[:, 0], jnp.float32), 20)
    np.testing.assert_allclose(x1, v[:, 0] / w[0], rtol=1e-3, atol=1e-4)


def _tiny_net(key, d_in, d_out):
    k1, k2 = jax.random.split(key)
    params = {
        "w1": jax.random.normal(k1, (d_in, 5)) / np.sqrt(d_in),
        "b1": jnp.zeros(5) + 0.1,
        "w2": jax.random.normal(k2, (5, d_out)),
    }
    flat, unravel = ravel_pytree(params)

    def apply(f, x):
        p = unravel(f)
        return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"]

    return flat, apply


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_fisher_vector_product_is_the_kl_hessian(kind):
    b, d, a, damping = 16, 3, 4, 0.1
    ks = jax.random.split(jax.random.PRNGKey(0), 4)
    x = jax.random.normal(ks[0], (b, d))
    if kind == "categorical":
        flat, apply = _tiny_net(ks[1], d, a)
        mask = jax.random.bernoulli(ks[2], 0.7, (b, a)).at[:, 0].set(True)

        def kl(old, new):
            return jnp.mean(losses.categorical_kl(old, new, mask))
    else:
        head = GaussianHead(a, -1.0, 1.0)
        flat, apply = _tiny_net(ks[1], d, 2 * a)
        mask = jnp.ones((b, a), bool).at[:, -1].set(False)  # a padded dimension

        def kl(old, new):
            return jnp.mean(head.kl(old, new, mask))

    outputs = lambda f: apply(f, x)  # noqa: E731
    _, fvp, _ = fisher_vector_product(outputs, kl, flat, damping, axis_name=None)
    hess = jax.hessian(lambda f: kl(jax.lax.stop_gradient(outputs(flat)), outputs(f)))(flat)
    hess = np.asarray(hess, np.float64)
    assert np.abs(hess).max() > 1e-3  # not trivially zero
    for i in range(3):
        v = jax.random.normal(jax.random.fold_in(ks[3], i), flat.shape)
        np.testing.assert_allclose(
            jax.jit(fvp)(v), hess @ np.asarray(v) + damping * np.asarray(v), rtol=2e-4, atol=2e-5
        )


def _reference_search(improve, kl, expected, thr, ratio, steps, coeff):
    """HARL's loop (`harl/algorithms/actors/hatrpo.py::HATRPO.update`) in plain Python."""
    fraction, exp = 1.0, expected
    for i in range(steps):
        gain, k = improve(fraction), kl(fraction)
        if k < thr and gain > 0 and gain / exp > ratio:
            return fraction, True, i + 1
        exp *= coeff
        fraction *= coeff
    return 0.0, False, steps


@pytest.mark.parametrize(
    "expected, curvature, kl_full, outcome",
    [
        (1.0, 0.1, 0.005, (1.0, True, 1)),  # the full step is inside and improves
        (1.0, 0.1, 0.04, (0.25, True, 3)),  # KL 0.04 f^2: first under 0.01 at f = 1/4
        (1.0, 1.6, 0.001, (0.25, True, 3)),  # gain f - 1.6 f^2 > f/2 first at f = 1/4
        (1.0, 0.1, 0.01, (0.5, True, 2)),  # KL exactly at the bound is rejected
        (1.0, -1.0, 1e6, (0.0, False, 10)),  # never inside the bound
        (-1.0, 0.0, 0.001, (0.0, False, 10)),  # no predicted improvement: nothing accepted
    ],
)
def test_line_search_accepts_and_rejects_as_specified(expected, curvature, kl_full, outcome):
    thr, ratio, steps, coeff = 0.01, 0.5, 10, 0.5
    improve = lambda f: expected * f - curvature * f**2  # noqa: E731
    kl = lambda f: kl_full * f**2  # noqa: E731
    search, at = jax.jit(
        lambda e: line_search(
            lambda f: (improve(f), kl(f), f * jnp.ones(2)), e, thr, ratio, steps, coeff,
            -jnp.ones(2),
        )
    )(jnp.float32(expected))  # fmt: skip
    got = (float(search.fraction), bool(search.accepted), int(search.tries))
    assert got == outcome
    # what the accepted try computed, or the fallback when none is accepted
    np.testing.assert_allclose(at, outcome[0] if outcome[1] else -1.0)
    assert got == _reference_search(improve, kl, expected, thr, ratio, steps, coeff)


def test_line_search_matches_harls_loop_on_random_cases():
    rng = np.random.default_rng(1)
    fn = jax.jit(
        lambda e, c, k: line_search(
            lambda f: (e * f - c * f**2, k * f**2, ()), e, 0.01, 0.5, 10, 0.8
        )[0]
    )
    for _ in range(30):
        e, c, k = rng.uniform(0.01, 1.0), rng.uniform(-0.5, 3.0), 10 ** rng.uniform(-4, 0)
        s = fn(jnp.float32(e), jnp.float32(c), jnp.float32(k))
        gain = lambda f, e=e, c=c: e * f - c * f**2  # noqa: E731
        ref = _reference_search(gain, lambda f, k=k: k * f**2, e, 0.01, 0.5, 10, 0.8)
        np.testing.assert_allclose(float(s.fraction), ref[0], rtol=1e-5)
        assert (bool(s.accepted), int(s.tries)) == ref[1:]


@pytest.fixture(scope="module")
def trainer():
    return make_trainer(tiny_config("algo=hatrpo", ENV, "hatrpo.kl_threshold=0.003"))


def _batch(trainer, params, key, b=64):
    """A batch of b one-step chunks: actions sampled from the agents' policies, random
    advantages (ratio 1 before the update)."""
    n, a = trainer.spec.num_agents, trainer.spec.num_actions
    ks = jax.random.split(key, 3)
    actor_in = jax.random.normal(ks[0], (b, n, trainer.spec.obs_dim + n))
    mask = jnp.ones((b, n, a), bool)
    h = jnp.zeros((b, n, 0))
    dist = masked_categorical(trainer.actor.apply(params, h, actor_in, False)[1], mask)
    action = dist.sample(seed=ks[1])
    seq = lambda x: x[:, None]  # noqa: E731
    zeros = jnp.zeros((b, 1, n))
    batch = Batch(
        actor_in=seq(actor_in), mask=seq(mask), action=seq(action),
        logp=seq(dist.log_prob(action)), obs=jnp.zeros((b, 1, n, trainer.spec.obs_dim)),
        global_state=jnp.zeros((b, 1, trainer.spec.state_dim)), first=jnp.zeros((b, 1), bool),
        adv=seq(jax.random.normal(ks[2], (b, n))), target=zeros, old_v=zeros, actor_h0=h,
        critic_h0=h, alive=jnp.ones((b, 1, n), bool),
    )  # fmt: skip
    return batch, actor_in, mask


def test_update_keeps_every_agents_kl_under_the_threshold(trainer):
    learner, _ = trainer.init()
    params, opt_state = jax.tree.map(lambda x: x[0], (learner.params, learner.opt_state))
    batch, actor_in, mask = _batch(trainer.trainer, params["actor"], jax.random.PRNGKey(3))
    ctx = trainer.trainer.context()
    thr = trainer.cfg.hatrpo.kl_threshold

    def update(params, opt_state):
        return ctx.algo.optimization.optimize(
            ctx, params, opt_state, batch, losses.ValueNorm.create(), jax.random.PRNGKey(4)
        )

    new_p, _, metrics = jax.jit(jax.vmap(update, axis_name=AXIS))(
        *jax.tree.map(lambda x: x[None], (params, opt_state))
    )
    new_p, metrics = jax.tree.map(lambda x: x[0], (new_p, metrics))
    h = jnp.zeros((*actor_in.shape[:2], 0))
    old = trainer.trainer.actor.apply(params["actor"], h, actor_in, False)[1]
    new = trainer.trainer.actor.apply(new_p["actor"], h, actor_in, False)[1]
    kl = np.asarray(jnp.mean(losses.categorical_kl(old, new, mask), axis=0))  # per agent
    assert float(metrics["ls_accepted"]) == 1.0  # every agent took a step
    assert np.all(kl <= thr * (1 + 1e-4)) and np.all(kl > 0.05 * thr), (kl, thr)
    np.testing.assert_allclose(float(metrics["kl"]), kl.mean(), rtol=1e-3)
    assert sorted(np.asarray(metrics["agent_order"]).tolist()) == list(range(len(kl)))


def test_shared_parameters_are_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        tiny_config("algo=hatrpo", ENV, "net.share_params=true")
    msg = str(err.value)
    assert msg.startswith("config key 'net.share_params': hatrpo trains per-agent") and (
        "\n" not in msg
    )
    f = tmp_path / "c.yaml"  # in a config file as well
    f.write_text("algo: hatrpo\nnet:\n  share_params: true\n")
    with pytest.raises(ConfigError, match="^config key 'net.share_params'"):
        load_config(f)
    # not asked for: per-agent parameters (the embedded default's `true` is no request)
    assert tiny_config("algo=hatrpo", ENV).net.share_params is False
    assert tiny_config("algo=hatrpo", ENV, "net.share_params=false").net.share_params is False
    assert tiny_config("algo=happo", ENV, "net.share_params=true").net.share_params is False
    with pytest.raises(ConfigError, match="^config key 'ppo.kl_coef': hatrpo has no KL penalty"):
        tiny_config("algo=hatrpo", ENV, "ppo.kl_coef=0.2")
    with pytest.raises(ConfigError, match="^config key 'hatrpo.backtrack_coeff'"):
        tiny_config("algo=hatrpo", ENV, "hatrpo.backtrack_coeff=1.5")


def _rows(path):
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_vmapped_seeds_and_a_resumed_run_repeat_the_run(tmp_path):
    """Seed 6 of three vmapped seeds, and seed 6 alone stopped after 2 updates and resumed to
    4, compute the same updates (each run's environments over both devices)."""
    base = ("algo=hatrpo", ENV, "updates_per_call=2")
    seeds = tmp_path / "seeds"
    train(tiny_config(*base, "num_seeds=3", "seed=5", "total_timesteps=256", tmp_path=seeds))
    run = tmp_path / "resumed"
    train(tiny_config(*base, "seed=6", "total_timesteps=128", tmp_path=run))
    assert len(_rows(run)) == 2
    assert main(["train", f"resume={run}", "total_timesteps=256"]) == 0
    one, vmapped = _rows(run), [r for r in _rows(seeds) if r["seed"] == 6]
    assert len(one) == len(vmapped) == 4
    # equal up to rounding (the conjugate gradient amplifies the last bits of the programs'
    # different operation orders); another seed differs at the first digits
    for a, b in zip(vmapped, one, strict=True):
        for k in ("actor_loss", "value_loss", "kl", "entropy", "episode_return"):
            assert (a[k] is None and b[k] is None) or a[k] == pytest.approx(b[k], rel=2e-3), k
    other = [r["actor_loss"] for r in _rows(seeds) if r["seed"] == 5]
    assert other != [r["actor_loss"] for r in one]

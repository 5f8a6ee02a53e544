"""The PPO maths of `acjax.losses` against plain numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acjax.losses import (
    ValueNorm,
    entropy_loss,
    masked_mean,
    normalize_advantages,
    ppo_surrogate,
    value_loss,
)

RTOL, ATOL = 1e-5, 1e-6
EPS = 0.2


def np_surrogate(logp, old_logp, adv, eps, weight=1.0):
    r = np.exp(logp.astype(np.float64) - old_logp)
    per = weight * np.minimum(r * adv, np.clip(r, 1 - eps, 1 + eps) * adv)
    return -per, r


def np_huber(err, delta):
    a = np.abs(err)
    return np.where(a <= delta, 0.5 * err**2, delta * (a - 0.5 * delta))


def f32(x):
    return np.asarray(x, np.float32)


# ratios inside and outside [1 - eps, 1 + eps], each with positive and negative advantages
RATIOS = f32([0.5, 0.9, 1.0, 1.1, 1.5, 0.5, 0.9, 1.0, 1.1, 1.5])
ADV = f32([1.0, 2.0, -1.0, 0.5, 3.0, -2.0, -1.0, 4.0, -0.5, -3.0])
OLD_LOGP = f32(np.linspace(-2.0, -0.1, RATIOS.size))
LOGP = f32(OLD_LOGP + np.log(RATIOS))


# masked_mean -----------------------------------------------------------------------------------


def test_masked_mean():
    x = f32([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_allclose(masked_mean(x), 3.5, rtol=RTOL)
    valid = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_allclose(masked_mean(x, valid), (1 + 3 + 6) / 3, rtol=RTOL)
    # broadcast: one flag per row
    np.testing.assert_allclose(masked_mean(x, np.array([[False], [True]])), 5.0, rtol=RTOL)
    # float weights
    w = f32([[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    np.testing.assert_allclose(masked_mean(x, w), (1 + 18) / 4, rtol=RTOL)
    # none valid -> 0, and NaN in masked entries does not leak
    assert float(masked_mean(x, np.zeros_like(valid))) == 0.0
    xn = x.copy()
    xn[0, 1] = np.nan
    np.testing.assert_allclose(masked_mean(xn, valid), (1 + 3 + 6) / 3, rtol=RTOL)
    g = jax.grad(lambda y: masked_mean(y, valid))(jnp.asarray(xn))
    np.testing.assert_allclose(g, valid / 3.0, rtol=RTOL)


# ppo_surrogate ---------------------------------------------------------------------------------


def test_surrogate_hand_computed():
    # r = 1.5, A = 2: min(3, 1.2 * 2) = 2.4; r = 0.5, A = -1: min(-0.5, 0.8 * -1) = -0.8
    # r = 1.1, A = -1: min(-1.1, -1.1) = -1.1; mean = (2.4 - 0.8 - 1.1) / 3 = 0.5/3
    r = f32([1.5, 0.5, 1.1])
    adv = f32([2.0, -1.0, -1.0])
    loss, stats = ppo_surrogate(jnp.log(r), jnp.zeros(3), adv, 0.2)
    np.testing.assert_allclose(loss, -0.5 / 3, rtol=1e-5)
    np.testing.assert_allclose(stats["actor_loss"], -0.5 / 3, rtol=1e-5)
    np.testing.assert_allclose(stats["clip_frac"], 2 / 3, rtol=1e-6)


def test_surrogate_vs_numpy_and_stats():
    loss, stats = ppo_surrogate(LOGP, OLD_LOGP, ADV, EPS)
    per, r = np_surrogate(LOGP, OLD_LOGP, ADV, EPS)
    np.testing.assert_allclose(loss, per.mean(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(stats["actor_loss"], loss)
    kl = np.mean((r - 1) - np.log(r))
    assert kl > 0.01
    np.testing.assert_allclose(stats["approx_kl"], kl, rtol=1e-4)
    # |r - 1| > 0.2 for r in {0.5, 1.5}: 4 of 10
    assert stats["clip_frac"].dtype == jnp.float32
    np.testing.assert_allclose(stats["clip_frac"], 0.4, rtol=1e-6)
    # the per-entry surrogate is clipped exactly where expected
    unclipped = -(RATIOS * ADV)
    clipped_ix = [4, 5]  # r = 1.5 with A > 0, r = 0.5 with A < 0
    for i in clipped_ix:
        assert not np.isclose(per[i], unclipped[i])
    for i in [0, 9]:  # r = 0.5 with A > 0 and r = 1.5 with A < 0: pessimistic, not clipped
        np.testing.assert_allclose(per[i], unclipped[i], rtol=1e-5)


def test_surrogate_gradient_zero_where_clipped():
    grad = jax.grad(lambda lp: ppo_surrogate(lp, OLD_LOGP, ADV, EPS)[0])(jnp.asarray(LOGP))
    grad = np.asarray(grad)
    n = RATIOS.size
    # d/dlogp of -min(r A, clip(r) A)/n: -r A / n where the unclipped term is active, else 0
    active = ~(((RATIOS > 1 + EPS) & (ADV > 0)) | ((RATIOS < 1 - EPS) & (ADV < 0)))
    expected = np.where(active, -RATIOS * ADV / n, 0.0)
    assert (~active).sum() == 2
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
    assert np.all(grad[~active] == 0.0)
    assert np.all(grad[active & (ADV != 0)] != 0.0)


def test_surrogate_weight():
    w = f32(np.linspace(0.5, 2.0, RATIOS.size))
    loss, _ = ppo_surrogate(LOGP, OLD_LOGP, ADV, EPS, weight=w)
    per, _ = np_surrogate(LOGP, OLD_LOGP, ADV, EPS, weight=w)
    np.testing.assert_allclose(loss, per.mean(), rtol=RTOL, atol=ATOL)
    loss2, _ = ppo_surrogate(LOGP, OLD_LOGP, ADV, EPS, weight=2.0)
    np.testing.assert_allclose(loss2, 2 * np_surrogate(LOGP, OLD_LOGP, ADV, EPS)[0].mean(), 1e-5)
    # broadcast: [T, agents] data with a per-agent weight
    lp, olp, a = (x.reshape(5, 2) for x in (LOGP, OLD_LOGP, ADV))
    wa = f32([0.5, 3.0])
    loss3, _ = ppo_surrogate(lp, olp, a, EPS, weight=wa)
    np.testing.assert_allclose(loss3, np_surrogate(lp, olp, a, EPS, wa)[0].mean(), rtol=1e-5)


def test_surrogate_valid_mask():
    valid = np.array([True, False] * 5)
    loss, stats = ppo_surrogate(LOGP, OLD_LOGP, ADV, EPS, valid=valid)
    per, r = np_surrogate(LOGP, OLD_LOGP, ADV, EPS)
    np.testing.assert_allclose(loss, per[valid].mean(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(stats["approx_kl"], np.mean(((r - 1) - np.log(r))[valid]), 1e-4)
    np.testing.assert_allclose(stats["clip_frac"], np.mean(np.abs(r[valid] - 1) > EPS), 1e-6)
    # changing masked entries changes nothing
    lp2 = LOGP.copy()
    lp2[~valid] += 3.0
    adv2 = ADV.copy()
    adv2[~valid] = -100.0
    loss2, stats2 = ppo_surrogate(lp2, OLD_LOGP, adv2, EPS, valid=valid)
    np.testing.assert_allclose(loss2, loss, rtol=1e-6)
    np.testing.assert_allclose(stats2["approx_kl"], stats["approx_kl"], rtol=1e-6)
    g = jax.grad(lambda lp: ppo_surrogate(lp, OLD_LOGP, ADV, EPS, valid=valid)[0])(LOGP)
    assert np.all(np.asarray(g)[~valid] == 0.0)


# value_loss ------------------------------------------------------------------------------------


def test_value_loss_huber_regions():
    target = f32([0.0, 0.0, 0.0, 0.0])
    v = f32([0.5, -2.0, 5.0, -12.0])  # delta 3: two quadratic, two linear
    old_v = np.zeros(4, np.float32)
    got = value_loss(v, target, old_v, kind="huber", huber_delta=3.0)
    ref = np_huber(v - target, 3.0)
    np.testing.assert_allclose(ref, [0.125, 2.0, 3 * (5 - 1.5), 3 * (12 - 1.5)])
    np.testing.assert_allclose(got, ref.mean(), rtol=RTOL)
    # default delta 10: only |-12| is in the linear region (10 * (12 - 5) = 70, not 72)
    ref10 = np.array([0.125, 2.0, 12.5, 70.0])
    np.testing.assert_allclose(np_huber(v, 10.0), ref10)
    np.testing.assert_allclose(value_loss(v, target, old_v), ref10.mean(), rtol=RTOL)


def test_value_loss_mse():
    rng = np.random.default_rng(0)
    v, t, ov = (f32(rng.normal(size=(4, 3)) * 5) for _ in range(3))
    got = value_loss(v, t, ov, kind="mse")
    np.testing.assert_allclose(got, 0.5 * np.mean((v - t) ** 2), rtol=RTOL)


def test_value_loss_clip_takes_larger_error():
    c = 0.2
    old_v = f32([0.0, 0.0, 0.0, 0.0, 1.0])
    v = f32([1.0, 1.0, 0.1, -1.0, 1.5])
    target = f32([0.0, 2.0, 0.05, 0.0, 3.0])
    # v_clip = [0.2, 0.2, 0.1, -0.2, 1.2]
    # err    = [1.0, -1.0, 0.05, -1.0, -1.5]; err_clip = [0.2, -1.8, 0.05, -0.2, -1.8]
    expected_err = f32([1.0, -1.8, 0.05, -1.0, -1.8])
    v_clip = old_v + np.clip(v - old_v, -c, c)
    err, err_c = v - target, v_clip - target
    np.testing.assert_allclose(
        np.where(np.abs(err_c) > np.abs(err), err_c, err), expected_err, rtol=1e-6
    )
    got = value_loss(v, target, old_v, kind="mse", value_clip=c)
    np.testing.assert_allclose(got, 0.5 * np.mean(expected_err**2), rtol=RTOL)
    got_h = value_loss(v, target, old_v, kind="huber", huber_delta=1.0, value_clip=c)
    np.testing.assert_allclose(got_h, np_huber(expected_err, 1.0).mean(), rtol=RTOL)
    # the clip changes the loss, and value_clip=0 disables it
    unclipped = value_loss(v, target, old_v, kind="mse")
    np.testing.assert_allclose(unclipped, 0.5 * np.mean(err**2), rtol=RTOL)
    assert float(got) > float(unclipped) + 0.1


def test_value_loss_valid_and_unknown_kind():
    v = f32([1.0, 2.0, 30.0])
    t = f32([0.0, 0.0, 0.0])
    valid = np.array([True, True, False])
    np.testing.assert_allclose(
        value_loss(v, t, t, kind="mse", valid=valid), 0.5 * (1 + 4) / 2, rtol=RTOL
    )
    np.testing.assert_allclose(
        value_loss(v, t, t, kind="huber", huber_delta=1.0, valid=valid), (0.5 + 1.5) / 2, RTOL
    )
    with pytest.raises(ValueError):
        value_loss(v, t, t, kind="l1")


# entropy_loss ----------------------------------------------------------------------------------


def test_entropy_loss():
    ent = f32([[0.5, 1.0], [1.5, 2.0]])
    np.testing.assert_allclose(entropy_loss(ent, 0.01), -0.01 * 1.25, rtol=RTOL)
    valid = np.array([[True, False], [True, False]])
    np.testing.assert_allclose(entropy_loss(ent, 0.1, valid=valid), -0.1 * 1.0, rtol=RTOL)
    g = jax.grad(lambda e: entropy_loss(e, 0.1))(jnp.asarray(ent))
    np.testing.assert_allclose(g, np.full((2, 2), -0.1 / 4), rtol=RTOL)


# normalize_advantages --------------------------------------------------------------------------


def _adv(seed=0, shape=(6, 4, 3)):
    rng = np.random.default_rng(seed)
    # agents with very different scales so that joint and per-agent differ
    return f32(rng.normal(size=shape) * np.array([1.0, 5.0, 0.2]) + np.array([0.0, 3.0, -1.0]))


def test_normalize_advantages_joint():
    adv = _adv()
    got = np.asarray(normalize_advantages(adv))
    a = adv.astype(np.float64)
    ref = (a - a.mean()) / (a.std() + 1e-8)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(got.std(), 1.0, rtol=1e-4)


def test_normalize_advantages_per_agent():
    adv = _adv()
    got = np.asarray(normalize_advantages(adv, per_agent=True))
    a = adv.astype(np.float64)
    ref = (a - a.mean(axis=(0, 1))) / (a.std(axis=(0, 1)) + 1e-8)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.std(axis=(0, 1)), np.ones(3), rtol=1e-4)
    assert not np.allclose(got, np.asarray(normalize_advantages(adv)), atol=1e-2)


@pytest.mark.parametrize("per_agent", [False, True])
def test_normalize_advantages_axis_name(per_agent):
    adv = _adv(1, shape=(8, 2, 3))
    shards = adv.reshape(2, 4, 2, 3)  # two devices, each with 4 of the 8 time steps
    f = lambda x: normalize_advantages(x, per_agent=per_agent, axis_name="d")
    got = np.asarray(jax.vmap(f, axis_name="d")(shards)).reshape(adv.shape)
    a = adv.astype(np.float64)
    axes = (0, 1) if per_agent else None
    ref = (a - a.mean(axis=axes)) / (a.std(axis=axes) + 1e-8)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    # without the pmean each shard would use its own statistics, which differ
    local = np.asarray(jax.vmap(lambda x: normalize_advantages(x, per_agent))(shards))
    assert not np.allclose(local.reshape(adv.shape), ref, atol=1e-3)


# ValueNorm -------------------------------------------------------------------------------------


def test_value_norm_create():
    vn = ValueNorm.create()
    for leaf in vn:
        assert leaf.shape == () and leaf.dtype == jnp.float32 and float(leaf) == 0.0
    mean, std = vn.stats()
    assert float(mean) == 0.0
    np.testing.assert_allclose(std, 0.1, rtol=1e-6)  # var clamped at 1e-2


def test_value_norm_updates_vs_numpy():
    beta = 0.9
    rng = np.random.default_rng(0)
    batches = [f32(rng.normal(loc=5.0 + i, scale=2.0, size=(4, 3))) for i in range(6)]
    vn = ValueNorm.create()
    m = m2 = d = 0.0
    for x in batches:
        vn = vn.update(x, beta=beta)
        xd = x.astype(np.float64)
        m = beta * m + (1 - beta) * xd.mean()
        m2 = beta * m2 + (1 - beta) * (xd**2).mean()
        d = beta * d + (1 - beta)
        np.testing.assert_allclose(vn.mean, m, rtol=1e-5)
        np.testing.assert_allclose(vn.mean_sq, m2, rtol=1e-5)
        np.testing.assert_allclose(vn.debias, d, rtol=1e-5)
        mean_ref = m / max(d, 1e-5)
        std_ref = np.sqrt(max(m2 / max(d, 1e-5) - mean_ref**2, 1e-2))
        mean, std = vn.stats()
        np.testing.assert_allclose(mean, mean_ref, rtol=1e-5)
        np.testing.assert_allclose(std, std_ref, rtol=1e-3)
    # the debiased mean tracks the data (~5..10), not the biased EMA
    assert 5.0 < float(vn.stats()[0]) < 10.5
    assert float(vn.stats()[1]) > 1.0


def test_value_norm_update_axis_name():
    rng = np.random.default_rng(2)
    x = f32(rng.normal(loc=3.0, size=(2, 5)))
    upd = lambda s: ValueNorm.create().update(s, beta=0.5, axis_name="d")
    vns = jax.vmap(upd, axis_name="d")(x)
    ref = ValueNorm.create().update(x, beta=0.5)
    for got, want in zip(vns, ref, strict=True):
        np.testing.assert_allclose(got, np.full(2, float(want)), rtol=1e-6)
    np.testing.assert_allclose(ref.mean, 0.5 * x.astype(np.float64).mean(), rtol=1e-6)


def test_value_norm_stats_clamping():
    # constant data: variance 0 -> clamped at 1e-2
    vn = ValueNorm(jnp.float32(2.0), jnp.float32(4.0), jnp.float32(1.0))
    mean, std = vn.stats()
    np.testing.assert_allclose(mean, 2.0, rtol=1e-6)
    np.testing.assert_allclose(std, 0.1, rtol=1e-5)
    # tiny debias: clamped at 1e-5
    vn = ValueNorm(jnp.float32(1e-7), jnp.float32(1e-6), jnp.float32(1e-8))
    mean, std = vn.stats()
    np.testing.assert_allclose(mean, 1e-7 / 1e-5, rtol=1e-5)
    np.testing.assert_allclose(std, np.sqrt(1e-6 / 1e-5 - 1e-4), rtol=1e-4)


def test_value_norm_normalize_denormalize():
    vn = ValueNorm(jnp.float32(0.3), jnp.float32(2.0), jnp.float32(0.1))
    mean, std = 3.0, np.sqrt(20.0 - 9.0)
    x = f32([-5.0, 0.0, 3.0, 12.5])
    np.testing.assert_allclose(vn.normalize(x), (x - mean) / std, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vn.denormalize(x), x * std + mean, rtol=1e-5)
    np.testing.assert_allclose(vn.denormalize(vn.normalize(x)), x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vn.normalize(vn.denormalize(x)), x, rtol=1e-5, atol=1e-5)

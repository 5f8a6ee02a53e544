"""The continuous worlds: `matrix-continuous` and the heterogeneous test world (tests/worlds.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from worlds import ACTION_SIZES, MAX_STEPS, OBS_SIZES, HeteroWorld

from acjax.envs.matrix import (
    HIGH_OPTIMUM,
    HIGH_VALUE,
    LOW_OPTIMUM,
    LOW_VALUE,
    ContinuousMatrixGame,
    continuous_payoff,
)
from acjax.envs.registry import make


def payoff_np(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    low = 5 * np.exp(-((x + 0.5) ** 2 + (y + 0.5) ** 2) / (2 * 0.4**2))
    high = 10 * np.exp(-((x - 0.6) ** 2 + (y - 0.6) ** 2) / (2 * 0.08**2))
    return low + high


def act(x, y):
    return jnp.array([[x], [y]], jnp.float32)


# ---------------------------------------------------------------- matrix-continuous


def test_matrix_continuous_spec_and_registry():
    env = make("matrix-continuous")
    assert isinstance(env, ContinuousMatrixGame)
    s = env.spec
    assert (s.name, s.num_agents, s.obs_dim, s.state_dim, s.num_actions, s.max_steps) == (
        "matrix-continuous", 2, 1, 1, 1, 1,
    )  # fmt: skip
    assert s.action_type == "continuous" and s.continuous
    assert (s.action_low, s.action_high) == (-1.0, 1.0)
    assert env.obs_sizes == (1, 1) and env.action_sizes == (1, 1)
    # the discrete games still resolve, unknown names still name themselves
    assert make("matrix-climbing").spec.action_type == "discrete"
    with pytest.raises(ValueError, match="unknown env 'matrix-continuous2'; did you mean"):
        make("matrix-continuous2")
    with pytest.raises(ValueError, match="unknown env 'continuous'"):
        make("continuous")


def test_matrix_continuous_reset_and_step_shapes():
    env = make("matrix-continuous")
    state, ts = env.reset(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(ts.obs, np.ones((2, 1), np.float32))
    np.testing.assert_array_equal(ts.global_state, np.ones(1, np.float32))
    assert ts.action_mask.dtype == jnp.bool_ and ts.action_mask.shape == (2, 1)
    assert ts.action_mask.all() and not ts.done
    _, ts = env.step(state, act(0.1, -0.2))
    assert bool(ts.terminated) and not bool(ts.truncated)
    assert ts.reward.dtype == jnp.float32 and ts.reward.shape == ()
    np.testing.assert_array_equal(ts.agent_rewards, [ts.reward, ts.reward])


def test_matrix_continuous_rewards_match_the_formula():
    env = make("matrix-continuous")
    state, _ = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    assert HIGH_OPTIMUM == (0.6, 0.6) and LOW_OPTIMUM == (-0.5, -0.5)
    assert HIGH_VALUE == pytest.approx(payoff_np(*HIGH_OPTIMUM), rel=1e-12)
    assert LOW_VALUE == pytest.approx(payoff_np(*LOW_OPTIMUM), rel=1e-12)
    assert HIGH_VALUE == pytest.approx(10.0, abs=0.01) and LOW_VALUE == pytest.approx(5.0, abs=1e-6)
    for x, y in [HIGH_OPTIMUM, LOW_OPTIMUM, (0, 0), (0.55, 0.62), (-1, 1), (1, 1), (-0.3, -0.7)]:
        _, ts = step(state, act(x, y))
        assert float(ts.reward) == pytest.approx(payoff_np(x, y), rel=1e-5, abs=1e-6), (x, y)
    _, ts = step(state, act(*HIGH_OPTIMUM))
    assert float(ts.reward) == pytest.approx(HIGH_VALUE, rel=1e-6)
    _, ts = step(state, act(*LOW_OPTIMUM))
    assert float(ts.reward) == pytest.approx(LOW_VALUE, rel=1e-6)
    # the module function agrees with numpy, for jax and numpy inputs
    xs = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(continuous_payoff(xs, xs[::-1]), payoff_np(xs, xs[::-1]), rtol=1e-5)
    np.testing.assert_allclose(continuous_payoff(xs, -xs, xp=np), payoff_np(xs, -xs), rtol=1e-12)


def test_matrix_continuous_clips_actions_inside_step():
    env = make("matrix-continuous")
    state, _ = env.reset(jax.random.PRNGKey(0))
    for x, y in [(3.0, -7.0), (1.5, 1.5), (-2.0, 0.3)]:
        _, ts = env.step(state, act(x, y))
        expected = payoff_np(np.clip(x, -1, 1), np.clip(y, -1, 1))
        assert float(ts.reward) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_matrix_continuous_high_is_global_low_is_local_with_wider_basin():
    g = np.linspace(-1, 1, 401)  # step 0.005: both optima lie on the grid
    x, y = np.meshgrid(g, g, indexing="ij")
    r = payoff_np(x, y)
    i, j = np.unravel_index(np.argmax(r), r.shape)
    assert (g[i], g[j]) == pytest.approx(HIGH_OPTIMUM, abs=1e-9)
    assert r.max() == pytest.approx(HIGH_VALUE, rel=1e-9)
    # discrete hill climbing: every grid point moves to its best 3x3 neighbour until it stops
    n = len(g)
    padded = np.pad(r, 1, constant_values=-np.inf)
    idx = np.arange(n * n).reshape(n, n)
    pidx = np.pad(idx, 1, constant_values=-1)
    shifts = [(di, dj) for di in range(3) for dj in range(3)]
    vals = np.stack([padded[di : di + n, dj : dj + n] for di, dj in shifts])
    nbrs = np.stack([pidx[di : di + n, dj : dj + n] for di, dj in shifts])
    nxt = np.take_along_axis(nbrs, vals.argmax(0)[None], 0)[0].reshape(-1)
    for _ in range(20):  # pointer jumping: 2**20 >> any path length
        nxt = nxt[nxt]
    peaks, counts = np.unique(nxt, return_counts=True)
    coords = [(round(g[p // n], 6), round(g[p % n], 6)) for p in peaks]
    assert sorted(coords) == sorted([HIGH_OPTIMUM, LOW_OPTIMUM]), "exactly two local maxima"
    basin = dict(zip(coords, counts / counts.sum(), strict=True))
    # ~88% of the square climbs to the low optimum, ~12% (mostly the far corner) to the high one
    assert basin[LOW_OPTIMUM] > 0.8 and basin[HIGH_OPTIMUM] < 0.2, basin
    assert basin[LOW_OPTIMUM] > 5 * basin[HIGH_OPTIMUM]
    # the low optimum is a strict local max: all 8 grid neighbours are lower
    li, lj = np.searchsorted(g, -0.5 - 1e-9), np.searchsorted(g, -0.5 - 1e-9)
    assert (r[li - 1 : li + 2, lj - 1 : lj + 2] <= r[li, lj]).all()
    assert np.sum(r[li - 1 : li + 2, lj - 1 : lj + 2] == r[li, lj]) == 1


def test_matrix_continuous_jit_vmap():
    env = make("matrix-continuous")
    e = 5
    state, ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), e))
    assert ts.obs.shape == (e, 2, 1) and ts.action_mask.shape == (e, 2, 1)
    a = jax.random.uniform(jax.random.PRNGKey(1), (e, 2, 1), jnp.float32, -1, 1)
    _, ts = jax.jit(jax.vmap(env.step))(state, a)
    assert ts.reward.shape == (e,) and ts.agent_rewards.shape == (e, 2) and ts.terminated.all()
    a = np.asarray(a)
    np.testing.assert_allclose(ts.reward, payoff_np(a[:, 0, 0], a[:, 1, 0]), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- HeteroWorld


def test_hetero_spec():
    env = HeteroWorld()
    s = env.spec
    assert s.action_type == "continuous" and (s.action_low, s.action_high) == (-1.0, 1.0)
    assert (s.num_agents, s.obs_dim, s.state_dim, s.num_actions, s.max_steps) == (3, 4, 6, 3, 5)
    assert env.obs_sizes == OBS_SIZES == (2, 4, 3)
    assert env.action_sizes == ACTION_SIZES == (1, 3, 2)
    np.testing.assert_array_equal(
        s.action_dim_mask(), [[1, 0, 0], [1, 1, 1], [1, 1, 0]]
    )  # fmt: skip


def test_hetero_padding_targets_and_truncation():
    env = HeteroWorld()
    state, ts = env.reset(jax.random.PRNGKey(0))
    obs_mask = np.arange(4)[None, :] < np.asarray(OBS_SIZES)[:, None]
    act_mask = env.spec.action_dim_mask()
    np.testing.assert_array_equal(ts.action_mask, act_mask)
    step = jax.jit(env.step)
    target = np.asarray(state.target)
    assert (target[~act_mask] == 0).all() and (np.abs(target[act_mask]) > 0).all()
    for t in range(MAX_STEPS):
        obs = np.asarray(ts.obs)
        assert (obs[~obs_mask] == 0.0).all(), "padded observation entries are exactly zero"
        for i, k in enumerate(ACTION_SIZES):
            np.testing.assert_array_equal(obs[i, :k], target[i, :k])
            assert obs[i, k] == pytest.approx(t / MAX_STEPS)
        np.testing.assert_array_equal(ts.global_state, target[act_mask])
        assert float(state.max_padded) == 0.0
        state, ts = step(state, env.optimal_actions(state))
        assert float(ts.reward) == 0.0
        assert bool(ts.truncated) == (t == MAX_STEPS - 1) and not bool(ts.terminated)
    assert float(state.max_padded) == 0.0
    assert float(state.max_abs) == pytest.approx(np.abs(target).max())


def test_hetero_reward_ignores_padded_dims_and_counters_record_them():
    env = HeteroWorld()
    state, _ = env.reset(jax.random.PRNGKey(1))
    target = np.asarray(state.target)
    mask = env.spec.action_dim_mask()
    a = np.asarray(jax.random.uniform(jax.random.PRNGKey(2), (3, 3), jnp.float32, -1, 1))
    a_masked = np.where(mask, a, 0.0)
    s1, ts1 = env.step(state, jnp.asarray(a_masked))
    s2, ts2 = env.step(state, jnp.asarray(a))  # padded dims carry junk
    expected = -np.sum(np.where(mask, (a - target) ** 2, 0.0))
    assert float(ts1.reward) == pytest.approx(expected, rel=1e-5)
    assert float(ts2.reward) == float(ts1.reward), "padded dims do not affect the reward"
    assert float(s1.max_padded) == 0.0
    assert float(s2.max_padded) == pytest.approx(np.abs(a[~mask]).max())
    assert float(s1.max_abs) == pytest.approx(np.abs(a[mask]).max())
    # out of bounds: the counter sees the raw action, the reward uses the clipped one
    big = np.where(mask, 3.0, 0.0).astype(np.float32)
    s3, ts3 = env.step(s1, jnp.asarray(big))
    assert float(s3.max_abs) == 3.0 and float(s3.max_padded) == 0.0
    expected = -np.sum(np.where(mask, (1.0 - target) ** 2, 0.0))
    assert float(ts3.reward) == pytest.approx(expected, rel=1e-5)
    # counters only grow
    s4, _ = env.step(s3, jnp.zeros((3, 3)))
    assert float(s4.max_abs) == 3.0


def test_hetero_jit_vmap():
    env = HeteroWorld()
    e = 4
    state, ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), e))
    assert ts.obs.shape == (e, 3, 4) and ts.global_state.shape == (e, 6)
    assert ts.action_mask.shape == (e, 3, 3) and ts.action_mask.dtype == jnp.bool_
    targets = np.asarray(state.target)
    assert not np.allclose(targets[0], targets[1]), "each env draws its own target"
    step = jax.jit(jax.vmap(env.step))
    key = jax.random.PRNGKey(1)
    for t in range(MAX_STEPS):
        key, k = jax.random.split(key)
        a = jax.random.uniform(k, (e, 3, 3), jnp.float32, -1, 1) * ts.action_mask
        state, ts = step(state, a)
        assert ts.reward.shape == (e,) and (np.asarray(ts.reward) <= 0).all()
        assert ts.agent_rewards.shape == (e, 3)
        np.testing.assert_array_equal(ts.agent_rewards, np.repeat(ts.reward[:, None], 3, 1))
        assert ts.truncated.all() == (t == MAX_STEPS - 1) and not ts.terminated.any()
    np.testing.assert_array_equal(state.max_padded, np.zeros(e))
    assert (np.asarray(state.max_abs) <= 1.0).all() and (np.asarray(state.max_abs) > 0).all()

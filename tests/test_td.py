"""Off-policy TD targets (acjax.td) against plain numpy loops over Appendix N's formulas."""

import numpy as np
import pytest

from acjax import td

GAMMA = 0.9


def _windows():
    """Windows of K = 4 transitions: no end, a termination inside, a truncation inside, both
    kinds at the last transition, a termination first, and a truncation followed by a
    termination (only the first end counts)."""
    term = np.zeros((7, 4), bool)
    trunc = np.zeros((7, 4), bool)
    term[1, 1] = True
    trunc[2, 2] = True
    term[3, 3] = True
    trunc[4, 3] = True
    term[5, 0] = True
    trunc[6, 1], term[6, 2] = True, True
    rewards = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    return rewards, term, trunc


def _reference_window(r, term, trunc):
    """(R, e, discount) by the definition: rewards up to the first end; no bootstrap after a
    termination; gamma^(e+1) to the next (or final) state of transition e otherwise."""
    total = 0.0
    for j in range(len(r)):
        total += GAMMA**j * r[j]
        if term[j]:
            return total, j, 0.0
        if trunc[j]:
            return total, j, GAMMA ** (j + 1)
    return total, len(r) - 1, GAMMA ** len(r)


def test_window_returns_stop_at_the_first_episode_end():
    rewards, term, trunc = _windows()
    ret, last, disc = td.window_returns(rewards, term, trunc, GAMMA)
    for b in range(len(rewards)):
        total, e, d = _reference_window(rewards[b], term[b], trunc[b])
        assert float(ret[b]) == pytest.approx(total, rel=1e-6)
        assert int(last[b]) == e and float(disc[b]) == pytest.approx(d, rel=1e-6)
    assert [int(x) for x in last] == [3, 1, 2, 3, 3, 0, 1]


@pytest.mark.parametrize("n", [1, 3])
def test_chained_k_step_targets_against_appendix_n(n):
    """(gamma')^(N-i) (r_t + ... + gamma^k r_{t+k} + gamma^(k+1) Q^(i+1)(s_{t+k+1}, a'^<=i,
    a'^(i+1))) for 1-based agent i, with Q^(N+1) read as agent 1's critic; windows stop at
    episode ends as in `_reference_window`."""
    rewards, term, trunc = _windows()
    rng = np.random.default_rng(1)
    q_at = rng.normal(size=(len(rewards), 4, n)).astype(np.float32)  # [window, e, agent]
    ret, last, disc = td.window_returns(rewards, term, trunc, GAMMA)
    q_boot = np.take_along_axis(q_at, np.asarray(last)[:, None, None], axis=1)[:, 0]
    y = np.asarray(td.chained_targets(ret, disc, q_boot, GAMMA))
    gp = GAMMA ** (1 / n)
    for b in range(len(rewards)):
        total, e, d = _reference_window(rewards[b], term[b], trunc[b])
        for i in range(1, n + 1):  # the paper's 1-based agents
            nxt = i % n  # 0-based index of agent i+1 (agent 1 after agent N)
            want = gp ** (n - i) * (total + d * q_at[b, e, nxt])
            assert y[b, i - 1] == pytest.approx(want, rel=1e-5, abs=1e-6), (b, i)
    # one agent: the plain k-step TD target of a centralized critic
    if n == 1:
        assert np.allclose(y[:, 0], td.td_targets(ret, disc, q_boot[:, 0]), atol=1e-6)


def test_chained_one_step_targets_against_appendix_n():
    """y^(i) = gamma' Q^(i+1)([s, a^<=i], a'^(i+1)) for i < N; y^(N) = r + gamma' Q^(1)(s', a'^(1))
    and no bootstrap after a termination."""
    n, rng = 4, np.random.default_rng(2)
    reward = rng.normal(size=5).astype(np.float32)
    terminated = np.array([False, True, False, False, True])
    q_same = rng.normal(size=(5, n)).astype(np.float32)
    q_next0 = rng.normal(size=5).astype(np.float32)
    y = np.asarray(td.chained_micro_targets(reward, terminated, q_same, q_next0, GAMMA))
    gp = GAMMA ** (1 / n)
    for b in range(5):
        for i in range(1, n):
            assert y[b, i - 1] == pytest.approx(gp * q_same[b, i], rel=1e-6)
        boot = 0.0 if terminated[b] else gp * q_next0[b]
        assert y[b, n - 1] == pytest.approx(reward[b] + boot, rel=1e-6)


def test_polyak():
    t = td.polyak({"w": np.zeros(3)}, {"w": np.ones(3)}, 0.005)
    assert np.allclose(t["w"], 0.005)

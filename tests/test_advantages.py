"""gae and chained_gae against plain references (docs/acpo.md §4)."""

import jax
import numpy as np
import pytest

from acjax.advantages import chained_gae, gae


def gae_reference(r, v, b, term, trunc, gamma, lam):
    t_len, batch = r.shape
    adv = np.zeros_like(v)
    for b_i in range(batch):
        nxt = 0.0
        for t in reversed(range(t_len)):
            done = term[t, b_i] or trunc[t, b_i]
            delta = r[t, b_i] + gamma * (0.0 if term[t, b_i] else b[t, b_i]) - v[t, b_i]
            nxt = delta + gamma * lam * (0.0 if done else nxt)
            adv[t, b_i] = nxt
    return adv


def random_rollout(seed, t=12, b=5, n=None, p_end=0.15):
    rng = np.random.default_rng(seed)
    shape = (t, b) if n is None else (t, b, n)
    r = rng.normal(size=(t, b)).astype(np.float64)
    v = rng.normal(size=shape)
    boot = rng.normal(size=(t, b))
    end = rng.random((t, b)) < p_end
    term = end & (rng.random((t, b)) < 0.5)
    trunc = end & ~term
    return r, v, boot, term, trunc


def test_gae_matches_reference_with_terminations_and_truncations():
    jax.config.update("jax_enable_x64", True)
    try:
        for seed in range(5):
            r, v, boot, term, trunc = random_rollout(seed)
            assert term.any() and trunc.any()
            adv, targets = gae(r, v, boot, term, trunc, 0.97, 0.9)
            ref = gae_reference(r, v, boot, term, trunc, 0.97, 0.9)
            np.testing.assert_allclose(adv, ref, atol=1e-12)
            np.testing.assert_allclose(targets, ref + v, atol=1e-12)
    finally:
        jax.config.update("jax_enable_x64", False)


def chained_reference_double_sum(r, v, boot, term, gm, lm):
    """Appendix D: A_k = sum_l (gm*lm)^l zeta_{k+l} over the flat micro-step sequence, no episode
    end inside the rollout (term only at the very end allowed)."""
    t_len, batch, n = v.shape
    adv = np.zeros_like(v)
    for b_i in range(batch):
        zeta = []
        for t in range(t_len):
            for i in range(n):
                if i < n - 1:
                    zeta.append(gm * v[t, b_i, i + 1] - v[t, b_i, i])
                else:
                    bt = 0.0 if term[t, b_i] else boot[t, b_i]
                    zeta.append(r[t, b_i] + gm * bt - v[t, b_i, i])
        zeta = np.array(zeta)
        for k in range(t_len * n):
            w = (gm * lm) ** np.arange(t_len * n - k)
            adv[k // n, b_i, k % n] = np.sum(w * zeta[k:])
    return adv


@pytest.mark.parametrize("n", [2, 3, 5])
def test_chained_gae_equals_appendix_d_double_sum(n):
    r, v, boot, _, _ = random_rollout(10 + n, t=6, b=3, n=n)
    none = np.zeros(r.shape, bool)
    gm, lm = 0.99 ** (1 / n), 0.95 ** (1 / n)
    adv, targets = chained_gae(r, v, boot, none, none, gm, lm)
    ref = chained_reference_double_sum(r, v, boot, none, gm, lm)
    np.testing.assert_allclose(adv, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(targets, ref + v, rtol=1e-4, atol=1e-4)


def test_chained_gae_with_one_agent_equals_gae():
    r, v, boot, term, trunc = random_rollout(3, n=1)
    a1, t1 = chained_gae(r, v, boot, term, trunc, 0.97, 0.9)
    a2, t2 = gae(r, v[..., 0], boot, term, trunc, 0.97, 0.9)
    np.testing.assert_allclose(np.asarray(a1)[..., 0], a2, atol=1e-5)
    np.testing.assert_allclose(np.asarray(t1)[..., 0], t2, atol=1e-5)


def test_chained_gae_lambda_one_gives_discounted_micro_step_return():
    n, t_len = 3, 5
    r, v, boot, _, _ = random_rollout(4, t=t_len, b=2, n=n)
    boot[:-1] = v[1:, :, 0]  # inside the rollout B_t is the next state's value V(x_{t+1}, id=0)
    none = np.zeros(r.shape, bool)
    gm = 0.9 ** (1 / n)
    adv, _ = chained_gae(r, v, boot, none, none, gm, 1.0)
    for b_i in range(2):
        for t in range(t_len):
            for i in range(n):
                k = t * n + i
                # rewards arrive at micro-steps t'*N + N-1; bootstrap after the last step
                ret = sum(gm ** (tp * n + n - 1 - k) * r[tp, b_i] for tp in range(t, t_len))
                ret += gm ** (t_len * n - k) * boot[-1, b_i]
                np.testing.assert_allclose(adv[t, b_i, i], ret - v[t, b_i, i], rtol=1e-4, atol=1e-4)


def test_chained_gae_no_credit_across_episode_end_and_bootstrap_rules():
    n, t_len = 2, 4
    r, v, boot, _, _ = random_rollout(5, t=t_len, b=1, n=n)
    term = np.zeros((t_len, 1), bool)
    trunc = np.zeros((t_len, 1), bool)
    term[1, 0] = True
    gm, lm = 0.9, 0.8
    adv, _ = chained_gae(r, v, boot, term, trunc, gm, lm)
    # changing anything after the end leaves advantages up to the end unchanged
    r2, v2 = r.copy(), v.copy()
    r2[2:] += 100.0
    v2[2:] += 50.0
    adv2, _ = chained_gae(r2, v2, boot, term, trunc, gm, lm)
    np.testing.assert_allclose(np.asarray(adv)[:2], np.asarray(adv2)[:2], atol=1e-5)
    # terminated: the bootstrap value is ignored; truncated: it is used
    boot3 = boot.copy()
    boot3[1] += 7.0
    adv3, _ = chained_gae(r, v, boot3, term, trunc, gm, lm)
    np.testing.assert_allclose(np.asarray(adv3)[:2], np.asarray(adv)[:2], atol=1e-5)
    adv4, _ = chained_gae(r, v, boot3, trunc, term, gm, lm)  # now truncated at t=1
    adv5, _ = chained_gae(r, v, boot, trunc, term, gm, lm)
    np.testing.assert_allclose(adv4[1, 0, -1] - adv5[1, 0, -1], gm * 7.0, rtol=1e-5)


def discount_cumsum(x, rate):
    """RLlib's discount_cumsum: y[k] = sum_j rate^j x[k + j]."""
    out, acc = np.zeros_like(x), 0.0
    for k in reversed(range(len(x))):
        acc = x[k] + rate * acc
        out[k] = acc
    return out


def authors_serialized(rewards, values, last_r, gamma, lam):
    """A plain numpy port of the authors' serialized GAE for one episode (their
    `agent_chained_critic.py::compute_serialized_advantages`): values [T, N] flattened into T*N
    micro-steps, the reward on each step's last micro-step, gamma' = gamma^(1/N), lambda' =
    lambda, the next micro-step's value in each TD residual (agent 0's at the next step after
    the last agent), the episode's last micro-step bootstrapping from `last_r`; advantages
    [T, N]."""
    t_len, n = values.shape
    vf = np.concatenate([values.reshape(-1), [last_r]])
    rew = np.zeros(t_len * n)
    rew[n - 1 :: n] = rewards
    g = gamma ** (1.0 / n)
    delta = rew + g * vf[1:] - vf[:-1]
    return discount_cumsum(delta, g * lam).reshape(t_len, n)


def test_chained_gae_with_lambda_micro_lambda_equals_the_authors_loop():
    """lambda' = lambda (`acpo.lambda_micro=lambda`): chained_gae equals the authors' loop run on
    each episode separately, as RLlib post-processes them, with their bootstrap `last_r` = 0
    after a termination and the value of the state after the last step otherwise (a
    truncation, or the rollout's end)."""
    jax.config.update("jax_enable_x64", True)
    try:
        gamma, lam, n = 0.99, 0.95, 4
        ends = []
        for seed in range(4):
            r, v, boot, term, trunc = random_rollout(30 + seed, t=15, b=4, n=n)
            ends.append((term.any(), trunc.any()))
            # inside an episode, the value of the state after step t is agent 0's at t + 1
            goes_on = ~(term | trunc)[:-1]
            boot[:-1] = np.where(goes_on, v[1:, :, 0], boot[:-1])
            adv, _ = chained_gae(r, v, boot, term, trunc, gamma ** (1 / n), lam)
            want = np.zeros_like(v)
            for b_i in range(r.shape[1]):
                start = 0
                for t in range(r.shape[0]):
                    if term[t, b_i] or trunc[t, b_i] or t == r.shape[0] - 1:
                        last_r = 0.0 if term[t, b_i] else boot[t, b_i]
                        seg = slice(start, t + 1)
                        want[seg, b_i] = authors_serialized(
                            r[seg, b_i], v[seg, b_i], last_r, gamma, lam
                        )
                        start = t + 1
            np.testing.assert_allclose(np.asarray(adv), want, rtol=1e-10, atol=1e-10)
        assert np.all(np.any(ends, axis=0))  # terminations and truncations both occurred
    finally:
        jax.config.update("jax_enable_x64", False)

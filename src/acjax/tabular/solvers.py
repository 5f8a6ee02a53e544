"""Exact tabular solvers for small MMDPs (docs/acpo.md §7).

An MMDP is given as plain arrays:

* ``transition``: ``[S, A_0, ..., A_{N-1}, S']`` probabilities ``T(s' | s, a)``,
* ``reward``: ``[S, A_0, ..., A_{N-1}]`` the shared reward ``R(s, a)``,
* ``gamma``: the discount factor in ``[0, 1)``.

Agents are numbered ``0..N-1`` (the paper numbers them ``1..N``). Everything is plain float64
numpy and exact: policy evaluation is a linear solve, not sampling.

Solvers:

* :func:`optimal_value`: joint-action value iteration (the MMDP optimum, the target of
  Theorem 5.4).
* :func:`acpi`: Agent-Chained Policy Iteration with deterministic action distributions
  (paper Section 5, Algorithm 2).
* :func:`iterative_br`, :func:`simultaneous`: the two baselines of paper Section 2.2/Table 1,
  with decentralized stochastic policies ``pi_i(a_i | s)``.
* :func:`haspi`: heterogeneous-agent soft policy iteration (Liu et al., 2024), the HASPI columns
  of Table 1.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

# Probabilities must be non-negative and sum to one up to this tolerance.
_PROB_ATOL = 1e-8
# A greedy step only switches away from the current action when the gain exceeds
# _TIE_RTOL * (1 + |Q|); this keeps the current action on (numerical) ties and guarantees
# termination of the policy-iteration loops.
_TIE_RTOL = 1e-10


@dataclass(frozen=True)
class ACPIResult:
    """Result of :func:`acpi`.

    Attributes:
        policies: ``policies[i]`` is an int array of shape ``[S, A_0, ..., A_{i-1}]`` giving agent
            ``i``'s action in state ``s`` after the earlier agents played ``a_<i``.
        value: ``[S]`` value of the composed deterministic joint policy in the MMDP (discount
            ``gamma``, not the serialized ``gamma'``).
        iterations: number of evaluation/improvement rounds run, counting the final round that
            found no change.
        converged: whether the policies reached a fixed point within ``max_iter`` rounds.
    """

    policies: list[np.ndarray]
    value: np.ndarray
    iterations: int
    converged: bool


@dataclass(frozen=True)
class DecentralizedResult:
    """Result of :func:`iterative_br`, :func:`simultaneous` and :func:`haspi`.

    Attributes:
        policies: ``policies[i]`` is a float array ``[S, A_i]``, agent ``i``'s distribution over
            its own actions given the state only.
        value: ``[S]`` value of the product joint policy in the MMDP (plain reward, no entropy).
        iterations: number of rounds (sweeps over all agents) run, counting the final round
            that found no change.
        converged: whether a fixed point was reached within ``max_iter`` rounds.
    """

    policies: list[np.ndarray]
    value: np.ndarray
    iterations: int
    converged: bool


# --------------------------------------------------------------------------------------------
# Input handling and shared helpers
# --------------------------------------------------------------------------------------------


def _validate(transition, reward, gamma):
    """Return ``(T, R, gamma, action_sizes)`` as float64 arrays, or raise ValueError."""
    T = np.asarray(transition, dtype=np.float64)
    R = np.asarray(reward, dtype=np.float64)
    if R.ndim < 2:
        raise ValueError(
            f"reward must have shape [S, A_0, ..., A_(N-1)] with N >= 1, got shape {R.shape}"
        )
    S = R.shape[0]
    expected = (*R.shape, S)
    if T.shape != expected:
        raise ValueError(
            f"transition shape {T.shape} is inconsistent with reward shape {R.shape}: "
            f"expected [S, A_0, ..., A_(N-1), S'] = {expected}"
        )
    if S == 0 or 0 in R.shape:
        raise ValueError(f"every dimension must be non-empty, got reward shape {R.shape}")
    if not (np.all(np.isfinite(T)) and np.all(np.isfinite(R))):
        raise ValueError("transition and reward must be finite")
    if T.min() < -_PROB_ATOL or not np.allclose(T.sum(-1), 1.0, atol=_PROB_ATOL):
        raise ValueError("transition[s, a, :] must be a probability distribution over s'")
    gamma = float(gamma)
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    return T, R, gamma, tuple(int(n) for n in R.shape[1:])


def _flat(T, R):
    """Joint actions flattened: ``T -> [S, |A|, S']`` and ``R -> [S, |A|]``."""
    S = R.shape[0]
    return T.reshape(S, -1, S), R.reshape(S, -1)


def _solve_linear(P, r, gamma):
    """Exact policy evaluation: ``V = (I - gamma P)^-1 r``."""
    return np.linalg.solve(np.eye(P.shape[0]) - gamma * P, r)


def _greedy_keep(Q, current):
    """Greedy actions over the last axis of ``Q``; keep ``current`` unless strictly beaten."""
    q_cur = np.take_along_axis(Q, current[..., None], axis=-1)[..., 0]
    q_best = Q.max(axis=-1)
    improve = q_best > q_cur + _TIE_RTOL * (1.0 + np.abs(q_best))
    return np.where(improve, Q.argmax(axis=-1), current)


def _product_policy_matrices(T, R, policies):
    """``P_pi[s, s']`` and ``r_pi[s]`` of the product policy ``prod_i pi_i(a_i | s)``."""
    S = R.shape[0]
    joint = np.ones((S,))
    for pi in policies:  # outer product over agents, per state -> [S, A_0, ..., A_{N-1}]
        joint = joint[..., None] * pi.reshape((S,) + (1,) * (joint.ndim - 1) + (-1,))
    joint = joint.reshape(S, -1)
    Tf, Rf = _flat(T, R)
    return np.einsum("sa,sat->st", joint, Tf), np.einsum("sa,sa->s", joint, Rf)


def product_policy_value(transition, reward, gamma, policies):
    """Exact MMDP value ``[S]`` of decentralized policies ``policies[i]: [S, A_i]``."""
    T, R, gamma, _ = _validate(transition, reward, gamma)
    P, r = _product_policy_matrices(T, R, [np.asarray(p, dtype=np.float64) for p in policies])
    return _solve_linear(P, r, gamma)


def matrix_game(payoff, gamma=0.9):
    """Build the MMDP of a one-step 2-agent matrix game with payoff ``payoff[a_0, a_1]``.

    Choice: ``S = 2``. State 0 is the game; every joint action moves to state 1, which is
    absorbing with reward 0. So the value of state 0 under any joint policy is exactly the
    expected payoff, for any ``gamma`` (Table 1 and Appendix G consider the game at state 0).

    Returns ``(transition [2, A_0, A_1, 2], reward [2, A_0, A_1], gamma)``.
    """
    payoff = np.asarray(payoff, dtype=np.float64)
    if payoff.ndim != 2:
        raise ValueError(f"payoff must be a 2-D matrix [A_0, A_1], got shape {payoff.shape}")
    a0, a1 = payoff.shape
    transition = np.zeros((2, a0, a1, 2))
    transition[:, :, :, 1] = 1.0
    reward = np.zeros((2, a0, a1))
    reward[0] = payoff
    return transition, reward, float(gamma)


# --------------------------------------------------------------------------------------------
# Optimal value of the MMDP
# --------------------------------------------------------------------------------------------


def optimal_value(transition, reward, gamma, tol=1e-10, max_iter=1_000_000):
    """Optimal MMDP value ``V*[S]`` by joint-action value iteration.

    ``V <- max_a [R(s, a) + gamma sum_s' T(s'|s, a) V(s')]`` over joint actions ``a``. Stops when
    the sup-norm change is at most ``tol (1 - gamma) / gamma``, which bounds the error of the
    returned ``V`` by ``tol`` (standard contraction bound). Theorem 5.4 says ACPI attains this.
    """
    T, R, gamma, _ = _validate(transition, reward, gamma)
    Tf, Rf = _flat(T, R)
    threshold = tol * (1.0 - gamma) / gamma if gamma > 0 else np.inf
    V = np.zeros(R.shape[0])
    for _ in range(max_iter):
        V_new = (Rf + gamma * Tf @ V).max(axis=1)
        if np.max(np.abs(V_new - V)) <= threshold:
            return V_new
        V = V_new
    raise RuntimeError(f"optimal_value: value iteration did not reach tol={tol} in {max_iter}")


# --------------------------------------------------------------------------------------------
# ACPI (paper Section 5, Algorithm 2)
# --------------------------------------------------------------------------------------------


def acpi_joint_actions(policies):
    """Compose ACPI's chained policies into the joint action per state, int array ``[S, N]``.

    ``a_0 = pi_0(s)``, ``a_1 = pi_1(s, a_0)``, ..., ``a_i = pi_i(s, a_<i)``.
    """
    S = policies[0].shape[0]
    actions = np.zeros((S, len(policies)), dtype=np.int64)
    for s in range(S):
        for i, pi in enumerate(policies):
            actions[s, i] = pi[(s, *actions[s, :i])]
    return actions


def _acpi_init(init, S, sizes):
    N = len(sizes)
    if init is None:
        return [np.zeros((S, *sizes[:i]), dtype=np.int64) for i in range(N)]
    if len(init) != N:
        raise ValueError(f"init must hold one policy per agent ({N}), got {len(init)}")
    policies = []
    for i, pi in enumerate(init):
        pi = np.asarray(pi)
        shape = (S, *sizes[:i])
        if pi.shape != shape:
            raise ValueError(f"init[{i}] must have shape [S, A_0..A_{i - 1}] = {shape}")
        if not np.issubdtype(pi.dtype, np.integer) or pi.min() < 0 or pi.max() >= sizes[i]:
            raise ValueError(f"init[{i}] must hold integer actions in [0, {sizes[i]})")
        policies.append(pi.astype(np.int64))
    return policies


def _acpi_evaluate(T, R, gamma, policies):
    """Agent-chained policy evaluation (Algorithm 2, lines 3-7; Definition 5.1), exactly.

    Serialized MDP over micro-states ``(s, a_<i)`` with discount ``gamma' = gamma**(1/N)``;
    the reward ``R(s, a)`` arrives at agent ``N-1``'s micro-step, where the state moves
    ``s -> s'``. For deterministic policies the chained Bellman equations are

        Q_i(s, a_<i, a_i)    = gamma' V_{i+1}(s, a_<=i)                         (i < N-1)
        Q_{N-1}(s, a_<N, a)  = R(s, a) + gamma' sum_s' T(s'|s, a) V_0(s')
        V_i(s, a_<i)         = Q_i(s, a_<i, pi_i(s, a_<i)).

    This linear system is solved exactly: restricted to the micro-states ``(s, [])`` it reads
    ``V_0 = gamma'^(N-1) r_pi + gamma P_pi V_0`` (an ``S x S`` solve, with ``r_pi, P_pi`` those of
    the composed joint policy), and every other ``Q_i`` follows by back-substitution.
    Returns ``[Q_0, ..., Q_{N-1}]`` with ``Q_i`` of shape ``[S, A_0, ..., A_i]``.
    """
    S, N = R.shape[0], R.ndim - 1
    gp = gamma ** (1.0 / N)
    a = acpi_joint_actions(policies)
    idx = (np.arange(S), *a.T)
    V0 = _solve_linear(T[idx], gp ** (N - 1) * R[idx], gamma)
    Qs = [None] * N
    Qs[N - 1] = R + gp * T @ V0
    for i in range(N - 1, 0, -1):
        V_i = np.take_along_axis(Qs[i], policies[i][..., None], axis=-1)[..., 0]
        Qs[i - 1] = gp * V_i
    return Qs


def acpi(transition, reward, gamma, init=None, max_iter=1000):
    """Agent-Chained Policy Iteration, Algorithm 2 of the paper (deterministic ``phi``).

    Policy iteration on the serialized MDP (paper Section 3): micro-states ``(s, a_<i)``,
    deterministic in-step transitions that append ``a_i`` to the prefix, discount
    ``gamma' = gamma**(1/N)`` per micro-step, reward at the last micro-step. Each round
    evaluates all agents' ``Q_i`` exactly (:func:`_acpi_evaluate`) and then improves every agent
    in parallel, ``pi_i(s, a_<i) <- argmax_{a_i} Q_i(s, a_<i, a_i)`` (Eq. 1 / Algorithm 2 line 9),
    over *all* prefixes, keeping the current action on ties so the loop terminates. By
    Theorem 5.4 the fixed point is optimal for the MMDP from any deterministic initialization.

    Args:
        init: optional list of int arrays, ``init[i]`` of shape ``[S, A_0, ..., A_{i-1}]``;
            default all zeros (every agent plays action 0 for every prefix).

    Returns:
        :class:`ACPIResult`; its ``value`` is the composed joint policy's exact MMDP value.
    """
    T, R, gamma, sizes = _validate(transition, reward, gamma)
    S = R.shape[0]
    policies = _acpi_init(init, S, sizes)
    iterations, converged = max_iter, False
    for it in range(1, max_iter + 1):
        Qs = _acpi_evaluate(T, R, gamma, policies)
        new = [_greedy_keep(Q, pi) for Q, pi in zip(Qs, policies, strict=True)]
        if all(np.array_equal(p, q) for p, q in zip(new, policies, strict=True)):
            iterations, converged = it, True
            break
        policies = new
    a = acpi_joint_actions(policies)
    idx = (np.arange(S), *a.T)
    value = _solve_linear(T[idx], R[idx], gamma)
    return ACPIResult(policies=policies, value=value, iterations=iterations, converged=converged)


# --------------------------------------------------------------------------------------------
# Decentralized baselines: iterative best response, simultaneous update, HASPI
# --------------------------------------------------------------------------------------------


def _marginalize_others(x, policies, i):
    """``E_{a_-i ~ pi_-i(.|s)} x[s, a_0, ..., a_{N-1}, ...]`` -> ``[s, a_i, ...]``."""
    N = len(policies)
    letters = string.ascii_uppercase[:N]
    others = [j for j in range(N) if j != i]
    if not others:
        return x
    operands = ",".join(f"s{letters[j]}" for j in others)
    return np.einsum(
        f"s{letters}...,{operands}->s{letters[i]}...", x, *(policies[j] for j in others)
    )


def _reduced_mdp(T, R, policies, i):
    """Agent ``i``'s reduced MDP given the others' policies (paper Section 2.2, Iterative BR).

    ``T_i(s'|s, a_i) = E_{pi_-i} T(s'|s, a_i, a_-i)``, ``R_i(s, a_i) = E_{pi_-i} R(s, a_i, a_-i)``.
    """
    return _marginalize_others(T, policies, i), _marginalize_others(R, policies, i)


def _best_response(T, R, gamma, policies, i):
    """Deterministic exact best response of agent ``i`` (one-hot ``[S, A_i]``).

    Solves agent ``i``'s reduced MDP to optimality by policy iteration, started from the
    argmax of its current policy and keeping the current action on ties, so an action that
    is already a best response is never abandoned.
    """
    Ti, Ri = _reduced_mdp(T, R, policies, i)
    S, A = Ri.shape
    d = policies[i].argmax(axis=1)
    while True:
        V = _solve_linear(Ti[np.arange(S), d], Ri[np.arange(S), d], gamma)
        new = _greedy_keep(Ri + gamma * Ti @ V, d)
        if np.array_equal(new, d):
            return np.eye(A)[d]
        d = new


def _decentralized_init(init, S, sizes):
    if len(init) != len(sizes):
        raise ValueError(f"init must hold one policy per agent ({len(sizes)}), got {len(init)}")
    policies = []
    for i, pi in enumerate(init):
        pi = np.asarray(pi, dtype=np.float64)
        if pi.shape != (S, sizes[i]):
            raise ValueError(f"init[{i}] must have shape [S, A_{i}] = {(S, sizes[i])}")
        if pi.min() < -_PROB_ATOL or not np.allclose(pi.sum(-1), 1.0, atol=_PROB_ATOL):
            raise ValueError(f"init[{i}][s] must be a probability distribution over A_{i}")
        policies.append(pi.copy())
    return policies


def _finish(T, R, gamma, policies, iterations, converged):
    P, r = _product_policy_matrices(T, R, policies)
    value = _solve_linear(P, r, gamma)
    return DecentralizedResult(policies, value, iterations, converged)


def iterative_br(transition, reward, gamma, init, max_iter=1000):
    """Iterative best response (MA-PI style; paper Section 2.2 and Table 1 "Iterative BR").

    In each round agents ``0..N-1`` in turn replace their policy by a deterministic exact best
    response to the *current* policies of the others (earlier agents already updated this
    round). Stops at a round in which no policy changes: a Nash equilibrium in deterministic
    policies (or after ``max_iter`` rounds, ``converged=False``).

    Args:
        init: list of stochastic policies, ``init[i]`` of shape ``[S, A_i]``.
    """
    T, R, gamma, sizes = _validate(transition, reward, gamma)
    policies = _decentralized_init(init, R.shape[0], sizes)
    for it in range(1, max_iter + 1):
        changed = False
        for i in range(len(sizes)):
            new = _best_response(T, R, gamma, policies, i)
            changed |= not np.array_equal(new, policies[i])
            policies[i] = new
        if not changed:
            return _finish(T, R, gamma, policies, it, True)
    return _finish(T, R, gamma, policies, max_iter, False)


def simultaneous(transition, reward, gamma, init, max_iter=1000):
    """Simultaneous policy update (paper Section 2.2 and Table 1 "Simul. Update").

    In each round all agents at once replace their policy by a deterministic exact best
    response to the others' policies of the *previous* round (each agent maximizes its
    marginalized ``Q(s, a_i)``). Stops when no policy changes; it may cycle instead, in which
    case ``converged=False`` after ``max_iter`` rounds.

    Args:
        init: list of stochastic policies, ``init[i]`` of shape ``[S, A_i]``.
    """
    T, R, gamma, sizes = _validate(transition, reward, gamma)
    policies = _decentralized_init(init, R.shape[0], sizes)
    for it in range(1, max_iter + 1):
        new = [_best_response(T, R, gamma, policies, i) for i in range(len(sizes))]
        if all(np.array_equal(p, q) for p, q in zip(new, policies, strict=True)):
            return _finish(T, R, gamma, policies, it, True)
        policies = new
    return _finish(T, R, gamma, policies, max_iter, False)


def _softmax(x, alpha):
    z = x / alpha
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def haspi(transition, reward, gamma, init, alpha, max_iter=10_000, tol=1e-12):
    """Heterogeneous-Agent Soft Policy Iteration (Liu et al., 2024; Table 1 "HASPI").

    Each round: (1) soft policy evaluation of the current product policy, exactly,
    ``Q(s, a) = R(s, a) + gamma sum_s' T(s'|s, a) V(s')`` with
    ``V(s) = E_{a ~ pi}[Q(s, a)] + alpha sum_j H(pi_j(.|s))``; (2) agents ``0..N-1`` in turn set
    ``pi_i(a_i|s) ∝ exp(Q_i(s, a_i) / alpha)`` with ``Q_i(s, a_i) = E_{a_-i}[Q(s, a_i, a_-i)]``,
    where earlier agents' policies are the ones already updated this round. Stops when the
    policies move by at most ``tol`` (sup norm) in a round.

    Args:
        init: list of stochastic policies, ``init[i]`` of shape ``[S, A_i]``.
        alpha: entropy temperature, ``> 0``.
    """
    T, R, gamma, sizes = _validate(transition, reward, gamma)
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    policies = _decentralized_init(init, R.shape[0], sizes)
    for it in range(1, max_iter + 1):
        P, r = _product_policy_matrices(T, R, policies)
        entropy = sum(-np.sum(pi * np.log(np.where(pi > 0, pi, 1.0)), axis=1) for pi in policies)
        V = _solve_linear(P, r + alpha * entropy, gamma)
        Q = R + gamma * T @ V
        delta = 0.0
        for i in range(len(sizes)):
            new = _softmax(_marginalize_others(Q, policies, i), alpha)
            delta = max(delta, float(np.max(np.abs(new - policies[i]))))
            policies[i] = new
        if delta <= tol:
            return _finish(T, R, gamma, policies, it, True)
    return _finish(T, R, gamma, policies, max_iter, False)

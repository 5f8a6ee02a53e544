"""Reproduce Table 1 of the paper with the exact tabular solvers.

The 3x3 cooperative matrix game (Table 1 / Appendix G, Figure 6), both agents initialized to
``pi(A) = 0.6, pi(B) = pi(C) = 0.2``. For ACPI, whose policies are deterministic, the
initialization is the closest deterministic policy: agent 0 plays A and agent 1 plays A after
every action of agent 0 (the adversarial start of Appendix G).

Usage: ``python -m acjax.tabular.table1 [--json]``. Each entry is the converged *joint*
policy at the game state as a 3x3 matrix ``P[a_0, a_1]`` of probabilities.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from acjax.tabular.solvers import (
    acpi,
    acpi_joint_actions,
    haspi,
    iterative_br,
    matrix_game,
    simultaneous,
)

PAYOFF = np.array([[5.0, -20.0, -20.0], [-20.0, 10.0, -20.0], [-20.0, -20.0, 20.0]])
INIT = np.array([0.6, 0.2, 0.2])
ACTIONS = ("A", "B", "C")
GAME_STATE = 0  # matrix_game puts the game at state 0 (state 1 is the absorbing end state)
# The joint action each column of the paper's Table 1 reports (probability 1).
PAPER = {
    "simultaneous": "(A, A)",
    "iterative_br": "(A, A)",
    "acpi": "(C, C)",
    "haspi_alpha1": "(A, A)",
    "haspi_alpha5": "(C, C)",
}


def _product_matrix(policies):
    return np.outer(policies[0][GAME_STATE], policies[1][GAME_STATE])


def joint_policies(gamma=0.9):
    """Converged joint policy ``P[a_0, a_1]`` of every method, keyed by method name."""
    transition, reward, gamma = matrix_game(PAYOFF, gamma)
    S = reward.shape[0]
    stochastic_init = [np.tile(INIT, (S, 1)) for _ in range(2)]
    deterministic_init = [
        np.full((S,), int(np.argmax(INIT))),
        np.full((S, len(INIT)), int(np.argmax(INIT))),
    ]
    out = {}
    for name, solver in (("simultaneous", simultaneous), ("iterative_br", iterative_br)):
        out[name] = _product_matrix(solver(transition, reward, gamma, stochastic_init).policies)
    result = acpi(transition, reward, gamma, init=deterministic_init)
    a0, a1 = acpi_joint_actions(result.policies)[GAME_STATE]
    out["acpi"] = np.zeros_like(PAYOFF)
    out["acpi"][a0, a1] = 1.0
    for alpha in (1, 5):
        res = haspi(transition, reward, gamma, stochastic_init, alpha=alpha)
        out[f"haspi_alpha{alpha}"] = _product_matrix(res.policies)
    return out


def haspi_switch_alpha(init=INIT, gamma=0.9, lo=1.0, hi=10.0, iters=40) -> float:
    """The temperature at which exact HASPI from `init` stops converging to (A, A) and
    converges to (C, C) instead (bisection; both agents start from `init`).

    From the paper's init (0.6, 0.2, 0.2) this is alpha* = 6.7116: alpha = 5 ends at (A, A)
    (0.985 per agent), not at the paper's (C, C). The paper's two HASPI entries (alpha = 1:
    (A, A), alpha = 5: (C, C)) both hold only if its temperature is c times this one with
    1.343 < c < 6.71, e.g. an entropy measured in bits (c = 1/ln 2); from a uniform init both
    alphas reach (C, C), which contradicts the alpha = 1 entry. docs/equations.md section 7."""
    transition, reward, gamma = matrix_game(PAYOFF, gamma)
    S = reward.shape[0]
    start = [np.tile(np.asarray(init, float), (S, 1)) for _ in range(2)]

    def ends_at_a(alpha):
        return haspi(transition, reward, gamma, start, alpha=alpha).policies[0][0].argmax() == 0

    if not (ends_at_a(lo) and not ends_at_a(hi)):
        raise ValueError(f"no switch from (A, A) to (C, C) between alpha {lo} and {hi}")
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ends_at_a(mid) else (lo, mid)
    return (lo + hi) / 2


def _format(name, matrix):
    i, j = np.unravel_index(int(np.argmax(matrix)), np.shape(matrix))
    ends = f"({ACTIONS[i]}, {ACTIONS[j]})"
    paper = ""
    if name in PAPER:
        agree = "as in" if PAPER[name] == ends else "differs from"
        paper = f"; {agree} the paper's Table 1, {PAPER[name]}"
    lines = [f"{name}: ends at {ends}{paper}", "        " + "".join(f"{a:>10}" for a in ACTIONS)]
    for a, row in zip(ACTIONS, matrix, strict=True):
        lines.append(f"  a_0={a} " + "".join(f"{p:>10.4f}" for p in row))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the matrices as JSON")
    args = parser.parse_args(argv)
    results = joint_policies()
    if args.json:
        print(json.dumps({k: v.tolist() for k, v in results.items()}))
        return
    print("Payoff R[a_0, a_1] (rows: agent 0, columns: agent 1):")
    print(_format("payoff", PAYOFF).split("\n", 1)[1])
    print("Converged joint policies P[a_0, a_1], init pi(A)=0.6, pi(B)=pi(C)=0.2:")
    for name, matrix in results.items():
        print(_format(name, matrix))
    print(
        f"HASPI from this init switches from (A, A) to (C, C) at alpha* = "
        f"{haspi_switch_alpha():.4f}: alpha = 5 < alpha* ends at (A, A), so the paper's (C, C) "
        "entry needs a temperature scaled by 1.34-6.71 (see haspi_switch_alpha)"
    )


if __name__ == "__main__":
    main()

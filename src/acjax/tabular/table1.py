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


def _format(name, matrix):
    paper = f"  (paper Table 1: {PAPER[name]})" if name in PAPER else ""
    lines = [f"{name}:{paper}", "        " + "".join(f"{a:>10}" for a in ACTIONS)]
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


if __name__ == "__main__":
    main()

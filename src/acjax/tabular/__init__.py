"""Exact tabular solvers for small MMDPs: ACPI (paper Algorithm 2) and its baselines.

See :mod:`acjax.tabular.solvers`; ``python -m acjax.tabular.table1`` reproduces Table 1.
"""

from acjax.tabular.solvers import (
    ACPIResult,
    DecentralizedResult,
    acpi,
    acpi_joint_actions,
    haspi,
    iterative_br,
    matrix_game,
    optimal_value,
    product_policy_value,
    simultaneous,
)

__all__ = [
    "ACPIResult",
    "DecentralizedResult",
    "acpi",
    "acpi_joint_actions",
    "haspi",
    "iterative_br",
    "matrix_game",
    "optimal_value",
    "product_policy_value",
    "simultaneous",
]

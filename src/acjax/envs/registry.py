"""`make(name)`: every registered world by name.

- `jumanji-rware-<size>-<N>ag[-easy|-hard]`: Jumanji's RobotWarehouse (envs/warehouse_jumanji.py)
- `rware-<size>-<N>ag[-easy|-hard]`: the JAX port faithful to the original rware
  (envs/warehouse_rware.py)
- `matrix-table1`, `matrix-climbing`, `matrix-penalty`: discrete matrix games (envs/matrix.py)
- `matrix-continuous`: the continuous two-agent climbing-like game, actions in [-1, 1]
  (envs/matrix.py, ContinuousMatrixGame)
"""

from __future__ import annotations

import re

from acjax.envs.core import MultiAgentEnv

_WAREHOUSE = re.compile(r"^(jumanji-)?rware-(tiny|small|medium|large)-(\d+)ag(-easy|-hard)?$")
EXAMPLES = ["jumanji-rware-tiny-2ag", "rware-small-4ag-hard", "matrix-table1", "matrix-continuous"]


def make(name: str) -> MultiAgentEnv:
    """Build a world by name; an unknown name is a ValueError naming it."""
    m = _WAREHOUSE.match(name)
    if m:
        jumanji, size, n, diff = m.groups()
        difficulty = diff[1:] if diff else "normal"
        if jumanji:
            from acjax.envs.warehouse_jumanji import JumanjiWarehouse

            return JumanjiWarehouse(size, int(n), difficulty)
        from acjax.envs import warehouse_rware

        return warehouse_rware.make(size, int(n), difficulty)
    if name == "matrix-continuous":
        from acjax.envs.matrix import ContinuousMatrixGame

        return ContinuousMatrixGame()
    if name.startswith("matrix-"):
        from acjax.envs.matrix import MatrixGame

        return MatrixGame(name[len("matrix-") :])
    raise ValueError(f"unknown env {name!r} (examples: {', '.join(EXAMPLES)})")

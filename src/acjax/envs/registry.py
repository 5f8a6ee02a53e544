"""`make(name)`: every registered world by name.

- `jumanji-rware-<size>-<N>ag[-easy|-hard]`: Jumanji's RobotWarehouse (envs/warehouse_jumanji.py)
- `rware-<size>-<N>ag[-easy|-hard]`: the JAX port faithful to the original rware
  (envs/warehouse_rware.py)
- `matrix-table1`, `matrix-climbing`, `matrix-penalty`: discrete matrix games (envs/matrix.py)
- `matrix-continuous`: the continuous two-agent climbing-like game, actions in [-1, 1]
  (envs/matrix.py, ContinuousMatrixGame)
- `external-rware-<size>-<N>ag[-easy|-hard]`: the original `rware` package stepped on the host
  through the callback adapter (envs/external.py)
- `pettingzoo:<module>`: a PettingZoo parallel environment whose agents share their spaces,
  through the adapter (for instance `pettingzoo:mpe2.simple_spread_v3`); the config's
  `env_kwargs` are its constructor's keyword arguments
- `smacv2-<scenario>`: SMACv2 (StarCraft II) through the adapter, for instance
  `smacv2-protoss_5_vs_5`; needs SMACv2 and StarCraft II installed (envs/external.py)
- the config's `external` section says how the host runs the instances of these worlds
  (in this process or in worker processes) and injects faults for drills
- `mamujoco-<robot>-<partition>`: multi-agent MuJoCo on brax, for instance
  `mamujoco-halfcheetah-2x3` or `mamujoco-humanoid-9|8` (envs/mamujoco.py); the config's
  `mamujoco` section sets obsk, the brax backend and the time limit
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from acjax.envs.core import MultiAgentEnv

_WAREHOUSE = re.compile(r"^(jumanji-)?rware-(tiny|small|medium|large)-(\d+)ag(-easy|-hard)?$")
EXAMPLES = [
    "jumanji-rware-tiny-2ag",
    "rware-small-4ag-hard",
    "matrix-table1",
    "matrix-continuous",
    "mamujoco-halfcheetah-2x3",
]


def _pool_options(cfg: Any):
    """How the host runs an external world's instances: the config's `external` section."""
    from acjax.envs.external import PoolOptions

    if cfg is None:
        return PoolOptions()
    return PoolOptions(**dataclasses.asdict(cfg.external), fault_seed=cfg.seed)


def make(name: str, cfg: Any = None) -> MultiAgentEnv:
    """Build a world by name; an unknown name is a ValueError naming it. `cfg` (a Config) gives
    the world options of its sections (`cfg.mamujoco`); None means their defaults."""
    external = name.startswith("external-rware-")  # the original rware through the adapter
    m = _WAREHOUSE.match(name.removeprefix("external-"))
    if m and not (external and m.group(1)):
        jumanji, size, n, diff = m.groups()
        difficulty = diff[1:] if diff else "normal"
        if external:
            from acjax.envs.external import make_rware

            return make_rware(size, int(n), difficulty, options=_pool_options(cfg))
        if jumanji:
            from acjax.envs.warehouse_jumanji import JumanjiWarehouse

            return JumanjiWarehouse(size, int(n), difficulty)
        from acjax.envs import warehouse_rware

        return warehouse_rware.make(size, int(n), difficulty)
    if name.startswith("pettingzoo:"):
        from acjax.envs.external import make_pettingzoo

        module = name[len("pettingzoo:") :]
        try:
            kwargs = dict(getattr(cfg, "env_kwargs", None) or {})
            return make_pettingzoo(module, kwargs, _pool_options(cfg))
        except ImportError as e:
            raise ValueError(f"{name}: cannot import {module!r} ({e})") from None
        except TypeError as e:  # a keyword its constructor does not take
            raise ValueError(f"{name}: env_kwargs: {e}") from None
    if name.startswith("smacv2-"):
        from acjax.envs.external import make_smacv2

        return make_smacv2(name[len("smacv2-") :], _pool_options(cfg))
    if name.startswith("mamujoco-"):
        from acjax.envs import mamujoco

        parsed = mamujoco.parse_name(name)
        if parsed is None:
            raise ValueError(
                f"unknown env {name!r}: expected mamujoco-<robot>-<partition>, "
                f"for instance mamujoco-{mamujoco.SCENARIOS[0]}"
            )
        # the config's `mamujoco` section holds exactly the world's options
        kwargs = {} if cfg is None else dataclasses.asdict(cfg.mamujoco)
        return mamujoco.MaMuJoCo(*parsed, **kwargs)
    if name == "matrix-continuous":
        from acjax.envs.matrix import ContinuousMatrixGame

        return ContinuousMatrixGame()
    if name.startswith("matrix-"):
        from acjax.envs.matrix import MatrixGame

        return MatrixGame(name[len("matrix-") :])
    raise ValueError(f"unknown env {name!r} (examples: {', '.join(EXAMPLES)})")

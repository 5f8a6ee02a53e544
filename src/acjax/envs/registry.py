"""`make(name)`: every registered world by name (the names: `acjax.envs.WORLDS`)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from acjax.envs.core import MultiAgentEnv

_WAREHOUSE = re.compile(
    r"^(jumanji-)?rware-(tiny|small|medium|large)-(\d+)ag(-easy|-hard)?(-c\d+)?(-v1)?(-mean)?$"
)
# the warehouse tasks of the ACPO authors' code (rware 1.0.1, column height 1, reward sum / N)
AUTHORS_RWARE = [
    f"rware-{task}-c1-v1-mean"
    for task in (
        "tiny-2ag-easy",
        "tiny-4ag",
        "tiny-8ag-hard",
        "small-2ag-easy",
        "small-4ag",
        "small-8ag-hard",
        "tiny-12ag-hard",
        "small-12ag-hard",
    )
]
EXAMPLES = [
    "jumanji-rware-tiny-2ag",
    "rware-small-4ag-hard",
    "matrix-table1",
    "matrix-continuous",
    "mamujoco-halfcheetah-2x3",
    "smax-smacv2_5_units",
    "jaxmarl:MPE_simple_spread_v3",
]


def known_names() -> list[str]:
    """Names to suggest for a mistyped env (every matrix game and MuJoCo scenario; the warehouse
    sizes at 2, 4, 8 and 12 agents)."""
    from acjax.envs.jaxmarl_world import SMAX_SCENARIOS
    from acjax.envs.mamujoco import SCENARIOS
    from acjax.envs.matrix import PAYOFFS

    warehouse = [
        f"{p}rware-{size}-{n}ag{d}"
        for p in ("", "jumanji-", "external-")
        for size in ("tiny", "small", "medium", "large")
        for n in (2, 4, 8, 12)
        for d in ("", "-easy", "-hard")
    ]
    return [
        *warehouse,
        *AUTHORS_RWARE,
        *(f"external-{name}" for name in AUTHORS_RWARE),
        *(f"matrix-{g}" for g in [*PAYOFFS, "continuous"]),
        *(f"mamujoco-{s}" for s in SCENARIOS),
        *(f"smax-{s}" for s in SMAX_SCENARIOS),
    ]


def _unknown(name: str, detail: str) -> ValueError:
    from acjax.config_io import did_you_mean

    hint = did_you_mean(name, known_names())
    return ValueError(f"unknown env {name!r}{hint or detail}")


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
        jumanji, size, n, diff, height, v1, mean = m.groups()
        difficulty = diff[1:] if diff else "normal"
        if height == "-c8":
            raise ValueError(f"{name}: column height 8 is the default: drop -c8")
        layout = {
            "column_height": int(height[2:]) if height else 8,
            "version": 1 if v1 else 2,
            "team_mean": bool(mean),
        }
        if external:
            from acjax.envs.external import make_rware

            return make_rware(size, int(n), difficulty, options=_pool_options(cfg), **layout)
        if jumanji:
            if height or v1 or mean:
                raise ValueError(f"{name}: -c<C>, -v1 and -mean are options of rware-* worlds")
            from acjax.envs.warehouse_jumanji import JumanjiWarehouse

            return JumanjiWarehouse(size, int(n), difficulty)
        from acjax.envs import warehouse_rware

        return warehouse_rware.make(size, int(n), difficulty, **layout)
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
    if name.startswith(("jaxmarl:", "smax-")):
        from acjax.envs import jaxmarl_world

        kwargs = dict(getattr(cfg, "env_kwargs", None) or {})
        if name.startswith("smax-"):
            return jaxmarl_world.make_smax(name[len("smax-") :], kwargs)
        return jaxmarl_world.make_jaxmarl(name[len("jaxmarl:") :], kwargs)
    if name.startswith("smacv2-"):
        from acjax.envs.external import make_smacv2

        return make_smacv2(name[len("smacv2-") :], _pool_options(cfg))
    if name.startswith("mamujoco-"):
        from acjax.envs import mamujoco

        parsed = mamujoco.parse_name(name)
        if parsed is None:
            raise _unknown(
                name,
                ": expected mamujoco-<robot>-<partition>, for instance "
                f"mamujoco-{mamujoco.SCENARIOS[0]}",
            )
        if parsed[0] not in mamujoco.ROBOTS:
            raise _unknown(name, f": unknown robot; expected one of {sorted(mamujoco.ROBOTS)}")
        # the config's `mamujoco` section holds exactly the world's options
        kwargs = {} if cfg is None else dataclasses.asdict(cfg.mamujoco)
        return mamujoco.MaMuJoCo(*parsed, **kwargs)
    if name == "matrix-continuous":
        from acjax.envs.matrix import ContinuousMatrixGame

        return ContinuousMatrixGame()
    if name.startswith("matrix-"):
        from acjax.envs.matrix import PAYOFFS, MatrixGame

        if name[len("matrix-") :] not in PAYOFFS:
            games = ", ".join(f"matrix-{g}" for g in [*PAYOFFS, "continuous"])
            raise _unknown(name, f": expected one of {games}")
        return MatrixGame(name[len("matrix-") :])
    raise _unknown(name, f" (examples: {', '.join(EXAMPLES)}; `acjax list` shows every world)")

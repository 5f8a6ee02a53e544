"""The SMAX study (issue 28): the paper's SMACv2 comparison (its Table 2) on JaxMARL's SMAX, the
pure-JAX SMAC, at the paper's SMACv2 settings (`experiments/smax/smacv2_*_units-*.yaml`). Same
runner as the warehouse study (`experiments/reports/warehouse/study.py`: budget, workers, SIGTERM
at the end of the budget with partial runs kept, resume of a second call):

    python experiments/reports/smax/study.py --out DIR [--budget-s S] [--workers 1]
        [--steps N] [--seeds 3] [--envs 0] [--only NAME,...] [--set KEY=VALUE] [--tiny]

`--envs 0` keeps each preset's own num_envs (8 environments, as SMACv2's MAPPO). The plan, in
priority order, smacv2_5_units first and then smacv2_10_units, each with: MAPPO; ACPO as the
paper's text reads (acjax's reading: sampled chain beliefs, critic on actual actions,
lambda' = lambda^(1/N)); ACPO as its authors ran it (docs/acpo.md §8: belief network, critic on
beliefs, lambda' = lambda = 0.995; `-authors`); HAPPO; IPPO; QMIX; VDN.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "warehouse"))

import study as first  # noqa: E402

REPO = HERE.parents[2]
SMAX = REPO / "experiments" / "smax"
TASKS = ("smacv2_5_units", "smacv2_10_units")
ALGOS = ("mappo", "acpo", "acpo-authors", "happo", "ippo", "qmix", "vdn")
LAMBDA = 0.995  # ppo.gae_lambda of experiments/base-smax.yaml: the authors take lambda' = lambda
AUTHORS_PIECES = ("acpo.belief=net", "acpo.critic_prefix=predicted", f"acpo.lambda_micro={LAMBDA}")


def entry(task: str, algo: str) -> dict:
    """The PLAN entry `<task>-<algo>`: the preset `experiments/smax/<task>-<algo>.yaml`; for
    `acpo-authors` ACPO's preset with the authors' pieces (AUTHORS_PIECES)."""
    preset, overrides = algo, ()
    if algo == "acpo-authors":
        preset, overrides = "acpo", AUTHORS_PIECES
    config = SMAX / f"{task}-{preset}.yaml"
    return {"name": f"{task}-{algo}", "config": str(config), "overrides": list(overrides)}


PLAN = [entry(t, a) for t in TASKS for a in ALGOS]


def main(argv: list[str] | None = None) -> int:
    """The warehouse study's runner on this PLAN."""
    return first.main(argv, plan=PLAN)


if __name__ == "__main__":
    sys.exit(main())

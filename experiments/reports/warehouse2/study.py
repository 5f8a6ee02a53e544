"""The warehouse study, second round: ACPO as its authors ran it (docs/acpo.md §8) against MAPPO
in the authors' configuration, and ablations that say which ingredient carries a difference.
Same runner as the first round (`experiments/reports/warehouse/study.py`: budget, workers,
SIGTERM at the end of the budget with partial runs kept, resume of a second call):

    python experiments/reports/warehouse2/study.py --out DIR [--budget-s S] [--workers 2]
        [--steps N] [--seeds 3] [--envs 0] [--only NAME,...] [--set KEY=VALUE] [--tiny] [--gpu]

`--envs 0` keeps each preset's own num_envs (the authors' 16 complete episodes per update).
The plan, in priority order:

1. the authors' MAPPO and ACPO on their tiny-4ag and tiny-2ag-easy warehouses (presets
   `experiments/authors/rware/`: rware 1.0.1's layout at column height 1, team-mean reward,
   RLlib's PPO backbone, belief network, critic on beliefs, lambda' = lambda);
2. which ingredient: on the authors' map and backbone, ACPO with the paper's-text pieces
   (sampled chain beliefs, critic on actual actions, lambda' = lambda^(1/N)); MAPPO with
   gae_lambda = lambda^N (the control for ACPO's shorter trace at lambda' = lambda);
3. each ingredient alone on acjax's first-round setup (`experiments/rware/tiny-4ag-*.yaml`,
   rware 2.0.0's map, MAPPO's PPO): the belief network; the dense map; the backbone;
   lambda' = lambda (with MAPPO at gae_lambda = lambda^N as its control); with acjax's MAPPO and
   ACPO beside them at the same budget;
4. the paper's other baselines on the authors' tiny-2ag-easy (Figure 2's other curves): HAPPO,
   HATRPO, QMIX and VDN at their presets (`experiments/authors/rware/tiny-2ag-easy-*.yaml`);
5. the authors' MAPPO and ACPO on tiny-12ag-hard and small-8ag-hard (a GPU's share: `--gpu`
   starts these first, `gpu_study.sh`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "warehouse"))

import study as first  # noqa: E402

REPO = HERE.parents[2]
AUTHORS = REPO / "experiments" / "authors" / "rware"
ACJAX = REPO / "experiments" / "rware"
LAMBDA = 0.95
PAPER_PIECES = ("acpo.belief=sample", "acpo.critic_prefix=actual", "acpo.lambda_micro=0")
AUTHORS_PIECES = ("acpo.belief=net", "acpo.critic_prefix=predicted", f"acpo.lambda_micro={LAMBDA}")
DENSE = "env=rware-tiny-4ag-c1-v1-mean"
GPU_TASKS = ("tiny-12ag-hard", "small-8ag-hard")
ALGOS = ("mappo", "acpo")
BASELINES = ("happo", "hatrpo", "qmix", "vdn")  # the paper's other algorithms (item 5)


def entry(name: str, config: Path, *overrides: str) -> dict:
    return {"name": name, "config": str(config), "overrides": list(overrides)}


PLAN = [
    entry("tiny-4ag-authors-mappo", AUTHORS / "tiny-4ag-mappo.yaml"),
    entry("tiny-4ag-authors-acpo", AUTHORS / "tiny-4ag-acpo.yaml"),
    entry("tiny-2ag-easy-authors-mappo", AUTHORS / "tiny-2ag-easy-mappo.yaml"),
    entry("tiny-2ag-easy-authors-acpo", AUTHORS / "tiny-2ag-easy-acpo.yaml"),
    entry("tiny-4ag-authors-acpo-paper_pieces", AUTHORS / "tiny-4ag-acpo.yaml", *PAPER_PIECES),
    entry(
        "tiny-4ag-authors-mappo-lambdaN",
        AUTHORS / "tiny-4ag-mappo.yaml",
        f"ppo.gae_lambda={LAMBDA**4:.6f}",
    ),  # fmt: skip
    entry("tiny-4ag-mappo", ACJAX / "tiny-4ag-mappo.yaml", "num_envs=16"),
    entry("tiny-4ag-acpo", ACJAX / "tiny-4ag-acpo.yaml", "num_envs=16"),
    entry(
        "tiny-4ag-acpo-belief_net", ACJAX / "tiny-4ag-acpo.yaml", "num_envs=16", *AUTHORS_PIECES[:2]
    ),  # fmt: skip
    entry("tiny-4ag-acpo-lambda", ACJAX / "tiny-4ag-acpo.yaml", "num_envs=16", AUTHORS_PIECES[2]),
    entry(
        "tiny-4ag-mappo-lambdaN",
        ACJAX / "tiny-4ag-mappo.yaml",
        "num_envs=16",
        f"ppo.gae_lambda={LAMBDA**4:.6f}",
    ),  # fmt: skip
    entry("tiny-4ag-dense-mappo", ACJAX / "tiny-4ag-mappo.yaml", "num_envs=16", DENSE),
    entry("tiny-4ag-dense-acpo", ACJAX / "tiny-4ag-acpo.yaml", "num_envs=16", DENSE),
    entry("tiny-4ag-backbone-mappo", AUTHORS / "tiny-4ag-mappo.yaml", "env=rware-tiny-4ag"),
    entry(
        "tiny-4ag-backbone-acpo",
        AUTHORS / "tiny-4ag-acpo.yaml",
        "env=rware-tiny-4ag",
        *PAPER_PIECES,
    ),  # fmt: skip
    # the paper's other baselines on tiny-2ag-easy
    *[entry(f"tiny-2ag-easy-authors-{a}", AUTHORS / f"tiny-2ag-easy-{a}.yaml") for a in BASELINES],
    # the authors' 8- and 12-agent tasks (GPU: first with --gpu, as gpu_study.sh runs them)
    *[entry(f"{t}-authors-{a}", AUTHORS / f"{t}-{a}.yaml") for t in GPU_TASKS for a in ALGOS],
]
GPU_NAMES = [f"{t}-authors-{a}" for t in GPU_TASKS for a in ALGOS]


def main(argv: list[str] | None = None) -> int:
    """The first round's runner on this PLAN; with `--gpu` the GPU_NAMES entries go first."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--gpu", action="store_true")
    args, rest = p.parse_known_args(argv)
    plan = PLAN
    if args.gpu:
        plan = sorted(PLAN, key=lambda e: e["name"] not in GPU_NAMES)  # stable: plan order kept
    return first.main(rest, plan=plan)


if __name__ == "__main__":
    sys.exit(main())

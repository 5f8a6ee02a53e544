"""Throughput and scaling suite: raw env stepping, training steps/s, devices, seeds, agents.

    python benchmarks/throughput.py --mode quick|peer|full|gpu|smoke|policies|mamujoco|sweep|
        authors|hatrpo|qmix|jaxmarl [--out DIR] [--budget S] [--tiny]
    python benchmarks/throughput.py --mode scale-envs|scale-agents [--algos A ...]
        [--envs N ...] [--agents N ...] [--at-envs N] [--at-agents N] [--rollout L]

One env step is one step of all agents. Training steps/s count the env steps of a compiled chunk
(`k * num_envs * rollout_len * num_seeds`) over the wall time of the call, the PPO update
included. Every measurement compiles first (compile seconds recorded), runs one warm-up call,
then times a few calls and takes the median. Where the suite reports a ratio, both sides are
timed in the same run in alternation (A, B, A, B, ...) so that a change of load on a shared
machine does not bias it.

Sections (records carry `section`):
  env      raw stepping of jumanji-rware-tiny-4ag: no reset, acjax AutoReset (refreshed once per
           scan), Jumanji's own AutoResetWrapper (and Jumanji without reset)
  scaling  MAPPO steps/s over num_envs and devices (1, 2, 4, ... local devices)
  peer     the setting of Mava's FF-MAPPO (docs/references.md, "A peer JAX trainer"),
           the peer run beside acjax when built (`--mode peer`: this section alone, 3 rounds)
  agents   IPPO, MAPPO, ACPO (HAPPO when registered) against the number of agents (Figure 5)
  seeds    vmapped seeds: total steps/s against num_seeds
  floor    env-only stepping, rollout only (act + step) and the full update at the same batch
  large    (gpu) ACPO and MAPPO at large batches on both warehouses
  policies GRU vs MLP MAPPO/ACPO on the warehouse; Gaussian vs categorical heads (matrix games)
  sweep    (`--mode sweep`) a vmapped learning-rate sweep (4 values x 2 seeds) against 8 seeds
           and against one seed with all their environments
  mamujoco multi-agent MuJoCo: raw stepping and MAPPO/ACPO training per brax backend
           (halfcheetah-2x3), then every scenario on the default backend (`--mode mamujoco`;
           `full` measures halfcheetah-2x3 on the default backend)
  value    (`--mode qmix`) QMIX and VDN against MAPPO on the warehouse at the same env steps per
           update (one 64-step episode per environment, one gradient step on 16 whole episodes
           against 2 epochs x 2 minibatches): time per env step
  jaxmarl  (`--mode jaxmarl`) JaxMARL's worlds through acjax's adapter against JaxMARL's own
           stepping in the same scan (SMAX smacv2_5_units, MPE simple spread): the adapter's
           cost, without resets and with each side's auto-reset
  authors  (`--mode authors`) the authors' ACPO (belief network, critic on beliefs) against MAPPO,
           both on the authors' warehouse and PPO backbone, at 4 and 12 agents: time per env step
  hatrpo   (`--mode hatrpo`) HATRPO against HAPPO at 4 agents, the same batch, networks and
           critic epochs: time per env step (target: HATRPO <= 1.5x HAPPO)
  scale-*  (`--mode scale-envs`, `--mode scale-agents`) MAPPO and ACPO steps/s and peak memory
           against the number of environments (to the memory limit) and of agents, a process
           per point; the saturation point stated (throughput_scale.py); files
           DIR/<machine>-<date>-scale-{envs,agents}.{json,md,png}

Results: DIR/<machine>-<date>[-<mode>].json (a list of records), a markdown table beside it,
DIR/latest.json (a copy) and DIR/runtime_vs_agents.png. The JSON is rewritten after every
measurement, so a run cut short keeps what it measured. `--budget` (seconds) skips whatever
would not fit; `--tiny` (or ACJAX_BENCH_TINY=1) shrinks every size, to test the machinery.
"""

from __future__ import annotations

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    # before jax is imported: one CPU device per core, so that sharded programs use every core
    _n = max(2, os.cpu_count() or 1)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={_n}"
    ).strip()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

# the suite's parts live beside this script (run as a script, or loaded by path by the tests)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_timing import REQUIRED, Budget, device_kind, machine_name, validate_records  # noqa: E402,F401,I001
from throughput_peer import peer_ready, section_peer  # noqa: E402,F401
from throughput_report import Results, markdown, plot_agents  # noqa: E402,F401
from throughput_sections import (  # noqa: E402
    section_agents,
    section_env,
    section_floor,
    section_hatrpo,
    section_jaxmarl,
    section_mamujoco,
    section_policies,
    section_scaling,
    section_seeds,
    section_sweep,
    section_value,
)

RESULTS = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------------- plans
def plan(mode: str, tiny: bool) -> list[Callable]:
    """The sections of a mode, as functions of (res, budget)."""
    n_dev = len(jax.local_devices())
    devs = sorted({d for d in (1, 2, 4, 8, 16) if d <= n_dev} | {n_dev})
    t = dict(rollout=8, epochs=1, minibatches=2, hidden=(16,))
    if mode == "smoke":  # the test's run: every kind of program once, tiny
        return [
            lambda r, b: section_env(
                r, b, mode, "jumanji-rware-tiny-2ag", 16, 8, 2, ("no_reset", "autoreset")
            ),
            lambda r, b: section_agents(
                r, b, "matrix-table1", [2], ["mappo"], 8, 2, devices=1, **t
            ),
        ]
    if mode == "gpu":
        return _plan_gpu(mode, tiny, t)
    if mode == "mamujoco":
        return _plan_mamujoco(tiny)
    return _plan_cpu(mode, tiny, t, devs)


def _plan_gpu(mode: str, tiny: bool, t: dict) -> list[Callable]:
    """Most telling first: the budget cuts the tail (--tiny: same plan, tiny)."""
    J4 = "jumanji-rware-tiny-4ag"
    R4 = "rware-tiny-4ag"
    kw = t if tiny else {}
    big, mid, small, per_seed, agents_envs = (
        (16, 8, 4, 8, 8) if tiny else (16384, 4096, 1024, 1024, 4096)
    )
    env_envs, env_scan = (16, 8) if tiny else (16384, 100)
    return [
        lambda r, b: section_env(r, b, mode, J4, env_envs, env_scan, 3),
        lambda r, b: section_scaling(r, b, "large", ["acpo", "mappo"], R4, [big], [1], 3, **kw),
        lambda r, b: section_seeds(r, b, "acpo", J4, per_seed, [1, 8], 3, **kw),
        lambda r, b: section_agents(
            r,
            b,
            "rware-tiny-{n}ag",
            [4, 12, 2, 8],
            ["mappo", "acpo", "happo"],
            agents_envs,
            3,
            **kw,
        ),
        lambda r, b: section_scaling(r, b, "large", ["acpo", "mappo"], J4, [big], [1], 3, **kw),
        lambda r, b: section_scaling(
            r, b, "large", ["acpo", "mappo"], R4, [mid, small], [1], 3, **kw
        ),
        lambda r, b: section_scaling(
            r, b, "large", ["acpo", "mappo"], J4, [mid, small], [1], 3, **kw
        ),
    ]


def _plan_mamujoco(tiny: bool) -> list[Callable]:
    from acjax.envs.mamujoco import BACKENDS, DEFAULT_BACKEND, SCENARIOS

    backends = BACKENDS
    if tiny:
        return [
            lambda r, b: section_mamujoco(
                r, b, ["mamujoco-halfcheetah-2x3"], backends[:1], 4, 2, scan=4, rollout=8,
                epochs=1, hidden=(16,),
            )
        ]  # fmt: skip
    if jax.default_backend() == "gpu":  # env-only per backend first, then training
        hc, ant = "mamujoco-halfcheetah-2x3", "mamujoco-ant-4x2"
        return [
            lambda r, b: section_mamujoco(r, b, [hc], backends, 4096, 3, algos=()),
            lambda r, b: section_mamujoco(
                r, b, [hc, ant], (DEFAULT_BACKEND,), 4096, 3, algos=("mappo", "acpo"),
                rollout=100, minibatches=5,
            ),
        ]  # fmt: skip
    return [
        lambda r, b: section_mamujoco(
            r, b, ["mamujoco-halfcheetah-2x3"], backends, 64, 3, algos=("mappo", "acpo")
        ),
        lambda r, b: section_mamujoco(
            r, b, [f"mamujoco-{s}" for s in SCENARIOS[1:]], (DEFAULT_BACKEND,), 64, 3,
            algos=("mappo",),
        ),
    ]  # fmt: skip


# the authors' warehouse settings (experiments/authors/rware/base.yaml, base-acpo.yaml)
AUTHORS = (
    "ppo.clip_eps=0.01", "ppo.kl_coef=0.2", "ppo.complete_episodes=true", "ppo.value_loss=mse",
    "ppo.value_clip=10", "ppo.value_norm=false", "acpo.belief=net",
    "acpo.critic_prefix=predicted", "acpo.lambda_micro=0.95",
)  # fmt: skip


def _plan_cpu(mode: str, tiny: bool, t: dict, devs: list[int]) -> list[Callable]:
    """The plans of the CPU modes (quick, peer, full, policies, sweep; --tiny: one plan)."""
    from acjax.envs.mamujoco import DEFAULT_BACKEND as MAMUJOCO_BACKEND

    J4 = "jumanji-rware-tiny-4ag"
    if tiny:
        return [
            lambda r, b: section_env(r, b, mode, "jumanji-rware-tiny-2ag", 16, 8, 2),
            lambda r, b: section_scaling(r, b, "scaling", ["mappo"], J4, [8], devs[:2], 2, **t),
            lambda r, b: section_agents(
                r, b, "jumanji-rware-tiny-{n}ag", [2], ["mappo", "acpo"], 8, 2, **t
            ),
            lambda r, b: section_seeds(r, b, "mappo", "jumanji-rware-tiny-2ag", 8, [1, 2], 2, **t),
        ] + (
            [
                lambda r, b: section_scaling(
                    r, b, "large", ["mappo", "acpo"], "rware-tiny-4ag", [16], [1], 2, **t
                ),
                lambda r, b: section_agents(
                    r, b, "rware-tiny-{n}ag", [2, 3], ["mappo", "acpo", "happo"], 8, 2, **t
                ),
            ]
            if mode == "gpu"
            else []
        )
    if mode == "policies":
        return [lambda r, b: section_policies(r, b, J4, 64, 5)]
    if mode == "qmix":  # value-based against MAPPO, small: the shared 2-core machine
        small = dict(rollout=64, epochs=2, minibatches=2, hidden=(64,))
        return [lambda r, b: section_value(r, b, "rware-tiny-2ag", 16, 5, **small)]
    if mode == "sweep":  # on all devices, then 8 seeds against one wide seed on one device
        return [
            lambda r, b: section_sweep(r, b, "mappo", J4, 16, (1e-4, 3e-4, 1e-3, 3e-3), 2, 5),
            lambda r, b: section_sweep(r, b, "acpo", J4, 16, (1e-4, 3e-4, 1e-3, 3e-3), 2, 5),
            lambda r, b: section_seeds(r, b, "mappo", J4, 16, [8], 5, devices=1),
            lambda r, b: section_seeds(r, b, "acpo", J4, 16, [8], 5, devices=1),
        ]
    if mode == "quick":  # agents at a small batch: the trend of the four algorithms
        small = dict(rollout=64, epochs=2, minibatches=2, hidden=(64, 64))
        return [
            lambda r, b: section_env(r, b, mode, J4, 1024, 100, 3, ("no_reset", "autoreset")),
            lambda r, b: section_agents(
                r,
                b,
                "jumanji-rware-tiny-{n}ag",
                [2, 4, 12],
                ["ippo", "mappo", "acpo", "happo"],
                32,
                3,
                devices=1,
                **small,
            ),
            lambda r, b: section_scaling(r, b, "scaling", ["mappo"], J4, [128], devs, 3),
        ]
    if mode == "authors":  # the authors' ACPO against MAPPO in their configuration (issue 26)
        return [
            lambda r, b: section_agents(
                r, b, "rware-tiny-{n}ag-hard-c1-v1-mean", [4, 12], ["mappo", "acpo"], 16, 3,
                devices=1, rollout=500, epochs=10, minibatches=1, hidden=(128, 256),
                extra=AUTHORS,
            )
        ]  # fmt: skip
    if mode == "hatrpo":  # HATRPO against HAPPO at 4 agents, acjax's default PPO settings
        return [
            lambda r, b: section_hatrpo(
                r, b, J4, 32, 5, rollout=128, epochs=4, minibatches=2, hidden=(128, 128)
            )
        ]
    if mode == "jaxmarl":  # the JaxMARL adapter's cost (issue 28); JAXMARL_ENVS=N sets the size
        n = int(os.environ.get("JAXMARL_ENVS", "1024"))
        return [
            lambda r, b: section_jaxmarl(r, b, "smax-smacv2_5_units", n, 16, 7),
            lambda r, b: section_jaxmarl(r, b, "jaxmarl:MPE_simple_spread_v3", n, 64, 7),
        ]
    if mode == "peer":  # the peer beside acjax alone: 3 rounds of 393,216 steps
        return [lambda r, b: section_peer(r, b, rounds=3)]
    if mode == "full":
        return [
            lambda r, b: section_env(r, b, mode, J4, 1024, 100, 7),
            lambda r, b: section_peer(r, b, rounds=1, steps=98304),
            lambda r, b: section_agents(
                r,
                b,
                "jumanji-rware-tiny-{n}ag",
                [2, 4, 8, 12],
                ["ippo", "mappo", "acpo", "happo"],
                64,
                3,
            ),
            lambda r, b: section_scaling(r, b, "scaling", ["mappo"], J4, [64, 128, 256], devs, 3),
            lambda r, b: section_scaling(r, b, "scaling", ["mappo"], J4, [512, 1024], devs, 2),
            lambda r, b: section_seeds(r, b, "mappo", J4, 16, [1, 2, 4, 8, 16, 32], 3),
            lambda r, b: section_floor(r, b, ["mappo", "acpo"], J4, [64], 3),
            lambda r, b: section_policies(r, b, J4, 64, 3),
            lambda r, b: section_mamujoco(
                r, b, ["mamujoco-halfcheetah-2x3"], (MAMUJOCO_BACKEND,), 64, 3
            ),
        ]
    raise ValueError(f"unknown mode {mode!r}")


def _scale_args(p: argparse.ArgumentParser) -> None:
    """The scale modes' lists (defaults in throughput_scale.py: envs 16 ... 16384 at 4 agents,
    agents 2 ... 20 at 256 envs, rollout 16, MAPPO and ACPO)."""
    p.add_argument("--algos", nargs="+", default=None, help="scale modes: the algorithms")
    p.add_argument("--envs", nargs="+", type=int, default=None, help="scale-envs: env counts")
    p.add_argument("--agents", nargs="+", type=int, default=None, help="scale-agents: agents")
    p.add_argument("--at-envs", type=int, default=None, help="scale-agents: the env count")
    p.add_argument("--at-agents", type=int, default=None, help="scale-envs: the agents")
    p.add_argument("--rollout", type=int, default=None, help="scale modes: rollout length")
    p.add_argument("--devices", type=int, default=None, help="scale modes: devices (0: all)")
    p.add_argument("--point-timeout", type=float, default=None, help="scale modes: s per point")


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = [
        "smoke", "quick", "peer", "full", "gpu", "policies", "mamujoco", "sweep", "authors",
        "hatrpo", "qmix", "jaxmarl", "scale-envs", "scale-agents",
    ]  # fmt: skip
    p.add_argument("--mode", default="quick", choices=modes)
    _scale_args(p)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the whole run; what would not fit is skipped (default: quick 280, "
        "full 1500, gpu 420, smoke none)",
    )
    p.add_argument("--tiny", action="store_true", default=os.environ.get("ACJAX_BENCH_TINY") == "1")
    args = p.parse_args(argv)

    default_budget = {
        "quick": 280.0,
        "peer": 1800.0,
        "full": 1500.0,
        "gpu": 420.0,
        "policies": 600.0,
        "mamujoco": 1800.0,
        "sweep": 600.0,
        "hatrpo": 300.0,
        "qmix": 280.0,
        "jaxmarl": 300.0,
        "scale-envs": 900.0,
        "scale-agents": 900.0,
    }.get(args.mode)
    scale = args.mode.startswith("scale-")
    if scale:  # this process only starts the points': no GPU memory held beside them
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    budget = Budget(args.budget if args.budget is not None else default_budget)
    meta = dict(
        mode=args.mode + ("-tiny" if args.tiny and args.mode != "smoke" else ""),
        machine=machine_name(),
        date=datetime.date.today().isoformat(),
        device_kind=device_kind(),
        local_devices=len(jax.local_devices()),
        cpu_count=os.cpu_count(),
        jax=jax.__version__,
        python=platform.python_version(),
        load_avg_1min_start=os.getloadavg()[0],
    )
    print(f"[bench] {json.dumps(meta)}", flush=True)
    if scale:
        from throughput_scale import plan_scale
        from throughput_scale_report import ScaleResults

        res, sections = ScaleResults(args.out, args.mode, meta), plan_scale(args.mode, args)
    else:
        res, sections = Results(args.out, args.mode, meta), plan(args.mode, args.tiny)
    for section in sections:
        section(res, budget)
    if not scale:
        plot_agents(res.records, res.out / "runtime_vs_agents.png")
    res.write()
    if res.records:
        validate_records(json.loads(res.path.read_text()))
    took = time.perf_counter() - budget.start
    print(f"[bench] {len(res.records)} records in {took:.0f} s -> {res.path}", flush=True)
    print(res.md_path.read_text(), flush=True)
    return res.path


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

"""Throughput and scaling suite: raw env stepping, training steps/s, devices, seeds, agents.

    python benchmarks/throughput.py --mode quick|peer|full|gpu|smoke|policies|mamujoco|sweep
        [--out DIR] [--budget S] [--tiny]

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
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PEER_TARGET = {1: 2.0, 2: 2.0}  # acjax / peer, measured side by side: the target, at least 2x
REQUIRED = {
    "section": str,
    "algo": str,
    "env": str,
    "n_agents": int,
    "num_envs": int,
    "num_seeds": int,
    "devices": int,
    "steps_per_second": float,
    "compile_seconds": float,
    "wall_seconds": float,
    "device_kind": str,
}


# ---------------------------------------------------------------------- infrastructure
class Budget:
    """Wall-clock budget of the whole run (inf when not set)."""

    def __init__(self, seconds: float | None):
        self.start = time.perf_counter()
        self.deadline = self.start + seconds if seconds else math.inf
        self.max_compile = 0.0  # the longest compile seen: the estimate for the next one

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def fits(self, n_programs: int, default_compile: float) -> bool:
        need = n_programs * max(self.max_compile, default_compile) * 1.3 + 5
        return self.left() > need


@dataclass
class Program:
    """One compiled program ready to be called: `call()` runs it once and blocks."""

    record: dict  # static description (section, algo, env, ...)
    call: Callable[[], None]
    steps_per_call: int
    compile_seconds: float
    setup_seconds: float = 0.0
    warmup_seconds: float = 0.0
    times: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


def device_kind() -> str:
    d = jax.local_devices()[0]
    return str(getattr(d, "device_kind", d.platform))


def machine_name() -> str:
    d = jax.local_devices()[0]
    if d.platform == "cpu":
        return f"cpu{os.cpu_count()}"
    return re.sub(r"[^a-z0-9]+", "-", device_kind().lower()).strip("-") or d.platform


def timed_compile(fn_lower: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn_lower()
    return out, time.perf_counter() - t0


def interleave(programs: list[Program], calls: int, budget: Budget) -> None:
    """Warm up every program once, then time `calls` rounds of one call each, in alternation.
    Stops early (after at least one timed round) when the budget runs out."""
    for p in programs:
        t0 = time.perf_counter()
        p.call()
        p.warmup_seconds = time.perf_counter() - t0
    for r in range(calls):
        if r > 0 and budget.left() < max(p.warmup_seconds for p in programs) * len(programs):
            break
        for p in programs:
            t0 = time.perf_counter()
            p.call()
            p.times.append(time.perf_counter() - t0)


def finish(p: Program, mode: str) -> dict:
    median = statistics.median(p.times)
    rec = dict(p.record)
    rec.update(
        steps_per_second=p.steps_per_call / median,
        seconds_per_env_step=median / p.steps_per_call,
        compile_seconds=p.compile_seconds,
        setup_seconds=p.setup_seconds,
        warmup_seconds=p.warmup_seconds,
        median_call_seconds=median,
        call_seconds=p.times,
        steps_per_call=p.steps_per_call,
        wall_seconds=time.perf_counter() - p.started,
        device_kind=device_kind(),
        platform=jax.local_devices()[0].platform,
        mode=mode,
        load_avg_1min=os.getloadavg()[0],  # other processes on a shared machine
        timestamp=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    return rec


# ---------------------------------------------------------------------- programs
def _trainer(env: str, algo: str, num_envs: int, rollout: int, hidden, overrides: list[str]):
    """A trainer for (env, algo) at this batch, its initial state and its config."""
    from acjax.config import load_config
    from acjax.harness import make_trainer

    h = "[" + ",".join(map(str, hidden)) + "]"
    cfg = load_config(
        None,
        [
            f"env={env}",
            f"algo={algo}",
            f"num_envs={num_envs}",
            f"total_timesteps={num_envs * rollout * 1000}",
            f"ppo.rollout_len={rollout}",
            f"net.actor_hidden={h}",
            f"net.critic_hidden={h}",
            "progress=false",
            *overrides,
        ],
    )
    tr = make_trainer(cfg)
    learner, runner = tr.init()
    jax.block_until_ready((learner, runner))
    return cfg, tr, learner, runner


def _stepper(fn, learner, runner):
    """A call that runs fn(learner, runner) -> (learner, runner, out) on carried state."""
    state = [learner, runner]

    def call():
        learner, runner, out = fn(*state)
        jax.block_until_ready((learner, runner, out))
        state[:] = [learner, runner]

    return call


def _note_compile(budget, compile_s: float) -> None:
    if budget is not None:
        budget.max_compile = max(budget.max_compile, compile_s)


def train_program(
    section: str,
    algo: str,
    env: str,
    num_envs: int,
    devices: int = 0,
    num_seeds: int = 1,
    k: int = 1,
    rollout: int = 128,
    epochs: int = 4,
    minibatches: int = 2,
    hidden: tuple[int, ...] = (128, 128),
    extra: tuple[str, ...] = (),
    budget: Budget | None = None,
) -> Program:
    """The trainer's compiled chunk of k PPO updates (rollout + advantages + epochs)."""
    started = time.perf_counter()
    overrides = [
        f"num_seeds={num_seeds}",
        f"devices={devices}",
        f"updates_per_call={k}",
        f"ppo.epochs={epochs}",
        f"ppo.num_minibatches={minibatches}",
        *extra,
    ]
    cfg, tr, learner, runner = _trainer(env, algo, num_envs, rollout, hidden, overrides)
    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(lambda: tr.compile(learner, runner, k))
    _note_compile(budget, compile_s)
    call = _stepper(fn, learner, runner)

    record = dict(
        section=section,
        algo=algo,
        env=env,
        n_agents=tr.spec.num_agents,
        num_envs=num_envs,
        num_seeds=num_seeds,
        devices=tr.n_devices,
        rollout_len=rollout,
        epochs=epochs,
        num_minibatches=minibatches,
        updates_per_call=k,
        actor_hidden=list(cfg.net.actor_hidden),
        critic_hidden=list(cfg.net.critic_hidden),
        share_params=cfg.net.share_params,
        lr=cfg.ppo.lr,
        what="training (rollout + update)",
    )
    record["runs"] = tr.num_runs  # seeds x swept values
    record["split"] = tr.split  # whole runs per device, or each run's envs over all
    return Program(
        record, call, k * tr.steps_per_update * tr.num_runs, compile_s, setup, 0.0, [], started
    )


def rollout_program(
    section: str,
    algo: str,
    env: str,
    num_envs: int,
    rollout: int = 128,
    hidden: tuple[int, ...] = (128, 128),
    budget: Budget | None = None,
) -> Program:
    """The trainer's rollout alone on one device (act + env step, trajectory reduced), no
    update: what training would cost if learning were free."""
    started = time.perf_counter()
    _, tr, learner, runner = _trainer(env, algo, num_envs, rollout, hidden, ["devices=1"])

    def roll(learner, runner):
        def one(lr, rn):
            k1, k2 = jax.random.split(lr.key)
            rn, traj = tr._rollout(lr.params, rn, k2)
            acc = sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(traj))
            return lr._replace(key=k1), rn, acc

        return jax.vmap(one)(learner, runner)

    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(
        lambda: jax.jit(roll, donate_argnums=(0, 1)).lower(learner, runner).compile()
    )
    _note_compile(budget, compile_s)
    call = _stepper(fn, learner, runner)

    record = dict(
        section=section,
        algo=algo,
        env=env,
        n_agents=tr.spec.num_agents,
        num_envs=num_envs,
        num_seeds=1,
        devices=1,
        rollout_len=rollout,
        variant="rollout_only",
        what="rollout only: act + AutoReset env step, no update",
    )
    return Program(record, call, num_envs * rollout, compile_s, setup, 0.0, [], started)


ENV_VARIANTS = ("no_reset", "autoreset", "jumanji_no_reset", "jumanji_autoreset")


def env_program(
    section: str,
    variant: str,
    env_name: str,
    num_envs: int,
    scan: int,
    budget: Budget | None = None,
    options: tuple[str, ...] = (),
) -> Program:
    """Raw stepping: a jitted `lax.scan` of `scan` steps of `num_envs` vmapped envs with random
    valid actions (sampled from the action mask; uniform in the bounds for continuous worlds);
    observations and rewards are summed so the compiler cannot drop them. `options`: config
    overrides of the world (`mamujoco.backend=spring`). Variants:
      no_reset           acjax's env interface, episodes never reset
      autoreset          acjax's AutoReset, `refresh` once per scan (as the trainer per rollout)
      jumanji_no_reset   Jumanji's RobotWarehouse itself, no reset
      jumanji_autoreset  jumanji.wrappers.AutoResetWrapper(RobotWarehouse)
    """
    from acjax.config import load_config
    from acjax.envs.registry import make
    from acjax.envs.wrappers import AutoReset

    started = time.perf_counter()
    base = make(env_name, load_config(None, [f"env={env_name}", *options]))
    spec = base.spec
    n, a = spec.num_agents, spec.num_actions

    def sample(key, mask):
        if spec.continuous:
            u = jax.random.uniform(key, mask.shape, minval=spec.action_low, maxval=spec.action_high)
            return jnp.where(mask, u, 0.0)
        logits = jnp.where(mask, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)

    if variant.startswith("jumanji"):
        from jumanji.wrappers import AutoResetWrapper

        jenv = base._env  # the RobotWarehouse with acjax's generator for this task
        if variant == "jumanji_autoreset":
            jenv = AutoResetWrapper(jenv)

        def reset(key):
            s, ts = jenv.reset(key)
            return s, ts.observation.action_mask

        def step(s, actions):
            s, ts = jenv.step(s, actions)
            o = ts.observation
            return s, o.action_mask, jnp.sum(o.agents_view) + ts.reward

        refresh = None
    else:
        env = AutoReset(base) if variant == "autoreset" else base

        def reset(key):
            s, ts = env.reset(key)
            return s, ts.action_mask

        def step(s, actions):
            s, ts = env.step(s, actions)
            return s, ts.action_mask, jnp.sum(ts.obs) + ts.reward

        refresh = env.refresh if variant == "autoreset" else None

    def roll(carry, key):
        s, mask, acc = carry
        k_ref, k_steps = jax.random.split(key)
        if refresh is not None:
            s = jax.vmap(refresh)(s, jax.random.split(k_ref, num_envs))

        def body(c, k):
            s, mask, acc = c
            s, mask, out = jax.vmap(step)(s, sample(k, mask))
            return (s, mask, acc + jnp.sum(out)), None

        (s, mask, acc), _ = jax.lax.scan(body, (s, mask, acc), jax.random.split(k_steps, scan))
        return (s, mask, acc), jax.random.split(key)[0]

    s, mask = jax.jit(jax.vmap(reset))(jax.random.split(jax.random.key(0), num_envs))
    carry = (s, mask, jnp.zeros((), jnp.float32))
    key = jax.random.key(1)
    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(
        lambda: jax.jit(roll, donate_argnums=(0,)).lower(carry, key).compile()
    )
    _note_compile(budget, compile_s)
    state = [carry, key]

    def call():
        state[:] = list(jax.block_until_ready(fn(*state)))

    record = dict(
        section=section,
        algo="none",
        env=env_name,
        n_agents=n,
        num_envs=num_envs,
        num_seeds=1,
        devices=1,
        variant=variant,
        scan=scan,
        num_actions=a,
        what="raw env stepping, random valid actions",
    )
    return Program(record, call, num_envs * scan, compile_s, setup, 0.0, [], started)


# ---------------------------------------------------------------------- results
class Results:
    """Records, rewritten to disk (JSON, markdown, latest.json) after every addition."""

    def __init__(self, out: Path, mode: str, meta: dict):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        suffix = "" if mode in ("full", "gpu") else f"-{mode}"
        stem = f"{machine_name()}-{datetime.date.today().isoformat()}{suffix}"
        self.path = out / f"{stem}.json"
        self.md_path = out / f"{stem}.md"
        self.mode = mode
        self.meta = meta
        self.records: list[dict] = []
        self.skipped: list[str] = []

    def add(self, recs: list[dict]) -> None:
        self.records.extend(recs)
        self.write()

    def skip(self, what: str) -> None:
        print(f"[bench] skipped: {what}", flush=True)
        self.skipped.append(what)
        self.write()

    def write(self) -> None:
        text = json.dumps(self.records, indent=1) + "\n"
        self.path.write_text(text)
        shutil.copyfile(self.path, self.out / "latest.json")
        self.md_path.write_text(markdown(self.records, self.meta, self.skipped))


def validate_records(records: list[dict]) -> None:
    """Schema of a results file: required keys with their types, positive numbers."""
    if not isinstance(records, list) or not records:
        raise ValueError("results must be a non-empty list of records")
    for i, r in enumerate(records):
        for key, tp in REQUIRED.items():
            if key not in r:
                raise ValueError(f"record {i}: missing key {key!r}")
            v = r[key]
            ok = isinstance(v, tp) and not isinstance(v, bool)
            if tp is float:
                ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok:
                raise ValueError(f"record {i}: {key}={v!r} is not {tp.__name__}")
            if tp in (int, float) and not v > 0:
                raise ValueError(f"record {i}: {key}={v!r} is not positive")


def _f(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def _table(rows: list[list], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(records: list[dict], meta: dict, skipped: list[str]) -> str:
    out = [f"# acjax throughput: {meta.get('machine')} {meta.get('date')} ({meta.get('mode')})\n"]
    out.append(
        f"device {meta.get('device_kind')} x{meta.get('local_devices')}, {meta.get('cpu_count')} "
        f"cores, jax {meta.get('jax')}, load average at start {meta.get('load_avg_1min_start')}"
        f" (column `load`: at the end of each measurement). One env step = one step of all "
        "agents; training steps/s include the PPO update; medians of timed calls after compile "
        "and a warm-up call; ratios from programs timed in alternation.\n"
    )
    by = {}
    for r in records:
        by.setdefault(r["section"], []).append(r)
    if "env" in by:
        rows = [
            [
                r["env"],
                r["variant"],
                r["num_envs"],
                r["scan"],
                _f(r["steps_per_second"]),
                _f(r.get("time_vs_no_reset")),
                _f(r["compile_seconds"]),
                _f(r.get("load_avg_1min"), 1),
            ]
            for r in by["env"]
        ]
        out.append("\n## Raw env stepping\n\n")
        out.append(
            _table(
                rows,
                [
                    "env",
                    "variant",
                    "envs",
                    "scan",
                    "steps/s",
                    "time / no-reset",
                    "compile s",
                    "load",
                ],
            )
        )
        out.append(
            "\n`time / no-reset`: acjax variants against acjax without reset, Jumanji's against "
            "Jumanji without reset (targets: AutoReset <= 1.3x; Jumanji's about 2.7x).\n"
        )
    for sec, title in (
        ("scaling", "Training steps/s against num_envs and devices"),
        ("large", "Large batches"),
    ):
        if sec in by:
            rows = [
                [
                    r["algo"],
                    r["env"],
                    r["num_envs"],
                    r["devices"],
                    _f(r["steps_per_second"]),
                    _f(r.get("speedup_vs_1_device")),
                    _f(r.get("time_ratio_vs_mappo")),
                    _f(r["compile_seconds"]),
                    _f(r.get("load_avg_1min"), 1),
                ]
                for r in by[sec]
            ]
            out.append(f"\n## {title}\n\n")
            out.append(
                _table(
                    rows,
                    [
                        "algo",
                        "env",
                        "envs",
                        "devices",
                        "steps/s",
                        "vs 1 device",
                        "time / MAPPO",
                        "compile s",
                        "load",
                    ],
                )
            )
    if "peer" in by:
        rows = [
            [
                r["devices"],
                r["num_envs"],
                _f(r["steps_per_second"]),
                _f(r.get("peer_steps_per_second")),
                _f(r.get("vs_peer")),
                _f(r.get("target_vs_peer")),
                _f(r["compile_seconds"]),
                _f(r.get("load_avg_1min"), 1),
            ]
            for r in by["peer"]
        ]
        out.append("\n## Peer-equivalent setting (Mava FF-MAPPO, tiny-4ag, 64 envs x 128)\n\n")
        out.append(
            "The peer runs beside acjax in alternation (one peer run, then acjax's calls, per "
            "round); `-`: the peer was not built here (no ratio).\n\n"
        )
        out.append(
            _table(
                rows,
                [
                    "devices",
                    "envs",
                    "acjax steps/s",
                    "peer steps/s",
                    "ratio",
                    "target",
                    "compile s",
                    "load",
                ],
            )
        )
    if "agents" in by:
        rows = [
            [
                r["algo"],
                r["env"],
                r["n_agents"],
                r["num_envs"],
                _f(r["steps_per_second"]),
                f"{r['seconds_per_env_step'] * 1e6:.1f}",
                _f(r.get("time_ratio_vs_mappo")),
                _f(r["compile_seconds"]),
                _f(r.get("load_avg_1min"), 1),
            ]
            for r in by["agents"]
        ]
        out.append("\n## Runtime against agents (Figure 5)\n\n")
        out.append(
            _table(
                rows,
                [
                    "algo",
                    "env",
                    "agents",
                    "envs",
                    "steps/s",
                    "us / env step",
                    "time / MAPPO",
                    "compile s",
                    "load",
                ],
            )
        )
        out.append("\nTargets: ACPO / MAPPO <= 1.3 at 4 agents, <= 1.6 at 12.\n")
    if "seeds" in by:
        rows = [
            [
                r["algo"],
                r["devices"],
                r["num_seeds"],
                r["num_envs"],
                _f(r["steps_per_second"]),
                _f(r.get("speedup_vs_1_seed")),
                _f(r.get("vs_wide")),
                _f(r["compile_seconds"]),
                _f(r.get("load_avg_1min"), 1),
            ]
            for r in by["seeds"]
        ]
        out.append(
            "\n## Vmapped seeds (num_envs per seed; total steps/s of all seeds; `vs wide`: the "
            "most seeds against one seed with all their environments, target >= 0.9)\n\n"
        )
        out.append(
            _table(
                rows,
                [
                    "algo",
                    "devices",
                    "seeds",
                    "envs/seed",
                    "total steps/s",
                    "vs 1 seed",
                    "vs wide",
                    "compile s",
                    "load",
                ],
            )
        )
    if "floor" in by:
        rows = [
            [
                r["algo"],
                r.get("variant", "training"),
                r["num_envs"],
                r["devices"],
                _f(r["steps_per_second"]),
                _f(r.get("fraction_of_env_floor")),
                _f(r["compile_seconds"]),
                _f(r.get("load_avg_1min"), 1),
            ]
            for r in by["floor"]
        ]
        out.append("\n## Env floor beside training (same batch, rollout length as scan)\n\n")
        out.append(
            _table(
                rows,
                ["algo", "what", "envs", "devices", "steps/s", "of env floor", "compile s", "load"],
            )
        )
    if "policies" in by:
        rows = [
            [
                r["algo"],
                r["variant"],
                r["env"],
                r["num_envs"],
                _f(r["steps_per_second"]),
                _f(r.get("time_vs_reference")),
                _f(r["compile_seconds"]),
                _f(r.get("load_avg_1min"), 1),
            ]
            for r in by["policies"]
        ]
        out.append(
            "\n## Policies: GRU vs MLP, Gaussian vs categorical (time per step vs the first)\n\n"
        )
        out.append(
            _table(
                rows,
                ["algo", "policy", "env", "envs", "steps/s", "time vs ref", "compile s", "load"],
            )
        )
    if "sweep" in by:
        rows = [
            [
                r["algo"],
                r["variant"],
                r.get("split", "-"),
                r["devices"],
                r["runs"],
                r["num_envs"],
                _f(r["steps_per_second"]),
                _f(r.get("vs_wide")),
                _f(r.get("time_vs_seeds")),
                _f(r.get("time_vs_wide")),
                _f(r["compile_seconds"]),
            ]
            for r in by["sweep"]
        ]
        out.append(
            "\n## Sweeps: k learning rates x s seeds in one program (time per env step of the "
            "sweep over k*s seeds, and over one seed with all their environments; the seeds "
            "split over the devices whole runs per device and, `seeds-envs`, by environments)\n\n"
        )
        out.append(
            _table(
                rows,
                [
                    "algo",
                    "program",
                    "split",
                    "devices",
                    "runs",
                    "envs/run",
                    "steps/s",
                    "steps/s / wide",
                    "sweep time / seeds",
                    "sweep time / wide",
                    "compile s",
                ],
            )
        )
    if "mamujoco" in by:
        rows = [
            [
                r["env"].replace("|", "\\|"),  # humanoid-9|8 inside a table cell
                r["backend"],
                r["algo"],
                r["num_envs"],
                _f(r["steps_per_second"]),
                _f(r.get("fraction_of_env_floor")),
                _f(r["compile_seconds"]),
                _f(r.get("load_avg_1min"), 1),
            ]
            for r in by["mamujoco"]
        ]
        out.append("\n## Multi-agent MuJoCo: raw stepping (algo none) and training per backend\n\n")
        out.append(
            _table(
                rows,
                ["env", "backend", "algo", "envs", "steps/s", "of env floor", "compile s", "load"],
            )
        )
    if skipped:
        out.append("\n## Skipped (time budget or error)\n\n" + "".join(f"- {s}\n" for s in skipped))
    return "".join(out)


def plot_agents(records: list[dict], path: Path) -> None:
    """Figure 5's style: training time of a fixed step budget against the number of agents."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if r["section"] == "agents"]
    if not recs:
        return
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    colors = {"mappo": "tab:blue", "ippo": "tab:green", "acpo": "tab:red", "happo": "tab:orange"}
    for algo in sorted(
        {r["algo"] for r in recs}, key=lambda a: list(colors).index(a) if a in colors else 9
    ):
        rs = sorted((r for r in recs if r["algo"] == algo), key=lambda r: r["n_agents"])
        xs = [r["n_agents"] for r in rs]
        ys = [r["seconds_per_env_step"] * 1e6 / 60 for r in rs]  # minutes per 1M env steps
        ax.plot(xs, ys, "o-", label=algo.upper(), color=colors.get(algo))
        ratio = [
            (r["n_agents"], r["time_ratio_vs_mappo"]) for r in rs if "time_ratio_vs_mappo" in r
        ]
        if ratio and algo != "mappo":
            ax2.plot(*zip(*ratio, strict=True), "o-", label=algo.upper(), color=colors.get(algo))
    r0 = recs[0]
    ax.set_title(
        f"{r0['env'].replace(str(r0['n_agents']) + 'ag', 'Nag')}, {r0['num_envs']} envs x "
        f"{r0.get('rollout_len')}, {r0['devices']} dev ({device_kind()})",
        fontsize=9,
    )
    ax.set_ylabel("minutes per 1M env steps")
    ax2.axhline(1.0, color="tab:blue", lw=1, ls="--", label="MAPPO")
    ax2.plot([4, 12], [1.3, 1.6], "k+", ms=10, label="ACPO targets")
    ax2.set_ylabel("wall time / MAPPO's")
    ax2.set_title("relative to MAPPO (timed in alternation)", fontsize=9)
    for a in (ax, ax2):
        a.set_xlabel("number of agents")
        a.set_xticks(sorted({r["n_agents"] for r in recs}))
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------- sections
def run_group(
    res: Results,
    budget: Budget,
    what: str,
    builders: list[Callable[[], Program]],
    calls: int,
    default_compile: float,
) -> list[dict]:
    """Build (compile) the programs of one group, time them in alternation, record them.
    Programs that do not fit the budget are skipped; an error skips the group and is recorded."""
    if not budget.fits(len(builders), default_compile):
        res.skip(f"{what} (budget: {budget.left():.0f} s left)")
        return []
    programs: list[Program] = []
    try:
        for b in builders:
            if programs and not budget.fits(1, default_compile):
                res.skip(f"part of {what} (budget)")
                break
            programs.append(b())
        interleave(programs, calls, budget)
        recs = [finish(p, res.mode) for p in programs]
    except Exception as e:  # noqa: BLE001 - a failed measurement must not lose the others
        traceback.print_exc()
        res.skip(f"{what}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return []
    finally:
        del programs
        gc.collect()
    for r in recs:
        print(
            f"[bench] {r['section']:8s} {r['algo']:12s} {r['env']:24s} N={r['n_agents']:<2d} "
            f"envs={r['num_envs']:<6d} seeds={r['num_seeds']:<2d} dev={r['devices']} "
            f"{r.get('variant', ''):18s} {r['steps_per_second']:>12,.0f} steps/s "
            f"compile {r['compile_seconds']:.1f}s",
            flush=True,
        )
    return recs


def section_env(res, budget, mode, env, num_envs, scan, calls, variants=ENV_VARIANTS):
    builders = [(lambda v=v: env_program("env", v, env, num_envs, scan, budget)) for v in variants]
    recs = run_group(res, budget, f"env {env} {num_envs}", builders, calls, 5.0)
    base = {r["variant"]: r for r in recs}
    for r in recs:
        ref = base.get("jumanji_no_reset" if r["variant"].startswith("jumanji") else "no_reset")
        if ref is not None:
            r["time_vs_no_reset"] = ref["steps_per_second"] / r["steps_per_second"]
        if "no_reset" in base:
            r["time_vs_acjax_no_reset"] = (
                base["no_reset"]["steps_per_second"] / r["steps_per_second"]
            )
    res.add(recs)
    return recs


def section_scaling(res, budget, sec, algos, env, envs_list, devices_list, calls, k=1, **kw):
    out = []
    for ne in envs_list:
        builders = [
            (
                lambda a=a, d=d, ne=ne: train_program(
                    sec, a, env, ne, devices=d, k=k, budget=budget, **kw
                )
            )
            for a in algos
            for d in devices_list
            if ne % d == 0
        ]
        recs = run_group(res, budget, f"{sec} {env} {ne} envs", builders, calls, 15.0)
        one = {r["algo"]: r for r in recs if r["devices"] == 1}
        mappo = {r["devices"]: r for r in recs if r["algo"] == "mappo"}
        for r in recs:
            if r["algo"] in one and r["devices"] > 1:
                r["speedup_vs_1_device"] = (
                    r["steps_per_second"] / one[r["algo"]]["steps_per_second"]
                )
            if r["devices"] in mappo and r["algo"] != "mappo":
                r["time_ratio_vs_mappo"] = (
                    mappo[r["devices"]]["steps_per_second"] / r["steps_per_second"]
                )
        res.add(recs)
        out += recs
    return out


def peer_paths() -> tuple[Path | None, Path]:
    """(the peer's run.sh, the folder where its setup.sh builds it). Scripts: $ACJAX_PEER_SCRIPTS,
    shared/peer of the checkout or /work/shared/peer; the build: $PEER_DIR or
    ${TMPDIR:-/tmp}/acjax-peer (as setup.sh and run.sh have it)."""
    here = Path(__file__).resolve().parents[1]
    places = [os.environ.get("ACJAX_PEER_SCRIPTS"), here / "shared" / "peer", "/work/shared/peer"]
    script = next(
        (Path(p) / "run.sh" for p in places if p and (Path(p) / "run.sh").is_file()), None
    )
    build = os.environ.get("PEER_DIR") or Path(os.environ.get("TMPDIR") or "/tmp") / "acjax-peer"
    return script, Path(build)


def peer_ready() -> tuple[Path | None, str]:
    """(run.sh when the peer is built, else None; why not)."""
    script, build = peer_paths()
    if script is None:
        return None, "no peer scripts (run.sh) found"
    if not (build / "venv" / "bin" / "python").is_file() or not (build / "Mava" / "mava").is_dir():
        return None, f"the peer is not built in {build} (see {script.parent}/README.md, setup.sh)"
    return script, ""


def run_peer(script: Path, devices: int, timesteps: int, timeout: float) -> dict:
    """One run of the peer (run.sh DEVICES TIMESTEPS): the fields of its last `PEER ...` line."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # run.sh sets its own
    out = subprocess.run(
        ["bash", str(script), str(devices), str(timesteps)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("PEER ")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"peer run failed (rc {out.returncode}): {tail[0]}")
    fields = dict(kv.split("=", 1) for kv in lines[-1].split()[1:] if "=" in kv)
    return {
        k: float(v) if re.fullmatch(r"[-+0-9.eE]+|nan|inf", v) else v for k, v in fields.items()
    }


def section_peer(res, budget, calls, k, devices_list=(1, 2), rounds=2, peer_steps=98304):
    """acjax MAPPO at the peer's setting and, when the peer is built, the peer itself run beside
    it: per round and device count, one peer run (run.sh: the median of its steady calls), then
    `calls` acjax calls; the ratio of each round is acjax's median over the peer's, the record
    keeps every round and the median ratio. Without a built peer: a printed note, no ratio."""
    extra = ("ppo.lr=2.5e-4", "ppo.critic_lr=2.5e-4", "net.share_params=true")
    devs = [d for d in devices_list if d <= len(jax.local_devices())]
    script, why = peer_ready()
    if script is None:
        print(f"[bench] peer: {why}; acjax alone, no ratio", flush=True)
    builders = [
        (
            lambda d=d: train_program(
                "peer",
                "mappo",
                "jumanji-rware-tiny-4ag",
                64,
                devices=d,
                k=k,
                extra=extra,
                budget=budget,
            )
        )
        for d in devs
    ]
    if script is None:
        recs = run_group(res, budget, "peer (acjax side)", builders, calls, 15.0)
    else:
        recs = _peer_rounds(res, budget, script, builders, devs, calls, rounds, peer_steps)
    one = [r for r in recs if r["devices"] == 1]
    for r in recs:
        if one and r["devices"] > 1:
            r["speedup_vs_1_device"] = r["steps_per_second"] / one[0]["steps_per_second"]
    res.add(recs)
    return recs


def _peer_rounds(res, budget, script, builders, devs, calls, rounds, peer_steps):
    """Build acjax's programs, then alternate peer runs and acjax calls, round by round."""
    if not budget.fits(len(builders) + 2 * len(devs), 15.0):
        res.skip(f"peer (budget: {budget.left():.0f} s left)")
        return []
    programs = [b() for b in builders]
    for p in programs:  # warm-up
        p.call()
    peer = {d: [] for d in devs}
    ratios = {d: [] for d in devs}
    try:
        for r in range(rounds):
            if r > 0 and budget.left() < 120 * len(devs):
                break
            for d, p in zip(devs, programs, strict=True):
                got = run_peer(script, d, peer_steps, timeout=max(60.0, budget.left()))
                peer[d].append(got)
                mine = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    p.call()
                    mine.append(time.perf_counter() - t0)
                p.times += mine
                ratios[d].append(
                    p.steps_per_call / statistics.median(mine) / got["steps_per_second"]
                )
    except Exception as e:  # noqa: BLE001 - the acjax side stays measured
        traceback.print_exc()
        res.skip(f"peer runs: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    recs = [finish(p, res.mode) for p in programs if p.times]
    for rec in recs:
        d = rec["devices"]
        if ratios[d]:
            rec["peer"] = "Mava FF-MAPPO 57c8e64, run beside acjax (shared/peer/run.sh)"
            rec["peer_steps_per_second"] = statistics.median(x["steps_per_second"] for x in peer[d])
            rec["peer_rounds"] = peer[d]
            rec["vs_peer_rounds"] = ratios[d]
            rec["vs_peer"] = statistics.median(ratios[d])
            rec["target_vs_peer"] = PEER_TARGET[d]
        print(
            f"[bench] peer     dev={d} acjax {rec['steps_per_second']:,.0f} steps/s, peer "
            f"{rec.get('peer_steps_per_second', float('nan')):,.0f}, ratio {rec.get('vs_peer')}",
            flush=True,
        )
    del programs
    gc.collect()
    return recs


def available_algos(wanted):
    from acjax import algos

    return [a for a in wanted if a in algos.NAMES]


def section_agents(res, budget, env_pattern, ns, algos, num_envs, calls, devices=0, k=1, **kw):
    algos = available_algos(algos)
    out = []
    for n in ns:
        env = env_pattern.format(n=n)
        builders = [
            (
                lambda a=a, env=env: train_program(
                    "agents", a, env, num_envs, devices=devices, k=k, budget=budget, **kw
                )
            )
            for a in algos
        ]
        recs = run_group(res, budget, f"agents {env}", builders, calls, 20.0)
        mappo = [r for r in recs if r["algo"] == "mappo"]
        for r in recs:
            r["step_budget_note"] = "wall time per env step at a fixed batch"
            if mappo:
                r["time_ratio_vs_mappo"] = mappo[0]["steps_per_second"] / r["steps_per_second"]
        res.add(recs)
        out += recs
        plot_agents(res.records, res.out / "runtime_vs_agents.png")
    return out


def section_seeds(res, budget, algo, env, num_envs, seeds, calls, devices=0, k=1, **kw):
    """S vmapped seeds of `num_envs` envs each, for S in `seeds`, and one seed with the
    environments of the most seeds (`wide`: the same env steps per call), in alternation: the
    total steps/s of each, S seeds against one, and the most seeds against the wide run."""
    most = max(seeds)
    make = lambda s, e: (
        lambda: train_program(  # noqa: E731
            "seeds", algo, env, e, devices=devices, num_seeds=s, k=k, budget=budget, **kw
        )
    )
    builders = [make(s, num_envs) for s in seeds]
    if most > 1:
        builders.append(make(1, num_envs * most))
    recs = run_group(
        res, budget, f"seeds {seeds}, 1 x {num_envs * most} envs", builders, calls, 15.0
    )
    one = [r for r in recs if r["num_seeds"] == 1 and r["num_envs"] == num_envs]
    wide = [r for r in recs if r["num_seeds"] == 1 and r["num_envs"] == num_envs * most > num_envs]
    for r in recs:
        if r in wide:
            r["variant"] = "wide"
            continue
        if one:
            r["speedup_vs_1_seed"] = r["steps_per_second"] / one[0]["steps_per_second"]
        if wide and r["num_seeds"] == most:
            r["vs_wide"] = r["steps_per_second"] / wide[0]["steps_per_second"]
    res.add(recs)
    return recs


def section_sweep(res, budget, algo, env, num_envs, values, seeds, calls, k=1, **kw):
    """A sweep of len(values) learning rates x `seeds` seeds against one run with as many seeds
    (the same program without traced hyper-parameters) and one seed with all their
    environments (the same env steps per call): time per env step of each."""
    n = len(values) * seeds
    lrs = "[" + ",".join(map(str, values)) + "]"
    make = lambda tag, ne, s, extra=(): train_program(  # noqa: E731
        "sweep", algo, env, ne, num_seeds=s, k=k, budget=budget, extra=extra, **kw
    )
    builders = [
        lambda: make("sweep", num_envs, seeds, (f"sweep.ppo.lr={lrs}",)),
        lambda: make("seeds", num_envs, n),
        lambda: make("wide", num_envs * n, 1),
    ]
    if len(jax.devices()) > 1:  # the seeds with each one's environments over the devices
        builders.insert(2, lambda: make("seeds", num_envs, n, ("split=envs",)))
    recs = run_group(res, budget, f"sweep {len(values)} x {seeds}", builders, calls, 15.0)

    def tag(r):
        if r["runs"] > r["num_seeds"]:
            return "sweep"
        if r["num_seeds"] == 1:
            return "wide"
        return "seeds-envs" if r["split"] == "envs" else "seeds"

    by = {tag(r): r for r in recs}
    if "sweep" in by:
        t = 1.0 / by["sweep"]["steps_per_second"]
        for name in ("seeds", "wide"):
            if name in by:
                by["sweep"][f"time_vs_{name}"] = t * by[name]["steps_per_second"]
    for name, r in by.items():
        r["variant"] = name
        if "wide" in by and name != "wide":
            r["vs_wide"] = r["steps_per_second"] / by["wide"]["steps_per_second"]
    res.add(recs)
    return recs


def section_policies(
    res, budget, env, num_envs, calls, algos=("mappo", "acpo"), rollout=128, hidden=(128, 128),
    epochs=4, minibatches=2, chunk=16, matrix_envs=64,
):  # fmt: skip
    """What a policy costs: GRU vs MLP on the warehouse at equal PPO settings, with a GRU of the
    default width net.rnn_hidden=64 (sequence chunks of `chunk` steps) either after the same MLP
    layers (`gru`: more multiply-adds than the MLP alone) or in place of the last one
    (`gru_replace`: the same depth); and Gaussian vs categorical heads on the matrix games
    (matrix-continuous, 1-d actions, vs matrix-climbing, 3 actions; same nets and batch)."""
    kw = dict(rollout=rollout, epochs=epochs, minibatches=minibatches, budget=budget)
    gru = ("net.rnn=gru", "net.rnn_hidden=64", f"ppo.chunk_len={chunk}")
    out = []
    for a in algos:
        groups = [
            (
                f"policies {a} mlp/gru {env}",
                [
                    ("mlp", env, num_envs, hidden, ()),
                    ("gru", env, num_envs, hidden, gru),
                    ("gru_replace", env, num_envs, hidden[:-1] or hidden, gru),
                ],
            ),
            (
                f"policies {a} categorical/gaussian",
                [
                    ("categorical", "matrix-climbing", matrix_envs, hidden, ()),
                    ("gaussian", "matrix-continuous", matrix_envs, hidden, ()),
                ],
            ),
        ]
        for what, items in groups:
            builders = [
                lambda v=v, e=e, ne=ne, h=h, x=x, a=a: _variant(
                    train_program("policies", a, e, ne, hidden=h, extra=x, **kw), v
                )
                for v, e, ne, h, x in items
            ]
            recs = run_group(res, budget, what, builders, calls, 15.0)
            base = {r["variant"]: r for r in recs}
            for r in recs:
                ref = base.get("mlp" if r["variant"].startswith(("mlp", "gru")) else "categorical")
                if ref is not None:
                    r["time_vs_reference"] = ref["steps_per_second"] / r["steps_per_second"]
            res.add(recs)
            out += recs
    return out


def section_mamujoco(
    res, budget, scenarios, backends, num_envs, calls, algos=("mappo", "acpo"), scan=100,
    rollout=200, epochs=5, minibatches=1, hidden=(128, 128, 128),
):  # fmt: skip
    """Multi-agent MuJoCo per scenario and brax backend: raw stepping (random actions in the
    bounds, AutoReset, `scan` steps per call) beside the training of each algorithm at the same
    number of environments (HARL-like PPO: rollout 200, one minibatch, MLP [128, 128, 128])."""
    kw = dict(rollout=rollout, epochs=epochs, minibatches=minibatches, hidden=hidden)
    out = []
    for env in scenarios:
        for b in backends:
            opt = (f"mamujoco.backend={b}",)
            builders = [
                lambda env=env, opt=opt: env_program(
                    "mamujoco", "autoreset", env, num_envs, scan, budget, opt
                )
            ]
            builders += [
                lambda a=a, env=env, opt=opt: train_program(
                    "mamujoco", a, env, num_envs, devices=1, extra=opt, budget=budget, **kw
                )
                for a in algos
            ]
            recs = run_group(res, budget, f"mamujoco {env} {b} {num_envs}", builders, calls, 30.0)
            floor = [r for r in recs if r["algo"] == "none"]
            for r in recs:
                r["backend"] = b
                r.setdefault("variant", "training")
                if floor:
                    r["fraction_of_env_floor"] = (
                        r["steps_per_second"] / floor[0]["steps_per_second"]
                    )
            res.add(recs)
            out += recs
    return out


def _variant(p: Program, variant: str) -> Program:
    p.record["variant"] = variant
    return p


def section_floor(res, budget, algos, env, envs_list, calls, rollout=128, hidden=(128, 128)):
    out = []
    for ne in envs_list:
        builders = [lambda ne=ne: env_program("floor", "autoreset", env, ne, rollout, budget)]
        for a in algos:
            builders.append(
                lambda a=a, ne=ne: rollout_program("floor", a, env, ne, rollout, hidden, budget)
            )
            builders.append(
                lambda a=a, ne=ne: train_program(
                    "floor", a, env, ne, devices=1, rollout=rollout, hidden=hidden, budget=budget
                )
            )
        recs = run_group(res, budget, f"floor {env} {ne}", builders, calls, 10.0)
        floor = [r for r in recs if r["algo"] == "none"]
        for r in recs:
            r.setdefault("variant", "training")
            if floor:
                r["fraction_of_env_floor"] = r["steps_per_second"] / floor[0]["steps_per_second"]
        res.add(recs)
        out += recs
    return out


# ---------------------------------------------------------------------- plans
def plan(mode: str, tiny: bool) -> list[Callable]:
    """The sections of a mode, as functions of (res, budget)."""
    n_dev = len(jax.local_devices())
    devs = sorted({d for d in (1, 2, 4, 8, 16) if d <= n_dev} | {n_dev})
    J4 = "jumanji-rware-tiny-4ag"
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
    if mode == "gpu":  # most telling first: the budget cuts the tail (--tiny: same plan, tiny)
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
    from acjax.envs.mamujoco import DEFAULT_BACKEND as MAMUJOCO_BACKEND

    if mode == "mamujoco":
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
    if mode == "peer":  # the peer beside acjax alone: 3 rounds, 4 updates per call as the peer's
        return [lambda r, b: section_peer(r, b, calls=5, k=4, rounds=3)]
    if mode == "full":
        return [
            lambda r, b: section_env(r, b, mode, J4, 1024, 100, 7),
            lambda r, b: section_peer(r, b, calls=5, k=2),
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


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = ["smoke", "quick", "peer", "full", "gpu", "policies", "mamujoco", "sweep"]
    p.add_argument("--mode", default="quick", choices=modes)
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
        "peer": 900.0,
        "full": 1500.0,
        "gpu": 420.0,
        "policies": 600.0,
        "mamujoco": 1800.0,
        "sweep": 600.0,
    }.get(args.mode)
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
    res = Results(args.out, args.mode, meta)
    for section in plan(args.mode, args.tiny):
        section(res, budget)
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

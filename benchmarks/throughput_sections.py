"""The sections of the throughput suite (module docstring of throughput.py): each builds its
programs, times them in alternation (`bench_timing.run_group`) and adds derived ratios."""

from __future__ import annotations

import jax
from bench_timing import Program, run_group
from throughput_programs import (
    ENV_VARIANTS,
    JAXMARL_VARIANTS,
    env_program,
    rollout_program,
    train_program,
)
from throughput_report import plot_agents


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


def section_jaxmarl(res, budget, env, num_envs, scan, calls):
    """The adapter (`acjax.envs.jaxmarl_world`) against JaxMARL's world stepped directly in the
    same scan: `adapter_cost` is acjax's time per step over JaxMARL's, without resets
    (no_reset / jaxmarl_no_reset) and with them (acjax's AutoReset / JaxMARL's own `step`)."""
    builders = [
        (lambda v=v: env_program("jaxmarl", v, env, num_envs, scan, budget))
        for v in JAXMARL_VARIANTS
    ]
    recs = run_group(res, budget, f"jaxmarl {env} {num_envs}", builders, calls, 20.0)
    base = {r["variant"]: r for r in recs}
    for ours, theirs in (("no_reset", "jaxmarl_no_reset"), ("autoreset", "jaxmarl_autoreset")):
        if ours in base and theirs in base:
            cost = base[theirs]["steps_per_second"] / base[ours]["steps_per_second"]
            base[ours]["adapter_cost"] = cost
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


def section_hatrpo(res, budget, env, num_envs, calls, devices=1, k=1, **kw):
    """HATRPO against HAPPO (issue 27's target: <= 1.5x HAPPO's time per env step at 4 agents):
    both at the same batch, networks and critic epochs, timed in alternation; each record gets
    its time per env step over HAPPO's (`time_ratio_vs_happo`)."""
    algos = available_algos(["happo", "hatrpo"])
    builders = [
        (
            lambda a=a: train_program(
                "hatrpo", a, env, num_envs, devices=devices, k=k, budget=budget, **kw
            )
        )
        for a in algos
    ]
    recs = run_group(res, budget, f"hatrpo {env}", builders, calls, 30.0)
    happo = [r for r in recs if r["algo"] == "happo"]
    for r in recs:
        if happo:
            r["time_ratio_vs_happo"] = happo[0]["steps_per_second"] / r["steps_per_second"]
    res.add(recs)
    return recs


def section_value(res, budget, env, num_envs, calls, algos=("mappo", "qmix", "vdn"), **kw):
    """The value-based algorithms against MAPPO at the same env steps per update: each update
    plays `rollout` steps of every environment (QMIX/VDN: one episode of q.episode_len =
    rollout from a reset) then learns (MAPPO: its epochs x minibatches; QMIX/VDN: one gradient
    step on q.batch_episodes whole episodes, the replay full of them); time per env step and
    its ratio to MAPPO's, timed in alternation."""
    rollout = kw.get("rollout", 128)
    extra = (
        f"q.episode_len={rollout}", f"q.batch_episodes={num_envs}",
        f"q.buffer_episodes={4 * num_envs}", *kw.pop("extra", ()),
    )  # fmt: skip
    builders = [
        (lambda a=a: train_program("value", a, env, num_envs, budget=budget, extra=extra, **kw))
        for a in available_algos(algos)
    ]
    recs = run_group(res, budget, f"value {env} {num_envs} envs", builders, calls, 20.0)
    mappo = [r for r in recs if r["algo"] == "mappo"]
    for r in recs:
        if r["algo"] != "mappo":
            r["what"] = "training (one episode per env + one gradient step on whole episodes)"
        if mappo:
            r["time_ratio_vs_mappo"] = mappo[0]["steps_per_second"] / r["steps_per_second"]
    res.add(recs)
    return recs

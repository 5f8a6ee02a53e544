"""The throughput suite's report: its records rewritten to disk after every measurement
(`Results`: JSON, markdown, latest.json), the markdown tables (`markdown`, one per section) and
the runtime-against-agents figure (`plot_agents`)."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

from bench_timing import device_kind, fmt, machine_name, table


def _raw(key: str, default=None):
    return lambda r: r[key] if default is None else r.get(key, default)


def _num(key: str, digits: int = 2):
    return lambda r: fmt(r.get(key), digits)


COMPILE = ("compile s", _num("compile_seconds"))
LOAD = ("load", _num("load_avg_1min", 1))
STEPS = ("steps/s", _num("steps_per_second"))
TRAIN = [("algo", _raw("algo")), ("env", _raw("env"))]
# section: (title, text before the table, columns (head, cell of a record), text after it)
SECTIONS = {
    "env": (
        "Raw env stepping",
        "",
        [("env", _raw("env")), ("variant", _raw("variant")), ("envs", _raw("num_envs")),
         ("scan", _raw("scan")), STEPS, ("time / no-reset", _num("time_vs_no_reset")), COMPILE,
         LOAD],
        "\n`time / no-reset`: acjax variants against acjax without reset, Jumanji's against "
        "Jumanji without reset (targets: AutoReset <= 1.3x; Jumanji's about 2.7x).\n",
    ),
    "jaxmarl": (
        "JaxMARL's worlds: acjax's adapter against JaxMARL's own stepping",
        "The same scan of random available actions, alternating: `no_reset` is acjax's adapter "
        "without resets against `jaxmarl_no_reset`, JaxMARL's `step_env`; `autoreset` is "
        "acjax's AutoReset over the adapter against `jaxmarl_autoreset`, JaxMARL's own `step` "
        "(a reset inside every step).\n\n",
        [("env", _raw("env")), ("variant", _raw("variant")), ("envs", _raw("num_envs")),
         ("scan", _raw("scan")), STEPS, ("adapter cost", _num("adapter_cost")), COMPILE, LOAD],
        "\n`adapter cost`: acjax's time per step over JaxMARL's in the same setting "
        "(target <= 1.05 at 1024 environments without resets).\n",
    ),
    **{
        sec: (
            title,
            "",
            [*TRAIN, ("envs", _raw("num_envs")), ("devices", _raw("devices")), STEPS,
             ("vs 1 device", _num("speedup_vs_1_device")),
             ("time / MAPPO", _num("time_ratio_vs_mappo")), COMPILE, LOAD],
            "",
        )
        for sec, title in (
            ("scaling", "Training steps/s against num_envs and devices"),
            ("large", "Large batches"),
        )
    },
    "peer": (
        "Peer-equivalent setting (Mava FF-MAPPO, tiny-4ag, 64 envs x 128)",
        "acjax as a user runs it: `acjax train` at the peer's setting, its summary's steps/s "
        "(compilation excluded). The peer runs beside it in alternation (one peer run, then one "
        "acjax run of as many steps, per round; medians over rounds); `-`: the peer was not "
        "built here (no ratio).\n\n",
        [("devices", _raw("devices")), ("envs", _raw("num_envs")),
         ("acjax steps/s", _num("steps_per_second")),
         ("peer steps/s", _num("peer_steps_per_second")), ("ratio", _num("vs_peer")),
         ("target", _num("target_vs_peer")), COMPILE, LOAD],
        "",
    ),
    "agents": (
        "Runtime against agents (Figure 5)",
        "",
        [*TRAIN, ("agents", _raw("n_agents")), ("envs", _raw("num_envs")), STEPS,
         ("us / env step", lambda r: f"{r['seconds_per_env_step'] * 1e6:.1f}"),
         ("time / MAPPO", _num("time_ratio_vs_mappo")), COMPILE, LOAD],
        "\nTargets: ACPO / MAPPO <= 1.3 at 4 agents, <= 1.6 at 12.\n",
    ),
    "hatrpo": (
        "HATRPO against HAPPO (same batch, networks and critic epochs; timed in alternation)",
        "",
        [*TRAIN, ("agents", _raw("n_agents")), ("envs", _raw("num_envs")),
         ("rollout", _raw("rollout_len")), ("epochs x mb", lambda r: f"{r['epochs']} x "
         f"{r['num_minibatches']}"), STEPS,
         ("us / env step", lambda r: f"{r['seconds_per_env_step'] * 1e6:.1f}"),
         ("time / HAPPO", _num("time_ratio_vs_happo")), COMPILE, LOAD],
        "\nTarget: HATRPO / HAPPO <= 1.5 at 4 agents (issue 27).\n",
    ),
    "value": (
        "Value-based (QMIX, VDN) against MAPPO at the same env steps per update",
        "",
        [*TRAIN, ("envs", _raw("num_envs")), ("episode", _raw("rollout_len")), STEPS,
         ("us / env step", lambda r: f"{r['seconds_per_env_step'] * 1e6:.1f}"),
         ("time / MAPPO", _num("time_ratio_vs_mappo")), COMPILE, LOAD],
        "\nQMIX/VDN: one episode of `episode` steps per environment from a reset (GRU 64 agent "
        "network), then one gradient step on `envs` whole episodes; MAPPO: `episode` steps "
        "per environment, then 2 epochs x 2 minibatches (MLP 64).\n",
    ),
    "seeds": (
        "Vmapped seeds (num_envs per seed; total steps/s of all seeds; `vs wide`: the "
        "most seeds against one seed with all their environments, target >= 0.9)",
        "",
        [("algo", _raw("algo")), ("devices", _raw("devices")), ("seeds", _raw("num_seeds")),
         ("envs/seed", _raw("num_envs")), ("total steps/s", _num("steps_per_second")),
         ("vs 1 seed", _num("speedup_vs_1_seed")), ("vs wide", _num("vs_wide")), COMPILE, LOAD],
        "",
    ),
    "floor": (
        "Env floor beside training (same batch, rollout length as scan)",
        "",
        [("algo", _raw("algo")), ("what", _raw("variant", "training")),
         ("envs", _raw("num_envs")), ("devices", _raw("devices")), STEPS,
         ("of env floor", _num("fraction_of_env_floor")), COMPILE, LOAD],
        "",
    ),
    "policies": (
        "Policies: GRU vs MLP, Gaussian vs categorical (time per step vs the first)",
        "",
        [("algo", _raw("algo")), ("policy", _raw("variant")), ("env", _raw("env")),
         ("envs", _raw("num_envs")), STEPS, ("time vs ref", _num("time_vs_reference")),
         COMPILE, LOAD],
        "",
    ),
    "sweep": (
        "Sweeps: k learning rates x s seeds in one program (time per env step of the "
        "sweep over k*s seeds, and over one seed with all their environments; the seeds "
        "split over the devices whole runs per device and, `seeds-envs`, by environments)",
        "",
        [("algo", _raw("algo")), ("program", _raw("variant")), ("split", _raw("split", "-")),
         ("devices", _raw("devices")), ("runs", _raw("runs")), ("envs/run", _raw("num_envs")),
         STEPS, ("steps/s / wide", _num("vs_wide")),
         ("sweep time / seeds", _num("time_vs_seeds")),
         ("sweep time / wide", _num("time_vs_wide")), COMPILE],
        "",
    ),
    "mamujoco": (
        "Multi-agent MuJoCo: raw stepping (algo none) and training per backend",
        "",
        [("env", lambda r: r["env"].replace("|", "\\|")),  # humanoid-9|8 inside a table cell
         ("backend", _raw("backend")), ("algo", _raw("algo")), ("envs", _raw("num_envs")),
         STEPS, ("of env floor", _num("fraction_of_env_floor")), COMPILE, LOAD],
        "",
    ),
}  # fmt: skip


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
    for sec, (title, before, columns, after) in SECTIONS.items():
        if sec in by:
            rows = [[cell(r) for _, cell in columns] for r in by[sec]]
            out.append(f"\n## {title}\n\n" + before)
            out.append(table(rows, [head for head, _ in columns]) + after)
    if skipped:
        out.append("\n## Skipped (time budget or error)\n\n" + "".join(f"- {s}\n" for s in skipped))
    return "".join(out)


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

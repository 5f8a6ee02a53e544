"""The scale curves' report (`--mode scale-envs|scale-agents`): JSON, markdown with the
saturation point stated, and the plot (steps/s and peak memory against the axis), rewritten
after every point."""

from __future__ import annotations

import json

from bench_timing import fmt, table
from throughput_report import Results
from throughput_scale import SATURATION_TOL, saturation_point

COLORS = {"mappo": "tab:blue", "acpo": "tab:red", "ippo": "tab:green", "happo": "tab:orange"}


def _mib(r: dict) -> float:
    """A point's peak memory in MiB: the device's on a GPU, the process's resident set on CPU."""
    b = r.get("device_peak_bytes_in_use") if r.get("platform") != "cpu" else None
    return (b if b else r["peak_rss_bytes"]) / 2**20


def _memory_label(records: list[dict]) -> str:
    if records and records[0].get("platform") != "cpu":
        return "peak device memory (MiB, jax memory_stats)"
    return "peak RSS of the point's process (MiB)"


def curves(records: list[dict]) -> dict[str, list[dict]]:
    """The records of each algorithm, sorted along the axis."""
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r["algo"], []).append(r)
    for rs in by.values():
        axis = rs[0]["scale_axis"]
        rs.sort(key=lambda r: r["num_envs"] if axis == "envs" else r["n_agents"])
    return by


def summary(records: list[dict]) -> list[str]:
    """One line per algorithm: the saturation point (env curve) or the best/worst (agents)."""
    lines = []
    for algo, rs in curves(records).items():
        axis = rs[0]["scale_axis"]
        key = "num_envs" if axis == "envs" else "n_agents"
        xs = [r[key] for r in rs]
        ys = [r["steps_per_second"] for r in rs]
        if axis == "envs":
            x_sat, x_best, y_best = saturation_point(xs, ys)
            lines.append(
                f"- {algo.upper()}: throughput saturates at **{x_sat} envs** (the smallest env "
                f"count within {SATURATION_TOL:.0%} of the best); best {fmt(y_best)} steps/s at "
                f"{x_best} envs, {fmt(ys[-1])} ({ys[-1] / y_best:.0%} of the best) at the most, "
                f"{xs[-1]} envs; peak memory {_mib(rs[0]):,.0f} MiB at {xs[0]} envs to "
                f"{_mib(rs[-1]):,.0f} MiB at {xs[-1]} envs.\n"
            )
        else:
            cost = [r["seconds_per_env_step"] / r["n_agents"] for r in rs]
            lines.append(
                f"- {algo.upper()}: {fmt(ys[0])} steps/s at {xs[0]} agents to {fmt(ys[-1])} at "
                f"{xs[-1]} ({ys[0] / ys[-1]:.1f}x slower per env step, "
                f"{cost[-1] / cost[0]:.2f}x the time per agent step); peak memory "
                f"{_mib(rs[0]):,.0f} to {_mib(rs[-1]):,.0f} MiB.\n"
            )
    return lines


def scale_markdown(records: list[dict], meta: dict, skipped: list[str]) -> str:
    axis = records[0]["scale_axis"] if records else meta.get("mode", "")
    r0 = records[0] if records else {}
    pattern = str(r0.get("env", "")).replace(f"{r0.get('n_agents')}ag", "{n}ag")
    fixed = (
        f"{r0.get('n_agents')} agents ({r0.get('env')})"
        if axis == "envs"
        else f"{r0.get('num_envs')} envs ({pattern})"
    )
    out = [
        f"# acjax scale curve against {axis}: {meta.get('machine')} {meta.get('date')}\n\n",
        f"device {meta.get('device_kind')} x{meta.get('local_devices')}, "
        f"{meta.get('cpu_count')} cores, jax {meta.get('jax')}; load average at start "
        f"{fmt(meta.get('load_avg_1min_start'), 1)} (column `load`: at the end of each point; the "
        "figures were taken with other jobs on the machine). Fixed: "
        f"{fixed}, rollout {r0.get('rollout_len')}, {r0.get('epochs')} epochs x "
        f"{r0.get('num_minibatches')} minibatches, MLP {r0.get('actor_hidden')}, "
        f"{r0.get('devices')} device(s). Steps/s: env steps (all agents) of the compiled "
        "training chunk (rollout + advantages + PPO update) over the median call, after compile "
        "and a warm-up call; each point in a process of its own. Memory: "
        f"{_memory_label(records)}.\n\n",
    ]
    if records:
        out.append("## Saturation\n\n" + "".join(summary(records)) + "\n")
        rows = [
            [r["algo"], r["env"], r["n_agents"], r["num_envs"], fmt(r["steps_per_second"]),
             fmt(r["agent_steps_per_second"]), f"{_mib(r):,.0f}",
             f"{r['base_rss_bytes'] / 2**20:,.0f}", fmt(r["compile_seconds"]),
             len(r["call_seconds"]), fmt(r["median_call_seconds"], 3),
             fmt(r["load_avg_1min"], 1)]
            for rs in curves(records).values()
            for r in rs
        ]  # fmt: skip
        head = ["algo", "env", "agents", "envs", "steps/s", "agent steps/s", "peak MiB",
                "RSS before build MiB", "compile s", "calls", "median call s", "load"]  # fmt: skip
        out.append("## Points\n\n" + table(rows, head))
    if skipped:
        out.append("\n## Stopped\n\n" + "".join(f"- {s}\n" for s in skipped))
    return "".join(out)


def plot_scale(records: list[dict], path) -> None:
    """Steps/s (left) and peak memory (right) against the axis, one line per algorithm; the
    saturation point marked on the env curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        return
    axis = records[0]["scale_axis"]
    key = "num_envs" if axis == "envs" else "n_agents"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for algo, rs in curves(records).items():
        xs = [r[key] for r in rs]
        ys = [r["steps_per_second"] for r in rs]
        c = COLORS.get(algo)
        ax.plot(xs, ys, "o-", color=c, label=algo.upper())
        ax2.plot(xs, [_mib(r) for r in rs], "o-", color=c, label=algo.upper())
        if axis == "envs":
            x_sat = saturation_point(xs, ys)[0]
            y_sat = ys[xs.index(x_sat)]
            ax.plot([x_sat], [y_sat], "s", ms=11, mfc="none", color=c)
            ax.annotate(f"saturates {x_sat}", (x_sat, y_sat), textcoords="offset points",
                        xytext=(4, -14), fontsize=8, color=c)  # fmt: skip
    r0 = records[0]
    where = f"{r0['n_agents']} agents" if axis == "envs" else f"{r0['num_envs']} envs"
    loads = [r["load_avg_1min"] for r in records]
    load = f", load {min(loads):.1f}-{max(loads):.1f}" if r0.get("platform") == "cpu" else ""
    ax.set_title(f"{where}, rollout {r0['rollout_len']} ({r0['device_kind']}{load})", fontsize=9)
    ax.set_ylabel("env steps/s (rollout + update)")
    ax2.set_ylabel(_memory_label(records))
    for a in (ax, ax2):
        a.set_xlabel("environments" if axis == "envs" else "agents")
        if axis == "envs":
            a.set_xscale("log", base=2)
        a.set_xticks(sorted({r[key] for r in records}))
        a.set_xticklabels([str(x) for x in sorted({r[key] for r in records})], fontsize=7)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    if axis == "envs":
        ax2.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


class ScaleResults(Results):
    """A scale mode's records: JSON, markdown and plot beside each other (not latest.json)."""

    def write(self) -> None:
        self.path.write_text(json.dumps(self.records, indent=1) + "\n")
        self.md_path.write_text(scale_markdown(self.records, self.meta, self.skipped))
        plot_scale(self.records, self.path.with_suffix(".png"))

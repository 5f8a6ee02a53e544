"""The scale curves' logic (benchmarks/throughput_scale.py, throughput_scale_report.py) without
running a point: the saturation point, the memory extrapolation, the report and the plot."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from throughput_scale import predicted_peak, saturation_point  # noqa: E402
from throughput_scale_report import plot_scale, scale_markdown  # noqa: E402


def test_saturation_is_the_smallest_count_within_tolerance_of_the_best():
    xs = [16, 64, 256, 1024, 4096]
    ys = [1000.0, 5000.0, 9200.0, 10000.0, 9000.0]
    assert saturation_point(xs, ys) == (256, 1024, 10000.0)
    assert saturation_point(xs, ys, tol=0.05) == (1024, 1024, 10000.0)
    # order of the input does not matter; a rising curve saturates at its end
    assert saturation_point(xs[::-1], ys[::-1]) == (256, 1024, 10000.0)
    assert saturation_point([1, 2, 4], [1.0, 2.0, 4.0]) == (4, 4, 4.0)
    assert saturation_point([], []) == (None, None, None)


def test_predicted_peak_scales_what_the_point_added_above_the_baseline():
    gib = 2**30
    assert predicted_peak(1024, 3 * gib, 1 * gib, 4096) == pytest.approx(9 * gib)
    assert predicted_peak(1024, 0.5 * gib, 1 * gib, 4096) == pytest.approx(1 * gib)


def _rec(algo, axis, x, sps, peak_mib):
    envs, agents = (x, 4) if axis == "envs" else (64, x)
    return dict(
        section=f"scale-{axis}", scale_axis=axis, algo=algo, env=f"rware-tiny-{agents}ag",
        n_agents=agents, num_envs=envs, steps_per_second=sps, agent_steps_per_second=sps * agents,
        seconds_per_env_step=1 / sps, peak_rss_bytes=peak_mib * 2**20, base_rss_bytes=150 * 2**20,
        compile_seconds=5.0, call_seconds=[0.1, 0.1, 0.1], median_call_seconds=0.1,
        load_avg_1min=2.0, rollout_len=16, epochs=4, num_minibatches=2, actor_hidden=[128, 128],
        devices=2, device_kind="cpu", platform="cpu",
    )  # fmt: skip


def test_report_states_the_saturation_point_and_plots(tmp_path):
    recs = [
        _rec(a, "envs", x, s * f, m)
        for a, f in (("mappo", 1.0), ("acpo", 0.8))
        for x, s, m in ((16, 2000.0, 900), (256, 9000.0, 1000), (4096, 9500.0, 4000))
    ]
    text = scale_markdown(recs, {"machine": "cpu2", "date": "d"}, ["mappo envs curve stopped"])
    assert "MAPPO: throughput saturates at **256 envs**" in text
    assert "ACPO: throughput saturates at **256 envs**" in text
    assert "## Stopped" in text and "| mappo | rware-tiny-4ag | 4 | 4096 | 9,500 |" in text
    plot_scale(recs, tmp_path / "envs.png")
    assert (tmp_path / "envs.png").stat().st_size > 0

    agents = [_rec("mappo", "agents", n, 8000.0 / n, 900 + n) for n in (2, 4, 8)]
    text = scale_markdown(agents, {}, [])
    assert "MAPPO: 4,000 steps/s at 2 agents to 1,000 at 8 (4.0x slower" in text
    plot_scale(agents, tmp_path / "agents.png")
    assert (tmp_path / "agents.png").stat().st_size > 0

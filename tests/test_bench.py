"""The benchmark suite's machinery end to end on a tiny subset (`--mode smoke`), into a tmp dir."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


def _load():
    spec = importlib.util.spec_from_file_location("acjax_bench_throughput", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_smoke_writes_valid_results(tmp_path):
    bench = _load()
    path = bench.main(["--mode", "smoke", "--out", str(tmp_path)])
    assert path.parent == tmp_path and path.name.endswith("-smoke.json")
    records = json.loads(path.read_text())
    bench.validate_records(records)  # required keys, types, positive numbers
    for r in records:
        for key, tp in bench.REQUIRED.items():
            assert isinstance(r[key], int | float if tp is float else tp), key
        assert r["steps_per_second"] > 0 and math.isfinite(r["steps_per_second"])
        assert r["compile_seconds"] > 0 and r["wall_seconds"] >= r["compile_seconds"]
        assert len(r["call_seconds"]) >= 1
    sections = {r["section"] for r in records}
    assert {"env", "agents"} <= sections
    env = {r["variant"]: r for r in records if r["section"] == "env"}
    assert env["autoreset"]["time_vs_no_reset"] > 0
    assert json.loads((tmp_path / "latest.json").read_text()) == records
    assert path.with_suffix(".md").read_text().startswith("# acjax throughput")
    assert (tmp_path / "runtime_vs_agents.png").stat().st_size > 0


def test_validate_rejects_bad_records():
    bench = _load()
    good = dict(
        section="env",
        algo="none",
        env="e",
        n_agents=2,
        num_envs=4,
        num_seeds=1,
        devices=1,
        steps_per_second=1.0,
        compile_seconds=0.5,
        wall_seconds=1.0,
        device_kind="cpu",
    )
    bench.validate_records([good])
    for bad in ({"steps_per_second": 0.0}, {"num_envs": "4"}, {"compile_seconds": math.nan}):
        with pytest.raises(ValueError):
            bench.validate_records([{**good, **bad}])
    with pytest.raises(ValueError, match="missing"):
        bench.validate_records([{k: v for k, v in good.items() if k != "devices"}])


def test_external_adapter_benchmark_smoke(tmp_path):
    pytest.importorskip("rware")
    pytest.importorskip("mpe2")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "external.py"
    spec = importlib.util.spec_from_file_location("acjax_bench_external", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--smoke", "--out", str(tmp_path)])
    data = json.loads((out / "external.json").read_text())
    assert {r["backend"] for r in data["records"]} == {"rware-tiny-2ag", "mpe2.simple_spread_v3"}
    for r in data["records"]:
        for key in ("direct", "adapter", "workers", "adapter_over_direct"):
            assert r[key] > 0 and math.isfinite(r[key])
    assert "| backend |" in (out / "external.md").read_text()


def test_peer_is_skipped_with_a_note_when_not_built(tmp_path, monkeypatch, capsys):
    """No constant peer figure: without a built peer the acjax side has no ratio."""
    bench = _load()
    monkeypatch.setenv("PEER_DIR", str(tmp_path / "nothing"))
    script, why = bench.peer_ready()
    assert script is None and ("not built" in why or "no peer scripts" in why)
    assert not hasattr(bench, "PEER")
    rec = dict(section="peer", devices=1, num_envs=64, steps_per_second=2.0, compile_seconds=1.0)
    text = bench.markdown([rec], {}, [])
    assert "| 1 | 64 | 2.00 | - | - | - |" in text

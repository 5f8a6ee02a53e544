"""The embedded default run's first two updates against a committed reference
(tests/data/default_run_reference.json, written by the trainer before its split into the harness
and sibling trainer families): every metric bit for bit on the kind of processor that wrote it
with the same jax, and to float32 rounding elsewhere (XLA:CPU may pick other kernels there)."""

import json
from pathlib import Path

import jax
import numpy as np

from acjax.config import load_config
from acjax.run import train

REF = Path(__file__).parent / "data" / "default_run_reference.json"


def _cpu() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), "")


def test_default_run_metrics_equal_the_committed_reference(tmp_path):
    ref = json.loads(REF.read_text())
    cfg = load_config(None, [*ref["overrides"], "progress=false", f"run_dir={tmp_path}"])
    train(cfg)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [sorted(r) for r in rows] == [sorted(r) for r in ref["rows"]]
    exact = ref["cpu"] == _cpu() and ref["jax"] == jax.__version__
    for row, want in zip(rows, ref["rows"], strict=True):
        for k, v in want.items():
            if exact or v is None or isinstance(v, int):
                assert row[k] == v, (k, row[k], v)
            else:
                np.testing.assert_allclose(row[k], v, rtol=1e-4, atol=1e-6, err_msg=k)

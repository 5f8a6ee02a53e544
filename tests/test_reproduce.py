"""`make reproduce`: every algorithm of a task set trained, then the report folder; a second
call keeps the finished runs."""

import json

from conftest import TINY

from acjax.reproduce import main


def test_reproduce_writes_a_report_and_keeps_finished_runs(tmp_path, capsys):
    args = ["--taskset", "smoke", "--budget", "128", "--seeds", "2", "--out", str(tmp_path)]
    assert main([*args, *TINY, "devices=1"]) == 0
    for f in ("report.md", "final.md", "runtime.md", "figures/curves-rware-tiny-2ag.png"):
        assert (tmp_path / f).stat().st_size > 0, f
    runtime = (tmp_path / "runtime.md").read_text()
    assert "| rware-tiny-2ag | mappo | 2 | 128 |" in runtime and "| acpo |" in runtime
    report = (tmp_path / "report.md").read_text()
    assert "task set `smoke`" in report and "![curves-rware-tiny-2ag.png]" in report
    first = json.loads((tmp_path / "runs/rware-tiny-2ag-acpo/summary.json").read_text())
    capsys.readouterr()
    assert main([*args, *TINY, "devices=1"]) == 0  # nothing left to train
    assert "reproduce: " not in capsys.readouterr().err
    again = json.loads((tmp_path / "runs/rware-tiny-2ag-acpo/summary.json").read_text())
    assert again == first

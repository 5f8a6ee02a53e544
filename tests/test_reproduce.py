"""`make reproduce`: every algorithm of a task set trained, then the report folder; a second
call keeps the finished runs."""

import json
import subprocess
from pathlib import Path

import pytest
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


def test_help_gives_the_whole_first_sentence(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "every algorithm on every task of a task set, then a report folder." in text


def test_make_reproduce_passes_out_and_plot_keeps_its_own_default():
    root = Path(__file__).resolve().parents[1]
    dry = lambda *a: subprocess.run(
        ["make", "-n", *a], cwd=root, capture_output=True, text=True, check=True
    ).stdout.replace("\\\n", " ")
    assert "--out reports/mine" in " ".join(dry("reproduce", "OUT=reports/mine").split())
    assert "--out" not in dry("reproduce")  # reports/<taskset>, not plot's default `plots`
    assert "--out plots" in dry("plot")

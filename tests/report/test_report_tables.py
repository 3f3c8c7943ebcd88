"""Report aggregation against hand-computed means and sample stds (ddof=1), table layouts, score rule."""

from __future__ import annotations

import csv
import math

import pytest
from runfactory import make_run

from infoprompt.errors import DataError
from infoprompt.report import build_report, load_runs, write_report
from infoprompt.report.tables import Cell


def table(report, key):
    return next(t for t in report.tables if t.key == key)


def csv_rows(path):
    rows = list(csv.DictReader(path.open()))
    return {r["method"]: r for r in rows}


def test_cell_is_mean_and_sample_std_with_n():
    cell = Cell([0.80, 0.85, 0.90])
    assert cell.mean == pytest.approx(0.85) and cell.std == pytest.approx(0.05) and cell.n == 3
    assert cell.text(4) == "0.8500 ± 0.0500 (n=3)"
    assert Cell([0.7]).std is None and Cell([0.7]).text(4) == "0.7000 (n=1)"


def test_table1_layout_means_stds_and_average(paper_runs):
    report = build_report(paper_runs)
    assert (report.runs, report.unfinished) == (14, 1)
    t1 = table(report, "table1")
    assert [c.label for c in t1.columns] == ["CoLA np4", "SST-2 np1", "SST-2 np4"]
    assert [r.label for r in t1.rows] == ["WARP", "InfoPrompt", "InfoPrompt γ=0"]
    md = t1.to_markdown()
    assert "| method | CoLA np4 | SST-2 np1 | SST-2 np4 | avg |" in md
    assert "| WARP |  | 0.7200 ± 0.0283 (n=2) | 0.8500 ± 0.0500 (n=3) | 0.7850† |" in md
    assert "| InfoPrompt | 0.2000 ± 0.1414 (n=2) |  | 0.9000 (n=1) | 0.5500† |" in md
    assert "| InfoPrompt γ=0 |  |  | 0.6500 ± 0.0707 (n=2) | 0.6500† |" in md
    assert "Scores: CoLA dev matthews_corr; SST-2 dev accuracy." in md


def test_csv_carries_the_same_numbers(paper_runs, tmp_path):
    write_report(paper_runs, tmp_path / "out", plots=False)
    rows = csv_rows(tmp_path / "out" / "table1.csv")
    warp = rows["WARP"]
    assert float(warp["SST-2 np4 mean"]) == pytest.approx(0.85) and float(warp["SST-2 np4 std"]) == pytest.approx(0.05)
    assert float(warp["SST-2 np1 std"]) == pytest.approx(math.sqrt(2 * 0.02**2), abs=1e-9)  # (0.70, 0.74), ddof=1
    assert warp["CoLA np4 mean"] == "" and warp["CoLA np4 n"] == "0"
    assert float(warp["avg"]) == pytest.approx(0.785) and warp["avg cells"] == "2"
    assert rows["InfoPrompt"]["SST-2 np4 std"] == "" and rows["InfoPrompt"]["SST-2 np4 n"] == "1"
    cells = list(csv.DictReader((tmp_path / "out" / "cells.csv").open()))
    sst2_warp = next(c for c in cells if c["table"] == "table1" and c["method"] == "WARP" and c["column"] == "SST-2 np4")
    assert sst2_warp["values"] == "0.8 0.85 0.9" and sst2_warp["split"] == "dev"
    md = (tmp_path / "out" / "report.md").read_text()
    assert md.startswith("# infoprompt report") and "14 finished runs; 1 unfinished runs not included." in md
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".lock", "cells.csv", "convergence.csv", "report.md", "table1.csv", "table2.csv", "table3.csv"]


def test_relation_extraction_uses_test_metrics_when_present(paper_runs):
    t2 = table(build_report(paper_runs), "table2")
    assert [c.label for c in t2.columns] == ["SemEval np4"]
    cell = t2.rows[0].cells[t2.columns[0].key]
    assert cell.values == [0.62, 0.66]  # test, not dev (0.5, 0.52)
    assert cell.mean == pytest.approx(0.64) and cell.std == pytest.approx(math.sqrt(2 * 0.02**2))
    assert "Scores: SemEval test semeval_macro_f1." in t2.to_markdown()


def test_a_run_without_test_metrics_uses_its_best_dev_and_the_caption_says_so(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, {"task": "semeval", "seed": 0}, {"semeval_macro_f1": 0.5}, test={"semeval_macro_f1": 0.6},
             primary="semeval_macro_f1")
    make_run(runs, {"task": "semeval", "seed": 1}, {"semeval_macro_f1": 0.4}, primary="semeval_macro_f1")
    t2 = table(build_report(runs), "table2")
    assert t2.rows[0].cells[t2.columns[0].key].values == [0.6, 0.4]
    assert "SemEval test/dev semeval_macro_f1" in t2.to_markdown()


def test_few_shot_table_has_shot_columns(paper_runs):
    t3 = table(build_report(paper_runs), "table3")
    assert [c.label for c in t3.columns] == ["SST-2 64"]
    assert "| InfoPrompt | 0.6000 ± 0.0707 (n=2) | 0.6000 |" in t3.to_markdown()
    assert not [t for t in build_report(paper_runs).tables if t.key == "table4"]


def test_convergence_step_per_method(paper_runs):
    conv = table(build_report(paper_runs), "convergence")
    md = conv.to_markdown()
    assert "| method | SST-2 np4 full |" in md
    assert "| WARP | 20.0 ± 0.0 (n=3) |" in md  # 0.96 × best reaches 95% at the 2nd eval (step 20)
    assert "| InfoPrompt | 10.0 (n=1) |" in md  # 0.88 ≥ 0.95 × 0.9 at step 10
    notes = build_report(paper_runs).markdown
    assert "no dev evaluations in metrics.jsonl" in notes  # runs without a curve are named, not dropped silently


def test_metric_override_and_missing_metric_error(paper_runs):
    t1 = table(build_report(paper_runs, metric="accuracy"), "table1")
    cola = t1.columns[0]
    assert t1.rows[1].cells[cola.key].values == [0.7, 0.7]
    with pytest.raises(DataError, match="no 'f1' in its dev metrics"):
        build_report(paper_runs, metric="f1")


def test_rows_split_on_any_flag_that_differs_and_identical_runs_merge(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, {"method": "warp", "seed": 0}, {"accuracy": 0.5})
    make_run(runs, {"method": "warp", "seed": 1}, {"accuracy": 0.7})
    make_run(runs, {"method": "warp", "seed": 0, "lr": 0.01}, {"accuracy": 0.9})
    make_run(runs, {"method": "warp", "seed": 0, "device": "cuda"}, {"accuracy": 0.6})  # not a condition
    t1 = table(build_report(runs), "table1")
    assert {r.label: r.cells[t1.columns[0].key].values for r in t1.rows} == {"WARP": [0.5, 0.6, 0.7],
                                                                              "WARP lr=0.01": [0.9]}


def test_corrupted_result_is_a_one_line_error_naming_the_file(tmp_path):
    runs = tmp_path / "runs"
    run = make_run(runs, {"seed": 0}, {"accuracy": 0.5})
    (run / "result.json").write_text('{"dev": ')
    with pytest.raises(DataError, match=r"result\.json: corrupted JSON"):
        load_runs(runs)


def test_report_command_writes_files_and_prints_markdown(paper_runs, capsys):
    import argparse

    from infoprompt.report.cli import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", str(paper_runs), "--no-plots"])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "## Table 1: full data, sequence classification" in out.out and "14 finished runs" in out.err
    assert (paper_runs / "report" / "table3.csv").is_file()


def test_report_plots_one_png_per_setting_and_drops_stale_files(paper_runs, tmp_path):
    out = tmp_path / "out"
    report = write_report(paper_runs, out)
    assert [(name, title, len(curves)) for name, (title, curves) in report.curve_groups.items()] == [
        ("sst2_np4_full", "SST-2, np=4, full data", 4)]
    assert [c.label for c in report.curve_groups["sst2_np4_full"][1]] == ["WARP"] * 3 + ["InfoPrompt"]
    assert (out / "curves" / "sst2_np4_full.png").read_bytes()[:4] == b"\x89PNG"
    for log in paper_runs.rglob("metrics.jsonl"):
        log.unlink()
    write_report(paper_runs, out)
    assert not (out / "curves" / "sst2_np4_full.png").exists() and not (out / "convergence.csv").exists()

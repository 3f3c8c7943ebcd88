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
    assert "Splits and metrics: CoLA dev half matthews_corr; SST-2 dev half accuracy." in md
    assert "| *majority class* | 0.5000 | 0.5000 | 0.5000 | 0.5000 |" in md  # what a constant predictor scores
    assert "never chose itself" in md and "◊" not in md and "collapsed" not in md.split("*majority class*")[0]


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
    assert sst2_warp["values"] == "0.8 0.85 0.9" and sst2_warp["split"] == "dev half"
    assert rows["majority class"]["SST-2 np4 mean"] == "0.5" and warp["SST-2 np4 collapsed"] == "0"
    md = (tmp_path / "out" / "report.md").read_text()
    assert md.startswith("# infoprompt report") and "14 finished runs; 1 unfinished runs not included." in md
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".lock", "auc.csv", "cells.csv", "convergence.csv", "report.md", "table1.csv", "table2.csv", "table3.csv"]


def test_relation_extraction_uses_test_metrics_when_present(paper_runs):
    t2 = table(build_report(paper_runs), "table2")
    assert [c.label for c in t2.columns] == ["SemEval np4"]
    cell = t2.rows[0].cells[t2.columns[0].key]
    assert cell.values == [0.62, 0.66]  # test, not dev (0.5, 0.52)
    assert cell.mean == pytest.approx(0.64) and cell.std == pytest.approx(math.sqrt(2 * 0.02**2))
    assert "Splits and metrics: SemEval test semeval_macro_f1." in t2.to_markdown()


def test_older_runs_report_test_else_their_last_evaluation_and_best_dev_only_as_optimistic(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, {"task": "semeval", "seed": 0}, {"semeval_macro_f1": 0.5}, test={"semeval_macro_f1": 0.6},
             primary="semeval_macro_f1", legacy=True)
    make_run(runs, {"task": "semeval", "seed": 1}, {"semeval_macro_f1": 0.4}, primary="semeval_macro_f1", legacy=True)
    make_run(runs, {"task": "semeval", "seed": 2}, {"semeval_macro_f1": 0.7}, primary="semeval_macro_f1", legacy=True,
             curve=[0.5, 0.7, 0.65])
    t2 = table(build_report(runs), "table2")
    assert t2.rows[0].cells[t2.columns[0].key].values == [0.6, 0.4, 0.65]  # test; best dev (no log); last eval
    md = t2.to_markdown()
    assert "SemEval test/dev (last)/best dev semeval_macro_f1" in md and "(n=3)◊" in md
    assert "Runs made before issue 17 did not record their predictions" in md
    optimistic = table(build_report(runs, rule="best-dev"), "table2")
    assert optimistic.rows[0].cells[optimistic.columns[0].key].values == [0.5, 0.4, 0.7]


def test_few_shot_table_has_shot_columns(paper_runs):
    t3 = table(build_report(paper_runs), "table3")
    assert [c.label for c in t3.columns] == ["SST-2 64"]
    assert "| InfoPrompt | 0.6000 ± 0.0707 (n=2) | 0.6000 |" in t3.to_markdown()
    assert not [t for t in build_report(paper_runs).tables if t.key == "table4"]


def test_convergence_is_steps_to_the_task_level_and_area_under_the_curve(paper_runs):
    conv = table(build_report(paper_runs), "convergence")
    md = conv.to_markdown()
    assert "| method | SST-2 np4 full |" in md and "SST-2 accuracy 0.7" in md
    assert "| WARP | 20.0 ± 0.0 (3/3 reached) |" in md  # 0.96 × (0.80, 0.85, 0.90) >= 0.70 at the 2nd eval
    assert "| InfoPrompt | 10.0 (1/1 reached) |" in md  # 0.88 at step 10
    auc = table(build_report(paper_runs), "auc")
    infoprompt = auc.rows[1].cells[auc.columns[0].key]
    assert infoprompt.values == [pytest.approx(((0.88 + 0.7) / 2 + (0.7 + 0.9) / 2) / 2)]
    notes = build_report(paper_runs).markdown
    assert "no dev evaluations in metrics.jsonl" in notes  # runs without a curve are named, not dropped silently


def test_metric_override_and_missing_metric_error(paper_runs):
    t1 = table(build_report(paper_runs, metric="accuracy"), "table1")
    cola = t1.columns[0]
    assert t1.rows[1].cells[cola.key].values == [0.7, 0.7]
    with pytest.raises(DataError, match="no 'f1' in its reported.selected metrics"):
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


def test_collapsed_runs_are_counted_in_their_cell_and_in_paired_differences(tmp_path):
    from infoprompt.report.compare import format_difference, paired_difference

    runs = tmp_path / "runs"
    for seed in range(3):
        make_run(runs, {"method": "infoprompt", "task": "mrpc", "seed": seed}, {"accuracy": 0.6838},
                 majority={"accuracy": 0.6838}, collapsed=seed < 2)
        make_run(runs, {"method": "warp", "task": "mrpc", "seed": seed}, {"accuracy": 0.62},
                 majority={"accuracy": 0.6838})
    md = table(build_report(runs), "table1").to_markdown()
    assert "0.6838 ± 0.0000 (n=3; 2 collapsed)" in md and "k collapsed: k of the cell's runs" in md
    assert "| *majority class* | 0.6838 | 0.6838 |" in md
    text = format_difference(paired_difference(load_runs(runs)[0], "infoprompt", "warp"))
    assert "[infoprompt collapsed in 2/3]" in text and "compares a method with a constant predictor" in text


def test_last_score_rule_and_optimistic_runs(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, {"method": "warp", "seed": 0}, {"accuracy": 0.8}, last={"accuracy": 0.7})
    make_run(runs, {"method": "warp", "seed": 1}, {"accuracy": 0.9}, select_on="dev")
    cell = lambda report: table(report, "table1").rows[0].cells[table(report, "table1").columns[0].key]  # noqa: E731
    assert cell(build_report(runs)).values == [0.8, 0.9] and cell(build_report(runs)).optimistic == 1
    assert cell(build_report(runs, rule="last")).values == [0.7, 0.9]
    assert "OPTIMISTIC" in build_report(runs, rule="best-dev").markdown

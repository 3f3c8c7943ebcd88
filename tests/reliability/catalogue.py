"""The cases of the reliability catalogue (run by test_catalogue.py): bad inputs and failing environments,
each with the exit code, the one-line message it must produce and what must not be lost.

A case is a function `(ctx) -> Case`, registered with its category by `@case(...)`. It prepares files
(or a broken environment through `ctx.monkeypatch`) and returns the argv for `infoprompt.cli.main`, the
expected exit code, the substrings the one error line must hold (file, line, field where there is one)
and, where something could be lost, a `check(out, err)` that looks for it.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = ("rows", "typed", "checkpoint", "environment", "aliasing", "sweep")  # aliasing, sweep: issue 25


@dataclass
class Case:
    argv: list[str]
    expect: list[str] = field(default_factory=list)  # substrings of the one error line (exit 2), else of out+err
    code: int = 2
    check: Callable[[str, str], None] | None = None  # (stdout, stderr) -> asserts nothing was lost


@dataclass
class Ctx:
    """What a case may use: a private folder, the synthetic task, the tiny backbone, a trained run."""

    tmp: Path
    files: Path  # train.csv (24 rows) and dev.csv (12 rows) of the synthetic task
    model: Path  # a tiny random BERT saved to disk
    trained: Path  # a finished run (read-only: copy it with `run_copy` before changing it)
    monkeypatch: object

    def write(self, name: str, data: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def train(self, *extra: str, train: Path | None = None, dev: Path | None = None, out: Path | None = None) -> list[str]:
        return ["train", "--task", "custom", "--train-file", str(train or self.files / "train.csv"),
                "--dev-file", str(dev or self.files / "dev.csv"), "--text-fields", "sentence",
                "--verbalizer", "0=bad,1=good", "--backbone", str(self.model), "--output", str(out or self.tmp / "run"),
                "--quiet", "--json", "--epochs", "1", *extra]

    def run_copy(self) -> Path:
        target = self.tmp / "ckpt"
        shutil.copytree(self.trained, target)
        return target

    def edit_record(self, run: Path, edit: Callable[[dict], None], *, reseal: bool = True) -> None:
        from infoprompt.training.checkpoint import seal_record

        record = json.loads((run / "config.json").read_text())
        edit(record)
        (run / "config.json").write_text(json.dumps(seal_record(record) if reseal else record))

    def dev_lines(self) -> list[str]:
        return (self.files / "dev.csv").read_text().splitlines()


CASES: dict[str, tuple[str, Callable[[Ctx], Case]]] = {}


def case(category: str):
    assert category in CATEGORIES

    def register(fn: Callable[[Ctx], Case]) -> Callable[[Ctx], Case]:
        CASES[fn.__name__] = (category, fn)
        return fn

    return register


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _evaluate(ctx: Ctx, dev: Path, *extra: str) -> list[str]:
    return ["evaluate", "--checkpoint", str(ctx.trained), "--dev-file", str(dev), "--json", *extra]


def _predict(ctx: Ctx, inp: Path, *extra: str, checkpoint: Path | None = None) -> list[str]:
    return ["predict", "--checkpoint", str(checkpoint or ctx.trained), "--input", str(inp), *extra]


def _no_run_written(ctx: Ctx) -> Callable[[str, str], None]:
    def check(out: str, err: str) -> None:
        assert not (ctx.tmp / "run").exists() or not any((ctx.tmp / "run").iterdir())

    return check


def _unchanged(*paths: Path) -> Callable[[str, str], None]:
    before = {path: path.read_bytes() for path in paths}

    def check(out: str, err: str) -> None:
        assert {path: path.read_bytes() for path in before} == before

    return check


# --- rows: every physical record accounted for ---------------------------------------------------------


@case("rows")
def blank_tsv_row_in_dev(ctx):
    dev = ctx.write("dev.tsv", "sentence\tlabel\na great movie\t1\n   \t  \nboring\t0\n")
    return Case(ctx.train(dev=dev), [f"{dev}:3: blank row"], check=_no_run_written(ctx))


@case("rows")
def whitespace_only_line_in_tsv(ctx):
    dev = ctx.write("dev.tsv", "sentence\tlabel\na great movie\t1\n    \nboring\t0\n")
    return Case(ctx.train(dev=dev), [f"{dev}:3: blank row"])


@case("rows")
def empty_line_inside_csv_train(ctx):
    lines = (ctx.files / "train.csv").read_text().splitlines()
    train = ctx.write("train.csv", "\n".join(lines[:4] + [""] + lines[4:]) + "\n")
    return Case(ctx.train(train=train), [f"{train}:5: blank row"])


@case("rows")
def blank_line_inside_jsonl(ctx):
    dev = ctx.write("dev.jsonl", '{"sentence": "great fun", "label": 1}\n \n{"sentence": "boring", "label": 0}\n')
    return Case(_evaluate(ctx, dev), [f"{dev}:2: blank line"])


@case("rows")
def trailing_newlines_are_not_rows(ctx):
    dev = ctx.write("dev.csv", "\n".join(ctx.dev_lines()) + "\n\n\n")

    def check(out, err):
        assert _json_line(out)["examples"] == 12

    return Case(_evaluate(ctx, dev), code=0, check=check)


@case("rows")
def train_skip_bad_rows_counts_and_reports(ctx):
    lines = (ctx.files / "train.csv").read_text().splitlines()
    lines[3], lines[6] = "   ", "only one field"
    train = ctx.write("train.csv", "\n".join(lines) + "\n")

    def check(out, err):
        assert _json_line(out)["skipped_rows"] == 2
        assert "skipped 2 bad row(s)" in err and f"{train}:4: blank row" in err and f"{train}:7: missing field" in err

    return Case(ctx.train("--skip-bad-rows", train=train), code=0, check=check)


@case("rows")
def evaluate_skip_bad_rows_counts_and_reports(ctx):
    lines = ctx.dev_lines()
    dev = ctx.write("dev.csv", "\n".join(lines[:3] + ["  ,  "] + lines[3:]) + "\n")

    def check(out, err):
        summary = _json_line(out)
        assert summary["skipped_rows"] == 1 and summary["examples"] == 12
        assert "skipped 1 bad row(s)" in err and f"{dev}:4: blank row" in err

    return Case(_evaluate(ctx, dev, "--skip-bad-rows"), code=0, check=check)


@case("rows")
def evaluate_without_skip_names_the_bad_row(ctx):
    lines = ctx.dev_lines()
    dev = ctx.write("dev.csv", "\n".join(lines[:3] + ["  ,  "] + lines[3:]) + "\n")
    return Case(_evaluate(ctx, dev), [f"{dev}:4: blank row"])


@case("rows")
def predict_skip_bad_rows_reports_and_keeps_sources(ctx):
    inp = ctx.write("in.tsv", "sentence\ngreat fun\nboring\ttoo\tmany\nthe plot is thin\nwonderful\n")
    out_file = ctx.tmp / "pred.jsonl"

    def check(out, err):
        rows = [json.loads(x) for x in out_file.read_text().splitlines()]
        assert [r["source"] for r in rows] == [f"{inp}:2", f"{inp}:4", f"{inp}:5"]
        assert "skipped 1 bad row(s)" in err and f"{inp}:3: extra field(s)" in err

    return Case(_predict(ctx, inp, "--skip-bad-rows", "--output", str(out_file)), code=0, check=check)


@case("rows")
def predict_bad_row_without_skip(ctx):
    inp = ctx.write("in.tsv", "sentence\ngreat fun\nboring\ttoo\tmany\n")
    return Case(_predict(ctx, inp), [f"{inp}:3: extra field(s)"])


@case("rows")
def predict_whitespace_row_is_an_error(ctx):
    inp = ctx.write("in.tsv", "sentence\ngreat fun\n   \nboring\n")
    return Case(_predict(ctx, inp), [f"{inp}:3: blank row"])


@case("rows")
def predict_one_output_row_per_input_record(ctx):
    inp = ctx.write("in.csv", 'sentence\n"a great\nmovie"\nboring\n"fun, really"\nthin plot\n')
    out_file = ctx.tmp / "pred.tsv"

    def check(out, err):
        import csv

        rows = list(csv.DictReader(out_file.open(newline=""), delimiter="\t"))
        assert [r["source"] for r in rows] == [f"{inp}:{n}" for n in (2, 4, 5, 6)]
        assert rows[0]["text"] == "a great\nmovie" and "wrote 4 predictions" in err

    return Case(_predict(ctx, inp, "--output", str(out_file)), code=0, check=check)


@case("rows")
def predict_stdout_one_label_per_record(ctx):
    inp = ctx.write("in.jsonl", "".join(json.dumps({"sentence": f"row {i} great"}) + "\n" for i in range(9)))

    def check(out, err):
        assert len(out.strip().splitlines()) == 9 and set(out.split()) <= {"0", "1"}

    return Case(_predict(ctx, inp), code=0, check=check)


@case("rows")
def predict_jsonl_output_has_text_label_and_probabilities(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n{"sentence": "boring"}\n')
    out_file = ctx.tmp / "pred.jsonl"

    def check(out, err):
        rows = [json.loads(x) for x in out_file.read_text().splitlines()]
        assert [r["text"] for r in rows] == ["great fun", "boring"]
        for row in rows:
            assert set(row["probabilities"]) == {"0", "1"} and abs(sum(row["probabilities"].values()) - 1) < 1e-4
            assert row["prediction"] == max(row["probabilities"], key=row["probabilities"].get)

    return Case(_predict(ctx, inp, "--output", str(out_file)), code=0, check=check)


@case("rows")
def predict_csv_output_columns(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n')
    out_file = ctx.tmp / "pred.csv"

    def check(out, err):
        assert out_file.read_text().splitlines()[0] == "source,text,prediction,prob_0,prob_1"

    return Case(_predict(ctx, inp, "--output", str(out_file)), code=0, check=check)


@case("rows")
def predict_output_is_a_directory(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n')
    (ctx.tmp / "outdir").mkdir()
    return Case(_predict(ctx, inp, "--output", str(ctx.tmp / "outdir")), [f"--output {ctx.tmp / 'outdir'}: is a directory"])


@case("rows")
def predict_output_unknown_extension(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n')
    return Case(_predict(ctx, inp, "--output", str(ctx.tmp / "p.xlsx")), ["unknown format '.xlsx'"])


@case("rows")
def predict_on_an_empty_csv(ctx):
    inp = ctx.write("in.csv", "")
    return Case(_predict(ctx, inp), [f"{inp}:1: empty file, expected a header row"])


@case("rows")
def predict_on_an_empty_jsonl(ctx):
    inp = ctx.write("in.jsonl", "")
    return Case(_predict(ctx, inp), [f"{inp}: nothing to predict: the file holds no rows"])


@case("rows")
def predict_on_a_header_only_file(ctx):
    inp = ctx.write("in.tsv", "sentence\n")
    return Case(_predict(ctx, inp), [f"{inp}: nothing to predict"])


@case("rows")
def predict_every_row_skipped(ctx):
    inp = ctx.write("in.tsv", "sentence\n  \na\tb\n")
    return Case(_predict(ctx, inp, "--skip-bad-rows"), [f"{inp}: nothing to predict: all 2 record(s) were skipped"])


@case("rows")
def evaluate_every_row_skipped(ctx):
    dev = ctx.write("dev.csv", "sentence,label\n , \nno label\n")
    return Case(_evaluate(ctx, dev, "--skip-bad-rows"), [f"{dev}: no examples: all 2 row(s) were skipped as bad"])


@case("rows")
def header_only_dev_file_is_named(ctx):
    dev = ctx.write("dev.csv", "sentence,label\n")
    return Case(ctx.train(dev=dev), [f"{dev}: no examples: it has no data rows"], check=_no_run_written(ctx))


@case("rows")
def header_only_train_file_is_named(ctx):
    train = ctx.write("train.csv", "sentence,label\n")
    return Case(ctx.train(train=train), [f"{train}: no data rows"])


# --- typed fields ---------------------------------------------------------------------------------------


def _jsonl_train(ctx: Ctx, bad: str) -> Path:
    rows = [json.dumps({"sentence": text, "label": label}) for text, label in
            (("a great movie", 1), ("boring and long", 0))]
    return ctx.write("train.jsonl", "\n".join(rows + [bad]) + "\n")


@case("typed")
def labels_1_and_1_0_and_string_1_are_one_class(ctx):
    rows = [("a great movie", 1), ("boring and long", 0), ("great fun", 1.0), ("thin plot", 0.0), ("wonderful", "1"),
            ("terrible", "0")] * 3
    train = ctx.write("train.jsonl", "".join(json.dumps({"sentence": t, "label": y}) + "\n" for t, y in rows))

    def check(out, err):
        record = json.loads((ctx.tmp / "run" / "config.json").read_text())
        assert record["task"]["label_names"] == ["0", "1"] and _json_line(out)["skipped_rows"] == 0

    return Case(ctx.train(train=train, dev=train), code=0, check=check)


@case("typed")
def label_is_an_object(ctx):
    train = _jsonl_train(ctx, '{"sentence": "x", "label": {"name": 1}}')
    return Case(ctx.train(train=train), [f"{train}:3: field 'label': a label must be text, an integer or a boolean, "
                                         'got an object ({"name": 1})'])


@case("typed")
def label_is_a_list(ctx):
    train = _jsonl_train(ctx, '{"sentence": "x", "label": [0, 1]}')
    return Case(ctx.train(train=train), [f"{train}:3: field 'label'", "got a list"])


@case("typed")
def label_is_a_fraction(ctx):
    train = _jsonl_train(ctx, '{"sentence": "x", "label": 0.5}')
    return Case(ctx.train(train=train), [f"{train}:3: field 'label'", "got 0.5"])


@case("typed")
def label_is_null(ctx):
    train = _jsonl_train(ctx, '{"sentence": "x", "label": null}')
    return Case(ctx.train(train=train), [f"{train}:3: missing field 'label'"])


@case("typed")
def text_is_a_number(ctx):
    train = _jsonl_train(ctx, '{"sentence": 42, "label": 1}')
    return Case(ctx.train(train=train), [f"{train}:3: field 'sentence': expected a string, got a number (42)"])


@case("typed")
def text_is_a_list(ctx):
    train = _jsonl_train(ctx, '{"sentence": ["a", "b"], "label": 1}')
    return Case(ctx.train(train=train), [f"{train}:3: field 'sentence': expected a string, got a list"])


@case("typed")
def text_is_an_object(ctx):
    train = _jsonl_train(ctx, '{"sentence": {"text": "a"}, "label": 1}')
    return Case(ctx.train(train=train), [f"{train}:3: field 'sentence': expected a string, got an object"])


@case("typed")
def text_is_a_boolean(ctx):
    train = _jsonl_train(ctx, '{"sentence": true, "label": 1}')
    return Case(ctx.train(train=train), [f"{train}:3: field 'sentence': expected a string, got a boolean"])


@case("typed")
def bare_nan_in_data(ctx):
    train = _jsonl_train(ctx, '{"sentence": "x", "label": NaN}')
    return Case(ctx.train(train=train), [f"{train}:3: invalid JSON (bare NaN is not a JSON value)"])


@case("typed")
def json_line_is_not_an_object(ctx):
    train = _jsonl_train(ctx, '["x", 1]')
    return Case(ctx.train(train=train), [f"{train}:3: expected a JSON object, got a list"])


@case("typed")
def csv_multiline_quoted_field_is_one_record(ctx):
    lines = ctx.dev_lines()
    dev = ctx.write("dev.csv", "\n".join(lines[:2] + ['"a great\nmovie, really",1'] + lines[2:]) + "\n")

    def check(out, err):
        assert _json_line(out)["examples"] == 13

    return Case(_evaluate(ctx, dev), code=0, check=check)


@case("typed")
def csv_unclosed_quote_names_its_lines(ctx):
    lines = ctx.dev_lines()
    dev = ctx.write("dev.csv", "\n".join(lines[:2] + ['"never closed,1'] + lines[2:]) + "\n")
    return Case(_evaluate(ctx, dev, "--skip-bad-rows"), [f"{dev}:3: unparsable record spanning lines 3-14"])


@case("typed")
def bom_and_crlf(ctx):
    dev = ctx.write("dev.csv", b"\xef\xbb\xbf" + "\r\n".join(ctx.dev_lines()).encode() + b"\r\n")

    def check(out, err):
        assert _json_line(out)["examples"] == 12

    return Case(_evaluate(ctx, dev), code=0, check=check)


@case("typed")
def lone_cr_line_endings(ctx):
    dev = ctx.write("dev.csv", "\r".join(ctx.dev_lines()) + "\r")

    def check(out, err):
        assert _json_line(out)["examples"] == 12

    return Case(_evaluate(ctx, dev), code=0, check=check)


@case("typed")
def mixed_line_endings(ctx):
    lines = ctx.dev_lines()
    dev = ctx.write("dev.csv", "".join(line + ("\n", "\r\n", "\r")[i % 3] for i, line in enumerate(lines)))

    def check(out, err):
        assert _json_line(out)["examples"] == 12

    return Case(_evaluate(ctx, dev), code=0, check=check)


@case("typed")
def lone_cr_keeps_line_numbers(ctx):
    lines = ctx.dev_lines()
    dev = ctx.write("dev.csv", "\r".join(lines[:4] + ["no label field"] + lines[4:]) + "\r")
    return Case(_evaluate(ctx, dev), [f"{dev}:5: missing field 'label'"])


@case("typed")
def latin1_byte_in_data(ctx):
    dev = ctx.write("dev.csv", b"sentence,label\ngreat,1\ncaf\xe9 au lait,0\n")
    return Case(_evaluate(ctx, dev), [f"{dev}:3: undecodable byte 0xe9 (file must be UTF-8)"])


@case("typed")
def missing_field(ctx):
    dev = ctx.write("dev.csv", "sentence,label\ngreat,1\nno label here\n")
    return Case(_evaluate(ctx, dev), [f"{dev}:3: missing field 'label'"])


@case("typed")
def extra_field(ctx):
    dev = ctx.write("dev.csv", "sentence,label\ngreat,1\nboring,0,extra\n")
    return Case(_evaluate(ctx, dev), [f"{dev}:3: extra field(s): expected 2 fields"])


@case("typed")
def unknown_dev_label(ctx):
    dev = ctx.write("dev.csv", "sentence,label\ngreat,1\nboring,maybe\n")
    return Case(_evaluate(ctx, dev), [f"{dev}:3: field 'label': unknown label 'maybe'"])


@case("typed")
def duplicate_header_column(ctx):
    dev = ctx.write("dev.csv", "sentence,sentence\ngreat,1\n")
    return Case(_evaluate(ctx, dev), [f"{dev}:1: duplicate column names"])


@case("typed")
def empty_text_field(ctx):
    dev = ctx.write("dev.csv", 'sentence,label\ngreat,1\n"  ",0\n')
    return Case(_evaluate(ctx, dev), [f"{dev}:3: field 'sentence' is empty"])


# --- checkpoints: verified before use ------------------------------------------------------------------


def _evaluate_ckpt(run: Path) -> list[str]:
    return ["evaluate", "--checkpoint", str(run)]


@case("checkpoint")
def edited_record_not_resealed(ctx):
    run = ctx.run_copy()
    ctx.edit_record(run, lambda r: r["method_config"].update(n_prompts=8), reseal=False)
    return Case(_evaluate_ckpt(run), [f"{run / 'config.json'}: contents do not match its 'record_sha256'"])


@case("checkpoint")
def bare_nan_in_config_json(ctx):
    run = ctx.run_copy()
    text = (run / "config.json").read_text().replace('"format_version": 1', '"format_version": NaN')
    (run / "config.json").write_text(text)
    return Case(_evaluate_ckpt(run), [f"{run / 'config.json'}: corrupted JSON (bare NaN is not JSON)"])


@case("checkpoint")
def record_without_hash(ctx):
    run = ctx.run_copy()
    ctx.edit_record(run, lambda r: r.pop("record_sha256"), reseal=False)
    return Case(_evaluate_ckpt(run), ["field 'record_sha256' missing (saved by an older version"])


@case("checkpoint")
def fingerprint_key_missing(ctx):
    run = ctx.run_copy()
    ctx.edit_record(run, lambda r: r["backbone"].pop("embedding_digest"))
    return Case(_evaluate_ckpt(run), ["'backbone.embedding_digest' missing: the backbone fingerprint is required"])


@case("checkpoint")
def absurd_prompt_count_is_not_allocated(ctx):
    run = ctx.run_copy()
    ctx.edit_record(run, lambda r: r["method_config"].update(n_prompts=10**12))
    return Case(_evaluate_ckpt(run), ["config.json: method config implies tensor", "nothing was allocated"])


@case("checkpoint")
def recorded_shapes_disagree_with_the_tensor_file(ctx):
    run = ctx.run_copy()
    ctx.edit_record(run, lambda r: r["tensor_shapes"].update({next(iter(r["tensor_shapes"])): [7, 7]}))
    return Case(_evaluate_ckpt(run), ["field 'tensor_shapes' does not match model.safetensors"])


@case("checkpoint")
def truncated_tensor_file(ctx):
    run = ctx.run_copy()
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    return Case(_evaluate_ckpt(run), [f"{run / 'model.safetensors'}: contents do not match the hash"])


@case("checkpoint")
def checkpoint_directory_missing(ctx):
    return Case(_evaluate_ckpt(ctx.tmp / "nope"), [f"{ctx.tmp / 'nope'}: checkpoint directory not found"])


@case("checkpoint")
def checkpoint_is_a_file(ctx):
    path = ctx.write("ckpt.json", "{}")
    return Case(_evaluate_ckpt(path), [f"{path}: is a file; a checkpoint is a directory"])


@case("checkpoint")
def config_json_is_a_directory(ctx):
    run = ctx.tmp / "odd"
    (run / "config.json").mkdir(parents=True)
    return Case(_evaluate_ckpt(run), [f"{run / 'config.json'}: missing"])


@case("checkpoint")
def proc_path_as_checkpoint(ctx):
    return Case(_evaluate_ckpt(Path("/proc/self/no-such-run")), ["/proc/self/no-such-run: checkpoint directory not found"])


class _Pwned:
    """Unpickling this creates `marker`: if the file exists, a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _spy_torch_load(ctx: Ctx) -> list:
    import torch

    calls: list = []
    real = torch.load
    ctx.monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def _pickled_backbone(ctx: Ctx) -> tuple[Path, Path]:
    folder = ctx.tmp / "planted-backbone"
    shutil.copytree(ctx.model, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    marker = ctx.tmp / "PWNED"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Pwned(marker)))
    return folder, marker


@case("checkpoint")
def planted_pickle_as_the_recorded_backbone(ctx):
    folder, marker = _pickled_backbone(ctx)
    run = ctx.run_copy()
    ctx.edit_record(run, lambda r: r["backbone"].update(name=str(folder)))
    calls = _spy_torch_load(ctx)

    def check(out, err):
        assert not calls and not marker.exists()

    return Case(_evaluate_ckpt(run), ["cannot load backbone", "model.safetensors"], check=check)


@case("checkpoint")
def planted_pickle_as_the_tensor_file(ctx):
    from infoprompt.training.checkpoint import _sha256

    run = ctx.run_copy()
    marker = ctx.tmp / "PWNED"
    (run / "model.safetensors").write_bytes(pickle.dumps(_Pwned(marker)))
    digest = _sha256(run / "model.safetensors")
    ctx.edit_record(run, lambda r: r.update(tensors_sha256=digest))
    calls = _spy_torch_load(ctx)

    def check(out, err):
        assert not calls and not marker.exists()

    return Case(_evaluate_ckpt(run), [f"{run / 'model.safetensors'}: cannot read safetensors"], check=check)


@case("checkpoint")
def planted_pickle_as_the_training_backbone(ctx):
    folder, marker = _pickled_backbone(ctx)
    argv = ctx.train()
    argv[argv.index("--backbone") + 1] = str(folder)

    def check(out, err):
        assert not marker.exists()  # torch>=2.6 (the floor): weights_only refuses to run the pickle

    return Case(argv, [f"cannot load backbone '{folder}'", "Weights only load failed"], check=check)


@case("checkpoint")
def checkpoint_for_another_backbone(ctx):
    from infoprompt.testing import make_tiny_backbone, minilm_tokenizer

    other = ctx.tmp / "other-bert"
    backbone = make_tiny_backbone("bert", minilm_tokenizer(), mlm=False, seed=7)
    backbone.model.save_pretrained(other)
    backbone.tokenizer.save_pretrained(other)
    run = ctx.run_copy()
    ctx.edit_record(run, lambda r: r["backbone"].update(name=str(other)))
    return Case(_evaluate_ckpt(run), ["checkpoint was trained on backbone", "embedding_digest"])


def malformed_tensor_bytes(kind: str, good: bytes) -> bytes:
    """A safetensors file broken the way `kind` says; the header is left for safetensors itself to refuse."""
    length = int.from_bytes(good[:8], "little")
    if kind == "garbage-header":  # the length is right, the header is not JSON
        return good[:8] + b"\xff" * length + good[8 + length:]
    if kind == "length-beyond-file":  # a header length larger than the whole file
        return (len(good) * 4).to_bytes(8, "little") + good[8:]
    if kind == "truncated-header":  # the file ends inside its header
        return good[: 8 + length // 2]
    raise ValueError(kind)


def plant_tensors(run: Path, kind: str, *, resume: bool = False) -> Path:
    """Replace a run's tensor file (the checkpoint's, or with `resume` the resume state's) by a malformed one and
    reseal its record over the new bytes, so that only safetensors' own header check stands in the way."""
    from infoprompt.training.checkpoint import _sha256, seal_record

    folder, tensors, record = (run / "resume", "state.safetensors", "state.json") if resume else \
        (run, "model.safetensors", "config.json")
    path = folder / tensors
    path.write_bytes(malformed_tensor_bytes(kind, path.read_bytes()))
    data = json.loads((folder / record).read_text())
    data["tensors_sha256"] = _sha256(path)
    (folder / record).write_text(json.dumps(seal_record(data)))
    return path


@case("checkpoint")
def malformed_safetensors_header_on_evaluate(ctx):
    run = ctx.run_copy()
    path = plant_tensors(run, "garbage-header")
    return Case(_evaluate_ckpt(run), [f"{path}: cannot read safetensors", "header"],
                check=_unchanged(path, run / "config.json", run / "metrics.jsonl"))


@case("checkpoint")
def safetensors_header_length_beyond_the_file_on_predict(ctx):
    run = ctx.run_copy()
    path = plant_tensors(run, "length-beyond-file")
    inp, out = ctx.write("in.jsonl", '{"sentence": "great fun"}\n'), ctx.tmp / "pred.jsonl"
    unchanged = _unchanged(path, run / "config.json", inp)

    def check(o, e):
        unchanged(o, e)
        assert not out.exists()

    return Case(_predict(ctx, inp, "--output", str(out), checkpoint=run),
                [f"{path}: cannot read safetensors", "header"], check=check)


@case("checkpoint")
def truncated_safetensors_header_in_the_resume_state(ctx):
    run = ctx.run_copy()
    saved = json.loads((run / "resume" / "state.json").read_text())["config"]  # resume on the run's own files
    path = plant_tensors(run, "truncated-header", resume=True)
    files = [path, run / "resume" / "state.json", run / "config.json", run / "model.safetensors", run / "metrics.jsonl"]
    argv = ctx.train("--resume", out=run, train=Path(saved["train_file"]), dev=Path(saved["dev_file"]))
    return Case(argv, [f"{path}: cannot read safetensors", "header"], check=_unchanged(*files))


# --- environment: one line, exit 2, nothing lost ----------------------------------------------------------


@case("environment")
def output_is_an_existing_file(ctx):
    path = ctx.write("run", "not a folder")

    def check(out, err):
        assert path.read_text() == "not a folder"  # the file in the way is left alone

    return Case(ctx.train(out=path), [f"--output {path}: is an existing file"], check=check)


@case("environment")
def output_under_an_existing_file(ctx):
    path = ctx.write("afile", "x")
    return Case(ctx.train(out=path / "run"), [f"{path} is a file, so no folder can be made under it"])


@case("environment")
def output_under_proc(ctx):
    return Case(ctx.train(out=Path("/proc/infoprompt-run")), ["/proc/infoprompt-run"])


@case("environment")
def output_folder_not_writable(ctx):
    import infoprompt.atomic_files as atomic_files

    ctx.monkeypatch.setattr(atomic_files.os, "access", lambda path, mode: False)
    return Case(ctx.train(out=ctx.tmp / "ro" / "run"), ["is not writable (permission denied or read-only)"])


@case("environment")
def read_only_file_system_at_write(ctx):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(args[1]))

    ctx.monkeypatch.setattr(os, "replace", refuse)
    return Case(ctx.train(), ["Read-only file system (read-only file system: choose another --output)"])


@case("environment")
def full_disk_keeps_the_previous_checkpoint(ctx):
    from infoprompt.cli import main

    run = ctx.tmp / "run"
    assert main(ctx.train("--epochs", "1")) == 0
    before = {name: (run / name).read_bytes() for name in ("config.json", "model.safetensors")}

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    ctx.monkeypatch.setattr(os, "fsync", full)

    def check(out, err):
        assert {name: (run / name).read_bytes() for name in before} == before  # the previous checkpoint, intact
        assert not [p.name for p in run.rglob(".*") if p.is_file()]  # no temporary file left behind

    return Case(ctx.train("--epochs", "1", "--seed", "1", "--overwrite"),  # a used --output needs --overwrite (issue 25)
                ["No space left on device (disk full: files saved before are kept"],
                check=check)


@case("environment")
def permission_denied_on_a_data_file(ctx):
    dev = ctx.write("dev.csv", "\n".join(ctx.dev_lines()) + "\n")
    real = Path.read_bytes

    def read_bytes(self):
        if self == dev:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    real_open = Path.open

    def open_(self, *args, **kwargs):  # the readers stream the file (issue 25): refuse that way too
        if self == dev:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    ctx.monkeypatch.setattr(Path, "read_bytes", read_bytes)
    ctx.monkeypatch.setattr(Path, "open", open_)
    return Case(ctx.train(dev=dev), [f"{dev}: permission denied"])


@case("environment")
def missing_data_file(ctx):
    return Case(ctx.train(dev=ctx.tmp / "nope.csv"), [f"{ctx.tmp / 'nope.csv'}: file not found"])


@case("environment")
def directory_as_a_data_file(ctx):
    (ctx.tmp / "data").mkdir()
    return Case(ctx.train(train=ctx.tmp / "data"), [f"{ctx.tmp / 'data'}: is a directory, expected a data file"])


@case("environment")
def directory_named_like_a_csv(ctx):
    (ctx.tmp / "dev.csv").mkdir()
    return Case(ctx.train(dev=ctx.tmp / "dev.csv"), [f"{ctx.tmp / 'dev.csv'}: is a directory"])


@case("environment")
def max_length_beyond_the_backbone(ctx):
    dev = ctx.write("dev.csv", "\n".join(ctx.dev_lines() + ["long " * 1500 + ",1"]) + "\n")
    return Case(ctx.train("--max-length", "2048", dev=dev), ["--max-length 2048", "256 positions"])


@case("environment")
def oversized_seed(ctx):
    return Case(ctx.train("--seed", str(2**70)), ["--seed must be <= 4294967295, got 1180591620717411303424"])


@case("environment")
def negative_seed(ctx):
    return Case(ctx.train("--seed", "-3"), ["--seed must be >= 0, got -3"])


@case("environment")
def latin1_byte_in_a_sweep_file(ctx):
    sweep = ctx.write("s.yaml", b"grid:\n  method: [warp]  # caf\xe9\n")
    return Case(["sweep", str(sweep), "--runs-dir", str(ctx.tmp / "runs")], [f"{sweep}:2: undecodable byte 0xe9"])


@case("environment")
def sweep_reports_skipped_rows(ctx):
    sweep = ctx.write("s.yaml", "grid:\n  method: [warp]\n")
    here = str(Path(__file__).parent)
    ctx.monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    return Case(["sweep", str(sweep), "--runs-dir", str(ctx.tmp / "runs"), "--runner", "skippingrun:run", "--quiet"],
                ["sweep: skipped bad rows in 1 run(s)", ": 3 (each run's result.json: 'skipped_rows')"], code=0)


@case("environment")
def evaluate_from_another_working_directory(ctx):
    from infoprompt.cli import main

    (ctx.tmp / "work").mkdir()
    for name in ("train.csv", "dev.csv"):
        shutil.copy(ctx.files / name, ctx.tmp / "work" / name)
    ctx.monkeypatch.chdir(ctx.tmp / "work")
    argv = ctx.train(train=Path("train.csv"), dev=Path("dev.csv"), out=ctx.tmp / "run")
    assert main(argv) == 0
    (ctx.tmp / "elsewhere").mkdir()
    ctx.monkeypatch.chdir(ctx.tmp / "elsewhere")

    def check(out, err):
        assert _json_line(out)["examples"] == 12

    return Case(["evaluate", "--checkpoint", str(ctx.tmp / "run"), "--json"], code=0, check=check)


@case("environment")
def evaluate_missing_dev_file(ctx):
    return Case(_evaluate(ctx, ctx.tmp / "gone.csv"), [f"{ctx.tmp / 'gone.csv'}: file not found"])


@case("environment")
def run_files_follow_the_umask(ctx):
    os.umask(0o027)  # the catalogue puts the suite's umask back after each case

    def check(out, err):
        for name in ("config.json", "model.safetensors", "metrics.jsonl"):
            assert stat.S_IMODE((ctx.tmp / "run" / name).stat().st_mode) == 0o640, name

    return Case(ctx.train(), code=0, check=check)


def _poison(ctx: Ctx, after: int) -> None:
    """From training step `after + 1` on, InfoPrompt's 'rep' loss is NaN."""
    import torch

    from infoprompt.methods.base import MethodOutput, PromptMethod

    calls = {"n": 0}
    original = torch.nn.Module.__call__

    def call(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if isinstance(self, PromptMethod) and self.training and isinstance(out, MethodOutput):
            calls["n"] += 1
            if calls["n"] > after:
                out.losses["rep"] = out.losses["rep"] * float("nan")
        return out

    ctx.monkeypatch.setattr(torch.nn.Module, "__call__", call)


@case("environment")
def diverges_before_any_checkpoint(ctx):
    _poison(ctx, 0)

    def check(out, err):
        assert not (ctx.tmp / "run" / "config.json").exists()  # the message is true: there is none

    return Case(ctx.train("--method", "infoprompt"), ["loss term 'rep' is nan at step 1",
                                                      "no checkpoint was saved (no evaluation had finished yet)"],
                check=check)


@case("environment")
def diverges_after_a_checkpoint_names_it(ctx):
    _poison(ctx, 4)  # 3 steps per epoch: epoch 1 evaluates and saves first
    run = ctx.tmp / "run"

    def check(out, err):
        assert json.loads((run / "config.json").read_text())["step"] == 3

    return Case(ctx.train("--method", "infoprompt", "--epochs", "3"),
                [f"the last good checkpoint (step 3) is kept: {run / 'config.json'}"], check=check)


@case("environment")
def out_of_memory(ctx):
    import torch

    import infoprompt.api as api

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 TiB")

    ctx.monkeypatch.setattr(api, "fit", oom)
    return Case(ctx.train(), ["out of memory: CUDA out of memory. Tried to allocate 8.00 TiB (lower --batch-size"])


@case("environment")
def predict_input_is_a_directory(ctx):
    (ctx.tmp / "in.csv").mkdir()
    return Case(_predict(ctx, ctx.tmp / "in.csv"), [f"{ctx.tmp / 'in.csv'}: is a directory"])


@case("environment")
def predict_input_missing(ctx):
    return Case(_predict(ctx, ctx.tmp / "in.csv"), [f"{ctx.tmp / 'in.csv'}: file not found"])


@case("environment")
def predict_input_under_proc(ctx):
    return Case(_predict(ctx, Path("/proc/self/status")), ["/proc/self/status: unsupported file type"])


@case("environment")
def predict_output_on_a_full_disk(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n')
    out_file = ctx.tmp / "pred.tsv"

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    ctx.monkeypatch.setattr(os, "fsync", full)

    def check(out, err):
        assert not out_file.exists() and not list(ctx.tmp.glob(".pred.tsv.*"))  # no half-written file

    return Case(_predict(ctx, inp, "--output", str(out_file)), ["No space left on device"], check=check)


@case("environment")
def predict_output_replaces_an_existing_file_atomically(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n{"sentence": "boring"}\n')
    out_file = ctx.write("pred.jsonl", "old\n")

    def check(out, err):
        assert len(out_file.read_text().splitlines()) == 2

    return Case(_predict(ctx, inp, "--output", str(out_file)), code=0, check=check)


# --- aliasing and silent reinterpretation (issue 25) ----------------------------------------------------


@case("aliasing")
def predict_output_is_the_runs_config(ctx):
    run = ctx.run_copy()
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n')
    return Case(_predict(ctx, inp, "--output", str(run / "config.json"), checkpoint=run),
                ["lies in the run directory"], check=_unchanged(run / "config.json", run / "model.safetensors"))


@case("aliasing")
def predict_output_is_the_input(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n')
    return Case(_predict(ctx, inp, "--output", str(inp)), ["is the input"], check=_unchanged(inp))


@case("aliasing")
def predict_output_is_a_symlink_to_the_input(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n')
    link = ctx.tmp / "out.jsonl"
    link.symlink_to(inp)
    return Case(_predict(ctx, inp, "--output", str(link)), ["is the input"], check=_unchanged(inp))


@case("aliasing")
def fresh_run_into_a_used_directory(ctx):
    run = ctx.run_copy()
    return Case(ctx.train(out=run), ["already holds a run", "--overwrite"],
                check=_unchanged(run / "config.json", run / "metrics.jsonl"))


@case("aliasing")
def second_writer_into_a_locked_run_directory(ctx):
    from infoprompt.atomic_files import RunLock

    run = ctx.tmp / "run"
    lock = RunLock(run).acquire()  # held by "another process" (another open file description)

    def check(out, err):
        lock.release()
        assert not (run / "config.json").exists()

    return Case(ctx.train(out=run), ["another infoprompt process is writing", f"pid {os.getpid()} on host"], check=check)


@case("aliasing")
def edited_sealed_resume_state(ctx):
    run = ctx.run_copy()
    state = run / "resume" / "state.json"
    record = json.loads(state.read_text())
    record["position"]["best"] = {"accuracy": 0.99}
    state.write_text(json.dumps(record))
    return Case(ctx.train("--resume", out=run), ["state.json: contents do not match its 'record_sha256'"])


@case("aliasing")
def predict_input_without_a_final_line_break(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n{"sentence": "bor')
    out = ctx.tmp / "pred.jsonl"

    def check(o, e):
        assert not out.exists()

    return Case(_predict(ctx, inp, "--output", str(out)), [f"{inp}:2: the last line does not end in a line break"],
                check=check)


@case("aliasing")
def predict_text_empty_after_normalisation(ctx):
    inp = ctx.write("in.jsonl", '{"sentence": "great fun"}\n{"sentence": "\\u200b \\u00ad"}\n')
    return Case(_predict(ctx, inp), [f"{inp}:2: field 'sentence' is empty after normalisation"])


@case("aliasing")
def predict_input_is_a_fifo(ctx):
    fifo = ctx.tmp / "rows.jsonl"
    os.mkfifo(fifo)
    return Case(_predict(ctx, fifo), [f"{fifo}: is not a regular file"])


@case("aliasing")
def predict_input_is_a_symlink_loop(ctx):
    loop = ctx.tmp / "loop.jsonl"
    loop.symlink_to(loop)
    return Case(_predict(ctx, loop), [f"{loop}: cannot read"])


@case("aliasing")
def labels_differing_only_by_case(ctx):
    train = ctx.write("train.csv", "sentence,label\ngreat,positive\nbad,negative\nfun,Positive\n")
    return Case(ctx.train("--verbalizer", "positive=good,negative=bad", train=train),
                [f"{train}:4: field 'label': label 'Positive' differs from 'positive'"])


@case("aliasing")
def verbalizer_label_given_twice(ctx):
    return Case(ctx.train("--verbalizer", "0=bad,1=good,0=awful"), ["--verbalizer: label '0' is given twice"])


@case("aliasing")
def duplicate_key_in_a_jsonl_row(ctx):
    dev = ctx.write("dev.jsonl", '{"sentence": "great fun", "label": 1, "label": 0}\n')
    return Case(_evaluate(ctx, dev), [f"{dev}:1: invalid JSON (field 'label' is given twice"])


@case("aliasing")
def deeply_nested_json_row(ctx):
    dev = ctx.write("dev.jsonl", "[" * 100000 + "]" * 100000 + "\n")
    return Case(_evaluate(ctx, dev), [f"{dev}:1: invalid JSON"])


@case("aliasing")
def text_fields_with_a_builtin_task(ctx):
    return Case(["train", "--task", "sst2", "--text-fields", "review", "--backbone", str(ctx.model), "--output",
                 str(ctx.tmp / "run"), "--quiet"], ["--text-fields/--label-field are for --task custom"],
                check=_no_run_written(ctx))


@case("aliasing")
def dev_file_identical_to_train_is_not_honest(ctx):
    def check(out, err):
        assert _json_line(out)["honest"] is False and "is not held out (honest: false)" in err

    return Case(ctx.train(dev=ctx.files / "train.csv"), code=0, check=check)


# --- sweep files: refused whole, before any run is expanded or started (issue 25) ---------------------------


def _sweep(ctx: Ctx, name: str, text: str, *extra: str) -> tuple[list[str], Callable[[str, str], None]]:
    """argv for `infoprompt sweep` of the file `text`, and a check that no runs directory was made."""
    sweep, runs = ctx.write(name, text), ctx.tmp / "runs"

    def check(out: str, err: str) -> None:
        assert not runs.exists()

    return ["sweep", str(sweep), "--runs-dir", str(runs), *extra], check


# A key given twice, at any level (YAML through the loader's own hook, TOML's own refusal): case name ->
# (file, text, extra flags, what the one line names after the file's path).
DUPLICATE_KEYS = {
    "duplicate_key_in_a_sweeps_fixed_mapping": (
        "s.yaml", "fixed:\n  epochs: 2\n  epochs: 3\ngrid:\n  method: [warp]\n", (),
        ":3: key 'epochs' is given twice (first on line 2)"),
    "duplicate_key_in_a_grid_entry": (
        "s.yaml", "grid:\n  - method: [warp]\n    seed: [0]\n    method: [idpg]\n", ("--dry-run",),
        ":4: key 'method' is given twice (first on line 2)"),
    "duplicate_top_level_key_in_a_sweep": (
        "s.yaml", "grid:\n  method: [warp]\nruns_dir: a\ngrid:\n  method: [idpg]\n", (),
        ":4: key 'grid' is given twice (first on line 1)"),
    "duplicate_key_in_a_toml_sweep": (
        "s.toml", '[fixed]\nepochs = 2\nepochs = 3\n[grid]\nmethod = ["warp"]\n', (), ":3: key 'epochs' is given twice"),
    "duplicate_table_in_a_toml_sweep": (
        "s.toml", '[grid]\nmethod = ["warp"]\n[fixed]\nepochs = 2\n[grid]\nseed = [1]\n', (),
        ":5: key 'grid' is given twice"),
}


def _duplicate_key_case(name: str, file: str, text: str, extra: tuple, named: str) -> None:
    def build(ctx: Ctx) -> Case:
        argv, check = _sweep(ctx, file, text, *extra)
        return Case(argv, [f"{ctx.tmp / file}{named}"], check=check)

    build.__name__ = name
    case("sweep")(build)


for _name, _spec in DUPLICATE_KEYS.items():
    _duplicate_key_case(_name, *_spec)


def _never_expanded(ctx: Ctx) -> None:
    """A grid over the limit must be refused from its value-list lengths: expanding it is a bug here."""
    import infoprompt.sweep
    import infoprompt.sweep.grid

    def expand(config):
        raise AssertionError("the grid was expanded")

    ctx.monkeypatch.setattr(infoprompt.sweep, "expand", expand)
    ctx.monkeypatch.setattr(infoprompt.sweep.grid, "expand", expand)


MILLION = "".join(f"  {key}: [{', '.join(str(v) for v in values)}]\n" for key, values in (
    ("seed", range(10)), ("n_prompts", range(1, 11)), ("shots", range(16, 176, 16)), ("epochs", range(1, 11)),
    ("batch_size", range(1, 11)), ("eval_every", range(1, 11))))


@case("sweep")
def grid_of_a_million_runs_is_counted_not_expanded(ctx):
    _never_expanded(ctx)
    argv, check = _sweep(ctx, "s.yaml", "grid:\n" + MILLION)
    return Case(argv, [f"{ctx.tmp / 's.yaml'}:1: key 'grid': grid entry holds 1,000,000 runs",
                       "more than the limit of 10,000 runs"], check=check)


@case("sweep")
def grid_of_a_million_runs_on_dry_run(ctx):
    _never_expanded(ctx)
    argv, check = _sweep(ctx, "s.yaml", "grid:\n  - method: [warp]\n  -\n" + MILLION.replace("  ", "    "), "--dry-run")
    return Case(argv, [f"{ctx.tmp / 's.yaml'}:4: key 'grid[1]': grid entry holds 1,000,000 runs"], check=check)


@case("sweep")
def grids_together_beyond_the_limit(ctx):
    seeds = ", ".join(str(s) for s in range(2000))
    argv, check = _sweep(ctx, "s.yaml", f"grid:\n  - seed: [{seeds}]\n    n_prompts: [1, 2, 3]\n"
                                        f"  - seed: [{seeds}]\n    n_prompts: [5, 6, 7]\n", "--dry-run")
    return Case(argv, [f"{ctx.tmp / 's.yaml'}: the grids together hold more than 10,000 distinct runs"],
                check=check)

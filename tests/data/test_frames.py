"""Data from Python: DataFrame, datasets.Dataset and lists of dicts train and predict like files do."""

from __future__ import annotations

import json

import pytest

from infoprompt.api import TrainConfig, evaluate, load, train
from infoprompt.data.frames import table_rows
from infoprompt.errors import ConfigError, DataError

pd = pytest.importorskip("pandas")
datasets = pytest.importorskip("datasets")

GOOD = ["a great movie", "wonderful cast", "fun plot", "this is positive", "a wonderful film", "great fun"]
BAD = ["a terrible film", "boring and long", "thin plot", "this is negative", "a boring film", "terrible cast"]
TRAIN = [{"text": t, "label": "pos"} for t in GOOD[:4]] + [{"text": t, "label": "neg"} for t in BAD[:4]]
DEV = [{"text": t, "label": "pos"} for t in GOOD[4:]] + [{"text": t, "label": "neg"} for t in BAD[4:]]


def _cfg(tmp_path, name: str, **data) -> TrainConfig:
    return TrainConfig(task="custom", method="prompt", text_fields=["text"], n_prompts=2, epochs=2, batch_size=4,
                       max_length=24, output=str(tmp_path / name), progress=False, save_every=None, **data)


def test_dataframe_dataset_and_file_train_the_same_run_and_predict_alike(tmp_path, tiny_bert):
    runs = {
        "frame": _cfg(tmp_path, "frame", train_data=pd.DataFrame(TRAIN), dev_data=pd.DataFrame(DEV)),
        "dataset": _cfg(tmp_path, "dataset", train_data=datasets.Dataset.from_list(TRAIN),
                        dev_data=datasets.Dataset.from_list(DEV)),
    }
    for split, rows in (("train", TRAIN), ("dev", DEV)):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs["file"] = _cfg(tmp_path, "file", train_file=str(tmp_path / "train.jsonl"), dev_file=str(tmp_path / "dev.jsonl"))
    results = {name: train(cfg, backbone=tiny_bert) for name, cfg in runs.items()}
    assert results["frame"].metrics == results["dataset"].metrics == results["file"].metrics
    record = json.loads((tmp_path / "frame" / "config.json").read_text())
    assert record["train_config"]["train_data"].startswith("<train_data: DataFrame, 8 rows, sha256 ")

    texts = [{"text": t} for t in GOOD + BAD]
    model = load(results["frame"].run_dir, tiny_bert)
    from_list = model.predict(texts)
    assert len(from_list) == len(texts) and set(from_list) <= {"pos", "neg"}
    assert model.predict(pd.DataFrame(texts)) == from_list
    assert model.predict(datasets.Dataset.from_list(texts)) == from_list
    assert model.predict(list(reversed(texts))) == list(reversed(from_list))  # one per row, in order
    assert load(results["dataset"].run_dir, tiny_bert).predict(texts) == from_list
    assert load(results["file"].run_dir, tiny_bert).predict(texts) == from_list
    with pytest.raises(ConfigError, match=r"dev split came from Python rows \(<dev_data: DataFrame, 4 rows"):
        evaluate(results["frame"].run_dir, backbone=tiny_bert)
    (tmp_path / "dev.csv").write_text("text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in DEV))
    scored = evaluate(results["frame"].run_dir, backbone=tiny_bert, dev_file=str(tmp_path / "dev.csv"))
    assert scored["dev"] == results["frame"].metrics


def test_bad_rows_name_the_object_row_and_field(tmp_path, tiny_bert):
    frame = pd.DataFrame(TRAIN)
    frame.loc[3, "text"] = None  # pandas stores NaN: a missing field, never the text "nan"
    with pytest.raises(DataError, match=r"^train_data: DataFrame row 3: missing field 'text'$"):
        train(_cfg(tmp_path, "x", train_data=frame, dev_data=DEV), backbone=tiny_bert)
    dev = DEV[:2] + [{"text": "odd", "label": "maybe"}]
    with pytest.raises(DataError, match=r"^dev_data: list row 2: field 'label': unknown label 'maybe'"):
        train(_cfg(tmp_path, "y", train_data=TRAIN, dev_data=dev), backbone=tiny_bert)
    with pytest.raises(DataError, match=r"^rows: list row 1: expected a dict of fields, got str$"):
        table_rows([{"text": "a"}, "b"], "rows")


def test_predict_rows_missing_a_field_is_an_error_naming_the_row(tmp_path, tiny_bert):
    run = train(_cfg(tmp_path, "run", train_data=TRAIN, dev_data=DEV), backbone=tiny_bert)
    model = load(run.run_dir, tiny_bert)
    with pytest.raises(DataError, match=r"^rows: Dataset row 1: missing field 'text'$"):
        model.predict(datasets.Dataset.from_list([{"text": "fine", "other": "x"}, {"text": None, "other": "y"}]))
    with pytest.raises(ConfigError, match="expected a pandas DataFrame"):
        model.predict("a plain string")


def test_config_errors_for_mixed_or_misplaced_data(tiny_bert):
    with pytest.raises(ConfigError, match="in-memory data is for task='custom'"):
        train(TrainConfig(task="sst2", train_data=TRAIN), backbone=tiny_bert)
    with pytest.raises(ConfigError, match="not both"):
        train(TrainConfig(task="custom", text_fields=["text"], train_data=TRAIN, dev_file="dev.csv"), backbone=tiny_bert)
    with pytest.raises(ConfigError, match="needs both train_data and dev_data"):
        train(TrainConfig(task="custom", text_fields=["text"], train_data=TRAIN), backbone=tiny_bert)


def test_dataset_class_labels_read_as_their_names():
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    data = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, 0]}, features=features)
    assert [row["label"] for _, row in table_rows(data, "train_data")] == ["pos", "neg"]

import pytest

from infoprompt.data.tasks import get_task, load_split, resolve_data_dir
from infoprompt.errors import ConfigError


@pytest.mark.parametrize(
    "task, split, count",
    [("sst2", "dev", 872), ("cola", "dev", 1043), ("rte", "dev", 277), ("mrpc", "train", 3668), ("mrpc", "dev", 408),
     ("rte", "train", 2490), ("cola", "train", 8551)],
)
def test_glue_split_sizes_match_official(shared_data, task, split, count):
    examples = load_split(get_task(task), split, shared_data)
    assert len(examples) == count
    assert all(e.label in (0, 1) for e in examples)


def test_mrpc_dev_matches_glue_dev_file(shared_data):
    """dev = msr_paraphrase_train rows whose ids are in dev_ids: the same pairs GLUE's dev.tsv holds."""
    dev = load_split(get_task("mrpc"), "dev", shared_data)
    lines = (shared_data / "glue" / "mrpc" / "dev.tsv").read_text(encoding="utf-8-sig").splitlines()[1:]
    expected = {(p[3], p[4], int(p[0])) for p in (line.split("\t") for line in lines)}
    assert {(e.text_a, e.text_b, e.label) for e in dev} == expected


def test_pairs_and_labels(shared_data):
    rte = load_split(get_task("rte"), "dev", shared_data)
    assert rte[0].text_b and rte[0].source.endswith("dev.tsv:2")
    assert get_task("rte").label_names[rte[0].label] in ("entailment", "not_entailment")


def test_data_dir_order(monkeypatch, tmp_path, shared_data):
    assert resolve_data_dir(None) is None  # -> hub
    monkeypatch.setenv("INFOPROMPT_DATA", str(shared_data))
    assert resolve_data_dir(None) == shared_data
    assert resolve_data_dir(str(tmp_path)) == tmp_path  # the flag wins over the variable
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_data_dir(str(tmp_path / "missing"))


def test_unknown_task():
    with pytest.raises(ConfigError, match="unknown task 'qqp'"):
        get_task("qqp")


def test_hub_fallback_maps_fields(monkeypatch):
    """Without a data dir the loaders read the hub's GLUE copy; check the field mapping offline."""
    import datasets

    calls = []

    def fake_load(name, config, split):
        calls.append((name, config, split))
        return [{"sentence1": "a", "sentence2": "b", "label": 1}] if config == "mrpc" else [{"sentence": "s", "label": 0}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    mrpc = load_split(get_task("mrpc"), "dev", None)
    sst2 = load_split(get_task("sst2"), "train", None)
    assert calls == [("nyu-mll/glue", "mrpc", "validation"), ("nyu-mll/glue", "sst2", "train")]
    assert (mrpc[0].text_a, mrpc[0].text_b, mrpc[0].label) == ("a", "b", 1)
    assert (sst2[0].text_a, sst2[0].label) == ("s", 0)

"""SemEval-2010 Task 8 reader: release format (CRLF, <e1>/<e2> tags), splits, errors."""

from pathlib import Path

import pytest

from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.semeval import DEV_SIZE, dev_ids, load_semeval, read_semeval_file
from infoprompt.data.tasks import get_task, load_split
from infoprompt.errors import ConfigError, DataError
from infoprompt.evaluation.semeval import LABELS

RECORDS = [
    (1, 'The <e1>child</e1> was wrapped in the <e2>cradle</e2>.', "Content-Container(e1,e2)", "Comment:"),
    (2, 'A "quoted" <e2>word</e2> from the <e1>author</e1>.', "Other", "Comment: inner quotes"),
    (3, '<e1>Smoke</e1> caused <e2>coughs</e2>', "Cause-Effect(e1,e2)", "Comment: <e1>x</e1> in a comment"),
]


def write_release(folder: Path, records, name: str = "TRAIN_FILE.TXT") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(f'{i}\t"{s}"\r\n{label}\r\n{comment}\r\n\r\n' for i, s, label, comment in records)
    path = folder / name
    path.write_bytes(text.encode())
    return path


def test_reads_crlf_records_with_entity_spans(tmp_path):
    path = write_release(tmp_path, RECORDS)
    pairs = read_semeval_file(path, BadRowPolicy())
    assert [sid for sid, _ in pairs] == [1, 2, 3]
    (_, first), (_, second), (_, third) = pairs
    assert first.text_a == "The child was wrapped in the cradle."
    assert [first.text_a[a:b] for a, b in first.spans] == ["child", "cradle"]
    assert second.text_a == 'A "quoted" word from the author.'
    assert [second.text_a[a:b] for a, b in second.spans] == ["author", "word"]  # e1 stays e1 when it comes second
    assert LABELS[first.label] == "Content-Container(e1,e2)" and LABELS[second.label] == "Other"
    assert first.source == f"{path}:1" and second.source == f"{path}:5"
    assert third.spans[0] == (0, 5)


def test_unlabelled_release_format_reads_one_sentence_per_line(tmp_path):
    path = tmp_path / "TEST_FILE.TXT"
    path.write_bytes(b'8001\t"The <e1>a</e1> and <e2>b</e2>."\r\n8002\t"<e1>c</e1> <e2>d</e2>"\r\n')
    pairs = read_semeval_file(path, BadRowPolicy(), labelled=False)
    assert [(sid, e.label) for sid, e in pairs] == [(8001, None), (8002, None)]


@pytest.mark.parametrize("record, message", [
    ((1, "no tags here", "Other", "Comment:"), r":1: field 'sentence': no <e1>"),
    ((1, "<e1>a</e1> <e2>b", "Other", "Comment:"), r":1: field 'sentence': no <e2>"),
    ((1, "</e1>a<e1> <e2>b</e2>", "Other", "Comment:"), r":1: field 'sentence': </e1> without"),
    ((1, "<e1>a</e1> <e1>b</e1> <e2>c</e2>", "Other", "Comment:"), r":1: field 'sentence': <e1> appears twice"),
    ((1, "<e1> </e1> <e2>c</e2>", "Other", "Comment:"), r":1: field 'sentence': the <e1> entity is empty"),
    ((1, "<e1>a</e1> <e2>b</e2>", "Cause-Effect", "Comment:"), r":2: field 'relation': unknown label 'Cause-Effect'"),
])
def test_bad_records_name_file_line_and_field(tmp_path, record, message):
    path = write_release(tmp_path, [record])
    with pytest.raises(DataError, match=rf"^{path}{message}"):
        read_semeval_file(path, BadRowPolicy())
    policy = BadRowPolicy(skip=True)
    assert read_semeval_file(path, policy) == [] and len(policy.skipped) == 1


def test_duplicate_ids_and_a_disagreeing_key_are_errors(tmp_path):
    path = write_release(tmp_path, [RECORDS[0], RECORDS[0]])
    with pytest.raises(DataError, match=r":5: field 'id': sentence id 1 already used at .*:1$"):
        read_semeval_file(path, BadRowPolicy())
    folder = tmp_path / "semeval2010_task8"
    write_release(folder, RECORDS)
    write_release(folder, RECORDS, "TEST_FILE_FULL.TXT")
    (folder / "TEST_FILE_KEY.TXT").write_bytes(b"1\tContent-Container\r\n2\tOther\r\n3\tCause-Effect\r\n")
    assert len(load_semeval("test", tmp_path, BadRowPolicy())) == 3
    (folder / "TEST_FILE_KEY.TXT").write_bytes(b"1\tContent-Container\r\n2\tMessage-Topic\r\n")
    with pytest.raises(DataError, match=r"TEST_FILE_KEY.TXT:2: field 'relation': key says 'Message-Topic'"):
        load_semeval("test", tmp_path, BadRowPolicy())


def test_needs_a_data_dir_and_known_split(tmp_path):
    with pytest.raises(ConfigError, match="give --data-dir"):
        load_semeval("train", None, BadRowPolicy())
    with pytest.raises(ConfigError, match="no SemEval-2010 Task 8 files"):
        load_semeval("train", tmp_path, BadRowPolicy())


def test_dev_holdout_is_fixed_and_disjoint():
    ids = list(range(1, 8001))
    dev = dev_ids(ids)
    assert len(dev) == DEV_SIZE and dev == dev_ids(list(reversed(ids)))  # a pure function of the id set


def test_real_files_give_the_official_sizes(shared_data):
    if not (shared_data / "semeval2010_task8").is_dir():
        pytest.skip("no SemEval data")
    task = get_task("semeval")
    assert task.has_test and task.primary_metric == "semeval_macro_f1" and len(task.verbalizer) == 19
    train, dev, test = (load_split(task, s, shared_data) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (7200, 800, 2717)
    assert not {e.source for e in train} & {e.source for e in dev}
    assert {LABELS[e.label] for e in train} == set(LABELS)
    first = test[0]
    assert [first.text_a[a:b] for a, b in first.spans] == ["audits", "waste"]
    assert LABELS[first.label] == "Message-Topic(e1,e2)"

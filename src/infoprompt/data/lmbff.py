"""SST-5, CR and MPQA in LM-BFF's few-shot layout (Gao, Fisch & Chen 2021), with LM-BFF's verbalizers.

Files looked up under a data directory D: `D/lmbff/<folder>/` or `D/<folder>/` (folder: sst-5, cr, mpqa), holding
`train.csv` and `test.csv` and the official 16-shot draws `k-shot/16-<seed>/{train,dev}.csv`, seeds 13, 21, 42, 87,
100 (../shared/data/SOURCES.md says where each file comes from). Every file is a headerless CSV, column 0 the
label index and column 1 the sentence, read by the reader a user's own file goes through (`read_table` with
header=False, i.e. `--no-header --text-fields 1 --label-field 0`). LM-BFF's files hold a few empty sentences
(written " "); they are kept, as LM-BFF keeps them, so every split has its published size (CR test: 2,000 rows).

Splits. "test" is test.csv, the split every protocol reports (has_test). These tasks have no official dev set, so
"dev" is a fixed hold-out of DEV_SIZE training rows, `random.Random(DEV_SEED).sample(range(rows), DEV_SIZE)` with
DEV_SEED = 0 (the same for every run and every --seed), and "train" is the other rows. Under the default
`--select-on dev-split` a seeded half of that hold-out selects the checkpoint; test.csv is never used to select.
Under `--select-on few-shot` the hold-out is not used: the training and dev draws (k per class each) come from
"train", or, with `--official-draw`, from LM-BFF's k-shot files as they ship (which LM-BFF drew from the whole of
train.csv, so an official draw may hold rows of the hold-out: harmless, since that protocol never reads it).
"""

from __future__ import annotations

import random
from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy, read_table, read_text, split_lines
from infoprompt.data.registry import register_task
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError

DEV_SEED = 0
DEV_SIZE = 500
OFFICIAL_SEEDS = (13, 21, 42, 87, 100)
OFFICIAL_SHOTS = 16  # per class, in the shipped k-shot draws
FOLDERS = {"sst5": "sst-5", "cr": "cr", "mpqa": "mpqa"}

SST5 = TaskSpec("sst5", ["very negative", "negative", "neutral", "positive", "very positive"],
                ["terrible", "bad", "okay", "good", "great"], ["accuracy"], "accuracy", has_test=True)
CR = TaskSpec("cr", ["negative", "positive"], ["terrible", "great"], ["accuracy"], "accuracy", has_test=True)
MPQA = TaskSpec("mpqa", ["negative", "positive"], ["terrible", "great"], ["accuracy"], "accuracy", has_test=True)
TASKS = {spec.name: spec for spec in (SST5, CR, MPQA)}


def task_dir(name: str, data_dir: Path | None) -> Path:
    """The task's LM-BFF folder under the data directory (a one-line error when there is none)."""
    folder = FOLDERS[name]
    if data_dir is None:
        raise ConfigError(f"{name} reads LM-BFF's files: give --data-dir (or set INFOPROMPT_DATA) to a folder "
                          f"holding lmbff/{folder}/train.csv and test.csv")
    for candidate in (data_dir / "lmbff" / folder, data_dir / folder):
        if (candidate / "train.csv").is_file():
            return candidate
    raise ConfigError(f"no LM-BFF '{folder}' folder under {data_dir} (looked for lmbff/{folder}/train.csv "
                      f"and {folder}/train.csv)")


def read_lmbff_file(name: str, path: Path, policy: BadRowPolicy) -> list[Example]:
    """One LM-BFF CSV file as Examples: headerless, label index in column 0, sentence in column 1."""
    from infoprompt.data.custom import require_rows, rows_to_examples

    spec = TASKS[name]
    columns = TaskSpec(name, [str(i) for i in range(spec.num_labels)], spec.verbalizer, spec.metrics,
                       spec.primary_metric, text_fields=["1"], label_field="0")  # labels by index
    rows = read_table(path, policy, header=False)
    return require_rows(rows_to_examples(rows, columns, path, policy, allow_empty=True), path, policy)


def dev_rows(count: int) -> set[int]:
    """The fixed dev hold-out: DEV_SIZE row positions of train.csv drawn with DEV_SEED."""
    return set(random.Random(DEV_SEED).sample(range(count), min(DEV_SIZE, count // 2)))


def check_official_draw(name: str, seed: int) -> None:
    """A one-line error unless `name` ships official draws and `seed` is one of them."""
    if name not in TASKS:
        raise ConfigError(f"--official-draw: task '{name}' has no official LM-BFF draws "
                          f"(tasks with them: {', '.join(TASKS)})")
    if seed not in OFFICIAL_SEEDS:
        raise ConfigError(f"--official-draw: --seed {seed} is not one of LM-BFF's draws "
                          f"({', '.join(map(str, OFFICIAL_SEEDS))})")


def official_draw(name: str, seed: int, data_dir: Path | None, policy: BadRowPolicy) -> dict[str, list[Example]]:
    """LM-BFF's official 16-per-class draw for `seed`: {"train": ..., "dev": ...}, exactly as the files ship."""
    check_official_draw(name, seed)
    folder = task_dir(name, data_dir) / "k-shot" / f"{OFFICIAL_SHOTS}-{seed}"
    return {split: read_lmbff_file(name, folder / f"{split}.csv", policy) for split in ("train", "dev")}


def _loader(name: str):
    def load(split: str, data_dir: Path | None, policy: BadRowPolicy) -> list[Example]:
        if split not in ("train", "dev", "test"):
            raise ConfigError(f"{name}: unknown split '{split}' (train, dev or test)")
        folder = task_dir(name, data_dir)
        if split == "test":
            return read_lmbff_file(name, folder / "test.csv", policy)
        path = folder / "train.csv"
        examples = read_lmbff_file(name, path, policy)
        # By line (train.csv has one record per line), counted on the file itself: a row skipped as bad under
        # --skip-bad-rows leaves the hold-out of every other row where it was.
        held_out = dev_rows(len(split_lines(read_text(path))))
        return [e for e in examples if (int(e.source.rsplit(":", 1)[1]) - 1 in held_out) == (split == "dev")]

    return load


for _spec in TASKS.values():
    register_task(_spec, _loader(_spec.name))

"""One configuration schema: the settings of a training run, each with its help, default and checks.

`TrainConfig`'s dataclass fields are the single source of truth. From them come
- the `infoprompt train` options (`add_train_options`: flag, type, choices, help and default),
- the sweep schema (`infoprompt.sweep.flags` reads `train_settings()`),
- the API checks (`TrainConfig(...)` validates itself on construction).
Method options (beta, gamma, lora_r, ...) are the fields of the method config dataclasses
(`infoprompt.methods.*Config`); `method_settings()` turns them into the same kind of settings, so a
field added to a method is a flag, a sweep key and a checked API option at once.

The training loop's own settings are the `TrainerConfig` base class (`infoprompt.training.config`, with
`resolve_device`): `TrainConfig` extends it, and the API derives the loop's config from a run's config
field by field (`TrainerConfig.of`).

This module imports neither torch nor transformers at import time (the CLI's `--help` stays fast);
checks that need them (methods, devices, the backbone's length limit) import them when they run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from infoprompt.data.source import TaskSource
from infoprompt.errors import ConfigError
from infoprompt.registry import Derived
from infoprompt.schema import INT_MAX, SEED_MAX, Setting, check_fields, setting, setting_of, show_value  # noqa: F401  (public here too)
from infoprompt.training.config import TrainerConfig


def tasks():
    """`infoprompt.data.tasks` (get_task, list_tasks), imported on first use: the task modules (readers, the SemEval
    scorer) would double the time of `import infoprompt.config`, which the CLI and reports pay at startup."""
    from infoprompt.data import tasks

    return tasks


def method_registry():
    """The methods registry (`infoprompt.methods.registry`), the one way this module reaches methods/. Imported on
    first use, not at the top: the methods import torch, and `import infoprompt.config` / `--help` stay free of it."""
    import infoprompt.methods  # noqa: F401  (registration)
    from infoprompt.methods import registry

    return registry


ABLATIONS: Mapping[str, dict] = Derived(lambda: method_registry().ablation_zeros())  # --ablation -> zeroed options


def _readouts() -> tuple:
    from infoprompt.families import (
        families,  # (torch: imported on use) every family's readouts, each run checks its own
    )

    return ("auto", *dict.fromkeys(r for family in families() for r in family.readouts))


def _packing_modes() -> tuple:
    from infoprompt.packing import PACKING_MODES

    return PACKING_MODES


@dataclass
class TrainConfig(TrainerConfig):
    """Everything a training run needs; `infoprompt train`'s options are generated from these fields."""

    task: str = setting("sst2", "a GLUE/SuperGLUE/SemEval/LM-BFF task name, or custom (your own files)",
                        choices=lambda: tuple(dict.fromkeys((*tasks().list_tasks(), "custom"))),  # custom once
                        noun="task", group="task")
    method: str = setting("infoprompt", lambda: method_registry().methods_help(), noun="method", group="method",
                          choices=lambda: tuple(sorted(method_registry().METHODS.entries)))  # legacy names too
    backbone: str = setting("minilm", "'minilm', 'smollm2', or any Hugging Face encoder, causal-LM or T5-style id "
                                      "or local path", group="method")
    data_dir: str | None = setting(None, "folder with the task files", group="task",
                                   default_text="$INFOPROMPT_DATA, else the hub")
    shots: int | None = setting(None, "few-shot: draw N training examples with the seed", min=1, group="task",
                                default_text="all training examples")
    stratified: bool = setting(False, "keep the class balance in the few-shot draw", group="task")
    shots_per_class: int | None = setting(
        None, "few-shot: draw N training examples per class with the seed (LM-BFF's k; under --select-on few-shot "
              "the dev draw also has N per class)", min=1, group="task", default_text="all training examples")
    official_draw: bool = setting(
        False, "sst5, cr, mpqa under --select-on few-shot: train and dev are LM-BFF's official 16-per-class draw "
               "k-shot/16-<seed>/ as it ships (--seed 13, 21, 42, 87 or 100)", group="task")
    n_prompts: int = setting(4, "soft prompt tokens", min=1, max=4096, group="method")
    max_length: int = setting(128, "tokens per example, prompts included (at most the backbone's limit)", min=2,
                              max=1_000_000, group="method")
    readout: str = setting("auto", "where Z is read: auto, or the backbone family's: mask, mean, mean-text, cls "
                                   "(encoders), answer (causal), decoder (seq2seq)", choices=_readouts, group="method")
    backbone_dropout: str = setting("off", "dropout inside the frozen backbone", choices=("off", "on"),
                                    group="method")
    ablation: str = setting("none", lambda: method_registry().ablations_help(" (and of --mi-losses)"),
                            choices=lambda: tuple(ABLATIONS), group="method")
    method_options: dict = setting(help="the method's own options, e.g. {'beta': 0.1}", factory=dict, cli=False)
    output: str | None = setting(None, "run directory (holds the best checkpoint)", group="run",
                                 default_text="runs/<task>_<method>_..._<time>")
    resume: bool = setting(False, "continue the run in --output from its last saved state (after a crash or kill)",
                           group="run")
    overwrite: bool = setting(False, "start a fresh run in an --output that already holds one (its log and resume "
                                     "state are replaced; without it such an --output is refused)", group="run")
    packing: str = setting("auto", "auto: pack shuffled training batches without padding where exact (same "
                                   "batches, faster); off: always padded", choices=_packing_modes, group="run")
    # custom tasks
    train_file: str | None = setting(None, "training file (CSV/TSV/JSONL)", group="custom task")
    dev_file: str | None = setting(None, "labelled dev file: checkpoints are selected on it", group="custom task")
    test_file: str | None = setting(None, "labelled test file, scored once with the best dev checkpoint",
                                    group="custom task")
    task_kind: str = setting("text", "text: rows with --text-fields; relation/typing: JSONL spans "
                                     "(docs/relation_extraction.md)", choices=("text", "relation", "typing"),
                             group="custom task")
    text_fields: list[str] | None = setting(None, "the text field(s) of each row: a or a,b", group="custom task")
    label_field: str = setting("label", "the label field of each row", group="custom task")
    header: bool = setting(True, "the CSV/TSV files have no header row: columns are named by position 0, 1, ... "
                                 "(e.g. --text-fields 1 --label-field 0)", group="custom task",
                          default_text="the first row names the columns")
    verbalizer: str | dict | None = setting(None, "label words: LABEL=word,LABEL=word", kind=str,
                                            accepts=(dict,), group="custom task", default_text="the label names")
    skip_bad_rows: bool = setting(False, "skip malformed rows, and report them", group="task")
    # custom tasks from Python (API only): a pandas DataFrame, a datasets.Dataset or a list of dicts per split,
    # with the same field rules as files (text_fields, label_field); see infoprompt.data.frames
    train_data: Any = setting(None, "training rows from Python", cli=False)
    dev_data: Any = setting(None, "dev rows from Python", cli=False)
    test_data: Any = setting(None, "labelled test rows from Python, scored with the best dev checkpoint", cli=False)
    report_to: str = setting("none", "experiment tracking: tensorboard, wandb, mlflow, or a comma list "
                                     "(docs/tracking.md)", group="run")
    init_from_peft: str | None = setting(None, "start from a peft adapter folder (LORA for --method lora, "
                                               "PROMPT_TUNING for prompt, PREFIX_TUNING for prefix; docs/interop.md)",
                                         group="method")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate_settings()

    def validate(self) -> None:
        self.__post_init__()

    def validate_settings(self) -> None:
        """Checks across fields and against the chosen method (no data or backbone is loaded)."""
        if self.n_prompts >= self.max_length:
            raise ConfigError(f"--n-prompts {self.n_prompts} leaves no room for text in --max-length {self.max_length}")
        if self.resume and not self.output:
            raise ConfigError("--resume needs --output RUN_DIR (the run directory to continue)")
        if self.resume and self.overwrite:
            raise ConfigError("--resume continues the run in --output, --overwrite replaces it: give one of them")
        if not isinstance(self.method_options, dict):
            raise ConfigError(f"method_options must be a dict, got {type(self.method_options).__name__}")
        from infoprompt.training.tracking import check_report_to

        check_report_to(self.report_to)
        self.method_options = check_method_options(self.method, self.method_options, self.ablation)
        self.method_config().validate()  # the method's own cross-checks
        if self.select_on == "test" and not self._has_test():
            raise ConfigError(f"--select-on test: task '{self.task}' has no labelled test split "
                              "(give --test-file for a custom task, or use --select-on dev-split)")
        self._check_draw()
        limit = backbone_max_length(self.backbone)
        if limit is not None and self.max_length > limit:
            raise ConfigError(f"--max-length {self.max_length} is beyond the backbone '{self.backbone}''s limit "
                              f"of {limit} positions")

    def _check_draw(self) -> None:
        """The few-shot draw settings against each other and the protocol (data/sampling.py, data/lmbff.py)."""
        if self.shots_per_class is not None and self.shots is not None:
            raise ConfigError("give --shots N (N in all) or --shots-per-class K (K per class), not both")
        if self.shots_per_class is not None and self.stratified:
            raise ConfigError("--stratified is for --shots; a --shots-per-class draw is balanced already")
        if self.official_draw:
            from infoprompt.data.lmbff import OFFICIAL_SHOTS, check_official_draw

            if self.select_on != "few-shot":
                raise ConfigError("--official-draw gives a training and a dev draw: use it with --select-on few-shot")
            check_official_draw(self.task, self.seed)
            if self.shots is not None or self.shots_per_class not in (None, OFFICIAL_SHOTS):
                raise ConfigError(f"--official-draw ships {OFFICIAL_SHOTS} examples per class: drop --shots, "
                                  f"or give --shots-per-class {OFFICIAL_SHOTS}")
        elif self.select_on == "few-shot" and self.shots_per_class is None:
            raise ConfigError("--select-on few-shot needs --shots-per-class K (K training and K dev examples per "
                              "class), or --official-draw")

    def _has_test(self) -> bool:
        return self.task_source().has_test()

    def task_source(self) -> TaskSource:
        """What `data/` needs of this run: the task, its files or rows, and the few-shot draw."""
        values = {name: getattr(self, name) for name in TaskSource.__dataclass_fields__}
        return TaskSource(**{**values, "text_fields": tuple(self.text_fields) if self.text_fields else None})

    def method_config(self):
        """The method's config object: the shared fields, the user's options and the ablation's zeros."""
        config_cls, _ = method_registry().method_classes(self.method)
        shared = {k: getattr(self, k) for k in SHARED_WITH_METHOD if k in config_cls.__dataclass_fields__}
        return config_cls(**shared, **{**self.method_options, **ABLATIONS[self.ablation]})


# --- method options --------------------------------------------------------------------------------

# TrainConfig fields that also configure the method (passed to every method config that has them).
SHARED_WITH_METHOD = ("n_prompts", "readout", "seed")


def method_settings() -> dict[str, Setting]:
    """Every method config field as a Setting (one per name; the default shown lists each method's). Not cached:
    read from the registry each time (about a millisecond), so a method registered later brings its options."""
    registered = {name: e.config for name, e in method_registry().METHODS.entries.items()}
    found: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    described: dict[str, dataclasses.Field] = {}  # a subclass redeclares a field to change its default (layout)
    for name, config_cls in sorted(registered.items()):
        for f in fields(config_cls):
            if f.name not in SHARED_WITH_METHOD:
                found.setdefault(f.name, []).append((name, f))
        for cls in config_cls.__mro__:
            for f in getattr(cls, "__dataclass_fields__", {}).values():
                if f.metadata.get("help"):
                    described.setdefault(f.name, f)
    out = {}
    for option, owners in found.items():
        spec = setting_of(described.get(option, owners[0][1]))
        if spec is None:
            continue
        by_default: dict[str, list[str]] = {}
        for method, f in owners:
            by_default.setdefault(show_value(f.default), []).append(method)
        common = max(by_default, key=lambda value: len(by_default[value]))
        others = "; ".join(f"{value} for {', '.join(ms)}" for value, ms in by_default.items() if value != common)
        text = f"{common} ({others})" if others else common
        methods = sorted({m for m, _ in owners})
        applies = "all methods" if len(methods) == len(registered) else ", ".join(methods)
        help_ = f"{spec.help or option.replace('_', ' ')} [{applies}]"
        flag = spec.option  # fixed before the default becomes None (a switch's polarity depends on it)
        out[option] = dataclasses.replace(spec, default=None, nullable=True, help=help_, group="method options",
                                          default_text=text, flag=flag)
    return out


def check_method_options(method: str, options: dict, ablation: str = "none") -> dict:
    """The options checked against the method's own config (types, finiteness, ranges, and its `validate`)."""
    config_cls, _ = method_registry().method_classes(method)
    known = {f.name: f for f in fields(config_cls)}
    shared = sorted(set(options) & set(SHARED_WITH_METHOD))
    if shared:
        raise ConfigError(f"method_options: {', '.join(shared)} are TrainConfig fields; set them there")
    not_for = sorted(set(options) - set(known))
    if not_for:
        flags = ", ".join("--" + n.replace("_", "-") for n in not_for)
        raise ConfigError(f"{flags} do(es) not apply to method '{method}'")
    checked = {}
    for name, value in options.items():
        spec = setting_of(known[name])
        checked[name] = spec.check(value) if spec is not None else value
    zeroed = ABLATIONS[ablation]
    if zeroed and not set(zeroed) <= set(known):
        owner = method_registry().ablations()[ablation][0]
        raise ConfigError(f"--ablation {ablation} applies to {owner}, not to method '{method}'")
    conflicts = sorted(k for k, v in zeroed.items() if k in checked and checked[k] != v)
    if conflicts:
        given = ", ".join(f"--{k} {checked[k]}" for k in conflicts)
        raise ConfigError(f"--ablation {ablation} sets {' and '.join(sorted(zeroed))} to 0; it conflicts with {given}")
    config_cls.check_options(checked, ablation, method)
    return checked


# --- the environment: backbone limits ---------------------------------------------------


@lru_cache(maxsize=64)
def backbone_max_length(name: str) -> int | None:
    """The backbone's position limit when its config.json is at hand (alias, local folder or the hub cache)."""
    try:
        from infoprompt.backbones import ALIASES

        path = ALIASES[name]() if name in ALIASES else name
    except Exception:  # an alias whose package is missing fails later with its own message
        return None
    config = Path(str(path)).expanduser() / "config.json"
    if not config.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(str(path), "config.json")
        except Exception:  # not a hub id: nothing to read cheaply
            return None
        if not isinstance(cached, str):
            return None
        config = Path(cached)
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    limit = data.get("max_position_embeddings") or data.get("n_positions")
    return int(limit) if isinstance(limit, int) and limit > 0 else None


# --- the schema as options -------------------------------------------------------------------------


def train_config_from_settings(values: dict[str, Any], **extra: Any) -> TrainConfig:
    """A TrainConfig from flat settings (a parsed command line, a sweep run): TrainConfig's own fields,
    the rest as method options; checked by the schema."""
    own = {k: v for k, v in values.items() if k in TrainConfig.__dataclass_fields__}
    options = {k: v for k, v in values.items() if k not in own}
    unknown = sorted(set(options) - set(method_settings()))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    return TrainConfig(**own, method_options=options, **extra)


def train_settings() -> dict[str, Setting]:
    """TrainConfig's options by field name, then the method options (the sweep schema and the CLI)."""
    own = {s.name: s for s in (setting_of(f) for f in fields(TrainConfig)) if s is not None}
    return {**own, **{k: v for k, v in method_settings().items() if k not in own}}


def setting_defaults() -> dict[str, Any]:
    """Each option's default by name (reports name a condition by the flags it sets away from these)."""
    return {name: spec.default for name, spec in train_settings().items()}

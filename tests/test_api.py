"""The API inside a user's own training loop (no infoprompt trainer involved)."""

import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.methods import build_method
from infoprompt.prompting import Template, collate


def test_method_works_in_a_plain_pytorch_loop(tiny_bert):
    task = get_task("sst2")
    method = build_method("infoprompt", tiny_bert, task, {"n_prompts": 2})
    template = Template(tiny_bert.tokenizer, 2)
    batch = collate(template.encode([Example("good", label=1), Example("bad", label=0)]), tiny_bert.tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-2)
    before = method.generator.bias.detach().clone()
    frozen = next(method.backbone.parameters()).detach().clone()
    method.train()
    for _ in range(3):
        out = method(batch)
        loss = sum(out.weights[k] * v for k, v in out.losses.items())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not torch.equal(before, method.generator.bias)
    assert torch.equal(frozen, next(method.backbone.parameters()))


def _headerless(path, n, seed):
    import random

    rng = random.Random(seed)
    good, bad = ["a great movie", "wonderful and fun", "a beautiful film"], ["a terrible film", "boring", "thin plot"]
    rows = [f'{i % 2},"{rng.choice(good if i % 2 else bad)}, {i}"' for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_few_shot_protocol_selects_on_a_dev_draw_and_reports_the_test_split_once(tmp_path, tiny_model_dir):
    """`--select-on few-shot` end to end on headerless files (`--no-header --text-fields 1 --label-field 0`)."""
    import json

    from infoprompt.api import TrainConfig, train
    from infoprompt.backbones import load_backbone

    backbone = load_backbone(str(tiny_model_dir))
    files = {"train_file": _headerless(tmp_path / "train.csv", 32, 0), "dev_file": _headerless(tmp_path / "dev.csv", 6, 1)}
    test_file = tmp_path / "test.csv"
    test_file.write_text("0,a terrible film\n0,boring\n0,thin plot\n1,a great movie\n", encoding="utf-8")
    common = dict(task="custom", header=False, text_fields=["1"], label_field="0", backbone=str(tiny_model_dir),
                  method="prompt", n_prompts=2, epochs=2, batch_size=4, lr=1e-2, max_length=16, progress=False,
                  select_on="few-shot", shots_per_class=4, seed=13)
    result = train(TrainConfig(**common, **files, test_file=str(test_file), output=str(tmp_path / "run")), backbone)
    summary = result.summary
    assert summary["select_on"] == "few-shot" and summary["honest"] is True and summary["train_draw"] == 8
    assert summary["shots_per_class"] == 4 and summary["official_draw"] is False
    assert summary["selection_split"] == ("dev draw: 4 per class from the training pool, disjoint from the training "
                                          "draw, seed 13 (n=8)")
    assert summary["reported"]["split"] == "test (n=4)" and summary["test"] == summary["reported"]["selected"]
    assert summary["reported"]["majority"]["rate"] == 0.75  # of the reported test split, not of the dev draw
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["protocol"]["reported_split"] == "test (n=4)" and record["protocol"]["train_draw"] == 8
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["type"] for r in log if r["type"] in ("eval", "test")] == ["eval", "eval", "test"]  # test: once, at the end

    no_test = train(TrainConfig(**{**common, "epochs": 1}, **files, output=str(tmp_path / "run2")), backbone).summary
    assert no_test["reported"]["split"] == "dev (n=6)" and "test" not in no_test  # the full dev split is reported
    assert no_test["reported"]["majority"]["rate"] == 0.5

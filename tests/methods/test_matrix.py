"""Every method on every backbone family (tiny random BERT, BertForMaskedLM, RobertaForMaskedLM, Llama, T5).

Per cell: two training steps change only trainable tensors (and some of them); the checkpoint holds
exactly the trainable tensors, the method's own buffers and a tuned baseline's frozen slot vectors,
with their values; save -> load gives bit-identical logits; `predict` works on the loaded run; XPrompt's
masker prunes a token of every prompt method. Meaningless cells are a one-line ConfigError saying why.
The cells and their options come from the methods registry (`test_options`, `test_variants`): see matrix_cell.py.
"""

from __future__ import annotations

import pytest
from matrix_cell import build_cell, check_cell, matrix_cells

from infoprompt.errors import ConfigError
from infoprompt.testing import TINY_FAMILIES, tiny_family_backbone

METHODS = matrix_cells()  # cell -> (method, options)
FOLDED = {"residual", "residual-mi"}  # the checkpoint holds the folded prompt P' instead of P and the MLP
MEANINGLESS = {  # (method, family) -> what the one-line error says
    ("bitfit", "llama"): "has none in its layers", ("bitfit", "t5"): "has none in its layers",
    ("prefix", "t5"): "not supported on seq2seq", ("infoprompt-head", "bert"): None,  # head is bert's only predict
    ("late", "llama"): "causal family: label scoring continues", ("late", "t5"): "seq2seq family: T5's first",
}


@pytest.fixture(scope="module")
def backbones(bert_tokenizer, roberta_tokenizer):
    return {key: tiny_family_backbone(key, bert_tokenizer, roberta_tokenizer) for key in TINY_FAMILIES}


def test_the_matrix_covers_every_method():
    assert {"prompt", "residual", "residual-mi", "warp", "idpg", "infoprompt", "infoprompt-head", "adapter", "lora",
            "bitfit", "prefix", "apet", "finetune", "late"} == set(METHODS)
    assert METHODS["residual-mi"] == ("residual", {"residual_bottleneck": 8, "mi_losses": True})


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("name", list(METHODS))
def test_method_on_family(name, family, backbones, tmp_path):
    backbone = backbones[family]
    method_name, options = METHODS[name]
    if (name, family) in MEANINGLESS:
        why = MEANINGLESS[(name, family)]
        if why is None:
            pytest.skip("same cell as infoprompt on this family")
        with pytest.raises(ConfigError, match=why) as caught:
            build_cell(method_name, options, backbone)
        assert "\n" not in str(caught.value)
        return
    check_cell(method_name, options, backbone, tmp_path, folded=name in FOLDED)

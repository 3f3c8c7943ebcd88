"""Tiny random backbones for tests and examples: built offline in well under a second.

They cover the code paths of model families that do not ship offline (RoBERTa's `<mask>`/`</s></s>`
conventions, MLM-headed encoders) without downloading anything.
"""

from __future__ import annotations

import torch

CORPUS = [
    "a great movie with a wonderful cast", "a terrible film , boring and long", "the plot is thin but fun",
    "yes , the first sentence entails the second one", "no , these sentences are not the same",
    "it is equivalent to that statement", "this is positive", "this is negative", "hello world",
    "one two three four five six seven eight nine ten", "the quick brown fox jumps over the lazy dog",
]


def tiny_roberta_tokenizer():
    """A byte-level BPE tokenizer with RoBERTa's specials (<s>, </s>, <pad>, <mask>), trained in memory."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 5, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.post_processor = processors.RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )


def minilm_tokenizer():
    from transformers import AutoTokenizer

    from infoprompt.backbones import minilm_path

    return AutoTokenizer.from_pretrained(minilm_path())


def make_tiny_backbone(kind: str, tokenizer, mlm: bool = True, seed: int = 0, lm_head: bool = False):
    """A tiny random BERT or RoBERTa. `lm_head`: with its masked-LM head (the `mlm` family), else the
    bare encoder (the pooled `encoder` family; `mlm` then only says it was MLM-pretrained)."""
    from transformers import BertConfig, BertForMaskedLM, BertModel, RobertaConfig, RobertaForMaskedLM, RobertaModel

    from infoprompt.backbones import load_backbone

    torch.manual_seed(seed)
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    if kind == "bert":
        config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=256, **common)
        config.architectures = ["BertForMaskedLM"] if mlm or lm_head else ["BertModel"]
        model = BertForMaskedLM(config) if lm_head else BertModel(config)
    else:
        config = RobertaConfig(vocab_size=len(tokenizer), max_position_embeddings=260, pad_token_id=tokenizer.pad_token_id,
                               type_vocab_size=1, **common)
        config.architectures = ["RobertaForMaskedLM"] if mlm or lm_head else ["RobertaModel"]
        model = RobertaForMaskedLM(config) if lm_head else RobertaModel(config)
    return load_backbone(f"tiny-{kind}{'-mlm' if lm_head else ''}", model=model, tokenizer=tokenizer)


def tiny_t5(tokenizer, seed: int = 0):
    """A 2+2-layer random T5 (with LM head) over `tokenizer`: the seq2seq code path without a download."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=2, dropout_rate=0.0, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id)
    return T5ForConditionalGeneration(config).eval()


def tiny_llama(tokenizer, seed: int = 0):
    """A 2-layer random Llama (causal LM head) over `tokenizer`: the decoder-only code path (SmolLM2's family)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


# One tiny backbone per family (and per MLM convention), for the method x family test matrix.
TINY_FAMILIES = ("bert", "bert-mlm", "roberta-mlm", "llama", "t5")


def tiny_family_backbone(key: str, bert_tokenizer, roberta_tokenizer, seed: int = 0):
    """`bert` (pooled encoder), `bert-mlm` / `roberta-mlm` (MLM head), `llama` (causal), `t5` (seq2seq)."""
    from infoprompt.backbones import load_backbone

    if key == "bert":
        return make_tiny_backbone("bert", bert_tokenizer, mlm=False, seed=seed)
    if key in ("bert-mlm", "roberta-mlm"):
        kind = key.split("-")[0]
        return make_tiny_backbone(kind, bert_tokenizer if kind == "bert" else roberta_tokenizer, seed=seed, lm_head=True)
    if key == "llama":
        return load_backbone("tiny-llama", model=tiny_llama(roberta_tokenizer, seed), tokenizer=roberta_tokenizer)
    if key == "t5":
        return load_backbone("tiny-t5", model=tiny_t5(roberta_tokenizer, seed), tokenizer=roberta_tokenizer)
    raise ValueError(f"unknown tiny family '{key}' (choose from {TINY_FAMILIES})")


def load_checkpoint(directory, backbone=None):
    """Rebuild the method from a checkpoint: returns (method, record). Loads the backbone if not given.

    For tests: the rebuild is the run assembly's (`infoprompt.run.assemble_run`), the path that trained it
    and that `infoprompt.api.load` takes; `training.checkpoint` only verifies and copies tensors."""
    from infoprompt.run import assemble_run

    run = assemble_run(checkpoint=directory, backbone=backbone, splits=())
    return run.method, run.record

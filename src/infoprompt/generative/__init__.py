"""Prompt tuning on generative backbones: decoder-only causal LMs and seq2seq (T5 family).

- `backbones`: kind detection and loading (AutoModelForCausalLM / AutoModelForSeq2SeqLM, GGUF files).
- `formats`, `template`: text-to-text formats and the Features they produce.
- `scoring`: the label-likelihood readout, (B, C) logits from each label string's log-likelihood.
- `methods`: `gen-prompt` (Lester) and `gen-warp`, picked by `--method prompt|warp` on these backbones.
- `generation`: greedy decoding mapped back to labels, for evaluation.
Kept import-free here: `infoprompt.backbones` imports `generative.backbones` at load time.
"""

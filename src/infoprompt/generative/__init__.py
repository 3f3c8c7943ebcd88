"""Text-to-text pieces for generative backbones (causal LMs, T5-style seq2seq).

Loading, where Z is read and label likelihoods belong to the backbone families
(`infoprompt.families.causal`, `.seq2seq`); every method runs there. What stays here:
- `formats`, `template`: text-to-text formats and the Features they produce (the families' template);
- `generation`: greedy decoding mapped back to labels, for `evaluate --generate`;
- `scoring`: padding helpers for running a causal LM.
"""

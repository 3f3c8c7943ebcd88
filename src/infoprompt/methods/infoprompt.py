"""InfoPrompt (Wu et al. 2023): IDPG plus two mutual-information losses.

L = L_pred − β·I(P; Z | X) − γ·I(P; θ | X) (+ 0.1·KL), each I replaced by its InfoNCE lower bound.

Readings of the spec built here (each alternative is an option):
- Variational bottleneck on Z: μ = f_μ(Z), log σ = f_σ(Z) clamped to [−2, 10], latent size 32;
  samples are mapped back to R^D by a Linear(r→D). The classifier reads the same bottleneck
  (a sample in training, μ in evaluation).
- Representation loss (β): positive = the prompted sample paired with P̄ (mean of the np prompt
  tokens); K−1 = 31 negatives are samples of N(f_μ(Z'), f_σ(Z')) where Z' is the prompt-free state of
  the same input. Score P̄ᵀ W2 ẑ with trainable W2 (initialised to I/√D).
- Head loss (γ): positive P̄, negatives K−1 = 31 word embeddings drawn (with replacement when the
  text is short) from the input's own text tokens (no special tokens, prompts, mask or padding);
  θ = mean class embedding; score Pᵀ W1 θ with trainable W1 (I/√D). `--head-negatives all` uses
  every context token instead, `--head-bilinear identity` fixes W1 = I/√D.
- KL(N(μ, σ) ‖ N(0, I)) with weight 0.1 on the prompted latent, and on the prompt-free latent when
  β > 0 (it only feeds the representation loss's negatives). It regularises the variational
  classifier, so β = γ = 0 leaves L_pred + KL; `--kl-weight 0` removes it too.
- NCE terms are bounded per example at 2 (`--nce-clamp`); see losses.clamp_loss for why the
  default bound rescales rather than zeroes the gradient.
- Ablations: β = 0 removes the representation term (and the prompt-free KL); γ = 0 removes the
  head term; neither is computed, so they cost nothing.
- With a language-model head (masked-LM, causal and seq2seq families, infoprompt.families): Z is
  read where the LM predicts the label word, and θ comes from the LM head's output rows of the
  verbalizer tokens: with `--predict head` the class head starts from those rows (θ = its mean
  row, trained); with `--predict label` the LM itself predicts (label likelihood) and θ is the mean
  of those pretrained rows, frozen, so the head loss ties the prompt to the pretrained head. The
  bottleneck then serves the representation loss and the KL only.
"""

from __future__ import annotations

from dataclasses import dataclass

from infoprompt.methods.base import MethodOutput, register_method
from infoprompt.methods.idpg import IDPG, IDPGConfig
from infoprompt.methods.mi import MILossConfig, MILosses
from infoprompt.methods.registry import Ablation


@dataclass
class InfoPromptConfig(MILossConfig, IDPGConfig):
    """IDPG's options, then the MI losses' (infoprompt.methods.mi declares them once for every method)."""


# --ablation: the MI losses switched off (also for any method with --mi-losses: they have beta and gamma too)
ABLATIONS = {"no-head": Ablation({"gamma": 0.0}, "γ=0", "gamma=0"), "no-rep": Ablation({"beta": 0.0}, "β=0", "beta=0"),
             "no-mi": Ablation({"gamma": 0.0, "beta": 0.0}, "γ=β=0", "both 0")}


@register_method("infoprompt", InfoPromptConfig, rank=6, display="InfoPrompt", row=9, ablations=ABLATIONS,
                 no_peft="InfoPrompt generates a prompt per input (and trains with its MI losses); peft's prompts are "
                         "fixed vectors", test_variants={"head": {"predict": "head"}})
class InfoPrompt(MILosses, IDPG):
    def __init__(self, config: InfoPromptConfig, backbone, task):
        super().__init__(config, backbone, task)
        self.init_mi_losses(config, backbone.tokenizer)

    def forward(self, batch: dict) -> MethodOutput:
        p_free, z_free = self.prompt_free(batch)
        prompts = self.prompts(batch, p_free)
        return self.mi_output(self.read(batch, prompts), batch, prompts, lambda: z_free)

"""Full fine-tuning, and the base every backbone-tuning baseline shares.

Fair comparison with the prompt methods: a baseline sees exactly WARP's input and output. The
template is WARP's (same layout and np slots); the slots hold the vectors WARP would start from
(vocabulary embeddings drawn with the run's seed), kept frozen, so a baseline's trainable
parameters are only its own delta plus the class-embedding head (`ClassEmbeddingHead`, WARP's)
and the readout is the run's (`infoprompt.readout`). Freezing the slot vectors keeps each
baseline's budget the size the literature reports for it (Adapter, LoRA, BitFit, prefix).

Each baseline tunes its own copy of the backbone, never the `Backbone` it was given: the given model
stays pristine, so one loaded backbone can serve several runs (sweeps, the post-training test-split
reload) and checkpoints keep the pretrained backbone's fingerprint. The copy duplicates only the
weights the method trains (`tuned_existing`): module objects are new, but a weight that stays frozen
is the same tensor in both models. LoRA, adapters and prefixes (which only insert modules) therefore
cost no second copy of the backbone's weights (measured: about 90 MB less peak memory on MiniLM),
BitFit copies only the biases, and full fine-tuning copies everything.

Dropout: like every method, the backbone follows `--backbone-dropout` (default off) under
`.train()`. Devlin et al. (2019) fine-tune with dropout 0.1; pass `--backbone-dropout on` for that.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from infoprompt.delta import mark_trainable
from infoprompt.methods.base import Capability, MethodConfig, register_method
from infoprompt.methods.prompt_tuning import FreePromptMethod


@dataclass
class TunedBackboneConfig(MethodConfig):
    layout: str = "warp"
    seed: int = 0  # draws the frozen slot tokens and the inserted modules' initial weights


class TunedBackboneMethod(FreePromptMethod):
    """WARP's template, frozen slot vectors and head, plus a private backbone copy the subclass tunes."""

    capabilities = Capability.PROMPTS  # the slot vectors are frozen: nothing for XPrompt to prune

    def __init__(self, config: TunedBackboneConfig, backbone, task):
        super().__init__(config, backbone, task)
        self.prompt.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):  # inserted modules' init depends on the seed only
            torch.manual_seed(config.seed)
            self.backbone = self.prepare_backbone(copy_for_tuning(backbone.model, self.tuned_existing()))
        check_shared_weights_frozen(backbone.model, self.backbone)

    @property
    def module_map(self):
        """The backbone family's module names (adapter sites, LoRA targets, biases, norms)."""
        return self.family.module_map(self.backbone)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Trained tensors plus the frozen slot vectors, so a checkpoint never relies on redrawing them."""
        state = super().trainable_state_dict()
        state["prompt"] = self.prompt.detach()
        return state

    def tuned_existing(self) -> str | None:
        """Regex over parameter names: which of the backbone's own weights this method trains (None: none).

        Those are copied; every other weight is shared with the given backbone. The default, copy all,
        is always safe for a subclass that does not say."""
        return ".*"

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        """Unfreeze parameters of, or insert modules into, the (frozen) copy; return the model to run."""
        raise NotImplementedError


def copy_for_tuning(model: nn.Module, tuned: str | None) -> nn.Module:
    """A structural copy of `model` whose parameters matching `tuned` are copies and all others shared."""
    pattern = re.compile(tuned) if tuned else None
    shared = {id(p): p for n, p in model.named_parameters() if pattern is None or not pattern.fullmatch(n)}
    return copy.deepcopy(model, memo=dict(shared))


def check_shared_weights_frozen(original: nn.Module, tuned: nn.Module) -> None:
    """A method must never train a weight it shares with the given backbone (it would change that model)."""
    originals = {id(p) for p in original.parameters()}
    leaked = [n for n, p in tuned.named_parameters() if p.requires_grad and id(p) in originals]
    if leaked:
        raise RuntimeError(f"trains weights shared with the given backbone (declare them in tuned_existing): {leaked[:3]}")


@register_method("finetune", TunedBackboneConfig, rank=8, group="baselines", display="Finetuning", row=1,
                 no_peft="full fine-tuning changes the backbone's own weights; save the model instead of an adapter")
class FineTune(TunedBackboneMethod):
    """Every backbone weight on the readout's path is trained, with the head."""

    # Devlin et al. (2019) search {5e-5, 4e-5, 3e-5, 2e-5}; Mosbach et al. (2021, "On the stability of
    # fine-tuning BERT") recommend 2e-5 with more steps for small data sets.
    default_lr: ClassVar[float] = 2e-5

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        mark_trainable(model, ".*", exclude=self.module_map.off_readout)
        return model

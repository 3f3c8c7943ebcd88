"""The `apet` method: tunable weights of an exact size at chosen or random positions of a frozen backbone.

    infoprompt train --method apet --budget 25728 --apet-ops add,plug,concat --apet-positions random --apet-seed 3

Template, frozen slot vectors, readout and class-embedding head as every backbone-tuning baseline
(`infoprompt.methods.finetune`); the head (C·D + C) is trained as everywhere and is NOT part of the
budget: `apet_params` (== --budget whenever it is nonzero) counts only the inserted or unfrozen
weights, and `trainable_params` (the run summary's usual field) adds the head. Both, and the
placement, are in the run summary (`run_report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from infoprompt.delta.partial import FlatSlice
from infoprompt.errors import ConfigError
from infoprompt.methods.apet.budget import Unit
from infoprompt.methods.apet.insert import insert_apet
from infoprompt.methods.apet.presets import check_preset, preset_parts
from infoprompt.methods.apet.sites import OPS, Sizes
from infoprompt.methods.base import Capability, register_method
from infoprompt.methods.finetune import TunedBackboneConfig, TunedBackboneMethod


@dataclass
class APETConfig(TunedBackboneConfig):
    budget: int = field(
        default=0, metadata={"help": "exact number of tunable parameters inserted (0: every chosen site in full)"})
    apet_ops: str = field(default="add,plug,concat", metadata={
        "help": "comma list of operations: add, param, plug, lowrank, concat, prompt"})
    apet_positions: str = field(default="random", metadata={
        "help": "where units go: random, random:REGEX or REGEX (module or parameter names)"})
    apet_seed: int = field(
        default=0, metadata={"help": "seed of the placement draw (--seed draws initial values and data order)"})
    apet_bottleneck: int = field(
        default=64, metadata={"help": "hidden units of a full PLUG unit (Houlsby et al.'s 64)"})
    apet_rank: int = field(default=8, metadata={"help": "rank of a full low-rank unit (LoRA's r = 8)"})
    apet_tokens: int = field(default=4, metadata={"help": "prefix tokens of a full CONCAT unit"})
    apet_preset: str = field(default="", metadata={
        "help": "prompt, bitfit, lora or adapter: that classic method's positions (overrides ops and positions)"})

    def validate(self) -> None:
        super().validate()
        for name in ("apet_bottleneck", "apet_rank", "apet_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.budget < 0:
            raise ConfigError(f"--budget must be >= 0 (0: every chosen site in full), got {self.budget}")
        if self.apet_preset:
            check_preset(self.apet_preset)
        else:
            bad = [op for op in self.ops() if op not in OPS]
            if bad or not self.ops():
                raise ConfigError(f"--apet-ops: unknown operation(s) {bad} (choose from: {', '.join(OPS)})")

    def ops(self) -> list[str]:
        return [op.strip() for op in self.apet_ops.split(",") if op.strip()]

    def parts(self, names) -> list[tuple[str, str]]:
        """[(op, positions)]: the preset's (in the family's module names `names`), or every op with --apet-positions."""
        if self.apet_preset:
            return preset_parts(self.apet_preset, names)
        return [(op, self.apet_positions) for op in self.ops()]


@register_method("apet", APETConfig, rank=7, display="APET",
                 no_peft="APET's budgeted primitives (partial slices, per-layer prefix lengths) have no peft config",
                 test_options={"budget": 300, "apet_ops": "add,plug"})
class APET(TunedBackboneMethod):
    capabilities = Capability.PROMPTS | Capability.RUN_REPORT
    # The paper uses 3e-4 for BERT; short few-shot runs here take the adapter/BitFit baselines' 1e-3.
    default_lr: ClassVar[float] = 1e-3

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        config = self.config
        sizes = Sizes(config.apet_bottleneck, config.apet_rank, config.apet_tokens, config.n_prompts, self.hidden_size)
        self.units: list[Unit]
        scope = self.family.tuning_scope(model)  # e.g. a masked LM's encoder body, not its LM head
        tuned, self.units = insert_apet(scope, config.parts(self.family.module_map(model)), config.budget,
                                        config.apet_seed, sizes)
        if tuned is not scope:  # CONCAT wrapped the body
            model = self.family.replace_body(model, tuned)
        prompt_units = [u for u in self.units if u.site.op == "prompt"]
        self.prompt_delta = FlatSlice(tuple(self.prompt.shape), prompt_units[0].size) if prompt_units else None
        return model

    def packing_safe(self) -> bool:
        return not any(u.site.op == "concat" for u in self.units)  # CONCAT prefixes attach per row

    def prompts(self, batch: dict) -> torch.Tensor:
        """The template's slot vectors; with a `prompt` unit, its first k entries are trained (an additive delta)."""
        prompt = self.prompt if self.prompt_delta is None else self.prompt + self.prompt_delta.full()
        return self.mask_prompts(prompt.unsqueeze(0).expand(batch["input_ids"].shape[0], -1, -1))

    def apet_parameter_count(self) -> int:
        """Inserted or unfrozen weights: everything trainable except the class-embedding head."""
        return sum(p.numel() for n, p in self.named_parameters() if p.requires_grad and not n.startswith("head."))

    def run_report(self) -> dict:
        """What every run records: the exact budget and where it went."""
        return {
            "apet_params": self.apet_parameter_count(),
            "apet_budget": self.config.budget,
            "apet_units": [{"op": u.site.op, "site": u.site.name, "size": u.size, "capacity": u.site.capacity}
                           for u in self.units],
        }

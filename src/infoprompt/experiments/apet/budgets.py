"""The four classic methods' sizes on a backbone: APET_Prompt/BitFit/LoRA/Adapter budgets (A1)."""

from __future__ import annotations

CLASSICS = ("prompt", "bitfit", "lora", "adapter")


def classic_budgets(backbone_name: str, n_prompts: int = 4) -> dict[str, int]:
    """{classic: parameter count} measured by building each preset with budget 0 (every site in full),
    through the run assembly every `infoprompt train --method apet` run uses."""
    from infoprompt.api import TrainConfig
    from infoprompt.backbones import load_backbone
    from infoprompt.run import assemble_run

    backbone = load_backbone(backbone_name)
    sizes = {}
    for name in CLASSICS:
        cfg = TrainConfig(task="sst2", method="apet", backbone=backbone_name, n_prompts=n_prompts,
                          method_options={"apet_preset": name})
        sizes[name] = assemble_run(cfg, backbone=backbone, splits=()).method.apet_parameter_count()
    return sizes

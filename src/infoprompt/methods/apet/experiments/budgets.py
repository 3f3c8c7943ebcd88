"""The four classic methods' sizes on a backbone: APET_Prompt/BitFit/LoRA/Adapter budgets (A1)."""

from __future__ import annotations

CLASSICS = ("prompt", "bitfit", "lora", "adapter")


def classic_budgets(backbone_name: str, n_prompts: int = 4) -> dict[str, int]:
    """{classic: parameter count} measured by building each preset with budget 0 (every site in full)."""
    from infoprompt.backbones import load_backbone
    from infoprompt.data.tasks import get_task
    from infoprompt.methods import build_method

    backbone = load_backbone(backbone_name)
    sizes = {}
    for name in CLASSICS:
        method = build_method("apet", backbone, get_task("sst2"), {"apet_preset": name, "n_prompts": n_prompts})
        sizes[name] = method.apet_parameter_count()
    return sizes

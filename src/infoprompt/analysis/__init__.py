"""Analyses of trained prompts: CMI of prompts (Fig. 1), loss landscape (Fig. 2), learning curves (Fig. 3).

    from infoprompt.analysis import estimate_prompt_cmi, loss_landscape, learning_curves
    result = estimate_prompt_cmi(["random", "text:this is positive", "runs/warp"], data_dir="../shared/data")
    result.write("figures/cmi")              # cmi.png, cmi.csv, cmi.json
    loss_landscape("sst2", data_dir="../shared/data").write("figures/landscape")
    learning_curves("runs/fig3", "figures/curves", task="sst2")

See docs/analysis.md for the definitions, the estimator and its validation.
"""

from __future__ import annotations

import importlib

# Names are imported on first use: `infoprompt <any command>` imports this package's cli module,
# and that must not pay for importing torch.
_WHERE = {
    "CMIResult": "cmi", "CMISettings": "cmi", "estimate_prompt_cmi": "cmi", "plot_cmi": "cmi",
    "learning_curves": "curves",
    "LandscapeResult": "landscape", "LandscapeSettings": "landscape", "loss_landscape": "landscape",
    "plot_landscape": "landscape",
    "MIBounds": "mi", "gaussian_check": "mi", "gaussian_mi": "mi", "likelihood_bounds": "mi",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"infoprompt.analysis.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'infoprompt.analysis' has no attribute '{name}'")


__all__ = [
    "CMIResult",
    "CMISettings",
    "LandscapeResult",
    "LandscapeSettings",
    "MIBounds",
    "estimate_prompt_cmi",
    "gaussian_check",
    "gaussian_mi",
    "learning_curves",
    "likelihood_bounds",
    "loss_landscape",
    "plot_cmi",
    "plot_landscape",
]

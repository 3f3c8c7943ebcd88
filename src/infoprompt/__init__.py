"""infoprompt: information-rich soft prompts and parameter-efficient modules on frozen language models.

The public API mirrors the command line: :func:`train`, :func:`evaluate`, :func:`predict`, :func:`load`.
"""

from infoprompt.errors import InfoPromptError

__version__ = "0.1.0"

__all__ = ["InfoPromptError", "__version__", "train", "evaluate", "predict", "load", "TrainConfig",
           "estimate_prompt_cmi", "loss_landscape", "learning_curves"]

_ANALYSIS = {"estimate_prompt_cmi", "loss_landscape", "learning_curves"}


def __getattr__(name: str):
    # Lazy so that `import infoprompt` stays cheap (torch/transformers load on first use).
    if name in {"train", "evaluate", "predict", "load", "TrainConfig"}:
        from infoprompt import api

        return getattr(api, name)
    if name in _ANALYSIS:
        from infoprompt import analysis

        return getattr(analysis, name)
    raise AttributeError(name)

"""Prompt methods, one small module each, registered by name."""

from infoprompt.generative import methods as _generative  # noqa: F401  (registers gen-prompt, gen-warp)
from infoprompt.methods import (  # noqa: F401  (registration)
    adapter,
    apet,
    bitfit,
    finetune,
    idpg,
    infoprompt,
    lora,
    prefix,
    prompt_tuning,
    warp,
)
from infoprompt.methods.base import (
    Capability,
    MethodConfig,
    MethodOutput,
    PromptMethod,
    build_method,
    list_methods,
    method_classes,
    register_method,
)

__all__ = [
    "Capability",
    "MethodConfig",
    "MethodOutput",
    "PromptMethod",
    "build_method",
    "list_methods",
    "method_classes",
    "register_method",
]

"""Prompt methods, one small module each, registered by name; every method runs on every backbone family."""

from infoprompt.methods import (  # noqa: F401  (registration)
    adapter,
    apet,
    bitfit,
    finetune,
    idpg,
    infoprompt,
    late,
    lora,
    peft_exact,
    prefix,
    prompt_tuning,
    residual,
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
    method_for_backbone,
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
    "method_for_backbone",
    "register_method",
]

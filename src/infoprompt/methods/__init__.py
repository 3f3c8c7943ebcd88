"""Prompt methods, one small module each, registered by name; every method runs on every backbone family.

The registry and its recipe ("add a method"): `infoprompt.methods.registry`. Importing this package
registers every built-in method.
"""

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
from infoprompt.methods.base import Capability, MethodConfig, MethodOutput, PromptMethod
from infoprompt.methods.registry import (
    METHODS,
    MethodEntry,
    build_method,
    list_methods,
    method_classes,
    register_method,
)

__all__ = [
    "METHODS",
    "Capability",
    "MethodConfig",
    "MethodEntry",
    "MethodOutput",
    "PromptMethod",
    "build_method",
    "list_methods",
    "method_classes",
    "register_method",
]

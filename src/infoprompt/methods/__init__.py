"""Prompt methods, one small module each, registered by name."""

from infoprompt.methods import idpg, infoprompt, prompt_tuning, warp  # noqa: F401  (registration)
from infoprompt.methods.base import (
    MethodConfig,
    MethodOutput,
    PromptMethod,
    build_method,
    list_methods,
    method_classes,
    register_method,
)

__all__ = [
    "MethodConfig",
    "MethodOutput",
    "PromptMethod",
    "build_method",
    "list_methods",
    "method_classes",
    "register_method",
]

"""The training loop (method-agnostic) and atomic safetensors checkpoints."""

from infoprompt.training.checkpoint import load_checkpoint, restore_tensors, save_checkpoint
from infoprompt.training.loop import FitResult, TrainerConfig, fit, predict_logits

__all__ = ["FitResult", "TrainerConfig", "fit", "load_checkpoint", "predict_logits", "restore_tensors",
           "save_checkpoint"]

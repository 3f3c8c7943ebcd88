"""The training loop (method-agnostic) and atomic safetensors checkpoints.

Its parts, each in its own module: `config` (TrainerConfig), `state` (where the loop stands), `steps`
(one optimizer step), `optim` (optimizer and schedule), `distributed` (gradient sync over ranks),
`inference` (scoring), `evaluator` (keep/stop decisions), `keeper` (resume state), `records` (log and
progress), and `loop` (`fit`, the loop itself). Nothing is imported here, so `infoprompt.training.config`
loads without torch.
"""

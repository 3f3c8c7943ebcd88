"""XPrompt (Ma et al. 2022): hierarchical structured pruning of soft prompts, with rewinding.

masker.py (which parameters feed each masked prompt unit; the masker module itself is
`methods/prompt_masks.py`, part of the methods' prompt seam), importance.py (E_x|∂L/∂mask|),
schedule.py (ratio -> tokens and pieces, the iterative path), stage.py (the stage-1 run, its masks and
the path walked over it), rewind.py (stage 3 through `api.train`), pipeline.py (the whole run,
resumable; the stage-1 run is rebuilt by `run.assemble_run`), compare.py (negative vs random masking),
report.py (JSON, Markdown, PNG), cli.py (`infoprompt prune`). See docs/xprompt.md.
"""

from infoprompt.pruning.importance import importance_scores
from infoprompt.pruning.masker import PromptMasker, attach_masker, prompt_parameter_counts, zero_pruned
from infoprompt.pruning.pipeline import PruneReport, PruneSettings, prune
from infoprompt.pruning.schedule import parse_ratios, target_counts

__all__ = ["PromptMasker", "PruneReport", "PruneSettings", "attach_masker", "importance_scores", "parse_ratios",
           "prompt_parameter_counts", "prune", "target_counts", "zero_pruned"]

"""XPrompt (Ma et al. 2022): hierarchical structured pruning of soft prompts, with rewinding.

masker.py (token and piece masks in the methods' prompt seam), importance.py (E_x|∂L/∂mask|),
schedule.py (ratio -> tokens and pieces, the iterative path), rewind.py (stage 3 through
`api.train`), pipeline.py (the whole run, resumable), compare.py (negative vs random masking),
report.py (JSON, Markdown, PNG), cli.py (`infoprompt prune`). See docs/xprompt.md.
"""

from infoprompt.pruning.importance import importance_scores
from infoprompt.pruning.masker import PromptMasker, attach_masker, prompt_parameter_counts, zero_pruned
from infoprompt.pruning.pipeline import PruneReport, PruneSettings, prune
from infoprompt.pruning.schedule import parse_ratios, target_counts

__all__ = ["PromptMasker", "PruneReport", "PruneSettings", "attach_masker", "importance_scores", "parse_ratios",
           "prompt_parameter_counts", "prune", "target_counts", "zero_pruned"]

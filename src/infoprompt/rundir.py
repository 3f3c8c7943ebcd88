"""Every file name of a run directory, in one place (a leaf: it imports nothing of the package).

A run directory is what `infoprompt train --output RUN_DIR` writes, plus what the sweep adds around
it. Training, resume, report, sweep, export and analysis all name these files through the constants
below, so a renamed file is one edit (the HF Trainer keeps its run-directory names in one block of
constants for the same reason).
"""

from __future__ import annotations

# written by training (the checkpoint keeper, the loop's log, the plot)
CONFIG = "config.json"  # the checkpoint's sealed record; written last in a save
TENSORS = "model.safetensors"  # the checkpoint's trainable tensors
METRICS_LOG = "metrics.jsonl"  # one JSON record per step, evaluation, selection and test score
LEARNING_CURVE = "learning_curve.png"
RESUME_DIR = "resume"  # the resumable training state (optimizer, RNG, loop position)
STATE_JSON = "state.json"  # inside RESUME_DIR, the sealed resume record
STATE_TENSORS = "state.safetensors"  # inside RESUME_DIR
RUN_LOCK = ".infoprompt.lock"  # one writer per run directory

# written by the sweep around a training run
SPEC = "run.json"  # the run's flags
RESULT = "result.json"  # the run's summary, written when it finished
SWEEP_LOCK = ".lock"
ATTEMPTS = "attempts.jsonl"
TRAIN_LOG = "train.log"

# files whose presence makes a directory a run directory (refused as a fresh output without --overwrite)
RUN_MARKERS = (CONFIG, TENSORS, f"{RESUME_DIR}/{STATE_JSON}", METRICS_LOG)
# what a fresh training run writes (removed by --overwrite)
RUN_FILES = (CONFIG, TENSORS, METRICS_LOG, LEARNING_CURVE, f"{RESUME_DIR}/{STATE_JSON}")

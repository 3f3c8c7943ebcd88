#!/usr/bin/env bash
# Issue 17 on one GPU (~280 s): stage 1 picks InfoPrompt's defaults on held-out SST-2 TRAINING rows, then the honest
# study runs with them; records (no checkpoints) and report land in RESULTS. Rerun the same command to resume.
# Usage: bash scripts/gpu_study.sh DATA_DIR [BUDGET_S=280] [RESULTS=docs/results/honest_fewshot_minilm]
set -euo pipefail; DATA=$(realpath "$1"); BUDGET=${2:-280}; OUT=${3:-docs/results/honest_fewshot_minilm}; END=$((SECONDS + BUDGET))
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"; IP="python3 -m infoprompt.cli"; STUDY=configs/sweeps/honest_fewshot_minilm.yaml
python3 scripts/holdout_dev.py "$DATA" runs/tuning_data
INFOPROMPT_DATA=runs/tuning_data timeout $(((BUDGET - 30) / 2)) $IP sweep configs/sweeps/infoprompt_defaults_minilm.yaml --workers 12 --quiet || { echo "stage 1 unfinished: rerun to resume"; exit 1; }
python3 scripts/keep_records.py runs/infoprompt_defaults_minilm "$OUT/defaults_records" && python3 scripts/choose_infoprompt_defaults.py "$OUT/defaults_records" --out "$OUT/chosen_defaults.json" --write-sweep $STUDY && cp $STUDY "$OUT/"
INFOPROMPT_DATA="$DATA" timeout $((END - SECONDS > 40 ? END - SECONDS - 20 : 20)) $IP sweep $STUDY --workers 12 --quiet || echo "stage 2 unfinished: rerun to resume (the report counts finished runs only)"
python3 scripts/keep_records.py runs/honest_fewshot_minilm "$OUT/records"
$IP report "$OUT/records" --out "$OUT/report" --quiet $(python3 scripts/choose_infoprompt_defaults.py --compare-args "$OUT/chosen_defaults.json")

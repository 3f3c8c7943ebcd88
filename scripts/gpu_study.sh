#!/usr/bin/env bash
# Issue 17 on one GPU (~7 min on an H200, 12 workers): InfoPrompt's defaults chosen on held-out SST-2 TRAINING rows (rounds 1 and 2, with a prompt-tuning reference), then the honest study; records and report land in RESULTS. Rerun to resume.
# Usage: bash scripts/gpu_study.sh DATA_DIR [BUDGET_S=600] [RESULTS=docs/results/honest_fewshot_minilm]
set -euo pipefail; DATA=$(realpath "$1"); BUDGET=${2:-600}; OUT=${3:-docs/results/honest_fewshot_minilm}; END=$((SECONDS + BUDGET)); S=configs/sweeps
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"; IP="python3 -m infoprompt.cli"; STUDY=$S/honest_fewshot_minilm.yaml; CH="python3 scripts/choose_infoprompt_defaults.py"
python3 scripts/holdout_dev.py "$DATA" runs/tuning_data; left() { echo $((END - SECONDS > 40 ? END - SECONDS - 20 : 20)); }
for f in infoprompt_defaults_minilm prompt_reference_tuning_minilm infoprompt_defaults_minilm_round2; do INFOPROMPT_DATA=runs/tuning_data timeout "$(left)" $IP sweep $S/$f.yaml --workers 12 --quiet || { echo "$f unfinished: rerun to resume"; exit 1; }; done
for r in "" _round2; do python3 scripts/keep_records.py runs/infoprompt_defaults_minilm$r "$OUT/defaults_records$r"; done; python3 scripts/keep_records.py runs/prompt_reference_tuning_minilm "$OUT/prompt_reference_records"
$CH "$OUT/defaults_records" --reference "$OUT/prompt_reference_records" --out "$OUT/chosen_defaults.json" && $CH "$OUT/defaults_records_round2" --reference "$OUT/prompt_reference_records" --out "$OUT/chosen_defaults_round2.json" --write-sweep $STUDY
INFOPROMPT_DATA="$DATA" timeout "$(left)" $IP sweep $STUDY --workers 12 --quiet || echo "study unfinished: rerun to resume (the report counts finished runs only)"
python3 scripts/keep_records.py runs/honest_fewshot_minilm "$OUT/records"
$IP report "$OUT/records" --out "$OUT/report" --quiet $($CH --compare-args "$OUT/chosen_defaults.json")

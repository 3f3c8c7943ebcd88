#!/usr/bin/env bash
# APET on all-MiniLM-L6-v2 (CPU scale-down; see docs/apet.md): A2 budget sweep (+ full fine-tuning
# reference), E zero-shot transfer (reuses A2's 65,536-parameter runs), A1 random placements.
# Resumable: rerun the same command after an interruption; finished runs are skipped.
#   bash scripts/apet_minilm.sh [a2|transfer|a1 ...]     (default: all three, in that order)
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
DATA=${INFOPROMPT_DATA:-../shared/data}
# --packing off: the committed results were trained on padded batches (before packing became the default)
COMMON=(--backbone minilm --tasks sst2,rte,mrpc --shots 256 --epochs 2 --seed 0 --data-dir "$DATA" --packing off
        --out docs/results/apet_minilm --runs-dir runs/apet_minilm)
for experiment in "${@:-a2 transfer a1}"; do
  for e in $experiment; do
    case "$e" in
      a2) infoprompt apet a2 "${COMMON[@]}" --budgets 16,64,256,1024,4096,16384,65536,262144 --tolerance 1 ;;
      transfer) infoprompt apet transfer "${COMMON[@]}" --budget 65536 ;;
      a1) infoprompt apet a1 "${COMMON[@]}" --placements 3 ;;
      *) echo "unknown experiment '$e' (a2, transfer, a1)" >&2; exit 2 ;;
    esac
  done
done

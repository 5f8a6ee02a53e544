#!/usr/bin/env bash
# The warehouse study's learning runs on one lent GPU in one call (study.py: the plan in priority
# order, as many runs as the budget allows, two at a time); the run folders without their
# checkpoints come back as OUTDIR/study-runs.tgz.
#
#   experiments/reports/warehouse/gpu_study.sh OUTDIR [study.py options]
#
# STUDY_DEADLINE_S (default 560): the whole script, install and packing included.
# The work folder (STUDY_WORK, default /tmp/acjax-study) stays on a warm machine, so a second call
# continues the study. STUDY_SCRIPT (default this folder's study.py): the study's plan to run
# (experiments/reports/warehouse2/gpu_study.sh sets both).
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="${1:?usage: gpu_study.sh OUTDIR [options]}"; shift
mkdir -p "$OUT"
T0=$(date +%s)
source benchmarks/gpu_setup.sh
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
WORK="${STUDY_WORK:-/tmp/acjax-study}"
SCRIPT="${STUDY_SCRIPT:-experiments/reports/warehouse/study.py}"
BUDGET=$(( ${STUDY_DEADLINE_S:-560} - ($(date +%s) - T0) - 25 ))
echo "[gpu_study] budget ${BUDGET}s"
"$PY" "$SCRIPT" --out "$WORK" --budget-s "$BUDGET" "$@" \
  2>&1 | tee -a "$OUT/study-driver.log"
RC=${PIPESTATUS[0]}
tar -czf "$OUT/study-runs.tgz" -C "$WORK" --exclude=checkpoints --exclude=tensorboard .
echo "[gpu_study] exit $RC after $(( $(date +%s) - T0 )) s"; ls -l "$OUT"
exit "$RC"

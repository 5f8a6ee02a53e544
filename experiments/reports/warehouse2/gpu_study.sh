#!/usr/bin/env bash
# The second round's learning runs on one lent GPU in one call: the first round's gpu_study.sh
# on this folder's study.py at the authors' official budget (40M env steps, 3 seeds, the presets'
# own 16 environments), tiny-12ag-hard and small-8ag-hard of the authors' presets first, four
# runs at a time, as far as STUDY_DEADLINE_S (default 560 s, everything included) allows. The run
# folders without their checkpoints come back as OUTDIR/study-runs.tgz (runs/, study.log, logs),
# ready for data/<machine>-<date>.tgz; a second call on a warm machine continues the study.
#
#   experiments/reports/warehouse2/gpu_study.sh "$OUT" [study.py options, e.g. --only NAME,...]
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUTDIR="${1:?usage: gpu_study.sh OUTDIR [options]}"; shift
export STUDY_SCRIPT=experiments/reports/warehouse2/study.py
export STUDY_WORK="${STUDY_WORK:-/tmp/acjax-study2}"
exec "$HERE/../warehouse/gpu_study.sh" "$OUTDIR" --gpu --steps 40000000 --seeds 3 --envs 0 \
  --workers 4 "$@"

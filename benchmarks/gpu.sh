#!/usr/bin/env bash
# One prepared GPU run of the most telling measurements; ends within 8 minutes on one H100/H200.
#
#   benchmarks/gpu.sh OUTDIR
#
# Installs jumanji/brax/distrax (and whatever else is there) from carried wheels in .whl/ when
# acjax is not importable yet, then runs `throughput.py --mode gpu`, which writes its JSON into
# OUTDIR after every measurement and skips what its budget cannot fit. A hard `timeout` backs the
# budget up: whatever is killed, the JSON written so far stays.
# Environment: BENCH_DEADLINE_S (default 480: the whole script, install included),
# ACJAX_BENCH_TINY=1 (shrink every size: tests the script's logic on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: benchmarks/gpu.sh OUTDIR}"
mkdir -p "$OUT"
T0=$(date +%s)
DEADLINE="${BENCH_DEADLINE_S:-480}"
source benchmarks/gpu_setup.sh

ELAPSED=$(( $(date +%s) - T0 ))
HARD=$(( DEADLINE - ELAPSED - 10 ))      # kill point, 10 s before the deadline
BUDGET=$(( HARD - 35 ))                  # the suite's own budget: stop starting new work
if [ "$BUDGET" -lt 30 ]; then echo "[gpu.sh] no time left after install"; exit 1; fi
echo "[gpu.sh] budget ${BUDGET}s (hard stop ${HARD}s)"
timeout -k 5 "$HARD" "$PY" benchmarks/throughput.py --mode gpu --out "$OUT" --budget "$BUDGET" \
  2>&1 | tee "$OUT/gpu-bench.log"
RC=${PIPESTATUS[0]}
echo "[gpu.sh] exit $RC after $(( $(date +%s) - T0 )) s; results:"
ls -l "$OUT"
exit "$RC"

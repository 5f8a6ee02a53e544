#!/usr/bin/env bash
# One prepared GPU run of the most telling measurements; ends within 8 minutes on one H100/H200.
#
#   benchmarks/gpu.sh OUTDIR
#
# Installs jumanji/brax/distrax (and whatever else is there) from carried wheels in .whl/ when
# acjax is not importable yet, then runs `throughput.py --mode gpu`, which writes its JSON into
# OUTDIR after every measurement and skips what its budget cannot fit. A hard `timeout` backs the
# budget up: whatever is killed, the JSON written so far stays.
# Then `profile_update.py` at 4096 envs (12 and 4 agents) within PROFILE_S seconds (default 120).
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
PROFILE_S="${PROFILE_S:-120}"             # the update's profile after the suite (0: none)
HARD=$(( DEADLINE - ELAPSED - 10 - PROFILE_S ))  # the suite's kill point
BUDGET=$(( HARD - 35 ))                  # the suite's own budget: stop starting new work
if [ "$BUDGET" -lt 30 ]; then echo "[gpu.sh] no time left after install"; exit 1; fi
echo "[gpu.sh] budget ${BUDGET}s (hard stop ${HARD}s)"
timeout -k 5 "$HARD" "$PY" benchmarks/throughput.py --mode gpu --out "$OUT" --budget "$BUDGET" \
  2>&1 | tee "$OUT/gpu-bench.log"
RC=${PIPESTATUS[0]}
if [ "$PROFILE_S" -gt 0 ]; then  # one MAPPO and one ACPO update piece by piece (issue 13's profile)
  ENVS=4096; [ "${ACJAX_BENCH_TINY:-0}" = 1 ] && ENVS=8
  timeout -k 5 "$PROFILE_S" "$PY" benchmarks/profile_update.py --envs "$ENVS" --agents 12 4 \
    --reps 3 --algos mappo acpo --pieces update rollout acting critic ppo \
    --out "$OUT/profile.md" 2>&1 | tee "$OUT/profile.log"
fi
echo "[gpu.sh] exit $RC after $(( $(date +%s) - T0 )) s; results:"
ls -l "$OUT"
exit "$RC"

#!/usr/bin/env bash
# One prepared GPU run of the most telling measurements; ends within 13 minutes on one H100/H200
# (8 without the scale curves: SCALE_S=0 BENCH_DEADLINE_S=480).
#
#   benchmarks/gpu.sh OUTDIR
#
# Installs jumanji/brax/distrax (and whatever else is there) from carried wheels in .whl/ when
# acjax is not importable yet, then runs `throughput.py --mode gpu`, which writes its JSON into
# OUTDIR after every measurement and skips what its budget cannot fit. A hard `timeout` backs the
# budget up: whatever is killed, the JSON written so far stays.
# Then `profile_update.py` at 4096 envs (12 and 4 agents) within PROFILE_S seconds (default 120),
# then the scale curves (`--mode scale-envs` to the GPU's memory limit, `--mode scale-agents`;
# MAPPO and ACPO, a process per point, peak device memory from jax's memory_stats) within SCALE_S
# seconds (default 300; 0: none): OUTDIR/<gpu>-<date>-scale-{envs,agents}.{json,md,png}.
# Environment: BENCH_DEADLINE_S (default 780: the whole script, install included),
# ACJAX_BENCH_TINY=1 (shrink every size: tests the script's logic on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: benchmarks/gpu.sh OUTDIR}"
mkdir -p "$OUT"
T0=$(date +%s)
DEADLINE="${BENCH_DEADLINE_S:-780}"
source benchmarks/gpu_setup.sh

ELAPSED=$(( $(date +%s) - T0 ))
PROFILE_S="${PROFILE_S:-120}"             # the update's profile after the suite (0: none)
SCALE_S="${SCALE_S:-300}"                 # the scale curves after the profile (0: none)
HARD=$(( DEADLINE - ELAPSED - 10 - PROFILE_S - SCALE_S ))  # the suite's kill point
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
if [ "$SCALE_S" -gt 0 ]; then  # steps/s and peak memory against envs (to the memory limit), agents
  SE=(1024 4096 16384 65536 262144 1048576); SA=(2 4 8 12 20); AT=16384
  [ "${ACJAX_BENCH_TINY:-0}" = 1 ] && SE=(8 16) && SA=(2 4) && AT=8
  S_ENVS=$(( SCALE_S * 3 / 5 ))
  timeout -k 5 "$S_ENVS" "$PY" benchmarks/throughput.py --mode scale-envs --out "$OUT" \
    --budget $(( S_ENVS - 15 )) --envs "${SE[@]}" 2>&1 | tee "$OUT/scale-envs.log"
  timeout -k 5 $(( SCALE_S - S_ENVS )) "$PY" benchmarks/throughput.py --mode scale-agents \
    --out "$OUT" --budget $(( SCALE_S - S_ENVS - 15 )) --agents "${SA[@]}" --at-envs "$AT" \
    2>&1 | tee "$OUT/scale-agents.log"
fi
echo "[gpu.sh] exit $RC after $(( $(date +%s) - T0 )) s; results:"
ls -l "$OUT"
exit "$RC"

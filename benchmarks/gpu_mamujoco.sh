#!/usr/bin/env bash
# Multi-agent MuJoCo on one GPU, one prepared run (about 8 minutes):
#   1. MAPPO and ACPO on mamujoco-halfcheetah-2x3 and mamujoco-ant-4x2, 10M env steps x 4
#      vmapped seeds each (the experiments/mamujoco configs with 1600 envs per seed, rollouts of
#      25 and 10 minibatches, i.e. HARL's 4,000 env steps per minibatch), all four at once
#      beside brax's own single-agent PPO on halfcheetah (the anchor, 2 seeds, 10M steps), all on brax's BACKEND (positional);
#      each run is stopped by SIGTERM at LEARN seconds and still writes its metrics;
#   2. raw stepping per brax backend and MAPPO/ACPO training steps/s (throughput.py --mode
#      mamujoco) in what is left of DEADLINE.
#   benchmarks/gpu_mamujoco.sh OUTDIR [LEARN=330] [DEADLINE=520]
# The recorded run (benchmarks/results/mamujoco/gpu/) was, on the lent H200, with the files packed
# because at most 8 come back: bash benchmarks/gpu_mamujoco.sh $OUT/mj 240 300 > $OUT/run.log
# 2>&1; tar czf $OUT/mj.tgz -C $OUT mj
# EXTRA="key=value ..." appends overrides to the learning runs; BRAX_PPO="flags" replaces the
# anchor's (both used to test this script on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: benchmarks/gpu_mamujoco.sh OUTDIR [LEARN] [DEADLINE]}"
LEARN="${2:-330}"
DEADLINE="${3:-520}"
T0=$(date +%s)
mkdir -p "$OUT"
source benchmarks/gpu_setup.sh
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.15   # five programs share the GPU
export MUJOCO_GL=disable                     # nothing is rendered here
for task in halfcheetah-2x3 ant-4x2; do
  for algo in mappo acpo; do
    timeout -s TERM -k 40 "$LEARN" "$PY" -m acjax.cli train \
      --config "experiments/mamujoco/$task-$algo.yaml" num_seeds=4 num_envs=1600 \
      ppo.rollout_len=25 ppo.num_minibatches=10 updates_per_call=5 checkpoint_interval_s=1e9 \
      progress=false mamujoco.backend="${BACKEND:-positional}" run_dir="$OUT/$task-$algo" ${EXTRA:-} > "$OUT/$task-$algo.log" 2>&1 &
  done
done
timeout -s TERM -k 20 "$LEARN" "$PY" benchmarks/brax_ppo.py --env halfcheetah --seeds 2 \
  --backend "${BACKEND:-positional}" ${BRAX_PPO:---timesteps 10000000 --num-envs 2048} --out "$OUT/brax_ppo.json" \
  > "$OUT/brax_ppo.log" 2>&1 &
wait
for f in "$OUT"/*.log; do echo "== $f"; tail -n 3 "$f"; done
unset XLA_PYTHON_CLIENT_MEM_FRACTION
LEFT=$(( DEADLINE - ($(date +%s) - T0) - 15 ))
if [ "$LEFT" -gt 60 ]; then
  timeout -k 5 "$LEFT" "$PY" benchmarks/throughput.py --mode mamujoco --out "$OUT" \
    --budget $(( LEFT - 30 )) ${BENCH_FLAGS:-} > "$OUT/bench.log" 2>&1
  grep "\[bench\]" "$OUT/bench.log" | tail -n 12
fi
rm -rf "$OUT"/*/checkpoints "$OUT"/*/metrics.csv
echo "[gpu_mamujoco] done after $(( $(date +%s) - T0 )) s"
ls -l "$OUT"

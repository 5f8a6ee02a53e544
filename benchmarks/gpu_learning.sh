#!/usr/bin/env bash
# Learning comparison on a GPU: ACPO vs MAPPO on the warehouse at 10M env steps per seed.
#   benchmarks/gpu_learning.sh OUTDIR [SECONDS]
# Each run is stopped by SIGTERM if it would pass its share of SECONDS (default 240); a stopped
# run still checkpoints and writes its metrics and summary ("status": "interrupted").
# EXTRA="key=value ..." appends overrides (used to test this script on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: benchmarks/gpu_learning.sh OUTDIR [SECONDS]}"
TOTAL="${2:-240}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
EACH=$(( TOTAL / 2 ))
for algo in mappo acpo; do
  timeout -s TERM -k 20 "$EACH" "$PY" -m acjax.cli train \
    --config experiments/jumanji-rware/tiny-4ag-$algo.yaml \
    num_seeds=4 total_timesteps=10000000 num_envs=256 ppo.num_minibatches=4 \
    updates_per_call=10 checkpoint_interval_s=1e9 progress=false run_dir="$OUT/tiny-4ag-$algo" ${EXTRA:-} \
    2>&1 | tail -n 3
done
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "experiments")
from compare import plot
out = Path(sys.argv[1])
runs = {p.name: p for p in sorted(out.glob("tiny-4ag-*")) if (p / "summary.json").exists()}
summ = {k: json.loads((p / "summary.json").read_text()) for k, p in runs.items()}
(out / "compare.json").write_text(json.dumps(summ, indent=2))
if runs:
    plot(runs, out / "compare.png", "jumanji-rware-tiny-4ag (GPU)")
for k, s in summ.items():
    print(k, s["status"], s["env_steps"], s["final_returns"], round(s["steps_per_second"] or 0))
PY
rm -rf "$OUT"/*/checkpoints

#!/usr/bin/env bash
# Learning runs on a GPU at 10M env steps per seed, 4 vmapped seeds per config.
#   benchmarks/gpu_learning.sh OUTDIR [SECONDS] [CONFIG ...]
# Default configs: ACPO and MAPPO on jumanji-rware-tiny-4ag. Each run is stopped by SIGTERM if it
# would pass its share of SECONDS (default 240); a stopped run still checkpoints and writes its
# metrics and summary ("status": "interrupted"). OUTDIR/compare.json and compare.png sum up.
# EXTRA="key=value ..." appends overrides (used to test this script on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: benchmarks/gpu_learning.sh OUTDIR [SECONDS] [CONFIG ...]}"
TOTAL="${2:-240}"
shift $(( $# < 2 ? $# : 2 ))
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(experiments/jumanji-rware/tiny-4ag-mappo.yaml
                                     experiments/jumanji-rware/tiny-4ag-acpo.yaml)
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
EACH=$(( TOTAL / ${#CONFIGS[@]} ))
for cfg in "${CONFIGS[@]}"; do
  name="$(basename "$(dirname "$cfg")")-$(basename "$cfg" .yaml)"
  timeout -s TERM -k 20 "$EACH" "$PY" -m acjax.cli train --config "$cfg" \
    num_seeds=4 total_timesteps=10000000 num_envs=256 ppo.num_minibatches=4 \
    updates_per_call=10 checkpoint_interval_s=1e9 progress=false run_dir="$OUT/$name" ${EXTRA:-} \
    2>&1 | tail -n 2
done
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "experiments")
from compare import plot
out = Path(sys.argv[1])
runs = {p.name: p for p in sorted(out.iterdir()) if (p / "summary.json").exists()}
summ = {k: json.loads((p / "summary.json").read_text()) for k, p in runs.items()}
(out / "compare.json").write_text(json.dumps(summ, indent=2))
for env in sorted({s["env"] for s in summ.values()}):
    mine = {k: runs[k] for k, s in summ.items() if s["env"] == env}
    plot(mine, out / f"{env}.png", f"{env} (GPU, 4 seeds)")
for k, s in summ.items():
    print(k, s["status"], s["env_steps"], s["final_return_mean"], round(s["steps_per_second"] or 0))
PY
rm -rf "$OUT"/*/checkpoints "$OUT"/*/metrics.csv

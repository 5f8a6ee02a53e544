# Sourced by the GPU scripts (OUT set, run from the project root): picks the Python (PY), makes
# acjax importable, installing the carried wheels in .whl/ into /tmp/site where jumanji, brax or
# distrax are missing (the lent GPU machine), and records the GPU in $OUT/nvidia-smi.txt.
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && ! command -v nvidia-smi >/dev/null && PY=.venv/bin/python
if ! "$PY" -c "import acjax, jumanji, brax, distrax" 2>/dev/null; then
  if [ -d .whl ]; then
    echo "[gpu] installing carried wheels into /tmp/site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
  else
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv,noheader | tee "$OUT/nvidia-smi.txt"

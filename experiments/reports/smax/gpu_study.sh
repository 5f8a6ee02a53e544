#!/usr/bin/env bash
# The SMAX study's learning runs on one lent GPU in one call: the warehouse study's gpu_study.sh
# on this folder's study.py at the issue's GPU budget (10M env steps, 4 seeds, the presets' own
# environments), smacv2_5_units first, four runs at a time, as far as STUDY_DEADLINE_S (default
# 560 s, everything included) allows; a second call on a warm machine continues the study. The
# run folders without their checkpoints come back as OUTDIR/study-runs.tgz, ready for
# data/<machine>-<date>.tgz.
#
# The GPU machine lacks jaxmarl and its own dependencies as well as the wheels that
# ../shared/hooks/gpu-wheels.sh fetches; add them (the versions of the project's environment) to
# the carried .whl/ first (not tried on a GPU yet: no GPU has been lent to the study):
#   python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux2014_x86_64 -d .whl jaxmarl==0.2.0 gymnax==1.0.1 jaxtyping==0.3.11 \
#     wadler-lindig==0.1.8 safetensors==0.8.0 seaborn
#
#   experiments/reports/smax/gpu_study.sh "$OUT" [study.py options, e.g. --only NAME,...]
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUTDIR="${1:?usage: gpu_study.sh OUTDIR [options]}"; shift
export STUDY_SCRIPT=experiments/reports/smax/study.py
export STUDY_WORK="${STUDY_WORK:-/tmp/acjax-smax-study}"
exec "$HERE/../warehouse/gpu_study.sh" "$OUTDIR" --steps 10000000 --seeds 4 --envs 0 \
  --workers 4 "$@"

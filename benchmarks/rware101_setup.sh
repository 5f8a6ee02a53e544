#!/usr/bin/env bash
# Puts rware 1.0.1 (the version ACPO's authors ran) and gym 0.21 into folder $1, apart from the
# project's venv (which keeps rware 2.0.0), for tests/test_rware101.py:
#   bash benchmarks/rware101_setup.sh /tmp/rware101
#   PYTHONPATH=/tmp/rware101:src .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_rware101.py
# gym 0.21's metadata does not build with today's setuptools or install with today's pip, so its
# wheel is built in a throwaway venv with an old setuptools and unpacked into the folder.
set -euo pipefail
dest=${1:?usage: rware101_setup.sh FOLDER}
py=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip install -q --target "$dest" --no-deps rware==1.0.1
"$py" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "setuptools==57.5.0" "wheel==0.37.1"
"$tmp/venv/bin/pip" wheel -q --no-build-isolation --no-deps gym==0.21.0 -w "$tmp/wheels"
"$py" -m zipfile -e "$tmp"/wheels/gym-0.21.0-*.whl "$dest"
PYTHONPATH="$dest" "$py" -c "import gym, rware.warehouse, importlib.metadata as m; \
print('rware', m.version('rware'), 'gym', gym.__version__, 'in', '$dest')"

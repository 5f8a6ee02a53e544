# acjax: `make train` trains the embedded default config; `make test` runs the tests.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTHON  ?= python3
CONFIG  ?=
ARGS    ?=
BENCH   ?= full
# BENCH_ARGS: more arguments of throughput.py (make bench BENCH=scale-envs BENCH_ARGS="--envs 16 64")
BENCH_ARGS ?=
# GPU=1: jax with CUDA 12 (the `cuda12` extra) for an NVIDIA GPU
GPU     ?=
comma   := ,
EXTRAS  := dev$(if $(GPU),$(comma)cuda12)
STAMP   := $(VENV)/.installed$(if $(GPU),-gpu)

.PHONY: install train sweep plot reproduce report-warehouse report-warehouse2 report-smax readme test test-slow bench bench-offpolicy bench-external lint clean

$(STAMP): pyproject.toml
	@echo "installing acjax and its dependencies ($(EXTRAS)) into $(VENV): once, a few minutes ..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@
	@echo "installed; the command line is $(VENV)/bin/acjax"

install: $(STAMP)

train: install
	$(VENV)/bin/acjax train $(if $(CONFIG),--config $(CONFIG)) $(ARGS)

# Seeds run as one vmapped program: make sweep CONFIG=... SEEDS=8
SEEDS ?= 8
sweep: install
	$(VENV)/bin/acjax train $(if $(CONFIG),--config $(CONFIG)) num_seeds=$(SEEDS) $(ARGS)

# Curves and statistics of run folders: make plot RUNS="runs/a runs/b" [OUT=plots]
RUNS ?= runs/*
OUT  ?= plots
plot: install
	$(VENV)/bin/acjax plot $(RUNS) --out $(OUT)

# Every algorithm on every task of a task set, and a report: make reproduce TASKSET=warehouse
# BUDGET=2000000 SEEDS=4 [ARGS="num_envs=32"] [OUT=folder] (report in OUT, default
# reports/<taskset>; OUT counts only when given on the command line: plot's default is plots)
TASKSET ?= warehouse
BUDGET  ?= 2000000
reproduce: install
	$(PY) -m acjax.reproduce --taskset $(TASKSET) --budget $(BUDGET) --seeds $(SEEDS) \
		$(if $(filter command line,$(origin OUT)),--out $(OUT)) $(ARGS)

# the warehouse study's report from its committed data (experiments/reports/warehouse/)
report-warehouse: install
	$(PY) experiments/reports/warehouse/report.py

# the warehouse study's second round from its committed data (experiments/reports/warehouse2/)
report-warehouse2: install
	$(PY) experiments/reports/warehouse2/report.py

# the SMAX study's report from its committed data (experiments/reports/smax/)
report-smax: install
	$(PY) experiments/reports/smax/report.py

# the README's figures from the committed result files (benchmarks/readme.py)
readme: install
	$(PY) benchmarks/readme.py

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

test-slow: install
	$(PY) -m pytest -q -m slow -n 2 --dist loadfile

bench: install
	$(PY) benchmarks/throughput.py --mode $(BENCH) $(BENCH_ARGS)

# AC-TD3, HATD3 and MADDPG against each other and PPO-based ACPO (multi-agent MuJoCo)
bench-offpolicy: install
	$(PY) benchmarks/offpolicy.py

# the host-callback adapter against direct Python stepping (rware, mpe2)
bench-external: install
	$(PY) benchmarks/external.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf runs .pytest_cache .ruff_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

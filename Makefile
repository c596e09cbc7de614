# Common tasks.  Every target that needs Python creates the virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast contracts bench bench-full clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job: a local devnet on http://127.0.0.1:8545 with its data in
# ./.wasmchain (resumed on restart).  Extra flags: make run ARGS="--fresh".
run: $(STAMP)
	$(BIN)/wasmchain devnet $(ARGS)

# Every test; test-fast leaves out the ones marked slow (over 10 s each) and stays under 3 minutes.
test: $(STAMP)
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

contracts:
	./contracts/build.sh

# Benchmarks (bench/README.md); each prints a table and, last, one JSON line.
# `make bench` runs the quick version of each (about 3 minutes in all);
# `make bench-full` the full ones (about 10 minutes; state_scale writes a
# million-account genesis).  Extra flags for one: make bench TPS_ARGS="--repeat 5".
BENCH_QUICK ?= --quick
bench: $(STAMP)
	$(BIN)/python bench/transfer_tps.py $(BENCH_QUICK) $(TPS_ARGS)
	$(BIN)/python bench/state_scale.py $(BENCH_QUICK) $(SCALE_ARGS)
	$(BIN)/python bench/cold_start.py $(BENCH_QUICK) $(COLD_ARGS)
	$(BIN)/python bench/replay.py $(BENCH_QUICK) $(REPLAY_ARGS)
	$(BIN)/python bench/rpc.py $(BENCH_QUICK) $(RPC_ARGS)

bench-full: $(STAMP)
	$(MAKE) bench BENCH_QUICK=

clean:
	rm -rf $(VENV) .wasmchain-runner .pytest_cache .hypothesis build *.egg-info

# Common tasks.  Every target that needs Python creates the virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast contracts bench clean

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

test: $(STAMP)
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

contracts:
	./contracts/build.sh

# Benchmarks; each prints a table and, last, one JSON line.  bench/rpc.py starts
# devnets of its own (extra flags: make bench RPC_ARGS="--threads 6"); bench/replay.py
# produces, exports and replays chains in a temporary directory
# (make bench REPLAY_ARGS="--transactions 50000").
bench: $(STAMP)
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/rpc.py $(RPC_ARGS)
	$(BIN)/python bench/replay.py $(REPLAY_ARGS)

clean:
	rm -rf $(VENV) .wasmchain-runner .pytest_cache .hypothesis build *.egg-info

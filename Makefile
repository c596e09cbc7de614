# Common tasks.  Every target that needs Python creates the virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast contracts bench bench-full clean

SETUP_LOG := $(VENV)/setup.log

# The first run sets up quietly: a line before and after, the installer's
# output kept in $(SETUP_LOG), and if a step fails, its last lines and where the rest is.
$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): a virtualenv with wasmchain installed (about a minute, once; log: $(SETUP_LOG))"
	@mkdir -p $(VENV)
	@{ $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[test]'; } \
		> $(SETUP_LOG) 2>&1 || { \
		echo "error: setting up $(VENV) failed; the end of $(SETUP_LOG), which has the whole output:" >&2; \
		tail -n 8 $(SETUP_LOG) >&2; exit 1; }
	@touch $(STAMP)
	@echo "Set up: $(VENV) is ready."

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
	$(BIN)/python bench/abi.py $(BENCH_QUICK) $(ABI_ARGS)
	$(BIN)/python bench/replay.py $(BENCH_QUICK) $(REPLAY_ARGS)
	$(BIN)/python bench/rpc.py $(BENCH_QUICK) $(RPC_ARGS)

bench-full: $(STAMP)
	$(MAKE) bench BENCH_QUICK=

clean:
	rm -rf $(VENV) .wasmchain-runner .pytest_cache .hypothesis build *.egg-info

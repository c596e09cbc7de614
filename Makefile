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

# The main job until the devnet exists: the standalone runner on the
# example counter, with its storage kept in .wasmchain-runner/counter.json.
run: $(STAMP)
	$(BIN)/wasmchain vm run contracts/counter/counter.wasm --method increment --state .wasmchain-runner/counter.json
	$(BIN)/wasmchain vm run contracts/counter/counter.wasm --method get --state .wasmchain-runner/counter.json --json

test: $(STAMP)
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

contracts:
	./contracts/build.sh

bench: $(STAMP)
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) .wasmchain-runner .pytest_cache .hypothesis build *.egg-info

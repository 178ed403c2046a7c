# The whole set-up on a fresh machine: `make run` (the daemon on the embedded sim) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/gateway.yaml

.PHONY: run test bench check-config clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/gateway run --config $(CONFIG)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.fanout
	$(BIN)/python -m bench.orders

check-config: $(VENV)/.installed
	$(BIN)/gateway check-config $(CONFIG)

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis

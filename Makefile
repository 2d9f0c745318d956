# plotboss — `make test` sets up .venv and passes the tests; `make demo` sets up and runs the demo.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo proto bench clean

$(STAMP): pyproject.toml
	@bash scripts/ensure-system-deps.sh
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check plotboss plotter_agent farmer_agent cli testbed sim tests bench scripts
	$(BIN)/ruff format --check plotboss plotter_agent farmer_agent cli testbed sim tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

proto: $(STAMP)
	$(BIN)/python scripts/protogen.py .

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

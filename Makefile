# tallyclerk: `make demo` runs the sample month-end close, `make test` runs the tests
# (on DuckDB and on Spark in local mode: the venv gets the spark extra).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint format clean screenshot

$(BIN)/tallyclerk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	@touch $@

demo: $(BIN)/tallyclerk
	$(BIN)/tallyclerk demo examples/harborline

test: $(BIN)/tallyclerk
	$(BIN)/pytest

lint: $(BIN)/tallyclerk
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(BIN)/tallyclerk
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The README's picture: three closes of the sample tenant's November (a seed each, as if the
# data changed between them), then the newest executive report in headless Chromium.
SHOT_DIR := build/screenshot
screenshot: $(BIN)/tallyclerk
	rm -rf $(SHOT_DIR)
	for seed in 5 6 7; do \
	    $(BIN)/tallyclerk demo $(SHOT_DIR) --seed $$seed --generate-only && \
	    $(BIN)/tallyclerk run $(SHOT_DIR) --period 2026-11 || exit 1; \
	done
	$(BIN)/python -m tests.reports.browser $(SHOT_DIR)/.tallyclerk/runs/2026-11.003/executive.html docs/executive-report.png

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache examples/harborline/.tallyclerk

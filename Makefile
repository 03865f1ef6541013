# tallyclerk: `make demo` runs the sample month-end close, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint format clean

$(BIN)/tallyclerk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache examples/harborline/.tallyclerk

# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv and install the project into it when missing or outdated.
# The interpreter: Python 3.12 or 3.13, found on PATH or under pyenv (.ci/find-python).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.perfgate-installed

.PHONY: demo test lint format bench contracts clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || { py=$$(sh .ci/find-python) && $$py -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/perfgate demo

test: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports --no-cache && $(BIN)/mypy && $(BIN)/python -m pytest -n 2 -q

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The contract tests against the newest published marin-zephyr / marin-iris (needs the index).
contracts: $(STAMP)
	$(BIN)/python benchmarks/contracts.py

clean:
	rm -rf $(VENV) runs

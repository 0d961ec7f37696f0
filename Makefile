# Every target bootstraps itself: a fresh clone needs nothing but Python 3.11+.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The exact versions, with their hashes, of the package's dependencies and its dev tools
# (pip, setuptools and pip-tools included): what every target and CI install. `make upgrade`
# writes it from pyproject.toml's ranges.
LOCK := requirements/dev.lock
# pytest's results, read by .ci/summary.py for the closing lines (count, skipped tests).
JUNIT := .junit.xml
DEMO_DIR := .demo

.PHONY: help test lint typecheck pytest fuzz lock upgrade demo bench soak clean

help:
	@echo "make test    - lint, type-check and run the test suite with coverage"
	@echo "make demo    - a real import of examples/ against the local sandbox"
	@echo "make lint    - ruff"
	@echo "make fuzz    - the property tests, 20x longer, on new random examples"
	@echo "make lock    - pin what pyproject.toml added into $(LOCK), the rest kept"
	@echo "make upgrade - take the newest releases pyproject.toml allows into $(LOCK)"
	@echo "make bench   - benchmarks (figures as ratios against in-run baselines)"
	@echo "make soak    - long chaos soak"

# The lock first (pip-tools among it), then pip-sync removes whatever the lock no longer
# lists, then the package itself, built with the locked setuptools (no build isolation: an
# isolated build would fetch whatever setuptools is newest that day).
$(STAMP): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing $(LOCK) into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK) > $(VENV)/install.log 2>&1 \
		&& $(BIN)/pip-sync --quiet $(LOCK) >> $(VENV)/install.log 2>&1 \
		&& $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . \
			>> $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check bulk_import tests examples
	$(BIN)/ruff format --check bulk_import tests examples

typecheck: $(STAMP)
	$(BIN)/mypy

# HYPOTHESIS_PROFILE=ci (tests/conftest.py): the same examples on every machine and every run.
pytest: $(STAMP)
	@rm -f $(JUNIT)
	$(BIN)/coverage erase
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -m "not soak" -n 2 --junitxml=$(JUNIT) \
		--cov=bulk_import --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95

test: lint typecheck pytest

# Hunting, not gating: random examples, FUZZ_FACTOR (default 20) times each test's own count,
# failures kept in .hypothesis/ and replayed first next time. `make fuzz FUZZ_FACTOR=50`.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -m "hypothesis and not soak" -n 2 -p no:cacheprovider \
		--timeout 3600

COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev \
	--all-build-deps --strip-extras --no-emit-index-url --no-emit-find-links \
	--output-file $(LOCK) pyproject.toml

# After a change to pyproject.toml's requirements (a merge among them): the pins it still
# allows are kept, what it adds or no longer allows is resolved anew.
lock: $(STAMP)
	$(COMPILE)

# To take new releases on purpose (a fix, a feature): then `make test`, and commit the lock.
upgrade: $(STAMP)
	$(COMPILE) --upgrade

demo: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/run.py

soak: $(STAMP)
	$(BIN)/pytest -m soak -p no:cacheprovider --timeout 1800

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* $(JUNIT)

# Transfer Atlas — every entry point goes through the project's own environment.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: env study test test-fast lint format bench clean-results dryrun system-deps bench-report
.PHONY: slurm-start slurm-stop restore-mtimes bench-dryrun

env: $(STAMP)

# The lock is the Linux environment's: on macOS, CUDA's Linux-only wheels (nvidia-*, cuda-*,
# triton) are left out; the rest resolves for macOS 14+ on Apple silicon (docs/macos.md).
ifeq ($(shell uname -s),Darwin)
LOCK := $(VENV)/requirements-macos.txt
else
LOCK := requirements.lock
endif

# Idempotent: rebuilt only when the lock file or pyproject changes.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(if $(filter-out requirements.lock,$(LOCK)),grep -vE '^(nvidia-|cuda-|triton==)' requirements.lock > $(LOCK))
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -r $(LOCK)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $(STAMP)

study: env
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml

dryrun: env
	$(BIN)/snakemake -n --quiet rules --configfile config/config.yaml

# Tests run in parallel worker processes (pytest-xdist; TEST_WORKERS=0: all in this one).
# Much of a test's time is spent waiting on subprocesses, so there are more workers than
# cores. --dist loadgroup (as tests/conftest.py defines it) keeps the tests of a module
# that shares one study run on one worker; runs shared across modules (tiny_study,
# default_study) are made once per session under a file lock. docs/testing.md.
# test-fast has no subprocess waits to fill: one worker per core (each collects the suite).
TEST_WORKERS ?= 3
FAST_WORKERS ?= 2

test: env
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The unit tests alone (tests/unit, no workflow runs): under a minute.
test-fast: env
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q tests/unit -m "not slow" -n $(FAST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: env
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/ruff format --check src scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile config/config.yaml

format: env
	$(BIN)/ruff format src scripts tests benchmarks
	$(BIN)/ruff check --fix src scripts tests benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules

bench: env
	$(BIN)/python benchmarks/run.py

# Size and load time of the report for a synthetic study of 20k runs (needs chromium).
bench-report: env
	$(BIN)/python benchmarks/report_scale.py

# Debian packages the tests need (headless Chromium for the report test); needs root or sudo.
system-deps:
	bash ci/install-system-deps.sh

clean-results:
	rm -rf results logs

# After a crash, a kill or a power loss: drop Snakemake's stale lock, then rerun; only
# missing and incomplete outputs are recomputed. Never while another run is active here.
CONFIG ?= config/config.yaml
.PHONY: resume check-config
resume: env
	$(BIN)/snakemake --unlock --configfile $(CONFIG)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete --configfile $(CONFIG)

# Validate a config (YAML line numbers, duplicate keys, schema, cross-checks); runs nothing.
check-config: env
	$(BIN)/python scripts/check_config.py $(CONFIG)

# --- Cluster and sharing (docs/slurm.md, docs/sharing.md) ---

# A real single-node SLURM cluster on this machine (root); stop removes it again.
slurm-start:
	ci/start-slurm.sh
slurm-stop:
	ci/stop-slurm.sh

# After `dvc pull`: outputs get modification times in DAG order (DVC keeps none).
restore-mtimes: env
	$(BIN)/python scripts/restore_mtimes.py --configfile $(CONFIG)

# snakemake -n on 1k/5k/20k-job grids next to a plain expand() workflow.
bench-dryrun: env
	$(BIN)/python benchmarks/dryrun_scaling.py

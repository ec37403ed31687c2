# parsl-quantum: set-up, demo, tests, benchmarks.
# `make demo` and `make test` each create .venv when it is missing and install what they need.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.parsl-quantum-installed
SYSDEPS_STAMP := $(VENV)/.sysdeps-installed
# Debian packages the MPI motif needs (mpi4py builds against OpenMPI).
SYSDEPS := openmpi-bin libopenmpi-dev
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

.PHONY: demo test bench lint sysdeps venv clean

$(SYSDEPS_STAMP):
	@mkdir -p $(VENV)
	@if command -v mpicc >/dev/null 2>&1 && command -v mpiexec >/dev/null 2>&1; then \
	  echo "OpenMPI present"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing $(SYSDEPS) from Debian"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSDEPS) >/dev/null \
	  || { $(SUDO) apt-get update -q >/dev/null && \
	       $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSDEPS) >/dev/null; }; \
	else \
	  echo "WARNING: no apt-get; install OpenMPI yourself for the 'distributed' motif"; \
	fi
	@touch $@

sysdeps: $(SYSDEPS_STAMP)

$(STAMP): setup.cfg pyproject.toml $(SYSDEPS_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,report,bench]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/parsl-quantum demo

test: $(STAMP)
	$(PY) -m pytest && $(MAKE) parsl-suite

# Parsl's own test suite with a QuantumPilotExecutor labelled htex_local, compared with Parsl's htex_local
# (tests/parsl_suite/compare.py). Parsl's conftest needs pytest<8, so the suite has its own venv with the
# Parsl of $(VENV), this project (editable) and what Parsl's tests import (parsl[monitoring], pandas).
PARSL_VENV  := .venv-parsl
PARSL_STAMP := $(PARSL_VENV)/.parsl-suite-installed

.PHONY: parsl-venv parsl-suite

$(PARSL_STAMP): $(STAMP)
	@test -x $(PARSL_VENV)/bin/python || $(PYTHON) -m venv $(PARSL_VENV)
	$(PARSL_VENV)/bin/python -m pip install -q -e . "pytest>=7.4,<8" pytest-timeout pytest-random-order pandas \
	  "parsl[monitoring]==$$($(PY) -c 'import importlib.metadata as m; print(m.version("parsl"))')"
	@touch $@

parsl-venv: $(PARSL_STAMP)

parsl-suite: $(PARSL_STAMP)
	$(PARSL_VENV)/bin/python tests/parsl_suite/compare.py --reference

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

lint: $(STAMP)
	$(VENV)/bin/ruff check parsl_quantum tests benchmarks
	$(VENV)/bin/ruff format --check parsl_quantum tests benchmarks

clean:
	rm -rf $(VENV) $(PARSL_VENV) runinfo .pytest_cache

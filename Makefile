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
	$(PY) -m pip install -q -e '.[test,bench]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/parsl-quantum demo

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

lint: $(STAMP)
	$(VENV)/bin/ruff check parsl_quantum tests benchmarks
	$(VENV)/bin/ruff format --check parsl_quantum tests benchmarks

clean:
	rm -rf $(VENV) runinfo .pytest_cache

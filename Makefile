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

.PHONY: demo test test-unit test-integration bench lint sysdeps venv clean gpu-check

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

# Two tiers: the unit tier (pure logic, no DataFlowKernel, no subprocess; well under a minute) first, then
# the integration tier (real Parsl, real workers, real Slurm), then Parsl's own suite.
test: test-unit test-integration
	$(MAKE) parsl-suite

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

# Most integration tests wait on processes (pilots starting, workers, Slurm), so they run two at a time; the
# ones that assert a wall-clock bound (marked ``timing``) run alone afterwards. The parallel phase starts
# hundreds of pilots that live seconds: their pools prepare a standby only on idle CPU
# (PARSL_QUANTUM_STANDBY=idle, docs/faults.md); the timing phase and the soak benchmark use the default.
test-integration: $(STAMP)
	PARSL_QUANTUM_STANDBY=idle $(PY) -m pytest --ignore=tests/unit -m "not timing" -n 2 --dist loadgroup
	$(PY) -m pytest --ignore=tests/unit -m timing

# On a machine with an NVIDIA GPU: the GPU tests (lightning.gpu, Aer GPU, a GPU pilot through the executor,
# the distributed state vector where lightning.gpu's MPI build is present) and a short GPU benchmark
# (lightning.gpu against lightning.qubit, benchmarks/results/gpu.json). Without a usable GPU the tests skip
# saying why and the benchmark exits 2.
gpu-check: $(STAMP)
	$(PY) -m pip install -q -e '.[gpu]'
	$(PY) -m pytest tests/test_gpu.py -m gpu -rs
	$(PY) -m benchmarks.bench_gpu

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

# Documentation (docs/): Sphinx with numpydoc and myst-nb. Every {code-cell} example runs at each build,
# so a page cannot show code that fails; any warning fails the build. HTML in docs/_build/html/.
DOCS_STAMP := $(VENV)/.parsl-quantum-docs-installed

.PHONY: docs wheel-check

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	@touch $@

docs: $(DOCS_STAMP)
	@start=$$(date +%s); \
	$(VENV)/bin/sphinx-build -W --keep-going -E -q -b html docs docs/_build/html && \
	echo "docs built in $$(( $$(date +%s) - start )) s: docs/_build/html/index.html"

# A wheel that installs: build the wheel and the sdist, check that every file of the package is in the
# wheel, install the wheel into a fresh venv outside the source tree (pip's cache is reused) and run the
# README's first workflow there, from a directory outside the source tree.
DIST_STAMP := $(VENV)/.parsl-quantum-dist-installed

$(DIST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dist]'
	@touch $@

define WHEEL_FILES_PY
import pathlib, sys, zipfile
wheels = sorted(pathlib.Path("dist").glob("parsl_quantum-*.whl"))
sdists = sorted(pathlib.Path("dist").glob("parsl_quantum-*.tar.gz"))
if len(wheels) != 1 or len(sdists) != 1:
    sys.exit(f"expected one wheel and one sdist in dist/, found {wheels + sdists}")
inside = set(zipfile.ZipFile(wheels[0]).namelist())
package = [p.as_posix() for p in pathlib.Path("parsl_quantum").rglob("*")
           if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
missing = sorted(set(package) - inside)
if missing:
    sys.exit(f"{wheels[0].name} lacks files of the package (add them to package_data): {missing}")
print(f"{wheels[0].name}: all {len(package)} files of parsl_quantum/; {sdists[0].name}")
endef
export WHEEL_FILES_PY

define FIRST_WORKFLOW_PY
import re, sys
text = open("README.md").read()
block = re.search(r"^## A first workflow\n.*?^```python\n(.*?)^```", text, re.S | re.M)
if block is None:
    sys.exit("README.md has no Python block under '## A first workflow'")
open(sys.argv[1], "w").write(block.group(1))
endef
export FIRST_WORKFLOW_PY

wheel-check: $(DIST_STAMP)
	@start=$$(date +%s); set -e; \
	rm -rf dist; \
	$(PY) -m build -q --outdir dist .; \
	$(PY) -c "$$WHEEL_FILES_PY"; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q dist/parsl_quantum-*.whl; \
	$(PY) -c "$$FIRST_WORKFLOW_PY" "$$tmp/first.py"; \
	cd "$$tmp"; \
	env -u PYTHONPATH "$$tmp/venv/bin/python" -c \
	  'import parsl_quantum, sys; p = parsl_quantum.__file__; sys.exit(0 if p.startswith(sys.prefix) else "parsl_quantum imported from " + p)'; \
	env -u PYTHONPATH "$$tmp/venv/bin/parsl-quantum" --help >/dev/null; \
	env -u PYTHONPATH "$$tmp/venv/bin/python" first.py; \
	echo "wheel-check passed in $$(( $$(date +%s) - start )) s"

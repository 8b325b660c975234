# Two entry points do everything on a fresh clone:
#   make repro   create .venv, install, run the whole DVC pipeline on the default data
#   make test    create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PIP_INSTALL := python -m pip install --quiet --disable-pip-version-check --no-compile
# The exact versions every package was tested with, one file per Python minor version (pip's
# wheels differ per version): `make lock` writes the one for $(PYTHON). Where none matches the
# environment's Python, pip takes the newest versions pyproject.toml's ranges allow.
LOCKS := $(wildcard constraints-py*.txt)
MINOR_VERSION := -c 'import sys; print("%d.%d" % sys.version_info[:2])'
# Shell: the environment's lock as pip's arguments ("$$@"), none where there is no lock.
LOCK_ARGS = lock=constraints-py$$($(VENV)/bin/python $(MINOR_VERSION)).txt; \
	if [ -f "$$lock" ]; then set -- -c "$$lock"; else set --; \
	  echo "no $$lock: installing the newest versions pyproject.toml allows"; fi

.PHONY: repro test venv bench-venv lock plots-template clean-venv

repro: $(STAMP)
	$(VENV)/bin/dvc repro

# Two workers, one per core: much of the suite runs on one core (pip, git, DVC's start-up),
# so two test files at a time use both (8.1 min -> 2m35s-5m22s of pytest in clean-clone CI
# on a 2-core machine); --dist loadfile keeps each module's shared fixtures on one worker.
# Starting the slow full-pipeline file first instead of xdist's order made it slower (6.5 min
# against 5.1-5.4 on 2026-12-01): its training then shares the two cores with the other
# DVC-heavy files.
test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile

venv: $(STAMP)

$(STAMP): pyproject.toml $(LOCKS)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(LOCK_ARGS); $(VENV)/bin/$(PIP_INSTALL) "$$@" -e '.[test]'
	@# pip compiles the ~8,700 installed modules to bytecode on one core; compileall -j 0 uses
	@# every core: `make venv` took 81-85 s against 84-106 s (medians 81 and 95 s; three
	@# alternating rounds on 2 cores, 2026-12-01). Like pip, a module that fails to compile does
	@# not fail the install: Python compiles it on import.
	$(VENV)/bin/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $(STAMP)

# torch==2.13.0 (the CPU build) and scikit-learn, for benchmarks/, at the lock's versions where
# the lock covers the bench extra (see `lock`).
bench-venv: $(VENV)/.installed-bench

$(VENV)/.installed-bench: $(STAMP)
	$(LOCK_ARGS); [ ! -f "$$lock" ] || grep -q '^# extras:.*bench' "$$lock" || \
	  echo "$$lock does not pin the bench extra: pip picks its packages within" \
	    "pyproject.toml's ranges"; \
	$(VENV)/bin/$(PIP_INSTALL) "$$@" -e '.[test,bench]'
	touch $@

# Resolves pyproject.toml's ranges afresh in a throwaway environment and pins what pip picked,
# for the package with EXTRAS. With FOLLOW (a lock file), pip resolves under FOLLOW's pins:
# a lock for another Python with the versions of the committed run, e.g.
#   make lock PYTHON=python3.12 FOLLOW=constraints-py3.11.txt EXTRAS=test
# Local version labels (torch's +cpu) are dropped: `==2.13.0` accepts the CPU build on disk or
# from PyTorch's own index as well as PyPI's. pip itself is not pinned.
EXTRAS ?= test,bench
lock:
	set -e; env=$$(mktemp -d); trap 'rm -rf "$$env"' EXIT; \
	$(PYTHON) -m venv "$$env"; \
	"$$env"/bin/$(PIP_INSTALL) $(if $(FOLLOW),-c '$(FOLLOW)') -e '.[$(EXTRAS)]'; \
	version=$$("$$env"/bin/python $(MINOR_VERSION)); \
	"$$env"/bin/python -m pip freeze --all --exclude mnist-mlp --exclude pip > "$$env/frozen"; \
	{ echo "# Python $$version: the versions \`make lock\` resolved from pyproject.toml's ranges."; \
	  echo "# extras: $(EXTRAS)"; \
	  $(if $(FOLLOW),echo "# under the pins of: $(FOLLOW)";) \
	  echo "# \`make venv\` and \`make bench-venv\` install them with pip's -c."; \
	  sed 's/+[A-Za-z0-9.]*$$//' "$$env/frozen"; \
	} > constraints-py$$version.txt.tmp; \
	if cmp -s constraints-py$$version.txt.tmp constraints-py$$version.txt; then \
	  rm constraints-py$$version.txt.tmp; echo "constraints-py$$version.txt is up to date"; \
	else mv constraints-py$$version.txt.tmp constraints-py$$version.txt; \
	  echo "wrote constraints-py$$version.txt"; fi

# The page template `dvc plots show` and `dvc plots diff` fill (.dvc/config's
# plots.html_template), with Vega inline so that their pages draw offline: rewrite it when
# vl-convert-python moves (tests/test_workflows.py fails until it is).
plots-template: $(STAMP)
	$(VENV)/bin/python -c 'from mnist_mlp.compare import write_dvc_plots_template as w; print("wrote", w())'

clean-venv:
	rm -rf $(VENV)

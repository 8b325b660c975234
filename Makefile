# Two entry points do everything on a fresh clone:
#   make repro   create .venv, install, run the whole DVC pipeline on the default data
#   make test    create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: repro test venv clean-venv

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

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'
	@# pip compiles the ~8,700 installed modules to bytecode on one core; compileall -j 0 uses
	@# every core: `make venv` took 81-85 s against 84-106 s (medians 81 and 95 s; three
	@# alternating rounds on 2 cores, 2026-12-01). Like pip, a module that fails to compile does
	@# not fail the install: Python compiles it on import.
	$(VENV)/bin/python -m compileall -q -j 0 $(VENV)/lib || true
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
# Each test host gets its own virtualenv (an Airflow worker and a KFP image never share one):
#   .venv  core + ml/s3/gcs/postgres/server extras + dev tools  (core suite, demo, benchmarks)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy
CORE_EXTRAS := dev,s3,gcs,postgres,server
comma := ,

.PHONY: demo test test-core lint venv constraints bench clean

$(UV):
	$(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

# (Re)create the core venv when it is missing or the pins changed.
$(VENV)/.installed: pyproject.toml constraints/core.txt | $(UV)
	@test -x $(VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet -c constraints/core.txt -e ".[$(CORE_EXTRAS)]"
	@touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/python examples/demo_pipeline.py

lint: venv
	$(VENV)/bin/ruff check lineage_core tests bench examples
	$(VENV)/bin/mypy

test-core: venv
	$(VENV)/bin/python -m pytest tests -q -p no:cacheprovider

test: lint test-core

# Regenerate the pinned test constraints (commit the result).
constraints: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml \
	  $(foreach e,$(subst $(comma), ,$(CORE_EXTRAS)),--extra $(e)) -o constraints/core.txt

bench: venv
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) .lineage-demo .pytest_cache .mypy_cache .ruff_cache

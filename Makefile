# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
# Each test host gets its own virtualenv (an Airflow worker and a KFP image never share one; their
# kubernetes pins conflict), each pinned by constraints/<host>.txt:
#   .venv          core + ml/s3/gcs/postgres/server extras + dev tools  (core suite, demo, benchmarks)
#   .venv-airflow  core + airflow extra + dev tools                      (an Airflow worker)
#   .venv-kfp      core + kfp extra + dev tools                          (a KFP component image)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy
CORE_EXTRAS := dev,s3,gcs,postgres,server,llm,plot
comma := ,

.PHONY: demo test test-core test-fast test-airflow test-kfp lint venv host-venvs services services-k8s constraints bench clean

$(UV):
	$(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

# (Re)create a venv when it is missing or its pins changed: $(call host_venv,DIR,CONSTRAINTS,EXTRAS)
define host_venv
	@test -x $(1)/bin/python || $(UV) venv --quiet --seed --python $(PYTHON) $(1)
	VIRTUAL_ENV=$(1) $(UV) pip install --quiet -c $(2) -e ".[$(3)]"
	@touch $(1)/.installed
endef

$(VENV)/.installed: pyproject.toml constraints/core.txt | $(UV)
	$(call host_venv,$(VENV),constraints/core.txt,$(CORE_EXTRAS))

.venv-airflow/.installed: pyproject.toml constraints/airflow.txt | $(UV)
	$(call host_venv,.venv-airflow,constraints/airflow.txt,airflow$(comma)dev)

.venv-kfp/.installed: pyproject.toml constraints/kfp.txt | $(UV)
	$(call host_venv,.venv-kfp,constraints/kfp.txt,kfp$(comma)dev)

venv: $(VENV)/.installed
host-venvs: .venv-airflow/.installed .venv-kfp/.installed

demo: venv
	$(VENV)/bin/python examples/demo_pipeline.py

# mypy --strict over the core in .venv, and over each adapter in its host's venv (the orchestrator's own types);
# --follow-imports=silent: the core's errors are reported once, by the first run.
lint: venv .venv-airflow/.installed .venv-kfp/.installed
	$(VENV)/bin/ruff check lineage_core providers kfp_components dags tests bench examples
	$(VENV)/bin/mypy
	MYPYPATH=providers .venv-airflow/bin/mypy --strict --follow-imports=silent -p lineage_airflow
	MYPYPATH=kfp_components .venv-kfp/bin/mypy --strict --follow-imports=silent -p lineage_kfp -p kfp_components.pipelines

# PostgreSQL, the GCS emulator, a real Marquez 0.51.1 built once per machine (~8 min cold, then cached) and its
# web UI with Debian's Chromium (the UI tests).
services:
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-fake-gcs.sh
	bash scripts/ensure-marquez.sh
	bash scripts/ensure-browser.sh

# The Airflow suite's Kubernetes control plane (tests/services/k8s.py starts it once per pytest session): unpack
# its prebuilt binaries into ~/.cache once, so the session's start is the plane's own ~10 s.
K8S_DIR ?= ../shared/k8s
services-k8s:
	bash $(K8S_DIR)/control-plane.sh unpack >/dev/null

# Each suite runs in the venv of the host it stands for: the core in .venv, Airflow in .venv-airflow. Each prints
# its slowest tests, so every CI log shows where the suite's time goes (the budget is ~25 minutes on 2 cores).
test-core: venv host-venvs services
	LINEAGE_TEST_HOST_VENVS=.venv-airflow:.venv-kfp $(VENV)/bin/python -m pytest tests -q -p no:cacheprovider \
	  --ignore=tests/airflow --ignore=tests/kfp --durations=25

# The inner loop: the core suite without the tests marked slow (worker processes, a server per test, the
# host venvs, large blobs). `make test` still runs everything.
test-fast: venv services
	$(VENV)/bin/python -m pytest tests -q -p no:cacheprovider --ignore=tests/airflow --ignore=tests/kfp -m "not slow"

# The cross-orchestrator test runs the KFP twin of a DAG in .venv-kfp against the DAG's store.
test-airflow: .venv-airflow/.installed .venv-kfp/.installed services-k8s
	LINEAGE_K8S_DIR=$(abspath $(K8S_DIR)) .venv-airflow/bin/python -m pytest tests/airflow -q -p no:cacheprovider --durations=15

# kfp.local runs each task as `python -m pip install kfp==<installed> --no-deps` first: pip must be in the
# venv (venvs are seeded); with the exact version installed that is a no-op, offline. The lineage server the
# tasks use as their store runs from .venv, as it runs from its own image: a component image has no server.
test-kfp: .venv-kfp/.installed $(VENV)/.installed
	.venv-kfp/bin/python -m pytest tests/kfp -q -p no:cacheprovider --durations=15

test: lint test-core test-airflow test-kfp

# Regenerate the pinned test constraints (commit the result).
constraints: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml \
	  $(foreach e,$(subst $(comma), ,$(CORE_EXTRAS)),--extra $(e)) -o constraints/core.txt
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra airflow --extra dev -o constraints/airflow.txt
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra kfp --extra dev -o constraints/kfp.txt

# bench/llm_cache.py runs in .bench/venv-llm (the core's LLM pins + langchain-community for SQLiteCache): built here.
bench: venv | $(UV)
	UV=$(UV) bash bench/setup_peers.sh llm
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-airflow .venv-kfp .lineage-demo .pytest_cache .mypy_cache .ruff_cache

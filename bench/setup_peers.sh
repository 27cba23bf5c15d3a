#!/usr/bin/env bash
# Build one venv per peer under .bench/ (not used by tests). Versions as measured in docs/benchmarks.md.
# Usage: bash bench/setup_peers.sh [PEER...]   (default: every peer; `make bench` builds `llm`)
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_COMPILE_BYTECODE=1
UV=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}
mkdir -p .bench
wanted=("$@")
make_venv() {  # name, requirement...
  local name=$1; shift
  if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then return 0; fi
  [ -x ".bench/venv-$name/bin/python" ] || "$UV" venv --quiet --python python3.11 ".bench/venv-$name"
  VIRTUAL_ENV=".bench/venv-$name" "$UV" pip install --quiet "$@"
}
make_venv prefect "prefect>=3.8,<3.9" "fastapi<0.155"   # Prefect 3.8's server does not start with newer FastAPI
make_venv zenml "zenml[local]>=0.98,<0.99"
make_venv dvc "dvc>=3.60"
make_venv env300 -e ".[airflow,ml]"   # a realistic Airflow worker environment for the capture benchmark
# bench/llm_cache.py: LangChain's SQLiteCache (langchain_community, a peer: not a dependency) beside our cache,
# on the core's pins of langchain-core, openai and httpx, so both caches run on the same libraries in one process
make_venv llm -c constraints/core.txt -e ".[llm]" "langchain-community>=0.4,<0.5"

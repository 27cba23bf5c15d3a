#!/usr/bin/env bash
# Build the real Marquez 0.51.1 API server the conformance suite and bench/marquez_compare.py run against, once
# per machine: ../shared/marquez/build/build-and-start.sh with BUILD_ONLY=1 (Maven, ~8 min cold, installed via apt
# when missing), into the cache directory it keys by the source's hash. A build already there is reused.
#   scripts/ensure-marquez.sh            build if missing
#   scripts/ensure-marquez.sh --where    print the cache directory and build nothing (exit 1 if not built yet)
# LINEAGE_MARQUEZ_BUILD_DIR overrides where the shared build folder is; MARQUEZ_CACHE where the build goes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${LINEAGE_MARQUEZ_BUILD_DIR:-$ROOT/../shared/marquez/build}" && pwd -P)
# the shared script's own key: the source tarball and the pom, hashed with their (physical) paths; it is passed on
# as MARQUEZ_CACHE, so every caller finds the same build
H=$(sha256sum "$BUILD/marquez-0.51.1-api-src.tar.gz" "$BUILD/pom.xml" | sha256sum | cut -c1-12)
export MARQUEZ_CACHE=${MARQUEZ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/marquez-0.51.1-$H}
JAR="$MARQUEZ_CACHE/proj/target/marquez-api-local-0.51.1.jar"
if [ "${1:-}" = "--where" ]; then
  echo "$MARQUEZ_CACHE"
  [ -f "$JAR" ]
  exit
fi
[ -f "$JAR" ] && exit 0
command -v java > /dev/null || { echo "Marquez needs a JDK 17 (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
if ! command -v mvn > /dev/null && [ "$(id -u)" -ne 0 ]; then
  echo "Maven is not installed and we are not root: install Debian's 'maven' package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
BUILD_ONLY=1 bash "$BUILD/build-and-start.sh"

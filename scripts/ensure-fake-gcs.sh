#!/usr/bin/env bash
# Build the GCS emulator (fake-gcs-server) from the Go module proxy into .services/bin, once.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.56.1
BIN=.services/bin/fake-gcs-server
if [ -x "$BIN" ] && [ "$(cat .services/bin/.fake-gcs-version 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
command -v go > /dev/null || { echo "Go is needed to build fake-gcs-server (apt-get install golang)" >&2; exit 1; }
mkdir -p .services/bin
GOBIN="$PWD/.services/bin" GOFLAGS=-mod=mod go install "github.com/fsouza/fake-gcs-server@$VERSION"
echo "$VERSION" > .services/bin/.fake-gcs-version

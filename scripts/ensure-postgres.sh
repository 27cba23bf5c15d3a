#!/usr/bin/env bash
# Make sure a PostgreSQL server binary is installed (Debian's package); the tests start their own
# cluster on a temp data dir and a free port, so no system service is started or changed here.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || command -v initdb > /dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is not installed and we are not root: install Debian's 'postgresql' package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql > /dev/null

#!/usr/bin/env bash
# What the Marquez web UI test (tests/ui/) needs, once per machine:
# - a real browser and the UI's server: Debian's chromium, chromium-driver, nodejs and npm (installed when
#   missing, as root; a browser downloaded from elsewhere fails here);
# - the UI itself: the 0.51.1 production build and its proxy server (../shared/marquez/web) unpacked into
#   ~/.cache/lineage-marquez-web-<hash of the tarball and setupProxy.js> with express 4 and http-proxy-middleware 2
#   from npm. The directory appears whole (built beside it, then renamed) so a half-done one is never used.
# Prints the UI's directory. Quick and changes nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
WEB_DIR=${LINEAGE_MARQUEZ_WEB_DIR:-../shared/marquez/web}
TARBALL=$WEB_DIR/marquez-web-0.51.1-dist.tar.gz
PROXY=$WEB_DIR/setupProxy.js

MISSING=()
command -v chromium > /dev/null || MISSING+=(chromium)
command -v chromedriver > /dev/null || MISSING+=(chromium-driver)
command -v node > /dev/null || MISSING+=(nodejs)
command -v npm > /dev/null || MISSING+=(npm)
if [ ${#MISSING[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "not installed, and we are not root: Debian's ${MISSING[*]} (the Marquez web UI test needs them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${MISSING[@]}" > /dev/null
fi

for f in "$TARBALL" "$PROXY"; do
  [ -f "$f" ] || { echo "no $f: the Marquez web UI build lives in ../shared/marquez/web (or set LINEAGE_MARQUEZ_WEB_DIR)" >&2; exit 1; }
done

HASH=$(cat "$TARBALL" "$PROXY" | sha256sum | cut -c1-12)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}
UI=$CACHE/lineage-marquez-web-$HASH
if [ ! -f "$UI/.ready" ]; then
  mkdir -p "$CACHE"
  TMP=$(mktemp -d "$CACHE/.lineage-marquez-web-XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
  tar -xzf "$TARBALL" -C "$TMP"
  cp "$PROXY" "$TMP/setupProxy.js"
  echo '{"name": "marquez-web-ui", "version": "0.51.1", "private": true}' > "$TMP/package.json"
  (cd "$TMP" && npm install --no-audit --no-fund --loglevel=error \
     express@4 http-proxy-middleware@2 > /dev/null)
  [ -f "$TMP/dist/index.html" ] && [ -d "$TMP/node_modules/http-proxy-middleware" ] || {
    echo "the Marquez web UI in $TMP is incomplete (no dist/index.html or node_modules)" >&2; exit 1; }
  touch "$TMP/.ready"
  rm -rf "$UI"
  mv "$TMP" "$UI"
  trap - EXIT
fi
echo "$UI"

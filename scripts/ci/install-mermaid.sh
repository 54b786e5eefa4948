#!/usr/bin/env bash
# Install what the mermaid render test needs: Debian's chromium and @mermaid-js/mermaid-cli
# from the npm registry (puppeteer's own browser download skipped: it uses /usr/bin/chromium).
# Idempotent; when offline or without root it prints a warning and exits 0, and the test
# then skips, saying what is missing.
set -uo pipefail

PREFIX="${MERMAID_CLI_PREFIX:-$HOME/.cache/mermaid-cli}"
VERSION="${MERMAID_CLI_VERSION:-11}"

warn() { echo "install-mermaid: warning: $*" >&2; }

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || warn "apt-get update failed (offline?)"
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || warn "could not install chromium with apt-get"
  else
    warn "/usr/bin/chromium is missing and apt-get cannot run here (need root)"
  fi
fi

if [ -x "$PREFIX/node_modules/.bin/mmdc" ]; then
  echo "install-mermaid: mmdc already in $PREFIX"
elif command -v npm >/dev/null; then
  mkdir -p "$PREFIX"
  PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
    npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error \
    "@mermaid-js/mermaid-cli@$VERSION" >/dev/null 2>&1 \
    || warn "npm install of @mermaid-js/mermaid-cli failed (offline?)"
else
  warn "npm is missing: install Node.js to render mermaid"
fi

if [ -x "$PREFIX/node_modules/.bin/mmdc" ] && [ -x /usr/bin/chromium ]; then
  echo "install-mermaid: ready: $PREFIX/node_modules/.bin/mmdc with /usr/bin/chromium"
fi
exit 0

#!/usr/bin/env bash
# Installs the OpenCode CLI the opencode-runtime tests and the W3 benchmark run (opencode-ai 1.18.33 from npm),
# unless that version is already on PATH. Idempotent. Needs Node.js 18+ and npm (installed from Debian if missing).
set -euo pipefail

VERSION="1.18.33"

if command -v opencode >/dev/null 2>&1 && [ "$(opencode --version 2>/dev/null)" = "$VERSION" ]; then
  echo "opencode $VERSION already installed at $(command -v opencode)"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi

npm install -g --no-fund --no-audit "opencode-ai@${VERSION}"

installed="$(opencode --version 2>/dev/null || true)"
if [ "$installed" != "$VERSION" ]; then
  echo "opencode $VERSION was not installed (found: '${installed:-nothing}')" >&2
  exit 1
fi
echo "opencode $installed installed at $(command -v opencode)"

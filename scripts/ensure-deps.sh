#!/usr/bin/env bash
# Installs what is missing, and nothing when all is in place: npm packages from the committed
# lockfile (npm ci when node_modules is absent or was installed from another lockfile).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v node >/dev/null 2>&1; then
  echo "Node.js 20+ is required (Debian: apt-get install nodejs npm, or https://nodejs.org)." >&2
  exit 3
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "Node.js 20+ is required; found $(node -v)." >&2
  exit 3
fi

stamp="node_modules/.likeness-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing npm packages (npm ci) ..." >&2
  start=$(date +%s)
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
  echo "npm ci took $(( $(date +%s) - start )) s" >&2
fi

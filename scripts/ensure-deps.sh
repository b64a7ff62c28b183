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

# System tools: ffmpeg/ffprobe (media probing, audio decode, MP4 encode); espeak-ng (real
# synthetic speech for the pipeline's tests and benchmarks).
missing=()
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt ..." >&2
    start=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get -o DPkg::Lock::Timeout=120 update -q >/dev/null 2>&1 || true
           apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
    echo "installed ${missing[*]} in $(( $(date +%s) - start )) s" >&2
  else
    echo "missing: ${missing[*]}; install it (Debian/Ubuntu: apt-get install ${missing[*]}; macOS: brew install ${missing[*]})." >&2
    exit 3
  fi
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

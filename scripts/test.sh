#!/usr/bin/env bash
# `npm test`: install what is missing, bring up Postgres (+pgvector) and Redis, then lint,
# type-check and test every project. Each test run works in its own fresh database and Redis
# key prefix (see libs/db/src/testing.ts), so runs never see each other's leftovers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false FORCE_COLOR=0

bash scripts/ensure-deps.sh
export LIKENESS_SERVICES_OWNER="npm-test-$$"
bash scripts/services.sh up
trap 'bash scripts/services.sh down' EXIT
# shellcheck disable=SC1091
source "${LIKENESS_DATA_DIR:-$root/.data}/services.env"

start=$(date +%s)
npx prettier --check --log-level=warn . || { echo "npm test: formatting differs; run npx prettier --write ." >&2; exit 1; }
npx nx run-many -t lint typecheck test --parallel=2 --outputStyle=static --skip-nx-cache "$@"
echo "npm test: all projects green in $(( $(date +%s) - start )) s" >&2

#!/usr/bin/env bash
# `npm start`: install what is missing, bring up Postgres (+pgvector) and Redis, migrate, seed a
# demo platform admin, tenant and API key, run the gateway, print where to go. Ctrl-C stops all
# of it, including any service this script started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export NX_DAEMON=false NX_NO_CLOUD=true
export LIKENESS_DATA_DIR="${LIKENESS_DATA_DIR:-$root/.data}"
export PORT="${PORT:-4000}"
mkdir -p "$LIKENESS_DATA_DIR/log"

bash scripts/ensure-deps.sh
export LIKENESS_SERVICES_OWNER="npm-start-$$"
bash scripts/services.sh up

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash scripts/services.sh down
  echo "likeness: stopped." >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC1091
source "$LIKENESS_DATA_DIR/services.env"

# Demo admin credentials: the caller's, or generated once and kept under the data dir.
if [ -z "${LIKENESS_ADMIN_EMAIL:-}" ]; then export LIKENESS_ADMIN_EMAIL="admin@likeness.local"; fi
if [ -z "${LIKENESS_ADMIN_PASSWORD:-}" ]; then
  pwfile="$LIKENESS_DATA_DIR/demo-admin-password"
  if [ ! -s "$pwfile" ]; then
    (umask 077; node -e 'process.stdout.write(require("crypto").randomBytes(12).toString("base64url"))' >"$pwfile")
  fi
  LIKENESS_ADMIN_PASSWORD="$(cat "$pwfile")"
  export LIKENESS_ADMIN_PASSWORD
fi

run_ts() { node -r @swc-node/register "$@"; }
run_ts libs/db/src/cli.ts migrate
seed_json="$(run_ts libs/db/src/cli.ts seed)"

# Refuse to start next to another process on our port: readiness would then be its answer.
if ! node -e 'const s=require("net").createServer().once("error",()=>process.exit(1)).listen(+process.argv[1],()=>s.close())' "$PORT"; then
  echo "likeness: port $PORT is already in use (another npm start?); stop it or set PORT." >&2
  exit 1
fi
# node itself in the background (not a shell function), so $! is the process we must stop.
SWC_NODE_PROJECT=apps/gateway/tsconfig.json node -r @swc-node/register apps/gateway/src/main.ts \
  >>"$LIKENESS_DATA_DIR/log/gateway.log" 2>&1 &
pids+=("$!")

started=$(date +%s%N)
url="http://127.0.0.1:${PORT}"
# wait_until NAME PID LOG CHECK...: runs CHECK until it succeeds; if process PID exits first,
# shows the end of its LOG and gives up.
wait_until() {
  local name=$1 pid=$2 log=$3
  shift 3
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "likeness: the $name exited; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
}
ready() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url/readyz"; }
wait_until gateway "${pids[0]}" "$LIKENESS_DATA_DIR/log/gateway.log" ready
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

# One render worker (avatar.prepare + render, reference pack, CPU unless EXECUTION_PROVIDER=cuda)
# on the same Redis prefix and storage as the gateway. The first start builds the reference pack
# under $LIKENESS_DATA_DIR/models (a few seconds); it takes jobs once its models are warm.
worker_log="$LIKENESS_DATA_DIR/log/render-worker.log"
touch "$worker_log"
worker_log_from=$(( $(stat -c %s "$worker_log") + 1 ))
BULLMQ_PREFIX="${REDIS_PREFIX:-likeness}" WORKER_ID="${WORKER_ID:-$(hostname)-npm-start}" \
  SWC_NODE_PROJECT=gpu-workers/render-worker/tsconfig.json \
  node -r @swc-node/register gpu-workers/render-worker/src/main.ts >>"$worker_log" 2>&1 &
pids+=("$!")
worker_pid="$!"
worker_ready() { tail -c "+$worker_log_from" "$worker_log" | grep -q '"msg":"render worker ready"'; }
wait_until "render worker" "$worker_pid" "$worker_log" worker_ready
worker_ms=$(( ($(date +%s%N) - started) / 1000000 ))

SEED_JSON="$seed_json" URL="$url" READY_MS="$ready_ms" WORKER_MS="$worker_ms" node -e '
const s = JSON.parse(process.env.SEED_JSON);
const url = process.env.URL;
console.log(`
Likeness is running (gateway ready in ${process.env.READY_MS} ms, render worker in ${process.env.WORKER_MS} ms).

  GraphQL      ${url}/graphql
  Health       ${url}/healthz   ${url}/readyz
  Logs         ${process.env.LIKENESS_DATA_DIR}/log/

  Platform admin   ${s.admin.email} / ${s.admin.password}
  Demo tenant      ${s.tenant.name} (${s.tenant.id})
  Demo API key     ${s.apiKey.secret}

Try it:
  curl -s ${url}/graphql -H "content-type: application/json" \\
    -H "authorization: Bearer ${s.apiKey.secret}" \\
    -d '"'"'{"query":"{ viewer { kind tenant { name plan } apiKey { prefix scopes } } }"}'"'"'

Render a talking portrait: README.md, "Quick start".

Press Ctrl-C to stop.
`);'

wait "${pids[0]}"

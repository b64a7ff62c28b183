#!/usr/bin/env bash
# Makes PostgreSQL (with pgvector) and Redis available to the platform and its tests.
#
#   scripts/services.sh up       find or start both, write $LIKENESS_DATA_DIR/services.env
#   scripts/services.sh down     stop what `up` started for the same owner (nothing else)
#   scripts/services.sh status   say what is used and whether it answers
#
# Order of preference, for each service:
#   1. DATABASE_URL / REDIS_URL when given (never started or stopped by us);
#   2. a server already answering on 127.0.0.1:5432 / 127.0.0.1:6379;
#   3. our own server under $LIKENESS_DATA_DIR (127.0.0.1:55432 / :56379), installed with apt
#      when missing (root on Debian only) and started here.
# pgvector is built from Debian's source package when `vector` is not available on a local
# server (Debian 12 does not package it for PostgreSQL 15); the build is cached under
# ~/.cache/likeness so the next clone on this machine installs it in a second.
#
# Owner: `up` records what it started under the owner id $LIKENESS_SERVICES_OWNER (default
# "manual"); `down` stops only what that same owner started. npm start / npm test pass their
# own process id, so one stopping never pulls the services from under another.
#
# Exit codes: 0 ok, 3 cannot provide a service here (the message says what to install).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${LIKENESS_DATA_DIR:-$root/.data}"
run="$data/run"
logs="$data/log"
owner="${LIKENESS_SERVICES_OWNER:-manual}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/likeness"
probe() { node "$root/scripts/lib/probe.cjs" "$@"; }
say() { echo "services: $*" >&2; }

PG_OWN_PORT="${LIKENESS_PG_PORT:-55432}"
REDIS_OWN_PORT="${LIKENESS_REDIS_PORT:-56379}"
PG_DB="${LIKENESS_DB_NAME:-likeness}"

cannot() {
  cat >&2 <<EOF
services: $1

Likeness needs PostgreSQL 15+ with the pgvector extension, and Redis 7. Either
  - install them yourself (Debian/Ubuntu: postgresql, postgresql-NN-pgvector, redis-server)
    and start them on 127.0.0.1:5432 / 127.0.0.1:6379, or
  - point DATABASE_URL / REDIS_URL at servers you already have, or
  - with Docker: docker compose -f deploy/compose.yaml up -d
    (Postgres with pgvector on 127.0.0.1:5432, Redis on 127.0.0.1:6379).
On Debian, running this script as root installs and starts them under .data/ by itself.
EOF
  exit 3
}

can_apt() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

apt_install() {
  can_apt || cannot "$* is missing, and installing it needs root on Debian (apt-get)."
  say "installing $* with apt ..."
  local start; start=$(date +%s)
  # -o DPkg::Lock::Timeout waits for a concurrent apt instead of failing.
  if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "$@" >"$logs/apt.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 update -q >>"$logs/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "$@" >>"$logs/apt.log" 2>&1 \
      || cannot "apt-get install $* failed; see $logs/apt.log."
  fi
  say "installed $* in $(( $(date +%s) - start )) s"
}

pg_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$d" ] && [ -x "$d/postgres" ] && echo "$d"
}

record_started() { echo "$1" >>"$run/started.$owner"; }

# --- PostgreSQL ----------------------------------------------------------------------------

start_own_postgres() {
  local bin pgdata="$data/postgres"
  bin="$(pg_bindir || true)"
  if [ -z "$bin" ]; then apt_install postgresql; bin="$(pg_bindir)"; fi
  [ "$(id -u)" = 0 ] || cannot "starting PostgreSQL under .data/ needs root (to run it as the postgres user)."
  id postgres >/dev/null 2>&1 || cannot "the postgres system user is missing (apt-get install postgresql)."
  mkdir -p "$pgdata" "$run"
  chown postgres:postgres "$pgdata" "$run"
  chmod 700 "$pgdata"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $pgdata"
    runuser -u postgres -- "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$logs/initdb.log" 2>&1 \
      || runuser -u postgres -- "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C >>"$logs/initdb.log" 2>&1 \
      || cannot "initdb failed; see $logs/initdb.log."
  fi
  touch "$logs/postgres.log"; chown postgres:postgres "$logs/postgres.log"
  say "starting PostgreSQL on 127.0.0.1:$PG_OWN_PORT"
  runuser -u postgres -- "$bin/pg_ctl" -D "$pgdata" -l "$logs/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_OWN_PORT -k $run" start >/dev/null \
    || cannot "PostgreSQL did not start; see $logs/postgres.log."
  record_started postgres
}

stop_own_postgres() {
  local bin; bin="$(pg_bindir || true)"
  [ -n "$bin" ] && [ -f "$data/postgres/postmaster.pid" ] || return 0
  say "stopping PostgreSQL (127.0.0.1:$PG_OWN_PORT)"
  runuser -u postgres -- "$bin/pg_ctl" -D "$data/postgres" -m fast -w stop >/dev/null 2>&1 || true
}

# pgvector for a server on this machine: from the cache, else built from Debian's source package.
ensure_pgvector() {
  local url="$1"
  probe pg-vector "$url" && return 0
  local host; host="$(node -e 'console.log(new URL(process.argv[1]).hostname)' "$url")"
  case "$host" in 127.0.0.1|localhost|::1|'[::1]') ;; *)
    cannot "the PostgreSQL server at $host lacks the pgvector extension; install it there (postgresql-NN-pgvector, or an image with pgvector)." ;;
  esac
  command -v pg_config >/dev/null || apt_install postgresql-common
  local major
  major="$(ls -d /usr/lib/postgresql/*/ 2>/dev/null | sort -V | tail -n 1 | xargs basename)"
  [ -n "$major" ] || cannot "cannot tell the local PostgreSQL version (no /usr/lib/postgresql/NN)."
  local ver="0.8.0" key="pgvector-0.8.0-pg$major"
  mkdir -p "$cache"
  (
    flock 9
    probe pg-vector "$url" && exit 0
    if [ ! -f "$cache/$key/.complete" ]; then
      can_apt || cannot "pgvector is missing and building it needs root on Debian."
      build_pgvector "$major" "$ver" "$cache/$key" || cannot "building pgvector failed; see $logs/pgvector-build.log."
    fi
    say "installing pgvector $ver for PostgreSQL $major from $cache/$key"
    cp -a "$cache/$key/root/." /
  ) 9>"$cache/pgvector.lock"
  probe pg-vector "$url" || cannot "pgvector was installed but the server at $url still does not list it."
}

build_pgvector() {
  local major="$1" ver="$2" out="$3" work start
  start=$(date +%s)
  say "building pgvector from Debian's source package (PostgreSQL $major has no binary package); about 30 s"
  apt_install "postgresql-server-dev-$major" build-essential dpkg-dev
  work="$(mktemp -d)"
  # A separate apt configuration that knows trixie's deb-src, so the system's sources stay as they are.
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources.list.d" "$work/src"
  local mirror
  mirror="$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} trixie main" >"$work/apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
    -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o "APT::Get::Only-Source=true")
  {
    apt-get "${opts[@]}" update &&
      (cd "$work/src" && apt-get "${opts[@]}" source --download-only pgvector) &&
      (cd "$work/src" && dpkg-source --no-check -x ./pgvector_*.dsc build) &&
      make -C "$work/src/build" OPTFLAGS="" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" &&
      rm -rf "$out.tmp" && mkdir -p "$out.tmp/root" &&
      make -C "$work/src/build" OPTFLAGS="" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install DESTDIR="$out.tmp/root"
  } >"$logs/pgvector-build.log" 2>&1 || { rm -rf "$work"; return 1; }
  touch "$out.tmp/.complete"
  rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$work"
  say "built pgvector in $(( $(date +%s) - start )) s (cached in $out; the version built is in $logs/pgvector-build.log)"
}

postgres_up() {
  if [ -n "${DATABASE_URL:-}" ]; then
    probe pg "$DATABASE_URL" || cannot "DATABASE_URL is set but the server does not answer: $(redact "$DATABASE_URL")"
    probe pg-ensure-db "$DATABASE_URL" || cannot "cannot create the database named in DATABASE_URL."
    ensure_pgvector "$DATABASE_URL"
    PG_URL="$DATABASE_URL"; return
  fi
  local system="postgres://postgres@127.0.0.1:5432/$PG_DB"
  local own="postgres://postgres@127.0.0.1:$PG_OWN_PORT/$PG_DB"
  if probe pg "${system%/*}/postgres"; then
    PG_URL="$system"
  elif probe pg "${own%/*}/postgres"; then
    PG_URL="$own"
  else
    start_own_postgres
    PG_URL="$own"
  fi
  probe pg-ensure-db "$PG_URL" || cannot "cannot create database $PG_DB on $(redact "$PG_URL")."
  ensure_pgvector "$PG_URL"
}

# --- Redis ---------------------------------------------------------------------------------

start_own_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$data/redis" "$run"
  say "starting Redis on 127.0.0.1:$REDIS_OWN_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_OWN_PORT" --dir "$data/redis" \
    --pidfile "$run/redis.pid" --logfile "$logs/redis.log" --save "" --appendonly no \
    || cannot "redis-server did not start; see $logs/redis.log."
  local i
  for i in $(seq 1 50); do probe redis "redis://127.0.0.1:$REDIS_OWN_PORT" && break; sleep 0.1; done
  record_started redis
}

stop_own_redis() {
  [ -f "$run/redis.pid" ] || return 0
  say "stopping Redis (127.0.0.1:$REDIS_OWN_PORT)"
  kill -TERM "$(cat "$run/redis.pid")" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do [ -f "$run/redis.pid" ] && kill -0 "$(cat "$run/redis.pid")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$run/redis.pid"
}

redis_up() {
  if [ -n "${REDIS_URL:-}" ]; then
    probe redis "$REDIS_URL" || cannot "REDIS_URL is set but the server does not answer: $(redact "$REDIS_URL")"
    RD_URL="$REDIS_URL"; return
  fi
  if probe redis "redis://127.0.0.1:6379"; then RD_URL="redis://127.0.0.1:6379"
  elif probe redis "redis://127.0.0.1:$REDIS_OWN_PORT"; then RD_URL="redis://127.0.0.1:$REDIS_OWN_PORT"
  else start_own_redis; RD_URL="redis://127.0.0.1:$REDIS_OWN_PORT"; fi
}

redact() { node -e 'const u=new URL(process.argv[1]); if(u.password) u.password="***"; console.log(u.toString())' "$1"; }

# --- commands ------------------------------------------------------------------------------

cmd_up() {
  mkdir -p "$data" "$run" "$logs"
  [ -d "$root/node_modules/pg" ] || bash "$root/scripts/ensure-deps.sh"
  local start; start=$(date +%s%N)
  postgres_up
  redis_up
  cat >"$data/services.env.tmp" <<EOF
# Written by scripts/services.sh up; sourced by npm start / npm test.
export DATABASE_URL='$PG_URL'
export REDIS_URL='$RD_URL'
EOF
  mv "$data/services.env.tmp" "$data/services.env"
  say "PostgreSQL $(redact "$PG_URL") (pgvector ok), Redis $(redact "$RD_URL") — ready in $(( ($(date +%s%N) - start) / 1000000 )) ms"
}

cmd_down() {
  local f="$run/started.$owner"
  [ -f "$f" ] || return 0
  grep -qx redis "$f" && stop_own_redis
  grep -qx postgres "$f" && stop_own_postgres
  rm -f "$f"
}

cmd_status() {
  local pg="${DATABASE_URL:-}" rd="${REDIS_URL:-}"
  if [ -f "$data/services.env" ] && [ -z "$pg$rd" ]; then
    # shellcheck disable=SC1091
    source "$data/services.env"; pg="$DATABASE_URL"; rd="$REDIS_URL"
  fi
  local rc=0
  if [ -n "$pg" ] && probe pg "$pg"; then
    echo "postgres  $(redact "$pg")  up$(probe pg-vector "$pg" && echo ', pgvector available' || echo ', pgvector MISSING')"
  else echo "postgres  ${pg:+$(redact "$pg")  }down"; rc=1; fi
  if [ -n "$rd" ] && probe redis "$rd"; then echo "redis     $(redact "$rd")  up"
  else echo "redis     ${rd:-}  down"; rc=1; fi
  for f in "$run"/started.*; do [ -f "$f" ] && echo "started by ${f##*/started.}: $(tr '\n' ' ' <"$f")"; done
  return $rc
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

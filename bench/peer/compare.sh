#!/usr/bin/env bash
# Peer comparison: Accord against Ethyca Fides 2.86.2 on the same work, in one run.
#
# Installs Fides from PyPI into target/peer/venv (Python 3.13 needed), starts it on its own
# PostgreSQL cluster and Redis on loopback ports, seeds both servers with the same 10,001
# requests and runs the same wrk load against each, one server at a time. Results: one JSON
# line per figure on stdout, a table on stderr. See bench/README.md, "Peer comparison".
#
# Usage: bench/peer/compare.sh [--duration S] [--connections N] [--accord-bin PATH]
#          [--no-accord-postgres] [--only fides|accord] [--no-pin] [--fides-python PATH]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${PEER_WORK_DIR:-$ROOT/target/peer}
FIDES_VERSION=2.86.2
DURATION=10
CONNECTIONS=16
ACCORD_BIN=${ACCORD_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/accord}
ACCORD_PG=1
PIN=1
ONLY=
FIDES_PYTHON=${FIDES_PYTHON:-}
FIDES_PORT=${PEER_FIDES_PORT:-8090}
ACCORD_PORT=${PEER_ACCORD_PORT:-8091}
PG_PORT=${PEER_PG_PORT:-5440}
REDIS_PORT=${PEER_REDIS_PORT:-6390}
PGBIN=${PEER_PGBIN:-/usr/lib/postgresql/15/bin}
ACCORD_PG_HOST=${PEER_ACCORD_PG_HOST:-127.0.0.1}
ACCORD_PG_PORT=${PEER_ACCORD_PG_PORT:-5432}

while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --accord-bin) ACCORD_BIN=$2; shift 2 ;;
    --no-accord-postgres) ACCORD_PG=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    --fides-python) FIDES_PYTHON=$2; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
case $ONLY in ""|fides|accord) ;; *) echo "--only takes fides or accord" >&2; exit 2 ;; esac

log() { echo "peer: $*" >&2; }
die() { echo "peer: error: $*" >&2; exit 1; }

mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
VENV=$WORK/venv
RUN_ID=$(date +%s)
export PEER_LUA_DIR=$HERE PEER_RUN=$RUN_ID

# Cores: the server under test on core 0, wrk on core 1. Fides' PostgreSQL and Redis, and
# Accord's PostgreSQL, are not pinned (they share core 1 with wrk, or move).
SERVER_CORE=()
LOAD_CORE=()
if [ "$PIN" = 1 ] && command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then
  SERVER_CORE=(taskset -c 0)
  LOAD_CORE=(taskset -c 1)
else
  PIN=0
fi

# ---------------------------------------------------------------------------------------
# Tools
if ! command -v wrk > /dev/null; then
  [ "$(id -u)" = 0 ] || die "wrk is missing (apt-get install wrk)"
  log "installing wrk"
  apt-get install -y -qq wrk > /dev/null 2>&1 ||
    { apt-get update -qq > /dev/null && apt-get install -y -qq wrk > /dev/null; }
fi
command -v psql > /dev/null || die "psql is missing"

PIDS_TO_STOP=()
ACCORD_PG_DB=
cleanup() {
  set +e
  for pid in "${PIDS_TO_STOP[@]}"; do
    kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null
  done
  if [ -f "$WORK/pg/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop > /dev/null 2>&1
  fi
  if [ -n "$ACCORD_PG_DB" ]; then
    psql -q -h "$ACCORD_PG_HOST" -p "$ACCORD_PG_PORT" -U postgres -d postgres \
      -c "DROP DATABASE IF EXISTS $ACCORD_PG_DB WITH (FORCE)" > /dev/null 2>&1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_pid() {
  local pid=$1 keep=() p
  kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null || true
  for p in "${PIDS_TO_STOP[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS_TO_STOP=("${keep[@]}")
}

wait_http() { # URL PID LOG SECONDS
  local i
  for ((i = 0; i < $4; i++)); do
    curl -fs -m 2 -o /dev/null "$1" && return 0
    kill -0 "$2" 2> /dev/null || { tail -30 "$3" >&2; die "server exited; log: $3"; }
    sleep 1
  done
  tail -30 "$3" >&2
  die "no answer from $1 within $4 s; log: $3"
}

# probe NAME URL HEADER...: three warm-up requests; prints the first answer's total.
probe() {
  local name=$1 url=$2 out
  shift 2
  local hdr=()
  for h in "$@"; do hdr+=(-H "$h"); done
  out=$(curl -fsS -m 120 "${hdr[@]}" "$url") || die "$name: $url failed"
  curl -fsS -m 120 -o /dev/null "${hdr[@]}" "$url"
  curl -fsS -m 120 -o /dev/null "${hdr[@]}" "$url"
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$out"
}

# measure WORK SERVER DATABASE URL LUA [HEADER...]: one wrk run, one JSON line.
measure() {
  local work=$1 server=$2 db=$3 url=$4 lua=$5
  shift 5
  local hdr=() wlog=$WORK/wrk-$server-$db-$work.log
  for h in "$@"; do hdr+=(-H "$h"); done
  log "$server/$db: $work (${DURATION}s, $CONNECTIONS connections)"
  "${LOAD_CORE[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 30s --latency \
    -s "$HERE/$lua" "${hdr[@]}" "$url" > "$wlog" 2>&1 || { cat "$wlog" >&2; die "wrk failed"; }
  echo "$wlog"
}

emit() { # JSON line to stdout and the results file
  echo "$1" | tee -a "$RESULTS"
}

# ---------------------------------------------------------------------------------------
# Fides
find_python313() {
  local c
  for c in "$FIDES_PYTHON" python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 \
    /usr/local/bin/python3.13 /usr/bin/python3.13; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 13))' > /dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

install_fides() {
  if "$VENV/bin/python" -c "import importlib.metadata as m, sys
sys.exit(m.version('ethyca-fides') != '$FIDES_VERSION')" > /dev/null 2>&1; then
    return
  fi
  local py
  py=$(find_python313) || die "Fides $FIDES_VERSION needs Python 3.13 (Requires-Python >=3.13);
none found (tried --fides-python/FIDES_PYTHON, python3.13, pyenv's versions/3.13*). On an
older Python, pip picks an old Fides release instead."
  log "installing ethyca-fides==$FIDES_VERSION with $py into $VENV"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "ethyca-fides==$FIDES_VERSION" \
    > "$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log" >&2; die "pip install failed"; }
}

run_fides() {
  install_fides
  local fdir=$WORK/fides pg=$WORK/pg
  # Fresh PostgreSQL cluster and Redis on loopback ports of their own.
  if [ -f "$pg/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$pg/data" -m fast -w stop > /dev/null 2>&1 || true
  fi
  rm -rf "$pg" "$fdir"
  mkdir -p "$pg" "$fdir"
  [ "$(id -u)" = 0 ] && chown postgres: "$pg"
  as_pg "$PGBIN/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 > "$pg/initdb.log" 2>&1 ||
    { cat "$pg/initdb.log" >&2; die "initdb failed"; }
  as_pg "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $pg" start > /dev/null ||
    { cat "$pg/server.log" >&2; die "PostgreSQL did not start"; }
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE fides"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --requirepass peerbench > "$fdir/redis.log" 2>&1 &
  PIDS_TO_STOP+=($!)

  # Identity verification and manual approval off; the Celery queue (Redis list
  # fides.dsr) is filled but not consumed: no worker runs and tasks are not run eagerly.
  export FIDES__DATABASE__SERVER=127.0.0.1 FIDES__DATABASE__PORT=$PG_PORT \
    FIDES__DATABASE__USER=postgres FIDES__DATABASE__PASSWORD=postgres FIDES__DATABASE__DB=fides \
    FIDES__REDIS__HOST=127.0.0.1 FIDES__REDIS__PORT=$REDIS_PORT FIDES__REDIS__PASSWORD=peerbench \
    FIDES__SECURITY__APP_ENCRYPTION_KEY=peerbench-app-encryption-key-32c \
    FIDES__SECURITY__OAUTH_ROOT_CLIENT_ID=peerbench \
    FIDES__SECURITY__OAUTH_ROOT_CLIENT_SECRET=peerbench-secret \
    FIDES__EXECUTION__REQUIRE_MANUAL_REQUEST_APPROVAL=false \
    FIDES__EXECUTION__SUBJECT_IDENTITY_VERIFICATION_REQUIRED=false \
    FIDES__CELERY__TASK_ALWAYS_EAGER=false \
    FIDES__LOGGING__LEVEL=WARNING FIDES__USER__ANALYTICS_OPT_OUT=true
  # Fides reads its SaaS connector templates from ./data/saas, which the wheel does not
  # ship; empty folders mean no templates, which privacy-request intake and lists ignore.
  mkdir -p "$fdir/data/saas/config" "$fdir/data/saas/icon" "$fdir/data/saas/dataset"
  log "starting Fides $FIDES_VERSION (migrations on a fresh database take a minute)"
  (cd "$fdir" && exec "$VENV/bin/python" "$HERE/fides_serve.py" 127.0.0.1 "$FIDES_PORT" \
    > "$fdir/fides.log" 2>&1) &
  local fpid=$!
  PIDS_TO_STOP+=("$fpid")
  local base=http://127.0.0.1:$FIDES_PORT
  wait_http "$base/health" "$fpid" "$fdir/fides.log" 600
  local token auth
  token=$("$VENV/bin/python" "$HERE/peer.py" fides-token "$base" peerbench peerbench-secret)
  auth="Authorization: Bearer $token"

  # Seeding runs with Fides on both cores (4 clients); then all its threads go to core 0.
  log "seeding Fides: 10,000 requests + needle@example.com"
  local t0=$SECONDS
  "$VENV/bin/python" "$HERE/peer.py" seed-fides "$base" "$PG_PORT"
  log "seeded Fides in $((SECONDS - t0)) s"
  [ "$PIN" = 1 ] && taskset -a -p -c 0 "$fpid" > /dev/null

  # Lists as the admin UI asks for them (include_identities=true: Accord's items carry the
  # email too), newest first (Fides' default sort: created_at desc).
  local list="$base/api/v1/privacy-request?page=1&size=50&include_identities=true"
  local -A urls=(
    [list_newest]="$list"
    [list_status]="$list&status=pending"
    [lookup_email]="$list&identity=needle%40example.com"
    [lookup_email_fuzzy]="$list&fuzzy_search_str=needle%40example.com"
  )
  local work total wlog
  for work in list_newest list_status lookup_email lookup_email_fuzzy; do
    total=$(probe "$work" "${urls[$work]}" "$auth")
    wlog=$(measure "$work" fides postgresql "${urls[$work]}" get.lua "$auth")
    emit "$(python3 "$HERE/peer.py" wrk-json "$work" fides postgresql "$CONNECTIONS" \
      "$DURATION" "$wlog" | python3 -c 'import json,sys; r=json.load(sys.stdin)
r["total"]=int(sys.argv[1]); print(json.dumps(r))' "$total")"
  done
  local before after
  before=$(python3 "$HERE/peer.py" count "$base" fides "$auth")
  export PEER_KIND=fides
  wlog=$(measure intake fides postgresql "$base/api/v1/privacy-request" intake.lua)
  sleep 1
  after=$(python3 "$HERE/peer.py" count "$base" fides "$auth")
  emit "$(python3 "$HERE/peer.py" wrk-json intake fides postgresql "$CONNECTIONS" "$DURATION" \
    "$wlog" $((after - before)))"
  log "Fides' Celery queue holds $(redis-cli -p "$REDIS_PORT" -a peerbench --no-auth-warning \
    llen fides.dsr) unconsumed tasks"

  stop_pid "$fpid"
  as_pg "$PGBIN/pg_ctl" -D "$pg/data" -m fast -w stop > /dev/null
  unset "${!FIDES__@}"
}

# ---------------------------------------------------------------------------------------
# Accord
run_accord() { # DATABASE(sqlite|postgresql)
  local db=$1 dir=$WORK/accord-$1 url
  [ -x "$ACCORD_BIN" ] || die "no Accord binary at $ACCORD_BIN (cargo build --release -p accord)"
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$db" = sqlite ]; then
    url="sqlite://$dir/accord.db"
  else
    ACCORD_PG_DB=accord_peer_$RUN_ID
    psql -q -h "$ACCORD_PG_HOST" -p "$ACCORD_PG_PORT" -U postgres -d postgres \
      -c "CREATE DATABASE $ACCORD_PG_DB"
    url="postgres://postgres@$ACCORD_PG_HOST:$ACCORD_PG_PORT/$ACCORD_PG_DB"
  fi
  log "starting Accord on $db"
  ACCORD_RATE_LIMIT_PRIVACY=0 ACCORD_LOG=warn "${SERVER_CORE[@]}" "$ACCORD_BIN" serve \
    --listen "127.0.0.1:$ACCORD_PORT" --database "$url" --data-dir "$dir" \
    > "$dir/stdout.log" 2> "$dir/server.log" &
  local apid=$!
  PIDS_TO_STOP+=("$apid")
  local base=http://127.0.0.1:$ACCORD_PORT
  wait_http "$base/privacy-v1/health" "$apid" "$dir/server.log" 120
  local org project key
  org=$(sed -n 's/.*organizationId=\([^ ]*\).*/\1/p' "$dir/stdout.log")
  project=$(sed -n 's/.*projectId=\([^ ]*\).*/\1/p' "$dir/stdout.log")
  key=$(sed -n 's/.*apiKey=\([^ ]*\).*/\1/p' "$dir/stdout.log")
  [ -n "$org" ] && [ -n "$project" ] && [ -n "$key" ] || die "no bootstrap lines from Accord"
  local auth="x-api-key: $key"
  local reqs="$base/privacy-v1/organizations/$org/projects/$project/compliance-requests"

  log "seeding Accord/$db: 10,000 requests + needle@example.com"
  local t0=$SECONDS
  python3 "$HERE/peer.py" seed-accord "$base" "$org" "$project" "$key"
  if [ "$db" = postgresql ]; then
    psql -q -h "$ACCORD_PG_HOST" -p "$ACCORD_PG_PORT" -U postgres -d "$ACCORD_PG_DB" -c "VACUUM (ANALYZE)"
  fi
  log "seeded Accord/$db in $((SECONDS - t0)) s"

  local -A urls=(
    [list_newest]="$reqs?limit=50"
    [list_status]="$reqs?status=submitted&limit=50"
    [lookup_email]="$reqs?userEmail=needle%40example.com&limit=50"
  )
  local work total wlog
  for work in list_newest list_status lookup_email; do
    total=$(probe "$work" "${urls[$work]}" "$auth")
    wlog=$(measure "$work" accord "$db" "${urls[$work]}" get.lua "$auth")
    emit "$(python3 "$HERE/peer.py" wrk-json "$work" accord "$db" "$CONNECTIONS" \
      "$DURATION" "$wlog" | python3 -c 'import json,sys; r=json.load(sys.stdin)
r["total"]=int(sys.argv[1]); print(json.dumps(r))' "$total")"
  done
  local before after
  before=$(python3 "$HERE/peer.py" count "$reqs" accord "$auth")
  export PEER_KIND=accord
  wlog=$(measure intake accord "$db" "$reqs" intake.lua "$auth")
  sleep 1
  after=$(python3 "$HERE/peer.py" count "$reqs" accord "$auth")
  emit "$(python3 "$HERE/peer.py" wrk-json intake accord "$db" "$CONNECTIONS" "$DURATION" \
    "$wlog" $((after - before)))"
  stop_pid "$apid"
}

# ---------------------------------------------------------------------------------------
emit "$(python3 -c 'import json,sys; print(json.dumps({"bench":"peer_meta",
"fides_version":sys.argv[1],"duration_s":int(sys.argv[2]),"connections":int(sys.argv[3]),
"pinned":sys.argv[4]=="1","cpus":int(sys.argv[5]),"seed_rows":10001}))' \
  "$FIDES_VERSION" "$DURATION" "$CONNECTIONS" "$PIN" "$(nproc)")"
if [ "$ONLY" != accord ]; then run_fides; fi
if [ "$ONLY" != fides ]; then
  run_accord sqlite
  if [ "$ACCORD_PG" = 1 ]; then run_accord postgresql; fi
fi
python3 "$HERE/peer.py" report "$RESULTS" | tee -a "$RESULTS"
log "results: $RESULTS"

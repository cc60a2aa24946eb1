#!/usr/bin/env bash
# The API contract: schemathesis fuzzes /api/v1/openapi.json against `medclaim serve --demo` as a
# student, a reviewer and an admin, on SQLite and then on PostgreSQL, and fails on any 5xx or any
# answer the document does not describe (status, content type or body schema).
#
#   .ci/contract.sh                  # both backends (PostgreSQL from $CONTRACT_PG_URL)
#   CONTRACT_BACKENDS=sqlite .ci/contract.sh
#   MEDCLAIM_BIN=/path/to/medclaim .ci/contract.sh   # skip the build
#
# Bounded time: a few examples per operation, a fixed seed, no shrinking, and a timeout per run.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/medclaim/schemathesis-venv
PG_URL=${CONTRACT_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BACKENDS=${CONTRACT_BACKENDS:-sqlite postgres}
MAX_EXAMPLES=${CONTRACT_MAX_EXAMPLES:-8}
RUN_TIMEOUT=${CONTRACT_RUN_TIMEOUT:-150}
SEED=${CONTRACT_SEED:-20261206}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
# A student, a reviewer and an admin from the demo university (README: `serve --demo`).
USERS=${CONTRACT_USERS:-2025000001 reviewer1 admin}
PASSWORD=medclaim-demo

step() { printf '\n== %s ==\n' "$*"; }

# --- schemathesis in its own virtual environment ------------------------------------------------
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  step "schemathesis $SCHEMATHESIS_VERSION"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- the server ----------------------------------------------------------------------------------
if [ -z "${MEDCLAIM_BIN:-}" ]; then
  step "cargo build --bin medclaim"
  cargo build --locked --bin medclaim
  MEDCLAIM_BIN=${CARGO_TARGET_DIR:-target}/debug/medclaim
fi

WORK=$(mktemp -d)
# Full schemathesis output and NDJSON events per run, kept for reading after the run.
REPORT_DIR=${CONTRACT_REPORT_DIR:-${CARGO_TARGET_DIR:-target}/contract-report}
rm -rf "$REPORT_DIR" && mkdir -p "$REPORT_DIR"
SERVER_PID=
PG_DB=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ]; then psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts `serve --demo` on a free loopback port (the kernel picks it) and sets BASE.
start_server() {
  local backend=$1 data=$WORK/data-$1 log=$WORK/server-$1.log
  mkdir -p "$data"
  local url=
  if [ "$backend" = postgres ]; then
    PG_DB=medclaim_contract_$$
    PGOPTIONS="-c client_min_messages=warning" psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null
    psql "$PG_URL" -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
    url=${PG_URL%/*}/$PG_DB
  fi
  DATABASE_URL=$url RUST_LOG=${RUST_LOG:-warn} "$MEDCLAIM_BIN" --data-dir "$data" serve --demo \
    --bind 127.0.0.1:0 >"$log" 2>&1 &
  SERVER_PID=$!
  BASE=
  for _ in $(seq 1 600); do
    BASE=$(sed -n 's#^medclaim listening on \(http://[^ ]*\)/$#\1#p' "$log" | head -n 1)
    [ -n "$BASE" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; echo "the server did not start" >&2; exit 1; }
    sleep 0.5
  done
  [ -n "$BASE" ] || { cat "$log"; echo "the server did not start in time" >&2; exit 1; }
  curl -fsS "$BASE/healthz" >/dev/null
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  if [ -n "$PG_DB" ]; then
    PGOPTIONS="-c client_min_messages=warning" psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null
    PG_DB=
  fi
}

login() {
  curl -fsS -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/auth/login" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

failed=0
summary=()
for backend in $BACKENDS; do
  step "contract on $backend"
  start_server "$backend"
  # Tokens first: the fuzzed login may trip the per-address limiter for a minute.
  declare -A tokens=()
  for user in $USERS; do tokens[$user]=$(login "$user"); done
  for user in $USERS; do
    step "schemathesis as $user ($backend)"
    out=$REPORT_DIR/st-$backend-$user.txt
    set +e
    # Logout is left out: it would end the very session the run signs its requests with (its
    # answers are covered by the router test and the accounts tests).
    timeout "$RUN_TIMEOUT" "$VENV/bin/schemathesis" run "$BASE/api/v1/openapi.json" \
      --checks "$CHECKS" \
      --header "Authorization: Bearer ${tokens[$user]}" \
      --exclude-path /api/v1/auth/logout \
      --phases examples,coverage,fuzzing \
      --max-examples "$MAX_EXAMPLES" --seed "$SEED" --no-shrink \
      --request-timeout 20 --workers 1 \
      --suppress-health-check all \
      --report ndjson --report-ndjson-path "$REPORT_DIR/st-$backend-$user.ndjson" \
      --output-truncate true >"$out" 2>&1
    rc=$?
    set -e
    tail -n 40 "$out"
    # Distinct violations: one per (operation, check, status/message) as schemathesis groups them.
    n=$(python3 - "$REPORT_DIR/st-$backend-$user.ndjson" <<'PY'
import json, sys
seen = set()
try:
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    def walk(o, label=None):
        if isinstance(o, dict):
            if "failure_info" in o and isinstance(o["failure_info"], dict):
                fi = o["failure_info"]
                f = fi.get("failure", {})
                seen.add((label, f.get("title"), f.get("code"), f.get("message")))
            for k, v in o.items():
                walk(v, o.get("label", label) if isinstance(o.get("label"), str) else label)
        elif isinstance(o, list):
            for v in o:
                walk(v, label)
    walk(ev)
print(len(seen))
PY
)
    summary+=("$backend $user: exit $rc, $n distinct violation(s)")
    if [ "$rc" -ne 0 ]; then failed=1; fi
    if [ "$rc" -eq 124 ]; then echo "schemathesis ran out of time (${RUN_TIMEOUT}s)" >&2; fi
  done
  unset tokens
  cp "$WORK/server-$backend.log" "$REPORT_DIR/"
  if grep -q 'panicked' "$WORK/server-$backend.log"; then
    grep -n 'panicked' "$WORK/server-$backend.log" >&2
    failed=1
  fi
  stop_server
done

step "contract summary"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "the API contract has violations (see above)" >&2
  exit 1
fi

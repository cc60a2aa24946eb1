#!/usr/bin/env bash
# Primary failover on PostgreSQL (issue 18 item 4).
#
# Starts, in a temporary directory and on ports of its own (the cluster on 5432 is not touched):
#   etcd (one member)  ←  Patroni pg1 + Patroni pg2 (PostgreSQL 15, synchronous streaming
#   replication, synchronous_mode on)  ←  HAProxy routing to whichever node Patroni's REST API
#   answers `GET /primary` with 200  ←  `medclaim serve --demo` (DATABASE_URL → HAProxy).
# Then .ci/failover-load.py runs claims and bookings through medclaim's API, SIGKILLs the
# primary's postmaster in the middle, and checks: the standby is promoted, medclaim answers again
# within 30 s without a restart, every request answered 2xx is in the new primary, the slot holds
# exactly its capacity; finally `medclaim audit verify` runs against the new primary.
#
#   .ci/failover.sh                       # MEDCLAIM_BIN defaults to target/debug/medclaim
#   FAILOVER_PORT_BASE=26400 .ci/failover.sh
#
# Needs (Debian bookworm): patroni, etcd-server, haproxy, postgresql-15; runs as root (the
# PostgreSQL side runs as the `postgres` user). Every process it starts and its temporary
# directory are removed on exit, failure and interruption included. Exit status 0: all checks
# passed.
set -euo pipefail
cd "$(dirname "$0")/.."

MEDCLAIM_BIN=${MEDCLAIM_BIN:-${CARGO_TARGET_DIR:-target}/debug/medclaim}
MEDCLAIM_BIN=$(readlink -f "$MEDCLAIM_BIN")
BASE=${FAILOVER_PORT_BASE:-25400}
ETCD_CLIENT=$((BASE + 1)) ETCD_PEER=$((BASE + 2))
PG1=$((BASE + 11)) PG2=$((BASE + 12))
API1=$((BASE + 21)) API2=$((BASE + 22))
PROXY=$((BASE + 30))
PG_USER=postgres

say() { printf '[failover %s] %s\n' "$(date +%T)" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL runs as $PG_USER through setpriv)"
for tool in patroni etcd haproxy curl psql setpriv python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install patroni etcd-server haproxy)"
done
[ -x "$MEDCLAIM_BIN" ] || die "no medclaim binary at $MEDCLAIM_BIN (cargo build first)"
PG_BIN=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n 1)/bin
[ -x "$PG_BIN/postgres" ] || die "no PostgreSQL server binaries in $PG_BIN"
for port in $ETCD_CLIENT $ETCD_PEER $PG1 $PG2 $API1 $API2 $PROXY; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use (set FAILOVER_PORT_BASE)"
  fi
done

WORK=$(mktemp -d /tmp/medclaim-failover.XXXXXX)
chmod 755 "$WORK"
# The Patroni scope, also PostgreSQL's cluster_name: every process this run starts carries it (or
# $WORK, which contains it) on its command line, which is how cleanup finds stragglers.
SCOPE=$(basename "$WORK")
ETCD_PID= PAT1_PID= PAT2_PID= PROXY_PID= MEDCLAIM_PID= LOAD_PID=
# Sends SIGTERM to the given pids, waits up to $1 seconds for them, then SIGKILL.
stop_pids() {
  local secs=$1 pid alive; shift
  for pid in "$@"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 1 $((secs * 5))); do
    alive=0
    for pid in "$@"; do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.2
  done
  for pid in "$@"; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; done
  return 0
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  stop_pids 5 "$LOAD_PID"
  stop_pids 10 "$MEDCLAIM_PID" "$PROXY_PID"
  # Patroni stops its PostgreSQL on SIGTERM (and needs etcd for that, so etcd goes last).
  stop_pids 15 "$PAT1_PID" "$PAT2_PID"
  for node in pg1 pg2; do
    local data=$WORK/$node/data
    if [ -f "$data/postmaster.pid" ] && kill -0 "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null; then
      as_pg "$PG_BIN/pg_ctl" -D "$data" stop -m immediate -w -t 10 >/dev/null 2>&1 \
        || kill -KILL "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null
    fi
  done
  stop_pids 5 "$ETCD_PID"
  # Whatever is left of this run (e.g. backends of the killed postmaster), by process id.
  local left
  for _ in $(seq 1 50); do
    left=$(pgrep -f -- "$SCOPE")
    [ -z "$left" ] && break
    kill -KILL $left 2>/dev/null
    sleep 0.2
  done
  wait 2>/dev/null
  if [ -n "${FAILOVER_LOG_DIR:-}" ]; then
    mkdir -p "$FAILOVER_LOG_DIR" && cp "$WORK"/*.log "$FAILOVER_LOG_DIR"/ 2>/dev/null
  fi
  if [ $rc != 0 ]; then
    for log in "$WORK"/*.log; do
      [ -f "$log" ] || continue
      printf '\n--- %s (last 40 lines) ---\n' "$(basename "$log")"
      tail -n 40 "$log"
    done
  fi
  rm -rf "$WORK"
  [ -n "$left" ] && echo "[failover] processes still running after cleanup: $left" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg() { setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- env HOME="$WORK" "$@"; }
# The same for a background process: `bg_pg cmd … &` — exec, so that $! is the process itself.
bg_pg() { exec setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- env HOME="$WORK" "$@"; }
# Waits up to $1 seconds for the command to succeed.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what: not within ${secs} s"
    sleep 0.2
  done
}
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# --- etcd (the DCS Patroni keeps its leader key in) ------------------------------------------
say "etcd on 127.0.0.1:$ETCD_CLIENT"
mkdir -p "$WORK/etcd"
chown -R "$PG_USER:" "$WORK"
bg_pg etcd --name e1 --data-dir "$WORK/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "e1=http://127.0.0.1:$ETCD_PEER" --initial-cluster-state new \
  >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!
wait_for 20 "etcd healthy" http_ok "http://127.0.0.1:$ETCD_CLIENT/health"

# --- Patroni: two nodes, synchronous replication, quick failover ------------------------------
# ttl 10 / loop_wait 1 / retry_timeout 3: a dead primary's key is given up within seconds;
# primary_start_timeout 0: a crashed primary fails over at once instead of being restarted in
# place; synchronous_mode: a commit is acknowledged only once the standby has it, so the
# standby Patroni promotes holds every acknowledged transaction.
patroni_config() {
  local name=$1 pg=$2 api=$3
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/patroni.yml" <<YAML
scope: $SCOPE
name: $name
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$api
  connect_address: 127.0.0.1:$api
etcd3:
  hosts: 127.0.0.1:$ETCD_CLIENT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    primary_start_timeout: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 5
        max_replication_slots: 5
        max_connections: 60
        shared_buffers: 32MB
        synchronous_commit: "on"
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
postgresql:
  listen: 127.0.0.1:$pg
  connect_address: 127.0.0.1:$pg
  data_dir: $WORK/$name/data
  bin_dir: $PG_BIN
  pgpass: $WORK/$name/pgpass
  authentication:
    superuser:
      username: postgres
      password: failover-test
    replication:
      username: replicator
      password: failover-test
  parameters:
    unix_socket_directories: $WORK/$name
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
YAML
}
patroni_config pg1 "$PG1" "$API1"
patroni_config pg2 "$PG2" "$API2"
chown -R "$PG_USER:" "$WORK"
say "Patroni pg1 (PostgreSQL 127.0.0.1:$PG1, REST :$API1) and pg2 (:$PG2, REST :$API2)"
bg_pg patroni "$WORK/pg1/patroni.yml" >"$WORK/pg1.log" 2>&1 &
PAT1_PID=$!
wait_for 60 "pg1 bootstrapped as primary" http_ok "http://127.0.0.1:$API1/primary"
bg_pg patroni "$WORK/pg2/patroni.yml" >"$WORK/pg2.log" 2>&1 &
PAT2_PID=$!
wait_for 60 "pg2 streaming as the synchronous standby" http_ok "http://127.0.0.1:$API2/sync"

# --- HAProxy: one address that always leads to the primary ------------------------------------
# Patroni's documented client path for a driver without multi-host support: HAProxy checks each
# node's REST API, `GET /primary` answers 200 only on the leader; `on-marked-down
# shutdown-sessions` cuts the connections to a node that stops being the primary.
cat >"$WORK/haproxy.cfg" <<CFG
global
  maxconn 200
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 1s
listen postgres
  bind 127.0.0.1:$PROXY
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
  server pg1 127.0.0.1:$PG1 check port $API1
  server pg2 127.0.0.1:$PG2 check port $API2
CFG
chown "$PG_USER:" "$WORK/haproxy.cfg"
say "HAProxy on 127.0.0.1:$PROXY"
bg_pg haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PROXY_PID=$!
# (Patroni answers /primary as soon as it holds the leader key, a moment before the new primary
# accepts writes: retried until it does.)
wait_for 30 "a writable primary through HAProxy" \
  psql -h 127.0.0.1 -p "$PROXY" -U postgres -d postgres -qc 'CREATE DATABASE medclaim'
DATABASE_URL=postgres://postgres@127.0.0.1:$PROXY/medclaim
# HAProxy starts with both nodes marked up and needs two failed checks to mark the standby down:
# until then a new connection may land on the standby, where the database may not be replayed
# yet ("database medclaim does not exist"). Wait until six new connections in a row reach the
# primary.
primary_only() {
  local i
  for i in 1 2 3 4 5 6; do
    [ "$(psql -h 127.0.0.1 -p "$PROXY" -U postgres -d medclaim -Atc 'SELECT pg_is_in_recovery()')" = f ] ||
      return 1
  done
}
wait_for 30 "HAProxy leading only to the primary" primary_only

# --- medclaim, through HAProxy ---------------------------------------------------------------
say "medclaim serve --demo (DATABASE_URL=$DATABASE_URL)"
mkdir -p "$WORK/medclaim"
: >"$WORK/medclaim.log"
# (The per-account upload limit is per process and meant for people: the load's four claimants
# upload far more photos a minute than that.)
DATABASE_URL=$DATABASE_URL RUST_LOG=${RUST_LOG:-warn} \
  MEDCLAIM_UPLOADS_PER_MINUTE=100000 MEDCLAIM_UPLOAD_BURST=100000 MEDCLAIM_METRICS_TOKEN=failover \
  "$MEDCLAIM_BIN" --data-dir "$WORK/medclaim" serve --demo --bind 127.0.0.1:0 \
  >"$WORK/medclaim.log" 2>&1 &
MEDCLAIM_PID=$!
APP=
deadline=$((SECONDS + 120))
while [ -z "$APP" ]; do
  APP=$(sed -n 's#^medclaim listening on \(http://[^ ]*\)/$#\1#p' "$WORK/medclaim.log" | head -n 1)
  [ -n "$APP" ] && break
  kill -0 "$MEDCLAIM_PID" 2>/dev/null || die "medclaim did not start"
  [ $SECONDS -lt $deadline ] || die "medclaim did not start within 120 s"
  sleep 0.2
done
say "medclaim at $APP"

# --- the load, the kill and the checks -----------------------------------------------------------
# (In the background with `wait`, so that a SIGTERM — `timeout` — reaches the trap at once.)
python3 .ci/failover-load.py --app "$APP" \
  --node "pg1,$PG1,http://127.0.0.1:$API1,$WORK/pg1/data" \
  --node "pg2,$PG2,http://127.0.0.1:$API2,$WORK/pg2/data" \
  --psql "host=127.0.0.1 port=$PROXY user=postgres dbname=medclaim" \
  --medclaim-pid "$MEDCLAIM_PID" --metrics-token failover &
LOAD_PID=$!
wait "$LOAD_PID"
LOAD_PID=

# What medclaim met while the database was away (causes only: the log carries no personal data).
unavailable_causes() {
  sed 's/\x1b\[[0-9;]*m//g' "$WORK/medclaim.log" | grep 'database unavailable' \
    | sed -n 's/.*error="\{0,1\}\([^"]*\).*/\1/p' | sed 's/: .*: /: /; s/[0-9]\{3,\}/N/g' \
    | sort | uniq -c | sort -rn | head -n 8
}
say "medclaim's log: $(grep -c 'database unavailable' "$WORK/medclaim.log" || true) answer(s) 503 unavailable; causes:"
unavailable_causes || true

say "medclaim audit verify (against the new primary, through HAProxy)"
DATABASE_URL=$DATABASE_URL "$MEDCLAIM_BIN" --data-dir "$WORK/medclaim" audit verify \
  || die "the audit chain does not verify after failover"
kill -0 "$MEDCLAIM_PID" 2>/dev/null || die "medclaim exited"
say "passed"

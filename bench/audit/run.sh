#!/usr/bin/env bash
# Issue 19 item 3: what the audit chain costs the booking transaction on PostgreSQL.
# pgbench runs the same booking transaction three ways — without audit (plain.sql), with the
# chain head locked by every writer as before migration 0021 (head.sql), and with the event
# only inserted for the sealer as now (pending.sql) — on one hot slot and spread over 1,000
# slots, RUNS times each, and prints each run's tps and the median. Then it times the sealer:
# `medclaim audit verify` seals every event the pending runs wrote and checks the chain.
#
#   bash bench/audit/run.sh            # PG=postgres://postgres@127.0.0.1:5432 SECS=15 RUNS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=medclaim_auditbench
BIN=${MEDCLAIM_BIN:-target/debug/medclaim}
SECS=${SECS:-15}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-16}
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
DATABASE_URL="$PG/$DB" "$BIN" --data-dir "$DATA" migrate >/dev/null
psql "$PG/$DB" -q <<'SQL'
CREATE TABLE bench_slots (id BIGINT PRIMARY KEY, capacity BIGINT NOT NULL, booked BIGINT NOT NULL);
CREATE TABLE bench_bookings (id BIGSERIAL PRIMARY KEY, slot_id BIGINT NOT NULL, created_at BIGINT NOT NULL);
INSERT INTO bench_slots SELECT g, 1000000000, 0 FROM generate_series(1, 1000) g;
SQL

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run() { # script slots
  local tps=()
  for _ in $(seq 1 "$RUNS"); do
    psql "$PG/$DB" -qc "VACUUM bench_slots" >/dev/null
    tps+=("$("$PGBENCH" -n -c "$CLIENTS" -j 2 -T "$SECS" -D slots="$2" -f "bench/audit/$1.sql" "$PG/$DB" 2>/dev/null \
      | awk '/^tps = / {printf "%.0f", $3}')")
  done
  printf '%-8s slots=%-5s runs: %s  median: %s tps\n' "$1" "$2" "${tps[*]}" "$(printf '%s\n' "${tps[@]}" | median)"
}

echo "pgbench, $CLIENTS clients, ${SECS}s per run, $(nproc) cores"
for slots in 1 1000; do
  run plain "$slots"
  run pending "$slots"
  if [ "$slots" = 1 ]; then
    # Seal what the pending runs wrote before the head runs append to the chain themselves.
    pending=$(psql "$PG/$DB" -Atc "SELECT COUNT(*) FROM audit_events WHERE seq IS NULL")
    start=$(date +%s.%N)
    DATABASE_URL="$PG/$DB" "$BIN" --data-dir "$DATA" audit verify
    end=$(date +%s.%N)
    awk -v n="$pending" -v a="$start" -v b="$end" \
      'BEGIN {printf "sealer: %d pending events sealed and the chain verified in %.1f s (%.0f events/s)\n", n, b-a, n/(b-a)}'
  fi
  run head "$slots"
done
psql "$PG/postgres" -qc "DROP DATABASE $DB"

#!/usr/bin/env bash
# Issue 19: the term-start scenarios against `medclaim serve` (release build, loopback), on
# SQLite and PostgreSQL, RUNS times each, with the database's own limits measured in the same
# run; prints the medians (bench/load/summary.py). Seeding 100,000 students / 300,000 cases /
# 1,000,000 invoices takes a few minutes per database and is done once per data directory.
#
#   bash bench/load/run.sh                       # both databases, all scenarios, RUNS=3
#   BACKENDS=sqlite SCENARIOS="list queue" RUNS=1 bash bench/load/run.sh
#
# Environment: OUT (data directories and results, default /tmp/medclaim-load), PG
# (postgres://postgres@127.0.0.1:5432), STUDENTS, CASES, SECS (seconds per timed scenario),
# MEDCLAIM_BIN and LABEL (a server build to compare, e.g. main before a change: LABEL=before).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/medclaim-load}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
RUNS=${RUNS:-3}
STUDENTS=${STUDENTS:-100000}
CASES=${CASES:-300000}
SECS=${SECS:-20}
BACKENDS=${BACKENDS:-sqlite postgres}
SCENARIOS=${SCENARIOS:-idle list queue search-number search-name claim hub book-hot book-spread storm limits export import}
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)

[ -n "${NO_BUILD:-}" ] || cargo build --release --locked --bin medclaim --example load_bench
B=target/release/examples/load_bench
M=${MEDCLAIM_BIN:-target/release/medclaim}   # another build (LABEL=before) to compare with
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"

for backend in $BACKENDS; do
  dir=$OUT/$backend
  if [ "$backend" = postgres ]; then
    export DATABASE_URL=$PG/medclaim_loadbench
  else
    unset DATABASE_URL
  fi
  if [ ! -f "$dir/plan.json" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$backend" = postgres ]; then
      psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS medclaim_loadbench" -c "CREATE DATABASE medclaim_loadbench"
    fi
    /usr/bin/time -f "seed: %e s, peak RSS %M KiB" "$B" seed "$dir" "$STUDENTS" "$CASES"
  fi
  for scenario in $SCENARIOS; do
    for run in $(seq 1 "$RUNS"); do
      case $scenario in
        limits)
          "$B" limit "$dir" list 10
          "$B" limit "$dir" booking-hot 10
          "$B" limit "$dir" booking-spread 10
          if [ "$backend" = postgres ]; then
            # The same booking statements through pgbench (16 clients), the reference tool.
            vars=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); a=p["ranges"]["approved"]; c, s, n = p["first_case_id"], p["first_student_id"], p["students"]; print(f"-D first_case={c} -D approved_start={a[0]} -D approved={a[1]-a[0]} -D first_student={s} -D students={n}")' "$dir/plan.json")
            hot=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hot_slot"])' "$dir/plan.json")
            for slots in 1 1000; do
              first=$hot; [ "$slots" = 1000 ] && first=$((hot + 1))
              # shellcheck disable=SC2086
              tps=$("$PGBENCH" -n -c 16 -j 2 -T 10 $vars -D slot_first="$first" -D slots="$slots" -f bench/load/book.sql "$DATABASE_URL" 2>/dev/null | awk '/^tps = / {printf "%.0f", $3}')
              echo "{\"limit\": \"pgbench-booking-$slots\", \"backend\": \"postgres\", \"per_second\": $tps}" | tee -a "$dir/results.jsonl"
            done
          fi
          ;;
        import|export|idle)
          "$B" run "$dir" "$M" "$scenario" ;;
        *)
          "$B" run "$dir" "$M" "$scenario" 0 0 "$SECS" ;;
      esac
    done
  done
done
python3 bench/load/summary.py "$OUT"/*/results.jsonl

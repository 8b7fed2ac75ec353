#!/usr/bin/env bash
# bench/dashboards.sh: speed of the dashboards over the rollups (issue
# "Dashboards and coaching in C over incremental rollups"), measured in one run
# on a fresh cluster, as the postgres user after make install:
#   1. manager_dashboard(days => 30) of one tenant (10 reps, 8 action types,
#      outcomes over a year) at 1 million and at 10 million outcomes: median
#      in-server milliseconds, next to the same numbers recomputed from the
#      outcome rows in plain SQL (bench_recompute) in the same run;
#   2. eight concurrent writers on one action type next to eight on eight
#      different action types, with the rollup triggers in place.
# Data generator: bench/dashboards_gen.sql (deterministic, through the normal
# write path: every trigger fires).
# Usage: bash bench/dashboards.sh [seconds-per-pgbench-run]   (default 15)
# Prints a markdown section for bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench-dashboards}
mkdir -p "$TEST_ROOT"
. test/lib.sh
SECS=${1:-15}
PORT=56220
BATCH=250000
start_cluster dash $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "shared_buffers = '1GB'" "synchronous_commit = off" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
    "work_mem = '64MB'"
trap 'stop_cluster dash' EXIT
PSQL="$PGBIN/psql -h $TEST_ROOT -p $PORT -U postgres -XAtq -v ON_ERROR_STOP=1"
$PSQL -d postgres -c "CREATE DATABASE bench"
$PSQL -d bench -c "CREATE EXTENSION learning"
$PSQL -d bench -f bench/dashboards_gen.sql

load() {  # $1 = first outcome number, $2 = last
    local i=$1 t0=$SECONDS
    while [ "$i" -le "$2" ]; do
        $PSQL -d bench -c "SELECT bench_load('bench', $i, $(( $2 - i + 1 < BATCH ? $2 - i + 1 : BATCH )))" >/dev/null
        i=$(( i + BATCH ))
    done
    echo $(( SECONDS - t0 ))
}

measure() {  # prints "dashboard_ms recompute_ms rollup_rows_read"
    $PSQL -d bench -c "VACUUM ANALYZE"
    local dash rec rows
    $PSQL -d bench -c "SELECT bench_time(\$\$SELECT learning.manager_dashboard('bench', 30)\$\$, 20)" >/dev/null  # warm
    dash=$($PSQL -d bench -c "SELECT bench_time(\$\$SELECT learning.manager_dashboard('bench', 30)\$\$, 100)")
    rec=$($PSQL -d bench -c "SELECT bench_time(\$\$SELECT bench_recompute('bench', 30)\$\$, 5)")
    rows=$($PSQL -d bench -c "SELECT count(*) FROM learning.outcome_rollups WHERE tenant_id = 'bench'
                                 AND day > (now() AT TIME ZONE 'UTC')::date - 30")
    echo "$dash $rec $rows"
}

s1=$(load 1 1000000)
$PSQL -d bench -c "SELECT bench_feedback('bench', 20000)" >/dev/null
read -r d1 r1 rows1 <<<"$(measure)"
total1=$($PSQL -d bench -c "SELECT count(*) FROM learning.outcome_rollups WHERE tenant_id = 'bench'")
s2=$(load 1000001 10000000)
$PSQL -d bench -c "SELECT bench_feedback('bench', 20000)" >/dev/null
read -r d2 r2 rows2 <<<"$(measure)"
total2=$($PSQL -d bench -c "SELECT count(*) FROM learning.outcome_rollups WHERE tenant_id = 'bench'")
outcomes=$($PSQL -d bench -c "SELECT count(*) FROM learning.outcome_records")
same_numbers=$($PSQL -d bench -c "
    SELECT (d->'team_trends'->>'total_outcomes')::bigint = (r->>'total')::bigint
           AND (d->'feedback_health'->>'conversation_days')::bigint = (r->>'conversation_days')::bigint
      FROM learning.manager_dashboard('bench', 30) d, bench_recompute('bench', 30) r")

# 2. concurrency with the rollups in place
cat >"$TEST_ROOT/same.sql" <<'SQL'
SELECT learning.record_outcome('conc', 'conv-' || :client_id || '-' || random(), 'same_type', random(), 'email_engagement', rep_id => 'rep1') AS id \gset
SELECT status FROM learning.resolve_outcome('conc', :id, 'positive');
SQL
cat >"$TEST_ROOT/spread.sql" <<'SQL'
SELECT learning.record_outcome('conc', 'conv-' || :client_id || '-' || random(), 'type_' || :client_id, random(), 'email_engagement', rep_id => 'rep1') AS id \gset
SELECT status FROM learning.resolve_outcome('conc', :id, 'positive');
SQL
tps() {  # $1 = script, $2 = clients
    "$PGBIN/pgbench" -h "$TEST_ROOT" -p $PORT -U postgres -n -M prepared -c "$2" -j 2 -T "$SECS" -f "$1" bench 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
spread=$(tps "$TEST_ROOT/spread.sql" 8)
same=$(tps "$TEST_ROOT/same.sql" 8)

echo "## dashboards (bench/dashboards.sh, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'))"
echo
echo "One tenant, 10 reps, 8 action types, outcomes spread over 365 days, loaded through the normal write"
echo "path (every trigger fires: $s1 s for the first million, $s2 s for the next nine), 20 000 feedback"
echo "entries per step.  Median in-server milliseconds (bench_time: 100 calls of the dashboard after 20"
echo "warm-up calls, 5 of the recomputation).  The recomputation is bench_recompute in"
echo "bench/dashboards_gen.sql: the same numbers from the outcome and feedback rows in plain SQL."
echo
echo "| outcomes | manager_dashboard(days => 30) | plain-SQL recomputation | speed-up | rollup rows in the period / in all |"
echo "|---|---|---|---|---|"
echo "| 1 million | $d1 ms | $r1 ms | $(awk "BEGIN {printf \"%.0f×\", $r1 / $d1}") | $rows1 / $total1 |"
echo "| 10 million ($outcomes) | $d2 ms | $r2 ms | $(awk "BEGIN {printf \"%.0f×\", $r2 / $d2}") | $rows2 / $total2 |"
echo
echo "- 10M / 1M dashboard time: $(awk "BEGIN {printf \"%.2f\", $d2 / $d1}") (goal ≤ 1.5)"
echo "- speed-up at 10M: $(awk "BEGIN {printf \"%.0f\", $r2 / $d2}")× (goal ≥ 100×)"
echo "- dashboard and recomputation agree on total_outcomes and conversation days: $same_numbers"
echo
echo "Eight concurrent writers with the rollups in place (pgbench -c 8 -j 2 -M prepared, ${SECS} s each;"
echo "one transaction = record_outcome + resolve_outcome, so every rollup table and the outbox are written):"
echo
echo "| workload | transactions/s |"
echo "|---|---|"
echo "| 8 clients, 8 different action types | $spread |"
echo "| 8 clients, one action type | $same |"
echo "| one type / different types | $(awk "BEGIN {printf \"%.1f %%\", 100 * $same / $spread}") (goal ≥ 90 %) |"

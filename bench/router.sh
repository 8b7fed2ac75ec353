#!/usr/bin/env bash
# bench/router.sh: what the router (learning_router on PL/Proxy) costs and
# what it buys, on this machine, as the postgres user after make install:
#   1. per-call latency, one client, one call at a time: a decision-time read
#      (adjusted_confidence) and a write (record_outcome), called directly on
#      a shard and through the router (which adds a hop over a unix socket);
#   2. throughput of record_outcome with 8 clients: directly on one shard
#      server, through the router to one shard server, through the router to
#      two shard servers (after a reshard, whose duration is reported);
# Realistic keys: 64 tenants (t01..t64) with 500 resolved outcomes each on 4
# action types; each transaction picks a tenant at random.  Every server runs
# on this machine, so the router, the shards and pgbench share its cores.
# Usage: bash bench/router.sh [seconds-per-pgbench-run]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench-router}
mkdir -p "$TEST_ROOT"
. test/lib.sh
SECS=${1:-10}
R=56340; A=56341; B=56342
common=("fsync = on" "synchronous_commit = off" "shared_buffers = '256MB'" "max_connections = 100")
start_cluster bench_router $R "${common[@]}"
start_cluster bench_shard_a $A "shared_preload_libraries = 'learning'" "learning.enabled = off" "${common[@]}"
start_cluster bench_shard_b $B "shared_preload_libraries = 'learning'" "learning.enabled = off" "${common[@]}"
trap 'stop_cluster bench_router; stop_cluster bench_shard_a; stop_cluster bench_shard_b' EXIT
PSQL="$PGBIN/psql -h $TEST_ROOT -U postgres -XAtq -v ON_ERROR_STOP=1"
for p in $A $B; do $PSQL -p $p -d postgres -c "CREATE DATABASE shard"; $PSQL -p $p -d shard -c "CREATE EXTENSION learning"; done
$PSQL -p $R -d postgres -c "CREATE DATABASE router"
$PSQL -p $R -d router -c "SET client_min_messages = warning; CREATE EXTENSION learning_router CASCADE"
CA="host=$TEST_ROOT port=$A dbname=shard"; CB="host=$TEST_ROOT port=$B dbname=shard"
$PSQL -p $R -d router -c "SELECT learning_router.set_shards(ARRAY['$CA'])" >/dev/null

# 64 tenants x 500 resolved outcomes, written on shard A (the only shard yet)
$PSQL -p $A -d shard -c "
  INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                        outcome_type, status, window_expires_at, created_at)
  SELECT 't' || lpad((1 + i % 64)::text, 2, '0'), 'c' || i, (ARRAY['send_email','qualify','book_meeting','escalate'])[1 + (i / 64) % 4],
         random(), 'email_engagement', CASE WHEN random() < 0.45 THEN 'positive' ELSE 'negative' END,
         now() + interval '1 day', now() - random() * interval '60 days'
    FROM generate_series(0, 64 * 500 - 1) i; ANALYZE"

cat >"$TEST_ROOT/read.sql" <<'EOF'
\set n random(1, 64)
SELECT learning.adjusted_confidence('t' || lpad(:n::text, 2, '0'), 'send_email', 0.7);
EOF
cat >"$TEST_ROOT/write.sql" <<'EOF'
\set n random(1, 64)
SELECT learning.record_outcome('t' || lpad(:n::text, 2, '0'), 'bench', 'send_email', 0.6, 'email_engagement');
EOF
run() {  # run PORT DB SCRIPT CLIENTS -> "tps latency_ms"
    "$PGBIN/pgbench" -h "$TEST_ROOT" -p $1 -U postgres -n -M prepared -T "$SECS" -c $4 -j $(( $4 < 2 ? 1 : 2 )) -f "$TEST_ROOT/$3" $2 2>&1 |
        awk '/latency average/ {lat = $4} /^tps/ {tps = $3} END {printf "%.0f %.3f\n", tps, lat}'
}

echo "## router (\`bash bench/router.sh $SECS\`, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'), PL/Proxy, synchronous_commit = off)"
echo
echo "64 tenants with 500 resolved outcomes each; every transaction picks one at random. Router, shards"
echo "and pgbench run on this machine and share its $(nproc) cores; the router reaches the shards over unix sockets."
echo
echo "### 1. per-call latency, one client (pgbench -c 1 -M prepared, $SECS s each)"
echo
echo "| call | direct on the shard | through the router | router overhead |"
echo "|---|---|---|---|"
for s in read write; do
    set -- $(run $A shard $s.sql 1); d_tps=$1 d_lat=$2
    set -- $(run $R router $s.sql 1); r_tps=$1 r_lat=$2
    name=$([ $s = read ] && echo "adjusted_confidence (decision-time read)" || echo "record_outcome (write)")
    echo "| $name | $d_lat ms ($d_tps calls/s) | $r_lat ms ($r_tps calls/s) | +$(awk -v a=$r_lat -v b=$d_lat 'BEGIN {printf "%.3f", a - b}') ms |"
done
echo
echo "### 2. record_outcome throughput, 8 clients (pgbench -c 8 -j 2 -M prepared, $SECS s each)"
echo
echo "| setup | transactions/s | average latency |"
echo "|---|---|---|"
set -- $(run $A shard write.sql 8); echo "| direct on one shard server | $1 | $2 ms |"
set -- $(run $R router write.sql 8); echo "| router -> 1 shard server | $1 | $2 ms |"
t0=$(date +%s%N)
moved=$($PSQL -p $R -d router -c "SET client_min_messages = warning" -c "CALL learning_router.reshard(ARRAY['$CA', '$CB'])" \
        -c "SELECT count(*) || ' tenants, ' || sum((rows_moved->>'outcome_records')::int) || ' outcomes' FROM learning_router.reshard_log")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
set -- $(run $R router write.sql 8); echo "| router -> 2 shard servers | $1 | $2 ms |"
echo
echo "Reshard from 1 to 2 shard servers: $moved moved in $ms ms."

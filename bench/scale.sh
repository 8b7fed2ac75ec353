#!/usr/bin/env bash
# bench/scale.sh: many tenants and bulk work (as the postgres user, after make install).
#   1. one transaction writing for 100,000 tenants (one outcome each, distinct
#      conversations): statement and commit time, next to a plain INSERT of the
#      same rows into a table with the same columns and indexes, with the
#      default max_locks_per_transaction;
#   2. expire_overdue by the scheduler over 1,000,000 overdue outcomes spread
#      over 100,000 tenants (10 each): time to finish, batches, and the peak
#      anonymous memory (RssAnon) of the scheduler process, sampled every 0.2 s.
# Usage: bash bench/scale.sh [tenants] [outcomes-per-tenant]   (default 100000 10)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench}
mkdir -p "$TEST_ROOT"
. test/lib.sh
TENANTS=${1:-100000}
PER=${2:-10}
PORT=55510
start_cluster scale $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "shared_buffers = '1GB'" "synchronous_commit = off" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
    "learning.expire_overdue_interval = '1s'"
trap 'stop_cluster scale' EXIT
PSQL="$PGBIN/psql -h $TEST_ROOT -p $PORT -U postgres -XAtq -v ON_ERROR_STOP=1"
$PSQL -d postgres -c "CREATE DATABASE bench"
$PSQL -d bench -c "CREATE EXTENSION learning"
$PSQL -d bench -c "CREATE TABLE plain (LIKE learning.outcome_records INCLUDING DEFAULTS INCLUDING INDEXES)"
ms() { date +%s%3N; }

echo "## scale (bench/scale.sh $TENANTS $PER, $(date -u +%Y-%m-%d), $(nproc) cores, max_locks_per_transaction = $($PSQL -d bench -c 'SHOW max_locks_per_transaction'))"
echo
echo "### 1. one transaction writing for $TENANTS tenants (one outcome each)"
echo
OUT=$($PSQL -d bench <<SQL
\\timing on
BEGIN;
SELECT count(learning.record_outcome('t' || i, 'conv-' || i, 'send_email', 0.5, 'email_engagement', rep_id => 'rep-' || (i % 7)))
  FROM generate_series(1, $TENANTS) i;
COMMIT;
BEGIN;
INSERT INTO plain (tenant_id, conversation_state_id, action_type, predicted_confidence, outcome_type, window_expires_at, rep_id)
SELECT 't' || i, 'conv-' || i, 'send_email', 0.5, 'email_engagement', now() + interval '1 day', 'rep-' || (i % 7)
  FROM generate_series(1, $TENANTS) i;
COMMIT;
SQL
)
times=($(echo "$OUT" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'))
echo "| | statement | commit |"
echo "|---|---|---|"
echo "| record_outcome for $TENANTS tenants | ${times[1]} ms | ${times[2]} ms |"
echo "| plain INSERT of the same rows | ${times[4]} ms | ${times[5]} ms |"
echo
echo "events written: $($PSQL -d bench -c "SELECT count(*) FROM learning.events") (one per tenant), notifications queued at commit: $TENANTS"
echo
echo "### 2. expire_overdue over $((TENANTS * PER)) overdue outcomes across $TENANTS tenants"
echo
$PSQL -d bench -c "TRUNCATE learning.outcome_records CASCADE" >/dev/null
t0=$(ms)
$PSQL -d bench -c "INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                                        outcome_type, window_expires_at, created_at)
                   SELECT 't' || (i % $TENANTS), 'c' || i, 'send_email', 0.5, 'email_engagement',
                          now() - interval '2 days', now() - interval '3 days'
                     FROM generate_series(1, $((TENANTS * PER))) i" >/dev/null
t1=$(ms)
echo "loading them (one INSERT … SELECT, the extension's triggers on): $(( (t1 - t0) / 1000 )) s"
$PSQL -d postgres -c "ALTER SYSTEM SET learning.enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
t0=$(ms)
peak=0
for ((k = 0; k < 30000; k++)); do
    pid=$($PSQL -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'learning scheduler' AND datname = 'bench'" || true)
    if [ -n "$pid" ] && [ -r /proc/$pid/status ]; then
        kb=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
        [ "${kb:-0}" -gt "$peak" ] && peak=$kb
    fi
    left=$($PSQL -d bench -c "SELECT count(*) FROM learning.outcome_records WHERE status = 'pending'")
    [ "$left" = "0" ] && break
    sleep 0.2
done
t1=$(ms)
batches=$($PSQL -d bench -c "SELECT count(*) || ' batches, ' || sum(items) || ' outcomes, ' || count(*) FILTER (WHERE status = 'failed') || ' failed'
                              FROM learning.job_runs WHERE job_name = 'expire_overdue' AND run_by = 'scheduler'")
echo "the scheduler expired them in $(( (t1 - t0) / 1000 )) s ($batches; learning.job_batch_tenants = 1000);"
echo "peak RssAnon of the scheduler process: $((peak / 1024)) MB"

#!/usr/bin/env bash
# bench/immediate_signals.sh: the cost of one immediate_signals run follows the
# new work, not the history.  One fresh cluster, two databases: "small" with
# 10 thousand pending email_engagement outcomes in history, "big" with 1
# million (plus applied signals, 10 % of the outcomes, as old history).  Each
# round ingests 100 new email signals for pending conversations in each
# database, then times one run (learning.run_job, in-server clock) in each;
# the rounds alternate between the databases.  Prints the median and every
# round in milliseconds.  Run as the postgres user after make install:
#   bash bench/immediate_signals.sh [rounds]        (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench-signals}
mkdir -p "$TEST_ROOT"
. test/lib.sh
ROUNDS=${1:-7}
PORT=56020
start_cluster bench_signals $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "shared_buffers = '512MB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'"
trap 'stop_cluster bench_signals' EXIT
PSQL="$PGBIN/psql -h $TEST_ROOT -p $PORT -U postgres -XAtq -v ON_ERROR_STOP=1"

load() {  # $1 = database, $2 = pending outcomes in history
    $PSQL -d postgres -c "CREATE DATABASE $1"
    $PSQL -d "$1" -c "CREATE EXTENSION learning" 2>/dev/null
    $PSQL -d "$1" -c "
      INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                            outcome_type, window_expires_at, created_at)
      SELECT 't' || (i % 20), 'c' || i, 'send_email', random(), 'email_engagement',
             c + interval '24 hours', c
        FROM generate_series(1, $2) i, LATERAL (SELECT now() - random() * interval '20 hours' AS c) t"
    $PSQL -d "$1" -c "
      INSERT INTO learning.signals (tenant_id, conversation_state_id, signal_type, occurred_at, ingested_at, applied_at)
      SELECT 't' || (i % 20), 'old' || i, 'email_replied', now() - interval '2 days', now() - interval '2 days',
             now() - interval '2 days'
        FROM generate_series(1, $2 / 10) i"
    $PSQL -d "$1" -c "VACUUM ANALYZE"
}

round() {  # $1 = database, $2 = history size, $3 = round: prints "ms items"
    $PSQL -d "$1" -c "
      SELECT learning.ingest_signal('t' || (i % 20), 'c' || i, 'email_replied')
        FROM (SELECT (($3 * 7919 + g * 104729) % $2) + 1 AS i FROM generate_series(1, 100) g) s" >/dev/null
    $PSQL -d "$1" -c "
      DO \$\$
      DECLARE t0 timestamptz := clock_timestamp(); r jsonb;
      BEGIN
        r := learning.run_job('immediate_signals');
        RAISE NOTICE '% %', round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 2), r->>'items';
      END \$\$" 2>&1 | sed -n 's/.*NOTICE:  //p'
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

t0=$(date +%s)
load small 10000
load big 1000000
echo "# loaded in $(( $(date +%s) - t0 )) s"

small=(); big=()
for ((r = 1; r <= ROUNDS; r++)); do
    read -r ms items < <(round small 10000 "$r"); small+=("$ms"); echo "# round $r small: $ms ms, $items outcomes resolved"
    read -r ms items < <(round big 1000000 "$r"); big+=("$ms");   echo "# round $r big:   $ms ms, $items outcomes resolved"
done

echo "## immediate_signals (bench/immediate_signals.sh, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'))"
echo "one run applying 100 new email signals, median of $ROUNDS rounds, in-server time:"
echo "- 10 thousand pending outcomes in history: $(printf '%s\n' "${small[@]}" | median) ms (rounds: ${small[*]})"
echo "- 1 million pending outcomes in history:   $(printf '%s\n' "${big[@]}" | median) ms (rounds: ${big[*]})"

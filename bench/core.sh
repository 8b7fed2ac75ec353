#!/usr/bin/env bash
# bench/core.sh: the core issue's speed figures, measured in one run on a fresh
# cluster (as the postgres user, after make install):
#   1. decision-time reads (adjusted_confidence, calibrated_probability,
#      brier_score(tenant, type), calibration_curve) at 10 thousand and at
#      1 million outcomes: in-server microseconds per call;
#   2. record + resolve, one call at a time, next to a plain INSERT + UPDATE by
#      primary key into a table with the same columns and indexes; realistic
#      keys: every outcome its own conversation, nine reps; also in-server,
#      5000 pairs in one statement, next to the same INSERT + UPDATE in
#      PL/pgSQL; and a bulk import (COPY) next to a plain COPY;
#   3. eight clients recording and resolving on ONE action type next to eight
#      clients on eight different action types.
# Usage: bash bench/core.sh [seconds-per-pgbench-run]   (default 20)
#        SYNC_COMMIT=on bash bench/core.sh 20   (default off: commits do not wait for the WAL flush)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench}
mkdir -p "$TEST_ROOT"
. test/lib.sh
SECS=${1:-20}
SYNC_COMMIT=${SYNC_COMMIT:-off}
PORT=55500
start_cluster bench $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "shared_buffers = '1GB'" "synchronous_commit = $SYNC_COMMIT" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'"
trap 'stop_cluster bench' EXIT
PSQL="$PGBIN/psql -h $TEST_ROOT -p $PORT -U postgres -XAtq -v ON_ERROR_STOP=1"
$PSQL -d postgres -c "CREATE DATABASE bench"
$PSQL -d bench -c "CREATE EXTENSION learning"

# per-call cost of a function, measured inside the server over N calls
per_call() {  # $1 = SQL expression using i, $2 = calls
    $PSQL -d bench -c "
      DO \$\$
      DECLARE t0 timestamptz; v float8; j jsonb; n int := $2;
      BEGIN
        t0 := clock_timestamp();
        FOR i IN 1..n LOOP PERFORM $1; END LOOP;
        RAISE NOTICE '%', round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / n)::numeric, 2);
      END \$\$" 2>&1 | sed -n 's/.*NOTICE:  //p'
}

load_outcomes() {  # $1 = tenant, $2 = count: resolved outcomes over 4 action types
    $PSQL -d bench -c "
      INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                            outcome_type, status, window_expires_at, created_at)
      SELECT '$1', 'c' || i, (ARRAY['send_email','qualify','book_meeting','escalate'])[1 + i % 4], random(),
             'email_engagement', CASE WHEN random() < 0.45 THEN 'positive' ELSE 'negative' END,
             now() + interval '1 day', now() - random() * interval '300 days'
        FROM generate_series(1, $2) i"
}

tps() {  # $1 = script, $2 = clients
    "$PGBIN/pgbench" -h "$TEST_ROOT" -p $PORT -U postgres -n -M prepared -c "$2" -j $(( $2 < 2 ? $2 : 2 )) -T "$SECS" -f "$1" bench 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

# pair_scripts NAME TENANT TABLE: the pgbench scripts of one record + resolve
# pair, $TEST_ROOT/NAME_ours.sql and NAME_plain.sql, with keys as agents
# produce them (each outcome its own conversation, nine reps), and TABLE, the
# plain table: the same columns, defaults and indexes (not the extension's
# check or triggers)
pair_scripts() {
    $PSQL -d bench -c "CREATE TABLE $3 (LIKE learning.outcome_records INCLUDING DEFAULTS INCLUDING INDEXES)"
    cat >"$TEST_ROOT/$1_ours.sql" <<SQL
\\set n random(1, 2000000000)
SELECT learning.record_outcome('$2', 'conv-' || :n, 'send_email', random(), 'email_engagement', rep_id => 'rep-' || (:n % 9)) AS id \\gset
SELECT status FROM learning.resolve_outcome('$2', :id, 'positive');
SQL
    cat >"$TEST_ROOT/$1_plain.sql" <<SQL
\\set n random(1, 2000000000)
INSERT INTO $3 (tenant_id, conversation_state_id, action_type, predicted_confidence, outcome_type, window_expires_at, rep_id)
VALUES ('$2', 'conv-' || :n, 'send_email', random(), 'email_engagement', now() + interval '24 hours', 'rep-' || (:n % 9)) RETURNING id \\gset
UPDATE $3 SET status = 'positive', outcome_score = 1.0, signal_source = 'manual', resolved_at = now()
 WHERE tenant_id = '$2' AND id = :id AND status = 'pending';
SQL
}

# record + resolve on a fresh database (small tables: the regime every
# install starts in), measured before any history is loaded
pair_scripts fresh fresh fresh_plain
fresh_ours=$(tps "$TEST_ROOT/fresh_ours.sql" 1)
fresh_plain=$(tps "$TEST_ROOT/fresh_plain.sql" 1)
fresh_rows=$($PSQL -d bench -c "SELECT count(*) FROM learning.outcome_records")

echo "## core (bench/core.sh, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'), synchronous_commit = $SYNC_COMMIT)"
echo
echo "### 1. decision-time reads, in-server microseconds per call (10000 calls each)"
echo
echo "| function | 10 thousand outcomes | 1 million outcomes |"
echo "|---|---|---|"
load_outcomes small 10000
load_outcomes large 1000000
# vacuumed too, so that autovacuum does not work on these rows during the
# measurements that follow
$PSQL -d bench -c "VACUUM ANALYZE"
for f in "learning.adjusted_confidence(T, 'send_email', 0.7)" \
         "learning.calibrated_probability(T, 'send_email', (i % 100) / 100.0)" \
         "learning.brier_score(T, 'send_email')" \
         "learning.calibration_curve(T, 'send_email')"; do
    small=$(per_call "${f//T/\'small\'}" 10000)
    large=$(per_call "${f//T/\'large\'}" 10000)
    echo "| \`${f//T/tenant}\` | $small µs | $large µs |"
done
echo
echo "Rows read per call: at most 160 bin rows (10 bins × 16 shards), whatever the history:"
$PSQL -d bench -c "SELECT tenant_id, count(*) AS bin_rows, sum(n) AS outcomes FROM learning.calibration_bins WHERE action_type = 'send_email' GROUP BY 1 ORDER BY 1" | sed 's/^/    /'
echo

# 2. record + resolve against plain INSERT + UPDATE
pair_scripts tput tput plain_outcomes
ours=$(tps "$TEST_ROOT/tput_ours.sql" 1)
plain=$(tps "$TEST_ROOT/tput_plain.sql" 1)
echo "### 2. record + resolve, one client, one call at a time (pgbench -M prepared, ${SECS} s each)"
echo
echo "| path | transactions/s (one record + one resolve each) |"
echo "|---|---|"
echo "| learning.record_outcome + learning.resolve_outcome | $ours |"
echo "| plain INSERT + UPDATE by primary key, same columns and indexes | $plain |"
echo "| ratio | $(awk "BEGIN {printf \"%.2f\", $ours / $plain}") |"
echo
echo "Keys: tenant tput, a new conversation per outcome, rep-0 … rep-8, synchronous_commit = $SYNC_COMMIT."
echo
echo "On a fresh database (before any history; $fresh_rows outcomes written by the run): learning $fresh_ours, plain $fresh_plain transactions/s, ratio $(awk "BEGIN {printf \"%.2f\", $fresh_ours / $fresh_plain}")."
echo

# in-server: 5000 record + resolve pairs in one statement, next to the same in PL/pgSQL on the plain table
# (tenant and 'pending' as variables in the plain statements, as the extension
# passes them: literals let the plan pick a per-tenant index and scan all the
# tenant's rows for each UPDATE)
inserver() {  # $1 = the loop body for row i (PL/pgSQL), prints microseconds per pair
    $PSQL -d bench -c "
      DO \$\$
      DECLARE t0 timestamptz; new_id uuid; pending_status text := 'pending'; tenant text := 'inserver';
      BEGIN
        t0 := clock_timestamp();
        FOR i IN 1..5000 LOOP $1 END LOOP;
        RAISE NOTICE '%', round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / 5000)::numeric, 1);
      END \$\$" 2>&1 | sed -n 's/.*NOTICE:  //p'
}
for run in 1 2 3; do   # run 1 warms the plans up
    ours_in=$(inserver "new_id := learning.record_outcome(tenant, 'c-$run-' || i, 'send_email', random(), 'email_engagement', rep_id => 'rep-' || (i % 9));
                        PERFORM learning.resolve_outcome(tenant, new_id, 'positive');")
    plain_in=$(inserver "INSERT INTO plain_outcomes (tenant_id, conversation_state_id, action_type, predicted_confidence, outcome_type, window_expires_at, rep_id)
                         VALUES (tenant, 'c-$run-' || i, 'send_email', random(), 'email_engagement', now() + interval '24 hours', 'rep-' || (i % 9)) RETURNING plain_outcomes.id INTO new_id;
                         UPDATE plain_outcomes SET status = 'positive', outcome_score = 1.0, signal_source = 'manual', resolved_at = now()
                          WHERE tenant_id = tenant AND plain_outcomes.id = new_id AND status = pending_status;")
    echo "In-server, 5000 pairs in one statement (run $run): learning $ours_in µs a pair, plain $plain_in µs a pair, ratio $(awk "BEGIN {printf \"%.2f\", $plain_in / $ours_in}")"
done
echo

# ingest_signal and submit_feedback, in-server, 5000 calls in one statement,
# next to plain INSERTs into tables with the same columns and indexes (keys:
# a conversation per call, nine reviewers, a distinct external_id per signal)
$PSQL -d bench -c "CREATE TABLE plain_signals (LIKE learning.signals INCLUDING DEFAULTS INCLUDING INDEXES);
                   CREATE TABLE plain_feedback (LIKE learning.feedback_entries INCLUDING DEFAULTS INCLUDING INDEXES)"
per_loop() {  # $1 = the loop body for row i (PL/pgSQL), prints microseconds per call
    $PSQL -d bench -c "
      DO \$\$
      DECLARE t0 timestamptz; tenant text := 'inputs';
      BEGIN
        t0 := clock_timestamp();
        FOR i IN 1..5000 LOOP $1 END LOOP;
        RAISE NOTICE '%', round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / 5000)::numeric, 1);
      END \$\$" 2>&1 | sed -n 's/.*NOTICE:  //p'
}
for run in 1 2 3; do
    sig=$(per_loop "PERFORM learning.ingest_signal(tenant, 'c-$run-' || i, 'email_replied', now(), '{}', 'x-$run-' || i);")
    plain_sig=$(per_loop "INSERT INTO plain_signals (tenant_id, conversation_state_id, signal_type, occurred_at, detail, external_id)
                          VALUES (tenant, 'c-$run-' || i, 'email_replied', now(), '{}', 'x-$run-' || i) ON CONFLICT (tenant_id, external_id) DO NOTHING;")
    fb=$(per_loop "PERFORM learning.submit_feedback(tenant, 'c-$run-' || i, 'message', 'm-' || i, 'inline', 1, 'rev-' || (i % 9));")
    plain_fb=$(per_loop "INSERT INTO plain_feedback (tenant_id, conversation_state_id, target_type, target_id, source, rating, reviewer_id, reviewer_role)
                         VALUES (tenant, 'c-$run-' || i, 'message', 'm-' || i, 'inline', 1, 'rev-' || (i % 9), 'rep');")
    echo "In-server, 5000 calls (run $run): ingest_signal $sig µs vs plain INSERT $plain_sig µs (ratio $(awk "BEGIN {printf \"%.2f\", $plain_sig / $sig}")); submit_feedback $fb µs vs plain INSERT $plain_fb µs (ratio $(awk "BEGIN {printf \"%.2f\", $plain_fb / $fb}"))"
done
echo

# bulk import: COPY of historical outcomes (resolved and pending), next to a plain COPY
BULK=${BULK:-1000000}
$PSQL -d bench -c "COPY (SELECT 'bulk-' || (i % 50), 'conv-' || i, 'rep-' || (i % 9), (ARRAY['send_email','qualify','book_meeting','escalate'])[1 + i % 4],
                              (i % 100) / 100.0, 'email_engagement',
                              CASE WHEN i % 3 = 0 THEN 'pending' WHEN i % 3 = 1 THEN 'positive' ELSE 'negative' END,
                              now() - (i % 365) * interval '1 day' + interval '1 day', now() - (i % 365) * interval '1 day'
                         FROM generate_series(1, $BULK) i) TO '$TEST_ROOT/bulk.csv' (FORMAT csv)" >/dev/null
COLS="tenant_id, conversation_state_id, rep_id, action_type, predicted_confidence, outcome_type, status, window_expires_at, created_at"
t0=$(date +%s%3N)
$PSQL -d bench -c "COPY learning.outcome_records ($COLS) FROM '$TEST_ROOT/bulk.csv' (FORMAT csv)" >/dev/null
t1=$(date +%s%3N)
$PSQL -d bench -c "COPY plain_outcomes ($COLS) FROM '$TEST_ROOT/bulk.csv' (FORMAT csv)" >/dev/null
t2=$(date +%s%3N)
echo "Bulk import of $BULK historical outcomes (50 tenants, a conversation each, 9 reps, 4 action types, a year of days, two thirds resolved), one COPY each:"
echo "learning.outcome_records $(( t1 - t0 )) ms, plain table $(( t2 - t1 )) ms, ratio $(awk "BEGIN {printf \"%.2f\", ($t2 - $t1) / ($t1 - $t0)}");"
echo "events written by the import: $($PSQL -d bench -c "SELECT count(*) FROM learning.events WHERE tenant_id LIKE 'bulk-%'"),"
echo "bins equal the rows: $($PSQL -d bench -c "SELECT (SELECT sum(n) FROM learning.calibration_bins WHERE tenant_id LIKE 'bulk-%') = (SELECT count(*) FROM learning.outcome_records WHERE tenant_id LIKE 'bulk-%' AND status <> 'pending')")"
echo

# where the difference goes: one record_outcome per transaction, with and
# without the extension's triggers (bins, rollups, outbox), next to the plain INSERT
cat >"$TEST_ROOT/record.sql" <<'SQL'
\set n random(1, 2000000000)
SELECT learning.record_outcome('split', 'conv-' || :n, 'send_email', random(), 'email_engagement', rep_id => 'rep-' || (:n % 9));
SQL
cat >"$TEST_ROOT/insert.sql" <<'SQL'
\set n random(1, 2000000000)
INSERT INTO plain_outcomes (tenant_id, conversation_state_id, action_type, predicted_confidence, outcome_type, window_expires_at)
VALUES ('split', 'conv-' || :n, 'send_email', random(), 'email_engagement', now() + interval '24 hours');
SQL
latency() {  # $1 = script: average latency in microseconds
    "$PGBIN/pgbench" -h "$TEST_ROOT" -p $PORT -U postgres -n -M prepared -c 1 -j 1 -T "$SECS" -f "$1" bench 2>&1 \
        | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' | awk '{printf "%.0f", $1 * 1000}'
}
rec_all=$(latency "$TEST_ROOT/record.sql")
$PSQL -d bench -c "ALTER TABLE learning.outcome_records DISABLE TRIGGER USER"
rec_bare=$(latency "$TEST_ROOT/record.sql")
$PSQL -d bench -c "ALTER TABLE learning.outcome_records ENABLE TRIGGER USER"
ins=$(latency "$TEST_ROOT/insert.sql")
echo "Where the difference goes (one statement per transaction, average latency):"
echo
echo "| statement | µs |"
echo "|---|---|"
echo "| plain INSERT | $ins |"
echo "| record_outcome with the extension's triggers disabled (no bins, rollups, outbox) | $rec_bare |"
echo "| record_outcome | $rec_all |"
echo

# 3. eight writers on one action type vs eight on eight types
cat >"$TEST_ROOT/same.sql" <<'SQL'
\set n random(1, 2000000000)
SELECT learning.record_outcome('conc', 'conv-' || :n, 'same_type', random(), 'email_engagement', rep_id => 'rep-' || (:n % 9)) AS id \gset
SELECT status FROM learning.resolve_outcome('conc', :id, 'positive');
SQL
cat >"$TEST_ROOT/spread.sql" <<'SQL'
\set n random(1, 2000000000)
SELECT learning.record_outcome('conc', 'conv-' || :n, 'type_' || :client_id, random(), 'email_engagement', rep_id => 'rep-' || (:n % 9)) AS id \gset
SELECT status FROM learning.resolve_outcome('conc', :id, 'positive');
SQL
spread=$(tps "$TEST_ROOT/spread.sql" 8)
same=$(tps "$TEST_ROOT/same.sql" 8)
echo "### 3. eight concurrent clients (pgbench -c 8 -j 2 -M prepared, ${SECS} s each)"
echo
echo "| workload | transactions/s |"
echo "|---|---|"
echo "| 8 clients, 8 different action types | $spread |"
echo "| 8 clients, one action type | $same |"
echo "| one type / different types | $(awk "BEGIN {printf \"%.1f %%\", 100 * $same / $spread}") |"
echo
$PSQL -d bench -c "SELECT 'bins of the shared type: ' || count(*) || ' shard rows, ' || sum(n) || ' outcomes' FROM learning.calibration_bins WHERE tenant_id = 'conc' AND action_type = 'same_type'"
echo

# 4. where a round trip's time goes: every statement the server ran for the
# one-client record + resolve workload of section 2, with its mean time per
# call, from pg_stat_statements (track = all, so the statements our C code
# runs, at commit included, are counted), on a cluster of its own so that
# the figures above are measured without pg_stat_statements loaded
stop_cluster bench
trap 'stop_cluster bench_statements' EXIT
start_cluster bench_statements $PORT "shared_preload_libraries = 'learning, pg_stat_statements'" \
    "pg_stat_statements.track = all" "learning.enabled = off" "shared_buffers = '1GB'" "synchronous_commit = $SYNC_COMMIT"
$PSQL -d postgres -c "CREATE DATABASE bench"
$PSQL -d bench -c "CREATE EXTENSION learning" -c "CREATE EXTENSION pg_stat_statements"
pair_scripts tput tput plain_outcomes
tps "$TEST_ROOT/tput_plain.sql" 1 >/dev/null   # table and plan warm-up
$PSQL -d bench -c "SELECT pg_stat_statements_reset()" >/dev/null
pairs_ours=$(tps "$TEST_ROOT/tput_ours.sql" 1)
pairs_plain=$(tps "$TEST_ROOT/tput_plain.sql" 1)
echo "### 4. where a round trip goes (pg_stat_statements, track = all; ${SECS} s each: learning $pairs_ours, plain $pairs_plain pairs/s with it loaded)"
echo
echo "Mean server time per record + resolve pair, by statement (top level: what the client sent; nested: what our functions and their commit ran):"
echo
echo "| statement | level | µs per pair |"
echo "|---|---|---|"
$PSQL -d bench -F '|' -c "
  WITH pairs AS (SELECT calls AS n FROM pg_stat_statements WHERE query LIKE 'SELECT status FROM learning.resolve_outcome%')
  SELECT '\`' || left(regexp_replace(query, '\s+', ' ', 'g'), 70) || '…\`',
         CASE WHEN toplevel THEN 'top' ELSE 'nested' END,
         round((total_exec_time * 1000 / (SELECT n FROM pairs))::numeric, 1)
    FROM pg_stat_statements
   WHERE query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'INSERT INTO plain_outcomes%'
     AND query NOT LIKE 'UPDATE plain_outcomes%' AND calls >= (SELECT n FROM pairs) / 2
   ORDER BY total_exec_time DESC" | sed 's/^/| /; s/$/ |/'
$PSQL -d bench -F '|' -c "
  SELECT round((sum(total_exec_time * 1000) FILTER (WHERE query LIKE 'INSERT INTO plain_outcomes%' OR query LIKE 'UPDATE plain_outcomes%')
                / max(calls) FILTER (WHERE query LIKE 'UPDATE plain_outcomes%'))::numeric, 1)
    FROM pg_stat_statements" | sed 's/^/| plain INSERT + UPDATE, for comparison | top | /; s/$/ |/'
echo
echo "Statements marked top include the nested ones they ran; commit-time statements (the counter upserts and the outbox) are top level because they run in the commit, outside any client statement. The rest of a round trip is outside statements: parse/bind of the client's call, commit (WAL, locks, NOTIFY) and the network."

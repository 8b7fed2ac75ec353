#!/usr/bin/env bash
# workers_pool.sh: many databases served by a bounded pool of workers.  With
# PostgreSQL's default max_worker_processes (8) and the default
# learning.max_workers (4), 12 databases with the extension, each with an
# outcome, the signal that resolves it and a webhook: every signal is
# applied by a scheduled run, every webhook delivery is made, at most 4
# database workers ever run at once, and each job runs within its interval
# of falling due, never twice within it.  Then with learning.max_workers = 1
# learning.job_status says plainly that a database waits for a worker.
# Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/workers_lib.bash
. sql-tests/scenarios/relay_lib.bash
P=56014; RX=56024; NDB=12; IV=3
SECRET=test-secret-0123456789abcdef
W=$TEST_ROOT/workers_pool.rx
rm -rf "$W"; mkdir -p "$W"
trap relay_cleanup EXIT

mapfile -t conf < <(all_intervals ${IV}s)
start_cluster workers_pool $P "shared_preload_libraries = 'learning'" "${conf[@]}" \
    "max_worker_processes = 8" "learning.webhook_allow_private_networks = on" \
    || { echo "not ok - cluster with learning preloaded starts"; exit 1; }
RELAY_CLUSTERS+=(workers_pool)
start_rx verify $RX "$W/rx.log" "$SECRET"
tap_ok $? "webhook receiver listens"
tap_is "$(q $P postgres "SHOW max_worker_processes")/$(q $P postgres "SHOW learning.max_workers")" "8/4" \
    "default max_worker_processes, default learning.max_workers"

# workers in use, sampled every 0.1 s until the file $W/stop appears
sample() {
    while [ ! -e "$W/stop" ]; do
        q $P postgres "SELECT count(*) FILTER (WHERE backend_type IN ('learning scheduler', 'learning relay')),
                              count(*) FILTER (WHERE backend_type LIKE 'learning%')
                         FROM pg_stat_activity" 2>/dev/null >>"$W/samples"
        sleep 0.1
    done
}
sample &
RELAY_PIDS+=($!)

t0=$(now_ms)
for ((d = 1; d <= NDB; d++)); do
    q $P postgres "CREATE DATABASE wp$d" >/dev/null
    q $P wp$d "CREATE EXTENSION learning" >/dev/null 2>&1
    q $P wp$d "SELECT learning.create_webhook('http://127.0.0.1:$RX/wp$d', ARRAY['outcome_resolved'], 't1', '$SECRET')" >/dev/null
    q $P wp$d "SELECT learning.record_outcome('t1', 'conv-$d', 'send_email', 0.6, 'email_engagement')" >/dev/null
    q $P wp$d "SELECT learning.ingest_signal('t1', 'conv-$d', 'email_replied')" >/dev/null
done
applied=0; delivered=0
for ((i = 0; i < 600; i++)); do
    applied=0
    for ((d = 1; d <= NDB; d++)); do
        [ "$(q $P wp$d "SELECT status FROM learning.outcome_records WHERE conversation_state_id = 'conv-$d'")" == "positive" ] &&
            applied=$((applied + 1))
    done
    delivered=$(awk '$3 == 200 && $4 == "sig-ok" { print $5 }' "$W/rx.log" | sort -u | wc -l)
    [ $applied -eq $NDB ] && [ "$delivered" -eq $NDB ] && break
    sleep 0.1
done
el=$(( $(now_ms) - t0 ))
tap_is "$applied" "$NDB" "every database's signal was applied by a scheduled run ($el ms after the first CREATE DATABASE)"
tap_is "$delivered" "$NDB" "every database's webhook got its outcome_resolved event, signed"
tap_is "$(for ((d = 1; d <= NDB; d++)); do q $P wp$d "SELECT count(*) FROM learning.job_runs WHERE run_by <> 'scheduler'"; done | sort -u)" "0" \
    "no run was made by run_job"

sleep $((3 * IV))   # several rounds of every job in every database
touch "$W/stop"; wait "${RELAY_PIDS[-1]}" 2>/dev/null
most=$(awk -F'|' '{ if ($1 > m) m = $1 } END { print m + 0 }' "$W/samples")
tap_ok "$([ "$most" -le 4 ] && [ "$most" -ge 1 ]; echo $?)" \
    "at most learning.max_workers database workers at once (most seen: $most in $(wc -l <"$W/samples") samples)"
tap_is "$(grep -c 'could not start a learning\|too many databases' "$TEST_ROOT/workers_pool/server.log")" "0" \
    "the server never ran out of background worker slots"

# lag: a run's start minus (previous run's start + interval), per job and database
lags=""
for ((d = 1; d <= NDB; d++)); do
    lags+=$(q $P wp$d "SELECT coalesce(max(gap), '0 s') || '|' || coalesce(min(gap), '99 s')
                         FROM (SELECT started_at - lag(started_at) OVER (PARTITION BY job_name ORDER BY started_at) AS gap
                                 FROM learning.job_runs WHERE run_by = 'scheduler') s")$'\n'
done
worst=$(printf '%s' "$lags" | awk -F'|' 'NF { print $1 }' | sort | tail -1)
closest=$(printf '%s' "$lags" | awk -F'|' 'NF { print $2 }' | sort | head -1)
runs=$(for ((d = 1; d <= NDB; d++)); do q $P wp$d "SELECT count(*) FROM learning.job_runs WHERE run_by = 'scheduler'"; done | awk '{ s += $1 } END { print s }')
tap_ok "$(q $P postgres "SELECT '$worst'::interval < interval '$((2 * IV)) s'" | grep -q t; echo $?)" \
    "every job ran within its interval of falling due ($runs runs; longest gap between two runs $worst for an interval of ${IV} s)"
tap_ok "$(q $P postgres "SELECT '$closest'::interval >= interval '$IV s' - interval '0.1 s'" | grep -q t; echo $?)" \
    "no job ran twice within its interval (shortest gap $closest)"

# --- a pool of one: job_status says when a database waits --------------------------
q $P postgres "ALTER SYSTEM SET learning.max_workers = 1" >/dev/null
q $P postgres "ALTER SYSTEM SET learning.immediate_signals_interval = '1s'" >/dev/null
"$PGBIN/pg_ctl" -D "$TEST_ROOT/workers_pool/data" -m fast -w restart >/dev/null 2>&1
tap_is "$(q $P postgres "SHOW learning.max_workers")" "1" "restarted with learning.max_workers = 1"
seen=""
for ((i = 0; i < 100; i++)); do
    [ -n "$seen" ] && break
    for ((d = 1; d <= NDB; d++)); do
        r=$(q $P wp$d "SELECT scheduler || '|' || (waiting_since IS NOT NULL) FROM learning.job_status WHERE job_name = 'immediate_signals'" 2>/dev/null)
        if [[ $r == waiting:* ]]; then seen="wp$d: $r"; break; fi
    done
done
tap_is "${seen#*: }" "waiting: jobs are due and every worker of the pool (learning.max_workers = 1) is busy with other databases|true" \
    "job_status says plainly that a database waits for a worker, and since when (${seen%%:*})"
most=0
for ((i = 0; i < 30; i++)); do
    n=$(q $P postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('learning scheduler', 'learning relay')")
    [ "$n" -gt "$most" ] && most=$n
    sleep 0.1
done
tap_ok "$([ "$most" -le 1 ]; echo $?)" "never more than one database worker (most seen: $most)"
sleep 3
t=$(q $P postgres "SELECT now() - interval '3 s'")
served=$(for ((d = 1; d <= NDB; d++)); do q $P wp$d "SELECT count(*) > 0 FROM learning.job_runs WHERE job_name = 'immediate_signals' AND started_at > '$t'"; done | grep -c t)
tap_is "$served" "$NDB" "the pool rotates: every database ran immediate_signals in the last 3 s"

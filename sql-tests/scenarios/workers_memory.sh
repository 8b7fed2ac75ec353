#!/usr/bin/env bash
# workers_memory.sh: a scheduler's memory stays flat over thousands of runs.
# Intervals of 10 ms; the scheduler's private resident memory (RssAnon in
# /proc/PID/status: shared buffers it touches are not its growth) and its
# memory contexts' grand total (pg_log_backend_memory_contexts) after 2000
# runs are compared with their values after the first 100.  Each run also
# resolves a fresh outcome, so the jobs do real work.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/workers_lib.bash
P=56012
FIRST=100; LAST=2000; LIMIT_KB=1024

mapfile -t conf < <(all_intervals 10ms)
start_cluster workers_memory $P "shared_preload_libraries = 'learning'" "${conf[@]}" \
    || { echo "not ok - cluster with learning preloaded starts"; exit 1; }
trap 'stop_cluster workers_memory' EXIT
LOG=$TEST_ROOT/workers_memory/server.log

q $P postgres "CREATE DATABASE wm" >/dev/null
q $P wm "CREATE EXTENSION learning" >/dev/null 2>&1
wait_scheduler $P wm 10
tap_ok $? "the scheduler runs"
pid=$(worker_pid $P wm scheduler)

# work for the jobs while they run: outcomes, and signals that resolve them
feed() {
    q $P wm "SELECT learning.record_outcome('t1', 'm-' || g, 'send_email', 0.5, 'email_engagement'),
                    learning.ingest_signal('t1', 'm-' || g, 'email_replied')
               FROM generate_series($1, $2) g" >/dev/null
}

# memory PID: "RssAnon-kB context-grand-total-bytes".  The contexts are
# logged wherever the scheduler next checks for interrupts, which may be in
# the middle of a run holding its transaction's memory: the smallest of
# three reports is the scheduler's own size between runs.
memory() {
    local before total min= k
    for ((k = 0; k < 3; k++)); do
        before=$(grep -c 'Grand total:' "$LOG")
        q $P postgres "SELECT pg_log_backend_memory_contexts($1)" >/dev/null
        for ((i = 0; i < 50; i++)); do
            [ "$(grep -c 'Grand total:' "$LOG")" -gt "$before" ] && break
            sleep 0.1
        done
        total=$(grep 'Grand total:' "$LOG" | tail -1 | sed -E 's/.*Grand total: ([0-9]+) bytes.*/\1/')
        if [ -z "$min" ] || [ "$total" -lt "$min" ]; then min=$total; fi
        sleep 0.05
    done
    echo "$(awk '/^RssAnon:/ {print $2}' /proc/$1/status) $min"
}

feed 1 50
wait_for $P wm "SELECT count(*) >= $FIRST FROM learning.job_runs WHERE run_by = 'scheduler'" 60
tap_ok $? "$FIRST scheduled runs"
read -r rss1 ctx1 < <(memory "$pid")
feed 51 100
wait_for $P wm "SELECT count(*) >= $LAST FROM learning.job_runs WHERE run_by = 'scheduler'" 120
tap_ok $? "$LAST scheduled runs"
read -r rss2 ctx2 < <(memory "$pid")
runs=$(scheduler_runs $P wm)
tap_is "$(worker_pid $P wm scheduler)" "$pid" "the same scheduler process made all $runs runs"
tap_is "$(scheduler_runs $P wm "status <> 'succeeded'")" "0" "every run succeeded"
tap_is "$(q $P wm "SELECT count(*) FROM learning.outcome_records WHERE status = 'positive'")" "100" \
    "the runs did real work (100 outcomes resolved by signals)"
echo "# scheduler pid $pid: RssAnon ${rss1} kB after $FIRST runs, ${rss2} kB after $runs runs;" \
     "memory contexts ${ctx1} -> ${ctx2} bytes"
tap_ok $([ -n "$rss1" ] && [ -n "$rss2" ] && [ $((rss2 - rss1)) -le $LIMIT_KB ]; echo $?) \
    "resident memory grew by $((${rss2:-0} - ${rss1:-0})) kB over $((runs - FIRST)) runs (at most $LIMIT_KB kB)"
tap_ok $([ -n "$ctx1" ] && [ -n "$ctx2" ] && [ $((ctx2 - ctx1)) -le $((LIMIT_KB * 1024)) ]; echo $?) \
    "memory contexts grew by $((${ctx2:-0} - ${ctx1:-0})) bytes (at most $LIMIT_KB kB)"

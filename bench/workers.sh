#!/usr/bin/env bash
# bench/workers.sh: many databases served by the bounded pool of workers, on
# a fresh cluster with PostgreSQL's default max_worker_processes (8) and the
# default learning.max_workers (4), as the postgres user after make install.
# For each database count: that many databases with the extension, all five
# jobs every INTERVAL seconds, and in each database one event every 2 s for a
# webhook (sql-tests/scenarios/relay_receiver.py on loopback, verifying every
# signature), during SECONDS seconds.  Reported:
#   - lag of every scheduled run after the first: its start minus (the start
#     of the job's previous run + the interval): max, p99, p50;
#   - learning worker processes in use (pg_stat_activity sampled every 0.2 s):
#     most and mean, launcher apart;
#   - webhook deliveries: commit-to-receipt p50, p99, max.
# Usage: bash bench/workers.sh [database-counts] [interval-seconds] [seconds]
#        (defaults "12 50", 10, 60)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench-workers}
mkdir -p "$TEST_ROOT"
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash
COUNTS=${1:-12 50}
IV=${2:-10}
SECS=${3:-60}
P=56361; RXP=56362
SECRET=bench-secret-0123456789abcdef
W=$TEST_ROOT/workers.rx
trap relay_cleanup EXIT

echo "# machine: $(nproc) cores, $(uname -r); every job every ${IV} s, one event per database every 2 s, ${SECS} s per run"
for n in $COUNTS; do
    rm -rf "$W"; mkdir -p "$W"
    start_cluster bench_workers $P "shared_preload_libraries = 'learning'" "max_worker_processes = 8" \
        "learning.webhook_allow_private_networks = on" \
        "learning.immediate_signals_interval = '${IV}s'" "learning.engagement_signals_interval = '${IV}s'" \
        "learning.deal_progression_interval = '${IV}s'" "learning.expire_overdue_interval = '${IV}s'" \
        "learning.calibration_check_interval = '${IV}s'"
    RELAY_CLUSTERS=(bench_workers)
    start_rx fast $RXP "$W/rx.log" "$SECRET"
    for ((d = 1; d <= n; d++)); do
        q $P postgres "CREATE DATABASE bw$d" >/dev/null
        q $P bw$d "CREATE EXTENSION learning" >/dev/null 2>&1
        q $P bw$d "SELECT learning.create_webhook('http://127.0.0.1:$RXP/bw$d', NULL, 't1', '$SECRET')" >/dev/null
    done
    sleep "$IV"   # every database has run its first round
    t0=$(q $P postgres "SELECT now()")
    : >"$W/rx.log"; : >"$W/samples"
    end=$(( $(date +%s) + SECS ))
    ( while [ "$(date +%s)" -lt $end ]; do
          q $P postgres "SELECT count(*) FILTER (WHERE backend_type IN ('learning scheduler', 'learning relay'))
                           FROM pg_stat_activity" >>"$W/samples" 2>/dev/null
          sleep 0.2
      done ) &
    sampler=$!
    while [ "$(date +%s)" -lt $end ]; do
        for ((d = 1; d <= n; d++)); do
            q $P bw$d "SELECT learning.emit_event('t1', 'outcome_recorded',
                                 jsonb_build_object('t', extract(epoch FROM clock_timestamp())))" >/dev/null &
        done
        wait $(jobs -p | grep -v "^$sampler$" | grep -v "^${RELAY_PIDS[0]}$") 2>/dev/null || true
        sleep 2
    done
    wait $sampler 2>/dev/null || true
    sleep 3
    for ((d = 1; d <= n; d++)); do
        q $P bw$d "SELECT extract(epoch FROM started_at - lag(started_at) OVER (PARTITION BY job_name ORDER BY started_at)) - $IV
                     FROM learning.job_runs WHERE run_by = 'scheduler' AND started_at > '$t0'::timestamptz - interval '${IV} s'"
    done | awk 'NF' | sort -n >"$W/lags"
    awk '$3 == 200 && $7 != "-" { printf "%.3f\n", ($1 - $7) * 1000 }' "$W/rx.log" | sort -n >"$W/lat"
    missing=0
    for ((d = 1; d <= n; d++)); do
        missing=$((missing + $(q $P bw$d "SELECT count(*) FROM learning.relay_queue")))
    done
    awk -v n="$n" '{ v[NR] = $1 } END {
        printf "%d databases: %d scheduled runs; lag after falling due: p50 %.3f s, p99 %.3f s, max %.3f s\n",
            n, NR, v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)], v[NR] }' "$W/lags"
    awk '{ s += $1; if ($1 > m) m = $1 } END {
        printf "  worker processes in use (schedulers + relays, launcher apart): most %d, mean %.2f over %d samples\n", m, s / NR, NR }' "$W/samples"
    awk -v left="$missing" '{ v[NR] = $1 } END {
        printf "  webhook deliveries: %d, commit-to-receipt p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d still queued at the end\n",
            NR, v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)], v[NR], left }' "$W/lat"
    relay_cleanup
    RELAY_PIDS=(); RELAY_CLUSTERS=()
done

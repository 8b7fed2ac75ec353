#!/usr/bin/env bash
# bench/relay.sh: speed of the event relay (SPEC section 7), on a fresh cluster
# with the relay started by the launcher, as the postgres user after
# make install.  The receiver is sql-tests/scenarios/relay_receiver.py (Python
# standard library, verifies every HMAC signature) on loopback.
#   1. throughput: N events committed in one transaction, time until the last
#      one is delivered (queue empty): events per second delivered;
#   2. latency: events committed one per transaction at a steady rate (50,
#      200 and 500 per second); for each, receipt time at the receiver minus
#      the clock_timestamp() taken in the transaction just before COMMIT;
#      p50, p99 and max.  The commit wakes the relay (learning.relay_wake), so
#      learning.relay_poll_interval is only the fallback.
# Usage: bash bench/relay.sh [events-for-throughput] [seconds-per-latency-run]
#        (defaults 20000 and 20)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench-relay}
mkdir -p "$TEST_ROOT"
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash
N=${1:-20000}
SECS=${2:-20}
P=56341; RXP=56342; DB=bench
SECRET=bench-secret-0123456789abcdef
W=$TEST_ROOT/relay.rx
rm -rf "$W"; mkdir -p "$W"
trap relay_cleanup EXIT

start_cluster bench_relay $P "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "shared_buffers = '256MB'" "max_wal_size = '2GB'" "learning.webhook_allow_private_networks = on"
RELAY_CLUSTERS+=(bench_relay)
start_rx fast $RXP "$W/rx.log" "$SECRET"
q $P postgres "CREATE DATABASE $DB" >/dev/null
q $P $DB "CREATE EXTENSION learning" >/dev/null
RELAY=$(wait_relay $P $DB 30)
RXPID=${RELAY_PIDS[0]}
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }   # user+system CPU seconds
q $P $DB "SELECT learning.create_webhook('http://127.0.0.1:$RXP/hook', NULL, 'acme', '$SECRET')" >/dev/null

echo "# machine: $(nproc) cores, $(uname -r); PostgreSQL $(q $P $DB 'SHOW server_version'); $(curl-config --version)"
echo "# settings: the test cluster of test/lib.sh (fsync off, synchronous_commit on); relay: at most 256 POSTs in flight, 16 per webhook"

# 1. throughput -------------------------------------------------------------------
: >"$W/rx.log"
c_relay0=$(cpu "$RELAY"); c_rx0=$(cpu "$RXPID")
t0=$(now_s)
q $P $DB "SELECT count(learning.emit_event('acme', 'job_completed', jsonb_build_object('n', g))) FROM generate_series(1, $N) g" >/dev/null
t1=$(now_s)
for ((i = 0; i < 6000; i++)); do
    [ "$(q $P $DB "SELECT count(*) = 0 FROM learning.relay_queue")" == "t" ] && break
    sleep 0.1
done
t2=$(now_s)
c_relay=$(awk -v a="$c_relay0" -v b="$(cpu "$RELAY")" 'BEGIN { printf "%.1f", b - a }')
c_rx=$(awk -v a="$c_rx0" -v b="$(cpu "$RXPID")" 'BEGIN { printf "%.1f", b - a }')
ok=$(awk '$3 == 200 && $4 == "sig-ok"' "$W/rx.log" | wc -l)
awk -v n="$N" -v ok="$ok" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    printf "throughput: %d events committed in one transaction (%.2f s); %d delivered and verified in %.2f s after the commit: %.0f events/s\n",
        n, b - a, ok, c - b, ok / (c - b) }'
echo "  CPU meanwhile: relay worker ${c_relay} s, Python receiver ${c_rx} s (2 cores for everything)"
tap_is "$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries WHERE status = 'delivered'")" "$N" \
    "every event delivered once (log)" >&2

# 2. latency at a steady rate -------------------------------------------------------
latency_run() {  # $1 = events per second, $2 = label
    local rate=$1 n=$(($1 * SECS))
    : >"$W/rx.log"
    q $P $DB "DO \$\$
        BEGIN
            FOR i IN 1..$n LOOP
                PERFORM learning.emit_event('acme', 'outcome_recorded',
                            jsonb_build_object('t', extract(epoch FROM clock_timestamp())));
                COMMIT;
                PERFORM pg_sleep(1.0 / $rate);
            END LOOP;
        END \$\$" >/dev/null
    wait_for $P $DB "SELECT count(*) = 0 FROM learning.relay_queue" 60 || true
    awk '$3 == 200 && $7 != "-" { printf "%.3f\n", ($1 - $7) * 1000 }' "$W/rx.log" | sort -n >"$W/lat"
    span=$(awk '$3 == 200 && $7 != "-" { if (min == "" || $7 < min) min = $7; if ($7 > max) max = $7 }
                END { printf "%.1f", max - min }' "$W/rx.log")
    awk -v label="$2" -v span="$span" '{ v[NR] = $1 } END {
        p50 = v[int(NR * 0.50 + 0.5)]; p99 = v[int(NR * 0.99 + 0.5)];
        printf "latency %s: %d events, one per transaction, over %.1f s (%.0f/s): commit-to-receipt p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
            label, NR, span, NR / span, p50, p99, v[NR] }' "$W/lat"
}
latency_run 50 "default settings"
latency_run 200 "default settings"
latency_run 500 "default settings"

#!/usr/bin/env bash
# bench/relay.sh: speed of the event relay, on a fresh cluster
# with the relay started by the launcher, as the postgres user after
# make install.  The receiver is sql-tests/scenarios/relay_receiver.py (Python
# standard library, verifies every HMAC signature) on loopback.
#   1. throughput: N events committed in one transaction, time until the last
#      one is delivered (queue empty): events per second delivered;
#   2. latency: events committed one per transaction at a steady rate (50,
#      200 and 500 per second); for each, receipt time at the receiver minus
#      the clock_timestamp() taken in the transaction just before COMMIT;
#      p50, p99 and max.  The commit wakes the relay (learning.relay_wake), so
#      learning.relay_poll_interval is only the fallback;
#   3. fairness: DEAD endpoints that accept connections and never answer
#      (sql-tests/scenarios/relay_blackhole.py, one asyncio process listening
#      on DEAD loopback ports) subscribed next to the healthy one, a backlog
#      of 20 events for all of them, then events one per transaction at 10
#      per second for the run's seconds: commit-to-receipt of the healthy
#      endpoint's events (p50, p99, max), the dead endpoints' connections
#      and attempts.
# Usage: bash bench/relay.sh [events-for-throughput] [seconds-per-latency-run] [dead-endpoints]
#        (defaults 20000, 20 and 500); PARTS=throughput,latency,fairness picks parts.
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench-relay}
mkdir -p "$TEST_ROOT"
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash
N=${1:-20000}
SECS=${2:-20}
DEAD=${3:-500}
PARTS=${PARTS:-throughput,latency,fairness}
DPORT=57000
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
RXPID=${RELAY_PIDS[0]}
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }   # user+system CPU seconds
q $P $DB "SELECT learning.create_webhook('http://127.0.0.1:$RXP/hook', NULL, 'acme', '$SECRET')" >/dev/null

echo "# machine: $(nproc) cores, $(uname -r); PostgreSQL $(q $P $DB 'SHOW server_version'); $(curl-config --version)"
echo "# settings: the test cluster of test/lib.sh (fsync off, synchronous_commit on); relay: at most 2 POSTs in flight per endpoint, 256 not stalled, 1024 in all"

# 1. throughput -------------------------------------------------------------------
if [[ $PARTS == *throughput* ]]; then
: >"$W/rx.log"
c_rx0=$(cpu "$RXPID")
t0=$(now_s)
# one transaction per event: a transaction's events of one type are one event
q $P $DB "DO \$\$ BEGIN FOR g IN 1..$N LOOP
              PERFORM learning.emit_event('acme', 'job_completed', jsonb_build_object('n', g)); COMMIT;
          END LOOP; END \$\$" >/dev/null
t1=$(now_s)
RELAY=$(wait_relay $P $DB 30)   # started by the launcher at the commit
c_relay0=0
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
fi

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
if [[ $PARTS == *latency* ]]; then
    latency_run 50 "default settings"
    latency_run 200 "default settings"
    latency_run 500 "default settings"
fi

# 3. fairness: hundreds of endpoints that never answer ------------------------------
if [[ $PARTS == *fairness* ]]; then
    python3 sql-tests/scenarios/relay_blackhole.py $DPORT "$DEAD" "$W/blackhole.stats" 2>"$W/blackhole.stderr" &
    RELAY_PIDS+=($!)
    wait_port $DPORT 20 && wait_port $((DPORT + DEAD - 1)) 20
    # a receiver of its own for the healthy endpoint (the first one has served the runs above)
    start_rx fast $((RXP + 1)) "$W/rx2.log" "$SECRET"
    q $P $DB "SELECT learning.set_webhook_enabled(1, false)" >/dev/null
    q $P $DB "SELECT learning.create_webhook('http://127.0.0.1:$((RXP + 1))/healthy', NULL, 'acme', '$SECRET')" >/dev/null
    q $P $DB "SELECT count(learning.create_webhook('http://127.0.0.1:' || ($DPORT + k) || '/dead', NULL, 'acme'))
                FROM generate_series(0, $DEAD - 1) k" >/dev/null
    q $P $DB "DO \$\$ BEGIN FOR g IN 1..20 LOOP
                  PERFORM learning.emit_event('acme', 'job_completed', jsonb_build_object('n', g)); COMMIT;
              END LOOP; END \$\$" >/dev/null
    t0=$(now_s)
    q $P $DB "DO \$\$
        BEGIN
            FOR i IN 1..$((SECS * 10)) LOOP
                PERFORM learning.emit_event('acme', 'outcome_recorded',
                            jsonb_build_object('t', extract(epoch FROM clock_timestamp())));
                COMMIT;
                PERFORM pg_sleep(0.1);
            END LOOP;
        END \$\$" >/dev/null
    for ((i = 0; i < 100; i++)); do
        [ "$(awk '$3 == 200 && $7 != "-"' "$W/rx2.log" | wc -l)" -ge $((SECS * 10)) ] && break
        sleep 0.1
    done
    t1=$(now_s)
    awk '$3 == 200 && $7 != "-" { printf "%.3f\n", ($1 - $7) * 1000 }' "$W/rx2.log" | sort -n >"$W/lat"
    read -r accepted per_port at_once <"$W/blackhole.stats"
    tries=$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries d JOIN learning.webhooks w ON w.id = d.webhook_id
                       WHERE w.url LIKE '%/dead' AND d.attempted_at >= to_timestamp($t0) - interval '5 s'")
    opened=$(q $P $DB "SELECT count(*) FROM learning.relay_endpoints")
    awk -v dead="$DEAD" -v n="$((SECS * 10))" '{ v[NR] = $1 } END {
        p50 = v[int(NR * 0.50 + 0.5)]; p99 = v[int(NR * 0.99 + 0.5)];
        printf "fairness: %d endpoints that accept and never answer (20 events of backlog each, then 10 events/s): the healthy endpoint got %d of %d stamped events, commit-to-receipt p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
            dead, NR, n, p50, p99, v[NR] }' "$W/lat"
    echo "  dead endpoints: at most $per_port connections per endpoint, $at_once at once in all, $accepted accepted; $tries attempts logged over $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s; $opened open circuits at the end"
fi

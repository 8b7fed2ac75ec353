#!/usr/bin/env bash
# relay_fairness.sh: a slow or dead endpoint delays no other.  50 endpoints
# that accept connections and never answer (relay_blackhole.py), each with a
# backlog of 20 deliveries, next to one healthy endpoint (relay_receiver.py,
# verifying signatures); then 20 events committed one per transaction, 0.25 s
# apart, each stamped with clock_timestamp() just before its commit.  Every
# one reaches the healthy endpoint within 1 s of its commit; no dead endpoint
# ever holds more than two connections; the dead endpoints back off as a
# whole (open circuits in learning.relay_endpoints, far fewer attempts than
# deliveries), also when the queue's statistics were taken while it was
# empty.  Default timeouts (5 s).  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash

P=56501; DB=relay; HPORT=56505; DPORT=56510; DEAD=50; BACKLOG=20; N=20
SECRET=test-secret-0123456789abcdef
W=$TEST_ROOT/relay_fairness.rx
rm -rf "$W"; mkdir -p "$W"
trap relay_cleanup EXIT

start_cluster relay_fairness $P "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "learning.webhook_allow_private_networks = on" || { echo "not ok - cluster starts"; exit 1; }
RELAY_CLUSTERS+=(relay_fairness)
python3 "$RELAY_DIR/relay_blackhole.py" $DPORT $DEAD "$W/blackhole.stats" 2>"$W/blackhole.stderr" &
RELAY_PIDS+=($!)
wait_port $DPORT 10 && wait_port $((DPORT + DEAD - 1)) 10
tap_ok $? "$DEAD endpoints that accept and never answer listen on loopback"
start_rx verify $HPORT "$W/healthy.log" "$SECRET"
tap_ok $? "the healthy endpoint listens"

q $P postgres "CREATE DATABASE $DB" >/dev/null
q $P $DB "CREATE EXTENSION learning" >/dev/null
q $P $DB "SELECT count(learning.create_webhook('http://127.0.0.1:' || ($DPORT + k) || '/dead', NULL, 'acme'))
            FROM generate_series(0, $DEAD - 1) k" >/dev/null
H=$(q $P $DB "SELECT learning.create_webhook('http://127.0.0.1:$HPORT/healthy', NULL, 'acme', '$SECRET')")

# statistics of an empty queue (autovacuum takes them whenever it drains): the
# claims must not plan on them once the queue has grown
q $P $DB "ANALYZE learning.relay_queue" >/dev/null
# the backlog: 20 events for every endpoint, the dead ones' rows older than what follows
# (one transaction each: a transaction's events of one type are one event)
q $P $DB "DO \$\$ BEGIN FOR g IN 1..$BACKLOG LOOP
              PERFORM learning.emit_event('acme', 'job_completed', jsonb_build_object('n', g)); COMMIT;
          END LOOP; END \$\$" >/dev/null
sleep 0.5
q $P $DB "DO \$\$
    BEGIN
        FOR i IN 1..$N LOOP
            PERFORM learning.emit_event('acme', 'outcome_recorded',
                        jsonb_build_object('t', extract(epoch FROM clock_timestamp())));
            COMMIT;
            PERFORM pg_sleep(0.25);
        END LOOP;
    END \$\$" >/dev/null
for ((i = 0; i < 100; i++)); do
    [ "$(awk '$3 == 200 && $7 != "-"' "$W/healthy.log" | wc -l)" -ge $N ] && break
    sleep 0.1
done
awk '$3 == 200 && $7 != "-" { printf "%.3f\n", $1 - $7 }' "$W/healthy.log" | sort -n >"$W/lat"
got=$(wc -l <"$W/lat")
worst=$(tail -1 "$W/lat")
tap_is "$got" "$N" "every stamped event reached the healthy endpoint"
tap_ok "$([ -n "$worst" ] && awk -v w="$worst" 'BEGIN { exit !(w < 1.0) }'; echo $?)" \
    "each within 1 s of its commit next to $DEAD dead endpoints with $((DEAD * BACKLOG)) deliveries due (worst ${worst:-none} s, median $(sed -n "$(( (got + 1) / 2 ))p" "$W/lat") s)"
wait_for $P $DB "SELECT count(*) = 0 FROM learning.relay_queue WHERE webhook_id = $H" 10
tap_is "$(awk '$3 == 200 && $4 == "sig-ok" { print $2 }' "$W/healthy.log" | sort -u | wc -l)" "$((BACKLOG + N))" \
    "the healthy endpoint got its backlog too, every request signed"

sleep 1
read -r accepted per_port at_once <"$W/blackhole.stats"
tap_ok "$([ "$per_port" -le 2 ]; echo $?)" \
    "no dead endpoint ever held more than 2 connections (most: $per_port; $at_once at once over all, $accepted in all)"
open=$(q $P $DB "SELECT count(*) FROM learning.relay_endpoints WHERE webhook_id <> $H")
tap_ok "$([ "$open" -ge $((DEAD / 2)) ]; echo $?)" "the dead endpoints' circuits are open ($open of $DEAD)"
tries=$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries WHERE webhook_id <> $H")
tap_ok "$([ "$tries" -le $((4 * DEAD)) ]; echo $?)" \
    "they back off as a whole: $tries attempts logged for $((DEAD * (BACKLOG + N))) deliveries"
tap_is "$(q $P $DB "SELECT count(*) FROM learning.relay_endpoints WHERE webhook_id = $H")" "0" \
    "the healthy endpoint's circuit is closed"

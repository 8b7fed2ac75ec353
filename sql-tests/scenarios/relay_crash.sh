#!/usr/bin/env bash
# relay_crash.sh: at-least-once delivery across a terminated relay worker and
# a crashed server.  A slow receiver (0.2 s per request) keeps
# deliveries in flight; the relay is terminated (pg_terminate_backend) while
# some are, then the whole server stops with "pg_ctl stop -m immediate" while
# others are.  After the restarts every event is delivered, and a repeat
# carries the same event id.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash

P=56321; DB=relay; N=300
W=$TEST_ROOT/relay_crash.rx
rm -rf "$W"; mkdir -p "$W"
trap relay_cleanup EXIT

start_cluster relay_crash $P "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "learning.webhook_timeout = 3000" "learning.webhook_retry_base = 200" "learning.webhook_max_attempts = 20" \
    "learning.relay_poll_interval = 50" \
    "learning.webhook_allow_private_networks = on" || { echo "not ok - cluster starts"; exit 1; }
RELAY_CLUSTERS+=(relay_crash)
start_rx slow 56322 "$W/slow.log"
tap_ok $? "slow receiver listens"

q $P postgres "CREATE DATABASE $DB" >/dev/null
q $P $DB "CREATE EXTENSION learning" >/dev/null
q $P $DB "SELECT learning.create_webhook('http://127.0.0.1:56322/slow', NULL, 'acme')" >/dev/null

# Events: most in one transaction, some one by one, one rolled back.
# one transaction per event (a transaction's events of one type are one event)
q $P $DB "DO \$\$ BEGIN FOR g IN 1..$((N - 20)) LOOP
              PERFORM learning.emit_event('acme', 'job_completed', jsonb_build_object('n', g)); COMMIT;
          END LOOP; END \$\$" >/dev/null
for ((i = 0; i < 20; i++)); do q $P $DB "SELECT learning.emit_event('acme', 'outcome_recorded', '{}')" >/dev/null; done
q $P $DB "BEGIN; SELECT learning.emit_event('acme', 'outcome_recorded', '{\"rolled\": \"back\"}'); ROLLBACK" >/dev/null
tap_is "$(q $P $DB "SELECT (SELECT count(*) FROM learning.relay_queue)
                          + (SELECT count(DISTINCT event_id) FROM learning.webhook_deliveries WHERE status = 'delivered')")" \
    "$N" "one delivery per committed event (queued or done)"

R1=$(wait_relay $P $DB 20)
tap_ok $? "the commits start a relay worker (pid ${R1:-none})"
sleep 1
inflight1=$(q $P $DB "SELECT count(*) FROM learning.relay_queue WHERE claimed_at IS NOT NULL")
q $P $DB "SELECT pg_terminate_backend($R1)" >/dev/null
tap_ok "$([ "$inflight1" -gt 0 ]; echo $?)" "relay terminated with $inflight1 deliveries in flight"
R2=$(wait_relay $P $DB 30 "$R1")
tap_ok $? "the launcher starts a new relay worker (pid ${R2:-none})"

sleep 1.5
inflight2=$(q $P $DB "SELECT count(*) FROM learning.relay_queue WHERE claimed_at IS NOT NULL")
left=$(q $P $DB "SELECT count(*) FROM learning.relay_queue")
"$PGBIN/pg_ctl" -D "$TEST_ROOT/relay_crash/data" -m immediate -w stop >/dev/null 2>&1
tap_ok "$([ "$inflight2" -gt 0 ] && [ "$left" -gt 0 ]; echo $?)" \
    "server stopped (immediate) with $inflight2 deliveries in flight and $left not finished"
"$PGBIN/pg_ctl" -D "$TEST_ROOT/relay_crash/data" -l "$TEST_ROOT/relay_crash/server.log" -w start >/dev/null
tap_ok $? "server restarts"
R3=$(wait_relay $P $DB 30)
tap_ok $? "a relay worker runs again (pid ${R3:-none})"

wait_for $P $DB "SELECT count(*) = 0 FROM learning.relay_queue" 90
tap_ok $? "the queue drains"

q $P $DB "SELECT id FROM learning.events WHERE tenant_id = 'acme' ORDER BY id" >"$W/emitted"
awk '$3 == 200 { print $2 }' "$W/slow.log" | sort -n -u >"$W/delivered"
tap_is "$(wc -l <"$W/emitted")" "$N" "$N events committed (the rolled back one is not an event)"
tap_is "$(comm -23 "$W/emitted" "$W/delivered" | wc -l)" "0" "every committed event reached the receiver"
tap_is "$(comm -13 "$W/emitted" "$W/delivered" | wc -l)" "0" "the receiver got no event that was not committed"
tap_is "$(awk '$2 != $6' "$W/slow.log" | wc -l)" "0" "every request's Learning-Event-Id is its body's id"
dups=$(awk '{ print $2 }' "$W/slow.log" | sort | uniq -d | wc -l)
tap_ok "$([ "$dups" -le $((inflight1 + inflight2 + 16)) ]; echo $?)" \
    "repeats ($dups events received twice) only for deliveries that were in flight, with the same event id"
tap_is "$(q $P $DB "SELECT count(*) FROM (SELECT event_id FROM learning.webhook_deliveries GROUP BY event_id HAVING count(*) FILTER (WHERE status = 'delivered') = 0) s")" \
    "0" "the delivery log has a delivered attempt for every event"

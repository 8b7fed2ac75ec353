#!/usr/bin/env bash
# workers_quiet_relay.sh: a commit that queues no delivery wakes no relay.
# Every commit that writes events runs the outbox statement, which inserts
# into learning.relay_queue the deliveries of the tenants' webhooks: with no
# webhook that is no row, and no relay may start.  Then one webhook and one
# event: that commit does wake a relay (the control: the wake-up still
# works).  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/workers_lib.bash
P=56040; SINK=56041
trap 'stop_cluster workers_quiet_relay' EXIT

mapfile -t conf < <(all_intervals 1h)
start_cluster workers_quiet_relay $P "shared_preload_libraries = 'learning'" "${conf[@]}" \
    "learning.webhook_allow_private_networks = on" \
    || { echo "not ok - cluster with learning preloaded starts"; exit 1; }
q $P postgres "CREATE DATABASE quiet" >/dev/null
q $P quiet "CREATE EXTENSION learning" >/dev/null
# the scheduler's first round runs every job once, then it leaves
wait_for $P postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'learning scheduler'" 30
relays() { q $P postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'learning relay'"; }
tap_is "$(relays)" "0" "no relay before any write"

# 300 transactions, each with its events (outcome_recorded, outcome_resolved)
for ((i = 1; i <= 150; i++)); do
    echo "SELECT learning.resolve_outcome('t1', learning.record_outcome('t1', 'conv-$i', 'send_email', 0.5, 'email_engagement'), 'positive') IS NOT NULL;"
    echo "SELECT learning.record_outcome('t1', 'conv-$i-b', 'send_email', 0.5, 'email_engagement') IS NOT NULL;"
done >"$TEST_ROOT/quiet.sql"
seen=0
for ((i = 0; i < 3; i++)); do
    "$PGBIN/psql" -h "$TEST_ROOT" -p $P -U postgres -d quiet -XAtq -v ON_ERROR_STOP=1 -f "$TEST_ROOT/quiet.sql" >/dev/null &
    writer=$!
    while kill -0 $writer 2>/dev/null; do
        seen=$((seen + $(relays))); sleep 0.05
    done
    wait $writer
done
sleep 1
seen=$((seen + $(relays)))
tap_is "$(q $P quiet "SELECT count(*) FROM learning.events WHERE tenant_id = 't1'")" "1350" \
    "900 transactions wrote their 1350 events"
tap_is "$(q $P quiet "SELECT count(*) FROM learning.relay_queue")" "0" "and queued no delivery"
tap_is "$seen" "0" "no relay started for them"

# control: a webhook and one event for it wake a relay (its endpoint refuses
# connections, so the relay stays to retry)
q $P quiet "SELECT learning.create_webhook('http://127.0.0.1:$SINK/hook', NULL, 't1')" >/dev/null
q $P quiet "SELECT learning.emit_event('t1', 'job_completed', '{}')" >/dev/null
wait_for $P postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'learning relay'" 20
tap_is "$(relays)" "1" "a commit that queues a delivery starts a relay"

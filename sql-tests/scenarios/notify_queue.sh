#!/usr/bin/env bash
# A listener that stays idle in a transaction holds PostgreSQL's notification
# queue.  Writers must keep succeeding: past learning.notify_queue_limit a
# commit skips its notifications (the outbox keeps the events) instead of
# failing when the queue is full.  The queue is 8 GB, so the test fills a
# little of it and lowers the limit (superuser setting) below what it holds.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
PORT=55433
start_cluster notifyq $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - cluster starts"; exit 1; }
W=$TEST_ROOT/notifyq
cleanup() { [ -n "${LPID:-}" ] && kill "$LPID" 2>/dev/null; stop_cluster notifyq; }
trap cleanup EXIT
export PGOPTIONS="-c client_min_messages=warning"
q $PORT postgres "CREATE EXTENSION learning" >/dev/null

# the listener: LISTEN, then idle in a transaction while writers commit
mkfifo "$W/fifo"
"$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d postgres -XAtq <"$W/fifo" >"$W/listener.out" 2>&1 &
LPID=$!
exec 3>"$W/fifo"
echo 'LISTEN "learning:acme"; BEGIN; SELECT 1;' >&3
sleep 0.5
tap_is "$(q $PORT postgres "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")" "1" \
    "a listener idles in a transaction"

# fill some of the queue that the listener now holds
q $PORT postgres "SELECT count(pg_notify('filler', g || repeat('x', 7900))) FROM generate_series(1, 400) g" >/dev/null
usage=$(q $PORT postgres "SELECT usage FROM learning.notification_queue")
awk -v u="$usage" 'BEGIN { exit !(u > 0) }'
tap_ok $? "the queue holds what the listener has not read (usage $usage)"

q $PORT postgres "ALTER SYSTEM SET learning.notify_queue_limit = 0.00001" >/dev/null
q $PORT postgres "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
tap_is "$(q $PORT postgres "SELECT notifications_skipped FROM learning.notification_queue")" "t" \
    "learning.notification_queue says notifications are being skipped"
out=$("$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 \
      -c "SELECT learning.record_outcome('acme', 'c-' || g, 'send_email', 0.5, 'email_engagement') IS NOT NULL
            FROM generate_series(1, 3) g" 2>&1)
rc=$?
tap_ok $rc "the writer commits while the queue is past the limit"
[[ "$out" == *"skipping the notifications of this transaction: the notification queue is"*"full"* ]]
tap_ok $? "it is warned that its notifications were skipped"
tap_is "$(q $PORT postgres "SELECT count(*) || '/' || max((payload->>'count')::int) FROM learning.events WHERE tenant_id = 'acme'")" \
       "1/3" "its event is in the outbox (one event, count 3) for events_since"
tap_is "$(q $PORT postgres "SELECT count(*) FROM learning.events_since('acme', 0)")" "1" "events_since serves it"

# below the limit again, a commit notifies
q $PORT postgres "ALTER SYSTEM RESET learning.notify_queue_limit" >/dev/null
q $PORT postgres "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
q $PORT postgres "SELECT learning.record_outcome('acme', 'c-after', 'send_email', 0.5, 'email_engagement')" >/dev/null
echo 'COMMIT; SELECT 2;' >&3
exec 3>&-
wait "$LPID"; LPID=
grep -q 'Asynchronous notification "learning:acme"' "$W/listener.out"
tap_ok $? "under the limit the next commit notifies the listener"
tap_is "$(grep -c 'Asynchronous notification "learning:acme"' "$W/listener.out")" "1" \
    "the listener hears only the commit that was under the limit"

#!/usr/bin/env bash
# relay_webhooks.sh: the relay worker against real HTTP receivers on loopback
#.  Receivers (relay_receiver.py) that verify the signature,
# answer 500 twice then 200, hang past the timeout, are not there (connection
# refused), send a huge body, redirect; a webhook of another tenant and one with
# a wrong secret.  Also: schemes other than http(s) are refused at creation,
# a hanging endpoint delays no other endpoint, the relay holds no transaction
# while HTTP is in flight, pause/resume, dead deliveries and their retry, and
# the retention of the delivery log.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash

P=56301; DB=relay
RX=56310      # verify 56310, flaky 56311, hang 56312, refused 56313, huge 56314,
              # redirect 56315 (its target 56316), other tenant 56317
SECRET=test-secret-0123456789abcdef
W=$TEST_ROOT/relay_webhooks.rx
rm -rf "$W"; mkdir -p "$W"
trap relay_cleanup EXIT

start_cluster relay_webhooks $P "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "learning.webhook_timeout = 1500" "learning.webhook_connect_timeout = 500" \
    "learning.webhook_retry_base = 200" "learning.webhook_max_attempts = 3" \
    "learning.relay_poll_interval = 50" \
    "learning.webhook_allow_private_networks = on" || { echo "not ok - cluster starts"; exit 1; }
RELAY_CLUSTERS+=(relay_webhooks)

start_rx verify 56310 "$W/verify.log" "$SECRET" &&
start_rx flaky 56311 "$W/flaky.log" &&
start_rx hang 56312 "$W/hang.log" &&
start_rx huge 56314 "$W/huge.log" &&
start_rx redirect 56315 "$W/redirect.log" &&
start_rx verify 56316 "$W/elsewhere.log" "$SECRET" &&
start_rx verify 56317 "$W/other.log" "$SECRET"
tap_ok $? "receivers listen on loopback"

q $P postgres "CREATE DATABASE $DB" >/dev/null
q $P $DB "CREATE EXTENSION learning" >/dev/null
q $P $DB "CREATE FUNCTION public.err(sql text) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN EXECUTE sql; RETURN 'no error';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END \$\$" >/dev/null
sleep 1
tap_is "$(relay_pid $P $DB)" "" "with nothing to deliver the database has no relay worker"

# --- URLs: only http and https ------------------------------------------------
tap_is "$(q $P $DB "SELECT err(\$\$SELECT learning.create_webhook('file:///etc/passwd')\$\$)")" \
    "22023: invalid webhook url \"file:///etc/passwd\": only http and https URLs are allowed" \
    "a file: URL is refused with 22023 naming it"
tap_is "$(q $P $DB "SELECT err(\$\$SELECT learning.create_webhook('gopher://127.0.0.1:70/1x')\$\$)")" \
    "22023: invalid webhook url \"gopher://127.0.0.1:70/1x\": only http and https URLs are allowed" \
    "a gopher: URL is refused with 22023 naming it"
tap_is "$(q $P $DB "SELECT err(\$\$SELECT learning.create_webhook('127.0.0.1:56310/x')\$\$)" | cut -c1-5)" "22023" \
    "a URL without scheme is refused with 22023"
tap_is "$(q $P $DB "SELECT err(\$\$SELECT learning.create_webhook(E'http://127.0.0.1:56310/x\\r\\nHost: evil')\$\$)" | head -1 | cut -c1-30)" \
    "22023: invalid webhook url \"ht" "a URL with a line break is refused with 22023"
tap_is "$(q $P $DB "SELECT err(\$\$SELECT learning.create_webhook('http://127.0.0.1:56310/', ARRAY['nope'])\$\$)")" \
    "22023: invalid event type \"nope\"" "an unknown event type is refused with 22023"
tap_is "$(q $P $DB "SELECT err(\$\$SELECT learning.create_webhook('https://example.com/', NULL, 'bad tenant!')\$\$)" | cut -c1-5)" "22023" \
    "a bad tenant id is refused with 22023"
tap_is "$(q $P $DB "SELECT count(*) FROM learning.webhooks")" "0" "refused webhooks leave no row"

# --- webhooks ------------------------------------------------------------------
hook() { q $P $DB "SELECT learning.create_webhook($1)"; }
H_VERIFY=$(hook "'http://127.0.0.1:56310/verify', NULL, 'acme', '$SECRET'")
H_FLAKY=$(hook "'http://127.0.0.1:56311/flaky', ARRAY['outcome_recorded'], 'acme'")
H_HANG=$(hook "'http://127.0.0.1:56312/hang'")        # every tenant: stored as '*'
H_REFUSED=$(hook "'http://127.0.0.1:56313/refused', NULL, 'acme'")
H_HUGE=$(hook "'http://127.0.0.1:56314/huge', NULL, 'acme'")
H_REDIRECT=$(hook "'http://127.0.0.1:56315/redirect', NULL, 'acme'")
H_WRONG=$(hook "'http://127.0.0.1:56310/wrong-secret', ARRAY['outcome_recorded'], 'acme', 'not-the-receivers-secret'")
H_OTHER=$(hook "'http://127.0.0.1:56317/other', NULL, 'globex', '$SECRET'")
tap_is "$(q $P $DB "SELECT tenant_id || ':' || (event_types IS NULL) || ':' || (secret LIKE 'whsec\_%' AND length(secret) = 70) FROM learning.webhooks WHERE id = $H_HANG")" \
    "*:true:true" "NULL tenant and events: all tenants ('*'), all events, a generated secret"

# --- one event --------------------------------------------------------------------
E1=$(emit $P $DB acme outcome_recorded '{"n": 1}')
RELAY=$(wait_relay $P $DB 5)
tap_ok $? "the commit that queues deliveries has the launcher start a learning relay worker (pid ${RELAY:-none})"
sleep 0.3   # the hang receiver now holds its first attempt
T0=$(now_s)
E2=$(emit $P $DB acme feedback_recorded '{"n": 2}')
got=""
for ((i = 0; i < 40; i++)); do
    got=$(awk -v e="$E2" '$2 == e && $5 == "/verify" { print $1; exit }' "$W/verify.log")
    [ -n "$got" ] && break
    sleep 0.05
done
lat=$(awk -v a="$T0" -v b="${got:-0}" 'BEGIN { printf "%.3f", b - a }')
tap_ok "$([ -n "$got" ] && awk -v l="$lat" 'BEGIN { exit !(l < 1.0) }'; echo $?)" \
    "a hanging endpoint delays no other: event $E2 reached the verifying receiver ${lat}s after its commit"

idle=0
for ((i = 0; i < 10; i++)); do
    [ "$(q $P $DB "SELECT xact_start IS NULL FROM pg_stat_activity WHERE backend_type = 'learning relay'")" == "t" ] && idle=$((idle + 1))
    sleep 0.07
done
tap_ok "$([ $idle -ge 8 ]; echo $?)" "no transaction open while the hang endpoint is in flight ($idle of 10 samples idle)"

# Everything settles: only dead deliveries are left (3 attempts of 1.5 s for hang).
wait_for $P $DB "SELECT count(*) = 0 FROM learning.relay_queue WHERE state <> 'dead'" 30
tap_ok $? "every delivery is finished or dead"

# attempts(webhook, event): "status/http_code" of every attempt in order
attempts() {
    q $P $DB "SELECT string_agg(status || '/' || coalesce(http_code::text, '-'), ' ' ORDER BY attempt)
                FROM learning.webhook_deliveries WHERE webhook_id = $1 AND event_id = $2"
}
tap_is "$(attempts "$H_VERIFY" "$E1") $(attempts "$H_VERIFY" "$E2")" "delivered/200 delivered/200" \
    "verifying receiver: each event delivered at the first attempt"
tap_is "$(awk -v a="$E1" -v b="$E2" '($2 == a || $2 == b) && $5 == "/verify" { print $2 "=" $6 ":" $3 ":" $4 }' "$W/verify.log" | sort | tr '\n' ' ')" \
    "$E1=$E1:200:sig-ok $E2=$E2:200:sig-ok " \
    "the receiver verified Learning-Signature, and Learning-Event-Id is the body's id"
tap_is "$(attempts "$H_FLAKY" "$E1")" "failed/500 failed/500 delivered/200" \
    "500 twice then 200: three attempts logged, one accepted"
tap_is "$(grep -c " $E1 " "$W/flaky.log")" "3" "the flaky receiver saw the event three times, same event id"
tap_is "$(attempts "$H_FLAKY" "$E2")" "" "an event type the webhook does not want is not sent"
tap_is "$(q $P $DB "SELECT count(*) FILTER (WHERE error LIKE '%timed out%' AND duration_ms BETWEEN 1400 AND 3000) || '/' || count(*) || '/' || max(status) FILTER (WHERE attempt = 3)
                     FROM learning.webhook_deliveries WHERE webhook_id = $H_HANG AND event_id = $E1")" \
    "3/3/dead" "hanging receiver: every attempt ends at the 1.5 s timeout; dead after 3 attempts"
tap_is "$(attempts "$H_REFUSED" "$E1")" "failed/- failed/- dead/-" "refused connection: failed, failed, dead"
tap_is "$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries WHERE webhook_id = $H_REFUSED AND error LIKE '%onnect%'")" \
    "$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries WHERE webhook_id = $H_REFUSED")" \
    "refused connection: every attempt logs a connection error"
tap_is "$(q $P $DB "SELECT status || '/' || http_code || '/' || (error LIKE 'response body over 65536 bytes%') || '/' || (duration_ms < 1000)
                     FROM learning.webhook_deliveries WHERE webhook_id = $H_HUGE AND event_id = $E1")" \
    "delivered/200/true/true" "huge body: 2xx accepted, reading stopped at 64 kB, quickly"
tap_is "$(attempts "$H_REDIRECT" "$E1")" "failed/302 failed/302 dead/302" "redirect: a failed attempt every time, never followed"
tap_is "$(q $P $DB "SELECT error FROM learning.webhook_deliveries WHERE webhook_id = $H_REDIRECT AND event_id = $E1 AND attempt = 1")" \
    "HTTP 302 redirect to http://127.0.0.1:56316/elsewhere not followed" "the redirect's target is logged"
tap_is "$(wc -l <"$W/elsewhere.log")" "0" "the redirect target received nothing"
tap_is "$(attempts "$H_WRONG" "$E1")" "failed/401 failed/401 dead/401" "wrong secret: the receiver rejects the signature (401)"
tap_is "$(awk '$5 == "/wrong-secret" { print $4 }' "$W/verify.log" | sort -u)" "sig-bad" "the receiver saw a bad signature"
tap_is "$(wc -l <"$W/other.log")" "0" "another tenant's webhook received nothing"

# --- tenant routing: an event of globex goes to globex's and the '*' webhook only
E3=$(emit $P $DB globex job_completed '{}')
wait_for $P $DB "SELECT count(*) = 1 FROM learning.webhook_deliveries WHERE webhook_id = $H_OTHER AND event_id = $E3 AND status = 'delivered'" 10
tap_ok $? "an event of another tenant reaches that tenant's webhook"
tap_is "$(q $P $DB "SELECT string_agg(w::text, ',' ORDER BY w) FROM (SELECT webhook_id FROM learning.relay_queue WHERE event_id = $E3
                     UNION SELECT webhook_id FROM learning.webhook_deliveries WHERE event_id = $E3) s(w)")" \
    "$(printf '%s\n' "$H_HANG" "$H_OTHER" | sort -n | paste -sd,)" \
    "...and to the all-tenants webhook, to no other"

# --- disable and enable ---------------------------------------------------------
q $P $DB "SELECT learning.set_webhook_enabled($H_VERIFY, false)" >/dev/null
E4=$(emit $P $DB acme outcome_resolved '{}')
sleep 1
tap_is "$(awk -v e="$E4" '$2 == e' "$W/verify.log" | wc -l)/$(q $P $DB "SELECT count(*) FROM learning.relay_queue WHERE webhook_id = $H_VERIFY")" \
    "0/0" "a disabled webhook is not sent the events of its disabled time"
q $P $DB "SELECT learning.set_webhook_enabled($H_VERIFY, true)" >/dev/null
E5=$(emit $P $DB acme outcome_resolved '{}')
wait_for $P $DB "SELECT count(*) = 1 FROM learning.webhook_deliveries WHERE webhook_id = $H_VERIFY AND event_id = $E5 AND status = 'delivered'" 10
tap_ok $? "...and gets new events once enabled again"

# --- dead deliveries can be retried ----------------------------------------------
t_retry=$(q $P $DB "SELECT clock_timestamp()")
n=$(q $P $DB "SELECT learning.retry_dead_deliveries($H_REFUSED)")
tap_ok "$([ "$n" -ge 1 ]; echo $?)" "retry_dead_deliveries puts $n dead deliveries back"
wait_for $P $DB "SELECT count(DISTINCT event_id) = $n FROM learning.webhook_deliveries
                  WHERE webhook_id = $H_REFUSED AND attempt = 1 AND attempted_at > '$t_retry'" 10
tap_ok $? "...which are attempted again, with a fresh budget, with no other commit to wake the relay (receiver still absent)"
tap_is "$(q $P $DB "SELECT learning.drop_webhook($H_REFUSED)")/$(q $P $DB "SELECT count(*) FROM learning.relay_queue WHERE webhook_id = $H_REFUSED")" \
    "t/0" "drop_webhook removes the webhook and its queue"

# --- retention (SIGHUP) ------------------------------------------------------------
q $P $DB "INSERT INTO learning.webhook_deliveries (tenant_id, webhook_id, event_id, attempt, status, duration_ms, attempted_at)
          VALUES ('acme', $H_VERIFY, $E1, 99, 'failed', 1, now() - interval '30 days')" >/dev/null
q $P $DB "ALTER SYSTEM SET learning.webhook_delivery_retention = '1d'" >/dev/null
q $P $DB "SELECT pg_reload_conf()" >/dev/null
wait_for $P $DB "SELECT count(*) = 0 FROM learning.webhook_deliveries WHERE attempt = 99" 20
tap_ok $? "delivery log rows older than learning.webhook_delivery_retention are deleted (after SIGHUP)"
tap_ok "$([ "$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries")" -gt 10 ]; echo $?)" "recent delivery log rows stay"

# --- many hanging endpoints at once do not starve a healthy one --------------------
HANGS=$(q $P $DB "SELECT string_agg(learning.create_webhook('http://127.0.0.1:56312/hang-' || k, NULL, 'acme')::text, ' ')
                    FROM generate_series(1, 12) k")
# ten events, one transaction each (a transaction's events of one type are one event)
q $P $DB "DO \$\$ BEGIN FOR g IN 1..10 LOOP
              PERFORM learning.emit_event('acme', 'job_completed', '{}'); COMMIT;
          END LOOP; END \$\$" >/dev/null
wait_relay $P $DB 10 >/dev/null   # started on demand by those commits
sleep 0.5   # 12 x 10 deliveries to hanging endpoints are now in flight
T0=$(now_s)
E7=$(emit $P $DB acme outcome_resolved '{}')
got=""
for ((i = 0; i < 60; i++)); do
    got=$(awk -v e="$E7" '$2 == e && $5 == "/verify" { print $1; exit }' "$W/verify.log")
    [ -n "$got" ] && break
    sleep 0.05
done
lat=$(awk -v a="$T0" -v b="${got:-0}" 'BEGIN { printf "%.3f", b - a }')
tap_ok "$([ -n "$got" ] && awk -v l="$lat" 'BEGIN { exit !(l < 1.0) }'; echo $?)" \
    "with 12 hanging endpoints and 120 of their deliveries pending, the healthy one got event $E7 ${lat}s after its commit"
for h in $HANGS; do q $P $DB "SELECT learning.drop_webhook($h)" >/dev/null; done
sleep 2     # their POSTs in flight end at the 1.5 s timeout

# --- memory stays flat over thousands of deliveries ------------------------------
for h in $H_HANG $H_HUGE $H_REDIRECT; do q $P $DB "SELECT learning.set_webhook_enabled($h, false)" >/dev/null; done
q $P $DB "SELECT count(learning.emit_event('acme', 'job_completed', jsonb_build_object('n', g))) FROM generate_series(1, 10) g" >/dev/null
RELAY=$(wait_relay $P $DB 5)
mem() {  # "<memory-context bytes in use> <VmRSS kB>" of the relay
    q $P $DB "SELECT pg_log_backend_memory_contexts($RELAY)" >/dev/null
    sleep 0.5
    echo "$(grep "\[$RELAY\] LOG:  Grand total: " "$TEST_ROOT/relay_webhooks/server.log" | tail -1 | sed 's/.* \([0-9]*\) used$/\1/') $(awk '/VmRSS/ { print $2 }' /proc/$RELAY/status)"
}
burst() {
    q $P $DB "SELECT count(learning.emit_event('acme', 'job_completed', jsonb_build_object('n', g))) FROM generate_series(1, 1000) g" >/dev/null
    wait_for $P $DB "SELECT count(*) = 0 FROM learning.relay_queue WHERE state = 'pending'" 60
}
burst; m1=$(mem); burst; burst; burst; m2=$(mem)
read -r c1 r1 <<<"$m1"; read -r c2 r2 <<<"$m2"
# (RSS also counts the shared buffers the relay touches: shown, not judged)
tap_ok "$([ -n "$c1" ] && [ -n "$c2" ] && [ $((c2 - c1)) -lt 8192 ]; echo $?)" \
    "relay memory flat over 3000 more deliveries (memory contexts: $c1 -> $c2 bytes used; RSS $r1 -> $r2 kB)"

tap_is "$(relay_pid $P $DB)" "$RELAY" "the same relay worker made the 3000 deliveries"
tap_is "$(grep -c "\(ERROR\|FATAL\|PANIC\): .*\(relay\|learning.webhook\|curl\)" "$TEST_ROOT/relay_webhooks/server.log")" "0" \
    "no error from the relays in the server log"

# --- a failing relay transaction is logged, and the relay goes on ------------------
q $P $DB "ALTER FUNCTION learning.relay_claim(integer, bigint[], integer[], integer, bigint[], integer, interval, text) RENAME TO relay_claim_away" >/dev/null
E6=$(emit $P $DB acme outcome_resolved '{}')
sleep 1.5
RELAY=$(relay_pid $P $DB)
sleep 1.5
tap_ok "$(grep -q "\[$RELAY\] ERROR:  function learning.relay_claim" "$TEST_ROOT/relay_webhooks/server.log" && [ -n "$RELAY" ] && [ "$(relay_pid $P $DB)" == "$RELAY" ]; echo $?)" \
    "a failing claim is logged as an error and the relay keeps running, its delivery due"
q $P $DB "ALTER FUNCTION learning.relay_claim_away(integer, bigint[], integer[], integer, bigint[], integer, interval, text) RENAME TO relay_claim" >/dev/null
wait_for $P $DB "SELECT count(*) = 1 FROM learning.webhook_deliveries WHERE webhook_id = $H_VERIFY AND event_id = $E6 AND status = 'delivered'" 10
tap_ok $? "...and delivers once the claim works again"

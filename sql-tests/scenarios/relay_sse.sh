#!/usr/bin/env bash
# relay_sse.sh: the live SSE feed through real nginx + nchan
# (api/nginx-nchan.conf, api/SSE.md).  nginx runs unprivileged with its own
# prefix on two loopback ports; the relay publishes every event of a tenant to
# that tenant's unguessable channel; curl subscribes like a browser's
# EventSource.  An event reaches its tenant's subscriber within 2 seconds of
# its commit and never another tenant's; only a valid API token learns the
# channel.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash

P=56331; DB=relay; PUB=56332; SUB=56333
W=$TEST_ROOT/relay_sse.rx
rm -rf "$W"; mkdir -p "$W"
trap relay_cleanup EXIT

start_cluster relay_sse $P "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "learning.sse_publish_url = 'http://127.0.0.1:$PUB/pub'" || { echo "not ok - cluster starts"; exit 1; }
RELAY_CLUSTERS+=(relay_sse)
start_nchan "$W/nginx" $PUB $SUB
tap_ok $? "nginx + nchan (api/nginx-nchan.conf) runs unprivileged on 127.0.0.1:$PUB and :$SUB"

q $P postgres "CREATE DATABASE $DB" >/dev/null
q $P $DB "CREATE EXTENSION learning" >/dev/null
sleep 1
tap_is "$(relay_pid $P $DB)" "" "no relay worker while there is nothing to publish (started on demand)"

# api ROLE CLAIMS SQL: runs SQL as a PostgREST request of that role with those claims.
api() {
    "$PGBIN/psql" -h "$TEST_ROOT" -p $P -d $DB -U postgres -XAtq -v ON_ERROR_STOP=1 \
        -c "SET ROLE $1" -c "SELECT set_config('request.jwt.claims', '$2', false)" -c "$3" 2>&1
}
channel() {
    api learning_rep "{\"role\": \"learning_rep\", \"tenant_id\": \"$1\", \"sub\": \"u1\"}" \
        "SELECT learning_api.sse_channel() ->> 'channel'" | tail -1
}
KA=$(channel acme)
KB=$(channel globex)
tap_ok "$([[ "$KA" =~ ^[0-9a-f]{64}$ ]] && [[ "$KB" =~ ^[0-9a-f]{64}$ ]] && [ "$KA" != "$KB" ]; echo $?)" \
    "learning_api.sse_channel() gives each tenant its own 64-hex-digit channel"
tap_is "$(channel acme)" "$KA" "...the same one on every call"
tap_is "$(api learning_rep '{"role": "learning_rep", "tenant_id": "acme", "sub": "u1"}' "SELECT learning_api.sse_channel() ->> 'path'" | tail -1)" \
    "/sub/$KA" "...with the subscribe path"
tap_ok "$(api learning_anon '{}' "SELECT learning_api.sse_channel()" | grep -q 'permission denied'; echo $?)" \
    "without a token (learning_anon) the channel cannot be learned"
tap_ok "$(api learning_rep '{"role": "learning_rep", "sub": "u1"}' "SELECT learning_api.sse_channel()" | grep -q 'PT401.*no valid tenant_id claim'; echo $?)" \
    "a token without a tenant_id claim is refused (401)"
tap_is "$(api learning_rep '{"role": "learning_rep", "tenant_id": "acme", "sub": "u1"}' "SELECT count(*) FROM learning.sse_channels" | grep -c 'permission denied')" \
    "1" "API roles cannot read the channel table"

curl -sN -H 'Accept: text/event-stream' "http://127.0.0.1:$SUB/sub/$KA" >"$W/a.sse" 2>/dev/null &
RELAY_PIDS+=($!)
curl -sN -H 'Accept: text/event-stream' "http://127.0.0.1:$SUB/sub/$KB" >"$W/b.sse" 2>/dev/null &
RELAY_PIDS+=($!)
for ((i = 0; i < 50; i++)); do [ -s "$W/a.sse" ] && [ -s "$W/b.sse" ] && break; sleep 0.05; done
tap_ok "$([ -s "$W/a.sse" ] && [ -s "$W/b.sse" ]; echo $?)" "two curl SSE subscribers connected (acme, globex)"

# commit-to-receipt: T0 is taken before the commit, so the figure is an upper bound
T0=$(now_s)
E1=$(emit $P $DB acme outcome_resolved '{"status": "positive"}')
got=""
for ((i = 0; i < 100; i++)); do
    grep -q "^data: {\"id\": $E1," "$W/a.sse" && { got=$(now_s); break; }
    sleep 0.02
done
lat=$(awk -v a="$T0" -v b="${got:-0}" 'BEGIN { printf "%.3f", b - a }')
tap_ok "$([ -n "$got" ] && awk -v l="$lat" 'BEGIN { exit !(l < 2.0) }'; echo $?)" \
    "acme's subscriber received event $E1 ${lat}s after the commit (limit 2 s)"
tap_is "$(grep '^data: ' "$W/a.sse" | head -1 | sed 's/^data: //' | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["tenant_id"], d["event_type"], d["payload"]["items"][0]["status"])')" \
    "acme outcome_resolved positive" "the SSE data is the event's JSON"

for ((i = 0; i < 5; i++)); do q $P $DB "SELECT learning.emit_event('acme', 'feedback_recorded', '{}')" >/dev/null; done
wait_for $P $DB "SELECT count(*) = 0 FROM learning.relay_queue" 10
sleep 0.3
tap_is "$(grep -c '^data: ' "$W/a.sse")" "6" "all six acme events arrived, each once"
tap_is "$(grep -c '^data: ' "$W/b.sse")" "0" "globex's subscriber received nothing"

E2=$(emit $P $DB globex job_completed '{}')
for ((i = 0; i < 100; i++)); do grep -q "^data: {\"id\": $E2," "$W/b.sse" && break; sleep 0.02; done
tap_ok "$(grep -q "^data: {\"id\": $E2," "$W/b.sse"; echo $?)" "globex's own event reaches globex's subscriber"
tap_is "$(grep -c '^data: ' "$W/a.sse")" "6" "...and not acme's"

tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "http://127.0.0.1:$SUB/pub/$KA")" "404" \
    "the subscriber port has no publisher location"
tap_is "$(q $P $DB "SELECT count(*) FILTER (WHERE status = 'delivered' AND http_code BETWEEN 200 AND 299) || '/' || count(*) FROM learning.webhook_deliveries WHERE webhook_id = 0")" \
    "7/7" "every publication is logged as webhook 0, all accepted by nchan"

# A tenant without a channel is not published; a rotated channel goes quiet.
q $P $DB "SELECT learning.emit_event('initech', 'job_completed', '{}')" >/dev/null
tap_is "$(q $P $DB "SELECT count(*) FROM learning.relay_queue WHERE tenant_id = 'initech'")" "0" \
    "events of a tenant that never asked for a channel are not queued for SSE"
KA2=$(q $P $DB "SELECT learning.rotate_sse_channel('acme')")
E3=$(emit $P $DB acme job_completed '{}')
wait_for $P $DB "SELECT count(*) = 0 FROM learning.relay_queue" 10
sleep 0.3
tap_ok "$([ "$KA2" != "$KA" ] && ! grep -q "^data: {\"id\": $E3," "$W/a.sse"; echo $?)" \
    "after rotate_sse_channel the old channel receives nothing more"

#!/usr/bin/env bash
# attack_webhooks.sh: webhooks as a way in.  The relay POSTs as a superuser
# from inside the database server's network, so:
#   - a member of learning_app (trusted SQL API caller) cannot write webhook
#     subscriptions, the delivery queue or the SSE channel keys by hand, nor
#     read a webhook secret, nor turn learning.webhook_allow_private_networks on;
#   - create_webhook refuses a literal loopback, private, link-local,
#     unspecified, multicast or reserved address in every spelling libcurl and
#     inet_aton(3) accept (22023, hint naming the setting), and accepts them
#     once a superuser turns the setting on;
#   - rows written by hand (as a superuser) with file:, gopher: or dict: URLs
#     are dead at their first attempt instead of being retried;
#   - a name that resolves to loopback ("localhost", written by hand past
#     create_webhook) is refused by the relay after name resolution and
#     before connecting: dead at the first attempt, the receiver sees nothing
#     (not even a TCP connection); with the setting on it is
#     delivered; turned off again, even the connection libcurl kept alive to
#     it is not used again;
#   - the SSE publisher (learning.sse_publish_url, set by a superuser, usually
#     nginx on loopback) is trusted configuration: published to with the
#     setting off, while a webhook written by hand to its address is refused.
# Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
. test/lib.sh
. sql-tests/scenarios/relay_lib.bash

P=56351; DB=attack; RX=56352; SSE=56353; TCP=56354
SECRET=attack-secret-0123456789abcdef
W=$TEST_ROOT/attack_webhooks.rx
rm -rf "$W"; mkdir -p "$W"
trap relay_cleanup EXIT

# the setting is left at its default (off)
start_cluster attack_webhooks $P "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "learning.webhook_timeout = 1500" "learning.webhook_connect_timeout = 500" \
    "learning.webhook_retry_base = 200" "learning.webhook_max_attempts = 3" \
    "learning.relay_poll_interval = 50" "learning.sse_publish_url = 'http://127.0.0.1:$SSE/pub'" \
    || { echo "not ok - cluster starts"; exit 1; }
RELAY_CLUSTERS+=(attack_webhooks)
start_rx verify $RX "$W/rx.log" "$SECRET" && start_rx fast $SSE "$W/sse.log"
tap_ok $? "a receiver and a stand-in SSE publisher listen on 127.0.0.1:$RX and :$SSE"
# a bare TCP listener that logs every connection accepted (not only requests)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
log = open(sys.argv[2], "a", buffering=1)
while True:
    c, _ = s.accept(); log.write("accepted\n"); c.close()
' $TCP "$W/tcp.log" 2>>"$W/tcp.log.stderr" &
RELAY_PIDS+=($!)
: >"$W/tcp.log"; wait_port $TCP 10 && sleep 0.2 && : >"$W/tcp.log"
tap_ok $? "a TCP listener counts connections on 127.0.0.1:$TCP"

q $P postgres "CREATE DATABASE $DB" >/dev/null
q $P $DB "CREATE EXTENSION learning;
          CREATE ROLE mallory LOGIN; GRANT learning_app TO mallory;
          CREATE FUNCTION public.err(sql text) RETURNS text LANGUAGE plpgsql AS \$\$
          DECLARE h text;
          BEGIN EXECUTE sql; RETURN 'no error';
          EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
                    RETURN SQLSTATE || CASE WHEN h LIKE '%learning.webhook_allow_private_networks%'
                                            THEN ' (hint names the setting)' ELSE '' END; END \$\$;
          GRANT EXECUTE ON FUNCTION public.err(text) TO PUBLIC" >/dev/null
tap_ok $? "database, extension and a learning_app member"
KEY=$(q $P $DB "SELECT learning.sse_channel('acme')")
HOOK=$(q $P $DB "SELECT learning.create_webhook('https://crm.example.com/hooks', NULL, 'acme', '$SECRET')")
tap_ok $? "the owner subscribes a public https URL"

# --- learning_app against the webhook tables -----------------------------------
as_mallory() {
    "$PGBIN/psql" -h "$TEST_ROOT" -p $P -U mallory -d $DB -XAtq -v ON_ERROR_STOP=1 -c "$1"
}
m_err() { as_mallory "SELECT err(\$q\$$1\$q\$)"; }

tap_is "$(m_err "INSERT INTO learning.webhooks (tenant_id, url, secret) VALUES ('*', 'http://127.0.0.1:5432/', 'mallory-knows-this-secret')")" \
    "42501" "learning_app cannot INSERT a webhook (42501)"
tap_is "$(m_err "UPDATE learning.webhooks SET url = 'http://169.254.169.254/latest/meta-data/'")" \
    "42501" "learning_app cannot re-point a webhook (UPDATE url: 42501)"
tap_is "$(m_err "SELECT secret FROM learning.webhooks")" "42501" "learning_app cannot read webhook secrets (42501)"
tap_is "$(m_err "DELETE FROM learning.webhooks")" "42501" "learning_app cannot DELETE webhooks (42501)"
tap_is "$(m_err "INSERT INTO learning.relay_queue (tenant_id, webhook_id, event_id) VALUES ('acme', $HOOK, 1)")" \
    "42501" "learning_app cannot write the delivery queue (42501)"
tap_is "$(m_err "INSERT INTO learning.webhook_deliveries (tenant_id, webhook_id, event_id, attempt, status, duration_ms, attempted_at) VALUES ('acme', $HOOK, 1, 1, 'delivered', 0, now())")" \
    "42501" "learning_app cannot forge the delivery log (42501)"
tap_is "$(m_err "INSERT INTO learning.sse_channels (tenant_id, channel_key) VALUES ('acme', '../../admin')")" \
    "42501" "learning_app cannot write SSE channel keys, which the relay puts in the publisher's URL (42501)"
tap_is "$(m_err "SELECT learning.set_webhook_enabled($HOOK, false)")" "42501" \
    "learning_app cannot disable the owner's webhook (42501)"
tap_is "$(m_err "SELECT learning.drop_webhook($HOOK)")" "42501" "learning_app cannot drop the owner's webhook (42501)"
tap_is "$(m_err "SET learning.webhook_allow_private_networks = on")" "42501" \
    "a non-superuser cannot SET learning.webhook_allow_private_networks (42501)"
tap_is "$(as_mallory "SELECT url || ' ' || secret_hint FROM learning.webhook_status WHERE webhook_id = $HOOK" 2>&1)" \
    "https://crm.example.com/hooks ...cdef" "learning_app still sees the webhook, with the secret's last four characters only"
tap_is "$(q $P $DB "SELECT url FROM learning.webhooks WHERE id = $HOOK")" "https://crm.example.com/hooks" \
    "the owner's webhook is untouched"

# --- create_webhook: every spelling of a private address -----------------------
SPELLINGS=(
    'http://127.0.0.1/' 'http://2130706433/' 'http://0x7f000001/' 'http://0177.0.0.1/' 'http://127.1/'
    'http://0x7f.1/' 'http://127.000.000.001/' 'http://127.0.0.1./' 'http://%31%32%37.0.0.1/'
    'http://[::1]/' 'http://[::ffff:127.0.0.1]/' 'http://[0:0:0:0:0:ffff:7f00:1]/' 'http://[0000::0001]/'
    'http://localhost/' 'http://localhost./' 'http://LocalHost:8080/x' 'http://api.localhost/'
    'http://169.254.169.254/latest/meta-data/' 'http://[fe80::1%25eth0]/' 'http://10.0.0.1/'
    'http://172.16.5.4/' 'http://192.168.1.1/' 'http://100.64.0.1/' 'http://[fd00::1]/'
    'http://0.0.0.0/' 'http://0/' 'http://[::]/' 'http://224.0.0.1/' 'http://[ff02::1]/'
    'http://255.255.255.255/' 'http://[64:ff9b::a9fe:a9fe]/' 'http://[::ffff:0:7f00:1]/' 'http://[2002:a00:1::1]/'
    'http://user:pw@127.0.0.1:6379/'
)
for u in "${SPELLINGS[@]}"; do
    tap_is "$(q $P $DB "SELECT err(\$q\$SELECT learning.create_webhook('$u')\$q\$)")" \
        "22023 (hint names the setting)" "create_webhook refuses $u with the setting off (22023)"
done
tap_is "$(q $P $DB "SELECT count(*) FROM learning.webhooks")" "1" "the refused URLs left no row"
# 0127.0.0.1 is octal 87.0.0.1 for inet_aton and libcurl: public, accepted
tap_ok $(q $P $DB "SELECT learning.drop_webhook(learning.create_webhook('http://0127.0.0.1/'))" >/dev/null; echo $?) \
    "a public address that merely looks like loopback (0127.0.0.1 = 87.0.0.1) is accepted"
for u in "${SPELLINGS[@]}"; do
    tap_ok $(q $P $DB "SET learning.webhook_allow_private_networks = on;
                       SELECT learning.drop_webhook(learning.create_webhook('$u'))" >/dev/null; echo $?) \
        "with the setting on (superuser SET), create_webhook accepts $u"
done

# --- other schemes, written by hand past create_webhook -------------------------
q $P $DB "INSERT INTO learning.webhooks (tenant_id, url, secret) VALUES
          ('acme', 'file:///etc/passwd', '$SECRET'), ('acme', 'gopher://127.0.0.1:$RX/_GET%20/', '$SECRET'),
          ('acme', 'dict://127.0.0.1:$RX/info', '$SECRET')" >/dev/null
tap_ok $? "the owner writes file:, gopher: and dict: webhooks by hand"
q $P $DB "INSERT INTO learning.webhooks (tenant_id, url, secret) VALUES
          ('acme', 'http://10.255.255.1:9/', '$SECRET'), ('acme', 'http://[::ffff:169.254.169.254]/latest/', '$SECRET')" >/dev/null
tap_ok $? "and webhooks to 10.255.255.1 and [::ffff:169.254.169.254]"

# --- a name that resolves to loopback ------------------------------------------
LH=$(q $P $DB "INSERT INTO learning.webhooks (tenant_id, url, secret)
               VALUES ('acme', 'http://localhost:$RX/by-name', '$SECRET') RETURNING id")
tap_ok $? "the owner writes a webhook to http://localhost:$RX by hand (create_webhook would refuse it)"
q $P $DB "SELECT learning.record_outcome('acme', 'c1', 'send_email', 0.5, 'email_engagement')" >/dev/null
EV1=$(q $P $DB "SELECT max(id) FROM learning.events WHERE tenant_id = 'acme'")
# the relay is started on demand by the deliveries the commit queued
RELAY=$(wait_relay $P $DB 20)
tap_ok $? "a relay runs for the queued deliveries (pid ${RELAY:-none})"

wait_for $P $DB "SELECT count(*) = 6 FROM learning.webhook_deliveries d JOIN learning.webhooks w ON w.id = d.webhook_id
                  WHERE d.event_id = $EV1 AND d.attempt = 1 AND d.status = 'dead' AND w.url !~ '^https://'" 15
tap_ok $? "the file:, gopher:, dict:, 10.255.255.1, ::ffff:169.254.169.254 and localhost deliveries are dead at their first attempt"
tap_is "$(q $P $DB "SELECT string_agg(d.error, ' | ' ORDER BY w.id) FROM learning.webhook_deliveries d
                     JOIN learning.webhooks w ON w.id = d.webhook_id WHERE w.url ~ '^http://(10|\[)'")" \
    "refused to connect to 10.255.255.1 (private address): learning.webhook_allow_private_networks is off | refused to connect to ::ffff:169.254.169.254 (link-local address): learning.webhook_allow_private_networks is off" \
    "the relay refused the private address and the IPv4-mapped metadata address, saying which"
for s in file gopher dict; do
    tap_is "$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries d JOIN learning.webhooks w ON w.id = d.webhook_id
                         WHERE w.url LIKE '$s:%' AND d.status <> 'dead'")" "0" "the $s: delivery was never retried"
done
# localhost is 127.0.0.1, and ::1 where /etc/hosts says so (tried first then)
REFUSED_LOOPBACK='^refused to connect to (127\.0\.0\.1|::1) \(loopback address\): learning\.webhook_allow_private_networks is off$'
tap_is "$(q $P $DB "SELECT d.error ~ '$REFUSED_LOOPBACK' FROM learning.webhook_deliveries d WHERE d.webhook_id = $LH AND d.event_id = $EV1")" \
    "t" "the delivery log says which address was refused and why"
tap_is "$(q $P $DB "SELECT d.error FROM learning.webhook_deliveries d JOIN learning.webhooks w ON w.id = d.webhook_id WHERE w.url LIKE 'file:%'")" \
    "invalid webhook url: only http and https URLs are allowed" "the delivery log says why the file: delivery is dead"
tap_is "$(q $P $DB "SELECT state || ' ' || attempts FROM learning.relay_queue WHERE webhook_id = $LH")" "dead 1" \
    "the localhost delivery is dead in the queue after one attempt"
wait_for $P $DB "SELECT count(*) = 1 FROM learning.webhook_deliveries WHERE webhook_id = 0 AND event_id = $EV1 AND status = 'delivered'" 15
tap_ok $? "the SSE publication of the same event to 127.0.0.1:$SSE is delivered: the superuser's publisher URL is exempt"
tap_is "$(awk '{print $2, $5}' "$W/sse.log")" "$EV1 /pub/$KEY" "the stand-in publisher got it on the tenant's channel"
# a webhook written by hand to the publisher's own address gets nothing from
# the publisher's exemption; one to the TCP listener is refused before connecting
KEY2=$(q $P $DB "SELECT learning.sse_channel('globex')")
SH=$(q $P $DB "INSERT INTO learning.webhooks (tenant_id, url, secret)
               VALUES ('globex', 'http://127.0.0.1:$SSE/pub/$KEY2', '$SECRET') RETURNING id")
TC=$(q $P $DB "INSERT INTO learning.webhooks (tenant_id, url, secret)
               VALUES ('globex', 'http://localhost:$TCP/', '$SECRET') RETURNING id")
q $P $DB "SELECT learning.record_outcome('globex', 'c1', 'send_email', 0.5, 'email_engagement')" >/dev/null
EV3=$(q $P $DB "SELECT max(id) FROM learning.events WHERE tenant_id = 'globex'")
wait_for $P $DB "SELECT count(*) = 3 FROM learning.webhook_deliveries WHERE event_id = $EV3 AND attempt = 1
                    AND ((webhook_id = 0 AND status = 'delivered')
                         OR (webhook_id IN ($SH, $TC) AND status = 'dead' AND error ~ '^refused to connect to (127\.0\.0\.1|::1) '))" 15
tap_ok $? "webhooks written by hand to the publisher's address and to localhost:$TCP are refused while the publication goes through"
tap_is "$(awk -v e="$EV3" '$2 == e {print $5}' "$W/sse.log")" "/pub/$KEY2" \
    "the publisher got the publication only, not the webhook's POST"
tap_is "$(wc -l <"$W/tcp.log" | tr -d ' ')" "0" "the refused webhook never even opened a TCP connection to localhost:$TCP"
sleep 0.5
tap_is "$(wc -l <"$W/rx.log" | tr -d ' ')" "0" "the receiver on loopback saw no request at all (gopher and dict included)"

# --- the setting on: delivered ---------------------------------------------------
q $P $DB "ALTER SYSTEM SET learning.webhook_allow_private_networks = on" >/dev/null &&
    q $P $DB "SELECT pg_reload_conf()" >/dev/null
tap_ok $? "a superuser turns learning.webhook_allow_private_networks on (ALTER SYSTEM, reload)"
# retry the dead delivery until it is delivered: a retry made before the
# relay processed the reload dies again and is retried again
delivered=1
for ((i = 0; i < 75; i++)); do
    if [ "$(q $P $DB "SELECT count(*) FROM learning.webhook_deliveries WHERE webhook_id = $LH AND status = 'delivered'")" == 1 ]; then
        delivered=0; break
    fi
    [ "$(q $P $DB "SELECT state FROM learning.relay_queue WHERE webhook_id = $LH")" == dead ] &&
        q $P $DB "SELECT learning.retry_dead_deliveries($LH)" >/dev/null
    sleep 0.2
done
tap_ok $delivered "with the setting on, the localhost delivery is delivered"
tap_is "$(awk '{print $2, $4, $5}' "$W/rx.log")" "$EV1 sig-ok /by-name" "the receiver got it, signed"

# --- off again: no new connection, and no reuse of the kept-alive one ----------
q $P $DB "ALTER SYSTEM RESET learning.webhook_allow_private_networks" >/dev/null &&
    q $P $DB "SELECT pg_reload_conf()" >/dev/null
sleep 1    # the relay reloads at its next loop turn (at most 50 ms here)
q $P $DB "SELECT learning.record_outcome('acme', 'c2', 'send_email', 0.5, 'email_engagement')" >/dev/null
EV2=$(q $P $DB "SELECT max(id) FROM learning.events WHERE tenant_id = 'acme'")
wait_for $P $DB "SELECT count(*) = 1 FROM learning.webhook_deliveries
                  WHERE webhook_id = $LH AND event_id = $EV2 AND attempt = 1 AND status = 'dead'
                    AND error ~ '$REFUSED_LOOPBACK'" 15
tap_ok $? "turned off again, the next localhost delivery is refused (the kept-alive connection is not reused)"
sleep 0.5
tap_is "$(wc -l <"$W/rx.log" | tr -d ' ')" "1" "the receiver saw only the delivery made while the setting was on"

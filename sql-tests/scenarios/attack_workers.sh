#!/usr/bin/env bash
# Attacks through the background workers and LISTEN.
#
#   * A non-superuser database owner plants look-alike operators, functions
#     and an aggregate in a schema of its own and makes it the database's
#     search_path (ALTER DATABASE ... SET search_path).  The workers run as the
#     bootstrap superuser: after a restart the scheduler runs every job and
#     the relay starts, and the owner must still not be a superuser, and no
#     planted object may ever have run.  (0.1.0 made the owner a superuser.)
#   * Anyone who can connect may LISTEN: with learning.notify_metrics off the
#     payloads carry no business figures, and only a superuser may turn it on.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/workers_lib.bash
PORT=55431
start_cluster attack $PORT "shared_preload_libraries = 'learning'" "learning.enabled = on" \
    "$(all_intervals 1s)" "log_min_messages = log" || { echo "not ok - cluster starts"; exit 1; }
trap 'stop_cluster attack' EXIT
export PGOPTIONS="-c client_min_messages=warning"
W=$TEST_ROOT/attack

q $PORT postgres "CREATE ROLE dbowner LOGIN NOSUPERUSER; CREATE ROLE listener LOGIN NOSUPERUSER" >/dev/null
q $PORT postgres "CREATE DATABASE victim OWNER dbowner" >/dev/null
q $PORT victim "CREATE EXTENSION learning" >/dev/null
q $PORT victim "
SELECT learning.create_webhook('https://hooks.example.com/learning', NULL, 'acme');
SELECT learning.record_outcome('acme', 'c-' || i, 'send_email', 0.7, 'email_engagement',
                               created_at => now() - interval '10 days') FROM generate_series(1, 5) i;
SELECT learning.record_outcome('acme', 'c-sig', 'send_email', 0.7, 'email_engagement');
SELECT learning.ingest_signal('acme', 'c-sig', 'email_replied');" >/dev/null
tap_ok $? "a database owned by a non-superuser, with the extension and work for every job"

# The owner's trap: every planted object records who ran it and, when that
# is a superuser, makes the owner one.
PSQL_OWNER=("$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U dbowner -d victim -XAtq -v ON_ERROR_STOP=1)
"${PSQL_OWNER[@]}" >/dev/null <<'SQL'
CREATE SCHEMA evil;
CREATE TABLE evil.calls (who text, superuser boolean, what text);
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.trap(what text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE su boolean;
BEGIN
    SELECT rolsuper INTO su FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user;
    INSERT INTO evil.calls VALUES (current_user, su, what);
    IF su THEN
        EXECUTE 'ALTER ROLE dbowner SUPERUSER';
    END IF;
END $$;
CREATE FUNCTION evil.texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('text = text'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
CREATE FUNCTION evil.int8gt(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('bigint > bigint'); RETURN a OPERATOR(pg_catalog.>) b; END $$;
CREATE OPERATOR evil.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8gt);
CREATE FUNCTION evil.tslt(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('timestamptz < timestamptz'); RETURN a OPERATOR(pg_catalog.<) b; END $$;
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.tslt);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.max_step(s timestamptz, v timestamptz) RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('max(timestamptz)'); RETURN pg_catalog.greatest(s, v); END $$;
CREATE AGGREGATE evil.max(timestamptz) (SFUNC = evil.max_step, STYPE = timestamptz);
ALTER DATABASE victim SET search_path = evil, pg_catalog, public;
SQL
tap_ok $? "the owner plants operators, functions and an aggregate and sets the database's search_path"
# this script's own superuser sessions must not spring the trap: they pin their path
export PGOPTIONS="-c client_min_messages=warning -c search_path=pg_catalog,public"
# the trap works: a superuser session that takes the database's path springs it
"$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d postgres -XAtq -c "CREATE DATABASE trapcheck TEMPLATE victim OWNER dbowner" >/dev/null
q $PORT trapcheck "ALTER DATABASE trapcheck SET search_path = evil, pg_catalog, public" >/dev/null
PGOPTIONS="-c client_min_messages=warning" q $PORT trapcheck "SELECT 1 WHERE 'a' = 'a'" >/dev/null
tap_is "$(q $PORT trapcheck "SELECT count(*) > 0 FROM evil.calls WHERE superuser")" "t" \
    "the planted operator does run for a superuser session on that path (the trap is armed)"
q $PORT postgres "ALTER ROLE dbowner NOSUPERUSER" >/dev/null
q $PORT postgres "DROP DATABASE trapcheck" >/dev/null

# A restart: the workers connect with the planted database settings.
"$PGBIN/pg_ctl" -D "$TEST_ROOT/attack/data" -m fast -w restart >/dev/null
tap_ok $? "the server restarts"
wait_for $PORT victim "SELECT count(DISTINCT job_name) = 5 FROM learning.job_runs
                        WHERE run_by = 'scheduler' AND started_at > pg_postmaster_start_time()" 30
tap_ok $? "the scheduler ran every job after the restart"
tap_is "$(q $PORT victim "SELECT count(*) FROM learning.job_runs WHERE status = 'failed'")" "0" "no job failed"
# an event for the tenant's webhook: its commit starts the relay, which
# connects with the planted settings too
q $PORT victim "SELECT learning.emit_event('acme', 'job_completed', '{}')" >/dev/null
wait_for $PORT victim "SELECT relay_pid IS NOT NULL FROM learning.job_schedule() LIMIT 1" 10
tap_ok $? "the relay runs in the database"
# ALTER DATABASE ... RENAME restarts the workers too
q $PORT postgres "ALTER DATABASE victim RENAME TO victim2" >/dev/null
q $PORT postgres "ALTER DATABASE victim2 RENAME TO victim" >/dev/null
sleep 3
wait_for $PORT victim "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'learning scheduler' AND datname = 'victim'" 15
tap_ok $? "the scheduler is back after a rename"
sleep 2
tap_is "$(q $PORT postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'")" "f" \
    "the database owner is not a superuser"
tap_is "$(q $PORT victim "SELECT count(*) FROM evil.calls WHERE superuser")" "0" \
    "no planted object ran as a superuser"
tap_is "$(q $PORT victim "SELECT count(*) FROM evil.calls")" "0" "no planted object ran at all"
tap_is "$(q $PORT victim "SELECT status FROM learning.outcome_records WHERE conversation_state_id = 'c-sig'")" "positive" \
    "the jobs did their work (a signal applied)"
grep -q "terminated by signal" "$TEST_ROOT/attack/server.log"
tap_ok $((1 - $?)) "no server process crashed"

# --- LISTEN ------------------------------------------------------------------
q $PORT victim "GRANT CONNECT ON DATABASE victim TO listener" >/dev/null
listen_once() {  # prints the payload a plain login role receives for one commit
    "$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U listener -d victim -XAtq \
        -c 'LISTEN "learning:acme"' -c 'SELECT pg_sleep(1.5)' -c 'SELECT 1' >"$W.listen" 2>&1 &
    local pid=$!
    sleep 0.5
    q $PORT victim "SELECT learning.record_outcome('acme', 'c-live', 'send_email', 0.7, 'email_engagement')" >/dev/null
    wait $pid
    grep -o 'with payload ".*" received' "$W.listen"
}
payload=$(listen_once)
[[ "$payload" == *'"metrics"'* ]]
tap_ok $? "any login role can LISTEN, and by default the payload has today's figures"
q $PORT postgres "ALTER SYSTEM SET learning.notify_metrics = off" >/dev/null
q $PORT postgres "SELECT pg_reload_conf()" >/dev/null
sleep 1
payload=$(listen_once)
[ -n "$payload" ] && [[ "$payload" != *'"metrics"'* ]] && [[ "$payload" != *'"count":'*'"count":'* ]] && [[ "$payload" == *'"first_id"'* ]]
tap_ok $? "with learning.notify_metrics off the payload has ids and event types only ($payload)"
err=$("$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U listener -d victim -XAtq -c "SET learning.notify_metrics = on" 2>&1)
[[ "$err" == *"permission denied"* ]]
tap_ok $? "a non-superuser cannot turn learning.notify_metrics on"

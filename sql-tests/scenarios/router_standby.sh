#!/usr/bin/env bash
# router_standby.sh: a shard's hot standby (pg_basebackup -R, streaming)
# answers the read functions exactly as its primary: calibration lookups,
# dashboards, coaching, feedback, outcomes and events_since, for 24 tenants,
# after the base backup and again after more writes arrive by streaming.
# A read router (learning_router listing the standby) answers the same and
# refuses writes.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/router_lib.bash
P=56336; S=56337
export PGOPTIONS="-c client_min_messages=warning"
EXACT=1   # a standby replays the primary's very bits: compare without rounding

start_cluster router_primary $P "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - primary starts"; exit 1; }
trap 'stop_cluster router_standby; stop_cluster router_primary' EXIT
q $P postgres "CREATE DATABASE s0" >/dev/null && q $P s0 "CREATE EXTENSION learning" >/dev/null
"$PGBIN/psql" -h "$TEST_ROOT" -p $P -U postgres -d s0 -XqAt -v ON_ERROR_STOP=1 -f sql-tests/scenarios/router_data.sql >/dev/null
tap_ok $? "24 tenants written on the primary"

rm -rf "$TEST_ROOT/router_standby"; mkdir -p "$TEST_ROOT/router_standby"
"$PGBIN/pg_basebackup" -h "$TEST_ROOT" -p $P -U postgres -D "$TEST_ROOT/router_standby/data" -R -X stream -c fast >/dev/null 2>&1
tap_ok $? "pg_basebackup -R makes a standby"
echo "port = $S" >>"$TEST_ROOT/router_standby/data/postgresql.conf"
"$PGBIN/pg_ctl" -D "$TEST_ROOT/router_standby/data" -l "$TEST_ROOT/router_standby/server.log" -w start >/dev/null
tap_is "$(q $S s0 "SELECT pg_is_in_recovery()")" "t" "the standby runs in recovery on its own socket"

caught_up() {
    local lsn; lsn=$(q $P postgres "SELECT pg_current_wal_lsn()")
    wait_for $S postgres "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 20
}
compare() {  # compare WHAT
    local t diffs=0 errs=0 a b
    for t in $(seq -f 't%02g' 1 24); do
        a=$(q $P s0 "$(digest $t events)" 2>&1); b=$(q $S s0 "$(digest $t events)" 2>&1)
        [[ $a =~ ^[0-9a-f]{32}$ ]] || errs=$((errs + 1))
        [ "$a" == "$b" ] || { diffs=$((diffs + 1)); [ $diffs -le 2 ] && echo "# $t primary: $a / standby: $b"; }
    done
    tap_is "$diffs/$errs" "0/0" "$1: every tenant's reads (calibration, dashboards, coaching, feedback, events_since) answer on the standby exactly as on the primary"
}
caught_up; tap_ok $? "the standby has replayed the primary's WAL"
compare "after the base backup"
for t in t01 t02; do
    for f in "learning.adjusted_confidence('$t', 'send_email', 0.7)" "learning.calibrated_probability('$t', 'send_email', 0.8)" \
             "learning.calibration_curve('$t', 'send_email')->>'brier_score'"; do
        tap_is "$(q $S s0 "SELECT $f")" "$(q $P s0 "SELECT $f")" "decision-time $f on the standby"
    done
done

# more writes arrive by streaming
q $P s0 "SELECT count(learning.resolve_outcome(o.tenant_id, o.id, 'positive'))
           FROM learning.outcome_records o WHERE o.status = 'pending' AND o.created_at < now() - interval '2 days'" >/dev/null
q $P s0 "SELECT count(learning.submit_feedback(t, 'conv-' || t || '-1', 'message', 'm-late', 'inline', 1, 'rep-1'))
           FROM unnest(ARRAY['t01', 't05', 't09']) t" >/dev/null
q $P s0 "SELECT learning.check_and_adjust('t02', 'send_email')" >/dev/null
caught_up; tap_ok $? "the standby has replayed the later writes"
compare "after streaming"
tap_is "$(q $S s0 "SELECT learning.record_outcome('t01', 'c', 'send_email', 0.5, 'email_engagement')" 2>&1 | grep -o 'read-only transaction')" \
       "read-only transaction" "writes on the standby are refused (read-only transaction)"

# a read router: learning_router whose shard list names the standby
if [ -f "$("$PGBIN/pg_config" --sharedir)/extension/plproxy.control" ]; then
    q $P postgres "CREATE DATABASE read_router" >/dev/null
    q $P read_router "CREATE EXTENSION learning_router CASCADE" >/dev/null
    q $P read_router "SELECT learning_router.set_shards(ARRAY['host=$TEST_ROOT port=$S dbname=s0'])" >/dev/null
    diffs=0
    for t in t01 t07 t13 t19; do
        a=$(q $P s0 "$(digest $t events)"); b=$(q $P read_router "$(digest $t events)" 2>&1)
        [ "$a" == "$b" ] || { diffs=$((diffs + 1)); echo "# $t primary: $a / read router: $b"; }
    done
    tap_is "$diffs" "0" "a read router whose shard list names the standby answers the reads as the primary"
    tap_is "$(q $P read_router "SELECT learning.record_outcome('t01', 'c', 'send_email', 0.5, 'email_engagement')" 2>&1 | grep -o 'read-only transaction')" \
           "read-only transaction" "a write through the read router is refused by the standby"
else
    echo "not ok - PL/Proxy is not installed for $("$PGBIN/pg_config" --bindir)"
fi

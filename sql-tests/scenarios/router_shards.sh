#!/usr/bin/env bash
# router_shards.sh: one router (learning_router on PL/Proxy) in front of two
# shard servers with two databases each.  24 tenants written through the
# router land each on exactly one shard, the one shard_of names; every read
# through the router answers as the shard does; errors keep their SQLSTATE;
# a reshard from two to four shards, interrupted once (a new shard refuses
# connections) and resumed, loses nothing while a writer keeps writing
# through the router; with one shard server stopped, only its tenants fail,
# with a connection error, and the others go on; a shard that hangs fails
# its tenants' calls when the caller's statement_timeout expires, without
# holding up other tenants.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/router_lib.bash
R=56331; A=56332; B=56333
export PGOPTIONS="-c client_min_messages=warning"

# PL/Proxy must be installed where this PostgreSQL looks for extensions
# (CI installs postgresql-15-plproxy; a private install may lack it).
if [ ! -f "$("$PGBIN/pg_config" --sharedir)/extension/plproxy.control" ]; then
    echo "not ok - PL/Proxy is not installed for $("$PGBIN/pg_config" --bindir)"; exit 1
fi

start_cluster router_r $R || { echo "not ok - router cluster starts"; exit 1; }
start_cluster router_a $A "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - shard server A starts"; exit 1; }
start_cluster router_b $B "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - shard server B starts"; exit 1; }
trap 'stop_cluster router_r; stop_cluster router_a; stop_cluster router_b' EXIT

for p in $A $B; do
    for db in s0 s1; do
        q $p postgres "CREATE DATABASE $db" >/dev/null && q $p $db "CREATE EXTENSION learning" >/dev/null
    done
done
ci() { echo "host=$TEST_ROOT port=$1 dbname=$2"; }
# shard index -> (port, database), for the 2- and the 4-shard list
SH2=("$A s0" "$B s0")
SH4=("$A s0" "$B s0" "$A s1" "$B s1")
LIST2="ARRAY['$(ci $A s0)', '$(ci $B s0)']"
LIST4="ARRAY['$(ci $A s0)', '$(ci $B s0)', '$(ci $A s1)', '$(ci $B s1)']"

q $R postgres "CREATE DATABASE router" >/dev/null
q $R router "CREATE EXTENSION learning_router CASCADE" >/dev/null
tap_ok $? "CREATE EXTENSION learning_router CASCADE in a database without learning"
tap_is "$(q $R router "SELECT learning_router.set_shards($LIST2)")" "2" "set_shards takes two shards"
tap_is "$(q $R router "SELECT string_agg(shard || '=' || (conninfo LIKE '%connect_timeout=5'), ',' ORDER BY shard) FROM learning_router.shards WHERE list = 'current'")" \
       "0=true,1=true" "the list is readable in learning_router.shards, with a default connect_timeout"
err() { "$PGBIN/psql" -h "$TEST_ROOT" -p $1 -U postgres -d $2 -XAtq -v VERBOSITY=verbose -c "$3" 2>&1 | grep -o 'ERROR:  [0-9A-Z]\{5\}' | head -1; }
for bad in "ARRAY['a', 'b', 'c']" "NULL" "'{}'::text[]" "ARRAY['a', NULL]"; do
    tap_is "$(err $R router "SELECT learning_router.set_shards($bad)")" "ERROR:  22023" "set_shards($bad) is refused with 22023"
done

# --- 24 tenants through the router ------------------------------------------
t0=$(date +%s%N)
"$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XqAt -v ON_ERROR_STOP=1 \
    -f sql-tests/scenarios/router_data.sql >/dev/null
tap_ok $? "24 tenants written through the router ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"

TENANTS=$(printf "'t%02d'," $(seq 1 24)); TENANTS="ARRAY[${TENANTS%,}]"
PLACED=$TENANTS   # tenants whose placement is checked (the writer's join them)
# where_are SHARDS...: "tenant=index" for every tenant found on a shard database
where_are() {
    local i=0 s out=""
    for s in "$@"; do
        set -- $s
        out+=$(q $1 $2 "SELECT string_agg(t || '=$i', ' ' ORDER BY t) FROM (
                          SELECT tenant_id t FROM learning.outcome_records UNION SELECT tenant_id FROM learning.feedback_entries
                          UNION SELECT tenant_id FROM learning.tenant_settings) x")" "
        i=$((i + 1))
    done
    echo "$out" | tr ' ' '\n' | grep . | sort | tr '\n' ' '
}
expected_places() {
    q $R router "SELECT string_agg(t || '=' || learning_router.shard_of(t), ' ' ORDER BY t) || ' ' FROM unnest($PLACED) t"
}
adj=$(( $(q $A s0 "SELECT count(*) FROM learning.calibration_adjustments") + $(q $B s0 "SELECT count(*) FROM learning.calibration_adjustments") ))
tap_ok $([ $adj -ge 4 ]; echo $?) "check_and_adjust through the router stored calibration history ($adj adjustments) for the move to carry"
tap_is "$(where_are "${SH2[@]}")" "$(expected_places)" "every tenant is on exactly one shard, the one shard_of names"
tap_is "$(q $R router "SELECT count(DISTINCT learning_router.shard_of(t)) FROM unnest($TENANTS) t")" "2" "the tenants are spread over both shards"
tap_is "$(q $R router "SELECT count(*) FROM unnest($TENANTS) t WHERE learning_router.shard_of(t) <> hashtext(t) & 1")" "0" \
       "shard_of is hashtext(tenant_id) & (n - 1)"
set -- ${SH2[$(q $R router "SELECT learning_router.shard_of('t07')")]}
tap_is "$(q $R router "SELECT learning_router.shard_conninfo('t07')")" "$(ci $1 $2) connect_timeout=5" "shard_conninfo names the tenant's shard"

ALL24=$(seq -f 't%02g' 1 24 | tr '\n' ' ')
all_digests() {  # all_digests PORT DB [with_events]: one line per tenant
    q $1 $2 "$(digests "$ALL24" ${3:-})"
}
shard_digests() {  # shard_digests SHARDS...: each tenant's digest read on its own shard
    local ev=$1; shift
    local -a sh=("$@")
    local i tenants
    for i in "${!sh[@]}"; do
        tenants=$(q $R router "SELECT string_agg(t, ' ') FROM unnest($TENANTS) t WHERE learning_router.shard_of(t) = $i")
        [ -n "$tenants" ] && q ${sh[$i]% *} ${sh[$i]#* } "$(digests "$tenants" $ev)"
    done | sort
}
before=$(all_digests $R router events)
tap_is "$before" "$(shard_digests events "${SH2[@]}")" \
       "every read (calibration, dashboards, coaching, feedback, outcomes, events_since) answers through the router as on the tenant's shard"
tap_is "$(echo "$before" | awk '{print $2}' | sort -u | wc -l)" "24" "the 24 tenants' answers all differ (the comparison is not empty)"

# errors keep their SQLSTATE through the router
s=$(q $R router "SELECT learning_router.shard_of('t05')"); set -- ${SH2[$s]}
for sql in "SELECT learning.submit_feedback('t05', 'c', 'message', 'm', 'inline', 3, 'r')" \
           "SELECT learning.resolve_outcome('t05', gen_random_uuid(), 'positive')" \
           "SELECT learning.record_outcome('t05', 'c', 'send_email', 1.5, 'email_engagement')" \
           "SELECT learning.feedback_rate('bad tenant!', 'r')"; do
    tap_is "$(err $R router "$sql")" "$(err $1 $2 "$sql")" "same SQLSTATE through the router: ${sql:7:60}"
done
tap_is "$(err $R router "SELECT learning.brier_score(NULL, 'send_email')")" "ERROR:  22004" "a NULL tenant_id is 22004, as on a shard"

# each routed call is its own transaction on the shard (documented)
"$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XAtq -c "BEGIN" \
    -c "SELECT learning.record_outcome('t05', 'conv-rolled-back', 'send_email', 0.5, 'email_engagement')" -c "ROLLBACK" >/dev/null
set -- ${SH2[$(q $R router "SELECT learning_router.shard_of('t05')")]}
tap_is "$(q $1 $2 "SELECT count(*) FROM learning.outcome_records WHERE conversation_state_id = 'conv-rolled-back'")" "1" \
       "a routed call commits on its shard even when the router's transaction rolls back"
q $1 $2 "DELETE FROM learning.outcome_records WHERE conversation_state_id = 'conv-rolled-back'" >/dev/null

# functions spanning tenants run on every shard
tap_is "$(q $R router "SELECT count(*) FROM learning.pending_outcomes()")" \
       "$(( $(q $A s0 "SELECT count(*) FROM learning.pending_outcomes()") + $(q $B s0 "SELECT count(*) FROM learning.pending_outcomes()") ))" \
       "pending_outcomes() without a tenant gathers every shard's"
tap_is "$(q $R router "SELECT (r->>'status') || '/' || jsonb_array_length(r->'shards') FROM learning.run_job('expire_overdue') r")" \
       "succeeded/2" "run_job runs on every shard and combines the answers"

# --- reshard 2 -> 4, interrupted once, with a writer going on ---------------
counts="SELECT concat_ws('/', (SELECT count(*) FROM learning.outcome_records), (SELECT count(*) FROM learning.signals),
          (SELECT count(*) FROM learning.feedback_entries), (SELECT count(*) FROM learning.tenant_settings),
          (SELECT count(*) FROM learning.outcome_windows), (SELECT count(*) FROM learning.action_minutes_saved),
          (SELECT count(*) FROM learning.calibration_state), (SELECT count(*) FROM learning.calibration_adjustments),
          (SELECT count(*) FROM learning.webhooks WHERE tenant_id <> '*'), (SELECT count(*) FROM learning.sse_channels),
          (SELECT round(sum(coalesce(outcome_score, -1) * predicted_confidence)::numeric, 9) FROM learning.outcome_records))"
sum_counts() {  # adds the "/"-separated counts of every shard database
    local s acc=""
    for s in "$@"; do set -- $s; acc+="$(q $1 $2 "$counts")"$'\n'; done
    echo "$acc" | grep . | awk -F/ '{for (i = 1; i <= NF; i++) s[i] += $i} END {for (i = 1; i <= NF; i++) printf "%s%s", (i > 1 ? "/" : ""), s[i]; print ""}'
}
totals_before=$(sum_counts "${SH2[@]}")
before=$(all_digests $R router)
q $R router "CREATE ROLE router_probe; CREATE USER MAPPING FOR router_probe SERVER learning_shards OPTIONS (user 'postgres')" >/dev/null
q $B postgres "ALTER DATABASE s1 ALLOW_CONNECTIONS false" >/dev/null
"$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XAtq -c "CALL learning_router.reshard($LIST4)" >"$TEST_ROOT/reshard1.log" 2>&1
rc=$?
tap_ok $([ $rc -ne 0 ] && grep -q 'connect' "$TEST_ROOT/reshard1.log"; echo $?) "a reshard stops with a connection error when a new shard refuses connections"
st=$(q $R router "SELECT tenants_to_move || ':' || pending || ':' || done FROM learning_router.reshard_status")
tap_ok $([ -n "$st" ] && [ "$(echo $st | cut -d: -f3)" -gt 0 ] && [ "$(echo $st | cut -d: -f2)" -gt 0 ]; echo $?) \
       "the interrupted reshard shows its progress: tenants to move, pending and done ($st)"
tap_is "$(all_digests $R router)" "$before" "halfway through the reshard every tenant still answers the same through the router"
tap_is "$(q $R router "SELECT count(*) FROM pg_user_mappings WHERE srvname = 'learning_shards_next' AND usename IN ('router_probe', 'public')")" "2" \
       "the new list has the user mappings of the current one"
tap_is "$(err $R router "CALL learning_router.reshard(ARRAY['$(ci $A s0)', '$(ci $A s1)'])")" "ERROR:  55000" \
       "another list while a reshard is in progress is refused (55000)"
tap_is "$(err $R router "SELECT learning_router.set_shards($LIST2)")" "ERROR:  55000" "set_shards during a reshard is refused (55000)"
tap_is "$(err $R router "SELECT learning.run_job('expire_overdue')")" "ERROR:  55000" "calls spanning every tenant are refused during a reshard (55000)"
tap_is "$("$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XAtq -v VERBOSITY=verbose \
          -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT learning.brier_score('t01', 'send_email')" 2>&1 | grep -o 'ERROR:  [0-9A-Z]\{5\}' | head -1)" \
       "ERROR:  40001" "a routed call in REPEATABLE READ during a reshard is a serialization failure (40001)"
tap_is "$(err $R router "CALL learning_router.reshard(ARRAY['a', 'b', 'c'])")" "ERROR:  22023" "reshard to three shards is refused (22023)"
q $B postgres "ALTER DATABASE s1 ALLOW_CONNECTIONS true" >/dev/null

# a writer records outcomes through the router while the reshard resumes,
# for six new tenants (created on the old shards meanwhile: moved too)
( n=0; for k in $(seq 1 60); do
      t=$(printf 'w%02d' $(( (k % 6) + 1 )))
      q $R router "SELECT learning.record_outcome('$t', 'conv-during', 'send_email', 0.5, 'email_engagement')" >/dev/null 2>&1 && n=$((n + 1))
  done; echo $n >"$TEST_ROOT/router_writer.count" ) &
writer=$!
t0=$(date +%s%N)
"$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XAtq -c "SET client_min_messages = notice" \
    -c "SET learning_router.reshard_page_rows = 7" -c "CALL learning_router.reshard($LIST4)" >"$TEST_ROOT/reshard2.log" 2>&1
tap_ok $? "the reshard resumes with the same list (copying in pages of 7 rows) and finishes ($(( ($(date +%s%N) - t0) / 1000000 )) ms, $(grep -c 'moved' "$TEST_ROOT/reshard2.log") tenants moved in this call)"
wait $writer
written=$(cat "$TEST_ROOT/router_writer.count")
tap_is "$written" "60" "every write made through the router during the reshard succeeded"
tap_is "$(q $R router "SELECT count(*) FROM learning_router.shards WHERE list = 'current'")/$(q $R router "SELECT count(*) FROM learning_router.shards WHERE list = 'next'")" \
       "4/0" "routing switched to the four shards; no list is left pending"
PLACED="$TENANTS || ARRAY['w01', 'w02', 'w03', 'w04', 'w05', 'w06']"
tap_is "$(where_are "${SH4[@]}")" "$(expected_places)" "after the reshard every tenant is on exactly one of the four shards, the one shard_of names"
tap_is "$(q $R router "SELECT count(DISTINCT learning_router.shard_of(t)) FROM unnest($TENANTS) t")" "4" "the tenants are spread over four shards"
moved=$(q $R router "SELECT count(*) FROM learning_router.reshard_log WHERE tenant_id LIKE 't%'")
tap_is "$moved" "$(q $R router "SELECT count(*) FROM unnest($TENANTS) t WHERE hashtext(t) & 3 <> hashtext(t) & 1")" \
       "exactly the tenants whose shard changed were moved ($moved)"
totals_after=$(sum_counts "${SH4[@]}")
expect=$(echo "$totals_before" | awk -F/ -v w="$written" '{$1 += w; $11 = sprintf("%.9f", $11 - 0.5 * w); OFS = "/"; print}' OFS=/)
tap_is "$(echo "$totals_after" | awk -F/ '{$11 = sprintf("%.9f", $11); print}' OFS=/)" "$expect" \
       "nothing lost: outcomes (plus the writer's), signals, feedback, settings, windows, minutes, calibration state and history, webhooks, SSE keys"
after=$(all_digests $R router)
tap_is "$after" "$before" "after the reshard every tenant answers every read exactly as before"
tap_is "$after" "$(shard_digests "" "${SH4[@]}")" "after the reshard every read through the router answers as on the tenant's new shard"

# --- one shard server down --------------------------------------------------
stop_cluster router_b
t0=$(date +%s%N)
# each tenant's call in its own subtransaction: "shard answered" or "shard failed: message"
res=$("$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XAtq -c "SET client_min_messages = notice" -c "
    DO \$\$
    DECLARE t text;
    BEGIN
        FOREACH t IN ARRAY $TENANTS LOOP
            BEGIN
                PERFORM learning.brier_score(t, 'send_email');
                RAISE NOTICE '% answered', learning_router.shard_of(t);
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE '% failed: %', learning_router.shard_of(t), SQLERRM;
            END;
        END LOOP;
    END \$\$" 2>&1)
oks=$(echo "$res" | sed -n 's/^NOTICE:  \([0-9]\) answered$/\1/p' | tr -d '\n')
fails=$(echo "$res" | sed -n 's/^NOTICE:  \([0-9]\) failed: .*\(connect\|No such file\).*/\1/p' | tr -d '\n')
[ $(( ${#oks} + ${#fails} )) -eq 24 ] || { fails+="?"; echo "$res" | sed 's/^/# /' | head -5; }
secs=$(( ($(date +%s%N) - t0) / 1000000000 ))
tap_is "$(echo "$oks" | grep -o . | sort -u | tr -d '\n')/$(echo "$fails" | grep -o . | sort -u | tr -d '\n')" "02/13" \
       "with server B stopped, the tenants of shards 1 and 3 fail with a connection error, those of shards 0 and 2 answer"
tap_ok $([ $secs -le 5 ]; echo $?) "a stopped server refuses at once: the 24 calls, half of them failing, took ${secs} s"
msg=$(q $R router "SELECT learning.brier_score(t, 'send_email') FROM unnest($TENANTS) t WHERE learning_router.shard_of(t) = 1 LIMIT 1" 2>&1 | head -1)
echo "# error for a tenant of the stopped shard: $msg"
tap_ok $(echo "$msg" | grep -q 'connect'; echo $?) "the error names the failed connection"

# --- a shard that hangs: statement_timeout bounds the wait -----------------
# PL/Proxy connects asynchronously, so libpq's connect_timeout does not apply
# to it; the caller's statement_timeout does (PL/Proxy's wait loop checks for
# interrupts).  A unix socket that takes connections and never answers stands
# in for shards 1 and 3.
HANG=56349
python3 -c "
import socket, os, time, sys
p = sys.argv[1]
if os.path.exists(p): os.unlink(p)
s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(64)
time.sleep(30)" "$TEST_ROOT/.s.PGSQL.$HANG" &
hang=$!
trap 'kill $hang 2>/dev/null; stop_cluster router_r; stop_cluster router_a; stop_cluster router_b' EXIT
sleep 0.5
q $R router "SELECT learning_router.set_shards(ARRAY['$(ci $A s0)', 'host=$TEST_ROOT port=$HANG dbname=s0',
                                                     '$(ci $A s1)', 'host=$TEST_ROOT port=$HANG dbname=s1'])" >/dev/null
t_hung=$(q $R router "SELECT t FROM unnest($TENANTS) t WHERE learning_router.shard_of(t) = 1 LIMIT 1")
t_fine=$(q $R router "SELECT t FROM unnest($TENANTS) t WHERE learning_router.shard_of(t) = 2 LIMIT 1")
t0=$(date +%s%N)
msg=$("$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XAtq -v VERBOSITY=verbose \
      -c "SET statement_timeout = '2s'" -c "SELECT learning.brier_score('$t_hung', 'send_email')" 2>&1 | head -1)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# error for a tenant of the hung shard after $ms ms: $msg"
tap_ok $([ $ms -ge 1500 ] && [ $ms -le 6000 ] && echo "$msg" | grep -q '57014'; echo $?) \
       "a tenant of a shard that does not answer fails when the caller's statement_timeout (2 s) expires ($ms ms, 57014)"
"$PGBIN/psql" -h "$TEST_ROOT" -p $R -U postgres -d router -XAtq -c "SET statement_timeout = '4s'" \
    -c "SELECT learning.brier_score('$t_hung', 'send_email')" >/dev/null 2>&1 &
waiting=$!
sleep 0.5
t0=$(date +%s%N)
tap_is "$(q $R router "SELECT learning.brier_score('$t_fine', 'send_email') IS NOT NULL")" "t" \
       "while a call waits for the hung shard, a tenant of another shard answers ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
wait $waiting
kill $hang 2>/dev/null

#!/usr/bin/env bash
# workers_jobs.sh: the launcher finds databases with the extension by itself;
# their schedulers run the five jobs at 1-second intervals with no run_job
# call; a failing job is recorded while the others go on; SIGHUP changes an
# interval; learning.enabled = off pauses; job history is pruned by retention;
# DROP EXTENSION, CREATE DATABASE ... TEMPLATE and DROP DATABASE are never
# blocked by the workers (schedulers, and relays kept busy by a POST to an
# endpoint that never answers); a database without the extension, or with
# nothing due (jobs paused), keeps no worker.
# Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/workers_lib.bash
P=56010
BH=56020     # an endpoint that never answers

mapfile -t conf < <(all_intervals 1s)
start_cluster workers_jobs $P "shared_preload_libraries = 'learning'" "${conf[@]}" \
    "learning.webhook_timeout = 120s" "learning.webhook_allow_private_networks = on" \
    || { echo "not ok - cluster with learning preloaded starts"; exit 1; }
trap 'stop_cluster workers_jobs; stop_blackhole' EXIT
start_blackhole $BH
LOG=$TEST_ROOT/workers_jobs/server.log

wait_for $P postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'learning launcher'" 10
tap_ok $? "the launcher runs (backend_type 'learning launcher')"

# --- two databases with the extension, one without ------------------------
for db in wa wb wc; do q $P postgres "CREATE DATABASE $db" >/dev/null; done
t0=$(now_ms)
q $P wa "CREATE EXTENSION learning" >/dev/null 2>&1
q $P wb "CREATE EXTENSION learning" >/dev/null 2>&1
for db in wa wb; do
    wait_scheduler $P $db 10
    tap_ok $? "after CREATE EXTENSION, $db has its scheduler within 10 s ($(( $(now_ms) - t0 )) ms)"
    tap_is "$(relay_pid $P $db)" "" "$db has no relay worker while nothing is to be delivered"
    busy_relay $P $db $BH
    wait_for $P $db "SELECT relay_pid IS NOT NULL FROM learning.job_schedule() LIMIT 1" 10
    tap_ok $? "$db has its relay worker once a commit queued a delivery"
done

# a signal ingested in each database is applied by the scheduler
for db in wa wb; do
    q $P $db "SELECT learning.record_outcome('t1', 'conv-$db', 'send_email', 0.7, 'email_engagement')" >/dev/null
    q $P $db "SELECT learning.ingest_signal('t1', 'conv-$db', 'email_replied')" >/dev/null
done
for db in wa wb; do
    wait_for $P $db "SELECT status = 'positive' FROM learning.outcome_records WHERE conversation_state_id = 'conv-$db'" 10
    tap_ok $? "$db: the signal is applied by the scheduler, no run_job call"
    wait_for $P $db "SELECT count(DISTINCT job_name) = 5 FROM learning.job_runs WHERE run_by = 'scheduler' AND status = 'succeeded'" 10
    tap_ok $? "$db: all five jobs have succeeded job_runs rows written by the scheduler"
    tap_is "$(q $P $db "SELECT count(*) FROM learning.job_runs WHERE run_by <> 'scheduler'")" "0" "$db: no run was made by run_job"
done
tap_is "$(q $P wa "SELECT count(*) FILTER (WHERE scheduler = 'running' AND runs > 0 AND next_due_at IS NOT NULL
                                            AND \"interval\" = '1 s' AND database = 'wa') FROM learning.job_status")" "5" \
    "job_status: five jobs running with their interval, runs and next due time"

# --- a failing job is recorded; the other four keep succeeding -----------
pid_a=$(worker_pid $P wa scheduler)
# (a pending outcome: the job's batch then calls the function)
q $P wa "SELECT learning.record_outcome('acme', 'fail-c', 'send_email', 0.5, 'email_engagement')" >/dev/null
q $P wa "ALTER FUNCTION learning.expire_overdue(text, text) RENAME TO expire_overdue_away"
fail0=$(q $P wa "SELECT now()")
wait_for $P wa "SELECT count(*) >= 2 FROM learning.job_runs WHERE job_name = 'expire_overdue' AND status = 'failed'
                AND started_at > '$fail0' AND message LIKE '%learning.expire_overdue(%) does not exist%'" 10
tap_ok $? "the failing job records failed runs with the error message"
sleep 1.2
tap_is "$(q $P wa "SELECT count(DISTINCT job_name) FROM learning.job_runs WHERE status = 'succeeded'
                   AND started_at > (SELECT min(started_at) FROM learning.job_runs WHERE status = 'failed')")" "4" \
    "the other four jobs keep succeeding"
tap_is "$(worker_pid $P wa scheduler)" "$pid_a" "the scheduler survives the failures (same pid)"
tap_is "$(q $P wa "SELECT last_status = 'failed' AND failures > 0 FROM learning.job_status WHERE job_name = 'expire_overdue'")" "t" \
    "job_status shows the failures"
grep -q 'learning job expire_overdue failed in database "wa"' "$LOG"
tap_ok $? "the failure is in the server log"
q $P wa "ALTER FUNCTION learning.expire_overdue_away(text, text) RENAME TO expire_overdue"
fixed=$(q $P wa "SELECT now()")
wait_for $P wa "SELECT count(*) > 0 FROM learning.job_runs WHERE job_name = 'expire_overdue' AND status = 'succeeded' AND started_at > '$fixed'" 10
tap_ok $? "the job succeeds again once the cause is gone"

# --- SIGHUP: a new interval takes effect without a restart ----------------
q $P postgres "ALTER SYSTEM SET learning.deal_progression_interval = '1h'" >/dev/null
q $P postgres "SELECT pg_reload_conf()" >/dev/null
sleep 1.2
t1=$(q $P wa "SELECT now()")
sleep 2.5
tap_is "$(scheduler_runs $P wa "job_name = 'deal_progression' AND started_at > '$t1'")" "0" \
    "SIGHUP with learning.deal_progression_interval = 1h: no more deal_progression runs"
tap_is "$(q $P wa "SELECT count(*) >= 2 FROM learning.job_runs WHERE job_name = 'immediate_signals' AND started_at > '$t1'")" "t" \
    "the other jobs go on at 1 s"
tap_is "$(q $P wa "SELECT \"interval\" FROM learning.job_status WHERE job_name = 'deal_progression'")" "01:00:00" \
    "job_status shows the new interval"
q $P postgres "ALTER SYSTEM RESET learning.deal_progression_interval" >/dev/null
q $P postgres "SELECT pg_reload_conf()" >/dev/null
t2=$(q $P wa "SELECT now()")
wait_for $P wa "SELECT count(*) > 0 FROM learning.job_runs WHERE job_name = 'deal_progression' AND started_at > '$t2'" 5
tap_ok $? "back to 1 s by SIGHUP: deal_progression runs again at once"

# --- learning.enabled = off pauses every job ------------------------------
q $P postgres "ALTER SYSTEM SET learning.enabled = off" >/dev/null
q $P postgres "SELECT pg_reload_conf()" >/dev/null
sleep 1.2
t3=$(q $P wa "SELECT now()")
sleep 2.5
tap_is "$(scheduler_runs $P wa "started_at > '$t3'")/$(scheduler_runs $P wb "started_at > '$t3'")" "0/0" \
    "learning.enabled = off: no runs in either database"
tap_is "$(q $P wa "SELECT DISTINCT scheduler FROM learning.job_status")" "paused: learning.enabled = off" \
    "job_status says the jobs are paused"
wait_for $P postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'learning scheduler'" 10
tap_ok $? "paused, no job is due: no scheduler runs (a database with nothing due has no worker)"
tap_is "$(q $P wa "SELECT count(*) FROM learning.job_status WHERE next_due_at IS NULL")" "5" \
    "job_status shows no next due time while paused"
# the next scheduler cannot read when the next delivery is due: it warns,
# asks for the relay at once and runs the jobs all the same
q $P wa "ALTER FUNCTION learning.relay_next_due(boolean) RENAME TO relay_next_due_away" >/dev/null
q $P postgres "ALTER SYSTEM RESET learning.enabled" >/dev/null
q $P postgres "SELECT pg_reload_conf()" >/dev/null
t4=$(q $P wa "SELECT now()")
wait_for $P wa "SELECT count(DISTINCT job_name) = 5 FROM learning.job_runs WHERE started_at > '$t4'" 5
tap_ok $? "learning.enabled back on: all five jobs run again"
grep -q 'learning scheduler could not read when the next delivery is due: .*relay_next_due' "$LOG"
tap_ok $? "a scheduler that cannot read the next delivery says so in the server log, and goes on"
q $P wa "ALTER FUNCTION learning.relay_next_due_away(boolean) RENAME TO relay_next_due" >/dev/null

# --- job history is bounded by learning.job_history_retention -------------
q $P wa "INSERT INTO learning.job_runs (job_name, started_at, finished_at, status, run_by)
         VALUES ('calibration_check', now() - interval '2 hours', now() - interval '2 hours', 'succeeded', 'scheduler')" >/dev/null
q $P postgres "ALTER SYSTEM SET learning.job_history_retention = '1min'" >/dev/null
q $P postgres "SELECT pg_reload_conf()" >/dev/null
wait_for $P wa "SELECT count(*) = 0 FROM learning.job_runs WHERE started_at < now() - interval '1 minute'" 5
tap_ok $? "runs older than learning.job_history_retention are pruned by the scheduled runs"
q $P postgres "ALTER SYSTEM RESET learning.job_history_retention" >/dev/null
q $P postgres "SELECT pg_reload_conf()" >/dev/null

# --- DROP EXTENSION is not blocked; the database then keeps no worker -----
relay_b=$(relay_pid $P wb)
tap_prompt $P wb "DROP EXTENSION learning" 3000 "DROP EXTENSION with the scheduler running succeeds promptly"
wait_for $P postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'wb' AND backend_type LIKE 'learning%'" 10
tap_ok $? "after DROP EXTENSION the database's scheduler is gone"
wait_gone "$relay_b" 10
tap_ok $? "and its relay worker too (pid ${relay_b:-none})"
t0=$(now_ms)
q $P wb "CREATE EXTENSION learning" >/dev/null 2>&1
wait_scheduler $P wb 10
tap_ok $? "CREATE EXTENSION again: the scheduler is back ($(( $(now_ms) - t0 )) ms)"
busy_relay $P wb $BH

# --- CREATE DATABASE ... TEMPLATE a database whose scheduler runs ---------
tap_prompt $P postgres "CREATE DATABASE wd TEMPLATE wa" 4000 \
    "CREATE DATABASE ... TEMPLATE a database with a running scheduler succeeds promptly"
wait_scheduler $P wd 10
tap_ok $? "the copy has the extension and gets its own scheduler, found without configuration"
wait_scheduler $P wa 10
tap_ok $? "the template's scheduler is back"

# --- ALTER DATABASE ... RENAME needs the database free too ----------------
tap_prompt $P postgres "ALTER DATABASE wd RENAME TO wd2" 3000 \
    "ALTER DATABASE ... RENAME of a database whose scheduler runs succeeds promptly"
wait_scheduler $P wd2 10
tap_ok $? "the renamed database's scheduler is back"

# --- DROP DATABASE of a database whose scheduler runs ---------------------
oid_b=$(q $P postgres "SELECT oid FROM pg_database WHERE datname = 'wb'")
wait_for $P wb "SELECT relay_pid IS NOT NULL FROM learning.job_schedule() LIMIT 1" 10
relay_b=$(relay_pid $P wb)
tap_prompt $P postgres "DROP DATABASE wb" 3000 "DROP DATABASE of a database whose scheduler runs succeeds promptly"
sleep 1
tap_is "$(q $P postgres "SELECT count(*) FROM pg_stat_activity WHERE datid = $oid_b")" "0" "no worker of the dropped database is left"
wait_gone "$relay_b" 5
tap_ok $? "its relay worker is gone too (pid ${relay_b:-none})"
tap_is "$(grep -c "database $oid_b does not exist" "$LOG")" "0" "no worker tries to connect to the dropped database"

# --- a database without the extension costs no permanent worker -----------
tap_is "$(q $P postgres "SELECT count(*) FROM pg_stat_activity WHERE datname IN ('wc', 'postgres') AND backend_type LIKE 'learning%'")" "0" \
    "databases without the extension have no learning worker"
tap_is "$(q $P postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'learning scheduler'")" "2" \
    "exactly one scheduler per database with the extension (wa, wd2)"

#!/usr/bin/env bash
# workers_restart.sh: workers come back after pg_terminate_backend (scheduler,
# launcher) and SIGTERM (relay) within their restart time, and after an
# immediate shutdown; no job runs twice for the same work across restarts
# (intervals of 1 hour: each job runs once, and a restart must not run it
# again; immediate_signals at 1 s keeps a scheduler in the pool, its runs
# at least 1 s apart); with nothing due a database has no scheduler; a
# launcher restart adopts the running workers instead of starting
# duplicates; DROP DATABASE is prompt even while the launcher is down.
# Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/workers_lib.bash
P=56011
BH=56021     # an endpoint that never answers: keeps the relay busy
RESTART=5    # LEARNING_RESTART_SECONDS in src/workers.h
SLACK=3      # fork, connect, one launcher wake-up

mapfile -t conf < <(all_intervals 1h)
start_cluster workers_restart $P "shared_preload_libraries = 'learning'" "${conf[@]}" \
    "learning.webhook_timeout = 300s" "learning.webhook_allow_private_networks = on" \
    || { echo "not ok - cluster with learning preloaded starts"; exit 1; }
trap 'stop_cluster workers_restart; stop_blackhole' EXIT
DATA=$TEST_ROOT/workers_restart/data
start_blackhole $BH

q $P postgres "CREATE DATABASE wr" >/dev/null
q $P wr "CREATE EXTENSION learning" >/dev/null 2>&1
wait_for $P wr "SELECT count(*) = 5 FROM learning.job_runs WHERE run_by = 'scheduler'" 10
tap_ok $? "each job ran once at start (intervals of 1 hour)"
wait_for $P postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'learning scheduler'" 10
tap_ok $? "then no job is due for an hour: the scheduler has left (no permanent worker)"
tap_is "$(q $P wr "SELECT DISTINCT scheduler FROM learning.job_status")" "idle: a scheduler starts when a job is due" \
    "job_status says the scheduler is idle"
q $P postgres "ALTER SYSTEM SET learning.immediate_signals_interval = '1s'" >/dev/null
q $P postgres "SELECT pg_reload_conf()" >/dev/null
wait_scheduler $P wr 10
tap_ok $? "immediate_signals every second (SIGHUP): a scheduler runs it"
busy_relay $P wr $BH
wait_for $P wr "SELECT relay_pid IS NOT NULL FROM learning.job_schedule() LIMIT 1" 10
tap_ok $? "the relay runs (a POST in flight)"
sched=$(worker_pid $P wr scheduler)
relay=$(relay_pid $P wr)
launcher=$(worker_pid $P "" launcher)

# --- the scheduler ---------------------------------------------------------
tap_is "$(q $P postgres "SELECT pg_terminate_backend($sched, 1000)")" "t" "SIGTERM ends the scheduler within a second"
t0=$(now_ms)
sched2=$(wait_new_pid $P wr scheduler "$sched" $((RESTART + SLACK)))
tap_ok $? "pg_terminate_backend(scheduler): a new scheduler within its restart time ($(( $(now_ms) - t0 )) ms)"
sleep 1.5
tap_is "$(scheduler_runs $P wr "job_name <> 'immediate_signals'")" "4" \
    "the restarted scheduler runs no other job again (next due from job_runs)"
tap_is "$(relay_pid $P wr)" "$relay" "the relay was not disturbed"

# --- the relay ---------------------------------------------------------------
kill -TERM "$relay"
t0=$(now_ms)
relay2=""
for ((i = 0; i < (RESTART + SLACK) * 10; i++)); do
    r=$(relay_pid $P wr)
    if [ -n "$r" ] && [ "$r" != "$relay" ]; then relay2=$r; break; fi
    sleep 0.1
done
tap_ok $([ -n "$relay2" ]; echo $?) "SIGTERM of the relay: a new relay within its restart time ($(( $(now_ms) - t0 )) ms)"

# --- the launcher ------------------------------------------------------------
tap_is "$(q $P postgres "SELECT pg_terminate_backend($launcher, 1000)")" "t" "SIGTERM ends the launcher within a second"
t0=$(now_ms)
launcher2=$(wait_new_pid $P "" launcher "$launcher" $((RESTART + SLACK)))
tap_ok $? "pg_terminate_backend(launcher): a new launcher within its restart time ($(( $(now_ms) - t0 )) ms)"
sleep 1.5
tap_is "$(worker_pid $P wr scheduler)/$(relay_pid $P wr)" "$sched2/$relay2" \
    "the new launcher adopts the running scheduler and relay (same pids)"
tap_is "$(q $P postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'learning scheduler'")" "1" \
    "no duplicate scheduler"
tap_is "$(scheduler_runs $P wr "job_name <> 'immediate_signals'")" "4" "no job ran twice"
q $P postgres "SELECT pg_terminate_backend($sched2)" >/dev/null
sched3=$(wait_new_pid $P wr scheduler "$sched2" $((RESTART + SLACK)))
tap_ok $? "an adopted scheduler that stops is restarted by the new launcher"

# --- DROP DATABASE while the launcher is down ----------------------------------
q $P postgres "CREATE DATABASE wx" >/dev/null
q $P wx "CREATE EXTENSION learning" >/dev/null 2>&1
wait_scheduler $P wx 10
tap_ok $? "a second database gets its scheduler"
busy_relay $P wx $BH
wait_for $P wx "SELECT relay_pid IS NOT NULL FROM learning.job_schedule() LIMIT 1" 10
tap_ok $? "and its relay"
q $P postgres "SELECT pg_terminate_backend(pid, 1000) FROM pg_stat_activity WHERE backend_type = 'learning launcher'" >/dev/null
tap_prompt $P postgres "DROP DATABASE wx" 3000 "DROP DATABASE with the launcher down succeeds promptly"
wait_for $P postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'learning launcher'" $((RESTART + SLACK))
tap_ok $? "the launcher is back"

# --- immediate shutdown ------------------------------------------------------
"$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
"$PGBIN/pg_ctl" -D "$DATA" -l "$TEST_ROOT/workers_restart/server.log" -w start >/dev/null
tap_ok $? "the server restarts after an immediate shutdown"
wait_scheduler $P wr 10
tap_ok $? "the scheduler is back after the crash restart"
wait_for $P wr "SELECT relay_pid IS NOT NULL FROM learning.job_schedule() LIMIT 1" 10
tap_ok $? "so is the relay (its delivery was in flight)"
sleep 1.5
tap_is "$(scheduler_runs $P wr "job_name <> 'immediate_signals'")" "4" "after the crash restart no job runs again before its interval"

# jobs resume: a signal is applied
q $P wr "SELECT learning.record_outcome('t1', 'conv-r', 'send_email', 0.4, 'email_engagement')" >/dev/null
q $P wr "SELECT learning.ingest_signal('t1', 'conv-r', 'email_bounced')" >/dev/null
wait_for $P wr "SELECT status = 'negative' FROM learning.outcome_records WHERE conversation_state_id = 'conv-r'" 10
tap_ok $? "jobs resume after the crash restart: the signal is applied by the scheduler"
tap_is "$(q $P wr "SELECT count(*) FROM learning.job_runs WHERE job_name <> 'immediate_signals' AND run_by = 'scheduler'")" "4" \
    "the other jobs still ran only once"
tap_is "$(q $P wr "SELECT count(*) FROM (SELECT started_at - lag(started_at) OVER (ORDER BY started_at) AS gap
                     FROM learning.job_runs WHERE job_name = 'immediate_signals' AND run_by = 'scheduler') s
                     WHERE gap < interval '0.9 s'")" "0" \
    "immediate_signals never ran twice within its interval (0.9 s: job_runs.started_at is taken a few ms after the run starts), across kills, launcher restarts and a crash"

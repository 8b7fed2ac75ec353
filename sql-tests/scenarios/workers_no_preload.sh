#!/usr/bin/env bash
# workers_no_preload.sh: without shared_preload_libraries there is no launcher
# and no scheduler, and learning.job_status says so.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
P=56013
export PGOPTIONS="-c client_min_messages=warning"   # the "not preloaded" NOTICE of every session

start_cluster workers_no_preload $P || { echo "not ok - cluster without preload starts"; exit 1; }
trap 'stop_cluster workers_no_preload' EXIT

q $P postgres "CREATE EXTENSION learning" >/dev/null 2>&1
tap_is "$(q $P postgres "SELECT count(*) FROM learning.job_status WHERE scheduler LIKE 'absent: learning is not in shared_preload_libraries%'
                         AND next_due_at IS NULL AND scheduler_pid IS NULL")" "5" \
    "job_status says, for each job, that the schedulers are absent"
tap_is "$(q $P postgres "SELECT \"interval\" FROM learning.job_status WHERE job_name = 'immediate_signals'")" "00:15:00" \
    "job_status still shows the interval (default 15 min)"
q $P postgres "SELECT learning.run_job('expire_overdue')" >/dev/null
tap_is "$(q $P postgres "SELECT runs || '/' || last_status FROM learning.job_status WHERE job_name = 'expire_overdue'")" "1/succeeded" \
    "job_status counts a run_job run"
sleep 1
tap_is "$(q $P postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'learning%'")" "0" "no learning worker runs"

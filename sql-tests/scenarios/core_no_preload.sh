#!/usr/bin/env bash
# Without shared_preload_libraries: CREATE EXTENSION works, the session is told
# the jobs will not run, and every SQL function works (run_job included).
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
PORT=55420
start_cluster nopreload $PORT || { echo "not ok - cluster without preload starts"; exit 1; }
trap 'stop_cluster nopreload' EXIT

out=$("$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d postgres -X -v ON_ERROR_STOP=1 -c "CREATE EXTENSION learning" 2>&1)
tap_ok $? "CREATE EXTENSION learning works without shared_preload_libraries"
# (CREATE EXTENSION runs its script with client_min_messages = warning; the
# next session that loads the library hears it)
out=$("$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d postgres -X -c "SELECT learning.check_tenant_id('np')" 2>&1)
echo "$out" | grep -q "learning is not in shared_preload_libraries: its background jobs will not run"
tap_ok $? "a session that loads the library is told that the background jobs will not run"

export PGOPTIONS="-c client_min_messages=warning"
id=$(q $PORT postgres "SELECT learning.record_outcome('np', 'c1', 'send_email', 0.9, 'email_engagement')")
tap_ok $? "record_outcome works"
q $PORT postgres "SELECT learning.ingest_signal('np', 'c1', 'email_replied')" >/dev/null
tap_is "$(q $PORT postgres "SELECT learning.run_job('immediate_signals')->>'items'")" "1" "run_job applies the signal"
tap_is "$(q $PORT postgres "SELECT status FROM learning.outcome_records WHERE id = '$id'")" "positive" "the outcome is resolved"
tap_is "$(q $PORT postgres "SELECT round(learning.brier_score('np', 'send_email')::numeric, 6)")" "0.010000" "calibration is kept"
tap_is "$(q $PORT postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'learning%'")" "0" "no learning workers run"

#!/usr/bin/env bash
# The scheduler runs a job in batches of learning.job_batch_tenants tenants,
# each batch in a transaction of its own: a failing batch is recorded and the
# batches after it still run.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
. sql-tests/scenarios/workers_lib.bash
PORT=55432
start_cluster batches $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "$(all_intervals 1s)" "learning.job_batch_tenants = 2" || { echo "not ok - cluster starts"; exit 1; }
trap 'stop_cluster batches' EXIT
export PGOPTIONS="-c client_min_messages=warning"
q $PORT postgres "CREATE DATABASE jobs" >/dev/null
q $PORT jobs "CREATE EXTENSION learning" >/dev/null
q $PORT jobs "SELECT count(learning.record_outcome('b' || t, 'c' || i, 'send_email', 0.5, 'email_engagement',
                                                   created_at => now() - interval '3 days'))
                FROM generate_series(1, 6) t, generate_series(1, 2) i" >/dev/null
# tenant b3 cannot be changed: its batch (b3, b4) fails
q $PORT jobs "CREATE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
              BEGIN IF NEW.tenant_id = 'b3' THEN RAISE EXCEPTION 'poisoned tenant %', NEW.tenant_id; END IF;
                    RETURN NEW; END \$\$;
              CREATE TRIGGER poison BEFORE UPDATE ON learning.outcome_records
                 FOR EACH ROW EXECUTE FUNCTION public.poison()" >/dev/null
tap_ok $? "six tenants with overdue outcomes, one of them poisoned"
q $PORT postgres "ALTER SYSTEM SET learning.enabled = on" >/dev/null
q $PORT postgres "SELECT pg_reload_conf()" >/dev/null
wait_for $PORT jobs "SELECT count(*) = 8 FROM learning.outcome_records WHERE status = 'expired'" 20
tap_ok $? "the batches before and after the failing one ran: eight outcomes expired"
tap_is "$(q $PORT jobs "SELECT string_agg(DISTINCT tenant_id, ',' ORDER BY tenant_id) FROM learning.outcome_records WHERE status = 'pending'")" \
       "b3,b4" "the failing batch's tenants stay pending, and no others"
tap_is "$(q $PORT jobs "SELECT count(*) > 0 FROM learning.job_runs WHERE job_name = 'expire_overdue' AND status = 'failed'
                         AND message LIKE 'poisoned tenant b3%'")" "t" "the failing batch is recorded with its error"
tap_is "$(q $PORT jobs "SELECT count(*) >= 2 FROM learning.job_runs WHERE job_name = 'expire_overdue' AND status = 'succeeded'
                         AND run_by = 'scheduler' AND items = 4")" "t" "each good batch is a run of its own (two tenants, four outcomes)"
q $PORT jobs "DROP TRIGGER poison ON learning.outcome_records" >/dev/null
wait_for $PORT jobs "SELECT count(*) = 12 FROM learning.outcome_records WHERE status = 'expired'" 20
tap_ok $? "once the poison is gone, the next run expires the rest"
grep -q "terminated by signal" "$TEST_ROOT/batches/server.log"
tap_ok $((1 - $?)) "no server process crashed"

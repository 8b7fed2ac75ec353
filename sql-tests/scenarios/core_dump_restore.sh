#!/usr/bin/env bash
# pg_dump keeps the extension's data, and a restore rebuilds the calibration
# bins from the outcomes: every curve reads the same after the round trip.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
PORT=55422
start_cluster dump $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "learning.webhook_allow_private_networks = on" || { echo "not ok - cluster starts"; exit 1; }
trap 'stop_cluster dump' EXIT
export PGOPTIONS="-c client_min_messages=warning"
q $PORT postgres "CREATE DATABASE src" >/dev/null
q $PORT src "CREATE EXTENSION learning" >/dev/null
"$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d src -XqAt -v ON_ERROR_STOP=1 -f scripts/sample_data.sql >/dev/null
tap_ok $? "sample data loads"

q $PORT src "SELECT learning.create_webhook('http://127.0.0.1:9/hook', NULL, 'acme', 'a-secret-of-sixteen+')" >/dev/null
tap_ok $? "a webhook subscription"
"$PGBIN/pg_dump" -h "$TEST_ROOT" -p $PORT -U postgres -d src -f "$TEST_ROOT/dump.sql"
tap_ok $? "pg_dump of a database with the extension"
q $PORT postgres "CREATE DATABASE dst" >/dev/null
"$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d dst -Xq -v ON_ERROR_STOP=1 -f "$TEST_ROOT/dump.sql" >"$TEST_ROOT/restore.log" 2>&1
tap_ok $? "the dump restores into a new database"

summary="SELECT (SELECT count(*) FROM learning.outcome_records) || '/' || (SELECT count(*) FROM learning.signals)
         || '/' || (SELECT count(*) FROM learning.feedback_entries) || '/' || (SELECT count(*) FROM learning.tenant_settings)
         || '/' || (SELECT count(*) FROM learning.outcome_windows) || '/' || (SELECT count(*) FROM learning.calibration_state)"
tap_is "$(q $PORT dst "$summary")" "$(q $PORT src "$summary")" "outcomes, signals, feedback and settings survive the round trip"
curves="SELECT string_agg(t.tenant_id || ':' || t.action_type || '=' || round(learning.brier_score(t.tenant_id, t.action_type)::numeric, 12)
                          || ',' || (learning.calibration_curve(t.tenant_id, t.action_type)->>'sample_count'), ' ' ORDER BY 1)
          FROM (SELECT DISTINCT tenant_id, action_type FROM learning.outcome_records) t"
src_curves=$(q $PORT src "$curves")
tap_is "$(q $PORT dst "$curves")" "$src_curves" "every calibration curve is the same after the restore (bins rebuilt, not doubled)"
[ -n "$src_curves" ]; tap_ok $? "there were curves to compare"

tap_is "$(q $PORT dst "SELECT count(*) || '/' || max(url) FROM learning.webhooks")" \
       "$(q $PORT src "SELECT count(*) || '/' || max(url) FROM learning.webhooks")" "webhook subscriptions survive"
last=$(q $PORT src "SELECT max(id) FROM learning.events")
q $PORT dst "SELECT learning.record_outcome('acme', 'after-restore', 'send_email', 0.5, 'email_engagement')" >/dev/null
tap_ok $([ "$(q $PORT dst "SELECT max(id) FROM learning.events")" -gt "$last" ] 2>/dev/null; echo $?) \
       "event ids go on after the restore: a new event's id is above the last one dumped"

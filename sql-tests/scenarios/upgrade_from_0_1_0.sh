#!/usr/bin/env bash
# In-place upgrade from the 0.1.0 release: a database holding data of every
# kind reaches 0.2.0 with ALTER EXTENSION learning UPDATE, and nothing is lost.
#
#   1. 0.1.0 is built from git history (a worktree of the release commit) and
#      installed into a private copy of the PostgreSQL installation, so that
#      the system's installation (HEAD) is never touched;
#   2. a cluster on that copy gets the extension at 0.1.0 and data: outcomes
#      in every status, feedback, signals, webhooks, tenant settings and
#      calibration state;
#   3. HEAD is installed into the copy and the server restarted: until the
#      update the new library runs against the 0.1.0 schema (the workers wait,
#      the SQL functions keep working);
#   4. ALTER EXTENSION learning UPDATE;
#   5. counts, Brier scores, curves and dashboards are compared before and
#      after, the bins against a recomputation from the rows, the jobs run;
#      the upgraded catalog is compared with a fresh 0.2.0 install, and a
#      pg_dump of the upgraded database restores.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export TEST_ROOT=${TEST_ROOT:-$ROOT/build}
. test/lib.sh
RELEASE_0_1_0=bbc16c670a628e2e32fe0898db692e677f51e40a
PORT=55430
W=$TEST_ROOT/upgrade
rm -rf "$W"; mkdir -p "$W"
export PGOPTIONS="-c client_min_messages=warning"

# --- 1. a private PostgreSQL installation with 0.1.0 in it -----------------
SYS_BIN=$(pg_config --bindir)
SYS_SHARE=$(pg_config --sharedir)
SYS_INC=$(pg_config --includedir-server)
# relocatable: the copy finds its share and lib folders relative to its bin
mkdir -p "$W/pg/lib/postgresql" "$W/pg/share/postgresql" "$W/pg/include/postgresql"
cp -a "$(dirname "$SYS_BIN")" "$W/pg/lib/postgresql/"
cp -a "$SYS_SHARE" "$W/pg/share/postgresql/"
cp -a "$(dirname "$SYS_INC")" "$W/pg/include/postgresql/"
PRIV_CONFIG=$W/pg/lib/postgresql/$(basename "$(dirname "$SYS_BIN")")/bin/pg_config
[ -x "$PRIV_CONFIG" ] && [ "$("$PRIV_CONFIG" --sharedir)" != "$SYS_SHARE" ]
tap_ok $? "a private copy of the PostgreSQL installation"
rm -f "$("$PRIV_CONFIG" --sharedir)"/extension/learning*

if ! git -C "$ROOT" cat-file -e "$RELEASE_0_1_0^{commit}" 2>/dev/null; then
    echo "not ok - the 0.1.0 release commit is in the repository history"; exit 1
fi
git -C "$ROOT" worktree add --detach "$W/v010" "$RELEASE_0_1_0" >"$W/worktree.log" 2>&1
tap_ok $? "a worktree of the 0.1.0 release commit"
cleanup() {
    "$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null 2>&1
    git -C "$ROOT" worktree remove --force "$W/v010" >/dev/null 2>&1
}
trap cleanup EXIT
make -C "$W/v010" -s PG_CONFIG="$PRIV_CONFIG" >"$W/build010.log" 2>&1 &&
    make -C "$W/v010" -s PG_CONFIG="$PRIV_CONFIG" install >>"$W/build010.log" 2>&1
tap_ok $? "0.1.0 builds and installs into the private copy" || { tail -20 "$W/build010.log"; exit 1; }

# --- 2. a 0.1.0 database with data -----------------------------------------
PGBIN=$("$PRIV_CONFIG" --bindir)
"$PGBIN/initdb" -D "$W/data" -A trust -U postgres >"$W/initdb.log" 2>&1
cat >>"$W/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$TEST_ROOT'
fsync = off
shared_preload_libraries = 'learning'
learning.enabled = off
max_worker_processes = 32
EOF
"$PGBIN/pg_ctl" -D "$W/data" -l "$W/server.log" -w start >/dev/null
tap_ok $? "a cluster runs the 0.1.0 library"
q $PORT postgres "CREATE DATABASE app" >/dev/null
q $PORT app "CREATE EXTENSION learning VERSION '0.1.0'" >/dev/null
tap_is "$(q $PORT app "SELECT extversion FROM pg_extension WHERE extname = 'learning'")" "0.1.0" "the extension is at 0.1.0"

q $PORT app "
BEGIN;
SELECT learning.set_tenant_time_zone('acme', 'America/New_York');
SELECT learning.set_outcome_window('acme', 'renewal_call', '5 days');
SELECT learning.set_minutes_saved('acme', 'send_email', 7);
-- an overconfident history: 1200 resolved outcomes over three action types and two tenants
SELECT learning.resolve_outcome(t, learning.record_outcome(t, 'c-' || t || '-' || i, a, p, 'email_engagement',
                                rep_id => 'rep-' || (i % 4), cost => 0.25, created_at => now() - (i % 20) * interval '1 day'),
                                CASE WHEN random() < p * 0.7 THEN 'positive' ELSE 'negative' END)
  FROM (SELECT t, i, a, 0.5 + (i % 10) * 0.05 AS p
          FROM unnest(ARRAY['acme', 'globex']) t, generate_series(1, 600) i,
               LATERAL (SELECT (ARRAY['send_email', 'book_meeting', 'escalate'])[1 + i % 3] AS a) x) s;
-- every status: ambiguous, expired (job), pending, resolved by a signal
SELECT learning.resolve_outcome('acme', learning.record_outcome('acme', 'c-amb', 'send_email', 0.4, 'email_engagement'), 'ambiguous');
SELECT learning.record_outcome('acme', 'c-old', 'send_email', 0.6, 'email_engagement', created_at => now() - interval '30 days');
SELECT learning.record_outcome('acme', 'c-sig', 'send_email', 0.7, 'email_engagement');
SELECT learning.record_outcome('globex', 'c-pend', 'book_meeting', 0.3, 'meeting_outcome');
SELECT learning.ingest_signal('acme', 'c-sig', 'email_replied', external_id => 'ext-1');
SELECT learning.ingest_signal('globex', 'c-unapplied', 'meeting_booked', external_id => 'ext-2');
SELECT learning.run_job('immediate_signals');
SELECT learning.run_job('expire_overdue');
SELECT learning.submit_feedback('acme', 'c-acme-1', 'message', 'm-1', 'inline', 1, 'rep-1');
SELECT learning.submit_feedback('acme', 'c-acme-2', 'conversation', 'c-acme-2', 'dashboard', 4, 'mgr-1', reviewer_role => 'manager');
SELECT learning.submit_feedback('globex', 'c-globex-3', 'decision', 'd-1', 'inline', -1, 'rep-2');
SELECT learning.create_webhook('https://hooks.example.com/learning', NULL, 'acme', 'a-secret-of-sixteen+');
SELECT learning.sse_channel('acme');
COMMIT;
-- the counters count from the commit: calibration is checked afterwards
SELECT learning.run_job('calibration_check');
" >"$W/load.log" 2>&1
tap_ok $? "0.1.0 takes data of every kind" || tail -5 "$W/load.log"

# What must read the same before and after (volatile parts taken out).
SNAP="
SELECT 'counts', (SELECT count(*) FROM learning.outcome_records), (SELECT count(*) FROM learning.signals),
       (SELECT count(*) FROM learning.feedback_entries), (SELECT count(*) FROM learning.webhooks),
       (SELECT count(*) FROM learning.sse_channels), (SELECT count(*) FROM learning.calibration_adjustments),
       (SELECT count(*) FROM learning.tenant_settings), (SELECT count(*) FROM learning.outcome_windows),
       (SELECT count(*) FROM learning.action_minutes_saved), (SELECT max(id) FROM learning.events)
UNION ALL
SELECT 'status ' || tenant_id || ' ' || status, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM learning.outcome_records GROUP BY tenant_id, status
UNION ALL
SELECT 'brier ' || t.tenant_id || ' ' || t.action_type,
       round(learning.brier_score(t.tenant_id, t.action_type)::numeric, 12),
       (learning.calibration_curve(t.tenant_id, t.action_type)->>'sample_count')::numeric,
       round(learning.adjusted_confidence(t.tenant_id, t.action_type, 0.8)::numeric, 12),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM (SELECT DISTINCT tenant_id, action_type FROM learning.outcome_records) t
ORDER BY 1"
# (coaching is left out: 0.2.0 reports a pattern only when its q-value passes,
# so the coaching sections of 0.1.0 legitimately change with the update)
DASH="SELECT t, learning.manager_dashboard(t, 30) - 'generated_at' - 'coaching_opportunities',
             learning.executive_summary(t, 30) - 'generated_at' - 'strategic_insights',
             learning.rep_dashboard(t, 'rep-1', 30) - 'generated_at', learning.feedback_summary(t, 30)
        FROM unnest(ARRAY['acme', 'globex']) t ORDER BY t"
q $PORT app "$SNAP" >"$W/before_010.txt" && q $PORT app "$DASH" >"$W/dash_before.txt"
tap_ok $? "the 0.1.0 figures are read"

# --- 3. the new library against the 0.1.0 schema ---------------------------
"$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null
make -C "$ROOT" -s PG_CONFIG="$PRIV_CONFIG" install >"$W/build020.log" 2>&1
tap_ok $? "HEAD installs into the private copy" || tail -20 "$W/build020.log"
sed -i 's/^learning.enabled = off/learning.enabled = on/' "$W/data/postgresql.conf"
"$PGBIN/pg_ctl" -D "$W/data" -l "$W/server.log" -w start >/dev/null
tap_ok $? "the server restarts with the new library, jobs on"
sleep 2
tap_is "$(q $PORT app "SELECT extversion FROM pg_extension WHERE extname = 'learning'")" "0.1.0" \
    "the schema is still 0.1.0 until the update"
q $PORT app "$SNAP" >"$W/lagging.txt" 2>"$W/lagging.err"
tap_ok $? "the 0.1.0 functions work with the new library (reads, calibration)"
diff -q "$W/before_010.txt" "$W/lagging.txt" >/dev/null
tap_ok $? "the new library reads the 0.1.0 data exactly as the old one"
q $PORT app "SELECT learning.record_outcome('acme', 'c-lag', 'send_email', 0.5, 'email_engagement')" >/dev/null 2>"$W/lag_write.err"
tap_ok $? "a 0.1.0 write function works with the new library"
q $PORT app "DELETE FROM learning.outcome_records WHERE conversation_state_id = 'c-lag'" >/dev/null
# the write made an event and a delivery: the reference for the update is taken now
q $PORT app "$SNAP" >"$W/before.txt"
q $PORT app "SELECT tenant_id, webhook_id, event_id FROM learning.relay_queue ORDER BY 1, 2, 3" >"$W/queue_before.txt"
grep -q "waiting for ALTER EXTENSION learning UPDATE" "$W/server.log"
tap_ok $? "the workers wait for the update and say so in the log"
tap_is "$(q $PORT app "SELECT count(*) FROM learning.job_runs WHERE run_by = 'scheduler'")" "0" \
    "no job ran with the wrong schema"
[ "$(grep -c "waiting for ALTER EXTENSION learning UPDATE" "$W/server.log")" -le 4 ]
tap_ok $? "the wait is logged once per worker, not in a loop"

# --- 4. the update ------------------------------------------------------------
q $PORT app "ALTER EXTENSION learning UPDATE" >"$W/update.log" 2>&1
tap_ok $? "ALTER EXTENSION learning UPDATE" || cat "$W/update.log"
tap_is "$(q $PORT app "SELECT extversion FROM pg_extension WHERE extname = 'learning'")" "0.2.0" "the extension is at 0.2.0"

# --- 5. nothing lost ----------------------------------------------------------
q $PORT app "$SNAP" >"$W/after.txt"
diff "$W/before.txt" "$W/after.txt" >"$W/snap.diff"
tap_ok $? "counts, statuses, Brier scores, curves and scales are the same after the update" || head -20 "$W/snap.diff"
q $PORT app "$DASH" >"$W/dash_after.txt"
diff -q "$W/dash_before.txt" "$W/dash_after.txt" >/dev/null
tap_ok $? "the dashboards (but coaching) and feedback summaries are the same after the update"
q $PORT app "SELECT tenant_id, webhook_id, event_id FROM learning.relay_queue ORDER BY 1, 2, 3" >"$W/queue_after.txt"
diff -q "$W/queue_before.txt" "$W/queue_after.txt" >/dev/null
tap_ok $? "the relay queue is untouched by the update"
BINS_EQUAL="
WITH rows AS (
    SELECT tenant_id, action_type, least(floor(predicted_confidence * 10), 9)::int AS b, count(*) AS n,
           sum(predicted_confidence) AS sp,
           sum(CASE status WHEN 'positive' THEN outcome_score ELSE 0 END) AS so
      FROM learning.outcome_records WHERE status IN ('positive', 'negative', 'expired')
     GROUP BY 1, 2, 3),
bins AS (
    SELECT tenant_id, action_type, bin_index AS b, sum(n) AS n, sum(sum_p) AS sp, sum(sum_o) AS so
      FROM learning.calibration_bins GROUP BY 1, 2, 3 HAVING sum(n) <> 0)
SELECT count(*) FROM rows FULL JOIN bins USING (tenant_id, action_type, b)
 WHERE rows.n IS DISTINCT FROM bins.n OR abs(rows.sp - bins.sp) > 1e-9 OR abs(rows.so - bins.so) > 1e-9"
tap_is "$(q $PORT app "$BINS_EQUAL")" "0" "the bins equal a recomputation from the rows"
q $PORT app "SELECT learning.record_outcome('globex', 'c-new', 'escalate', 0.9, 'escalation_result')" >/dev/null
tap_ok $? "0.2.0 records outcomes after the update"
wait_for $PORT app "SELECT count(*) >= 5 FROM (SELECT DISTINCT job_name FROM learning.job_runs
                     WHERE run_by = 'scheduler' AND status = 'succeeded') j" 30
tap_ok $? "the scheduler runs every job after the update"
tap_is "$(q $PORT app "SELECT count(*) FROM learning.job_runs WHERE status = 'failed'")" "0" "no job failed"
q $PORT app "SELECT learning.run_job(j) FROM unnest(ARRAY['immediate_signals', 'engagement_signals',
             'deal_progression', 'expire_overdue', 'calibration_check']) j" >/dev/null
tap_ok $? "every job runs on demand after the update"
tap_is "$(q $PORT app "$BINS_EQUAL")" "0" "the bins still equal the rows after the jobs"

# The upgraded catalog is the catalog of a fresh install: functions (body,
# settings, security, privileges), comments, columns, constraints, triggers,
# policies and table privileges.
q $PORT postgres "CREATE DATABASE fresh" >/dev/null
q $PORT fresh "CREATE EXTENSION learning" >/dev/null
CATALOG="
SELECT 'function', p.oid::regprocedure::text, md5(p.prosrc), p.prosecdef::text, p.provolatile::text, p.proconfig::text,
       pg_get_function_result(p.oid), pg_get_function_arguments(p.oid),
       (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a),
       pg_get_userbyid(p.proowner) = 'learning_definer', obj_description(p.oid, 'pg_proc')
  FROM pg_proc p WHERE p.pronamespace IN ('learning'::regnamespace, 'learning_api'::regnamespace)
UNION ALL
SELECT 'relation', c.oid::regclass::text, c.relkind::text, c.relrowsecurity::text, c.relforcerowsecurity::text, NULL,
       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
                          || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       NULL, (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), NULL::boolean,
       obj_description(c.oid, 'pg_class')
  FROM pg_class c WHERE c.relnamespace IN ('learning'::regnamespace, 'learning_api'::regnamespace)
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || conname, pg_get_constraintdef(oid), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM pg_constraint WHERE connamespace = 'learning'::regnamespace
UNION ALL
SELECT 'index', indexrelid::regclass::text, pg_get_indexdef(indexrelid), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'learning'::regnamespace)
UNION ALL
SELECT 'trigger', tgrelid::regclass::text || ' ' || tgname, pg_get_triggerdef(oid), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'learning'::regnamespace)
UNION ALL
SELECT 'policy', polrelid::regclass::text || ' ' || polname, polcmd::text,
       NULL, NULL, NULL, pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid),
       (SELECT string_agg(r::regrole::text, ',' ORDER BY r::regrole::text) FROM unnest(polroles) r), NULL, NULL
  FROM pg_policy WHERE polrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'learning'::regnamespace)
UNION ALL
SELECT 'view', c.oid::regclass::text, md5(pg_get_viewdef(c.oid)), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace IN ('learning'::regnamespace, 'learning_api'::regnamespace)
UNION ALL
SELECT 'type', t.oid::regtype::text, t.typtype::text, NULL, NULL, NULL, format_type(t.typbasetype, t.typtypmod),
       NULL, NULL, NULL, obj_description(t.oid, 'pg_type')
  FROM pg_type t WHERE t.typnamespace IN ('learning'::regnamespace, 'learning_api'::regnamespace) AND t.typtype IN ('d', 'e')
UNION ALL
SELECT 'member', pg_describe_object(classid, objid, objsubid), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'learning')
ORDER BY 1, 2"
q $PORT app "$CATALOG" >"$W/catalog_upgraded.txt" && q $PORT fresh "$CATALOG" >"$W/catalog_fresh.txt"
diff "$W/catalog_fresh.txt" "$W/catalog_upgraded.txt" >"$W/catalog.diff"
tap_ok $? "the upgraded catalog equals a fresh 0.2.0 install (functions, privileges, comments, tables, triggers, policies)" \
    || head -40 "$W/catalog.diff"

# pg_dump of the upgraded (0.2.0) database restores.
"$PGBIN/pg_dump" -h "$TEST_ROOT" -p $PORT -U postgres -d app -f "$W/dump.sql"
tap_ok $? "pg_dump of the 0.2.0 database"
q $PORT postgres "CREATE DATABASE restored" >/dev/null
"$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d restored -Xq -v ON_ERROR_STOP=1 -f "$W/dump.sql" >"$W/restore.log" 2>&1
tap_ok $? "the dump restores" || tail -5 "$W/restore.log"
COUNTS="SELECT (SELECT count(*) FROM learning.outcome_records) || '/' || (SELECT count(*) FROM learning.feedback_entries)
        || '/' || (SELECT count(*) FROM learning.signals) || '/' || (SELECT count(*) FROM learning.webhooks)"
tap_is "$(q $PORT restored "$COUNTS")" "$(q $PORT app "$COUNTS")" "the restored database has every row"
tap_is "$(q $PORT restored "$BINS_EQUAL")" "0" "the restored bins equal the rows"
grep -E "terminated by signal|PANIC" "$W/server.log" >/dev/null
tap_ok $((1 - $?)) "no server process crashed"

-- The privilege matrix: for every function and procedure in the extension's
-- schemas, the roles that may execute it (besides its owner and superusers),
-- written down here as the specification.  A function that is missing below,
-- or whose grants differ, shows up as a row of the result: a new function can
-- never become executable by PUBLIC, or by an API role, without this file
-- saying so.  Roles are written without their "learning_" prefix.
--
--   app      learning_app: trusted callers of the SQL API (all tenants)
--   definer  learning_definer: owner of the learning_api functions
--   rep, manager, executive, service, anon: the HTTP API's roles
--
-- Internal functions (trigger functions, event emission, the jobs' and the
-- relay's helpers) have no grant at all.
CREATE TEMP TABLE expected_grants (routine text PRIMARY KEY, roles text NOT NULL);
INSERT INTO expected_grants VALUES
    ('learning.calibration_curve_window(text,text,integer,integer)', 'app definer'),
    ('learning.dashboard_page(text,integer,text)', 'app definer'),
    ('learning.html_patterns(jsonb)', 'app definer'),
    ('learning.reliability_diagram(text,text,integer,integer)', 'app definer'),
    ('learning.report_progress(text,integer,integer,text,bigint,timestamp with time zone,timestamp with time zone)', 'app'),
    ('learning.svg_num(double precision,integer)', 'app definer'),
    ('learning.svg_pvalue(double precision)', 'app definer'),
    ('learning.svg_reliability(jsonb,text,text)', 'app definer'),
    ('learning.svg_trends(jsonb)', 'app definer'),
    ('learning.xml_escape(text)', 'app definer'),
    ('learning_api.dashboard_page(integer)', 'executive manager'),
    ('learning_api.reliability_diagram(text,integer,integer)', 'executive manager rep service'),
    ('learning.adjusted_confidence(text,text,double precision)', 'app'),
    ('learning.api_claims()', 'definer executive manager rep service'),
    ('learning.api_context(text[])', 'definer'),
    ('learning.api_http_error(integer,text,text,text)', 'definer'),
    ('learning.api_tenant(jsonb)', 'definer executive manager rep service'),
    ('learning.apply_signals(text,text,text)', ''),
    ('learning.brier_accum(double precision[],double precision,double precision)', ''),
    ('learning.brier_combine(double precision[],double precision[])', ''),
    ('learning.brier_final(double precision[])', ''),
    ('learning.brier_score(double precision,double precision)', 'app'),
    ('learning.brier_score(text,text)', 'app'),
    ('learning.builtin_outcome_window(text)', 'app definer'),
    ('learning.calibrated_probability(text,text,double precision)', 'app'),
    ('learning.calibration_check(text,text)', ''),
    ('learning.calibration_curve(text,text,integer)', 'app definer'),
    ('learning.check_action_type(text)', 'app definer'),
    ('learning.check_and_adjust(text,text)', 'app'),
    ('learning.check_confidence(text,double precision)', 'app definer'),
    ('learning.check_days(integer)', 'app definer'),
    ('learning.check_finite_time(text,timestamp with time zone)', 'app definer'),
    ('learning.check_json_object(text,jsonb)', 'app definer'),
    ('learning.check_range(text,double precision,double precision,double precision)', 'app definer'),
    ('learning.check_outcome_row(text,text,text,text,text,double precision,text,double precision,jsonb,numeric,timestamp with time zone)', 'app definer'),
    ('learning.check_required(text,boolean)', 'app definer'),
    ('learning.check_tenant_id(text)', 'app definer'),
    ('learning.check_text(text,text)', 'app definer'),
    ('learning.check_webhook_destination(text)', ''),
    ('learning.check_webhook_url(text)', ''),
    ('learning.check_window(text,interval)', 'app definer'),
    ('learning.coaching_patterns(text,integer,double precision)', 'app definer'),
    ('learning.create_webhook(text,text[],text,text)', ''),
    ('learning.deal_stage_rank(text)', 'app definer'),
    ('learning.drop_webhook(bigint)', ''),
    ('learning.emit_event(text,text,jsonb)', ''),
    ('learning.events_since(text,bigint,integer)', 'app definer'),
    ('learning.execute_job(text,text,text,integer)', ''),
    ('learning.executive_summary(text,integer)', 'app definer'),
    ('learning.expire_overdue(text,text)', ''),
    ('learning.job_batch(text,text,integer)', ''),
    ('learning.job_batch_tenants()', ''),
    ('learning.feedback_for_conversation(text,text)', 'app'),
    ('learning.feedback_rate(text,text)', 'app'),
    ('learning.feedback_rollup()', ''),
    ('learning.feedback_summary(text,integer)', 'app'),
    ('learning.flush_pending_deltas()', 'app'),
    ('learning.improvement_areas(text,integer,double precision)', 'app'),
    ('learning.ingest_signal(text,text,text,timestamp with time zone,jsonb,text)', 'app definer'),
    ('learning.is_time_zone_name(text)', 'app definer'),
    ('learning.job_schedule()', 'app'),
    ('learning.job_signal_types(text)', ''),
    ('learning.manager_dashboard(text,integer)', 'app definer'),
    ('learning.outcome_calibrate()', ''),
    ('learning.outcome_guard()', ''),
    ('learning.outcome_records_truncated()', ''),
    ('learning.outcome_rollup()', ''),
    ('learning.outcome_window(text,text)', 'app definer'),
    ('learning.outcomes_for_conversation(text,text)', 'app'),
    ('learning.pending_outcomes(text,text,boolean)', 'app'),
    ('learning.prune_events()', ''),
    ('learning.prune_job_runs()', ''),
    ('learning.random_key()', 'app definer'),
    ('learning.rebuild_rollups(text)', ''),
    ('learning.record_failed_job(text,timestamp with time zone,text)', ''),
    ('learning.record_outcome(text,text,text,double precision,text,text,text,jsonb,numeric,timestamp with time zone)', 'app definer'),
    ('learning.relay_claim(integer,bigint[],integer[],integer,bigint[],integer,interval,text)', ''),
    ('learning.relay_next_due(boolean)', ''),
    ('learning.relay_note_endpoints(bigint[],boolean[],interval,interval)', ''),
    ('learning.relay_queue_changed()', ''),
    ('learning.relay_unclaim(text[],bigint[],bigint[])', ''),
    ('learning.relay_maintain(interval,boolean)', ''),
    ('learning.relay_record(jsonb,integer,interval)', ''),
    ('learning.relay_release_claims()', ''),
    ('learning.relay_wake()', ''),
    ('learning.rep_dashboard(text,text,integer)', 'app definer'),
    ('learning.resolve_outcome(text,uuid,text,double precision,text)', 'app definer'),
    ('learning.retry_dead_deliveries(bigint)', ''),
    ('learning.rollups_truncated()', ''),
    ('learning.rotate_sse_channel(text)', ''),
    ('learning.run_job(text)', 'app'),
    ('learning.set_minutes_saved(text,text,double precision)', 'app'),
    ('learning.set_outcome_window(text,text,interval)', 'app'),
    ('learning.set_tenant_time_zone(text,text)', 'app'),
    ('learning.set_webhook_enabled(bigint,boolean)', ''),
    ('learning.signal_job(text)', 'app definer'),
    ('learning.signal_outcome_type(text)', 'app definer'),
    ('learning.signal_rule(text,jsonb,jsonb)', 'app definer'),
    ('learning.sse_channel(text)', 'definer'),
    ('learning.submit_feedback(text,text,text,text,text,integer,text,text,text,uuid,jsonb,uuid)', 'app definer'),
    ('learning.tenant_settings_rollups()', ''),
    ('learning.tenant_time_zone(text)', 'app definer'),
    ('learning.top_performing_actions(text,integer,integer)', 'app'),
    ('learning.trend_direction(double precision[])', 'app'),
    ('learning_api.calibration_curve(text,integer)', 'executive manager rep service'),
    ('learning_api.coaching_patterns(integer,double precision)', 'executive manager'),
    ('learning_api.events_since(bigint,integer)', 'executive manager rep service'),
    ('learning_api.executive_summary(integer)', 'executive'),
    ('learning_api.ingest_signal(text,text,timestamp with time zone,jsonb,text)', 'service'),
    ('learning_api.manager_dashboard(integer)', 'executive manager'),
    ('learning_api.pre_request()', 'anon executive manager rep service'),
    ('learning_api.record_outcome(text,text,double precision,text,text,text,jsonb,numeric,timestamp with time zone)', 'service'),
    ('learning_api.rep_dashboard(integer,text)', 'executive manager rep service'),
    ('learning_api.resolve_outcome(uuid,text,double precision,text)', 'service'),
    ('learning_api.sse_channel()', 'executive manager rep service'),
    ('learning_api.submit_feedback(text,text,text,text,integer,text,uuid,jsonb,uuid)', 'executive manager rep');

CREATE TEMP VIEW actual_grants AS
SELECT p.oid::regprocedure::text AS routine,
       coalesce((SELECT string_agg(g, ' ' ORDER BY g)
                   FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                     ELSE replace(a.grantee::regrole::text, 'learning_', '') END AS g
                           FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                          WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner) x), '') AS roles
  FROM pg_proc p
 WHERE p.pronamespace IN ('learning'::regnamespace, 'learning_api'::regnamespace);

-- Differences: none expected.
SELECT coalesce(a.routine, e.routine) AS routine, e.roles AS expected, a.roles AS actual
  FROM actual_grants a FULL JOIN expected_grants e USING (routine)
 WHERE a.roles IS DISTINCT FROM e.roles
 ORDER BY 1;

-- Nothing is executable by PUBLIC, and the matrix covers every routine.
SELECT count(*) FILTER (WHERE roles LIKE '%PUBLIC%') AS public_routines,
       count(*) AS routines, (SELECT count(*) FROM expected_grants) AS listed
  FROM actual_grants;

-- The internal functions have no grant at all (a second look, by kind).
SELECT p.oid::regprocedure AS trigger_function_with_grants
  FROM pg_proc p
 WHERE p.pronamespace = 'learning'::regnamespace AND p.prorettype = 'trigger'::regtype
   AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner);

-- Every SQL and PL/pgSQL routine either pins search_path or has a SQL-standard
-- body (bound when created): none resolves an operator or a function on a
-- caller's path.
SELECT p.oid::regprocedure AS routine_on_callers_search_path
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace IN ('learning'::regnamespace, 'learning_api'::regnamespace)
   AND l.lanname IN ('sql', 'plpgsql')
   AND p.prosqlbody IS NULL
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c = 'search_path=pg_catalog, pg_temp')
 ORDER BY 1;

------------------------------------------------------------------------------
-- Section: who may execute what
--
-- Nothing in schema learning is executable by PUBLIC.  Four groups of
-- functions, each granted by name below (every version of a name, so that a
-- signature that changes keeps its grants):
--
--   * the SQL API (README): learning_app, the role a trusted non-superuser
--     caller of the SQL API is made a member of;
--   * the checks and rules the SQL API runs as its caller: learning_app and
--     learning_definer (the owner of the learning_api functions);
--   * what the learning_api functions call, as learning_definer;
--   * the claim readers of the row-level security policies: the API roles.
--
-- Everything else is internal and executable only by the extension's owner:
-- the trigger functions, event emission, the commit-time and job helpers, the
-- relay's functions.  A trigger function also refuses any table but the
-- extension's own.  sql-tests/regress/08_privileges.sql lists, for every
-- function, who may execute it; a new function must be added there.
-- Upgrade scripts end with this section.
------------------------------------------------------------------------------

REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA learning FROM PUBLIC;
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA learning_api FROM PUBLIC;

DO $grants$
DECLARE
    sql_api constant text[] := ARRAY[
        'record_outcome', 'resolve_outcome', 'outcomes_for_conversation', 'pending_outcomes',
        'set_outcome_window', 'ingest_signal', 'submit_feedback', 'feedback_for_conversation',
        'feedback_summary', 'feedback_rate', 'set_tenant_time_zone', 'set_minutes_saved',
        'brier_score', 'calibration_curve', 'check_and_adjust', 'adjusted_confidence',
        'calibrated_probability', 'events_since', 'run_job', 'job_schedule', 'flush_pending_deltas',
        'rep_dashboard', 'manager_dashboard', 'executive_summary', 'coaching_patterns',
        'top_performing_actions', 'improvement_areas', 'trend_direction',
        'reliability_diagram', 'dashboard_page'];
    sql_api_helpers constant text[] := ARRAY[
        'check_tenant_id', 'check_action_type', 'check_confidence', 'check_text', 'check_required',
        'check_finite_time', 'check_json_object', 'check_range', 'check_window', 'check_days',
        'builtin_outcome_window', 'outcome_window', 'tenant_time_zone', 'signal_job',
        'signal_outcome_type', 'deal_stage_rank', 'signal_rule', 'random_key', 'is_time_zone_name', 'check_outcome_row'];
    http_api_calls constant text[] := ARRAY[
        'api_claims', 'api_tenant', 'api_context', 'api_http_error',
        'record_outcome', 'resolve_outcome', 'ingest_signal', 'submit_feedback', 'calibration_curve',
        'rep_dashboard', 'manager_dashboard', 'executive_summary', 'coaching_patterns', 'events_since',
        'reliability_diagram', 'dashboard_page'];
    policy_functions constant text[] := ARRAY['api_claims', 'api_tenant'];
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::pg_catalog.regprocedure AS fn, p.proname::text AS name
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'learning'::pg_catalog.regnamespace
    LOOP
        IF f.name = ANY (sql_api) OR f.name = ANY (sql_api_helpers) THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO learning_app', f.fn);
        END IF;
        IF f.name = ANY (sql_api_helpers) OR f.name = ANY (http_api_calls) THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO learning_definer', f.fn);
        END IF;
        IF f.name = ANY (policy_functions) THEN
            EXECUTE pg_catalog.format(
                'GRANT EXECUTE ON ROUTINE %s TO learning_rep, learning_manager, learning_executive, learning_service',
                f.fn);
        END IF;
    END LOOP;
END $grants$;

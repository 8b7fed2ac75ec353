------------------------------------------------------------------------------
-- Section: HTTP API for PostgREST (api/README.md)
--
-- Schema learning_api is what PostgREST serves (db-schemas = learning_api).
-- Every request runs as one of the roles below, impersonated by an
-- authenticator login role.  The tenant always comes from the token claim
-- tenant_id (request.jwt.claims), never from a body or a query string:
--
--   * views (feedback, outcomes) are security_invoker, so the row-level
--     security policies of the tables below apply to the requesting role;
--   * functions are SECURITY DEFINER, owned by learning_definer (not a
--     superuser, no BYPASSRLS), with a pinned search_path; they take the
--     tenant from the claims and call the learning SQL API, whose tables
--     enforce the claim tenant again through the same policies;
--   * learning_api.pre_request (db-pre-request) rejects a token without a
--     valid tenant claim or with a role that is not ours.
--
-- Roles are cluster-wide: they are created here only when missing and are
-- never dropped by DROP EXTENSION.  Superusers (the installer, the background
-- workers) bypass row-level security; a non-superuser role that uses the SQL
-- API in schema learning directly is made a member of learning_app.
------------------------------------------------------------------------------

DO $roles$
DECLARE
    r text;
    bad text;
BEGIN
    FOREACH r IN ARRAY ARRAY['learning_anon', 'learning_rep', 'learning_manager', 'learning_executive',
                             'learning_service', 'learning_definer', 'learning_app'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    -- A role made beforehand must not defeat the policies or own our functions with a login.
    SELECT pg_catalog.string_agg(rolname, ', ') INTO bad FROM pg_catalog.pg_roles
     WHERE rolname IN ('learning_anon', 'learning_rep', 'learning_manager', 'learning_executive',
                       'learning_service', 'learning_definer', 'learning_app')
       AND (rolsuper OR rolbypassrls);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'roles % must not be SUPERUSER or BYPASSRLS', bad
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER ROLE ... NOSUPERUSER NOBYPASSRLS, then create the extension again.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'learning_definer' AND rolcanlogin)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                   WHERE g.rolname = 'learning_definer') THEN
        RAISE EXCEPTION 'role learning_definer must be NOLOGIN and have no members'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It owns the SECURITY DEFINER functions of learning_api.';
    END IF;
END $roles$;

COMMENT ON ROLE learning_anon IS 'learning API: requests without a token (db-anon-role); may do nothing but be refused with 401';
COMMENT ON ROLE learning_rep IS 'learning API: a sales rep (JWT role); own dashboard, feedback, outcomes, calibration, events';
COMMENT ON ROLE learning_manager IS 'learning API: a manager (JWT role); adds the manager dashboard and coaching patterns';
COMMENT ON ROLE learning_executive IS 'learning API: an executive (JWT role); adds the executive summary';
COMMENT ON ROLE learning_service IS 'learning API: the agent backend (JWT role); records outcomes, ingests signals, resolves outcomes';
COMMENT ON ROLE learning_definer IS 'learning API: owns the SECURITY DEFINER functions of learning_api; subject to row-level security; never granted to anyone';
COMMENT ON ROLE learning_app IS 'learning: grant to a non-superuser role that calls the SQL API in schema learning directly (all tenants, tenant passed explicitly)';

------------------------------------------------------------------------------
-- Request context: claims, tenant, API role.  In schema learning so that
-- PostgREST does not expose them; search_path pinned, so a planted
-- look-alike of current_setting or of an operator is never called.
------------------------------------------------------------------------------

CREATE FUNCTION learning.api_claims() RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    raw text := nullif(current_setting('request.jwt.claims', true), '');
BEGIN
    -- '' is what a pooled connection shows after the transaction that set the claims ended.
    IF raw IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN raw::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION learning.api_claims() IS
    'The JWT claims PostgREST set for this request (request.jwt.claims), or NULL when unset, empty (a pooled connection) or not JSON';

-- api_tenant(claims): the validated tenant of the claims.  Policies call it as
-- (SELECT learning.api_tenant(learning.api_claims())): resolved by OID when the
-- policy was made, so the API roles need no USAGE on schema learning.  The
-- pattern mirrors the tenant id rule of src/validate.c (learning.check_tenant_id)
-- as a test that returns NULL instead of raising: a function call here would
-- need the API roles to have USAGE on schema learning.
CREATE FUNCTION learning.api_tenant(claims jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(claims -> 'tenant_id') = 'string'
                 AND (claims ->> 'tenant_id') ~ '^[A-Za-z0-9_.-]{1,48}$'
                THEN claims ->> 'tenant_id' END
$$;
COMMENT ON FUNCTION learning.api_tenant(jsonb) IS
    'The tenant of a request: the tenant_id claim when it is a valid tenant id, else NULL (which every policy treats as deny)';

-- api_http_error raises what PostgREST turns into the given HTTP status:
-- 401 in its full-control form (with WWW-Authenticate), others as PTxyz.
CREATE FUNCTION learning.api_http_error(status integer, message text, detail text DEFAULT NULL, hint text DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF status = 401 THEN
        RAISE SQLSTATE 'PGRST' USING
            MESSAGE = jsonb_build_object('code', 'PT401', 'message', message, 'details', detail, 'hint', hint)::text,
            DETAIL = jsonb_build_object('status', 401, 'status_text', 'Unauthorized',
                         'headers', jsonb_build_object('WWW-Authenticate', 'Bearer error="invalid_token"'))::text;
    END IF;
    IF status NOT BETWEEN 400 AND 599 THEN
        RAISE EXCEPTION 'api_http_error: status % is not an HTTP error status', status;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'PT' || status::text, MESSAGE = message,
                          DETAIL = coalesce(detail, ''), HINT = coalesce(hint, '');
END $$;
COMMENT ON FUNCTION learning.api_http_error(integer, text, text, text) IS
    'Raises an error PostgREST answers with the given HTTP status (401 as a PGRST error with WWW-Authenticate, others as SQLSTATE PTxyz)';

-- api_context: the tenant, API role and user of the request, or an error:
-- 401 without a valid tenant claim or outside an API role, 403 (42501) for
-- a role the endpoint does not serve.
CREATE FUNCTION learning.api_context(allowed text[], OUT tenant_id text, OUT api_role text, OUT user_id text)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- the role PostgREST switched to (SET LOCAL ROLE); inside a SECURITY DEFINER
    -- function current_user is the owner, but this setting still names the caller
    api_role := CASE current_setting('role')
                    WHEN 'learning_rep' THEN 'rep'
                    WHEN 'learning_manager' THEN 'manager'
                    WHEN 'learning_executive' THEN 'executive'
                    WHEN 'learning_service' THEN 'service'
                END;
    IF api_role IS NULL THEN
        PERFORM learning.api_http_error(401, 'authentication required',
                                        pg_catalog.format('Role %s is not a role of the learning API.', current_setting('role')),
                                        'Send a bearer token whose role claim is learning_rep, learning_manager, learning_executive or learning_service.');
    END IF;
    tenant_id := learning.api_tenant(learning.api_claims());
    IF tenant_id IS NULL THEN
        PERFORM learning.api_http_error(401, 'token has no valid tenant_id claim', NULL,
                                        'A tenant_id is 1-48 characters of A-Z, a-z, 0-9, "_", "." and "-".');
    END IF;
    user_id := nullif(learning.api_claims() ->> 'sub', '');
    IF NOT api_role = ANY (allowed) THEN
        RAISE EXCEPTION 'role % may not use this endpoint', api_role
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('Allowed roles: %s.', pg_catalog.array_to_string(allowed, ', '));
    END IF;
END $$;
COMMENT ON FUNCTION learning.api_context(text[]) IS
    'Tenant (from the tenant_id claim), API role (rep, manager, executive, service) and user (sub claim) of a PostgREST request; 401 without them, 42501 (403) when the role is not in allowed';

------------------------------------------------------------------------------
-- The pre-request check (db-pre-request = learning_api.pre_request).
------------------------------------------------------------------------------

CREATE FUNCTION learning_api.pre_request() RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
BEGIN
    -- current_setting('role') is the role PostgREST switched to (current_user is the owner here)
    IF current_setting('role') = 'learning_anon' THEN
        PERFORM learning.api_http_error(401, 'authentication required', NULL, 'Send Authorization: Bearer <token>.');
    END IF;
    ctx := learning.api_context(ARRAY['rep', 'manager', 'executive', 'service']);
    IF learning.api_claims() ->> 'role' IS DISTINCT FROM current_setting('role') THEN
        PERFORM learning.api_http_error(401, 'request has no JWT claims for its role');
    END IF;
    IF ctx.api_role <> 'service' AND ctx.user_id IS NULL THEN
        PERFORM learning.api_http_error(401, 'token has no sub claim', NULL, 'The sub claim names the user (rep_id, reviewer_id).');
    END IF;
END $$;
COMMENT ON FUNCTION learning_api.pre_request() IS
$$Checks every request before it runs (PostgREST db-pre-request)
Refuses with 401: no token (role learning_anon), a role that is not an API role, claims whose role differs from the session role, a missing or invalid tenant_id claim, and for people (not learning_service) a missing sub claim.$$;

------------------------------------------------------------------------------
-- Views: read endpoints.  security_invoker = true, so the policies of the
-- base tables filter rows by the requesting role's tenant claim.
------------------------------------------------------------------------------

CREATE VIEW learning_api.feedback WITH (security_invoker = true) AS
SELECT f.id AS feedback_id, f.tenant_id, f.conversation_state_id, f.outcome_record_id, f.target_type,
       f.target_id, f.source, f.rating, f.comment, f.reviewer_id, f.reviewer_role, f.metadata, f.created_at
  FROM learning.feedback_entries f;
COMMENT ON VIEW learning_api.feedback IS
$$Human feedback of your tenant
GET /feedback?conversation_state_id=eq.<id>&order=created_at: the feedback of a conversation. Rows of other tenants are never visible (row-level security on the tenant_id claim). Write feedback with POST /rpc/submit_feedback.$$;
COMMENT ON COLUMN learning_api.feedback.feedback_id IS 'Id of the feedback entry';
COMMENT ON COLUMN learning_api.feedback.tenant_id IS 'Tenant (always the tenant_id claim of your token)';
COMMENT ON COLUMN learning_api.feedback.conversation_state_id IS 'Conversation the feedback is about';
COMMENT ON COLUMN learning_api.feedback.outcome_record_id IS 'Linked outcome, if any';
COMMENT ON COLUMN learning_api.feedback.target_type IS 'message, decision or conversation';
COMMENT ON COLUMN learning_api.feedback.target_id IS 'Id of the message, decision or conversation rated';
COMMENT ON COLUMN learning_api.feedback.source IS 'inline (rating -1..1) or dashboard (rating 1..5)';
COMMENT ON COLUMN learning_api.feedback.rating IS 'Rating: inline -1, 0, 1; dashboard 1 to 5';
COMMENT ON COLUMN learning_api.feedback.comment IS 'Free text, at most 1000 characters';
COMMENT ON COLUMN learning_api.feedback.reviewer_id IS 'The reviewer (sub claim of the token that submitted it)';
COMMENT ON COLUMN learning_api.feedback.reviewer_role IS 'rep, manager or executive';
COMMENT ON COLUMN learning_api.feedback.metadata IS 'Free JSON object';
COMMENT ON COLUMN learning_api.feedback.created_at IS 'When the feedback was recorded';

CREATE VIEW learning_api.outcomes WITH (security_invoker = true) AS
SELECT o.id AS outcome_id, o.tenant_id, o.conversation_state_id, o.rep_id, o.action_type, o.action_id,
       o.predicted_confidence, o.outcome_type, o.status, o.outcome_score, o.signal_source,
       o.window_expires_at, o.resolved_at, o.metadata, o.cost, o.created_at
  FROM learning.outcome_records o;
COMMENT ON VIEW learning_api.outcomes IS
$$Agent actions and their outcomes, of your tenant
GET /outcomes?conversation_state_id=eq.<id>&order=created_at: the outcomes of a conversation. Rows of other tenants are never visible (row-level security on the tenant_id claim).$$;
COMMENT ON COLUMN learning_api.outcomes.outcome_id IS 'Id of the outcome record';
COMMENT ON COLUMN learning_api.outcomes.tenant_id IS 'Tenant (always the tenant_id claim of your token)';
COMMENT ON COLUMN learning_api.outcomes.conversation_state_id IS 'Conversation of the action';
COMMENT ON COLUMN learning_api.outcomes.rep_id IS 'Rep the action was taken for';
COMMENT ON COLUMN learning_api.outcomes.action_type IS 'Action type, e.g. send_email';
COMMENT ON COLUMN learning_api.outcomes.action_id IS 'Id of the action in the agent backend';
COMMENT ON COLUMN learning_api.outcomes.predicted_confidence IS 'The agent''s confidence, 0 to 1, that the outcome is positive';
COMMENT ON COLUMN learning_api.outcomes.outcome_type IS 'email_engagement, meeting_outcome, escalation_result, deal_progression or a tenant-defined type';
COMMENT ON COLUMN learning_api.outcomes.status IS 'pending, positive, negative, ambiguous or expired';
COMMENT ON COLUMN learning_api.outcomes.outcome_score IS 'Score in [0, 1] once resolved';
COMMENT ON COLUMN learning_api.outcomes.signal_source IS 'What resolved it (a signal type, manual, api)';
COMMENT ON COLUMN learning_api.outcomes.window_expires_at IS 'End of the detection window';
COMMENT ON COLUMN learning_api.outcomes.resolved_at IS 'When it was resolved';
COMMENT ON COLUMN learning_api.outcomes.metadata IS 'Free JSON object (deal_stage_at_creation, escalation_trigger, ...)';
COMMENT ON COLUMN learning_api.outcomes.cost IS 'Cost of the action, if known';
COMMENT ON COLUMN learning_api.outcomes.created_at IS 'When the action was taken';

------------------------------------------------------------------------------
-- Functions (/rpc/...).  Writing functions are VOLATILE (PostgREST runs them
-- READ WRITE, and a GET on them fails with 25006 = 405); reading functions
-- are STABLE (READ ONLY).  Every one: SECURITY DEFINER, owner
-- learning_definer, search_path pinned, names schema-qualified.
------------------------------------------------------------------------------

CREATE FUNCTION learning_api.submit_feedback(
    conversation_state_id text,
    target_type text,
    target_id text,
    source text,
    rating integer,
    comment text DEFAULT NULL,
    outcome_record_id uuid DEFAULT NULL,
    metadata jsonb DEFAULT '{}',
    feedback_id uuid DEFAULT NULL)
    RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
    new_id uuid;
BEGIN
    ctx := learning.api_context(ARRAY['rep', 'manager', 'executive']);
    new_id := learning.submit_feedback(ctx.tenant_id, conversation_state_id, target_type, target_id, source, rating,
                                       ctx.user_id, ctx.api_role, comment, outcome_record_id,
                                       coalesce(metadata, '{}'), feedback_id);
    RETURN jsonb_build_object('feedback_id', new_id, 'status', 'recorded');
END $$;
COMMENT ON FUNCTION learning_api.submit_feedback(text, text, text, text, integer, text, uuid, jsonb, uuid) IS
$$Submit feedback (rep, manager, executive)
POST /rpc/submit_feedback {conversation_state_id, target_type, target_id, source, rating, comment?, outcome_record_id?, metadata?, feedback_id?} -> {feedback_id, status: "recorded"}. The tenant and reviewer come from the token (tenant_id, sub, role). 400 for invalid input, 409 when feedback_id exists with other content or the outcome is not yours.$$;

CREATE FUNCTION learning_api.record_outcome(
    conversation_state_id text,
    action_type text,
    predicted_confidence double precision,
    outcome_type text,
    action_id text DEFAULT NULL,
    rep_id text DEFAULT NULL,
    metadata jsonb DEFAULT '{}',
    cost numeric DEFAULT NULL,
    created_at timestamptz DEFAULT NULL)
    RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
    new_id uuid;
BEGIN
    ctx := learning.api_context(ARRAY['service']);
    new_id := learning.record_outcome(ctx.tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, action_id, rep_id, coalesce(metadata, '{}'), cost,
                                      coalesce(created_at, now()));
    RETURN jsonb_build_object('outcome_id', new_id, 'status', 'pending');
END $$;
COMMENT ON FUNCTION learning_api.record_outcome(text, text, double precision, text, text, text, jsonb, numeric, timestamptz) IS
$$Record an agent action with its predicted confidence (service)
POST /rpc/record_outcome {conversation_state_id, action_type, predicted_confidence, outcome_type, action_id?, rep_id?, metadata?, cost?, created_at?} -> {outcome_id, status: "pending"}. The tenant comes from the token. 400 for invalid input.$$;

CREATE FUNCTION learning_api.ingest_signal(
    conversation_state_id text,
    signal_type text,
    occurred_at timestamptz DEFAULT NULL,
    detail jsonb DEFAULT '{}',
    external_id text DEFAULT NULL)
    RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
    new_id uuid;
BEGIN
    ctx := learning.api_context(ARRAY['service']);
    new_id := learning.ingest_signal(ctx.tenant_id, conversation_state_id, signal_type, coalesce(occurred_at, now()),
                                     coalesce(detail, '{}'), external_id);
    RETURN jsonb_build_object('signal_id', new_id, 'status', 'stored');
END $$;
COMMENT ON FUNCTION learning_api.ingest_signal(text, text, timestamptz, jsonb, text) IS
$$Store a signal of what happened (service)
POST /rpc/ingest_signal {conversation_state_id, signal_type, occurred_at?, detail?, external_id?} -> {signal_id, status: "stored"}. The same external_id again returns the first signal_id. The signal jobs apply signals to pending outcomes. 400 for an unknown signal type.$$;

CREATE FUNCTION learning_api.resolve_outcome(
    outcome_id uuid,
    status text,
    outcome_score double precision DEFAULT NULL,
    signal_source text DEFAULT 'api')
    RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
    r learning.outcome_records;
    err_state text;
    err_message text;
    err_detail text;
    err_hint text;
BEGIN
    ctx := learning.api_context(ARRAY['service']);
    BEGIN
        r := learning.resolve_outcome(ctx.tenant_id, outcome_id, status, outcome_score, signal_source);
    EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
        -- PostgREST answers P0002 and 55000 with 500: say 404 and 409
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
        PERFORM learning.api_http_error(CASE err_state WHEN 'P0002' THEN 404 ELSE 409 END,
                                        err_message, nullif(err_detail, ''), nullif(err_hint, ''));
    END;
    RETURN jsonb_build_object('outcome_id', r.id, 'tenant_id', r.tenant_id, 'conversation_state_id', r.conversation_state_id,
                              'action_type', r.action_type, 'outcome_type', r.outcome_type, 'status', r.status,
                              'outcome_score', r.outcome_score, 'signal_source', r.signal_source,
                              'resolved_at', r.resolved_at);
END $$;
COMMENT ON FUNCTION learning_api.resolve_outcome(uuid, text, double precision, text) IS
$$Resolve a pending outcome (service)
POST /rpc/resolve_outcome {outcome_id, status, outcome_score?, signal_source?} -> the resolved outcome. status is positive, negative, ambiguous or expired. 404 for an id your tenant does not have, 409 when it is already resolved, 400 for invalid input.$$;

CREATE FUNCTION learning_api.calibration_curve(action_type text, min_samples integer DEFAULT 10)
    RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.calibration_curve((learning.api_context(ARRAY['rep', 'manager', 'executive', 'service'])).tenant_id, action_type, min_samples);
COMMENT ON FUNCTION learning_api.calibration_curve(text, integer) IS
$$Calibration curve of an action type (all roles)
GET /rpc/calibration_curve?action_type=send_email[&min_samples=10] -> {action_type, sample_count, brier_score, reliability, reliability_with_spread, resolution, uncertainty, ece, mce, is_calibrated, bins[10], midpoints, actual_rates, counts}.$$;

CREATE FUNCTION learning_api.rep_dashboard(days integer DEFAULT 30, rep_id text DEFAULT NULL)
    RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
    who text := rep_id;
    err_message text;
    err_detail text;
BEGIN
    ctx := learning.api_context(ARRAY['rep', 'manager', 'executive', 'service']);
    IF ctx.api_role = 'rep' THEN
        IF who IS NOT NULL AND who IS DISTINCT FROM ctx.user_id THEN
            RAISE EXCEPTION 'a rep sees only their own dashboard'
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = pg_catalog.format('You are %s and asked for %s.', ctx.user_id, who),
                      HINT = 'Leave out rep_id.';
        END IF;
        who := ctx.user_id;
    END IF;
    RETURN learning.rep_dashboard(ctx.tenant_id, who, days);
EXCEPTION WHEN no_data_found THEN
    -- a rep the tenant does not know: 404, not PostgREST's 500 for P0002
    GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT, err_detail = PG_EXCEPTION_DETAIL;
    PERFORM learning.api_http_error(404, err_message, nullif(err_detail, ''));
END $$;
COMMENT ON FUNCTION learning_api.rep_dashboard(integer, text) IS
$$Rep dashboard (all roles; a rep sees only their own)
GET /rpc/rep_dashboard?days=30[&rep_id=...] -> {role, period_days, generated_at, response_rates, escalation_history, deal_impact, feedback_scores, calibration_summary}. For a rep the dashboard is always their own (sub claim); rep_id of someone else is 403. Managers, executives and the service see any rep, or the whole team without rep_id. 404 for a rep_id your tenant does not know; days 1-365, else 400.$$;

CREATE FUNCTION learning_api.manager_dashboard(days integer DEFAULT 30)
    RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.manager_dashboard((learning.api_context(ARRAY['manager', 'executive'])).tenant_id, days);
COMMENT ON FUNCTION learning_api.manager_dashboard(integer) IS
$$Manager dashboard (manager, executive)
GET /rpc/manager_dashboard?days=30 -> {role, period_days, generated_at, team_trends, comparative_performance, rep_leaderboard, coaching_opportunities, aggregate_calibration, escalation_rate, feedback_health}. 403 for other roles; days 1-365, else 400.$$;

CREATE FUNCTION learning_api.executive_summary(days integer DEFAULT 30)
    RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.executive_summary((learning.api_context(ARRAY['executive'])).tenant_id, days);
COMMENT ON FUNCTION learning_api.executive_summary(integer) IS
$$Executive summary (executive)
GET /rpc/executive_summary?days=30 -> {role, period_days, generated_at, roi_metrics, agent_effectiveness, engagement_trends, strategic_insights}. 403 for other roles; days 1-365, else 400.$$;

CREATE FUNCTION learning_api.coaching_patterns(days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.coaching_patterns((learning.api_context(ARRAY['manager', 'executive'])).tenant_id, days, alpha);
COMMENT ON FUNCTION learning_api.coaching_patterns(integer, float8) IS
$$Coaching patterns (manager, executive)
GET /rpc/coaching_patterns?days=90[&alpha=0.05] -> [{pattern_type, description, recommendation, confidence, sample_size, p_value, q_value, supporting_data}] by confidence, highest first; only patterns with Benjamini-Hochberg q_value <= alpha (alpha=1: every candidate). 403 for other roles; days 1-365 and alpha in (0, 1], else 400.$$;

CREATE FUNCTION learning_api.events_since(after_id bigint DEFAULT 0, max integer DEFAULT 1000)
    RETURNS SETOF learning.events ROWS 100
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
BEGIN
    -- VOLATILE like learning.events_since: it waits for committing writers and
    -- then needs a fresh snapshot.  It writes nothing, so a GET (READ ONLY) works.
    ctx := learning.api_context(ARRAY['rep', 'manager', 'executive', 'service']);
    RETURN QUERY SELECT e.* FROM learning.events_since(ctx.tenant_id, after_id, max) e;
END $$;
COMMENT ON FUNCTION learning_api.events_since(bigint, integer) IS
$$Events of your tenant after an id, to catch up on live updates (all roles)
GET /rpc/events_since?after_id=N[&max=1000] -> [{tenant_id, id, event_type, payload, created_at}] in id order, without gaps: resume with the last id seen. Live: LISTEN "learning:<tenant_id>" or the SSE stream.$$;

------------------------------------------------------------------------------
-- Privileges.  Nothing in learning_api is PUBLIC; each endpoint is granted
-- to the roles of the endpoint table (a role without the grant gets 42501,
-- which PostgREST answers 403, or 401 without a token).
------------------------------------------------------------------------------

REVOKE ALL ON SCHEMA learning_api FROM PUBLIC;
GRANT USAGE ON SCHEMA learning_api
    TO learning_anon, learning_rep, learning_manager, learning_executive, learning_service;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA learning_api FROM PUBLIC;

GRANT EXECUTE ON FUNCTION learning_api.pre_request()
    TO learning_anon, learning_rep, learning_manager, learning_executive, learning_service;
GRANT SELECT ON learning_api.feedback, learning_api.outcomes
    TO learning_rep, learning_manager, learning_executive, learning_service;
-- security_invoker views need the base tables' SELECT for the caller; RLS limits the rows.
-- (No USAGE on schema learning: the API roles cannot name these tables themselves.)
GRANT SELECT ON learning.feedback_entries, learning.outcome_records
    TO learning_rep, learning_manager, learning_executive, learning_service;
GRANT EXECUTE ON FUNCTION learning_api.submit_feedback(text, text, text, text, integer, text, uuid, jsonb, uuid)
    TO learning_rep, learning_manager, learning_executive;
GRANT EXECUTE ON FUNCTION learning_api.record_outcome(text, text, double precision, text, text, text, jsonb, numeric, timestamptz),
                          learning_api.ingest_signal(text, text, timestamptz, jsonb, text),
                          learning_api.resolve_outcome(uuid, text, double precision, text)
    TO learning_service;
GRANT EXECUTE ON FUNCTION learning_api.calibration_curve(text, integer),
                          learning_api.rep_dashboard(integer, text),
                          learning_api.events_since(bigint, integer)
    TO learning_rep, learning_manager, learning_executive, learning_service;
GRANT EXECUTE ON FUNCTION learning_api.manager_dashboard(integer),
                          learning_api.coaching_patterns(integer, float8)
    TO learning_manager, learning_executive;
GRANT EXECUTE ON FUNCTION learning_api.executive_summary(integer) TO learning_executive;

-- The SECURITY DEFINER functions run as learning_definer: subject to RLS.
GRANT USAGE ON SCHEMA learning TO learning_definer, learning_app;
ALTER FUNCTION learning_api.pre_request() OWNER TO learning_definer;
ALTER FUNCTION learning_api.submit_feedback(text, text, text, text, integer, text, uuid, jsonb, uuid) OWNER TO learning_definer;
ALTER FUNCTION learning_api.record_outcome(text, text, double precision, text, text, text, jsonb, numeric, timestamptz) OWNER TO learning_definer;
ALTER FUNCTION learning_api.ingest_signal(text, text, timestamptz, jsonb, text) OWNER TO learning_definer;
ALTER FUNCTION learning_api.resolve_outcome(uuid, text, double precision, text) OWNER TO learning_definer;
ALTER FUNCTION learning_api.calibration_curve(text, integer) OWNER TO learning_definer;
ALTER FUNCTION learning_api.rep_dashboard(integer, text) OWNER TO learning_definer;
ALTER FUNCTION learning_api.manager_dashboard(integer) OWNER TO learning_definer;
ALTER FUNCTION learning_api.executive_summary(integer) OWNER TO learning_definer;
ALTER FUNCTION learning_api.coaching_patterns(integer, float8) OWNER TO learning_definer;
ALTER FUNCTION learning_api.events_since(bigint, integer) OWNER TO learning_definer;

------------------------------------------------------------------------------
-- Row-level security on every tenant table the API reaches (through the
-- views or through the functions above).  The claim tenant is read once per
-- statement: (SELECT learning.api_tenant(learning.api_claims())) is an initPlan.  No tenant claim
-- (NULL, or '' on a pooled connection) matches no row.  Superusers bypass
-- RLS; members of learning_app (trusted SQL API callers that pass the
-- tenant themselves) have a policy that allows everything.
------------------------------------------------------------------------------

DO $rls$
DECLARE
    t text;
    -- the claim tenant, read once per statement (an initPlan); NULL matches nothing
    is_mine constant text := 'tenant_id = (SELECT learning.api_tenant(learning.api_claims()))';
BEGIN
    -- the tables of the core, plus the dashboards' rollups (the triggers fill them, the dashboards read them)
    FOREACH t IN ARRAY ARRAY['outcome_records', 'feedback_entries', 'signals', 'calibration_bins',
                             'calibration_state', 'calibration_adjustments', 'events',
                             'outcome_windows', 'tenant_settings', 'action_minutes_saved',
                             'outcome_rollups', 'daily_totals', 'conversation_days', 'feedback_rollups',
                             'conversation_last', 'conversation_coverage'] LOOP
        CONTINUE WHEN pg_catalog.to_regclass('learning.' || pg_catalog.quote_ident(t)) IS NULL;
        EXECUTE pg_catalog.format('ALTER TABLE learning.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        -- per command: USING for what is read, changed or deleted; WITH CHECK for what is written
        EXECUTE pg_catalog.format('CREATE POLICY %I ON learning.%I FOR SELECT TO learning_rep, learning_manager, '
                                  'learning_executive, learning_service, learning_definer USING (%s)',
                                  t || '_tenant_select', t, is_mine);
        EXECUTE pg_catalog.format('CREATE POLICY %I ON learning.%I FOR INSERT TO learning_definer WITH CHECK (%s)',
                                  t || '_tenant_insert', t, is_mine);
        EXECUTE pg_catalog.format('CREATE POLICY %I ON learning.%I FOR UPDATE TO learning_definer USING (%s) WITH CHECK (%s)',
                                  t || '_tenant_update', t, is_mine, is_mine);
        EXECUTE pg_catalog.format('CREATE POLICY %I ON learning.%I FOR DELETE TO learning_definer USING (%s)',
                                  t || '_tenant_delete', t, is_mine);
        EXECUTE pg_catalog.format('CREATE POLICY %I ON learning.%I FOR ALL TO learning_app USING (true) WITH CHECK (true)',
                                  t || '_sql_api', t);
        EXECUTE pg_catalog.format(
            'GRANT SELECT, INSERT, UPDATE, DELETE ON learning.%I TO learning_definer', t);
    END LOOP;
END $rls$;

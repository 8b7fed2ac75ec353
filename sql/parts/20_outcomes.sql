------------------------------------------------------------------------------
-- Section: outcomes
------------------------------------------------------------------------------

-- The built-in outcome types and their windows.
-- A SQL-standard body: its operators are bound when it is created, never
-- looked up on a caller's search_path, and it is still inlined.
CREATE FUNCTION learning.builtin_outcome_window(outcome_type text) RETURNS interval
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE outcome_type
    WHEN 'email_engagement'  THEN interval '24 hours'
    WHEN 'meeting_outcome'   THEN interval '168 hours'
    WHEN 'escalation_result' THEN interval '168 hours'
    WHEN 'deal_progression'  THEN interval '720 hours'
END;
COMMENT ON FUNCTION learning.builtin_outcome_window(text) IS
    'Window of a built-in outcome type (email_engagement 24 h, meeting_outcome 168 h, escalation_result 168 h, deal_progression 720 h); NULL for others';

-- outcome_window: the tenant's override, else the built-in window; 22023 for an unknown type.
CREATE FUNCTION learning.outcome_window(tenant_id text, outcome_type text) RETURNS interval
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w interval;
BEGIN
    SELECT ow.window_length INTO w
      FROM learning.outcome_windows ow
     WHERE ow.tenant_id = outcome_window.tenant_id AND ow.outcome_type = outcome_window.outcome_type;
    IF w IS NULL THEN
        w := learning.builtin_outcome_window(outcome_window.outcome_type);
    END IF;
    IF w IS NULL THEN
        RAISE EXCEPTION 'unknown outcome_type "%"', outcome_window.outcome_type
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Built-in types: deal_progression, email_engagement, escalation_result, meeting_outcome.',
                  HINT = 'Define a new outcome type with learning.set_outcome_window(tenant_id, outcome_type, window).';
    END IF;
    RETURN w;
END $$;
COMMENT ON FUNCTION learning.outcome_window(text, text) IS
    'Detection window of an outcome type for a tenant (its override or the built-in window); 22023 for an unknown type';

CREATE FUNCTION learning.set_outcome_window(tenant_id text, outcome_type text, window_length interval)
    RETURNS interval LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('outcome_type', outcome_type IS NULL);
    PERFORM learning.check_required('window_length', window_length IS NULL);
    IF outcome_type !~ '^[a-z0-9_]{1,50}$' THEN
        RAISE EXCEPTION 'invalid outcome_type "%"', outcome_type
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'An outcome_type is 1 to 50 characters of a-z, 0-9 and "_".';
    END IF;
    PERFORM learning.check_window('window_length', window_length);
    INSERT INTO learning.outcome_windows AS w (tenant_id, outcome_type, window_length)
    VALUES (set_outcome_window.tenant_id, set_outcome_window.outcome_type, set_outcome_window.window_length)
    ON CONFLICT ON CONSTRAINT outcome_windows_pkey
    DO UPDATE SET window_length = excluded.window_length, updated_at = pg_catalog.now();
    RETURN window_length;
END $$;
COMMENT ON FUNCTION learning.set_outcome_window(text, text, interval) IS
    'Overrides the window of an outcome type for a tenant, or defines a new outcome type with its window; applies to outcomes recorded afterwards';

-- record_outcome and resolve_outcome are C (src/write_path.c): the hot path.
-- They check their arguments with the rules of src/validate.c and run one
-- saved statement each, as the caller.
CREATE FUNCTION learning.record_outcome(
    tenant_id text,
    conversation_state_id text,
    action_type text,
    predicted_confidence float8,
    outcome_type text,
    action_id text DEFAULT NULL,
    rep_id text DEFAULT NULL,
    metadata jsonb DEFAULT '{}',
    cost numeric DEFAULT NULL,
    created_at timestamptz DEFAULT now())
    RETURNS uuid LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_record_outcome';
COMMENT ON FUNCTION learning.record_outcome(text, text, text, float8, text, text, text, jsonb, numeric, timestamptz) IS
    'Records an agent action with its predicted confidence as a pending outcome whose window ends at created_at + window(outcome_type); returns its id';

CREATE FUNCTION learning.resolve_outcome(
    tenant_id text,
    outcome_id uuid,
    status text,
    outcome_score float8 DEFAULT NULL,
    signal_source text DEFAULT 'manual')
    RETURNS learning.outcome_records LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_resolve_outcome';
COMMENT ON FUNCTION learning.resolve_outcome(text, uuid, text, float8, text) IS
    'Resolves a pending outcome exactly once (positive, negative, ambiguous, expired); P0002 when unknown, 55000 when already resolved';

CREATE FUNCTION learning.outcomes_for_conversation(tenant_id text, conversation_state_id text)
    RETURNS SETOF learning.outcome_records LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('conversation_state_id', conversation_state_id IS NULL);
    RETURN QUERY
    SELECT o.* FROM learning.outcome_records o
     WHERE o.tenant_id = outcomes_for_conversation.tenant_id
       AND o.conversation_state_id = outcomes_for_conversation.conversation_state_id
     ORDER BY o.created_at, o.id;
END $$;
COMMENT ON FUNCTION learning.outcomes_for_conversation(text, text) IS
    'Every outcome of a conversation, oldest first';

CREATE FUNCTION learning.pending_outcomes(
    tenant_id text DEFAULT NULL,
    outcome_type text DEFAULT NULL,
    expired_only boolean DEFAULT false)
    RETURNS SETOF learning.outcome_records LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF tenant_id IS NOT NULL THEN
        PERFORM learning.check_tenant_id(tenant_id);
    END IF;
    RETURN QUERY
    SELECT o.* FROM learning.outcome_records o
     WHERE o.status = 'pending'
       AND (pending_outcomes.tenant_id IS NULL OR o.tenant_id = pending_outcomes.tenant_id)
       AND (pending_outcomes.outcome_type IS NULL OR o.outcome_type = pending_outcomes.outcome_type)
       AND (NOT coalesce(expired_only, false) OR o.window_expires_at < pg_catalog.now())
     ORDER BY o.window_expires_at, o.tenant_id, o.id;
END $$;
COMMENT ON FUNCTION learning.pending_outcomes(text, text, boolean) IS
    'Pending outcomes, optionally of one tenant and outcome type; expired_only keeps those whose window has ended (soonest window first)';

-- The lifecycle guard and the calibration triggers (src/outcomes.c, src/calibration.c).
CREATE FUNCTION learning.outcome_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'learning_outcome_guard';
COMMENT ON FUNCTION learning.outcome_guard() IS
    'BEFORE trigger: fills resolved_at and default scores, refuses any change to a resolved outcome''s status, score, confidence, action type or tenant (55000)';

CREATE TRIGGER outcome_records_guard
    BEFORE INSERT OR UPDATE ON learning.outcome_records
    FOR EACH ROW EXECUTE FUNCTION learning.outcome_guard();

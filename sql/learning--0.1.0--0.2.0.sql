-- learning 0.1.0 -> 0.2.0: run by ALTER EXTENSION learning UPDATE after the
-- 0.2.0 library is installed and the server restarted.  Each section below
-- owns one concern of the release, in the order the changes depend on each
-- other; every object it creates or replaces carries a COMMENT ON, as in the
-- install script (sql/parts/), which holds the same definitions.

\echo Use "ALTER EXTENSION learning UPDATE TO '0.2.0'" to load this file. \quit

-- ======================================================================
-- Security: pinned search_path, internal functions closed to PUBLIC,
-- trigger functions bound to the extension's tables, webhooks written only
-- through their functions, private networks refused.
-- ======================================================================

-- Input checks at the function boundary: times within the years 1 to 9999,
-- bounded numbers, windows positive on every date, bounded signal_source.
-- Trigger functions refuse tables other than the extension's own; the time
-- zone trigger and run_job run as the extension's owner (the counters, the
-- outbox and the job history are written only by the extension).
-- check_finite_time raises 22008 unless value is a finite timestamp.
CREATE OR REPLACE FUNCTION learning.check_finite_time(field text, value timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be null', field USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_catalog.isfinite(value) THEN
        RAISE EXCEPTION '% must be a finite time, got %', field, value USING ERRCODE = 'datetime_field_overflow';
    END IF;
    -- a day short of each end, so that the local day is in the years 1 to 9999 in
    -- every time zone (4-digit ISO dates in JSON), and any window still ends in range
    IF value < '0001-01-02 00:00:00+00' OR value >= '9999-12-31 00:00:00+00' THEN
        RAISE EXCEPTION '% must be between the years 1 and 9999, got %', field, value
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    RETURN value;
END $$;
COMMENT ON FUNCTION learning.check_finite_time(text, timestamptz) IS
    'Returns value, or raises 22004 when NULL and 22008 when infinite or outside the years 1 to 9999';

CREATE FUNCTION learning.check_range(field text, value float8, lo float8, hi float8) RETURNS float8
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_range_sql';
COMMENT ON FUNCTION learning.check_range(text, float8, float8, float8) IS
    'Returns value, or raises 22004 when NULL and 22003 unless it is a finite number in [lo, hi]';

CREATE FUNCTION learning.check_window(field text, value interval) RETURNS interval
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_window_sql';
COMMENT ON FUNCTION learning.check_window(text, interval) IS
    'Returns value, or raises 22004 when NULL and 22003 unless it is positive on every date (no negative part) and at most 3660 days';

CREATE OR REPLACE FUNCTION learning.set_outcome_window(tenant_id text, outcome_type text, window_length interval)
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

CREATE OR REPLACE FUNCTION learning.record_outcome(
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
    RETURNS uuid LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id uuid;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_text('conversation_state_id', conversation_state_id);
    PERFORM learning.check_action_type(action_type);
    PERFORM learning.check_confidence('predicted_confidence', predicted_confidence);
    PERFORM learning.check_required('outcome_type', outcome_type IS NULL);
    PERFORM learning.check_json_object('metadata', metadata);
    PERFORM learning.check_finite_time('created_at', created_at);
    IF action_id IS NOT NULL THEN
        PERFORM learning.check_text('action_id', action_id);
    END IF;
    IF rep_id IS NOT NULL THEN
        PERFORM learning.check_text('rep_id', rep_id);
    END IF;
    IF cost IS NOT NULL THEN
        -- a cost per action beyond a billion is an error, and would swamp the dashboards' sums
        IF cost = 'NaN' OR cost < 0 OR cost > 1e9 THEN
            RAISE EXCEPTION 'cost must be a finite number between 0 and 1000000000, got %', cost::float8
                USING ERRCODE = 'numeric_value_out_of_range';
        END IF;
    END IF;
    -- the escalation trigger is a key of the dashboards' rollups: bounded like an id
    IF pg_catalog.char_length(metadata->>'escalation_trigger') > 200 THEN
        RAISE EXCEPTION 'metadata.escalation_trigger must be at most 200 characters, got %',
            pg_catalog.char_length(metadata->>'escalation_trigger')
            USING ERRCODE = 'string_data_right_truncation';
    END IF;
    -- a deal outcome can only be resolved from a stage that can advance
    IF outcome_type = 'deal_progression' AND metadata ? 'deal_stage_at_creation'
       AND learning.deal_stage_rank(metadata->>'deal_stage_at_creation') IS NULL THEN
        RAISE EXCEPTION 'invalid metadata.deal_stage_at_creation "%"', metadata->>'deal_stage_at_creation'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Deal stages that can advance: prospecting, discovery, qualification, evaluation, negotiation, closed_won.';
    END IF;

    INSERT INTO learning.outcome_records AS o
        (tenant_id, conversation_state_id, rep_id, action_type, action_id, predicted_confidence,
         outcome_type, window_expires_at, metadata, cost, created_at)
    VALUES
        (record_outcome.tenant_id, record_outcome.conversation_state_id, record_outcome.rep_id,
         record_outcome.action_type, record_outcome.action_id, record_outcome.predicted_confidence,
         record_outcome.outcome_type,
         record_outcome.created_at + learning.outcome_window(record_outcome.tenant_id, record_outcome.outcome_type),
         record_outcome.metadata, record_outcome.cost, record_outcome.created_at)
    RETURNING o.id INTO new_id;
    RETURN new_id;
END $$;
COMMENT ON FUNCTION learning.record_outcome(text, text, text, float8, text, text, text, jsonb, numeric, timestamptz) IS
    'Records an agent action with its predicted confidence as a pending outcome whose window ends at created_at + window(outcome_type); returns its id';

CREATE OR REPLACE FUNCTION learning.resolve_outcome(
    tenant_id text,
    outcome_id uuid,
    status text,
    outcome_score float8 DEFAULT NULL,
    signal_source text DEFAULT 'manual')
    RETURNS learning.outcome_records LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r learning.outcome_records;
    current_status text;
    -- a parameter, not a literal: a generic plan then cannot pick the partial
    -- pending index (every pending outcome of the tenant) over the primary key
    pending_status text := 'pending';
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('outcome_id', outcome_id IS NULL);
    PERFORM learning.check_required('status', status IS NULL);
    IF status NOT IN ('positive', 'negative', 'ambiguous', 'expired') THEN
        RAISE EXCEPTION 'invalid status "%"', status
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An outcome is resolved as one of: ambiguous, expired, negative, positive.';
    END IF;
    IF signal_source IS NOT NULL THEN
        PERFORM learning.check_text('signal_source', signal_source);
    END IF;
    IF outcome_score IS NOT NULL THEN
        PERFORM learning.check_confidence('outcome_score', outcome_score);
        IF status IN ('ambiguous', 'expired') THEN
            RAISE EXCEPTION 'outcome_score must be NULL for status %, got %', status, outcome_score
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;

    UPDATE learning.outcome_records o
       SET status = resolve_outcome.status,
           outcome_score = resolve_outcome.outcome_score,
           signal_source = coalesce(resolve_outcome.signal_source, 'manual'),
           resolved_at = pg_catalog.now()
     WHERE o.tenant_id = resolve_outcome.tenant_id
       AND o.id = resolve_outcome.outcome_id
       AND o.status = pending_status
    RETURNING o.* INTO r;
    IF FOUND THEN
        RETURN r;
    END IF;

    SELECT o.status INTO current_status
      FROM learning.outcome_records o
     WHERE o.tenant_id = resolve_outcome.tenant_id AND o.id = resolve_outcome.outcome_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outcome % not found', outcome_id
            USING ERRCODE = 'no_data_found', DETAIL = format('Tenant %s has no outcome with this id.', tenant_id);
    END IF;
    RAISE EXCEPTION 'outcome % already resolved with status ''%'', cannot re-resolve', outcome_id, current_status
        USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;
COMMENT ON FUNCTION learning.resolve_outcome(text, uuid, text, float8, text) IS
    'Resolves a pending outcome exactly once (positive, negative, ambiguous, expired); P0002 when unknown, 55000 when already resolved';

CREATE OR REPLACE FUNCTION learning.set_minutes_saved(tenant_id text, action_type text, minutes float8) RETURNS float8
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_action_type(action_type);
    PERFORM learning.check_required('minutes', minutes IS NULL);
    -- a week of work per action is the most one action can save
    PERFORM learning.check_range('minutes', minutes, 0, 10080);
    INSERT INTO learning.action_minutes_saved AS m (tenant_id, action_type, minutes)
    VALUES (set_minutes_saved.tenant_id, set_minutes_saved.action_type, set_minutes_saved.minutes)
    ON CONFLICT ON CONSTRAINT action_minutes_saved_pkey
    DO UPDATE SET minutes = excluded.minutes, updated_at = pg_catalog.now();
    RETURN minutes;
END $$;
COMMENT ON FUNCTION learning.set_minutes_saved(text, text, float8) IS
    'Sets the minutes of human work one action of a type saves (executive ROI; default 5)';

-- TRUNCATE of the outcomes empties the bins too, so they never disagree.
CREATE OR REPLACE FUNCTION learning.outcome_records_truncated() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- fires only on the extension's own tables (EXECUTE is not PUBLIC either)
    IF TG_RELID <> 'learning.outcome_records'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'trigger function "learning.outcome_records_truncated" may fire only on the learning extension''s own tables'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It fired on table "%s.%s".', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    PERFORM learning.flush_pending_deltas();
    TRUNCATE learning.calibration_bins;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION learning.outcome_records_truncated() IS
    'AFTER TRUNCATE trigger: empties learning.calibration_bins with the outcomes';

-- A tenant's days follow its time zone: a change rebuilds its rollups.
-- SECURITY DEFINER: the rollups are written only by the extension (the
-- roles that may change a time zone have no write access to them).
CREATE OR REPLACE FUNCTION learning.tenant_settings_rollups() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- fires only on the extension's own tables (EXECUTE is not PUBLIC either)
    IF TG_RELID <> 'learning.tenant_settings'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'trigger function "learning.tenant_settings_rollups" may fire only on the learning extension''s own tables'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It fired on table "%s.%s".', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    IF TG_OP = 'INSERT' AND NEW.time_zone IS DISTINCT FROM 'UTC'
       OR TG_OP = 'UPDATE' AND NEW.time_zone IS DISTINCT FROM OLD.time_zone THEN
        PERFORM learning.rebuild_rollups(NEW.tenant_id);
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION learning.tenant_settings_rollups() IS
    'AFTER trigger on tenant_settings: rebuilds a tenant''s rollups when its time zone changes';

-- TRUNCATE of the raw tables empties their rollups too.
CREATE OR REPLACE FUNCTION learning.rollups_truncated() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- fires only on the extension's own tables (EXECUTE is not PUBLIC either)
    IF TG_RELID NOT IN ('learning.outcome_records'::pg_catalog.regclass, 'learning.feedback_entries'::pg_catalog.regclass) THEN
        RAISE EXCEPTION 'trigger function "learning.rollups_truncated" may fire only on the learning extension''s own tables'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It fired on table "%s.%s".', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    PERFORM learning.flush_pending_deltas();
    IF TG_TABLE_NAME = 'outcome_records' THEN
        TRUNCATE learning.outcome_rollups;
    ELSE
        TRUNCATE learning.feedback_rollups;
    END IF;
    -- the shared tables keep only what the other raw table still explains
    TRUNCATE learning.daily_totals, learning.conversation_days, learning.conversation_last,
             learning.conversation_coverage;
    PERFORM learning.rebuild_rollups(t.tenant_id)
       FROM (SELECT DISTINCT f.tenant_id FROM learning.feedback_entries f
             UNION SELECT DISTINCT o.tenant_id FROM learning.outcome_records o) t;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION learning.rollups_truncated() IS
    'AFTER TRUNCATE trigger: empties the rollups of the truncated table and rebuilds the shared ones from what remains';

-- SECURITY DEFINER: a job runs as the extension's owner, as when the scheduler
-- runs it (it announces its work through the outbox, which only the extension
-- writes); the caller chooses only which of the five jobs runs now.
CREATE OR REPLACE FUNCTION learning.run_job(job_name text) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT learning.execute_job(job_name, 'run_job')
$$;
COMMENT ON FUNCTION learning.run_job(text) IS
    'Runs one of the five jobs now, in the caller''s transaction, with the same effects and job_runs record as a scheduled run';


-- The counters are derived data, written only by the extension.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON learning.calibration_bins, learning.outcome_rollups,
    learning.daily_totals, learning.conversation_days, learning.conversation_last,
    learning.conversation_coverage, learning.feedback_rollups, learning.job_runs
    FROM learning_app, learning_definer;
-- The outbox too: the jobs prune it, as the extension's owner.
REVOKE DELETE, TRUNCATE ON learning.events FROM learning_app;


-- --- webhooks and private networks ---
-- learning_app no longer writes webhooks, deliveries or SSE channel keys by
-- hand, nor reads webhook secrets; the webhook functions are the extension
-- owner's; create_webhook refuses literal private-network addresses while
-- learning.webhook_allow_private_networks (new, src/learning.c) is off, and
-- the relay refuses them after name resolution (src/http.c, src/netguard.c).

-- STABLE, not IMMUTABLE: it reads learning.webhook_allow_private_networks.
-- The relay checks the address it connects to, after name resolution, at
-- every delivery (src/http.c); this only refuses literal addresses early.
CREATE FUNCTION learning.check_webhook_destination(url text) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_webhook_destination_sql';
COMMENT ON FUNCTION learning.check_webhook_destination(text) IS
    'Returns url, or raises 22023 when its host is a literal loopback, private, link-local, unspecified, multicast or reserved address (any spelling) or localhost, unless learning.webhook_allow_private_networks is on';

-- Same signature: the grants (owner only) stay.
CREATE OR REPLACE FUNCTION learning.create_webhook(url text, events text[] DEFAULT NULL, tenant_id text DEFAULT NULL,
                                        secret text DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    known text[] := ARRAY['outcome_recorded', 'outcome_resolved', 'feedback_recorded',
                          'calibration_adjusted', 'job_completed'];
    bad text;
    new_id bigint;
BEGIN
    PERFORM learning.check_webhook_url(url);
    PERFORM learning.check_webhook_destination(url);
    IF tenant_id IS NOT NULL AND tenant_id <> '*' THEN
        PERFORM learning.check_tenant_id(tenant_id);
    END IF;
    IF events IS NOT NULL THEN
        IF pg_catalog.cardinality(events) = 0 THEN
            RAISE EXCEPTION 'events must not be empty' USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Pass NULL to subscribe to every event type.';
        END IF;
        SELECT e INTO bad FROM pg_catalog.unnest(events) e WHERE e IS NULL OR NOT e = ANY (known) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'invalid event type ''%''', coalesce(bad, 'NULL') USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Event types: ' || pg_catalog.array_to_string(known, ', ') || '.';
        END IF;
    END IF;
    IF secret IS NOT NULL AND pg_catalog.length(secret) NOT BETWEEN 16 AND 256 THEN
        RAISE EXCEPTION 'webhook secret must be 16 to 256 characters, got %', pg_catalog.length(secret)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL to have one generated.';
    END IF;
    INSERT INTO learning.webhooks (tenant_id, url, event_types, secret)
    VALUES (coalesce(create_webhook.tenant_id, '*'), create_webhook.url,
            (SELECT pg_catalog.array_agg(DISTINCT e ORDER BY e) FROM pg_catalog.unnest(events) e),
            coalesce(create_webhook.secret, 'whsec_' || learning.random_key()))
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;
COMMENT ON FUNCTION learning.create_webhook(text, text[], text, text) IS
    'Subscribes an http(s) URL (not a private network address unless learning.webhook_allow_private_networks is on) to event types (NULL: all) of one tenant (NULL or ''*'': all tenants, stored as ''*''); a NULL secret is generated (read it from learning.webhooks); returns the webhook id';

-- A column added at the end: CREATE OR REPLACE keeps the view's grants.
CREATE OR REPLACE VIEW learning.webhook_status AS
SELECT w.tenant_id, w.id AS webhook_id, w.url, w.event_types, w.enabled,
       (SELECT count(*) FROM learning.relay_queue q WHERE q.webhook_id = w.id AND q.state <> 'dead') AS pending,
       (SELECT count(*) FROM learning.relay_queue q WHERE q.webhook_id = w.id AND q.state = 'dead') AS dead,
       d.delivered_24h, d.failed_24h, d.last_attempt_at, d.last_error,
       -- a hint that tells secrets apart; none for a short one written by hand
       CASE WHEN pg_catalog.length(w.secret) >= 16 THEN '...' || pg_catalog.right(w.secret, 4) END AS secret_hint
  FROM learning.webhooks w
  LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE l.status = 'delivered') AS delivered_24h,
               count(*) FILTER (WHERE l.status <> 'delivered') AS failed_24h,
               max(l.attempted_at) AS last_attempt_at,
               (array_agg(l.error ORDER BY l.attempted_at DESC) FILTER (WHERE l.error IS NOT NULL))[1] AS last_error
          FROM learning.webhook_deliveries l
         WHERE l.webhook_id = w.id AND l.attempted_at > pg_catalog.now() - interval '1 day') d ON true;
COMMENT ON VIEW learning.webhook_status IS
    'Per webhook: unfinished and dead deliveries, delivered and failed attempts of the last 24 hours, last error, the last four characters of the secret (secrets of 16 characters or more)';

REVOKE ALL ON FUNCTION learning.set_webhook_enabled(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.drop_webhook(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.retry_dead_deliveries(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.check_webhook_destination(text) FROM PUBLIC;

-- Webhook subscriptions, deliveries and SSE channel keys are written only
-- through their functions (the extension owner's) and by the relay: a row
-- written by hand could point the relay, a superuser, anywhere, or reroute
-- every tenant's events.  learning_app reads them, except the webhook
-- secrets (learning.webhook_status shows their last four characters).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE
    ON learning.webhooks, learning.relay_queue, learning.webhook_deliveries, learning.sse_channels,
       learning.webhook_status
    FROM learning_app;
REVOKE SELECT ON learning.webhooks FROM learning_app;
GRANT SELECT (tenant_id, id, url, event_types, enabled, created_at) ON learning.webhooks TO learning_app;
REVOKE USAGE ON SEQUENCE learning.webhooks_id_seq, learning.webhook_deliveries_id_seq FROM learning_app;
-- Nor do the API functions read the webhook status (URLs of every tenant).
REVOKE SELECT ON learning.webhook_status FROM learning_definer;

-- Webhooks 0.1.0 accepted that the relay now refuses (while the setting is
-- off): say so at the upgrade, rather than only in the delivery log later.
-- Only literal addresses can be told here; names are checked at delivery.
DO $private$
DECLARE
    w record;
BEGIN
    FOR w IN SELECT h.id, h.url FROM learning.webhooks h ORDER BY h.id LOOP
        BEGIN
            PERFORM learning.check_webhook_destination(w.url);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE WARNING 'webhook % with url "%" points to a private network: its deliveries will be dead while learning.webhook_allow_private_networks is off',
                w.id, w.url
                USING HINT = 'A superuser may turn it on: ALTER SYSTEM SET learning.webhook_allow_private_networks = on; SELECT pg_reload_conf();';
        END;
    END LOOP;
END $private$;


-- --- SQL rules bound at creation, table checks, time zones with a region ---
-- The small SQL rules get SQL-standard bodies (bound when created, never
-- resolved on a caller's search_path, still inlined).  The tables get the
-- checks the functions make, so that rows written without the functions
-- (learning_app may write them) never stop a job.  A tenant's time zone must
-- have a region: a bare name such as EST can be read as an abbreviation.
-- The built-in outcome types and their windows (SPEC section 2).
-- A SQL-standard body: its operators are bound when it is created, never
-- looked up on a caller's search_path, and it is still inlined.
CREATE OR REPLACE FUNCTION learning.builtin_outcome_window(outcome_type text) RETURNS interval
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE outcome_type
    WHEN 'email_engagement'  THEN interval '24 hours'
    WHEN 'meeting_outcome'   THEN interval '168 hours'
    WHEN 'escalation_result' THEN interval '168 hours'
    WHEN 'deal_progression'  THEN interval '720 hours'
END;
COMMENT ON FUNCTION learning.builtin_outcome_window(text) IS
    'Window of a built-in outcome type (email_engagement 24 h, meeting_outcome 168 h, escalation_result 168 h, deal_progression 720 h); NULL for others';

-- The job that applies each signal type.
-- The small rules below have SQL-standard bodies: their operators are bound
-- when they are created, never looked up on a caller's search_path, and
-- they are still inlined into the jobs' statements.
CREATE OR REPLACE FUNCTION learning.signal_job(signal_type text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN signal_type IN ('email_replied', 'email_bounced', 'email_unsubscribed') THEN 'immediate_signals'
    WHEN signal_type IN ('meeting_booked', 'meeting_held', 'meeting_declined', 'meeting_no_show',
                         'escalation_resolved', 'escalation_failed') THEN 'engagement_signals'
    WHEN signal_type = 'deal_stage_changed' THEN 'deal_progression'
END;
COMMENT ON FUNCTION learning.signal_job(text) IS
    'The job that applies a signal type (immediate_signals, engagement_signals or deal_progression); NULL for an unknown type';

-- The outcome type a signal type resolves.
CREATE OR REPLACE FUNCTION learning.signal_outcome_type(signal_type text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN signal_type IN ('email_replied', 'email_bounced', 'email_unsubscribed') THEN 'email_engagement'
    WHEN signal_type IN ('meeting_booked', 'meeting_held', 'meeting_declined', 'meeting_no_show') THEN 'meeting_outcome'
    WHEN signal_type IN ('escalation_resolved', 'escalation_failed') THEN 'escalation_result'
    WHEN signal_type = 'deal_stage_changed' THEN 'deal_progression'
END;
COMMENT ON FUNCTION learning.signal_outcome_type(text) IS
    'The outcome type a signal type resolves; NULL for an unknown type';

-- Position of a deal stage on the way to closed_won (closed_lost and stalled are failures).
CREATE OR REPLACE FUNCTION learning.deal_stage_rank(stage text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE stage
    WHEN 'prospecting' THEN 0 WHEN 'discovery' THEN 1 WHEN 'qualification' THEN 2
    WHEN 'evaluation' THEN 3 WHEN 'negotiation' THEN 4 WHEN 'closed_won' THEN 5
END;
COMMENT ON FUNCTION learning.deal_stage_rank(text) IS
    'Rank of a deal stage: prospecting 0 < discovery < qualification < evaluation < negotiation < closed_won 5; NULL otherwise';

-- What a signal makes of a pending outcome of its outcome type: (status, score),
-- or no row when it does not resolve it (a deal stage that did not advance).
CREATE OR REPLACE FUNCTION learning.signal_rule(signal_type text, detail jsonb, outcome_metadata jsonb,
                                     OUT status text, OUT outcome_score float8)
    RETURNS SETOF record LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT r.status, r.outcome_score FROM (
        SELECT CASE
                 WHEN signal_type IN ('email_replied', 'meeting_booked', 'meeting_held', 'escalation_resolved')
                     THEN 'positive'
                 WHEN signal_type IN ('email_bounced', 'email_unsubscribed', 'meeting_declined',
                                      'meeting_no_show', 'escalation_failed')
                     THEN 'negative'
                 WHEN signal_type = 'deal_stage_changed' AND detail->>'stage' IN ('closed_lost', 'stalled')
                     THEN 'negative'
                 WHEN signal_type = 'deal_stage_changed'
                      AND learning.deal_stage_rank(detail->>'stage')
                          > learning.deal_stage_rank(coalesce(outcome_metadata->>'deal_stage_at_creation', 'prospecting'))
                     THEN 'positive'
               END AS status,
               CASE
                 WHEN signal_type = 'deal_stage_changed' AND detail->>'stage' IN ('closed_lost', 'stalled') THEN 0.0
                 WHEN signal_type = 'deal_stage_changed'
                     THEN least(0.2::numeric * (learning.deal_stage_rank(detail->>'stage')
                          - learning.deal_stage_rank(coalesce(outcome_metadata->>'deal_stage_at_creation', 'prospecting')))::numeric,
                          1.0::numeric)
                 WHEN signal_type IN ('email_replied', 'meeting_booked', 'meeting_held', 'escalation_resolved') THEN 1.0
                 ELSE 0.0
               END::float8 AS outcome_score
    ) r WHERE r.status IS NOT NULL;
END;
COMMENT ON FUNCTION learning.signal_rule(text, jsonb, jsonb) IS
    'The status and score a signal gives a pending outcome of its type (SPEC signal table); no row when it leaves the outcome pending';

-- The tenant's time zone (UTC unless set).
CREATE OR REPLACE FUNCTION learning.tenant_time_zone(tenant_id text) RETURNS text
    LANGUAGE sql STABLE
RETURN coalesce((SELECT s.time_zone FROM learning.tenant_settings s WHERE s.tenant_id = $1), 'UTC');
COMMENT ON FUNCTION learning.tenant_time_zone(text) IS 'The time zone of a tenant''s calendar days (UTC unless set)';

-- The signal types a signal job applies.
CREATE OR REPLACE FUNCTION learning.job_signal_types(job_name text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE job_name
    WHEN 'immediate_signals' THEN ARRAY['email_replied', 'email_bounced', 'email_unsubscribed']
    WHEN 'engagement_signals' THEN ARRAY['meeting_booked', 'meeting_held', 'meeting_declined', 'meeting_no_show',
                                         'escalation_resolved', 'escalation_failed']
    WHEN 'deal_progression' THEN ARRAY['deal_stage_changed']
END;
COMMENT ON FUNCTION learning.job_signal_types(text) IS 'The signal types a signal job applies';

-- check_json_object raises 22023 unless value is a JSON object.
CREATE OR REPLACE FUNCTION learning.check_json_object(field text, value jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL OR pg_catalog.jsonb_typeof(value) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object, got %', field, coalesce(pg_catalog.jsonb_typeof(value), 'null')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ''{}'' for no ' || field || '.';
    END IF;
    -- a bound, so that what the jobs add to it (deal stages) always fits
    IF pg_catalog.pg_column_size(value) > 65536 THEN
        RAISE EXCEPTION '% must be at most 65536 bytes, got %', field, pg_catalog.pg_column_size(value)
            USING ERRCODE = 'string_data_right_truncation';
    END IF;
    RETURN value;
END $$;
COMMENT ON FUNCTION learning.check_json_object(text, jsonb) IS
    'Returns value, or raises 22023 unless it is a JSON object, 22001 when over 65536 bytes';

CREATE FUNCTION learning.is_time_zone_name(time_zone text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_is_time_zone_name';
COMMENT ON FUNCTION learning.is_time_zone_name(text) IS
    'True for UTC and for region names PostgreSQL knows (America/New_York): never a name that could be read as an abbreviation';

CREATE OR REPLACE FUNCTION learning.set_tenant_time_zone(tenant_id text, time_zone text) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    canonical text;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('time_zone', time_zone IS NULL);
    -- names are matched without regard to case, as PostgreSQL does, and stored as pg_timezone_names spells them
    SELECT z.name INTO canonical FROM pg_catalog.pg_timezone_names z
     WHERE pg_catalog.lower(z.name) = pg_catalog.lower(set_tenant_time_zone.time_zone)
     ORDER BY z.name = set_tenant_time_zone.time_zone DESC LIMIT 1;
    IF canonical IS NULL THEN
        RAISE EXCEPTION 'unknown time_zone "%"', time_zone
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, such as Europe/Berlin.';
    END IF;
    IF NOT learning.is_time_zone_name(canonical) THEN
        RAISE EXCEPTION 'time_zone "%" has no region', time_zone
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A name without a region can be read as a time zone abbreviation, whose meaning depends on the session.',
                  HINT = 'Use UTC or a region name, such as America/New_York or Etc/GMT+5.';
    END IF;
    time_zone := canonical;
    INSERT INTO learning.tenant_settings AS s (tenant_id, time_zone)
    VALUES (set_tenant_time_zone.tenant_id, set_tenant_time_zone.time_zone)
    ON CONFLICT ON CONSTRAINT tenant_settings_pkey
    DO UPDATE SET time_zone = excluded.time_zone, updated_at = pg_catalog.now();
    RETURN time_zone;
END $$;
COMMENT ON FUNCTION learning.set_tenant_time_zone(text, text) IS
    'Sets the time zone of a tenant''s calendar days (a name from pg_timezone_names); 22023 for an unknown zone';


-- Rows of 0.1.0 that break the new checks are kept: the checks are then left
-- NOT VALID (new rows are checked) and a warning names the table.
ALTER TABLE learning.tenant_settings
    ADD CONSTRAINT tenant_settings_time_zone_check CHECK (learning.is_time_zone_name(time_zone)) NOT VALID;
ALTER TABLE learning.outcome_records
    ADD CONSTRAINT outcome_records_created_at_range CHECK (learning.check_finite_time('created_at', created_at) IS NOT NULL) NOT VALID,
    ADD CONSTRAINT outcome_records_metadata_size CHECK (learning.check_json_object('metadata', metadata) IS NOT NULL) NOT VALID;
ALTER TABLE learning.signals
    ADD CONSTRAINT signals_occurred_at_range CHECK (learning.check_finite_time('occurred_at', occurred_at) IS NOT NULL) NOT VALID,
    ADD CONSTRAINT signals_detail_size CHECK (learning.check_json_object('detail', detail) IS NOT NULL) NOT VALID;
ALTER TABLE learning.feedback_entries
    ADD CONSTRAINT feedback_entries_created_at_range CHECK (learning.check_finite_time('created_at', created_at) IS NOT NULL) NOT VALID,
    ADD CONSTRAINT feedback_entries_metadata_size CHECK (learning.check_json_object('metadata', metadata) IS NOT NULL) NOT VALID;
DO $validate$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT con.conrelid::pg_catalog.regclass AS rel, con.conname
               FROM pg_catalog.pg_constraint con
              WHERE con.connamespace = 'learning'::pg_catalog.regnamespace AND NOT con.convalidated
              ORDER BY 1, 2 LOOP
        BEGIN
            EXECUTE pg_catalog.format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.rel, c.conname);
        EXCEPTION WHEN check_violation OR datetime_field_overflow OR string_data_right_truncation
                       OR invalid_parameter_value THEN
            RAISE WARNING 'rows of % break the new check %: it stays NOT VALID (new rows are checked)', c.rel, c.conname
                USING HINT = pg_catalog.format('Fix the rows, then ALTER TABLE %s VALIDATE CONSTRAINT %I.', c.rel, c.conname);
        END;
    END LOOP;
END $validate$;

-- The API functions read neither the job status (job history) nor the
-- webhook status: views that read with their owner's rights.
REVOKE SELECT ON learning.job_status FROM learning_definer;

-- ======================================================================
-- Coaching and calibration: false-discovery control and exact tests.
-- ======================================================================



-- ======================================================================
-- Pictures: reliability diagram and the manager's page.
-- ======================================================================



-- ======================================================================
-- Workers: a bounded pool serving every database; a fair relay.
-- ======================================================================



-- ======================================================================
-- Events, locks and jobs at scale; the write path.
-- ======================================================================

-- One event per transaction, tenant and event type (src/events.c): the
-- statement triggers that closed each statement's events are gone.
DROP TRIGGER outcome_records_rollup_flush ON learning.outcome_records;
DROP TRIGGER feedback_entries_rollup_flush ON learning.feedback_entries;
DROP FUNCTION learning.rollup_flush();
COMMENT ON FUNCTION learning.emit_event(text, text, jsonb) IS
    'Internal: adds an item to the transaction''s event of that tenant and type (written and announced at commit, dropped on rollback); returns how many rows that event counts so far';

-- PostgreSQL's notification queue, shared by every database of the cluster.
-- Past learning.notify_queue_limit (half full), commits skip their notifications (the outbox keeps the
-- events) rather than fail when a listener stops reading.
CREATE VIEW learning.notification_queue AS
SELECT pg_catalog.pg_notification_queue_usage() AS usage,
       pg_catalog.current_setting('learning.notify_queue_limit')::float8 AS skip_above,
       pg_catalog.pg_notification_queue_usage()
           > pg_catalog.current_setting('learning.notify_queue_limit')::float8 AS notifications_skipped;
COMMENT ON VIEW learning.notification_queue IS
    'Share of PostgreSQL''s notification queue in use; above learning.notify_queue_limit (0.5) commits skip their NOTIFY (events stay in learning.events for events_since)';
GRANT SELECT ON learning.notification_queue TO learning_definer;
GRANT SELECT, INSERT, UPDATE, DELETE ON learning.notification_queue TO learning_app;



-- ======================================================================
-- Housekeeping.
-- ======================================================================

-- ======================================================================
-- Privileges, last: they cover every function created above.
-- ======================================================================

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
        'signal_outcome_type', 'deal_stage_rank', 'signal_rule', 'random_key', 'is_time_zone_name'];
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

NOTIFY pgrst, 'reload schema';

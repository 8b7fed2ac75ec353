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

-- check_finite_time raises 22008 unless value is a finite timestamp in the
-- years 1 to 9999 (C: the tables' checks call it for every row).
CREATE OR REPLACE FUNCTION learning.check_finite_time(field text, value timestamptz) RETURNS timestamptz
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_finite_time_sql';
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
            RAISE EXCEPTION 'invalid event type "%"', coalesce(bad, 'NULL') USING ERRCODE = 'invalid_parameter_value',
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
-- The built-in outcome types and their windows.
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
    'The status and score a signal gives a pending outcome of its type (the rules of the signal table in the README); no row when it leaves the outcome pending';

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

-- check_json_object raises 22023 unless value is a JSON object, 22001 when
-- it is over 65536 bytes (C: the tables' checks call it for every row).
CREATE OR REPLACE FUNCTION learning.check_json_object(field text, value jsonb) RETURNS jsonb
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_json_object_sql';
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


-- The new checks start NOT VALID; they are validated at the end of this script.
ALTER TABLE learning.tenant_settings
    ADD CONSTRAINT tenant_settings_time_zone_check CHECK (learning.is_time_zone_name(time_zone)) NOT VALID;
ALTER TABLE learning.signals
    ADD CONSTRAINT signals_occurred_at_range CHECK (learning.check_finite_time('occurred_at', occurred_at) IS NOT NULL) NOT VALID,
    ADD CONSTRAINT signals_detail_size CHECK (learning.check_json_object('detail', detail) IS NOT NULL) NOT VALID;
ALTER TABLE learning.feedback_entries
    ADD CONSTRAINT feedback_entries_created_at_range CHECK (learning.check_finite_time('created_at', created_at) IS NOT NULL) NOT VALID,
    ADD CONSTRAINT feedback_entries_metadata_size CHECK (learning.check_json_object('metadata', metadata) IS NOT NULL) NOT VALID;

-- The API functions read neither the job status (job history) nor the
-- webhook status: views that read with their owner's rights.
REVOKE SELECT ON learning.job_status FROM learning_definer;

-- ======================================================================
-- Coaching and calibration: false-discovery control and exact tests.
-- ======================================================================

-- coaching_patterns and improvement_areas take alpha, the false discovery
-- rate (Benjamini-Hochberg); their p-values come from exact tests.  The
-- endpoint learning_api.coaching_patterns depends on the old signature, so
-- it goes first and comes back with alpha, its grants and its owner.
DROP FUNCTION learning_api.coaching_patterns(integer);
DROP FUNCTION learning.coaching_patterns(text, integer);
DROP FUNCTION learning.improvement_areas(text, integer);

CREATE FUNCTION learning.coaching_patterns(tenant_id text, days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_coaching_patterns';
COMMENT ON FUNCTION learning.coaching_patterns(text, integer, float8) IS
    'Coaching patterns of the last days (action_effectiveness, stage_insight, escalation_pattern), each with the p-value of Fisher''s exact test against the rest and its Benjamini-Hochberg q-value; only q_value <= alpha (alpha 1: every candidate), by confidence descending';

CREATE FUNCTION learning.improvement_areas(tenant_id text, days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_improvement_areas';
COMMENT ON FUNCTION learning.improvement_areas(text, integer, float8) IS
    'Action types with a success rate below 0.4 (exact binomial test) and feedback target types averaging below 0 (exact sign test), at least 5 samples each, over the last days; only Benjamini-Hochberg q_value <= alpha (alpha 1: every candidate)';

CREATE FUNCTION learning_api.coaching_patterns(days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.coaching_patterns((learning.api_context(ARRAY['manager', 'executive'])).tenant_id, days, alpha);
COMMENT ON FUNCTION learning_api.coaching_patterns(integer, float8) IS
$$Coaching patterns (manager, executive)
GET /rpc/coaching_patterns?days=90[&alpha=0.05] -> [{pattern_type, description, recommendation, confidence, sample_size, p_value, q_value, supporting_data}] by confidence, highest first; only patterns with Benjamini-Hochberg q_value <= alpha (alpha=1: every candidate). 403 for other roles; days 1-365 and alpha in (0, 1], else 400.$$;
REVOKE ALL ON FUNCTION learning_api.coaching_patterns(integer, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning_api.coaching_patterns(integer, float8) TO learning_manager, learning_executive;
ALTER FUNCTION learning_api.coaching_patterns(integer, float8) OWNER TO learning_definer;

-- The calibration functions keep their signatures: the new library brings
-- the new calibrated_probability and calibration_curve (Murphy's reliability
-- and reliability_with_spread); their comments say what changed.
COMMENT ON FUNCTION learning.calibrated_probability(text, text, float8) IS
    'Estimated chance of a positive outcome at raw confidence, from the bins in O(bins): the least-squares line shrunk toward raw by how far it stands out of noise, plus the bins'' residuals shrunk by empirical Bayes, made monotone by pool-adjacent-violators; beyond the outermost bin means it follows the line''s slope; raw when there is no data';
COMMENT ON FUNCTION learning.calibration_curve(text, text, integer) IS
    'Reliability curve of an action type from its ten bins: Brier score and decomposition (Murphy''s reliability, never negative, and reliability_with_spread, for which brier = it - resolution + uncertainty), ECE, MCE, Wilson 95 % intervals, is_calibrated';
COMMENT ON FUNCTION learning_api.calibration_curve(text, integer) IS
$$Calibration curve of an action type (all roles)
GET /rpc/calibration_curve?action_type=send_email[&min_samples=10] -> {action_type, sample_count, brier_score, reliability, reliability_with_spread, resolution, uncertainty, ece, mce, is_calibrated, bins[10], midpoints, actual_rates, counts}.$$;



-- ======================================================================
-- Pictures: reliability diagram and the manager's page.
-- ======================================================================

-- Same definitions as sql/parts/95_pictures.sql.


-- Escaping --------------------------------------------------------------------

CREATE FUNCTION learning.xml_escape(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    -- the five XML specials, and the control characters XML 1.0 forbids (dropped)
    RETURN replace(replace(replace(replace(replace(
               regexp_replace(s, E'[\\x01-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]', '', 'g'),
               '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION learning.xml_escape(text) IS
    'Text made safe inside XML or HTML text and quoted attribute values: & < > " '' as entities, control characters dropped';

-- svg_num: a coordinate or a figure with a fixed number of decimals.
CREATE FUNCTION learning.svg_num(v float8, decimals integer DEFAULT 1) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN v IS NULL OR v = 'NaN'::float8 THEN 'n/a' ELSE round(v::numeric, decimals)::text END;
COMMENT ON FUNCTION learning.svg_num(float8, integer) IS
    'A number rounded for a picture (n/a for NULL or NaN)';

-- svg_pvalue: a p- or q-value, three decimals, or two significant digits below 0.001.
CREATE FUNCTION learning.svg_pvalue(v float8) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN v IS NULL OR v = 'NaN'::float8 THEN NULL
                WHEN v < 0.001 THEN btrim(to_char(v, '9.9EEEE'))
                ELSE round(v::numeric, 3)::text END;
COMMENT ON FUNCTION learning.svg_pvalue(float8) IS
    'A p- or q-value for a picture: three decimals, or two significant digits in exponent form below 0.001';

-- A time window over the outcome rows --------------------------------------------

-- calibration_curve_window: what calibration_curve reports, for the outcomes
-- resolved in the tenant's last `days` calendar days, computed from the
-- outcome rows with the bins' rules: bin = min(floor(10 p), 9); positive
-- counts its score (1 by default), negative and expired 0, ambiguous and
-- pending not at all; Wilson 95 % intervals; ECE over bins with min_samples.
CREATE FUNCTION learning.calibration_curve_window(tenant_id text, action_type text, days integer,
                                                  min_samples integer DEFAULT 10)
    RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tz text;
    since timestamptz;
    result jsonb;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_action_type(action_type);
    PERFORM learning.check_required('days', days IS NULL);
    PERFORM learning.check_days(days);
    PERFORM learning.check_required('min_samples', min_samples IS NULL);
    IF min_samples < 1 THEN
        RAISE EXCEPTION 'min_samples must be at least 1, got %', min_samples USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    tz := learning.tenant_time_zone(tenant_id);
    -- the first instant of the tenant's calendar day days - 1 days ago
    since := ((pg_catalog.now() AT TIME ZONE tz)::date - (days - 1)) AT TIME ZONE tz;

    WITH counted AS (
        SELECT least(floor(o.predicted_confidence * 10), 9)::int AS bin, o.predicted_confidence AS p,
               CASE WHEN o.status = 'positive' THEN coalesce(o.outcome_score, 1.0) ELSE 0.0 END AS v
          FROM learning.outcome_records o
         WHERE o.tenant_id = calibration_curve_window.tenant_id
           AND o.action_type = calibration_curve_window.action_type
           AND o.status IN ('positive', 'negative', 'expired')
           AND o.predicted_confidence IS NOT NULL
           -- a row inserted already resolved may have no resolved_at: it counts from its creation
           AND coalesce(o.resolved_at, o.created_at) >= since),
    bins AS (
        SELECT b.i AS bin, count(c.p) AS n, avg(c.p) AS mean_p, avg(c.v) AS rate,
               sum((c.p - c.v) ^ 2) AS sq
          FROM generate_series(0, 9) b(i) LEFT JOIN counted c ON c.bin = b.i
         GROUP BY b.i),
    wilson AS (
        SELECT b.*, 1.959963984540054::float8 AS z FROM bins b),   -- 95 %, as calibration_curve
    ci AS (
        SELECT w.*,
               CASE WHEN n > 0 THEN greatest((rate + z * z / (2 * n)) / (1 + z * z / n)
                    - z * sqrt(greatest(rate * (1 - rate), 0) / n + z * z / (4.0 * n * n)) / (1 + z * z / n), 0) END AS lo,
               CASE WHEN n > 0 THEN least((rate + z * z / (2 * n)) / (1 + z * z / n)
                    + z * sqrt(greatest(rate * (1 - rate), 0) / n + z * z / (4.0 * n * n)) / (1 + z * z / n), 1) END AS hi
          FROM wilson w),
    totals AS (
        SELECT sum(n) AS n, sum(sq) AS sq,
               sum(n * abs(mean_p - rate)) FILTER (WHERE n >= min_samples) AS ece_sum,
               sum(n) FILTER (WHERE n >= min_samples) AS nq,
               max(abs(mean_p - rate)) FILTER (WHERE n >= min_samples) AS mce
          FROM bins)
    SELECT jsonb_build_object(
               'action_type', action_type,
               'sample_count', t.n,
               'brier_score', CASE WHEN t.n > 0 THEN t.sq / t.n END,
               'ece', CASE WHEN t.nq > 0 THEN t.ece_sum / t.nq END,
               'mce', t.mce,
               'is_calibrated', coalesce(t.nq > 0 AND t.ece_sum / t.nq <= 0.15, false),   -- calibration_curve's threshold
               'min_samples', min_samples,
               'days', days,
               'since', since,
               'bins', (SELECT jsonb_agg(jsonb_build_object(
                                   'bin_index', c.bin, 'lower', c.bin / 10.0, 'upper', (c.bin + 1) / 10.0,
                                   'count', c.n, 'mean_predicted', c.mean_p, 'actual_rate', c.rate,
                                   'ci_low', c.lo, 'ci_high', c.hi) ORDER BY c.bin)
                          FROM ci c))
      INTO result
      FROM totals t;
    RETURN result;
END $$;
COMMENT ON FUNCTION learning.calibration_curve_window(text, text, integer, integer) IS
    'calibration_curve''s bins, Brier score, ECE and MCE for the outcomes resolved in the tenant''s last days calendar days, from the outcome rows';

-- The reliability diagram -------------------------------------------------------

-- svg_reliability draws a calibration_curve-shaped document as an <svg>
-- element (no XML declaration, so that it can also sit inside HTML).
CREATE FUNCTION learning.svg_reliability(curve jsonb, tenant_id text, period text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- plot square: x from l to l + s (mean prediction), y from t + s to t (actual rate)
    l constant float8 := 70; t constant float8 := 50; s constant float8 := 360;
    -- count histogram below it: bars grow up from hb, at most hh high
    hb constant float8 := 535; hh constant float8 := 60;
    min_n integer := coalesce((curve ->> 'min_samples')::int, 10);
    max_n float8;
    b jsonb;
    n float8; mp float8; r float8; lo float8; hi float8;
    x float8; y float8;
    pts text[] := '{}';
    out text;
    i integer;
    at text := curve ->> 'action_type';
BEGIN
    SELECT max((e ->> 'count')::float8) INTO max_n FROM jsonb_array_elements(curve -> 'bins') e;
    out := format('<svg xmlns="http://www.w3.org/2000/svg" class="reliability-diagram" viewBox="0 0 700 560" '
                  'width="700" height="560" role="img" data-action-type="%s" data-tenant-id="%s" '
                  'data-sample-count="%s" data-brier="%s" data-ece="%s">',
                  learning.xml_escape(at), learning.xml_escape(tenant_id),
                  coalesce(curve ->> 'sample_count', '0'),
                  coalesce(curve ->> 'brier_score', ''), coalesce(curve ->> 'ece', ''));
    out := out || format('<title>Reliability diagram of %s for tenant %s</title>',
                         learning.xml_escape(at), learning.xml_escape(tenant_id));
    out := out || '<style>text{font-family:sans-serif;font-size:12px;fill:#222}'
                  '.ax{stroke:#444;stroke-width:1}.grid{stroke:#ddd;stroke-width:1}'
                  '.diag{stroke:#888;stroke-width:1.5;stroke-dasharray:6 4}'
                  '.curve{fill:none;stroke:#1f6fb2;stroke-width:2}.ci{stroke:#1f6fb2;stroke-width:1.5}'
                  '.bin{fill:#1f6fb2;stroke:#1f6fb2;stroke-width:1.5}.bin.thin{fill:#fff}'
                  '.bar{fill:#9cc3e4}.title{font-size:15px;font-weight:bold}.small{font-size:11px;fill:#555}</style>';
    out := out || format('<text class="title" x="%s" y="28">Reliability: %s</text>', l, learning.xml_escape(at));
    out := out || '<rect x="0" y="0" width="680" height="560" fill="none"/>';

    -- grid, axes, ticks
    FOR i IN 0..5 LOOP
        x := l + s * i / 5.0; y := t + s - s * i / 5.0;
        out := out || format('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>', x, t, x, t + s)
                   || format('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, y, l + s, y)
                   || format('<text x="%s" y="%s" text-anchor="middle">%s</text>', x, t + s + 16, round(i / 5.0, 1))
                   || format('<text x="%s" y="%s" text-anchor="end">%s</text>', l - 6, y + 4, round(i / 5.0, 1));
    END LOOP;
    out := out || format('<rect class="ax" x="%s" y="%s" width="%s" height="%s" fill="none"/>', l, t, s, s)
               || format('<text x="%s" y="%s" text-anchor="middle">mean predicted confidence</text>', l + s / 2, t + s + 34)
               || format('<text x="%s" y="%s" text-anchor="middle" transform="rotate(-90 %s %s)">actual positive rate</text>',
                         l - 44, t + s / 2, l - 44, t + s / 2)
               -- perfect calibration
               || format('<line class="diag" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, t + s, l + s, t);

    -- Wilson intervals and points, bin by bin
    FOR b IN SELECT e FROM jsonb_array_elements(curve -> 'bins') e ORDER BY (e ->> 'bin_index')::int LOOP
        n := (b ->> 'count')::float8;
        CONTINUE WHEN n IS NULL OR n <= 0;
        mp := (b ->> 'mean_predicted')::float8; r := (b ->> 'actual_rate')::float8;
        lo := (b ->> 'ci_low')::float8; hi := (b ->> 'ci_high')::float8;
        x := round((l + s * mp)::numeric, 1); y := round((t + s - s * r)::numeric, 1);
        pts := pts || format('%s,%s', x, y);
        out := out || format('<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s"/>', x, learning.svg_num(t + s - s * lo), x, learning.svg_num(t + s - s * hi))
                   || format('<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s"/>', x - 4, learning.svg_num(t + s - s * lo), x + 4, learning.svg_num(t + s - s * lo))
                   || format('<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s"/>', x - 4, learning.svg_num(t + s - s * hi), x + 4, learning.svg_num(t + s - s * hi));
    END LOOP;
    IF cardinality(pts) > 1 THEN
        out := out || format('<polyline class="curve" points="%s"/>', array_to_string(pts, ' '));
    END IF;
    FOR b IN SELECT e FROM jsonb_array_elements(curve -> 'bins') e ORDER BY (e ->> 'bin_index')::int LOOP
        n := (b ->> 'count')::float8;
        CONTINUE WHEN n IS NULL OR n <= 0;
        mp := (b ->> 'mean_predicted')::float8; r := (b ->> 'actual_rate')::float8;
        out := out || format('<circle class="bin%s" cx="%s" cy="%s" r="5" data-bin="%s" data-count="%s" '
                             'data-mean-predicted="%s" data-actual-rate="%s" data-ci-low="%s" data-ci-high="%s">'
                             '<title>bin %s: %s outcomes, mean prediction %s, actual rate %s (95 %% interval %s to %s)</title></circle>',
                             CASE WHEN n < min_n THEN ' thin' ELSE '' END,
                             learning.svg_num(l + s * mp), learning.svg_num(t + s - s * r),
                             b ->> 'bin_index', n, b ->> 'mean_predicted', b ->> 'actual_rate', b ->> 'ci_low', b ->> 'ci_high',
                             b ->> 'bin_index', n, learning.svg_num(mp, 3), learning.svg_num(r, 3),
                             learning.svg_num((b ->> 'ci_low')::float8, 3), learning.svg_num((b ->> 'ci_high')::float8, 3));
    END LOOP;

    -- count histogram: one bar per bin, on the same x scale
    out := out || format('<line class="ax" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, hb, l + s, hb)
               || format('<text class="small" x="%s" y="%s" text-anchor="end">outcomes</text>', l - 6, hb - hh / 2);
    FOR b IN SELECT e FROM jsonb_array_elements(curve -> 'bins') e ORDER BY (e ->> 'bin_index')::int LOOP
        n := coalesce((b ->> 'count')::float8, 0);
        i := (b ->> 'bin_index')::int;
        y := CASE WHEN max_n > 0 THEN hh * n / max_n ELSE 0 END;
        out := out || format('<rect class="bar" x="%s" y="%s" width="%s" height="%s" data-bin="%s" data-count="%s"/>',
                             learning.svg_num(l + s * i / 10.0 + 2), learning.svg_num(hb - y), s / 10.0 - 4,
                             learning.svg_num(y), i, n)
                   || format('<text class="small" x="%s" y="%s" text-anchor="middle">%s</text>',
                             learning.svg_num(l + s * (i + 0.5) / 10.0), learning.svg_num(hb - y - 3), n);
    END LOOP;

    -- legend
    out := out || format('<g class="legend" transform="translate(455 %s)">', t + 10)
               || format('<text y="0">tenant %s</text>', learning.xml_escape(tenant_id))
               || format('<text y="18">%s</text>', learning.xml_escape(period))
               || format('<text y="36" class="n">n = %s outcomes</text>', coalesce(curve ->> 'sample_count', '0'))
               || format('<text y="60" class="brier">Brier %s</text>', learning.svg_num((curve ->> 'brier_score')::float8, 4))
               || format('<text y="78" class="ece">ECE %s</text>', learning.svg_num((curve ->> 'ece')::float8, 4))
               || format('<text y="96" class="small">ECE over bins with at least %s outcomes</text>', min_n)
               || '<line class="diag" x1="0" y1="120" x2="30" y2="120"/><text x="38" y="124">perfect calibration</text>'
               || '<line class="curve" x1="0" y1="142" x2="30" y2="142"/><circle class="bin" cx="15" cy="142" r="5"/>'
               || '<text x="38" y="146">actual rate per bin</text>'
               || '<line class="ci" x1="15" y1="156" x2="15" y2="176"/><text x="38" y="170">Wilson 95 % interval</text>'
               || format('<circle class="bin thin" cx="15" cy="192" r="5"/><text x="38" y="196">fewer than %s outcomes</text>', min_n)
               || '<rect class="bar" x="5" y="206" width="20" height="12"/><text x="38" y="216">outcomes per bin</text>'
               || '</g>';
    IF coalesce((curve ->> 'sample_count')::float8, 0) = 0 THEN
        out := out || format('<text class="empty" x="%s" y="%s" text-anchor="middle">No resolved outcomes yet</text>',
                             l + s / 2, t + s / 2);
    END IF;
    RETURN out || '</svg>';
END $$;
COMMENT ON FUNCTION learning.svg_reliability(jsonb, text, text) IS
    'Draws a calibration_curve document as an <svg> element: points with Wilson intervals, the diagonal, the count histogram, Brier and ECE';

CREATE FUNCTION learning.reliability_diagram(tenant_id text, action_type text, days integer DEFAULT NULL,
                                             min_samples integer DEFAULT 10)
    RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    curve jsonb;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_action_type(action_type);
    IF days IS NULL THEN
        curve := learning.calibration_curve(tenant_id, action_type, min_samples);
    ELSE
        curve := learning.calibration_curve_window(tenant_id, action_type, days, min_samples);
    END IF;
    RETURN '<?xml version="1.0" encoding="UTF-8"?>' || E'\n'
        || learning.svg_reliability(curve, tenant_id,
               CASE WHEN days IS NULL THEN 'all resolved outcomes'
                    ELSE format('resolved in the last %s days', days) END) || E'\n';
END $$;
COMMENT ON FUNCTION learning.reliability_diagram(text, text, integer, integer) IS
    'SVG document of an action type''s calibration: actual rate against mean prediction per bin with Wilson 95 % intervals, the diagonal, the count histogram, Brier score and ECE. days NULL (default): every counted outcome, the figures of calibration_curve; days N: outcomes resolved in the tenant''s last N calendar days';

-- The manager's page --------------------------------------------------------------

-- svg_trends: daily actions (bars) and success rate (line) of team_trends.
CREATE FUNCTION learning.svg_trends(daily jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l constant float8 := 50; t constant float8 := 20; w constant float8 := 600; h constant float8 := 180;
    days integer := coalesce(jsonb_array_length(daily), 0);
    max_a float8;
    d record;
    bw float8;
    step float8;
    pts text[] := '{}';
    out text;
    i integer;
BEGIN
    SELECT max((e ->> 'actions')::float8) INTO max_a FROM jsonb_array_elements(coalesce(daily, '[]')) e;
    -- the left axis in four round steps (1, 2 or 5 times a power of ten)
    step := greatest(coalesce(max_a, 0) / 4.0, 1);
    step := (SELECT min(m * 10 ^ floor(log(step))) FROM unnest(ARRAY[1, 2, 5, 10]) m
              WHERE m * 10 ^ floor(log(step)) >= step);
    max_a := 4 * step;
    bw := w / greatest(days, 1);
    out := '<svg xmlns="http://www.w3.org/2000/svg" class="trends" viewBox="0 0 720 240" width="720" height="240" role="img">'
        || '<title>Team trends: actions per day and success rate</title>'
        || '<style>text{font-family:sans-serif;font-size:11px;fill:#333}.act{fill:#c7dcef}.rate{fill:none;stroke:#d9480f;stroke-width:2}'
        || '.ax{stroke:#444}.grid{stroke:#eee}</style>';
    FOR i IN 0..4 LOOP
        out := out || format('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, t + h * i / 4.0, l + w, t + h * i / 4.0)
                   || format('<text x="%s" y="%s" text-anchor="end">%s</text>', l - 4, t + h * i / 4.0 + 4,
                             round(max_a * (4 - i) / 4.0))
                   || format('<text x="%s" y="%s">%s %%</text>', l + w + 4, t + h * i / 4.0 + 4, 100 - 25 * i);
    END LOOP;
    FOR d IN SELECT (e ->> 'date') AS day, (e ->> 'actions')::float8 AS actions, (e ->> 'positive')::float8 AS positive,
                    (e ->> 'success_rate')::float8 AS rate, o - 1 AS k
               FROM jsonb_array_elements(coalesce(daily, '[]')) WITH ORDINALITY AS x(e, o) ORDER BY o LOOP
        out := out || format('<rect class="act" x="%s" y="%s" width="%s" height="%s" data-date="%s" data-actions="%s" data-success-rate="%s">'
                             '<title>%s: %s actions, %s positive</title></rect>',
                             learning.svg_num(l + bw * d.k + 1), learning.svg_num(t + h - h * d.actions / max_a),
                             learning.svg_num(greatest(bw - 2, 1)), learning.svg_num(h * d.actions / max_a),
                             learning.xml_escape(d.day), d.actions, coalesce(d.rate::text, ''),
                             learning.xml_escape(d.day), d.actions, d.positive);
        IF d.rate IS NOT NULL AND d.actions > 0 THEN   -- a day without actions has no rate
            pts := pts || format('%s,%s', learning.svg_num(l + bw * (d.k + 0.5)), learning.svg_num(t + h - h * d.rate));
        END IF;
        IF d.k % 7 = 0 THEN
            out := out || format('<text x="%s" y="%s" text-anchor="middle">%s</text>',
                                 learning.svg_num(l + bw * (d.k + 0.5)), t + h + 14, learning.xml_escape(substr(d.day, 6)));
        END IF;
    END LOOP;
    IF cardinality(pts) > 0 THEN
        out := out || format('<polyline class="rate" points="%s"/>', array_to_string(pts, ' '));
    ELSE
        out := out || format('<text x="%s" y="%s" text-anchor="middle">No actions in the period</text>', l + w / 2, t + h / 2);
    END IF;
    RETURN out || format('<line class="ax" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, t + h, l + w, t + h)
               || format('<text x="%s" y="%s">bars: actions per day (left axis); line: success rate (right axis)</text>', l, t + h + 32)
               || '</svg>';
END $$;
COMMENT ON FUNCTION learning.svg_trends(jsonb) IS
    'Draws manager_dashboard''s team_trends.daily_activity as an <svg> element: actions per day as bars, success rate as a line';

-- html_patterns: coaching_patterns as a table section; a q-value column when
-- the patterns carry q_value (Benjamini-Hochberg), none otherwise.
CREATE FUNCTION learning.html_patterns(patterns jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    has_q boolean := EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(patterns, '[]')) p WHERE p ? 'q_value');
    rows text := '';
    r record;
BEGIN
    FOR r IN SELECT o, e FROM jsonb_array_elements(coalesce(patterns, '[]')) WITH ORDINALITY AS x(e, o) ORDER BY o LOOP
        rows := rows || format('<tr class="pattern"><td>%s</td><td>%s<br><i>%s</i></td><td class="num">%s</td><td class="num p-value">%s</td>%s</tr>',
                               learning.xml_escape(r.e ->> 'pattern_type'), learning.xml_escape(r.e ->> 'description'),
                               learning.xml_escape(r.e ->> 'recommendation'), learning.xml_escape(r.e ->> 'sample_size'),
                               learning.xml_escape(learning.svg_pvalue((r.e ->> 'p_value')::float8)),
                               CASE WHEN has_q THEN format('<td class="num q-value">%s</td>',
                                        learning.xml_escape(learning.svg_pvalue((r.e ->> 'q_value')::float8))) ELSE '' END);
    END LOOP;
    RETURN '<section id="coaching"><h2>Coaching patterns</h2><table><thead><tr><th>type</th><th>pattern and recommendation</th>'
        || '<th class="num">n</th><th class="num">p-value</th>' || CASE WHEN has_q THEN '<th class="num">q-value</th>' ELSE '' END
        || '</tr></thead><tbody>'
        || CASE WHEN rows = '' THEN format('<tr><td colspan="%s">No patterns in the period.</td></tr>', CASE WHEN has_q THEN 5 ELSE 4 END)
                ELSE rows END
        || '</tbody></table></section>';
END $$;
COMMENT ON FUNCTION learning.html_patterns(jsonb) IS
    'Renders coaching_patterns output as an HTML table section, escaped, with a q-value column when the patterns have q_value';

CREATE FUNCTION learning.dashboard_page(tenant_id text, days integer DEFAULT 30, sse_url text DEFAULT NULL)
    RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dash jsonb;
    patterns jsonb;
    feed text;
    key text;
    html text;
    rows text := '';
    r record;
    at text;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('days', days IS NULL);
    PERFORM learning.check_days(days);
    IF sse_url IS NOT NULL AND sse_url !~ '^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?$' THEN
        RAISE EXCEPTION 'sse_url must be an http or https URL without query, got "%"', sse_url
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the base address of the nchan server, e.g. https://live.example.com; the page appends /sub/<channel>.';
    END IF;
    dash := learning.manager_dashboard(tenant_id, days);
    -- by name, so that a coaching_patterns with more (defaulted) arguments is called the same way
    patterns := learning.coaching_patterns(tenant_id => tenant_id, days => days);
    -- the live feed: only for a tenant that has an SSE channel (made by learning.sse_channel)
    SELECT c.channel_key INTO key FROM learning.sse_channels c WHERE c.tenant_id = dashboard_page.tenant_id;
    feed := CASE WHEN key IS NOT NULL THEN coalesce(rtrim(sse_url, '/'), '') || '/sub/' || key END;

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
         || '<meta name="viewport" content="width=device-width, initial-scale=1">'
         || format('<title>Sales agent learning: %s</title>', learning.xml_escape(tenant_id))
         || '<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1440px}'
            'h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}'
            '.meta{color:#666;font-size:13px}table{border-collapse:collapse;font-size:14px}'
            'th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}'
            'td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}'
            '.kpis{display:flex;gap:24px;flex-wrap:wrap}.kpi{background:#f4f7fa;padding:10px 16px;border-radius:6px}'
            '.kpi b{display:block;font-size:20px}.diagrams{display:flex;flex-wrap:wrap;gap:16px}'
            '.diagrams svg{width:600px;max-width:100%;height:auto;border:1px solid #eee}#live-status{font-size:13px;color:#666}'
            '#live-events{font-size:13px;font-family:monospace}</style></head><body>' || E'\n';
    html := html || format('<h1>Sales agent learning: <span class="tenant">%s</span></h1>', learning.xml_escape(tenant_id))
         || format('<p class="meta">Period %s to %s (%s days, %s); generated %s</p>',
                   learning.xml_escape(dash ->> 'period_start'), learning.xml_escape(dash ->> 'period_end'),
                   days, learning.xml_escape(dash ->> 'time_zone'), learning.xml_escape(dash ->> 'generated_at'))
         || '<div class="kpis">'
         || format('<div class="kpi" id="kpi-success">success rate<b>%s %%</b></div>',
                   learning.svg_num(100 * (dash #>> '{team_trends,success_rate}')::float8, 1))
         || format('<div class="kpi" id="kpi-trend">trend<b>%s</b></div>', learning.xml_escape(dash #>> '{team_trends,trend}'))
         || format('<div class="kpi" id="kpi-escalation">escalation rate<b>%s %%</b></div>',
                   learning.svg_num(100 * (dash ->> 'escalation_rate')::float8, 1))
         || format('<div class="kpi" id="kpi-brier">overall Brier<b>%s</b></div>',
                   learning.svg_num((dash #>> '{aggregate_calibration,overall_brier}')::float8, 4))
         || format('<div class="kpi" id="kpi-coverage">feedback coverage<b>%s %%</b></div>',
                   learning.svg_num((dash #>> '{feedback_health,coverage_percent}')::float8, 1))
         || '</div>' || E'\n';

    -- team trends
    html := html || '<section id="trends"><h2>Team trends</h2>'
         || learning.svg_trends(dash #> '{team_trends,daily_activity}') || '</section>' || E'\n';

    -- leaderboard
    FOR r IN SELECT o, e FROM jsonb_array_elements(coalesce(dash -> 'rep_leaderboard', '[]')) WITH ORDINALITY AS x(e, o) ORDER BY o LOOP
        rows := rows || format('<tr><td class="num">%s</td><td class="rep">%s</td><td class="num">%s</td><td class="num">%s %%</td></tr>',
                               r.o, learning.xml_escape(r.e ->> 'rep_id'), learning.xml_escape(r.e ->> 'actions'),
                               learning.svg_num(100 * (r.e ->> 'success_rate')::float8, 1));
    END LOOP;
    html := html || '<section id="leaderboard"><h2>Leaderboard</h2><table><thead><tr><th class="num">#</th><th>rep</th>'
         || '<th class="num">actions</th><th class="num">success rate</th></tr></thead><tbody>'
         || CASE WHEN rows = '' THEN '<tr><td colspan="4">No actions in the period.</td></tr>' ELSE rows END
         || '</tbody></table></section>' || E'\n';

    -- a reliability diagram per action type with counted outcomes (all of them, like calibration_curve)
    html := html || '<section id="calibration"><h2>Calibration by action type</h2><div class="diagrams">';
    rows := '';
    FOR at IN SELECT DISTINCT b.action_type FROM learning.calibration_bins b
               WHERE b.tenant_id = dashboard_page.tenant_id AND b.n > 0 ORDER BY 1 LOOP
        rows := rows || learning.svg_reliability(learning.calibration_curve(tenant_id, at), tenant_id, 'all resolved outcomes');
    END LOOP;
    html := html || CASE WHEN rows = '' THEN '<p>No resolved outcomes yet.</p>' ELSE rows END || '</div></section>' || E'\n';

    html := html || learning.html_patterns(patterns) || E'\n';

    -- live updates from the SSE feed, when the tenant has one
    html := html || format('<section id="live" data-sse="%s"><h2>Live</h2><p id="live-status">%s</p>'
                           '<p id="live-totals"></p><ul id="live-events"></ul></section>',
                           learning.xml_escape(coalesce(feed, '')),
                           CASE WHEN feed IS NULL THEN 'No live feed configured: reload the page for new figures.'
                                ELSE 'Connecting to the live feed…' END) || E'\n';
    html := html || $js$<script>
(function () {
  // The feed address is data (an attribute), never script text, and only the server sets it:
  // the channel key in it is what lets a subscriber in, so nothing in the URL may redirect it.
  var live = document.getElementById('live');
  var path = live.getAttribute('data-sse');
  if (!path || typeof EventSource === 'undefined') return;
  var status = document.getElementById('live-status'), list = document.getElementById('live-events');
  var totals = document.getElementById('live-totals');
  var seen = new Set(), counts = {}, received = 0;
  // what happened since the page was made, from the events' counts (count, by_status)
  var recorded = 0, feedback = 0, resolved = {}, nresolved = 0;
  function tally(e) {
    var p = e.payload || {}, n = Number(p.count) || 0;
    if (e.event_type === 'outcome_recorded') recorded += n;
    if (e.event_type === 'feedback_recorded') feedback += n;
    if (e.event_type === 'outcome_resolved') {
      nresolved += n;
      Object.keys(p.by_status || {}).forEach(function (k) { resolved[k] = (resolved[k] || 0) + (Number(p.by_status[k]) || 0); });
    }
    var how = Object.keys(resolved).sort().map(function (k) { return k + ' ' + resolved[k]; });
    totals.textContent = 'Since the page was made: ' + recorded + ' actions recorded, ' + nresolved + ' outcomes resolved' +
                         (how.length ? ' (' + how.join(', ') + ')' : '') + ', ' + feedback + ' feedback entries.';
  }
  function show(note) {
    var parts = Object.keys(counts).sort().map(function (k) { return k + ' ' + counts[k]; });
    status.textContent = 'Live: ' + received + ' new events since the page was made' + (parts.length ? ' (' + parts.join(', ') + ')' : '') +
                         '; reload for updated figures.' + (note ? ' ' + note : '');
  }
  var es = new EventSource(path);
  es.onopen = function () { show(); };
  es.onerror = function () {
    // EventSource reconnects by itself unless the server refused the stream (then readyState is CLOSED)
    show(es.readyState === EventSource.CLOSED ? 'The live feed refused the connection.' : 'Feed interrupted, reconnecting…');
  };
  es.onmessage = function (ev) {
    var e;
    try { e = JSON.parse(ev.data); } catch (err) { return; }
    // events can arrive out of id order and twice (reconnects): count each id once
    if (e.id == null || seen.has(e.id)) return;
    seen.add(e.id);
    received += 1;
    counts[e.event_type] = (counts[e.event_type] || 0) + 1;
    tally(e);
    var li = document.createElement('li');
    var n = e.payload && e.payload.count != null ? ' x' + e.payload.count : '';
    li.textContent = '#' + e.id + ' ' + e.created_at + ' ' + e.event_type + n;   // text, never markup
    list.insertBefore(li, list.firstChild);
    while (list.childNodes.length > 20) list.removeChild(list.lastChild);
    show();
  };
})();
</script>
</body></html>
$js$;
    RETURN html;
END $$;
COMMENT ON FUNCTION learning.dashboard_page(text, integer, text) IS
    'Self-contained HTML page of the manager dashboard: key figures, team trends chart, leaderboard, a reliability diagram per action type, coaching patterns with p- and q-values; follows the tenant''s SSE channel (at sse_url, else the page''s own server) when it has one';

REVOKE ALL ON FUNCTION learning.xml_escape(text), learning.svg_num(float8, integer), learning.svg_pvalue(float8),
                       learning.calibration_curve_window(text, text, integer, integer),
                       learning.svg_reliability(jsonb, text, text), learning.svg_trends(jsonb),
                       learning.html_patterns(jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning.xml_escape(text), learning.svg_num(float8, integer), learning.svg_pvalue(float8),
                          learning.calibration_curve_window(text, text, integer, integer),
                          learning.svg_reliability(jsonb, text, text), learning.svg_trends(jsonb),
                          learning.html_patterns(jsonb)
    TO learning_definer, learning_app;

-- HTTP: media types for PostgREST -------------------------------------------------

-- PostgREST (v12 on) answers a function whose result type is a domain named
-- like a media type with that Content-Type and the value as the raw body, when
-- the request's Accept names that media type (a browser's does).
CREATE DOMAIN learning_api."image/svg+xml" AS text;
COMMENT ON DOMAIN learning_api."image/svg+xml" IS
    'PostgREST media type handler: a function returning it is served as image/svg+xml';
CREATE DOMAIN learning_api."text/html" AS text;
COMMENT ON DOMAIN learning_api."text/html" IS
    'PostgREST media type handler: a function returning it is served as text/html';

CREATE FUNCTION learning_api.reliability_diagram(action_type text, days integer DEFAULT NULL, min_samples integer DEFAULT 10)
    RETURNS learning_api."image/svg+xml" LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.reliability_diagram((learning.api_context(ARRAY['rep', 'manager', 'executive', 'service'])).tenant_id,
                                        action_type, days, min_samples);
COMMENT ON FUNCTION learning_api.reliability_diagram(text, integer, integer) IS
$$Reliability diagram of an action type, as SVG (all roles, like calibration_curve)
GET /rpc/reliability_diagram?action_type=send_email[&days=30][&min_samples=10] with Accept: image/svg+xml -> image/svg+xml. Without days: every counted outcome (the figures of /rpc/calibration_curve); with days: outcomes resolved in the tenant's last days calendar days (1-365). 400 for invalid input.$$;

CREATE FUNCTION learning_api.dashboard_page(days integer DEFAULT 30)
    RETURNS learning_api."text/html" LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.dashboard_page((learning.api_context(ARRAY['manager', 'executive'])).tenant_id, days);
COMMENT ON FUNCTION learning_api.dashboard_page(integer) IS
$$The manager's dashboard as a self-contained HTML page (manager, executive)
GET /rpc/dashboard_page?days=30 with Accept: text/html -> text/html: key figures, team trends, leaderboard, reliability diagrams, coaching patterns; it follows the tenant's SSE channel on the same server (/sub/<key>) when the tenant has one. 403 for other roles; days 1-365, else 400.$$;

REVOKE ALL ON FUNCTION learning_api.reliability_diagram(text, integer, integer), learning_api.dashboard_page(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning_api.reliability_diagram(text, integer, integer)
    TO learning_rep, learning_manager, learning_executive, learning_service;
GRANT EXECUTE ON FUNCTION learning_api.dashboard_page(integer) TO learning_manager, learning_executive;
ALTER FUNCTION learning_api.reliability_diagram(text, integer, integer) OWNER TO learning_definer;
ALTER FUNCTION learning_api.dashboard_page(integer) OWNER TO learning_definer;

-- learning.webhook_status: the SSE publisher (webhook_id 0) as a row, and how
-- the latest attempt ended.  Columns are only appended, so the view is
-- replaced in place and keeps its privileges (as in sql/parts/90_webhooks.sql).
CREATE OR REPLACE VIEW learning.webhook_status AS
WITH endpoints AS (
    SELECT w.tenant_id, w.id AS webhook_id, w.url, w.event_types, w.enabled, 'webhook'::text AS kind, w.secret
      FROM learning.webhooks w
    UNION ALL
    -- the nchan publisher of the SSE feed: every tenant with a channel (api/SSE.md)
    SELECT '*', 0, nullif(pg_catalog.current_setting('learning.sse_publish_url', true), ''), NULL,
           coalesce(pg_catalog.current_setting('learning.sse_publish_url', true), '') <> '', 'sse', NULL
     WHERE coalesce(pg_catalog.current_setting('learning.sse_publish_url', true), '') <> ''
        OR EXISTS (SELECT 1 FROM learning.relay_queue q WHERE q.webhook_id = 0)
        OR EXISTS (SELECT 1 FROM learning.webhook_deliveries l WHERE l.webhook_id = 0))
SELECT e.tenant_id, e.webhook_id, e.url, e.event_types, e.enabled,
       (SELECT count(*) FROM learning.relay_queue q WHERE q.webhook_id = e.webhook_id AND q.state <> 'dead') AS pending,
       (SELECT count(*) FROM learning.relay_queue q WHERE q.webhook_id = e.webhook_id AND q.state = 'dead') AS dead,
       d.delivered_24h, d.failed_24h, d.last_attempt_at, d.last_error,
       -- a hint that tells secrets apart; none for a short one written by hand
       CASE WHEN pg_catalog.length(e.secret) >= 16 THEN '...' || pg_catalog.right(e.secret, 4) END AS secret_hint,
       e.kind, l.status AS last_status, l.http_code AS last_http_code, d.last_error_at
  FROM endpoints e
  LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE l.status = 'delivered') AS delivered_24h,
               count(*) FILTER (WHERE l.status <> 'delivered') AS failed_24h,
               max(l.attempted_at) AS last_attempt_at,
               (array_agg(l.error ORDER BY l.attempted_at DESC) FILTER (WHERE l.error IS NOT NULL))[1] AS last_error,
               max(l.attempted_at) FILTER (WHERE l.error IS NOT NULL) AS last_error_at
          FROM learning.webhook_deliveries l
         WHERE l.webhook_id = e.webhook_id AND l.attempted_at > pg_catalog.now() - interval '1 day') d ON true
  -- the latest attempt, whenever it was
  LEFT JOIN LATERAL (
        SELECT l.status, l.http_code
          FROM learning.webhook_deliveries l
         WHERE l.webhook_id = e.webhook_id
         ORDER BY l.attempted_at DESC, l.id DESC LIMIT 1) l ON true;
COMMENT ON VIEW learning.webhook_status IS
    'Per webhook and for the SSE publisher (webhook_id 0, kind sse): unfinished and dead deliveries, delivered and failed attempts of the last 24 hours, the latest error of that day and when (last_error, last_error_at), how the latest attempt ended (last_status, last_http_code), the last four characters of the secret (secrets of 16 characters or more)';

-- Progress of long work (sql/parts/96_progress.sql), and rebuild_rollups
-- reporting its steps (sql/parts/70_analytics.sql); same signature, replaced.


CREATE FUNCTION learning.report_progress(task text, step integer, steps integer, what text, n bigint,
                                         started timestamptz, last_notice timestamptz)
    RETURNS timestamptz LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    now_ts timestamptz := pg_catalog.clock_timestamp();
    msg text := pg_catalog.format('%s: step %s/%s, %s%s, %s s so far', task, step, steps, what,
                                  CASE WHEN n IS NOT NULL THEN pg_catalog.format(': %s rows', n) ELSE '' END,
                                  round(extract(epoch FROM now_ts - started)::numeric, 1));
BEGIN
    IF now_ts - last_notice >= interval '1 second' THEN
        RAISE NOTICE '%', msg;
        RETURN now_ts;
    END IF;
    RAISE DEBUG '%', msg;
    RETURN last_notice;
END $$;
COMMENT ON FUNCTION learning.report_progress(text, integer, integer, text, bigint, timestamptz, timestamptz) IS
    'Reports a finished step of long work: a NOTICE when a second has passed since last_notice (returns the new time), else DEBUG1';
REVOKE ALL ON FUNCTION learning.report_progress(text, integer, integer, text, bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning.report_progress(text, integer, integer, text, bigint, timestamptz, timestamptz)
    TO learning_app;

CREATE OR REPLACE FUNCTION learning.rebuild_rollups(tenant_id text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tz text;
    step_rows bigint;
    started timestamptz := pg_catalog.clock_timestamp();
    noticed timestamptz := started;    -- progress: a NOTICE at most once a second (learning.report_progress)
    task constant text := pg_catalog.format('rebuild_rollups(%L)', tenant_id);
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    LOCK TABLE learning.outcome_records, learning.feedback_entries IN SHARE MODE;
    -- this transaction's own counters first, or the commit would add them again
    PERFORM learning.flush_pending_deltas();
    tz := learning.tenant_time_zone(tenant_id);
    DELETE FROM learning.outcome_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.daily_totals r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.conversation_days r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.conversation_last r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.conversation_coverage r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.feedback_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    noticed := learning.report_progress(task, 1, 7, 'old rollups removed', NULL, started, noticed);

    INSERT INTO learning.outcome_rollups
    SELECT o.tenant_id, (o.created_at AT TIME ZONE tz)::date, coalesce(o.rep_id, ''), o.action_type, o.outcome_type,
           CASE WHEN o.outcome_type = 'escalation_result' THEN coalesce(o.metadata->>'escalation_trigger', 'unknown') ELSE '' END,
           0, count(*), count(*) FILTER (WHERE o.status = 'pending'), count(*) FILTER (WHERE o.status = 'positive'),
           count(*) FILTER (WHERE o.status = 'negative'), count(*) FILTER (WHERE o.status = 'ambiguous'),
           count(*) FILTER (WHERE o.status = 'expired'),
           coalesce(sum(o.outcome_score) FILTER (WHERE o.status = 'positive'), 0),
           coalesce(sum(o.cost), 0), count(o.cost),
           count(*) FILTER (WHERE o.status = 'positive' AND o.outcome_type = 'deal_progression'
                              AND o.metadata->>'deal_stage_at_resolution' = 'closed_won')
      FROM learning.outcome_records o WHERE o.tenant_id = rebuild_rollups.tenant_id
     GROUP BY 1, 2, 3, 4, 5, 6;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 2, 7, 'outcome rollups', step_rows, started, noticed);

    INSERT INTO learning.conversation_days
    SELECT rebuild_rollups.tenant_id, c, d, sum(no), sum(nf)
      FROM (SELECT o.conversation_state_id c, (o.created_at AT TIME ZONE tz)::date d, 1 no, 0 nf
              FROM learning.outcome_records o WHERE o.tenant_id = rebuild_rollups.tenant_id
            UNION ALL
            SELECT f.conversation_state_id, (f.created_at AT TIME ZONE tz)::date, 0, 1
              FROM learning.feedback_entries f WHERE f.tenant_id = rebuild_rollups.tenant_id) x
     GROUP BY c, d;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 3, 7, 'conversation days', step_rows, started, noticed);

    INSERT INTO learning.conversation_last
    SELECT c.tenant_id, c.conversation_state_id, max(c.day) FILTER (WHERE c.outcomes > 0),
           max(c.day) FILTER (WHERE c.feedbacks > 0)
      FROM learning.conversation_days c WHERE c.tenant_id = rebuild_rollups.tenant_id
     GROUP BY 1, 2;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 4, 7, 'conversations'' last days', step_rows, started, noticed);
    INSERT INTO learning.conversation_coverage
    SELECT rebuild_rollups.tenant_id, d, 0, sum(n), sum(nf)
      FROM (SELECT l.last_outcome_day d, 1 n, 0 nf FROM learning.conversation_last l
             WHERE l.tenant_id = rebuild_rollups.tenant_id AND l.last_outcome_day IS NOT NULL
            UNION ALL
            SELECT least(l.last_outcome_day, l.last_feedback_day), 0, 1 FROM learning.conversation_last l
             WHERE l.tenant_id = rebuild_rollups.tenant_id AND l.last_outcome_day IS NOT NULL
               AND l.last_feedback_day IS NOT NULL) x
     GROUP BY d;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 5, 7, 'coverage', step_rows, started, noticed);

    INSERT INTO learning.feedback_rollups
    SELECT f.tenant_id, (f.created_at AT TIME ZONE tz)::date, f.reviewer_id, f.reviewer_role, f.target_type,
           f.source, f.rating, 0, count(*)
      FROM learning.feedback_entries f WHERE f.tenant_id = rebuild_rollups.tenant_id
     GROUP BY 1, 2, 3, 4, 5, 6, 7;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 6, 7, 'feedback rollups', step_rows, started, noticed);

    INSERT INTO learning.daily_totals
    SELECT rebuild_rollups.tenant_id, d, 0, sum(actions), sum(pending), sum(positive), sum(negative), sum(ambiguous),
           sum(expired), sum(escalations), sum(fc), sum(frs), sum(fns), sum(conv), sum(convf)
      FROM (SELECT r.day d, r.actions, r.pending, r.positive, r.negative, r.ambiguous, r.expired,
                   CASE WHEN r.outcome_type = 'escalation_result' THEN r.actions ELSE 0 END escalations,
                   0 fc, 0 frs, 0 fns, 0 conv, 0 convf
              FROM learning.outcome_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id
            UNION ALL
            SELECT r.day, 0, 0, 0, 0, 0, 0, 0, r.n, r.n * r.rating,
                   r.n * CASE r.source WHEN 'inline' THEN (r.rating + 1) / 2.0 ELSE (r.rating - 1) / 4.0 END, 0, 0
              FROM learning.feedback_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id
            UNION ALL
            SELECT c.day, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (c.outcomes > 0)::int, (c.outcomes > 0 AND c.feedbacks > 0)::int
              FROM learning.conversation_days c WHERE c.tenant_id = rebuild_rollups.tenant_id) x
     GROUP BY d;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 7, 7, 'daily totals', step_rows, started, noticed);
    IF noticed > started THEN   -- a run long enough to have reported says when it is done
        RAISE NOTICE '%: done in % s', task, round(extract(epoch FROM pg_catalog.clock_timestamp() - started)::numeric, 1);
    END IF;
END $$;
COMMENT ON FUNCTION learning.rebuild_rollups(text) IS
    'Recomputes a tenant''s dashboard rollups from its outcome and feedback rows in its current time zone (run on a time zone change); blocks writers meanwhile; reports its seven steps (NOTICE at most once a second, else DEBUG1)';



-- ======================================================================
-- Workers: a bounded pool serving every database; a fair relay.
-- ======================================================================

-- The relay: circuit breakers per endpoint, claims round-robin by endpoint
-- with rows leased ahead for endpoints that answer, and what the launcher
-- needs to start a relay only when deliveries are due.
CREATE TABLE learning.relay_endpoints (
    webhook_id   bigint      PRIMARY KEY,
    failures     integer     NOT NULL CHECK (failures > 0),
    open_until   timestamptz NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE learning.relay_endpoints IS
    'Circuit breaker of the relay: one row per endpoint (webhook id, 0: SSE publisher) whose latest attempts failed; none of its deliveries is tried before open_until';

-- Claims go endpoint by endpoint: the queue-wide due index gives way to a
-- per-endpoint one (a plan walking due rows of every endpoint for each
-- endpoint would cost the product of the two).
DROP INDEX learning.relay_queue_due_idx;
CREATE INDEX relay_queue_webhook_due_idx ON learning.relay_queue (webhook_id, next_attempt_at) WHERE state = 'pending';
COMMENT ON INDEX learning.relay_queue_webhook_due_idx IS
    'Per endpoint, its pending deliveries in due order: the relay claims round-robin by endpoint and skips whole endpoints';

CREATE INDEX relay_queue_claimed_idx ON learning.relay_queue (claimed_at) WHERE claimed_at IS NOT NULL;
COMMENT ON INDEX learning.relay_queue_claimed_idx IS
    'Leased deliveries: a relay that stopped mid-delivery left some, and the next relay must start at once';
GRANT SELECT, INSERT, UPDATE, DELETE ON learning.relay_endpoints TO learning_app;

DROP FUNCTION learning.relay_claim(integer, bigint[], bigint[], integer[], integer, interval, text);
CREATE FUNCTION learning.relay_claim(max_rows integer, busy_webhooks bigint[], busy_counts integer[],
                                     per_webhook integer, proven_webhooks bigint[], per_proven integer,
                                     lease interval, sse_url text)
    RETURNS TABLE (tenant_id text, webhook_id bigint, event_id bigint, attempt integer,
                   url text, secret text, body text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
-- plpgsql, not sql: its plan is prepared once per relay process.
BEGIN
    -- Autovacuum often analyzes the queue while it is nearly empty; planned
    -- for a tiny table, a claim over a queue that has grown since scans it
    -- once per endpoint.  A queue analyzed with fewer than 250 rows that has
    -- 1000 now, or four times its analyzed size, is analyzed again first (the
    -- plans are then made anew).
    IF (SELECT c.reltuples < 250 FROM pg_catalog.pg_class c
         WHERE c.oid = 'learning.relay_queue'::pg_catalog.regclass)
       AND (SELECT count(*) FROM (SELECT FROM learning.relay_queue LIMIT 1000) s) = 1000
       OR pg_catalog.pg_relation_size('learning.relay_queue') >
          4 * 8192 * (SELECT GREATEST(c.relpages, 8) FROM pg_catalog.pg_class c
                       WHERE c.oid = 'learning.relay_queue'::pg_catalog.regclass) THEN
        ANALYZE learning.relay_queue;
    END IF;
    RETURN QUERY
    WITH RECURSIVE hooks(webhook_id) AS (
        -- every endpoint with pending rows, one index probe each
        (SELECT q.webhook_id FROM learning.relay_queue q WHERE q.state = 'pending'
          ORDER BY q.webhook_id LIMIT 1)
        UNION ALL
        SELECT (SELECT q.webhook_id FROM learning.relay_queue q
                 WHERE q.state = 'pending' AND q.webhook_id > h.webhook_id
                 ORDER BY q.webhook_id LIMIT 1)
          FROM hooks h WHERE h.webhook_id IS NOT NULL
    ), open_hooks AS (
        -- closed circuits get per_webhook rows (per_proven for endpoints that
        -- answered lately), half-open ones a single probe; minus what the
        -- relay holds already
        SELECT h.webhook_id, e.webhook_id IS NOT NULL AS probing,
               CASE WHEN e.webhook_id IS NOT NULL THEN 1
                    WHEN h.webhook_id = ANY (proven_webhooks) THEN per_proven
                    ELSE per_webhook END - coalesce(b.n, 0) AS free
          FROM hooks h
          LEFT JOIN learning.relay_endpoints e ON e.webhook_id = h.webhook_id
          LEFT JOIN unnest(busy_webhooks, busy_counts) AS b(webhook_id, n) ON b.webhook_id = h.webhook_id
         WHERE h.webhook_id IS NOT NULL
           AND (e.open_until IS NULL OR e.open_until <= pg_catalog.now())
           AND (h.webhook_id <> 0 OR sse_url <> '')
    ), due AS (
        SELECT o.probing, d.tenant_id, d.webhook_id, d.event_id, d.next_attempt_at
          FROM open_hooks o
         CROSS JOIN LATERAL (
                SELECT q.tenant_id, q.webhook_id, q.event_id, q.next_attempt_at
                  FROM learning.relay_queue q
                 WHERE q.webhook_id = o.webhook_id AND q.state = 'pending'
                   AND q.next_attempt_at <= pg_catalog.now()
                 ORDER BY q.next_attempt_at
                 LIMIT o.free
                   FOR UPDATE SKIP LOCKED) d
         WHERE o.free > 0
    ), picked AS (
        SELECT r.tenant_id, r.webhook_id, r.event_id
          FROM (SELECT d.*, row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at) AS rn
                  FROM due d) r
         ORDER BY r.probing, r.rn, r.next_attempt_at
         LIMIT max_rows
    ), claimed AS (
        UPDATE learning.relay_queue q
           SET next_attempt_at = pg_catalog.now() + lease, claimed_at = pg_catalog.now()
          FROM picked p
         WHERE q.tenant_id = p.tenant_id AND q.webhook_id = p.webhook_id AND q.event_id = p.event_id
        RETURNING q.tenant_id, q.webhook_id, q.event_id, q.attempts
    )
    SELECT c.tenant_id, c.webhook_id, c.event_id, c.attempts + 1,
           CASE WHEN c.webhook_id = 0 THEN pg_catalog.rtrim(sse_url, '/') || '/' || s.channel_key ELSE w.url END,
           w.secret,
           CASE WHEN e.id IS NOT NULL THEN
               pg_catalog.jsonb_build_object('id', e.id, 'tenant_id', e.tenant_id, 'event_type', e.event_type,
                                             'created_at', e.created_at, 'payload', e.payload)::text END
      FROM claimed c
      LEFT JOIN learning.events e ON e.tenant_id = c.tenant_id AND e.id = c.event_id
      LEFT JOIN learning.webhooks w ON c.webhook_id <> 0 AND w.id = c.webhook_id
      LEFT JOIN learning.sse_channels s ON c.webhook_id = 0 AND s.tenant_id = c.tenant_id;
END $$;
COMMENT ON FUNCTION learning.relay_claim(integer, bigint[], integer[], integer, bigint[], integer, interval, text) IS
    'Relay worker: leases due deliveries round-robin by endpoint (closed circuits first, none of an open circuit, per endpoint per_webhook rows or per_proven for proven_webhooks, minus busy_counts) and returns URL, secret and JSON body of each';

CREATE FUNCTION learning.relay_unclaim(tenant_ids text[], webhook_ids bigint[], event_ids bigint[])
    RETURNS void LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    UPDATE learning.relay_queue q SET claimed_at = NULL, next_attempt_at = pg_catalog.now()
      FROM unnest(tenant_ids, webhook_ids, event_ids) AS u(tenant_id, webhook_id, event_id)
     WHERE q.tenant_id = u.tenant_id AND q.webhook_id = u.webhook_id AND q.event_id = u.event_id
       AND q.claimed_at IS NOT NULL
$$;
COMMENT ON FUNCTION learning.relay_unclaim(text[], bigint[], bigint[]) IS
    'Relay worker: gives back leased deliveries it will not send now (their endpoint stopped answering, or the relay leaves): due again at once, no attempt counted';

CREATE FUNCTION learning.relay_note_endpoints(webhook_ids bigint[], answered boolean[], retry_base interval,
                                              max_pause interval)
    RETURNS void LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
-- plpgsql, not sql: its plans are prepared once per relay process
BEGIN
    -- the latest outcome of each endpoint in this batch decides
    WITH latest AS (
        SELECT DISTINCT ON (r.webhook_id) r.webhook_id, r.answered
          FROM unnest(webhook_ids, answered) WITH ORDINALITY AS r(webhook_id, answered, ord)
         ORDER BY r.webhook_id, r.ord DESC
    ), closed AS (
        DELETE FROM learning.relay_endpoints e USING latest l
         WHERE e.webhook_id = l.webhook_id AND l.answered
    )
    INSERT INTO learning.relay_endpoints AS e (webhook_id, failures, open_until)
    SELECT l.webhook_id, 1, pg_catalog.now() + LEAST(retry_base, max_pause)
      FROM latest l WHERE NOT l.answered
    ON CONFLICT (webhook_id) DO UPDATE
       SET failures = e.failures + 1,
           open_until = pg_catalog.now()
               + LEAST(retry_base * pg_catalog.power(2, LEAST(e.failures, 30)), max_pause)
                 * (1 + 0.1 * pg_catalog.random());
END $$;
COMMENT ON FUNCTION learning.relay_note_endpoints(bigint[], boolean[], interval, interval) IS
    'Relay worker: per endpoint, an answer closes its circuit, a failure without one opens it for retry_base doubled per consecutive failure (at most max_pause)';

CREATE FUNCTION learning.relay_next_due(sse_on boolean) RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE hooks(webhook_id) AS (
        (SELECT q.webhook_id FROM learning.relay_queue q WHERE q.state = 'pending'
          ORDER BY q.webhook_id LIMIT 1)
        UNION ALL
        SELECT (SELECT q.webhook_id FROM learning.relay_queue q
                 WHERE q.state = 'pending' AND q.webhook_id > h.webhook_id
                 ORDER BY q.webhook_id LIMIT 1)
          FROM hooks h WHERE h.webhook_id IS NOT NULL
    )
    SELECT CASE WHEN EXISTS (SELECT FROM learning.relay_queue q
                              WHERE q.claimed_at IS NOT NULL AND q.state = 'pending'
                                AND (q.webhook_id <> 0 OR sse_on))
                THEN pg_catalog.now()
                ELSE (SELECT min(GREATEST(f.next_attempt_at, e.open_until))
                        FROM hooks h
                       CROSS JOIN LATERAL (SELECT q.next_attempt_at FROM learning.relay_queue q
                                            WHERE q.webhook_id = h.webhook_id AND q.state = 'pending'
                                            ORDER BY q.next_attempt_at LIMIT 1) f
                        LEFT JOIN learning.relay_endpoints e ON e.webhook_id = h.webhook_id
                       WHERE h.webhook_id IS NOT NULL AND (h.webhook_id <> 0 OR sse_on)) END
$$;
COMMENT ON FUNCTION learning.relay_next_due(boolean) IS
    'Relay worker and scheduler: when the next delivery of this database is due (its row''s time, or its endpoint''s open circuit; now when a stopped relay left leased rows), NULL when none is pending';

REVOKE ALL ON FUNCTION learning.relay_claim(integer, bigint[], integer[], integer, bigint[], integer, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.relay_unclaim(text[], bigint[], bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.relay_note_endpoints(bigint[], boolean[], interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.relay_next_due(boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION learning.relay_maintain(retention interval, sse_on boolean) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint := 0;
    m bigint;
BEGIN
    DELETE FROM learning.webhook_deliveries d
     WHERE d.ctid = ANY (ARRAY(SELECT x.ctid FROM learning.webhook_deliveries x
                                WHERE x.attempted_at < pg_catalog.now() - retention LIMIT 10000));
    GET DIAGNOSTICS m = ROW_COUNT;
    n := n + m;
    DELETE FROM learning.relay_queue q
     WHERE q.ctid = ANY (ARRAY(SELECT x.ctid FROM learning.relay_queue x
                                WHERE (x.state = 'dead' AND x.enqueued_at < pg_catalog.now() - retention)
                                   OR (x.webhook_id = 0 AND NOT sse_on)
                                LIMIT 10000));
    GET DIAGNOSTICS m = ROW_COUNT;
    n := n + m;
    -- circuit breakers of webhooks that were dropped
    DELETE FROM learning.relay_endpoints e
     WHERE e.webhook_id <> 0 AND NOT EXISTS (SELECT FROM learning.webhooks w WHERE w.id = e.webhook_id);
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END $$;
COMMENT ON FUNCTION learning.relay_maintain(interval, boolean) IS
    'Relay worker housekeeping: deletes delivery log rows and dead deliveries older than the retention (10000 of each per call), SSE deliveries when the SSE feed is off, and the circuit breakers of dropped webhooks';

CREATE OR REPLACE FUNCTION learning.retry_dead_deliveries(webhook_id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    WITH r AS (
        UPDATE learning.relay_queue q
           SET state = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), claimed_at = NULL
         WHERE q.state = 'dead' AND (retry_dead_deliveries.webhook_id IS NULL OR q.webhook_id = retry_dead_deliveries.webhook_id)
        RETURNING 1
    ), closed AS (
        -- a fresh start: the endpoint's circuit closes too
        DELETE FROM learning.relay_endpoints e
         WHERE retry_dead_deliveries.webhook_id IS NULL OR e.webhook_id = retry_dead_deliveries.webhook_id
    )
    SELECT count(*) FROM r
$$;
COMMENT ON FUNCTION learning.retry_dead_deliveries(bigint) IS
    'Puts dead deliveries (of one webhook, or all) back in the queue with a fresh attempt budget and closes their endpoints'' circuit breakers; returns how many';

-- Relays run only while there is work: every statement that queues
-- deliveries or makes some due again wakes the relay at commit.
CREATE FUNCTION learning.relay_queue_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'learning_relay_queue_changed';
COMMENT ON FUNCTION learning.relay_queue_changed() IS
    'Row trigger of learning.relay_queue: a row queued or due again makes the commit wake the database''s relay worker, or have the launcher start one';
REVOKE ALL ON FUNCTION learning.relay_queue_changed() FROM PUBLIC;
CREATE TRIGGER relay_queue_wake AFTER INSERT OR UPDATE ON learning.relay_queue
    FOR EACH ROW EXECUTE FUNCTION learning.relay_queue_changed();
COMMENT ON TRIGGER relay_queue_wake ON learning.relay_queue IS
    'Rows queued or due again: wake the relay at commit';

-- Jobs: job_status says when a database waits for a worker of the pool.
DROP VIEW learning.job_status;
DROP FUNCTION learning.job_schedule();
CREATE FUNCTION learning.job_schedule(
    OUT job_name text, OUT job_interval interval, OUT enabled boolean, OUT preloaded boolean,
    OUT launcher_pid integer, OUT scheduler_pid integer, OUT relay_pid integer,
    OUT waiting_since timestamptz, OUT max_workers integer)
    RETURNS SETOF record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_job_schedule';
COMMENT ON FUNCTION learning.job_schedule() IS
    'One row per job: its interval (learning.<job>_interval), learning.enabled, whether the library is preloaded, the pids of the launcher and of this database''s scheduler and relay (NULL when not running), since when this database''s due jobs wait for a worker (NULL when not waiting), and learning.max_workers';

CREATE VIEW learning.job_status AS
SELECT pg_catalog.current_database()::text AS database,
       s.job_name,
       s.job_interval AS "interval",
       last_run.started_at AS last_run_at,
       last_run.status AS last_status,
       last_run.message AS last_message,
       CASE WHEN s.preloaded AND s.launcher_pid IS NOT NULL AND s.enabled
            THEN coalesce(last_scheduled.started_at + s.job_interval, pg_catalog.now())
       END AS next_due_at,
       coalesce(counts.runs, 0) AS runs,
       coalesce(counts.failures, 0) AS failures,
       CASE WHEN NOT s.preloaded
                THEN 'absent: learning is not in shared_preload_libraries, so no scheduler runs the jobs (learning.run_job runs one now)'
            WHEN s.launcher_pid IS NULL AND s.scheduler_pid IS NULL THEN 'not running: the launcher is not running'
            WHEN s.scheduler_pid IS NOT NULL AND s.enabled THEN 'running'
            WHEN NOT s.enabled THEN 'paused: learning.enabled = off'
            WHEN s.waiting_since IS NOT NULL
                THEN pg_catalog.format('waiting: jobs are due and every worker of the pool (learning.max_workers = %s) is busy with other databases',
                                       s.max_workers)
            ELSE 'idle: a scheduler starts when a job is due'
       END AS scheduler,
       s.scheduler_pid,
       s.waiting_since
  FROM learning.job_schedule() s
  LEFT JOIN LATERAL (
        SELECT r.started_at, r.status, r.message
          FROM learning.job_runs r
         WHERE r.job_name = s.job_name
         ORDER BY r.started_at DESC
         LIMIT 1) last_run ON true
  LEFT JOIN LATERAL (
        SELECT r.started_at
          FROM learning.job_runs r
         WHERE r.job_name = s.job_name AND r.run_by = 'scheduler'
         ORDER BY r.started_at DESC
         LIMIT 1) last_scheduled ON true
  LEFT JOIN LATERAL (
        SELECT count(*) AS runs, count(*) FILTER (WHERE r.status = 'failed') AS failures
          FROM learning.job_runs r
         WHERE r.job_name = s.job_name) counts ON true;
COMMENT ON VIEW learning.job_status IS
    'Per job of this database: interval, last run (time, status, message), next due, runs and failures in the retained history, and the scheduler''s state (running, idle between runs, waiting for a worker of the pool since waiting_since, paused, not running, or absent when learning is not preloaded)';
GRANT SELECT ON learning.job_status TO learning_definer, learning_app;



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



-- Jobs in bounded batches of tenants (learning.job_batch_tenants), each batch
-- its own transaction in the scheduler: the job bodies take a tenant range.
DROP FUNCTION learning.apply_signals(text);
DROP FUNCTION learning.expire_overdue();
DROP FUNCTION learning.calibration_check();
DROP FUNCTION learning.execute_job(text, text);
-- The signal jobs' batches walk the tenants that have unapplied signals.
CREATE INDEX signals_unapplied_tenant_idx
    ON learning.signals (tenant_id) WHERE applied_at IS NULL;
-- apply_signals: every unapplied signal of the job's types resolves the pending
-- outcomes it matches (same tenant and conversation, matching outcome type,
-- created at or before the signal, signal inside the window).  When several
-- signals match one outcome the earliest that resolves it decides.  Returns
-- the outcomes resolved per tenant.
CREATE FUNCTION learning.apply_signals(job_name text, after_tenant text, last_tenant text)
    RETURNS TABLE (tenant_id text, items bigint) LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- planned for each batch with its real bounds: a plan cached after a few
    -- batches assumes a handful of rows and joins the batch's CTEs in nested
    -- loops (10 s instead of 0.2 s for 10,000 signals)
    SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    types text[] := learning.job_signal_types(job_name);
BEGIN
    RETURN QUERY
    WITH batch AS (
        SELECT s.tenant_id, s.id, s.conversation_state_id, s.signal_type, s.occurred_at, s.detail, s.ingested_at
          FROM learning.signals s
         WHERE s.applied_at IS NULL AND s.signal_type = ANY (types)
           AND s.tenant_id > after_tenant AND s.tenant_id <= last_tenant
           FOR UPDATE SKIP LOCKED
    ), decided AS (
        SELECT DISTINCT ON (o.tenant_id, o.id)
               o.tenant_id, o.id, r.status, r.outcome_score, b.signal_type, b.id AS signal_id,
               b.detail->>'stage' AS stage
          FROM batch b
          JOIN learning.outcome_records o
            ON o.tenant_id = b.tenant_id
           AND o.conversation_state_id = b.conversation_state_id
           AND o.status = 'pending'
           AND o.outcome_type = learning.signal_outcome_type(b.signal_type)
           AND o.created_at <= b.occurred_at
           AND b.occurred_at <= o.window_expires_at
         CROSS JOIN LATERAL learning.signal_rule(b.signal_type, b.detail, o.metadata) r
         ORDER BY o.tenant_id, o.id, b.occurred_at, b.ingested_at, b.id
    ), resolved AS (
        UPDATE learning.outcome_records o
           SET status = d.status, outcome_score = d.outcome_score,
               signal_source = 'signal:' || d.signal_type, resolved_at = pg_catalog.now(),
               -- the deal stage that resolved it (dashboards count deals_closed_won)
               metadata = CASE WHEN d.signal_type = 'deal_stage_changed'
                               THEN o.metadata || pg_catalog.jsonb_build_object('deal_stage_at_resolution', d.stage)
                               ELSE o.metadata END
          FROM decided d
         WHERE o.tenant_id = d.tenant_id AND o.id = d.id AND o.status = 'pending'
        RETURNING o.tenant_id, d.signal_id
    ), per_signal AS (
        SELECT r.tenant_id, r.signal_id, count(*) AS n FROM resolved r GROUP BY 1, 2
    ), marked AS (
        UPDATE learning.signals s
           SET applied_at = pg_catalog.now(), resolved_count = coalesce(ps.n, 0)
          FROM batch b LEFT JOIN per_signal ps ON ps.tenant_id = b.tenant_id AND ps.signal_id = b.id
         WHERE s.tenant_id = b.tenant_id AND s.id = b.id
        RETURNING s.tenant_id
    )
    -- (marked runs whether or not it is read: data-modifying CTEs always complete)
    SELECT r.tenant_id, count(*)::bigint FROM resolved r GROUP BY r.tenant_id;
END $$;
COMMENT ON FUNCTION learning.apply_signals(text, text, text) IS
    'Applies the unapplied signals of a signal job of the tenants in (after_tenant, last_tenant] to the pending outcomes they resolve; returns outcomes resolved per tenant';


-- expire_overdue: pending outcomes whose window has ended become expired
-- (counted as 0 in calibration), unless a signal that occurred inside their
-- window resolves them: "the first in-window signal decides; such an outcome
-- is never expired".  An unapplied signal is left to its job; a signal that
-- was applied before the outcome was visible (a backfilled outcome, or one
-- committed while the signal job ran) resolves it here, the earliest first.
-- Reads only pending outcomes whose window has ended and their signals.
-- One UPDATE, no join: each overdue row of the batch's tenants is decided by
-- index lookups of its own conversation's signals (set-based, linear in the
-- batch; a join with a CTE of the batch could be planned as a rescan of it
-- for every row of the table).
CREATE FUNCTION learning.expire_overdue(after_tenant text, last_tenant text)
    RETURNS TABLE (tenant_id text, items bigint) LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    WITH changed AS (
        UPDATE learning.outcome_records o
           SET (status, outcome_score, signal_source, metadata) = (
                   SELECT coalesce(d.status, 'expired'), d.outcome_score,
                          coalesce('signal:' || d.signal_type, 'window_expired'),
                          CASE WHEN d.signal_type = 'deal_stage_changed'
                               THEN o.metadata || pg_catalog.jsonb_build_object('deal_stage_at_resolution', d.stage)
                               ELSE o.metadata END
                     FROM (SELECT 1) one
                     -- the earliest applied in-window signal that resolves it, if any
                     LEFT JOIN LATERAL (
                           SELECT r.status, r.outcome_score, s.signal_type, s.detail->>'stage' AS stage
                             FROM learning.signals s
                            CROSS JOIN LATERAL learning.signal_rule(s.signal_type, s.detail, o.metadata) r
                            WHERE s.tenant_id = o.tenant_id
                              AND s.conversation_state_id = o.conversation_state_id
                              AND s.occurred_at BETWEEN o.created_at AND o.window_expires_at
                              AND s.applied_at IS NOT NULL
                              AND learning.signal_outcome_type(s.signal_type) = o.outcome_type
                            ORDER BY s.occurred_at, s.ingested_at, s.id
                            LIMIT 1) d ON true),
               resolved_at = pg_catalog.now()
         WHERE o.status = 'pending' AND o.window_expires_at < pg_catalog.now()
           AND o.tenant_id > after_tenant AND o.tenant_id <= last_tenant
           -- an unapplied in-window signal: its job decides
           AND NOT EXISTS (SELECT 1 FROM learning.signals s
                            WHERE s.tenant_id = o.tenant_id
                              AND s.conversation_state_id = o.conversation_state_id
                              AND s.occurred_at BETWEEN o.created_at AND o.window_expires_at
                              AND s.applied_at IS NULL
                              AND learning.signal_outcome_type(s.signal_type) = o.outcome_type)
        RETURNING o.tenant_id
    )
    SELECT c.tenant_id, count(*)::bigint FROM changed c GROUP BY c.tenant_id
$$;
COMMENT ON FUNCTION learning.expire_overdue(text, text) IS
    'Expires pending outcomes of the tenants in (after_tenant, last_tenant] whose window has ended, unless an in-window signal resolves them (an unapplied one through its job); returns outcomes changed per tenant';



-- calibration_check: check_and_adjust for every (tenant, action type) with data.
CREATE FUNCTION learning.calibration_check(after_tenant text, last_tenant text)
    RETURNS TABLE (tenant_id text, items bigint) LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.tenant_id, count(a.adj)::bigint
      FROM (SELECT DISTINCT b.tenant_id, b.action_type FROM learning.calibration_bins b
             WHERE b.tenant_id > after_tenant AND b.tenant_id <= last_tenant) t
     CROSS JOIN LATERAL (SELECT learning.check_and_adjust(t.tenant_id, t.action_type) AS adj) a
     GROUP BY t.tenant_id
    HAVING count(a.adj) > 0
$$;
COMMENT ON FUNCTION learning.calibration_check(text, text) IS
    'Runs check_and_adjust for every (tenant, action type) with calibration data of the tenants in (after_tenant, last_tenant]; returns adjustments per tenant';

-- job_batch: the tenants of a job's next batch are those after after_tenant,
-- in order, up to max_tenants of them that may have work for the job (found
-- by one index probe each: a loose index scan).  last_tenant is the last of
-- them (NULL when none); more tells whether more may follow.
CREATE FUNCTION learning.job_batch(job_name text, after_tenant text, max_tenants integer,
                                   OUT last_tenant text, OUT more boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_tenants integer;
BEGIN
    IF job_name = 'expire_overdue' THEN
        WITH RECURSIVE t(tenant_id, n) AS (
            SELECT (SELECT min(o.tenant_id) FROM learning.outcome_records o
                     WHERE o.status = 'pending' AND o.tenant_id > after_tenant), 1
            UNION ALL
            SELECT (SELECT min(o.tenant_id) FROM learning.outcome_records o
                     WHERE o.status = 'pending' AND o.tenant_id > t.tenant_id), t.n + 1
              FROM t WHERE t.tenant_id IS NOT NULL AND t.n < max_tenants)
        SELECT max(t.tenant_id), count(t.tenant_id) INTO last_tenant, found_tenants FROM t;
    ELSIF job_name = 'calibration_check' THEN
        WITH RECURSIVE t(tenant_id, n) AS (
            SELECT (SELECT min(b.tenant_id) FROM learning.calibration_bins b WHERE b.tenant_id > after_tenant), 1
            UNION ALL
            SELECT (SELECT min(b.tenant_id) FROM learning.calibration_bins b WHERE b.tenant_id > t.tenant_id), t.n + 1
              FROM t WHERE t.tenant_id IS NOT NULL AND t.n < max_tenants)
        SELECT max(t.tenant_id), count(t.tenant_id) INTO last_tenant, found_tenants FROM t;
    ELSE
        WITH RECURSIVE t(tenant_id, n) AS (
            SELECT (SELECT min(s.tenant_id) FROM learning.signals s
                     WHERE s.applied_at IS NULL AND s.tenant_id > after_tenant), 1
            UNION ALL
            SELECT (SELECT min(s.tenant_id) FROM learning.signals s
                     WHERE s.applied_at IS NULL AND s.tenant_id > t.tenant_id), t.n + 1
              FROM t WHERE t.tenant_id IS NOT NULL AND t.n < max_tenants)
        SELECT max(t.tenant_id), count(t.tenant_id) INTO last_tenant, found_tenants FROM t;
    END IF;
    more := found_tenants >= max_tenants;
END $$;
COMMENT ON FUNCTION learning.job_batch(text, text, integer) IS
    'The last tenant of a job''s next batch (at most max_tenants tenants after after_tenant that may have work), and whether more may follow';

-- learning.job_batch_tenants (a setting, read through this function so that
-- SQL and the scheduler share one default) bounds the tenants of a batch.
CREATE FUNCTION learning.job_batch_tenants() RETURNS integer
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_job_batch_tenants_sql';
COMMENT ON FUNCTION learning.job_batch_tenants() IS
    'The setting learning.job_batch_tenants: at most this many tenants per job batch, each batch its own transaction in the scheduler (default 1000)';

-- execute_job runs one batch of a job in the current transaction and records
-- it: the tenants after after_tenant, up to max_tenants of them (NULL: the
-- setting learning.job_batch_tenants).  Its result's next_after is where the
-- next batch starts, NULL when the job is done.  Each batch is one job_runs
-- row; the scheduler runs each in a transaction of its own, so a failing
-- batch is recorded and the next ones go on, and the locks and memory of a
-- transaction stay bounded however many tenants there are.
CREATE FUNCTION learning.execute_job(job_name text, run_by text, after_tenant text DEFAULT NULL,
                                     max_tenants integer DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- a row another session keeps locked fails this batch (recorded; the
    -- next batches go on) instead of stalling every job of the database
    SET lock_timeout = '10s' AS $$
DECLARE
    started timestamptz := pg_catalog.clock_timestamp();
    finished timestamptz;
    tenants text[];
    counts bigint[];
    total bigint;
    run_id bigint;
    lo text := coalesce(after_tenant, '');
    batch record;
BEGIN
    PERFORM learning.check_required('job_name', job_name IS NULL);
    IF job_name NOT IN ('immediate_signals', 'engagement_signals', 'deal_progression',
                        'expire_overdue', 'calibration_check') THEN
        RAISE EXCEPTION 'unknown job "%"', job_name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Jobs: calibration_check, deal_progression, engagement_signals, expire_overdue, immediate_signals.';
    END IF;
    max_tenants := coalesce(max_tenants, learning.job_batch_tenants());
    IF max_tenants < 1 THEN
        RAISE EXCEPTION 'max_tenants must be at least 1, got %', max_tenants USING ERRCODE = 'numeric_value_out_of_range';
    END IF;

    batch := learning.job_batch(job_name, lo, max_tenants);
    IF batch.last_tenant IS NULL THEN
        tenants := '{}';
        counts := '{}';
    ELSIF job_name = 'expire_overdue' THEN
        SELECT coalesce(array_agg(t.tenant_id), '{}'), coalesce(array_agg(t.items), '{}')
          INTO tenants, counts FROM learning.expire_overdue(lo, batch.last_tenant) t;
    ELSIF job_name = 'calibration_check' THEN
        SELECT coalesce(array_agg(t.tenant_id), '{}'), coalesce(array_agg(t.items), '{}')
          INTO tenants, counts FROM learning.calibration_check(lo, batch.last_tenant) t;
    ELSE
        SELECT coalesce(array_agg(t.tenant_id), '{}'), coalesce(array_agg(t.items), '{}')
          INTO tenants, counts FROM learning.apply_signals(job_name, lo, batch.last_tenant) t;
    END IF;
    SELECT coalesce(sum(c), 0) INTO total FROM unnest(counts) c;
    finished := pg_catalog.clock_timestamp();

    INSERT INTO learning.job_runs (job_name, started_at, finished_at, status, items, run_by)
    VALUES (execute_job.job_name, started, finished, 'succeeded', total, execute_job.run_by)
    RETURNING id INTO run_id;

    -- every tenant the batch changed hears of it (the outbox writes the event at commit)
    PERFORM learning.emit_event(t.tenant_id, 'job_completed',
                                pg_catalog.jsonb_build_object('job', job_name, 'run_id', run_id, 'items', t.items))
       FROM unnest(tenants, counts) AS t(tenant_id, items);

    -- the history and the outbox are pruned once per run, by its first batch
    IF after_tenant IS NULL THEN
        PERFORM learning.prune_job_runs();
        PERFORM learning.prune_events();
    END IF;

    RETURN pg_catalog.jsonb_build_object('job', job_name, 'run_id', run_id, 'status', 'succeeded',
                                         'items', total, 'started_at', started, 'finished_at', finished,
                                         'next_after', CASE WHEN batch.more THEN batch.last_tenant END);
END $$;
COMMENT ON FUNCTION learning.execute_job(text, text, text, integer) IS
    'Runs one batch of a job (the tenants after after_tenant, at most max_tenants) in the current transaction, records its learning.job_runs row and announces it to the tenants it changed; next_after in the result is where the next batch starts (NULL: done)';

-- SECURITY DEFINER: a job runs as the extension's owner, as when the scheduler
-- runs it (it announces its work through the outbox, which only the extension
-- writes); the caller chooses only which of the five jobs runs now.  All its
-- batches run in the caller's transaction.
CREATE OR REPLACE FUNCTION learning.run_job(job_name text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
    first jsonb;
    total bigint := 0;
    batches integer := 0;
    after text;
BEGIN
    LOOP
        r := learning.execute_job(job_name, 'run_job', after);
        first := coalesce(first, r);
        total := total + (r->>'items')::bigint;
        batches := batches + 1;
        after := r->>'next_after';
        EXIT WHEN after IS NULL;
    END LOOP;
    RETURN (r - 'next_after') || pg_catalog.jsonb_build_object('items', total, 'batches', batches,
                                                               'started_at', first->'started_at');
END $$;
COMMENT ON FUNCTION learning.run_job(text) IS
    'Runs one of the five jobs now, in the caller''s transaction and as the extension''s owner, with the same effects and job_runs rows (one per batch) as a scheduled run; returns the last batch''s run with the total items and the number of batches';


-- One check for a whole outcome row (src/validate.c): PostgreSQL reads a
-- table's check expressions anew for every statement that writes it, and the
-- write path is one statement per call.  It replaces the column checks of
-- 0.1.0 and adds the bounds of 0.2.0 (ids, cost, created_at, metadata size).
-- One call checks a whole outcome row: PostgreSQL reads a table's check
-- expressions anew for every statement that writes it, and the write path is
-- one statement per call, so one small expression costs far less than a dozen.
CREATE FUNCTION learning.check_outcome_row(tenant_id text, conversation_state_id text, rep_id text,
                                           action_type text, action_id text, predicted_confidence float8,
                                           status text, outcome_score float8, metadata jsonb, cost numeric,
                                           created_at timestamptz) RETURNS boolean
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_outcome_row_sql';
COMMENT ON FUNCTION learning.check_outcome_row(text, text, text, text, text, float8, text, float8, jsonb, numeric, timestamptz) IS
    'True, or raises the error of the first rule an outcome row breaks (the checks record_outcome and resolve_outcome make): the check of learning.outcome_records';

ALTER TABLE learning.outcome_records
    DROP CONSTRAINT outcome_records_tenant_id_check,
    DROP CONSTRAINT outcome_records_action_type_check,
    DROP CONSTRAINT outcome_records_status_check,
    DROP CONSTRAINT outcome_records_confidence_check,
    DROP CONSTRAINT outcome_records_score_check,
    DROP CONSTRAINT outcome_records_metadata_check,
    DROP CONSTRAINT outcome_records_cost_check,
    DROP CONSTRAINT outcome_records_created_at_check,
    DROP CONSTRAINT outcome_records_unscored_check,
    DROP CONSTRAINT outcome_records_escalation_trigger_check,
    ADD CONSTRAINT outcome_records_row_check
    CHECK (learning.check_outcome_row(tenant_id, conversation_state_id, rep_id, action_type, action_id,
                                      predicted_confidence, status, outcome_score, metadata, cost, created_at)) NOT VALID;

-- The write path in C (src/write_path.c): same signatures, defaults, checks,
-- messages and SQLSTATEs.
-- record_outcome and resolve_outcome are C (src/write_path.c): the hot path.
-- They check their arguments with the rules of src/validate.c and run one
-- saved statement each, as the caller.
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
    RETURNS uuid LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_record_outcome';
COMMENT ON FUNCTION learning.record_outcome(text, text, text, float8, text, text, text, jsonb, numeric, timestamptz) IS
    'Records an agent action with its predicted confidence as a pending outcome whose window ends at created_at + window(outcome_type); returns its id';

CREATE OR REPLACE FUNCTION learning.resolve_outcome(
    tenant_id text,
    outcome_id uuid,
    status text,
    outcome_score float8 DEFAULT NULL,
    signal_source text DEFAULT 'manual')
    RETURNS learning.outcome_records LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_resolve_outcome';
COMMENT ON FUNCTION learning.resolve_outcome(text, uuid, text, float8, text) IS
    'Resolves a pending outcome exactly once (positive, negative, ambiguous, expired); P0002 when unknown, 55000 when already resolved';

-- The outcome update triggers pick their rows in C (src/calibration.c,
-- src/rollups.c): a WHEN clause is read and compiled anew by every
-- statement, and resolve_outcome is a statement per call.
DROP TRIGGER outcome_records_calibrate_update ON learning.outcome_records;
DROP TRIGGER outcome_records_rollup_update ON learning.outcome_records;
CREATE TRIGGER outcome_records_calibrate_update
    AFTER UPDATE OF status ON learning.outcome_records
    FOR EACH ROW EXECUTE FUNCTION learning.outcome_calibrate();
CREATE TRIGGER outcome_records_rollup_update
    AFTER UPDATE ON learning.outcome_records
    FOR EACH ROW EXECUTE FUNCTION learning.outcome_rollup();

-- ingest_signal is C (src/write_signal.c): checks in C, one saved statement
-- as the caller; signal_job and deal_stage_rank above own the type and stage lists.
CREATE OR REPLACE FUNCTION learning.ingest_signal(
    tenant_id text,
    conversation_state_id text,
    signal_type text,
    occurred_at timestamptz DEFAULT now(),
    detail jsonb DEFAULT '{}',
    external_id text DEFAULT NULL)
    RETURNS uuid LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_ingest_signal';
COMMENT ON FUNCTION learning.ingest_signal(text, text, text, timestamptz, jsonb, text) IS
    'Stores a signal of what happened; the same (tenant_id, external_id) again returns the first id and stores nothing. The signal jobs apply it';

-- submit_feedback is C (src/write_feedback.c): checks in C with the messages
-- of the first release, one saved statement as the caller.
CREATE OR REPLACE FUNCTION learning.submit_feedback(
    tenant_id text,
    conversation_state_id text,
    target_type text,
    target_id text,
    source text,
    rating integer,
    reviewer_id text,
    reviewer_role text DEFAULT 'rep',
    comment text DEFAULT NULL,
    outcome_record_id uuid DEFAULT NULL,
    metadata jsonb DEFAULT '{}',
    feedback_id uuid DEFAULT NULL)
    RETURNS uuid LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_submit_feedback';
COMMENT ON FUNCTION learning.submit_feedback(text, text, text, text, text, integer, text, text, text, uuid, jsonb, uuid) IS
    'Records human feedback; a retry with the same feedback_id and content returns that id, with other content it is 23505';


-- learning.job_status, recreated above: its privileges as in a fresh install
-- (learning_app as on every table; not the API functions' owner).
GRANT SELECT, INSERT, UPDATE, DELETE ON learning.job_status TO learning_app;
REVOKE ALL ON learning.job_status FROM learning_definer;

-- The relay's circuit breakers are the relay's alone to write.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON learning.relay_endpoints FROM learning_app;

-- ======================================================================
-- Housekeeping.
-- ======================================================================

-- One owner per rule: the days of a period are checked by src/validate.c,
-- for SQL and for the dashboards in C alike.
-- check_days raises 22003 unless days is 1..365 (the rule of src/validate.c,
-- which the dashboards in C apply too).
CREATE OR REPLACE FUNCTION learning.check_days(days integer) RETURNS integer
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_days_sql';
COMMENT ON FUNCTION learning.check_days(integer) IS 'Returns days, or raises 22003 unless it is between 1 and 365';

-- ======================================================================
-- The checks added NOT VALID above are validated now, table by table.  Rows
-- of 0.1.0 that break one are kept: that check then stays NOT VALID (new rows
-- are checked) and a warning names it.
-- ======================================================================

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
                       OR invalid_parameter_value OR numeric_value_out_of_range THEN
            RAISE WARNING 'rows of table "%" break the new check "%"; it stays NOT VALID (new rows are checked)', c.rel, c.conname
                USING HINT = pg_catalog.format('Fix the rows, then ALTER TABLE %s VALIDATE CONSTRAINT %I.', c.rel, c.conname);
        END;
    END LOOP;
END $validate$;

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

NOTIFY pgrst, 'reload schema';

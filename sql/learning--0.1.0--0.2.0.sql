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



-- ======================================================================
-- Housekeeping.
-- ======================================================================


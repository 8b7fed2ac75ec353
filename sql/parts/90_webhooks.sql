------------------------------------------------------------------------------
-- Section: the event relay: webhooks and the SSE feed
--
-- Every outbox event (learning.events) that a webhook or the SSE feed wants
-- becomes one row of learning.relay_queue, written with the events at commit
-- by the same statement (src/events.c): a delivery exists exactly when its
-- event committed, whatever order identity ids commit in.  The relay worker
-- (src/relay.c) claims due rows with FOR UPDATE SKIP LOCKED in a short
-- transaction, POSTs them with no transaction open, and records every attempt
-- in learning.webhook_deliveries in another short transaction.  A claim is a
-- lease (next_attempt_at moves past the HTTP timeout), so an attempt cut short
-- by a crash is simply made again: at-least-once, with the same event id.
--
-- Webhooks of every tenant use tenant_id '*' (not a valid tenant id, so it
-- cannot collide with one).  In the queue and the delivery log webhook_id 0 is
-- the nchan publisher of the SSE feed (learning.sse_publish_url).
------------------------------------------------------------------------------

CREATE FUNCTION learning.check_webhook_url(url text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_webhook_url_sql';
COMMENT ON FUNCTION learning.check_webhook_url(text) IS
    'Returns url, or raises 22023 naming it unless libcurl parses it as an http or https URL with a host';

-- STABLE, not IMMUTABLE: it reads learning.webhook_allow_private_networks.
-- The relay checks the address it connects to, after name resolution, at
-- every delivery (src/http.c); this only refuses literal addresses early.
CREATE FUNCTION learning.check_webhook_destination(url text) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_webhook_destination_sql';
COMMENT ON FUNCTION learning.check_webhook_destination(text) IS
    'Returns url, or raises 22023 when its host is a literal loopback, private, link-local, unspecified, multicast or reserved address (any spelling) or localhost, unless learning.webhook_allow_private_networks is on';

-- The tenant_id patterns of the two tables below mirror the tenant id rule of
-- src/validate.c (learning.check_tenant_id), with '*' for every tenant.
CREATE TABLE learning.webhooks (
    tenant_id    text        NOT NULL CHECK (tenant_id = '*' OR tenant_id ~ '^[A-Za-z0-9_.-]{1,48}$'),
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    url          text        NOT NULL,
    event_types  text[],
    secret       text        NOT NULL,
    enabled      boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhooks_id_idx ON learning.webhooks (id);
COMMENT ON TABLE learning.webhooks IS
    'Webhook subscriptions: URL, event types (NULL: all), HMAC secret; tenant_id ''*'' subscribes to every tenant';

CREATE TABLE learning.relay_queue (
    tenant_id        text        NOT NULL,
    webhook_id       bigint      NOT NULL,
    event_id         bigint      NOT NULL,
    state            text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'paused', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at       timestamptz,
    last_error       text,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, webhook_id, event_id)
);
CREATE INDEX relay_queue_webhook_idx ON learning.relay_queue (webhook_id);
COMMENT ON TABLE learning.relay_queue IS
    'Deliveries not finished yet, one per (event, webhook); webhook_id 0 is the SSE publisher; dead rows stay until the delivery retention';

CREATE TABLE learning.webhook_deliveries (
    tenant_id     text        NOT NULL,
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    webhook_id    bigint      NOT NULL,
    event_id      bigint      NOT NULL,
    attempt       integer     NOT NULL,
    status        text        NOT NULL CHECK (status IN ('delivered', 'failed', 'dead')),
    http_code     integer,
    error         text,
    duration_ms   float8      NOT NULL,
    attempted_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_deliveries_event_idx ON learning.webhook_deliveries (tenant_id, webhook_id, event_id);
CREATE INDEX webhook_deliveries_attempted_idx ON learning.webhook_deliveries (attempted_at);
COMMENT ON TABLE learning.webhook_deliveries IS
    'Every delivery attempt (failed: retried later; dead: last attempt failed; webhook_id 0: SSE publication), kept for learning.webhook_delivery_retention';

CREATE TABLE learning.sse_channels (
    tenant_id    text        NOT NULL CHECK (tenant_id ~ '^[A-Za-z0-9_.-]{1,48}$'),
    channel_key  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE learning.sse_channels IS
    'Per-tenant unguessable nchan channel id of the SSE feed; only tenants with a row get their events published';

-- random_key: 64 hex digits (244 random bits from two gen_random_uuid values).
CREATE FUNCTION learning.random_key() RETURNS text LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.translate(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', '')
$$;
COMMENT ON FUNCTION learning.random_key() IS
    'A new unguessable key: 64 hex digits carrying 244 random bits (webhook secrets, SSE channel ids)';

CREATE FUNCTION learning.create_webhook(url text, events text[] DEFAULT NULL, tenant_id text DEFAULT NULL,
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

CREATE FUNCTION learning.set_webhook_enabled(webhook_id bigint, enabled boolean) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE learning.webhooks w SET enabled = set_webhook_enabled.enabled WHERE w.id = webhook_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook % not found', webhook_id USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE learning.relay_queue q
       SET state = CASE WHEN set_webhook_enabled.enabled THEN 'pending' ELSE 'paused' END
     WHERE q.webhook_id = set_webhook_enabled.webhook_id AND q.state <> 'dead';
    RETURN enabled;
END $$;
COMMENT ON FUNCTION learning.set_webhook_enabled(bigint, boolean) IS
    'Disables (false) or enables (true) a webhook: events of its disabled time are not sent to it, its unfinished deliveries wait; P0002 when unknown';

CREATE FUNCTION learning.drop_webhook(webhook_id bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM learning.webhooks w WHERE w.id = webhook_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM learning.relay_queue q WHERE q.webhook_id = drop_webhook.webhook_id;
    RETURN true;
END $$;
COMMENT ON FUNCTION learning.drop_webhook(bigint) IS
    'Deletes a webhook and its unfinished deliveries (its delivery log stays until retention); false when unknown';

CREATE FUNCTION learning.retry_dead_deliveries(webhook_id bigint DEFAULT NULL) RETURNS bigint
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

-- Per webhook, and for the SSE publisher (webhook_id 0): what is waiting, what
-- died, how the last day went, and how the latest attempt ended.  Columns are
-- only ever appended (upgrades replace the view in place).
CREATE VIEW learning.webhook_status AS
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

-- SSE channels ---------------------------------------------------------------

CREATE FUNCTION learning.sse_channel(tenant_id text) RETURNS text LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key text;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    SELECT c.channel_key INTO key FROM learning.sse_channels c WHERE c.tenant_id = sse_channel.tenant_id;
    IF key IS NULL THEN
        INSERT INTO learning.sse_channels AS c (tenant_id, channel_key)
        VALUES (sse_channel.tenant_id, learning.random_key())
        ON CONFLICT ON CONSTRAINT sse_channels_pkey DO UPDATE SET channel_key = c.channel_key
        RETURNING c.channel_key INTO key;
    END IF;
    RETURN key;
END $$;
COMMENT ON FUNCTION learning.sse_channel(text) IS
    'The tenant''s unguessable nchan channel id, created on first use; the relay publishes the tenant''s events to it from then on';

CREATE FUNCTION learning.rotate_sse_channel(tenant_id text) RETURNS text LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key text := learning.random_key();
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    INSERT INTO learning.sse_channels AS c (tenant_id, channel_key) VALUES (rotate_sse_channel.tenant_id, key)
    ON CONFLICT ON CONSTRAINT sse_channels_pkey DO UPDATE SET channel_key = excluded.channel_key, created_at = pg_catalog.now();
    RETURN key;
END $$;
COMMENT ON FUNCTION learning.rotate_sse_channel(text) IS
    'Gives the tenant a new SSE channel id (after a leak); subscribers of the old one receive nothing more';

-- The HTTP endpoint (PostgREST: POST /rpc/sse_channel).  Same conventions as
-- the other learning_api functions (80_api.sql): the tenant and role come from
-- the token through learning.api_context (401 without a valid token), the
-- function runs as learning_definer, and row-level security on
-- learning.sse_channels lets it reach the claim tenant's row only.
CREATE FUNCTION learning_api.sse_channel() RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx record;
    key text;
BEGIN
    ctx := learning.api_context(ARRAY['rep', 'manager', 'executive', 'service']);
    key := learning.sse_channel(ctx.tenant_id);
    RETURN jsonb_build_object('tenant_id', ctx.tenant_id, 'channel', key, 'path', '/sub/' || key);
END $$;
COMMENT ON FUNCTION learning_api.sse_channel() IS
$$The SSE stream address of your tenant
POST /rpc/sse_channel -> {tenant_id, channel, path}: subscribe with GET <nchan server><path> and Accept: text/event-stream (EventSource). Every event of the token's tenant arrives there as JSON {id, tenant_id, event_type, created_at, payload}; catch up with /rpc/events_since. 401 without a valid token.$$;

REVOKE ALL ON FUNCTION learning_api.sse_channel() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning_api.sse_channel()
    TO learning_rep, learning_manager, learning_executive, learning_service;
ALTER FUNCTION learning_api.sse_channel() OWNER TO learning_definer;
-- Webhooks are the extension owner's: a subscription of every tenant sees
-- every tenant's events, and the relay that POSTs them is a superuser.
REVOKE ALL ON FUNCTION learning.create_webhook(text, text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.set_webhook_enabled(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.drop_webhook(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.retry_dead_deliveries(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.check_webhook_destination(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.sse_channel(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.rotate_sse_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning.sse_channel(text) TO learning_definer;
GRANT SELECT, INSERT, UPDATE ON learning.sse_channels TO learning_definer;
ALTER TABLE learning.sse_channels ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY sse_channels_tenant_select ON learning.sse_channels FOR SELECT TO learning_definer
    USING (tenant_id = (SELECT learning.api_tenant(learning.api_claims())));
CREATE POLICY sse_channels_tenant_insert ON learning.sse_channels FOR INSERT TO learning_definer
    WITH CHECK (tenant_id = (SELECT learning.api_tenant(learning.api_claims())));
CREATE POLICY sse_channels_tenant_update ON learning.sse_channels FOR UPDATE TO learning_definer
    USING (tenant_id = (SELECT learning.api_tenant(learning.api_claims())))
    WITH CHECK (tenant_id = (SELECT learning.api_tenant(learning.api_claims())));
CREATE POLICY sse_channels_sql_api ON learning.sse_channels FOR ALL TO learning_app USING (true) WITH CHECK (true);

-- Enqueueing: in the transaction that inserts the events ------------------------

-- The queue rows are written at commit by the outbox writer (as the bootstrap
-- superuser, src/events.c), which also wakes the relay in C; this SQL form is
-- for the extension's owner only.
CREATE FUNCTION learning.relay_wake() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_relay_wake_sql';
COMMENT ON FUNCTION learning.relay_wake() IS
    'Makes the commit of the current transaction wake the database''s relay worker (the outbox write calls it when it queues deliveries)';

-- The queue rows are written by the same statement that writes the events at
-- commit (src/events.c), not by a trigger on learning.events.

-- Any row queued or made due again (by the outbox write, retry_dead_deliveries,
-- a webhook enabled again) wakes the relay at commit, or has the launcher start
-- one: relays run only while there is work.  A row trigger, so that the outbox
-- write of a commit that queues nothing (no webhook, no feed) wakes nobody.
CREATE FUNCTION learning.relay_queue_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'learning_relay_queue_changed';
COMMENT ON FUNCTION learning.relay_queue_changed() IS
    'Row trigger of learning.relay_queue: a row queued or due again makes the commit wake the database''s relay worker, or have the launcher start one';
REVOKE ALL ON FUNCTION learning.relay_queue_changed() FROM PUBLIC;
CREATE TRIGGER relay_queue_wake AFTER INSERT OR UPDATE ON learning.relay_queue
    FOR EACH ROW EXECUTE FUNCTION learning.relay_queue_changed();
COMMENT ON TRIGGER relay_queue_wake ON learning.relay_queue IS
    'Rows queued or due again: wake the relay at commit';

-- What the relay worker runs ------------------------------------------------

-- Fairness.  A delivery goes out only while its endpoint has a free
-- in-flight slot (at most two, one while its circuit is half-open) and its
-- circuit is closed.  An endpoint whose attempts fail without an answer
-- (timeout, refused connection, 5xx, 429) opens its circuit: none of its
-- deliveries is tried until open_until, then one probe; the pause doubles
-- with every consecutive failure, and the first answer closes it.  Claims
-- take the oldest due row of every endpoint before the second row of any,
-- endpoints with a closed circuit first, so a thousand rows queued for a dead
-- endpoint never stand before a healthy endpoint's one.

CREATE TABLE learning.relay_endpoints (
    webhook_id   bigint      PRIMARY KEY,
    failures     integer     NOT NULL CHECK (failures > 0),
    open_until   timestamptz NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE learning.relay_endpoints IS
    'Circuit breaker of the relay: one row per endpoint (webhook id, 0: SSE publisher) whose latest attempts failed; none of its deliveries is tried before open_until';

CREATE INDEX relay_queue_webhook_due_idx ON learning.relay_queue (webhook_id, next_attempt_at) WHERE state = 'pending';
COMMENT ON INDEX learning.relay_queue_webhook_due_idx IS
    'Per endpoint, its pending deliveries in due order: the relay claims round-robin by endpoint and skips whole endpoints';

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

CREATE INDEX relay_queue_claimed_idx ON learning.relay_queue (claimed_at) WHERE claimed_at IS NOT NULL;
COMMENT ON INDEX learning.relay_queue_claimed_idx IS
    'Leased deliveries: a relay that stopped mid-delivery left some, and the next relay must start at once';

REVOKE ALL ON FUNCTION learning.relay_claim(integer, bigint[], integer[], integer, bigint[], integer, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.relay_unclaim(text[], bigint[], bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.relay_note_endpoints(bigint[], boolean[], interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning.relay_next_due(boolean) FROM PUBLIC;

CREATE FUNCTION learning.relay_record(results jsonb, max_attempts integer, retry_base interval)
    RETURNS bigint LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
-- plpgsql, not sql: its plan is prepared once per relay process
DECLARE
    n bigint;
BEGIN
    WITH r AS (
        SELECT r.*, CASE WHEN r.ok THEN 'delivered'
                         WHEN r.retry AND r.attempt < max_attempts THEN 'failed'
                         ELSE 'dead' END AS status
          FROM pg_catalog.jsonb_to_recordset(results) AS r(tenant_id text, webhook_id bigint, event_id bigint,
               attempt integer, http_code integer, error text, duration_ms float8, started double precision,
               ok boolean, retry boolean)
    ), logged AS (
        INSERT INTO learning.webhook_deliveries (tenant_id, webhook_id, event_id, attempt, status, http_code, error,
                                                 duration_ms, attempted_at)
        SELECT r.tenant_id, r.webhook_id, r.event_id, r.attempt, r.status, r.http_code, r.error, r.duration_ms,
               pg_catalog.to_timestamp(r.started)
          FROM r
    ), delivered AS (
        DELETE FROM learning.relay_queue q USING r
         WHERE q.tenant_id = r.tenant_id AND q.webhook_id = r.webhook_id AND q.event_id = r.event_id
           AND r.status = 'delivered'
    ), retried AS (
        UPDATE learning.relay_queue q
           SET attempts = r.attempt, claimed_at = NULL, last_error = r.error,
               state = CASE WHEN r.status = 'dead' THEN 'dead' WHEN q.state = 'paused' THEN 'paused' ELSE 'pending' END,
               next_attempt_at = pg_catalog.now()
                   + LEAST(retry_base * pg_catalog.power(2, r.attempt - 1), interval '1 hour')
                     * (1 + 0.1 * pg_catalog.random())
          FROM r
         WHERE q.tenant_id = r.tenant_id AND q.webhook_id = r.webhook_id AND q.event_id = r.event_id
           AND r.status <> 'delivered'
    )
    SELECT count(*) INTO n FROM r;
    RETURN n;
END $$;
COMMENT ON FUNCTION learning.relay_record(jsonb, integer, interval) IS
    'Relay worker: logs attempts (a JSON array of results), deletes delivered deliveries, reschedules failed ones with exponential backoff, marks exhausted ones dead';

CREATE FUNCTION learning.relay_release_claims() RETURNS bigint LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    WITH r AS (
        UPDATE learning.relay_queue q SET claimed_at = NULL, next_attempt_at = pg_catalog.now()
         WHERE q.claimed_at IS NOT NULL AND q.state = 'pending'
        RETURNING 1
    )
    SELECT count(*) FROM r
$$;
COMMENT ON FUNCTION learning.relay_release_claims() IS
    'Relay worker start: deliveries a previous relay process had in flight are due again now (at-least-once after a crash)';

CREATE FUNCTION learning.relay_maintain(retention interval, sse_on boolean) RETURNS bigint
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

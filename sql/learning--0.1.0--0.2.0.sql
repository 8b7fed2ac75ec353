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



-- ======================================================================
-- Coaching and calibration: false-discovery control and exact tests.
-- ======================================================================



-- ======================================================================
-- Pictures: reliability diagram and the manager's page.
-- ======================================================================



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
    'Statement trigger of learning.relay_queue: the commit wakes the database''s relay worker, or has the launcher start one';
REVOKE ALL ON FUNCTION learning.relay_queue_changed() FROM PUBLIC;
CREATE TRIGGER relay_queue_wake AFTER INSERT OR UPDATE ON learning.relay_queue
    FOR EACH STATEMENT EXECUTE FUNCTION learning.relay_queue_changed();
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



-- ======================================================================
-- Housekeeping.
-- ======================================================================


------------------------------------------------------------------------------
-- Section: events: the outbox
------------------------------------------------------------------------------

CREATE TABLE learning.events (
    tenant_id   text        NOT NULL,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    event_type  text        NOT NULL CHECK (event_type IN ('outcome_recorded', 'outcome_resolved',
                                'feedback_recorded', 'calibration_adjusted', 'job_completed')),
    payload     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE learning.events IS 'Outbox of events worth showing live, kept for learning.event_retention';
CREATE INDEX events_created_idx ON learning.events (created_at);

-- Events are collected in transaction memory and written at commit (src/events.c):
-- one event per tenant and event type per transaction, with the count, the
-- count per status and the first 20 rows.  A transaction's events of one
-- tenant get their ids while it holds that tenant's outbox lock (or, past 32
-- tenants, the database-wide one), taken just before commit and shared among
-- writers, and learning.events_since waits for those holders before it reads.
-- So a reader never sees id N+1 committed while id N can still commit:
-- catching up by after_id never leaves a gap, and never repeats an event.  At
-- commit each tenant with events gets exactly one NOTIFY on channel
-- "learning:<tenant_id>", unless the notification queue is over half full.
CREATE FUNCTION learning.emit_event(tenant_id text, event_type text, payload jsonb DEFAULT '{}')
    RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_emit_event';
COMMENT ON FUNCTION learning.emit_event(text, text, jsonb) IS
    'Internal: adds an item to the transaction''s event of that tenant and type (written and announced at commit, dropped on rollback); returns how many rows that event counts so far';

CREATE FUNCTION learning.events_since(tenant_id text, after_id bigint, max integer DEFAULT 1000)
    RETURNS SETOF learning.events LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_events_since';
COMMENT ON FUNCTION learning.events_since(text, bigint, integer) IS
    'The tenant''s committed events with id > after_id in id order (at most max, 1-10000), without gaps: resume with the last id seen; needs READ COMMITTED';

CREATE FUNCTION learning.prune_events() RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (
        DELETE FROM learning.events e
         WHERE e.created_at < pg_catalog.now()
               - coalesce(nullif(pg_catalog.current_setting('learning.event_retention', true), ''), '3d')::interval
        RETURNING 1)
    SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION learning.prune_events() IS
    'Deletes outbox events older than learning.event_retention (default 3 days); the jobs call it';

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

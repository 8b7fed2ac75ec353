------------------------------------------------------------------------------
-- Section: last words of the install script
--
-- Privileges that must cover every table of schema learning, whichever part
-- created it: the API functions' owner reads them (dashboards, analytics), and
-- learning_app (trusted non-superuser callers of the SQL API) uses them all.
-- Then PostgREST reloads its schema cache (without it, new or changed API
-- objects answer PGRST202/404 until PostgREST restarts).  Every upgrade script
-- ends the same way.
------------------------------------------------------------------------------

GRANT SELECT ON ALL TABLES IN SCHEMA learning TO learning_definer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA learning TO learning_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA learning TO learning_definer, learning_app;
-- The API functions never read webhook secrets, deliveries or job history.
REVOKE SELECT ON learning.webhooks, learning.relay_queue, learning.webhook_deliveries, learning.job_runs
    FROM learning_definer;
-- Nor the relay's circuit breakers.
REVOKE SELECT ON learning.relay_endpoints FROM learning_definer;
-- The relay's circuit breakers are the relay's alone to write.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON learning.relay_endpoints FROM learning_app;
-- Events are written only by the outbox writer at commit (emit_event): a row
-- inserted by hand would get no delivery, no NOTIFY and no place in the
-- commit order events_since relies on.  The jobs prune it, as the
-- extension's owner.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON learning.events FROM learning_app;
-- The counters are derived data: the extension writes them from the rows of
-- its own tables (row triggers, written at commit), and its jobs write the
-- job history.  No role writes them by hand, so they always equal the rows.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON learning.calibration_bins, learning.outcome_rollups,
    learning.daily_totals, learning.conversation_days, learning.conversation_last,
    learning.conversation_coverage, learning.feedback_rollups, learning.job_runs
    FROM learning_app, learning_definer;
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
-- Nor do the API functions read the webhook status (URLs of every tenant)
-- or the job status (job history), views that read with their owner's rights.
REVOKE SELECT ON learning.webhook_status, learning.job_status FROM learning_definer;

-- pg_dump keeps the webhook subscriptions and the SSE channel keys, and the
-- identity sequences of the dumped tables and of the outbox, so that ids go
-- on after a restore: a client resuming events_since after id N sees the new
-- events, none below N.  The outbox rows and the deliveries still due are not
-- carried over (restoring the outcomes writes events of its own, which would
-- take the ids of dumped ones).
SELECT pg_catalog.pg_extension_config_dump('learning.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('learning.sse_channels', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('learning.calibration_adjustments', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('learning.events', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('learning.webhooks', 'id'), '');

NOTIFY pgrst, 'reload schema';

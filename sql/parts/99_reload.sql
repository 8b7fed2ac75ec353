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
-- Events are written only by the outbox writer at commit (emit_event): a row
-- inserted by hand would get no delivery, no NOTIFY and no place in the
-- commit order events_since relies on.  Pruning deletes old ones.
REVOKE INSERT, UPDATE ON learning.events FROM learning_app;

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

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

NOTIFY pgrst, 'reload schema';

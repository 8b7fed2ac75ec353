-- The extension installs with its two schemas; test helpers used by later files.
CREATE EXTENSION learning;
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'learning';
SELECT nspname FROM pg_namespace WHERE nspname IN ('learning', 'learning_api') ORDER BY 1;

-- err(sql): runs sql and shows "SQLSTATE: message" of its error (or 'no error');
-- uuids in messages are masked so that outputs are stable.
CREATE FUNCTION public.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g');
END $$;

-- Every function of the extension has a comment.
SELECT p.oid::regprocedure AS uncommented
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'learning'
 WHERE obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1;

-- Every table has tenant_id, and every key starts with it: data moves with
-- its tenant.  (The relay's circuit breakers are its local state about
-- endpoints, not tenant data: they stay with the database.)
SELECT c.relname AS table_without_tenant_id
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'learning' AND c.relkind = 'r' AND c.relname <> 'relay_endpoints'
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
 ORDER BY 1;
SELECT con.conname AS key_not_led_by_tenant
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'learning' AND con.contype IN ('p', 'u', 'f') AND c.relname <> 'relay_endpoints'
   AND (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = con.conkey[1]) <> 'tenant_id'
 ORDER BY 1;

-- Every PL/pgSQL function, and every SQL function that cannot be inlined, pins
-- its search_path, so that a look-alike function or operator planted in a
-- schema on the caller's path (public) is never called.  (The inlinable
-- IMMUTABLE/STABLE SQL helpers are planned inside their pinned callers.)
SELECT p.oid::regprocedure AS unpinned
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
 WHERE n.nspname IN ('learning', 'learning_api')
   AND (l.lanname = 'plpgsql' OR (l.lanname = 'sql' AND p.provolatile = 'v'))
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY 1;

-- learning extension install script (assembled from sql/parts/*.sql by the Makefile).
-- Every section below owns one concern; every function carries a COMMENT ON.

\echo Use "CREATE EXTENSION learning" to load this file. \quit

-- A schema made beforehand by another role would let that role replace or
-- drop what this script creates in it (an owner may drop anything in its
-- schema), and the workers run as superuser: refuse it.
DO $owners$
DECLARE
    bad text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('"%s" (owner "%s")', n.nspname, r.rolname), ', ') INTO bad
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
     WHERE n.nspname IN ('learning', 'learning_api') AND NOT r.rolsuper;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'the extension''s schemas must be owned by a superuser: %', bad
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The extension runs code as a superuser from these schemas.',
                  HINT = 'Drop the schema, or ALTER SCHEMA ... OWNER TO a superuser, then create the extension.';
    END IF;
END $owners$;

CREATE SCHEMA IF NOT EXISTS learning_api;
COMMENT ON SCHEMA learning IS 'learning: outcomes, signals, feedback, calibration, coaching and dashboards for AI sales agents';
COMMENT ON SCHEMA learning_api IS 'learning: the HTTP surface served by PostgREST (db-schemas = learning_api)';

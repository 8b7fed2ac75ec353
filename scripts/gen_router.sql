-- scripts/gen_router.sql: writes sql/router/50_api.sql, the routed functions
-- of learning_router, from the catalog of a database where the learning
-- extension is installed (any scratch database will do):
--
--   psql -XAtq -d <database with learning> -f scripts/gen_router.sql > sql/router/50_api.sql
--
-- Run it again whenever learning's SQL API changes (the drift test,
-- sql-tests/scenarios/router_drift.sh, fails until then).  For every function
-- chosen by scripts/router_api.sql it writes, in schema learning, a function
-- with the same name, arguments (names, types, defaults) and result (all
-- VOLATILE: PL/Proxy requires it), run by PL/Proxy on the shard of its tenant_id; functions that
-- span tenants run on every shard and combine the answers.  The composite
-- types the functions return (table row types on a shard) are declared as
-- types.  EXECUTE is granted as on the shard: to PUBLIC where PUBLIC may run
-- the shard's function, otherwise to no one but superusers.

\i scripts/router_api.sql

WITH api AS (
    SELECT a.*, p.prorettype, p.proretset, p.provolatile,
           pg_catalog.pg_get_function_arguments(p.oid) AS args,
           pg_catalog.pg_get_function_identity_arguments(p.oid) AS idargs,
           pg_catalog.pg_get_function_result(p.oid) AS result,
           'VOLATILE'::text AS volatility,   -- PL/Proxy functions must be volatile
           (SELECT string_agg('$' || i, ', ' ORDER BY i) FROM generate_series(1, p.pronargs) i) AS positional,
           array_position(p.proargnames, 'tenant_id') AS tenant_pos,
           EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
                    WHERE x.grantee = 0 AND x.privilege_type = 'EXECUTE') AS public_exec,
           coalesce(obj_description(p.oid, 'pg_proc'), '') AS shard_comment
      FROM router_api a JOIN pg_catalog.pg_proc p ON p.oid = a.oid
),
types AS (
    SELECT DISTINCT t.oid, t.typname, t.typrelid
      FROM api, pg_catalog.pg_type t
     WHERE t.oid = api.prorettype AND t.typrelid <> 0 AND t.typnamespace = 'learning'::regnamespace
),
type_sql AS (
    SELECT t.typname,
           format(E'CREATE TYPE learning.%I AS (\n%s\n);\nCOMMENT ON TYPE learning.%I IS %L;\n',
                  t.typname,
                  (SELECT string_agg(format('    %I %s', a.attname, format_type(a.atttypid, a.atttypmod)), E',\n' ORDER BY a.attnum)
                     FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
                  t.typname,
                  'Row of learning.' || t.typname || ' as a shard returns it') AS sql
      FROM types t
),
fn AS (
    SELECT a.*,
           format('learning.%I(%s)', a.proname, a.idargs) AS sig,
           regexp_replace(a.result, '^SETOF ', '') AS base_result,
           a.proretset AS setof
      FROM api a
),
fn_sql AS (
    SELECT f.proname, f.idargs,
           CASE f.routing
           WHEN 'tenant' THEN
               format(E'CREATE FUNCTION learning.%I(%s)\n    RETURNS %s LANGUAGE plproxy %s AS $$\n'
                      || E'    CLUSTER learning_router.cluster_of(tenant_id);\n    RUN ON hashtext(tenant_id);\n$$;\n',
                      f.proname, f.args, f.result, f.volatility)
           ELSE
               -- the per-tenant variant (tenant_or_all), the all-shards variant, the dispatcher
               CASE WHEN f.routing = 'tenant_or_all' THEN
                   format(E'CREATE FUNCTION learning_router.%I(%s)\n    RETURNS %s LANGUAGE plproxy %s AS $$\n'
                          || E'    CLUSTER learning_router.cluster_of(tenant_id);\n    RUN ON hashtext(tenant_id);\n    TARGET learning.%I;\n$$;\n'
                          || E'COMMENT ON FUNCTION learning_router.%I(%s) IS %L;\n',
                          f.proname || '__one', f.args, f.result, f.volatility, f.proname,
                          f.proname || '__one', f.idargs, 'learning.' || f.proname || ' on the shard of one tenant')
               ELSE '' END
               || format(E'CREATE FUNCTION learning_router.%I(%s)\n    RETURNS SETOF %s LANGUAGE plproxy %s AS $$\n'
                         || E'    CLUSTER learning_router.cluster_all();\n    RUN ON ALL;\n    TARGET learning.%I;\n$$;\n'
                         || E'COMMENT ON FUNCTION learning_router.%I(%s) IS %L;\n',
                         f.proname || '__all', f.args, f.base_result, f.volatility, f.proname,
                         f.proname || '__all', f.idargs, 'learning.' || f.proname || ' on every shard, one answer per shard')
               || format(E'CREATE FUNCTION learning.%I(%s)\n    RETURNS %s LANGUAGE plpgsql %s\n    SET search_path = pg_catalog, pg_temp AS $$\nBEGIN\n%s%s\nEND $$;\n',
                         f.proname, f.args, f.result, f.volatility,
                         CASE WHEN f.routing = 'tenant_or_all' THEN
                             format(E'    IF $%s IS NOT NULL THEN\n        %s;\n%s    END IF;\n', f.tenant_pos,
                                    CASE WHEN f.setof
                                         THEN format('RETURN QUERY SELECT * FROM learning_router.%I(%s)', f.proname || '__one', f.positional)
                                         ELSE format('RETURN learning_router.%I(%s)', f.proname || '__one', f.positional) END,
                                    CASE WHEN f.setof THEN E'        RETURN;\n' ELSE '' END)
                         ELSE '' END,
                         CASE WHEN f.setof THEN
                                  format('    RETURN QUERY SELECT * FROM learning_router.%I(%s) r%s;', f.proname || '__all', f.positional,
                                         coalesce(' ORDER BY ' || f.all_order, ''))
                              WHEN f.base_result = 'jsonb' THEN
                                  format('    RETURN learning_router.combine_jsonb(ARRAY(SELECT learning_router.%I(%s)));', f.proname || '__all', f.positional)
                              ELSE
                                  format('    RETURN learning_router.combine_scalar(ARRAY(SELECT learning_router.%I(%s)));', f.proname || '__all', f.positional)
                         END)
           END
           || format(E'COMMENT ON FUNCTION %s IS %L;\n', f.sig,
                     CASE f.routing WHEN 'tenant' THEN 'Routed to the tenant''s shard: '
                                    WHEN 'tenant_or_all' THEN 'Routed to the tenant''s shard, to every shard when tenant_id is NULL: '
                                    ELSE 'Run on every shard, answers combined: ' END || f.shard_comment)
           || CASE WHEN f.public_exec THEN ''
                   ELSE format(E'REVOKE ALL ON FUNCTION %s FROM PUBLIC;\n', f.sig)
                        || CASE WHEN f.routing = 'tenant_or_all'
                                THEN format(E'REVOKE ALL ON FUNCTION learning_router.%I(%s) FROM PUBLIC;\n', f.proname || '__one', f.idargs)
                                ELSE '' END
                        || CASE WHEN f.routing <> 'tenant'
                                THEN format(E'REVOKE ALL ON FUNCTION learning_router.%I(%s) FROM PUBLIC;\n', f.proname || '__all', f.idargs)
                                ELSE '' END
              END AS sql
      FROM fn f
)
SELECT '-- learning_router: the routed learning API.  GENERATED by scripts/gen_router.sql'
    || E'\n-- from the catalog of a database with learning installed; do not edit, regenerate.'
    || E'\n-- Every function keeps the name, arguments, defaults and result it has on'
    || E'\n-- a shard; all are VOLATILE (PL/Proxy requires it).' || E'\n\n'
    || E'-- ======================================================================\n'
    || E'-- Row types the routed functions return.\n'
    || E'-- ======================================================================\n\n'
    || coalesce((SELECT string_agg(sql, E'\n' ORDER BY typname) FROM type_sql), '')
    || E'\n-- ======================================================================\n'
    || E'-- Routed functions.\n'
    || E'-- ======================================================================\n\n'
    || (SELECT string_agg(sql, E'\n' ORDER BY proname, idargs) FROM fn_sql);

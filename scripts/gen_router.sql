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

\ir router_api.sql

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
                      || E'    CLUSTER learning_router.cluster_of(tenant_id);\n    RUN ON pg_catalog.hashtext(tenant_id);\n$$;\n',
                      f.proname, f.args, f.result, f.volatility)
           ELSE
               -- the per-tenant variant (tenant_or_all), the all-shards variant, the dispatcher
               CASE WHEN f.routing = 'tenant_or_all' THEN
                   format(E'CREATE FUNCTION learning_router.%I(%s)\n    RETURNS %s LANGUAGE plproxy %s AS $$\n'
                          || E'    CLUSTER learning_router.cluster_of(tenant_id);\n    RUN ON pg_catalog.hashtext(tenant_id);\n    TARGET learning.%I;\n$$;\n'
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

-- ---------------------------------------------------------------------------
-- The HTTP API (schema learning_api, for PostgREST) on the router: the
-- shard's functions copied as they are (same bodies, owner, grants: they
-- check the token's role and claims here and call the routed learning.*
-- functions with the claimed tenant), the request-context helpers they call
-- (learning.api_*), the roles, and each view as a view over the rows of the
-- claimed tenant fetched from its shard.
-- ---------------------------------------------------------------------------
WITH api_fns AS (
    SELECT p.oid, p.proname, n.nspname, p.proowner, p.proacl
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE (n.nspname = 'learning_api' OR (n.nspname = 'learning' AND p.proname LIKE 'api\_%'))
       AND p.prokind = 'f'
),
views AS (
    SELECT c.oid, c.relname, c.relacl
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'learning_api'::regnamespace AND c.relkind = 'v'
),
roles AS (
    SELECT DISTINCT r.rolname
      FROM pg_catalog.pg_roles r
     WHERE r.oid IN (SELECT proowner FROM api_fns)
        OR r.oid IN (SELECT x.grantee FROM api_fns, aclexplode(api_fns.proacl) x)
        OR r.oid IN (SELECT x.grantee FROM views, aclexplode(views.relacl) x)
        OR r.oid IN (SELECT x.grantee FROM pg_catalog.pg_namespace n, aclexplode(n.nspacl) x WHERE n.nspname = 'learning_api')
),
grants AS (  -- GRANT statements mirroring an ACL, PUBLIC and the owner left out
    SELECT f.oid, string_agg(format(E'GRANT EXECUTE ON FUNCTION %s TO %I;\n', f.oid::regprocedure, r.rolname), '' ORDER BY r.rolname) AS sql
      FROM api_fns f, aclexplode(f.proacl) x, pg_catalog.pg_roles r
     WHERE r.oid = x.grantee AND x.grantee <> f.proowner AND x.privilege_type = 'EXECUTE'
     GROUP BY f.oid
),
fn_sql AS (
    SELECT f.nspname, f.proname, f.oid,
           rtrim(pg_catalog.pg_get_functiondef(f.oid), E'\n') || E';\n'
           -- the installing superuser owns the rest; API roles own the definer functions
           || coalesce((SELECT format(E'ALTER FUNCTION %s OWNER TO %I;\n', f.oid::regprocedure, r.rolname)
                          FROM pg_roles r WHERE r.oid = f.proowner AND NOT r.rolsuper), '')
           || coalesce(format(E'COMMENT ON FUNCTION %s IS %L;\n', f.oid::regprocedure, obj_description(f.oid, 'pg_proc')), '')
           || CASE WHEN has_function_privilege('public', f.oid, 'EXECUTE') THEN ''
                   ELSE format(E'REVOKE ALL ON FUNCTION %s FROM PUBLIC;\n', f.oid::regprocedure) END
           || coalesce(g.sql, '') AS sql
      FROM api_fns f LEFT JOIN grants g ON g.oid = f.oid
),
view_sql AS (
    SELECT v.relname,
           format(E'CREATE TYPE learning_router.%I AS (\n%s\n);\n', 'api_' || v.relname || '_row',
                  (SELECT string_agg(format('    %I %s', a.attname, format_type(a.atttypid, a.atttypmod)), E',\n' ORDER BY a.attnum)
                     FROM pg_attribute a WHERE a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped))
           || format(E'COMMENT ON TYPE learning_router.%I IS %L;\n', 'api_' || v.relname || '_row', 'A row of view learning_api.' || v.relname)
           || format(E'CREATE FUNCTION learning_router.%I(i_tenant_id text)\n    RETURNS SETOF learning_router.%I LANGUAGE plproxy VOLATILE AS $$\n'
                     || E'    CLUSTER learning_router.cluster_of(i_tenant_id);\n    RUN ON pg_catalog.hashtext(i_tenant_id);\n'
                     || E'    SELECT * FROM (%s) v WHERE v.tenant_id = i_tenant_id;\n$$;\n',
                     'api_' || v.relname || '_of', 'api_' || v.relname || '_row',
                     btrim(rtrim(btrim(pg_catalog.pg_get_viewdef(v.oid), E' \n'), ';')))
           || format(E'COMMENT ON FUNCTION learning_router.%I(text) IS %L;\n', 'api_' || v.relname || '_of',
                     'The rows view learning_api.' || v.relname || ' shows a tenant, read on its shard')
           || format(E'REVOKE ALL ON FUNCTION learning_router.%I(text) FROM PUBLIC;\n', 'api_' || v.relname || '_of')
           || format(E'GRANT EXECUTE ON FUNCTION learning_router.%I(text) TO learning_definer;\n', 'api_' || v.relname || '_of')
           || format(E'CREATE FUNCTION learning_router.%I()\n    RETURNS SETOF learning_router.%I LANGUAGE plpgsql STABLE SECURITY DEFINER\n'
                     || E'    SET search_path = pg_catalog, pg_temp AS $$\nBEGIN\n'
                     || E'    RETURN QUERY SELECT * FROM learning_router.%I((learning.api_context(ARRAY[''rep'', ''manager'', ''executive'', ''service''])).tenant_id);\nEND $$;\n',
                     'api_' || v.relname, 'api_' || v.relname || '_row', 'api_' || v.relname || '_of')
           || format(E'ALTER FUNCTION learning_router.%I() OWNER TO learning_definer;\n', 'api_' || v.relname)
           || format(E'REVOKE ALL ON FUNCTION learning_router.%I() FROM PUBLIC;\n', 'api_' || v.relname)
           || coalesce((SELECT string_agg(format(E'GRANT EXECUTE ON FUNCTION learning_router.%I() TO %I;\n', 'api_' || v.relname, r.rolname), ''
                                          ORDER BY r.rolname)
                          FROM aclexplode(v.relacl) x JOIN pg_roles r ON r.oid = x.grantee
                         WHERE x.privilege_type = 'SELECT' AND NOT r.rolsuper), '')
           || format(E'COMMENT ON FUNCTION learning_router.%I() IS %L;\n', 'api_' || v.relname,
                     'The rows of view learning_api.' || v.relname || ' for the tenant of the request''s token, read on its shard')
           || format(E'CREATE VIEW learning_api.%I WITH (security_invoker = true) AS\n    SELECT * FROM learning_router.%I();\n',
                     v.relname, 'api_' || v.relname)
           -- writes reach the privilege check (42501, 403) as on a shard, not "cannot insert into view"
           || format(E'CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON learning_api.%I\n'
                     || E'    FOR EACH ROW EXECUTE FUNCTION learning_router.api_read_only();\n'
                     || E'COMMENT ON TRIGGER read_only ON learning_api.%I IS %L;\n', v.relname, v.relname,
                     'Writes through the view are refused by the privilege check (42501), as on a shard')
           || coalesce(format(E'COMMENT ON VIEW learning_api.%I IS %L;\n', v.relname, obj_description(v.oid, 'pg_class')), '')
           || coalesce((SELECT string_agg(format(E'COMMENT ON COLUMN learning_api.%I.%I IS %L;\n', v.relname, a.attname,
                                                 col_description(v.oid, a.attnum)), '' ORDER BY a.attnum)
                          FROM pg_attribute a WHERE a.attrelid = v.oid AND a.attnum > 0 AND col_description(v.oid, a.attnum) IS NOT NULL), '')
           || coalesce((SELECT string_agg(format(E'GRANT %s ON learning_api.%I TO %I;\n', x.privilege_type, v.relname, r.rolname), ''
                                          ORDER BY r.rolname, x.privilege_type)
                          FROM aclexplode(v.relacl) x JOIN pg_roles r ON r.oid = x.grantee
                         WHERE r.rolname NOT IN ('postgres') AND x.grantee <> (SELECT relowner FROM pg_class WHERE oid = v.oid)), '') AS sql
      FROM views v
)
SELECT E'\n-- ======================================================================\n'
    || E'-- HTTP API (schema learning_api, for PostgREST) on the router.\n'
    || E'-- ======================================================================\n\n'
    || E'-- The roles the API uses (NOLOGIN; never dropped with the extension).\nDO $roles$\nDECLARE\n    r text;\nBEGIN\n'
    || format(E'    FOREACH r IN ARRAY %L::text[] LOOP\n', (SELECT array_agg(rolname ORDER BY rolname) FROM roles WHERE rolname <> 'postgres'))
    || E'        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN\n'
    || E'            EXECUTE pg_catalog.format(''CREATE ROLE %I NOLOGIN'', r);\n        END IF;\n'
    || E'        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r AND (rolsuper OR rolbypassrls)) THEN\n'
    || E'            RAISE EXCEPTION ''role "%" is SUPERUSER or BYPASSRLS'', r USING ERRCODE = ''42501'';\n        END IF;\n'
    || E'    END LOOP;\nEND $roles$;\n'
    || coalesce((SELECT string_agg(format(E'COMMENT ON ROLE %I IS %L;\n', r.rolname, shobj_description(r.oid, 'pg_authid')), '' ORDER BY r.rolname)
                   FROM roles JOIN pg_roles r USING (rolname)
                  WHERE r.rolname <> 'postgres' AND shobj_description(r.oid, 'pg_authid') IS NOT NULL), '')
    || E'\n'
    || E'CREATE SCHEMA learning_api;\nCOMMENT ON SCHEMA learning_api IS ' || quote_literal(coalesce(obj_description('learning_api'::regnamespace, 'pg_namespace'), 'learning HTTP API')) || E';\n'
    || E'REVOKE ALL ON SCHEMA learning_api FROM PUBLIC;\n'
    || coalesce((SELECT string_agg(format(E'GRANT USAGE ON SCHEMA learning_api TO %I;\n', r.rolname), '' ORDER BY r.rolname)
                   FROM pg_namespace n, aclexplode(n.nspacl) x JOIN pg_roles r ON r.oid = x.grantee
                  WHERE n.nspname = 'learning_api' AND x.privilege_type = 'USAGE' AND x.grantee <> n.nspowner), '')
    || E'GRANT USAGE ON SCHEMA learning TO learning_definer;\n\n'
    || E'-- Media types of the API''s functions (domains PostgREST reads)\n'
    || coalesce((SELECT string_agg(format(E'CREATE DOMAIN learning_api.%I AS %s;\n', t.typname,
                                          pg_catalog.format_type(t.typbasetype, t.typtypmod))
                                   || coalesce(format(E'COMMENT ON DOMAIN learning_api.%I IS %L;\n', t.typname,
                                                      obj_description(t.oid, 'pg_type')), ''), '' ORDER BY t.typname)
                   FROM pg_catalog.pg_type t
                  WHERE t.typnamespace = 'learning_api'::regnamespace AND t.typtype = 'd'), '')
    || E'\n-- Request context (copied from learning)\n'
    || (SELECT string_agg(sql, E'\n' ORDER BY proname) FROM fn_sql WHERE nspname = 'learning')
    || E'\n-- Views: the claimed tenant''s rows, read on its shard\n'
    || coalesce((SELECT string_agg(sql, E'\n' ORDER BY relname) FROM view_sql), '')
    || E'\n-- Functions (/rpc/...), copied from learning\n'
    || (SELECT string_agg(sql, E'\n' ORDER BY proname, oid::regprocedure::text) FROM fn_sql WHERE nspname = 'learning_api')
    || E'\nNOTIFY pgrst, ''reload schema'';\n';

-- ---------------------------------------------------------------------------
-- Who may run the routed functions: the roles the shard grants them to (a
-- member of learning_app calls the SQL API; learning_definer, the owner of
-- the HTTP API's functions, calls what they call).
-- ---------------------------------------------------------------------------
WITH routed AS (
    SELECT p.oid, p.proowner, p.proacl FROM router_api a JOIN pg_catalog.pg_proc p ON p.oid = a.oid
),
routed_grants AS (
    SELECT r.rolname, format(E'GRANT EXECUTE ON FUNCTION %s TO %I;\n', f.oid::regprocedure, r.rolname) AS sql,
           f.oid::regprocedure::text AS sig
      FROM routed f, aclexplode(f.proacl) x, pg_catalog.pg_roles r
     WHERE r.oid = x.grantee AND x.grantee <> f.proowner AND x.privilege_type = 'EXECUTE'
)
SELECT E'\n-- ======================================================================\n'
    || E'-- Who may run the routed functions: the shard''s grants.\n'
    || E'-- ======================================================================\n\n'
    || E'DO $roles$\nDECLARE\n    r text;\nBEGIN\n'
    || format(E'    FOREACH r IN ARRAY %L::text[] LOOP\n',
              coalesce((SELECT array_agg(DISTINCT rolname ORDER BY rolname) FROM routed_grants), '{}'))
    || E'        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN\n'
    || E'            EXECUTE pg_catalog.format(''CREATE ROLE %I NOLOGIN'', r);\n        END IF;\n'
    || E'    END LOOP;\nEND $roles$;\n'
    || coalesce((SELECT string_agg(sql, '' ORDER BY sig, rolname) FROM routed_grants), '');

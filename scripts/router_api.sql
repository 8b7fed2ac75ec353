-- scripts/router_api.sql: which functions of the learning extension the
-- router (learning_router) routes, read from the catalog of a database where
-- learning is installed.  Included by scripts/gen_router.sql (which writes the
-- routed functions) and by the drift test (sql-tests/scenarios/router_drift.sh),
-- so both always agree on the list.
--
-- Creates the temporary view router_api (one row per routed function):
--   routing 'tenant'         runs on the tenant's shard (RUN ON hashtext(tenant_id));
--           'tenant_or_all'  the same, and on every shard when tenant_id is NULL
--                            (its tenant_id defaults to NULL: all tenants);
--           'all'            spans tenants: runs on every shard (RUN ON ALL).
--   all_order  ORDER BY of the rows gathered from every shard, where the
--              function on a shard promises an order.
--
-- Routed: every function of schema learning with an input argument named
-- tenant_id, except the internal ones listed below (helpers the API calls,
-- trigger functions, the PostgREST request context), plus run_job.

CREATE TEMP VIEW router_internal (proname) AS VALUES
    ('check_tenant_id'),     -- input check
    ('emit_event'),          -- outbox, written by the extension only
    ('rebuild_rollups'),     -- run by set_tenant_time_zone
    ('tenant_time_zone'),    -- helper of the dashboards
    ('outcome_window'),      -- helper of record_outcome
    ('api_context'),         -- PostgREST request context (learning_api)
    ('check_outcome_row'),   -- the outcome table's check
    ('calibration_curve_window'),  -- helper of reliability_diagram
    ('svg_reliability');     -- helper of the pictures

CREATE TEMP VIEW router_spanning (proname, all_order) AS VALUES
    ('run_job', NULL::text),
    ('pending_outcomes', 'window_expires_at, tenant_id, id');

CREATE TEMP VIEW router_api AS
SELECT p.oid,
       p.proname::text AS proname,
       CASE WHEN NOT ('tenant_id' = ANY (p.proargnames[1:p.pronargs])) THEN 'all'
            WHEN pg_catalog.pg_get_function_arguments(p.oid) ~ '(^|, )tenant_id text DEFAULT NULL::text' THEN 'tenant_or_all'
            ELSE 'tenant' END AS routing,
       s.all_order
  FROM pg_catalog.pg_proc p
  LEFT JOIN router_spanning s ON s.proname = p.proname
 WHERE p.pronamespace = 'learning'::regnamespace
   AND p.prokind = 'f'
   AND p.prorettype <> 'trigger'::regtype
   AND p.proname NOT IN (SELECT proname FROM router_internal)
   AND (('tenant_id' = ANY (p.proargnames[1:p.pronargs])
         AND (p.proargmodes IS NULL
              OR p.proargmodes[array_position(p.proargnames, 'tenant_id')] IN ('i', 'b')))
        OR p.proname IN ('run_job'));


-- ======================================================================
-- Reshard: move tenants to a new shard list (e.g. 2 -> 4 shards).
-- ======================================================================
--
-- CALL learning_router.reshard(new_list) moves every tenant whose shard
-- changes (its connection string under the new list differs from the old
-- one), one tenant at a time, with dblink:
--   1. the tenant's advisory lock is taken exclusively: its routed calls
--      wait (learning_router.cluster_of) and calls in flight finish first;
--   2. on the old shard, in one REPEATABLE READ transaction, the tenant's
--      outcomes, signals and calibration state are locked (the shard's jobs
--      wait) and its rows are read: settings, windows, minutes saved,
--      outcomes, signals, feedback, calibration state and adjustments;
--   3. on the new shard, in one transaction, leftovers of an interrupted
--      attempt are deleted, the rows are inserted through the tables (the
--      extension's triggers rebuild the bins and rollups, resolved outcomes
--      included), the counts are compared with the rows read, and it commits;
--      then, in a second transaction, its webhooks (through create_webhook,
--      so that they are not sent the moved rows' announcements) and its SSE
--      channel key;
--   4. the tenant is marked copied (routed to the new list from then on),
--      its rows are deleted from the old shard, it is marked done.
-- Routing switches to the new list (server learning_shards) once every
-- tenant has moved: the last look for tenants to move and the switch run
-- with every routed call held, so a tenant created meanwhile on an old shard
-- is moved too.  An interrupted
-- reshard resumes where it stopped when called again with the same list.
-- Progress: NOTICEs, and learning_router.reshard_status.

CREATE TABLE learning_router.reshard_log (
    started_at   timestamptz NOT NULL,
    tenant_id    text        NOT NULL,
    from_shard   int         NOT NULL,
    to_shard     int         NOT NULL,
    rows_moved   jsonb,
    finished_at  timestamptz,
    PRIMARY KEY (started_at, tenant_id)
);
COMMENT ON TABLE learning_router.reshard_log IS
    'Tenants moved by finished reshards, with the rows moved per table';
SELECT pg_catalog.pg_extension_config_dump('learning_router.reshard_log', '');

CREATE VIEW learning_router.reshard_status AS
    SELECT s.started_at,
           cardinality(s.old_shards) AS old_shard_count,
           cardinality(s.new_shards) AS new_shard_count,
           count(p.tenant_id) AS tenants_to_move,
           count(p.tenant_id) FILTER (WHERE p.status = 'pending') AS pending,
           count(p.tenant_id) FILTER (WHERE p.status = 'copied') AS copied,
           count(p.tenant_id) FILTER (WHERE p.status = 'done') AS done,
           max(p.finished_at) AS last_move_at
      FROM learning_router.reshard_state s
      LEFT JOIN learning_router.reshard_progress p ON true
     GROUP BY s.started_at, s.old_shards, s.new_shards;
COMMENT ON VIEW learning_router.reshard_status IS
    'The reshard in progress: shard counts, tenants to move, how many are pending, copied and done';
REVOKE ALL ON learning_router.reshard_status, learning_router.reshard_log FROM PUBLIC;

-- The tables of a tenant, in insertion order (foreign keys), with the column
-- that locks them against the shard's jobs during the copy.
CREATE FUNCTION learning_router.tenant_tables() RETURNS TABLE (ord int, table_name text, lock_rows boolean, paged boolean)
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp AS $$
    VALUES (1, 'tenant_settings', false, false), (2, 'outcome_windows', false, false),
           (3, 'action_minutes_saved', false, false), (4, 'outcome_records', true, true),
           (5, 'signals', true, true), (6, 'feedback_entries', false, true),
           (7, 'calibration_state', true, false), (8, 'calibration_adjustments', false, true)
$$;
COMMENT ON FUNCTION learning_router.tenant_tables() IS
    'Tables holding a tenant''s own rows on a shard, in the order a move inserts them; lock_rows: locked on the old shard while copying; paged: copied in pages by id';

-- ---- dblink helpers (dblink lives in whatever schema it was installed in)

CREATE FUNCTION learning_router.dblink_schema() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'dblink'
$$;
COMMENT ON FUNCTION learning_router.dblink_schema() IS 'Schema of the dblink extension';

CREATE FUNCTION learning_router.remote_open(conn text, conninfo text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text := learning_router.dblink_schema();
    open boolean;
BEGIN
    EXECUTE format('SELECT %L = ANY (coalesce(%I.dblink_get_connections(), %L))', conn, s, '{}') INTO open;
    IF NOT open THEN
        EXECUTE format('SELECT %I.dblink_connect(%L, %L)', s, conn, conninfo);
    END IF;
END $$;
COMMENT ON FUNCTION learning_router.remote_open(text, text) IS
    'Opens the named dblink connection unless it is open';

CREATE FUNCTION learning_router.remote_close(conn text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text := learning_router.dblink_schema();
    open boolean;
BEGIN
    EXECUTE format('SELECT %L = ANY (coalesce(%I.dblink_get_connections(), %L))', conn, s, '{}') INTO open;
    IF open THEN
        EXECUTE format('SELECT %I.dblink_disconnect(%L)', s, conn);
    END IF;
END $$;
COMMENT ON FUNCTION learning_router.remote_close(text) IS 'Closes the named dblink connection if it is open';

CREATE FUNCTION learning_router.remote_exec(conn text, sql text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('SELECT %I.dblink_exec(%L, %L)', learning_router.dblink_schema(), conn, sql);
END $$;
COMMENT ON FUNCTION learning_router.remote_exec(text, text) IS 'Runs a statement on a named dblink connection';

CREATE FUNCTION learning_router.remote_value(conn text, sql text) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v text;
BEGIN
    EXECUTE format('SELECT v FROM %I.dblink(%L, %L) AS t(v text)', learning_router.dblink_schema(), conn, sql) INTO v;
    RETURN v;
END $$;
COMMENT ON FUNCTION learning_router.remote_value(text, text) IS 'The single text value a query returns on a named dblink connection';

CREATE FUNCTION learning_router.remote_values(conninfo text, sql text) RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT v FROM %I.dblink(%L, %L) AS t(v text)', learning_router.dblink_schema(), conninfo, sql);
END $$;
COMMENT ON FUNCTION learning_router.remote_values(text, text) IS 'The text values a query returns on a database (one-off connection)';

-- ---- steps of a reshard, each run in its own transaction by the procedure

-- reshard_begin: records the reshard (or finds the one to resume) and
-- creates server learning_shards_next; NULL when there is nothing to do.
CREATE FUNCTION learning_router.reshard_begin(conninfos text[]) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    list text[] := learning_router.check_conninfos(conninfos);
    cur text[] := ARRAY(SELECT conninfo FROM learning_router.server_shards('learning_shards') ORDER BY shard);
    st learning_router.reshard_state;
BEGIN
    SELECT * INTO st FROM learning_router.reshard_state;
    IF FOUND THEN
        IF st.new_shards IS DISTINCT FROM list THEN
            RAISE EXCEPTION 'another reshard is in progress'
                USING ERRCODE = '55000', DETAIL = format('It moves to %s.', st.new_shards),
                      HINT = 'Resume it by calling learning_router.reshard with that list.';
        END IF;
        RAISE NOTICE 'resuming the reshard started at %', st.started_at;
        RETURN st.started_at;
    END IF;
    IF cardinality(cur) = 0 THEN
        RAISE EXCEPTION 'no shard list to move from' USING ERRCODE = '55000',
            HINT = 'Set the first list with learning_router.set_shards.';
    END IF;
    IF cur = list THEN
        RAISE NOTICE 'the shard list is already %', list;
        RETURN NULL;
    END IF;
    INSERT INTO learning_router.reshard_state (old_shards, new_shards) VALUES (cur, list)
        RETURNING * INTO st;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = 'learning_shards_next') THEN
        DROP SERVER learning_shards_next CASCADE;
    END IF;
    PERFORM learning_router.write_server('learning_shards_next', list);
    RAISE NOTICE 'reshard from % to % shards started', cardinality(cur), cardinality(list);
    RETURN st.started_at;
END $$;
COMMENT ON FUNCTION learning_router.reshard_begin(text[]) IS
    'Reshard step: records the reshard to a new list (or finds the one to resume) and creates server learning_shards_next';

-- wait_older_transactions: waits until no other session of this database has
-- a transaction that started before the given time (as CREATE INDEX
-- CONCURRENTLY does): calls routed by a rule they read earlier are over.
CREATE FUNCTION learning_router.wait_older_transactions(since timestamptz) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    waited int := 0;
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_stat_activity a
             WHERE a.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
               AND a.pid <> pg_backend_pid() AND a.xact_start < since);
        waited := waited + 1;
        IF waited % 50 = 0 THEN
            RAISE NOTICE 'waiting for transactions that started before %', since;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
COMMENT ON FUNCTION learning_router.wait_older_transactions(timestamptz) IS
    'Waits until no other session of this database is in a transaction that started before the given time';

-- reshard_plan: adds to the progress table every tenant found on an old
-- shard whose connection string changes under the new list; returns how
-- many it added.
CREATE FUNCTION learning_router.reshard_plan() RETURNS int
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st learning_router.reshard_state;
    n_old int;
    n_new int;
    src record;
    added int := 0;
    k int;
    q text;
BEGIN
    SELECT * INTO STRICT st FROM learning_router.reshard_state;
    n_old := cardinality(st.old_shards);
    n_new := cardinality(st.new_shards);
    q := 'SELECT tenant_id FROM learning.webhooks WHERE tenant_id <> ''*'' UNION SELECT tenant_id FROM learning.sse_channels'
         || (SELECT string_agg(format(' UNION SELECT tenant_id FROM learning.%I', t.table_name), '' ORDER BY t.ord)
               FROM learning_router.tenant_tables() t);
    -- each distinct old database once; a tenant belongs where the old rule puts it
    FOR src IN SELECT DISTINCT ON (c) c AS conninfo, i - 1 AS shard
                 FROM unnest(st.old_shards) WITH ORDINALITY AS u(c, i) ORDER BY c, i LOOP
        INSERT INTO learning_router.reshard_progress (tenant_id, from_shard, to_shard)
        SELECT t, hashtext(t) & (n_old - 1), hashtext(t) & (n_new - 1)
          FROM learning_router.remote_values(src.conninfo, q) AS r(t)
         WHERE st.old_shards[(hashtext(t) & (n_old - 1)) + 1] = src.conninfo
           AND st.old_shards[(hashtext(t) & (n_old - 1)) + 1] <> st.new_shards[(hashtext(t) & (n_new - 1)) + 1]
        ON CONFLICT (tenant_id) DO NOTHING;
        GET DIAGNOSTICS k = ROW_COUNT;
        added := added + k;
    END LOOP;
    IF added > 0 THEN
        RAISE NOTICE 'reshard: % more tenants to move', added;
    END IF;
    RETURN added;
END $$;
COMMENT ON FUNCTION learning_router.reshard_plan() IS
    'Reshard step: lists the tenants found on the old shards whose shard changes under the new list; returns how many were added';

-- copy_tenant: copies a tenant's rows from its old shard to its new one,
-- verifies the counts there and commits there; leaves the old shard's
-- transaction (rows locked) open on connection learning_router_src.
CREATE FUNCTION learning_router.copy_tenant(tenant text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st learning_router.reshard_state;
    p learning_router.reshard_progress;
    tb record;
    data text;
    cols text;
    sent int;
    landed int;
    moved jsonb := '{}';
    hook record;
    -- rows per page (setting learning_router.reshard_page_rows, default 5000)
    page_rows constant int := greatest(1, coalesce(nullif(current_setting('learning_router.reshard_page_rows', true), '')::int, 5000));
    last_id text;
    n int;
BEGIN
    SELECT * INTO STRICT st FROM learning_router.reshard_state;
    SELECT * INTO STRICT p FROM learning_router.reshard_progress WHERE tenant_id = tenant;
    PERFORM learning_router.remote_close('learning_router_src');
    PERFORM learning_router.remote_close('learning_router_dst');
    PERFORM learning_router.remote_open('learning_router_src', st.old_shards[p.from_shard + 1]);
    PERFORM learning_router.remote_open('learning_router_dst', st.new_shards[p.to_shard + 1]);
    PERFORM learning_router.remote_exec('learning_router_src', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
    PERFORM learning_router.remote_exec('learning_router_dst', 'BEGIN');
    -- leftovers of an interrupted attempt (the tenant is not routed here yet)
    PERFORM learning_router.remote_exec('learning_router_dst',
        format('DELETE FROM learning.%I WHERE tenant_id = %L', t.table_name, tenant))
       FROM learning_router.tenant_tables() t ORDER BY t.ord DESC;
    FOR tb IN SELECT * FROM learning_router.tenant_tables() ORDER BY ord LOOP
        IF tb.lock_rows THEN
            PERFORM learning_router.remote_value('learning_router_src',
                format('SELECT count(*)::text FROM (SELECT 1 FROM learning.%I WHERE tenant_id = %L FOR UPDATE) l', tb.table_name, tenant));
        END IF;
        cols := learning_router.remote_value('learning_router_dst', format(
            'SELECT string_agg(quote_ident(attname), '', '' ORDER BY attnum) FROM pg_attribute
              WHERE attrelid = %L::regclass AND attnum > 0 AND NOT attisdropped AND attidentity = '''' AND attgenerated = ''''',
            'learning.' || tb.table_name));
        sent := 0;
        last_id := NULL;
        LOOP  -- pages of page_rows rows by id (small tables in one piece)
            data := learning_router.remote_value('learning_router_src', format(
                'SELECT coalesce(json_agg(r%s), ''[]'')::text FROM (SELECT * FROM learning.%I WHERE tenant_id = %L%s%s) r',
                CASE WHEN tb.paged THEN ' ORDER BY r.id' ELSE '' END, tb.table_name, tenant,
                CASE WHEN last_id IS NOT NULL THEN format(' AND id > %L', last_id) ELSE '' END,
                CASE WHEN tb.paged THEN format(' ORDER BY id LIMIT %s', page_rows) ELSE '' END));
            n := json_array_length(data::json);
            EXIT WHEN n = 0;
            PERFORM learning_router.remote_exec('learning_router_dst', format(
                'INSERT INTO learning.%I (%s) SELECT %s FROM json_populate_recordset(NULL::learning.%I, %L)',
                tb.table_name, cols, cols, tb.table_name, data));
            sent := sent + n;
            EXIT WHEN NOT tb.paged OR n < page_rows;
            last_id := (data::json -> (n - 1)) ->> 'id';
        END LOOP;
        landed := learning_router.remote_value('learning_router_dst',
            format('SELECT count(*)::text FROM learning.%I WHERE tenant_id = %L', tb.table_name, tenant))::int;
        IF landed <> sent THEN
            PERFORM learning_router.remote_exec('learning_router_dst', 'ROLLBACK');
            RAISE EXCEPTION 'tenant "%": % rows of "learning.%" read on shard %, % on shard %',
                tenant, sent, tb.table_name, p.from_shard, landed, p.to_shard USING ERRCODE = 'XX001';
        END IF;
        moved := moved || jsonb_build_object(tb.table_name, sent);
    END LOOP;
    PERFORM learning_router.remote_exec('learning_router_dst', 'COMMIT');

    -- webhooks and the SSE channel key, once the rows' announcements are queued
    PERFORM learning_router.remote_exec('learning_router_dst', 'BEGIN');
    sent := 0;
    FOR hook IN SELECT * FROM json_populate_recordset(NULL::learning_router.webhook_row,
                    learning_router.remote_value('learning_router_src', format(
                    'SELECT coalesce(json_agg(w ORDER BY id), ''[]'')::text FROM learning.webhooks w WHERE tenant_id = %L', tenant))::json) LOOP
        PERFORM learning_router.remote_value('learning_router_dst', format(
            'SELECT learning.set_webhook_enabled(learning.create_webhook(%L, %L::text[], %L, %L), %L)::text',
            hook.url, hook.event_types, tenant, hook.secret, hook.enabled));
        sent := sent + 1;
    END LOOP;
    data := learning_router.remote_value('learning_router_src', format(
        'SELECT coalesce(json_agg(c), ''[]'')::text FROM learning.sse_channels c WHERE tenant_id = %L', tenant));
    PERFORM learning_router.remote_exec('learning_router_dst', format(
        'INSERT INTO learning.sse_channels SELECT * FROM json_populate_recordset(NULL::learning.sse_channels, %L)', data));
    moved := moved || jsonb_build_object('webhooks', sent, 'sse_channels', json_array_length(data::json));
    PERFORM learning_router.remote_exec('learning_router_dst', 'COMMIT');
    PERFORM learning_router.remote_close('learning_router_dst');
    RETURN moved;
END $$;
COMMENT ON FUNCTION learning_router.copy_tenant(text) IS
    'Reshard step: copies a tenant''s rows, webhooks and SSE key to its new shard, verifies the counts there and commits there; the old shard''s transaction stays open';

CREATE TYPE learning_router.webhook_row AS (url text, event_types text[], secret text, enabled boolean);
COMMENT ON TYPE learning_router.webhook_row IS 'The columns of a webhook subscription a move carries over';

-- delete_tenant_source: deletes a copied tenant's rows from its old shard
-- (in the transaction copy_tenant left open, or a new one when resuming).
CREATE FUNCTION learning_router.delete_tenant_source(tenant text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st learning_router.reshard_state;
    p learning_router.reshard_progress;
    s text := learning_router.dblink_schema();
    open boolean;
BEGIN
    SELECT * INTO STRICT st FROM learning_router.reshard_state;
    SELECT * INTO STRICT p FROM learning_router.reshard_progress WHERE tenant_id = tenant;
    EXECUTE format('SELECT %L = ANY (coalesce(%I.dblink_get_connections(), %L))', 'learning_router_src', s, '{}') INTO open;
    IF NOT open THEN
        PERFORM learning_router.remote_open('learning_router_src', st.old_shards[p.from_shard + 1]);
        PERFORM learning_router.remote_exec('learning_router_src', 'BEGIN');
    END IF;
    PERFORM learning_router.remote_exec('learning_router_src',
        format('DELETE FROM learning.sse_channels WHERE tenant_id = %L', tenant));
    PERFORM learning_router.remote_exec('learning_router_src',
        format('DELETE FROM learning.%I WHERE tenant_id = %L', t.table_name, tenant))
       FROM learning_router.tenant_tables() t ORDER BY t.ord DESC;
    PERFORM learning_router.remote_exec('learning_router_src', 'COMMIT');
    -- the webhooks and their queued deliveries in a READ COMMITTED transaction
    -- of their own: the old shard's relay may be updating those deliveries
    -- (attempts, leases), which the copy's REPEATABLE READ transaction could
    -- only fail on ("could not serialize access"); here the delete waits for
    -- the relay's update instead.  A resume runs both steps again.
    PERFORM learning_router.remote_exec('learning_router_src', 'BEGIN ISOLATION LEVEL READ COMMITTED');
    PERFORM learning_router.remote_value('learning_router_src', format(
        'SELECT count(learning.drop_webhook(id))::text FROM learning.webhooks WHERE tenant_id = %L', tenant));
    PERFORM learning_router.remote_exec('learning_router_src', 'COMMIT');
    PERFORM learning_router.remote_close('learning_router_src');
END $$;
COMMENT ON FUNCTION learning_router.delete_tenant_source(text) IS
    'Reshard step: deletes a copied tenant''s rows, webhooks and SSE key from its old shard';

-- reshard_finish: the new list becomes the routing list.
CREATE FUNCTION learning_router.reshard_finish() RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st learning_router.reshard_state;
BEGIN
    SELECT * INTO STRICT st FROM learning_router.reshard_state;
    IF EXISTS (SELECT 1 FROM learning_router.reshard_progress WHERE status <> 'done') THEN
        RAISE EXCEPTION 'tenants are still to be moved' USING ERRCODE = '55000';
    END IF;
    PERFORM learning_router.write_server('learning_shards', st.new_shards);
    INSERT INTO learning_router.reshard_log
    SELECT st.started_at, p.tenant_id, p.from_shard, p.to_shard, p.rows_moved, p.finished_at
      FROM learning_router.reshard_progress p;
    DELETE FROM learning_router.reshard_progress;
    DELETE FROM learning_router.reshard_state;
    RAISE NOTICE 'reshard done: % shards', cardinality(st.new_shards);
END $$;
COMMENT ON FUNCTION learning_router.reshard_finish() IS
    'Reshard step: once every tenant has moved, routes by the new list and logs the moves';

CREATE FUNCTION learning_router.drop_next_server() RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = 'learning_shards_next')
       AND NOT EXISTS (SELECT 1 FROM learning_router.reshard_state) THEN
        DROP SERVER learning_shards_next CASCADE;
    END IF;
END $$;
COMMENT ON FUNCTION learning_router.drop_next_server() IS
    'Reshard step: drops server learning_shards_next once no reshard uses it';

-- The procedure: each step commits, so progress survives an interruption.
-- (No SET clause: a procedure with one cannot commit; every name below is
-- schema-qualified and each step pins its own search_path.)  Locks are
-- transaction-level, so an error never leaves routed calls waiting: a
-- tenant's lock covers its copy up to "copied" (from then on it is routed to
-- its new shard), the lock on every routed call covers the last look for
-- tenants created meanwhile and the switch.
CREATE PROCEDURE learning_router.reshard(conninfos text[])
    LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz;
    tenant text;
    added int;
    moved jsonb;
BEGIN
    started := learning_router.reshard_begin(conninfos);
    COMMIT;
    IF started IS NULL THEN
        RETURN;
    END IF;
    -- calls that read "no reshard" before that commit took no lock: let them end
    PERFORM learning_router.wait_older_transactions(pg_catalog.clock_timestamp());
    PERFORM learning_router.reshard_plan();
    COMMIT;
    LOOP
        FOR tenant IN SELECT p.tenant_id FROM learning_router.reshard_progress p
                       WHERE p.status <> 'done' ORDER BY p.to_shard, p.tenant_id LOOP
            IF (SELECT p.status FROM learning_router.reshard_progress p WHERE p.tenant_id = tenant) = 'pending' THEN
                PERFORM pg_catalog.pg_advisory_xact_lock(20260, pg_catalog.hashtext(tenant));
                moved := learning_router.copy_tenant(tenant);
                UPDATE learning_router.reshard_progress p SET status = 'copied', rows_moved = moved
                 WHERE p.tenant_id = tenant;
                COMMIT;
            END IF;
            PERFORM learning_router.delete_tenant_source(tenant);
            UPDATE learning_router.reshard_progress p SET status = 'done', finished_at = pg_catalog.now()
             WHERE p.tenant_id = tenant;
            COMMIT;
            RAISE NOTICE 'reshard: tenant "%" moved (%)', tenant,
                (SELECT p.rows_moved FROM learning_router.reshard_progress p WHERE p.tenant_id = tenant);
        END LOOP;
        -- hold every routed call while looking for tenants that appeared on
        -- an old shard meanwhile; none: switch, in the same transaction
        PERFORM pg_catalog.pg_advisory_xact_lock(20261, 0);
        added := learning_router.reshard_plan();
        IF added = 0 THEN
            PERFORM learning_router.reshard_finish();
            COMMIT;
            EXIT;
        END IF;
        COMMIT;
    END LOOP;
    -- calls that chose learning_shards_next before the switch: let them end
    PERFORM learning_router.wait_older_transactions(pg_catalog.clock_timestamp());
    PERFORM learning_router.drop_next_server();
    COMMIT;
END $$;
COMMENT ON PROCEDURE learning_router.reshard(text[]) IS
    'Moves every tenant whose shard changes under the new list (a power of two of connection strings) with all its rows, then routes by the new list; resumable: call again with the same list';

REVOKE ALL ON PROCEDURE learning_router.reshard(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION learning_router.tenant_tables(), learning_router.dblink_schema(),
    learning_router.remote_open(text, text), learning_router.remote_close(text),
    learning_router.remote_exec(text, text), learning_router.remote_value(text, text),
    learning_router.remote_values(text, text), learning_router.reshard_begin(text[]),
    learning_router.wait_older_transactions(timestamptz), learning_router.reshard_plan(),
    learning_router.copy_tenant(text), learning_router.delete_tenant_source(text),
    learning_router.reshard_finish(), learning_router.drop_next_server() FROM PUBLIC;

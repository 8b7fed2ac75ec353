------------------------------------------------------------------------------
-- Section: progress of long work
--
-- Work that can take minutes on a big tenant (learning.rebuild_rollups, run by
-- set_tenant_time_zone) reports each finished step: always as a DEBUG1
-- message, and as a NOTICE when at least a second has passed since the
-- previous NOTICE (or since the start), so a client sees how far a long run is
-- at most once a second per step and a quick run stays silent.
------------------------------------------------------------------------------

CREATE FUNCTION learning.report_progress(task text, step integer, steps integer, what text, n bigint,
                                         started timestamptz, last_notice timestamptz)
    RETURNS timestamptz LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    now_ts timestamptz := pg_catalog.clock_timestamp();
    msg text := pg_catalog.format('%s: step %s/%s, %s%s, %s s so far', task, step, steps, what,
                                  CASE WHEN n IS NOT NULL THEN pg_catalog.format(': %s rows', n) ELSE '' END,
                                  round(extract(epoch FROM now_ts - started)::numeric, 1));
BEGIN
    IF now_ts - last_notice >= interval '1 second' THEN
        RAISE NOTICE '%', msg;
        RETURN now_ts;
    END IF;
    RAISE DEBUG '%', msg;
    RETURN last_notice;
END $$;
COMMENT ON FUNCTION learning.report_progress(text, integer, integer, text, bigint, timestamptz, timestamptz) IS
    'Reports a finished step of long work: a NOTICE when a second has passed since last_notice (returns the new time), else DEBUG1';
REVOKE ALL ON FUNCTION learning.report_progress(text, integer, integer, text, bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning.report_progress(text, integer, integer, text, bigint, timestamptz, timestamptz)
    TO learning_app;

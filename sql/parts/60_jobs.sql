------------------------------------------------------------------------------
-- Section: jobs: what each of the five jobs does
--
-- learning.run_job(job_name) runs one now, in the caller's transaction; the
-- schedulers (src/scheduler.c) call the same function, each run in its own
-- transaction.  Each job reads only new work: signals not applied yet, and
-- pending outcomes whose window has ended (partial indexes on both).
------------------------------------------------------------------------------

-- The signal types a signal job applies.
CREATE FUNCTION learning.job_signal_types(job_name text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE job_name
    WHEN 'immediate_signals' THEN ARRAY['email_replied', 'email_bounced', 'email_unsubscribed']
    WHEN 'engagement_signals' THEN ARRAY['meeting_booked', 'meeting_held', 'meeting_declined', 'meeting_no_show',
                                         'escalation_resolved', 'escalation_failed']
    WHEN 'deal_progression' THEN ARRAY['deal_stage_changed']
END;
COMMENT ON FUNCTION learning.job_signal_types(text) IS 'The signal types a signal job applies';

-- apply_signals: every unapplied signal of the job's types resolves the pending
-- outcomes it matches (same tenant and conversation, matching outcome type,
-- created at or before the signal, signal inside the window).  When several
-- signals match one outcome the earliest that resolves it decides.  Returns
-- the outcomes resolved per tenant.
CREATE FUNCTION learning.apply_signals(job_name text, after_tenant text, last_tenant text)
    RETURNS TABLE (tenant_id text, items bigint) LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- planned for each batch with its real bounds: a plan cached after a few
    -- batches assumes a handful of rows and joins the batch's CTEs in nested
    -- loops (10 s instead of 0.2 s for 10,000 signals)
    SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    types text[] := learning.job_signal_types(job_name);
BEGIN
    RETURN QUERY
    WITH batch AS (
        SELECT s.tenant_id, s.id, s.conversation_state_id, s.signal_type, s.occurred_at, s.detail, s.ingested_at
          FROM learning.signals s
         WHERE s.applied_at IS NULL AND s.signal_type = ANY (types)
           AND s.tenant_id > after_tenant AND s.tenant_id <= last_tenant
           FOR UPDATE SKIP LOCKED
    ), decided AS (
        SELECT DISTINCT ON (o.tenant_id, o.id)
               o.tenant_id, o.id, r.status, r.outcome_score, b.signal_type, b.id AS signal_id,
               b.detail->>'stage' AS stage
          FROM batch b
          JOIN learning.outcome_records o
            ON o.tenant_id = b.tenant_id
           AND o.conversation_state_id = b.conversation_state_id
           AND o.status = 'pending'
           AND o.outcome_type = learning.signal_outcome_type(b.signal_type)
           AND o.created_at <= b.occurred_at
           AND b.occurred_at <= o.window_expires_at
         CROSS JOIN LATERAL learning.signal_rule(b.signal_type, b.detail, o.metadata) r
         ORDER BY o.tenant_id, o.id, b.occurred_at, b.ingested_at, b.id
    ), resolved AS (
        UPDATE learning.outcome_records o
           SET status = d.status, outcome_score = d.outcome_score,
               signal_source = 'signal:' || d.signal_type, resolved_at = pg_catalog.now(),
               -- the deal stage that resolved it (dashboards count deals_closed_won)
               metadata = CASE WHEN d.signal_type = 'deal_stage_changed'
                               THEN o.metadata || pg_catalog.jsonb_build_object('deal_stage_at_resolution', d.stage)
                               ELSE o.metadata END
          FROM decided d
         WHERE o.tenant_id = d.tenant_id AND o.id = d.id AND o.status = 'pending'
        RETURNING o.tenant_id, d.signal_id
    ), per_signal AS (
        SELECT r.tenant_id, r.signal_id, count(*) AS n FROM resolved r GROUP BY 1, 2
    ), marked AS (
        UPDATE learning.signals s
           SET applied_at = pg_catalog.now(), resolved_count = coalesce(ps.n, 0)
          FROM batch b LEFT JOIN per_signal ps ON ps.tenant_id = b.tenant_id AND ps.signal_id = b.id
         WHERE s.tenant_id = b.tenant_id AND s.id = b.id
        RETURNING s.tenant_id
    )
    -- (marked runs whether or not it is read: data-modifying CTEs always complete)
    SELECT r.tenant_id, count(*)::bigint FROM resolved r GROUP BY r.tenant_id;
END $$;
COMMENT ON FUNCTION learning.apply_signals(text, text, text) IS
    'Applies the unapplied signals of a signal job of the tenants in (after_tenant, last_tenant] to the pending outcomes they resolve; returns outcomes resolved per tenant';

-- expire_overdue: pending outcomes whose window has ended become expired
-- (counted as 0 in calibration), unless a signal that occurred inside their
-- window resolves them: "the first in-window signal decides; such an outcome
-- is never expired".  An unapplied signal is left to its job; a signal that
-- was applied before the outcome was visible (a backfilled outcome, or one
-- committed while the signal job ran) resolves it here, the earliest first.
-- Reads only pending outcomes whose window has ended and their signals.
-- One UPDATE, no join: each overdue row of the batch's tenants is decided by
-- index lookups of its own conversation's signals (set-based, linear in the
-- batch; a join with a CTE of the batch could be planned as a rescan of it
-- for every row of the table).
CREATE FUNCTION learning.expire_overdue(after_tenant text, last_tenant text)
    RETURNS TABLE (tenant_id text, items bigint) LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    WITH changed AS (
        UPDATE learning.outcome_records o
           SET (status, outcome_score, signal_source, metadata) = (
                   SELECT coalesce(d.status, 'expired'), d.outcome_score,
                          coalesce('signal:' || d.signal_type, 'window_expired'),
                          CASE WHEN d.signal_type = 'deal_stage_changed'
                               THEN o.metadata || pg_catalog.jsonb_build_object('deal_stage_at_resolution', d.stage)
                               ELSE o.metadata END
                     FROM (SELECT 1) one
                     -- the earliest applied in-window signal that resolves it, if any
                     LEFT JOIN LATERAL (
                           SELECT r.status, r.outcome_score, s.signal_type, s.detail->>'stage' AS stage
                             FROM learning.signals s
                            CROSS JOIN LATERAL learning.signal_rule(s.signal_type, s.detail, o.metadata) r
                            WHERE s.tenant_id = o.tenant_id
                              AND s.conversation_state_id = o.conversation_state_id
                              AND s.occurred_at BETWEEN o.created_at AND o.window_expires_at
                              AND s.applied_at IS NOT NULL
                              AND learning.signal_outcome_type(s.signal_type) = o.outcome_type
                            ORDER BY s.occurred_at, s.ingested_at, s.id
                            LIMIT 1) d ON true),
               resolved_at = pg_catalog.now()
         WHERE o.status = 'pending' AND o.window_expires_at < pg_catalog.now()
           AND o.tenant_id > after_tenant AND o.tenant_id <= last_tenant
           -- an unapplied in-window signal: its job decides
           AND NOT EXISTS (SELECT 1 FROM learning.signals s
                            WHERE s.tenant_id = o.tenant_id
                              AND s.conversation_state_id = o.conversation_state_id
                              AND s.occurred_at BETWEEN o.created_at AND o.window_expires_at
                              AND s.applied_at IS NULL
                              AND learning.signal_outcome_type(s.signal_type) = o.outcome_type)
        RETURNING o.tenant_id
    )
    SELECT c.tenant_id, count(*)::bigint FROM changed c GROUP BY c.tenant_id
$$;
COMMENT ON FUNCTION learning.expire_overdue(text, text) IS
    'Expires pending outcomes of the tenants in (after_tenant, last_tenant] whose window has ended, unless an in-window signal resolves them (an unapplied one through its job); returns outcomes changed per tenant';

-- calibration_check: check_and_adjust for every (tenant, action type) with data.
CREATE FUNCTION learning.calibration_check(after_tenant text, last_tenant text)
    RETURNS TABLE (tenant_id text, items bigint) LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.tenant_id, count(a.adj)::bigint
      FROM (SELECT DISTINCT b.tenant_id, b.action_type FROM learning.calibration_bins b
             WHERE b.tenant_id > after_tenant AND b.tenant_id <= last_tenant) t
     CROSS JOIN LATERAL (SELECT learning.check_and_adjust(t.tenant_id, t.action_type) AS adj) a
     GROUP BY t.tenant_id
    HAVING count(a.adj) > 0
$$;
COMMENT ON FUNCTION learning.calibration_check(text, text) IS
    'Runs check_and_adjust for every (tenant, action type) with calibration data of the tenants in (after_tenant, last_tenant]; returns adjustments per tenant';

-- job_batch: the tenants of a job's next batch are those after after_tenant,
-- in order, up to max_tenants of them that may have work for the job (found
-- by one index probe each: a loose index scan).  last_tenant is the last of
-- them (NULL when none); more tells whether more may follow.
CREATE FUNCTION learning.job_batch(job_name text, after_tenant text, max_tenants integer,
                                   OUT last_tenant text, OUT more boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_tenants integer;
BEGIN
    IF job_name = 'expire_overdue' THEN
        WITH RECURSIVE t(tenant_id, n) AS (
            SELECT (SELECT min(o.tenant_id) FROM learning.outcome_records o
                     WHERE o.status = 'pending' AND o.tenant_id > after_tenant), 1
            UNION ALL
            SELECT (SELECT min(o.tenant_id) FROM learning.outcome_records o
                     WHERE o.status = 'pending' AND o.tenant_id > t.tenant_id), t.n + 1
              FROM t WHERE t.tenant_id IS NOT NULL AND t.n < max_tenants)
        SELECT max(t.tenant_id), count(t.tenant_id) INTO last_tenant, found_tenants FROM t;
    ELSIF job_name = 'calibration_check' THEN
        WITH RECURSIVE t(tenant_id, n) AS (
            SELECT (SELECT min(b.tenant_id) FROM learning.calibration_bins b WHERE b.tenant_id > after_tenant), 1
            UNION ALL
            SELECT (SELECT min(b.tenant_id) FROM learning.calibration_bins b WHERE b.tenant_id > t.tenant_id), t.n + 1
              FROM t WHERE t.tenant_id IS NOT NULL AND t.n < max_tenants)
        SELECT max(t.tenant_id), count(t.tenant_id) INTO last_tenant, found_tenants FROM t;
    ELSE
        WITH RECURSIVE t(tenant_id, n) AS (
            SELECT (SELECT min(s.tenant_id) FROM learning.signals s
                     WHERE s.applied_at IS NULL AND s.tenant_id > after_tenant), 1
            UNION ALL
            SELECT (SELECT min(s.tenant_id) FROM learning.signals s
                     WHERE s.applied_at IS NULL AND s.tenant_id > t.tenant_id), t.n + 1
              FROM t WHERE t.tenant_id IS NOT NULL AND t.n < max_tenants)
        SELECT max(t.tenant_id), count(t.tenant_id) INTO last_tenant, found_tenants FROM t;
    END IF;
    more := found_tenants >= max_tenants;
END $$;
COMMENT ON FUNCTION learning.job_batch(text, text, integer) IS
    'The last tenant of a job''s next batch (at most max_tenants tenants after after_tenant that may have work), and whether more may follow';

-- learning.job_batch_tenants (a setting, read through this function so that
-- SQL and the scheduler share one default) bounds the tenants of a batch.
CREATE FUNCTION learning.job_batch_tenants() RETURNS integer
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_job_batch_tenants_sql';
COMMENT ON FUNCTION learning.job_batch_tenants() IS
    'The setting learning.job_batch_tenants: at most this many tenants per job batch, each batch its own transaction in the scheduler (default 1000)';

-- execute_job runs one batch of a job in the current transaction and records
-- it: the tenants after after_tenant, up to max_tenants of them (NULL: the
-- setting learning.job_batch_tenants).  Its result's next_after is where the
-- next batch starts, NULL when the job is done.  Each batch is one job_runs
-- row; the scheduler runs each in a transaction of its own, so a failing
-- batch is recorded and the next ones go on, and the locks and memory of a
-- transaction stay bounded however many tenants there are.
CREATE FUNCTION learning.execute_job(job_name text, run_by text, after_tenant text DEFAULT NULL,
                                     max_tenants integer DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- a row another session keeps locked fails this batch (recorded; the
    -- next batches go on) instead of stalling every job of the database
    SET lock_timeout = '10s' AS $$
DECLARE
    started timestamptz := pg_catalog.clock_timestamp();
    finished timestamptz;
    tenants text[];
    counts bigint[];
    total bigint;
    run_id bigint;
    lo text := coalesce(after_tenant, '');
    batch record;
BEGIN
    PERFORM learning.check_required('job_name', job_name IS NULL);
    IF job_name NOT IN ('immediate_signals', 'engagement_signals', 'deal_progression',
                        'expire_overdue', 'calibration_check') THEN
        RAISE EXCEPTION 'unknown job "%"', job_name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Jobs: calibration_check, deal_progression, engagement_signals, expire_overdue, immediate_signals.';
    END IF;
    max_tenants := coalesce(max_tenants, learning.job_batch_tenants());
    IF max_tenants < 1 THEN
        RAISE EXCEPTION 'max_tenants must be at least 1, got %', max_tenants USING ERRCODE = 'numeric_value_out_of_range';
    END IF;

    batch := learning.job_batch(job_name, lo, max_tenants);
    IF batch.last_tenant IS NULL THEN
        tenants := '{}';
        counts := '{}';
    ELSIF job_name = 'expire_overdue' THEN
        SELECT coalesce(array_agg(t.tenant_id), '{}'), coalesce(array_agg(t.items), '{}')
          INTO tenants, counts FROM learning.expire_overdue(lo, batch.last_tenant) t;
    ELSIF job_name = 'calibration_check' THEN
        SELECT coalesce(array_agg(t.tenant_id), '{}'), coalesce(array_agg(t.items), '{}')
          INTO tenants, counts FROM learning.calibration_check(lo, batch.last_tenant) t;
    ELSE
        SELECT coalesce(array_agg(t.tenant_id), '{}'), coalesce(array_agg(t.items), '{}')
          INTO tenants, counts FROM learning.apply_signals(job_name, lo, batch.last_tenant) t;
    END IF;
    SELECT coalesce(sum(c), 0) INTO total FROM unnest(counts) c;
    finished := pg_catalog.clock_timestamp();

    INSERT INTO learning.job_runs (job_name, started_at, finished_at, status, items, run_by)
    VALUES (execute_job.job_name, started, finished, 'succeeded', total, execute_job.run_by)
    RETURNING id INTO run_id;

    -- every tenant the batch changed hears of it (the outbox writes the event at commit)
    PERFORM learning.emit_event(t.tenant_id, 'job_completed',
                                pg_catalog.jsonb_build_object('job', job_name, 'run_id', run_id, 'items', t.items))
       FROM unnest(tenants, counts) AS t(tenant_id, items);

    -- the history and the outbox are pruned once per run, by its first batch
    IF after_tenant IS NULL THEN
        PERFORM learning.prune_job_runs();
        PERFORM learning.prune_events();
    END IF;

    RETURN pg_catalog.jsonb_build_object('job', job_name, 'run_id', run_id, 'status', 'succeeded',
                                         'items', total, 'started_at', started, 'finished_at', finished,
                                         'next_after', CASE WHEN batch.more THEN batch.last_tenant END);
END $$;
COMMENT ON FUNCTION learning.execute_job(text, text, text, integer) IS
    'Runs one batch of a job (the tenants after after_tenant, at most max_tenants) in the current transaction, records its learning.job_runs row and announces it to the tenants it changed; next_after in the result is where the next batch starts (NULL: done)';

-- SECURITY DEFINER: a job runs as the extension's owner, as when the scheduler
-- runs it (it announces its work through the outbox, which only the extension
-- writes); the caller chooses only which of the five jobs runs now.  All its
-- batches run in the caller's transaction.
CREATE FUNCTION learning.run_job(job_name text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
    first jsonb;
    total bigint := 0;
    batches integer := 0;
    after text;
BEGIN
    LOOP
        r := learning.execute_job(job_name, 'run_job', after);
        first := coalesce(first, r);
        total := total + (r->>'items')::bigint;
        batches := batches + 1;
        after := r->>'next_after';
        EXIT WHEN after IS NULL;
    END LOOP;
    RETURN (r - 'next_after') || pg_catalog.jsonb_build_object('items', total, 'batches', batches,
                                                               'started_at', first->'started_at');
END $$;
COMMENT ON FUNCTION learning.run_job(text) IS
    'Runs one of the five jobs now, in the caller''s transaction and as the extension''s owner, with the same effects and job_runs rows (one per batch) as a scheduled run; returns the last batch''s run with the total items and the number of batches';

-- record_failed_job writes the job_runs row of a run that failed (the
-- scheduler calls it in a fresh transaction after rolling the run back).
CREATE FUNCTION learning.record_failed_job(job_name text, started_at timestamptz, message text)
    RETURNS bigint LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO learning.job_runs (job_name, started_at, finished_at, status, items, message, run_by)
    VALUES ($1, $2, pg_catalog.clock_timestamp(), 'failed', 0, $3, 'scheduler')
    RETURNING id
$$;
COMMENT ON FUNCTION learning.record_failed_job(text, timestamptz, text) IS
    'Records a failed scheduled run with its error message';

-- prune_job_runs keeps job history within learning.job_history_retention.
CREATE FUNCTION learning.prune_job_runs() RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (
        DELETE FROM learning.job_runs r
         WHERE r.started_at < pg_catalog.now()
               - coalesce(nullif(pg_catalog.current_setting('learning.job_history_retention', true), ''), '7d')::interval
           -- the latest run of each job stays: the schedulers read their next due time from it
           AND EXISTS (SELECT 1 FROM learning.job_runs n
                        WHERE n.job_name = r.job_name AND n.run_by = r.run_by AND n.started_at > r.started_at)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION learning.prune_job_runs() IS
    'Deletes job_runs rows older than learning.job_history_retention (default 7 days), keeping the latest run of each job';

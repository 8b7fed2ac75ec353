------------------------------------------------------------------------------
-- Section: dashboards and coaching over incremental rollups
--
-- Rollups.  Every write that changes a dashboard number adds its delta to
-- rollup rows in the same transaction (src/rollups.c on top of the keyed
-- delta accumulator src/deltas.c, the one that keeps the calibration bins):
-- an AFTER ROW trigger accumulates, and the transaction writes them at commit
-- with one upsert per table into this backend's shard row (backend % 16), so
-- concurrent writers never wait on one counter row; readers add the shards
-- and see what is committed.
-- The dashboards (src/dashboards.c, src/coaching.c) read only rollup rows, never outcome rows
-- (except escalation_history, which lists individual escalations).
--
-- Days.  A rollup day is the calendar day of created_at in the tenant's time
-- zone (learning.tenant_settings, default UTC).  Changing a tenant's time
-- zone rebuilds that tenant's rollups from the raw rows in the same
-- transaction (learning.rebuild_rollups); it locks the outcome and feedback
-- tables against writers while it runs, a rare administrative step.  The
-- period of a dashboard with days => N is the last N calendar days in the
-- tenant's zone, today included: [today - N + 1, today].
------------------------------------------------------------------------------

-- Outcome counters per (tenant, local day, rep, action type, outcome type,
-- escalation trigger).  rep_id '' = no rep; escalation_trigger is
-- metadata.escalation_trigger (default 'unknown') for escalation_result
-- outcomes and '' for the others.
CREATE TABLE learning.outcome_rollups (
    tenant_id          text     NOT NULL,
    day                date     NOT NULL,
    rep_id             text     NOT NULL,
    action_type        text     NOT NULL,
    outcome_type       text     NOT NULL,
    escalation_trigger text     NOT NULL,
    shard              smallint NOT NULL,
    actions            bigint   NOT NULL DEFAULT 0,
    pending            bigint   NOT NULL DEFAULT 0,
    positive           bigint   NOT NULL DEFAULT 0,
    negative           bigint   NOT NULL DEFAULT 0,
    ambiguous          bigint   NOT NULL DEFAULT 0,
    expired            bigint   NOT NULL DEFAULT 0,
    score_sum          float8   NOT NULL DEFAULT 0,
    cost_sum           float8   NOT NULL DEFAULT 0,
    cost_count         bigint   NOT NULL DEFAULT 0,
    deals_closed_won   bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, rep_id, action_type, outcome_type, escalation_trigger, shard)
);
COMMENT ON TABLE learning.outcome_rollups IS
    'Outcome counters per (tenant, local day, rep, action type, outcome type, escalation trigger, shard); maintained by triggers, read by the dashboards';

-- Per (tenant, local day): the daily series of the dashboards, the feedback
-- counters and the distinct conversations of the day (with and without
-- feedback on the same day), which conversation_days turns into counts.
CREATE TABLE learning.daily_totals (
    tenant_id                   text     NOT NULL,
    day                         date     NOT NULL,
    shard                       smallint NOT NULL,
    actions                     bigint   NOT NULL DEFAULT 0,
    pending                     bigint   NOT NULL DEFAULT 0,
    positive                    bigint   NOT NULL DEFAULT 0,
    negative                    bigint   NOT NULL DEFAULT 0,
    ambiguous                   bigint   NOT NULL DEFAULT 0,
    expired                     bigint   NOT NULL DEFAULT 0,
    escalations                 bigint   NOT NULL DEFAULT 0,
    feedback_count              bigint   NOT NULL DEFAULT 0,
    feedback_rating_sum         float8   NOT NULL DEFAULT 0,
    feedback_normalized_sum     float8   NOT NULL DEFAULT 0,
    conversations               bigint   NOT NULL DEFAULT 0,
    conversations_with_feedback bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, shard)
);
COMMENT ON TABLE learning.daily_totals IS
    'Per (tenant, local day, shard): outcome and feedback counters and distinct conversations of the day; maintained by triggers';

-- Per (tenant, conversation, local day): outcomes recorded and feedback
-- entries given that day.  Not sharded: its upsert detects the 0 -> 1 and
-- 1 -> 0 transitions that count distinct conversations per day exactly.
CREATE TABLE learning.conversation_days (
    tenant_id             text   NOT NULL,
    conversation_state_id text   NOT NULL,
    day                   date   NOT NULL,
    outcomes              bigint NOT NULL DEFAULT 0,
    feedbacks             bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, conversation_state_id, day)
);
-- Distinct conversations of a period, exactly, in as many rows as days: a
-- dashboard's period always ends today, so a conversation had an outcome in
-- the last N days iff its last outcome day is one of them, and had feedback
-- in them too iff the earlier of its last outcome day and last feedback day
-- is.  conversation_last keeps those two days per conversation (its row lock
-- orders the writers of one conversation); conversation_coverage counts
-- conversations by them, striped over shards like the other rollups.
CREATE TABLE learning.conversation_last (
    tenant_id             text NOT NULL,
    conversation_state_id text NOT NULL,
    last_outcome_day      date,
    last_feedback_day     date,
    PRIMARY KEY (tenant_id, conversation_state_id)
);
COMMENT ON TABLE learning.conversation_last IS
    'Last local day with an outcome and with feedback per (tenant, conversation); maintained with the rollups';
CREATE TABLE learning.conversation_coverage (
    tenant_id      text     NOT NULL,
    day            date     NOT NULL,
    shard          smallint NOT NULL,
    conversations  bigint   NOT NULL DEFAULT 0,
    with_feedback  bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, shard)
);
COMMENT ON TABLE learning.conversation_coverage IS
    'Conversations counted at their last outcome day, and those with feedback at the earlier of their last outcome and feedback days; summed over day >= period start they give the period''s distinct conversations';

COMMENT ON TABLE learning.conversation_days IS
    'Outcomes and feedback per (tenant, conversation, local day); its transitions count distinct conversations in learning.daily_totals';

-- Feedback counters per (tenant, local day, reviewer, role, target type, source, rating).
CREATE TABLE learning.feedback_rollups (
    tenant_id     text     NOT NULL,
    day           date     NOT NULL,
    reviewer_id   text     NOT NULL,
    reviewer_role text     NOT NULL,
    target_type   text     NOT NULL,
    source        text     NOT NULL,
    rating        integer  NOT NULL,
    shard         smallint NOT NULL,
    n             bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, reviewer_id, reviewer_role, target_type, source, rating, shard)
);
COMMENT ON TABLE learning.feedback_rollups IS
    'Feedback counts per (tenant, local day, reviewer, role, target type, source, rating, shard); maintained by triggers';

-- escalation_history lists the period's escalations newest first.
CREATE INDEX outcome_records_escalation_idx
    ON learning.outcome_records (tenant_id, created_at) WHERE outcome_type = 'escalation_result';

-- The triggers (src/rollups.c).  An update counts only when a number-bearing
-- column changes (a resolution always does); the trigger function checks
-- that itself, since a WHEN clause is read and compiled by every statement.
CREATE FUNCTION learning.outcome_rollup() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'learning_outcome_rollup';
COMMENT ON FUNCTION learning.outcome_rollup() IS
    'AFTER ROW trigger: adds an outcome''s contribution to the pending rollup deltas (minus the old one on UPDATE and DELETE) and notes its event';
CREATE FUNCTION learning.feedback_rollup() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'learning_feedback_rollup';
COMMENT ON FUNCTION learning.feedback_rollup() IS
    'AFTER ROW trigger: adds a feedback entry''s contribution to the pending rollup deltas and notes its event';

CREATE TRIGGER outcome_records_rollup_insert
    AFTER INSERT ON learning.outcome_records
    FOR EACH ROW EXECUTE FUNCTION learning.outcome_rollup();
CREATE TRIGGER outcome_records_rollup_update
    AFTER UPDATE ON learning.outcome_records
    FOR EACH ROW EXECUTE FUNCTION learning.outcome_rollup();
CREATE TRIGGER outcome_records_rollup_delete
    AFTER DELETE ON learning.outcome_records
    FOR EACH ROW EXECUTE FUNCTION learning.outcome_rollup();

CREATE TRIGGER feedback_entries_rollup_insert
    AFTER INSERT ON learning.feedback_entries
    FOR EACH ROW EXECUTE FUNCTION learning.feedback_rollup();
CREATE TRIGGER feedback_entries_rollup_update
    AFTER UPDATE ON learning.feedback_entries
    FOR EACH ROW WHEN ((OLD.tenant_id, OLD.created_at, OLD.conversation_state_id, OLD.reviewer_id,
                        OLD.reviewer_role, OLD.target_type, OLD.source, OLD.rating)
                       IS DISTINCT FROM
                       (NEW.tenant_id, NEW.created_at, NEW.conversation_state_id, NEW.reviewer_id,
                        NEW.reviewer_role, NEW.target_type, NEW.source, NEW.rating))
    EXECUTE FUNCTION learning.feedback_rollup();
CREATE TRIGGER feedback_entries_rollup_delete
    AFTER DELETE ON learning.feedback_entries
    FOR EACH ROW EXECUTE FUNCTION learning.feedback_rollup();

-- rebuild_rollups recomputes a tenant's rollups from its raw rows (after a
-- time zone change, or to repair).  Writers of the outcome and feedback
-- tables wait while it runs.
CREATE FUNCTION learning.rebuild_rollups(tenant_id text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tz text;
    step_rows bigint;
    started timestamptz := pg_catalog.clock_timestamp();
    noticed timestamptz := started;    -- progress: a NOTICE at most once a second (learning.report_progress)
    task constant text := pg_catalog.format('rebuild_rollups(%L)', tenant_id);
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    LOCK TABLE learning.outcome_records, learning.feedback_entries IN SHARE MODE;
    -- this transaction's own counters first, or the commit would add them again
    PERFORM learning.flush_pending_deltas();
    tz := learning.tenant_time_zone(tenant_id);
    DELETE FROM learning.outcome_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.daily_totals r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.conversation_days r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.conversation_last r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.conversation_coverage r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    DELETE FROM learning.feedback_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id;
    noticed := learning.report_progress(task, 1, 7, 'old rollups removed', NULL, started, noticed);

    INSERT INTO learning.outcome_rollups
    SELECT o.tenant_id, (o.created_at AT TIME ZONE tz)::date, coalesce(o.rep_id, ''), o.action_type, o.outcome_type,
           CASE WHEN o.outcome_type = 'escalation_result' THEN coalesce(o.metadata->>'escalation_trigger', 'unknown') ELSE '' END,
           0, count(*), count(*) FILTER (WHERE o.status = 'pending'), count(*) FILTER (WHERE o.status = 'positive'),
           count(*) FILTER (WHERE o.status = 'negative'), count(*) FILTER (WHERE o.status = 'ambiguous'),
           count(*) FILTER (WHERE o.status = 'expired'),
           coalesce(sum(o.outcome_score) FILTER (WHERE o.status = 'positive'), 0),
           coalesce(sum(o.cost), 0), count(o.cost),
           count(*) FILTER (WHERE o.status = 'positive' AND o.outcome_type = 'deal_progression'
                              AND o.metadata->>'deal_stage_at_resolution' = 'closed_won')
      FROM learning.outcome_records o WHERE o.tenant_id = rebuild_rollups.tenant_id
     GROUP BY 1, 2, 3, 4, 5, 6;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 2, 7, 'outcome rollups', step_rows, started, noticed);

    INSERT INTO learning.conversation_days
    SELECT rebuild_rollups.tenant_id, c, d, sum(no), sum(nf)
      FROM (SELECT o.conversation_state_id c, (o.created_at AT TIME ZONE tz)::date d, 1 no, 0 nf
              FROM learning.outcome_records o WHERE o.tenant_id = rebuild_rollups.tenant_id
            UNION ALL
            SELECT f.conversation_state_id, (f.created_at AT TIME ZONE tz)::date, 0, 1
              FROM learning.feedback_entries f WHERE f.tenant_id = rebuild_rollups.tenant_id) x
     GROUP BY c, d;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 3, 7, 'conversation days', step_rows, started, noticed);

    INSERT INTO learning.conversation_last
    SELECT c.tenant_id, c.conversation_state_id, max(c.day) FILTER (WHERE c.outcomes > 0),
           max(c.day) FILTER (WHERE c.feedbacks > 0)
      FROM learning.conversation_days c WHERE c.tenant_id = rebuild_rollups.tenant_id
     GROUP BY 1, 2;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 4, 7, 'conversations'' last days', step_rows, started, noticed);
    INSERT INTO learning.conversation_coverage
    SELECT rebuild_rollups.tenant_id, d, 0, sum(n), sum(nf)
      FROM (SELECT l.last_outcome_day d, 1 n, 0 nf FROM learning.conversation_last l
             WHERE l.tenant_id = rebuild_rollups.tenant_id AND l.last_outcome_day IS NOT NULL
            UNION ALL
            SELECT least(l.last_outcome_day, l.last_feedback_day), 0, 1 FROM learning.conversation_last l
             WHERE l.tenant_id = rebuild_rollups.tenant_id AND l.last_outcome_day IS NOT NULL
               AND l.last_feedback_day IS NOT NULL) x
     GROUP BY d;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 5, 7, 'coverage', step_rows, started, noticed);

    INSERT INTO learning.feedback_rollups
    SELECT f.tenant_id, (f.created_at AT TIME ZONE tz)::date, f.reviewer_id, f.reviewer_role, f.target_type,
           f.source, f.rating, 0, count(*)
      FROM learning.feedback_entries f WHERE f.tenant_id = rebuild_rollups.tenant_id
     GROUP BY 1, 2, 3, 4, 5, 6, 7;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 6, 7, 'feedback rollups', step_rows, started, noticed);

    INSERT INTO learning.daily_totals
    SELECT rebuild_rollups.tenant_id, d, 0, sum(actions), sum(pending), sum(positive), sum(negative), sum(ambiguous),
           sum(expired), sum(escalations), sum(fc), sum(frs), sum(fns), sum(conv), sum(convf)
      FROM (SELECT r.day d, r.actions, r.pending, r.positive, r.negative, r.ambiguous, r.expired,
                   CASE WHEN r.outcome_type = 'escalation_result' THEN r.actions ELSE 0 END escalations,
                   0 fc, 0 frs, 0 fns, 0 conv, 0 convf
              FROM learning.outcome_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id
            UNION ALL
            SELECT r.day, 0, 0, 0, 0, 0, 0, 0, r.n, r.n * r.rating,
                   r.n * CASE r.source WHEN 'inline' THEN (r.rating + 1) / 2.0 ELSE (r.rating - 1) / 4.0 END, 0, 0
              FROM learning.feedback_rollups r WHERE r.tenant_id = rebuild_rollups.tenant_id
            UNION ALL
            SELECT c.day, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (c.outcomes > 0)::int, (c.outcomes > 0 AND c.feedbacks > 0)::int
              FROM learning.conversation_days c WHERE c.tenant_id = rebuild_rollups.tenant_id) x
     GROUP BY d;
    GET DIAGNOSTICS step_rows = ROW_COUNT;
    noticed := learning.report_progress(task, 7, 7, 'daily totals', step_rows, started, noticed);
    IF noticed > started THEN   -- a run long enough to have reported says when it is done
        RAISE NOTICE '%: done in % s', task, round(extract(epoch FROM pg_catalog.clock_timestamp() - started)::numeric, 1);
    END IF;
END $$;
COMMENT ON FUNCTION learning.rebuild_rollups(text) IS
    'Recomputes a tenant''s dashboard rollups from its outcome and feedback rows in its current time zone (run on a time zone change); blocks writers meanwhile; reports its seven steps (NOTICE at most once a second, else DEBUG1)';

-- A tenant's days follow its time zone: a change rebuilds its rollups.
-- SECURITY DEFINER: the rollups are written only by the extension (the
-- roles that may change a time zone have no write access to them).
CREATE FUNCTION learning.tenant_settings_rollups() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- fires only on the extension's own tables (EXECUTE is not PUBLIC either)
    IF TG_RELID <> 'learning.tenant_settings'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'trigger function "learning.tenant_settings_rollups" may fire only on the learning extension''s own tables'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It fired on table "%s.%s".', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    IF TG_OP = 'INSERT' AND NEW.time_zone IS DISTINCT FROM 'UTC'
       OR TG_OP = 'UPDATE' AND NEW.time_zone IS DISTINCT FROM OLD.time_zone THEN
        PERFORM learning.rebuild_rollups(NEW.tenant_id);
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION learning.tenant_settings_rollups() IS
    'AFTER trigger on tenant_settings: rebuilds a tenant''s rollups when its time zone changes';
CREATE TRIGGER tenant_settings_rollups
    AFTER INSERT OR UPDATE OF time_zone ON learning.tenant_settings
    FOR EACH ROW EXECUTE FUNCTION learning.tenant_settings_rollups();

-- TRUNCATE of the raw tables empties their rollups too.
CREATE FUNCTION learning.rollups_truncated() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- fires only on the extension's own tables (EXECUTE is not PUBLIC either)
    IF TG_RELID NOT IN ('learning.outcome_records'::pg_catalog.regclass, 'learning.feedback_entries'::pg_catalog.regclass) THEN
        RAISE EXCEPTION 'trigger function "learning.rollups_truncated" may fire only on the learning extension''s own tables'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It fired on table "%s.%s".', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    PERFORM learning.flush_pending_deltas();
    IF TG_TABLE_NAME = 'outcome_records' THEN
        TRUNCATE learning.outcome_rollups;
    ELSE
        TRUNCATE learning.feedback_rollups;
    END IF;
    -- the shared tables keep only what the other raw table still explains
    TRUNCATE learning.daily_totals, learning.conversation_days, learning.conversation_last,
             learning.conversation_coverage;
    PERFORM learning.rebuild_rollups(t.tenant_id)
       FROM (SELECT DISTINCT f.tenant_id FROM learning.feedback_entries f
             UNION SELECT DISTINCT o.tenant_id FROM learning.outcome_records o) t;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION learning.rollups_truncated() IS
    'AFTER TRUNCATE trigger: empties the rollups of the truncated table and rebuilds the shared ones from what remains';
CREATE TRIGGER outcome_records_rollups_truncate
    AFTER TRUNCATE ON learning.outcome_records
    FOR EACH STATEMENT EXECUTE FUNCTION learning.rollups_truncated();
CREATE TRIGGER feedback_entries_rollups_truncate
    AFTER TRUNCATE ON learning.feedback_entries
    FOR EACH STATEMENT EXECUTE FUNCTION learning.rollups_truncated();

-- The dashboards and coaching (C: src/dashboards.c, src/coaching.c).
CREATE FUNCTION learning.rep_dashboard(tenant_id text, rep_id text DEFAULT NULL, days integer DEFAULT 30)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_rep_dashboard';
COMMENT ON FUNCTION learning.rep_dashboard(text, text, integer) IS
    'Rep dashboard of the last days (tenant time zone, today included): response rates, escalation history, deal impact, feedback scores, calibration; rep_id filters to that rep (P0002 for an unknown rep)';

CREATE FUNCTION learning.manager_dashboard(tenant_id text, days integer DEFAULT 30)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_manager_dashboard';
COMMENT ON FUNCTION learning.manager_dashboard(text, integer) IS
    'Manager dashboard of the last days: team trends with daily activity, per-action-type performance, rep leaderboard, coaching opportunities, calibration, escalation rate, feedback health';

CREATE FUNCTION learning.executive_summary(tenant_id text, days integer DEFAULT 30)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_executive_summary';
COMMENT ON FUNCTION learning.executive_summary(text, integer) IS
    'Executive summary of the last days: ROI (time saved, cost per interaction), agent effectiveness, engagement trend, strategic insights';

CREATE FUNCTION learning.coaching_patterns(tenant_id text, days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_coaching_patterns';
COMMENT ON FUNCTION learning.coaching_patterns(text, integer, float8) IS
    'Coaching patterns of the last days (action_effectiveness, stage_insight, escalation_pattern), each with the p-value of Fisher''s exact test against the rest and its Benjamini-Hochberg q-value; only q_value <= alpha (alpha 1: every candidate), by confidence descending';

CREATE FUNCTION learning.top_performing_actions(tenant_id text, days integer DEFAULT 90, top_k integer DEFAULT 5)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_top_performing_actions';
COMMENT ON FUNCTION learning.top_performing_actions(text, integer, integer) IS
    'The top_k action types (at least 5 resolved outcomes) by success rate over the last days';

CREATE FUNCTION learning.improvement_areas(tenant_id text, days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_improvement_areas';
COMMENT ON FUNCTION learning.improvement_areas(text, integer, float8) IS
    'Action types with a success rate below 0.4 (exact binomial test) and feedback target types averaging below 0 (exact sign test), at least 5 samples each, over the last days; only Benjamini-Hochberg q_value <= alpha (alpha 1: every candidate)';

CREATE FUNCTION learning.trend_direction(daily_values float8[]) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_trend_direction';
COMMENT ON FUNCTION learning.trend_direction(float8[]) IS
    'The dashboards'' trend rule: mean of the second half (extra day included) against the first: above +10 % improving, below -10 % declining, else stable (fewer than 2 days: stable)';

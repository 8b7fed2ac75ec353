-- 40_dashboards_recompute: every dashboard number against an independent
-- recomputation in plain SQL from the raw outcome and feedback rows.
--
-- Seeded random data: three tenants (UTC, Asia/Kolkata, and one moved from
-- UTC to America/New_York after data exists, so its rollups are rebuilt),
-- five reps and outcomes without a rep, seven action types, created_at up to
-- 400 days in the past, resolutions by every path (resolve_outcome, a plain
-- UPDATE, the signal jobs, expire_overdue, an INSERT of a resolved row),
-- deletes, re-keying updates (rep, created_at, conversation), feedback with
-- back-dated created_at.  Periods of 1, 7, 30, 90 and 365 days; every rep.
BEGIN;
SELECT plan(88);
SELECT setseed(0.4242);

-- ---------------------------------------------------------------- helpers
-- jdiff: the first path where actual differs from expected (NULL if none);
-- only expected's keys are compared; numbers within the rounding of their
-- field (2 decimals for percentages and ratings, 1 for hours, else 4).
CREATE FUNCTION pg_temp.jdiff(a jsonb, b jsonb, path text DEFAULT '') RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    k text;
    i int;
    r text;
    tol float8 := 1.01e-4;
BEGIN
    IF jsonb_typeof(a) IS DISTINCT FROM jsonb_typeof(b) THEN
        RETURN path || ': ' || coalesce(a::text, 'NULL') || ' <> ' || coalesce(b::text, 'NULL');
    END IF;
    IF jsonb_typeof(b) = 'number' THEN
        IF path ~ '(coverage_percent|average_rating)$' THEN tol := 1.01e-2; END IF;
        IF path ~ 'hours$' THEN tol := 1.01e-1; END IF;
        IF abs(a::text::float8 - b::text::float8) > tol THEN RETURN path || ': ' || a || ' <> ' || b; END IF;
        RETURN NULL;
    ELSIF jsonb_typeof(b) = 'object' THEN
        FOR k IN SELECT jsonb_object_keys(b) LOOP
            r := pg_temp.jdiff(a -> k, b -> k, path || '.' || k);
            IF r IS NOT NULL THEN RETURN r; END IF;
        END LOOP;
        RETURN NULL;
    ELSIF jsonb_typeof(b) = 'array' THEN
        IF jsonb_array_length(a) <> jsonb_array_length(b) THEN
            RETURN path || ': length ' || jsonb_array_length(a) || ' <> ' || jsonb_array_length(b) || ': ' || a || ' vs ' || b;
        END IF;
        FOR i IN 0 .. jsonb_array_length(b) - 1 LOOP
            r := pg_temp.jdiff(a -> i, b -> i, path || '[' || i || ']');
            IF r IS NOT NULL THEN RETURN r; END IF;
        END LOOP;
        RETURN NULL;
    ELSIF a IS DISTINCT FROM b THEN
        RETURN path || ': ' || coalesce(a::text, 'NULL') || ' <> ' || coalesce(b::text, 'NULL');
    END IF;
    RETURN NULL;
END $$;

-- The trend rule, written again from its documented definition.
CREATE FUNCTION pg_temp.trend(v float8[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(v, 1), 0);
    a1 float8; a2 float8;
BEGIN
    IF n < 2 THEN RETURN 'stable'; END IF;
    SELECT avg(x) INTO a1 FROM unnest(v[1:n / 2]) x;
    SELECT avg(x) INTO a2 FROM unnest(v[n / 2 + 1:n]) x;
    IF a1 = 0 THEN RETURN CASE WHEN a2 = 0 THEN 'stable' ELSE 'improving' END; END IF;
    RETURN CASE WHEN (a2 - a1) / a1 > 0.1 THEN 'improving' WHEN (a2 - a1) / a1 < -0.1 THEN 'declining' ELSE 'stable' END;
END $$;

CREATE FUNCTION pg_temp.rate(num bigint, den bigint, digits int DEFAULT 4) RETURNS numeric
    LANGUAGE sql AS $$ SELECT coalesce(round(num::numeric / nullif(den, 0), digits), 0) $$;

-- The period's rows of a tenant (its zone; the last d days, today included), optionally one rep's.
CREATE FUNCTION pg_temp.o(t text, d int, rep text DEFAULT NULL) RETURNS TABLE (r learning.outcome_records, day date)
    LANGUAGE sql AS $$
    SELECT o, (o.created_at AT TIME ZONE learning.tenant_time_zone(t))::date
      FROM learning.outcome_records o
     WHERE o.tenant_id = t AND (rep IS NULL OR o.rep_id = rep)
       AND (o.created_at AT TIME ZONE learning.tenant_time_zone(t))::date
           BETWEEN (now() AT TIME ZONE learning.tenant_time_zone(t))::date - d + 1
               AND (now() AT TIME ZONE learning.tenant_time_zone(t))::date
$$;
CREATE FUNCTION pg_temp.f(t text, d int, reviewer text DEFAULT NULL) RETURNS TABLE (r learning.feedback_entries, day date)
    LANGUAGE sql AS $$
    SELECT f, (f.created_at AT TIME ZONE learning.tenant_time_zone(t))::date
      FROM learning.feedback_entries f
     WHERE f.tenant_id = t AND (reviewer IS NULL OR f.reviewer_id = reviewer)
       AND (f.created_at AT TIME ZONE learning.tenant_time_zone(t))::date
           BETWEEN (now() AT TIME ZONE learning.tenant_time_zone(t))::date - d + 1
               AND (now() AT TIME ZONE learning.tenant_time_zone(t))::date
$$;

CREATE FUNCTION pg_temp.daily(t text, d int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('date', to_char(day, 'YYYY-MM-DD'), 'actions', n, 'positive', p,
                                                 'success_rate', pg_temp.rate(p, n)) ORDER BY day), '[]')
      FROM (SELECT day, count(*) n, count(*) FILTER (WHERE (r).status = 'positive') p FROM pg_temp.o(t, d) GROUP BY day) x
$$;
CREATE FUNCTION pg_temp.daily_trend(t text, d int) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.trend(coalesce(array_agg(p ORDER BY day), '{}'))
      FROM (SELECT day, count(*) FILTER (WHERE (r).status = 'positive')::float8 p FROM pg_temp.o(t, d) GROUP BY day) x
$$;

-- Calibration from the raw rows (all time): Brier, direction, is_calibrated per action type.
CREATE FUNCTION pg_temp.calibration(t text) RETURNS jsonb LANGUAGE sql AS $$
    WITH c AS (SELECT action_type, least(floor(predicted_confidence * 10), 9) b, predicted_confidence p,
                      CASE status WHEN 'positive' THEN coalesce(outcome_score, 1) ELSE 0 END o
                 FROM learning.outcome_records WHERE tenant_id = t AND status IN ('positive', 'negative', 'expired')),
         bins AS (SELECT action_type, b, count(*) n, avg(p) mp, avg(o) r FROM c GROUP BY 1, 2),
         g AS (SELECT action_type, sum(n * (mp - r)) FILTER (WHERE n >= 10) / nullif(sum(n) FILTER (WHERE n >= 10), 0) g,
                      sum(n * abs(mp - r)) FILTER (WHERE n >= 10) / nullif(sum(n) FILTER (WHERE n >= 10), 0) ece
                 FROM bins GROUP BY 1),
         s AS (SELECT action_type, count(*) n, avg((p - o) ^ 2) brier FROM c GROUP BY 1)
    SELECT coalesce(jsonb_agg(jsonb_build_object('action_type', s.action_type, 'brier_score', round(s.brier::numeric, 6),
                     'sample_count', s.n, 'is_calibrated', coalesce(g.ece <= 0.15, false),
                     'direction', CASE WHEN g.g > 0.15 THEN 'overconfident' WHEN g.g < -0.15 THEN 'underconfident' ELSE 'calibrated' END)
                     ORDER BY s.action_type), '[]')
      FROM s JOIN g USING (action_type)
$$;

CREATE FUNCTION pg_temp.expected_manager(t text, d int) RETURNS jsonb LANGUAGE sql AS $$
    WITH o AS (SELECT (r).*, day FROM pg_temp.o(t, d)),
         f AS (SELECT (r).*, day FROM pg_temp.f(t, d)),
         cd AS (SELECT DISTINCT conversation_state_id, day FROM o),
         reps AS (SELECT rep_id, count(*) n, pg_temp.rate(count(*) FILTER (WHERE status = 'positive'),
                                                          count(*) FILTER (WHERE status IN ('positive', 'negative'))) sr
                    FROM o WHERE rep_id IS NOT NULL GROUP BY rep_id)
    SELECT jsonb_build_object(
        'role', 'manager', 'period_days', d, 'time_zone', learning.tenant_time_zone(t),
        'team_trends', jsonb_build_object(
            'total_outcomes', (SELECT count(*) FROM o),
            'success_rate', (SELECT pg_temp.rate(count(*) FILTER (WHERE status = 'positive'),
                                                 count(*) FILTER (WHERE status IN ('positive', 'negative'))) FROM o),
            'daily_activity', pg_temp.daily(t, d),
            'trend', pg_temp.daily_trend(t, d)),
        'comparative_performance', (SELECT coalesce(jsonb_agg(jsonb_build_object('action_type', action_type,
                                        'success_rate', pg_temp.rate(p, v), 'volume', v) ORDER BY action_type), '[]')
                                      FROM (SELECT action_type, count(*) FILTER (WHERE status <> 'pending') v,
                                                   count(*) FILTER (WHERE status = 'positive') p
                                              FROM o GROUP BY action_type) x WHERE v > 0),
        'rep_leaderboard', (SELECT coalesce(jsonb_agg(jsonb_build_object('rep_id', rep_id, 'actions', n, 'success_rate', sr)
                                                      ORDER BY sr DESC, n DESC, rep_id), '[]') FROM reps),
        'escalation_rate', (SELECT pg_temp.rate(count(*) FILTER (WHERE outcome_type = 'escalation_result'), count(*)) FROM o),
        'feedback_health', jsonb_build_object(
            'submission_rate', pg_temp.rate((SELECT count(*) FROM f), (SELECT count(*) FROM o WHERE status <> 'pending')),
            -- the contract: % of the period's conversations (those with an outcome in it) with feedback in it
            'coverage_percent', pg_temp.rate(100 * (SELECT count(DISTINCT o.conversation_state_id) FROM o WHERE EXISTS (
                                    SELECT 1 FROM f WHERE f.conversation_state_id = o.conversation_state_id)),
                                    (SELECT count(DISTINCT conversation_state_id) FROM o), 2),
            'conversations', (SELECT count(DISTINCT conversation_state_id) FROM o),
            'conversations_with_feedback', (SELECT count(DISTINCT o.conversation_state_id) FROM o WHERE EXISTS (
                                    SELECT 1 FROM f WHERE f.conversation_state_id = o.conversation_state_id))),
        'aggregate_calibration', jsonb_build_object(
            'by_action_type', pg_temp.calibration(t),
            'overall_brier', (SELECT round(learning.brier_score(predicted_confidence,
                                          CASE status WHEN 'positive' THEN coalesce(outcome_score, 1) ELSE 0 END)::numeric, 6)
                                FROM learning.outcome_records WHERE tenant_id = t AND status IN ('positive', 'negative', 'expired'))))
$$;

CREATE FUNCTION pg_temp.expected_executive(t text, d int) RETURNS jsonb LANGUAGE sql AS $$
    WITH o AS (SELECT (r).*, day FROM pg_temp.o(t, d))
    SELECT jsonb_build_object(
        'role', 'executive', 'period_days', d,
        'roi_metrics', jsonb_build_object(
            'total_actions', (SELECT count(*) FROM o),
            'positive_outcomes', (SELECT count(*) FROM o WHERE status = 'positive'),
            'estimated_time_saved_hours', (SELECT coalesce(round((sum(coalesce(m.minutes, 5)) / 60)::numeric, 1), 0)
                                             FROM o LEFT JOIN learning.action_minutes_saved m
                                               ON m.tenant_id = o.tenant_id AND m.action_type = o.action_type),
            'cost_per_interaction', (SELECT round(avg(cost), 4) FROM o)),
        'agent_effectiveness', jsonb_build_object(
            'overall_success_rate', (SELECT pg_temp.rate(count(*) FILTER (WHERE status = 'positive'),
                                                         count(*) FILTER (WHERE status IN ('positive', 'negative'))) FROM o),
            'qualification_completion_rate', (SELECT pg_temp.rate(count(*) FILTER (WHERE status = 'positive'),
                                                                  count(*) FILTER (WHERE status IN ('positive', 'negative')))
                                                FROM o WHERE action_type = 'qualify'),
            'escalation_rate', (SELECT pg_temp.rate(count(*) FILTER (WHERE outcome_type = 'escalation_result'), count(*)) FROM o)),
        'engagement_trends', jsonb_build_object('daily', pg_temp.daily(t, d), 'trend_direction', pg_temp.daily_trend(t, d)))
$$;

CREATE FUNCTION pg_temp.expected_rep(t text, rep text, d int) RETURNS jsonb LANGUAGE sql AS $$
    WITH o AS (SELECT (r).*, day FROM pg_temp.o(t, d, rep)),
         f AS (SELECT (r).*, day FROM pg_temp.f(t, d, rep)),
         deals AS (SELECT * FROM o WHERE outcome_type = 'deal_progression')
    SELECT jsonb_build_object(
        'role', 'rep', 'period_days', d, 'rep_id', rep,
        'response_rates', (SELECT jsonb_build_object(
            'total_actions', count(*),
            'positive_outcomes', count(*) FILTER (WHERE status = 'positive'),
            'negative_outcomes', count(*) FILTER (WHERE status = 'negative'),
            'pending_outcomes', count(*) FILTER (WHERE status = 'pending'),
            'expired_outcomes', count(*) FILTER (WHERE status = 'expired'),
            'ambiguous_outcomes', count(*) FILTER (WHERE status = 'ambiguous'),
            'success_rate', pg_temp.rate(count(*) FILTER (WHERE status = 'positive'),
                                         count(*) FILTER (WHERE status IN ('positive', 'negative')))) FROM o),
        'escalation_history', (SELECT coalesce(jsonb_agg(jsonb_build_object('date', to_char(day, 'YYYY-MM-DD'),
                                   'trigger', coalesce(metadata->>'escalation_trigger', 'unknown'), 'outcome', status,
                                   'conversation_id', conversation_state_id) ORDER BY created_at DESC, id), '[]')
                                 FROM (SELECT * FROM o WHERE outcome_type = 'escalation_result'
                                        ORDER BY created_at DESC, id LIMIT 50) e),
        'deal_impact', (SELECT jsonb_build_object(
            'deals_progressed', count(*) FILTER (WHERE status = 'positive'),
            'deals_stalled', count(*) FILTER (WHERE status = 'negative'),
            'deals_closed_won', count(*) FILTER (WHERE status = 'positive' AND metadata->>'deal_stage_at_resolution' = 'closed_won'),
            'stage_advancement_rate', round(count(*) FILTER (WHERE status = 'positive')::numeric / greatest(count(*), 1), 4))
            FROM deals),
        'feedback_scores', (SELECT jsonb_build_object(
            'total_feedbacks', count(*),
            'average_rating', coalesce(round(avg(rating), 2), 0),
            'normalized_score', coalesce(round(avg(CASE source WHEN 'inline' THEN (rating + 1) / 2.0 ELSE (rating - 1) / 4.0 END), 4), 0),
            'recent_trend', (SELECT pg_temp.trend(coalesce(array_agg(n ORDER BY day), '{}'))
                               FROM (SELECT day, count(*)::float8 n FROM f GROUP BY day) x)) FROM f),
        'calibration_summary', jsonb_build_object('action_types', pg_temp.calibration(t)))
$$;

-- ---------------------------------------------------------------- data
SELECT learning.set_tenant_time_zone('dash_kol', 'Asia/Kolkata');
SELECT learning.set_minutes_saved('dash_utc', 'send_email', 2.5);
SELECT learning.set_minutes_saved('dash_kol', 'qualify', 12);

-- record_outcome with created_at in the past (up to 400 days, some in the last hours)
SELECT count(learning.record_outcome(
           t, 'conv-' || (random() * 60)::int, a, round(random()::numeric, 3)::float8, ot,
           rep_id => CASE WHEN random() < 0.1 THEN NULL ELSE 'rep' || (random() * 4)::int END,
           metadata => CASE ot WHEN 'escalation_result'
                               THEN CASE WHEN random() < 0.2 THEN '{}'::jsonb
                                         ELSE jsonb_build_object('escalation_trigger', (ARRAY['pricing', 'legal', 'angry'])[1 + (random() * 2)::int]) END
                               WHEN 'deal_progression'
                               THEN jsonb_build_object('deal_stage_at_creation', (ARRAY['prospecting', 'discovery'])[1 + (random())::int])
                               ELSE '{}'::jsonb END,
           cost => CASE WHEN random() < 0.5 THEN round((random() * 3)::numeric, 2) END,
           created_at => now() - CASE WHEN random() < 0.3 THEN random() * interval '36 hours'
                                      ELSE random() * interval '400 days' END))
  FROM (SELECT (ARRAY['dash_utc', 'dash_kol', 'dash_ny'])[1 + (g % 3)] t,
               (ARRAY['send_email', 'send_chat', 'qualify', 'escalate', 'recommend_action', 'process_reply', 'follow_up'])[1 + (random() * 6)::int] a
          FROM generate_series(1, 1500) g) x
  CROSS JOIN LATERAL (SELECT CASE a WHEN 'qualify' THEN 'deal_progression' WHEN 'escalate' THEN 'escalation_result'
                                    WHEN 'recommend_action' THEN 'meeting_outcome' ELSE 'email_engagement' END ot) y;

-- resolve_outcome: about a third of the pending outcomes
SELECT count(learning.resolve_outcome(tenant_id, id, s,
                 CASE WHEN s = 'positive' AND random() < 0.3 THEN round(random()::numeric, 2)::float8 END))
  FROM (SELECT tenant_id, id, (ARRAY['positive', 'negative', 'ambiguous', 'positive'])[1 + (random() * 3)::int] s
          FROM learning.outcome_records WHERE tenant_id LIKE 'dash_%' AND random() < 0.33) x;

-- a plain UPDATE resolves some more
UPDATE learning.outcome_records SET status = 'negative'
 WHERE tenant_id LIKE 'dash_%' AND status = 'pending' AND random() < 0.1;

-- signals, applied by the jobs; expire_overdue expires what is left overdue
SELECT count(learning.ingest_signal(tenant_id, conversation_state_id, st, now() - interval '1 minute', det))
  FROM (SELECT DISTINCT ON (tenant_id, conversation_state_id, outcome_type) tenant_id, conversation_state_id,
               CASE outcome_type WHEN 'email_engagement' THEN 'email_replied' WHEN 'meeting_outcome' THEN 'meeting_booked'
                                 WHEN 'escalation_result' THEN 'escalation_resolved' ELSE 'deal_stage_changed' END st,
               CASE WHEN outcome_type = 'deal_progression'
                    THEN jsonb_build_object('stage', (ARRAY['closed_won', 'negotiation', 'closed_lost'])[1 + (random() * 2)::int])
                    ELSE '{}'::jsonb END det
          FROM learning.outcome_records WHERE tenant_id LIKE 'dash_%' AND status = 'pending' AND random() < 0.5) s;
SELECT learning.run_job('immediate_signals') IS NOT NULL, learning.run_job('engagement_signals') IS NOT NULL,
       learning.run_job('deal_progression') IS NOT NULL, learning.run_job('expire_overdue') IS NOT NULL;

-- an INSERT of an already resolved row, deletes, re-keying updates of pending rows
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, rep_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at, created_at, cost)
SELECT t, 'conv-ins-' || g, 'rep1', 'send_email', 0.65, 'email_engagement', 'positive', now() + interval '1 day',
       now() - g * interval '5 hours', 1.25
  FROM generate_series(1, 12) g, unnest(ARRAY['dash_utc', 'dash_kol', 'dash_ny']) t;
DELETE FROM learning.outcome_records WHERE tenant_id LIKE 'dash_%' AND random() < 0.05;
UPDATE learning.outcome_records
   SET rep_id = 'rep2', created_at = created_at - interval '3 days', conversation_state_id = conversation_state_id || '-moved'
 WHERE tenant_id LIKE 'dash_%' AND status = 'pending' AND random() < 0.1;

-- edits of resolved rows: a new escalation trigger and cost (the rollups move),
-- a metadata key no rollup reads, a score-less status rewrite (they do not)
UPDATE learning.outcome_records
   SET metadata = metadata || '{"escalation_trigger": "pricing_question"}', cost = coalesce(cost, 0) + 0.5
 WHERE tenant_id LIKE 'dash_%' AND status <> 'pending' AND random() < 0.15;
UPDATE learning.outcome_records SET metadata = metadata || '{"reviewed": true}'
 WHERE tenant_id LIKE 'dash_%' AND random() < 0.3;
UPDATE learning.outcome_records SET status = status WHERE tenant_id LIKE 'dash_%' AND random() < 0.3;

-- feedback, some back-dated (through an UPDATE of created_at)
SELECT count(learning.submit_feedback(t, 'conv-' || (random() * 60)::int,
                 (ARRAY['message', 'decision', 'conversation'])[1 + (random() * 2)::int], 'x', src,
                 CASE src WHEN 'inline' THEN (random() * 2)::int - 1 ELSE 1 + (random() * 4)::int END,
                 'rep' || (random() * 4)::int, (ARRAY['rep', 'manager', 'executive'])[1 + (random() * 2)::int]))
  FROM (SELECT (ARRAY['dash_utc', 'dash_kol', 'dash_ny'])[1 + (g % 3)] t,
               (ARRAY['inline', 'dashboard'])[1 + (random())::int] src FROM generate_series(1, 300) g) x;
UPDATE learning.feedback_entries SET created_at = created_at - random() * interval '60 days'
 WHERE tenant_id LIKE 'dash_%' AND random() < 0.7;
DELETE FROM learning.feedback_entries WHERE tenant_id LIKE 'dash_%' AND random() < 0.05;

-- dash_ny moves to New York after its data exists: its rollups are rebuilt
SELECT learning.set_tenant_time_zone('dash_ny', 'America/New_York');
-- and it keeps getting data afterwards
SELECT count(learning.record_outcome('dash_ny', 'conv-late-' || g, 'send_chat', 0.4, 'email_engagement',
                                     rep_id => 'rep3', created_at => now() - g * interval '7 hours')) FROM generate_series(1, 20) g;

SELECT ok((SELECT count(DISTINCT status) FROM learning.outcome_records WHERE tenant_id LIKE 'dash_%') = 5,
          'the data has outcomes of all five statuses');
SELECT ok((SELECT count(*) FROM learning.outcome_records WHERE tenant_id LIKE 'dash_%'
              AND metadata->>'deal_stage_at_resolution' = 'closed_won' AND status = 'positive') > 0,
          'the data has deals closed won through the deal_progression job');

-- the counters of this (still open) transaction are written at its commit;
-- write them now, as a commit would, so that the dashboards count them
SELECT learning.flush_pending_deltas();

-- ---------------------------------------------------------------- checks
-- 3 tenants x 5 periods x 3 dashboards = 45
SELECT is(pg_temp.jdiff(learning.manager_dashboard(t, d), pg_temp.expected_manager(t, d)), NULL,
          format('manager_dashboard(%s, %s) equals the recomputation', t, d))
  FROM unnest(ARRAY['dash_utc', 'dash_kol', 'dash_ny']) t, unnest(ARRAY[1, 7, 30, 90, 365]) d;
SELECT is(pg_temp.jdiff(learning.executive_summary(t, d), pg_temp.expected_executive(t, d)), NULL,
          format('executive_summary(%s, %s) equals the recomputation', t, d))
  FROM unnest(ARRAY['dash_utc', 'dash_kol', 'dash_ny']) t, unnest(ARRAY[1, 7, 30, 90, 365]) d;
SELECT is(pg_temp.jdiff(learning.rep_dashboard(t, NULL, d), pg_temp.expected_rep(t, NULL, d)), NULL,
          format('rep_dashboard(%s, NULL, %s) equals the recomputation', t, d))
  FROM unnest(ARRAY['dash_utc', 'dash_kol', 'dash_ny']) t, unnest(ARRAY[1, 7, 30, 90, 365]) d;
-- every rep of every tenant, 30 and 365 days: 3 x 5 x 2 = 30
SELECT is(pg_temp.jdiff(learning.rep_dashboard(t, r, d), pg_temp.expected_rep(t, r, d)), NULL,
          format('rep_dashboard(%s, %s, %s) equals the recomputation', t, r, d))
  FROM unnest(ARRAY['dash_utc', 'dash_kol', 'dash_ny']) t, unnest(ARRAY['rep0', 'rep1', 'rep2', 'rep3', 'rep4']) r,
       unnest(ARRAY[30, 365]) d;

-- the rollups equal a rebuild from the raw rows, table by table
CREATE TEMP TABLE before_rebuild AS
SELECT 'o' k, tenant_id, day::text, rep_id || '|' || action_type || '|' || outcome_type || '|' || escalation_trigger g,
       sum(actions)::text || '|' || sum(pending) || '|' || sum(positive) || '|' || sum(negative) || '|' || sum(ambiguous)
       || '|' || sum(expired) || '|' || round(sum(score_sum)::numeric, 6) || '|' || round(sum(cost_sum)::numeric, 6)
       || '|' || sum(cost_count) || '|' || sum(deals_closed_won) v
  FROM learning.outcome_rollups WHERE tenant_id LIKE 'dash_%' GROUP BY 1, 2, 3, 4
HAVING sum(actions) <> 0
UNION ALL
SELECT 'd', tenant_id, day::text, '', sum(actions) || '|' || sum(escalations) || '|' || sum(feedback_count) || '|'
       || round(sum(feedback_normalized_sum)::numeric, 6) || '|' || sum(conversations) || '|' || sum(conversations_with_feedback)
  FROM learning.daily_totals WHERE tenant_id LIKE 'dash_%' GROUP BY 1, 2, 3, 4
HAVING sum(actions) <> 0 OR sum(feedback_count) <> 0;
CREATE TEMP TABLE coverage_before AS
SELECT 'c' k, tenant_id, day::text d, sum(conversations)::text || '|' || sum(with_feedback) v
  FROM learning.conversation_coverage WHERE tenant_id LIKE 'dash_%' GROUP BY 1, 2, 3
HAVING sum(conversations) <> 0 OR sum(with_feedback) <> 0
UNION ALL
SELECT 'l', tenant_id, conversation_state_id, last_outcome_day || '|' || last_feedback_day
  FROM learning.conversation_last WHERE tenant_id LIKE 'dash_%' AND last_outcome_day IS NOT NULL;
SELECT learning.rebuild_rollups(t) FROM unnest(ARRAY['dash_utc', 'dash_kol', 'dash_ny']) t;
SELECT is((SELECT count(*) FROM (
              (SELECT * FROM coverage_before EXCEPT
               (SELECT 'c', tenant_id, day::text, sum(conversations)::text || '|' || sum(with_feedback)
                  FROM learning.conversation_coverage WHERE tenant_id LIKE 'dash_%' GROUP BY 1, 2, 3
                 HAVING sum(conversations) <> 0 OR sum(with_feedback) <> 0
                UNION ALL
                SELECT 'l', tenant_id, conversation_state_id, last_outcome_day || '|' || last_feedback_day
                  FROM learning.conversation_last WHERE tenant_id LIKE 'dash_%' AND last_outcome_day IS NOT NULL))
              UNION ALL
              (SELECT 'c', tenant_id, day::text, sum(conversations)::text || '|' || sum(with_feedback)
                  FROM learning.conversation_coverage WHERE tenant_id LIKE 'dash_%' GROUP BY 1, 2, 3
                 HAVING sum(conversations) <> 0 OR sum(with_feedback) <> 0
                EXCEPT SELECT * FROM coverage_before WHERE k = 'c')) x), 0::bigint,
          'the incrementally kept conversation coverage equals a rebuild from the raw rows');
SELECT is((SELECT count(*) FROM (
              (SELECT * FROM before_rebuild EXCEPT
               SELECT 'o', tenant_id, day::text, rep_id || '|' || action_type || '|' || outcome_type || '|' || escalation_trigger,
                      actions::text || '|' || pending || '|' || positive || '|' || negative || '|' || ambiguous || '|' || expired
                      || '|' || round(score_sum::numeric, 6) || '|' || round(cost_sum::numeric, 6) || '|' || cost_count
                      || '|' || deals_closed_won
                 FROM learning.outcome_rollups WHERE tenant_id LIKE 'dash_%' AND actions <> 0
               EXCEPT
               SELECT 'd', tenant_id, day::text, '', actions || '|' || escalations || '|' || feedback_count || '|'
                      || round(feedback_normalized_sum::numeric, 6) || '|' || conversations || '|' || conversations_with_feedback
                 FROM learning.daily_totals WHERE tenant_id LIKE 'dash_%')) x), 0::bigint,
          'the incrementally kept rollups equal a rebuild from the raw rows');

-- after the rebuild the dashboards still agree (1 check per tenant)
SELECT is(pg_temp.jdiff(learning.manager_dashboard(t, 365), pg_temp.expected_manager(t, 365)), NULL,
          format('manager_dashboard(%s, 365) after a rebuild', t))
  FROM unnest(ARRAY['dash_utc', 'dash_kol', 'dash_ny']) t;

-- the dashboards do not read outcome rows: emptying them behind the triggers' back leaves the numbers
SET LOCAL session_replication_role = replica;
CREATE TEMP TABLE saved AS SELECT learning.manager_dashboard('dash_utc', 90) - 'generated_at' AS m;
DELETE FROM learning.outcome_records WHERE tenant_id = 'dash_utc';
SELECT is(learning.manager_dashboard('dash_utc', 90) - 'generated_at', (SELECT m FROM saved),
          'manager_dashboard is computed from the rollups, not from outcome rows');
SELECT is(learning.manager_dashboard('dash_none', 30) -> 'team_trends' -> 'total_outcomes', '0'::jsonb,
          'a tenant without data gets a dashboard of zeros');
RESET session_replication_role;

-- 2 + 45 + 30 + 1 + 3 + 2 = 83; 4 more below
SELECT is(jsonb_array_length(learning.rep_dashboard('dash_kol', 'rep1', 365) -> 'escalation_history') > 0, true,
          'escalation_history lists the rep''s escalations');
SELECT learning.record_outcome('dash_nocost', 'c', 'send_email', 0.5, 'email_engagement');
SELECT is(learning.executive_summary('dash_nocost', 30) -> 'roi_metrics' -> 'cost_per_interaction', 'null'::jsonb,
          'cost_per_interaction is null when the period has outcomes but none with a cost');
SELECT is(learning.executive_summary('dash_none', 30) -> 'roi_metrics' -> 'cost_per_interaction', 'null'::jsonb,
          'cost_per_interaction of a tenant without data is null');
SELECT is(learning.rep_dashboard('dash_none') -> 'response_rates' -> 'total_actions', '0'::jsonb,
          'rep_dashboard of a tenant without data is zeros');

SELECT * FROM finish();
ROLLBACK;

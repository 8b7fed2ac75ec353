-- 40_coaching: coaching patterns, top actions, improvement areas and the
-- trend rule at their thresholds; bad input of the dashboards.
SET client_min_messages = warning;
\pset null '(null)'

-- mk: n_pos positive and n_neg negative outcomes of an action type, recorded now and resolved
CREATE FUNCTION pg_temp.mk(t text, a text, ot text, n_pos int, n_neg int, trig text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE i int; id uuid;
BEGIN
    FOR i IN 1 .. n_pos + n_neg LOOP
        id := learning.record_outcome(t, 'c' || i, a, 0.5, ot,
                  metadata => CASE WHEN trig IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('escalation_trigger', trig) END);
        PERFORM learning.resolve_outcome(t, id, CASE WHEN i <= n_pos THEN 'positive' ELSE 'negative' END);
    END LOOP;
END $$;
-- patterns: the fields that do not depend on the clock
CREATE FUNCTION pg_temp.patterns(t text, d int DEFAULT 90)
    RETURNS TABLE (pattern_type text, confidence numeric, sample_size int, p_value numeric, description text)
    LANGUAGE sql AS $$
    SELECT p->>'pattern_type', (p->>'confidence')::numeric, (p->>'sample_size')::int,
           round((p->>'p_value')::numeric, 4), p->>'description'
      FROM jsonb_array_elements(learning.coaching_patterns(t, d)) p
$$;
-- err: the SQLSTATE and message of a statement
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- minimum samples: 4 resolved outcomes of a type are not a pattern, 5 are
SELECT pg_temp.mk('co_min', 'four', 'email_engagement', 4, 0);
SELECT pg_temp.mk('co_min', 'five', 'email_engagement', 0, 5);
SELECT * FROM pg_temp.patterns('co_min');
-- a pending outcome is not a sample
SELECT learning.record_outcome('co_min', 'p', 'four', 0.5, 'email_engagement') IS NOT NULL AS recorded;
SELECT count(*) FROM pg_temp.patterns('co_min') WHERE description LIKE '''four''%';

-- difference from the average: 0.3 against 0.25 (0.05 in decimal, just below in binary) is
-- not a pattern; 0.3125 against 0.25 (0.0625) is; a rate below 0.3 is a stage insight
SELECT pg_temp.mk('co_diff', 'at_boundary', 'email_engagement', 3, 7);
SELECT pg_temp.mk('co_diff', 'rest', 'email_engagement', 2, 8);
SELECT * FROM pg_temp.patterns('co_diff');
SELECT pg_temp.mk('co_diff2', 'above', 'email_engagement', 5, 11);
SELECT pg_temp.mk('co_diff2', 'rest', 'email_engagement', 3, 13);
SELECT * FROM pg_temp.patterns('co_diff2');

-- stage insight: a success rate of exactly 0.3 is not low, 0.2 is
SELECT pg_temp.mk('co_stage', 'x', 'meeting_outcome', 3, 7);
SELECT pg_temp.mk('co_stage', 'x', 'deal_progression', 2, 8);
SELECT * FROM pg_temp.patterns('co_stage') WHERE pattern_type = 'stage_insight';

-- escalations: fewer than 5 in total give nothing; per trigger n >= 5, confidence n/30;
-- a rate of exactly 0.5 is not "resolve well", above is
SELECT pg_temp.mk('co_esc_few', 'escalate', 'escalation_result', 2, 2, 'legal');
SELECT count(*) AS escalation_patterns FROM pg_temp.patterns('co_esc_few') WHERE pattern_type = 'escalation_pattern';
SELECT pg_temp.mk('co_esc', 'escalate', 'escalation_result', 3, 3, 'pricing');
SELECT pg_temp.mk('co_esc', 'escalate', 'escalation_result', 4, 2, 'legal');
SELECT pg_temp.mk('co_esc', 'escalate', 'escalation_result', 2, 2, 'angry');
SELECT p->>'description' AS description, p->>'recommendation' AS recommendation, (p->>'confidence')::numeric AS confidence,
       p->'supporting_data' AS supporting_data
  FROM jsonb_array_elements(learning.coaching_patterns('co_esc')) p WHERE p->>'pattern_type' = 'escalation_pattern';
-- without escalation_trigger the trigger is 'unknown'
SELECT pg_temp.mk('co_esc_unknown', 'escalate', 'escalation_result', 5, 0);
SELECT p->'supporting_data'->>'trigger' AS trig FROM jsonb_array_elements(learning.coaching_patterns('co_esc_unknown')) p
 WHERE p->>'pattern_type' = 'escalation_pattern';

-- confidence is min(n / 50, 1), patterns sorted by it, p_value from the two-proportion test
SELECT pg_temp.mk('co_conf', 'big', 'email_engagement', 60, 0);
SELECT pg_temp.mk('co_conf', 'small', 'email_engagement', 0, 10);
SELECT * FROM pg_temp.patterns('co_conf');
-- the same numbers reach the manager and executive dashboards
SELECT jsonb_agg(e - 'p_value') FROM jsonb_array_elements(learning.manager_dashboard('co_conf', 1)->'coaching_opportunities') e;
SELECT learning.executive_summary('co_conf', 1)->'strategic_insights';

-- top_performing_actions: n >= 5, by success rate, top_k
SELECT pg_temp.mk('co_top', 'send_email', 'email_engagement', 9, 1);
SELECT pg_temp.mk('co_top', 'qualify', 'deal_progression', 5, 5);
SELECT pg_temp.mk('co_top', 'cold_call', 'email_engagement', 1, 9);
SELECT pg_temp.mk('co_top', 'tiny', 'email_engagement', 4, 0);
SELECT learning.top_performing_actions('co_top', 90, 3);
SELECT learning.top_performing_actions('co_top', 90, 1);

-- improvement_areas: success rate below 0.4 (0.4 itself is not), feedback average below 0 with n >= 5
SELECT pg_temp.mk('co_imp', 'at_04', 'email_engagement', 4, 6);
SELECT pg_temp.mk('co_imp', 'low', 'email_engagement', 2, 8);
SELECT count(learning.submit_feedback('co_imp', 'c', 'message', 'm', 'inline', r, 'rev'))
  FROM unnest(ARRAY[-1, -1, -1, 0, 0]) r;
SELECT count(learning.submit_feedback('co_imp', 'c', 'decision', 'm', 'inline', r, 'rev'))
  FROM unnest(ARRAY[-1, -1, -1, -1]) r;
SELECT jsonb_pretty(learning.improvement_areas('co_imp'));

-- the trend rule
SELECT v, learning.trend_direction(v)
  FROM (VALUES ('{}'::float8[]), ('{5}'), ('{0,0}'), ('{0,1}'), ('{10,11}'), ('{10,11.0001}'), ('{10,9}'),
               ('{10,8.9999}'), ('{1,1,5}'), ('{4,2,2}'), ('{3,3,3,3}'), ('{2,0,0,3}')) t(v);

-- bad input
SELECT pg_temp.err($$SELECT learning.manager_dashboard('co_top', 0)$$);
SELECT pg_temp.err($$SELECT learning.manager_dashboard('co_top', 366)$$);
SELECT pg_temp.err($$SELECT learning.executive_summary('co_top', NULL)$$);
SELECT pg_temp.err($$SELECT learning.rep_dashboard('co_top', 'nobody')$$);
SELECT pg_temp.err($$SELECT learning.rep_dashboard('co_top', '')$$);
SELECT pg_temp.err($$SELECT learning.coaching_patterns('bad tenant!')$$);
SELECT pg_temp.err($$SELECT learning.coaching_patterns(NULL)$$);
SELECT pg_temp.err($$SELECT learning.top_performing_actions('co_top', 90, 0)$$);
SELECT pg_temp.err($$SELECT learning.improvement_areas('co_top', 400)$$);
SELECT pg_temp.err($$SELECT learning.set_tenant_time_zone('co_top', 'Mars/Olympus_Mons')$$);
SELECT pg_temp.err($$SELECT learning.trend_direction('{1,NULL}')$$);
-- a tenant without data: zeros and empty lists, not an error
SELECT learning.coaching_patterns('co_nobody'), learning.top_performing_actions('co_nobody'),
       learning.improvement_areas('co_nobody');
SELECT learning.manager_dashboard('co_nobody') - ARRAY['generated_at', 'period_start', 'period_end'];
SELECT learning.executive_summary('co_nobody', 365) - ARRAY['generated_at', 'period_start', 'period_end'];
SELECT learning.rep_dashboard('co_nobody', NULL, 1) - ARRAY['generated_at', 'period_start', 'period_end'];

-- a day boundary in the tenant's zone: 23:30 UTC yesterday is today in Kolkata (+05:30)
SELECT learning.set_tenant_time_zone('co_tz', 'Asia/Kolkata');
SELECT learning.record_outcome('co_tz', 'c', 'send_email', 0.5, 'email_engagement',
       created_at => date_trunc('day', now() AT TIME ZONE 'Asia/Kolkata') AT TIME ZONE 'Asia/Kolkata' + interval '1 minute') IS NOT NULL;
SELECT learning.record_outcome('co_tz', 'c', 'send_email', 0.5, 'email_engagement',
       created_at => date_trunc('day', now() AT TIME ZONE 'Asia/Kolkata') AT TIME ZONE 'Asia/Kolkata' - interval '1 minute') IS NOT NULL;
SELECT learning.manager_dashboard('co_tz', 1)->'team_trends'->'total_outcomes' AS today,
       learning.manager_dashboard('co_tz', 2)->'team_trends'->'total_outcomes' AS two_days;
-- moving the tenant to UTC rebuilds its days
SELECT learning.set_tenant_time_zone('co_tz', 'UTC');
SELECT sum(actions) AS actions, count(DISTINCT day) <= 2 AS at_most_two_days FROM learning.daily_totals WHERE tenant_id = 'co_tz';

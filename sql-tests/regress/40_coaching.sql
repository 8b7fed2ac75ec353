-- 40_coaching: coaching patterns, top actions, improvement areas and the
-- trend rule at their thresholds; their exact tests and Benjamini-Hochberg
-- q-values against scipy and statsmodels; bad input of the dashboards.
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
-- patterns: the fields that do not depend on the clock; alpha 1 by default, so that the
-- rules' thresholds are seen without the false-discovery filter
CREATE FUNCTION pg_temp.patterns(t text, d int DEFAULT 90, alpha float8 DEFAULT 1)
    RETURNS TABLE (pattern_type text, confidence numeric, sample_size int, p_value numeric, q_value numeric,
                   description text)
    LANGUAGE sql AS $$
    SELECT p->>'pattern_type', (p->>'confidence')::numeric, (p->>'sample_size')::int,
           round((p->>'p_value')::numeric, 4), round((p->>'q_value')::numeric, 4), p->>'description'
      FROM jsonb_array_elements(learning.coaching_patterns(t, d, alpha)) p
$$;
-- err: the SQLSTATE and message of a statement
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- The rules of 0.1.0 (every candidate, alpha => 1).
-- minimum samples: 4 resolved outcomes of a type are not a pattern, 5 are
-- (0 of 5 against 4 of 4: scipy.stats.fisher_exact([[0, 5], [4, 0]]).pvalue = 0.007936507936507938)
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
  FROM jsonb_array_elements(learning.coaching_patterns('co_esc', 90, 1)) p WHERE p->>'pattern_type' = 'escalation_pattern';
-- without escalation_trigger the trigger is 'unknown'; with no other trigger to compare with,
-- the pattern has no p-value (null) and is shown only with alpha => 1
SELECT pg_temp.mk('co_esc_unknown', 'escalate', 'escalation_result', 5, 0);
SELECT p->'supporting_data'->>'trigger' AS trig, p->'p_value' AS p_value
  FROM jsonb_array_elements(learning.coaching_patterns('co_esc_unknown', 90, 1)) p
 WHERE p->>'pattern_type' = 'escalation_pattern';

-- confidence is min(n / 50, 1), patterns sorted by it, p_value from Fisher's exact test:
-- scipy.stats.fisher_exact([[60, 0], [0, 10]]).pvalue = 2.520767823296903e-12, and the same for
-- 'small' (the same table); two candidates with equal p: q = p
SELECT pg_temp.mk('co_conf', 'big', 'email_engagement', 60, 0);
SELECT pg_temp.mk('co_conf', 'small', 'email_engagement', 0, 10);
SELECT * FROM pg_temp.patterns('co_conf');
-- the same numbers reach the manager and executive dashboards
SELECT jsonb_agg(e - ARRAY['p_value', 'q_value']) FROM jsonb_array_elements(learning.manager_dashboard('co_conf', 1)->'coaching_opportunities') e;
SELECT bool_and(abs((e->>'p_value')::float8 - 2.520767823296903e-12) < 1e-20
                AND abs((e->>'q_value')::float8 - 2.520767823296903e-12) < 1e-20) AS exact_p_and_q
  FROM jsonb_array_elements(learning.manager_dashboard('co_conf', 1)->'coaching_opportunities') e;
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
-- every candidate (alpha => 1): 'low' and 'message' pass the rules; 'at_04' (n = 10) is
-- tested but not a low rate, 'decision' (n = 4) is not tested
SELECT a->>'area_type' AS area_type, coalesce(a->>'action_type', a->>'target_type') AS name, a->>'description' AS description,
       a->'success_rate' AS success_rate, a->'total_count' AS total_count, a->'avg_rating' AS avg_rating,
       a->'total_reviews' AS total_reviews, a->>'recommendation' AS recommendation
  FROM jsonb_array_elements(learning.improvement_areas('co_imp', 90, 1)) a;
-- their tests: exact one-sided binomial against a rate of 0.4 and an exact sign test:
--   scipy.stats.binomtest(2, 10, 0.4, alternative='less').pvalue  = 0.16728975359999992  ('low')
--   scipy.stats.binomtest(4, 10, 0.4, alternative='less').pvalue  = 0.6331032576         ('at_04')
--   scipy.stats.binomtest(3, 3, 0.5, alternative='greater').pvalue = 0.125               ('message': 3 negative, 0 positive)
--   statsmodels multipletests([0.6331032576, 0.16728975359999992, 0.125], method='fdr_bh')[1]
--     = [0.63310326, 0.25093463, 0.25093463]
SELECT coalesce(a->>'action_type', a->>'target_type') AS name,
       abs((a->>'p_value')::float8 - CASE a->>'area_type' WHEN 'low_success_rate' THEN 0.16728975359999992 ELSE 0.125 END) < 1e-14 AS p_as_scipy,
       abs((a->>'q_value')::float8 - 0.25093463) < 5e-9 AS q_as_statsmodels
  FROM jsonb_array_elements(learning.improvement_areas('co_imp', 90, 1)) a;
-- neither is significant at the default alpha 0.05
SELECT learning.improvement_areas('co_imp') AS none_at_default_alpha;
-- 1 of 30: scipy.stats.binomtest(1, 30, 0.4, alternative='less').pvalue = 4.6425523141353955e-06;
-- with the others m = 4 candidates: q = 4 * 4.6425523141353955e-06 = 1.8570209256541582e-05
SELECT pg_temp.mk('co_imp', 'bad', 'email_engagement', 1, 29);
SELECT a->>'action_type' AS reported, abs((a->>'p_value')::float8 - 4.6425523141353955e-06) < 1e-18 AS p_as_scipy,
       abs((a->>'q_value')::float8 - 1.8570209256541582e-05) < 1e-17 AS q_as_statsmodels
  FROM jsonb_array_elements(learning.improvement_areas('co_imp')) a;

-- Exact tests and Benjamini-Hochberg.  Three action types, each against the rest of the tenant:
--   scipy.stats.fisher_exact([[2, 6], [16, 6]]).pvalue = 0.03415061699919271   ('a', 2 of 8)
--   scipy.stats.fisher_exact([[9, 3], [9, 9]]).pvalue  = 0.2598500749625188    ('b', 9 of 12)
--   scipy.stats.fisher_exact([[7, 3], [11, 9]]).pvalue = 0.6941529235382309    ('c', 7 of 10)
--   statsmodels multipletests([0.03415061699919271, 0.2598500749625188, 0.6941529235382309],
--                             method='fdr_bh')[1] = [0.10245185, 0.38977511, 0.69415292]
-- (by hand: 3 * 0.0341506/1, 3 * 0.2598501/2, 3 * 0.6941529/3).
SELECT pg_temp.mk('co_exact', 'a', 'email_engagement', 2, 6);
SELECT pg_temp.mk('co_exact', 'b', 'email_engagement', 9, 3);
SELECT pg_temp.mk('co_exact', 'c', 'email_engagement', 7, 3);
SELECT p->'supporting_data'->>'action_type' AS action_type,
       abs((p->>'p_value')::float8 - v.pv) < 1e-14 AS p_as_scipy,
       abs((p->>'q_value')::float8 - v.qv) < 5e-9 AS q_as_statsmodels
  FROM jsonb_array_elements(learning.coaching_patterns('co_exact', 90, 1)) p
  JOIN (VALUES ('a', 0.03415061699919271, 0.10245185), ('b', 0.2598500749625188, 0.38977511),
               ('c', 0.6941529235382309, 0.69415292)) v(t, pv, qv) ON v.t = p->'supporting_data'->>'action_type'
 ORDER BY 1;
-- 'a' has p < 0.05 but q > 0.05: not reported at the default alpha; at alpha 0.11 it is
SELECT learning.coaching_patterns('co_exact') AS none_at_default_alpha;
SELECT p->'supporting_data'->>'action_type' AS at_alpha_011 FROM jsonb_array_elements(learning.coaching_patterns('co_exact', 90, 0.11)) p;

-- A planted effect: 'star' at 48 of 60 against four types at 24 of 60 (overall 0.48).
--   scipy.stats.fisher_exact([[48, 12], [96, 144]]).pvalue  = 1.9876989727955788e-08
--   scipy.stats.fisher_exact([[24, 36], [120, 120]]).pvalue = 0.19408890167259318 (each of the four)
--   statsmodels multipletests(those five, method='fdr_bh')[1] = [9.93849486e-08, 0.194088902 x 4]
-- The four are candidates of the rules (0.4 against 0.48) but not significant: only 'star' is reported.
SELECT pg_temp.mk('co_planted', 'star', 'email_engagement', 48, 12);
SELECT pg_temp.mk('co_planted', 't' || k, 'email_engagement', 24, 36) FROM generate_series(1, 4) k;
SELECT count(*) AS candidates FROM jsonb_array_elements(learning.coaching_patterns('co_planted', 90, 1));
SELECT p->'supporting_data'->>'action_type' AS reported,
       abs((p->>'p_value')::float8 - 1.9876989727955788e-08) < 1e-20 AS p_as_scipy,
       abs((p->>'q_value')::float8 - 9.93849486e-08) < 5e-16 AS q_as_statsmodels
  FROM jsonb_array_elements(learning.coaching_patterns('co_planted')) p;
SELECT bool_and(abs((p->>'p_value')::float8 - 0.19408890167259318) < 1e-14
                AND abs((p->>'q_value')::float8 - 0.19408890167259318) < 1e-14) AS companions_as_scipy
  FROM jsonb_array_elements(learning.coaching_patterns('co_planted', 90, 1)) p
 WHERE p->'supporting_data'->>'action_type' <> 'star';
-- the dashboards show the same filtered list
SELECT jsonb_array_length(learning.manager_dashboard('co_planted', 1)->'coaching_opportunities') AS opportunities,
       jsonb_array_length(learning.executive_summary('co_planted', 1)->'strategic_insights') AS insights;

-- Large counts (the exact sums walk only where the probability is): 1000 of 3000 against
-- 2400 of 5000, recorded resolved in one statement.  Relative agreement to 1e-9:
--   scipy.stats.fisher_exact([[1000, 2000], [2400, 2600]]).pvalue = 3.4073929375219734e-38 (both types)
--   scipy.stats.binomtest(1000, 3000, 0.4, alternative='less').pvalue = 2.824863338726268e-14
--   scipy.stats.binomtest(2400, 5000, 0.4, alternative='less').pvalue = 1.0 (big2: tested, not a low rate)
--   statsmodels multipletests([2.824863338726268e-14, 1.0], method='fdr_bh')[1][0]
--     = 2 * 2.824863338726268e-14 = 5.649726677452536e-14
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at)
SELECT 'co_large', 'c' || i, a, 0.5, 'email_engagement', CASE WHEN i <= pos THEN 'positive' ELSE 'negative' END,
       now() + interval '1 day'
  FROM (VALUES ('big1', 1000, 3000), ('big2', 2400, 5000)) v(a, pos, n), generate_series(1, n) i;
SELECT p->'supporting_data'->>'action_type' AS action_type,
       abs((p->>'p_value')::float8 / 3.4073929375219734e-38 - 1) < 1e-9 AS p_as_scipy,
       abs((p->>'q_value')::float8 / 3.4073929375219734e-38 - 1) < 1e-9 AS q_as_statsmodels
  FROM jsonb_array_elements(learning.coaching_patterns('co_large')) p ORDER BY 1;
SELECT a->>'action_type' AS low, abs((a->>'p_value')::float8 / 2.824863338726268e-14 - 1) < 1e-9 AS p_as_scipy,
       abs((a->>'q_value')::float8 / 5.649726677452536e-14 - 1) < 1e-9 AS q_as_statsmodels
  FROM jsonb_array_elements(learning.improvement_areas('co_large')) a;
-- a tail far below the smallest double: 3000 of 3000 against 0 of 3000,
-- scipy.stats.fisher_exact([[3000, 0], [0, 3000]]).pvalue = 0.0
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at)
SELECT 'co_far', 'c' || i, a, 0.5, 'email_engagement', s, now() + interval '1 day'
  FROM (VALUES ('all', 'positive'), ('none', 'negative')) v(a, s), generate_series(1, 3000) i;
SELECT p->'supporting_data'->>'action_type' AS action_type, p->'p_value' AS p_value, p->'q_value' AS q_value
  FROM jsonb_array_elements(learning.coaching_patterns('co_far')) p ORDER BY 1;

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
SELECT a, pg_temp.err(format('SELECT learning.coaching_patterns(%L, 90, %s)', 'co_top', a)) AS coaching_patterns,
       pg_temp.err(format('SELECT learning.improvement_areas(%L, 90, %s)', 'co_top', a)) AS improvement_areas
  FROM unnest(ARRAY['NULL', '''NaN''', '0', '-0.5', '1.0000001', '''Infinity''']) a;
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

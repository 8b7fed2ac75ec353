-- Calibration: the aggregate, exact bins on every resolution path, the curve,
-- check_and_adjust and the decision-time lookups.  Cases of the seed system.

-- the aggregate: p = [0.9, 0.1, 0.8, 0.2], o = [1, 0, 1, 0] gives 0.025
SELECT abs(learning.brier_score(p, o) - 0.025) < 1e-12 AS seed_case
  FROM (VALUES (0.9, 1), (0.1, 0), (0.8, 1), (0.2, 0)) v(p, o);
SELECT learning.brier_score(p, o) IS NULL AS null_on_no_rows FROM (VALUES (0.5::float8, 1::float8)) v(p, o) WHERE false;
SELECT learning.brier_score(p, o) AS nulls_skipped FROM (VALUES (0.5, NULL), (1.0, 1.0), (NULL, 0)) v(p, o);
SELECT err($$SELECT learning.brier_score(p, o) FROM (VALUES ('NaN'::float8, 1::float8)) v(p, o)$$);
-- parallel-safe aggregate with a combine function
SELECT aggcombinefn, aggfinalfn FROM pg_aggregate WHERE aggfnoid = 'learning.brier_score(float8, float8)'::regprocedure;

-- the seed case through the bins: record, resolve by four paths, read from the bins
SELECT learning.record_outcome('cal', 'c', 'send_email', 0.9, 'email_engagement') AS a \gset
SELECT learning.record_outcome('cal', 'c', 'send_email', 0.1, 'email_engagement') AS b \gset
SELECT learning.record_outcome('cal', 'c', 'send_email', 0.8, 'email_engagement') AS c \gset
SELECT learning.record_outcome('cal', 'c', 'send_email', 0.2, 'email_engagement', created_at => now() - interval '2 days') AS d \gset
SELECT learning.brier_score('cal', 'send_email') IS NULL AS null_before_any_resolution;
SELECT status FROM learning.resolve_outcome('cal', :'a', 'positive');
UPDATE learning.outcome_records SET status = 'positive' WHERE id = :'c';
SELECT learning.ingest_signal('cal', 'c', 'email_bounced') IS NOT NULL;
SELECT status FROM learning.resolve_outcome('cal', :'b', 'negative');
SELECT (learning.run_job('expire_overdue'))->'items' AS expired;
SELECT abs(learning.brier_score('cal', 'send_email') - 0.025) < 1e-12 AS seed_case_from_bins;
-- ambiguous outcomes are not counted
SELECT learning.record_outcome('cal', 'c', 'send_email', 0.5, 'email_engagement') AS e \gset
SELECT status FROM learning.resolve_outcome('cal', :'e', 'ambiguous');
SELECT abs(learning.brier_score('cal', 'send_email') - 0.025) < 1e-12 AS ambiguous_not_counted;
SELECT bin_index, sum(n) AS n FROM learning.calibration_bins WHERE tenant_id = 'cal' GROUP BY 1 ORDER BY 1;
-- bins: min(floor(p * 10), 9)
SELECT learning.record_outcome('cal', 'b', 'binning', p, 'email_engagement') IS NOT NULL
  FROM unnest(ARRAY[0, 0.09, 0.1, 0.3, 0.7, 0.95, 1]::float8[]) p;
UPDATE learning.outcome_records SET status = 'negative' WHERE tenant_id = 'cal' AND action_type = 'binning';
SELECT bin_index, sum(n) AS n FROM learning.calibration_bins
 WHERE tenant_id = 'cal' AND action_type = 'binning' GROUP BY 1 ORDER BY 1;

-- a rolled-back resolution and an aborted subtransaction leave the bins as they were
SELECT learning.record_outcome('cal', 'r', 'rollback_test', 0.55, 'email_engagement') AS r1 \gset
BEGIN;
SELECT status FROM learning.resolve_outcome('cal', :'r1', 'positive');
ROLLBACK;
SELECT count(*) AS bins_after_rollback FROM learning.calibration_bins WHERE tenant_id = 'cal' AND action_type = 'rollback_test';
BEGIN;
SAVEPOINT s;
SELECT status FROM learning.resolve_outcome('cal', :'r1', 'positive');
ROLLBACK TO SAVEPOINT s;
SELECT status FROM learning.resolve_outcome('cal', :'r1', 'negative');
COMMIT;
SELECT sum(n) AS n, sum(sum_o) AS sum_o FROM learning.calibration_bins WHERE tenant_id = 'cal' AND action_type = 'rollback_test';
-- deleting a resolved outcome takes it out of the bins
DELETE FROM learning.outcome_records WHERE id = :'r1';
SELECT sum(n) AS n_after_delete FROM learning.calibration_bins WHERE tenant_id = 'cal' AND action_type = 'rollback_test';

-- 75 positives and 25 negatives at 0.75 are calibrated; brier = 0.1875 exactly
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at)
SELECT 'cal', 'k' || i, 'calibrated', 0.75, 'email_engagement',
       CASE WHEN i <= 75 THEN 'positive' ELSE 'negative' END, now() + interval '1 day'
  FROM generate_series(1, 100) i;
SELECT jsonb_pretty(learning.calibration_curve('cal', 'calibrated') - 'bins');
SELECT b->>'bin_index' AS bin, b->>'count' AS count, b->>'mean_predicted' AS mean_predicted,
       b->>'actual_rate' AS actual_rate, round((b->>'ci_low')::numeric, 4) AS ci_low, round((b->>'ci_high')::numeric, 4) AS ci_high
  FROM jsonb_array_elements(learning.calibration_curve('cal', 'calibrated')->'bins') b
 WHERE (b->>'count')::int > 0;
SELECT jsonb_array_length(learning.calibration_curve('cal', 'calibrated')->'bins') AS all_ten_bins;
SELECT learning.check_and_adjust('cal', 'calibrated') AS no_adjustment_when_calibrated;

-- an action type without data: a curve of empty bins, NULL Brier
SELECT learning.calibration_curve('cal', 'nothing') - 'bins';
-- min_samples decides which bins feed the flat lists, ECE and is_calibrated
SELECT c->'midpoints' AS midpoints, c->'counts' AS counts, c->'is_calibrated' AS is_calibrated
  FROM learning.calibration_curve('cal', 'send_email', 1) c;
SELECT c->'midpoints' AS midpoints, c->'ece' AS ece, c->'is_calibrated' AS is_calibrated
  FROM learning.calibration_curve('cal', 'send_email') c;
SELECT err($$SELECT learning.calibration_curve('cal', 'send_email', 0)$$);

-- 10 positives and 10 negatives at 0.85: overconfident, decrease by at most 0.10
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at)
SELECT 'cal', 'o' || i, 'overconfident', 0.85, 'email_engagement',
       CASE WHEN i <= 10 THEN 'positive' ELSE 'negative' END, now() + interval '1 day'
  FROM generate_series(1, 20) i;
SELECT learning.adjusted_confidence('cal', 'overconfident', 0.85) AS before_adjusting;
SELECT jsonb_pretty(learning.check_and_adjust('cal', 'overconfident'));
SELECT learning.adjusted_confidence('cal', 'overconfident', 0.85) AS after_one_check;
-- repeated checks on unchanged data converge (target 0.5/0.85) and then stop
SELECT i, a->>'direction' AS direction, a->>'old_threshold' AS old, a->>'new_threshold' AS new
  FROM generate_series(1, 8) i, LATERAL (SELECT learning.check_and_adjust('cal', 'overconfident') AS a WHERE i > 0) x;
SELECT round(confidence_scale::numeric, 6) AS converged_scale, confidence_scale BETWEEN 0.5 AND 1.5 AS bounded
  FROM learning.calibration_state WHERE tenant_id = 'cal' AND action_type = 'overconfident';
SELECT count(*) AS adjustments_recorded, min(old_scale) AS lowest_old, max(old_scale) AS first_old
  FROM learning.calibration_adjustments WHERE tenant_id = 'cal' AND action_type = 'overconfident';
-- each adjustment is announced; a transaction's adjustments share one event
SELECT sum((payload->>'count')::int) AS announced, count(*) AS events,
       sum(jsonb_array_length(payload->'items')) AS listed
  FROM learning.events WHERE tenant_id = 'cal' AND event_type = 'calibration_adjusted';
SELECT round(learning.adjusted_confidence('cal', 'overconfident', 0.85)::numeric, 6) AS adjusted,
       learning.adjusted_confidence('cal', 'overconfident', 1.0) <= 1 AS clamped;

-- 20 negatives at 0.95 go as far as the 0.5 bound, never past it
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at)
SELECT 'cal', 'n' || i, 'hopeless', 0.95, 'email_engagement', 'negative', now() + interval '1 day'
  FROM generate_series(1, 20) i;
SELECT string_agg(a->>'new_threshold', ' ' ORDER BY i) AS steps
  FROM generate_series(1, 8) i, LATERAL (SELECT learning.check_and_adjust('cal', 'hopeless') AS a WHERE i > 0) x;
-- underconfident: increase, at most 1.5
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at)
SELECT 'cal', 'u' || i, 'timid', 0.15, 'email_engagement', 'positive', now() + interval '1 day'
  FROM generate_series(1, 30) i;
SELECT a->>'direction' AS direction, a->>'magnitude' AS magnitude, a->>'reason' AS reason
  FROM learning.check_and_adjust('cal', 'timid') a;
SELECT string_agg(coalesce(a->>'new_threshold', '-'), ' ' ORDER BY i) AS steps
  FROM generate_series(1, 6) i, LATERAL (SELECT learning.check_and_adjust('cal', 'timid') AS a WHERE i > 0) x;

-- 5 samples: cold start, nothing to adjust
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, status, window_expires_at)
SELECT 'cal', 'cs' || i, 'cold', 0.85, 'email_engagement', 'negative', now() + interval '1 day'
  FROM generate_series(1, 5) i;
SELECT learning.check_and_adjust('cal', 'cold') IS NULL AS cold_start;

-- calibrated_probability: raw with no data; monotone; shrunk toward raw when thin
SELECT learning.calibrated_probability('cal', 'nothing', 0.42) AS no_data_is_raw,
       learning.calibrated_probability('cal', 'nothing', 0.02) AS low_end,
       learning.calibrated_probability('cal', 'nothing', 0.99) AS high_end;
SELECT bool_and(b.v >= a.v) AS monotone
  FROM (SELECT x, learning.calibrated_probability('cal', 'overconfident', x) v FROM generate_series(0, 1, 0.05) x) a
  JOIN (SELECT x, learning.calibrated_probability('cal', 'overconfident', x) v FROM generate_series(0, 1, 0.05) x) b
    ON b.x = a.x + 0.05;
-- bin 8 (10 of 20 positive at 0.85) shrunk with 10 pseudo-samples: 18.5/30 = 0.6167, below
-- the empty bin 7 (0.75 with weight 10), so the two pool: (18.5 + 7.5) / 40 = 0.65
SELECT round(learning.calibrated_probability('cal', 'overconfident', 0.85)::numeric, 6) AS p_at_085,
       round(((10 + 10 * 0.85 + 10 * 0.75) / (20 + 10 + 10))::numeric, 6) AS expected_pooled;
-- one outcome far away does not move the other end (thin data stays near raw)
SELECT learning.record_outcome('cal', 'far', 'lonely', 0.95, 'email_engagement') AS lonely \gset
SELECT status FROM learning.resolve_outcome('cal', :'lonely', 'negative');
SELECT round(learning.calibrated_probability('cal', 'lonely', 0.05)::numeric, 6) AS low_stays_raw,
       round(learning.calibrated_probability('cal', 'lonely', 0.95)::numeric, 6) AS high_pulled_down;
SELECT round(learning.calibrated_probability('cal', 'calibrated', 0.75)::numeric, 6) AS calibrated_stays;

-- errors of the lookups
SELECT err($$SELECT learning.adjusted_confidence('cal', 'x', 1.1)$$);
SELECT err($$SELECT learning.adjusted_confidence('cal', 'x', NULL)$$);
SELECT err($$SELECT learning.calibrated_probability('cal', 'Bad-Type', 0.5)$$);
SELECT err($$SELECT learning.brier_score('c a l', 'x')$$);
SELECT err($$SELECT learning.check_and_adjust(NULL, 'x')$$);

-- TRUNCATE of the outcomes empties the bins with them
BEGIN;
TRUNCATE learning.outcome_records CASCADE;
SELECT count(*) AS bins_after_truncate FROM learning.calibration_bins;
ROLLBACK;

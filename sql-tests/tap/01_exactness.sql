-- Exactness of calibration: the aggregate against the plain mean on thousands
-- of seeded random pairs, and the bins against the outcome rows after a mix of
-- every resolution path (function, plain UPDATE, signal jobs with scored deals,
-- expiry, ambiguous, deletes, aborted subtransactions).
BEGIN;
SELECT plan(11);

\o /dev/null
SELECT setseed(0.4242);
\o
CREATE TEMP TABLE pairs AS
SELECT random() AS p,
       CASE WHEN i % 7 = 0 THEN round(random()::numeric, 1)::float8   -- some fractional outcomes
            WHEN random() < 0.6 THEN 1.0 ELSE 0.0 END AS o
  FROM generate_series(1, 5000) i;

SELECT ok(abs((SELECT learning.brier_score(p, o) FROM pairs)
              - (SELECT avg((p - o) ^ 2) FROM pairs)) < 1e-12,
          'aggregate equals the mean of (p - o)^2 to 1e-12 on 5000 random pairs');

-- the same through parallel workers and the combine function
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT ok(abs((SELECT learning.brier_score(p, o) FROM pairs)
              - (SELECT avg((p - o) ^ 2) FROM pairs)) < 1e-12,
          'aggregate is exact when computed in parallel (combine function)');
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;

SELECT ok(abs((SELECT learning.brier_score(p, o) FROM pairs GROUP BY (p > 0.5) ORDER BY 1 LIMIT 1)
              - (SELECT avg((p - o) ^ 2) FROM pairs GROUP BY (p > 0.5) ORDER BY 1 LIMIT 1)) < 1e-12,
          'aggregate is exact per group (hash or sort aggregation)');

-- 3000 outcomes over two action types, resolved by every path
CREATE TEMP TABLE recorded AS
SELECT i,
       learning.record_outcome('exact', 'conv-' || i,
                               CASE WHEN i % 2 = 0 THEN 'send_email' ELSE 'qualify' END,
                               random(),
                               CASE i % 5 WHEN 0 THEN 'email_engagement' WHEN 1 THEN 'deal_progression'
                                          WHEN 2 THEN 'meeting_outcome' WHEN 3 THEN 'escalation_result'
                                          ELSE 'email_engagement' END,
                               metadata => CASE WHEN i % 5 = 1
                                                THEN jsonb_build_object('deal_stage_at_creation',
                                                     (ARRAY['prospecting','discovery','qualification'])[1 + i % 3])
                                                ELSE '{}' END,
                               created_at => CASE WHEN i % 11 = 0 THEN now() - interval '40 days'
                                                  ELSE now() - interval '1 hour' END) AS id
  FROM generate_series(1, 3000) i;

\o /dev/null
-- function path: positives with scores and negatives
SELECT count(*) FROM recorded r, LATERAL learning.resolve_outcome('exact', r.id,
        CASE WHEN r.i % 3 = 0 THEN 'positive' ELSE 'negative' END,
        CASE WHEN r.i % 3 = 0 AND r.i % 2 = 0 THEN 0.5 ELSE NULL END) x
 WHERE r.i % 5 = 0 AND r.i % 11 <> 0;
-- plain UPDATE path, one statement for many rows
UPDATE learning.outcome_records o SET status = CASE WHEN random() < 0.5 THEN 'positive' ELSE 'negative' END
  FROM recorded r WHERE o.tenant_id = 'exact' AND o.id = r.id AND r.i % 5 = 2 AND r.i % 11 <> 0;
-- ambiguous
UPDATE learning.outcome_records o SET status = 'ambiguous'
  FROM recorded r WHERE o.tenant_id = 'exact' AND o.id = r.id AND r.i % 5 = 3 AND r.i % 3 = 0 AND r.i % 11 <> 0;
-- signal jobs: scored deal stages, escalations
SELECT count(learning.ingest_signal('exact', 'conv-' || r.i, 'deal_stage_changed', now(),
        jsonb_build_object('stage', (ARRAY['discovery','evaluation','closed_won','closed_lost','stalled','negotiation'])[1 + r.i % 6])))
  FROM recorded r WHERE r.i % 5 = 1;
SELECT count(learning.ingest_signal('exact', 'conv-' || r.i, 'escalation_resolved', now()))
  FROM recorded r WHERE r.i % 5 = 3 AND r.i % 3 = 1;
SELECT learning.run_job('deal_progression') IS NOT NULL, learning.run_job('engagement_signals') IS NOT NULL;
-- expiry of the old ones
SELECT learning.run_job('expire_overdue') IS NOT NULL;
-- an aborted subtransaction resolves nothing
SAVEPOINT sp;
UPDATE learning.outcome_records SET status = 'positive' WHERE tenant_id = 'exact' AND status = 'pending';
ROLLBACK TO SAVEPOINT sp;
-- edits of resolved rows that the bins do not read (metadata, cost), and of
-- pending rows that leave them pending: no bin moves
UPDATE learning.outcome_records SET metadata = metadata || '{"reviewed": true}', cost = 2.5
 WHERE tenant_id = 'exact' AND random() < 0.3;
UPDATE learning.outcome_records SET status = status WHERE tenant_id = 'exact' AND random() < 0.3;
-- deletes of resolved rows
DELETE FROM learning.outcome_records o USING recorded r
 WHERE o.tenant_id = 'exact' AND o.id = r.id AND r.i % 97 = 0 AND o.status <> 'pending';

-- the bins of this (still open) transaction are written at its commit; write them now
SELECT learning.flush_pending_deltas();
\o
SELECT ok((SELECT count(DISTINCT status) FROM learning.outcome_records WHERE tenant_id = 'exact') = 5,
          'the mix holds all five statuses');
SELECT ok((SELECT count(*) FROM learning.outcome_records WHERE tenant_id = 'exact' AND status = 'positive'
             AND outcome_score NOT IN (0, 1)) > 0, 'the mix holds scored positives');

CREATE TEMP VIEW counted AS
SELECT action_type, predicted_confidence AS p,
       CASE status WHEN 'positive' THEN outcome_score ELSE 0 END AS o,
       least(floor(predicted_confidence * 10), 9)::int AS bin
  FROM learning.outcome_records
 WHERE tenant_id = 'exact' AND status IN ('positive', 'negative', 'expired');

SELECT ok(abs(learning.brier_score('exact', 'send_email')
              - (SELECT avg((p - o) ^ 2) FROM counted WHERE action_type = 'send_email')) < 1e-9,
          'send_email: Brier score from the bins equals the one from the rows to 1e-9');
SELECT ok(abs(learning.brier_score('exact', 'qualify')
              - (SELECT avg((p - o) ^ 2) FROM counted WHERE action_type = 'qualify')) < 1e-9,
          'qualify: Brier score from the bins equals the one from the rows to 1e-9');
SELECT ok(abs(learning.brier_score('exact', 'qualify')
              - (SELECT learning.brier_score(p, o) FROM counted WHERE action_type = 'qualify')) < 1e-9,
          'qualify: bins agree with the aggregate over the rows');

-- per bin: counts, mean predicted and actual rate
SELECT is((SELECT count(*) FROM (
             SELECT b->>'bin_index' AS bin, (b->>'count')::bigint AS n,
                    (b->>'mean_predicted')::float8 AS mp, (b->>'actual_rate')::float8 AS rate
               FROM jsonb_array_elements(learning.calibration_curve('exact', 'send_email', 1)->'bins') b) c
           FULL JOIN (SELECT bin::text AS bin, count(*) AS n, avg(p) AS mp, avg(o) AS rate
                        FROM counted WHERE action_type = 'send_email' GROUP BY bin) r USING (bin)
          WHERE coalesce(c.n, 0) <> coalesce(r.n, 0)
             OR (r.n > 0 AND (abs(c.mp - r.mp) > 1e-9 OR abs(c.rate - r.rate) > 1e-9))),
          0::bigint, 'every bin''s count, mean prediction and rate match the rows');

SELECT ok((learning.calibration_curve('exact', 'send_email')->>'sample_count')::bigint
          = (SELECT count(*) FROM counted WHERE action_type = 'send_email'),
          'sample_count counts positive, negative and expired outcomes only');

-- the decomposition, recomputed from the rows: reliability (Murphy's) = sum n (mean p - rate)^2 / N,
-- reliability_with_spread = sum over bins of sum (p - o)^2 - sum (o - rate)^2, resolution =
-- sum n (rate - mean)^2, uncertainty = the variance of o; and brier = reliability_with_spread
-- - resolution + uncertainty exactly
SELECT ok(abs((c->>'reliability_with_spread')::float8 - r.rel) < 1e-9 AND abs((c->>'reliability')::float8 - r.murphy) < 1e-9
              AND (c->>'reliability')::float8 >= 0
              AND abs((c->>'resolution')::float8 - r.res) < 1e-9
              AND abs((c->>'uncertainty')::float8 - r.unc) < 1e-9
              AND abs((c->>'brier_score')::float8
                      - ((c->>'reliability_with_spread')::float8 - (c->>'resolution')::float8 + (c->>'uncertainty')::float8)) < 1e-9,
          'reliability (Murphy''s), reliability_with_spread, resolution and uncertainty match the rows and add up to the Brier score')
  FROM learning.calibration_curve('exact', 'qualify') c,
       (SELECT sum(sq - ov) / sum(n) AS rel, sum(n * (mp - rate) ^ 2) / sum(n) AS murphy,
               sum(n * (rate - obar) ^ 2) / sum(n) AS res, max(var_o) AS unc
          FROM (SELECT x.bin, count(*) AS n, avg(x.o) AS rate, avg(x.p) AS mp, sum((x.p - x.o) ^ 2) AS sq,
                       sum((x.o - b.rate) ^ 2) AS ov,
                       (SELECT avg(o) FROM counted WHERE action_type = 'qualify') AS obar,
                       (SELECT var_pop(o) FROM counted WHERE action_type = 'qualify') AS var_o
                  FROM counted x
                  JOIN (SELECT bin, avg(o) AS rate FROM counted WHERE action_type = 'qualify' GROUP BY bin) b USING (bin)
                 WHERE x.action_type = 'qualify' GROUP BY x.bin) g) r;

SELECT * FROM finish();
ROLLBACK;

-- run_job: each of the five jobs, in the caller's transaction, each writing a
-- learning.job_runs row and announcing itself to the tenants it changed.

DELETE FROM learning.job_runs;
SELECT learning.record_outcome('jobs', 'c1', 'send_email', 0.7, 'email_engagement', created_at => now() - interval '2 hours') AS e1 \gset
SELECT learning.record_outcome('jobs', 'c1', 'book_meeting', 0.7, 'meeting_outcome', created_at => now() - interval '2 hours') AS m1 \gset
SELECT learning.record_outcome('jobs', 'c1', 'qualify', 0.7, 'deal_progression', created_at => now() - interval '2 hours') AS d1 \gset
SELECT learning.record_outcome('jobs', 'c2', 'send_email', 0.7, 'email_engagement', created_at => now() - interval '2 days') AS late \gset
SELECT learning.ingest_signal('jobs', 'c1', 'email_replied') IS NOT NULL,
       learning.ingest_signal('jobs', 'c1', 'meeting_held') IS NOT NULL,
       learning.ingest_signal('jobs', 'c1', 'deal_stage_changed', now(), '{"stage": "discovery"}') IS NOT NULL;

SELECT j, r->>'job' AS job, r->>'status' AS status, r->>'items' AS items,
       (r->>'run_id')::bigint > 0 AS has_run_id, (r->>'finished_at')::timestamptz >= (r->>'started_at')::timestamptz AS ordered
  FROM unnest(ARRAY['immediate_signals', 'engagement_signals', 'deal_progression', 'expire_overdue', 'calibration_check']) j,
       LATERAL (SELECT learning.run_job(j) AS r) x;
SELECT job_name, status, items, message, run_by, finished_at >= started_at AS ordered
  FROM learning.job_runs ORDER BY id;
SELECT status, outcome_score, signal_source FROM learning.outcome_records
 WHERE tenant_id = 'jobs' ORDER BY action_type, status;
-- one job_completed event for the transaction, listing each run
SELECT e.event_type, e.payload->>'count' AS runs, i->>'job' AS job, i->>'items' AS items
  FROM learning.events e, jsonb_array_elements(e.payload->'items') WITH ORDINALITY AS x(i, n)
 WHERE e.tenant_id = 'jobs' AND e.event_type = 'job_completed' ORDER BY e.id, x.n;

-- a job in a rolled-back transaction leaves nothing behind, its run row included
SELECT learning.record_outcome('jobs', 'c3', 'send_email', 0.7, 'email_engagement', created_at => now() - interval '2 days') AS rb \gset
BEGIN;
SELECT (learning.run_job('expire_overdue'))->'items' AS items_in_transaction;
ROLLBACK;
SELECT status FROM learning.outcome_records WHERE id = :'rb';
SELECT count(*) AS runs FROM learning.job_runs;

-- history is bounded by learning.job_history_retention
UPDATE learning.job_runs SET started_at = now() - interval '30 days', finished_at = now() - interval '30 days'
 WHERE job_name = 'immediate_signals';
SELECT (learning.run_job('immediate_signals'))->'items';
SELECT job_name, count(*) FROM learning.job_runs GROUP BY 1 ORDER BY 1;

-- Jobs in batches of learning.job_batch_tenants tenants: run_job runs every
-- batch in the caller's transaction, one job_runs row each, with the same
-- effect as one batch.
SELECT learning.run_job('expire_overdue')->>'status' AS earlier_work_done;
SET learning.job_batch_tenants = 2;
SELECT count(learning.record_outcome('batch-' || t, 'c' || i, 'send_email', 0.5, 'email_engagement',
                                     created_at => now() - interval '3 days')) AS recorded
  FROM generate_series(1, 5) t, generate_series(1, 3) i;
SELECT count(*) AS overdue FROM learning.outcome_records
 WHERE tenant_id LIKE 'batch-%' AND status = 'pending' AND window_expires_at < now();
-- a batch is bounded: the first two tenants after a cursor that have pending outcomes
SELECT last_tenant, more FROM learning.job_batch('expire_overdue', 'batch-', 2);
DELETE FROM learning.job_runs;
-- (other tenants of earlier tests have pending outcomes too: the batches walk them as well)
SELECT r->>'status' AS status, r->>'items' AS items, (r->>'batches')::int >= 3 AS several_batches,
       r ? 'next_after' AS has_cursor
  FROM learning.run_job('expire_overdue') r;
SELECT count(*) >= 3 AS batch_rows, sum(items) AS items FROM learning.job_runs WHERE job_name = 'expire_overdue';
SELECT tenant_id, count(*) FILTER (WHERE status = 'expired') AS expired, count(*) AS outcomes
  FROM learning.outcome_records WHERE tenant_id LIKE 'batch-%' GROUP BY 1 ORDER BY 1;
-- one job_completed event per tenant changed
SELECT count(*) AS job_events FROM learning.events WHERE tenant_id LIKE 'batch-%' AND event_type = 'job_completed';
SELECT learning.execute_job('expire_overdue', 'run_job', NULL, 0);
RESET learning.job_batch_tenants;

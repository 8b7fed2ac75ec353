-- Signals: de-duplication by external_id, every rule of the signal table, the
-- first in-window signal decides, and an outcome it decides is never expired.

CREATE TEMP TABLE o (name text PRIMARY KEY, id uuid);
CREATE FUNCTION pg_temp.rec(name text, conv text, action text, p float8, otype text,
                            created timestamptz, meta jsonb DEFAULT '{}') RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO o VALUES (name, learning.record_outcome('sig', conv, action, p, otype,
                                                        metadata => meta, created_at => created))
$$;
CREATE FUNCTION pg_temp.show() RETURNS TABLE (name text, status text, outcome_score float8, signal_source text)
    LANGUAGE sql AS $$
    SELECT o.name, r.status, r.outcome_score, r.signal_source
      FROM o JOIN learning.outcome_records r ON r.tenant_id = 'sig' AND r.id = o.id ORDER BY o.name
$$;

-- external_id de-duplication: the same (tenant, external_id) returns the first id, stores nothing
SELECT learning.ingest_signal('sig', 'c0', 'email_replied', now(), '{}', 'ext-1') AS s1 \gset
SELECT learning.ingest_signal('sig', 'c0', 'email_bounced', now(), '{}', 'ext-1') AS s2 \gset
SELECT :'s1' = :'s2' AS same_id, count(*) AS stored FROM learning.signals WHERE tenant_id = 'sig' AND external_id = 'ext-1';
-- another tenant may use the same external id
SELECT learning.ingest_signal('sig2', 'c0', 'email_replied', now(), '{}', 'ext-1') <> :'s1' AS distinct_per_tenant;
-- signals without external_id are all stored
SELECT learning.ingest_signal('sig', 'c0', 'email_replied') IS NOT NULL, learning.ingest_signal('sig', 'c0', 'email_replied') IS NOT NULL;
SELECT count(*) FROM learning.signals WHERE tenant_id = 'sig' AND conversation_state_id = 'c0';
DELETE FROM learning.signals WHERE tenant_id IN ('sig', 'sig2');

-- each rule of the signal table
SELECT pg_temp.rec('e1', 'c1', 'send_email', 0.8, 'email_engagement', now() - interval '1 hour');
SELECT pg_temp.rec('e2', 'c2', 'send_email', 0.8, 'email_engagement', now() - interval '1 hour');
SELECT pg_temp.rec('e3', 'c3', 'send_email', 0.8, 'email_engagement', now() - interval '1 hour');
SELECT pg_temp.rec('m1', 'c1', 'book_meeting', 0.5, 'meeting_outcome', now() - interval '1 day');
SELECT pg_temp.rec('m2', 'c2', 'book_meeting', 0.5, 'meeting_outcome', now() - interval '1 day');
SELECT pg_temp.rec('m3', 'c3', 'book_meeting', 0.5, 'meeting_outcome', now() - interval '1 day');
SELECT pg_temp.rec('m4', 'c4', 'book_meeting', 0.5, 'meeting_outcome', now() - interval '1 day');
SELECT pg_temp.rec('x1', 'c1', 'escalate', 0.5, 'escalation_result', now() - interval '1 day');
SELECT pg_temp.rec('x2', 'c2', 'escalate', 0.5, 'escalation_result', now() - interval '1 day');
SELECT pg_temp.rec('d1', 'c1', 'qualify', 0.5, 'deal_progression', now() - interval '2 days');
SELECT pg_temp.rec('d2', 'c2', 'qualify', 0.5, 'deal_progression', now() - interval '2 days', '{"deal_stage_at_creation": "discovery"}');
SELECT pg_temp.rec('d3', 'c3', 'qualify', 0.5, 'deal_progression', now() - interval '2 days', '{"deal_stage_at_creation": "evaluation"}');
SELECT pg_temp.rec('d4', 'c4', 'qualify', 0.5, 'deal_progression', now() - interval '2 days', '{"deal_stage_at_creation": "negotiation"}');
SELECT pg_temp.rec('d5', 'c5', 'qualify', 0.5, 'deal_progression', now() - interval '2 days');
SELECT pg_temp.rec('d6', 'c6', 'qualify', 0.5, 'deal_progression', now() - interval '2 days');

SELECT learning.ingest_signal('sig', 'c1', 'email_replied', now() - interval '30 minutes') IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c2', 'email_bounced', now() - interval '30 minutes') IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c3', 'email_unsubscribed', now() - interval '30 minutes') IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c1', 'meeting_booked', now()) IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c2', 'meeting_held', now()) IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c3', 'meeting_declined', now()) IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c4', 'meeting_no_show', now()) IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c1', 'escalation_resolved', now()) IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c2', 'escalation_failed', now()) IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c1', 'deal_stage_changed', now(), '{"stage": "evaluation"}') IS NOT NULL;   -- 3 stages: 0.6
SELECT learning.ingest_signal('sig', 'c2', 'deal_stage_changed', now(), '{"stage": "qualification"}') IS NOT NULL; -- 1 stage: 0.2
SELECT learning.ingest_signal('sig', 'c3', 'deal_stage_changed', now(), '{"stage": "discovery"}') IS NOT NULL;     -- backwards: stays pending
SELECT learning.ingest_signal('sig', 'c4', 'deal_stage_changed', now(), '{"stage": "closed_lost"}') IS NOT NULL;   -- negative 0.0
SELECT learning.ingest_signal('sig', 'c5', 'deal_stage_changed', now(), '{"stage": "stalled"}') IS NOT NULL;       -- negative 0.0
SELECT learning.ingest_signal('sig', 'c6', 'deal_stage_changed', now(), '{"stage": "closed_won"}') IS NOT NULL;    -- 5 stages: 1.0

-- nothing is applied until a job runs
SELECT count(*) AS resolved_before_jobs FROM learning.outcome_records WHERE tenant_id = 'sig' AND status <> 'pending';
SELECT (learning.run_job('immediate_signals'))->'items' AS email_items;
SELECT * FROM pg_temp.show() WHERE name LIKE 'e%';
SELECT (learning.run_job('engagement_signals'))->'items' AS engagement_items;
SELECT * FROM pg_temp.show() WHERE name LIKE 'm%' OR name LIKE 'x%';
SELECT (learning.run_job('deal_progression'))->'items' AS deal_items;
SELECT * FROM pg_temp.show() WHERE name LIKE 'd%';
-- every signal is marked applied, and a second run finds no new work
SELECT count(*) FILTER (WHERE applied_at IS NULL) AS unapplied FROM learning.signals WHERE tenant_id = 'sig';
SELECT (learning.run_job('immediate_signals'))->'items', (learning.run_job('deal_progression'))->'items';
-- a later deal signal that does advance resolves the outcome that stayed pending
SELECT learning.ingest_signal('sig', 'c3', 'deal_stage_changed', now(), '{"stage": "negotiation"}') IS NOT NULL;
SELECT (learning.run_job('deal_progression'))->'items';
SELECT * FROM pg_temp.show() WHERE name = 'd3';

-- only the same tenant, conversation and outcome type; only outcomes created at or before the signal
TRUNCATE o;
SELECT pg_temp.rec('late', 'c7', 'send_email', 0.5, 'email_engagement', now() - interval '1 minute');
SELECT learning.ingest_signal('sig', 'c7', 'email_replied', now() - interval '2 minutes') IS NOT NULL;  -- before the action
SELECT learning.ingest_signal('sig2', 'c7', 'email_replied', now()) IS NOT NULL;                        -- other tenant
SELECT learning.ingest_signal('sig', 'c8', 'email_replied', now()) IS NOT NULL;                         -- other conversation
SELECT learning.ingest_signal('sig', 'c7', 'meeting_booked', now()) IS NOT NULL;                        -- other outcome type
SELECT (learning.run_job('immediate_signals'))->'items', (learning.run_job('engagement_signals'))->'items';
SELECT * FROM pg_temp.show();

-- the first in-window signal decides, whatever order the signals arrive in
TRUNCATE o;
SELECT pg_temp.rec('first', 'c9', 'send_email', 0.5, 'email_engagement', now() - interval '5 hours');
SELECT learning.ingest_signal('sig', 'c9', 'email_bounced', now() - interval '1 hour') IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c9', 'email_replied', now() - interval '4 hours') IS NOT NULL;
SELECT (learning.run_job('immediate_signals'))->'items';
SELECT * FROM pg_temp.show();

-- a signal after the window does not resolve: the outcome expires instead
TRUNCATE o;
SELECT pg_temp.rec('after', 'c10', 'send_email', 0.5, 'email_engagement', now() - interval '3 days');
SELECT learning.ingest_signal('sig', 'c10', 'email_replied', now() - interval '1 day') IS NOT NULL;
SELECT (learning.run_job('immediate_signals'))->'items' AS signal_items;
SELECT (learning.run_job('expire_overdue'))->'items' AS expired_items;
SELECT * FROM pg_temp.show();

-- an in-window signal decides even when expire_overdue runs before the signal job
TRUNCATE o;
SELECT pg_temp.rec('inwin', 'c11', 'send_email', 0.5, 'email_engagement', now() - interval '3 days');
SELECT pg_temp.rec('nosig', 'c12', 'send_email', 0.5, 'email_engagement', now() - interval '3 days');
SELECT learning.ingest_signal('sig', 'c11', 'email_replied', now() - interval '3 days' + interval '2 hours') IS NOT NULL;
SELECT (learning.run_job('expire_overdue'))->'items' AS expired_items;
SELECT * FROM pg_temp.show();
SELECT (learning.run_job('immediate_signals'))->'items' AS signal_items;
SELECT * FROM pg_temp.show();
SELECT (learning.run_job('expire_overdue'))->'items' AS expired_again;

-- bad signals are refused and store nothing
SELECT count(*) AS signals_before FROM learning.signals \gset
SELECT err($$SELECT learning.ingest_signal('sig', 'c1', 'email_opened')$$);
SELECT err($$SELECT learning.ingest_signal('sig', 'c1', 'deal_stage_changed', now(), '{"stage": "won"}')$$);
SELECT err($$SELECT learning.ingest_signal('sig', 'c1', 'deal_stage_changed', now(), '{}')$$);
SELECT err($$SELECT learning.ingest_signal('sig', 'c1', 'email_replied', now(), '"text"')$$);
SELECT err($$SELECT learning.ingest_signal('s i g', 'c1', 'email_replied')$$);
SELECT err($$SELECT learning.ingest_signal('sig', NULL, 'email_replied')$$);
SELECT err($$SELECT learning.ingest_signal('sig', 'c1', 'email_replied', NULL)$$);
SELECT count(*) = :signals_before AS nothing_stored FROM learning.signals;

-- an outcome recorded after its signal was applied (a backfill, or one committed
-- while the signal job ran) is decided by that signal when its window ends, never expired
TRUNCATE o;
SELECT learning.ingest_signal('sig', 'c13', 'email_replied', now() - interval '30 hours') IS NOT NULL;
SELECT learning.ingest_signal('sig', 'c14', 'deal_stage_changed', now() - interval '35 days', '{"stage": "negotiation"}') IS NOT NULL;
SELECT (learning.run_job('immediate_signals'))->'items' AS before_outcome_exists,
       (learning.run_job('deal_progression'))->'items' AS deal_before_outcome_exists;
SELECT pg_temp.rec('backfill', 'c13', 'send_email', 0.6, 'email_engagement', now() - interval '31 hours');
SELECT pg_temp.rec('backdeal', 'c14', 'qualify', 0.6, 'deal_progression', now() - interval '40 days',
                   '{"deal_stage_at_creation": "discovery"}');
SELECT pg_temp.rec('nosignal', 'c15', 'send_email', 0.6, 'email_engagement', now() - interval '31 hours');
SELECT (learning.run_job('expire_overdue'))->'items' AS changed;
SELECT * FROM pg_temp.show();
SELECT metadata->>'deal_stage_at_resolution' AS stage FROM learning.outcome_records r JOIN o ON o.id = r.id WHERE o.name = 'backdeal';

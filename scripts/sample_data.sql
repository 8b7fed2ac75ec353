-- Sample data for the demo cluster: two tenants, four reps each, four action
-- types, a month of actions whose outcomes arrive as signals, feedback, and a
-- backlog that the running jobs work through after loading.
--
-- The agent is mildly overconfident: an action predicted at p turns out
-- positive with probability p - 0.07 (the rest are negative signals, or no
-- signal at all, which expires at the end of the window and counts as 0).
SELECT setseed(0.7);
SELECT learning.set_tenant_time_zone('acme', 'America/New_York');
SELECT learning.set_outcome_window('acme', 'demo_requested', '3 days');

-- actions: when, who, what, how sure
CREATE TEMP TABLE demo_draws AS
SELECT i, tenant_id, rep_id, a.action_type, a.outcome_type,
       least(0.97, greatest(0.03, a.base + (r3 - 0.5) * 0.5)) AS p, at AS created_at,
       'conv-' || tenant_id || '-' || i AS conv, phase   -- one conversation per action: a signal resolves only its own
  FROM (SELECT i, random() AS r1, random() AS r3,
               (ARRAY['acme', 'globex'])[1 + (random() < 0.4)::int] AS tenant_id,
               'rep-' || (1 + floor(random() * 4)::int) AS rep_id,
               -- the month before yesterday; the last 300 are today's backlog
               CASE WHEN i <= 2000 THEN 'history' ELSE 'backlog' END AS phase,
               CASE WHEN i <= 2000 THEN now() - interval '1 day' - random() * interval '29 days'
                    ELSE now() - random() * interval '6 hours' END AS at
          FROM generate_series(1, 2300) i) x
 CROSS JOIN LATERAL (SELECT * FROM (VALUES
        (0, 'send_email', 'email_engagement', 0.55),
        (1, 'book_meeting', 'meeting_outcome', 0.45),
        (2, 'escalate', 'escalation_result', 0.65),
        (3, 'qualify', 'deal_progression', 0.35)) v(k, action_type, outcome_type, base)
      WHERE k = floor(x.r1 * 4)::int) a;

-- what happens: an action is positive with probability p - 0.07, drawn by
-- systematic sampling along each (tenant, action type) so that every group
-- is off by that much and not by the noise of a few hundred coin flips; one
-- in nine of the others gets no signal at all (it expires, and counts 0).
CREATE TEMP TABLE demo_actions AS
SELECT d.*, floor(c) > floor(c - (p - 0.07)) AS good
  FROM (SELECT d.*, sum(p - 0.07) OVER (PARTITION BY tenant_id, action_type ORDER BY i) + 0.5 AS c
          FROM demo_draws d) d;

SELECT count(learning.record_outcome(tenant_id, conv, action_type, p, outcome_type,
                                     action_id => 'act-' || i, rep_id => rep_id,
                                     metadata => CASE WHEN action_type = 'escalate'
                                                      THEN jsonb_build_object('escalation_trigger', (ARRAY['customer_request','high_stakes','confidence_low'])[1 + i % 3])
                                                      ELSE '{}' END,
                                     cost => round((random() * 0.05)::numeric, 4),
                                     created_at => created_at)) AS recorded
  FROM demo_actions;

CREATE TEMP TABLE demo_signals AS
SELECT * FROM demo_actions WHERE good OR i % 9 <> 0;
CREATE FUNCTION pg_temp.ingest(phase_wanted text) RETURNS bigint LANGUAGE sql AS $$
SELECT count(learning.ingest_signal(tenant_id, conv,
         CASE action_type
           WHEN 'send_email' THEN CASE WHEN good THEN 'email_replied' ELSE 'email_bounced' END
           WHEN 'book_meeting' THEN CASE WHEN good THEN 'meeting_held' ELSE 'meeting_no_show' END
           WHEN 'escalate' THEN CASE WHEN good THEN 'escalation_resolved' ELSE 'escalation_failed' END
           ELSE 'deal_stage_changed' END,
         -- the signal comes within the window, and not in the future
         least(created_at + random() * interval '20 hours', now()),
         CASE WHEN action_type = 'qualify'
              THEN jsonb_build_object('stage', CASE WHEN good THEN 'closed_won' ELSE 'closed_lost' END)
              ELSE '{}' END,
         external_id => 'sig-' || i))
  FROM demo_signals WHERE phase = phase_wanted $$;

-- the month: signals applied by the jobs now, feedback on some conversations
SELECT pg_temp.ingest('history') AS signals;
SELECT r ->> 'job' AS job, r ->> 'items' AS items
  FROM unnest(ARRAY['immediate_signals', 'engagement_signals', 'deal_progression', 'expire_overdue',
                    'calibration_check']) j, learning.run_job(j) r;

SELECT count(learning.submit_feedback(tenant_id, conv, 'message', 'act-' || i, 'inline',
                                      CASE WHEN good THEN (ARRAY[0, 1, 1])[1 + i % 3] ELSE (ARRAY[-1, -1, 0])[1 + i % 3] END,
                                      rep_id, reviewer_role => 'rep')) AS feedback
  FROM demo_signals WHERE phase = 'history' AND i % 7 = 0;

-- the backlog for the running jobs: today's signals, not applied yet (the
-- scheduler applies them within its interval), and a few emails of three
-- days ago that never got an answer (expire_overdue expires them)
SELECT pg_temp.ingest('backlog') AS backlog_signals;
SELECT count(learning.record_outcome(t, 'conv-' || t || '-quiet-' || i, 'send_email', 0.5, 'email_engagement',
                                     rep_id => 'rep-1', created_at => now() - interval '3 days')) AS overdue
  FROM generate_series(1, 40) i, unnest(ARRAY['acme', 'globex']) t;

-- Sample data for the demo cluster: two tenants, a few reps and action types,
-- a month of actions, signals applied by the jobs, feedback, a calibration check.
SELECT setseed(0.7);
SELECT learning.set_tenant_time_zone('acme', 'America/New_York');
SELECT learning.set_outcome_window('acme', 'demo_requested', '3 days');

CREATE TEMP TABLE demo_actions AS
SELECT i, t.tenant_id, 'rep-' || (1 + i % 4) AS rep_id, a.action_type, a.outcome_type,
       -- agents are a little overconfident on email
       least(1.0, greatest(0.0, a.base + (random() - 0.5) * 0.3)) AS p,
       now() - (random() * interval '30 days') AS created_at,
       'conv-' || t.tenant_id || '-' || (i % 400) AS conv
  FROM generate_series(1, 2000) i
 CROSS JOIN LATERAL (SELECT (ARRAY['acme', 'globex'])[1 + i % 2] AS tenant_id) t
 CROSS JOIN LATERAL (SELECT * FROM (VALUES
        ('send_email', 'email_engagement', 0.75),
        ('book_meeting', 'meeting_outcome', 0.5),
        ('escalate', 'escalation_result', 0.6),
        ('qualify', 'deal_progression', 0.4)) v(action_type, outcome_type, base)
      OFFSET (i % 4) LIMIT 1) a;

SELECT count(learning.record_outcome(tenant_id, conv, action_type, p, outcome_type,
                                     action_id => 'act-' || i, rep_id => rep_id,
                                     metadata => CASE WHEN action_type = 'escalate'
                                                      THEN jsonb_build_object('escalation_trigger', (ARRAY['customer_request','high_stakes','confidence_low'])[1 + i % 3])
                                                      ELSE '{}' END,
                                     cost => round((random() * 0.05)::numeric, 4),
                                     created_at => created_at)) AS recorded
  FROM demo_actions;

-- what happened: replies, meetings, escalations, deal stages (about 45 % positive)
SELECT count(learning.ingest_signal(tenant_id, conv,
         CASE action_type
           WHEN 'send_email' THEN (ARRAY['email_replied', 'email_bounced'])[1 + (random() < 0.55)::int]
           WHEN 'book_meeting' THEN (ARRAY['meeting_held', 'meeting_no_show'])[1 + (random() < 0.5)::int]
           WHEN 'escalate' THEN (ARRAY['escalation_resolved', 'escalation_failed'])[1 + (random() < 0.4)::int]
           ELSE 'deal_stage_changed' END,
         created_at + random() * interval '20 hours',
         CASE WHEN action_type = 'qualify'
              THEN jsonb_build_object('stage', (ARRAY['discovery', 'evaluation', 'stalled', 'closed_won'])[1 + floor(random() * 4)::int])
              ELSE '{}' END)) AS signals
  FROM demo_actions WHERE random() < 0.7;

SELECT learning.run_job(j) FROM unnest(ARRAY['immediate_signals', 'engagement_signals', 'deal_progression',
                                             'expire_overdue', 'calibration_check']) j;

SELECT count(learning.submit_feedback(tenant_id, conv, 'message', 'act-' || i, 'inline',
                                      (ARRAY[-1, 0, 1, 1])[1 + i % 4], rep_id)) AS feedback
  FROM demo_actions WHERE i % 9 = 0;

-- router_data.sql: 24 tenants written through a router (learning_router):
-- settings, outcomes (resolved by hand and by signals through run_job),
-- feedback, calibration checks, webhooks and SSE channel keys.  Run in the
-- router database by router_shards.sh.
SELECT setseed(0.42);

CREATE TEMP TABLE tenants AS
SELECT 't' || lpad(i::text, 2, '0') AS tenant_id, i FROM generate_series(1, 24) i;

SELECT count(learning.set_tenant_time_zone(tenant_id, (ARRAY['UTC', 'America/New_York', 'Asia/Tokyo'])[1 + i % 3])),
       count(learning.set_outcome_window(tenant_id, 'demo_requested', '3 days')),
       count(learning.set_minutes_saved(tenant_id, 'send_email', 4 + i % 3))
  FROM tenants;

CREATE TEMP TABLE actions AS
SELECT t.tenant_id, t.i AS ti, k,
       (ARRAY['send_email', 'book_meeting', 'escalate', 'qualify'])[1 + k % 4] AS action_type,
       (ARRAY['email_engagement', 'meeting_outcome', 'escalation_result', 'deal_progression'])[1 + k % 4] AS outcome_type,
       round((0.2 + random() * 0.75)::numeric, 3)::float8 AS p,
       now() - (k * interval '7 hours') AS created_at,
       'conv-' || t.tenant_id || '-' || (k % 12) AS conv
  FROM tenants t, generate_series(1, 30) k;

ALTER TABLE actions ADD COLUMN id uuid;
UPDATE actions SET id = learning.record_outcome(tenant_id, conv, action_type, p, outcome_type,
                                               action_id => 'act-' || k, rep_id => 'rep-' || (k % 3),
                                               metadata => CASE WHEN action_type = 'escalate'
                                                                THEN jsonb_build_object('escalation_trigger', (ARRAY['customer_request', 'high_stakes'])[1 + k % 2])
                                                                ELSE '{}' END,
                                               cost => (k % 5) * 0.01, created_at => created_at);

-- a third resolved by hand, a third by signals, the rest stays pending
SELECT count(learning.resolve_outcome(tenant_id, id, CASE WHEN random() < p THEN 'positive' ELSE 'negative' END))
  FROM actions WHERE k % 3 = 0;
SELECT count(learning.ingest_signal(tenant_id, conv,
         CASE action_type WHEN 'send_email' THEN (ARRAY['email_replied', 'email_bounced'])[1 + (random() < 0.4)::int]
                          WHEN 'book_meeting' THEN 'meeting_held'
                          WHEN 'escalate' THEN 'escalation_failed'
                          ELSE 'deal_stage_changed' END,
         created_at + interval '1 hour',
         CASE WHEN action_type = 'qualify' THEN '{"stage": "evaluation"}' ELSE '{}' END::jsonb,
         external_id => 'sig-' || k))
  FROM actions WHERE k % 3 = 1;
SELECT learning.run_job(j) IS NOT NULL
  FROM unnest(ARRAY['immediate_signals', 'engagement_signals', 'deal_progression']) j;

SELECT count(learning.submit_feedback(tenant_id, conv, 'message', 'act-' || k, 'inline',
                                      (ARRAY[-1, 0, 1])[1 + k % 3], 'rep-' || (k % 3),
                                      outcome_record_id => CASE WHEN k % 2 = 0 THEN id END))
  FROM actions WHERE k % 4 = 0;
SELECT count(learning.submit_feedback(tenant_id, conv, 'conversation', conv, 'dashboard',
                                      1 + k % 5, 'mgr-1', 'manager', comment => 'ok'))
  FROM actions WHERE k % 10 = 0;

SELECT count(learning.check_and_adjust(tenant_id, a)) >= 0
  FROM tenants, unnest(ARRAY['send_email', 'book_meeting']) a;

-- every third tenant has a webhook, every fourth an SSE channel key
SELECT count(learning.create_webhook('https://hooks.example.com/' || tenant_id, NULL, tenant_id, 'secret-of-' || tenant_id || '-0123456789'))
  FROM tenants WHERE i % 3 = 0;
SELECT count(learning.sse_channel(tenant_id)) FROM tenants WHERE i % 4 = 0;

-- four tenants get an overconfident send_email history: check_and_adjust
-- stores a confidence scale and its history for them
SELECT count(learning.resolve_outcome(tenant_id,
           learning.record_outcome(tenant_id, 'conv-' || tenant_id || '-over-' || k, 'send_email', 0.85, 'email_engagement'),
           CASE WHEN k % 4 = 0 THEN 'positive' ELSE 'negative' END))
  FROM tenants, generate_series(1, 20) k WHERE i <= 4;
SELECT count(learning.check_and_adjust(tenant_id, 'send_email')) FROM tenants WHERE i <= 4;

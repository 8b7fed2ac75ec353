-- One event per transaction, tenant and event type, however many statements
-- or calls made it; bounded outbox locks however many tenants a transaction
-- touches.
SET client_min_messages = warning;
SELECT learning.create_webhook('https://hooks.example.com/bulk', NULL, 'bulk', 'a-secret-of-sixteen+') > 0 AS subscribed;

-- 5000 record_outcome calls in one transaction, as a loop: one event.
DO $$
BEGIN
    FOR i IN 1..5000 LOOP
        PERFORM learning.record_outcome('bulk', 'conv-' || i, 'send_email', 0.5, 'email_engagement',
                                        rep_id => 'rep-' || (i % 7));
    END LOOP;
END $$;
SELECT event_type, payload->>'count' AS count, jsonb_array_length(payload->'items') AS listed,
       payload->>'truncated' AS truncated, payload->'by_status' AS by_status
  FROM learning.events WHERE tenant_id = 'bulk' ORDER BY id;
-- one delivery for the webhook, not 5000
SELECT count(*) AS deliveries FROM learning.relay_queue q
  JOIN learning.events e ON e.tenant_id = q.tenant_id AND e.id = q.event_id WHERE q.tenant_id = 'bulk';

-- The same calls as one statement, and resolutions over several statements
-- of one transaction: one event each.
BEGIN;
SELECT count(learning.record_outcome('bulk', 'stmt-' || i, 'send_email', 0.5, 'email_engagement')) AS recorded
  FROM generate_series(1, 300) i;
SELECT count(learning.resolve_outcome('bulk', o.id, 'positive')) AS resolved
  FROM learning.outcome_records o WHERE o.tenant_id = 'bulk' AND o.conversation_state_id LIKE 'stmt-%'
   AND o.conversation_state_id < 'stmt-2';
SELECT count(learning.resolve_outcome('bulk', o.id, 'negative')) AS resolved
  FROM learning.outcome_records o WHERE o.tenant_id = 'bulk' AND o.conversation_state_id LIKE 'stmt-%'
   AND o.status = 'pending';
COMMIT;
SELECT event_type, payload->>'count' AS count, payload->'by_status' AS by_status
  FROM learning.events WHERE tenant_id = 'bulk' ORDER BY id OFFSET 1;

-- Savepoints: what a rolled-back savepoint noted is gone, what a released
-- one noted joins its parent's event.
BEGIN;
SELECT count(learning.record_outcome('sp', 'a-' || i, 'send_email', 0.5, 'email_engagement')) FROM generate_series(1, 3) i;
SAVEPOINT a;
SELECT count(learning.record_outcome('sp', 'b-' || i, 'send_email', 0.5, 'email_engagement')) FROM generate_series(1, 2) i;
ROLLBACK TO a;
SAVEPOINT b;
SELECT count(learning.record_outcome('sp', 'c-' || i, 'send_email', 0.5, 'email_engagement')) FROM generate_series(1, 4) i;
SAVEPOINT c;
SELECT count(learning.record_outcome('sp', 'd-' || i, 'send_email', 0.5, 'email_engagement')) FROM generate_series(1, 5) i;
RELEASE b;
COMMIT;
SELECT event_type, payload->>'count' AS count, jsonb_array_length(payload->'items') AS listed
  FROM learning.events WHERE tenant_id = 'sp' ORDER BY id;
SELECT count(*) AS sp_outcomes FROM learning.outcome_records WHERE tenant_id = 'sp';

-- 20,000 tenants in one transaction commit with the default
-- max_locks_per_transaction (0.1.0 took a lock per tenant and failed with
-- 53200): one event and one notification per tenant, ids without gaps.
SHOW max_locks_per_transaction;
INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                      outcome_type, window_expires_at)
SELECT 'many-' || i, 'c', 'send_email', 0.5, 'email_engagement', now() + interval '1 day'
  FROM generate_series(1, 20000) i;
SELECT count(*) AS events, count(DISTINCT tenant_id) AS tenants,
       max(id) - min(id) + 1 = count(*) AS consecutive_ids
  FROM learning.events WHERE tenant_id LIKE 'many-%';
SELECT count(*) AS readable FROM learning.events_since('many-19999', 0);

-- The locks behind it: events_since waits for every transaction that holds
-- ids of its tenant and is not visible yet (a prepared transaction keeps its
-- locks, which shows it).  Past 32 tenants a transaction takes one
-- database-wide outbox lock, so a reader of any tenant waits; with a few
-- tenants, only their readers wait.
BEGIN;
SELECT count(learning.record_outcome('ob' || g, 'c', 'send_email', 0.5, 'email_engagement')) AS forty
  FROM generate_series(1, 40) g;
PREPARE TRANSACTION 'outbox_many';
SET lock_timeout = '300ms';
SELECT err($$SELECT count(*) FROM learning.events_since('ob99', 0)$$) AS unwritten_tenant_waits;
COMMIT PREPARED 'outbox_many';
SELECT count(*) AS ob7_events FROM learning.events_since('ob7', 0);
BEGIN;
SELECT count(learning.record_outcome('oc' || g, 'c', 'send_email', 0.5, 'email_engagement')) AS three
  FROM generate_series(1, 3) g;
PREPARE TRANSACTION 'outbox_few';
SELECT count(*) AS other_tenant_goes_on FROM learning.events_since('oc99', 0);
SELECT err($$SELECT count(*) FROM learning.events_since('oc1', 0)$$) AS written_tenant_waits;
COMMIT PREPARED 'outbox_few';
SELECT count(*) AS oc1_events FROM learning.events_since('oc1', 0);
RESET lock_timeout;

-- Outcomes: record, resolve exactly once, windows per type with tenant overrides
-- and user-defined types, queries.

-- record_outcome makes a pending outcome whose window ends at created_at + window
SELECT learning.record_outcome('acme', 'conv-1', 'send_email', 0.8, 'email_engagement',
                               action_id => 'msg-1', rep_id => 'rep-a',
                               metadata => '{"subject": "Follow up"}', cost => 0.02,
                               created_at => '2026-01-01 10:00+00') AS o1 \gset
SELECT tenant_id, conversation_state_id, rep_id, action_type, action_id, predicted_confidence,
       outcome_type, status, outcome_score, signal_source, window_expires_at, resolved_at,
       metadata, cost, created_at
  FROM learning.outcome_records WHERE id = :'o1';

-- every built-in window
SELECT t.outcome_type, learning.outcome_window('acme', t.outcome_type)
  FROM (VALUES ('email_engagement'), ('meeting_outcome'), ('escalation_result'), ('deal_progression')) t(outcome_type);

-- a tenant override applies to that tenant only, and a new type can be defined
SELECT learning.set_outcome_window('acme', 'email_engagement', '48 hours');
SELECT learning.set_outcome_window('acme', 'demo_requested', '3 days');
SELECT learning.outcome_window('acme', 'email_engagement') AS acme_email,
       learning.outcome_window('globex', 'email_engagement') AS globex_email,
       learning.outcome_window('acme', 'demo_requested') AS acme_demo;
SELECT err($$SELECT learning.outcome_window('globex', 'demo_requested')$$);
SELECT learning.record_outcome('acme', 'conv-2', 'book_demo', 0.4, 'demo_requested',
                               created_at => '2026-01-01 00:00+00') AS o_demo \gset
SELECT outcome_type, window_expires_at FROM learning.outcome_records WHERE id = :'o_demo';
SELECT err($$SELECT learning.set_outcome_window('acme', 'Bad Type', '1 day')$$);
SELECT err($$SELECT learning.set_outcome_window('acme', 'x', '-1 day')$$);

-- resolve: positive defaults to score 1.0, negative to 0.0; a score in [0,1] is kept
SELECT learning.record_outcome('acme', 'conv-1', 'send_email', 0.6, 'email_engagement') AS o2 \gset
SELECT learning.record_outcome('acme', 'conv-1', 'qualify', 0.3, 'deal_progression') AS o3 \gset
SELECT learning.record_outcome('acme', 'conv-1', 'escalate', 0.5, 'escalation_result') AS o4 \gset
SELECT status, outcome_score, signal_source, resolved_at IS NOT NULL AS has_resolved_at
  FROM learning.resolve_outcome('acme', :'o1', 'positive');
SELECT status, outcome_score, signal_source FROM learning.resolve_outcome('acme', :'o2', 'negative', signal_source => 'human_label');
SELECT status, outcome_score FROM learning.resolve_outcome('acme', :'o3', 'positive', 0.4);
SELECT status, outcome_score FROM learning.resolve_outcome('acme', :'o4', 'ambiguous');

-- exactly once: a second resolution is 55000, an unknown id is P0002, another tenant's id too
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'negative')$$, :'o1'));
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'positive')$$, :'o1'));
SELECT err($$SELECT learning.resolve_outcome('acme', '00000000-0000-0000-0000-000000000000', 'positive')$$);
SELECT err(format($$SELECT learning.resolve_outcome('globex', %L, 'positive')$$, :'o_demo'));
SELECT status FROM learning.outcome_records WHERE id = :'o_demo';

-- bad resolutions change nothing
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'pending')$$, :'o_demo'));
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'won')$$, :'o_demo'));
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'positive', 1.5)$$, :'o_demo'));
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'positive', 'NaN')$$, :'o_demo'));
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'negative', 0.5)$$, :'o_demo'));
SELECT err(format($$SELECT learning.resolve_outcome('acme', %L, 'expired', 0.5)$$, :'o_demo'));
SELECT status, outcome_score, resolved_at FROM learning.outcome_records WHERE id = :'o_demo';

-- a plain UPDATE resolves too (the guard fills resolved_at and the default score) ...
UPDATE learning.outcome_records SET status = 'positive' WHERE id = :'o_demo';
SELECT status, outcome_score, resolved_at IS NOT NULL AS has_resolved_at FROM learning.outcome_records WHERE id = :'o_demo';
-- ... but never twice, and a resolved outcome cannot be re-opened or re-scored
SELECT err(format($$UPDATE learning.outcome_records SET status = 'negative' WHERE id = %L$$, :'o_demo'));
SELECT err(format($$UPDATE learning.outcome_records SET status = 'pending' WHERE id = %L$$, :'o_demo'));
SELECT err(format($$UPDATE learning.outcome_records SET outcome_score = 0.5 WHERE id = %L$$, :'o_demo'));
SELECT err(format($$UPDATE learning.outcome_records SET predicted_confidence = 0.9 WHERE id = %L$$, :'o_demo'));
-- other columns of a resolved outcome may change
UPDATE learning.outcome_records SET metadata = '{"note": "checked"}' WHERE id = :'o_demo';
SELECT status, metadata FROM learning.outcome_records WHERE id = :'o_demo';

-- queries: a conversation's outcomes oldest first; pending ones; overdue ones
SELECT action_type, status FROM learning.outcomes_for_conversation('acme', 'conv-1');
SELECT count(*) FROM learning.outcomes_for_conversation('acme', 'no-such-conversation');
SELECT learning.record_outcome('acme', 'conv-3', 'send_email', 0.7, 'email_engagement',
                               created_at => now() - interval '3 days') AS overdue \gset
SELECT learning.record_outcome('acme', 'conv-3', 'book_meeting', 0.7, 'meeting_outcome') AS fresh \gset
SELECT learning.record_outcome('globex', 'conv-9', 'send_email', 0.7, 'email_engagement') AS other_tenant \gset
SELECT conversation_state_id, outcome_type FROM learning.pending_outcomes('acme') ORDER BY 1, 2;
SELECT conversation_state_id, outcome_type FROM learning.pending_outcomes('acme', 'meeting_outcome');
SELECT conversation_state_id, outcome_type FROM learning.pending_outcomes('acme', expired_only => true);
SELECT tenant_id, count(*) FROM learning.pending_outcomes() GROUP BY 1 ORDER BY 1;

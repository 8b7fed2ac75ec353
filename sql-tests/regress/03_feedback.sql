-- Feedback: validation messages of the first release, idempotent retries by
-- feedback_id, links to outcomes of the same tenant only, summaries and rates.

SELECT learning.record_outcome('fb', 'conv-1', 'send_email', 0.8, 'email_engagement') AS o1 \gset
SELECT learning.record_outcome('fb-other', 'conv-1', 'send_email', 0.8, 'email_engagement') AS other \gset

SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'msg-1', 'inline', 1, 'u1', 'rep', 'Great reply',
                                outcome_record_id => :'o1', metadata => '{"ui": "sidebar"}') AS f1 \gset
SELECT tenant_id, conversation_state_id, outcome_record_id = :'o1' AS linked, target_type, target_id, source,
       rating, comment, reviewer_id, reviewer_role, metadata
  FROM learning.feedback_entries WHERE id = :'f1';
SELECT learning.submit_feedback('fb', 'conv-1', 'decision', 'd-1', 'inline', -1, 'u1') IS NOT NULL;
SELECT learning.submit_feedback('fb', 'conv-1', 'conversation', 'conv-1', 'dashboard', 4, 'm1', 'manager') IS NOT NULL;
SELECT learning.submit_feedback('fb', 'conv-2', 'message', 'msg-9', 'dashboard', 1, 'm1', 'manager') IS NOT NULL;

-- the first release's validation messages; nothing stored
SELECT count(*) AS before FROM learning.feedback_entries \gset
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', 3, 'u1')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', -2, 'u1')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'dashboard', 0, 'u1')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'dashboard', 6, 'u1')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'x', 'm', 'inline', 1, 'u1')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'email', 1, 'u1')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', 1, 'u1', 'boss')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', 1, 'u1', 'rep', repeat('x', 1001))$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', 1, 'u1', metadata => '[]')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', NULL, 'u1')$$);
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', 1, NULL)$$);
SELECT err($$SELECT learning.submit_feedback('f b', 'conv-1', 'message', 'm', 'inline', 1, 'u1')$$);
-- a link to another tenant's outcome, or to no outcome at all
SELECT err(format($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', 1, 'u1', outcome_record_id => %L)$$, :'other'));
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-1', 'message', 'm', 'inline', 1, 'u1', outcome_record_id => '00000000-0000-0000-0000-000000000001')$$);
SELECT count(*) = :before AS nothing_stored FROM learning.feedback_entries;
-- exactly 1000 characters is fine
SELECT learning.submit_feedback('fb', 'conv-3', 'message', 'm', 'inline', 0, 'u2', 'rep', repeat('y', 1000)) IS NOT NULL;

-- idempotent retries by feedback_id
SELECT learning.submit_feedback('fb', 'conv-4', 'message', 'm4', 'inline', 1, 'u3', feedback_id => 'aaaaaaaa-0000-0000-0000-000000000001');
SELECT learning.submit_feedback('fb', 'conv-4', 'message', 'm4', 'inline', 1, 'u3', feedback_id => 'aaaaaaaa-0000-0000-0000-000000000001');
SELECT count(*) FROM learning.feedback_entries WHERE id = 'aaaaaaaa-0000-0000-0000-000000000001';
SELECT err($$SELECT learning.submit_feedback('fb', 'conv-4', 'message', 'm4', 'inline', -1, 'u3', feedback_id => 'aaaaaaaa-0000-0000-0000-000000000001')$$);
SELECT rating FROM learning.feedback_entries WHERE id = 'aaaaaaaa-0000-0000-0000-000000000001';
-- the same id in another tenant is another entry
SELECT learning.submit_feedback('fb-other', 'conv-4', 'message', 'm4', 'inline', -1, 'u3', feedback_id => 'aaaaaaaa-0000-0000-0000-000000000001');

-- a conversation's feedback, oldest first
SELECT target_type, source, rating FROM learning.feedback_for_conversation('fb', 'conv-1');

-- summary: inline normalised (r+1)/2, dashboard (r-1)/4
SELECT jsonb_pretty(learning.feedback_summary('fb') - 'feedback_rate_trend');
SELECT jsonb_array_length(learning.feedback_summary('fb')->'feedback_rate_trend') AS trend_days,
       learning.feedback_summary('fb')->'feedback_rate_trend'->0->'count' AS today_count;
SELECT learning.feedback_summary('nobody');
SELECT err($$SELECT learning.feedback_summary('fb', 0)$$);
SELECT err($$SELECT learning.feedback_summary('fb', 366)$$);

-- rate: entries per day over the last 7 days (older entries do not count)
UPDATE learning.feedback_entries SET created_at = now() - interval '8 days'
 WHERE tenant_id = 'fb' AND target_id = 'msg-9';
SELECT learning.feedback_rate('fb', 'u1') AS u1_rate, learning.feedback_rate('fb', 'm1') AS m1_rate,
       learning.feedback_rate('fb', 'nobody') AS nobody_rate;

-- a deleted outcome unlinks its feedback rather than losing it
DELETE FROM learning.outcome_records WHERE id = :'o1';
SELECT outcome_record_id IS NULL AS unlinked FROM learning.feedback_entries WHERE id = :'f1';

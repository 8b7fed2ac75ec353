-- ingest_signal and submit_feedback in C: every argument's rule, in the order
-- of the first release; a refused call stores nothing; retries return the
-- first id; a linked outcome must be the tenant's.

-- signals: each required argument, by name
SELECT err($$SELECT learning.ingest_signal(NULL, 'c', 'email_replied')$$);
SELECT err($$SELECT learning.ingest_signal('wi', NULL, 'email_replied')$$);
SELECT err($$SELECT learning.ingest_signal('wi', '', 'email_replied')$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', NULL)$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'email_replied', NULL)$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'email_replied', 'infinity')$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'email_replied', now(), NULL)$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'email_replied', now(), '{}', '')$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'email_replied', now(), '{}', repeat('x', 201))$$);
-- the first broken rule wins: a bad tenant before a bad type
SELECT err($$SELECT learning.ingest_signal('w i', 'c', 'email_opened')$$);
-- deal stages: a JSON null or a number is no stage; the two failures are accepted
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'deal_stage_changed', now(), '{"stage": null}')$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'deal_stage_changed', now(), '{"stage": 3}')$$);
SELECT learning.ingest_signal('wi', 'c', 'deal_stage_changed', now(), '{"stage": "stalled"}') IS NOT NULL AS stalled_ok;
-- a retry returns the first id, even when applied meanwhile; a bad type with a
-- known external_id is still refused, and nothing else is stored
SELECT learning.ingest_signal('wi', 'c', 'email_replied', now(), '{}', 'w-1') AS first_id \gset
UPDATE learning.signals SET applied_at = now() WHERE tenant_id = 'wi' AND external_id = 'w-1';
SELECT learning.ingest_signal('wi', 'c', 'email_bounced', now(), '{"x": 1}', 'w-1') = :'first_id' AS same_id;
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'email_opened', now(), '{}', 'w-1')$$);
SELECT err($$SELECT learning.ingest_signal('wi', 'c', 'deal_stage_changed', now(), '{"stage": "won"}', 'w-1')$$);
SELECT signal_type, external_id, detail FROM learning.signals WHERE tenant_id = 'wi' ORDER BY external_id NULLS LAST, signal_type;

-- feedback: each required argument, by name, in order
SELECT err($$SELECT learning.submit_feedback(NULL, 'c', 'message', 'm', 'inline', 1, 'u')$$);
SELECT err($$SELECT learning.submit_feedback('wi', NULL, 'message', 'm', 'inline', 1, 'u')$$);
SELECT err($$SELECT learning.submit_feedback('wi', 'c', NULL, 'm', 'inline', 1, 'u')$$);
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', 'm', NULL, 1, 'u')$$);
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', NULL, 'inline', 1, 'u')$$);
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 1, 'u', NULL)$$);
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 1, 'u', metadata => NULL)$$);
-- a bad rating is reported before a bad target_id, a bad role before a long comment
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', '', 'inline', 5, 'u')$$);
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 1, 'u', 'boss', repeat('x', 2000))$$);
-- 1000 characters of a two-byte letter are accepted (characters, not bytes)
SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 1, 'u', 'rep', repeat('é', 1000)) IS NOT NULL AS long_comment_ok;
-- a linked outcome of the tenant is accepted; an unknown one is refused and stores nothing
SELECT learning.record_outcome('wi', 'c', 'send_email', 0.5, 'email_engagement') AS oid \gset
SELECT learning.submit_feedback('wi', 'c', 'decision', 'd', 'dashboard', 5, 'm', 'manager', outcome_record_id => :'oid') IS NOT NULL AS linked_ok;
SELECT count(*) AS entries_before FROM learning.feedback_entries WHERE tenant_id = 'wi' \gset
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 1, 'u', outcome_record_id => '00000000-0000-0000-0000-0000000000aa')$$);
SELECT count(*) = :entries_before AS nothing_stored FROM learning.feedback_entries WHERE tenant_id = 'wi';
-- retries: the same content (NULLs and JSON included) returns the id; other content is 23505
SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 0, 'u', 'service', NULL, :'oid', '{"a": [1, 2]}',
                                'bbbbbbbb-0000-0000-0000-000000000001') AS fid \gset
SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 0, 'u', 'service', NULL, :'oid', '{"a": [1, 2]}',
                                'bbbbbbbb-0000-0000-0000-000000000001') = :'fid' AS same_retry;
SELECT err(format($$SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 0, 'u', 'service', NULL, %L, '{"a": [2, 1]}',
                                'bbbbbbbb-0000-0000-0000-000000000001')$$, :'oid'));
SELECT err($$SELECT learning.submit_feedback('wi', 'c', 'message', 'm', 'inline', 0, 'u', 'service', 'now a comment', NULL, '{"a": [1, 2]}',
                                'bbbbbbbb-0000-0000-0000-000000000001')$$);
SELECT count(*) AS entries, count(*) FILTER (WHERE outcome_record_id IS NOT NULL) AS linked
  FROM learning.feedback_entries WHERE tenant_id = 'wi';

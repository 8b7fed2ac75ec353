-- Bad input: each gets a precise SQLSTATE and a message naming the field and
-- the value, and leaves every table as it was.

CREATE TEMP VIEW table_sizes AS
SELECT (SELECT count(*) FROM learning.outcome_records) AS outcomes,
       (SELECT count(*) FROM learning.signals) AS signals,
       (SELECT count(*) FROM learning.feedback_entries) AS feedback,
       (SELECT count(*) FROM learning.calibration_bins) AS bins,
       (SELECT count(*) FROM learning.events) AS events,
       (SELECT count(*) FROM learning.job_runs) AS job_runs;
CREATE TEMP TABLE sizes_before AS SELECT * FROM table_sizes;

SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement') AS pending \gset
SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement') AS done \gset
SELECT status FROM learning.resolve_outcome('errs', :'done', 'positive');
SELECT learning.record_outcome('errs-b', 'c', 'send_email', 0.5, 'email_engagement') AS other_tenant \gset
DROP TABLE sizes_before;
CREATE TEMP TABLE sizes_before AS SELECT * FROM table_sizes;

SELECT label, err(sql) FROM (VALUES
  ('confidence NaN',        $$SELECT learning.record_outcome('errs', 'c', 'send_email', 'NaN', 'email_engagement')$$),
  ('confidence Infinity',   $$SELECT learning.record_outcome('errs', 'c', 'send_email', 'Infinity', 'email_engagement')$$),
  ('confidence -Infinity',  $$SELECT learning.record_outcome('errs', 'c', 'send_email', '-Infinity', 'email_engagement')$$),
  ('confidence -0.1',       $$SELECT learning.record_outcome('errs', 'c', 'send_email', -0.1, 'email_engagement')$$),
  ('confidence 1.1',        $$SELECT learning.record_outcome('errs', 'c', 'send_email', 1.1, 'email_engagement')$$),
  ('confidence NULL',       $$SELECT learning.record_outcome('errs', 'c', 'send_email', NULL, 'email_engagement')$$),
  ('unknown outcome type',  $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_opened')$$),
  ('outcome type NULL',     $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, NULL)$$),
  ('action type bad',       $$SELECT learning.record_outcome('errs', 'c', 'Send Email', 0.5, 'email_engagement')$$),
  ('action type too long',  $$SELECT learning.record_outcome('errs', 'c', repeat('a', 51), 0.5, 'email_engagement')$$),
  ('conversation NULL',     $$SELECT learning.record_outcome('errs', NULL, 'send_email', 0.5, 'email_engagement')$$),
  ('metadata array',        $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', metadata => '[1, 2]')$$),
  ('metadata scalar',       $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', metadata => '3')$$),
  ('metadata NULL',         $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', metadata => NULL)$$),
  ('negative cost',         $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', cost => -1)$$),
  ('tenant empty',          $$SELECT learning.record_outcome('', 'c', 'send_email', 0.5, 'email_engagement')$$),
  ('tenant 49 characters',  $$SELECT learning.record_outcome(repeat('t', 49), 'c', 'send_email', 0.5, 'email_engagement')$$),
  ('tenant with space',     $$SELECT learning.record_outcome('ac me', 'c', 'send_email', 0.5, 'email_engagement')$$),
  ('tenant with colon',     $$SELECT learning.record_outcome('acme:x', 'c', 'send_email', 0.5, 'email_engagement')$$),
  ('tenant with quote',     $$SELECT learning.record_outcome('acme''; drop table x; --', 'c', 'send_email', 0.5, 'email_engagement')$$),
  ('tenant NULL',           $$SELECT learning.record_outcome(NULL, 'c', 'send_email', 0.5, 'email_engagement')$$),
  ('unknown status',        format($$SELECT learning.resolve_outcome('errs', %L, 'won')$$, :'pending')),
  ('status pending',        format($$SELECT learning.resolve_outcome('errs', %L, 'pending')$$, :'pending')),
  ('status NULL',           format($$SELECT learning.resolve_outcome('errs', %L, NULL)$$, :'pending')),
  ('score 1.5',             format($$SELECT learning.resolve_outcome('errs', %L, 'positive', 1.5)$$, :'pending')),
  ('score -0.5',            format($$SELECT learning.resolve_outcome('errs', %L, 'positive', -0.5)$$, :'pending')),
  ('resolve unknown id',    $$SELECT learning.resolve_outcome('errs', '11111111-1111-1111-1111-111111111111', 'positive')$$),
  ('resolve other tenant',  format($$SELECT learning.resolve_outcome('errs', %L, 'positive')$$, :'other_tenant')),
  ('resolve twice',         format($$SELECT learning.resolve_outcome('errs', %L, 'negative')$$, :'done')),
  ('update resolved',       format($$UPDATE learning.outcome_records SET status = 'negative' WHERE id = %L$$, :'done')),
  ('unknown signal type',   $$SELECT learning.ingest_signal('errs', 'c', 'email_opened')$$),
  ('signal detail array',   $$SELECT learning.ingest_signal('errs', 'c', 'email_replied', now(), '[]')$$),
  ('unknown target type',   $$SELECT learning.submit_feedback('errs', 'c', 'email', 't', 'inline', 1, 'u')$$),
  ('unknown source',        $$SELECT learning.submit_feedback('errs', 'c', 'message', 't', 'survey', 1, 'u')$$),
  ('inline rating 2',       $$SELECT learning.submit_feedback('errs', 'c', 'message', 't', 'inline', 2, 'u')$$),
  ('dashboard rating 0',    $$SELECT learning.submit_feedback('errs', 'c', 'message', 't', 'dashboard', 0, 'u')$$),
  ('comment 1001 chars',    $$SELECT learning.submit_feedback('errs', 'c', 'message', 't', 'inline', 1, 'u', 'rep', repeat('é', 1001))$$),
  ('feedback metadata',     $$SELECT learning.submit_feedback('errs', 'c', 'message', 't', 'inline', 1, 'u', metadata => '"x"')$$),
  ('other tenant outcome',  format($$SELECT learning.submit_feedback('errs', 'c', 'message', 't', 'inline', 1, 'u', outcome_record_id => %L)$$, :'other_tenant')),
  ('unknown job',           $$SELECT learning.run_job('vacuum_everything')$$),
  ('days 0',                $$SELECT learning.feedback_summary('errs', 0)$$),
  ('unknown time zone',     $$SELECT learning.set_tenant_time_zone('errs', 'Mars/Olympus_Mons')$$),
  ('negative minutes',      $$SELECT learning.set_minutes_saved('errs', 'send_email', -5)$$),
  ('cost NaN',              $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', cost => 'NaN')$$),
  ('cost Infinity',         $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', cost => 'Infinity')$$),
  ('created_at infinity',   $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', created_at => 'infinity')$$),
  ('created_at NULL',       $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', created_at => NULL)$$),
  ('conversation empty',    $$SELECT learning.record_outcome('errs', '', 'send_email', 0.5, 'email_engagement')$$),
  ('conversation 201 chars',$$SELECT learning.record_outcome('errs', repeat('c', 201), 'send_email', 0.5, 'email_engagement')$$),
  ('conversation 6000 chars',$$SELECT learning.ingest_signal('errs', repeat('c', 6000), 'email_replied')$$),
  ('rep_id empty',          $$SELECT learning.record_outcome('errs', 'c', 'send_email', 0.5, 'email_engagement', rep_id => '')$$),
  ('deal stage at creation',$$SELECT learning.record_outcome('errs', 'c', 'qualify', 0.5, 'deal_progression', metadata => '{"deal_stage_at_creation": "bogus"}')$$),
  ('external_id empty',     $$SELECT learning.ingest_signal('errs', 'c', 'email_replied', now(), '{}', '')$$),
  ('occurred_at -infinity', $$SELECT learning.ingest_signal('errs', 'c', 'email_replied', '-infinity')$$),
  ('reviewer_id empty',     $$SELECT learning.submit_feedback('errs', 'c', 'message', 't', 'inline', 1, '')$$),
  ('target_id 201 chars',   $$SELECT learning.submit_feedback('errs', 'c', 'message', repeat('t', 201), 'inline', 1, 'u')$$),
  ('expired with a score',  format($$UPDATE learning.outcome_records SET status = 'expired', outcome_score = 0.7 WHERE id = %L$$, :'pending')),
  ('ambiguous with a score',format($$UPDATE learning.outcome_records SET status = 'ambiguous', outcome_score = 0.7 WHERE id = %L$$, :'pending')),
  ('conversation NULL read',$$SELECT learning.outcomes_for_conversation('errs', NULL)$$),
  ('feedback NULL read',    $$SELECT learning.feedback_for_conversation('errs', NULL)$$)
) t(label, sql);

-- nothing was written by any of them
SELECT (SELECT row(b.*) FROM sizes_before b) = (SELECT row(a.*) FROM table_sizes a) AS tables_unchanged;
SELECT status FROM learning.outcome_records WHERE id = :'pending';

-- time zones match without regard to case and are stored as PostgreSQL spells them
SELECT learning.set_tenant_time_zone('errs', 'europe/berlin') AS stored;
SELECT learning.tenant_time_zone('errs') AS read_back;

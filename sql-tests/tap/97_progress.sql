-- Progress of long work: learning.report_progress raises a NOTICE only when a
-- second has passed since the previous one (and then returns the new time),
-- and rebuild_rollups reports its steps without changing what it computes.
BEGIN;
SELECT plan(4);
SELECT ok(learning.report_progress('t', 1, 2, 'x', 5, now() - interval '3 s', clock_timestamp() - interval '2 s')
              > clock_timestamp() - interval '1 s',
          'a second after the last NOTICE: a NOTICE, and the time of it is returned');
SELECT is(learning.report_progress('t', 2, 2, 'x', NULL, clock_timestamp(), '2100-01-01 00:00:00+00'),
          '2100-01-01 00:00:00+00'::timestamptz, 'within the second: DEBUG1 only, last_notice comes back unchanged');
SELECT ok(NOT has_function_privilege('public', 'learning.report_progress(text, integer, integer, text, bigint, timestamptz, timestamptz)', 'EXECUTE'),
          'report_progress is not executable by PUBLIC');
\o /dev/null
SELECT learning.record_outcome('prog', 'c-' || i, 'send_email', 0.5, 'email_engagement', rep_id => 'r') FROM generate_series(1, 50) i;
SELECT learning.flush_pending_deltas();
CREATE TEMP TABLE before AS SELECT learning.manager_dashboard('prog', 7) - 'generated_at' AS d;
SELECT learning.rebuild_rollups('prog');
\o
SELECT is(learning.manager_dashboard('prog', 7) - 'generated_at', (SELECT d FROM before),
          'rebuild_rollups with its progress reports rebuilds the same dashboard');
SELECT * FROM finish();
ROLLBACK;

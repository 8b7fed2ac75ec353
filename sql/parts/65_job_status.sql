------------------------------------------------------------------------------
-- Section: job status: what the schedulers do
--
-- learning.job_schedule() (src/scheduler.c) gives what only the server
-- process knows: the intervals in force, learning.enabled, and whether the
-- launcher, this database's scheduler and relay run (none when the library is
-- not in shared_preload_libraries).  learning.job_status adds the history of
-- learning.job_runs, which is bounded by learning.job_history_retention.
------------------------------------------------------------------------------

CREATE FUNCTION learning.job_schedule(
    OUT job_name text, OUT job_interval interval, OUT enabled boolean, OUT preloaded boolean,
    OUT launcher_pid integer, OUT scheduler_pid integer, OUT relay_pid integer)
    RETURNS SETOF record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_job_schedule';
COMMENT ON FUNCTION learning.job_schedule() IS
    'One row per job: its interval (learning.<job>_interval), learning.enabled, whether the library is preloaded, and the pids of the launcher and of this database''s scheduler and relay (NULL when not running)';

-- One row per job of this database.  next_due_at follows the scheduler's own
-- rule: interval after the start of the job's last scheduled run (due now
-- when there is none); NULL when no scheduler runs the jobs.  runs and
-- failures count the retained history (learning.job_history_retention).
CREATE VIEW learning.job_status AS
SELECT pg_catalog.current_database()::text AS database,
       s.job_name,
       s.job_interval AS "interval",
       last_run.started_at AS last_run_at,
       last_run.status AS last_status,
       last_run.message AS last_message,
       CASE WHEN s.scheduler_pid IS NOT NULL AND s.enabled
            THEN coalesce(last_scheduled.started_at + s.job_interval, pg_catalog.now())
       END AS next_due_at,
       coalesce(counts.runs, 0) AS runs,
       coalesce(counts.failures, 0) AS failures,
       CASE WHEN NOT s.preloaded
                THEN 'absent: learning is not in shared_preload_libraries, so no scheduler runs the jobs (learning.run_job runs one now)'
            WHEN s.scheduler_pid IS NULL AND s.launcher_pid IS NULL THEN 'not running: the launcher is not running'
            WHEN s.scheduler_pid IS NULL THEN 'not running: starting or restarting'
            WHEN NOT s.enabled THEN 'paused: learning.enabled = off'
            ELSE 'running'
       END AS scheduler,
       s.scheduler_pid
  FROM learning.job_schedule() s
  LEFT JOIN LATERAL (
        SELECT r.started_at, r.status, r.message
          FROM learning.job_runs r
         WHERE r.job_name = s.job_name
         ORDER BY r.started_at DESC
         LIMIT 1) last_run ON true
  LEFT JOIN LATERAL (
        SELECT r.started_at
          FROM learning.job_runs r
         WHERE r.job_name = s.job_name AND r.run_by = 'scheduler'
         ORDER BY r.started_at DESC
         LIMIT 1) last_scheduled ON true
  LEFT JOIN LATERAL (
        SELECT count(*) AS runs, count(*) FILTER (WHERE r.status = 'failed') AS failures
          FROM learning.job_runs r
         WHERE r.job_name = s.job_name) counts ON true;
COMMENT ON VIEW learning.job_status IS
    'Per job of this database: interval, last run (time, status, message), next due, runs and failures in the retained history, and the scheduler''s state (running, paused, not running, or absent when learning is not preloaded)';

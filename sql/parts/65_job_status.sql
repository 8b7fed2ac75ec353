------------------------------------------------------------------------------
-- Section: job status: what the schedulers do
--
-- learning.job_schedule() (src/scheduler.c) gives what only the server
-- process knows: the intervals in force, learning.enabled, whether the
-- launcher, this database's scheduler and relay run (none when the library is
-- not in shared_preload_libraries), and since when this database's due jobs
-- wait for a worker of the pool (learning.max_workers, shared by every
-- database).  learning.job_status adds the history of learning.job_runs,
-- which is bounded by learning.job_history_retention.
------------------------------------------------------------------------------

CREATE FUNCTION learning.job_schedule(
    OUT job_name text, OUT job_interval interval, OUT enabled boolean, OUT preloaded boolean,
    OUT launcher_pid integer, OUT scheduler_pid integer, OUT relay_pid integer,
    OUT waiting_since timestamptz, OUT max_workers integer)
    RETURNS SETOF record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_job_schedule';
COMMENT ON FUNCTION learning.job_schedule() IS
    'One row per job: its interval (learning.<job>_interval), learning.enabled, whether the library is preloaded, the pids of the launcher and of this database''s scheduler and relay (NULL when not running), since when this database''s due jobs wait for a worker (NULL when not waiting), and learning.max_workers';

-- One row per job of this database.  next_due_at follows the scheduler's own
-- rule: interval after the start of the job's last scheduled run (due now
-- when there is none); NULL when no scheduler will run the jobs.  runs and
-- failures count the retained history (learning.job_history_retention).
-- Schedulers come from a pool shared by every database: between runs a
-- database has none ("idle"), and when every worker of the pool is busy its
-- due jobs wait ("waiting", with waiting_since).
CREATE VIEW learning.job_status AS
SELECT pg_catalog.current_database()::text AS database,
       s.job_name,
       s.job_interval AS "interval",
       last_run.started_at AS last_run_at,
       last_run.status AS last_status,
       last_run.message AS last_message,
       CASE WHEN s.preloaded AND s.launcher_pid IS NOT NULL AND s.enabled
            THEN coalesce(last_scheduled.started_at + s.job_interval, pg_catalog.now())
       END AS next_due_at,
       coalesce(counts.runs, 0) AS runs,
       coalesce(counts.failures, 0) AS failures,
       CASE WHEN NOT s.preloaded
                THEN 'absent: learning is not in shared_preload_libraries, so no scheduler runs the jobs (learning.run_job runs one now)'
            WHEN s.launcher_pid IS NULL AND s.scheduler_pid IS NULL THEN 'not running: the launcher is not running'
            WHEN s.scheduler_pid IS NOT NULL AND s.enabled THEN 'running'
            WHEN NOT s.enabled THEN 'paused: learning.enabled = off'
            WHEN s.waiting_since IS NOT NULL
                THEN pg_catalog.format('waiting: jobs are due and every worker of the pool (learning.max_workers = %s) is busy with other databases',
                                       s.max_workers)
            ELSE 'idle: a scheduler starts when a job is due'
       END AS scheduler,
       s.scheduler_pid,
       s.waiting_since
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
    'Per job of this database: interval, last run (time, status, message), next due, runs and failures in the retained history, and the scheduler''s state (running, idle between runs, waiting for a worker of the pool since waiting_since, paused, not running, or absent when learning is not preloaded)';

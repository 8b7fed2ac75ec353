/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The per-database "learning scheduler" worker and
 *		learning.job_schedule(), the C half of the learning.job_status view.
 *
 * A scheduler is started by the launcher (launcher.c) from its pool when
 * one of its database's jobs is due.  It first looks for the extension:
 * without it, it says so in its slot and exits, and the launcher starts
 * nothing there until CREATE EXTENSION.  With it, it reports the start of
 * each job's last scheduled run (from learning.job_runs, so that a
 * restarted scheduler or server does not run again work that was just done)
 * and when the database's next delivery is due, then runs each of the five
 * jobs that is due (learning.<job>_interval after the start of its last
 * scheduled run), reporting every start.  It stays while a job falls due
 * within SCHEDULER_LINGER_MS and no other database waits for a worker;
 * otherwise it says its work is done and exits, and the launcher starts a
 * scheduler again when the next job is due.  Each run is its own transaction calling
 * learning.execute_job(job, 'scheduler'); a failure is rolled back and
 * recorded by learning.record_failed_job in a transaction of its own, and
 * the loop goes on.  SIGHUP reloads the intervals and learning.enabled (off:
 * the scheduler leaves, and none starts until it is on again); SIGTERM ends
 * the worker through die() at the next interrupt check.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/scheduler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "learning.h"
#include "workers.h"

/* Longest sleep: the scheduler looks at its database at least this often. */
#define SCHEDULER_MAX_SLEEP_MS		60000

/* A scheduler whose next job is due later than this leaves the pool. */
#define SCHEDULER_LINGER_MS			5000

const char *const learning_job_names[LEARNING_NJOBS] = {
	"immediate_signals", "engagement_signals", "deal_progression",
	"expire_overdue", "calibration_check"
};

/* Start of the last scheduled run of each job; 0 when there was none. */
static TimestampTz last_started[LEARNING_NJOBS];

static Oid	scheduler_dboid = InvalidOid;
static char scheduler_dbname[NAMEDATALEN];	/* for messages */

PG_FUNCTION_INFO_V1(learning_job_schedule);

static void scheduler_report_extension(bool present);
static bool scheduler_extension_present(void);
static void scheduler_load_last_runs(void);
static bool scheduler_run_job(int job);
static void scheduler_record_failure(int job, TimestampTz started, ErrorData *edata);
static void scheduler_exit_without_extension(void);
static void scheduler_report_relay(void);
static bool scheduler_run_due_jobs(MemoryContext loopcxt);
static void scheduler_leave(void);
static long scheduler_sleep_ms(TimestampTz now);

static SPIPlanPtr plan_last_run = NULL;
static SPIPlanPtr plan_execute = NULL;
static SPIPlanPtr plan_skip = NULL;
static SPIPlanPtr plan_failed = NULL;
static SPIPlanPtr plan_next_due = NULL;

/* learning_job_interval_ms: the interval of a job, from its GUC. */
int
learning_job_interval_ms(int job)
{
	switch (job)
	{
		case 0:
			return learning_immediate_signals_interval;
		case 1:
			return learning_engagement_signals_interval;
		case 2:
			return learning_deal_progression_interval;
		case 3:
			return learning_expire_overdue_interval;
		default:
			return learning_calibration_check_interval;
	}
}

/*
 * learning_scheduler_main: entry point of a "learning scheduler" worker for
 * the database whose OID is main_arg.
 */
void
learning_scheduler_main(Datum main_arg)
{
	MemoryContext loopcxt;

	scheduler_dboid = DatumGetObjectId(main_arg);
	learning_worker_connect(scheduler_dboid, LEARNING_SCHEDULER_TYPE);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "learning scheduler loop",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loopcxt);

	if (!scheduler_extension_present())
		scheduler_exit_without_extension();
	/* a library newer than the schema: wait for ALTER EXTENSION UPDATE */
	if (!learning_worker_wait_for_schema("scheduler"))
		scheduler_exit_without_extension();
	scheduler_load_last_runs();
	learning_scheduler_report(last_started);
	scheduler_report_extension(true);
	scheduler_report_relay();
	ereport(DEBUG1,
			(errmsg("learning scheduler started for database \"%s\"",
					scheduler_dbname)));

	for (;;)
	{
		long		sleep_ms;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loopcxt);

		if (learning_enabled && !scheduler_run_due_jobs(loopcxt))
			scheduler_leave();	/* its quantum is over and others wait */
		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);

		/* nothing due soon, paused, or others wait: leave the pool */
		sleep_ms = scheduler_sleep_ms(GetCurrentTimestamp());
		if (!learning_enabled || sleep_ms > SCHEDULER_LINGER_MS ||
			(sleep_ms > 0 && learning_worker_should_yield(false)))
			scheduler_leave();

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   sleep_ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}

/*
 * scheduler_run_due_jobs runs every job that is due, in order, reporting
 * each start to the launcher.  False when the worker should leave before
 * the next one (others wait and its quantum is over).
 */
static bool
scheduler_run_due_jobs(MemoryContext loopcxt)
{
	for (int job = 0; job < LEARNING_NJOBS; job++)
	{
		TimestampTz now = GetCurrentTimestamp();

		/* due: never run, clock went back, or the interval has passed */
		if (last_started[job] != 0 && last_started[job] <= now &&
			now < TimestampTzPlusMilliseconds(last_started[job],
											  learning_job_interval_ms(job)))
			continue;
		if (!scheduler_run_job(job))
			scheduler_exit_without_extension();
		learning_scheduler_report(last_started);
		MemoryContextSwitchTo(loopcxt);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending || !learning_enabled)
			break;
		if (learning_worker_should_yield(true))
			return false;
	}
	return true;
}

/*
 * scheduler_leave: the work is done for now; the launcher starts a
 * scheduler again when the next job is due.
 */
static void
scheduler_leave(void)
{
	learning_scheduler_report(last_started);
	learning_scheduler_report_exit();
	pgstat_report_stat(true);
	proc_exit(0);
}

/*
 * scheduler_read_times runs a query of one timestamp (sql, its plan saved in
 * *plan) once per argument (all of type argtype) in one transaction, into
 * times[] (0 for NULL).  On failure it says what it could not read and what
 * follows, as a WARNING, and returns false: the caller then takes its safe
 * default.
 */
static bool
scheduler_read_times(SPIPlanPtr *plan, const char *sql, Oid argtype, Datum *args, int n,
					 TimestampTz *times, const char *what, const char *consequence)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		SPI_connect();
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		d;

			if (SPI_execute_plan(learning_saved_plan(plan, sql, 1, &argtype), &args[i], NULL, true, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "reading %s failed", what);
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			times[i] = isnull ? 0 : DatumGetTimestampTz(d);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("learning scheduler could not read %s: %s", what, edata->message),
				 errdetail("%s", consequence)));
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok;
}

/*
 * scheduler_report_relay tells the launcher when the database's next
 * delivery is due (learning.relay_next_due), which after a server restart
 * nobody else knows.  On failure the relay is simply started.
 */
static void
scheduler_report_relay(void)
{
	Datum		sse_on = BoolGetDatum(learning_sse_publish_url != NULL && learning_sse_publish_url[0] != '\0');
	TimestampTz due;

	if (!scheduler_read_times(&plan_next_due, "SELECT learning.relay_next_due($1)", BOOLOID, &sse_on, 1,
							  &due, "when the next delivery is due", "The relay starts now."))
		due = GetCurrentTimestamp();
	learning_scheduler_report_relay(due);
}

/* scheduler_report_extension tells the launcher what this database has. */
static void
scheduler_report_extension(bool present)
{
	LearningDbSlot *slot;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	slot = learning_slot_find(scheduler_dboid);
	if (slot != NULL)
	{
		slot->extension_present = present;
		slot->extension_absent = !present;
	}
	learning_wake_launcher();
	LWLockRelease(LearningWorkers->lock);
}

/*
 * scheduler_exit_without_extension: nothing to do in this database (never
 * had the extension, or it was dropped).  Exit code 0; the launcher starts a
 * scheduler here again only after CREATE EXTENSION.
 */
static void
scheduler_exit_without_extension(void)
{
	scheduler_report_extension(false);
	learning_scheduler_report_exit();
	ereport(DEBUG1,
			(errmsg("learning scheduler is exiting because database %u has no learning extension",
					scheduler_dboid)));
	proc_exit(0);
}

/*
 * scheduler_extension_present looks for the extension in its own
 * transaction.  An extension being created is not there yet: its commit
 * wakes the launcher, which starts a new scheduler.
 */
static bool
scheduler_extension_present(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		present;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	present = OidIsValid(get_extension_oid("learning", true));
	if (scheduler_dbname[0] == '\0')
		strlcpy(scheduler_dbname, get_database_name(MyDatabaseId), NAMEDATALEN);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return present;
}

/*
 * scheduler_load_last_runs reads the start of each job's last scheduled run
 * from learning.job_runs (an index scan per job).  On failure (say, a table
 * renamed away) the jobs are simply due now; the failure shows in their runs.
 */
static void
scheduler_load_last_runs(void)
{
	Datum		names[LEARNING_NJOBS];

	for (int job = 0; job < LEARNING_NJOBS; job++)
		names[job] = CStringGetTextDatum(learning_job_names[job]);
	if (!scheduler_read_times(&plan_last_run,
							  "SELECT max(r.started_at) FROM learning.job_runs r "
							  "WHERE r.job_name = $1 AND r.run_by = 'scheduler'",
							  TEXTOID, names, LEARNING_NJOBS, last_started,
							  "the last job runs", "Every job is due now."))
		memset(last_started, 0, sizeof(last_started));
}

/*
 * scheduler_batch runs, in a transaction of its own, the statement sql (its
 * plan saved in *plan) with
 * the job's name and after (NULL for the first batch) as $1 and $2; its one
 * text column (NULL: no more batches) is copied to *next in cxt.  Returns
 * false on an error, with the error in *edata.  *present becomes false when
 * the extension is gone.
 */
static bool
scheduler_batch(SPIPlanPtr *plan, const char *sql, int job, const char *after, char **next,
				bool *present, ErrorData **edata, MemoryContext cxt)
{
	volatile bool ok = true;

	*next = NULL;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		/* checked in the run's transaction: DROP SCHEMA ... CASCADE counts too */
		if (!OidIsValid(get_extension_oid("learning", true)))
			*present = false;
		else
		{
			Oid			argtypes[2] = {TEXTOID, TEXTOID};
			Datum		values[2];
			char		nulls[2] = {' ', after == NULL ? 'n' : ' '};
			char	   *value;

			values[0] = CStringGetTextDatum(learning_job_names[job]);
			values[1] = after == NULL ? (Datum) 0 : CStringGetTextDatum(after);
			SPI_connect();
			if (SPI_execute_plan(learning_saved_plan(plan, sql, 2, argtypes), values, nulls, false, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "a learning job statement did not return a row");
			value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			if (value != NULL)
				*next = MemoryContextStrdup(cxt, value);
			SPI_finish();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		*edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok;
}

/*
 * scheduler_run_job runs one job, batch after batch, each batch (at most
 * learning.job_batch_tenants tenants) in a transaction of its own, so that
 * the locks and memory of a transaction stay bounded whatever the number of
 * tenants.  A failing batch is logged and recorded, and the job goes on with
 * the batch after it.  Returns false when the extension is gone (the
 * scheduler then exits); a failure never ends the worker.
 */
static bool
scheduler_run_job(int job)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz started = GetCurrentTimestamp();
	bool		present = true;
	char	   *after = NULL;
	char		activity[64];

	snprintf(activity, sizeof(activity), "learning job %s", learning_job_names[job]);
	pgstat_report_activity(STATE_RUNNING, activity);
	for (;;)
	{
		TimestampTz batch_started = GetCurrentTimestamp();
		ErrorData  *edata = NULL;
		char	   *next = NULL;

		if (!scheduler_batch(&plan_execute, "SELECT r->>'next_after' FROM learning.execute_job($1, 'scheduler', $2) r",
							 job, after, &next, &present, &edata, cxt))
		{
			scheduler_record_failure(job, batch_started, edata);
			/* skip the failed batch: where would the next one start? */
			edata = NULL;
			if (!scheduler_batch(&plan_skip, "SELECT CASE WHEN b.more THEN b.last_tenant END "
								 "  FROM learning.job_batch($1, coalesce($2, ''), learning.job_batch_tenants()) b",
								 job, after, &next, &present, &edata, cxt))
			{
				scheduler_record_failure(job, batch_started, edata);
				next = NULL;
			}
		}
		if (!present || next == NULL)
			break;
		after = next;
		CHECK_FOR_INTERRUPTS();
	}
	last_started[job] = started;
	pgstat_report_activity(STATE_IDLE, NULL);
	return present;
}

/*
 * scheduler_record_failure logs a failed run and writes its job_runs row in a
 * new transaction.  If even that fails (the extension half-dropped, say), the
 * server log has both messages.
 */
static void
scheduler_record_failure(int job, TimestampTz started, ErrorData *edata)
{
	MemoryContext cxt = CurrentMemoryContext;

	ereport(LOG,
			(errcode(edata->sqlerrcode),
			 errmsg("learning job %s failed in database \"%s\": %s",
					learning_job_names[job], scheduler_dbname, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0));

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		Oid			argtypes[3] = {TEXTOID, TIMESTAMPTZOID, TEXTOID};
		Datum		values[3];

		values[0] = CStringGetTextDatum(learning_job_names[job]);
		values[1] = TimestampTzGetDatum(started);
		values[2] = CStringGetTextDatum(edata->message ? edata->message : "unknown error");
		SPI_connect();
		if (SPI_execute_plan(learning_saved_plan(&plan_failed,
												 "SELECT learning.record_failed_job($1, $2, $3)",
												 3, argtypes),
							 values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "learning.record_failed_job did not return a row");
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *again;

		MemoryContextSwitchTo(cxt);
		again = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(WARNING,
				(errcode(again->sqlerrcode),
				 errmsg("could not record the failed run of learning job %s: %s",
						learning_job_names[job], again->message)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}

/*
 * scheduler_sleep_ms: time until the next job is due, at most
 * SCHEDULER_MAX_SLEEP_MS; the latch (SIGHUP, SIGTERM) cuts it short.
 */
static long
scheduler_sleep_ms(TimestampTz now)
{
	long		sleep_ms = SCHEDULER_MAX_SLEEP_MS;

	if (!learning_enabled)
		return sleep_ms;
	for (int job = 0; job < LEARNING_NJOBS; job++)
	{
		TimestampTz due;

		if (last_started[job] == 0 || last_started[job] > now)
			return 0;
		due = TimestampTzPlusMilliseconds(last_started[job], learning_job_interval_ms(job));
		if (due <= now)
			return 0;
		sleep_ms = Min(sleep_ms, (long) ((due - now + 999) / 1000));
	}
	return sleep_ms;
}

/*
 * learning_job_schedule: one row per job with its interval and, for this
 * database, whether the workers run, or since when jobs wait for a worker
 * of the pool (learning.job_status adds the history).  Without
 * shared_preload_libraries there is no launcher and no scheduler.
 */
Datum
learning_job_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pid_t		launcher_pid = 0;
	pid_t		scheduler_pid = 0;
	pid_t		relay_pid = 0;
	TimestampTz waiting_since = 0;

	InitMaterializedSRF(fcinfo, 0);

	if (LearningWorkers != NULL)
	{
		LearningDbSlot *slot;

		LWLockAcquire(LearningWorkers->lock, LW_SHARED);
		launcher_pid = LearningWorkers->launcher_pid;
		slot = learning_slot_find(MyDatabaseId);
		if (slot != NULL)
		{
			scheduler_pid = slot->scheduler_pid;
			relay_pid = slot->relay_pid;
			waiting_since = slot->jobs_waiting_since;
		}
		LWLockRelease(LearningWorkers->lock);
		if (!learning_worker_alive(launcher_pid, LEARNING_LAUNCHER_TYPE))
			launcher_pid = 0;
		if (!learning_worker_alive(scheduler_pid, LEARNING_SCHEDULER_TYPE))
			scheduler_pid = 0;
		if (!learning_worker_alive(relay_pid, LEARNING_RELAY_TYPE))
			relay_pid = 0;
	}

	for (int job = 0; job < LEARNING_NJOBS; job++)
	{
		Datum		values[9];
		bool		nulls[9] = {false};
		Interval   *interval = palloc0(sizeof(Interval));

		interval->time = (int64) learning_job_interval_ms(job) * INT64CONST(1000);
		values[0] = CStringGetTextDatum(learning_job_names[job]);
		values[1] = IntervalPGetDatum(interval);
		values[2] = BoolGetDatum(learning_enabled);
		values[3] = BoolGetDatum(LearningWorkers != NULL);
		values[4] = Int32GetDatum((int32) launcher_pid);
		nulls[4] = (launcher_pid == 0);
		values[5] = Int32GetDatum((int32) scheduler_pid);
		nulls[5] = (scheduler_pid == 0);
		values[6] = Int32GetDatum((int32) relay_pid);
		nulls[6] = (relay_pid == 0);
		values[7] = TimestampTzGetDatum(waiting_since);
		nulls[7] = (waiting_since == 0 || scheduler_pid != 0);
		values[8] = Int32GetDatum(learning_max_workers);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

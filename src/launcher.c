/*-------------------------------------------------------------------------
 *
 * launcher.c
 *		The launcher background worker: it finds the databases with the
 *		extension, starts and stops their schedulers and relays from a
 *		bounded pool, and restarts those that stopped.  It also registers,
 *		when the library is preloaded, what the workers need: the shared
 *		table (launcher_shmem.c) and the backends' hooks (utility_hook.c).
 *
 * How databases are found, without configuration:
 *	- the launcher connects to no database; every few seconds (and at once
 *	  when a backend asks) it scans the shared catalog pg_database;
 *	- for every connectable, non-template database it has not seen, it
 *	  starts a scheduler; the scheduler looks at pg_extension and, when the
 *	  extension is missing, says so in the database's slot and exits, so a
 *	  database without the extension costs one short-lived worker, once;
 *	- CREATE EXTENSION learning, once committed, asks the launcher to start
 *	  a scheduler at once (a probe would never come back by itself).
 *
 * The pool: a database with the extension gets a worker only while it has
 * something to do, and at most learning.max_workers database workers run at
 * once, whatever the number of databases.  A "learning scheduler" starts
 * when one of its database's jobs is due (the launcher knows the start of
 * each job's last run from the scheduler's reports, and the intervals from
 * its own settings), runs the due jobs, and leaves.  A "learning relay"
 * starts when a commit queued deliveries or a retry falls due, and leaves
 * once nothing is due for a while (pool.c, relay.c).  When more databases
 * need a worker than the pool has, the one waiting longest is served first;
 * meanwhile the running workers are told that others wait, and leave as soon
 * as they are idle, or after their quantum (LEARNING_WORKER_QUANTUM_MS), so
 * the pool rotates; learning.job_status says when a database waits.
 *
 * Life cycle: the schedulers and relays are dynamic workers with
 * bgw_notify_pid = launcher and BGW_NEVER_RESTART: the launcher alone decides
 * when one starts again.  A worker that leaves saying its work is done is
 * started again when its database next needs one; a worker that stops
 * otherwise (killed, crashed) is started again LEARNING_RESTART_SECONDS
 * after it stopped, longer when it keeps failing at start-up, even when
 * nothing seems due (it may have left work half done), so that a worker
 * stopped for DROP DATABASE is never brought back by the postmaster.  The
 * launcher itself is a static worker the postmaster restarts.  A new
 * launcher adopts the workers of its predecessor through the pids in shared
 * memory rather than starting duplicates.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "learning.h"
#include "workers.h"

/* How often the launcher scans pg_database when nobody wakes it. */
#define LAUNCHER_NAPTIME_MS			5000

/* Schedulers that have not yet said whether their database has the extension. */
#define LAUNCHER_MAX_PROBES			2

/*
 * A worker that stops sooner than this after its start failed at start-up
 * (say, FATAL while connecting); its restarts back off.
 */
#define LAUNCHER_FAST_EXIT_MS		2000

/* What the launcher knows of one database (launcher-local). */
typedef enum LauncherDbState
{
	DB_UNKNOWN,					/* not yet probed by a scheduler */
	DB_ACTIVE,					/* has the extension: scheduler and relay run */
	DB_ABSENT					/* has no extension: no worker */
} LauncherDbState;

typedef struct LauncherWorker
{
	BackgroundWorkerHandle *handle; /* NULL for an adopted worker */
	pid_t		pid;			/* 0: not running */
	TimestampTz started_at;
	TimestampTz restart_at;		/* not started again before this */
	int			fast_exits;		/* consecutive exits soon after start */
	bool		warned;			/* a start failure was logged */
	bool		must_restart;	/* stopped without finishing: start again at restart_at */
} LauncherWorker;

/* How a database worker stopped (worker_stopped). */
typedef enum WorkerStop
{
	STOPPED_DONE,				/* left by itself, its work done */
	STOPPED_ON_REQUEST,			/* stopped for a utility command */
	STOPPED_UNEXPECTEDLY		/* killed, crashed, failed */
} WorkerStop;

/* A database worker the pool should start (launcher_act). */
typedef struct LauncherCandidate
{
	struct LauncherDb *db;
	bool		scheduler;		/* else the relay */
	TimestampTz due;			/* since when it is needed */
} LauncherCandidate;

typedef struct LauncherDb
{
	Oid			dboid;			/* hash key */
	LauncherDbState state;
	bool		exists;			/* connectable in the latest pg_database scan */
	bool		held;			/* a backend holds the database free */
	bool		stopping;		/* stopped on request: restart once released */
	TimestampTz hold_until;
	LauncherWorker scheduler;
	LauncherWorker relay;
} LauncherDb;

static HTAB *launcher_dbs = NULL;
static MemoryContext launcher_cxt = NULL;	/* the hash and worker handles */

static MemoryContext launcher_init_memory(void);
static bool launcher_take_rescan(void);
static void launcher_detach(int code, Datum arg);
static void launcher_adopt(void);
static LauncherDb *launcher_db_enter(Oid dboid);
static void launcher_scan_databases(void);
static void launcher_sync(TimestampTz now);
static void launcher_sync_slot(LearningDbSlot *slot, TimestampTz now);
static void launcher_read_findings(LauncherDb *db, LearningDbSlot *slot);
static void launcher_reap(LauncherDb *db, TimestampTz now);
static WorkerStop stop_reason(const LauncherDb *db, bool done);
static bool worker_refresh(LauncherWorker *w, const char *bgw_type);
static void worker_stopped(LauncherWorker *w, WorkerStop how, bool healthy, TimestampTz now);
static bool worker_running(const LauncherWorker *w);
static bool launcher_db_off(const LauncherDb *db);
static TimestampTz scheduler_due_at(LauncherDb *db, LearningDbSlot *slot, TimestampTz now);
static TimestampTz relay_due_at(LauncherDb *db, LearningDbSlot *slot);
static int	candidate_cmp(const void *a, const void *b);
static int	launcher_candidates(LauncherCandidate *cand, TimestampTz now,
								int *running, int *probes);
static void launcher_stop_off(void);
static int	launcher_start_candidates(LauncherCandidate *cand, int ncand,
									  int running, int probes, TimestampTz now);
static void launcher_set_waiting(LauncherCandidate *c, int n, int first_waiting, TimestampTz now);
static void launcher_nudge_workers(void);
static void worker_stop(LauncherWorker *w, const char *bgw_type);
static bool worker_start(LauncherDb *db, LauncherWorker *w, bool scheduler, TimestampTz now);
static bool worker_claim_slot(Oid dboid, bool scheduler);
static bool worker_register(Oid dboid, const char *type, bool scheduler,
							BackgroundWorkerHandle **handle);
static void worker_publish_pid(Oid dboid, pid_t pid, bool scheduler);
static void launcher_act(TimestampTz now);
static long launcher_timeout(TimestampTz now, TimestampTz next_scan);
static TimestampTz launcher_db_wake(LauncherDb *db, TimestampTz now, TimestampTz wake);

/*
 * learning_register_launcher sets up the background workers when the library
 * is preloaded: the shared-memory table, the utility hook and commit callback
 * that keep our workers out of the way, and the launcher itself.
 */
void
learning_register_launcher(void)
{
	BackgroundWorker bgw;

	/* pg_upgrade's server must stay quiet */
	if (IsBinaryUpgrade)
		return;

	learning_register_workers_shmem();
	learning_register_backend_hooks();

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = LEARNING_RESTART_SECONDS;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "learning");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "learning_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, LEARNING_LAUNCHER_TYPE);
	snprintf(bgw.bgw_type, BGW_MAXLEN, LEARNING_LAUNCHER_TYPE);
	RegisterBackgroundWorker(&bgw);
}

/*
 * learning_launcher_main: entry point of the "learning launcher" worker.
 * Connected to no database, it reads only the shared catalog pg_database.
 */
void
learning_launcher_main(Datum main_arg)
{
	MemoryContext loopcxt;
	TimestampTz next_scan = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	/* before any SQL: the database's own settings may name a planted search_path */
	learning_worker_pin_search_path();
	pgstat_report_appname(LEARNING_LAUNCHER_TYPE);

	loopcxt = launcher_init_memory();
	before_shmem_exit(launcher_detach, (Datum) 0);
	launcher_adopt();
	ereport(LOG, (errmsg("learning launcher started")));

	for (;;)
	{
		TimestampTz now;
		bool		rescan;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);

		rescan = launcher_take_rescan();
		now = GetCurrentTimestamp();
		if (rescan || now >= next_scan)
		{
			launcher_scan_databases();
			MemoryContextSwitchTo(loopcxt);
			next_scan = TimestampTzPlusMilliseconds(now, LAUNCHER_NAPTIME_MS);
		}
		launcher_sync(now);
		launcher_act(now);
		launcher_sync(GetCurrentTimestamp());

		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 launcher_timeout(GetCurrentTimestamp(), next_scan),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * launcher_init_memory creates the launcher's hash of databases, in a context
 * that lives as long as the launcher (it holds worker handles), and returns
 * the context reset at every turn of the loop.
 */
static MemoryContext
launcher_init_memory(void)
{
	HASHCTL		ctl;

	launcher_cxt = AllocSetContextCreate(TopMemoryContext, "learning launcher",
										 ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LauncherDb);
	ctl.hcxt = launcher_cxt;
	launcher_dbs = hash_create("learning launcher databases", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return AllocSetContextCreate(TopMemoryContext, "learning launcher loop",
								 ALLOCSET_DEFAULT_SIZES);
}

/* launcher_take_rescan: whether a backend asked for a scan of pg_database. */
static bool
launcher_take_rescan(void)
{
	bool		rescan;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	rescan = LearningWorkers->rescan;
	LearningWorkers->rescan = false;
	LWLockRelease(LearningWorkers->lock);
	return rescan;
}

/* launcher_detach: no launcher any more; backends signal workers themselves. */
static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if (LearningWorkers->launcher_pid == MyProcPid)
	{
		LearningWorkers->launcher_pid = 0;
		LearningWorkers->launcher_latch = NULL;
	}
	LWLockRelease(LearningWorkers->lock);
}

/*
 * launcher_adopt registers this launcher and takes over the workers an
 * earlier launcher started (their pids are in the slots; without a handle
 * their liveness is polled).
 */
static void
launcher_adopt(void)
{
	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	LearningWorkers->launcher_pid = MyProcPid;
	LearningWorkers->launcher_latch = MyLatch;
	LearningWorkers->rescan = true;
	for (int i = 0; i < LearningWorkers->nslots; i++)
	{
		LearningDbSlot *slot = &LearningWorkers->slots[i];
		LauncherDb *db;

		if (!OidIsValid(slot->dboid))
			continue;
		db = launcher_db_enter(slot->dboid);
		db->state = slot->extension_present ? DB_ACTIVE : DB_UNKNOWN;
		if (learning_worker_alive(slot->scheduler_pid, LEARNING_SCHEDULER_TYPE))
			db->scheduler.pid = slot->scheduler_pid;
		if (learning_worker_alive(slot->relay_pid, LEARNING_RELAY_TYPE))
			db->relay.pid = slot->relay_pid;
		if (db->scheduler.pid != 0 || db->relay.pid != 0)
			ereport(LOG,
					(errmsg("learning launcher adopted the workers of database %u (scheduler %d, relay %d)",
							db->dboid, (int) db->scheduler.pid, (int) db->relay.pid)));
	}
	LWLockRelease(LearningWorkers->lock);
}

/*
 * launcher_db_enter: the launcher's entry for a database.  A new one exists
 * (a scan just saw it, or a backend asked for it before our scan did) and is
 * not yet probed.
 */
static LauncherDb *
launcher_db_enter(Oid dboid)
{
	bool		found;
	LauncherDb *db = hash_search(launcher_dbs, &dboid, HASH_ENTER, &found);

	if (!found)
	{
		memset(db, 0, sizeof(*db));
		db->dboid = dboid;
		db->exists = true;
		db->state = DB_UNKNOWN;
	}
	return db;
}

/*
 * launcher_scan_databases marks which databases may have workers: connectable,
 * not a template (a template's connection would block CREATE DATABASE, and
 * jobs would change what new databases copy), not half-dropped.
 */
static void
launcher_scan_databases(void)
{
	HASH_SEQ_STATUS hs;
	LauncherDb *db;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	hash_seq_init(&hs, launcher_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
		db->exists = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "scanning pg_database");
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database datform = (Form_pg_database) GETSTRUCT(tup);

		if (!datform->datallowconn || datform->datistemplate)
			continue;
#ifdef DATCONNLIMIT_INVALID_DB
		if (database_is_invalid_form(datform))
			continue;
#endif
		launcher_db_enter(datform->oid)->exists = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

/*
 * launcher_sync exchanges news with the slots: requests and scheduler
 * findings in, worker pids out; frees the slots of databases that need none.
 */
static void
launcher_sync(TimestampTz now)
{
	HASH_SEQ_STATUS hs;
	LauncherDb *db;

	/* liveness first, outside the lock (it takes BackgroundWorkerLock) */
	hash_seq_init(&hs, launcher_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
		launcher_reap(db, now);

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	for (int i = 0; i < LearningWorkers->nslots; i++)
	{
		if (OidIsValid(LearningWorkers->slots[i].dboid))
			launcher_sync_slot(&LearningWorkers->slots[i], now);
	}
	LWLockRelease(LearningWorkers->lock);

	/* forget databases that are gone and have no worker left */
	hash_seq_init(&hs, launcher_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
	{
		if (!db->exists && !worker_running(&db->scheduler) && !worker_running(&db->relay))
			(void) hash_search(launcher_dbs, &db->dboid, HASH_REMOVE, NULL);
	}
}

/*
 * launcher_sync_slot exchanges news with the slot of one database.  Caller
 * holds the lock exclusively.
 */
static void
launcher_sync_slot(LearningDbSlot *slot, TimestampTz now)
{
	LauncherDb *db = launcher_db_enter(slot->dboid);

	launcher_read_findings(db, slot);
	db->held = slot->hold_until > now;
	db->hold_until = slot->hold_until;
	if (slot->stop_requested)
		db->stopping = true;

	slot->scheduler_pid = db->scheduler.pid;
	slot->relay_pid = db->relay.pid;
	if (slot->stop_requested && db->scheduler.pid == 0 && db->relay.pid == 0)
		slot->stop_requested = false;

	/* nothing to run here and nobody waiting: free the slot */
	if (db->scheduler.pid == 0 && db->relay.pid == 0 && !db->held &&
		!slot->stop_requested && (db->state == DB_ABSENT || !db->exists))
		memset(slot, 0, sizeof(*slot));
}

/*
 * launcher_read_findings takes in what the slot says of the extension: a
 * committed CREATE EXTENSION (probe again, at once), or a scheduler's finding.
 */
static void
launcher_read_findings(LauncherDb *db, LearningDbSlot *slot)
{
	if (slot->start_requested)
	{
		slot->start_requested = false;
		if (db->state != DB_ACTIVE)
			db->state = DB_UNKNOWN;
		slot->jobs_known = false;
		db->scheduler.restart_at = 0;
		db->scheduler.fast_exits = 0;
	}
	if (slot->extension_present && db->state != DB_ACTIVE)
	{
		elog(DEBUG1, "learning launcher: database %u has the extension", db->dboid);
		db->state = DB_ACTIVE;
		db->scheduler.fast_exits = 0;
	}
	if (slot->extension_absent && db->state != DB_ABSENT)
	{
		elog(DEBUG1, "learning launcher: database %u has no extension", db->dboid);
		db->state = DB_ABSENT;
	}
}

/* worker_running: whether a worker runs, or is about to. */
static bool
worker_running(const LauncherWorker *w)
{
	return w->pid != 0 || w->handle != NULL;
}

/*
 * launcher_reap notices the workers of a database that stopped: those that
 * said their work was done may start again whenever needed, the others are
 * restarted after a delay.
 */
static void
launcher_reap(LauncherDb *db, TimestampTz now)
{
	bool		had_scheduler = worker_running(&db->scheduler);
	bool		had_relay = worker_running(&db->relay);
	bool		scheduler_gone = had_scheduler && !worker_refresh(&db->scheduler, LEARNING_SCHEDULER_TYPE);
	bool		relay_gone = had_relay && !worker_refresh(&db->relay, LEARNING_RELAY_TYPE);
	LearningDbSlot *slot;
	bool		healthy = false;
	bool		scheduler_done = false;
	bool		relay_done = false;

	if (!scheduler_gone && !relay_gone)
	{
		if (!worker_running(&db->scheduler) && !worker_running(&db->relay))
			db->stopping = false;
		return;
	}

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	slot = learning_slot_find(db->dboid);
	if (slot != NULL)
	{
		/* a scheduler that got as far as looking at pg_extension started fine */
		healthy = slot->extension_present || slot->extension_absent;
		if (scheduler_gone)
		{
			scheduler_done = slot->scheduler_done;
			slot->scheduler_done = false;
			slot->scheduler_pid = 0;
		}
		if (relay_gone)
		{
			relay_done = slot->relay_done;
			slot->relay_done = false;
			slot->relay_pid = 0;
		}
	}
	LWLockRelease(LearningWorkers->lock);

	if (scheduler_gone)
		worker_stopped(&db->scheduler, stop_reason(db, scheduler_done), healthy, now);
	if (relay_gone)
		worker_stopped(&db->relay, stop_reason(db, relay_done), false, now);
	if (!worker_running(&db->scheduler) && !worker_running(&db->relay))
		db->stopping = false;
}

/*
 * stop_reason: how a worker of the database stopped, given whether it said
 * its work was done.  A scheduler that found no extension is done too.
 */
static WorkerStop
stop_reason(const LauncherDb *db, bool done)
{
	if (done || db->state == DB_ABSENT)
		return STOPPED_DONE;
	return db->stopping ? STOPPED_ON_REQUEST : STOPPED_UNEXPECTEDLY;
}

/*
 * worker_refresh: whether a worker still runs (or is about to); forgets it
 * when it stopped.
 */
static bool
worker_refresh(LauncherWorker *w, const char *bgw_type)
{
	if (w->handle != NULL)
	{
		pid_t		pid;
		BgwHandleStatus status = GetBackgroundWorkerPid(w->handle, &pid);

		if (status == BGWH_STARTED)
		{
			w->pid = pid;
			return true;
		}
		if (status == BGWH_NOT_YET_STARTED)
			return true;
		pfree(w->handle);
		w->handle = NULL;
		w->pid = 0;
		return false;
	}
	if (learning_worker_alive(w->pid, bgw_type))
		return true;
	w->pid = 0;
	return false;
}

/*
 * worker_stopped sets when a stopped worker may start again: whenever its
 * database needs one when it left with its work done; as soon as the
 * database is released when it was stopped for a utility command (its work
 * was cut short: leased deliveries wait for the next relay); otherwise
 * (killed, crashed) LEARNING_RESTART_SECONDS later, doubling for each
 * consecutive exit soon after start unless the worker is known to have
 * started fine (a worker failing at start-up must not loop; at most 5
 * minutes).  The last two start again even when nothing seems due.
 */
static void
worker_stopped(LauncherWorker *w, WorkerStop how, bool healthy, TimestampTz now)
{
	int			delay_ms = LEARNING_RESTART_SECONDS * 1000;

	if (how != STOPPED_UNEXPECTEDLY)
	{
		w->restart_at = 0;
		w->fast_exits = 0;
		w->must_restart = (how == STOPPED_ON_REQUEST);
		return;
	}
	if (!healthy && w->started_at != 0 &&
		!TimestampDifferenceExceeds(w->started_at, now, LAUNCHER_FAST_EXIT_MS))
		w->fast_exits++;
	else
		w->fast_exits = 0;
	for (int i = 0; i < w->fast_exits && delay_ms < 300000; i++)
		delay_ms *= 2;
	w->restart_at = TimestampTzPlusMilliseconds(now, Min(delay_ms, 300000));
	w->must_restart = true;
}

/* worker_stop asks a worker to stop: through its handle, or by signal. */
static void
worker_stop(LauncherWorker *w, const char *bgw_type)
{
	if (w->handle != NULL)
		TerminateBackgroundWorker(w->handle);
	else if (learning_worker_alive(w->pid, bgw_type))
		kill(w->pid, SIGTERM);
}

/*
 * worker_start starts the scheduler or the relay of a database and waits for
 * the postmaster to fork it, so that its pid is in the slot before anyone may
 * need to stop it.  False when no background worker slot was free.
 */
static bool
worker_start(LauncherDb *db, LauncherWorker *w, bool scheduler, TimestampTz now)
{
	BackgroundWorkerHandle *handle;
	const char *type = scheduler ? LEARNING_SCHEDULER_TYPE : LEARNING_RELAY_TYPE;
	pid_t		pid;

	if (!worker_claim_slot(db->dboid, scheduler))
	{
		if (!w->warned)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many databases for the learning launcher: no %s for database %u",
							type, db->dboid),
					 errdetail("The launcher's table holds %d databases.", LEARNING_MAX_DATABASES)));
		w->warned = true;
		w->restart_at = TimestampTzPlusMilliseconds(now, 30000);
		return true;
	}
	if (!worker_register(db->dboid, type, scheduler, &handle))
	{
		if (!w->warned)
			ereport(LOG,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a %s for database %u: all background worker slots are in use",
							type, db->dboid),
					 errdetail("The database waits; learning.job_status says so."),
					 errhint("You might need to increase max_worker_processes.")));
		w->warned = true;
		return false;
	}
	w->warned = false;
	w->started_at = now;
	w->must_restart = false;

	switch (WaitForBackgroundWorkerStartup(handle, &pid))
	{
		case BGWH_STARTED:
			w->handle = handle;
			w->pid = pid;
			break;
		case BGWH_STOPPED:
			/* gone already; launcher_reap will not see it, so count it here */
			pfree(handle);
			worker_stopped(w, STOPPED_UNEXPECTEDLY, false, now);
			break;
		default:
			/* BGWH_POSTMASTER_DIED */
			proc_exit(1);
	}
	worker_publish_pid(db->dboid, w->pid, scheduler);
	return true;
}

/*
 * worker_claim_slot takes the database's slot for a worker about to start,
 * clearing what its predecessor reported; false when the table is full.
 */
static bool
worker_claim_slot(Oid dboid, bool scheduler)
{
	LearningDbSlot *slot;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	slot = learning_slot_get(dboid);
	if (slot != NULL)
	{
		if (scheduler)
		{
			slot->extension_present = false;
			slot->extension_absent = false;
			slot->scheduler_done = false;
		}
		else
			slot->relay_done = false;
	}
	LWLockRelease(LearningWorkers->lock);
	return slot != NULL;
}

/*
 * worker_register asks the postmaster for a scheduler or relay of the
 * database, one that tells the launcher when it stops and that only the
 * launcher restarts; false when no background worker slot is free.
 */
static bool
worker_register(Oid dboid, const char *type, bool scheduler,
				BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;
	MemoryContext oldcxt;
	bool		registered;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "learning");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN,
			 scheduler ? "learning_scheduler_main" : "learning_relay_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s for database %u", type, dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", type);
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;

	/* the handle outlives this loop iteration */
	oldcxt = MemoryContextSwitchTo(launcher_cxt);
	registered = RegisterDynamicBackgroundWorker(&bgw, handle);
	MemoryContextSwitchTo(oldcxt);
	return registered;
}

/*
 * worker_publish_pid puts a started worker's pid (0: it is gone already) in
 * the database's slot; its database no longer waits for it.
 */
static void
worker_publish_pid(Oid dboid, pid_t pid, bool scheduler)
{
	LearningDbSlot *slot;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if ((slot = learning_slot_find(dboid)) != NULL)
	{
		if (scheduler)
		{
			slot->scheduler_pid = pid;
			slot->jobs_waiting_since = 0;
		}
		else
		{
			slot->relay_pid = pid;
			slot->relay_waiting_since = 0;
		}
	}
	LWLockRelease(LearningWorkers->lock);
}

/*
 * scheduler_due_at: since when the database needs a scheduler, or
 * DT_NOEND: a probe for a database not yet known, a job due by its last run
 * and interval (never while learning.enabled is off), a restart.  Caller
 * holds the lock.
 */
static TimestampTz
scheduler_due_at(LauncherDb *db, LearningDbSlot *slot, TimestampTz now)
{
	TimestampTz due = DT_NOEND;

	if (db->scheduler.must_restart)
		due = db->scheduler.restart_at;
	if (db->state == DB_UNKNOWN || slot == NULL || !slot->jobs_known)
		return Min(due, now);
	if (!learning_enabled)
		return due;
	for (int job = 0; job < LEARNING_NJOBS; job++)
	{
		TimestampTz last = slot->last_started[job];

		/* never ran, or the clock went back: due now */
		if (last == 0 || last > now)
			return Min(due, now);
		due = Min(due, TimestampTzPlusMilliseconds(last, learning_job_interval_ms(job)));
	}
	return due;
}

/*
 * relay_due_at: since when the database needs a relay, or DT_NOEND: a
 * commit queued deliveries, a retry or an open circuit falls due, a restart.
 * Caller holds the lock.
 */
static TimestampTz
relay_due_at(LauncherDb *db, LearningDbSlot *slot)
{
	TimestampTz due = DT_NOEND;

	if (db->relay.must_restart)
		due = db->relay.restart_at;
	if (slot == NULL)
		return due;
	if (slot->relay_requested)
		due = Min(due, slot->relay_requested_at);
	if (slot->relay_known && slot->relay_due != 0)
		due = Min(due, slot->relay_due);
	return due;
}

/* candidate_cmp: longest waiting first. */
static int
candidate_cmp(const void *a, const void *b)
{
	TimestampTz x = ((const LauncherCandidate *) a)->due;
	TimestampTz y = ((const LauncherCandidate *) b)->due;

	return (x > y) - (x < y);
}

/*
 * launcher_db_off: whether the database must have no worker now: gone from
 * pg_database, held free by a backend, being freed, or without the extension.
 */
static bool
launcher_db_off(const LauncherDb *db)
{
	return !db->exists || db->held || db->stopping || db->state == DB_ABSENT;
}

/*
 * launcher_act stops the workers that must stop, then starts, longest
 * waiting first, the workers that databases need, as long as the pool
 * (learning.max_workers) and the server's background worker slots allow.
 */
static void
launcher_act(TimestampTz now)
{
	LauncherCandidate *cand;
	int			ncand;
	int			running = 0;
	int			probes = 0;
	int			started;

	/* at most a scheduler and a relay per database */
	cand = palloc(sizeof(LauncherCandidate) * 2 * Max(hash_get_num_entries(launcher_dbs), 1));
	ncand = launcher_candidates(cand, now, &running, &probes);
	launcher_stop_off();
	qsort(cand, ncand, sizeof(LauncherCandidate), candidate_cmp);
	started = launcher_start_candidates(cand, ncand, running, probes, now);
	launcher_set_waiting(cand, ncand, started, now);
	pfree(cand);
}

/*
 * launcher_candidates fills cand with the workers that databases need now,
 * and counts the database workers running (*running) and the schedulers
 * still probing a database (*probes); returns the number of candidates.
 */
static int
launcher_candidates(LauncherCandidate *cand, TimestampTz now, int *running, int *probes)
{
	HASH_SEQ_STATUS hs;
	LauncherDb *db;
	int			ncand = 0;

	LWLockAcquire(LearningWorkers->lock, LW_SHARED);
	hash_seq_init(&hs, launcher_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
	{
		bool		scheduler_running = worker_running(&db->scheduler);
		bool		relay_running = worker_running(&db->relay);
		LearningDbSlot *slot;
		TimestampTz due;

		*running += scheduler_running + relay_running;
		if (db->state == DB_UNKNOWN && scheduler_running)
			(*probes)++;
		if (launcher_db_off(db))
			continue;

		slot = learning_slot_find(db->dboid);
		if (!scheduler_running && now >= db->scheduler.restart_at &&
			(due = scheduler_due_at(db, slot, now)) <= now)
		{
			cand[ncand].db = db;
			cand[ncand].scheduler = true;
			cand[ncand++].due = due;
		}
		if (db->state == DB_ACTIVE && !relay_running && now >= db->relay.restart_at &&
			(due = relay_due_at(db, slot)) <= now)
		{
			cand[ncand].db = db;
			cand[ncand].scheduler = false;
			cand[ncand++].due = due;
		}
	}
	LWLockRelease(LearningWorkers->lock);
	return ncand;
}

/*
 * launcher_stop_off stops the workers of databases that must have none
 * (outside the lock: it signals).  A scheduler that found no extension is
 * leaving by itself.
 */
static void
launcher_stop_off(void)
{
	HASH_SEQ_STATUS hs;
	LauncherDb *db;

	hash_seq_init(&hs, launcher_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
	{
		if (launcher_db_off(db))
		{
			if (worker_running(&db->scheduler) && db->state != DB_ABSENT)
				worker_stop(&db->scheduler, LEARNING_SCHEDULER_TYPE);
			if (worker_running(&db->relay))
				worker_stop(&db->relay, LEARNING_RELAY_TYPE);
		}
	}
}

/*
 * launcher_start_candidates starts the candidates in turn while the pool
 * and the server's worker slots allow; returns the index of the first
 * candidate left waiting.  Probes of databases not yet known are skipped
 * beyond LAUNCHER_MAX_PROBES: they come in their turn, later.
 */
static int
launcher_start_candidates(LauncherCandidate *cand, int ncand, int running, int probes,
						  TimestampTz now)
{
	int			started;
	bool		full = false;

	for (started = 0; started < ncand && running < learning_max_workers && !full; started++)
	{
		LauncherCandidate *c = &cand[started];

		/* databases not probed yet: a few at a time, in their turn */
		if (c->scheduler && c->db->state == DB_UNKNOWN)
		{
			if (probes >= LAUNCHER_MAX_PROBES)
				continue;
			probes++;
		}
		if (worker_start(c->db, c->scheduler ? &c->db->scheduler : &c->db->relay, c->scheduler, now))
			running++;
		else
			full = true;		/* the server's worker slots: wait for one */
	}
	if (full)
		started--;
	return started;
}

/*
 * launcher_set_waiting records which databases wait for a worker (the
 * candidates from first_waiting on) and since when, for learning.job_status
 * and for the running workers, which leave sooner while others wait.
 */
static void
launcher_set_waiting(LauncherCandidate *c, int n, int first_waiting, TimestampTz now)
{
	int			waiting = n - first_waiting;
	bool		news;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	news = waiting > 0 && LearningWorkers->waiting == 0;
	LearningWorkers->waiting = waiting;
	for (int i = 0; i < LearningWorkers->nslots; i++)
	{
		LearningWorkers->slots[i].jobs_waiting_since = 0;
		LearningWorkers->slots[i].relay_waiting_since = 0;
	}
	for (int i = first_waiting; i < n; i++)
	{
		LearningDbSlot *slot = learning_slot_find(c[i].db->dboid);

		if (slot == NULL)
			continue;
		if (c[i].scheduler)
			slot->jobs_waiting_since = Min(c[i].due, now);
		else
			slot->relay_waiting_since = Min(c[i].due, now);
	}
	LWLockRelease(LearningWorkers->lock);

	/* idle workers sleep: tell them at once that others wait */
	if (news)
		launcher_nudge_workers();
}

/* launcher_nudge_workers sets the latch of every running database worker. */
static void
launcher_nudge_workers(void)
{
	HASH_SEQ_STATUS hs;
	LauncherDb *db;

	hash_seq_init(&hs, launcher_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
	{
		pid_t		pids[2] = {db->scheduler.pid, db->relay.pid};

		for (int k = 0; k < 2; k++)
		{
			PGPROC	   *proc = pids[k] != 0 ? BackendPidGetProc(pids[k]) : NULL;

			if (proc != NULL)
				SetLatch(&proc->procLatch);
		}
	}
}

/*
 * launcher_timeout: milliseconds until the launcher has something to do
 * (a scan, a job or delivery falling due, a restart, a hold that ends),
 * polling every second while it watches adopted workers, which send it no
 * notifications.  A worker that leaves wakes it (bgw_notify_pid).
 */
static long
launcher_timeout(TimestampTz now, TimestampTz next_scan)
{
	HASH_SEQ_STATUS hs;
	LauncherDb *db;
	TimestampTz wake = next_scan;
	bool		waiting;

	LWLockAcquire(LearningWorkers->lock, LW_SHARED);
	waiting = LearningWorkers->waiting > 0;
	hash_seq_init(&hs, launcher_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
		wake = launcher_db_wake(db, now, wake);
	LWLockRelease(LearningWorkers->lock);
	/*
	 * Needed now but not started: waiting for the pool (a worker that leaves
	 * wakes the launcher) or for a background worker slot of the server (no
	 * notice): look again soon, without spinning.
	 */
	if (wake <= now)
		wake = TimestampTzPlusMilliseconds(now, 250);
	if (waiting)
		wake = Min(wake, TimestampTzPlusMilliseconds(now, 250));
	return Max(10L, (long) Min((wake - now) / 1000, (int64) 60000));
}

/*
 * launcher_db_wake: the earlier of wake and the time the launcher has
 * something to do for this database.  Caller holds the lock.
 */
static TimestampTz
launcher_db_wake(LauncherDb *db, TimestampTz now, TimestampTz wake)
{
	bool		watching_adopted = (db->scheduler.pid != 0 && db->scheduler.handle == NULL) ||
		(db->relay.pid != 0 && db->relay.handle == NULL);
	bool		running = worker_running(&db->scheduler) || worker_running(&db->relay);
	LearningDbSlot *slot = learning_slot_find(db->dboid);

	/* a worker started while a backend asked for the database: stop it soon */
	if (running && (db->held || !db->exists))
		wake = Min(wake, TimestampTzPlusMilliseconds(now, 100));
	if (watching_adopted || db->stopping)
		wake = Min(wake, TimestampTzPlusMilliseconds(now, 1000));
	if (db->held)
		wake = Min(wake, db->hold_until);
	if (!db->exists || db->held || db->state == DB_ABSENT)
		return wake;
	if (!worker_running(&db->scheduler))
		wake = Min(wake, Max(scheduler_due_at(db, slot, now), db->scheduler.restart_at));
	if (db->state == DB_ACTIVE && !worker_running(&db->relay))
		wake = Min(wake, Max(relay_due_at(db, slot), db->relay.restart_at));
	return wake;
}

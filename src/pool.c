/*-------------------------------------------------------------------------
 *
 * pool.c
 *		The worker's side of the pool: how a per-database worker (scheduler
 *		or relay) connects, tells the launcher what is due in its database,
 *		and learns that another database waits for its place; and the
 *		request for a relay that a backend's commit makes
 *		(learning_relay_request, called by relay.c's commit callback).
 *
 * The launcher (launcher.c) runs at most learning.max_workers database
 * workers at once.  It cannot read other databases, so each worker reports
 * through its database's slot of the shared table (workers.h): the
 * scheduler the start of every job's last run, the relay when its next
 * delivery is due; a worker that leaves because its work is done says so
 * (a worker that stops without saying so is restarted).  While databases
 * wait for a worker, LearningWorkers->waiting is positive: an idle worker
 * leaves at once, a busy one after LEARNING_WORKER_QUANTUM_MS.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/pool.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#include "learning.h"
#include "workers.h"

static LearningDbSlot *my_slot(void);

/*
 * learning_worker_connect: the one place where a database worker (scheduler
 * or relay) sets up its signals and connects to its database.
 */
void
learning_worker_connect(Oid dboid, const char *bgw_type)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* before any SQL: the database's own settings may plant a search_path or a role */
	learning_worker_pin_search_path();
	pgstat_report_appname(bgw_type);
}

/* my_slot: this database's slot (caller holds the lock), or NULL. */
static LearningDbSlot *
my_slot(void)
{
	return learning_slot_find(MyDatabaseId);
}

/*
 * learning_worker_should_yield: whether this worker should leave the pool
 * now: another database waits for a worker, and this one is idle (working
 * false) or has had its quantum.
 */
bool
learning_worker_should_yield(bool working)
{
	bool		waiting;

	LWLockAcquire(LearningWorkers->lock, LW_SHARED);
	waiting = LearningWorkers->waiting > 0;
	LWLockRelease(LearningWorkers->lock);
	if (!waiting)
		return false;
	return !working ||
		TimestampDifferenceExceeds(MyStartTimestamp, GetCurrentTimestamp(),
								   LEARNING_WORKER_QUANTUM_MS);
}

/* learning_scheduler_report tells the launcher when each job last started. */
void
learning_scheduler_report(const TimestampTz *last_started)
{
	LearningDbSlot *slot;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if ((slot = my_slot()) != NULL)
	{
		memcpy(slot->last_started, last_started, sizeof(slot->last_started));
		slot->jobs_known = true;
	}
	LWLockRelease(LearningWorkers->lock);
}

/*
 * learning_scheduler_report_relay: when the database's next delivery is due
 * (0: none pending), as found by the scheduler at its start (after a server
 * restart nobody else knows).
 */
void
learning_scheduler_report_relay(TimestampTz due)
{
	LearningDbSlot *slot;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if ((slot = my_slot()) != NULL && slot->relay_pid == 0)
	{
		slot->relay_due = due;
		slot->relay_known = true;
	}
	learning_wake_launcher();
	LWLockRelease(LearningWorkers->lock);
}

/* learning_scheduler_report_exit: the scheduler leaves, no job due for now. */
void
learning_scheduler_report_exit(void)
{
	LearningDbSlot *slot;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if ((slot = my_slot()) != NULL)
		slot->scheduler_done = true;
	LWLockRelease(LearningWorkers->lock);
}

/*
 * learning_relay_take_request: whether a commit asked for deliveries since
 * the last call (the request is consumed: this relay claims next).
 */
bool
learning_relay_take_request(void)
{
	LearningDbSlot *slot;
	bool		requested = false;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if ((slot = my_slot()) != NULL)
	{
		requested = slot->relay_requested;
		slot->relay_requested = false;
		slot->relay_requested_at = 0;
	}
	LWLockRelease(LearningWorkers->lock);
	return requested;
}

/*
 * learning_relay_report_exit: the relay leaves, its next delivery due at
 * due (0: none pending).  Unless forced, refused (false) when a commit asked
 * for deliveries meanwhile: the relay then stays and claims.
 */
bool
learning_relay_report_exit(TimestampTz due, bool force)
{
	LearningDbSlot *slot;
	bool		leave = true;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if ((slot = my_slot()) != NULL)
	{
		if (slot->relay_requested && !force)
			leave = false;
		else
		{
			slot->relay_due = due;
			slot->relay_known = true;
			slot->relay_done = true;
		}
	}
	LWLockRelease(LearningWorkers->lock);
	return leave;
}

/*
 * learning_relay_request: a transaction that queued deliveries in dboid has
 * committed.  Wakes the database's relay, or asks the launcher for one.
 * Runs in a commit callback: no allocation, no error.
 */
void
learning_relay_request(Oid dboid)
{
	LearningDbSlot *slot;
	pid_t		pid = 0;
	PGPROC	   *proc;

	if (LearningWorkers == NULL)
		return;
	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	if ((slot = learning_slot_get(dboid)) != NULL)
	{
		if (!slot->relay_requested)
			slot->relay_requested_at = GetCurrentTimestamp();
		slot->relay_requested = true;
		pid = slot->relay_pid;
	}
	if (pid == 0)
		learning_wake_launcher();
	LWLockRelease(LearningWorkers->lock);
	if (pid != 0 && (proc = BackendPidGetProc(pid)) != NULL)
		SetLatch(&proc->procLatch);
}

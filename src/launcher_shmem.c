/*-------------------------------------------------------------------------
 *
 * launcher_shmem.c
 *		The shared-memory table of databases (workers.h) through which the
 *		launcher, its database workers and backends talk: its size, its
 *		lock, its creation at postmaster start, and the accessors every side
 *		uses.
 *
 * The table lives only when the library is in shared_preload_libraries;
 * otherwise LearningWorkers stays NULL and nobody may touch it.  It holds
 * one slot per database with the extension (what the pool knows of each),
 * plus requests about the others: a backend freeing a database
 * (utility_hook.c), a commit asking for a scheduler or a relay.  This file
 * calls neither the launcher (launcher.c) nor the backends' hooks
 * (utility_hook.c): both call it.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/launcher_shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "workers.h"

/* Shared memory: the table of databases. */
LearningWorkersShared *LearningWorkers = NULL;

/* Saved hook values. */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size workers_shmem_size(void);
static void workers_shmem_request(void);
static void workers_shmem_startup(void);

/*
 * learning_register_workers_shmem installs the hooks that ask for the table
 * and create it.  Called from _PG_init, through learning_register_launcher,
 * only while the library is preloaded.
 */
void
learning_register_workers_shmem(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = workers_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = workers_shmem_startup;
}

/*
 * workers_shmem_size: one slot per database with the extension (they keep
 * what the pool knows of each), plus requests about the others.
 */
static Size
workers_shmem_size(void)
{
	return add_size(offsetof(LearningWorkersShared, slots),
					mul_size(LEARNING_MAX_DATABASES, sizeof(LearningDbSlot)));
}

/* workers_shmem_request asks for the table and its lock. */
static void
workers_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(workers_shmem_size());
	RequestNamedLWLockTranche("learning workers", 1);
}

/* workers_shmem_startup creates or attaches to the table. */
static void
workers_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	LearningWorkers = ShmemInitStruct("learning workers", workers_shmem_size(), &found);
	if (!found)
	{
		memset(LearningWorkers, 0, workers_shmem_size());
		LearningWorkers->lock = &(GetNamedLWLockTranche("learning workers"))->lock;
		LearningWorkers->nslots = LEARNING_MAX_DATABASES;
		LearningWorkers->rescan = true;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* learning_slot_find: the slot of a database, or NULL.  Caller holds the lock. */
LearningDbSlot *
learning_slot_find(Oid dboid)
{
	for (int i = 0; i < LearningWorkers->nslots; i++)
		if (LearningWorkers->slots[i].dboid == dboid)
			return &LearningWorkers->slots[i];
	return NULL;
}

/*
 * learning_slot_get: the slot of a database, taking a free one if needed;
 * NULL when the table is full.  Caller holds the lock exclusively.  Never
 * fails otherwise (commit callbacks call it).
 */
LearningDbSlot *
learning_slot_get(Oid dboid)
{
	LearningDbSlot *slot = learning_slot_find(dboid);

	if (slot == NULL && (slot = learning_slot_find(InvalidOid)) != NULL)
	{
		memset(slot, 0, sizeof(*slot));
		slot->dboid = dboid;
	}
	return slot;
}

/*
 * learning_worker_alive tells whether pid is a running background worker of
 * the given type.  Checking the type through the postmaster's worker slots
 * guards against pids of workers that are gone and reused by someone else.
 */
bool
learning_worker_alive(pid_t pid, const char *bgw_type)
{
	const char *type;

	if (pid == 0)
		return false;
	type = GetBackgroundWorkerTypeByPid(pid);
	return type != NULL && strcmp(type, bgw_type) == 0;
}

/* learning_wake_launcher sets the launcher's latch.  Caller holds the lock. */
void
learning_wake_launcher(void)
{
	if (LearningWorkers->launcher_latch != NULL)
		SetLatch(LearningWorkers->launcher_latch);
}

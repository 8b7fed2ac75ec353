/*-------------------------------------------------------------------------
 *
 * workers.h
 *		What the launcher (launcher.c) and the per-database schedulers
 *		(scheduler.c) share: the worker types, the five jobs, and the
 *		shared-memory table through which backends, the launcher and the
 *		workers of one database talk.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/workers.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEARNING_WORKERS_H
#define LEARNING_WORKERS_H

#include "postgres.h"

#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

/* bgw_type of each worker: what pg_stat_activity.backend_type shows. */
#define LEARNING_LAUNCHER_TYPE		"learning launcher"
#define LEARNING_SCHEDULER_TYPE		"learning scheduler"
#define LEARNING_RELAY_TYPE			"learning relay"

/*
 * Seconds before a stopped worker is started again: the launcher's
 * bgw_restart_time, and the delay the launcher waits before it restarts a
 * scheduler or relay that stopped.
 */
#define LEARNING_RESTART_SECONDS	5

/* The five jobs of SPEC section 6, in the order a scheduler runs them. */
#define LEARNING_NJOBS				5
extern const char *const learning_job_names[LEARNING_NJOBS];
extern int	learning_job_interval_ms(int job);

/*
 * One database the launcher runs workers for, or that a backend asked about.
 * Written under LearningWorkers->lock.
 */
typedef struct LearningDbSlot
{
	Oid			dboid;			/* InvalidOid: the slot is free */
	pid_t		scheduler_pid;	/* set by the launcher; 0: none */
	pid_t		relay_pid;		/* set by the launcher; 0: none */
	bool		extension_present;	/* the scheduler found the extension */
	bool		extension_absent;	/* the scheduler found none and left */
	bool		start_requested;	/* CREATE EXTENSION committed here */
	bool		stop_requested; /* a backend needs the database free */
	TimestampTz hold_until;		/* start no worker here before this */
} LearningDbSlot;

typedef struct LearningWorkersShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;	/* 0: no launcher running */
	Latch	   *launcher_latch;
	bool		rescan;			/* a database came or went: scan pg_database now */
	int			nslots;
	LearningDbSlot slots[FLEXIBLE_ARRAY_MEMBER];
} LearningWorkersShared;

/* launcher.c; NULL unless the library is in shared_preload_libraries. */
extern LearningWorkersShared *LearningWorkers;

extern LearningDbSlot *learning_slot_find(Oid dboid);
extern bool learning_worker_alive(pid_t pid, const char *bgw_type);
extern void learning_wake_launcher(void);

PGDLLEXPORT void learning_launcher_main(Datum main_arg);
PGDLLEXPORT void learning_scheduler_main(Datum main_arg);

#endif							/* LEARNING_WORKERS_H */

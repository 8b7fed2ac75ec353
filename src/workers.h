/*-------------------------------------------------------------------------
 *
 * workers.h
 *		What the launcher (launcher.c), the pool's per-database workers
 *		(scheduler.c, relay.c, pool.c) and backends (utility_hook.c) share:
 *		the worker types, the five jobs, and the shared-memory table through
 *		which they talk (launcher_shmem.c).
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

/* The five jobs, in the order a scheduler runs them. */
#define LEARNING_NJOBS				5
extern const char *const learning_job_names[LEARNING_NJOBS];
extern int	learning_job_interval_ms(int job);

/* Databases the shared table can hold (those with the extension, and requests). */
#define LEARNING_MAX_DATABASES		4096

/*
 * A database worker (scheduler or relay) that has run this long gives its
 * place in the pool to a database waiting for one, once its current unit of
 * work (a job, a batch of POSTs) is done.
 */
#define LEARNING_WORKER_QUANTUM_MS	5000

/*
 * One database the launcher runs workers for, or that a backend asked about.
 * Written under LearningWorkers->lock.  The pool fields tell the launcher,
 * which cannot read other databases, when this one needs a worker: the
 * scheduler reports its jobs' last runs, the relay when its next delivery is
 * due, and a commit that queued deliveries sets relay_requested.
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

	/* the pool */
	bool		jobs_known;		/* last_started[] was reported */
	TimestampTz last_started[LEARNING_NJOBS];	/* 0: never ran */
	bool		relay_known;	/* relay_due was reported */
	TimestampTz relay_due;		/* next delivery due; 0: none pending */
	bool		relay_requested;	/* a commit queued deliveries */
	TimestampTz relay_requested_at;
	bool		scheduler_done; /* the scheduler exited by itself, work done */
	bool		relay_done;		/* the relay exited by itself, work done */
	TimestampTz jobs_waiting_since;	/* jobs due, no worker free; 0: not waiting */
	TimestampTz relay_waiting_since;	/* deliveries due, no worker free */
} LearningDbSlot;

typedef struct LearningWorkersShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;	/* 0: no launcher running */
	Latch	   *launcher_latch;
	bool		rescan;			/* a database came or went: scan pg_database now */
	int			waiting;		/* databases waiting for a worker of the pool */
	int			nslots;
	LearningDbSlot slots[FLEXIBLE_ARRAY_MEMBER];
} LearningWorkersShared;

/* launcher_shmem.c; NULL unless the library is in shared_preload_libraries. */
extern LearningWorkersShared *LearningWorkers;

extern void learning_register_workers_shmem(void);
extern LearningDbSlot *learning_slot_find(Oid dboid);
extern LearningDbSlot *learning_slot_get(Oid dboid);
extern bool learning_worker_alive(pid_t pid, const char *bgw_type);
extern void learning_wake_launcher(void);

/* utility_hook.c: what frees a database for a utility command */
extern void learning_register_backend_hooks(void);

/* pool.c: what a database worker does with the launcher's table */
extern void learning_worker_connect(Oid dboid, const char *bgw_type);
extern bool learning_worker_should_yield(bool working);
extern void learning_scheduler_report(const TimestampTz *last_started);
extern void learning_scheduler_report_relay(TimestampTz due);
extern void learning_scheduler_report_exit(void);
extern bool learning_relay_take_request(void);
extern bool learning_relay_report_exit(TimestampTz due, bool force);
extern void learning_relay_request(Oid dboid);

PGDLLEXPORT void learning_launcher_main(Datum main_arg);
PGDLLEXPORT void learning_scheduler_main(Datum main_arg);

#endif							/* LEARNING_WORKERS_H */

/*-------------------------------------------------------------------------
 *
 * learning.c
 *		Module entry point of the learning extension: PG_MODULE_MAGIC,
 *		_PG_init, every GUC, and the transaction callbacks that keep the
 *		per-transaction state of the other files honest on commit and abort.
 *
 * The library works in two modes.  Loaded through shared_preload_libraries it
 * also registers the launcher background worker (scheduler.c).  Loaded on
 * demand by a session, every SQL function works and only the workers are
 * absent; the session is told so once, and learning.job_status says so too.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/learning.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "learning.h"

PG_MODULE_MAGIC;

/* GUC variables. */
bool		learning_enabled = true;
int			learning_immediate_signals_interval = 15 * 60;
int			learning_engagement_signals_interval = 6 * 60 * 60;
int			learning_deal_progression_interval = 24 * 60 * 60;
int			learning_expire_overdue_interval = 60 * 60;
int			learning_calibration_check_interval = 6 * 60 * 60;
int			learning_job_history_retention = 7 * 24 * 60 * 60;

/* True when _PG_init ran inside shared_preload_libraries processing. */
bool		learning_preloaded = false;

void		_PG_init(void);

static void learning_xact_callback(XactEvent event, void *arg);
static void learning_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									  SubTransactionId parentSubid, void *arg);
static void define_interval_guc(const char *name, const char *desc, int *var, int boot);

/*
 * define_interval_guc defines one learning.<job>_interval setting: a time in
 * seconds (units accepted, e.g. '15min'), reloadable with SIGHUP because only
 * the schedulers read it.
 */
static void
define_interval_guc(const char *name, const char *desc, int *var, int boot)
{
	DefineCustomIntVariable(name, desc, NULL, var, boot, 1, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

/*
 * _PG_init defines the GUCs, registers the transaction callbacks and, when
 * preloaded, the launcher worker.
 */
void
_PG_init(void)
{
	DefineCustomBoolVariable("learning.enabled",
							 "Runs the periodic learning jobs; off pauses every scheduler.",
							 NULL, &learning_enabled, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	define_interval_guc("learning.immediate_signals_interval",
						"Interval of the immediate_signals job (email signals).",
						&learning_immediate_signals_interval, 15 * 60);
	define_interval_guc("learning.engagement_signals_interval",
						"Interval of the engagement_signals job (meeting and escalation signals).",
						&learning_engagement_signals_interval, 6 * 60 * 60);
	define_interval_guc("learning.deal_progression_interval",
						"Interval of the deal_progression job (deal-stage signals).",
						&learning_deal_progression_interval, 24 * 60 * 60);
	define_interval_guc("learning.expire_overdue_interval",
						"Interval of the expire_overdue job.",
						&learning_expire_overdue_interval, 60 * 60);
	define_interval_guc("learning.calibration_check_interval",
						"Interval of the calibration_check job.",
						&learning_calibration_check_interval, 6 * 60 * 60);
	DefineCustomIntVariable("learning.job_history_retention",
							"How long rows of learning.job_runs are kept.",
							NULL, &learning_job_history_retention, 7 * 24 * 60 * 60,
							60, INT_MAX / 1000, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("learning");

	RegisterXactCallback(learning_xact_callback, NULL);
	RegisterSubXactCallback(learning_subxact_callback, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		learning_preloaded = true;
		learning_register_launcher();
	}
	else if (!IsBinaryUpgrade)
		ereport(NOTICE,
				(errmsg("learning is not in shared_preload_libraries: its background jobs will not run"),
				 errdetail("Every SQL function works; learning.run_job() runs a job on demand."),
				 errhint("Add learning to shared_preload_libraries and restart the server to run the jobs.")));
}

/*
 * learning_xact_callback hands commit and abort events to the files that keep
 * per-transaction state.
 */
static void
learning_xact_callback(XactEvent event, void *arg)
{
	learning_calibration_xact_callback((int) event);
}

/*
 * learning_subxact_callback drops the state of an aborted subtransaction and
 * hands the state of a committed one to its parent.
 */
static void
learning_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		learning_calibration_subxact_abort(mySubid);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		learning_calibration_subxact_commit(mySubid, parentSubid);
}

/*-------------------------------------------------------------------------
 *
 * learning.c
 *		Module entry point of the learning extension: PG_MODULE_MAGIC,
 *		_PG_init, every GUC, and the transaction callbacks that keep the
 *		per-transaction state of the other files honest on commit and abort.
 *
 * The library works in two modes.  Loaded through shared_preload_libraries it
 * also registers the launcher background worker (launcher.c).  Loaded on
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
#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "learning.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(learning_job_batch_tenants_sql);

/* GUC variables. */
bool		learning_enabled = true;
bool		learning_notify_metrics = true;
double		learning_notify_queue_limit = 0.5;
/* job intervals in milliseconds (define_interval_guc) */
int			learning_immediate_signals_interval = 15 * 60 * 1000;
int			learning_engagement_signals_interval = 6 * 60 * 60 * 1000;
int			learning_deal_progression_interval = 24 * 60 * 60 * 1000;
int			learning_expire_overdue_interval = 60 * 60 * 1000;
int			learning_calibration_check_interval = 6 * 60 * 60 * 1000;
int			learning_job_history_retention = 7 * 24 * 60 * 60;
int			learning_job_batch_tenants = 1000;
int			learning_max_workers = 4;

/* GUC variables of the event relay (relay.c, http.c). */
int			learning_webhook_timeout = 5000;
int			learning_webhook_connect_timeout = 2000;
int			learning_webhook_max_attempts = 8;
int			learning_webhook_retry_base = 1000;
int			learning_webhook_delivery_retention = 7 * 24 * 60 * 60;
int			learning_relay_poll_interval = 100;
char	   *learning_sse_publish_url = NULL;
bool		learning_webhook_allow_private_networks = false;
int			learning_event_retention = 3 * 24 * 60 * 60;

void		_PG_init(void);

static void learning_xact_callback(XactEvent event, void *arg);
static void learning_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									  SubTransactionId parentSubid, void *arg);
static void define_interval_guc(const char *name, const char *desc, int *var, int boot);
static bool check_sse_publish_url(char **newval, void **extra, GucSource source);

/*
 * define_interval_guc defines one learning.<job>_interval setting, boot given
 * in seconds: a time (units accepted, e.g. '15min'), reloadable with SIGHUP
 * because only the schedulers read it.  Stored in milliseconds, at least
 * 10 ms, so that tests and benchmarks can drive thousands of runs quickly.
 */
static void
define_interval_guc(const char *name, const char *desc, int *var, int boot)
{
	DefineCustomIntVariable(name, desc, NULL, var, boot * 1000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
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
	DefineCustomBoolVariable("learning.notify_metrics",
							 "Puts today's counters and per-event counts in the NOTIFY payloads; off sends ids and event types only.",
							 "Anyone who can connect to the database can LISTEN: turn this off where untrusted roles can log in.",
							 &learning_notify_metrics, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("learning.notify_queue_limit",
							 "Share of the notification queue in use above which a commit skips its NOTIFY.",
							 "Queueing into a full queue would fail the commit; the events stay in learning.events.",
							 &learning_notify_queue_limit, 0.5, 0.0, 0.9,
							 PGC_SUSET, 0, NULL, NULL, NULL);
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

	DefineCustomIntVariable("learning.job_batch_tenants",
							"Tenants per batch of a job; the scheduler runs each batch in a transaction of its own.",
							"Bounds the locks and memory of one transaction, and what a failing batch holds back.",
							&learning_job_batch_tenants, 1000, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	/* a server-start setting exists only where the library is preloaded */
	DefineCustomIntVariable("learning.max_workers",
							"Database workers (schedulers and relays) running at once, over all databases.",
							"Set at server start; they come out of max_worker_processes, besides the launcher.",
							&learning_max_workers, 4, 1, MAX_BACKENDS,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_INTERNAL,
							0, NULL, NULL, NULL);

	DefineCustomIntVariable("learning.event_retention",
							"How long outbox events (learning.events) are kept for learning.events_since.",
							NULL, &learning_event_retention, 3 * 24 * 60 * 60,
							60, INT_MAX / 1000, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	/* The event relay; only the relay worker reads these. */
	DefineCustomIntVariable("learning.webhook_timeout",
							"Total time one webhook or SSE POST may take.",
							NULL, &learning_webhook_timeout, 5000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("learning.webhook_connect_timeout",
							"Time a webhook or SSE POST may take to connect.",
							NULL, &learning_webhook_connect_timeout, 2000, 10, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("learning.webhook_max_attempts",
							"Attempts of one delivery before it is dead.",
							NULL, &learning_webhook_max_attempts, 8, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("learning.webhook_retry_base",
							"Delay before the first retry of a delivery; it doubles with every attempt (at most 1 hour).",
							NULL, &learning_webhook_retry_base, 1000, 10, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("learning.webhook_delivery_retention",
							"How long rows of learning.webhook_deliveries and dead deliveries are kept.",
							NULL, &learning_webhook_delivery_retention, 7 * 24 * 60 * 60,
							1, INT_MAX / 1000, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("learning.relay_poll_interval",
							"How often the relay worker looks for new deliveries.",
							NULL, &learning_relay_poll_interval, 100, 10, 10000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("learning.sse_publish_url",
							   "Base URL of the nchan publisher location (e.g. http://127.0.0.1:8090/pub); empty: no SSE feed.",
							   NULL, &learning_sse_publish_url, "",
							   PGC_SIGHUP, 0, check_sse_publish_url, NULL, NULL);
	/* superuser only: it decides what the relay, a superuser, may connect to */
	DefineCustomBoolVariable("learning.webhook_allow_private_networks",
							 "Lets webhooks reach loopback, private, link-local, unspecified, multicast and reserved addresses.",
							 "Off: the relay refuses such an address after name resolution and create_webhook refuses it as a literal host.",
							 &learning_webhook_allow_private_networks, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("learning");

	RegisterXactCallback(learning_xact_callback, NULL);
	RegisterSubXactCallback(learning_subxact_callback, NULL);

	if (process_shared_preload_libraries_in_progress)
		learning_register_launcher();
	else if (!IsBinaryUpgrade)
		ereport(NOTICE,
				(errmsg("learning is not in shared_preload_libraries: its background jobs will not run"),
				 errdetail("Every SQL function works; learning.run_job() runs a job on demand."),
				 errhint("Add learning to shared_preload_libraries and restart the server to run the jobs.")));
}

/*
 * check_sse_publish_url accepts an empty string or an http:// or https:// URL
 * (a plain prefix check: libcurl is never initialised in the postmaster).
 */
static bool
check_sse_publish_url(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		pg_strncasecmp(*newval, "http://", 7) == 0 || pg_strncasecmp(*newval, "https://", 8) == 0)
		return true;
	GUC_check_errdetail("learning.sse_publish_url must be empty or an http:// or https:// URL.");
	return false;
}

/*
 * learning_xact_callback hands commit and abort events to the files that keep
 * per-transaction state.
 */
static void
learning_xact_callback(XactEvent event, void *arg)
{
	/* deltas first: the notification's metrics read the flushed rollups */
	learning_deltas_xact_callback((int) event);
	learning_events_xact_callback((int) event);
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
	{
		learning_deltas_subxact_abort(mySubid);
		learning_events_subxact_abort(mySubid);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		learning_deltas_subxact_commit(mySubid, parentSubid);
		learning_events_subxact_commit(mySubid, parentSubid);
	}
}

/* learning_job_batch_tenants_sql: job_batch_tenants(), the setting for SQL. */
Datum
learning_job_batch_tenants_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(learning_job_batch_tenants);
}

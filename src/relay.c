/*-------------------------------------------------------------------------
 *
 * relay.c
 *		The event relay worker: delivers outbox events to webhooks and to the
 *		nchan SSE publisher with libcurl's multi interface, fairly across
 *		endpoints.
 *
 * Also here, the backends' side of waking it: learning.relay_wake() and the
 * row trigger of learning.relay_queue make the commit of a transaction that
 * queued deliveries ask for the database's relay (learning_relay_request).
 *
 * A "learning relay" runs for a database while it has deliveries to make:
 * the launcher (launcher.c) starts it from its pool of workers when a commit
 * queued deliveries or a retry falls due, and it exits once nothing is due
 * for a while, or when the launcher needs its place for another database.
 * Its loop:
 *
 *	1. drive libcurl (curl_multi_perform) and collect finished POSTs;
 *	2. when there are results to record, a claim is wanted, or housekeeping
 *	   is due: ONE short transaction that records the results
 *	   (learning.relay_record), updates the endpoints' circuit breakers
 *	   (learning.relay_note_endpoints), trims the delivery log
 *	   (learning.relay_maintain) and leases new due deliveries
 *	   (learning.relay_claim, FOR UPDATE SKIP LOCKED); it commits before any
 *	   new POST is started;
 *	3. wait: on libcurl's sockets (curl_multi_poll, at most 50 ms, so that
 *	   SIGTERM and SIGHUP are seen quickly) while POSTs are in flight, else on
 *	   the latch until the next poll.
 *
 * No transaction or snapshot is ever open while the worker waits for the
 * network.
 *
 * Fairness: a slow or dead endpoint delays no other.
 *	- At most RELAY_PER_WEBHOOK POSTs per endpoint are in flight, one while
 *	  its circuit is half-open, and none while a POST of it has been
 *	  outstanding for RELAY_STALL_MS (it is not answering).  An endpoint that
 *	  answered lately gets up to RELAY_PREFETCH rows leased ahead (the ready
 *	  list): when one of its POSTs ends the next starts at once, without a
 *	  transaction, and results are recorded in batches, so two POSTs in
 *	  flight still carry thousands of events per second.  An endpoint that
 *	  stalls or fails gives its leased rows back (learning.relay_unclaim).
 *	- An endpoint whose attempt fails without an answer opens its circuit
 *	  (learning.relay_endpoints): none of its deliveries is tried until the
 *	  circuit half-opens, then a single probe; the pause doubles with every
 *	  consecutive failure.  Its queued rows keep their own attempt budget.
 *	- The claim takes the oldest due row of every endpoint before the second
 *	  of any, closed circuits first.
 *	- POSTs outstanding for RELAY_STALL_MS no longer count against the
 *	  RELAY_MAX_FRESH requests in flight, only against the hard bound of
 *	  RELAY_MAX_CONNECTIONS: hundreds of endpoints that accept and never
 *	  answer hold one connection each until their timeout, and a healthy
 *	  endpoint's POST still starts at once.
 *
 * At-least-once: a lease outlives the HTTP timeout; a relay that dies
 * mid-delivery leaves leased rows that the next relay of the database
 * releases at start (learning.relay_release_claims); a repeat carries the
 * same Learning-Event-Id.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/relay.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>
#include <time.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "learning.h"
#include "learning_http.h"
#include "workers.h"

PGDLLEXPORT void learning_relay_main(Datum main_arg);
PG_FUNCTION_INFO_V1(learning_relay_wake_sql);
PGDLLEXPORT Datum learning_relay_wake_sql(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(learning_relay_queue_changed);
PGDLLEXPORT Datum learning_relay_queue_changed(PG_FUNCTION_ARGS);

/* Hard bound on POSTs in flight (each holds one connection). */
#define RELAY_MAX_CONNECTIONS	1024
/* POSTs in flight that are not stalled (new connections per burst). */
#define RELAY_MAX_FRESH			256
/* POSTs in flight per endpoint (webhook; the SSE publisher is webhook 0). */
#define RELAY_PER_WEBHOOK		2
/* Rows leased ahead per endpoint that answered lately (in flight included). */
#define RELAY_PREFETCH			32
/* Rows leased and not started yet, over all endpoints. */
#define RELAY_MAX_READY			2048
/* Results are recorded when this many are pending, or the oldest is this old. */
#define RELAY_RESULT_BATCH		256
#define RELAY_RESULT_WAIT_MS	10
/* A POST outstanding this long is stalled: its endpoint gets no other slot. */
#define RELAY_STALL_MS			250
/* Longest pause of an open circuit. */
#define RELAY_MAX_PAUSE_MS		300000
/* Shortest gap between two claims prompted by finished POSTs. */
#define RELAY_CLAIM_GAP_MS		10
/* Longest single wait while POSTs are in flight (interrupt latency). */
#define RELAY_CURL_WAIT_MS		50
/* Housekeeping (delivery log retention) period. */
#define RELAY_MAINTAIN_MS		10000
/* Pause after a failed relay transaction. */
#define RELAY_ERROR_PAUSE_MS	1000
/*
 * Idle relay: it exits when nothing is in flight and nothing is due within
 * RELAY_LINGER_MS, after at least RELAY_IDLE_MS without work.
 */
#define RELAY_LINGER_MS			2000
#define RELAY_IDLE_MS			5000
/* A relay giving its worker back waits this long for its POSTs in flight. */
#define RELAY_LEAVE_GRACE_MS	1000
/* Endpoint health notes kept between two transactions (beyond: not noted). */
#define RELAY_MAX_NOTES			4096

/* One delivery attempt in flight. */
typedef struct RelayTransfer
{
	LearningHttpPost post;
	char	   *tenant_id;
	int64		webhook_id;
	int64		event_id;
	int			attempt;
	TimestampTz started;
	const char *orphan;			/* non-NULL: not sendable (reason) */
} RelayTransfer;

/* Per endpoint: what the relay holds of it (hash entry, key webhook_id). */
typedef struct RelayEndpoint
{
	int64		webhook_id;
	int			inflight;		/* POSTs in flight */
	int			ready;			/* rows leased, not started */
	bool		proven;			/* its latest attempt was answered */
	bool		stalled;		/* a POST of it has been outstanding for RELAY_STALL_MS */
} RelayEndpoint;

/* A leased row given back (learning.relay_unclaim in the next transaction). */
typedef struct RelayGiveBack
{
	char	   *tenant_id;
	int64		webhook_id;
	int64		event_id;
} RelayGiveBack;

static CURLM *relay_multi = NULL;
static MemoryContext RelayContext = NULL;	/* transfers and pending results */
static RelayTransfer *inflight[RELAY_MAX_CONNECTIONS];
static int	n_inflight = 0;
static RelayTransfer *claimed[RELAY_MAX_READY];	/* leased by the open transaction */
static int	n_claimed = 0;
static RelayTransfer *ready[RELAY_MAX_READY];	/* leased, committed, not started */
static int	n_ready = 0;
static RelayGiveBack giveback[RELAY_MAX_READY];
static int	n_giveback = 0;
static HTAB *endpoints = NULL;	/* RelayEndpoint by webhook id */
static TimestampTz first_result_at = 0;	/* when the oldest pending result came */
static StringInfoData results;	/* JSON array body (no brackets) */
static int	n_results = 0;
/* endpoint health seen in the pending results, in order (circuit breakers) */
static int64 note_ids[RELAY_MAX_NOTES];
static bool note_answered[RELAY_MAX_NOTES];
static int	n_notes = 0;
static bool claim_wanted = true;	/* look for due deliveries when the gap allows */
static TimestampTz next_poll = 0;	/* look for due deliveries at the latest then */
static TimestampTz last_claim = 0;
static TimestampTz idle_since = 0;	/* no work since; 0: busy */
static TimestampTz leaving_since = 0;	/* giving the worker back since; 0: not */

/* Saved plans (prepared once per relay process). */
static SPIPlanPtr plan_release = NULL;
static SPIPlanPtr plan_record = NULL;
static SPIPlanPtr plan_notes = NULL;
static SPIPlanPtr plan_maintain = NULL;
static SPIPlanPtr plan_claim = NULL;
static SPIPlanPtr plan_next_due = NULL;
static SPIPlanPtr plan_unclaim = NULL;

static void relay_setup(void);
static bool relay_extension_ready(void);
static void relay_turn(bool *first, TimestampTz *next_maintain);
static void relay_transaction(bool release, bool claim, bool maintain);
static void relay_record_results(void);
static void relay_claim(void);
static RelayEndpoint *relay_endpoint(int64 webhook_id);
static void relay_mark_stalled(TimestampTz now);
static void relay_give_back(int64 webhook_id);
static void relay_unclaim(void);
static RelayTransfer *relay_new_transfer(HeapTuple tuple, TupleDesc desc);
static void relay_start_ready(void);
static void relay_collect(void);
static void relay_add_result(RelayTransfer *t, bool ok, bool retry, long http_code,
							 const char *error);
static void relay_free_transfer(RelayTransfer *t);
static void relay_drop_claimed(void);
static void relay_forget_results(void);
static char *relay_sanitize(const char *s);
static int	relay_fresh_count(TimestampTz now);
static Datum relay_interval_ms(int64 ms);
static void relay_begin(const char *activity);
static void relay_commit(void);
static void relay_maybe_exit(void);
static TimestampTz relay_next_due(void);
static void relay_wait(void);
static void relay_wake_xact_callback(XactEvent event, void *arg);

/* Backends: wake this database's relay when the transaction commits. */
static bool am_relay = false;	/* this process is the relay: it needs no wake */
static bool wake_at_commit = false;
static bool wake_callback_registered = false;

/*
 * learning_relay_main: entry point of a "learning relay" worker for the
 * database whose OID is main_arg.
 */
void
learning_relay_main(Datum main_arg)
{
	MemoryContext loopcxt;
	bool		first = true;
	TimestampTz next_maintain = 0;

	learning_worker_connect(DatumGetObjectId(main_arg), LEARNING_RELAY_TYPE);
	am_relay = true;

	/* Nothing to do where the extension is absent: exit 0, done. */
	if (!relay_extension_ready())
	{
		(void) learning_relay_take_request();
		(void) learning_relay_report_exit(0, true);
		proc_exit(0);
	}
	/* a library newer than the schema: wait for ALTER EXTENSION UPDATE */
	if (!learning_worker_wait_for_schema("relay"))
	{
		(void) learning_relay_take_request();
		(void) learning_relay_report_exit(0, true);
		proc_exit(0);
	}
	relay_setup();
	/* the commits that asked for this relay are served by its first claim */
	(void) learning_relay_take_request();
	loopcxt = AllocSetContextCreate(TopMemoryContext, "learning relay loop",
									ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);

		relay_turn(&first, &next_maintain);
		relay_maybe_exit();
		relay_wait();
	}
}

/*
 * relay_setup: the relay's own memory, libcurl, and room for one socket per
 * possible POST (the soft descriptor limit is raised toward the hard one).
 */
static void
relay_setup(void)
{
	struct rlimit rl;
	MemoryContext old;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		rl.rlim_cur < 4 * RELAY_MAX_CONNECTIONS)
	{
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY) ? 4 * RELAY_MAX_CONNECTIONS :
			Min(rl.rlim_max, 4 * RELAY_MAX_CONNECTIONS);
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}

	RelayContext = AllocSetContextCreate(TopMemoryContext, "learning relay",
										 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(RelayContext);
	initStringInfo(&results);
	MemoryContextSwitchTo(old);
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(RelayEndpoint);
		ctl.hcxt = RelayContext;
		endpoints = hash_create("learning relay endpoints", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	learning_http_init();
	relay_multi = curl_multi_init();
	if (relay_multi == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a libcurl multi handle")));
}

/*
 * relay_turn: one loop turn's work: HTTP progress, then the one short
 * transaction when there is something to record or claim, then the new
 * POSTs.  A failed transaction is logged and rolled back; its leased rows
 * are retried later.
 */
static void
relay_turn(bool *first, TimestampTz *next_maintain)
{
	TimestampTz now;
	bool		claim;
	bool		maintain;
	bool		record;
	bool		release = *first;
	volatile bool failed = false;
	MemoryContext cxt = CurrentMemoryContext;

	/* 1. HTTP progress, without any transaction; ready rows start as slots free. */
	now = GetCurrentTimestamp();
	if (n_inflight > 0)
	{
		int			running;

		(void) curl_multi_perform(relay_multi, &running);
		relay_collect();
	}
	relay_mark_stalled(now);
	relay_start_ready();

	/* 2. One short transaction when there is something to do. */
	if (now >= next_poll)
		claim_wanted = true;
	if (leaving_since == 0 && learning_worker_should_yield(true))
		leaving_since = now;
	claim = claim_wanted && leaving_since == 0 &&
		n_inflight < RELAY_MAX_CONNECTIONS &&
		n_ready + n_giveback < RELAY_MAX_READY &&
		now >= TimestampTzPlusMilliseconds(last_claim, RELAY_CLAIM_GAP_MS);
	maintain = now >= *next_maintain;
	record = n_results > 0 &&
		(claim || n_results >= RELAY_RESULT_BATCH || n_inflight == 0 ||
		 now >= TimestampTzPlusMilliseconds(first_result_at, RELAY_RESULT_WAIT_MS));
	if (!release && !claim && !maintain && !record && n_giveback == 0)
		return;

	PG_TRY();
	{
		relay_transaction(release, claim, maintain);
	}
	PG_CATCH();
	{
		/* Log, roll back and go on: leased rows are retried later. */
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		relay_drop_claimed();
		relay_forget_results();
		pgstat_report_activity(STATE_IDLE, NULL);
		failed = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	pgstat_report_stat(false);

	if (failed)
	{
		claim_wanted = false;
		next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RELAY_ERROR_PAUSE_MS);
		return;
	}
	*first = false;
	if (maintain)
		*next_maintain = TimestampTzPlusMilliseconds(now, RELAY_MAINTAIN_MS);
	if (claim)
	{
		/*
		 * Found work: there may be more, claim again as soon as the gap
		 * allows.  Found none: poll again later (a finished POST or a commit
		 * asks for a claim sooner).
		 */
		last_claim = now;
		claim_wanted = n_claimed > 0;
		next_poll = TimestampTzPlusMilliseconds(now, learning_relay_poll_interval);
	}
	if (n_claimed > 0)
		idle_since = 0;
	/* committed: the leased rows are ours */
	for (int i = 0; i < n_claimed; i++)
	{
		relay_endpoint(claimed[i]->webhook_id)->ready++;
		ready[n_ready++] = claimed[i];
	}
	n_claimed = 0;
	relay_start_ready();
}

/*
 * relay_extension_ready reports whether the extension exists in this
 * database and the server accepts writes.
 */
static bool
relay_extension_ready(void)
{
	bool		ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ready = !RecoveryInProgress() && OidIsValid(get_extension_oid("learning", true));
	CommitTransactionCommand();
	return ready;
}

/*
 * relay_begin starts a relay transaction (with a fresh now()) and connects
 * SPI; relay_commit ends both.
 */
static void
relay_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
relay_commit(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* relay_interval_ms: an interval Datum of ms milliseconds. */
static Datum
relay_interval_ms(int64 ms)
{
	Interval   *i = palloc0(sizeof(Interval));

	i->time = ms * INT64CONST(1000);
	return IntervalPGetDatum(i);
}

/*
 * relay_transaction: the one short transaction of a loop turn.  At a
 * relay's start, what a previous relay had in flight becomes due again;
 * then the finished attempts are recorded, the housekeeping runs when due
 * and new due deliveries are leased when claim is set.  Exits the worker
 * (code 0) when the extension was dropped.
 */
static void
relay_transaction(bool release, bool claim, bool maintain)
{
	relay_begin("relay: record and claim");
	if (!OidIsValid(get_extension_oid("learning", true)))
	{
		relay_commit();
		ereport(LOG, (errmsg("learning relay is exiting because the extension was dropped")));
		(void) learning_relay_take_request();
		(void) learning_relay_report_exit(0, true);
		proc_exit(0);
	}

	if (release &&
		SPI_execute_plan(learning_saved_plan(&plan_release, "SELECT learning.relay_release_claims()", 0, NULL),
						 NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "learning.relay_release_claims failed");

	if (n_giveback > 0)
		relay_unclaim();

	if (n_results > 0)
		relay_record_results();

	if (maintain)
	{
		Oid			types[2] = {INTERVALOID, BOOLOID};
		Datum		values[2];

		values[0] = relay_interval_ms((int64) learning_webhook_delivery_retention * 1000);
		values[1] = BoolGetDatum(learning_sse_publish_url != NULL && learning_sse_publish_url[0] != '\0');
		if (SPI_execute_plan(learning_saved_plan(&plan_maintain,
												 "SELECT learning.relay_maintain($1, $2)", 2, types),
							 values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "learning.relay_maintain failed");
	}

	if (claim)
		relay_claim();

	relay_commit();
	/* committed: the results are in the log, the given back rows are due */
	relay_forget_results();
	for (int i = 0; i < n_giveback; i++)
		pfree(giveback[i].tenant_id);
	n_giveback = 0;
}

/*
 * relay_forget_results empties the pending results (recorded, or lost with
 * a failed transaction: their rows are attempted again after the lease); a
 * buffer grown by a burst is given back.
 */
static void
relay_forget_results(void)
{
	if (results.maxlen > 64 * 1024)
	{
		MemoryContext old = MemoryContextSwitchTo(RelayContext);

		pfree(results.data);
		initStringInfo(&results);
		MemoryContextSwitchTo(old);
	}
	else
		resetStringInfo(&results);
	n_results = 0;
	n_notes = 0;
}

/* relay_endpoint: what the relay holds of an endpoint (created empty). */
static RelayEndpoint *
relay_endpoint(int64 webhook_id)
{
	bool		found;
	RelayEndpoint *ep = hash_search(endpoints, &webhook_id, HASH_ENTER, &found);

	if (!found)
	{
		ep->inflight = 0;
		ep->ready = 0;
		ep->proven = false;
		ep->stalled = false;
	}
	return ep;
}

/*
 * relay_mark_stalled notes the endpoints with a POST outstanding for
 * RELAY_STALL_MS and gives back the rows leased ahead for them.
 */
static void
relay_mark_stalled(TimestampTz now)
{
	TimestampTz stall = TimestampTzPlusMilliseconds(now, -RELAY_STALL_MS);
	HASH_SEQ_STATUS hs;
	RelayEndpoint *ep;

	hash_seq_init(&hs, endpoints);
	while ((ep = hash_seq_search(&hs)) != NULL)
		ep->stalled = false;
	for (int i = 0; i < n_inflight; i++)
		if (inflight[i]->started <= stall)
		{
			ep = relay_endpoint(inflight[i]->webhook_id);
			if (!ep->stalled && ep->ready > 0)
				relay_give_back(ep->webhook_id);
			ep->stalled = true;
		}
}

/*
 * relay_give_back takes the ready rows of one endpoint (all endpoints when
 * webhook_id is -1) off the ready list; the next transaction makes them due
 * again.
 */
static void
relay_give_back(int64 webhook_id)
{
	int			keep = 0;

	for (int i = 0; i < n_ready; i++)
	{
		RelayTransfer *t = ready[i];

		if (webhook_id != -1 && t->webhook_id != webhook_id)
		{
			ready[keep++] = t;
			continue;
		}
		relay_endpoint(t->webhook_id)->ready--;
		giveback[n_giveback].tenant_id = t->tenant_id;
		giveback[n_giveback].webhook_id = t->webhook_id;
		giveback[n_giveback++].event_id = t->event_id;
		t->tenant_id = NULL;
		relay_free_transfer(t);
	}
	n_ready = keep;
}

/* relay_unclaim runs learning.relay_unclaim for the rows given back. */
static void
relay_unclaim(void)
{
	Oid			types[3] = {TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[3];
	Datum	   *tenants = palloc(n_giveback * sizeof(Datum));
	Datum	   *hooks = palloc(n_giveback * sizeof(Datum));
	Datum	   *events = palloc(n_giveback * sizeof(Datum));

	for (int i = 0; i < n_giveback; i++)
	{
		tenants[i] = CStringGetTextDatum(giveback[i].tenant_id);
		hooks[i] = Int64GetDatum(giveback[i].webhook_id);
		events[i] = Int64GetDatum(giveback[i].event_id);
	}
	values[0] = PointerGetDatum(construct_array(tenants, n_giveback, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(hooks, n_giveback, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(events, n_giveback, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(learning_saved_plan(&plan_unclaim,
											 "SELECT learning.relay_unclaim($1, $2, $3)", 3, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "learning.relay_unclaim failed");
}

/*
 * relay_record_results logs the finished attempts (learning.relay_record)
 * and updates the circuit breakers of the endpoints they tell about.
 */
static void
relay_record_results(void)
{
	Oid			types[3] = {TEXTOID, INT4OID, INTERVALOID};
	Datum		values[3];
	StringInfoData arr;

	initStringInfo(&arr);
	appendStringInfoChar(&arr, '[');
	appendBinaryStringInfo(&arr, results.data, results.len);
	appendStringInfoChar(&arr, ']');
	values[0] = CStringGetTextDatum(arr.data);
	values[1] = Int32GetDatum(learning_webhook_max_attempts);
	values[2] = relay_interval_ms(learning_webhook_retry_base);
	if (SPI_execute_plan(learning_saved_plan(&plan_record,
											 "SELECT learning.relay_record($1::jsonb, $2, $3)", 3, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "learning.relay_record failed");

	if (n_notes > 0)
	{
		Oid			ntypes[4] = {INT8ARRAYOID, BOOLARRAYOID, INTERVALOID, INTERVALOID};
		Datum		nvalues[4];
		Datum	   *ids = palloc(n_notes * sizeof(Datum));
		Datum	   *answered = palloc(n_notes * sizeof(Datum));

		for (int i = 0; i < n_notes; i++)
		{
			ids[i] = Int64GetDatum(note_ids[i]);
			answered[i] = BoolGetDatum(note_answered[i]);
		}
		nvalues[0] = PointerGetDatum(construct_array(ids, n_notes, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		nvalues[1] = PointerGetDatum(construct_array(answered, n_notes, BOOLOID, 1, true, TYPALIGN_CHAR));
		nvalues[2] = relay_interval_ms(learning_webhook_retry_base);
		nvalues[3] = relay_interval_ms(RELAY_MAX_PAUSE_MS);
		if (SPI_execute_plan(learning_saved_plan(&plan_notes,
												 "SELECT learning.relay_note_endpoints($1, $2, $3, $4)", 4, ntypes),
							 nvalues, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "learning.relay_note_endpoints failed");
	}
}

/* relay_fresh_count: POSTs in flight that are not stalled yet. */
static int
relay_fresh_count(TimestampTz now)
{
	TimestampTz stall = TimestampTzPlusMilliseconds(now, -RELAY_STALL_MS);
	int			n = 0;

	for (int i = 0; i < n_inflight; i++)
		if (inflight[i]->started > stall)
			n++;
	return n;
}

/*
 * relay_claim leases due deliveries and prepares one transfer (URL, body,
 * signed headers) per row in claimed[]; they join the ready list after the
 * commit.  Each endpoint the relay holds rows of is passed with their
 * number, or as full when it stalls; endpoints that answered lately may
 * have RELAY_PREFETCH rows, others RELAY_PER_WEBHOOK.
 */
static void
relay_claim(void)
{
	Oid			types[8] = {INT4OID, INT8ARRAYOID, INT4ARRAYOID, INT4OID, INT8ARRAYOID, INT4OID,
		INTERVALOID, TEXTOID};
	Datum		values[8];
	long		n = hash_get_num_entries(endpoints);
	Datum	   *busy_ids = palloc(Max(n, 1) * sizeof(Datum));
	Datum	   *busy_counts = palloc(Max(n, 1) * sizeof(Datum));
	Datum	   *proven_ids = palloc(Max(n, 1) * sizeof(Datum));
	int			n_busy = 0;
	int			n_proven = 0;
	HASH_SEQ_STATUS hs;
	RelayEndpoint *ep;
	uint64		row;

	hash_seq_init(&hs, endpoints);
	while ((ep = hash_seq_search(&hs)) != NULL)
	{
		if (ep->inflight + ep->ready > 0 || ep->stalled)
		{
			busy_ids[n_busy] = Int64GetDatum(ep->webhook_id);
			busy_counts[n_busy++] = Int32GetDatum(ep->stalled ? RELAY_PREFETCH : ep->inflight + ep->ready);
		}
		if (ep->proven && !ep->stalled)
			proven_ids[n_proven++] = Int64GetDatum(ep->webhook_id);
	}

	values[0] = Int32GetDatum(RELAY_MAX_READY - n_ready - n_giveback);
	values[1] = PointerGetDatum(construct_array(busy_ids, n_busy, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(busy_counts, n_busy, INT4OID, 4, true, TYPALIGN_INT));
	values[3] = Int32GetDatum(RELAY_PER_WEBHOOK);
	values[4] = PointerGetDatum(construct_array(proven_ids, n_proven, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[5] = Int32GetDatum(RELAY_PREFETCH);
	/* the lease outlives any attempt, so a leased row is never sent twice at once */
	values[6] = relay_interval_ms((int64) learning_webhook_timeout + learning_webhook_connect_timeout + 60000);
	values[7] = CStringGetTextDatum(learning_sse_publish_url ? learning_sse_publish_url : "");
	if (SPI_execute_plan(learning_saved_plan(&plan_claim,
											 "SELECT tenant_id, webhook_id, event_id, attempt, url, secret, body "
											 "FROM learning.relay_claim($1, $2, $3, $4, $5, $6, $7, $8)", 8, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "learning.relay_claim failed");

	for (row = 0; row < SPI_processed && n_ready + n_giveback + n_claimed < RELAY_MAX_READY; row++)
		claimed[n_claimed++] = relay_new_transfer(SPI_tuptable->vals[row], SPI_tuptable->tupdesc);
}

/* relay_text: column attno of a claimed row as a C string in RelayContext, or NULL. */
static char *
relay_text(HeapTuple tuple, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, attno, &isnull);
	MemoryContext old;
	char	   *s;

	if (isnull)
		return NULL;
	old = MemoryContextSwitchTo(RelayContext);
	s = TextDatumGetCString(d);
	MemoryContextSwitchTo(old);
	return s;
}

/*
 * relay_new_transfer builds the transfer of one claimed row: the body, and
 * for a webhook its signature headers (computed here, inside the
 * transaction, because PostgreSQL's HMAC needs a resource owner).
 */
static RelayTransfer *
relay_new_transfer(HeapTuple tuple, TupleDesc desc)
{
	RelayTransfer *t;
	bool		isnull;
	char	   *secret;
	char	   *body;
	struct curl_slist *h = NULL;
	char		line[256];

	t = MemoryContextAllocZero(RelayContext, sizeof(RelayTransfer));
	t->tenant_id = relay_text(tuple, desc, 1);
	t->webhook_id = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	t->event_id = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
	t->attempt = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
	t->post.url = relay_text(tuple, desc, 5);
	body = relay_text(tuple, desc, 7);
	t->post.body = body;
	t->post.body_len = body ? strlen(body) : 0;
	t->post.owner = t;
	/* the SSE publisher's URL is set by a superuser: not address-checked */
	t->post.trusted = t->webhook_id == 0;

	if (body == NULL)
		t->orphan = "event no longer in the outbox";
	else if (t->post.url == NULL)
		t->orphan = t->webhook_id == 0 ? "tenant has no SSE channel" : "webhook no longer exists";
	if (t->orphan != NULL)
		return t;
	secret = t->webhook_id != 0 ? SPI_getvalue(tuple, desc, 6) : NULL;	/* SPI memory */
	if (t->webhook_id != 0 && secret == NULL)
	{
		t->orphan = "webhook has no secret";
		return t;
	}

	/* libcurl's own malloc'd list, freed by learning_http_post_cleanup */
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	snprintf(line, sizeof(line), "Learning-Event-Id: " INT64_FORMAT, t->event_id);
	h = curl_slist_append(h, line);
	if (t->webhook_id != 0)
	{
		long		ts = (long) time(NULL);
		char		hex[65];
		StringInfoData msg;

		initStringInfo(&msg);
		appendStringInfo(&msg, "%ld.", ts);
		appendBinaryStringInfo(&msg, body, t->post.body_len);
		learning_hmac_sha256_hex(secret, strlen(secret), msg.data, msg.len, hex);
		pfree(msg.data);
		snprintf(line, sizeof(line), "Learning-Signature: t=%ld,v1=%s", ts, hex);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof(line), "Learning-Delivery-Attempt: %d", t->attempt);
		h = curl_slist_append(h, line);
	}
	if (h == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	t->post.headers = h;
	return t;
}

/*
 * relay_start_ready hands ready rows to libcurl, in the order they were
 * claimed (round-robin by endpoint), as far as each endpoint's in-flight
 * limit, the non-stalled limit and the connection limit allow; unsendable
 * ones become results at once.
 */
static void
relay_start_ready(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			fresh = relay_fresh_count(now);
	int			keep = 0;

	for (int i = 0; i < n_ready; i++)
	{
		RelayTransfer *t = ready[i];
		RelayEndpoint *ep = relay_endpoint(t->webhook_id);
		struct curl_slist *h = t->post.headers;

		if (t->orphan == NULL &&
			(ep->inflight >= RELAY_PER_WEBHOOK || ep->stalled ||
			 n_inflight >= RELAY_MAX_CONNECTIONS || fresh >= RELAY_MAX_FRESH))
		{
			ready[keep++] = t;
			continue;
		}
		ep->ready--;
		t->started = now;
		if (t->orphan != NULL)
		{
			relay_add_result(t, false, false, 0, t->orphan);
			relay_free_transfer(t);
			continue;
		}
		t->post.headers = NULL;
		if (!learning_http_post_start(&t->post, h,
									  learning_webhook_connect_timeout, learning_webhook_timeout) ||
			curl_multi_add_handle(relay_multi, t->post.easy) != CURLM_OK)
		{
			relay_add_result(t, false, !t->post.permanent, 0,
							 t->post.error[0] ? t->post.error : "could not start the request");
			relay_free_transfer(t);
			continue;
		}
		inflight[n_inflight++] = t;
		ep->inflight++;
		fresh++;
	}
	n_ready = keep;
}

/*
 * relay_collect turns every finished transfer into a result and frees it.
 * A 2xx answer is a success (also when its body was cut at the bound); a 3xx
 * is a failed attempt (redirects are never followed); anything else, or a
 * transport error, is a failed attempt.  A finished POST frees a slot: a
 * claim follows.
 */
static void
relay_collect(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(relay_multi, &left)) != NULL)
	{
		LearningHttpPost *post = NULL;
		RelayTransfer *t;
		CURLcode	rc;
		long		code = 0;
		int			i;
		char		buf[CURL_ERROR_SIZE + 128];

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &post);
		(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		t = (RelayTransfer *) post->owner;

		if (code >= 200 && code < 300 &&
			(rc == CURLE_OK || t->post.response_truncated || rc == CURLE_FILESIZE_EXCEEDED))
		{
			if (rc == CURLE_OK)
				relay_add_result(t, true, false, code, NULL);
			else
			{
				snprintf(buf, sizeof(buf), "response body over %d bytes: not read further",
						 LEARNING_HTTP_MAX_RESPONSE);
				relay_add_result(t, true, false, code, buf);
			}
		}
		else if (code >= 300 && code < 400)
		{
			char	   *location = NULL;

			(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_REDIRECT_URL, &location);
			snprintf(buf, sizeof(buf), "HTTP %ld redirect to %s not followed", code,
					 location ? location : "(no Location)");
			relay_add_result(t, false, true, code, buf);
		}
		else if (code > 0 && (rc == CURLE_OK || t->post.response_truncated))
		{
			snprintf(buf, sizeof(buf), "HTTP %ld", code);
			relay_add_result(t, false, true, code, buf);
		}
		else
		{
			/* a refused address, a scheme other than http(s): dead at once */
			bool		retry = learning_http_failure(&t->post, rc, buf, sizeof(buf));

			relay_add_result(t, false, retry, code, buf);
		}

		(void) curl_multi_remove_handle(relay_multi, msg->easy_handle);
		claim_wanted = true;
		for (i = 0; i < n_inflight && inflight[i] != t; i++)
			;
		if (i < n_inflight)
		{
			inflight[i] = inflight[--n_inflight];
			relay_endpoint(t->webhook_id)->inflight--;
		}
		relay_free_transfer(t);
	}
}

/*
 * relay_add_result appends one attempt to the JSON array that the next
 * transaction hands to learning.relay_record, and notes what it says of its
 * endpoint's health: any answer but 5xx or 429 is one; a transport error,
 * a timeout, 5xx and 429 are not.
 */
static void
relay_add_result(RelayTransfer *t, bool ok, bool retry, long http_code, const char *error)
{
	MemoryContext old = MemoryContextSwitchTo(RelayContext);
	double		ms = (double) (GetCurrentTimestamp() - t->started) / 1000.0;
	double		started = (double) t->started / USECS_PER_SEC +
		(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	bool		first = true;

	if (n_results > 0)
		appendStringInfoChar(&results, ',');
	else
		first_result_at = GetCurrentTimestamp();
	appendStringInfoChar(&results, '{');
	learning_json_key(&results, "tenant_id", &first);
	learning_json_string(&results, t->tenant_id);
	learning_json_key(&results, "webhook_id", &first);
	appendStringInfo(&results, INT64_FORMAT, t->webhook_id);
	learning_json_key(&results, "event_id", &first);
	appendStringInfo(&results, INT64_FORMAT, t->event_id);
	learning_json_key(&results, "attempt", &first);
	appendStringInfo(&results, "%d", t->attempt);
	learning_json_key(&results, "http_code", &first);
	if (http_code > 0)
		appendStringInfo(&results, "%ld", http_code);
	else
		appendStringInfoString(&results, "null");
	learning_json_key(&results, "error", &first);
	if (error != NULL)
	{
		char	   *clean = relay_sanitize(error);

		learning_json_string(&results, clean);
		pfree(clean);
	}
	else
		appendStringInfoString(&results, "null");
	learning_json_key(&results, "duration_ms", &first);
	appendStringInfo(&results, "%.3f", ms);	/* no palloc'd number text */
	learning_json_key(&results, "started", &first);
	appendStringInfo(&results, "%.6f", started);
	learning_json_key(&results, "ok", &first);
	appendStringInfoString(&results, ok ? "true" : "false");
	learning_json_key(&results, "retry", &first);
	appendStringInfoString(&results, retry ? "true" : "false");
	appendStringInfoChar(&results, '}');
	n_results++;
	MemoryContextSwitchTo(old);

	/* an unsendable row says nothing about its endpoint */
	if (t->orphan == NULL)
	{
		bool		answered = ok || (http_code > 0 && http_code < 500 && http_code != 429);
		RelayEndpoint *ep = relay_endpoint(t->webhook_id);

		if (n_notes < RELAY_MAX_NOTES)
		{
			note_ids[n_notes] = t->webhook_id;
			note_answered[n_notes++] = answered;
		}
		ep->proven = answered;
		/* its rows leased ahead wait for the circuit breaker's verdict */
		if (!answered && ep->ready > 0)
			relay_give_back(t->webhook_id);
	}
}

/*
 * relay_sanitize returns a copy of s cut to 500 bytes with every byte that
 * is not printable ASCII replaced by '?' (error texts and Location headers
 * come from the network; the log column is text, the transport is jsonb).
 */
static char *
relay_sanitize(const char *s)
{
	size_t		n = Min(strlen(s), 500);
	char	   *out = palloc(n + 1);
	size_t		i;

	for (i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[n] = '\0';
	return out;
}

/* relay_free_transfer frees libcurl's memory of t, then t itself. */
static void
relay_free_transfer(RelayTransfer *t)
{
	learning_http_post_cleanup(&t->post);
	if (t->post.url)
		pfree(t->post.url);
	if (t->post.body)
		pfree(t->post.body);
	if (t->tenant_id)
		pfree(t->tenant_id);
	pfree(t);
}

/* relay_drop_claimed forgets transfers claimed by a transaction that failed. */
static void
relay_drop_claimed(void)
{
	int			i;

	for (i = 0; i < n_claimed; i++)
		relay_free_transfer(claimed[i]);
	n_claimed = 0;
}

/*
 * relay_next_due: when this database's next delivery is due (a row's time
 * or its endpoint's open circuit), 0 when none is pending.
 */
static TimestampTz
relay_next_due(void)
{
	Oid			types[1] = {BOOLOID};
	Datum		values[1];
	bool		isnull;
	Datum		d;
	TimestampTz due;

	relay_begin("relay: next due");
	values[0] = BoolGetDatum(learning_sse_publish_url != NULL && learning_sse_publish_url[0] != '\0');
	if (SPI_execute_plan(learning_saved_plan(&plan_next_due, "SELECT learning.relay_next_due($1)", 1, types),
						 values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "learning.relay_next_due failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	due = isnull ? 0 : DatumGetTimestampTz(d);
	relay_commit();
	return due;
}

/*
 * relay_abandon gives up the POSTs in flight of a relay that leaves: each
 * becomes a failed attempt without an answer (its endpoint did not answer
 * within the grace), recorded before the relay exits.
 */
static void
relay_abandon(void)
{
	char		buf[128];

	snprintf(buf, sizeof(buf), "no answer within %d ms: the relay gave its worker to another database",
			 RELAY_LEAVE_GRACE_MS);
	while (n_inflight > 0)
	{
		RelayTransfer *t = inflight[--n_inflight];

		relay_endpoint(t->webhook_id)->inflight--;
		(void) curl_multi_remove_handle(relay_multi, t->post.easy);
		relay_add_result(t, false, true, 0, buf);
		relay_free_transfer(t);
	}
}

/*
 * relay_maybe_exit ends a relay whose work is done, or that gives its worker
 * to a database waiting for one (learning_worker_should_yield): nothing left
 * in flight (after RELAY_LEAVE_GRACE_MS the rest is abandoned) nor to record.
 * Without anyone waiting, a relay leaves once its claims find nothing for
 * RELAY_IDLE_MS and nothing is due within RELAY_LINGER_MS.  The launcher
 * learns when the next delivery is due and starts a relay then (or at the
 * next commit that queues one).
 */
static void
relay_maybe_exit(void)
{
	TimestampTz now = GetCurrentTimestamp();
	volatile TimestampTz due = 0;
	bool		others_wait;
	MemoryContext cxt = CurrentMemoryContext;

	if (leaving_since != 0 && n_ready > 0)
		relay_give_back(-1);
	if (leaving_since != 0 && n_inflight > 0 &&
		now >= TimestampTzPlusMilliseconds(leaving_since, RELAY_LEAVE_GRACE_MS))
		relay_abandon();
	if (n_inflight > 0 || n_results > 0 || n_claimed > 0 || n_ready > 0 || n_giveback > 0)
	{
		idle_since = 0;
		return;
	}
	others_wait = leaving_since != 0 || learning_worker_should_yield(false);
	if (claim_wanted && !others_wait)
		return;
	if (idle_since == 0)
		idle_since = now;
	if (!others_wait && now < TimestampTzPlusMilliseconds(idle_since, RELAY_IDLE_MS))
		return;

	PG_TRY();
	{
		due = relay_next_due();
	}
	PG_CATCH();
	{
		/* stay: the next turns retry, and log their own errors */
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		idle_since = now;
		return;
	}
	PG_END_TRY();
	if (leaving_since == 0 && due != 0 &&
		due <= TimestampTzPlusMilliseconds(now, others_wait ? 0 : RELAY_LINGER_MS))
	{
		/* work due (now, or soon and nobody waits): stay */
		if (due <= now)
			claim_wanted = true;
		idle_since = now;
		return;
	}
	/*
	 * Refused when a commit asked for deliveries meanwhile, unless the relay
	 * gives its worker away: the launcher then serves the request in turn.
	 */
	if (learning_relay_report_exit(due, leaving_since != 0))
	{
		pgstat_report_stat(true);
		proc_exit(0);
	}
	claim_wanted = true;
	leaving_since = 0;
}

/*
 * relay_wait: on libcurl's sockets while POSTs are in flight (then a look at
 * the latch without waiting), else on the latch until the next poll.  A set
 * latch means a commit queued deliveries: claim at once.
 */
static void
relay_wait(void)
{
	int			rc;

	if (n_inflight > 0)
	{
		int			numfds;

		(void) curl_multi_poll(relay_multi, NULL, 0, RELAY_CURL_WAIT_MS, &numfds);
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 0, PG_WAIT_EXTENSION);
	}
	else if (claim_wanted)
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   RELAY_CLAIM_GAP_MS, PG_WAIT_EXTENSION);
	else
	{
		long		wait_ms = (long) ((next_poll - GetCurrentTimestamp()) / 1000);

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   Max(1L, Min(wait_ms, (long) learning_relay_poll_interval)),
					   PG_WAIT_EXTENSION);
	}
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		if (learning_relay_take_request())
		{
			claim_wanted = true;
			last_claim = 0;
		}
	}
}

/*
 * learning_relay_wake_sql: learning.relay_wake(), called when the outbox
 * write queued deliveries (events.c), makes the commit of the current
 * transaction wake the relay of this database, or ask the launcher for one,
 * so that a delivery starts without waiting for a poll.
 */
Datum
learning_relay_wake_sql(PG_FUNCTION_ARGS)
{
	learning_relay_wake_at_commit();
	PG_RETURN_VOID();
}

/*
 * learning_relay_queue_changed: row trigger of learning.relay_queue (AFTER
 * INSERT OR UPDATE): a row queued (by the outbox, retry_dead_deliveries) or
 * made due again (a webhook enabled again) makes the commit wake the relay,
 * or have the launcher start one.  A row trigger, not a statement trigger:
 * the outbox statement of every commit inserts into the queue, mostly no
 * row at all, and waking the relay for nothing cost a relay round (three
 * statements in another process) per committed transaction.  Bound to that
 * table.
 */
Datum
learning_relay_queue_changed(PG_FUNCTION_ARGS)
{
	static const char *const tables[] = {"relay_queue", NULL};
	TriggerData *trigdata = learning_trigger_guard(fcinfo, "relay_queue_changed", tables, NULL);

	/* an AFTER statement trigger (a development schema of this release) wakes too */
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("learning.relay_queue_changed() fires only as an AFTER trigger of learning.relay_queue")));
	learning_relay_wake_at_commit();
	return PointerGetDatum(NULL);
}

/* learning_relay_wake_at_commit: the C side of learning.relay_wake() (events.c calls it). */
void
learning_relay_wake_at_commit(void)
{
	if (am_relay)
		return;
	if (!wake_callback_registered)
	{
		RegisterXactCallback(relay_wake_xact_callback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * relay_wake_xact_callback: once the transaction that queued deliveries has
 * committed (the rows are visible to a new snapshot), tells the launcher's
 * shared table that this database has deliveries (launcher_shmem.c).
 */
static void
relay_wake_xact_callback(XactEvent event, void *arg)
{
	if (!wake_at_commit)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	wake_at_commit = false;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		learning_relay_request(MyDatabaseId);
}

/*-------------------------------------------------------------------------
 *
 * relay.c
 *		The event relay worker: delivers outbox events to webhooks and to the
 *		nchan SSE publisher with libcurl's multi interface, fairly across
 *		endpoints.
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
 *	  outstanding for RELAY_STALL_MS (it is not answering).
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
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "learning.h"
#include "learning_http.h"
#include "workers.h"

PGDLLEXPORT void learning_relay_main(Datum main_arg);
PG_FUNCTION_INFO_V1(learning_relay_wake_sql);
PGDLLEXPORT Datum learning_relay_wake_sql(PG_FUNCTION_ARGS);

/* Hard bound on POSTs in flight (each holds one connection). */
#define RELAY_MAX_CONNECTIONS	1024
/* POSTs in flight that are not stalled (new connections per burst). */
#define RELAY_MAX_FRESH			256
/* POSTs in flight per endpoint (webhook; the SSE publisher is webhook 0). */
#define RELAY_PER_WEBHOOK		2
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
#define RELAY_IDLE_MS			1000
/* A relay giving its worker back waits this long for its POSTs in flight. */
#define RELAY_LEAVE_GRACE_MS	1000
/* Results kept between two transactions: every transfer, plus as many unsendable. */
#define RELAY_MAX_RESULTS		(2 * RELAY_MAX_CONNECTIONS)

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

/* Per endpoint, what its POSTs in flight allow (relay_claim). */
typedef struct RelayBusy
{
	int64		webhook_id;
	bool		stalled;
} RelayBusy;

static CURLM *relay_multi = NULL;
static MemoryContext RelayContext = NULL;	/* transfers and pending results */
static RelayTransfer *inflight[RELAY_MAX_CONNECTIONS];
static int	n_inflight = 0;
static RelayTransfer *claimed[RELAY_MAX_CONNECTIONS];	/* claimed, not started */
static int	n_claimed = 0;
static StringInfoData results;	/* JSON array body (no brackets) */
static int	n_results = 0;
/* endpoint health seen in the pending results, in order (circuit breakers) */
static int64 note_ids[RELAY_MAX_RESULTS];
static bool note_answered[RELAY_MAX_RESULTS];
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

static void relay_setup(void);
static bool relay_extension_ready(void);
static void relay_turn(bool *first, TimestampTz *next_maintain);
static void relay_transaction(bool release, bool claim, bool maintain);
static void relay_record_results(void);
static void relay_claim(void);
static int	relay_busy_cmp(const void *a, const void *b);
static RelayTransfer *relay_new_transfer(HeapTuple tuple, TupleDesc desc);
static void relay_start_claimed(void);
static void relay_collect(void);
static void relay_add_result(RelayTransfer *t, bool ok, bool retry, long http_code,
							 const char *error);
static void relay_free_transfer(RelayTransfer *t);
static void relay_drop_claimed(void);
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

	/* Nothing to do where the extension is absent: exit 0, done. */
	if (!relay_extension_ready())
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
	learning_http_init();
	relay_multi = curl_multi_init();
	if (relay_multi == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("curl_multi_init failed")));
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
	bool		release = *first;
	volatile bool failed = false;
	MemoryContext cxt = CurrentMemoryContext;

	/* 1. HTTP progress, without any transaction. */
	if (n_inflight > 0)
	{
		int			running;

		(void) curl_multi_perform(relay_multi, &running);
		relay_collect();
	}

	/* 2. One short transaction when there is something to do. */
	now = GetCurrentTimestamp();
	if (now >= next_poll)
		claim_wanted = true;
	if (leaving_since == 0 && learning_worker_should_yield(true))
		leaving_since = now;
	claim = claim_wanted && leaving_since == 0 &&
		n_inflight < RELAY_MAX_CONNECTIONS &&
		relay_fresh_count(now) < RELAY_MAX_FRESH &&
		now >= TimestampTzPlusMilliseconds(last_claim, RELAY_CLAIM_GAP_MS);
	maintain = now >= *next_maintain;
	if (!release && !claim && !maintain && n_results == 0)
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
		resetStringInfo(&results);
		n_results = 0;
		n_notes = 0;
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
	relay_start_claimed();
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
		ereport(LOG, (errmsg("learning relay: extension dropped, exiting")));
		(void) learning_relay_take_request();
		(void) learning_relay_report_exit(0, true);
		proc_exit(0);
	}

	if (release &&
		SPI_execute_plan(learning_saved_plan(&plan_release, "SELECT learning.relay_release_claims()", 0, NULL),
						 NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "learning.relay_release_claims failed");

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
	/* committed: the results are in the log; a buffer grown by a burst is given back */
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

/* relay_busy_cmp orders POSTs in flight by endpoint. */
static int
relay_busy_cmp(const void *a, const void *b)
{
	int64		x = ((const RelayBusy *) a)->webhook_id;
	int64		y = ((const RelayBusy *) b)->webhook_id;

	return (x > y) - (x < y);
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
 * relay_claim leases due deliveries for the free slots and prepares one
 * transfer (URL, body, signed headers) per row in claimed[]; they start
 * after the commit.  Each endpoint with POSTs in flight is passed with the
 * slots they take: all of them when one is stalled.
 */
static void
relay_claim(void)
{
	Oid			types[6] = {INT4OID, INT8ARRAYOID, INT4ARRAYOID, INT4OID, INTERVALOID, TEXTOID};
	Datum		values[6];
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz stall = TimestampTzPlusMilliseconds(now, -RELAY_STALL_MS);
	RelayBusy  *busy = palloc(Max(n_inflight, 1) * sizeof(RelayBusy));
	Datum	   *ids = palloc(Max(n_inflight, 1) * sizeof(Datum));
	Datum	   *counts = palloc(Max(n_inflight, 1) * sizeof(Datum));
	int			n_ids = 0;
	int			max_rows;
	uint64		row;

	for (int i = 0; i < n_inflight; i++)
	{
		busy[i].webhook_id = inflight[i]->webhook_id;
		busy[i].stalled = inflight[i]->started <= stall;
	}
	qsort(busy, n_inflight, sizeof(RelayBusy), relay_busy_cmp);
	for (int i = 0; i < n_inflight;)
	{
		int			j = i;
		bool		stalled = false;

		for (; j < n_inflight && busy[j].webhook_id == busy[i].webhook_id; j++)
			stalled |= busy[j].stalled;
		ids[n_ids] = Int64GetDatum(busy[i].webhook_id);
		counts[n_ids++] = Int32GetDatum(stalled ? RELAY_PER_WEBHOOK : j - i);
		i = j;
	}

	max_rows = Min(RELAY_MAX_FRESH - relay_fresh_count(now),
				   RELAY_MAX_CONNECTIONS - n_inflight);
	values[0] = Int32GetDatum(max_rows);
	values[1] = PointerGetDatum(construct_array(ids, n_ids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(counts, n_ids, INT4OID, 4, true, TYPALIGN_INT));
	values[3] = Int32GetDatum(RELAY_PER_WEBHOOK);
	/* the lease outlives any attempt, so a leased row is never sent twice at once */
	values[4] = relay_interval_ms((int64) learning_webhook_timeout + learning_webhook_connect_timeout + 60000);
	values[5] = CStringGetTextDatum(learning_sse_publish_url ? learning_sse_publish_url : "");
	if (SPI_execute_plan(learning_saved_plan(&plan_claim,
											 "SELECT tenant_id, webhook_id, event_id, attempt, url, secret, body "
											 "FROM learning.relay_claim($1, $2, $3, $4, $5, $6)", 6, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "learning.relay_claim failed");

	for (row = 0; row < SPI_processed && n_claimed < RELAY_MAX_CONNECTIONS; row++)
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
 * relay_start_claimed hands the claimed transfers to libcurl (after the
 * claim committed); unsendable ones become results at once.
 */
static void
relay_start_claimed(void)
{
	int			i;

	for (i = 0; i < n_claimed; i++)
	{
		RelayTransfer *t = claimed[i];
		struct curl_slist *h = t->post.headers;

		t->started = GetCurrentTimestamp();
		if (t->orphan != NULL)
		{
			relay_add_result(t, false, false, 0, t->orphan);
			relay_free_transfer(t);
			continue;
		}
		t->post.headers = NULL;
		if (n_inflight >= RELAY_MAX_CONNECTIONS ||
			!learning_http_post_start(&t->post, h,
									  learning_webhook_connect_timeout, learning_webhook_timeout) ||
			curl_multi_add_handle(relay_multi, t->post.easy) != CURLM_OK)
		{
			relay_add_result(t, false, true, 0,
							 t->post.error[0] ? t->post.error : "could not start the request");
			relay_free_transfer(t);
			continue;
		}
		inflight[n_inflight++] = t;
	}
	n_claimed = 0;
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
			snprintf(buf, sizeof(buf), "%s", t->post.error[0] ? t->post.error : curl_easy_strerror(rc));
			relay_add_result(t, false, true, code, buf);
		}

		(void) curl_multi_remove_handle(relay_multi, msg->easy_handle);
		claim_wanted = true;
		for (i = 0; i < n_inflight && inflight[i] != t; i++)
			;
		if (i < n_inflight)
			inflight[i] = inflight[--n_inflight];
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
	if (t->orphan == NULL && n_notes < RELAY_MAX_RESULTS)
	{
		note_ids[n_notes] = t->webhook_id;
		note_answered[n_notes++] = ok ||
			(http_code > 0 && http_code < 500 && http_code != 429);
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

	if (leaving_since != 0 && n_inflight > 0 &&
		now >= TimestampTzPlusMilliseconds(leaving_since, RELAY_LEAVE_GRACE_MS))
		relay_abandon();
	if (n_inflight > 0 || n_results > 0 || n_claimed > 0)
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

/* learning_relay_wake_at_commit: the C side of learning.relay_wake() (events.c calls it). */
void
learning_relay_wake_at_commit(void)
{
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
 * shared table that this database has deliveries (launcher.c).
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

/*-------------------------------------------------------------------------
 *
 * relay.c
 *		The event relay worker (SPEC section 7): delivers outbox events to
 *		webhooks and to the nchan SSE publisher with libcurl's multi
 *		interface.
 *
 * One "learning relay" worker runs per database that has the extension
 * (started by the launcher in scheduler.c).  Its loop:
 *
 *	1. drive libcurl (curl_multi_perform) and collect finished POSTs;
 *	2. when there are results to record, a claim is due, or housekeeping is
 *	   due: ONE short transaction that records the results
 *	   (learning.relay_record), trims the delivery log (learning.relay_maintain)
 *	   and leases new due deliveries (learning.relay_claim, FOR UPDATE SKIP
 *	   LOCKED); it commits before any new POST is started;
 *	3. wait: on libcurl's sockets (curl_multi_poll, at most 50 ms, so that
 *	   SIGTERM and SIGHUP are seen quickly) while POSTs are in flight, else on
 *	   the latch until the next poll.
 *
 * No transaction or snapshot is ever open while the worker waits for the
 * network: the transactions of step 2 only read and write tables, and HTTP
 * makes progress only in steps 1 and 3, between them.  Every POST has connect
 * and total timeouts and the number in flight is bounded in total
 * (RELAY_MAX_INFLIGHT) and per webhook (RELAY_PER_WEBHOOK, RELAY_FAILING_CAP
 * while its last attempt failed), so a slow or dead endpoint holds a few
 * slots at most and never delays another endpoint's deliveries.  A lease outlives the HTTP
 * timeout; a worker that dies mid-delivery leaves leased rows that its
 * successor releases at start (learning.relay_release_claims): at-least-once,
 * a repeat carries the same Learning-Event-Id.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/relay.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
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

/* POSTs in flight at most, in total and per webhook (the SSE feed is webhook 0). */
#define RELAY_MAX_INFLIGHT		256
#define RELAY_PER_WEBHOOK		16
/* ... and per webhook whose last attempt failed (a dead endpoint's share). */
#define RELAY_FAILING_CAP		2
/* Failing webhooks remembered (the oldest is forgotten beyond). */
#define RELAY_MAX_FAILING		256
/* Longest single wait while POSTs are in flight (interrupt latency). */
#define RELAY_CURL_WAIT_MS		50
/* Housekeeping (delivery log retention) period. */
#define RELAY_MAINTAIN_MS		10000
/* Pause after a failed relay transaction. */
#define RELAY_ERROR_PAUSE_MS	1000

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

static CURLM *relay_multi = NULL;
static MemoryContext RelayContext = NULL;	/* transfers and pending results */
static RelayTransfer *inflight[RELAY_MAX_INFLIGHT];
static int	n_inflight = 0;
static RelayTransfer *claimed[RELAY_MAX_INFLIGHT];	/* claimed, not started */
static int	n_claimed = 0;
static StringInfoData results;	/* JSON array body (no brackets) */
static int	n_results = 0;
static TimestampTz next_claim = 0;	/* when to look for due deliveries */
static int64 failing[RELAY_MAX_FAILING];	/* webhooks whose last attempt failed */
static int	n_failing = 0;
static int	failing_evict = 0;

static bool relay_extension_ready(void);
static void relay_transaction(bool claim, bool maintain);
static void relay_claim(void);
static RelayTransfer *relay_new_transfer(HeapTuple tuple, TupleDesc desc);
static void relay_start_claimed(void);
static void relay_collect(void);
static void relay_add_result(RelayTransfer *t, bool ok, bool retry, long http_code,
							 const char *error);
static void relay_free_transfer(RelayTransfer *t);
static void relay_drop_claimed(void);
static char *relay_sanitize(const char *s);
static int	relay_cap(int64 webhook_id);
static void relay_note_outcome(int64 webhook_id, bool ok);
static void relay_begin(const char *activity);
static void relay_commit(void);
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
	TimestampTz next_maintain = 0;
	bool		first = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	/* before any SQL: the database's own settings may name a planted search_path */
	learning_worker_pin_search_path();
	pgstat_report_appname("learning relay");

	/* Nothing to do where the extension is absent: exit 0, the launcher retries later. */
	if (!relay_extension_ready())
		proc_exit(0);
	/* a library newer than the schema: wait for ALTER EXTENSION UPDATE */
	if (!learning_worker_wait_for_schema("relay"))
		proc_exit(0);

	RelayContext = AllocSetContextCreate(TopMemoryContext, "learning relay",
										 ALLOCSET_DEFAULT_SIZES);
	{
		MemoryContext old = MemoryContextSwitchTo(RelayContext);

		initStringInfo(&results);
		MemoryContextSwitchTo(old);
	}
	learning_http_init();
	relay_multi = curl_multi_init();
	if (relay_multi == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("curl_multi_init failed")));

	for (;;)
	{
		TimestampTz now;
		bool		claim;
		bool		maintain;
		volatile bool failed = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* a committing backend queued deliveries (learning.relay_wake) */
		if (MyLatch->is_set)
		{
			ResetLatch(MyLatch);
			next_claim = 0;
		}

		/* 1. HTTP progress, without any transaction. */
		if (n_inflight > 0)
		{
			int			running;

			(void) curl_multi_perform(relay_multi, &running);
			relay_collect();
		}

		/* 2. One short transaction when there is something to do. */
		now = GetCurrentTimestamp();
		claim = n_inflight < RELAY_MAX_INFLIGHT && now >= next_claim;
		maintain = now >= next_maintain;
		if (first || claim || maintain || n_results > 0)
		{
			PG_TRY();
			{
				if (first)
				{
					/* What a previous relay process had in flight is due again. */
					relay_begin("relay: release claims");
					if (SPI_execute("SELECT learning.relay_release_claims()", false, 0) != SPI_OK_SELECT)
						elog(ERROR, "learning.relay_release_claims failed");
					relay_commit();
					first = false;
				}
				relay_transaction(claim, maintain);
			}
			PG_CATCH();
			{
				/* Log, roll back and go on: leased rows are retried later. */
				EmitErrorReport();
				FlushErrorState();
				AbortCurrentTransaction();
				MemoryContextSwitchTo(TopMemoryContext);
				relay_drop_claimed();
				resetStringInfo(&results);
				n_results = 0;
				pgstat_report_activity(STATE_IDLE, NULL);
				failed = true;
			}
			PG_END_TRY();

			if (failed)
			{
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 RELAY_ERROR_PAUSE_MS, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				continue;
			}
			if (maintain)
				next_maintain = now + RELAY_MAINTAIN_MS * (int64) 1000;
			if (claim)
			{
				/*
				 * Found work: there may be more, claim again as soon as a
				 * slot is free.  Found none: poll again later (a webhook at
				 * its in-flight limit asks for a claim when one of its POSTs
				 * ends, see relay_collect).
				 */
				next_claim = n_claimed > 0 ? now :
					now + learning_relay_poll_interval * (int64) 1000;
			}
			relay_start_claimed();
		}

		/* 3. Wait for sockets, the next poll, or a signal. */
		if (n_inflight > 0)
		{
			int			numfds;

			if (!PostmasterIsAlive())
				proc_exit(1);
			(void) curl_multi_poll(relay_multi, NULL, 0, RELAY_CURL_WAIT_MS, &numfds);
		}
		else
		{
			long		wait_ms = (long) ((next_claim - GetCurrentTimestamp()) / 1000);

			/* the latch stays set when it woke us: the loop top claims at once */
			if (wait_ms > 0)
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 Min(wait_ms, (long) learning_relay_poll_interval),
								 PG_WAIT_EXTENSION);
		}
	}
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

/*
 * relay_transaction: the one short transaction of a loop turn.  Records the
 * finished attempts, runs the housekeeping when due and leases new due
 * deliveries when claim is set.  Exits the worker (code 0) when the extension
 * was dropped.
 */
static void
relay_transaction(bool claim, bool maintain)
{
	relay_begin("relay: record and claim");
	if (!OidIsValid(get_extension_oid("learning", true)))
	{
		relay_commit();
		ereport(LOG, (errmsg("learning relay: extension dropped, exiting")));
		proc_exit(0);
	}

	if (n_results > 0)
	{
		Oid			types[3] = {TEXTOID, INT4OID, TEXTOID};
		Datum		values[3];
		StringInfoData arr;
		char		base[32];

		initStringInfo(&arr);
		appendStringInfoChar(&arr, '[');
		appendBinaryStringInfo(&arr, results.data, results.len);
		appendStringInfoChar(&arr, ']');
		snprintf(base, sizeof(base), "%d ms", learning_webhook_retry_base);
		values[0] = CStringGetTextDatum(arr.data);
		values[1] = Int32GetDatum(learning_webhook_max_attempts);
		values[2] = CStringGetTextDatum(base);
		if (SPI_execute_with_args("SELECT learning.relay_record($1::jsonb, $2, $3::interval)",
								  3, types, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "learning.relay_record failed");
	}

	if (maintain)
	{
		Oid			types[2] = {TEXTOID, BOOLOID};
		Datum		values[2];
		char		retention[32];

		snprintf(retention, sizeof(retention), "%d s", learning_webhook_delivery_retention);
		values[0] = CStringGetTextDatum(retention);
		values[1] = BoolGetDatum(learning_sse_publish_url != NULL && learning_sse_publish_url[0] != '\0');
		if (SPI_execute_with_args("SELECT learning.relay_maintain($1::interval, $2)",
								  2, types, values, NULL, false, 0) != SPI_OK_SELECT)
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
}

/*
 * relay_claim leases up to the free in-flight slots of due deliveries and
 * prepares one transfer (URL, body, signed headers) per row in
 * claimed[]; they start after the commit.
 */
static void
relay_claim(void)
{
	Oid			types[7] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[7];
	StringInfoData full, busy, counts;
	char		lease[32];
	int64		ids[RELAY_MAX_INFLIGHT + RELAY_MAX_FAILING];
	int			cnt[RELAY_MAX_INFLIGHT + RELAY_MAX_FAILING];
	int			n_ids = 0;
	int			i, j;
	uint64		row;

	/* in-flight POSTs per webhook; failing webhooks even with none */
	for (i = 0; i < n_inflight + n_failing; i++)
	{
		int64		id = i < n_inflight ? inflight[i]->webhook_id : failing[i - n_inflight];

		for (j = 0; j < n_ids && ids[j] != id; j++)
			;
		if (j == n_ids)
		{
			ids[n_ids] = id;
			cnt[n_ids++] = 0;
		}
		if (i < n_inflight)
			cnt[j]++;
	}
	initStringInfo(&full);
	initStringInfo(&busy);
	initStringInfo(&counts);
	appendStringInfoChar(&full, '{');
	appendStringInfoChar(&busy, '{');
	appendStringInfoChar(&counts, '{');
	for (j = 0; j < n_ids; j++)
	{
		int			cap = relay_cap(ids[j]);

		if (cnt[j] >= cap)
			appendStringInfo(&full, "%s" INT64_FORMAT, full.len > 1 ? "," : "", ids[j]);
		/* a smaller cap is passed as slots already taken */
		appendStringInfo(&busy, "%s" INT64_FORMAT, j > 0 ? "," : "", ids[j]);
		appendStringInfo(&counts, "%s%d", j > 0 ? "," : "", cnt[j] + RELAY_PER_WEBHOOK - cap);
	}
	appendStringInfoChar(&full, '}');
	appendStringInfoChar(&busy, '}');
	appendStringInfoChar(&counts, '}');
	/* the lease outlives any attempt, so a leased row is never sent twice at once */
	snprintf(lease, sizeof(lease), "%d ms",
			 learning_webhook_timeout + learning_webhook_connect_timeout + 60000);

	values[0] = Int32GetDatum(RELAY_MAX_INFLIGHT - n_inflight);
	values[1] = CStringGetTextDatum(full.data);
	values[2] = CStringGetTextDatum(busy.data);
	values[3] = CStringGetTextDatum(counts.data);
	values[4] = Int32GetDatum(RELAY_PER_WEBHOOK);
	values[5] = CStringGetTextDatum(lease);
	values[6] = CStringGetTextDatum(learning_sse_publish_url ? learning_sse_publish_url : "");
	if (SPI_execute_with_args("SELECT tenant_id, webhook_id, event_id, attempt, url, secret, body "
							  "FROM learning.relay_claim($1, $2::bigint[], $3::bigint[], $4::int[], $5, $6::interval, $7)",
							  7, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "learning.relay_claim failed");

	for (row = 0; row < SPI_processed && n_claimed < RELAY_MAX_INFLIGHT; row++)
		claimed[n_claimed++] = relay_new_transfer(SPI_tuptable->vals[row], SPI_tuptable->tupdesc);
}

/*
 * relay_new_transfer builds the transfer of one claimed row: the body, and
 * for a webhook its signature headers (computed here, inside the
 * transaction, because PostgreSQL's HMAC needs a resource owner).
 */
static RelayTransfer *
relay_new_transfer(HeapTuple tuple, TupleDesc desc)
{
	MemoryContext old;
	RelayTransfer *t;
	char	   *url;
	char	   *body;
	char	   *secret = SPI_getvalue(tuple, desc, 6);	/* SPI memory */
	struct curl_slist *h = NULL;
	char		line[256];

	old = MemoryContextSwitchTo(RelayContext);
	t = palloc0(sizeof(RelayTransfer));
	t->tenant_id = SPI_getvalue(tuple, desc, 1);
	url = SPI_getvalue(tuple, desc, 5);
	body = SPI_getvalue(tuple, desc, 7);
	MemoryContextSwitchTo(old);
	t->webhook_id = pg_strtoint64(SPI_getvalue(tuple, desc, 2));
	t->event_id = pg_strtoint64(SPI_getvalue(tuple, desc, 3));
	t->attempt = pg_strtoint32(SPI_getvalue(tuple, desc, 4));
	t->post.url = url;
	t->post.body = body;
	t->post.body_len = body ? strlen(body) : 0;
	t->post.owner = t;
	/* the SSE publisher's URL is set by a superuser: not address-checked */
	t->post.trusted = t->webhook_id == 0;

	if (body == NULL)
		t->orphan = "event no longer in the outbox";
	else if (url == NULL)
		t->orphan = t->webhook_id == 0 ? "tenant has no SSE channel" : "webhook no longer exists";
	else if (t->webhook_id != 0 && secret == NULL)
		t->orphan = "webhook has no secret";
	if (t->orphan != NULL)
		return t;

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
	}
	n_claimed = 0;
}

/*
 * relay_collect turns every finished transfer into a result and frees it.
 * A 2xx answer is a success (also when its body was cut at the bound); a 3xx
 * is a failed attempt (redirects are never followed); anything else, or a
 * transport error, is a failed attempt.
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
		int			at_cap;
		char		buf[CURL_ERROR_SIZE + 128];

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &post);
		(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		t = (RelayTransfer *) post->owner;

		for (i = 0, at_cap = 0; i < n_inflight; i++)
			if (inflight[i]->webhook_id == t->webhook_id)
				at_cap++;
		at_cap = at_cap >= relay_cap(t->webhook_id);

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
		/* its webhook was at its limit: its due deliveries can go now */
		if (at_cap)
			next_claim = 0;
		for (i = 0; i < n_inflight && inflight[i] != t; i++)
			;
		if (i < n_inflight)
			inflight[i] = inflight[--n_inflight];
		relay_free_transfer(t);
	}
}

/*
 * relay_add_result appends one attempt to the JSON array that the next
 * transaction hands to learning.relay_record.
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
	if (ok || retry)
		relay_note_outcome(t->webhook_id, ok);
}

/*
 * relay_cap: how many POSTs of a webhook may be in flight at once; fewer
 * while its last attempt failed, so that dead or slow endpoints cannot take
 * the slots of healthy ones.
 */
static int
relay_cap(int64 webhook_id)
{
	int			i;

	for (i = 0; i < n_failing; i++)
		if (failing[i] == webhook_id)
			return RELAY_FAILING_CAP;
	return RELAY_PER_WEBHOOK;
}

/* relay_note_outcome remembers whether a webhook's last attempt failed. */
static void
relay_note_outcome(int64 webhook_id, bool ok)
{
	int			i;

	for (i = 0; i < n_failing && failing[i] != webhook_id; i++)
		;
	if (ok && i < n_failing)
		failing[i] = failing[--n_failing];
	else if (!ok && i == n_failing)
	{
		if (n_failing < RELAY_MAX_FAILING)
			failing[n_failing++] = webhook_id;
		else
			failing[failing_evict++ % RELAY_MAX_FAILING] = webhook_id;
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
 * learning_relay_wake_sql: learning.relay_wake(), called when the outbox
 * write queued deliveries (events.c), makes the commit of the current transaction wake the relay of
 * this database, so that a delivery starts without waiting for the next poll
 * (learning.relay_poll_interval remains the fallback, e.g. without
 * shared_preload_libraries or after PREPARE TRANSACTION).
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
 * relay_wake_xact_callback sets the latch of this database's relay worker
 * (its pid is in the launcher's shared table) once the transaction that
 * queued deliveries has committed, when the rows are visible to it.
 */
static void
relay_wake_xact_callback(XactEvent event, void *arg)
{
	pid_t		pid = 0;
	PGPROC	   *proc;

	if (!wake_at_commit)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	wake_at_commit = false;
	if ((event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT) ||
		LearningWorkers == NULL)
		return;

	LWLockAcquire(LearningWorkers->lock, LW_SHARED);
	{
		LearningDbSlot *slot = learning_slot_find(MyDatabaseId);

		if (slot != NULL)
			pid = slot->relay_pid;
	}
	LWLockRelease(LearningWorkers->lock);
	if (pid != 0 && (proc = BackendPidGetProc(pid)) != NULL)
		SetLatch(&proc->procLatch);
}

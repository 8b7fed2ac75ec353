/*-------------------------------------------------------------------------
 *
 * events.c
 *		The outbox of SPEC section 5: events collected in transaction memory,
 *		written to learning.events at commit, and exactly one NOTIFY per
 *		tenant per committed transaction on channel "learning:<tenant_id>".
 *
 * Collecting.  learning.emit_event adds one event.  The rollup triggers
 * (rollups.c) note every outcome and feedback row a statement records or
 * resolves; at the end of the statement the rows of one tenant and event
 * type become one event whose payload has the count, the count per status,
 * the first ITEM_CAP rows and "truncated".  So a job that resolves a million
 * outcomes writes one outcome_resolved event per tenant, not a million, and
 * record_outcome writes one outcome_recorded event per call.  Entries carry
 * their subtransaction: an aborted subtransaction takes its events with it.
 *
 * Writing, commit-ordered.  In the pre-commit callback, for each tenant in
 * name order, the transaction takes the tenant's outbox lock in ROW
 * EXCLUSIVE mode (writers do not block each other), inserts its events (ids
 * from the identity sequence) and queues the NOTIFY; the lock is held until
 * the commit is visible.  events_since takes the same lock in SHARE mode
 * while it reads, so it waits for every transaction that holds ids but is
 * not yet visible, and a transaction that takes ids later gets larger ones:
 * whatever a reader sees is a prefix of the final id order, so resuming
 * after the last id seen never leaves a gap and never repeats an event.
 * A rolled-back transaction writes and sends nothing.
 *
 * The payload: {"tenant_id", "first_id", "last_id", "count", "events":
 * [{id, type, count}...as many as fit], "truncated", "metrics": today's
 * counters from learning.daily_totals}, always under 8000 bytes.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "learning.h"

/* Rows listed in a statement event's payload; the rest are counted. */
#define ITEM_CAP			20
/* A NOTIFY payload stays below this many bytes (the server limit is 8000). */
#define PAYLOAD_BUDGET		7900
/* field4 of the outbox lock tag (advisory locks of users use 1 and 2). */
#define OUTBOX_LOCK_FIELD4	0x4C45

static const char *const statuses[] = {"pending", "positive", "negative", "ambiguous", "expired"};
#define NSTATUSES 5

/* The rows one statement noted for one tenant and event type. */
typedef struct StatementEvent
{
	char	   *tenant_id;
	char	   *event_type;
	SubTransactionId subid;
	int64		count;
	int64		by_status[NSTATUSES];
	bool		has_status;
	StringInfo	items;
	int			nitems;
} StatementEvent;

/* An event waiting for commit. */
typedef struct PendingEvent
{
	char	   *tenant_id;
	char	   *event_type;
	char	   *payload;
	SubTransactionId subid;
} PendingEvent;

/* Both lists live in TopTransactionContext and are dropped at transaction end. */
static List *statement_events = NIL;

/* Saved plan of the commit-time statement; the columns of its result. */
static SPIPlanPtr outbox_insert_plan = NULL;
#define QUEUED_COLUMN		4
#define METRICS_COLUMN		5
static List *pending_events = NIL;
static StatementEvent *last_statement_event = NULL;

PG_FUNCTION_INFO_V1(learning_emit_event);
PG_FUNCTION_INFO_V1(learning_events_since);

static void check_event_type(const char *event_type);
static void outbox_lock_tag(LOCKTAG *tag, const char *tenant_id);
static void write_tenant_events(const char *tenant_id, List *events, bool notify);
static void append_metrics(StringInfo buf, DateADT today, HeapTuple row, TupleDesc desc);
static int	pending_tenant_cmp(const ListCell *a, const ListCell *b);
static void forget_all(void);

/* check_event_type raises 22023 unless event_type is one of the five. */
static void
check_event_type(const char *event_type)
{
	if (strcmp(event_type, "outcome_recorded") != 0 && strcmp(event_type, "outcome_resolved") != 0 &&
		strcmp(event_type, "feedback_recorded") != 0 && strcmp(event_type, "calibration_adjusted") != 0 &&
		strcmp(event_type, "job_completed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event_type \"%s\"", event_type),
				 errdetail("Event types: calibration_adjusted, feedback_recorded, job_completed, outcome_recorded, outcome_resolved.")));
}

/*
 * learning_event_emit adds an event to the transaction's outbox.
 */
void
learning_event_emit(const char *tenant_id, const char *event_type, const char *payload_json)
{
	MemoryContext old;
	PendingEvent *e;

	learning_check_tenant_id(tenant_id);
	check_event_type(event_type);
	old = MemoryContextSwitchTo(TopTransactionContext);
	e = palloc(sizeof(PendingEvent));
	e->tenant_id = pstrdup(tenant_id);
	e->event_type = pstrdup(event_type);
	e->payload = pstrdup(payload_json);
	e->subid = GetCurrentSubTransactionId();
	pending_events = lappend(pending_events, e);
	MemoryContextSwitchTo(old);
}

/*
 * learning_event_row notes one row of the current statement for the event
 * (tenant, type); status (or NULL) is counted per status.  Returns the
 * buffer to append the row's JSON summary to, or NULL once ITEM_CAP rows are
 * listed.
 */
StringInfo
learning_event_row(const char *tenant_id, const char *event_type, const char *status)
{
	StatementEvent *s = last_statement_event;
	SubTransactionId subid = GetCurrentSubTransactionId();
	int			i;

	if (s == NULL || s->subid != subid || strcmp(s->tenant_id, tenant_id) != 0 ||
		strcmp(s->event_type, event_type) != 0)
	{
		ListCell   *lc;

		s = NULL;
		foreach(lc, statement_events)
		{
			StatementEvent *c = lfirst(lc);

			if (c->subid == subid && strcmp(c->tenant_id, tenant_id) == 0 &&
				strcmp(c->event_type, event_type) == 0)
			{
				s = c;
				break;
			}
		}
		if (s == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			s = palloc0(sizeof(StatementEvent));
			s->tenant_id = pstrdup(tenant_id);
			s->event_type = pstrdup(event_type);
			s->subid = subid;
			s->items = makeStringInfo();
			statement_events = lappend(statement_events, s);
			MemoryContextSwitchTo(old);
		}
		last_statement_event = s;
	}
	s->count++;
	if (status != NULL)
	{
		s->has_status = true;
		for (i = 0; i < NSTATUSES; i++)
			if (strcmp(status, statuses[i]) == 0)
				s->by_status[i]++;
	}
	if (s->nitems >= ITEM_CAP)
		return NULL;
	if (s->nitems++ > 0)
		appendStringInfoChar(s->items, ',');
	return s->items;
}

/*
 * learning_events_statement_end turns the rows the statement noted into one
 * event per (tenant, event type): {count, by_status, items, truncated}.
 */
void
learning_events_statement_end(void)
{
	ListCell   *lc;
	List	   *done = statement_events;

	statement_events = NIL;
	last_statement_event = NULL;
	foreach(lc, done)
	{
		StatementEvent *s = lfirst(lc);
		StringInfoData buf;
		bool		first = true;
		int			i;

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		learning_json_key(&buf, "count", &first);
		appendStringInfo(&buf, INT64_FORMAT, s->count);
		if (s->has_status)
		{
			bool		sfirst = true;

			learning_json_key(&buf, "by_status", &first);
			appendStringInfoChar(&buf, '{');
			for (i = 0; i < NSTATUSES; i++)
			{
				if (s->by_status[i] == 0)
					continue;
				learning_json_key(&buf, statuses[i], &sfirst);
				appendStringInfo(&buf, INT64_FORMAT, s->by_status[i]);
			}
			appendStringInfoChar(&buf, '}');
		}
		learning_json_key(&buf, "items", &first);
		appendStringInfoChar(&buf, '[');
		appendBinaryStringInfo(&buf, s->items->data, s->items->len);
		appendStringInfoChar(&buf, ']');
		learning_json_key(&buf, "truncated", &first);
		appendStringInfoString(&buf, s->count > s->nitems ? "true" : "false");
		appendStringInfoChar(&buf, '}');
		learning_event_emit(s->tenant_id, s->event_type, buf.data);
		pfree(buf.data);
	}
}

/* outbox_lock_tag fills the tag of a tenant's outbox lock in this database. */
static void
outbox_lock_tag(LOCKTAG *tag, const char *tenant_id)
{
	uint64		h = hash_bytes_extended((const unsigned char *) tenant_id, strlen(tenant_id), 0);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, OUTBOX_LOCK_FIELD4);
}

/*
 * append_metrics appends the tenant's counters of today (its time zone): the
 * sums the outbox statement read from learning.daily_totals, columns
 * METRICS_COLUMN.. of its result.
 */
static void
append_metrics(StringInfo buf, DateADT today, HeapTuple row, TupleDesc desc)
{
	static const char *const names[] = {"actions", "positive", "negative", "pending", "expired",
	"ambiguous", "feedback"};
	double		v[7];
	bool		first = true;
	int			i;

	for (i = 0; i < 7; i++)
	{
		bool		isnull;

		v[i] = DatumGetFloat8(SPI_getbinval(row, desc, METRICS_COLUMN + i, &isnull));
	}
	appendStringInfoChar(buf, '{');
	learning_json_key(buf, "day", &first);
	learning_json_date(buf, today);
	for (i = 0; i < 7; i++)
	{
		learning_json_key(buf, names[i], &first);
		appendStringInfo(buf, "%.0f", v[i]);
	}
	learning_json_key(buf, "success_rate", &first);
	learning_json_float(buf, v[1] + v[2] > 0 ? v[1] / (v[1] + v[2]) : 0.0);
	appendStringInfoChar(buf, '}');
}

/*
 * write_tenant_events inserts one tenant's events under its outbox lock
 * (held to the end of the transaction) and, unless preparing, queues the
 * tenant's one NOTIFY.  Runs inside SPI.
 */
static void
write_tenant_events(const char *tenant_id, List *events, bool notify)
{
	LOCKTAG		tag;
	int			n = list_length(events);
	Datum	   *types = palloc(sizeof(Datum) * n);
	Datum	   *payloads = palloc(sizeof(Datum) * n);
	Oid			argtypes[5] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID, DATEOID};
	Datum		values[5];
	DateADT		today = learning_local_day(learning_tenant_time_zone(tenant_id),
										   GetCurrentTransactionStartTimestamp());
	ListCell   *lc;
	int			i = 0;
	int			ret;
	StringInfoData buf, metrics;
	bool		first = true;
	bool		truncated = false;
	int64		first_id, last_id;
	int			listed = 0;
	char		channel[NAMEDATALEN];

	foreach(lc, events)
	{
		PendingEvent *e = lfirst(lc);

		types[i] = CStringGetTextDatum(e->event_type);
		payloads[i] = CStringGetTextDatum(e->payload);
		i++;
	}
	outbox_lock_tag(&tag, tenant_id);
	(void) LockAcquire(&tag, RowExclusiveLock, false, false);

	values[0] = CStringGetTextDatum(tenant_id);
	values[1] = PointerGetDatum(construct_array(types, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(payloads, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = BoolGetDatum(learning_sse_publish_url != NULL && learning_sse_publish_url[0] != '\0');
	values[4] = DateADTGetDatum(today);

	/*
	 * One statement writes the events and queues them for the relay: one row
	 * per event and matching enabled webhook (src/relay.c), and one per event
	 * for the SSE publisher when the tenant has a channel and publishing is
	 * on.  Queueing in the same transaction as the events means the relay
	 * never depends on ids committing in order.  The same statement reads
	 * today's counters for the notification (the rollups were written just
	 * before, deltas.c).
	 */
	ret = SPI_execute_plan(learning_saved_plan(&outbox_insert_plan,
											   "WITH ins AS (INSERT INTO learning.events (tenant_id, event_type, payload) "
											   "             SELECT $1, u.t, u.p::jsonb "
											   "               FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) "
											   "                    WITH ORDINALITY AS u(t, p, i) ORDER BY u.i "
											   "             RETURNING id, event_type, payload), "
											   "queued AS (INSERT INTO learning.relay_queue (tenant_id, webhook_id, event_id) "
											   "             SELECT $1, w.id, i.id FROM ins i JOIN learning.webhooks w "
											   "                 ON w.enabled AND (w.tenant_id = $1 OR w.tenant_id = '*') "
											   "                AND (w.event_types IS NULL OR i.event_type = ANY (w.event_types)) "
											   "             UNION ALL "
											   "             SELECT $1, 0, i.id FROM ins i "
											   "              WHERE $4 AND EXISTS (SELECT 1 FROM learning.sse_channels c WHERE c.tenant_id = $1) "
											   "             RETURNING 1) "
											   "SELECT id, event_type, CASE WHEN pg_catalog.jsonb_typeof(payload->'count') = 'number' "
											   "                       THEN (payload->>'count')::bigint ELSE 1 END, "
											   "       (SELECT pg_catalog.count(*) FROM queued), m.* "
											   "  FROM ins, "
											   "       (SELECT coalesce(sum(actions), 0)::float8, coalesce(sum(positive), 0)::float8, "
											   "               coalesce(sum(negative), 0)::float8, coalesce(sum(pending), 0)::float8, "
											   "               coalesce(sum(expired), 0)::float8, coalesce(sum(ambiguous), 0)::float8, "
											   "               coalesce(sum(feedback_count), 0)::float8 "
											   "          FROM learning.daily_totals WHERE tenant_id = $1 AND day = $5) m "
											   " ORDER BY id",
											   5, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != (uint64) n)
		elog(ERROR, "learning: writing the outbox failed: %s", SPI_result_code_string(ret));
	{
		bool		isnull;

		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, QUEUED_COLUMN, &isnull)) > 0)
			learning_relay_wake_at_commit();
	}
	if (!notify)
		return;

	/*
	 * The metrics first: the events list takes what room is left.  With
	 * learning.notify_metrics off, the payload carries only ids and event
	 * types: anyone who can connect may LISTEN, so a deployment with
	 * untrusted logins keeps business figures out of it.
	 */
	{
		SPITupleTable *tt = SPI_tuptable;
		bool		isnull;
		bool		figures = learning_notify_metrics;

		initStringInfo(&metrics);
		if (figures)
			append_metrics(&metrics, today, tt->vals[0], tt->tupdesc);
		first_id = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
		last_id = DatumGetInt64(SPI_getbinval(tt->vals[n - 1], tt->tupdesc, 1, &isnull));

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		learning_json_key(&buf, "tenant_id", &first);
		learning_json_string(&buf, tenant_id);
		learning_json_key(&buf, "first_id", &first);
		appendStringInfo(&buf, INT64_FORMAT, first_id);
		learning_json_key(&buf, "last_id", &first);
		appendStringInfo(&buf, INT64_FORMAT, last_id);
		learning_json_key(&buf, "count", &first);
		appendStringInfo(&buf, "%d", n);
		learning_json_key(&buf, "events", &first);
		appendStringInfoChar(&buf, '[');
		for (i = 0; i < n; i++)
		{
			char		item[160];
			int			len;

			if (figures)
				len = snprintf(item, sizeof(item), "%s{\"id\":" INT64_FORMAT ",\"type\":\"%s\",\"count\":" INT64_FORMAT "}",
							   listed > 0 ? "," : "",
							   DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull)),
							   TextDatumGetCString(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull)),
							   DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull)));
			else
				len = snprintf(item, sizeof(item), "%s{\"id\":" INT64_FORMAT ",\"type\":\"%s\"}",
							   listed > 0 ? "," : "",
							   DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull)),
							   TextDatumGetCString(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull)));
			/* room for this item, the closing bracket, "truncated" and the metrics */
			if (buf.len + len + 40 + metrics.len >= PAYLOAD_BUDGET)
			{
				truncated = true;
				break;
			}
			appendBinaryStringInfo(&buf, item, len);
			listed++;
		}
		appendStringInfoChar(&buf, ']');
		learning_json_key(&buf, "truncated", &first);
		appendStringInfoString(&buf, truncated ? "true" : "false");
		if (figures)
		{
			learning_json_key(&buf, "metrics", &first);
			appendBinaryStringInfo(&buf, metrics.data, metrics.len);
		}
		appendStringInfoChar(&buf, '}');
	}
	if (buf.len >= PAYLOAD_BUDGET)
		elog(ERROR, "learning: notification payload of %d bytes exceeds its budget", buf.len);

	snprintf(channel, sizeof(channel), "learning:%s", tenant_id);
	Async_Notify(channel, buf.data);
}

/* Write order: by tenant (so two committers take outbox locks in one order), then emission order. */
static int
pending_tenant_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((PendingEvent *) lfirst(a))->tenant_id, ((PendingEvent *) lfirst(b))->tenant_id);
}

static void
forget_all(void)
{
	statement_events = NIL;
	pending_events = NIL;
	last_statement_event = NULL;
}

/*
 * learning_events_xact_callback writes the outbox and queues the
 * notifications before commit (PreCommit_Notify runs after the pre-commit
 * callbacks in CommitTransaction); a prepared transaction writes its events
 * without a notification (NOTIFY cannot be prepared); an abort drops them.
 */
void
learning_events_xact_callback(int event)
{
	switch ((XactEvent) event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (statement_events != NIL)
				learning_events_statement_end();
			if (pending_events != NIL)
			{
				List	   *sorted = list_copy(pending_events);
				ListCell   *lc;
				List	   *group = NIL;
				const char *tenant = NULL;
				LearningPrivileged priv;

				list_sort(sorted, pending_tenant_cmp);	/* stable: keeps emission order */

				/*
				 * Write the outbox as the bootstrap superuser with a pinned
				 * search_path, whoever made the events (spi_util.c says why).
				 */
				PushActiveSnapshot(GetTransactionSnapshot());
				learning_privileged_begin(&priv);
				foreach(lc, sorted)
				{
					PendingEvent *e = lfirst(lc);

					if (tenant != NULL && strcmp(tenant, e->tenant_id) != 0)
					{
						write_tenant_events(tenant, group, event == XACT_EVENT_PRE_COMMIT);
						group = NIL;
					}
					tenant = e->tenant_id;
					group = lappend(group, e);
				}
				write_tenant_events(tenant, group, event == XACT_EVENT_PRE_COMMIT);
				learning_privileged_end(&priv);
				PopActiveSnapshot();
			}
			forget_all();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			forget_all();
			break;
		default:
			break;
	}
}

/* learning_events_subxact_abort drops what an aborted subtransaction noted. */
void
learning_events_subxact_abort(SubTransactionId mySubid)
{
	ListCell   *lc;

	foreach(lc, pending_events)
		if (((PendingEvent *) lfirst(lc))->subid == mySubid)
			pending_events = foreach_delete_current(pending_events, lc);
	foreach(lc, statement_events)
		if (((StatementEvent *) lfirst(lc))->subid == mySubid)
			statement_events = foreach_delete_current(statement_events, lc);
	last_statement_event = NULL;
}

/* learning_events_subxact_commit hands a committed subtransaction's events to its parent. */
void
learning_events_subxact_commit(SubTransactionId mySubid, SubTransactionId parentSubid)
{
	ListCell   *lc;

	foreach(lc, pending_events)
		if (((PendingEvent *) lfirst(lc))->subid == mySubid)
			((PendingEvent *) lfirst(lc))->subid = parentSubid;
	/* a statement event of the parent may exist already: keep them apart, both become events */
	foreach(lc, statement_events)
		if (((StatementEvent *) lfirst(lc))->subid == mySubid)
			((StatementEvent *) lfirst(lc))->subid = parentSubid;
	last_statement_event = NULL;
}

/* learning_emit_event: emit_event(tenant_id, event_type, payload jsonb). */
Datum
learning_emit_event(PG_FUNCTION_ARGS)
{
	char	   *payload = "{}";

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("tenant_id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("event_type must not be null")));
	if (!PG_ARGISNULL(2))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(2);

		payload = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	{
		char	   *tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
		ListCell   *lc;
		int64		n = 0;

		learning_event_emit(tenant_id, text_to_cstring(PG_GETARG_TEXT_PP(1)), payload);
		/* how many events the transaction holds for the tenant (counted here, off the row path) */
		foreach(lc, pending_events)
			if (strcmp(((PendingEvent *) lfirst(lc))->tenant_id, tenant_id) == 0)
				n++;
		PG_RETURN_INT64(n);
	}
}

/*
 * learning_events_since: events_since(tenant_id, after_id, max).  Reads under
 * the tenant's outbox lock in SHARE mode (see the file header), so the result
 * is a prefix of the final id order.
 */
Datum
learning_events_since(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *tenant_id;
	int64		after_id;
	int32		max;
	LOCKTAG		tag;
	Oid			argtypes[3] = {TEXTOID, INT8OID, INT4OID};
	Datum		values[3];
	int			ret;
	int			level;
	uint64		i;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("tenant_id must not be null")));
	tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	learning_check_tenant_id(tenant_id);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("after_id must not be null"),
						errhint("Pass 0 to read from the oldest retained event.")));
	after_id = PG_GETARG_INT64(1);
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("max must not be null")));
	max = PG_GETARG_INT32(2);
	if (max < 1 || max > 10000)
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("max must be between 1 and 10000, got %d", max)));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("events_since needs READ COMMITTED isolation"),
				 errdetail("A transaction snapshot taken earlier could miss events that commit later with smaller ids.")));

	InitMaterializedSRF(fcinfo, 0);

	values[0] = CStringGetTextDatum(tenant_id);
	values[1] = Int64GetDatum(after_id);
	values[2] = Int32GetDatum(max);
	outbox_lock_tag(&tag, tenant_id);
	(void) LockAcquire(&tag, ShareLock, false, false);
	level = learning_spi_connect();
	/* not read-only: the query takes a fresh snapshot while the lock is held */
	ret = SPI_execute_with_args("SELECT tenant_id, id, event_type, payload, created_at FROM learning.events "
								" WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
								3, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: reading the outbox failed: %s", SPI_result_code_string(ret));
	LockRelease(&tag, ShareLock, false);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		row[5];
		bool		nulls[5];
		int			c;

		for (c = 0; c < 5; c++)
			row[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	learning_spi_finish(level);
	return (Datum) 0;
}

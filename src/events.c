/*-------------------------------------------------------------------------
 *
 * events.c
 *		The outbox: events collected in transaction memory,
 *		written to learning.events at commit, and exactly one NOTIFY per
 *		tenant per committed transaction on channel "learning:<tenant_id>".
 *
 * Collecting.  The rollup triggers (rollups.c) note every outcome and
 * feedback row the transaction records or resolves, and the extension's own
 * announcements (check_and_adjust, the jobs) note theirs, in a hash table
 * keyed by (subtransaction, tenant, event type).  At commit each tenant and
 * event type becomes one event, however many statements or calls made it:
 * its payload has the count, the count per status, the first ITEM_CAP rows
 * and "truncated".  So 5000 record_outcome calls in one transaction write one
 * outcome_recorded event, one NOTIFY item, one SSE publication and one
 * delivery per webhook.  An aborted subtransaction takes its rows with it; a
 * committed one hands them to its parent.
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
 * A transaction that writes for more than OUTBOX_TENANT_LOCKS tenants takes
 * one database-wide outbox lock instead, which events_since also takes in
 * SHARE mode: the locks a commit holds stay bounded however many tenants it
 * touches.  A rolled-back transaction writes and sends nothing.
 *
 * Notifications.  They may arrive out of id order (two commits take ids and
 * queue their notifications in either order): a client resumes with
 * events_since after the last id it processed in order.  A notification that
 * cannot be queued never fails the writer: when PostgreSQL's notification
 * queue is fuller than learning.notify_queue_limit (half) (a listener idle in a
 * transaction holds it), the transaction's notifications are skipped with a
 * warning; the outbox keeps every event.
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

/* Rows listed in an event's payload; the rest are counted. */
#define ITEM_CAP			20
/* A NOTIFY payload stays below this many bytes (the server limit is 8000). */
#define PAYLOAD_BUDGET		7900
/* field4 of the outbox lock tags (advisory locks of users use 1 and 2). */
#define OUTBOX_LOCK_FIELD4	0x4C45
/* Beyond this many tenants, a commit takes the database-wide outbox lock. */
#define OUTBOX_TENANT_LOCKS	32
/* Longest event type name, with room to spare. */
#define EVENT_TYPE_MAXLEN	31

static const char *const statuses[] = {"pending", "positive", "negative", "ambiguous", "expired"};
#define NSTATUSES 5

/* The rows a (sub)transaction noted for one tenant and event type. */
typedef struct TxEventKey
{
	SubTransactionId subid;
	char		tenant_id[LEARNING_TENANT_MAXLEN + 1];
	char		event_type[EVENT_TYPE_MAXLEN + 1];
} TxEventKey;

typedef struct TxEvent
{
	TxEventKey	key;			/* hash key: must be first */
	uint64		seq;			/* order of first appearance in the transaction */
	int64		count;
	int64		by_status[NSTATUSES];
	bool		has_status;
	StringInfo	items;			/* the listed rows' JSON, comma-separated */
	int			nitems;
	int			item_start[ITEM_CAP];	/* where each listed row begins in items */
} TxEvent;

/* An event ready to be written: one per tenant and event type. */
typedef struct PendingEvent
{
	const char *tenant_id;
	const char *event_type;
	uint64		seq;
	char	   *payload;
} PendingEvent;

/* The transaction's noted rows, in TopTransactionContext; NULL when none. */
static HTAB *tx_events = NULL;
static TxEvent *last_tx_event = NULL;
static uint64 tx_event_seq = 0;

/* Saved plan of the commit-time statement (outbox_sql); the columns of its result. */
static SPIPlanPtr outbox_insert_plan = NULL;
static SPIPlanPtr outbox_single_plan = NULL;
#define COL_TENANT			1
#define COL_ID				2
#define COL_TYPE			3
#define COL_COUNT			4
#define COL_QUEUED			5
#define COL_METRICS			6
#define COL_DAY				13

PG_FUNCTION_INFO_V1(learning_emit_event);
PG_FUNCTION_INFO_V1(learning_events_since);

static void check_event_type(const char *event_type);
static TxEvent *tx_event(const char *tenant_id, const char *event_type, SubTransactionId subid);
static void tx_event_merge(TxEvent *into, const TxEvent *from);
static char *tx_event_payload(const TxEvent *e);
static void outbox_lock_tag(LOCKTAG *tag, const char *tenant_id);
static void outbox_all_lock_tag(LOCKTAG *tag);
static void write_events(PendingEvent *events, long n, long ntenants, bool notify);
static void notify_tenant(SPITupleTable *tt, uint64 from, uint64 to);
static void write_outbox(bool notify);
static bool notify_queue_has_room(void);
static void append_metrics(StringInfo buf, DateADT today, HeapTuple row, TupleDesc desc);
static int	pending_event_cmp(const void *a, const void *b);
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
 * tx_event returns the entry of (subid, tenant, event type), made on first
 * use.  The last one found is kept: a statement's rows mostly share it.
 */
static TxEvent *
tx_event(const char *tenant_id, const char *event_type, SubTransactionId subid)
{
	TxEventKey	key;
	TxEvent    *e;
	bool		found;

	if (last_tx_event != NULL && last_tx_event->key.subid == subid &&
		strcmp(last_tx_event->key.tenant_id, tenant_id) == 0 &&
		strcmp(last_tx_event->key.event_type, event_type) == 0)
		return last_tx_event;
	if (tx_events == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(TxEventKey);
		ctl.entrysize = sizeof(TxEvent);
		ctl.hcxt = TopTransactionContext;
		tx_events = hash_create("learning events of the transaction", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.subid = subid;
	strlcpy(key.tenant_id, tenant_id, sizeof(key.tenant_id));
	strlcpy(key.event_type, event_type, sizeof(key.event_type));
	e = hash_search(tx_events, &key, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		e->seq = tx_event_seq++;
		e->count = 0;
		memset(e->by_status, 0, sizeof(e->by_status));
		e->has_status = false;
		e->items = makeStringInfo();
		e->nitems = 0;
		MemoryContextSwitchTo(old);
	}
	last_tx_event = e;
	return e;
}

/*
 * learning_event_row notes one row of the transaction for the event (tenant,
 * type); status (or NULL) is counted per status.  Returns the buffer to
 * append the row's JSON summary to, or NULL once ITEM_CAP rows are listed.
 */
StringInfo
learning_event_row(const char *tenant_id, const char *event_type, const char *status)
{
	TxEvent    *e;
	int			i;

	learning_check_tenant_id(tenant_id);
	check_event_type(event_type);
	e = tx_event(tenant_id, event_type, GetCurrentSubTransactionId());
	e->count++;
	if (status != NULL)
	{
		e->has_status = true;
		for (i = 0; i < NSTATUSES; i++)
			if (strcmp(status, statuses[i]) == 0)
				e->by_status[i]++;
	}
	if (e->nitems >= ITEM_CAP)
		return NULL;
	if (e->nitems > 0)
		appendStringInfoChar(e->items, ',');
	e->item_start[e->nitems++] = e->items->len;
	return e->items;
}

/*
 * learning_event_emit notes one announcement (a JSON object) of the
 * extension's own for the tenant's event of that type.
 */
void
learning_event_emit(const char *tenant_id, const char *event_type, const char *payload_json)
{
	StringInfo	item = learning_event_row(tenant_id, event_type, NULL);

	if (item != NULL)
		appendStringInfoString(item, payload_json);
}

/* tx_event_merge adds a committed subtransaction's rows to its parent's. */
static void
tx_event_merge(TxEvent *into, const TxEvent *from)
{
	int			i;

	into->seq = Min(into->seq, from->seq);
	into->count += from->count;
	into->has_status |= from->has_status;
	for (i = 0; i < NSTATUSES; i++)
		into->by_status[i] += from->by_status[i];
	for (i = 0; i < from->nitems && into->nitems < ITEM_CAP; i++)
	{
		int			start = from->item_start[i];
		int			end = i + 1 < from->nitems ? from->item_start[i + 1] - 1 : from->items->len;

		if (into->nitems > 0)
			appendStringInfoChar(into->items, ',');
		into->item_start[into->nitems++] = into->items->len;
		appendBinaryStringInfo(into->items, from->items->data + start, end - start);
	}
}

/* tx_event_payload is the event's payload: {count, by_status, items, truncated}. */
static char *
tx_event_payload(const TxEvent *e)
{
	StringInfoData buf;
	bool		first = true;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	learning_json_key(&buf, "count", &first);
	appendStringInfo(&buf, INT64_FORMAT, e->count);
	if (e->has_status)
	{
		bool		sfirst = true;

		learning_json_key(&buf, "by_status", &first);
		appendStringInfoChar(&buf, '{');
		for (i = 0; i < NSTATUSES; i++)
		{
			if (e->by_status[i] == 0)
				continue;
			learning_json_key(&buf, statuses[i], &sfirst);
			appendStringInfo(&buf, INT64_FORMAT, e->by_status[i]);
		}
		appendStringInfoChar(&buf, '}');
	}
	learning_json_key(&buf, "items", &first);
	appendStringInfoChar(&buf, '[');
	appendBinaryStringInfo(&buf, e->items->data, e->items->len);
	appendStringInfoChar(&buf, ']');
	learning_json_key(&buf, "truncated", &first);
	appendStringInfoString(&buf, e->count > e->nitems ? "true" : "false");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * learning_events_statement_end: nothing to do since events are per
 * transaction.  Kept for the statement trigger of a 0.1.0 schema running
 * with this library until ALTER EXTENSION learning UPDATE.
 */
void
learning_events_statement_end(void)
{
}

/* outbox_lock_tag fills the tag of a tenant's outbox lock in this database. */
static void
outbox_lock_tag(LOCKTAG *tag, const char *tenant_id)
{
	uint64		h = hash_bytes_extended((const unsigned char *) tenant_id, strlen(tenant_id), 0);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, OUTBOX_LOCK_FIELD4);
}

/*
 * outbox_all_lock_tag fills the tag of the database-wide outbox lock (field4
 * tells it from every tenant's).
 */
static void
outbox_all_lock_tag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, 0, 0, OUTBOX_LOCK_FIELD4 + 1);
}

/*
 * notify_queue_has_room tells whether PostgreSQL's notification queue is at
 * most learning.notify_queue_limit full; if not, warns that this transaction's
 * notifications are skipped.  Queueing into a full queue would fail the
 * commit, and the outbox must never lose a writer's data to a listener that
 * stopped reading.
 */
static bool
notify_queue_has_room(void)
{
	double		usage = DatumGetFloat8(DirectFunctionCall1(pg_notification_queue_usage, (Datum) 0));

	if (usage <= learning_notify_queue_limit)
		return true;
	ereport(WARNING,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("skipping the notifications of this transaction: the notification queue is %.0f%% full",
					usage * 100.0),
			 errdetail("Its events are in learning.events: listeners catch up with learning.events_since."),
			 errhint("A session that listens and stays idle in a transaction holds the queue (see pg_stat_activity).")));
	return false;
}

/*
 * append_metrics appends the tenant's counters of today (its time zone): the
 * sums the outbox statement read from learning.daily_totals, columns
 * COL_METRICS.. of its result.
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

		v[i] = DatumGetFloat8(SPI_getbinval(row, desc, COL_METRICS + i, &isnull));
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
 * The commit-time statement: it writes every event of the transaction
 * (arrays $1 tenants, $2 types, $3 payloads, in id order), queues them for
 * the relay, one row per event and matching enabled webhook (src/relay.c)
 * and one per event for the SSE publisher when the tenant has a channel and
 * publishing is on ($4), and reads each tenant's counters of today ($5
 * tenants, $6 days) for the notifications (the rollups were written just
 * before, deltas.c).  Queueing in the same transaction as the events means
 * the relay never depends on ids committing in order.  One statement however
 * many tenants: its result is grouped by tenant in C.  The two "%s" are the
 * events and the tenants' days: arrays unnested, or, for the commit of one
 * event (the common case), one row of scalars (outbox_sources), which spares
 * the executor a function scan and a tuplestore per array.
 */
static const char *const outbox_sql =
	"WITH ins AS (INSERT INTO learning.events (tenant_id, event_type, payload) "
	"             SELECT u.t, u.e, u.p::jsonb "
	"               FROM %s AS u(t, e, p, i) ORDER BY u.i "
	"             RETURNING tenant_id, id, event_type, payload), "
	"queued AS (INSERT INTO learning.relay_queue (tenant_id, webhook_id, event_id) "
	"             SELECT i.tenant_id, w.id, i.id FROM ins i JOIN learning.webhooks w "
	"                 ON w.enabled AND (w.tenant_id = i.tenant_id OR w.tenant_id = '*') "
	"                AND (w.event_types IS NULL OR i.event_type = ANY (w.event_types)) "
	"             UNION ALL "
	"             SELECT i.tenant_id, 0, i.id FROM ins i "
	"              WHERE $4 AND EXISTS (SELECT 1 FROM learning.sse_channels c WHERE c.tenant_id = i.tenant_id) "
	"             RETURNING 1), "
	"m AS (SELECT d.t, d.day, coalesce(sum(r.actions), 0)::float8 AS actions, "
	"             coalesce(sum(r.positive), 0)::float8 AS positive, coalesce(sum(r.negative), 0)::float8 AS negative, "
	"             coalesce(sum(r.pending), 0)::float8 AS pending, coalesce(sum(r.expired), 0)::float8 AS expired, "
	"             coalesce(sum(r.ambiguous), 0)::float8 AS ambiguous, "
	"             coalesce(sum(r.feedback_count), 0)::float8 AS feedback "
	"        FROM %s AS d(t, day) "
	"        LEFT JOIN learning.daily_totals r ON r.tenant_id = d.t AND r.day = d.day "
	"       GROUP BY d.t, d.day) "
	"SELECT i.tenant_id, i.id, i.event_type, "
	"       CASE WHEN pg_catalog.jsonb_typeof(i.payload->'count') = 'number' "
	"            THEN (i.payload->>'count')::bigint ELSE 1 END, "
	"       (SELECT pg_catalog.count(*) FROM queued), "
	"       m.actions, m.positive, m.negative, m.pending, m.expired, m.ambiguous, m.feedback, m.day "
	"  FROM ins i JOIN m ON m.t = i.tenant_id "
	" ORDER BY i.tenant_id, i.id";

/*
 * notify_tenant queues a tenant's one notification from the rows [from, to)
 * of the statement's result: {tenant_id, first_id, last_id, count, events,
 * truncated, metrics}.  The metrics first: the events list takes what room is
 * left.  With learning.notify_metrics off the payload carries only ids and
 * event types: anyone who can connect may LISTEN, so a deployment with
 * untrusted logins keeps business figures out of it.
 */
static void
notify_tenant(SPITupleTable *tt, uint64 from, uint64 to)
{
	TupleDesc	desc = tt->tupdesc;
	bool		figures = learning_notify_metrics;
	bool		isnull;
	char	   *tenant_id = SPI_getvalue(tt->vals[from], desc, COL_TENANT);
	StringInfoData buf, metrics;
	bool		first = true;
	bool		truncated = false;
	char		channel[NAMEDATALEN];
	int			listed = 0;
	uint64		i;

	initStringInfo(&metrics);
	if (figures)
		append_metrics(&metrics, DatumGetDateADT(SPI_getbinval(tt->vals[from], desc, COL_DAY, &isnull)),
					   tt->vals[from], desc);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	learning_json_key(&buf, "tenant_id", &first);
	learning_json_string(&buf, tenant_id);
	learning_json_key(&buf, "first_id", &first);
	appendStringInfo(&buf, INT64_FORMAT, DatumGetInt64(SPI_getbinval(tt->vals[from], desc, COL_ID, &isnull)));
	learning_json_key(&buf, "last_id", &first);
	appendStringInfo(&buf, INT64_FORMAT, DatumGetInt64(SPI_getbinval(tt->vals[to - 1], desc, COL_ID, &isnull)));
	learning_json_key(&buf, "count", &first);
	appendStringInfo(&buf, UINT64_FORMAT, to - from);
	learning_json_key(&buf, "events", &first);
	appendStringInfoChar(&buf, '[');
	for (i = from; i < to; i++)
	{
		char		item[160];
		int			len;
		int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], desc, COL_ID, &isnull));
		char	   *type = SPI_getvalue(tt->vals[i], desc, COL_TYPE);

		if (figures)
			len = snprintf(item, sizeof(item), "%s{\"id\":" INT64_FORMAT ",\"type\":\"%s\",\"count\":" INT64_FORMAT "}",
						   listed > 0 ? "," : "", id, type,
						   DatumGetInt64(SPI_getbinval(tt->vals[i], desc, COL_COUNT, &isnull)));
		else
			len = snprintf(item, sizeof(item), "%s{\"id\":" INT64_FORMAT ",\"type\":\"%s\"}",
						   listed > 0 ? "," : "", id, type);
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
	if (buf.len >= PAYLOAD_BUDGET)
		elog(ERROR, "learning: notification payload of %d bytes exceeds its budget", buf.len);

	snprintf(channel, sizeof(channel), "learning:%s", tenant_id);
	Async_Notify(channel, buf.data);
	pfree(buf.data);
	pfree(metrics.data);
}

/* outbox_statement is outbox_sql for n events (arrays) or one (scalars). */
static char *
outbox_statement(bool single)
{
	if (single)
		return psprintf(outbox_sql, "(VALUES ($1, $2, $3, 1::bigint))", "(VALUES ($5, $6))");
	return psprintf(outbox_sql,
					"ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) WITH ORDINALITY",
					"ROWS FROM (pg_catalog.unnest($5), pg_catalog.unnest($6))");
}

/*
 * write_events runs the commit-time statement for the sorted events, wakes
 * the relay when deliveries were queued and, unless preparing, queues one
 * notification per tenant.  Runs inside SPI.
 */
static void
write_events(PendingEvent *events, long n, long ntenants, bool notify)
{
	bool		single = n == 1;
	Oid			argtypes[6] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID, TEXTARRAYOID, DATEARRAYOID};
	Oid			single_types[6] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, DATEOID};
	Datum		values[6];
	Datum	   *tenants = palloc(sizeof(Datum) * n);
	Datum	   *types = palloc(sizeof(Datum) * n);
	Datum	   *payloads = palloc(sizeof(Datum) * n);
	Datum	   *distinct = palloc(sizeof(Datum) * ntenants);
	Datum	   *days = palloc(sizeof(Datum) * ntenants);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	SPITupleTable *tt;
	bool		isnull;
	long		i, k = 0;
	uint64		from, r;
	int			ret;

	for (i = 0; i < n; i++)
	{
		tenants[i] = CStringGetTextDatum(events[i].tenant_id);
		types[i] = CStringGetTextDatum(events[i].event_type);
		payloads[i] = CStringGetTextDatum(events[i].payload);
		if (i == 0 || strcmp(events[i].tenant_id, events[i - 1].tenant_id) != 0)
		{
			distinct[k] = tenants[i];
			days[k++] = DateADTGetDatum(learning_local_day(learning_tenant_time_zone(events[i].tenant_id), now));
		}
	}
	values[3] = BoolGetDatum(learning_sse_publish_url != NULL && learning_sse_publish_url[0] != '\0');
	if (single)
	{
		values[0] = tenants[0];
		values[1] = types[0];
		values[2] = payloads[0];
		values[4] = distinct[0];
		values[5] = days[0];
		learning_plan_keyed_lookups();
		if (outbox_single_plan == NULL)
			(void) learning_saved_plan(&outbox_single_plan, outbox_statement(true), 6, single_types);
		ret = SPI_execute_plan(outbox_single_plan, values, NULL, false, 0);
	}
	else
	{
		values[0] = PointerGetDatum(construct_array(tenants, n, TEXTOID, -1, false, TYPALIGN_INT));
		values[1] = PointerGetDatum(construct_array(types, n, TEXTOID, -1, false, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(payloads, n, TEXTOID, -1, false, TYPALIGN_INT));
		values[4] = PointerGetDatum(construct_array(distinct, k, TEXTOID, -1, false, TYPALIGN_INT));
		values[5] = PointerGetDatum(construct_array(days, k, DATEOID, 4, true, TYPALIGN_INT));
		if (n <= LEARNING_GENERIC_PLAN_ROWS)
		{
			learning_plan_keyed_lookups();
			if (outbox_insert_plan == NULL)
				(void) learning_saved_plan(&outbox_insert_plan, outbox_statement(false), 6, argtypes);
			ret = SPI_execute_plan(outbox_insert_plan, values, NULL, false, 0);
		}
		else
			ret = SPI_execute_with_args(outbox_statement(false), 6, argtypes, values, NULL, false, 0);
	}
	if (ret != SPI_OK_SELECT || SPI_processed != (uint64) n)
		elog(ERROR, "learning: writing the outbox failed: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	if (DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, COL_QUEUED, &isnull)) > 0)
		learning_relay_wake_at_commit();
	if (!notify)
		return;
	for (from = 0, r = 1; r <= SPI_processed; r++)
	{
		if (r < SPI_processed &&
			strcmp(SPI_getvalue(tt->vals[r], tt->tupdesc, COL_TENANT),
				   SPI_getvalue(tt->vals[from], tt->tupdesc, COL_TENANT)) == 0)
			continue;
		notify_tenant(tt, from, r);
		from = r;
	}
}

/*
 * Write order: by tenant (so two committers take outbox locks in one order),
 * then in the order the transaction first noted each event type.
 */
static int
pending_event_cmp(const void *a, const void *b)
{
	const PendingEvent *x = a;
	const PendingEvent *y = b;
	int			c = strcmp(x->tenant_id, y->tenant_id);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

static void
forget_all(void)
{
	tx_events = NULL;			/* its memory goes with TopTransactionContext */
	last_tx_event = NULL;
	tx_event_seq = 0;
}

/*
 * write_outbox writes one event per tenant and event type, grouped by
 * tenant, as the bootstrap superuser with a pinned search_path (spi_util.c
 * says why), and queues one notification per tenant when notify.
 */
static void
write_outbox(bool notify)
{
	long		n = hash_get_num_entries(tx_events);
	PendingEvent *events = palloc(sizeof(PendingEvent) * n);
	HASH_SEQ_STATUS scan;
	TxEvent    *e;
	long		i = 0, ntenants = 0;
	bool		per_tenant;
	LearningPrivileged priv;

	hash_seq_init(&scan, tx_events);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		events[i].tenant_id = e->key.tenant_id;
		events[i].event_type = e->key.event_type;
		events[i].seq = e->seq;
		events[i].payload = tx_event_payload(e);
		i++;
	}
	qsort(events, n, sizeof(PendingEvent), pending_event_cmp);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(events[i].tenant_id, events[i - 1].tenant_id) != 0)
			ntenants++;

	/* bounded locking: one lock per tenant up to a bound, one for all beyond */
	per_tenant = ntenants <= OUTBOX_TENANT_LOCKS;
	if (!per_tenant)
	{
		LOCKTAG		tag;

		outbox_all_lock_tag(&tag);
		(void) LockAcquire(&tag, RowExclusiveLock, false, false);
	}
	if (notify)
		notify = notify_queue_has_room();

	PushActiveSnapshot(GetTransactionSnapshot());
	learning_privileged_begin(&priv);
	if (per_tenant)
		for (i = 0; i < n; i++)
			if (i == 0 || strcmp(events[i].tenant_id, events[i - 1].tenant_id) != 0)
			{
				LOCKTAG		tag;

				outbox_lock_tag(&tag, events[i].tenant_id);
				(void) LockAcquire(&tag, RowExclusiveLock, false, false);
			}
	write_events(events, n, ntenants, notify);
	learning_privileged_end(&priv);
	PopActiveSnapshot();
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
			if (tx_events != NULL && hash_get_num_entries(tx_events) > 0)
				write_outbox(event == XACT_EVENT_PRE_COMMIT);
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

/* tx_events_of lists the entries a subtransaction noted. */
static List *
tx_events_of(SubTransactionId subid)
{
	HASH_SEQ_STATUS scan;
	TxEvent    *e;
	List	   *found = NIL;

	if (tx_events == NULL)
		return NIL;
	hash_seq_init(&scan, tx_events);
	while ((e = hash_seq_search(&scan)) != NULL)
		if (e->key.subid == subid)
			found = lappend(found, e);
	return found;
}

/* learning_events_subxact_abort drops what an aborted subtransaction noted. */
void
learning_events_subxact_abort(SubTransactionId mySubid)
{
	ListCell   *lc;
	List	   *gone = tx_events_of(mySubid);

	foreach(lc, gone)
		(void) hash_search(tx_events, &((TxEvent *) lfirst(lc))->key, HASH_REMOVE, NULL);
	list_free(gone);
	last_tx_event = NULL;
}

/* learning_events_subxact_commit hands a committed subtransaction's rows to its parent. */
void
learning_events_subxact_commit(SubTransactionId mySubid, SubTransactionId parentSubid)
{
	ListCell   *lc;
	List	   *moved = tx_events_of(mySubid);

	foreach(lc, moved)
	{
		TxEvent    *child = lfirst(lc);
		TxEvent    *parent = tx_event(child->key.tenant_id, child->key.event_type, parentSubid);

		tx_event_merge(parent, child);
		(void) hash_search(tx_events, &child->key, HASH_REMOVE, NULL);
	}
	list_free(moved);
	last_tx_event = NULL;
}

/* learning_emit_event: emit_event(tenant_id, event_type, payload jsonb). */
Datum
learning_emit_event(PG_FUNCTION_ARGS)
{
	char	   *payload = "{}";

	learning_require_arg(fcinfo, 0, "tenant_id");
	learning_require_arg(fcinfo, 1, "event_type");
	if (!PG_ARGISNULL(2))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(2);

		payload = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	{
		char	   *tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
		char	   *event_type = text_to_cstring(PG_GETARG_TEXT_PP(1));

		learning_event_emit(tenant_id, event_type, payload);
		/* how many rows the transaction's event of that tenant and type holds so far */
		PG_RETURN_INT64(tx_event(tenant_id, event_type, GetCurrentSubTransactionId())->count);
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
	LOCKTAG		tag, all_tag;
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
	/* wait for the committers holding ids of this tenant, or of every tenant */
	outbox_lock_tag(&tag, tenant_id);
	(void) LockAcquire(&tag, ShareLock, false, false);
	outbox_all_lock_tag(&all_tag);
	(void) LockAcquire(&all_tag, ShareLock, false, false);
	level = learning_spi_connect();
	/* not read-only: the query takes a fresh snapshot while the lock is held */
	ret = SPI_execute_with_args("SELECT tenant_id, id, event_type, payload, created_at FROM learning.events "
								" WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
								3, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: reading the outbox failed: %s", SPI_result_code_string(ret));
	LockRelease(&all_tag, ShareLock, false);
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


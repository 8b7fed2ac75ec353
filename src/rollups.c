/*-------------------------------------------------------------------------
 *
 * rollups.c
 *		The dashboard rollups: triggers on learning.outcome_records and
 *		learning.feedback_entries that keep learning.outcome_rollups,
 *		learning.daily_totals, learning.conversation_days and
 *		learning.feedback_rollups exact in the writer's transaction, and note
 *		the rows' outbox events (events.c).
 *
 * Each row's contribution is a set of keyed deltas (deltas.c): an INSERT adds
 * the new row, a DELETE subtracts the old one, an UPDATE that changes a
 * number-bearing column (outcome_changes_rollups; a resolution always does)
 * subtracts the old row and adds the new one.  The deltas are written at
 * commit, one upsert per table (deltas.c), and so are the events noted here
 * (events.c, one per transaction, tenant and type).  Days are local calendar
 * days in the tenant's time zone (tenant_time.c).
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/rollups.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "learning.h"

PG_FUNCTION_INFO_V1(learning_outcome_rollup);
PG_FUNCTION_INFO_V1(learning_feedback_rollup);
PG_FUNCTION_INFO_V1(learning_rollup_flush);

/* outcome_rollups: 6 keys, 10 values. */
static DeltaTarget outcome_rollups_target = {
	"outcome rollups", 6, 10,
	"INSERT INTO learning.outcome_rollups AS r (tenant_id, day, rep_id, action_type, outcome_type, "
	"  escalation_trigger, shard, actions, pending, positive, negative, ambiguous, expired, score_sum, "
	"  cost_sum, cost_count, deals_closed_won) "
	"SELECT u.t, u.d::date, u.r, u.a, u.o, u.e, $17, u.n::bigint, u.pe::bigint, u.po::bigint, "
	"       u.ne::bigint, u.am::bigint, u.ex::bigint, u.ss, u.cs, u.cn::bigint, u.cw::bigint "
	"  FROM %s AS u(t, d, r, a, o, e, n, pe, po, ne, am, ex, ss, cs, cn, cw) "
	"ON CONFLICT (tenant_id, day, rep_id, action_type, outcome_type, escalation_trigger, shard) DO UPDATE SET "
	"  actions = r.actions + excluded.actions, pending = r.pending + excluded.pending, "
	"  positive = r.positive + excluded.positive, negative = r.negative + excluded.negative, "
	"  ambiguous = r.ambiguous + excluded.ambiguous, expired = r.expired + excluded.expired, "
	"  score_sum = r.score_sum + excluded.score_sum, cost_sum = r.cost_sum + excluded.cost_sum, "
	"  cost_count = r.cost_count + excluded.cost_count, "
	"  deals_closed_won = r.deals_closed_won + excluded.deals_closed_won",
	NULL
};

/* daily_totals: 2 keys, 10 values (the conversation counts come from conversation_days). */
static DeltaTarget daily_totals_target = {
	"daily totals", 2, 10,
	"INSERT INTO learning.daily_totals AS r (tenant_id, day, shard, actions, pending, positive, negative, "
	"  ambiguous, expired, escalations, feedback_count, feedback_rating_sum, feedback_normalized_sum) "
	"SELECT u.t, u.d::date, $13, u.n::bigint, u.pe::bigint, u.po::bigint, u.ne::bigint, u.am::bigint, "
	"       u.ex::bigint, u.es::bigint, u.fc::bigint, u.fr, u.fn "
	"  FROM %s AS u(t, d, n, pe, po, ne, am, ex, es, fc, fr, fn) "
	"ON CONFLICT (tenant_id, day, shard) DO UPDATE SET "
	"  actions = r.actions + excluded.actions, pending = r.pending + excluded.pending, "
	"  positive = r.positive + excluded.positive, negative = r.negative + excluded.negative, "
	"  ambiguous = r.ambiguous + excluded.ambiguous, expired = r.expired + excluded.expired, "
	"  escalations = r.escalations + excluded.escalations, "
	"  feedback_count = r.feedback_count + excluded.feedback_count, "
	"  feedback_rating_sum = r.feedback_rating_sum + excluded.feedback_rating_sum, "
	"  feedback_normalized_sum = r.feedback_normalized_sum + excluded.feedback_normalized_sum",
	NULL
};

/*
 * conversation_days: 3 keys, 2 values.  The upsert returns the new counts;
 * joined with the deltas they tell which (conversation, day) pairs became
 * active or inactive, with or without feedback, and those transitions go to
 * daily_totals in the same statement.  The row lock of the upsert orders
 * concurrent writers of one conversation and day, so the counts stay exact.
 */
static DeltaTarget conversation_days_target = {
	"conversation days", 3, 2,
	"WITH u AS (SELECT u.t, u.c, u.d::date AS d, u.o::bigint AS o, u.f::bigint AS f "
	"             FROM %s AS u(t, c, d, o, f)), "
	"up AS (INSERT INTO learning.conversation_days AS cd (tenant_id, conversation_state_id, day, outcomes, feedbacks) "
	"       SELECT u.t, u.c, u.d, u.o, u.f FROM u "
	"       ON CONFLICT (tenant_id, conversation_state_id, day) DO UPDATE SET "
	"         outcomes = cd.outcomes + excluded.outcomes, feedbacks = cd.feedbacks + excluded.feedbacks "
	"       RETURNING cd.tenant_id, cd.conversation_state_id, cd.day, cd.outcomes, cd.feedbacks), "
	"tr AS (SELECT up.tenant_id, up.day, "
	"              sum((up.outcomes > 0)::int - (up.outcomes - u.o > 0)::int) AS dc, "
	"              sum((up.outcomes > 0 AND up.feedbacks > 0)::int "
	"                  - (up.outcomes - u.o > 0 AND up.feedbacks - u.f > 0)::int) AS dcf "
	"         FROM up JOIN u ON u.t = up.tenant_id AND u.c = up.conversation_state_id AND u.d = up.day "
	"        GROUP BY up.tenant_id, up.day), "
	/* the conversations' last outcome and feedback days, after this write */
	"aff AS (SELECT DISTINCT u.t, u.c FROM u), "
	"merged AS (SELECT cd.tenant_id AS t, cd.conversation_state_id AS c, cd.day, cd.outcomes, cd.feedbacks "
	"             FROM learning.conversation_days cd JOIN aff ON cd.tenant_id = aff.t AND cd.conversation_state_id = aff.c "
	"            WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.tenant_id = cd.tenant_id "
	"                                 AND up.conversation_state_id = cd.conversation_state_id AND up.day = cd.day) "
	"           UNION ALL "
	"           SELECT up.tenant_id, up.conversation_state_id, up.day, up.outcomes, up.feedbacks FROM up), "
	"cur AS (SELECT m.t, m.c, max(m.day) FILTER (WHERE m.outcomes > 0) AS lo, "
	"               max(m.day) FILTER (WHERE m.feedbacks > 0) AS lf "
	"          FROM merged m GROUP BY m.t, m.c), "
	"old AS (SELECT l.tenant_id AS t, l.last_outcome_day AS lo, l.last_feedback_day AS lf "
	"          FROM learning.conversation_last l JOIN aff a ON l.tenant_id = a.t AND l.conversation_state_id = a.c), "
	"lastup AS (UPDATE learning.conversation_last l SET last_outcome_day = cur.lo, last_feedback_day = cur.lf "
	"             FROM cur WHERE l.tenant_id = cur.t AND l.conversation_state_id = cur.c "
	"              AND (l.last_outcome_day, l.last_feedback_day) IS DISTINCT FROM (cur.lo, cur.lf) RETURNING 1), "
	"hist AS (SELECT h.t, h.day, sum(h.n) AS n, sum(h.nf) AS nf FROM ( "
	"           SELECT o.t, o.lo AS day, -1 AS n, 0 AS nf FROM old o WHERE o.lo IS NOT NULL "
	"           UNION ALL SELECT o.t, least(o.lo, o.lf), 0, -1 FROM old o WHERE o.lo IS NOT NULL AND o.lf IS NOT NULL "
	"           UNION ALL SELECT n.t, n.lo, 1, 0 FROM cur n WHERE n.lo IS NOT NULL "
	"           UNION ALL SELECT n.t, least(n.lo, n.lf), 0, 1 FROM cur n WHERE n.lo IS NOT NULL AND n.lf IS NOT NULL) h "
	"         GROUP BY h.t, h.day HAVING sum(h.n) <> 0 OR sum(h.nf) <> 0), "
	"cov AS (INSERT INTO learning.conversation_coverage AS r (tenant_id, day, shard, conversations, with_feedback) "
	"        SELECT hist.t, hist.day, $6, hist.n, hist.nf FROM hist ORDER BY hist.t, hist.day "
	"        ON CONFLICT (tenant_id, day, shard) DO UPDATE SET "
	"          conversations = r.conversations + excluded.conversations, "
	"          with_feedback = r.with_feedback + excluded.with_feedback RETURNING 1) "
	"INSERT INTO learning.daily_totals AS r (tenant_id, day, shard, conversations, conversations_with_feedback) "
	"SELECT tr.tenant_id, tr.day, $6, tr.dc, tr.dcf FROM tr WHERE tr.dc <> 0 OR tr.dcf <> 0 "
	"ORDER BY tr.tenant_id, tr.day "
	"ON CONFLICT (tenant_id, day, shard) DO UPDATE SET "
	"  conversations = r.conversations + excluded.conversations, "
	"  conversations_with_feedback = r.conversations_with_feedback + excluded.conversations_with_feedback",
	NULL,
	/* lock the conversations' conversation_last rows first, in key order */
	"INSERT INTO learning.conversation_last AS l (tenant_id, conversation_state_id) "
	"SELECT DISTINCT u.t, u.c FROM %s AS u(t, c, d, o, f) "
	" ORDER BY 1, 2 "
	"ON CONFLICT (tenant_id, conversation_state_id) DO UPDATE SET tenant_id = excluded.tenant_id",
	NULL
};

/* feedback_rollups: 7 keys, 1 value. */
static DeltaTarget feedback_rollups_target = {
	"feedback rollups", 7, 1,
	"INSERT INTO learning.feedback_rollups AS r (tenant_id, day, reviewer_id, reviewer_role, target_type, "
	"  source, rating, shard, n) "
	"SELECT u.t, u.d::date, u.rv, u.ro, u.tt, u.s, u.ra::integer, $9, u.n::bigint "
	"  FROM %s AS u(t, d, rv, ro, tt, s, ra, n) "
	"ON CONFLICT (tenant_id, day, reviewer_id, reviewer_role, target_type, source, rating, shard) "
	"DO UPDATE SET n = r.n + excluded.n",
	NULL
};

static void outcome_contribution(HeapTuple tuple, TupleDesc desc, double sign, bool conversation);
static void feedback_contribution(HeapTuple tuple, TupleDesc desc, double sign);
static void note_outcome_event(HeapTuple tuple, TupleDesc desc, const char *event_type);

/* metadata_text returns metadata->>key of a tuple, or NULL. */
static char *
metadata_text(HeapTuple tuple, TupleDesc desc, const char *key)
{
	bool		isnull;
	Datum		md = learning_tuple_datum(tuple, desc, "metadata", &isnull);
	Jsonb	   *jb;
	JsonbValue	k, *v;

	if (isnull)
		return NULL;
	jb = DatumGetJsonbP(md);
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL || v->type == jbvNull)
		return NULL;
	/* the text of metadata->>key, whatever the JSON type of the value */
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			return NULL;
	}
}

/*
 * outcome_contribution adds sign * (one outcome row) to the outcome rollups,
 * the daily totals and, when conversation is true, the conversation days.
 */
static void
outcome_contribution(HeapTuple tuple, TupleDesc desc, double sign, bool conversation)
{
	char	   *tenant_id = learning_tuple_text(tuple, desc, "tenant_id");
	char	   *status = learning_tuple_text(tuple, desc, "status");
	char	   *outcome_type = learning_tuple_text(tuple, desc, "outcome_type");
	char	   *rep_id = learning_tuple_text(tuple, desc, "rep_id");
	char	   *trigger = NULL;
	bool		isnull, cost_null;
	TimestampTz created_at = DatumGetTimestampTz(learning_tuple_datum(tuple, desc, "created_at", &isnull));
	Datum		score = learning_tuple_datum(tuple, desc, "outcome_score", &isnull);
	Datum		cost = learning_tuple_datum(tuple, desc, "cost", &cost_null);
	char		day[16];
	const char *keys[6];
	double		v[10];
	double		t[10];
	bool		escalation = strcmp(outcome_type, "escalation_result") == 0;

	learning_format_date(day, sizeof(day), learning_local_day(learning_tenant_time_zone(tenant_id), created_at));
	if (escalation)
	{
		trigger = metadata_text(tuple, desc, "escalation_trigger");
		if (trigger == NULL)
			trigger = "unknown";
	}

	memset(v, 0, sizeof(v));
	v[0] = 1;
	if (strcmp(status, "pending") == 0)
		v[1] = 1;
	else if (strcmp(status, "positive") == 0)
	{
		char	   *stage;

		v[2] = 1;
		v[6] = isnull ? 1.0 : DatumGetFloat8(score);
		if (strcmp(outcome_type, "deal_progression") == 0 &&
			(stage = metadata_text(tuple, desc, "deal_stage_at_resolution")) != NULL &&
			strcmp(stage, "closed_won") == 0)
			v[9] = 1;
	}
	else if (strcmp(status, "negative") == 0)
		v[3] = 1;
	else if (strcmp(status, "ambiguous") == 0)
		v[4] = 1;
	else if (strcmp(status, "expired") == 0)
		v[5] = 1;
	if (!cost_null)
	{
		v[7] = DatumGetFloat8(DirectFunctionCall1(numeric_float8, cost));
		v[8] = 1;
	}
	keys[0] = tenant_id;
	keys[1] = day;
	keys[2] = rep_id;
	keys[3] = learning_tuple_text(tuple, desc, "action_type");
	keys[4] = outcome_type;
	keys[5] = escalation ? trigger : "";
	learning_delta_add(&outcome_rollups_target, keys, v, sign);

	memset(t, 0, sizeof(t));
	memcpy(t, v, sizeof(double) * 6);
	t[6] = escalation ? 1 : 0;
	learning_delta_add(&daily_totals_target, keys, t, sign);

	if (conversation)
	{
		const char *ckeys[3];
		double		c[2] = {1, 0};

		ckeys[0] = tenant_id;
		ckeys[1] = learning_tuple_text(tuple, desc, "conversation_state_id");
		ckeys[2] = day;
		learning_delta_add(&conversation_days_target, ckeys, c, sign);
	}
}

/* feedback_contribution adds sign * (one feedback row) to its rollups. */
static void
feedback_contribution(HeapTuple tuple, TupleDesc desc, double sign)
{
	char	   *tenant_id = learning_tuple_text(tuple, desc, "tenant_id");
	char	   *source = learning_tuple_text(tuple, desc, "source");
	char	   *rating = learning_tuple_text(tuple, desc, "rating");
	bool		isnull;
	TimestampTz created_at = DatumGetTimestampTz(learning_tuple_datum(tuple, desc, "created_at", &isnull));
	char		day[16];
	const char *keys[7];
	double		one = 1;
	double		t[10];
	const char *ckeys[3];
	double		c[2] = {0, 1};
	double		r = atof(rating);

	learning_format_date(day, sizeof(day), learning_local_day(learning_tenant_time_zone(tenant_id), created_at));
	keys[0] = tenant_id;
	keys[1] = day;
	keys[2] = learning_tuple_text(tuple, desc, "reviewer_id");
	keys[3] = learning_tuple_text(tuple, desc, "reviewer_role");
	keys[4] = learning_tuple_text(tuple, desc, "target_type");
	keys[5] = source;
	keys[6] = rating;
	learning_delta_add(&feedback_rollups_target, keys, &one, sign);

	memset(t, 0, sizeof(t));
	t[7] = 1;
	t[8] = r;
	t[9] = strcmp(source, "inline") == 0 ? (r + 1.0) / 2.0 : (r - 1.0) / 4.0;
	learning_delta_add(&daily_totals_target, keys, t, sign);

	ckeys[0] = tenant_id;
	ckeys[1] = learning_tuple_text(tuple, desc, "conversation_state_id");
	ckeys[2] = day;
	learning_delta_add(&conversation_days_target, ckeys, c, sign);
}

/* json_column appends "column": the column's text, from a tuple (an event item's field). */
static void
json_column(StringInfo buf, HeapTuple tuple, TupleDesc desc, const char *column, bool *first)
{
	learning_json_key(buf, column, first);
	learning_json_string(buf, learning_tuple_text(tuple, desc, column));
}

/* note_outcome_event notes an outcome row for its statement's outbox event. */
static void
note_outcome_event(HeapTuple tuple, TupleDesc desc, const char *event_type)
{
	char	   *tenant_id = learning_tuple_text(tuple, desc, "tenant_id");
	char	   *status = learning_tuple_text(tuple, desc, "status");
	StringInfo	item = learning_event_row(tenant_id, event_type, status);

	if (item != NULL)
	{
		bool		first = true;

		appendStringInfoChar(item, '{');
		json_column(item, tuple, desc, "id", &first);
		json_column(item, tuple, desc, "action_type", &first);
		json_column(item, tuple, desc, "outcome_type", &first);
		json_column(item, tuple, desc, "rep_id", &first);
		learning_json_key(item, "status", &first);
		learning_json_string(item, status);
		appendStringInfoChar(item, '}');
	}
}

/* The tables and columns the rollup triggers serve (trigger_guard.c checks them). */
static const char *const outcome_tables[] = {"outcome_records", NULL};
static const char *const feedback_tables[] = {"feedback_entries", NULL};
static const char *const flush_tables[] = {"outcome_records", "feedback_entries", NULL};
static const LearningColumn outcome_columns[] = {
	{"tenant_id", TEXTOID}, {"id", UUIDOID}, {"conversation_state_id", TEXTOID},
	{"rep_id", TEXTOID}, {"action_type", TEXTOID}, {"outcome_type", TEXTOID},
	{"status", TEXTOID}, {"outcome_score", FLOAT8OID}, {"metadata", JSONBOID},
	{"cost", NUMERICOID}, {"created_at", TIMESTAMPTZOID}, {NULL, InvalidOid}
};
static const LearningColumn feedback_columns[] = {
	{"tenant_id", TEXTOID}, {"id", UUIDOID}, {"conversation_state_id", TEXTOID},
	{"target_type", TEXTOID}, {"source", TEXTOID}, {"rating", INT4OID},
	{"reviewer_id", TEXTOID}, {"reviewer_role", TEXTOID}, {"created_at", TIMESTAMPTZOID},
	{NULL, InvalidOid}
};

/* The trigger checks shared by both row triggers. */
static TriggerData *
row_trigger_data(FunctionCallInfo fcinfo, const char *name, const char *const *tables,
				 const LearningColumn *columns)
{
	TriggerData *trigdata = learning_trigger_guard(fcinfo, name, tables, columns);

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		elog(ERROR, "learning.%s must be an AFTER ROW trigger", name);
	return trigdata;
}

/*
 * Columns whose change moves an outcome's contribution to the rollups; two
 * metadata keys count too (outcome_changes_rollups).
 */
static const char *const rollup_columns[] = {
	"status", "rep_id", "action_type", "outcome_type", "created_at", "conversation_state_id",
	"outcome_score", "cost", "tenant_id", NULL
};

/* same_text: two C strings, either possibly NULL, are equal. */
static bool
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * outcome_changes_rollups: whether an UPDATE changed anything the rollups
 * count.  This is the trigger's filter, in C rather than a WHEN clause,
 * because PostgreSQL reads and compiles a trigger's WHEN expression anew for
 * every statement, and resolve_outcome's UPDATE is a statement per call.
 * Binary equality: a value stored differently but equal (numeric 1.0 and
 * 1.00) counts as changed, which only costs a contribution removed and
 * added back.
 */
static bool
outcome_changes_rollups(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc)
{
	int			i;

	for (i = 0; rollup_columns[i] != NULL; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, learning_attnum(desc, rollup_columns[i]) - 1);
		bool		oldnull, newnull;
		Datum		o = learning_tuple_datum(oldtup, desc, rollup_columns[i], &oldnull);
		Datum		n = learning_tuple_datum(newtup, desc, rollup_columns[i], &newnull);

		if (oldnull != newnull ||
			(!oldnull && !datumIsEqual(o, n, att->attbyval, att->attlen)))
			return true;
	}
	return !same_text(metadata_text(oldtup, desc, "escalation_trigger"),
					  metadata_text(newtup, desc, "escalation_trigger")) ||
		!same_text(metadata_text(oldtup, desc, "deal_stage_at_resolution"),
				   metadata_text(newtup, desc, "deal_stage_at_resolution"));
}

/*
 * learning_outcome_rollup: AFTER ROW trigger on outcome_records.  Also notes
 * outcome_recorded (INSERT) and outcome_resolved (a row inserted resolved, or
 * updated from pending to resolved) for the outbox.
 */
Datum
learning_outcome_rollup(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = row_trigger_data(fcinfo, "outcome_rollup", outcome_tables, outcome_columns);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		HeapTuple	tuple = trigdata->tg_trigtuple;

		outcome_contribution(tuple, desc, 1.0, true);
		note_outcome_event(tuple, desc, "outcome_recorded");
		if (strcmp(learning_tuple_text(tuple, desc, "status"), "pending") != 0)
			note_outcome_event(tuple, desc, "outcome_resolved");
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		outcome_contribution(trigdata->tg_trigtuple, desc, -1.0, true);
	else
	{
		HeapTuple	oldtup = trigdata->tg_trigtuple;
		HeapTuple	newtup = trigdata->tg_newtuple;
		char	   *old_status = learning_tuple_text(oldtup, desc, "status");
		char	   *new_status = learning_tuple_text(newtup, desc, "status");
		bool		isnull;
		bool		moved;

		if (!outcome_changes_rollups(oldtup, newtup, desc))
			return PointerGetDatum(NULL);
		/* the conversation days change only if the conversation, tenant or day does */
		moved = strcmp(learning_tuple_text(oldtup, desc, "tenant_id"), learning_tuple_text(newtup, desc, "tenant_id")) != 0 ||
			strcmp(learning_tuple_text(oldtup, desc, "conversation_state_id"),
				   learning_tuple_text(newtup, desc, "conversation_state_id")) != 0 ||
			DatumGetTimestampTz(learning_tuple_datum(oldtup, desc, "created_at", &isnull)) !=
			DatumGetTimestampTz(learning_tuple_datum(newtup, desc, "created_at", &isnull));
		outcome_contribution(oldtup, desc, -1.0, moved);
		outcome_contribution(newtup, desc, 1.0, moved);
		if (strcmp(old_status, "pending") == 0 && strcmp(new_status, "pending") != 0)
			note_outcome_event(newtup, desc, "outcome_resolved");
	}
	return PointerGetDatum(NULL);
}

/* learning_feedback_rollup: AFTER ROW trigger on feedback_entries; notes feedback_recorded. */
Datum
learning_feedback_rollup(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = row_trigger_data(fcinfo, "feedback_rollup", feedback_tables, feedback_columns);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		HeapTuple	tuple = trigdata->tg_trigtuple;
		StringInfo	item;

		feedback_contribution(tuple, desc, 1.0);
		item = learning_event_row(learning_tuple_text(tuple, desc, "tenant_id"), "feedback_recorded", NULL);
		if (item != NULL)
		{
			bool		first = true;

			appendStringInfoChar(item, '{');
			json_column(item, tuple, desc, "id", &first);
			json_column(item, tuple, desc, "conversation_state_id", &first);
			json_column(item, tuple, desc, "target_type", &first);
			json_column(item, tuple, desc, "source", &first);
			learning_json_key(item, "rating", &first);
			appendStringInfoString(item, learning_tuple_text(tuple, desc, "rating"));
			appendStringInfoChar(item, '}');
		}
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		feedback_contribution(trigdata->tg_trigtuple, desc, -1.0);
	else
	{
		feedback_contribution(trigdata->tg_trigtuple, desc, -1.0);
		feedback_contribution(trigdata->tg_newtuple, desc, 1.0);
	}
	return PointerGetDatum(NULL);
}

/*
 * learning_rollup_flush: the AFTER STATEMENT trigger of a 0.1.0 schema.
 * Events are now per transaction and 0.2.0 has no such trigger; the symbol
 * stays so that a 0.1.0 schema works with this library until ALTER
 * EXTENSION learning UPDATE.
 */
Datum
learning_rollup_flush(PG_FUNCTION_ARGS)
{
	(void) learning_trigger_guard(fcinfo, "rollup_flush", flush_tables, NULL);
	learning_events_statement_end();
	return PointerGetDatum(NULL);
}

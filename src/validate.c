/*-------------------------------------------------------------------------
 *
 * validate.c
 *		Input checks shared by every SQL entry point: tenant ids, action types
 *		and confidences.  Each raises a precise SQLSTATE with a message that
 *		names the field and the value, before anything is written.
 *
 * The same checks are exposed to the SQL functions of the extension script as
 * learning.check_tenant_id(text) etc., so that one piece of code owns each rule.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "learning.h"

PG_FUNCTION_INFO_V1(learning_check_tenant_id_sql);
PG_FUNCTION_INFO_V1(learning_check_action_type_sql);
PG_FUNCTION_INFO_V1(learning_check_confidence_sql);
PG_FUNCTION_INFO_V1(learning_check_text_sql);
PG_FUNCTION_INFO_V1(learning_check_range_sql);
PG_FUNCTION_INFO_V1(learning_check_window_sql);
PG_FUNCTION_INFO_V1(learning_check_finite_time_sql);
PG_FUNCTION_INFO_V1(learning_check_json_object_sql);
PG_FUNCTION_INFO_V1(learning_check_outcome_row_sql);
PG_FUNCTION_INFO_V1(learning_check_days_sql);

/* The longest period of a dashboard or of coaching, in days. */
#define LEARNING_DAYS_MAX			365

/* Largest metadata or signal detail: what the jobs add to it (deal stages) always fits. */
#define LEARNING_JSON_MAX_BYTES		65536

/*
 * Longest outcome window.  created_at is at most 9999-12-31 (check_finite_time),
 * so the end of any window stays a valid timestamp, and a window this long is
 * already far beyond any sales cycle.
 */
#define LEARNING_WINDOW_MAX_DAYS	3660

/* Longest id text (conversation, action, rep, reviewer, target, external ids). */
#define LEARNING_TEXT_ID_MAXLEN	200

/*
 * token_matches tells whether s is 1..maxlen characters, each accepted by the
 * given class test.
 */
static bool
token_matches(const char *s, int maxlen, bool (*ok) (char c))
{
	int			len = 0;

	for (; *s; s++, len++)
	{
		if (len >= maxlen || !ok(*s))
			return false;
	}
	return len > 0;
}

static bool
tenant_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool
action_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * learning_check_tenant_id raises 22023 unless tenant_id is 1-48 characters
 * of [A-Za-z0-9_.-] (it becomes part of a NOTIFY channel name).
 */
void
learning_check_tenant_id(const char *tenant_id)
{
	if (!token_matches(tenant_id, LEARNING_TENANT_MAXLEN, tenant_char))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tenant_id \"%s\"", tenant_id),
				 errdetail("A tenant_id is 1 to 48 characters of A-Z, a-z, 0-9, \"_\", \".\" and \"-\".")));
}

/*
 * learning_check_action_type raises 22023 unless action_type is 1-50
 * characters of [a-z0-9_].
 */
void
learning_check_action_type(const char *action_type)
{
	if (!token_matches(action_type, LEARNING_ACTION_MAXLEN, action_char))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid action_type \"%s\"", action_type),
				 errdetail("An action_type is 1 to 50 characters of a-z, 0-9 and \"_\", for example send_email.")));
}

/*
 * learning_check_confidence raises 22003 unless p is a finite number in [0, 1].
 */
void
learning_check_confidence(const char *field, double p)
{
	if (isnan(p) || isinf(p) || p < 0.0 || p > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite number between 0 and 1, got %s",
						field, float8out_internal(p))));
}

/*
 * learning_require_arg raises 22004 naming the field when a required
 * argument is NULL.
 */
void
learning_require_arg(FunctionCallInfo fcinfo, int argno, const char *field)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", field)));
}

/*
 * SQL: learning.check_text(field text, value text) RETURNS text -- an id
 * given as text must be 1 to 200 characters: 22004 when NULL, 22023 when
 * empty, 22001 when longer (it is indexed, and a btree entry is bounded).
 */
Datum
learning_check_text_sql(PG_FUNCTION_ARGS)
{
	char	   *field = PG_ARGISNULL(0) ? "value" : text_to_cstring(PG_GETARG_TEXT_PP(0));

	learning_check_id_text(fcinfo, 1, field);
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/*
 * learning_check_id_text: argument argno, an id given as text, must be 1 to
 * LEARNING_TEXT_ID_MAXLEN characters: 22004 when NULL, 22023 when empty,
 * 22001 when longer (it is indexed, and a btree entry is bounded).
 */
void
learning_check_id_text(FunctionCallInfo fcinfo, int argno, const char *field)
{
	text	   *value;
	int			len;

	learning_require_arg(fcinfo, argno, field);
	value = PG_GETARG_TEXT_PP(argno);
	len = pg_mbstrlen_with_len(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", field)));
	if (len > LEARNING_TEXT_ID_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s must be at most %d characters, got %d", field, LEARNING_TEXT_ID_MAXLEN, len)));
}

/*
 * learning_check_tenant_arg: argument argno is a tenant id, required (22004)
 * and valid (22023); returns it as a C string.
 */
char *
learning_check_tenant_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *tenant_id;

	learning_require_arg(fcinfo, argno, "tenant_id");
	tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	learning_check_tenant_id(tenant_id);
	return tenant_id;
}

/* SQL: learning.check_tenant_id(tenant_id text) RETURNS text */
Datum
learning_check_tenant_id_sql(PG_FUNCTION_ARGS)
{
	(void) learning_check_tenant_arg(fcinfo, 0);
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

/* SQL: learning.check_action_type(action_type text) RETURNS text */
Datum
learning_check_action_type_sql(PG_FUNCTION_ARGS)
{
	learning_require_arg(fcinfo, 0, "action_type");
	learning_check_action_type(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

/* SQL: learning.check_confidence(field text, p float8) RETURNS float8 */
Datum
learning_check_confidence_sql(PG_FUNCTION_ARGS)
{
	char	   *field = PG_ARGISNULL(0) ? "predicted_confidence" :
		text_to_cstring(PG_GETARG_TEXT_PP(0));

	learning_require_arg(fcinfo, 1, field);
	learning_check_confidence(field, PG_GETARG_FLOAT8(1));
	PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(1));
}

/*
 * SQL: learning.check_range(field text, value float8, lo float8, hi float8)
 * RETURNS float8 -- a number must be finite and within [lo, hi]: 22004 when
 * NULL, 22003 otherwise.  Each caller states its bounds once.
 */
Datum
learning_check_range_sql(PG_FUNCTION_ARGS)
{
	char	   *field = PG_ARGISNULL(0) ? "value" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	double		v, lo, hi;

	learning_require_arg(fcinfo, 1, field);
	v = PG_GETARG_FLOAT8(1);
	lo = PG_ARGISNULL(2) ? -get_float8_infinity() : PG_GETARG_FLOAT8(2);
	hi = PG_ARGISNULL(3) ? get_float8_infinity() : PG_GETARG_FLOAT8(3);
	if (isnan(v) || isinf(v) || v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite number between %s and %s, got %s",
						field, float8out_internal(lo), float8out_internal(hi), float8out_internal(v))));
	PG_RETURN_FLOAT8(v);
}

/*
 * SQL: learning.check_window(field text, value interval) RETURNS interval --
 * a window must be positive on every date: no negative months, days or time
 * (1 mon -29 days is 2 days in March and -1 day in February), not zero, and
 * at most LEARNING_WINDOW_MAX_DAYS long.  22004 when NULL, 22003 otherwise.
 */
Datum
learning_check_window_sql(PG_FUNCTION_ARGS)
{
	char	   *field = PG_ARGISNULL(0) ? "window_length" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Interval   *w;
	double		days;

	learning_require_arg(fcinfo, 1, field);
	w = PG_GETARG_INTERVAL_P(1);
	days = w->month * (double) DAYS_PER_MONTH + w->day + w->time / (double) USECS_PER_DAY;
	if (w->month < 0 || w->day < 0 || w->time < 0 || days <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be positive, got \"%s\"", field,
						DatumGetCString(DirectFunctionCall1(interval_out, PointerGetDatum(w)))),
				 errdetail("Months, days and time must each be zero or more, and not all zero, so that the window is positive on every date.")));
	if (days > LEARNING_WINDOW_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be at most %d days, got \"%s\"", field, LEARNING_WINDOW_MAX_DAYS,
						DatumGetCString(DirectFunctionCall1(interval_out, PointerGetDatum(w))))));
	PG_RETURN_INTERVAL_P(w);
}

/*
 * SQL: learning.check_finite_time(field text, value timestamptz) RETURNS
 * timestamptz -- 22004 when NULL, 22008 when infinite or outside the years 1
 * to 9999.  The bounds are a day short of each end, so that the local day is
 * in the years 1 to 9999 in every time zone (4-digit ISO dates in JSON), and
 * any window (at most LEARNING_WINDOW_MAX_DAYS) still ends in range.  In C
 * because the tables' checks call it for every row written.
 */
Datum
learning_check_finite_time_sql(PG_FUNCTION_ARGS)
{
	learning_check_time(PG_ARGISNULL(0) ? "value" : text_to_cstring(PG_GETARG_TEXT_PP(0)), fcinfo, 1);
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/* learning_check_time: the rule of check_finite_time for argument argno. */
void
learning_check_time(const char *field, FunctionCallInfo fcinfo, int argno)
{
	TimestampTz t;
	static TimestampTz lo = 0, hi = 0;

	learning_require_arg(fcinfo, argno, field);
	t = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s must be a finite time, got %s", field,
						DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t))))));
	if (lo == 0)
	{
		lo = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum("0001-01-02 00:00:00+00"),
													 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		hi = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum("9999-12-31 00:00:00+00"),
													 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
	if (t < lo || t >= hi)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s must be between the years 1 and 9999, got %s", field,
						DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t))))));
}

/*
 * SQL: learning.check_json_object(field text, value jsonb) RETURNS jsonb --
 * 22023 unless a JSON object, 22001 when over LEARNING_JSON_MAX_BYTES (its
 * stored size, as pg_column_size reports it).  In C because the tables'
 * checks call it for every row written.
 */
Datum
learning_check_json_object_sql(PG_FUNCTION_ARGS)
{
	learning_check_json_object(PG_ARGISNULL(0) ? "value" : text_to_cstring(PG_GETARG_TEXT_PP(0)), fcinfo, 1);
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/* learning_check_json_object: the rule of check_json_object for argument argno. */
void
learning_check_json_object(const char *field, FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *jb;
	size_t		size;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object, got null", field),
				 errhint("Pass '{}' for no %s.", field)));
	size = toast_datum_size(PG_GETARG_DATUM(argno));
	jb = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object, got %s", field,
						text_to_cstring(DatumGetTextPP(DirectFunctionCall1(jsonb_typeof, JsonbPGetDatum(jb))))),
				 errhint("Pass '{}' for no %s.", field)));
	if (size > LEARNING_JSON_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s must be at most %d bytes, got %zu", field, LEARNING_JSON_MAX_BYTES, size)));
}

/* learning_jsonb_field_text is jb->>key (NULL when missing or JSON null). */
text *
learning_jsonb_field_text(Jsonb *jb, const char *key)
{
	LOCAL_FCINFO(call, 2);
	Datum		result;

	InitFunctionCallInfoData(*call, NULL, 2, InvalidOid, NULL, NULL);
	call->args[0].value = JsonbPGetDatum(jb);
	call->args[0].isnull = false;
	call->args[1].value = CStringGetTextDatum(key);
	call->args[1].isnull = false;
	result = jsonb_object_field_text(call);
	return call->isnull ? NULL : DatumGetTextPP(result);
}

/* learning_jsonb_has_key is jb ? key for an object. */
bool
learning_jsonb_has_key(Jsonb *jb, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k) != NULL;
}

/*
 * learning_check_escalation_trigger: metadata's escalation_trigger is a key
 * of the dashboards' rollups, bounded like an id (22001).
 */
void
learning_check_escalation_trigger(Jsonb *metadata)
{
	text	   *trigger = learning_jsonb_field_text(metadata, "escalation_trigger");
	int			len;

	if (trigger == NULL)
		return;
	len = pg_mbstrlen_with_len(VARDATA_ANY(trigger), VARSIZE_ANY_EXHDR(trigger));
	if (len > LEARNING_TEXT_ID_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("metadata.escalation_trigger must be at most %d characters, got %d",
						LEARNING_TEXT_ID_MAXLEN, len)));
}

/*
 * learning_check_cost refuses a cost that is NaN, infinite, negative or over
 * LEARNING_COST_MAX: one action costing more is an error, and would swamp the
 * dashboards' sums.  record_outcome shows the value as a float8, as 0.1.0
 * did (as_float8); the table's check shows the numeric as stored.
 */
void
learning_check_cost(Numeric cost, bool as_float8)
{
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	Datum		limit = DirectFunctionCall1(int4_numeric, Int32GetDatum(LEARNING_COST_MAX));

	if (numeric_is_nan(cost) || numeric_is_inf(cost) ||
		DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(cost), zero)) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(cost), limit)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cost must be a finite number between 0 and %d, got %s", LEARNING_COST_MAX,
						as_float8 ?
						float8out_internal(DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(cost)))) :
						DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(cost))))));
}

/*
 * SQL: learning.check_outcome_row(tenant_id, conversation_state_id, rep_id,
 * action_type, action_id, predicted_confidence, status, outcome_score,
 * metadata, cost, created_at) RETURNS boolean -- the one check of
 * learning.outcome_records: every rule the functions apply to a row, with
 * their SQLSTATEs, for rows written without them.  One C call instead of a
 * dozen CHECK expressions: PostgreSQL reads a table's check expressions anew
 * for every statement that writes it, and the write path is one statement
 * per call.  NULLs of NOT NULL columns are left to those constraints.
 */
Datum
learning_check_outcome_row_sql(PG_FUNCTION_ARGS)
{
	static const char *const statuses[] = {"pending", "positive", "negative", "ambiguous", "expired"};
	char	   *status = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	bool		unscored = false;
	int			i;

	if (!PG_ARGISNULL(0))
		learning_check_tenant_id(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (!PG_ARGISNULL(1))
		learning_check_id_text(fcinfo, 1, "conversation_state_id");
	if (!PG_ARGISNULL(2))
		learning_check_id_text(fcinfo, 2, "rep_id");
	if (!PG_ARGISNULL(3))
		learning_check_action_type(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	if (!PG_ARGISNULL(4))
		learning_check_id_text(fcinfo, 4, "action_id");
	if (!PG_ARGISNULL(5))
		learning_check_confidence("predicted_confidence", PG_GETARG_FLOAT8(5));
	if (status != NULL)
	{
		for (i = 0; i < lengthof(statuses); i++)
			if (strcmp(status, statuses[i]) == 0)
				break;
		if (i == lengthof(statuses))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid status \"%s\"", status),
					 errdetail("Statuses: ambiguous, expired, negative, pending, positive.")));
		unscored = strcmp(status, "ambiguous") == 0 || strcmp(status, "expired") == 0;
	}
	if (!PG_ARGISNULL(7))
	{
		if (unscored)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("outcome_score must be NULL for status %s, got %s",
							status, float8out_internal(PG_GETARG_FLOAT8(7)))));
		learning_check_confidence("outcome_score", PG_GETARG_FLOAT8(7));
	}
	if (!PG_ARGISNULL(8))
	{
		learning_check_json_object("metadata", fcinfo, 8);
		learning_check_escalation_trigger(PG_GETARG_JSONB_P(8));
	}
	if (!PG_ARGISNULL(9))
		learning_check_cost(PG_GETARG_NUMERIC(9), false);
	if (!PG_ARGISNULL(10))
		learning_check_time("created_at", fcinfo, 10);
	PG_RETURN_BOOL(true);
}

/* learning_check_days raises 22003 unless days is 1 to LEARNING_DAYS_MAX. */
void
learning_check_days(int days)
{
	if (days < 1 || days > LEARNING_DAYS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("days must be between 1 and %d, got %d", LEARNING_DAYS_MAX, days)));
}

/* SQL: learning.check_days(days integer) RETURNS integer -- 22004 when NULL. */
Datum
learning_check_days_sql(PG_FUNCTION_ARGS)
{
	learning_require_arg(fcinfo, 0, "days");
	learning_check_days(PG_GETARG_INT32(0));
	PG_RETURN_INT32(PG_GETARG_INT32(0));
}

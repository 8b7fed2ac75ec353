/*-------------------------------------------------------------------------
 *
 * json.c
 *		Small helpers to write JSON text into a StringInfo; the C functions
 *		that return jsonb build their text with these and parse it once.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/json.h"

#include "learning.h"

/* learning_json_string appends s as a JSON string, or null for NULL. */
void
learning_json_string(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, s);
}

/* learning_json_float appends v in shortest round-trip form; null if not finite. */
void
learning_json_float(StringInfo buf, double v)
{
	if (isnan(v) || isinf(v))
		appendStringInfoString(buf, "null");
	else
		appendStringInfoString(buf, float8out_internal(v));
}

/* learning_json_key appends ,"key": (no comma before the first key). */
void
learning_json_key(StringInfo buf, const char *key, bool *first)
{
	if (!*first)
		appendStringInfoChar(buf, ',');
	*first = false;
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
}

/* learning_format_date writes a day as YYYY-MM-DD, whatever the session's DateStyle. */
void
learning_format_date(char *buf, size_t len, DateADT day)
{
	int			y, m, d;

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
}

/* learning_json_date appends a day as a JSON string "YYYY-MM-DD". */
void
learning_json_date(StringInfo buf, DateADT day)
{
	char		s[16];

	learning_format_date(s, sizeof(s), day);
	learning_json_string(buf, s);
}

/*
 * learning_json_timestamp appends a time as an ISO 8601 string in UTC,
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ", whatever the session's DateStyle and
 * TimeZone (null when it cannot be represented).
 */
void
learning_json_timestamp(StringInfo buf, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

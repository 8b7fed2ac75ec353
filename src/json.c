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

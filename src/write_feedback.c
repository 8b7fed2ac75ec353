/*-------------------------------------------------------------------------
 *
 * write_feedback.c
 *		learning.submit_feedback in C.
 *
 * Reviewers rate messages, decisions and conversations from the dashboards
 * and inline in the agents' tools.  The arguments are checked in C, in the
 * order and with the messages of 0.1.0 (its messages are part of the API);
 * then one saved statement, run as the caller, checks that a linked outcome
 * belongs to the tenant and stores the entry.  Only a retry with a
 * feedback_id that exists runs a second statement, which compares the
 * stored content with the retry's.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/write_feedback.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "learning.h"

PG_FUNCTION_INFO_V1(learning_submit_feedback);

/* A comment is at most this many characters (the table checks the same). */
#define FEEDBACK_COMMENT_MAXLEN		1000

/* The arguments, by position. */
enum
{
	FB_TENANT, FB_CONVERSATION, FB_TARGET_TYPE, FB_TARGET_ID, FB_SOURCE, FB_RATING,
	FB_REVIEWER_ID, FB_REVIEWER_ROLE, FB_COMMENT, FB_OUTCOME, FB_METADATA, FB_FEEDBACK_ID,
	FB_NARGS
};

/* Saved plans (spi_util.c). */
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr insert_unlinked_plan = NULL;
static SPIPlanPtr existing_plan = NULL;

/*
 * The insert, behind the outcome check: it returns whether the outcome (when
 * one is linked) is the tenant's, and the new id (NULL when nothing was
 * stored).  $1..$12 are the arguments in order.
 */
#define INSERT_FEEDBACK_SQL(outcome_check) \
	"WITH o AS (SELECT " outcome_check " AS ok), " \
	"ins AS (INSERT INTO learning.feedback_entries AS f " \
	"          (tenant_id, id, conversation_state_id, outcome_record_id, target_type, target_id, source, " \
	"           rating, comment, reviewer_id, reviewer_role, metadata) " \
	"        SELECT $1, coalesce($12, pg_catalog.gen_random_uuid()), $2, $10, $3, $4, $5, $6, $9, $7, $8, $11 " \
	"          FROM o WHERE o.ok " \
	"        ON CONFLICT ON CONSTRAINT feedback_entries_pkey DO NOTHING " \
	"        RETURNING f.id) " \
	"SELECT o.ok, (SELECT ins.id FROM ins) FROM o"

/*
 * The outcome check of a linked entry.  An entry without an outcome reads no
 * outcome, as in 0.1.0: a caller needs no privilege on the outcome table.
 */
#define OUTCOME_CHECK \
	"EXISTS (SELECT 1 FROM learning.outcome_records r WHERE r.tenant_id = $1 AND r.id = $10)"

/* The stored entry with this id, and whether its content equals the retry's. */
#define SAME_FEEDBACK_SQL \
	"SELECT (f.conversation_state_id, f.outcome_record_id, f.target_type, f.target_id, f.source, " \
	"        f.rating, f.comment, f.reviewer_id, f.reviewer_role, f.metadata) " \
	"       IS NOT DISTINCT FROM ($2, $10, $3, $4, $5, $6, $9, $7, $8, $11) " \
	"  FROM learning.feedback_entries f WHERE f.tenant_id = $1 AND f.id = $12"

static const Oid feedback_argtypes[FB_NARGS] = {
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
	TEXTOID, TEXTOID, TEXTOID, UUIDOID, JSONBOID, UUIDOID
};

/* text_arg is argument i as a C string (the caller checked it is not NULL). */
static char *
text_arg(FunctionCallInfo fcinfo, int i)
{
	return text_to_cstring(PG_GETARG_TEXT_PP(i));
}

/* check_kind: target type and source, each one of a fixed list. */
static void
check_kind(FunctionCallInfo fcinfo)
{
	char	   *target_type;
	char	   *source;

	learning_require_arg(fcinfo, FB_TARGET_TYPE, "target_type");
	target_type = text_arg(fcinfo, FB_TARGET_TYPE);
	if (strcmp(target_type, "message") != 0 && strcmp(target_type, "decision") != 0 &&
		strcmp(target_type, "conversation") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Invalid target_type '%s'. Must be one of: conversation, decision, message", target_type)));
	learning_require_arg(fcinfo, FB_SOURCE, "source");
	source = text_arg(fcinfo, FB_SOURCE);
	if (strcmp(source, "inline") != 0 && strcmp(source, "dashboard") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Invalid source '%s'. Must be one of: dashboard, inline", source)));
}

/* check_rating: inline ratings are -1..1, dashboard ratings 1..5. */
static void
check_rating(FunctionCallInfo fcinfo)
{
	bool		is_inline = strcmp(text_arg(fcinfo, FB_SOURCE), "inline") == 0;
	int32		rating;

	learning_require_arg(fcinfo, FB_RATING, "rating");
	rating = PG_GETARG_INT32(FB_RATING);
	if (is_inline && (rating < -1 || rating > 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("Inline rating must be between -1 and 1, got %d", rating)));
	if (!is_inline && (rating < 1 || rating > 5))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("Dashboard rating must be between 1 and 5, got %d", rating)));
}

/* check_reviewer: the reviewer's id and role, and the comment's length. */
static void
check_reviewer(FunctionCallInfo fcinfo)
{
	char	   *role;

	learning_check_id_text(fcinfo, FB_REVIEWER_ID, "reviewer_id");
	learning_require_arg(fcinfo, FB_REVIEWER_ROLE, "reviewer_role");
	role = text_arg(fcinfo, FB_REVIEWER_ROLE);
	if (strcmp(role, "rep") != 0 && strcmp(role, "manager") != 0 &&
		strcmp(role, "executive") != 0 && strcmp(role, "service") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Invalid reviewer_role '%s'. Must be one of: executive, manager, rep, service", role)));
	if (!PG_ARGISNULL(FB_COMMENT))
	{
		text	   *comment = PG_GETARG_TEXT_PP(FB_COMMENT);
		int			len = pg_mbstrlen_with_len(VARDATA_ANY(comment), VARSIZE_ANY_EXHDR(comment));

		if (len > FEEDBACK_COMMENT_MAXLEN)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("comment must be at most %d characters, got %d", FEEDBACK_COMMENT_MAXLEN, len)));
	}
}

/* check_feedback_args: the argument checks of 0.1.0, in its order. */
static void
check_feedback_args(FunctionCallInfo fcinfo)
{
	(void) learning_check_tenant_arg(fcinfo, FB_TENANT);
	learning_check_id_text(fcinfo, FB_CONVERSATION, "conversation_state_id");
	check_kind(fcinfo);
	check_rating(fcinfo);
	learning_check_id_text(fcinfo, FB_TARGET_ID, "target_id");
	check_reviewer(fcinfo);
	learning_check_json_object("metadata", fcinfo, FB_METADATA);
}

/* uuid_arg_text is argument i as text, "<NULL>" when NULL (as PL/pgSQL showed it). */
static char *
uuid_arg_text(FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i))
		return "<NULL>";
	return DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(i)));
}

/*
 * check_same_retry: a retry with a feedback_id that exists returns it when its
 * content is the stored one; other content, or an entry gone meanwhile, is
 * a conflict (23505).
 */
static void
check_same_retry(FunctionCallInfo fcinfo, Datum *values, char *nulls)
{
	int			ret;
	bool		isnull;
	bool		same = false;

	ret = SPI_execute_plan(learning_saved_plan(&existing_plan, SAME_FEEDBACK_SQL, FB_NARGS,
											   (Oid *) feedback_argtypes),
						   values, nulls, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: reading the feedback failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
		same = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("feedback %s already exists with different content", uuid_arg_text(fcinfo, FB_FEEDBACK_ID)),
				 errhint("Retry with the same content, or submit new feedback without a feedback_id.")));
}

/*
 * learning_submit_feedback: submit_feedback(tenant_id, conversation_state_id,
 * target_type, target_id, source, rating, reviewer_id, reviewer_role,
 * comment, outcome_record_id, metadata, feedback_id) RETURNS uuid.
 */
Datum
learning_submit_feedback(PG_FUNCTION_ARGS)
{
	Datum		values[FB_NARGS];
	char		nulls[FB_NARGS];
	int			level;
	int			ret;
	int			i;
	bool		isnull;
	Datum		id;
	SPIPlanPtr	plan;

	check_feedback_args(fcinfo);
	for (i = 0; i < FB_NARGS; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	values[FB_METADATA] = JsonbPGetDatum(PG_GETARG_JSONB_P(FB_METADATA));

	level = learning_spi_connect();
	if (PG_ARGISNULL(FB_OUTCOME))
		plan = learning_saved_plan(&insert_unlinked_plan, INSERT_FEEDBACK_SQL("true"), FB_NARGS,
								   (Oid *) feedback_argtypes);
	else
		plan = learning_saved_plan(&insert_plan, INSERT_FEEDBACK_SQL(OUTCOME_CHECK), FB_NARGS,
								   (Oid *) feedback_argtypes);
	ret = SPI_execute_plan(plan, values, nulls, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "learning: storing the feedback failed: %s", SPI_result_code_string(ret));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("outcome_record_id %s is not an outcome of tenant %s",
						uuid_arg_text(fcinfo, FB_OUTCOME), text_arg(fcinfo, FB_TENANT)),
				 errhint("Link feedback only to an outcome recorded for the same tenant.")));
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (isnull)
	{
		/* the feedback_id exists: a retry */
		check_same_retry(fcinfo, values, nulls);
		id = values[FB_FEEDBACK_ID];
	}
	id = SPI_datumTransfer(id, false, UUID_LEN);
	learning_spi_finish(level);
	PG_RETURN_DATUM(id);
}

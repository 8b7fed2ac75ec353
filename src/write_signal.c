/*-------------------------------------------------------------------------
 *
 * write_signal.c
 *		learning.ingest_signal in C.
 *
 * Integrations send a signal for every reply, meeting and deal change, so
 * ingestion is on the write path next to record_outcome.  The arguments are
 * checked in C with the rules of validate.c, in the order and with the
 * messages of 0.1.0; then one saved statement, run as the caller, checks the
 * signal type (learning.signal_job owns the list) and the deal stage, and
 * stores the signal, so an ordinary call costs one statement.  Only a call
 * that stored nothing (a bad type or stage, or an external_id seen before)
 * runs a second one.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/write_signal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "learning.h"

PG_FUNCTION_INFO_V1(learning_ingest_signal);

/* Saved plans (spi_util.c). */
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr existing_plan = NULL;

/*
 * The insert, with the type and stage rules in front of it.  A deal stage
 * must be one learning.deal_stage_rank knows, or one of the two failures
 * (closed_lost, stalled) the deal job reads as negative.  The statement
 * returns both verdicts and the new id (NULL when nothing was stored).
 */
#define INSERT_SIGNAL_SQL \
	"WITH c AS (SELECT learning.signal_job($3) IS NOT NULL AS type_ok, " \
	"                  ($3 <> 'deal_stage_changed' " \
	"                   OR learning.deal_stage_rank($5->>'stage') IS NOT NULL " \
	"                   OR coalesce($5->>'stage', '') IN ('closed_lost', 'stalled')) AS stage_ok), " \
	"ins AS (INSERT INTO learning.signals AS s " \
	"          (tenant_id, conversation_state_id, signal_type, occurred_at, detail, external_id) " \
	"        SELECT $1, $2, $3, $4, $5, $6 FROM c WHERE c.type_ok AND c.stage_ok " \
	"        ON CONFLICT ON CONSTRAINT signals_external_id_key DO NOTHING " \
	"        RETURNING s.id) " \
	"SELECT c.type_ok, c.stage_ok, (SELECT ins.id FROM ins) FROM c"

/* check_signal_args: the argument checks of 0.1.0, in its order. */
static void
check_signal_args(FunctionCallInfo fcinfo)
{
	(void) learning_check_tenant_arg(fcinfo, 0);
	learning_check_id_text(fcinfo, 1, "conversation_state_id");
	learning_require_arg(fcinfo, 2, "signal_type");
	learning_check_time("occurred_at", fcinfo, 3);
	learning_check_json_object("detail", fcinfo, 4);
	if (!PG_ARGISNULL(5))
		learning_check_id_text(fcinfo, 5, "external_id");
}

/* bool_column is column col of the single result row (false when NULL). */
static bool
bool_column(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/* refuse_signal raises the error of the rule the signal broke. */
static void
refuse_signal(FunctionCallInfo fcinfo, bool type_ok)
{
	char	   *signal_type = text_to_cstring(PG_GETARG_TEXT_PP(2));
	text	   *stage;

	if (!type_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown signal_type \"%s\"", signal_type),
				 errdetail("Signal types: deal_stage_changed, email_bounced, email_replied, email_unsubscribed, "
						   "escalation_failed, escalation_resolved, meeting_booked, meeting_declined, meeting_held, meeting_no_show.")));
	stage = learning_jsonb_field_text(PG_GETARG_JSONB_P(4), "stage");
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid detail.stage \"%s\" for deal_stage_changed",
					stage == NULL ? "<NULL>" : text_to_cstring(stage)),
			 errdetail("Deal stages: prospecting, discovery, qualification, evaluation, negotiation, closed_won, closed_lost, stalled.")));
}

/*
 * existing_signal is the id of the tenant's signal with this external_id:
 * the one a retry of the same signal returns.  A fresh snapshot (not
 * read-only) sees the row that won the conflict.
 */
static Datum
existing_signal(Datum *values, bool *isnull)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {values[0], values[5]};
	int			ret;

	ret = SPI_execute_plan(learning_saved_plan(&existing_plan,
											   "SELECT s.id FROM learning.signals s "
											   " WHERE s.tenant_id = $1 AND s.external_id = $2",
											   2, argtypes),
						   args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: reading the signal failed: %s", SPI_result_code_string(ret));
	*isnull = true;
	if (SPI_processed == 1)
		return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	return (Datum) 0;
}

/*
 * learning_ingest_signal: ingest_signal(tenant_id, conversation_state_id,
 * signal_type, occurred_at, detail, external_id) RETURNS uuid.  The same
 * (tenant_id, external_id) again returns the first id and stores nothing.
 */
Datum
learning_ingest_signal(PG_FUNCTION_ARGS)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, JSONBOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			level;
	int			ret;
	int			i;
	bool		isnull;
	Datum		id;

	check_signal_args(fcinfo);
	for (i = 0; i < 5; i++)
		values[i] = PG_GETARG_DATUM(i);
	values[4] = JsonbPGetDatum(PG_GETARG_JSONB_P(4));
	values[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';

	level = learning_spi_connect();
	ret = SPI_execute_plan(learning_saved_plan(&insert_plan, INSERT_SIGNAL_SQL, 6, argtypes),
						   values, nulls, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "learning: storing the signal failed: %s", SPI_result_code_string(ret));
	if (!bool_column(1) || !bool_column(2))
		refuse_signal(fcinfo, bool_column(1));
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (isnull && !PG_ARGISNULL(5))
		id = existing_signal(values, &isnull);
	if (isnull)
	{
		learning_spi_finish(level);
		PG_RETURN_NULL();
	}
	id = SPI_datumTransfer(id, false, UUID_LEN);
	learning_spi_finish(level);
	PG_RETURN_DATUM(id);
}

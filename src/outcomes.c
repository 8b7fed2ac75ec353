/*-------------------------------------------------------------------------
 *
 * outcomes.c
 *		The lifecycle guard of learning.outcome_records: a BEFORE ROW trigger
 *		that makes resolution happen exactly once, whatever path writes it.
 *
 * An outcome starts pending and is resolved once (positive, negative,
 * ambiguous or expired).  The guard
 *	- fills resolved_at and the default score when a row becomes resolved
 *	  (positive 1.0, negative 0.0), and refuses a negative with another score;
 *	- refuses (55000) any change of status, score, confidence, action type or
 *	  tenant of a row that is already resolved, so that a racing second
 *	  resolution, a plain UPDATE or an un-resolve can never count twice in the
 *	  calibration bins.  Under READ COMMITTED the loser of a race re-checks the
 *	  row it waited for and lands here.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/outcomes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "catalog/pg_type.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "learning.h"

PG_FUNCTION_INFO_V1(learning_outcome_guard);

/* The table and columns the guard serves (trigger_guard.c checks them). */
static const char *const guard_tables[] = {"outcome_records", NULL};
static const LearningColumn guard_columns_typed[] = {
	{"status", TEXTOID}, {"outcome_score", FLOAT8OID}, {"resolved_at", TIMESTAMPTZOID},
	{"predicted_confidence", FLOAT8OID}, {"action_type", TEXTOID}, {"tenant_id", TEXTOID},
	{"id", UUIDOID}, {NULL, InvalidOid}
};

/* Columns the guard reads, looked up by name once per call. */
typedef struct GuardColumns
{
	int			status;
	int			outcome_score;
	int			resolved_at;
	int			predicted_confidence;
	int			action_type;
	int			tenant_id;
	int			id;
} GuardColumns;

static void
guard_columns(TupleDesc desc, GuardColumns *c)
{
	c->status = learning_attnum(desc, "status");
	c->outcome_score = learning_attnum(desc, "outcome_score");
	c->resolved_at = learning_attnum(desc, "resolved_at");
	c->predicted_confidence = learning_attnum(desc, "predicted_confidence");
	c->action_type = learning_attnum(desc, "action_type");
	c->tenant_id = learning_attnum(desc, "tenant_id");
	c->id = learning_attnum(desc, "id");
}

/* column_changed tells whether a column differs (NULLs compare equal) between two tuples. */
static bool
column_changed(HeapTuple a, HeapTuple b, TupleDesc desc, int attno)
{
	bool		anull, bnull;
	Datum		av = SPI_getbinval(a, desc, attno, &anull);
	Datum		bv = SPI_getbinval(b, desc, attno, &bnull);
	Form_pg_attribute att = TupleDescAttr(desc, attno - 1);

	if (anull || bnull)
		return anull != bnull;
	return !datumIsEqual(av, bv, att->attbyval, att->attlen);
}

/*
 * fill_resolution sets resolved_at (now) and the default score of a row that
 * becomes resolved, and refuses a negative outcome with a score other than 0
 * and an ambiguous or expired one with any score.
 */
static HeapTuple
fill_resolution(HeapTuple tuple, TupleDesc desc, const GuardColumns *c, const char *status)
{
	int			cols[2];
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			ncols = 0;
	bool		isnull;
	Datum		score = SPI_getbinval(tuple, desc, c->outcome_score, &isnull);

	if (strcmp(status, "negative") == 0 && !isnull && DatumGetFloat8(score) != 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("outcome_score of a negative outcome must be 0, got %s",
						float8out_internal(DatumGetFloat8(score))),
				 errhint("Resolve as positive with a score between 0 and 1 for a partial success.")));
	if (!isnull && (strcmp(status, "ambiguous") == 0 || strcmp(status, "expired") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("outcome_score must be NULL for status %s, got %s",
						status, float8out_internal(DatumGetFloat8(score)))));
	if (isnull && (strcmp(status, "positive") == 0 || strcmp(status, "negative") == 0))
	{
		cols[ncols] = c->outcome_score;
		values[ncols++] = Float8GetDatum(strcmp(status, "positive") == 0 ? 1.0 : 0.0);
	}
	(void) SPI_getbinval(tuple, desc, c->resolved_at, &isnull);
	if (isnull)
	{
		cols[ncols] = c->resolved_at;
		values[ncols++] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	}
	if (ncols == 0)
		return tuple;
	return heap_modify_tuple_by_cols(tuple, desc, ncols, cols, values, nulls);
}

/*
 * learning_outcome_guard: BEFORE INSERT OR UPDATE ROW trigger on
 * learning.outcome_records (see the file header).
 */
Datum
learning_outcome_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = learning_trigger_guard(fcinfo, "outcome_guard", guard_tables,
												   guard_columns_typed);
	TupleDesc	desc;
	GuardColumns c;
	HeapTuple	newtup;
	char	   *new_status;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "learning_outcome_guard must be a BEFORE ROW trigger");

	desc = RelationGetDescr(trigdata->tg_relation);
	guard_columns(desc, &c);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtup = trigdata->tg_trigtuple;
		new_status = SPI_getvalue(newtup, desc, c.status);
		if (new_status != NULL && strcmp(new_status, "pending") != 0)
			newtup = fill_resolution(newtup, desc, &c, new_status);
		return PointerGetDatum(newtup);
	}

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		HeapTuple	oldtup = trigdata->tg_trigtuple;
		char	   *old_status = SPI_getvalue(oldtup, desc, c.status);

		newtup = trigdata->tg_newtuple;
		new_status = SPI_getvalue(newtup, desc, c.status);
		if (old_status != NULL && strcmp(old_status, "pending") != 0)
		{
			if (column_changed(oldtup, newtup, desc, c.status) ||
				column_changed(oldtup, newtup, desc, c.outcome_score) ||
				column_changed(oldtup, newtup, desc, c.predicted_confidence) ||
				column_changed(oldtup, newtup, desc, c.action_type) ||
				column_changed(oldtup, newtup, desc, c.tenant_id))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("outcome %s already resolved with status '%s', cannot re-resolve",
								SPI_getvalue(oldtup, desc, c.id), old_status),
						 errdetail("A resolved outcome's status, score, confidence, action type and tenant are final.")));
			return PointerGetDatum(newtup);
		}
		if (new_status != NULL && strcmp(new_status, "pending") != 0)
			newtup = fill_resolution(newtup, desc, &c, new_status);
		return PointerGetDatum(newtup);
	}

	return PointerGetDatum(trigdata->tg_trigtuple);
}

/*-------------------------------------------------------------------------
 *
 * write_path.c
 *		learning.record_outcome and learning.resolve_outcome in C.
 *
 * Agents call these for every action and every result, so they are the hot
 * path of the product.  Each checks its arguments in C (validate.c owns the
 * rules, and the messages and SQLSTATEs are those of the documented API),
 * then runs one saved statement with search_path pinned, as the caller: the
 * caller's privileges and row-level security apply as they did to the
 * PL/pgSQL versions of 0.1.0.  The row triggers and the table's one check do
 * the rest (outcomes.c, calibration.c, rollups.c, validate.c).
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/write_path.c
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
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "learning.h"

PG_FUNCTION_INFO_V1(learning_record_outcome);
PG_FUNCTION_INFO_V1(learning_resolve_outcome);

/* Saved plans (spi_util.c). */
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr stage_plan = NULL;
static SPIPlanPtr resolve_plan = NULL;

/* The resolution, for the row chosen by `where` ($1..$6 as resolve_outcome passes them). */
#define RESOLVE_SQL(where) \
	"UPDATE learning.outcome_records o " \
	"   SET status = $3, outcome_score = $4, signal_source = $5, resolved_at = pg_catalog.now() " \
	where "RETURNING o.*"
static SPIPlanPtr resolve_tid_plan = NULL;
static SPIPlanPtr status_plan = NULL;

/* text_arg is argument i as a C string, or NULL. */
static char *
text_arg(FunctionCallInfo fcinfo, int i)
{
	return PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i));
}

/*
 * check_deal_stage: a deal outcome can only be resolved from a stage that can
 * advance.  The stages are learning.deal_stage_rank's; this path is taken
 * only by deal outcomes that name their stage.
 */
static void
check_deal_stage(Jsonb *metadata)
{
	text	   *stage = learning_jsonb_field_text(metadata, "deal_stage_at_creation");
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1] = {stage == NULL ? 'n' : ' '};
	bool		isnull = true;

	values[0] = stage == NULL ? (Datum) 0 : PointerGetDatum(stage);
	if (SPI_execute_plan(learning_saved_plan(&stage_plan, "SELECT learning.deal_stage_rank($1)", 1, argtypes),
						 values, nulls, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid metadata.deal_stage_at_creation \"%s\"",
						stage == NULL ? "<NULL>" : text_to_cstring(stage)),
				 errdetail("Deal stages that can advance: prospecting, discovery, qualification, evaluation, negotiation, closed_won.")));
}

/*
 * learning_record_outcome: record_outcome(tenant_id, conversation_state_id,
 * action_type, predicted_confidence, outcome_type, action_id, rep_id,
 * metadata, cost, created_at) RETURNS uuid.  The checks run in the order of
 * 0.1.0, so a call with several bad arguments gets the same error.
 */
Datum
learning_record_outcome(PG_FUNCTION_ARGS)
{
	Oid			argtypes[10] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, TEXTOID,
	JSONBOID, NUMERICOID, TIMESTAMPTZOID};
	Datum		values[10];
	char		nulls[10];
	Jsonb	   *metadata = NULL;
	char	   *outcome_type;
	int			level;
	int			ret;
	bool		isnull;
	Datum		id;

	(void) learning_check_tenant_arg(fcinfo, 0);
	learning_check_id_text(fcinfo, 1, "conversation_state_id");
	learning_require_arg(fcinfo, 2, "action_type");
	learning_check_action_type(text_arg(fcinfo, 2));
	learning_require_arg(fcinfo, 3, "predicted_confidence");
	learning_check_confidence("predicted_confidence", PG_GETARG_FLOAT8(3));
	learning_require_arg(fcinfo, 4, "outcome_type");
	outcome_type = text_arg(fcinfo, 4);
	learning_check_json_object("metadata", fcinfo, 7);
	metadata = PG_GETARG_JSONB_P(7);
	learning_check_time("created_at", fcinfo, 9);
	if (!PG_ARGISNULL(5))
		learning_check_id_text(fcinfo, 5, "action_id");
	if (!PG_ARGISNULL(6))
		learning_check_id_text(fcinfo, 6, "rep_id");
	if (!PG_ARGISNULL(8))
		learning_check_cost(PG_GETARG_NUMERIC(8), true);
	learning_check_escalation_trigger(metadata);

	level = learning_spi_connect();
	if (strcmp(outcome_type, "deal_progression") == 0 &&
		learning_jsonb_has_key(metadata, "deal_stage_at_creation"))
		check_deal_stage(metadata);

	/* tenant, conversation, action type, action id, rep, confidence, type, metadata, cost, created_at */
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	values[4] = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
	values[5] = PG_GETARG_DATUM(3);
	values[6] = PG_GETARG_DATUM(4);
	values[7] = JsonbPGetDatum(metadata);
	values[8] = PG_ARGISNULL(8) ? (Datum) 0 : PG_GETARG_DATUM(8);
	values[9] = PG_GETARG_DATUM(9);
	memset(nulls, ' ', sizeof(nulls));
	nulls[3] = PG_ARGISNULL(5) ? 'n' : ' ';
	nulls[4] = PG_ARGISNULL(6) ? 'n' : ' ';
	nulls[8] = PG_ARGISNULL(8) ? 'n' : ' ';

	/*
	 * The window: the tenant's override, else the built-in one; for an
	 * unknown type learning.outcome_window raises its error (22023).
	 */
	ret = SPI_execute_plan(learning_saved_plan(&insert_plan,
											   "INSERT INTO learning.outcome_records "
											   "  (tenant_id, conversation_state_id, action_type, action_id, rep_id, "
											   "   predicted_confidence, outcome_type, window_expires_at, metadata, cost, created_at) "
											   "VALUES ($1, $2, $3, $4, $5, $6, $7, "
											   "        $10 + coalesce((SELECT w.window_length FROM learning.outcome_windows w "
											   "                         WHERE w.tenant_id = $1 AND w.outcome_type = $7), "
											   "                       learning.builtin_outcome_window($7), "
											   "                       learning.outcome_window($1, $7)), "
											   "        $8, $9, $10) "
											   "RETURNING id",
											   10, argtypes),
						   values, nulls, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "learning: recording the outcome failed: %s", SPI_result_code_string(ret));
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	id = SPI_datumTransfer(id, false, UUID_LEN);
	learning_spi_finish(level);
	PG_RETURN_DATUM(id);
}

/* check_resolution applies resolve_outcome's rules to status and score. */
static void
check_resolution(FunctionCallInfo fcinfo, const char *status)
{
	if (strcmp(status, "positive") != 0 && strcmp(status, "negative") != 0 &&
		strcmp(status, "ambiguous") != 0 && strcmp(status, "expired") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid status \"%s\"", status),
				 errdetail("An outcome is resolved as one of: ambiguous, expired, negative, positive.")));
	if (!PG_ARGISNULL(4))
		learning_check_id_text(fcinfo, 4, "signal_source");
	if (!PG_ARGISNULL(3))
	{
		learning_check_confidence("outcome_score", PG_GETARG_FLOAT8(3));
		if (strcmp(status, "ambiguous") == 0 || strcmp(status, "expired") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("outcome_score must be NULL for status %s, got %s",
							status, float8out_internal(PG_GETARG_FLOAT8(3)))));
	}
}

/*
 * outcome_tid finds the current version of the tenant's outcome straight
 * through the primary key, for an UPDATE by ctid; false when there is no
 * such row, when it is not pending, or when this path cannot be taken (then
 * the keyed statement decides, and says why).  A planned lookup by key could
 * not be trusted: the saved plan of resolve_outcome's UPDATE is made once per
 * session, and on a new install, before the first ANALYZE, the planner rates
 * every index that starts with tenant_id alike and may keep one that reads
 * all of the tenant's outcomes at every call.  Only the row's address is
 * taken from here; the UPDATE then checks the privileges, row-level
 * security, key and status as before.  The table is locked as the UPDATE
 * will lock it, and only for a caller who may read and update it.
 */
static bool
outcome_tid(Datum tenant_id, Datum outcome_id, ItemPointer tid)
{
	Oid			nsp = get_namespace_oid("learning", false);
	Oid			relid = get_relname_relid("outcome_records", nsp);
	Oid			pkey;
	Relation	rel;
	TupleDesc	desc;
	Snapshot	snapshot;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	/* ignore_system_indexes would make the scan below read the whole table */
	if (IgnoreSystemIndexes ||
		pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE | ACL_SELECT) != ACLCHECK_OK)
		return false;
	rel = table_open(relid, RowExclusiveLock);
	pkey = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pkey))
	{
		table_close(rel, NoLock);
		return false;
	}
	desc = RelationGetDescr(rel);
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyEntryInitialize(&keys[0], 0, learning_attnum(desc, "tenant_id"), BTEqualStrategyNumber,
						   InvalidOid, DEFAULT_COLLATION_OID, F_TEXTEQ, tenant_id);
	ScanKeyEntryInitialize(&keys[1], 0, learning_attnum(desc, "id"), BTEqualStrategyNumber,
						   InvalidOid, InvalidOid, F_UUID_EQ, outcome_id);
	scan = systable_beginscan(rel, pkey, true, snapshot, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		status = heap_getattr(tuple, learning_attnum(desc, "status"), desc, &isnull);

		/* a resolved row goes to the keyed statement, which fails on it as before */
		found = !isnull && strcmp(TextDatumGetCString(status), "pending") == 0;
		*tid = tuple->t_self;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, NoLock);
	return found;
}

/*
 * resolve_by_tid runs the resolution by the row's address; false when it
 * changed nothing (the row moved or is not pending: the keyed statement
 * then decides).
 */
static bool
resolve_by_tid(Datum *values, char *nulls)
{
	Oid			argtypes[7] = {TEXTOID, UUIDOID, TEXTOID, FLOAT8OID, TEXTOID, TEXTOID, TIDOID};
	ItemPointerData tid;
	int			ret;

	if (!outcome_tid(values[0], values[1], &tid))
		return false;
	values[6] = PointerGetDatum(&tid);
	nulls[6] = ' ';
	ret = SPI_execute_plan(learning_saved_plan(&resolve_tid_plan,
											   RESOLVE_SQL(" WHERE o.ctid = $7 AND o.tenant_id = $1 AND o.id = $2 AND o.status = $6 "),
											   7, argtypes),
						   values, nulls, false, 1);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "learning: resolving the outcome failed: %s", SPI_result_code_string(ret));
	return SPI_processed == 1;
}

/*
 * learning_resolve_outcome: resolve_outcome(tenant_id, outcome_id, status,
 * outcome_score, signal_source) RETURNS learning.outcome_records.  Exactly
 * once: the UPDATE takes only a pending row (the guard trigger, outcomes.c,
 * keeps every other path final too); P0002 when the tenant has no such
 * outcome, 55000 when it is already resolved.
 */
Datum
learning_resolve_outcome(PG_FUNCTION_ARGS)
{
	Oid			argtypes[6] = {TEXTOID, UUIDOID, TEXTOID, FLOAT8OID, TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	char	   *status;
	int			level;
	int			ret;
	Datum		row;

	(void) learning_check_tenant_arg(fcinfo, 0);
	learning_require_arg(fcinfo, 1, "outcome_id");
	learning_require_arg(fcinfo, 2, "status");
	status = text_arg(fcinfo, 2);
	check_resolution(fcinfo, status);

	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[4] = PG_ARGISNULL(4) ? CStringGetTextDatum("manual") : PG_GETARG_DATUM(4);
	/*
	 * 'pending' as a parameter, not a literal: a generic plan then cannot
	 * pick the partial pending index (every pending outcome of the tenant)
	 * over the primary key.
	 */
	values[5] = CStringGetTextDatum("pending");

	level = learning_spi_connect();
	if (resolve_by_tid(values, nulls))
	{
		row = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
		learning_spi_finish(level);
		PG_RETURN_DATUM(row);
	}
	/* the row moved meanwhile, or is not pending, or unknown: by its key */
	ret = SPI_execute_plan(learning_saved_plan(&resolve_plan,
											   RESOLVE_SQL(" WHERE o.tenant_id = $1 AND o.id = $2 AND o.status = $6 "),
											   6, argtypes),
						   values, nulls, false, 1);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "learning: resolving the outcome failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		row = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
		learning_spi_finish(level);
		PG_RETURN_DATUM(row);
	}

	/* not pending: unknown, or resolved already */
	ret = SPI_execute_plan(learning_saved_plan(&status_plan,
											   "SELECT o.status FROM learning.outcome_records o "
											   " WHERE o.tenant_id = $1 AND o.id = $2",
											   2, argtypes),
						   /* not read-only: a fresh snapshot sees the resolution that beat us */
						   values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: reading the outcome failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("outcome %s not found",
						DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(1)))),
				 errdetail("Tenant %s has no outcome with this id.", text_arg(fcinfo, 0))));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("outcome %s already resolved with status '%s', cannot re-resolve",
					DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(1))),
					SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
	PG_RETURN_NULL();			/* not reached */
}

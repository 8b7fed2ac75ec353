/*-------------------------------------------------------------------------
 *
 * deltas.c
 *		Keyed numeric deltas accumulated in transaction memory and written to
 *		their target table with one set-based statement per table: the one
 *		piece of code behind the exact calibration bins (calibration.c) and
 *		the dashboard rollups (rollups.c).
 *
 * A row-level trigger calls learning_delta_add(target, keys, values, sign)
 * for every row that changes a number.  The deltas of the whole transaction
 * are written once, just before commit (learning_deltas_xact_callback): each
 * counter row is then updated once per transaction, however many statements
 * touched it, instead of growing a chain of row versions that every later
 * statement of the transaction would have to walk, and the shard rows are
 * locked only for the moment of the commit.  So the counters a transaction
 * reads (bins, dashboards) are those committed; its own writes count from
 * its commit on.  What must see them earlier (a rebuild or truncate of the
 * rollups, learning.flush_pending_deltas()) calls learning_deltas_flush_all(),
 * which holds the counter rows' locks from then to the end of the transaction.
 *
 * A flush merges the entries of one key, sorts them (so two flushes never
 * deadlock), and executes the target's SQL once with every key column as a
 * text[] ($1..$k), every value as a float8[] ($k+1..$k+v) and this
 * backend's shard number as the last parameter; a flush of one key, the
 * common commit, passes scalars to a one-row form of the same SQL.  The SQL
 * is an upsert into shard rows "(keys..., shard)" so that concurrent writers
 * of one key never wait on one counter row; readers add the shards.
 *
 * Entries carry the subtransaction that made them: an aborted subtransaction
 * takes its deltas with it, a committed one hands them to its parent.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/deltas.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#else
#include "storage/backendid.h"
#endif
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "learning.h"

#if PG_VERSION_NUM >= 170000
#define LEARNING_BACKEND_NUMBER MyProcNumber
#else
#define LEARNING_BACKEND_NUMBER MyBackendId
#endif

/* The key of one accumulated delta: target, subtransaction, encoded key columns. */
typedef struct DeltaKey
{
	int			target;			/* index in registered_targets */
	SubTransactionId subid;
	uint32		len;			/* bytes of data */
	char	   *data;			/* key columns, each followed by a NUL */
} DeltaKey;

typedef struct DeltaEntry
{
	DeltaKey	key;			/* hash key, must be first */
	double		values[LEARNING_DELTA_MAX_VALUES];
} DeltaEntry;

/* Targets seen by this backend; their index is part of the key. */
#define MAX_TARGETS 16
static DeltaTarget *registered_targets[MAX_TARGETS];
static int	ntargets = 0;

/* Pending deltas; lives in TopTransactionContext. */
static HTAB *pending = NULL;

/*
 * Deltas written while inside a subtransaction (flush_pending_deltas): if
 * that subtransaction aborts, its writes are undone, so the deltas that
 * belong to live ancestors go back to pending.  TopTransactionContext.
 */
typedef struct WrittenDelta
{
	DeltaEntry	entry;			/* key.subid: the subtransaction that made it */
	SubTransactionId written_subid; /* the subtransaction that wrote it */
} WrittenDelta;

static List *written = NIL;

static uint32 delta_key_hash(const void *key, Size keysize);
static int	delta_key_match(const void *a, const void *b, Size keysize);
static int	target_index(DeltaTarget *target);
static void delta_enter(const DeltaKey *key, const double *values, int nvalues, double sign);
static int	entry_cmp(const void *a, const void *b);
static void learning_delta_flush(DeltaTarget *target);
static void relabel_written(SubTransactionId mySubid, SubTransactionId parentSubid);

static uint32
delta_key_hash(const void *key, Size keysize)
{
	const DeltaKey *k = key;

	return hash_combine(hash_bytes((const unsigned char *) k->data, k->len),
						(uint32) k->target * 65599u + (uint32) k->subid);
}

static int
delta_key_match(const void *a, const void *b, Size keysize)
{
	const DeltaKey *x = a;
	const DeltaKey *y = b;

	if (x->target != y->target || x->subid != y->subid || x->len != y->len)
		return 1;
	return memcmp(x->data, y->data, x->len);
}

/* target_index returns the index of a target, registering it on first use. */
static int
target_index(DeltaTarget *target)
{
	int			i;

	for (i = 0; i < ntargets; i++)
		if (registered_targets[i] == target)
			return i;
	if (ntargets >= MAX_TARGETS)
		elog(ERROR, "learning: too many delta targets");
	if (target->nvalues > LEARNING_DELTA_MAX_VALUES)
		elog(ERROR, "learning: delta target %s has too many values", target->name);
	registered_targets[ntargets] = target;
	return ntargets++;
}

/* delta_enter adds sign * values to the entry of key, creating it if needed. */
static void
delta_enter(const DeltaKey *key, const double *values, int nvalues, double sign)
{
	DeltaEntry *entry;
	bool		found;
	int			i;

	if (pending == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(DeltaKey);
		ctl.entrysize = sizeof(DeltaEntry);
		ctl.hash = delta_key_hash;
		ctl.match = delta_key_match;
		ctl.hcxt = TopTransactionContext;
		pending = hash_create("learning pending deltas", 64, &ctl,
							  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	entry = hash_search(pending, key, HASH_ENTER, &found);
	if (!found)
	{
		/* the key's bytes must outlive the caller's buffer */
		entry->key.data = MemoryContextAlloc(TopTransactionContext, key->len);
		memcpy(entry->key.data, key->data, key->len);
		memset(entry->values, 0, sizeof(entry->values));
	}
	for (i = 0; i < nvalues; i++)
		entry->values[i] += sign * values[i];
}

/*
 * learning_delta_add adds sign * values to the pending delta of the given
 * key (target->nkeys strings; NULL is stored as the empty string).
 */
void
learning_delta_add(DeltaTarget *target, const char *const *keys, const double *values, double sign)
{
	DeltaKey	key;
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < target->nkeys; i++)
	{
		if (keys[i] != NULL)
			appendStringInfoString(&buf, keys[i]);
		appendStringInfoChar(&buf, '\0');
	}
	key.target = target_index(target);
	key.subid = GetCurrentSubTransactionId();
	key.len = buf.len;
	key.data = buf.data;
	delta_enter(&key, values, target->nvalues, sign);
	pfree(buf.data);
}

/* Flush order: by key bytes, so that two flushes take row locks in one order. */
static int
entry_cmp(const void *a, const void *b)
{
	const DeltaEntry *x = *(DeltaEntry *const *) a;
	const DeltaEntry *y = *(DeltaEntry *const *) b;
	int			c = memcmp(x->key.data, y->key.data, Min(x->key.len, y->key.len));

	if (c != 0)
		return c;
	return (int) x->key.len - (int) y->key.len;
}

/*
 * flush_source is the relation of a flush's keys and values ($1..$n, every
 * parameter but the shard): one row of scalars, or arrays unnested side by
 * side.  The one-row form is the common case, the commit of a transaction
 * that wrote one outcome; it spares the executor a function scan and a
 * tuplestore per column.
 */
static char *
flush_source(const DeltaTarget *target, bool single)
{
	StringInfoData buf;
	int			n = target->nkeys + target->nvalues;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, single ? "(VALUES (" : "ROWS FROM (");
	for (i = 1; i <= n; i++)
		appendStringInfo(&buf, single ? "%s$%d" : "%spg_catalog.unnest($%d)", i > 1 ? ", " : "", i);
	appendStringInfoString(&buf, single ? "))" : ")");
	return buf.data;
}

/*
 * run_flush_statement runs one of a target's statements (sql, with "%s" for
 * the keys and values) for nrows keys: one key with its saved one-row plan,
 * up to LEARNING_GENERIC_PLAN_ROWS with its saved plan of arrays (planned
 * with index lookups, learning_plan_keyed_lookups, for this statement
 * only), more planned with the arrays' real sizes: a bulk write (an import,
 * a job over many tenants), for which the generic plan's nested loops would
 * be quadratic in the keys.  Runs inside learning_privileged_begin.
 */
static void
run_flush_statement(DeltaTarget *target, const char *sql, SPIPlanPtr *single_plan,
					SPIPlanPtr *plan, int nrows, Datum *params, Oid *argtypes)
{
	int			nparams = target->nkeys + target->nvalues + 1;
	bool		single = nrows == 1;
	int			ret;

	if (nrows <= LEARNING_GENERIC_PLAN_ROWS)
	{
		SPIPlanPtr *cache = single ? single_plan : plan;
		int			level = NewGUCNestLevel();	/* the settings end with this statement */

		learning_plan_keyed_lookups();
		if (*cache == NULL)
			(void) learning_saved_plan(cache, psprintf(sql, flush_source(target, single)), nparams, argtypes);
		ret = SPI_execute_plan(*cache, params, NULL, false, 0);
		AtEOXact_GUC(true, level);
	}
	else
		ret = SPI_execute_with_args(psprintf(sql, flush_source(target, false)), nparams, argtypes,
									params, NULL, false, 0);
	if (ret < 0)
		elog(ERROR, "learning: %s flush failed: %s", target->name, SPI_result_code_string(ret));
}

/*
 * learning_delta_flush writes the pending deltas of one target with one
 * execution of its SQL, then forgets them.  Entries of different live
 * subtransactions for one key are merged; keys whose deltas cancel out are
 * skipped.  Inside a subtransaction the written entries are remembered, so
 * that a rollback to the savepoint (which undoes the write) returns those of
 * live ancestors to pending.
 *
 * Called inside learning_privileged_begin (learning_deltas_flush_all): the
 * write runs as the bootstrap superuser, with search_path pinned to
 * pg_catalog: at commit the session may be an unprivileged role (PostgREST's
 * SET LOCAL ROLE) with no right to the counter tables, and the rows written
 * are derived from rows the role was allowed to write; the pinned path keeps
 * the session's own schemas (a planted operator) out of that statement.  An
 * error aborts the transaction, which restores the user and the path.
 */
static void
learning_delta_flush(DeltaTarget *target)
{
	HASH_SEQ_STATUS seq;
	DeltaEntry *entry;
	DeltaEntry **entries;
	long		count = 0;
	int			tix;
	int			nrows = 0;
	int			nparams = target->nkeys + target->nvalues + 1;
	Datum	  **keycols;
	Datum	  **valcols;
	Datum	   *params;
	Oid		   *argtypes;
	int			i, j;

	if (pending == NULL || hash_get_num_entries(pending) == 0)
		return;
	tix = target_index(target);

	entries = palloc(sizeof(DeltaEntry *) * hash_get_num_entries(pending));
	hash_seq_init(&seq, pending);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->key.target == tix)
			entries[count++] = entry;
	if (count == 0)
		return;
	qsort(entries, count, sizeof(DeltaEntry *), entry_cmp);

	keycols = palloc(sizeof(Datum *) * target->nkeys);
	for (j = 0; j < target->nkeys; j++)
		keycols[j] = palloc(sizeof(Datum) * count);
	valcols = palloc(sizeof(Datum *) * Max(target->nvalues, 1));
	for (j = 0; j < target->nvalues; j++)
		valcols[j] = palloc(sizeof(Datum) * count);

	for (i = 0; i < count; i++)
	{
		double		v[LEARNING_DELTA_MAX_VALUES];
		bool		nonzero = false;
		const char *p;

		memcpy(v, entries[i]->values, sizeof(v));
		while (i + 1 < count && entry_cmp(&entries[i], &entries[i + 1]) == 0)
		{
			i++;
			for (j = 0; j < target->nvalues; j++)
				v[j] += entries[i]->values[j];
		}
		for (j = 0; j < target->nvalues; j++)
			if (v[j] != 0)
				nonzero = true;
		if (!nonzero)
			continue;			/* e.g. a row inserted and deleted in one statement */
		p = entries[i]->key.data;
		for (j = 0; j < target->nkeys; j++)
		{
			keycols[j][nrows] = CStringGetTextDatum(p);
			p += strlen(p) + 1;
		}
		for (j = 0; j < target->nvalues; j++)
			valcols[j][nrows] = Float8GetDatum(v[j]);
		nrows++;
	}

	/* forget before writing: an error below aborts the statement anyway */
	for (i = 0; i < count; i++)
	{
		char	   *data = entries[i]->key.data;

		if (IsSubTransaction())
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
			WrittenDelta *w = palloc(sizeof(WrittenDelta));

			memcpy(&w->entry, entries[i], sizeof(DeltaEntry));
			w->written_subid = GetCurrentSubTransactionId();
			written = lappend(written, w);	/* keeps the key's data */
			MemoryContextSwitchTo(old);
		}
		hash_search(pending, &entries[i]->key, HASH_REMOVE, NULL);
		if (!IsSubTransaction())
			pfree(data);
	}
	if (nrows == 0)
		return;

	params = palloc(sizeof(Datum) * nparams);
	argtypes = palloc(sizeof(Oid) * nparams);
	for (j = 0; j < target->nkeys; j++)
	{
		params[j] = nrows == 1 ? keycols[j][0] :
			PointerGetDatum(construct_array(keycols[j], nrows, TEXTOID, -1, false, TYPALIGN_INT));
		argtypes[j] = nrows == 1 ? TEXTOID : TEXTARRAYOID;
	}
	for (j = 0; j < target->nvalues; j++)
	{
		params[target->nkeys + j] = nrows == 1 ? valcols[j][0] :
			PointerGetDatum(construct_array(valcols[j], nrows, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		argtypes[target->nkeys + j] = nrows == 1 ? FLOAT8OID : FLOAT8ARRAYOID;
	}
	params[nparams - 1] = Int16GetDatum((int16) (LEARNING_BACKEND_NUMBER % LEARNING_SHARDS));
	argtypes[nparams - 1] = INT2OID;

	/*
	 * A lock statement first, when the target has one: the flush that follows
	 * then reads, with a new snapshot, what every earlier committer wrote.
	 */
	if (target->lock_sql != NULL)
		run_flush_statement(target, target->lock_sql, &target->single_lock_plan, &target->lock_plan,
							nrows, params, argtypes);
	run_flush_statement(target, target->sql, &target->single_plan, &target->plan,
						nrows, params, argtypes);
}

/*
 * learning_deltas_flush_all flushes the pending deltas of every target, all
 * in one privileged block (settings pinned once for the commit's statements).
 */
void
learning_deltas_flush_all(void)
{
	LearningPrivileged priv;
	int			i;

	if (pending == NULL || hash_get_num_entries(pending) == 0)
		return;
	learning_privileged_begin(&priv);
	for (i = 0; i < ntargets; i++)
		learning_delta_flush(registered_targets[i]);
	learning_privileged_end(&priv);
}

/*
 * learning_deltas_xact_callback: deltas a statement somehow left behind are
 * flushed before commit; the pointer is dropped at every transaction end
 * (the memory goes with TopTransactionContext).
 */
void
learning_deltas_xact_callback(int event)
{
	switch ((XactEvent) event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (pending != NULL && hash_get_num_entries(pending) > 0)
			{
				PushActiveSnapshot(GetTransactionSnapshot());
				learning_deltas_flush_all();
				PopActiveSnapshot();
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending = NULL;
			written = NIL;
			break;
		default:
			break;
	}
}

/*
 * learning_deltas_subxact_abort drops what an aborted subtransaction added,
 * and returns to pending the ancestors' deltas it had written (the abort
 * undoes that write).
 */
void
learning_deltas_subxact_abort(SubTransactionId mySubid)
{
	HASH_SEQ_STATUS seq;
	DeltaEntry *entry;
	List	   *kept = NIL;
	ListCell   *lc;
	MemoryContext old;

	if (pending != NULL)
	{
		hash_seq_init(&seq, pending);
		while ((entry = hash_seq_search(&seq)) != NULL)
		{
			if (entry->key.subid == mySubid)
				hash_search(pending, &entry->key, HASH_REMOVE, NULL);
		}
	}
	if (written == NIL)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, written)
	{
		WrittenDelta *w = lfirst(lc);

		if (w->written_subid != mySubid)
			kept = lappend(kept, w);
		else if (w->entry.key.subid != mySubid)
			delta_enter(&w->entry.key, w->entry.values, LEARNING_DELTA_MAX_VALUES, 1.0);
	}
	list_free(written);
	written = kept;
	MemoryContextSwitchTo(old);
}

/* learning_deltas_subxact_commit hands a committed subtransaction's deltas to its parent. */
void
learning_deltas_subxact_commit(SubTransactionId mySubid, SubTransactionId parentSubid)
{
	HASH_SEQ_STATUS seq;
	DeltaEntry *entry;
	List	   *moved = NIL;
	ListCell   *lc;

	relabel_written(mySubid, parentSubid);
	if (pending == NULL || hash_get_num_entries(pending) == 0)
		return;
	hash_seq_init(&seq, pending);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (entry->key.subid == mySubid)
		{
			DeltaEntry *copy = MemoryContextAlloc(TopTransactionContext, sizeof(DeltaEntry));

			memcpy(copy, entry, sizeof(DeltaEntry));
			moved = lappend(moved, copy);
			hash_search(pending, &entry->key, HASH_REMOVE, NULL);
		}
	}
	foreach(lc, moved)
	{
		DeltaEntry *copy = lfirst(lc);

		copy->key.subid = parentSubid;
		delta_enter(&copy->key, copy->values, LEARNING_DELTA_MAX_VALUES, 1.0);
	}
}

/* relabel_written hands the written deltas of a committed subtransaction to its parent. */
static void
relabel_written(SubTransactionId mySubid, SubTransactionId parentSubid)
{
	ListCell   *lc;

	foreach(lc, written)
	{
		WrittenDelta *w = lfirst(lc);

		if (w->written_subid == mySubid)
			w->written_subid = parentSubid;
		if (w->entry.key.subid == mySubid)
			w->entry.key.subid = parentSubid;
	}
	/* written by the top level: nothing can undo them but the whole abort */
	if (parentSubid == TopSubTransactionId)
		written = NIL;
}

/* SQL: learning.flush_pending_deltas() -- writes this transaction's pending counters now. */
PG_FUNCTION_INFO_V1(learning_flush_pending_deltas);
Datum
learning_flush_pending_deltas(PG_FUNCTION_ARGS)
{
	learning_deltas_flush_all();
	PG_RETURN_VOID();
}

/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *		The bottom floor of the C code: how every other file runs SQL.
 *
 * The extension runs SQL from C in three situations, and each has one
 * entry point here:
 *
 *	- a SQL-callable function reads or writes on the caller's behalf:
 *	  learning_spi_connect() / learning_spi_finish();
 *	- the commit-time writers (counters, outbox) write as the bootstrap
 *	  superuser whoever the session is: learning_privileged_begin() /
 *	  learning_privileged_end();
 *	- a background worker connects: learning_worker_pin_search_path(), which
 *	  also pins the other settings a database owner could plant.
 *
 * In all three, search_path is pinned to "pg_catalog, pg_temp" while our
 * statements run, and every statement names the extension's objects
 * schema-qualified.  A session (or a database, through ALTER DATABASE ...
 * SET search_path) may put a schema of its own first on the path; without
 * the pin, an operator such as "=" planted there would be resolved by our
 * statements and run with the privileges of whoever runs them, which for
 * the workers and the commit-time writers is a superuser.
 *
 * Also here: saved plans and the tuple helpers every file uses.  This file
 * calls no other file of the extension.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/spi_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "learning.h"

/* The only search_path our statements ever run under. */
#define PINNED_SEARCH_PATH	"pg_catalog, pg_temp"

/*
 * learning_saved_plan returns the plan cached in *cache, preparing and
 * keeping it for the life of the backend on first use.  Every statement the
 * C code runs on a hot path (record, resolve, commit) goes through here, so
 * it is parsed and planned once per backend, not once per call.  Call inside
 * learning_spi_connect or learning_privileged_begin: the plan cache replans
 * when the search_path differs from the one a plan was made under, and the
 * path is always the pinned one there.
 */
SPIPlanPtr
learning_saved_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	if (*cache == NULL)
	{
		/*
		 * Always the generic plan: these statements take arrays and keys as
		 * parameters, for which a custom plan always looks cheaper, so the
		 * plan cache would re-plan them at every call.
		 */
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "learning: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "learning: SPI_keepplan failed");
		*cache = plan;
	}
	return *cache;
}

/*
 * learning_attnum is the attribute number of a column (elog when missing:
 * the extension's own tables always have it, and the trigger functions check
 * the table they fire on before they read a column).
 */
int
learning_attnum(TupleDesc desc, const char *column)
{
	int			attno = SPI_fnumber(desc, column);

	if (attno <= 0)
		elog(ERROR, "learning: column \"%s\" not found", column);
	return attno;
}

/* learning_tuple_text returns a column of a tuple as text (a C string), or NULL. */
char *
learning_tuple_text(HeapTuple tuple, TupleDesc desc, const char *column)
{
	return SPI_getvalue(tuple, desc, learning_attnum(desc, column));
}

/* learning_tuple_datum returns a column of a tuple; *isnull tells NULL. */
Datum
learning_tuple_datum(HeapTuple tuple, TupleDesc desc, const char *column, bool *isnull)
{
	return SPI_getbinval(tuple, desc, learning_attnum(desc, column), isnull);
}

/*
 * learning_pin_search_path sets search_path to "pg_catalog, pg_temp" until
 * learning_unpin_search_path(level).  Returns the GUC nest level.  An error
 * in between needs no cleanup: the (sub)transaction abort pops the level and
 * restores the caller's path, as for a function with SET search_path.
 */
int
learning_pin_search_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", PINNED_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/* learning_unpin_search_path restores the session's search_path. */
void
learning_unpin_search_path(int level)
{
	AtEOXact_GUC(true, level);
}

/*
 * learning_spi_connect connects to SPI with search_path pinned, for a
 * SQL-callable function that runs statements with the caller's privileges.
 * Returns what learning_spi_finish takes.
 */
int
learning_spi_connect(void)
{
	int			level = learning_pin_search_path();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "learning: SPI_connect failed");
	return level;
}

/* learning_spi_finish closes what learning_spi_connect opened. */
void
learning_spi_finish(int level)
{
	SPI_finish();
	learning_unpin_search_path(level);
}

/*
 * learning_privileged_begin switches to the bootstrap superuser in a
 * restricted security context, pins search_path and connects to SPI.  The
 * commit-time writers use it: at commit the session may be an unprivileged
 * role (PostgREST's SET LOCAL ROLE) with no right to the counter tables, the
 * outbox or the relay queue, which only the extension writes.  What they
 * write comes only from rows of the extension's own tables, checked by the
 * trigger functions (trigger_guard.c).  An error aborts the transaction,
 * which restores the user and the path.
 */
void
learning_privileged_begin(LearningPrivileged *p)
{
	GetUserIdAndSecContext(&p->save_userid, &p->save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   p->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	p->guc_level = learning_spi_connect();
}

/*
 * learning_plan_keyed_lookups: the commit-time statements' generic plans
 * look each key up through its index.  They are planned once per backend,
 * from the statistics of that moment, for the few keys a transaction usually
 * has; with those estimates the planner prefers a hash join over a
 * sequential scan of a table that is still small, and the saved plan keeps
 * scanning it at every commit as the table grows (a conversation table of a
 * few thousand rows made each record_outcome ten times slower).  Index
 * nested loops are right for the LEARNING_GENERIC_PLAN_ROWS keys these plans
 * serve at most; larger writes are planned with their real sizes, without
 * these settings.  The settings last until the caller's GUC nest level ends
 * (learning_privileged_end, or one of the caller's own), and every execution
 * of these plans, replans included, happens under them.
 */
void
learning_plan_keyed_lookups(void)
{
	static const char *const off[] = {"enable_seqscan", "enable_hashjoin", "enable_mergejoin"};
	int			i;

	for (i = 0; i < lengthof(off); i++)
		(void) set_config_option(off[i], "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/* learning_privileged_end undoes learning_privileged_begin. */
void
learning_privileged_end(LearningPrivileged *p)
{
	learning_spi_finish(p->guc_level);
	SetUserIdAndSecContext(p->save_userid, p->save_sec_context);
}

/*
 * Settings a worker pins for its whole life, right after it connects to its
 * database.  A non-superuser database owner may ALTER DATABASE ... SET any
 * of them, and every session of the database, the workers' included, starts
 * with them: a planted search_path would make the workers (the bootstrap
 * superuser) run the owner's operators; role would make them run as the
 * owner; the others would make every job fail or count days differently.
 */
static const char *const worker_settings[][2] = {
	{"search_path", PINNED_SEARCH_PATH},
	{"role", "none"},
	{"default_transaction_read_only", "off"},
	{"default_transaction_isolation", "read committed"},
	{"statement_timeout", "0"},
	{"lock_timeout", "0"},
	{"idle_in_transaction_session_timeout", "0"},
	{"timezone_abbreviations", "Default"},
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "postgres"},
	{"row_security", "on"},
};

/*
 * learning_worker_pin_search_path pins the settings above.  The source
 * PGC_S_OVERRIDE outranks every database and role setting, and functions with
 * their own SET clause still apply it (PGC_S_SESSION outranks the override).
 */
void
learning_worker_pin_search_path(void)
{
	int			i;

	for (i = 0; i < lengthof(worker_settings); i++)
		SetConfigOption(worker_settings[i][0], worker_settings[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

/*-------------------------------------------------------------------------
 *
 * schema_version.c
 *		Whether the extension's schema in this database is the one this
 *		library was built for, and the workers' wait until it is.
 *
 * An upgrade installs the new library and restarts the server, and only
 * then runs ALTER EXTENSION learning UPDATE in each database.  In between,
 * the new library runs against the old schema.  The SQL functions of the old
 * script keep working (their C symbols stay), but a background worker would
 * run the new version's statements against the old tables, so the workers
 * wait, saying so once in the log, until the update is done.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/schema_version.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "commands/dbcommands.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "learning.h"

/* How often a waiting worker looks again. */
#define SCHEMA_WAIT_POLL_MS		1000

/*
 * installed_version returns the version of extension learning in the current
 * database (palloc'd), or NULL when it is not installed.  Reads pg_extension
 * by its name index; call inside a transaction.
 */
static char *
installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("learning"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * learning_worker_wait_for_schema returns once extension learning in this
 * database is at this library's version (true), or is not installed (false).
 * Meanwhile the worker sleeps on its latch, answering SIGTERM and SIGHUP,
 * and logs the wait once.
 */
bool
learning_worker_wait_for_schema(const char *worker)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		logged = false;

	for (;;)
	{
		char	   *version;
		bool		current;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		version = installed_version();
		current = version != NULL && strcmp(version, EXTVERSION) == 0;
		if (version != NULL && !current && !logged)
		{
			ereport(LOG,
					(errmsg("learning %s of database \"%s\" is waiting for ALTER EXTENSION learning UPDATE",
							worker, get_database_name(MyDatabaseId)),
					 errdetail("The extension is at version \"%s\", the library at version \"%s\".",
							   version, EXTVERSION)));
			logged = true;
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
		if (version == NULL)
			return false;
		if (current)
			return true;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SCHEMA_WAIT_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

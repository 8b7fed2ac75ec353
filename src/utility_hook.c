/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *		The backends' side of the launcher: the utility hook that frees a
 *		database our workers are connected to before DROP DATABASE, DROP
 *		EXTENSION, CREATE DATABASE ... TEMPLATE and ALTER DATABASE need it,
 *		and the commit callback that lets the workers start again and wakes
 *		the launcher after CREATE EXTENSION learning.
 *
 * Core waits 5 seconds for other connections to leave a database it must
 * have to itself, then fails with "database is being accessed by other
 * users".  So before such a command, a backend marks the database's slot
 * of the shared table (launcher_shmem.c) as held, asks the launcher
 * (launcher.c) to stop its workers there, and waits for them to be gone;
 * when there is no launcher it signals them itself.  The hold ends with the
 * transaction, or after RELEASE_HOLD_MS should its end never be seen.  Only
 * the owner's commands free a database: anyone else's fails anyway, and
 * must not bounce our workers.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/utility_hook.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "workers.h"

/* Longest wait for a database's workers to stop before a utility command. */
#define RELEASE_WAIT_MS				5000

/*
 * Safety net for a freed database: workers start again after this even if
 * the end of the transaction that freed it was never seen.
 */
#define RELEASE_HOLD_MS				60000

/* Saved hook value. */
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Databases this transaction freed, and whether it created the extension. */
static List *pending_released = NIL;
static bool pending_extension_created = false;

static void learning_process_utility(PlannedStmt *pstmt, const char *queryString,
									 bool readOnlyTree, ProcessUtilityContext context,
									 ParamListInfo params, QueryEnvironment *queryEnv,
									 DestReceiver *dest, QueryCompletion *qc);
static Oid	database_to_release(Node *parsetree);
static Oid	template_to_release(CreatedbStmt *stmt);
static Oid	extension_database_to_release(DropStmt *stmt);
static bool may_own_database(Oid dboid);
static bool database_is_template(Oid dboid);
static void release_database(Oid dboid);
static bool release_step(Oid dboid);
static void workers_xact_callback(XactEvent event, void *arg);

/*
 * learning_register_backend_hooks installs the utility hook and the commit
 * callback.  Called from _PG_init, through learning_register_launcher, only
 * while the library is preloaded: without the launcher's shared table there
 * are no workers to move out of the way.
 */
void
learning_register_backend_hooks(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = learning_process_utility;
	RegisterXactCallback(workers_xact_callback, NULL);
}

/*
 * learning_process_utility frees a database our workers are connected to
 * before a command that needs it free, and notes CREATE EXTENSION learning so
 * that the launcher hears of it at commit.
 */
static void
learning_process_utility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		creates_extension = false;
	Oid			release;

	if (IsA(parsetree, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) parsetree)->extname, "learning") == 0)
		creates_extension = true;

	release = database_to_release(parsetree);
	if (OidIsValid(release))
		release_database(release);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (creates_extension)
		pending_extension_created = true;
}

/*
 * database_to_release: the database a utility command needs free of other
 * connections (core waits 5 seconds, then fails with "database is being
 * accessed by other users"), or InvalidOid.  Only when the caller owns it:
 * anyone else's command fails anyway, and must not bounce our workers.
 */
static Oid
database_to_release(Node *parsetree)
{
	Oid			dboid = InvalidOid;
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			dboid = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
			break;
		case T_CreatedbStmt:
			return template_to_release((CreatedbStmt *) parsetree);
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				dboid = get_database_oid(((RenameStmt *) parsetree)->subname, true);
			break;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
			{
				if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
					dboid = get_database_oid(((AlterDatabaseStmt *) parsetree)->dbname, true);
			}
			break;
		case T_DropStmt:
			return extension_database_to_release((DropStmt *) parsetree);
		default:
			break;
	}
	if (OidIsValid(dboid) && !may_own_database(dboid))
		dboid = InvalidOid;
	return dboid;
}

/*
 * template_to_release: the template CREATE DATABASE copies (nobody may be
 * connected to it), or InvalidOid.  Only when the copy is allowed, by core's
 * own check, made later: CREATEDB, and a template or a database one owns.
 */
static Oid
template_to_release(CreatedbStmt *stmt)
{
	const char *template = "template1";
	Oid			dboid;
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
			template = defGetString(opt);
	}
	dboid = get_database_oid(template, true);
	if (OidIsValid(dboid) &&
		!(have_createdb_privilege() &&
		  (database_is_template(dboid) || may_own_database(dboid))))
		dboid = InvalidOid;
	return dboid;
}

/*
 * extension_database_to_release: this database when DROP EXTENSION names
 * learning and the caller owns the extension, else InvalidOid.
 */
static Oid
extension_database_to_release(DropStmt *stmt)
{
	ListCell   *lc;
	Oid			extoid;

	if (stmt->removeType != OBJECT_EXTENSION)
		return InvalidOid;
	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "learning") == 0)
		{
			extoid = get_extension_oid("learning", true);
#if PG_VERSION_NUM >= 160000
			if (OidIsValid(extoid) &&
				object_ownercheck(ExtensionRelationId, extoid, GetUserId()))
#else
			if (OidIsValid(extoid) && pg_extension_ownercheck(extoid, GetUserId()))
#endif
				return MyDatabaseId;
		}
	}
	return InvalidOid;
}

/* database_is_template: pg_database.datistemplate (anyone with CREATEDB may copy it). */
static bool
database_is_template(Oid dboid)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	bool		result = false;

	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
		ReleaseSysCache(tup);
	}
	return result;
}

/* may_own_database: whether the current user owns the database. */
static bool
may_own_database(Oid dboid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(DatabaseRelationId, dboid, GetUserId());
#else
	return pg_database_ownercheck(dboid, GetUserId());
#endif
}

/*
 * release_database stops the scheduler and relay of a database and keeps
 * them stopped until this transaction ends (workers_xact_callback), waiting
 * at most RELEASE_WAIT_MS for them to be gone.
 */
static void
release_database(Oid dboid)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RELEASE_WAIT_MS);
	MemoryContext oldcxt;

	/*
	 * Even when no worker is there, the launcher must look at pg_database at
	 * commit; the list outlives the statement, for the commit callback.
	 */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	pending_released = list_append_unique_oid(pending_released, dboid);
	MemoryContextSwitchTo(oldcxt);

	while (!release_step(dboid))
	{
		if (GetCurrentTimestamp() >= deadline)
		{
			/* the command itself waits a little more, then explains */
			ereport(DEBUG1,
					(errmsg("learning workers of database %u did not stop within %d ms",
							dboid, RELEASE_WAIT_MS)));
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * release_step holds the database (again) and asks for its workers to stop;
 * true once they are gone.  The launcher stops them through its handles and
 * clears stop_requested when it saw them go; when there is no launcher, this
 * backend signals them itself (they never restart on their own).
 */
static bool
release_step(Oid dboid)
{
	LearningDbSlot *slot;
	pid_t		scheduler_pid;
	pid_t		relay_pid;
	bool		launcher_acted;

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	slot = learning_slot_find(dboid);
	if (slot == NULL)
	{
		/* no worker there */
		LWLockRelease(LearningWorkers->lock);
		return true;
	}
	slot->hold_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RELEASE_HOLD_MS);
	if (!slot->stop_requested && (slot->scheduler_pid != 0 || slot->relay_pid != 0))
	{
		slot->stop_requested = true;
		learning_wake_launcher();
	}
	scheduler_pid = slot->scheduler_pid;
	relay_pid = slot->relay_pid;
	launcher_acted = !slot->stop_requested || LearningWorkers->launcher_pid == 0;
	if (LearningWorkers->launcher_pid == 0)
	{
		if (learning_worker_alive(scheduler_pid, LEARNING_SCHEDULER_TYPE))
			kill(scheduler_pid, SIGTERM);
		if (learning_worker_alive(relay_pid, LEARNING_RELAY_TYPE))
			kill(relay_pid, SIGTERM);
	}
	LWLockRelease(LearningWorkers->lock);

	return launcher_acted &&
		!learning_worker_alive(scheduler_pid, LEARNING_SCHEDULER_TYPE) &&
		!learning_worker_alive(relay_pid, LEARNING_RELAY_TYPE);
}

/*
 * workers_xact_callback: at the end of a transaction that freed databases,
 * lets their workers start again (the launcher finds dropped databases gone),
 * and after CREATE EXTENSION learning commits asks for a scheduler at once.
 * Runs during commit and abort: it must not fail, so no allocation and no
 * error, only the lock and a latch.
 */
static void
workers_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;
	bool		commit;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if (pending_released == NIL && !pending_extension_created)
		return;
	commit = (event == XACT_EVENT_COMMIT);

	LWLockAcquire(LearningWorkers->lock, LW_EXCLUSIVE);
	foreach(lc, pending_released)
	{
		LearningDbSlot *slot = learning_slot_find(lfirst_oid(lc));

		if (slot != NULL)
		{
			slot->hold_until = 0;
			slot->stop_requested = false;
		}
	}
	if (commit && pending_extension_created)
	{
		LearningDbSlot *slot = learning_slot_get(MyDatabaseId);

		if (slot != NULL)
			slot->start_requested = true;
	}
	LearningWorkers->rescan = true;
	learning_wake_launcher();
	LWLockRelease(LearningWorkers->lock);

	list_free(pending_released);
	pending_released = NIL;
	pending_extension_created = false;
}

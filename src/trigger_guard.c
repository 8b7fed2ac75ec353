/*-------------------------------------------------------------------------
 *
 * trigger_guard.c
 *		The trigger functions of the extension fire only on its own tables.
 *
 * A trigger function is an ordinary function: whoever may execute it can
 * attach it to a table of their own, a temporary one for instance, and feed
 * it rows of their choosing.  Ours read columns by name and hand what they
 * read to the commit-time writers, which write counters and events as the
 * bootstrap superuser.  So before reading anything each trigger function
 * checks that the table it fires on is one of the extension's own (in its
 * schema, a member of the extension, with the expected name) and that the
 * columns it reads have the types it reads them as.  EXECUTE on the trigger
 * functions is also revoked from PUBLIC; this check holds even for a role
 * that was granted it.
 *
 * The full check costs catalog lookups, so a table that passed it is
 * remembered (with the function's column list) until the relation cache
 * says the table changed.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/trigger_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "learning.h"

/* (table, column list) pairs that passed the full check. */
#define GUARD_CACHE_SIZE	16

typedef struct GuardEntry
{
	Oid			relid;
	const LearningColumn *columns;
} GuardEntry;

static GuardEntry guard_cache[GUARD_CACHE_SIZE];
static int	guard_cache_used = 0;
static bool guard_callback_registered = false;

/* Any change to a relation may change what it is: forget every check. */
static void
guard_relcache_callback(Datum arg, Oid relid)
{
	guard_cache_used = 0;
}

static bool
guard_cached(Oid relid, const LearningColumn *columns)
{
	int			i;

	for (i = 0; i < guard_cache_used; i++)
		if (guard_cache[i].relid == relid && guard_cache[i].columns == columns)
			return true;
	return false;
}

static void
guard_remember(Oid relid, const LearningColumn *columns)
{
	if (!guard_callback_registered)
	{
		CacheRegisterRelcacheCallback(guard_relcache_callback, (Datum) 0);
		guard_callback_registered = true;
	}
	if (guard_cache_used == GUARD_CACHE_SIZE)
		guard_cache_used = 0;
	guard_cache[guard_cache_used].relid = relid;
	guard_cache[guard_cache_used].columns = columns;
	guard_cache_used++;
}

/* refuse_table raises the error every refusal of a table uses. */
static void
refuse_table(const char *function, Relation rel, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("trigger function \"learning.%s\" may fire only on the learning extension's own tables",
					function),
			 errdetail("It fired on table \"%s.%s\", which %s.",
					   get_namespace_name(RelationGetNamespace(rel)),
					   RelationGetRelationName(rel), why)));
}

/* is_extension_table tells whether rel is one of the named tables of extension learning. */
static bool
is_extension_table(Relation rel, const char *const *tables, const char **why)
{
	Oid			ext = get_extension_oid("learning", true);
	const char *nsp = get_namespace_name(RelationGetNamespace(rel));
	int			i;

	/* the control file fixes the schema: learning, not relocatable */
	if (!OidIsValid(ext) || nsp == NULL || strcmp(nsp, "learning") != 0)
	{
		*why = "is not in the extension's schema";
		return false;
	}
	if (getExtensionOfObject(RelationRelationId, RelationGetRelid(rel)) != ext)
	{
		*why = "does not belong to the extension";
		return false;
	}
	for (i = 0; tables[i] != NULL; i++)
		if (strcmp(RelationGetRelationName(rel), tables[i]) == 0)
			return true;
	*why = "is not a table this function serves";
	return false;
}

/* check_columns refuses a table whose columns are missing or of another type. */
static void
check_columns(const char *function, Relation rel, const LearningColumn *columns)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; columns != NULL && columns[i].name != NULL; i++)
	{
		int			attno = SPI_fnumber(desc, columns[i].name);

		if (attno <= 0 || TupleDescAttr(desc, attno - 1)->atttypid != columns[i].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("trigger function \"learning.%s\" needs column \"%s\" of type %s",
							function, columns[i].name, format_type_be(columns[i].type)),
					 errdetail("Table \"%s\" has %s.", RelationGetRelationName(rel),
							   attno <= 0 ? "no such column" :
							   psprintf("it as %s", format_type_be(TupleDescAttr(desc, attno - 1)->atttypid)))));
	}
}

/*
 * learning_trigger_guard returns the trigger data of a call after checking
 * that it is a trigger call on one of `tables` (NULL-terminated names of the
 * extension's tables) whose `columns` (terminated by a NULL name, or NULL)
 * have the listed types.  Errors: 39P01 when not called as a trigger, 42501
 * on any other table, 42804 on a column of the wrong type.
 */
TriggerData *
learning_trigger_guard(FunctionCallInfo fcinfo, const char *function,
					   const char *const *tables, const LearningColumn *columns)
{
	TriggerData *trigdata;
	Relation	rel;
	const char *why = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"learning.%s\" was not called by the trigger manager", function)));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	if (guard_cached(RelationGetRelid(rel), columns))
		return trigdata;

	if (!is_extension_table(rel, tables, &why))
		refuse_table(function, rel, why);
	check_columns(function, rel, columns);
	guard_remember(RelationGetRelid(rel), columns);
	return trigdata;
}

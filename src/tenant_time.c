/*-------------------------------------------------------------------------
 *
 * tenant_time.c
 *		A tenant's time zone and the local calendar day of a time in it.
 *
 * Dashboards count by the tenant's calendar days: the rollup triggers, the
 * outbox's notification metrics and the dashboard reads all ask here.  The
 * zone is read from learning.tenant_settings once per statement and kept in
 * transaction memory.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/tenant_time.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "pgtime.h"

#include "learning.h"

PG_FUNCTION_INFO_V1(learning_is_time_zone_name);

/* Time zones of the tenants this statement wrote; gone at transaction end. */
typedef struct TenantZone
{
	char		tenant_id[LEARNING_TENANT_MAXLEN + 1];	/* hash key: must be first */
	char	   *time_zone;
} TenantZone;

#if PG_VERSION_NUM >= 170000
#define LEARNING_LXID (MyProc->vxid.lxid)
#else
#define LEARNING_LXID (MyProc->lxid)
#endif

/* A hash table (a statement may write for a hundred thousand tenants). */
static HTAB *tenant_zones = NULL;
static LocalTransactionId tenant_zones_lxid = InvalidLocalTransactionId;
static CommandId tenant_zones_cid = InvalidCommandId;
static TenantZone *zone_for(const char *tenant_id);

/* read_zone reads a tenant's time zone (NULL when not set) into TopTransactionContext. */
static char *
read_zone(const char *tenant_id)
{
	/*
	 * One primary-key probe of learning.tenant_settings, straight through its
	 * index: this runs for every statement that writes outcomes or feedback,
	 * where a planned query cost more than the rest of the rollup work.
	 */
	Oid			nsp = get_namespace_oid("learning", false);
	Relation	rel = table_open(get_relname_relid("tenant_settings", nsp), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *zone = NULL;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(tenant_id));
	scan = systable_beginscan(rel, get_relname_relid("tenant_settings_pkey", nsp), true,
							  GetActiveSnapshot(), 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, learning_attnum(RelationGetDescr(rel), "time_zone"),
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			zone = MemoryContextStrdup(TopTransactionContext, TextDatumGetCString(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return zone;
}

/*
 * zone_for returns the time zone of a tenant (UTC unless set), read once per
 * statement.  A time zone change rebuilds the tenant's rollups under a lock
 * that waits for every writer, and a later statement of the same
 * transaction reads the new zone.
 */
static TenantZone *
zone_for(const char *tenant_id)
{
	char		key[LEARNING_TENANT_MAXLEN + 1];
	TenantZone *z;
	bool		found;

	if (tenant_zones == NULL || tenant_zones_lxid != LEARNING_LXID ||
		tenant_zones_cid != GetCurrentCommandId(false))
	{
		HASHCTL		ctl;

		/* an older table went with its transaction's memory, or waits for it */
		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(TenantZone);
		ctl.hcxt = TopTransactionContext;
		tenant_zones = hash_create("learning tenant time zones", 64, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		tenant_zones_lxid = LEARNING_LXID;
		tenant_zones_cid = GetCurrentCommandId(false);
	}
	memset(key, 0, sizeof(key));
	strlcpy(key, tenant_id, sizeof(key));
	z = hash_search(tenant_zones, key, HASH_FIND, NULL);
	if (z == NULL)
	{
		/* read before entering: an error leaves no half-made entry */
		char	   *zone = read_zone(tenant_id);

		z = hash_search(tenant_zones, key, HASH_ENTER, &found);
		z->time_zone = zone != NULL ? zone : "UTC";
	}
	return z;
}

/* learning_tenant_time_zone returns a tenant's time zone (UTC unless set). */
const char *
learning_tenant_time_zone(const char *tenant_id)
{
	return zone_for(tenant_id)->time_zone;
}

/* learning_local_day returns the calendar day of ts in the given time zone. */
DateADT
learning_local_day(const char *time_zone, TimestampTz ts)
{
	Datum		local = DirectFunctionCall2(timestamptz_zone, PointerGetDatum(cstring_to_text(time_zone)),
											TimestampTzGetDatum(ts));

	return DatumGetDateADT(DirectFunctionCall1(timestamp_date, local));
}

/*
 * learning_is_time_zone_name: is_time_zone_name(text) for the table check of
 * learning.tenant_settings.  A tenant's zone is "UTC" or a region name
 * (containing "/") that PostgreSQL knows.  Names without a region, such as
 * "EST" or "CET", are refused: AT TIME ZONE and timezone() read them as
 * abbreviations first, whose meaning depends on each session's
 * timezone_abbreviations, so two sessions could put one outcome on two
 * different days.  No abbreviation contains "/".
 */
Datum
learning_is_time_zone_name(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strcmp(name, "UTC") == 0)
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(strchr(name, '/') != NULL && pg_tzset(name) != NULL);
}

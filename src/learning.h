/*-------------------------------------------------------------------------
 *
 * learning.h
 *		Declarations shared by the C files of the learning extension.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/learning.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEARNING_H
#define LEARNING_H

#include "postgres.h"
#include "fmgr.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* Vocabulary limits: tenant ids and action types. */
#define LEARNING_TENANT_MAXLEN		48
#define LEARNING_ACTION_MAXLEN		50
#define LEARNING_COST_MAX			1000000000	/* the most one action may cost */
#define LEARNING_NBINS				10

/*
 * The calibration check (calibration.c) and the dashboards' summary of it
 * (analytics_period.c): bins with at least this many samples count, and a
 * mean gap beyond this is miscalibration.
 */
#define LEARNING_ADJUST_MIN_SAMPLES	10
#define LEARNING_ADJUST_GAP			0.15

/* GUCs (learning.c). */
extern bool learning_enabled;
extern bool learning_notify_metrics;
extern double learning_notify_queue_limit;

/* spi_util.c: how every file runs SQL (pinned search_path, saved plans, tuples). */
typedef struct LearningPrivileged
{
	Oid			save_userid;
	int			save_sec_context;
	int			guc_level;
} LearningPrivileged;

extern SPIPlanPtr learning_saved_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes);
extern int	learning_attnum(TupleDesc desc, const char *column);
extern int	learning_pin_search_path(void);
extern void learning_unpin_search_path(int level);
extern int	learning_spi_connect(void);
extern void learning_spi_finish(int level);
extern void learning_privileged_begin(LearningPrivileged *p);
extern void learning_privileged_end(LearningPrivileged *p);
extern void learning_plan_keyed_lookups(void);

/*
 * Up to this many rows (keys of a counter flush, events of an outbox write)
 * a commit-time statement runs its saved generic plan, planned once per
 * backend for the commit of an ordinary transaction; beyond (an import, a job
 * over many tenants), it is planned with its arrays' real sizes.
 */
#define LEARNING_GENERIC_PLAN_ROWS	1000
extern void learning_worker_pin_search_path(void);
extern char *learning_tuple_text(HeapTuple tuple, TupleDesc desc, const char *column);
extern Datum learning_tuple_datum(HeapTuple tuple, TupleDesc desc, const char *column, bool *isnull);

/* schema_version.c: workers wait while the schema lags behind the library. */
extern bool learning_worker_wait_for_schema(const char *worker);

/* trigger_guard.c: the trigger functions fire only on the extension's own tables. */
typedef struct LearningColumn
{
	const char *name;
	Oid			type;
} LearningColumn;

extern TriggerData *learning_trigger_guard(FunctionCallInfo fcinfo, const char *function,
										   const char *const *tables,
										   const LearningColumn *columns);

/* learning.c: GUCs. */
/* job intervals, in milliseconds */
extern int	learning_immediate_signals_interval;
extern int	learning_engagement_signals_interval;
extern int	learning_deal_progression_interval;
extern int	learning_expire_overdue_interval;
extern int	learning_calibration_check_interval;
extern int	learning_job_history_retention;
extern int	learning_job_batch_tenants;
extern int	learning_max_workers;

/* learning.c: GUCs of the event relay (relay.c). */
extern int	learning_webhook_timeout;
extern int	learning_webhook_connect_timeout;
extern int	learning_webhook_max_attempts;
extern int	learning_webhook_retry_base;
extern int	learning_webhook_delivery_retention;
extern int	learning_relay_poll_interval;
extern char *learning_sse_publish_url;
extern bool learning_webhook_allow_private_networks;

/* launcher.c: registers the launcher (and the shared table and hooks it needs). */
extern void learning_register_launcher(void);

/* validate.c: input checks that raise precise errors. */
extern void learning_check_tenant_id(const char *tenant_id);
extern char *learning_check_tenant_arg(FunctionCallInfo fcinfo, int argno);
extern void learning_check_action_type(const char *action_type);
extern void learning_check_confidence(const char *field, double p);
extern void learning_require_arg(FunctionCallInfo fcinfo, int argno, const char *field);
extern void learning_check_days(int days);
extern void learning_check_cost(Numeric cost, bool as_float8);
extern void learning_check_id_text(FunctionCallInfo fcinfo, int argno, const char *field);
extern void learning_check_time(const char *field, FunctionCallInfo fcinfo, int argno);
extern void learning_check_json_object(const char *field, FunctionCallInfo fcinfo, int argno);
extern void learning_check_escalation_trigger(Jsonb *metadata);
extern text *learning_jsonb_field_text(Jsonb *jb, const char *key);
extern bool learning_jsonb_has_key(Jsonb *jb, const char *key);

/* stats.c: exact tests and false-discovery control for coaching. */
extern double learning_fisher_exact(double a, double b, double c, double d);
extern double learning_binom_cdf(double x, double n, double p);
extern double learning_binom_sf(double x, double n, double p);
extern void learning_bh_qvalues(const double *p, double *q, int m);

/* json.c helpers: append JSON values to a StringInfo. */
extern void learning_json_string(StringInfo buf, const char *s);
extern void learning_json_float(StringInfo buf, double v);
extern void learning_json_key(StringInfo buf, const char *key, bool *first);
extern void learning_format_date(char *buf, size_t len, DateADT day);
extern void learning_json_date(StringInfo buf, DateADT day);
extern void learning_json_timestamp(StringInfo buf, TimestampTz ts);

/*
 * deltas.c: keyed numeric deltas accumulated per transaction and flushed with
 * one statement per target table (calibration bins, dashboard rollups).
 */
#define LEARNING_SHARDS				16
#define LEARNING_DELTA_MAX_VALUES	12

typedef struct DeltaTarget
{
	const char *name;			/* for messages */
	int			nkeys;			/* key columns: $1..$nkeys, text */
	int			nvalues;		/* values after the keys, float8 */
	/*
	 * The flush; the last parameter is the shard (int2).  "%s" stands for
	 * the relation of the keys and values (every parameter but the shard, in
	 * order), which deltas.c fills in: one row of scalars, or the rows of
	 * arrays unnested.
	 */
	const char *sql;
	SPIPlanPtr	plan;			/* prepared on first flush: arrays */
	const char *lock_sql;		/* NULL, or a statement run first with the same parameters */
	SPIPlanPtr	lock_plan;
	SPIPlanPtr	single_plan;	/* prepared on first flush of one key: scalars */
	SPIPlanPtr	single_lock_plan;
} DeltaTarget;

extern void learning_delta_add(DeltaTarget *target, const char *const *keys,
							   const double *values, double sign);
extern void learning_deltas_flush_all(void);
extern void learning_deltas_xact_callback(int event);
extern void learning_deltas_subxact_abort(SubTransactionId mySubid);
extern void learning_deltas_subxact_commit(SubTransactionId mySubid,
										   SubTransactionId parentSubid);

/* tenant_time.c: the local day of a timestamp in a tenant's time zone. */
extern const char *learning_tenant_time_zone(const char *tenant_id);
extern DateADT learning_local_day(const char *time_zone, TimestampTz ts);

/* relay.c: wake this database's relay when the transaction commits. */
extern void learning_relay_wake_at_commit(void);

/* learning.c: how long events are kept (learning.event_retention). */
extern int	learning_event_retention;

/* events.c: the outbox, one NOTIFY per tenant per committed transaction. */
extern void learning_event_emit(const char *tenant_id, const char *event_type, const char *payload_json);
extern StringInfo learning_event_row(const char *tenant_id, const char *event_type, const char *status);
extern void learning_events_statement_end(void);
extern void learning_events_xact_callback(int event);
extern void learning_events_subxact_abort(SubTransactionId mySubid);
extern void learning_events_subxact_commit(SubTransactionId mySubid,
										   SubTransactionId parentSubid);

/* analytics_period.c: the trend rule of the dashboards. */
extern const char *learning_trend(const double *values, int n);

#endif							/* LEARNING_H */

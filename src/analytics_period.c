/*-------------------------------------------------------------------------
 *
 * analytics_period.c
 *		Reading a period for the dashboards and coaching: the arguments, the
 *		rollup rows that rollups.c keeps exact, and the jsonb result; also
 *		the trend rule (trend_direction).
 *
 * A period of N days is the last N calendar days in the tenant's time zone,
 * today included.  Every call reads at most a few thousand rollup rows
 * (days x reps x action types x shards), whatever the size of the history:
 *	- outcome_rollups grouped by action type, rep, outcome type and escalation
 *	  trigger in one GROUPING SETS query;
 *	- daily_totals per day (daily series, distinct conversations);
 *	- feedback_rollups per day, target type, source and rating;
 *	- calibration_curve per action type (the calibration bins).
 *
 * This file calls no other file of the dashboards or coaching.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/analytics_period.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/jsonb.h"

#include "analytics.h"

#define TREND_BAND				0.1

PG_FUNCTION_INFO_V1(learning_trend_direction);

/*
 * GROUPING(action_type, rep_id, outcome_type, escalation_trigger) of a row
 * of the outcomes query sets the bit of each column the row is summed over,
 * the first column's bit the highest.  Each grouping set has its mask.
 */
#define SUMMED_ACTION_TYPE		8
#define SUMMED_REP_ID			4
#define SUMMED_OUTCOME_TYPE		2
#define SUMMED_TRIGGER			1

typedef enum OutcomeGrouping
{
	/* grouped by action_type */
	BY_ACTION_TYPE = SUMMED_REP_ID | SUMMED_OUTCOME_TYPE | SUMMED_TRIGGER,
	/* grouped by rep_id */
	BY_REP = SUMMED_ACTION_TYPE | SUMMED_OUTCOME_TYPE | SUMMED_TRIGGER,
	/* grouped by outcome_type */
	BY_OUTCOME_TYPE = SUMMED_ACTION_TYPE | SUMMED_REP_ID | SUMMED_TRIGGER,
	/* grouped by outcome_type and escalation_trigger */
	BY_OUTCOME_TRIGGER = SUMMED_ACTION_TYPE | SUMMED_REP_ID,
	/* no column grouped: the period's total */
	BY_NOTHING = SUMMED_ACTION_TYPE | SUMMED_REP_ID | SUMMED_OUTCOME_TYPE | SUMMED_TRIGGER
} OutcomeGrouping;

/* The queries of a period, in the table below. */
enum
{
	Q_OUTCOMES, Q_DAILY, Q_FEEDBACK, Q_CALIBRATION, NQUERIES
};

/*
 * $1 is the tenant; $2 and $3 the period's first and last day; $4, when
 * there, the rep or reviewer the period is restricted to (NULL: everyone).
 */
static AnalyticsQuery queries[NQUERIES] = {
	/* grouping masks: OutcomeGrouping */
	[Q_OUTCOMES] = {
		"SELECT GROUPING(action_type, rep_id, outcome_type, escalation_trigger)::int, action_type, rep_id, "
		"       outcome_type, escalation_trigger, sum(actions)::float8, sum(pending)::float8, sum(positive)::float8, "
		"       sum(negative)::float8, sum(ambiguous)::float8, sum(expired)::float8, sum(score_sum), sum(cost_sum), "
		"       sum(cost_count)::float8, sum(deals_closed_won)::float8 "
		"  FROM learning.outcome_rollups "
		" WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 AND ($4::text IS NULL OR rep_id = $4) "
		" GROUP BY GROUPING SETS ((action_type), (rep_id), (outcome_type), (outcome_type, escalation_trigger), ()) "
		" ORDER BY 1, 2, 3, 4, 5",
		4, {TEXTOID, DATEOID, DATEOID, TEXTOID}
	},
	[Q_DAILY] = {
		"SELECT pg_catalog.to_char(day, 'YYYY-MM-DD'), sum(actions)::float8, sum(positive)::float8, "
		"       sum(conversations)::float8, sum(conversations_with_feedback)::float8 "
		"  FROM learning.daily_totals WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 "
		" GROUP BY day ORDER BY day",
		3, {TEXTOID, DATEOID, DATEOID}
	},
	[Q_FEEDBACK] = {
		"SELECT pg_catalog.to_char(day, 'YYYY-MM-DD'), target_type, source, rating::float8, sum(n)::float8 "
		"  FROM learning.feedback_rollups "
		" WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 AND ($4::text IS NULL OR reviewer_id = $4) "
		" GROUP BY day, target_type, source, rating ORDER BY day, target_type, source, rating",
		4, {TEXTOID, DATEOID, DATEOID, TEXTOID}
	},
	/* the curve of every action type with bins; g over bins with enough samples */
	[Q_CALIBRATION] = {
		"SELECT a.action_type, (c->>'brier_score')::float8, (c->>'sample_count')::float8, "
		"       (c->>'is_calibrated')::boolean, "
		"       (SELECT sum((b->>'count')::float8 * ((b->>'mean_predicted')::float8 - (b->>'actual_rate')::float8)) "
		"               / nullif(sum((b->>'count')::float8), 0) "
		"          FROM pg_catalog.jsonb_array_elements(c->'bins') b WHERE (b->>'count')::float8 >= " CppAsString2(LEARNING_ADJUST_MIN_SAMPLES) ") "
		"  FROM (SELECT DISTINCT action_type FROM learning.calibration_bins WHERE tenant_id = $1) a "
		" CROSS JOIN LATERAL learning.calibration_curve($1, a.action_type) c "
		" WHERE (c->>'sample_count')::float8 > 0 ORDER BY 1",
		1, {TEXTOID}
	}
};

/* learning_analytics_run executes query q with the given arguments (read-only). */
void
learning_analytics_run(AnalyticsQuery *q, Datum *values, const char *nulls)
{
	int			ret;

	ret = SPI_execute_plan(learning_saved_plan(&q->plan, q->sql, q->nargs, q->argtypes),
						   values, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: a dashboard query failed: %s", SPI_result_code_string(ret));
}

/* ----------------------------------------------------------------
 * The trend rule
 * ----------------------------------------------------------------
 */

/*
 * learning_trend applies the documented trend rule to a daily series: halves
 * (the extra day goes to the second), mean of each; a first mean of 0 gives
 * stable (second also 0) or improving; else a change above +10 % improving,
 * below -10 % declining, stable in between (band inclusive); fewer than 2
 * days stable.
 */
const char *
learning_trend(const double *values, int n)
{
	int			mid = n / 2;
	double		a1 = 0, a2 = 0, change;
	int			i;

	if (n < 2)
		return "stable";
	for (i = 0; i < mid; i++)
		a1 += values[i];
	for (i = mid; i < n; i++)
		a2 += values[i];
	a1 /= mid;
	a2 /= (n - mid);
	if (a1 == 0)
		return a2 == 0 ? "stable" : "improving";
	change = (a2 - a1) / a1;
	if (change > TREND_BAND)
		return "improving";
	if (change < -TREND_BAND)
		return "declining";
	return "stable";
}

/* learning_trend_direction: trend_direction(float8[]) for tests and clients. */
Datum
learning_trend_direction(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n, i;
	double	   *v;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("daily_values must be a one-dimensional array")));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	v = palloc(sizeof(double) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("daily_values must not contain nulls")));
		v[i] = DatumGetFloat8(elems[i]);
		if (isnan(v[i]) || isinf(v[i]))
			ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							errmsg("daily_values must be finite numbers, got %s at position %d",
								   float8out_internal(v[i]), i + 1)));
	}
	PG_RETURN_TEXT_P(cstring_to_text(learning_trend(v, n)));
}

/* ----------------------------------------------------------------
 * Reading a period
 * ----------------------------------------------------------------
 */

/*
 * learning_period_args checks tenant_id (arg 0) and days (arg days_arg) and
 * fills the period: [today - days + 1, today] in the tenant's time zone.
 */
void
learning_period_args(FunctionCallInfo fcinfo, int days_arg, Period *p)
{
	memset(p, 0, sizeof(Period));
	p->tenant_id = learning_check_tenant_arg(fcinfo, 0);
	learning_require_arg(fcinfo, days_arg, "days");
	p->days = PG_GETARG_INT32(days_arg);
	learning_check_days(p->days);
}

/*
 * The GUC level of the pinned search_path, from learning_period_open to
 * learning_period_finish.  One call at a time: the queries in between call
 * no dashboard function.
 */
static int	period_spi_level;

/* learning_period_open connects SPI and computes the period's days (after the arguments are checked). */
void
learning_period_open(Period *p)
{
	period_spi_level = learning_spi_connect();
	p->time_zone = learning_tenant_time_zone(p->tenant_id);
	p->to = learning_local_day(p->time_zone, GetCurrentTransactionStartTimestamp());
	p->from = p->to - (p->days - 1);
}

/*
 * learning_period_params sets the period's query parameters: $1 tenant, $2
 * and $3 the first and last day, $4 person (NULL when person is NULL).
 */
void
learning_period_params(const Period *p, const char *person, Datum *values, char *nulls)
{
	values[0] = CStringGetTextDatum(p->tenant_id);
	values[1] = DateADTGetDatum(p->from);
	values[2] = DateADTGetDatum(p->to);
	values[3] = person ? CStringGetTextDatum(person) : (Datum) 0;
	nulls[0] = nulls[1] = nulls[2] = ' ';
	nulls[3] = person ? ' ' : 'n';
}

static void
counts_from_row(int row, int col, Counts *c)
{
	c->actions = col_float(row, col);
	c->pending = col_float(row, col + 1);
	c->positive = col_float(row, col + 2);
	c->negative = col_float(row, col + 3);
	c->ambiguous = col_float(row, col + 4);
	c->expired = col_float(row, col + 5);
	c->score_sum = col_float(row, col + 6);
	c->cost_sum = col_float(row, col + 7);
	c->cost_count = col_float(row, col + 8);
	c->closed_won = col_float(row, col + 9);
}

/* new_group appends a group named name to groups and returns its counters. */
static Counts *
new_group(OGroup *groups, int *n, char *name)
{
	OGroup	   *grp = &groups[(*n)++];

	grp->name = name;
	return &grp->c;
}

/*
 * outcome_counts returns the counters that row `row` of the outcomes query,
 * of grouping mask g, fills, or NULL for a row no dashboard shows.
 */
static Counts *
outcome_counts(Period *p, int g, int row)
{
	switch (g)
	{
		case BY_ACTION_TYPE:
			return new_group(p->actions, &p->nactions, col_text(row, 2));
		case BY_REP:
			return new_group(p->reps, &p->nreps, col_text(row, 3));
		case BY_OUTCOME_TYPE:
			return new_group(p->outcomes, &p->noutcomes, col_text(row, 4));
		case BY_OUTCOME_TRIGGER:
			/* only escalations have a trigger (the others' is '') */
			if (strcmp(col_text(row, 4), "escalation_result") != 0)
				return NULL;
			return new_group(p->triggers, &p->ntriggers, col_text(row, 5));
		case BY_NOTHING:
			return &p->total;
	}
	elog(ERROR, "learning: unexpected grouping %d", g);
	return NULL;				/* keep compiler quiet */
}

/* learning_period_outcomes reads the period's outcome counters per group (one query). */
void
learning_period_outcomes(Period *p)
{
	Datum		values[4];
	char		nulls[4];
	uint64		n, i;

	learning_period_params(p, p->rep_id, values, nulls);
	learning_analytics_run(&queries[Q_OUTCOMES], values, nulls);
	n = SPI_processed;
	p->actions = palloc0(sizeof(OGroup) * (n + 1));
	p->reps = palloc0(sizeof(OGroup) * (n + 1));
	p->outcomes = palloc0(sizeof(OGroup) * (n + 1));
	p->triggers = palloc0(sizeof(OGroup) * (n + 1));
	for (i = 0; i < n; i++)
	{
		int			g = (int) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
														  &(bool) {false}));
		Counts	   *c = outcome_counts(p, g, i);

		if (c != NULL)
			counts_from_row(i, 6, c);
	}
}

/* learning_find_group returns the group named name, or NULL. */
const OGroup *
learning_find_group(const OGroup *groups, int n, const char *name)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	return NULL;
}

/* add_feedback adds cnt ratings of rating, on day, of target, from source. */
static void
add_feedback(FeedbackStats *f, char *day, char *target, const char *source, double rating, double cnt)
{
	OGroup	   *t = (OGroup *) learning_find_group(f->targets, f->ntargets, target);

	f->n += cnt;
	f->rating_sum += cnt * rating;
	/* onto [0, 1]: inline ratings are -1..1, dashboard ratings 1..5 */
	f->normalized_sum += cnt * (strcmp(source, "inline") == 0 ? (rating + 1.0) / 2.0 : (rating - 1.0) / 4.0);
	if (f->ndays == 0 || strcmp(f->day[f->ndays - 1], day) != 0)
		f->day[f->ndays++] = day;
	f->day_n[f->ndays - 1] += cnt;
	if (t == NULL)
	{
		t = &f->targets[f->ntargets++];
		t->name = target;
	}
	t->c.actions += cnt;
	t->c.score_sum += cnt * rating;
	if (rating > 0)
		t->c.positive += cnt;
	else if (rating < 0)
		t->c.negative += cnt;
}

/* learning_period_feedback reads the period's feedback (of one reviewer when reviewer is set). */
void
learning_period_feedback(Period *p, const char *reviewer, FeedbackStats *f)
{
	Datum		values[4];
	char		nulls[4];
	uint64		n, i;

	memset(f, 0, sizeof(FeedbackStats));
	learning_period_params(p, reviewer, values, nulls);
	learning_analytics_run(&queries[Q_FEEDBACK], values, nulls);
	n = SPI_processed;
	f->day = palloc0(sizeof(char *) * (n + 1));
	f->day_n = palloc0(sizeof(double) * (n + 1));
	f->targets = palloc0(sizeof(OGroup) * 4);
	for (i = 0; i < n; i++)
	{
		double		cnt = col_float(i, 5);

		if (cnt == 0)
			continue;
		add_feedback(f, col_text(i, 1), col_text(i, 2), col_text(i, 3), col_float(i, 4), cnt);
	}
}

/* learning_period_daily reads the period's days (tenant-wide). */
int
learning_period_daily(Period *p, DayRow **rows)
{
	Datum		values[4];
	char		nulls[4];
	uint64		i;

	learning_period_params(p, NULL, values, nulls);
	learning_analytics_run(&queries[Q_DAILY], values, nulls);
	*rows = palloc0(sizeof(DayRow) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		(*rows)[i].date = col_text(i, 1);
		(*rows)[i].actions = col_float(i, 2);
		(*rows)[i].positive = col_float(i, 3);
		(*rows)[i].conversations = col_float(i, 4);
		(*rows)[i].conversations_with_feedback = col_float(i, 5);
	}
	return (int) SPI_processed;
}

/* learning_period_calibration reads the calibration summary of every action type with data. */
int
learning_period_calibration(Period *p, CalibrationRow **rows)
{
	Datum		values[1];
	uint64		i;

	values[0] = CStringGetTextDatum(p->tenant_id);
	learning_analytics_run(&queries[Q_CALIBRATION], values, NULL);
	*rows = palloc0(sizeof(CalibrationRow) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		CalibrationRow *r = &(*rows)[i];
		bool		isnull;
		Datum		g;

		r->action_type = col_text(i, 1);
		r->brier = col_float(i, 2);
		r->n = col_float(i, 3);
		r->is_calibrated = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull));
		g = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &isnull);
		if (isnull || fabs(DatumGetFloat8(g)) <= LEARNING_ADJUST_GAP)
			r->direction = "calibrated";
		else
			r->direction = DatumGetFloat8(g) > 0 ? "overconfident" : "underconfident";
	}
	return (int) SPI_processed;
}

/*
 * learning_period_finish parses the built text into jsonb in the caller's
 * context and closes SPI.
 */
Datum
learning_period_finish(StringInfo buf, MemoryContext caller)
{
	MemoryContext old = MemoryContextSwitchTo(caller);
	Datum		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data));

	MemoryContextSwitchTo(old);
	learning_spi_finish(period_spi_level);
	return result;
}

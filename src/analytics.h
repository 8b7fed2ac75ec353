/*-------------------------------------------------------------------------
 *
 * analytics.h
 *		What the dashboards and coaching share: a period's rollups, read by
 *		analytics_period.c; the coaching patterns of patterns.c; and the small
 *		number and JSON helpers every one of them formats with.
 *
 * The files form layers, each calling only the ones below it: dashboards.c
 * and coaching.c (the SQL-callable functions, which never call each other)
 * call patterns.c (the coaching rules, shared by both) and
 * analytics_period.c (reading a period's rollups); patterns.c only reads
 * the Period that analytics_period.c filled, and analytics_period.c calls
 * none of them.
 *
 * Rates are rounded to 4 decimals, Brier scores to 6, average ratings to 2,
 * hours to 1 (round half to even, as the dashboards have always shown it); a
 * rate whose denominator is 0 is 0.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/analytics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ANALYTICS_H
#define ANALYTICS_H

#include "learning.h"

/* Coaching thresholds: the candidate rules (a pattern is reported when its q-value passes too). */
#define MIN_SAMPLES				5
#define EFFECTIVENESS_DIFF		0.05
#define STAGE_LOW_RATE			0.3
#define IMPROVE_LOW_RATE		0.4
#define ESCALATION_GOOD_RATE	0.5

/* Counters of a group of outcomes (a row of outcome_rollups summed). */
typedef struct Counts
{
	double		actions;
	double		pending;
	double		positive;
	double		negative;
	double		ambiguous;
	double		expired;
	double		score_sum;
	double		cost_sum;
	double		cost_count;
	double		closed_won;
} Counts;

typedef struct OGroup
{
	char	   *name;
	Counts		c;
} OGroup;

typedef struct DayRow
{
	char	   *date;
	double		actions;
	double		positive;
	double		conversations;
	double		conversations_with_feedback;
} DayRow;

typedef struct FeedbackStats
{
	double		n;
	double		rating_sum;
	double		normalized_sum;
	int			ndays;
	char	  **day;
	double	   *day_n;
	int			ntargets;
	OGroup	   *targets;		/* c.actions = n, c.score_sum = rating sum,
								 * c.positive / c.negative = ratings above / below 0 */
} FeedbackStats;

/* What a dashboard or coaching call reads for its period. */
typedef struct Period
{
	char	   *tenant_id;
	char	   *rep_id;			/* NULL: the whole tenant */
	int			days;
	const char *time_zone;
	DateADT		from;
	DateADT		to;
	Counts		total;
	int			nactions, nreps, noutcomes, ntriggers;
	OGroup	   *actions, *reps, *outcomes, *triggers;
} Period;

typedef struct CalibrationRow
{
	char	   *action_type;
	double		brier;
	double		n;
	bool		is_calibrated;
	const char *direction;
} CalibrationRow;

typedef struct Pattern
{
	const char *type;
	char	   *description;
	char	   *recommendation;
	double		confidence;
	double		sample_size;
	double		p_value;
	double		q_value;
	bool		rule;			/* passes the 0.1.0 rule (else only tested) */
	char	   *supporting;		/* JSON object */
	int			order;			/* stable sort */
} Pattern;

/*
 * A read query: its text, its parameters and its plan, saved on first use.
 * Each file keeps the queries it runs in one static table of these, so that
 * a query's text and its parameter types are written side by side.
 */
#define ANALYTICS_MAX_ARGS		5

typedef struct AnalyticsQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[ANALYTICS_MAX_ARGS];
	SPIPlanPtr	plan;
} AnalyticsQuery;

/* analytics_period.c: a period's arguments, its rollups, and the result. */
extern void learning_analytics_run(AnalyticsQuery *q, Datum *values, const char *nulls);
extern void learning_period_args(FunctionCallInfo fcinfo, int days_arg, Period *p);
extern void learning_period_open(Period *p);
extern void learning_period_params(const Period *p, const char *person, Datum *values, char *nulls);
extern void learning_period_outcomes(Period *p);
extern void learning_period_feedback(Period *p, const char *reviewer, FeedbackStats *f);
extern int	learning_period_daily(Period *p, DayRow **rows);
extern int	learning_period_calibration(Period *p, CalibrationRow **rows);
extern const OGroup *learning_find_group(const OGroup *groups, int n, const char *name);
extern Datum learning_period_finish(StringInfo buf, MemoryContext caller);

/* patterns.c: the coaching rules and their false-discovery control. */
extern int	learning_extract_patterns(const Period *p, double alpha, Pattern **out);
extern void learning_fdr_q_values(const double *p, double *q, bool *keep, int m, double alpha);

/*
 * The helpers below are inline, not exported: they are a line each, and a
 * global symbol named like them could bind to one of the server's own.
 */

/* round_dp rounds like Python's round(x, d): the exact binary value, correctly rounded. */
static inline double
round_dp(double x, int d)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%.*f", d, x);
	return strtod(buf, NULL);
}

/* ratio is a / b, or 0 when b is 0. */
static inline double
ratio(double a, double b)
{
	return b != 0 ? a / b : 0.0;
}

/* pct formats x as Python's "{x:.0%}". */
static inline char *
pct(double x)
{
	return psprintf("%.0f%%", x * 100.0);
}

static inline void
json_number(StringInfo buf, const char *key, double v, bool *first)
{
	learning_json_key(buf, key, first);
	learning_json_float(buf, v);
}

static inline void
json_count(StringInfo buf, const char *key, double v, bool *first)
{
	learning_json_key(buf, key, first);
	appendStringInfo(buf, "%.0f", v);
}

static inline void
json_text(StringInfo buf, const char *key, const char *v, bool *first)
{
	learning_json_key(buf, key, first);
	learning_json_string(buf, v);
}

/* success_rate = positive / (positive + negative), 4 decimals. */
static inline double
success_rate(const Counts *c)
{
	return round_dp(ratio(c->positive, c->positive + c->negative), 4);
}

static inline double
resolved(const Counts *c)
{
	return c->actions - c->pending;
}

/* col_float and col_text read a column of the last query's row (NULL reads 0). */
static inline double
col_float(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0.0 : DatumGetFloat8(d);
}

static inline char *
col_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

#endif							/* ANALYTICS_H */

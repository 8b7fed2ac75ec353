/*-------------------------------------------------------------------------
 *
 * analytics.c
 *		The dashboards (rep_dashboard, manager_dashboard, executive_summary)
 *		and coaching (coaching_patterns, top_performing_actions,
 *		improvement_areas), aggregated in C from the rollup
 *		rows that rollups.c keeps exact; jsonb built in C.
 *
 * A period of N days is the last N calendar days in the tenant's time zone,
 * today included.  Every call reads at most a few thousand rollup rows
 * (days x reps x action types x shards), whatever the size of the history:
 *	- outcome_rollups grouped by action type, rep, outcome type and escalation
 *	  trigger in one GROUPING SETS query;
 *	- daily_totals per day (daily series, distinct conversations);
 *	- feedback_rollups per day, target type, source and rating;
 *	- calibration_curve per action type (the calibration bins).
 * Only escalation_history reads outcome rows: the period's last 50
 * escalations, through a partial index.
 *
 * Coaching reports a group only when it passes its rule and its
 * Benjamini-Hochberg q-value over every group the rules looked at is at most
 * alpha; the exact tests are in stats.c.
 *
 * Rates are rounded to 4 decimals, Brier scores to 6, average ratings to 2,
 * hours to 1 (round half to even, as the dashboards have always shown it); a rate whose denominator
 * is 0 is 0.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/analytics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "learning.h"

/* Coaching thresholds: the candidate rules (a pattern is reported when its q-value passes too). */
#define MIN_SAMPLES				5
#define EFFECTIVENESS_DIFF		0.05
#define STAGE_LOW_RATE			0.3
#define IMPROVE_LOW_RATE		0.4
#define ESCALATION_GOOD_RATE	0.5
#define TREND_BAND				0.1
#define ESCALATION_HISTORY_MAX	50
#define DEFAULT_MINUTES_SAVED	5.0
/* False discovery rate of the dashboards' coaching sections (coaching_patterns' default). */
#define DASHBOARD_ALPHA			0.05
/* Success rate an improvement area is tested against (its claim: below this). */
#define IMPROVE_NULL_RATE		IMPROVE_LOW_RATE

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

typedef struct CalibrationRow
{
	char	   *action_type;
	double		brier;
	double		n;
	bool		is_calibrated;
	const char *direction;
} CalibrationRow;

PG_FUNCTION_INFO_V1(learning_rep_dashboard);
PG_FUNCTION_INFO_V1(learning_manager_dashboard);
PG_FUNCTION_INFO_V1(learning_executive_summary);
PG_FUNCTION_INFO_V1(learning_coaching_patterns);
PG_FUNCTION_INFO_V1(learning_top_performing_actions);
PG_FUNCTION_INFO_V1(learning_improvement_areas);
PG_FUNCTION_INFO_V1(learning_trend_direction);

/* Saved plans of the read queries. */
enum
{
	Q_OUTCOMES, Q_DAILY, Q_FEEDBACK, Q_CALIBRATION, Q_ESCALATIONS, Q_REP_KNOWN, Q_MINUTES, Q_COVERAGE, NQUERIES
};
static SPIPlanPtr plans[NQUERIES];

static const char *const query_text[NQUERIES] = {
	/* Q_OUTCOMES: grouping bits (action_type, rep_id, outcome_type, escalation_trigger) */
	"SELECT GROUPING(action_type, rep_id, outcome_type, escalation_trigger)::int, action_type, rep_id, "
	"       outcome_type, escalation_trigger, sum(actions)::float8, sum(pending)::float8, sum(positive)::float8, "
	"       sum(negative)::float8, sum(ambiguous)::float8, sum(expired)::float8, sum(score_sum), sum(cost_sum), "
	"       sum(cost_count)::float8, sum(deals_closed_won)::float8 "
	"  FROM learning.outcome_rollups "
	" WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 AND ($4::text IS NULL OR rep_id = $4) "
	" GROUP BY GROUPING SETS ((action_type), (rep_id), (outcome_type), (outcome_type, escalation_trigger), ()) "
	" ORDER BY 1, 2, 3, 4, 5",
	/* Q_DAILY */
	"SELECT pg_catalog.to_char(day, 'YYYY-MM-DD'), sum(actions)::float8, sum(positive)::float8, "
	"       sum(conversations)::float8, sum(conversations_with_feedback)::float8 "
	"  FROM learning.daily_totals WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 "
	" GROUP BY day ORDER BY day",
	/* Q_FEEDBACK */
	"SELECT pg_catalog.to_char(day, 'YYYY-MM-DD'), target_type, source, rating::float8, sum(n)::float8 "
	"  FROM learning.feedback_rollups "
	" WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 AND ($4::text IS NULL OR reviewer_id = $4) "
	" GROUP BY day, target_type, source, rating ORDER BY day, target_type, source, rating",
	/* Q_CALIBRATION: the curve of every action type with bins; g over bins with enough samples */
	"SELECT a.action_type, (c->>'brier_score')::float8, (c->>'sample_count')::float8, "
	"       (c->>'is_calibrated')::boolean, "
	"       (SELECT sum((b->>'count')::float8 * ((b->>'mean_predicted')::float8 - (b->>'actual_rate')::float8)) "
	"               / nullif(sum((b->>'count')::float8), 0) "
	"          FROM pg_catalog.jsonb_array_elements(c->'bins') b WHERE (b->>'count')::float8 >= " CppAsString2(LEARNING_ADJUST_MIN_SAMPLES) ") "
	"  FROM (SELECT DISTINCT action_type FROM learning.calibration_bins WHERE tenant_id = $1) a "
	" CROSS JOIN LATERAL learning.calibration_curve($1, a.action_type) c "
	" WHERE (c->>'sample_count')::float8 > 0 ORDER BY 1",
	/* Q_ESCALATIONS: the period's escalations, newest first */
	"SELECT pg_catalog.to_char(created_at AT TIME ZONE $5, 'YYYY-MM-DD'), "
	"       coalesce(metadata->>'escalation_trigger', 'unknown'), status, conversation_state_id "
	"  FROM learning.outcome_records "
	" WHERE tenant_id = $1 AND outcome_type = 'escalation_result' "
	"   AND created_at >= ($2::date)::timestamp AT TIME ZONE $5 "
	"   AND created_at < ($3::date + 1)::timestamp AT TIME ZONE $5 "
	"   AND ($4::text IS NULL OR rep_id = $4) "
	" ORDER BY created_at DESC, id LIMIT 50",
	/* Q_REP_KNOWN */
	"SELECT EXISTS (SELECT 1 FROM learning.outcome_rollups WHERE tenant_id = $1 AND rep_id = $2)",
	/* Q_MINUTES */
	"SELECT action_type, minutes FROM learning.action_minutes_saved WHERE tenant_id = $1",
	/* Q_COVERAGE: the period's distinct conversations, and those with feedback (see conversation_coverage) */
	"SELECT coalesce(sum(conversations), 0)::float8, coalesce(sum(with_feedback), 0)::float8 "
	"  FROM learning.conversation_coverage WHERE tenant_id = $1 AND day >= $2"
};

static const int query_nargs[NQUERIES] = {4, 3, 4, 1, 5, 2, 1, 2};

/* ----------------------------------------------------------------
 * Small helpers
 * ----------------------------------------------------------------
 */

/* round_dp rounds like Python's round(x, d): the exact binary value, correctly rounded. */
static double
round_dp(double x, int d)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%.*f", d, x);
	return strtod(buf, NULL);
}

/* ratio is a / b, or 0 when b is 0. */
static double
ratio(double a, double b)
{
	return b != 0 ? a / b : 0.0;
}

/* pct formats x as Python's "{x:.0%}". */
static char *
pct(double x)
{
	return psprintf("%.0f%%", x * 100.0);
}

static void
json_number(StringInfo buf, const char *key, double v, bool *first)
{
	learning_json_key(buf, key, first);
	learning_json_float(buf, v);
}

static void
json_count(StringInfo buf, const char *key, double v, bool *first)
{
	learning_json_key(buf, key, first);
	appendStringInfo(buf, "%.0f", v);
}

static void
json_text(StringInfo buf, const char *key, const char *v, bool *first)
{
	learning_json_key(buf, key, first);
	learning_json_string(buf, v);
}

/* success_rate = positive / (positive + negative), 4 decimals. */
static double
success_rate(const Counts *c)
{
	return round_dp(ratio(c->positive, c->positive + c->negative), 4);
}

static double
resolved(const Counts *c)
{
	return c->actions - c->pending;
}

/* run executes saved query q with the given arguments (read-only). */
static void
run(int q, Datum *values, const char *nulls)
{
	static const Oid types[NQUERIES][5] = {
		{TEXTOID, DATEOID, DATEOID, TEXTOID},
		{TEXTOID, DATEOID, DATEOID},
		{TEXTOID, DATEOID, DATEOID, TEXTOID},
		{TEXTOID},
		{TEXTOID, DATEOID, DATEOID, TEXTOID, TEXTOID},
		{TEXTOID, TEXTOID},
		{TEXTOID},
		{TEXTOID, DATEOID}
	};
	int			ret;

	ret = SPI_execute_plan(learning_saved_plan(&plans[q], query_text[q], query_nargs[q], (Oid *) types[q]),
						   values, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: a dashboard query failed: %s", SPI_result_code_string(ret));
}

static double
col_float(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0.0 : DatumGetFloat8(d);
}

static char *
col_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* ----------------------------------------------------------------
 * The trend rule
 * ----------------------------------------------------------------
 */

/*
 * learning_trend applies the seed's trend rule to a daily series: halves
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
 * period_args checks tenant_id (arg 0) and days (arg days_arg) and fills the
 * period: [today - days + 1, today] in the tenant's time zone.
 */
static void
period_args(FunctionCallInfo fcinfo, int days_arg, Period *p)
{
	memset(p, 0, sizeof(Period));
	learning_require_arg(fcinfo, 0, "tenant_id");
	p->tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	learning_check_tenant_id(p->tenant_id);
	learning_require_arg(fcinfo, days_arg, "days");
	p->days = PG_GETARG_INT32(days_arg);
	learning_check_days(p->days);
}

/*
 * The GUC level of the pinned search_path, from period_open to finish_jsonb.
 * One call at a time: the queries in between call no dashboard function.
 */
static int	period_spi_level;

/* period_open connects SPI and computes the period's days (after the arguments are checked). */
static void
period_open(Period *p)
{
	period_spi_level = learning_spi_connect();
	p->time_zone = learning_tenant_time_zone(p->tenant_id);
	p->to = learning_local_day(p->time_zone, GetCurrentTransactionStartTimestamp());
	p->from = p->to - (p->days - 1);
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

/* load_outcomes reads the period's outcome counters per group (one query). */
static void
load_outcomes(Period *p)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	uint64		n, i;

	values[0] = CStringGetTextDatum(p->tenant_id);
	values[1] = DateADTGetDatum(p->from);
	values[2] = DateADTGetDatum(p->to);
	values[3] = p->rep_id ? CStringGetTextDatum(p->rep_id) : (Datum) 0;
	if (p->rep_id == NULL)
		nulls[3] = 'n';
	run(Q_OUTCOMES, values, nulls);
	n = SPI_processed;
	p->actions = palloc0(sizeof(OGroup) * (n + 1));
	p->reps = palloc0(sizeof(OGroup) * (n + 1));
	p->outcomes = palloc0(sizeof(OGroup) * (n + 1));
	p->triggers = palloc0(sizeof(OGroup) * (n + 1));
	for (i = 0; i < n; i++)
	{
		int			g = (int) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
														  &(bool) {false}));
		OGroup	   *grp = NULL;

		switch (g)
		{
			case 7:
				grp = &p->actions[p->nactions++];
				grp->name = col_text(i, 2);
				break;
			case 11:
				grp = &p->reps[p->nreps++];
				grp->name = col_text(i, 3);
				break;
			case 13:
				grp = &p->outcomes[p->noutcomes++];
				grp->name = col_text(i, 4);
				break;
			case 12:
				if (strcmp(col_text(i, 4), "escalation_result") != 0)
					continue;
				grp = &p->triggers[p->ntriggers++];
				grp->name = col_text(i, 5);
				break;
			case 15:
				counts_from_row(i, 6, &p->total);
				continue;
			default:
				elog(ERROR, "learning: unexpected grouping %d", g);
		}
		counts_from_row(i, 6, &grp->c);
	}
}

/* find_group returns the group named name, or NULL. */
static const OGroup *
find_group(const OGroup *groups, int n, const char *name)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	return NULL;
}

/* load_feedback reads the period's feedback (of one reviewer when reviewer is set). */
static void
load_feedback(Period *p, const char *reviewer, FeedbackStats *f)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	uint64		n, i;

	memset(f, 0, sizeof(FeedbackStats));
	values[0] = CStringGetTextDatum(p->tenant_id);
	values[1] = DateADTGetDatum(p->from);
	values[2] = DateADTGetDatum(p->to);
	values[3] = reviewer ? CStringGetTextDatum(reviewer) : (Datum) 0;
	if (reviewer == NULL)
		nulls[3] = 'n';
	run(Q_FEEDBACK, values, nulls);
	n = SPI_processed;
	f->day = palloc0(sizeof(char *) * (n + 1));
	f->day_n = palloc0(sizeof(double) * (n + 1));
	f->targets = palloc0(sizeof(OGroup) * 4);
	for (i = 0; i < n; i++)
	{
		char	   *day = col_text(i, 1);
		char	   *target = col_text(i, 2);
		char	   *source = col_text(i, 3);
		double		rating = col_float(i, 4);
		double		cnt = col_float(i, 5);
		OGroup	   *t = (OGroup *) find_group(f->targets, f->ntargets, target);

		if (cnt == 0)
			continue;
		f->n += cnt;
		f->rating_sum += cnt * rating;
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
}

/* load_daily reads the period's days (tenant-wide). */
static int
load_daily(Period *p, DayRow **rows)
{
	Datum		values[3];
	uint64		i;

	values[0] = CStringGetTextDatum(p->tenant_id);
	values[1] = DateADTGetDatum(p->from);
	values[2] = DateADTGetDatum(p->to);
	run(Q_DAILY, values, NULL);
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

/* load_calibration reads the calibration summary of every action type with data. */
static int
load_calibration(Period *p, CalibrationRow **rows)
{
	Datum		values[1];
	uint64		i;

	values[0] = CStringGetTextDatum(p->tenant_id);
	run(Q_CALIBRATION, values, NULL);
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

/* ----------------------------------------------------------------
 * Coaching patterns
 * ----------------------------------------------------------------
 */

/*
 * group_vs_rest_p: two-sided p-value of Fisher's exact test of x1/n1
 * successes in a group against x2/n2 in the rest; null (NaN) when a side is
 * empty.  Exact at every count, so it needs no large-sample condition.
 */
static double
group_vs_rest_p(double x1, double n1, double x2, double n2)
{
	return learning_fisher_exact(x1, n1 - x1, x2, n2 - x2);
}

/*
 * check_alpha reads the false-discovery rate of argument argno: a finite
 * number in (0, 1].  A call through the 0.1.0 SQL signature (no alpha) gets
 * 1, the unfiltered candidates it always had.
 */
static double
check_alpha(FunctionCallInfo fcinfo, int argno)
{
	double		alpha;

	/* the 0.1.0 signature, until ALTER EXTENSION UPDATE: 0.1.0's unfiltered answer */
	if (PG_NARGS() <= argno)
		return 1.0;
	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("alpha must not be null"),
						errhint("Pass 1 for every candidate without filtering.")));
	alpha = PG_GETARG_FLOAT8(argno);
	if (isnan(alpha) || alpha <= 0.0 || alpha > 1.0)
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("alpha must be greater than 0 and at most 1, got %s", float8out_internal(alpha)),
						errdetail("alpha is the false discovery rate of the Benjamini-Hochberg procedure."),
						errhint("Use 0.05 for the usual rate, 1 for every candidate without filtering.")));
	return alpha;
}

/*
 * fdr_q_values sets each candidate's q_value (Benjamini-Hochberg over the m
 * candidates, those without a p-value left out) and tells which to report:
 * q_value <= alpha, or every candidate when alpha is 1.
 */
static void
fdr_q_values(const double *p, double *q, bool *keep, int m, double alpha)
{
	int			i;

	learning_bh_qvalues(p, q, m);
	for (i = 0; i < m; i++)
		keep[i] = alpha >= 1.0 || (!isnan(q[i]) && q[i] <= alpha);
}

/*
 * filter_patterns sets the q-values over all candidates and keeps, in place,
 * those that pass their rule and alpha; returns their count.
 */
static int
filter_patterns(Pattern *pat, int n, double alpha)
{
	double	   *p = palloc(sizeof(double) * (n + 1));
	double	   *q = palloc(sizeof(double) * (n + 1));
	bool	   *keep = palloc(sizeof(bool) * (n + 1));
	int			i, k = 0;

	for (i = 0; i < n; i++)
		p[i] = pat[i].p_value;
	fdr_q_values(p, q, keep, n, alpha);
	for (i = 0; i < n; i++)
	{
		pat[i].q_value = q[i];
		if (keep[i] && pat[i].rule)
			pat[k++] = pat[i];
	}
	return k;
}

static int
pattern_cmp(const void *a, const void *b)
{
	const Pattern *x = a;
	const Pattern *y = b;

	if (x->confidence != y->confidence)
		return x->confidence > y->confidence ? -1 : 1;
	return x->order - y->order;
}

/*
 * extract_patterns computes the period's coaching patterns, sorted by
 * confidence descending (ties: action_effectiveness, stage_insight,
 * escalation_pattern, each by name).  Resolved = not pending; success =
 * positive.  Every group the rules look at (an action type, outcome type or
 * escalation trigger with at least 5 resolved outcomes) is a candidate and is
 * tested against the rest of its kind (Fisher's exact test); the q-values are
 * Benjamini-Hochberg over all the call's candidates, so that choosing which
 * ones to show by their rates cannot shrink the family.  A candidate is
 * reported when it passes the 0.1.0 rule and its q_value <= alpha (with
 * alpha 1: every one that passes the rule).
 */
static int
extract_patterns(Period *p, double alpha, Pattern **out)
{
	Pattern    *pat = palloc0(sizeof(Pattern) * (p->nactions + p->noutcomes + p->ntriggers + 1));
	int			n = 0;
	int			i;
	double		all_n = resolved(&p->total);
	double		all_pos = p->total.positive;
	double		overall = ratio(all_pos, all_n);
	double		esc_n = 0, esc_pos = 0;

	if (all_n <= 0)
	{
		*out = pat;
		return 0;
	}
	for (i = 0; i < p->nactions; i++)
	{
		const OGroup *g = &p->actions[i];
		double		gn = resolved(&g->c);
		double		sr, diff;
		StringInfoData s;
		bool		first = true;

		if (gn < MIN_SAMPLES)
			continue;
		sr = g->c.positive / gn;
		diff = sr - overall;
		pat[n].rule = fabs(diff) > EFFECTIVENESS_DIFF;
		pat[n].type = "action_effectiveness";
		pat[n].description = psprintf("'%s' actions have a %s success rate, which is %s %s the average of %s.",
									  g->name, pct(sr), pct(fabs(diff)), diff > 0 ? "above" : "below", pct(overall));
		pat[n].recommendation = diff > 0
			? psprintf("Consider using '%s' more frequently in similar contexts.", g->name)
			: psprintf("Review '%s' approach -- consider alternative strategies or additional preparation before these actions.", g->name);
		pat[n].confidence = Min(gn / 50.0, 1.0);
		pat[n].sample_size = gn;
		pat[n].p_value = group_vs_rest_p(g->c.positive, gn, all_pos - g->c.positive, all_n - gn);
		initStringInfo(&s);
		appendStringInfoChar(&s, '{');
		json_text(&s, "action_type", g->name, &first);
		json_number(&s, "success_rate", round_dp(sr, 4), &first);
		json_number(&s, "overall_rate", round_dp(overall, 4), &first);
		json_number(&s, "difference", round_dp(diff, 4), &first);
		appendStringInfoChar(&s, '}');
		pat[n].supporting = s.data;
		pat[n].order = n;
		n++;
	}
	for (i = 0; i < p->noutcomes; i++)
	{
		const OGroup *g = &p->outcomes[i];
		double		gn = resolved(&g->c);
		double		sr;
		StringInfoData s;
		bool		first = true;

		if (gn < MIN_SAMPLES)
			continue;
		sr = g->c.positive / gn;
		pat[n].rule = sr < STAGE_LOW_RATE;
		pat[n].type = "stage_insight";
		pat[n].description = psprintf("Low success rate (%s) for '%s' outcomes. This area needs attention.",
									  pct(sr), g->name);
		pat[n].recommendation = psprintf("Focus on improving '%s' outcomes through better preparation and follow-up strategies.",
										 g->name);
		pat[n].confidence = Min(gn / 50.0, 1.0);
		pat[n].sample_size = gn;
		pat[n].p_value = group_vs_rest_p(g->c.positive, gn, all_pos - g->c.positive, all_n - gn);
		initStringInfo(&s);
		appendStringInfoChar(&s, '{');
		json_text(&s, "outcome_type", g->name, &first);
		json_number(&s, "success_rate", round_dp(sr, 4), &first);
		json_count(&s, "total", gn, &first);
		json_count(&s, "positive", g->c.positive, &first);
		appendStringInfoChar(&s, '}');
		pat[n].supporting = s.data;
		pat[n].order = n;
		n++;
	}
	for (i = 0; i < p->ntriggers; i++)
	{
		esc_n += resolved(&p->triggers[i].c);
		esc_pos += p->triggers[i].c.positive;
	}
	for (i = 0; esc_n >= MIN_SAMPLES && i < p->ntriggers; i++)
	{
		const OGroup *g = &p->triggers[i];
		double		gn = resolved(&g->c);
		double		sr;
		StringInfoData s;
		bool		first = true;

		if (gn < MIN_SAMPLES)
			continue;
		sr = g->c.positive / gn;
		pat[n].rule = true;
		pat[n].type = "escalation_pattern";
		pat[n].description = psprintf("Escalations triggered by '%s' have a %s resolution rate (%.0f/%.0f).",
									  g->name, pct(sr), g->c.positive, gn);
		pat[n].recommendation = sr > ESCALATION_GOOD_RATE
			? psprintf("Prioritize escalations triggered by '%s' -- they resolve well.", g->name)
			: psprintf("Reconsider escalations triggered by '%s' -- success rate is low.", g->name);
		pat[n].confidence = Min(gn / 30.0, 1.0);
		pat[n].sample_size = gn;
		pat[n].p_value = group_vs_rest_p(g->c.positive, gn, esc_pos - g->c.positive, esc_n - gn);
		initStringInfo(&s);
		appendStringInfoChar(&s, '{');
		json_text(&s, "trigger", g->name, &first);
		json_number(&s, "success_rate", round_dp(sr, 4), &first);
		json_count(&s, "total", gn, &first);
		json_count(&s, "positive", g->c.positive, &first);
		appendStringInfoChar(&s, '}');
		pat[n].supporting = s.data;
		pat[n].order = n;
		n++;
	}
	n = filter_patterns(pat, n, alpha);
	qsort(pat, n, sizeof(Pattern), pattern_cmp);
	*out = pat;
	return n;
}

static void
append_pattern(StringInfo buf, const Pattern *pt)
{
	bool		first = true;

	appendStringInfoChar(buf, '{');
	json_text(buf, "pattern_type", pt->type, &first);
	json_text(buf, "description", pt->description, &first);
	json_text(buf, "recommendation", pt->recommendation, &first);
	json_number(buf, "confidence", round_dp(pt->confidence, 4), &first);
	json_count(buf, "sample_size", pt->sample_size, &first);
	json_number(buf, "p_value", pt->p_value, &first);
	json_number(buf, "q_value", pt->q_value, &first);
	learning_json_key(buf, "supporting_data", &first);
	appendStringInfoString(buf, pt->supporting);
	appendStringInfoChar(buf, '}');
}

/* ----------------------------------------------------------------
 * Sections shared by the dashboards
 * ----------------------------------------------------------------
 */

/* header appends role, period_days, the period and generated_at. */
static void
append_header(StringInfo buf, Period *p, const char *role, bool *first)
{
	json_text(buf, "role", role, first);
	learning_json_key(buf, "period_days", first);
	appendStringInfo(buf, "%d", p->days);
	json_text(buf, "tenant_id", p->tenant_id, first);
	json_text(buf, "time_zone", p->time_zone, first);
	learning_json_key(buf, "period_start", first);
	learning_json_date(buf, p->from);
	learning_json_key(buf, "period_end", first);
	learning_json_date(buf, p->to);
	learning_json_key(buf, "generated_at", first);
	learning_json_timestamp(buf, GetCurrentTimestamp());
}

/* append_calibration appends the per-action-type calibration entries; returns the pooled Brier. */
static double
append_calibration_list(StringInfo buf, CalibrationRow *rows, int n)
{
	double		bn = 0, nn = 0;
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < n; i++)
	{
		bool		first = true;

		if (i > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, '{');
		json_text(buf, "action_type", rows[i].action_type, &first);
		json_number(buf, "brier_score", round_dp(rows[i].brier, 6), &first);
		learning_json_key(buf, "is_calibrated", &first);
		appendStringInfoString(buf, rows[i].is_calibrated ? "true" : "false");
		json_text(buf, "direction", rows[i].direction, &first);
		json_count(buf, "sample_count", rows[i].n, &first);
		appendStringInfoChar(buf, '}');
		bn += rows[i].brier * rows[i].n;
		nn += rows[i].n;
	}
	appendStringInfoChar(buf, ']');
	return nn > 0 ? round_dp(bn / nn, 6) : NAN;
}

/* append_daily appends daily activity (days with actions) and returns the positives series. */
static int
append_daily(StringInfo buf, DayRow *rows, int n, double *positives)
{
	int			i, k = 0;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < n; i++)
	{
		bool		first = true;

		if (rows[i].actions == 0)
			continue;
		if (k > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, '{');
		json_text(buf, "date", rows[i].date, &first);
		json_count(buf, "actions", rows[i].actions, &first);
		json_count(buf, "positive", rows[i].positive, &first);
		json_number(buf, "success_rate", round_dp(ratio(rows[i].positive, rows[i].actions), 4), &first);
		appendStringInfoChar(buf, '}');
		positives[k++] = rows[i].positive;
	}
	appendStringInfoChar(buf, ']');
	return k;
}

/* escalation_count: outcomes of type escalation_result in the period. */
static double
escalation_count(Period *p)
{
	const OGroup *g = find_group(p->outcomes, p->noutcomes, "escalation_result");

	return g ? g->c.actions : 0;
}

/* finish_jsonb parses the built text into jsonb in the caller's context and closes SPI. */
static Datum
finish_jsonb(StringInfo buf, MemoryContext caller)
{
	MemoryContext old = MemoryContextSwitchTo(caller);
	Datum		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data));

	MemoryContextSwitchTo(old);
	learning_spi_finish(period_spi_level);
	return result;
}

/* ----------------------------------------------------------------
 * The dashboards
 * ----------------------------------------------------------------
 */

/*
 * learning_rep_dashboard: rep_dashboard(tenant_id, rep_id, days).  With
 * rep_id, the outcomes are that rep's and the feedback is the feedback that
 * rep gave (the API's user is both); calibration is the tenant's.
 */
Datum
learning_rep_dashboard(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	FeedbackStats f;
	CalibrationRow *cal;
	int			ncal, i;
	bool		first = true, sfirst;
	const OGroup *deals;
	Counts		dc;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	period_args(fcinfo, 2, &p);
	if (!PG_ARGISNULL(1))
	{
		p.rep_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (p.rep_id[0] == '\0')
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("rep_id must not be empty"),
							errhint("Pass NULL for the whole tenant.")));
		learning_check_id_text(fcinfo, 1, "rep_id");
	}
	period_open(&p);
	if (p.rep_id != NULL)
	{
		values[0] = CStringGetTextDatum(p.tenant_id);
		values[1] = CStringGetTextDatum(p.rep_id);
		run(Q_REP_KNOWN, values, NULL);
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool) {false})))
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("rep_id \"%s\" not found", p.rep_id),
					 errdetail("Tenant %s has no outcome recorded for this rep.", p.tenant_id)));
	}
	load_outcomes(&p);
	load_feedback(&p, p.rep_id, &f);
	ncal = load_calibration(&p, &cal);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_header(&buf, &p, "rep", &first);
	json_text(&buf, "rep_id", p.rep_id, &first);

	learning_json_key(&buf, "response_rates", &first);
	sfirst = true;
	appendStringInfoChar(&buf, '{');
	json_count(&buf, "total_actions", p.total.actions, &sfirst);
	json_count(&buf, "positive_outcomes", p.total.positive, &sfirst);
	json_count(&buf, "negative_outcomes", p.total.negative, &sfirst);
	json_count(&buf, "pending_outcomes", p.total.pending, &sfirst);
	json_count(&buf, "expired_outcomes", p.total.expired, &sfirst);
	json_count(&buf, "ambiguous_outcomes", p.total.ambiguous, &sfirst);
	json_number(&buf, "success_rate", success_rate(&p.total), &sfirst);
	appendStringInfoChar(&buf, '}');

	learning_json_key(&buf, "escalation_history", &first);
	values[0] = CStringGetTextDatum(p.tenant_id);
	values[1] = DateADTGetDatum(p.from);
	values[2] = DateADTGetDatum(p.to);
	values[3] = p.rep_id ? CStringGetTextDatum(p.rep_id) : (Datum) 0;
	nulls[3] = p.rep_id ? ' ' : 'n';
	values[4] = CStringGetTextDatum(p.time_zone);
	run(Q_ESCALATIONS, values, nulls);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < (int) SPI_processed; i++)
	{
		sfirst = true;
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '{');
		json_text(&buf, "date", col_text(i, 1), &sfirst);
		json_text(&buf, "trigger", col_text(i, 2), &sfirst);
		json_text(&buf, "outcome", col_text(i, 3), &sfirst);
		json_text(&buf, "conversation_id", col_text(i, 4), &sfirst);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');

	deals = find_group(p.outcomes, p.noutcomes, "deal_progression");
	memset(&dc, 0, sizeof(dc));
	if (deals)
		dc = deals->c;
	learning_json_key(&buf, "deal_impact", &first);
	sfirst = true;
	appendStringInfoChar(&buf, '{');
	json_count(&buf, "deals_progressed", dc.positive, &sfirst);
	json_count(&buf, "deals_stalled", dc.negative, &sfirst);
	json_count(&buf, "deals_closed_won", dc.closed_won, &sfirst);
	json_number(&buf, "stage_advancement_rate", round_dp(dc.positive / Max(dc.actions, 1), 4), &sfirst);
	appendStringInfoChar(&buf, '}');

	learning_json_key(&buf, "feedback_scores", &first);
	sfirst = true;
	appendStringInfoChar(&buf, '{');
	json_number(&buf, "average_rating", round_dp(ratio(f.rating_sum, f.n), 2), &sfirst);
	json_number(&buf, "normalized_score", round_dp(ratio(f.normalized_sum, f.n), 4), &sfirst);
	json_count(&buf, "total_feedbacks", f.n, &sfirst);
	json_text(&buf, "recent_trend", learning_trend(f.day_n, f.ndays), &sfirst);
	appendStringInfoChar(&buf, '}');

	learning_json_key(&buf, "calibration_summary", &first);
	appendStringInfoString(&buf, "{\"action_types\":");
	(void) append_calibration_list(&buf, cal, ncal);
	appendStringInfoString(&buf, "}}");

	PG_RETURN_DATUM(finish_jsonb(&buf, caller));
}

static int
leaderboard_cmp(const void *a, const void *b)
{
	const OGroup *x = a;
	const OGroup *y = b;
	double		sx = success_rate(&x->c), sy = success_rate(&y->c);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	if (x->c.actions != y->c.actions)
		return x->c.actions > y->c.actions ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* learning_manager_dashboard: manager_dashboard(tenant_id, days). */
Datum
learning_manager_dashboard(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	DayRow	   *days;
	int			ndays, npos, ncal, npat, i, k;
	double	   *positives;
	CalibrationRow *cal;
	Pattern    *pat;
	FeedbackStats f;
	double		conv = 0, convf = 0, overall;
	bool		first = true, sfirst;

	period_args(fcinfo, 1, &p);
	period_open(&p);
	load_outcomes(&p);
	ndays = load_daily(&p, &days);
	load_feedback(&p, NULL, &f);
	ncal = load_calibration(&p, &cal);
	npat = extract_patterns(&p, DASHBOARD_ALPHA, &pat);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_header(&buf, &p, "manager", &first);

	learning_json_key(&buf, "team_trends", &first);
	sfirst = true;
	appendStringInfoChar(&buf, '{');
	json_count(&buf, "total_outcomes", p.total.actions, &sfirst);
	json_number(&buf, "success_rate", success_rate(&p.total), &sfirst);
	learning_json_key(&buf, "daily_activity", &sfirst);
	positives = palloc(sizeof(double) * (ndays + 1));
	npos = append_daily(&buf, days, ndays, positives);
	json_text(&buf, "trend", learning_trend(positives, npos), &sfirst);
	appendStringInfoChar(&buf, '}');

	learning_json_key(&buf, "comparative_performance", &first);
	appendStringInfoChar(&buf, '[');
	for (i = 0, k = 0; i < p.nactions; i++)
	{
		double		vol = resolved(&p.actions[i].c);

		sfirst = true;
		if (vol <= 0)
			continue;
		if (k++ > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '{');
		json_text(&buf, "action_type", p.actions[i].name, &sfirst);
		json_number(&buf, "success_rate", round_dp(p.actions[i].c.positive / vol, 4), &sfirst);
		json_count(&buf, "volume", vol, &sfirst);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');

	learning_json_key(&buf, "rep_leaderboard", &first);
	qsort(p.reps, p.nreps, sizeof(OGroup), leaderboard_cmp);
	appendStringInfoChar(&buf, '[');
	for (i = 0, k = 0; i < p.nreps; i++)
	{
		sfirst = true;
		if (p.reps[i].name[0] == '\0' || p.reps[i].c.actions <= 0)
			continue;			/* outcomes without a rep */
		if (k++ > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '{');
		json_text(&buf, "rep_id", p.reps[i].name, &sfirst);
		json_count(&buf, "actions", p.reps[i].c.actions, &sfirst);
		json_number(&buf, "success_rate", success_rate(&p.reps[i].c), &sfirst);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');

	learning_json_key(&buf, "coaching_opportunities", &first);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < Min(npat, 5); i++)
	{
		sfirst = true;
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '{');
		json_text(&buf, "pattern", pat[i].description, &sfirst);
		json_text(&buf, "recommendation", pat[i].recommendation, &sfirst);
		json_number(&buf, "confidence", round_dp(pat[i].confidence, 4), &sfirst);
		json_number(&buf, "p_value", pat[i].p_value, &sfirst);
		json_number(&buf, "q_value", pat[i].q_value, &sfirst);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');

	learning_json_key(&buf, "aggregate_calibration", &first);
	appendStringInfoString(&buf, "{\"by_action_type\":");
	overall = append_calibration_list(&buf, cal, ncal);
	appendStringInfoString(&buf, ",\"overall_brier\":");
	learning_json_float(&buf, overall);
	appendStringInfoChar(&buf, '}');

	json_number(&buf, "escalation_rate", round_dp(ratio(escalation_count(&p), p.total.actions), 4), &first);

	for (i = 0; i < ndays; i++)
	{
		conv += days[i].conversations;
		convf += days[i].conversations_with_feedback;
	}
	learning_json_key(&buf, "feedback_health", &first);
	sfirst = true;
	appendStringInfoChar(&buf, '{');
	json_number(&buf, "submission_rate", round_dp(ratio(f.n, resolved(&p.total)), 4), &sfirst);
	{
		Datum		values[2];
		double		nconv, nconvf;

		values[0] = CStringGetTextDatum(p.tenant_id);
		values[1] = DateADTGetDatum(p.from);
		run(Q_COVERAGE, values, NULL);
		nconv = col_float(0, 1);
		nconvf = col_float(0, 2);
		/* % of the period's conversations (with an outcome in it) that got feedback in it */
		json_number(&buf, "coverage_percent", round_dp(100.0 * ratio(nconvf, nconv), 2), &sfirst);
		json_count(&buf, "conversations", nconv, &sfirst);
		json_count(&buf, "conversations_with_feedback", nconvf, &sfirst);
	}
	json_count(&buf, "feedback_entries", f.n, &sfirst);
	json_count(&buf, "conversation_days", conv, &sfirst);
	json_count(&buf, "conversation_days_with_feedback", convf, &sfirst);
	appendStringInfoString(&buf, "}}");

	PG_RETURN_DATUM(finish_jsonb(&buf, caller));
}

/* learning_executive_summary: executive_summary(tenant_id, days). */
Datum
learning_executive_summary(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	DayRow	   *days;
	int			ndays, npos, npat, i;
	double	   *positives;
	Pattern    *pat;
	double		minutes = 0;
	const OGroup *qualify;
	Counts		qc;
	bool		first = true, sfirst;
	Datum		values[1];
	uint64		nmin;
	char	  **min_types;
	double	   *min_values;

	period_args(fcinfo, 1, &p);
	period_open(&p);
	load_outcomes(&p);
	ndays = load_daily(&p, &days);
	npat = extract_patterns(&p, DASHBOARD_ALPHA, &pat);

	values[0] = CStringGetTextDatum(p.tenant_id);
	run(Q_MINUTES, values, NULL);
	nmin = SPI_processed;
	min_types = palloc(sizeof(char *) * (nmin + 1));
	min_values = palloc(sizeof(double) * (nmin + 1));
	for (i = 0; i < (int) nmin; i++)
	{
		min_types[i] = col_text(i, 1);
		min_values[i] = col_float(i, 2);
	}
	for (i = 0; i < p.nactions; i++)
	{
		double		m = DEFAULT_MINUTES_SAVED;
		int			j;

		for (j = 0; j < (int) nmin; j++)
			if (strcmp(min_types[j], p.actions[i].name) == 0)
				m = min_values[j];
		minutes += p.actions[i].c.actions * m;
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_header(&buf, &p, "executive", &first);

	learning_json_key(&buf, "roi_metrics", &first);
	sfirst = true;
	appendStringInfoChar(&buf, '{');
	json_count(&buf, "total_actions", p.total.actions, &sfirst);
	json_count(&buf, "positive_outcomes", p.total.positive, &sfirst);
	json_number(&buf, "estimated_time_saved_hours", round_dp(minutes / 60.0, 1), &sfirst);
	json_number(&buf, "cost_per_interaction",
				p.total.cost_count > 0 ? round_dp(p.total.cost_sum / p.total.cost_count, 4) : NAN, &sfirst);
	appendStringInfoChar(&buf, '}');

	qualify = find_group(p.actions, p.nactions, "qualify");
	memset(&qc, 0, sizeof(qc));
	if (qualify)
		qc = qualify->c;
	learning_json_key(&buf, "agent_effectiveness", &first);
	sfirst = true;
	appendStringInfoChar(&buf, '{');
	json_number(&buf, "overall_success_rate", success_rate(&p.total), &sfirst);
	json_number(&buf, "qualification_completion_rate", success_rate(&qc), &sfirst);
	json_number(&buf, "escalation_rate", round_dp(ratio(escalation_count(&p), p.total.actions), 4), &sfirst);
	appendStringInfoChar(&buf, '}');

	learning_json_key(&buf, "engagement_trends", &first);
	appendStringInfoString(&buf, "{\"daily\":");
	positives = palloc(sizeof(double) * (ndays + 1));
	npos = append_daily(&buf, days, ndays, positives);
	appendStringInfoString(&buf, ",\"trend_direction\":");
	learning_json_string(&buf, learning_trend(positives, npos));
	appendStringInfoChar(&buf, '}');

	learning_json_key(&buf, "strategic_insights", &first);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < Min(npat, 3); i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		learning_json_string(&buf, pat[i].description);
	}
	appendStringInfoString(&buf, "]}");

	PG_RETURN_DATUM(finish_jsonb(&buf, caller));
}

/* ----------------------------------------------------------------
 * Coaching functions
 * ----------------------------------------------------------------
 */

/* learning_coaching_patterns: coaching_patterns(tenant_id, days, alpha). */
Datum
learning_coaching_patterns(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	Pattern    *pat;
	int			npat, i;
	double		alpha;

	period_args(fcinfo, 1, &p);
	alpha = check_alpha(fcinfo, 2);
	period_open(&p);
	load_outcomes(&p);
	npat = extract_patterns(&p, alpha, &pat);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < npat; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		append_pattern(&buf, &pat[i]);
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(finish_jsonb(&buf, caller));
}

static int
top_cmp(const void *a, const void *b)
{
	const OGroup *x = a;
	const OGroup *y = b;
	double		sx = round_dp(x->c.positive / resolved(&x->c), 4);
	double		sy = round_dp(y->c.positive / resolved(&y->c), 4);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* learning_top_performing_actions: top_performing_actions(tenant_id, days, top_k). */
Datum
learning_top_performing_actions(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	OGroup	   *keep;
	int			nkeep = 0, i, top_k;

	period_args(fcinfo, 1, &p);
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("top_k must not be null")));
	top_k = PG_GETARG_INT32(2);
	if (top_k < 1 || top_k > 100)
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("top_k must be between 1 and 100, got %d", top_k)));
	period_open(&p);
	load_outcomes(&p);
	keep = palloc(sizeof(OGroup) * (p.nactions + 1));
	for (i = 0; i < p.nactions; i++)
		if (resolved(&p.actions[i].c) >= MIN_SAMPLES)
			keep[nkeep++] = p.actions[i];
	qsort(keep, nkeep, sizeof(OGroup), top_cmp);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < Min(nkeep, top_k); i++)
	{
		bool		first = true;
		double		n = resolved(&keep[i].c);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '{');
		json_text(&buf, "action_type", keep[i].name, &first);
		json_number(&buf, "success_rate", round_dp(keep[i].c.positive / n, 4), &first);
		json_count(&buf, "total_count", n, &first);
		json_count(&buf, "positive_count", keep[i].c.positive, &first);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(finish_jsonb(&buf, caller));
}

/*
 * An improvement area: a candidate of the 0.1.0 rules with the p-value of the
 * test of its claim.  low_success_rate claims a success rate below 0.4: exact
 * one-sided binomial test of H0 rate >= 0.4, p = P(X <= positives).
 * poor_feedback claims reviewers lean negative: exact sign test of H0
 * P(negative) <= P(positive) over the non-zero ratings, p = P(Y >= negatives),
 * Y ~ Binomial(negatives + positives, 1/2).
 */
typedef struct Area
{
	const OGroup *group;
	bool		feedback;		/* poor_feedback, else low_success_rate */
	bool		rule;			/* passes the 0.1.0 rule (else only tested) */
	double		n;
	double		value;			/* success rate or average rating */
	double		p_value;
	double		q_value;
} Area;

/* append_area writes one improvement area. */
static void
append_area(StringInfo buf, const Area *a)
{
	const OGroup *g = a->group;
	bool		first = true;

	appendStringInfoChar(buf, '{');
	if (!a->feedback)
	{
		json_text(buf, "area_type", "low_success_rate", &first);
		json_text(buf, "action_type", g->name, &first);
		json_text(buf, "description",
				  psprintf("'%s' has only %s success rate (%.0f/%.0f)", g->name, pct(a->value), g->c.positive, a->n), &first);
		json_number(buf, "success_rate", round_dp(a->value, 4), &first);
		json_count(buf, "total_count", a->n, &first);
		json_text(buf, "recommendation",
				  psprintf("Improve '%s' strategy: review failed cases, adjust timing or approach.", g->name), &first);
	}
	else
	{
		json_text(buf, "area_type", "poor_feedback", &first);
		json_text(buf, "target_type", g->name, &first);
		json_text(buf, "description",
				  psprintf("'%s' feedback averages %.2f (negative sentiment, %.0f reviews)", g->name, a->value, a->n),
				  &first);
		json_number(buf, "avg_rating", round_dp(a->value, 4), &first);
		json_count(buf, "total_reviews", a->n, &first);
		json_text(buf, "recommendation",
				  psprintf("Review agent '%s' quality -- human reviewers are consistently giving negative feedback.", g->name),
				  &first);
	}
	json_number(buf, "p_value", a->p_value, &first);
	json_number(buf, "q_value", a->q_value, &first);
	appendStringInfoChar(buf, '}');
}

/*
 * learning_improvement_areas: improvement_areas(tenant_id, days, alpha).
 * Candidates: every action type and feedback target type with n >= 5, each
 * tested (see Area); q-values Benjamini-Hochberg over all of them.  Reported:
 * action types with a success rate below 0.4 and target types averaging
 * below 0 whose q_value <= alpha (every one of them when alpha is 1).
 */
Datum
learning_improvement_areas(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	FeedbackStats f;
	Area	   *areas;
	double	   *pv, *qv;
	bool	   *keep;
	double		alpha;
	int			i, m = 0, k = 0;

	period_args(fcinfo, 1, &p);
	alpha = check_alpha(fcinfo, 2);
	period_open(&p);
	load_outcomes(&p);
	load_feedback(&p, NULL, &f);
	areas = palloc0(sizeof(Area) * (p.nactions + f.ntargets + 1));
	for (i = 0; i < p.nactions; i++)
	{
		const OGroup *g = &p.actions[i];
		double		n = resolved(&g->c);

		if (n < MIN_SAMPLES)
			continue;
		areas[m].rule = g->c.positive / n < IMPROVE_LOW_RATE;
		areas[m].group = g;
		areas[m].n = n;
		areas[m].value = g->c.positive / n;
		areas[m].p_value = learning_binom_cdf(g->c.positive, n, IMPROVE_NULL_RATE);
		m++;
	}
	for (i = 0; i < f.ntargets; i++)
	{
		const OGroup *t = &f.targets[i];

		if (t->c.actions < MIN_SAMPLES)
			continue;
		areas[m].rule = t->c.score_sum / t->c.actions < 0.0;
		areas[m].group = t;
		areas[m].feedback = true;
		areas[m].n = t->c.actions;
		areas[m].value = t->c.score_sum / t->c.actions;
		/* c.negative / c.positive: ratings below / above 0 */
		areas[m].p_value = learning_binom_sf(t->c.negative, t->c.negative + t->c.positive, 0.5);
		m++;
	}

	pv = palloc(sizeof(double) * (m + 1));
	qv = palloc(sizeof(double) * (m + 1));
	keep = palloc(sizeof(bool) * (m + 1));
	for (i = 0; i < m; i++)
		pv[i] = areas[i].p_value;
	fdr_q_values(pv, qv, keep, m, alpha);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < m; i++)
	{
		if (!keep[i] || !areas[i].rule)
			continue;
		areas[i].q_value = qv[i];
		if (k++ > 0)
			appendStringInfoChar(&buf, ',');
		append_area(&buf, &areas[i]);
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(finish_jsonb(&buf, caller));
}

/*-------------------------------------------------------------------------
 *
 * dashboards.c
 *		The dashboards (rep_dashboard, manager_dashboard, executive_summary),
 *		aggregated in C from the rollup rows of a period (analytics_period.c)
 *		and its coaching patterns (patterns.c); jsonb built in C.
 *
 * Only escalation_history reads outcome rows: the period's last 50
 * escalations, through a partial index.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/dashboards.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "analytics.h"

#define ESCALATION_HISTORY_MAX	50
#define DEFAULT_MINUTES_SAVED	5.0
/* False discovery rate of the dashboards' coaching sections (coaching_patterns' default). */
#define DASHBOARD_ALPHA			0.05

PG_FUNCTION_INFO_V1(learning_rep_dashboard);
PG_FUNCTION_INFO_V1(learning_manager_dashboard);
PG_FUNCTION_INFO_V1(learning_executive_summary);

/* The queries only the dashboards run, in the table below. */
enum
{
	Q_REP_KNOWN, Q_ESCALATIONS, Q_MINUTES, Q_COVERAGE, NQUERIES
};

static AnalyticsQuery queries[NQUERIES] = {
	[Q_REP_KNOWN] = {
		"SELECT EXISTS (SELECT 1 FROM learning.outcome_rollups WHERE tenant_id = $1 AND rep_id = $2)",
		2, {TEXTOID, TEXTOID}
	},
	/* the period's escalations, newest first: $1..$4 a period's (learning_period_params), $5 its time zone */
	[Q_ESCALATIONS] = {
		"SELECT pg_catalog.to_char(created_at AT TIME ZONE $5, 'YYYY-MM-DD'), "
		"       coalesce(metadata->>'escalation_trigger', 'unknown'), status, conversation_state_id "
		"  FROM learning.outcome_records "
		" WHERE tenant_id = $1 AND outcome_type = 'escalation_result' "
		"   AND created_at >= ($2::date)::timestamp AT TIME ZONE $5 "
		"   AND created_at < ($3::date + 1)::timestamp AT TIME ZONE $5 "
		"   AND ($4::text IS NULL OR rep_id = $4) "
		" ORDER BY created_at DESC, id LIMIT " CppAsString2(ESCALATION_HISTORY_MAX),
		5, {TEXTOID, DATEOID, DATEOID, TEXTOID, TEXTOID}
	},
	[Q_MINUTES] = {
		"SELECT action_type, minutes FROM learning.action_minutes_saved WHERE tenant_id = $1",
		1, {TEXTOID}
	},
	/* the period's distinct conversations, and those with feedback (see conversation_coverage) */
	[Q_COVERAGE] = {
		"SELECT coalesce(sum(conversations), 0)::float8, coalesce(sum(with_feedback), 0)::float8 "
		"  FROM learning.conversation_coverage WHERE tenant_id = $1 AND day >= $2",
		2, {TEXTOID, DATEOID}
	}
};

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

/* append_daily appends daily activity (days with actions) and returns the trend of its positives. */
static const char *
append_daily(StringInfo buf, DayRow *rows, int n)
{
	double	   *positives = palloc(sizeof(double) * (n + 1));
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
	return learning_trend(positives, k);
}

/* group_counts is the counters of the group named name, zeros when the period has none. */
static Counts
group_counts(const OGroup *groups, int n, const char *name)
{
	const OGroup *g = learning_find_group(groups, n, name);
	Counts		c;

	if (g)
		return g->c;
	memset(&c, 0, sizeof(c));
	return c;
}

/* escalation_rate: the share of the period's outcomes of type escalation_result. */
static double
escalation_rate(Period *p)
{
	Counts		esc = group_counts(p->outcomes, p->noutcomes, "escalation_result");

	return round_dp(ratio(esc.actions, p->total.actions), 4);
}

/* ----------------------------------------------------------------
 * rep_dashboard
 * ----------------------------------------------------------------
 */

/* rep_arg reads rep_id (arg 1): NULL for the whole tenant, else an id. */
static void
rep_arg(FunctionCallInfo fcinfo, Period *p)
{
	if (PG_ARGISNULL(1))
		return;
	p->rep_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (p->rep_id[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("rep_id must not be empty"),
						errhint("Pass NULL for the whole tenant.")));
	learning_check_id_text(fcinfo, 1, "rep_id");
}

/* check_rep_known rejects a rep the tenant has no outcome of (a typo would show an empty dashboard). */
static void
check_rep_known(Period *p)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(p->tenant_id);
	values[1] = CStringGetTextDatum(p->rep_id);
	learning_analytics_run(&queries[Q_REP_KNOWN], values, NULL);
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool) {false})))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("rep_id \"%s\" not found", p->rep_id),
				 errdetail("Tenant %s has no outcome recorded for this rep.", p->tenant_id)));
}

static void
append_response_rates(StringInfo buf, const Counts *total)
{
	bool		first = true;

	appendStringInfoChar(buf, '{');
	json_count(buf, "total_actions", total->actions, &first);
	json_count(buf, "positive_outcomes", total->positive, &first);
	json_count(buf, "negative_outcomes", total->negative, &first);
	json_count(buf, "pending_outcomes", total->pending, &first);
	json_count(buf, "expired_outcomes", total->expired, &first);
	json_count(buf, "ambiguous_outcomes", total->ambiguous, &first);
	json_number(buf, "success_rate", success_rate(total), &first);
	appendStringInfoChar(buf, '}');
}

/* append_escalation_history lists the period's last escalations (outcome rows, not rollups). */
static void
append_escalation_history(StringInfo buf, Period *p)
{
	Datum		values[5];
	char		nulls[5];
	int			i;

	learning_period_params(p, p->rep_id, values, nulls);
	values[4] = CStringGetTextDatum(p->time_zone);
	nulls[4] = ' ';
	learning_analytics_run(&queries[Q_ESCALATIONS], values, nulls);
	appendStringInfoChar(buf, '[');
	for (i = 0; i < (int) SPI_processed; i++)
	{
		bool		first = true;

		if (i > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, '{');
		json_text(buf, "date", col_text(i, 1), &first);
		json_text(buf, "trigger", col_text(i, 2), &first);
		json_text(buf, "outcome", col_text(i, 3), &first);
		json_text(buf, "conversation_id", col_text(i, 4), &first);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
}

static void
append_deal_impact(StringInfo buf, Period *p)
{
	Counts		dc = group_counts(p->outcomes, p->noutcomes, "deal_progression");
	bool		first = true;

	appendStringInfoChar(buf, '{');
	json_count(buf, "deals_progressed", dc.positive, &first);
	json_count(buf, "deals_stalled", dc.negative, &first);
	json_count(buf, "deals_closed_won", dc.closed_won, &first);
	json_number(buf, "stage_advancement_rate", round_dp(dc.positive / Max(dc.actions, 1), 4), &first);
	appendStringInfoChar(buf, '}');
}

static void
append_feedback_scores(StringInfo buf, const FeedbackStats *f)
{
	bool		first = true;

	appendStringInfoChar(buf, '{');
	json_number(buf, "average_rating", round_dp(ratio(f->rating_sum, f->n), 2), &first);
	json_number(buf, "normalized_score", round_dp(ratio(f->normalized_sum, f->n), 4), &first);
	json_count(buf, "total_feedbacks", f->n, &first);
	json_text(buf, "recent_trend", learning_trend(f->day_n, f->ndays), &first);
	appendStringInfoChar(buf, '}');
}

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
	int			ncal;
	bool		first = true;

	learning_period_args(fcinfo, 2, &p);
	rep_arg(fcinfo, &p);
	learning_period_open(&p);
	if (p.rep_id != NULL)
		check_rep_known(&p);
	learning_period_outcomes(&p);
	learning_period_feedback(&p, p.rep_id, &f);
	ncal = learning_period_calibration(&p, &cal);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_header(&buf, &p, "rep", &first);
	json_text(&buf, "rep_id", p.rep_id, &first);
	learning_json_key(&buf, "response_rates", &first);
	append_response_rates(&buf, &p.total);
	learning_json_key(&buf, "escalation_history", &first);
	append_escalation_history(&buf, &p);
	learning_json_key(&buf, "deal_impact", &first);
	append_deal_impact(&buf, &p);
	learning_json_key(&buf, "feedback_scores", &first);
	append_feedback_scores(&buf, &f);
	learning_json_key(&buf, "calibration_summary", &first);
	appendStringInfoString(&buf, "{\"action_types\":");
	(void) append_calibration_list(&buf, cal, ncal);
	appendStringInfoString(&buf, "}}");

	PG_RETURN_DATUM(learning_period_finish(&buf, caller));
}

/* ----------------------------------------------------------------
 * manager_dashboard
 * ----------------------------------------------------------------
 */

static void
append_team_trends(StringInfo buf, Period *p, DayRow *days, int ndays)
{
	bool		first = true;
	const char *trend;

	appendStringInfoChar(buf, '{');
	json_count(buf, "total_outcomes", p->total.actions, &first);
	json_number(buf, "success_rate", success_rate(&p->total), &first);
	learning_json_key(buf, "daily_activity", &first);
	trend = append_daily(buf, days, ndays);
	json_text(buf, "trend", trend, &first);
	appendStringInfoChar(buf, '}');
}

/* append_comparative_performance: each action type with resolved outcomes. */
static void
append_comparative_performance(StringInfo buf, Period *p)
{
	int			i, k = 0;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < p->nactions; i++)
	{
		double		vol = resolved(&p->actions[i].c);
		bool		first = true;

		if (vol <= 0)
			continue;
		if (k++ > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, '{');
		json_text(buf, "action_type", p->actions[i].name, &first);
		json_number(buf, "success_rate", round_dp(p->actions[i].c.positive / vol, 4), &first);
		json_count(buf, "volume", vol, &first);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
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

/* append_rep_leaderboard: the reps with actions, best success rate first (sorts p->reps). */
static void
append_rep_leaderboard(StringInfo buf, Period *p)
{
	int			i, k = 0;

	qsort(p->reps, p->nreps, sizeof(OGroup), leaderboard_cmp);
	appendStringInfoChar(buf, '[');
	for (i = 0; i < p->nreps; i++)
	{
		bool		first = true;

		if (p->reps[i].name[0] == '\0' || p->reps[i].c.actions <= 0)
			continue;			/* outcomes without a rep */
		if (k++ > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, '{');
		json_text(buf, "rep_id", p->reps[i].name, &first);
		json_count(buf, "actions", p->reps[i].c.actions, &first);
		json_number(buf, "success_rate", success_rate(&p->reps[i].c), &first);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
}

/* append_coaching_opportunities: the five most confident coaching patterns. */
static void
append_coaching_opportunities(StringInfo buf, Pattern *pat, int npat)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < Min(npat, 5); i++)
	{
		bool		first = true;

		if (i > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, '{');
		json_text(buf, "pattern", pat[i].description, &first);
		json_text(buf, "recommendation", pat[i].recommendation, &first);
		json_number(buf, "confidence", round_dp(pat[i].confidence, 4), &first);
		json_number(buf, "p_value", pat[i].p_value, &first);
		json_number(buf, "q_value", pat[i].q_value, &first);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
}

static void
append_aggregate_calibration(StringInfo buf, CalibrationRow *cal, int ncal)
{
	double		overall;

	appendStringInfoString(buf, "{\"by_action_type\":");
	overall = append_calibration_list(buf, cal, ncal);
	appendStringInfoString(buf, ",\"overall_brier\":");
	learning_json_float(buf, overall);
	appendStringInfoChar(buf, '}');
}

/*
 * append_feedback_health: how much feedback the period's work got, per
 * resolved outcome, per distinct conversation (conversation_coverage) and
 * per conversation-day (daily_totals).
 */
static void
append_feedback_health(StringInfo buf, Period *p, const FeedbackStats *f, DayRow *days, int ndays)
{
	double		conv = 0, convf = 0, nconv, nconvf;
	Datum		values[2];
	bool		first = true;
	int			i;

	for (i = 0; i < ndays; i++)
	{
		conv += days[i].conversations;
		convf += days[i].conversations_with_feedback;
	}
	appendStringInfoChar(buf, '{');
	json_number(buf, "submission_rate", round_dp(ratio(f->n, resolved(&p->total)), 4), &first);
	values[0] = CStringGetTextDatum(p->tenant_id);
	values[1] = DateADTGetDatum(p->from);
	learning_analytics_run(&queries[Q_COVERAGE], values, NULL);
	nconv = col_float(0, 1);
	nconvf = col_float(0, 2);
	/* % of the period's conversations (with an outcome in it) that got feedback in it */
	json_number(buf, "coverage_percent", round_dp(100.0 * ratio(nconvf, nconv), 2), &first);
	json_count(buf, "conversations", nconv, &first);
	json_count(buf, "conversations_with_feedback", nconvf, &first);
	json_count(buf, "feedback_entries", f->n, &first);
	json_count(buf, "conversation_days", conv, &first);
	json_count(buf, "conversation_days_with_feedback", convf, &first);
	appendStringInfoChar(buf, '}');
}

/* learning_manager_dashboard: manager_dashboard(tenant_id, days). */
Datum
learning_manager_dashboard(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	DayRow	   *days;
	int			ndays, ncal, npat;
	CalibrationRow *cal;
	Pattern    *pat;
	FeedbackStats f;
	bool		first = true;

	learning_period_args(fcinfo, 1, &p);
	learning_period_open(&p);
	learning_period_outcomes(&p);
	ndays = learning_period_daily(&p, &days);
	learning_period_feedback(&p, NULL, &f);
	ncal = learning_period_calibration(&p, &cal);
	npat = learning_extract_patterns(&p, DASHBOARD_ALPHA, &pat);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_header(&buf, &p, "manager", &first);
	learning_json_key(&buf, "team_trends", &first);
	append_team_trends(&buf, &p, days, ndays);
	learning_json_key(&buf, "comparative_performance", &first);
	append_comparative_performance(&buf, &p);
	learning_json_key(&buf, "rep_leaderboard", &first);
	append_rep_leaderboard(&buf, &p);
	learning_json_key(&buf, "coaching_opportunities", &first);
	append_coaching_opportunities(&buf, pat, npat);
	learning_json_key(&buf, "aggregate_calibration", &first);
	append_aggregate_calibration(&buf, cal, ncal);
	json_number(&buf, "escalation_rate", escalation_rate(&p), &first);
	learning_json_key(&buf, "feedback_health", &first);
	append_feedback_health(&buf, &p, &f, days, ndays);
	appendStringInfoChar(&buf, '}');

	PG_RETURN_DATUM(learning_period_finish(&buf, caller));
}

/* ----------------------------------------------------------------
 * executive_summary
 * ----------------------------------------------------------------
 */

/*
 * minutes_saved estimates the time the period's actions saved: each action
 * at its type's minutes (action_minutes_saved), 5 for a type without.
 */
static double
minutes_saved(Period *p)
{
	Datum		values[1];
	uint64		nmin;
	char	  **min_types;
	double	   *min_values;
	double		minutes = 0;
	int			i, j;

	values[0] = CStringGetTextDatum(p->tenant_id);
	learning_analytics_run(&queries[Q_MINUTES], values, NULL);
	nmin = SPI_processed;
	min_types = palloc(sizeof(char *) * (nmin + 1));
	min_values = palloc(sizeof(double) * (nmin + 1));
	for (i = 0; i < (int) nmin; i++)
	{
		min_types[i] = col_text(i, 1);
		min_values[i] = col_float(i, 2);
	}
	for (i = 0; i < p->nactions; i++)
	{
		double		m = DEFAULT_MINUTES_SAVED;

		for (j = 0; j < (int) nmin; j++)
			if (strcmp(min_types[j], p->actions[i].name) == 0)
				m = min_values[j];
		minutes += p->actions[i].c.actions * m;
	}
	return minutes;
}

static void
append_roi_metrics(StringInfo buf, Period *p, double minutes)
{
	bool		first = true;

	appendStringInfoChar(buf, '{');
	json_count(buf, "total_actions", p->total.actions, &first);
	json_count(buf, "positive_outcomes", p->total.positive, &first);
	json_number(buf, "estimated_time_saved_hours", round_dp(minutes / 60.0, 1), &first);
	json_number(buf, "cost_per_interaction",
				p->total.cost_count > 0 ? round_dp(p->total.cost_sum / p->total.cost_count, 4) : NAN, &first);
	appendStringInfoChar(buf, '}');
}

static void
append_agent_effectiveness(StringInfo buf, Period *p)
{
	Counts		qc = group_counts(p->actions, p->nactions, "qualify");
	bool		first = true;

	appendStringInfoChar(buf, '{');
	json_number(buf, "overall_success_rate", success_rate(&p->total), &first);
	json_number(buf, "qualification_completion_rate", success_rate(&qc), &first);
	json_number(buf, "escalation_rate", escalation_rate(p), &first);
	appendStringInfoChar(buf, '}');
}

/* append_strategic_insights: the descriptions of the three most confident coaching patterns. */
static void
append_strategic_insights(StringInfo buf, Pattern *pat, int npat)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < Min(npat, 3); i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		learning_json_string(buf, pat[i].description);
	}
	appendStringInfoChar(buf, ']');
}

/* learning_executive_summary: executive_summary(tenant_id, days). */
Datum
learning_executive_summary(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	Period		p;
	StringInfoData buf;
	DayRow	   *days;
	int			ndays, npat;
	Pattern    *pat;
	double		minutes;
	bool		first = true;
	const char *trend;

	learning_period_args(fcinfo, 1, &p);
	learning_period_open(&p);
	learning_period_outcomes(&p);
	ndays = learning_period_daily(&p, &days);
	npat = learning_extract_patterns(&p, DASHBOARD_ALPHA, &pat);
	minutes = minutes_saved(&p);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_header(&buf, &p, "executive", &first);
	learning_json_key(&buf, "roi_metrics", &first);
	append_roi_metrics(&buf, &p, minutes);
	learning_json_key(&buf, "agent_effectiveness", &first);
	append_agent_effectiveness(&buf, &p);
	learning_json_key(&buf, "engagement_trends", &first);
	appendStringInfoString(&buf, "{\"daily\":");
	trend = append_daily(&buf, days, ndays);
	appendStringInfoString(&buf, ",\"trend_direction\":");
	learning_json_string(&buf, trend);
	appendStringInfoChar(&buf, '}');
	learning_json_key(&buf, "strategic_insights", &first);
	append_strategic_insights(&buf, pat, npat);
	appendStringInfoChar(&buf, '}');

	PG_RETURN_DATUM(learning_period_finish(&buf, caller));
}

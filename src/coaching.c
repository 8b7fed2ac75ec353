/*-------------------------------------------------------------------------
 *
 * coaching.c
 *		The coaching functions (coaching_patterns, top_performing_actions,
 *		improvement_areas), over the rollup rows of a period
 *		(analytics_period.c) and its coaching patterns (patterns.c); jsonb
 *		built in C.
 *
 * A call's alpha is the false-discovery rate of its Benjamini-Hochberg
 * q-values (patterns.c); 1 reports every candidate that passes its rule.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/coaching.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"

#include "analytics.h"

/* Success rate an improvement area is tested against (its claim: below this). */
#define IMPROVE_NULL_RATE		IMPROVE_LOW_RATE

PG_FUNCTION_INFO_V1(learning_coaching_patterns);
PG_FUNCTION_INFO_V1(learning_top_performing_actions);
PG_FUNCTION_INFO_V1(learning_improvement_areas);

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

/* ----------------------------------------------------------------
 * coaching_patterns
 * ----------------------------------------------------------------
 */

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

	learning_period_args(fcinfo, 1, &p);
	alpha = check_alpha(fcinfo, 2);
	learning_period_open(&p);
	learning_period_outcomes(&p);
	npat = learning_extract_patterns(&p, alpha, &pat);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < npat; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		append_pattern(&buf, &pat[i]);
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(learning_period_finish(&buf, caller));
}

/* ----------------------------------------------------------------
 * top_performing_actions
 * ----------------------------------------------------------------
 */

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

/* check_top_k reads top_k (arg 2): 1 to 100. */
static int
check_top_k(FunctionCallInfo fcinfo)
{
	int			top_k;

	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("top_k must not be null")));
	top_k = PG_GETARG_INT32(2);
	if (top_k < 1 || top_k > 100)
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("top_k must be between 1 and 100, got %d", top_k)));
	return top_k;
}

static void
append_top_action(StringInfo buf, const OGroup *g)
{
	bool		first = true;
	double		n = resolved(&g->c);

	appendStringInfoChar(buf, '{');
	json_text(buf, "action_type", g->name, &first);
	json_number(buf, "success_rate", round_dp(g->c.positive / n, 4), &first);
	json_count(buf, "total_count", n, &first);
	json_count(buf, "positive_count", g->c.positive, &first);
	appendStringInfoChar(buf, '}');
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

	learning_period_args(fcinfo, 1, &p);
	top_k = check_top_k(fcinfo);
	learning_period_open(&p);
	learning_period_outcomes(&p);
	keep = palloc(sizeof(OGroup) * (p.nactions + 1));
	for (i = 0; i < p.nactions; i++)
		if (resolved(&p.actions[i].c) >= MIN_SAMPLES)
			keep[nkeep++] = p.actions[i];
	qsort(keep, nkeep, sizeof(OGroup), top_cmp);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < Min(nkeep, top_k); i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		append_top_action(&buf, &keep[i]);
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(learning_period_finish(&buf, caller));
}

/* ----------------------------------------------------------------
 * improvement_areas
 * ----------------------------------------------------------------
 */

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

/* action_areas adds a low_success_rate candidate per action type with n >= 5. */
static int
action_areas(const Period *p, Area *areas, int m)
{
	int			i;

	for (i = 0; i < p->nactions; i++)
	{
		const OGroup *g = &p->actions[i];
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
	return m;
}

/* feedback_areas adds a poor_feedback candidate per feedback target type with n >= 5. */
static int
feedback_areas(const FeedbackStats *f, Area *areas, int m)
{
	int			i;

	for (i = 0; i < f->ntargets; i++)
	{
		const OGroup *t = &f->targets[i];

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
	return m;
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
	int			i, m, k = 0;

	learning_period_args(fcinfo, 1, &p);
	alpha = check_alpha(fcinfo, 2);
	learning_period_open(&p);
	learning_period_outcomes(&p);
	learning_period_feedback(&p, NULL, &f);
	areas = palloc0(sizeof(Area) * (p.nactions + f.ntargets + 1));
	m = action_areas(&p, areas, 0);
	m = feedback_areas(&f, areas, m);

	pv = palloc(sizeof(double) * (m + 1));
	qv = palloc(sizeof(double) * (m + 1));
	keep = palloc(sizeof(bool) * (m + 1));
	for (i = 0; i < m; i++)
		pv[i] = areas[i].p_value;
	learning_fdr_q_values(pv, qv, keep, m, alpha);

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
	PG_RETURN_DATUM(learning_period_finish(&buf, caller));
}

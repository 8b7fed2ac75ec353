/*-------------------------------------------------------------------------
 *
 * patterns.c
 *		The coaching patterns of a period: the candidate rules over its
 *		outcome groups, their exact tests and the false-discovery control.
 *		The dashboards (coaching opportunities, strategic insights) and
 *		coaching_patterns show them; improvement_areas shares the control.
 *
 * Coaching reports a group only when it passes its rule and its
 * Benjamini-Hochberg q-value over every group the rules looked at is at most
 * alpha; the exact tests are in stats.c.
 *
 * This file only reads the Period that analytics_period.c filled.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/patterns.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "analytics.h"

/* The sample size from which a pattern's confidence is 1 (it grows linearly up to it). */
#define CONFIDENT_SAMPLES		50.0
#define CONFIDENT_ESCALATIONS	30.0

/* A family of groups tested against each other: its resolved outcomes and successes. */
typedef struct Family
{
	double		n;
	double		positive;
} Family;

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
 * learning_fdr_q_values sets each candidate's q_value (Benjamini-Hochberg
 * over the m candidates, those without a p-value left out) and tells which
 * to report: q_value <= alpha, or every candidate when alpha is 1.
 */
void
learning_fdr_q_values(const double *p, double *q, bool *keep, int m, double alpha)
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
	learning_fdr_q_values(p, q, keep, n, alpha);
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
 * A kind of pattern: the groups of one kind (action types, outcome types or
 * escalation triggers), each tested against the rest of its family, and
 * described by describe (rule and texts) once it is a candidate.
 */
typedef struct PatternKind
{
	const char *type;
	double		full_at;		/* resolved outcomes from which confidence is 1 */
	void		(*describe) (Pattern *pt, const OGroup *g, double sr, const Family *family);
} PatternKind;

/* counts_supporting is the supporting data of a stage or escalation pattern. */
static char *
counts_supporting(const char *key, const OGroup *g, double sr, double gn)
{
	StringInfoData s;
	bool		first = true;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	json_text(&s, key, g->name, &first);
	json_number(&s, "success_rate", round_dp(sr, 4), &first);
	json_count(&s, "total", gn, &first);
	json_count(&s, "positive", g->c.positive, &first);
	appendStringInfoChar(&s, '}');
	return s.data;
}

/* describe_action: an action type whose success rate is off the average. */
static void
describe_action(Pattern *pt, const OGroup *g, double sr, const Family *family)
{
	double		overall = ratio(family->positive, family->n);
	double		diff = sr - overall;
	StringInfoData s;
	bool		first = true;

	pt->rule = fabs(diff) > EFFECTIVENESS_DIFF;
	pt->description = psprintf("'%s' actions have a %s success rate, which is %s %s the average of %s.",
							   g->name, pct(sr), pct(fabs(diff)), diff > 0 ? "above" : "below", pct(overall));
	pt->recommendation = diff > 0
		? psprintf("Consider using '%s' more frequently in similar contexts.", g->name)
		: psprintf("Review '%s' approach -- consider alternative strategies or additional preparation before these actions.", g->name);
	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	json_text(&s, "action_type", g->name, &first);
	json_number(&s, "success_rate", round_dp(sr, 4), &first);
	json_number(&s, "overall_rate", round_dp(overall, 4), &first);
	json_number(&s, "difference", round_dp(diff, 4), &first);
	appendStringInfoChar(&s, '}');
	pt->supporting = s.data;
}

/* describe_stage: an outcome type with a low success rate. */
static void
describe_stage(Pattern *pt, const OGroup *g, double sr, const Family *family)
{
	pt->rule = sr < STAGE_LOW_RATE;
	pt->description = psprintf("Low success rate (%s) for '%s' outcomes. This area needs attention.",
							   pct(sr), g->name);
	pt->recommendation = psprintf("Focus on improving '%s' outcomes through better preparation and follow-up strategies.",
								  g->name);
	pt->supporting = counts_supporting("outcome_type", g, sr, pt->sample_size);
}

/* describe_escalation: every escalation trigger, whether it resolves well or not. */
static void
describe_escalation(Pattern *pt, const OGroup *g, double sr, const Family *family)
{
	pt->rule = true;
	pt->description = psprintf("Escalations triggered by '%s' have a %s resolution rate (%.0f/%.0f).",
							   g->name, pct(sr), g->c.positive, pt->sample_size);
	pt->recommendation = sr > ESCALATION_GOOD_RATE
		? psprintf("Prioritize escalations triggered by '%s' -- they resolve well.", g->name)
		: psprintf("Reconsider escalations triggered by '%s' -- success rate is low.", g->name);
	pt->supporting = counts_supporting("trigger", g, sr, pt->sample_size);
}

static const PatternKind action_effectiveness = {"action_effectiveness", CONFIDENT_SAMPLES, describe_action};
static const PatternKind stage_insight = {"stage_insight", CONFIDENT_SAMPLES, describe_stage};
static const PatternKind escalation_pattern = {"escalation_pattern", CONFIDENT_ESCALATIONS, describe_escalation};

/*
 * add_candidates appends, from pat[n] on, a candidate of the given kind for
 * each of the groups with at least MIN_SAMPLES resolved outcomes, each tested
 * against the rest of family; returns the new count.
 */
static int
add_candidates(const PatternKind *kind, const OGroup *groups, int ngroups, const Family *family,
			   Pattern *pat, int n)
{
	int			i;

	for (i = 0; i < ngroups; i++)
	{
		const OGroup *g = &groups[i];
		double		gn = resolved(&g->c);
		Pattern    *pt = &pat[n];

		if (gn < MIN_SAMPLES)
			continue;
		pt->type = kind->type;
		pt->confidence = Min(gn / kind->full_at, 1.0);
		pt->sample_size = gn;
		pt->p_value = group_vs_rest_p(g->c.positive, gn, family->positive - g->c.positive, family->n - gn);
		pt->order = n++;
		kind->describe(pt, g, g->c.positive / gn, family);
	}
	return n;
}

/*
 * learning_extract_patterns computes the period's coaching patterns, sorted
 * by confidence descending (ties: action_effectiveness, stage_insight,
 * escalation_pattern, each by name).  Resolved = not pending; success =
 * positive.  Every group the rules look at (an action type, outcome type or
 * escalation trigger with at least 5 resolved outcomes) is a candidate and is
 * tested against the rest of its kind (Fisher's exact test); the q-values are
 * Benjamini-Hochberg over all the call's candidates, so that choosing which
 * ones to show by their rates cannot shrink the family.  A candidate is
 * reported when it passes the 0.1.0 rule and its q_value <= alpha (with
 * alpha 1: every one that passes the rule).
 */
int
learning_extract_patterns(const Period *p, double alpha, Pattern **out)
{
	Pattern    *pat = palloc0(sizeof(Pattern) * (p->nactions + p->noutcomes + p->ntriggers + 1));
	Family		all = {resolved(&p->total), p->total.positive};
	Family		esc = {0, 0};
	int			i, n = 0;

	*out = pat;
	if (all.n <= 0)
		return 0;
	for (i = 0; i < p->ntriggers; i++)
	{
		esc.n += resolved(&p->triggers[i].c);
		esc.positive += p->triggers[i].c.positive;
	}
	n = add_candidates(&action_effectiveness, p->actions, p->nactions, &all, pat, n);
	n = add_candidates(&stage_insight, p->outcomes, p->noutcomes, &all, pat, n);
	/* triggers are compared only when the period has enough escalations at all */
	if (esc.n >= MIN_SAMPLES)
		n = add_candidates(&escalation_pattern, p->triggers, p->ntriggers, &esc, pat, n);
	n = filter_patterns(pat, n, alpha);
	qsort(pat, n, sizeof(Pattern), pattern_cmp);
	return n;
}

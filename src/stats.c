/*-------------------------------------------------------------------------
 *
 * stats.c
 *		The significance tests behind coaching: Fisher's exact test on a 2x2
 *		table, exact binomial tails, and Benjamini-Hochberg q-values.  Plain
 *		numerics, no database access.
 *
 * Both exact distributions are summed the same way: the probability terms
 * are built from the mode outward with the ratio of successive terms (the
 * mode term set to 1), so no factorial or lgamma is needed, and normalised
 * by their own total.  Terms fall off faster than geometrically away from
 * the mode, so a walk stops once its term is below 1e-20 of both sums: the
 * cost is a few times the standard deviation of the count, not the count,
 * and nothing is allocated.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "learning.h"

/* A term below this share of a running sum no longer changes it. */
#define NEGLIGIBLE		1e-20
/*
 * An observed count whose probability is below e^TAIL_LOG_FLOOR times that of
 * the mode has a tail probability below any double worth reporting: 0.
 */
#define TAIL_LOG_FLOOR	(-700.0)
/*
 * Tables whose probability is within this relative distance of the observed
 * one count as "as extreme" (ties that rounding split apart), as in R's
 * fisher.test.
 */
#define TIE_TOLERANCE	1e-7

typedef double (*TermRatio) (long k, const double *params);

/* Which terms a tail sum takes. */
typedef struct Selection
{
	enum
	{
		SELECT_AT_MOST_X,		/* k <= x */
		SELECT_AT_LEAST_X,		/* k >= x */
		SELECT_AS_UNLIKELY		/* t(k) <= limit */
	}			kind;
	double		x;
	double		limit;
} Selection;

static bool
selected(const Selection *sel, long k, double t)
{
	switch (sel->kind)
	{
		case SELECT_AT_MOST_X:
			return k <= sel->x;
		case SELECT_AT_LEAST_X:
			return k >= sel->x;
		default:
			return t <= sel->limit;
	}
}

/* term_at is t(k) relative to t(mode) = 1, walked with the term ratios. */
static double
term_at(long k, long mode, TermRatio up, const double *params)
{
	double		t = 1.0;
	long		j;

	for (j = mode; j < k; j++)
		t *= up(j, params);
	for (j = mode; j > k; j--)
		t /= up(j - 1, params);
	return t;
}

/* lchoose is log(n choose k). */
static double
lchoose(double n, double k)
{
	return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1);
}

/*
 * tail_share walks the terms of [lo, hi] out from the mode, with up(k) =
 * t(k+1)/t(k), and returns (sum of the selected terms) / (sum of all).  A
 * direction stops once its term no longer changes either sum, the selected
 * one counted as at least the observed term when that is known (two-sided
 * Fisher: the far side's tail starts where the terms fall below it); while
 * nothing is selected yet a tail test goes on at least to k = reach (the
 * observed count), so that a far tail is not cut off.  Away from the mode the terms only
 * decrease, so what is left of a direction is smaller than its last term.
 * Nothing is allocated, whatever the counts.
 */
static double
tail_share(long lo, long hi, long mode, long reach, TermRatio up, const double *params,
		   const Selection *sel)
{
	double		total = 1.0, chosen = 0.0, t;
	/* the selected sum will be at least this (the observed table's own term) */
	double		least = sel->kind == SELECT_AS_UNLIKELY ? sel->limit / (1.0 + TIE_TOLERANCE) : 0.0;
	long		k;

	mode = Min(Max(mode, lo), hi);
	if (selected(sel, mode, 1.0))
		chosen = 1.0;
	for (k = mode, t = 1.0; k < hi; k++)
	{
		t *= up(k, params);
		total += t;
		if (selected(sel, k + 1, t))
			chosen += t;
		if (t == 0.0 || (t < NEGLIGIBLE * total &&
						 (chosen > 0 || least > 0 ? t < NEGLIGIBLE * Max(chosen, least) : k + 1 >= reach)))
			break;				/* (a term that underflowed stays 0) */
	}
	for (k = mode, t = 1.0; k > lo; k--)
	{
		t /= up(k - 1, params);
		total += t;
		if (selected(sel, k - 1, t))
			chosen += t;
		if (t == 0.0 || (t < NEGLIGIBLE * total &&
						 (chosen > 0 || least > 0 ? t < NEGLIGIBLE * Max(chosen, least) : k - 1 <= reach)))
			break;
	}
	return Min(chosen / total, 1.0);
}

/*
 * Hypergeometric: X = positives of the first row, row size n1, column total
 * K, grand total N (params n1, K, N).
 */
static double
hypergeom_up(long k, const double *params)
{
	double		n1 = params[0], K = params[1], N = params[2];

	return (n1 - k) * (K - k) / ((k + 1) * (N - K - n1 + k + 1));
}

/* Binomial(n, p): params n, p. */
static double
binom_up(long k, const double *params)
{
	double		n = params[0], p = params[1];

	return (n - k) * p / ((k + 1) * (1.0 - p));
}

/*
 * learning_fisher_exact: two-sided p-value of Fisher's exact test on the
 * table [[a, b], [c, d]] (rows: the group and the rest; columns: successes
 * and failures): the probability, given the margins, of a table no more
 * likely than the observed one (scipy.stats.fisher_exact, R fisher.test).
 * NaN when a row is empty (nothing to compare with).
 */
double
learning_fisher_exact(double a, double b, double c, double d)
{
	double		params[3];
	double		n1 = a + b, n2 = c + d, K = a + c, N = n1 + n2;
	long		lo, hi, mode;
	Selection	sel;

	if (n1 <= 0 || n2 <= 0)
		return NAN;
	if (K <= 0 || K >= N)
		return 1.0;				/* one column empty: every table is the observed one */
	params[0] = n1;
	params[1] = K;
	params[2] = N;
	lo = (long) Max(0.0, n1 - (N - K));
	hi = (long) Min(n1, K);
	mode = Min(Max((long) floor((n1 + 1) * (K + 1) / (N + 2)), lo), hi);
	if (lchoose(K, a) + lchoose(N - K, n1 - a) - lchoose(K, mode) - lchoose(N - K, n1 - mode) < TAIL_LOG_FLOOR)
		return 0.0;
	sel.kind = SELECT_AS_UNLIKELY;
	sel.x = a;
	sel.limit = term_at((long) a, mode, hypergeom_up, params) * (1.0 + TIE_TOLERANCE);
	return tail_share(lo, hi, mode, (long) a, hypergeom_up, params, &sel);
}

/*
 * binom_tail: P(X <= x) (lower) or P(X >= x) (upper) for X ~ Binomial(n, p),
 * as scipy.stats.binomtest(x, n, p, alternative='less' / 'greater').
 */
static double
binom_tail(double x, double n, double p, bool lower)
{
	double		params[2];
	Selection	sel;
	long		mode;

	if (n <= 0)
		return NAN;
	if (p <= 0.0)
		return lower ? 1.0 : (x <= 0 ? 1.0 : 0.0);
	if (p >= 1.0)
		return lower ? (x >= n ? 1.0 : 0.0) : 1.0;
	params[0] = n;
	params[1] = p;
	mode = Min((long) floor((n + 1) * p), (long) n);
	if ((lower ? x < mode : x > mode) &&
		lchoose(n, x) - lchoose(n, mode) + (x - mode) * (log(p) - log1p(-p)) < TAIL_LOG_FLOOR)
		return 0.0;
	sel.kind = lower ? SELECT_AT_MOST_X : SELECT_AT_LEAST_X;
	sel.x = x;
	sel.limit = 0;
	return tail_share(0, (long) n, mode, (long) x, binom_up, params, &sel);
}

double
learning_binom_cdf(double x, double n, double p)
{
	return binom_tail(x, n, p, true);
}

double
learning_binom_sf(double x, double n, double p)
{
	return binom_tail(x, n, p, false);
}

/*
 * learning_bh_qvalues: Benjamini-Hochberg adjusted p-values (q-values) of the
 * m p-values: with the p-values ranked 1..m' ascending (NaN ones left out,
 * their q is NaN), q_(i) = min over j >= i of min(1, m' p_(j) / j), as
 * statsmodels multipletests(method='fdr_bh').  Rejecting every q <= alpha
 * is the Benjamini-Hochberg procedure at false discovery rate alpha.
 */
void
learning_bh_qvalues(const double *p, double *q, int m)
{
	int		   *order = palloc(sizeof(int) * (m + 1));
	int			mt = 0, i, j;
	double		running = 1.0;

	for (i = 0; i < m; i++)
	{
		q[i] = NAN;
		if (isnan(p[i]))
			continue;
		/* insertion sort by p ascending (m is a few dozen at most) */
		for (j = mt; j > 0 && p[order[j - 1]] > p[i]; j--)
			order[j] = order[j - 1];
		order[j] = i;
		mt++;
	}
	for (i = mt - 1; i >= 0; i--)
	{
		double		v = p[order[i]] * mt / (i + 1);

		running = Min(running, v);
		q[order[i]] = Min(running, 1.0);
	}
	pfree(order);
}

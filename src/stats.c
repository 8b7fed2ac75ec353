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
 * the mode, so the walk stops once a term is below 1e-20 of the total: the
 * cost is a few times the standard deviation of the count, not the count.
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

/* A term below this share of the running total no longer changes a double. */
#define NEGLIGIBLE		1e-20
/*
 * Tables whose probability is within this relative distance of the observed
 * one count as "as extreme" (ties that rounding split apart), as in R's
 * fisher.test.
 */
#define TIE_TOLERANCE	1e-7

/*
 * ExactTerms: unnormalised probabilities t[k] for k in [lo, hi], walked out
 * from the mode by the ratio t(k+1)/t(k); terms beyond the negligible ones
 * are left at 0.
 */
typedef struct ExactTerms
{
	long		lo;
	long		hi;
	double	   *t;				/* t[k - lo] */
	double		total;
} ExactTerms;

typedef double (*TermRatio) (long k, const double *params);

/*
 * build_terms fills terms for [lo, hi] from the mode, with up(k) =
 * t(k+1)/t(k); the walk goes at least as far as k = reach (the observed
 * count), so that its own term is never cut off.
 */
static void
build_terms(ExactTerms *e, long lo, long hi, long mode, long reach, TermRatio up, const double *params)
{
	long		k;
	double		t;

	e->lo = lo;
	e->hi = hi;
	e->t = palloc0(sizeof(double) * (hi - lo + 1));
	mode = Min(Max(mode, lo), hi);
	e->t[mode - lo] = 1.0;
	e->total = 1.0;
	for (k = mode, t = 1.0; k < hi; k++)
	{
		t *= up(k, params);
		e->t[k + 1 - lo] = t;
		e->total += t;
		if (t < NEGLIGIBLE * e->total && k + 1 >= reach)
			break;
	}
	for (k = mode, t = 1.0; k > lo; k--)
	{
		t /= up(k - 1, params);
		e->t[k - 1 - lo] = t;
		e->total += t;
		if (t < NEGLIGIBLE * e->total && k - 1 <= reach)
			break;
	}
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
	long		lo, hi, k;
	ExactTerms	e;
	double		observed, sum = 0.0;

	if (n1 <= 0 || n2 <= 0)
		return NAN;
	if (K <= 0 || K >= N)
		return 1.0;				/* one column empty: every table is the observed one */
	params[0] = n1;
	params[1] = K;
	params[2] = N;
	lo = (long) Max(0.0, n1 - (N - K));
	hi = (long) Min(n1, K);
	build_terms(&e, lo, hi, (long) floor((n1 + 1) * (K + 1) / (N + 2)), (long) a, hypergeom_up, params);
	observed = e.t[(long) a - lo];
	for (k = lo; k <= hi; k++)
		if (e.t[k - lo] <= observed * (1.0 + TIE_TOLERANCE))
			sum += e.t[k - lo];
	pfree(e.t);
	return Min(sum / e.total, 1.0);
}

/*
 * binom_tail: P(X <= x) (lower) or P(X >= x) (upper) for X ~ Binomial(n, p),
 * as scipy.stats.binomtest(x, n, p, alternative='less' / 'greater').
 */
static double
binom_tail(double x, double n, double p, bool lower)
{
	double		params[2];
	ExactTerms	e;
	long		k;
	double		sum = 0.0;

	if (n <= 0)
		return NAN;
	if (p <= 0.0)
		return lower ? 1.0 : (x <= 0 ? 1.0 : 0.0);
	if (p >= 1.0)
		return lower ? (x >= n ? 1.0 : 0.0) : 1.0;
	params[0] = n;
	params[1] = p;
	build_terms(&e, 0, (long) n, (long) floor((n + 1) * p), (long) x, binom_up, params);
	for (k = 0; k <= (long) n; k++)
		if (lower ? k <= x : k >= x)
			sum += e.t[k];
	pfree(e.t);
	return Min(sum / e.total, 1.0);
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

/*-------------------------------------------------------------------------
 *
 * calibration.c
 *		Exact calibration per (tenant, action type): the bin sums kept by
 *		triggers on learning.outcome_records, the brier_score aggregate, the
 *		Brier score, reliability curve and decomposition read from the bins,
 *		the damped confidence_scale adjustment, and the decision-time lookups
 *		adjusted_confidence and calibrated_probability.
 *
 * How the bins stay exact without hot rows.  A row-level AFTER trigger on
 * outcome_records (fired only when a row becomes resolved, is inserted
 * resolved, or a resolved row is deleted) adds the row's contribution to a
 * keyed delta in transaction memory (deltas.c), written with one set-based
 * upsert at commit (or before any reader of the bins).  The upsert goes to the shard row
 * (bin, MyBackendId % LEARNING_SHARDS), so concurrent sessions that resolve
 * outcomes of the same action type write different rows and never queue
 * behind each other; readers add the few shards of a bin.  Entries carry the
 * subtransaction that made them, so an aborted subtransaction takes its
 * contribution with it.  Whatever path resolves an outcome (resolve_outcome,
 * a job, a plain UPDATE through the API) goes through the same triggers, and
 * a row can become resolved only once (the guard trigger in outcomes.c), so
 * an outcome is counted once.
 *
 * Each bin keeps count, sum p, sum p^2, sum o, sum o^2 and sum p*o, which
 * give the exact Brier score (sum (p-o)^2 = sum p^2 - 2 sum p*o + sum o^2),
 * the mean prediction and the observed rate per bin.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/calibration.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "learning.h"

/* Thresholds of the calibration check and of calibration_curve. */
#define ADJUST_MAX_STEP			0.10
#define SCALE_MIN				0.5
#define SCALE_MAX				1.5
#define ECE_CALIBRATED			0.15
/* Moves smaller than this are rounding noise, not adjustments (convergence). */
#define SCALE_EPSILON			1e-9
#define WILSON_Z				1.959963984540054

/* The exact sums of one bin (or one shard row of it). */
typedef struct BinSums
{
	double		n;
	double		sum_p;
	double		sum_p2;
	double		sum_o;
	double		sum_o2;
	double		sum_po;
} BinSums;

/*
 * The bin sums are keyed numeric deltas (deltas.c): written at commit, one
 * upsert into this backend's shard row of each touched bin.
 */
static DeltaTarget calibration_target = {
	"calibration bins", 3, 6,
	"INSERT INTO learning.calibration_bins AS b "
	"  (tenant_id, action_type, bin_index, shard, n, sum_p, sum_p2, sum_o, sum_o2, sum_po) "
	"SELECT u.t, u.a, u.b::smallint, $10, u.n::bigint, u.p, u.p2, u.o, u.o2, u.po "
	"  FROM %s "
	"       AS u(t, a, b, n, p, p2, o, o2, po) "
	"ON CONFLICT (tenant_id, action_type, bin_index, shard) DO UPDATE SET "
	"  n = b.n + excluded.n, sum_p = b.sum_p + excluded.sum_p, "
	"  sum_p2 = b.sum_p2 + excluded.sum_p2, sum_o = b.sum_o + excluded.sum_o, "
	"  sum_o2 = b.sum_o2 + excluded.sum_o2, sum_po = b.sum_po + excluded.sum_po, "
	"  updated_at = pg_catalog.now()",
	NULL
};

/* Saved SPI plans. */
static SPIPlanPtr load_bins_plan = NULL;
static SPIPlanPtr load_scale_plan = NULL;

PG_FUNCTION_INFO_V1(learning_outcome_calibrate);
PG_FUNCTION_INFO_V1(learning_brier_accum);
PG_FUNCTION_INFO_V1(learning_brier_combine);
PG_FUNCTION_INFO_V1(learning_brier_final);
PG_FUNCTION_INFO_V1(learning_brier_score_bins);
PG_FUNCTION_INFO_V1(learning_calibration_curve);
PG_FUNCTION_INFO_V1(learning_check_and_adjust);
PG_FUNCTION_INFO_V1(learning_adjusted_confidence);
PG_FUNCTION_INFO_V1(learning_calibrated_probability);

static int	bin_of(double p);
static bool outcome_value(const char *status, bool score_null, double score, double *o);
static void pending_add(const char *tenant_id, const char *action_type, int bin,
						double p, double o, double sign);
static void load_bins(const char *tenant_id, const char *action_type, BinSums bins[LEARNING_NBINS]);
static double load_confidence_scale(const char *tenant_id, const char *action_type);
static void check_tenant_and_type(FunctionCallInfo fcinfo);

/* ----------------------------------------------------------------
 * Binning and outcome values
 * ----------------------------------------------------------------
 */

/* bin_of is min(floor(p * 10), 9) for p in [0, 1]. */
static int
bin_of(double p)
{
	int			bin = (int) floor(p * LEARNING_NBINS);

	if (bin < 0)
		bin = 0;
	if (bin > LEARNING_NBINS - 1)
		bin = LEARNING_NBINS - 1;
	return bin;
}

/*
 * outcome_value gives the value o a resolved outcome counts with: positive ->
 * its score (1.0 by default), negative and expired -> 0.  Pending and
 * ambiguous outcomes are not counted (returns false).
 */
static bool
outcome_value(const char *status, bool score_null, double score, double *o)
{
	if (strcmp(status, "positive") == 0)
		*o = score_null ? 1.0 : score;
	else if (strcmp(status, "negative") == 0 || strcmp(status, "expired") == 0)
		*o = 0.0;
	else
		return false;
	return true;
}

/* ----------------------------------------------------------------
 * Pending contributions and their flush
 * ----------------------------------------------------------------
 */

/* pending_add adds sign * (one outcome) to the pending sums of its bin. */
static void
pending_add(const char *tenant_id, const char *action_type, int bin,
			double p, double o, double sign)
{
	char		binbuf[8];
	const char *keys[3];
	double		values[6];

	snprintf(binbuf, sizeof(binbuf), "%d", bin);
	keys[0] = tenant_id;
	keys[1] = action_type;
	keys[2] = binbuf;
	values[0] = 1.0;
	values[1] = p;
	values[2] = p * p;
	values[3] = o;
	values[4] = o * o;
	values[5] = p * o;
	learning_delta_add(&calibration_target, keys, values, sign);
}

/* ----------------------------------------------------------------
 * Triggers on learning.outcome_records
 * ----------------------------------------------------------------
 */

/*
 * learning_outcome_calibrate: AFTER ROW trigger.  A row that became resolved
 * (UPDATE), was inserted resolved (INSERT) or a resolved row that is deleted
 * (DELETE) adds +1 or -1 outcome to its bin's pending sums; a pending row
 * adds nothing.  Inserts and deletes of pending rows are filtered by the
 * triggers' WHEN clauses too (a bulk load queues no event for them); updates
 * are picked here, in C, because PostgreSQL reads and compiles a trigger's
 * WHEN expression anew for every statement, and resolve_outcome is a
 * statement per call.
 */
Datum
learning_outcome_calibrate(PG_FUNCTION_ARGS)
{
	static const char *const tables[] = {"outcome_records", NULL};
	static const LearningColumn columns[] = {
		{"status", TEXTOID}, {"predicted_confidence", FLOAT8OID}, {"outcome_score", FLOAT8OID},
		{"tenant_id", TEXTOID}, {"action_type", TEXTOID}, {NULL, InvalidOid}
	};
	TriggerData *trigdata = learning_trigger_guard(fcinfo, "outcome_calibrate", tables, columns);
	TupleDesc	desc;
	HeapTuple	tuple;
	double		sign = 1.0;
	char	   *status;
	bool		pnull, snull;
	double		p, score, o;

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		elog(ERROR, "learning_outcome_calibrate must be an AFTER ROW trigger");

	desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		/* only a resolution counts: a resolved row's numbers are final (outcomes.c) */
		if (strcmp(learning_tuple_text(trigdata->tg_trigtuple, desc, "status"), "pending") != 0)
			return PointerGetDatum(NULL);
		tuple = trigdata->tg_newtuple;
	}
	else
	{
		tuple = trigdata->tg_trigtuple;
		if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
			sign = -1.0;
	}

	status = learning_tuple_text(tuple, desc, "status");
	p = DatumGetFloat8(learning_tuple_datum(tuple, desc, "predicted_confidence", &pnull));
	score = DatumGetFloat8(learning_tuple_datum(tuple, desc, "outcome_score", &snull));
	if (!pnull && outcome_value(status, snull, score, &o))
		pending_add(learning_tuple_text(tuple, desc, "tenant_id"),
					learning_tuple_text(tuple, desc, "action_type"),
					bin_of(p), p, o, sign);

	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * brier_score(predicted, outcome) aggregate
 *
 * State: float8[2] = {count, sum of (p - o)^2}.  Parallel safe through the
 * combine function, like avg(float8).
 * ----------------------------------------------------------------
 */

static float8 *
check_brier_state(ArrayType *arr)
{
	if (ARR_NDIM(arr) != 1 || ARR_DIMS(arr)[0] != 2 || ARR_HASNULL(arr) ||
		ARR_ELEMTYPE(arr) != FLOAT8OID)
		elog(ERROR, "learning: brier_score state must be a float8[2]");
	return (float8 *) ARR_DATA_PTR(arr);
}

/* learning_brier_accum adds one (p, o) pair; both must be finite. */
Datum
learning_brier_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	float8		p = PG_GETARG_FLOAT8(1);
	float8		o = PG_GETARG_FLOAT8(2);
	float8	   *s;
	float8		d;

	/* probabilities and outcomes: anything else has no Brier score (and may overflow) */
	if (isnan(p) || p < 0.0 || p > 1.0 || isnan(o) || o < 0.0 || o > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("brier_score needs values between 0 and 1, got predicted %s and outcome %s",
						float8out_internal(p), float8out_internal(o))));
	d = (p - o) * (p - o);

	if (AggCheckCallContext(fcinfo, NULL))
	{
		/* the state belongs to the aggregate: update it in place */
		s = check_brier_state(state);
		s[0] += 1.0;
		s[1] += d;
		PG_RETURN_ARRAYTYPE_P(state);
	}
	else
	{
		Datum		elems[2];

		s = check_brier_state(state);
		elems[0] = Float8GetDatum(s[0] + 1.0);
		elems[1] = Float8GetDatum(s[1] + d);
		PG_RETURN_ARRAYTYPE_P(construct_array(elems, 2, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
}

/* learning_brier_combine merges two partial states (parallel aggregation). */
Datum
learning_brier_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	float8	   *sa = check_brier_state(a);
	float8	   *sb = check_brier_state(b);
	Datum		elems[2];

	if (AggCheckCallContext(fcinfo, NULL))
	{
		sa[0] += sb[0];
		sa[1] += sb[1];
		PG_RETURN_ARRAYTYPE_P(a);
	}
	elems[0] = Float8GetDatum(sa[0] + sb[0]);
	elems[1] = Float8GetDatum(sa[1] + sb[1]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, 2, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* learning_brier_final is the mean of (p - o)^2, NULL when no rows. */
Datum
learning_brier_final(PG_FUNCTION_ARGS)
{
	float8	   *s = check_brier_state(PG_GETARG_ARRAYTYPE_P(0));

	if (s[0] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[1] / s[0]);
}

/* ----------------------------------------------------------------
 * Reading the bins
 * ----------------------------------------------------------------
 */

/*
 * load_bins reads the ten bins of (tenant, action type), each the sum of its
 * shard rows.  Reads only learning.calibration_bins (at most ten times the
 * shard count rows), never outcome rows.
 */
static void
load_bins(const char *tenant_id, const char *action_type, BinSums bins[LEARNING_NBINS])
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	uint64		i;
	int			ret;
	int			level;

	memset(bins, 0, sizeof(BinSums) * LEARNING_NBINS);
	values[0] = CStringGetTextDatum(tenant_id);
	values[1] = CStringGetTextDatum(action_type);

	level = learning_spi_connect();
	learning_saved_plan(&load_bins_plan,
						"SELECT bin_index, n::float8, sum_p, sum_p2, sum_o, sum_o2, sum_po "
						"  FROM learning.calibration_bins "
						" WHERE tenant_id = $1 AND action_type = $2",
						2, argtypes);
	ret = SPI_execute_plan(load_bins_plan, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: reading calibration bins failed: %s", SPI_result_code_string(ret));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			bin = DatumGetInt16(SPI_getbinval(tup, desc, 1, &isnull));
		BinSums    *b;

		if (bin < 0 || bin >= LEARNING_NBINS)
			continue;
		b = &bins[bin];
		b->n += DatumGetFloat8(SPI_getbinval(tup, desc, 2, &isnull));
		b->sum_p += DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		b->sum_p2 += DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
		b->sum_o += DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
		b->sum_o2 += DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
		b->sum_po += DatumGetFloat8(SPI_getbinval(tup, desc, 7, &isnull));
	}
	learning_spi_finish(level);
}

/* load_confidence_scale reads the stored scale of an action type (1.0 when none). */
static double
load_confidence_scale(const char *tenant_id, const char *action_type)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	double		scale = 1.0;
	int			ret;
	int			level;

	values[0] = CStringGetTextDatum(tenant_id);
	values[1] = CStringGetTextDatum(action_type);
	level = learning_spi_connect();
	learning_saved_plan(&load_scale_plan,
										"SELECT confidence_scale FROM learning.calibration_state "
										" WHERE tenant_id = $1 AND action_type = $2",
										2, argtypes);
	ret = SPI_execute_plan(load_scale_plan, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "learning: reading calibration_state failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			scale = DatumGetFloat8(d);
	}
	learning_spi_finish(level);
	return scale;
}

/* total_of adds the bins into one. */
static BinSums
total_of(const BinSums bins[LEARNING_NBINS])
{
	BinSums		t;
	int			i;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < LEARNING_NBINS; i++)
	{
		t.n += bins[i].n;
		t.sum_p += bins[i].sum_p;
		t.sum_p2 += bins[i].sum_p2;
		t.sum_o += bins[i].sum_o;
		t.sum_o2 += bins[i].sum_o2;
		t.sum_po += bins[i].sum_po;
	}
	return t;
}

/* brier_of is the exact mean of (p - o)^2 from the sums (never negative). */
static double
brier_of(const BinSums *t)
{
	double		b = (t->sum_p2 - 2.0 * t->sum_po + t->sum_o2) / t->n;

	return b < 0.0 ? 0.0 : b;
}

/* check_tenant_and_type validates the first two arguments of the bin readers. */
static void
check_tenant_and_type(FunctionCallInfo fcinfo)
{
	learning_require_arg(fcinfo, 0, "tenant_id");
	learning_require_arg(fcinfo, 1, "action_type");
	learning_check_tenant_id(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	learning_check_action_type(text_to_cstring(PG_GETARG_TEXT_PP(1)));
}

/* learning_brier_score_bins: brier_score(tenant_id, action_type), NULL when nothing counted. */
Datum
learning_brier_score_bins(PG_FUNCTION_ARGS)
{
	BinSums		bins[LEARNING_NBINS];
	BinSums		t;

	check_tenant_and_type(fcinfo);
	load_bins(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)), bins);
	t = total_of(bins);
	if (t.n <= 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(brier_of(&t));
}

/* ----------------------------------------------------------------
 * calibration_curve
 * ----------------------------------------------------------------
 */

/* Bin edges and midpoints as clean decimals (0.3, not 0.30000000000000004). */
static double
bin_lower(int i)
{
	return i / 10.0;
}

static double
bin_upper(int i)
{
	return (i + 1) / 10.0;
}

static double
bin_midpoint(int i)
{
	return (2 * i + 1) / 20.0;
}

/* wilson computes the Wilson 95 % interval of a rate r observed over n samples. */
static void
wilson(double r, double n, double *lo, double *hi)
{
	double		z2 = WILSON_Z * WILSON_Z;
	double		denom = 1.0 + z2 / n;
	double		centre = (r + z2 / (2.0 * n)) / denom;
	double		half = WILSON_Z * sqrt(Max(r * (1.0 - r), 0.0) / n + z2 / (4.0 * n * n)) / denom;

	*lo = Max(centre - half, 0.0);
	*hi = Min(centre + half, 1.0);
}

static void
append_float_list(StringInfo buf, const double *v, int count)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < count; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		learning_json_float(buf, v[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * learning_calibration_curve: calibration_curve(tenant_id, action_type,
 * min_samples) as jsonb.  Brier score and its decomposition use every counted
 * outcome; the flat lists, ECE, MCE and is_calibrated use only bins with at
 * least min_samples outcomes.
 */
Datum
learning_calibration_curve(PG_FUNCTION_ARGS)
{
	BinSums		bins[LEARNING_NBINS];
	BinSums		t;
	char	   *action_type;
	int32		min_samples;
	StringInfoData buf;
	double		midpoints[LEARNING_NBINS], rates[LEARNING_NBINS], counts[LEARNING_NBINS];
	int			nq = 0;
	double		nqual = 0, ece_sum = 0, mce = 0;
	double		obar = 0, reliability = 0, spread_reliability = 0, resolution = 0;
	bool		first = true;
	int			i;

	check_tenant_and_type(fcinfo);
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("min_samples must not be null")));
	min_samples = PG_GETARG_INT32(2);
	if (min_samples < 1)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("min_samples must be at least 1, got %d", min_samples)));
	action_type = text_to_cstring(PG_GETARG_TEXT_PP(1));
	load_bins(text_to_cstring(PG_GETARG_TEXT_PP(0)), action_type, bins);
	t = total_of(bins);

	if (t.n > 0)
	{
		obar = t.sum_o / t.n;
		for (i = 0; i < LEARNING_NBINS; i++)
		{
			double		mp, rate;

			if (bins[i].n <= 0)
				continue;
			mp = bins[i].sum_p / bins[i].n;
			rate = bins[i].sum_o / bins[i].n;
			/*
			 * Murphy's reliability of bin k is n (mean_p - r_k)^2, never
			 * negative.  With the spread of forecasts inside the bin it is
			 * sum (p - r_k)^2 - 2 sum (p - r_k)(o - r_k) = sum p^2 - 2 sum p*o
			 * + n r_k^2, for which brier = that - resolution + uncertainty
			 * holds exactly; the spread term (within-bin variance minus
			 * covariance) can make it negative, so it has its own name.
			 */
			reliability += bins[i].n * (mp - rate) * (mp - rate);
			spread_reliability += bins[i].sum_p2 - 2.0 * bins[i].sum_po + bins[i].n * rate * rate;
			resolution += bins[i].n * (rate - obar) * (rate - obar);
			if (bins[i].n >= min_samples)
			{
				double		gap = fabs(mp - rate);

				midpoints[nq] = bin_midpoint(i);
				rates[nq] = rate;
				counts[nq] = bins[i].n;
				nq++;
				nqual += bins[i].n;
				ece_sum += bins[i].n * gap;
				mce = Max(mce, gap);
			}
		}
		reliability /= t.n;
		spread_reliability /= t.n;
		resolution /= t.n;
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	learning_json_key(&buf, "action_type", &first);
	learning_json_string(&buf, action_type);
	learning_json_key(&buf, "sample_count", &first);
	appendStringInfo(&buf, "%.0f", Max(t.n, 0));
	learning_json_key(&buf, "brier_score", &first);
	learning_json_float(&buf, t.n > 0 ? brier_of(&t) : NAN);
	learning_json_key(&buf, "reliability", &first);
	learning_json_float(&buf, t.n > 0 ? reliability : NAN);
	learning_json_key(&buf, "reliability_with_spread", &first);
	learning_json_float(&buf, t.n > 0 ? spread_reliability : NAN);
	learning_json_key(&buf, "resolution", &first);
	learning_json_float(&buf, t.n > 0 ? resolution : NAN);
	learning_json_key(&buf, "uncertainty", &first);
	/* variance of the outcomes: obar (1 - obar) when they are 0 or 1 */
	learning_json_float(&buf, t.n > 0 ? Max(t.sum_o2 / t.n - obar * obar, 0.0) : NAN);
	learning_json_key(&buf, "ece", &first);
	learning_json_float(&buf, nq > 0 ? ece_sum / nqual : NAN);
	learning_json_key(&buf, "mce", &first);
	learning_json_float(&buf, nq > 0 ? mce : NAN);
	learning_json_key(&buf, "is_calibrated", &first);
	appendStringInfoString(&buf, (nq > 0 && ece_sum / nqual <= ECE_CALIBRATED) ? "true" : "false");
	learning_json_key(&buf, "min_samples", &first);
	appendStringInfo(&buf, "%d", min_samples);

	learning_json_key(&buf, "bins", &first);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < LEARNING_NBINS; i++)
	{
		bool		bfirst = true;
		double		n = bins[i].n;
		double		lo = NAN, hi = NAN;

		if (n > 0)
			wilson(bins[i].sum_o / n, n, &lo, &hi);
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '{');
		learning_json_key(&buf, "bin_index", &bfirst);
		appendStringInfo(&buf, "%d", i);
		learning_json_key(&buf, "lower", &bfirst);
		learning_json_float(&buf, bin_lower(i));
		learning_json_key(&buf, "upper", &bfirst);
		learning_json_float(&buf, bin_upper(i));
		learning_json_key(&buf, "count", &bfirst);
		appendStringInfo(&buf, "%.0f", Max(n, 0));
		learning_json_key(&buf, "mean_predicted", &bfirst);
		learning_json_float(&buf, n > 0 ? bins[i].sum_p / n : NAN);
		learning_json_key(&buf, "actual_rate", &bfirst);
		learning_json_float(&buf, n > 0 ? bins[i].sum_o / n : NAN);
		learning_json_key(&buf, "ci_low", &bfirst);
		learning_json_float(&buf, lo);
		learning_json_key(&buf, "ci_high", &bfirst);
		learning_json_float(&buf, hi);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');

	learning_json_key(&buf, "midpoints", &first);
	append_float_list(&buf, midpoints, nq);
	learning_json_key(&buf, "actual_rates", &first);
	append_float_list(&buf, rates, nq);
	learning_json_key(&buf, "counts", &first);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < nq; i++)
		appendStringInfo(&buf, i > 0 ? ",%.0f" : "%.0f", counts[i]);
	appendStringInfoString(&buf, "]}");

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ----------------------------------------------------------------
 * check_and_adjust
 * ----------------------------------------------------------------
 */

/* round_to rounds v to the given number of decimals (for the returned figures only). */
static double
round_to(double v, int decimals)
{
	double		f = pow(10.0, decimals);

	return round(v * f) / f;
}

/*
 * learning_check_and_adjust: check_and_adjust(tenant_id, action_type).
 *
 * Over bins with at least 10 outcomes, g = sum n (mean_predicted - rate) /
 * sum n.  When |g| > 0.15 the stored confidence_scale moves toward the data's
 * target sum n rate / sum n mean_predicted by at most 0.10, bounded to
 * [0.5, 1.5]; the change is stored with its history and announced.  Returns
 * NULL when nothing is adjusted: too few samples (cold start), calibrated
 * data, or a scale that already sits at its target, so that repeated checks
 * on unchanged data converge.
 */
Datum
learning_check_and_adjust(PG_FUNCTION_ARGS)
{
	char	   *tenant_id;
	char	   *action_type;
	BinSums		bins[LEARNING_NBINS];
	double		n = 0, gap_sum = 0, rate_sum = 0, mean_sum = 0;
	int			qualifying = 0;
	double		g, target, old_scale, new_scale, step;
	const char *direction;
	StringInfoData reason, result;
	bool		first = true;
	int			i;
	Oid			argtypes[8] = {TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT8OID, TEXTOID};
	Datum		values[8];
	int			ret;
	int			level;
	Datum		answer;

	check_tenant_and_type(fcinfo);
	tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	action_type = text_to_cstring(PG_GETARG_TEXT_PP(1));

	load_bins(tenant_id, action_type, bins);
	for (i = 0; i < LEARNING_NBINS; i++)
	{
		double		mp, rate;

		if (bins[i].n < LEARNING_ADJUST_MIN_SAMPLES)
			continue;
		mp = bins[i].sum_p / bins[i].n;
		rate = bins[i].sum_o / bins[i].n;
		qualifying++;
		n += bins[i].n;
		gap_sum += bins[i].n * (mp - rate);
		rate_sum += bins[i].n * rate;
		mean_sum += bins[i].n * mp;
	}
	if (qualifying == 0)
		PG_RETURN_NULL();		/* cold start */
	g = gap_sum / n;
	if (fabs(g) <= LEARNING_ADJUST_GAP)
		PG_RETURN_NULL();		/* calibrated */

	target = mean_sum > 0 ? rate_sum / mean_sum : SCALE_MAX;
	target = Min(Max(target, SCALE_MIN), SCALE_MAX);

	/* lock the stored scale so that concurrent checks apply one step each */
	values[0] = CStringGetTextDatum(tenant_id);
	values[1] = CStringGetTextDatum(action_type);
	level = learning_spi_connect();
	ret = SPI_execute_with_args(
								"INSERT INTO learning.calibration_state AS s (tenant_id, action_type) VALUES ($1, $2) "
								"ON CONFLICT (tenant_id, action_type) DO UPDATE SET checked_at = s.checked_at "
								"RETURNING confidence_scale",
								2, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "learning: locking calibration_state failed: %s", SPI_result_code_string(ret));
	{
		bool		isnull;

		old_scale = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	step = target - old_scale;
	if (step > ADJUST_MAX_STEP)
		step = ADJUST_MAX_STEP;
	if (step < -ADJUST_MAX_STEP)
		step = -ADJUST_MAX_STEP;
	new_scale = Min(Max(old_scale + step, SCALE_MIN), SCALE_MAX);

	if (fabs(new_scale - old_scale) < SCALE_EPSILON)
	{
		/* already at the target: record the check, adjust nothing */
		SPI_execute_with_args("UPDATE learning.calibration_state SET checked_at = pg_catalog.now() "
							  " WHERE tenant_id = $1 AND action_type = $2",
							  2, argtypes, values, NULL, false, 0);
		learning_spi_finish(level);
		PG_RETURN_NULL();
	}

	/*
	 * The direction reported is that of the change applied.  It is the sign
	 * of g except when earlier data moved the scale past today's target.
	 */
	direction = new_scale < old_scale ? "decrease" : "increase";

	initStringInfo(&reason);
	appendStringInfo(&reason,
					 "Average gap of %.3f across %d bins (%.0f samples) exceeds threshold of %.2f. Agent is %s.",
					 g, qualifying, n, LEARNING_ADJUST_GAP, g > 0 ? "overconfident" : "underconfident");

	values[2] = Float8GetDatum(old_scale);
	values[3] = Float8GetDatum(new_scale);
	values[4] = Float8GetDatum(g);
	values[5] = Float8GetDatum(target);
	values[6] = Int64GetDatum((int64) n);
	values[7] = CStringGetTextDatum(reason.data);
	ret = SPI_execute_with_args(
								"WITH s AS (UPDATE learning.calibration_state "
								"              SET confidence_scale = $4, checked_at = pg_catalog.now(), updated_at = pg_catalog.now() "
								"            WHERE tenant_id = $1 AND action_type = $2) "
								"INSERT INTO learning.calibration_adjustments "
								"  (tenant_id, action_type, direction, gap, target_scale, old_scale, new_scale, sample_count, reason) "
								"VALUES ($1, $2, CASE WHEN $4 < $3 THEN 'decrease' ELSE 'increase' END, $5, $6, $3, $4, $7, $8)",
								8, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "learning: storing the adjustment failed: %s", SPI_result_code_string(ret));

	initStringInfo(&result);
	appendStringInfoChar(&result, '{');
	learning_json_key(&result, "action_type", &first);
	learning_json_string(&result, action_type);
	learning_json_key(&result, "direction", &first);
	learning_json_string(&result, direction);
	learning_json_key(&result, "magnitude", &first);
	learning_json_float(&result, round_to(fabs(new_scale - old_scale), 4));
	learning_json_key(&result, "old_threshold", &first);
	learning_json_float(&result, round_to(old_scale, 4));
	learning_json_key(&result, "new_threshold", &first);
	learning_json_float(&result, round_to(new_scale, 4));
	learning_json_key(&result, "reason", &first);
	learning_json_string(&result, reason.data);
	appendStringInfoChar(&result, '}');

	/* announce it (the outbox copies it and writes it at commit) */
	learning_event_emit(tenant_id, "calibration_adjusted", result.data);

	/* result lives in SPI's memory, gone at SPI_finish: hand the caller a copy */
	answer = SPI_datumTransfer(DirectFunctionCall1(jsonb_in, CStringGetDatum(result.data)), false, -1);
	learning_spi_finish(level);
	PG_RETURN_DATUM(answer);
}

/* ----------------------------------------------------------------
 * Decision-time lookups
 * ----------------------------------------------------------------
 */

/* raw_confidence reads and checks argument 2 of the decision-time lookups. */
static double
raw_confidence(FunctionCallInfo fcinfo)
{
	double		raw;

	check_tenant_and_type(fcinfo);
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("raw must not be null")));
	raw = PG_GETARG_FLOAT8(2);
	learning_check_confidence("raw", raw);
	return raw;
}

/* learning_adjusted_confidence = clamp(raw * confidence_scale, 0, 1). */
Datum
learning_adjusted_confidence(PG_FUNCTION_ARGS)
{
	double		raw = raw_confidence(fcinfo);
	double		scale = load_confidence_scale(text_to_cstring(PG_GETARG_TEXT_PP(0)),
											  text_to_cstring(PG_GETARG_TEXT_PP(1)));
	double		v = raw * scale;

	PG_RETURN_FLOAT8(Min(Max(v, 0.0), 1.0));
}

/*
 * Recalibration from the bins.  Each bin keeps n, sum p, sum p^2, sum o and
 * sum p*o, so two estimates are exact in O(bins):
 *
 * 1. The least-squares line a + b p over every counted outcome (its normal
 *    equations need only the totals), taken as a correction of raw, a +
 *    (b - 1) p, and shrunk toward "no correction" by the share of it that
 *    the data can tell from noise: s = max(0, 1 - k sigma^2 / (N D)), where
 *    D is the mean square of the fitted correction over the outcomes, k
 *    sigma^2 / N its expected value when raw is already calibrated (k = 2
 *    parameters, sigma^2 the residual variance, at least the mean p (1 - p)).
 *    The factor is then multiplied by N / (N + 5), a prior worth five
 *    outcomes on raw, because with a handful of outcomes D itself is too
 *    noisy to judge by.  A calibrated agent keeps raw; a clearly
 *    miscalibrated one gets the fitted line.
 *
 * 2. What the line misses, bin by bin: the residual r of each bin's observed
 *    rate at its mean prediction, shrunk by tau^2 / (tau^2 + v), v the noise
 *    variance of that bin's rate (m (1 - m) / n at the line's value m) and
 *    tau^2 the spread of the true residuals estimated from all bins
 *    (empirical Bayes, method of moments, with the noise counted
 *    RESIDUAL_NOISE_FACTOR times so that chance wiggles stay out).  With
 *    little data this adds nothing; with a lot it becomes the binned
 *    isotonic estimate.
 *
 * The points (bin mean prediction, line + shrunk residual) are made
 * non-decreasing by pool-adjacent-violators (weights n) and interpolated
 * linearly; beyond the outermost bin means the estimate goes on with the
 * line's slope (0 if the slope is negative), so it stays monotone and
 * follows the data's trend instead of bending to (0, 0) or (1, 1).  The
 * answer is clamped to [0, 1].  No data: raw.  Outcomes all at one
 * confidence: the line is a shift (b = 1, k = 1).
 */
#define RESIDUAL_NOISE_FACTOR	3.0
#define LINE_PRIOR				5.0
/* The noise variance of a bin's rate uses m clamped to [0.01, 0.99]. */
#define NOISE_RATE_FLOOR		0.01

/* linear_recalibration fits the shrunk line a + b p from the totals. */
static void
linear_recalibration(const BinSums *t, double *a_out, double *b_out)
{
	double		N = t->n;
	double		den = N * t->sum_p2 - t->sum_p * t->sum_p;
	double		a, b, k, rss, sigma2, d, s;

	if (N >= 3 && den > 1e-12 * N * N)
	{
		b = (N * t->sum_po - t->sum_p * t->sum_o) / den;
		a = (t->sum_o - b * t->sum_p) / N;
		k = 2.0;
	}
	else
	{
		b = 1.0;
		a = (t->sum_o - t->sum_p) / N;
		k = 1.0;
	}
	/* residual sum of squares sum (o - a - b p)^2, expanded over the sums */
	rss = t->sum_o2 - 2.0 * a * t->sum_o - 2.0 * b * t->sum_po + a * a * N +
		2.0 * a * b * t->sum_p + b * b * t->sum_p2;
	/*
	 * The noise is at least what a calibrated agent would show, sum p (1 - p)
	 * / N, so that a few outcomes that happen to lie on a line do not pass
	 * for certainty; with no residual degree of freedom nothing can be told
	 * from noise (s = 0).
	 */
	sigma2 = Max(rss / Max(N - k, 1.0), (t->sum_p - t->sum_p2) / N);
	sigma2 = Max(sigma2, 1e-12);
	/* mean square of the correction a + (b - 1) p over the outcomes */
	d = (a * a * N + 2.0 * a * (b - 1.0) * t->sum_p + (b - 1.0) * (b - 1.0) * t->sum_p2) / N;
	s = (d > 0 && N > k) ? Max(0.0, 1.0 - k * sigma2 / (N * d)) : 0.0;
	/* and a prior worth LINE_PRIOR outcomes on raw, for the first few outcomes */
	s *= N / (N + LINE_PRIOR);
	*a_out = s * a;
	*b_out = 1.0 + s * (b - 1.0);
}

/*
 * calibrated_from_bins is the estimate described above at raw, in O(bins).
 */
static double
calibrated_from_bins(const BinSums bins[LEARNING_NBINS], double raw)
{
	BinSums		t = total_of(bins);
	double		x[LEARNING_NBINS], y[LEARNING_NBINS], w[LEARNING_NBINS], v[LEARNING_NBINS];
	double		by[LEARNING_NBINS], bw[LEARNING_NBINS];
	int			size[LEARNING_NBINS];
	double		a, b, slope, tau2, wr2 = 0, wv = 0, est;
	int			npts = 0, nblocks = 0, i, j, k;

	if (t.n <= 0)
		return raw;
	linear_recalibration(&t, &a, &b);

	/* the points: line at each bin's mean prediction, and the residual there */
	for (i = 0; i < LEARNING_NBINS; i++)
	{
		double		m, mv;

		if (bins[i].n <= 0)
			continue;
		x[npts] = bins[i].sum_p / bins[i].n;
		w[npts] = bins[i].n;
		m = a + b * x[npts];
		y[npts] = bins[i].sum_o / bins[i].n - m;	/* residual, for now */
		mv = Min(Max(m, NOISE_RATE_FLOOR), 1.0 - NOISE_RATE_FLOOR);
		v[npts] = mv * (1.0 - mv) / bins[i].n;
		wr2 += w[npts] * y[npts] * y[npts];
		wv += mv * (1.0 - mv);
		npts++;
	}
	/* the line took two degrees of freedom: with two points or fewer there is no spread left to see */
	tau2 = npts > 2 ? Max(0.0, (wr2 - RESIDUAL_NOISE_FACTOR * (npts - 2) * wv / npts) / t.n) : 0.0;
	for (i = 0; i < npts; i++)
		y[i] = a + b * x[i] + (tau2 > 0 ? tau2 / (tau2 + v[i]) * y[i] : 0.0);

	/* pool adjacent violators over blocks (value, weight, number of points) */
	for (i = 0; i < npts; i++)
	{
		by[nblocks] = y[i];
		bw[nblocks] = w[i];
		size[nblocks] = 1;
		nblocks++;
		while (nblocks > 1 && by[nblocks - 2] > by[nblocks - 1])
		{
			double		ww = bw[nblocks - 2] + bw[nblocks - 1];

			by[nblocks - 2] = (by[nblocks - 2] * bw[nblocks - 2] + by[nblocks - 1] * bw[nblocks - 1]) / ww;
			bw[nblocks - 2] = ww;
			size[nblocks - 2] += size[nblocks - 1];
			nblocks--;
		}
	}
	k = 0;
	for (i = 0; i < nblocks; i++)
		for (j = 0; j < size[i]; j++)
			y[k++] = by[i];

	slope = Max(b, 0.0);
	if (raw <= x[0])
		est = y[0] + slope * (raw - x[0]);
	else if (raw >= x[npts - 1])
		est = y[npts - 1] + slope * (raw - x[npts - 1]);
	else
	{
		est = y[npts - 1];
		for (i = 1; i < npts; i++)
		{
			if (raw <= x[i])
			{
				est = x[i] > x[i - 1] ?
					y[i - 1] + (raw - x[i - 1]) / (x[i] - x[i - 1]) * (y[i] - y[i - 1]) :
					y[i];
				break;
			}
		}
	}
	return Min(Max(est, 0.0), 1.0);
}

/*
 * learning_calibrated_probability: the estimated chance of a positive
 * outcome at raw confidence, from the action type's bins (see
 * calibrated_from_bins).
 */
Datum
learning_calibrated_probability(PG_FUNCTION_ARGS)
{
	double		raw = raw_confidence(fcinfo);
	BinSums		bins[LEARNING_NBINS];

	load_bins(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)), bins);
	PG_RETURN_FLOAT8(calibrated_from_bins(bins, raw));
}

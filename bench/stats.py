"""bench/stats.py: the driver of bench/stats.sh (see there).

Calibration.  Raw confidences p ~ Beta(3, 2); five agents whose true chance of
a positive outcome is f(p): calibrated (p), 0.6p, p - 0.2 and p + 0.2 (clipped
to [0, 1]) and an S-curve expit(0.5 logit p).  For each agent, training size N
and repetition: N training outcomes o ~ Bernoulli(f(p)) are inserted for one
action type, 20,000 fresh test points are drawn, and every method is scored by
its mean (prediction - outcome)^2 on them.  isotonic = sklearn
IsotonicRegression(out_of_bounds='clip'); Platt = sklearn LogisticRegression
(C=1e6, i.e. unpenalised) on logit p.  Figures are means over the repetitions.

Coaching.  Noise: 100 tenants, each 6 action types x 30 outcomes with success
probability 0.5.  Planted: one action type at 48/60 against four at 24/60.
"""
import argparse
import time
import warnings

import numpy as np
import psycopg2
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")

AGENTS = {
    "calibrated": lambda p: p,
    "0.6p": lambda p: 0.6 * p,
    "p-0.2": lambda p: np.clip(p - 0.2, 0, 1),
    "p+0.2": lambda p: np.clip(p + 0.2, 0, 1),
    "S-curve": lambda p: expit(0.5 * logit(p)),
}
SIZES = (100, 1000, 10000)
TEST_POINTS = 20000
METHODS = ("raw", "adjusted_confidence", "0.1.0", "calibrated_probability", "isotonic", "Platt", "oracle")


def insert_outcomes(cur, tenant, action_type, p, o):
    cur.execute(
        """INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type,
               predicted_confidence, outcome_type, status, window_expires_at)
           SELECT %s, 'c' || i, %s, p, 'email_engagement',
                  CASE WHEN o THEN 'positive' ELSE 'negative' END, now() + interval '1 day'
             FROM unnest(%s::float8[], %s::boolean[]) WITH ORDINALITY AS u(p, o, i)""",
        (tenant, action_type, list(map(float, p)), list(map(bool, o))))


def in_database(cur, fn, tenant, action_type, x):
    cur.execute(f"SELECT array_agg(learning.{fn}(%s, %s, x) ORDER BY i) "
                "FROM unnest(%s::float8[]) WITH ORDINALITY AS u(x, i)",
                (tenant, action_type, list(map(float, x))))
    return np.array(cur.fetchone()[0])


def calibrated_010(p, o, x):
    """0.1.0's calibrated_probability, re-implemented for comparison: each bin's rate shrunk toward
    its mean prediction with 10 pseudo-samples, pool-adjacent-violators, linear interpolation
    between bin means and to (0, 0) and (1, 1) at the ends."""
    b = np.minimum((p * 10).astype(int), 9)
    n = np.bincount(b, minlength=10).astype(float)
    sp = np.bincount(b, weights=p, minlength=10)
    so = np.bincount(b, weights=o.astype(float), minlength=10)
    xs = np.where(n > 0, sp / np.maximum(n, 1), (2 * np.arange(10) + 1) / 20)
    ys = (so + 10 * xs) / (n + 10)
    w = n + 10
    blocks = []
    for yi, wi in zip(ys, w):
        blocks.append([yi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            y2, w2, c2 = blocks.pop()
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + y2 * w2) / (blocks[-1][1] + w2), blocks[-1][1] + w2, blocks[-1][2] + c2]
    ys = np.concatenate([[y] * c for y, _, c in blocks])
    return np.clip(np.interp(x, np.concatenate([[0], xs, [1]]), np.concatenate([[0], ys, [1]])), 0, 1)


def per_call_us(cur, expr, calls=10000):
    """In-server microseconds per call of expr (a SQL expression in i), as bench/core.sh measures."""
    cur.execute("""DO $$
        DECLARE t0 timestamptz; ncalls int := %d;
        BEGIN
          t0 := clock_timestamp();
          FOR i IN 1..ncalls LOOP PERFORM %s; END LOOP;
          RAISE NOTICE '%%', round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / ncalls)::numeric, 2);
        END $$""" % (calls, expr))
    return cur.connection.notices[-1].split("NOTICE:")[-1].strip()


def calibration(conn, reps, rng):
    cur = conn.cursor()
    print("### 2. held-out Brier score (20,000 test points, mean over %d repetitions; lower is better)\n" % reps)
    print("p ~ Beta(3, 2).  0.1.0 = the 0.1.0 calibrated_probability (re-implemented in Python for comparison).  "
          "best = min(isotonic, Platt); the last two columns are calibrated_probability's distance to it and to "
          "the oracle.\n")
    print("| agent | N | raw | adjusted_confidence | 0.1.0 | calibrated_probability | isotonic | Platt | oracle "
          "| calibrated_probability - best | calibrated_probability - oracle |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst, worst_oracle = {}, {}
    for agent, f in AGENTS.items():
        for n in SIZES:
            acc = {m: [] for m in METHODS}
            for r in range(reps):
                action_type = "cal_%s_%d_%d" % (agent.replace(".", "").replace("-", "m").replace("+", "p").lower(), n, r)
                p = rng.beta(3, 2, n)
                o = rng.random(n) < f(p)
                pt = rng.beta(3, 2, TEST_POINTS)
                ot = (rng.random(TEST_POINTS) < f(pt)).astype(float)
                insert_outcomes(cur, "bench", action_type, p, o)
                conn.commit()
                # adjusted_confidence: let check_and_adjust converge (it moves 0.10 a check)
                for _ in range(12):
                    cur.execute("SELECT learning.check_and_adjust('bench', %s) IS NULL", (action_type,))
                    if cur.fetchone()[0]:
                        break
                conn.commit()
                preds = {"raw": pt, "oracle": f(pt)}
                preds["adjusted_confidence"] = in_database(cur, "adjusted_confidence", "bench", action_type, pt)
                preds["calibrated_probability"] = in_database(cur, "calibrated_probability", "bench", action_type, pt)
                preds["0.1.0"] = calibrated_010(p, o, pt)
                iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p, o.astype(float))
                preds["isotonic"] = iso.predict(pt)
                platt = LogisticRegression(C=1e6).fit(logit(p)[:, None], o)
                preds["Platt"] = platt.predict_proba(logit(pt)[:, None])[:, 1]
                for m in METHODS:
                    acc[m].append(np.mean((preds[m] - ot) ** 2))
            mean = {m: float(np.mean(acc[m])) for m in METHODS}
            best = min(mean["isotonic"], mean["Platt"])
            gap = mean["calibrated_probability"] - best
            worst[(agent, n)] = gap
            worst_oracle[(agent, n)] = mean["calibrated_probability"] - mean["oracle"]
            print("| %s | %d | %s | %+.4f | %+.4f |" % (
                agent, n, " | ".join("%.4f" % mean[m] for m in METHODS), gap,
                mean["calibrated_probability"] - mean["oracle"]), flush=True)
    print()
    print("Largest calibrated_probability - best: %+.4f (%s, N = %d)." % (
        max(worst.values()), *max(worst, key=worst.get)))
    print("Largest calibrated_probability - oracle on the calibrated agent: %+.4f." % max(
        worst_oracle[("calibrated", n)] for n in SIZES))
    print()
    # cost per call: best of three rounds each, interleaved (the machine is shared)
    calls = {
        "learning.calibrated_probability(tenant, type, raw)":
            "learning.calibrated_probability('bench', 'cal_calibrated_10000_0', (i % 100) / 100.0)",
        "learning.brier_score(tenant, type) (the same read of the bins, no model)":
            "learning.brier_score('bench', 'cal_calibrated_10000_0')",
        "plain SQL: the type's bin rows summed per bin":
            "(SELECT array_agg(s) FROM (SELECT bin_index, sum(b.n), sum(sum_p), sum(sum_p2), sum(sum_o), sum(sum_po) "
            "FROM learning.calibration_bins b WHERE tenant_id = 'bench' AND action_type = 'cal_calibrated_10000_0' "
            "GROUP BY bin_index) s)",
        "learning.adjusted_confidence(tenant, type, raw)":
            "learning.adjusted_confidence('bench', 'cal_calibrated_10000_0', (i % 100) / 100.0)",
    }
    fastest = {k: float("inf") for k in calls}
    for _ in range(3):
        for k, expr in calls.items():
            fastest[k] = min(fastest[k], float(per_call_us(cur, expr)))
    print("Cost per call, in the server, best of 3 rounds of 10,000 calls (action type with 10,000 outcomes, "
          "one shard row per bin):\n")
    print("| call | us per call |")
    print("|---|---|")
    for k in calls:
        print("| `%s` | %.2f |" % (k, fastest[k]))
    print()
    cur.execute("SELECT round(learning.calibrated_probability('bench', 'cal_06p_10000_0', x)::numeric, 3) "
                "FROM unnest(ARRAY[0.01, 0.5, 0.99]) x")
    ends = [str(v[0]) for v in cur.fetchall()]
    print("The ends, agent 0.6p, N = 10000: calibrated_probability at 0.01, 0.5, 0.99 = %s (truth 0.006, 0.300, 0.594)."
          % ", ".join(ends))
    print()


def mk_tenant(cur, tenant, groups, rng=None):
    """groups: list of (action_type, positives, total); rng: outcomes drawn at 50 % instead."""
    for action_type, pos, total in groups:
        if rng is not None:
            o = rng.random(total) < 0.5
        else:
            o = np.arange(total) < pos
        insert_outcomes(cur, tenant, action_type, np.full(total, 0.5), o)


def coaching(conn, rng):
    cur = conn.cursor()
    print("### 1. coaching on noise and on a planted effect\n")
    tenants = ["noise_%03d" % i for i in range(100)]
    for t in tenants:
        mk_tenant(cur, t, [("type_%d" % k, 0, 30) for k in range(6)], rng)
    conn.commit()
    print("Noise: 100 tenants, 6 action types x 30 outcomes, success probability 0.5 for all (no real pattern).\n")
    print("| rule | tenants with any pattern | patterns per tenant (mean) | tenants with any improvement area |")
    print("|---|---|---|---|")
    rules = (("0.1.0 rules (alpha => 1)", 1.0, None), ("0.1.0 rules and p_value < 0.05, no correction", 1.0, 0.05),
             ("default (alpha => 0.05): Benjamini-Hochberg q_value <= 0.05", 0.05, None))
    for label, alpha, pcut in rules:
        counts, areas = [], []
        for t in tenants:
            cur.execute("SELECT (SELECT count(*) FROM jsonb_array_elements(learning.coaching_patterns(%s, 90, %s)) p "
                        "         WHERE %s::float8 IS NULL OR (p->>'p_value')::float8 < %s), "
                        "       (SELECT count(*) FROM jsonb_array_elements(learning.improvement_areas(%s, 90, %s)) a "
                        "         WHERE %s::float8 IS NULL OR (a->>'p_value')::float8 < %s)",
                        (t, alpha, pcut, pcut, t, alpha, pcut, pcut))
            c, a = cur.fetchone()
            counts.append(c)
            areas.append(a)
        print("| %s | %d | %.2f | %d |" % (label, sum(c > 0 for c in counts), np.mean(counts), sum(a > 0 for a in areas)))
    print()
    mk_tenant(cur, "planted", [("star", 48, 60)] + [("type_%d" % k, 24, 60) for k in range(4)])
    conn.commit()
    print("Planted: 'star' at 48/60 against four action types at 24/60 (overall 0.48).\n")
    print("| alpha | patterns (action type: p_value, q_value) |")
    print("|---|---|")
    for alpha in (1.0, 0.05):
        cur.execute("SELECT p->'supporting_data'->>'action_type', (p->>'p_value')::float8, (p->>'q_value')::float8 "
                    "FROM jsonb_array_elements(learning.coaching_patterns('planted', 90, %s)) p", (alpha,))
        print("| %s | %s |" % (alpha, "; ".join("%s: %.3g, %.3g" % r for r in cur.fetchall())))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host")
    ap.add_argument("--port", type=int)
    ap.add_argument("--dbname")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    conn = psycopg2.connect(host=a.host, port=a.port, dbname=a.dbname, user="postgres")
    rng = np.random.default_rng(a.seed)
    print("## stats (`su postgres -c 'bash bench/stats.sh %d %d'`, %s)\n" % (
        a.reps, a.seed, time.strftime("%Y-%m-%d", time.gmtime())))
    coaching(conn, rng)
    calibration(conn, a.reps, rng)


if __name__ == "__main__":
    main()

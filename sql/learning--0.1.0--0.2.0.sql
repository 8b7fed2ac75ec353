-- learning 0.1.0 -> 0.2.0: run by ALTER EXTENSION learning UPDATE after the
-- 0.2.0 library is installed and the server restarted.  Each section below
-- owns one concern of the release, in the order the changes depend on each
-- other; every object it creates or replaces carries a COMMENT ON, as in the
-- install script (sql/parts/), which holds the same definitions.

\echo Use "ALTER EXTENSION learning UPDATE TO '0.2.0'" to load this file. \quit

-- ======================================================================
-- Security: pinned search_path, internal functions closed to PUBLIC,
-- trigger functions bound to the extension's tables, webhooks written only
-- through their functions, private networks refused.
-- ======================================================================



-- ======================================================================
-- Coaching and calibration: false-discovery control and exact tests.
-- ======================================================================

-- coaching_patterns and improvement_areas take alpha, the false discovery
-- rate (Benjamini-Hochberg); their p-values come from exact tests.  The
-- endpoint learning_api.coaching_patterns depends on the old signature, so
-- it goes first and comes back with alpha, its grants and its owner.
DROP FUNCTION learning_api.coaching_patterns(integer);
DROP FUNCTION learning.coaching_patterns(text, integer);
DROP FUNCTION learning.improvement_areas(text, integer);

CREATE FUNCTION learning.coaching_patterns(tenant_id text, days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_coaching_patterns';
COMMENT ON FUNCTION learning.coaching_patterns(text, integer, float8) IS
    'Coaching patterns of the last days (action_effectiveness, stage_insight, escalation_pattern), each with the p-value of Fisher''s exact test against the rest and its Benjamini-Hochberg q-value; only q_value <= alpha (alpha 1: every candidate), by confidence descending';

CREATE FUNCTION learning.improvement_areas(tenant_id text, days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_improvement_areas';
COMMENT ON FUNCTION learning.improvement_areas(text, integer, float8) IS
    'Action types with a success rate below 0.4 (exact binomial test) and feedback target types averaging below 0 (exact sign test), at least 5 samples each, over the last days; only Benjamini-Hochberg q_value <= alpha (alpha 1: every candidate)';

CREATE FUNCTION learning_api.coaching_patterns(days integer DEFAULT 90, alpha float8 DEFAULT 0.05)
    RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.coaching_patterns((learning.api_context(ARRAY['manager', 'executive'])).tenant_id, days, alpha);
COMMENT ON FUNCTION learning_api.coaching_patterns(integer, float8) IS
$$Coaching patterns (manager, executive)
GET /rpc/coaching_patterns?days=90[&alpha=0.05] -> [{pattern_type, description, recommendation, confidence, sample_size, p_value, q_value, supporting_data}] by confidence, highest first; only patterns with Benjamini-Hochberg q_value <= alpha (alpha=1: every candidate). 403 for other roles; days 1-365 and alpha in (0, 1], else 400.$$;
REVOKE ALL ON FUNCTION learning_api.coaching_patterns(integer, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning_api.coaching_patterns(integer, float8) TO learning_manager, learning_executive;
ALTER FUNCTION learning_api.coaching_patterns(integer, float8) OWNER TO learning_definer;

-- The calibration functions keep their signatures: the new library brings
-- the new calibrated_probability and calibration_curve (Murphy's reliability
-- and reliability_with_spread); their comments say what changed.
COMMENT ON FUNCTION learning.calibrated_probability(text, text, float8) IS
    'Estimated chance of a positive outcome at raw confidence, from the bins in O(bins): the least-squares line shrunk toward raw by how far it stands out of noise, plus the bins'' residuals shrunk by empirical Bayes, made monotone by pool-adjacent-violators; beyond the outermost bin means it follows the line''s slope; raw when there is no data';
COMMENT ON FUNCTION learning.calibration_curve(text, text, integer) IS
    'Reliability curve of an action type from its ten bins: Brier score and decomposition (Murphy''s reliability, never negative, and reliability_with_spread, for which brier = it - resolution + uncertainty), ECE, MCE, Wilson 95 % intervals, is_calibrated';
COMMENT ON FUNCTION learning_api.calibration_curve(text, integer) IS
$$Calibration curve of an action type (all roles)
GET /rpc/calibration_curve?action_type=send_email[&min_samples=10] -> {action_type, sample_count, brier_score, reliability, reliability_with_spread, resolution, uncertainty, ece, mce, is_calibrated, bins[10], midpoints, actual_rates, counts}.$$;



-- ======================================================================
-- Pictures: reliability diagram and the manager's page.
-- ======================================================================



-- ======================================================================
-- Workers: a bounded pool serving every database; a fair relay.
-- ======================================================================



-- ======================================================================
-- Events, locks and jobs at scale; the write path.
-- ======================================================================



-- ======================================================================
-- Housekeeping.
-- ======================================================================


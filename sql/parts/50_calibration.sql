------------------------------------------------------------------------------
-- Section: calibration (C, src/calibration.c)
------------------------------------------------------------------------------

CREATE FUNCTION learning.outcome_calibrate() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'learning_outcome_calibrate';
COMMENT ON FUNCTION learning.outcome_calibrate() IS
    'AFTER ROW trigger: adds a resolved outcome (or removes a deleted one) to its pending calibration bin sums';

CREATE FUNCTION learning.flush_pending_deltas() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_flush_pending_deltas';
COMMENT ON FUNCTION learning.flush_pending_deltas() IS
    'Writes the calibration and rollup counters this transaction has gathered so far (they are otherwise written at commit)';

-- Every path that resolves an outcome passes here: resolve_outcome, the jobs,
-- a plain UPDATE, an INSERT of an already resolved row, a DELETE.  The sums
-- gathered by the row triggers are written at commit (src/deltas.c).  Inserts
-- and deletes of pending rows are filtered by WHEN clauses, so that a bulk
-- load of pending outcomes queues no trigger event for them; the update
-- trigger's function picks the resolutions itself, because a WHEN clause is
-- read and compiled anew by every statement and resolve_outcome is a
-- statement per call.
CREATE TRIGGER outcome_records_calibrate_insert
    AFTER INSERT ON learning.outcome_records
    FOR EACH ROW WHEN (NEW.status <> 'pending') EXECUTE FUNCTION learning.outcome_calibrate();
CREATE TRIGGER outcome_records_calibrate_update
    AFTER UPDATE OF status ON learning.outcome_records
    FOR EACH ROW EXECUTE FUNCTION learning.outcome_calibrate();
CREATE TRIGGER outcome_records_calibrate_delete
    AFTER DELETE ON learning.outcome_records
    FOR EACH ROW WHEN (OLD.status <> 'pending') EXECUTE FUNCTION learning.outcome_calibrate();

-- TRUNCATE of the outcomes empties the bins too, so they never disagree.
CREATE FUNCTION learning.outcome_records_truncated() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- fires only on the extension's own tables (EXECUTE is not PUBLIC either)
    IF TG_RELID <> 'learning.outcome_records'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'trigger function "learning.outcome_records_truncated" may fire only on the learning extension''s own tables'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It fired on table "%s.%s".', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    PERFORM learning.flush_pending_deltas();
    TRUNCATE learning.calibration_bins;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION learning.outcome_records_truncated() IS
    'AFTER TRUNCATE trigger: empties learning.calibration_bins with the outcomes';
CREATE TRIGGER outcome_records_truncate
    AFTER TRUNCATE ON learning.outcome_records
    FOR EACH STATEMENT EXECUTE FUNCTION learning.outcome_records_truncated();

-- brier_score(predicted, outcome): mean of (p - o)^2, NULL on no rows.
CREATE FUNCTION learning.brier_accum(float8[], float8, float8) RETURNS float8[]
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_brier_accum';
COMMENT ON FUNCTION learning.brier_accum(float8[], float8, float8) IS 'Transition function of learning.brier_score(float8, float8)';
CREATE FUNCTION learning.brier_combine(float8[], float8[]) RETURNS float8[]
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_brier_combine';
COMMENT ON FUNCTION learning.brier_combine(float8[], float8[]) IS 'Combine function of learning.brier_score(float8, float8)';
CREATE FUNCTION learning.brier_final(float8[]) RETURNS float8
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_brier_final';
COMMENT ON FUNCTION learning.brier_final(float8[]) IS 'Final function of learning.brier_score(float8, float8)';

CREATE AGGREGATE learning.brier_score(predicted float8, outcome float8) (
    SFUNC = learning.brier_accum,
    STYPE = float8[],
    INITCOND = '{0,0}',
    COMBINEFUNC = learning.brier_combine,
    FINALFUNC = learning.brier_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE learning.brier_score(float8, float8) IS
    'Brier score: mean of (predicted - outcome)^2 over rows where both are not NULL; NULL on no rows';

CREATE FUNCTION learning.brier_score(tenant_id text, action_type text) RETURNS float8
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_brier_score_bins';
COMMENT ON FUNCTION learning.brier_score(text, text) IS
    'Exact Brier score of every counted outcome of an action type, read from the bins only; NULL when none';

CREATE FUNCTION learning.calibration_curve(tenant_id text, action_type text, min_samples integer DEFAULT 10)
    RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_calibration_curve';
COMMENT ON FUNCTION learning.calibration_curve(text, text, integer) IS
    'Reliability curve of an action type from its ten bins: Brier score and decomposition (Murphy''s reliability, never negative, and reliability_with_spread, for which brier = it - resolution + uncertainty), ECE, MCE, Wilson 95 % intervals, is_calibrated';

CREATE FUNCTION learning.check_and_adjust(tenant_id text, action_type text)
    RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_check_and_adjust';
COMMENT ON FUNCTION learning.check_and_adjust(text, text) IS
    'Moves the stored confidence_scale of a miscalibrated action type toward its target by at most 0.10 within [0.5, 1.5], records and announces it; NULL when nothing to adjust';

CREATE FUNCTION learning.adjusted_confidence(tenant_id text, action_type text, raw float8)
    RETURNS float8 LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_adjusted_confidence';
COMMENT ON FUNCTION learning.adjusted_confidence(text, text, float8) IS
    'clamp(raw * confidence_scale, 0, 1) for the action type: the decision-time correction';

CREATE FUNCTION learning.calibrated_probability(tenant_id text, action_type text, raw float8)
    RETURNS float8 LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'learning_calibrated_probability';
COMMENT ON FUNCTION learning.calibrated_probability(text, text, float8) IS
    'Estimated chance of a positive outcome at raw confidence, from the bins in O(bins): the least-squares line shrunk toward raw by how far it stands out of noise, plus the bins'' residuals shrunk by empirical Bayes, made monotone by pool-adjacent-violators; beyond the outermost bin means it follows the line''s slope; raw when there is no data';

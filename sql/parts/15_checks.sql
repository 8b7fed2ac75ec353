------------------------------------------------------------------------------
-- Section: input checks (C, src/validate.c)
--
-- One piece of code per rule; every SQL function below calls these before it
-- writes anything.  Each raises a precise SQLSTATE naming the field and value.
------------------------------------------------------------------------------

CREATE FUNCTION learning.check_tenant_id(tenant_id text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_tenant_id_sql';
COMMENT ON FUNCTION learning.check_tenant_id(text) IS
    'Returns tenant_id, or raises 22023 unless it is 1-48 characters of [A-Za-z0-9_.-] (22004 when NULL)';

CREATE FUNCTION learning.check_action_type(action_type text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_action_type_sql';
COMMENT ON FUNCTION learning.check_action_type(text) IS
    'Returns action_type, or raises 22023 unless it is 1-50 characters of [a-z0-9_] (22004 when NULL)';

CREATE FUNCTION learning.check_confidence(field text, p float8) RETURNS float8
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_confidence_sql';
COMMENT ON FUNCTION learning.check_confidence(text, float8) IS
    'Returns p, or raises 22003 unless it is a finite number in [0, 1] (22004 when NULL)';

CREATE FUNCTION learning.check_text(field text, value text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_text_sql';
COMMENT ON FUNCTION learning.check_text(text, text) IS
    'Returns value, or raises 22004 when NULL, 22023 when empty, 22001 when over 200 characters (ids given as text)';

-- check_required raises 22004 naming the field when a required argument is NULL.
CREATE FUNCTION learning.check_required(field text, is_null boolean) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF is_null THEN
        RAISE EXCEPTION '% must not be null', field USING ERRCODE = 'null_value_not_allowed';
    END IF;
END $$;
COMMENT ON FUNCTION learning.check_required(text, boolean) IS
    'Raises 22004 "<field> must not be null" when is_null';

-- check_finite_time raises 22008 unless value is a finite timestamp in the
-- years 1 to 9999 (C: the tables' checks call it for every row).
CREATE FUNCTION learning.check_finite_time(field text, value timestamptz) RETURNS timestamptz
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_finite_time_sql';
COMMENT ON FUNCTION learning.check_finite_time(text, timestamptz) IS
    'Returns value, or raises 22004 when NULL and 22008 when infinite or outside the years 1 to 9999';

CREATE FUNCTION learning.check_range(field text, value float8, lo float8, hi float8) RETURNS float8
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_range_sql';
COMMENT ON FUNCTION learning.check_range(text, float8, float8, float8) IS
    'Returns value, or raises 22004 when NULL and 22003 unless it is a finite number in [lo, hi]';

CREATE FUNCTION learning.check_window(field text, value interval) RETURNS interval
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_window_sql';
COMMENT ON FUNCTION learning.check_window(text, interval) IS
    'Returns value, or raises 22004 when NULL and 22003 unless it is positive on every date (no negative part) and at most 3660 days';

-- check_json_object raises 22023 unless value is a JSON object, 22001 when
-- it is over 65536 bytes (C: the tables' checks call it for every row).
CREATE FUNCTION learning.check_json_object(field text, value jsonb) RETURNS jsonb
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_json_object_sql';
COMMENT ON FUNCTION learning.check_json_object(text, jsonb) IS
    'Returns value, or raises 22023 unless it is a JSON object, 22001 when over 65536 bytes';

CREATE FUNCTION learning.is_time_zone_name(time_zone text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_is_time_zone_name';
COMMENT ON FUNCTION learning.is_time_zone_name(text) IS
    'True for UTC and for region names PostgreSQL knows (America/New_York): never a name that could be read as an abbreviation';

------------------------------------------------------------------------------
-- The same rules on the tables: a row written without the functions (by a
-- member of learning_app, who may write these tables) still meets them, so
-- the jobs and the counters never meet a value the functions would refuse.
------------------------------------------------------------------------------

ALTER TABLE learning.tenant_settings
    ADD CONSTRAINT tenant_settings_time_zone_check CHECK (learning.is_time_zone_name(time_zone));
-- One call checks a whole outcome row: PostgreSQL reads a table's check
-- expressions anew for every statement that writes it, and the write path is
-- one statement per call, so one small expression costs far less than a dozen.
CREATE FUNCTION learning.check_outcome_row(tenant_id text, conversation_state_id text, rep_id text,
                                           action_type text, action_id text, predicted_confidence float8,
                                           status text, outcome_score float8, metadata jsonb, cost numeric,
                                           created_at timestamptz) RETURNS boolean
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_outcome_row_sql';
COMMENT ON FUNCTION learning.check_outcome_row(text, text, text, text, text, float8, text, float8, jsonb, numeric, timestamptz) IS
    'True, or raises the error of the first rule an outcome row breaks (the checks record_outcome and resolve_outcome make): the check of learning.outcome_records';
ALTER TABLE learning.outcome_records
    ADD CONSTRAINT outcome_records_row_check
    CHECK (learning.check_outcome_row(tenant_id, conversation_state_id, rep_id, action_type, action_id,
                                      predicted_confidence, status, outcome_score, metadata, cost, created_at));
ALTER TABLE learning.signals
    ADD CONSTRAINT signals_occurred_at_range CHECK (learning.check_finite_time('occurred_at', occurred_at) IS NOT NULL),
    ADD CONSTRAINT signals_detail_size CHECK (learning.check_json_object('detail', detail) IS NOT NULL);
ALTER TABLE learning.feedback_entries
    ADD CONSTRAINT feedback_entries_created_at_range CHECK (learning.check_finite_time('created_at', created_at) IS NOT NULL),
    ADD CONSTRAINT feedback_entries_metadata_size CHECK (learning.check_json_object('metadata', metadata) IS NOT NULL);

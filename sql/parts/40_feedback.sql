------------------------------------------------------------------------------
-- Section: feedback
------------------------------------------------------------------------------

CREATE FUNCTION learning.submit_feedback(
    tenant_id text,
    conversation_state_id text,
    target_type text,
    target_id text,
    source text,
    rating integer,
    reviewer_id text,
    reviewer_role text DEFAULT 'rep',
    comment text DEFAULT NULL,
    outcome_record_id uuid DEFAULT NULL,
    metadata jsonb DEFAULT '{}',
    feedback_id uuid DEFAULT NULL)
    RETURNS uuid LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id uuid;
    existing learning.feedback_entries;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_text('conversation_state_id', conversation_state_id);
    PERFORM learning.check_required('target_type', target_type IS NULL);
    -- validation order and messages as in the first release
    IF target_type NOT IN ('message', 'decision', 'conversation') THEN
        RAISE EXCEPTION 'Invalid target_type ''%''. Must be one of: conversation, decision, message', target_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM learning.check_required('source', source IS NULL);
    IF source NOT IN ('inline', 'dashboard') THEN
        RAISE EXCEPTION 'Invalid source ''%''. Must be one of: dashboard, inline', source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM learning.check_required('rating', rating IS NULL);
    IF source = 'inline' AND rating NOT BETWEEN -1 AND 1 THEN
        RAISE EXCEPTION 'Inline rating must be between -1 and 1, got %', rating
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    IF source = 'dashboard' AND rating NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'Dashboard rating must be between 1 and 5, got %', rating
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    PERFORM learning.check_text('target_id', target_id);
    PERFORM learning.check_text('reviewer_id', reviewer_id);
    PERFORM learning.check_required('reviewer_role', reviewer_role IS NULL);
    IF reviewer_role NOT IN ('rep', 'manager', 'executive', 'service') THEN
        RAISE EXCEPTION 'Invalid reviewer_role ''%''. Must be one of: executive, manager, rep, service', reviewer_role
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.char_length(comment) > 1000 THEN
        RAISE EXCEPTION 'comment must be at most 1000 characters, got %', pg_catalog.char_length(comment)
            USING ERRCODE = 'string_data_right_truncation';
    END IF;
    PERFORM learning.check_json_object('metadata', metadata);
    IF outcome_record_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM learning.outcome_records o
         WHERE o.tenant_id = submit_feedback.tenant_id AND o.id = submit_feedback.outcome_record_id) THEN
        RAISE EXCEPTION 'outcome_record_id % is not an outcome of tenant %', outcome_record_id, tenant_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Link feedback only to an outcome recorded for the same tenant.';
    END IF;

    INSERT INTO learning.feedback_entries AS f
        (tenant_id, id, conversation_state_id, outcome_record_id, target_type, target_id, source,
         rating, comment, reviewer_id, reviewer_role, metadata)
    VALUES
        (submit_feedback.tenant_id, coalesce(submit_feedback.feedback_id, gen_random_uuid()),
         submit_feedback.conversation_state_id, submit_feedback.outcome_record_id,
         submit_feedback.target_type, submit_feedback.target_id, submit_feedback.source,
         submit_feedback.rating, submit_feedback.comment, submit_feedback.reviewer_id,
         submit_feedback.reviewer_role, submit_feedback.metadata)
    ON CONFLICT ON CONSTRAINT feedback_entries_pkey DO NOTHING
    RETURNING f.id INTO new_id;
    IF new_id IS NOT NULL THEN
        RETURN new_id;
    END IF;

    -- a retry with a feedback_id that exists: the same content returns it, other content is a conflict
    SELECT f.* INTO existing FROM learning.feedback_entries f
     WHERE f.tenant_id = submit_feedback.tenant_id AND f.id = submit_feedback.feedback_id;
    IF (existing.conversation_state_id, existing.outcome_record_id, existing.target_type, existing.target_id,
        existing.source, existing.rating, existing.comment, existing.reviewer_id, existing.reviewer_role,
        existing.metadata)
       IS NOT DISTINCT FROM
       (conversation_state_id, outcome_record_id, target_type, target_id, source, rating, comment,
        reviewer_id, reviewer_role, metadata) THEN
        RETURN existing.id;
    END IF;
    RAISE EXCEPTION 'feedback % already exists with different content', feedback_id
        USING ERRCODE = 'unique_violation',
              HINT = 'Retry with the same content, or submit new feedback without a feedback_id.';
END $$;
COMMENT ON FUNCTION learning.submit_feedback(text, text, text, text, text, integer, text, text, text, uuid, jsonb, uuid) IS
    'Records human feedback; a retry with the same feedback_id and content returns that id, with other content it is 23505';

CREATE FUNCTION learning.feedback_for_conversation(tenant_id text, conversation_state_id text)
    RETURNS SETOF learning.feedback_entries LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('conversation_state_id', conversation_state_id IS NULL);
    RETURN QUERY
    SELECT f.* FROM learning.feedback_entries f
     WHERE f.tenant_id = feedback_for_conversation.tenant_id
       AND f.conversation_state_id = feedback_for_conversation.conversation_state_id
     ORDER BY f.created_at, f.id;
END $$;
COMMENT ON FUNCTION learning.feedback_for_conversation(text, text) IS
    'Every feedback entry of a conversation, oldest first';

-- check_days raises 22003 unless days is 1..365 (the rule of src/validate.c,
-- which the dashboards in C apply too).
CREATE FUNCTION learning.check_days(days integer) RETURNS integer
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'learning_check_days_sql';
COMMENT ON FUNCTION learning.check_days(integer) IS 'Returns days, or raises 22003 unless it is between 1 and 365';

-- The tenant's time zone (UTC unless set).
CREATE FUNCTION learning.tenant_time_zone(tenant_id text) RETURNS text
    LANGUAGE sql STABLE
RETURN coalesce((SELECT s.time_zone FROM learning.tenant_settings s WHERE s.tenant_id = $1), 'UTC');
COMMENT ON FUNCTION learning.tenant_time_zone(text) IS 'The time zone of a tenant''s calendar days (UTC unless set)';

CREATE FUNCTION learning.set_tenant_time_zone(tenant_id text, time_zone text) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    canonical text;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('time_zone', time_zone IS NULL);
    -- names are matched without regard to case, as PostgreSQL does, and stored as pg_timezone_names spells them
    SELECT z.name INTO canonical FROM pg_catalog.pg_timezone_names z
     WHERE pg_catalog.lower(z.name) = pg_catalog.lower(set_tenant_time_zone.time_zone)
     ORDER BY z.name = set_tenant_time_zone.time_zone DESC LIMIT 1;
    IF canonical IS NULL THEN
        RAISE EXCEPTION 'unknown time_zone "%"', time_zone
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, such as Europe/Berlin.';
    END IF;
    IF NOT learning.is_time_zone_name(canonical) THEN
        RAISE EXCEPTION 'time_zone "%" has no region', time_zone
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A name without a region can be read as a time zone abbreviation, whose meaning depends on the session.',
                  HINT = 'Use UTC or a region name, such as America/New_York or Etc/GMT+5.';
    END IF;
    time_zone := canonical;
    INSERT INTO learning.tenant_settings AS s (tenant_id, time_zone)
    VALUES (set_tenant_time_zone.tenant_id, set_tenant_time_zone.time_zone)
    ON CONFLICT ON CONSTRAINT tenant_settings_pkey
    DO UPDATE SET time_zone = excluded.time_zone, updated_at = pg_catalog.now();
    RETURN time_zone;
END $$;
COMMENT ON FUNCTION learning.set_tenant_time_zone(text, text) IS
    'Sets the time zone of a tenant''s calendar days (a name from pg_timezone_names); 22023 for an unknown zone';

CREATE FUNCTION learning.set_minutes_saved(tenant_id text, action_type text, minutes float8) RETURNS float8
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_action_type(action_type);
    PERFORM learning.check_required('minutes', minutes IS NULL);
    -- a week of work per action is the most one action can save
    PERFORM learning.check_range('minutes', minutes, 0, 10080);
    INSERT INTO learning.action_minutes_saved AS m (tenant_id, action_type, minutes)
    VALUES (set_minutes_saved.tenant_id, set_minutes_saved.action_type, set_minutes_saved.minutes)
    ON CONFLICT ON CONSTRAINT action_minutes_saved_pkey
    DO UPDATE SET minutes = excluded.minutes, updated_at = pg_catalog.now();
    RETURN minutes;
END $$;
COMMENT ON FUNCTION learning.set_minutes_saved(text, text, float8) IS
    'Sets the minutes of human work one action of a type saves (executive ROI; default 5)';

CREATE FUNCTION learning.feedback_summary(tenant_id text, days integer DEFAULT 30) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result jsonb;
    tz text;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_days(days);
    tz := learning.tenant_time_zone(tenant_id);
    WITH f AS (
        SELECT fe.*,
               CASE fe.source WHEN 'inline' THEN (fe.rating + 1) / 2.0 ELSE (fe.rating - 1) / 4.0 END::float8 AS normalized
          FROM learning.feedback_entries fe
         WHERE fe.tenant_id = feedback_summary.tenant_id
           AND fe.created_at >= pg_catalog.now() - pg_catalog.make_interval(days => feedback_summary.days)
    )
    SELECT pg_catalog.jsonb_build_object(
        'period_days', days,
        'total_feedback_count', (SELECT count(*) FROM f),
        'average_rating', pg_catalog.jsonb_build_object(
            'inline', (SELECT round(avg(rating), 4)::float8 FROM f WHERE source = 'inline'),
            'dashboard', (SELECT round(avg(rating), 4)::float8 FROM f WHERE source = 'dashboard')),
        'normalized_score', (SELECT round(avg(normalized)::numeric, 4)::float8 FROM f),
        'rating_distribution', coalesce((SELECT pg_catalog.jsonb_object_agg(source || ':' || rating, n)
                                           FROM (SELECT source, rating, count(*) AS n FROM f GROUP BY 1, 2) d), '{}'),
        'by_target_type', coalesce((SELECT pg_catalog.jsonb_object_agg(target_type, pg_catalog.jsonb_build_object(
                                              'count', n, 'normalized_score', round(s::numeric, 4)::float8))
                                      FROM (SELECT target_type, count(*) AS n, avg(normalized) AS s FROM f GROUP BY 1) d), '{}'),
        'by_source', coalesce((SELECT pg_catalog.jsonb_object_agg(source, pg_catalog.jsonb_build_object(
                                         'count', n, 'average_rating', round(a, 4)::float8))
                                 FROM (SELECT source, count(*) AS n, avg(rating) AS a FROM f GROUP BY 1) d), '{}'),
        'by_reviewer_role', coalesce((SELECT pg_catalog.jsonb_object_agg(reviewer_role, pg_catalog.jsonb_build_object(
                                                'count', n, 'normalized_score', round(s::numeric, 4)::float8))
                                        FROM (SELECT reviewer_role, count(*) AS n, avg(normalized) AS s FROM f GROUP BY 1) d), '{}'),
        'feedback_rate_trend', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('date', day, 'count', n) ORDER BY day)
                                           FROM (SELECT pg_catalog.to_char(created_at AT TIME ZONE tz, 'YYYY-MM-DD') AS day, count(*) AS n
                                                   FROM f GROUP BY 1) d), '[]'))
      INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION learning.feedback_summary(text, integer) IS
    'Feedback of the last days: count, average rating per source, normalised score in [0,1] (inline (r+1)/2, dashboard (r-1)/4), distribution, breakdowns and daily counts (tenant time zone)';

CREATE FUNCTION learning.feedback_rate(tenant_id text, reviewer_id text) RETURNS float8
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('reviewer_id', reviewer_id IS NULL);
    RETURN (SELECT count(*) FROM learning.feedback_entries f
             WHERE f.tenant_id = feedback_rate.tenant_id AND f.reviewer_id = feedback_rate.reviewer_id
               AND f.created_at >= pg_catalog.now() - interval '7 days')::float8 / 7.0;
END $$;
COMMENT ON FUNCTION learning.feedback_rate(text, text) IS
    'Feedback entries per day a reviewer submitted over the last 7 days';

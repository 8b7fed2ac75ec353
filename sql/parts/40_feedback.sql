------------------------------------------------------------------------------
-- Section: feedback
------------------------------------------------------------------------------

-- submit_feedback is C (src/write_feedback.c): checks in C with the messages
-- of the first release, one saved statement as the caller.
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
    RETURNS uuid LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_submit_feedback';
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

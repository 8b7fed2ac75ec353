-- bench/dashboards_gen.sql: the data generator of bench/dashboards.sh.
--
-- bench_load(tenant, first, count) inserts outcomes first .. first+count-1 of
-- one tenant through the normal write path (the guard, calibration and rollup
-- triggers all fire): 10 reps, 8 action types, created_at spread uniformly
-- over the last 365 days, about 5 outcomes per conversation, 70 % resolved
-- (positive 40 %, negative 20 %, expired 7 %, ambiguous 3 %), metadata with
-- an escalation trigger on escalations, a cost on half of them.  Deterministic
-- in the outcome number (no random()), so 1M + 9M more = the same 10M.
CREATE OR REPLACE FUNCTION bench_load(t text, first bigint, n bigint) RETURNS bigint
    LANGUAGE sql AS $$
    WITH g AS (SELECT i, hashint8(i) h1, hashint8(i + 7919) h2 FROM generate_series(first, first + n - 1) i),
    ins AS (
    INSERT INTO learning.outcome_records AS o
        (tenant_id, conversation_state_id, rep_id, action_type, predicted_confidence, outcome_type, status,
         window_expires_at, metadata, cost, created_at)
    SELECT t, 'conv-' || (i / 5), 'rep' || (abs(h1) % 10),
           (ARRAY['send_email', 'send_chat', 'process_reply', 'qualify', 'recommend_action', 'escalate',
                  'follow_up', 'book_meeting'])[1 + abs(h2) % 8],
           (abs(h1) % 1000) / 1000.0,
           CASE abs(h2) % 8 WHEN 3 THEN 'deal_progression' WHEN 5 THEN 'escalation_result'
                            WHEN 7 THEN 'meeting_outcome' ELSE 'email_engagement' END,
           CASE WHEN abs(h1 / 1000) % 100 < 40 THEN 'positive' WHEN abs(h1 / 1000) % 100 < 60 THEN 'negative'
                WHEN abs(h1 / 1000) % 100 < 67 THEN 'expired' WHEN abs(h1 / 1000) % 100 < 70 THEN 'ambiguous'
                ELSE 'pending' END,
           now() + interval '30 days',
           CASE WHEN abs(h2) % 8 = 5 THEN jsonb_build_object('escalation_trigger', (ARRAY['pricing', 'legal', 'angry'])[1 + abs(h1) % 3])
                ELSE '{}'::jsonb END,
           CASE WHEN abs(h2 / 8) % 2 = 0 THEN (abs(h1) % 500) / 100.0 END,
           now() - ((abs(h2 / 16) % 31536000) * interval '1 second')
      FROM g
    RETURNING 1)
    SELECT count(*) FROM ins
$$;

-- bench_feedback(tenant, count): feedback entries on the bench conversations over the last year
CREATE OR REPLACE FUNCTION bench_feedback(t text, n bigint) RETURNS bigint
    LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO learning.feedback_entries (tenant_id, conversation_state_id, target_type, target_id, source,
                                               rating, reviewer_id, reviewer_role, created_at)
        SELECT t, 'conv-' || (abs(hashint8(i)) % 200000), (ARRAY['message', 'decision', 'conversation'])[1 + i % 3], 'x',
               'dashboard', 1 + abs(hashint8(i)) % 5, 'rep' || (i % 10), 'manager',
               now() - ((abs(hashint8(i + 1)) % 31536000) * interval '1 second')
          FROM generate_series(1, n) i
        RETURNING 1)
    SELECT count(*) FROM ins
$$;

-- bench_recompute(tenant, days): the manager dashboard's numbers recomputed from
-- the outcome and feedback rows in plain SQL (the baseline the rollups beat).
CREATE OR REPLACE FUNCTION bench_recompute(t text, days int) RETURNS jsonb
    LANGUAGE sql STABLE AS $$
    WITH w AS (SELECT (now() AT TIME ZONE 'UTC')::date - days + 1 AS lo),
         o AS (SELECT o.*, (o.created_at AT TIME ZONE 'UTC')::date AS day FROM learning.outcome_records o, w
                WHERE o.tenant_id = t AND o.created_at >= (w.lo::timestamp AT TIME ZONE 'UTC')),
         f AS (SELECT f.*, (f.created_at AT TIME ZONE 'UTC')::date AS day FROM learning.feedback_entries f, w
                WHERE f.tenant_id = t AND f.created_at >= (w.lo::timestamp AT TIME ZONE 'UTC')),
         cd AS (SELECT DISTINCT conversation_state_id, day FROM o)
    SELECT jsonb_build_object(
        'total', (SELECT count(*) FROM o),
        'positive', (SELECT count(*) FROM o WHERE status = 'positive'),
        'negative', (SELECT count(*) FROM o WHERE status = 'negative'),
        'daily', (SELECT jsonb_agg(x ORDER BY day) FROM (SELECT day, count(*), count(*) FILTER (WHERE status = 'positive')
                                                          FROM o GROUP BY day) x),
        'by_action', (SELECT jsonb_agg(x) FROM (SELECT action_type, count(*) FILTER (WHERE status <> 'pending'),
                                                       count(*) FILTER (WHERE status = 'positive') FROM o GROUP BY 1) x),
        'by_rep', (SELECT jsonb_agg(x) FROM (SELECT rep_id, count(*), count(*) FILTER (WHERE status = 'positive'),
                                                    count(*) FILTER (WHERE status = 'negative') FROM o GROUP BY 1) x),
        'by_trigger', (SELECT jsonb_agg(x) FROM (SELECT outcome_type, metadata->>'escalation_trigger', count(*),
                                                        count(*) FILTER (WHERE status = 'positive') FROM o GROUP BY 1, 2) x),
        'feedback', (SELECT count(*) FROM f),
        'coverage', (SELECT count(*) FROM cd WHERE EXISTS (SELECT 1 FROM f WHERE f.conversation_state_id = cd.conversation_state_id
                                                                           AND f.day = cd.day)),
        'conversation_days', (SELECT count(*) FROM cd))
$$;

-- bench_time(sql, calls): median in-server milliseconds of one call of sql
CREATE OR REPLACE FUNCTION bench_time(sql text, calls int) RETURNS numeric
    LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    times float8[] := '{}';
BEGIN
    FOR i IN 1 .. calls LOOP
        t0 := clock_timestamp();
        EXECUTE sql;
        times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    RETURN round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x)::numeric, 3);
END $$;

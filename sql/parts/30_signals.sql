------------------------------------------------------------------------------
-- Section: signals
--
-- ingest_signal only stores; the signal jobs (section "jobs") apply signals
-- to pending outcomes.  signal_rule() is the one place that knows which
-- outcome type a signal type resolves, and to what.
------------------------------------------------------------------------------

-- The job that applies each signal type.
-- The small rules below have SQL-standard bodies: their operators are bound
-- when they are created, never looked up on a caller's search_path, and
-- they are still inlined into the jobs' statements.
CREATE FUNCTION learning.signal_job(signal_type text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN signal_type IN ('email_replied', 'email_bounced', 'email_unsubscribed') THEN 'immediate_signals'
    WHEN signal_type IN ('meeting_booked', 'meeting_held', 'meeting_declined', 'meeting_no_show',
                         'escalation_resolved', 'escalation_failed') THEN 'engagement_signals'
    WHEN signal_type = 'deal_stage_changed' THEN 'deal_progression'
END;
COMMENT ON FUNCTION learning.signal_job(text) IS
    'The job that applies a signal type (immediate_signals, engagement_signals or deal_progression); NULL for an unknown type';

-- The outcome type a signal type resolves.
CREATE FUNCTION learning.signal_outcome_type(signal_type text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN signal_type IN ('email_replied', 'email_bounced', 'email_unsubscribed') THEN 'email_engagement'
    WHEN signal_type IN ('meeting_booked', 'meeting_held', 'meeting_declined', 'meeting_no_show') THEN 'meeting_outcome'
    WHEN signal_type IN ('escalation_resolved', 'escalation_failed') THEN 'escalation_result'
    WHEN signal_type = 'deal_stage_changed' THEN 'deal_progression'
END;
COMMENT ON FUNCTION learning.signal_outcome_type(text) IS
    'The outcome type a signal type resolves; NULL for an unknown type';

-- Position of a deal stage on the way to closed_won (closed_lost and stalled are failures).
CREATE FUNCTION learning.deal_stage_rank(stage text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE stage
    WHEN 'prospecting' THEN 0 WHEN 'discovery' THEN 1 WHEN 'qualification' THEN 2
    WHEN 'evaluation' THEN 3 WHEN 'negotiation' THEN 4 WHEN 'closed_won' THEN 5
END;
COMMENT ON FUNCTION learning.deal_stage_rank(text) IS
    'Rank of a deal stage: prospecting 0 < discovery < qualification < evaluation < negotiation < closed_won 5; NULL otherwise';

-- What a signal makes of a pending outcome of its outcome type: (status, score),
-- or no row when it does not resolve it (a deal stage that did not advance).
CREATE FUNCTION learning.signal_rule(signal_type text, detail jsonb, outcome_metadata jsonb,
                                     OUT status text, OUT outcome_score float8)
    RETURNS SETOF record LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT r.status, r.outcome_score FROM (
        SELECT CASE
                 WHEN signal_type IN ('email_replied', 'meeting_booked', 'meeting_held', 'escalation_resolved')
                     THEN 'positive'
                 WHEN signal_type IN ('email_bounced', 'email_unsubscribed', 'meeting_declined',
                                      'meeting_no_show', 'escalation_failed')
                     THEN 'negative'
                 WHEN signal_type = 'deal_stage_changed' AND detail->>'stage' IN ('closed_lost', 'stalled')
                     THEN 'negative'
                 WHEN signal_type = 'deal_stage_changed'
                      AND learning.deal_stage_rank(detail->>'stage')
                          > learning.deal_stage_rank(coalesce(outcome_metadata->>'deal_stage_at_creation', 'prospecting'))
                     THEN 'positive'
               END AS status,
               CASE
                 WHEN signal_type = 'deal_stage_changed' AND detail->>'stage' IN ('closed_lost', 'stalled') THEN 0.0
                 WHEN signal_type = 'deal_stage_changed'
                     THEN least(0.2::numeric * (learning.deal_stage_rank(detail->>'stage')
                          - learning.deal_stage_rank(coalesce(outcome_metadata->>'deal_stage_at_creation', 'prospecting')))::numeric,
                          1.0::numeric)
                 WHEN signal_type IN ('email_replied', 'meeting_booked', 'meeting_held', 'escalation_resolved') THEN 1.0
                 ELSE 0.0
               END::float8 AS outcome_score
    ) r WHERE r.status IS NOT NULL;
END;
COMMENT ON FUNCTION learning.signal_rule(text, jsonb, jsonb) IS
    'The status and score a signal gives a pending outcome of its type (the rules of the signal table in the README); no row when it leaves the outcome pending';

-- ingest_signal is C (src/write_signal.c): checks in C, one saved statement
-- as the caller; signal_job and deal_stage_rank above own the type and stage lists.
CREATE FUNCTION learning.ingest_signal(
    tenant_id text,
    conversation_state_id text,
    signal_type text,
    occurred_at timestamptz DEFAULT now(),
    detail jsonb DEFAULT '{}',
    external_id text DEFAULT NULL)
    RETURNS uuid LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'learning_ingest_signal';
COMMENT ON FUNCTION learning.ingest_signal(text, text, text, timestamptz, jsonb, text) IS
    'Stores a signal of what happened; the same (tenant_id, external_id) again returns the first id and stores nothing. The signal jobs apply it';

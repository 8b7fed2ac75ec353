------------------------------------------------------------------------------
-- Section: events (SPEC section 5): the outbox
------------------------------------------------------------------------------

CREATE TABLE learning.events (
    tenant_id   text        NOT NULL,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    event_type  text        NOT NULL CHECK (event_type IN ('outcome_recorded', 'outcome_resolved',
                                'feedback_recorded', 'calibration_adjusted', 'job_completed')),
    payload     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE learning.events IS 'Outbox of events worth showing live, kept for learning.event_retention';
CREATE INDEX events_created_idx ON learning.events (created_at);

CREATE FUNCTION learning.emit_event(tenant_id text, event_type text, payload jsonb DEFAULT '{}')
    RETURNS bigint LANGUAGE sql VOLATILE AS $$
    INSERT INTO learning.events (tenant_id, event_type, payload) VALUES ($1, $2, coalesce($3, '{}'))
    RETURNING id
$$;
COMMENT ON FUNCTION learning.emit_event(text, text, jsonb) IS
    'Adds an event to the outbox in the caller''s transaction; returns its id';

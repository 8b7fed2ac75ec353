------------------------------------------------------------------------------
-- Section: tables
--
-- Every table has tenant_id and every primary, unique and foreign key starts
-- with it, so the tables can be distributed by tenant later.  Database-wide
-- rows (job history) use the tenant_id '*'.
------------------------------------------------------------------------------

-- Per-tenant settings: the time zone dashboards use for calendar days.
CREATE TABLE learning.tenant_settings (
    tenant_id   text        NOT NULL,
    time_zone   text        NOT NULL DEFAULT 'UTC',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE learning.tenant_settings IS 'Per-tenant settings (time zone of dashboard days); set with learning.set_tenant_time_zone';

-- Outcome windows: tenant overrides of the built-in types and user-defined types.
CREATE TABLE learning.outcome_windows (
    tenant_id     text        NOT NULL,
    outcome_type  text        NOT NULL,
    window_length interval    NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, outcome_type),
    CHECK (window_length > interval '0'),
    CHECK (outcome_type ~ '^[a-z0-9_]{1,50}$')
);
COMMENT ON TABLE learning.outcome_windows IS 'Per-tenant outcome windows: overrides of the built-in outcome types and new outcome types; set with learning.set_outcome_window';

-- Minutes of human work one action of a type saves (executive ROI); default 5.
CREATE TABLE learning.action_minutes_saved (
    tenant_id    text        NOT NULL,
    action_type  text        NOT NULL,
    minutes      float8      NOT NULL CHECK (minutes >= 0 AND minutes < 'Infinity'),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, action_type)
);
COMMENT ON TABLE learning.action_minutes_saved IS 'Minutes saved per action of a type (executive ROI); default 5; set with learning.set_minutes_saved';

-- Every agent action with its predicted confidence and, later, its outcome.
CREATE TABLE learning.outcome_records (
    tenant_id             text        NOT NULL,
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    conversation_state_id text        NOT NULL,
    rep_id                text,
    action_type           text        NOT NULL,
    action_id             text,
    predicted_confidence  float8      NOT NULL,
    outcome_type          text        NOT NULL,
    status                text        NOT NULL DEFAULT 'pending',
    outcome_score         float8,
    signal_source         text,
    window_expires_at     timestamptz NOT NULL,
    resolved_at           timestamptz,
    metadata              jsonb       NOT NULL DEFAULT '{}',
    cost                  numeric,
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
    -- its check (outcome_records_row_check, sql/parts/15_checks.sql) is one C
    -- function of every rule: tenant id, ids, action type, confidence,
    -- status, score, metadata, cost, created_at
);
COMMENT ON TABLE learning.outcome_records IS 'One row per agent action: predicted confidence, outcome type and window, and the outcome once resolved';

-- Request paths: a conversation's outcomes; pending outcomes per tenant and type;
-- windows that end (expire_overdue); dashboards by creation time.
CREATE INDEX outcome_records_conversation_idx
    ON learning.outcome_records (tenant_id, conversation_state_id, created_at);
CREATE INDEX outcome_records_pending_idx
    ON learning.outcome_records (tenant_id, outcome_type, window_expires_at) WHERE status = 'pending';
CREATE INDEX outcome_records_pending_window_idx
    ON learning.outcome_records (window_expires_at) WHERE status = 'pending';
CREATE INDEX outcome_records_created_idx
    ON learning.outcome_records (tenant_id, created_at);

-- What really happened (replies, meetings, escalations, deal stages).
CREATE TABLE learning.signals (
    tenant_id             text        NOT NULL,
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    conversation_state_id text        NOT NULL,
    signal_type           text        NOT NULL,
    occurred_at           timestamptz NOT NULL,
    detail                jsonb       NOT NULL DEFAULT '{}',
    external_id           text,
    ingested_at           timestamptz NOT NULL DEFAULT now(),
    applied_at            timestamptz,
    resolved_count        integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT signals_external_id_key UNIQUE (tenant_id, external_id),
    CONSTRAINT signals_detail_check CHECK (jsonb_typeof(detail) = 'object')
);
COMMENT ON TABLE learning.signals IS 'Signals of what really happened; applied to pending outcomes by the signal jobs (applied_at set once applied)';

-- The signal jobs read only signals not applied yet (their cost follows new
-- work); expire_overdue looks up the signals of each outcome whose window ended.
CREATE INDEX signals_unapplied_type_idx
    ON learning.signals (signal_type, ingested_at) WHERE applied_at IS NULL;
-- The signal jobs' batches walk the tenants that have unapplied signals.
CREATE INDEX signals_unapplied_tenant_idx
    ON learning.signals (tenant_id) WHERE applied_at IS NULL;
CREATE INDEX signals_conversation_idx
    ON learning.signals (tenant_id, conversation_state_id, occurred_at);

-- Human feedback on messages, decisions and conversations.
CREATE TABLE learning.feedback_entries (
    tenant_id             text        NOT NULL,
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    conversation_state_id text        NOT NULL,
    outcome_record_id     uuid,
    target_type           text        NOT NULL CHECK (target_type IN ('message', 'decision', 'conversation')),
    target_id             text        NOT NULL,
    source                text        NOT NULL CHECK (source IN ('inline', 'dashboard')),
    rating                integer     NOT NULL,
    comment               text        CHECK (char_length(comment) <= 1000),
    reviewer_id           text        NOT NULL,
    reviewer_role         text        NOT NULL CHECK (reviewer_role IN ('rep', 'manager', 'executive', 'service')),
    metadata              jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT feedback_entries_rating_check CHECK (
        (source = 'inline' AND rating BETWEEN -1 AND 1) OR (source = 'dashboard' AND rating BETWEEN 1 AND 5)),
    CONSTRAINT feedback_entries_outcome_fkey FOREIGN KEY (tenant_id, outcome_record_id)
        REFERENCES learning.outcome_records (tenant_id, id) ON DELETE SET NULL (outcome_record_id)
);
COMMENT ON TABLE learning.feedback_entries IS 'Human feedback (inline -1..1 or dashboard 1..5) on a message, decision or conversation';

CREATE INDEX feedback_entries_conversation_idx
    ON learning.feedback_entries (tenant_id, conversation_state_id, created_at);
CREATE INDEX feedback_entries_reviewer_idx
    ON learning.feedback_entries (tenant_id, reviewer_id, created_at);
CREATE INDEX feedback_entries_created_idx
    ON learning.feedback_entries (tenant_id, created_at);
CREATE INDEX feedback_entries_outcome_idx
    ON learning.feedback_entries (tenant_id, outcome_record_id) WHERE outcome_record_id IS NOT NULL;

-- Calibration bins: ten per (tenant, action type), each striped over a few
-- shard rows so that concurrent resolutions of one action type never wait on
-- one counter row.  A shard row holds the exact sums the Brier score and its
-- decomposition need; readers add the shards of a bin.
CREATE TABLE learning.calibration_bins (
    tenant_id    text     NOT NULL,
    action_type  text     NOT NULL,
    bin_index    smallint NOT NULL CHECK (bin_index BETWEEN 0 AND 9),
    shard        smallint NOT NULL,
    n            bigint   NOT NULL DEFAULT 0,
    sum_p        float8   NOT NULL DEFAULT 0,
    sum_p2       float8   NOT NULL DEFAULT 0,
    sum_o        float8   NOT NULL DEFAULT 0,
    sum_o2       float8   NOT NULL DEFAULT 0,
    sum_po       float8   NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, action_type, bin_index, shard)
);
COMMENT ON TABLE learning.calibration_bins IS 'Exact calibration sums per (tenant, action type, bin, shard); maintained by triggers on outcome_records, never by hand';

-- The stored confidence scale per action type (1.0 until a check moves it).
CREATE TABLE learning.calibration_state (
    tenant_id         text        NOT NULL,
    action_type       text        NOT NULL,
    confidence_scale  float8      NOT NULL DEFAULT 1.0 CHECK (confidence_scale BETWEEN 0.5 AND 1.5),
    checked_at        timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, action_type)
);
COMMENT ON TABLE learning.calibration_state IS 'Stored confidence_scale per (tenant, action type), moved by learning.check_and_adjust';

-- History of every adjustment of a confidence scale.
CREATE TABLE learning.calibration_adjustments (
    tenant_id      text        NOT NULL,
    id             bigint      GENERATED ALWAYS AS IDENTITY,
    action_type    text        NOT NULL,
    direction      text        NOT NULL CHECK (direction IN ('increase', 'decrease')),
    gap            float8      NOT NULL,
    target_scale   float8      NOT NULL,
    old_scale      float8      NOT NULL,
    new_scale      float8      NOT NULL,
    sample_count   bigint      NOT NULL,
    reason         text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE learning.calibration_adjustments IS 'History of confidence_scale changes made by learning.check_and_adjust';
CREATE INDEX calibration_adjustments_type_idx
    ON learning.calibration_adjustments (tenant_id, action_type, created_at);

-- One row per job run, whoever ran it (a scheduler or learning.run_job).
CREATE TABLE learning.job_runs (
    tenant_id    text        NOT NULL DEFAULT '*',
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    job_name     text        NOT NULL CHECK (job_name IN ('immediate_signals', 'engagement_signals',
                                   'deal_progression', 'expire_overdue', 'calibration_check')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    items        bigint      NOT NULL DEFAULT 0,
    message      text,
    run_by       text        NOT NULL DEFAULT 'run_job' CHECK (run_by IN ('run_job', 'scheduler')),
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE learning.job_runs IS 'History of job runs (database-wide rows carry tenant_id ''*''); pruned by learning.job_history_retention';
CREATE INDEX job_runs_job_idx ON learning.job_runs (job_name, started_at);
CREATE INDEX job_runs_started_idx ON learning.job_runs (started_at);

-- pg_dump keeps the rows of these tables (the extension's own tables are
-- otherwise left out of a dump).  The calibration bins are not dumped: they
-- are derived, and restoring the outcomes rebuilds them through the triggers.
SELECT pg_catalog.pg_extension_config_dump('learning.tenant_settings', '');
SELECT pg_catalog.pg_extension_config_dump('learning.outcome_windows', '');
SELECT pg_catalog.pg_extension_config_dump('learning.action_minutes_saved', '');
SELECT pg_catalog.pg_extension_config_dump('learning.outcome_records', '');
SELECT pg_catalog.pg_extension_config_dump('learning.signals', '');
SELECT pg_catalog.pg_extension_config_dump('learning.feedback_entries', '');
SELECT pg_catalog.pg_extension_config_dump('learning.calibration_state', '');
SELECT pg_catalog.pg_extension_config_dump('learning.calibration_adjustments', '');

-- Inputs a hostile caller can send: non-string metadata values, oversized
-- keys, unusual session settings.  None may crash the server or change the
-- shape of what is returned.

-- escalation triggers that are numbers, booleans or objects are counted by their text
SELECT learning.record_outcome('rob', 'c1', 'escalate', 0.5, 'escalation_result', metadata => '{"escalation_trigger": 5}') IS NOT NULL AS number_trigger;
SELECT learning.record_outcome('rob', 'c2', 'escalate', 0.5, 'escalation_result', metadata => '{"escalation_trigger": true}') IS NOT NULL AS bool_trigger;
SELECT learning.record_outcome('rob', 'c3', 'escalate', 0.5, 'escalation_result', metadata => '{"escalation_trigger": {"a": [1]}}') IS NOT NULL AS object_trigger;
SELECT learning.record_outcome('rob', 'c4', 'escalate', 0.5, 'escalation_result', metadata => '{"escalation_trigger": null}') IS NOT NULL AS null_trigger;
SELECT escalation_trigger, sum(actions) FROM learning.outcome_rollups WHERE tenant_id = 'rob' GROUP BY 1 ORDER BY escalation_trigger COLLATE "C";
-- and the same through a plain UPDATE that resolves them
UPDATE learning.outcome_records SET status = 'positive' WHERE tenant_id = 'rob';
SELECT escalation_trigger, sum(positive) FROM learning.outcome_rollups WHERE tenant_id = 'rob' GROUP BY 1 ORDER BY escalation_trigger COLLATE "C";
-- a deal stage at resolution that is not a string (a direct write) is counted by its text too
SELECT learning.record_outcome('rob', 'c5', 'qualify', 0.5, 'deal_progression') AS deal \gset
UPDATE learning.outcome_records SET status = 'positive', outcome_score = 0.2,
       metadata = '{"deal_stage_at_resolution": 7}' WHERE id = :'deal';
SELECT (learning.rep_dashboard('rob')->'deal_impact'->>'deals_progressed') AS deals_progressed;

-- an escalation trigger longer than an id is refused before anything is written
SELECT err($$SELECT learning.record_outcome('rob', 'c6', 'escalate', 0.5, 'escalation_result',
                    metadata => jsonb_build_object('escalation_trigger', repeat('x', 201)))$$);
SELECT err($$INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                                   outcome_type, window_expires_at, metadata)
             VALUES ('rob', 'c7', 'escalate', 0.5, 'escalation_result', now(),
                     jsonb_build_object('escalation_trigger', repeat('x', 3000)))$$);

-- a rep id longer than any id is 22001, like the ids of the write functions
SELECT err($$SELECT learning.rep_dashboard('rob', repeat('r', 201))$$);

-- JSON dates and times do not follow the session's DateStyle or TimeZone
SET datestyle = 'SQL, DMY';
SET timezone = 'Asia/Kolkata';
SELECT d->>'period_start' ~ '^\d{4}-\d{2}-\d{2}$' AS iso_start,
       d->>'period_end' ~ '^\d{4}-\d{2}-\d{2}$' AS iso_end,
       d->>'generated_at' ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$' AS iso_utc_generated_at
  FROM learning.manager_dashboard('rob') d;
RESET datestyle;
RESET timezone;

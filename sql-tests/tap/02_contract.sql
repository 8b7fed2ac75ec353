-- The contract of the SQL API and the jobs: names, signatures, return types,
-- tables and columns that users, tests and other teams rely on.
BEGIN;
SELECT plan(48);

SELECT has_schema('learning');
SELECT has_schema('learning_api');
SELECT ok(NOT extrelocatable, 'learning is not relocatable') FROM pg_extension WHERE extname = 'learning';

-- outcomes
SELECT has_function('learning', 'record_outcome',
    ARRAY['text', 'text', 'text', 'double precision', 'text', 'text', 'text', 'jsonb', 'numeric', 'timestamp with time zone']);
SELECT function_returns('learning', 'record_outcome',
    ARRAY['text', 'text', 'text', 'double precision', 'text', 'text', 'text', 'jsonb', 'numeric', 'timestamp with time zone'], 'uuid');
SELECT has_function('learning', 'resolve_outcome', ARRAY['text', 'uuid', 'text', 'double precision', 'text']);
SELECT function_returns('learning', 'resolve_outcome', ARRAY['text', 'uuid', 'text', 'double precision', 'text'], 'learning.outcome_records');
SELECT has_function('learning', 'outcomes_for_conversation', ARRAY['text', 'text']);
SELECT function_returns('learning', 'outcomes_for_conversation', ARRAY['text', 'text'], 'setof learning.outcome_records');
SELECT has_function('learning', 'pending_outcomes', ARRAY['text', 'text', 'boolean']);
SELECT columns_are('learning', 'outcome_records', ARRAY['tenant_id', 'id', 'conversation_state_id', 'rep_id', 'action_type',
    'action_id', 'predicted_confidence', 'outcome_type', 'status', 'outcome_score', 'signal_source', 'window_expires_at',
    'resolved_at', 'metadata', 'cost', 'created_at']);
SELECT col_type_is('learning', 'outcome_records', 'predicted_confidence', 'double precision', 'predicted_confidence is float8');
SELECT col_type_is('learning', 'outcome_records', 'metadata', 'jsonb', 'metadata is jsonb');

-- the defaults callers rely on
SELECT is((SELECT pg_get_function_arguments('learning.record_outcome(text,text,text,float8,text,text,text,jsonb,numeric,timestamptz)'::regprocedure)),
          'tenant_id text, conversation_state_id text, action_type text, predicted_confidence double precision, outcome_type text, action_id text DEFAULT NULL::text, rep_id text DEFAULT NULL::text, metadata jsonb DEFAULT ''{}''::jsonb, cost numeric DEFAULT NULL::numeric, created_at timestamp with time zone DEFAULT now()',
          'record_outcome argument names and defaults');
SELECT is((SELECT pg_get_function_arguments('learning.resolve_outcome(text,uuid,text,float8,text)'::regprocedure)),
          'tenant_id text, outcome_id uuid, status text, outcome_score double precision DEFAULT NULL::double precision, signal_source text DEFAULT ''manual''::text',
          'resolve_outcome argument names and defaults');
SELECT is((SELECT pg_get_function_arguments('learning.pending_outcomes(text,text,boolean)'::regprocedure)),
          'tenant_id text DEFAULT NULL::text, outcome_type text DEFAULT NULL::text, expired_only boolean DEFAULT false',
          'pending_outcomes argument names and defaults');

-- signals
SELECT has_function('learning', 'ingest_signal', ARRAY['text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text']);
SELECT function_returns('learning', 'ingest_signal', ARRAY['text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'], 'uuid');
SELECT is((SELECT pg_get_function_arguments('learning.ingest_signal(text,text,text,timestamptz,jsonb,text)'::regprocedure)),
          'tenant_id text, conversation_state_id text, signal_type text, occurred_at timestamp with time zone DEFAULT now(), detail jsonb DEFAULT ''{}''::jsonb, external_id text DEFAULT NULL::text',
          'ingest_signal argument names and defaults');

-- feedback
SELECT has_function('learning', 'submit_feedback',
    ARRAY['text', 'text', 'text', 'text', 'text', 'integer', 'text', 'text', 'text', 'uuid', 'jsonb', 'uuid']);
SELECT function_returns('learning', 'submit_feedback',
    ARRAY['text', 'text', 'text', 'text', 'text', 'integer', 'text', 'text', 'text', 'uuid', 'jsonb', 'uuid'], 'uuid');
SELECT is((SELECT pg_get_function_arguments('learning.submit_feedback(text,text,text,text,text,integer,text,text,text,uuid,jsonb,uuid)'::regprocedure)),
          'tenant_id text, conversation_state_id text, target_type text, target_id text, source text, rating integer, reviewer_id text, reviewer_role text DEFAULT ''rep''::text, comment text DEFAULT NULL::text, outcome_record_id uuid DEFAULT NULL::uuid, metadata jsonb DEFAULT ''{}''::jsonb, feedback_id uuid DEFAULT NULL::uuid',
          'submit_feedback argument names and defaults');
SELECT has_function('learning', 'feedback_for_conversation', ARRAY['text', 'text']);
SELECT has_function('learning', 'feedback_summary', ARRAY['text', 'integer']);
SELECT function_returns('learning', 'feedback_summary', ARRAY['text', 'integer'], 'jsonb');
SELECT has_function('learning', 'feedback_rate', ARRAY['text', 'text']);
SELECT function_returns('learning', 'feedback_rate', ARRAY['text', 'text'], 'double precision');

-- calibration
SELECT ok(EXISTS (SELECT 1 FROM pg_aggregate WHERE aggfnoid = 'learning.brier_score(float8, float8)'::regprocedure),
          'brier_score(float8, float8) is an aggregate');
SELECT function_returns('learning', 'brier_score', ARRAY['text', 'text'], 'double precision');
SELECT function_returns('learning', 'calibration_curve', ARRAY['text', 'text', 'integer'], 'jsonb');
SELECT is((SELECT pg_get_function_arguments('learning.calibration_curve(text,text,integer)'::regprocedure)),
          'tenant_id text, action_type text, min_samples integer DEFAULT 10', 'calibration_curve defaults min_samples to 10');
SELECT function_returns('learning', 'check_and_adjust', ARRAY['text', 'text'], 'jsonb');
SELECT function_returns('learning', 'adjusted_confidence', ARRAY['text', 'text', 'double precision'], 'double precision');
SELECT function_returns('learning', 'calibrated_probability', ARRAY['text', 'text', 'double precision'], 'double precision');
SELECT is(p.provolatile, 's', p.proname || ' is STABLE (PostgREST reads it in a read-only transaction)')
  FROM pg_proc p WHERE p.oid IN ('learning.adjusted_confidence(text,text,float8)'::regprocedure,
                                 'learning.calibrated_probability(text,text,float8)'::regprocedure,
                                 'learning.calibration_curve(text,text,integer)'::regprocedure)
 ORDER BY p.proname;
SELECT has_table('learning', 'calibration_adjustments', 'adjustments keep their history');

-- coaching takes alpha, the false discovery rate (Benjamini-Hochberg), 0.05 unless given
SELECT is((SELECT pg_get_function_arguments('learning.coaching_patterns(text,integer,float8)'::regprocedure)),
          'tenant_id text, days integer DEFAULT 90, alpha double precision DEFAULT 0.05', 'coaching_patterns takes alpha');
SELECT is((SELECT pg_get_function_arguments('learning.improvement_areas(text,integer,float8)'::regprocedure)),
          'tenant_id text, days integer DEFAULT 90, alpha double precision DEFAULT 0.05', 'improvement_areas takes alpha');
SELECT is((SELECT pg_get_function_arguments('learning_api.coaching_patterns(integer,float8)'::regprocedure)),
          'days integer DEFAULT 90, alpha double precision DEFAULT 0.05', 'the coaching_patterns endpoint takes alpha');

-- the curve's keys
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(learning.calibration_curve('contract', 'x')) k),
          ARRAY['action_type', 'actual_rates', 'bins', 'brier_score', 'counts', 'ece', 'is_calibrated', 'mce',
                'midpoints', 'min_samples', 'reliability', 'reliability_with_spread', 'resolution', 'sample_count',
                'uncertainty'],
          'calibration_curve has the documented keys');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(learning.calibration_curve('contract', 'x')->'bins'->0) k),
          ARRAY['actual_rate', 'bin_index', 'ci_high', 'ci_low', 'count', 'lower', 'mean_predicted', 'upper'],
          'each bin has the documented keys');

-- jobs
SELECT has_function('learning', 'run_job', ARRAY['text']);
SELECT function_returns('learning', 'run_job', ARRAY['text'], 'jsonb');
SELECT columns_are('learning', 'job_runs', ARRAY['tenant_id', 'id', 'job_name', 'started_at', 'finished_at', 'status',
                                                 'items', 'message', 'run_by']);
SELECT throws_ok($$SELECT learning.run_job('nope')$$, '22023', 'unknown job "nope"');
SELECT lives_ok($$SELECT learning.run_job(j) FROM unnest(ARRAY['immediate_signals', 'engagement_signals',
                  'deal_progression', 'expire_overdue', 'calibration_check']) j$$, 'the five jobs run');

SELECT * FROM finish();
ROLLBACK;

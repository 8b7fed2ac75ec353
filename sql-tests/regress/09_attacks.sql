-- Attacks on the extension by roles that have less than a superuser, and by a
-- superuser whose search_path an attacker planted.  Each block failed on 0.1.0
-- (a superuser, a crash, another tenant's numbers or events written).
SET client_min_messages = warning;

-- Victim data: tenant beta, with calibration bins, rollups and events.
SELECT count((learning.resolve_outcome('beta', learning.record_outcome('beta', 'b-' || i, 'send_email', 0.8,
                'email_engagement', rep_id => 'rep-b'), CASE WHEN i % 2 = 0 THEN 'positive' ELSE 'negative' END)).status) AS seeded
  FROM generate_series(1, 20) i;
CREATE TABLE public.victim_snapshot AS
SELECT (SELECT sum(n) FROM learning.calibration_bins WHERE tenant_id = 'beta') AS bins_n,
       (SELECT sum(sum_o) FROM learning.calibration_bins WHERE tenant_id = 'beta') AS bins_o,
       (SELECT sum(actions) FROM learning.outcome_rollups WHERE tenant_id = 'beta') AS rollup_actions,
       (SELECT sum(positive) FROM learning.outcome_rollups WHERE tenant_id = 'beta') AS rollup_positive,
       (SELECT count(*) FROM learning.events WHERE tenant_id = 'beta') AS events;
SELECT bins_n, bins_o, rollup_actions, rollup_positive, events > 0 AS has_events FROM public.victim_snapshot;

-- A role with USAGE on schema learning and nothing else; a member of learning_app.
CREATE ROLE intruder NOLOGIN;
GRANT USAGE ON SCHEMA learning TO intruder;
CREATE ROLE app_user NOLOGIN IN ROLE learning_app;
GRANT CREATE ON SCHEMA public TO intruder;

------------------------------------------------------------------------------
-- 1. Trigger functions attached to a role's own tables.
------------------------------------------------------------------------------
SET ROLE intruder;
CREATE TEMP TABLE g (tenant_id text, id text, status text, outcome_score text, resolved_at text,
                     predicted_confidence float8, action_type text);
-- no EXECUTE: the trigger cannot even be created, for any of them
SELECT f, err(format('CREATE TRIGGER t_%s BEFORE INSERT ON g FOR EACH ROW EXECUTE FUNCTION learning.%s()', f, f))
  FROM unnest(ARRAY['outcome_guard', 'outcome_calibrate', 'outcome_rollup', 'feedback_rollup',
                    'outcome_records_truncated', 'tenant_settings_rollups', 'rollups_truncated']) f;
RESET ROLE;

-- Even with EXECUTE granted by mistake, each refuses any table but its own,
-- with wrong column types (the 0.1.0 crash) and with right ones (the 0.1.0
-- forgery of another tenant's bins, rollups and events).
GRANT EXECUTE ON FUNCTION learning.outcome_guard(), learning.outcome_calibrate(), learning.outcome_rollup(),
    learning.feedback_rollup(), learning.outcome_records_truncated(),
    learning.tenant_settings_rollups(), learning.rollups_truncated() TO intruder;
-- tables shaped like the extension's, owned by the intruder
CREATE TABLE public.right_types (LIKE learning.outcome_records INCLUDING DEFAULTS);
CREATE TABLE public.fake_feedback (LIKE learning.feedback_entries INCLUDING DEFAULTS);
ALTER TABLE public.right_types OWNER TO intruder;
ALTER TABLE public.fake_feedback OWNER TO intruder;
SET ROLE intruder;
CREATE TABLE public.wrong_types (tenant_id text, id text, status text, outcome_score text, resolved_at text,
                                 predicted_confidence float8, action_type text);
CREATE TRIGGER a BEFORE INSERT ON public.wrong_types FOR EACH ROW EXECUTE FUNCTION learning.outcome_guard();
CREATE TRIGGER b AFTER INSERT ON public.right_types FOR EACH ROW EXECUTE FUNCTION learning.outcome_calibrate();
CREATE TRIGGER c AFTER INSERT ON public.right_types FOR EACH ROW EXECUTE FUNCTION learning.outcome_rollup();
CREATE TRIGGER e AFTER INSERT ON public.fake_feedback FOR EACH ROW EXECUTE FUNCTION learning.feedback_rollup();
CREATE TRIGGER f AFTER TRUNCATE ON public.right_types FOR EACH STATEMENT EXECUTE FUNCTION learning.rollups_truncated();
CREATE TRIGGER h AFTER TRUNCATE ON public.fake_feedback FOR EACH STATEMENT EXECUTE FUNCTION learning.outcome_records_truncated();
CREATE TRIGGER i AFTER INSERT ON public.fake_feedback FOR EACH ROW EXECUTE FUNCTION learning.tenant_settings_rollups();
SELECT err($$INSERT INTO public.wrong_types VALUES ('beta', 'x', 'positive', NULL, NULL, 0.5, 'a')$$) AS wrong_types;
SELECT err($$INSERT INTO public.right_types (tenant_id, conversation_state_id, action_type, predicted_confidence,
                                             outcome_type, status, outcome_score, window_expires_at, resolved_at)
             SELECT 'beta', 'forged-' || i, 'send_email', 0.99, 'email_engagement', 'negative', 0, now(), now()
               FROM generate_series(1, 500) i$$) AS forged_outcomes;
SELECT err($$INSERT INTO public.fake_feedback (tenant_id, conversation_state_id, target_type, target_id, source,
                                               rating, reviewer_id, reviewer_role)
             VALUES ('beta', 'c', 'message', 'm', 'inline', 1, 'r', 'rep')$$) AS forged_feedback;
SELECT err('TRUNCATE public.right_types') AS truncate_rollups, err('TRUNCATE public.fake_feedback') AS truncate_bins;
-- a trigger function called directly
SELECT err('SELECT learning.outcome_guard()') AS direct_call;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION learning.outcome_guard(), learning.outcome_calibrate(), learning.outcome_rollup(),
    learning.feedback_rollup(), learning.outcome_records_truncated(),
    learning.tenant_settings_rollups(), learning.rollups_truncated() FROM intruder;

-- A superuser may attach them too (say, by mistake): still refused.
CREATE TEMP TABLE su_copy (LIKE learning.outcome_records INCLUDING DEFAULTS);
CREATE TRIGGER b AFTER INSERT ON su_copy FOR EACH ROW EXECUTE FUNCTION learning.outcome_calibrate();
SELECT err($$INSERT INTO su_copy (tenant_id, conversation_state_id, action_type, predicted_confidence, outcome_type,
                                  status, outcome_score, window_expires_at)
             VALUES ('beta', 'x', 'send_email', 0.9, 'email_engagement', 'negative', 0, now())$$) AS superuser_copy;

------------------------------------------------------------------------------
-- 2. Internal functions are not executable by PUBLIC, nor by the SQL API role.
------------------------------------------------------------------------------
SET ROLE app_user;
SELECT f, err(sql) FROM (VALUES
    ('emit_event', $$SELECT learning.emit_event('beta', 'outcome_resolved', '{"forged": true}')$$),
    ('execute_job', $$SELECT learning.execute_job('expire_overdue', 'scheduler')$$),
    ('record_failed_job', $$SELECT learning.record_failed_job('expire_overdue', now(), 'x')$$),
    ('rebuild_rollups', $$SELECT learning.rebuild_rollups('beta')$$),
    ('relay_record', $$SELECT learning.relay_record('[]', 1, '1s')$$),
    ('relay_release_claims', $$SELECT learning.relay_release_claims()$$),
    ('relay_maintain', $$SELECT learning.relay_maintain('1s', false)$$),
    ('relay_wake', $$SELECT learning.relay_wake()$$),
    ('prune_events', $$SELECT learning.prune_events()$$),
    ('expire_overdue', $$SELECT * FROM learning.expire_overdue('', 'zzz')$$),
    ('apply_signals', $$SELECT * FROM learning.apply_signals('immediate_signals', '', 'zzz')$$),
    ('calibration_check', $$SELECT * FROM learning.calibration_check('', 'zzz')$$)) v(f, sql)
 ORDER BY f;
-- the counters and job history are the extension's alone
SELECT t, err(format('INSERT INTO learning.%I SELECT * FROM learning.%I LIMIT 1', t, t)) AS insert_,
       err(format('UPDATE learning.%I SET tenant_id = tenant_id', t)) AS update_,
       err(format('DELETE FROM learning.%I', t)) AS delete_
  FROM unnest(ARRAY['calibration_bins', 'outcome_rollups', 'daily_totals', 'conversation_days',
                    'conversation_last', 'conversation_coverage', 'feedback_rollups', 'job_runs', 'events']) t
 ORDER BY t;
-- what the SQL API does still works for its role, and run_job runs as the owner
SELECT learning.record_outcome('gamma', 'g-1', 'send_email', 0.5, 'email_engagement') IS NOT NULL AS api_records;
SELECT learning.run_job('expire_overdue')->>'status' AS run_job_status;
SELECT learning.set_tenant_time_zone('gamma', 'Europe/Paris') AS time_zone_rebuilds_rollups;
RESET ROLE;
SET ROLE intruder;
SELECT err($$SELECT learning.record_outcome('beta', 'x', 'send_email', 0.5, 'email_engagement')$$) AS usage_only_records,
       err($$SELECT learning.brier_score('beta', 'send_email')$$) AS usage_only_reads,
       err($$SELECT learning.emit_event('beta', 'outcome_resolved')$$) AS usage_only_emits;
RESET ROLE;

------------------------------------------------------------------------------
-- 3. A superuser whose search_path an attacker planted: look-alike operators
-- and functions on the path are never run by the extension's C code.
------------------------------------------------------------------------------
CREATE SCHEMA evil AUTHORIZATION intruder;
CREATE TABLE evil.calls (what text);
GRANT INSERT ON evil.calls TO PUBLIC;
SET ROLE intruder;
CREATE FUNCTION evil.texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES ('text = text as ' || current_user);
    RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
CREATE FUNCTION evil.int8gt(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES ('bigint > bigint as ' || current_user);
    RETURN a OPERATOR(pg_catalog.>) b;
END $$;
CREATE OPERATOR evil.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8gt);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES ('now() as ' || current_user);
    RETURN pg_catalog.now();
END $$;
RESET ROLE;
SET search_path = evil, pg_catalog, public;
-- the planted operator is live for ordinary queries on this path ...
SELECT count(*) > 0 AS planted_operator_is_live FROM (SELECT 1 WHERE 'a' = 'a') s;
DELETE FROM evil.calls;
-- ... and is never resolved by the extension's functions
SELECT learning.brier_score('beta', 'send_email') IS NOT NULL AS brier,
       learning.calibration_curve('beta', 'send_email') IS NOT NULL AS curve,
       learning.adjusted_confidence('beta', 'send_email', 0.8) IS NOT NULL AS adjusted,
       learning.calibrated_probability('beta', 'send_email', 0.8) IS NOT NULL AS calibrated,
       learning.check_and_adjust('beta', 'send_email')->>'direction' AS adjust,
       learning.rep_dashboard('beta') IS NOT NULL AS rep,
       learning.manager_dashboard('beta') IS NOT NULL AS manager,
       learning.executive_summary('beta') IS NOT NULL AS executive,
       learning.coaching_patterns('beta') IS NOT NULL AS coaching,
       learning.top_performing_actions('beta') IS NOT NULL AS top,
       learning.improvement_areas('beta') IS NOT NULL AS improvement,
       (SELECT count(*) FROM learning.events_since('beta', 0)) > 0 AS events,
       (SELECT count(*) FROM learning.job_schedule()) = 5 AS schedule;
SELECT (learning.resolve_outcome('delta', learning.record_outcome('delta', 'planted', 'send_email', 0.5, 'email_engagement'),
                                 'positive')).status AS write_path;
SELECT learning.run_job(j) IS NOT NULL AS job FROM unnest(ARRAY['immediate_signals', 'expire_overdue', 'calibration_check']) j;
SELECT learning.flush_pending_deltas();
-- the small SQL rules, called directly (their bodies are bound when created)
SELECT learning.tenant_time_zone('beta') AS zone, learning.deal_stage_rank('discovery') AS rank,
       learning.signal_job('email_replied') AS job, learning.signal_outcome_type('meeting_held') AS outcome_type,
       learning.builtin_outcome_window('email_engagement') AS window_,
       learning.job_signal_types('deal_progression') AS types,
       (SELECT status FROM learning.signal_rule('email_replied', '{}', '{}')) AS rule;
RESET search_path;
SELECT count(*) AS planted_calls FROM evil.calls;
SELECT rolsuper AS intruder_is_superuser FROM pg_roles WHERE rolname = 'intruder';

------------------------------------------------------------------------------
-- 4. Another tenant's numbers are what its own rows say.
------------------------------------------------------------------------------
SELECT (SELECT sum(n) FROM learning.calibration_bins WHERE tenant_id = 'beta') - s.bins_n AS bins_n_added,
       (SELECT sum(sum_o) FROM learning.calibration_bins WHERE tenant_id = 'beta') - s.bins_o AS bins_o_added,
       (SELECT sum(actions) FROM learning.outcome_rollups WHERE tenant_id = 'beta') - s.rollup_actions AS actions_added,
       (SELECT sum(positive) FROM learning.outcome_rollups WHERE tenant_id = 'beta') - s.rollup_positive AS positive_added,
       (SELECT count(*) FROM learning.events WHERE tenant_id = 'beta' AND payload::text LIKE '%forged%') AS forged_events
  FROM public.victim_snapshot s;

------------------------------------------------------------------------------
-- 5. Inputs that 0.1.0 accepted and then failed on at commit, or stored.
------------------------------------------------------------------------------
SELECT what, err(sql) FROM (VALUES
    ('created_at 5 BC', $$SELECT learning.record_outcome('acme', 'v', 'send_email', 0.5, 'email_engagement', created_at => '0005-01-01 BC')$$),
    ('created_at 10000', $$SELECT learning.record_outcome('acme', 'v', 'send_email', 0.5, 'email_engagement', created_at => '10000-01-01')$$),
    ('occurred_at 5 BC', $$SELECT learning.ingest_signal('acme', 'v', 'email_replied', occurred_at => '0005-01-01 BC')$$),
    ('window 1 mon -29 days', $$SELECT learning.set_outcome_window('acme', 'w', '1 mon -29 days')$$),
    ('window -1 hour', $$SELECT learning.set_outcome_window('acme', 'w', '1 day -25 hours')$$),
    ('window 0', $$SELECT learning.set_outcome_window('acme', 'w', '0')$$),
    ('window 20 years', $$SELECT learning.set_outcome_window('acme', 'w', '20 years')$$),
    ('cost 1e300', $$SELECT learning.record_outcome('acme', 'v', 'send_email', 0.5, 'email_engagement', cost => 1e300)$$),
    ('minutes 1e300', $$SELECT learning.set_minutes_saved('acme', 'send_email', 1e300)$$),
    ('minutes NaN', $$SELECT learning.set_minutes_saved('acme', 'send_email', 'NaN')$$),
    ('signal_source 10 MB', $$SELECT learning.resolve_outcome('acme', gen_random_uuid(), 'positive', signal_source => repeat('x', 10000000))$$),
    ('trend NaN', $$SELECT learning.trend_direction('{1,NaN,3}')$$),
    ('trend Infinity', $$SELECT learning.trend_direction('{1,Infinity,3}')$$),
    ('brier 1e200', $$SELECT learning.brier_score(p, o) FROM (VALUES (1e200::float8, 1::float8)) v(p, o)$$),
    ('brier outcome 2', $$SELECT learning.brier_score(p, o) FROM (VALUES (0.5::float8, 2::float8)) v(p, o)$$)) v(what, sql);
-- The same rules hold for rows written without the functions (learning_app
-- may write these tables), so no job ever meets them.
SET ROLE app_user;
SET timezone_abbreviations = 'Australia';
SELECT what, err(sql) FROM (VALUES
    ('zone abbreviation', $$INSERT INTO learning.tenant_settings (tenant_id, time_zone) VALUES ('evil', 'SAT')$$),
    ('zone without region', $$INSERT INTO learning.tenant_settings (tenant_id, time_zone) VALUES ('evil', 'EST')$$),
    ('zone unknown', $$INSERT INTO learning.tenant_settings (tenant_id, time_zone) VALUES ('evil', 'Mars/Olympus')$$),
    ('created_at year 1 BC', $$INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type,
        predicted_confidence, outcome_type, window_expires_at, created_at)
        VALUES ('evil', 'c', 'send_email', 0.5, 'email_engagement', '0001-01-02 02:00+00', '0001-01-01 02:00+00')$$),
    ('metadata 300 kB', $$INSERT INTO learning.outcome_records (tenant_id, conversation_state_id, action_type,
        predicted_confidence, outcome_type, window_expires_at, metadata)
        VALUES ('evil', 'c', 'send_email', 0.5, 'email_engagement', now(),
                jsonb_build_object('pad', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 10000) g)))$$),
    ('occurred_at 5 BC', $$INSERT INTO learning.signals (tenant_id, conversation_state_id, signal_type, occurred_at)
        VALUES ('evil', 'c', 'email_replied', '0005-01-01 BC')$$),
    ('feedback created_at 10000', $$INSERT INTO learning.feedback_entries (tenant_id, conversation_state_id, target_type,
        target_id, source, rating, reviewer_id, reviewer_role, created_at)
        VALUES ('evil', 'c', 'message', 'm', 'inline', 1, 'r', 'rep', '10000-01-01')$$)) v(what, sql);
SELECT err($$SELECT learning.record_outcome('evil', 'c', 'send_email', 0.5, 'email_engagement',
              metadata => jsonb_build_object('pad', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 10000) g)))$$)
       AS metadata_300kb;
SELECT err($$SELECT learning.set_tenant_time_zone('evil', 'EST')$$) AS est_by_function;
RESET timezone_abbreviations;
RESET ROLE;

-- the edges that stay accepted, and commit
SELECT learning.set_outcome_window('acme', 'w', '1 mon 2 days 3 hours') AS window_ok;
SELECT learning.set_tenant_time_zone('edge', 'Etc/GMT+12');
SELECT learning.record_outcome('edge', 'v1', 'send_email', 0.5, 'email_engagement', created_at => '0001-01-02 00:00+00',
                               cost => 1e9) IS NOT NULL AS year_1;
SELECT learning.record_outcome('edge', 'v2', 'send_email', 0.5, 'email_engagement', created_at => '9999-12-30 23:59+00') IS NOT NULL AS year_9999;
SELECT learning.set_minutes_saved('acme', 'send_email', 10080) AS minutes_ok;
SELECT learning.trend_direction('{1,2,3,4,5,6,7}') AS trend_ok;
SELECT count(DISTINCT day) AS edge_days_in_rollups FROM learning.outcome_rollups WHERE tenant_id = 'edge';

------------------------------------------------------------------------------
-- 6. Installing into a schema another role made first is refused.
------------------------------------------------------------------------------
CREATE DATABASE attack_schema;
\c attack_schema
CREATE ROLE squatter NOLOGIN;
CREATE SCHEMA learning AUTHORIZATION squatter;
DO $$
BEGIN
    CREATE EXTENSION learning;
    RAISE NOTICE 'squatted schema: no error';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'squatted schema: %: %', SQLSTATE, SQLERRM;
END $$;
\c contrib_regression
DROP DATABASE attack_schema;
DROP ROLE squatter;

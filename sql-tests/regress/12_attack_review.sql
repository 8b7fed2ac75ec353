-- Findings of the review of the C write path (ingest_signal, submit_feedback,
-- resolve_outcome by address, commit-time flushes).
SET client_min_messages = warning;

-- 1. submit_feedback without a linked outcome reads no outcome: 0.1.0 needed
--    no privilege on learning.outcome_records for it (the outcome check ran
--    only for a non-NULL outcome_record_id), so a role that may write
--    feedback, and nothing else, could submit it.
CREATE ROLE fb_writer NOLOGIN;
GRANT USAGE ON SCHEMA learning TO fb_writer;
-- (the functions the table's checks call, as learning_app has them)
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA learning TO fb_writer;
GRANT SELECT, INSERT ON learning.feedback_entries TO fb_writer;
CREATE POLICY fb_writer_all ON learning.feedback_entries FOR ALL TO fb_writer USING (true) WITH CHECK (true);
SET ROLE fb_writer;
SELECT learning.submit_feedback('rv', 'c', 'message', 'm', 'inline', 1, 'r', 'rep', NULL, NULL, '{}',
                                '00000000-0000-0000-0000-0000000000f1') AS stored;
-- a retry compares the stored entry: still no outcome read
SELECT learning.submit_feedback('rv', 'c', 'message', 'm', 'inline', 1, 'r', 'rep', NULL, NULL, '{}',
                                '00000000-0000-0000-0000-0000000000f1') AS retried;
-- a linked outcome is checked, and that needs the outcome table (as in 0.1.0)
SELECT err($$SELECT learning.submit_feedback('rv', 'c', 'message', 'm', 'inline', 1, 'r', 'rep', NULL,
                                             '00000000-0000-0000-0000-000000000001')$$);
RESET ROLE;
DELETE FROM learning.feedback_entries WHERE tenant_id = 'rv';
DROP POLICY fb_writer_all ON learning.feedback_entries;
REVOKE ALL ON learning.feedback_entries FROM fb_writer;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA learning FROM fb_writer;
REVOKE USAGE ON SCHEMA learning FROM fb_writer;
DROP ROLE fb_writer;

-- 2. jsonb edge cases of detail.stage, NULLs in every position: the messages of 0.1.0
SELECT err($$SELECT learning.ingest_signal('rv', 'c', 'deal_stage_changed', now(), '{"stage": {"a": 1}}')$$);
SELECT err($$SELECT learning.ingest_signal('rv', 'c', 'deal_stage_changed', now(), '{"stage": [1, "x"]}')$$);
SELECT err($$SELECT learning.ingest_signal('rv', 'c', 'deal_stage_changed', now(), '{"Stage": "closed_won"}')$$);
SELECT err($$SELECT learning.ingest_signal(NULL, NULL, NULL, NULL, NULL, NULL)$$);
SELECT err($$SELECT learning.submit_feedback(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$$);
SELECT err($$SELECT learning.submit_feedback('rv', 'c', 'message', NULL, 'inline', -2147483648, NULL)$$);
SELECT count(*) AS stored FROM learning.signals WHERE tenant_id = 'rv';

-- 3. the caller's settings come back after every call and commit
SET enable_seqscan = on; SET enable_hashjoin = on; SET enable_mergejoin = off;
SET plan_cache_mode = force_custom_plan; SET search_path = public, pg_catalog;
BEGIN;
SELECT learning.ingest_signal('rv', 'c', 'email_replied') IS NOT NULL AS stored;
SELECT err($$SELECT learning.ingest_signal('rv', 'c', 'email_opened')$$);
SELECT current_setting('enable_seqscan') AS seqscan, current_setting('enable_hashjoin') AS hashjoin,
       current_setting('enable_mergejoin') AS mergejoin, current_setting('search_path') AS path;
COMMIT;
SELECT current_setting('enable_seqscan') AS seqscan, current_setting('enable_hashjoin') AS hashjoin,
       current_setting('enable_mergejoin') AS mergejoin, current_setting('plan_cache_mode') AS cache_mode,
       current_setting('search_path') AS path;
RESET enable_seqscan; RESET enable_hashjoin; RESET enable_mergejoin; RESET plan_cache_mode; RESET search_path;
DELETE FROM learning.signals WHERE tenant_id = 'rv';

-- 4. code that runs inside a write function (a user's own trigger) plans under
-- the caller's settings, not the extension's
CREATE TABLE public.seen_settings (tbl text, seqscan text, hashjoin text);
CREATE FUNCTION public.settings_spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen_settings VALUES (TG_TABLE_NAME, current_setting('enable_seqscan'), current_setting('enable_hashjoin'));
    RETURN NEW;
END $$;
CREATE TRIGGER zz_settings_spy AFTER INSERT ON learning.signals FOR EACH ROW EXECUTE FUNCTION public.settings_spy();
CREATE TRIGGER zz_settings_spy AFTER INSERT ON learning.feedback_entries FOR EACH ROW EXECUTE FUNCTION public.settings_spy();
CREATE TRIGGER zz_settings_spy AFTER UPDATE ON learning.outcome_records FOR EACH ROW EXECUTE FUNCTION public.settings_spy();
SELECT learning.ingest_signal('rv', 'c', 'email_replied') IS NOT NULL AS stored;
SELECT learning.submit_feedback('rv', 'c', 'message', 'm', 'inline', 1, 'r') IS NOT NULL AS stored;
SELECT status FROM learning.resolve_outcome('rv', learning.record_outcome('rv', 'c', 'send_email', 0.5, 'email_engagement'), 'positive');
SELECT * FROM public.seen_settings ORDER BY tbl;
DROP TRIGGER zz_settings_spy ON learning.signals;
DROP TRIGGER zz_settings_spy ON learning.feedback_entries;
DROP TRIGGER zz_settings_spy ON learning.outcome_records;
DROP FUNCTION public.settings_spy();
DROP TABLE public.seen_settings;
DELETE FROM learning.signals WHERE tenant_id = 'rv';
DELETE FROM learning.feedback_entries WHERE tenant_id = 'rv';
DELETE FROM learning.outcome_records WHERE tenant_id = 'rv';

-- 5. a trigger of the table owner that skips the row: submit_feedback without
-- a feedback_id reports that nothing was stored (23505, as 0.1.0 did), and
-- the server does not crash on the missing id
CREATE FUNCTION public.skip_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER aa_skip_row BEFORE INSERT ON learning.feedback_entries FOR EACH ROW EXECUTE FUNCTION public.skip_row();
SELECT err($$SELECT learning.submit_feedback('rv', 'c', 'message', 'm', 'inline', 1, 'r')$$);
DROP TRIGGER aa_skip_row ON learning.feedback_entries;
DROP FUNCTION public.skip_row();
SELECT count(*) AS stored FROM learning.feedback_entries WHERE tenant_id = 'rv';
-- a resolution of an outcome already resolved, and of an unknown one, through
-- the table's primary key under any name
ALTER TABLE learning.outcome_records RENAME CONSTRAINT outcome_records_pkey TO outcome_records_pkey_renamed;
SELECT learning.record_outcome('rv', 'c', 'send_email', 0.5, 'email_engagement') AS rv_id \gset
SELECT status FROM learning.resolve_outcome('rv', :'rv_id', 'positive');
SELECT err(format($$SELECT learning.resolve_outcome('rv', %L, 'negative')$$, :'rv_id'));
SELECT err($$SELECT learning.resolve_outcome('rv', '00000000-0000-0000-0000-0000000000bb', 'negative')$$);
ALTER TABLE learning.outcome_records RENAME CONSTRAINT outcome_records_pkey_renamed TO outcome_records_pkey;
DELETE FROM learning.outcome_records WHERE tenant_id = 'rv';

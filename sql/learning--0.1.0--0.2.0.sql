-- learning 0.1.0 -> 0.2.0: run by ALTER EXTENSION learning UPDATE after the
-- 0.2.0 library is installed and the server restarted.  Each section below
-- owns one concern of the release, in the order the changes depend on each
-- other; every object it creates or replaces carries a COMMENT ON, as in the
-- install script (sql/parts/), which holds the same definitions.

\echo Use "ALTER EXTENSION learning UPDATE TO '0.2.0'" to load this file. \quit

-- ======================================================================
-- Security: pinned search_path, internal functions closed to PUBLIC,
-- trigger functions bound to the extension's tables, webhooks written only
-- through their functions, private networks refused.
-- ======================================================================



-- ======================================================================
-- Coaching and calibration: false-discovery control and exact tests.
-- ======================================================================



-- ======================================================================
-- Pictures: reliability diagram and the manager's page.
-- ======================================================================



-- ======================================================================
-- Workers: a bounded pool serving every database; a fair relay.
-- ======================================================================



-- ======================================================================
-- Events, locks and jobs at scale; the write path.
-- ======================================================================



-- ======================================================================
-- Housekeeping.
-- ======================================================================


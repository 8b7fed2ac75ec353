-- learning extension install script (assembled from sql/parts/*.sql by the Makefile).
-- Every section below owns one concern; every function carries a COMMENT ON.

\echo Use "CREATE EXTENSION learning" to load this file. \quit

CREATE SCHEMA IF NOT EXISTS learning_api;
COMMENT ON SCHEMA learning IS 'learning: outcomes, signals, feedback, calibration, coaching and dashboards for AI sales agents';
COMMENT ON SCHEMA learning_api IS 'learning: the HTTP surface served by PostgREST (db-schemas = learning_api)';

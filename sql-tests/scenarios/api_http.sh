#!/usr/bin/env bash
# api_http.sh: the HTTP API (api/README.md) as PostgREST 12 uses it.
#
# PostgREST itself is not installed here: api_http_test.py replays, for each
# request, the exact SQL PostgREST sends (pgrst_replay.py) on a connection
# logged in as the authenticator role, and maps SQLSTATEs to HTTP statuses
# with PostgREST's table.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
. test/lib.sh
PORT=56120
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

start_cluster api_http $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - api_http cluster starts"; exit 1; }
trap 'stop_cluster api_http' EXIT

# The authenticator as api/README.md sets it up; app_user uses the SQL API
# directly (member of learning_app); app_plain has table privileges only;
# sales_intern is a role granted to the authenticator that is not one of ours.
q $PORT postgres "CREATE DATABASE api" >/dev/null && q $PORT postgres "CREATE DATABASE api2" >/dev/null
q $PORT api "CREATE EXTENSION learning" >/dev/null || { echo "not ok - CREATE EXTENSION learning"; exit 1; }
q $PORT api "
    DO \$\$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT;
      END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_user') THEN CREATE ROLE app_user LOGIN; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_plain') THEN CREATE ROLE app_plain NOLOGIN; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sales_intern') THEN CREATE ROLE sales_intern NOLOGIN; END IF;
    END \$\$;
    GRANT learning_anon, learning_rep, learning_manager, learning_executive, learning_service TO authenticator;
    GRANT learning_rep TO sales_intern;
    GRANT sales_intern TO authenticator;
    GRANT learning_app, app_plain TO app_user;
    GRANT USAGE ON SCHEMA learning TO app_plain;
    GRANT SELECT ON learning.outcome_records TO app_plain;" >/dev/null

DSN="host=$TEST_ROOT port=$PORT dbname=api"
"$PY" sql-tests/scenarios/api_http_test.py "$DSN user=authenticator" "$DSN user=postgres" "$DSN user=app_user" "$ROOT"
rc=$?
[ $rc -eq 0 ] || echo "not ok - api_http_test.py exited with $rc"

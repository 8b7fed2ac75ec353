#!/usr/bin/env bash
# router_api.sh: the HTTP API (learning_api, for PostgREST) served by a
# router in front of two shards.  PostgREST is not installed here: the test
# replays the SQL PostgREST sends (pgrst_replay.py) as the authenticator role
# on the router.  The router checks the token's role and claims and calls the
# claimed tenant's shard; the shards are reached only as the router's own
# login role (user mapping of learning_definer).  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
R=56338; S=56339
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
export PGOPTIONS="-c client_min_messages=warning"
if [ ! -f "$("$PGBIN/pg_config" --sharedir)/extension/plproxy.control" ]; then
    echo "not ok - PL/Proxy is not installed for $("$PGBIN/pg_config" --bindir)"; exit 1
fi
start_cluster router_api_r $R || { echo "not ok - router cluster starts"; exit 1; }
start_cluster router_api_s $S "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - shard cluster starts"; exit 1; }
trap 'stop_cluster router_api_r; stop_cluster router_api_s' EXIT

# shards: the router's login role is a member of learning_app (SQL API with the tenant passed)
q $S postgres "CREATE ROLE learning_router_api LOGIN" >/dev/null
for db in s0 s1; do
    q $S postgres "CREATE DATABASE $db" >/dev/null && q $S $db "CREATE EXTENSION learning" >/dev/null
done
q $S postgres "GRANT learning_app TO learning_router_api" >/dev/null
# router: learning_router, the shard list, the API's definer mapped to that role, the authenticator
q $R postgres "CREATE DATABASE router" >/dev/null
q $R router "CREATE EXTENSION learning_router CASCADE" >/dev/null
tap_ok $? "learning_router installs learning_api and its roles on the router"
q $R router "SELECT learning_router.set_shards(ARRAY['host=$TEST_ROOT port=$S dbname=s0', 'host=$TEST_ROOT port=$S dbname=s1'])" >/dev/null
q $R router "CREATE USER MAPPING FOR learning_definer SERVER learning_shards OPTIONS (user 'learning_router_api');
             CREATE ROLE authenticator LOGIN NOINHERIT;
             GRANT learning_anon, learning_rep, learning_manager, learning_executive, learning_service TO authenticator;" >/dev/null
tap_ok $? "authenticator and the definer's user mapping on the router"

"$PY" sql-tests/scenarios/router_api_test.py "host=$TEST_ROOT port=$R dbname=router user=authenticator" \
    "host=$TEST_ROOT port=$R dbname=router user=postgres" "host=$TEST_ROOT port=$S user=postgres" "$ROOT"
rc=$?
[ $rc -eq 0 ] || echo "not ok - router_api_test.py exited with $rc"

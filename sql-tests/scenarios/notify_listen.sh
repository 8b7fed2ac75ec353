#!/usr/bin/env bash
# notify_listen.sh: LISTEN/NOTIFY and the outbox with a real
# LISTEN client (sql-tests/scenarios/notify_client.py, Debian's
# python3-psycopg2) against its own cluster.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
PORT=56210
start_cluster notify $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - notify cluster starts"; exit 1; }
trap 'stop_cluster notify' EXIT
q $PORT postgres "CREATE DATABASE notify" >/dev/null
q $PORT notify "CREATE EXTENSION learning" >/dev/null
/usr/bin/python3 sql-tests/scenarios/notify_client.py "$TEST_ROOT" $PORT notify

#!/usr/bin/env bash
# readme_tour.sh: the README's "A short tour" runs as it is, twice, in a
# database holding the demo's sample data (scripts/sample_data.sql) with the
# extension already created, as in the demo.  Every statement must succeed
# and no result may be a wall of text.  Prints TAP lines.
set -u
cd "$(dirname "$0")/../.."
. test/lib.sh
PORT=56160
start_cluster readme_tour $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - readme_tour cluster starts"; exit 1; }
trap 'stop_cluster readme_tour' EXIT
q $PORT postgres "CREATE DATABASE demo" >/dev/null
"$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d demo -qX -v ON_ERROR_STOP=1 \
    -c 'CREATE EXTENSION learning' -f scripts/sample_data.sql >/dev/null 2>"$TEST_ROOT/readme_tour.err"
tap_ok $? "scripts/sample_data.sql loads"

# the first ```sql block after "## A short tour"
awk '/^## A short tour/ {t = 1} t && /^```sql/ {s = 1; next} s && /^```/ {exit} s' README.md >"$TEST_ROOT/tour.sql"
tap_ok "$(grep -q 'CREATE EXTENSION' "$TEST_ROOT/tour.sql"; echo $?)" "the tour is found in README.md"
for run in 1 2; do
    "$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d demo -X -v ON_ERROR_STOP=1 -f "$TEST_ROOT/tour.sql" \
        >"$TEST_ROOT/tour.out" 2>&1
    tap_ok $? "run $run of the tour succeeds in the demo database"
done
grep -E 'ERROR|FATAL' "$TEST_ROOT/tour.out" | head -3
long=$(awk 'length > 300' "$TEST_ROOT/tour.out" | wc -l)
tap_is "$long" 0 "no output line of the tour is longer than 300 characters"
lines=$(wc -l <"$TEST_ROOT/tour.out")
tap_ok "$([ "$lines" -lt 150 ]; echo $?)" "the tour prints under 150 lines ($lines)"

# progress of long work: rebuild_rollups (run by set_tenant_time_zone) reports its seven steps
steps=$("$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U postgres -d demo -X -c 'SET client_min_messages = debug1' \
            -c "SELECT learning.set_tenant_time_zone('acme', 'Asia/Tokyo')" 2>&1 | grep -c "rebuild_rollups('acme'): step [1-7]/7")
tap_is "$steps" 7 "rebuild_rollups reports its seven steps (DEBUG1 when quick, NOTICE at most once a second when slow)"

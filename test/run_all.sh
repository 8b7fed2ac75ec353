#!/usr/bin/env bash
# test/run_all.sh: every test suite of the extension, against real servers with
# the installed extension loaded.  Run as the postgres user (the server refuses
# root) from a folder that user can write, after "make install" as root.
#
#   1. pg_regress suites (sql-tests/regress/*.sql, outputs in expected/) on a
#      temporary instance with learning preloaded;
#   2. pgTAP behaviour suites (sql-tests/tap/*.sql) with pg_prove;
#   3. isolation specs (sql-tests/isolation/specs/*.spec);
#   4. scenario scripts (sql-tests/scenarios/*.sh): workers, restarts, HTTP,
#      each starting the clusters and processes it needs.
#
# Ends with one line "N passed, N failed" and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export TEST_ROOT=$ROOT/build
. test/lib.sh
mkdir -p "$TEST_ROOT"
PGXS_DIR=$(dirname "$(pg_config --pgxs)")/..
PG_REGRESS=$PGXS_DIR/test/regress/pg_regress
PG_ISOLATION=$PGXS_DIR/test/isolation/pg_isolation_regress
ONLY=${ONLY:-}            # e.g. ONLY=regress,tap to run a subset
passed=0; failed=0
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

count_tap() {  # reads TAP-ish lines on stdin, adds to the totals
    local p f
    p=$(grep -cE '^[[:space:]]*ok ([0-9]+|-)' "$1" || true)
    f=$(grep -cE '^[[:space:]]*not ok ([0-9]+|-)' "$1" || true)
    passed=$((passed + p)); failed=$((failed + f))
}

# 1. pg_regress: PG15 wants sql/ and expected/ under one input folder; stage links.
if want regress; then
    rm -rf "$TEST_ROOT/regress"; mkdir -p "$TEST_ROOT/regress"
    ln -s "$ROOT/sql-tests/regress" "$TEST_ROOT/regress/sql"
    ln -s "$ROOT/expected" "$TEST_ROOT/regress/expected"
    tests=$(cd sql-tests/regress && ls *.sql | sed 's/\.sql$//' | sort)
    "$PG_REGRESS" --temp-instance="$TEST_ROOT/regress/tmp_check" --temp-config=test/learning.conf \
        --bindir="$(pg_config --bindir)" \
        --inputdir="$TEST_ROOT/regress" --outputdir="$TEST_ROOT/regress" \
        --dbname=contrib_regression --port=55410 $tests >"$TEST_ROOT/regress.log" 2>&1
    cat "$TEST_ROOT/regress.log"
    p=$(grep -cE '^(ok|test) .*(\.\.\.|-) +ok|^ok [0-9]+ ' "$TEST_ROOT/regress.log" || true)
    f=$(grep -cE 'FAILED|failed \(ignored\)|^not ok' "$TEST_ROOT/regress.log" || true)
    passed=$((passed + p)); failed=$((failed + f))
    [ -f "$TEST_ROOT/regress/regression.diffs" ] && head -200 "$TEST_ROOT/regress/regression.diffs"
fi

# 2 and 3 share one cluster.
if want tap || want isolation; then
    start_cluster suite 55411 "shared_preload_libraries = 'learning'" "learning.enabled = off" || { echo "not ok - suite cluster"; failed=$((failed+1)); }
fi
if want tap; then
    q 55411 postgres "CREATE DATABASE tap" >/dev/null
    q 55411 tap "CREATE EXTENSION pgtap; CREATE EXTENSION learning" >/dev/null
    pg_prove -v -h "$TEST_ROOT" -p 55411 -U postgres -d tap sql-tests/tap/*.sql >"$TEST_ROOT/tap.log" 2>&1
    cat "$TEST_ROOT/tap.log"
    count_tap "$TEST_ROOT/tap.log"
    # a file that dies before its plan is done counts as a failure too
    grep -qE '^Result: PASS' "$TEST_ROOT/tap.log" || { grep -q 'not ok' "$TEST_ROOT/tap.log" || failed=$((failed + 1)); }
fi
if want isolation; then
    q 55411 postgres "CREATE DATABASE isolation_regression" >/dev/null
    q 55411 isolation_regression "CREATE EXTENSION learning" >/dev/null
    specs=$(cd sql-tests/isolation/specs && ls *.spec | sed 's/\.spec$//' | sort)
    rm -rf "$TEST_ROOT/isolation"; mkdir -p "$TEST_ROOT/isolation"
    "$PG_ISOLATION" --use-existing --host="$TEST_ROOT" --port=55411 --user=postgres --dbname=isolation_regression \
        --inputdir=sql-tests/isolation --outputdir="$TEST_ROOT/isolation" $specs >"$TEST_ROOT/isolation.log" 2>&1
    cat "$TEST_ROOT/isolation.log"
    p=$(grep -cE '^(ok|test|permutation) .*(\.\.\.|-) +ok|^ok [0-9]+ ' "$TEST_ROOT/isolation.log" || true)
    f=$(grep -cE 'FAILED|^not ok' "$TEST_ROOT/isolation.log" || true)
    passed=$((passed + p)); failed=$((failed + f))
    [ -f "$TEST_ROOT/isolation/regression.diffs" ] && head -100 "$TEST_ROOT/isolation/regression.diffs"
fi
if want tap || want isolation; then stop_cluster suite; fi

# 4. scenario scripts
if want scenarios; then
    for s in sql-tests/scenarios/*.sh; do
        [ -e "$s" ] || continue
        echo "# scenario $s"
        timeout 600 bash "$s" >"$TEST_ROOT/scenario.log" 2>&1
        rc=$?
        cat "$TEST_ROOT/scenario.log"
        count_tap "$TEST_ROOT/scenario.log"
        if [ $rc -ne 0 ] && ! grep -q '^not ok' "$TEST_ROOT/scenario.log"; then
            echo "not ok - $s exited with $rc"; failed=$((failed + 1))
        fi
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

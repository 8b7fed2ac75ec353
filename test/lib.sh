# test/lib.sh: helpers for the test suites, sourced by test/run_all.sh and by
# the scenario scripts in sql-tests/scenarios/.  Runs as the postgres user.
#
# Scenario scripts print TAP lines ("ok - what", "not ok - what"); run_all.sh
# counts them.

PGBIN=${PGBIN:-$(pg_config --bindir)}
TEST_ROOT=${TEST_ROOT:-$(pwd)/build}

# start_cluster NAME PORT [extra postgresql.conf lines...]: a fresh cluster in
# $TEST_ROOT/NAME listening on a unix socket in $TEST_ROOT only.
start_cluster() {
    local name=$1 port=$2; shift 2
    local dir=$TEST_ROOT/$name
    rm -rf "$dir"; mkdir -p "$dir"
    "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
    {
        echo "port = $port"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$TEST_ROOT'"
        echo "fsync = off"
        echo "max_worker_processes = 32"
        echo "max_prepared_transactions = 10"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { tail -20 "$dir/server.log"; return 1; }
}

# stop_cluster NAME
stop_cluster() {
    "$PGBIN/pg_ctl" -D "$TEST_ROOT/$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# q PORT DB SQL: one value, unaligned, errors to stderr.
q() {
    "$PGBIN/psql" -h "$TEST_ROOT" -p "$1" -d "$2" -U postgres -XAtq -v ON_ERROR_STOP=1 -c "$3"
}

# ok CONDITION-EXIT-CODE DESCRIPTION: prints a TAP line.
tap_ok() {
    if [ "$1" -eq 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi
}

# is GOT WANT DESCRIPTION
tap_is() {
    if [ "$1" == "$2" ]; then echo "ok - $3"; else echo "not ok - $3 (got '$1', want '$2')"; fi
}

# wait_for PORT DB SQL SECONDS: polls until SQL returns t, or times out (returns 1).
wait_for() {
    local port=$1 db=$2 sql=$3 secs=${4:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(q "$port" "$db" "$sql" 2>/dev/null)" == "t" ] && return 0
        sleep 0.1
    done
    return 1
}

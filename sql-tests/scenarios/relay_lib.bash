# sql-tests/scenarios/relay_lib.bash: helpers of the relay scenarios
# (relay_*.sh) and of bench/relay.sh, sourced after test/lib.sh.  Every process
# started here is remembered by pid and stopped by relay_cleanup (an EXIT trap).

RELAY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RELAY_PIDS=()
RELAY_CLUSTERS=()
RELAY_NGINX=()

# relay_cleanup stops the receivers, nginx and the clusters this script started.
relay_cleanup() {
    local p
    for p in "${RELAY_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${RELAY_NGINX[@]}"; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
    for p in "${RELAY_CLUSTERS[@]}"; do stop_cluster "$p"; done
    wait 2>/dev/null
}

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT.
wait_port() {
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# start_rx MODE PORT LOGFILE [SECRET]: a Python receiver (relay_receiver.py).
start_rx() {
    : >"$3"
    python3 "$RELAY_DIR/relay_receiver.py" "$@" >>"$3.stderr" 2>&1 &
    RELAY_PIDS+=($!)
    wait_port "$2" 10
}

# relay_pid PORT DB: pid of the database's relay worker (empty if none).
relay_pid() {
    q "$1" postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'learning relay' AND datname = '$2' LIMIT 1" 2>/dev/null
}

# wait_relay PORT DB [SECONDS] [NOT_PID]: until the database has a relay worker
# (other than NOT_PID); the launcher starts it (launcher.c).
wait_relay() {
    local port=$1 db=$2 secs=${3:-20} not=${4:-} i p
    for ((i = 0; i < secs * 10; i++)); do
        p=$(relay_pid "$port" "$db")
        if [ -n "$p" ] && [ "$p" != "$not" ]; then echo "$p"; return 0; fi
        sleep 0.1
    done
    return 1
}

# start_nchan PREFIX PUB_PORT SUB_PORT: runs api/nginx-nchan.conf, unprivileged,
# with its own prefix and the two loopback ports.
start_nchan() {
    local prefix=$1 pub=$2 sub=$3
    rm -rf "$prefix"; mkdir -p "$prefix/logs" "$prefix/tmp"
    sed -e "s/127\.0\.0\.1:8090/127.0.0.1:$pub/; s/127\.0\.0\.1:8080/127.0.0.1:$sub/" \
        "$RELAY_DIR/../../api/nginx-nchan.conf" >"$prefix/nginx.conf"
    nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/startup.log" || { cat "$prefix/logs/startup.log"; return 1; }
    RELAY_NGINX+=("$prefix/nginx.pid")
    wait_port "$pub" 10 && wait_port "$sub" 10
}

# now_s: wall clock in seconds with microseconds.
now_s() { date +%s.%6N; }

# emit PORT DB TENANT TYPE PAYLOAD: commits one event (its own transaction)
# and prints its id (the tenant's newest: the scenarios write no others).
emit() {
    q "$1" "$2" "SELECT learning.emit_event('$3', '$4', '$5')" >/dev/null &&
        q "$1" "$2" "SELECT max(id) FROM learning.events WHERE tenant_id = '$3'"
}

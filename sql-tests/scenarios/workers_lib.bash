# workers_lib.bash: helpers shared by the workers_*.sh scenarios (sourced after
# test/lib.sh).  Worker pids come from pg_stat_activity (scheduler, launcher)
# or from learning.job_schedule() (the relay, which may not connect).
# Database workers come from a pool and run only while their database has
# work: busy_relay gives a database a relay that stays (a POST in flight to
# an endpoint that never answers, relay_blackhole.py, with a long
# learning.webhook_timeout set by the scenario).

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

# worker_pid PORT DB TYPE: pid of the learning worker of that type connected
# to DB ('' for the launcher, which connects to no database), or nothing.
worker_pid() {
    if [ -z "$3" ] || [ "$3" == launcher ]; then
        q "$1" postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'learning launcher'" 2>/dev/null
    else
        q "$1" postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'learning $3' AND datname = '$2'" 2>/dev/null
    fi
}

# wait_new_pid PORT DB TYPE OLDPID SECONDS: waits until a worker of that type
# runs with a pid other than OLDPID; prints it, returns 1 on timeout.
wait_new_pid() {
    local i p
    for ((i = 0; i < $5 * 10; i++)); do
        p=$(worker_pid "$1" "$2" "$3")
        if [ -n "$p" ] && [ "$p" != "$4" ] && [[ "$p" != *$'\n'* ]]; then echo "$p"; return 0; fi
        sleep 0.1
    done
    return 1
}

# relay_pid PORT DB: the relay's pid as the launcher recorded it.
relay_pid() {
    q "$1" "$2" "SELECT relay_pid FROM learning.job_schedule() LIMIT 1" 2>/dev/null
}

# scheduler_runs PORT DB [WHERE]: job_runs rows written by the scheduler.
scheduler_runs() {
    q "$1" "$2" "SELECT count(*) FROM learning.job_runs WHERE run_by = 'scheduler' ${3:+AND $3}"
}

# all_intervals VALUE: postgresql.conf lines setting the five job intervals.
all_intervals() {
    local j
    for j in immediate_signals engagement_signals deal_progression expire_overdue calibration_check; do
        echo "learning.${j}_interval = '$1'"
    done
}

# wait_gone PID SECONDS: waits until the process is gone; 1 on timeout or no pid.
wait_gone() {
    local i
    [ -n "$1" ] || return 1
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# tap_prompt PORT DB SQL MAX_MS DESCRIPTION: runs SQL, passes when it succeeds
# within MAX_MS (the elapsed time is printed with the description).
tap_prompt() {
    local t0 rc el
    t0=$(now_ms)
    q "$1" "$2" "$3" >/dev/null
    rc=$?; el=$(( $(now_ms) - t0 ))
    tap_ok $(( rc != 0 || el > $4 )) "$5 ($el ms)"
}

# wait_scheduler PORT DB SECONDS: waits until exactly one scheduler runs in DB.
wait_scheduler() {
    wait_for "$1" postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'learning scheduler' AND datname = '$2'" "$3"
}

# start_blackhole PORT: an endpoint that accepts connections and never
# answers; its pid is in BLACKHOLE_PID (stopped by stop_blackhole).
start_blackhole() {
    python3 sql-tests/scenarios/relay_blackhole.py "$1" 1 "$TEST_ROOT/blackhole-$1.stats" 2>/dev/null &
    BLACKHOLE_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
stop_blackhole() { [ -n "${BLACKHOLE_PID:-}" ] && kill "$BLACKHOLE_PID" 2>/dev/null; }

# busy_relay PORT DB BLACKHOLE_PORT: a webhook to the endpoint that never
# answers and one event for it: the database's relay starts and stays while
# the POST is in flight.
busy_relay() {
    q "$1" "$2" "SELECT learning.create_webhook('http://127.0.0.1:$3/never', NULL, 'busy')" >/dev/null &&
        q "$1" "$2" "SELECT learning.emit_event('busy', 'job_completed', '{}')" >/dev/null
}

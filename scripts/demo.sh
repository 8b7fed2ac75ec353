#!/usr/bin/env bash
# scripts/demo.sh: run the product on a fresh Debian 12 machine, as root.
#
# What it does, in order (it says so again before each step that changes the
# system outside its own folder):
#   1. installs the Debian packages the build needs, if missing (apt-get);
#   2. builds the extension and installs it into the PostgreSQL of PG_CONFIG;
#   3. starts a throwaway cluster in $DEMO_DIR/data (port $PORT, unix socket in
#      $DEMO_DIR only) with learning preloaded and its jobs running every 30 s;
#   4. with nginx and the nchan module installed, starts the live SSE feed:
#      an unprivileged nginx (api/nginx-nchan.conf) on 127.0.0.1:$LIVE_PORT
#      that also serves the pictures, and the relay publishing to it; then
#      loads sample data into database "demo" (with a backlog the jobs work
#      through in the first minute, announced on the feed);
#   5. writes the manager's page and the reliability diagrams to
#      $DEMO_DIR/pictures and prints where they are; then opens psql.
#
# Settings (environment):
#   DEMO_DIR   folder of everything it makes   (default /tmp/learning-demo)
#   PORT       PostgreSQL port                  (default 5499)
#   LIVE       auto | on | off: the live feed   (default auto: on when nginx + nchan are there)
#   LIVE_PORT, PUB_PORT   nginx subscriber and publisher ports (default 8080, 8090)
#   PG_CONFIG  pg_config of the PostgreSQL to build for and install into
#              (default /usr/lib/postgresql/15/bin/pg_config)
#   PGBIN      its binaries (default: PG_CONFIG --bindir)
#
# Stop it: the last lines it prints say how.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
DEMO=${DEMO_DIR:-/tmp/learning-demo}
PORT=${PORT:-5499}
LIVE=${LIVE:-auto}
LIVE_PORT=${LIVE_PORT:-8080}
PUB_PORT=${PUB_PORT:-8090}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
say() { echo "demo: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: run me as root (I install packages and the extension, then run PostgreSQL as the postgres user)" >&2
    exit 1
fi
case "$DEMO" in /*) ;; *) echo "demo: DEMO_DIR must be an absolute path" >&2; exit 1 ;; esac

# 1. packages -----------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in make gcc libc6-dev postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages system-wide with apt-get: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x "$PG_CONFIG" ] || { echo "demo: no pg_config at $PG_CONFIG (set PG_CONFIG)" >&2; exit 1; }
PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
id postgres >/dev/null 2>&1 || { echo "demo: there is no postgres user (install postgresql-15)" >&2; exit 1; }

# 2. build and install --------------------------------------------------------
make -s -C "$SRC" PG_CONFIG="$PG_CONFIG" >/dev/null
say "installing the extension into $("$PG_CONFIG" --pkglibdir) and $("$PG_CONFIG" --sharedir)/extension"
make -s -C "$SRC" PG_CONFIG="$PG_CONFIG" install >/dev/null

# 3. the cluster --------------------------------------------------------------
if [ -f "$DEMO/data/postmaster.pid" ]; then
    su postgres -c "'$PGBIN/pg_ctl' -D '$DEMO/data' -m fast stop" >/dev/null || true
fi
if [ -f "$DEMO/nginx/nginx.pid" ]; then   # the previous run's nginx
    kill "$(cat "$DEMO/nginx/nginx.pid")" 2>/dev/null || true
    sleep 0.5
fi
rm -rf "$DEMO"; mkdir -p "$DEMO/pictures"; chown -R postgres "$DEMO"
cp "$SRC/scripts/sample_data.sql" "$DEMO/"

NGINX=$(command -v nginx || true)   # absolute: the postgres user's PATH may lack /usr/sbin
if [ "$LIVE" = auto ]; then
    if [ -n "$NGINX" ] && [ -f "$NCHAN_MODULE" ]; then LIVE=on; else LIVE=off; fi
fi
if [ "$LIVE" = on ] && ! { [ -n "$NGINX" ] && [ -f "$NCHAN_MODULE" ]; }; then
    echo "demo: LIVE=on needs nginx and nchan: apt-get install nginx libnginx-mod-nchan" >&2
    exit 1
fi

su postgres -c "'$PGBIN/initdb' -D '$DEMO/data' -A trust -U postgres >/dev/null"
cat >>"$DEMO/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
shared_preload_libraries = 'learning'
learning.immediate_signals_interval = '30s'
learning.engagement_signals_interval = '30s'
learning.deal_progression_interval = '30s'
learning.expire_overdue_interval = '30s'
learning.calibration_check_interval = '1min'
CONF
if [ "$LIVE" = on ]; then
    echo "learning.sse_publish_url = 'http://127.0.0.1:$PUB_PORT/pub'" >>"$DEMO/data/postgresql.conf"
fi
PSQL="'$PGBIN/psql' -h '$DEMO' -p $PORT -U postgres"
su postgres -c "'$PGBIN/pg_ctl' -D '$DEMO/data' -l '$DEMO/server.log' -w start >/dev/null"
su postgres -c "'$PGBIN/createdb' -h '$DEMO' -p $PORT -U postgres demo"
su postgres -c "$PSQL -d demo -qX -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION learning'"

# 4. the live feed, before the data so that the jobs' work shows live ------------
SSE_ARG=NULL
if [ "$LIVE" = on ]; then
    # nchan always registers nginx's compiled-in client body folder; an
    # unprivileged nginx starts only if it exists.
    if [ ! -d /var/lib/nginx/body ]; then
        say "creating /var/lib/nginx/body (nginx's built-in client body folder, which nchan needs)"
        install -d -m 700 -o www-data -g root /var/lib/nginx/body
    fi
    mkdir -p "$DEMO/nginx/logs" "$DEMO/nginx/tmp"
    # api/nginx-nchan.conf with the demo's ports, and the pictures served on the subscriber port
    sed -e "s/127\.0\.0\.1:8090/127.0.0.1:$PUB_PORT/" \
        -e "s|listen 127\.0\.0\.1:8080;|listen 127.0.0.1:$LIVE_PORT;\n        location /pictures/ { alias $DEMO/pictures/; }|" \
        "$SRC/api/nginx-nchan.conf" >"$DEMO/nginx/nginx.conf"
    chown -R postgres "$DEMO/nginx"
    su postgres -c "'$NGINX' -p '$DEMO/nginx' -c '$DEMO/nginx/nginx.conf' -e '$DEMO/nginx/logs/startup.log'" \
        || { cat "$DEMO/nginx/logs/startup.log" >&2; exit 1; }
    # the tenants' channels: the relay publishes their events from now on
    su postgres -c "$PSQL -d demo -qXAt -c \"SELECT learning.sse_channel('acme'), learning.sse_channel('globex')\"" >/dev/null
    SSE_ARG="'http://127.0.0.1:$LIVE_PORT'"
fi

say "loading sample data (a minute of work for the jobs is left pending)"
su postgres -c "$PSQL -d demo -qX -v ON_ERROR_STOP=1 -f '$DEMO/sample_data.sql' >/dev/null"

# 5. the pictures ---------------------------------------------------------------
for t in acme globex; do
    su postgres -c "$PSQL -d demo -qXAt -v ON_ERROR_STOP=1 -o '$DEMO/pictures/dashboard-$t.html' \
        -c \"SELECT learning.dashboard_page('$t', 30, $SSE_ARG)\""
    for a in $(su postgres -c "$PSQL -d demo -qXAt -c \"SELECT DISTINCT action_type FROM learning.calibration_bins WHERE tenant_id = '$t' ORDER BY 1\""); do
        su postgres -c "$PSQL -d demo -qXAt -v ON_ERROR_STOP=1 -o '$DEMO/pictures/reliability-$t-$a.svg' \
            -c \"SELECT learning.reliability_diagram('$t', '$a')\""
    done
done

echo
say "cluster:  psql -h $DEMO -p $PORT -U postgres demo   (as the postgres user)"
say "pictures: $DEMO/pictures/"
ls -1 "$DEMO/pictures" | sed "s|^|          |"
if [ "$LIVE" = on ]; then
    say "live:     http://127.0.0.1:$LIVE_PORT/pictures/dashboard-acme.html  (the page's Live section counts the events the jobs announce)"
    say "          curl -N -H 'Accept: text/event-stream' http://127.0.0.1:$LIVE_PORT/sub/\$(psql ... -Atc \"SELECT learning.sse_channel('acme')\")"
else
    say "live:     off (install nginx and libnginx-mod-nchan, or set LIVE=on, for the SSE feed)"
fi
say "stop:     su postgres -c \"$PGBIN/pg_ctl -D $DEMO/data stop\""
[ "$LIVE" = on ] && say "          su postgres -c \"$NGINX -p $DEMO/nginx -c $DEMO/nginx/nginx.conf -s stop\""
say "try the tour in README.md: it runs as it is in this database"
if [ -t 0 ]; then
    exec su postgres -c "$PSQL demo"
fi

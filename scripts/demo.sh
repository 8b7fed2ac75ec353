#!/usr/bin/env bash
# scripts/demo.sh: run the product on a fresh Debian 12 machine, as root.
# Installs the packages, builds and installs the extension, starts a throwaway
# cluster in /tmp/learning-demo with learning preloaded (its jobs running every
# 30 seconds), loads sample data and opens psql on it.  Stop it with
#   su postgres -c "pg_ctl -D /tmp/learning-demo/data stop"
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PORT=${PORT:-5499}
DEMO=/tmp/learning-demo
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s postgresql-server-dev-15 libcurl4-openssl-dev >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends make gcc libc6-dev postgresql-15 \
        postgresql-server-dev-15 libcurl4-openssl-dev >/dev/null
fi
export PATH=/usr/lib/postgresql/15/bin:$PATH
make -s -C "$SRC" && make -s -C "$SRC" install >/dev/null

if [ -f "$DEMO/data/postmaster.pid" ]; then
    su postgres -c "pg_ctl -D $DEMO/data -m fast stop" >/dev/null || true
fi
rm -rf "$DEMO"; mkdir -p "$DEMO"; chown postgres "$DEMO"
cp "$SRC/scripts/sample_data.sql" "$DEMO/"
su postgres -c "PATH=$PATH; initdb -D $DEMO/data -A trust -U postgres >/dev/null
cat >> $DEMO/data/postgresql.conf <<CONF
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
pg_ctl -D $DEMO/data -l $DEMO/server.log -w start >/dev/null
createdb -h $DEMO -p $PORT -U postgres demo
psql -h $DEMO -p $PORT -U postgres -d demo -qX -c 'CREATE EXTENSION learning' -f $DEMO/sample_data.sql >/dev/null"
echo "learning demo cluster: psql -h $DEMO -p $PORT -U postgres demo"
echo "try: SELECT jsonb_pretty(learning.calibration_curve('acme', 'send_email'));"
if [ -t 0 ]; then
    exec su postgres -c "PATH=$PATH psql -h $DEMO -p $PORT -U postgres demo"
fi

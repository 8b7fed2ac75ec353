#!/usr/bin/env bash
# A trusted non-superuser application role (a member of learning_app) that
# plants look-alike operators on its search_path gains nothing: the writes the
# extension makes as the bootstrap superuser at commit (counters, outbox) pin
# their search_path.  Nor can it write the outbox by hand.
set -u
cd "$(dirname "$0")/../.."
export TEST_ROOT=${TEST_ROOT:-$(pwd)/build}
. test/lib.sh
PORT=55423
start_cluster priv $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - cluster starts"; exit 1; }
trap 'stop_cluster priv' EXIT
export PGOPTIONS="-c client_min_messages=warning"
q $PORT postgres "CREATE EXTENSION learning; CREATE ROLE mallory LOGIN; GRANT learning_app TO mallory;
                  CREATE SCHEMA evil AUTHORIZATION mallory" >/dev/null

as_mallory() {
    "$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U mallory -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"
}
# look-alikes of =, + and a few functions the commit-time statements use; each
# tries to make mallory a superuser when it runs as someone else
as_mallory "
CREATE FUNCTION evil.pwn_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN IF current_user <> 'mallory' THEN EXECUTE 'ALTER ROLE mallory SUPERUSER'; END IF;
      RETURN pg_catalog.texteq(\$1, \$2); END \$\$;
CREATE OPERATOR evil.= (leftarg = text, rightarg = text, function = evil.pwn_eq);
CREATE FUNCTION evil.pwn_plus(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS \$\$
BEGIN IF current_user <> 'mallory' THEN EXECUTE 'ALTER ROLE mallory SUPERUSER'; END IF;
      RETURN pg_catalog.int8pl(\$1, \$2); END \$\$;
CREATE OPERATOR evil.+ (leftarg = bigint, rightarg = bigint, function = evil.pwn_plus);
CREATE FUNCTION evil.pwn_plus8(float8, float8) RETURNS float8 LANGUAGE plpgsql AS \$\$
BEGIN IF current_user <> 'mallory' THEN EXECUTE 'ALTER ROLE mallory SUPERUSER'; END IF;
      RETURN pg_catalog.float8pl(\$1, \$2); END \$\$;
CREATE OPERATOR evil.+ (leftarg = float8, rightarg = float8, function = evil.pwn_plus8);" >/dev/null
tap_ok $? "mallory plants look-alike operators in her own schema"

out=$("$PGBIN/psql" -h "$TEST_ROOT" -p $PORT -U mallory -d postgres -XAtq -v ON_ERROR_STOP=1 2>&1 <<'SQL'
SET search_path = evil, pg_catalog, public;
SELECT learning.record_outcome('acme', 'c1', 'send_email', 0.5, 'email_engagement') AS id \gset
SELECT status FROM learning.resolve_outcome('acme', :'id', 'positive');
SELECT learning.record_outcome('acme', 'c1', 'send_email', 0.5, 'email_engagement');
SELECT round(learning.brier_score('acme', 'send_email')::numeric, 4);
SQL
)
tap_ok $? "mallory records and resolves outcomes with that search_path"
echo "$out" | grep -q "^0.2500$"
tap_ok $? "the counters are right (Brier 0.25 from one resolution at 0.5)"
tap_is "$(q $PORT postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" "f" \
    "no look-alike ran as the superuser: mallory is not a superuser"
tap_is "$(q $PORT postgres "SELECT count(*) FROM learning.events WHERE tenant_id = 'acme'")" "3" \
    "the outbox holds the three writes' events"

as_mallory "INSERT INTO learning.events (tenant_id, event_type) VALUES ('acme', 'job_completed')" >/dev/null 2>&1
tap_ok $(( $? == 0 )) "learning_app cannot write the outbox by hand (only the commit-time writer does)"

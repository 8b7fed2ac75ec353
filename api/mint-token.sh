#!/usr/bin/env bash
# mint-token.sh: prints an HS256 JWT for the learning API (PostgREST).
#
#   JWT_SECRET=... api/mint-token.sh ROLE TENANT_ID [SUB] [TTL_SECONDS]
#
# ROLE is rep, manager, executive or service (or a full role name such as
# learning_rep); the token carries {"role", "tenant_id", "sub", "iat", "exp"}.
# JWT_SECRET must be the jwt-secret of api/postgrest.conf (at least 32
# characters).  Needs bash and openssl.  For development and tests: in
# production tokens come from your identity provider.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: JWT_SECRET=... $0 ROLE TENANT_ID [SUB] [TTL_SECONDS]" >&2; exit 2; }
: "${JWT_SECRET:?set JWT_SECRET to the jwt-secret of postgrest.conf}"
role=$1; tenant=$2; sub=${3:-}; ttl=${4:-3600}
case "$role" in learning_*) ;; *) role="learning_$role" ;; esac
[[ "$tenant" =~ ^[A-Za-z0-9_.-]{1,48}$ ]] || { echo "invalid tenant_id: $tenant" >&2; exit 2; }
[[ "$sub" =~ ^[A-Za-z0-9_.@:-]{0,200}$ ]] || { echo "invalid sub: $sub" >&2; exit 2; }
[[ "$ttl" =~ ^[0-9]+$ ]] || { echo "invalid ttl: $ttl" >&2; exit 2; }
now=$(date +%s)
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)
claims="{\"role\":\"$role\",\"tenant_id\":\"$tenant\""
[ -n "$sub" ] && claims="$claims,\"sub\":\"$sub\""
claims="$claims,\"iat\":$now,\"exp\":$((now + ttl))}"
payload=$(printf '%s' "$claims" | b64url)
signature=$(printf '%s' "$header.$payload" | openssl dgst -sha256 -mac HMAC -macopt "key:$JWT_SECRET" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$signature"

# router_lib.bash: helpers shared by the router scenarios (sourced after
# test/lib.sh).

# digest: the answers of every read function for one tenant (timestamps of
# generation removed; numbers rounded to 10 decimals, since counters rebuilt
# on another shard add the same floats in another order); the same SQL runs
# on the router and on a shard.
RJ="CREATE FUNCTION pg_temp.rj(j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS \$\$
    SELECT CASE jsonb_typeof(j)
      WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(k, pg_temp.rj(v)), '{}') FROM jsonb_each(j - 'generated_at') e(k, v))
      WHEN 'array' THEN (SELECT coalesce(jsonb_agg(pg_temp.rj(v) ORDER BY n), '[]') FROM jsonb_array_elements(j) WITH ORDINALITY a(v, n))
      WHEN 'number' THEN to_jsonb(round(j::text::numeric, 10))
      ELSE j END \$\$;
    CREATE FUNCTION pg_temp.rf(f float8) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT round(f::numeric, 10)';"
# EXACT=1: compare without rounding, and without temporary functions (which
# a hot standby cannot create).
J() { if [ -n "${EXACT:-}" ]; then echo "(($1) - 'generated_at')"; else echo "pg_temp.rj($1)"; fi; }
F() { if [ -n "${EXACT:-}" ]; then echo "($1)::text"; else echo "pg_temp.rf($1)"; fi; }
digest_expr() {  # digest_expr TENANT [with_events]: the md5 expression
    local t=$1 ev=${2:-}
    local evsql="''"
    [ -n "$ev" ] && evsql="(SELECT string_agg(e.id || ':' || e.event_type || ':' || e.payload::text, ';' ORDER BY e.id) FROM learning.events_since('$t', 0) e)"
    echo "md5(concat_ws('|',
        $(F "learning.brier_score('$t', 'send_email')"), $(J "learning.calibration_curve('$t', 'send_email', 1)"),
        $(J "learning.calibration_curve('$t', 'qualify')"),
        $(F "learning.adjusted_confidence('$t', 'send_email', 0.7)"), $(F "learning.calibrated_probability('$t', 'book_meeting', 0.6)"),
        $(J "learning.rep_dashboard('$t', NULL, 30)"), $(J "learning.rep_dashboard('$t', 'rep-1', 60)"),
        $(J "learning.manager_dashboard('$t', 30)"), $(J "learning.executive_summary('$t', 30)"),
        $(J "learning.coaching_patterns('$t')"), $(J "learning.top_performing_actions('$t')"), $(J "learning.improvement_areas('$t', 90)"),
        $(J "learning.feedback_summary('$t', 30)"), $(F "learning.feedback_rate('$t', 'rep-1')"),
        (SELECT string_agg(o::text, ';') FROM learning.outcomes_for_conversation('$t', 'conv-$t-3') o),
        (SELECT string_agg(f::text, ';') FROM learning.feedback_for_conversation('$t', 'conv-$t-0') f),
        (SELECT string_agg(o.id::text, ';') FROM learning.pending_outcomes('$t', NULL, false) o),
        $evsql))"
}
digest_pre() { [ -n "${EXACT:-}" ] || echo "$RJ"; }
digest() {  # digest TENANT [with_events]: one statement giving the tenant's digest
    echo "$(digest_pre) SELECT $(digest_expr "$@")"
}
digests() {  # digests "TENANTS" [with_events]: one statement, a line "tenant digest" each
    local t sql=""
    for t in $1; do sql+="${sql:+ UNION ALL }SELECT '$t' || ' ' || $(digest_expr $t ${2:-})"; done
    echo "$(digest_pre) SELECT * FROM ($sql) d ORDER BY 1"
}

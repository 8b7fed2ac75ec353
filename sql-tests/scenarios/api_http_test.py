"""HTTP API tests (api/README.md): every endpoint and every attack it must
withstand, replayed as PostgREST 12 would run it (pgrst_replay.py), as the
authenticator role against a real server.  Prints TAP lines.

Run by api_http.sh, which starts the cluster:  python3 api_http_test.py
DSN_AUTHENTICATOR DSN_SUPERUSER DSN_APP REPO_ROOT
"""

import json
import os
import re
import subprocess
import sys
import uuid

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgrst_replay import PostgRESTReplay, mint  # noqa: E402

DSN_AUTH, DSN_SU, DSN_APP, ROOT = sys.argv[1:5]
SECRET = "test-secret-of-at-least-32-characters!!"
failures = 0


def ok(cond, desc, diag=None):
    global failures
    print(("ok - " if cond else "not ok - ") + desc)
    if not cond:
        failures += 1
        if diag is not None:
            print("#   " + str(diag).replace("\n", "\n#   "))
    sys.stdout.flush()


def expect(resp, status, desc, check=None):
    good = resp.status == status and (check is None or check(resp))
    ok(good, "%s -> %s" % (desc, status), resp)
    return resp


def skip(desc, why):
    print("ok - %s # SKIP %s" % (desc, why))


su = psycopg2.connect(DSN_SU)
su.autocommit = True


def sql(q, p=None):
    with su.cursor() as c:
        c.execute(q, p)
        return c.fetchall() if c.description else None


def token(role, tenant, sub=None):
    """Minted by api/mint-token.sh, the script the README documents."""
    args = [os.path.join(ROOT, "api/mint-token.sh"), role, tenant] + ([sub] if sub else [])
    return subprocess.run(args, env=dict(os.environ, JWT_SECRET=SECRET), check=True,
                          capture_output=True, text=True).stdout.strip()


api = PostgRESTReplay(DSN_AUTH, SECRET)
svcA, repA, rep2A = token("service", "acme", "agent"), token("rep", "acme", "rep-1"), token("rep", "acme", "rep-2")
mgrA, exeA = token("manager", "acme", "mgr-1"), token("executive", "acme", "exe-1")
svcB, repB = token("service", "globex", "agent"), token("rep", "globex", "rep-9")
has_dashboards = sql("SELECT to_regprocedure('learning.rep_dashboard(text,text,integer)') IS NOT NULL")[0][0]

# ---------------------------------------------------------------- catalog
claims = api.verify_token(repA)[0] or {}
ok((claims.get("role"), claims.get("tenant_id"), claims.get("sub")) == ("learning_rep", "acme", "rep-1") and claims["exp"] > claims["iat"],
   "api/mint-token.sh mints an HS256 token PostgREST accepts, with role, tenant_id, sub and exp", claims)
bad_sig = repA[:-2] + ("AA" if not repA.endswith("AA") else "BB")
expect(api.request("GET", "/outcomes", bad_sig), 401, "a token with a bad signature (PGRST301)")

rows = sql("""SELECT c.relname, coalesce(c.reloptions, '{}') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'learning_api' AND c.relkind = 'v' ORDER BY 1""")
ok([r[0] for r in rows] == ["feedback", "outcomes"] and all("security_invoker=true" in r[1] for r in rows),
   "views learning_api.feedback and outcomes exist with security_invoker = true", rows)
rows = sql("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'learning'::regnamespace
              AND c.relname IN ('outcome_records', 'feedback_entries', 'signals', 'calibration_bins', 'events')
              AND c.relrowsecurity AND c.relforcerowsecurity""")
ok(len(rows) == 5, "ENABLE and FORCE ROW LEVEL SECURITY on the tables the API reaches", rows)
rows = sql("""SELECT p.proname, p.prosecdef, p.provolatile, pg_get_userbyid(p.proowner), p.proconfig
                FROM pg_proc p WHERE p.pronamespace = 'learning_api'::regnamespace ORDER BY 1""")
want_vol = {"submit_feedback": "v", "record_outcome": "v", "ingest_signal": "v", "resolve_outcome": "v",
            "events_since": "v", "calibration_curve": "s", "rep_dashboard": "s", "manager_dashboard": "s",
            "executive_summary": "s", "coaching_patterns": "s", "pre_request": "s"}
got_vol = {r[0]: r[2] for r in rows if r[0] in want_vol}
ok(got_vol == want_vol, "the endpoint functions of the table have the expected volatility (writes VOLATILE, reads STABLE)", got_vol)
bad = [r for r in rows if r[0] in want_vol and not (r[1] and r[3] == "learning_definer"
                                                          and r[4] == ["search_path=pg_catalog, pg_temp"])]
ok(not bad, "every endpoint function is SECURITY DEFINER, owned by learning_definer, search_path pinned", bad)
rows = sql("""SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname LIKE 'learning\\_%' ORDER BY 1""")
ok(len(rows) == 7 and not any(r[1] or r[2] or r[3] for r in rows),
   "the seven learning roles exist, none LOGIN, SUPERUSER or BYPASSRLS", rows)
rows = sql("""SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'learning_api'::regnamespace
              AND 'tenant_id' = ANY (coalesce(p.proargnames, '{}'))""")
ok(rows == [], "no learning_api function takes a tenant_id argument (the tenant comes from the token only)", rows)
rows = sql("""SELECT 'schema learning_api' WHERE obj_description('learning_api'::regnamespace, 'pg_namespace') IS NULL
              UNION ALL SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = 'learning_api'::regnamespace
                 AND obj_description(c.oid, 'pg_class') IS NULL
              UNION ALL SELECT c.oid::regclass::text || '.' || a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
               WHERE c.relnamespace = 'learning_api'::regnamespace AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NULL
              UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'learning_api'::regnamespace
                 AND obj_description(p.oid, 'pg_proc') IS NULL""")
ok(rows == [], "COMMENT ON for the schema, every view, view column and function of learning_api (OpenAPI text)", rows)
rows = sql("""SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'learning_api'::regnamespace
              AND p.proname = ANY (%s) AND obj_description(p.oid, 'pg_proc') NOT LIKE E'%%\\n%%'""", (list(want_vol),))
ok(rows == [], "function comments have a summary line and a description (PostgREST's OpenAPI summary/description)", rows)

script = open(os.path.join(ROOT, "sql/learning--%s.sql" % sql("SELECT extversion FROM pg_extension WHERE extname='learning'")[0][0])).read()
upgrades = [f for f in os.listdir(os.path.join(ROOT, "sql")) if re.match(r"learning--.+--.+\.sql$", f)]
last = lambda text: [s.strip() for s in re.sub(r"--[^\n]*", "", text).split(";") if s.strip()][-1]
bad = [f for f in upgrades if last(open(os.path.join(ROOT, "sql", f)).read()) != "NOTIFY pgrst, 'reload schema'"]
ok(last(script) == "NOTIFY pgrst, 'reload schema'" and not bad,
   "the install script and every upgrade script (%d) end with NOTIFY pgrst, 'reload schema'" % len(upgrades), bad)

listener = psycopg2.connect(DSN_SU.replace("dbname=api", "dbname=api2"))
listener.autocommit = True
listener.cursor().execute("LISTEN pgrst")
other = psycopg2.connect(DSN_SU.replace("dbname=api", "dbname=api2"))
other.autocommit = True
other.cursor().execute("CREATE EXTENSION learning")
other.close()
import select  # noqa: E402
for _ in range(50):
    listener.poll()
    if listener.notifies:
        break
    select.select([listener], [], [], 0.1)
ok([n.payload for n in listener.notifies if n.channel == "pgrst"] == ["reload schema"],
   "CREATE EXTENSION learning sends NOTIFY pgrst 'reload schema' (PostgREST reloads its schema cache)",
   listener.notifies)
listener.close()

conf = open(os.path.join(ROOT, "api/postgrest.conf")).read()
settings = dict(re.findall(r'^\s*([a-z0-9-]+)\s*=\s*"?([^"\n]*)"?', conf, re.M))
ok(settings.get("db-schemas") == "learning_api" and settings.get("db-anon-role") == "learning_anon"
   and settings.get("db-pre-request") == "learning_api.pre_request" and settings.get("jwt-role-claim-key") == ".role",
   "api/postgrest.conf serves learning_api with anon role learning_anon and pre-request learning_api.pre_request",
   settings)

# ---------------------------------------------------------------- service writes
r = expect(api.request("POST", "/rpc/record_outcome", svcA,
                       {"conversation_state_id": "conv-1", "action_type": "send_email", "predicted_confidence": 0.8,
                        "outcome_type": "email_engagement", "rep_id": "rep-1"}),
           200, "POST /rpc/record_outcome as service",
           lambda r: r.body["status"] == "pending" and r.access_mode == "READ WRITE")
o1 = r.body.get("outcome_id") if isinstance(r.body, dict) else None
ok(sql("SELECT tenant_id, rep_id FROM learning.outcome_records WHERE id = %s", (o1,)) == [("acme", "rep-1")],
   "the recorded outcome belongs to the token's tenant")
ids = []
for i, (rep, conf_) in enumerate([("rep-1", 0.9), ("rep-2", 0.3), ("rep-2", 0.6)]):
    r = api.request("POST", "/rpc/record_outcome", svcA, {"conversation_state_id": "conv-%d" % (i + 2), "action_type": "send_email",
                                                          "predicted_confidence": conf_, "outcome_type": "email_engagement",
                                                          "rep_id": rep})
    ids.append(r.body.get("outcome_id") if isinstance(r.body, dict) else None)
oB = api.request("POST", "/rpc/record_outcome", svcB, {"conversation_state_id": "conv-1", "action_type": "send_email",
                                                      "predicted_confidence": 0.5, "outcome_type": "email_engagement"}).body["outcome_id"]
expect(api.request("POST", "/rpc/record_outcome", repA, {"conversation_state_id": "c", "action_type": "send_email",
                                                         "predicted_confidence": 0.5, "outcome_type": "email_engagement"}),
       403, "POST /rpc/record_outcome as rep (service only)", lambda r: r.sqlstate == "42501")
expect(api.request("POST", "/rpc/record_outcome", svcA, {"conversation_state_id": "c", "action_type": "send_email",
                                                         "predicted_confidence": 1.5, "outcome_type": "email_engagement"}),
       400, "POST /rpc/record_outcome with predicted_confidence 1.5", lambda r: r.sqlstate == "22003")

r = expect(api.request("POST", "/rpc/ingest_signal", svcA, {"conversation_state_id": "conv-1", "signal_type": "email_replied",
                                                            "external_id": "msg-77"}),
           200, "POST /rpc/ingest_signal as service", lambda r: r.body["status"] == "stored")
r2 = api.request("POST", "/rpc/ingest_signal", svcA, {"conversation_state_id": "conv-1", "signal_type": "email_replied",
                                                      "external_id": "msg-77"})
ok(r2.status == 200 and r2.body["signal_id"] == r.body["signal_id"], "ingest_signal again with the same external_id returns the first signal_id", r2)
expect(api.request("POST", "/rpc/ingest_signal", svcA, {"conversation_state_id": "conv-1", "signal_type": "fax_sent"}),
       400, "POST /rpc/ingest_signal with an unknown signal_type", lambda r: r.sqlstate == "22023")

expect(api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": o1, "status": "positive"}),
       200, "POST /rpc/resolve_outcome as service", lambda r: r.body["status"] == "positive" and r.body["outcome_score"] == 1.0)
expect(api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": ids[1], "status": "negative"}),
       200, "POST /rpc/resolve_outcome negative")
expect(api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": o1, "status": "negative"}),
       409, "POST /rpc/resolve_outcome on an outcome already resolved (55000 turned into 409)",
       lambda r: r.sqlstate == "PT409" and "already resolved" in r.body["message"])
expect(api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": str(uuid.uuid4()), "status": "positive"}),
       404, "POST /rpc/resolve_outcome with an unknown id (P0002 turned into 404)", lambda r: r.sqlstate == "PT404")
expect(api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": ids[0], "status": "won"}),
       400, "POST /rpc/resolve_outcome with an invalid status", lambda r: r.sqlstate == "22023")
expect(api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": "not-a-uuid", "status": "positive"}),
       400, "POST /rpc/resolve_outcome with a malformed uuid", lambda r: r.sqlstate == "22P02")
expect(api.request("POST", "/rpc/resolve_outcome", svcB, {"outcome_id": ids[0], "status": "positive"}),
       404, "POST /rpc/resolve_outcome by tenant B of tenant A's outcome")
ok(sql("SELECT status FROM learning.outcome_records WHERE id = %s", (ids[0],)) == [("pending",)],
   "tenant A's outcome stays pending after tenant B tried to resolve it")

# ---------------------------------------------------------------- 1. submit_feedback
fid = str(uuid.uuid4())
body = {"conversation_state_id": "conv-1", "target_type": "message", "target_id": "msg-1", "source": "inline",
        "rating": 1, "comment": "good", "outcome_record_id": o1, "feedback_id": fid}
expect(api.request("POST", "/rpc/submit_feedback", repA, body), 200, "1. POST /rpc/submit_feedback as rep",
       lambda r: r.body == {"feedback_id": fid, "status": "recorded"} and r.access_mode == "READ WRITE")
ok(sql("SELECT tenant_id, reviewer_id, reviewer_role FROM learning.feedback_entries WHERE id = %s", (fid,))
   == [("acme", "rep-1", "rep")], "the feedback is stored with the token's tenant, sub as reviewer_id and role as reviewer_role")
expect(api.request("POST", "/rpc/submit_feedback", repA, body), 200, "1. submit_feedback retried with the same feedback_id and content",
       lambda r: r.body["feedback_id"] == fid)
expect(api.request("POST", "/rpc/submit_feedback", repA, dict(body, rating=-1)), 409,
       "1. submit_feedback with the same feedback_id and other content (23505)", lambda r: r.sqlstate == "23505")
expect(api.request("POST", "/rpc/submit_feedback", repA, dict(body, rating=3, feedback_id=None)), 400,
       "1. submit_feedback with inline rating 3", lambda r: r.body["message"] == "Inline rating must be between -1 and 1, got 3")
expect(api.request("POST", "/rpc/submit_feedback", repA, dict(body, target_type="x", feedback_id=None)), 400,
       "1. submit_feedback with target_type x",
       lambda r: r.body["message"] == "Invalid target_type 'x'. Must be one of: conversation, decision, message")
expect(api.request("POST", "/rpc/submit_feedback", repA, dict(body, comment="x" * 1001, feedback_id=None)), 400,
       "1. submit_feedback with a 1001-character comment", lambda r: r.sqlstate == "22001")
expect(api.request("POST", "/rpc/submit_feedback", repB, dict(body, feedback_id=None)), 409,
       "1. submit_feedback by tenant B linking tenant A's outcome (23503)", lambda r: r.sqlstate == "23503")
expect(api.request("POST", "/rpc/submit_feedback", mgrA, dict(body, source="dashboard", rating=4, feedback_id=None)), 200,
       "1. POST /rpc/submit_feedback as manager")
expect(api.request("POST", "/rpc/submit_feedback", svcA, dict(body, feedback_id=None)), 403,
       "1. POST /rpc/submit_feedback as service (people only)", lambda r: r.sqlstate == "42501")
expect(api.request("POST", "/rpc/submit_feedback", None, dict(body, feedback_id=None)), 401,
       "1. POST /rpc/submit_feedback without a token", lambda r: "WWW-Authenticate" in r.headers)

# ---------------------------------------------------------------- 2, 3. views
r = expect(api.request("GET", "/feedback?conversation_state_id=eq.conv-1&order=created_at", mgrA), 200,
           "2. GET /feedback?conversation_state_id=eq.conv-1 as manager",
           lambda r: [f["reviewer_id"] for f in r.body] == ["rep-1", "mgr-1"] and r.access_mode == "READ ONLY"
           and all(f["tenant_id"] == "acme" for f in r.body))
expect(api.request("GET", "/feedback?conversation_state_id=eq.conv-1", repB), 200,
       "2. GET /feedback as tenant B sees none of tenant A's feedback", lambda r: r.body == [])
expect(api.request("GET", "/feedback?conversation_state_id=eq.conv-1", None), 401, "2. GET /feedback without a token")
r = expect(api.request("GET", "/outcomes?conversation_state_id=eq.conv-1&order=created_at", repA), 200,
           "3. GET /outcomes?conversation_state_id=eq.conv-1 as rep",
           lambda r: [(o["outcome_id"], o["status"]) for o in r.body] == [(o1, "positive")])
expect(api.request("GET", "/outcomes?conversation_state_id=eq.conv-1&select=outcome_id,status", svcB), 200,
       "3. GET /outcomes as tenant B sees only its own outcome", lambda r: r.body == [{"outcome_id": oB, "status": "pending"}])
expect(api.request("POST", "/outcomes", svcA, {"conversation_state_id": "x", "action_type": "a"}), 403,
       "3. POST /outcomes (writing through the view) is refused", lambda r: r.sqlstate == "42501")
with su.cursor() as c:
    c.execute("BEGIN; SET LOCAL ROLE learning_rep; SELECT set_config('request.jwt.claims', '{\"tenant_id\":\"acme\"}', true)")
    c.execute("EXPLAIN SELECT * FROM learning_api.outcomes WHERE conversation_state_id = 'conv-1'")
    plan = "\n".join(x[0] for x in c.fetchall())
    c.execute("ROLLBACK")
ok("InitPlan" in plan, "the policies read the tenant claim once per statement (an InitPlan)", plan)

# ---------------------------------------------------------------- 4. calibration_curve
r = expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email&min_samples=1", mgrA), 200,
           "4. GET /rpc/calibration_curve?action_type=send_email",
           lambda r: r.body["sample_count"] == 2 and len(r.body["bins"]) == 10 and r.access_mode == "READ ONLY")
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email", repB), 200,
       "4. calibration_curve as tenant B counts none of tenant A's outcomes", lambda r: r.body["sample_count"] == 0)
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email&min_samples=ten", repA), 400,
       "4. calibration_curve with min_samples=ten", lambda r: r.sqlstate == "22P02")
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email", None), 401, "4. calibration_curve without a token")
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email&tenant_id=acme", repB), 404,
       "4. calibration_curve with a tenant_id query parameter (no such function: PGRST202)")

# ---------------------------------------------------------------- 5-8. dashboards
if has_dashboards:
    expect(api.request("GET", "/rpc/rep_dashboard?days=30", repA), 200, "5. GET /rpc/rep_dashboard?days=30 as rep: own outcomes only",
           lambda r: r.body["role"] == "rep" and r.body["response_rates"]["total_actions"] == 2)
    expect(api.request("GET", "/rpc/rep_dashboard?days=30&rep_id=rep-1", repA), 200, "5. rep_dashboard with the rep's own rep_id")
    expect(api.request("GET", "/rpc/rep_dashboard?days=30&rep_id=rep-2", mgrA), 200, "5. rep_dashboard of rep-2 as manager",
           lambda r: r.body["response_rates"]["total_actions"] == 2)
    expect(api.request("GET", "/rpc/rep_dashboard?days=30", mgrA), 200, "5. rep_dashboard of the whole team as manager",
           lambda r: r.body["response_rates"]["total_actions"] == 4)
    expect(api.request("GET", "/rpc/rep_dashboard?days=30", token("rep", "globex", "rep-1")), 404,
           "5. rep_dashboard of rep-1 as tenant B: tenant B has no such rep (P0002 turned into 404)", lambda r: r.sqlstate == "PT404")
    expect(api.request("GET", "/rpc/manager_dashboard?days=30", token("manager", "globex", "m")), 200,
           "6. manager_dashboard as tenant B counts only tenant B's outcome", lambda r: r.body["team_trends"]["total_outcomes"] == 1)
    expect(api.request("GET", "/rpc/rep_dashboard?days=0", repA), 400, "5. rep_dashboard with days=0")
    expect(api.request("GET", "/rpc/manager_dashboard?days=30", mgrA), 200, "6. GET /rpc/manager_dashboard as manager",
           lambda r: r.body["role"] == "manager" and r.body["team_trends"]["total_outcomes"] == 4)
    expect(api.request("GET", "/rpc/manager_dashboard?days=30", exeA), 200, "6. manager_dashboard as executive")
    expect(api.request("GET", "/rpc/manager_dashboard?days=30", repA), 403, "6. manager_dashboard as rep",
           lambda r: r.sqlstate == "42501")
    expect(api.request("GET", "/rpc/executive_summary?days=30", exeA), 200, "7. GET /rpc/executive_summary as executive",
           lambda r: r.body["role"] == "executive" and r.body["roi_metrics"]["total_actions"] == 4)
    expect(api.request("GET", "/rpc/executive_summary?days=30", mgrA), 403, "7. executive_summary as manager")
    expect(api.request("GET", "/rpc/coaching_patterns?days=90", mgrA), 200, "8. GET /rpc/coaching_patterns as manager",
           lambda r: isinstance(r.body, list))
    expect(api.request("GET", "/rpc/coaching_patterns?days=90", repA), 403, "8. coaching_patterns as rep")
    expect(api.request("GET", "/rpc/coaching_patterns?days=90&alpha=1", mgrA), 200,
           "8. coaching_patterns with alpha=1 (every candidate)", lambda r: isinstance(r.body, list))
    expect(api.request("GET", "/rpc/coaching_patterns?days=90&alpha=0", mgrA), 400,
           "8. coaching_patterns with alpha=0 is refused", lambda r: r.sqlstate == "22003")
else:
    for d in ("5. rep_dashboard", "6. manager_dashboard", "7. executive_summary", "8. coaching_patterns"):
        skip(d, "learning.rep_dashboard and the other dashboards are not installed yet")

# ---------------------------------------------------------------- 9. events_since
has_events = sql("SELECT to_regprocedure('learning.events_since(text,bigint,integer)') IS NOT NULL")[0][0]
if has_events:
    r = expect(api.request("GET", "/rpc/events_since?after_id=0", repA), 200, "9. GET /rpc/events_since?after_id=0 as rep",
               lambda r: isinstance(r.body, list) and all(e["tenant_id"] == "acme" for e in r.body) and r.access_mode == "READ ONLY")
    n_db = sql("SELECT count(*) FROM learning.events WHERE tenant_id = 'acme'")[0][0]
    ok(isinstance(r.body, list) and len(r.body) == n_db, "9. events_since returns every committed event of the tenant (%d)" % n_db, r)
    expect(api.request("GET", "/rpc/events_since?after_id=0", repB), 200, "9. events_since as tenant B returns no event of tenant A",
           lambda r: all(e["tenant_id"] == "globex" for e in r.body))
else:
    skip("9. events_since", "learning.events_since is not installed yet")

# ---------------------------------------------------------------- 10. pictures
has_pictures = sql("SELECT to_regprocedure('learning_api.dashboard_page(integer)') IS NOT NULL")[0][0]
if has_pictures and has_dashboards:
    svg_accept = {"Accept": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"}  # a browser's <img>
    r = expect(api.request("GET", "/rpc/reliability_diagram?action_type=send_email", repA, headers=svg_accept), 200,
               "10. GET /rpc/reliability_diagram as rep with a browser's image Accept: image/svg+xml",
               lambda r: r.headers.get("Content-Type") == "image/svg+xml" and r.body.startswith("<?xml")
               and 'data-tenant-id="acme"' in r.body and r.access_mode == "READ ONLY")
    n_acme = sql("SELECT count(*) FROM learning.outcome_records WHERE tenant_id = 'acme' AND action_type = 'send_email' "
                 "AND status IN ('positive', 'negative', 'expired')")[0][0]
    ok(isinstance(r.body, str) and ("n = %d outcomes" % n_acme) in r.body,
       "10. the diagram counts the token tenant's outcomes (%d)" % n_acme, (r.body or "")[:200])
    expect(api.request("GET", "/rpc/reliability_diagram?action_type=send_email", repB, headers={"Accept": "image/svg+xml"}), 200,
           "10. reliability_diagram as tenant B shows tenant B only",
           lambda r: 'data-tenant-id="globex"' in r.body and "acme" not in r.body)
    expect(api.request("GET", "/rpc/reliability_diagram?action_type=send_email", repA), 200,
           "10. reliability_diagram with Accept */* (curl's default): PostgREST 12 answers JSON, the SVG as a JSON string",
           lambda r: r.headers.get("Content-Type", "").startswith("application/json") and r.body.startswith("<?xml"))
    expect(api.request("GET", "/rpc/reliability_diagram?action_type=send_email&days=400", repA, headers={"Accept": "image/svg+xml"}),
           400, "10. reliability_diagram with days=400")
    expect(api.request("GET", "/rpc/reliability_diagram?action_type=send_email", None, headers={"Accept": "image/svg+xml"}),
           401, "10. reliability_diagram without a token")
    page_accept = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # a browser's navigation
    expect(api.request("GET", "/rpc/dashboard_page?days=30", mgrA, headers=page_accept), 200,
           "10. GET /rpc/dashboard_page as manager with a browser's Accept: text/html",
           lambda r: r.headers.get("Content-Type") == "text/html" and r.body.startswith("<!DOCTYPE html>")
           and '<span class="tenant">acme</span>' in r.body and "globex" not in r.body)
    expect(api.request("GET", "/rpc/dashboard_page?days=30", exeA, headers=page_accept), 200, "10. dashboard_page as executive")
    expect(api.request("GET", "/rpc/dashboard_page?days=30", repA, headers=page_accept), 403, "10. dashboard_page as rep",
           lambda r: r.sqlstate == "42501")
    expect(api.request("GET", "/rpc/dashboard_page?days=30", svcA, headers=page_accept), 403, "10. dashboard_page as service")
    expect(api.request("GET", "/rpc/dashboard_page?days=30", None, headers=page_accept), 401, "10. dashboard_page without a token")
    expect(api.request("GET", "/rpc/dashboard_page?days=30", mgrA, headers={"Accept": "image/png"}), 415,
           "10. dashboard_page asked for a media type it does not make (PGRST107)")
    # a hostile rep id through the API: stored by the service, rendered as text on the manager's page
    sql("SELECT learning.record_outcome('acme', 'conv-x', 'send_email', 0.5, 'email_engagement', rep_id => %s)",
        ('<script>alert("api")</script>',))
    expect(api.request("GET", "/rpc/dashboard_page?days=30", mgrA, headers=page_accept), 200,
           "10. attack: a rep id with <script> is escaped on the page",
           lambda r: "&lt;script&gt;alert(&quot;api&quot;)&lt;/script&gt;" in r.body and r.body.count("<script") == 1)
else:
    skip("10. pictures", "learning_api.dashboard_page is not installed")

# ---------------------------------------------------------------- attacks
expect(api.request("GET", "/outcomes?tenant_id=eq.acme", repB), 200,
       "attack: tenant B's token filtering for tenant A's rows (GET /outcomes?tenant_id=eq.acme) gets nothing",
       lambda r: r.body == [])
expect(api.request("GET", "/feedback?tenant_id=in.(acme,globex)", repB), 200,
       "attack: tenant B's token filtering feedback with tenant_id=in.(acme,globex) gets nothing", lambda r: r.body == [])

n_before = sql("SELECT count(*) FROM learning.feedback_entries")[0][0]
expect(api.request("POST", "/rpc/submit_feedback", repB, dict(body, feedback_id=None, outcome_record_id=None, tenant_id="acme")), 404,
       "attack: a tenant_id inside a POST /rpc/submit_feedback body matches no function (PGRST202)")
expect(api.request("POST", "/rpc/record_outcome", svcB, {"tenant_id": "acme", "conversation_state_id": "c", "action_type": "a",
                                                         "predicted_confidence": 0.5, "outcome_type": "email_engagement"}), 404,
       "attack: a tenant_id inside a POST /rpc/record_outcome body matches no function (PGRST202)")
expect(api.request("POST", "/feedback", repB, {"tenant_id": "acme", "conversation_state_id": "c", "target_type": "message",
                                               "target_id": "m", "source": "inline", "rating": 1, "reviewer_id": "x",
                                               "reviewer_role": "rep"}), 403,
       "attack: a tenant_id inside a POST /feedback body (insert through the view) is refused")
ok(sql("SELECT count(*) FROM learning.feedback_entries")[0][0] == n_before, "attack: nothing was written by the tenant_id bodies")

# PostgREST 12 (and 13) answer a role that does not exist with 400 (22023); 401 only from v14.
for role, status, why in (("learning_definer", 403, "42501"), ("postgres", 403, "42501"), ("learning_admin", 400, "22023")):
    t = mint(SECRET, {"role": role, "tenant_id": "acme", "sub": "x"})
    expect(api.request("GET", "/outcomes?conversation_state_id=eq.conv-1", t), status,
           "attack: a role claim %s not granted to the authenticator (%s)" % (role, why), lambda r: r.sqlstate == why)
t = mint(SECRET, {"role": "sales_intern", "tenant_id": "acme", "sub": "x"})
expect(api.request("GET", "/outcomes?conversation_state_id=eq.conv-1", t), 401,
       "attack: a role granted to the authenticator but outside ours is refused by pre_request")

for claims, what in (({"role": "learning_rep", "sub": "rep-1"}, "no tenant_id claim"),
                     ({"role": "learning_rep", "sub": "rep-1", "tenant_id": ""}, "an empty tenant_id"),
                     ({"role": "learning_rep", "sub": "rep-1", "tenant_id": "acme' OR '1'='1"}, "an invalid tenant_id"),
                     ({"role": "learning_rep", "sub": "rep-1", "tenant_id": ["acme"]}, "a tenant_id that is not a string"),
                     ({"role": "learning_rep", "tenant_id": "acme"}, "no sub claim for a person")):
    expect(api.request("GET", "/outcomes?conversation_state_id=eq.conv-1", mint(SECRET, claims)), 401,
           "attack: a token with %s" % what, lambda r: r.body.get("code") == "PT401" and "WWW-Authenticate" in r.headers)
expect(api.request("GET", "/outcomes", mint(SECRET, {"role": "learning_rep", "sub": "r", "tenant_id": "acme", "exp": 1})), 401,
       "attack: an expired token (PGRST301 \"JWT expired\" in v12; PGRST303 from v13)",
       lambda r: r.body["code"] == "PGRST301" and r.body["message"] == "JWT expired")
# GET / (OpenAPI): v12 runs pre_request for it as well, so it needs a token
expect(api.request("GET", "/", None), 401, "GET / (OpenAPI) without a token: pre_request refuses it",
       lambda r: r.body.get("code") == "PT401")
expect(api.request("GET", "/", repA), 200, "GET / (OpenAPI) with a valid token")

# the empty claims string a pooled connection keeps after a request
api.request("GET", "/outcomes?conversation_state_id=eq.conv-1", repA)
with api.conn.cursor() as c:
    c.execute("SELECT current_setting('request.jwt.claims', true)")
    left = c.fetchone()[0]
    c.execute("BEGIN READ ONLY; SELECT set_config('role', 'learning_rep', true)")
    c.execute("SELECT count(*) FROM learning_api.outcomes")
    seen = c.fetchone()[0]
    c.execute("SELECT count(*) FROM learning_api.feedback")
    seen += c.fetchone()[0]
    c.execute("ROLLBACK")
    for q in ("SELECT learning_api.pre_request()", "SELECT learning_api.calibration_curve('send_email')"):
        c.execute("BEGIN READ ONLY; SELECT set_config('role', 'learning_rep', true)")
        try:
            c.execute(q)
            code = None
        except psycopg2.Error as e:
            code = e.pgcode
        c.execute("ROLLBACK")
        ok(left == "" and code == "PGRST", "attack: with the empty claims string of a pooled connection, %s is refused (401)" % q, code)
ok(left == "" and seen == 0, "attack: with the empty claims string of a pooled connection the views show no row (no cast error)",
   (left, seen))

if has_dashboards:
    expect(api.request("GET", "/rpc/rep_dashboard?days=30&rep_id=rep-1", rep2A), 403,
           "attack: a rep asking for another rep's dashboard", lambda r: r.sqlstate == "42501")
else:
    skip("attack: a rep asking for another rep's dashboard", "learning.rep_dashboard is not installed yet")

evil = "x'; DROP TABLE learning.outcome_records; --"
expect(api.request("GET", "/outcomes?conversation_state_id=eq." + evil.replace(" ", "%20").replace(";", "%3B"), repA), 200,
       "attack: quote and semicolon characters in a filter value are data", lambda r: r.body == [])
odd = "o'brien\";--; select 1"
r = api.request("POST", "/rpc/record_outcome", svcA, {"conversation_state_id": odd, "action_type": "send_email",
                                                      "predicted_confidence": 0.4, "outcome_type": "email_engagement"})
expect(api.request("GET", "/outcomes?select=conversation_state_id&conversation_state_id=eq." + odd.replace(";", "%3B"), repA), 200,
       "attack: a conversation id with quotes and semicolons round-trips exactly", lambda r: r.body == [{"conversation_state_id": odd}])
expect(api.request("GET", "/outcomes?status%22=eq.pending", repA), 400,
       "attack: a quote in a filter column name is an unknown column (42703)", lambda r: r.sqlstate == "42703")
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email'%3Bselect%201%3B--", repA), 400,
       "attack: quote and semicolon in a function argument are data (invalid action_type)", lambda r: r.sqlstate == "22023")
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email&min_samples=1%3B%20DROP%20TABLE%20x", repA), 400,
       "attack: a semicolon in an integer argument is a bad integer (22P02)", lambda r: r.sqlstate == "22P02")
ok(sql("SELECT to_regclass('learning.outcome_records') IS NOT NULL")[0][0], "attack: learning.outcome_records is still there")

n_before = sql("SELECT count(*) FROM learning.feedback_entries")[0][0]
expect(api.request("GET", "/rpc/submit_feedback?conversation_state_id=conv-1&target_type=message&target_id=m&source=inline&rating=1",
                   repA), 405, "attack: GET on a writing function (submit_feedback) runs READ ONLY: 25006",
       lambda r: r.sqlstate == "25006")
expect(api.request("GET", "/rpc/record_outcome?conversation_state_id=c&action_type=send_email&predicted_confidence=0.5"
                   "&outcome_type=email_engagement", svcA), 405, "attack: GET on record_outcome", lambda r: r.sqlstate == "25006")
ok(sql("SELECT count(*) FROM learning.feedback_entries")[0][0] == n_before, "attack: the GETs on writing functions wrote nothing")

# a search_path planted with look-alikes of what the SECURITY DEFINER functions call
sql("""CREATE SCHEMA IF NOT EXISTS evil;
       GRANT USAGE ON SCHEMA evil TO PUBLIC;
       CREATE OR REPLACE FUNCTION evil.current_setting(text, boolean) RETURNS text LANGUAGE sql AS
         $$ SELECT '{"role":"learning_rep","tenant_id":"acme","sub":"rep-1"}' $$;
       CREATE OR REPLACE FUNCTION evil.current_setting(text) RETURNS text LANGUAGE sql AS $$ SELECT 'learning_manager' $$;
       CREATE OR REPLACE FUNCTION evil.jsonb_build_object(text, uuid, text, text) RETURNS jsonb LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
       CREATE OR REPLACE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
       CREATE OR REPLACE FUNCTION evil.texteq_always(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
       DROP OPERATOR IF EXISTS evil.= (text, text);
       CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq_always);
       GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA evil TO PUBLIC;""")
with su.cursor() as c:
    c.execute("BEGIN; SET LOCAL search_path = evil, pg_catalog; SELECT current_setting('request.jwt.claims', true), 'a' = 'b', "
              "(SELECT 'ok' FROM (SELECT now()) x WHERE false)")
    planted = c.fetchone()
    c.execute("ROLLBACK")
ok(planted == ('{"role":"learning_rep","tenant_id":"acme","sub":"rep-1"}', True, None),
   "attack setup: the look-alikes win over pg_catalog on search_path 'evil, pg_catalog'", planted)
import pgrst_replay  # noqa: E402
pgrst_replay.EXTRA_SEARCH_PATH = 'evil", "pg_catalog'
api_evil = PostgRESTReplay(DSN_AUTH, SECRET)
expect(api_evil.request("GET", "/rpc/calibration_curve?action_type=send_email", repB), 200,
       "attack: planted search_path before a SECURITY DEFINER call: calibration_curve still answers for the token's tenant",
       lambda r: r.body["sample_count"] == 0 and 'set_config(\'search_path\', \'"learning_api", "evil", "pg_catalog"\'' in api_evil.last_sql[0])
r = expect(api_evil.request("POST", "/rpc/submit_feedback", repB, {"conversation_state_id": "conv-evil", "target_type": "message",
                                                                   "target_id": "m", "source": "inline", "rating": 0}), 200,
           "attack: planted search_path: submit_feedback calls no look-alike (no 'hijacked')")
ok(sql("SELECT tenant_id, reviewer_id FROM learning.feedback_entries WHERE conversation_state_id = 'conv-evil'") == [("globex", "rep-9")],
   "attack: planted search_path: the feedback went to the token's tenant and user, not the forged claims")
if has_dashboards:
    expect(api_evil.request("GET", "/rpc/rep_dashboard?days=30&rep_id=rep-1", repB), 403,
           "attack: planted search_path: a forged role (evil.current_setting) does not make a rep a manager")
pgrst_replay.EXTRA_SEARCH_PATH = "public"
sql("DROP SCHEMA evil CASCADE")

# ---------------------------------------------------------------- the SQL API without the HTTP API
ok(sql("SELECT count(*) FROM learning.outcomes_for_conversation('acme', 'conv-1')")[0][0] == 1,
   "the SQL API still works for the superuser (RLS bypassed)")
app = psycopg2.connect(DSN_APP)
app.autocommit = True
with app.cursor() as c:
    try:
        c.execute("SELECT learning.record_outcome('initech', 'c-9', 'send_email', 0.7, 'email_engagement')")
        oid = c.fetchone()[0]
        c.execute("SELECT (learning.resolve_outcome('initech', %s, 'positive')).status", (oid,))
        st = c.fetchone()[0]
        c.execute("SELECT learning.submit_feedback('initech', 'c-9', 'message', 'm', 'inline', 1, 'u-1', 'rep', NULL, %s)", (oid,))
        c.execute("SELECT (learning.calibration_curve('initech', 'send_email', 1))->>'sample_count', "
                  "(SELECT count(*) FROM learning.outcomes_for_conversation('acme', 'conv-1'))")
        res = (st,) + c.fetchone()
    except psycopg2.Error as e:
        res = (e.pgcode, e.pgerror)
ok(res == ("positive", "1", 1), "the SQL API works for a non-superuser member of learning_app, any tenant", res)
with app.cursor() as c:
    c.execute("SET ROLE app_plain")
    try:
        c.execute("SELECT count(*) FROM learning.outcome_records")
        res = c.fetchone()[0]
    except psycopg2.Error as e:
        res = e.pgcode
ok(res == 0, "a non-superuser outside learning_app with table privileges sees no row (RLS denies by default)", res)
app.close()

print("# %d failed" % failures)

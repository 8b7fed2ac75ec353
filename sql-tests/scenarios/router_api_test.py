"""The HTTP API through a router (run by router_api.sh):
python3 router_api_test.py DSN_AUTHENTICATOR DSN_ROUTER_SUPERUSER DSN_SHARD_SERVER REPO_ROOT

Each request is replayed as PostgREST 12 runs it (pgrst_replay.py) on the
router; answers are compared with what the tenant's shard holds.  Prints TAP
lines."""

import json
import os
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgrst_replay import PostgRESTReplay, mint  # noqa: E402

DSN_AUTH, DSN_ROUTER, DSN_SHARDS, ROOT = sys.argv[1:5]
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


router = psycopg2.connect(DSN_ROUTER)
router.autocommit = True


def rsql(q, p=None):
    with router.cursor() as c:
        c.execute(q, p)
        return c.fetchall()


def shard_of(tenant):
    return rsql("SELECT learning_router.shard_of(%s)", (tenant,))[0][0]


def ssql(tenant, q, p=None):
    """A query on the tenant's shard database, as superuser."""
    conn = psycopg2.connect(DSN_SHARDS + " dbname=s%d" % shard_of(tenant))
    conn.autocommit = True
    try:
        with conn.cursor() as c:
            c.execute(q, p)
            return c.fetchall()
    finally:
        conn.close()


def token(role, tenant, sub=None):
    import time
    claims = {"role": "learning_" + role, "tenant_id": tenant, "iat": int(time.time()), "exp": int(time.time()) + 600}
    if sub:
        claims["sub"] = sub
    return mint(SECRET, claims)


# two tenants on different shards
tenants = ["acme", "globex", "initech", "umbrella", "hooli"]
by_shard = {}
for t in tenants:
    by_shard.setdefault(shard_of(t), t)
ok(len(by_shard) == 2, "two tenants on different shards: %s" % by_shard)
A, B = by_shard[0], by_shard[1]

api = PostgRESTReplay(DSN_AUTH, SECRET)
svcA, svcB = token("service", A, "agent"), token("service", B, "agent")
repA, mgrA = token("rep", A, "rep-1"), token("manager", A, "mgr-1")
exeA, repB = token("executive", A, "exe-1"), token("rep", B, "rep-9")

# writes through the API land on the tenant's shard
ids = []
for i in range(12):
    r = api.request("POST", "/rpc/record_outcome", svcA,
                    {"conversation_state_id": "conv-%d" % (i % 3), "action_type": "send_email",
                     "predicted_confidence": 0.3 + 0.05 * i, "outcome_type": "email_engagement", "rep_id": "rep-1"})
    ids.append(r.body.get("outcome_id") if r.status == 200 and isinstance(r.body, dict) else None)
ok(all(ids) and ssql(A, "SELECT count(*) FROM learning.outcome_records WHERE tenant_id = %s", (A,))[0][0] == 12,
   "12 outcomes recorded through the router's API are on %s's shard" % A)
for i, oid in enumerate(ids[:8]):
    api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": oid, "status": "positive" if i % 2 else "negative"})
ok(ssql(A, "SELECT count(*) FROM learning.outcome_records WHERE tenant_id = %s AND status <> 'pending'", (A,))[0][0] == 8,
   "resolve_outcome through the router resolved them on the shard")
expect(api.request("POST", "/rpc/record_outcome", svcB,
                   {"conversation_state_id": "conv-b", "action_type": "send_email", "predicted_confidence": 0.5,
                    "outcome_type": "email_engagement"}), 200, "service of %s records an outcome" % B)
expect(api.request("POST", "/rpc/submit_feedback", repA,
                   {"conversation_state_id": "conv-0", "target_type": "message", "target_id": "m1", "source": "inline",
                    "rating": 1}), 200, "a rep of %s submits feedback" % A,
       lambda r: r.body.get("status") == "recorded")
ok(ssql(A, "SELECT reviewer_id || '/' || reviewer_role FROM learning.feedback_entries WHERE tenant_id = %s", (A,)) == [("rep-1/rep",)],
   "the feedback's reviewer and role come from the token")

# reads answer what the shard holds
curve = expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email&min_samples=1", repA), 200,
               "a rep reads the calibration curve")
want = ssql(A, "SELECT learning.calibration_curve(%s, 'send_email', 1)", (A,))[0][0]
ok(curve.body == want, "the curve is the one on %s's shard" % A, (curve.body, want))
d = expect(api.request("GET", "/rpc/manager_dashboard?days=30", mgrA), 200, "a manager reads the manager dashboard")
want = ssql(A, "SELECT learning.manager_dashboard(%s, 30) - 'generated_at'", (A,))[0][0]
ok(isinstance(d.body, dict) and {k: v for k, v in d.body.items() if k != "generated_at"} == want,
   "the manager dashboard is the shard's")
expect(api.request("GET", "/rpc/executive_summary?days=30", exeA), 200, "an executive reads the executive summary")
expect(api.request("GET", "/rpc/rep_dashboard?days=30", repA), 200, "a rep reads their own dashboard")
ev = expect(api.request("GET", "/rpc/events_since?after_id=0", repA), 200, "events_since through the router")
ok(isinstance(ev.body, list) and len(ev.body) > 0 and all(e["tenant_id"] == A for e in ev.body), "events_since returns only %s's events" % A)
rows = expect(api.request("GET", "/outcomes?conversation_state_id=eq.conv-1&order=created_at", repA), 200,
              "GET /outcomes of a conversation")
ok(isinstance(rows.body, list) and len(rows.body) == 4 and all(r["tenant_id"] == A for r in rows.body), "the view shows the 4 outcomes of conv-1 of %s" % A, rows)
rows = expect(api.request("GET", "/outcomes", repB), 200, "GET /outcomes for %s" % B)
ok(isinstance(rows.body, list) and len(rows.body) == 1 and rows.body[0]["tenant_id"] == B, "a token of %s sees only its own outcome" % B, rows)
rows = expect(api.request("GET", "/feedback?conversation_state_id=eq.conv-0", mgrA), 200, "GET /feedback")
ok(isinstance(rows.body, list) and len(rows.body) == 1, "the view shows the feedback", rows)

# the same checks as on a shard
expect(api.request("GET", "/rpc/manager_dashboard?days=30", repA), 403, "a rep may not read the manager dashboard")
expect(api.request("GET", "/rpc/executive_summary?days=30", mgrA), 403, "a manager may not read the executive summary")
expect(api.request("GET", "/rpc/rep_dashboard?days=30&rep_id=rep-2", repA), 403, "a rep may not read another rep's dashboard")
expect(api.request("POST", "/rpc/record_outcome", repA,
                   {"conversation_state_id": "c", "action_type": "send_email", "predicted_confidence": 0.5,
                    "outcome_type": "email_engagement"}), 403, "a rep may not record outcomes")
expect(api.request("GET", "/outcomes"), 401, "no token")
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email", mint(SECRET, {"role": "learning_rep", "sub": "x"})),
       401, "a token without tenant_id")
expect(api.request("GET", "/rpc/calibration_curve?action_type=send_email&tenant_id=" + B, repA), 404,
       "a tenant_id parameter cannot pick a tenant (no such function)")
expect(api.request("POST", "/outcomes", svcA, {"conversation_state_id": "x"}), 403, "writing through a view is refused")
expect(api.request("POST", "/rpc/resolve_outcome", svcA, {"outcome_id": ids[0], "status": "positive"}), 409,
       "resolving twice is a conflict, as on a shard")
expect(api.request("POST", "/rpc/submit_feedback", repA,
                   {"conversation_state_id": "c", "target_type": "message", "target_id": "m", "source": "inline", "rating": 3}),
       400, "a bad rating is refused as on a shard", lambda r: r.sqlstate == "22003")

# the shards are reached as the router's role only
users = ssql(A, "SELECT array_agg(DISTINCT usename::text) FROM pg_stat_activity WHERE datname LIKE 's_' AND pid <> pg_backend_pid() AND backend_type = 'client backend'")[0][0]
ok(users == ["learning_router_api"], "the router's API calls reach the shard as learning_router_api", users)
sys.exit(1 if failures else 0)

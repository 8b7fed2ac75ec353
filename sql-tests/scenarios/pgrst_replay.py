"""pgrst_replay: replays the SQL PostgREST 12 runs for an HTTP request.

PostgREST cannot be installed here, so the API tests send, for each simulated
request, what PostgREST 12 itself sends to the database (read from its
source at tags v12.0.0 to v12.2.12; api/README.md says what differs in later
versions):

  1. BEGIN with the access mode PostgREST picks: GET is READ ONLY; POST to
     /rpc is READ ONLY for a STABLE/IMMUTABLE function and READ WRITE for a
     VOLATILE one; other writes READ WRITE;
  2. one "select set_config(..., true), ..." with search_path, role,
     request.jwt.claims (the token's claims with role added), request.method,
     request.path, request.headers, request.cookies;
  3. the pre-request function (db-pre-request);
  4. the main query in PostgREST's shape (CTE pgrst_source, body built by
     json_agg in the database, values sent as data, identifiers quoted);
  5. COMMIT, or ROLLBACK on error,

on one connection logged in as the authenticator role (a pooled connection:
settings of earlier transactions are left behind as ''), then turns the
SQLSTATE into the HTTP status with PostgREST's table (http_status below).

Tokens are verified the way PostgREST verifies them (HS256 with jwt-secret,
exp), so a bad signature or an expired token is PostgREST's own 401.  What
PostgREST decides before it reaches the database (its schema cache: unknown
function or argument names → PGRST202 404, unknown relation → PGRST205 404,
method not allowed on /rpc → PGRST101 405) is decided from the catalog the
same way.
"""

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse

import psycopg2
import psycopg2.extensions

SCHEMA = "learning_api"
ANON_ROLE = "learning_anon"
PRE_REQUEST = "learning_api.pre_request"
EXTRA_SEARCH_PATH = "public"


def http_status(sqlstate, message, detail, authenticated):
    """PostgREST 12 Error.hs mapSQLtoHTTP, written once."""
    s = sqlstate or ""
    if s == "PGRST":  # full control: detail is JSON {status, status_text?, headers?}
        try:
            return int(json.loads(detail)["status"])
        except Exception:
            return 500  # PGRST121
    if len(s) == 5 and s.startswith("PT") and s[2:].isdigit():
        return int(s[2:])
    if s.startswith("08"):
        return 503
    if s.startswith("09"):
        return 500
    if s[:2] in ("0L", "0P", "28"):
        return 403
    if s in ("23503", "23505"):
        return 409
    if s == "25006":
        return 405
    if s[:2] in ("25", "2D", "38", "39", "3B", "40"):
        return 500
    if s == "53400":
        return 500
    if s.startswith("53"):
        return 503
    if s == "57P01":
        return 503
    if s[:2] in ("54", "55", "57", "58", "F0", "HV", "XX"):
        return 500
    if s in ("42883", "42P01"):
        return 404
    if s == "42P17":
        return 500
    if s == "42501":
        return 403 if authenticated else 401
    if s == "P0001":
        return 400
    if s.startswith("P0"):
        return 500
    if s == "21000":
        return 400 if "requires a WHERE clause" in (message or "") else 500
    # 22023 'role "x" does not exist' (a role claim naming no role) is not
    # special in v12 and v13: 400 like anything else.  Only v14 answers 401.
    return 400


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Response:
    def __init__(self, status, body, sqlstate=None, headers=None, access_mode=None):
        self.status = status
        self.body = body
        self.sqlstate = sqlstate
        self.headers = headers or {}
        self.access_mode = access_mode

    def __repr__(self):
        return "HTTP %s %s %s" % (self.status, self.sqlstate or "", json.dumps(self.body)[:300])


class PostgRESTReplay:
    def __init__(self, dsn, jwt_secret):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True  # transactions are opened by hand, as PostgREST does
        self.secret = jwt_secret.encode()
        self.last_sql = []

    # -- JWT, as PostgREST checks it ---------------------------------------
    def verify_token(self, token):
        """Claims of a valid HS256 token, or a PostgREST 401 error."""
        try:
            h, p, sig = token.split(".")
            header = json.loads(b64url_decode(h))
            want = hmac.new(self.secret, (h + "." + p).encode(), hashlib.sha256).digest()
            if header.get("alg") != "HS256" or not hmac.compare_digest(want, b64url_decode(sig)):
                raise ValueError("JWSError JWSInvalidSignature")
            claims = json.loads(b64url_decode(p))
        except Exception as e:  # PGRST301
            return None, Response(401, {"code": "PGRST301", "message": str(e), "details": None, "hint": None},
                                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if "exp" in claims and claims["exp"] <= time.time():  # v12: PGRST301 "JWT expired" (PGRST303 from v13)
            return None, Response(401, {"code": "PGRST301", "message": "JWT expired", "details": None, "hint": None},
                                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return claims, None

    # -- schema cache ------------------------------------------------------
    def find_function(self, name, keys):
        """The learning_api function PostgREST would pick for these argument names."""
        with self.conn.cursor() as c:
            c.execute("""
                SELECT p.oid, coalesce(p.proargnames, '{}'), p.pronargs, p.pronargdefaults, p.provolatile, p.proretset,
                       t.typtype,
                       -- a media type handler: a domain named like a media type (PostgREST's SchemaCache query)
                       CASE WHEN t.typbasetype <> 0 AND t.typname ~* '^[A-Za-z0-9.-]+/[A-Za-z0-9.+-]+$' AND NOT p.proretset
                            THEN json_build_array(lower(t.typname), format('%%I.%%I', tn.nspname, t.typname)) END,
                       (SELECT array_agg(format_type(a, NULL) ORDER BY i)
                                     FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS u(a, i))
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  JOIN pg_type t ON t.oid = p.prorettype JOIN pg_namespace tn ON tn.oid = t.typnamespace
                 WHERE n.nspname = %s AND p.proname = %s""", (SCHEMA, name))
            for oid, argnames, nargs, ndefaults, vol, retset, typtype, media, argtypes in c.fetchall():
                argnames = list(argnames)[:nargs]
                required = set(argnames[:nargs - ndefaults])
                if set(keys) <= set(argnames) and required <= set(keys):
                    types = dict(zip(argnames, argtypes or []))
                    return {"volatile": vol, "retset": retset, "composite": typtype == "c", "types": types,
                            "media": media}
        return None

    def relation_columns(self, name):
        with self.conn.cursor() as c:
            c.execute("""SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
                          JOIN pg_namespace n ON n.oid = r.relnamespace
                         WHERE n.nspname = %s AND r.relname = %s AND r.relkind IN ('r', 'v', 'm', 'f', 'p')
                           AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", (SCHEMA, name))
            return dict(c.fetchall())

    # -- the request -------------------------------------------------------
    def request(self, method, path, token=None, body=None, headers=None):
        """Replays METHOD PATH (with its query string) and returns a Response."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        claims = {}
        authenticated = token is not None
        if token is not None:
            claims, err = self.verify_token(token)
            if err:
                return err
            headers["authorization"] = "Bearer " + token
        role = claims.get("role") or ANON_ROLE
        claims = dict(claims, role=role)
        url = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        parts = url.path.strip("/").split("/")

        if parts == [""]:
            # GET / (OpenAPI): v12 runs the pre-request function for it too, so
            # it needs whatever pre_request needs (a token, here).
            if method not in ("GET", "HEAD"):
                return Response(405, {"code": "PGRST117", "message": "Unsupported HTTP method"})
            return self.run(method, "/", role, claims, headers, True, self.TAIL.format(body="'{}'::character varying")
                            .replace("FROM (SELECT * FROM pgrst_source) _postgrest_t", "FROM (SELECT 1) _postgrest_t"),
                            None, authenticated)
        if parts[0] == "rpc" and len(parts) == 2:
            if method not in ("GET", "POST"):
                return Response(405, {"code": "PGRST101", "message": "Only GET and POST are allowed"})
            args = dict(query) if method == "GET" else (body or {})
            fn = self.find_function(parts[1], list(args.keys()))
            if fn is None:
                return Response(404, {"code": "PGRST202", "message": "Could not find the function %s.%s(%s) in the schema cache"
                                      % (SCHEMA, parts[1], ", ".join(sorted(args)))})
            read_only = method == "GET" or fn["volatile"] in ("s", "i")
            handler = self.negotiate(headers.get("accept", "*/*"), fn)
            if handler is None:
                return Response(415, {"code": "PGRST107", "message": "None of these media types are available: "
                                      + headers.get("accept", "")})
            main, params = self.rpc_query(parts[1], fn, args, method, handler)
        elif len(parts) == 1:
            columns = self.relation_columns(parts[0])
            if not columns:
                return Response(404, {"code": "PGRST205", "message": "Could not find the table '%s.%s' in the schema cache"
                                      % (SCHEMA, parts[0])})
            if method == "GET":
                read_only = True
                main, params = self.read_query(parts[0], query)
            elif method == "POST":
                read_only = False
                main, params = self.insert_query(parts[0], body, columns)
            else:
                return Response(405, {"code": "PGRST117", "message": "Unsupported HTTP method"})
        else:
            return Response(404, {"code": "PGRST125", "message": "Invalid path"})
        raw = parts[0] == "rpc" and handler != "json"
        resp = self.run(method, url.path, role, claims, headers, read_only, main, params, authenticated, raw)
        if parts[0] == "rpc" and resp.status < 300:
            resp.headers["Content-Type"] = handler[0] if handler != "json" else "application/json; charset=utf-8"
        return resp

    @staticmethod
    def negotiate(accept, fn):
        """v12 Plan.negotiateContent for an RPC: the first Accept entry that has a
        handler wins; a function returning a media type domain handles exactly
        that media type; application/json and */* go to the JSON handler.  (The
        other builtin handlers, CSV and GeoJSON, are not modelled: the API does
        not use them.)"""
        for item in accept.split(","):
            mt = item.split(";")[0].strip().lower()
            if fn.get("media") and mt == fn["media"][0]:
                return fn["media"]
            if mt in ("application/json", "*/*"):
                return "json"
        return None

    def run(self, method, path, role, claims, headers, read_only, main, params, authenticated, raw=False):
        mode = "READ ONLY" if read_only else "READ WRITE"
        c = self.conn.cursor()
        self.last_sql = []
        try:
            c.execute("BEGIN ISOLATION LEVEL READ COMMITTED, " + mode)
            setup = ("select set_config('search_path', %s, true), set_config('role', %s, true), "
                     "set_config('request.jwt.claims', %s, true), set_config('request.method', %s, true), "
                     "set_config('request.path', %s, true), set_config('request.headers', %s, true), "
                     "set_config('request.cookies', %s, true)")
            setup_params = ('"%s", "%s"' % (SCHEMA, EXTRA_SEARCH_PATH), role, json.dumps(claims), method, path,
                            json.dumps(headers), "{}")
            for sql, p in ((setup, setup_params), ("select %s()" % PRE_REQUEST, None), (main, params)):
                self.last_sql.append(c.mogrify(sql, p).decode())
                c.execute(sql, p)
            row = c.fetchone()
            c.execute("COMMIT")
        except psycopg2.Error as e:
            try:
                c.execute("ROLLBACK")
            except psycopg2.Error:
                pass
            d = e.diag
            status = http_status(e.pgcode, d.message_primary, d.message_detail, authenticated)
            if e.pgcode == "PGRST":
                try:
                    body = json.loads(d.message_primary)
                    hdrs = json.loads(d.message_detail).get("headers", {})
                except Exception:
                    body, hdrs = {"code": "PGRST121", "message": "malformed PGRST error"}, {}
            else:
                body = {"code": e.pgcode, "message": d.message_primary, "details": d.message_detail,
                        "hint": d.message_hint}
                hdrs = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
            return Response(status, body, e.pgcode, hdrs, mode)
        finally:
            c.close()
        total, page_total, body, resp_headers, resp_status, _inserted = row
        status = int(resp_status) if resp_status else (201 if method == "POST" and not path.startswith("/rpc/") else 200)
        # a media type handler's body is sent as it is; the JSON handlers' is JSON
        data = body if raw else (json.loads(body) if body is not None else None)
        return Response(status, data, None, {"response.headers": resp_headers} if resp_headers else {}, mode)

    # -- main queries in PostgREST's shape ---------------------------------
    @staticmethod
    def ident(name):
        return '"' + name.replace('"', '""') + '"'

    def qi(self, name):
        return self.ident(SCHEMA) + "." + self.ident(name)

    TAIL = ("SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {body} AS body, "
            "nullif(current_setting('response.headers', true), '') AS response_headers, "
            "nullif(current_setting('response.status', true), '') AS response_status, "
            "'' AS response_inserted FROM (SELECT * FROM pgrst_source) _postgrest_t")

    OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "LIKE", "ilike": "ILIKE"}

    def where(self, rel, query, skip):
        """PostgREST filters: column=op.value; the value is data, never SQL."""
        conds, params = [], []
        for col, spec in query:
            if col in skip:
                continue
            op, _, val = spec.partition(".")
            neg = False
            if op == "not":
                neg = True
                op, _, val = val.partition(".")
            colsql = "%s.%s" % (self.qi(rel), self.ident(col))
            if op in self.OPS:
                cond = "%s %s %%s" % (colsql, self.OPS[op])
                params.append(val.replace("*", "%") if op in ("like", "ilike") else val)
            elif op == "in":
                items = [v.strip('"') for v in val.strip("()").split(",")] if val.strip("()") else []
                cond = "%s = ANY (%%s)" % colsql
                params.append(items)
            elif op == "is":
                cond = "%s IS %s" % (colsql, {"null": "NULL", "true": "TRUE", "false": "FALSE"}.get(val, "UNKNOWN"))
                if val not in ("null", "true", "false", "unknown"):
                    raise ValueError("PGRST100")
            else:
                raise ValueError("PGRST100")
            conds.append(("NOT " if neg else "") + cond)
        return conds, params

    def read_query(self, rel, query):
        conds, params = self.where(rel, query, {"select", "order", "limit", "offset"})
        q = dict(query)
        cols = "%s.*" % self.qi(rel)
        if "select" in q:
            cols = ", ".join("%s.%s" % (self.qi(rel), self.ident(c.strip())) for c in q["select"].split(","))
        sql = "WITH pgrst_source AS (SELECT %s FROM %s" % (cols, self.qi(rel))
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        if "order" in q:
            terms = []
            for t in q["order"].split(","):
                name, _, direction = t.partition(".")
                terms.append("%s.%s %s" % (self.qi(rel), self.ident(name),
                                           {"desc": "DESC NULLS FIRST"}.get(direction, "ASC NULLS LAST")))
            sql += " ORDER BY " + ", ".join(terms)
        if "limit" in q:
            sql += " LIMIT %s" % int(q["limit"])
        if "offset" in q:
            sql += " OFFSET %s" % int(q["offset"])
        sql += ") " + self.TAIL.format(body="coalesce(json_agg(_postgrest_t), '[]')::character varying")
        return sql, params

    def insert_query(self, rel, body, types):
        rows = body if isinstance(body, list) else [body]
        keys = sorted({k for r in rows for k in r})
        cols = ", ".join(self.ident(k) for k in keys)
        sql = ("WITH pgrst_source AS (INSERT INTO %s(%s) SELECT %s FROM (SELECT %%s::json AS json_data) pgrst_payload, "
               "LATERAL (SELECT %s FROM json_to_recordset(pgrst_payload.json_data) AS _(%s)) pgrst_body RETURNING 1) "
               % (self.qi(rel), cols, ", ".join("pgrst_body." + self.ident(k) for k in keys), cols,
                  ", ".join("%s %s" % (self.ident(k), types.get(k, "text")) for k in keys)))
        return sql + self.TAIL.format(body="''"), [json.dumps(rows)]

    def rpc_query(self, name, fn, args, method, handler="json"):
        keys = list(args.keys())
        if method == "GET":  # named arguments, each cast to its declared type
            argsql = ", ".join("%s := %%s::%s" % (self.ident(k), fn["types"][k]) for k in keys)
            params = [args[k] for k in keys]
            source = ""
        else:  # the JSON body through json_to_record
            argsql = ", ".join("%s := pgrst_body.%s" % (self.ident(k), self.ident(k)) for k in keys)
            params = [json.dumps(args)]
            source = ("FROM (SELECT %%s::json AS json_data) pgrst_payload, LATERAL (SELECT %s FROM "
                      "json_to_record(pgrst_payload.json_data) AS _(%s) LIMIT 1) pgrst_body, LATERAL "
                      % (", ".join(self.ident(k) for k in keys) or "1",
                         ", ".join("%s %s" % (self.ident(k), fn["types"][k]) for k in keys)))
            if not keys:
                source, params = "FROM ", []
        call = "%s(%s)" % (self.qi(name), argsql)
        if handler != "json":
            # v12 SqlFragment.customFuncF: the domain applied to the scalar, no aggregate (page_total 1)
            inner = "SELECT pgrst_call.pgrst_scalar %s(SELECT %s pgrst_scalar) pgrst_call" % (source or "FROM ", call)
            tail = self.TAIL.format(body="%s(_postgrest_t.pgrst_scalar)" % handler[1]).replace(
                "pg_catalog.count(_postgrest_t) AS page_total", "1 AS page_total")
            return "WITH pgrst_source AS (%s) %s" % (inner, tail), params
        if fn["composite"]:
            inner = "SELECT pgrst_call.* %s%s pgrst_call" % (source or "FROM ", call)
            body = "coalesce(json_agg(_postgrest_t), '[]')" if fn["retset"] else \
                "coalesce((json_agg(_postgrest_t)->0)::text, 'null')"
        else:
            inner = "SELECT pgrst_call.pgrst_scalar %s(SELECT %s pgrst_scalar) pgrst_call" % (source or "FROM ", call)
            body = "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')" if fn["retset"] else \
                "coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')"
        return "WITH pgrst_source AS (%s) %s" % (inner, self.TAIL.format(body=body + "::character varying")), params


def mint(secret, claims):
    """An HS256 token, byte for byte what api/mint-token.sh prints."""
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    h = enc(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    p = enc(json.dumps(claims, separators=(",", ":")).encode())
    s = enc(hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest())
    return h + "." + p + "." + s

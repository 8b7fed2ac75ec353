#!/usr/bin/env python3
"""relay_receiver.py: a webhook receiver for the relay scenarios and benchmark
(Python standard library only).

    relay_receiver.py MODE PORT LOGFILE [SECRET]

Listens on 127.0.0.1:PORT and appends one line per request to LOGFILE:
"<unix time of receipt> <Learning-Event-Id> <answer> <verdict> <path> <body id>
<body payload.t>", where verdict is "sig-ok", "sig-bad" or "unsigned", body id is
the "id" of the JSON body and payload.t the sender's commit clock, if any (the
first item's t: an event's payload lists its rows).  MODE:

    verify    verifies Learning-Signature with SECRET (401 when it is wrong or
              older than 5 minutes), else 200
    flaky     500 for the first two requests of an event id, then 200
    hang      reads the request, then sleeps 30 s before answering
    huge      200 with a 50 MB body (Content-Length set)
    redirect  302 to http://127.0.0.1:PORT+1/elsewhere
    slow      waits 0.2 s, then 200 (deliveries stay in flight for a while)
    fast      200 at once, no verification (benchmark); with SECRET, verifies

How a receiver verifies a delivery (also in api/WEBHOOKS.md): take t and v1
from Learning-Signature, compute HMAC-SHA256(secret, "<t>.<raw body>") as lower
case hex, compare with v1 in constant time, reject when |now - t| is too large,
and deduplicate on Learning-Event-Id (deliveries are at-least-once).
"""
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time

MODE, PORT, LOGFILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SECRET = sys.argv[4] if len(sys.argv) > 4 else None
TOLERANCE = 300
seen = {}
lock = threading.Lock()
log = open(LOGFILE, "a", buffering=1)


def verify(headers, body):
    """Returns 'sig-ok', 'sig-bad' or 'unsigned' for one request."""
    sig = headers.get("Learning-Signature")
    if sig is None:
        return "unsigned"
    try:
        parts = dict(p.split("=", 1) for p in sig.split(","))
        t = int(parts["t"])
        v1 = parts["v1"]
    except (ValueError, KeyError):
        return "sig-bad"
    if SECRET is None:
        return "unsigned"
    want = hmac.new(SECRET.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, v1) or abs(time.time() - t) > TOLERANCE:
        return "sig-bad"
    return "sig-ok"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY the second
    # waits for the client's delayed ACK (40 ms per request)
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, code, body=b"ok\n", extra=None):
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        now = time.time()
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        event_id = self.headers.get("Learning-Event-Id", "-")
        verdict = verify(self.headers, body)
        code = 200
        if MODE == "verify" and verdict != "sig-ok":
            code = 401
        elif MODE == "fast" and SECRET is not None and verdict != "sig-ok":
            code = 401
        elif MODE == "flaky":
            with lock:
                seen[event_id] = seen.get(event_id, 0) + 1
                code = 500 if seen[event_id] <= 2 else 200
        elif MODE == "redirect":
            code = 302
        try:
            doc = json.loads(body)
            body_id = str(doc.get("id", "-"))
            # an event's payload lists its rows (items); the sender's clock is in the first
            payload = doc.get("payload", {})
            items = payload.get("items") or [{}]
            sent = str(payload.get("t", items[0].get("t", "-")) if isinstance(items[0], dict) else "-")
        except (ValueError, AttributeError):
            body_id, sent = "-", "-"
        log.write("%.6f %s %d %s %s %s %s\n" % (now, event_id, code, verdict, self.path, body_id, sent))
        if MODE == "hang":
            time.sleep(30)
            return
        if MODE == "slow":
            time.sleep(0.2)
        if MODE == "huge":
            size = 50 * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(size // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if code == 302:
            self.answer(302, extra={"Location": "http://127.0.0.1:%d/elsewhere" % (PORT + 1)})
        else:
            self.answer(code)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


Server(("127.0.0.1", PORT), Handler).serve_forever()

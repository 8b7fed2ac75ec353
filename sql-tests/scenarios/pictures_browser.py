"""pictures_browser: checks what headless Chromium made of the pictures.

  python3 pictures_browser.py sse PORT EVENTS_JSON   serve an SSE stream on 127.0.0.1:PORT
  python3 pictures_browser.py svg DOM_FILE EXPECT_JSON
  python3 pictures_browser.py page DOM_FILE EXPECT_JSON
  python3 pictures_browser.py png PNG_FILE MIN_BLUE_PIXELS
  python3 pictures_browser.py snippet PORT SSE_MD       serve api/SSE.md's browser snippet with a
                                                       stand-in PostgREST and nchan on 127.0.0.1:PORT

Each check prints TAP lines.  The DOM files are Chromium's --dump-dom output,
i.e. the document after parsing and after the page's script ran, so an
injected element would show up there as an element.
"""

import html.parser
import http.server
import json
import struct
import sys
import zlib


def tap(ok, what):
    print(("ok - " if ok else "not ok - ") + what)
    return ok


class Dom(html.parser.HTMLParser):
    """Elements with their attributes and the text inside each id'd element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []      # (tag, attrs)
        self.stack = []         # open elements: (tag, id)
        self.text = {}          # id -> text
        self.cells = []         # text of each td/th, in order

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag in ("br", "meta", "img", "input", "link", "hr", "col", "area", "base", "source", "wbr", "embed"):
            return
        self.stack.append((tag, a.get("id"), len(self.cells) if tag in ("td", "th") else None))
        if tag in ("td", "th"):
            self.cells.append("")

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for tag, ident, cell in self.stack:
            if ident:
                self.text[ident] = self.text.get(ident, "") + data
            if cell is not None:
                self.cells[cell] += data

    def find(self, tag, **want):
        return [a for t, a in self.elements if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in want.items())]


def parse(path):
    d = Dom()
    d.feed(open(path, encoding="utf-8").read())
    return d


def check_svg(dom_file, expect):
    d = parse(dom_file)
    points = [a for t, a in d.elements if t == "circle" and "data-bin" in a]
    tap(len(points) == len(expect["bins"]), "the diagram shows one point per bin with outcomes (%d, want %d)"
        % (len(points), len(expect["bins"])))
    got = {int(a["data-bin"]): int(a["data-count"]) for a in points}
    tap(got == {int(k): v for k, v in expect["bins"].items()}, "each point carries its bin's count of outcome rows")
    bars = [a for t, a in d.elements if t == "rect" and "data-bin" in a]
    tap(len(bars) == 10, "the histogram has ten bars")
    texts = open(dom_file, encoding="utf-8").read()
    tap("Brier %s" % expect["brier"] in texts, "the legend shows Brier %s" % expect["brier"])
    tap("ECE %s" % expect["ece"] in texts, "the legend shows ECE %s" % expect["ece"])
    tap(any(t == "line" and a.get("class") == "diag" for t, a in d.elements), "the diagonal is drawn")


def check_page(dom_file, expect):
    d = parse(dom_file)
    scripts = [a for t, a in d.elements if t == "script"]
    tap(len(scripts) == 1, "one script element in the rendered page, ours (%d)" % len(scripts))
    tap(not any(t == "img" for t, a in d.elements), "no img element: the hostile metadata stayed text")
    tap(not any(k.startswith("on") for t, a in d.elements for k in a), "no element has an event handler attribute")
    tap(expect["hostile_rep"] in d.cells, "the hostile rep id is shown as text in the leaderboard")
    tap(any(expect["hostile_trigger"] in c for c in d.cells), "the hostile escalation trigger is shown as text in a coaching pattern")
    diagrams = [a for t, a in d.elements if t == "svg" and a.get("class") == "reliability-diagram"]
    tap(sorted(a["data-action-type"] for a in diagrams) == sorted(expect["action_types"]),
        "one reliability diagram per action type: %s" % ", ".join(sorted(expect["action_types"])))
    tap(len([a for t, a in d.elements if t == "rect" and "data-actions" in a]) == expect["days"],
        "the trends chart has one bar per day of the period (%d)" % expect["days"])
    rows = [c for c in d.cells]
    tap(all(r in rows for r in expect["reps"]), "the leaderboard lists every rep")
    status = d.text.get("live-status", "")
    tap(("%d new events" % expect["live_events"]) in status,
        "the live feed counted each event once, out of order and repeated ones included: %r" % status)
    totals = d.text.get("live-totals", "")
    tap("2 actions recorded, 3 outcomes resolved (negative 1, positive 2), 1 feedback entries" in totals,
        "the live totals add up each event's counts once: %r" % totals)
    items = [a for t, a in d.elements if t == "li"]
    tap(len(items) == expect["live_events"], "the live list shows %d events" % expect["live_events"])


def png_pixels(path):
    """(width, height, rows of RGBA bytes) of an 8-bit non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and interlace == 0 and ctype in (2, 6)
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def check_png(path, min_blue):
    w, h, bpp, rows = png_pixels(path)
    # the points, intervals and curve are #1f6fb2
    blue = sum(1 for r in rows for x in range(0, w * bpp, bpp)
               if abs(r[x] - 0x1f) < 40 and abs(r[x + 1] - 0x6f) < 40 and abs(r[x + 2] - 0xb2) < 40)
    tap(blue >= min_blue, "the screenshot %s (%dx%d) shows the drawn curve (%d blue pixels)" % (path.split("/")[-1], w, h, blue))


def serve_sse(port, events):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            # then close: the browser reconnects after `retry` ms and gets the same events again
            self.wfile.write(b"retry: 500\n\n")
            for e in events:
                self.wfile.write(("data: %s\n\n" % json.dumps(e)).encode())
                self.wfile.flush()

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


def serve_snippet(port, sse_md):
    """The browser snippet of api/SSE.md against a stand-in for PostgREST and nchan.

    The outbox holds 2500 events of the tenant (ids 2, 4, ..., 5000: ids are
    shared by all tenants, so a tenant's have gaps); events_since answers at
    most 1000 per call, in id order.  The stream sends 60 newer events out of
    order, some twice and some old ones again, then closes; the browser
    reconnects and gets the same again (nchan's buffer).  /result shows what
    the snippet rendered.
    """
    import random
    import re
    text = open(sse_md, encoding="utf-8").read()
    snippet = re.search(r"```html\n(<script type=\"module\">.*?</script>)\n```", text, re.S).group(1)
    outbox = [{"id": i, "tenant_id": "acme", "event_type": "outcome_recorded", "created_at": "t", "payload": {"count": 1}}
              for i in range(2, 5001, 2)]
    live = [dict(e, id=i) for e, i in zip(outbox, range(5001, 5061))]
    rnd = random.Random(7)
    stream = live[:] + live[10:20] + outbox[-30:]
    rnd.shuffle(stream)
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><pre id='out'>waiting</pre>"
            "<script>const token = 'a-token'; const rendered = [];"
            "function render(ev) { rendered.push(ev.id); document.getElementById('out').textContent ="
            " JSON.stringify({count: rendered.length, unique: new Set(rendered).size,"
            " max: Math.max.apply(null, rendered)}); }</script>\n" + snippet + "</body></html>")

    class H(http.server.BaseHTTPRequestHandler):
        def reply(self, code, ctype, body):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/api/rpc/sse_channel" and self.headers.get("Authorization") == "Bearer a-token":
                return self.reply(200, "application/json", json.dumps({"tenant_id": "acme", "channel": "k" * 64,
                                                                       "path": "/sub/" + "k" * 64}))
            self.reply(401, "application/json", "{}")

        def do_GET(self):
            if self.path == "/client.html":
                return self.reply(200, "text/html", page)
            m = re.match(r"/api/rpc/events_since\?after_id=(\d+)&max=(\d+)$", self.path)
            if m and self.headers.get("Authorization") == "Bearer a-token":
                after, most = int(m.group(1)), min(int(m.group(2)), 1000)
                rows = [e for e in outbox if e["id"] > after][:most]
                return self.reply(200, "application/json", json.dumps(rows))
            if self.path == "/sub/" + "k" * 64 and self.headers.get("Accept") == "text/event-stream":
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"retry: 300\n\n")
                for n, e in enumerate(stream):
                    self.wfile.write(("id: %d\ndata: %s\n\n" % (n, json.dumps(e))).encode())
                self.wfile.flush()
                return
            self.reply(404, "text/plain", "no")

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


def check_snippet(dom_file):
    d = parse(dom_file)
    try:
        got = json.loads(d.text.get("out", ""))
    except ValueError:
        got = {}
    want = 2500 + 60
    tap(got.get("unique") == want, "api/SSE.md's snippet renders every event once: %s of %d "
        "(2500 through events_since in 3 pages, 60 live out of order)" % (got.get("unique"), want))
    tap(got.get("count") == got.get("unique"), "...and none twice, though the stream repeats some (%s renders)"
        % got.get("count"))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sse":
        serve_sse(int(sys.argv[2]), json.loads(sys.argv[3]))
    elif mode == "svg":
        check_svg(sys.argv[2], json.loads(sys.argv[3]))
    elif mode == "page":
        check_page(sys.argv[2], json.loads(sys.argv[3]))
    elif mode == "png":
        check_png(sys.argv[2], int(sys.argv[3]))
    elif mode == "snippet":
        serve_snippet(int(sys.argv[2]), sys.argv[3])
    elif mode == "snippet-check":
        check_snippet(sys.argv[2])

#!/usr/bin/env bash
# pictures_browser.sh: the reliability diagram and the manager's page in a real
# browser.  Headless Chromium loads the SVG and the HTML written by the
# extension; the DOM it builds (after the page's script ran against a small
# SSE server that sends events out of order and twice) is checked against
# figures recomputed here from the outcome rows, hostile ids must stay text,
# and the screenshots must show the drawn curve.  The browser snippet of
# api/SSE.md runs too, against stand-ins.  Prints TAP lines; skips
# (one "ok - # SKIP") when chromium is not installed.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
. test/lib.sh
PORT=56150
SSE_PORT=56151
SNIPPET_PORT=56152
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "ok - # SKIP chromium is not installed"
    exit 0
fi
OUT=$TEST_ROOT/pictures_out
rm -rf "$OUT"; mkdir -p "$OUT/home"

start_cluster pictures $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    || { echo "not ok - pictures cluster starts"; exit 1; }
SSE_PID=; SNIPPET_PID=
trap 'stop_cluster pictures; [ -n "$SSE_PID" ] && kill $SSE_PID 2>/dev/null; [ -n "$SNIPPET_PID" ] && kill $SNIPPET_PID 2>/dev/null' EXIT
q $PORT postgres "CREATE DATABASE pictures" >/dev/null
q $PORT pictures "CREATE EXTENSION learning" >/dev/null || { echo "not ok - CREATE EXTENSION learning"; exit 1; }

HOSTILE_REP='<script>alert(1)</script>'
HOSTILE_TRIGGER='<img src=x onerror=alert(2)>'
# Three reps (one with a hostile id), two action types, escalations whose
# hostile trigger resolves far better than the others (so that it is a
# coaching pattern), a month of data.
q $PORT pictures "
SELECT setseed(0.31);
CREATE TABLE acts AS
SELECT i, (ARRAY['rep-a', 'rep-b', \$h\$$HOSTILE_REP\$h\$])[1 + i % 3] AS rep,
       CASE WHEN i % 2 = 0 THEN 'send_email' ELSE 'escalate' END AS action_type,
       CASE WHEN i % 2 = 0 THEN 'email_engagement' ELSE 'escalation_result' END AS outcome_type,
       CASE WHEN i % 4 = 1 THEN \$h\$$HOSTILE_TRIGGER\$h\$ ELSE 'customer_request' END AS trig,
       0.2 + 0.75 * random() AS p, random() AS u, now() - random() * interval '29 days' AS at
  FROM generate_series(1, 800) i;
SELECT count(learning.resolve_outcome('shop', learning.record_outcome('shop', 'c-' || i, action_type, p, outcome_type,
           rep_id => rep, created_at => at,
           metadata => CASE WHEN action_type = 'escalate' THEN jsonb_build_object('escalation_trigger', trig) ELSE '{}' END),
       CASE WHEN action_type = 'escalate' AND trig <> 'customer_request' THEN (CASE WHEN u < 0.9 THEN 'positive' ELSE 'negative' END)
            WHEN action_type = 'escalate' THEN (CASE WHEN u < 0.3 THEN 'positive' ELSE 'negative' END)
            WHEN u < p - 0.1 THEN 'positive' ELSE 'negative' END))
  FROM acts;
SELECT learning.sse_channel('shop');" >/dev/null || { echo "not ok - sample data"; exit 1; }

# Figures recomputed from the outcome rows, independently of the pictures.
EXPECT_SVG=$(q $PORT pictures "
WITH raw AS (SELECT least(floor(predicted_confidence * 10), 9)::int AS bin, predicted_confidence AS p,
                    CASE WHEN status = 'positive' THEN coalesce(outcome_score, 1) ELSE 0 END AS v
               FROM learning.outcome_records WHERE tenant_id = 'shop' AND action_type = 'send_email'
                AND status IN ('positive', 'negative', 'expired')),
     b AS (SELECT bin, count(*) n, avg(p) mp, avg(v) r FROM raw GROUP BY bin)
SELECT json_build_object(
         'bins', (SELECT json_object_agg(bin, n) FROM b),
         'brier', (SELECT round(avg((p - v) ^ 2)::numeric, 4)::text FROM raw),
         'ece', (SELECT round((sum(n * abs(mp - r)) / sum(n))::numeric, 4)::text FROM b WHERE n >= 10))")
EXPECT_PAGE=$(q $PORT pictures "
SELECT json_build_object(
         'hostile_rep', \$h\$$HOSTILE_REP\$h\$, 'hostile_trigger', \$h\$$HOSTILE_TRIGGER\$h\$, 'days', 30, 'live_events', 3,
         'action_types', (SELECT json_agg(DISTINCT action_type) FROM learning.outcome_records WHERE tenant_id = 'shop'),
         'reps', (SELECT json_agg(DISTINCT rep_id) FROM learning.outcome_records WHERE tenant_id = 'shop'))")

q $PORT pictures "SELECT learning.reliability_diagram('shop', 'send_email')" >"$OUT/diagram.svg"
q $PORT pictures "SELECT learning.dashboard_page('shop', 30, 'http://127.0.0.1:$SSE_PORT')" >"$OUT/page.html"
tap_ok $? "the extension writes the diagram and the page"

# An SSE server like nchan's /sub/<key>: events 7, 5, 7 again, 6, then it closes
# the stream; the browser reconnects and gets them all again.
EVENTS='[{"id":7,"tenant_id":"shop","event_type":"outcome_recorded","created_at":"now","payload":{"count":2}},
         {"id":5,"tenant_id":"shop","event_type":"outcome_resolved","created_at":"now","payload":{"count":3,"by_status":{"positive":2,"negative":1}}},
         {"id":7,"tenant_id":"shop","event_type":"outcome_recorded","created_at":"now","payload":{"count":2}},
         {"id":6,"tenant_id":"shop","event_type":"feedback_recorded","created_at":"now","payload":{"count":1}}]'
"$PY" sql-tests/scenarios/pictures_browser.py sse $SSE_PORT "$EVENTS" &
SSE_PID=$!
sleep 0.5

browse() {  # browse URL ARGS...: headless Chromium with a throwaway profile
    local url=$1; shift
    HOME=$OUT/home timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$OUT/home/profile" --hide-scrollbars "$@" "$url" 2>>"$OUT/chromium.log"
}
browse "file://$OUT/diagram.svg" --dump-dom >"$OUT/diagram.dom"
browse "file://$OUT/page.html" --virtual-time-budget=5000 --dump-dom >"$OUT/page.dom"
browse "file://$OUT/diagram.svg" --window-size=700,580 --screenshot="$OUT/diagram.png" >/dev/null
browse "file://$OUT/page.html" --window-size=1300,2600 --screenshot="$OUT/page.png" >/dev/null
tap_ok $(test -s "$OUT/diagram.dom" && test -s "$OUT/page.dom"; echo $?) "chromium renders both documents"

"$PY" sql-tests/scenarios/pictures_browser.py svg "$OUT/diagram.dom" "$EXPECT_SVG"
"$PY" sql-tests/scenarios/pictures_browser.py page "$OUT/page.dom" "$EXPECT_PAGE"
"$PY" sql-tests/scenarios/pictures_browser.py png "$OUT/diagram.png" 300
"$PY" sql-tests/scenarios/pictures_browser.py png "$OUT/page.png" 600

# The browser snippet of api/SSE.md, as written there, against stand-ins for
# PostgREST (events_since pages of at most 1000) and nchan (out of order,
# repeats, reconnects).
"$PY" sql-tests/scenarios/pictures_browser.py snippet $SNIPPET_PORT api/SSE.md &
SNIPPET_PID=$!
sleep 0.5
browse "http://127.0.0.1:$SNIPPET_PORT/client.html" --virtual-time-budget=5000 --dump-dom >"$OUT/snippet.dom"
"$PY" sql-tests/scenarios/pictures_browser.py snippet-check "$OUT/snippet.dom"
echo "# pictures and screenshots are in $OUT"

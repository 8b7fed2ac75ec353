-- Pictures: the reliability diagram and the manager's page against the raw
-- outcome rows (counts, Brier, ECE recomputed here in plain SQL), XML
-- well-formedness, the time window, escaping of hostile ids, the live feed
-- attribute, the errors at the boundary and the API wrappers' roles.
BEGIN;
SELECT plan(29);

\o /dev/null
SELECT setseed(0.2025);
\o
CREATE TEMP TABLE acts AS
SELECT i, random() AS p, random() AS u,
       CASE WHEN i % 5 = 0 THEN '<script>alert("rep")</script>' ELSE 'rep-' || (i % 3) END AS rep
  FROM generate_series(1, 400) i;
CREATE TEMP TABLE ids AS
SELECT a.i, a.p, a.u,
       learning.record_outcome('pic', 'conv-' || a.i, 'send_email', a.p, 'email_engagement',
                               action_id => 'a-' || a.i, rep_id => a.rep) AS id
  FROM acts a;
-- every resolution kind: positive (some with a score), negative, expired, ambiguous (not counted), pending
\o /dev/null
SELECT learning.resolve_outcome('pic', id,
           CASE WHEN i % 17 = 0 THEN 'ambiguous' WHEN i % 13 = 0 THEN 'expired'
                WHEN u < p * 0.8 THEN 'positive' ELSE 'negative' END,
           CASE WHEN i % 11 = 0 AND u < p * 0.8 AND i % 17 <> 0 AND i % 13 <> 0 THEN 0.5 END)
  FROM ids WHERE i % 23 <> 0;
SELECT learning.flush_pending_deltas();
\o

-- what the bins should hold, from the rows
CREATE TEMP TABLE raw AS
SELECT least(floor(o.predicted_confidence * 10), 9)::int AS bin, o.predicted_confidence AS p,
       CASE WHEN o.status = 'positive' THEN coalesce(o.outcome_score, 1) ELSE 0 END AS v
  FROM learning.outcome_records o
 WHERE o.tenant_id = 'pic' AND o.status IN ('positive', 'negative', 'expired');
CREATE TEMP TABLE svg AS SELECT learning.reliability_diagram('pic', 'send_email') AS doc;

SELECT ok((SELECT xmlparse(DOCUMENT doc) IS NOT NULL FROM svg), 'the diagram is a well-formed XML document');
SELECT ok((SELECT doc LIKE '<?xml version="1.0" encoding="UTF-8"?>' || E'\n' || '<svg xmlns="http://www.w3.org/2000/svg"%' FROM svg),
          'it starts with the XML declaration and an SVG root element');
SELECT is((SELECT count(*) FROM svg, regexp_matches(doc, '<circle class="bin[^"]*"[^>]* data-bin=', 'g')),
          (SELECT count(DISTINCT bin) FROM raw),
          'one point per bin that has outcomes');
SELECT is((SELECT string_agg(m[1] || ':' || m[2], ',' ORDER BY m[1]::int)
             FROM svg, regexp_matches(doc, '<rect class="bar"[^>]* data-bin="(\d+)" data-count="(\d+)"', 'g') m),
          (SELECT string_agg(b || ':' || coalesce(n, 0), ',' ORDER BY b)
             FROM generate_series(0, 9) b LEFT JOIN (SELECT bin, count(*) n FROM raw GROUP BY bin) r ON r.bin = b),
          'the histogram has ten bars with the counts of the outcome rows');
SELECT is((SELECT substring(doc FROM '<text y="60" class="brier">Brier ([0-9.]+)</text>') FROM svg),
          (SELECT round(avg((p - v) ^ 2)::numeric, 4)::text FROM raw),
          'the legend''s Brier score is the mean squared error of the counted outcomes');
SELECT is((SELECT substring(doc FROM '<text y="78" class="ece">ECE ([0-9.]+)</text>') FROM svg),
          (SELECT round((sum(n * abs(mp - r)) / sum(n))::numeric, 4)::text
             FROM (SELECT count(*) n, avg(p) mp, avg(v) r FROM raw GROUP BY bin HAVING count(*) >= 10) b),
          'the legend''s ECE is the count-weighted gap over bins with at least 10 outcomes');
SELECT is((SELECT substring(doc FROM 'n = (\d+) outcomes') FROM svg), (SELECT count(*)::text FROM raw),
          'the legend counts every counted outcome (ambiguous and pending left out)');

-- the window over the rows agrees with the bins while every outcome is inside it
SELECT ok((SELECT bool_and(abs((w ->> k)::float8 - (c ->> k)::float8) < 1e-9)
             FROM (SELECT learning.calibration_curve_window('pic', 'send_email', 30) w,
                          learning.calibration_curve('pic', 'send_email') c) x,
                  unnest(ARRAY['sample_count', 'brier_score', 'ece', 'mce']) k),
          'days => 30 gives calibration_curve''s figures while every outcome was resolved in the window');
SELECT is((SELECT learning.calibration_curve_window('pic', 'send_email', 30) -> 'is_calibrated'),
          (SELECT learning.calibration_curve('pic', 'send_email') -> 'is_calibrated'),
          'and the same is_calibrated verdict');
SELECT ok((SELECT bool_and(coalesce(abs((wb ->> k)::float8 - (cb ->> k)::float8) < 1e-9,
                                    (wb ->> k) IS NULL AND (cb ->> k) IS NULL))
             FROM (SELECT learning.calibration_curve_window('pic', 'send_email', 30) w,
                          learning.calibration_curve('pic', 'send_email') c) x,
                  jsonb_array_elements(w -> 'bins') WITH ORDINALITY wb_(wb, o)
                  JOIN jsonb_array_elements(c -> 'bins') WITH ORDINALITY cb_(cb, o2) ON o = o2,
                  unnest(ARRAY['count', 'mean_predicted', 'actual_rate', 'ci_low', 'ci_high']) k),
          'and the same ten bins: counts, means, rates and Wilson intervals');
-- move a fifth of them out of the window
UPDATE learning.outcome_records SET resolved_at = now() - interval '40 days'
 WHERE tenant_id = 'pic' AND status <> 'pending' AND action_id ~ '[05]$';
SELECT is((SELECT (learning.calibration_curve_window('pic', 'send_email', 30) ->> 'sample_count')::bigint),
          (SELECT count(*) FROM learning.outcome_records o
            WHERE o.tenant_id = 'pic' AND o.status IN ('positive', 'negative', 'expired')
              AND o.resolved_at > now() - interval '20 days'),
          'days => 30 leaves out outcomes resolved 40 days ago');
SELECT ok((SELECT learning.reliability_diagram('pic', 'send_email', 30) LIKE '%resolved in the last 30 days%'),
          'the diagram says which outcomes it shows');
SELECT ok((SELECT learning.reliability_diagram('pic', 'book_meeting') LIKE '%No resolved outcomes yet%'),
          'an action type without outcomes gives an empty diagram, not an error');

-- errors at the boundary
SELECT throws_ok($$SELECT learning.reliability_diagram('pic', '<script>')$$, '22023', NULL,
                 'an action type that is not [a-z0-9_] is refused (22023)');
SELECT throws_ok($$SELECT learning.reliability_diagram('pic', 'send_email', 0)$$, '22003', NULL, 'days 0 is 22003');
SELECT throws_ok($$SELECT learning.dashboard_page('<b>', 30)$$, '22023', NULL, 'a bad tenant id is 22023');
SELECT throws_ok($$SELECT learning.dashboard_page('pic', 30, 'javascript:alert(1)')$$, '22023', NULL,
                 'an sse_url that is not an http(s) URL is 22023');

-- the page: hostile rep ids are text, never markup
CREATE TEMP TABLE page AS SELECT learning.dashboard_page('pic', 30) AS html;
SELECT ok((SELECT html LIKE '%&lt;script&gt;alert(&quot;rep&quot;)&lt;/script&gt;%' FROM page),
          'a rep id with <script> is shown escaped in the leaderboard');
SELECT is((SELECT count(*) FROM page, regexp_matches(html, '<script', 'gi')), 1::bigint,
          'the page has exactly one script element: its own');
SELECT is((SELECT count(*) FROM page, regexp_matches(html, '<svg xmlns="http://www.w3.org/2000/svg" class="reliability-diagram"', 'g')),
          (SELECT count(DISTINCT action_type) FROM learning.outcome_records
            WHERE tenant_id = 'pic' AND status IN ('positive', 'negative', 'expired')),
          'one reliability diagram per action type with counted outcomes');
SELECT is((SELECT html LIKE '%<th class="num">q-value</th>%' FROM page),
          (SELECT EXISTS (SELECT 1 FROM jsonb_array_elements(learning.coaching_patterns('pic', 30)) p WHERE p ? 'q_value')),
          'a q-value column exactly when coaching_patterns gives q-values');
-- the coaching table with and without q-values, whatever coaching_patterns gives today
SELECT ok(learning.html_patterns('[{"pattern_type": "action_effectiveness", "description": "d <b>", "recommendation": "r",
                                    "sample_size": 40, "p_value": 0.0123, "q_value": 0.0000456}]')
              LIKE '%<th class="num">q-value</th>%<td class="num p-value">0.012</td><td class="num q-value">4.6e-05</td>%',
          'patterns with q_value: a q-value column, p 0.012 and q 4.6e-05');
SELECT ok(learning.html_patterns('[{"pattern_type": "x", "description": "d", "recommendation": "r", "sample_size": 40, "p_value": 0.5}]')
              NOT LIKE '%q-value%',
          'patterns without q_value: no q-value column');
SELECT ok(learning.html_patterns('[{"pattern_type": "x", "description": "<script>x</script>", "recommendation": "r", "sample_size": 1, "p_value": 0.5}]')
              LIKE '%&lt;script&gt;x&lt;/script&gt;%', 'pattern texts are escaped');
SELECT ok((SELECT html LIKE '%<section id="live" data-sse="">%' FROM page),
          'no SSE channel: the page has no feed address');
\o /dev/null
SELECT learning.sse_channel('pic');
\o
SELECT is((SELECT substring(learning.dashboard_page('pic', 7, 'https://live.example.com/') FROM 'data-sse="([^"]*)"')),
          'https://live.example.com/sub/' || (SELECT channel_key FROM learning.sse_channels WHERE tenant_id = 'pic'),
          'with a channel the page follows <sse_url>/sub/<key>');

-- the HTTP wrappers: media type domains and the roles of the endpoint table
SELECT is((SELECT format_type(prorettype, NULL) FROM pg_proc WHERE oid = 'learning_api.dashboard_page(integer)'::regprocedure),
          'learning_api."text/html"', 'learning_api.dashboard_page returns the text/html domain');
SELECT is((SELECT format_type(prorettype, NULL) FROM pg_proc WHERE oid = 'learning_api.reliability_diagram(text, integer, integer)'::regprocedure),
          'learning_api."image/svg+xml"', 'learning_api.reliability_diagram returns the image/svg+xml domain');
SELECT set_config('request.jwt.claims', '{"role": "learning_rep", "tenant_id": "pic", "sub": "rep-1"}', true);
SET LOCAL ROLE learning_rep;
SELECT throws_ok($$SELECT learning_api.dashboard_page(30)$$, '42501', NULL, 'a rep may not read the manager''s page');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

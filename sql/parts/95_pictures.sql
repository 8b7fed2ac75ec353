------------------------------------------------------------------------------
-- Section: pictures (api/README.md "Pictures")
--
-- reliability_diagram draws an action type's calibration as an SVG document;
-- dashboard_page renders the manager's dashboard as one self-contained HTML
-- page (inline SVG and CSS, one inline script, nothing loaded from
-- elsewhere; the one connection it opens is the tenant's SSE feed, when the
-- tenant has one).  Both read only what the JSON API already returns
-- (calibration_curve, manager_dashboard, coaching_patterns), so the figures
-- in the pictures are the figures of the API.
--
-- Every string that comes from data (tenant ids, action types, rep ids,
-- pattern texts, metadata) goes through learning.xml_escape before it is
-- written into markup: the pictures contain no markup but ours.
--
-- PostgREST serves them with their media types through its media type
-- handlers: the learning_api functions return the domains
-- learning_api."image/svg+xml" and learning_api."text/html".
------------------------------------------------------------------------------

-- Escaping --------------------------------------------------------------------

CREATE FUNCTION learning.xml_escape(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    -- the five XML specials, and the control characters XML 1.0 forbids (dropped)
    RETURN replace(replace(replace(replace(replace(
               regexp_replace(s, E'[\\x01-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]', '', 'g'),
               '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION learning.xml_escape(text) IS
    'Text made safe inside XML or HTML text and quoted attribute values: & < > " '' as entities, control characters dropped';

-- svg_num: a coordinate or a figure with a fixed number of decimals.
CREATE FUNCTION learning.svg_num(v float8, decimals integer DEFAULT 1) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN v IS NULL OR v = 'NaN'::float8 THEN 'n/a' ELSE round(v::numeric, decimals)::text END;
COMMENT ON FUNCTION learning.svg_num(float8, integer) IS
    'A number rounded for a picture (n/a for NULL or NaN)';

-- svg_pvalue: a p- or q-value, three decimals, or two significant digits below 0.001.
CREATE FUNCTION learning.svg_pvalue(v float8) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN v IS NULL OR v = 'NaN'::float8 THEN NULL
                WHEN v < 0.001 THEN btrim(to_char(v, '9.9EEEE'))
                ELSE round(v::numeric, 3)::text END;
COMMENT ON FUNCTION learning.svg_pvalue(float8) IS
    'A p- or q-value for a picture: three decimals, or two significant digits in exponent form below 0.001';

-- A time window over the outcome rows --------------------------------------------

-- calibration_curve_window: what calibration_curve reports, for the outcomes
-- resolved in the tenant's last `days` calendar days, computed from the
-- outcome rows with the bins' rules: bin = min(floor(10 p), 9); positive
-- counts its score (1 by default), negative and expired 0, ambiguous and
-- pending not at all; Wilson 95 % intervals; ECE over bins with min_samples.
CREATE FUNCTION learning.calibration_curve_window(tenant_id text, action_type text, days integer,
                                                  min_samples integer DEFAULT 10)
    RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tz text;
    since timestamptz;
    result jsonb;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_action_type(action_type);
    PERFORM learning.check_required('days', days IS NULL);
    PERFORM learning.check_days(days);
    PERFORM learning.check_required('min_samples', min_samples IS NULL);
    IF min_samples < 1 THEN
        RAISE EXCEPTION 'min_samples must be at least 1, got %', min_samples USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    tz := learning.tenant_time_zone(tenant_id);
    -- the first instant of the tenant's calendar day days - 1 days ago
    since := ((pg_catalog.now() AT TIME ZONE tz)::date - (days - 1)) AT TIME ZONE tz;

    WITH counted AS (
        SELECT least(floor(o.predicted_confidence * 10), 9)::int AS bin, o.predicted_confidence AS p,
               CASE WHEN o.status = 'positive' THEN coalesce(o.outcome_score, 1.0) ELSE 0.0 END AS v
          FROM learning.outcome_records o
         WHERE o.tenant_id = calibration_curve_window.tenant_id
           AND o.action_type = calibration_curve_window.action_type
           AND o.status IN ('positive', 'negative', 'expired')
           AND o.predicted_confidence IS NOT NULL
           -- a row inserted already resolved may have no resolved_at: it counts from its creation
           AND coalesce(o.resolved_at, o.created_at) >= since),
    bins AS (
        SELECT b.i AS bin, count(c.p) AS n, avg(c.p) AS mean_p, avg(c.v) AS rate,
               sum((c.p - c.v) ^ 2) AS sq
          FROM generate_series(0, 9) b(i) LEFT JOIN counted c ON c.bin = b.i
         GROUP BY b.i),
    wilson AS (
        SELECT b.*, 1.959963984540054::float8 AS z FROM bins b),   -- 95 %, as calibration_curve
    ci AS (
        SELECT w.*,
               CASE WHEN n > 0 THEN greatest((rate + z * z / (2 * n)) / (1 + z * z / n)
                    - z * sqrt(greatest(rate * (1 - rate), 0) / n + z * z / (4.0 * n * n)) / (1 + z * z / n), 0) END AS lo,
               CASE WHEN n > 0 THEN least((rate + z * z / (2 * n)) / (1 + z * z / n)
                    + z * sqrt(greatest(rate * (1 - rate), 0) / n + z * z / (4.0 * n * n)) / (1 + z * z / n), 1) END AS hi
          FROM wilson w),
    totals AS (
        SELECT sum(n) AS n, sum(sq) AS sq,
               sum(n * abs(mean_p - rate)) FILTER (WHERE n >= min_samples) AS ece_sum,
               sum(n) FILTER (WHERE n >= min_samples) AS nq,
               max(abs(mean_p - rate)) FILTER (WHERE n >= min_samples) AS mce
          FROM bins)
    SELECT jsonb_build_object(
               'action_type', action_type,
               'sample_count', t.n,
               'brier_score', CASE WHEN t.n > 0 THEN t.sq / t.n END,
               'ece', CASE WHEN t.nq > 0 THEN t.ece_sum / t.nq END,
               'mce', t.mce,
               'is_calibrated', coalesce(t.nq > 0 AND t.ece_sum / t.nq <= 0.15, false),   -- calibration_curve's threshold
               'min_samples', min_samples,
               'days', days,
               'since', since,
               'bins', (SELECT jsonb_agg(jsonb_build_object(
                                   'bin_index', c.bin, 'lower', c.bin / 10.0, 'upper', (c.bin + 1) / 10.0,
                                   'count', c.n, 'mean_predicted', c.mean_p, 'actual_rate', c.rate,
                                   'ci_low', c.lo, 'ci_high', c.hi) ORDER BY c.bin)
                          FROM ci c))
      INTO result
      FROM totals t;
    RETURN result;
END $$;
COMMENT ON FUNCTION learning.calibration_curve_window(text, text, integer, integer) IS
    'calibration_curve''s bins, Brier score, ECE and MCE for the outcomes resolved in the tenant''s last days calendar days, from the outcome rows';

-- The reliability diagram -------------------------------------------------------

-- svg_reliability draws a calibration_curve-shaped document as an <svg>
-- element (no XML declaration, so that it can also sit inside HTML).
CREATE FUNCTION learning.svg_reliability(curve jsonb, tenant_id text, period text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- plot square: x from l to l + s (mean prediction), y from t + s to t (actual rate)
    l constant float8 := 70; t constant float8 := 50; s constant float8 := 360;
    -- count histogram below it: bars grow up from hb, at most hh high
    hb constant float8 := 535; hh constant float8 := 60;
    min_n integer := coalesce((curve ->> 'min_samples')::int, 10);
    max_n float8;
    b jsonb;
    n float8; mp float8; r float8; lo float8; hi float8;
    x float8; y float8;
    pts text[] := '{}';
    out text;
    i integer;
    at text := curve ->> 'action_type';
BEGIN
    SELECT max((e ->> 'count')::float8) INTO max_n FROM jsonb_array_elements(curve -> 'bins') e;
    out := format('<svg xmlns="http://www.w3.org/2000/svg" class="reliability-diagram" viewBox="0 0 700 560" '
                  'width="700" height="560" role="img" data-action-type="%s" data-tenant-id="%s" '
                  'data-sample-count="%s" data-brier="%s" data-ece="%s">',
                  learning.xml_escape(at), learning.xml_escape(tenant_id),
                  coalesce(curve ->> 'sample_count', '0'),
                  coalesce(curve ->> 'brier_score', ''), coalesce(curve ->> 'ece', ''));
    out := out || format('<title>Reliability diagram of %s for tenant %s</title>',
                         learning.xml_escape(at), learning.xml_escape(tenant_id));
    out := out || '<style>text{font-family:sans-serif;font-size:12px;fill:#222}'
                  '.ax{stroke:#444;stroke-width:1}.grid{stroke:#ddd;stroke-width:1}'
                  '.diag{stroke:#888;stroke-width:1.5;stroke-dasharray:6 4}'
                  '.curve{fill:none;stroke:#1f6fb2;stroke-width:2}.ci{stroke:#1f6fb2;stroke-width:1.5}'
                  '.bin{fill:#1f6fb2;stroke:#1f6fb2;stroke-width:1.5}.bin.thin{fill:#fff}'
                  '.bar{fill:#9cc3e4}.title{font-size:15px;font-weight:bold}.small{font-size:11px;fill:#555}</style>';
    out := out || format('<text class="title" x="%s" y="28">Reliability: %s</text>', l, learning.xml_escape(at));
    out := out || '<rect x="0" y="0" width="680" height="560" fill="none"/>';

    -- grid, axes, ticks
    FOR i IN 0..5 LOOP
        x := l + s * i / 5.0; y := t + s - s * i / 5.0;
        out := out || format('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>', x, t, x, t + s)
                   || format('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, y, l + s, y)
                   || format('<text x="%s" y="%s" text-anchor="middle">%s</text>', x, t + s + 16, round(i / 5.0, 1))
                   || format('<text x="%s" y="%s" text-anchor="end">%s</text>', l - 6, y + 4, round(i / 5.0, 1));
    END LOOP;
    out := out || format('<rect class="ax" x="%s" y="%s" width="%s" height="%s" fill="none"/>', l, t, s, s)
               || format('<text x="%s" y="%s" text-anchor="middle">mean predicted confidence</text>', l + s / 2, t + s + 34)
               || format('<text x="%s" y="%s" text-anchor="middle" transform="rotate(-90 %s %s)">actual positive rate</text>',
                         l - 44, t + s / 2, l - 44, t + s / 2)
               -- perfect calibration
               || format('<line class="diag" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, t + s, l + s, t);

    -- Wilson intervals and points, bin by bin
    FOR b IN SELECT e FROM jsonb_array_elements(curve -> 'bins') e ORDER BY (e ->> 'bin_index')::int LOOP
        n := (b ->> 'count')::float8;
        CONTINUE WHEN n IS NULL OR n <= 0;
        mp := (b ->> 'mean_predicted')::float8; r := (b ->> 'actual_rate')::float8;
        lo := (b ->> 'ci_low')::float8; hi := (b ->> 'ci_high')::float8;
        x := round((l + s * mp)::numeric, 1); y := round((t + s - s * r)::numeric, 1);
        pts := pts || format('%s,%s', x, y);
        out := out || format('<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s"/>', x, learning.svg_num(t + s - s * lo), x, learning.svg_num(t + s - s * hi))
                   || format('<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s"/>', x - 4, learning.svg_num(t + s - s * lo), x + 4, learning.svg_num(t + s - s * lo))
                   || format('<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s"/>', x - 4, learning.svg_num(t + s - s * hi), x + 4, learning.svg_num(t + s - s * hi));
    END LOOP;
    IF cardinality(pts) > 1 THEN
        out := out || format('<polyline class="curve" points="%s"/>', array_to_string(pts, ' '));
    END IF;
    FOR b IN SELECT e FROM jsonb_array_elements(curve -> 'bins') e ORDER BY (e ->> 'bin_index')::int LOOP
        n := (b ->> 'count')::float8;
        CONTINUE WHEN n IS NULL OR n <= 0;
        mp := (b ->> 'mean_predicted')::float8; r := (b ->> 'actual_rate')::float8;
        out := out || format('<circle class="bin%s" cx="%s" cy="%s" r="5" data-bin="%s" data-count="%s" '
                             'data-mean-predicted="%s" data-actual-rate="%s" data-ci-low="%s" data-ci-high="%s">'
                             '<title>bin %s: %s outcomes, mean prediction %s, actual rate %s (95 %% interval %s to %s)</title></circle>',
                             CASE WHEN n < min_n THEN ' thin' ELSE '' END,
                             learning.svg_num(l + s * mp), learning.svg_num(t + s - s * r),
                             b ->> 'bin_index', n, b ->> 'mean_predicted', b ->> 'actual_rate', b ->> 'ci_low', b ->> 'ci_high',
                             b ->> 'bin_index', n, learning.svg_num(mp, 3), learning.svg_num(r, 3),
                             learning.svg_num((b ->> 'ci_low')::float8, 3), learning.svg_num((b ->> 'ci_high')::float8, 3));
    END LOOP;

    -- count histogram: one bar per bin, on the same x scale
    out := out || format('<line class="ax" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, hb, l + s, hb)
               || format('<text class="small" x="%s" y="%s" text-anchor="end">outcomes</text>', l - 6, hb - hh / 2);
    FOR b IN SELECT e FROM jsonb_array_elements(curve -> 'bins') e ORDER BY (e ->> 'bin_index')::int LOOP
        n := coalesce((b ->> 'count')::float8, 0);
        i := (b ->> 'bin_index')::int;
        y := CASE WHEN max_n > 0 THEN hh * n / max_n ELSE 0 END;
        out := out || format('<rect class="bar" x="%s" y="%s" width="%s" height="%s" data-bin="%s" data-count="%s"/>',
                             learning.svg_num(l + s * i / 10.0 + 2), learning.svg_num(hb - y), s / 10.0 - 4,
                             learning.svg_num(y), i, n)
                   || format('<text class="small" x="%s" y="%s" text-anchor="middle">%s</text>',
                             learning.svg_num(l + s * (i + 0.5) / 10.0), learning.svg_num(hb - y - 3), n);
    END LOOP;

    -- legend
    out := out || format('<g class="legend" transform="translate(455 %s)">', t + 10)
               || format('<text y="0">tenant %s</text>', learning.xml_escape(tenant_id))
               || format('<text y="18">%s</text>', learning.xml_escape(period))
               || format('<text y="36" class="n">n = %s outcomes</text>', coalesce(curve ->> 'sample_count', '0'))
               || format('<text y="60" class="brier">Brier %s</text>', learning.svg_num((curve ->> 'brier_score')::float8, 4))
               || format('<text y="78" class="ece">ECE %s</text>', learning.svg_num((curve ->> 'ece')::float8, 4))
               || format('<text y="96" class="small">ECE over bins with at least %s outcomes</text>', min_n)
               || '<line class="diag" x1="0" y1="120" x2="30" y2="120"/><text x="38" y="124">perfect calibration</text>'
               || '<line class="curve" x1="0" y1="142" x2="30" y2="142"/><circle class="bin" cx="15" cy="142" r="5"/>'
               || '<text x="38" y="146">actual rate per bin</text>'
               || '<line class="ci" x1="15" y1="156" x2="15" y2="176"/><text x="38" y="170">Wilson 95 % interval</text>'
               || format('<circle class="bin thin" cx="15" cy="192" r="5"/><text x="38" y="196">fewer than %s outcomes</text>', min_n)
               || '<rect class="bar" x="5" y="206" width="20" height="12"/><text x="38" y="216">outcomes per bin</text>'
               || '</g>';
    IF coalesce((curve ->> 'sample_count')::float8, 0) = 0 THEN
        out := out || format('<text class="empty" x="%s" y="%s" text-anchor="middle">No resolved outcomes yet</text>',
                             l + s / 2, t + s / 2);
    END IF;
    RETURN out || '</svg>';
END $$;
COMMENT ON FUNCTION learning.svg_reliability(jsonb, text, text) IS
    'Draws a calibration_curve document as an <svg> element: points with Wilson intervals, the diagonal, the count histogram, Brier and ECE';

CREATE FUNCTION learning.reliability_diagram(tenant_id text, action_type text, days integer DEFAULT NULL,
                                             min_samples integer DEFAULT 10)
    RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    curve jsonb;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_action_type(action_type);
    IF days IS NULL THEN
        curve := learning.calibration_curve(tenant_id, action_type, min_samples);
    ELSE
        curve := learning.calibration_curve_window(tenant_id, action_type, days, min_samples);
    END IF;
    RETURN '<?xml version="1.0" encoding="UTF-8"?>' || E'\n'
        || learning.svg_reliability(curve, tenant_id,
               CASE WHEN days IS NULL THEN 'all resolved outcomes'
                    ELSE format('resolved in the last %s days', days) END) || E'\n';
END $$;
COMMENT ON FUNCTION learning.reliability_diagram(text, text, integer, integer) IS
    'SVG document of an action type''s calibration: actual rate against mean prediction per bin with Wilson 95 % intervals, the diagonal, the count histogram, Brier score and ECE. days NULL (default): every counted outcome, the figures of calibration_curve; days N: outcomes resolved in the tenant''s last N calendar days';

-- The manager's page --------------------------------------------------------------

-- svg_trends: daily actions (bars) and success rate (line) of team_trends.
CREATE FUNCTION learning.svg_trends(daily jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l constant float8 := 50; t constant float8 := 20; w constant float8 := 600; h constant float8 := 180;
    days integer := coalesce(jsonb_array_length(daily), 0);
    max_a float8;
    d record;
    bw float8;
    step float8;
    pts text[] := '{}';
    out text;
    i integer;
BEGIN
    SELECT max((e ->> 'actions')::float8) INTO max_a FROM jsonb_array_elements(coalesce(daily, '[]')) e;
    -- the left axis in four round steps (1, 2 or 5 times a power of ten)
    step := greatest(coalesce(max_a, 0) / 4.0, 1);
    step := (SELECT min(m * 10 ^ floor(log(step))) FROM unnest(ARRAY[1, 2, 5, 10]) m
              WHERE m * 10 ^ floor(log(step)) >= step);
    max_a := 4 * step;
    bw := w / greatest(days, 1);
    out := '<svg xmlns="http://www.w3.org/2000/svg" class="trends" viewBox="0 0 720 240" width="720" height="240" role="img">'
        || '<title>Team trends: actions per day and success rate</title>'
        || '<style>text{font-family:sans-serif;font-size:11px;fill:#333}.act{fill:#c7dcef}.rate{fill:none;stroke:#d9480f;stroke-width:2}'
        || '.ax{stroke:#444}.grid{stroke:#eee}</style>';
    FOR i IN 0..4 LOOP
        out := out || format('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, t + h * i / 4.0, l + w, t + h * i / 4.0)
                   || format('<text x="%s" y="%s" text-anchor="end">%s</text>', l - 4, t + h * i / 4.0 + 4,
                             round(max_a * (4 - i) / 4.0))
                   || format('<text x="%s" y="%s">%s %%</text>', l + w + 4, t + h * i / 4.0 + 4, 100 - 25 * i);
    END LOOP;
    FOR d IN SELECT (e ->> 'date') AS day, (e ->> 'actions')::float8 AS actions, (e ->> 'positive')::float8 AS positive,
                    (e ->> 'success_rate')::float8 AS rate, o - 1 AS k
               FROM jsonb_array_elements(coalesce(daily, '[]')) WITH ORDINALITY AS x(e, o) ORDER BY o LOOP
        out := out || format('<rect class="act" x="%s" y="%s" width="%s" height="%s" data-date="%s" data-actions="%s" data-success-rate="%s">'
                             '<title>%s: %s actions, %s positive</title></rect>',
                             learning.svg_num(l + bw * d.k + 1), learning.svg_num(t + h - h * d.actions / max_a),
                             learning.svg_num(greatest(bw - 2, 1)), learning.svg_num(h * d.actions / max_a),
                             learning.xml_escape(d.day), d.actions, coalesce(d.rate::text, ''),
                             learning.xml_escape(d.day), d.actions, d.positive);
        IF d.rate IS NOT NULL AND d.actions > 0 THEN   -- a day without actions has no rate
            pts := pts || format('%s,%s', learning.svg_num(l + bw * (d.k + 0.5)), learning.svg_num(t + h - h * d.rate));
        END IF;
        IF d.k % 7 = 0 THEN
            out := out || format('<text x="%s" y="%s" text-anchor="middle">%s</text>',
                                 learning.svg_num(l + bw * (d.k + 0.5)), t + h + 14, learning.xml_escape(substr(d.day, 6)));
        END IF;
    END LOOP;
    IF cardinality(pts) > 0 THEN
        out := out || format('<polyline class="rate" points="%s"/>', array_to_string(pts, ' '));
    ELSE
        out := out || format('<text x="%s" y="%s" text-anchor="middle">No actions in the period</text>', l + w / 2, t + h / 2);
    END IF;
    RETURN out || format('<line class="ax" x1="%s" y1="%s" x2="%s" y2="%s"/>', l, t + h, l + w, t + h)
               || format('<text x="%s" y="%s">bars: actions per day (left axis); line: success rate (right axis)</text>', l, t + h + 32)
               || '</svg>';
END $$;
COMMENT ON FUNCTION learning.svg_trends(jsonb) IS
    'Draws manager_dashboard''s team_trends.daily_activity as an <svg> element: actions per day as bars, success rate as a line';

-- html_patterns: coaching_patterns as a table section; a q-value column when
-- the patterns carry q_value (Benjamini-Hochberg), none otherwise.
CREATE FUNCTION learning.html_patterns(patterns jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    has_q boolean := EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(patterns, '[]')) p WHERE p ? 'q_value');
    rows text := '';
    r record;
BEGIN
    FOR r IN SELECT o, e FROM jsonb_array_elements(coalesce(patterns, '[]')) WITH ORDINALITY AS x(e, o) ORDER BY o LOOP
        rows := rows || format('<tr class="pattern"><td>%s</td><td>%s<br><i>%s</i></td><td class="num">%s</td><td class="num p-value">%s</td>%s</tr>',
                               learning.xml_escape(r.e ->> 'pattern_type'), learning.xml_escape(r.e ->> 'description'),
                               learning.xml_escape(r.e ->> 'recommendation'), learning.xml_escape(r.e ->> 'sample_size'),
                               learning.xml_escape(learning.svg_pvalue((r.e ->> 'p_value')::float8)),
                               CASE WHEN has_q THEN format('<td class="num q-value">%s</td>',
                                        learning.xml_escape(learning.svg_pvalue((r.e ->> 'q_value')::float8))) ELSE '' END);
    END LOOP;
    RETURN '<section id="coaching"><h2>Coaching patterns</h2><table><thead><tr><th>type</th><th>pattern and recommendation</th>'
        || '<th class="num">n</th><th class="num">p-value</th>' || CASE WHEN has_q THEN '<th class="num">q-value</th>' ELSE '' END
        || '</tr></thead><tbody>'
        || CASE WHEN rows = '' THEN format('<tr><td colspan="%s">No patterns in the period.</td></tr>', CASE WHEN has_q THEN 5 ELSE 4 END)
                ELSE rows END
        || '</tbody></table></section>';
END $$;
COMMENT ON FUNCTION learning.html_patterns(jsonb) IS
    'Renders coaching_patterns output as an HTML table section, escaped, with a q-value column when the patterns have q_value';

CREATE FUNCTION learning.dashboard_page(tenant_id text, days integer DEFAULT 30, sse_url text DEFAULT NULL)
    RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dash jsonb;
    patterns jsonb;
    feed text;
    key text;
    html text;
    rows text := '';
    r record;
    at text;
BEGIN
    PERFORM learning.check_tenant_id(tenant_id);
    PERFORM learning.check_required('days', days IS NULL);
    PERFORM learning.check_days(days);
    IF sse_url IS NOT NULL AND sse_url !~ '^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?$' THEN
        RAISE EXCEPTION 'sse_url must be an http or https URL without query, got "%"', sse_url
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the base address of the nchan server, e.g. https://live.example.com; the page appends /sub/<channel>.';
    END IF;
    dash := learning.manager_dashboard(tenant_id, days);
    -- by name, so that a coaching_patterns with more (defaulted) arguments is called the same way
    patterns := learning.coaching_patterns(tenant_id => tenant_id, days => days);
    -- the live feed: only for a tenant that has an SSE channel (made by learning.sse_channel)
    SELECT c.channel_key INTO key FROM learning.sse_channels c WHERE c.tenant_id = dashboard_page.tenant_id;
    feed := CASE WHEN key IS NOT NULL THEN coalesce(rtrim(sse_url, '/'), '') || '/sub/' || key END;

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
         || '<meta name="viewport" content="width=device-width, initial-scale=1">'
         || format('<title>Sales agent learning: %s</title>', learning.xml_escape(tenant_id))
         || '<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1440px}'
            'h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}'
            '.meta{color:#666;font-size:13px}table{border-collapse:collapse;font-size:14px}'
            'th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}'
            'td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}'
            '.kpis{display:flex;gap:24px;flex-wrap:wrap}.kpi{background:#f4f7fa;padding:10px 16px;border-radius:6px}'
            '.kpi b{display:block;font-size:20px}.diagrams{display:flex;flex-wrap:wrap;gap:16px}'
            '.diagrams svg{width:600px;max-width:100%;height:auto;border:1px solid #eee}#live-status{font-size:13px;color:#666}'
            '#live-events{font-size:13px;font-family:monospace}</style></head><body>' || E'\n';
    html := html || format('<h1>Sales agent learning: <span class="tenant">%s</span></h1>', learning.xml_escape(tenant_id))
         || format('<p class="meta">Period %s to %s (%s days, %s); generated %s</p>',
                   learning.xml_escape(dash ->> 'period_start'), learning.xml_escape(dash ->> 'period_end'),
                   days, learning.xml_escape(dash ->> 'time_zone'), learning.xml_escape(dash ->> 'generated_at'))
         || '<div class="kpis">'
         || format('<div class="kpi" id="kpi-success">success rate<b>%s %%</b></div>',
                   learning.svg_num(100 * (dash #>> '{team_trends,success_rate}')::float8, 1))
         || format('<div class="kpi" id="kpi-trend">trend<b>%s</b></div>', learning.xml_escape(dash #>> '{team_trends,trend}'))
         || format('<div class="kpi" id="kpi-escalation">escalation rate<b>%s %%</b></div>',
                   learning.svg_num(100 * (dash ->> 'escalation_rate')::float8, 1))
         || format('<div class="kpi" id="kpi-brier">overall Brier<b>%s</b></div>',
                   learning.svg_num((dash #>> '{aggregate_calibration,overall_brier}')::float8, 4))
         || format('<div class="kpi" id="kpi-coverage">feedback coverage<b>%s %%</b></div>',
                   learning.svg_num((dash #>> '{feedback_health,coverage_percent}')::float8, 1))
         || '</div>' || E'\n';

    -- team trends
    html := html || '<section id="trends"><h2>Team trends</h2>'
         || learning.svg_trends(dash #> '{team_trends,daily_activity}') || '</section>' || E'\n';

    -- leaderboard
    FOR r IN SELECT o, e FROM jsonb_array_elements(coalesce(dash -> 'rep_leaderboard', '[]')) WITH ORDINALITY AS x(e, o) ORDER BY o LOOP
        rows := rows || format('<tr><td class="num">%s</td><td class="rep">%s</td><td class="num">%s</td><td class="num">%s %%</td></tr>',
                               r.o, learning.xml_escape(r.e ->> 'rep_id'), learning.xml_escape(r.e ->> 'actions'),
                               learning.svg_num(100 * (r.e ->> 'success_rate')::float8, 1));
    END LOOP;
    html := html || '<section id="leaderboard"><h2>Leaderboard</h2><table><thead><tr><th class="num">#</th><th>rep</th>'
         || '<th class="num">actions</th><th class="num">success rate</th></tr></thead><tbody>'
         || CASE WHEN rows = '' THEN '<tr><td colspan="4">No actions in the period.</td></tr>' ELSE rows END
         || '</tbody></table></section>' || E'\n';

    -- a reliability diagram per action type with counted outcomes (all of them, like calibration_curve)
    html := html || '<section id="calibration"><h2>Calibration by action type</h2><div class="diagrams">';
    rows := '';
    FOR at IN SELECT DISTINCT b.action_type FROM learning.calibration_bins b
               WHERE b.tenant_id = dashboard_page.tenant_id AND b.n > 0 ORDER BY 1 LOOP
        rows := rows || learning.svg_reliability(learning.calibration_curve(tenant_id, at), tenant_id, 'all resolved outcomes');
    END LOOP;
    html := html || CASE WHEN rows = '' THEN '<p>No resolved outcomes yet.</p>' ELSE rows END || '</div></section>' || E'\n';

    html := html || learning.html_patterns(patterns) || E'\n';

    -- live updates from the SSE feed, when the tenant has one
    html := html || format('<section id="live" data-sse="%s"><h2>Live</h2><p id="live-status">%s</p>'
                           '<p id="live-totals"></p><ul id="live-events"></ul></section>',
                           learning.xml_escape(coalesce(feed, '')),
                           CASE WHEN feed IS NULL THEN 'No live feed configured: reload the page for new figures.'
                                ELSE 'Connecting to the live feed…' END) || E'\n';
    html := html || $js$<script>
(function () {
  // The feed address is data (an attribute), never script text, and only the server sets it:
  // the channel key in it is what lets a subscriber in, so nothing in the URL may redirect it.
  var live = document.getElementById('live');
  var path = live.getAttribute('data-sse');
  if (!path || typeof EventSource === 'undefined') return;
  var status = document.getElementById('live-status'), list = document.getElementById('live-events');
  var totals = document.getElementById('live-totals');
  var seen = new Set(), counts = {}, received = 0;
  // what happened since the page was made, from the events' counts (count, by_status)
  var recorded = 0, feedback = 0, resolved = {}, nresolved = 0;
  function tally(e) {
    var p = e.payload || {}, n = Number(p.count) || 0;
    if (e.event_type === 'outcome_recorded') recorded += n;
    if (e.event_type === 'feedback_recorded') feedback += n;
    if (e.event_type === 'outcome_resolved') {
      nresolved += n;
      Object.keys(p.by_status || {}).forEach(function (k) { resolved[k] = (resolved[k] || 0) + (Number(p.by_status[k]) || 0); });
    }
    var how = Object.keys(resolved).sort().map(function (k) { return k + ' ' + resolved[k]; });
    totals.textContent = 'Since the page was made: ' + recorded + ' actions recorded, ' + nresolved + ' outcomes resolved' +
                         (how.length ? ' (' + how.join(', ') + ')' : '') + ', ' + feedback + ' feedback entries.';
  }
  function show(note) {
    var parts = Object.keys(counts).sort().map(function (k) { return k + ' ' + counts[k]; });
    status.textContent = 'Live: ' + received + ' new events since the page was made' + (parts.length ? ' (' + parts.join(', ') + ')' : '') +
                         '; reload for updated figures.' + (note ? ' ' + note : '');
  }
  var es = new EventSource(path);
  es.onopen = function () { show(); };
  es.onerror = function () {
    // EventSource reconnects by itself unless the server refused the stream (then readyState is CLOSED)
    show(es.readyState === EventSource.CLOSED ? 'The live feed refused the connection.' : 'Feed interrupted, reconnecting…');
  };
  es.onmessage = function (ev) {
    var e;
    try { e = JSON.parse(ev.data); } catch (err) { return; }
    // events can arrive out of id order and twice (reconnects): count each id once
    if (e.id == null || seen.has(e.id)) return;
    seen.add(e.id);
    received += 1;
    counts[e.event_type] = (counts[e.event_type] || 0) + 1;
    tally(e);
    var li = document.createElement('li');
    var n = e.payload && e.payload.count != null ? ' x' + e.payload.count : '';
    li.textContent = '#' + e.id + ' ' + e.created_at + ' ' + e.event_type + n;   // text, never markup
    list.insertBefore(li, list.firstChild);
    while (list.childNodes.length > 20) list.removeChild(list.lastChild);
    show();
  };
})();
</script>
</body></html>
$js$;
    RETURN html;
END $$;
COMMENT ON FUNCTION learning.dashboard_page(text, integer, text) IS
    'Self-contained HTML page of the manager dashboard: key figures, team trends chart, leaderboard, a reliability diagram per action type, coaching patterns with p- and q-values; follows the tenant''s SSE channel (at sse_url, else the page''s own server) when it has one';

REVOKE ALL ON FUNCTION learning.xml_escape(text), learning.svg_num(float8, integer), learning.svg_pvalue(float8),
                       learning.calibration_curve_window(text, text, integer, integer),
                       learning.svg_reliability(jsonb, text, text), learning.svg_trends(jsonb),
                       learning.html_patterns(jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning.xml_escape(text), learning.svg_num(float8, integer), learning.svg_pvalue(float8),
                          learning.calibration_curve_window(text, text, integer, integer),
                          learning.svg_reliability(jsonb, text, text), learning.svg_trends(jsonb),
                          learning.html_patterns(jsonb)
    TO learning_definer, learning_app;

-- HTTP: media types for PostgREST -------------------------------------------------

-- PostgREST (v12 on) answers a function whose result type is a domain named
-- like a media type with that Content-Type and the value as the raw body, when
-- the request's Accept names that media type (a browser's does).
CREATE DOMAIN learning_api."image/svg+xml" AS text;
COMMENT ON DOMAIN learning_api."image/svg+xml" IS
    'PostgREST media type handler: a function returning it is served as image/svg+xml';
CREATE DOMAIN learning_api."text/html" AS text;
COMMENT ON DOMAIN learning_api."text/html" IS
    'PostgREST media type handler: a function returning it is served as text/html';

CREATE FUNCTION learning_api.reliability_diagram(action_type text, days integer DEFAULT NULL, min_samples integer DEFAULT 10)
    RETURNS learning_api."image/svg+xml" LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.reliability_diagram((learning.api_context(ARRAY['rep', 'manager', 'executive', 'service'])).tenant_id,
                                        action_type, days, min_samples);
COMMENT ON FUNCTION learning_api.reliability_diagram(text, integer, integer) IS
$$Reliability diagram of an action type, as SVG (all roles, like calibration_curve)
GET /rpc/reliability_diagram?action_type=send_email[&days=30][&min_samples=10] with Accept: image/svg+xml -> image/svg+xml. Without days: every counted outcome (the figures of /rpc/calibration_curve); with days: outcomes resolved in the tenant's last days calendar days (1-365). 400 for invalid input.$$;

CREATE FUNCTION learning_api.dashboard_page(days integer DEFAULT 30)
    RETURNS learning_api."text/html" LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    RETURN learning.dashboard_page((learning.api_context(ARRAY['manager', 'executive'])).tenant_id, days);
COMMENT ON FUNCTION learning_api.dashboard_page(integer) IS
$$The manager's dashboard as a self-contained HTML page (manager, executive)
GET /rpc/dashboard_page?days=30 with Accept: text/html -> text/html: key figures, team trends, leaderboard, reliability diagrams, coaching patterns; it follows the tenant's SSE channel on the same server (/sub/<key>) when the tenant has one. 403 for other roles; days 1-365, else 400.$$;

REVOKE ALL ON FUNCTION learning_api.reliability_diagram(text, integer, integer), learning_api.dashboard_page(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION learning_api.reliability_diagram(text, integer, integer)
    TO learning_rep, learning_manager, learning_executive, learning_service;
GRANT EXECUTE ON FUNCTION learning_api.dashboard_page(integer) TO learning_manager, learning_executive;
ALTER FUNCTION learning_api.reliability_diagram(text, integer, integer) OWNER TO learning_definer;
ALTER FUNCTION learning_api.dashboard_page(integer) OWNER TO learning_definer;

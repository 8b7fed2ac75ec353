-- learning.webhook_status: the latest attempt's outcome next to the last
-- error, rounds after retry_dead_deliveries, and the SSE publisher's row.
-- The delivery log is written here by hand, as the relay would write it.
BEGIN;
SELECT plan(8);

SELECT learning.create_webhook('https://hooks.example.com/a', NULL, 'acme', 'a-secret-of-16-chars-or-more') AS wh \gset
-- round 1: two failures, the second dead; retry_dead_deliveries; round 2: delivered
INSERT INTO learning.webhook_deliveries (tenant_id, webhook_id, event_id, attempt, status, http_code, error, duration_ms, attempted_at)
VALUES ('acme', :wh, 11, 1, 'failed', 500, 'HTTP 500', 3, now() - interval '30 minutes'),
       ('acme', :wh, 11, 2, 'dead',   502, 'HTTP 502', 3, now() - interval '20 minutes'),
       ('acme', :wh, 11, 1, 'delivered', 200, NULL,    3, now() - interval '5 minutes');

SELECT is((SELECT last_status FROM learning.webhook_status WHERE webhook_id = :wh), 'delivered',
          'last_status is the outcome of the latest attempt');
SELECT is((SELECT last_http_code FROM learning.webhook_status WHERE webhook_id = :wh), 200, 'with its HTTP code');
SELECT is((SELECT last_error FROM learning.webhook_status WHERE webhook_id = :wh), 'HTTP 502',
          'last_error keeps the day''s latest error');
SELECT ok((SELECT last_error_at < last_attempt_at FROM learning.webhook_status WHERE webhook_id = :wh),
          'last_error_at shows that error is older than the latest attempt');
SELECT is((SELECT (delivered_24h, failed_24h)::text FROM learning.webhook_status WHERE webhook_id = :wh), '(1,2)',
          'attempts of the last day: 1 delivered, 2 failed');
-- the documented query that numbers the rounds (api/WEBHOOKS.md)
SELECT is((SELECT string_agg(round || '.' || attempt || ':' || status, ' ' ORDER BY attempted_at, id)
             FROM (SELECT l.*, sum((l.attempt = 1)::int) OVER (ORDER BY l.attempted_at, l.id) AS round
                     FROM learning.webhook_deliveries l WHERE l.webhook_id = :wh AND l.event_id = 11) r),
          '1.1:failed 1.2:dead 2.1:delivered', 'rounds numbered: a new round starts at attempt 1');

SELECT is((SELECT count(*) FROM learning.webhook_status WHERE webhook_id = 0), 0::bigint,
          'no SSE row while there is no publisher and no publication');
INSERT INTO learning.webhook_deliveries (tenant_id, webhook_id, event_id, attempt, status, http_code, error, duration_ms, attempted_at)
VALUES ('acme', 0, 12, 1, 'delivered', 201, NULL, 2, now());
SELECT is((SELECT (kind, tenant_id, last_status, delivered_24h)::text FROM learning.webhook_status WHERE webhook_id = 0),
          '(sse,*,delivered,1)', 'the SSE publications (webhook_id 0) have their row, kind sse');

SELECT * FROM finish();
ROLLBACK;

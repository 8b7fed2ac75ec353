#!/usr/bin/python3
"""notify_client.py: a real LISTEN client for the live updates (README, "Live updates").

Usage: notify_client.py HOST PORT DBNAME

Drives writer sessions and a listening session (psycopg2, Debian's
python3-psycopg2) against a running server with the extension installed, and
prints TAP lines ("ok - ...", "not ok - ...").
"""
import json
import select
import sys
import threading
import time

import psycopg2
import psycopg2.extensions

HOST, PORT, DB = sys.argv[1], sys.argv[2], sys.argv[3]
failures = 0


def connect(autocommit=True):
    conn = psycopg2.connect(host=HOST, port=PORT, dbname=DB, user="postgres")
    conn.autocommit = autocommit
    return conn


def check(cond, what, detail=""):
    global failures
    if cond:
        print("ok - " + what)
    else:
        failures += 1
        print("not ok - " + what + (" (" + str(detail) + ")" if detail else ""))
    sys.stdout.flush()


class Listener:
    """A LISTEN session on some tenants' channels."""

    def __init__(self, tenants):
        self.conn = connect()
        cur = self.conn.cursor()
        for t in tenants:
            cur.execute('LISTEN "learning:%s"' % t)

    def collect(self, seconds):
        """Notifications that arrive within the given time, as (channel, payload dict, raw length)."""
        got = []
        deadline = time.time() + seconds
        while True:
            left = deadline - time.time()
            if left <= 0:
                break
            if select.select([self.conn], [], [], left) != ([], [], []):
                self.conn.poll()
                while self.conn.notifies:
                    n = self.conn.notifies.pop(0)
                    got.append((n.channel, json.loads(n.payload), len(n.payload.encode())))
        return got

    def close(self):
        self.conn.close()


def events_since(conn, tenant, after, mx=1000):
    cur = conn.cursor()
    cur.execute("SELECT id, event_type, payload FROM learning.events_since(%s, %s, %s)", (tenant, after, mx))
    return cur.fetchall()


def main():
    writer = connect(autocommit=False)
    w = writer.cursor()
    lis = Listener(["n_a", "n_b"])

    # 1. a committed transaction: exactly one notification with the documented payload
    w.execute("SELECT learning.record_outcome('n_a', 'c1', 'send_email', 0.7, 'email_engagement', rep_id => 'r1')")
    w.execute("SELECT learning.record_outcome('n_a', 'c2', 'send_email', 0.6, 'email_engagement', rep_id => 'r1')")
    w.execute("SELECT learning.submit_feedback('n_a', 'c1', 'message', 'm1', 'inline', 1, 'r1')")
    writer.commit()
    got = lis.collect(1.5)
    check(len(got) == 1, "a committed transaction sends exactly one notification", got)
    if got:
        ch, p, size = got[0]
        check(ch == "learning:n_a", "on channel learning:<tenant_id>", ch)
        check(set(p) >= {"tenant_id", "first_id", "last_id", "count", "events", "truncated", "metrics"},
              "the payload has tenant_id, first_id, last_id, count, events, truncated, metrics", sorted(p))
        check(p["count"] == 2 and [(e["type"], e["count"]) for e in p["events"]] ==
              [("outcome_recorded", 2), ("feedback_recorded", 1)] and not p["truncated"],
              "the payload lists the transaction's two events (one per type, with their counts) in order", p)
        check(p["metrics"]["actions"] == 2 and p["metrics"]["pending"] == 2 and p["metrics"]["feedback"] == 1,
              "the payload carries today's counters of the tenant", p["metrics"])
        ids = [r[0] for r in events_since(connect(), "n_a", 0)]
        check(ids == [e["id"] for e in p["events"]] and p["first_id"] == ids[0] and p["last_id"] == ids[-1],
              "first_id and last_id match the outbox", (ids, p))

    # 2. a rolled-back transaction: nothing
    w.execute("SELECT learning.record_outcome('n_a', 'c3', 'send_email', 0.5, 'email_engagement')")
    writer.rollback()
    got = lis.collect(1.0)
    check(got == [], "a rolled-back transaction sends nothing", got)

    # 3. a subtransaction that rolls back takes its events with it
    w.execute("SELECT learning.record_outcome('n_a', 'c4', 'send_email', 0.5, 'email_engagement')")
    w.execute("SAVEPOINT s")
    w.execute("SELECT learning.record_outcome('n_a', 'c5', 'send_email', 0.5, 'email_engagement')")
    w.execute("ROLLBACK TO SAVEPOINT s")
    writer.commit()
    got = lis.collect(1.0)
    check(len(got) == 1 and got[0][1]["count"] == 1 and got[0][1]["events"][0]["count"] == 1,
          "a rolled-back savepoint's rows are neither stored nor announced", got)

    # 4. a thousand outcomes recorded in one statement, then resolved one by one
    #    in one transaction: one notification each time, under 8000 bytes, none for n_b
    w.execute("SELECT count(learning.record_outcome('n_a', 'bulk-' || g, 'qualify', 0.5, 'deal_progression')) "
              "FROM generate_series(1, 1000) g")
    writer.commit()
    got = lis.collect(1.0)
    check(len(got) == 1 and got[0][1]["count"] == 1 and got[0][1]["events"][0]["count"] == 1000,
          "1000 record_outcome calls in one transaction: one notification, one event counting 1000",
          got and got[0][1])
    w.execute("SELECT count(learning.resolve_outcome('n_a', id, 'negative')) FROM learning.outcome_records "
              "WHERE tenant_id = 'n_a' AND conversation_state_id LIKE 'bulk-%'")
    w.execute("SELECT count(*) FROM learning.outcome_records WHERE tenant_id = 'n_a' AND status = 'negative'")
    resolved = w.fetchone()[0]
    writer.commit()
    got = lis.collect(2.0)
    check(resolved == 1000, "the transaction resolved 1000 outcomes", resolved)
    check(len(got) == 1, "a transaction resolving 1000 outcomes sends exactly one notification", len(got))
    if got:
        ch, p, size = got[0]
        check(ch == "learning:n_a" and size < 8000, "its payload is under 8000 bytes", size)
        check(p["count"] == 1 and p["events"][0]["type"] == "outcome_resolved" and p["events"][0]["count"] == 1000,
              "it carries one outcome_resolved event counting all 1000", p["events"])
        check(p["metrics"]["negative"] == 1000, "its metrics count the 1000 resolutions", p["metrics"])

    # the same through one set-based UPDATE (the jobs' path): one event with a count
    w.execute("SELECT count(learning.record_outcome('n_a', 'upd-' || g, 'qualify', 0.5, 'deal_progression')) "
              "FROM generate_series(1, 1000) g")
    writer.commit()
    lis.collect(1.0)
    w.execute("UPDATE learning.outcome_records SET status = 'positive' "
              "WHERE tenant_id = 'n_a' AND conversation_state_id LIKE 'upd-%'")
    writer.commit()
    got = lis.collect(1.5)
    check(len(got) == 1 and got[0][1]["count"] == 1 and got[0][1]["events"][0]["count"] == 1000,
          "a plain UPDATE resolving 1000 outcomes: one notification, one event counting 1000", got and got[0][1])

    # the jobs: expire_overdue resolving many outcomes of two tenants, one notification per tenant
    w.execute("SELECT count(learning.record_outcome(t, 'old-' || g, 'send_email', 0.5, 'email_engagement', "
              "created_at => now() - interval '3 days')) FROM generate_series(1, 300) g, unnest(ARRAY['n_a', 'n_b']) t")
    writer.commit()
    lis.collect(1.0)
    w.execute("SELECT learning.run_job('expire_overdue')")
    writer.commit()
    got = lis.collect(1.5)
    chans = sorted(c for c, _, _ in got)
    check(chans == ["learning:n_a", "learning:n_b"],
          "a job changing two tenants sends one notification on each tenant's channel", chans)
    for c, p, _ in got:
        types = [e["type"] for e in p["events"]]
        check(types == ["outcome_resolved", "job_completed"] and p["events"][0]["count"] == 300,
              "%s hears one outcome_resolved event counting 300 and job_completed" % c, p)

    # 5. none on another tenant's channel
    w.execute("SELECT learning.record_outcome('n_c', 'c1', 'send_email', 0.5, 'email_engagement')")
    writer.commit()
    got = lis.collect(1.0)
    check(got == [], "a transaction of tenant n_c is not heard on n_a's or n_b's channel", got)

    # 6. a client catches up after a disconnect without a gap or a duplicate
    reader = connect()
    seen = [r[0] for r in events_since(reader, "n_a", 0, 10000)]
    cursor = seen[-1]
    lis.close()                    # the client goes away
    reader.close()

    def burst(k):
        c = connect(autocommit=False)
        cur = c.cursor()
        for i in range(25):
            cur.execute("SELECT learning.record_outcome('n_a', %s, 'send_chat', 0.5, 'email_engagement')",
                        ("burst-%d-%d" % (k, i),))
            if i % 3 == 0:
                cur.execute("SELECT learning.submit_feedback('n_a', %s, 'message', 'm', 'inline', 0, 'r1')",
                            ("burst-%d-%d" % (k, i),))
            c.commit()
        c.close()

    # while a prepared transaction holds event ids, later commits take larger ids, and a
    # reader waits instead of skipping the held ids
    prep = connect(autocommit=False)
    pc = prep.cursor()
    pc.execute("SELECT learning.record_outcome('n_a', 'prepared', 'send_chat', 0.5, 'email_engagement')")
    pc.execute("PREPARE TRANSACTION 'notify_gap'")
    threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = {}

    def late_reader():
        c = connect()
        result["rows"] = events_since(c, "n_a", cursor, 10000)
        result["at"] = time.time()
        c.close()

    rt = threading.Thread(target=late_reader)
    rt.start()
    time.sleep(1.0)
    check(rt.is_alive(), "events_since waits while a prepared transaction holds event ids")
    committed_at = time.time()
    prep2 = connect()
    prep2.cursor().execute("COMMIT PREPARED 'notify_gap'")
    rt.join(10)
    check(not rt.is_alive() and result.get("at", 0) >= committed_at,
          "events_since answers once the prepared transaction commits")

    # the client reconnects and pages through events_since
    back = connect()
    caught = []
    after = cursor
    while True:
        page = events_since(back, "n_a", after, 7)
        if not page:
            break
        caught.extend(r[0] for r in page)
        after = page[-1][0]
    cur = back.cursor()
    cur.execute("SELECT id FROM learning.events WHERE tenant_id = 'n_a' AND id > %s ORDER BY id", (cursor,))
    truth = [r[0] for r in cur.fetchall()]
    check(len(caught) == len(set(caught)) and caught == sorted(caught), "the catch-up has no duplicate, in id order")
    check(caught == truth and len(truth) == 4 * (25 + 9) + 1,
          "the catch-up returns every event committed while away, without a gap", (len(caught), len(truth)))
    early = [r[0] for r in result["rows"]]
    check(early == truth, "the reader that waited saw the same gap-free list", (len(early), len(truth)))

    # bad input
    for sql, state, what in [
            ("SELECT * FROM learning.events_since('n_a', 0, 0)", "22003", "max 0 is 22003"),
            ("SELECT * FROM learning.events_since('bad tenant', 0)", "22023", "a bad tenant_id is 22023"),
            ("SELECT * FROM learning.events_since('n_a', NULL)", "22004", "a NULL after_id is 22004")]:
        try:
            back.cursor().execute(sql)
            check(False, "events_since: " + what, "no error")
        except psycopg2.Error as e:
            check(e.pgcode == state, "events_since: " + what, e.pgcode)
    rr = connect(autocommit=False)
    rr.set_session(isolation_level="REPEATABLE READ")
    try:
        rr.cursor().execute("SELECT * FROM learning.events_since('n_a', 0)")
        check(False, "events_since refuses REPEATABLE READ", "no error")
    except psycopg2.Error as e:
        check(e.pgcode == "25000", "events_since refuses REPEATABLE READ (25000)", e.pgcode)
    rr.rollback()

    # retention: prune_events removes what is older than learning.event_retention
    cur.execute("UPDATE learning.events SET created_at = now() - interval '4 days' WHERE tenant_id = 'n_b'")
    cur.execute("SELECT learning.prune_events()")
    pruned = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM learning.events WHERE tenant_id = 'n_b'")
    check(pruned >= 2 and cur.fetchone()[0] == 0, "prune_events drops events older than 3 days", pruned)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

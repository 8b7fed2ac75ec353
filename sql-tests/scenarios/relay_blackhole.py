#!/usr/bin/env python3
"""relay_blackhole.py: many endpoints that accept connections and never
answer, for the relay fairness scenario and benchmark (Python standard
library only).

    relay_blackhole.py FIRST_PORT COUNT STATSFILE

Listens on 127.0.0.1:FIRST_PORT .. FIRST_PORT+COUNT-1 in one asyncio process;
every connection is accepted and its bytes are read and thrown away, no answer
is ever sent, until the client gives up.  Once a second, and at SIGTERM,
STATSFILE is rewritten with one line: "<connections accepted in total> <most
connections open at once on one port> <most connections open at once in
total>", the figures a fair relay bounds.
"""
import asyncio
import os
import resource
import signal
import sys

FIRST, COUNT, STATS = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# one descriptor per port and per connection: more than the usual soft limit
_, HARD = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (HARD, HARD))
open_now = [0] * COUNT
most_per_port = 0
most_total = 0
total_open = 0
accepted = 0


def write_stats():
    with open(STATS + ".tmp", "w") as f:
        f.write("%d %d %d\n" % (accepted, most_per_port, most_total))
    os.replace(STATS + ".tmp", STATS)


def handler_for(k):
    async def handle(reader, writer):
        global accepted, most_per_port, most_total, total_open
        accepted += 1
        open_now[k] += 1
        total_open += 1
        most_per_port = max(most_per_port, open_now[k])
        most_total = max(most_total, total_open)
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            open_now[k] -= 1
            total_open -= 1
            writer.close()
    return handle


async def main():
    for k in range(COUNT):
        await asyncio.start_server(handler_for(k), "127.0.0.1", FIRST + k, backlog=64)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    while not stop.done():
        write_stats()
        await asyncio.wait([stop], timeout=1.0)
    write_stats()


asyncio.run(main())

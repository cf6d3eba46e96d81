#!/usr/bin/env python3
"""WebSocket echo load, for bench.py's `ws` scenario.

    python3 bench/ws_client.py --conns 25 --duration 4 --start EPOCH
        [--size 64] URL [URL ...]

Opens CONNS connections (round robin over the URLs), waits until the wall
clock reaches START (so that several client processes count over the same
window), then on every connection sends a message of SIZE bytes and awaits
its echo, again and again, until START + DURATION. Prints one JSON line:
{"messages": echoes received in the window, "seconds": the window,
"opened": connections whose handshake succeeded, "errors": connections
that failed, "first_error": what went wrong first, e.g. "handshake status
502"}. Exits 0 even when connections fail: the JSON says it.

Needs the websockets library (Debian: python3-websockets). Python is the
slower side of this test: one process of it drives roughly one core, so
bench.py runs several and adds their figures.
"""
import argparse
import asyncio
import json
import os
import time

import websockets

OPEN_TIMEOUT = 5.0	# seconds for a handshake
ECHO_TIMEOUT = 5.0	# seconds for an echo


def describe(e):
    """A short text for what made a connection fail."""
    status = getattr(e, "status_code", None)
    if status is None:
        status = getattr(getattr(e, "response", None), "status_code", None)
    if status is not None:
        return f"handshake status {status}"
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return f"{type(e).__name__}: {e}"


async def one(url, start, end, payload, stats):
    n = 0
    try:
        async with websockets.connect(url, compression=None,
                                      ping_interval=None,
                                      open_timeout=OPEN_TIMEOUT,
                                      close_timeout=1) as ws:
            stats["opened"] += 1
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, start - loop.time()))
            while loop.time() < end:
                await ws.send(payload)
                got = await asyncio.wait_for(ws.recv(), ECHO_TIMEOUT)
                if got != payload:
                    raise ValueError("the echo differs from the message")
                n += 1
    except Exception as e:	# any failure is reported, none is fatal
        stats["errors"] += 1
        if not stats["first_error"]:
            stats["first_error"] = describe(e)
    finally:
        stats["messages"] += n


async def run(a):
    loop = asyncio.get_running_loop()
    # The shared window, from the wall clock to this loop's clock.
    start = loop.time() + (a.start - time.time())
    end = start + a.duration
    payload = os.urandom(a.size)
    stats = dict(messages=0, seconds=a.duration, opened=0, errors=0,
                 first_error="")
    tasks = [one(a.url[i % len(a.url)], start, end, payload, stats)
             for i in range(a.conns)]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks),
                               end - loop.time() + 2 * ECHO_TIMEOUT)
    except asyncio.TimeoutError:
        stats["errors"] += 1
        stats["first_error"] = stats["first_error"] or "client timed out"
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", nargs="+")
    ap.add_argument("--conns", type=int, default=25)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--start", type=float, default=0.0,
                    help="wall-clock time (epoch) the count begins")
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    if a.start <= 0:
        a.start = time.time() + 1.0
    print(json.dumps(asyncio.run(run(a))), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""tests/ws_peer.py -- a WebSocket echo server and a client that checks it,
for tests/it_tunnel.c (python3-websockets, asyncio).

    ws_peer.py server --port-file FILE
    ws_peer.py client --url ws://127.0.0.1:PORT/PATH --host HOST

server: a WebSocket echo server on 127.0.0.1 and a port the kernel
chooses, which it writes to FILE (atomically) once it listens; every
message comes back as it came, text or binary. It exits 0 on SIGTERM or
SIGINT.

client: connects to the address of URL with Host: HOST (so that a proxy
routes it), sends a text message and a 100 KiB binary one, checks that
each comes back unchanged, and closes cleanly (close code 1000). Exit 0
when all of it happened, 1 with the reason on stderr otherwise; the whole
exchange is bounded by --timeout seconds (20).
"""

import argparse
import asyncio
import os
import signal
import socket
import sys
from urllib.parse import urlsplit

import websockets


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def serve(port_file):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, port_file)
        print("ws_peer server: listening on 127.0.0.1:%d" % port,
              file=sys.stderr, flush=True)
        await stop
    return 0


class Mismatch(Exception):
    pass


async def talk(url, host):
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise Mismatch("expected ws://ADDRESS:PORT/PATH, got %s" % url)
    sock = socket.create_connection((parts.hostname, parts.port or 80))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # The URI gives the Host header; the socket, the address.
    async with websockets.connect("ws://%s%s" % (host, path),
                                  sock=sock) as ws:
        text = "hello through the tunnel: \u00e9\u00e8 \u2713"
        await ws.send(text)
        got = await ws.recv()
        if got != text:
            raise Mismatch("text message: sent %r, got back %r"
                           % (text, got))
        blob = bytes((i * 7 + i // 251) & 0xFF for i in range(100 * 1024))
        await ws.send(blob)
        got = await ws.recv()
        if not isinstance(got, bytes):
            raise Mismatch("binary message came back as text")
        if got != blob:
            raise Mismatch("binary message: sent %d bytes, got back %d, "
                           "%s" % (len(blob), len(got),
                                   "different" if len(got) == len(blob)
                                   else "cut"))
        await ws.close()
    if ws.close_code != 1000:
        raise Mismatch("closing handshake: code %s, reason %r"
                       % (ws.close_code, ws.close_reason))


async def client(url, host, timeout):
    try:
        await asyncio.wait_for(talk(url, host), timeout)
    except asyncio.TimeoutError:
        print("ws_peer client: no complete exchange within %g s" % timeout,
              file=sys.stderr)
        return 1
    except (Mismatch, OSError, websockets.WebSocketException) as e:
        print("ws_peer client: %s: %s" % (type(e).__name__, e),
              file=sys.stderr)
        return 1
    print("ws_peer client: text and binary echoed, closed with 1000",
          file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server", help="a WebSocket echo server")
    s.add_argument("--port-file", required=True)
    c = sub.add_parser("client", help="talk to an echo server, check it")
    c.add_argument("--url", required=True)
    c.add_argument("--host", required=True)
    c.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    if args.role == "server":
        return asyncio.run(serve(args.port_file))
    return asyncio.run(client(args.url, args.host, args.timeout))


if __name__ == "__main__":
    sys.exit(main())

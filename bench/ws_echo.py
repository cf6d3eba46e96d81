#!/usr/bin/env python3
"""A WebSocket echo origin, for bench.py's `ws` scenario.

    python3 bench/ws_echo.py PORT

Listens on 127.0.0.1:PORT and sends every message it receives back on its
connection, unchanged, on any path. A plain GET /hello (no Upgrade) gets
200 "hello from PORT\\n", like the nginx origins, for bench.py's readiness
check; any other request without a valid WebSocket upgrade is refused by
the websockets library (426 without Upgrade, 400 for a bad handshake), so
a proxy that drops the Upgrade headers shows in the client's error.

Needs the websockets library (Debian: python3-websockets; written for its
10.x asyncio API, and takes the newer one as well). One process, one
thread: bench.py starts one per origin port.
"""
import asyncio
import http
import signal
import sys

import websockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: ws_echo.py PORT")
    port = int(sys.argv[1])
    hello = f"hello from {port}\n"

    async def process_request(first, second):
        # websockets 10-12: (path, headers) -> (status, headers, body);
        # the newer API: (connection, request) -> connection.respond(...).
        if isinstance(first, str):
            if first == "/hello" and "Upgrade" not in second:
                return (http.HTTPStatus.OK, [("Content-Type", "text/plain")],
                        hello.encode())
            return None
        if second.path == "/hello" and "Upgrade" not in second.headers:
            return first.respond(http.HTTPStatus.OK, hello)
        return None

    async def serve():
        stop = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, stop.set_result, None)
        async with websockets.serve(echo, "127.0.0.1", port,
                                    process_request=process_request,
                                    compression=None, ping_interval=None,
                                    backlog=512):
            await stop

    asyncio.run(serve())


if __name__ == "__main__":
    main()

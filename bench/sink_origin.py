#!/usr/bin/env python3
"""An HTTP/1.1 origin that reads request bodies whole and throws them away.

The origin of bench.py's `upload` scenario:

    python3 bench/sink_origin.py PORT [PORT ...]

listens on 127.0.0.1:PORT for each PORT, a thread per connection, keep-alive.
Every request's body (Content-Length or chunked) is read to its last byte
into one reused 1 MiB buffer, and only then answered: 200 with the body
"got N bytes\\n", N the length of the body received, which the client
checks, so that a proxy that cut a body short is seen. A GET without a
body gets "hello from PORT\\n", like the nginx origins, for bench.py's
readiness check. Reading with recv_into, which lets go of the interpreter
lock, keeps it far faster than the proxies: bench.py measures the client
straight against it (`upload direct`), the ceiling of the figures.
bench.py's upload client reads its answers with the Conn class below.
"""
import signal
import socket
import socketserver
import sys
import threading

CHUNK = 1 << 20		# bytes of the buffer a body is read into
MAX_HEAD = 64 << 10	# bytes of a request head at most


class Conn:
    """One client connection: its socket and the bytes read ahead."""

    def __init__(self, sock):
        self.sock = sock
        self.ahead = b""
        self.buf = bytearray(CHUNK)
        self.view = memoryview(self.buf)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.ahead += data

    def head(self):
        """The request head up to its blank line, or None at a clean EOF."""
        while b"\r\n\r\n" not in self.ahead:
            if len(self.ahead) > MAX_HEAD:
                raise ValueError("head too long")
            try:
                self.fill()
            except EOFError:
                if self.ahead:
                    raise
                return None
        head, self.ahead = self.ahead.split(b"\r\n\r\n", 1)
        return head

    def line(self):
        while b"\r\n" not in self.ahead:
            if len(self.ahead) > MAX_HEAD:
                raise ValueError("line too long")
            self.fill()
        line, self.ahead = self.ahead.split(b"\r\n", 1)
        return line

    def read(self, n):
        """N bytes."""
        while len(self.ahead) < n:
            self.fill()
        data, self.ahead = self.ahead[:n], self.ahead[n:]
        return data

    def skip(self, n):
        """Read N bytes and forget them."""
        take = min(n, len(self.ahead))
        self.ahead = self.ahead[take:]
        n -= take
        while n > 0:
            got = self.sock.recv_into(self.view[:min(n, CHUNK)])
            if not got:
                raise EOFError
            n -= got

    def chunked(self):
        """Read a chunked body and its trailers; its length."""
        total = 0
        while True:
            size = int(self.line().split(b";", 1)[0], 16)
            if size == 0:
                while self.line():
                    pass
                return total
            self.skip(size)
            total += size
            if self.line():
                raise ValueError("no CRLF after a chunk")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        c = Conn(self.request)
        port = self.server.server_address[1]
        try:
            while self.one(c, port):
                pass
        except (OSError, EOFError, ValueError):
            pass

    def one(self, c, port):
        head = c.head()
        if head is None:
            return False
        lines = head.split(b"\r\n")
        parts = lines[0].split()
        if len(parts) != 3:
            raise ValueError("bad request line")
        headers = {}
        for h in lines[1:]:
            k, _, v = h.partition(b":")
            headers[k.strip().lower()] = v.strip().lower()
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            got = c.chunked()
        else:
            got = int(headers.get(b"content-length", b"0"))
            c.skip(got)
        if parts[0] == b"GET" and got == 0:
            body = b"hello from %d\n" % port
        else:
            body = b"got %d bytes\n" % got
        conn = headers.get(b"connection", b"")
        close = b"close" in conn or \
            (parts[2] == b"HTTP/1.0" and b"keep-alive" not in conn)
        c.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                       b"Content-Length: %d\r\n%s\r\n%s"
                       % (len(body), b"Connection: close\r\n" if close
                          else b"", body))
        return not close


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def main():
    ports = [int(p) for p in sys.argv[1:]]
    if not ports:
        sys.exit("usage: sink_origin.py PORT [PORT ...]")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    servers = [Server(("127.0.0.1", p), Handler) for p in ports]
    for s in servers:
        s.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=s.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()

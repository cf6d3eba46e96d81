#!/usr/bin/env python3
"""lbmaster against nginx and HAProxy on this machine, side by side.

Every proxy runs with the same number of workers, each pinned to a CPU of
its own (nginx's worker_cpu_affinity, HAProxy's cpu-map, lbmaster's
cpu_affinity; --no-pin leaves them to the scheduler), in front of the same
two nginx origins on 127.0.0.1; wrk drives each proxy in turn, round after
round (A B C, B C A, C A B, ...), so that whatever else this machine is doing
weighs on all three alike. The figures quoted are medians over the rounds,
and what means something is the ratio of lbmaster to the better peer
measured in the same minute, not the requests per second themselves.

    python3 bench/bench.py --lbmaster ./lbmaster [--out bench/RESULTS.md]
        [--rounds 3] [--duration 4] [--workers 2] [--no-pin] [--quick]
        [--scenario small,c256,close,big,idle10k,routes20k,cores,dns32,
                    syscalls,allocs,upload,ws,ratelimit,ratelimit_hot,
                    tls_small,tls_handshake,tls_resume,tls_idle]

Needs nginx (Debian's nginx-light), haproxy and wrk; strace for the
`syscalls` scenario, a C compiler for `allocs`, python3-websockets for
`ws` and dnsmasq for `dns32` (each skipped without). See bench/README for what each scenario
measures and how to read the output. The last line printed is
`min_ratio_vs_best=Z`: lbmaster over the better of nginx and HAProxy, in the
scenario where lbmaster does worst (above 1.0: lbmaster is ahead everywhere).
Exits 1 when lbmaster failed requests or lost a worker during the run.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True	# no __pycache__ in the source tree
from sink_origin import Conn	# the HTTP reading of the upload client

BIG_BODY = 1 << 20		# bytes of the origins' /big
N_ROUTES = 10000		# host routes, and as many path routes, of routes20k
BENCH_HOST = "h%05d.bench.test" % (N_ROUTES // 2)   # the one routes20k hits
IDLE_SETTLE = 1.5		# seconds between the last connect and the reading
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))

UPLOAD_SIZE = 100 << 20		# bytes of each POST of `upload`
UPLOAD_CHUNK = 1 << 20		# bytes of the buffer it is sent from
UPLOAD_CONNS = 4		# uploads at once
UPLOAD_GRACE = 20.0		# seconds an upload may go on past the run's end
# lbmaster's limits.max_body_size in `upload`. "No limit" would be 0, which
# the lbmaster to come takes; the config loader of this tree refuses 0 (its
# lowest value is 1), so the limit is set above the uploads instead.
UPLOAD_MAX_BODY = "0"		# no limit: the body streams

WS_CONNS = 50			# WebSocket connections of `ws`
WS_MESSAGE = 64			# bytes of each message echoed
WS_CLIENT_PROCS = 2		# client processes sharing them: Python is slow

# The wrk scenarios that compare lbmaster with its peers.
WRK_SCENARIOS = {
    "small": dict(conns=50, path="/",
                  what="50 keep-alive connections, GET / (a 17-byte answer)"),
    "c256": dict(conns=256, path="/",
                 what="256 keep-alive connections, GET / (a 17-byte answer)"),
    "close": dict(conns=50, path="/", close=True,
                  what="50 connections, `Connection: close`: one TCP "
                       "connection per request on the client side"),
    "big": dict(conns=8, path="/big",
                what="8 keep-alive connections, GET /big (1 MiB answer)"),
    # HTTPS: the same ECDSA P-256 certificate and TLS 1.3 for all three.
    "tls_small": dict(conns=50, path="/", tls=True,
                      what="50 keep-alive HTTPS connections (TLS 1.3, "
                           "ECDSA P-256), GET /"),
    # wrk keeps one SSL object per connection slot and offers the last
    # session on the next connect, so a full handshake per request needs
    # resumption off in all three: no tickets, no session cache.
    "tls_handshake": dict(conns=50, path="/", close=True, tls=True,
                          resume=False,
                          what="50 HTTPS connections, `Connection: close`: "
                               "a full TLS 1.3 handshake per request "
                               "(resumption off in all three)"),
}
DEFAULT_SCENARIOS = ("small,c256,close,big,idle10k,routes20k,cores,dns32,"
                     "syscalls,allocs,upload,ws,ratelimit,ratelimit_hot,"
                     "tls_small,tls_handshake,tls_resume,tls_idle")
TLS_RESUME = "tls_resume"	# openssl s_time -reuse against each proxy
TLS_IDLE = "tls_idle"		# idle10k over HTTPS, with fewer connections
N_FOLLOWED = 32			# addresses of dns32, 127.0.0.1 .. 127.0.0.32
PEERS = ("lbmaster", "nginx", "haproxy")

# The rate limits of `ratelimit` (suffix -rl: high enough never to refuse a
# request of `small`) and `ratelimit_hot` (suffix -hot: one request a
# minute per client, so that after the first every request is refused),
# in each proxy's words: lbmaster's rate_limit, nginx's limit_req (a zone
# keyed by the client address, 429 when over) and HAProxy's stick table
# of request rates per source address with `http-request deny
# deny_status 429` over the limit.
RATE_LIMITS = {
    "rl": dict(lbmaster="{rate: 1000000/s, burst: 1000000}",
               nginx_rate="1000000r/s", nginx_burst=1000000,
               haproxy_period="1s", haproxy_max=100000000),
    "hot": dict(lbmaster="{rate: 1/m, burst: 1}",
                nginx_rate="1r/m", nginx_burst=0,
                haproxy_period="60s", haproxy_max=1),
}


def rate_limit_of(name):
    """The RATE_LIMITS entry of the proxy NAME ("nginx-hot"), or None."""
    return RATE_LIMITS.get(name.rpartition("-")[2]) if "-" in name else None


class BenchError(Exception):
    """Something prevents the run from going on (a proxy did not start...)."""


# ------------------------------------------------------------ processes

def pick_ports(n):
    """N distinct free ports of 127.0.0.1, chosen by the kernel (bind to 0).

    All N sockets are held until every port is known, so that the kernel
    cannot give the same port twice; they are closed before the servers
    bind, which leaves a short race with other programs that is harmless
    on loopback.
    """
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def children(pid):
    """Pids whose parent is PID."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                # The command name may hold spaces and parentheses.
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(out)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def status_kib(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM...); 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(field + r":\s+(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        return 0


def rss_kib(pids):
    return sum(status_kib(p, "VmRSS") for p in pids)


class Procs:
    """Every process this run starts, so that all are stopped at the end.

    Each runs in a session of its own: a Ctrl-C at the terminal reaches
    only this script, which then stops them in order. A process is stopped
    by its pid (SIGTERM, then SIGKILL to its own process group, which holds
    the workers it forked, if it is slow).
    """

    def __init__(self, tmp):
        self.tmp = tmp
        self.live = {}

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)
        finally:
            log.close()
        self.live[name] = p
        return p

    def stop(self, name, sig=signal.SIGTERM):
        p = self.live.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        # The group is the one its session began with: only what we started.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop_all(self):
        for name in list(self.live):
            self.stop(name)

    def log_tail(self, name, lines=20):
        """The end of NAME's output and of its error log (NAME.err)."""
        text = ""
        for ext in (".log", ".err"):
            try:
                with open(os.path.join(self.tmp, name + ext)) as f:
                    text += "".join(f.readlines()[-lines:])
            except OSError:
                pass
        return text


def http_get(port, path="/", host=None, timeout=2.0, tls=False):
    req = urllib.request.Request(
        f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}")
    if host:
        req.add_header("Host", host)
    ctx = None
    if tls:		# the bench's own certificate: nothing to verify
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
        return r.status, r.read()


def wait_ready(port, proc, name, host=None, path="/", timeout=15.0,
               tls=False):
    """Wait until a GET through PORT answers 200 from an origin."""
    end = time.monotonic() + timeout
    last = "nothing"
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with status {proc.returncode}")
        try:
            status, body = http_get(port, path, host=host, timeout=1.0,
                                    tls=tls)
            if status == 200 and body.startswith(b"hello from "):
                return
            last = f"status {status}, body {body[:60]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise BenchError(f"{name} on port {port} not ready after {timeout:.0f}s "
                     f"(last: {last})")


# ------------------------------------------------------------ the stack

class Stack:
    """The origins, and the proxies in front of them on demand.

    The proxies have two origins of one kind behind them: "nginx", the two
    server blocks of one nginx that every wrk scenario uses; "sink", the
    body-swallowing origins of `upload` (bench/sink_origin.py); "ws", the
    WebSocket echo origins of `ws` (bench/ws_echo.py).
    """

    def __init__(self, tmp, lbmaster, workers, pin):
        self.tmp, self.lbmaster, self.workers = tmp, lbmaster, workers
        # PIN: worker i of every proxy runs on the i-th CPU we may use.
        self.cpus = sorted(os.sched_getaffinity(0)) if pin else []
        self.procs = Procs(tmp)
        self.origins = pick_ports(2)
        self.upstreams = {"nginx": self.origins}	# kind -> origin ports
        self.port = {}		# proxy name -> port
        self.conf = {}		# lbmaster config name -> path
        self.tls = {}		# proxy name -> serves HTTPS
        self.resume = {}	# proxy name -> its HTTPS sessions may resume
        self.cert = None	# (cert, key, both in one file), once made

    def make_cert(self):
        """The ECDSA P-256 certificate every HTTPS proxy serves."""
        if self.cert is None:
            crt, key = self.path("tls.pem"), self.path("tls.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-keyout", key, "-out", crt, "-days", "2",
                            "-subj", "/CN=bench.test"], check=True,
                           capture_output=True)
            with open(crt) as a, open(key) as b:
                both = self.write("tls-both.pem", a.read() + b.read())
            self.cert = (crt, key, both)
        return self.cert

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def cpu_of(self, worker):
        return self.cpus[worker % len(self.cpus)]

    def haproxy_pin(self, threads):
        """HAProxy 2.6 applies cpu-map to threads only in its auto: form
        (thread k on the k-th CPU of the set, ascending), and not at all
        with one thread: start_proxy pins that one itself."""
        if not self.cpus or threads < 2:
            return ""
        return (f"    cpu-map auto:1/1-{threads} " +
                " ".join(str(self.cpu_of(t)) for t in range(threads)) + "\n")

    def nginx_head(self, name, workers, pin=True):
        """The main context; PIN: the workers as Stack's CPUs say."""
        affinity = ""
        if pin and self.cpus:
            masks = (format(1 << self.cpu_of(i), "b") for i in range(workers))
            affinity = f"worker_cpu_affinity {' '.join(masks)};\n"
        return (f"daemon off;\nworker_processes {workers};\n" + affinity +
                f"pid {self.path(name + '.pid')};\n"
                f"error_log {self.path(name + '.err')} warn;\n"
                "events { worker_connections 20000; }\n")

    def start_origins(self):
        with open(self.path("big.bin"), "wb") as f:
            f.write(os.urandom(BIG_BODY))
        servers = ""
        for p in self.origins:
            servers += (
                f"  server {{ listen 127.0.0.1:{p};\n"
                f"    location / {{ return 200 \"hello from {p}\\n\"; }}\n"
                f"    location = /big {{ alias {self.path('big.bin')}; }}\n"
                "    location = /healthcheck { return 200 OK; } }\n")
        head = self.nginx_head("origins", 1, pin=False)
        conf = self.write("origins.conf", head +
                          "http { access_log off;"
                          " keepalive_requests 10000000;\n" + servers + "}\n")
        p = self.procs.start("origins", ["nginx", "-e",
                                         self.path("origins.err"), "-c", conf])
        for port in self.origins:
            wait_ready(port, p, "origin nginx")

    def start_sink_origins(self):
        """Both sink origins in one process: `upload`'s origins."""
        ports = self.upstreams["sink"] = pick_ports(2)
        p = self.procs.start("sink", [sys.executable, os.path.join(
            BENCH_DIR, "sink_origin.py")] + [str(x) for x in ports])
        for port in ports:
            wait_ready(port, p, "sink origin")

    def start_ws_origins(self, python):
        """Two WebSocket echo origins, one process each."""
        ports = self.upstreams["ws"] = pick_ports(2)
        for i, port in enumerate(ports):
            p = self.procs.start(f"ws-origin{i}", [python, os.path.join(
                BENCH_DIR, "ws_echo.py"), str(port)])
            wait_ready(port, p, "ws origin", path="/hello")

    def stop_origins(self, kind):
        for name in {"sink": ["sink"],
                     "ws": ["ws-origin0", "ws-origin1"]}[kind]:
            self.procs.stop(name)
        self.upstreams.pop(kind, None)

    def lbmaster_pin(self):
        """cpu_affinity: auto is worker i on the i-th CPU lbmaster may use:
        the same CPUs as cpu_of, since it inherits our affinity."""
        return "cpu_affinity: auto\n" if self.cpus else ""

    def lbmaster_conf(self, name, workers, routes, origin="nginx"):
        """Write an lbmaster config; ROUTES is 3 or 2 * N_ROUTES.

        Both have BENCH_HOST as a host route. The 3-route one also has "/"
        as a path route, which the peer scenarios use (their Host header
        names no route). The big one has no "/": a request for BENCH_HOST
        that missed its host route would get a 404 and count as failed.
        Active health checks are off: the peers do none (nginx cannot,
        HAProxy only with `check`), and with 20,000 routes they would flood
        the origins with probes.
        """
        servers = "[" + ", ".join(f"127.0.0.1:{p}"
                                  for p in self.upstreams[origin]) + "]"
        limits = "max_connections: 20000"
        if origin == "sink":
            limits += f", max_body_size: {UPLOAD_MAX_BODY}"
        listen = f"listen: 127.0.0.1:{self.port[name]}\n"
        if self.tls.get(name):
            crt, key, _ = self.make_cert()
            listen = (f"listen:\n  - address: 127.0.0.1:{self.port[name]}\n"
                      f"    tls: {{min_version: \"1.3\", certificates: "
                      f"[{{cert: {crt}, key: {key}}}]" +
                      ("" if self.resume.get(name, True) else
                       ", session_tickets: off") + "}\n")
        # request_id: off, as the peers add none (configured alike).
        head = (listen + f"workers: {workers}\n" + self.lbmaster_pin() +
                f"error_log: {self.path(name + '.err')}\naccess_log: off\n"
                f"health_check: off\nlimits: {{{limits}}}\n"
                "request_id: off\n")
        if rate_limit_of(name):
            head += f"rate_limit: {rate_limit_of(name)['lbmaster']}\n"
        lines = [head, "hosts:\n"]
        if routes == 3:
            hosts, paths = [N_ROUTES // 2, N_ROUTES // 2 + 1], ["/"]
        else:
            hosts = range(N_ROUTES)
            paths = ["/p/%05d" % i for i in range(N_ROUTES)]
        for i in hosts:
            lines.append(f"  - host: h{i:05d}.bench.test\n"
                         f"    servers: {servers}\n")
        lines.append("paths:\n")
        for p in paths:
            lines.append(f"  - path: {p}\n    strip_prefix: false\n"
                         f"    servers: {servers}\n")
        self.conf[name] = self.write(name + ".yaml", "".join(lines))
        return self.conf[name]

    def start_proxy(self, name, workers=None, routes=3, origin="nginx",
                    env=None, tls=False, resume=True):
        """Start the proxy NAME: nginx, haproxy, or lbmaster* (any suffix).

        ORIGIN is the kind of origins behind it (see the class), ENV the
        environment it runs in; TLS: it serves HTTPS (TLS 1.3 only, the
        bench's certificate); RESUME: sessions may resume (tickets, and
        HAProxy's session cache), else every handshake is a full one.
        Returns its port once a request through it reaches an origin.
        """
        workers = workers or self.workers
        self.port[name] = pick_ports(1)[0]
        self.tls[name] = tls
        self.resume[name] = resume
        port = self.port[name]
        crt, key, both = self.make_cert() if tls else (None, None, None)
        ports = self.upstreams[origin]
        if origin == "ws":
            hop = ("      proxy_set_header Upgrade $http_upgrade;\n"
                   "      proxy_set_header Connection \"upgrade\";\n")
        else:
            hop = "      proxy_set_header Connection \"\";\n"
        if origin == "sink":
            hop += ("      client_max_body_size 0;"
                    " proxy_request_buffering off;\n")
        rl = rate_limit_of(name)
        if name.startswith("nginx"):
            ups = " ".join(f"server 127.0.0.1:{p};" for p in ports)
            head = self.nginx_head(name, workers)
            zone = limit = ""
            if rl:
                zone = ("  limit_req_zone $binary_remote_addr zone=rl:10m "
                        f"rate={rl['nginx_rate']};\n"
                        "  limit_req_status 429;\n")
                # nginx takes no burst=0: without one, none.
                limit = ("      limit_req zone=rl" +
                         (f" burst={rl['nginx_burst']} nodelay"
                          if rl["nginx_burst"] else "") + ";\n")
            conf = self.write(name + ".conf", head + (
                "http { access_log off; keepalive_requests 10000000;\n" +
                zone +
                f"  upstream o {{ {ups} keepalive 256; }}\n"
                f"  server {{ listen 127.0.0.1:{port}" +
                (f" ssl;\n    ssl_certificate {crt};\n"
                 f"    ssl_certificate_key {key};\n"
                 "    ssl_protocols TLSv1.3;\n" +
                 ("" if resume else "    ssl_session_tickets off;\n")
                 if tls else ";\n") +
                "    location / { proxy_pass http://o;\n" + limit +
                "      proxy_http_version 1.1;\n" + hop +
                "      proxy_set_header X-Forwarded-For"
                " $proxy_add_x_forwarded_for;\n"
                "      proxy_buffers 64 16k; proxy_max_temp_file_size 0;\n"
                "  } } }\n"))
            argv = ["nginx", "-e", self.path(name + ".err"), "-c", conf]
        elif name.startswith("haproxy"):
            srv = "".join(f"    server s{i} 127.0.0.1:{p}\n"
                          for i, p in enumerate(ports))
            limit = ""
            if rl:
                limit = ("    stick-table type ip size 100k expire 60s "
                         f"store http_req_rate({rl['haproxy_period']})\n"
                         "    http-request track-sc0 src\n"
                         "    http-request deny deny_status 429 if "
                         f"{{ sc_http_req_rate(0) gt {rl['haproxy_max']} }}\n")
            conf = self.write(name + ".cfg", (
                f"global\n    nbthread {workers}\n" +
                self.haproxy_pin(workers) +
                f"    maxconn {haproxy_maxconn()}\n" +
                ("" if resume else "    tune.ssl.cachesize 0\n") +
                "defaults\n    mode http\n    timeout connect 5s\n"
                "    timeout client 60s\n    timeout server 60s\n"
                "    option forwardfor\n    http-reuse always\n"
                f"frontend fe\n    bind 127.0.0.1:{port}" +
                (f" ssl crt {both} ssl-min-ver TLSv1.3 alpn http/1.1" +
                 ("" if resume else " no-tls-tickets") + "\n"
                 if tls else "\n") + limit +
                "    default_backend o\n"
                "backend o\n    balance roundrobin\n" + srv))
            argv = ["haproxy", "-f", conf]
        else:
            conf = self.lbmaster_conf(name, workers, routes, origin)
            argv = [self.lbmaster, "-f", "-c", conf]
        p = self.procs.start(name, argv, env)
        if name.startswith("haproxy") and self.cpus and workers == 1:
            os.sched_setaffinity(p.pid, {self.cpu_of(0)})
        try:
            wait_ready(port, p, name, host=BENCH_HOST if routes != 3 else None,
                       path="/hello" if origin == "ws" else "/", tls=tls)
            if not name.startswith("haproxy"):
                self.wait_workers(name, workers)
        except BenchError as e:
            raise BenchError(f"{e}\n{self.procs.log_tail(name)}") from None
        return port

    def wait_workers(self, name, n, timeout=10.0):
        """Wait until NAME has forked its N workers (the first may serve
        before the last is there)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.workers_of(name)) == n and \
                    self.workers_of(name)[0] != self.proc(name).pid:
                return
            time.sleep(0.05)
        raise BenchError(f"{name}: {n} workers not there after "
                         f"{timeout:.0f}s: {self.workers_of(name)}")

    def stop_proxy(self, name):
        self.procs.stop(name)

    def proc(self, name):
        return self.procs.live[name]

    def workers_of(self, name):
        """The pids that serve traffic: the workers, or the process itself.

        HAProxy runs its workers as threads of one process; nginx and
        lbmaster fork them, and their title says "worker process".
        """
        pid = self.proc(name).pid
        kids = [k for k in children(pid) if "worker" in cmdline(k)]
        return kids or [pid]


# ------------------------------------------------------------ measuring

def to_seconds(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0,
                                "m": 60.0}[m.group(2)]


def wrk(port, conns, duration, path="/", close=False, host=None, tls=False):
    """One wrk run; a dict of rps, p99 (s), failed, requests and wrk's text.

    Failed counts the answers outside 2xx/3xx and wrk's socket errors
    (connect, read, write, timeout: an answer later than wrk's 2 s).
    """
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    if host:
        argv += ["-H", f"Host: {host}"]
    argv.append(f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}")
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=duration + 30)
        out = r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        out = "wrk did not finish in time"
    res = dict(rps=0.0, p99=float("nan"), failed=0, requests=0, non2xx=0,
               out=out, argv=" ".join(shlex.quote(a) for a in argv))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        res["failed"] = -1	# wrk could not run at all: see out
        return res
    res["rps"] = float(m.group(1))
    m = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    if m:
        res["p99"] = to_seconds(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
        res["failed"] += res["non2xx"]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    if m:
        res["failed"] += sum(map(int, m.groups()))
    return res


def load_time(lbmaster, conf, times=3):
    """Median wall time of `lbmaster -t -c CONF` over TIMES runs."""
    walls = []
    for _ in range(times):
        t0 = time.perf_counter()
        r = subprocess.run([lbmaster, "-t", "-c", conf], capture_output=True,
                           text=True, timeout=120)
        walls.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise BenchError(f"lbmaster -t -c {conf} failed: "
                             f"{(r.stdout + r.stderr).strip()}")
    return statistics.median(walls)


def idle_memory(stack, name, count, scenario="idle10k"):
    """KiB of worker memory per idle keep-alive client connection.

    Each connection sends one request (so that the proxy has done for it
    what it does for a client, including the upstream side), then stays
    open and silent; the workers' resident memory is read before the first
    connection and IDLE_SETTLE seconds after the last. Over HTTPS when
    NAME serves it: a TLS 1.3 handshake (no resumption) first.
    """
    port = stack.port[name]
    pids = stack.workers_of(name)
    before = rss_kib(pids)
    socks = []
    req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    ctx = None
    if stack.tls.get(name):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if ctx is not None:
                s = ctx.wrap_socket(s)
            s.sendall(req)
            socks.append(s)
        time.sleep(IDLE_SETTLE)
        after = rss_kib(pids)
        # A worker that died under 10,000 connections shows here.
        if stack.workers_of(name) != pids:
            raise BenchError(f"{name}: workers changed during {scenario} "
                             f"({pids} -> {stack.workers_of(name)})")
    finally:
        for s in socks:
            s.close()
    return (after - before) / count


def strace_counts(path):
    """{syscall: calls} from the summary table of `strace -c`."""
    counts = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return counts
    for line in lines:
        f = line.split()
        # "% time seconds usecs/call calls [errors] syscall"
        if len(f) in (5, 6) and f[-1] != "total" and \
                re.match(r"[\d.]+$", f[0]) and f[3].isdigit():
            counts[f[-1]] = counts.get(f[-1], 0) + int(f[3])
    return counts


def syscalls_per_request(stack, name, duration):
    """Trace every worker of NAME while wrk runs `small` for DURATION s.

    strace slows the workers down a lot, but wrk counts the requests served
    under it, so the calls per request are right even if the speed is not.
    """
    tids = []
    for pid in stack.workers_of(name):
        try:
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    out = stack.path(f"strace-{name}.txt")
    argv = ["strace", "-c", "-f", "-o", out]
    for t in tids:
        argv += ["-p", str(t)]
    tracer = stack.procs.start(f"strace-{name}", argv)
    time.sleep(0.5)		# let it attach
    if tracer.poll() is not None:
        raise BenchError("strace exited: "
                         + stack.procs.log_tail("strace-" + name))
    res = wrk(stack.port[name], WRK_SCENARIOS["small"]["conns"], duration)
    stack.procs.stop(f"strace-{name}", signal.SIGINT)
    counts = strace_counts(out)
    n = max(res["requests"], 1)
    return {k: v / n for k, v in counts.items()}, res


def build_shim(stack):
    """Compile bench/alloccount.c; (path of the .so, None) or (None, why)."""
    if not shutil.which("cc"):
        return None, "no C compiler (cc)"
    so = stack.path("alloccount.so")
    argv = ["cc", "-shared", "-fPIC", "-O2", "-o", so,
            os.path.join(BENCH_DIR, "alloccount.c"), "-ldl"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "cc took over 120 s"
    if r.returncode != 0:
        return None, "cc failed: " + (r.stdout + r.stderr).strip()
    return so, None


def alloc_count(countdir, pids):
    """The allocations counted so far by the processes PIDS, or None when
    one of them has no counter file (the shim is not loaded in it)."""
    total = 0
    for p in pids:
        try:
            with open(os.path.join(countdir, str(p)), "rb") as f:
                total += struct.unpack("=Q", f.read(8))[0]
        except (OSError, struct.error):
            return None
    return total


def allocs_per_request(stack, name, countdir, duration):
    """Allocations per request in NAME's workers while wrk runs `small`.

    NAME runs with the shim preloaded; its workers' counters are read
    before and after wrk, which counts the requests.
    """
    port = stack.port[name]
    conns = WRK_SCENARIOS["small"]["conns"]
    wrk(port, conns, 1)		# warm-up: pools, upstream connections
    pids = stack.workers_of(name)
    before = alloc_count(countdir, pids)
    if before is None:
        return None, None
    res = wrk(port, conns, duration)
    after = alloc_count(countdir, pids)
    if after is None:	# a worker went away
        return None, res
    return (after - before) / max(res["requests"], 1), res


def read_response(c):
    """Status, body and whether the connection closes, from Conn C."""
    head = c.head()
    if head is None:
        raise EOFError("connection closed before the answer")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(b":")
        headers[k.strip().lower()] = v.strip().lower()
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        body = b""
        while True:
            size = int(c.line().split(b";", 1)[0], 16)
            if size == 0:
                while c.line():
                    pass
                break
            body += c.read(size)
            c.line()
    else:
        body = c.read(int(headers.get(b"content-length", b"0")))
    close = b"close" in headers.get(b"connection", b"")
    return status, body, close


def upload_loop(port, deadline, out):
    """POST UPLOAD_SIZE-byte bodies on one keep-alive connection to PORT,
    one after the other, until DEADLINE; what it did goes to the dict OUT.

    It stops at the first failure, and an upload not done UPLOAD_GRACE
    seconds after DEADLINE is one.
    """
    chunk = memoryview(bytes(UPLOAD_CHUNK))
    head = (f"POST /upload HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {UPLOAD_SIZE}\r\n\r\n").encode()
    want = b"got %d bytes\n" % UPLOAD_SIZE
    stop = deadline + UPLOAD_GRACE
    c = None

    def bound(sock):	# every wait ends at STOP at the latest
        sock.settimeout(max(0.001, stop - time.monotonic()))
        return sock

    try:
        while time.monotonic() < deadline:
            if c is None:
                c = Conn(bound(socket.create_connection(("127.0.0.1", port),
                                                        timeout=5)))
            bound(c.sock).sendall(head)
            left = UPLOAD_SIZE
            while left > 0:
                n = min(left, UPLOAD_CHUNK)
                bound(c.sock).sendall(chunk[:n])
                left -= n
            bound(c.sock)
            status, body, close = read_response(c)
            if status != 200 or body != want:
                out["failed"] += 1
                out["error"] = f"status {status}, body {body[:80]!r}"
                return
            out["uploads"] += 1
            if close:
                c.sock.close()
                c = None
    except socket.timeout:
        out["failed"] += 1
        out["error"] = (f"an upload not done {UPLOAD_GRACE:.0f} s after "
                        "the end of the run")
    except (OSError, EOFError, ValueError, IndexError) as e:
        out["failed"] += 1
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        if c is not None:
            c.sock.close()


def upload(ports, duration):
    """UPLOAD_CONNS connections (round robin over PORTS) uploading until
    DURATION seconds have passed; the uploads under way then are finished.

    A dict of mibs (MiB/s: the bytes of the uploads that succeeded over
    the wall time until the last ended), uploads, failed, and out, argv
    for a report.
    """
    outs = [dict(uploads=0, failed=0, error="") for _ in range(UPLOAD_CONNS)]
    t0 = time.monotonic()
    threads = [threading.Thread(target=upload_loop, daemon=True,
                                args=(ports[i % len(ports)], t0 + duration,
                                      outs[i]))
               for i in range(UPLOAD_CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, t0 + duration + UPLOAD_GRACE + 5 - time.monotonic()))
    wall = time.monotonic() - t0
    uploads = sum(o["uploads"] for o in outs)
    failed = sum(o["failed"] for o in outs)
    hung = sum(t.is_alive() for t in threads)
    errors = list(dict.fromkeys(o["error"] for o in outs if o["error"]))
    if hung:
        errors.append(f"{hung} upload thread(s) still running, given up")
    return dict(mibs=uploads * UPLOAD_SIZE / wall / (1 << 20),
                uploads=uploads, failed=failed + hung,
                out="\n".join(errors),
                argv=f"upload client: {UPLOAD_CONNS} connections to "
                     f"127.0.0.1:{','.join(map(str, ports))}, POST "
                     f"{UPLOAD_SIZE >> 20} MiB each, for {duration} s")


def websockets_python():
    """A python3 that has the websockets library, or None."""
    for py in (sys.executable, "/usr/bin/python3"):
        try:
            if subprocess.run([py, "-c", "import websockets"],
                              capture_output=True, timeout=30).returncode == 0:
                return py
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def ws_load(python, urls, duration):
    """WS_CONNS echo connections to URLS, shared by WS_CLIENT_PROCS
    processes of bench/ws_client.py that count over the same window.

    A dict of rate (echoes a second, summed), messages, failed (connections
    that failed), and out, argv for a report.
    """
    start = time.time() + 1.0	# time for every handshake
    argv = [python, os.path.join(BENCH_DIR, "ws_client.py"),
            "--conns", str(WS_CONNS // WS_CLIENT_PROCS),
            "--duration", str(duration), "--size", str(WS_MESSAGE),
            "--start", f"{start:.3f}"] + urls
    procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for _ in range(WS_CLIENT_PROCS)]
    res = dict(rate=0.0, messages=0, failed=0, out="",
               argv=f"{WS_CLIENT_PROCS} x " + " ".join(
                   shlex.quote(x) for x in argv[1:]))
    errors = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=duration + 30)
            r = json.loads(out.strip().splitlines()[-1])
            res["rate"] += r["messages"] / r["seconds"]
            res["messages"] += r["messages"]
            res["failed"] += r["errors"]
            if r["first_error"]:
                errors.append(r["first_error"])
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            res["failed"] += 1
            errors.append("client did not finish in time")
        except (ValueError, IndexError, KeyError):
            res["failed"] += 1
            errors.append(f"client output unreadable: {out!r} {err!r}"[:300])
    res["out"] = "; ".join(dict.fromkeys(errors))	# each error once
    return res


# ------------------------------------------------------------ reporting

def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (r.stdout + r.stderr).strip()
    return text.splitlines()[0] if text else ""


def machine_line(lbmaster, srcdir):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            if m:
                cpu = m.group(1).strip()
    except OSError:
        pass
    ngx = re.sub(r"^.*nginx/", "", first_line(["nginx", "-v"]))
    hap = first_line(["haproxy", "-v"]).split()
    hap = hap[2] if len(hap) > 2 else "?"
    w = first_line(["wrk", "-v"]).split()
    w = w[1].split("/")[-1] if len(w) > 1 else "?"
    v = subprocess.run([lbmaster, "-V"], capture_output=True,
                       text=True).stdout
    lev = re.search(r"libevent (\S+)", v)
    lbv = re.search(r"lbmaster (\S+)", v)
    rev = first_line(["git", "-C", srcdir, "describe", "--always", "--dirty"])
    lb = (lbv.group(1) if lbv else "?") + (f" (git {rev})" if rev else "")
    return (f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}; "
            f"nginx {ngx}, HAProxy {hap}, wrk {w}, "
            f"libevent {lev.group(1) if lev else '?'}; lbmaster {lb}")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


class Report:
    """What is printed as it comes, and kept for RESULTS.md."""

    def __init__(self):
        self.sections = []	# (title, markdown lines)
        self.ratios = []	# "ratio ..." and "scale ..." lines
        self.failures = []	# text blocks about lbmaster misbehaving

    def say(self, line):
        print(line, flush=True)

    def section(self, title, lines):
        self.sections.append((title, lines))

    def ratio(self, line):
        self.ratios.append(line)
        self.say(line)


def table(rows):
    """Markdown lines for wrk results: ROWS is [(label, [result, ...])]."""
    out = ["| proxy | req/s (median) | p99 latency (median) | failed "
           "| req/s of each round |",
           "|---|---:|---:|---:|---|"]
    for label, res in rows:
        med = statistics.median(r["rps"] for r in res)
        p99 = statistics.median(r["p99"] for r in res)
        failed = sum(max(r["failed"], 0) for r in res)
        each = ", ".join(f"{r['rps']:.0f}" for r in res)
        out.append(f"| {label} | {med:.0f} | {p99 * 1e3:.2f} ms | {failed} "
                   f"| {each} |")
    return out


def rounds(stack, names, rounds_n, duration, conns, path="/", close=False,
           host=None, tls=False):
    """Run wrk against each of NAMES in turn, ROUNDS_N times.

    The order turns by one each round (A B C, B C A, C A B) so that no proxy
    is always the one measured first after a pause. A one-second warm-up
    per proxy comes first: it opens the upstream connections and pages in
    the code, and is not counted.
    """
    for n in names:
        wrk(stack.port[n], conns, 1, path, close, host, tls)
    res = {n: [] for n in names}
    for i in range(rounds_n):
        k = i % len(names)
        for n in names[k:] + names[:k]:
            res[n].append(wrk(stack.port[n], conns, duration, path, close,
                              host, tls))
    return res


def check_lbmaster(stack, rep, name, scenario, res, pids_before):
    """Record lbmaster's failed requests and lost workers in SCENARIO."""
    for r in res:
        if r["failed"]:
            rep.failures.append(
                f"scenario {scenario}: {name} failed "
                f"{'to run' if r['failed'] < 0 else r['failed']} "
                f"requests\n$ {r['argv']}\n{r['out'].rstrip()}")
    p = stack.proc(name)
    if p.poll() is not None:
        rep.failures.append(f"scenario {scenario}: {name} exited with "
                            f"status {p.returncode}\n"
                            f"{stack.procs.log_tail(name)}")
        raise BenchError(f"{name} is gone: the rest would mean nothing")
    if pids_before is not None and stack.workers_of(name) != pids_before:
        rep.failures.append(
            f"scenario {scenario}: {name}'s workers changed "
            f"({pids_before} -> {stack.workers_of(name)}): one died\n"
            f"{stack.procs.log_tail(name)}")


def print_rows(rep, scenario, rows):
    for label, res in rows:
        med = statistics.median(r["rps"] for r in res)
        p99 = statistics.median(r["p99"] for r in res)
        failed = sum(max(r["failed"], 0) for r in res)
        rep.say(f"{scenario:9s} {label:14s} {med:10.0f} req/s  "
                f"p99 {p99 * 1e3:8.2f} ms  failed {failed}")


def peer_scenario(stack, rep, a, name):
    """One of WRK_SCENARIOS against the three proxies; returns the ratios."""
    sc = WRK_SCENARIOS[name]
    pids = stack.workers_of("lbmaster")
    res = rounds(stack, list(PEERS), a.rounds, a.duration, sc["conns"],
                 sc["path"], sc.get("close", False), tls=sc.get("tls", False))
    check_lbmaster(stack, rep, "lbmaster", name, res["lbmaster"], pids)
    for p in ("nginx", "haproxy"):
        if stack.proc(p).poll() is not None:
            raise BenchError(f"{p} exited during {name}:\n"
                             f"{stack.procs.log_tail(p)}")
    rows = [(p, res[p]) for p in PEERS]
    print_rows(rep, name, rows)
    med = {p: statistics.median(r["rps"] for r in res[p]) for p in PEERS}
    r = {p: med["lbmaster"] / med[p] if med[p] else float("inf")
         for p in ("nginx", "haproxy")}
    rep.section(f"{name}: {sc['what']}", table(rows))
    return r


def s_time(port, duration):
    """openssl s_time -reuse: new connections a second, each resuming the
    first one's session."""
    argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-reuse",
            "-time", str(duration), "-www", "/"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=duration + 30).stdout
    except subprocess.TimeoutExpired:
        out = ""
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    if not m or float(m.group(2)) == 0:
        return dict(rps=0.0, out=out)
    return dict(rps=int(m.group(1)) / float(m.group(2)), out=out)


def resumes(stack, port):
    """Whether a second connection to PORT resumes the first's session
    (openssl s_client -sess_out, then -sess_in)."""
    sess = stack.path(f"sess-{port}.pem")
    said = []
    for opt in ("-sess_out", "-sess_in"):
        r = subprocess.run(["openssl", "s_client", "-connect",
                            f"127.0.0.1:{port}", opt, sess, "-ign_eof"],
                           input="GET / HTTP/1.1\r\nHost: x\r\n"
                                 "Connection: close\r\n\r\n",
                           capture_output=True, text=True, timeout=30)
        said.append(r.stdout)
    return "\nReused, " in said[1]


def resume_scenario(stack, rep, a):
    """tls_resume: connections that each resume a session, reported."""
    for p in PEERS:
        s_time(stack.port[p], 1)	# warm-up
    res = {p: [] for p in PEERS}
    for i in range(a.rounds):
        k = i % len(PEERS)
        for p in list(PEERS[k:]) + list(PEERS[:k]):
            res[p].append(s_time(stack.port[p], a.duration))
    med = {p: statistics.median(r["rps"] for r in res[p]) for p in PEERS}
    for p in PEERS:
        rep.say(f"{TLS_RESUME:9s} {p:14s} {med[p]:10.0f} conn/s  "
                "(openssl s_time -reuse)")
    if any(r["rps"] == 0 for r in res["lbmaster"]):
        rep.failures.append(f"scenario {TLS_RESUME}: lbmaster: s_time "
                            f"failed\n{res['lbmaster'][0]['out']}")
    rep.section(f"{TLS_RESUME}: new HTTPS connections that each resume a "
                "session (openssl s_time -reuse, one client process: "
                "reported, not compared)",
                ["| proxy | connections/s |", "|---|---:|"] +
                [f"| {p} | {med[p]:.0f} |" for p in PEERS])
    return {p: med["lbmaster"] / med[p] if med[p] else float("inf")
            for p in ("nginx", "haproxy")}


def idle_scenario(stack, rep, a, scenario="idle10k"):
    """idle10k (or tls_idle, over HTTPS with resumption off), each proxy
    freshly started, one at a time."""
    tls = scenario == TLS_IDLE
    count = a.idle_tls_conns if tls else a.idle_conns
    kib = {}
    for p in PEERS:
        stack.start_proxy(p, tls=tls, resume=not tls)
        try:
            kib[p] = idle_memory(stack, p, count, scenario)
        except BenchError as e:
            if p == "lbmaster":
                rep.failures.append(f"scenario {scenario}: {e}\n"
                                    f"{stack.procs.log_tail(p)}")
                kib[p] = float("nan")
            else:
                raise
        finally:
            stack.stop_proxy(p)
        rep.say(f"{scenario:9s} {p:14s} {kib[p]:10.2f} KiB/conn")
    lb = kib["lbmaster"]
    r = {p: (kib[p] / lb if lb > 0 else float("inf")) for p in
         ("nginx", "haproxy")}
    lines = ["| proxy | worker memory per idle connection |", "|---|---:|"]
    lines += [f"| {p} | {kib[p]:.2f} KiB |" for p in PEERS]
    what = ("HTTPS connections (TLS 1.3, no resumption)" if tls else
            "keep-alive connections")
    rep.section(f"{scenario}: {count} {what}, each after one request, held "
                "open and silent; the workers' resident memory before and "
                "after, divided by the connections (lower is better; the "
                "ratio is the peer's over lbmaster's)", lines)
    return r


def routes_scenario(stack, rep, a):
    """routes20k: the load time and speed of a config of 20,000 routes."""
    names = ["lbmaster-3routes", "lbmaster-20kroutes"]
    routes = {names[0]: 3, names[1]: 2 * N_ROUTES}
    try:
        for n in names:
            stack.start_proxy(n, routes=routes[n])
        # `-t` binds nothing: it can run beside the two that serve.
        loads = {n: load_time(stack.lbmaster, stack.conf[n]) for n in names}
        pids = {n: stack.workers_of(n) for n in names}
        res = rounds(stack, names, a.rounds, a.duration,
                     WRK_SCENARIOS["small"]["conns"], host=BENCH_HOST)
        for n in names:
            check_lbmaster(stack, rep, n, "routes20k", res[n], pids[n])
    finally:
        for n in names:
            stack.stop_proxy(n)
    rows = [(n, res[n]) for n in names]
    print_rows(rep, "routes20k", rows)
    for n in names:
        rep.say(f"routes20k {n:14s} load {loads[n] * 1e3:8.1f} ms "
                f"(lbmaster -t, median of 3)")
    med = {n: statistics.median(r["rps"] for r in res[n]) for n in names}
    ratio = med[names[1]] / med[names[0]] if med[names[0]] else 0.0
    lines = table(rows)
    lines += ["", "| config | routes | load time (`lbmaster -t`, "
              "median of 3) |", "|---|---:|---:|"]
    lines += [f"| {n} | {routes[n]} | {loads[n] * 1e3:.1f} ms |"
              for n in names]
    rep.section(f"routes20k: {N_ROUTES} host routes and {N_ROUTES} path "
                f"routes against the 3-route config, both lbmaster with "
                f"{a.workers} workers; `small` with `Host: {BENCH_HOST}` (a "
                "host route in the middle of the list)", lines)
    return ratio


def cores_scenario(stack, rep, a):
    """cores: lbmaster with 1 and with 2 workers, `small`."""
    names = ["lbmaster-1worker", "lbmaster-2workers"]
    try:
        for n, w in zip(names, (1, 2)):
            stack.start_proxy(n, workers=w)
        pids = {n: stack.workers_of(n) for n in names}
        res = rounds(stack, names, a.rounds, a.duration,
                     WRK_SCENARIOS["small"]["conns"])
        for n in names:
            check_lbmaster(stack, rep, n, "cores", res[n], pids[n])
    finally:
        for n in names:
            stack.stop_proxy(n)
    rows = [(n, res[n]) for n in names]
    print_rows(rep, "cores", rows)
    med = {n: statistics.median(r["rps"] for r in res[n]) for n in names}
    rep.section("cores: lbmaster with 1 worker and with 2 workers, `small` "
                "(wrk and the origins share the same cores)",
                table(rows))
    return med[names[1]] / med[names[0]] if med[names[0]] else 0.0


def ratelimit_scenario(stack, rep, a):
    """ratelimit: `small` through a rate limit that never refuses.

    lbmaster with the limit against lbmaster without it (the cost of the
    limit: goal within 3 %), and against nginx and HAProxy with theirs.
    """
    names = ["lbmaster", "lbmaster-rl", "nginx-rl", "haproxy-rl"]
    conns = WRK_SCENARIOS["small"]["conns"]
    try:
        for n in names:
            stack.start_proxy(n)
        pids = {n: stack.workers_of(n) for n in names if "lbmaster" in n}
        res = rounds(stack, names, a.rounds, a.duration, conns)
        for n in pids:
            check_lbmaster(stack, rep, n, "ratelimit", res[n], pids[n])
        for n in names:
            if "lbmaster" not in n and any(r["failed"] for r in res[n]):
                rep.say(f"ratelimit {n} failed requests: its limit "
                        "refused some")
    finally:
        for n in names:
            stack.stop_proxy(n)
    rows = [(n, res[n]) for n in names]
    print_rows(rep, "ratelimit", rows)
    med = {n: statistics.median(r["rps"] for r in res[n]) for n in names}
    rep.section("ratelimit: `small` through a rate limit per client address "
                "high enough never to refuse (lbmaster `rate_limit`, nginx "
                "`limit_req`, HAProxy `stick-table` + `http-request deny`), "
                "and lbmaster without one", table(rows))
    cost = med["lbmaster-rl"] / med["lbmaster"] if med["lbmaster"] else 0.0
    r = {p: med["lbmaster-rl"] / med[p + "-rl"] if med[p + "-rl"] else
         float("inf") for p in ("nginx", "haproxy")}
    return cost, r


def ratelimit_hot_scenario(stack, rep, a):
    """ratelimit_hot: every request refused with 429; 429s per second."""
    names = ["lbmaster-hot", "nginx-hot", "haproxy-hot"]
    conns = WRK_SCENARIOS["small"]["conns"]
    try:
        for n in names:
            stack.start_proxy(n)
        pids = stack.workers_of("lbmaster-hot")
        res = rounds(stack, names, a.rounds, a.duration, conns)
        # Every answer is a 429 here, but for the one a minute the limit
        # lets through (the rounds of a run last longer than a minute, and
        # a round less): socket errors, or more than one answer a round
        # that is not refused, are lbmaster's failures.
        for r in res["lbmaster-hot"]:
            if r["requests"] == 0 or r["requests"] - r["non2xx"] > 1 or \
                    r["failed"] != r["non2xx"]:
                rep.failures.append(
                    f"scenario ratelimit_hot: lbmaster-hot answered "
                    f"{r['requests'] - r['non2xx']} of {r['requests']} "
                    f"requests with other than 429 (one at most), or "
                    f"failed some\n"
                    f"$ {r['argv']}\n{r['out'].rstrip()}")
            r["failed"] = 0
        check_lbmaster(stack, rep, "lbmaster-hot", "ratelimit_hot",
                       res["lbmaster-hot"], pids)
        for n in names[1:]:
            for r in res[n]:
                r["failed"] = r["failed"] - r["non2xx"]
    finally:
        for n in names:
            stack.stop_proxy(n)
    rows = [(n, res[n]) for n in names]
    print_rows(rep, "ratelimit_hot", rows)
    med = {n: statistics.median(r["rps"] for r in res[n]) for n in names}
    rep.section("ratelimit_hot: `small` from one client over its limit (one "
                "request a minute): every answer a 429, in 429s per second",
                table(rows))
    return {p: med["lbmaster-hot"] / med[p + "-hot"] if med[p + "-hot"] else
            float("inf") for p in ("nginx", "haproxy")}


def wait_tcp(port, proc, name, timeout=10.0):
    """Wait until 127.0.0.1:PORT accepts a TCP connection."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{name} does not accept on {port} after {timeout:.0f}s")


def dns32_scenario(stack, rep, a):
    """dns32: 32 servers followed in DNS against the same 32 written."""
    dnsmasq = shutil.which("dnsmasq")
    if dnsmasq is None:
        rep.say("dns32     skipped: no dnsmasq (apt-get install dnsmasq)")
        return None
    port, dport = pick_ports(2)
    addrs = [f"127.0.0.{i}" for i in range(1, N_FOLLOWED + 1)]
    listens = "".join(f"    listen {x}:{port};\n" for x in addrs)
    head = stack.nginx_head("origins32", 1, pin=False)
    conf = stack.write("origins32.conf", head +
                       "http { access_log off; keepalive_requests 10000000;"
                       "\n  server {\n" + listens +
                       f"    location / {{ return 200 \"hello from {port}"
                       "\\n\"; } } }\n")
    names = ["lbmaster-static32", "lbmaster-dns32"]
    try:
        p = stack.procs.start("origins32", ["nginx", "-e",
                                            stack.path("origins32.err"),
                                            "-c", conf])
        wait_ready(port, p, "origin nginx (32 addresses)")
        # A TTL of 30 s: asked again during the run, as in production.
        hosts = stack.write("hosts32", "".join(f"{x} b.bench.test\n"
                                               for x in addrs))
        d = stack.procs.start("dnsmasq", [
            dnsmasq, "--keep-in-foreground", f"--port={dport}",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
            "--no-hosts", f"--addn-hosts={hosts}", "--local=/bench.test/",
            "--local-ttl=30", "--log-facility=-", "--pid-file="] +
            (["--user=root"] if os.geteuid() == 0 else []))
        wait_tcp(dport, d, "dnsmasq")
        servers = {
            names[0]: "[" + ", ".join(f"{x}:{port}" for x in addrs) + "]",
            names[1]: f"[{{address: \"b.bench.test:{port}\", resolve: true}}]",
        }
        for n in names:
            stack.port[n] = pick_ports(1)[0]
            stack.conf[n] = stack.write(n + ".yaml", (
                f"listen: 127.0.0.1:{stack.port[n]}\nworkers: {a.workers}\n" +
                stack.lbmaster_pin() +
                f"error_log: {stack.path(n + '.err')}\naccess_log: off\n"
                "health_check: off\nlimits: {max_connections: 20000}\n"
                f"resolver: {{nameservers: [\"127.0.0.1:{dport}\"]}}\n"
                f"paths: [{{path: /, servers: {servers[n]}}}]\n"))
            p = stack.procs.start(n, [stack.lbmaster, "-f", "-c",
                                      stack.conf[n]])
            wait_ready(stack.port[n], p, n)
            stack.wait_workers(n, a.workers)
        pids = {n: stack.workers_of(n) for n in names}
        res = rounds(stack, names, a.rounds, a.duration,
                     WRK_SCENARIOS["small"]["conns"])
        for n in names:
            check_lbmaster(stack, rep, n, "dns32", res[n], pids[n])
    finally:
        for n in names + ["dnsmasq", "origins32"]:
            stack.procs.stop(n)
    rows = [(n, res[n]) for n in names]
    print_rows(rep, "dns32", rows)
    med = {n: statistics.median(r["rps"] for r in res[n]) for n in names}
    rep.section(f"dns32: lbmaster with {N_FOLLOWED} servers followed in DNS "
                f"(one name, `resolve: true`, 32 A records from dnsmasq, "
                f"TTL 30 s) against the same {N_FOLLOWED} addresses written "
                "in the config; `small`, one nginx origin listening on all "
                "32", table(rows))
    return med[names[1]] / med[names[0]] if med[names[0]] else 0.0


def syscalls_scenario(stack, rep, a):
    """syscalls: system calls per proxied request under `small`."""
    if not shutil.which("strace"):
        rep.say("syscalls  skipped: no strace (apt-get install -y strace)")
        rep.section("syscalls: skipped, strace is not installed", [])
        return
    per = {}
    for p in PEERS:
        per[p], res = syscalls_per_request(stack, p, a.strace_seconds)
        total = sum(per[p].values())
        top = sorted(per[p].items(), key=lambda kv: -kv[1])[:6]
        rep.say(f"syscalls  {p:14s} {total:6.2f} per request over "
                f"{res['requests']} requests ("
                + ", ".join(f"{k} {v:.2f}" for k, v in top) + ")")
    names = sorted({k for p in PEERS for k, v in per[p].items() if v >= 0.01},
                   key=lambda k: -max(per[p].get(k, 0) for p in PEERS))
    lines = ["| syscall | " + " | ".join(PEERS) + " |",
             "|---|" + "---:|" * len(PEERS)]
    lines += ["| **total** | " + " | ".join(
        f"**{sum(per[p].values()):.2f}**" for p in PEERS) + " |"]
    for k in names:
        lines.append(f"| {k} | " + " | ".join(
            f"{per[p].get(k, 0):.2f}" for p in PEERS) + " |")
    rep.section(f"syscalls: system calls per request in the workers, `strace "
                f"-c -f` on every worker during {a.strace_seconds} s of "
                "`small` (calls traced / requests wrk counted; below 0.01 "
                "left out)", lines)


def allocs_scenario(stack, rep, a):
    """allocs: calls to malloc and its kin per proxied request, `small`.

    Each proxy is started afresh with bench/alloccount.c preloaded, alone.
    """
    so, why = build_shim(stack)
    if so is None:
        rep.say(f"allocs    skipped: {why}")
        rep.section(f"allocs: skipped, {why}", [])
        return
    countdir = stack.path("alloccount")
    os.makedirs(countdir, exist_ok=True)
    env = dict(os.environ, LD_PRELOAD=so, ALLOCCOUNT_DIR=countdir)
    per, reqs, why = {}, {}, {}
    for p in PEERS:
        res = None
        try:
            stack.start_proxy(p, env=env)
            pids = stack.workers_of(p)
            per[p], res = allocs_per_request(stack, p, countdir,
                                             a.strace_seconds)
            if per[p] is None:
                why[p] = ("no counter file for its workers: the shim did not "
                          "load (a static binary?)" if res is None else
                          "a worker went away during the run")
            else:
                reqs[p] = res["requests"]
            if p == "lbmaster" and res is not None:
                check_lbmaster(stack, rep, p, "allocs", [res], pids)
        except BenchError as e:
            why[p] = f"could not run with the shim: {e}"
            per[p] = None
        finally:
            stack.stop_proxy(p)
        if per[p] is None:
            rep.say(f"allocs    {p:14s} skipped: {why[p].splitlines()[0]}")
        else:
            rep.say(f"allocs    {p:14s} {per[p]:6.2f} per request over "
                    f"{reqs[p]} requests")
    lines = ["| proxy | allocations per request | requests |",
             "|---|---:|---:|"]
    for p in PEERS:
        lines.append(f"| {p} | {per[p]:.2f} | {reqs[p]} |" if per[p] is not
                     None else f"| {p} | skipped: {why[p].splitlines()[0]} "
                     "| |")
    rep.section(f"allocs: calls to malloc, calloc, realloc, reallocarray, "
                "posix_memalign, aligned_alloc, memalign and valloc per "
                "request in the workers (`bench/alloccount.c` preloaded), "
                f"during {a.strace_seconds} s of `small` (lower is better)",
                lines)


def upload_scenario(stack, rep, a):
    """upload: 100 MiB POSTs through each proxy to the sink origins.

    Returns the ratios of lbmaster's median MiB/s over the peers'.
    """
    stack.start_sink_origins()
    direct = upload(stack.upstreams["sink"], a.duration)
    rep.say(f"upload    {'direct':14s} {direct['mibs']:10.0f} MiB/s  "
            "(client straight to the origins: the ceiling)")
    try:
        for p in PEERS:
            stack.start_proxy(p, origin="sink")
        pids = stack.workers_of("lbmaster")
        for p in PEERS:		# warm-up, not counted
            upload([stack.port[p]], 1)
        res = {p: [] for p in PEERS}
        for i in range(a.rounds):
            k = i % len(PEERS)
            for p in PEERS[k:] + PEERS[:k]:
                res[p].append(upload([stack.port[p]], a.duration))
        # The proxies were started for this scenario: the high-water mark
        # of each worker's resident memory is its peak during the uploads.
        hwm = {p: max(status_kib(w, "VmHWM") for w in stack.workers_of(p))
               for p in PEERS}
        check_lbmaster(stack, rep, "lbmaster", "upload", res["lbmaster"],
                       pids)
        for p in ("nginx", "haproxy"):
            if stack.proc(p).poll() is not None:
                raise BenchError(f"{p} exited during upload:\n"
                                 f"{stack.procs.log_tail(p)}")
    finally:
        for p in PEERS:
            stack.stop_proxy(p)
        stack.stop_origins("sink")
    med = {p: statistics.median(r["mibs"] for r in res[p]) for p in PEERS}
    for p in PEERS:
        failed = sum(r["failed"] for r in res[p])
        errs = [r["out"].splitlines()[0] for r in res[p] if r["out"]]
        rep.say(f"upload    {p:14s} {med[p]:10.0f} MiB/s  failed {failed}"
                + (f"  ({errs[0][:120]})" if errs else ""))
    for p in PEERS:
        rep.say(f"upload peak RSS {p} worker: {hwm[p] / 1024:.0f} MiB")
    lines = ["| proxy | MiB/s (median) | uploads failed | MiB/s of each "
             "round | peak RSS of a worker (VmHWM) |",
             "|---|---:|---:|---|---:|"]
    for p in PEERS:
        lines.append(f"| {p} | {med[p]:.0f} | "
                     f"{sum(r['failed'] for r in res[p])} | "
                     + ", ".join(f"{r['mibs']:.0f}" for r in res[p])
                     + f" | {hwm[p] / 1024:.0f} MiB |")
    lines.append(f"| (client straight to the origins) | {direct['mibs']:.0f}"
                 f" | {direct['failed']} | | |")
    rep.section(f"upload: {UPLOAD_CONNS} keep-alive connections, each POSTing "
                f"{UPLOAD_SIZE >> 20} MiB bodies (Content-Length) one after "
                "the other to an origin that reads them whole "
                "(bench/sink_origin.py); MiB/s of the uploads answered, and "
                "the largest peak resident memory of a worker (higher MiB/s, "
                f"lower memory is better; lbmaster has max_body_size "
                f"{UPLOAD_MAX_BODY})", lines)
    return {p: med["lbmaster"] / med[p] if med[p] else float("inf")
            for p in ("nginx", "haproxy")}


def ws_scenario(stack, rep, a):
    """ws: 64-byte WebSocket messages echoed through each proxy's tunnel.

    Returns (ratios, ran): the ratios of lbmaster's median echoes a second
    over the peers' (None for a peer that failed; ratios is None when
    lbmaster failed), and False when the scenario was skipped.
    """
    python = websockets_python()
    if python is None:
        why = "no python3 with websockets (apt-get install python3-websockets)"
        rep.say(f"ws        skipped: {why}")
        rep.section(f"ws: skipped, {why}", [])
        return None, False
    stack.start_ws_origins(python)
    direct = ws_load(python, [f"ws://127.0.0.1:{p}/"
                              for p in stack.upstreams["ws"]], a.duration)
    rep.say(f"ws        {'direct':14s} {direct['rate']:10.0f} msg/s  "
            "(client straight to the origins: the ceiling)")
    try:
        for p in PEERS:
            stack.start_proxy(p, origin="ws")
        pids = stack.workers_of("lbmaster")
        urls = {p: [f"ws://127.0.0.1:{stack.port[p]}/"] for p in PEERS}
        for p in PEERS:		# warm-up, not counted
            ws_load(python, urls[p], 1)
        res = {p: [] for p in PEERS}
        for i in range(a.rounds):
            k = i % len(PEERS)
            for p in PEERS[k:] + PEERS[:k]:
                res[p].append(ws_load(python, urls[p], a.duration))
        check_lbmaster(stack, rep, "lbmaster", "ws", res["lbmaster"], pids)
        for p in ("nginx", "haproxy"):
            if stack.proc(p).poll() is not None:
                raise BenchError(f"{p} exited during ws:\n"
                                 f"{stack.procs.log_tail(p)}")
    finally:
        for p in PEERS:
            stack.stop_proxy(p)
        stack.stop_origins("ws")
    med, dead = {}, {}
    lines = ["| proxy | messages/s (median) | connections failed | "
             "messages/s of each round |", "|---|---:|---:|---|"]
    for p in PEERS:
        med[p] = statistics.median(r["rate"] for r in res[p])
        failed = sum(r["failed"] for r in res[p])
        errs = [r["out"] for r in res[p] if r["out"]]
        dead[p] = not any(r["messages"] for r in res[p])
        if dead[p]:
            rep.say(f"ws        {p:14s} FAILED: {errs[0] if errs else '?'}")
            lines.append(f"| {p} | FAILED: {errs[0] if errs else '?'} | "
                         f"{failed} | |")
            continue
        rep.say(f"ws        {p:14s} {med[p]:10.0f} msg/s  failed {failed}"
                + (f"  ({errs[0][:120]})" if errs else ""))
        lines.append(f"| {p} | {med[p]:.0f} | {failed} | "
                     + ", ".join(f"{r['rate']:.0f}" for r in res[p]) + " |")
    lines.append(f"| (client straight to the origins) | {direct['rate']:.0f}"
                 f" | {direct['failed']} | |")
    rep.section(f"ws: {WS_CONNS} WebSocket connections through the proxy's "
                f"tunnel (101 Switching Protocols) to echo origins "
                f"(bench/ws_echo.py), each sending a {WS_MESSAGE}-byte "
                f"message and awaiting its echo in a loop; {WS_CLIENT_PROCS} "
                "Python client processes (bench/ws_client.py), which are "
                "likely the limit: compare with the client straight to the "
                "origins (higher is better)", lines)
    if dead["lbmaster"]:
        return None, True
    return {p: (None if dead[p] or not med[p] else med["lbmaster"] / med[p])
            for p in ("nginx", "haproxy")}, True


def write_results(path, rep, a, machine, started, load0, argv):
    lines = [
        "# lbmaster benchmark results", "",
        "Written by `bench/bench.py` (`make bench`); see `bench/README` for "
        "what each scenario means. One run on one machine, which may have "
        "been busy with other work: quote the ratios, which compare "
        "proxies measured in the same minute, not the requests per second.",
        "",
        f"- Machine: {machine}",
        f"- Run: {started}, {a.rounds} round(s) x {a.duration} s per proxy "
        f"per scenario, {a.workers} workers each "
        f"({'pinned one per CPU' if a.pin else 'not pinned'}), "
        "wrk -t1; load average "
        f"{load0} at the start, {loadavg()} at the end"
        + (" (**quick run**: no medians)" if a.rounds < 3 else ""),
        f"- Command: `{argv}`", ""]
    lines += ["## Ratios", "", "```"] + rep.ratios + ["```", ""]
    for title, body in rep.sections:
        lines += [f"## {title}", ""] + body + [""]
    if rep.failures:
        lines += ["## lbmaster failures", ""]
        for f in rep.failures:
            lines += ["```", f, "```", ""]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)


# ------------------------------------------------------------ main

def raise_fd_limit(want):
    """Raise this process's descriptor limit, which the proxies inherit.

    idle10k holds its connections in this process, and HAProxy refuses to
    start when the limit is below what its maxconn needs (two descriptors
    per connection). Root may raise the hard limit too.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    for lim in ((want, max(hard, want)), (min(want, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, lim)
            return
        except (ValueError, OSError):
            pass


def haproxy_maxconn():
    """20000 like the others, or what the descriptor limit allows."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(100, min(20000, (soft - 100) // 2))


def lowest(worst, ratios):
    """The smaller of WORST (None at first) and the values of RATIOS."""
    low = min(ratios.values())
    return low if worst is None else min(worst, low)


def on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main():
    ap = argparse.ArgumentParser(
        description="lbmaster against nginx and HAProxy on loopback.")
    ap.add_argument("--lbmaster", required=True, help="the binary to test")
    ap.add_argument("--out", help="write the results there (markdown)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4,
                    help="seconds of each wrk run")
    ap.add_argument("--workers", type=int, default=2,
                    help="workers of every proxy (HAProxy: threads)")
    ap.add_argument("--no-pin", action="store_true",
                    help="leave every proxy's workers to the scheduler "
                         "(default: each pinned to a CPU of its own)")
    ap.add_argument("--scenario", default=DEFAULT_SCENARIOS,
                    help="comma-separated, from: " + DEFAULT_SCENARIOS)
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--idle-tls-conns", type=int, default=2000,
                    help="connections of tls_idle (each a handshake in "
                         "this Python process)")
    ap.add_argument("--strace-seconds", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="1 round of 2 s: to try the script, not to quote")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.duration = 1, 2
    if a.rounds < 1 or a.duration < 1 or a.workers < 1:
        ap.error("--rounds, --duration and --workers must be positive")
    scenarios = [s for s in a.scenario.split(",") if s]
    known = DEFAULT_SCENARIOS.split(",")
    for s in scenarios:
        if s not in known:
            ap.error(f"unknown scenario {s!r} (known: {DEFAULT_SCENARIOS})")

    os.environ["PATH"] += ":/usr/sbin:/sbin"
    missing = [t for t in ("nginx", "haproxy", "wrk") if not shutil.which(t)]
    if missing:
        sys.exit(f"bench: missing {', '.join(missing)}: "
                 "apt-get install -y nginx-light haproxy wrk")
    lbmaster = os.path.abspath(a.lbmaster)
    if not os.access(lbmaster, os.X_OK):
        sys.exit(f"bench: {a.lbmaster} is not an executable")
    # HAProxy's maxconn of 20000 needs two descriptors a connection.
    raise_fd_limit(2 * max(a.idle_conns, 20000) + 1000)

    # Stop everything on Ctrl-C, kill or hang-up, even when started in the
    # background by a shell, which leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, on_sigterm)
    srcdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = "python3 bench/bench.py " + " ".join(
        shlex.quote(x) for x in sys.argv[1:])
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load0 = loadavg()
    machine = machine_line(lbmaster, srcdir)
    rep = Report()
    rep.say(f"machine: {machine}")
    # More workers than CPUs: nothing is pinned (HAProxy's cpu-map auto:
    # form, the one 2.6 applies to threads, cannot say it).
    a.pin = not a.no_pin and len(os.sched_getaffinity(0)) >= a.workers
    rep.say(f"rounds {a.rounds} x {a.duration} s, {a.workers} workers "
            f"({'pinned' if a.pin else 'not pinned'}), "
            f"load average {load0}")

    tmp = tempfile.mkdtemp(prefix="lbbench.")
    os.chmod(tmp, 0o755)	# nginx's workers run as nobody
    stack = Stack(tmp, lbmaster, a.workers, a.pin)
    worst = None
    failed_run = False
    try:
        stack.start_origins()
        wrk_names = [s for s in scenarios if s in WRK_SCENARIOS and
                     not WRK_SCENARIOS[s].get("tls")]
        tls_names = [s for s in scenarios if s in WRK_SCENARIOS and
                     WRK_SCENARIOS[s].get("tls")]
        # The HTTPS scenarios, first those whose sessions may resume, then
        # those that need every handshake whole (proxies restarted).
        for resume in (True, False):
            names = [s for s in tls_names
                     if WRK_SCENARIOS[s].get("resume", True) == resume]
            with_s_time = resume and TLS_RESUME in scenarios
            if not names and not with_s_time:
                continue
            for p in PEERS:
                stack.start_proxy(p, tls=True, resume=resume)
                if resumes(stack, stack.port[p]) != resume:
                    raise BenchError(f"{p}: a session resumes: "
                                     f"{not resume}, want {resume}")
            for name in names:
                r = peer_scenario(stack, rep, a, name)
                rep.ratio(f"ratio {name} lbmaster/nginx={r['nginx']:.2f} "
                          f"lbmaster/haproxy={r['haproxy']:.2f}")
                worst = lowest(worst, r)
            if with_s_time:
                r = resume_scenario(stack, rep, a)
                rep.ratio(f"ratio {TLS_RESUME} lbmaster/nginx="
                          f"{r['nginx']:.2f} lbmaster/haproxy="
                          f"{r['haproxy']:.2f}  (reported)")
            for p in PEERS:
                stack.stop_proxy(p)
        if wrk_names:
            for p in PEERS:
                stack.start_proxy(p)
            for name in wrk_names:
                r = peer_scenario(stack, rep, a, name)
                rep.ratio(f"ratio {name} lbmaster/nginx={r['nginx']:.2f} "
                          f"lbmaster/haproxy={r['haproxy']:.2f}")
                worst = lowest(worst, r)
            if "syscalls" in scenarios:
                syscalls_scenario(stack, rep, a)
            for p in PEERS:
                stack.stop_proxy(p)
        elif "syscalls" in scenarios:
            for p in PEERS:
                stack.start_proxy(p)
            syscalls_scenario(stack, rep, a)
            for p in PEERS:
                stack.stop_proxy(p)
        if "allocs" in scenarios:
            allocs_scenario(stack, rep, a)
        for idle in ("idle10k", TLS_IDLE):
            if idle not in scenarios:
                continue
            r = idle_scenario(stack, rep, a, idle)
            rep.ratio(f"ratio {idle} lbmaster/nginx={r['nginx']:.2f} "
                      f"lbmaster/haproxy={r['haproxy']:.2f}  "
                      "(memory per connection, inverted)")
            worst = lowest(worst, r)
        if "upload" in scenarios:
            r = upload_scenario(stack, rep, a)
            rep.ratio(f"ratio upload lbmaster/nginx={r['nginx']:.2f} "
                      f"lbmaster/haproxy={r['haproxy']:.2f}  (MiB/s)")
        if "ws" in scenarios:
            r, ran = ws_scenario(stack, rep, a)
            if r is None and ran:
                rep.ratio("ratio ws: lbmaster failed")
            elif ran:
                rep.ratio("ratio ws " + " ".join(
                    f"lbmaster/{p}=" + (f"{r[p]:.2f}" if r[p] is not None
                                        else f"n/a ({p} failed)")
                    for p in ("nginx", "haproxy")) + "  (messages/s)")
        if "routes20k" in scenarios:
            r = routes_scenario(stack, rep, a)
            rep.ratio(f"scale routes20k 20000routes/3routes={r:.2f}  "
                      "(goal: 0.95 or more)")
        if "cores" in scenarios:
            r = cores_scenario(stack, rep, a)
            rep.ratio(f"scale cores 2workers/1worker={r:.2f}")
        if "dns32" in scenarios:
            r = dns32_scenario(stack, rep, a)
            if r is not None:
                rep.ratio(f"scale dns32 followed/static={r:.2f}  "
                          "(goal: 0.95 or more)")
        if "ratelimit" in scenarios:
            cost, r = ratelimit_scenario(stack, rep, a)
            rep.ratio(f"scale ratelimit with/without={cost:.2f}  "
                      "(goal: 0.97 or more)")
            rep.ratio(f"ratio ratelimit lbmaster/nginx={r['nginx']:.2f} "
                      f"lbmaster/haproxy={r['haproxy']:.2f}")
            worst = lowest(worst, r)
        if "ratelimit_hot" in scenarios:
            r = ratelimit_hot_scenario(stack, rep, a)
            rep.ratio(f"ratio ratelimit_hot lbmaster/nginx={r['nginx']:.2f} "
                      f"lbmaster/haproxy={r['haproxy']:.2f}  (429s/s)")
            worst = lowest(worst, r)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        failed_run = True
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        stack.procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(130)
    finally:
        stack.procs.stop_all()
        if failed_run or rep.failures:
            print(f"bench: logs and configs left in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    for f in rep.failures:
        print(f"bench: lbmaster misbehaved:\n{f}\n", file=sys.stderr)
    if failed_run:
        sys.exit(1)
    if worst is not None:
        rep.ratios.append(f"min_ratio_vs_best={worst:.2f}")
    if a.out:
        write_results(a.out, rep, a, machine, started, load0, argv)
    if worst is not None:
        print(f"min_ratio_vs_best={worst:.2f}", flush=True)
    sys.exit(1 if rep.failures else 0)


if __name__ == "__main__":
    main()

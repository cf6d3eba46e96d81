#!/bin/bash
#
# tests/valgrind.sh BUILDDIR -- `make valgrind`: lbmaster under valgrind.
#
# One representative scenario: lbmaster (workers: 1, with the health
# checker and an access log) runs under valgrind, which follows the
# processes the master forks, in front of a test origin. It gets a few
# hundred requests of every kind -- plain GETs (keep-alive and not), POST
# bodies (with a length and chunked), chunked and large answers, 404,
# 403, 413, malformed requests (400, 431), clients that leave before or
# in the middle of an answer; and on a TLS listener (a certificate made
# here with openssl), HTTPS GETs and POSTs, plain HTTP (400), a refused
# TLS 1.1 handshake and clients that leave mid-handshake -- and then
# SIGTERM. Each answer must have
# its expected status (else the scenario did not run as meant), lbmaster
# must exit 0, and every process's valgrind log must say
# "ERROR SUMMARY: 0 errors" when it exits: with
# --errors-for-leak-kinds=definite a definite leak is an error too.
#
# Logs are kept in a temp dir when something fails; VG_KEEP=1 keeps them
# always. Needs bash (for /dev/tcp), valgrind, timeout(1) and openssl.

set -u

top=${1:?usage: valgrind.sh BUILDDIR}
lbmaster=$top/lbmaster
origin=$top/tests/origin
loadgen=$top/tests/loadgen

VALGRIND=${VALGRIND:-valgrind}
START_S=60		# valgrind makes lbmaster slow to start
STOP_S=60
IO_S=30			# bound for one exchange

die() {
	echo "valgrind.sh: $*" >&2
	exit 1
}

command -v "$VALGRIND" >/dev/null 2>&1 || die "$VALGRIND not found"
for f in "$lbmaster" "$origin" "$loadgen"; do
	[ -x "$f" ] || die "$f is not built"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lbmaster-valgrind.XXXXXX") ||
    die "mktemp failed"
origin_pid=
lb_pid=
failed=1

# Stop what we started (by pid), keep the logs when something failed.
cleanup() {
	[ -n "$lb_pid" ] && kill -KILL "$lb_pid" 2>/dev/null
	[ -n "$origin_pid" ] && kill -TERM "$origin_pid" 2>/dev/null
	wait 2>/dev/null
	if [ "$failed" = 0 ] && [ "${VG_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		echo "valgrind.sh: logs in $work" >&2
	fi
}
trap cleanup EXIT

# Wait up to $2 seconds for the file $1 to be non-empty.
wait_file() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# Start an origin on a port the kernel chooses; its port in $2.
start_origin() {
	local pf=$work/$1.port
	"$origin" --name "$1" --listen 127.0.0.1:0 --port-file "$pf" \
	    >"$work/$1.log" 2>&1 &
	origin_pid=$!
	wait_file "$pf" 10 || die "origin $1 did not start"
	printf -v "$2" '%s' "$(cat "$pf")"
}

# A free port: one the kernel gave an origin that is gone again.
free_port() {
	local pf=$work/free.port pid
	rm -f "$pf" # not the last call's port, again
	"$origin" --name free --listen 127.0.0.1:0 --port-file "$pf" \
	    >/dev/null 2>&1 &
	pid=$!
	wait_file "$pf" 10 || die "cannot find a free port"
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	printf -v "$1" '%s' "$(cat "$pf")"
}

# ------------------------------------------------------------- requests

expected=0
unexpected=0

# exchange NAME STATUS REQUEST: send REQUEST (a printf format), read the
# answer to the end (the request says Connection: close) and check that
# its status is STATUS.
exchange() {
	local name=$1 want=$2 req=$3 status
	expected=$((expected + 1))
	status=$(timeout "$IO_S" bash -c '
	    trap "" PIPE
	    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	    printf "$2" >&3 2>/dev/null
	    IFS=" " read -r _ status _ <&3 || exit 1
	    cat <&3 >/dev/null
	    echo "$status"' _ "$port" "$req" 2>/dev/null)
	if [ "$status" != "$want" ]; then
		echo "valgrind.sh: $name: status '${status:-none}'," \
		    "expected $want" >&2
		unexpected=$((unexpected + 1))
	fi
}

# leave NAME REQUEST BYTES: send REQUEST, read BYTES of the answer (0:
# none) and close the connection without reading the rest.
leave() {
	timeout "$IO_S" bash -c '
	    trap "" PIPE
	    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	    printf "$2" >&3
	    [ "$3" = 0 ] || head -c "$3" <&3 >/dev/null
	    exec 3<&-' _ "$port" "$2" "$3" 2>/dev/null ||
	    echo "valgrind.sh: $1: could not send" >&2
}

# tls_exchange NAME STATUS REQUEST [OPTS]: as exchange, over TLS to the
# TLS listener, with openssl s_client (and its OPTS).
tls_exchange() {
	local name=$1 want=$2 req=$3 status
	expected=$((expected + 1))
	status=$(printf "$req" | timeout "$IO_S" openssl s_client -quiet \
	    -connect "127.0.0.1:$tport" -servername www.fruit.com ${4:-} \
	    2>/dev/null | head -1 | cut -d' ' -f2)
	if [ "$status" != "$want" ]; then
		echo "valgrind.sh: $name: status '${status:-none}'," \
		    "expected $want" >&2
		unexpected=$((unexpected + 1))
	fi
}

# loadgen NAME N STATUS ARGS...: N requests that must get STATUS.
load() {
	local name=$1 n=$2 want=$3 out
	shift 3
	expected=$((expected + n))
	if ! out=$("$loadgen" -p "$port" -n "$n" -s "$want" \
	    -t $((IO_S * 1000)) "$@" 2>&1); then
		echo "valgrind.sh: $name: $out" >&2
		unexpected=$((unexpected + 1))
	fi
}

# --------------------------------------------------------------- start

start_origin fruit oport
free_port port
free_port tport
while [ "$tport" = "$port" ]; do # the kernel may give it again
	free_port tport
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/tls.key" -out "$work/tls.pem" -days 2 \
    -subj /CN=www.fruit.com -addext subjectAltName=DNS:www.fruit.com \
    2>/dev/null || die "openssl req failed"
cat >"$work/lbmaster.yaml" <<EOF
listen:
  - 127.0.0.1:$port
  - address: 127.0.0.1:$tport
    tls: {certificates: [{cert: $work/tls.pem, key: $work/tls.key}]}
workers: 1
error_log: stderr
access_log: $work/access.log
limits: {max_body_size: 64k, max_header_size: 4k}
health_check: {path: /healthcheck, interval: 1s, timeout: 5s, fall: 10}
hosts:
  - host: www.fruit.com
    firewall_rules: {path_reject: [/private]}
    servers: [127.0.0.1:$oport]
EOF

"$VALGRIND" --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 --trace-children=yes \
    --log-file="$work/valgrind.%p.log" \
    "$lbmaster" -f -c "$work/lbmaster.yaml" >"$work/lbmaster.log" 2>&1 &
lb_pid=$!
for ((i = 0; ; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$lb_pid" 2>/dev/null ||
	    die "lbmaster exited at start: $(tail -5 "$work/lbmaster.log")"
	((i < START_S * 10)) || die "lbmaster does not accept on port $port"
	sleep 0.1
done
echo "valgrind.sh: lbmaster (pid $lb_pid) under valgrind on port $port"

# ---------------------------------------------------------- scenario

H='Host: www.fruit.com\r\n'
C='Connection: close\r\n'
GET="GET /a HTTP/1.1\r\n$H$C"
POST="POST /upload HTTP/1.1\r\n$H$C"
PAD=$(printf '%5000s' '')

load "GET, keep-alive or not" 150 200 -c 4 -k 50 -H www.fruit.com -u /v1 \
    -u /v2 -u /some/path?x=1
load "no route" 30 404 -c 2 -H nowhere.example
load "firewall" 30 403 -c 2 -H www.fruit.com -u /private -u /private/x

for ((i = 0; i < 15; i++)); do
	exchange "POST with a length" 200 \
	    "${POST}Content-Length: 11\r\n\r\nhello world"
	exchange "chunked POST" 200 "${POST}Transfer-Encoding: chunked\r\n\r\n"`
	    `"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	exchange "chunked answer" 200 \
	    "${GET}X-Test-Body: 100000\r\nX-Test-Chunked: 1\r\n\r\n"
	exchange "1 MiB answer" 200 "${GET}X-Test-Body: 1048576\r\n\r\n"
	exchange "HEAD" 200 "HEAD /h HTTP/1.1\r\n$H$C\r\n"
	exchange "origin status" 503 "${GET}X-Test-Status: 503\r\n\r\n"
	exchange "origin reset" 502 "${GET}X-Test-Fault: reset\r\n\r\n"
	exchange "body over max_body_size" 413 \
	    "${POST}Content-Length: 100000\r\n\r\n"
	exchange "CL and TE" 400 "${POST}Content-Length: 5\r\n"`
	    `"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	exchange "bare LF" 400 "GET /a HTTP/1.1\nHost: www.fruit.com\n\n"
	exchange "GET with a body" 200 "${GET}Content-Length: 5\r\n\r\nhello"
	exchange "two Content-Lengths" 400 \
	    "${POST}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
	exchange "unsafe path" 400 "GET /../etc/passwd HTTP/1.1\r\n$H$C\r\n"
	exchange "head over max_header_size" 431 "${GET}X-Pad: $PAD\r\n\r\n"
	leave "leaving before the answer" \
	    "GET /slow HTTP/1.1\r\n${H}X-Test-Delay: 100\r\n\r\n" 0
	leave "leaving mid-answer" \
	    "GET /big HTTP/1.1\r\n${H}X-Test-Body: 16777216\r\n\r\n" 65536
	# TLS: the same exchanges through the SSL, and its own failures.
	tls_exchange "HTTPS GET" 200 "${GET}\r\n"
	tls_exchange "HTTPS POST" 200 \
	    "${POST}Content-Length: 11\r\n\r\nhello world"
	tls_exchange "HTTPS 1 MiB answer" 200 \
	    "${GET}X-Test-Body: 1048576\r\n\r\n"
	tls_exchange "HTTPS TLS 1.2" 200 "${GET}\r\n" -tls1_2
	tls_exchange "HTTPS TLS 1.1" "" "${GET}\r\n" -tls1_1
	port=$tport exchange "plain HTTP to the TLS port" 400 "${GET}\r\n"
	port=$tport leave "leaving mid-handshake" "\x16\x03\x01\x00\x05" 0
done
# The answers to the clients that left came back meanwhile.
exchange "after the leavers" 200 "${GET}X-Test-Delay: 300\r\n\r\n"

# ---------------------------------------------------------------- stop

kill -TERM "$lb_pid"
for ((i = 0; i < STOP_S * 10; i++)); do
	kill -0 "$lb_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$lb_pid" 2>/dev/null && die "lbmaster did not exit on SIGTERM"
wait "$lb_pid"
rc=$?
lb_pid=

echo "valgrind.sh: $expected requests, $unexpected with an unexpected answer;" \
    "lbmaster exited $rc"
nlogs=0
nbad=0
for log in "$work"/valgrind.*.log; do
	[ -e "$log" ] || continue
	nlogs=$((nlogs + 1))
	what=$(sed -n 's/^==[0-9]*== Command: //p' "$log" | head -1)
	summary=$(grep -E 'ERROR SUMMARY:|definitely lost:' "$log")
	echo "valgrind.sh: ${log##*/} ($what):"
	echo "${summary:-  no summary: the process did not exit by itself}" |
	    sed 's/^==[0-9]*== */  /'
	# Without a summary the process was killed: nothing was checked.
	if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
		nbad=$((nbad + 1))
		cat "$log" >&2
	fi
done
echo "valgrind.sh: $nlogs processes checked, $nbad with errors, definite" \
    "leaks or no summary"

[ "$unexpected" = 0 ] || die "the scenario did not run as meant"
[ "$rc" = 0 ] || die "lbmaster exited $rc (99: valgrind found errors)"
# The master, the worker and the health checker at least.
[ "$nlogs" -ge 3 ] || die "only $nlogs valgrind logs: were the children" \
    "followed?"
[ "$nbad" = 0 ] || die "valgrind found errors or definite leaks"
failed=0
echo "valgrind.sh: passed"

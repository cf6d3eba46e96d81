#!/bin/sh
# examples/demo.sh -- what `make demo` runs: lbmaster with the course's
# config (examples/demo.yaml) in front of the test origins, mango on
# localhost:8081 and :8082 and apple on :9081 and :9082; HTTP on 8080 and
# HTTPS on 8443, with a certificate made here (demo.pem, in the temp dir
# lbmaster runs in).
#
# usage: demo.sh BUILDDIR
#
# lbmaster stays in the foreground (-f) and logs to the terminal. Ctrl-C,
# or lbmaster exiting by itself, stops every process the demo started.

set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILDDIR" >&2
	exit 2
fi
builddir=$1
srcdir=$(cd "$(dirname "$0")/.." && pwd) || exit 1
origin=$builddir/tests/origin
lbmaster=$builddir/lbmaster

for bin in "$origin" "$lbmaster"; do
	if [ ! -x "$bin" ]; then
		echo "demo: $bin is not built: run make first" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lbmaster-demo.XXXXXX") || exit 1
pids=

# Stop what we started, by pid, and wait for it; then remove the temp dir.
# shellcheck disable=SC2317  # only reached through the traps
cleanup() {
	trap - EXIT INT TERM
	for pid in $pids; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $pids; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# start_origin NAME PORT: start an origin and wait (10 s at most) until it
# listens: it writes its port file once its sockets accept.
start_origin() {
	portfile=$tmp/$1-$2.port
	"$origin" --name "$1" --listen "localhost:$2" --port-file "$portfile" &
	pid=$!
	pids="$pids $pid"
	tries=0
	while [ ! -s "$portfile" ]; do
		if ! kill -0 "$pid" 2>/dev/null || [ "$tries" -ge 100 ]; then
			echo "demo: origin $1 did not start on port $2" \
			    "(is the port taken?)" >&2
			exit 1
		fi
		sleep 0.1
		tries=$((tries + 1))
	done
}

start_origin mango 8081
start_origin mango 8082
start_origin apple 9081
start_origin apple 9082

# The HTTPS listener's certificate, self-signed: curl --cacert trusts it.
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/demo.key" -out "$tmp/demo.pem" -days 30 \
    -subj /CN=www.mango.com \
    -addext subjectAltName=DNS:www.mango.com,DNS:www.apple.com \
    2>/dev/null; then
	echo "demo: openssl req failed (apt-get install openssl)" >&2
	exit 1
fi
# demo.yaml names demo.pem and demo.key: relative to where lbmaster starts.
(cd "$tmp" && exec "$lbmaster" -f -c "$srcdir/examples/demo.yaml") &
lbpid=$!
pids="$pids $lbpid"
echo "demo: lbmaster listens on :8080 and :8443 -- try:" \
    "curl -H 'Host: www.mango.com' localhost:8080/  or" \
    "curl --cacert $tmp/demo.pem --resolve www.mango.com:8443:127.0.0.1" \
    "https://www.mango.com:8443/  (Ctrl-C stops the demo)"

wait "$lbpid"
status=$?
echo "demo: lbmaster exited with status $status" >&2
exit "$status"

#!/bin/bash
# tests/testssl.sh BUILDDIR -- `make testssl`: testssl.sh (Debian's
# testssl.sh package, the `testssl` command) against an lbmaster HTTPS
# listener with its defaults and an ECDSA P-256 certificate made here.
# Fails when a protocol older than TLS 1.2 is offered or when testssl
# reports anything VULNERABLE; prints its protocol and vulnerability
# lines either way. Everything it starts it stops, by pid.
set -u
build=${1:?usage: testssl.sh BUILDDIR}
command -v testssl >/dev/null || {
	echo "testssl.sh: no testssl command: apt-get install testssl.sh" >&2
	exit 1
}
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

# Two ports the kernel is not using now.
read -r tls origin < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/lb.key" -out "$dir/lb.pem" -days 30 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null || exit 1
cat >"$dir/lbmaster.yaml" <<EOF
listen:
  - address: 127.0.0.1:$tls
    tls:
      certificates: [{cert: $dir/lb.pem, key: $dir/lb.key}]
workers: 1
health_check: off
paths: [{path: /, servers: [127.0.0.1:$origin]}]
EOF
"$build/tests/origin" --name testssl --listen "127.0.0.1:$origin" \
    >"$dir/origin.log" 2>&1 &
pids+=($!)
"$build/lbmaster" -f -c "$dir/lbmaster.yaml" >"$dir/lbmaster.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	(echo >"/dev/tcp/127.0.0.1/$tls") 2>/dev/null && break
	sleep 0.1
done

testssl --quiet --color 0 --warnings off --protocols --vulnerable \
    "127.0.0.1:$tls" >"$dir/testssl.out" 2>&1
grep -E '^ (SSLv|TLS |NPN|ALPN)|\(CVE|RFC|ROBOT|Renegotiation' \
    "$dir/testssl.out"
rc=0
if grep -Eq '^ (SSLv2|SSLv3|TLS 1|TLS 1\.1) +offered' "$dir/testssl.out"; then
	echo "testssl.sh: a protocol older than TLS 1.2 is offered" >&2
	rc=1
fi
if grep -q 'VULNERABLE' "$dir/testssl.out"; then
	echo "testssl.sh: testssl reports a vulnerability" >&2
	rc=1
fi
if ! grep -q 'TLS 1.3 *offered' "$dir/testssl.out"; then
	echo "testssl.sh: testssl did not run against lbmaster:" >&2
	cat "$dir/testssl.out" "$dir/lbmaster.log" >&2
	rc=1
fi
[ $rc = 0 ] && echo "testssl.sh: no protocol before TLS 1.2, nothing vulnerable"
exit $rc

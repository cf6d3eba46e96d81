/*
 * tests/it_tunnel.c -- SPEC section 7, upgrades: a request with
 * Connection: upgrade and an Upgrade header is forwarded with both; an
 * origin's 101 turns the connection into a tunnel that carries bytes both
 * ways unchanged, passes a half-close on, closes when idle for
 * timeouts.tunnel, survives a reload and shows in /metrics as
 * lbmaster_tunnels_active; any other answer is an ordinary response; and
 * Upgrade: h2c is dropped. Last, a real WebSocket client and server
 * (tests/ws_peer.py, python3-websockets) talk through lbmaster.
 *
 * The tunnels' far end is tests/origin --raw: it answers an upgrade
 * request with a 101 and echoes every byte, and when it reads EOF it
 * sends one last line, "EOF after N bytes\n", before it shuts down its
 * own side (see tests/origin.c). The origin without --raw takes no notice
 * of Upgrade and answers with its JSON, as any origin that does not
 * switch would.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"
#include "tests/mproc.h"

#define KIB 1024
#define MIB (1024 * 1024)

static const char *const raw[] = { "--raw", NULL };

/* ---------------------------------------------------------- helpers */

/* Whether the comma-separated LIST has TOKEN, in any case. */
static bool
lists(const char *list, const char *token)
{
	const char *p, *e;
	size_t	    n = strlen(token), len;

	for (p = list; p != NULL && *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		p += strspn(p, " \t");
		e = p + strcspn(p, ",");
		len = (size_t)(e - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(p, token, n) == 0)
			return true;
	}
	return false;
}

/* The upgrade request to www.fruit.com that opens every tunnel here. */
static const char upgrade_req[] = "GET /chat HTTP/1.1\r\n"
				  "Host: www.fruit.com\r\n"
				  "Connection: Upgrade\r\n"
				  "Upgrade: websocket\r\n\r\n";

/*
 * Send the upgrade request to lbmaster on PORT and assert the origin's
 * 101 came back with Connection: upgrade and the same Upgrade. Returns
 * the connection, a tunnel from now on.
 */
static struct lbt_conn *
tunnel_open(unsigned port)
{
	struct lbt_conn *c;
	struct lbt_resp	 r;
	const char	*v;

	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_send(c, upgrade_req, strlen(upgrade_req)), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0,
	    "no answer to the upgrade request: %s; got: %.300s",
	    lbt_err_str(r.err), r.raw);
	ck_assert_msg(r.status == 101,
	    "the upgrade request got %d, not the origin's 101: %.300s",
	    r.status, r.raw);
	v = lbt_header(&r, "Upgrade");
	ck_assert_msg(v != NULL && strcasecmp(v, "websocket") == 0,
	    "the 101 came with Upgrade: %s", v ? v : "(none)");
	v = lbt_header(&r, "Connection");
	ck_assert_msg(lists(v, "upgrade"), "the 101 came with Connection: %s",
	    v ? v : "(none)");
	lbt_resp_free(&r);
	return c;
}

/* Read exactly LEN bytes from C into BUF; fail, saying WHAT, if not. */
static void
recv_exact(struct lbt_conn *c, void *buf, size_t len, const char *what)
{
	size_t	got = 0;
	ssize_t n;

	while (got < len) {
		n = lbt_conn_recv(c, (char *)buf + got, len - got);
		ck_assert_msg(n > 0, "%s: %s after %zu of %zu bytes", what,
		    n == 0 ? "EOF" : strerror(errno), got, len);
		got += (size_t)n;
	}
}

/* Send MSG through the tunnel C and read it back, echoed. */
static void
echo_ok(struct lbt_conn *c, const char *msg)
{
	size_t len = strlen(msg);
	char  *back = lbt_fmt("%*s", (int)len, "");

	ck_assert_msg(lbt_conn_send(c, msg, len) == 0,
	    "the tunnel no longer takes \"%s\": %s", msg, strerror(errno));
	recv_exact(c, back, len, lbt_fmt("the echo of \"%s\"", msg));
	ck_assert_str_eq(back, msg);
}

/* ----------------------------------------------------------- tunnel */

/*
 * 1 MiB of the pattern goes out through the tunnel while the echo comes
 * back, both at once (poll), as fast as each side takes them: what comes
 * back must be the same bytes in the same order. Neither side waits for
 * the other, so the whole MiB may be on its way at once, and
 * backpressure must hold in both directions without a deadlock.
 */
START_TEST(test_1mib_of_raw_bytes_echoes_through_a_101_tunnel_unchanged)
{
	enum {
		LEN = MIB,
		PIECE = 64 * KIB
	};
	static char	 out[PIECE], in[4 * PIECE], want[4 * PIECE];
	struct lbt_conn *c;
	struct pollfd	 pfd;
	unsigned	 fruit;
	size_t		 sent = 0, got = 0, n;
	ssize_t		 k;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	c = tunnel_open(lb.port);
	/* From here on lbt_conn_recv only takes what has come. */
	lbt_conn_set_timeout(c, 0);
	while (got < LEN) {
		pfd.fd = lbt_conn_fd(c);
		pfd.events = POLLIN | (sent < LEN ? POLLOUT : 0);
		ck_assert_msg(poll(&pfd, 1, LBT_IO_MS) == 1,
		    "the tunnel stalled with %zu bytes sent and %zu back", sent,
		    got);
		if ((pfd.revents & POLLOUT) != 0) {
			n = LEN - sent < PIECE ? LEN - sent : PIECE;
			lbt_pattern_fill(out, sent, n);
			k = send(pfd.fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			ck_assert_msg(k > 0 || errno == EAGAIN,
			    "sending into the tunnel after %zu bytes: %s", sent,
			    strerror(errno));
			if (k > 0)
				sent += (size_t)k;
		}
		while ((k = lbt_conn_recv(c, in, sizeof(in))) > 0) {
			ck_assert_uint_le(got + (size_t)k, sent);
			lbt_pattern_fill(want, got, (size_t)k);
			ck_assert_msg(memcmp(in, want, (size_t)k) == 0,
			    "the echo differs from what was sent in the %zd "
			    "bytes from offset %zu",
			    k, got);
			got += (size_t)k;
		}
		ck_assert_msg(k == -1 && errno == ETIMEDOUT,
		    "the tunnel %s after %zu bytes sent and %zu back",
		    k == 0 ? "closed" : strerror(errno), sent, got);
	}
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_origin_stat(fruit, "upgrades"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * The client shuts down its sending side once it has sent 100 KiB. The
 * tunnel passes the half-close on to the origin and keeps carrying the
 * other way: the client still gets every byte echoed, then the line the
 * origin sends only once that EOF has reached it, then EOF.
 */
START_TEST(test_half_close_passes_through_the_tunnel_and_the_answer_comes_back)
{
	enum {
		LEN = 100 * KIB
	};
	static char	 sent[LEN], back[LEN];
	struct lbt_conn *c;
	const char	*last;
	char		 tail[64], extra;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	c = tunnel_open(lb.port);
	lbt_pattern_fill(sent, 0, LEN);
	ck_assert_int_eq(lbt_conn_send(c, sent, LEN), 0);
	ck_assert_int_eq(shutdown(lbt_conn_fd(c), SHUT_WR), 0);

	recv_exact(c, back, LEN, "the echo after the client's half-close");
	ck_assert(memcmp(back, sent, LEN) == 0);
	last = lbt_fmt("EOF after %d bytes\n", LEN);
	recv_exact(c, tail, strlen(last),
	    "the origin's line after it read EOF (was the half-close "
	    "passed on?)");
	tail[strlen(last)] = '\0';
	ck_assert_str_eq(tail, last);
	ck_assert_msg(lbt_conn_recv(c, &extra, 1) == 0,
	    "no EOF after the origin shut down its side");
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * The same half-close, with the tunnel full both ways: the client sends
 * without reading until nothing more goes in (every buffer on the path
 * full, backpressure holding at each hop), shuts its side, then reads
 * slowly. Every byte still comes back in order, then the origin's line,
 * then EOF: the half-close waited behind the bytes before it.
 */
START_TEST(test_half_close_passes_through_a_tunnel_full_the_other_way)
{
	enum {
		PIECE = 64 * KIB
	};
	static char	 out[PIECE], in[PIECE], want[PIECE];
	struct lbt_conn *c;
	struct pollfd	 pfd;
	const char	*last;
	char		 tail[64], extra;
	unsigned	 fruit;
	size_t		 sent = 0, got = 0, n;
	ssize_t		 k;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	c = tunnel_open(lb.port);
	/* Send until the whole path is full: 300 ms with no room. */
	pfd.fd = lbt_conn_fd(c);
	pfd.events = POLLOUT;
	while (poll(&pfd, 1, 300) == 1) {
		lbt_pattern_fill(out, sent, PIECE);
		k = send(pfd.fd, out, PIECE, MSG_DONTWAIT | MSG_NOSIGNAL);
		ck_assert_msg(k > 0 || errno == EAGAIN,
		    "sending into the tunnel after %zu bytes: %s", sent,
		    strerror(errno));
		if (k > 0)
			sent += (size_t)k;
		ck_assert_uint_lt(sent, 256 * MIB);
	}
	ck_assert_int_eq(shutdown(pfd.fd, SHUT_WR), 0);
	/* Slowly: lbmaster's output to us stays full meanwhile. */
	while (got < sent) {
		n = sent - got < PIECE ? sent - got : PIECE;
		recv_exact(c, in, n, "the echo of a full tunnel");
		lbt_pattern_fill(want, got, n);
		ck_assert_msg(memcmp(in, want, n) == 0,
		    "the echo differs at offset %zu", got);
		got += n;
		lbt_pause_ms(5);
	}
	last = lbt_fmt("EOF after %zu bytes\n", sent);
	recv_exact(c, tail, strlen(last),
	    "the origin's line after it read EOF");
	tail[strlen(last)] = '\0';
	ck_assert_str_eq(tail, last);
	ck_assert_msg(lbt_conn_recv(c, &extra, 1) == 0,
	    "no EOF after the origin shut down its side");
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* --------------------------------------------------- not switched */

/*
 * An origin that does not switch answers the upgrade request with a
 * 200: lbmaster relays it as any answer, and the client's connection
 * goes on with its next request. The origin got both Connection: upgrade
 * and Upgrade (it echoes them).
 */
START_TEST(test_non_101_answer_to_an_upgrade_request_is_an_ordinary_response)
{
	static const char next[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n"
				   "\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	const char	 *v;
	unsigned	  fruit;
	pid_t		  o;
	struct itc_lb	  lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_request(c, upgrade_req, strlen(upgrade_req),
			     &r),
	    0);
	ck_assert_msg(r.status == 200, "status %d, body %.300s", r.status,
	    r.body);
	v = lbt_json_str(r.body, "headers.Upgrade");
	ck_assert_msg(v != NULL && strcasecmp(v, "websocket") == 0,
	    "the origin got Upgrade: %s", v ? v : "(none)");
	v = lbt_json_str(r.body, "headers.Connection");
	ck_assert_msg(lists(v, "upgrade"), "the origin got Connection: %s",
	    v ? v : "(none)");
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_request(c, next, strlen(next), &r) == 0,
	    "the next request on the connection: %s", lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * Upgrade: h2c is dropped: the origin (one that would switch) gets
 * neither the Upgrade nor the HTTP2-Settings that Connection names, and
 * the request is served as HTTP/1.1.
 */
START_TEST(test_h2c_upgrade_is_dropped_and_served_as_http11)
{
	static const char req[] = "GET /h2c HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "Connection: Upgrade, HTTP2-Settings\r\n"
				  "Upgrade: h2c\r\n"
				  "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
				  "\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	const char	 *v;
	unsigned	  fruit;
	pid_t		  o;
	struct itc_lb	  lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	ck_assert_msg(r.status == 200, "status %d: %.300s", r.status, r.raw);
	ck_assert_int_eq(r.minor, 1);
	ck_assert_ptr_null(lbt_header(&r, "Upgrade"));
	ck_assert_msg(lbt_json_raw(r.body, "headers.Upgrade") == NULL,
	    "the origin got Upgrade: %s",
	    lbt_json_raw(r.body, "headers.Upgrade"));
	ck_assert_msg(lbt_json_raw(r.body, "headers.HTTP2-Settings") == NULL,
	    "the origin got HTTP2-Settings: %s",
	    lbt_json_raw(r.body, "headers.HTTP2-Settings"));
	v = lbt_json_str(r.body, "headers.Connection");
	ck_assert_msg(!lists(v, "upgrade"), "the origin got Connection: %s", v);
	lbt_resp_free(&r);
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_origin_stat(fruit, "upgrades"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ---------------------------------------------------------- timeouts */

/*
 * A tunnel idle both ways for timeouts.tunnel is closed, on both sides.
 * The bound of the wait is generous; what is asserted is that it closes.
 */
START_TEST(test_idle_tunnel_is_closed_after_timeouts_tunnel)
{
	struct lbt_conn *c;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "timeouts: {tunnel: 500ms}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	c = tunnel_open(lb.port);
	echo_ok(c, "still there?");
	ck_assert_msg(lbt_conn_wait_closed(c, LBT_IO_MS),
	    "a tunnel idle for %d s was still open (timeouts.tunnel: 500ms)",
	    LBT_IO_MS / 1000);
	lbt_conn_close(c);
	ck_assert_msg(itc_wait_stat(fruit, "open_connections", 0, LBT_IO_MS),
	    "the origin's side of the idle tunnel stayed open");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * timeouts.tunnel is for idleness, not a tunnel's whole life: eight
 * echoes 200 ms apart keep a tunnel with a 500 ms timeout open for
 * 1.6 s. (The pauses are the scenario.)
 */
START_TEST(test_tunnel_with_steady_traffic_outlives_timeouts_tunnel)
{
	struct lbt_conn *c;
	unsigned	 fruit;
	int		 i;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "timeouts: {tunnel: 500ms}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	c = tunnel_open(lb.port);
	for (i = 0; i < 8; i++) {
		lbt_pause_ms(200);
		echo_ok(c, lbt_fmt("tick %d", i));
	}
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * Once switched, a connection is a tunnel and nothing else: the client,
 * backend and keep-alive timeouts (300 ms here) do not apply to it, and
 * one idle for 1.2 s still carries bytes.
 */
START_TEST(test_tunnel_is_not_bound_by_the_client_backend_keepalive_timeouts)
{
	struct lbt_conn *c;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1,
	    "timeouts: {client: 300ms, backend: 300ms, keepalive: 300ms}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	c = tunnel_open(lb.port);
	echo_ok(c, "before");
	lbt_pause_ms(1200);
	echo_ok(c, "after 1.2 s idle");
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ----------------------------------------------------------- reload */

struct log_wait {
	pid_t	    pid;
	const char *needle;
};

static bool
log_has(void *arg)
{
	struct log_wait *w = arg;
	const char	*log = lbt_read_file(lbt_log_path(w->pid), NULL);

	return log != NULL && strstr(log, w->needle) != NULL;
}

/*
 * A tunnel opened before a reload belongs to a worker of the old
 * generation, which keeps it (until shutdown_timeout, 30 s by default)
 * while the new generation serves: after SIGHUP with the same config,
 * once "generation 2 serves", the new workers answer and the old tunnel
 * still echoes.
 */
START_TEST(test_tunnel_opened_before_a_reload_keeps_echoing_after_it)
{
	struct lbt_conn *c;
	struct lbt_resp	 r;
	struct log_wait	 w;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	c = tunnel_open(lb.port);
	echo_ok(c, "before the reload");

	lbt_signal(lb.pid, SIGHUP);
	w.pid = lb.pid;
	w.needle = "generation 2 serves";
	ck_assert_msg(lbt_wait_for(log_has, &w, LBT_START_MS),
	    "no \"%s\" after SIGHUP; log:\n%s", w.needle,
	    lbt_log_tail(lb.pid, 2000));
	ck_assert_int_eq(itc_get(lb.port, "www.fruit.com", "/new", NULL, &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);

	echo_ok(c, "after the reload");
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ---------------------------------------------------------- metrics */

struct gauge_wait {
	unsigned    admin;
	const char *series;
	long long   want;
	long long   last; /* the last scrape's value, -1: none */
};

static bool
gauge_reads(void *arg)
{
	struct gauge_wait *w = arg;

	w->last = mp_metric(w->admin, w->series);
	return w->last == w->want;
}

/* Wait until lbmaster_tunnels_active reads WANT on the admin port. */
static void
wait_tunnels_active(unsigned admin, long long want)
{
	struct gauge_wait w = { admin, "lbmaster_tunnels_active", want, -1 };

	ck_assert_msg(lbt_wait_for(gauge_reads, &w, LBT_IO_MS),
	    "lbmaster_tunnels_active never read %lld; it reads %lld", want,
	    w.last);
}

/* Two workers: the gauge counts every worker's tunnels, not one's. */
START_TEST(test_tunnels_active_counts_open_tunnels)
{
	struct lbt_conn *c;
	unsigned	 fruit, admin;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	admin = lbt_free_port();
	itc_fruit_start(&lb, 2,
	    lbt_fmt("admin: {listen: 127.0.0.1:%u}\n", admin),
	    lbt_fmt("127.0.0.1:%u", fruit));
	lbt_wait_port(lb.pid, "127.0.0.1", admin, LBT_START_MS);
	wait_tunnels_active(admin, 0);
	c = tunnel_open(lb.port);
	echo_ok(c, "counted?");
	wait_tunnels_active(admin, 1);
	lbt_conn_close(c);
	wait_tunnels_active(admin, 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* -------------------------------------------------------- WebSocket */

/*
 * The first python3 on $PATH that can import websockets (a pyenv shim,
 * say, may come before the system's python3 that has it).
 */
static const char *
python_with_websockets(void)
{
	const char *path = getenv("PATH"), *p, *e, *py;

	for (p = path; p != NULL && *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ":");
		if (e == p)
			continue;
		py = lbt_fmt("%.*s/python3", (int)(e - p), p);
		if (access(py, X_OK) == 0 &&
		    lbt_run((const char *const[]){ py, "-c",
				"import websockets", NULL },
			LBT_START_MS, NULL) == 0)
			return py;
	}
	ck_abort_msg("no python3 on $PATH can import websockets: install "
		     "python3-websockets");
	return NULL;
}

static bool
file_has_port(void *arg)
{
	const char *text = lbt_read_file(arg, NULL);

	return text != NULL && strtoul(text, NULL, 10) > 0;
}

/*
 * tests/ws_peer.py's echo server behind lbmaster, and its client in front:
 * the WebSocket handshake goes through (Sec-WebSocket-Key and -Accept
 * unchanged), a text and a 100 KiB binary message come back echoed, and
 * the closing handshake completes. The client exits 0 only if all of it
 * did.
 */
START_TEST(test_websocket_client_and_server_talk_through_lbmaster)
{
	const char   *py, *peer, *port_file;
	char	     *out;
	unsigned      ws_port;
	pid_t	      server;
	int	      code;
	struct itc_lb lb;

	peer = getenv("LB_WS_PEER");
	ck_assert_msg(peer != NULL && *peer != '\0',
	    "$LB_WS_PEER is not set: run the integration tests through "
	    "`make check`");
	py = python_with_websockets();
	port_file = lbt_path("ws-server.port");
	server = lbt_spawn("ws-server",
	    (const char *const[]){ py, peer, "server", "--port-file", port_file,
		NULL });
	ck_assert_msg(lbt_wait_for(file_has_port, (void *)port_file,
			  LBT_START_MS),
	    "the WebSocket server wrote no port; its log:\n%s",
	    lbt_log_tail(server, 2000));
	ws_port = (unsigned)strtoul(lbt_read_file(port_file, NULL), NULL, 10);
	lbt_wait_port(server, "127.0.0.1", ws_port, LBT_START_MS);

	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", ws_port));
	code = lbt_run((const char *const[]){ py, peer, "client", "--url",
			   lbt_fmt("ws://127.0.0.1:%u/echo", lb.port), "--host",
			   "www.fruit.com", NULL },
	    60000, &out);
	ck_assert_msg(code == 0,
	    "the WebSocket client exited %d:\n%s\nserver:\n%s\nlbmaster:\n%s",
	    code, out, lbt_log_tail(server, 1500), lbt_log_tail(lb.pid, 1500));
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(server), 0);
}
END_TEST

static Suite *
tunnel_suite(void)
{
	Suite *s = suite_create("tunnel");
	TCase *tc;

	tc = lbt_tcase("tunnel");
	tcase_add_test(tc,
	    test_1mib_of_raw_bytes_echoes_through_a_101_tunnel_unchanged);
	tcase_add_test(tc,
	    test_half_close_passes_through_the_tunnel_and_the_answer_comes_back);
	tcase_add_test(tc,
	    test_half_close_passes_through_a_tunnel_full_the_other_way);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("not_switched");
	tcase_add_test(tc,
	    test_non_101_answer_to_an_upgrade_request_is_an_ordinary_response);
	tcase_add_test(tc, test_h2c_upgrade_is_dropped_and_served_as_http11);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("timeouts");
	tcase_add_test(tc, test_idle_tunnel_is_closed_after_timeouts_tunnel);
	tcase_add_test(tc,
	    test_tunnel_with_steady_traffic_outlives_timeouts_tunnel);
	tcase_add_test(tc,
	    test_tunnel_is_not_bound_by_the_client_backend_keepalive_timeouts);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("lifecycle");
	tcase_add_test(tc,
	    test_tunnel_opened_before_a_reload_keeps_echoing_after_it);
	tcase_add_test(tc, test_tunnels_active_counts_open_tunnels);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("websocket");
	tcase_add_test(tc,
	    test_websocket_client_and_server_talk_through_lbmaster);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tunnel_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

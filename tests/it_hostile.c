/*
 * tests/it_hostile.c -- SPEC section 4, "Bad input gets a clear status,
 * and nothing else is harmed": slow clients against timeouts.client, the
 * limits (max_header_size, max_body_size, max_connections), and requests
 * that are malformed or could be framed two ways (request smuggling).
 *
 * Every test asserts two things: what the client gets, and what the
 * origin received -- its /__stats "requests" counts every request that
 * reached it, so a refused request must leave it where it was. Most tests
 * run one worker (workers: 1), so that a hostile client and the clients
 * it must not disturb share the same event loop, and check at the end
 * that this worker is still the one that started (it did not crash and
 * get replaced).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

#define TRICKLE_MS   300  /* one byte this often: a slowloris client */
#define CLIENT_TO_MS 1000 /* the timeouts.client of these tests */
/*
 * When a trickling client must be closed, counted from the start of its
 * head (or body): timeouts.client, plus the 250 ms lbmaster checks
 * deadlines at, plus a little for a busy machine.
 */
#define CLOSED_BY_MS 1600

/* ---------------------------------------------------------- helpers */

/* An origin and an lbmaster with one worker in front of it. */
struct scene {
	pid_t	      origin;
	unsigned      fruit; /* the origin's port */
	pid_t	      worker;
	struct itc_lb lb;
};

static void
scene_start(struct scene *s, const char *extra)
{
	s->origin = itc_origin("fruit", &s->fruit, NULL);
	itc_fruit_start(&s->lb, 1, extra, lbt_fmt("127.0.0.1:%u", s->fruit));
	s->worker = itc_worker_of(s->lb.pid);
}

/* The worker did not die on the way; stop everything. */
static void
scene_stop(struct scene *s)
{
	ck_assert_msg(itc_worker_of(s->lb.pid) == s->worker,
	    "worker %d was "
	    "replaced: it died; log: %s",
	    (int)s->worker, lbt_log_tail(s->lb.pid, 2000));
	itc_lb_stop(&s->lb);
	ck_assert_int_eq(lbt_stop(s->origin), 0);
}

/* A GET /v1 on a connection of its own must get the origin's answer. */
static void
expect_served(const struct scene *s, const char *when)
{
	struct lbt_resp r;

	ck_assert_msg(itc_get(s->lb.port, "www.fruit.com", "/v1", NULL, &r) ==
		0,
	    "GET /v1 %s: %s", when, lbt_err_str(r.err));
	ck_assert_msg(r.status == 200 && strcmp(r.body, "This is V1") == 0,
	    "GET /v1 %s: status %d, body %s", when, r.status, r.body);
	lbt_resp_free(&r);
}

/*
 * Wait up to MS for C's peer to close, with nothing but a 408 before it
 * (a response to a request that never completed would be a bug). Returns
 * the time it closed, or -1.
 */
static long long
closed_at(struct lbt_conn *c, int ms)
{
	struct pollfd pfd = { lbt_conn_fd(c), POLLIN, 0 };
	char	      buf[512];
	ssize_t	      n;

	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	n = recv(lbt_conn_fd(c), buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n > 0) {
		buf[n] = '\0';
		ck_assert_msg(strncmp(buf, "HTTP/1.1 408 ", 13) == 0,
		    "a client whose request never ended got: %s", buf);
		return lbt_conn_wait_closed(c, 1000) ? lbt_now_ms() : -1;
	}
	if (n == -1 && errno == EAGAIN)
		return -1;
	return lbt_now_ms(); /* EOF or RST */
}

/*
 * Send TRICKLE one byte every TRICKLE_MS on C (after HEAD, sent at once),
 * and between two bytes have another client served. Returns how long
 * after the first trickled byte (or after HEAD, if not NULL) lbmaster
 * closed C; fails if it never does, or if another client is not served.
 * *SERVED counts the requests the other clients made.
 */
static long long
trickle_until_closed(const struct scene *s, const char *head,
    const char *trickle, int *served)
{
	struct lbt_conn *c;
	long long	 start, next, t;
	size_t		 i, n = strlen(trickle);

	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s->lb.port));
	if (head != NULL)
		ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	start = lbt_now_ms();
	*served = 0;
	for (i = 0; i < n; i++) {
		/* Once closed, send fails: the close is what we wait for. */
		(void)lbt_conn_send(c, trickle + i, 1);
		next = start + (long long)(i + 1) * TRICKLE_MS;
		expect_served(s,
		    lbt_fmt("while a client trickles (%zu bytes "
			    "sent)",
			i + 1));
		(*served)++;
		t = closed_at(c,
		    (int)(next > lbt_now_ms() ? next - lbt_now_ms() : 0));
		if (t != -1) {
			lbt_conn_close(c);
			return t - start;
		}
	}
	lbt_conn_close(c);
	ck_abort_msg("a client trickling %zu bytes over %lld ms was never "
		     "closed",
	    n, lbt_now_ms() - start);
	return -1;
}

/* ------------------------------------------------------- slow clients */

/*
 * SPEC: timeouts.client bounds the whole time to receive a request's
 * head, not the gap between two bytes. This client sends a byte every
 * 300 ms, well within any gap limit, and never finishes its head.
 */
START_TEST(test_slowloris_head_is_closed_at_client_timeout_others_served)
{
	static const char head[] =
	    "GET /slow HTTP/1.1\r\nHost: www.fruit.com"
	    "\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	struct scene s;
	long long    took;
	int	     served;

	scene_start(&s, lbt_fmt("timeouts: {client: %dms}\n", CLIENT_TO_MS));
	took = trickle_until_closed(&s, NULL, head, &served);
	ck_assert_msg(took >= CLIENT_TO_MS - 100 && took <= CLOSED_BY_MS,
	    "a client trickling its head was closed after %lld ms, with "
	    "timeouts.client %d ms",
	    took, CLIENT_TO_MS);
	ck_assert_int_ge(served, 3);
	/* Only the other clients' requests reached the origin. */
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), served);
	expect_served(&s, "after the slow client");
	scene_stop(&s);
}
END_TEST

/*
 * A body is bounded by the gap between two reads, not its whole time
 * (SPEC section 4, amended: an upload may take as long as it keeps
 * moving). A body that stops coming is closed timeouts.client after its
 * last byte, while other clients are served, and never completes at the
 * origin.
 */
START_TEST(test_stalled_body_is_closed_at_client_timeout_others_served)
{
	static const char
			 head[] = "POST /upload HTTP/1.1\r\n"
				  "Host: www.fruit.com\r\nContent-Length: 64\r\n"
				  "\r\n0123456789";
	struct scene	 s;
	struct lbt_conn *c;
	long long	 start, t = -1;
	int		 served = 0;

	scene_start(&s, lbt_fmt("timeouts: {client: %dms}\n", CLIENT_TO_MS));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	start = lbt_now_ms();
	while (t == -1 && lbt_now_ms() - start < CLOSED_BY_MS) {
		expect_served(&s, "while a body is stalled");
		served++;
		t = closed_at(c, TRICKLE_MS);
	}
	lbt_conn_close(c);
	ck_assert_msg(t != -1, "a stalled body was never closed");
	ck_assert_msg(t - start >= CLIENT_TO_MS - 100 &&
		t - start <= CLOSED_BY_MS,
	    "a stalled body was closed after %lld ms, with timeouts.client "
	    "%d ms",
	    t - start, CLIENT_TO_MS);
	ck_assert_int_ge(served, 3);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), served);
	expect_served(&s, "after the stalled client");
	scene_stop(&s);
}
END_TEST

/*
 * The head deadline runs only while a head is coming: a keep-alive
 * client idle for longer than timeouts.client between two requests is
 * not closed (timeouts.keepalive is for that), and a head that takes
 * several slow pieces but ends in time is served.
 */
START_TEST(test_client_timeout_spares_idle_clients_and_slow_timely_heads)
{
	static const char req[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "\r\n";
	struct timespec	  pause = { 0, 250 * 1000000L };
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	struct scene	  s;
	long long	  idle_until;
	size_t		  i, piece = (sizeof(req) - 1) / 3 + 1;

	scene_start(&s, lbt_fmt("timeouts: {client: %dms}\n", CLIENT_TO_MS));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	/* Idle for 1.5 x timeouts.client: the pause is the stimulus. */
	idle_until = lbt_now_ms() + CLIENT_TO_MS * 3 / 2;
	ck_assert_msg(closed_at(c, (int)(idle_until - lbt_now_ms())) == -1,
	    "an idle keep-alive client was closed at timeouts.client");
	/* Three pieces 250 ms apart: 500 ms for the whole head. */
	for (i = 0; i < sizeof(req) - 1; i += piece) {
		if (i > 0)
			nanosleep(&pause, NULL);
		ck_assert_int_eq(lbt_conn_send(c, req + i,
				     sizeof(req) - 1 - i < piece ?
					 sizeof(req) - 1 - i :
					 piece),
		    0);
	}
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "the slow head: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 2);
	scene_stop(&s);
}
END_TEST

/* ------------------------------------------------------------ limits */

/* REQ on a connection of its own gets STATUS and then the close. */
static void
expect_refused(const struct scene *s, const char *what, const void *req,
    size_t len, int status)
{
	struct lbt_conn *c;
	struct lbt_resp	 r;

	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s->lb.port));
	lbt_conn_set_timeout(c, 3000);
	/* lbmaster may answer and close before it has read all of REQ. */
	(void)lbt_conn_send(c, req, len);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0,
	    "%s: no answer (%s); "
	    "got: %.200s",
	    what, lbt_err_str(r.err), r.raw ? r.raw : "");
	ck_assert_msg(r.status == status,
	    "%s: status %d, expected %d; got: "
	    "%.300s",
	    what, r.status, status, r.raw);
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_wait_closed(c, 2000),
	    "%s: the connection "
	    "stayed open after %d",
	    what, status);
	lbt_conn_close(c);
}

/* A head of LEN bytes in all: GET / with an X-Pad header to fill it. */
static const char *
head_of(size_t len)
{
	static const char pre[] = "GET /pad HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "Connection: close\r\nX-Pad: ";
	size_t		  pad = len - (sizeof(pre) - 1) - 4;
	char		 *p;

	p = lbt_fmt("%s%*s\r\n\r\n", pre, (int)pad, "");
	memset(p + sizeof(pre) - 1, 'p', pad);
	return p;
}

START_TEST(test_head_over_max_header_size_is_431_and_not_forwarded)
{
	struct lbt_resp r;
	const char     *ok, *big;
	struct scene	s;

	scene_start(&s, "limits: {max_header_size: 1k}\n");
	/* Just under the limit: served. */
	ok = head_of(1000);
	ck_assert_int_eq(lbt_http(NULL, s.lb.port, ok, strlen(ok), &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	big = head_of(2048);
	expect_refused(&s, "a 2 KiB head", big, strlen(big), 431);
	/* The same bytes in the request line: the head is what counts. */
	big = lbt_fmt("GET /%0*d HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n", 2000,
	    0);
	expect_refused(&s, "a 2 KiB request line", big, strlen(big), 431);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 1);
	expect_served(&s, "after the large heads");
	scene_stop(&s);
}
END_TEST

/* POST a body of LEN bytes ('b'), with Content-Length or chunked. */
static const char *
post_of(size_t len, bool chunked)
{
	char *body = lbt_fmt("%*s", (int)len, "");

	memset(body, 'b', len);
	if (chunked)
		return lbt_fmt(
		    "POST /upload HTTP/1.1\r\n"
		    "Host: www.fruit.com\r\nTransfer-Encoding: chunked\r\n"
		    "Connection: close\r\n\r\n%zx\r\n%s\r\n%zx\r\n%s\r\n0\r\n"
		    "\r\n",
		    len / 2, body + len - len / 2, len - len / 2,
		    body + len / 2);
	return lbt_fmt("POST /upload HTTP/1.1\r\nHost: www.fruit.com\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    len, body);
}

START_TEST(test_body_over_max_body_size_is_413_and_not_forwarded)
{
	static const char
			gib[] = "POST /upload HTTP/1.1\r\n"
				"Host: www.fruit.com\r\nContent-Length: 1073741824\r\n\r\n";
	struct lbt_resp r;
	const char     *ok;
	struct scene	s;
	unsigned	i;

	scene_start(&s, "limits: {max_body_size: 1k}\n");
	for (i = 0; i < 2; i++) {
		/* The limit itself: served, whole. */
		ok = post_of(1024, i == 1);
		ck_assert_int_eq(lbt_http(NULL, s.lb.port, ok, strlen(ok), &r),
		    0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_int_eq(lbt_json_int(r.body, "body_length"), 1024);
		lbt_resp_free(&r);
	}
	expect_refused(&s, "a 1025-byte body", post_of(1025, false),
	    strlen(post_of(1025, false)), 413);
	expect_refused(&s, "a 1025-byte chunked body", post_of(1025, true),
	    strlen(post_of(1025, true)), 413);
	/* Announced, not sent: refused from the head alone. */
	expect_refused(&s, "Content-Length 1 GiB", gib, strlen(gib), 413);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 2);
	expect_served(&s, "after the large bodies");
	scene_stop(&s);
}
END_TEST

/*
 * The client keeps sending a body far over the limit while lbmaster
 * answers: the 413 must still reach it (a close with unread bytes
 * would be a reset that can destroy the answer in the client's buffer).
 */
START_TEST(test_large_body_over_max_body_size_still_gets_its_413)
{
	struct scene s;
	const char  *req;

	scene_start(&s, "limits: {max_body_size: 1k}\n");
	req = post_of(4 * 1024 * 1024, false);
	expect_refused(&s, "a 4 MiB body", req, strlen(req), 413);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 0);
	expect_served(&s, "after the large body");
	scene_stop(&s);
}
END_TEST

/*
 * limits.max_connections per worker: five idle connections hold all
 * five places; a sixth is left in the accept queue, unanswered, until
 * one of them closes.
 */
START_TEST(test_max_connections_holds_the_next_client_until_one_closes)
{
	static const char req[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "\r\n";
	struct lbt_conn	 *c[5], *sixth;
	struct lbt_resp	  r;
	struct scene	  s;
	int		  i;

	scene_start(&s, "limits: {max_connections: 5}\n");
	/* An answer on each: all five are accepted, and now idle. */
	for (i = 0; i < 5; i++) {
		ck_assert_ptr_nonnull(c[i] = lbt_conn_open(NULL, s.lb.port));
		ck_assert_msg(lbt_conn_request(c[i], req, strlen(req), &r) == 0,
		    "connection %d: %s", i, lbt_err_str(r.err));
		ck_assert_int_eq(r.status, 200);
		lbt_resp_free(&r);
	}
	/* The kernel completes the handshake; lbmaster does not accept. */
	ck_assert_ptr_nonnull(sixth = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_send(sixth, req, strlen(req)), 0);
	lbt_conn_set_timeout(sixth, 1000);
	ck_assert_msg(lbt_conn_response(sixth, 0, &r) == -1 &&
		r.err == LBT_ETIMEOUT,
	    "a sixth connection got: %s, status %d", lbt_err_str(r.err),
	    r.status);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 5);

	lbt_conn_close(c[0]);
	lbt_conn_set_timeout(sixth, 5000);
	ck_assert_msg(lbt_conn_response(sixth, 0, &r) == 0,
	    "the sixth "
	    "connection after one closed: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 6);
	/* The others were kept, and still work. */
	for (i = 1; i < 5; i++) {
		ck_assert_msg(lbt_conn_request(c[i], req, strlen(req), &r) == 0,
		    "connection %d afterwards: %s", i, lbt_err_str(r.err));
		ck_assert_int_eq(r.status, 200);
		lbt_resp_free(&r);
		lbt_conn_close(c[i]);
	}
	lbt_conn_close(sixth);
	scene_stop(&s);
}
END_TEST

/* --------------------------------------------------- malformed input */

struct bad_case {
	const char *name;
	const char *bytes;
	size_t	    len;
	int	    status;
};

/* Bytes with NULs in them: the length is the array's. */
#define BYTES(s) s, sizeof(s) - 1

/*
 * Each is refused with its status, the connection closed, and nothing
 * reaches the origin. The "smuggled" requests inside some of them are
 * what one reading of the framing would forward on its own.
 */
static const struct bad_case bad_cases[] = {
	{ "Content-Length and Transfer-Encoding",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\nContent-Length: 52\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
		"GET /smuggled HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"),
	    400 },
	{ "Transfer-Encoding and Content-Length",
	    BYTES("POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		  "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
		  "2f\r\nGET /smuggled HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"
		  "\r\n0\r\n\r\n"),
	    400 },
	{ "two different Content-Lengths",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\nContent-Length: 5\r\n"
		"Content-Length: 52\r\n\r\nhello"
		"GET /smuggled HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"),
	    400 },
	{ "a Content-Length list of two values",
	    BYTES("POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		  "Content-Length: 5, 52\r\n\r\nhello"
		  "GET /smuggled HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"),
	    400 },
	{ "Content-Length with a sign",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\nContent-Length: +5\r\n"
		"\r\nhello"),
	    400 },
	{ "a negative Content-Length",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\nContent-Length: -1\r\n"
		"\r\n"),
	    400 },
	{ "an overflowing Content-Length",
	    BYTES("POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		  "Content-Length: 18446744073709551621\r\n\r\nhello"),
	    400 },
	{ "Transfer-Encoding: gzip",
	    BYTES("POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		  "Transfer-Encoding: gzip\r\n\r\nhello"),
	    400 },
	{ "Transfer-Encoding: gzip, chunked",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
	    400 },
	{ "Transfer-Encoding: chunked twice",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n0\r\n\r\n"),
	    400 },
	{ "Transfer-Encoding in HTTP/1.0",
	    BYTES("POST /a HTTP/1.0\r\nHost: www.fruit.com\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
	    400 },
	{ "obsolete line folding",
	    BYTES(
		"GET /a HTTP/1.1\r\nHost: www.fruit.com\r\nX-Folded: a\r\n b\r\n"
		"\r\n"),
	    400 },
	{ "a folded Transfer-Encoding",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\nContent-Length: 5\r\n"
		"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
	    400 },
	{ "bare LF line endings",
	    BYTES("GET /a HTTP/1.1\nHost: www.fruit.com\n\n"), 400 },
	{ "a bare LF ending the head",
	    BYTES("GET /a HTTP/1.1\r\nHost: www.fruit.com\r\n\n"), 400 },
	{ "a bare CR", BYTES("GET /a HTTP/1.1\rHost: www.fruit.com\r\n\r\n"),
	    400 },
	{ "chunk size 0x5",
	    BYTES(
		"POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
	    400 },
	{ "chunk size +5",
	    BYTES("POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"),
	    400 },
	{ "chunk size \" 5\"",
	    BYTES("POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n"),
	    400 },
	{ "chunk data longer than its size",
	    BYTES("POST /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"),
	    400 },
	{ "a garbage request line", BYTES("\x01\x02garbage\xff\xfe\r\n\r\n"),
	    400 },
	{ "a request line without a version",
	    BYTES("GET /a\r\nHost: www.fruit.com\r\n\r\n"), 400 },
	{ "a request line with two spaces",
	    BYTES("GET  /a HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"), 400 },
	{ "a request line with a trailing space",
	    BYTES("GET /a HTTP/1.1 \r\nHost: www.fruit.com\r\n\r\n"), 400 },
	{ "the HTTP/2 preface", BYTES("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	    400 },
	{ "a NUL in a header value",
	    BYTES(
		"GET /a HTTP/1.1\r\nHost: www.fruit.com\r\nX-Nul: a\0b\r\n\r\n"),
	    400 },
	{ "a NUL in the request target",
	    BYTES("GET /a\0b HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"), 400 },
	{ "a control character in a header value",
	    BYTES("GET /a HTTP/1.1\r\nHost: www.fruit.com\r\nX-Ctl: a\x01z\r\n"
		  "\r\n"),
	    400 },
	{ "a header name with a space before the colon",
	    BYTES(
		"GET /a HTTP/1.1\r\nHost: www.fruit.com\r\nX-Name : v\r\n\r\n"),
	    400 },
	{ "an empty header name",
	    BYTES("GET /a HTTP/1.1\r\nHost: www.fruit.com\r\n: v\r\n\r\n"),
	    400 },
	{ "a header line without a colon",
	    BYTES("GET /a HTTP/1.1\r\nHost: www.fruit.com\r\nX-Name v\r\n\r\n"),
	    400 },
	{ "two Host headers",
	    BYTES(
		"GET /a HTTP/1.1\r\nHost: www.fruit.com\r\nHost: evil.example\r\n"
		"\r\n"),
	    400 },
	/* A TLS 1.2 ClientHello record, as a client sent to http:// would. */
	{ "a TLS ClientHello",
	    BYTES(
		"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03"
		"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
		"\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20"
		"\x00\x00\x02\x00\x2f\x01\x00"),
	    400 },
};

START_TEST(test_malformed_or_ambiguous_request_is_refused_and_not_forwarded)
{
	const struct bad_case *bc = &bad_cases[_i];
	struct scene	       s;

	scene_start(&s, "");
	expect_refused(&s, bc->name, bc->bytes, bc->len, bc->status);
	/* lbmaster still serves; the origin saw that request only. */
	expect_served(&s, lbt_fmt("after %s", bc->name));
	ck_assert_msg(lbt_origin_stat(s.fruit, "requests") == 1,
	    "%s: the "
	    "origin saw %lld requests",
	    bc->name, lbt_origin_stat(s.fruit, "requests"));
	scene_stop(&s);
}
END_TEST

/*
 * A valid request and a malformed one in the same packet: the valid one
 * is answered whole first (as nginx does), then the malformed one gets
 * its 400 and the connection is closed; only the valid one reaches the
 * origin.
 */
START_TEST(test_malformed_request_pipelined_behind_a_valid_one_in_one_packet)
{
	static const char two[] =
	    "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n"
	    "\r\nGET /a HTTP/1.1\r\nHost: www.fruit.com\r\nX-Name : v\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	struct scene	 s;

	scene_start(&s, "");
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	lbt_conn_set_timeout(c, 3000);
	ck_assert_int_eq(lbt_conn_send(c, two, strlen(two)), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "the valid one: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "the malformed one: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 400);
	lbt_resp_free(&r);
	ck_assert(lbt_conn_wait_closed(c, 2000));
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 1);
	expect_served(&s, "afterwards");
	scene_stop(&s);
}
END_TEST

/*
 * The malformed request comes while the valid one is with the origin:
 * the valid one gets its whole answer, then the connection is refused
 * with a 400 and closed; the malformed one never reaches the origin.
 */
START_TEST(test_malformed_request_pipelined_behind_one_in_flight)
{
	static const char
			  first[] = "GET /v1 HTTP/1.1\r\n"
				    "Host: www.fruit.com\r\nX-Test-Delay: 300\r\n\r\n";
	static const char bad[] = "GET /a HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "X-Name : v\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	struct scene	  s;

	scene_start(&s, "");
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	lbt_conn_set_timeout(c, 3000);
	ck_assert_int_eq(lbt_conn_send(c, first, strlen(first)), 0);
	/* The first is with the origin once the origin counted it. */
	ck_assert(itc_wait_stat(s.fruit, "requests", 1, 3000));
	ck_assert_int_eq(lbt_conn_send(c, bad, strlen(bad)), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "the first: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0,
	    "the malformed one: "
	    "%s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 400);
	lbt_resp_free(&r);
	ck_assert(lbt_conn_wait_closed(c, 2000));
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 1);
	expect_served(&s, "afterwards");
	scene_stop(&s);
}
END_TEST

/* ------------------------------------------------------- closing */

/*
 * A client that is done (its request whole, nothing more sent) is
 * closed as soon as its "Connection: close" answer is written: no
 * lingering wait for its EOF. (Lingering, for a client that may still be
 * sending, is what test_large_body_over_max_body_size_still_gets_its_413
 * goes through; on loopback an answer is delivered before any reset
 * could destroy it, so no test here can tell lingering from not.)
 */
START_TEST(test_a_closing_answer_to_a_client_that_is_done_closes_at_once)
{
	static const char req[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "Connection: close\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	struct scene	  s;
	long long	  t0;

	scene_start(&s, "");
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_request(c, req, sizeof(req) - 1, &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	t0 = lbt_now_ms();
	ck_assert(lbt_conn_wait_closed(c, 3000));
	ck_assert_msg(lbt_now_ms() - t0 < 1000, "closed after %lld ms",
	    lbt_now_ms() - t0);
	lbt_conn_close(c);
	scene_stop(&s);
}
END_TEST

/* --------------------------------------------------- clients leaving */

/*
 * Clients that send a valid request and leave before the answer (some
 * with a FIN, some with a reset), while others are being served: the
 * others get their answers, and the worker serves on once the origin's
 * late answers have come back to nobody.
 */
START_TEST(test_clients_leaving_before_the_answer_do_not_disturb_others)
{
	static const char slow[] = "GET /slow HTTP/1.1\r\nHost: www.fruit.com"
				   "\r\nX-Test-Delay: 200\r\n\r\n";
	static const char
			 late[] = "GET /v2 HTTP/1.1\r\nHost: www.fruit.com"
				  "\r\nX-Test-Delay: 400\r\nConnection: close\r\n\r\n";
	struct linger	 lg = { 1, 0 };
	struct lbt_conn *c, *witness;
	struct lbt_resp	 r;
	struct scene	 s;
	int		 i;

	scene_start(&s, "");
	for (i = 0; i < 10; i++) {
		ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
		ck_assert_int_eq(lbt_conn_send(c, slow, strlen(slow)), 0);
		if (i % 2 == 1)
			setsockopt(lbt_conn_fd(c), SOL_SOCKET, SO_LINGER, &lg,
			    sizeof(lg));
		lbt_conn_close(c);
		expect_served(&s, lbt_fmt("after %d clients left", i + 1));
	}
	/*
	 * Sent after the last of them, answered after theirs: when this
	 * answer is in, every late answer has met a gone client.
	 */
	ck_assert_ptr_nonnull(witness = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_request(witness, late, strlen(late), &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V2");
	lbt_resp_free(&r);
	lbt_conn_close(witness);
	expect_served(&s, "after the late answers");
	/*
	 * The others' 10 + 2 requests, and those of the leaving clients that
	 * were forwarded before lbmaster saw them go (valid ones, all).
	 */
	ck_assert_int_ge(lbt_origin_stat(s.fruit, "requests"), 12);
	ck_assert_int_le(lbt_origin_stat(s.fruit, "requests"), 22);
	scene_stop(&s);
}
END_TEST

static Suite *
hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc;

	tc = lbt_tcase("slow");
	tcase_add_test(tc,
	    test_slowloris_head_is_closed_at_client_timeout_others_served);
	tcase_add_test(tc,
	    test_stalled_body_is_closed_at_client_timeout_others_served);
	tcase_add_test(tc,
	    test_client_timeout_spares_idle_clients_and_slow_timely_heads);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("limits");
	tcase_add_test(tc,
	    test_head_over_max_header_size_is_431_and_not_forwarded);
	tcase_add_test(tc,
	    test_body_over_max_body_size_is_413_and_not_forwarded);
	tcase_add_test(tc,
	    test_large_body_over_max_body_size_still_gets_its_413);
	tcase_add_test(tc,
	    test_max_connections_holds_the_next_client_until_one_closes);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("malformed");
	tcase_add_loop_test(tc,
	    test_malformed_or_ambiguous_request_is_refused_and_not_forwarded, 0,
	    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc,
	    test_malformed_request_pipelined_behind_a_valid_one_in_one_packet);
	tcase_add_test(tc,
	    test_a_closing_answer_to_a_client_that_is_done_closes_at_once);
	tcase_add_test(tc,
	    test_malformed_request_pipelined_behind_one_in_flight);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("leaving");
	tcase_add_test(tc,
	    test_clients_leaving_before_the_answer_do_not_disturb_others);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hostile_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

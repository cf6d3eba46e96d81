/*
 * tests/it_upload.c -- SPEC section 4 step 6 as amended: request bodies
 * stream to the origin as they arrive, Content-Length or chunked, with
 * the worker's memory bounded whatever their size; limits.max_body_size
 * is policy (0: no limit), refused from the head when it can be and cut
 * when a chunked body grows past it; Expect: 100-continue is answered
 * only once the request is routed and about to be forwarded; and
 * timeouts.client bounds the gap between two reads of a body, not its
 * whole time.
 *
 * The origin runs with --raw where a test looks at a body on its way
 * (see tests/origin.c): it reads the body as it arrives, keeps only its
 * length and CRC-32, and counts in /__stats the body bytes received so
 * far ("body_bytes") and the bodies that were cut ("bodies_cut");
 * "requests" counts only requests whose body came whole.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

#define MIB	   (1024 * 1024)
#define GIB	   (1024ULL * MIB)
#define GROWTH_KIB (64 * 1024) /* the worker's VmRSS may grow this much */
#define SAMPLE_MS  100	       /* how often VmRSS is read */
#define SEND_MS	   20000       /* bound for one send of an upload */
/*
 * A piece of the body the client sends: a whole number of periods of the
 * origin's pattern (see tests/origin.c), so that every piece that starts
 * at a multiple of the period holds the same bytes, and one buffer
 * serves them all.
 */
#define PATTERN_PERIOD 676
#define PIECE	       (PATTERN_PERIOD * 97)
/* lbt_pattern_crc32(GIB), as tests/it_stream.c has it. */
#define GIB_PATTERN_CRC 0x45d95c5bU

static const char *const raw[] = { "--raw", NULL };

/* ---------------------------------------------------------- helpers */

static const char *
crc_hex(uint32_t crc)
{
	return lbt_fmt("%08x", crc);
}

/*
 * Send bytes FROM to TO of the pattern on C (FROM a multiple of its
 * period), as they are or as chunks of PIECE bytes (and a last shorter one), without
 * the last-chunk (send_last_chunk). Returns the offset reached: TO, or
 * less when lbmaster stopped taking them (errno says why).
 */
static uint64_t
send_pattern(struct lbt_conn *c, uint64_t from, uint64_t to, bool chunked)
{
	static char   piece[PIECE], chunk[PIECE + 32];
	static size_t chunk_len;
	const char   *line;
	size_t	      n;

	ck_assert_uint_eq(from % PATTERN_PERIOD, 0);
	if (chunk_len == 0) {
		lbt_pattern_fill(piece, 0, PIECE);
		n = (size_t)snprintf(chunk, sizeof(chunk), "%x\r\n", PIECE);
		memcpy(chunk + n, piece, PIECE);
		memcpy(chunk + n + PIECE, "\r\n", 2);
		chunk_len = n + PIECE + 2;
	}
	while (from < to) {
		n = to - from < PIECE ? (size_t)(to - from) : PIECE;
		if (!chunked || n < PIECE) {
			if (chunked) {
				line = lbt_fmt("%zx\r\n", n);
				if (lbt_conn_send(c, line, strlen(line)) == -1)
					return from;
			}
			if (lbt_conn_send(c, piece, n) == -1 ||
			    (chunked && lbt_conn_send(c, "\r\n", 2) == -1))
				return from;
		} else if (lbt_conn_send(c, chunk, chunk_len) == -1)
			return from;
		from += n;
	}
	return from;
}

static int
send_last_chunk(struct lbt_conn *c)
{
	return lbt_conn_send(c, "0\r\n\r\n", 5);
}

/* The head of a POST of LEN bytes (Content-Length, or chunked). */
static const char *
upload_head(const char *target, uint64_t len, bool chunked)
{
	return lbt_fmt("POST %s HTTP/1.1\r\nHost: www.fruit.com\r\n"
		       "Content-Type: application/octet-stream\r\n%s\r\n\r\n",
	    target,
	    chunked ? "Transfer-Encoding: chunked" :
		      lbt_fmt("Content-Length: %llu", (unsigned long long)len));
}

/* Assert that R is the origin's 200 for a body of LEN bytes, CRC-32 CRC. */
static void
assert_body_arrived(const struct lbt_resp *r, uint64_t len, uint32_t crc)
{
	ck_assert_msg(r->status == 200, "status %d, body %.300s", r->status,
	    r->body);
	ck_assert_msg(lbt_json_int(r->body, "body_length") == (long long)len,
	    "the origin got %lld body bytes of %llu",
	    lbt_json_int(r->body, "body_length"), (unsigned long long)len);
	ck_assert_str_eq(lbt_json_str(r->body, "body_crc32"), crc_hex(crc));
}

struct stat_at_least {
	unsigned    port;
	const char *field;
	long long   value;
};

static bool
stat_reaches(void *arg)
{
	struct stat_at_least *w = arg;

	return lbt_origin_stat(w->port, w->field) >= w->value;
}

/* Wait up to TIMEOUT_MS for the origin's /__stats FIELD to reach VALUE. */
static bool
wait_stat_at_least(unsigned port, const char *field, long long value,
    int timeout_ms)
{
	struct stat_at_least w = { port, field, value };

	return lbt_wait_for(stat_reaches, &w, timeout_ms);
}

/* ------------------------------------------------- bounded memory */

/*
 * A client uploads 1 GiB through the one worker: it must reach the origin
 * whole, while the worker's VmRSS, read every SAMPLE_MS, stays within
 * GROWTH_KIB of what it was idle. A worker that held the body before
 * forwarding it would pass the bound within a fraction of a second.
 * The limit is 2g so that max_body_size plays no part.
 */
static void
gib_upload(bool chunked)
{
	struct itc_sampler s;
	struct lbt_conn	  *c;
	struct lbt_resp	   r;
	const char	  *head;
	unsigned	   fruit;
	long		   idle;
	uint64_t	   sent = 0;
	pid_t		   o, w;
	int		   rc, err;
	struct itc_lb	   lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "limits: {max_body_size: 2g}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	w = itc_worker_of(lb.pid);
	ck_assert_int_gt(idle = itc_rss_kib(w), 0);
	head = upload_head("/gib", GIB, chunked);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	/* Per send, then for the answer once the last byte is out. */
	lbt_conn_set_timeout(c, SEND_MS);

	itc_sampler_start(&s, w, SAMPLE_MS);
	if (lbt_conn_send(c, head, strlen(head)) == 0 &&
	    (sent = send_pattern(c, 0, GIB, chunked)) == GIB &&
	    (!chunked || send_last_chunk(c) == 0))
		err = 0;
	else
		err = errno;
	rc = lbt_conn_response(c, 0, &r);
	itc_sampler_stop(&s);

	ck_assert_msg(err == 0,
	    "lbmaster stopped taking the upload after %llu bytes (%s); "
	    "then: %s, status %d, %.300s",
	    (unsigned long long)sent, strerror(err), lbt_err_str(r.err),
	    r.status, r.raw);
	ck_assert_msg(rc == 0, "no answer to the 1 GiB upload: %s; origin: %s",
	    lbt_err_str(r.err), lbt_log_tail(o, 500));
	assert_body_arrived(&r, GIB, GIB_PATTERN_CRC);
	ck_assert_msg(s.samples > 0, "VmRSS of worker %d could not be read",
	    (int)w);
	ck_assert_msg(s.max_kib - idle < GROWTH_KIB,
	    "the worker's VmRSS went from %ld KiB idle to %ld KiB while "
	    "passing on a 1 GiB upload (%u samples)",
	    idle, s.max_kib, s.samples);
	lbt_resp_free(&r);
	lbt_conn_close(c);
	/* The same worker all along: it did not crash and get replaced. */
	ck_assert_int_eq(itc_worker_of(lb.pid), w);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_1gib_upload_with_length_arrives_whole_in_bounded_memory)
{
	gib_upload(false);
}
END_TEST

START_TEST(test_1gib_chunked_upload_arrives_whole_in_bounded_memory)
{
	gib_upload(true);
}
END_TEST

/* ------------------------------------------------------ streaming */

/*
 * The client sends the head and the first FIRST bytes of a LEN-byte body
 * and holds the rest back until the origin reports body bytes received:
 * a proxy that waited for the whole body would never forward any, and
 * the wait would run out. Then the rest, and the body must be whole.
 */
static void
first_bytes_before_the_last(bool chunked)
{
	enum {
		FIRST = PIECE * 32, /* 2 MiB: more than any buffer holds */
		LEN = 4 * MIB + 13
	};
	struct lbt_conn *c;
	struct lbt_resp	 r;
	const char	*head;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	head = upload_head("/early", LEN, chunked);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	ck_assert_int_eq(send_pattern(c, 0, FIRST, chunked), FIRST);
	ck_assert_msg(wait_stat_at_least(fruit, "body_bytes", 1, LBT_IO_MS),
	    "the origin had no byte of the body %d s after the client "
	    "sent the first %d (and held back the rest)",
	    LBT_IO_MS / 1000, FIRST);
	ck_assert_int_eq(send_pattern(c, FIRST, LEN, chunked), LEN);
	if (chunked)
		ck_assert_int_eq(send_last_chunk(c), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "no answer: %s",
	    lbt_err_str(r.err));
	assert_body_arrived(&r, LEN, lbt_pattern_crc32(LEN));
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_origin_gets_the_first_bytes_before_the_client_sends_the_last)
{
	first_bytes_before_the_last(false);
}
END_TEST

START_TEST(test_origin_gets_the_first_chunks_before_the_client_sends_the_last)
{
	first_bytes_before_the_last(true);
}
END_TEST

/* ---------------------------------------------------------- limits */

/*
 * A Content-Length over the limit is refused from the head alone: the
 * client sends no byte of the body and still gets its 413.
 */
START_TEST(test_content_length_over_max_body_size_is_413_before_any_body_byte)
{
	static const char
	    head[] = "POST /upload HTTP/1.1\r\nHost: www.fruit.com\r\n"
		     "Content-Length: 1025\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "limits: {max_body_size: 1k}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0,
	    "no answer to a head announcing 1025 bytes over a 1k limit: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 413);
	lbt_resp_free(&r);
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * A chunked body announces no length: it streams to the origin until it
 * passes the limit, and is cut there. The client gets a 413 (the origin
 * had not begun an answer, since it answers once a body is whole) and
 * lbmaster closes the connection, whose remaining body it will not read;
 * the origin sees the body begin and be cut, never a whole one.
 */
START_TEST(test_chunked_body_growing_past_max_body_size_is_cut_with_413)
{
	static const char
	    head[] = "POST /upload HTTP/1.1\r\nHost: www.fruit.com\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "limits: {max_body_size: 256k}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	lbt_conn_set_timeout(c, 5000);
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	/* 1 MiB in chunks, until lbmaster stops taking them. */
	(void)send_pattern(c, 0, MIB, true);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0,
	    "no answer to a chunked body past the limit: %s; got: %.300s",
	    lbt_err_str(r.err), r.raw);
	ck_assert_int_eq(r.status, 413);
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_wait_closed(c, LBT_IO_MS),
	    "the connection stayed open after the 413 in the middle of a "
	    "chunked body");
	lbt_conn_close(c);
	ck_assert_msg(wait_stat_at_least(fruit, "bodies_cut", 1, LBT_IO_MS),
	    "the origin never saw the body that passed the limit cut "
	    "(body bytes it got: %lld)",
	    lbt_origin_stat(fruit, "body_bytes"));
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* max_body_size: 0 is no limit: bodies over the default 16m pass. */
START_TEST(test_max_body_size_0_means_no_limit)
{
	const uint64_t	 len = 20 * MIB;
	struct lbt_conn *c;
	struct lbt_resp	 r;
	const char	*head;
	unsigned	 fruit;
	int		 chunked;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "limits: {max_body_size: 0}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	for (chunked = 0; chunked <= 1; chunked++) {
		head = upload_head("/big", len, chunked);
		ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
		ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
		ck_assert_msg(send_pattern(c, 0, len, chunked) == len &&
			(!chunked || send_last_chunk(c) == 0),
		    "lbmaster stopped taking a %s body of 20 MiB",
		    chunked ? "chunked" : "Content-Length");
		ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
		assert_body_arrived(&r, len, lbt_pattern_crc32(len));
		lbt_resp_free(&r);
		lbt_conn_close(c);
	}
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ------------------------------------------------ 100-continue */

/*
 * A routed request with Expect: 100-continue gets "100 Continue", then,
 * once it has sent its body, the origin's answer. The 100 is lbmaster's
 * own: Expect never reaches the origin.
 */
START_TEST(test_expect_100_continue_is_answered_when_routed_and_not_forwarded)
{
	static const char
			 head[] = "POST /e HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "Content-Length: 11\r\nExpect: 100-continue\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	ck_assert_msg(lbt_conn_response(c, LBT_KEEP_1XX, &r) == 0,
	    "no interim answer to Expect: %s", lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 100);
	ck_assert_int_eq(r.minor, 1);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_send(c, "hello world", 11), 0);
	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	assert_body_arrived(&r, 11, lbt_crc32(0, "hello world", 11));
	ck_assert_msg(lbt_json_raw(r.body, "headers.Expect") == NULL,
	    "the origin got Expect: %s",
	    lbt_json_raw(r.body, "headers.Expect"));
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * Send lbmaster on PORT only the head of a POST to HOST TARGET with
 * Expect: 100-continue and a 1 MiB Content-Length, and never the body.
 * The final STATUS must come, with no 100 before it. After it, either
 * lbmaster closes the connection (and says so: Connection: close), or
 * it goes on with the next request as if no body had been announced,
 * and a GET /v1 with the same Host on it gets NEXT_STATUS.
 */
static void
refused_before_100(unsigned port, const char *host, const char *target,
    int status, int next_status)
{
	const char	*head, *next, *conn;
	struct lbt_conn *c;
	struct lbt_resp	 r;
	bool		 closes;

	head =
	    lbt_fmt("POST %s HTTP/1.1\r\nHost: %s\r\n"
		    "Content-Length: 1048576\r\nExpect: 100-continue\r\n\r\n",
		target, host);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	lbt_conn_set_timeout(c, 5000);
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	ck_assert_msg(lbt_conn_response(c, LBT_KEEP_1XX, &r) == 0,
	    "POST %s (Host %s) with Expect and no body: %s; got: %.300s",
	    target, host, lbt_err_str(r.err), r.raw);
	ck_assert_msg(r.status == status,
	    "POST %s (Host %s) with Expect got %d first, expected %d and no "
	    "100 Continue",
	    target, host, r.status, status);
	conn = lbt_header(&r, "Connection");
	closes = conn != NULL && strcasecmp(conn, "close") == 0;
	lbt_resp_free(&r); /* CONN pointed into it */

	if (closes) {
		ck_assert_msg(lbt_conn_wait_closed(c, LBT_IO_MS),
		    "the connection stayed open after a %d with "
		    "Connection: close",
		    status);
	} else {
		next = lbt_fmt("GET /v1 HTTP/1.1\r\nHost: %s\r\n\r\n", host);
		ck_assert_msg(lbt_conn_request(c, next, strlen(next), &r) == 0,
		    "after a %d to Expect without Connection: close, the next "
		    "request on the connection got no answer: %s",
		    status, lbt_err_str(r.err));
		ck_assert_msg(r.status == next_status,
		    "after a %d to Expect, the next request on the "
		    "connection got %d, expected %d",
		    status, r.status, next_status);
		lbt_resp_free(&r);
	}
	lbt_conn_close(c);
}

START_TEST(test_expect_to_no_route_gets_404_and_no_100)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	refused_before_100(lb.port, "www.nowhere.com", "/upload", 404, 404);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_expect_refused_by_the_firewall_gets_403_and_no_100)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 1,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    firewall_rules: {path_reject: [/private]}\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	refused_before_100(lb.port, "www.fruit.com", "/private/upload", 403,
	    200);
	/* The GET /v1 after it, if the connection went on; no POST. */
	ck_assert_int_le(lbt_origin_stat(fruit, "requests"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_expect_with_a_length_over_the_limit_gets_413_and_no_100)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "limits: {max_body_size: 1k}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	refused_before_100(lb.port, "www.fruit.com", "/upload", 413, 200);
	ck_assert_int_le(lbt_origin_stat(fruit, "requests"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * The route's only server is a closed port (and no health checks to
 * know it beforehand): lbmaster learns it only when it tries to connect,
 * so it must not have promised the client a 100 before that.
 */
START_TEST(test_expect_with_no_server_to_take_it_gets_503_and_no_100)
{
	struct itc_lb lb;

	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", lbt_free_port()));
	refused_before_100(lb.port, "www.fruit.com", "/upload", 503, 503);
	itc_lb_stop(&lb);
}
END_TEST

/* --------------------------------------------------- client timeout */

/*
 * timeouts.client bounds the gap between two reads of a body, not its
 * whole time: six pieces 500 ms apart take 2.5 s, over twice the 1 s
 * timeout, and the body passes whole. (The pauses are the scenario.)
 */
START_TEST(test_body_trickled_within_timeouts_client_per_gap_passes)
{
	enum {
		PIECES = 6,
		PIECE_LEN = 1000,
		GAP_MS = 500
	};
	struct lbt_conn *c;
	struct lbt_resp	 r;
	char		 body[PIECES * PIECE_LEN];
	const char	*head;
	unsigned	 fruit;
	int		 i;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "timeouts: {client: 1s}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	lbt_pattern_fill(body, 0, sizeof(body));
	head = upload_head("/trickle", sizeof(body), false);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	for (i = 0; i < PIECES; i++) {
		if (i > 0)
			lbt_pause_ms(GAP_MS);
		ck_assert_msg(lbt_conn_send(c, body + i * PIECE_LEN,
				  PIECE_LEN) == 0,
		    "lbmaster stopped taking the body after %d pieces %d ms "
		    "apart: %s",
		    i, GAP_MS, strerror(errno));
	}
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0,
	    "no answer to a body sent in %d pieces %d ms apart: %s; got: "
	    "%.300s",
	    PIECES, GAP_MS, lbt_err_str(r.err), r.raw);
	assert_body_arrived(&r, sizeof(body), lbt_pattern_crc32(sizeof(body)));
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * A body that stops coming for longer than timeouts.client is cut: the
 * client's connection is closed (after an error status, if any: never a
 * success), and the origin, which had the first half, sees its body end
 * short, never whole.
 */
START_TEST(test_body_stalled_longer_than_timeouts_client_is_cut)
{
	struct lbt_conn *c;
	struct lbt_resp	 r;
	char		 half[1000];
	const char	*head;
	unsigned	 fruit;
	int		 rc;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, raw);
	itc_fruit_start(&lb, 1, "timeouts: {client: 1s}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	lbt_pattern_fill(half, 0, sizeof(half));
	head = upload_head("/stall", 2 * sizeof(half), false);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	ck_assert_int_eq(lbt_conn_send(c, half, sizeof(half)), 0);
	/* Then nothing: lbmaster must act by itself. */
	rc = lbt_conn_response(c, 0, &r);
	ck_assert_msg(rc == 0 || r.err == LBT_EEOF || r.err == LBT_ERESET,
	    "a client whose body stalled was not answered or closed: %s",
	    lbt_err_str(r.err));
	ck_assert_msg(rc == -1 || r.status >= 400,
	    "a client whose body stalled got %d", r.status);
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_wait_closed(c, LBT_IO_MS),
	    "the connection of a client whose body stalled stayed open");
	lbt_conn_close(c);
	ck_assert_msg(wait_stat_at_least(fruit, "bodies_cut", 1, LBT_IO_MS),
	    "the origin never saw the stalled body cut (body bytes it got: "
	    "%lld)",
	    lbt_origin_stat(fruit, "body_bytes"));
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

static Suite *
upload_suite(void)
{
	Suite *s = suite_create("upload");
	TCase *tc;

	tc = lbt_tcase("memory");
	/* 1 GiB each: far more than CK_DEFAULT_TIMEOUT on a slow machine. */
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc,
	    test_1gib_upload_with_length_arrives_whole_in_bounded_memory);
	tcase_add_test(tc,
	    test_1gib_chunked_upload_arrives_whole_in_bounded_memory);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("streaming");
	tcase_add_test(tc,
	    test_origin_gets_the_first_bytes_before_the_client_sends_the_last);
	tcase_add_test(tc,
	    test_origin_gets_the_first_chunks_before_the_client_sends_the_last);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("limits");
	tcase_add_test(tc,
	    test_content_length_over_max_body_size_is_413_before_any_body_byte);
	tcase_add_test(tc,
	    test_chunked_body_growing_past_max_body_size_is_cut_with_413);
	tcase_add_test(tc, test_max_body_size_0_means_no_limit);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("expect");
	tcase_add_test(tc,
	    test_expect_100_continue_is_answered_when_routed_and_not_forwarded);
	tcase_add_test(tc, test_expect_to_no_route_gets_404_and_no_100);
	tcase_add_test(tc,
	    test_expect_refused_by_the_firewall_gets_403_and_no_100);
	tcase_add_test(tc,
	    test_expect_with_a_length_over_the_limit_gets_413_and_no_100);
	tcase_add_test(tc,
	    test_expect_with_no_server_to_take_it_gets_503_and_no_100);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("client_timeout");
	tcase_add_test(tc,
	    test_body_trickled_within_timeouts_client_per_gap_passes);
	tcase_add_test(tc,
	    test_body_stalled_longer_than_timeouts_client_is_cut);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner	   *sr = srunner_create(upload_suite());
	const char *asan = getenv("ASAN_OPTIONS");
	char	    opts[1024];
	int	    failed;

	/*
	 * As in tests/it_stream.c: a small AddressSanitizer quarantine, so
	 * that freed memory waiting in it does not count as the worker's.
	 */
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=8",
	    asan != NULL ? asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	if (setenv("ASAN_OPTIONS", opts, 1) == -1)
		return EXIT_FAILURE;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

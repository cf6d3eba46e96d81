/*
 * tests/it_forward.c -- step 6 of SPEC section 4: how lbmaster forwards a
 * request and its answer when all goes well. Keep-alive pools and stale
 * pooled connections, bodies byte for byte both ways, large streamed
 * answers, status lines and headers kept, bodiless answers, methods and
 * Expect. tests/it_retry.c covers what happens when an origin fails.
 *
 * The origin answers as X-Test-* headers ask (see tests/origin.c) and
 * counts what it saw (/__stats), so a test can tell how many origin
 * connections its requests took.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"
#include "tests/mproc.h"

#define MIB    (1024 * 1024)
#define BIG_MS 30000 /* bound for a 64 MiB exchange */

/* GET TARGET from www.fruit.com with the header lines HDRS. */
static int
get(unsigned port, const char *target, const char *hdrs, struct lbt_resp *r)
{
	return itc_get(port, "www.fruit.com", target, hdrs, r);
}

static const char *
crc_hex(uint32_t crc)
{
	return lbt_fmt("%08x", crc);
}

/* ------------------------------------------------------- keep-alive */

START_TEST(test_keep_alive_connections_to_the_origin_are_reused)
{
	static const char req[] = "GET /k HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  fruit;
	int		  i, j;
	pid_t		  o;
	struct itc_lb	  lb;

	o = itc_origin("fruit", &fruit, NULL);
	/* One worker: one pool. */
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	for (i = 0; i < 10; i++) {
		ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
		for (j = 0; j < 5; j++) {
			ck_assert_int_eq(lbt_conn_request(c, req, strlen(req),
					     &r),
			    0);
			ck_assert_int_eq(r.status, 200);
			lbt_resp_free(&r);
		}
		lbt_conn_close(c);
	}
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 50);
	ck_assert_msg(lbt_origin_stat(fruit, "connections") <= 2,
	    "50 requests, one after the other, took %lld origin connections",
	    lbt_origin_stat(fruit, "connections"));
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_stale_keep_alive_connection_is_never_an_error)
{
	struct lbt_resp r;
	unsigned	fruit;
	int		i;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit,
	    (const char *[]){ "--idle-close", "200", NULL });
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(get(lb.port, "/", NULL, &r), 0);
		ck_assert_msg(r.status == 200, "request %d: status %d, body %s",
		    i, r.status, r.body);
		lbt_resp_free(&r);
		/* The origin closes lbmaster's idle connection. */
		ck_assert(itc_wait_stat(fruit, "open_connections", 0, 5000));
	}
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 3);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * The race the stale-connection rule is for: the origin closes an idle
 * connection just as lbmaster reuses it. Requests come about when the
 * origin's idle timer runs out, a little before or after; whichever side
 * wins, the client must never see an error. The pauses are the stimulus
 * here, not a wait for something.
 */
START_TEST(test_origin_closing_idle_connections_never_shows_as_an_error)
{
	struct timespec pause;
	struct lbt_resp r;
	unsigned	fruit;
	int		i;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit,
	    (const char *[]){ "--idle-close", "50", NULL });
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(get(lb.port, "/", NULL, &r), 0);
		ck_assert_msg(r.status == 200, "request %d: status %d, body %s",
		    i, r.status, r.body);
		lbt_resp_free(&r);
		pause.tv_sec = 0;
		pause.tv_nsec = (45 + i % 11) * 1000000L;
		nanosleep(&pause, NULL);
	}
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 20);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_keep_alive_is_kept_after_chunked_answers)
{
	static const char
			 req[] = "GET /c HTTP/1.1\r\nHost: www.fruit.com\r\n"
				 "X-Test-Body: 1000\r\nX-Test-Chunked: 1\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	int		 i;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.body_len, 1000);
		ck_assert_uint_eq(r.body_crc32, lbt_pattern_crc32(1000));
		lbt_resp_free(&r);
	}
	lbt_conn_close(c);
	ck_assert_msg(lbt_origin_stat(fruit, "connections") <= 2,
	    "10 chunked answers, one after the other, took %lld origin "
	    "connections",
	    lbt_origin_stat(fruit, "connections"));
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_pipelined_requests_are_answered_in_order)
{
	static const char
	    three[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"
		      "GET /v2 HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n"
		      "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n";
	static const char *const want[] = { "This is V1", "This is V2",
		"This is V1" };
	struct lbt_conn		*c;
	struct lbt_resp		 r;
	unsigned		 fruit, i;
	pid_t			 o;
	struct itc_lb		 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, three, strlen(three)), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "answer %u: %s",
		    i, lbt_err_str(r.err));
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, want[i]);
		lbt_resp_free(&r);
	}
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * A client may shut down its sending side once its request is out (as
 * `nc -N` does) and still read the answer, on a connection that had
 * already served one: lbmaster notices the EOF while the request is with
 * the origin and closes only after answering, as HAProxy does.
 */
START_TEST(test_half_closed_client_still_gets_its_answer)
{
	static const char
	    first[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n",
	    slow[] = "GET /v2 HTTP/1.1\r\nHost: www.fruit.com\r\n"
		     "X-Test-Delay: 300\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_request(c, first, strlen(first), &r), 0);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_send(c, slow, strlen(slow)), 0);
	ck_assert_int_eq(shutdown(lbt_conn_fd(c), SHUT_WR), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "%s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V2");
	lbt_resp_free(&r);
	ck_assert(lbt_conn_wait_closed(c, LBT_IO_MS));
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ----------------------------------------------------------- bodies */

START_TEST(test_request_body_with_content_length_arrives_byte_for_byte)
{
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	size_t		 len = MIB + 13, i;
	unsigned char	*body;
	const char	*head;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(body = malloc(len));
	for (i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 7 + i / 251); /* NULs too */
	head = lbt_fmt("POST /upload HTTP/1.1\r\nHost: www.fruit.com\r\n"
		       "Content-Type: application/octet-stream\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    len);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	ck_assert_int_eq(lbt_conn_send(c, body, len), 0);
	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(lbt_json_int(r.body, "body_length"), (long long)len);
	ck_assert_str_eq(lbt_json_str(r.body, "body_crc32"),
	    crc_hex(lbt_crc32(0, body, len)));
	ck_assert_str_eq(lbt_json_str(r.body, "method"), "POST");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	free(body);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * PUT a chunked body of chunks of SIZES, the chunk size line of chunk
 * EXT_AT (-1: none) with a chunk extension, and check what the origin
 * got.
 */
static void
chunked_put(const size_t *sizes, size_t n)
{
	static const char
			 head[] = "PUT /upload HTTP/1.1\r\n"
				  "Host: www.fruit.com\r\nTransfer-Encoding: chunked\r\n"
				  "Connection: close\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned char	*chunk;
	unsigned	 fruit;
	uint32_t	 crc = 0;
	size_t		 total = 0, i, j;
	const char	*line;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	lbt_conn_set_timeout(c, 5000);
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	for (i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(chunk = malloc(sizes[i]));
		for (j = 0; j < sizes[i]; j++)
			chunk[j] = (unsigned char)(total + j * 13);
		line = lbt_fmt("%zx\r\n", sizes[i]);
		/* Sent whole even if lbmaster answers early: see below. */
		lbt_conn_send(c, line, strlen(line));
		lbt_conn_send(c, chunk, sizes[i]);
		lbt_conn_send(c, "\r\n", 2);
		crc = lbt_crc32(crc, chunk, sizes[i]);
		total += sizes[i];
		free(chunk);
	}
	lbt_conn_send(c, "0\r\n\r\n", 5);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "no answer: %s",
	    lbt_err_str(r.err));
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_int_eq(lbt_json_int(r.body, "body_length"), (long long)total);
	ck_assert_str_eq(lbt_json_str(r.body, "body_crc32"), crc_hex(crc));
	ck_assert_str_eq(lbt_json_str(r.body, "method"), "PUT");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_chunked_request_body_arrives_byte_for_byte)
{
	static const size_t sizes[] = { 1, 100, 4096, 65536, 300001, 7 };

	chunked_put(sizes, sizeof(sizes) / sizeof(sizes[0]));
}
END_TEST

/*
 * RFC 9112 section 7.1.1: a recipient ignores chunk extensions it does
 * not understand. They are accepted, and removed before forwarding: the
 * origin gets the body re-framed, without them.
 */
START_TEST(test_chunk_extensions_in_a_request_body_are_dropped)
{
	static const char
			req[] = "PUT /upload HTTP/1.1\r\n"
				"Host: www.fruit.com\r\nTransfer-Encoding: chunked\r\n\r\n"
				"3;name=value\r\nabc\r\n2 ; q=\"x;y\"\r\nde\r\n"
				"0;last\r\n\r\n";
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(lbt_http(NULL, lb.port, req, strlen(req), &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(lbt_json_int(r.body, "body_length"), 5);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

static void
large_response(bool chunked)
{
	const char     *raw;
	struct lbt_resp r;
	unsigned	fruit;
	uint64_t	len = 64 * MIB;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	raw = lbt_fmt("GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
		      "X-Test-Body: %llu\r\n%sConnection: close\r\n\r\n",
	    (unsigned long long)len, chunked ? "X-Test-Chunked: 1\r\n" : "");
	ck_assert_int_eq(lbt_http_ex(NULL, lb.port, raw, strlen(raw),
			     LBT_DISCARD, BIG_MS, &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	if (!chunked)
		ck_assert_str_eq(lbt_header(&r, "Content-Length"),
		    lbt_fmt("%llu", (unsigned long long)len));
	ck_assert_uint_eq(r.body_len, len);
	ck_assert_uint_eq(r.body_crc32, lbt_pattern_crc32(len));
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_large_response_with_content_length_arrives_whole)
{
	large_response(false);
}
END_TEST

START_TEST(test_large_chunked_response_arrives_whole)
{
	large_response(true);
}
END_TEST

/*
 * GET /big with a body of LEN pattern bytes (chunked when CHUNKED, cut
 * after its first MiB when CUT) through PORT: its status, and whether the
 * whole body arrived intact.
 */
static int
get_big(unsigned port, uint64_t len, bool chunked, bool cut, bool *whole)
{
	struct lbt_resp r;
	const char     *raw;
	int		rc, status;

	raw = lbt_fmt("GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
		      "X-Test-Body: %llu\r\n%s%sConnection: close\r\n\r\n",
	    (unsigned long long)len, chunked ? "X-Test-Chunked: 1\r\n" : "",
	    cut ? "X-Test-Fault: partial\r\n" : "");
	rc = lbt_http_ex(NULL, port, raw, strlen(raw), LBT_DISCARD, BIG_MS, &r);
	status = r.status;
	*whole = rc == 0 && r.body_len == len &&
	    r.body_crc32 == lbt_pattern_crc32(len);
	lbt_resp_free(&r);
	return status;
}

/*
 * A long answer with a length, on plain connections, is spliced from
 * socket to socket (lbmaster(8), "Large answers"): it arrives the same,
 * and lbmaster_spliced_bytes_total counts all but its first slice and
 * its last 16 KiB. Chunked and short answers take the usual way; an
 * origin that closes in the middle of a spliced body leaves the client a
 * truncated answer, and the worker serves on.
 */
START_TEST(test_long_answers_with_a_length_are_spliced_whole)
{
	const char   *spliced = "lbmaster_spliced_bytes_total";
	unsigned      fruit, admin = lbt_free_port();
	uint64_t      len = 8 * MIB;
	long long     before, after;
	bool	      whole;
	pid_t	      o, w;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1,
	    lbt_fmt("admin: {listen: 127.0.0.1:%u}\n", admin),
	    lbt_fmt("127.0.0.1:%u", fruit));
	lbt_wait_port(lb.pid, "127.0.0.1", admin, LBT_START_MS);
	w = itc_worker_of(lb.pid);
	ck_assert_int_eq(mp_metric(admin, spliced), 0);

	ck_assert_int_eq(get_big(lb.port, len, false, false, &whole), 200);
	ck_assert(whole);
	after = mp_metric(admin, spliced);
	ck_assert_msg(after > (long long)(len - 64 * 1024) &&
		after <= (long long)(len - 16 * 1024),
	    "%s: %lld of %llu bytes", spliced, after, (unsigned long long)len);

	before = after;
	ck_assert_int_eq(get_big(lb.port, len, true, false, &whole), 200);
	ck_assert(whole);
	ck_assert_int_eq(get_big(lb.port, 100 * 1024, false, false, &whole),
	    200);
	ck_assert(whole);
	ck_assert_int_eq(mp_metric(admin, spliced), before);

	/* Cut after 1 MiB: spliced, then the origin closes. */
	ck_assert_int_eq(get_big(lb.port, len, false, true, &whole), 200);
	ck_assert(!whole);
	ck_assert_int_gt(mp_metric(admin, spliced), before);
	ck_assert_int_eq(get_big(lb.port, len, false, false, &whole), 200);
	ck_assert(whole);
	ck_assert_int_eq(itc_worker_of(lb.pid), w);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* An HTTP/1.0 client cannot take chunks: it gets the bytes, then EOF. */
START_TEST(test_http10_client_gets_a_chunked_answer_whole)
{
	static const char
			req[] = "GET /big HTTP/1.0\r\nHost: www.fruit.com\r\n"
				"X-Test-Body: 300000\r\nX-Test-Chunked: 1\r\n\r\n";
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(lbt_http(NULL, lb.port, req, strlen(req), &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert(!r.chunked);
	ck_assert_uint_eq(r.body_len, 300000);
	ck_assert_uint_eq(r.body_crc32, lbt_pattern_crc32(300000));
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * Nor can an HTTP/1.0 client that asked for keep-alive: with no length to
 * give it, the answer is the bytes, then EOF, and says Connection: close.
 */
START_TEST(test_http10_keepalive_client_gets_a_chunked_answer_whole)
{
	static const char
			 req[] = "GET /big HTTP/1.0\r\nHost: www.fruit.com\r\n"
				 "Connection: keep-alive\r\n"
				 "X-Test-Body: 300000\r\nX-Test-Chunked: 1\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert(!r.chunked);
	ck_assert_ptr_null(lbt_header(&r, "Content-Length"));
	ck_assert_str_eq(lbt_header(&r, "Connection"), "close");
	ck_assert_uint_eq(r.body_len, 300000);
	ck_assert_uint_eq(r.body_crc32, lbt_pattern_crc32(300000));
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* A client that leaves in the middle of a large answer harms no one. */
START_TEST(test_client_leaving_mid_body_harms_no_later_request)
{
	static const char big[] = "GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "X-Test-Body: 67108864\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  fruit;
	char		  buf[4096];
	int		  i;
	pid_t		  o;
	struct itc_lb	  lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
		ck_assert_int_eq(lbt_conn_send(c, big, strlen(big)), 0);
		ck_assert_int_gt(lbt_conn_recv(c, buf, sizeof(buf)), 0);
		lbt_conn_close(c);
		ck_assert_int_eq(get(lb.port, "/v1", NULL, &r), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, "This is V1");
		lbt_resp_free(&r);
	}
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* The lbmaster worker processes: children of the master PID. */
static int
workers_of(pid_t master, pid_t *out, int max)
{
	struct dirent *d;
	const char    *stat, *p;
	DIR	      *dir;
	int	       n = 0;
	long	       ppid;

	ck_assert_ptr_nonnull(dir = opendir("/proc"));
	while ((d = readdir(dir)) != NULL && n < max) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		stat = lbt_read_file(lbt_fmt("/proc/%s/stat", d->d_name), NULL);
		/* "PID (COMM) STATE PPID ...": COMM may hold anything. */
		if (stat == NULL || (p = strrchr(stat, ')')) == NULL ||
		    sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid != master)
			continue;
		if (strstr(lbt_fmt("%s",
			       lbt_read_file(lbt_fmt("/proc/%s/cmdline",
						 d->d_name),
				   NULL)),
			"worker") != NULL)
			out[n++] = (pid_t)atol(d->d_name);
	}
	closedir(dir);
	return n;
}

/* VmRSS of PID in KiB, or -1. */
static long
rss_kib(pid_t pid)
{
	const char *status, *p;

	status = lbt_read_file(lbt_fmt("/proc/%d/status", (int)pid), NULL);
	if (status == NULL || (p = strstr(status, "VmRSS:")) == NULL)
		return -1;
	return strtol(p + 6, NULL, 10);
}

struct worker_find {
	pid_t master;
	pid_t worker;
};

static bool
worker_found(void *arg)
{
	struct worker_find *f = arg;

	return workers_of(f->master, &f->worker, 1) == 1;
}

struct rss_watch {
	pid_t pid;
	long  limit_kib;
	long  seen_kib;
};

static bool
rss_over(void *arg)
{
	struct rss_watch *w = arg;

	w->seen_kib = rss_kib(w->pid);
	return w->seen_kib > w->limit_kib;
}

/*
 * SPEC: a slow client slows the read from the backend instead of filling
 * memory. This client asks for 256 MiB and reads none of it; for a
 * second the worker's resident memory is watched for that body piling up.
 */
START_TEST(test_slow_client_does_not_fill_the_worker_memory)
{
	static const char req[] = "GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "X-Test-Body: 268435456\r\n\r\n";
	struct worker_find f;
	struct rss_watch   w;
	struct lbt_conn	  *c;
	unsigned	   fruit;
	pid_t		   o;
	struct itc_lb	   lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	/* The master listens before it forks: the worker may come later. */
	f.master = lb.pid;
	f.worker = 0;
	ck_assert_msg(lbt_wait_for(worker_found, &f, LBT_START_MS),
	    "no \"lbmaster: worker process\" child of pid %d", (int)lb.pid);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, req, strlen(req)), 0);
	w.pid = f.worker;
	w.limit_kib = 64 * 1024;
	w.seen_kib = 0;
	ck_assert_msg(!lbt_wait_for(rss_over, &w, 1000),
	    "the worker holds "
	    "%ld KiB for a client that reads nothing",
	    w.seen_kib);
	ck_assert_int_gt(w.seen_kib, 0);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ------------------------------------------------- status, headers */

START_TEST(test_two_set_cookie_headers_both_arrive)
{
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(get(lb.port, "/", "X-Test-Set-Cookie: 2\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(lbt_header_count(&r, "Set-Cookie"), 2);
	ck_assert_str_eq(lbt_header_nth(&r, "Set-Cookie", 0), "c1=1; Path=/");
	ck_assert_str_eq(lbt_header_nth(&r, "Set-Cookie", 1), "c2=2; Path=/");
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_status_code_and_reason_are_kept)
{
	static const int codes[] = { 418, 299, 451, 503, 207 };
	struct lbt_resp	 direct, r;
	unsigned	 fruit, i;
	const char	*hdr;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		hdr = lbt_fmt("X-Test-Status: %d\r\n", codes[i]);
		/* The origin's own status line, straight from it. */
		ck_assert_int_eq(lbt_httpf(fruit, &direct,
				     "GET / HTTP/1.1\r\n"
				     "Host: t\r\n%sConnection: close\r\n\r\n",
				     hdr),
		    0);
		ck_assert_int_eq(get(lb.port, "/", hdr, &r), 0);
		ck_assert_int_eq(r.status, codes[i]);
		ck_assert_str_eq(r.reason, direct.reason);
		ck_assert_str_eq(lbt_json_str(r.body, "app"), "fruit");
		lbt_resp_free(&r);
		lbt_resp_free(&direct);
	}
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* The origin's Connection: close is about its own connection only. */
START_TEST(test_origin_closing_after_its_answer_keeps_the_client_connection)
{
	static const char first[] = "GET / HTTP/1.1\r\nHost: www.fruit.com\r\n"
				    "X-Test-Header: Connection: close\r\n\r\n";
	static const char next[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n"
				   "\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  fruit;
	pid_t		  o;
	struct itc_lb	  lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_request(c, first, strlen(first), &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_null(lbt_header(&r, "Connection"));
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_request(c, next, strlen(next), &r) == 0,
	    "the next request on the same connection: %s", lbt_err_str(r.err));
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * A header line of 12 KiB: far below the 64 KiB an origin's head may
 * have, and common enough (large cookies, CSP, JWTs).
 */
START_TEST(test_response_header_of_12k_is_passed_on)
{
	struct lbt_resp r;
	unsigned	fruit;
	char	       *value;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(value = malloc(12 * 1024 + 1));
	memset(value, 'v', 12 * 1024);
	value[12 * 1024] = '\0';
	ck_assert_int_eq(get(lb.port, "/",
			     lbt_fmt("X-Test-Header: X-Big: "
				     "%s\r\n",
				 value),
			     &r),
	    0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_str_eq(lbt_header(&r, "X-Big"), value);
	lbt_resp_free(&r);
	free(value);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * REQ gets a bodiless answer with STATUS (announcing Content-Length
 * LENGTH, unless LENGTH is NULL); then a GET /v1 on the same client
 * connection must get its own answer, so no stray body byte was left
 * between them.
 */
static void
bodiless_then_next(const char *req, int status, const char *length)
{
	static const char next[] = "GET /v1 HTTP/1.1\r\nHost: www.fruit.com\r\n"
				   "\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  fruit;
	pid_t		  o;
	struct itc_lb	  lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	lbt_conn_set_timeout(c, 3000);
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	ck_assert_int_eq(r.status, status);
	ck_assert_uint_eq(r.body_len, 0);
	if (length != NULL)
		ck_assert_str_eq(lbt_header(&r, "Content-Length"), length);
	lbt_resp_free(&r);
	/* Twice: the pooled origin connection must be clean too. */
	ck_assert_msg(lbt_conn_request(c, next, strlen(next), &r) == 0,
	    "the next request: %s; raw: %s", lbt_err_str(r.err), r.raw);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_request(c, next, strlen(next), &r) == 0,
	    "the request after: %s; raw: %s", lbt_err_str(r.err), r.raw);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

/* HEAD: no body, but the length a GET would get. */
START_TEST(test_head_answer_has_no_body_and_the_connection_goes_on)
{
	bodiless_then_next("HEAD / HTTP/1.1\r\nHost: www.fruit.com\r\n"
			   "X-Test-Body: 1000\r\n\r\n",
	    200, "1000");
}
END_TEST

START_TEST(test_204_answer_has_no_body_and_the_connection_goes_on)
{
	bodiless_then_next("GET / HTTP/1.1\r\nHost: www.fruit.com\r\n"
			   "X-Test-Status: 204\r\n\r\n",
	    204, NULL);
}
END_TEST

START_TEST(test_304_answer_has_no_body_and_the_connection_goes_on)
{
	bodiless_then_next("GET / HTTP/1.1\r\nHost: www.fruit.com\r\n"
			   "X-Test-Status: 304\r\nIf-None-Match: \"x\"\r\n\r\n",
	    304, NULL);
}
END_TEST

/* ---------------------------------------------------------- methods */

START_TEST(test_every_method_reaches_the_origin_with_its_method)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE",
		"OPTIONS", "PATCH", "TRACE" };
	struct lbt_resp		 r;
	unsigned		 fruit, i;
	pid_t			 o;
	struct itc_lb		 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		ck_assert_int_eq(
		    lbt_httpf(lb.port, &r,
			"%s /m HTTP/1.1\r\n"
			"Host: www.fruit.com\r\n%sConnection: close\r\n\r\n",
			methods[i],
			strcmp(methods[i], "TRACE") == 0 ?
			    "" :
			    "Content-Length: 0\r\n"),
		    0);
		ck_assert_msg(r.status == 200, "%s: status %d, body %s",
		    methods[i], r.status, r.body);
		ck_assert_str_eq(lbt_json_str(r.body, "method"), methods[i]);
		lbt_resp_free(&r);
	}
	/* HEAD: no body to say it, but the origin counts it. */
	ck_assert_int_eq(
	    lbt_httpf(lb.port, &r,
		"HEAD /m HTTP/1.1\r\n"
		"Host: www.fruit.com\r\nConnection: close\r\n\r\n"),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 8);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_connect_is_refused_and_never_reaches_the_origin)
{
	const char     *targets[2], *raw;
	struct lbt_resp r;
	unsigned	fruit, i;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	targets[0] = "www.fruit.com:443";
	targets[1] = lbt_fmt("127.0.0.1:%u", fruit);
	for (i = 0; i < 2; i++) {
		raw = lbt_fmt("CONNECT %s HTTP/1.1\r\nHost: %s\r\n"
			      "Connection: close\r\n\r\n",
		    targets[i], targets[i]);
		/* The refusal must be a whole answer: framed, or closed. */
		ck_assert_msg(lbt_http_ex(NULL, lb.port, raw, strlen(raw), 0,
				  3000, &r) == 0,
		    "CONNECT %s: %s; got: %s", targets[i], lbt_err_str(r.err),
		    r.raw);
		ck_assert_msg(r.status >= 400 && r.status < 600,
		    "CONNECT %s got %d", targets[i], r.status);
		lbt_resp_free(&r);
	}
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_expect_100_continue_with_a_body_completes)
{
	static const char
			 head[] = "POST /e HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "Content-Length: 11\r\nExpect: 100-continue\r\n"
				  "Connection: close\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	unsigned	 fruit;
	pid_t		 o;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	lbt_conn_set_timeout(c, 3000);
	ck_assert_int_eq(lbt_conn_send(c, head, strlen(head)), 0);
	ck_assert_msg(lbt_conn_response(c, LBT_KEEP_1XX, &r) == 0,
	    "no interim answer to Expect: %s", lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 100);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_send(c, "hello world", 11), 0);
	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(lbt_json_int(r.body, "body_length"), 11);
	ck_assert_str_eq(lbt_json_str(r.body, "body_crc32"),
	    crc_hex(lbt_crc32(0, "hello world", 11)));
	lbt_resp_free(&r);
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

static Suite *
forward_suite(void)
{
	Suite *s = suite_create("forward");
	TCase *tc;

	tc = lbt_tcase("keepalive");
	tcase_add_test(tc,
	    test_keep_alive_connections_to_the_origin_are_reused);
	tcase_add_test(tc, test_stale_keep_alive_connection_is_never_an_error);
	tcase_add_test(tc,
	    test_origin_closing_idle_connections_never_shows_as_an_error);
	tcase_add_test(tc, test_keep_alive_is_kept_after_chunked_answers);
	tcase_add_test(tc, test_pipelined_requests_are_answered_in_order);
	tcase_add_test(tc, test_half_closed_client_still_gets_its_answer);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("bodies");
	tcase_add_test(tc,
	    test_request_body_with_content_length_arrives_byte_for_byte);
	tcase_add_test(tc, test_chunked_request_body_arrives_byte_for_byte);
	tcase_add_test(tc, test_chunk_extensions_in_a_request_body_are_dropped);
	tcase_add_test(tc,
	    test_large_response_with_content_length_arrives_whole);
	tcase_add_test(tc, test_large_chunked_response_arrives_whole);
	tcase_add_test(tc, test_long_answers_with_a_length_are_spliced_whole);
	tcase_add_test(tc, test_http10_client_gets_a_chunked_answer_whole);
	tcase_add_test(tc,
	    test_http10_keepalive_client_gets_a_chunked_answer_whole);
	tcase_add_test(tc, test_slow_client_does_not_fill_the_worker_memory);
	tcase_add_test(tc, test_client_leaving_mid_body_harms_no_later_request);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("answers");
	tcase_add_test(tc, test_two_set_cookie_headers_both_arrive);
	tcase_add_test(tc, test_status_code_and_reason_are_kept);
	tcase_add_test(tc, test_response_header_of_12k_is_passed_on);
	tcase_add_test(tc,
	    test_origin_closing_after_its_answer_keeps_the_client_connection);
	tcase_add_test(tc,
	    test_head_answer_has_no_body_and_the_connection_goes_on);
	tcase_add_test(tc,
	    test_204_answer_has_no_body_and_the_connection_goes_on);
	tcase_add_test(tc,
	    test_304_answer_has_no_body_and_the_connection_goes_on);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("methods");
	tcase_add_test(tc,
	    test_every_method_reaches_the_origin_with_its_method);
	tcase_add_test(tc,
	    test_connect_is_refused_and_never_reaches_the_origin);
	tcase_add_test(tc, test_expect_100_continue_with_a_body_completes);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(forward_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

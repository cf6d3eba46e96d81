/*
 * tests/it_harness.c -- the test origin and the harness, seen from a raw
 * client, without lbmaster: what every other integration test relies on.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"

#define MIB (1024 * 1024)

/*
 * Lower bounds only, with a little slack for millisecond rounding: a
 * delay must not come early, how late it may come is not asserted.
 */
#define SLACK_MS 20

/* GET PATH from the origin on PORT with extra header lines HDRS. */
static int
get(unsigned port, const char *path, const char *hdrs, struct lbt_resp *r)
{
	return lbt_httpf(port, r,
	    "GET %s HTTP/1.1\r\nHost: test\r\n%s"
	    "Connection: close\r\n\r\n",
	    path, hdrs ? hdrs : "");
}

START_TEST(test_json_describes_the_request)
{
	static const char body[] = "name=value&x=\"quoted\"";
	struct lbt_resp	  r;
	unsigned	  port = 0;
	pid_t		  pid;
	char		  crc[16];

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(
	    lbt_httpf(port, &r,
		"POST /a/b?MyCustomParam=Hello%%20W+x&flag&z=1 HTTP/1.1\r\n"
		"Host: www.mango.com\r\nMyCustomHeader: Test\r\n"
		"X-Rep: one\r\nX-Quote: a\"b\\c\r\nx-rep: two\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		strlen(body), body),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_header(&r, "Content-Type"), "application/json");
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "mango");
	ck_assert_str_eq(lbt_json_str(r.body, "message"),
	    "This is the mango application.");
	ck_assert_str_eq(lbt_json_str(r.body, "url"),
	    lbt_fmt(
		"http://127.0.0.1:%u/a/b?MyCustomParam=Hello%%20W+x&flag&z=1",
		port));
	ck_assert_str_eq(lbt_json_str(r.body, "method"), "POST");
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/a/b");
	ck_assert_str_eq(lbt_json_str(r.body, "query"),
	    "MyCustomParam=Hello%20W+x&flag&z=1");
	ck_assert_str_eq(lbt_json_str(r.body, "MyCustomHeader"), "Test");
	ck_assert_str_eq(lbt_json_str(r.body, "Host"), "www.mango.com");
	ck_assert_str_eq(lbt_json_str(r.body, "MyCustomParam"), "Hello W x");
	/* Every header, in order; a repeated name becomes an array. */
	ck_assert_str_eq(lbt_json_str(r.body, "headers.Host"), "www.mango.com");
	ck_assert_str_eq(lbt_json_raw(r.body, "headers.X-Rep"),
	    "[\"one\", \"two\"]");
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Quote"), "a\"b\\c");
	ck_assert_int_eq(lbt_json_int(r.body, "body_length"), strlen(body));
	snprintf(crc, sizeof(crc), "%08x", lbt_crc32(0, body, strlen(body)));
	ck_assert_str_eq(lbt_json_str(r.body, "body_crc32"), crc);
	ck_assert_int_eq(lbt_json_int(r.body, "connection_id"), 1);
	ck_assert_int_eq(lbt_json_int(r.body, "connections"), 1);
	ck_assert_int_eq(lbt_json_int(r.body, "requests"), 1);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_json_fields_are_null_or_empty_when_absent)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	/* HTTP/1.0 without Host: the "Host" field is null. */
	ck_assert_int_eq(lbt_httpf(port, &r, "GET / HTTP/1.0\r\n\r\n"), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_raw(r.body, "Host"), "null");
	ck_assert_str_eq(lbt_json_raw(r.body, "MyCustomHeader"), "null");
	ck_assert_str_eq(lbt_json_raw(r.body, "MyCustomParam"), "null");
	ck_assert_ptr_null(lbt_json_str(r.body, "Host"));
	ck_assert_str_eq(lbt_json_str(r.body, "query"), "");
	ck_assert_str_eq(lbt_json_str(r.body, "body_crc32"), "00000000");
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_two_origins_answer_with_their_own_names)
{
	struct lbt_resp r;
	unsigned	mport = 0, aport = 0;
	pid_t		mango, apple;

	mango = lbt_origin_start("mango", &mport, NULL);
	apple = lbt_origin_start("apple", &aport, NULL);
	ck_assert_uint_ne(mport, aport);
	ck_assert_int_eq(get(mport, "/", NULL, &r), 0);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "mango");
	lbt_resp_free(&r);
	ck_assert_int_eq(get(aport, "/", NULL, &r), 0);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "apple");
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(apple), 0);
	ck_assert_int_eq(lbt_stop(mango), 0);
}
END_TEST

START_TEST(test_v1_and_v2_answer_the_course_bodies)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/v1", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_int_eq(get(port, "/v2", NULL, &r), 0);
	ck_assert_str_eq(r.body, "This is V2");
	lbt_resp_free(&r);
	/* Below /v1 is an ordinary path: the JSON answer shows it. */
	ck_assert_int_eq(get(port, "/v1/users?a=1", NULL, &r), 0);
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/v1/users");
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

/* Every method evhttp would otherwise refuse with 405 gets through. */
START_TEST(test_every_method_is_answered)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE",
		"OPTIONS", "PATCH", "TRACE" };
	struct lbt_resp		 r;
	unsigned		 port = 0, i;
	pid_t			 pid;

	pid = lbt_origin_start("mango", &port, NULL);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		ck_assert_int_eq(
		    lbt_httpf(port, &r,
			"%s /m HTTP/1.1\r\n"
			"Host: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			methods[i]),
		    0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(lbt_json_str(r.body, "method"), methods[i]);
		lbt_resp_free(&r);
	}
	ck_assert_int_eq(lbt_httpf(port, &r,
			     "HEAD /m HTTP/1.1\r\nHost: t\r\n"
			     "Connection: close\r\n\r\n"),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(lbt_header(&r, "Content-Length"));
	ck_assert_uint_eq(r.body_len, 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_healthcheck_toggles_and_counts_probes)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/healthcheck", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "OK");
	lbt_resp_free(&r);

	lbt_origin_health(port, false);
	ck_assert_int_eq(get(port, "/healthcheck", NULL, &r), 0);
	ck_assert_int_eq(r.status, 500);
	lbt_resp_free(&r);
	/* Only the health check fails; the application still answers. */
	ck_assert_int_eq(get(port, "/v1", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);

	lbt_origin_health(port, true);
	ck_assert_int_eq(get(port, "/healthcheck", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);

	ck_assert_int_eq(lbt_origin_stat(port, "health_probes"), 3);
	ck_assert_int_eq(lbt_origin_stat(port, "requests"), 1);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_health_fail_flag_starts_failing)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port,
	    (const char *[]){ "--health-fail", NULL });
	ck_assert_int_eq(get(port, "/healthcheck", NULL, &r), 0);
	ck_assert_int_eq(r.status, 500);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

/* The delay is a timer: another client is served in the meantime. */
START_TEST(test_delay_answers_later_without_blocking_others)
{
	static const char slow[] = "GET /slow HTTP/1.1\r\nHost: t\r\n"
				   "X-Test-Delay: 1500\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	struct pollfd	  pfd;
	unsigned	  port = 0;
	long long	  t0;
	pid_t		  pid;

	pid = lbt_origin_start("mango", &port, NULL);
	t0 = lbt_now_ms();
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_send(c, slow, strlen(slow)), 0);

	ck_assert_int_eq(get(port, "/fast", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	pfd.fd = lbt_conn_fd(c);
	pfd.events = POLLIN;
	ck_assert_msg(poll(&pfd, 1, 0) == 0,
	    "the delayed answer came before the undelayed one");

	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_ge(lbt_now_ms() - t0, 1500 - SLACK_MS);
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/slow");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_mode_slow_delays_every_request)
{
	struct lbt_resp r;
	unsigned	port = 0;
	long long	t0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port,
	    (const char *[]){ "--mode", "slow:200", NULL });
	t0 = lbt_now_ms();
	ck_assert_int_eq(get(port, "/healthcheck", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_ge(lbt_now_ms() - t0, 200 - SLACK_MS);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_status_and_header_controls)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/",
			     "X-Test-Status: 503\r\n"
			     "X-Test-Header: X-Foo: bar baz\r\n"
			     "X-Test-Header: X-Other:1\r\n",
			     &r),
	    0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(lbt_header(&r, "X-Foo"), "bar baz");
	ck_assert_str_eq(lbt_header(&r, "x-other"), "1");
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "mango");
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_set_cookie_twice)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/", "X-Test-Set-Cookie: 2\r\n", &r), 0);
	ck_assert_uint_eq(lbt_header_count(&r, "Set-Cookie"), 2);
	ck_assert_str_eq(lbt_header_nth(&r, "set-cookie", 0), "c1=1; Path=/");
	ck_assert_str_eq(lbt_header_nth(&r, "Set-Cookie", 1), "c2=2; Path=/");
	ck_assert_ptr_null(lbt_header_nth(&r, "Set-Cookie", 2));
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_fault_reset_is_seen_as_reset)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/", "X-Test-Fault: reset\r\n", &r), -1);
	ck_assert_msg(r.err == LBT_ERESET, "got %s", lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.raw_len, 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_fault_garbage_is_not_http)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/", "X-Test-Fault: garbage\r\n", &r), -1);
	ck_assert_msg(r.err == LBT_EPARSE, "got %s", lbt_err_str(r.err));
	ck_assert_uint_gt(r.raw_len, 0);
	ck_assert_ptr_nonnull(strstr(r.raw, "garbage"));
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_fault_close_closes_without_an_answer)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/", "X-Test-Fault: close\r\n", &r), -1);
	ck_assert_msg(r.err == LBT_EEOF, "got %s", lbt_err_str(r.err));
	ck_assert_uint_eq(r.raw_len, 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_fault_partial_sends_half_the_body)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;
	char		want[500];

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/",
			     "X-Test-Fault: partial\r\n"
			     "X-Test-Body: 1000\r\n",
			     &r),
	    -1);
	ck_assert_msg(r.err == LBT_EEOF, "got %s", lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_header(&r, "Content-Length"), "1000");
	ck_assert_uint_eq(r.body_len, 500);
	lbt_pattern_fill(want, 0, sizeof(want));
	ck_assert_mem_eq(r.body, want, sizeof(want));
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

/* --mode faults every request, but the control paths stay usable. */
START_TEST(test_mode_reset_applies_to_every_request)
{
	struct lbt_resp r;
	unsigned	port = 0;
	int		i;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port,
	    (const char *[]){ "--mode", "reset", NULL });
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(get(port, i ? "/healthcheck" : "/", NULL, &r),
		    -1);
		ck_assert_msg(r.err == LBT_ERESET, "got %s",
		    lbt_err_str(r.err));
		lbt_resp_free(&r);
	}
	ck_assert_int_eq(lbt_origin_stat(port, "requests"), 1);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_body_of_10mib_with_content_length)
{
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(get(port, "/", "X-Test-Body: 10485760\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_header(&r, "Content-Length"), "10485760");
	ck_assert(!r.chunked);
	ck_assert_uint_eq(r.body_len, 10 * MIB);
	ck_assert_uint_eq(r.body_crc32, lbt_pattern_crc32(10 * MIB));
	ck_assert_uint_eq(lbt_crc32(0, r.body, r.body_len), r.body_crc32);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_body_of_10mib_chunked)
{
	static const char
			req[] = "GET / HTTP/1.1\r\nHost: t\r\n"
				"X-Test-Body: 10485760\r\nX-Test-Chunked: 1\r\n"
				"Connection: close\r\n\r\n";
	struct lbt_resp r;
	unsigned	port = 0;
	pid_t		pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(lbt_http_ex(NULL, port, req, strlen(req), LBT_DISCARD,
			     LBT_IO_MS, &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.chunked);
	ck_assert_ptr_null(lbt_header(&r, "Content-Length"));
	ck_assert_ptr_null(r.body);
	ck_assert_uint_eq(r.body_len, 10 * MIB);
	ck_assert_uint_eq(r.body_crc32, lbt_pattern_crc32(10 * MIB));
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

/* HEAD: the length of the GET, no body, and the connection goes on. */
START_TEST(test_head_has_a_length_but_no_body)
{
	static const char head[] = "HEAD / HTTP/1.1\r\nHost: t\r\n"
				   "X-Test-Body: 100\r\n\r\n";
	static const char next[] = "GET /v1 HTTP/1.1\r\nHost: t\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  port = 0;
	pid_t		  pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_request(c, head, strlen(head), &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_header(&r, "Content-Length"), "100");
	ck_assert_uint_eq(r.body_len, 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_request(c, next, strlen(next), &r), 0);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_keep_alive_keeps_the_connection_id)
{
	static const char req[] = "GET /k HTTP/1.1\r\nHost: t\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  port = 0;
	pid_t		  pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	ck_assert_int_eq(lbt_json_int(r.body, "connection_id"), 1);
	ck_assert_int_eq(lbt_json_int(r.body, "requests"), 1);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	ck_assert_int_eq(lbt_json_int(r.body, "connection_id"), 1);
	ck_assert_int_eq(lbt_json_int(r.body, "requests"), 2);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(port, "open_connections"), 1);
	lbt_conn_close(c);

	/* A new connection gets the next id. */
	ck_assert_int_eq(get(port, "/k", NULL, &r), 0);
	ck_assert_int_eq(lbt_json_int(r.body, "connection_id"), 2);
	ck_assert_int_eq(lbt_json_int(r.body, "connections"), 2);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

/* Two pipelined requests: the client reads both answers in order. */
START_TEST(test_pipelined_requests_are_answered_in_order)
{
	static const char two[] = "GET /v1 HTTP/1.1\r\nHost: t\r\n\r\n"
				  "GET /v2 HTTP/1.1\r\nHost: t\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  port = 0;
	pid_t		  pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_send(c, two, strlen(two)), 0);
	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	ck_assert_str_eq(r.body, "This is V2");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

struct stat_want {
	unsigned    port;
	const char *field;
	long long   value;
};

static bool
stat_is(void *arg)
{
	struct stat_want *w = arg;

	return lbt_origin_stat(w->port, w->field) == w->value;
}

/* Readiness probes, health probes and /__stats never shift the counts. */
START_TEST(test_stats_count_application_traffic_only)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct stat_want  w;
	struct lbt_conn	 *a, *b;
	struct lbt_resp	  r;
	unsigned	  port = 0;
	pid_t		  pid;

	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(lbt_origin_stat(port, "connections"), 0);
	ck_assert_int_eq(get(port, "/healthcheck", NULL, &r), 0);
	lbt_resp_free(&r);
	ck_assert_ptr_nonnull(a = lbt_conn_open(NULL, port));
	ck_assert_ptr_nonnull(b = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_request(a, req, strlen(req), &r), 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_request(a, req, strlen(req), &r), 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_conn_request(b, req, strlen(req), &r), 0);
	ck_assert_int_eq(lbt_json_int(r.body, "connection_id"), 2);
	lbt_resp_free(&r);

	ck_assert_int_eq(lbt_origin_stat(port, "connections"), 2);
	ck_assert_int_eq(lbt_origin_stat(port, "requests"), 3);
	ck_assert_int_eq(lbt_origin_stat(port, "health_probes"), 1);
	ck_assert_int_eq(lbt_origin_stat(port, "open_connections"), 2);
	lbt_conn_close(a);
	lbt_conn_close(b);
	w.port = port;
	w.field = "open_connections";
	w.value = 0;
	ck_assert_msg(lbt_wait_for(stat_is, &w, 5000),
	    "open_connections did not drop to 0 after the client closed");
	ck_assert_int_eq(lbt_origin_stat(port, "connections"), 2);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_idle_close_closes_keep_alive_connections)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	unsigned	  port = 0;
	pid_t		  pid;

	pid = lbt_origin_start("mango", &port,
	    (const char *[]){ "--idle-close", "200", NULL });
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	lbt_resp_free(&r);
	ck_assert(lbt_conn_wait_closed(c, 5000));
	lbt_conn_close(c);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

/* The client end can be put on another loopback address. */
START_TEST(test_origin_and_client_on_other_loopback_addresses)
{
	static const char  req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct sockaddr_in sin;
	socklen_t	   sl = sizeof(sin);
	struct lbt_conn	  *c;
	struct lbt_resp	   r;
	unsigned	   port = 0;
	char		   ip[INET_ADDRSTRLEN];
	pid_t		   pid;

	pid = lbt_origin_start_at("mango", "127.0.0.2", &port, NULL);
	ck_assert_ptr_nonnull(
	    c = lbt_conn_open_to("127.0.0.3", "127.0.0.2", port));
	ck_assert_int_eq(getsockname(lbt_conn_fd(c), (struct sockaddr *)&sin,
			     &sl),
	    0);
	inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
	ck_assert_str_eq(ip, "127.0.0.3");
	ck_assert_int_eq(lbt_conn_request(c, req, strlen(req), &r), 0);
	ck_assert_str_eq(lbt_json_str(r.body, "url"),
	    lbt_fmt("http://127.0.0.2:%u/", port));
	lbt_resp_free(&r);
	lbt_conn_close(c);

	/* Nothing listens on 127.0.0.1 for that port. */
	ck_assert_int_eq(lbt_http("127.0.0.5", port, req, strlen(req), &r), -1);
	ck_assert_int_eq(r.err, LBT_ECONNECT);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

/* Bind 127.0.0.1:PORT as connect() binds its local port: no SO_REUSEADDR. */
static bool
plain_bind(unsigned port)
{
	struct sockaddr_in sin;
	int		   fd;
	bool		   ok;

	ck_assert_int_ne(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
	    -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/*
 * A port from lbt_free_port is held from its choice to the end of the
 * test: no other socket takes it (an outgoing connection of lbmaster or
 * its health checker once did, and an origin could not start on it),
 * yet a server binds it, and a connection to it is refused until then.
 */
START_TEST(test_free_port_is_held_until_the_test_ends)
{
	unsigned port = lbt_free_port(), again;
	pid_t	 pid;

	ck_assert_msg(!plain_bind(port), "port %u is not held", port);
	ck_assert(!lbt_port_accepts("127.0.0.1", port));
	ck_assert(lbt_port_is_free(port));
	/* Never handed out twice. */
	for (int i = 0; i < 50; i++)
		ck_assert_uint_ne(again = lbt_free_port(), port);
	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert(lbt_port_accepts("127.0.0.1", port));
	ck_assert_int_eq(lbt_stop(pid), 0);
	/* Still held for a server that starts again. */
	ck_assert(!plain_bind(port));
	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert_int_eq(lbt_stop(pid), 0);
}
END_TEST

START_TEST(test_origin_on_a_fixed_port_and_ipv6)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct lbt_resp	  r;
	unsigned	  port = lbt_free_port(), port6 = 0;
	pid_t		  pid, pid6;
	int		  fd;

	ck_assert(lbt_port_is_free(port));
	pid = lbt_origin_start("mango", &port, NULL);
	ck_assert(!lbt_port_is_free(port));
	ck_assert(lbt_port_accepts("127.0.0.1", port));
	ck_assert_int_eq(lbt_stop(pid), 0);

	/* ::1 only where the host has IPv6. */
	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) == -1)
		return;
	close(fd);
	pid6 = lbt_origin_start_at("mango6", "::1", &port6, NULL);
	ck_assert_int_eq(lbt_http("::1", port6, req, strlen(req), &r), 0);
	ck_assert_str_eq(lbt_json_str(r.body, "url"),
	    lbt_fmt("http://[::1]:%u/", port6));
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_stop(pid6), 0);
}
END_TEST

START_TEST(test_run_reports_exit_code_and_output)
{
	const char *argv[] = { getenv("LB_ORIGIN"), "--bogus", NULL };
	char	   *out;

	ck_assert_ptr_nonnull(argv[0]);
	ck_assert_int_eq(lbt_run(argv, 5000, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "usage: origin"));
}
END_TEST

START_TEST(test_stop_and_wait_report_signals)
{
	const char *argv[] = { "/bin/sleep", "60", NULL };
	pid_t	    pid;

	pid = lbt_spawn("sleep", argv);
	ck_assert_int_eq(lbt_wait_exit(pid, 50), -1);
	lbt_signal(pid, SIGUSR1);
	ck_assert_int_eq(lbt_wait_exit(pid, 5000), 128 + SIGUSR1);
	/* Stopping a process that is already gone reports how it went. */
	ck_assert_int_eq(lbt_stop(pid), 128 + SIGUSR1);
}
END_TEST

START_TEST(test_json_getter)
{
	static const char
	    j[] = "{\"a\": \"x\\\"y\\u00e9\\n\", \"n\": -42, "
		  "\"f\": 1.5, \"z\": null, \"arr\": [1, {\"q\": \"]\"}], "
		  "\"o\": {\"p\": {\"k\": 7}, \"s\": \"t\"}, \"d.e\": 3}";

	ck_assert_str_eq(lbt_json_str(j, "a"), "x\"y\xc3\xa9\n");
	ck_assert_int_eq(lbt_json_int(j, "n"), -42);
	ck_assert(lbt_json_int(j, "f") == LLONG_MIN);
	ck_assert(lbt_json_int(j, "missing") == LLONG_MIN);
	ck_assert_ptr_null(lbt_json_str(j, "z"));
	ck_assert_str_eq(lbt_json_raw(j, "z"), "null");
	ck_assert_str_eq(lbt_json_raw(j, "arr"), "[1, {\"q\": \"]\"}]");
	ck_assert_int_eq(lbt_json_int(j, "o.p.k"), 7);
	ck_assert_str_eq(lbt_json_str(j, "o.s"), "t");
	ck_assert_int_eq(lbt_json_int(j, "d.e"), 3);
	ck_assert_ptr_null(lbt_json_raw(j, "o.x"));
	/* Only the top level is searched: "k" is nested. */
	ck_assert_ptr_null(lbt_json_raw(j, "k"));
}
END_TEST

START_TEST(test_pattern_and_crc32)
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyzbcd";
	char		  buf[29];

	/* The check value every CRC-32 implementation agrees on. */
	ck_assert_uint_eq(lbt_crc32(0, "123456789", 9), 0xcbf43926U);
	ck_assert_uint_eq(lbt_crc32(lbt_crc32(0, "1234", 4), "56789", 5),
	    0xcbf43926U);
	lbt_pattern_fill(buf, 0, sizeof(buf));
	ck_assert_mem_eq(buf, abc, sizeof(buf));
	lbt_pattern_fill(buf, 26, 3);
	ck_assert_mem_eq(buf, "bcd", 3);
}
END_TEST

static Suite *
harness_suite(void)
{
	Suite *s = suite_create("harness");
	TCase *tc;

	tc = lbt_tcase("origin");
	tcase_add_test(tc, test_json_describes_the_request);
	tcase_add_test(tc, test_json_fields_are_null_or_empty_when_absent);
	tcase_add_test(tc, test_two_origins_answer_with_their_own_names);
	tcase_add_test(tc, test_v1_and_v2_answer_the_course_bodies);
	tcase_add_test(tc, test_every_method_is_answered);
	tcase_add_test(tc, test_healthcheck_toggles_and_counts_probes);
	tcase_add_test(tc, test_health_fail_flag_starts_failing);
	tcase_add_test(tc, test_delay_answers_later_without_blocking_others);
	tcase_add_test(tc, test_mode_slow_delays_every_request);
	tcase_add_test(tc, test_status_and_header_controls);
	tcase_add_test(tc, test_set_cookie_twice);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("faults");
	tcase_add_test(tc, test_fault_reset_is_seen_as_reset);
	tcase_add_test(tc, test_fault_garbage_is_not_http);
	tcase_add_test(tc, test_fault_close_closes_without_an_answer);
	tcase_add_test(tc, test_fault_partial_sends_half_the_body);
	tcase_add_test(tc, test_mode_reset_applies_to_every_request);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("bodies");
	tcase_add_test(tc, test_body_of_10mib_with_content_length);
	tcase_add_test(tc, test_body_of_10mib_chunked);
	tcase_add_test(tc, test_head_has_a_length_but_no_body);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("connections");
	tcase_add_test(tc, test_keep_alive_keeps_the_connection_id);
	tcase_add_test(tc, test_pipelined_requests_are_answered_in_order);
	tcase_add_test(tc, test_stats_count_application_traffic_only);
	tcase_add_test(tc, test_idle_close_closes_keep_alive_connections);
	tcase_add_test(tc, test_origin_and_client_on_other_loopback_addresses);
	tcase_add_test(tc, test_origin_on_a_fixed_port_and_ipv6);
	tcase_add_test(tc, test_free_port_is_held_until_the_test_ends);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("harness");
	tcase_add_test(tc, test_run_reports_exit_code_and_output);
	tcase_add_test(tc, test_stop_and_wait_report_signals);
	tcase_add_test(tc, test_json_getter);
	tcase_add_test(tc, test_pattern_and_crc32);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(harness_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/it_interop.c -- legal requests and responses that real clients
 * and origins send, and that lbmaster must pass on (issue #16, "truth and
 * interop"): nginx and HAProxy pass every one of them.
 *
 * - A body on any method (GET to Elasticsearch's _search, DELETE with a
 *   body), Content-Length or chunked.
 * - Chunk extensions (RFC 9112 section 7.1.1): accepted, and gone from
 *   what the origin receives (lbmaster re-frames a chunked body).
 * - Any token method (WebDAV's PROPFIND, MKCOL, ...), forwarded as it is.
 * - Empty lines before a request line (RFC 9112 section 2.2), also between
 *   pipelined requests.
 * - 200 request fields in a 6 KB head.
 * - HTTP/1.x of any minor version, handled as HTTP/1.1 (RFC 9110 2.5).
 * - A Content-Length field padded with white space past 256 bytes.
 * - Responses with many fields, or a large head, up to
 *   limits.max_response_header_size.
 *
 * Raw bytes go in; the status, and what the origin received (its JSON
 * description of the request, tests/origin.c), are checked. The origin
 * runs with --raw where a request has a body, so it reads any method's
 * body the way it arrives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

static const char *const raw[] = { "--raw", NULL };

struct scene {
	struct itc_lb lb;
	pid_t	      origin;
	unsigned      fruit;
};

/* lbmaster with one route, www.fruit.com, to one origin (--raw or not). */
static void
scene_start(struct scene *s, bool raw_origin, const char *extra)
{
	s->fruit = 0;
	s->origin = itc_origin("fruit", &s->fruit, raw_origin ? raw : NULL);
	itc_fruit_start(&s->lb, 1, extra, lbt_fmt("127.0.0.1:%u", s->fruit));
}

static void
scene_stop(struct scene *s)
{
	itc_lb_stop(&s->lb);
	ck_assert_int_eq(lbt_stop(s->origin), 0);
}

/*
 * Send RAW (LEN bytes, or strlen when LEN is -1) on a connection of its
 * own; assert a 200 from the origin and return its JSON, harness-owned.
 */
static const char *
forwarded(const struct scene *s, const char *what, const char *raw_req,
    size_t len)
{
	struct lbt_resp r;
	const char     *json;

	if (len == (size_t)-1)
		len = strlen(raw_req);
	ck_assert_msg(lbt_http(NULL, s->lb.port, raw_req, len, &r) == 0,
	    "%s: %s", what, lbt_err_str(r.err));
	ck_assert_msg(r.status == 200, "%s: status %d, body %.300s", what,
	    r.status, r.body);
	json = lbt_fmt("%s", r.body);
	lbt_resp_free(&r);
	return json;
}

static void
assert_body(const char *what, const char *json, const char *body)
{
	ck_assert_msg(lbt_json_int(json, "body_length") ==
		(long long)strlen(body),
	    "%s: the origin got %lld body bytes", what,
	    lbt_json_int(json, "body_length"));
	ck_assert_str_eq(lbt_json_str(json, "body_crc32"),
	    lbt_fmt("%08x", lbt_crc32(0, body, strlen(body))));
}

/* ---------------------------------------------------- bodies anywhere */

struct body_case {
	const char *name;
	const char *method;
	const char *framing; /* the header line */
	const char *bytes;   /* the body as sent */
	const char *body;    /* the body as the origin must get it */
};

static const struct body_case body_cases[] = {
	{ "GET with a Content-Length body", "GET", "Content-Length: 26",
	    "{\"query\":{\"match_all\":{}}}",
	    "{\"query\":{\"match_all\":{}}}" },
	{ "GET with a chunked body", "GET", "Transfer-Encoding: chunked",
	    "5\r\nhello\r\n0\r\n\r\n", "hello" },
	{ "DELETE with a Content-Length body", "DELETE", "Content-Length: 5",
	    "hello", "hello" },
	{ "DELETE with a chunked body", "DELETE", "Transfer-Encoding: chunked",
	    "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", "hello" },
	{ "OPTIONS with a body", "OPTIONS", "Content-Length: 5", "hello",
	    "hello" },
	{ "chunk extensions", "POST", "Transfer-Encoding: chunked",
	    "5;name=value\r\nhello\r\n6 ; a=\"q;\\\"x\" ;b\r\n world\r\n"
	    "0;last\r\n\r\n",
	    "hello world" },
};

/*
 * Each body arrives whole, with the method the client used, and the
 * request after it on the same connection is its own request (the body
 * was framed as the client framed it).
 */
START_TEST(test_any_method_may_carry_a_body)
{
	const struct body_case *bc = &body_cases[_i];
	struct lbt_conn	       *c;
	struct lbt_resp		r;
	struct scene		s;
	const char	       *req, *json;

	scene_start(&s, true, "");
	req =
	    lbt_fmt("%s /_search HTTP/1.1\r\nHost: www.fruit.com\r\n%s\r\n"
		    "\r\n%sGET /after HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n",
		bc->method, bc->framing, bc->bytes);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_send(c, req, strlen(req)), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "%s: %s", bc->name,
	    lbt_err_str(r.err));
	ck_assert_msg(r.status == 200, "%s: status %d, body %.300s", bc->name,
	    r.status, r.body);
	json = lbt_fmt("%s", r.body);
	lbt_resp_free(&r);
	ck_assert_str_eq(lbt_json_str(json, "method"), bc->method);
	assert_body(bc->name, json, bc->body);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "%s, the next: %s",
	    bc->name, lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/after");
	ck_assert_int_eq(lbt_json_int(r.body, "body_length"), 0);
	lbt_resp_free(&r);
	lbt_conn_close(c);
	/* No extension reaches the origin: the body is framed anew. */
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "chunk_exts"), 0);
	ck_assert_int_eq(lbt_origin_stat(s.fruit, "requests"), 2);
	scene_stop(&s);
}
END_TEST

/* ---------------------------------------------------------- methods */

static const char *const methods[] = {
	"PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "PROPPATCH",
	"REPORT", "VERSION-CONTROL", "MKACTIVITY", "SEARCH", "PURGE",
	"X-Custom_Token.1~!", /* any token */
};

/* Forwarded with its name as it came and its body, like any request. */
START_TEST(test_any_token_method_is_forwarded)
{
	const char  *m = methods[_i];
	struct scene s;
	const char  *json;

	scene_start(&s, true, "");
	json = forwarded(&s, m,
	    lbt_fmt("%s /dav/file.txt HTTP/1.1\r\nHost: www.fruit.com\r\n"
		    "Depth: 1\r\nContent-Type: application/xml\r\n"
		    "Content-Length: 7\r\nConnection: close\r\n\r\n<a:b/>\n",
		m),
	    (size_t)-1);
	ck_assert_str_eq(lbt_json_str(json, "method"), m);
	ck_assert_str_eq(lbt_json_str(json, "path"), "/dav/file.txt");
	ck_assert_str_eq(lbt_json_str(json, "headers.Depth"), "1");
	assert_body(m, json, "<a:b/>\n");
	scene_stop(&s);
}
END_TEST

/* ------------------------------------------------------- the head */

/* RFC 9112 section 2.2: empty lines before a request line are ignored. */
START_TEST(test_empty_lines_before_a_request_line_are_ignored)
{
	static const char
	    two[] = "\r\nGET /first HTTP/1.1\r\nHost: www.fruit.com"
		    "\r\n\r\n\r\nGET /second HTTP/1.1\r\n"
		    "Host: www.fruit.com\r\n\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	struct scene	 s;

	scene_start(&s, false, "");
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_send(c, two, sizeof(two) - 1), 0);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "the first: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/first");
	lbt_resp_free(&r);
	ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "the second: %s",
	    lbt_err_str(r.err));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/second");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	scene_stop(&s);
}
END_TEST

/* 200 fields in about 6 KB: every one reaches the origin, in order. */
START_TEST(test_a_head_of_200_fields_is_forwarded_whole)
{
	char	    *head = NULL;
	size_t	     n = 0;
	FILE	    *f;
	struct scene s;
	const char  *json;

	ck_assert_ptr_nonnull(f = open_memstream(&head, &n));
	fprintf(f, "GET /many HTTP/1.1\r\nHost: www.fruit.com\r\n");
	for (int i = 1; i <= 199; i++)
		fprintf(f, "X-Field-%03d: value-%03d-abcdefghij\r\n", i, i);
	fprintf(f, "Connection: close\r\n\r\n");
	fclose(f);
	ck_assert_uint_gt(n, 6000);
	ck_assert_uint_lt(n, 8000);
	scene_start(&s, false, "");
	json = forwarded(&s, "200 fields", head, n);
	free(head);
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Field-001"),
	    "value-001-abcdefghij");
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Field-199"),
	    "value-199-abcdefghij");
	scene_stop(&s);
}
END_TEST

/* RFC 9110 section 2.5: a later 1.x minor is answered as 1.1. */
START_TEST(test_http_1_2_is_handled_as_http_1_1)
{
	static const char
	    two[] = "GET /a HTTP/1.2\r\nHost: www.fruit.com\r\n\r\n"
		    "GET /b HTTP/1.9\r\nHost: www.fruit.com\r\n"
		    "\r\n";
	struct lbt_conn *c;
	struct lbt_resp	 r;
	struct scene	 s;

	scene_start(&s, false, "");
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, s.lb.port));
	ck_assert_int_eq(lbt_conn_send(c, two, sizeof(two) - 1), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(lbt_conn_response(c, 0, &r) == 0, "answer %d: %s",
		    i, lbt_err_str(r.err));
		ck_assert_int_eq(r.status, 200);
		/* Kept alive, as a 1.1 request is. */
		ck_assert_int_eq(r.minor, 1);
		ck_assert_ptr_null(lbt_header(&r, "Connection"));
		ck_assert_str_eq(lbt_json_str(r.body, "path"),
		    i == 0 ? "/a" : "/b");
		lbt_resp_free(&r);
	}
	lbt_conn_close(c);
	scene_stop(&s);
}
END_TEST

/* White space around a value is not part of it, however much. */
START_TEST(test_a_content_length_padded_past_256_bytes)
{
	struct scene s;
	const char  *json;
	char	     pad[400];

	memset(pad, ' ', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	scene_start(&s, true, "");
	json = forwarded(&s, "a padded Content-Length",
	    lbt_fmt("POST /pad HTTP/1.1\r\nHost: www.fruit.com\r\n"
		    "Content-Length: 5%s\r\nConnection: close\r\n\r\nhello",
		pad),
	    (size_t)-1);
	assert_body("a padded Content-Length", json, "hello");
	scene_stop(&s);
}
END_TEST

/* ------------------------------------------------------- responses */

/*
 * A response of FIELDS fields of LEN bytes each, relayed whole or (when
 * STATUS is 502) refused.
 */
static void
expect_response_head(const struct scene *s, int fields, int len, int status)
{
	struct lbt_resp r;
	const char     *req;

	req = lbt_fmt("GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
		      "X-Test-Fill: %d,%d\r\nConnection: close\r\n\r\n",
	    fields, len);
	ck_assert_msg(lbt_http(NULL, s->lb.port, req, strlen(req), &r) == 0,
	    "%d fields of %d bytes: %s", fields, len, lbt_err_str(r.err));
	ck_assert_msg(r.status == status, "%d fields of %d bytes: status %d",
	    fields, len, r.status);
	if (status == 200) {
		ck_assert_uint_eq(lbt_header_count(&r, "X-Fill-1"), 1);
		ck_assert_uint_eq(strlen(lbt_header(&r,
				      lbt_fmt("X-Fill-%d", fields))),
		    (size_t)len);
		ck_assert_str_eq(lbt_json_str(r.body, "path"), "/big");
	}
	lbt_resp_free(&r);
}

/* More fields than any fixed table would hold, within the default size. */
START_TEST(test_a_response_with_500_fields_is_relayed)
{
	struct scene s;

	scene_start(&s, false, "");
	expect_response_head(&s, 500, 20, 200);
	scene_stop(&s);
}
END_TEST

/*
 * limits.max_response_header_size: a 70 KB head passes when the limit
 * allows it, and is a 502 (the origin's fault, logged) under the
 * default 64k.
 */
START_TEST(test_a_70_kb_response_head_is_relayed_up_to_the_limit)
{
	struct scene s;

	scene_start(&s, false, "limits: {max_response_header_size: 128k}\n");
	expect_response_head(&s, 7, 10000, 200);
	expect_response_head(&s, 1, 60000, 200);
	scene_stop(&s);
	scene_start(&s, false, "");
	expect_response_head(&s, 7, 10000, 502);
	expect_response_head(&s, 1, 60000, 200);
	scene_stop(&s);
}
END_TEST

static Suite *
interop_suite(void)
{
	Suite *s = suite_create("interop");
	TCase *tc = tcase_create("interop");

	tcase_add_checked_fixture(tc, lbt_setup, lbt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_any_method_may_carry_a_body, 0,
	    sizeof(body_cases) / sizeof(body_cases[0]));
	tcase_add_loop_test(tc, test_any_token_method_is_forwarded, 0,
	    sizeof(methods) / sizeof(methods[0]));
	tcase_add_test(tc, test_empty_lines_before_a_request_line_are_ignored);
	tcase_add_test(tc, test_a_head_of_200_fields_is_forwarded_whole);
	tcase_add_test(tc, test_http_1_2_is_handled_as_http_1_1);
	tcase_add_test(tc, test_a_content_length_padded_past_256_bytes);
	tcase_add_test(tc, test_a_response_with_500_fields_is_relayed);
	tcase_add_test(tc,
	    test_a_70_kb_response_head_is_relayed_up_to_the_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(interop_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/check_reqscan.c -- the strict request scanner every client byte
 * passes (common/reqscan.h), composed with the body decoder as the client
 * side composes them: what it lets through, what it refuses, and that it
 * answers the same however the bytes are split.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/reqscan.h"

struct scan_case {
	const char *name;
	const char *bytes;
	int	    want;     /* 0, 400 or 431 */
	unsigned    requests; /* complete requests, when want == 0 */
};

static const struct scan_case cases[] = {
	{ "simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 1 },
	{ "HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 0, 1 },
	{ "leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 1 },
	{ "two pipelined",
	    "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
	    0, 2 },
	{ "POST with length",
	    "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\n\r\nhello",
	    0, 1 },
	{ "POST body looks like a request",
	    "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 18\r\n\r\nGET /x HTTP/1.1\r\n\r",
	    0, 1 },
	{ "chunked POST",
	    "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	    0, 1 },
	{ "trailer",
	    "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
	    "Trailer-Field: 1\r\n\r\n",
	    0, 1 },
	{ "tab in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", 0,
	    1 },
	{ "same Content-Length twice",
	    "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
	    0, 1 },
	{ "incomplete head is no error", "GET / HTTP/1.1\r\nHost:", 0, 0 },
	/* Legal, and taken since the worker reads its own requests. */
	{ "GET with a body",
	    "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
	    "GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
	    0, 2 },
	{ "DELETE chunked",
	    "DELETE / HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	    0, 1 },
	{ "a token method with a body",
	    "PROPFIND /d HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 0, 1 },
	{ "chunk extensions",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n5;x=y\r\nhello\r\n2 ; a=\"b;c\"\r\nhi\r\n"
	    "0;z\r\n\r\n",
	    0, 1 },
	{ "HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, 1 },
	{ "HTTP/1.9", "GET / HTTP/1.9\r\nHost: a\r\n\r\n", 0, 1 },
	{ "Content-Length padded past the kept line",
	    "POST / HTTP/1.1\r\nContent-Length: 2"
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "\r\n\r\nhi",
	    0, 1 },

	{ "bare LF ends a line", "GET / HTTP/1.1\nHost: a\n\n", 400, 0 },
	{ "bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, 0 },
	{ "obsolete line folding",
	    "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n"
	    " b\r\n\r\n",
	    400, 0 },
	{ "space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, 0 },
	{ "empty field name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400, 0 },
	{ "no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, 0 },
	{ "CL and TE",
	    "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    400, 0 },
	{ "two different CLs",
	    "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Content-Length: 6\r\n\r\nhello!",
	    400, 0 },
	{ "CL with a sign", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
	    400, 0 },
	{ "TE not chunked",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
	    "\r\n",
	    400, 0 },
	{ "TE chunked twice",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    400, 0 },
	{ "TE in HTTP/1.0",
	    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n0\r\n\r\n",
	    400, 0 },
	{ "chunk size 0x",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
	    400, 0 },
	{ "chunk size +",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
	    400, 0 },
	{ "chunk size leading space",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
	    400, 0 },
	{ "chunk data too long",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
	    400, 0 },
	{ "no version", "GET /\r\n\r\n", 400, 0 },
	{ "HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 400, 0 },
	{ "HTTP/1.x", "GET / HTTP/1.x\r\n\r\n", 400, 0 },
	{ "HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", 400, 0 },
	{ "chunk extension without a name",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
	    400, 0 },
	/* What lies past the bytes kept of a line still counts. */
	{ "Content-Length with digits past the kept line",
	    "POST / HTTP/1.1\r\nContent-Length: 2"
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "5\r\n\r\nhi",
	    400, 0 },
	{ "Transfer-Encoding with a coding past the kept line",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked"
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    "                                                  "
	    ", gzip\r\n\r\n0\r\n\r\n",
	    400, 0 },
	{ "two spaces", "GET  / HTTP/1.1\r\n\r\n", 400, 0 },
	{ "space in target", "GET /a b HTTP/1.1\r\n\r\n", 400, 0 },
	{ "tab in the query", "GET /a?x\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    0 },
	{ "tab as a separator", "GET\t/ HTTP/1.1\r\n\r\n", 400, 0 },
	{ "method not a token", "G(T / HTTP/1.1\r\n\r\n", 400, 0 },
	{ "garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, 0 },
};

static int
feed_split(const struct scan_case *c, size_t step, unsigned *requests)
{
	struct lb_reqscan s;
	size_t		  len = strlen(c->bytes);
	int		  rc = 0;
	lb_reqscan_init(&s, 32 * 1024);
	for (size_t off = 0; off < len && rc == 0; off += step) {
		size_t n = len - off < step ? len - off : step;

		rc = lb_reqscan_feed(&s, c->bytes + off, n);
	}
	*requests = (unsigned)s.requests;
	return rc;
}

START_TEST(test_scanner_cases_whole_and_byte_by_byte)
{
	const struct scan_case *c = &cases[_i];
	unsigned		req;
	int			rc;

	rc = feed_split(c, 1 << 20, &req);
	ck_assert_msg(rc == c->want, "%s: got %d, want %d", c->name, rc,
	    c->want);
	if (c->want == 0)
		ck_assert_msg(req == c->requests, "%s: %u requests, want %u",
		    c->name, req, c->requests);
	rc = feed_split(c, 1, &req);
	ck_assert_msg(rc == c->want, "%s byte by byte: got %d, want %d",
	    c->name, rc, c->want);
}
END_TEST

START_TEST(test_nul_in_a_value_is_400)
{
	static const char req[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
	struct lb_reqscan s;

	lb_reqscan_init(&s, 32 * 1024);
	ck_assert_int_eq(lb_reqscan_feed(&s, req, sizeof(req) - 1), 400);
}
END_TEST

START_TEST(test_head_over_the_limit_is_431)
{
	struct lb_reqscan s;
	char		  big[600];

	lb_reqscan_init(&s, 512);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(lb_reqscan_feed(&s, "GET / HTTP/1.1\r\nX: ", 19), 0);
	ck_assert_int_eq(lb_reqscan_feed(&s, big, sizeof(big)), 431);
	/* Failed for good: even valid bytes are refused now. */
	ck_assert_int_eq(lb_reqscan_feed(&s, "\r\n\r\n", 4), 431);
}
END_TEST

START_TEST(test_long_url_within_the_limit_is_fine)
{
	struct lb_reqscan s;
	char		 *req = malloc(9000);

	ck_assert_ptr_nonnull(req);
	strcpy(req, "GET /");
	memset(req + 5, 'u', 8000);
	strcpy(req + 8005, " HTTP/1.1\r\nHost: a\r\n\r\n");
	lb_reqscan_init(&s, 32 * 1024);
	ck_assert_int_eq(lb_reqscan_feed(&s, req, strlen(req)), 0);
	ck_assert_uint_eq(s.requests, 1);
	free(req);
}
END_TEST

START_TEST(test_too_many_fields_is_431)
{
	struct lb_reqscan s;

	lb_reqscan_init(&s, 1 << 20);
	ck_assert_int_eq(lb_reqscan_feed(&s, "GET / HTTP/1.1\r\n", 16), 0);
	for (int i = 0; i < LB_SCAN_MAX_HEADERS; i++)
		ck_assert_int_eq(lb_reqscan_feed(&s, "X: y\r\n", 6), 0);
	ck_assert_int_eq(lb_reqscan_feed(&s, "X: y\r\n", 6), 431);
}
END_TEST

START_TEST(test_waiting_tracks_head_then_body_then_idle)
{
	struct lb_reqscan s;
	unsigned	  serial;

	lb_reqscan_init(&s, 32 * 1024);
	ck_assert_int_eq(lb_reqscan_waiting(&s), LB_SCAN_IDLE);
	static const char head[] = "POST / HTTP/1.1\r\nContent-Length: 4\r\n";

	lb_reqscan_feed(&s, head, sizeof(head) - 1);
	ck_assert_int_eq(lb_reqscan_waiting(&s), LB_SCAN_HEAD);
	serial = s.serial;
	lb_reqscan_feed(&s, "\r\nab", 4);
	ck_assert_int_eq(lb_reqscan_waiting(&s), LB_SCAN_BODY);
	/* The body gets a deadline of its own. */
	ck_assert_uint_ne(s.serial, serial);
	lb_reqscan_feed(&s, "cd", 2);
	ck_assert_int_eq(lb_reqscan_waiting(&s), LB_SCAN_IDLE);
	ck_assert_uint_eq(s.requests, 1);
}
END_TEST

static Suite *
reqscan_suite(void)
{
	Suite *s = suite_create("reqscan");
	TCase *tc = tcase_create("scan");

	tcase_add_loop_test(tc, test_scanner_cases_whole_and_byte_by_byte, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_nul_in_a_value_is_400);
	tcase_add_test(tc, test_head_over_the_limit_is_431);
	tcase_add_test(tc, test_long_url_within_the_limit_is_fine);
	tcase_add_test(tc, test_too_many_fields_is_431);
	tcase_add_test(tc, test_waiting_tracks_head_then_body_then_idle);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reqscan_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/check_proxyproto.c -- the PROXY protocol header reader
 * (common/proxyproto.h): versions 1 and 2, TCP4, TCP6, LOCAL and
 * UNKNOWN, headers that come in pieces, and what is refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/proxyproto.h"

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

static const char *
src_of(const struct lb_proxyhdr *h, unsigned *port)
{
	static char buf[INET6_ADDRSTRLEN];

	if (h->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&h->src;

		*port = ntohs(s->sin_port);
		return inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf));
	}
	const struct sockaddr_in6 *s = (const void *)&h->src;

	*port = ntohs(s->sin6_port);
	return inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf));
}

START_TEST(test_v1_tcp4_gives_the_source_and_its_length)
{
	static const char  in[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443"
				  "\r\nGET / HTTP/1.1\r\n";
	struct lb_proxyhdr h;
	unsigned	   port;

	ck_assert_int_eq(lb_proxyhdr_parse(in, strlen(in), &h), 45);
	ck_assert_int_eq(h.version, 1);
	ck_assert(!h.local);
	ck_assert_str_eq(src_of(&h, &port), "192.0.2.1");
	ck_assert_uint_eq(port, 56324);
}
END_TEST

START_TEST(test_v1_tcp6_and_unknown)
{
	static const char  six[] = "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n";
	static const char  unk[] = "PROXY UNKNOWN ffff::1 whatever\r\n";
	struct lb_proxyhdr h;
	unsigned	   port;

	ck_assert_int_eq(lb_proxyhdr_parse(six, strlen(six), &h),
	    (ssize_t)strlen(six));
	ck_assert_str_eq(src_of(&h, &port), "2001:db8::1");
	ck_assert_int_eq(lb_proxyhdr_parse(unk, strlen(unk), &h),
	    (ssize_t)strlen(unk));
	ck_assert(h.local);
}
END_TEST

START_TEST(test_v1_that_is_not_quite_right_is_refused)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n",
		"PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",
		"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
		"PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 0443 443\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n",
		"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\r\n",
		"proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
		"GET / HTTP/1.1\r\n",
	};
	struct lb_proxyhdr h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lb_proxyhdr_parse(bad[i], strlen(bad[i]), &h) ==
			-1,
		    "accepted: %s", bad[i]);
}
END_TEST

START_TEST(test_v1_in_pieces_needs_more_until_the_line_ends)
{
	static const char  in[] = "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n";
	struct lb_proxyhdr h;

	for (size_t n = 0; n < strlen(in); n++)
		ck_assert_int_eq(lb_proxyhdr_parse(in, n, &h), 0);
	ck_assert_int_eq(lb_proxyhdr_parse(in, strlen(in), &h),
	    (ssize_t)strlen(in));
}
END_TEST

START_TEST(test_v1_longer_than_107_bytes_is_refused)
{
	char		   in[200];
	struct lb_proxyhdr h;

	memset(in, 'x', sizeof(in));
	memcpy(in, "PROXY UNKNOWN ", 14);
	ck_assert_int_eq(lb_proxyhdr_parse(in, 106, &h), 0);
	ck_assert_int_eq(lb_proxyhdr_parse(in, 107, &h), -1);
	memcpy(in + 105, "\r\n", 2);
	ck_assert_int_eq(lb_proxyhdr_parse(in, 107, &h), 107);
}
END_TEST

START_TEST(test_v2_tcp4_tcp6_and_local)
{
	static const unsigned char four[] = V2SIG "\x21\x11\x00\x0c"
						  "\xc0\x00\x02\x01"
						  "\xc6\x33\x64\x02"
						  "\xdc\x04\x01\xbb"
						  "GET";
	static const unsigned char local[] = V2SIG "\x20\x00\x00\x03"
						   "abc";
	unsigned char		   six[16 + 36 + 5];
	struct lb_proxyhdr	   h;
	unsigned		   port;

	ck_assert_int_eq(lb_proxyhdr_parse(four, sizeof(four) - 1, &h), 28);
	ck_assert_int_eq(h.version, 2);
	ck_assert_str_eq(src_of(&h, &port), "192.0.2.1");
	ck_assert_uint_eq(port, 56324);

	memcpy(six, V2SIG "\x21\x21\x00\x29", 16);
	memset(six + 16, 0, sizeof(six) - 16);
	inet_pton(AF_INET6, "2001:db8::7", six + 16);
	six[48] = 0x01; /* port 256 + 2 */
	six[49] = 0x02;
	memcpy(six + 52, "\x04\x00\x02zz", 5); /* a TLV, skipped */
	ck_assert_int_eq(lb_proxyhdr_parse(six, sizeof(six), &h), 57);
	ck_assert_str_eq(src_of(&h, &port), "2001:db8::7");
	ck_assert_uint_eq(port, 258);

	ck_assert_int_eq(lb_proxyhdr_parse(local, sizeof(local) - 1, &h), 19);
	ck_assert(h.local);
}
END_TEST

START_TEST(test_v2_that_is_not_quite_right_is_refused)
{
	struct lb_proxyhdr h;

	/* Version 1 in a v2 signature; command 2; UDP; too short for TCP4;
	 * longer than LB_PP_MAX. */
	ck_assert_int_eq(lb_proxyhdr_parse(V2SIG "\x11\x11\x00\x0c", 16, &h),
	    -1);
	ck_assert_int_eq(lb_proxyhdr_parse(V2SIG "\x22\x11\x00\x0c", 16, &h),
	    -1);
	ck_assert_int_eq(lb_proxyhdr_parse(V2SIG "\x21\x12\x00\x0c", 16, &h),
	    -1);
	ck_assert_int_eq(lb_proxyhdr_parse(V2SIG "\x21\x11\x00\x08", 16, &h),
	    -1);
	ck_assert_int_eq(lb_proxyhdr_parse(V2SIG "\x20\x00\x04\x01", 16, &h),
	    -1);
	/* Half a header: more. */
	ck_assert_int_eq(lb_proxyhdr_parse(V2SIG "\x21\x11\x00\x0c", 16, &h),
	    0);
	ck_assert_int_eq(lb_proxyhdr_parse(V2SIG, 7, &h), 0);
	ck_assert_int_eq(lb_proxyhdr_parse("\r\n\r\nX", 5, &h), -1);
}
END_TEST

static Suite *
proxyproto_suite(void)
{
	Suite *s = suite_create("proxyproto");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_v1_tcp4_gives_the_source_and_its_length);
	tcase_add_test(tc, test_v1_tcp6_and_unknown);
	tcase_add_test(tc, test_v1_that_is_not_quite_right_is_refused);
	tcase_add_test(tc, test_v1_in_pieces_needs_more_until_the_line_ends);
	tcase_add_test(tc, test_v1_longer_than_107_bytes_is_refused);
	tcase_add_test(tc, test_v2_tcp4_tcp6_and_local);
	tcase_add_test(tc, test_v2_that_is_not_quite_right_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proxyproto_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/check_addr.c -- "host:port" text, listen addresses, resolution,
 * formatting and CIDR blocks (common/addr.c).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/addr.h"

/* ---------------------------------------------------------- lb_addr_split */

static const struct split_case {
	const char *text;
	unsigned    defport;
	int	    rc;
	const char *host; /* when rc == 0 */
	unsigned    port;
	const char *err; /* when rc == -1: the exact message */
} split_cases[] = {
	{ "localhost:8081", 0, 0, "localhost", 8081, NULL },
	{ "1.2.3.4:80", 0, 0, "1.2.3.4", 80, NULL },
	{ "[::1]:80", 0, 0, "::1", 80, NULL },
	{ "[2001:db8::1]:65535", 0, 0, "2001:db8::1", 65535, NULL },
	{ "example.com:1", 0, 0, "example.com", 1, NULL },
	{ "localhost", 80, 0, "localhost", 80, NULL },
	{ "[::1]", 443, 0, "::1", 443, NULL },
	{ "localhost:8081", 80, 0, "localhost", 8081, NULL },
	{ "localhost:99999", 0, -1, NULL, 0,
	    "port 99999 out of range (1-65535)" },
	{ "localhost:65536", 0, -1, NULL, 0,
	    "port 65536 out of range (1-65535)" },
	{ "localhost:0", 0, -1, NULL, 0, "port 0 out of range (1-65535)" },
	{ "[::1]:99999", 0, -1, NULL, 0, "port 99999 out of range (1-65535)" },
	{ "h:123456789012345678901234567890", 0, -1, NULL, 0,
	    "port 123456789012345678901234567890 out of range (1-65535)" },
	{ "localhost", 0, -1, NULL, 0, "missing port in \"localhost\"" },
	{ "[::1]", 0, -1, NULL, 0, "missing port in \"[::1]\"" },
	{ "localhost:", 80, -1, NULL, 0, "missing port in \"localhost:\"" },
	{ ":8080", 0, -1, NULL, 0, "missing host in \":8080\"" },
	{ "localhost:http", 0, -1, NULL, 0, "invalid port \"http\"" },
	{ "localhost:+80", 0, -1, NULL, 0, "invalid port \"+80\"" },
	{ "localhost: 80", 0, -1, NULL, 0, "invalid port \" 80\"" },
	{ "[::1", 0, -1, NULL, 0, "missing ']' in \"[::1\"" },
	{ "[::1]80", 0, -1, NULL, 0,
	    "unexpected \"80\" after ']' in \"[::1]80\"" },
	{ "[1.2.3.4]:80", 0, -1, NULL, 0,
	    "brackets hold an IPv6 address in \"[1.2.3.4]:80\"" },
	{ "::1:80", 0, -1, NULL, 0,
	    "IPv6 address must be in brackets, as "
	    "in \"[::1]:80\": \"::1:80\"" },
};

START_TEST(test_split_host_and_port)
{
	const struct split_case *c = &split_cases[_i];
	char			 host[256], err[256];
	unsigned		 port = 12345;
	int			 rc;

	err[0] = '\0';
	rc = lb_addr_split(c->text, host, sizeof(host), &port, c->defport, err,
	    sizeof(err));
	ck_assert_msg(rc == c->rc, "\"%s\": rc %d, want %d (%s)", c->text, rc,
	    c->rc, err);
	if (rc == 0) {
		ck_assert_str_eq(host, c->host);
		ck_assert_uint_eq(port, c->port);
	} else
		ck_assert_str_eq(err, c->err);
}
END_TEST

START_TEST(test_split_refuses_host_longer_than_buffer)
{
	char	 host[8], err[128];
	unsigned port;

	ck_assert_int_eq(lb_addr_split("abcdefgh:80", host, sizeof(host), &port,
			     0, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(lb_addr_split("abcdefg:80", host, sizeof(host), &port,
			     0, err, sizeof(err)),
	    0);
	ck_assert_str_eq(host, "abcdefg");
}
END_TEST

START_TEST(test_split_tolerates_null_error_buffer)
{
	char	 host[64];
	unsigned port;

	ck_assert_int_eq(lb_addr_split("x:0", host, sizeof(host), &port, 0,
			     NULL, 0),
	    -1);
}
END_TEST

/* --------------------------------------------------- lb_addr_parse_listen */

static const struct listen_case {
	const char *text;
	const char *want; /* lb_addr_format, or NULL: refused */
} listen_cases[] = {
	{ "0.0.0.0:8080", "0.0.0.0:8080" },
	{ "127.0.0.1:80", "127.0.0.1:80" },
	{ "[::]:8080", "[::]:8080" },
	{ "[::1]:443", "[::1]:443" },
	{ "*:8080", "0.0.0.0:8080" },
	{ ":8080", "0.0.0.0:8080" },
	{ "8080", "0.0.0.0:8080" },
	{ "localhost:8080", NULL },
	{ "example.com:80", NULL },
	{ "127.1:80", NULL }, /* inet_aton shorthand: ambiguous */
	{ "0.0.0.0", NULL },
	{ "99999", NULL },
	{ "0", NULL },
	{ "[1.2.3.4]:80", NULL },
	{ "[::1]:0", NULL },
	{ "[zz::1]:80", NULL },
	{ "", NULL },
};

START_TEST(test_parse_listen_numeric_forms)
{
	const struct listen_case *c = &listen_cases[_i];
	struct lb_sockaddr	  sa;
	char			  err[256] = "", buf[LB_ADDRSTRLEN];
	int			  rc;

	rc = lb_addr_parse_listen(c->text, &sa, err, sizeof(err));
	if (c->want == NULL) {
		ck_assert_msg(rc == -1, "\"%s\" accepted", c->text);
		ck_assert_msg(err[0] != '\0', "\"%s\": no message", c->text);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\": %s", c->text, err);
	lb_addr_format((struct sockaddr *)&sa.ss, buf, sizeof(buf));
	ck_assert_str_eq(buf, c->want);
	ck_assert_uint_eq(sa.len,
	    sa.ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
					 sizeof(struct sockaddr_in6));
}
END_TEST

START_TEST(test_parse_listen_reports_port_range)
{
	struct lb_sockaddr sa;
	char		   err[256];

	ck_assert_int_eq(lb_addr_parse_listen("0.0.0.0:99999", &sa, err,
			     sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "port 99999 out of range (1-65535)");
}
END_TEST

/* -------------------------------------------------------- lb_addr_resolve */

START_TEST(test_resolve_literal_gives_one_address)
{
	struct lb_sockaddr *v;
	size_t		    n;
	char		    err[256], buf[LB_ADDRSTRLEN];

	ck_assert_int_eq(lb_addr_resolve("127.0.0.1", 8081, &v, &n, err,
			     sizeof(err)),
	    0);
	ck_assert_uint_eq(n, 1);
	lb_addr_format((struct sockaddr *)&v[0].ss, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1:8081");
	free(v);

	ck_assert_int_eq(lb_addr_resolve("::1", 80, &v, &n, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(n, 1);
	lb_addr_format((struct sockaddr *)&v[0].ss, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:80");
	free(v);
}
END_TEST

START_TEST(test_resolve_localhost_has_no_duplicates)
{
	struct lb_sockaddr *v;
	size_t		    n;
	char		    err[256], buf[LB_ADDRSTRLEN];
	bool		    loop4 = false;

	ck_assert_int_eq(lb_addr_resolve("localhost", 8081, &v, &n, err,
			     sizeof(err)),
	    0);
	ck_assert_uint_ge(n, 1);
	for (size_t i = 0; i < n; i++) {
		lb_addr_format((struct sockaddr *)&v[i].ss, buf, sizeof(buf));
		if (strcmp(buf, "127.0.0.1:8081") == 0)
			loop4 = true;
		else
			ck_assert_str_eq(buf, "[::1]:8081");
		for (size_t j = 0; j < i; j++)
			ck_assert(!lb_addr_equal((struct sockaddr *)&v[i].ss,
			    (struct sockaddr *)&v[j].ss));
	}
	ck_assert(loop4);
	free(v);
}
END_TEST

START_TEST(test_resolve_failure_fills_err)
{
	struct lb_sockaddr *v = (void *)1;
	size_t		    n = 7;
	char		    err[256] = "";

	ck_assert_int_eq(lb_addr_resolve("no-such-host.invalid", 80, &v, &n,
			     err, sizeof(err)),
	    -1);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
	ck_assert_msg(strstr(err, "no-such-host.invalid") != NULL, "%s", err);

	ck_assert_int_eq(lb_addr_resolve("127.0.0.1", 70000, &v, &n, err,
			     sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "port 70000 out of range (1-65535)");
}
END_TEST

/* ------------------------------------------------- formatting and equality */

static void
make_sa(const char *ip, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
}

START_TEST(test_format_with_and_without_port)
{
	static const struct {
		const char *ip;
		unsigned    port;
		const char *full, *host;
	} cases[] = {
		{ "1.2.3.4", 80, "1.2.3.4:80", "1.2.3.4" },
		{ "0.9.10.99", 1, "0.9.10.99:1", "0.9.10.99" },
		{ "100.199.200.255", 2, "100.199.200.255:2",
		    "100.199.200.255" },
		{ "::1", 80, "[::1]:80", "::1" },
		{ "::ffff:10.0.0.1", 65535, "[::ffff:10.0.0.1]:65535",
		    "::ffff:10.0.0.1" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
		    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	};
	struct sockaddr_storage ss;
	char			buf[LB_ADDRSTRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_sa(cases[i].ip, cases[i].port, &ss);
		lb_addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].full);
		lb_addr_format_host((struct sockaddr *)&ss, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].host);
	}
}
END_TEST

START_TEST(test_format_truncates_safely)
{
	struct sockaddr_storage ss;
	char			buf[8];

	make_sa("123.123.123.123", 65535, &ss);
	memset(buf, 'x', sizeof(buf));
	lb_addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	ck_assert_str_eq(buf, "123.123");
}
END_TEST

START_TEST(test_equal_compares_family_address_and_port)
{
	struct sockaddr_storage a, b;

	make_sa("1.2.3.4", 80, &a);
	make_sa("1.2.3.4", 80, &b);
	ck_assert(lb_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	make_sa("1.2.3.4", 81, &b);
	ck_assert(!lb_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	make_sa("1.2.3.5", 80, &b);
	ck_assert(!lb_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	make_sa("::ffff:1.2.3.4", 80, &b);
	ck_assert(!lb_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	make_sa("::1", 80, &a);
	make_sa("::1", 80, &b);
	ck_assert(lb_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	make_sa("::2", 80, &b);
	ck_assert(!lb_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
}
END_TEST

/* ----------------------------------------------------------------- CIDR */

static const struct cidr_case {
	const char *text;
	const char *want; /* lb_cidr_format, or NULL: refused */
	unsigned    prefix;
} cidr_cases[] = {
	{ "10.0.0.0/8", "10.0.0.0/8", 8 },
	{ "10.1.2.3", "10.1.2.3", 32 },
	{ "10.1.2.3/32", "10.1.2.3", 32 },
	{ "10.1.2.3/8", "10.0.0.0/8", 8 }, /* host bits cleared */
	{ "10.255.255.255/9", "10.128.0.0/9", 9 },
	{ "192.168.1.77/27", "192.168.1.64/27", 27 },
	{ "0.0.0.0/0", "0.0.0.0/0", 0 },
	{ "1.2.3.4/0", "0.0.0.0/0", 0 },
	{ "2001:db8::/32", "2001:db8::/32", 32 },
	{ "2001:db8:ffff::1/33", "2001:db8:8000::/33", 33 },
	{ "::1", "::1", 128 },
	{ "::/0", "::/0", 0 },
	{ "fe80::1/10", "fe80::/10", 10 },
	{ "10.0.0.0/33", NULL, 0 },
	{ "::/129", NULL, 0 },
	{ "10.0.0.0/", NULL, 0 },
	{ "10.0.0.0/-1", NULL, 0 },
	{ "10.0.0.0/+8", NULL, 0 },
	{ "10.0.0.0/0008", NULL, 0 },
	{ "10.0.0.0/8x", NULL, 0 },
	{ "10.0.0", NULL, 0 },
	{ "10.0.0.256", NULL, 0 },
	{ "localhost", NULL, 0 },
	{ "/8", NULL, 0 },
	{ "", NULL, 0 },
	{ "[::1]", NULL, 0 },
};

START_TEST(test_cidr_parse_and_format)
{
	const struct cidr_case *c = &cidr_cases[_i];
	struct lb_cidr		cidr, again;
	char			err[256] = "", buf[LB_ADDRSTRLEN];
	int			rc;

	rc = lb_cidr_parse(c->text, &cidr, err, sizeof(err));
	if (c->want == NULL) {
		ck_assert_msg(rc == -1, "\"%s\" accepted", c->text);
		ck_assert_msg(strstr(err, c->text) != NULL, "\"%s\": %s",
		    c->text, err);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\": %s", c->text, err);
	ck_assert_uint_eq(cidr.prefix, c->prefix);
	lb_cidr_format(&cidr, buf, sizeof(buf));
	ck_assert_str_eq(buf, c->want);
	/* What we print reads back as the same block. */
	ck_assert_int_eq(lb_cidr_parse(buf, &again, err, sizeof(err)), 0);
	ck_assert_mem_eq(&again, &cidr, sizeof(cidr));
}
END_TEST

START_TEST(test_cidr_prefix_range_message)
{
	struct lb_cidr c;
	char	       err[256];

	ck_assert_int_eq(lb_cidr_parse("10.0.0.0/33", &c, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err,
	    "prefix length 33 out of range (0-32) in \"10.0.0.0/33\"");
	ck_assert_int_eq(lb_cidr_parse("::/200", &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err,
	    "prefix length 200 out of range (0-128) in \"::/200\"");
}
END_TEST

static const struct match_case {
	const char *cidr;
	const char *peer;
	bool	    match;
} match_cases[] = {
	{ "10.0.0.0/8", "10.0.0.1", true },
	{ "10.0.0.0/8", "10.255.255.255", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "9.255.255.255", false },
	{ "10.192.0.1", "10.192.0.1", true },
	{ "10.192.0.1", "10.192.0.2", false },
	{ "192.168.1.64/27", "192.168.1.95", true },
	{ "192.168.1.64/27", "192.168.1.96", false },
	{ "192.168.1.64/27", "192.168.1.63", false },
	{ "0.0.0.0/0", "203.0.113.9", true },
	/* A dual-stack listener sees IPv4 clients as mapped addresses. */
	{ "10.0.0.0/8", "::ffff:10.1.2.3", true },
	{ "10.0.0.0/8", "::ffff:11.1.2.3", false },
	{ "10.192.0.1", "::ffff:10.192.0.1", true },
	{ "0.0.0.0/0", "::ffff:1.2.3.4", true },
	/* ...but not IPv4-compatible or arbitrary IPv6 addresses. */
	{ "10.0.0.0/8", "::10.1.2.3", false },
	{ "0.0.0.0/0", "2001:db8::1", false },
	{ "0.0.0.0/0", "::1", false },
	{ "2001:db8::/32", "2001:db8::1", true },
	{ "2001:db8::/32", "2001:db8:ffff:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::1", false },
	{ "2001:db8:8000::/33", "2001:db8:7fff::1", false },
	{ "2001:db8:8000::/33", "2001:db8:8000::1", true },
	{ "::1", "::1", true },
	{ "::1", "::2", false },
	{ "::/0", "2001:db8::1", true },
	/* An IPv6 block does not cover IPv4 peers. */
	{ "::/0", "10.0.0.1", false },
	{ "::ffff:0:0/96", "::ffff:10.0.0.1", true },
	{ "::ffff:0:0/96", "10.0.0.1", false },
};

START_TEST(test_cidr_match_peers)
{
	const struct match_case *c = &match_cases[_i];
	struct lb_cidr		 cidr;
	struct sockaddr_storage	 ss;
	char			 err[256];

	ck_assert_int_eq(lb_cidr_parse(c->cidr, &cidr, err, sizeof(err)), 0);
	make_sa(c->peer, 1234, &ss);
	ck_assert_msg(lb_cidr_match(&cidr, (struct sockaddr *)&ss) == c->match,
	    "%s in %s: want %s", c->peer, c->cidr, c->match ? "yes" : "no");
}
END_TEST

START_TEST(test_cidr_match_ignores_other_families)
{
	struct lb_cidr		cidr;
	struct sockaddr_storage ss;
	char			err[256];

	ck_assert_int_eq(lb_cidr_parse("0.0.0.0/0", &cidr, err, sizeof(err)),
	    0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert(!lb_cidr_match(&cidr, (struct sockaddr *)&ss));
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc;

	tc = tcase_create("split");
	tcase_add_loop_test(tc, test_split_host_and_port, 0,
	    sizeof(split_cases) / sizeof(split_cases[0]));
	tcase_add_test(tc, test_split_refuses_host_longer_than_buffer);
	tcase_add_test(tc, test_split_tolerates_null_error_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen");
	tcase_add_loop_test(tc, test_parse_listen_numeric_forms, 0,
	    sizeof(listen_cases) / sizeof(listen_cases[0]));
	tcase_add_test(tc, test_parse_listen_reports_port_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("resolve");
	tcase_add_test(tc, test_resolve_literal_gives_one_address);
	tcase_add_test(tc, test_resolve_localhost_has_no_duplicates);
	tcase_add_test(tc, test_resolve_failure_fills_err);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_format_with_and_without_port);
	tcase_add_test(tc, test_format_truncates_safely);
	tcase_add_test(tc, test_equal_compares_family_address_and_port);
	suite_add_tcase(s, tc);

	tc = tcase_create("cidr");
	tcase_add_loop_test(tc, test_cidr_parse_and_format, 0,
	    sizeof(cidr_cases) / sizeof(cidr_cases[0]));
	tcase_add_test(tc, test_cidr_prefix_range_message);
	tcase_add_loop_test(tc, test_cidr_match_peers, 0,
	    sizeof(match_cases) / sizeof(match_cases[0]));
	tcase_add_test(tc, test_cidr_match_ignores_other_families);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

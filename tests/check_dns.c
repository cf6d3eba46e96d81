/*
 * tests/check_dns.c -- the SRV query lbmaster sends and the answers it
 * reads (common/dns.c), byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/dns.h"

/* An answer to query 0x1234 for _http._tcp.web.test: N SRV records. */
static size_t
answer(uint8_t *m, uint16_t id, int rcode, int n, int tc)
{
	static const uint8_t q[] = "\x05_http\x04_tcp\x03web\x04test";
	size_t		     len = 0;

	m[len++] = id >> 8;
	m[len++] = id & 0xff;
	m[len++] = 0x81 | (tc ? 0x02 : 0);
	m[len++] = 0x80 | (uint8_t)rcode;
	m[len++] = 0;
	m[len++] = 1;
	m[len++] = 0;
	m[len++] = (uint8_t)n;
	memset(m + len, 0, 4);
	len += 4;
	memcpy(m + len, q, sizeof(q)); /* with its root label */
	len += sizeof(q);
	memcpy(m + len, "\x00\x21\x00\x01", 4);
	len += 4;
	for (int i = 0; i < n; i++) {
		/* Owner: a pointer to the question's name (offset 12). */
		memcpy(m + len, "\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x1e", 10);
		len += 10;
		/* rdlength: 6 + "\x01t\x04test\x00" (8) */
		m[len++] = 0;
		m[len++] = 14;
		m[len++] = 0;
		m[len++] = (uint8_t)(10 * i); /* priority */
		m[len++] = 0;
		m[len++] = (uint8_t)(i + 1); /* weight */
		m[len++] = 0x1f;
		m[len++] = (uint8_t)(0x90 + i); /* port 8080 + i */
		memcpy(m + len, "\x01t\x04TEST\x00", 8);
		len += 8;
	}
	return len;
}

START_TEST(test_query_is_a_recursive_srv_question_with_edns)
{
	uint8_t b[512];
	int	n = lb_dns_query(b, sizeof(b), 0xbeef, "_http._tcp.web.test",
		LB_DNS_SRV);

	ck_assert_int_eq(n, 12 + 21 + 4 + 11);
	ck_assert_int_eq(b[0], 0xbe);
	ck_assert_int_eq(b[1], 0xef);
	ck_assert_int_eq(b[2], 0x01); /* RD */
	ck_assert_int_eq(b[5], 1);    /* one question */
	ck_assert_int_eq(b[11], 1);   /* one OPT */
	ck_assert_mem_eq(b + 12, "\x05_http\x04_tcp\x03web\x04test\x00", 21);
	ck_assert_mem_eq(b + 33, "\x00\x21\x00\x01", 4);
	ck_assert_mem_eq(b + 37, "\x00\x00\x29\x10\x00", 5);
	ck_assert_int_eq(lb_dns_query(b, sizeof(b), 1, "a..b", LB_DNS_A), -1);
	ck_assert_int_eq(lb_dns_query(b, 20, 1, "_http._tcp.web.test",
			     LB_DNS_SRV),
	    -1);
}
END_TEST

START_TEST(test_answer_gives_every_srv_record)
{
	uint8_t		 m[1024];
	struct lb_dns_rr r[4];
	int		 rcode = -1;
	size_t		 len = answer(m, 0x1234, 0, 2, 0);

	ck_assert_int_eq(lb_dns_parse(m, len, 0x1234, "_http._tcp.web.test",
			     LB_DNS_SRV, &rcode, r, 4),
	    2);
	ck_assert_int_eq(rcode, 0);
	ck_assert_int_eq(r[0].priority, 0);
	ck_assert_int_eq(r[0].weight, 1);
	ck_assert_int_eq(r[0].port, 8080);
	ck_assert_int_eq(r[0].ttl, 30);
	ck_assert_str_eq(r[0].target, "t.test");
	ck_assert_int_eq(r[1].priority, 10);
	ck_assert_int_eq(r[1].weight, 2);
	ck_assert_int_eq(r[1].port, 8081);
	/* At most MAX are kept. */
	ck_assert_int_eq(lb_dns_parse(m, len, 0x1234, "_http._tcp.web.test",
			     LB_DNS_SRV, &rcode, r, 1),
	    1);
}
END_TEST

START_TEST(test_other_answers_are_refused_or_empty)
{
	uint8_t		 m[1024];
	struct lb_dns_rr r[4];
	int		 rcode = -1;
	size_t		 len;

	len = answer(m, 0x1234, 3, 0, 0);
	ck_assert_int_eq(lb_dns_parse(m, len, 0x1234, "_http._tcp.web.test",
			     LB_DNS_SRV, &rcode, r, 4),
	    0);
	ck_assert_int_eq(rcode, LB_DNS_NXDOMAIN);
	/* Another query's id, another name, truncated, cut short. */
	len = answer(m, 0x1234, 0, 2, 0);
	ck_assert_int_eq(lb_dns_parse(m, len, 0x1235, "_http._tcp.web.test",
			     LB_DNS_SRV, &rcode, r, 4),
	    -1);
	ck_assert_int_eq(lb_dns_parse(m, len, 0x1234, "_http._tcp.x.test",
			     LB_DNS_SRV, &rcode, r, 4),
	    -1);
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(lb_dns_parse(m, cut, 0x1234,
				     "_http._tcp.web.test", LB_DNS_SRV, &rcode,
				     r, 4),
		    -1);
	len = answer(m, 0x1234, 0, 2, 1);
	ck_assert_int_eq(lb_dns_parse(m, len, 0x1234, "_http._tcp.web.test",
			     LB_DNS_SRV, &rcode, r, 4),
	    -1);
	/* A compression pointer that points at itself. */
	len = answer(m, 0x1234, 0, 1, 0);
	m[len - 8 - 6 - 2 - 10] = 0xc0;
	m[len - 8 - 6 - 2 - 10 + 1] = (uint8_t)(len - 8 - 6 - 2 - 10);
	ck_assert_int_eq(lb_dns_parse(m, len, 0x1234, "_http._tcp.web.test",
			     LB_DNS_SRV, &rcode, r, 4),
	    -1);
}
END_TEST

START_TEST(test_addresses_come_through_a_cname)
{
	/* x.test A? -> x.test CNAME y.test, y.test A 10.0.0.1, 10.0.0.2 */
	static const uint8_t
	    m[] = "\x00\x07\x81\x80\x00\x01\x00\x03\x00\x00\x00\x00"
		  "\x01x\x04test\x00\x00\x01\x00\x01"
		  /* at 24: CNAME, rdata "y" + pointer to "test" (offset 14) */
		  "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x04"
		  "\x01y\xc0\x0e"
		  /* at 40: y.test (pointer to 36) A */
		  "\xc0\x24\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04"
		  "\x0a\x00\x00\x01"
		  "\xc0\x24\x00\x01\x00\x01\x00\x00\x00\x07\x00\x04"
		  "\x0a\x00\x00\x02";
	struct lb_dns_rr r[4];
	int		 rcode = -1;

	ck_assert_int_eq(lb_dns_parse(m, sizeof(m) - 1, 7, "x.test", LB_DNS_A,
			     &rcode, r, 4),
	    2);
	ck_assert_int_eq(rcode, 0);
	ck_assert_mem_eq(r[0].addr, "\x0a\x00\x00\x01", 4);
	ck_assert_mem_eq(r[1].addr, "\x0a\x00\x00\x02", 4);
	ck_assert_int_eq(r[0].ttl, 5);
	/* The answer to another type is not this one's. */
	ck_assert_int_eq(lb_dns_parse(m, sizeof(m) - 1, 7, "x.test",
			     LB_DNS_AAAA, &rcode, r, 4),
	    -1);
}
END_TEST

static Suite *
dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("srv");

	tcase_add_test(tc, test_query_is_a_recursive_srv_question_with_edns);
	tcase_add_test(tc, test_answer_gives_every_srv_record);
	tcase_add_test(tc, test_other_answers_are_refused_or_empty);
	tcase_add_test(tc, test_addresses_come_through_a_cname);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

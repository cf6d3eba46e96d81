/*
 * tests/check_str.c -- the string helpers every module leans on
 * (common/str.c): growable buffers and their failure flag, strlcpy and
 * snprintf truncation, case-insensitive comparison, the "did you mean"
 * distance and the control-byte check for header values.
 */
#include <errno.h>
#include <stdint.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/str.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- lb_buf */

START_TEST(test_buf_empty_is_empty_string)
{
	struct lb_buf b;

	lb_buf_init(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(lb_buf_cstr(&b), "");
	ck_assert(!lb_buf_failed(&b));
	lb_buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_appends_bytes_strings_and_chars)
{
	struct lb_buf b;

	lb_buf_init(&b);
	lb_buf_add(&b, "abcXYZ", 3);
	lb_buf_adds(&b, "def");
	lb_buf_addc(&b, '!');
	lb_buf_add(&b, "ignored", 0);
	ck_assert_uint_eq(b.len, 7);
	ck_assert_str_eq(lb_buf_cstr(&b), "abcdef!");
	lb_buf_free(&b);
}
END_TEST

START_TEST(test_buf_keeps_embedded_nul)
{
	struct lb_buf b;

	lb_buf_init(&b);
	lb_buf_add(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0);
	lb_buf_free(&b);
}
END_TEST

START_TEST(test_buf_printf_appends_formatted)
{
	struct lb_buf b;

	lb_buf_init(&b);
	lb_buf_adds(&b, "x=");
	lb_buf_printf(&b, "%d/%s/%05.1f", 42, "y", 2.5);
	lb_buf_printf(&b, "%s", "");
	ck_assert_str_eq(lb_buf_cstr(&b), "x=42/y/002.5");
	ck_assert_uint_eq(b.len, strlen("x=42/y/002.5"));
	lb_buf_free(&b);
}
END_TEST

/* Many small appends and one large printf cross several reallocations. */
START_TEST(test_buf_grows_past_many_kib)
{
	struct lb_buf b;
	char	     *big;
	size_t	      i;

	lb_buf_init(&b);
	for (i = 0; i < 100000; i++)
		lb_buf_addc(&b, (char)('a' + i % 26));
	ck_assert(!lb_buf_failed(&b));
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_uint_ge(b.cap, b.len + 1);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(b.data[i], 'a' + i % 26);
	ck_assert_int_eq(b.data[b.len], '\0');

	big = malloc(70000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'q', 69999);
	big[69999] = '\0';
	lb_buf_printf(&b, "<%s>", big);
	ck_assert_uint_eq(b.len, 100000 + 70001);
	ck_assert_int_eq(b.data[100000], '<');
	ck_assert_int_eq(b.data[100000 + 69999], 'q');
	ck_assert_int_eq(b.data[100000 + 70000], '>');
	ck_assert_int_eq(b.data[b.len], '\0');
	ck_assert_uint_eq(strlen(lb_buf_cstr(&b)), b.len);
	free(big);
	lb_buf_free(&b);
}
END_TEST

START_TEST(test_buf_take_hands_over_and_empties)
{
	struct lb_buf b;
	char	     *s;

	lb_buf_init(&b);
	lb_buf_adds(&b, "hello");
	s = lb_buf_take(&b);
	ck_assert_str_eq(s, "hello");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	/* The buffer is usable again and does not share memory with S. */
	lb_buf_adds(&b, "again");
	ck_assert_str_eq(lb_buf_cstr(&b), "again");
	ck_assert_str_eq(s, "hello");
	free(s);
	lb_buf_free(&b);
}
END_TEST

START_TEST(test_buf_take_of_empty_is_empty_string)
{
	struct lb_buf b;
	char	     *s;

	lb_buf_init(&b);
	s = lb_buf_take(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_buf_reset_keeps_memory_and_empties)
{
	struct lb_buf b;
	char	     *data;

	lb_buf_init(&b);
	lb_buf_adds(&b, "some text");
	data = b.data;
	lb_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(lb_buf_cstr(&b), "");
	lb_buf_adds(&b, "x");
	ck_assert_ptr_eq(b.data, data);
	ck_assert_str_eq(lb_buf_cstr(&b), "x");
	lb_buf_free(&b);
}
END_TEST

/*
 * An append that cannot be satisfied marks the buffer failed: later
 * appends are ignored, cstr is NULL and take reports ENOMEM.
 */
START_TEST(test_buf_failure_is_sticky_until_reset)
{
	struct lb_buf b;
	char	     *s;

	lb_buf_init(&b);
	lb_buf_adds(&b, "before");
	/* Not read: the size is refused before any copy. */
	lb_buf_add(&b, "x", SIZE_MAX / 2);
	ck_assert(lb_buf_failed(&b));
	ck_assert_uint_eq(b.len, 6);
	lb_buf_adds(&b, "after");
	lb_buf_printf(&b, "%d", 1);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_ptr_null(lb_buf_cstr(&b));

	lb_buf_reset(&b);
	ck_assert(!lb_buf_failed(&b));
	lb_buf_adds(&b, "ok");
	ck_assert_str_eq(lb_buf_cstr(&b), "ok");

	lb_buf_add(&b, "x", SIZE_MAX - 1);
	ck_assert(lb_buf_failed(&b));
	errno = 0;
	s = lb_buf_take(&b);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(errno, ENOMEM);
	/* take released the memory and left an empty, healthy buffer. */
	ck_assert_ptr_null(b.data);
	ck_assert(!lb_buf_failed(&b));
}
END_TEST

/* ------------------------------------------------------------ lb_strlcpy */

static const struct strlcpy_case {
	const char *src;
	size_t	    size;
	const char *want; /* what dst holds; NULL: untouched */
} strlcpy_cases[] = {
	{ "hello", 16, "hello" },
	{ "hello", 6, "hello" },
	{ "hello", 5, "hell" },
	{ "hello", 2, "h" },
	{ "hello", 1, "" },
	{ "hello", 0, NULL },
	{ "", 4, "" },
};

START_TEST(test_strlcpy_truncates_and_returns_source_length)
{
	const struct strlcpy_case *c = &strlcpy_cases[_i];
	char			   dst[16];

	memset(dst, '#', sizeof(dst));
	ck_assert_uint_eq(lb_strlcpy(dst, c->src, c->size), strlen(c->src));
	if (c->want == NULL)
		ck_assert_int_eq(dst[0], '#');
	else
		ck_assert_str_eq(dst, c->want);
	/* Nothing is written past SIZE. */
	for (size_t i = c->size; i < sizeof(dst); i++)
		ck_assert_int_eq(dst[i], '#');
}
END_TEST

/* ----------------------------------------------------------- lb_snprintf */

START_TEST(test_snprintf_returns_what_it_wrote)
{
	char buf[8];

	memset(buf, '#', sizeof(buf));
	ck_assert_uint_eq(lb_snprintf(buf, sizeof(buf), "%s", "abc"), 3);
	ck_assert_str_eq(buf, "abc");
	/* Truncated: the return is what fits, not what was wanted. */
	ck_assert_uint_eq(lb_snprintf(buf, sizeof(buf), "%s-%d", "abcdef", 123),
	    7);
	ck_assert_str_eq(buf, "abcdef-");
	ck_assert_uint_eq(lb_snprintf(buf, 1, "%s", "abc"), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(lb_snprintf(buf, sizeof(buf), "%s", ""), 0);
	ck_assert_str_eq(buf, "");
	/* SIZE 0 touches nothing. */
	buf[0] = '#';
	ck_assert_uint_eq(lb_snprintf(buf, 0, "%s", "abc"), 0);
	ck_assert_int_eq(buf[0], '#');
}
END_TEST

/* Appending with the return value never walks past the end. */
START_TEST(test_snprintf_return_is_safe_to_append_with)
{
	char   buf[10];
	size_t n = 0;

	for (int i = 0; i < 10; i++)
		n += lb_snprintf(buf + n, sizeof(buf) - n, "%d,", i);
	ck_assert_uint_eq(n, sizeof(buf) - 1);
	ck_assert_str_eq(buf, "0,1,2,3,4");
}
END_TEST

/* --------------------------------------------------------- lb_strncaseeq */

static const struct caseeq_case {
	const char *a, *b;
	size_t	    n;
	bool	    want;
} caseeq_cases[] = {
	{ "Host", "host", 4, true },
	{ "HOST", "host", 4, true },
	{ "Host", "hosx", 4, false },
	{ "Host", "hosx", 3, true },
	{ "abc", "abd", 0, true },
	/* Equal up to a common NUL: shorter N past it still compares equal. */
	{ "ab", "AB", 10, true },
	{ "ab", "abc", 10, false },
	{ "abc", "ab", 10, false },
	/* Only ASCII letters fold. */
	{ "[", "{", 1, false },
	{ "@", "`", 1, false },
	{ "\xc9", "\xe9", 1, false },
	{ "x-Forwarded-FOR", "X-FORWARDED-for", 15, true },
};

START_TEST(test_strncaseeq_table)
{
	const struct caseeq_case *c = &caseeq_cases[_i];

	ck_assert_msg(lb_strncaseeq(c->a, c->b, c->n) == c->want,
	    "lb_strncaseeq(\"%s\", \"%s\", %zu) != %d", c->a, c->b, c->n,
	    c->want);
}
END_TEST

/* ------------------------------------------------------------ lb_strdist */

static const struct dist_case {
	const char *a, *b;
	unsigned    want;
} dist_cases[] = {
	{ "", "", 0 },
	{ "abc", "", 3 },
	{ "", "abcd", 4 },
	{ "kitten", "sitting", 3 },
	{ "flaw", "lawn", 2 },
	{ "servers", "server", 1 },
	{ "algoritm", "algorithm", 1 },
	{ "hsots", "hosts", 2 },
	/* Case does not count. */
	{ "Host", "hOST", 0 },
	{ "Listen", "listn", 1 },
};

START_TEST(test_strdist_table)
{
	const struct dist_case *c = &dist_cases[_i];

	ck_assert_uint_eq(lb_strdist(c->a, c->b), c->want);
	ck_assert_uint_eq(lb_strdist(c->b, c->a), c->want);
}
END_TEST

START_TEST(test_strdist_caps_long_strings)
{
	char a[200], b[200];

	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memset(b, 'a', 64);
	b[64] = '\0';
	/* 64 characters is the longest measured; beyond is "far". */
	ck_assert_uint_eq(lb_strdist(b, b), 0);
	a[64] = '\0';
	ck_assert_uint_eq(lb_strdist(a, b), 0);
	a[64] = 'a';
	ck_assert_uint_eq(lb_strdist(a, b), 255);
	ck_assert_uint_eq(lb_strdist("x", a), 255);
	/* Two different 64-character strings are 64 apart, not capped. */
	memset(a, 'z', 64);
	a[64] = '\0';
	ck_assert_uint_eq(lb_strdist(a, b), 64);
}
END_TEST

/* -------------------------------------------------------- lb_str_has_ctl */

static const struct ctl_case {
	const char *s;
	size_t	    len;
	bool	    want;
} ctl_cases[] = {
	{ "plain value", 11, false },
	{ "", 0, false },
	{ "tab\tis fine", 11, false },
	{ "caf\xc3\xa9", 5, false },
	{ "\x80\xff", 2, false },
	{ "a\rb", 3, true },
	{ "a\nb", 3, true },
	{ "a\r\n b", 5, true },
	{ "a\0b", 3, true },
	{ "\x01", 1, true },
	{ "\x1f", 1, true },
	{ "del\x7f", 4, true },
	{ "\x1b[31m", 5, true },
	/* Only LEN bytes are looked at. */
	{ "ok\r\n", 2, false },
};

START_TEST(test_str_has_ctl_table)
{
	const struct ctl_case *c = &ctl_cases[_i];

	ck_assert_msg(lb_str_has_ctl(c->s, c->len) == c->want,
	    "case %d: want %d", _i, c->want);
}
END_TEST

START_TEST(test_hexval_reads_both_cases_and_refuses_the_rest)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(lb_hexval(digits[i]), i);
		ck_assert_int_eq(lb_hexval(toupper((unsigned char)digits[i])),
		    i);
	}
	ck_assert_int_eq(lb_hexval('g'), -1);
	ck_assert_int_eq(lb_hexval('G'), -1);
	ck_assert_int_eq(lb_hexval('/'), -1);
	ck_assert_int_eq(lb_hexval(':'), -1);
	ck_assert_int_eq(lb_hexval('x'), -1);
	ck_assert_int_eq(lb_hexval(0), -1);
	ck_assert_int_eq(lb_hexval(0xff), -1);
}
END_TEST

START_TEST(test_printable_replaces_control_bytes_only)
{
	char s[] = "a\tb\nc\rd\x01"
		   "e\x7f f\xc3\xa9";

	lb_str_printable(s);
	ck_assert_str_eq(s, "a?b?c?d?e? f\xc3\xa9");
}
END_TEST

/* JSON from any bytes: one valid line, printable ASCII as it is. */
START_TEST(test_buf_add_json_escapes_what_json_needs)
{
	struct lb_buf b;

	lb_buf_init(&b);
	lb_buf_add_json(&b, "a\"b\\c\n\x01\x7f\xc3\xa9 z/");
	ck_assert_str_eq(lb_buf_cstr(&b),
	    "a\\\"b\\\\c\\u000a\\u0001\\u007f\\u00c3\\u00a9 z/");
	lb_buf_free(&b);
}
END_TEST

static Suite *
str_suite(void)
{
	Suite *s = suite_create("str");
	TCase *tc;

	tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_empty_is_empty_string);
	tcase_add_test(tc, test_buf_appends_bytes_strings_and_chars);
	tcase_add_test(tc, test_buf_keeps_embedded_nul);
	tcase_add_test(tc, test_buf_printf_appends_formatted);
	tcase_add_test(tc, test_buf_grows_past_many_kib);
	tcase_add_test(tc, test_buf_take_hands_over_and_empties);
	tcase_add_test(tc, test_buf_take_of_empty_is_empty_string);
	tcase_add_test(tc, test_buf_reset_keeps_memory_and_empties);
	tcase_add_test(tc, test_buf_failure_is_sticky_until_reset);
	suite_add_tcase(s, tc);

	tc = tcase_create("copy");
	tcase_add_loop_test(tc,
	    test_strlcpy_truncates_and_returns_source_length, 0,
	    NITEMS(strlcpy_cases));
	tcase_add_test(tc, test_snprintf_returns_what_it_wrote);
	tcase_add_test(tc, test_snprintf_return_is_safe_to_append_with);
	suite_add_tcase(s, tc);

	tc = tcase_create("compare");
	tcase_add_loop_test(tc, test_strncaseeq_table, 0, NITEMS(caseeq_cases));
	tcase_add_loop_test(tc, test_strdist_table, 0, NITEMS(dist_cases));
	tcase_add_test(tc, test_strdist_caps_long_strings);
	tcase_add_loop_test(tc, test_str_has_ctl_table, 0, NITEMS(ctl_cases));
	tcase_add_test(tc, test_hexval_reads_both_cases_and_refuses_the_rest);
	tcase_add_test(tc, test_printable_replaces_control_bytes_only);
	tcase_add_test(tc, test_buf_add_json_escapes_what_json_needs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(str_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

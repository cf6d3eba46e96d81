/*
 * tests/check_uri.c -- path normalization (the firewall's defence),
 * whole-segment prefixes, prefix replacement and query rewriting
 * (common/uri.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/str.h"
#include "common/uri.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------- lb_uri_normalize_path */

static const struct norm_case {
	const char *in;
	size_t	    len;  /* 0: strlen(in) */
	const char *want; /* NULL: refused */
} norm_cases[] = {
	/* Plain paths pass unchanged. */
	{ "/", 0, "/" },
	{ "/messages", 0, "/messages" },
	{ "/messages/1", 0, "/messages/1" },
	{ "/a/b/", 0, "/a/b/" },
	{ "/.hidden", 0, "/.hidden" },
	{ "/...", 0, "/..." },
	{ "/a-b_c.d~e", 0, "/a-b_c.d~e" },
	{ "/a:b@c!$&'()*+,=", 0, "/a:b@c!$&'()*+,=" },
	/* Repeated slashes merge. */
	{ "//messages", 0, "/messages" },
	{ "///messages//1///", 0, "/messages/1/" },
	{ "//", 0, "/" },
	/* Dot segments go. */
	{ "/.", 0, "/" },
	{ "/./messages", 0, "/messages" },
	{ "/a/./b/./c", 0, "/a/b/c" },
	{ "/a/../messages", 0, "/messages" },
	{ "/a/b/../../messages", 0, "/messages" },
	{ "/messages/.", 0, "/messages/" },
	{ "/messages/..", 0, "/" },
	{ "/a/..//b", 0, "/b" },
	{ "/a/b/../c/./d/..", 0, "/a/c/" },
	/* Unreserved escapes are decoded, in any case. */
	{ "/%6Dessages", 0, "/messages" },
	{ "/%6dessages", 0, "/messages" },
	{ "/%4D%45", 0, "/ME" },
	{ "/a%7eb%2Dc%5fd%2E", 0, "/a~b-c_d." },
	{ "/%30%39", 0, "/09" },
	/* ...before dot segments are removed: %2e is '.'. */
	{ "/a/%2e%2E/messages", 0, "/messages" },
	{ "/a/.%2e/messages", 0, "/messages" },
	{ "/%2e/messages", 0, "/messages" },
	{ "/a/%2e", 0, "/a/" },
	/* Other escapes stay, hex uppercased. */
	{ "/a%20b", 0, "/a%20b" },
	{ "/a%3fb", 0, "/a%3Fb" },
	{ "/a%3Bb", 0, "/a%3Bb" },
	{ "/a%25", 0, "/a%25" },
	/* Double encoding is one decoding away from a dot: not a dot. */
	{ "/%252e%252e/x", 0, "/%252e%252e/x" },
	{ "/%25%32%65", 0, "/%252e" },
	/* Overlong UTF-8 for '.' and '/' is not '.' or '/'. */
	{ "/%c0%ae%c0%ae/x", 0, "/%C0%AE%C0%AE/x" },
	{ "/%c0%af", 0, "/%C0%AF" },
	{ "/\xc3\xa9t\xc3\xa9", 0, "/\xc3\xa9t\xc3\xa9" },
	/* Segment parameters and trailing dots are data, not syntax. */
	{ "/messages;x", 0, "/messages;x" },
	{ "/messages.", 0, "/messages." },
	{ "/messages..", 0, "/messages.." },
	{ "/messages/...", 0, "/messages/..." },
	/* Climbing above the root. */
	{ "/..", 0, NULL },
	{ "/../x", 0, NULL },
	{ "/a/../../x", 0, NULL },
	{ "/a/b/../../..", 0, NULL },
	{ "/%2e%2e/x", 0, NULL },
	{ "/%2E%2e/x", 0, NULL },
	{ "/.%2e/x", 0, NULL },
	{ "/%2e./x", 0, NULL },
	{ "//../x", 0, NULL },
	/* Encoded separators, backslashes and NUL. */
	{ "/messages%2F1", 0, NULL },
	{ "/messages%2f1", 0, NULL },
	{ "/..%2f..%2fetc", 0, NULL },
	{ "/messages%5C..%5Cx", 0, NULL },
	{ "/messages%5c", 0, NULL },
	{ "/messages\\..\\x", 0, NULL },
	{ "/messages%00", 0, NULL },
	{ "/a\0b", 4, NULL },
	/* Bad escapes. */
	{ "/%G1", 0, NULL },
	{ "/%1G", 0, NULL },
	{ "/%4", 0, NULL },
	{ "/%", 0, NULL },
	{ "/%%41", 0, NULL },
	{ "/% 41", 0, NULL },
	/* Raw controls, space and DEL. */
	{ "/a b", 0, NULL },
	{ "/a\tb", 0, NULL },
	{ "/a\rb", 0, NULL },
	{ "/a\x01", 0, NULL },
	{ "/a\x7f", 0, NULL },
	/* Not an origin-form path. */
	{ "", 0, NULL },
	{ "messages", 0, NULL },
	{ "*", 0, NULL },
	{ "%2Fmessages", 0, NULL },
	{ "http://x/messages", 0, NULL },
};

START_TEST(test_normalize_path_table)
{
	const struct norm_case *c = &norm_cases[_i];
	size_t			len = c->len ? c->len : strlen(c->in);
	char		       *out = (char *)1;
	int			rc;

	errno = 0;
	rc = lb_uri_normalize_path(c->in, len, &out);
	if (c->want == NULL) {
		ck_assert_msg(rc == -1, "\"%s\" gave \"%s\"", c->in,
		    rc == 0 ? out : "");
		ck_assert_ptr_null(out);
		ck_assert_int_eq(errno, EINVAL);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\" refused", c->in);
	ck_assert_str_eq(out, c->want);
	free(out);
}
END_TEST

START_TEST(test_normalize_uses_len_not_nul)
{
	char *out;

	ck_assert_int_eq(lb_uri_normalize_path("/messages?x=1", 9, &out), 0);
	ck_assert_str_eq(out, "/messages");
	free(out);
}
END_TEST

START_TEST(test_normalize_is_idempotent)
{
	for (size_t i = 0; i < NITEMS(norm_cases); i++) {
		const char *w = norm_cases[i].want;
		char	   *out;

		if (w == NULL)
			continue;
		ck_assert_int_eq(lb_uri_normalize_path(w, strlen(w), &out), 0);
		ck_assert_str_eq(out, w);
		free(out);
	}
}
END_TEST

/*
 * Every spelling of /messages that an origin would serve as /messages,
 * or below it, is caught by path_reject "/messages" after normalization.
 */
static const char *const messages_spellings[] = {
	"/messages", "/messages/", "/messages/1", "//messages", "/./messages",
	"/%6Dessages", "/%6dessages", "/a/../messages",
	"/%6d%65%73%73%61%67%65%73", "/a/%2e%2e/messages", "/a/.%2E/messages",
	"///messages//1", "/messages/./1", "/messages/x/../1",
	"/x/y/../../messages", "/messages;jsessionid=1", "/.//messages",
	"/messages%2e/..", /* "/messages./.." = "/": allowed below */
};

START_TEST(test_firewall_sees_through_messages_spellings)
{
	for (size_t i = 0; i < NITEMS(messages_spellings); i++) {
		const char *p = messages_spellings[i];
		char	   *out;
		bool	    want = strcmp(p, "/messages%2e/..") != 0;

		ck_assert_msg(lb_uri_normalize_path(p, strlen(p), &out) == 0,
		    "\"%s\" refused", p);
		ck_assert_msg(lb_uri_has_prefix(out, "/messages") == want,
		    "\"%s\" -> \"%s\"", p, out);
		free(out);
	}
}
END_TEST

/* ----------------------------------------------------- lb_uri_has_prefix */

static const struct prefix_case {
	const char *path;
	const char *prefix;
	bool	    want;
} prefix_cases[] = {
	{ "/mango", "/mango", true },
	{ "/mango/", "/mango", true },
	{ "/mango/x", "/mango", true },
	{ "/mango/x/y", "/mango/x", true },
	{ "/mango;v=1", "/mango", true },
	{ "/mangos", "/mango", false },
	{ "/mang", "/mango", false },
	{ "/Mango", "/mango", false },
	{ "/mango.json", "/mango", false },
	{ "/mango%2F", "/mango", false },
	{ "/x/mango", "/mango", false },
	{ "/", "/mango", false },
	{ "", "/mango", false },
	{ "/", "/", true },
	{ "/anything/at/all", "/", true },
	{ "", "/", true },
	{ "/mango/x", "/mango/", true }, /* tolerated trailing '/' */
	{ "/mangos", "/mango/", false },
};

START_TEST(test_has_prefix_table)
{
	const struct prefix_case *c = &prefix_cases[_i];

	ck_assert_msg(lb_uri_has_prefix(c->path, c->prefix) == c->want,
	    "\"%s\" under \"%s\": want %s", c->path, c->prefix,
	    c->want ? "yes" : "no");
}
END_TEST

/* ------------------------------------------------- lb_uri_replace_prefix */

static const struct replace_case {
	const char *path, *prefix, *repl;
	const char *want; /* NULL: not a prefix */
} replace_cases[] = {
	{ "/v1/users", "/v1", "/v2", "/v2/users" },
	{ "/v1", "/v1", "/v2", "/v2" },
	{ "/v1/", "/v1", "/v2", "/v2/" },
	{ "/v1;x/users", "/v1", "/v2", "/v2;x/users" },
	{ "/v1/users", "/v1", "v2", "/v2/users" },
	{ "/mango", "/mango", "/", "/" },
	{ "/mango/", "/mango", "/", "/" },
	{ "/mango/x", "/mango", "/", "/x" },
	{ "/mango/x/y", "/mango", "/", "/x/y" },
	{ "/mango;x", "/mango", "/", "/;x" },
	{ "/a/b/c", "/a/b", "/z", "/z/c" },
	{ "/a/b/c", "/a", "/x/y", "/x/y/b/c" },
	{ "/x", "/", "/api", "/api/x" },
	{ "/", "/", "/api", "/api/" },
	{ "/x", "/", "/", "/x" },
	{ "/v1/users", "/v1", "/v2/", "/v2/users" },
	{ "/v1/users", "/v1", "", "/users" },
	{ "/v1x/users", "/v1", "/v2", NULL },
	{ "/v2/v1", "/v1", "/v2", NULL },
	{ "/", "/v1", "/v2", NULL },
};

START_TEST(test_replace_prefix_table)
{
	const struct replace_case *c = &replace_cases[_i];
	char			  *out;

	errno = EINVAL;
	out = lb_uri_replace_prefix(c->path, c->prefix, c->repl);
	if (c->want == NULL) {
		ck_assert_ptr_null(out);
		ck_assert_int_eq(errno, 0);
		return;
	}
	ck_assert_msg(out != NULL, "\"%s\" %s -> %s: NULL", c->path, c->prefix,
	    c->repl);
	ck_assert_str_eq(out, c->want);
	free(out);
}
END_TEST

/* -------------------------------------------------- lb_uri_query_rewrite */

static const struct query_case {
	const char  *query;
	const char  *remove[3];
	struct lb_kv add[3];
	const char  *want;
} query_cases[] = {
	/* The course's example. */
	{ "a=1&RemoveMe=Remove", { "RemoveMe" },
	    { { "MyCustomParam", "Test" } }, "a=1&MyCustomParam=Test" },
	{ NULL, { NULL }, { { NULL, NULL } }, "" },
	{ "", { NULL }, { { NULL, NULL } }, "" },
	{ NULL, { NULL }, { { "k", "v" } }, "k=v" },
	{ "", { "x" }, { { "k", "v" } }, "k=v" },
	/* Untouched parameters keep order and bytes. */
	{ "b=2&a=1&c=%7e+x", { NULL }, { { NULL, NULL } }, "b=2&a=1&c=%7e+x" },
	{ "z&y=&x==1", { NULL }, { { NULL, NULL } }, "z&y=&x==1" },
	{ "a=%zz&b", { NULL }, { { NULL, NULL } }, "a=%zz&b" },
	/* Empty pairs go. */
	{ "&&a=1&&b=2&", { NULL }, { { NULL, NULL } }, "a=1&b=2" },
	{ "&", { NULL }, { { NULL, NULL } }, "" },
	/* Every occurrence is removed; names compare decoded, exactly. */
	{ "x=1&a=2&x=3&x", { "x" }, { { NULL, NULL } }, "a=2" },
	{ "%78=1&a=2", { "x" }, { { NULL, NULL } }, "a=2" },
	{ "my+name=1&my%20name=2&a=3", { "my name" }, { { NULL, NULL } },
	    "a=3" },
	{ "X=1&x=2", { "x" }, { { NULL, NULL } }, "X=1" },
	{ "xy=1&x=2", { "x" }, { { NULL, NULL } }, "xy=1" },
	{ "x%00=1", { "x" }, { { NULL, NULL } }, "x%00=1" },
	{ "x%=1&x%25=2", { "x%" }, { { NULL, NULL } }, "" },
	{ "a=1&b=2", { "a", "b" }, { { NULL, NULL } }, "" },
	/* A name set by ADD replaces every existing occurrence, in place at
	 * the end. */
	{ "p=1&a=2&p=3", { NULL }, { { "p", "9" } }, "a=2&p=9" },
	{ "a=1", { NULL }, { { "p", "x y&z=1" } }, "a=1&p=x%20y%26z%3D1" },
	{ "a=1", { NULL }, { { "p q", "" } }, "a=1&p%20q=" },
	{ "a=1", { "a" }, { { "b", "1" }, { "c", "2" } }, "b=1&c=2" },
	{ "a=1", { NULL }, { { "a", "2" }, { "a", "3" } }, "a=2&a=3" },
};

START_TEST(test_query_rewrite_table)
{
	const struct query_case *c = &query_cases[_i];
	size_t			 nr = 0, na = 0;
	char			*out;

	while (nr < 3 && c->remove[nr] != NULL)
		nr++;
	while (na < 3 && c->add[na].name != NULL)
		na++;
	out = lb_uri_query_rewrite(c->query, (char *const *)c->remove, nr,
	    c->add, na);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strcmp(out, c->want) == 0,
	    "\"%s\": got \"%s\", want "
	    "\"%s\"",
	    c->query ? c->query : "(null)", out, c->want);
	free(out);
}
END_TEST

/* --------------------------------------------------- lb_uri_encode_query */

START_TEST(test_encode_query_keeps_unreserved_only)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "AZaz09-._~", "AZaz09-._~" },
		{ "a b", "a%20b" },
		{ "a+b", "a%2Bb" },
		{ "&=?#%/", "%26%3D%3F%23%25%2F" },
		{ "\xc3\xa9", "%C3%A9" },
		{ "\x01\x7f", "%01%7F" },
	};
	struct lb_buf b;

	for (size_t i = 0; i < NITEMS(cases); i++) {
		lb_buf_init(&b);
		lb_uri_encode_query(&b, cases[i].in);
		ck_assert_str_eq(lb_buf_cstr(&b), cases[i].want);
		lb_buf_free(&b);
	}
}
END_TEST

static Suite *
uri_suite(void)
{
	Suite *s = suite_create("uri");
	TCase *tc;

	tc = tcase_create("normalize");
	tcase_add_loop_test(tc, test_normalize_path_table, 0,
	    NITEMS(norm_cases));
	tcase_add_test(tc, test_normalize_uses_len_not_nul);
	tcase_add_test(tc, test_normalize_is_idempotent);
	tcase_add_test(tc, test_firewall_sees_through_messages_spellings);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefix");
	tcase_add_loop_test(tc, test_has_prefix_table, 0, NITEMS(prefix_cases));
	tcase_add_loop_test(tc, test_replace_prefix_table, 0,
	    NITEMS(replace_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("query");
	tcase_add_loop_test(tc, test_query_rewrite_table, 0,
	    NITEMS(query_cases));
	tcase_add_test(tc, test_encode_query_keeps_unreserved_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(uri_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

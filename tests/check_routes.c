/*
 * tests/check_routes.c -- the compiled route table (config/routes.c):
 * exact and wildcard hosts, whole-segment path prefixes, precedence and
 * duplicates, on small tables and on tables of thousands of routes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config/config.h"
#include "config/routes.h"

/*
 * A table built from route texts: hosts first, then paths, the way
 * lb_cfg_load lays them out. Only match (and id, for messages) matter.
 */
struct fixture {
	struct lb_route	 *routes;
	size_t		  n;
	struct lb_routes *t;
};

static void
build(struct fixture *f, const char *const *hosts, const char *const *paths)
{
	size_t nh = 0, np = 0;

	while (hosts != NULL && hosts[nh] != NULL)
		nh++;
	while (paths != NULL && paths[np] != NULL)
		np++;
	f->n = nh + np;
	ck_assert_ptr_nonnull(f->routes = calloc(f->n + 1, sizeof(*f->routes)));
	for (size_t i = 0; i < f->n; i++) {
		struct lb_route *r = &f->routes[i];

		r->kind = i < nh ? LB_ROUTE_HOST : LB_ROUTE_PATH;
		r->match = (char *)(i < nh ? hosts[i] : paths[i - nh]);
		r->id = i;
	}
	f->t = lb_routes_compile(f->routes, f->n, nh, NULL);
	ck_assert_ptr_nonnull(f->t);
}

static void
teardown(struct fixture *f)
{
	lb_routes_free(f->t);
	free(f->routes);
}

/* The match text of the route picked for HOST and PATH, or "(none)". */
static const char *
pick(const struct fixture *f, const char *host, const char *path)
{
	const struct lb_route *r = lb_routes_match(f->t, host, path);

	return r != NULL ? r->match : "(none)";
}

struct lookup {
	const char *host;
	const char *path;
	const char *want;
};

static void
check_lookups(const struct fixture *f, const struct lookup *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = pick(f, l[i].host, l[i].path);

		ck_assert_msg(strcmp(got, l[i].want) == 0,
		    "host \"%s\" path \"%s\": got %s, want %s",
		    l[i].host ? l[i].host : "(null)",
		    l[i].path ? l[i].path : "(null)", got, l[i].want);
	}
}

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_host_exact_match)
{
	static const char *const   hosts[] = { "www.mango.com", "api.mango.com",
		  NULL };
	static const struct lookup l[] = {
		{ "www.mango.com", "/", "www.mango.com" },
		{ "api.mango.com", "/x", "api.mango.com" },
		{ "mango.com", "/", "(none)" },
		{ "www.mango.co", "/", "(none)" },
		{ "www.mango.com.au", "/", "(none)" },
		{ "xwww.mango.com", "/", "(none)" },
		{ "", "/", "(none)" },
		{ NULL, "/", "(none)" },
	};
	struct fixture f;

	build(&f, hosts, NULL);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_host_is_case_insensitive)
{
	static const char *const   hosts[] = { "www.mango.com", "*.kiwi.org",
		  NULL };
	static const struct lookup l[] = {
		{ "WWW.MANGO.COM", "/", "www.mango.com" },
		{ "Www.Mango.Com", "/", "www.mango.com" },
		{ "A.KIWI.ORG", "/", "*.kiwi.org" },
		{ "a.Kiwi.Org:80", "/", "*.kiwi.org" },
	};
	struct fixture f;

	build(&f, hosts, NULL);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_host_port_brackets_and_trailing_dot_are_ignored)
{
	static const char *const   hosts[] = { "www.mango.com", "[::1]",
		  "127.0.0.1", NULL };
	static const struct lookup l[] = {
		{ "www.mango.com:8080", "/", "www.mango.com" },
		{ "www.mango.com:", "/", "www.mango.com" },
		{ "www.mango.com.", "/", "www.mango.com" },
		{ "www.mango.com.:8080", "/", "www.mango.com" },
		{ "www.mango.com..", "/", "(none)" },
		{ "[::1]:8080", "/", "[::1]" },
		{ "[::1]", "/", "[::1]" },
		{ "[::1", "/", "(none)" },
		{ "127.0.0.1:80", "/", "127.0.0.1" },
	};
	struct fixture f;

	build(&f, hosts, NULL);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_host_ipv6_route_written_without_brackets)
{
	static const char *const   hosts[] = { "::1", NULL };
	static const struct lookup l[] = {
		{ "[::1]:8080", "/", "::1" },
		{ "[::1]", "/", "::1" },
	};
	struct fixture f;

	build(&f, hosts, NULL);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_wildcard_longest_suffix_wins)
{
	static const char *const   hosts[] = { "*.mango.com", "*.b.mango.com",
		  "*.com", NULL };
	static const struct lookup l[] = {
		{ "a.mango.com", "/", "*.mango.com" },
		{ "a.b.mango.com", "/", "*.b.mango.com" },
		{ "x.a.b.mango.com", "/", "*.b.mango.com" },
		{ "b.mango.com", "/", "*.mango.com" },
		{ "x.b.mango.com:443", "/", "*.b.mango.com" },
		{ "mango.com", "/", "*.com" },
		{ "kiwi.com", "/", "*.com" },
		{ "com", "/", "(none)" },
		{ ".mango.com", "/", "*.com" },
		{ "amango.com", "/", "*.com" },
		{ "a.mango.org", "/", "(none)" },
	};
	struct fixture f;

	build(&f, hosts, NULL);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_wildcard_does_not_match_its_bare_suffix)
{
	static const char *const   hosts[] = { "*.mango.com", NULL };
	static const struct lookup l[] = {
		{ "a.mango.com", "/", "*.mango.com" },
		{ "a.b.mango.com", "/", "*.mango.com" },
		{ "mango.com", "/", "(none)" },
		{ "xmango.com", "/", "(none)" },
	};
	struct fixture f;

	build(&f, hosts, NULL);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_exact_host_beats_wildcard)
{
	static const char *const   hosts[] = { "*.mango.com", "www.mango.com",
		  "*.www.mango.com", NULL };
	static const struct lookup l[] = {
		{ "www.mango.com", "/", "www.mango.com" },
		{ "api.mango.com", "/", "*.mango.com" },
		{ "a.www.mango.com", "/", "*.www.mango.com" },
	};
	struct fixture f;

	build(&f, hosts, NULL);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_path_matches_whole_segments_only)
{
	static const char *const   paths[] = { "/mango", NULL };
	static const struct lookup l[] = {
		{ NULL, "/mango", "/mango" },
		{ NULL, "/mango/", "/mango" },
		{ NULL, "/mango/x", "/mango" },
		{ NULL, "/mango/x/y/z", "/mango" },
		{ NULL, "/mangos", "(none)" },
		{ NULL, "/mang", "(none)" },
		{ NULL, "/Mango", "(none)" }, /* paths are case-sensitive */
		{ NULL, "/", "(none)" },
		{ NULL, "/kiwi/mango", "(none)" },
		{ NULL, "", "(none)" },
		{ NULL, NULL, "(none)" },
	};
	struct fixture f;

	build(&f, NULL, paths);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_path_longest_prefix_wins)
{
	static const char *const   paths[] = { "/a", "/a/b/c", "/a/b", "/x/y",
		  NULL };
	static const struct lookup l[] = {
		{ NULL, "/a", "/a" },
		{ NULL, "/a/b", "/a/b" },
		{ NULL, "/a/b/", "/a/b" },
		{ NULL, "/a/bc", "/a" },
		{ NULL, "/a/b/c", "/a/b/c" },
		{ NULL, "/a/b/c/d", "/a/b/c" },
		{ NULL, "/a/b/cd", "/a/b" },
		{ NULL, "/x", "(none)" }, /* an inner node, no route */
		{ NULL, "/x/y/z", "/x/y" },
		{ NULL, "/x/yy", "(none)" },
	};
	struct fixture f;

	build(&f, NULL, paths);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_path_root_route_matches_every_path)
{
	static const char *const   paths[] = { "/mango", "/", NULL };
	static const struct lookup l[] = {
		{ NULL, "/", "/" },
		{ NULL, "/anything", "/" },
		{ NULL, "/mangos", "/" },
		{ NULL, "/mango/x", "/mango" },
		{ NULL, "/a/b/c", "/" },
		{ "unknown.host", "/x", "/" },
	};
	struct fixture f;

	build(&f, NULL, paths);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_path_stops_at_empty_segment_and_query)
{
	/* Agrees with lb_uri_has_prefix on paths nobody normalized. */
	static const char *const   paths[] = { "/a", "/a/b", NULL };
	static const struct lookup l[] = {
		{ NULL, "/a//b", "/a" },
		{ NULL, "/a/b?x=1", "/a/b" },
		{ NULL, "/a?b", "/a" },
	};
	struct fixture f;

	build(&f, NULL, paths);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_host_route_beats_path_route)
{
	static const char *const   hosts[] = { "www.mango.com", "*.kiwi.com",
		  NULL };
	static const char *const   paths[] = { "/mango", "/", NULL };
	static const struct lookup l[] = {
		{ "www.mango.com", "/mango", "www.mango.com" },
		{ "a.kiwi.com", "/mango/x", "*.kiwi.com" },
		{ "other.com", "/mango/x", "/mango" },
		{ "other.com", "/x", "/" },
		{ NULL, "/mango", "/mango" },
	};
	struct fixture f;

	build(&f, hosts, paths);
	check_lookups(&f, l, NITEMS(l));
	teardown(&f);
}
END_TEST

START_TEST(test_no_match_returns_null)
{
	static const char *const hosts[] = { "www.mango.com", NULL };
	static const char *const paths[] = { "/mango", NULL };
	struct fixture		 f;

	build(&f, hosts, paths);
	ck_assert_ptr_null(lb_routes_match(f.t, "kiwi.com", "/kiwi"));
	ck_assert_ptr_null(lb_routes_match(f.t, NULL, NULL));
	ck_assert_ptr_null(lb_routes_match(NULL, "www.mango.com", "/"));
	teardown(&f);
}
END_TEST

START_TEST(test_empty_table_matches_nothing)
{
	struct lb_routes *t = lb_routes_compile(NULL, 0, 0, NULL);

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(lb_routes_match(t, "a.com", "/"));
	lb_routes_free(t);
	lb_routes_free(NULL);
}
END_TEST

static const struct dup_case {
	const char *hosts[4];
	const char *paths[4];
	size_t	    dup; /* index of the second one, or SIZE_MAX */
} dup_cases[] = {
	{ { "a.com", "b.com", "a.com" }, { NULL }, 2 },
	{ { "a.com", "A.COM" }, { NULL }, 1 },
	{ { "a.com", "a.com." }, { NULL }, 1 },
	{ { "*.a.com", "b.com", "*.a.com" }, { NULL }, 2 },
	{ { "a.com" }, { "/x", "/y", "/x" }, 3 },
	{ { NULL }, { "/x/y", "/x/y/" }, 1 },
	{ { NULL }, { "/", "/x", "/" }, 2 },
	/* Not duplicates: */
	{ { "a.com", "*.a.com" }, { NULL }, SIZE_MAX },
	{ { "*.a.com", "*.b.a.com" }, { NULL }, SIZE_MAX },
	{ { NULL }, { "/x", "/x/y", "/" }, SIZE_MAX },
	{ { "x" }, { "/x" }, SIZE_MAX },
};

START_TEST(test_duplicates_are_refused_with_index)
{
	const struct dup_case *c = &dup_cases[_i];
	struct lb_route	       r[8];
	struct lb_routes      *t;
	size_t		       nh = 0, n = 0, dup = 12345;

	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < 4 && c->hosts[i] != NULL; i++) {
		r[n].kind = LB_ROUTE_HOST;
		r[n++].match = (char *)c->hosts[i];
		nh++;
	}
	for (size_t i = 0; i < 4 && c->paths[i] != NULL; i++) {
		r[n].kind = LB_ROUTE_PATH;
		r[n++].match = (char *)c->paths[i];
	}
	errno = 0;
	t = lb_routes_compile(r, n, nh, &dup);
	if (c->dup == SIZE_MAX) {
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_eq(dup, 12345);
		lb_routes_free(t);
		return;
	}
	ck_assert_ptr_null(t);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_uint_eq(dup, c->dup);
	/* A NULL dup pointer is allowed. */
	ck_assert_ptr_null(lb_routes_compile(r, n, nh, NULL));
	ck_assert_int_eq(errno, EEXIST);
}
END_TEST

/*
 * Thousands of routes of every kind: hosts h<i>.example.com, wildcards
 * *.w<i>.example.com, one-segment paths /p<i> and two-segment paths
 * /q<i>/r<i>. Correctness only; speed belongs in bench/.
 */
#define BIG 10000

START_TEST(test_ten_thousand_routes_of_each_kind)
{
	struct lb_route	      *r;
	struct lb_routes      *t;
	const struct lb_route *m;
	char		       host[128], path[128];
	size_t		       n = 2 * BIG, nh = BIG, i;

	ck_assert_ptr_nonnull(r = calloc(n, sizeof(*r)));
	for (i = 0; i < BIG / 2; i++) {
		ck_assert_int_ne(asprintf(&r[i].match, "h%zu.example.com", i),
		    -1);
		ck_assert_int_ne(asprintf(&r[BIG / 2 + i].match,
				     "*.w%zu.example.com", i),
		    -1);
		ck_assert_int_ne(asprintf(&r[BIG + i].match, "/p%zu", i), -1);
		ck_assert_int_ne(asprintf(&r[BIG + BIG / 2 + i].match,
				     "/q%zu/r%zu", i, i),
		    -1);
	}
	for (i = 0; i < n; i++) {
		r[i].kind = i < nh ? LB_ROUTE_HOST : LB_ROUTE_PATH;
		r[i].id = i;
	}
	ck_assert_ptr_nonnull(t = lb_routes_compile(r, n, nh, NULL));

	for (i = 0; i < BIG / 2; i += 7) {
		/* Hits. */
		snprintf(host, sizeof(host), "H%zu.Example.com:8080", i);
		m = lb_routes_match(t, host, "/p1");
		ck_assert_ptr_eq(m, &r[i]);
		snprintf(host, sizeof(host), "a.b.w%zu.example.com", i);
		ck_assert_ptr_eq(lb_routes_match(t, host, "/"),
		    &r[BIG / 2 + i]);
		snprintf(path, sizeof(path), "/p%zu/x", i);
		ck_assert_ptr_eq(lb_routes_match(t, "nope.org", path),
		    &r[BIG + i]);
		snprintf(path, sizeof(path), "/q%zu/r%zu/", i, i);
		ck_assert_ptr_eq(lb_routes_match(t, NULL, path),
		    &r[BIG + BIG / 2 + i]);

		/* Misses. */
		snprintf(host, sizeof(host), "h%zu.example.com", i + BIG);
		ck_assert_ptr_null(lb_routes_match(t, host, "/none"));
		snprintf(host, sizeof(host), "w%zu.example.com", i);
		ck_assert_ptr_null(lb_routes_match(t, host, NULL));
		snprintf(path, sizeof(path), "/p%zux", i);
		ck_assert_ptr_null(lb_routes_match(t, NULL, path));
		snprintf(path, sizeof(path), "/q%zu/r%zu", i, i + 1);
		ck_assert_ptr_null(lb_routes_match(t, NULL, path));
		snprintf(path, sizeof(path), "/q%zu", i);
		ck_assert_ptr_null(lb_routes_match(t, NULL, path));
	}

	lb_routes_free(t);
	for (i = 0; i < n; i++)
		free(r[i].match);
	free(r);
}
END_TEST

static Suite *
routes_suite(void)
{
	Suite *s = suite_create("routes");
	TCase *tc;

	tc = tcase_create("host");
	tcase_add_test(tc, test_host_exact_match);
	tcase_add_test(tc, test_host_is_case_insensitive);
	tcase_add_test(tc,
	    test_host_port_brackets_and_trailing_dot_are_ignored);
	tcase_add_test(tc, test_host_ipv6_route_written_without_brackets);
	tcase_add_test(tc, test_wildcard_longest_suffix_wins);
	tcase_add_test(tc, test_wildcard_does_not_match_its_bare_suffix);
	tcase_add_test(tc, test_exact_host_beats_wildcard);
	suite_add_tcase(s, tc);

	tc = tcase_create("path");
	tcase_add_test(tc, test_path_matches_whole_segments_only);
	tcase_add_test(tc, test_path_longest_prefix_wins);
	tcase_add_test(tc, test_path_root_route_matches_every_path);
	tcase_add_test(tc, test_path_stops_at_empty_segment_and_query);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_host_route_beats_path_route);
	tcase_add_test(tc, test_no_match_returns_null);
	tcase_add_test(tc, test_empty_table_matches_nothing);
	tcase_add_loop_test(tc, test_duplicates_are_refused_with_index, 0,
	    NITEMS(dup_cases));
	tcase_add_test(tc, test_ten_thousand_routes_of_each_kind);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(routes_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

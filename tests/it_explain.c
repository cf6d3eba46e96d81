/*
 * tests/it_explain.c -- the operator's tools that look at a config
 * without sending a request (SPEC section 11, lbmaster(8)): lbmaster -x
 * explains what the configuration does with a request, and the config's
 * tests: are run at -t, at start and at every reload, where a failing
 * one refuses the reload and leaves the old config serving.
 *
 * The course's config (tests/fixtures/loadbalancer.yaml) is the subject:
 * www.mango.com rewrites v1 to v2, adds a parameter and a header and
 * refuses two addresses; www.apple.com refuses /messages and /apps.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

#define RUN_MS 10000

/* Run lbmaster with ARGS (NULL-terminated); exit code, *OUT its output. */
static int
lb_run(char **out, const char *a0, ...)
{
	const char *argv[16];
	va_list	    ap;
	size_t	    n = 0;

	argv[n++] = getenv("LBMASTER");
	va_start(ap, a0);
	for (const char *a = a0; a != NULL && n < 15;
	     a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return lbt_run(argv, RUN_MS, out);
}

/* Whether OUT has the line LINE, whole. */
static bool
has_line(const char *out, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = out; (p = strstr(p, line)) != NULL; p++)
		if ((p == out || p[-1] == '\n') &&
		    (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

#define assert_line(out, line) \
	ck_assert_msg(has_line(out, line), "no line \"%s\" in:\n%s", line, out)

/* ------------------------------------------------------------ -x */

/*
 * A mango request is forwarded with its path rewritten, the parameter and
 * header added, Host replaced (the rule removes the client's) and
 * X-Forwarded-For naming --from; the route and its servers are named.
 */
START_TEST(test_x_explains_a_forwarded_request)
{
	const char *f = lbt_fixture("loadbalancer.yaml");
	char	   *out;

	ck_assert_int_eq(lb_run(&out, "-c", f, "-x",
			     "GET /v1/users?a=1&RemoveMe=Remove", "-H",
			     "Host: www.mango.com", "-H",
			     "X-Forwarded-For: 1.2.3.4", "--from", "10.1.2.3",
			     NULL),
	    0);
	assert_line(out, lbt_fmt("route: hosts[0] www.mango.com (%s:2:11)", f));
	assert_line(out, "firewall: pass");
	assert_line(out, "status: forward");
	assert_line(out,
	    "request: GET /v2/users?a=1&MyCustomParam=Test HTTP/1.1");
	assert_line(out, "header: MyCustomHeader: Test");
	assert_line(out, "header: X-Forwarded-For: 1.2.3.4, 10.1.2.3");
	assert_line(out, "header: X-Forwarded-Proto: http");
	assert_line(out, "header: X-Forwarded-Host: www.mango.com");
	assert_line(out, "header: Host: localhost:8081");
	assert_line(out, "algorithm: round_robin");
	ck_assert_msg(strstr(out, "\nservers: localhost:8081") != NULL, "%s",
	    out);
}
END_TEST

/* /messages on apple is refused by its rule, named with its position. */
START_TEST(test_x_names_the_rule_that_refuses)
{
	const char *f = lbt_fixture("loadbalancer.yaml");
	char	   *out;

	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET /messages/1", "-H",
			     "Host: www.apple.com", NULL),
	    3);
	assert_line(out,
	    lbt_fmt("firewall: hosts[1].firewall_rules.path_reject[0] "
		    "/messages (%s:29:11)",
		f));
	assert_line(out, "status: 403");
	ck_assert_ptr_null(strstr(out, "request:"));
	/* And an address rule, from --from. */
	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET /", "-H",
			     "Host: www.mango.com", "--from", "10.192.0.2",
			     NULL),
	    3);
	assert_line(out,
	    lbt_fmt("firewall: hosts[0].firewall_rules.ip_reject[1] "
		    "10.192.0.2 (%s:19:11)",
		f));
}
END_TEST

START_TEST(test_x_unknown_host_and_path_routes)
{
	const char *f = lbt_fixture("loadbalancer.yaml");
	char	   *out;

	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET /", "-H",
			     "Host: www.nowhere.example", NULL),
	    3);
	assert_line(out, "route: none");
	assert_line(out, "status: 404");
	/* No Host: the path routes, their prefix stripped. */
	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET /apple/pie", NULL),
	    0);
	assert_line(out, lbt_fmt("route: paths[1] /apple (%s:44:11)", f));
	assert_line(out, "request: GET /pie HTTP/1.1");
	/* An absolute-form target routes by its authority. */
	ck_assert_int_eq(lb_run(&out, "-c", f, "-x",
			     "GET http://www.apple.com/x", "-H",
			     "Host: www.mango.com", NULL),
	    0);
	assert_line(out,
	    lbt_fmt("route: hosts[1] www.apple.com (%s:23:11)", f));
}
END_TEST

/* Bad arguments exit 2; a bad config 1, with its position. */
START_TEST(test_x_bad_arguments_and_bad_config)
{
	const char *f = lbt_fixture("loadbalancer.yaml");
	const char *bad;
	char	   *out;

	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET", NULL), 2);
	ck_assert_ptr_nonnull(strstr(out, "want 'METHOD TARGET'"));
	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET /a b", NULL), 2);
	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "G(T /", NULL), 2);
	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET /", "-H", "NoColon",
			     NULL),
	    2);
	ck_assert_int_eq(lb_run(&out, "-c", f, "-x", "GET /", "--from",
			     "not-an-ip", NULL),
	    2);
	ck_assert_int_eq(lb_run(&out, "-c", f, "-H", "Host: a", NULL), 2);
	ck_assert_int_eq(lb_run(&out, "-c", f, "-t", "-x", "GET /", NULL), 2);
	bad = lbt_write_file("bad.yaml",
	    "hosts:\n  - host: a\n    server: []\n");
	ck_assert_int_eq(lb_run(&out, "-c", bad, "-x", "GET /", NULL), 1);
	ck_assert_msg(strstr(out, lbt_fmt("%s:3:5:", bad)) != NULL, "%s", out);
}
END_TEST

/*
 * -x binds and forks nothing: its config's listener is taken (by this
 * test) and its pid file is never written, yet it answers.
 */
START_TEST(test_x_binds_and_forks_nothing)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t	   len = sizeof(sin);
	int		   fd;
	const char	  *yaml, *pid = lbt_path("x.pid");
	char		  *out;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	yaml = lbt_write_file("x.yaml",
	    lbt_fmt("listen: 127.0.0.1:%u\npid_file: %s\n"
		    "hosts:\n  - host: a.example\n    servers: [127.0.0.1:9]\n",
		ntohs(sin.sin_port), pid));
	ck_assert_int_eq(lb_run(&out, "-c", yaml, "-x", "GET /", "-H",
			     "Host: a.example", NULL),
	    0);
	assert_line(out, "status: forward");
	ck_assert_int_eq(access(pid, F_OK), -1);
	close(fd);
}
END_TEST

/* --------------------------------------------------------- tests: */

static const char *const
    passing = "tests:\n"
	      "  - request: GET /v1/users?a=1\n"
	      "    headers: {Host: www.mango.com}\n"
	      "    from: 10.1.2.3\n"
	      "    expect: {status: forward, route: www.mango.com,\n"
	      "             path: /v2/users?a=1&MyCustomParam=Test,\n"
	      "             headers: {MyCustomHeader: Test, X-Forwarded-For: "
	      "10.1.2.3}}\n"
	      "  - request: GET /messages\n"
	      "    headers: {Host: www.apple.com}\n"
	      "    expect: {status: 403, route: www.apple.com}\n"
	      "  - request: GET /mango/x\n"
	      "    expect: {route: /mango, path: /x}\n";

/* The course's config with TESTS appended, as a file; its name. */
static const char *
with_tests(const char *name, const char *tests)
{
	char *base = lbt_read_file(lbt_fixture("loadbalancer.yaml"), NULL);

	return lbt_write_file(name, lbt_fmt("%s%s", base, tests));
}

START_TEST(test_tests_pass_at_t)
{
	char *out;

	ck_assert_int_eq(lb_run(&out, "-t", "-c", with_tests("t.yaml", passing),
			     NULL),
	    0);
	ck_assert_ptr_nonnull(strstr(out, "test is successful"));
}
END_TEST

struct fail_case {
	const char *tests;
	unsigned    line; /* of the failing test, in the appended part */
	const char *message;
};

static const struct fail_case fail_cases[] = {
	{ "tests:\n  - request: GET /messages\n"
	  "    headers: {Host: www.apple.com}\n"
	  "    expect: {status: forward}\n",
	    2, "tests[0]: expected status forward, got 403" },
	{ "tests:\n  - request: GET /v1\n    headers: {Host: www.mango.com}\n"
	  "    expect: {status: forward}\n"
	  "  - request: GET /v1\n    headers: {Host: www.mango.com}\n"
	  "    expect: {status: 403}\n",
	    5, "tests[1]: expected status 403, got forward" },
	{ "tests:\n  - request: GET /v1\n    headers: {Host: www.mango.com}\n"
	  "    expect: {path: /v1}\n",
	    2, "tests[0]: expected path /v1, got /v2?MyCustomParam=Test" },
	{ "tests:\n  - request: GET /x\n    headers: {Host: www.orange.com}\n"
	  "    expect: {route: www.mango.com}\n",
	    2, "tests[0]: expected route www.mango.com, got www.orange.com" },
	{ "tests:\n  - request: GET /x\n    headers: {Host: www.mango.com}\n"
	  "    expect: {headers: {MyCustomHeader: Other}}\n",
	    2,
	    "tests[0]: expected header MyCustomHeader: Other, got "
	    "MyCustomHeader: Test" },
	{ "tests:\n  - request: GET /x\n    headers: {Host: www.orange.com}\n"
	  "    expect: {headers: {MyCustomHeader: Test}}\n",
	    2,
	    "tests[0]: expected header MyCustomHeader: Test, got no "
	    "MyCustomHeader" },
	{ "tests:\n  - request: GET\n    expect: {status: 404}\n", 2,
	    "tests[0].request: \"GET\" is not \"METHOD TARGET\"" },
	{ "tests:\n  - request: GET /\n    expect: {status: fine}\n", 3,
	    "tests[0].expect.status: \"fine\" is not a status" },
};

/* A failing test is a config error at its position: expected and got. */
START_TEST(test_a_failing_test_fails_t_at_its_position)
{
	const struct fail_case *fc = &fail_cases[_i];
	const char	       *file = with_tests("t.yaml", fc->tests);
	unsigned		base = 0;
	char		       *out, *text;

	/* The fixture's lines come first. */
	text = lbt_read_file(lbt_fixture("loadbalancer.yaml"), NULL);
	for (const char *p = text; *p != '\0'; p++)
		base += *p == '\n';
	ck_assert_int_eq(lb_run(&out, "-t", "-c", file, NULL), 1);
	ck_assert_msg(strstr(out, lbt_fmt("%s:%u:", file, base + fc->line)) !=
		NULL,
	    "want %s:%u: in\n%s", file, base + fc->line, out);
	ck_assert_msg(strstr(out, fc->message) != NULL, "want \"%s\" in\n%s",
	    fc->message, out);
	/* The start is refused the same way. */
	ck_assert_int_eq(lb_run(&out, "-f", "-c", file, NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, fc->message));
}
END_TEST

/*
 * A reload whose config breaks a promised route is refused: the master
 * logs the failing test and the old config keeps serving.
 */
START_TEST(test_a_failing_test_refuses_the_reload)
{
	unsigned    port = lbt_free_port(), oport = 0;
	pid_t	    origin, lb;
	const char *yaml, *good, *file;
	char	   *log;

	origin = lbt_origin_start("o", &oport, NULL);
	good = lbt_fmt("listen: 127.0.0.1:%u\nhealth_check: off\n"
		       "hosts:\n  - host: a.example\n"
		       "    servers: [127.0.0.1:%u]\n"
		       "tests:\n  - request: GET /\n"
		       "    headers: {Host: a.example}\n"
		       "    expect: {status: forward}\n",
	    port, oport);
	lb = lbt_lbmaster_start(good, port);
	ck_assert_int_eq(mp_get(port, "a.example", "/"), 200);
	file = lbt_path("lbmaster.yaml");
	/* The same test, but a firewall rule now refuses the request. */
	yaml = lbt_fmt("%sfirewall_rules: {path_reject: [/]}\n", good);
	lbt_write_file(file, yaml);
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "reload failed", 5000);
	log = lbt_read_file(lbt_log_path(lb), NULL);
	ck_assert_msg(strstr(log,
			  lbt_fmt("%s:7:5: tests[0]: expected status "
				  "forward, got 403",
			      file)) != NULL,
	    "%s", log);
	ck_assert_int_eq(mp_get(port, "a.example", "/"), 200);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

static Suite *
explain_suite(void)
{
	Suite *s = suite_create("explain");
	TCase *tc;

	tc = lbt_tcase("x");
	tcase_add_test(tc, test_x_explains_a_forwarded_request);
	tcase_add_test(tc, test_x_names_the_rule_that_refuses);
	tcase_add_test(tc, test_x_unknown_host_and_path_routes);
	tcase_add_test(tc, test_x_bad_arguments_and_bad_config);
	tcase_add_test(tc, test_x_binds_and_forks_nothing);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("tests");
	tcase_add_test(tc, test_tests_pass_at_t);
	tcase_add_loop_test(tc, test_a_failing_test_fails_t_at_its_position, 0,
	    sizeof(fail_cases) / sizeof(fail_cases[0]));
	tcase_add_test(tc, test_a_failing_test_refuses_the_reload);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(explain_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

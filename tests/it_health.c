/*
 * tests/it_health.c -- health across workers, seen from outside (SPEC
 * section 5): the checker process takes a failing origin out and brings
 * it back, probes once whatever the number of workers, a refused server
 * is skipped by every worker at once, and least_conn counts the requests
 * in flight of every worker.
 */
#include <sys/types.h>

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

#define INTERVAL_MS 200
#define RISE	    2
#define FALL	    2

/* GET / from HOST through lbmaster on PORT; the origin's name, or NULL. */
static const char *
get_app(unsigned port, const char *host, int *status)
{
	struct lbt_resp r;
	const char     *app = NULL;

	*status = 0;
	if (lbt_httpf(port, &r,
		"GET / HTTP/1.1\r\nHost: %s\r\n"
		"Connection: close\r\n\r\n",
		host) == 0) {
		*status = r.status;
		if (r.status == 200 && r.body != NULL &&
		    lbt_json_str(r.body, "app") != NULL)
			app = lbt_fmt("%s", lbt_json_str(r.body, "app"));
	}
	lbt_resp_free(&r);
	return app;
}

/* Send N requests; every one must be answered 200 by an origin. */
static void
send_ok(unsigned port, const char *host, int n)
{
	for (int i = 0; i < n; i++) {
		int	    status;
		const char *app = get_app(port, host, &status);

		ck_assert_msg(status == 200 && app != NULL,
		    "request %d of %d: status %d", i + 1, n, status);
	}
}

struct log_wait {
	pid_t	    pid;
	const char *text;
};

static bool
log_has(void *arg)
{
	const struct log_wait *w = arg;

	return strstr(lbt_log_tail(w->pid, 64 * 1024), w->text) != NULL;
}

/* ------------------------------------------------------------- tests */

START_TEST(test_failing_origin_is_taken_out_and_brought_back)
{
	unsigned	a = 0, b = 0, port = lbt_free_port();
	pid_t		pa, pb, lb;
	long long	t0, took, before;
	struct log_wait w;

	pa = lbt_origin_start("apple", &a, NULL);
	pb = lbt_origin_start("banana", &b, NULL);
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 2\n"
		    "health_check: {interval: %dms, timeout: 150ms, rise: %d, "
		    "fall: %d}\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n",
		port, INTERVAL_MS, RISE, FALL, a, b),
	    port);

	send_ok(port, "www.fruit.com", 10);
	ck_assert_int_gt(lbt_origin_stat(b, "requests"), 0);

	/* Down after FALL failed probes: the log says when, and why. */
	lbt_origin_health(b, false);
	t0 = lbt_now_ms();
	w.pid = lb;
	w.text = lbt_fmt("www.fruit.com: server 127.0.0.1:%u (127.0.0.1:%u) "
			 "is down: status 500 (%d failures)",
	    b, b, FALL);
	ck_assert_msg(lbt_wait_for(log_has, &w, 5000), "never logged: %s\n%s",
	    w.text, lbt_log_tail(lb, 4096));
	took = lbt_now_ms() - t0;
	ck_assert_msg(took <= (FALL + 1) * INTERVAL_MS + 1000,
	    "down after %lld ms", took);

	before = lbt_origin_stat(b, "requests");
	for (int i = 0; i < 20; i++) {
		int status;

		ck_assert_str_eq(get_app(port, "www.fruit.com", &status),
		    "apple");
	}
	ck_assert_int_eq(lbt_origin_stat(b, "requests"), before);

	/* Up again after RISE good probes, and back in the rotation. */
	lbt_origin_health(b, true);
	t0 = lbt_now_ms();
	w.text = lbt_fmt("www.fruit.com: server 127.0.0.1:%u (127.0.0.1:%u) "
			 "is up: status 200 (%d successes)",
	    b, b, RISE);
	ck_assert_msg(lbt_wait_for(log_has, &w, 5000), "never logged: %s\n%s",
	    w.text, lbt_log_tail(lb, 4096));
	took = lbt_now_ms() - t0;
	ck_assert_msg(took <= (RISE + 1) * INTERVAL_MS + 1000,
	    "up after %lld ms", took);
	send_ok(port, "www.fruit.com", 20);
	ck_assert_int_ge(lbt_origin_stat(b, "requests") - before, 5);

	ck_assert_int_eq(lbt_stop(lb), 0);
	lbt_stop(pa);
	lbt_stop(pb);
}
END_TEST

START_TEST(test_probes_come_from_one_checker_whatever_the_workers)
{
	unsigned  a = 0, port = lbt_free_port();
	pid_t	  pa, lb;
	long long p0, p1, t0, window;
	long	  expect;

	pa = lbt_origin_start("apple", &a, NULL);
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 4\n"
		    "health_check: {interval: %dms, timeout: 150ms}\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    servers: [127.0.0.1:%u]\n",
		port, INTERVAL_MS, a),
	    port);

	/* Past the first, jittered, probes. */
	lbt_pause_ms(2 * INTERVAL_MS);
	p0 = lbt_origin_stat(a, "health_probes");
	t0 = lbt_now_ms();
	lbt_pause_ms(2000);
	p1 = lbt_origin_stat(a, "health_probes");
	window = lbt_now_ms() - t0;
	expect = (long)(window / INTERVAL_MS);
	/* One checker: about one probe per interval, not one per worker. */
	ck_assert_msg(p1 - p0 >= expect - 3 && p1 - p0 <= expect + 2,
	    "%lld probes in %lld ms with interval %d ms (expected about %ld)",
	    p1 - p0, window, INTERVAL_MS, expect);

	ck_assert_int_eq(lbt_stop(lb), 0);
	lbt_stop(pa);
}
END_TEST

/*
 * The same server in two routes is two servers with two verdicts: each
 * route probes it with its own settings.
 */
START_TEST(test_a_server_in_two_routes_is_probed_for_each)
{
	unsigned  a = 0, port = lbt_free_port();
	pid_t	  pa, lb;
	long long p0, p1, t0, window;
	long	  expect;

	pa = lbt_origin_start("apple", &a, NULL);
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 2\n"
		    "health_check: {interval: %dms, timeout: 150ms}\n"
		    "hosts:\n"
		    "  - host: one.fruit.com\n"
		    "    servers: [127.0.0.1:%u]\n"
		    "  - host: two.fruit.com\n"
		    "    health_check: {interval: %dms}\n"
		    "    servers: [127.0.0.1:%u]\n"
		    "  - host: three.fruit.com\n"
		    "    health_check: off\n"
		    "    servers: [127.0.0.1:%u]\n",
		port, INTERVAL_MS, a, 2 * INTERVAL_MS, a, a),
	    port);

	lbt_pause_ms(4 * INTERVAL_MS);
	p0 = lbt_origin_stat(a, "health_probes");
	t0 = lbt_now_ms();
	lbt_pause_ms(2000);
	p1 = lbt_origin_stat(a, "health_probes");
	window = lbt_now_ms() - t0;
	expect = (long)(window / INTERVAL_MS + window / (2 * INTERVAL_MS));
	ck_assert_msg(p1 - p0 >= expect - 4 && p1 - p0 <= expect + 3,
	    "%lld probes in %lld ms (expected about %ld)", p1 - p0, window,
	    expect);

	ck_assert_int_eq(lbt_stop(lb), 0);
	lbt_stop(pa);
}
END_TEST

/*
 * Passive health: one refused connection marks the server down for
 * every worker, with active checks (until one passes: here not before
 * an hour) and without (for 10 s).
 */
static const char *const passive_checks[] = {
	"off",
	"{interval: 1h, timeout: 1s}",
};

START_TEST(test_refused_server_is_skipped_by_every_worker)
{
	unsigned a = 0, dead = lbt_free_port(), port = lbt_free_port(),
		 admin = lbt_free_port();
	pid_t pa, lb;
	const char
	    *fail = lbt_fmt("lbmaster_backend_failures_total{"
			    "route=\"www.fruit.com\",server=\"127.0.0.1:%u\","
			    "address=\"127.0.0.1:%u\"}",
		dead, dead);
	const char
	    *sent = lbt_fmt("lbmaster_backend_requests_total{"
			    "route=\"www.fruit.com\",server=\"127.0.0.1:%u\","
			    "address=\"127.0.0.1:%u\"}",
		dead, dead);
	int  i;

	pa = lbt_origin_start("apple", &a, NULL);
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "admin: {listen: 127.0.0.1:%u}\n"
		    "workers: 4\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    health_check: %s\n"
		    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n",
		port, admin, passive_checks[_i], dead, a),
	    port);
	lbt_wait_port(lb, "127.0.0.1", admin, LBT_START_MS);

	/* Until some worker has tried the dead server once. */
	for (i = 0; i < 20 && mp_metric(admin, fail) < 1; i++)
		send_ok(port, "www.fruit.com", 1);
	ck_assert_int_eq(mp_metric(admin, fail), 1);

	/* New connections reach every worker; none tries it again. */
	send_ok(port, "www.fruit.com", 40);
	ck_assert_int_eq(mp_metric(admin, fail), 1);
	ck_assert_int_eq(mp_metric(admin, sent), 1);
	ck_assert_int_eq(
	    mp_metric(admin,
		lbt_fmt("lbmaster_backend_up{"
			"route=\"www.fruit.com\",server=\"127.0.0.1:%u\","
			"address=\"127.0.0.1:%u\"}",
		    dead, dead)),
	    0);

	ck_assert_int_eq(lbt_stop(lb), 0);
	lbt_stop(pa);
}
END_TEST

/* With active checks, a passing probe lifts the passive mark. */
START_TEST(test_refused_server_returns_after_a_passing_check)
{
	unsigned    a = 0, b = lbt_free_port(), port = lbt_free_port();
	pid_t	    pa, pb, lb;
	long long   t0, took;
	int	    status;
	const char *app;
	bool	    seen = false;

	pa = lbt_origin_start("apple", &a, NULL);
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 2\n"
		    "health_check: {interval: %dms, timeout: 150ms, rise: %d, "
		    "fall: %d}\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n",
		port, INTERVAL_MS, RISE, FALL, a, b),
	    port);
	send_ok(port, "www.fruit.com", 10);

	pb = lbt_origin_start("banana", &b, NULL);
	t0 = lbt_now_ms();
	while (!seen && lbt_now_ms() - t0 < (RISE + 1) * INTERVAL_MS + 3000) {
		app = get_app(port, "www.fruit.com", &status);
		ck_assert_int_eq(status, 200);
		seen = strcmp(app, "banana") == 0;
	}
	took = lbt_now_ms() - t0;
	ck_assert_msg(seen, "banana got nothing in %lld ms", took);

	ck_assert_int_eq(lbt_stop(lb), 0);
	lbt_stop(pa);
	lbt_stop(pb);
}
END_TEST

/*
 * least_conn counts requests in flight across workers: clients that send
 * their next request as soon as the last is answered, spread over two
 * workers, mostly go to the origin that answers at once.
 */
START_TEST(test_least_conn_prefers_the_fast_origin)
{
	enum {
		CLIENTS = 8
	};
	unsigned	 slow = 0, fast = 0, port = lbt_free_port();
	pid_t		 ps, pf, lb;
	struct lbt_conn *c[CLIENTS];
	struct pollfd	 pfd[CLIENTS];
	const char req[] = "GET / HTTP/1.1\r\nHost: www.fruit.com\r\n\r\n";
	long long  t0, ns, nf;

	ps = lbt_origin_start("slow", &slow,
	    (const char *[]){ "--mode", "slow:300", NULL });
	pf = lbt_origin_start("fast", &fast, NULL);
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 2\n"
		    "algorithm: least_conn\n"
		    "health_check: off\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n",
		port, slow, fast),
	    port);

	for (int i = 0; i < CLIENTS; i++) {
		c[i] = lbt_conn_open(NULL, port);
		ck_assert_ptr_nonnull(c[i]);
		ck_assert_int_eq(lbt_conn_send(c[i], req, sizeof(req) - 1), 0);
		pfd[i].fd = lbt_conn_fd(c[i]);
		pfd[i].events = POLLIN;
	}
	t0 = lbt_now_ms();
	while (lbt_now_ms() - t0 < 1500) {
		ck_assert_int_ge(poll(pfd, CLIENTS, 1000), 0);
		for (int i = 0; i < CLIENTS; i++) {
			struct lbt_resp r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			ck_assert_int_eq(lbt_conn_response(c[i], 0, &r), 0);
			ck_assert_int_eq(r.status, 200);
			lbt_resp_free(&r);
			ck_assert_int_eq(lbt_conn_send(c[i], req,
					     sizeof(req) - 1),
			    0);
		}
	}
	for (int i = 0; i < CLIENTS; i++)
		lbt_conn_close(c[i]);

	ns = lbt_origin_stat(slow, "requests");
	nf = lbt_origin_stat(fast, "requests");
	/* Round robin would give each half. */
	ck_assert_msg(ns * 4 < ns + nf, "slow %lld, fast %lld", ns, nf);

	ck_assert_int_eq(lbt_stop(lb), 0);
	lbt_stop(ps);
	lbt_stop(pf);
}
END_TEST

/*
 * Checks are on by default, on /healthcheck: a server without that URL
 * answers 404 and is taken out, and the log line says how to fix it. The
 * --raw origin answers /__control with 404, which stands for any such
 * server here.
 */
START_TEST(test_a_404_on_the_check_path_says_how_to_fix_it)
{
	unsigned	a = 0, port = lbt_free_port();
	pid_t		pa, lb;
	struct log_wait w;

	pa = lbt_origin_start("apple", &a,
	    (const char *const[]){ "--raw", NULL });
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 1\n"
		    "health_check: {path: /__control, interval: %dms}\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    servers: [127.0.0.1:%u]\n",
		port, INTERVAL_MS, a),
	    port);
	w.pid = lb;
	w.text = lbt_fmt("www.fruit.com: server 127.0.0.1:%u (127.0.0.1:%u) "
			 "is down: status 404 for GET /__control, a URL the "
			 "server does not have: set health_check.path to one "
			 "it answers, or write health_check: off (%d failures)",
	    a, a, FALL);
	ck_assert_msg(lbt_wait_for(log_has, &w, 5000), "never logged: %s\n%s",
	    w.text, lbt_log_tail(lb, 4096));
	ck_assert_int_eq(lbt_stop(lb), 0);
	lbt_stop(pa);
}
END_TEST

static Suite *
health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc;

	tc = lbt_tcase("active");
	tcase_add_test(tc, test_failing_origin_is_taken_out_and_brought_back);
	tcase_add_test(tc,
	    test_probes_come_from_one_checker_whatever_the_workers);
	tcase_add_test(tc, test_a_server_in_two_routes_is_probed_for_each);
	tcase_add_test(tc, test_a_404_on_the_check_path_says_how_to_fix_it);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("passive");
	tcase_add_loop_test(tc, test_refused_server_is_skipped_by_every_worker,
	    0, sizeof(passive_checks) / sizeof(passive_checks[0]));
	tcase_add_test(tc, test_refused_server_returns_after_a_passing_check);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("least_conn");
	tcase_add_test(tc, test_least_conn_prefers_the_fast_origin);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(health_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

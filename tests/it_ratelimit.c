/*
 * tests/it_ratelimit.c -- rate limits (SPEC section 10) seen from outside:
 * one bucket per client address or header value, shared by every worker,
 * 429 with Retry-After past it, off on a route, counted in /metrics, and
 * kept across a reload that leaves the limit as it was.
 */
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"
#include "tests/mproc.h"

/* One lbmaster with an admin port, its origin, and its config file. */
struct rl {
	pid_t	    origin, pid;
	unsigned    port, admin, fruit;
	const char *yaml;
};

/* The config of R: TOP more top-level YAML, ROUTE more keys of the
 * www.fruit.com route, and a path /free whose rate_limit is off. */
static const char *
config(const struct rl *r, int workers, const char *top, const char *route)
{
	return lbt_fmt("listen: 127.0.0.1:%u\nworkers: %d\n"
		       "health_check: off\nadmin: {listen: 127.0.0.1:%u}\n%s"
		       "hosts:\n"
		       "  - host: www.fruit.com\n%s"
		       "    servers: [127.0.0.1:%u]\n"
		       "paths:\n"
		       "  - path: /free\n"
		       "    rate_limit: off\n"
		       "    servers: [127.0.0.1:%u]\n",
	    r->port, workers, r->admin, top, route, r->fruit, r->fruit);
}

static void
start(struct rl *r, int workers, const char *top, const char *route)
{
	r->origin = itc_origin("fruit", &r->fruit, NULL);
	r->port = lbt_free_port();
	r->admin = lbt_free_port();
	r->yaml = lbt_write_file("rl.yaml", config(r, workers, top, route));
	r->pid = lbt_lbmaster_start_file(r->yaml, r->port, NULL);
	lbt_wait_port(r->pid, "127.0.0.1", r->admin, 10000);
}

static void
stop(struct rl *r)
{
	ck_assert_int_eq(lbt_stop(r->pid), 0);
	ck_assert_int_eq(lbt_stop(r->origin), 0);
}

/* The status of GET TARGET on www.fruit.com from SRC with HDRS. */
static int
status_of(const struct rl *r, const char *src, const char *target,
    const char *hdrs)
{
	struct lbt_resp resp;
	int		st;

	ck_assert_int_eq(itc_req(src, r->port, "GET", "www.fruit.com", target,
			     hdrs, &resp),
	    0);
	st = resp.status;
	lbt_resp_free(&resp);
	return st;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_over_the_limit_is_429_with_retry_after)
{
	struct lbt_resp resp;
	struct rl	r;

	start(&r, 1, "rate_limit: {rate: 1/m, burst: 2}\n", "");
	ck_assert_int_eq(status_of(&r, NULL, "/a", NULL), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/a", NULL), 200);
	ck_assert_int_eq(itc_req(NULL, r.port, "GET", "www.fruit.com", "/a",
			     NULL, &resp),
	    0);
	ck_assert_int_eq(resp.status, 429);
	ck_assert_str_eq(itc_text(&resp), "Too Many Requests");
	ck_assert_ptr_nonnull(lbt_header(&resp, "Retry-After"));
	/* One request a minute, the bucket just spent: about 60 s. */
	ck_assert_int_ge(atoi(lbt_header(&resp, "Retry-After")), 55);
	ck_assert_int_le(atoi(lbt_header(&resp, "Retry-After")), 60);
	lbt_resp_free(&resp);
	ck_assert_int_eq(lbt_origin_stat(r.fruit, "requests"), 2);
	ck_assert_int_eq(
	    mp_metric(r.admin,
		"lbmaster_rate_limited_total{route=\"www.fruit.com\"}"),
	    1);
	ck_assert_int_eq(mp_metric(r.admin,
			     "lbmaster_requests_total{route=\"www.fruit.com\","
			     "code=\"4xx\"}"),
	    1);
	stop(&r);
}
END_TEST

START_TEST(test_five_seconds_over_both_workers_pass_burst_plus_rate_times_5)
{
	struct rl r;
	long long t0, t1;
	unsigned  ok = 0, limited = 0, n = 0;
	double	  want;

	/* 20/s with a burst of 10: two workers must not make it 40/s. */
	start(&r, 2, "rate_limit: {rate: 20/s, burst: 10}\n", "");
	t0 = lbt_now_ms();
	do {
		/* A connection each: the kernel spreads them over both. */
		int st = status_of(&r, NULL, "/run", NULL);

		if (st == 200)
			ok++;
		else if (st == 429)
			limited++;
		n++;
		t1 = lbt_now_ms();
	} while (t1 - t0 < 5000);
	want = 10 + 20.0 * (double)(t1 - t0) / 1000;
	stop(&r);
	ck_assert_uint_eq(ok + limited, n);
	ck_assert_msg(limited > 0, "%u requests, none limited", n);
	ck_assert_msg(ok >= want * 0.9 && ok <= want * 1.1,
	    "%u of %u requests passed in %lld ms; burst + rate x time is %.0f",
	    ok, n, t1 - t0, want);
}
END_TEST

START_TEST(test_each_client_address_has_its_own_bucket)
{
	struct rl r;

	start(&r, 2, "rate_limit: {rate: 1/m, burst: 2}\n", "");
	ck_assert_int_eq(status_of(&r, "127.0.0.1", "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, "127.0.0.1", "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, "127.0.0.1", "/", NULL), 429);
	ck_assert_int_eq(status_of(&r, "127.0.0.2", "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, "127.0.0.2", "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, "127.0.0.2", "/", NULL), 429);
	ck_assert_int_eq(status_of(&r, "127.0.0.3", "/", NULL), 200);
	stop(&r);
}
END_TEST

START_TEST(test_each_header_value_has_its_own_bucket)
{
	struct rl r;

	start(&r, 2, "",
	    "    rate_limit: {rate: 1/m, burst: 2, key: "
	    "\"header:X-Api-Key\"}\n");
	ck_assert_int_eq(status_of(&r, NULL, "/", "X-Api-Key: a\r\n"), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", "X-Api-Key: a\r\n"), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", "X-Api-Key: a\r\n"), 429);
	ck_assert_int_eq(status_of(&r, NULL, "/", "x-api-key: b\r\n"), 200);
	/* Without the header: the client's address is the key. */
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 429);
	ck_assert_int_eq(status_of(&r, NULL, "/", "X-Api-Key: b\r\n"), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", "X-Api-Key: b\r\n"), 429);
	stop(&r);
}
END_TEST

START_TEST(test_full_table_lets_new_clients_through_and_counts_them)
{
	struct rl r;

	/* One key's room: a second client finds none, and passes. */
	start(&r, 1, "rate_limit: {rate: 1/m, burst: 1, max_keys: 1}\n", "");
	ck_assert_int_eq(status_of(&r, "127.0.0.1", "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, "127.0.0.1", "/", NULL), 429);
	ck_assert_int_eq(status_of(&r, "127.0.0.2", "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, "127.0.0.2", "/", NULL), 200);
	ck_assert_int_eq(mp_metric(r.admin,
			     "lbmaster_rate_limit_table_full_total"),
	    2);
	ck_assert_int_eq(
	    mp_metric(r.admin,
		"lbmaster_rate_limited_total{route=\"www.fruit.com\"}"),
	    1);
	stop(&r);
}
END_TEST

START_TEST(test_rate_limit_off_on_a_route)
{
	struct lbt_resp resp;
	struct rl	r;

	start(&r, 1, "rate_limit: {rate: 1/m, burst: 1}\n", "");
	for (int i = 0; i < 10; i++) {
		/* No hosts entry: the paths entry /free routes it. */
		ck_assert_int_eq(itc_req(NULL, r.port, "GET", "other.com",
				     "/free/x", NULL, &resp),
		    0);
		ck_assert_int_eq(resp.status, 200);
		lbt_resp_free(&resp);
	}
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 429);
	stop(&r);
}
END_TEST

START_TEST(test_reload_keeps_an_unchanged_limit_and_renews_a_changed_one)
{
	struct rl r;

	start(&r, 1, "rate_limit: {rate: 1/m, burst: 2}\n", "");
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 200);
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 429);

	/* Something else changes: the spent bucket stays spent. */
	lbt_write_file(r.yaml,
	    config(&r, 1,
		"rate_limit: {rate: 1/m, burst: 2}\ntimeouts: {connect: 2s}\n",
		""));
	lbt_signal(r.pid, SIGHUP);
	mp_wait_log(r.pid, "reload: ~ timeouts.connect", 10000);
	ck_assert(mp_wait_children(r.pid, MP_WORKER, 1, 10000));
	ck_assert_int_eq(mp_metric(r.admin, "lbmaster_config_generation"), 2);
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 429);
	ck_assert_int_eq(
	    mp_metric(r.admin,
		"lbmaster_rate_limited_total{route=\"www.fruit.com\"}"),
	    2);

	/* The limit itself changes: a new table, a full bucket. */
	lbt_write_file(r.yaml,
	    config(&r, 1,
		"rate_limit: {rate: 1/m, burst: 3}\ntimeouts: {connect: 2s}\n",
		""));
	lbt_signal(r.pid, SIGHUP);
	mp_wait_log(r.pid, "reload: ~ rate_limit.burst", 10000);
	ck_assert(mp_wait_children(r.pid, MP_WORKER, 1, 10000));
	ck_assert_int_eq(mp_metric(r.admin, "lbmaster_config_generation"), 3);
	ck_assert_int_eq(status_of(&r, NULL, "/", NULL), 200);
	stop(&r);
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc;

	tc = lbt_tcase("limit");
	tcase_add_test(tc, test_over_the_limit_is_429_with_retry_after);
	tcase_add_test(tc,
	    test_five_seconds_over_both_workers_pass_burst_plus_rate_times_5);
	tcase_add_test(tc, test_each_client_address_has_its_own_bucket);
	tcase_add_test(tc, test_each_header_value_has_its_own_bucket);
	tcase_add_test(tc,
	    test_full_table_lets_new_clients_through_and_counts_them);
	tcase_add_test(tc, test_rate_limit_off_on_a_route);
	tcase_add_test(tc,
	    test_reload_keeps_an_unchanged_limit_and_renews_a_changed_one);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ratelimit_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

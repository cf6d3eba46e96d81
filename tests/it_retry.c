/*
 * tests/it_retry.c -- step 6 of SPEC section 4 when an origin fails: a
 * refused connection is retried on another server; a failure after the
 * request was sent is retried only for idempotent methods; what cannot be
 * retried is a 502, silence past timeouts.backend a 504, and an answer
 * cut short never looks complete to the client. A pooled connection that
 * the origin drops before answering is the same: a GET is resent once on
 * a fresh connection, a POST or PATCH never.
 *
 * The origin misbehaves on request (X-Test-Fault, X-Test-Delay, --mode:
 * see tests/origin.c) and counts what it saw (/__stats), so a test can
 * tell how many attempts reached it.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

/* GET TARGET from www.fruit.com with the header lines HDRS. */
static int
get(unsigned port, const char *target, const char *hdrs, struct lbt_resp *r)
{
	return itc_get(port, "www.fruit.com", target, hdrs, r);
}

/* ---------------------------------------------------------- retries */

START_TEST(test_connect_failure_is_retried_on_another_server)
{
	struct lbt_resp r;
	unsigned	fruit, i;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	/*
	 * Closed ports around the live one: wherever a worker's round robin
	 * starts, it meets a refusal. A POST: nothing was sent, so even a
	 * non-idempotent request goes to the next server, body and all.
	 */
	itc_fruit_start(&lb, 2, "",
	    lbt_fmt("127.0.0.1:%u, 127.0.0.1:%u, "
		    "127.0.0.1:%u",
		lbt_free_port(), fruit, lbt_free_port()));
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(
		    lbt_httpf(lb.port, &r,
			"POST / HTTP/1.1\r\n"
			"Host: www.fruit.com\r\nContent-Length: 8\r\n"
			"Connection: close\r\n\r\nretry-me"),
		    0);
		ck_assert_msg(r.status == 200, "request %u: status %d, body %s",
		    i, r.status, r.body);
		ck_assert_int_eq(lbt_json_int(r.body, "body_length"), 8);
		ck_assert_str_eq(lbt_json_str(r.body, "body_crc32"),
		    lbt_fmt("%08x", lbt_crc32(0, "retry-me", 8)));
		lbt_resp_free(&r);
	}
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 10);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_post_is_not_retried_after_the_origin_failed)
{
	struct lbt_resp r;
	unsigned	a, b;
	pid_t		oa, ob;
	struct itc_lb	lb;

	oa = itc_origin("a", &a, NULL);
	ob = itc_origin("b", &b, NULL);
	itc_fruit_start(&lb, 1, "",
	    lbt_fmt("127.0.0.1:%u, 127.0.0.1:%u", a, b));
	ck_assert_int_eq(
	    lbt_httpf(lb.port, &r,
		"POST / HTTP/1.1\r\n"
		"Host: www.fruit.com\r\nX-Test-Fault: close\r\n"
		"Content-Length: 4\r\nConnection: close\r\n\r\nonce"),
	    0);
	ck_assert_int_eq(r.status, 502);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(a, "requests") +
		lbt_origin_stat(b, "requests"),
	    1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(ob), 0);
	ck_assert_int_eq(lbt_stop(oa), 0);
}
END_TEST

START_TEST(test_get_is_retried_on_another_server_after_the_origin_failed)
{
	struct lbt_resp r;
	unsigned	bad, good, i;
	pid_t		ob, og;
	struct itc_lb	lb;

	ob = itc_origin("bad", &bad,
	    (const char *[]){ "--mode", "close", NULL });
	og = itc_origin("good", &good, NULL);
	itc_fruit_start(&lb, 1, "",
	    lbt_fmt("127.0.0.1:%u, 127.0.0.1:%u", bad, good));
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(get(lb.port, "/", NULL, &r), 0);
		ck_assert_msg(r.status == 200, "request %u: status %d, body %s",
		    i, r.status, r.body);
		ck_assert_str_eq(lbt_json_str(r.body, "app"), "good");
		lbt_resp_free(&r);
	}
	ck_assert_int_ge(lbt_origin_stat(bad, "requests"), 1);
	ck_assert_int_eq(lbt_origin_stat(good, "requests"), 4);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(og), 0);
	ck_assert_int_eq(lbt_stop(ob), 0);
}
END_TEST

/* PUT is idempotent: retried like a GET, with its whole body again. */
START_TEST(test_put_is_retried_with_its_whole_body)
{
	struct lbt_resp r;
	unsigned	bad, good, i;
	pid_t		ob, og;
	struct itc_lb	lb;

	ob = itc_origin("bad", &bad,
	    (const char *[]){ "--mode", "reset", NULL });
	og = itc_origin("good", &good, NULL);
	itc_fruit_start(&lb, 1, "",
	    lbt_fmt("127.0.0.1:%u, 127.0.0.1:%u", bad, good));
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(
		    lbt_httpf(lb.port, &r,
			"PUT /p HTTP/1.1\r\n"
			"Host: www.fruit.com\r\nContent-Length: 10\r\n"
			"Connection: close\r\n\r\n0123456789"),
		    0);
		ck_assert_msg(r.status == 200, "request %u: status %d, body %s",
		    i, r.status, r.body);
		ck_assert_str_eq(lbt_json_str(r.body, "app"), "good");
		ck_assert_int_eq(lbt_json_int(r.body, "body_length"), 10);
		ck_assert_str_eq(lbt_json_str(r.body, "body_crc32"),
		    lbt_fmt("%08x", lbt_crc32(0, "0123456789", 10)));
		lbt_resp_free(&r);
	}
	ck_assert_int_ge(lbt_origin_stat(bad, "requests"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(og), 0);
	ck_assert_int_eq(lbt_stop(ob), 0);
}
END_TEST

START_TEST(test_get_failing_on_every_server_is_tried_once_on_each)
{
	struct lbt_resp r;
	unsigned	a, b;
	pid_t		oa, ob;
	struct itc_lb	lb;

	oa = itc_origin("a", &a, NULL);
	ob = itc_origin("b", &b, NULL);
	itc_fruit_start(&lb, 1, "",
	    lbt_fmt("127.0.0.1:%u, 127.0.0.1:%u", a, b));
	ck_assert_int_eq(get(lb.port, "/", "X-Test-Fault: close\r\n", &r), 0);
	ck_assert_int_eq(r.status, 502);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(a, "requests"), 1);
	ck_assert_int_eq(lbt_origin_stat(b, "requests"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(ob), 0);
	ck_assert_int_eq(lbt_stop(oa), 0);
}
END_TEST

/*
 * A connection lbmaster reuses from its pool, which the origin drops
 * before any byte of an answer: the first request leaves the connection
 * in the pool, and the origin closes it without answering the second
 * (X-Test-Fault: close-reused), as when its idle timer runs out just as
 * the request comes. A GET is resent once, on a fresh connection, where
 * the same fault lets it through: the client sees the origin's 200.
 */
START_TEST(test_get_on_a_dropped_pooled_connection_is_resent_once)
{
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(get(lb.port, "/v1", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	ck_assert_int_eq(get(lb.port, "/", "X-Test-Fault: close-reused\r\n",
			     &r),
	    0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_int_eq(lbt_json_int(r.body, "connection_id"), 2);
	lbt_resp_free(&r);
	/* /v1, the GET on the pooled connection, the GET resent. */
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 3);
	ck_assert_int_eq(lbt_origin_stat(fruit, "connections"), 2);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * The same with a request that is not idempotent: the origin may have
 * acted on it before it closed, so it is never sent twice. The client
 * gets a 502, and the origin saw it once.
 */
static void
dropped_pooled_connection_is_502(const char *method)
{
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(get(lb.port, "/v1", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	ck_assert_int_eq(
	    lbt_httpf(lb.port, &r,
		"%s / HTTP/1.1\r\nHost: www.fruit.com\r\n"
		"X-Test-Fault: close-reused\r\nContent-Length: 4\r\n"
		"Connection: close\r\n\r\nonce",
		method),
	    0);
	ck_assert_msg(r.status == 502, "%s: status %d, body %s", method,
	    r.status, r.body);
	lbt_resp_free(&r);
	/* /v1 and the request, once; no fresh connection for a resend. */
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 2);
	ck_assert_int_eq(lbt_origin_stat(fruit, "connections"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_post_on_a_dropped_pooled_connection_is_502_and_sent_once)
{
	dropped_pooled_connection_is_502("POST");
}
END_TEST

START_TEST(test_patch_on_a_dropped_pooled_connection_is_502_and_sent_once)
{
	dropped_pooled_connection_is_502("PATCH");
}
END_TEST

/* ----------------------------------------------------------- faults */

/* A GET with X-Test-Fault: FAULT to the one origin gets STATUS. */
static void
fault_status(const char *fault, int status)
{
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(get(lb.port, "/",
			     lbt_fmt("X-Test-Fault: %s\r\n", fault), &r),
	    0);
	ck_assert_msg(r.status == status, "fault %s: status %d, body %s", fault,
	    r.status, r.body);
	lbt_resp_free(&r);
	/* And the next request is served as if nothing happened. */
	ck_assert_int_eq(get(lb.port, "/v1", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_origin_reset_is_502)
{
	fault_status("reset", 502);
}
END_TEST

START_TEST(test_origin_garbage_is_502)
{
	fault_status("garbage", 502);
}
END_TEST

START_TEST(test_origin_close_without_answer_is_502)
{
	fault_status("close", 502);
}
END_TEST

START_TEST(test_origin_silent_past_backend_timeout_is_504)
{
	struct lbt_resp r;
	unsigned	fruit;
	long long	t0, took;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "timeouts: {backend: 500ms}\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	t0 = lbt_now_ms();
	ck_assert_int_eq(get(lb.port, "/", "X-Test-Delay: 5000\r\n", &r), 0);
	took = lbt_now_ms() - t0;
	ck_assert_msg(r.status == 504, "status %d, body %s", r.status, r.body);
	/* Not the origin's answer come late: lbmaster gave up itself. */
	ck_assert_msg(took < 5000, "the 504 took %lld ms", took);
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_truncated_origin_body_is_never_a_complete_response)
{
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(get(lb.port, "/",
			     "X-Test-Fault: partial\r\n"
			     "X-Test-Body: 100000\r\n",
			     &r),
	    -1);
	ck_assert_msg(r.err == LBT_EEOF || r.err == LBT_ERESET, "got %s",
	    lbt_err_str(r.err));
	ck_assert_uint_lt(r.body_len, 100000);
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

static Suite *
retry_suite(void)
{
	Suite *s = suite_create("retry");
	TCase *tc;

	tc = lbt_tcase("retries");
	tcase_add_test(tc, test_connect_failure_is_retried_on_another_server);
	tcase_add_test(tc, test_post_is_not_retried_after_the_origin_failed);
	tcase_add_test(tc,
	    test_get_is_retried_on_another_server_after_the_origin_failed);
	tcase_add_test(tc, test_put_is_retried_with_its_whole_body);
	tcase_add_test(tc,
	    test_get_failing_on_every_server_is_tried_once_on_each);
	tcase_add_test(tc,
	    test_get_on_a_dropped_pooled_connection_is_resent_once);
	tcase_add_test(tc,
	    test_post_on_a_dropped_pooled_connection_is_502_and_sent_once);
	tcase_add_test(tc,
	    test_patch_on_a_dropped_pooled_connection_is_502_and_sent_once);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("faults");
	tcase_add_test(tc, test_origin_reset_is_502);
	tcase_add_test(tc, test_origin_garbage_is_502);
	tcase_add_test(tc, test_origin_close_without_answer_is_502);
	tcase_add_test(tc, test_origin_silent_past_backend_timeout_is_504);
	tcase_add_test(tc,
	    test_truncated_origin_body_is_never_a_complete_response);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(retry_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/check_ratelimit.c -- the rate limits' GCRA table (common/ratelimit.h),
 * with time given by the test.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/ratelimit.h"

#define SEC 1000000000ULL

static uint64_t
key(struct lb_rl *t, const char *s)
{
	return lb_rl_key(t, 'a', s, strlen(s));
}

START_TEST(test_burst_passes_at_once_then_one_per_interval)
{
	struct lb_rl *t = lb_rl_create(100, 10, 1000, 5, 1);
	uint64_t      now = 100 * SEC, wait = 0, k;

	ck_assert_ptr_nonnull(t);
	k = key(t, "192.0.2.1");
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(lb_rl_take(t, k, now, NULL), LB_RL_PASS);
	ck_assert_int_eq(lb_rl_take(t, k, now, &wait), LB_RL_LIMITED);
	/* 10/s: the next token comes in 100 ms. */
	ck_assert_uint_eq(wait, SEC / 10);
	ck_assert_int_eq(lb_rl_take(t, k, now + SEC / 10 - 1, NULL),
	    LB_RL_LIMITED);
	ck_assert_int_eq(lb_rl_take(t, k, now + SEC / 10, NULL), LB_RL_PASS);
	ck_assert_int_eq(lb_rl_take(t, k, now + SEC / 10, NULL), LB_RL_LIMITED);
	lb_rl_release(t);
}
END_TEST

START_TEST(test_over_five_seconds_burst_plus_rate_times_five_pass)
{
	struct lb_rl *t = lb_rl_create(100, 20, 1000, 10, 1);
	uint64_t      now = 7 * SEC, k;
	unsigned      ok = 0;

	k = key(t, "192.0.2.1");
	/* A request every millisecond from 0 to 5 s, both included. */
	for (uint64_t ms = 0; ms <= 5000; ms++)
		if (lb_rl_take(t, k, now + ms * 1000000, NULL) == LB_RL_PASS)
			ok++;
	ck_assert_uint_eq(ok, 10 + 20 * 5);
	lb_rl_release(t);
}
END_TEST

START_TEST(test_keys_have_their_own_buckets)
{
	struct lb_rl *t = lb_rl_create(100, 1, 60000, 1, 1);
	uint64_t      now = 5 * SEC;

	ck_assert_int_eq(lb_rl_take(t, key(t, "a"), now, NULL), LB_RL_PASS);
	ck_assert_int_eq(lb_rl_take(t, key(t, "a"), now, NULL), LB_RL_LIMITED);
	ck_assert_int_eq(lb_rl_take(t, key(t, "b"), now, NULL), LB_RL_PASS);
	ck_assert_int_eq(lb_rl_take(t, lb_rl_key(t, 'h', "a", 1), now, NULL),
	    LB_RL_PASS);
	lb_rl_release(t);
}
END_TEST

START_TEST(test_full_table_lets_new_keys_pass_and_counts_them)
{
	struct lb_rl *t = lb_rl_create(4, 1, 60000, 1, 1);
	uint64_t      now = 5 * SEC;
	char	      name[16];

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		ck_assert_int_eq(lb_rl_take(t, key(t, name), now, NULL),
		    LB_RL_PASS);
	}
	ck_assert_int_eq(lb_rl_take(t, key(t, "new"), now, NULL), LB_RL_FULL);
	ck_assert_int_eq(lb_rl_take(t, key(t, "new"), now, NULL), LB_RL_FULL);
	ck_assert_uint_eq(atomic_load(&t->full), 2);
	/* Old keys are still limited. */
	ck_assert_int_eq(lb_rl_take(t, key(t, "k0"), now, NULL), LB_RL_LIMITED);
	lb_rl_release(t);
}
END_TEST

START_TEST(test_a_key_whose_bucket_is_full_again_gives_its_slot_up)
{
	struct lb_rl *t = lb_rl_create(2, 1, 1000, 1, 1);
	uint64_t      now = 5 * SEC;

	ck_assert_int_eq(lb_rl_take(t, key(t, "a"), now, NULL), LB_RL_PASS);
	ck_assert_int_eq(lb_rl_take(t, key(t, "b"), now, NULL), LB_RL_PASS);
	ck_assert_int_eq(lb_rl_take(t, key(t, "c"), now, NULL), LB_RL_FULL);
	/* A second on, a's and b's buckets are full: c takes a slot. */
	ck_assert_int_eq(lb_rl_take(t, key(t, "c"), now + SEC, NULL),
	    LB_RL_PASS);
	ck_assert_int_eq(lb_rl_take(t, key(t, "c"), now + SEC, NULL),
	    LB_RL_LIMITED);
	lb_rl_release(t);
}
END_TEST

START_TEST(test_processes_share_one_bucket)
{
	struct lb_rl *t = lb_rl_create(100, 1, 60000, 100, 1);
	uint64_t      now = 5 * SEC, k = key(t, "a");
	pid_t	      pid[4];
	int	      st, ok = 0;

	/* Four processes ask 50 times each: 100 pass in all, not 200. */
	for (int i = 0; i < 4; i++) {
		ck_assert_int_ge(pid[i] = fork(), 0);
		if (pid[i] == 0) {
			int n = 0;

			for (int j = 0; j < 50; j++)
				n += lb_rl_take(t, k, now, NULL) == LB_RL_PASS;
			_exit(n);
		}
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
		ck_assert(WIFEXITED(st));
		ok += WEXITSTATUS(st);
	}
	ck_assert_int_eq(ok, 100);
	lb_rl_release(t);
}
END_TEST

START_TEST(test_bad_parameters_are_refused)
{
	ck_assert_ptr_null(lb_rl_create(0, 1, 1000, 1, 1));
	ck_assert_ptr_null(lb_rl_create(1, 0, 1000, 1, 1));
	ck_assert_ptr_null(lb_rl_create(1, 1, 1000, 0, 1));
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("gcra");

	tcase_add_test(tc, test_burst_passes_at_once_then_one_per_interval);
	tcase_add_test(tc,
	    test_over_five_seconds_burst_plus_rate_times_five_pass);
	tcase_add_test(tc, test_keys_have_their_own_buckets);
	tcase_add_test(tc, test_full_table_lets_new_keys_pass_and_counts_them);
	tcase_add_test(tc,
	    test_a_key_whose_bucket_is_full_again_gives_its_slot_up);
	tcase_add_test(tc, test_processes_share_one_bucket);
	tcase_add_test(tc, test_bad_parameters_are_refused);
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

/*
 * tests/check_shm.c -- the shared segment: its records and the latency
 * histogram. What a reload carries over is tests/check_carry.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/shm.h"

/* Plain reads, so that a failed assertion reads as the field. */
static uint64_t
ld64(const _Atomic uint64_t *v)
{
	return atomic_load(v);
}

static uint32_t
ld32(const _Atomic uint32_t *v)
{
	return atomic_load(v);
}

static int64_t
ldi64(const _Atomic int64_t *v)
{
	return atomic_load(v);
}

/* ------------------------------------------------------------ basics */

START_TEST(test_create_starts_servers_up_and_counters_at_zero)
{
	struct lb_shm *shm = lb_shm_create(3, 2, 4);

	ck_assert_ptr_nonnull(shm);
	ck_assert_uint_eq(shm->n_servers, 3);
	ck_assert_uint_eq(shm->n_routes, 2);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(ld32(&shm->servers[i].up), 1);
		ck_assert_int_eq(ldi64(&shm->servers[i].down_until), 0);
		ck_assert_uint_eq(ld64(&shm->servers[i].requests), 0);
	}
	/* The extra route slot counts unrouted requests. */
	for (size_t i = 0; i <= 2; i++)
		for (size_t c = 0; c < LB_SHM_CODES; c++)
			ck_assert_uint_eq(ld64(&shm->routes[i].codes[c]), 0);
	ck_assert_uint_eq(ld32(&shm->workers), 0);
	ck_assert_uint_eq(ld32(&shm->generation), 0);
	ck_assert_uint_eq(ld64(&shm->reloads_ok), 0);
	ck_assert_uint_eq(shm->n_slots, 4);
	for (unsigned w = 0; w < 4; w++)
		for (uint32_t i = 0; i < 3; i++)
			ck_assert_uint_eq(ld32(lb_shm_active_share(shm, w, i)),
			    0);
	ck_assert_uint_eq(lb_shm_tunnels(shm), 0);
	lb_shm_destroy(shm);
}
END_TEST

/* ------------------------------------------------------------ shares */

START_TEST(test_active_adds_up_every_workers_share)
{
	struct lb_shm *shm = lb_shm_create(3, 1, 4);

	lb_shm_share_add(lb_shm_active_share(shm, 0, 1), 1);
	lb_shm_share_add(lb_shm_active_share(shm, 3, 1), 1);
	lb_shm_share_add(lb_shm_active_share(shm, 3, 1), 1);
	lb_shm_share_add(lb_shm_active_share(shm, 2, 2), 1);
	ck_assert_uint_eq(lb_shm_active(shm, 0), 0);
	ck_assert_uint_eq(lb_shm_active(shm, 1), 3);
	ck_assert_uint_eq(lb_shm_active(shm, 2), 1);
	lb_shm_share_add(lb_shm_active_share(shm, 3, 1), -1);
	ck_assert_uint_eq(lb_shm_active(shm, 1), 2);
	lb_shm_share_add(lb_shm_tunnel_share(shm, 1), 1);
	lb_shm_share_add(lb_shm_tunnel_share(shm, 2), 1);
	ck_assert_uint_eq(lb_shm_tunnels(shm), 2);
	lb_shm_destroy(shm);
}
END_TEST

START_TEST(test_slot_clear_forgets_only_that_workers_share)
{
	struct lb_shm *shm = lb_shm_create(2, 1, 3);

	for (unsigned w = 0; w < 3; w++) {
		lb_shm_share_add(lb_shm_active_share(shm, w, 0), 2);
		lb_shm_share_add(lb_shm_active_share(shm, w, 1), 1);
		lb_shm_share_add(lb_shm_tunnel_share(shm, w), 1);
	}
	/* Worker 1 was killed with its requests in flight. */
	lb_shm_slot_clear(shm, 1);
	ck_assert_uint_eq(lb_shm_active(shm, 0), 4);
	ck_assert_uint_eq(lb_shm_active(shm, 1), 2);
	ck_assert_uint_eq(ld32(lb_shm_active_share(shm, 1, 0)), 0);
	ck_assert_uint_eq(lb_shm_tunnels(shm), 2);
	/* A slot the segment does not have: nothing happens. */
	lb_shm_slot_clear(shm, 3);
	ck_assert_uint_eq(lb_shm_active(shm, 0), 4);
	lb_shm_destroy(shm);
}
END_TEST

START_TEST(test_server_usable_needs_up_and_no_passive_mark)
{
	struct lb_shm	     *shm = lb_shm_create(1, 1, 1);
	struct lb_shm_server *st = &shm->servers[0];

	ck_assert(lb_shm_server_usable(st, 1000));
	atomic_store(&st->down_until, 1500);
	ck_assert(!lb_shm_server_usable(st, 1000));
	ck_assert(lb_shm_server_usable(st, 1500));
	atomic_store(&st->down_until, INT64_MAX);
	ck_assert(!lb_shm_server_usable(st, INT64_MAX - 1));
	atomic_store(&st->down_until, 0);
	atomic_store(&st->up, 0);
	ck_assert(!lb_shm_server_usable(st, 1000));
	lb_shm_destroy(shm);
}
END_TEST

/* ----------------------------------------------------------- stripes */

/* Where two workers write: on different cache lines. */
static void
apart(const void *a, const void *b)
{
	ck_assert_uint_ne((uintptr_t)a / LB_SHM_LINE,
	    (uintptr_t)b / LB_SHM_LINE);
}

/*
 * Every worker adds to counters of its own, on cache lines of its own, and
 * a reader sees their sum; so are the in-flight shares kept apart.
 */
START_TEST(test_each_worker_counts_in_a_stripe_of_its_own)
{
	struct lb_shm	 *shm = lb_shm_create(2, 3, 4);
	_Atomic uint64_t *req = &shm->servers[1].requests;
	_Atomic uint64_t *code = &shm->routes[2].codes[1];

	ck_assert_uint_eq(shm->n_stripes, 4);
	for (unsigned w = 0; w < 4; w++) {
		lb_shm_count(shm, w, req, w + 1);
		lb_shm_count(shm, w, code, 10);
		lb_shm_count(shm, w, &shm->totals->spliced, 100);
	}
	ck_assert_uint_eq(lb_shm_sum(shm, req), 1 + 2 + 3 + 4);
	ck_assert_uint_eq(lb_shm_sum(shm, code), 40);
	ck_assert_uint_eq(lb_shm_sum(shm, &shm->totals->spliced), 400);
	/* Stripe 0 is the one readers name; the others are copies. */
	ck_assert_uint_eq(ld64(req), 1);
	ck_assert_ptr_eq(lb_shm_mine(shm, 0, req), req);
	ck_assert_uint_eq(lb_shm_sum(shm, &shm->servers[0].requests), 0);
	for (unsigned w = 1; w < 4; w++) {
		apart(lb_shm_mine(shm, w - 1, req), lb_shm_mine(shm, w, req));
		apart(lb_shm_mine(shm, w - 1, &shm->totals->spliced),
		    lb_shm_mine(shm, w, &shm->totals->spliced));
		apart(lb_shm_active_share(shm, w - 1, 1),
		    lb_shm_active_share(shm, w, 0));
		apart(lb_shm_tunnel_share(shm, w - 1),
		    lb_shm_tunnel_share(shm, w));
	}
	/* Health state is stripe 0's alone: a copy's is left at zero. */
	ck_assert_uint_eq(ld32(&shm->servers[1].up), 1);
	lb_shm_destroy(shm);
}
END_TEST

/*
 * With more routes than LB_SHM_STRIPES_MAX holds a stripe per worker,
 * workers share stripes, and the sums stay right.
 */
START_TEST(test_stripes_are_shared_past_their_memory_bound)
{
	size_t routes = LB_SHM_STRIPES_MAX / sizeof(struct lb_shm_route) /
	    3; /* a third of the bound */
	struct lb_shm	 *shm = lb_shm_create(1, routes, 8);
	_Atomic uint64_t *last = &shm->routes[routes].codes[4];

	ck_assert_ptr_nonnull(shm);
	ck_assert_uint_eq(shm->n_stripes, 2);
	ck_assert_uint_le((size_t)shm->n_stripes * shm->stripe_size,
	    LB_SHM_STRIPES_MAX);
	for (unsigned w = 0; w < 8; w++)
		lb_shm_count(shm, w, last, 1);
	ck_assert_ptr_eq(lb_shm_mine(shm, 5, last), lb_shm_mine(shm, 1, last));
	ck_assert_uint_eq(ld64(last), 4);
	ck_assert_uint_eq(lb_shm_sum(shm, last), 8);
	lb_shm_destroy(shm);
}
END_TEST

/* --------------------------------------------------------- histogram */

/* A bucket counts durations up to and including its bound (le). */
static const struct {
	int64_t us;
	size_t	bucket;
} observe_cases[] = {
	{ -5, 0 }, /* clock oddities count as 0 */
	{ 0, 0 },
	{ 1000, 0 }, /* exactly 1 ms: le="0.001" */
	{ 1001, 1 },
	{ 2500, 1 },
	{ 2501, 2 },
	{ 999999, 9 },
	{ 1000000, 9 },
	{ 5000000, 11 },
	{ 5000001, LB_SHM_BUCKETS }, /* +Inf */
	{ INT64_C(3600000000), LB_SHM_BUCKETS },
};

START_TEST(test_observe_counts_each_duration_in_its_bucket)
{
	struct lb_shm *shm = lb_shm_create(0, 0, 1);
	int64_t	       us = observe_cases[_i].us;

	lb_shm_observe(shm, 0, us);
	for (size_t b = 0; b <= LB_SHM_BUCKETS; b++)
		ck_assert_msg(ld64(&shm->totals->duration[b]) ==
			(b == observe_cases[_i].bucket ? 1u : 0u),
		    "%lld us: bucket %zu holds %llu", (long long)us, b,
		    (unsigned long long)ld64(&shm->totals->duration[b]));
	ck_assert_uint_eq(ld64(&shm->totals->duration_sum_us),
	    (uint64_t)(us < 0 ? 0 : us));
	lb_shm_destroy(shm);
}
END_TEST

START_TEST(test_bucket_bounds_increase)
{
	for (size_t i = 1; i < LB_SHM_BUCKETS; i++)
		ck_assert_int_gt(lb_shm_bucket_us[i], lb_shm_bucket_us[i - 1]);
}
END_TEST

START_TEST(test_histogram_is_cumulative_and_ends_with_the_count)
{
	struct lb_shm *shm = lb_shm_create(0, 0, 3);
	uint64_t       cum[LB_SHM_BUCKETS + 1], sum;

	/* Three workers' stripes, added up. */
	lb_shm_observe(shm, 0, 500);	 /* bucket 0 */
	lb_shm_observe(shm, 1, 800);	 /* bucket 0 */
	lb_shm_observe(shm, 2, 20000);	 /* 25 ms: bucket 4 */
	lb_shm_observe(shm, 0, 9000000); /* +Inf */
	ck_assert_uint_eq(lb_shm_histogram(shm, cum, &sum), 4);
	ck_assert_uint_eq(sum, 500 + 800 + 20000 + 9000000);
	ck_assert_uint_eq(cum[0], 2);
	ck_assert_uint_eq(cum[3], 2);
	ck_assert_uint_eq(cum[4], 3);
	ck_assert_uint_eq(cum[LB_SHM_BUCKETS - 1], 3);
	ck_assert_uint_eq(cum[LB_SHM_BUCKETS], 4);
	for (size_t i = 1; i <= LB_SHM_BUCKETS; i++)
		ck_assert_uint_ge(cum[i], cum[i - 1]);
	lb_shm_destroy(shm);
}
END_TEST

START_TEST(test_empty_histogram_is_all_zero)
{
	struct lb_shm *shm = lb_shm_create(0, 0, 1);
	uint64_t       cum[LB_SHM_BUCKETS + 1], sum = 1;

	ck_assert_uint_eq(lb_shm_histogram(shm, cum, &sum), 0);
	ck_assert_uint_eq(sum, 0);
	for (size_t i = 0; i <= LB_SHM_BUCKETS; i++)
		ck_assert_uint_eq(cum[i], 0);
	lb_shm_destroy(shm);
}
END_TEST

START_TEST(test_a_followed_slot_reads_back_what_was_written)
{
	struct lb_shm	   *shm = lb_shm_create(1, 1, 1);
	struct lb_shm_addr  a, b;
	struct sockaddr_in6 sin6;
	uint32_t	    g0, g1;

	memset(&a, 0, sizeof(a));
	g0 = lb_shm_addr_read(&shm->servers[0], &b);
	ck_assert(!b.present);
	ck_assert_uint_eq(b.len, 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(8443);
	inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
	memcpy(&a.ss, &sin6, sizeof(sin6));
	a.len = sizeof(sin6);
	a.present = true;
	a.weight = 65535;
	a.backup = true;
	lb_shm_addr_write(&shm->servers[0], &a);
	g1 = lb_shm_addr_read(&shm->servers[0], &b);
	ck_assert_uint_ne(g0, g1);
	ck_assert_uint_eq(g1 % 2, 0); /* even: no write under way */
	ck_assert(b.present && b.backup);
	ck_assert_uint_eq(b.weight, 65535);
	ck_assert_uint_eq(b.len, sizeof(sin6));
	ck_assert_mem_eq(&b.ss, &sin6, sizeof(sin6));
	/* Emptied, it keeps the address for what it has in flight. */
	a.present = false;
	lb_shm_addr_write(&shm->servers[0], &a);
	ck_assert_uint_ne(lb_shm_addr_read(&shm->servers[0], &b), g1);
	ck_assert(!b.present);
	ck_assert_mem_eq(&b.ss, &sin6, sizeof(sin6));
	/* A writer that died mid-write: read as empty, and the next write
	 * makes the slot whole again. */
	atomic_store(&shm->servers[0].seq, 7);
	lb_shm_addr_read(&shm->servers[0], &b);
	ck_assert(!b.present);
	a.present = true;
	lb_shm_addr_write(&shm->servers[0], &a);
	ck_assert_uint_eq(lb_shm_addr_read(&shm->servers[0], &b), 8);
	ck_assert(b.present);
	lb_shm_destroy(shm);
}
END_TEST

static Suite *
shm_suite(void)
{
	Suite *s = suite_create("shm");
	TCase *tc;

	tc = tcase_create("segment");
	tcase_add_test(tc, test_create_starts_servers_up_and_counters_at_zero);
	tcase_add_test(tc, test_server_usable_needs_up_and_no_passive_mark);
	tcase_add_test(tc, test_a_followed_slot_reads_back_what_was_written);
	suite_add_tcase(s, tc);

	tc = tcase_create("shares");
	tcase_add_test(tc, test_active_adds_up_every_workers_share);
	tcase_add_test(tc, test_slot_clear_forgets_only_that_workers_share);
	tcase_add_test(tc, test_each_worker_counts_in_a_stripe_of_its_own);
	tcase_add_test(tc, test_stripes_are_shared_past_their_memory_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("histogram");
	tcase_add_loop_test(tc, test_observe_counts_each_duration_in_its_bucket,
	    0, sizeof(observe_cases) / sizeof(observe_cases[0]));
	tcase_add_test(tc, test_bucket_bounds_increase);
	tcase_add_test(tc,
	    test_histogram_is_cumulative_and_ends_with_the_count);
	tcase_add_test(tc, test_empty_histogram_is_all_zero);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(shm_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/check_balance.c -- the load-balancing policy, without a network:
 * routes, servers and the shared counters are built by hand, and the tests
 * flip health bits in the shared records the way the checker and the
 * proxy would.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/shm.h"
#include "config/config.h"
#include "worker/balance.h"

#define MAXSRV 16
#define NOW    100000 /* the tests' clock, in ms */
#define SEED   42
#define NONE   (-1) /* pick() found no server */
#define SLOTS  3    /* worker slots: the fixture's upstream is slot 0 */

/* One route of N servers, its shared records and one worker's upstream. */
struct fixture {
	struct lb_route	      route;
	struct lb_server      srv[MAXSRV];
	char		      names[MAXSRV][32];
	struct lb_shm	     *seg; /* a generation's segment, SLOTS workers */
	struct lb_shm_server *shm; /* seg->servers */
	struct lb_upstream    up;
};

static struct fixture fx;

/*
 * N servers "sI.test:80" at 10.0.0.I:80 with WEIGHTS (NULL: all 1) and
 * BACKUP flags (NULL: none), all up.
 */
static void
fx_init(enum lb_algo algo, const unsigned *weights, const bool *backup,
    size_t n)
{
	ck_assert_uint_le(n, MAXSRV);
	memset(&fx, 0, sizeof(fx));
	for (size_t i = 0; i < n; i++) {
		snprintf(fx.names[i], sizeof(fx.names[i]), "s%zu.test:80", i);
		fx.srv[i].name = fx.names[i];
		snprintf(fx.srv[i].addrstr, sizeof(fx.srv[i].addrstr),
		    "10.0.0.%zu:80", i);
		fx.srv[i].weight = weights != NULL ? weights[i] : 1;
		fx.srv[i].backup = backup != NULL ? backup[i] : false;
		fx.srv[i].id = i;
	}
	fx.route.algorithm = algo;
	fx.route.servers = fx.srv;
	fx.route.n_servers = n;
	fx.seg = lb_shm_create(n, 1, SLOTS);
	ck_assert_ptr_nonnull(fx.seg);
	fx.shm = fx.seg->servers;
	ck_assert_int_eq(lb_upstream_init(&fx.up, &fx.route, fx.seg, 0, SEED),
	    0);
}

static void
fx_free(void)
{
	lb_upstream_fini(&fx.up);
	lb_shm_destroy(fx.seg);
}

/* The shared counters of server I, for readable assertion messages. */
static uint64_t
active_of(size_t i)
{
	return lb_shm_active(fx.seg, (uint32_t)i);
}

/* Another worker (the last slot) has N requests in flight on server I. */
static void
set_active(size_t i, uint32_t n)
{
	atomic_store(lb_shm_active_share(fx.seg, SLOTS - 1, (uint32_t)i), n);
}

static uint64_t
requests_of(size_t i)
{
	return atomic_load(&fx.shm[i].requests);
}

static uint64_t
failures_of(size_t i)
{
	return atomic_load(&fx.shm[i].failures);
}

/* Pick for CLIENT and keep the request in flight: the index, or NONE. */
static int
pick_hold(struct lb_upstream *up, const struct sockaddr *client,
    const bool *tried)
{
	struct lb_peer *p;

	if ((p = lb_upstream_pick(up, client, tried, NOW)) == NULL)
		return NONE;
	ck_assert_ptr_eq(p, &up->peers[p->index]);
	return (int)p->index;
}

/* Pick and finish at once, so the in-flight counts stay at rest. */
static int
pick(const struct sockaddr *client, const bool *tried)
{
	int i;

	if ((i = pick_hold(&fx.up, client, tried)) != NONE)
		lb_upstream_done(&fx.up, &fx.up.peers[i], false);
	return i;
}

/* An IPv4 client at ADDR (host order) and PORT. */
static struct sockaddr_in
client_v4(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(addr);
	sin.sin_port = htons(port);
	return sin;
}

/* The same client as a dual-stack listener reports it: ::ffff:a.b.c.d. */
static struct sockaddr_in6
client_v4mapped(uint32_t addr, uint16_t port)
{
	struct sockaddr_in6 sin6;
	uint32_t	    be = htonl(addr);

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr.s6_addr[10] = 0xff;
	sin6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&sin6.sin6_addr.s6_addr[12], &be, 4);
	sin6.sin6_port = htons(port);
	return sin6;
}

/* 2001:db8::LOW, LOW in the last two bytes only. */
static struct sockaddr_in6
client_v6(uint16_t low)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr.s6_addr[0] = 0x20;
	sin6.sin6_addr.s6_addr[1] = 0x01;
	sin6.sin6_addr.s6_addr[2] = 0x0d;
	sin6.sin6_addr.s6_addr[3] = 0xb8;
	sin6.sin6_addr.s6_addr[14] = low >> 8;
	sin6.sin6_addr.s6_addr[15] = low & 0xff;
	return sin6;
}

/* Server index for client 10.C (host order 10.0.0.0 + C), done at once. */
static int
pick_client(uint32_t c)
{
	struct sockaddr_in sin = client_v4(0x0a000000 + c, 40000);

	return pick((struct sockaddr *)&sin, NULL);
}

/* Assert that COUNT is within TOL (a fraction) of EXPECT. */
static void
assert_near(const char *what, size_t i, double count, double expect, double tol)
{
	ck_assert_msg(count >= expect * (1 - tol) &&
		count <= expect * (1 + tol),
	    "%s: server %zu got %.0f, expected %.0f +-%.0f%%", what, i, count,
	    expect, tol * 100);
}

/* ------------------------------------------------------------ common */

START_TEST(test_balancer_get_names_every_algorithm)
{
	static const struct {
		enum lb_algo algo;
		const char  *name;
	} t[] = {
		{ LB_ALGO_ROUND_ROBIN, "round_robin" },
		{ LB_ALGO_LEAST_CONN, "least_conn" },
		{ LB_ALGO_RANDOM, "random" },
		{ LB_ALGO_TWO_CHOICES, "two_choices" },
		{ LB_ALGO_IP_HASH, "ip_hash" },
		{ LB_ALGO_CONSISTENT_HASH, "consistent_hash" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct lb_balancer *b = lb_balancer_get(t[i].algo);

		ck_assert_ptr_nonnull(b);
		ck_assert_str_eq(b->name, t[i].name);
		ck_assert_ptr_nonnull(b->pick);
	}
	ck_assert_ptr_null(lb_balancer_get((enum lb_algo)99));
}
END_TEST

START_TEST(test_init_rejects_unknown_algorithm)
{
	struct lb_route	   route;
	struct lb_upstream up;
	struct lb_shm	  *shm = lb_shm_create(1, 1, 1);

	memset(&route, 0, sizeof(route));
	route.algorithm = (enum lb_algo)99;
	errno = 0;
	ck_assert_int_eq(lb_upstream_init(&up, &route, shm, 0, SEED), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* A slot the segment has no share for. */
	route.algorithm = LB_ALGO_ROUND_ROBIN;
	errno = 0;
	ck_assert_int_eq(lb_upstream_init(&up, &route, shm, 1, SEED), -1);
	ck_assert_int_eq(errno, EINVAL);
	lb_shm_destroy(shm);
}
END_TEST

START_TEST(test_pick_returns_null_without_servers)
{
	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 0);
	ck_assert_int_eq(pick(NULL, NULL), NONE);
	fx_free();
}
END_TEST

START_TEST(test_down_server_is_never_picked)
{
	enum lb_algo algo = (enum lb_algo)_i;
	size_t	     seen[3] = { 0 };
	int	     i;

	fx_init(algo, NULL, NULL, 3);
	atomic_store(&fx.shm[1].up, 0);
	for (uint32_t c = 0; c < 300; c++) {
		ck_assert_int_ne(i = pick_client(c), NONE);
		seen[i]++;
	}
	ck_assert_uint_eq(seen[1], 0);
	ck_assert_uint_gt(seen[0], 0);
	ck_assert_uint_gt(seen[2], 0);
	fx_free();
}
END_TEST

START_TEST(test_passive_down_until_excludes_only_while_in_future)
{
	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 1);

	atomic_store(&fx.shm[0].down_until, NOW + 1);
	ck_assert(!lb_peer_usable(&fx.up.peers[0], NOW));
	ck_assert_int_eq(pick(NULL, NULL), NONE);

	atomic_store(&fx.shm[0].down_until, INT64_MAX);
	ck_assert_int_eq(pick(NULL, NULL), NONE);

	atomic_store(&fx.shm[0].down_until, NOW);
	ck_assert(lb_peer_usable(&fx.up.peers[0], NOW));
	ck_assert_int_eq(pick(NULL, NULL), 0);

	atomic_store(&fx.shm[0].down_until, NOW - 1);
	ck_assert_int_eq(pick(NULL, NULL), 0);

	atomic_store(&fx.shm[0].up, 0);
	ck_assert(!lb_peer_usable(&fx.up.peers[0], NOW));
	fx_free();
}
END_TEST

START_TEST(test_backups_only_when_every_primary_is_unusable)
{
	enum lb_algo	  algo = (enum lb_algo)_i;
	static const bool backup[] = { false, false, true };

	fx_init(algo, NULL, backup, 3);
	for (uint32_t c = 0; c < 100; c++)
		ck_assert_int_ne(pick_client(c), 2);

	/* One primary fails its checks, the other is passively down. */
	atomic_store(&fx.shm[0].up, 0);
	atomic_store(&fx.shm[1].down_until, NOW + 10000);
	for (uint32_t c = 0; c < 100; c++)
		ck_assert_int_eq(pick_client(c), 2);

	/* A primary is back: the backup rests again. */
	atomic_store(&fx.shm[1].down_until, 0);
	for (uint32_t c = 0; c < 100; c++)
		ck_assert_int_eq(pick_client(c), 1);
	fx_free();
}
END_TEST

START_TEST(test_tried_servers_are_excluded)
{
	enum lb_algo	   algo = (enum lb_algo)_i;
	static const bool  backup[] = { false, false, false, true };
	bool		   tried[4] = { true, false, true, false };
	struct sockaddr_in sin;

	fx_init(algo, NULL, backup, 4);
	for (uint32_t c = 0; c < 100; c++) {
		sin = client_v4(0x0a000000 + c, 1);
		ck_assert_int_eq(pick((struct sockaddr *)&sin, tried), 1);
	}
	/* Every primary tried: the retry goes to the backup. */
	tried[1] = true;
	ck_assert_int_eq(pick(NULL, tried), 3);
	tried[3] = true;
	ck_assert_int_eq(pick(NULL, tried), NONE);
	fx_free();
}
END_TEST

START_TEST(test_pick_returns_null_when_none_is_usable)
{
	enum lb_algo	  algo = (enum lb_algo)_i;
	static const bool backup[] = { false, true };

	fx_init(algo, NULL, backup, 2);
	atomic_store(&fx.shm[0].up, 0);
	atomic_store(&fx.shm[1].down_until, INT64_MAX);
	ck_assert_int_eq(pick_client(7), NONE);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_uint_eq(active_of(i), 0);
		ck_assert_uint_eq(requests_of(i), 0);
	}
	fx_free();
}
END_TEST

START_TEST(test_counters_rise_with_pick_and_fall_with_done)
{
	struct lb_peer *a, *b;

	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 1);
	ck_assert_ptr_nonnull(a = lb_upstream_pick(&fx.up, NULL, NULL, NOW));
	ck_assert_ptr_nonnull(b = lb_upstream_pick(&fx.up, NULL, NULL, NOW));
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_eq(a->st, &fx.shm[0]);
	ck_assert_uint_eq(active_of(0), 2);
	ck_assert_uint_eq(requests_of(0), 2);

	lb_upstream_done(&fx.up, a, false);
	ck_assert_uint_eq(active_of(0), 1);
	ck_assert_uint_eq(failures_of(0), 0);
	lb_upstream_done(&fx.up, b, true);
	ck_assert_uint_eq(active_of(0), 0);
	ck_assert_uint_eq(failures_of(0), 1);
	ck_assert_uint_eq(requests_of(0), 2);
	fx_free();
}
END_TEST

START_TEST(test_peers_use_the_shared_slot_of_their_server_id)
{
	struct lb_shm	  *seg = lb_shm_create(8, 1, 2);
	struct lb_upstream up;

	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 2);
	fx.srv[0].id = 5;
	fx.srv[1].id = 2;
	atomic_store(&seg->servers[2].up, 0);
	ck_assert_int_eq(lb_upstream_init(&up, &fx.route, seg, 1, SEED), 0);
	ck_assert_ptr_eq(up.peers[0].st, &seg->servers[5]);
	ck_assert_ptr_eq(up.peers[1].st, &seg->servers[2]);
	ck_assert_ptr_eq(up.peers[0].mine, lb_shm_active_share(seg, 1, 5));
	/* Slot 2 is down (up = 0): only server 0 is usable. */
	ck_assert_int_eq(pick_hold(&up, NULL, NULL), 0);
	ck_assert_uint_eq(lb_shm_active(seg, 5), 1);
	ck_assert_uint_eq(atomic_load(lb_shm_active_share(seg, 1, 5)), 1);
	ck_assert_uint_eq(atomic_load(lb_shm_active_share(seg, 0, 5)), 0);
	lb_upstream_fini(&up);
	lb_shm_destroy(seg);
	fx_free();
}
END_TEST

/* ------------------------------------------------------- round_robin */

/* Picks as letters: "aab..." */
static void
rr_sequence(char *buf, size_t n)
{
	int i;

	for (size_t k = 0; k < n; k++) {
		ck_assert_int_ne(i = pick(NULL, NULL), NONE);
		buf[k] = (char)('a' + i);
	}
	buf[n] = '\0';
}

START_TEST(test_round_robin_weights_5_1_1_interleave_smoothly)
{
	static const unsigned w[] = { 5, 1, 1 };
	char		      seq[15];

	fx_init(LB_ALGO_ROUND_ROBIN, w, NULL, 3);
	rr_sequence(seq, 14);
	ck_assert_str_eq(seq, "aabacaaaabacaa");
	fx_free();
}
END_TEST

START_TEST(test_round_robin_equal_weights_alternate)
{
	char seq[10];

	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 3);
	rr_sequence(seq, 9);
	ck_assert_str_eq(seq, "abcabcabc");
	fx_free();
}
END_TEST

START_TEST(test_round_robin_skips_down_server_and_takes_it_back)
{
	char seq[10];

	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 3);
	atomic_store(&fx.shm[1].up, 0);
	rr_sequence(seq, 4);
	ck_assert_str_eq(seq, "acac");
	atomic_store(&fx.shm[1].up, 1);
	rr_sequence(seq, 9);
	for (char c = 'a'; c <= 'c'; c++)
		ck_assert_ptr_nonnull(strchr(seq, c));
	fx_free();
}
END_TEST

START_TEST(test_round_robin_failure_skips_the_failed_server_for_a_while)
{
	int i, n[2] = { 0, 0 };

	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 2);
	ck_assert_int_eq(pick(NULL, NULL), 0);
	ck_assert_int_eq(pick(NULL, NULL), 1);
	ck_assert_int_eq(i = pick_hold(&fx.up, NULL, NULL), 0);
	lb_upstream_done(&fx.up, &fx.up.peers[i], true);
	/* Its turn would be next but one; it waits two turns instead. */
	ck_assert_int_eq(pick(NULL, NULL), 1);
	ck_assert_int_eq(pick(NULL, NULL), 1);
	ck_assert_int_eq(pick(NULL, NULL), 0);
	/* Then the shares are even again. */
	for (int k = 0; k < 100; k++)
		n[pick(NULL, NULL)]++;
	ck_assert_int_eq(n[0], 50);
	ck_assert_int_eq(n[1], 50);
	fx_free();
}
END_TEST

/* -------------------------------------------------------- least_conn */

START_TEST(test_least_conn_prefers_fewest_active)
{
	fx_init(LB_ALGO_LEAST_CONN, NULL, NULL, 3);
	set_active(0, 5);
	set_active(1, 2);
	set_active(2, 7);
	for (int k = 0; k < 10; k++)
		ck_assert_int_eq(pick(NULL, NULL), 1);
	set_active(2, 1);
	ck_assert_int_eq(pick(NULL, NULL), 2);
	fx_free();
}
END_TEST

START_TEST(test_least_conn_compares_active_per_weight)
{
	static const unsigned w[] = { 3, 1 };

	fx_init(LB_ALGO_LEAST_CONN, w, NULL, 2);
	/* 2/3 < 1/1 */
	set_active(0, 2);
	set_active(1, 1);
	ck_assert_int_eq(pick(NULL, NULL), 0);
	/* 4/3 > 1/1 */
	set_active(0, 4);
	ck_assert_int_eq(pick(NULL, NULL), 1);
	fx_free();
}
END_TEST

START_TEST(test_least_conn_holds_load_in_proportion_to_weight)
{
	static const unsigned w[] = { 3, 1 };

	fx_init(LB_ALGO_LEAST_CONN, w, NULL, 2);
	for (int k = 0; k < 8; k++)
		ck_assert_int_ne(pick_hold(&fx.up, NULL, NULL), NONE);
	ck_assert_uint_eq(active_of(0), 6);
	ck_assert_uint_eq(active_of(1), 2);
	fx_free();
}
END_TEST

START_TEST(test_least_conn_breaks_ties_by_weighted_round_robin)
{
	static const unsigned w[] = { 5, 1, 1 };
	char		      seq[15];

	/* Every request finishes at once: always a tie among all three. */
	fx_init(LB_ALGO_LEAST_CONN, w, NULL, 3);
	rr_sequence(seq, 14);
	ck_assert_str_eq(seq, "aabacaaaabacaa");
	fx_free();
}
END_TEST

START_TEST(test_least_conn_sees_other_workers_requests)
{
	struct lb_upstream other;

	fx_init(LB_ALGO_LEAST_CONN, NULL, NULL, 2);
	ck_assert_int_eq(lb_upstream_init(&other, &fx.route, fx.seg, 1,
			     SEED + 1),
	    0);
	/* Another worker has a request in flight on server 0... */
	ck_assert_int_eq(pick_hold(&other, NULL, NULL), 0);
	ck_assert_int_eq(pick_hold(&fx.up, NULL, NULL), 1);
	/* ...and now none, while this worker's is still on server 1. */
	lb_upstream_done(&other, &other.peers[0], false);
	ck_assert_int_eq(pick_hold(&fx.up, NULL, NULL), 0);
	lb_upstream_fini(&other);
	fx_free();
}
END_TEST

START_TEST(test_least_conn_forgets_a_dead_workers_requests)
{
	fx_init(LB_ALGO_LEAST_CONN, NULL, NULL, 2);
	/* Worker 1 has three requests on server 0, then is killed... */
	for (int k = 0; k < 3; k++)
		lb_shm_share_add(lb_shm_active_share(fx.seg, 1, 0), 1);
	ck_assert_int_eq(pick_hold(&fx.up, NULL, NULL), 1);
	ck_assert_int_eq(pick_hold(&fx.up, NULL, NULL), 1);
	ck_assert_int_eq(pick_hold(&fx.up, NULL, NULL), 1);
	/* ...and the master reaps it: its requests are over. */
	lb_shm_slot_clear(fx.seg, 1);
	ck_assert_uint_eq(active_of(0), 0);
	ck_assert_uint_eq(active_of(1), 3);
	ck_assert_int_eq(pick_hold(&fx.up, NULL, NULL), 0);
	ck_assert_int_eq(pick_hold(&fx.up, NULL, NULL), 0);
	fx_free();
}
END_TEST

/* ---------------------------------------------- random, two_choices */

/* PICKS picks (finished at once) over weights 1,2,3,4 follow the weights. */
static void
assert_weighted_spread(enum lb_algo algo)
{
	static const unsigned w[] = { 1, 2, 3, 4 };
	const int	      picks = 100000;
	size_t		      n[4] = { 0 };
	int		      i;

	fx_init(algo, w, NULL, 4);
	for (int k = 0; k < picks; k++) {
		ck_assert_int_ne(i = pick(NULL, NULL), NONE);
		n[i]++;
	}
	for (size_t s = 0; s < 4; s++)
		assert_near(lb_balancer_get(algo)->name, s, (double)n[s],
		    picks * w[s] / 10.0, 0.05);
	fx_free();
}

START_TEST(test_random_follows_weights)
{
	assert_weighted_spread(LB_ALGO_RANDOM);
}
END_TEST

START_TEST(test_random_is_deterministic_for_a_seed)
{
	struct lb_upstream a, b, c;
	int		   differ = 0, x, y, z;

	fx_init(LB_ALGO_RANDOM, NULL, NULL, 8);
	ck_assert_int_eq(lb_upstream_init(&a, &fx.route, fx.seg, 0, 7), 0);
	ck_assert_int_eq(lb_upstream_init(&b, &fx.route, fx.seg, 0, 7), 0);
	ck_assert_int_eq(lb_upstream_init(&c, &fx.route, fx.seg, 0, 8), 0);
	for (int k = 0; k < 100; k++) {
		x = pick_hold(&a, NULL, NULL);
		y = pick_hold(&b, NULL, NULL);
		z = pick_hold(&c, NULL, NULL);
		ck_assert_int_eq(x, y);
		differ += x != z;
	}
	ck_assert_int_gt(differ, 50);
	lb_upstream_fini(&a);
	lb_upstream_fini(&b);
	lb_upstream_fini(&c);
	fx_free();
}
END_TEST

START_TEST(test_two_choices_follows_weights_when_idle)
{
	assert_weighted_spread(LB_ALGO_TWO_CHOICES);
}
END_TEST

START_TEST(test_two_choices_never_takes_the_busiest)
{
	size_t n[3] = { 0 };

	fx_init(LB_ALGO_TWO_CHOICES, NULL, NULL, 3);
	set_active(0, 10);
	for (int k = 0; k < 3000; k++)
		n[pick(NULL, NULL)]++;
	/* Its two candidates are distinct, so the busy one always loses. */
	ck_assert_uint_eq(n[0], 0);
	assert_near("two_choices", 1, (double)n[1], 1500, 0.1);
	assert_near("two_choices", 2, (double)n[2], 1500, 0.1);
	fx_free();
}
END_TEST

START_TEST(test_two_choices_keeps_load_even)
{
	uint64_t a, lo = UINT64_MAX, hi = 0;

	fx_init(LB_ALGO_TWO_CHOICES, NULL, NULL, 8);
	for (int k = 0; k < 8000; k++)
		ck_assert_int_ne(pick_hold(&fx.up, NULL, NULL), NONE);
	for (size_t s = 0; s < 8; s++) {
		a = active_of(s);
		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	/* Plain random would spread 1000 +- ~30 per server. */
	ck_assert_uint_le(hi - lo, 4);
	fx_free();
}
END_TEST

/* ----------------------------------------- ip_hash, consistent_hash */

START_TEST(test_hash_same_client_same_server_whatever_its_port)
{
	enum lb_algo algo = (enum lb_algo)_i;
	int	     first[200];

	fx_init(algo, NULL, NULL, 5);
	for (uint32_t c = 0; c < 200; c++)
		first[c] = pick_client(c * 7919);
	for (uint32_t c = 0; c < 200; c++) {
		struct sockaddr_in sin = client_v4(0x0a000000 + c * 7919,
		    (uint16_t)(1024 + c));

		ck_assert_int_eq(pick((struct sockaddr *)&sin, NULL), first[c]);
	}
	fx_free();
}
END_TEST

START_TEST(test_hash_v4_mapped_v6_client_is_the_v4_client)
{
	enum lb_algo	    algo = (enum lb_algo)_i;
	struct sockaddr_in  sin;
	struct sockaddr_in6 sin6;

	fx_init(algo, NULL, NULL, 7);
	for (uint32_t c = 0; c < 500; c++) {
		sin = client_v4(0xc0a80000 + c * 131, 80);
		sin6 = client_v4mapped(0xc0a80000 + c * 131, 443);
		ck_assert_int_eq(pick((struct sockaddr *)&sin, NULL),
		    pick((struct sockaddr *)&sin6, NULL));
	}
	fx_free();
}
END_TEST

/* Clients that differ only in their last bits still spread. */
START_TEST(test_hash_uses_the_whole_address)
{
	enum lb_algo	    algo = (enum lb_algo)_i;
	size_t		    n4[4] = { 0 }, n6[4] = { 0 };
	struct sockaddr_in  sin;
	struct sockaddr_in6 sin6;

	fx_init(algo, NULL, NULL, 4);
	for (uint32_t c = 0; c < 256; c++) {
		sin = client_v4(0x0a010200 + c, 80);
		n4[pick((struct sockaddr *)&sin, NULL)]++;
		sin6 = client_v6((uint16_t)c);
		n6[pick((struct sockaddr *)&sin6, NULL)]++;
	}
	for (size_t s = 0; s < 4; s++) {
		ck_assert_uint_ge(n4[s], 30);
		ck_assert_uint_ge(n6[s], 30);
	}
	fx_free();
}
END_TEST

START_TEST(test_ip_hash_spreads_clients)
{
	static const unsigned w[] = { 1, 1, 1, 1, 2 };
	size_t		      n[5] = { 0 };

	fx_init(LB_ALGO_IP_HASH, w, NULL, 5);
	for (uint32_t c = 0; c < 60000; c++)
		n[pick_client(c)]++;
	for (size_t s = 0; s < 5; s++)
		assert_near("ip_hash", s, (double)n[s], 60000.0 * w[s] / 6,
		    0.05);
	fx_free();
}
END_TEST

/*
 * The promise of both hashes: a server going down moves its own clients
 * and nobody else; coming back restores the old mapping exactly.
 */
static void
assert_down_moves_only_its_clients(enum lb_algo algo, size_t nsrv,
    uint32_t nclients, size_t dead, double share_tol)
{
	int   *before, *after;
	size_t n[MAXSRV] = { 0 }, moved = 0;

	before = calloc(nclients, sizeof(*before));
	after = calloc(nclients, sizeof(*after));
	ck_assert(before != NULL && after != NULL);
	fx_init(algo, NULL, NULL, nsrv);

	for (uint32_t c = 0; c < nclients; c++) {
		before[c] = pick_client(c);
		ck_assert_int_ne(before[c], NONE);
		n[before[c]]++;
	}
	for (size_t s = 0; s < nsrv; s++)
		assert_near(lb_balancer_get(algo)->name, s, (double)n[s],
		    (double)nclients / nsrv, share_tol);

	atomic_store(&fx.shm[dead].up, 0);
	for (uint32_t c = 0; c < nclients; c++) {
		after[c] = pick_client(c);
		ck_assert_int_ne(after[c], (int)dead);
		if ((size_t)before[c] != dead)
			ck_assert_msg(after[c] == before[c],
			    "client %u moved from %d to %d", c, before[c],
			    after[c]);
		else
			moved++;
	}
	ck_assert_uint_eq(moved, n[dead]);

	atomic_store(&fx.shm[dead].up, 1);
	for (uint32_t c = 0; c < nclients; c++)
		ck_assert_int_eq(pick_client(c), before[c]);

	fx_free();
	free(before);
	free(after);
}

START_TEST(test_ip_hash_down_server_moves_only_its_clients)
{
	assert_down_moves_only_its_clients(LB_ALGO_IP_HASH, 5, 20000, 2, 0.1);
}
END_TEST

START_TEST(test_consistent_hash_down_server_moves_only_its_clients)
{
	assert_down_moves_only_its_clients(LB_ALGO_CONSISTENT_HASH, 10, 100000,
	    3, 0.3);
}
END_TEST

START_TEST(test_consistent_hash_dead_servers_clients_spread_out)
{
	int    was;
	size_t to[10] = { 0 }, receivers = 0;

	fx_init(LB_ALGO_CONSISTENT_HASH, NULL, NULL, 10);
	atomic_store(&fx.shm[4].up, 0);
	for (uint32_t c = 0; c < 100000; c++) {
		atomic_store(&fx.shm[4].up, 1);
		was = pick_client(c);
		atomic_store(&fx.shm[4].up, 0);
		if (was == 4)
			to[pick_client(c)]++;
	}
	/* Not all onto the ring neighbour: virtual nodes scatter them. */
	for (size_t s = 0; s < 10; s++)
		receivers += to[s] > 0;
	ck_assert_uint_ge(receivers, 8);
	fx_free();
}
END_TEST

/*
 * Points depend on the server, not on its place in the list: a server
 * added to the config takes its share and the others keep their clients.
 */
START_TEST(test_consistent_hash_added_server_takes_only_its_share)
{
	struct lb_upstream ten;
	size_t		   gained = 0;
	int		   old, now;

	fx_init(LB_ALGO_CONSISTENT_HASH, NULL, NULL, 11);
	fx.route.n_servers = 10;
	ck_assert_int_eq(lb_upstream_init(&ten, &fx.route, fx.seg, 0, SEED), 0);
	fx.route.n_servers = 11;
	for (uint32_t c = 0; c < 50000; c++) {
		struct sockaddr_in sin = client_v4(0x0a000000 + c, 1);

		old = pick_hold(&ten, (struct sockaddr *)&sin, NULL);
		now = pick((struct sockaddr *)&sin, NULL);
		if (now == 10)
			gained++;
		else
			ck_assert_int_eq(now, old);
	}
	assert_near("consistent_hash", 10, (double)gained, 50000.0 / 11, 0.3);
	lb_upstream_fini(&ten);
	fx_free();
}
END_TEST

START_TEST(test_consistent_hash_follows_weights)
{
	static const unsigned w[] = { 1, 3 };
	size_t		      n[2] = { 0 };

	fx_init(LB_ALGO_CONSISTENT_HASH, w, NULL, 2);
	for (uint32_t c = 0; c < 40000; c++)
		n[pick_client(c)]++;
	assert_near("consistent_hash", 1, (double)n[1], 30000, 0.1);
	fx_free();
}
END_TEST

/* ----------------------------------------- drain and followed slots */

START_TEST(test_a_drained_server_gets_no_new_requests)
{
	fx_init(LB_ALGO_ROUND_ROBIN, NULL, NULL, 2);
	atomic_store(&fx.shm[0].drain, 1);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(pick(NULL, NULL), 1);
	atomic_store(&fx.shm[1].drain, 1);
	ck_assert_int_eq(pick(NULL, NULL), NONE);
	atomic_store(&fx.shm[0].drain, 0);
	ck_assert_int_eq(pick(NULL, NULL), 0);
	fx_free();
}
END_TEST

/* Put ADDR:PORT (host order) in slot I, as the resolver does. */
static void
slot_set(size_t i, uint32_t addr, uint16_t port, bool present, unsigned w,
    bool backup)
{
	struct lb_shm_addr a;
	struct sockaddr_in sin = client_v4(addr, port);

	memset(&a, 0, sizeof(a));
	memcpy(&a.ss, &sin, sizeof(sin));
	a.len = sizeof(sin);
	a.present = present;
	a.weight = w;
	a.backup = backup;
	lb_shm_addr_write(&fx.shm[i], &a);
}

START_TEST(test_followed_slots_serve_once_filled_and_follow_changes)
{
	struct lb_peer *p;
	unsigned	n[2] = { 0, 0 };

	memset(&fx, 0, sizeof(fx));
	for (size_t i = 0; i < 2; i++) {
		fx.srv[i].name = "_http._tcp.x.test";
		fx.srv[i].follow = LB_FOLLOW_SRV;
		fx.srv[i].max_addresses = 2;
		fx.srv[i].slot = (unsigned)i;
		fx.srv[i].weight = 1;
		fx.srv[i].id = i;
	}
	fx.route.algorithm = LB_ALGO_ROUND_ROBIN;
	fx.route.servers = fx.srv;
	fx.route.n_servers = 2;
	fx.seg = lb_shm_create(2, 1, SLOTS);
	fx.shm = fx.seg->servers;
	ck_assert_int_eq(lb_upstream_init(&fx.up, &fx.route, fx.seg, 0, SEED),
	    0);
	/* Empty slots: nothing to pick, not even "up" ones. */
	ck_assert_int_eq(pick(NULL, NULL), NONE);
	slot_set(0, 0x0a000001, 8080, true, 1, false);
	slot_set(1, 0x0a000002, 8081, true, 3, false);
	for (int i = 0; i < 400; i++)
		n[pick(NULL, NULL)]++;
	ck_assert_uint_eq(n[0], 100);
	ck_assert_uint_eq(n[1], 300);
	ck_assert_str_eq(fx.up.peers[1].srv->addrstr, "10.0.0.2:8081");
	/* The lower priority is a backup: only when the primary is out. */
	slot_set(1, 0x0a000002, 8081, true, 3, true);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(pick(NULL, NULL), 0);
	atomic_store(&fx.shm[0].up, 0);
	ck_assert_int_eq(pick(NULL, NULL), 1);
	atomic_store(&fx.shm[0].up, 1);
	/* Gone from DNS: no new requests, the one in flight ends. */
	p = lb_upstream_pick(&fx.up, NULL, NULL, NOW);
	ck_assert_int_eq((int)p->index, 0);
	slot_set(0, 0x0a000001, 8080, false, 1, false);
	ck_assert_int_eq(pick(NULL, NULL), 1);
	ck_assert_uint_eq(active_of(0), 1);
	lb_upstream_done(&fx.up, p, false);
	ck_assert_uint_eq(active_of(0), 0);
	fx_free();
}
END_TEST

static Suite *
balance_suite(void)
{
	Suite *s = suite_create("balance");
	TCase *tc;

	tc = tcase_create("common");
	tcase_add_test(tc, test_balancer_get_names_every_algorithm);
	tcase_add_test(tc, test_init_rejects_unknown_algorithm);
	tcase_add_test(tc, test_pick_returns_null_without_servers);
	/* Health, backups and retries hold for every algorithm. */
	tcase_add_loop_test(tc, test_down_server_is_never_picked,
	    LB_ALGO_ROUND_ROBIN, LB_ALGO_CONSISTENT_HASH + 1);
	tcase_add_test(tc,
	    test_passive_down_until_excludes_only_while_in_future);
	tcase_add_loop_test(tc,
	    test_backups_only_when_every_primary_is_unusable,
	    LB_ALGO_ROUND_ROBIN, LB_ALGO_CONSISTENT_HASH + 1);
	tcase_add_loop_test(tc, test_tried_servers_are_excluded,
	    LB_ALGO_ROUND_ROBIN, LB_ALGO_CONSISTENT_HASH + 1);
	tcase_add_loop_test(tc, test_pick_returns_null_when_none_is_usable,
	    LB_ALGO_ROUND_ROBIN, LB_ALGO_CONSISTENT_HASH + 1);
	tcase_add_test(tc, test_counters_rise_with_pick_and_fall_with_done);
	tcase_add_test(tc, test_peers_use_the_shared_slot_of_their_server_id);
	suite_add_tcase(s, tc);

	tc = tcase_create("dynamic");
	tcase_add_test(tc, test_a_drained_server_gets_no_new_requests);
	tcase_add_test(tc,
	    test_followed_slots_serve_once_filled_and_follow_changes);
	suite_add_tcase(s, tc);

	tc = tcase_create("round_robin");
	tcase_add_test(tc, test_round_robin_weights_5_1_1_interleave_smoothly);
	tcase_add_test(tc, test_round_robin_equal_weights_alternate);
	tcase_add_test(tc,
	    test_round_robin_skips_down_server_and_takes_it_back);
	tcase_add_test(tc,
	    test_round_robin_failure_skips_the_failed_server_for_a_while);
	suite_add_tcase(s, tc);

	tc = tcase_create("least_conn");
	tcase_add_test(tc, test_least_conn_prefers_fewest_active);
	tcase_add_test(tc, test_least_conn_compares_active_per_weight);
	tcase_add_test(tc, test_least_conn_holds_load_in_proportion_to_weight);
	tcase_add_test(tc, test_least_conn_breaks_ties_by_weighted_round_robin);
	tcase_add_test(tc, test_least_conn_sees_other_workers_requests);
	tcase_add_test(tc, test_least_conn_forgets_a_dead_workers_requests);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_test(tc, test_random_follows_weights);
	tcase_add_test(tc, test_random_is_deterministic_for_a_seed);
	tcase_add_test(tc, test_two_choices_follows_weights_when_idle);
	tcase_add_test(tc, test_two_choices_never_takes_the_busiest);
	tcase_add_test(tc, test_two_choices_keeps_load_even);
	suite_add_tcase(s, tc);

	tc = tcase_create("hash");
	tcase_add_loop_test(tc,
	    test_hash_same_client_same_server_whatever_its_port,
	    LB_ALGO_IP_HASH, LB_ALGO_CONSISTENT_HASH + 1);
	tcase_add_loop_test(tc, test_hash_v4_mapped_v6_client_is_the_v4_client,
	    LB_ALGO_IP_HASH, LB_ALGO_CONSISTENT_HASH + 1);
	tcase_add_loop_test(tc, test_hash_uses_the_whole_address,
	    LB_ALGO_IP_HASH, LB_ALGO_CONSISTENT_HASH + 1);
	tcase_add_test(tc, test_ip_hash_spreads_clients);
	tcase_add_test(tc, test_ip_hash_down_server_moves_only_its_clients);
	tcase_add_test(tc,
	    test_consistent_hash_down_server_moves_only_its_clients);
	tcase_add_test(tc,
	    test_consistent_hash_dead_servers_clients_spread_out);
	tcase_add_test(tc,
	    test_consistent_hash_added_server_takes_only_its_share);
	tcase_add_test(tc, test_consistent_hash_follows_weights);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr;
	int	 failed;

	sr = srunner_create(balance_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/check_carry.c -- what a reload carries over from one generation's
 * shared segment to the next (master/carry.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/ratelimit.h"
#include "common/shm.h"
#include "common/str.h"
#include "config/config.h"
#include "master/master.h"

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

static struct lb_cfg *
cfg_from(const char *yaml)
{
	struct lb_cfg *cfg;
	char	       err[LB_ERRLEN];

	if (lb_cfg_load_string("test.yaml", yaml, strlen(yaml), &cfg, err,
		sizeof(err)) == -1)
		ck_abort_msg("config: %s", err);
	return cfg;
}

static struct lb_shm *
shm_for(const struct lb_cfg *cfg)
{
	struct lb_shm *shm;

	shm = lb_shm_create(cfg->n_servers, cfg->n_routes, 2);
	ck_assert_ptr_nonnull(shm);
	return shm;
}

/* The route labelled LABEL, and its server with address ADDR. */
static const struct lb_route *
route(const struct lb_cfg *cfg, const char *label)
{
	for (size_t i = 0; i < cfg->n_routes; i++)
		if (strcmp(cfg->routes[i].label, label) == 0)
			return &cfg->routes[i];
	ck_abort_msg("no route %s", label);
	return NULL;
}

static struct lb_shm_server *
srv(struct lb_shm *shm, const struct lb_cfg *cfg, const char *label,
    const char *addr)
{
	const struct lb_route *r = route(cfg, label);

	for (size_t i = 0; i < r->n_servers; i++)
		if (strcmp(r->servers[i].addrstr, addr) == 0)
			return &shm->servers[r->servers[i].id];
	ck_abort_msg("no server %s in %s", addr, label);
	return NULL;
}

static struct lb_shm_route *
rt(struct lb_shm *shm, const struct lb_cfg *cfg, const char *label)
{
	return &shm->routes[route(cfg, label)->id];
}

static const char old_yaml[] = "hosts:\n"
			       "  - host: a.com\n"
			       "    servers: [127.0.0.1:1001, 127.0.0.1:1002]\n"
			       "  - host: b.com\n"
			       "    servers: [127.0.0.1:1003]\n"
			       "  - host: gone.com\n"
			       "    servers: [127.0.0.1:1001]\n";

/* Reordered, one server moved away, one added, one route gone, one new. */
static const char new_yaml[] = "hosts:\n"
			       "  - host: new.com\n"
			       "    servers: [127.0.0.1:1001]\n"
			       "  - host: b.com\n"
			       "    servers: [127.0.0.1:1004, 127.0.0.1:1003]\n"
			       "  - host: a.com\n"
			       "    servers: [127.0.0.1:1002]\n";

START_TEST(test_carry_over_keeps_counters_of_what_survives)
{
	struct lb_cfg *oc = cfg_from(old_yaml), *nc = cfg_from(new_yaml);
	struct lb_shm *os = shm_for(oc), *ns = shm_for(nc);

	atomic_store(&srv(os, oc, "a.com", "127.0.0.1:1001")->requests, 11);
	/* Each worker counts in its own stripe: all of them are carried. */
	atomic_store(&srv(os, oc, "a.com", "127.0.0.1:1002")->requests, 5);
	lb_shm_count(os, 1, &srv(os, oc, "a.com", "127.0.0.1:1002")->requests,
	    7);
	atomic_store(&srv(os, oc, "a.com", "127.0.0.1:1002")->failures, 2);
	atomic_store(&srv(os, oc, "b.com", "127.0.0.1:1003")->requests, 13);
	atomic_store(&srv(os, oc, "gone.com", "127.0.0.1:1001")->requests, 99);
	atomic_store(&rt(os, oc, "a.com")->codes[1], 20);
	lb_shm_count(os, 1, &rt(os, oc, "b.com")->codes[4], 5);
	atomic_store(&rt(os, oc, "gone.com")->codes[1], 77);

	lb_carry_over(ns, nc, os, oc);

	/* Same route label and same address: the numbers go on. */
	ck_assert_uint_eq(ld64(&srv(ns, nc, "a.com", "127.0.0.1:1002")
				    ->requests),
	    12);
	ck_assert_uint_eq(ld64(&srv(ns, nc, "a.com", "127.0.0.1:1002")
				    ->failures),
	    2);
	ck_assert_uint_eq(ld64(&srv(ns, nc, "b.com", "127.0.0.1:1003")
				    ->requests),
	    13);
	ck_assert_uint_eq(ld64(&rt(ns, nc, "a.com")->codes[1]), 20);
	ck_assert_uint_eq(ld64(&rt(ns, nc, "b.com")->codes[4]), 5);
	/* New servers and routes start from zero... */
	ck_assert_uint_eq(ld64(&srv(ns, nc, "b.com", "127.0.0.1:1004")
				    ->requests),
	    0);
	ck_assert_uint_eq(ld64(&rt(ns, nc, "new.com")->codes[1]), 0);
	/* ...even when the address was in another route before. */
	ck_assert_uint_eq(ld64(&srv(ns, nc, "new.com", "127.0.0.1:1001")
				    ->requests),
	    0);

	lb_shm_destroy(os);
	lb_shm_destroy(ns);
	lb_cfg_free(oc);
	lb_cfg_free(nc);
}
END_TEST

START_TEST(test_carry_over_adds_to_what_the_new_generation_counted)
{
	struct lb_cfg *oc = cfg_from(old_yaml), *nc = cfg_from(new_yaml);
	struct lb_shm *os = shm_for(oc), *ns = shm_for(nc);

	atomic_store(&srv(os, oc, "b.com", "127.0.0.1:1003")->requests, 13);
	atomic_store(&srv(ns, nc, "b.com", "127.0.0.1:1003")->requests, 2);
	lb_carry_over(ns, nc, os, oc);
	ck_assert_uint_eq(ld64(&srv(ns, nc, "b.com", "127.0.0.1:1003")
				    ->requests),
	    15);
	lb_shm_destroy(os);
	lb_shm_destroy(ns);
	lb_cfg_free(oc);
	lb_cfg_free(nc);
}
END_TEST

START_TEST(test_carry_over_keeps_unrouted_histogram_and_reloads)
{
	struct lb_cfg *oc = cfg_from(old_yaml), *nc = cfg_from(new_yaml);
	struct lb_shm *os = shm_for(oc), *ns = shm_for(nc);
	uint64_t       cum[LB_SHM_BUCKETS + 1], sum;

	atomic_store(&os->routes[os->n_routes].codes[3], 7);
	lb_shm_observe(os, 0, 3000);
	lb_shm_observe(os, 1, 7000000);
	lb_shm_set_reloads(os, 4, 2);
	atomic_store(&os->workers, 8);
	atomic_store(&os->generation, 6);

	lb_carry_over(ns, nc, os, oc);

	ck_assert_uint_eq(ld64(&ns->routes[ns->n_routes].codes[3]), 7);
	ck_assert_uint_eq(lb_shm_histogram(ns, cum, &sum), 2);
	ck_assert_uint_eq(sum, 7003000);
	ck_assert_uint_eq(cum[1], 0);
	ck_assert_uint_eq(cum[2], 1);
	ck_assert_uint_eq(ld64(&ns->reloads_ok), 4);
	ck_assert_uint_eq(ld64(&ns->reloads_failed), 2);
	/* The master's to set, for the new generation. */
	ck_assert_uint_eq(ld32(&ns->workers), 0);
	ck_assert_uint_eq(ld32(&ns->generation), 0);
	lb_shm_destroy(os);
	lb_shm_destroy(ns);
	lb_cfg_free(oc);
	lb_cfg_free(nc);
}
END_TEST

START_TEST(test_carry_over_leaves_requests_in_flight_behind)
{
	struct lb_cfg *oc = cfg_from(old_yaml), *nc = cfg_from(new_yaml);
	struct lb_shm *os = shm_for(oc), *ns = shm_for(nc);
	uint32_t       id = (uint32_t)(srv(os, oc, "b.com", "127.0.0.1:1003") -
		  os->servers);

	/* The old workers finish those and count them down in OLD. */
	atomic_store(lb_shm_active_share(os, 1, id), 3);
	atomic_store(lb_shm_tunnel_share(os, 0), 2);
	lb_carry_over(ns, nc, os, oc);
	id = (uint32_t)(srv(ns, nc, "b.com", "127.0.0.1:1003") - ns->servers);
	ck_assert_uint_eq(lb_shm_active(ns, id), 0);
	ck_assert_uint_eq(lb_shm_tunnels(ns), 0);
	lb_shm_destroy(os);
	lb_shm_destroy(ns);
	lb_cfg_free(oc);
	lb_cfg_free(nc);
}
END_TEST

START_TEST(test_carry_over_keeps_health_where_checks_go_on)
{
	static const char
			      off_yaml[] = "hosts:\n"
					   "  - host: a.com\n"
					   "    servers: [127.0.0.1:1001, 127.0.0.1:1002]\n"
					   "  - host: b.com\n"
					   "    health_check: off\n"
					   "    servers: [127.0.0.1:1003]\n";
	struct lb_cfg	     *oc = cfg_from(old_yaml), *nc = cfg_from(off_yaml);
	struct lb_shm	     *os = shm_for(oc), *ns = shm_for(nc);
	struct lb_shm_server *st;
	int64_t		      before = lb_now_ms();

	atomic_store(&srv(os, oc, "a.com", "127.0.0.1:1001")->up, 0);
	atomic_store(&srv(os, oc, "a.com", "127.0.0.1:1002")->down_until,
	    INT64_MAX);
	atomic_store(&srv(os, oc, "b.com", "127.0.0.1:1003")->up, 0);
	atomic_store(&srv(os, oc, "b.com", "127.0.0.1:1003")->down_until,
	    INT64_MAX);

	lb_carry_over(ns, nc, os, oc);

	/* Checked before and after: the new checker goes on from there. */
	st = srv(ns, nc, "a.com", "127.0.0.1:1001");
	ck_assert_uint_eq(ld32(&st->up), 0);
	st = srv(ns, nc, "a.com", "127.0.0.1:1002");
	ck_assert_uint_eq(ld32(&st->up), 1);
	ck_assert_int_eq(ldi64(&st->down_until), INT64_MAX);
	/* No checks any more: up, and a passive mark that runs out. */
	st = srv(ns, nc, "b.com", "127.0.0.1:1003");
	ck_assert_uint_eq(ld32(&st->up), 1);
	ck_assert_int_ge(ldi64(&st->down_until), before);
	ck_assert_int_le(ldi64(&st->down_until),
	    lb_now_ms() + LB_SHM_PASSIVE_MS);
	lb_shm_destroy(os);
	lb_shm_destroy(ns);
	lb_cfg_free(oc);
	lb_cfg_free(nc);
}
END_TEST

START_TEST(test_carry_over_matches_a_repeated_address_in_order)
{
	static const char yaml[] =
	    "hosts:\n"
	    "  - host: a.com\n"
	    "    servers: [127.0.0.1:1001, 127.0.0.1:1002, 127.0.0.1:1001]\n";
	static const char
			       moved[] = "hosts:\n"
					 "  - host: a.com\n"
					 "    servers: [127.0.0.1:1001, 127.0.0.1:1001]\n";
	struct lb_cfg	      *oc = cfg_from(yaml), *nc = cfg_from(moved);
	struct lb_shm	      *os = shm_for(oc), *ns = shm_for(nc);
	const struct lb_route *o = route(oc, "a.com"), *n = route(nc, "a.com");

	atomic_store(&os->servers[o->servers[0].id].requests, 5);
	atomic_store(&os->servers[o->servers[2].id].requests, 7);
	lb_carry_over(ns, nc, os, oc);
	ck_assert_uint_eq(ld64(&ns->servers[n->servers[0].id].requests), 5);
	ck_assert_uint_eq(ld64(&ns->servers[n->servers[1].id].requests), 7);
	lb_shm_destroy(os);
	lb_shm_destroy(ns);
	lb_cfg_free(oc);
	lb_cfg_free(nc);
}
END_TEST

START_TEST(test_carry_over_matches_paths_and_many_routes)
{
	struct lb_buf  ob, nb;
	struct lb_cfg *oc, *nc;
	struct lb_shm *os, *ns;
	char	       label[32];

	/* 200 routes, reversed: the lookup must not rely on the order. */
	lb_buf_init(&ob);
	lb_buf_init(&nb);
	lb_buf_adds(&ob, "paths:\n");
	lb_buf_adds(&nb, "paths:\n");
	for (int i = 0; i < 200; i++) {
		lb_buf_printf(&ob,
		    "  - path: /p%d\n    servers: "
		    "[127.0.0.1:%d]\n",
		    i, 2000 + i);
		lb_buf_printf(&nb,
		    "  - path: /p%d\n    servers: "
		    "[127.0.0.1:%d]\n",
		    199 - i, 2000 + 199 - i);
	}
	oc = cfg_from(lb_buf_cstr(&ob));
	nc = cfg_from(lb_buf_cstr(&nb));
	os = shm_for(oc);
	ns = shm_for(nc);
	for (int i = 0; i < 200; i++) {
		lb_snprintf(label, sizeof(label), "/p%d", i);
		atomic_store(&rt(os, oc, label)->codes[1], (uint64_t)i + 1);
		atomic_store(&os->servers[route(oc, label)->servers[0].id]
				  .requests,
		    (uint64_t)i + 1000);
	}
	lb_carry_over(ns, nc, os, oc);
	for (int i = 0; i < 200; i++) {
		lb_snprintf(label, sizeof(label), "/p%d", i);
		ck_assert_uint_eq(ld64(&rt(ns, nc, label)->codes[1]),
		    (uint64_t)i + 1);
		ck_assert_uint_eq(ld64(&ns->servers
					    [route(nc, label)->servers[0].id]
						.requests),
		    (uint64_t)i + 1000);
	}
	lb_buf_free(&ob);
	lb_buf_free(&nb);
	lb_shm_destroy(os);
	lb_shm_destroy(ns);
	lb_cfg_free(oc);
	lb_cfg_free(nc);
}
END_TEST

/* The rate limits' tables of a config, with their references. */
static struct lb_shm *
limits_for(const struct lb_cfg *cfg, const struct lb_shm *old,
    const struct lb_cfg *old_cfg)
{
	struct lb_shm *shm = shm_for(cfg);

	ck_assert_int_eq(lb_carry_limits(shm, cfg, old, old_cfg), 0);
	return shm;
}

START_TEST(test_carry_limits_keeps_the_tables_of_unchanged_limits)
{
	static const char *const v1 = "rate_limit: {rate: 10/s, burst: 5}\n"
				      "hosts:\n"
				      "  - host: a.com\n"
				      "    rate_limit: {rate: 1/m}\n"
				      "    servers: [127.0.0.1:1]\n"
				      "  - host: b.com\n"
				      "    rate_limit: {rate: 2/m}\n"
				      "    servers: [127.0.0.1:1]\n"
				      "  - host: c.com\n"
				      "    servers: [127.0.0.1:1]\n";
	/* b.com's limit changes, a new route comes before a.com. */
	static const char *const v2 = "rate_limit: {rate: 10/s, burst: 5}\n"
				      "hosts:\n"
				      "  - host: d.com\n"
				      "    rate_limit: {rate: 1/m}\n"
				      "    servers: [127.0.0.1:1]\n"
				      "  - host: a.com\n"
				      "    rate_limit: {rate: 1/m}\n"
				      "    servers: [127.0.0.1:1]\n"
				      "  - host: b.com\n"
				      "    rate_limit: {rate: 2/m, burst: 1}\n"
				      "    servers: [127.0.0.1:1]\n";
	struct lb_cfg		*c1 = cfg_from(v1), *c2 = cfg_from(v2);
	struct lb_shm		*s1 = limits_for(c1, NULL, NULL);
	struct lb_shm		*s2 = limits_for(c2, s1, c1);

	ck_assert_uint_eq(s1->n_limits, 3);
	ck_assert_uint_eq(s2->n_limits, 4);
	/* The top's, and a.com's, are the same tables. */
	ck_assert_ptr_eq(s2->limits[0], s1->limits[0]);
	ck_assert_ptr_eq(s2->limits[route(c2, "a.com")->rate_limit.id],
	    s1->limits[route(c1, "a.com")->rate_limit.id]);
	ck_assert_uint_eq(s1->limits[0]->refs, 2);
	/* b.com's and d.com's are new. */
	ck_assert_ptr_ne(s2->limits[route(c2, "b.com")->rate_limit.id],
	    s1->limits[route(c1, "b.com")->rate_limit.id]);
	ck_assert_ptr_ne(s2->limits[route(c2, "d.com")->rate_limit.id],
	    s1->limits[route(c1, "a.com")->rate_limit.id]);
	/* The old generation goes: the kept tables stay. */
	lb_shm_destroy(s1);
	ck_assert_uint_eq(s2->limits[0]->refs, 1);
	lb_shm_destroy(s2);
	lb_cfg_free(c1);
	lb_cfg_free(c2);
}
END_TEST

START_TEST(test_carry_over_keeps_the_rate_limited_counts)
{
	static const char *const y = "rate_limit: {rate: 10/s}\n"
				     "hosts: [{host: a.com, servers: "
				     "[127.0.0.1:1]}]\n";
	struct lb_cfg		*c1 = cfg_from(y), *c2 = cfg_from(y);
	struct lb_shm		*s1 = shm_for(c1), *s2 = shm_for(c2);

	atomic_store(&s1->routes[0].limited, 7);
	lb_shm_count(s1, 1, &s1->totals->limit_full, 3);
	lb_carry_over(s2, c2, s1, c1);
	ck_assert_uint_eq(ld64(&s2->routes[0].limited), 7);
	ck_assert_uint_eq(ld64(&s2->totals->limit_full), 3);
	lb_shm_destroy(s1);
	lb_shm_destroy(s2);
	lb_cfg_free(c1);
	lb_cfg_free(c2);
}
END_TEST

START_TEST(test_carry_over_keeps_drain_and_followed_addresses)
{
	static const char
	    *y1 = "hosts:\n"
		  "  - host: a.com\n"
		  "    servers: [127.0.0.1:8081, 127.0.0.1:8082,\n"
		  "              {address: api.test:80, resolve: true,\n"
		  "               max_addresses: 2}]\n";
	static const char
			      *y2 = "hosts:\n"
				    "  - host: b.com\n"
				    "    servers: [127.0.0.1:9000]\n"
				    "  - host: a.com\n"
				    "    servers: [{address: api.test:80, resolve: true,\n"
				    "               max_addresses: 2}, 127.0.0.1:8082]\n";
	struct lb_cfg	      *c1 = cfg_from(y1), *c2 = cfg_from(y2);
	struct lb_shm	      *s1 = shm_for(c1), *s2 = shm_for(c2);
	const struct lb_route *r1 = route(c1, "a.com"),
			      *r2 = route(c2, "a.com");
	struct lb_shm_addr a;
	struct sockaddr_in sin;

	/* 127.0.0.1:8082 drained; api.test's second slot holds 10.0.0.5. */
	atomic_store(&srv(s1, c1, "a.com", "127.0.0.1:8082")->drain, 1);
	memset(&a, 0, sizeof(a));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(80);
	sin.sin_addr.s_addr = htonl(0x0a000005);
	memcpy(&a.ss, &sin, sizeof(sin));
	a.len = sizeof(sin);
	a.present = true;
	lb_shm_addr_write(&s1->servers[r1->servers[3].id], &a);
	atomic_store(&s1->servers[r1->servers[3].id].drain, 1);

	lb_carry_over(s2, c2, s1, c1);
	ck_assert_uint_eq(ld32(&srv(s2, c2, "a.com", "127.0.0.1:8082")->drain),
	    1);
	ck_assert_uint_eq(ld32(&s2->servers[r2->servers[1].id].drain), 1);
	ck_assert_uint_eq(ld32(&s2->servers[r2->servers[0].id].drain), 0);
	lb_shm_addr_read(&s2->servers[r2->servers[1].id], &a);
	ck_assert(a.present);
	ck_assert_mem_eq(&a.ss, &sin, sizeof(sin));
	lb_shm_addr_read(&s2->servers[r2->servers[0].id], &a);
	ck_assert(!a.present);
	lb_shm_destroy(s1);
	lb_shm_destroy(s2);
	lb_cfg_free(c1);
	lb_cfg_free(c2);
}
END_TEST

static Suite *
carry_suite(void)
{
	Suite *s = suite_create("carry");
	TCase *tc;

	tc = tcase_create("carry_over");
	tcase_add_test(tc, test_carry_over_keeps_counters_of_what_survives);
	tcase_add_test(tc, test_carry_over_keeps_drain_and_followed_addresses);
	tcase_add_test(tc,
	    test_carry_over_adds_to_what_the_new_generation_counted);
	tcase_add_test(tc,
	    test_carry_over_keeps_unrouted_histogram_and_reloads);
	tcase_add_test(tc, test_carry_over_leaves_requests_in_flight_behind);
	tcase_add_test(tc, test_carry_over_keeps_health_where_checks_go_on);
	tcase_add_test(tc, test_carry_over_matches_a_repeated_address_in_order);
	tcase_add_test(tc, test_carry_over_matches_paths_and_many_routes);
	tcase_add_test(tc,
	    test_carry_limits_keeps_the_tables_of_unchanged_limits);
	tcase_add_test(tc, test_carry_over_keeps_the_rate_limited_counts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(carry_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/it_proxy.c -- how lbmaster picks where a request goes (SPEC
 * section 4, steps 1, 2 and 5), seen from a client and from the test
 * origins: routing, the firewall and balancing. tests/it_rewrite.c
 * covers what is changed in a request on its way (steps 3 and 4),
 * tests/it_forward.c the forwarding itself (step 6).
 *
 * Every lbmaster listens on a port the kernel chose; every origin too.
 * Each test writes the config it needs, so the YAML is in front of the
 * reader next to what is asserted.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

/* ------------------------------------------------------------ route */

START_TEST(test_host_match_is_case_insensitive_and_ignores_port)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	itc_path_seen(lb.port, "www.fruit.com", "/a", "fruit");
	itc_path_seen(lb.port, "WWW.Fruit.COM", "/a", "fruit");
	itc_path_seen(lb.port, "www.fruit.com:8080", "/a", "fruit");
	itc_path_seen(lb.port, "wWw.FRUIT.com:1", "/a", "fruit");
	itc_expect(lb.port, NULL, "fruit.com", "/a", 404, "Not Found");
	itc_expect(lb.port, NULL, "www.fruit.com.example", "/a", 404,
	    "Not Found");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_exact_host_beats_wildcard)
{
	unsigned      wild, exact;
	pid_t	      ow, oe;
	struct itc_lb lb;

	ow = itc_origin("wild", &wild, NULL);
	oe = itc_origin("exact", &exact, NULL);
	/* The wildcard comes first in the file: order must not matter. */
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: \"*.fruit.com\"\n"
	    "    servers: [127.0.0.1:%u]\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    wild, exact);
	itc_path_seen(lb.port, "www.fruit.com", "/", "exact");
	itc_path_seen(lb.port, "shop.fruit.com", "/", "wild");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(oe), 0);
	ck_assert_int_eq(lbt_stop(ow), 0);
}
END_TEST

START_TEST(test_longest_wildcard_wins)
{
	unsigned      shortw, longw;
	pid_t	      os, ol;
	struct itc_lb lb;

	os = itc_origin("short", &shortw, NULL);
	ol = itc_origin("long", &longw, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: \"*.fruit.com\"\n"
	    "    servers: [127.0.0.1:%u]\n"
	    "  - host: \"*.red.fruit.com\"\n"
	    "    servers: [127.0.0.1:%u]\n",
	    shortw, longw);
	itc_path_seen(lb.port, "apple.red.fruit.com", "/", "long");
	itc_path_seen(lb.port, "Apple.RED.fruit.com:80", "/", "long");
	itc_path_seen(lb.port, "apple.green.fruit.com", "/", "short");
	itc_path_seen(lb.port, "red.fruit.com", "/", "short");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(ol), 0);
	ck_assert_int_eq(lbt_stop(os), 0);
}
END_TEST

START_TEST(test_host_route_is_chosen_before_path_route)
{
	unsigned      byhost, bypath;
	pid_t	      oh, op;
	struct itc_lb lb;

	oh = itc_origin("byhost", &byhost, NULL);
	op = itc_origin("bypath", &bypath, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n"
	    "paths:\n"
	    "  - path: /mango\n"
	    "    servers: [127.0.0.1:%u]\n",
	    byhost, bypath);
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com", "/mango",
			     "byhost"),
	    "/mango");
	ck_assert_str_eq(itc_path_seen(lb.port, "other.com", "/mango",
			     "bypath"),
	    "/");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(op), 0);
	ck_assert_int_eq(lbt_stop(oh), 0);
}
END_TEST

START_TEST(test_path_prefix_matches_whole_segments)
{
	unsigned      mango;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("mango", &mango, NULL);
	itc_lb_start(&lb, 2,
	    "paths:\n"
	    "  - path: /mango\n"
	    "    servers: [127.0.0.1:%u]\n",
	    mango);
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango", "mango"), "/");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/", "mango"), "/");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/x", "mango"),
	    "/x");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango?q=1", "mango"),
	    "/");
	itc_expect(lb.port, NULL, "t", "/mangos", 404, "Not Found");
	itc_expect(lb.port, NULL, "t", "/mang", 404, "Not Found");
	itc_expect(lb.port, NULL, "t", "/", 404, "Not Found");
	ck_assert_int_eq(lbt_origin_stat(mango, "requests"), 4);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_longest_path_prefix_wins)
{
	unsigned      mango, green;
	pid_t	      om, og;
	struct itc_lb lb;

	om = itc_origin("mango", &mango, NULL);
	og = itc_origin("green", &green, NULL);
	itc_lb_start(&lb, 2,
	    "paths:\n"
	    "  - path: /mango\n"
	    "    servers: [127.0.0.1:%u]\n"
	    "  - path: /mango/green\n"
	    "    servers: [127.0.0.1:%u]\n",
	    mango, green);
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/green", "green"),
	    "/");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/green/leaf",
			     "green"),
	    "/leaf");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/greenish",
			     "mango"),
	    "/greenish");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/red", "mango"),
	    "/red");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(og), 0);
	ck_assert_int_eq(lbt_stop(om), 0);
}
END_TEST

START_TEST(test_strip_prefix_false_keeps_the_whole_path)
{
	unsigned      kiwi;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("kiwi", &kiwi, NULL);
	itc_lb_start(&lb, 2,
	    "paths:\n"
	    "  - path: /kiwi\n"
	    "    strip_prefix: false\n"
	    "    servers: [127.0.0.1:%u]\n",
	    kiwi);
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/kiwi", "kiwi"), "/kiwi");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/kiwi/x/y", "kiwi"),
	    "/kiwi/x/y");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_strip_prefix_true_keeps_the_query)
{
	const char   *json;
	unsigned      kiwi;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("kiwi", &kiwi, NULL);
	itc_lb_start(&lb, 2,
	    "paths:\n"
	    "  - path: /kiwi/fresh\n"
	    "    strip_prefix: true\n"
	    "    servers: [127.0.0.1:%u]\n",
	    kiwi);
	json = itc_seen(lb.port, "t", "/kiwi/fresh/x?a=1&b=%20", NULL);
	ck_assert_str_eq(lbt_json_str(json, "path"), "/x");
	ck_assert_str_eq(lbt_json_str(json, "query"), "a=1&b=%20");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_no_route_is_404_and_reaches_no_origin)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	itc_expect(lb.port, NULL, "www.vegetable.com", "/", 404, "Not Found");
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* --------------------------------------------------------- firewall */

START_TEST(test_path_reject_blocks_every_spelling_of_the_path)
{
	static const char *const blocked[] = {
		"/messages",
		"/messages/",
		"/messages/1",
		"//messages",
		"/./messages",
		"/%6Dessages",
		"/%6dessages/1",
		"/a/../messages",
		"/messages?x=1",
		"/messages/./1",
	};
	unsigned      fruit, i;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    firewall_rules:\n"
	    "      path_reject: [/messages]\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	for (i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		itc_expect(lb.port, NULL, "www.fruit.com", blocked[i], 403,
		    "Forbidden");
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_path_reject_matches_whole_segments_only)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    firewall_rules:\n"
	    "      path_reject: [/messages]\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com", "/messagesx",
			     "fruit"),
	    "/messagesx");
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com", "/a/messages",
			     "fruit"),
	    "/a/messages");
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com", "/Messages",
			     "fruit"),
	    "/Messages");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_unsafe_paths_are_400_and_reach_no_origin)
{
	static const char *const unsafe[] = {
		"/../x",
		"/%2e%2e/x",
		"/%2E%2E/x",
		"/a/../../x",
		"/a%2Fb",
		"/a%2fb",
		"/%00",
		"/a%00b",
	};
	unsigned      fruit, i;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	for (i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
		itc_expect(lb.port, NULL, "www.fruit.com", unsafe[i], 400,
		    NULL);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_origin_receives_the_normalized_path)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com",
			     "/a/./b//c/../d", "fruit"),
	    "/a/b/d");
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com", "/%7Euser/%41",
			     "fruit"),
	    "/~user/A");
	/* Reserved and other bytes stay encoded, exactly as sent. */
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com",
			     "/a%20b/%2B/%3F/%25", "fruit"),
	    "/a%20b/%2B/%3F/%25");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* The global rules and one route with rules of its own, one without. */
static void
two_firewalled_routes(struct itc_lb *lb, unsigned own, unsigned none)
{
	itc_lb_start(lb, 2,
	    "firewall_rules:\n"
	    "  path_reject: [/private]\n"
	    "  ip_reject: [127.0.0.3]\n"
	    "hosts:\n"
	    "  - host: own.fruit.com\n"
	    "    firewall_rules:\n"
	    "      path_reject: [/messages]\n"
	    "      ip_reject: [127.0.0.4]\n"
	    "    servers: [127.0.0.1:%u]\n"
	    "  - host: none.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    own, none);
}

START_TEST(test_global_firewall_applies_to_every_route)
{
	unsigned      own, none;
	pid_t	      oo, on;
	struct itc_lb lb;

	oo = itc_origin("own", &own, NULL);
	on = itc_origin("none", &none, NULL);
	two_firewalled_routes(&lb, own, none);
	itc_expect(lb.port, NULL, "own.fruit.com", "/private", 403,
	    "Forbidden");
	itc_expect(lb.port, NULL, "none.fruit.com", "/private/x", 403,
	    "Forbidden");
	itc_expect(lb.port, "127.0.0.3", "own.fruit.com", "/", 403,
	    "Forbidden");
	itc_expect(lb.port, "127.0.0.3", "none.fruit.com", "/", 403,
	    "Forbidden");
	ck_assert_int_eq(lbt_origin_stat(own, "requests"), 0);
	ck_assert_int_eq(lbt_origin_stat(none, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(on), 0);
	ck_assert_int_eq(lbt_stop(oo), 0);
}
END_TEST

START_TEST(test_route_firewall_applies_to_its_own_route_only)
{
	unsigned      own, none;
	pid_t	      oo, on;
	struct itc_lb lb;

	oo = itc_origin("own", &own, NULL);
	on = itc_origin("none", &none, NULL);
	two_firewalled_routes(&lb, own, none);
	itc_expect(lb.port, NULL, "own.fruit.com", "/messages", 403,
	    "Forbidden");
	itc_expect(lb.port, "127.0.0.4", "own.fruit.com", "/", 403,
	    "Forbidden");
	ck_assert_int_eq(lbt_origin_stat(own, "requests"), 0);
	itc_path_seen(lb.port, "none.fruit.com", "/messages", "none");
	itc_expect(lb.port, "127.0.0.4", "none.fruit.com", "/", 200, NULL);
	itc_path_seen(lb.port, "own.fruit.com", "/", "own");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(on), 0);
	ck_assert_int_eq(lbt_stop(oo), 0);
}
END_TEST

START_TEST(test_firewall_sees_the_path_before_rewrite)
{
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    rewrite_rules:\n"
	    "      replace: {v1: v2}\n"
	    "    firewall_rules:\n"
	    "      path_reject: [/v2]\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	ck_assert_int_eq(itc_get(lb.port, "www.fruit.com", "/v1", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V2");
	lbt_resp_free(&r);
	itc_expect(lb.port, NULL, "www.fruit.com", "/v2", 403, "Forbidden");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_firewall_sees_the_path_before_strip)
{
	unsigned      mango;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("mango", &mango, NULL);
	itc_lb_start(&lb, 2,
	    "paths:\n"
	    "  - path: /mango\n"
	    "    firewall_rules:\n"
	    "      path_reject: [/mango/secret, /public]\n"
	    "    servers: [127.0.0.1:%u]\n",
	    mango);
	itc_expect(lb.port, NULL, "t", "/mango/secret", 403, "Forbidden");
	/* Stripped, this is /public: the firewall must not see that. */
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/public", "mango"),
	    "/public");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_ip_reject_cidr_blocks_every_address_in_the_block)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    firewall_rules:\n"
	    "      ip_reject: [10.0.0.0/8, 127.0.0.0/30]\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	itc_expect(lb.port, "127.0.0.1", "www.fruit.com", "/", 403,
	    "Forbidden");
	itc_expect(lb.port, "127.0.0.2", "www.fruit.com", "/", 403,
	    "Forbidden");
	itc_expect(lb.port, "127.0.0.3", "www.fruit.com", "/", 403,
	    "Forbidden");
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_expect(lb.port, "127.0.0.4", "www.fruit.com", "/", 200, NULL);
	itc_expect(lb.port, "127.0.0.5", "www.fruit.com", "/", 200, NULL);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 2);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_ip_reject_matches_an_ipv6_client)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	if (!itc_have_ipv6())
		return; /* no ::1 here: nothing to test */
	o = itc_origin("fruit", &fruit, NULL);
	lb.port = lbt_free_port();
	lb.pid = lbt_lbmaster_start(
	    lbt_fmt("listen: [\"127.0.0.1:%u\", \"[::1]:%u\"]\n"
		    "workers: 2\n"
		    "health_check: off\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    firewall_rules:\n"
		    "      ip_reject: [\"::1\", 127.0.0.0/8]\n"
		    "    servers: [127.0.0.1:%u]\n"
		    "  - host: v4.fruit.com\n"
		    "    firewall_rules:\n"
		    "      ip_reject: [\"::/0\"]\n"
		    "    servers: [127.0.0.1:%u]\n",
		lb.port, lb.port, fruit, fruit),
	    lb.port);
	itc_expect(lb.port, "::1", "www.fruit.com", "/", 403, "Forbidden");
	itc_expect(lb.port, "127.0.0.1", "www.fruit.com", "/", 403,
	    "Forbidden");
	/* An IPv6 block never matches an IPv4 client, and the reverse. */
	itc_expect(lb.port, "::1", "v4.fruit.com", "/", 403, "Forbidden");
	itc_expect(lb.port, "127.0.0.1", "v4.fruit.com", "/", 200, NULL);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_ip_reject_ipv4_block_lets_an_ipv6_client_through)
{
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	if (!itc_have_ipv6())
		return; /* no ::1 here: nothing to test */
	o = itc_origin("fruit", &fruit, NULL);
	lb.port = lbt_free_port();
	lb.pid = lbt_lbmaster_start(
	    lbt_fmt("listen: [\"127.0.0.1:%u\", \"[::1]:%u\"]\n"
		    "workers: 2\n"
		    "health_check: off\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    firewall_rules:\n"
		    "      ip_reject: [0.0.0.0/0]\n"
		    "    servers: [127.0.0.1:%u]\n",
		lb.port, lb.port, fruit),
	    lb.port);
	itc_expect(lb.port, "127.0.0.1", "www.fruit.com", "/", 403,
	    "Forbidden");
	itc_expect(lb.port, "::1", "www.fruit.com", "/", 200, NULL);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* -------------------------------------------------------- balancing */

/* Which origin answered GET / through PORT: its name, harness-owned. */
static const char *
who(unsigned port)
{
	struct lbt_resp r;
	const char     *app;

	ck_assert_msg(itc_get(port, "www.fruit.com", "/", NULL, &r) == 0,
	    "GET /: %s", lbt_err_str(r.err));
	ck_assert_msg(r.status == 200, "GET /: status %d, body %s", r.status,
	    r.body);
	app = lbt_json_str(r.body, "app");
	ck_assert_ptr_nonnull(app);
	lbt_resp_free(&r);
	return app;
}

START_TEST(test_round_robin_alternates_between_two_origins)
{
	const char   *prev = NULL, *cur;
	unsigned      a, b, i, na = 0;
	pid_t	      oa, ob;
	struct itc_lb lb;

	oa = itc_origin("a", &a, NULL);
	ob = itc_origin("b", &b, NULL);
	/* One worker: its round robin is the only one. */
	itc_lb_start(&lb, 1,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    algorithm: round_robin\n"
	    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n",
	    a, b);
	for (i = 0; i < 10; i++) {
		cur = who(lb.port);
		if (prev != NULL)
			ck_assert_msg(strcmp(prev, cur) != 0,
			    "request %u went to %s again", i, cur);
		na += strcmp(cur, "a") == 0;
		prev = cur;
	}
	ck_assert_uint_eq(na, 5);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(ob), 0);
	ck_assert_int_eq(lbt_stop(oa), 0);
}
END_TEST

START_TEST(test_weighted_round_robin_follows_the_weights)
{
	unsigned      a, b, i, na = 0;
	pid_t	      oa, ob;
	struct itc_lb lb;

	oa = itc_origin("a", &a, NULL);
	ob = itc_origin("b", &b, NULL);
	itc_lb_start(&lb, 1,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers:\n"
	    "      - 127.0.0.1:%u\n"
	    "      - {address: 127.0.0.1:%u, weight: 3}\n",
	    a, b);
	for (i = 0; i < 8; i++)
		na += strcmp(who(lb.port), "a") == 0;
	ck_assert_uint_eq(na, 2);
	ck_assert_int_eq(lbt_origin_stat(b, "requests"), 6);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(ob), 0);
	ck_assert_int_eq(lbt_stop(oa), 0);
}
END_TEST

START_TEST(test_backup_is_used_only_when_primaries_are_down)
{
	unsigned      p1, p2, bk, i;
	pid_t	      o1, o2, ob;
	struct itc_lb lb;

	o1 = itc_origin("primary1", &p1, NULL);
	o2 = itc_origin("primary2", &p2, NULL);
	ob = itc_origin("backup", &bk, NULL);
	itc_lb_start(&lb, 1,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:%u, backup: true}\n"
	    "      - 127.0.0.1:%u\n"
	    "      - 127.0.0.1:%u\n",
	    bk, p1, p2);
	for (i = 0; i < 6; i++)
		ck_assert_str_ne(who(lb.port), "backup");
	ck_assert_int_eq(lbt_origin_stat(bk, "requests"), 0);

	/* One primary down: the other one takes everything. */
	ck_assert_int_eq(lbt_stop(o1), 0);
	for (i = 0; i < 4; i++)
		ck_assert_str_eq(who(lb.port), "primary2");
	ck_assert_int_eq(lbt_origin_stat(bk, "requests"), 0);

	/* Both down: the backup, and never an error. */
	ck_assert_int_eq(lbt_stop(o2), 0);
	for (i = 0; i < 4; i++)
		ck_assert_str_eq(who(lb.port), "backup");
	ck_assert_int_eq(lbt_origin_stat(bk, "requests"), 4);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(ob), 0);
}
END_TEST

START_TEST(test_every_server_down_is_503_no_backend)
{
	unsigned      i;
	struct itc_lb lb;

	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers:\n"
	    "      - 127.0.0.1:%u\n"
	    "      - 127.0.0.1:%u\n"
	    "      - {address: 127.0.0.1:%u, backup: true}\n",
	    lbt_free_port(), lbt_free_port(), lbt_free_port());
	/* The first finds them refusing; the next find them marked down. */
	for (i = 0; i < 3; i++)
		itc_expect(lb.port, NULL, "www.fruit.com", "/", 503,
		    "No backend servers available.");
	itc_lb_stop(&lb);
}
END_TEST

static Suite *
proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc;

	tc = lbt_tcase("route");
	tcase_add_test(tc,
	    test_host_match_is_case_insensitive_and_ignores_port);
	tcase_add_test(tc, test_exact_host_beats_wildcard);
	tcase_add_test(tc, test_longest_wildcard_wins);
	tcase_add_test(tc, test_host_route_is_chosen_before_path_route);
	tcase_add_test(tc, test_path_prefix_matches_whole_segments);
	tcase_add_test(tc, test_longest_path_prefix_wins);
	tcase_add_test(tc, test_strip_prefix_false_keeps_the_whole_path);
	tcase_add_test(tc, test_strip_prefix_true_keeps_the_query);
	tcase_add_test(tc, test_no_route_is_404_and_reaches_no_origin);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("firewall");
	tcase_add_test(tc, test_path_reject_blocks_every_spelling_of_the_path);
	tcase_add_test(tc, test_path_reject_matches_whole_segments_only);
	tcase_add_test(tc, test_unsafe_paths_are_400_and_reach_no_origin);
	tcase_add_test(tc, test_origin_receives_the_normalized_path);
	tcase_add_test(tc, test_global_firewall_applies_to_every_route);
	tcase_add_test(tc, test_route_firewall_applies_to_its_own_route_only);
	tcase_add_test(tc, test_firewall_sees_the_path_before_rewrite);
	tcase_add_test(tc, test_firewall_sees_the_path_before_strip);
	tcase_add_test(tc,
	    test_ip_reject_cidr_blocks_every_address_in_the_block);
	tcase_add_test(tc, test_ip_reject_matches_an_ipv6_client);
	tcase_add_test(tc,
	    test_ip_reject_ipv4_block_lets_an_ipv6_client_through);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("balance");
	tcase_add_test(tc, test_round_robin_alternates_between_two_origins);
	tcase_add_test(tc, test_weighted_round_robin_follows_the_weights);
	tcase_add_test(tc, test_backup_is_used_only_when_primaries_are_down);
	tcase_add_test(tc, test_every_server_down_is_503_no_backend);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proxy_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

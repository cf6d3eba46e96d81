/*
 * tests/it_seed.c -- the teaching project's thirteen scenarios
 * (/work/shared/seed/README.md), against its own loadbalancer.yaml loaded
 * byte for byte as it is.
 *
 * That file has fixed ports: lbmaster on 8080 (no listen key), the mango
 * origins on 8081/8082, the apple origins on 9081/9082, and 8888, 1111,
 * 1212 closed. Every test checks those ports first and fails naming the
 * one that is busy: a skipped scenario would look like a passed one.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"

#define LB_PORT 8080

/* The ports of the seed file and what they must be during a test. */
static const struct {
	unsigned    port;
	const char *role;
} seed_ports[] = {
	{ 8080, "lbmaster (the seed file has no listen key)" },
	{ 8081, "the first mango origin" },
	{ 8082, "the second mango origin" },
	{ 9081, "the first apple origin" },
	{ 9082, "the second apple origin" },
	{ 8888, "apple's closed server" },
	{ 1111, "orange's first closed server" },
	{ 1212, "orange's second closed server" },
};

/* The processes of one scenario. */
struct seed {
	pid_t lb;
	pid_t mango[2];
	pid_t apple[2];
};

static void
seed_check_ports(void)
{
	size_t i;

	for (i = 0; i < sizeof(seed_ports) / sizeof(seed_ports[0]); i++)
		ck_assert_msg(lbt_port_is_free(seed_ports[i].port),
		    "port %u is busy on 127.0.0.1: the seed scenarios need it "
		    "free for %s; stop whatever holds it and run again",
		    seed_ports[i].port, seed_ports[i].role);
}

/*
 * Start an origin on every address of localhost:PORT, as
 * lbt_origin_start_at does, without its lbt_port_is_free check:
 * seed_check_ports has checked the port already.
 */
static pid_t
origin_at(const char *name, unsigned port)
{
	const char *argv[] = { getenv("LB_ORIGIN"), "--name", name, "--listen",
		lbt_fmt("localhost:%u", port), NULL };
	pid_t	    pid;

	ck_assert_msg(argv[0] != NULL,
	    "$LB_ORIGIN is not set: run the "
	    "integration tests through `make check`");
	pid = lbt_spawn(lbt_fmt("origin-%s", name), argv);
	lbt_wait_port(pid, "127.0.0.1", port, LBT_START_MS);
	return pid;
}

/* Start the four origins and lbmaster on the config file PATH. */
static void
seed_start(struct seed *s, const char *path)
{
	seed_check_ports();
	s->mango[0] = origin_at("mango", 8081);
	s->mango[1] = origin_at("mango", 8082);
	s->apple[0] = origin_at("apple", 9081);
	s->apple[1] = origin_at("apple", 9082);
	s->lb = lbt_lbmaster_start_file(path, LB_PORT, NULL);
}

static void
seed_stop(struct seed *s)
{
	ck_assert_int_eq(lbt_stop(s->lb), 0);
	ck_assert_int_eq(lbt_stop(s->apple[1]), 0);
	ck_assert_int_eq(lbt_stop(s->apple[0]), 0);
	ck_assert_int_eq(lbt_stop(s->mango[1]), 0);
	ck_assert_int_eq(lbt_stop(s->mango[0]), 0);
}

/*
 * The seed file as it is, with 127.0.0.2 added to mango's ip_reject:
 * the only way to be "a rejected client" from the loopback.
 */
static const char *
seed_with_rejected_client(void)
{
	static const char anchor[] = "        - 10.192.0.2\n";
	const char	 *text, *at;
	size_t		  cut;

	text = lbt_read_file(lbt_fixture("loadbalancer.yaml"), NULL);
	ck_assert_msg(text != NULL, "cannot read the seed fixture");
	at = strstr(text, anchor);
	ck_assert_msg(at != NULL, "the seed fixture has no \"%s\" line",
	    "- 10.192.0.2");
	cut = (size_t)(at - text) + strlen(anchor);
	return lbt_write_file("loadbalancer-reject.yaml",
	    lbt_fmt("%.*s"
		    "        - 127.0.0.2\n%s",
		(int)cut, text, text + cut));
}

/* GET TARGET with Host HOST from SRC (NULL: any address). */
static int
seed_get(const char *src, const char *host, const char *target,
    struct lbt_resp *r)
{
	const char *raw;

	raw = lbt_fmt("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		      "\r\n",
	    target, host);
	return lbt_http(src, LB_PORT, raw, strlen(raw), r);
}

/* The port in an origin's "url" ("http://127.0.0.1:8081/..."), or 0. */
static unsigned
url_port(const char *url)
{
	const char *p;

	if (url == NULL || (p = strstr(url, "://")) == NULL ||
	    (p = strchr(p + 3, ':')) == NULL)
		return 0;
	return (unsigned)strtoul(p + 1, NULL, 10);
}

static long long
requests_of(const unsigned *ports, size_t n)
{
	long long sum = 0;
	size_t	  i;

	for (i = 0; i < n; i++)
		sum += lbt_origin_stat(ports[i], "requests");
	return sum;
}

static const unsigned mango_ports[] = { 8081, 8082 };
static const unsigned apple_ports[] = { 9081, 9082 };

/* 1. */
START_TEST(test_mango_host_adds_header_and_param_and_sends_own_host)
{
	struct lbt_resp r;
	struct seed	s;
	unsigned	port;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "www.mango.com", "/?RemoveMe=Remove",
			     &r),
	    0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "mango");
	ck_assert_str_eq(lbt_json_str(r.body, "MyCustomHeader"), "Test");
	port = url_port(lbt_json_str(r.body, "url"));
	ck_assert_msg(port == 8081 || port == 8082, "answered on port %u",
	    port);
	ck_assert_str_eq(lbt_json_str(r.body, "Host"),
	    lbt_fmt("localhost:%u", port));
	ck_assert_str_eq(lbt_json_str(r.body, "query"), "MyCustomParam=Test");
	ck_assert_str_eq(lbt_json_str(r.body, "MyCustomParam"), "Test");
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 2. */
START_TEST(test_apple_host_has_no_custom_header_and_sends_own_host)
{
	struct lbt_resp r;
	struct seed	s;
	unsigned	port;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "www.apple.com", "/", &r), 0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "apple");
	ck_assert_str_eq(lbt_json_raw(r.body, "MyCustomHeader"), "null");
	port = url_port(lbt_json_str(r.body, "url"));
	ck_assert_msg(port == 9081 || port == 9082, "answered on port %u",
	    port);
	ck_assert_str_eq(lbt_json_str(r.body, "Host"),
	    lbt_fmt("localhost:%u", port));
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 3. */
START_TEST(test_orange_host_with_every_server_closed_has_no_backend)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "www.orange.com", "/", &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(strstr(r.body, "No backend servers available."));
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 4. */
START_TEST(test_unknown_host_is_not_found)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "www.notmango.com", "/", &r), 0);
	ck_assert_int_eq(r.status, 404);
	ck_assert_ptr_nonnull(strstr(r.body, "Not Found"));
	ck_assert_int_eq(requests_of(mango_ports, 2) +
		requests_of(apple_ports, 2),
	    0);
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 5. */
START_TEST(test_mango_path_reaches_a_mango_root)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "localhost:8080", "/mango", &r), 0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "mango");
	ck_assert_str_eq(lbt_json_str(r.body, "message"),
	    "This is the mango application.");
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/");
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 6. */
START_TEST(test_apple_path_reaches_an_apple_root)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "localhost:8080", "/apple", &r), 0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "apple");
	ck_assert_str_eq(lbt_json_str(r.body, "message"),
	    "This is the apple application.");
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/");
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 7. */
START_TEST(test_orange_path_with_every_server_closed_has_no_backend)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "localhost:8080", "/orange", &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(strstr(r.body, "No backend servers available."));
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 8. */
START_TEST(test_unknown_path_is_not_found)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "localhost:8080", "/notmango", &r), 0);
	ck_assert_int_eq(r.status, 404);
	ck_assert_ptr_nonnull(strstr(r.body, "Not Found"));
	ck_assert_int_eq(requests_of(mango_ports, 2) +
		requests_of(apple_ports, 2),
	    0);
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 9. */
START_TEST(test_mango_v1_is_rewritten_to_v2)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "www.mango.com", "/v1", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V2");
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 10. */
START_TEST(test_rejected_client_address_is_forbidden)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, seed_with_rejected_client());
	ck_assert_int_eq(seed_get("127.0.0.2", "www.mango.com", "/mango", &r),
	    0);
	ck_assert_int_eq(r.status, 403);
	ck_assert_int_eq(requests_of(mango_ports, 2), 0);
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 11. */
START_TEST(test_other_client_address_is_served)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, seed_with_rejected_client());
	ck_assert_int_eq(seed_get("127.0.0.1", "www.mango.com", "/mango", &r),
	    0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "mango");
	ck_assert_int_eq(requests_of(mango_ports, 2), 1);
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 12. */
START_TEST(test_apple_messages_path_is_forbidden)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "www.apple.com", "/messages", &r), 0);
	ck_assert_int_eq(r.status, 403);
	ck_assert_int_eq(requests_of(apple_ports, 2), 0);
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

/* 13. */
START_TEST(test_apple_pictures_path_is_served)
{
	struct lbt_resp r;
	struct seed	s;

	seed_start(&s, lbt_fixture("loadbalancer.yaml"));
	ck_assert_int_eq(seed_get(NULL, "www.apple.com", "/pictures", &r), 0);
	ck_assert_msg(r.status == 200, "status %d, body %s", r.status, r.body);
	ck_assert_str_eq(lbt_json_str(r.body, "app"), "apple");
	ck_assert_str_eq(lbt_json_str(r.body, "path"), "/pictures");
	lbt_resp_free(&r);
	seed_stop(&s);
}
END_TEST

static Suite *
seed_suite(void)
{
	Suite *s = suite_create("seed");
	TCase *tc;

	tc = lbt_tcase("hosts");
	tcase_add_test(tc,
	    test_mango_host_adds_header_and_param_and_sends_own_host);
	tcase_add_test(tc,
	    test_apple_host_has_no_custom_header_and_sends_own_host);
	tcase_add_test(tc,
	    test_orange_host_with_every_server_closed_has_no_backend);
	tcase_add_test(tc, test_unknown_host_is_not_found);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("paths");
	tcase_add_test(tc, test_mango_path_reaches_a_mango_root);
	tcase_add_test(tc, test_apple_path_reaches_an_apple_root);
	tcase_add_test(tc,
	    test_orange_path_with_every_server_closed_has_no_backend);
	tcase_add_test(tc, test_unknown_path_is_not_found);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("rules");
	tcase_add_test(tc, test_mango_v1_is_rewritten_to_v2);
	tcase_add_test(tc, test_rejected_client_address_is_forbidden);
	tcase_add_test(tc, test_other_client_address_is_served);
	tcase_add_test(tc, test_apple_messages_path_is_forbidden);
	tcase_add_test(tc, test_apple_pictures_path_is_served);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(seed_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

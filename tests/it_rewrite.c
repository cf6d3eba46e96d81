/*
 * tests/it_rewrite.c -- what lbmaster changes in a request on its way to
 * the origin (SPEC section 4, steps 3 and 4): path rewrites, query
 * parameters, header rules, Host, hop-by-hop headers and the
 * X-Forwarded-* headers, as the test origin reports them in its JSON.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

/* --------------------------------------------------------- rewrites */

START_TEST(test_rewrite_replaces_a_whole_segment_prefix)
{
	const char     *json;
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
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	ck_assert_int_eq(itc_get(lb.port, "www.fruit.com", "/v1", NULL, &r), 0);
	ck_assert_str_eq(r.body, "This is V2");
	lbt_resp_free(&r);
	json = itc_seen(lb.port, "www.fruit.com", "/v1/users?a=1", NULL);
	ck_assert_str_eq(lbt_json_str(json, "path"), "/v2/users");
	ck_assert_str_eq(lbt_json_str(json, "query"), "a=1");
	ck_assert_str_eq(lbt_json_str(json, "url"),
	    lbt_fmt("http://127.0.0.1:%u/v2/users?a=1", fruit));
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com", "/v10",
			     "fruit"),
	    "/v10");
	ck_assert_str_eq(itc_path_seen(lb.port, "www.fruit.com", "/x/v1",
			     "fruit"),
	    "/x/v1");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_path_route_strips_before_it_rewrites)
{
	unsigned      mango;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("mango", &mango, NULL);
	itc_lb_start(&lb, 2,
	    "paths:\n"
	    "  - path: /mango\n"
	    "    rewrite_rules:\n"
	    "      replace: {/v1: /v2}\n"
	    "    servers: [127.0.0.1:%u]\n",
	    mango);
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/v1/x", "mango"),
	    "/v2/x");
	ck_assert_str_eq(itc_path_seen(lb.port, "t", "/mango/v10", "mango"),
	    "/v10");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* The params of QUERY other than NAME=..., joined again. */
static const char *
query_without(const char *query, const char *name)
{
	char	   *copy = lbt_fmt("%s", query), *part, *save = NULL;
	const char *out = "";
	size_t	    n = strlen(name);

	for (part = strtok_r(copy, "&", &save); part != NULL;
	     part = strtok_r(NULL, "&", &save)) {
		if (strncmp(part, name, n) == 0 &&
		    (part[n] == '=' || part[n] == '\0'))
			continue;
		out = lbt_fmt("%s%s%s", out, *out ? "&" : "", part);
	}
	return out;
}

/* How many params of QUERY are NAME=VALUE exactly. */
static int
query_count(const char *query, const char *param)
{
	char *copy = lbt_fmt("%s", query), *part, *save = NULL;
	int   n = 0;

	for (part = strtok_r(copy, "&", &save); part != NULL;
	     part = strtok_r(NULL, "&", &save))
		if (strcmp(part, param) == 0)
			n++;
	return n;
}

static const char param_rules[] = "hosts:\n"
				  "  - host: www.fruit.com\n"
				  "    param_rules:\n"
				  "      add: {MyCustomParam: Test}\n"
				  "      remove: {RemoveMe: Remove}\n"
				  "    servers: [127.0.0.1:%u]\n";

START_TEST(test_param_rules_keep_order_and_encoding_of_other_params)
{
	const char   *json, *query;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2, param_rules, fruit);
	json = itc_seen(lb.port, "www.fruit.com",
	    "/p?b=%20x&RemoveMe=Remove&a=1+2&flag&z=%7e&RemoveMe=again&e=&"
	    "q=a%26b%3Dc",
	    NULL);
	query = lbt_json_str(json, "query");
	ck_assert_ptr_nonnull(query);
	ck_assert_msg(query_count(query, "MyCustomParam=Test") == 1, "query %s",
	    query);
	ck_assert_str_eq(query_without(query, "MyCustomParam"),
	    "b=%20x&a=1+2&flag&z=%7e&e=&q=a%26b%3Dc");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_param_add_replaces_a_param_of_the_same_name)
{
	const char   *json, *query;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2, param_rules, fruit);
	json = itc_seen(lb.port, "www.fruit.com",
	    "/p?MyCustomParam=Old&x=1&MyCustomParam=Older", NULL);
	query = lbt_json_str(json, "query");
	ck_assert_ptr_nonnull(query);
	ck_assert_msg(query_count(query, "MyCustomParam=Test") == 1, "query %s",
	    query);
	ck_assert_str_eq(query_without(query, "MyCustomParam"), "x=1");
	/* Without a query at all, the added param is the whole query. */
	json = itc_seen(lb.port, "www.fruit.com", "/p", NULL);
	ck_assert_str_eq(lbt_json_str(json, "query"), "MyCustomParam=Test");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ---------------------------------------------------------- headers */

START_TEST(test_header_add_replaces_the_client_header)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    header_rules:\n"
	    "      add: {MyCustomHeader: Test}\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "www.fruit.com", "/",
	    "MyCustomHeader: Client\r\nmycustomheader: again\r\n");
	ck_assert_str_eq(lbt_json_str(json, "MyCustomHeader"), "Test");
	ck_assert_str_eq(lbt_json_str(json, "headers.MyCustomHeader"), "Test");
	ck_assert_ptr_null(lbt_json_raw(json, "headers.mycustomheader"));
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_header_remove_deletes_the_client_header)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	/* remove: as a list of names (the course's map form: it_seed). */
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    header_rules:\n"
	    "      remove: [X-Secret]\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "www.fruit.com", "/",
	    "X-Secret: s1\r\n"
	    "X-Keep: k\r\nx-secret: s2\r\n");
	ck_assert_ptr_null(lbt_json_raw(json, "headers.X-Secret"));
	ck_assert_ptr_null(lbt_json_raw(json, "headers.x-secret"));
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Keep"), "k");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_client_host_is_kept_when_not_removed)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "WWW.Fruit.com:1234", "/", NULL);
	ck_assert_str_eq(lbt_json_str(json, "Host"), "WWW.Fruit.com:1234");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_removed_host_becomes_the_server_as_written)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    header_rules:\n"
	    "      remove: {Host: www.fruit.com}\n"
	    "    servers: [localhost:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "www.fruit.com", "/", NULL);
	ck_assert_str_eq(lbt_json_str(json, "Host"),
	    lbt_fmt("localhost:%u", fruit));
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-Host"),
	    "www.fruit.com");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_header_add_can_set_the_host)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    header_rules:\n"
	    "      add: {Host: internal.fruit}\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "www.fruit.com", "/", NULL);
	ck_assert_str_eq(lbt_json_str(json, "Host"), "internal.fruit");
	ck_assert_str_eq(lbt_json_str(json, "headers.Host"), "internal.fruit");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * RFC 9112 section 3.2.2 and RFC 9110 section 7.2: with an absolute-form
 * target the client's Host is ignored; the authority, port and all, is
 * the host, for routing and for what the origin gets.
 */
START_TEST(test_absolute_form_authority_replaces_the_host)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "other.example",
	    "http://www.fruit.com:8080/x?y=1", NULL);
	ck_assert_str_eq(lbt_json_str(json, "path"), "/x");
	ck_assert_str_eq(lbt_json_str(json, "query"), "y=1");
	ck_assert_str_eq(lbt_json_str(json, "Host"), "www.fruit.com:8080");
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-Host"),
	    "www.fruit.com:8080");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_hop_by_hop_request_headers_are_removed)
{
	static const char *const gone[] = {
		"Keep-Alive",
		"TE",
		"Upgrade",
		"Proxy-Connection",
		"X-Drop-Me",
		"X-Drop-Too",
		"Trailer",
	};
	const char   *json, *conn;
	unsigned      fruit, i;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "www.fruit.com", "/",
	    "Connection: keep-alive, X-Drop-Me\r\n"
	    "Connection: X-Drop-Too\r\n"
	    "Keep-Alive: timeout=5\r\n"
	    "TE: trailers\r\n"
	    "Trailer: X-Sum\r\n"
	    "Upgrade: h2c\r\n"
	    "Proxy-Connection: keep-alive\r\n"
	    "X-Drop-Me: 1\r\n"
	    "X-Drop-Too: 2\r\n"
	    "X-Keep-Me: 3\r\n");
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		ck_assert_msg(lbt_json_raw(json,
				  lbt_fmt("headers.%s", gone[i])) == NULL,
		    "the origin got %s: %s", gone[i], json);
	/* lbmaster may say keep-alive to the origin, nothing of ours. */
	conn = lbt_json_raw(json, "headers.Connection");
	ck_assert_msg(conn == NULL || strcasestr(conn, "X-Drop") == NULL,
	    "the origin got Connection: %s", conn);
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Keep-Me"), "3");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_hop_by_hop_response_headers_are_removed)
{
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	ck_assert_int_eq(itc_get(lb.port, "www.fruit.com", "/",
			     "X-Test-Header: Keep-Alive: timeout=99\r\n"
			     "X-Test-Header: Upgrade: h2c\r\n"
			     "X-Test-Header: Proxy-Connection: keep-alive\r\n"
			     "X-Test-Header: Connection: X-Private\r\n"
			     "X-Test-Header: X-Private: 1\r\n"
			     "X-Test-Header: X-Origin: yes\r\n",
			     &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_null(lbt_header(&r, "Keep-Alive"));
	ck_assert_ptr_null(lbt_header(&r, "Upgrade"));
	ck_assert_ptr_null(lbt_header(&r, "Proxy-Connection"));
	/* Named in the origin's Connection: for that hop only. */
	ck_assert_ptr_null(lbt_header(&r, "X-Private"));
	ck_assert_str_eq(lbt_header(&r, "X-Origin"), "yes");
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_x_forwarded_for_appends_the_client_address)
{
	const char     *json;
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "www.fruit.com", "/", NULL);
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-For"),
	    "127.0.0.1");
	json = itc_seen(lb.port, "www.fruit.com", "/",
	    "X-Forwarded-For: 10.1.1.1\r\n");
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-For"),
	    "10.1.1.1, 127.0.0.1");
	json = itc_seen(lb.port, "www.fruit.com", "/",
	    "X-Forwarded-For: 10.1.1.1, 10.2.2.2\r\n"
	    "X-Forwarded-For: 10.3.3.3\r\n");
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-For"),
	    "10.1.1.1, 10.2.2.2, 10.3.3.3, 127.0.0.1");
	ck_assert_int_eq(itc_req("127.0.0.2", lb.port, "GET", "www.fruit.com",
			     "/", NULL, &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Forwarded-For"),
	    "127.0.0.2");
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_x_forwarded_proto_and_host_are_set)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	/* What a client claims is replaced, not passed on. */
	json = itc_seen(lb.port, "www.fruit.com:8443", "/",
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n");
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-Proto"),
	    "http");
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-Host"),
	    "www.fruit.com:8443");
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/*
 * A header rule on a header lbmaster sets itself replaces lbmaster's value
 * (behind a TLS terminator: X-Forwarded-Proto: https) or drops it: the
 * origin receives each once, never two.
 */
START_TEST(test_header_rules_replace_or_drop_the_forwarded_headers)
{
	const char   *json;
	unsigned      fruit;
	pid_t	      o;
	struct itc_lb lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    header_rules:\n"
	    "      add: {X-Forwarded-Proto: https, "
	    "X-Forwarded-For: 198.51.100.7}\n"
	    "      remove: [X-Forwarded-Host]\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	json = itc_seen(lb.port, "www.fruit.com", "/",
	    "X-Forwarded-Proto: ftp\r\nX-Forwarded-For: 10.1.1.1\r\n");
	/* A repeated header would be a JSON array, not a string. */
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-Proto"),
	    "https");
	ck_assert_str_eq(lbt_json_str(json, "headers.X-Forwarded-For"),
	    "198.51.100.7");
	ck_assert_ptr_null(lbt_json_raw(json, "headers.X-Forwarded-Host"));
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

static Suite *
rewrite_suite(void)
{
	Suite *s = suite_create("rewrite");
	TCase *tc;

	tc = lbt_tcase("rewrite");
	tcase_add_test(tc, test_rewrite_replaces_a_whole_segment_prefix);
	tcase_add_test(tc, test_path_route_strips_before_it_rewrites);
	tcase_add_test(tc,
	    test_param_rules_keep_order_and_encoding_of_other_params);
	tcase_add_test(tc, test_param_add_replaces_a_param_of_the_same_name);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("headers");
	tcase_add_test(tc, test_header_add_replaces_the_client_header);
	tcase_add_test(tc, test_header_remove_deletes_the_client_header);
	tcase_add_test(tc, test_client_host_is_kept_when_not_removed);
	tcase_add_test(tc, test_removed_host_becomes_the_server_as_written);
	tcase_add_test(tc, test_header_add_can_set_the_host);
	tcase_add_test(tc, test_absolute_form_authority_replaces_the_host);
	tcase_add_test(tc, test_hop_by_hop_request_headers_are_removed);
	tcase_add_test(tc, test_hop_by_hop_response_headers_are_removed);
	tcase_add_test(tc, test_x_forwarded_for_appends_the_client_address);
	tcase_add_test(tc, test_x_forwarded_proto_and_host_are_set);
	tcase_add_test(tc,
	    test_header_rules_replace_or_drop_the_forwarded_headers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(rewrite_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

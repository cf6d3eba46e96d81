/*
 * tests/it_edge.c -- edge traffic control (SPEC section 10) seen from
 * outside, beside the rate limits (tests/it_ratelimit.c): the client's
 * address from a PROXY header or a trusted proxy's X-Forwarded-For,
 * request IDs and traceparent, and the access log as JSON.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* GET TARGET on www.fruit.com with HDRS: R holds the answer, asserted 200. */
static void
get(const struct itc_lb *lb, const char *target, const char *hdrs,
    struct lbt_resp *r)
{
	ck_assert_msg(itc_get(lb->port, "www.fruit.com", target, hdrs, r) == 0,
	    "GET %s: %s", target, lbt_err_str(r->err));
	ck_assert_msg(r->status == 200, "GET %s: %d %s", target, r->status,
	    r->body);
}

static bool
is_hex32(const char *s)
{
	if (s == NULL || strlen(s) != 32)
		return false;
	for (; *s != '\0'; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return false;
	return true;
}

/* -------------------------------------------------- client address */

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

/*
 * lbmaster with a PROXY listener on lb->port, in front of the origin on
 * FRUIT, www.fruit.com refusing 203.0.113.0/24; TOP more YAML.
 */
static void
proxied_start(struct itc_lb *lb, unsigned fruit, const char *top)
{
	lb->port = lbt_free_port();
	lb->pid = lbt_lbmaster_start(
	    lbt_fmt("listen: [{address: \"127.0.0.1:%u\", proxy_protocol: "
		    "true}]\nworkers: 2\nhealth_check: off\n%s"
		    "hosts:\n"
		    "  - host: www.fruit.com\n"
		    "    firewall_rules: {ip_reject: [203.0.113.0/24]}\n"
		    "    servers: [127.0.0.1:%u]\n",
		lb->port, top, fruit),
	    lb->port);
}

/* PROXY header PP (LEN bytes), then GET TARGET on www.fruit.com. */
static int
get_after(const struct itc_lb *lb, const void *pp, size_t len,
    const char *target, struct lbt_resp *r)
{
	const char *req = lbt_fmt("GET %s HTTP/1.1\r\nHost: www.fruit.com\r\n"
				  "Connection: close\r\n\r\n",
	    target);
	char	   *raw = malloc(len + strlen(req));
	int	    rc;

	ck_assert_ptr_nonnull(raw);
	memcpy(raw, pp, len);
	memcpy(raw + len, req, strlen(req));
	rc = lbt_http(NULL, lb->port, raw, len + strlen(req), r);
	free(raw);
	return rc;
}

START_TEST(test_proxy_v1_source_is_the_client)
{
	static const char ok[] = "PROXY TCP4 192.0.2.9 127.0.0.1 40000 80\r\n";
	static const char
	    no[] = "PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n";
	static const char six[] = "PROXY TCP6 2001:db8::5 ::1 40000 80\r\n";
	struct lbt_resp	  r;
	struct itc_lb	  lb;
	unsigned	  fruit;
	pid_t		  o;

	o = itc_origin("fruit", &fruit, NULL);
	proxied_start(&lb, fruit, "");
	ck_assert_int_eq(get_after(&lb, ok, strlen(ok), "/p", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Forwarded-For"),
	    "192.0.2.9");
	lbt_resp_free(&r);
	/* ip_reject sees the PROXY header's source. */
	ck_assert_int_eq(get_after(&lb, no, strlen(no), "/p", &r), 0);
	ck_assert_int_eq(r.status, 403);
	lbt_resp_free(&r);
	ck_assert_int_eq(get_after(&lb, six, strlen(six), "/p", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Forwarded-For"),
	    "2001:db8::5");
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_proxy_v2_tcp4_tcp6_and_local)
{
	static const char four[] = V2SIG "\x21\x11\x00\x0c"
					 "\xcb\x00\x71\x07" /* 203.0.113.7 */
					 "\x7f\x00\x00\x01"
					 "\x9c\x40\x00\x50";
	static const char local[] = V2SIG "\x20\x00\x00\x00";
	unsigned char	  six[16 + 36];
	struct lbt_resp	  r;
	struct itc_lb	  lb;
	unsigned	  fruit;
	pid_t		  o;

	o = itc_origin("fruit", &fruit, NULL);
	proxied_start(&lb, fruit, "");
	ck_assert_int_eq(get_after(&lb, four, sizeof(four) - 1, "/p", &r), 0);
	ck_assert_int_eq(r.status, 403);
	lbt_resp_free(&r);
	memcpy(six, V2SIG "\x21\x21\x00\x24", 16);
	memset(six + 16, 0, 36);
	six[16] = 0x20; /* 2001:db8::77 */
	six[17] = 0x01;
	six[18] = 0x0d;
	six[19] = 0xb8;
	six[31] = 0x77;
	ck_assert_int_eq(get_after(&lb, six, sizeof(six), "/p", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Forwarded-For"),
	    "2001:db8::77");
	lbt_resp_free(&r);
	/* LOCAL: the balancer's own connection, from its own address. */
	ck_assert_int_eq(get_after(&lb, local, sizeof(local) - 1, "/p", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Forwarded-For"),
	    "127.0.0.1");
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_connection_without_a_proxy_header_is_closed)
{
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	fruit;
	pid_t		o;

	o = itc_origin("fruit", &fruit, NULL);
	proxied_start(&lb, fruit, "");
	ck_assert_int_eq(get_after(&lb, "", 0, "/p", &r), -1);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.raw_len, 0);
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 0);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_proxy_header_alone_is_an_idle_connection_not_a_request)
{
	static const char pp[] = "PROXY TCP4 192.0.2.9 127.0.0.1 40000 80\r\n";
	struct lbt_conn	 *c;
	struct lbt_resp	  r;
	struct itc_lb	  lb;
	unsigned	  fruit;
	const char	 *log = lbt_path("pp.log"), *text;
	pid_t		  o;

	o = itc_origin("fruit", &fruit, NULL);
	proxied_start(&lb, fruit,
	    lbt_fmt("access_log: %s\ntimeouts: {client: 300ms, keepalive: "
		    "1s}\n",
		log));
	/* The header, then the request well after timeouts.client. */
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, pp, strlen(pp)), 0);
	lbt_pause_ms(600);
	ck_assert_int_eq(lbt_conn_request(c,
			     "GET /late HTTP/1.1\r\nHost: www.fruit.com\r\n"
			     "\r\n",
			     strlen("GET /late HTTP/1.1\r\nHost: "
				    "www.fruit.com\r\n\r\n"),
			     &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	lbt_conn_close(c);
	/* The header and silence: closed as an idle connection, unlogged. */
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	ck_assert_int_eq(lbt_conn_send(c, pp, strlen(pp)), 0);
	ck_assert(lbt_conn_wait_closed(c, 5000));
	lbt_conn_close(c);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
	text = lbt_read_file(log, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, " 408 ") == NULL, "%s", text);
	ck_assert_msg(strstr(text, "192.0.2.9 - - ") == text, "%s", text);
}
END_TEST

START_TEST(test_trusted_proxy_x_forwarded_for_names_the_client)
{
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	fruit;
	pid_t		o;

	o = itc_origin("fruit", &fruit, NULL);
	itc_lb_start(&lb, 2,
	    "trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n"
	    "rate_limit: {rate: 1/m, burst: 1}\n"
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    firewall_rules: {ip_reject: [203.0.113.0/24]}\n"
	    "    servers: [127.0.0.1:%u]\n",
	    fruit);
	/* The last address that is not trusted: 203.0.113.7, refused. */
	ck_assert_int_eq(itc_req("127.0.0.1", lb.port, "GET", "www.fruit.com",
			     "/",
			     "X-Forwarded-For: 192.0.2.1, 203.0.113.7\r\n"
			     "X-Forwarded-For: 10.1.2.3\r\n",
			     &r),
	    0);
	ck_assert_int_eq(r.status, 403);
	lbt_resp_free(&r);
	/* 192.0.2.1 passes: its bucket, then its 429. */
	ck_assert_int_eq(itc_req("127.0.0.1", lb.port, "GET", "www.fruit.com",
			     "/", "X-Forwarded-For: 192.0.2.1\r\n", &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	/* The origin gets the chain and the address this hop came from. */
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Forwarded-For"),
	    "192.0.2.1, 127.0.0.1");
	lbt_resp_free(&r);
	ck_assert_int_eq(itc_req("127.0.0.1", lb.port, "GET", "www.fruit.com",
			     "/", "X-Forwarded-For: 192.0.2.1\r\n", &r),
	    0);
	ck_assert_int_eq(r.status, 429);
	lbt_resp_free(&r);
	ck_assert_int_eq(itc_req("127.0.0.1", lb.port, "GET", "www.fruit.com",
			     "/", "X-Forwarded-For: 192.0.2.2\r\n", &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	/* An untrusted peer's X-Forwarded-For is only a header. */
	ck_assert_int_eq(itc_req("127.0.0.2", lb.port, "GET", "www.fruit.com",
			     "/", "X-Forwarded-For: 203.0.113.7\r\n", &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Forwarded-For"),
	    "203.0.113.7, 127.0.0.2");
	lbt_resp_free(&r);
	/* What is not an address stops the walk at the last one read. */
	ck_assert_int_eq(itc_req("127.0.0.1", lb.port, "GET", "www.fruit.com",
			     "/",
			     "X-Forwarded-For: 203.0.113.7, unknown, "
			     "10.9.9.9\r\n",
			     &r),
	    0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

/* ----------------------------------------------------------- sticky */

/* The value of cookie NAME that R sets, harness-owned, or NULL. */
static const char *
set_cookie(const struct lbt_resp *r, const char *name)
{
	const char *v = lbt_header(r, "Set-Cookie");
	size_t	    n = strlen(name);

	if (v == NULL || strncmp(v, name, n) != 0 || v[n] != '=')
		return NULL;
	ck_assert_msg(strstr(v, "; Path=/; HttpOnly") != NULL, "%s", v);
	return lbt_fmt("%.*s", (int)strcspn(v + n + 1, ";"), v + n + 1);
}

START_TEST(test_sticky_cookie_pins_a_client_and_repins_when_its_server_is_down)
{
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	pa, pb;
	const char     *id, *app, *id2;
	pid_t		oa, ob;

	oa = itc_origin("a", &pa, NULL);
	ob = itc_origin("b", &pb, NULL);
	itc_lb_start(&lb, 2,
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    sticky: {cookie: lbm_srv}\n"
	    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n",
	    pa, pb);
	get(&lb, "/s", NULL, &r);
	id = set_cookie(&r, "lbm_srv");
	ck_assert_ptr_nonnull(id);
	/* Opaque: 16 hex digits, not the address. */
	ck_assert_uint_eq(strlen(id), 16);
	ck_assert_ptr_null(strstr(id, "127.0.0.1"));
	app = lbt_fmt("%s", lbt_json_str(r.body, "app"));
	lbt_resp_free(&r);
	/* 20 requests, over both workers: the same server, cookie hidden. */
	for (int i = 0; i < 20; i++) {
		get(&lb, "/s", lbt_fmt("Cookie: a=1; lbm_srv=%s; b=2\r\n", id),
		    &r);
		ck_assert_str_eq(lbt_json_str(r.body, "app"), app);
		ck_assert_str_eq(lbt_json_str(r.body, "headers.Cookie"),
		    "a=1; b=2");
		ck_assert_ptr_null(lbt_header(&r, "Set-Cookie"));
		lbt_resp_free(&r);
	}
	/* Only the sticky cookie: no Cookie header left at all. */
	get(&lb, "/s", lbt_fmt("Cookie: lbm_srv=%s\r\n", id), &r);
	ck_assert_ptr_null(lbt_json_raw(r.body, "headers.Cookie"));
	lbt_resp_free(&r);
	/* A cookie that names no server: balanced, and a new cookie. */
	get(&lb, "/s", "Cookie: lbm_srv=0123456789abcdef\r\n", &r);
	ck_assert_ptr_nonnull(set_cookie(&r, "lbm_srv"));
	lbt_resp_free(&r);

	/* Its server goes down: another answers and the cookie moves. */
	ck_assert_int_eq(lbt_stop(strcmp(app, "a") == 0 ? oa : ob), 0);
	get(&lb, "/s", lbt_fmt("Cookie: lbm_srv=%s\r\n", id), &r);
	ck_assert_str_ne(lbt_json_str(r.body, "app"), app);
	id2 = set_cookie(&r, "lbm_srv");
	ck_assert_ptr_nonnull(id2);
	ck_assert_str_ne(id2, id);
	lbt_resp_free(&r);
	for (int i = 0; i < 5; i++) {
		get(&lb, "/s", lbt_fmt("Cookie: lbm_srv=%s\r\n", id2), &r);
		ck_assert_str_ne(lbt_json_str(r.body, "app"), app);
		ck_assert_ptr_null(lbt_header(&r, "Set-Cookie"));
		lbt_resp_free(&r);
	}
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(strcmp(app, "a") == 0 ? ob : oa), 0);
}
END_TEST

START_TEST(test_sticky_cookie_of_a_draining_server_is_balanced_anew)
{
	static const char token[] = "edge-token-0123456789";
	struct lbt_resp	  r;
	struct itc_lb	  lb;
	unsigned	  pa, pb, admin;
	const char	 *id, *app;
	pid_t		  oa, ob;

	oa = itc_origin("a", &pa, NULL);
	ob = itc_origin("b", &pb, NULL);
	admin = lbt_free_port();
	itc_lb_start(&lb, 1,
	    "admin: {listen: 127.0.0.1:%u, token: %s}\n"
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    sticky: {cookie: lbm_srv}\n"
	    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n",
	    admin, token, pa, pb);
	lbt_wait_port(lb.pid, "127.0.0.1", admin, 10000);
	get(&lb, "/d", NULL, &r);
	id = set_cookie(&r, "lbm_srv");
	app = lbt_fmt("%s", lbt_json_str(r.body, "app"));
	lbt_resp_free(&r);
	ck_assert_ptr_nonnull(id);
	ck_assert_int_eq(lbt_httpf(admin, &r,
			     "POST /servers/drain?route=www.fruit.com&server="
			     "127.0.0.1:%u HTTP/1.1\r\nHost: admin\r\n"
			     "Authorization: Bearer %s\r\n"
			     "Connection: close\r\n\r\n",
			     strcmp(app, "a") == 0 ? pa : pb, token),
	    0);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	/* A draining server gets no new request, cookie or not. */
	get(&lb, "/d", lbt_fmt("Cookie: lbm_srv=%s\r\n", id), &r);
	ck_assert_str_ne(lbt_json_str(r.body, "app"), app);
	ck_assert_ptr_nonnull(set_cookie(&r, "lbm_srv"));
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(oa), 0);
	ck_assert_int_eq(lbt_stop(ob), 0);
}
END_TEST

/* ------------------------------------------------------ request IDs */

START_TEST(test_request_id_is_made_when_the_client_sends_none)
{
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	fruit;
	const char     *seen, *first;
	pid_t		o;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2, "", lbt_fmt("127.0.0.1:%u", fruit));
	get(&lb, "/a", NULL, &r);
	seen = lbt_json_str(r.body, "headers.X-Request-ID");
	ck_assert_msg(is_hex32(seen), "the origin saw X-Request-ID %s", seen);
	/* The client sees the one the origin saw. */
	ck_assert_str_eq(lbt_header(&r, "X-Request-ID"), seen);
	ck_assert_uint_eq(lbt_header_count(&r, "X-Request-ID"), 1);
	first = lbt_fmt("%s", seen);
	lbt_resp_free(&r);
	get(&lb, "/a", NULL, &r);
	ck_assert(is_hex32(lbt_header(&r, "X-Request-ID")));
	ck_assert_str_ne(lbt_header(&r, "X-Request-ID"), first);
	lbt_resp_free(&r);
	/* lbmaster's own answers carry it too. */
	ck_assert_int_eq(itc_get(lb.port, "nowhere.com", "/", NULL, &r), 0);
	ck_assert_int_eq(r.status, 404);
	ck_assert(is_hex32(lbt_header(&r, "X-Request-ID")));
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_request_id_of_the_client_is_kept_when_valid_else_replaced)
{
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	fruit;
	char		longid[202];
	pid_t		o;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	get(&lb, "/k", "X-Request-ID: abc-123/\"x\"\r\n", &r);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Request-ID"),
	    "abc-123/\"x\"");
	ck_assert_str_eq(lbt_header(&r, "X-Request-ID"), "abc-123/\"x\"");
	lbt_resp_free(&r);
	/* 200 characters are kept, 201 are not. */
	memset(longid, 'a', 200);
	longid[200] = '\0';
	get(&lb, "/k", lbt_fmt("x-request-id: %s\r\n", longid), &r);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Request-ID"), longid);
	lbt_resp_free(&r);
	strcat(longid, "a");
	get(&lb, "/k", lbt_fmt("X-Request-ID: %s\r\n", longid), &r);
	ck_assert(is_hex32(lbt_json_str(r.body, "headers.X-Request-ID")));
	lbt_resp_free(&r);
	/* Not visible ASCII: a space, a byte above 0x7e. */
	get(&lb, "/k", "X-Request-ID: a b\r\n", &r);
	ck_assert(is_hex32(lbt_json_str(r.body, "headers.X-Request-ID")));
	ck_assert(is_hex32(lbt_header(&r, "X-Request-ID")));
	lbt_resp_free(&r);
	get(&lb, "/k", "X-Request-ID: caf\xc3\xa9\r\n", &r);
	ck_assert(is_hex32(lbt_json_str(r.body, "headers.X-Request-ID")));
	lbt_resp_free(&r);
	/* Two of them: a new one, once. */
	get(&lb, "/k", "X-Request-ID: a\r\nX-Request-ID: b\r\n", &r);
	ck_assert(is_hex32(lbt_json_str(r.body, "headers.X-Request-ID")));
	ck_assert_uint_eq(lbt_header_count(&r, "X-Request-ID"), 1);
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_request_id_header_name_is_configurable_and_off_turns_it_off)
{
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	fruit;
	pid_t		o;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "request_id: X-Trace-Id\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	get(&lb, "/n", NULL, &r);
	ck_assert(is_hex32(lbt_json_str(r.body, "headers.X-Trace-Id")));
	ck_assert_ptr_null(lbt_json_raw(r.body, "headers.X-Request-ID"));
	ck_assert(is_hex32(lbt_header(&r, "X-Trace-Id")));
	lbt_resp_free(&r);
	itc_lb_stop(&lb);

	itc_fruit_start(&lb, 1, "request_id: off\n",
	    lbt_fmt("127.0.0.1:%u", fruit));
	get(&lb, "/n", NULL, &r);
	ck_assert_ptr_null(lbt_json_raw(r.body, "headers.X-Request-ID"));
	ck_assert_ptr_null(lbt_header(&r, "X-Request-ID"));
	lbt_resp_free(&r);
	/* Off: the client's header is just a header. */
	get(&lb, "/n", "X-Request-ID: a b\r\n", &r);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.X-Request-ID"), "a b");
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

START_TEST(test_traceparent_passes_untouched_and_both_are_logged)
{
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	fruit;
	const char     *log = lbt_path("access.log"), *id;
	const char     *text;
	pid_t		o;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, lbt_fmt("access_log: %s\n", log),
	    lbt_fmt("127.0.0.1:%u", fruit));
	get(&lb, "/t", "traceparent: " TRACEPARENT "\r\n", &r);
	ck_assert_str_eq(lbt_json_str(r.body, "headers.traceparent"),
	    TRACEPARENT);
	id = lbt_fmt("%s", lbt_header(&r, "X-Request-ID"));
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
	text = lbt_read_file(log, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text,
			  lbt_fmt(" request_id=%s traceparent=" TRACEPARENT
				  "\n",
			      id)) != NULL,
	    "access log: %s", text);
}
END_TEST

/* ------------------------------------------------------- JSON logs */

/*
 * Every line of the log at PATH parsed by Python's json module, with the
 * keys of SPEC section 10; prints, per line, status, request_id and the
 * user agent's bytes in hex. Harness-owned.
 */
static const char *
json_lines(const char *path)
{
	static const char script[] =
	    "import json, sys\n"
	    "keys = {'time', 'client', 'method', 'uri', 'status', 'bytes',\n"
	    "        'referer', 'user_agent', 'route', 'upstream',\n"
	    "        'upstream_status', 'rt', 'urt', 'request_id', 'tls'}\n"
	    "for line in open(sys.argv[1], 'rb'):\n"
	    "    line = line.decode('utf-8')\n"
	    "    o = json.loads(line)\n"
	    "    missing = keys - set(o)\n"
	    "    assert not missing, missing\n"
	    "    ua = o['user_agent']\n"
	    "    print(o['status'], o['request_id'], o['route'],\n"
	    "          o['upstream_status'], o['client'], o['uri'],\n"
	    "          ua.encode('latin-1').hex() if ua is not None else '-')\n";
	const char *argv[] = { "/usr/bin/env", "python3", "-c", script, path,
		NULL };
	char	   *out;

	ck_assert_msg(lbt_run(argv, 10000, &out) == 0, "%s", out);
	return out;
}

START_TEST(test_json_log_lines_parse_whatever_the_client_sent)
{
	/* Quotes, backslashes, a tab, UTF-8 and a byte that is not. */
	static const char
			ua[] = "a \"quoted\" \\back\\slash\tx caf\xc3\xa9 \xff";
	struct lbt_resp r;
	struct itc_lb	lb;
	unsigned	fruit;
	const char     *log = lbt_path("access.json"), *out, *want;
	char		hex[2 * sizeof(ua) + 1];
	pid_t		o;

	for (size_t i = 0; i < sizeof(ua) - 1; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)ua[i]);
	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 2,
	    lbt_fmt("access_log: %s\naccess_log_format: json\n", log),
	    lbt_fmt("127.0.0.1:%u", fruit));
	get(&lb, "/j?q=\"x\"", lbt_fmt("User-Agent: %s\r\n", ua), &r);
	want = lbt_fmt("200 %s www.fruit.com 200 127.0.0.1 /j?q=\"x\" %s\n",
	    lbt_header(&r, "X-Request-ID"), hex);
	lbt_resp_free(&r);
	/* lbmaster's own answer: no route, no upstream. */
	ck_assert_int_eq(itc_get(lb.port, "nowhere.com", "/", NULL, &r), 0);
	ck_assert_int_eq(r.status, 404);
	want = lbt_fmt("%s404 %s None None 127.0.0.1 / -\n", want,
	    lbt_header(&r, "X-Request-ID"));
	lbt_resp_free(&r);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
	out = json_lines(log);
	ck_assert_str_eq(out, want);
}
END_TEST

static Suite *
edge_suite(void)
{
	Suite *s = suite_create("edge");
	TCase *tc;

	tc = lbt_tcase("client_address");
	tcase_add_test(tc, test_proxy_v1_source_is_the_client);
	tcase_add_test(tc, test_proxy_v2_tcp4_tcp6_and_local);
	tcase_add_test(tc, test_connection_without_a_proxy_header_is_closed);
	tcase_add_test(tc,
	    test_proxy_header_alone_is_an_idle_connection_not_a_request);
	tcase_add_test(tc, test_trusted_proxy_x_forwarded_for_names_the_client);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("sticky");
	tcase_add_test(tc,
	    test_sticky_cookie_pins_a_client_and_repins_when_its_server_is_down);
	tcase_add_test(tc,
	    test_sticky_cookie_of_a_draining_server_is_balanced_anew);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("request_id");
	tcase_add_test(tc, test_request_id_is_made_when_the_client_sends_none);
	tcase_add_test(tc,
	    test_request_id_of_the_client_is_kept_when_valid_else_replaced);
	tcase_add_test(tc,
	    test_request_id_header_name_is_configurable_and_off_turns_it_off);
	tcase_add_test(tc,
	    test_traceparent_passes_untouched_and_both_are_logged);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("json_log");
	tcase_add_test(tc, test_json_log_lines_parse_whatever_the_client_sent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(edge_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

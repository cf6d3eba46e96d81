/*
 * tests/check_rules.c -- what a route does to a request before it is
 * forwarded (worker/rules.c): the firewall, path rewriting, and the exact
 * request head an origin receives. The routes come from YAML through the
 * real loader; the client's headers are built by hand the way evhttp
 * would hand them over.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>

#include "common/uri.h"
#include "config/config.h"
#include "worker/rules.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char
    yaml[] = "firewall_rules:\n"
	     "  ip_reject: [10.0.0.0/8]\n"
	     "  path_reject: [/admin]\n"
	     "hosts:\n"
	     "  - host: www.mango.com\n"
	     "    header_rules:\n"
	     "      add: {MyCustomHeader: Test}\n"
	     "      remove: {Host: www.mango.com}\n"
	     "    rewrite_rules: {replace: {v1: v2}}\n"
	     "    firewall_rules:\n"
	     "      ip_reject: [192.0.2.1, \"2001:db8::/32\"]\n"
	     "      path_reject: [/messages]\n"
	     "    servers: [127.0.0.1:8081]\n"
	     "  - host: www.orange.com\n"
	     "    servers: [127.0.0.1:1111]\n"
	     "  - host: www.lime.com\n"
	     "    header_rules:\n"
	     "      add:\n"
	     "        x-forwarded-proto: https\n"
	     "        X-Forwarded-For: 192.0.2.9\n"
	     "      remove: [X-FORWARDED-HOST]\n"
	     "    servers: [127.0.0.1:1112]\n"
	     "  - host: www.apple.com\n"
	     "    header_rules:\n"
	     "      add: {host: backend.internal, X-Extra: \"a, b\"}\n"
	     "      remove: [X-Debug, Cookie]\n"
	     "    rewrite_rules: {replace: {/a: /b, /a/c: /d, /old: /}}\n"
	     "    servers: [127.0.0.1:9081]\n"
	     "paths:\n"
	     "  - path: /mango\n"
	     "    servers: [127.0.0.1:8081]\n"
	     "  - path: /api\n"
	     "    rewrite_rules: {replace: {v1: v2}}\n"
	     "    servers: [127.0.0.1:8082]\n"
	     "  - path: /keep\n"
	     "    strip_prefix: false\n"
	     "    rewrite_rules: {replace: {/keep/v1: /keep/v2}}\n"
	     "    servers: [127.0.0.1:8083]\n";

static struct lb_cfg *cfg;

static void
setup(void)
{
	char err[LB_ERRLEN];

	if (lb_cfg_load_string("rules.yaml", yaml, strlen(yaml), &cfg, err,
		sizeof(err)) == -1)
		ck_abort_msg("load failed: %s", err);
}

static void
teardown(void)
{
	lb_cfg_free(cfg);
	cfg = NULL;
}

/* The route whose match is MATCH (a host or a path). */
static const struct lb_route *
route(const char *match)
{
	for (size_t i = 0; i < cfg->n_routes; i++)
		if (strcmp(cfg->routes[i].match, match) == 0)
			return &cfg->routes[i];
	ck_abort_msg("no route %s", match);
	return NULL;
}

/* TEXT ("10.1.2.3", "::1") as a socket address in SS. */
static const struct sockaddr *
sa(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in  *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr),
		    1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40000);
	}
	return (const struct sockaddr *)ss;
}

/* -------------------------------------------------------- lb_rules_allowed */

static const struct allow_case {
	const char *route; /* NULL: no route matched */
	const char *ip;
	const char *path; /* normalized */
	bool	    want;
} allow_cases[] = {
	{ "www.orange.com", "127.0.0.1", "/", true },
	{ "www.orange.com", "::1", "/x", true },
	/* The global rules apply on every route, and with no route. */
	{ "www.orange.com", "10.1.2.3", "/", false },
	{ "www.mango.com", "10.255.255.255", "/", false },
	{ NULL, "10.0.0.1", "/", false },
	{ NULL, "11.0.0.1", "/", true },
	{ "www.orange.com", "::ffff:10.1.2.3", "/", false },
	{ "www.orange.com", "127.0.0.1", "/admin", false },
	{ "www.orange.com", "127.0.0.1", "/admin/users", false },
	{ NULL, "127.0.0.1", "/admin", false },
	{ "www.orange.com", "127.0.0.1", "/administrator", true },
	/* A route's own rules apply on that route only. */
	{ "www.mango.com", "192.0.2.1", "/", false },
	{ "www.mango.com", "192.0.2.2", "/", true },
	{ "www.orange.com", "192.0.2.1", "/", true },
	{ "www.mango.com", "2001:db8::5", "/", false },
	{ "www.mango.com", "2001:db8:ffff::1", "/", false },
	{ "www.mango.com", "2001:db9::1", "/", true },
	{ "www.orange.com", "2001:db8::5", "/", true },
	{ "www.mango.com", "127.0.0.1", "/messages", false },
	{ "www.mango.com", "127.0.0.1", "/messages/", false },
	{ "www.mango.com", "127.0.0.1", "/messages/1", false },
	{ "www.mango.com", "127.0.0.1", "/messages;v=1", false },
	{ "www.mango.com", "127.0.0.1", "/messagesx", true },
	{ "www.mango.com", "127.0.0.1", "/x/messages", true },
	{ "www.mango.com", "127.0.0.1", "/Messages", true },
	{ "www.orange.com", "127.0.0.1", "/messages", true },
};

START_TEST(test_allowed_table)
{
	const struct allow_case *c = &allow_cases[_i];
	struct sockaddr_storage	 ss;

	ck_assert_msg(lb_rules_allowed(cfg, c->route ? route(c->route) : NULL,
			  sa(&ss, c->ip), c->path, NULL) == c->want,
	    "%s %s %s: want %d", c->route ? c->route : "(none)", c->ip, c->path,
	    c->want);
}
END_TEST

/*
 * The firewall sees the normalized path: every spelling of /messages that
 * an origin would read as /messages is refused once normalized.
 */
START_TEST(test_allowed_sees_normalized_spellings)
{
	static const char *const spellings[] = {
		"/messages",
		"//messages",
		"/./messages",
		"/%6Dessages",
		"/x/../messages/1",
		"/%2e/messages",
		"///messages//1",
		"/messages/.",
		"/a/%2E%2e/messages",
	};
	struct sockaddr_storage ss;
	char		       *n;

	for (size_t i = 0; i < NITEMS(spellings); i++) {
		ck_assert_int_eq(lb_uri_normalize_path(spellings[i],
				     strlen(spellings[i]), &n),
		    0);
		ck_assert_msg(!lb_rules_allowed(cfg, route("www.mango.com"),
				  sa(&ss, "127.0.0.1"), n, NULL),
		    "%s (%s) allowed", spellings[i], n);
		free(n);
	}
}
END_TEST

/* --------------------------------------------------- lb_rules_rewrite_path */

static const struct rewrite_case {
	const char *route;
	const char *path;
	const char *want;
} rewrite_cases[] = {
	/* Host route: rewrite only. */
	{ "www.mango.com", "/v1", "/v2" },
	{ "www.mango.com", "/v1/", "/v2/" },
	{ "www.mango.com", "/v1/users", "/v2/users" },
	{ "www.mango.com", "/v10/users", "/v10/users" },
	{ "www.mango.com", "/x/v1", "/x/v1" },
	{ "www.mango.com", "/", "/" },
	{ "www.orange.com", "/v1/users", "/v1/users" },
	/* The first rule that matches wins, even if a later one is longer. */
	{ "www.apple.com", "/a/c/x", "/b/c/x" },
	{ "www.apple.com", "/a", "/b" },
	{ "www.apple.com", "/ab", "/ab" },
	{ "www.apple.com", "/old", "/" },
	{ "www.apple.com", "/old/x", "/x" },
	{ "www.apple.com", "/older", "/older" },
	/* Path routes strip their prefix first (strip_prefix defaults on). */
	{ "/mango", "/mango", "/" },
	{ "/mango", "/mango/", "/" },
	{ "/mango", "/mango/x/y", "/x/y" },
	{ "/api", "/api/v1/users", "/v2/users" },
	{ "/api", "/api/v1", "/v2" },
	{ "/api", "/api/x/v1", "/x/v1" },
	/* ...unless told not to: the rule then sees the whole path. */
	{ "/keep", "/keep/v1/x", "/keep/v2/x" },
	{ "/keep", "/keep", "/keep" },
};

START_TEST(test_rewrite_path_table)
{
	const struct rewrite_case *c = &rewrite_cases[_i];
	char			  *p;

	p = lb_rules_rewrite_path(route(c->route), c->path);
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(strcmp(p, c->want) == 0, "%s on %s: \"%s\", want \"%s\"",
	    c->path, c->route, p, c->want);
	free(p);
}
END_TEST

/* --------------------------------------------------- lb_rules_request_head */

/* The client's header fields, as worker/client.c parses them. */
struct hdrs {
	struct lb_http_header h[32];
	size_t		      n;
};

/* NAME, VALUE, ..., NULL into Q. */
static void
hdrs_init(struct hdrs *q, const char *const *kv)
{
	for (q->n = 0; kv[0] != NULL; kv += 2, q->n++) {
		ck_assert_uint_lt(q->n, 32);
		q->h[q->n].name = kv[0];
		q->h[q->n].name_len = strlen(kv[0]);
		q->h[q->n].value = kv[1];
		q->h[q->n].value_len = strlen(kv[1]);
	}
}

/*
 * The head built for F (method GET, path "/a" unless set) on ROUTE, as a
 * malloc'ed string.
 */
static char *
head(const char *match, struct lb_fwd *f)
{
	const struct lb_route *r = route(match);
	struct evbuffer	      *out = evbuffer_new();
	size_t		       len;
	char		      *s;

	ck_assert_ptr_nonnull(out);
	if (f->method == NULL)
		f->method = "GET";
	if (f->path == NULL)
		f->path = "/a";
	if (f->client_ip == NULL)
		f->client_ip = "127.0.0.1";
	ck_assert_int_eq(lb_rules_request_head(out, r, &r->servers[0], f), 0);
	len = evbuffer_get_length(out);
	s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	evbuffer_remove(out, s, len);
	s[len] = '\0';
	evbuffer_free(out);
	return s;
}

/*
 * Hop-by-hop headers, those the client's Connection names, Expect and the
 * client's own forwarding headers go; the rest keep their order; the
 * X-Forwarded-For chain grows by the client.
 */
START_TEST(test_head_drops_hop_by_hop_and_appends_forwarded)
{
	static const char *const in[] = {
		"Host",
		"www.orange.com",
		"User-Agent",
		"t/1",
		"Connection",
		"keep-alive, X-Secret",
		"X-Secret",
		"s",
		"x-secret",
		"s2",
		"Keep-Alive",
		"timeout=5",
		"Transfer-Encoding",
		"chunked",
		"TE",
		"trailers",
		"Trailer",
		"X-T",
		"Upgrade",
		"websocket",
		"Proxy-Connection",
		"keep-alive",
		"Proxy-Authorization",
		"Basic eDp5",
		"Expect",
		"100-continue",
		"Content-Length",
		"99",
		"X-Forwarded-For",
		"192.0.2.7",
		"X-Forwarded-Proto",
		"https",
		"X-Forwarded-Host",
		"evil.example",
		"Accept",
		"*/*",
		"x-forwarded-for",
		"198.51.100.1, 203.0.113.9",
		"Cookie",
		"a=1",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.query = "b=1";
	f.host = "www.orange.com";
	s = head("www.orange.com", &f);
	ck_assert_str_eq(s,
	    "GET /a?b=1 HTTP/1.1\r\n"
	    "Host: www.orange.com\r\n"
	    "User-Agent: t/1\r\n"
	    "Accept: */*\r\n"
	    "Cookie: a=1\r\n"
	    "X-Forwarded-For: 192.0.2.7, 198.51.100.1, 203.0.113.9, "
	    "127.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: www.orange.com\r\n"
	    "\r\n");
	free(s);
}
END_TEST

/* Without Host from the client, the server as written; no X-F-Host. */
START_TEST(test_head_without_host_uses_server_name)
{
	static const char *const in[] = { "Accept", "*/*", NULL };
	struct hdrs		 h;
	struct lb_fwd		 f = { 0 };
	char			*s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.path = "/";
	f.client_ip = "::1";
	s = head("www.orange.com", &f);
	ck_assert_str_eq(s,
	    "GET / HTTP/1.1\r\n"
	    "Host: 127.0.0.1:1111\r\n"
	    "Accept: */*\r\n"
	    "X-Forwarded-For: ::1\r\n"
	    "X-Forwarded-Proto: http\r\n"
	    "\r\n");
	free(s);
}
END_TEST

/*
 * header_rules: "remove: Host" sends the server's name (the course's
 * file), "add" replaces a client header of the same name and comes after
 * the client's headers; X-Forwarded-Host still tells the client's Host.
 */
START_TEST(test_head_applies_header_rules)
{
	static const char *const in[] = {
		"Host",
		"www.mango.com",
		"mycustomheader",
		"from-client",
		"Accept",
		"*/*",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.host = "www.mango.com";
	f.query = "";
	s = head("www.mango.com", &f);
	ck_assert_str_eq(s,
	    "GET /a HTTP/1.1\r\n"
	    "Host: 127.0.0.1:8081\r\n"
	    "Accept: */*\r\n"
	    "MyCustomHeader: Test\r\n"
	    "X-Forwarded-For: 127.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: www.mango.com\r\n"
	    "\r\n");
	free(s);
}
END_TEST

/* "add: host" sets Host (whatever its case); "remove" takes any case. */
START_TEST(test_head_host_rule_and_remove_any_case)
{
	static const char *const in[] = {
		"Host",
		"www.apple.com",
		"x-debug",
		"1",
		"X-DEBUG",
		"2",
		"COOKIE",
		"a=1",
		"X-Extra",
		"client",
		"X-Kept",
		"yes",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.host = "www.apple.com";
	f.method = "DELETE";
	f.path = "/b/c";
	f.query = "x=%20&y";
	s = head("www.apple.com", &f);
	ck_assert_str_eq(s,
	    "DELETE /b/c?x=%20&y HTTP/1.1\r\n"
	    "Host: backend.internal\r\n"
	    "X-Kept: yes\r\n"
	    "X-Extra: a, b\r\n"
	    "X-Forwarded-For: 127.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: www.apple.com\r\n"
	    "\r\n");
	free(s);
}
END_TEST

/*
 * A rule on a header lbmaster sends itself replaces or drops lbmaster's
 * value: the origin gets one X-Forwarded-Proto, never two.
 */
START_TEST(test_head_rules_replace_or_drop_our_forwarded_headers)
{
	static const char *const in[] = {
		"Host",
		"www.lime.com",
		"X-Forwarded-Proto",
		"ftp",
		"X-Forwarded-For",
		"10.9.9.9",
		"X-Forwarded-Host",
		"evil.example",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.host = "www.lime.com";
	f.query = "";
	s = head("www.lime.com", &f);
	ck_assert_str_eq(s,
	    "GET /a HTTP/1.1\r\n"
	    "Host: www.lime.com\r\n"
	    "x-forwarded-proto: https\r\n"
	    "X-Forwarded-For: 192.0.2.9\r\n"
	    "\r\n");
	free(s);
}
END_TEST

/* An empty X-Forwarded-For adds no empty element to the chain. */
START_TEST(test_head_skips_empty_forwarded_for)
{
	static const char *const in[] = {
		"X-Forwarded-For",
		"",
		"X-Forwarded-For",
		"192.0.2.9",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.client_ip = "192.0.2.10";
	s = head("www.orange.com", &f);
	ck_assert_ptr_nonnull(
	    strstr(s, "\r\nX-Forwarded-For: 192.0.2.9, 192.0.2.10\r\n"));
	free(s);
}
END_TEST

/* The request ID replaces the client's header of its name, once. */
START_TEST(test_head_carries_the_request_id_in_place_of_the_clients)
{
	static const char *const in[] = {
		"x-request-id",
		"bad id",
		"X-Keep",
		"k",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.request_id_name = "X-Request-ID";
	f.request_id = "0123abcd";
	s = head("www.orange.com", &f);
	ck_assert_ptr_null(strstr(s, "bad id"));
	ck_assert_ptr_nonnull(strstr(s, "\r\nX-Request-ID: 0123abcd\r\n"));
	ck_assert_ptr_nonnull(strstr(s, "\r\nX-Keep: k\r\n"));
	free(s);
}
END_TEST

/* The sticky cookie is taken out of every Cookie header, the rest kept. */
START_TEST(test_head_takes_the_sticky_cookie_out)
{
	static const char *const in[] = {
		"Cookie",
		"a=1; lbm=x1;b=2 ",
		"cookie",
		"lbm=x1",
		"Cookie",
		"lbmx=3; xlbm=4",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.strip_cookie = "lbm";
	s = head("www.orange.com", &f);
	ck_assert_ptr_nonnull(strstr(s, "\r\nCookie: a=1; b=2\r\n"));
	ck_assert_ptr_nonnull(strstr(s, "\r\nCookie: lbmx=3; xlbm=4\r\n"));
	ck_assert_ptr_null(strstr(s, "x1"));
	free(s);
}
END_TEST

/*
 * Content-Length is lbmaster's own: the body's length when there is one,
 * or 0 when the method needs it said (body_always: POST, PUT, PATCH, set
 * by the proxy); never the client's.
 */
static const struct cl_case {
	const char *method;
	uint64_t    body_len;
	bool	    body_always;
	const char *want; /* NULL: no Content-Length */
} cl_cases[] = {
	{ "GET", 0, false, NULL },
	{ "HEAD", 0, false, NULL },
	{ "DELETE", 0, false, NULL },
	{ "GET", 3, false, "Content-Length: 3\r\n" },
	{ "POST", 0, true, "Content-Length: 0\r\n" },
	{ "PUT", 0, true, "Content-Length: 0\r\n" },
	{ "PATCH", 0, true, "Content-Length: 0\r\n" },
	{ "POST", 12345678901ULL, true, "Content-Length: 12345678901\r\n" },
};

START_TEST(test_head_content_length_table)
{
	static const char *const in[] = {
		"Content-Length",
		"99",
		"content-length",
		"98",
		NULL,
	};
	const struct cl_case *c = &cl_cases[_i];
	struct hdrs	      h;
	struct lb_fwd	      f = { 0 };
	char		     *s, *cl, want[128];

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	f.method = c->method;
	f.body_len = c->body_len;
	f.body_always = c->body_always;
	s = head("www.orange.com", &f);
	cl = strcasestr(s, "content-length");
	if (c->want == NULL)
		ck_assert_msg(cl == NULL, "unexpected: %s", s);
	else {
		ck_assert_ptr_nonnull(cl);
		/* Once, last, right before the blank line. */
		snprintf(want, sizeof(want), "\r\n%s\r\n", c->want);
		ck_assert_ptr_nonnull(strstr(s, want));
		ck_assert_uint_eq(strlen(strstr(s, want)), strlen(want));
		ck_assert_ptr_null(strcasestr(cl + 1, "content-length"));
	}
	ck_assert_int_eq(strncmp(s, c->method, strlen(c->method)), 0);
	free(s);
}
END_TEST

/* Only the lines lbmaster writes: no client header, any case, leaks. */
START_TEST(test_head_connection_names_are_case_insensitive)
{
	static const char *const in[] = {
		"connection",
		"X-A",
		"CONNECTION",
		"x-b , CLOSE",
		"x-a",
		"1",
		"X-B",
		"2",
		"Close",
		"3",
		"X-C",
		"4",
		NULL,
	};
	struct hdrs   h;
	struct lb_fwd f = { 0 };
	char	     *s;

	hdrs_init(&h, in);
	f.hdrs = h.h;
	f.n_hdrs = h.n;
	s = head("www.orange.com", &f);
	ck_assert_str_eq(s,
	    "GET /a HTTP/1.1\r\n"
	    "Host: 127.0.0.1:1111\r\n"
	    "X-C: 4\r\n"
	    "X-Forwarded-For: 127.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\n"
	    "\r\n");
	free(s);
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite *s = suite_create("rules");
	TCase *tc;

	tc = tcase_create("firewall");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_allowed_table, 0, NITEMS(allow_cases));
	tcase_add_test(tc, test_allowed_sees_normalized_spellings);
	suite_add_tcase(s, tc);

	tc = tcase_create("rewrite");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_rewrite_path_table, 0,
	    NITEMS(rewrite_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("head");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_head_drops_hop_by_hop_and_appends_forwarded);
	tcase_add_test(tc, test_head_without_host_uses_server_name);
	tcase_add_test(tc, test_head_applies_header_rules);
	tcase_add_test(tc, test_head_host_rule_and_remove_any_case);
	tcase_add_test(tc,
	    test_head_rules_replace_or_drop_our_forwarded_headers);
	tcase_add_test(tc, test_head_skips_empty_forwarded_for);
	tcase_add_test(tc,
	    test_head_carries_the_request_id_in_place_of_the_clients);
	tcase_add_test(tc, test_head_takes_the_sticky_cookie_out);
	tcase_add_loop_test(tc, test_head_content_length_table, 0,
	    NITEMS(cl_cases));
	tcase_add_test(tc, test_head_connection_names_are_case_insensitive);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(rules_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

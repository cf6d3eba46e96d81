/*
 * tests/fuzz/fuzz_rules.c -- worker/rules.c (with the route table and the
 * URI functions in front of it) on requests made of fuzzed bytes.
 *
 * Input: one byte of flags (method, body, client address), then lines
 * separated by LF: the request target, then "Name: value" header lines.
 * The request goes the way worker/proxy.c takes it: the path is
 * normalized, the route matched, the firewall asked, the path and query
 * rewritten, then lb_rules_request_head builds the head.
 *
 * Only what can reach lb_rules_request_head is built: what the proxy
 * refuses with a 4xx (a header name that is not a token, a value with a
 * control byte, more than one Host, a path that does not normalize, no
 * route) ends the run. So does a query with a byte below 0x21 or 0x7F,
 * which a request line cannot carry (the proxy must refuse those too).
 *
 * Invariants of the head: a request line "METHOD SP TARGET SP HTTP/1.1"
 * whose target holds no blank or control byte; then header lines, each
 * "token: value" with no CR, LF or other control byte inside, ended by
 * CRLF; then one blank line, and nothing after it. One Host, one
 * X-Forwarded-For ending in the client's address, one X-Forwarded-Proto,
 * an X-Forwarded-Host exactly when the client sent Host, a Content-Length
 * exactly when there is a body or the method needs one, with its value.
 * No hop-by-hop header, no Expect, nothing the client's Connection names
 * or the route removes (unless lbmaster writes it itself). The rewritten
 * path is still normalized. With the body flag, a request ID and a sticky
 * cookie to take out too: then one X-Request-ID, the ID (unless a rule
 * of the route writes or removes it), and no Cookie line that is empty
 * or holds the sticky cookie.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common/http.h"
#include "common/str.h"
#include "common/uri.h"
#include "config/config.h"
#include "config/routes.h"
#include "worker/rules.h"
#include "tests/fuzz/fuzz.h"

#define MAX_LINES 64

static const char yaml[] =
    "firewall_rules: {ip_reject: [10.0.0.0/8], path_reject: [/admin]}\n"
    "hosts:\n"
    "  - host: www.mango.com\n"
    "    header_rules:\n"
    "      add: {MyCustomHeader: Test}\n"
    "      remove: {Host: www.mango.com}\n"
    "    param_rules:\n"
    "      add: {MyCustomParam: Test}\n"
    "      remove: {RemoveMe: Remove}\n"
    "    rewrite_rules: {replace: {v1: v2}}\n"
    "    firewall_rules: {ip_reject: [192.0.2.1], path_reject: [/messages]}\n"
    "    servers: [127.0.0.1:8081, \"[::1]:8082\"]\n"
    "  - host: \"*.apple.com\"\n"
    "    header_rules:\n"
    "      add: {Host: backend.internal, X-Extra: \"a, b\"}\n"
    "      remove: [X-Debug, Cookie, X-Extra]\n"
    "    rewrite_rules: {replace: {/a: /b, /old: /, /x/y: /z}}\n"
    "    servers: [127.0.0.1:9081]\n"
    "paths:\n"
    "  - path: /mango\n"
    "    param_rules: {add: {\"a b\": \"c&d=e\"}, remove: [a, \"b c\"]}\n"
    "    rewrite_rules: {replace: {/v1: /v2}}\n"
    "    servers: [127.0.0.1:8081]\n"
    "  - path: /\n"
    "    strip_prefix: false\n"
    "    header_rules: {remove: [Accept, Host]}\n"
    "    servers: [127.0.0.1:8083]\n";

static const char *const methods[] = {
	"GET",
	"POST",
	"PUT",
	"HEAD",
	"DELETE",
	"PATCH",
	"OPTIONS",
	"TRACE",
};
static const char *const client_ips[] = {
	"127.0.0.1",
	"::1",
	"192.0.2.1",
	"10.1.2.3",
};

/* Loaded once; it lives as long as the fuzzer. */
static struct lb_cfg *
config(void)
{
	static struct lb_cfg *cfg;
	char		      err[LB_ERRLEN];

	if (cfg == NULL &&
	    lb_cfg_load_string("rules.yaml", yaml, strlen(yaml), &cfg, err,
		sizeof(err)) == -1)
		fuzz_fail("the harness's config does not load: %s", err);
	return cfg;
}

static bool
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Is NAME (LEN bytes) the C string S, any case? */
static bool
name_eq(const char *name, size_t len, const char *s)
{
	return strlen(s) == len && strncasecmp(name, s, len) == 0;
}

/* Does the client's Connection list NAME (LEN bytes)? */
static bool
connection_names(const struct lb_fwd *f, const char *name, size_t len)
{
	char *s;
	bool  yes = false;

	if ((s = strndup(name, len)) == NULL)
		fuzz_fail("out of memory");
	for (size_t i = 0; i < f->n_hdrs; i++)
		if (strcasecmp(f->hdrs[i].name, "Connection") == 0 &&
		    lb_http_list_has(f->hdrs[i].value, s))
			yes = true;
	free(s);
	return yes;
}

/* A header lbmaster writes whatever the client sent. */
static bool
ours(const char *name, size_t len, const struct lb_route *r)
{
	static const char *const own[] = {
		"Host",
		"Content-Length",
		"X-Forwarded-For",
		"X-Forwarded-Proto",
		"X-Forwarded-Host",
	};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (name_eq(name, len, own[i]))
			return true;
	for (size_t i = 0; i < r->n_hdr_add; i++)
		if (name_eq(name, len, r->hdr_add[i].name))
			return true;
	return false;
}

/* Does a rule of R remove NAME? */
static bool
removed(const struct lb_route *r, const char *name)
{
	for (size_t i = 0; i < r->n_hdr_remove; i++)
		if (strcasecmp(r->hdr_remove[i], name) == 0)
			return true;
	return false;
}

/* A Cookie value V (LEN bytes): not empty, no pair named NAME. */
static void
check_cookies(const char *v, size_t len, const char *name)
{
	size_t nlen = strlen(name);

	if (len == 0)
		fuzz_fail("an empty Cookie");
	for (size_t i = 0; i < len; i++)
		if ((i == 0 ||
			(i >= 2 && v[i - 2] == ';' && v[i - 1] == ' ')) &&
		    len - i > nlen && memcmp(v + i, name, nlen) == 0 &&
		    v[i + nlen] == '=')
			fuzz_fail("Cookie \"%.*s\" holds %s", (int)len, v,
			    name);
}

/* Check the head H (LEN bytes) built for F on R. */
static void
check_head(const char *h, size_t len, const struct lb_fwd *f,
    const struct lb_route *r)
{
	const char *p = h, *end = h + len, *eol, *colon, *v;
	char	   *name;
	unsigned    n_host = 0, n_xff = 0, n_xfp = 0, n_xfh = 0, n_cl = 0;
	unsigned    n_rid = 0;
	size_t	    mlen = strlen(f->method), n, ilen;

	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
		fuzz_fail("head does not end in a blank line");
	if (memchr(h, '\0', len) != NULL)
		fuzz_fail("NUL in the head");

	/* METHOD SP TARGET SP HTTP/1.1 CRLF */
	eol = memchr(p, '\n', len);
	if (eol == NULL || eol == p || eol[-1] != '\r')
		fuzz_fail("request line without CRLF");
	n = (size_t)(eol - 1 - p);
	if (n < mlen + 11 || memcmp(p, f->method, mlen) != 0 ||
	    p[mlen] != ' ' || memcmp(p + n - 9, " HTTP/1.1", 9) != 0)
		fuzz_fail("bad request line \"%.*s\"", (int)n, p);
	if (p[mlen + 1] != '/')
		fuzz_fail("target not in origin form: \"%.*s\"", (int)n, p);
	for (const char *t = p + mlen + 1; t < p + n - 9; t++)
		if ((unsigned char)*t <= 0x20 || *t == 0x7f)
			fuzz_fail("byte 0x%02x in the target \"%.*s\"",
			    (unsigned char)*t, (int)n, p);
	p = eol + 1;

	/* Header lines up to the blank one. */
	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    eol == p || eol[-1] != '\r')
			fuzz_fail("header line without CRLF at %zd", p - h);
		n = (size_t)(eol - 1 - p);
		if (n == 0) {
			if (eol + 1 != end)
				fuzz_fail("bytes after the blank line");
			break;
		}
		if ((colon = memchr(p, ':', n)) == NULL ||
		    !lb_http_is_token(p, (size_t)(colon - p)) ||
		    colon + 1 >= p + n || colon[1] != ' ')
			fuzz_fail("bad header line \"%.*s\"", (int)n, p);
		for (v = colon + 2; v < p + n; v++)
			if (is_ctl((unsigned char)*v))
				fuzz_fail("byte 0x%02x in \"%.*s\"",
				    (unsigned char)*v, (int)n, p);
		ilen = (size_t)(colon - p);
		v = colon + 2;

		if ((name = strndup(p, ilen)) == NULL)
			fuzz_fail("out of memory");
		if (lb_http_is_hop_by_hop(name) ||
		    strcasecmp(name, "Expect") == 0)
			fuzz_fail("forwarded \"%.*s\"", (int)n, p);
		free(name);
		/* The request ID is lbmaster's too, when there is one. */
		if (!ours(p, ilen, r) &&
		    !(f->request_id != NULL &&
			name_eq(p, ilen, f->request_id_name))) {
			if (connection_names(f, p, ilen))
				fuzz_fail("forwarded \"%.*s\" that Connection "
					  "names",
				    (int)n, p);
			for (size_t i = 0; i < r->n_hdr_remove; i++)
				if (name_eq(p, ilen, r->hdr_remove[i]))
					fuzz_fail("forwarded removed \"%.*s\"",
					    (int)n, p);
		}
		if (f->request_id != NULL &&
		    name_eq(p, ilen, f->request_id_name)) {
			n_rid++;
			if (!ours(p, ilen, r) &&
			    ((size_t)(p + n - v) != strlen(f->request_id) ||
				memcmp(v, f->request_id,
				    strlen(f->request_id)) != 0))
				fuzz_fail("\"%.*s\" is not the ID", (int)n, p);
		}
		if (f->strip_cookie != NULL && name_eq(p, ilen, "Cookie") &&
		    !ours(p, ilen, r))
			check_cookies(v, (size_t)(p + n - v), f->strip_cookie);
		if (name_eq(p, ilen, "Host"))
			n_host++;
		else if (name_eq(p, ilen, "X-Forwarded-Proto")) {
			n_xfp++;
			if (p + n - v != 4 || memcmp(v, "http", 4) != 0)
				fuzz_fail("\"%.*s\"", (int)n, p);
		} else if (name_eq(p, ilen, "X-Forwarded-Host")) {
			n_xfh++;
			if (f->host == NULL ||
			    strlen(f->host) != (size_t)(p + n - v) ||
			    memcmp(v, f->host, strlen(f->host)) != 0)
				fuzz_fail("\"%.*s\"", (int)n, p);
		} else if (name_eq(p, ilen, "X-Forwarded-For")) {
			size_t cl = strlen(f->client_ip);

			n_xff++;
			if ((size_t)(p + n - v) < cl ||
			    memcmp(p + n - cl, f->client_ip, cl) != 0 ||
			    ((size_t)(p + n - v) > cl &&
				memcmp(p + n - cl - 2, ", ", 2) != 0))
				fuzz_fail("\"%.*s\" does not end in the "
					  "client",
				    (int)n, p);
		} else if (name_eq(p, ilen, "Content-Length")) {
			uint64_t x;

			n_cl++;
			if (lb_http_parse_content_length(v, (size_t)(p + n - v),
				&x) == -1 ||
			    x != f->body_len)
				fuzz_fail("\"%.*s\" for a body of %llu", (int)n,
				    p, (unsigned long long)f->body_len);
		}
		p = eol + 1;
	}
	if (f->request_id != NULL &&
	    (n_rid > 1 ||
		(n_rid == 0 &&
		    !ours(f->request_id_name, strlen(f->request_id_name), r) &&
		    !removed(r, f->request_id_name))))
		fuzz_fail("%u request IDs", n_rid);
	if (n_host != 1 || n_xff != 1 || n_xfp != 1)
		fuzz_fail("%u Host, %u X-Forwarded-For, %u X-Forwarded-Proto",
		    n_host, n_xff, n_xfp);
	if (n_xfh != (f->host != NULL ? 1 : 0))
		fuzz_fail("%u X-Forwarded-Host", n_xfh);
	if (n_cl != (f->body_len > 0 || f->body_always ? 1 : 0))
		fuzz_fail("%u Content-Length", n_cl);
}

/* The client's address TEXT as a socket address. */
static const struct sockaddr *
client_sa(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in  *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		fuzz_fail("bad client address %s", text);
	return (const struct sockaddr *)ss;
}

/* The client's fields, as worker/client.c parses them. */
struct fields {
	struct lb_http_header h[MAX_LINES];
	size_t		      n;
	const char	     *host;
};

/*
 * Parse LINE ("Name: value", NUL-terminated, writable) as the client
 * side would and add it to IN. False when it would refuse the request.
 */
static bool
add_header(struct fields *in, char *line)
{
	char *colon, *v, *e;

	if ((colon = strchr(line, ':')) == NULL)
		return false; /* evhttp: 400 */
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	/* worker/proxy.c check_headers: tokens and no control bytes. */
	if (!lb_http_is_token(line, strlen(line)) ||
	    lb_str_has_ctl(v, strlen(v)))
		return false;
	if (strcasecmp(line, "Host") == 0) {
		if (in->host != NULL)
			return false; /* two Hosts: 400 */
		in->host = v;
	}
	in->h[in->n].name = line;
	in->h[in->n].name_len = strlen(line);
	in->h[in->n].value = v;
	in->h[in->n].value_len = strlen(v);
	in->n++;
	return true;
}

int
lb_fuzz_rules(const uint8_t *data, size_t size)
{
	struct lb_cfg	       *cfg = config();
	const struct lb_route  *route;
	struct fields		in;
	struct evbuffer	       *out = NULL;
	struct sockaddr_storage ss;
	struct lb_fwd		f;
	char		       *copy = NULL, *line[MAX_LINES], *p, *q;
	char		       *npath = NULL, *path = NULL, *query = NULL;
	char		       *again = NULL, *head = NULL;
	size_t			n_lines = 0, len;
	unsigned		flags;

	memset(&in, 0, sizeof(in));
	if (size < 1 || memchr(data, '\0', size) != NULL)
		return 0; /* C strings from here on */
	flags = data[0];
	if ((copy = malloc(size)) == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (p = copy; n_lines < MAX_LINES; p = q + 1) {
		line[n_lines++] = p;
		if ((q = strchr(p, '\n')) == NULL)
			break;
		*q = '\0';
	}

	memset(&f, 0, sizeof(f));
	f.method = methods[flags & 7];
	f.body_len = flags & 8 ? 17 : 0;
	f.body_always = (flags & 7) == 1 || (flags & 7) == 2 ||
	    (flags & 7) == 5;
	f.client_ip = client_ips[(flags >> 4) & 3];
	if (flags & 8) {
		f.request_id_name = "X-Request-ID";
		f.request_id = "0123456789abcdef0123456789abcdef";
		f.strip_cookie = "lbm";
	}
	f.hdrs = in.h;

	/* The target: origin-form path, '?', raw query. */
	if (line[0][0] != '/')
		goto done;
	if ((q = strchr(line[0], '?')) != NULL)
		*q++ = '\0';
	if (q != NULL)
		for (p = q; *p != '\0'; p++)
			if ((unsigned char)*p < 0x21 || *p == 0x7f)
				goto done;
	if (lb_uri_normalize_path(line[0], strlen(line[0]), &npath) == -1)
		goto done;
	for (size_t i = 1; i < n_lines; i++)
		if (!add_header(&in, line[i]))
			goto done;
	f.n_hdrs = in.n;
	f.host = in.host;

	if ((route = lb_routes_match(cfg->table, f.host, npath)) == NULL)
		goto done;
	(void)lb_rules_allowed(cfg, route, client_sa(&ss, f.client_ip), npath,
	    NULL);
	if ((path = lb_rules_rewrite_path(route, npath)) == NULL)
		fuzz_fail("rewrite_path failed");
	if (lb_uri_normalize_path(path, strlen(path), &again) == -1 ||
	    strcmp(again, path) != 0)
		fuzz_fail("\"%s\" rewritten to \"%s\", not normalized", npath,
		    path);
	if ((query = lb_uri_query_rewrite(q, route->param_remove,
		 route->n_param_remove, route->param_add,
		 route->n_param_add)) == NULL)
		fuzz_fail("query_rewrite failed");
	f.path = path;
	f.query = query;

	if ((out = evbuffer_new()) == NULL)
		fuzz_fail("out of memory");
	if (lb_rules_request_head(out, route,
		&route->servers[(flags >> 6) % route->n_servers], &f) == -1)
		fuzz_fail("request_head failed");
	len = evbuffer_get_length(out);
	if ((head = malloc(len + 1)) == NULL)
		fuzz_fail("out of memory");
	evbuffer_remove(out, head, len);
	head[len] = '\0';
	check_head(head, len, &f, route);
done:
	free(head);
	if (out != NULL)
		evbuffer_free(out);
	free(again);
	free(query);
	free(path);
	free(npath);
	free(copy);
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_rules(data, size);
}
#endif

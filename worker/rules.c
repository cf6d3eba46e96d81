/*
 * worker/rules.c -- firewall, rewrites and the forwarded request head.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common/addr.h"
#include "common/http.h"
#include "common/str.h"
#include "common/uri.h"
#include "worker/rules.h"

/* Does a rule of FW refuse SA or PATH? Then *WHY (if not NULL) says which. */
static bool
firewall_rejects(const struct lb_firewall *fw, const struct sockaddr *sa,
    const char *path, struct lb_reject *why)
{
	struct lb_reject r = { fw, true, 0 };

	for (r.index = 0; r.index < fw->n_ip_reject; r.index++)
		if (lb_cidr_match(&fw->ip_reject[r.index], sa))
			goto rejected;
	r.ip = false;
	for (r.index = 0; r.index < fw->n_path_reject; r.index++)
		if (lb_uri_has_prefix(path, fw->path_reject[r.index]))
			goto rejected;
	return false;
rejected:
	if (why != NULL)
		*why = r;
	return true;
}

bool
lb_rules_allowed(const struct lb_cfg *cfg, const struct lb_route *route,
    const struct sockaddr *sa, const char *path, struct lb_reject *why)
{
	if (firewall_rejects(&cfg->firewall, sa, path, why))
		return false;
	return route == NULL ||
	    !firewall_rejects(&route->firewall, sa, path, why);
}

bool
lb_rules_rewrites_path(const struct lb_route *route)
{
	return route->n_rewrite > 0 ||
	    (route->kind == LB_ROUTE_PATH && route->strip_prefix &&
		strcmp(route->match, "/") != 0);
}

char *
lb_rules_rewrite_path(const struct lb_route *route, const char *path)
{
	char *cur, *next;

	if ((cur = strdup(path)) == NULL)
		return NULL;
	if (route->kind == LB_ROUTE_PATH && route->strip_prefix &&
	    strcmp(route->match, "/") != 0) {
		errno = 0;
		next = lb_uri_replace_prefix(cur, route->match, "/");
		if (next == NULL && errno == ENOMEM)
			goto fail;
		if (next != NULL) {
			free(cur);
			cur = next;
		}
	}
	for (size_t i = 0; i < route->n_rewrite; i++) {
		errno = 0;
		next = lb_uri_replace_prefix(cur, route->rewrite[i].name,
		    route->rewrite[i].value);
		if (next == NULL && errno == ENOMEM)
			goto fail;
		if (next != NULL) {
			free(cur);
			return next;
		}
	}
	return cur;
fail:
	free(cur);
	return NULL;
}

static bool
name_in(const char *name, char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}

static bool
name_in_kv(const char *name, const struct lb_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, kv[i].name) == 0)
			return true;
	return false;
}

/* Is NAME listed in any Connection header of the client? */
static bool
named_by_connection(const struct lb_fwd *f, const char *name)
{
	for (size_t i = 0; i < f->n_hdrs; i++)
		if (strcasecmp(f->hdrs[i].name, "Connection") == 0 &&
		    lb_http_list_has(f->hdrs[i].value, name))
			return true;
	return false;
}

/*
 * Does lbmaster write its own NAME (an LB_HTTP_OURS header), or did a
 * rule of ROUTE replace or remove it?
 */
static bool
ours_kept(const struct lb_route *route, const char *name)
{
	return !name_in(name, route->hdr_remove, route->n_hdr_remove) &&
	    !name_in_kv(name, route->hdr_add, route->n_hdr_add);
}

/* "Name: value\r\n" */
static void
add_header(struct lb_buf *b, const char *name, const char *value)
{
	lb_buf_adds(b, name);
	lb_buf_add(b, LB_LIT(": "));
	lb_buf_adds(b, value);
	lb_buf_add(b, LB_LIT("\r\n"));
}

/*
 * A Cookie header with the cookie NAME taken out (sticky: the origin never
 * sees it); no header when nothing is left. Pairs are "; "-separated.
 */
static void
add_cookies(struct lb_buf *b, const char *v, const char *name)
{
	size_t nlen = strlen(name);
	bool   any = false;

	while (*v != '\0') {
		const char *end = strchr(v, ';'), *p = v;
		size_t	    len;

		if (end == NULL)
			end = v + strlen(v);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0 &&
		    !(len > nlen && p[nlen] == '=' &&
			memcmp(p, name, nlen) == 0)) {
			lb_buf_adds(b, any ? "; " : "Cookie: ");
			lb_buf_add(b, p, len);
			any = true;
		}
		v = *end == ';' ? end + 1 : end;
	}
	if (any)
		lb_buf_add(b, LB_LIT("\r\n"));
}

int
lb_rules_request_head(struct evbuffer *out, const struct lb_route *route,
    const struct lb_server *srv, const struct lb_fwd *f)
{
	/*
	 * The head is built here and added to OUT in one piece. A worker is
	 * one thread, and the buffer keeps its capacity from request to
	 * request: a head costs no allocation and no printf.
	 */
	static struct lb_buf b;
	const char	    *host = f->host;
	bool		     xff = false;
	char		     num[24];

	if (name_in("Host", route->hdr_remove, route->n_hdr_remove))
		host = NULL;
	for (size_t i = 0; i < route->n_hdr_add; i++)
		if (strcasecmp(route->hdr_add[i].name, "Host") == 0)
			host = route->hdr_add[i].value;
	if (host == NULL)
		host = srv->name;

	lb_buf_reset(&b);
	lb_buf_adds(&b, f->method);
	lb_buf_addc(&b, ' ');
	lb_buf_adds(&b, f->path);
	if (f->query != NULL && f->query[0] != '\0') {
		lb_buf_addc(&b, '?');
		lb_buf_adds(&b, f->query);
	}
	lb_buf_add(&b, LB_LIT(" HTTP/1.1\r\n"));
	add_header(&b, "Host", host);

	for (size_t i = 0; i < f->n_hdrs; i++) {
		const char *name = f->hdrs[i].name;

		/* An upgrade keeps its Upgrade header (SPEC section 7). */
		if (f->upgrade && strcasecmp(name, "Upgrade") == 0) {
			add_header(&b, name, f->hdrs[i].value);
			continue;
		}
		/* Every managed header is lbmaster's to write, or none. */
		if (lb_http_managed(name) != 0 ||
		    (f->request_id != NULL &&
			strcasecmp(name, f->request_id_name) == 0) ||
		    named_by_connection(f, name) ||
		    name_in(name, route->hdr_remove, route->n_hdr_remove) ||
		    name_in_kv(name, route->hdr_add, route->n_hdr_add))
			continue;
		if (f->strip_cookie != NULL &&
		    strcasecmp(name, "Cookie") == 0) {
			add_cookies(&b, f->hdrs[i].value, f->strip_cookie);
			continue;
		}
		add_header(&b, name, f->hdrs[i].value);
	}
	if (f->upgrade)
		lb_buf_add(&b, LB_LIT("Connection: upgrade\r\n"));
	for (size_t i = 0; i < route->n_hdr_add; i++) {
		if (strcasecmp(route->hdr_add[i].name, "Host") == 0)
			continue;
		add_header(&b, route->hdr_add[i].name, route->hdr_add[i].value);
	}

	/*
	 * X-Forwarded-For: every earlier hop in order, then this client;
	 * unless a rule of the route replaced or removed it (the rules above
	 * wrote their value), as with the other two.
	 */
	if (ours_kept(route, "X-Forwarded-For")) {
		lb_buf_add(&b, LB_LIT("X-Forwarded-For: "));
		for (size_t i = 0; i < f->n_hdrs; i++) {
			if (strcasecmp(f->hdrs[i].name, "X-Forwarded-For") !=
				0 ||
			    f->hdrs[i].value[0] == '\0')
				continue;
			if (xff)
				lb_buf_add(&b, LB_LIT(", "));
			lb_buf_adds(&b, f->hdrs[i].value);
			xff = true;
		}
		if (xff)
			lb_buf_add(&b, LB_LIT(", "));
		lb_buf_adds(&b, f->client_ip);
		lb_buf_add(&b, LB_LIT("\r\n"));
	}
	/* The request's ID, unless a rule of the route says otherwise. */
	if (f->request_id != NULL && ours_kept(route, f->request_id_name))
		add_header(&b, f->request_id_name, f->request_id);
	if (ours_kept(route, "X-Forwarded-Proto")) {
		if (f->https)
			lb_buf_add(&b, LB_LIT("X-Forwarded-Proto: https\r\n"));
		else
			lb_buf_add(&b, LB_LIT("X-Forwarded-Proto: http\r\n"));
	}
	if (f->client_subject != NULL &&
	    ours_kept(route, "X-Client-Cert-Subject"))
		add_header(&b, "X-Client-Cert-Subject", f->client_subject);
	if (f->host != NULL && ours_kept(route, "X-Forwarded-Host"))
		add_header(&b, "X-Forwarded-Host", f->host);
	if (f->chunked) {
		lb_buf_add(&b, LB_LIT("Transfer-Encoding: chunked\r\n"));
	} else if (f->body_len > 0 || f->body_always) {
		lb_snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)f->body_len);
		add_header(&b, "Content-Length", num);
	}
	lb_buf_add(&b, LB_LIT("\r\n"));
	if (lb_buf_failed(&b)) {
		lb_buf_free(&b); /* and start afresh next time */
		return -1;
	}
	return evbuffer_add(out, b.data, b.len);
}

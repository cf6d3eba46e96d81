/*
 * worker/decide.c -- a request's fate from its head alone (decide.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/uri.h"
#include "config/routes.h"
#include "worker/decide.h"
#include "worker/rules.h"

/*
 * An absolute-form target (RFC 9112 section 3.2.2): its authority
 * replaces Host, as written (port included, RFC 9110 section 7.2), and
 * the path starts at its first '/' ("/" when there is none). Userinfo is
 * refused (RFC 9110 section 4.2.4). Returns 0, 400, or -1 (ENOMEM).
 */
static int
absolute_form(const char *target, char **host, const char **path, char **rooted)
{
	const char *a, *e;

	*rooted = NULL;
	if (strncasecmp(target, "http://", 7) != 0)
		return 400;
	a = target + 7;
	e = a + strcspn(a, "/?#");
	if (e == a || memchr(a, '@', (size_t)(e - a)) != NULL)
		return 400;
	if ((*host = strndup(a, (size_t)(e - a))) == NULL)
		return -1;
	if (*e == '?') {
		/* "http://h?q": the path is "/", the query kept. */
		if (asprintf(rooted, "/%s", e) == -1) {
			*rooted = NULL;
			return -1;
		}
		*path = *rooted;
	} else {
		*path = *e == '/' ? e : "/";
	}
	return 0;
}

const struct lb_route *
lb_decide_host_route(const struct lb_cfg *cfg, const char *host)
{
	return host != NULL ? lb_routes_match(cfg->table, host, NULL) : NULL;
}

int
lb_decide(const struct lb_cfg *cfg, const char *method, const char *target,
    const char *host, const struct sockaddr *peer, struct lb_decision *d)
{
	const char *qmark;
	char	   *npath = NULL, *rooted = NULL;
	int	    rc;

	memset(d, 0, sizeof(*d));
	if (strcmp(method, "CONNECT") == 0) {
		/* No CONNECT tunnels: a proxy of origins, not a forward one. */
		d->route = lb_decide_host_route(cfg, host);
		d->status = 501;
		return 0;
	}
	if (target[0] != '/') {
		if ((rc = absolute_form(target, &d->host, &target, &rooted)) ==
		    -1)
			goto nomem;
		if (rc != 0) {
			d->route = lb_decide_host_route(cfg, host);
			d->status = rc;
			return 0;
		}
		host = d->host;
	}
	qmark = strchr(target, '?');
	if (lb_uri_normalize_path(target,
		qmark ? (size_t)(qmark - target) : strlen(target),
		&npath) == -1) {
		if (errno == ENOMEM)
			goto nomem;
		d->route = lb_decide_host_route(cfg, host);
		d->status = 400;
		goto done;
	}
	if ((d->route = lb_routes_match(cfg->table, host, npath)) == NULL) {
		d->status = 404;
		goto done;
	}
	if (!lb_rules_allowed(cfg, d->route, peer, npath, &d->reject)) {
		d->status = 403;
		goto done;
	}
	/*
	 * A route that rewrites neither the path nor the query string
	 * forwards what it got: no copies (allocations per request count).
	 */
	if (lb_rules_rewrites_path(d->route)) {
		if ((d->path = lb_rules_rewrite_path(d->route, npath)) == NULL)
			goto nomem;
	} else {
		d->path = npath;
		npath = NULL;
	}
	/* An absolute-form target's rooted copy is freed below. */
	if (d->route->n_param_remove > 0 || d->route->n_param_add > 0 ||
	    rooted != NULL) {
		d->query = lb_uri_query_rewrite(qmark ? qmark + 1 : NULL,
		    d->route->param_remove, d->route->n_param_remove,
		    d->route->param_add, d->route->n_param_add);
		if (d->query == NULL)
			goto nomem;
	} else {
		d->query_in = qmark ? qmark + 1 : NULL;
	}
done:
	free(npath);
	free(rooted);
	return 0;
nomem:
	free(npath);
	free(rooted);
	lb_decision_free(d);
	errno = ENOMEM;
	return -1;
}

void
lb_decision_free(struct lb_decision *d)
{
	free(d->path);
	free(d->query);
	free(d->host);
	d->path = d->query = d->host = NULL;
}

void
lb_decision_fwd(const struct lb_decision *d, const char *method,
    const struct lb_http_header *hdrs, size_t n_hdrs, const char *client_ip,
    const char *host, struct lb_fwd *f)
{
	memset(f, 0, sizeof(*f));
	f->method = method;
	f->path = d->path;
	f->query = d->query != NULL ? d->query : d->query_in;
	f->hdrs = hdrs;
	f->n_hdrs = n_hdrs;
	f->client_ip = client_ip;
	f->host = d->host != NULL ? d->host : host;
	f->body_always = strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
}

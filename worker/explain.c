/*
 * worker/explain.c -- lbmaster -x and the config's tests: (explain.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common/addr.h"
#include "common/str.h"
#include "worker/explain.h"
#include "worker/rules.h"

int
lb_explain(const struct lb_cfg *cfg, const char *method, const char *target,
    const struct lb_http_header *hdrs, size_t n_hdrs,
    const struct sockaddr *from, struct lb_explanation *e)
{
	const char	*host = NULL;
	char		 ip[LB_ADDRSTRLEN];
	struct lb_fwd	 f;
	struct evbuffer *out;
	size_t		 len;

	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < n_hdrs && host == NULL; i++)
		if (strcasecmp(hdrs[i].name, "Host") == 0)
			host = hdrs[i].value;
	if (lb_decide(cfg, method, target, host, from, &e->d) == -1)
		return -1;
	if (e->d.status != 0)
		return 0;
	lb_addr_format_host(from, ip, sizeof(ip));
	lb_decision_fwd(&e->d, method, hdrs, n_hdrs, ip, host, &f);
	/* As sent to the route's first server (its name is the Host when
	 * the client sent none). */
	if ((out = evbuffer_new()) == NULL ||
	    lb_rules_request_head(out, e->d.route, &e->d.route->servers[0],
		&f) == -1 ||
	    (e->head = malloc((len = evbuffer_get_length(out)) + 1)) == NULL) {
		if (out != NULL)
			evbuffer_free(out);
		lb_explanation_free(e);
		errno = ENOMEM;
		return -1;
	}
	evbuffer_remove(out, e->head, len);
	e->head[len] = '\0';
	evbuffer_free(out);
	return 0;
}

void
lb_explanation_free(struct lb_explanation *e)
{
	lb_decision_free(&e->d);
	free(e->head);
	e->head = NULL;
}

/* "hosts[2] www.mango.com" or "paths[0] /apple": how the file names R. */
static void
route_name(const struct lb_cfg *cfg, const struct lb_route *r, char *buf,
    size_t len)
{
	if (r->kind == LB_ROUTE_HOST)
		lb_snprintf(buf, len, "hosts[%zu] %s", r->id, r->match);
	else
		lb_snprintf(buf, len, "paths[%zu] %s",
		    r->id - cfg->n_host_routes, r->match);
}

/* The firewall rule of a 403, as the file names it, with its position. */
static void
print_reject(const struct lb_cfg *cfg, const struct lb_decision *d, FILE *fp)
{
	const struct lb_reject *rj = &d->reject;
	const struct lb_pos    *pos;
	char			where[160], what[128];

	if (rj->fw == &cfg->firewall)
		lb_strlcpy(where, "firewall_rules", sizeof(where));
	else {
		route_name(cfg, d->route, where, sizeof(where));
		*strchr(where, ' ') = '\0';
		lb_strlcpy(where + strlen(where), ".firewall_rules",
		    sizeof(where) - strlen(where));
	}
	if (rj->ip) {
		lb_cidr_format(&rj->fw->ip_reject[rj->index], what,
		    sizeof(what));
		pos = &rj->fw->ip_reject_pos[rj->index];
	} else {
		lb_strlcpy(what, rj->fw->path_reject[rj->index], sizeof(what));
		pos = &rj->fw->path_reject_pos[rj->index];
	}
	fprintf(fp, "firewall: %s.%s[%zu] %s (%s:%u:%u)\n", where,
	    rj->ip ? "ip_reject" : "path_reject", rj->index, what, cfg->file,
	    pos->line, pos->col);
}

void
lb_explain_print(const struct lb_cfg *cfg, const struct lb_explanation *e,
    FILE *fp)
{
	const struct lb_decision *d = &e->d;
	char			  name[160];
	const char		 *l, *eol;

	if (d->route != NULL) {
		route_name(cfg, d->route, name, sizeof(name));
		fprintf(fp, "route: %s (%s:%u:%u)\n", name, cfg->file,
		    d->route->pos.line, d->route->pos.col);
	} else {
		fprintf(fp, "route: none\n");
	}
	if (d->status == 403)
		print_reject(cfg, d, fp);
	else if (d->status == 0)
		fprintf(fp, "firewall: pass\n");
	else
		fprintf(fp, "firewall: not reached\n");
	if (d->status != 0) {
		fprintf(fp, "status: %d\n", d->status);
		return;
	}
	fprintf(fp, "status: forward\n");
	/* The head, one line at a time: the request line, then fields. */
	for (l = e->head; (eol = strstr(l, "\r\n")) != NULL && eol != l;
	     l = eol + 2)
		fprintf(fp, "%s: %.*s\n", l == e->head ? "request" : "header",
		    (int)(eol - l), l);
	fprintf(fp,
	    "algorithm: %s\nservers:", lb_algo_name(d->route->algorithm));
	for (size_t i = 0; i < d->route->n_servers; i++) {
		const struct lb_server *s = &d->route->servers[i];

		/* A followed name: once, its addresses known only live. */
		if (s->follow != LB_FOLLOW_NONE) {
			fprintf(fp, "%s %s (%s, up to %u)", i > 0 ? "," : "",
			    s->name,
			    s->follow == LB_FOLLOW_SRV ? "SRV" : "followed",
			    s->max_addresses);
			if (s->follow == LB_FOLLOW_A)
				fprintf(fp, " weight %u", s->weight);
			fprintf(fp, "%s", s->backup ? " backup" : "");
			i += s->max_addresses - 1;
			continue;
		}
		fprintf(fp, "%s %s", i > 0 ? "," : "", s->name);
		if (strcmp(s->name, s->addrstr) != 0)
			fprintf(fp, " (%s)", s->addrstr);
		fprintf(fp, " weight %u%s", s->weight,
		    s->backup ? " backup" : "");
	}
	fputc('\n', fp);
}

/* ------------------------------------------------------------ tests */

/* The value of field NAME in the head HEAD, into BUF; false if none. */
static bool
head_field(const char *head, const char *name, char *buf, size_t len)
{
	size_t	    n = strlen(name);
	const char *l = strstr(head, "\r\n"), *eol;

	for (; l != NULL && (eol = strstr(l + 2, "\r\n")) != NULL; l = eol) {
		const char *f = l + 2;

		if ((size_t)(eol - f) > n && f[n] == ':' &&
		    strncasecmp(f, name, n) == 0) {
			f += n + 1;
			while (*f == ' ')
				f++;
			lb_snprintf(buf, len, "%.*s", (int)(eol - f), f);
			return true;
		}
	}
	return false;
}

/* Does test T hold for E? If not, say why in WHY. */
static bool
test_holds(const struct lb_cfg *cfg, const struct lb_test *t,
    const struct lb_explanation *e, char *why, size_t len)
{
	const struct lb_decision *d = &e->d;
	char			  got[256];
	const char		 *sp, *sp2;

	if (d->status != 0)
		lb_snprintf(got, sizeof(got), "%d", d->status);
	else
		lb_strlcpy(got, "forward", sizeof(got));
	if (t->has_status && t->status != d->status) {
		if (t->status == 0)
			lb_snprintf(why, len, "expected status forward, got %s",
			    got);
		else
			lb_snprintf(why, len, "expected status %d, got %s",
			    t->status, got);
		return false;
	}
	if (t->route != NULL &&
	    (d->route == NULL || strcmp(t->route, d->route->label) != 0)) {
		lb_snprintf(why, len, "expected route %s, got %s", t->route,
		    d->route != NULL ? d->route->label : "none");
		return false;
	}
	if ((t->path != NULL || t->n_expect_headers > 0) && d->status != 0) {
		lb_snprintf(why, len, "expected a forwarded request, got %s",
		    got);
		return false;
	}
	(void)cfg;
	if (t->path != NULL) {
		sp = strchr(e->head, ' ') + 1;
		sp2 = strchr(sp, ' ');
		if ((size_t)(sp2 - sp) != strlen(t->path) ||
		    strncmp(sp, t->path, (size_t)(sp2 - sp)) != 0) {
			lb_snprintf(why, len, "expected path %s, got %.*s",
			    t->path, (int)(sp2 - sp), sp);
			return false;
		}
	}
	for (size_t i = 0; i < t->n_expect_headers; i++) {
		const struct lb_kv *kv = &t->expect_headers[i];

		if (!head_field(e->head, kv->name, got, sizeof(got))) {
			lb_snprintf(why, len,
			    "expected header %s: %s, got no %s", kv->name,
			    kv->value, kv->name);
			return false;
		}
		if (strcmp(got, kv->value) != 0) {
			lb_snprintf(why, len,
			    "expected header %s: %s, got %s: %s", kv->name,
			    kv->value, kv->name, got);
			return false;
		}
	}
	return true;
}

int
lb_explain_tests(const struct lb_cfg *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_tests; i++) {
		const struct lb_test  *t = &cfg->tests[i];
		struct lb_http_header *h;
		struct lb_explanation  e;
		char		       why[LB_ERRLEN];
		bool		       ok;

		if ((h = calloc(t->n_headers + 1, sizeof(*h))) == NULL)
			goto nomem;
		for (size_t j = 0; j < t->n_headers; j++) {
			h[j].name = t->headers[j].name;
			h[j].name_len = strlen(h[j].name);
			h[j].value = t->headers[j].value;
			h[j].value_len = strlen(h[j].value);
		}
		if (lb_explain(cfg, t->method, t->target, h, t->n_headers,
			(const struct sockaddr *)&t->from_addr, &e) == -1) {
			free(h);
			goto nomem;
		}
		ok = test_holds(cfg, t, &e, why, sizeof(why));
		lb_explanation_free(&e);
		free(h);
		if (!ok) {
			lb_snprintf(err, errlen, "%s:%u:%u: tests[%zu]: %s",
			    cfg->file, t->pos.line, t->pos.col, i, why);
			return -1;
		}
	}
	return 0;
nomem:
	lb_snprintf(err, errlen, "%s: tests: out of memory", cfg->file);
	return -1;
}

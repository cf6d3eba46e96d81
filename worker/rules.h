/*
 * worker/rules.h -- what a route does to a request before it is
 * forwarded: firewall, path rewriting, and the request head the origin
 * receives. No I/O here, so every rule is testable on its own.
 */
#ifndef LB_RULES_H
#define LB_RULES_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdbool.h>

#include <event2/buffer.h>

#include "common/http.h"
#include "config/config.h"

/* Everything the head of a forwarded request is made from. */
struct lb_fwd {
	const char *method; /* "GET" */
	const char *path;   /* rewritten, normalized */
	const char *query;  /* rewritten; NULL or "" for none */
	/* The client's header fields, names and values NUL-terminated. */
	const struct lb_http_header *hdrs;
	size_t			     n_hdrs;
	const char		    *client_ip; /* "192.0.2.1", "::1" */
	const char		    *host;	/* client's Host, or NULL */
	uint64_t		     body_len;	/* bytes of body to send */
	bool body_always; /* send Content-Length even when 0 */
	bool chunked;	  /* the body goes chunked (its length unknown) */
	bool upgrade;	  /* keep Upgrade, say Connection: upgrade */
	bool https;	  /* the client came over TLS */
	/* Its verified client certificate's subject, or NULL. */
	const char *client_subject;

	/* The request's ID under this header (the client's own of that
	   name dropped), or NULL. */
	const char *request_id_name;
	const char *request_id;
	/* This cookie taken out of the client's Cookie headers, or NULL. */
	const char *strip_cookie;
};

/* worker/rules.c */

/* Which firewall rule refused a request. */
struct lb_reject {
	const struct lb_firewall *fw; /* the config's or a route's */
	bool			  ip; /* ip_reject, else path_reject */
	size_t			  index;
};

/*
 * Is a client at SA asking for the normalized PATH allowed by the global
 * firewall rules of CFG and then ROUTE's own? ROUTE may be NULL. When
 * not, *WHY (unless NULL) names the first rule that refused it.
 */
bool lb_rules_allowed(const struct lb_cfg *cfg, const struct lb_route *route,
    const struct sockaddr *sa, const char *path, struct lb_reject *why);
/*
 * The path the origin receives for the normalized PATH: the matched prefix
 * stripped (path routes with strip_prefix), then the first rewrite rule
 * whose prefix matches. Returns a malloc'ed string, or NULL (ENOMEM).
 */
char *lb_rules_rewrite_path(const struct lb_route *, const char *path);
/* Can lb_rules_rewrite_path change anything for ROUTE? */
bool lb_rules_rewrites_path(const struct lb_route *);
/*
 * Append to OUT the head (request line, headers, blank line) to send to
 * SRV for F under ROUTE's rules: the client's managed headers (common/
 * http.h) and those named in Connection dropped, header_rules applied,
 * Host kept (or the server's name when the client sent none or a rule
 * removed it), X-Forwarded-For appended, X-Forwarded-Proto and -Host set
 * (each unless a rule replaced or removed it), our own Content-Length or
 * Transfer-Encoding: chunked, and for an upgrade its Upgrade header and
 * Connection: upgrade. Returns 0 or -1 (ENOMEM).
 */
int lb_rules_request_head(struct evbuffer *out, const struct lb_route *route,
    const struct lb_server *srv, const struct lb_fwd *f);

#endif /* LB_RULES_H */

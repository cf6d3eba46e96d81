/*
 * worker/decide.h -- what lbmaster does with a request, decided from its
 * head alone: the route, the firewall's verdict, the path and query the
 * origin gets, or the status answered instead.
 *
 * The one function both the worker (worker/proxy.c, for every request)
 * and the operator's tools (lbmaster -x, the config's tests:, in
 * worker/explain.c) call, so that what -x says is what the worker does.
 */
#ifndef LB_DECIDE_H
#define LB_DECIDE_H

#include <sys/socket.h>

#include <stdbool.h>

#include "config/config.h"
#include "worker/rules.h"

struct lb_decision {
	/*
	 * The route the request is for: the one it matched, or for an
	 * answer made before routing (400, 501) the host route its Host
	 * names, which it counts under. NULL: none (a 404, or no such host).
	 */
	const struct lb_route *route;
	int		       status; /* 0: forward; else 400, 403, 404, 501 */
	struct lb_reject       reject; /* a 403's rule */
	/* When forwarded: */
	char	   *path;     /* owned: normalized, then rewritten */
	char	   *query;    /* owned: rewritten; NULL: query_in as it is */
	const char *query_in; /* into the target, after '?'; NULL: none */
	char	   *host;     /* owned: an absolute-form target's authority,
				 which replaces Host; NULL: none */
};

/* worker/decide.c */

/*
 * Decide for METHOD TARGET (as received) with Host HOST (NULL: none)
 * from PEER under CFG. Returns 0 with *D filled (free it with
 * lb_decision_free), or -1 out of memory.
 */
int  lb_decide(const struct lb_cfg *cfg, const char *method, const char *target,
     const char *host, const struct sockaddr *peer, struct lb_decision *d);
void lb_decision_free(struct lb_decision *);
/*
 * The head a forwarded request D is sent with, but for its body's
 * framing (chunked, body_len, upgrade: the caller's): METHOD, the client's
 * HDRS, its address CLIENT_IP and Host HOST. F points into D and HDRS.
 */
void lb_decision_fwd(const struct lb_decision *d, const char *method,
    const struct lb_http_header *hdrs, size_t n_hdrs, const char *client_ip,
    const char *host, struct lb_fwd *f);
/*
 * The host route HOST (a Host value; NULL: none) names, if any: what an
 * answer made before routing counts under.
 */
const struct lb_route *
lb_decide_host_route(const struct lb_cfg *cfg, const char *host);

#endif /* LB_DECIDE_H */

/*
 * worker/explain.h -- what lbmaster would do with a request, without
 * sending it: lbmaster -x, and the config's tests: (lbmaster(8),
 * lbmaster.yaml(5)).
 *
 * Both run the worker's own decision (worker/decide.c: routing, the
 * firewall, path normalization and rewriting, the query rules) and its
 * own head builder (lb_rules_request_head), not a copy of them: what
 * they report is what a worker does.
 */
#ifndef LB_EXPLAIN_H
#define LB_EXPLAIN_H

#include <sys/socket.h>

#include <stdio.h>

#include "common/http.h"
#include "config/config.h"
#include "worker/decide.h"

struct lb_explanation {
	struct lb_decision d;
	char		  *head; /* owned: the head the origin receives when
				    forwarded (d.status 0), NUL-terminated */
};

/* worker/explain.c */

/*
 * What CFG does with METHOD TARGET, header fields HDRS, from FROM.
 * Returns 0 with *E filled (lb_explanation_free), or -1 (ENOMEM).
 */
int lb_explain(const struct lb_cfg *cfg, const char *method, const char *target,
    const struct lb_http_header *hdrs, size_t n_hdrs,
    const struct sockaddr *from, struct lb_explanation *e);
void lb_explanation_free(struct lb_explanation *);
/*
 * Print E as lbmaster -x does, one "key: value" line each: route,
 * firewall, status, and when forwarded request, header (one per field),
 * algorithm, servers.
 */
void
lb_explain_print(const struct lb_cfg *, const struct lb_explanation *, FILE *);
/*
 * Run CFG's tests:. Returns 0 when every one passes; else -1 with ERR
 * "FILE:LINE:COL: tests[I]: expected ..., got ..." for the first that
 * fails.
 */
int lb_explain_tests(const struct lb_cfg *cfg, char *err, size_t errlen);

#endif /* LB_EXPLAIN_H */

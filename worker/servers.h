/*
 * worker/servers.h -- the servers as the admin endpoint shows them, and
 * the drain API (SPEC section 9): POST /servers/drain and /servers/ready,
 * GET /servers.
 */
#ifndef LB_SERVERS_H
#define LB_SERVERS_H

#include <stdbool.h>

#include "common/shm.h"
#include "common/str.h"
#include "config/config.h"

/* A server now: a fixed one as configured, a followed slot as filled. */
struct lb_server_view {
	char	 addr[64]; /* "127.0.0.1:8081" */
	unsigned weight;
	bool	 backup;
	bool	 draining;
};

/* worker/servers.c */

/*
 * What S is now, from SHM. false for a followed slot that is empty
 * (listed nowhere: it is not a server until an address fills it).
 */
bool lb_server_view(const struct lb_server *s, const struct lb_shm *shm,
    struct lb_server_view *out);

/*
 * Answer a request for PATH under /servers: POST says whether it is a
 * POST, QUERY is the query string (or NULL), AUTH the Authorization
 * header (or NULL). Fills OUT with the body and returns the status;
 * *JSON says whether the body is JSON. Returns 0 when PATH is not the
 * drain API's.
 */
int lb_servers_handle(const struct lb_cfg *cfg, struct lb_shm *shm, bool post,
    const char *path, const char *query, const char *auth, struct lb_buf *out,
    bool *json);

#endif /* LB_SERVERS_H */

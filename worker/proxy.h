/*
 * worker/proxy.h -- one worker's proxy: the exchange between a client's
 * request (worker/client.h) and an origin's response, and everything it
 * needs per process (upstreams, pools, timeouts).
 */
#ifndef LB_PROXY_H
#define LB_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/shm.h"
#include "config/config.h"
#include "worker/balance.h"
#include "worker/pool.h"

/* A pipe to splice through, and its size (fd[0] -1: none). */
struct lb_pipe {
	int    fd[2];
	size_t cap;
};

struct lb_proxy {
	struct event_base   *base;    /* not owned */
	const struct lb_cfg *cfg;     /* not owned; the generation's */
	struct lb_shm	    *shm;     /* not owned */
	unsigned	     slot;    /* our worker slot: our shares in shm */
	struct lb_upstream  *ups;     /* owned; one per route, by route id */
	struct lb_pool	    *pools;   /* owned; one per server, by id */
	struct evbuffer	    *scratch; /* owned; body bytes on their way to
					 a client, empty between calls */
	struct timeval	     connect_tv;
	struct timeval	     backend_tv;
	unsigned	     inflight; /* requests being proxied, and
					  tunnels */
	bool		     draining; /* answer with Connection: close */
	void (*idle_cb)(void *);       /* called when inflight drops
						   to 0 while draining */
	void *idle_arg;

	char (*sticky_ids)[17];	 /* owned; by server id, its sticky cookie
				   value (hex), or NULL without sticky */
	struct lb_pipe pipes[8]; /* owned; empty pipes kept for splicing */
	unsigned       n_pipes;
};

/* worker/proxy.c */

/*
 * Set up PX for CFG in the worker of SLOT; 0, or -1 (ENOMEM). SEED varies
 * random choices.
 */
int lb_proxy_init(struct lb_proxy *px, struct event_base *base,
    const struct lb_cfg *cfg, struct lb_shm *shm, unsigned slot, uint64_t seed);
/* Free what init made. Requests in flight must be over. */
void lb_proxy_fini(struct lb_proxy *px);
struct lb_request;

/*
 * A client's request head is complete (worker/client.c): route it and
 * answer it, now or later, through the lb_client_* calls. Every call
 * ends in exactly one answer, a cut, or a tunnel.
 */
void lb_proxy_request(struct lb_proxy *px, struct lb_request *rq);
/*
 * The client side answered STATUS itself (a malformed or too large
 * head, a late one): count and log it. RQ is NULL when the head could
 * not be read; SA is the client's address.
 */
void lb_proxy_refused(struct lb_proxy *px, const struct lb_request *rq,
    const struct sockaddr *sa, int status);
/* A tunnel opened or closed: counted as in flight, and in /metrics. */
void lb_proxy_tunnel_opened(struct lb_proxy *px);
void lb_proxy_tunnel_closed(struct lb_proxy *px);

#endif /* LB_PROXY_H */

/*
 * worker/proxy.h -- one worker's proxy: the evhttp request handler and
 * everything it needs per process (upstreams, pools, timeouts).
 */
#ifndef LB_PROXY_H
#define LB_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/shm.h"
#include "config/config.h"
#include "worker/balance.h"
#include "worker/pool.h"

struct lb_proxy {
	struct event_base   *base;    /* not owned */
	const struct lb_cfg *cfg;     /* not owned; the generation's */
	struct lb_shm	    *shm;     /* not owned */
	struct lb_upstream  *ups;     /* owned; one per route, by route id */
	struct lb_pool	    *pools;   /* owned; one per server, by id */
	struct lb_clients   *clients; /* not owned; client connections */
	struct evbuffer	    *scratch; /* owned; body bytes on their way to
					 a client, empty between calls */
	struct timeval	     connect_tv;
	struct timeval	     backend_tv;
	unsigned	     inflight; /* requests being proxied */
	bool		     draining; /* answer with Connection: close */
	void (*idle_cb)(void *);       /* called when inflight drops
						   to 0 while draining */
	void *idle_arg;
};

/* worker/proxy.c */

/* Set up PX for CFG; 0, or -1 (ENOMEM). SEED varies random choices. */
int lb_proxy_init(struct lb_proxy *px, struct event_base *base,
    const struct lb_cfg *cfg, struct lb_shm *shm, uint64_t seed);
/* Free what init made. Requests in flight must be over. */
void lb_proxy_fini(struct lb_proxy *px);
/*
 * The evhttp generic callback (evhttp_set_gencb with PX as argument).
 * Every call ends in exactly one reply to the client, now or later.
 */
void lb_proxy_handle(struct evhttp_request *req, void *px);

#endif /* LB_PROXY_H */

/*
 * worker/balance.h -- load-balancing policy, apart from the proxy's
 * mechanism (nginx's peer get/free split). The proxy asks an upstream for
 * a peer and tells it when the request is done; it never knows which
 * algorithm runs.
 */
#ifndef LB_BALANCE_H
#define LB_BALANCE_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/shm.h"
#include "config/config.h"

/* One server as one worker sees it. */
struct lb_peer {
	const struct lb_server *srv;	  /* into the config, or OWN */
	struct lb_server       *own;	  /* a followed slot: this worker's copy
					 with its current address (owned by
					 the upstream, refreshed from shm at
					 each pick); else NULL */
	struct lb_shm_server   *st;	  /* shared health (stripe 0) */
	_Atomic uint32_t       *mine;	  /* this worker's share of the requests
					 in flight to it (shm.h) */
	_Atomic uint64_t       *requests; /* this worker's copies of its */
	_Atomic uint64_t       *failures; /* counters (lb_shm_mine) */
	int    cur_weight; /* smooth weighted round robin state, */
	int    eff_weight; /* per worker, as nginx keeps it */
	size_t index;	   /* in lb_upstream.peers */
};

struct lb_upstream;

struct lb_balancer {
	const char *name;
	int (*init)(struct lb_upstream *);
	void (*fini)(struct lb_upstream *);
	/*
	 * Pick among the peers for which eligible[i] is true (at least one
	 * is). HASH is the client's address hash (ip_hash, consistent_hash).
	 */
	struct lb_peer *(
	    *pick)(struct lb_upstream *, const bool *eligible, uint64_t hash);
};

/* A route's servers with their algorithm's state, one per worker. */
struct lb_upstream {
	const struct lb_route	 *route;
	const struct lb_shm	 *shm;	 /* not owned; every worker's shares */
	struct lb_peer		 *peers; /* owned array, route->n_servers */
	size_t			  n_peers;
	const struct lb_balancer *ops;
	void			 *data; /* owned by ops (hash ring, ...) */
	uint64_t		  rng;	/* xorshift state for random choices */
	bool			 *scratch; /* owned; n_peers, eligibility */
	uint32_t		 *load;	   /* owned; n_peers, least_conn's
					      in-flight counts */
	struct lb_server	 *own;	   /* owned; n_peers copies of the
					      followed slots, or NULL */
};

/* worker/balance.c */

/*
 * Set up UP for ROUTE in the worker of SLOT; SHM is the generation's
 * segment. SEED varies the random algorithms per worker. 0 or -1 (ENOMEM).
 */
int  lb_upstream_init(struct lb_upstream *up, const struct lb_route *route,
     struct lb_shm *shm, unsigned slot, uint64_t seed);
void lb_upstream_fini(struct lb_upstream *);

/*
 * Choose a server for a client at CLIENT (may be NULL) at time NOW_MS, among
 * the usable ones (up, not passively down) not marked in TRIED (n_peers
 * flags, may be NULL); backup servers only when no primary is usable.
 * Counts the pick in this worker's share of the requests in flight and in
 * st->requests. NULL when none is left.
 */
struct lb_peer *lb_upstream_pick(struct lb_upstream *,
    const struct sockaddr *client, const bool *tried, int64_t now_ms);
/*
 * Take PEER (sticky: the server a client's cookie names) when
 * lb_upstream_pick could choose it now: usable, not draining, not in
 * TRIED, and not a backup while a primary may be chosen. Counted as
 * lb_upstream_pick counts. NULL otherwise.
 */
struct lb_peer *lb_upstream_take(struct lb_upstream *, struct lb_peer *peer,
    const bool *tried, int64_t now_ms);
/*
 * The request on PEER is over; FAILED counts a failure. Takes it off this
 * worker's share of the requests in flight.
 */
void lb_upstream_done(struct lb_upstream *, struct lb_peer *, bool failed);
/*
 * Bring a followed PEER's address up to date with its shared slot (a
 * no-op for a fixed server, or when the slot did not change). The
 * pick does it; the admin endpoint and pools read the copy after.
 */
void lb_peer_refresh(struct lb_peer *);
/* Is PEER usable now (health up, not passively marked down)? */
bool lb_peer_usable(const struct lb_peer *, int64_t now_ms);

/* The balancer for an algorithm. */
const struct lb_balancer *lb_balancer_get(enum lb_algo);

#endif /* LB_BALANCE_H */

/*
 * worker/pool.h -- keep-alive connections to one backend server, per
 * worker.
 *
 * lbmaster speaks HTTP/1.1 to origins itself over plain bufferevents
 * rather than through evhttp's client: it needs to know whether a response
 * byte arrived before a failure (retry rules, SPEC section 4.6), whether a
 * connection was reused (the stale keep-alive race), a connect timeout
 * apart from the read timeout, and read backpressure on the exact socket.
 */
#ifndef LB_POOL_H
#define LB_POOL_H

#include <sys/queue.h>
#include <sys/time.h>

#include <stdbool.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config/config.h"

struct lb_pool;

struct lb_conn {
	TAILQ_ENTRY(lb_conn) entry; /* in pool->idle while idle */
	struct lb_pool	   *pool;
	struct bufferevent *bev; /* owned; owns the socket */
};

struct lb_pool {
	const struct lb_server *srv; /* into the config */
	struct event_base      *base;
	TAILQ_HEAD(, lb_conn) idle; /* most recently used first */
	unsigned       n_idle;
	unsigned       max_idle;
	struct timeval idle_tv; /* close idle connections after this */
};

/* worker/pool.c */

void lb_pool_init(struct lb_pool *, const struct lb_server *,
    struct event_base *, unsigned max_idle, unsigned idle_ms);
/* Close every idle connection. */
void lb_pool_fini(struct lb_pool *);
/*
 * The most recently used idle connection, taken out of the pool with no
 * callbacks set, or NULL.
 */
struct lb_conn *lb_pool_take(struct lb_pool *);
/*
 * Start a new connection to the pool's server. The caller sets callbacks
 * (bufferevent_setcb) at once; BEV_EVENT_CONNECTED or an error follows.
 * The write timeout is CONNECT_TV until the caller changes it. NULL with
 * errno on failure to even start.
 */
struct lb_conn *
lb_pool_connect(struct lb_pool *, const struct timeval *connect_tv);
/*
 * Give a connection back after a complete response; it must have nothing
 * unread. Closed instead if the pool is full.
 */
void lb_pool_put(struct lb_conn *);
/* Close a connection that is not in the idle list. */
void lb_conn_free(struct lb_conn *);

#endif /* LB_POOL_H */

/*
 * worker/pool.c -- keep-alive connections to one backend (see pool.h).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "worker/pool.h"

void
lb_pool_init(struct lb_pool *pool, const struct lb_server *srv,
    struct event_base *base, unsigned max_idle, unsigned idle_ms)
{
	pool->srv = srv;
	pool->base = base;
	TAILQ_INIT(&pool->idle);
	pool->n_idle = 0;
	pool->max_idle = max_idle;
	pool->idle_tv.tv_sec = idle_ms / 1000;
	pool->idle_tv.tv_usec = (idle_ms % 1000) * 1000;
}

void
lb_pool_fini(struct lb_pool *pool)
{
	struct lb_conn *c;

	while ((c = TAILQ_FIRST(&pool->idle)) != NULL) {
		TAILQ_REMOVE(&pool->idle, c, entry);
		pool->n_idle--;
		lb_conn_free(c);
	}
}

void
lb_conn_free(struct lb_conn *c)
{
	if (c == NULL)
		return;
	bufferevent_free(c->bev);
	free(c);
}

static void
idle_drop(struct lb_conn *c)
{
	TAILQ_REMOVE(&c->pool->idle, c, entry);
	c->pool->n_idle--;
	lb_conn_free(c);
}

/* An idle connection has nothing to say: bytes or EOF both end it. */
static void
idle_read(struct bufferevent *bev, void *arg)
{
	idle_drop(arg);
}

static void
idle_event(struct bufferevent *bev, short what, void *arg)
{
	idle_drop(arg);
}

struct lb_conn *
lb_pool_take(struct lb_pool *pool)
{
	struct lb_conn *c;

	if ((c = TAILQ_FIRST(&pool->idle)) == NULL)
		return NULL;
	TAILQ_REMOVE(&pool->idle, c, entry);
	pool->n_idle--;
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	return c;
}

struct lb_conn *
lb_pool_connect(struct lb_pool *pool, const struct timeval *connect_tv)
{
	const struct lb_server *srv = pool->srv;
	struct lb_conn	       *c;
	int			fd, on = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	fd = socket(srv->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd == -1)
		goto fail;
	/* Requests are written whole; do not let Nagle hold the last part. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	c->bev = bufferevent_socket_new(pool->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		goto fail;
	}
	c->pool = pool;
	/* Connecting waits for writability: the write timeout bounds it. */
	bufferevent_set_timeouts(c->bev, NULL, connect_tv);
	if (bufferevent_socket_connect(c->bev,
		(const struct sockaddr *)&srv->addr, (int)srv->addrlen) == -1) {
		/*
		 * An immediate failure (ECONNREFUSED on loopback can be
		 * synchronous) is reported as an event on the next loop turn
		 * by libevent; -1 here means it could not even try.
		 */
		int saved = errno;

		bufferevent_free(c->bev);
		free(c);
		errno = saved;
		return NULL;
	}
	return c;
fail:
	free(c);
	return NULL;
}

void
lb_pool_put(struct lb_conn *c)
{
	struct lb_pool *pool = c->pool;

	if (pool->n_idle >= pool->max_idle ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		lb_conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, idle_read, NULL, idle_event, c);
	bufferevent_set_timeouts(c->bev, &pool->idle_tv, NULL);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_HEAD(&pool->idle, c, entry);
	pool->n_idle++;
}

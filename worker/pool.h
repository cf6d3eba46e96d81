/*
 * worker/pool.h -- keep-alive connections to one backend server, per
 * worker.
 *
 * lbmaster speaks HTTP/1.1 to origins itself, on sockets it reads and
 * writes directly, rather than through evhttp's client: it needs to know
 * whether a response byte arrived before a failure (retry rules, SPEC
 * section 4.6), whether a connection was reused (the stale keep-alive
 * race), a connect timeout apart from the read timeout, and read
 * backpressure on the exact socket. Not through bufferevents either: they
 * read 4096 bytes at a time, each after an ioctl(FIONREAD).
 */
#ifndef LB_POOL_H
#define LB_POOL_H

#include <sys/queue.h>
#include <sys/time.h>
#include <sys/types.h>

#include <stdbool.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config/config.h"

struct lb_pool;
struct lb_conn;

/* What happened on a connection, told to its owner's callback. */
enum lb_conn_event {
	LB_CONN_CONNECTED,
	LB_CONN_READ,	 /* bytes were added to c->in; or, with
			    c->splice, the socket has bytes to take */
	LB_CONN_EOF,	 /* the origin closed; c->in has all it sent */
	LB_CONN_ERROR,	 /* c->err says which */
	LB_CONN_TIMEOUT, /* nothing within the connect, write or read time */
	LB_CONN_DRAINED, /* c->out, which had to wait, is written */
};

typedef void lb_conn_cb(struct lb_conn *, enum lb_conn_event, void *arg);

/*
 * A connection to an origin, driven directly on its socket: reads go into
 * `in` in large slices, with no ioctl(FIONREAD) before each as libevent's
 * bufferevents do, and writes leave `out` as soon as they are asked for.
 */
struct lb_conn {
	TAILQ_ENTRY(lb_conn) entry; /* in pool->idle while idle */
	struct lb_pool	*pool;
	int		 fd;
	struct evbuffer *in, *out;  /* owned */
	struct event	*rev, *wev; /* owned */
	lb_conn_cb	*cb;
	void		*arg;
	int		 err;	     /* errno of the last LB_CONN_ERROR */
	bool		 connecting; /* until LB_CONN_CONNECTED */
	bool		 splice;     /* the owner reads the socket itself */
	bool		 read_one;   /* a slice a read event, not a burst */

	/* To a server over TLS (srv->tls): read and written through it. */
	struct ssl_st *ssl;	   /* owned; NULL: plain */
	bool	       handshake;  /* after the connect, until CONNECTED */
	struct timeval connect_tv; /* which bounds the handshake too */
	uint32_t       gen;	   /* pool->srv->gen when it connected */
};

struct lb_pool {
	const struct lb_server *srv; /* into the config, or a followed
					slot's copy whose address changes
					with srv->gen (worker/balance.h) */
	struct event_base      *base;
	TAILQ_HEAD(, lb_conn) idle; /* most recently used first */
	unsigned       n_idle;
	unsigned       max_idle;
	struct timeval idle_tv; /* close idle connections after this */
};

/* The size of a read after the first, on either side (worker/pool.c). */
#define LB_READ_SLICE (64 * 1024 - 128)

/* worker/pool.c */

/*
 * Read what socket FD has waiting into IN, in slices (a page first, then
 * LB_READ_SLICE), stopping at the first short one and after 256 KiB, so
 * that no read is spent finding EAGAIN and no peer starves the others.
 * Returns the bytes read; 0 at EOF, or -1 with errno (EAGAIN included)
 * when nothing was read.
 */
ssize_t lb_sock_read(int fd, struct evbuffer *in);
/*
 * As evbuffer_write: write what OUT holds (up to 16 of its chains) to
 * socket FD and drain it. Returns the bytes written, 0 when OUT is empty,
 * or -1 with errno (EAGAIN: the rest waits). LAST says that the socket
 * is shut or closed once OUT is written: the kernel then holds the tail
 * (MSG_MORE) and sends it with the FIN, one segment for both.
 */
int lb_sock_write(int fd, struct evbuffer *out, bool last);

void lb_pool_init(struct lb_pool *, const struct lb_server *,
    struct event_base *, unsigned max_idle, unsigned idle_ms);
/* Close every idle connection. */
void lb_pool_fini(struct lb_pool *);
/*
 * The most recently used idle connection, taken out of the pool, neither
 * reading nor writing, with CB and ARG as its callback; or NULL.
 */
struct lb_conn *lb_pool_take(struct lb_pool *, lb_conn_cb *cb, void *arg);
/*
 * Start a new connection to the pool's server. LB_CONN_CONNECTED, or an
 * error or a timeout after CONNECT_TV, follows on a later loop turn, never
 * from inside this call. NULL with errno on failure to even start.
 */
struct lb_conn *lb_pool_connect(struct lb_pool *,
    const struct timeval *connect_tv, lb_conn_cb *cb, void *arg);
/*
 * Give a connection back after a complete response; it must have nothing
 * unread. Closed instead if the pool is full.
 */
void lb_pool_put(struct lb_conn *);
/* Close a connection that is not in the idle list. */
void lb_conn_free(struct lb_conn *);
/*
 * Write what c->out holds now, and the rest when the socket takes it, each
 * wait bounded by TV. Errors are told to the callback on a later turn.
 */
void lb_conn_write(struct lb_conn *, const struct timeval *tv);
/*
 * Read whenever the origin sends (LB_CONN_READ, LB_CONN_EOF...), with
 * LB_CONN_TIMEOUT after TV of silence; or stop reading.
 */
void lb_conn_read(struct lb_conn *, const struct timeval *tv);
void lb_conn_read_stop(struct lb_conn *);

#endif /* LB_POOL_H */

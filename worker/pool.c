/*
 * worker/pool.c -- keep-alive connections to one backend (see pool.h).
 *
 * Each connection has a read event, added while its owner wants to read
 * and kept added across requests and while idle in the pool (changing
 * only its timeout costs no system call), and a write event, added only
 * while connecting or while the socket takes less than was written.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/shm.h"
#include "worker/pool.h"
#include "worker/tls.h"

/*
 * Reads take what is waiting in slices, up to READ_BURST a loop turn so
 * that one fast peer cannot starve the other connections. The first
 * slice is a page, for the common small answer (a request in flight holds
 * it: 16 KiB there cost some 0.5 KiB of worker memory per connection in
 * bench's idle10k, whose requests all arrive at once); the next ones are
 * large, for bodies. A slice that comes back short means the socket is
 * empty: no read is spent finding EAGAIN. The sizes leave room for
 * libevent's chain header within a power of two.
 */
#define READ_FIRST (4 * 1024 - 128)
#define READ_BURST (256 * 1024)

void
lb_pool_init(struct lb_pool *pool, const struct lb_server *srv,
    struct event_base *base, unsigned max_idle, unsigned idle_ms)
{
	pool->srv = srv;
	pool->base = base;
	TAILQ_INIT(&pool->idle);
	pool->n_idle = 0;
	pool->max_idle = max_idle;
	lb_tv_ms(&pool->idle_tv, idle_ms);
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
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
	lb_tls_close(c->ssl, !c->handshake);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

/* Tell the owner; the callback may free C. */
static void
report(struct lb_conn *c, enum lb_conn_event what)
{
	if (what != LB_CONN_READ && what != LB_CONN_CONNECTED &&
	    what != LB_CONN_DRAINED) {
		/* The end of this connection's use: nothing more to say. */
		event_del(c->rev);
		event_del(c->wev);
	}
	c->cb(c, what, c->arg);
}

/*
 * recv(2) and sendmsg(2) rather than readv(2) and writev(2): the socket
 * calls skip the file layer (its position lock, access checks and
 * notifications), about 3% of a small proxied request's time in perf.
 */
static ssize_t
sock_recv(int fd, struct evbuffer_iovec *v, int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)v,
		.msg_iovlen = (size_t)n };

	if (n == 1)
		return recv(fd, v[0].iov_base, v[0].iov_len, 0);
	return recvmsg(fd, &m, 0);
}

#define WRITE_IOV 16 /* chains a write takes at most */

int
lb_sock_write(int fd, struct evbuffer *out, bool last)
{
	struct evbuffer_iovec v[WRITE_IOV];
	struct msghdr	      m = { .msg_iov = (struct iovec *)v };
	ssize_t		      sent;
	int		      n, flags = MSG_NOSIGNAL | (last ? MSG_MORE : 0);

	if ((n = evbuffer_peek(out, -1, NULL, v, WRITE_IOV)) <= 0)
		return 0;
	m.msg_iovlen = (size_t)(n < WRITE_IOV ? n : WRITE_IOV);
	if (n == 1)
		sent = send(fd, v[0].iov_base, v[0].iov_len, flags);
	else
		sent = sendmsg(fd, &m, flags);
	if (sent == -1)
		return -1;
	evbuffer_drain(out, (size_t)sent);
	return (int)sent;
}

/* lb_sock_read, up to about BURST bytes. */
static ssize_t
sock_read(int fd, struct evbuffer *in, size_t burst)
{
	size_t total = 0;

	while (total < burst) {
		struct evbuffer_iovec v[2];
		ssize_t		      got, left;
		size_t		      want = 0;
		int		      n;

		n = evbuffer_reserve_space(in,
		    total == 0 ? READ_FIRST : LB_READ_SLICE, v, 2);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			want += v[i].iov_len;
		got = sock_recv(fd, v, n);
		if (got <= 0) {
			int err = errno;

			evbuffer_commit_space(in, v, 0);
			if (total > 0)
				break; /* EOF or error: found on the next read */
			errno = err;
			return got;
		}
		left = got;
		for (int i = 0; i < n; i++) {
			if ((size_t)left < v[i].iov_len)
				v[i].iov_len = (size_t)left;
			left -= (ssize_t)v[i].iov_len;
		}
		evbuffer_commit_space(in, v, n);
		total += (size_t)got;
		if ((size_t)got < want)
			break;
	}
	return (ssize_t)total;
}

ssize_t
lb_sock_read(int fd, struct evbuffer *in)
{
	return sock_read(fd, in, READ_BURST);
}

/*
 * A server over TLS: the handshake, after the connect and within the same
 * timeout; CONNECTED once it is done. A certificate that does not verify
 * is an error like a refused connect (EPROTO).
 */
static void
tls_step(struct lb_conn *c)
{
	switch (lb_tls_handshake(c->ssl)) {
	case 1:
		c->handshake = false;
		event_del(c->wev);
		event_del(c->rev);
		report(c, LB_CONN_CONNECTED);
		return;
	case 0:
		event_del(c->wev);
		event_add(c->rev, &c->connect_tv);
		return;
	case 2:
		event_add(c->wev, &c->connect_tv);
		return;
	default:
		log_warnx("TLS to %s: %s", c->pool->srv->addrstr,
		    lb_tls_verify_error(c->ssl));
		c->err = EPROTO;
		report(c, LB_CONN_ERROR);
		return;
	}
}

static void
tls_start(struct lb_conn *c)
{
	if ((c->ssl = lb_tls_connect(c->pool->srv, c->fd)) == NULL) {
		c->err = ENOMEM;
		report(c, LB_CONN_ERROR);
		return;
	}
	c->handshake = true;
	tls_step(c);
}

/* The transport: the socket, or the SSL on it. */
static int
conn_write(struct lb_conn *c)
{
	if (c->ssl != NULL)
		return lb_tls_write(c->ssl, c->out);
	return lb_sock_write(c->fd, c->out, false);
}

static void
conn_readable(evutil_socket_t fd, short what, void *arg)
{
	struct lb_conn *c = arg;
	ssize_t		n;

	if (what & EV_TIMEOUT) {
		report(c, LB_CONN_TIMEOUT);
		return;
	}
	if (c->handshake) {
		tls_step(c);
		return;
	}
	if (c->splice) {
		report(c, LB_CONN_READ);
		return;
	}
	n = c->ssl != NULL ?
	    lb_tls_read(c->ssl, c->in) :
	    sock_read(fd, c->in, c->read_one ? READ_FIRST : READ_BURST);
	if (n > 0) {
		if (c->ssl != NULL && lb_tls_closed(c->ssl))
			event_active(c->rev, EV_READ, 1); /* the EOF, next */
		report(c, LB_CONN_READ);
	} else if (n == 0) {
		report(c, LB_CONN_EOF);
	} else if (errno != EAGAIN && errno != EINTR) {
		c->err = errno;
		report(c, LB_CONN_ERROR);
	}
}

static void
conn_writable(evutil_socket_t fd, short what, void *arg)
{
	struct lb_conn *c = arg;

	if (what & EV_TIMEOUT) {
		report(c, LB_CONN_TIMEOUT);
		return;
	}
	if (c->connecting) {
		int	  err = c->err;
		socklen_t len = sizeof(err);

		if (err == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		c->connecting = false;
		event_del(c->wev);
		if (err != 0) {
			c->err = err;
			report(c, LB_CONN_ERROR);
			return;
		}
		if (c->pool->srv->tls != NULL) {
			tls_start(c);
			return;
		}
		report(c, LB_CONN_CONNECTED);
		return;
	}
	if (c->handshake) {
		tls_step(c);
		return;
	}
	/* The owner may have written it all meanwhile (lb_conn_write). */
	if (evbuffer_get_length(c->out) > 0 && conn_write(c) == -1 &&
	    errno != EAGAIN && errno != EINTR) {
		c->err = errno;
		report(c, LB_CONN_ERROR);
		return;
	}
	if (evbuffer_get_length(c->out) == 0) {
		event_del(c->wev);
		report(c, LB_CONN_DRAINED);
	}
}

void
lb_conn_write(struct lb_conn *c, const struct timeval *tv)
{
	/*
	 * At once rather than on the next loop turn: a request almost
	 * always fits the socket buffer, and then writability is never
	 * waited for. A hard error is left in place for conn_writable to
	 * meet again and report, on a later turn.
	 */
	if (evbuffer_get_length(c->out) > 0 && !c->connecting && !c->handshake)
		(void)conn_write(c);
	if (evbuffer_get_length(c->out) > 0)
		event_add(c->wev, tv);
}

void
lb_conn_read(struct lb_conn *c, const struct timeval *tv)
{
	event_add(c->rev, tv);
}

void
lb_conn_read_stop(struct lb_conn *c)
{
	event_del(c->rev);
}

/* An idle connection has nothing to say: bytes, EOF or its time end it. */
static void
idle_event(struct lb_conn *c, enum lb_conn_event what, void *arg)
{
	TAILQ_REMOVE(&c->pool->idle, c, entry);
	c->pool->n_idle--;
	lb_conn_free(c);
}

struct lb_conn *
lb_pool_take(struct lb_pool *pool, lb_conn_cb *cb, void *arg)
{
	struct lb_conn *c;

	/* A followed slot moved to another address: its idle ones go. */
	while ((c = TAILQ_FIRST(&pool->idle)) != NULL &&
	    c->gen != pool->srv->gen) {
		TAILQ_REMOVE(&pool->idle, c, entry);
		pool->n_idle--;
		lb_conn_free(c);
	}
	if (c == NULL)
		return NULL;
	TAILQ_REMOVE(&pool->idle, c, entry);
	pool->n_idle--;
	/*
	 * Its read event stays added, with the idle timeout until the new
	 * owner sets its own: removing it here and adding it back for the
	 * request would cost an epoll_ctl.
	 */
	c->cb = cb;
	c->arg = arg;
	return c;
}

struct lb_conn *
lb_pool_connect(struct lb_pool *pool, const struct timeval *connect_tv,
    lb_conn_cb *cb, void *arg)
{
	const struct lb_server *srv = pool->srv;
	struct lb_conn	       *c;
	int			on = 1, saved;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = socket(srv->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (c->fd == -1)
		goto fail;
	/* Requests are written whole; do not let Nagle hold the last part. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	c->pool = pool;
	c->gen = srv->gen;
	c->cb = cb;
	c->arg = arg;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(pool->base, c->fd, EV_READ | EV_PERSIST,
	    conn_readable, c);
	c->wev = event_new(pool->base, c->fd, EV_WRITE | EV_PERSIST,
	    conn_writable, c);
	if (c->in == NULL || c->out == NULL || c->rev == NULL || c->wev == NULL)
		goto fail;
	c->connecting = true;
	c->connect_tv = *connect_tv;
	if (connect(c->fd, (const struct sockaddr *)&srv->addr, srv->addrlen) ==
	    0)
		event_active(c->wev, EV_WRITE, 1);
	else if (errno != EINPROGRESS && errno != EINTR) {
		/*
		 * Refused at once (loopback can be synchronous): told from
		 * conn_writable like any other outcome, so that no callback
		 * runs inside this call.
		 */
		c->err = errno;
		event_active(c->wev, EV_WRITE, 1);
	}
	/* Writability says it is done; the timeout bounds the wait. */
	if (event_add(c->wev, connect_tv) == -1)
		goto fail;
	return c;
fail:
	saved = errno;
	lb_conn_free(c);
	errno = saved;
	return NULL;
}

void
lb_pool_put(struct lb_conn *c)
{
	struct lb_pool *pool = c->pool;

	if (pool->n_idle >= pool->max_idle || evbuffer_get_length(c->in) > 0 ||
	    evbuffer_get_length(c->out) > 0 || c->gen != pool->srv->gen) {
		lb_conn_free(c);
		return;
	}
	c->cb = idle_event;
	c->arg = NULL;
	c->splice = c->read_one = false;
	event_del(c->wev);
	lb_conn_read(c, &pool->idle_tv);
	TAILQ_INSERT_HEAD(&pool->idle, c, entry);
	pool->n_idle++;
}

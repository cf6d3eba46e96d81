/*
 * worker/client.c -- client connections under evhttp (see client.h).
 *
 * evhttp 2.1 has no hook for a connection's birth or death, so:
 *  - evhttp_set_bevcb makes each connection's bufferevent here; we take a
 *    reference on it and keep a record (struct lb_client).
 *  - A callback on the bufferevent's input buffer sees every byte the
 *    client sends before evhttp's read callback parses it, and feeds it
 *    to a strict scanner (common/reqscan.h). Malformed input is drained
 *    before evhttp sees it and answered 400 or 431 on the socket itself.
 *  - When evhttp frees the connection, bufferevent_free clears the
 *    callbacks but our reference keeps the object (and its descriptor)
 *    alive. Once a connection has carried a request we own its close
 *    callback, which queues the record for a reaper event that drops our
 *    reference (closing the descriptor) later in the same loop turn;
 *    before that, a sweep timer notices the cleared callbacks. Either way
 *    the connection is counted gone only then.
 *  - The same sweep closes connections whose request head or body is
 *    late: slowloris clients are closed at timeouts.client whatever they
 *    trickle.
 * Holding the reference also means a descriptor number is never reused
 * while its record exists, so records are found by descriptor.
 *
 * evhttp stops reading a connection while its request is answered and
 * starts again after the answer: with one event on the descriptor that is
 * an epoll_ctl DEL and an ADD per request. A second read event of our own
 * (the "watch") is added as soon as the scanner sees the first request
 * complete, before evhttp switches its own off, and stays: libevent
 * touches epoll only when a descriptor's count of read events goes from
 * or to zero, so evhttp's switching costs no system call. If bytes
 * arrive while evhttp is not reading (a pipelined request, an EOF), the
 * watch removes itself rather than wake the loop again and again, and
 * evhttp finds them when it reads again, as it would without the watch;
 * the next complete request adds it back.
 *
 * While evhttp reads, the watch does the reading (client_read): a
 * bufferevent asks ioctl(FIONREAD) before every read, one system call in
 * five of a small proxied request. Both events fire when the client
 * sends; libevent runs them in the order they were last added, so the
 * watch is re-added after each time evhttp switches its own event back on
 * (lb_clients_reading), and when it does run first it takes the
 * bufferevent's event out of this turn, reads, puts it back and runs
 * evhttp's read callback as the bufferevent would. When evhttp's event
 * ran first after all, the watch sees that the bytes were read in this
 * very turn and does nothing: the cost is then what it was without it.
 * It knows by a count of the bytes the client sent: libevent has no turn
 * counter, and the time it caches for a turn is coarse (several turns
 * share a tick), or precise at the cost of a timerfd_settime per turn.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/reqscan.h"
#include "common/shm.h"
#include "worker/client.h"

#define SWEEP_MS \
	250		    /* deadline precision, and how long a closed
				   connection's descriptor may linger */
#define ACCEPT_RETRY_MS 100 /* after EMFILE and the like */

struct lb_client {
	TAILQ_ENTRY(lb_client) entry;
	struct lb_clients	 *set;
	struct bufferevent	 *bev;	 /* one reference is ours */
	struct evhttp_connection *evcon; /* once we own its close callback */
	void (*gone)(struct evhttp_connection *, void *); /* lb_clients_busy */
	void		 *gone_arg;
	struct event	 *watch; /* owned; NULL until the first request */
	int		  fd;	 /* -1 until the first bytes */
	struct lb_reqscan scan;
	unsigned	  armed;    /* scan.serial the deadline is for */
	uint64_t	  watched;  /* scan.requests when last watched */
	uint64_t	  rx;	    /* bytes the client sent, so far */
	uint64_t	  rx_seen;  /* rx when the watch last looked */
	int64_t		  deadline; /* lb_now_ms(); 0: none */
	int		  failed;   /* 400/431 seen while busy */
	bool		  busy;	    /* a request is with a backend */
	bool		  dead;	    /* in set->dead: evhttp freed it */
};

struct lb_clients {
	TAILQ_HEAD(, lb_client) list;
	TAILQ_HEAD(, lb_client) dead;	    /* evhttp is done with them */
	unsigned		n;	    /* in both lists */
	unsigned		max;	    /* limits.max_connections */
	unsigned		timeout_ms; /* timeouts.client */
	uint64_t		max_head;   /* limits.max_header_size */
	struct lb_client      **by_fd;	    /* owned; index: descriptor */
	size_t			n_by_fd;
	struct evconnlistener **listeners; /* not owned */
	size_t			n_listeners;
	bool			paused; /* listeners off: at max, or EMFILE */
	int64_t			resume_at; /* EMFILE back-off */
	struct event	       *sweep;
	struct event	       *reap; /* frees set->dead */
};

static void
listeners_set(struct lb_clients *set, bool on)
{
	if (set->paused == !on)
		return;
	for (size_t i = 0; i < set->n_listeners; i++) {
		if (on)
			evconnlistener_enable(set->listeners[i]);
		else
			evconnlistener_disable(set->listeners[i]);
	}
	set->paused = !on;
}

static int
index_fd(struct lb_clients *set, struct lb_client *c)
{
	int fd = bufferevent_getfd(c->bev);

	if (fd < 0)
		return -1;
	if ((size_t)fd >= set->n_by_fd) {
		size_t		   n = set->n_by_fd ? set->n_by_fd : 1024;
		struct lb_client **p;

		while (n <= (size_t)fd)
			n *= 2;
		if ((p = reallocarray(set->by_fd, n, sizeof(*p))) == NULL)
			return -1;
		memset(p + set->n_by_fd, 0, (n - set->n_by_fd) * sizeof(*p));
		set->by_fd = p;
		set->n_by_fd = n;
	}
	set->by_fd[fd] = c;
	c->fd = fd;
	return 0;
}

static bool
client_dead(const struct lb_client *c)
{
	bufferevent_event_cb eventcb = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, &eventcb, NULL);
	return eventcb == NULL;
}

/*
 * Refuse what the client sent: evhttp never sees it. The answer goes
 * straight to the socket (nothing of evhttp's is queued on it, or we send
 * none), then the descriptor is shut down so evhttp reads EOF and frees
 * the connection.
 */
static void
client_reject(struct lb_client *c, struct evbuffer *in, int code)
{
	static const char r400
	    [] = "HTTP/1.1 400 Bad Request\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n"
		 "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n";
	static const char
	    r431[] = "HTTP/1.1 431 Request Header Fields "
		     "Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: 32\r\nConnection: close\r\n\r\n"
		     "Request Header Fields Too Large\n";

	evbuffer_drain(in, evbuffer_get_length(in));
	if (c->busy) {
		/* An answer is under way: close after it (lb_clients_idle). */
		c->failed = code;
		return;
	}
	if (c->fd >= 0) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
			const char *r = code == 431 ? r431 : r400;
			size_t	    n = code == 431 ? sizeof(r431) - 1 :
						      sizeof(r400) - 1;

			/* Small enough for any socket buffer: one try. */
			if (send(c->fd, r, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug("answering %d: %s", code,
				    strerror(errno));
		}
		shutdown(c->fd, SHUT_RDWR);
	}
	bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING,
	    BEV_TRIG_DEFER_CALLBACKS);
}

/* A read's size: a head fits the first; a body takes the second. */
#define CLIENT_READ	 (4096 - 128) /* fits a 4 KiB evbuffer chain */
#define CLIENT_READ_BODY (64 * 1024 - 128)

/* Put the watch ahead of the bufferevent's read event (see the top). */
static void
watch_first(struct lb_client *c)
{
	if (c->watch != NULL && event_pending(c->watch, EV_READ, NULL)) {
		event_del(c->watch);
		event_add(c->watch, NULL);
	}
}

/* Read what the client sent, as the bufferevent would but for FIONREAD. */
static void
client_read(struct lb_client *c)
{
	struct evbuffer	     *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	ssize_t		      got = -1;
	int		      err = EAGAIN;

	/* Its read event is active in this turn too: take it out. */
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in,
		lb_reqscan_waiting(&c->scan) == LB_SCAN_BODY ?
		    CLIENT_READ_BODY :
		    CLIENT_READ,
		&v, 1) == 1) {
		got = recv(c->fd, v.iov_base, v.iov_len, 0);
		err = got == -1 ? errno : 0;
		v.iov_len = got > 0 ? (size_t)got : 0;
		/* Scanned here (client_input), before evhttp sees it. */
		evbuffer_commit_space(in, &v, got > 0 ? 1 : 0);
	}
	evbuffer_freeze(in, 0);
	if (got > 0 || (got == -1 && (err == EAGAIN || err == EINTR))) {
		bufferevent_enable(c->bev, EV_READ);
		watch_first(c);
		if (got > 0)
			bufferevent_trigger(c->bev, EV_READ, 0);
		return;
	}
	/* EOF or an error: reading stays off, evhttp is told. */
	errno = err;
	bufferevent_trigger_event(c->bev,
	    BEV_EVENT_READING | (got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR),
	    0);
}

/*
 * The descriptor is readable. Bytes that came in since the watch last
 * looked were read by evhttp's event, which ran first in this turn: the
 * readiness this call reports may be used up.
 */
static void
watch_fired(evutil_socket_t fd, short what, void *arg)
{
	struct lb_client *c = arg;
	bool		  fresh = c->rx != c->rx_seen;

	c->rx_seen = c->rx;
	if (bufferevent_get_enabled(c->bev) & EV_READ) {
		if (fresh)
			watch_first(c); /* and be first next time */
		else if (!client_dead(c))
			client_read(c);
		c->rx_seen = c->rx;
		return;
	}
	/*
	 * evhttp read, in this turn, the request that made it stop. If bytes
	 * are still waiting, this fires again in the next turn and goes.
	 */
	if (fresh)
		return;
	event_del(c->watch);
}

/* A request is complete in the input: evhttp is about to stop reading. */
static void
watch_arm(struct lb_client *c)
{
	if (c->watch == NULL) {
		c->watch = event_new(bufferevent_get_base(c->bev), c->fd,
		    EV_READ | EV_PERSIST, watch_fired, c);
		if (c->watch == NULL)
			return; /* costs what it did without the watch */
	}
	/*
	 * Added now, it has no part in this turn: in sync. Already added, it
	 * may yet run in this turn for the bytes just read: leave rx_seen.
	 */
	if (!event_pending(c->watch, EV_READ, NULL))
		c->rx_seen = c->rx;
	event_add(c->watch, NULL);
}

/* Every change of the input buffer: scan what was added. */
static void
client_input(struct evbuffer *in, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct lb_client     *c = arg;
	struct evbuffer_ptr   pos;
	struct evbuffer_iovec v[8];
	size_t		      len, left;
	int		      n, code = 0;

	if (info->n_added == 0)
		return;
	c->rx += info->n_added;
	if (client_dead(c)) {
		/* evhttp is done with it; the sweep will close it. */
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->fd < 0 && index_fd(c->set, c) == -1)
		log_warnx("cannot index a client connection");

	len = evbuffer_get_length(in);
	left = info->n_added;
	if (evbuffer_ptr_set(in, &pos, len - left, EVBUFFER_PTR_SET) == -1)
		return;
	while (left > 0 && code == 0 &&
	    (n = evbuffer_peek(in, (ev_ssize_t)left, &pos, v, 8)) > 0) {
		size_t done = 0;

		for (int i = 0; i < n && i < 8 && code == 0; i++) {
			size_t k = v[i].iov_len < left - done ? v[i].iov_len :
								left - done;

			code = lb_reqscan_feed(&c->scan, v[i].iov_base, k);
			done += k;
		}
		left -= done;
		if (left == 0 ||
		    evbuffer_ptr_set(in, &pos, done, EVBUFFER_PTR_ADD) == -1)
			break;
	}
	if (code != 0) {
		client_reject(c, in, code);
		return;
	}
	if (c->scan.requests != c->watched && c->fd >= 0) {
		c->watched = c->scan.requests;
		watch_arm(c);
	}
	/* A head or a body has timeouts.client from its first byte. */
	if (lb_reqscan_waiting(&c->scan) == LB_SCAN_IDLE) {
		c->deadline = 0;
	} else if (c->armed != c->scan.serial) {
		c->armed = c->scan.serial;
		c->deadline = lb_now_ms() + c->set->timeout_ms;
	}
}

static void
client_free(struct lb_client *c)
{
	struct lb_clients *set = c->set;

	if (c->fd >= 0 && (size_t)c->fd < set->n_by_fd &&
	    set->by_fd[c->fd] == c)
		set->by_fd[c->fd] = NULL;
	if (c->dead)
		TAILQ_REMOVE(&set->dead, c, entry);
	else
		TAILQ_REMOVE(&set->list, c, entry);
	set->n--;
	evbuffer_remove_cb(bufferevent_get_input(c->bev), client_input, c);
	if (c->watch != NULL)
		event_free(c->watch);
	/* Our reference was the last: this closes the descriptor. */
	bufferevent_decref(c->bev);
	free(c);
}

static void
sweep(evutil_socket_t fd, short what, void *arg)
{
	struct lb_clients *set = arg;
	struct lb_client  *c, *next;
	int64_t		   now = lb_now_ms();

	for (c = TAILQ_FIRST(&set->list); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (client_dead(c)) {
			client_free(c);
			continue;
		}
		if (c->deadline != 0 && now >= c->deadline && !c->busy &&
		    c->fd >= 0) {
			log_info("closing a client whose request took longer "
				 "than timeouts.client (%u ms)",
			    set->timeout_ms);
			c->deadline = 0;
			shutdown(c->fd, SHUT_RDWR);
			bufferevent_trigger_event(c->bev,
			    BEV_EVENT_TIMEOUT | BEV_EVENT_READING,
			    BEV_TRIG_DEFER_CALLBACKS);
		}
	}
	if (set->paused && set->n < set->max && now >= set->resume_at)
		listeners_set(set, true);
}

static void
reap(evutil_socket_t fd, short what, void *arg)
{
	struct lb_clients *set = arg;

	while (!TAILQ_EMPTY(&set->dead))
		client_free(TAILQ_FIRST(&set->dead));
}

/*
 * evhttp is freeing the connection (evhttp_connection_free): tell whoever
 * waits for this client, and close the descriptor once evhttp has
 * returned, rather than at the next sweep.
 */
static void
client_closing(struct evhttp_connection *evcon, void *arg)
{
	struct lb_client  *c = arg;
	struct lb_clients *set = c->set;
	void (*gone)(struct evhttp_connection *, void *) = c->gone;

	c->gone = NULL;
	c->evcon = NULL;
	if (!c->dead) {
		TAILQ_REMOVE(&set->list, c, entry);
		TAILQ_INSERT_TAIL(&set->dead, c, entry);
		c->dead = true;
		event_active(set->reap, EV_TIMEOUT, 1);
	}
	if (gone != NULL)
		gone(evcon, c->gone_arg);
}

/* evhttp asks for a bufferevent for a connection it just accepted. */
static struct bufferevent *
client_new(struct event_base *base, void *arg)
{
	struct lb_clients  *set = arg;
	struct lb_client   *c;
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    evbuffer_add_cb(bufferevent_get_input(bev), client_input, c) ==
		NULL) {
		free(c);
		return bev; /* served, only not watched */
	}
	c->set = set;
	c->bev = bev;
	c->fd = -1;
	lb_reqscan_init(&c->scan, set->max_head);
	bufferevent_incref(bev);
	TAILQ_INSERT_TAIL(&set->list, c, entry);
	if (++set->n >= set->max) {
		log_warnx("limits.max_connections (%u) reached: not accepting "
			  "until some close",
		    set->max);
		listeners_set(set, false);
	}
	return bev;
}

/*
 * The listener error callback gets evhttp's argument, not ours: the one
 * connection set of this worker process is kept here for it.
 */
static struct lb_clients *accept_owner;

/* accept() failed: EMFILE, ENFILE, ENOBUFS... Back off, do not spin. */
static void
accept_error(struct evconnlistener *lev, void *arg)
{
	struct lb_clients *set = accept_owner;
	int		   err = EVUTIL_SOCKET_ERROR();

	if (set == NULL)
		return;
	log_warnx("accept: %s; pausing for %d ms",
	    evutil_socket_error_to_string(err), ACCEPT_RETRY_MS);
	set->resume_at = lb_now_ms() + ACCEPT_RETRY_MS;
	listeners_set(set, false);
}

struct lb_clients *
lb_clients_new(struct event_base *base, struct evhttp *http,
    const struct lb_cfg *cfg)
{
	struct lb_clients *set;
	struct timeval	   tv = { 0, SWEEP_MS * 1000 };

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	TAILQ_INIT(&set->list);
	TAILQ_INIT(&set->dead);
	set->max = cfg->max_connections;
	set->timeout_ms = cfg->client_timeout_ms;
	set->max_head = cfg->max_header_size;
	set->sweep = event_new(base, -1, EV_PERSIST, sweep, set);
	set->reap = event_new(base, -1, 0, reap, set);
	if (set->sweep == NULL || set->reap == NULL ||
	    event_add(set->sweep, &tv) == -1) {
		lb_clients_free(set);
		return NULL;
	}
	evhttp_set_bevcb(http, client_new, set);
	accept_owner = set;
	return set;
}

int
lb_clients_add_listener(struct lb_clients *set,
    struct evhttp_bound_socket		  *bound)
{
	struct evconnlistener **p, *lev;

	lev = evhttp_bound_socket_get_listener(bound);
	p = reallocarray(set->listeners, set->n_listeners + 1, sizeof(*p));
	if (p == NULL)
		return -1;
	set->listeners = p;
	set->listeners[set->n_listeners++] = lev;
	evconnlistener_set_error_cb(lev, accept_error);
	return 0;
}

void
lb_clients_drop_listeners(struct lb_clients *set)
{
	free(set->listeners);
	set->listeners = NULL;
	set->n_listeners = 0;
}

void
lb_clients_free(struct lb_clients *set)
{
	if (set == NULL)
		return;
	while (!TAILQ_EMPTY(&set->list))
		client_free(TAILQ_FIRST(&set->list));
	while (!TAILQ_EMPTY(&set->dead))
		client_free(TAILQ_FIRST(&set->dead));
	if (set->sweep != NULL)
		event_free(set->sweep);
	if (set->reap != NULL)
		event_free(set->reap);
	free(set->by_fd);
	free(set->listeners);
	if (accept_owner == set)
		accept_owner = NULL;
	free(set);
}

unsigned
lb_clients_count(const struct lb_clients *set)
{
	return set->n;
}

/* The record of the connection BEV is for, if it has one yet. */
static struct lb_client *
client_of_bev(struct lb_clients *set, struct bufferevent *bev)
{
	int fd = bufferevent_getfd(bev);

	if (set == NULL || fd < 0 || (size_t)fd >= set->n_by_fd)
		return NULL;
	return set->by_fd[fd];
}

static struct lb_client *
client_of(struct lb_clients *set, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon == NULL)
		return NULL;
	return client_of_bev(set, evhttp_connection_get_bufferevent(evcon));
}

void
lb_clients_reading(struct lb_clients *set, struct bufferevent *bev)
{
	struct lb_client *c = client_of_bev(set, bev);

	if (c != NULL)
		watch_first(c);
}

void
lb_clients_busy(struct lb_clients *set, struct evhttp_request *req,
    void (*gone)(struct evhttp_connection *, void *), void    *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct lb_client	 *c = client_of(set, req);

	if (c == NULL) {
		/* Not watched (out of memory when it came): evhttp's hook. */
		if (evcon != NULL)
			evhttp_connection_set_closecb(evcon, gone, arg);
		return;
	}
	c->busy = true;
	c->gone = gone;
	c->gone_arg = arg;
	if (c->evcon == NULL) {
		c->evcon = evcon;
		evhttp_connection_set_closecb(evcon, client_closing, c);
	}
}

void
lb_clients_idle(struct lb_clients *set, struct evhttp_request *req)
{
	struct lb_client *c = client_of(set, req);

	if (c == NULL) {
		struct evhttp_connection *evcon;

		if ((evcon = evhttp_request_get_connection(req)) != NULL)
			evhttp_connection_set_closecb(evcon, NULL, NULL);
		return;
	}
	c->busy = false;
	c->gone = NULL;
	if (c->failed != 0)
		/* evhttp closes after an answer that says so. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
}

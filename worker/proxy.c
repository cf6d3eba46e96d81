/*
 * worker/proxy.c -- the exchange: one client request in, one origin
 * response out (SPEC section 4).
 *
 * worker/client.c hands over a request as soon as its head is complete
 * (lb_proxy_request). We check it, route it, run the firewall and the
 * rewrites, then forward it over a pooled keep-alive connection that we
 * drive ourselves (worker/pool.h), stream the request body to the origin
 * as the client sends it, and stream the answer back, each way with
 * backpressure: past a high-water mark on one side we stop taking from
 * the other until it drains.
 *
 * A request's state lives in one struct preq, freed in one place
 * (preq_free). Every path ends in exactly one of: an answer of our own
 * (finish_error), the end of the origin's answer (finish_ok), a cut
 * (client_abort), a tunnel handed to the client side (101), or the
 * client went away first (client_gone).
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/addr.h"
#include "common/body.h"
#include "common/http.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "common/str.h"
#include "common/uri.h"
#include "config/routes.h"
#include "worker/access_log.h"
#include "worker/client.h"
#include "worker/decide.h"
#include "worker/proxy.h"
#include "worker/rules.h"

#define ORIGIN_HIGH_WATER (256 * 1024) /* request body queued to send */
#define REPLAY_MAX	  (64 * 1024)  /* body kept for a resend */
#define POOL_MAX_IDLE	  256	       /* idle connections per server */
#define POOL_IDLE_MS	  30000	       /* below common origin keep-alives */

/*
 * Splicing: the long body of a plain response with a Content-Length goes
 * from the origin's socket into a pipe and from the pipe to the client's
 * socket (splice(2)), so the kernel hands pages along and the worker never
 * copies the bytes in and out: on a 1 MiB answer that copying was 40% of
 * the worker's time. Only from where nothing else is waiting to be written
 * to the client, and only while more than SPLICE_TAIL bytes remain: the
 * last ones take the usual way, for finish_ok writes them after counting
 * the request. TLS on either side, chunked framing, or a short body: the
 * usual way throughout.
 */
#define SPLICE_MIN  (128 * 1024)  /* body left for a splice to start */
#define SPLICE_TAIL (16 * 1024)	  /* the end of a body: not spliced */
#define SPLICE_PIPE (1024 * 1024) /* pipe size asked for */

enum preq_state {
	PR_CONNECTING, /* new connection, not yet established */
	PR_WAITING,    /* request sent (or being sent), head pending */
	PR_BODY,       /* reply started to the client */
};

struct preq {
	struct lb_proxy	      *px;
	struct lb_client      *c;  /* NULL once the client let go */
	struct lb_request     *rq; /* the client's; valid while c is */
	const struct lb_route *route;
	struct lb_upstream    *up;
	struct lb_peer	      *peer; /* picked; NULL between attempts */
	struct lb_conn	      *conn; /* owned while we use it */

	struct lb_fwd	 fwd;	 /* what the forwarded head is made of */
	char		*path;	 /* owned; rewritten */
	char		*query;	 /* owned; rewritten, or NULL */
	char		*host;	 /* owned; the authority of an
				    absolute-form target, or NULL */
	struct lb_body	 resp;	 /* the origin's body framing */
	struct evbuffer *replay; /* owned; body sent so far, for a resend;
				    NULL when there is none or it is gone */

	struct lb_peer *pin;	/* sticky: the cookie's server, to try
				   first; NULL once tried or without */
	struct lb_peer *cookie; /* sticky: the server the client's cookie
				   names, or NULL */
	bool	       *tried;	/* per peer: tried_small or owned */
	bool		tried_small[16];
	bool		idempotent;
	bool		head_only; /* HEAD: no response body */
	bool		reused;	   /* conn came from the pool */
	bool		resent;	   /* the stale-connection resend is used */
	bool		got_byte;  /* the origin sent something */
	bool		paused;	   /* origin reads off: client is slow */
	bool		keepalive; /* conn reusable after this response */
	bool		sending;   /* the request went out on conn */
	bool		body_sent; /* all of the request body went out */
	bool		tunnel; /* a 101 to an upgrade: tunnel after the head */
	enum preq_state state;
	int		fail_status;	 /* if no server is left: 503/504/502 */
	int		status;		 /* what the client got, once known */
	int		upstream_status; /* what the origin said */
	uint64_t	bytes;		 /* body bytes passed to the client */
	struct lb_pipe	pipe;		 /* splicing: owned, else fd -1 */
	size_t		pipe_len;	 /* bytes in it */
	uint64_t	splice_left;	 /* body bytes still to splice */
	int64_t		start_us;
	int64_t		upstream_us; /* when the last attempt started */
	const char     *upstream;    /* addrstr of the last server tried */
};

static void attempt(struct preq *);
static void pump(struct preq *);
static void splice_step(struct preq *);
static void client_abort(struct preq *);
static void body_pump(struct preq *);

/* ---------------------------------------------------------- methods */

/*
 * Methods that may be sent again (RFC 9110 section 9.2.2); CONNECT is
 * refused (no CONNECT tunnels here). Any other token is forwarded.
 */
static bool
method_is(const struct lb_request *rq, const char *m)
{
	return strcmp(rq->method, m) == 0;
}

static bool
idempotent(const struct lb_request *rq)
{
	static const char *const idem[] = { "GET", "HEAD", "PUT", "DELETE",
		"OPTIONS", "TRACE" };

	for (size_t i = 0; i < sizeof(idem) / sizeof(idem[0]); i++)
		if (method_is(rq, idem[i]))
			return true;
	return false;
}

/* The value of the client's header NAME, or NULL. */
static const char *
header(const struct lb_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_hdrs; i++)
		if (strcasecmp(rq->hdrs[i].name, name) == 0)
			return rq->hdrs[i].value;
	return NULL;
}

/* ------------------------------------------------------- request IDs */

/*
 * The worker's generator of request IDs (xorshift128+), seeded from the
 * kernel's entropy in lb_proxy_init, after the fork: 128 bits an ID, not
 * a system call each. They must not repeat, not be secret.
 */
static uint64_t rid_state[2];

static uint64_t
rid_next(void)
{
	uint64_t a = rid_state[0], b = rid_state[1];

	rid_state[0] = b;
	a ^= a << 23;
	rid_state[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return rid_state[1] + b;
}

/* A client's ID is kept if it is 1-200 visible ASCII characters. */
static bool
rid_valid(const char *v)
{
	size_t n = 0;

	for (; v[n] != '\0'; n++)
		if (v[n] <= 0x20 || v[n] >= 0x7f || n >= 200)
			return false;
	return n > 0;
}

/* Give RQ its ID: the client's under NAME when valid, else a new one. */
static void
request_id(struct lb_request *rq, const char *name)
{
	static const char hex[] = "0123456789abcdef";
	const char	 *v = NULL;
	uint64_t	  r[2];

	rq->request_id_name = name;
	for (size_t i = 0; i < rq->n_hdrs; i++)
		if (strcasecmp(rq->hdrs[i].name, name) == 0) {
			/* Two of them: neither is the request's. */
			v = v == NULL ? rq->hdrs[i].value : "";
		}
	if (v != NULL && rid_valid(v)) {
		rq->request_id = v;
		return;
	}
	r[0] = rid_next();
	r[1] = rid_next();
	for (size_t i = 0; i < 32; i++)
		rq->rid[i] = hex[(r[i / 16] >> (60 - 4 * (i % 16))) & 0xf];
	rq->rid[32] = '\0';
	rq->request_id = rq->rid;
}

/* ----------------------------------------------------------- sticky */

/*
 * A server's sticky cookie value: a hash, keyed with the master's secret
 * (shm->sticky_key, kept across reloads), of the route's label and the
 * server as written, resolved, and ranked among its namesakes. It names
 * the server without revealing its address, and stays the same across a
 * reload that keeps both.
 */
static void
sticky_id(const struct lb_route *r, size_t j, uint64_t key, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	const char	 *parts[3] = { r->label, r->servers[j].name,
		      r->servers[j].addrstr };
	uint64_t	  h = 0xcbf29ce484222325ULL ^ key, rank = 0;

	for (size_t i = 0; i < j; i++)
		if (strcmp(r->servers[i].addrstr, r->servers[j].addrstr) == 0)
			rank++;
	for (size_t i = 0; i < 3; i++)
		for (const char *s = parts[i];; s++) {
			h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
			if (*s == '\0')
				break;
		}
	h = (h ^ rank) * 0x100000001b3ULL;
	h ^= key >> 7;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	for (size_t i = 0; i < 16; i++)
		out[i] = hex[(h >> (60 - 4 * i)) & 0xf];
	out[16] = '\0';
}

/* The value of cookie NAME in the client's Cookie headers, into OUT. */
static bool
cookie_value(const struct lb_request *rq, const char *name, char *out,
    size_t outlen)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < rq->n_hdrs; i++) {
		const char *v = rq->hdrs[i].value;

		if (strcasecmp(rq->hdrs[i].name, "Cookie") != 0)
			continue;
		while (*v != '\0') {
			const char *end = strchr(v, ';');
			size_t	    len;

			while (*v == ' ' || *v == '\t')
				v++;
			if (end == NULL)
				end = v + strlen(v);
			if ((size_t)(end - v) > nlen && v[nlen] == '=' &&
			    memcmp(v, name, nlen) == 0) {
				v += nlen + 1;
				len = (size_t)(end - v);
				while (len > 0 &&
				    (v[len - 1] == ' ' || v[len - 1] == '\t'))
					len--;
				if (len >= outlen)
					return false;
				memcpy(out, v, len);
				out[len] = '\0';
				return true;
			}
			v = *end == ';' ? end + 1 : end;
		}
	}
	return false;
}

/* The server P's client asks for with its cookie, if any: p->pin. */
static void
sticky_pin(struct preq *p)
{
	char v[32];

	if (!cookie_value(p->rq, p->route->sticky_cookie, v, sizeof(v)))
		return;
	for (size_t i = 0; i < p->up->n_peers; i++)
		if (strcmp(p->px->sticky_ids[p->up->peers[i].srv->id], v) ==
		    0) {
			p->pin = p->cookie = &p->up->peers[i];
			return;
		}
}

/* ------------------------------------------------------- accounting */

/*
 * Account for a finished request, once: the route's status counters, the
 * latency histogram and the access log. P is NULL for requests answered
 * before one was made (400, 403, 404...); RQ is NULL when even the head
 * could not be read.
 */
static void
request_done(struct lb_proxy *px, const struct lb_request *rq,
    const struct sockaddr *sa, const struct lb_route *route,
    const struct preq *p, int status, uint64_t bytes)
{
	struct lb_access a;
	int64_t		 now = lb_now_us();
	int64_t		 start = p != NULL ? p->start_us :
		     rq != NULL		   ? rq->start_us :
					     now;
	int		 cls = status / 100;
	char		 ip[LB_ADDRSTRLEN];

	if (px->shm != NULL) {
		struct lb_shm_route *rt = &px->shm->routes[route != NULL ?
			route->id :
			px->shm->n_routes];

		lb_shm_count(px->shm, px->slot,
		    &rt->codes[cls >= 1 && cls <= 5 ? cls - 1 : 5], 1);
		lb_shm_observe(px->shm, px->slot, now - start);
	}
	if (!lb_access_log_enabled())
		return;
	memset(&a, 0, sizeof(a));
	if (rq != NULL) {
		a.client_ip = rq->client_ip;
		a.method = rq->method;
		a.target = rq->target;
		a.http_minor = (int)rq->minor;
		a.referer = header(rq, "Referer");
		a.user_agent = header(rq, "User-Agent");
		a.tls = rq->tls;
		a.sni = rq->sni;
		a.request_id = rq->request_id;
		a.traceparent = header(rq, "traceparent");
	} else {
		lb_strlcpy(ip, "-", sizeof(ip));
		if (sa != NULL)
			lb_addr_format_host(sa, ip, sizeof(ip));
		a.client_ip = ip;
		a.method = "-";
		a.target = "-";
		a.http_minor = 1;
	}
	a.route = route != NULL ? route->label : NULL;
	a.status = status;
	a.bytes = bytes;
	a.upstream = p != NULL ? p->upstream : NULL;
	a.upstream_status = p != NULL ? p->upstream_status : 0;
	a.rt_us = now - start;
	a.urt_us = p != NULL && p->upstream != NULL ? now - p->upstream_us : -1;
	lb_access_log_write(&a);
}

/* The text body lbmaster answers STATUS with, as client.c sends it. */
static uint64_t
reply_bytes(const struct lb_request *rq, int status)
{
	if (rq != NULL && method_is(rq, "HEAD"))
		return 0;
	return strlen(lb_client_reply_text(status)) + 1; /* and a newline */
}

void
lb_proxy_refused(struct lb_proxy *px, const struct lb_request *rq,
    const struct sockaddr *sa, int status)
{
	request_done(px, rq, sa,
	    lb_decide_host_route(px->cfg, rq ? rq->host : NULL), NULL, status,
	    reply_bytes(rq, status));
}

/*
 * Does the rate limit of ROUTE let RQ pass? Spends one request of its
 * key when it does; when not, RQ gets the seconds to wait.
 */
static bool
rate_ok(struct lb_proxy *px, struct lb_request *rq,
    const struct lb_route *route)
{
	const struct lb_rate_limit *rl = &route->rate_limit;
	struct lb_rl		   *t;
	const char		   *v = NULL;
	uint64_t		    key, wait_ns = 0;

	if (!rl->enabled || px->shm == NULL || rl->id >= px->shm->n_limits ||
	    (t = px->shm->limits[rl->id]) == NULL)
		return true;
	if (rl->key == LB_RL_KEY_HEADER)
		v = header(rq, rl->header);
	if (v != NULL)
		key = lb_rl_key(t, 'h', v, strlen(v));
	else
		key = lb_rl_key(t, 'a', rq->client_ip, strlen(rq->client_ip));
	switch (lb_rl_take(t, key, lb_rl_now_ns(), &wait_ns)) {
	case LB_RL_PASS:
		return true;
	case LB_RL_FULL:
		lb_shm_count(px->shm, px->slot, &px->shm->totals->limit_full,
		    1);
		return true;
	case LB_RL_LIMITED:
		break;
	}
	lb_shm_count(px->shm, px->slot, &px->shm->routes[route->id].limited, 1);
	/* Whole seconds, rounded up: "now" would be a lie. */
	rq->retry_after = (unsigned)((wait_ns + 999999999) / 1000000000);
	if (rq->retry_after == 0)
		rq->retry_after = 1;
	return false;
}

/* Answer a request that never reached a backend. */
static void
reply_early(struct lb_proxy *px, struct lb_request *rq,
    const struct lb_route *route, int code, bool close)
{
	request_done(px, rq, rq->peer, route, NULL, code,
	    reply_bytes(rq, code));
	lb_client_reply(rq->client, code, close);
}

void
lb_proxy_tunnel_opened(struct lb_proxy *px)
{
	px->inflight++;
	if (px->shm != NULL)
		lb_shm_share_add(lb_shm_tunnel_share(px->shm, px->slot), 1);
}

void
lb_proxy_tunnel_closed(struct lb_proxy *px)
{
	if (px->shm != NULL)
		lb_shm_share_add(lb_shm_tunnel_share(px->shm, px->slot), -1);
	if (--px->inflight == 0 && px->draining && px->idle_cb != NULL)
		px->idle_cb(px->idle_arg);
}

/* ------------------------------------------------------ preq life */

/*
 * Close the connection to the origin (it is in no state to be reused) and
 * tell the balancer the request on that peer is over, FAILED or not.
 */
static void
drop_peer(struct preq *p, bool failed)
{
	if (p->conn != NULL) {
		lb_conn_free(p->conn);
		p->conn = NULL;
	}
	if (p->peer != NULL) {
		lb_upstream_done(p->up, p->peer, failed);
		p->peer = NULL;
	}
}

/* ------------------------------------------------------- splicing */

/* Close both ends of P and mark it as none. */
static void
pipe_close(struct lb_pipe *p)
{
	close(p->fd[0]);
	close(p->fd[1]);
	p->fd[0] = p->fd[1] = -1;
}

/* Close pipe P, or keep it for the next splice if it is EMPTY. */
static void
pipe_put(struct lb_proxy *px, struct lb_pipe *p, bool empty)
{
	if (p->fd[0] == -1)
		return;
	if (empty && px->n_pipes < sizeof(px->pipes) / sizeof(px->pipes[0])) {
		px->pipes[px->n_pipes++] = *p;
		p->fd[0] = p->fd[1] = -1;
	} else {
		pipe_close(p);
	}
}

/* An empty pipe into P, a kept one or a new one; false if none. */
static bool
pipe_get(struct lb_proxy *px, struct lb_pipe *p)
{
	int size;

	if (px->n_pipes > 0) {
		*p = px->pipes[--px->n_pipes];
		return true;
	}
	if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) == -1) {
		p->fd[0] = p->fd[1] = -1;
		return false;
	}
	/* Refused past fs.pipe-max-size: the default size then. */
	(void)fcntl(p->fd[1], F_SETPIPE_SZ, SPLICE_PIPE);
	if ((size = fcntl(p->fd[1], F_GETPIPE_SZ)) <= 0) {
		pipe_close(p);
		return false;
	}
	p->cap = (size_t)size;
	return true;
}

/* Stop reading the origin: the client is behind. */
static void
origin_pause(struct preq *p)
{
	if (!p->paused) {
		p->paused = true;
		lb_conn_read_stop(p->conn);
	}
}

/* Read the origin again; false if it was not paused. */
static bool
origin_resume(struct preq *p)
{
	if (!p->paused)
		return false;
	p->paused = false;
	lb_conn_read(p->conn, &p->px->backend_tv);
	return true;
}

/*
 * Splice the rest of the body but its tail, if the origin has sent no
 * more than was passed on, nothing waits for the client, and both sides
 * are plain sockets. true: splicing, splice_step goes on.
 */
static bool
splice_start(struct preq *p)
{
	if (p->state != PR_BODY || p->resp.framing != LB_BODY_LENGTH ||
	    lb_body_done(&p->resp) || p->resp.remaining < SPLICE_MIN ||
	    p->conn->ssl != NULL || evbuffer_get_length(p->conn->in) > 0 ||
	    !lb_client_can_splice(p->c))
		return false;
	if (!pipe_get(p->px, &p->pipe))
		return false;
	p->pipe_len = 0;
	p->splice_left = p->resp.remaining - SPLICE_TAIL;
	p->conn->splice = true;
	splice_step(p);
	return true;
}

/* All but the tail went: back to reading into the buffer. */
static void
splice_end(struct preq *p)
{
	pipe_put(p->px, &p->pipe, true);
	p->conn->splice = false;
	(void)origin_resume(p);
}

/*
 * Move what the pipe holds to the client, then what the origin has sent
 * into the pipe, until one side must wait: the client (it says when it
 * can take more: client_drained) or the origin (LB_CONN_READ). The origin
 * is not read while the pipe is not empty.
 */
static void
splice_step(struct preq *p)
{
	for (;;) {
		ssize_t n;

		if (p->pipe_len > 0) {
			if ((n = lb_client_splice(p->c, p->pipe.fd[0],
				 p->pipe_len)) == -1)
				return; /* client_gone follows */
			p->pipe_len -= (size_t)n;
			if (p->pipe_len > 0) {
				origin_pause(p);
				return;
			}
		}
		if (p->splice_left == 0) {
			splice_end(p);
			return;
		}
		n = splice(p->conn->fd, NULL, p->pipe.fd[1], NULL,
		    p->splice_left < p->pipe.cap ? p->splice_left : p->pipe.cap,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			p->splice_left -= (uint64_t)n;
			p->pipe_len = (size_t)n;
			p->bytes += (uint64_t)n;
			(void)lb_body_passed(&p->resp, (uint64_t)n);
			if (p->px->shm != NULL)
				lb_shm_count(p->px->shm, p->px->slot,
				    &p->px->shm->totals->spliced, (uint64_t)n);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			(void)origin_resume(p);
			return;
		}
		log_warnx("%s: %s %s in the middle of the body",
		    p->route->label, p->peer->srv->addrstr,
		    n == 0 ? "closed" : strerror(errno));
		client_abort(p);
		return;
	}
}

static void
preq_free(struct preq *p)
{
	struct lb_proxy *px = p->px;

	drop_peer(p, false);
	pipe_put(px, &p->pipe, p->pipe_len == 0);
	if (p->tried != p->tried_small)
		free(p->tried);
	if (p->replay != NULL)
		evbuffer_free(p->replay);
	free(p->path);
	free(p->query);
	free(p->host);
	free(p);
	if (--px->inflight == 0 && px->draining && px->idle_cb != NULL)
		px->idle_cb(px->idle_arg);
}

/* Nothing was sent to the client yet: answer CODE and forget it. */
static void
finish_error(struct preq *p, int code)
{
	p->status = code;
	request_done(p->px, p->rq, p->rq->peer, p->route, p, code,
	    reply_bytes(p->rq, code));
	lb_client_reply(p->c, code, false);
	preq_free(p);
}

/* The origin's reply was all passed on. */
static void
finish_ok(struct preq *p)
{
	struct lb_conn *c = p->conn;

	p->conn = NULL;
	/* An origin still reading our body cannot take the next request. */
	if (p->keepalive && p->body_sent)
		lb_pool_put(c); /* closed if anything is left unread */
	else
		lb_conn_free(c);
	request_done(p->px, p->rq, p->rq->peer, p->route, p, p->status,
	    p->bytes);
	lb_client_end(p->c);
	preq_free(p);
}

/*
 * The reply is under way and cannot be completed: close the client's
 * connection so that it sees a truncated response, never a complete one.
 */
static void
client_abort(struct preq *p)
{
	drop_peer(p, true);
	request_done(p->px, p->rq, p->rq->peer, p->route, p, p->status,
	    p->bytes);
	lb_client_abort(p->c);
	preq_free(p);
}

/*
 * The client side lets go: the client went away (STATUS 0), or its body
 * was malformed, too large or too slow (STATUS 400, 413, 408), or
 * shutdown_timeout cut the request (503), which the client side answers
 * itself. Either way nothing more is sent to it.
 */
static void
client_gone(void *arg, int status)
{
	struct preq *p = arg;
	uint64_t     bytes = p->bytes; /* 0 until an answer begins */

	if (status == 0) {
		/* 499, as nginx says it: the client closed before any answer. */
		status = p->status != 0 ? p->status : 499;
		log_debug("client %s went away during the request",
		    p->rq->client_ip);
	} else if (p->status == 0) {
		bytes = reply_bytes(p->rq, status); /* the client side's */
	}
	request_done(p->px, p->rq, p->rq->peer, p->route, p, status, bytes);
	p->c = NULL;
	drop_peer(p, false);
	preq_free(p);
}

/* More of the request body waits at the client. */
static void
client_body(void *arg)
{
	struct preq *p = arg;

	body_pump(p);
}

/* The client took most of what we wrote: read the origin again. */
static void
client_drained(void *arg)
{
	struct preq *p = arg;

	if (p->conn == NULL)
		return;
	if (p->pipe.fd[0] != -1)
		splice_step(p);
	else if (origin_resume(p))
		pump(p);
}

static const struct lb_client_ops client_ops = {
	.body = client_body,
	.drained = client_drained,
	.gone = client_gone,
};

/* ------------------------------------------------------ upstream */

static void
mark_down(struct preq *p)
{
	/*
	 * With active checks it stays down for every worker until the
	 * checker sees it answer (worker/checker.c lifts the mark); without,
	 * it is tried again after a while.
	 */
	atomic_store(&p->peer->st->down_until,
	    p->route->health.enabled ? INT64_MAX :
				       lb_now_ms() + LB_SHM_PASSIVE_MS);
}

/* This peer failed; count it, and try the next one if any. */
static void
next_server(struct preq *p, int status, bool passive_down)
{
	if (passive_down)
		mark_down(p);
	p->tried[p->peer->index] = true;
	drop_peer(p, true);
	p->fail_status = status;
	attempt(p);
}

/*
 * Can the request be sent again, on another connection or server? Only
 * before any of its body left the client side for good: a body is kept
 * (replay) up to REPLAY_MAX bytes, and only for idempotent methods.
 */
static bool
can_resend(const struct preq *p)
{
	return p->rq->body == LB_BODY_NONE || p->replay != NULL;
}

/* Append a copy of everything SRC holds to DST. */
static void
copy_buffer(struct evbuffer *dst, struct evbuffer *src)
{
	struct evbuffer_ptr   pos;
	struct evbuffer_iovec v;

	if (evbuffer_ptr_set(src, &pos, 0, EVBUFFER_PTR_SET) == -1)
		return;
	while (evbuffer_peek(src, -1, &pos, &v, 1) == 1 && v.iov_len > 0) {
		evbuffer_add(dst, v.iov_base, v.iov_len);
		if (evbuffer_ptr_set(src, &pos, v.iov_len, EVBUFFER_PTR_ADD) ==
		    -1)
			break;
	}
}

/*
 * Move request body from the client to the origin while the origin's
 * socket keeps up (ORIGIN_HIGH_WATER); the client side reads its socket
 * again as we take from it.
 */
static void
body_pump(struct preq *p)
{
	struct evbuffer *out, *scratch = p->px->scratch;
	size_t		 n, queued;

	if (p->conn == NULL || !p->sending || p->body_sent)
		return;
	out = p->conn->out;
	for (;;) {
		queued = evbuffer_get_length(out);
		if (queued >= ORIGIN_HIGH_WATER) {
			/*
			 * Write now: if the socket takes it all, no
			 * LB_CONN_DRAINED would come to call us again.
			 */
			lb_conn_write(p->conn, &p->px->backend_tv);
			if ((queued = evbuffer_get_length(out)) >=
			    ORIGIN_HIGH_WATER)
				break;
		}
		n = lb_client_body_take(p->c, scratch,
		    ORIGIN_HIGH_WATER - queued, p->fwd.chunked);
		if (p->replay != NULL) {
			if (evbuffer_get_length(p->replay) +
				evbuffer_get_length(scratch) >
			    REPLAY_MAX) {
				evbuffer_free(p->replay);
				p->replay = NULL;
			} else {
				copy_buffer(p->replay, scratch);
			}
		}
		evbuffer_add_buffer(out, scratch);
		if (lb_client_body_done(p->c)) {
			p->body_sent = true;
			break;
		}
		if (n == 0)
			break;
	}
	lb_conn_write(p->conn, &p->px->backend_tv);
}

static void
send_request(struct preq *p)
{
	struct evbuffer *out = p->conn->out;

	p->state = PR_WAITING;
	p->got_byte = false;
	p->sending = true;
	/*
	 * The head first, alone: the body of a long answer is then spliced
	 * from its start, not read in a 256 KiB burst with the head.
	 */
	p->conn->read_one = p->conn->ssl == NULL;
	if (lb_rules_request_head(out, p->route, p->peer->srv, &p->fwd) == -1) {
		log_warnx("out of memory building a request head");
		drop_peer(p, true);
		finish_error(p, 500);
		return;
	}
	if (p->rq->body != LB_BODY_NONE) {
		/* Again on a fresh connection: what was sent, then the rest. */
		if (p->replay != NULL)
			copy_buffer(out, p->replay);
		/* Routed, connected, about to forward: the client may send. */
		lb_client_continue(p->c);
		body_pump(p);
	} else {
		p->body_sent = true;
		lb_conn_write(p->conn, &p->px->backend_tv);
	}
	lb_conn_read(p->conn, &p->px->backend_tv);
}

/* Is the origin's header field H named NAME, LEN bytes (any case)? */
static bool
name_is_n(const struct lb_http_header *h, const char *name, size_t len)
{
	return len == h->name_len && strncasecmp(h->name, name, len) == 0;
}

#define name_is(h, lit) name_is_n((h), LB_LIT(lit))

/*
 * Whether the origin's header field H goes on to the client: not
 * hop-by-hop, not named by its Connection header (LIST, LIST_LEN bytes),
 * and Content-Length only when it delimits the body we pass on (HAVE_CL).
 */
static bool
forwarded(const struct lb_http_header *h, const char *list, size_t list_len,
    bool have_cl)
{
	return !lb_http_is_hop_by_hop_n(h->name, h->name_len) &&
	    (have_cl || !name_is(h, "Content-Length")) &&
	    !lb_http_list_has_n(list, list_len, h->name, h->name_len);
}

/* Decide how the origin's body is delimited and start the client reply. */
static int
start_reply(struct preq *p, const struct lb_http_response *r,
    const struct lb_http_header *h)
{
	const char	    *te = NULL, *cl = NULL, *conn = "";
	size_t		     te_len = 0, conn_len = 0;
	uint64_t	     length = 0;
	bool		     close = false, have_date = false;
	enum lb_body_framing framing, to_client;
	struct evbuffer	    *out;

	for (size_t i = 0; i < r->n_headers; i++) {
		if (name_is(&h[i], "Transfer-Encoding")) {
			te = h[i].value;
			te_len = h[i].value_len;
		} else if (name_is(&h[i], "Content-Length")) {
			uint64_t v;

			/* Two that differ: we cannot know where it ends. */
			if (lb_http_parse_content_length(h[i].value,
				h[i].value_len, &v) == -1 ||
			    (cl != NULL && v != length))
				return -1;
			cl = h[i].value;
			length = v;
		} else if (name_is(&h[i], "Connection")) {
			conn = h[i].value;
			conn_len = h[i].value_len;
		}
	}

	if (p->tunnel || p->head_only || r->status < 200 || r->status == 204 ||
	    r->status == 304) {
		framing = LB_BODY_NONE;
	} else if (te != NULL) {
		/* Chunked must be the last coding; anything else: until EOF. */
		size_t n = te_len;

		while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == '\t'))
			n--;
		if (n >= 7 && strncasecmp(te + n - 7, "chunked", 7) == 0 &&
		    (n == 7 || te[n - 8] == ',' || te[n - 8] == ' '))
			framing = LB_BODY_CHUNKED;
		else
			framing = LB_BODY_CLOSE;
		/*
		 * TE wins over CL, and a message with both must not leave a
		 * connection to be reused (RFC 9112 section 6.3).
		 */
		if (cl != NULL)
			close = true;
		cl = NULL;
	} else if (cl != NULL) {
		framing = LB_BODY_LENGTH;
	} else {
		framing = LB_BODY_CLOSE;
	}
	if (framing == LB_BODY_CLOSE || r->minor == 0)
		close = true;
	if (lb_http_list_has_n(conn, conn_len, LB_LIT("close")))
		close = true;
	else if (r->minor == 0 &&
	    lb_http_list_has_n(conn, conn_len, LB_LIT("keep-alive")))
		close = framing == LB_BODY_CLOSE;
	p->keepalive = !close;
	lb_body_init(&p->resp, framing, length);

	p->status = p->upstream_status = (int)r->status;
	p->state = PR_BODY;
	p->conn->read_one = false;
	out = lb_client_head_begin(p->c, (int)r->status, r->reason,
	    r->reason_len);
	for (size_t i = 0; i < r->n_headers; i++) {
		/* The switch itself is passed on as it is. */
		if (!(p->tunnel &&
			(name_is(&h[i], "Upgrade") ||
			    name_is(&h[i], "Connection"))) &&
		    !forwarded(&h[i], conn, conn_len, cl != NULL))
			continue;
		/* The request's ID is ours to say. */
		if (p->rq->request_id != NULL && !p->tunnel &&
		    name_is_n(&h[i], p->rq->request_id_name,
			strlen(p->rq->request_id_name)))
			continue;
		if (name_is(&h[i], "Date"))
			have_date = true;
		evbuffer_add(out, h[i].name, h[i].name_len);
		evbuffer_add(out, LB_LIT(": "));
		evbuffer_add(out, h[i].value, h[i].value_len);
		evbuffer_add(out, LB_LIT("\r\n"));
	}
	if (p->rq->request_id != NULL && !p->tunnel) {
		evbuffer_add(out, p->rq->request_id_name,
		    strlen(p->rq->request_id_name));
		evbuffer_add(out, LB_LIT(": "));
		evbuffer_add(out, p->rq->request_id, strlen(p->rq->request_id));
		evbuffer_add(out, LB_LIT("\r\n"));
	}
	/* Sticky: a client whose cookie does not name this server. */
	if (p->route->sticky_cookie != NULL && p->px->sticky_ids != NULL &&
	    !p->tunnel && p->cookie != p->peer)
		evbuffer_add_printf(out,
		    "Set-Cookie: %s=%s; Path=/; HttpOnly\r\n",
		    p->route->sticky_cookie,
		    p->px->sticky_ids[p->peer->srv->id]);
	/* What the client sees: chunked is re-framed, a length kept. */
	to_client = framing == LB_BODY_CHUNKED ? LB_BODY_CLOSE : framing;
	if (p->tunnel)
		lb_client_head_end_tunnel(p->c);
	else
		lb_client_head_end(p->c, to_client, have_date);
	return 0;
}

/* The origin switched protocols: the connection becomes a tunnel. */
static void
start_tunnel(struct preq *p)
{
	struct lb_conn *conn = p->conn;

	p->conn = NULL;
	request_done(p->px, p->rq, p->rq->peer, p->route, p, 101, 0);
	/* The peer's request is over for the balancer's counts. */
	lb_upstream_done(p->up, p->peer, false);
	p->peer = NULL;
	lb_client_tunnel(p->c, conn);
	p->c = NULL;
	preq_free(p);
}

/*
 * Parse the head at the front of DATA (LEN bytes): 0 more to come, -1
 * bad, else its length. The fields go to HDRS when they fit, else to a
 * table made for them, *HEAP (the caller frees it).
 */
static ssize_t
parse_head(const char *data, size_t len, struct lb_http_response *r,
    struct lb_http_header *hdrs, struct lb_http_header **heap)
{
	ssize_t n;

	n = lb_http_parse_response(data, len, r, hdrs, LB_HTTP_MAX_HEADERS);
	if (n != -1 || r->n_headers < LB_HTTP_MAX_HEADERS)
		return n;
	/* A head with more fields than the table: count, then store. */
	if ((n = lb_http_parse_response(data, len, r, NULL, 0)) <= 0)
		return n;
	if ((*heap = calloc(r->n_headers, sizeof(**heap))) == NULL)
		return -1;
	return lb_http_parse_response(data, len, r, *heap, r->n_headers);
}

/* Parse the head when it is all there; 1xx interim answers are skipped. */
static void
read_head(struct preq *p)
{
	struct evbuffer	       *in = p->conn->in;
	struct lb_http_header	stack[LB_HTTP_MAX_HEADERS], *heap;
	struct lb_http_response r;
	size_t			max = p->px->cfg->max_response_header_size;

	for (;;) {
		size_t	    len = evbuffer_get_length(in);
		ssize_t	    n;
		const char *data;
		int	    rc;

		if (len == 0)
			return;
		if (len > max)
			len = max;
		data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		heap = NULL;
		n = parse_head(data, len, &r, stack, &heap);
		if (n == 0 && len < max)
			return;
		if (n <= 0 || (r.status == 101 && !p->fwd.upgrade)) {
			free(heap);
			log_warnx("%s: %s from %s", p->route->label,
			    n == 0 ? "response head over "
				     "limits.max_response_header_size" :
				     "invalid response head",
			    p->peer->srv->addrstr);
			drop_peer(p, true);
			finish_error(p, 502);
			return;
		}
		if (r.status >= 100 && r.status < 200 && r.status != 101) {
			free(heap);
			evbuffer_drain(in, (size_t)n);
			continue;
		}
		p->tunnel = r.status == 101;
		rc = start_reply(p, &r, heap != NULL ? heap : stack);
		free(heap);
		if (rc == -1) {
			log_warnx("%s: unusable response head from %s",
			    p->route->label, p->peer->srv->addrstr);
			drop_peer(p, true);
			finish_error(p, 502);
			return;
		}
		evbuffer_drain(in, (size_t)n);
		if (p->tunnel) {
			start_tunnel(p);
			return;
		}
		pump(p);
		return;
	}
}

/*
 * Hand N bytes of the origin's body to the client; the client side writes
 * them at once unless LAST, which finish_ok writes after request_done, so
 * that a request is counted and logged before its client sees it end.
 */
static void
forward(struct preq *p, size_t n, bool last)
{
	p->bytes += n;
	lb_client_send(p->c, p->px->scratch, n, last);
}

/* Move what the origin sent to the client, as the framing says. */
static void
pump(struct preq *p)
{
	struct evbuffer *in = p->conn->in, *scratch = p->px->scratch;

	for (;;) {
		struct evbuffer_iovec v;
		size_t		      skip, data;
		enum lb_body_rc	      rc;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
			v.iov_base = NULL;
			v.iov_len = 0;
		}
		rc = lb_body_next(&p->resp, v.iov_base, v.iov_len, &skip,
		    &data);
		if (rc == LB_BODY_ERROR) {
			log_warnx("%s: invalid body from %s", p->route->label,
			    p->peer->srv->addrstr);
			client_abort(p);
			return;
		}
		evbuffer_drain(in, skip);
		if (rc == LB_BODY_DONE) {
			if (evbuffer_get_length(in) > 0)
				p->keepalive = false; /* stray bytes */
			finish_ok(p);
			return;
		}
		if (rc == LB_BODY_AGAIN) {
			if (skip == 0)
				break;
			continue;
		}
		evbuffer_remove_buffer(in, scratch, data);
		/* The last bytes of a length: finish_ok writes them. */
		forward(p, data,
		    p->resp.framing == LB_BODY_LENGTH &&
			lb_body_done(&p->resp));
	}
	if (splice_start(p))
		return;
	/* Backpressure: a slow client slows the origin, not our memory. */
	if (lb_client_pending(p->c) > LB_CLIENT_HIGH_WATER)
		origin_pause(p);
}

/* Everything the origin's connection has to say. */
static void
upstream_event(struct lb_conn *c, enum lb_conn_event what, void *arg)
{
	struct preq *p = arg;
	bool	     timeout = what == LB_CONN_TIMEOUT;

	switch (what) {
	case LB_CONN_CONNECTED:
		send_request(p);
		return;
	case LB_CONN_DRAINED:
		body_pump(p);
		return;
	case LB_CONN_READ:
		p->got_byte = true;
		if (p->state == PR_WAITING)
			read_head(p);
		else if (p->pipe.fd[0] != -1)
			splice_step(p);
		else
			pump(p);
		return;
	default:
		break;
	}
	switch (p->state) {
	case PR_CONNECTING:
		log_warnx("%s: connect to %s: %s", p->route->label,
		    p->peer->srv->addrstr,
		    timeout ? "timed out" : strerror(c->err));
		/*
		 * Refused or timed out: down for every worker at once. A
		 * TLS handshake that failed (EPROTO: a certificate that
		 * does not verify) is the origin's fault: 502.
		 */
		next_server(p,
		    timeout		 ? 504 :
			c->err == EPROTO ? 502 :
					   503,
		    true);
		return;
	case PR_WAITING:
		if (p->got_byte) {
			log_warnx("%s: %s closed in the middle of the response "
				  "head",
			    p->route->label, p->peer->srv->addrstr);
			drop_peer(p, true);
			finish_error(p, 502);
			return;
		}
		if (timeout) {
			log_warnx("%s: %s sent nothing within %lld ms",
			    p->route->label, p->peer->srv->addrstr,
			    (long long)p->px->backend_tv.tv_sec * 1000 +
				p->px->backend_tv.tv_usec / 1000);
			drop_peer(p, true);
			finish_error(p, 504);
			return;
		}
		if (p->reused && !p->resent && p->idempotent && can_resend(p)) {
			/*
			 * The origin closed an idle connection as we reused
			 * it: not its failure, and the request never reached
			 * it. Send it once more on a fresh connection.
			 */
			p->resent = true;
			p->reused = false;
			p->sending = false;
			p->body_sent = false;
			lb_conn_free(p->conn);
			p->conn = lb_pool_connect(&p->px->pools[p->peer->srv
								    ->id],
			    &p->px->connect_tv, upstream_event, p);
			if (p->conn == NULL) {
				next_server(p, 503, false);
				return;
			}
			p->state = PR_CONNECTING;
			return;
		}
		log_warnx("%s: %s failed before answering: %s", p->route->label,
		    p->peer->srv->addrstr,
		    what == LB_CONN_EOF ? "connection closed" :
					  strerror(c->err));
		if (p->idempotent && can_resend(p)) {
			p->sending = false;
			p->body_sent = false;
			next_server(p, 502, false);
			return;
		}
		drop_peer(p, true);
		finish_error(p, 502);
		return;
	case PR_BODY:
		if (p->resp.framing == LB_BODY_CLOSE && what == LB_CONN_EOF) {
			p->keepalive = false;
			pump(p); /* whatever is still buffered */
			if (p->c != NULL && p->conn != NULL) {
				p->resp.framing = LB_BODY_NONE;
				finish_ok(p);
			}
			return;
		}
		log_warnx("%s: %s %s in the middle of the body",
		    p->route->label, p->peer->srv->addrstr,
		    timeout ? "went silent" : "failed");
		client_abort(p);
		return;
	}
}

/* Pick a server and send the request to it, or answer that none is left. */
static void
attempt(struct preq *p)
{
	struct lb_pool *pool;

	for (;;) {
		p->peer = NULL;
		if (p->pin != NULL)
			p->peer = lb_upstream_take(p->up, p->pin, p->tried,
			    lb_now_ms());
		p->pin = NULL;
		if (p->peer == NULL)
			p->peer = lb_upstream_pick(p->up, p->rq->peer, p->tried,
			    lb_now_ms());
		if (p->peer == NULL) {
			finish_error(p, p->fail_status);
			return;
		}
		pool = &p->px->pools[p->peer->srv->id];
		p->upstream = p->peer->srv->addrstr;
		p->upstream_us = lb_now_us();
		if ((p->conn = lb_pool_take(pool, upstream_event, p)) != NULL) {
			p->reused = true;
			send_request(p);
			return;
		}
		p->reused = false;
		if ((p->conn = lb_pool_connect(pool, &p->px->connect_tv,
			 upstream_event, p)) != NULL) {
			p->state = PR_CONNECTING;
			return;
		}
		log_warn("%s: connect to %s", p->route->label,
		    p->peer->srv->addrstr);
		p->tried[p->peer->index] = true;
		drop_peer(p, true);
	}
}

/* ------------------------------------------------------- requests */

void
lb_proxy_request(struct lb_proxy *px, struct lb_request *rq)
{
	struct lb_decision d;
	struct preq	  *p = NULL;

	if (px->cfg->request_id != NULL)
		request_id(rq, px->cfg->request_id);
	if (lb_decide(px->cfg, rq->method, rq->target, rq->host, rq->peer,
		&d) == -1)
		goto oom;
	if (d.status == 0 && !rate_ok(px, rq, d.route))
		d.status = 429;
	if (d.status != 0) {
		reply_early(px, rq, d.route, d.status, d.status == 501);
		lb_decision_free(&d);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		lb_decision_free(&d);
		goto oom;
	}
	px->inflight++;
	p->px = px;
	p->c = rq->client;
	p->rq = rq;
	p->pipe.fd[0] = p->pipe.fd[1] = -1;
	p->route = d.route;
	p->up = &px->ups[d.route->id];
	p->fail_status = 503;
	p->idempotent = idempotent(rq);
	p->head_only = method_is(rq, "HEAD");
	p->start_us = rq->start_us;
	/* The decision's strings are the exchange's now. */
	p->path = d.path;
	p->query = d.query;
	p->host = d.host;
	p->tried = p->up->n_peers <=
		sizeof(p->tried_small) / sizeof(p->tried_small[0]) ?
	    p->tried_small :
	    calloc(p->up->n_peers, sizeof(*p->tried));
	if (p->idempotent && rq->body != LB_BODY_NONE)
		p->replay = evbuffer_new();
	if (p->tried == NULL ||
	    (p->idempotent && rq->body != LB_BODY_NONE && p->replay == NULL)) {
		preq_free(p);
		goto oom;
	}
	lb_decision_fwd(&d, rq->method, rq->hdrs, rq->n_hdrs,
	    rq->hop_ip != NULL ? rq->hop_ip : rq->client_ip, rq->host, &p->fwd);
	p->fwd.chunked = rq->body == LB_BODY_CHUNKED;
	p->fwd.body_len = rq->body == LB_BODY_LENGTH ? rq->body_len : 0;
	p->fwd.upgrade = rq->upgrade;
	p->fwd.https = rq->tls != NULL;
	p->fwd.client_subject = rq->client_subject;
	p->fwd.request_id_name = rq->request_id_name;
	p->fwd.request_id = rq->request_id;
	if (d.route->sticky_cookie != NULL && px->sticky_ids != NULL) {
		p->fwd.strip_cookie = d.route->sticky_cookie;
		sticky_pin(p);
	}

	lb_client_bind(p->c, &client_ops, p);
	attempt(p);
	return;
oom:
	log_warnx("out of memory handling a request");
	reply_early(px, rq, NULL, 500, true);
}

/* --------------------------------------------------------- set-up */

int
lb_proxy_init(struct lb_proxy *px, struct event_base *base,
    const struct lb_cfg *cfg, struct lb_shm *shm, unsigned slot, uint64_t seed)
{
	unsigned idle_ms = POOL_IDLE_MS;

	memset(px, 0, sizeof(*px));
	if (getentropy(rid_state, sizeof(rid_state)) == -1 ||
	    (rid_state[0] | rid_state[1]) == 0) {
		rid_state[0] = seed | 1;
		rid_state[1] = seed ^ (uint64_t)lb_now_us();
	}
	px->base = base;
	px->cfg = cfg;
	px->shm = shm;
	px->slot = slot;
	lb_tv_ms(&px->connect_tv, cfg->connect_timeout_ms);
	lb_tv_ms(&px->backend_tv, cfg->backend_timeout_ms);
	px->ups = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof(*px->ups));
	px->pools = calloc(cfg->n_servers ? cfg->n_servers : 1,
	    sizeof(*px->pools));
	px->scratch = evbuffer_new();
	if (px->ups == NULL || px->pools == NULL || px->scratch == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		if (r->sticky_cookie != NULL && px->sticky_ids == NULL &&
		    (px->sticky_ids = calloc(cfg->n_servers,
			 sizeof(*px->sticky_ids))) == NULL)
			goto fail;
		if (r->sticky_cookie != NULL)
			for (size_t s = 0; s < r->n_servers; s++)
				sticky_id(r, s,
				    shm != NULL ? shm->sticky_key : 0,
				    px->sticky_ids[r->servers[s].id]);
		if (lb_upstream_init(&px->ups[i], r, shm, slot, seed + i) == -1)
			goto fail;
		for (size_t s = 0; s < r->n_servers; s++)
			lb_pool_init(&px->pools[r->servers[s].id],
			    px->ups[i].peers[s].srv, base, POOL_MAX_IDLE,
			    idle_ms);
	}
	return 0;
fail:
	lb_proxy_fini(px);
	errno = ENOMEM;
	return -1;
}

void
lb_proxy_fini(struct lb_proxy *px)
{
	if (px->pools != NULL)
		for (size_t i = 0; i < px->cfg->n_servers; i++)
			if (px->pools[i].srv != NULL)
				lb_pool_fini(&px->pools[i]);
	if (px->ups != NULL)
		for (size_t i = 0; i < px->cfg->n_routes; i++)
			if (px->ups[i].peers != NULL)
				lb_upstream_fini(&px->ups[i]);
	free(px->pools);
	free(px->ups);
	free(px->sticky_ids);
	px->sticky_ids = NULL;
	if (px->scratch != NULL)
		evbuffer_free(px->scratch);
	while (px->n_pipes > 0)
		pipe_close(&px->pipes[--px->n_pipes]);
	px->pools = NULL;
	px->ups = NULL;
	px->scratch = NULL;
}

/*
 * worker/client.c -- lbmaster's HTTP/1.1 server connection (client.h).
 *
 * One record per connection (struct lb_client), one module that touches
 * it. The socket is driven directly, like the origin side (pool.h): a
 * persistent read event embedded in the record, whose timeout is the
 * deadline of whatever the connection waits for; a write event made only
 * when the socket first takes less than it is given. Answers are written
 * as soon as they are queued, so a small exchange costs one read and one
 * write on the client's socket and no epoll_ctl.
 *
 * A connection goes through these states:
 *
 *   IDLE ---first byte---> HEAD ---head complete---> EXCHANGE
 *     ^                                                 |
 *     +----------- answer complete, keep-alive ---------+
 *                                                       |-- 101 --> TUNNEL
 *   LINGER: an answer that closes was written; read and discard what the
 *   client still sends for a moment, so that its close does not reset the
 *   answer away (RFC 9112 section 9.6), then close.
 *
 * On a TLS listener a connection starts in HANDSHAKE, bounded by
 * timeouts.client, and goes to IDLE once it is done; from then on the
 * same states read and write through the SSL (worker/tls.h: cread,
 * cwrite, cshut below) instead of the socket.
 *
 * The request head goes through the strict scanner (common/reqscan.h)
 * byte by byte as it arrives; once it is complete it is copied out of the
 * input buffer, with its parsed fields, into one allocation (struct creq)
 * that lives until the exchange ends. The body is framed here
 * (common/body.h) and handed to the exchange on demand, so that an upload
 * streams with backpressure both ways: the client is read only while
 * less than IN_HIGH bytes wait in the input buffer, and the exchange takes
 * from it only while the origin's socket keeps up.
 *
 * An idle connection costs its record and two empty evbuffers; nothing
 * of a request outlives it.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/proxyproto.h"
#include "common/reqscan.h"
#include "common/shm.h"
#include "common/str.h"
#include "worker/client.h"
#include "worker/pool.h"
#include "worker/proxy.h"
#include "worker/tls.h"

#define ACCEPT_RETRY_MS 100	      /* after EMFILE and the like */
#define IN_HIGH		(256 * 1024)  /* stop reading the client past */
#define CREQ_SIZE	4096	      /* a request's first allocation */
#define LINGER_MS	2000	      /* lingering close, at most */
#define LINGER_BYTES	(1024 * 1024) /* and no more than this read */

enum cstate {
	CS_IDLE,     /* between requests */
	CS_HEAD,     /* a head in progress */
	CS_EXCHANGE, /* a request with the proxy, or being answered */
	CS_TUNNEL,   /* bytes both ways after a 101 */
	CS_LINGER,   /* answer written, our side shut: discard, then close */
	CS_HELLO,    /* TLS: the handshake, before the first request */
};

/*
 * One request, from the first byte of its head to the end of its answer,
 * in one allocation: made CREQ_SIZE bytes when the head begins, enough
 * for the fields and bytes of a common head, and grown only for a larger
 * one when it is complete.
 */
struct creq {
	struct lb_request	    r;
	struct lb_body		    body;
	const struct lb_client_ops *ops; /* the exchange's; NULL if none */
	void			   *x;
	uint64_t		    taken;	 /* body bytes taken */
	bool			    keepalive;	 /* the client allows it */
	bool			    continued;	 /* 100 Continue written */
	bool			    answering;	 /* head_begin was called */
	bool			    chunked_out; /* the answer is chunked */
	bool			    close_after; /* answer says close */
	char			    ip[LB_ADDRSTRLEN];
	/* The client that a trusted proxy's X-Forwarded-For names. */
	struct sockaddr_storage xff_sa;
	char			xff_ip[LB_ADDRSTRLEN];
	/* While the head comes (a connection between requests has none). */
	struct lb_reqscan scan;
	size_t		  scanned;	 /* bytes of `in` the scanner saw */
	int64_t		  head_deadline; /* lb_now_ms() */
	size_t		  size;		 /* of this allocation */
	/* then: hdrs[n_hdrs], the head's bytes */
};

struct tunnel {
	struct lb_conn *origin;	 /* owned */
	int64_t		last_ms; /* last byte either way */
	bool		client_eof, origin_eof;
	bool		client_shut, origin_shut; /* write sides shut */
};

struct lb_client {
	TAILQ_ENTRY(lb_client) entry;
	struct lb_clients *set;
	struct event	   rev; /* EV_READ | EV_PERSIST, always assigned */
	struct event	  *wev; /* made when first needed */
	struct evbuffer	  *in;	/* owned */
	struct evbuffer	  *out; /* owned */
	struct creq	  *req; /* the request in progress, or NULL */
	struct tunnel	  *tun; /* CS_TUNNEL */
	SSL		  *ssl; /* owned; NULL on a plain listener */
	int		   fd;
	enum cstate	   state;
	bool		   reading;	/* rev is added */
	bool		   eof;		/* the client shut its side */
	bool		   kick;	/* rev was activated to parse `in` */
	bool		   closing;	/* close once `out` is written */
	bool		   broken;	/* dead, to be freed (die) */
	bool		   refused;	/* answered by refuse(): linger */
	bool		   peeked;	/* TLS: first byte is a handshake's */
	bool		   splice_wait; /* writable: tell the exchange */
	bool		   corked;	/* TLS: TCP_CORK set for the close */
	int		   body_error;	/* 400/408/413: to answer (kick) */
	uint64_t	   lingered;	/* bytes discarded */
	char		  *subject;	/* owned: TLS client certificate's */
	unsigned	   redirect;	/* redirect_https's port, or 0 */

	bool proxy_wait; /* a PROXY header must come first */
	union {
		struct sockaddr	    sa;
		struct sockaddr_in  sin;
		struct sockaddr_in6 sin6;
	} peer; /* what a listener accepts; less than a sockaddr_storage */
};

/* A listening socket, and whether we accept on it (lb_clients_serve). */
struct listener {
	struct evconnlistener *lev; /* owned; closes the socket */
	bool		       serve;
	struct lb_tls_ctx     *tls;	 /* the config's, or NULL: plain */
	unsigned	       redirect; /* redirect_https's port, or 0 */

	bool proxy_protocol; /* its listen entry says so */
};

struct lb_clients {
	TAILQ_HEAD(, lb_client) list;
	struct event_base *base;
	struct lb_proxy	  *px;
	unsigned	   n;
	unsigned	   max; /* limits.max_connections */
	struct timeval	   client_tv, keepalive_tv, tunnel_tv, idle_tv;
	int64_t		   client_ms, tunnel_ms;
	uint64_t	   max_head;
	uint64_t	   max_body;  /* 0: none */
	struct listener	  *listeners; /* owned array */
	size_t		   n_listeners;
	bool		   paused; /* listeners off */
	bool		   draining;
	struct event	  *resume; /* EMFILE back-off */

	/* The generation's: which of its listeners are TLS. */
	const struct lb_cfg *cfg;
};

static void client_readable(evutil_socket_t, short, void *);
static void forwarded_client(struct lb_client *, struct creq *);
static void client_free(struct lb_client *);
static void process(struct lb_client *);
static void finish(struct lb_client *);

/* ------------------------------------------------------------ util */

/* Pause or resume accepting on the listeners we serve. */
static void
listeners_set(struct lb_clients *set, bool on)
{
	if (set->paused == !on)
		return;
	for (size_t i = 0; i < set->n_listeners; i++) {
		if (!set->listeners[i].serve)
			continue;
		if (on)
			evconnlistener_enable(set->listeners[i].lev);
		else
			evconnlistener_disable(set->listeners[i].lev);
	}
	set->paused = !on;
}

/* Read (again) with TV as the deadline; NULL: none. */
static void
read_on(struct lb_client *c, const struct timeval *tv)
{
	event_add(&c->rev, tv);
	c->reading = true;
}

static void
read_off(struct lb_client *c)
{
	if (c->reading) {
		event_del(&c->rev);
		c->reading = false;
	}
}

/* The transport: the socket itself, or the SSL on it. */
static ssize_t
cread(struct lb_client *c)
{
	if (c->ssl != NULL)
		return lb_tls_read(c->ssl, c->in);
	return lb_sock_read(c->fd, c->in);
}

/*
 * Write `out`. When it is the last we send before closing, the answer's
 * tail and our FIN leave in one segment (lb_sock_write's LAST): for a
 * "Connection: close" request, two segments fewer on the wire in all
 * (bench's close scenario, TcpOutSegs per request: 12.0 before, 10.0).
 * OpenSSL writes with write(2), without flags: there the socket is
 * corked instead, and the answer's record, the close_notify and the FIN
 * leave together when we close (or shut our side: the FIN uncorks).
 */
static int
cwrite(struct lb_client *c)
{
	if (c->ssl != NULL) {
		if (c->closing && !c->corked) {
			int on = 1;

			c->corked = true;
			(void)setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on,
			    sizeof(on));
		}
		return lb_tls_write(c->ssl, c->out);
	}
	return lb_sock_write(c->fd, c->out, c->closing);
}

/* Shut our side: close_notify first on TLS, then the socket's FIN. */
static void
cshut(struct lb_client *c)
{
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl))
		(void)SSL_shutdown(c->ssl);
	shutdown(c->fd, SHUT_WR);
}

/* ---------------------------------------------------------- output */

/*
 * The connection is dead. With an exchange bound we may be deep in its
 * call stack: it learns (gone) on this loop turn, from the read
 * callback, and meanwhile its calls on C do nothing. Returns -1.
 */
static int
die(struct lb_client *c)
{
	if (c->req == NULL || c->req->ops == NULL) {
		client_free(c);
		return -1;
	}
	c->broken = true;
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->kick = true;
	event_active(&c->rev, EV_READ, 1);
	return -1;
}

static void client_writable(evutil_socket_t, short, void *);
static int  tunnel_pump(struct lb_client *);
static void handshake(struct lb_client *, short);
static void add_reply_with(struct lb_client *, int, bool, const char *);

/*
 * Write what `out` holds now; what the socket does not take waits for
 * writability, bounded by the keep-alive timeout (a client that stops
 * reading is closed then). Returns -1 if C is done for: freed, or marked
 * to be (die), or closing after its answer.
 */
static int
flush(struct lb_client *c)
{
	if (evbuffer_get_length(c->out) == 0)
		goto done;
	if (c->broken)
		return -1;
	if (cwrite(c) == -1 && errno != EAGAIN && errno != EINTR) {
		log_debug("client %s: write: %s", c->req ? c->req->ip : "-",
		    strerror(errno));
		return die(c);
	}
	if (evbuffer_get_length(c->out) > 0) {
		if (c->wev == NULL &&
		    (c->wev = event_new(c->set->base, c->fd,
			 EV_WRITE | EV_PERSIST, client_writable, c)) == NULL)
			return die(c);
		event_add(c->wev, &c->set->idle_tv);
		return 0;
	}
	if (c->wev != NULL)
		event_del(c->wev);
done:
	if (c->closing) {
		finish(c);
		return -1;
	}
	return 0;
}

static void
client_writable(evutil_socket_t fd, short what, void *arg)
{
	struct lb_client *c = arg;
	struct creq	 *q = c->req;
	size_t		  before = evbuffer_get_length(c->out);

	if (what & EV_TIMEOUT) {
		log_debug("client stopped reading its answer");
		client_free(c);
		return;
	}
	if (c->state == CS_HELLO) {
		handshake(c, what);
		return;
	}
	if (c->splice_wait) { /* `out` is empty: the pipe waits */
		c->splice_wait = false;
		event_del(c->wev);
		if (q != NULL && q->ops != NULL)
			q->ops->drained(q->x);
		return;
	}
	if (flush(c) == -1)
		return;
	if (c->state == CS_TUNNEL) {
		/* Read the origin again; pass on its half-close if due. */
		(void)tunnel_pump(c);
		return;
	}
	if (before >= LB_CLIENT_HIGH_WATER / 2 &&
	    evbuffer_get_length(c->out) < LB_CLIENT_HIGH_WATER / 2 &&
	    q != NULL && q->ops != NULL)
		q->ops->drained(q->x);
}

/* ------------------------------------------------------- life, death */

/* Tell the exchange, if any, that the client is gone; forget it. */
static void
unbind(struct lb_client *c, int status)
{
	struct creq *q = c->req;

	if (q != NULL && q->ops != NULL) {
		const struct lb_client_ops *ops = q->ops;

		q->ops = NULL;
		ops->gone(q->x, status);
	}
}

static void
client_free(struct lb_client *c)
{
	struct lb_clients *set = c->set;

	unbind(c, 0);
	if (c->tun != NULL) {
		lb_conn_free(c->tun->origin);
		free(c->tun);
		lb_proxy_tunnel_closed(set->px);
	}
	event_del(&c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
	free(c->req);
	lb_tls_close(c->ssl, !c->broken && c->state != CS_LINGER);
	free(c->subject);
	close(c->fd);
	TAILQ_REMOVE(&set->list, c, entry);
	free(c);
	if (set->n-- >= set->max && !set->draining)
		listeners_set(set, true);
}

/*
 * Close after an answer: at once if the client has nothing more to say,
 * else shut our side and discard what it sends for a moment, so that its
 * bytes in flight do not make our kernel reset the connection (which can
 * destroy the answer in the client's receive buffer before it reads it).
 */
static void
finish(struct lb_client *c)
{
	struct timeval tv;

	c->closing = false;
	/*
	 * Linger only when the client may still be sending: bytes of its
	 * are waiting, its body was not read whole, or it was refused. A
	 * client that is done (the common "Connection: close" request)
	 * cannot make the kernel reset the answer: close at once, as
	 * nginx does, without the shutdown, wait and read.
	 */
	if (c->eof ||
	    (!c->refused && evbuffer_get_length(c->in) == 0 &&
		(c->req == NULL || lb_body_done(&c->req->body)))) {
		client_free(c);
		return;
	}
	free(c->req);
	c->req = NULL;
	cshut(c);
	c->state = CS_LINGER;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	lb_tv_ms(&tv, LINGER_MS);
	read_on(c, &tv);
}

static void
linger_read(struct lb_client *c, short what)
{
	ssize_t n;

	if (what & EV_TIMEOUT) {
		client_free(c);
		return;
	}
	n = lb_sock_read(c->fd, c->in);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || (c->lingered += (uint64_t)n) > LINGER_BYTES) {
		client_free(c);
		return;
	}
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
}

/* ------------------------------------------------------------- TLS */

/* What a request on C says of its TLS: the protocol, the SNI. */
static void
tls_fields(struct lb_client *c, struct lb_request *r)
{
	r->tls = c->ssl != NULL ? lb_tls_version(c->ssl) : NULL;
	r->sni = c->ssl != NULL ? lb_tls_sni(c->ssl) : NULL;
	r->client_subject = c->subject;
}

/*
 * A client that speaks plain HTTP to a TLS port gets a 400 that says so
 * (nginx's words), in plain HTTP, and is closed after a lingering read;
 * bytes that are neither a request nor a handshake are closed on at once.
 */
static void
plain_on_tls(struct lb_client *c, unsigned char first)
{
	static const char
	    msg[] = "The plain HTTP request was sent to an HTTPS port.\n";
	struct timeval tv;
	char	       head[256];
	int	       n;

	if (first < 'A' || first > 'Z') {
		log_debug("client: neither TLS nor HTTP on a TLS port");
		lb_tls_count(c->ssl, LB_TLS_FAILED);
		client_free(c);
		return;
	}
	log_debug("client: plain HTTP on a TLS port");
	lb_tls_count(c->ssl, LB_TLS_PLAIN);
	/* What it sent is read first, so that our close does not reset. */
	(void)lb_sock_read(c->fd, c->in);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    sizeof(msg) - 1);
	evbuffer_add(c->out, head, (size_t)n);
	evbuffer_add(c->out, msg, sizeof(msg) - 1);
	(void)lb_sock_write(c->fd, c->out, false); /* a few bytes: it fits */
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	shutdown(c->fd, SHUT_WR);
	c->state = CS_LINGER;
	lb_tv_ms(&tv, LINGER_MS);
	read_on(c, &tv);
}

/*
 * The TLS handshake, within timeouts.client from the accept. Its first
 * byte is looked at before OpenSSL reads it: plain HTTP is answered.
 */
static void
handshake(struct lb_client *c, short what)
{
	unsigned char first;
	ssize_t	      n;

	if (what & EV_TIMEOUT) {
		log_debug("client: TLS handshake not complete within "
			  "timeouts.client");
		lb_tls_count(c->ssl, LB_TLS_TIMEOUT);
		client_free(c);
		return;
	}
	if (!c->peeked) {
		n = recv(c->fd, &first, 1, MSG_PEEK);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_free(c);
			return;
		}
		if (first != 0x16) { /* a TLS handshake record */
			plain_on_tls(c, first);
			return;
		}
		c->peeked = true;
	}
	switch (lb_tls_handshake(c->ssl)) {
	case 0:
		if (c->wev != NULL)
			event_del(c->wev);
		return;
	case 2:
		/* Rare: the socket's buffer is full. Go on when it drains. */
		if (c->wev == NULL &&
		    (c->wev = event_new(c->set->base, c->fd,
			 EV_WRITE | EV_PERSIST, client_writable, c)) == NULL) {
			client_free(c);
			return;
		}
		event_add(c->wev, &c->set->client_tv);
		return;
	case -1:
		lb_tls_count(c->ssl, LB_TLS_FAILED);
		client_free(c);
		return;
	default:
		break;
	}
	lb_tls_count(c->ssl, LB_TLS_OK);
	if (c->wev != NULL)
		event_del(c->wev);
	c->subject = lb_tls_client_subject(c->ssl);
	c->state = CS_IDLE;
	read_on(c, &c->set->idle_tv);
	/* The request may have come with the client's Finished. */
	if (lb_tls_buffered(c->ssl))
		event_active(&c->rev, EV_READ, 1);
}

/*
 * redirect_https: every request is answered 308, to the same target over
 * HTTPS at the host it named (its port replaced); one that names no host
 * gets 400. The body, if any, is not read: the connection closes then.
 */
static void
redirect_https(struct lb_client *c)
{
	struct creq *q = c->req;
	const char  *host = q->r.host, *target = q->r.target, *p;
	char	     port[16] = "";
	char	    *loc;
	size_t	     hlen;
	int	     status = 308;

	if (host == NULL || *host == '\0')
		status = 400;
	else if (host[0] == '[')
		hlen = (p = strchr(host, ']')) != NULL ?
		    (size_t)(p - host) + 1 :
		    strlen(host);
	else
		hlen = strcspn(host, ":");
	/* absolute-form: the path that follows scheme and authority. */
	if (target[0] != '/' && (p = strstr(target, "://")) != NULL)
		target = (p = strchr(p + 3, '/')) != NULL ? p : "/";
	else if (target[0] != '/')
		target = "/"; /* OPTIONS * */
	if (c->redirect != 443)
		snprintf(port, sizeof(port), ":%u", c->redirect);
	if (status == 308 &&
	    asprintf(&loc, "Location: https://%.*s%s%s\r\n", (int)hlen, host,
		port, target) == -1)
		status = 500;
	lb_proxy_refused(c->set->px, &q->r, &c->peer.sa, status);
	if (status != 308) {
		lb_client_reply(c, status, true);
		return;
	}
	if (!q->keepalive || c->set->draining || !lb_body_done(&q->body))
		q->close_after = true;
	add_reply_with(c, status,
	    q->r.method_len == 4 && memcmp(q->r.method, "HEAD", 4) == 0, loc);
	free(loc);
	q->answering = true;
	lb_client_end(c);
}

/* --------------------------------------------------------- replies */

const char *
lb_client_reason(int code)
{
	switch (code) {
	case 100:
		return "Continue";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 417:
		return "Expectation Failed";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 499:
		return "Client Closed Request";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

/* "Date: <IMF-fixdate>\r\n" for now, formatted once a second. */
static const char *
date_line(size_t *len)
{
	static char   line[64];
	static size_t n;
	static time_t last = -1;
	time_t	      now = time(NULL);
	struct tm     tm;

	if (now != last && gmtime_r(&now, &tm) != NULL) {
		n = strftime(line, sizeof(line),
		    "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		last = now;
	}
	*len = n;
	return line;
}

struct evbuffer *
lb_client_head_begin(struct lb_client *c, int status, const char *reason,
    size_t reason_len)
{
	struct creq *q = c->req;
	char	     line[64] = "HTTP/1.1 ";
	size_t	     n = 9;

	/* By hand: snprintf was 0.6% of a small request's time. */
	q->answering = true;
	if (q->r.minor < 1)
		line[7] = '0';
	line[n++] = (char)('0' + status / 100 % 10);
	line[n++] = (char)('0' + status / 10 % 10);
	line[n++] = (char)('0' + status % 10);
	line[n++] = ' ';
	if (reason_len <= sizeof(line) - n - 2) {
		memcpy(line + n, reason, reason_len);
		memcpy(line + n + reason_len, "\r\n", 2);
		evbuffer_add(c->out, line, n + reason_len + 2);
		return c->out;
	}
	evbuffer_add(c->out, line, n);
	evbuffer_add(c->out, reason, reason_len);
	evbuffer_add(c->out, LB_LIT("\r\n"));
	return c->out;
}

void
lb_client_head_end(struct lb_client *c, enum lb_body_framing body,
    bool have_date)
{
	struct creq *q = c->req;
	bool	     http11 = q->r.minor >= 1;

	q->chunked_out = body == LB_BODY_CLOSE && http11;
	/*
	 * Keep the connection only if both sides can find where this answer
	 * ends, the request's body has been read whole (or there was none),
	 * and we are not shutting down.
	 */
	if (!q->keepalive || c->set->draining ||
	    (body == LB_BODY_CLOSE && !http11) || !lb_body_done(&q->body))
		q->close_after = true;
	if (q->chunked_out)
		evbuffer_add(c->out, LB_LIT("Transfer-Encoding: chunked\r\n"));
	if (!have_date && http11) {
		size_t	    n;
		const char *d = date_line(&n);

		evbuffer_add(c->out, d, n);
	}
	if (q->close_after)
		evbuffer_add(c->out, LB_LIT("Connection: close\r\n"));
	else if (!http11)
		evbuffer_add(c->out, LB_LIT("Connection: keep-alive\r\n"));
	evbuffer_add(c->out, LB_LIT("\r\n"));
}

void
lb_client_send(struct lb_client *c, struct evbuffer *src, size_t n, bool last)
{
	struct creq *q = c->req;

	if (n == 0)
		return;
	if (c->broken) {
		evbuffer_drain(src, n);
		return;
	}
	if (q->chunked_out) {
		char hex[24];
		int  k = snprintf(hex, sizeof(hex), "%zx\r\n", n);

		evbuffer_add(c->out, hex, (size_t)k);
		evbuffer_remove_buffer(src, c->out, n);
		evbuffer_add(c->out, LB_LIT("\r\n"));
	} else {
		evbuffer_remove_buffer(src, c->out, n);
	}
	if (!last)
		(void)flush(c); /* a failure frees C and tells the exchange */
}

void
lb_client_head_end_tunnel(struct lb_client *c)
{
	evbuffer_add(c->out, LB_LIT("\r\n"));
}

size_t
lb_client_pending(const struct lb_client *c)
{
	return evbuffer_get_length(c->out);
}

bool
lb_client_can_splice(const struct lb_client *c)
{
	return c->ssl == NULL && !c->broken && !c->req->chunked_out &&
	    evbuffer_get_length(c->out) == 0;
}

ssize_t
lb_client_splice(struct lb_client *c, int pipe_fd, size_t len)
{
	ssize_t n;

	if (c->broken)
		return -1;
	n = splice(pipe_fd, NULL, c->fd, NULL, len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n == (ssize_t)len)
		return n;
	/* Less than all of it, or nothing: the socket is full. */
	if (n > 0 || errno == EAGAIN || errno == EINTR) {
		if (c->wev == NULL &&
		    (c->wev = event_new(c->set->base, c->fd,
			 EV_WRITE | EV_PERSIST, client_writable, c)) == NULL)
			return die(c);
		c->splice_wait = true;
		event_add(c->wev, &c->set->idle_tv);
		return n > 0 ? n : 0;
	}
	log_debug("client %s: splice: %s", c->req->ip,
	    n == 0 ? "nothing moved" : strerror(errno));
	return die(c);
}

/* The exchange is over as far as it is concerned: no more calls. */
static void
let_go(struct lb_client *c)
{
	if (c->req != NULL)
		c->req->ops = NULL;
}

void
lb_client_end(struct lb_client *c)
{
	struct creq *q = c->req;

	let_go(c);
	if (q->chunked_out)
		evbuffer_add(c->out, LB_LIT("0\r\n\r\n"));
	if (q->close_after) {
		c->closing = true;
		(void)flush(c);
		return;
	}
	free(q);
	c->req = NULL;
	c->state = CS_IDLE;
	if (flush(c) == -1)
		return;
	if (c->eof) {
		client_free(c);
		return;
	}
	if (evbuffer_get_length(c->in) > 0) {
		/*
		 * A pipelined request waits: parse it on this loop turn,
		 * from the read callback rather than from here, which may be
		 * deep inside the exchange's own callbacks.
		 */
		c->kick = true;
		event_active(&c->rev, EV_READ, 1);
	} else if (evbuffer_get_length(c->out) == 0) {
		/*
		 * Idle until the next request: hold no buffers (nginx holds
		 * none either). client_readable makes them again. Two of
		 * the 0.68 KiB an idle connection cost in bench's idle10k,
		 * for two allocations a request.
		 */
		evbuffer_free(c->in);
		evbuffer_free(c->out);
		c->in = c->out = NULL;
	}
	read_on(c, &c->set->keepalive_tv);
}

/* The buffers of a connection that holds none while idle; -1: no memory. */
static int
client_buffers(struct lb_client *c)
{
	if (c->in == NULL && (c->in = evbuffer_new()) == NULL)
		return -1;
	if (c->out == NULL && (c->out = evbuffer_new()) == NULL)
		return -1;
	return 0;
}

void
lb_client_abort(struct lb_client *c)
{
	let_go(c);
	client_free(c);
}

/*
 * The body of our own answers, less its newline: the teaching project's
 * clients look for "Not Found", "Forbidden" and "No backend servers
 * available.".
 */
const char *
lb_client_reply_text(int status)
{
	return status == 503 ? "No backend servers available." :
			       lb_client_reason(status);
}

/*
 * Pieces of a head gathered in a buffer and added to an evbuffer in one
 * go: lbmaster's own answers are made without printf (a 429 storm is
 * mostly these), and flushed early should one not fit.
 */
struct gather {
	struct evbuffer *out;
	size_t		 n;
	char		 b[512];
};

static void
gather_add(struct gather *g, const void *p, size_t len)
{
	if (g->n + len > sizeof(g->b)) {
		evbuffer_add(g->out, g->b, g->n);
		g->n = 0;
		if (len > sizeof(g->b)) {
			evbuffer_add(g->out, p, len);
			return;
		}
	}
	memcpy(g->b + g->n, p, len);
	g->n += len;
}

static void
gather_str(struct gather *g, const char *s)
{
	gather_add(g, s, strlen(s));
}

static void
gather_uint(struct gather *g, uint64_t v)
{
	char   d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	gather_add(g, d + i, sizeof(d) - i);
}

/* The plain-text answer to STATUS, whole, into `out`. */
static void
add_reply(struct lb_client *c, int status, bool head_only)
{
	add_reply_with(c, status, head_only, NULL);
}

/* The same with the header lines EXTRA ("Name: value\r\n"), or NULL. */
static void
add_reply_with(struct lb_client *c, int status, bool head_only,
    const char *extra)
{
	const char   *text = lb_client_reply_text(status);
	size_t	      len = strlen(text) + 1;
	unsigned      minor = c->req != NULL && c->req->r.minor == 0 ? 0 : 1;
	size_t	      dn;
	const char   *d = date_line(&dn);
	struct gather g;

	g.out = c->out;
	g.n = 0;
	gather_str(&g, minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
	gather_uint(&g, (uint64_t)status);
	gather_add(&g, LB_LIT(" "));
	gather_str(&g, lb_client_reason(status));
	gather_str(&g,
	    "\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: ");
	gather_uint(&g, len);
	gather_add(&g, LB_LIT("\r\n"));
	gather_add(&g, d, dn);
	if (c->req != NULL && c->req->r.request_id != NULL) {
		gather_str(&g, c->req->r.request_id_name);
		gather_add(&g, LB_LIT(": "));
		gather_str(&g, c->req->r.request_id);
		gather_add(&g, LB_LIT("\r\n"));
	}
	if (extra != NULL)
		gather_str(&g, extra);
	if (status == 429 && c->req != NULL && c->req->r.retry_after > 0) {
		gather_str(&g, "Retry-After: ");
		gather_uint(&g, c->req->r.retry_after);
		gather_add(&g, LB_LIT("\r\n"));
	}
	if (c->req == NULL || c->req->close_after)
		gather_str(&g, "Connection: close\r\n");
	else if (minor == 0)
		gather_str(&g, "Connection: keep-alive\r\n");
	gather_add(&g, LB_LIT("\r\n"));
	if (!head_only) {
		gather_add(&g, text, len - 1);
		gather_add(&g, LB_LIT("\n"));
	}
	evbuffer_add(c->out, g.b, g.n);
}

void
lb_client_reply(struct lb_client *c, int status, bool close)
{
	struct creq *q = c->req;

	let_go(c);
	if (q->answering) {
		/* A head went out already: all we can do is cut. */
		client_free(c);
		return;
	}
	/* A body we did not read (refused before it) ends the connection. */
	if (close || !q->keepalive || c->set->draining ||
	    !lb_body_done(&q->body))
		q->close_after = true;
	add_reply(c, status,
	    q->r.method_len == 4 && memcmp(q->r.method, "HEAD", 4) == 0);
	q->answering = true;
	lb_client_end(c);
}

/*
 * An error of the client's own making before any exchange (malformed
 * head, too large, too slow): answer STATUS, count and log it, close.
 */
static void
refuse(struct lb_client *c, int status, bool log)
{
	struct creq *q = c->req;

	read_off(c);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	if (log && q != NULL && q->r.method == NULL) {
		/*
		 * Refused before the head was whole: what the scanner kept
		 * of it, so that the log says the method and the request
		 * counts under the route its Host names.
		 */
		q->r.client = c;
		q->r.method = q->scan.method[0] != '\0' ? q->scan.method : "-";
		q->r.target = "-";
		q->r.minor = q->scan.http10 ? 0 : 1;
		q->r.host = q->scan.host[0] != '\0' ? q->scan.host : NULL;
		q->r.peer = &c->peer.sa;
		lb_addr_format_host(q->r.peer, q->ip, sizeof(q->ip));
		q->r.client_ip = q->ip;
		tls_fields(c, &q->r);
	}
	if (log)
		lb_proxy_refused(c->set->px, q != NULL ? &q->r : NULL,
		    &c->peer.sa, status);
	if (c->req != NULL && c->req->answering) {
		client_free(c);
		return;
	}
	free(c->req);
	c->req = NULL;
	add_reply(c, status, false);
	c->closing = true;
	c->refused = true;
	c->state = CS_EXCHANGE;
	(void)flush(c);
}

void
lb_client_continue(struct lb_client *c)
{
	struct creq *q = c->req;

	if (!q->r.expect_continue || q->continued || q->answering)
		return;
	q->continued = true;
	evbuffer_add(c->out, LB_LIT("HTTP/1.1 100 Continue\r\n\r\n"));
	(void)flush(c);
}

/* ----------------------------------------------------------- body */

void
lb_client_bind(struct lb_client *c, const struct lb_client_ops *ops, void *x)
{
	c->req->ops = ops;
	c->req->x = x;
}

bool
lb_client_body_done(const struct lb_client *c)
{
	return lb_body_done(&c->req->body);
}

/*
 * The body went wrong (STATUS 400, 408 or 413): the exchange lets go
 * (and counts the request), and the client gets STATUS if no answer has
 * begun, else a cut.
 */
static void
body_failed(struct lb_client *c, int status)
{
	struct creq *q = c->req;
	bool	     bound = q->ops != NULL;

	read_off(c);
	q->keepalive = false;
	unbind(c, q->answering ? 0 : status);
	if (q->answering)
		client_free(c);
	else
		refuse(c, status, !bound);
}

/* Called inside the exchange: answer on this loop turn, from outside. */
static void
body_failed_later(struct lb_client *c, int status)
{
	c->body_error = status;
	c->kick = true;
	event_active(&c->rev, EV_READ, 1);
}

size_t
lb_client_body_take(struct lb_client *c, struct evbuffer *dst, size_t max,
    bool chunked)
{
	struct creq *q = c->req;
	size_t	     moved = 0;
	bool	     was_full = evbuffer_get_length(c->in) >= IN_HIGH;

	while (moved < max && !lb_body_done(&q->body) && c->body_error == 0 &&
	    !c->broken) {
		struct evbuffer_iovec v;
		size_t		      skip, data, len;
		enum lb_body_rc	      rc;

		len = evbuffer_get_length(c->in);
		if (evbuffer_peek(c->in, -1, NULL, &v, 1) < 1)
			v.iov_len = 0;
		/* No more than asked: what is not looked at stays. */
		if (v.iov_len > max - moved)
			v.iov_len = max - moved;
		rc = lb_body_next(&q->body, v.iov_base, v.iov_len, &skip,
		    &data);
		if (rc == LB_BODY_ERROR) {
			body_failed_later(c, 400);
			return moved;
		}
		evbuffer_drain(c->in, skip);
		if (rc == LB_BODY_DATA) {
			if (c->set->max_body > 0 &&
			    q->taken + data > c->set->max_body) {
				body_failed_later(c, 413);
				return moved;
			}
			if (chunked) {
				char hex[24];
				int  k = snprintf(hex, sizeof(hex), "%zx\r\n",
				     data);

				evbuffer_add(dst, hex, (size_t)k);
			}
			evbuffer_remove_buffer(c->in, dst, data);
			if (chunked)
				evbuffer_add(dst, LB_LIT("\r\n"));
			q->taken += data;
			moved += data;
			continue;
		}
		if (rc == LB_BODY_DONE) {
			if (chunked)
				evbuffer_add(dst, LB_LIT("0\r\n\r\n"));
			break;
		}
		if (skip == 0 && evbuffer_get_length(c->in) == len)
			break; /* AGAIN: more bytes needed */
	}
	/* Room again in `in`: read the client again. */
	if (was_full && evbuffer_get_length(c->in) < IN_HIGH && !c->eof &&
	    c->state == CS_EXCHANGE)
		read_on(c, &c->set->client_tv);
	if (lb_body_done(&q->body) && !c->eof && c->state == CS_EXCHANGE)
		read_on(c, NULL); /* still read: EOF, pipelining */
	return moved;
}

/* ----------------------------------------------------------- heads */

/*
 * The scanner says a head of LEN bytes is at the front of `in`: copy it
 * out, with its parsed fields, into a creq. Returns 0, or the status to
 * answer.
 */
static int
take_head(struct lb_client *c, size_t len)
{
	struct creq	      *q = c->req;
	struct lb_reqscan     *s;
	struct lb_http_header *h;
	char		      *p, *end, *line, *sp;
	size_t		       n = q->scan.n_headers, k = 0, need;
	bool		       conn_close = false, conn_keep = false;
	bool		       conn_upgrade = false;
	const char	      *upgrade = NULL;

	need = sizeof(*q) + n * sizeof(*h) + len + 1;
	if (need > q->size) {
		/* Nothing points into it yet. */
		if ((q = realloc(q, need)) == NULL)
			return 500;
		c->req = q;
		q->size = need;
	}
	s = &q->scan;
	q->r.peer = &c->peer.sa;
	lb_addr_format_host(q->r.peer, q->ip, sizeof(q->ip));
	q->r.client_ip = q->ip;
	tls_fields(c, &q->r);
	h = (struct lb_http_header *)(q + 1);
	p = (char *)(h + n);
	evbuffer_remove(c->in, p, len);
	p[len] = '\0';
	end = p + len;

	/*
	 * The scanner checked the syntax: empty lines may lead, the request
	 * line is "METHOD SP TARGET SP HTTP/1.x", each line ends in CRLF,
	 * fields are "name:" OWS value OWS.
	 */
	while (*p == '\r')
		p += 2;
	line = p;
	p = strchr(line, '\r');
	*p = '\0';
	p += 2;
	sp = strchr(line, ' ');
	*sp = '\0';
	q->r.method = line;
	q->r.method_len = (size_t)(sp - line);
	q->r.target = sp + 1;
	sp = strchr(sp + 1, ' ');
	*sp = '\0';
	q->r.target_len = (size_t)(sp - q->r.target);
	/* Any later 1.x is served as 1.1 (RFC 9110 section 2.5). */
	q->r.minor = sp[8] == '0' ? 0 : 1;
	while (p < end && *p != '\r') {
		char *colon, *v, *e;

		line = p;
		e = strchr(line, '\r');
		p = e + 2;
		colon = memchr(line, ':', (size_t)(e - line));
		*colon = '\0';
		v = colon + 1;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		h[k].name = line;
		h[k].name_len = (size_t)(colon - line);
		h[k].value = v;
		h[k].value_len = (size_t)(e - v);
		if (h[k].name_len == 4 && strcasecmp(line, "Host") == 0) {
			if (q->r.host != NULL)
				return 400; /* two Hosts */
			q->r.host = v;
		} else if (h[k].name_len == 10 &&
		    strcasecmp(line, "Connection") == 0) {
			conn_close |= lb_http_list_has(v, "close");
			conn_keep |= lb_http_list_has(v, "keep-alive");
			conn_upgrade |= lb_http_list_has(v, "upgrade");
		} else if (h[k].name_len == 7 &&
		    strcasecmp(line, "Upgrade") == 0) {
			upgrade = v;
		} else if (h[k].name_len == 6 &&
		    strcasecmp(line, "Expect") == 0) {
			if (strcasecmp(v, "100-continue") != 0)
				return 417;
			q->r.expect_continue = true;
		}
		k++;
	}
	q->r.hdrs = h;
	q->r.n_hdrs = k;
	q->r.client = c;
	q->r.hop_ip = q->ip;
	forwarded_client(c, q);
	/* RFC 9112 section 3.2: a 1.1 request needs a Host. */
	if (q->r.minor >= 1 && q->r.host == NULL && q->r.target[0] == '/')
		return 400;
	q->keepalive = q->r.minor >= 1 ? !conn_close : conn_keep && !conn_close;
	if (c->set->keepalive_tv.tv_sec == 0 &&
	    c->set->keepalive_tv.tv_usec == 0)
		q->keepalive = false; /* timeouts.keepalive: 0 */
	/*
	 * An upgrade is forwarded only when the Connection header asks for
	 * it too; h2c is never (this is HTTP/1.1 on both sides).
	 */
	q->r.upgrade = conn_upgrade && upgrade != NULL &&
	    !lb_http_list_has(upgrade, "h2c") && q->r.minor >= 1;
	if (s->chunked) {
		q->r.body = LB_BODY_CHUNKED;
	} else if (s->n_cl > 0) {
		q->r.body = LB_BODY_LENGTH;
		q->r.body_len = s->cl;
	} else {
		q->r.body = LB_BODY_NONE;
	}
	lb_body_init(&q->body,
	    q->r.body == LB_BODY_LENGTH && s->cl == 0 ? LB_BODY_NONE :
							q->r.body,
	    s->cl);
	if (c->set->max_body > 0 && q->r.body == LB_BODY_LENGTH &&
	    s->cl > c->set->max_body)
		return 413;
	return 0;
}

/*
 * Feed the scanner what `in` holds beyond what it saw already. Returns 0
 * or the status to answer; *HEAD_LEN is the head's length once it is
 * complete, else 0.
 */
static int
scan_more(struct lb_client *c, size_t *head_len)
{
	struct evbuffer_ptr   pos;
	struct evbuffer_iovec v[4];
	int		      rc, nv;

	*head_len = 0;
	struct creq *q = c->req;

	while (q->scanned < evbuffer_get_length(c->in)) {
		evbuffer_ptr_set(c->in, &pos, q->scanned, EVBUFFER_PTR_SET);
		nv = evbuffer_peek(c->in, -1, &pos, v, 4);
		for (int i = 0; i < nv && i < 4; i++) {
			size_t used;

			rc = lb_reqscan_head(&q->scan, v[i].iov_base,
			    v[i].iov_len, &used);
			if (rc != 0)
				return rc;
			if (q->scan.head_complete) {
				*head_len = q->scanned + used;
				return 0;
			}
			q->scanned += v[i].iov_len;
		}
	}
	return 0;
}

static bool
trusted(const struct lb_cfg *cfg, const struct sockaddr *sa)
{
	for (size_t i = 0; i < cfg->n_trusted; i++)
		if (lb_cidr_match(&cfg->trusted[i], sa))
			return true;
	return false;
}

/* The address of LEN bytes at S, alone (no port, no brackets), into SS. */
static int
parse_ip(const char *s, size_t len, struct sockaddr_storage *ss)
{
	char buf[LB_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, buf, &((struct sockaddr_in *)ss)->sin_addr) ==
	    1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &((struct sockaddr_in6 *)ss)->sin6_addr) ==
	    1) {
		ss->ss_family = AF_INET6;
		return 0;
	}
	return -1;
}

/*
 * When the request comes from a trusted proxy (trusted_proxies), the
 * client is the last address of X-Forwarded-For that is not trusted
 * itself (SPEC section 10), read from the right: the fields from the last
 * one back, each field's items from its end. What is not an address
 * stops the walk: the client is then the last address read.
 */
static void
forwarded_client(struct lb_client *c, struct creq *q)
{
	const struct lb_cfg    *cfg = c->set->px->cfg;
	struct sockaddr_storage ss;
	bool			moved = false;

	if (cfg->n_trusted == 0 || !trusted(cfg, q->r.peer))
		return;
	for (size_t i = q->r.n_hdrs; i-- > 0;) {
		const char *v = q->r.hdrs[i].value;
		size_t	    end = strlen(v), e, st, b;

		if (strcasecmp(q->r.hdrs[i].name, "X-Forwarded-For") != 0)
			continue;
		while (end > 0) {
			for (e = end;
			     e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t');
			     e--)
				;
			for (st = e; st > 0 && v[st - 1] != ','; st--)
				;
			for (b = st; b < e && (v[b] == ' ' || v[b] == '\t');
			     b++)
				;
			end = st > 0 ? st - 1 : 0;
			if (b == e)
				continue;
			if (parse_ip(v + b, e - b, &ss) == -1)
				goto done;
			q->xff_sa = ss;
			moved = true;
			if (!trusted(cfg, (struct sockaddr *)&ss))
				goto done;
		}
	}
done:
	if (!moved)
		return;
	q->r.peer = (struct sockaddr *)&q->xff_sa;
	lb_addr_format_host(q->r.peer, q->xff_ip, sizeof(q->xff_ip));
	q->r.client_ip = q->xff_ip;
}

/*
 * The PROXY header that a proxy_protocol listener's connections start
 * with (SPEC section 10): its source is the client from now on, whoever
 * the peer is. 0 when it was read; 1 while more must come (the idle
 * timeout bounds the wait); -1 when there was none and C is freed.
 */
static int
proxy_header(struct lb_client *c)
{
	struct lb_proxyhdr h;
	size_t		   len = evbuffer_get_length(c->in);
	ssize_t		   n;
	char		   ip[LB_ADDRSTRLEN];

	if (len > LB_PP_MAX)
		len = LB_PP_MAX;
	n = lb_proxyhdr_parse(evbuffer_pullup(c->in, (ev_ssize_t)len), len, &h);
	if (n == 0)
		return 1;
	if (n < 0) {
		lb_addr_format_host(&c->peer.sa, ip, sizeof(ip));
		log_info("client %s: no valid PROXY header on a "
			 "proxy_protocol listener: closed",
		    ip);
		client_free(c);
		return -1;
	}
	evbuffer_drain(c->in, (size_t)n);
	/* LOCAL, UNKNOWN: the balancer's own (health) connection. */
	if (!h.local && h.addrlen <= sizeof(c->peer))
		memcpy(&c->peer, &h.src, h.addrlen);
	c->proxy_wait = false;
	return 0;
}

/*
 * Parse what `in` holds in the IDLE or HEAD state: scan the head as it
 * arrives; once it is complete, start the exchange.
 */
static void
process(struct lb_client *c)
{
	size_t len;
	int    rc;

	if (evbuffer_get_length(c->in) == 0)
		return;
	/* A PROXY header alone is not a request begun: idle, still. */
	if (c->proxy_wait &&
	    (proxy_header(c) != 0 || evbuffer_get_length(c->in) == 0))
		return;
	if (c->state == CS_IDLE) {
		struct creq *q;

		if ((q = malloc(CREQ_SIZE)) == NULL) {
			log_warnx("out of memory reading a request");
			client_free(c);
			return;
		}
		memset(q, 0, sizeof(*q));
		q->size = CREQ_SIZE;
		q->r.start_us = lb_now_us();
		lb_reqscan_init(&q->scan, c->set->max_head);
		c->req = q;
		/*
		 * The whole head gets timeouts.client from its first byte:
		 * trickling bytes gains nothing.
		 */
		c->state = CS_HEAD;
		q->head_deadline = lb_now_ms() + c->set->client_ms;
		read_on(c, &c->set->client_tv);
	}
	if ((rc = scan_more(c, &len)) != 0) {
		refuse(c, rc, true);
		return;
	}
	if (len == 0) {
		/*
		 * A persistent event's timeout restarts at each read: put
		 * the head's deadline back.
		 */
		int64_t	       left = c->req->head_deadline - lb_now_ms();
		struct timeval tv;

		lb_tv_ms(&tv, left > 0 ? (unsigned)left : 0);
		read_on(c, &tv);
		return;
	}
	c->state = CS_EXCHANGE;
	if ((rc = take_head(c, len)) != 0) {
		refuse(c, rc, true);
		return;
	}
	/* The body's gap, or no deadline while the origin works. */
	read_on(c,
	    c->req->body.framing != LB_BODY_NONE ? &c->set->client_tv : NULL);
	if (c->redirect != 0) {
		redirect_https(c);
		return;
	}
	lb_proxy_request(c->set->px, &c->req->r);
}

/* ---------------------------------------------------------- tunnel */

static void tunnel_origin(struct lb_conn *, enum lb_conn_event, void *);

/* Is the tunnel over: both sides closed and everything passed on? */
static bool
tunnel_over(struct lb_client *c)
{
	struct tunnel *t = c->tun;

	return t->client_shut && t->origin_shut;
}

/*
 * Pass on what each side sent, shut a write side once its peer closed
 * and everything was written, and end the tunnel when both are shut.
 * Returns -1 if C was freed.
 */
static int
tunnel_pump(struct lb_client *c)
{
	struct tunnel  *t = c->tun;
	struct lb_conn *o = t->origin;

	if (evbuffer_get_length(c->in) > 0) {
		evbuffer_add_buffer(o->out, c->in);
		lb_conn_write(o, &c->set->tunnel_tv);
	}
	if (evbuffer_get_length(o->in) > 0)
		evbuffer_add_buffer(c->out, o->in);
	if (evbuffer_get_length(c->out) > 0 && flush(c) == -1)
		return -1;
	/* Backpressure: a side whose peer cannot keep up is not read. */
	if (evbuffer_get_length(o->out) >= LB_CLIENT_HIGH_WATER)
		read_off(c);
	else if (!t->client_eof && !c->reading)
		read_on(c, &c->set->tunnel_tv);
	if (evbuffer_get_length(c->out) >= LB_CLIENT_HIGH_WATER ||
	    t->origin_eof)
		lb_conn_read_stop(o);
	else
		lb_conn_read(o, &c->set->tunnel_tv);
	/* Half-closes, passed on once what came before them is written. */
	if (t->client_eof && !t->origin_shut &&
	    evbuffer_get_length(o->out) == 0) {
		shutdown(o->fd, SHUT_WR);
		t->origin_shut = true;
	}
	if (t->origin_eof && !t->client_shut &&
	    evbuffer_get_length(c->out) == 0) {
		cshut(c);
		t->client_shut = true;
	}
	if (tunnel_over(c)) {
		client_free(c);
		return -1;
	}
	return 0;
}

/* Idle both ways for timeouts.tunnel? Else wait for what is left. */
static bool
tunnel_idle(struct lb_client *c)
{
	int64_t idle_ms = lb_now_ms() - c->tun->last_ms;

	return idle_ms >= c->set->tunnel_ms;
}

static void
tunnel_client(struct lb_client *c, short what)
{
	ssize_t n;

	if (what & EV_TIMEOUT) {
		if (tunnel_idle(c)) {
			log_debug("tunnel idle for timeouts.tunnel: closed");
			client_free(c);
		}
		return;
	}
	n = cread(c);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		client_free(c);
		return;
	}
	c->tun->last_ms = lb_now_ms();
	if (n == 0) {
		c->tun->client_eof = true;
		c->eof = true;
		read_off(c);
	}
	(void)tunnel_pump(c);
}

static void
tunnel_origin(struct lb_conn *o, enum lb_conn_event what, void *arg)
{
	struct lb_client *c = arg;

	switch (what) {
	case LB_CONN_READ:
		c->tun->last_ms = lb_now_ms();
		break;
	case LB_CONN_EOF:
		c->tun->origin_eof = true;
		break;
	case LB_CONN_DRAINED:
		c->tun->last_ms = lb_now_ms();
		break;
	case LB_CONN_TIMEOUT:
		if (!tunnel_idle(c)) {
			lb_conn_read(o, &c->set->tunnel_tv);
			return;
		}
		log_debug("tunnel idle for timeouts.tunnel: closed");
		client_free(c);
		return;
	default:
		client_free(c);
		return;
	}
	(void)tunnel_pump(c);
}

void
lb_client_tunnel(struct lb_client *c, struct lb_conn *origin)
{
	struct tunnel *t;

	let_go(c);
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		lb_conn_free(origin);
		client_free(c);
		return;
	}
	free(c->req);
	c->req = NULL;
	c->tun = t;
	t->origin = origin;
	t->last_ms = lb_now_ms();
	origin->cb = tunnel_origin;
	origin->arg = c;
	c->state = CS_TUNNEL;
	lb_proxy_tunnel_opened(c->set->px);
	if (!c->eof)
		read_on(c, &c->set->tunnel_tv);
	/* Bytes the client sent right after its request are the tunnel's. */
	(void)tunnel_pump(c);
}

/* ----------------------------------------------------------- reads */

static void
client_readable(evutil_socket_t fd, short what, void *arg)
{
	struct lb_client *c = arg;
	struct creq	 *q = c->req;
	ssize_t		  n;

	if (client_buffers(c) == -1) {
		client_free(c);
		return;
	}
	if (c->kick) {
		c->kick = false;
		if (c->broken) {
			client_free(c);
			return;
		}
		if (c->body_error != 0) {
			body_failed(c, c->body_error);
			return;
		}
		if (!(what & EV_TIMEOUT) && c->state == CS_IDLE) {
			process(c);
			return;
		}
	}
	switch (c->state) {
	case CS_HELLO:
		handshake(c, what);
		return;
	case CS_LINGER:
		linger_read(c, what);
		return;
	case CS_TUNNEL:
		tunnel_client(c, what);
		return;
	default:
		break;
	}
	if (what & EV_TIMEOUT) {
		if (c->state == CS_HEAD) {
			if (lb_now_ms() < q->head_deadline) {
				struct timeval tv;

				lb_tv_ms(&tv,
				    (unsigned)(q->head_deadline - lb_now_ms()));
				read_on(c, &tv);
				return;
			}
			log_debug("client: head not complete within "
				  "timeouts.client");
			refuse(c, 408, true);
			return;
		}
		if (c->state == CS_EXCHANGE && q != NULL &&
		    !lb_body_done(&q->body)) {
			log_debug("client %s: body stalled past "
				  "timeouts.client",
			    q->ip);
			body_failed(c, 408);
			return;
		}
		/* Idle keep-alive connection (or silent from the start). */
		client_free(c);
		return;
	}
	if (c->state == CS_EXCHANGE && evbuffer_get_length(c->in) >= IN_HIGH) {
		read_off(c); /* the exchange takes first */
		return;
	}
	n = cread(c);
	if (n > 0 && c->ssl != NULL && lb_tls_closed(c->ssl))
		event_active(&c->rev, EV_READ, 1); /* its EOF, next */
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("client read: %s", strerror(errno));
		client_free(c);
		return;
	}
	if (n == 0) {
		c->eof = true;
		read_off(c);
		if (c->state == CS_EXCHANGE && q != NULL &&
		    !lb_body_done(&q->body)) {
			/* The body ended early: tell the exchange. */
			unbind(c, 0);
			client_free(c);
			return;
		}
		/*
		 * A half-closed client still gets the answer to what it
		 * asked; with nothing asked, the connection is over.
		 */
		if (c->state != CS_EXCHANGE)
			client_free(c);
		return;
	}
	switch (c->state) {
	case CS_IDLE:
	case CS_HEAD:
		process(c);
		return;
	case CS_EXCHANGE:
		if (q != NULL && !lb_body_done(&q->body)) {
			if (q->ops != NULL)
				q->ops->body(q->x);
		} else if (evbuffer_get_length(c->in) >
		    c->set->max_head + LB_READ_SLICE) {
			/* Pipelined beyond reason: wait for the answer. */
			read_off(c);
		}
		return;
	default:
		return;
	}
}

/* ---------------------------------------------------------- accept */

static void
accepted(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct lb_clients *set = arg;
	struct lb_client  *c;
	struct lb_tls_ctx *tls = NULL;
	unsigned	   redirect = 0;

	for (size_t i = 0; i < set->n_listeners; i++)
		if (set->listeners[i].lev == lev) {
			tls = set->listeners[i].tls;
			redirect = set->listeners[i].redirect;
		}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL ||
	    (tls != NULL && (c->ssl = lb_tls_accept(tls, fd)) == NULL)) {
		log_warnx("out of memory accepting a client");
		if (c != NULL) {
			if (c->in != NULL)
				evbuffer_free(c->in);
			if (c->out != NULL)
				evbuffer_free(c->out);
			free(c);
		}
		close(fd);
		return;
	}
	c->set = set;
	c->fd = fd;
	c->state = c->ssl != NULL ? CS_HELLO : CS_IDLE;
	c->redirect = redirect;
	if ((size_t)salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, (size_t)salen);
	for (size_t i = 0; i < set->n_listeners; i++)
		if (set->listeners[i].lev == lev)
			c->proxy_wait = set->listeners[i].proxy_protocol;
	event_assign(&c->rev, set->base, fd, EV_READ | EV_PERSIST,
	    client_readable, c);
	TAILQ_INSERT_TAIL(&set->list, c, entry);
	read_on(c, c->ssl != NULL ? &set->client_tv : &set->idle_tv);
	if (++set->n >= set->max) {
		log_warnx("limits.max_connections (%u) reached: not accepting "
			  "until some close",
		    set->max);
		listeners_set(set, false);
	}
}

static void
resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	struct lb_clients *set = arg;

	if (set->n < set->max && !set->draining)
		listeners_set(set, true);
}

static void
accept_error(struct evconnlistener *lev, void *arg)
{
	struct lb_clients *set = arg;
	struct timeval	   tv;
	int		   err = EVUTIL_SOCKET_ERROR();

	log_warnx("accept: %s; pausing for %d ms",
	    evutil_socket_error_to_string(err), ACCEPT_RETRY_MS);
	listeners_set(set, false);
	lb_tv_ms(&tv, ACCEPT_RETRY_MS);
	evtimer_add(set->resume, &tv);
}

struct lb_clients *
lb_clients_new(struct event_base *base, const struct lb_cfg *cfg,
    struct lb_proxy *px)
{
	struct lb_clients *set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	TAILQ_INIT(&set->list);
	set->cfg = cfg;
	set->base = base;
	set->px = px;
	set->max = cfg->max_connections;
	set->max_head = cfg->max_header_size;
	set->max_body = cfg->max_body_size;
	set->client_ms = cfg->client_timeout_ms;
	set->tunnel_ms = cfg->tunnel_timeout_ms;
	lb_tv_ms(&set->client_tv, cfg->client_timeout_ms);
	lb_tv_ms(&set->keepalive_tv, cfg->keepalive_timeout_ms);
	/* A new connection's first request: the keep-alive wait, if any. */
	lb_tv_ms(&set->idle_tv,
	    cfg->keepalive_timeout_ms > 0 ? cfg->keepalive_timeout_ms :
					    cfg->client_timeout_ms);
	lb_tv_ms(&set->tunnel_tv, cfg->tunnel_timeout_ms);
	if ((set->resume = evtimer_new(base, resume_accepting, set)) == NULL) {
		free(set);
		return NULL;
	}
	return set;
}

/*
 * What the config says of the listener bound where FD is: TLS, redirect,
 * PROXY protocol.
 */
static void
listener_conf(const struct lb_cfg *cfg, int fd, struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t		len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct lb_listen *conf = &cfg->listen[i];

		if (!lb_addr_equal((struct sockaddr *)&ss,
			(const struct sockaddr *)&conf->addr))
			continue;
		l->tls = conf->tls != NULL ? conf->tls->ctx : NULL;
		l->redirect = conf->redirect_https;
		l->proxy_protocol = conf->proxy_protocol;
		return;
	}
}

int
lb_clients_listen(struct lb_clients *set, int fd, bool serve)
{
	struct evconnlistener *lev;
	struct listener	      *l;

	if (set->draining)
		return -1;
	l = reallocarray(set->listeners, set->n_listeners + 1, sizeof(*l));
	if (l == NULL)
		return -1;
	set->listeners = l;
	evutil_make_socket_nonblocking(fd);
	/*
	 * Backlog 0: the master's socket already listens with its queue of
	 * 4096; libevent's "default" (-1) would listen() again with 128.
	 */
	lev = evconnlistener_new(set->base, accepted, set,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (lev == NULL)
		return -1;
	evconnlistener_set_error_cb(lev, accept_error);
	l = &set->listeners[set->n_listeners];
	memset(l, 0, sizeof(*l));
	l->lev = lev;
	l->serve = serve;
	listener_conf(set->cfg, fd, l);
	if (set->paused || !serve)
		evconnlistener_disable(lev);
	return (int)set->n_listeners++;
}

void
lb_clients_serve(struct lb_clients *set, size_t i, bool serve)
{
	struct listener *l;

	if (i >= set->n_listeners || set->listeners[i].serve == serve)
		return;
	l = &set->listeners[i];
	l->serve = serve;
	if (!serve)
		evconnlistener_disable(l->lev);
	else if (!set->paused)
		evconnlistener_enable(l->lev);
}

static void
listeners_free(struct lb_clients *set)
{
	for (size_t i = 0; i < set->n_listeners; i++)
		evconnlistener_free(set->listeners[i].lev);
	free(set->listeners);
	set->listeners = NULL;
	set->n_listeners = 0;
}

void
lb_clients_drain(struct lb_clients *set)
{
	set->draining = true;
	listeners_free(set);
	evtimer_del(set->resume);
}

void
lb_clients_close_idle(struct lb_clients *set)
{
	struct lb_client *c, *next;

	for (c = TAILQ_FIRST(&set->list); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if ((c->state == CS_IDLE || c->state == CS_HELLO) &&
		    (c->out == NULL || evbuffer_get_length(c->out) == 0))
			client_free(c);
	}
}

void
lb_clients_cut(struct lb_clients *set)
{
	struct lb_client *c, *next;
	struct creq	 *q;

	for (c = TAILQ_FIRST(&set->list); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		q = c->req;
		if (c->state != CS_EXCHANGE || q == NULL || q->ops == NULL ||
		    q->answering)
			continue;
		/*
		 * Nothing answered yet: the exchange counts and logs a 503,
		 * and the client is told so (at once, or not at all: the
		 * process exits next) rather than finding its connection
		 * closed on it.
		 */
		unbind(c, 503);
		q->close_after = true;
		add_reply(c, 503,
		    q->r.method_len == 4 &&
			memcmp(q->r.method, "HEAD", 4) == 0);
		(void)cwrite(c);
		client_free(c);
	}
}

void
lb_clients_free(struct lb_clients *set)
{
	if (set == NULL)
		return;
	set->draining = true;
	listeners_free(set);
	while (!TAILQ_EMPTY(&set->list))
		client_free(TAILQ_FIRST(&set->list));
	event_free(set->resume);
	free(set);
}

unsigned
lb_clients_count(const struct lb_clients *set)
{
	return set->n;
}

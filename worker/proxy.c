/*
 * worker/proxy.c -- one request, from evhttp's callback to the last byte
 * of the origin's answer (SPEC section 4).
 *
 * evhttp has parsed the client's request, body included, when
 * lb_proxy_handle runs. We check it, route it, run the firewall and the
 * rewrites, then forward it over a pooled keep-alive connection that we
 * drive ourselves (worker/pool.h says why not evhttp's client) and stream
 * the answer back with backpressure: when the client's output passes a
 * high-water mark we stop reading the origin until evhttp says the client
 * has taken it.
 *
 * A request's state lives in one struct preq, freed in one place
 * (preq_free). Every path ends in exactly one of: a simple reply
 * (reply_simple), the end of a streamed reply (evhttp_send_reply_end), or
 * dropping the client connection mid-body (client_abort), or the client
 * went away first (client_closed).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "common/addr.h"
#include "common/http.h"
#include "common/log.h"
#include "common/str.h"
#include "common/uri.h"
#include "config/routes.h"
#include "worker/access_log.h"
#include "worker/client.h"
#include "worker/proxy.h"
#include "worker/rules.h"

#define MAX_RESPONSE_HEAD (64 * 1024) /* an origin's head: 502 past */
#define MAX_CHUNK_LINE	  4096
#define CLIENT_HIGH_WATER (256 * 1024) /* pause the origin past this */
#define POOL_MAX_IDLE	  256	       /* idle connections per server */
#define POOL_IDLE_MS	  30000	       /* below common origin keep-alives */
#define PASSIVE_DOWN_MS	  10000

enum preq_state {
	PR_CONNECTING, /* new connection, not yet established */
	PR_WAITING,    /* request sent (or being sent), head pending */
	PR_BODY,       /* reply started to the client */
};

enum framing {
	FR_NONE,   /* no body: HEAD, 1xx, 204, 304 */
	FR_LENGTH, /* Content-Length */
	FR_CHUNKED,
	FR_CLOSE, /* until the origin closes */
};

enum chunk_state {
	CH_SIZE,
	CH_DATA,
	CH_DATA_END, /* the CRLF after a chunk's data */
	CH_TRAILER,
};

struct preq {
	struct lb_proxy		 *px;
	struct evhttp_request	 *req;	  /* the client's; NULL when let go */
	struct evhttp_connection *client; /* req's connection */
	const struct lb_route	 *route;
	struct lb_upstream	 *up;
	struct lb_peer		 *peer; /* picked; NULL between attempts */
	struct lb_conn		 *conn; /* owned while we use it */

	struct lb_fwd		fwd;   /* what the forwarded head is made of */
	char		       *path;  /* owned; rewritten */
	char		       *query; /* owned; rewritten, or NULL */
	char		       *host;  /* owned; client's Host, or NULL */
	struct sockaddr_storage client_sa;
	char			client_ip[LB_ADDRSTRLEN];

	bool		*tried; /* per peer: tried_small or owned */
	bool		 tried_small[16];
	bool		 idempotent;
	bool		 head_only; /* HEAD: no response body */
	bool		 reused;    /* conn came from the pool */
	bool		 resent;    /* the stale-connection resend is used */
	bool		 got_byte;  /* the origin sent something */
	bool		 paused;    /* origin reads off: client is slow */
	bool		 keepalive; /* conn reusable after this response */
	enum preq_state	 state;
	enum framing	 framing;
	enum chunk_state chunk;
	uint64_t	 remaining;   /* of the body or of the chunk */
	int		 fail_status; /* if no server is left: 503/504/502 */
	int		 status;      /* what the client got, once known */
	int		 upstream_status; /* what the origin said */
	uint64_t	 bytes;		  /* body bytes passed to the client */
	int64_t		 start_us;
	int64_t		 upstream_us; /* when the last attempt started */
	const char	*upstream;    /* addrstr of the last server tried */
};

static void	   attempt(struct preq *);
static void	   pump(struct preq *);
static const char *method_name(enum evhttp_cmd_type, bool *);

/* --------------------------------------------------------- replies */

static const char *
reason_for(int code)
{
	switch (code) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
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

/*
 * Our own answers carry a plain-text body: the teaching project's clients
 * look for "Not Found", "Forbidden" and "No backend servers available.".
 */
static void
reply_simple(struct lb_proxy *px, struct evhttp_request *req, int code,
    bool close)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	struct evbuffer	 *body = evbuffer_new();
	const char	 *text = code == 503 ? "No backend servers available." :
					       reason_for(code);

	evhttp_add_header(oh, "Content-Type", "text/plain; charset=utf-8");
	if (close || px->draining)
		evhttp_add_header(oh, "Connection", "close");
	/*
	 * evhttp 2.1 writes whatever body it is given, even to a HEAD: say
	 * how long the body would be, and send none.
	 */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		char len[16];

		lb_snprintf(len, sizeof(len), "%zu", strlen(text) + 1);
		evhttp_add_header(oh, "Content-Length", len);
	} else if (body != NULL) {
		evbuffer_add_printf(body, "%s\n", text);
	}
	evhttp_send_reply(req, code, reason_for(code), body);
	if (body != NULL)
		evbuffer_free(body);
}

/*
 * Account for a finished request, once: the route's status counters, the
 * latency histogram and the access log. P is NULL for requests answered
 * before one was made (400, 403, 404...).
 */
static void
request_done(struct lb_proxy *px, struct evhttp_request *req,
    const struct lb_route *route, const struct preq *p, int status)
{
	struct lb_access  a;
	struct evkeyvalq *in;
	int64_t		  now = lb_now_us();
	int		  cls = status / 100;

	if (px->shm != NULL) {
		struct lb_shm_route *rt = &px->shm->routes[route != NULL ?
			route->id :
			px->shm->n_routes];

		atomic_fetch_add_explicit(&rt->codes[cls >= 1 && cls <= 5 ?
						  cls - 1 :
						  5],
		    1, memory_order_relaxed);
		lb_shm_observe(px->shm, p != NULL ? now - p->start_us : 0);
	}
	if (!lb_access_log_enabled() || req == NULL)
		return;
	in = evhttp_request_get_input_headers(req);
	memset(&a, 0, sizeof(a));
	a.client_ip = p != NULL ? p->client_ip : NULL;
	a.method = p != NULL ? p->fwd.method : NULL;
	a.target = evhttp_request_get_uri(req);
	a.http_minor = req->minor;
	a.status = status;
	a.bytes = p != NULL ? p->bytes : 0;
	a.referer = evhttp_find_header(in, "Referer");
	a.user_agent = evhttp_find_header(in, "User-Agent");
	a.upstream = p != NULL ? p->upstream : NULL;
	a.upstream_status = p != NULL ? p->upstream_status : 0;
	a.rt_us = p != NULL ? now - p->start_us : 0;
	a.urt_us = p != NULL && p->upstream != NULL ? now - p->upstream_us : -1;
	if (a.client_ip == NULL) {
		static char	       ip[LB_ADDRSTRLEN];
		const struct sockaddr *sa = evhttp_connection_get_addr(
		    evhttp_request_get_connection(req));

		lb_strlcpy(ip, "-", sizeof(ip));
		if (sa != NULL)
			lb_addr_format_host(sa, ip, sizeof(ip));
		a.client_ip = ip;
	}
	if (a.method == NULL) {
		bool idem;

		a.method = method_name(evhttp_request_get_command(req), &idem);
		if (a.method == NULL)
			a.method = "-";
	}
	lb_access_log_write(&a);
}

/* Answer a request that never reached a backend. */
static void
reply_early(struct lb_proxy *px, struct evhttp_request *req,
    const struct lb_route *route, int code, bool close)
{
	request_done(px, req, route, NULL, code);
	reply_simple(px, req, code, close);
}

/*
 * CONNECT: no tunnels here. evhttp 2.1 writes its answer to a CONNECT
 * with no length and then keeps the connection open, so the client cannot
 * tell where it ends. Answer on the socket ourselves, shut our side, and
 * let evhttp's own (now failing) write end the connection and the request.
 */
static void
refuse_connect(struct lb_proxy *px, struct evhttp_request *req)
{
	static const char r501[] =
	    "HTTP/1.1 501 Not Implemented\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n"
	    "Connection: close\r\n\r\nNot Implemented\n";
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	int			  fd = -1;

	request_done(px, req, NULL, NULL, 501);
	if (evcon != NULL)
		fd = bufferevent_getfd(
		    evhttp_connection_get_bufferevent(evcon));
	if (fd >= 0) {
		if (send(fd, r501, sizeof(r501) - 1,
			MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("answering CONNECT: %s", strerror(errno));
		shutdown(fd, SHUT_WR);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
	    "close");
	evhttp_send_reply(req, 501, reason_for(501), NULL);
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

static void
preq_free(struct preq *p)
{
	struct lb_proxy *px = p->px;

	drop_peer(p, false);
	if (p->tried != p->tried_small)
		free(p->tried);
	free(p->path);
	free(p->query);
	free(p->host);
	free(p);
	if (--px->inflight == 0 && px->draining && px->idle_cb != NULL)
		px->idle_cb(px->idle_arg);
}

/* Let go of the client request: after this only evhttp touches it. */
static struct evhttp_request *
release_client(struct preq *p)
{
	struct evhttp_request *req = p->req;

	if (p->client != NULL)
		lb_clients_idle(p->px->clients, req);
	p->req = NULL;
	p->client = NULL;
	return req;
}

/* Nothing was sent to the client yet: answer CODE and forget it. */
static void
finish_error(struct preq *p, int code)
{
	struct evhttp_request *req;

	p->status = code;
	request_done(p->px, p->req, p->route, p, code);
	req = release_client(p);
	reply_simple(p->px, req, code, false);
	preq_free(p);
}

/*
 * Around an evhttp call that queues output for the client: hold the
 * client's bufferevent (the call may free it), then write what it queued
 * now instead of on the next loop turn and, if it all went, run evhttp's
 * write callback as the bufferevent would. The reply's piece is then done
 * in this turn, with no EPOLLOUT to add and remove.
 */
static struct bufferevent *
client_hold(struct evhttp_connection *evcon)
{
	struct bufferevent *bev;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_incref(bev);
	return bev;
}

static void
client_flush(struct lb_proxy *px, struct bufferevent *bev)
{
	bufferevent_event_cb eventcb = NULL;
	struct evbuffer	    *out;

	if (bev == NULL)
		return;
	out = bufferevent_get_output(bev);
	bufferevent_getcb(bev, NULL, NULL, &eventcb, NULL);
	/* evhttp let go of it, nothing to do, or the socket takes no more. */
	if (eventcb == NULL || evbuffer_get_length(out) == 0 ||
	    evbuffer_write(out, bufferevent_getfd(bev)) == -1 ||
	    evbuffer_get_length(out) > 0)
		goto done;
	/*
	 * All written: evhttp enabled EV_WRITE for nothing. Switching it off
	 * in the same loop turn leaves the changelist nothing to do.
	 */
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_trigger(bev, EV_WRITE, 0);
	/* The answer is done: evhttp reads again (worker/client.c). */
	lb_clients_reading(px->clients, bev);
done:
	bufferevent_decref(bev);
}

/* The origin's reply was all passed on. */
static void
finish_ok(struct preq *p)
{
	struct lb_conn	   *c = p->conn;
	struct bufferevent *cbev;

	p->conn = NULL;
	if (p->keepalive)
		lb_pool_put(c); /* closed if anything is left unread */
	else
		lb_conn_free(c);
	request_done(p->px, p->req, p->route, p, p->status);
	cbev = client_hold(p->client);
	evhttp_send_reply_end(release_client(p));
	client_flush(p->px, cbev);
	preq_free(p);
}

/*
 * The reply is under way and cannot be completed: close the client's
 * connection so that it sees a truncated response, never a complete one.
 */
static void
client_abort(struct preq *p)
{
	struct evhttp_request	 *req = p->req;
	struct evhttp_connection *evcon;

	drop_peer(p, true);
	request_done(p->px, req, p->route, p, p->status);
	evcon = evhttp_request_get_connection(req);
	release_client(p);
	if (evcon != NULL)
		evhttp_connection_free(evcon); /* frees req too */
	else
		evhttp_send_reply_end(req); /* detached: frees it */
	preq_free(p);
}

/*
 * evhttp is closing the client's connection (it went away, or timed out
 * while we wrote to it). If evhttp detached our request it is ours to free;
 * otherwise evhttp frees it after this callback.
 */
static void
client_closed(struct evhttp_connection *evcon, void *arg)
{
	struct preq	      *p = arg;
	struct evhttp_request *req = p->req;

	/* 499, as nginx says it: the client closed before any answer. */
	request_done(p->px, req, p->route, p, p->status != 0 ? p->status : 499);
	p->req = NULL;
	p->client = NULL;
	if (req != NULL && evhttp_request_get_connection(req) == NULL)
		evhttp_send_reply_end(req);
	log_debug("client %s went away during the request", p->client_ip);
	preq_free(p);
}

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
				       lb_now_ms() + PASSIVE_DOWN_MS);
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

static void
send_request(struct preq *p)
{
	struct evbuffer *out = p->conn->out;
	struct evbuffer *body = evhttp_request_get_input_buffer(p->req);

	p->state = PR_WAITING;
	p->got_byte = false;
	if (lb_rules_request_head(out, p->route, p->peer->srv, &p->fwd) == -1) {
		log_warnx("out of memory building a request head");
		finish_error(p, 500);
		return;
	}
	/* Copy, not move: a stale connection means sending it again. */
	if (evbuffer_get_length(body) > 0) {
		struct evbuffer_iovec one, *v = &one;
		int		      n;

		n = evbuffer_peek(body, -1, NULL, NULL, 0);
		if (n > 1 && (v = calloc((size_t)n, sizeof(*v))) == NULL) {
			log_warnx("out of memory copying a request body");
			finish_error(p, 500);
			return;
		}
		n = evbuffer_peek(body, -1, NULL, v, n);
		for (int i = 0; i < n; i++)
			evbuffer_add(out, v[i].iov_base, v[i].iov_len);
		if (v != &one)
			free(v);
	}
	lb_conn_write(p->conn, &p->px->backend_tv);
	lb_conn_read(p->conn, &p->px->backend_tv);
}

/* NUL-terminated copies of a header's name and value, into NAME, VALUE. */
static void
copy_header(char *name, char *value, const struct lb_http_header *h)
{
	memcpy(name, h->name, h->name_len);
	name[h->name_len] = '\0';
	memcpy(value, h->value, h->value_len);
	value[h->value_len] = '\0';
}

/*
 * Whether the origin's header NAME goes on to the client: not hop-by-hop,
 * not named by its Connection header (LIST), and Content-Length only when
 * it delimits the body we pass on (HAVE_CL).
 */
static bool
forwarded(const char *name, const char *list, bool have_cl)
{
	return !lb_http_is_hop_by_hop(name) &&
	    (have_cl || strcasecmp(name, "Content-Length") != 0) &&
	    !lb_http_list_has(list, name);
}

/* "Date: <IMF-fixdate>\r\n" for now, formatted once a second. */
static const char *
date_line(void)
{
	static char   line[64];
	static time_t last = -1;
	time_t	      now = time(NULL);
	struct tm     tm;

	if (now != last && gmtime_r(&now, &tm) != NULL) {
		strftime(line, sizeof(line),
		    "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		last = now;
	}
	return line;
}

/*
 * Write the head of the client's answer ourselves, where evhttp would
 * copy every header into its list (three allocations each) and print
 * them back out one by one. It does what evhttp_send_reply_start would:
 * the client's HTTP version on the status line, chunked to an HTTP/1.1
 * client when the origin gave no length, a Date if the origin sent none,
 * and the Connection header evhttp's keep-alive logic expects. evhttp
 * then takes the head as the first piece of the body (so that it writes
 * and watches the connection as usual) and frames the rest.
 *
 * One thing evhttp got wrong, and this does not: an HTTP/1.0 client that
 * asked for keep-alive, given an answer of unknown length, was told
 * "Content-Length: 0". It now gets Connection: close and the bytes.
 */
static void
send_head(struct preq *p, const struct lb_http_response *r,
    const struct lb_http_header *h, const char *list, const char *reason,
    char *q, bool have_cl)
{
	struct evhttp_request *req = p->req;
	struct evkeyvalq      *in = evhttp_request_get_input_headers(req);
	struct evbuffer	      *out = p->px->scratch;
	bool		       http11 = req->major == 1 && req->minor >= 1;
	bool		       chunked = !have_cl && http11;
	bool		       keepalive, date = false;
	const char	      *c = evhttp_find_header(in, "Connection");

	/*
	 * What evhttp_send_done will decide from the request and from our
	 * output headers: say the same to the client.
	 */
	if (http11)
		keepalive = c == NULL || !lb_http_list_has(c, "close");
	else /* as evhttp reads it */
		keepalive = c != NULL && strncasecmp(c, "keep-alive", 10) == 0;
	if (p->px->draining || (!http11 && !have_cl))
		keepalive = false;

	evbuffer_add_printf(out, "HTTP/%d.%d %d %s\r\n", req->major, req->minor,
	    (int)r->status, reason);
	for (size_t i = 0; i < r->n_headers; i++) {
		char *name = q, *value = q + h[i].name_len + 1;

		q = value + h[i].value_len + 1;
		copy_header(name, value, &h[i]);
		if (!forwarded(name, list, have_cl))
			continue;
		if (h[i].name_len == 4 && strcasecmp(name, "Date") == 0)
			date = true;
		evbuffer_add(out, name, h[i].name_len);
		evbuffer_add(out, LB_LIT(": "));
		evbuffer_add(out, value, h[i].value_len);
		evbuffer_add(out, LB_LIT("\r\n"));
	}
	if (chunked)
		evbuffer_add(out, LB_LIT("Transfer-Encoding: chunked\r\n"));
	if (!date && http11) {
		const char *d = date_line();

		evbuffer_add(out, d, strlen(d));
	}
	if (!keepalive) {
		evbuffer_add(out, LB_LIT("Connection: close\r\n"));
		/* evhttp_send_done reads this to close after the answer. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
	} else if (!http11) {
		evbuffer_add(out, LB_LIT("Connection: keep-alive\r\n"));
	}
	evbuffer_add(out, LB_LIT("\r\n"));

	/* The fields evhttp_send_reply_start sets (event2/http_struct.h). */
	req->kind = EVHTTP_RESPONSE;
	req->response_code = (int)r->status;
	req->chunked = 0; /* the head itself goes out as it is */
	evhttp_send_reply_chunk(req, out);
	evbuffer_drain(out, evbuffer_get_length(out));
	req->chunked = chunked;
}

/* Decide how the origin's body is delimited and start the client reply. */
static int
start_reply(struct preq *p, const struct lb_http_response *r,
    const struct lb_http_header *h)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(p->req);
	const char	 *te = NULL, *cl = NULL, *conn = NULL;
	size_t		  te_len = 0, conn_len = 0;
	char		 *buf, *list, *reason, *q;
	size_t		  need;
	bool		  close = false;

	for (size_t i = 0; i < r->n_headers; i++) {
		if (h[i].name_len == 17 &&
		    strncasecmp(h[i].name, "Transfer-Encoding", 17) == 0) {
			te = h[i].value;
			te_len = h[i].value_len;
		} else if (h[i].name_len == 14 &&
		    strncasecmp(h[i].name, "Content-Length", 14) == 0) {
			uint64_t v;

			/* Two that differ: we cannot know where it ends. */
			if (lb_http_parse_content_length(h[i].value,
				h[i].value_len, &v) == -1 ||
			    (cl != NULL && v != p->remaining))
				return -1;
			cl = h[i].value;
			p->remaining = v;
		} else if (h[i].name_len == 10 &&
		    strncasecmp(h[i].name, "Connection", 10) == 0) {
			conn = h[i].value;
			conn_len = h[i].value_len;
		}
	}

	if (p->head_only || r->status < 200 || r->status == 204 ||
	    r->status == 304) {
		p->framing = FR_NONE;
	} else if (te != NULL) {
		/* Chunked must be the last coding; anything else: until EOF. */
		size_t n = te_len;

		while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == '\t'))
			n--;
		if (n >= 7 && strncasecmp(te + n - 7, "chunked", 7) == 0 &&
		    (n == 7 || te[n - 8] == ',' || te[n - 8] == ' '))
			p->framing = FR_CHUNKED;
		else
			p->framing = FR_CLOSE;
		p->chunk = CH_SIZE;
		/*
		 * TE wins over CL, and a message with both must not leave a
		 * connection to be reused (RFC 9112 section 6.3).
		 */
		if (cl != NULL)
			close = true;
		cl = NULL;
	} else if (cl != NULL) {
		p->framing = FR_LENGTH;
	} else {
		p->framing = FR_CLOSE;
	}
	if (p->framing == FR_CLOSE || r->minor == 0)
		close = true;

	/* NUL-terminated copies for evhttp, all in one allocation. */
	need = conn_len + 1 + r->reason_len + 1;
	for (size_t i = 0; i < r->n_headers; i++)
		need += h[i].name_len + 1 + h[i].value_len + 1;
	if ((buf = malloc(need)) == NULL)
		return -1;
	list = buf;
	memcpy(list, conn != NULL ? conn : "", conn_len);
	list[conn_len] = '\0';
	reason = list + conn_len + 1;
	memcpy(reason, r->reason, r->reason_len);
	reason[r->reason_len] = '\0';
	q = reason + r->reason_len + 1;

	if (lb_http_list_has(list, "close"))
		close = true;
	else if (r->minor == 0 && lb_http_list_has(list, "keep-alive"))
		close = p->framing == FR_CLOSE;
	p->keepalive = !close;

	p->status = p->upstream_status = (int)r->status;
	p->state = PR_BODY;
	if (p->framing == FR_NONE) {
		/* Rare (HEAD, 204, 304, 1xx): evhttp writes those itself. */
		for (size_t i = 0; i < r->n_headers; i++) {
			char *name = q, *value = q + h[i].name_len + 1;

			q = value + h[i].value_len + 1;
			copy_header(name, value, &h[i]);
			if (forwarded(name, list, cl != NULL))
				evhttp_add_header(oh, name, value);
		}
		if (p->px->draining)
			evhttp_add_header(oh, "Connection", "close");
		evhttp_send_reply_start(p->req, (int)r->status, reason);
	} else {
		send_head(p, r, h, list, reason, q, cl != NULL);
	}
	free(buf);
	return 0;
}

/* Parse the head when it is all there; 1xx interim answers are skipped. */
static void
read_head(struct preq *p)
{
	struct evbuffer	       *in = p->conn->in;
	struct lb_http_header	hdrs[LB_HTTP_MAX_HEADERS];
	struct lb_http_response r;

	for (;;) {
		size_t	    len = evbuffer_get_length(in);
		ssize_t	    n;
		const char *data;

		if (len == 0)
			return;
		if (len > MAX_RESPONSE_HEAD)
			len = MAX_RESPONSE_HEAD;
		data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		n = lb_http_parse_response(data, len, &r, hdrs,
		    LB_HTTP_MAX_HEADERS);
		if (n == 0 && len < MAX_RESPONSE_HEAD)
			return;
		if (n <= 0 || r.status == 101) {
			log_warnx("%s: invalid response head from %s",
			    p->route->label, p->peer->srv->addrstr);
			drop_peer(p, true);
			finish_error(p, 502);
			return;
		}
		if (r.status >= 100 && r.status < 200) {
			evbuffer_drain(in, (size_t)n);
			continue;
		}
		if (start_reply(p, &r, hdrs) == -1) {
			log_warnx("%s: unusable response head from %s",
			    p->route->label, p->peer->srv->addrstr);
			drop_peer(p, true);
			/* The head is not sent yet: evhttp sends ours. */
			evhttp_clear_headers(
			    evhttp_request_get_output_headers(p->req));
			finish_error(p, 502);
			return;
		}
		evbuffer_drain(in, (size_t)n);
		pump(p);
		return;
	}
}

/* evhttp wrote everything we gave it to the client. */
static void
client_drained(struct evhttp_connection *evcon, void *arg)
{
	struct preq *p = arg;

	if (!p->paused)
		return;
	p->paused = false;
	lb_conn_read(p->conn, &p->px->backend_tv);
	pump(p);
}

/*
 * Hand N bytes of the origin's body to the client, and write them at once
 * (client_flush) rather than on the next loop turn: a large body then costs
 * a read and a write per piece, not an EPOLLOUT toggle as well.
 */
static void
forward(struct preq *p, struct evbuffer *in, size_t n, bool last)
{
	struct bufferevent *cbev = NULL;
	struct evbuffer	   *out = p->px->scratch;

	evbuffer_remove_buffer(in, out, n);
	p->bytes += n;
	/*
	 * Not the last piece of a body with a length: finish_ok writes that
	 * one, after request_done, so a request is counted and logged
	 * before its client can see it complete.
	 */
	if (!last)
		cbev = client_hold(evhttp_request_get_connection(p->req));
	evhttp_send_reply_chunk_with_cb(p->req, out, client_drained, p);
	/* evhttp took them unless it had nothing to send them on. */
	evbuffer_drain(out, evbuffer_get_length(out));
	client_flush(p->px, cbev);
}

/* Move what the origin sent to the client, as the framing says. */
static void
pump(struct preq *p)
{
	struct evbuffer *in = p->conn->in;
	size_t		 len;

	for (;;) {
		len = evbuffer_get_length(in);
		switch (p->framing) {
		case FR_NONE:
			finish_ok(p);
			return;
		case FR_LENGTH:
			if (len > p->remaining)
				p->keepalive = false; /* stray bytes */
			if (len > 0 && p->remaining > 0) {
				size_t n = len < p->remaining ?
				    len :
				    (size_t)p->remaining;

				forward(p, in, n, n == p->remaining);
				p->remaining -= n;
			}
			if (p->remaining == 0) {
				finish_ok(p);
				return;
			}
			goto check;
		case FR_CLOSE:
			if (len > 0)
				forward(p, in, len, false);
			goto check;
		case FR_CHUNKED:
			break;
		}

		/* Chunked. */
		if (p->chunk == CH_DATA) {
			size_t n = len < p->remaining ? len :
							(size_t)p->remaining;

			if (n == 0)
				goto check;
			forward(p, in, n, false);
			p->remaining -= n;
			if (p->remaining == 0)
				p->chunk = CH_DATA_END;
			continue;
		}
		if (p->chunk == CH_DATA_END) {
			unsigned char *crlf;

			if (len < 2)
				goto check;
			crlf = evbuffer_pullup(in, 2);
			if (crlf[0] != '\r' || crlf[1] != '\n')
				goto bad;
			evbuffer_drain(in, 2);
			p->chunk = CH_SIZE;
			continue;
		}
		/* CH_SIZE or CH_TRAILER: a line. */
		{
			size_t	 n;
			char	*line;
			uint64_t size;

			line = evbuffer_readln(in, &n,
			    EVBUFFER_EOL_CRLF_STRICT);
			if (line == NULL) {
				if (len > MAX_CHUNK_LINE)
					goto bad;
				goto check;
			}
			if (p->chunk == CH_TRAILER) {
				free(line);
				if (n == 0) {
					finish_ok(p);
					return;
				}
				continue; /* trailers are dropped */
			}
			if (lb_http_parse_chunk_size(line, n, &size) == -1) {
				free(line);
				goto bad;
			}
			free(line);
			p->remaining = size;
			p->chunk = size == 0 ? CH_TRAILER : CH_DATA;
			continue;
		}
	}
check:
	/* Backpressure: a slow client slows the origin, not our memory. */
	if (p->req != NULL && !p->paused) {
		struct evhttp_connection *evcon = evhttp_request_get_connection(
		    p->req);

		if (evcon != NULL &&
		    evbuffer_get_length(bufferevent_get_output(
			evhttp_connection_get_bufferevent(evcon))) >
			CLIENT_HIGH_WATER) {
			p->paused = true;
			lb_conn_read_stop(p->conn);
		}
	}
	return;
bad:
	log_warnx("%s: invalid chunked body from %s", p->route->label,
	    p->peer->srv->addrstr);
	client_abort(p);
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
	case LB_CONN_READ:
		p->got_byte = true;
		if (p->state == PR_WAITING)
			read_head(p);
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
		/* Refused or timed out: down for every worker at once. */
		next_server(p, timeout ? 504 : 503, true);
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
		if (p->reused && !p->resent) {
			/*
			 * The origin closed an idle connection as we reused
			 * it: not its failure, and the request never reached
			 * it. Send it once more on a fresh connection.
			 */
			p->resent = true;
			p->reused = false;
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
		if (p->idempotent) {
			next_server(p, 502, false);
			return;
		}
		drop_peer(p, true);
		finish_error(p, 502);
		return;
	case PR_BODY:
		if (p->framing == FR_CLOSE && what == LB_CONN_EOF) {
			p->keepalive = false;
			pump(p); /* whatever is still buffered */
			if (p->req != NULL && p->conn != NULL)
				finish_ok(p);
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
		p->peer = lb_upstream_pick(p->up,
		    (struct sockaddr *)&p->client_sa, p->tried, lb_now_ms());
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

/*
 * What evhttp 2.1 lets through and a proxy must not forward (request
 * smuggling): Transfer-Encoding other than exactly "chunked", together
 * with Content-Length, several different Content-Lengths, header names
 * that are not tokens, more than one Host. Returns 0 or 400.
 */
static int
check_headers(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval	 *kv;
	unsigned	  n_te = 0, n_cl = 0, n_host = 0;
	uint64_t	  cl = 0, v;

	TAILQ_FOREACH(kv, in, next)
	{
		if (!lb_http_is_token(kv->key, strlen(kv->key)) ||
		    lb_str_has_ctl(kv->value, strlen(kv->value)))
			return 400;
		if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
			if (strcasecmp(kv->value, "chunked") != 0)
				return 400;
			n_te++;
		} else if (strcasecmp(kv->key, "Content-Length") == 0) {
			if (lb_http_parse_content_length(kv->value,
				strlen(kv->value), &v) == -1 ||
			    (n_cl > 0 && v != cl))
				return 400;
			cl = v;
			n_cl++;
		} else if (strcasecmp(kv->key, "Host") == 0) {
			n_host++;
		}
	}
	if (n_te > 1 || (n_te > 0 && n_cl > 0) || n_host > 1)
		return 400;
	return 0;
}

static const char *
method_name(enum evhttp_cmd_type cmd, bool *idempotent)
{
	*idempotent = true;
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_POST:
		*idempotent = false;
		return "POST";
	case EVHTTP_REQ_PATCH:
		*idempotent = false;
		return "PATCH";
	default:
		*idempotent = false;
		return NULL;
	}
}

void
lb_proxy_handle(struct evhttp_request *req, void *arg)
{
	struct lb_proxy		 *px = arg;
	struct evkeyvalq	 *in = evhttp_request_get_input_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct evhttp_uri	 *uri = evhttp_request_get_evhttp_uri(req);
	const struct sockaddr	 *sa = evhttp_connection_get_addr(evcon);
	const struct lb_route	 *route;
	const char		 *target, *qmark, *host, *method;
	char			 *npath = NULL;
	struct preq		 *p = NULL;
	bool			  idempotent;
	int			  code;

	if ((code = check_headers(req)) != 0) {
		reply_early(px, req, NULL, code, true);
		return;
	}
	if ((method = method_name(evhttp_request_get_command(req),
		 &idempotent)) == NULL) {
		refuse_connect(px, req);
		return;
	}
	host = evhttp_find_header(in, "Host");
	target = evhttp_request_get_uri(req);
	if (target[0] != '/') {
		/* absolute-form: its authority replaces Host (RFC 9112 3.2.2) */
		const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;

		if (scheme == NULL || strcasecmp(scheme, "http") != 0 ||
		    evhttp_uri_get_host(uri) == NULL) {
			reply_early(px, req, NULL, 400, false);
			return;
		}
		/*
		 * The authority as written, port included (RFC 9110 7.2),
		 * without userinfo. One worker is one thread: a static copy
		 * lives long enough (p->host copies it).
		 */
		{
			static char authority[512];
			const char *a = target + strlen(scheme) + 3, *e, *at;

			e = a + strcspn(a, "/?#");
			if ((at = memchr(a, '@', (size_t)(e - a))) != NULL)
				a = at + 1;
			if (e == a || (size_t)(e - a) >= sizeof(authority)) {
				reply_early(px, req, NULL, 400, false);
				return;
			}
			memcpy(authority, a, (size_t)(e - a));
			authority[e - a] = '\0';
			host = authority;
			if (*e == '?') {
				/* "http://h?q": the path is "/", the query kept. */
				static char rooted[8192];

				if (lb_snprintf(rooted, sizeof(rooted), "/%s",
					e) >= sizeof(rooted) - 1) {
					reply_early(px, req, NULL, 414, false);
					return;
				}
				target = rooted;
			} else {
				target = *e == '/' ? e : "/";
			}
		}
	}
	if (host == NULL && evhttp_request_get_host(req) == NULL) {
		/* evhttp 2.1 has no getter for the version: http_struct.h */
		if (req->major == 1 && req->minor >= 1) {
			/* RFC 9112 section 3.2: a 1.1 request needs a Host. */
			reply_early(px, req, NULL, 400, false);
			return;
		}
	}
	qmark = strchr(target, '?');
	if (lb_uri_normalize_path(target,
		qmark ? (size_t)(qmark - target) : strlen(target),
		&npath) == -1) {
		reply_early(px, req, NULL, 400, false);
		return;
	}

	if ((route = lb_routes_match(px->cfg->table, host, npath)) == NULL) {
		free(npath);
		reply_early(px, req, NULL, 404, false);
		return;
	}
	if (sa == NULL || !lb_rules_allowed(px->cfg, route, sa, npath)) {
		free(npath);
		reply_early(px, req, route, 403, false);
		return;
	}

	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto oom;
	px->inflight++;
	p->px = px;
	p->req = req;
	p->client = evcon;
	p->route = route;
	p->up = &px->ups[route->id];
	p->fail_status = 503;
	p->idempotent = idempotent;
	p->head_only = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
	p->start_us = lb_now_us();
	memcpy(&p->client_sa, sa,
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					sizeof(struct sockaddr_in));
	lb_addr_format_host(sa, p->client_ip, sizeof(p->client_ip));
	p->path = lb_rules_rewrite_path(route, npath);
	p->query = lb_uri_query_rewrite(qmark ? qmark + 1 : NULL,
	    route->param_remove, route->n_param_remove, route->param_add,
	    route->n_param_add);
	p->tried = p->up->n_peers <=
		sizeof(p->tried_small) / sizeof(p->tried_small[0]) ?
	    p->tried_small :
	    calloc(p->up->n_peers, sizeof(*p->tried));
	if (host != NULL)
		p->host = strdup(host);
	if (p->path == NULL || p->query == NULL || p->tried == NULL ||
	    (host != NULL && p->host == NULL)) {
		free(npath);
		p->req = NULL;
		preq_free(p);
		goto oom;
	}
	free(npath);

	p->fwd.method = method;
	p->fwd.path = p->path;
	p->fwd.query = p->query;
	p->fwd.in = in;
	p->fwd.client_ip = p->client_ip;
	p->fwd.host = p->host;
	p->fwd.body_len = evbuffer_get_length(
	    evhttp_request_get_input_buffer(req));
	p->fwd.body_always = evhttp_request_get_command(req) ==
		EVHTTP_REQ_POST ||
	    evhttp_request_get_command(req) == EVHTTP_REQ_PUT ||
	    evhttp_request_get_command(req) == EVHTTP_REQ_PATCH;

	/* Hear about the client leaving while the origin works. */
	lb_clients_busy(px->clients, req, client_closed, p);
	attempt(p);
	return;
oom:
	log_warnx("out of memory handling a request");
	reply_early(px, req, NULL, 500, true);
}

/* --------------------------------------------------------- set-up */

int
lb_proxy_init(struct lb_proxy *px, struct event_base *base,
    const struct lb_cfg *cfg, struct lb_shm *shm, uint64_t seed)
{
	unsigned idle_ms = POOL_IDLE_MS;

	memset(px, 0, sizeof(*px));
	px->base = base;
	px->cfg = cfg;
	px->shm = shm;
	px->connect_tv.tv_sec = cfg->connect_timeout_ms / 1000;
	px->connect_tv.tv_usec = (cfg->connect_timeout_ms % 1000) * 1000;
	px->backend_tv.tv_sec = cfg->backend_timeout_ms / 1000;
	px->backend_tv.tv_usec = (cfg->backend_timeout_ms % 1000) * 1000;
	px->ups = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof(*px->ups));
	px->pools = calloc(cfg->n_servers ? cfg->n_servers : 1,
	    sizeof(*px->pools));
	px->scratch = evbuffer_new();
	if (px->ups == NULL || px->pools == NULL || px->scratch == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		if (lb_upstream_init(&px->ups[i], r, shm->servers, seed + i) ==
		    -1)
			goto fail;
		for (size_t s = 0; s < r->n_servers; s++)
			lb_pool_init(&px->pools[r->servers[s].id],
			    &r->servers[s], base, POOL_MAX_IDLE, idle_ms);
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
	if (px->scratch != NULL)
		evbuffer_free(px->scratch);
	px->pools = NULL;
	px->ups = NULL;
	px->scratch = NULL;
}

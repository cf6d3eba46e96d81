/*
 * tests/origin.c -- the test origin, also the demo's backend.
 *
 * A small HTTP/1.1 server on libevent's evhttp that tells a test what it
 * received, and misbehaves on request so that a proxy's error paths can be
 * tested from outside:
 *
 *	origin --name mango --listen 127.0.0.1:8081 [--listen ...]
 *	    [--port-file FILE] [--health-fail] [--idle-close MS] [--raw]
 *	    [--mode reset|garbage|close|close-reused|partial|slow:MS]
 *
 * GET /healthcheck answers "OK" (200), or 500 while failing. /v1 and /v2
 * answer "This is V1" and "This is V2", the teaching project's answers.
 * Any other path gets a JSON description of the request (see
 * describe): its method, path, query, every header as it arrived, and
 * the body's length and CRC-32. POST /__control?health=fail|ok flips the
 * health check and GET /__stats returns the counters as JSON.
 *
 * Request headers steer one answer, so they work through a proxy:
 * X-Test-Delay: MS, X-Test-Status: CODE, X-Test-Fault: reset | garbage |
 * close | close-reused | partial, X-Test-Body: BYTES (the pattern below,
 * streamed under flow control; X-Test-Chunked: 1 sends it chunked),
 * X-Test-Set-Cookie: N, X-Test-Header: Name: value, X-Test-Fill: N,LEN
 * (N fields "X-Fill-I" of LEN bytes each). close-reused closes
 * the connection without an answer when the request is not the first on
 * its connection, and answers as usual when it is: a kept-alive
 * connection that the origin drops just as a proxy reuses it, and a
 * resend on a fresh connection that succeeds.
 *
 * Upgrades. evhttp takes no notice of Upgrade: without --raw, a request
 * with Upgrade gets the JSON answer like any other, which is how a test
 * has an upgrade request answered with an ordinary 200.
 *
 * --raw serves the sockets with the origin's own few lines of HTTP/1.1
 * instead of evhttp, for the two things evhttp cannot do (it reads a
 * request body whole before the request callback runs, and cannot hand a
 * connection over after a 101):
 *
 * - A request body is read as it arrives, Content-Length or chunked, and
 *   never held: only its length and CRC-32 are kept, for the JSON answer,
 *   which comes once the body is whole. /__stats adds "body_bytes", the
 *   request body bytes received so far, counted as they arrive (so a test
 *   can see the first ones come in before it sends the last), and
 *   "bodies_cut", the requests whose connection ended in the middle of
 *   the body (each also logged on stderr).
 * - A request with an Upgrade header and a Connection header that lists
 *   "upgrade" is answered "101 Switching Protocols" with Connection:
 *   Upgrade and the same Upgrade, and from then on every byte received is
 *   echoed as it is (with backpressure: the origin stops reading while
 *   1 MiB of echo is unsent). On EOF the origin sends one more line,
 *   "EOF after N bytes\n" (N: the bytes it echoed), then shuts down its
 *   sending side: the line arrives only if a proxy passed the client's
 *   half-close on and still carries the answer back. /__stats counts
 *   these answers as "upgrades".
 * - /__stats counts in "chunk_exts" the chunk-size lines of request
 *   bodies that carried a chunk extension.
 *
 * Every other request gets the JSON description, and /__stats and
 * /healthcheck answer as above; /v1, /v2, /__control, the X-Test-*
 * headers, --mode and --idle-close are evhttp's only.
 *
 * Counting. A connection is counted (and given its connection_id) when it
 * carries its first application request, that is a request other than
 * /healthcheck, /__stats and /__control. So a test's readiness probes, a
 * health checker and the test's own /__stats queries never shift the
 * numbers a test asserts on. "requests" counts application requests
 * once their body has come whole; "health_probes" counts /healthcheck
 * requests.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#define MAX_LISTEN	16
#define STREAM_PIECE	(64 * 1024) /* bytes queued per write callback */
#define CONN_BUCKETS	256
#define MAX_COOKIES	16
#define MAX_FILL	4096	    /* X-Test-Fill: fields */
#define MAX_FILL_LEN	(64 * 1024) /* X-Test-Fill: bytes of each */
#define PARTIAL_DEFAULT 1024	    /* body announced by a bare partial */
#define MAX_RAW_LISTEN	64 /* sockets of --raw: --listen may resolve to many */
#define RAW_LINE_MAX	(64 * 1024)   /* --raw: a longer line is refused */
#define RAW_ECHO_HIGH	(1024 * 1024) /* --raw: unsent echo that stops reads */

/*
 * The body pattern: byte i is 'a' + (i + i / 26) % 26. Printable, so a
 * body can be looked at with curl, and it does not repeat within 676
 * bytes, so a dropped or repeated piece shows in a checksum. Keep in step
 * with lbt_pattern_fill in tests/harness.c.
 */
#define PATTERN_PERIOD 676

enum fault {
	FAULT_NONE,
	FAULT_RESET,	    /* RST without a response */
	FAULT_GARBAGE,	    /* bytes that are not HTTP, then close */
	FAULT_CLOSE,	    /* close without a response */
	FAULT_CLOSE_REUSED, /* FAULT_CLOSE, unless the connection is new */
	FAULT_PARTIAL	    /* headers and half the body, then close */
};

/* One accepted connection, known from its first request on. */
struct conn {
	struct evhttp_connection *evcon;   /* not owned */
	uint64_t		  id;	   /* 0 until an application request */
	struct pending		 *pending; /* the answer under way, or NULL */
	uint64_t		  nrequests; /* requests it carried */
	struct conn		 *next;	     /* hash chain */
};

/* An answer that is not sent from the request callback itself. */
struct pending {
	struct evhttp_request *req;   /* libevent's; ours until answered */
	struct conn	      *conn;  /* the connection it arrived on */
	struct event	      *timer; /* owned: delay, or a fault's turn */
	enum fault	       fault;
	int		       status;
	struct evbuffer	      *body;   /* owned; NULL when streaming */
	bool		       stream; /* send stream_len pattern bytes */
	uint64_t	       stream_len;
	uint64_t	       stream_sent;
};

/* A connection of the raw server (--raw), from accept to close. */
enum raw_state {
	RAW_HEAD,	/* a request head, line by line */
	RAW_BODY,	/* LEFT bytes of a Content-Length body to come */
	RAW_CHUNK_SIZE, /* a chunk-size line */
	RAW_CHUNK_DATA, /* LEFT bytes of a chunk to come */
	RAW_CHUNK_END,	/* the line end after a chunk's data */
	RAW_TRAILER,	/* trailer lines, up to the empty one */
	RAW_TUNNEL,	/* after a 101: every byte is echoed */
	RAW_CLOSING	/* the last answer is being written */
};

struct raw_conn {
	struct bufferevent *bev; /* owned, with the socket */
	enum raw_state	    state;
	uint64_t	    id;	    /* as struct conn's */
	char		   *method; /* owned; NULL until a request line came */
	char		   *target; /* owned */
	bool		    http10;
	struct evkeyvalq    headers; /* the request's, owned */
	uint64_t	    left;
	uint64_t	    body_len; /* request body bytes so far */
	uint32_t	    body_crc; /* and their CRC-32 */
	uint64_t	    echoed;   /* bytes echoed since the 101 */
	bool		    eof;      /* the peer has shut down its side */
	LIST_ENTRY(raw_conn) link;
};
LIST_HEAD(raw_list, raw_conn);

/* The one process-wide state: options and counters. */
static struct {
	const char     *name;	     /* --name, "app" in the JSON */
	bool		health_fail; /* /healthcheck answers 500 */
	enum fault	mode_fault;  /* --mode: a fault for every request */
	long		mode_delay;  /* --mode slow:MS */
	bool		raw;	     /* --raw */
	uint64_t	connections;
	uint64_t	open_connections;
	uint64_t	requests;
	uint64_t	health_probes;
	uint64_t	body_bytes;
	uint64_t	bodies_cut;
	uint64_t	upgrades;
	uint64_t	chunk_exts; /* --raw: chunk-size lines with a ";" */
	struct conn    *conns[CONN_BUCKETS];
	struct raw_list raws;
	struct evconnlistener *raw_listeners[MAX_RAW_LISTEN];
	int		       nraw_listeners;
	struct event_base     *base;
	uint32_t	       crc_table[256];
	char		       pattern[PATTERN_PERIOD];
} g;

static void respond(struct pending *);
static void stream_piece(struct pending *);

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "origin: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
crc_init(void)
{
	uint32_t c;
	int	 i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
		g.crc_table[i] = c;
	}
	for (i = 0; i < PATTERN_PERIOD; i++)
		g.pattern[i] = (char)('a' + (i + i / 26) % 26);
}

/* CRC-32 (IEEE, as zlib's crc32) continued from CRC over LEN bytes. */
static uint32_t
crc_add(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
	while (len-- > 0)
		crc = g.crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* Append LEN pattern bytes that start at body offset OFF. */
static int
pattern_add(struct evbuffer *buf, uint64_t off, size_t len)
{
	size_t at, n;

	while (len > 0) {
		at = (size_t)(off % PATTERN_PERIOD);
		n = PATTERN_PERIOD - at;
		if (n > len)
			n = len;
		if (evbuffer_add(buf, g.pattern + at, n) == -1)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

/* Parse a non-negative decimal no larger than MAX; -1 if it is not one. */
static long long
parse_num(const char *s, long long max)
{
	long long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/* ------------------------------------------------------------ JSON */

static void
json_str(struct evbuffer *b, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			evbuffer_add(b, "\\\"", 2);
			break;
		case '\\':
			evbuffer_add(b, "\\\\", 2);
			break;
		case '\n':
			evbuffer_add(b, "\\n", 2);
			break;
		case '\r':
			evbuffer_add(b, "\\r", 2);
			break;
		case '\t':
			evbuffer_add(b, "\\t", 2);
			break;
		default:
			/* Bytes from 0x80 pass as they are: UTF-8 stays. */
			if (*p < 0x20 || *p == 0x7f)
				evbuffer_add_printf(b, "\\u%04x", *p);
			else
				evbuffer_add(b, p, 1);
		}
	}
	evbuffer_add(b, "\"", 1);
}

/* "headers": every header in arrival order; a repeated name is an array. */
static void
json_headers(struct evbuffer *b, struct evkeyvalq *hdrs)
{
	struct evkeyval *h, *prev, *o;
	bool		 first = true, seen, many;

	evbuffer_add_printf(b, "{");
	TAILQ_FOREACH(h, hdrs, next)
	{
		seen = false;
		for (prev = TAILQ_FIRST(hdrs); prev != h;
		     prev = TAILQ_NEXT(prev, next))
			if (strcasecmp(prev->key, h->key) == 0)
				seen = true;
		if (seen)
			continue;
		many = false;
		for (o = TAILQ_NEXT(h, next); o != NULL;
		     o = TAILQ_NEXT(o, next))
			if (strcasecmp(o->key, h->key) == 0)
				many = true;
		if (!first)
			evbuffer_add(b, ", ", 2);
		first = false;
		json_str(b, h->key);
		evbuffer_add(b, ": ", 2);
		if (!many) {
			json_str(b, h->value);
			continue;
		}
		evbuffer_add(b, "[", 1);
		for (o = h; o != NULL; o = TAILQ_NEXT(o, next)) {
			if (strcasecmp(o->key, h->key) != 0)
				continue;
			if (o != h)
				evbuffer_add(b, ", ", 2);
			json_str(b, o->value);
		}
		evbuffer_add(b, "]", 1);
	}
	evbuffer_add(b, "}", 1);
}

/*
 * The decoded value of query parameter NAME (first occurrence), or NULL.
 * Parsed by hand: evhttp_parse_query_str rejects a query with a bare
 * "flag" in it, and a test origin must describe what it got.
 */
static char *
query_param(const char *query, const char *name)
{
	const char *p, *end, *eq;
	char	   *key, *val, *part;
	size_t	    n;

	for (p = query; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if ((part = strndup(p, (size_t)(end - p))) == NULL)
			return NULL;
		eq = strchr(part, '=');
		n = eq ? (size_t)(eq - part) : strlen(part);
		part[n] = '\0';
		key = evhttp_uridecode(part, 1, NULL);
		if (key != NULL && strcmp(key, name) == 0) {
			val = evhttp_uridecode(eq ? part + n + 1 : "", 1, NULL);
			free(key);
			free(part);
			return val;
		}
		free(key);
		free(part);
	}
	return NULL;
}

/* ------------------------------------------------------- connections */

static unsigned
conn_bucket(const struct evhttp_connection *evcon)
{
	return (unsigned)(((uintptr_t)evcon >> 4) % CONN_BUCKETS);
}

/*
 * libevent calls this from evhttp_connection_free, whatever the reason:
 * after a reply with Connection: close, on EOF, on an idle timeout, on
 * our own faults and at exit. An answer still pending is dropped here.
 */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct conn    *c = arg, **pp;
	struct pending *p = c->pending;

	if (p != NULL) {
		/*
		 * On EOF libevent detaches a request the user has not
		 * finished and leaves it to us; an attached one it frees
		 * itself right after this callback.
		 */
		if (evhttp_request_get_connection(p->req) == NULL)
			evhttp_request_free(p->req);
		if (p->timer != NULL)
			event_free(p->timer);
		if (p->body != NULL)
			evbuffer_free(p->body);
		free(p);
	}
	if (c->id != 0)
		g.open_connections--;
	for (pp = &g.conns[conn_bucket(evcon)]; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	free(c);
}

/* The record of the connection REQ came on, made at its first request. */
static struct conn *
conn_get(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn		 *c;
	unsigned		  b;

	if (evcon == NULL)
		return NULL;
	b = conn_bucket(evcon);
	for (c = g.conns[b]; c != NULL; c = c->next)
		if (c->evcon == evcon)
			return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->evcon = evcon;
	c->next = g.conns[b];
	g.conns[b] = c;
	evhttp_connection_set_closecb(evcon, conn_closed, c);
	return c;
}

static void
conn_count(struct conn *c)
{
	if (c->id != 0)
		return;
	c->id = ++g.connections;
	g.open_connections++;
}

/* ------------------------------------------------------------ answers */

static void
pending_free(struct pending *p)
{
	if (p->conn != NULL && p->conn->pending == p)
		p->conn->pending = NULL;
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->body != NULL)
		evbuffer_free(p->body);
	free(p);
}

/* "http://ADDR:PORT" of socket FD's own end, for the "url" field. */
static void
sock_url(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t		sl = sizeof(ss);
	char			host[INET6_ADDRSTRLEN];

	snprintf(out, outlen, "http://unknown");
	if (fd == -1 || getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "http://%s:%u", host,
		    ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "http://[%s]:%u", host,
		    ntohs(sin6->sin6_port));
	}
}

static const char *
method_name(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
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
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "UNKNOWN";
}

/*
 * The JSON description of a request that any unreserved path answers
 * with: METHOD and TARGET as they came (URI: TARGET parsed, or NULL), the
 * headers HDRS, the body's length and CRC-32, the id of the connection
 * and URL, "http://ADDR:PORT" of its own end.
 */
static void
describe(struct evbuffer *b, const char *method, const char *target,
    const struct evhttp_uri *uri, const char *url, struct evkeyvalq *hdrs,
    uint64_t body_len, uint32_t crc, uint64_t conn_id)
{
	const char *path, *query;
	char	   *msg, *param, *full;

	path = uri ? evhttp_uri_get_path(uri) : NULL;
	query = uri ? evhttp_uri_get_query(uri) : NULL;
	evbuffer_add_printf(b, "{\"app\": ");
	json_str(b, g.name);
	if (asprintf(&msg, "This is the %s application.", g.name) == -1)
		msg = NULL;
	evbuffer_add_printf(b, ", \"message\": ");
	json_str(b, msg);
	free(msg);
	if (asprintf(&full, "%s%s", url, target) == -1)
		full = NULL;
	evbuffer_add_printf(b, ", \"url\": ");
	json_str(b, full);
	free(full);
	evbuffer_add_printf(b, ", \"method\": ");
	json_str(b, method);
	evbuffer_add_printf(b, ", \"path\": ");
	json_str(b, path ? path : "");
	evbuffer_add_printf(b, ", \"query\": ");
	json_str(b, query ? query : "");
	evbuffer_add_printf(b, ", \"headers\": ");
	json_headers(b, hdrs);
	evbuffer_add_printf(b, ", \"MyCustomHeader\": ");
	json_str(b, evhttp_find_header(hdrs, "MyCustomHeader"));
	evbuffer_add_printf(b, ", \"Host\": ");
	json_str(b, evhttp_find_header(hdrs, "Host"));
	param = query_param(query, "MyCustomParam");
	evbuffer_add_printf(b, ", \"MyCustomParam\": ");
	json_str(b, param);
	free(param);
	evbuffer_add_printf(b,
	    ", \"body_length\": %" PRIu64 ", \"body_crc32\": "
	    "\"%08" PRIx32 "\", \"connection_id\": %" PRIu64
	    ", \"connections\": %" PRIu64 ", \"requests\": %" PRIu64 "}\n",
	    body_len, crc, conn_id, g.connections, g.requests);
}

/* The JSON description of REQ, which evhttp has read whole. */
static void
reply_json(struct evbuffer *b, struct evhttp_request *req, struct conn *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evbuffer		 *body = evhttp_request_get_input_buffer(req);
	struct evbuffer_iovec	 *v = NULL;
	char			  url[128];
	uint32_t		  crc = 0;
	int			  i, n;

	n = evbuffer_peek(body, -1, NULL, NULL, 0);
	if (n > 0 && (v = calloc((size_t)n, sizeof(*v))) != NULL) {
		evbuffer_peek(body, -1, NULL, v, n);
		for (i = 0; i < n; i++)
			crc = crc_add(crc, v[i].iov_base, v[i].iov_len);
	}
	free(v);
	sock_url(evcon ?
		bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)) :
		-1,
	    url, sizeof(url));
	describe(b, method_name(req), evhttp_request_get_uri(req),
	    evhttp_request_get_evhttp_uri(req), url,
	    evhttp_request_get_input_headers(req), evbuffer_get_length(body),
	    crc, c ? c->id : 0);
}

/* Whether a response with STATUS to REQ may carry a body at all. */
static bool
has_body(struct evhttp_request *req, int status)
{
	return evhttp_request_get_command(req) != EVHTTP_REQ_HEAD &&
	    status >= 200 && status != 204 && status != 304;
}

static void
set_length(struct evhttp_request *req, uint64_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char		  cl[32];

	snprintf(cl, sizeof(cl), "%" PRIu64, len);
	evhttp_remove_header(out, "Content-Length");
	evhttp_add_header(out, "Content-Length", cl);
}

/* Write LEN bytes straight to FD, as far as the socket takes them. */
static void
raw_send(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t	    n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/*
 * Misbehave on the connection REQ came on, then free it. Runs from a
 * timer, never from the request callback, so libevent is not inside the
 * connection we free. The bytes are written straight to the socket: no
 * response has started, so nothing of libevent's is queued before them.
 */
static void
do_fault(struct pending *p)
{
	struct evhttp_connection *evcon;
	struct linger		  lg = { 1, 0 };
	struct evbuffer		 *half;
	enum fault		  f = p->fault;
	uint64_t		  total;
	char			  head[256];
	int			  fd, ph;

	evcon = evhttp_request_get_connection(p->req);
	total = p->stream ? p->stream_len : PARTIAL_DEFAULT;
	/* libevent frees the request with the connection. */
	pending_free(p);
	if (evcon == NULL)
		return;
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));

	switch (f) {
	case FAULT_RESET:
		/*
		 * evhttp_connection_free shuts the socket down for writing
		 * (a FIN) before the bufferevent closes it, later. To have
		 * the peer see only an RST, drop the socket now: dup2 puts
		 * a fresh unconnected socket in its slot, which closes the
		 * connected one (SO_LINGER 0: RST) and leaves libevent a
		 * descriptor it may shut down and close without harm.
		 */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		ph = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ph != -1) {
			dup2(ph, fd);
			close(ph);
		}
		break;
	case FAULT_GARBAGE:
		raw_send(fd, "\x01\x02garbage, not HTTP\xff\xfe\r\n\r\n", 26);
		break;
	case FAULT_PARTIAL:
		snprintf(head, sizeof(head),
		    "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/octet-stream\r\n"
		    "Content-Length: %" PRIu64 "\r\n\r\n",
		    total);
		raw_send(fd, head, strlen(head));
		if ((half = evbuffer_new()) != NULL) {
			if (pattern_add(half, 0,
				(size_t)(total / 2 < (1 << 20) ? total / 2 :
								 1 << 20)) == 0)
				raw_send(fd, evbuffer_pullup(half, -1),
				    evbuffer_get_length(half));
			evbuffer_free(half);
		}
		break;
	case FAULT_CLOSE:
	case FAULT_CLOSE_REUSED: /* made FAULT_CLOSE or FAULT_NONE by now */
	case FAULT_NONE:
		break;
	}
	evhttp_connection_free(evcon);
}

/* Write callback: the previous piece left the output buffer. */
static void
stream_more(struct evhttp_connection *evcon, void *arg)
{
	stream_piece(arg);
}

/*
 * Queue the next piece of a pattern body. At most one piece is in memory:
 * the next is made when libevent reports the last one written, so a slow
 * reader holds the origin back instead of filling its memory.
 */
static void
stream_piece(struct pending *p)
{
	struct evhttp_request *req = p->req;
	struct evbuffer	      *buf;
	uint64_t	       left = p->stream_len - p->stream_sent;
	size_t n = left < STREAM_PIECE ? (size_t)left : STREAM_PIECE;

	if ((buf = evbuffer_new()) == NULL ||
	    pattern_add(buf, p->stream_sent, n) == -1) {
		if (buf != NULL)
			evbuffer_free(buf);
		evhttp_connection_free(evhttp_request_get_connection(req));
		return;
	}
	p->stream_sent += n;
	if (p->stream_sent < p->stream_len) {
		evhttp_send_reply_chunk_with_cb(req, buf, stream_more, p);
		evbuffer_free(buf);
		return;
	}
	if (n > 0)
		evhttp_send_reply_chunk(req, buf);
	evbuffer_free(buf);
	pending_free(p);
	evhttp_send_reply_end(req);
}

/* Send the answer prepared in P, and free P. Exactly one reply. */
static void
respond(struct pending *p)
{
	struct evhttp_request *req = p->req;

	if (p->fault != FAULT_NONE) {
		do_fault(p);
		return;
	}
	if (p->stream && has_body(req, p->status)) {
		if (p->conn != NULL)
			p->conn->pending = p;
		evhttp_send_reply_start(req, p->status, NULL);
		stream_piece(p);
		return;
	}
	if (!has_body(req, p->status)) {
		/*
		 * evhttp 2.1 writes whatever body it is given, even to a
		 * HEAD or after a 204. A HEAD gets the length a GET would.
		 */
		if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD &&
		    p->status >= 200 && p->status != 204 && p->status != 304 &&
		    !p->stream)
			set_length(req, evbuffer_get_length(p->body));
		evhttp_send_reply(req, p->status, NULL, NULL);
	} else
		evhttp_send_reply(req, p->status, NULL, p->body);
	pending_free(p);
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	respond(arg);
}

/* ---------------------------------------------------------- requests */

static void
reply_text(struct evhttp_request *req, int status, const char *text,
    const char *type)
{
	struct evbuffer *b = evbuffer_new();

	if (b != NULL)
		evbuffer_add(b, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_send_reply(req, status, NULL, b);
	if (b != NULL)
		evbuffer_free(b);
}

/* The counters, as GET /__stats answers them. */
static void
stats_json(struct evbuffer *b)
{
	evbuffer_add_printf(b,
	    "{\"connections\": %" PRIu64 ", \"requests\": %" PRIu64
	    ", \"health_probes\": %" PRIu64 ", \"open_connections\": %" PRIu64
	    ", \"body_bytes\": %" PRIu64 ", \"bodies_cut\": %" PRIu64
	    ", \"upgrades\": %" PRIu64 ", \"chunk_exts\": %" PRIu64 "}\n",
	    g.connections, g.requests, g.health_probes, g.open_connections,
	    g.body_bytes, g.bodies_cut, g.upgrades, g.chunk_exts);
}

/* /__stats and /__control: answered at once, counted nowhere. */
static void
control(struct evhttp_request *req, const char *path)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer		*b;
	char			*v;

	if (strcmp(path, "/__stats") == 0) {
		if ((b = evbuffer_new()) == NULL) {
			evhttp_send_error(req, 500, "out of memory");
			return;
		}
		stats_json(b);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "application/json");
		evhttp_send_reply(req, 200, NULL, b);
		evbuffer_free(b);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply_text(req, 405, "POST only\n", "text/plain");
		return;
	}
	v = query_param(evhttp_uri_get_query(uri), "health");
	if (v != NULL && strcmp(v, "fail") == 0)
		g.health_fail = true;
	else if (v != NULL && strcmp(v, "ok") == 0)
		g.health_fail = false;
	else {
		free(v);
		reply_text(req, 400, "expected health=fail or health=ok\n",
		    "text/plain");
		return;
	}
	free(v);
	reply_text(req, 200, g.health_fail ? "health: fail\n" : "health: ok\n",
	    "text/plain");
}

static enum fault
parse_fault(const char *s)
{
	if (s == NULL)
		return FAULT_NONE;
	if (strcmp(s, "reset") == 0)
		return FAULT_RESET;
	if (strcmp(s, "garbage") == 0)
		return FAULT_GARBAGE;
	if (strcmp(s, "close") == 0)
		return FAULT_CLOSE;
	if (strcmp(s, "close-reused") == 0)
		return FAULT_CLOSE_REUSED;
	if (strcmp(s, "partial") == 0)
		return FAULT_PARTIAL;
	return FAULT_NONE;
}

/*
 * X-Test-Fill: N,LEN adds N fields "X-Fill-I: fff..." (I from 1, LEN
 * bytes of value each) to the answer: a head as large or as many-fielded
 * as a test needs.
 */
static void
fill_headers(struct evkeyvalq *out, const char *spec)
{
	static char value[MAX_FILL_LEN + 1];
	char	    name[32];
	long long   n, len;

	if (spec == NULL || sscanf(spec, "%lld,%lld", &n, &len) != 2 ||
	    n <= 0 || n > MAX_FILL || len < 0 || len > MAX_FILL_LEN)
		return;
	memset(value, 'f', (size_t)len);
	value[len] = '\0';
	for (long long i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "X-Fill-%lld", i);
		evhttp_add_header(out, name, value);
	}
}

/* Apply the X-Test-* headers of the request to the answer in P. */
static void
test_controls(struct pending *p, long *delay)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(p->req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(p->req);
	struct evkeyval	 *h;
	const char	 *chunked;
	long long	  v;
	char		 *name, *val, cookie[32];
	int		  i;

	if ((v = parse_num(evhttp_find_header(in, "X-Test-Delay"),
		 3600 * 1000)) > 0)
		*delay += (long)v;
	if ((v = parse_num(evhttp_find_header(in, "X-Test-Status"), 999)) >=
	    100)
		p->status = (int)v;
	if (evhttp_find_header(in, "X-Test-Fault") != NULL)
		p->fault = parse_fault(evhttp_find_header(in, "X-Test-Fault"));
	if ((v = parse_num(evhttp_find_header(in, "X-Test-Body"),
		 LLONG_MAX / 2)) >= 0) {
		p->stream = true;
		p->stream_len = (uint64_t)v;
		evhttp_remove_header(out, "Content-Type");
		evhttp_add_header(out, "Content-Type",
		    "application/octet-stream");
		chunked = evhttp_find_header(in, "X-Test-Chunked");
		/* Without Content-Length evhttp_send_reply_start chunks. */
		if ((chunked == NULL || strcmp(chunked, "1") != 0) &&
		    p->status >= 200 && p->status != 204)
			set_length(p->req, (uint64_t)v);
	}
	if ((v = parse_num(evhttp_find_header(in, "X-Test-Set-Cookie"),
		 MAX_COOKIES)) > 0) {
		for (i = 1; i <= v; i++) {
			snprintf(cookie, sizeof(cookie), "c%d=%d; Path=/", i,
			    i);
			evhttp_add_header(out, "Set-Cookie", cookie);
		}
	}
	fill_headers(out, evhttp_find_header(in, "X-Test-Fill"));
	TAILQ_FOREACH(h, in, next)
	{
		if (strcasecmp(h->key, "X-Test-Header") != 0)
			continue;
		if ((name = strdup(h->value)) == NULL)
			continue;
		if ((val = strchr(name, ':')) != NULL) {
			*val++ = '\0';
			val += strspn(val, " \t");
			evhttp_add_header(out, name, val);
		}
		free(name);
	}
}

/*
 * The request callback. Every request ends in exactly one reply, or one
 * fault: at once, or from the pending answer's timer.
 */
static void
handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct pending		*p;
	struct timeval		 tv;
	long			 delay;

	if (path == NULL || *path == '\0')
		path = "/";
	if (strcmp(path, "/__stats") == 0 || strcmp(path, "/__control") == 0) {
		control(req, path);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->body = evbuffer_new()) == NULL) {
		free(p);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	p->req = req;
	p->conn = conn_get(req);
	if (p->conn != NULL)
		p->conn->nrequests++;
	p->status = 200;
	p->fault = g.mode_fault;
	delay = g.mode_delay;

	if (strcmp(path, "/healthcheck") == 0) {
		g.health_probes++;
		if (g.health_fail)
			p->status = 500;
		evbuffer_add_printf(p->body, g.health_fail ? "FAIL" : "OK");
		evhttp_add_header(out, "Content-Type", "text/plain");
	} else {
		if (p->conn != NULL)
			conn_count(p->conn);
		g.requests++;
		g.body_bytes += evbuffer_get_length(
		    evhttp_request_get_input_buffer(req));
		if (strcmp(path, "/v1") == 0 || strcmp(path, "/v2") == 0) {
			evbuffer_add_printf(p->body, "This is V%c", path[2]);
			evhttp_add_header(out, "Content-Type", "text/plain");
		} else {
			reply_json(p->body, req, p->conn);
			evhttp_add_header(out, "Content-Type",
			    "application/json");
		}
	}
	test_controls(p, &delay);
	if (p->fault == FAULT_CLOSE_REUSED)
		p->fault = p->conn != NULL && p->conn->nrequests > 1 ?
		    FAULT_CLOSE :
		    FAULT_NONE;

	if (delay == 0 && p->fault == FAULT_NONE) {
		respond(p);
		return;
	}
	/* A fault waits for a timer even without a delay: see do_fault. */
	if ((p->timer = evtimer_new(g.base, timer_fired, p)) == NULL) {
		pending_free(p);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (p->conn != NULL)
		p->conn->pending = p;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	/* Count the delay from now, not from the loop's cached time. */
	event_base_update_cache_time(g.base);
	evtimer_add(p->timer, &tv);
}

/* -------------------------------------------------------- raw server */

/*
 * --raw: the origin reads and writes its sockets itself (see the head
 * comment). One struct raw_conn per connection; its read callback runs
 * the request through the states of enum raw_state.
 */

static void
raw_free(struct raw_conn *rc)
{
	if (rc->id != 0)
		g.open_connections--;
	LIST_REMOVE(rc, link);
	evhttp_clear_headers(&rc->headers);
	free(rc->method);
	free(rc->target);
	bufferevent_free(rc->bev);
	free(rc);
}

/* Forget the request just answered: the next one starts afresh. */
static void
raw_reset(struct raw_conn *rc)
{
	evhttp_clear_headers(&rc->headers);
	free(rc->method);
	free(rc->target);
	rc->method = rc->target = NULL;
	rc->http10 = false;
	rc->left = rc->body_len = 0;
	rc->body_crc = 0;
	rc->state = RAW_HEAD;
}

static void
raw_count(struct raw_conn *rc)
{
	if (rc->id != 0)
		return;
	rc->id = ++g.connections;
	g.open_connections++;
}

/* Whether a NAME header of the request lists TOKEN (any case). */
static bool
raw_lists(struct raw_conn *rc, const char *name, const char *token)
{
	struct evkeyval *h;
	const char	*p, *e;
	size_t		 n = strlen(token), len;

	TAILQ_FOREACH(h, &rc->headers, next)
	{
		if (strcasecmp(h->key, name) != 0)
			continue;
		for (p = h->value; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
			p += strspn(p, " \t");
			e = p + strcspn(p, ",");
			len = (size_t)(e - p);
			while (len > 0 &&
			    (p[len - 1] == ' ' || p[len - 1] == '\t'))
				len--;
			if (len == n && strncasecmp(p, token, n) == 0)
				return true;
		}
	}
	return false;
}

/* Whether the request's path (its target up to any query) is PATH. */
static bool
raw_path_is(struct raw_conn *rc, const char *path)
{
	size_t n = strcspn(rc->target, "?");

	return n == strlen(path) && strncmp(rc->target, path, n) == 0;
}

/*
 * Read the request head line by line. 1 when it is whole, 0 when more
 * must come, -1 when it is not HTTP/1.x.
 */
static int
raw_head(struct raw_conn *rc, struct evbuffer *in)
{
	char  *line, *sp1, *sp2, *colon, *v, *end;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		if (rc->method == NULL) {
			/* RFC 9112 section 2.2: an empty line first is
			 * ignored. */
			if (n > 0) {
				sp1 = strchr(line, ' ');
				sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
				if (sp2 == NULL ||
				    strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
					free(line);
					return -1;
				}
				rc->method = strndup(line,
				    (size_t)(sp1 - line));
				rc->target = strndup(sp1 + 1,
				    (size_t)(sp2 - sp1 - 1));
				rc->http10 = strcmp(sp2 + 1, "HTTP/1.0") == 0;
				if (rc->method == NULL || rc->target == NULL) {
					free(line);
					return -1;
				}
			}
			free(line);
			continue;
		}
		if (n == 0) {
			free(line);
			return 1;
		}
		if ((colon = strchr(line, ':')) == NULL) {
			free(line);
			return -1;
		}
		*colon = '\0';
		v = colon + 1 + strspn(colon + 1, " \t");
		for (end = v + strlen(v);
		     end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		if (evhttp_add_header(&rc->headers, line, v) == -1) {
			free(line);
			return -1;
		}
		free(line);
	}
	return evbuffer_get_length(in) > RAW_LINE_MAX ? -1 : 0;
}

/* Set the body's framing from the head: -1 if it has none we can read. */
static int
raw_body_start(struct raw_conn *rc)
{
	const char *te = evhttp_find_header(&rc->headers, "Transfer-Encoding");
	const char *cl = evhttp_find_header(&rc->headers, "Content-Length");
	long long   v;
	size_t	    n;

	if (te != NULL) {
		n = strlen(te);
		if (n < 7 || strcasecmp(te + n - 7, "chunked") != 0)
			return -1;
		rc->state = RAW_CHUNK_SIZE;
		return 0;
	}
	rc->left = 0;
	if (cl != NULL) {
		if ((v = parse_num(cl, LLONG_MAX / 2)) < 0)
			return -1;
		rc->left = (uint64_t)v;
	}
	rc->state = RAW_BODY;
	return 0;
}

/* Count the first N bytes of IN as body (length, CRC-32), then drop them. */
static void
raw_take(struct raw_conn *rc, struct evbuffer *in, size_t n)
{
	struct evbuffer_iovec v[16];
	size_t		      got, k;
	int		      i, cnt;

	while (n > 0) {
		cnt = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 16);
		if (cnt > 16)
			cnt = 16;
		for (i = 0, got = 0; i < cnt && got < n; i++) {
			k = v[i].iov_len < n - got ? v[i].iov_len : n - got;
			rc->body_crc = crc_add(rc->body_crc, v[i].iov_base, k);
			got += k;
		}
		evbuffer_drain(in, got);
		n -= got;
		rc->body_len += got;
		g.body_bytes += got;
	}
}

/*
 * Queue the answer STATUS REASON with a body B of type TYPE, then wait
 * for the next request, or close once it is written if the request
 * asked for that.
 */
static void
raw_reply(struct raw_conn *rc, int status, const char *reason, const char *type,
    struct evbuffer *b)
{
	struct evbuffer *out = bufferevent_get_output(rc->bev);
	bool close = rc->http10 || raw_lists(rc, "Connection", "close");

	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%s\r\n",
	    status, reason, type, evbuffer_get_length(b),
	    close ? "Connection: close\r\n" : "");
	if (strcmp(rc->method, "HEAD") != 0)
		evbuffer_add_buffer(out, b);
	raw_reset(rc);
	if (close) {
		rc->state = RAW_CLOSING;
		bufferevent_disable(rc->bev, EV_READ);
	}
}

/* The request and its body are in: answer it. -1 when out of memory. */
static int
raw_answer(struct raw_conn *rc)
{
	struct evhttp_uri *uri;
	struct evbuffer	  *b;
	char		   url[128];

	if ((b = evbuffer_new()) == NULL)
		return -1;
	if (raw_path_is(rc, "/__stats")) {
		stats_json(b);
		raw_reply(rc, 200, "OK", "application/json", b);
	} else if (raw_path_is(rc, "/healthcheck")) {
		g.health_probes++;
		evbuffer_add_printf(b, g.health_fail ? "FAIL" : "OK");
		raw_reply(rc, g.health_fail ? 500 : 200,
		    g.health_fail ? "Internal Server Error" : "OK",
		    "text/plain", b);
	} else if (raw_path_is(rc, "/__control")) {
		evbuffer_add_printf(b, "not with --raw\n");
		raw_reply(rc, 404, "Not Found", "text/plain", b);
	} else {
		raw_count(rc);
		g.requests++;
		sock_url(bufferevent_getfd(rc->bev), url, sizeof(url));
		uri = evhttp_uri_parse_with_flags(rc->target,
		    EVHTTP_URI_NONCONFORMANT);
		describe(b, rc->method, rc->target, uri, url, &rc->headers,
		    rc->body_len, rc->body_crc, rc->id);
		if (uri != NULL)
			evhttp_uri_free(uri);
		raw_reply(rc, 200, "OK", "application/json", b);
	}
	evbuffer_free(b);
	return 0;
}

/* Answer an upgrade request with a 101, and echo from now on. */
static void
raw_switch(struct raw_conn *rc)
{
	raw_count(rc);
	g.requests++;
	g.upgrades++;
	evbuffer_add_printf(bufferevent_get_output(rc->bev),
	    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	    "Upgrade: %s\r\n\r\n",
	    evhttp_find_header(&rc->headers, "Upgrade"));
	raw_reset(rc);
	rc->state = RAW_TUNNEL;
}

/* Echo what came; a peer that sends more than it reads is held back. */
static void
raw_echo(struct raw_conn *rc, struct evbuffer *in)
{
	struct evbuffer *out = bufferevent_get_output(rc->bev);

	rc->echoed += evbuffer_get_length(in);
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) > RAW_ECHO_HIGH)
		bufferevent_disable(rc->bev, EV_READ);
}

/* Read callback: take the request (or tunnel) as far as the bytes go. */
static void
raw_read(struct bufferevent *bev, void *arg)
{
	struct raw_conn	  *rc = arg;
	struct evbuffer	  *in = bufferevent_get_input(bev);
	unsigned long long size;
	char		  *line, *ep;
	size_t		   n;
	int		   r;

	for (;;) {
		switch (rc->state) {
		case RAW_HEAD:
			if ((r = raw_head(rc, in)) <= 0) {
				if (r == -1)
					goto fail;
				return;
			}
			if (evhttp_find_header(&rc->headers, "Upgrade") !=
				NULL &&
			    raw_lists(rc, "Connection", "upgrade")) {
				raw_switch(rc);
				continue;
			}
			if (raw_body_start(rc) == -1)
				goto fail;
			continue;
		case RAW_BODY:
		case RAW_CHUNK_DATA:
			n = evbuffer_get_length(in);
			if (n > rc->left)
				n = (size_t)rc->left;
			raw_take(rc, in, n);
			rc->left -= n;
			if (rc->left > 0)
				return;
			if (rc->state == RAW_CHUNK_DATA) {
				rc->state = RAW_CHUNK_END;
				continue;
			}
			break;
		case RAW_CHUNK_SIZE:
		case RAW_CHUNK_END:
		case RAW_TRAILER:
			line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			if (line == NULL) {
				if (evbuffer_get_length(in) > RAW_LINE_MAX)
					goto fail;
				return;
			}
			if (rc->state == RAW_CHUNK_SIZE) {
				errno = 0;
				size = strtoull(line, &ep, 16);
				r = ep == line || errno != 0 ||
				    (*ep != '\0' && *ep != ';' && *ep != ' ' &&
					*ep != '\t');
				if (!r && *ep != '\0')
					g.chunk_exts++;
				free(line);
				if (r)
					goto fail;
				rc->left = size;
				rc->state = size > 0 ? RAW_CHUNK_DATA :
						       RAW_TRAILER;
				continue;
			}
			free(line);
			if (rc->state == RAW_CHUNK_END) {
				if (n != 0)
					goto fail;
				rc->state = RAW_CHUNK_SIZE;
				continue;
			}
			if (n != 0) /* a trailer field: ignored */
				continue;
			break;
		case RAW_TUNNEL:
			raw_echo(rc, in);
			return;
		case RAW_CLOSING:
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		/* The body is whole. */
		if (raw_answer(rc) == -1)
			goto fail;
		if (rc->state == RAW_CLOSING)
			return;
	}
fail:
	raw_free(rc);
}

/* Write callback: all that was queued is written. */
static void
raw_write(struct bufferevent *bev, void *arg)
{
	struct raw_conn *rc = arg;

	if (rc->state == RAW_CLOSING) {
		raw_free(rc);
		return;
	}
	if (rc->state != RAW_TUNNEL)
		return;
	if (rc->eof) {
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		raw_free(rc);
		return;
	}
	bufferevent_enable(bev, EV_READ);
}

static void
raw_event(struct bufferevent *bev, short what, void *arg)
{
	struct raw_conn *rc = arg;

	if (rc->state == RAW_TUNNEL && (what & BEV_EVENT_EOF) != 0) {
		rc->eof = true;
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "EOF after %" PRIu64 " bytes\n", rc->echoed);
		return; /* raw_write shuts down once the line is out */
	}
	if (rc->state >= RAW_BODY && rc->state <= RAW_TRAILER) {
		g.bodies_cut++;
		fprintf(stderr,
		    "origin %s: %s %s: the body was cut after %" PRIu64
		    " bytes\n",
		    g.name, rc->method, rc->target, rc->body_len);
	}
	raw_free(rc);
}

static void
raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct raw_conn *rc;

	if ((rc = calloc(1, sizeof(*rc))) == NULL ||
	    (rc->bev = bufferevent_socket_new(g.base, fd,
		 BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(rc);
		evutil_closesocket(fd);
		return;
	}
	TAILQ_INIT(&rc->headers);
	LIST_INSERT_HEAD(&g.raws, rc, link);
	bufferevent_setcb(rc->bev, raw_read, raw_write, raw_event, rc);
	bufferevent_enable(rc->bev, EV_READ | EV_WRITE);
}

/* Serve the listening socket FD with the raw server. */
static int
raw_listen(int fd)
{
	struct evconnlistener *l;

	if (g.nraw_listeners == MAX_RAW_LISTEN)
		return -1;
	/* Backlog 0: FD listens already. */
	l = evconnlistener_new(g.base, raw_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l == NULL)
		return -1;
	g.raw_listeners[g.nraw_listeners++] = l;
	return 0;
}

/* ------------------------------------------------------------ start */

/* Split "HOST:PORT", "[V6]:PORT" or ":PORT" in place. */
static int
split_hostport(char *s, char **host, char **port)
{
	char *c;

	if (*s == '[') {
		if ((c = strchr(s, ']')) == NULL || c[1] != ':')
			return -1;
		*c = '\0';
		*host = s + 1;
		*port = c + 2;
		return 0;
	}
	if ((c = strrchr(s, ':')) == NULL)
		return -1;
	*c = '\0';
	*host = (*s == '\0' || strcmp(s, "*") == 0) ? NULL : s;
	*port = c + 1;
	return 0;
}

static unsigned
sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t		sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
set_port(struct sockaddr *sa, unsigned port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
}

/*
 * Bind every address SPEC resolves to and hand the sockets to HTTP (to
 * the raw server with --raw).
 * A port 0 is chosen by the kernel for the first address and reused for
 * the others. An IPv6 address the host cannot use is skipped when another
 * address of the same name was bound. Returns the port.
 */
static unsigned
listen_on(struct evhttp *http, const char *spec)
{
	struct addrinfo hints, *res, *ai, *done;
	char	       *copy, *host, *port;
	unsigned	bound_port = 0;
	int		fd, on = 1, rc, nbound = 0;
	bool		dup;

	if ((copy = strdup(spec)) == NULL ||
	    split_hostport(copy, &host, &port) == -1 ||
	    parse_num(port, 65535) < 0)
		die("--listen %s: expected HOST:PORT", spec);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		die("--listen %s: %s", spec, gai_strerror(rc));

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		/* /etc/hosts may list an address twice. */
		dup = false;
		for (done = res; done != ai; done = done->ai_next)
			if (done->ai_addrlen == ai->ai_addrlen &&
			    memcmp(done->ai_addr, ai->ai_addr,
				ai->ai_addrlen) == 0)
				dup = true;
		if (dup)
			continue;
		if (bound_port != 0)
			set_port(ai->ai_addr, bound_port);
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ==
			-1 ||
		    (ai->ai_family == AF_INET6 &&
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on)) == -1) ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, 511) == -1) {
			if (ai->ai_family == AF_INET6 &&
			    (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT) &&
			    (nbound > 0 || ai->ai_next != NULL)) {
				if (fd != -1)
					close(fd);
				continue;
			}
			die("--listen %s: %s", spec, strerror(errno));
		}
		if (bound_port == 0)
			bound_port = sock_port(fd);
		if (g.raw ? raw_listen(fd) == -1 :
			    evhttp_accept_socket_with_handle(http, fd) == NULL)
			die("--listen %s: cannot serve the socket", spec);
		nbound++;
	}
	freeaddrinfo(res);
	if (nbound == 0)
		die("--listen %s: no usable address", spec);
	free(copy);
	return bound_port;
}

/* Write the ports, one a line, to FILE atomically: a reader never sees
 * half of it. */
static void
write_port_file(const char *file, const unsigned *ports, int n)
{
	char  tmp[PATH_MAX];
	FILE *f;
	int   i;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	if ((f = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	for (i = 0; i < n; i++)
		fprintf(f, "%u\n", ports[i]);
	if (fclose(f) == EOF || rename(tmp, file) == -1)
		die("%s: %s", file, strerror(errno));
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(g.base, NULL);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: origin --name NAME --listen HOST:PORT "
	    "[--listen ...] [--port-file FILE]\n"
	    "              [--health-fail] [--idle-close MS] [--raw]\n"
	    "              "
	    "[--mode reset|garbage|close|close-reused|partial|slow:MS]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = { { "name", required_argument, NULL,
						  'n' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "health-fail", no_argument, NULL, 'H' },
		{ "idle-close", required_argument, NULL, 'i' },
		{ "mode", required_argument, NULL, 'm' },
		{ "raw", no_argument, NULL, 'r' }, { NULL, 0, NULL, 0 } };
	const char		  *listens[MAX_LISTEN], *port_file = NULL;
	unsigned		   ports[MAX_LISTEN];
	struct event		  *sigterm, *sigint;
	struct evhttp		  *http = NULL;
	struct timeval		   tv;
	long long		   idle = -1, v;
	int			   ch, i, nlisten = 0;

	/* Die with the test (or demo) that started us. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	g.name = "origin";

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			g.name = optarg;
			break;
		case 'l':
			if (nlisten == MAX_LISTEN)
				die("too many --listen");
			listens[nlisten++] = optarg;
			break;
		case 'p':
			port_file = optarg;
			break;
		case 'H':
			g.health_fail = true;
			break;
		case 'i':
			if ((idle = parse_num(optarg, INT_MAX)) < 0)
				die("--idle-close %s: expected milliseconds",
				    optarg);
			break;
		case 'm':
			if (strncmp(optarg, "slow:", 5) == 0 &&
			    (v = parse_num(optarg + 5, 3600 * 1000)) >= 0)
				g.mode_delay = (long)v;
			else if ((g.mode_fault = parse_fault(optarg)) ==
			    FAULT_NONE)
				die("--mode %s: expected reset, garbage, "
				    "close, close-reused, partial or slow:MS",
				    optarg);
			break;
		case 'r':
			g.raw = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || nlisten == 0)
		usage();
	crc_init();
	LIST_INIT(&g.raws);

	if ((g.base = event_base_new()) == NULL ||
	    (!g.raw && (http = evhttp_new(g.base)) == NULL))
		die("cannot set up libevent");
	if (http != NULL) {
		evhttp_set_allowed_methods(http,
		    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
			EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
			EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
			EVHTTP_REQ_TRACE);
		/* No Content-Type unless we set one: a proxy must not
		 * invent it. */
		evhttp_set_default_content_type(http, NULL);
		evhttp_set_gencb(http, handle, NULL);
	}
	if (http != NULL && idle >= 0) {
		tv.tv_sec = idle / 1000;
		tv.tv_usec = (idle % 1000) * 1000;
		evhttp_set_timeout_tv(http, &tv);
	}
	/*
	 * Catch signals before the first socket listens: a test may stop
	 * us as soon as the port accepts, and must see a clean exit.
	 */
	sigterm = evsignal_new(g.base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(g.base, SIGINT, on_signal, NULL);
	if (sigterm == NULL || sigint == NULL ||
	    evsignal_add(sigterm, NULL) == -1 ||
	    evsignal_add(sigint, NULL) == -1)
		die("cannot catch signals");
	for (i = 0; i < nlisten; i++)
		ports[i] = listen_on(http, listens[i]);
	if (port_file != NULL)
		write_port_file(port_file, ports, nlisten);

	fprintf(stderr, "origin %s: listening on", g.name);
	for (i = 0; i < nlisten; i++)
		fprintf(stderr, " %s (port %u)", listens[i], ports[i]);
	fprintf(stderr, "\n");

	event_base_dispatch(g.base);

	/* Frees every connection; conn_closed drops their pending answers. */
	if (http != NULL)
		evhttp_free(http);
	while (!LIST_EMPTY(&g.raws))
		raw_free(LIST_FIRST(&g.raws));
	for (i = 0; i < g.nraw_listeners; i++)
		evconnlistener_free(g.raw_listeners[i]);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(g.base);
	return 0;
}

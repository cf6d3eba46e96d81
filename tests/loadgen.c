/*
 * tests/loadgen.c -- a small HTTP/1.1 load generator for the integration
 * tests: CONNS connections to 127.0.0.1:PORT, some kept alive across
 * requests and some opened anew for each, sending GET requests for a
 * bounded time or number of requests. It counts every answer and every
 * failure by kind and ends with
 *
 *	loadgen: N ok, M failed
 *
 * exiting 1 if anything failed (or nothing succeeded), 2 on a usage error.
 * One thread, one epoll set, non-blocking sockets.
 *
 * usage: loadgen -p PORT [-a ADDR] [-c CONNS] [-k KEEPALIVE%]
 *	  [-d MS | -n REQUESTS] [-H HOST] [-u PATH]... [-s STATUS]
 *	  [-w MAX_PAUSE_MS] [-t TIMEOUT_MS] [-R]
 *
 *   -c CONNS	concurrent connections (default 8)
 *   -k PCT	percent of them that are keep-alive (default 50); the others
 *		send "Connection: close" and reconnect for every request
 *   -d MS	stop starting requests after MS milliseconds (default 2000)
 *   -n N	or after N requests in all
 *   -u PATH	request PATH (repeatable: used in turn; default "/")
 *   -s STATUS	the status that counts as success (default 200)
 *   -w MS	pause a random 0..MS ms between two requests of a connection
 *   -t MS	bound for one exchange, connect included (default 5000)
 *   -R		retry, once and on a fresh connection, a request whose
 *		reused keep-alive connection closed before any byte of an
 *		answer, as browsers do (RFC 9112 section 9.3.1); counted as
 *		"retried", not failed. Without -R that is a failure.
 *
 * SIGTERM or SIGINT ends the run early, as the end of -d does.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATHS 16
#define IN_MAX	  (256 * 1024) /* a response head larger is garbage */

enum fail {
	F_CONNECT, /* connect refused or failed */
	F_RESET,   /* RST while sending or reading */
	F_EOF,	   /* closed before a whole response */
	F_TIMEOUT, /* no whole response within -t */
	F_PARSE,   /* not an HTTP/1.x response */
	F_STATUS,  /* a response, but not the -s status */
	F_NFAILS
};

static const char *const fail_names[F_NFAILS] = {
	"connect",
	"reset",
	"eof",
	"timeout",
	"parse",
	"status",
};

enum cstate {
	C_IDLE, /* no socket, or a kept-alive one, waiting */
	C_CONNECTING,
	C_SENDING,
	C_READING,
};

struct conn {
	int	    fd;	       /* -1 when closed */
	bool	    keepalive; /* this connection's kind */
	enum cstate state;
	unsigned    used;     /* requests answered on this socket */
	bool	    retrying; /* this request is a -R retry */
	long long   deadline; /* of the exchange in progress */
	long long   wake;     /* C_IDLE: start the next one then */
	char	    req[512];
	size_t	    req_len, req_off;
	char	   *in; /* received bytes */
	size_t	    in_len, in_cap;
	size_t	    got; /* bytes received for this request */
	/* The response being read. */
	bool	  head_done;
	int	  status;
	bool	  close_after; /* the server said Connection: close */
	bool	  chunked;
	long long body_left;	 /* -1: until EOF */
	bool	  chunk_trailer; /* reading the trailer after chunk 0 */
};

static struct {
	struct sockaddr_in sin;
	int		   conns;
	int		   keepalive_pct;
	long long	   duration_ms;
	long long	   max_requests;
	const char	  *host;
	const char	  *paths[MAX_PATHS];
	int		   n_paths;
	int		   want_status;
	int		   max_pause_ms;
	int		   timeout_ms;
	bool		   retry;

	int	     ep;
	struct conn *c;
	long long    started; /* requests begun */
	long long    ok;
	long long    fails[F_NFAILS];
	long long    retried;
	long long    opened; /* connections */
	int	     next_path;
	bool	     stopping;	   /* no new requests */
	int	     first_status; /* first unexpected status, for -v */
} L = {
	.conns = 8,
	.keepalive_pct = 50,
	.duration_ms = 2000,
	.host = "test",
	.want_status = 200,
	.timeout_ms = 5000,
	.ep = -1,
};

static volatile sig_atomic_t interrupted;

static void __attribute__((noreturn, format(printf, 1, 2)))
usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "loadgen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr,
	    "\nusage: loadgen -p PORT [-a ADDR] [-c CONNS] "
	    "[-k KEEPALIVE%%] [-d MS | -n REQUESTS]\n"
	    "\t[-H HOST] [-u PATH]... [-s STATUS] [-w MAX_PAUSE_MS] "
	    "[-t TIMEOUT_MS] [-R]\n");
	exit(2);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
num(const char *s, long long min, long long max, char opt)
{
	char	 *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage("-%c %s: expected a number from %lld to %lld", opt, s,
		    min, max);
	return v;
}

static void
on_signal(int signo)
{
	interrupted = 1;
}

/* ------------------------------------------------------- connections */

static void
conn_close(struct conn *c)
{
	if (c->fd != -1) {
		epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->used = 0;
	c->in_len = 0;
}

static void
conn_watch(struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(L.ep, op, c->fd, &ev) == -1) {
		fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(errno));
		exit(1);
	}
}

/* Is the run over for new requests? */
static bool
no_more(void)
{
	if (L.stopping || interrupted)
		return true;
	if (L.max_requests > 0 && L.started >= L.max_requests)
		return true;
	return false;
}

static void
idle(struct conn *c, bool pause)
{
	c->state = C_IDLE;
	c->wake = now_ms();
	if (pause && L.max_pause_ms > 0)
		c->wake += random() % (L.max_pause_ms + 1);
}

static void
failed(struct conn *c, enum fail why)
{
	/* -R: a reused connection closed before any answer, once. */
	if (L.retry && !c->retrying && c->used > 0 && c->got == 0 &&
	    (why == F_EOF || why == F_RESET)) {
		L.retried++;
		conn_close(c);
		c->retrying = true;
		c->state = C_IDLE;
		c->wake = now_ms();
		return;
	}
	L.fails[why]++;
	c->retrying = false;
	conn_close(c);
	idle(c, true);
}

/* Start the next exchange of C: connect if needed, then send. */
static void
start(struct conn *c)
{
	const char *path;
	int	    one = 1;

	if (!c->retrying) {
		if (no_more())
			return;
		L.started++;
		path = L.paths[L.next_path++ % L.n_paths];
		c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
		    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: loadgen\r\n"
		    "%s\r\n",
		    path, L.host, c->keepalive ? "" : "Connection: close\r\n");
	}
	c->req_off = 0;
	c->got = 0;
	c->head_done = false;
	c->status = 0;
	c->close_after = !c->keepalive;
	c->chunked = false;
	c->body_left = 0;
	c->chunk_trailer = false;
	c->deadline = now_ms() + L.timeout_ms;
	if (c->fd != -1) {
		c->state = C_SENDING;
		conn_watch(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_MOD);
		return;
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		exit(1);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	L.opened++;
	c->used = 0;
	c->in_len = 0;
	if (connect(c->fd, (struct sockaddr *)&L.sin, sizeof(L.sin)) == -1 &&
	    errno != EINPROGRESS) {
		c->retrying = false;
		failed(c, F_CONNECT);
		return;
	}
	c->state = C_CONNECTING;
	conn_watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* One whole response read: count it and go on. */
static void
done(struct conn *c)
{
	if (c->status == L.want_status) {
		L.ok++;
	} else {
		L.fails[F_STATUS]++;
		if (L.first_status == 0)
			L.first_status = c->status;
	}
	c->retrying = false;
	c->used++;
	if (c->close_after)
		conn_close(c);
	else
		conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	idle(c, true);
}

/* ---------------------------------------------------------- parsing */

/* Find the end of a line in IN[OFF..LEN): the offset after LF, or 0. */
static size_t
line_end(const char *in, size_t off, size_t len)
{
	const char *lf = memchr(in + off, '\n', len - off);

	return lf == NULL ? 0 : (size_t)(lf - in) + 1;
}

static void
consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

static bool
header_is(const char *line, size_t len, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	*val = line + n + 1;
	while (**val == ' ' || **val == '\t')
		(*val)++;
	return true;
}

/*
 * Parse the head in c->in if it is all there. Returns 1 when parsed, 0
 * when more is needed, -1 on garbage.
 */
static int
parse_head(struct conn *c)
{
	char	   *end, *p, *line, *val_end;
	const char *val;
	size_t	    headlen, len;
	bool	    has_length = false;

	end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	if (end == NULL)
		return c->in_len > IN_MAX ? -1 : 0;
	headlen = (size_t)(end - c->in) + 4;
	*end = '\0';
	if (strncmp(c->in, "HTTP/1.", 7) != 0 || c->in_len < 12 ||
	    c->in[8] != ' ')
		return -1;
	c->status = atoi(c->in + 9);
	if (c->status < 100 || c->status > 999)
		return -1;
	if (c->in[7] == '0')
		c->close_after = true;
	for (line = strstr(c->in, "\r\n"); line != NULL; line = p) {
		line += 2;
		p = strstr(line, "\r\n");
		len = p != NULL ? (size_t)(p - line) : strlen(line);
		if (p != NULL)
			*p = '\0';
		if (header_is(line, len, "Content-Length", &val)) {
			c->body_left = strtoll(val, &val_end, 10);
			if (val_end == val || c->body_left < 0)
				return -1;
			has_length = true;
		} else if (header_is(line, len, "Transfer-Encoding", &val)) {
			c->chunked = strcasestr(val, "chunked") != NULL;
		} else if (header_is(line, len, "Connection", &val)) {
			if (strcasestr(val, "close") != NULL)
				c->close_after = true;
		}
		if (p == NULL)
			break;
	}
	consume(c, headlen);
	if (c->status >= 100 && c->status < 200) {
		c->status = 0; /* 1xx: the real one follows */
		return parse_head(c);
	}
	c->head_done = true;
	if (c->status == 204 || c->status == 304)
		c->body_left = 0;
	else if (!c->chunked && !has_length)
		c->body_left = -1;
	return 1;
}

/* Eat body bytes; 1 when the response is complete, 0 more, -1 garbage. */
static int
parse_body(struct conn *c)
{
	size_t e, n;

	while (c->chunked) {
		if (c->body_left > 0) {
			n = c->in_len < (size_t)c->body_left ?
			    c->in_len :
			    (size_t)c->body_left;
			consume(c, n);
			c->body_left -= (long long)n;
			if (c->body_left > 0)
				return 0;
			c->body_left = -2; /* CRLF after the data */
		}
		if ((e = line_end(c->in, 0, c->in_len)) == 0)
			return c->in_len > IN_MAX ? -1 : 0;
		if (c->body_left == -2) {
			consume(c, e);
			c->body_left = 0;
			continue;
		}
		if (c->chunk_trailer) {
			consume(c, e);
			if (e <= 2)
				return 1; /* the empty line */
			continue;
		}
		c->body_left = strtoll(c->in, NULL, 16);
		consume(c, e);
		if (c->body_left < 0)
			return -1;
		if (c->body_left == 0)
			c->chunk_trailer = true;
	}
	if (c->body_left == -1) {
		c->in_len = 0; /* until EOF */
		return 0;
	}
	n = c->in_len < (size_t)c->body_left ? c->in_len : (size_t)c->body_left;
	consume(c, n);
	c->body_left -= (long long)n;
	return c->body_left == 0 ? 1 : 0;
}

/* ---------------------------------------------------------- events */

static void
on_readable(struct conn *c)
{
	ssize_t n;
	int	rc;

	for (;;) {
		if (c->in_cap - c->in_len < 16384) {
			char *p = realloc(c->in, c->in_cap + 65536);

			if (p == NULL) {
				fprintf(stderr, "loadgen: out of memory\n");
				exit(1);
			}
			c->in = p;
			c->in_cap += 65536;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1,
		    0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			failed(c, errno == ECONNRESET ? F_RESET : F_EOF);
			return;
		}
		if (n == 0) {
			if (c->state == C_READING && c->head_done &&
			    c->body_left == -1) {
				c->close_after = true;
				done(c);
			} else if (c->state == C_IDLE) {
				/* An idle keep-alive connection closed. */
				conn_close(c);
			} else {
				failed(c, F_EOF);
			}
			return;
		}
		c->in_len += (size_t)n;
		c->got += (size_t)n;
		if (c->state != C_READING && c->state != C_SENDING) {
			/* Bytes nobody asked for. */
			failed(c, F_PARSE);
			return;
		}
		if (!c->head_done) {
			if ((rc = parse_head(c)) == -1) {
				failed(c, F_PARSE);
				return;
			}
			if (rc == 0)
				continue;
		}
		if ((rc = parse_body(c)) == -1) {
			failed(c, F_PARSE);
			return;
		}
		if (rc == 1) {
			if (c->in_len > 0) {
				failed(c, F_PARSE); /* extra bytes */
				return;
			}
			done(c);
			return;
		}
	}
}

static void
on_writable(struct conn *c)
{
	ssize_t	  n;
	int	  err = 0;
	socklen_t len = sizeof(err);

	if (c->state == C_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
		    err != 0) {
			c->retrying = false;
			failed(c, F_CONNECT);
			return;
		}
		c->state = C_SENDING;
		conn_watch(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_MOD);
	}
	while (c->req_off < c->req_len) {
		n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			failed(c, errno == ECONNRESET ? F_RESET : F_EOF);
			return;
		}
		c->req_off += (size_t)n;
	}
	c->state = C_READING;
	conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

static bool
all_idle(void)
{
	for (int i = 0; i < L.conns; i++)
		if (L.c[i].state != C_IDLE || L.c[i].retrying)
			return false;
	return true;
}

static void
run(void)
{
	struct epoll_event evs[64];
	long long	   end = now_ms() + L.duration_ms, now;

	for (;;) {
		int timeout = 100, n;

		now = now_ms();
		if (L.max_requests == 0 && now >= end)
			L.stopping = true;
		for (int i = 0; i < L.conns; i++) {
			struct conn *c = &L.c[i];

			if (c->state == C_IDLE && c->wake <= now)
				start(c);
			else if (c->state != C_IDLE && now >= c->deadline)
				failed(c, F_TIMEOUT);
			if (c->state == C_IDLE && !no_more() &&
			    c->wake - now < timeout)
				timeout = c->wake > now ? (int)(c->wake - now) :
							  0;
		}
		if (no_more() && all_idle())
			return;
		n = epoll_wait(L.ep, evs, 64, timeout);
		if (n == -1 && errno != EINTR) {
			fprintf(stderr, "loadgen: epoll_wait: %s\n",
			    strerror(errno));
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->fd == -1)
				continue;
			if (evs[i].events & EPOLLOUT)
				on_writable(c);
			if (c->fd != -1 &&
			    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				on_readable(c);
		}
	}
}

int
main(int argc, char *argv[])
{
	const char	*addr = "127.0.0.1";
	struct sigaction sa;
	long long	 failures = 0;
	int		 ch, port = 0;

	while ((ch = getopt(argc, argv, "a:c:d:H:k:n:p:Rs:t:u:w:")) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'c':
			L.conns = (int)num(optarg, 1, 10000, 'c');
			break;
		case 'd':
			L.duration_ms = num(optarg, 1, LLONG_MAX / 2, 'd');
			break;
		case 'H':
			L.host = optarg;
			break;
		case 'k':
			L.keepalive_pct = (int)num(optarg, 0, 100, 'k');
			break;
		case 'n':
			L.max_requests = num(optarg, 1, LLONG_MAX / 2, 'n');
			break;
		case 'p':
			port = (int)num(optarg, 1, 65535, 'p');
			break;
		case 'R':
			L.retry = true;
			break;
		case 's':
			L.want_status = (int)num(optarg, 100, 999, 's');
			break;
		case 't':
			L.timeout_ms = (int)num(optarg, 1, INT_MAX, 't');
			break;
		case 'u':
			if (L.n_paths == MAX_PATHS)
				usage("at most %d -u paths", MAX_PATHS);
			if (optarg[0] != '/' ||
			    strpbrk(optarg, " \r\n") != NULL)
				usage("-u %s: a path starts with '/' and has "
				      "no spaces",
				    optarg);
			L.paths[L.n_paths++] = optarg;
			break;
		case 'w':
			L.max_pause_ms = (int)num(optarg, 0, 60000, 'w');
			break;
		default:
			usage("unknown option");
		}
	}
	if (optind != argc)
		usage("unexpected argument \"%s\"", argv[optind]);
	if (port == 0)
		usage("-p PORT is required");
	if (strpbrk(L.host, " \r\n") != NULL || strlen(L.host) > 200)
		usage("-H %s: not a host name", L.host);
	if (L.n_paths == 0)
		L.paths[L.n_paths++] = "/";
	memset(&L.sin, 0, sizeof(L.sin));
	L.sin.sin_family = AF_INET;
	L.sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &L.sin.sin_addr) != 1)
		usage("-a %s: not an IPv4 address", addr);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid());

	if ((L.ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (L.c = calloc((size_t)L.conns, sizeof(*L.c))) == NULL) {
		fprintf(stderr, "loadgen: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < L.conns; i++) {
		L.c[i].fd = -1;
		/* Spread the kinds evenly: 50% is every other one. */
		L.c[i].keepalive = (i * L.keepalive_pct) / 100 !=
		    ((i + 1) * L.keepalive_pct) / 100;
		L.c[i].state = C_IDLE;
	}
	run();

	for (int i = 0; i < F_NFAILS; i++)
		failures += L.fails[i];
	printf("loadgen: %lld ok, %lld failed\n", L.ok, failures);
	printf("loadgen: %lld connections, %lld retried", L.opened, L.retried);
	for (int i = 0; i < F_NFAILS; i++)
		if (L.fails[i] > 0)
			printf(", %s %lld", fail_names[i], L.fails[i]);
	if (L.first_status != 0)
		printf(" (first unexpected status %d)", L.first_status);
	printf("\n");
	return failures == 0 && L.ok > 0 ? 0 : 1;
}

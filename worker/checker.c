/*
 * worker/checker.c -- the health checker process (SPEC section 5).
 *
 * One per generation, however many workers there are, so an origin sees
 * one probe per interval. Every (route, server) pair of a route with
 * active checks gets a probe of its own: the same address listed in two
 * routes is probed once for each, with each route's settings, because each
 * has its own shared-memory slot and its own verdict.
 *
 * A probe is a fresh connection carrying "GET path" with Connection:
 * close; only the status line is read. A run of `fall` failures takes a
 * server down, a run of `rise` successes brings it back, and the verdict
 * goes to shared memory where every worker's balancer reads it. Any
 * success also lifts the passive mark a worker sets when a connect is
 * refused or times out (worker/proxy.c): with active checks that mark
 * lasts until we see the server answer.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "common/addr.h"
#include "common/http.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/shm.h"
#include "common/str.h"
#include "worker/checker.h"
#include "worker/tls.h"
#include "worker/resolver.h"
#include "worker/worker.h"

/* A status line longer than this is not one. */
#define MAX_STATUS_LINE 1024

/* One server of one route. */
struct probe {
	const struct lb_route  *route;	  /* into the config */
	const struct lb_server *srv;	  /* into the config, or &own */
	struct lb_shm_server   *st;	  /* its shared slot */
	struct lb_server	own;	  /* a followed slot: its address
					     now (worker/resolver.c) */
	uint32_t		gen;	  /* own.gen when the probe began */
	struct event	       *tick;	  /* every interval */
	struct event	       *deadline; /* the probe's timeout */
	struct bufferevent     *bev;	  /* the probe in flight, or NULL */
	unsigned		oks;	  /* consecutive successes, */
	unsigned		fails;	  /* and failures */
	bool			up;	  /* our verdict, as in shm */
};

/* The checker's state: the one mutable process-wide struct. */
static struct {
	struct event_base *base;
	struct probe	  *probes; /* owned array */
	size_t		   n_probes;
	struct event	  *ctl_ev;
	uint64_t	   rng; /* xorshift: start jitter */
} C;

static void probe_done(struct probe *, bool ok, const char *reason);

bool
lb_checker_needed(const struct lb_cfg *cfg)
{
	/* It is also the resolver of the names followed in DNS. */
	if (cfg->n_followed > 0)
		return true;
	for (size_t i = 0; i < cfg->n_routes; i++)
		if (cfg->routes[i].health.enabled)
			return true;
	return false;
}

static struct timeval
ms_tv(unsigned ms)
{
	struct timeval tv;

	lb_tv_ms(&tv, ms);
	return tv;
}

/* ------------------------------------------------------------ verdicts */

static void
probe_done(struct probe *p, bool ok, const char *reason)
{
	const struct lb_health *h = &p->route->health;

	if (p->bev != NULL) {
		bufferevent_free(p->bev);
		p->bev = NULL;
	}
	evtimer_del(p->deadline);
	/* The slot took another address meanwhile: not its verdict. */
	if (p->srv->follow != LB_FOLLOW_NONE &&
	    atomic_load(&p->st->seq) != p->gen)
		return;

	if (ok) {
		p->fails = 0;
		if (p->oks < UINT32_MAX)
			p->oks++;
		/* It answers: whatever a worker saw is over. */
		atomic_store(&p->st->down_until, 0);
		if (!p->up && p->oks >= h->rise) {
			p->up = true;
			atomic_store(&p->st->up, 1);
			log_notice("%s: server %s (%s) is up: %s (%u "
				   "success%s)",
			    p->route->label, p->srv->name, p->srv->addrstr,
			    reason, p->oks, p->oks == 1 ? "" : "es");
			return;
		}
	} else {
		p->oks = 0;
		if (p->fails < UINT32_MAX)
			p->fails++;
		if (p->up && p->fails >= h->fall) {
			p->up = false;
			atomic_store(&p->st->up, 0);
			log_warnx("%s: server %s (%s) is down: %s (%u "
				  "failure%s)",
			    p->route->label, p->srv->name, p->srv->addrstr,
			    reason, p->fails, p->fails == 1 ? "" : "s");
			return;
		}
	}
	log_debug("%s: server %s (%s): probe %s: %s", p->route->label,
	    p->srv->name, p->srv->addrstr, ok ? "passed" : "failed", reason);
}

/*
 * Judge what the server sent so far. Returns false while we need more
 * (and AT_EOF is false); otherwise settles the probe and returns true.
 */
static bool
judge(struct probe *p, bool at_eof)
{
	struct evbuffer	       *in = bufferevent_get_input(p->bev);
	struct lb_http_response resp;
	struct evbuffer_ptr	eol;
	size_t			len = evbuffer_get_length(in), n;
	char			line[MAX_STATUS_LINE + 2], reason[256];
	ssize_t			rc;

	if (len > MAX_STATUS_LINE)
		len = MAX_STATUS_LINE;
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos != -1 && (size_t)eol.pos < len) {
		/* The line with its LF, then the blank line ending a head. */
		n = (size_t)eol.pos + 1;
		evbuffer_copyout(in, line, n);
		line[n++] = '\r';
		line[n++] = '\n';
	} else {
		/* No whole line yet: rule out garbage without waiting. */
		n = (size_t)evbuffer_copyout(in, line, len);
	}
	rc = lb_http_parse_response(line, n, &resp, NULL, 0);
	if (rc == -1) {
		probe_done(p, false, "invalid response");
		return true;
	}
	if (rc == 0) {
		if (evbuffer_get_length(in) >= MAX_STATUS_LINE)
			probe_done(p, false, "status line too long");
		else if (at_eof)
			probe_done(p, false,
			    len == 0 ? "closed without a "
				       "response" :
				       "closed within the status line");
		else
			return false;
		return true;
	}
	/*
	 * Checks are on by default: a 404 is most often a server that never
	 * had the check URL, so the log line says what to change.
	 */
	if (resp.status == 404)
		lb_snprintf(reason, sizeof(reason),
		    "status 404 for GET %s, a URL the server does not have: "
		    "set health_check.path to one it answers, or write "
		    "health_check: off",
		    p->route->health.path);
	else
		lb_snprintf(reason, sizeof(reason), "status %u", resp.status);
	probe_done(p, resp.status >= 200 && resp.status <= 399, reason);
	return true;
}

static void
probe_read(struct bufferevent *bev, void *arg)
{
	judge(arg, false);
}

static void
probe_event(struct bufferevent *bev, short what, void *arg)
{
	struct probe *p = arg;
	int	      e = EVUTIL_SOCKET_ERROR();
	char	      reason[128];

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		judge(p, true);
		return;
	}
	if (p->srv->tls != NULL && (what & BEV_EVENT_ERROR)) {
		unsigned long tls = bufferevent_get_openssl_error(bev);
		const char   *why = tls != 0 ? ERR_reason_error_string(tls) :
					       NULL;

		if (why != NULL) {
			lb_snprintf(reason, sizeof(reason), "TLS: %s", why);
			probe_done(p, false, reason);
			return;
		}
	}
	switch (e) {
	case ECONNREFUSED:
		probe_done(p, false, "connection refused");
		return;
	case ECONNRESET:
		probe_done(p, false, "connection reset");
		return;
	case 0:
		probe_done(p, false,
		    (what & BEV_EVENT_READING) ? "read error" :
						 "connect error");
		return;
	}
	lb_snprintf(reason, sizeof(reason), "%s", strerror(e));
	probe_done(p, false, reason);
}

static void
probe_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	char	      reason[64];

	lb_snprintf(reason, sizeof(reason), "timed out after %u ms",
	    p->route->health.timeout_ms);
	probe_done(p, false, reason);
}

/* ---------------------------------------------------------- probing */

/*
 * A server over TLS is probed over TLS, with the workers' settings: a
 * certificate that does not verify fails the probe.
 */
static struct bufferevent *
tls_probe(struct probe *p)
{
	struct bufferevent *bev;
	SSL		   *ssl;

	if ((ssl = lb_tls_connect(p->srv, -1)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(C.base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/*
	 * A server that closes without close_notify after its answer is
	 * common and harmless here: only the status line is judged. Without
	 * this libevent 2.1 calls that close an error.
	 */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
probe_start(struct probe *p)
{
	const struct lb_health *h = &p->route->health;
	struct timeval		tv = ms_tv(h->timeout_ms);

	p->bev = p->srv->tls != NULL ?
	    tls_probe(p) :
	    bufferevent_socket_new(C.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL) {
		/* Our problem, not the server's: no verdict this time. */
		log_warnx("%s: server %s (%s): no memory for a probe",
		    p->route->label, p->srv->name, p->srv->addrstr);
		return;
	}
	bufferevent_setcb(p->bev, probe_read, NULL, probe_event, p);
	if (evbuffer_add_printf(bufferevent_get_output(p->bev),
		"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		"User-Agent: lbmaster-health\r\n\r\n",
		h->path, p->srv->name) == -1) {
		bufferevent_free(p->bev);
		p->bev = NULL;
		return;
	}
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	evtimer_add(p->deadline, &tv);
	errno = 0;
	if (bufferevent_socket_connect(p->bev,
		(const struct sockaddr *)&p->srv->addr,
		(int)p->srv->addrlen) == -1) {
		char reason[128];

		lb_snprintf(reason, sizeof(reason), "connect: %s",
		    errno != 0 ? strerror(errno) : "failed");
		probe_done(p, false, reason);
	}
}

static void
probe_tick(evutil_socket_t fd, short what, void *arg)
{
	struct probe	  *p = arg;
	struct timeval	   tv = ms_tv(p->route->health.interval_ms);
	struct lb_shm_addr a;

	evtimer_add(p->tick, &tv);
	if (p->srv->follow != LB_FOLLOW_NONE && p->bev == NULL &&
	    atomic_load(&p->st->seq) != p->own.gen) {
		/* A new address in the slot (or none): a new server. */
		p->own.gen = lb_shm_addr_read(p->st, &a);
		p->own.addrlen = a.present ? a.len : 0;
		memcpy(&p->own.addr, &a.ss, sizeof(a.ss));
		lb_addr_format((const struct sockaddr *)&a.ss, p->own.addrstr,
		    sizeof(p->own.addrstr));
		p->oks = p->fails = 0;
		p->up = atomic_load(&p->st->up) == 1;
	}
	if (p->srv->follow != LB_FOLLOW_NONE && p->own.addrlen == 0)
		return;
	p->gen = p->own.gen;
	/* A timeout longer than the interval: let that probe finish. */
	if (p->bev == NULL)
		probe_start(p);
}

/* ---------------------------------------------------------- control */

static void
ctl_read(evutil_socket_t fd, short what, void *arg)
{
	char	buf[16];
	ssize_t n;

	n = read(fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The master is gone: nobody reads our verdicts any more. */
		log_warnx("master went away; exiting");
		event_base_loopbreak(C.base);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		switch (buf[i]) {
		case LB_CTL_QUIT:
		case LB_CTL_TERM:
			event_base_loopbreak(C.base);
			break;
		case LB_CTL_REOPEN:
			if (log_reopen() == -1)
				log_warn("reopening the error log");
			break;
		}
	}
}

/* One probe per server of every route with active checks. */
static int
probes_init(const struct lb_cfg *cfg, struct lb_shm *shm)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_routes; i++)
		if (cfg->routes[i].health.enabled)
			n += cfg->routes[i].n_servers;
	if ((C.probes = calloc(n ? n : 1, sizeof(*C.probes))) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		if (!r->health.enabled)
			continue;
		for (size_t j = 0; j < r->n_servers; j++) {
			struct probe  *p = &C.probes[C.n_probes];
			struct timeval tv;

			p->route = r;
			p->srv = &r->servers[j];
			if (p->srv->follow != LB_FOLLOW_NONE) {
				p->own = r->servers[j];
				p->own.addrlen = 0;
				p->own.gen = 0;
				p->srv = &p->own;
			}
			p->st = &shm->servers[r->servers[j].id];
			/* A reload carries the old verdict over (shm.h). */
			p->up = atomic_load(&p->st->up) == 1;
			p->tick = evtimer_new(C.base, probe_tick, p);
			p->deadline = evtimer_new(C.base, probe_timeout, p);
			C.n_probes++;
			if (p->tick == NULL || p->deadline == NULL)
				return -1;
			/* Spread the first probes over one interval. */
			tv = ms_tv((unsigned)(lb_rng_next(&C.rng) %
			    r->health.interval_ms));
			evtimer_add(p->tick, &tv);
		}
	}
	return 0;
}

int
lb_checker_main(const struct lb_checker_args *a)
{
	char c = LB_CTL_READY;
	int  rc = LB_EXIT_FATAL;

	memset(&C, 0, sizeof(C));
	signal(SIGPIPE, SIG_IGN);
	C.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
	    0x9e3779b97f4a7c15ULL;
	if ((C.base = event_base_new()) == NULL) {
		log_warnx("event_base_new failed");
		goto out;
	}
	if (probes_init(a->cfg, a->shm) == -1) {
		log_warnx("out of memory setting up the probes");
		goto out;
	}
	if (lb_resolver_start(C.base, a->cfg, a->shm) == -1) {
		log_warnx("cannot start the resolver");
		goto out;
	}
	C.ctl_ev = event_new(C.base, a->ctl_fd, EV_READ | EV_PERSIST, ctl_read,
	    NULL);
	if (C.ctl_ev == NULL || event_add(C.ctl_ev, NULL) == -1)
		goto out;
	evutil_make_socket_nonblocking(a->ctl_fd);
	if (write(a->ctl_fd, &c, 1) != 1) {
		log_warn("telling the master we are ready");
		goto out;
	}
	log_info("generation %u: probing %zu servers", a->generation,
	    C.n_probes);
	event_base_dispatch(C.base);
	rc = 0;
out:
	lb_resolver_stop();
	for (size_t i = 0; i < C.n_probes; i++) {
		struct probe *p = &C.probes[i];

		if (p->bev != NULL)
			bufferevent_free(p->bev);
		if (p->tick != NULL)
			event_free(p->tick);
		if (p->deadline != NULL)
			event_free(p->deadline);
	}
	free(C.probes);
	if (C.ctl_ev != NULL)
		event_free(C.ctl_ev);
	if (C.base != NULL)
		event_base_free(C.base);
	return rc;
}

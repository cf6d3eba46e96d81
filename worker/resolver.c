/*
 * worker/resolver.c -- following backend names in DNS (see resolver.h).
 *
 * The questions are our own (common/dns.c), each on a UDP socket of its
 * own with a random id, to the nameservers of resolver.nameservers or of
 * /etc/resolv.conf (read by libevent's evdns, which does nothing else
 * here). Not evdns's lookups: evdns 2.1 asks without EDNS0 and gives up
 * on a truncated answer, so a name with more than about 30 addresses --
 * a headless Service of 31 pods -- would never resolve; and it cannot
 * ask for SRV at all. With EDNS0 an answer of 4 KiB comes whole.
 *
 * A round asks (A and AAAA of a name; or its SRV records, then A and AAAA
 * of each target), gathers every address found (the candidates), then
 * applies them to the name's slots: what vanished leaves its slot, what
 * appeared takes an empty one (one whose requests in flight have
 * drained, if there is such), and nothing else moves, so that a worker's
 * pooled connections and a balancer's state survive every answer that
 * does not change them. A round that finds nothing (timeout, SERVFAIL,
 * NXDOMAIN, no records) changes nothing: the last addresses keep
 * serving, and a warning names the name once per run of failures.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "common/addr.h"
#include "common/dns.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/shm.h"
#include "common/str.h"
#include "worker/resolver.h"

#define MIN_MS		 1000 /* never ask again sooner (TTL 0 included) */
#define RETRY_MS	 1000 /* after a round that found nothing */
#define QUERY_TIMEOUT_MS 2000 /* one question's wait for its answer */
#define MAX_NS		 8    /* nameservers used */

struct follow;

/* One question in flight. */
struct query {
	struct follow	       *f;
	uint16_t		type; /* LB_DNS_A, _AAAA, _SRV */
	uint16_t		id;
	char			name[256];
	uint16_t		port; /* what its addresses get */
	uint16_t		weight;
	bool			backup;
	evutil_socket_t		fd; /* -1 when not in flight */
	struct event	       *ev;
	struct sockaddr_storage ns; /* where it went */
	socklen_t		nslen;
};

/* One followed name. */
struct follow {
	const struct lb_route  *route;	   /* into the config */
	const struct lb_server *slot0;	   /* its first slot, in the route */
	unsigned		n;	   /* its slots */
	char			host[256]; /* A: the name; SRV: as written */
	unsigned		port;	   /* A: the port written */
	struct event	       *timer;	   /* the next round */
	unsigned		pending;   /* questions of this round */
	struct lb_shm_addr     *cands;	   /* owned; found this round */
	size_t			n_cands, cap;
	uint32_t		ttl_s;	 /* the smallest TTL seen */
	char			why[96]; /* the first failure's reason */
	bool			failing; /* the last round found nothing */
	unsigned		ns;	 /* the nameserver to ask */
	struct query	       *q;	 /* owned; 2 + 2 * n (SRV) or 2 */
	size_t			nq, maxq;
	struct lb_dns_rr       *rr; /* owned; an answer's records, n */
};

/* The resolver's state: one per checker process. */
static struct {
	struct event_base      *base;
	const struct lb_cfg    *cfg;
	struct lb_shm	       *shm;
	struct follow	       *f; /* owned array */
	size_t			n;
	struct sockaddr_storage ns[MAX_NS];
	socklen_t		nslen[MAX_NS];
	size_t			n_ns;
	uint64_t		rng;
} R;

static void round_start(evutil_socket_t, short, void *);
static void round_end(struct follow *);

static struct lb_shm_server *
slot_st(const struct follow *f, unsigned i)
{
	return &R.shm->servers[f->slot0[i].id];
}

static void
schedule(struct follow *f, uint64_t ms)
{
	struct timeval tv;

	lb_tv_ms(&tv, ms);
	evtimer_add(f->timer, &tv);
}

/* ---------------------------------------------------------- applying */

static int
cand_cmp(const void *a, const void *b)
{
	const struct lb_shm_addr *x = a, *y = b;

	if (x->backup != y->backup)
		return x->backup ? 1 : -1;
	if (x->ss.ss_family != y->ss.ss_family)
		return x->ss.ss_family < y->ss.ss_family ? -1 : 1;
	return memcmp(&x->ss, &y->ss, sizeof(x->ss));
}

static void
cand_add(struct follow *f, const struct sockaddr *sa, socklen_t len,
    unsigned weight, bool backup)
{
	struct lb_shm_addr *c;

	for (size_t i = 0; i < f->n_cands; i++)
		if (lb_addr_equal((struct sockaddr *)&f->cands[i].ss, sa))
			return;
	if (f->n_cands == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;

		if ((c = reallocarray(f->cands, cap, sizeof(*c))) == NULL)
			return;
		f->cands = c;
		f->cap = cap;
	}
	c = &f->cands[f->n_cands++];
	memset(c, 0, sizeof(*c));
	c->present = true;
	c->weight = weight;
	c->backup = backup;
	memcpy(&c->ss, sa, len);
	c->len = len;
}

/* Are all of F's slots drained (the admin drained the name)? */
static bool
all_draining(const struct follow *f)
{
	for (unsigned i = 0; i < f->n; i++)
		if (atomic_load(&slot_st(f, i)->drain) == 0)
			return false;
	return true;
}

static void
apply(struct follow *f)
{
	struct lb_shm_addr cur;
	char		   a[64];
	bool		   found;
	size_t		   keep = f->n_cands;

	qsort(f->cands, f->n_cands, sizeof(*f->cands), cand_cmp);
	if (keep > f->n) {
		log_warnx("%s: %s: %zu addresses, max_addresses %u: the "
			  "first %u serve",
		    f->route->label, f->slot0->name, f->n_cands, f->n, f->n);
		keep = f->n;
	}
	/* What vanished, or changed its weight or tier. */
	for (unsigned i = 0; i < f->n; i++) {
		struct lb_shm_server *st = slot_st(f, i);

		lb_shm_addr_read(st, &cur);
		if (!cur.present)
			continue;
		found = false;
		for (size_t k = 0; k < keep && !found; k++) {
			if (!lb_addr_equal((struct sockaddr *)&cur.ss,
				(struct sockaddr *)&f->cands[k].ss))
				continue;
			found = true;
			if (cur.weight != f->cands[k].weight ||
			    cur.backup != f->cands[k].backup)
				lb_shm_addr_write(st, &f->cands[k]);
			f->cands[k].present = false; /* placed */
		}
		if (found)
			continue;
		lb_addr_format((struct sockaddr *)&cur.ss, a, sizeof(a));
		cur.present = false; /* its address kept: see lb_shm_addr */
		if (!all_draining(f))
			atomic_store(&st->drain, 0);
		lb_shm_addr_write(st, &cur);
		log_notice("%s: %s: address %s is gone: no new requests",
		    f->route->label, f->slot0->name, a);
	}
	/* What appeared: into an empty slot, a drained one first. */
	for (size_t k = 0; k < keep; k++) {
		unsigned best = f->n;

		if (!f->cands[k].present)
			continue;
		for (unsigned i = 0; i < f->n; i++) {
			lb_shm_addr_read(slot_st(f, i), &cur);
			if (cur.present)
				continue;
			if (best == f->n ||
			    lb_shm_active(R.shm, (uint32_t)f->slot0[i].id) <
				lb_shm_active(R.shm,
				    (uint32_t)f->slot0[best].id))
				best = i;
		}
		if (best == f->n)
			break;
		/* A new server starts up, its predecessor's marks gone. */
		atomic_store(&slot_st(f, best)->up, 1);
		atomic_store(&slot_st(f, best)->down_until, 0);
		lb_shm_addr_write(slot_st(f, best), &f->cands[k]);
		lb_addr_format((struct sockaddr *)&f->cands[k].ss, a,
		    sizeof(a));
		log_notice("%s: %s: address %s%s takes requests",
		    f->route->label, f->slot0->name, a,
		    f->cands[k].backup ? " (backup)" : "");
	}
}

/* The round is over: apply what it found, or keep what was. */
static void
round_end(struct follow *f)
{
	uint64_t next;

	if (f->n_cands == 0) {
		if (!f->failing)
			log_warnx("%s: %s: lookup failed (%s): %s",
			    f->route->label, f->slot0->name,
			    f->why[0] != '\0' ? f->why : "no records",
			    "keeping the last known addresses");
		f->failing = true;
		schedule(f, RETRY_MS);
		return;
	}
	if (f->failing)
		log_notice("%s: %s: resolves again", f->route->label,
		    f->slot0->name);
	f->failing = false;
	apply(f);
	next = (uint64_t)f->ttl_s * 1000;
	if (next > R.cfg->resolver_valid_ms)
		next = R.cfg->resolver_valid_ms;
	if (next < MIN_MS)
		next = MIN_MS;
	schedule(f, next);
}

static void
why(struct follow *f, const char *fmt, const char *s)
{
	if (f->why[0] == '\0')
		lb_snprintf(f->why, sizeof(f->why), fmt, s);
}

/* --------------------------------------------------------- questions */

static void query_ask(struct follow *, uint16_t type, const char *name,
    uint16_t port, uint16_t weight, bool backup);

/* Q is answered or given up: one question less in the round. */
static void
query_done(struct query *q)
{
	struct follow *f = q->f;

	if (q->ev != NULL)
		event_free(q->ev);
	if (q->fd != -1)
		close(q->fd);
	q->ev = NULL;
	q->fd = -1;
	if (--f->pending == 0)
		round_end(f);
}

static void
query_answer(struct query *q, const struct lb_dns_rr *rr, int n)
{
	struct follow *f = q->f;
	int	       min_prio = 65536;

	for (int i = 0; i < n; i++)
		if (rr[i].ttl < f->ttl_s)
			f->ttl_s = rr[i].ttl;
	if (q->type == LB_DNS_SRV) {
		for (int i = 0; i < n; i++)
			if (rr[i].priority < min_prio)
				min_prio = rr[i].priority;
		/* The targets' addresses, before this question ends. */
		for (int i = 0; i < n; i++) {
			uint16_t w = rr[i].weight > 0 ? rr[i].weight : 1;

			query_ask(f, LB_DNS_A, rr[i].target, rr[i].port, w,
			    rr[i].priority != min_prio);
			query_ask(f, LB_DNS_AAAA, rr[i].target, rr[i].port, w,
			    rr[i].priority != min_prio);
		}
		return;
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_in  sin;
		struct sockaddr_in6 sin6;

		if (q->type == LB_DNS_A) {
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_port = htons(q->port);
			memcpy(&sin.sin_addr, rr[i].addr, 4);
			cand_add(f, (struct sockaddr *)&sin, sizeof(sin),
			    q->weight, q->backup);
		} else {
			memset(&sin6, 0, sizeof(sin6));
			sin6.sin6_family = AF_INET6;
			sin6.sin6_port = htons(q->port);
			memcpy(&sin6.sin6_addr, rr[i].addr, 16);
			cand_add(f, (struct sockaddr *)&sin6, sizeof(sin6),
			    q->weight, q->backup);
		}
	}
}

static void
query_read(evutil_socket_t fd, short what, void *arg)
{
	struct query	       *q = arg;
	struct follow	       *f = q->f;
	uint8_t			msg[LB_DNS_MAXMSG];
	struct sockaddr_storage from;
	socklen_t		fromlen = sizeof(from);
	ssize_t			len;
	int			n, rcode;

	if (what & EV_TIMEOUT) {
		why(f, "%s", "timed out");
		f->ns++; /* the next round asks the next nameserver */
		query_done(q);
		return;
	}
	len = recvfrom(fd, msg, sizeof(msg), 0, (struct sockaddr *)&from,
	    &fromlen);
	/* Not from where the question went, or not its answer: wait on. */
	if (len <= 0 ||
	    !lb_addr_equal((struct sockaddr *)&from, (struct sockaddr *)&q->ns))
		return;
	n = lb_dns_parse(msg, (size_t)len, q->id, q->name, q->type, &rcode,
	    f->rr, f->n);
	if (n == -1)
		return;
	if (rcode != LB_DNS_NOERROR)
		why(f, "%s",
		    rcode == LB_DNS_NXDOMAIN	 ? "NXDOMAIN" :
			rcode == LB_DNS_SERVFAIL ? "SERVFAIL" :
						   "refused");
	else
		query_answer(q, f->rr, n);
	query_done(q);
}

/*
 * Ask for the TYPE records of NAME; addresses found get PORT, WEIGHT and
 * BACKUP. A question that cannot be sent counts as failed.
 */
static void
query_ask(struct follow *f, uint16_t type, const char *name, uint16_t port,
    uint16_t weight, bool backup)
{
	struct query  *q;
	uint8_t	       buf[512];
	int	       len;
	struct timeval tv;
	size_t	       k;

	if (f->nq == f->maxq || R.n_ns == 0) {
		why(f, "%s",
		    R.n_ns == 0 ? "no nameserver" : "too many targets");
		return;
	}
	q = &f->q[f->nq++];
	memset(q, 0, sizeof(*q));
	q->f = f;
	q->fd = -1;
	q->type = type;
	q->port = port;
	q->weight = weight;
	q->backup = backup;
	q->id = (uint16_t)lb_rng_next(&R.rng);
	lb_strlcpy(q->name, name, sizeof(q->name));
	k = f->ns % R.n_ns;
	memcpy(&q->ns, &R.ns[k], sizeof(q->ns));
	q->nslen = R.nslen[k];
	f->pending++;
	if ((len = lb_dns_query(buf, sizeof(buf), q->id, name, type)) == -1) {
		why(f, "%s", "an invalid name");
		goto fail;
	}
	q->fd = socket(q->ns.ss_family,
	    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd == -1) {
		why(f, "socket: %s", strerror(errno));
		goto fail;
	}
	if ((q->ev = event_new(R.base, q->fd, EV_READ | EV_PERSIST, query_read,
		 q)) == NULL) {
		why(f, "%s", "out of memory");
		goto fail;
	}
	if (sendto(q->fd, buf, (size_t)len, 0, (struct sockaddr *)&q->ns,
		q->nslen) != len) {
		why(f, "sending the question: %s", strerror(errno));
		f->ns++;
		goto fail;
	}
	lb_tv_ms(&tv, QUERY_TIMEOUT_MS);
	event_add(q->ev, &tv);
	return;
fail:
	query_done(q);
}

/* ------------------------------------------------------------ rounds */

static void
round_start(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;

	f->n_cands = 0;
	f->nq = 0;
	f->ttl_s = UINT32_MAX;
	f->why[0] = '\0';
	f->pending = 1; /* ourselves, until every question is sent */
	if (f->slot0->follow == LB_FOLLOW_SRV)
		query_ask(f, LB_DNS_SRV, f->host, 0, 0, false);
	else {
		query_ask(f, LB_DNS_A, f->host, (uint16_t)f->port,
		    (uint16_t)f->slot0->weight, false);
		query_ask(f, LB_DNS_AAAA, f->host, (uint16_t)f->port,
		    (uint16_t)f->slot0->weight, false);
	}
	if (--f->pending == 0)
		round_end(f);
}

static int
follow_init(struct follow *f, const struct lb_route *r, size_t first)
{
	char e[LB_ERRLEN];

	f->route = r;
	f->slot0 = &r->servers[first];
	f->n = f->slot0->max_addresses;
	f->maxq = f->slot0->follow == LB_FOLLOW_SRV ? 1 + 2 * (size_t)f->n : 2;
	f->ns = (unsigned)lb_rng_next(&R.rng);
	if ((f->timer = evtimer_new(R.base, round_start, f)) == NULL ||
	    (f->q = calloc(f->maxq, sizeof(*f->q))) == NULL ||
	    (f->rr = calloc(f->n, sizeof(*f->rr))) == NULL)
		return -1;
	if (f->slot0->follow == LB_FOLLOW_A)
		return lb_addr_split(f->slot0->name, f->host, sizeof(f->host),
		    &f->port, 0, e, sizeof(e));
	lb_strlcpy(f->host, f->slot0->name, sizeof(f->host));
	return 0;
}

/*
 * The nameservers: the config's, or /etc/resolv.conf's as evdns reads it
 * (options, comments, its default of 127.0.0.1 when there are none).
 */
static int
nameservers(struct event_base *base, const struct lb_cfg *cfg)
{
	struct lb_sockaddr sa;
	struct evdns_base *dns;
	char		   e[LB_ERRLEN];
	int		   len;

	for (size_t i = 0; i < cfg->n_nameservers && R.n_ns < MAX_NS; i++) {
		if (lb_addr_parse_listen(cfg->nameservers[i], &sa, e,
			sizeof(e)) == -1)
			continue;
		memcpy(&R.ns[R.n_ns], &sa.ss, sizeof(sa.ss));
		R.nslen[R.n_ns++] = sa.len;
	}
	if (cfg->n_nameservers > 0)
		return R.n_ns > 0 ? 0 : -1;
	if ((dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) ==
	    NULL)
		return -1;
	for (int i = 0; R.n_ns < MAX_NS; i++) {
		len = evdns_base_get_nameserver_addr(dns, i,
		    (struct sockaddr *)&R.ns[R.n_ns], sizeof(R.ns[0]));
		if (len <= 0 || (size_t)len > sizeof(R.ns[0]))
			break;
		R.nslen[R.n_ns++] = (socklen_t)len;
	}
	evdns_base_free(dns, 0);
	return R.n_ns > 0 ? 0 : -1;
}

int
lb_resolver_start(struct event_base *base, const struct lb_cfg *cfg,
    struct lb_shm *shm)
{
	size_t k = 0;

	memset(&R, 0, sizeof(R));
	R.base = base;
	R.cfg = cfg;
	R.shm = shm;
	R.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)lb_now_us() ^
	    0x9e3779b97f4a7c15ULL;
	if (cfg->n_followed == 0)
		return 0;
	if (nameservers(base, cfg) == -1) {
		log_warnx("resolver: no nameserver to ask");
		return -1;
	}
	if ((R.f = calloc(cfg->n_followed, sizeof(*R.f))) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		for (size_t j = 0; j < r->n_servers; j++) {
			if (r->servers[j].follow == LB_FOLLOW_NONE ||
			    r->servers[j].slot != 0 || k == cfg->n_followed)
				continue;
			R.n++;
			if (follow_init(&R.f[k], r, j) == -1)
				return -1;
			event_active(R.f[k].timer, EV_TIMEOUT, 1);
			k++;
		}
	}
	log_info("resolver: following %zu name%s", R.n, R.n == 1 ? "" : "s");
	return 0;
}

void
lb_resolver_stop(void)
{
	for (size_t i = 0; i < R.n; i++) {
		struct follow *f = &R.f[i];

		for (size_t k = 0; k < f->nq; k++) {
			if (f->q[k].ev != NULL)
				event_free(f->q[k].ev);
			if (f->q[k].fd != -1)
				close(f->q[k].fd);
		}
		if (f->timer != NULL)
			event_free(f->timer);
		free(f->q);
		free(f->rr);
		free(f->cands);
	}
	free(R.f);
	memset(&R, 0, sizeof(R));
}

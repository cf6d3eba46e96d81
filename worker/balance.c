/*
 * worker/balance.c -- load-balancing policy (see balance.h).
 *
 * lb_upstream_pick is the mechanism every algorithm shares: it decides which
 * peers may be chosen (healthy, not yet tried, primaries before backups) and
 * counts the pick; an algorithm only chooses among the eligible peers. The
 * state an algorithm keeps (smooth round-robin weights, the hash ring) is
 * per worker; the counters least_conn and two_choices compare live in shared
 * memory, so they see the load of every worker: each worker counts its
 * requests in flight in its own share, and they add up the shares (a
 * worker that crashed is cleared by the master, see common/shm.h).
 *
 * Nothing here allocates after lb_upstream_init: a pick runs on every
 * request.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/rng.h"
#include "common/shm.h"
#include "config/config.h"
#include "worker/balance.h"

#define RING_POINTS  160	/* ring points per unit of weight */
#define RING_MAX     (1u << 18) /* points per ring, at most (4 MB) */
#define IPHASH_TRIES 20		/* rehashes before giving up on luck */

#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* The consistent-hash ring: points sorted by hash, each naming a peer. */
struct ring_point {
	uint64_t hash;
	size_t	 peer; /* index in lb_upstream.peers */
};

struct ring {
	struct ring_point *points; /* owned; sorted by hash */
	size_t		   n;
};

/* FNV-1a over N bytes, continuing from H. */
static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= FNV_PRIME;
	}
	return h;
}

/*
 * A 64-bit finalizer (Murmur3's). FNV-1a alone mixes its last bytes
 * poorly, and addresses that differ in their last octet are the common
 * case; after this every input bit affects every output bit.
 */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/*
 * The client's hash: its address without the port, so every connection of
 * one client hashes alike. An IPv4-mapped IPv6 address (a dual-stack
 * listener) hashes as the IPv4 address it carries.
 */
static uint64_t
client_hash(const struct sockaddr *sa)
{
	const struct sockaddr_in  *sin;
	const struct sockaddr_in6 *sin6;

	if (sa == NULL)
		return 0;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		return mix64(fnv1a(FNV_BASIS, &sin->sin_addr, 4));
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return mix64(
			    fnv1a(FNV_BASIS, &sin6->sin6_addr.s6_addr[12], 4));
		return mix64(fnv1a(FNV_BASIS, &sin6->sin6_addr, 16));
	default:
		return 0;
	}
}

/* The configured weight; a zero (not from the config) counts as one. */
static unsigned
peer_weight(const struct lb_peer *p)
{
	return p->srv->weight > 0 ? p->srv->weight : 1;
}

/* Requests in flight to P, every worker's. */
static uint32_t
peer_active(const struct lb_upstream *up, const struct lb_peer *p)
{
	return lb_shm_active(up->shm, p->srv->id);
}

/* Does A carry less load per unit of weight than B? */
static bool
peer_less_loaded(const struct lb_peer *a, uint32_t a_active,
    const struct lb_peer *b, uint32_t b_active)
{
	return (uint64_t)a_active * peer_weight(b) <
	    (uint64_t)b_active * peer_weight(a);
}

/*
 * One peer's turn in a smooth weighted round robin: it gains its effective
 * weight, and the peer with the highest current weight so far is *best.
 * The caller then takes *total back from the winner, so over a cycle each
 * peer is chosen in proportion to its weight, interleaved rather than in
 * bursts. The effective weight creeps back to the configured one after a
 * failure lowered it (lb_upstream_done).
 */
static void
swrr_step(struct lb_peer *p, int *total, struct lb_peer **best)
{
	p->cur_weight += p->eff_weight;
	*total += p->eff_weight;
	if (p->eff_weight < (int)peer_weight(p))
		p->eff_weight++;
	if (*best == NULL || p->cur_weight > (*best)->cur_weight)
		*best = p;
}

/* Weighted random choice among the eligible peers but EXCLUDE (or none). */
static struct lb_peer *
weighted_random(struct lb_upstream *up, const bool *eligible,
    const struct lb_peer *exclude)
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < up->n_peers; i++)
		if (eligible[i] && &up->peers[i] != exclude)
			total += peer_weight(&up->peers[i]);
	if (total == 0)
		return NULL;
	/* The modulo bias is below total / 2^64: nothing to measure. */
	r = lb_rng_next(&up->rng) % total;
	for (size_t i = 0; i < up->n_peers; i++) {
		if (!eligible[i] || &up->peers[i] == exclude)
			continue;
		if (r < peer_weight(&up->peers[i]))
			return &up->peers[i];
		r -= peer_weight(&up->peers[i]);
	}
	return NULL; /* not reached */
}

/* ------------------------------------------------------- round_robin */

static struct lb_peer *
rr_pick(struct lb_upstream *up, const bool *eligible, uint64_t hash)
{
	struct lb_peer *best = NULL;
	int		total = 0;

	for (size_t i = 0; i < up->n_peers; i++)
		if (eligible[i])
			swrr_step(&up->peers[i], &total, &best);
	best->cur_weight -= total;
	return best;
}

/* -------------------------------------------------------- least_conn */

/*
 * The fewest requests in flight per unit of weight, counted by every
 * worker. The counts are read once (each is a sum over the workers'
 * shares), then every peer at the minimum is shared by weighted round
 * robin.
 */
static struct lb_peer *
lc_pick(struct lb_upstream *up, const bool *eligible, uint64_t hash)
{
	struct lb_peer *min = NULL, *best = NULL, *p;
	uint32_t	min_active = 0, a;
	int		total = 0;

	for (size_t i = 0; i < up->n_peers; i++) {
		if (!eligible[i])
			continue;
		p = &up->peers[i];
		a = up->load[i] = peer_active(up, p);
		if (min == NULL || peer_less_loaded(p, a, min, min_active)) {
			min = p;
			min_active = a;
		}
	}
	for (size_t i = 0; i < up->n_peers; i++) {
		if (!eligible[i])
			continue;
		p = &up->peers[i];
		if (!peer_less_loaded(min, min_active, p, up->load[i]))
			swrr_step(p, &total, &best);
	}
	best->cur_weight -= total;
	return best;
}

/* ------------------------------------------------------------ random */

static struct lb_peer *
random_pick(struct lb_upstream *up, const bool *eligible, uint64_t hash)
{
	return weighted_random(up, eligible, NULL);
}

/* ------------------------------------------------------- two_choices */

/*
 * Power of two choices: two distinct weighted-random candidates, and the
 * one with less load per unit of weight wins (the first on a tie, so an
 * idle pool is shared by weight). Cheaper than least_conn on large pools
 * and it never herds every worker onto the same idle server.
 */
static struct lb_peer *
p2c_pick(struct lb_upstream *up, const bool *eligible, uint64_t hash)
{
	struct lb_peer *a, *b;
	uint32_t	aa, ba;

	a = weighted_random(up, eligible, NULL);
	if ((b = weighted_random(up, eligible, a)) == NULL)
		return a;
	aa = peer_active(up, a);
	ba = peer_active(up, b);
	return peer_less_loaded(b, ba, a, aa) ? b : a;
}

/* ----------------------------------------------------------- ip_hash */

/*
 * The client's hash chooses a peer by weight among all the peers of the
 * tier in use (primaries, or backups when it came to that), whether they
 * are eligible or not. Only when that peer is not eligible is the hash
 * stirred and tried again: so a dead server's clients spread over the
 * others while every other client keeps its server. After IPHASH_TRIES
 * unlucky draws (most of the tier is out) the hash chooses among the
 * eligible peers directly.
 */
static struct lb_peer *
iphash_pick(struct lb_upstream *up, const bool *eligible, uint64_t hash)
{
	struct lb_peer *p;
	uint64_t	total = 0, etotal = 0, w;
	bool		backup = false;
	size_t		i;

	for (i = 0; i < up->n_peers; i++)
		if (eligible[i]) {
			backup = up->peers[i].srv->backup;
			break;
		}
	for (i = 0; i < up->n_peers; i++) {
		p = &up->peers[i];
		if (p->srv->backup != backup)
			continue;
		total += peer_weight(p);
		if (eligible[i])
			etotal += peer_weight(p);
	}
	for (int t = 0; t < IPHASH_TRIES; t++) {
		w = hash % total;
		for (i = 0; i < up->n_peers; i++) {
			p = &up->peers[i];
			if (p->srv->backup != backup)
				continue;
			if (w < peer_weight(p))
				break;
			w -= peer_weight(p);
		}
		if (i < up->n_peers && eligible[i])
			return &up->peers[i];
		hash = mix64(hash + 0x9e3779b97f4a7c15ULL);
	}
	w = hash % etotal;
	for (i = 0; i < up->n_peers; i++) {
		if (!eligible[i])
			continue;
		if (w < peer_weight(&up->peers[i]))
			return &up->peers[i];
		w -= peer_weight(&up->peers[i]);
	}
	return NULL; /* not reached */
}

/* --------------------------------------------------- consistent_hash */

static int
ring_cmp(const void *a, const void *b)
{
	const struct ring_point *pa = a, *pb = b;

	if (pa->hash != pb->hash)
		return pa->hash < pb->hash ? -1 : 1;
	/* Equal hashes are next to impossible; keep the order defined. */
	return pa->peer < pb->peer ? -1 : pa->peer > pb->peer;
}

/*
 * A point's position depends only on its server (name, address) and its
 * replica number, never on the server's place in the list: a server added
 * to or removed from the config takes or leaves only its own arcs.
 */
static uint64_t
ring_point_hash(const struct lb_server *srv, uint32_t replica)
{
	unsigned char r[4];
	uint64_t      h;

	r[0] = replica & 0xff;
	r[1] = (replica >> 8) & 0xff;
	r[2] = (replica >> 16) & 0xff;
	r[3] = (replica >> 24) & 0xff;
	h = fnv1a(FNV_BASIS, srv->name, strlen(srv->name) + 1);
	h = fnv1a(h, srv->addrstr, strlen(srv->addrstr) + 1);
	/* A followed name's slots: by place, whatever address fills it. */
	if (srv->follow != LB_FOLLOW_NONE)
		h = fnv1a(h, &srv->slot, sizeof(srv->slot));
	return mix64(fnv1a(h, r, sizeof(r)));
}

/* How many points each peer gets: RING_POINTS per unit, within RING_MAX. */
static uint32_t
ring_npoints(const struct lb_peer *p, uint64_t sum)
{
	uint64_t n = (uint64_t)RING_POINTS * peer_weight(p);

	if (sum > RING_MAX) {
		n = n * RING_MAX / sum;
		if (n == 0)
			n = 1;
	}
	return (uint32_t)n;
}

static int
ch_init(struct lb_upstream *up)
{
	struct ring *ring = NULL;
	uint64_t     sum = 0;
	size_t	     n = 0, k = 0;

	for (size_t i = 0; i < up->n_peers; i++)
		sum += (uint64_t)RING_POINTS * peer_weight(&up->peers[i]);
	for (size_t i = 0; i < up->n_peers; i++)
		n += ring_npoints(&up->peers[i], sum);

	if ((ring = calloc(1, sizeof(*ring))) == NULL)
		goto fail;
	if (n > 0 && (ring->points = calloc(n, sizeof(*ring->points))) == NULL)
		goto fail;
	for (size_t i = 0; i < up->n_peers; i++) {
		uint32_t np = ring_npoints(&up->peers[i], sum);

		for (uint32_t r = 0; r < np; r++) {
			ring->points[k].hash = ring_point_hash(up->peers[i].srv,
			    r);
			ring->points[k].peer = i;
			k++;
		}
	}
	ring->n = n;
	if (n > 0)
		qsort(ring->points, n, sizeof(*ring->points), ring_cmp);
	up->data = ring;
	return 0;

fail:
	free(ring);
	errno = ENOMEM;
	return -1;
}

static void
ch_fini(struct lb_upstream *up)
{
	struct ring *ring = up->data;

	if (ring != NULL)
		free(ring->points);
	free(ring);
	up->data = NULL;
}

/*
 * The first point at or after the client's hash, going round; points of
 * peers that are not eligible are passed over, so a server that is down
 * gives its clients to the servers that follow its points and nobody else
 * moves.
 */
static struct lb_peer *
ch_pick(struct lb_upstream *up, const bool *eligible, uint64_t hash)
{
	struct ring *ring = up->data;
	size_t	     lo = 0, hi = ring->n, mid, peer;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ring->points[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = 0; k < ring->n; k++) {
		peer = ring->points[(lo + k) % ring->n].peer;
		if (eligible[peer])
			return &up->peers[peer];
	}
	return NULL; /* not reached: every peer has points */
}

/* --------------------------------------------------------- the table */

static const struct lb_balancer balancer_round_robin = {
	.name = "round_robin",
	.pick = rr_pick,
};

static const struct lb_balancer balancer_least_conn = {
	.name = "least_conn",
	.pick = lc_pick,
};

static const struct lb_balancer balancer_random = {
	.name = "random",
	.pick = random_pick,
};

static const struct lb_balancer balancer_two_choices = {
	.name = "two_choices",
	.pick = p2c_pick,
};

static const struct lb_balancer balancer_ip_hash = {
	.name = "ip_hash",
	.pick = iphash_pick,
};

static const struct lb_balancer balancer_consistent_hash = {
	.name = "consistent_hash",
	.init = ch_init,
	.fini = ch_fini,
	.pick = ch_pick,
};

/* NULL for a value outside enum lb_algo. */
const struct lb_balancer *
lb_balancer_get(enum lb_algo algo)
{
	switch (algo) {
	case LB_ALGO_ROUND_ROBIN:
		return &balancer_round_robin;
	case LB_ALGO_LEAST_CONN:
		return &balancer_least_conn;
	case LB_ALGO_RANDOM:
		return &balancer_random;
	case LB_ALGO_TWO_CHOICES:
		return &balancer_two_choices;
	case LB_ALGO_IP_HASH:
		return &balancer_ip_hash;
	case LB_ALGO_CONSISTENT_HASH:
		return &balancer_consistent_hash;
	}
	return NULL;
}

/* ------------------------------------------------------ the upstream */

/*
 * Also -1 with EINVAL when ROUTE's algorithm is unknown. On failure UP is
 * left zeroed and needs no lb_upstream_fini.
 */
int
lb_upstream_init(struct lb_upstream *up, const struct lb_route *route,
    struct lb_shm *shm, unsigned slot, uint64_t seed)
{
	size_t n = route->n_servers;

	memset(up, 0, sizeof(*up));
	up->route = route;
	up->shm = shm;
	if (slot >= shm->n_slots) {
		errno = EINVAL;
		goto fail;
	}
	if ((up->ops = lb_balancer_get(route->algorithm)) == NULL) {
		errno = EINVAL;
		goto fail;
	}
	/* One element at least: calloc(0) may return NULL. */
	if ((up->peers = calloc(n > 0 ? n : 1, sizeof(*up->peers))) == NULL ||
	    (up->scratch = calloc(n > 0 ? n : 1, sizeof(*up->scratch))) ==
		NULL ||
	    (up->load = calloc(n > 0 ? n : 1, sizeof(*up->load))) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	up->n_peers = n;
	for (size_t i = 0; i < n; i++) {
		up->peers[i].srv = &route->servers[i];
		if (route->servers[i].follow != LB_FOLLOW_NONE &&
		    up->own == NULL &&
		    (up->own = calloc(n, sizeof(*up->own))) == NULL) {
			errno = ENOMEM;
			goto fail;
		}
		if (route->servers[i].follow != LB_FOLLOW_NONE) {
			/* Empty until the slot is read: generation 0. */
			up->own[i] = route->servers[i];
			up->own[i].addrlen = 0;
			up->own[i].addrstr[0] = '\0';
			up->own[i].gen = 0;
			up->peers[i].own = &up->own[i];
			up->peers[i].srv = &up->own[i];
		}
		up->peers[i].st = &shm->servers[route->servers[i].id];
		up->peers[i].mine = lb_shm_active_share(shm, slot,
		    route->servers[i].id);
		up->peers[i].requests = lb_shm_mine(shm, slot,
		    &up->peers[i].st->requests);
		up->peers[i].failures = lb_shm_mine(shm, slot,
		    &up->peers[i].st->failures);
		up->peers[i].cur_weight = 0;
		up->peers[i].eff_weight = (int)peer_weight(&up->peers[i]);
		up->peers[i].index = i;
	}
	/*
	 * Stir the route in so that two routes of one worker do not draw the
	 * same sequence; xorshift must never start from zero.
	 */
	up->rng = mix64(seed ^ mix64(route->id + 1));
	if (up->rng == 0)
		up->rng = 0x9e3779b97f4a7c15ULL;
	if (up->ops->init != NULL && up->ops->init(up) == -1)
		goto fail;
	return 0;

fail:
	free(up->own);
	free(up->load);
	free(up->scratch);
	free(up->peers);
	memset(up, 0, sizeof(*up));
	return -1;
}

void
lb_upstream_fini(struct lb_upstream *up)
{
	if (up->ops != NULL && up->ops->fini != NULL)
		up->ops->fini(up);
	free(up->own);
	free(up->load);
	free(up->scratch);
	free(up->peers);
	memset(up, 0, sizeof(*up));
}

bool
lb_peer_usable(const struct lb_peer *p, int64_t now_ms)
{
	return atomic_load_explicit(&p->st->up, memory_order_relaxed) == 1 &&
	    atomic_load_explicit(&p->st->down_until, memory_order_relaxed) <=
	    now_ms;
}

void
lb_peer_refresh(struct lb_peer *p)
{
	struct lb_server  *own = p->own;
	struct lb_shm_addr a;
	uint32_t	   seq;

	if (own == NULL ||
	    atomic_load_explicit(&p->st->seq, memory_order_acquire) == own->gen)
		return;
	seq = lb_shm_addr_read(p->st, &a);
	own->gen = seq;
	if (!a.present) {
		own->addrlen = 0;
		own->addrstr[0] = '\0';
		return;
	}
	memcpy(&own->addr, &a.ss, sizeof(own->addr));
	own->addrlen = a.len;
	lb_addr_format((const struct sockaddr *)&own->addr, own->addrstr,
	    sizeof(own->addrstr));
	if (own->follow == LB_FOLLOW_SRV) {
		own->weight = a.weight > 0 ? a.weight : 1;
		own->backup = a.backup;
	}
	/* A new server in this place: it starts afresh. */
	p->cur_weight = 0;
	p->eff_weight = (int)peer_weight(p);
}

/*
 * Mark in up->scratch the usable, untried peers of one tier; count them.
 * A followed slot that is empty, and a server the admin API drains, take
 * no new requests.
 */
static size_t
mark_eligible(struct lb_upstream *up, const bool *tried, int64_t now_ms,
    bool backup)
{
	size_t		n = 0;
	struct lb_peer *p;

	for (size_t i = 0; i < up->n_peers; i++) {
		p = &up->peers[i];
		if (p->own != NULL)
			lb_peer_refresh(p);
		up->scratch[i] = p->srv->backup == backup &&
		    (tried == NULL || !tried[i]) &&
		    (p->own == NULL || p->srv->addrlen != 0) &&
		    atomic_load_explicit(&p->st->drain, memory_order_relaxed) ==
			0 &&
		    lb_peer_usable(p, now_ms);
		if (up->scratch[i])
			n++;
	}
	return n;
}

struct lb_peer *
lb_upstream_pick(struct lb_upstream *up, const struct sockaddr *client,
    const bool *tried, int64_t now_ms)
{
	struct lb_peer *p;

	if (mark_eligible(up, tried, now_ms, false) == 0 &&
	    mark_eligible(up, tried, now_ms, true) == 0)
		return NULL;
	if ((p = up->ops->pick(up, up->scratch, client_hash(client))) == NULL)
		return NULL;
	lb_shm_share_add(p->mine, 1);
	atomic_fetch_add_explicit(p->requests, 1, memory_order_relaxed);
	return p;
}

struct lb_peer *
lb_upstream_take(struct lb_upstream *up, struct lb_peer *p, const bool *tried,
    int64_t now_ms)
{
	/* The pick's own eligibility: drain, followed slots, backups. */
	if (mark_eligible(up, tried, now_ms, false) == 0 && p->srv->backup)
		(void)mark_eligible(up, tried, now_ms, true);
	if (!up->scratch[p->index])
		return NULL;
	lb_shm_share_add(p->mine, 1);
	atomic_fetch_add_explicit(p->requests, 1, memory_order_relaxed);
	return p;
}

/*
 * A failure also takes half the peer's weight off its effective weight in
 * this worker, so round robin sends it less until a run of picks has
 * restored it: a server that just failed is not handed the next request.
 */
void
lb_upstream_done(struct lb_upstream *up, struct lb_peer *p, bool failed)
{
	if (p == NULL)
		return;
	lb_shm_share_add(p->mine, -1);
	if (!failed)
		return;
	atomic_fetch_add_explicit(p->failures, 1, memory_order_relaxed);
	p->eff_weight -= (int)(peer_weight(p) + 1) / 2;
	if (p->eff_weight < 0)
		p->eff_weight = 0;
}

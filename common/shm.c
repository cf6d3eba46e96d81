/*
 * common/shm.c -- the per-generation shared segment (see shm.h).
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ratelimit.h"
#include "common/shm.h"

/*
 * The header, then the stripes (each the server records, the route
 * records and the totals), then the workers' shares: requests in flight,
 * then tunnels; then the vacant flags. Stripes and each slot's shares
 * start on a cache line.
 */
struct layout {
	size_t stripes, rt, tot, stripe_size, n_stripes;
	size_t active, active_stride, tunnels, vacant, size;
};

static size_t
align_to(size_t sz, size_t a)
{
	return (sz + a - 1) / a * a;
}

static void
shm_layout(size_t n_servers, size_t n_routes, size_t n_slots, struct layout *l)
{
	size_t sz;

	/* One stripe, from its start. */
	sz = n_servers * sizeof(struct lb_shm_server);
	l->rt = sz = align_to(sz, _Alignof(struct lb_shm_route));
	sz += (n_routes + 1) * sizeof(struct lb_shm_route);
	l->tot = sz = align_to(sz, _Alignof(struct lb_shm_totals));
	sz += sizeof(struct lb_shm_totals);
	l->stripe_size = align_to(sz, LB_SHM_LINE);
	l->n_stripes = n_slots;
	if (l->n_stripes > LB_SHM_STRIPES_MAX / l->stripe_size)
		l->n_stripes = LB_SHM_STRIPES_MAX / l->stripe_size;
	if (l->n_stripes == 0)
		l->n_stripes = 1;

	l->stripes = align_to(sizeof(struct lb_shm), LB_SHM_LINE);
	sz = l->stripes + l->n_stripes * l->stripe_size;
	l->active_stride = align_to(n_servers, LB_SHM_LINE / 4);
	l->active = sz;
	sz += n_slots * l->active_stride * sizeof(_Atomic uint32_t);
	l->tunnels = sz;
	sz += n_slots * LB_SHM_LINE;
	l->vacant = sz;
	sz += n_slots * sizeof(_Atomic uint32_t);
	l->size = sz;
}

struct lb_shm *
lb_shm_create(size_t n_servers, size_t n_routes, size_t n_slots)
{
	struct lb_shm *shm;
	struct layout  l;
	void	      *p;

	if (n_slots == 0)
		n_slots = 1;
	if (n_servers > UINT32_MAX || n_routes >= UINT32_MAX ||
	    n_slots > UINT32_MAX ||
	    n_routes > SIZE_MAX / 4 / sizeof(struct lb_shm_route) ||
	    n_servers > SIZE_MAX / 4 / sizeof(struct lb_shm_server) ||
	    n_slots > SIZE_MAX / 8 / (n_servers + LB_SHM_LINE)) {
		errno = EINVAL;
		return NULL;
	}
	shm_layout(n_servers, n_routes, n_slots, &l);
	p = mmap(NULL, l.size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* mmap's pages are zero: every counter starts at 0. */
	shm = p;
	shm->n_servers = (uint32_t)n_servers;
	shm->n_routes = (uint32_t)n_routes;
	shm->n_slots = (uint32_t)n_slots;
	shm->n_stripes = (uint32_t)l.n_stripes;
	shm->stripe_size = l.stripe_size;
	shm->servers = (struct lb_shm_server *)((char *)p + l.stripes);
	shm->routes = (struct lb_shm_route *)((char *)p + l.stripes + l.rt);
	shm->totals = (struct lb_shm_totals *)((char *)p + l.stripes + l.tot);
	shm->active = (_Atomic uint32_t *)((char *)p + l.active);
	shm->active_stride = l.active_stride;
	shm->tunnels = (_Atomic uint32_t *)((char *)p + l.tunnels);
	shm->vacant = (_Atomic uint32_t *)((char *)p + l.vacant);
	for (size_t i = 0; i < n_servers; i++)
		atomic_store(&shm->servers[i].up, 1);
	return shm;
}

void
lb_shm_destroy(struct lb_shm *shm)
{
	struct layout l;

	if (shm == NULL)
		return;
	for (size_t i = 0; i < shm->n_limits; i++)
		lb_rl_release(shm->limits[i]);
	free(shm->limits);
	shm_layout(shm->n_servers, shm->n_routes, shm->n_slots, &l);
	munmap(shm, l.size);
}

void
lb_shm_slot_clear(struct lb_shm *shm, unsigned slot)
{
	if (slot >= shm->n_slots)
		return;
	/* Only what is set: a page nobody wrote stays untouched. */
	for (uint32_t id = 0; id < shm->n_servers; id++) {
		_Atomic uint32_t *a = lb_shm_active_share(shm, slot, id);

		if (atomic_load_explicit(a, memory_order_relaxed) != 0)
			atomic_store(a, 0);
	}
	atomic_store(lb_shm_tunnel_share(shm, slot), 0);
}

uint32_t
lb_shm_active(const struct lb_shm *shm, uint32_t id)
{
	const _Atomic uint32_t *a = &shm->active[id];
	uint32_t		n = 0;

	for (uint32_t s = 0; s < shm->n_slots; s++, a += shm->active_stride)
		n += atomic_load_explicit(a, memory_order_relaxed);
	return n;
}

uint32_t
lb_shm_tunnels(const struct lb_shm *shm)
{
	uint32_t n = 0;

	for (uint32_t s = 0; s < shm->n_slots; s++)
		n += atomic_load_explicit(lb_shm_tunnel_share(shm, s),
		    memory_order_relaxed);
	return n;
}

uint64_t
lb_shm_sum(const struct lb_shm *shm, const _Atomic uint64_t *c)
{
	uint64_t n = 0;

	for (uint32_t s = 0; s < shm->n_stripes; s++)
		n += atomic_load_explicit(lb_shm_mine(shm, s, c),
		    memory_order_relaxed);
	return n;
}

void
lb_shm_set_reloads(struct lb_shm *shm, uint64_t ok, uint64_t failed)
{
	atomic_store(&shm->reloads_ok, ok);
	atomic_store(&shm->reloads_failed, failed);
}

bool
lb_shm_server_usable(const struct lb_shm_server *st, int64_t now_ms)
{
	return atomic_load_explicit(&st->up, memory_order_relaxed) == 1 &&
	    atomic_load_explicit(&st->down_until, memory_order_relaxed) <=
	    now_ms;
}

/* ---------------------------------------------------- followed slots */

/*
 * where[0]: family (16 bits), port (16, host order), weight (16),
 * flags (bit 48 present, bit 49 backup); where[1..2]: the 4 or 16 bytes
 * of the address. A seqlock with one writer: readers never wait for a
 * lock, and a dead writer leaves an odd SEQ that its successor (the next
 * checker) makes even again on its first write.
 */
#define W_PRESENT (1ULL << 48)
#define W_BACKUP  (1ULL << 49)

uint32_t
lb_shm_addr_read(const struct lb_shm_server *st, struct lb_shm_addr *out)
{
	uint64_t w[3];
	uint32_t s1, s2;
	int	 spins = 0;

	do {
		s1 = atomic_load_explicit(&st->seq, memory_order_acquire);
		for (int i = 0; i < 3; i++)
			w[i] = atomic_load_explicit(&st->where[i],
			    memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&st->seq, memory_order_relaxed);
		/* A writer that died mid-write: read as empty. */
	} while ((s1 != s2 || (s1 & 1) != 0) && ++spins < 1000);
	memset(out, 0, sizeof(*out));
	if (s1 != s2 || (s1 & 1) != 0 || (w[0] & 0xffff) == 0)
		return s2;
	/* A vanished address stays readable: its requests still finish. */
	out->present = (w[0] & W_PRESENT) != 0;
	out->backup = (w[0] & W_BACKUP) != 0;
	out->weight = (unsigned)((w[0] >> 32) & 0xffff);
	if ((w[0] & 0xffff) == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)(w[0] >> 16));
		memcpy(&sin6->sin6_addr.s6_addr[0], &w[1], 8);
		memcpy(&sin6->sin6_addr.s6_addr[8], &w[2], 8);
		out->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)(w[0] >> 16));
		memcpy(&sin->sin_addr, &w[1], 4);
		out->len = sizeof(*sin);
	}
	return s1;
}

void
lb_shm_addr_write(struct lb_shm_server *st, const struct lb_shm_addr *a)
{
	uint64_t w[3] = { 0, 0, 0 };
	uint32_t s = atomic_load_explicit(&st->seq, memory_order_relaxed);

	if (a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6) {
		w[0] = (a->present ? W_PRESENT : 0) |
		    (a->backup ? W_BACKUP : 0) |
		    ((uint64_t)(a->weight & 0xffff) << 32);
		if (a->ss.ss_family == AF_INET6) {
			const struct sockaddr_in6
			    *sin6 = (const struct sockaddr_in6 *)&a->ss;

			w[0] |= AF_INET6 |
			    ((uint64_t)ntohs(sin6->sin6_port) << 16);
			memcpy(&w[1], &sin6->sin6_addr.s6_addr[0], 8);
			memcpy(&w[2], &sin6->sin6_addr.s6_addr[8], 8);
		} else {
			const struct sockaddr_in
			    *sin = (const struct sockaddr_in *)&a->ss;

			w[0] |= AF_INET |
			    ((uint64_t)ntohs(sin->sin_port) << 16);
			memcpy(&w[1], &sin->sin_addr, 4);
		}
	}
	/* Odd while writing; a dead writer's odd value is passed over. */
	s |= 1;
	atomic_store_explicit(&st->seq, s, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (int i = 0; i < 3; i++)
		atomic_store_explicit(&st->where[i], w[i],
		    memory_order_relaxed);
	atomic_store_explicit(&st->seq, s + 1, memory_order_release);
}

/* ------------------------------------------------------- histogram */

/* Prometheus-style latency buckets: 1 ms to 5 s. */
const int64_t lb_shm_bucket_us[LB_SHM_BUCKETS] = {
	1000,
	2500,
	5000,
	10000,
	25000,
	50000,
	100000,
	250000,
	500000,
	1000000,
	2500000,
	5000000,
};

void
lb_shm_observe(struct lb_shm *shm, unsigned slot, int64_t us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < LB_SHM_BUCKETS && us > lb_shm_bucket_us[i])
		i++;
	/* Non-cumulative here; /metrics adds them up. */
	lb_shm_count(shm, slot, &shm->totals->duration[i], 1);
	lb_shm_count(shm, slot, &shm->totals->duration_sum_us, (uint64_t)us);
}

uint64_t
lb_shm_histogram(const struct lb_shm *shm, uint64_t cum[LB_SHM_BUCKETS + 1],
    uint64_t *sum_us)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= LB_SHM_BUCKETS; i++) {
		n += lb_shm_sum(shm, &shm->totals->duration[i]);
		cum[i] = n;
	}
	/* After the buckets: lb_shm_observe adds to the sum last. */
	*sum_us = lb_shm_sum(shm, &shm->totals->duration_sum_us);
	return n;
}

int64_t
lb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
lb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
lb_tv_ms(struct timeval *tv, uint64_t ms)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/*
 * common/shm.c -- the per-generation shared segment (see shm.h).
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/shm.h"

/* The header, then the server records, then the route records. */
static size_t
shm_size(size_t n_servers, size_t n_routes, size_t *off_srv, size_t *off_rt)
{
	size_t a = _Alignof(struct lb_shm_server), sz;

	sz = (sizeof(struct lb_shm) + a - 1) / a * a;
	*off_srv = sz;
	sz += n_servers * sizeof(struct lb_shm_server);
	a = _Alignof(struct lb_shm_route);
	sz = (sz + a - 1) / a * a;
	*off_rt = sz;
	sz += (n_routes + 1) * sizeof(struct lb_shm_route);
	return sz;
}

struct lb_shm *
lb_shm_create(size_t n_servers, size_t n_routes)
{
	struct lb_shm *shm;
	size_t	       off_srv, off_rt, sz;
	void	      *p;

	if (n_servers > UINT32_MAX || n_routes >= UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	sz = shm_size(n_servers, n_routes, &off_srv, &off_rt);
	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* mmap's pages are zero: every counter starts at 0. */
	shm = p;
	shm->n_servers = (uint32_t)n_servers;
	shm->n_routes = (uint32_t)n_routes;
	shm->servers = (struct lb_shm_server *)((char *)p + off_srv);
	shm->routes = (struct lb_shm_route *)((char *)p + off_rt);
	for (size_t i = 0; i < n_servers; i++)
		atomic_store(&shm->servers[i].up, 1);
	return shm;
}

void
lb_shm_destroy(struct lb_shm *shm)
{
	size_t off_srv, off_rt;

	if (shm == NULL)
		return;
	munmap(shm, shm_size(shm->n_servers, shm->n_routes, &off_srv, &off_rt));
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

/* ------------------------------------------------------- carry-over */

static void
add(_Atomic uint64_t *to, const _Atomic uint64_t *from)
{
	atomic_fetch_add_explicit(to,
	    atomic_load_explicit(from, memory_order_relaxed),
	    memory_order_relaxed);
}

static int
route_cmp(const void *a, const void *b)
{
	const struct lb_route *ra = *(const struct lb_route *const *)a;
	const struct lb_route *rb = *(const struct lb_route *const *)b;

	return strcmp(ra->label, rb->label);
}

/*
 * The route of OLD_CFG labelled like R. SORTED holds OLD_CFG's routes
 * ordered by label, or is NULL (no memory for it): then a linear search.
 * Configs mostly keep their order, so the same index is tried first.
 */
static const struct lb_route *
route_find(const struct lb_cfg *old_cfg, const struct lb_route **sorted,
    const struct lb_route *r)
{
	const struct lb_route **hit;

	if (r->id < old_cfg->n_routes &&
	    strcmp(old_cfg->routes[r->id].label, r->label) == 0)
		return &old_cfg->routes[r->id];
	if (sorted != NULL) {
		hit = bsearch(&r, sorted, old_cfg->n_routes, sizeof(*sorted),
		    route_cmp);
		return hit != NULL ? *hit : NULL;
	}
	for (size_t i = 0; i < old_cfg->n_routes; i++)
		if (strcmp(old_cfg->routes[i].label, r->label) == 0)
			return &old_cfg->routes[i];
	return NULL;
}

/* How many servers of R before index I have the address of servers[i]. */
static size_t
addr_rank(const struct lb_route *r, size_t i)
{
	size_t k = 0;

	for (size_t j = 0; j < i; j++)
		if (strcmp(r->servers[j].addrstr, r->servers[i].addrstr) == 0)
			k++;
	return k;
}

/* The server of OR with S's address and rank K, or NULL. */
static const struct lb_server *
server_find(const struct lb_route * or, const struct lb_server *s, size_t k)
{
	for (size_t j = 0; j < or->n_servers; j++)
		if (strcmp(or->servers[j].addrstr, s->addrstr) == 0 && k-- == 0)
			return & or->servers[j];
	return NULL;
}

static void
server_carry(struct lb_shm_server *to, const struct lb_shm_server *from,
    bool checked)
{
	int64_t down;

	add(&to->requests, &from->requests);
	add(&to->failures, &from->failures);
	add(&to->bytes_in, &from->bytes_in);
	add(&to->bytes_out, &from->bytes_out);
	down = atomic_load(&from->down_until);
	if (checked) {
		/* The new checker goes on from the old verdict. */
		atomic_store(&to->up, atomic_load(&from->up));
	} else {
		/* Nobody would ever clear these: time-limit them. */
		if (down > lb_now_ms() + LB_SHM_PASSIVE_MS)
			down = lb_now_ms() + LB_SHM_PASSIVE_MS;
	}
	atomic_store(&to->down_until, down);
}

void
lb_shm_carry_over(struct lb_shm *new, const struct lb_cfg *new_cfg,
    const struct lb_shm *old, const struct lb_cfg *old_cfg)
{
	const struct lb_route **sorted;

	for (size_t i = 0; i <= LB_SHM_BUCKETS; i++)
		add(&new->duration[i], &old->duration[i]);
	add(&new->duration_sum_us, &old->duration_sum_us);
	add(&new->reloads_ok, &old->reloads_ok);
	add(&new->reloads_failed, &old->reloads_failed);
	for (size_t c = 0; c < LB_SHM_CODES; c++)
		add(&new->routes[new->n_routes].codes[c],
		    &old->routes[old->n_routes].codes[c]);

	if ((sorted = calloc(old_cfg->n_routes ? old_cfg->n_routes : 1,
		 sizeof(*sorted))) != NULL) {
		for (size_t i = 0; i < old_cfg->n_routes; i++)
			sorted[i] = &old_cfg->routes[i];
		qsort(sorted, old_cfg->n_routes, sizeof(*sorted), route_cmp);
	}
	for (size_t i = 0; i < new_cfg->n_routes; i++) {
		const struct lb_route *r = &new_cfg->routes[i], * or ;

		if ((or = route_find(old_cfg, sorted, r)) == NULL)
			continue;
		for (size_t c = 0; c < LB_SHM_CODES; c++)
			add(&new->routes[r->id].codes[c],
			    &old->routes[or->id].codes[c]);
		for (size_t j = 0; j < r->n_servers; j++) {
			const struct lb_server *s = &r->servers[j], *os;

			os = server_find(or, s, addr_rank(r, j));
			if (os != NULL)
				server_carry(&new->servers[s->id],
				    &old->servers[os->id], r->health.enabled);
		}
	}
	free(sorted);
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
lb_shm_observe(struct lb_shm *shm, int64_t us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < LB_SHM_BUCKETS && us > lb_shm_bucket_us[i])
		i++;
	/* Non-cumulative here; /metrics adds them up. */
	atomic_fetch_add_explicit(&shm->duration[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&shm->duration_sum_us, (uint64_t)us,
	    memory_order_relaxed);
}

uint64_t
lb_shm_histogram(const struct lb_shm *shm, uint64_t cum[LB_SHM_BUCKETS + 1],
    uint64_t *sum_us)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= LB_SHM_BUCKETS; i++) {
		n += atomic_load_explicit(&shm->duration[i],
		    memory_order_relaxed);
		cum[i] = n;
	}
	/* After the buckets: lb_shm_observe adds to the sum last. */
	*sum_us = atomic_load_explicit(&shm->duration_sum_us,
	    memory_order_relaxed);
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

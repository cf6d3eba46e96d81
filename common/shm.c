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

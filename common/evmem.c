/*
 * common/evmem.c -- libevent's allocator (see evmem.h).
 *
 * An evbuffer frees a chain as soon as it is drained, and allocates a new
 * one at the next read or write: a proxied request costs four (the
 * client's input and output, the origin's input and output), each a
 * power of two from 1 KiB up, too large for glibc's per-thread cache. So
 * each went through the bins, and often made glibc consolidate its fast
 * bins first: about 4% of a small request's time in perf, and half of the
 * worker's calls to the allocator.
 *
 * Here a block of a power-of-two size from 1 KiB to 64 KiB (what
 * libevent asks for chains) goes on a free list of its size when freed,
 * and the next request of that size takes it back. A list holds at most
 * KEEP_BYTES worth (at least KEEP_MIN blocks), about 1 MiB for them all:
 * what a worker keeps is bounded, whatever its traffic was. Every block
 * carries a 16-byte header with its size, since libevent's free does not
 * say it. One list per process, unlocked: lbmaster's processes have one
 * thread each.
 *
 * Under AddressSanitizer nothing is kept, so that it still sees a chain
 * used after libevent freed it.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#include "common/evmem.h"
#include "common/str.h"

#define MIN_SHIFT  10 /* 1 KiB, libevent's smallest chain */
#define MAX_SHIFT  16 /* 64 KiB */
#define N_CLASSES  (MAX_SHIFT - MIN_SHIFT + 1)
#define KEEP_BYTES (128 * 1024)
#define KEEP_MIN   4

/* In front of every block: its size, and the free list's link. */
struct head {
	size_t	     size;
	struct head *next;
};
_Static_assert(sizeof(struct head) == 16, "keep blocks 16-aligned");

static struct {
	struct head *free[N_CLASSES];
	unsigned     n[N_CLASSES];
} cache;

/* The class of SIZE, or -1 when it is not one that is kept. */
static int
class_of(size_t size)
{
	if (size < ((size_t)1 << MIN_SHIFT) ||
	    size > ((size_t)1 << MAX_SHIFT) || (size & (size - 1)) != 0)
		return -1;
	return __builtin_ctzl(size) - MIN_SHIFT;
}

static unsigned
keep_of(int k)
{
	size_t n = KEEP_BYTES >> (k + MIN_SHIFT);

	if (LB_ASAN)
		return 0;
	return n > KEEP_MIN ? (unsigned)n : KEEP_MIN;
}

void *
lb_evmem_malloc(size_t size)
{
	int	     k = class_of(size);
	struct head *h;

	if (k >= 0 && (h = cache.free[k]) != NULL) {
		cache.free[k] = h->next;
		cache.n[k]--;
		return h + 1;
	}
	if (size > SIZE_MAX - sizeof(*h) ||
	    (h = malloc(sizeof(*h) + size)) == NULL)
		return NULL;
	h->size = size;
	return h + 1;
}

void *
lb_evmem_realloc(void *p, size_t size)
{
	struct head *h;

	if (p == NULL)
		return lb_evmem_malloc(size);
	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	if ((h = realloc((struct head *)p - 1, sizeof(*h) + size)) == NULL)
		return NULL;
	h->size = size;
	return h + 1;
}

void
lb_evmem_free(void *p)
{
	struct head *h;
	int	     k;

	if (p == NULL)
		return;
	h = (struct head *)p - 1;
	if ((k = class_of(h->size)) >= 0 && cache.n[k] < keep_of(k)) {
		h->next = cache.free[k];
		cache.free[k] = h;
		cache.n[k]++;
		return;
	}
	free(h);
}

size_t
lb_evmem_keep(size_t size)
{
	int k = class_of(size);

	return k >= 0 ? keep_of(k) : 0;
}

size_t
lb_evmem_cached(void)
{
	size_t n = 0;

	for (int k = 0; k < N_CLASSES; k++)
		n += cache.n[k];
	return n;
}

void
lb_evmem_init(void)
{
	event_set_mem_functions(lb_evmem_malloc, lb_evmem_realloc,
	    lb_evmem_free);
}

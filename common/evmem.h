/*
 * common/evmem.h -- the allocator libevent uses in lbmaster's processes:
 * malloc, with a small cache of the blocks an evbuffer's chains are made
 * of, which libevent frees and allocates again at every request.
 */
#ifndef LB_EVMEM_H
#define LB_EVMEM_H

#include <stddef.h>

/* common/evmem.c */

/*
 * Make libevent allocate through the cache. Call it before anything made
 * with libevent exists: the first thing main does. Once per process.
 */
void lb_evmem_init(void);

/* The allocator itself, for tests (as libevent calls it). */
void *lb_evmem_malloc(size_t);
void *lb_evmem_realloc(void *, size_t);
void  lb_evmem_free(void *);
/* Blocks kept for reuse now, of every size. */
size_t lb_evmem_cached(void);
/* How many blocks of SIZE bytes are kept at most (0: none are). */
size_t lb_evmem_keep(size_t size);

#endif /* LB_EVMEM_H */

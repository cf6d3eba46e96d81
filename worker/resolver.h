/*
 * worker/resolver.h -- following backend names in DNS (SPEC section 9),
 * in the health checker process: one resolver per generation, never on
 * a worker's request path.
 *
 * Every followed name (resolve: true, service:) owns max_addresses
 * consecutive servers of its route, its slots (config/config.h). The
 * resolver asks DNS again at the answer's TTL (at most resolver.valid,
 * at least 1 s) and writes what changed into the slots' shared records
 * (common/shm.h): an address that appears takes an empty slot, one that
 * vanished leaves its slot empty. Workers, the checker's probes and the
 * admin endpoint read the slots there.
 */
#ifndef LB_RESOLVER_H
#define LB_RESOLVER_H

#include <event2/event.h>

#include "common/shm.h"
#include "config/config.h"

/* worker/resolver.c */

/*
 * Start following every name of CFG on BASE, writing into SHM. The slots
 * already in SHM (a restarted checker's, a reload's carry-over) are kept
 * until an answer says otherwise. 0, or -1 (out of memory, no
 * nameserver): the caller logs.
 */
int  lb_resolver_start(struct event_base *base, const struct lb_cfg *cfg,
     struct lb_shm *shm);
void lb_resolver_stop(void);

#endif /* LB_RESOLVER_H */

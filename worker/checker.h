/*
 * worker/checker.h -- the health checker process: one per generation,
 * forked by the master like a worker, probing every server with active
 * health checks and writing the verdicts into shared memory.
 */
#ifndef LB_CHECKER_H
#define LB_CHECKER_H

#include "common/shm.h"
#include "config/config.h"

struct lb_checker_args {
	struct lb_cfg *cfg;    /* the generation's; read-only */
	struct lb_shm *shm;    /* the generation's shared segment */
	int	       ctl_fd; /* control socketpair (worker.h bytes) */
	unsigned       generation;
};

/* worker/checker.c */

/* Does any route of CFG have active health checks? */
bool lb_checker_needed(const struct lb_cfg *);
/* Probe until told to stop; returns the process exit status. */
int lb_checker_main(const struct lb_checker_args *);

#endif /* LB_CHECKER_H */

/*
 * worker/worker.h -- a worker process: serves the listening sockets it
 * inherited with evhttp and proxies to the backends.
 *
 * The master talks to a worker over a socketpair, one byte per command;
 * EOF on it means the master is gone and the worker drains and exits.
 * Workers ignore job-control and termination signals themselves (a Ctrl-C
 * or a systemd stop reaches the master, which tells them): worker/ knows
 * nothing of signals.
 */
#ifndef LB_WORKER_H
#define LB_WORKER_H

#include <stddef.h>

#include "common/shm.h"
#include "config/config.h"

/* Bytes on the control socketpair. */
#define LB_CTL_READY  'R' /* worker -> master: accepting */
#define LB_CTL_QUIT   'q' /* master -> worker: drain and exit */
#define LB_CTL_TERM   't' /* master -> worker: exit now */
#define LB_CTL_REOPEN 'r' /* master -> worker: reopen log files */
#define LB_CTL_SLOTS \
	's' /* master -> worker: a slot became vacant or
			     is served again: see shm->vacant */

/* A worker that cannot start exits with this: respawn only with back-off. */
#define LB_EXIT_FATAL 3

struct lb_worker_args {
	struct lb_cfg  *cfg;	/* the generation's; read-only */
	struct lb_shm  *shm;	/* the generation's shared segment */
	const int      *fds;	/* listening sockets of the generation */
	const unsigned *owners; /* fds[i] is the worker of slot owners[i]'s
				   to accept on; the others', while their
				   slot is vacant */
	size_t		n_fds;
	int		admin_fd; /* admin listener, or -1 */
	int		ctl_fd;	  /* our end of the control socketpair */
	unsigned	slot;	  /* 0 .. workers-1 */
	unsigned	generation;
};

/* worker/worker.c */

/* Serve until told to stop; returns the process exit status. */
int lb_worker_main(const struct lb_worker_args *);

#endif /* LB_WORKER_H */

/*
 * worker/admin.h -- the admin endpoint (SPEC section 6): GET /metrics
 * (Prometheus text format 0.0.4), GET /status (the same as JSON) and
 * GET /healthz, served by every worker on the one admin socket, from the
 * generation's shared memory. Never on the proxy's listeners.
 */
#ifndef LB_ADMIN_H
#define LB_ADMIN_H

#include <stdint.h>

#include <event2/event.h>

#include "common/shm.h"
#include "common/str.h"
#include "config/config.h"

struct lb_admin;

/* worker/admin.c */

/*
 * Serve the listening socket FD on BASE with its own evhttp. CFG and SHM
 * are the generation's and must outlive the result. NULL (and nothing
 * left behind) when evhttp cannot be set up. The worker frees it with
 * lb_admin_free; FD is closed then (or by lb_admin_stop).
 */
struct lb_admin *lb_admin_new(struct event_base *base, int fd,
    const struct lb_cfg *cfg, struct lb_shm *shm);
/* Stop accepting (a draining worker); connections open are answered. */
void lb_admin_stop(struct lb_admin *);
void lb_admin_free(struct lb_admin *);

/*
 * Append the /metrics page, or the /status document, for CFG and SHM at
 * NOW_MS (CLOCK_MONOTONIC, for passive marks) to OUT; lb_buf_failed(OUT)
 * tells whether memory ran out.
 */
void lb_admin_metrics(struct lb_buf *out, const struct lb_cfg *cfg,
    const struct lb_shm *shm, int64_t now_ms);
void lb_admin_status(struct lb_buf *out, const struct lb_cfg *cfg,
    const struct lb_shm *shm, int64_t now_ms);

#endif /* LB_ADMIN_H */

/*
 * tests/itcommon.h -- what the proxy integration tests (tests/it_proxy.c,
 * tests/it_rewrite.c, tests/it_forward.c and more) share on top of the
 * harness (prefix itc_): an lbmaster written for one test, origins,
 * requests with a Host, assertions on what came back, and the worker
 * process and its memory.
 *
 * Like the harness, these fail the test themselves when something they
 * need does not work (a request that gets no answer where one is
 * expected), naming the request.
 */
#ifndef ITCOMMON_H
#define ITCOMMON_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>

#include <stdbool.h>

#include "tests/harness.h"

/* One lbmaster under test. */
struct itc_lb {
	pid_t	 pid;
	unsigned port; /* on 127.0.0.1 */
};

/*
 * Start lbmaster on 127.0.0.1 and a free port with WORKERS workers and
 * no active health checks (they would only add traffic the tests do not
 * look at), the rest of the config coming from FMT.
 */
void itc_lb_start(struct itc_lb *, int workers, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * The same with one host route, www.fruit.com, whose servers are SERVERS
 * (the inside of a YAML flow list, "127.0.0.1:8081, ..."). EXTRA is more
 * top-level YAML, or "".
 */
void itc_fruit_start(struct itc_lb *, int workers, const char *extra,
    const char *servers);
/* Stop it, asserting a clean exit. */
void itc_lb_stop(struct itc_lb *);

/* An origin on 127.0.0.1 and a port the kernel chose (EXTRA as in
 * lbt_origin_start). */
pid_t itc_origin(const char *name, unsigned *port, const char *const extra[]);

/*
 * METHOD TARGET with Host HOST (none when NULL) and the header lines
 * HDRS (NULL: none), from SRC (NULL: any address), on a connection of
 * its own with Connection: close. As lbt_http.
 */
int itc_req(const char *src, unsigned port, const char *method,
    const char *host, const char *target, const char *hdrs, struct lbt_resp *r);
/* The same for a GET from any address. */
int itc_get(unsigned port, const char *host, const char *target,
    const char *hdrs, struct lbt_resp *r);

/* R's body without the line end lbmaster's own answers end with.
 * Harness-owned. */
const char *itc_text(const struct lbt_resp *r);

/*
 * GET TARGET with Host HOST, asserting a 200 from the origin named APP.
 * Returns the path that origin saw, harness-owned.
 */
const char *itc_path_seen(unsigned port, const char *host, const char *target,
    const char *app);
/*
 * GET TARGET with Host HOST and header lines HDRS, asserting a 200.
 * Returns the origin's JSON, harness-owned.
 */
const char *
itc_seen(unsigned port, const char *host, const char *target, const char *hdrs);
/* GET TARGET with HOST from SRC, asserting STATUS and, unless BODY is
 * NULL, the body BODY (itc_text). */
void itc_expect(unsigned port, const char *src, const char *host,
    const char *target, int status, const char *body);

/* Wait up to TIMEOUT_MS for the origin's /__stats FIELD to be VALUE. */
bool itc_wait_stat(unsigned port, const char *field, long long value,
    int timeout_ms);

/* Whether the IPv6 loopback can be used here. */
bool itc_have_ipv6(void);

/*
 * The "lbmaster: worker process" child of MASTER (the first one found),
 * waiting for the master to fork it. Fails the test if none comes.
 */
pid_t itc_worker_of(pid_t master);
/* VmRSS of PID in KiB, or -1 when it cannot be read. Uses nothing of the
 * harness, so a sampling thread may call it. */
long itc_rss_kib(pid_t pid);

/*
 * A thread that reads PID's VmRSS every interval while the test's own
 * thread is busy (sending an upload, reading an answer).
 */
struct itc_sampler {
	pid_t	    pid;
	long	    interval_ms;
	pthread_t   thread;
	atomic_bool stop;
	long	    max_kib; /* the thread's; read after itc_sampler_stop */
	unsigned    samples;
};

void itc_sampler_start(struct itc_sampler *, pid_t pid, long interval_ms);
void itc_sampler_stop(struct itc_sampler *);

#endif /* ITCOMMON_H */

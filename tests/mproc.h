/*
 * tests/mproc.h -- what the master's integration tests (it_master,
 * it_reload, it_signals) share on top of tests/harness.h: the process
 * tree as /proc shows it, a standard config, and waiting for a status
 * or a log line; other tests use it for a /metrics sample (mp_metric)
 * and those waits. Prefix mp_. Strings returned are harness-owned.
 */
#ifndef MP_MPROC_H
#define MP_MPROC_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#define MP_WORKER "lbmaster: worker process"
#define MP_MASTER "lbmaster: master process"

/*
 * A config on 127.0.0.1:PORT with WORKERS workers, no health checks, the
 * default error log (stderr) and one route, /base, to the origin on
 * ORIGIN. TOP is more top-level YAML (or ""), PATHS more
 * entries of the paths list (or "").
 */
const char *mp_yaml(unsigned port, unsigned origin, unsigned workers,
    const char *top, const char *paths);

/* Make orphaned grandchildren (a killed master's workers) ours to reap. */
void mp_subreaper(void);

/* argv[0] of PID as /proc shows it (the process title), or NULL. */
const char *mp_cmdline(pid_t pid);
/* The value of FIELD ("Uid", "Gid") in /proc/PID/status, trimmed, or NULL. */
const char *mp_status(pid_t pid, const char *field);
/* Whether PID runs (exists and is not a zombie; reaps it if ours). Not for
 * processes the harness started: use lbt_wait_exit for those. */
bool mp_alive(pid_t pid);
bool mp_wait_gone(pid_t pid, int timeout_ms);

/*
 * The live children of PARENT whose title starts with TITLE (NULL: any).
 * Up to MAX pids go to OUT (may be NULL); returns how many there are.
 */
size_t mp_children(pid_t parent, const char *title, pid_t *out, size_t max);
/* Wait until PARENT has exactly N such children. */
bool
mp_wait_children(pid_t parent, const char *title, size_t n, int timeout_ms);

/* GET PATH with Host HOST (NULL: "test"), Connection: close. The status,
 * or -1 when no whole response came. */
int mp_get(unsigned port, const char *host, const char *path);
/* The value of SERIES ("name{labels}") in /metrics on ADMIN, or -1. */
long long mp_metric(unsigned admin, const char *series);
/* Wait until mp_get answers STATUS. */
bool
mp_wait_status(unsigned port, const char *path, int status, int timeout_ms);
/* Wait until the file at PATH exists and contains NEEDLE. */
bool mp_wait_file(const char *path, const char *needle, int timeout_ms);
/* Wait until the log of PID (lbt_log_path) contains NEEDLE; fail the test
 * with the log's tail if it does not. */
void mp_wait_log(pid_t pid, const char *needle, int timeout_ms);
/* How many times NEEDLE occurs in the file at PATH (0 if unreadable). */
size_t mp_count(const char *path, const char *needle);

#endif /* MP_MPROC_H */

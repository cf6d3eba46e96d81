/*
 * master/master.h -- the master process: listeners, generations, children.
 */
#ifndef LB_MASTER_H
#define LB_MASTER_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"
#include "common/shm.h"
#include "config/config.h"

/* One address the master listens on, with one socket per worker slot. */
struct lb_listener {
	struct lb_sockaddr addr;
	bool		   reuseport; /* false: one socket shared by all */
	int		  *fds;	      /* owned; n_fds sockets, listening */
	size_t		   n_fds;
	bool		   used;      /* scratch: in the config being applied */
	size_t		   n_fds_old; /* scratch: n_fds before that config */
};

/* master/master.c */

/*
 * Load FILE as the master takes a config, at start, -t and every
 * reload: lb_cfg_load, the TLS contexts built from every certificate
 * (worker/tls.c), then the config's tests: (worker/explain.c). As
 * lb_cfg_load: 0, or -1 with one "FILE:LINE:COL: ..." line in ERR.
 */
int
lb_master_load(const char *file, struct lb_cfg **out, char *err, size_t errlen);

/*
 * Run the master with CFG (ownership passes to the master) until it is
 * told to stop. FOREGROUND keeps it attached to the terminal. Returns the
 * process exit status.
 */
int lb_master_run(struct lb_cfg *cfg, bool foreground);

/* master/carry.c */

/*
 * A reload: copy into NEW (fresh from lb_shm_create for NEW_CFG) the
 * counters of OLD (serving OLD_CFG) that still mean the same thing, so
 * that no counter a scraper sees goes backwards. A route carries over when
 * a route of NEW_CFG has the same label; a server when it has the same
 * address in such a route (the k-th server with an address matches the
 * k-th). Carried: status counters (unrouted ones too), the histogram,
 * reload counts, and per server the request and failure counts and the
 * health state (active verdict, passive mark; a server whose new route
 * has no active checks starts up, its passive mark limited to
 * LB_SHM_PASSIVE_MS from now). Not carried: requests in flight (the old
 * workers still finish theirs), the workers gauge and the generation.
 * Counts the old workers add after this call are not seen by NEW.
 */
void lb_carry_over(struct lb_shm *new, const struct lb_cfg *new_cfg,
    const struct lb_shm *old, const struct lb_cfg *old_cfg);
/*
 * Give NEW (fresh for NEW_CFG) a table for each rate limit of NEW_CFG
 * that is on: the table of OLD (serving OLD_CFG; both NULL at start) when
 * the limit is the same one (the top's, or the own limit of a route with
 * the same label) with the same rate, burst, key and max_keys, so that a
 * reload spends no client's bucket anew; else a fresh one. 0, or -1 with
 * errno set (what was given is released with NEW). The key of sticky
 * cookies goes along too: OLD's, or a new one at start.
 */
int lb_carry_limits(struct lb_shm *new, const struct lb_cfg *new_cfg,
    const struct lb_shm *old, const struct lb_cfg *old_cfg);

/* master/listen.c */

/*
 * Bind SA with SLOTS sockets (SO_REUSEPORT) or one shared socket, and
 * listen. Fails with a message in err if the address is taken.
 */
int lb_listener_open(struct lb_listener *, const struct lb_sockaddr *sa,
    size_t slots, bool reuseport, char *err, size_t errlen);
/* Add sockets until there are SLOTS (never fewer than now). */
int
lb_listener_grow(struct lb_listener *, size_t slots, char *err, size_t errlen);
void lb_listener_close(struct lb_listener *);
struct lb_listener *
lb_listener_find(struct lb_listener *, size_t n, const struct lb_sockaddr *sa);

/* master/daemon.c */

/* -1 with the reason in err if FILE names a live lbmaster (not us). */
int lb_pidfile_check(const char *file, char *err, size_t errlen);
/* Write our pid atomically; refuse if FILE names a live lbmaster. */
int  lb_pidfile_write(const char *file, char *err, size_t errlen);
void lb_pidfile_remove(const char *file);
/*
 * Detach: fork twice, new session, cwd /, stdin and stdout to /dev/null.
 * Returns in the daemon with *READY_FD set; the process that called it
 * waits, then exits 0 once the daemon calls lb_daemon_ready, or 1 if the
 * daemon exits first.
 */
int lb_daemonize(int *ready_fd, char *err, size_t errlen);
/* Let the waiting parent exit 0; stderr goes to /dev/null unless
 * KEEP_STDERR (the error log is stderr). READY_FD -1: nothing to do. */
void lb_daemon_ready(int ready_fd, bool keep_stderr);
/* Tell systemd STATE when NOTIFY_SOCKET is set; silent otherwise. */
void lb_sd_notify(const char *state);
/* RELOADING=1 with MONOTONIC_USEC, as systemd 253+ wants it. */
void lb_sd_reloading(void);
/*
 * The ids USER and GROUP (either may be NULL: our own) stand for; -1 with
 * "unknown user ..." in err. The master checks a config with it before
 * forking anything.
 */
int lb_user_lookup(const char *user, const char *group, uid_t *uid, gid_t *gid,
    char *err, size_t errlen);
/*
 * Do CFG's user and group (when set) exist? -1 with "FILE:LINE:COL: user:
 * unknown user ..." in err if not.
 */
int lb_user_check(const struct lb_cfg *cfg, char *err, size_t errlen);
/* setgroups/setgid/setuid to USER and GROUP (either may be NULL); does
 * nothing unless we are root. */
int lb_drop_privileges(const char *user, const char *group, char *err,
    size_t errlen);
/* Call once in main, after the last use of argv's strings. */
void lb_proctitle_init(int argc, char *argv[]);
void lb_proctitle_set(const char *title);

/*
 * lbmaster -s: send SIGNO to the master whose pid is in PID_FILE (from
 * FILE's pid_file, which names it in messages; NULL: none). Returns 0
 * with its pid in *PIDP (unless NULL), or -1 with the reason in err (no
 * pid_file, no such process).
 */
int lb_master_signal(const char *file, const char *pid_file, int signo,
    pid_t *pidp, char *err, size_t errlen);

/*
 * Where the master writes the outcome of each reload, beside its pid
 * file: "PID SEQ ok" or "PID SEQ failed MESSAGE" (master.c).
 */
#define LB_RELOAD_SUFFIX ".reload"
/*
 * Read it: 1 ok, 0 failed (MSG says why), -1 none or unreadable; *PID
 * the master that wrote it, *SEQ the reloads it had done then.
 */
int  lb_reload_outcome_read(const char *pid_file, pid_t *pid, size_t *seq,
     char *msg, size_t msglen);
void lb_reload_outcome_remove(const char *pid_file);

#endif /* LB_MASTER_H */

/*
 * common/log.h -- the error log (relayd style) for daemon code.
 *
 * config/ and the pure parts of common/ never log: they fill an error
 * buffer and the caller decides. The master, workers and checker log here.
 */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <stdarg.h>

/* Levels of the error log, in order: a level drops those below it. */
enum lb_loglevel {
	LB_LOG_DEBUG = 0,
	LB_LOG_INFO,
	LB_LOG_NOTICE,
	LB_LOG_WARN,
	LB_LOG_ERROR,
};

/* common/log.c */

/*
 * Send the log to TARGET: "stderr", "syslog" or a file path (appended).
 * Messages below LEVEL are dropped. Returns 0, or -1 with errno when the
 * file cannot be opened (the previous target is kept).
 */
int log_open(const char *target, enum lb_loglevel level);
/* Reopen the file target (SIGUSR1, logrotate). 0 or -1 with errno. */
int log_reopen(void);
/* Prefix every line with "NAME[PID]: " -- "master", "worker 3", ... */
void log_procname(const char *name);
void log_setlevel(enum lb_loglevel);

void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit(1): start-up only. fatal appends strerror(errno). */
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* LB_LOG_H */

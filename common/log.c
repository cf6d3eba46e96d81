/*
 * common/log.c -- the error log: stderr, syslog or a file, with levels.
 *
 * One process-wide state, set at start-up and on reopen. Lines are written
 * with one write(2) each so that several processes appending to one file
 * never interleave within a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/str.h"

static struct {
	enum lb_loglevel level;
	int		 fd; /* stderr, or the file we opened */
	bool		 syslog;
	char		 path[4096]; /* "" unless logging to a file */
	char		 name[32];   /* "master", "worker 1", ... */
} log_state = { LB_LOG_INFO, STDERR_FILENO, false, "", "lbmaster" };

static const char *const level_names[] = {
	"debug",
	"info",
	"notice",
	"warn",
	"error",
};

static const int level_syslog[] = {
	LOG_DEBUG,
	LOG_INFO,
	LOG_NOTICE,
	LOG_WARNING,
	LOG_ERR,
};

int
log_open(const char *target, enum lb_loglevel level)
{
	int fd;

	if (strcmp(target, "stderr") == 0) {
		fd = STDERR_FILENO;
	} else if (strcmp(target, "syslog") == 0) {
		openlog("lbmaster", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		fd = -1;
	} else {
		fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (fd == -1)
			return -1;
	}
	if (log_state.fd > STDERR_FILENO)
		close(log_state.fd);
	log_state.fd = fd;
	log_state.syslog = fd == -1;
	if (fd > STDERR_FILENO)
		lb_strlcpy(log_state.path, target, sizeof(log_state.path));
	else
		log_state.path[0] = '\0';
	log_state.level = level;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (log_state.path[0] == '\0')
		return 0;
	fd = open(log_state.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640);
	if (fd == -1)
		return -1;
	close(log_state.fd);
	log_state.fd = fd;
	return 0;
}

void
log_procname(const char *name)
{
	lb_strlcpy(log_state.name, name, sizeof(log_state.name));
}

void
log_setlevel(enum lb_loglevel level)
{
	log_state.level = level;
}

static void
vlog(enum lb_loglevel level, int errnum, const char *fmt, va_list ap)
{
	char	  msg[2048], line[2300], stamp[32];
	struct tm tm;
	time_t	  now;
	size_t	  n;

	if (level < log_state.level)
		return;
	n = (size_t)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (errnum != 0)
		lb_snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	if (log_state.syslog) {
		syslog(level_syslog[level], "%s: %s", log_state.name, msg);
		return;
	}
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm);
	n = lb_snprintf(line, sizeof(line), "%s [%s] %s[%ld]: %s\n", stamp,
	    level_names[level], log_state.name, (long)getpid(), msg);
	/* Best effort: a log that cannot be written has nowhere to report. */
	if (write(log_state.fd, line, n) < 0)
		return;
}

void
log_debug(const char *fmt, ...)
{
	int	saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	int	saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_INFO, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_notice(const char *fmt, ...)
{
	int	saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_NOTICE, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	int	saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_WARN, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	int	saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_WARN, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_error(const char *fmt, ...)
{
	int	saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	int	saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LB_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * tests/mproc.c -- the process tree, a standard config and waiting, for
 * the master's integration tests. See mproc.h.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

const char *
mp_yaml(unsigned port, unsigned origin, unsigned workers, const char *top,
    const char *paths)
{
	return lbt_fmt("listen: 127.0.0.1:%u\n"
		       "workers: %u\n"
		       "health_check: off\n"
		       "%s"
		       "paths:\n"
		       "  - path: /base\n"
		       "    servers: [127.0.0.1:%u]\n"
		       "%s",
	    port, workers, top, origin, paths);
}

/*
 * Read at most LEN - 1 bytes of a /proc file into BUF, NUL-terminated.
 * Not through the harness's arena: waits scan /proc many times a second.
 */
static ssize_t
proc_read(const char *fmt, pid_t pid, char *buf, size_t len)
{
	char	path[64];
	ssize_t n;
	int	fd;

	snprintf(path, sizeof(path), fmt, (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

void
mp_subreaper(void)
{
	ck_assert_msg(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0,
	    "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
}

/* argv[0] of PID into BUF; false when there is none. */
static bool
cmdline_of(pid_t pid, char *buf, size_t len)
{
	return proc_read("/proc/%d/cmdline", pid, buf, len) > 0;
}

const char *
mp_cmdline(pid_t pid)
{
	char buf[256];

	if (!cmdline_of(pid, buf, sizeof(buf)))
		return NULL;
	return lbt_fmt("%s", buf); /* up to the first NUL: argv[0] */
}

const char *
mp_status(pid_t pid, const char *field)
{
	const char *all, *p;
	size_t	    n = strlen(field);

	all = lbt_read_file(lbt_fmt("/proc/%d/status", (int)pid), NULL);
	for (p = all; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, field, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			n = strcspn(p, "\n");
			/* "Groups:" ends with a space. */
			while (n > 0 && p[n - 1] == ' ')
				n--;
			return lbt_fmt("%.*s", (int)n, p);
		}
	}
	return NULL;
}

/* State and parent from /proc/PID/stat; false when PID is gone. */
static bool
stat_of(pid_t pid, char *state, pid_t *ppid)
{
	char	    all[1024];
	const char *p;
	int	    pp;

	/* "PID (COMM) S PPID ...": COMM may hold spaces and parentheses. */
	if (proc_read("/proc/%d/stat", pid, all, sizeof(all)) <= 0 ||
	    (p = strrchr(all, ')')) == NULL ||
	    sscanf(p + 1, " %c %d", state, &pp) != 2)
		return false;
	*ppid = (pid_t)pp;
	return true;
}

bool
mp_alive(pid_t pid)
{
	char  state;
	pid_t ppid;
	int   st;

	if (!stat_of(pid, &state, &ppid))
		return false;
	if (state != 'Z')
		return true;
	/* An orphan handed to us (mp_subreaper): reap it. */
	if (ppid == getpid())
		waitpid(pid, &st, WNOHANG);
	return false;
}

bool
mp_wait_gone(pid_t pid, int timeout_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (!mp_alive(pid))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

size_t
mp_children(pid_t parent, const char *title, pid_t *out, size_t max)
{
	struct dirent *d;
	DIR	      *dir;
	size_t	       n = 0;

	if ((dir = opendir("/proc")) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		char  cmd[256];
		pid_t pid, ppid;
		char  state;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = (pid_t)atoi(d->d_name);
		if (!stat_of(pid, &state, &ppid) || ppid != parent ||
		    state == 'Z')
			continue;
		if (title != NULL &&
		    (!cmdline_of(pid, cmd, sizeof(cmd)) ||
			strncmp(cmd, title, strlen(title)) != 0))
			continue;
		if (out != NULL && n < max)
			out[n] = pid;
		n++;
	}
	closedir(dir);
	return n;
}

struct children_arg {
	pid_t	    parent;
	const char *title;
	size_t	    n;
};

static bool
children_are(void *arg)
{
	struct children_arg *a = arg;

	return mp_children(a->parent, a->title, NULL, 0) == a->n;
}

bool
mp_wait_children(pid_t parent, const char *title, size_t n, int timeout_ms)
{
	struct children_arg a = { parent, title, n };

	return lbt_wait_for(children_are, &a, timeout_ms);
}

int
mp_get(unsigned port, const char *host, const char *path)
{
	struct lbt_resp r;
	int		status;

	if (lbt_httpf(port, &r,
		"GET %s HTTP/1.1\r\nHost: %s\r\n"
		"Connection: close\r\n\r\n",
		path, host ? host : "test") == -1)
		status = -1;
	else
		status = r.status;
	lbt_resp_free(&r);
	return status;
}

long long
mp_metric(unsigned admin, const char *series)
{
	struct lbt_resp r;
	long long	v = -1;
	size_t		n = strlen(series);

	if (lbt_httpf(admin, &r,
		"GET /metrics HTTP/1.1\r\nHost: admin\r\n"
		"Connection: close\r\n\r\n") == 0 &&
	    r.status == 200) {
		for (const char *l = r.body; l != NULL && *l != '\0';
		     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (strncmp(l, series, n) == 0 && l[n] == ' ') {
				v = strtoll(l + n + 1, NULL, 10);
				break;
			}
	}
	lbt_resp_free(&r);
	return v;
}

struct status_arg {
	unsigned    port;
	const char *path;
	int	    status;
};

static bool
status_is(void *arg)
{
	struct status_arg *a = arg;

	return mp_get(a->port, NULL, a->path) == a->status;
}

bool
mp_wait_status(unsigned port, const char *path, int status, int timeout_ms)
{
	struct status_arg a = { port, path, status };

	return lbt_wait_for(status_is, &a, timeout_ms);
}

struct file_arg {
	const char *path;
	const char *needle;
};

static bool
file_has(void *arg)
{
	struct file_arg *a = arg;
	const char	*all = lbt_read_file(a->path, NULL);

	return all != NULL && strstr(all, a->needle) != NULL;
}

bool
mp_wait_file(const char *path, const char *needle, int timeout_ms)
{
	struct file_arg a = { path, needle };

	return lbt_wait_for(file_has, &a, timeout_ms);
}

void
mp_wait_log(pid_t pid, const char *needle, int timeout_ms)
{
	ck_assert_msg(mp_wait_file(lbt_log_path(pid), needle, timeout_ms),
	    "no \"%s\" in the log within %d ms; it ends:\n%s", needle,
	    timeout_ms, lbt_log_tail(pid, 3000));
}

size_t
mp_count(const char *path, const char *needle)
{
	const char *p = lbt_read_file(path, NULL);
	size_t	    n = 0;

	while (p != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

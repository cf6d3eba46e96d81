/*
 * master/daemon.c -- what makes the master a well-behaved daemon: the pid
 * file, detaching from the terminal, systemd notification, dropping
 * privileges in the children, and process titles.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "common/str.h"
#include "master/master.h"

/* ---------------------------------------------------------- pid file */

/*
 * The pid in FILE: 1 with *pid, 0 when there is none (no file, or an
 * empty or unreadable one), -1 when the file holds something else, which
 * then goes into WHAT, quoted and escaped, for a message.
 */
static int
pidfile_read(const char *file, pid_t *pid, char *what, size_t whatlen)
{
	char	buf[32];
	ssize_t n;
	long	v;
	char   *end;
	int	fd;
	size_t	w = 0;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (buf[0] >= '0' && buf[0] <= '9' && errno == 0 && v > 0 &&
	    v == (pid_t)v && (*end == '\0' || strcmp(end, "\n") == 0)) {
		*pid = (pid_t)v;
		return 1;
	}
	w += lb_snprintf(what + w, whatlen - w, "\"");
	for (ssize_t i = 0; i < n && w + 6 < whatlen; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n')
			w += lb_snprintf(what + w, whatlen - w, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			w += lb_snprintf(what + w, whatlen - w, "\\x%02X", c);
		else
			what[w++] = (char)c;
	}
	what[w < whatlen ? w : whatlen - 1] = '\0';
	lb_snprintf(what + w, whatlen - w, "%s\"",
	    n == sizeof(buf) - 1 ? "..." : "");
	return -1;
}

/* Is PID a running lbmaster (not just any process that reused the pid)? */
static bool
pid_is_lbmaster(pid_t pid)
{
	char	path[64], buf[256];
	ssize_t n;
	int	fd;

	if (kill(pid, 0) == -1 && errno != EPERM)
		return false;
	lb_snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return true; /* no /proc: trust kill() */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* argv[0], or the title we set: "lbmaster: master process". */
	return strstr(buf, "lbmaster") != NULL;
}

int
lb_pidfile_check(const char *file, char *err, size_t errlen)
{
	pid_t old;
	char  what[160];

	/* A file that holds no pid names no master: it is replaced. */
	if (pidfile_read(file, &old, what, sizeof(what)) == 1 &&
	    old != getpid() && pid_is_lbmaster(old)) {
		lb_snprintf(err, errlen,
		    "pid file %s names a running lbmaster "
		    "(pid %ld): stop it first, or use -s",
		    file, (long)old);
		return -1;
	}
	return 0;
}

int
lb_pidfile_write(const char *file, char *err, size_t errlen)
{
	char   tmp[4096], buf[32];
	size_t n;
	int    fd;

	if (lb_pidfile_check(file, err, errlen) == -1)
		return -1;
	/* Written beside it and renamed: a reader never sees half a pid. */
	if (lb_snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", file, (long)getpid()) >=
	    sizeof(tmp) - 1) {
		lb_snprintf(err, errlen, "pid file name too long");
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		lb_snprintf(err, errlen, "pid file %s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	n = lb_snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, n) != (ssize_t)n || close(fd) == -1 ||
	    rename(tmp, file) == -1) {
		lb_snprintf(err, errlen, "pid file %s: %s", file,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

void
lb_pidfile_remove(const char *file)
{
	pid_t pid;
	char  what[160];

	/* Only our own: a newer master may have taken the file over. */
	if (pidfile_read(file, &pid, what, sizeof(what)) == 1 &&
	    pid == getpid())
		unlink(file);
}

int
lb_master_signal(const char *file, const char *pid_file, int signo, pid_t *pidp,
    char *err, size_t errlen)
{
	pid_t pid;
	char  what[160];
	int   rc;

	if (pid_file == NULL) {
		lb_snprintf(err, errlen,
		    "%s sets no pid_file: cannot find the "
		    "master to signal",
		    file);
		return -1;
	}
	if ((rc = pidfile_read(pid_file, &pid, what, sizeof(what))) == -1) {
		lb_snprintf(err, errlen,
		    "pid file %s holds no pid (%s): is pid_file the file "
		    "lbmaster writes?",
		    pid_file, what);
		return -1;
	}
	if (rc == 0) {
		lb_snprintf(err, errlen,
		    "no master is running: pid file %s "
		    "is missing or empty",
		    pid_file);
		return -1;
	}
	if (!pid_is_lbmaster(pid)) {
		lb_snprintf(err, errlen,
		    "no master is running: pid %ld from "
		    "%s is not an lbmaster process",
		    (long)pid, pid_file);
		return -1;
	}
	if (kill(pid, signo) == -1) {
		lb_snprintf(err, errlen, "signal pid %ld: %s", (long)pid,
		    strerror(errno));
		return -1;
	}
	if (pidp != NULL)
		*pidp = pid;
	return 0;
}

/* ------------------------------------------------------- -s reload */

int
lb_reload_outcome_read(const char *pid_file, pid_t *pid, size_t *seq, char *msg,
    size_t msglen)
{
	char   path[4096], buf[LB_ERRLEN + 128], *p;
	FILE  *fp;
	long   v;
	size_t n;
	int    rc = -1;

	lb_snprintf(path, sizeof(path), "%s" LB_RELOAD_SUFFIX, pid_file);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		errno = 0;
		v = strtol(buf, &p, 10);
		if (errno == 0 && v > 0 && *p == ' ') {
			*pid = (pid_t)v;
			n = strtoul(p + 1, &p, 10);
			*seq = n;
			if (strcmp(p, " ok") == 0) {
				msg[0] = '\0';
				rc = 1;
			} else if (strncmp(p, " failed ", 8) == 0) {
				lb_snprintf(msg, msglen, "%s", p + 8);
				rc = 0;
			}
		}
	}
	fclose(fp);
	return rc;
}

void
lb_reload_outcome_remove(const char *pid_file)
{
	char path[4096];

	lb_snprintf(path, sizeof(path), "%s" LB_RELOAD_SUFFIX, pid_file);
	unlink(path);
}

/* ----------------------------------------------------------- daemon */

/*
 * The process that ran "lbmaster" waits here for the daemon's word: a byte
 * means it started, EOF that it failed (and logged why). It never returns.
 */
static void __attribute__((noreturn)) daemon_wait(int fd)
{
	char	c;
	ssize_t n;

	while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
		;
	_exit(n == 1 ? 0 : 1);
}

int
lb_daemonize(int *ready_fd, char *err, size_t errlen)
{
	pid_t pid;
	int   fd, p[2] = { -1, -1 };

	if (pipe2(p, O_CLOEXEC) == -1)
		goto fail;
	if ((pid = fork()) == -1)
		goto fail;
	if (pid != 0) {
		close(p[1]);
		daemon_wait(p[0]);
	}
	close(p[0]);
	p[0] = -1;
	if (setsid() == -1)
		goto fail;
	/* A second fork: never again a session leader with a terminal. */
	if ((pid = fork()) == -1)
		goto fail;
	if (pid != 0)
		_exit(0);
	if (chdir("/") == -1)
		goto fail;
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		goto fail;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	/* stderr: see lb_daemon_ready. */
	if (fd > STDERR_FILENO)
		close(fd);
	*ready_fd = p[1];
	return 0;
fail:
	lb_snprintf(err, errlen, "daemonize: %s", strerror(errno));
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	return -1;
}

void
lb_daemon_ready(int ready_fd, bool keep_stderr)
{
	char c = 'R';
	int  fd;

	if (ready_fd == -1)
		return;
	if (write(ready_fd, &c, 1) == -1)
		(void)0; /* the parent is gone: nobody to tell */
	close(ready_fd);
	/* Nothing may write to the terminal we left, unless it is the log. */
	if (!keep_stderr && (fd = open("/dev/null", O_WRONLY)) != -1) {
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* ----------------------------------------------------------- systemd */

void
lb_sd_notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, state);
#else
	/* The datagram protocol of sd_notify(3), for builds without it. */
	struct sockaddr_un sun;
	const char	  *path = getenv("NOTIFY_SOCKET");
	socklen_t	   len;
	size_t		   plen;
	int		   fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    len);
	close(fd);
#endif
}

void
lb_sd_reloading(void)
{
	struct timespec ts;
	char		msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	lb_snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
		(unsigned long long)ts.tv_nsec / 1000);
	lb_sd_notify(msg);
}

/* -------------------------------------------------------- privileges */

int
lb_user_lookup(const char *user, const char *group, uid_t *uidp, gid_t *gidp,
    char *err, size_t errlen)
{
	struct passwd *pw;
	struct group  *gr;
	uid_t	       uid = geteuid();
	gid_t	       gid = getegid();

	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL) {
			lb_snprintf(err, errlen, "unknown user \"%s\"", user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			lb_snprintf(err, errlen, "unknown group \"%s\"", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	*uidp = uid;
	*gidp = gid;
	return 0;
}

int
lb_user_check(const struct lb_cfg *cfg, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;
	char  e[LB_ERRLEN];

	if (cfg->user != NULL &&
	    lb_user_lookup(cfg->user, NULL, &uid, &gid, e, sizeof(e)) == -1) {
		lb_snprintf(err, errlen, "%s:%u:%u: user: %s", cfg->file,
		    cfg->user_pos.line, cfg->user_pos.col, e);
		return -1;
	}
	if (cfg->group != NULL &&
	    lb_user_lookup(NULL, cfg->group, &uid, &gid, e, sizeof(e)) == -1) {
		lb_snprintf(err, errlen, "%s:%u:%u: group: %s", cfg->file,
		    cfg->group_pos.line, cfg->group_pos.col, e);
		return -1;
	}
	return 0;
}

int
lb_drop_privileges(const char *user, const char *group, char *err,
    size_t errlen)
{
	uid_t uid;
	gid_t gid;

	if (user == NULL && group == NULL)
		return 0;
	/* Not root: there is nothing to drop (lbmaster(8) says so). */
	if (geteuid() != 0)
		return 0;
	if (lb_user_lookup(user, group, &uid, &gid, err, errlen) == -1)
		return -1;
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    (user != NULL && setresuid(uid, uid, uid) == -1)) {
		lb_snprintf(err, errlen, "dropping privileges to %s: %s",
		    user != NULL ? user : group, strerror(errno));
		return -1;
	}
	/* Verify: a process that could get root back has not dropped it. */
	if (user != NULL && uid != 0 && (setuid(0) != -1 || geteuid() == 0)) {
		lb_snprintf(err, errlen,
		    "dropping privileges to %s: root "
		    "could be regained",
		    user);
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------- process title */

/*
 * ps(1) reads the argv area. To write a longer title than the command line
 * we take the contiguous environment strings after it too, having moved
 * the environment to the heap first.
 */
static char  *title_base;
static size_t title_space;
/*
 * Our copy of the environment. environ points at it, but glibc's exit-time
 * cleanup (which valgrind runs) resets environ without freeing an array it
 * did not allocate: keep a pointer of our own so the copy stays reachable.
 * volatile, or the compiler drops a variable that is never read.
 */
static char **volatile title_env;

void
lb_proctitle_init(int argc, char *argv[])
{
	extern char **environ;
	char	     *end;
	size_t	      n = 0;

	if (argc == 0 || argv[0] == NULL)
		return;
	end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	for (; environ[n] != NULL; n++)
		;
	char **env = calloc(n + 1, sizeof(*env));

	if (env != NULL) {
		for (size_t i = 0; i < n; i++) {
			if (environ[i] == end)
				end = environ[i] + strlen(environ[i]) + 1;
			if ((env[i] = strdup(environ[i])) == NULL) {
				/* Keep what we have; use argv only. */
				for (size_t j = 0; j < i; j++)
					free(env[j]);
				free(env);
				env = NULL;
				break;
			}
		}
	}
	if (env == NULL) {
		end = argv[0] + strlen(argv[0]) + 1;
		for (int i = 1; i < argc; i++)
			if (argv[i] == end)
				end = argv[i] + strlen(argv[i]) + 1;
	} else {
		environ = title_env = env;
	}
	title_base = argv[0];
	title_space = (size_t)(end - argv[0]);
	for (int i = 1; i < argc; i++)
		argv[i] = NULL;
}

/* /proc/PID/comm stays "lbmaster" in every process, for pgrep and pkill. */
void
lb_proctitle_set(const char *title)
{
	if (title_base != NULL && title_space > 1) {
		memset(title_base, '\0', title_space);
		lb_strlcpy(title_base, title, title_space);
	}
}

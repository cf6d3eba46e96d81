/*
 * tests/harness.c -- processes, ports, a raw HTTP client and a little
 * JSON for the integration tests. See harness.h for the conventions.
 *
 * Each Check test runs in a forked child, so the state below is per test:
 * lbt_teardown (the checked fixture) resets it.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"

#define MAX_PROCS  64
#define MAX_PORTS  256
#define RAW_KEEP   (64 * 1024)	 /* bytes of a response kept in raw */
#define HEAD_MAX   (1024 * 1024) /* a response head larger is garbage */
#define READ_PIECE (64 * 1024)

/* A process the test started. */
struct proc {
	pid_t pid;
	char *name;   /* arena */
	char *log;    /* arena */
	bool  reaped; /* waited for: code is valid */
	int   code;   /* exit code, 128+N for signal N */
};

struct lbt_conn {
	int    fd;
	int    timeout_ms;
	char  *in;  /* owned: received, not yet consumed */
	size_t off; /* consumed up to here */
	size_t len; /* valid up to here */
	size_t cap;
};

/* The per-test state. */
static struct {
	char	   *tmpdir; /* arena */
	void	  **arena;  /* owned: what lbt_* handed out */
	size_t	    narena;
	size_t	    caparena;
	struct proc procs[MAX_PROCS];
	int	    nprocs;
	int	    port_fds[MAX_PORTS]; /* lbt_free_port's reservations */
	int	    nports;
	int	    nlbmaster;
	int	    nportfile;
} t;

static uint32_t crc_table[256];
static bool	crc_ready;

/* ---------------------------------------------------------- helpers */

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	char   *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	ck_abort_msg("%s", msg ? msg : fmt);
	/* ck_abort_msg does not return; this is for the compiler. */
	abort();
}

/* Hand P to the arena (freed at teardown). Fails the test on NULL. */
static void *
own(void *p)
{
	void **n;

	if (p == NULL)
		die("harness: out of memory");
	if (t.narena == t.caparena) {
		t.caparena = t.caparena ? t.caparena * 2 : 64;
		if ((n = realloc(t.arena, t.caparena * sizeof(*n))) == NULL)
			die("harness: out of memory");
		t.arena = n;
	}
	t.arena[t.narena++] = p;
	return p;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("harness: out of memory");
	return p;
}

long long
lbt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
lbt_pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
nap(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static int
status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

char *
lbt_fmt(const char *fmt, ...)
{
	char   *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	return own(s);
}

static const char *
env_path(const char *var)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0')
		die("$%s is not set: run the integration tests through "
		    "`make check`",
		    var);
	return v;
}

/* ----------------------------------------------------------- fixture */

TCase *
lbt_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, lbt_setup, lbt_teardown);
	return tc;
}

void
lbt_setup(void)
{
	memset(&t, 0, sizeof(t));
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void
lbt_teardown(void)
{
	char	    *left = NULL, *tmp;
	const char  *keep = getenv("LBT_KEEP");
	struct proc *p;
	int	     i, st;

	/* The reserved ports: nothing of the test needs them any more. */
	for (i = 0; i < t.nports; i++)
		close(t.port_fds[i]);
	t.nports = 0;
	/* Stop what the test left running, then say so: it must not. */
	for (i = 0; i < t.nprocs; i++) {
		p = &t.procs[i];
		if (p->reaped)
			continue;
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		p->reaped = true;
		if (asprintf(&tmp, "%s %s (pid %d)", left ? left : "", p->name,
			(int)p->pid) == -1)
			tmp = NULL;
		free(left);
		left = tmp;
	}
	if (left == NULL && t.tmpdir != NULL &&
	    (keep == NULL || strcmp(keep, "1") != 0))
		nftw(t.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (left != NULL) {
		tmp = lbt_fmt("the test did not stop every process it "
			      "started:%s; logs in %s",
		    left, t.tmpdir ? t.tmpdir : "?");
		free(left);
		ck_abort_msg("%s", tmp);
	}
	for (i = 0; i < (int)t.narena; i++)
		free(t.arena[i]);
	free(t.arena);
	memset(&t, 0, sizeof(t));
}

const char *
lbt_tmpdir(void)
{
	const char *base = getenv("TMPDIR"), *tc;
	char	   *dir, *s;

	if (t.tmpdir != NULL)
		return t.tmpdir;
	if (base == NULL || *base == '\0')
		base = "/tmp";
	tc = tcase_name();
	dir = lbt_fmt("%s/lbt-%s-XXXXXX", base, tc ? tc : "test");
	for (s = dir + strlen(base) + 1; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			*s = '_';
	if (mkdtemp(dir) == NULL)
		die("mkdtemp %s: %s", dir, strerror(errno));
	t.tmpdir = dir;
	return t.tmpdir;
}

const char *
lbt_path(const char *name)
{
	return lbt_fmt("%s/%s", lbt_tmpdir(), name);
}

const char *
lbt_fixture(const char *name)
{
	return lbt_fmt("%s/%s", env_path("LB_FIXTURES"), name);
}

const char *
lbt_write_file(const char *path_or_name, const char *text)
{
	const char *path, *tmp;
	size_t	    len = strlen(text);
	FILE	   *f;

	path = strchr(path_or_name, '/') ? lbt_fmt("%s", path_or_name) :
					   lbt_path(path_or_name);
	tmp = lbt_fmt("%s.tmp%d", path, (int)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		die("harness: %s: %s", tmp, strerror(errno));
	if (fwrite(text, 1, len, f) != len || fclose(f) == EOF)
		die("harness: writing %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) == -1)
		die("harness: rename %s: %s", path, strerror(errno));
	return path;
}

char *
lbt_read_file(const char *path, size_t *lenp)
{
	char   *buf = NULL, *n;
	size_t	len = 0, cap = 0;
	ssize_t r;
	int	fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((n = realloc(buf, cap)) == NULL) {
				free(buf);
				close(fd);
				die("harness: out of memory");
			}
			buf = n;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	e = errno;
	close(fd);
	if (r == -1) {
		free(buf);
		errno = e;
		return NULL;
	}
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return own(buf);
}

bool
lbt_wait_for(bool (*cond)(void *), void *arg, int timeout_ms)
{
	long long end = lbt_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (lbt_now_ms() >= end)
			return false;
		nap();
	}
}

/* ------------------------------------------------------------ ports */

/*
 * Bind 127.0.0.1:PORT (0: any) with SO_REUSEADDR; *GOT is the port. With
 * KEEP the socket is returned, bound and not listening; else it is closed
 * and 0 returned. -1 if the bind fails.
 *
 * SO_REUSEADDR for a fixed port: one whose last connection is in
 * TIME_WAIT, or that a test reserved (lbt_free_port), is free for a
 * server, which binds with SO_REUSEADDR as lbmaster and the origin do.
 */
static int
bind_loopback(unsigned port, unsigned *got, bool keep)
{
	struct sockaddr_in sin;
	socklen_t	   sl = sizeof(sin);
	int		   fd, on = 1, rc = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == 0) {
		*got = ntohs(sin.sin_port);
		rc = 0;
	}
	if (keep && rc == 0)
		return fd;
	close(fd);
	return rc;
}

/*
 * A port chosen and then closed can be taken by anybody before the test
 * uses it: most often by an outgoing connection of the test's own
 * lbmaster or health checker, whose local port the kernel picks from the
 * same range. So the port stays bound here, not listening, with
 * SO_REUSEADDR, until the test's teardown. Linux lets a server that binds
 * with SO_REUSEADDR too (lbmaster, the origin) bind it and listen, while
 * neither bind(0) nor connect() hands out a port that has a socket bound
 * to it; and a connection to it is refused while nobody listens.
 */
unsigned
lbt_free_port(void)
{
	unsigned port;
	int	 fd;

	if (t.nports >= MAX_PORTS)
		die("harness: more than %d ports in one test", MAX_PORTS);
	if ((fd = bind_loopback(0, &port, true)) == -1)
		die("harness: bind 127.0.0.1:0: %s", strerror(errno));
	t.port_fds[t.nports++] = fd;
	return port;
}

bool
lbt_port_is_free(unsigned port)
{
	unsigned got;

	return bind_loopback(port, &got, false) == 0;
}

int
lbt_hold_port(unsigned *port)
{
	struct sockaddr_in sin;
	int		   fd, on = 1;

	*port = lbt_free_port();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)*port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 8) == -1)
		die("harness: listening on 127.0.0.1:%u: %s", *port,
		    strerror(errno));
	return fd;
}

bool
lbt_port_accepts(const char *host, unsigned port)
{
	struct addrinfo hints, *res, *ai;
	char		serv[8];
	bool		ok = false;
	int		fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(host, serv, &hints, &res) != 0)
		return false;
	for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return ok;
}

/* -------------------------------------------------------- processes */

static struct proc *
proc_find(pid_t pid)
{
	int i;

	for (i = 0; i < t.nprocs; i++)
		if (t.procs[i].pid == pid)
			return &t.procs[i];
	return NULL;
}

pid_t
lbt_spawn(const char *name, const char *const argv[])
{
	struct proc *p;
	const char  *log;
	pid_t	     parent = getpid(), pid;
	sigset_t     none;
	int	     fd, n;

	if (t.nprocs == MAX_PROCS)
		die("harness: more than %d processes in one test", MAX_PROCS);
	log = lbt_path(lbt_fmt("%s.log", name));
	for (n = 2; access(log, F_OK) == 0; n++)
		log = lbt_path(lbt_fmt("%s-%d.log", name, n));
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) ==
	    -1)
		die("harness: %s: %s", log, strerror(errno));

	if ((pid = fork()) == -1)
		die("harness: fork: %s", strerror(errno));
	if (pid == 0) {
		/* If the test dies (a failed assertion), so do we. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if ((n = open("/dev/null", O_RDONLY)) != -1)
			dup2(n, STDIN_FILENO);
		execv(argv[0], (char *const *)argv);
		dprintf(STDERR_FILENO, "harness: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	close(fd);
	p = &t.procs[t.nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->name = lbt_fmt("%s", name);
	p->log = (char *)log;
	return pid;
}

const char *
lbt_log_path(pid_t pid)
{
	struct proc *p = proc_find(pid);

	return p ? p->log : NULL;
}

const char *
lbt_log_tail(pid_t pid, size_t max)
{
	const char *log = lbt_log_path(pid);
	size_t	    len;
	char	   *all;

	if (log == NULL || (all = lbt_read_file(log, &len)) == NULL)
		return "";
	return len > max ? all + len - max : all;
}

/* Reap PID if it has exited. True when it is gone. */
static bool
reap(pid_t pid)
{
	struct proc *p = proc_find(pid);
	int	     st;
	pid_t	     r;

	if (p != NULL && p->reaped)
		return true;
	r = waitpid(pid, &st, WNOHANG);
	if (r == 0)
		return false;
	if (p != NULL) {
		p->reaped = true;
		p->code = r == pid ? status_code(st) : -1;
	}
	return true;
}

static void __attribute__((noreturn)) die_proc(pid_t pid, const char *what)
{
	struct proc *p = proc_find(pid);

	die("%s %s (pid %d); its log %s ends:\n%s", p ? p->name : "process",
	    what, (int)pid, p ? p->log : "?", lbt_log_tail(pid, 2000));
}

void
lbt_wait_port(pid_t pid, const char *host, unsigned port, int timeout_ms)
{
	long long end = lbt_now_ms() + timeout_ms;

	for (;;) {
		if (lbt_port_accepts(host, port))
			return;
		if (reap(pid))
			die_proc(pid,
			    lbt_fmt("exited (code %d) before %s:%u "
				    "accepted",
				proc_find(pid) ? proc_find(pid)->code : -1,
				host, port));
		if (lbt_now_ms() >= end)
			die_proc(pid,
			    lbt_fmt("did not accept on %s:%u within "
				    "%d ms",
				host, port, timeout_ms));
		nap();
	}
}

/* Build { FIRST..., EXTRA..., NULL } in the arena. */
static const char **
argv_join(const char *const first[], size_t nfirst, const char *const extra[])
{
	const char **v;
	size_t	     n = 0, i;

	while (extra != NULL && extra[n] != NULL)
		n++;
	v = own(calloc(nfirst + n + 1, sizeof(*v)));
	for (i = 0; i < nfirst; i++)
		v[i] = first[i];
	for (i = 0; i < n; i++)
		v[nfirst + i] = extra[i];
	return v;
}

pid_t
lbt_origin_start(const char *name, unsigned *port, const char *const extra[])
{
	return lbt_origin_start_at(name, "127.0.0.1", port, extra);
}

pid_t
lbt_origin_start_at(const char *name, const char *host, unsigned *port,
    const char *const extra[])
{
	const char *first[8], *portfile = NULL, *listen, *text;
	long long   end;
	size_t	    n = 0;
	pid_t	    pid;

	if (*port != 0 && strcmp(host, "::1") != 0 && !lbt_port_is_free(*port))
		die("harness: port %u is taken before origin %s starts", *port,
		    name);
	listen = lbt_fmt(strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, *port);
	first[n++] = env_path("LB_ORIGIN");
	first[n++] = "--name";
	first[n++] = name;
	first[n++] = "--listen";
	first[n++] = listen;
	if (*port == 0) {
		portfile = lbt_path(
		    lbt_fmt("origin-%s-%d.port", name, ++t.nportfile));
		first[n++] = "--port-file";
		first[n++] = portfile;
	}
	pid = lbt_spawn(lbt_fmt("origin-%s", name), argv_join(first, n, extra));

	if (portfile != NULL) {
		/* The origin renames the file into place once it listens. */
		end = lbt_now_ms() + LBT_START_MS;
		while ((text = lbt_read_file(portfile, NULL)) == NULL) {
			if (reap(pid))
				die_proc(pid, "exited before writing its port");
			if (lbt_now_ms() >= end)
				die_proc(pid, "did not write its port in time");
			nap();
		}
		*port = (unsigned)strtoul(text, NULL, 10);
		if (*port == 0)
			die_proc(pid,
			    lbt_fmt("wrote a bad port file: %s", text));
	}
	lbt_wait_port(pid, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
	    *port, LBT_START_MS);
	return pid;
}

long long
lbt_origin_stat(unsigned port, const char *field)
{
	struct lbt_resp r;
	long long	v;

	if (lbt_httpf(port, &r,
		"GET /__stats HTTP/1.1\r\nHost: origin\r\n"
		"Connection: close\r\n\r\n") == -1 ||
	    r.status != 200) {
		lbt_resp_free(&r);
		die("harness: GET /__stats on port %u: %s, status %d", port,
		    lbt_err_str(r.err), r.status);
	}
	v = lbt_json_int(r.body, field);
	lbt_resp_free(&r);
	return v;
}

void
lbt_origin_health(unsigned port, bool ok)
{
	struct lbt_resp r;
	int		rc, status;

	rc = lbt_httpf(port, &r,
	    "POST /__control?health=%s HTTP/1.1\r\n"
	    "Host: origin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    ok ? "ok" : "fail");
	status = r.status;
	lbt_resp_free(&r);
	if (rc == -1 || status != 200)
		die("harness: POST /__control on port %u: status %d", port,
		    status);
}

pid_t
lbt_lbmaster_start(const char *yaml, unsigned listen_port)
{
	const char *path;

	t.nlbmaster++;
	path = lbt_write_file(t.nlbmaster == 1 ?
		"lbmaster.yaml" :
		lbt_fmt("lbmaster-%d.yaml", t.nlbmaster),
	    yaml);
	return lbt_lbmaster_start_file(path, listen_port, NULL);
}

pid_t
lbt_lbmaster_start_file(const char *path, unsigned listen_port,
    const char *const extra[])
{
	const char *first[4];
	pid_t	    pid;

	first[0] = env_path("LBMASTER");
	first[1] = "-f";
	first[2] = "-c";
	first[3] = path;
	pid = lbt_spawn("lbmaster", argv_join(first, 4, extra));
	lbt_wait_port(pid, "127.0.0.1", listen_port, LBT_START_MS);
	return pid;
}

int
lbt_run(const char *const argv[], int timeout_ms, char **output)
{
	const char *base = strrchr(argv[0], '/');
	pid_t	    pid;
	int	    code;

	pid = lbt_spawn(lbt_fmt("run-%s", base ? base + 1 : argv[0]), argv);
	if ((code = lbt_wait_exit(pid, timeout_ms)) == -1) {
		lbt_signal(pid, SIGKILL);
		lbt_wait_exit(pid, LBT_STOP_MS);
		die_proc(pid, lbt_fmt("did not exit within %d ms", timeout_ms));
	}
	if (output != NULL) {
		*output = lbt_read_file(lbt_log_path(pid), NULL);
		if (*output == NULL)
			*output = lbt_fmt("%s", "");
	}
	return code;
}

void
lbt_signal(pid_t pid, int sig)
{
	if (kill(pid, sig) == -1)
		die("harness: kill %d, signal %d: %s", (int)pid, sig,
		    strerror(errno));
}

int
lbt_wait_exit(pid_t pid, int timeout_ms)
{
	long long    end = lbt_now_ms() + timeout_ms;
	struct proc *p = proc_find(pid);
	int	     st;
	pid_t	     r;

	for (;;) {
		if (p != NULL) {
			if (reap(pid))
				return p->code;
		} else {
			/* Not ours to track: wait for it all the same. */
			if ((r = waitpid(pid, &st, WNOHANG)) == pid)
				return status_code(st);
			if (r == -1)
				return -1;
		}
		if (lbt_now_ms() >= end)
			return -1;
		nap();
	}
}

int
lbt_stop(pid_t pid)
{
	struct proc *p = proc_find(pid);
	int	     code, st;

	if (p != NULL && p->reaped)
		return p->code;
	if (kill(pid, SIGTERM) == -1 && errno != ESRCH)
		die("harness: kill %d: %s", (int)pid, strerror(errno));
	if ((code = lbt_wait_exit(pid, LBT_STOP_MS)) != -1)
		return code;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	if (p != NULL) {
		p->reaped = true;
		p->code = status_code(st);
	}
	return -1;
}

/* ------------------------------------------------------------- HTTP */

const char *
lbt_err_str(enum lbt_err e)
{
	switch (e) {
	case LBT_OK:
		return "ok";
	case LBT_ECONNECT:
		return "connect failed";
	case LBT_ESEND:
		return "send failed";
	case LBT_ETIMEOUT:
		return "timeout";
	case LBT_ERESET:
		return "connection reset";
	case LBT_EEOF:
		return "closed before a complete response";
	case LBT_EPARSE:
		return "not an HTTP response";
	}
	return "?";
}

struct lbt_conn *
lbt_conn_open(const char *src_ip, unsigned port)
{
	return lbt_conn_open_to(src_ip,
	    src_ip && strchr(src_ip, ':') ? "::1" : "127.0.0.1", port);
}

/* Fill SS from the numeric address IP and PORT. */
static int
make_addr(const char *ip, unsigned port, struct sockaddr_storage *ss,
    socklen_t *sl)
{
	struct sockaddr_in  *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sl = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*sin6);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

struct lbt_conn *
lbt_conn_open_to(const char *src_ip, const char *dst_ip, unsigned port)
{
	struct sockaddr_storage dst, src;
	socklen_t		dl, sl;
	struct lbt_conn	       *c;
	struct pollfd		pfd;
	int			fd, err = 0, e;
	socklen_t		el = sizeof(err);

	if (make_addr(dst_ip, port, &dst, &dl) == -1 ||
	    (src_ip != NULL && make_addr(src_ip, 0, &src, &sl) == -1))
		return NULL;
	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1)
		return NULL;
	if (src_ip != NULL && bind(fd, (struct sockaddr *)&src, sl) == -1)
		goto fail;
	if (connect(fd, (struct sockaddr *)&dst, dl) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, LBT_IO_MS) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	c = xmalloc(sizeof(*c));
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = LBT_IO_MS;
	return c;
fail:
	e = errno;
	close(fd);
	errno = e;
	return NULL;
}

void
lbt_conn_set_timeout(struct lbt_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int
lbt_conn_fd(const struct lbt_conn *c)
{
	return c->fd;
}

void
lbt_conn_close(struct lbt_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->in);
	free(c);
}

int
lbt_conn_send(struct lbt_conn *c, const void *data, size_t len)
{
	const char   *p = data;
	long long     end = lbt_now_ms() + c->timeout_ms;
	struct pollfd pfd;
	ssize_t	      n;
	int	      left;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN)
			return -1;
		if ((left = (int)(end - lbt_now_ms())) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		poll(&pfd, 1, left);
	}
	return 0;
}

/*
 * Read more bytes into C's buffer before END. Returns 1 when some came,
 * 0 on EOF, -1 with errno (ETIMEDOUT when END passed).
 */
static int
conn_fill(struct lbt_conn *c, long long end)
{
	struct pollfd pfd;
	ssize_t	      n;
	char	     *nb;
	int	      left;

	if (c->off == c->len)
		c->off = c->len = 0;
	if (c->cap - c->len < READ_PIECE) {
		if (c->off > 0) {
			memmove(c->in, c->in + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->cap - c->len < READ_PIECE) {
			if ((nb = realloc(c->in, c->len + READ_PIECE + 1)) ==
			    NULL)
				die("harness: out of memory");
			c->in = nb;
			c->cap = c->len + READ_PIECE;
		}
	}
	for (;;) {
		n = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			c->in[c->len] = '\0';
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		if ((left = (int)(end - lbt_now_ms())) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, left);
	}
}

static enum lbt_err
fill_err(int rc)
{
	if (rc == 0)
		return LBT_EEOF;
	if (errno == ETIMEDOUT)
		return LBT_ETIMEOUT;
	if (errno == ECONNRESET || errno == EPIPE)
		return LBT_ERESET;
	return LBT_EEOF;
}

static size_t
avail(const struct lbt_conn *c)
{
	return c->len - c->off;
}

/* Mark N buffered bytes as read by R (and keep the first in R->raw). */
static void
consume(struct lbt_conn *c, struct lbt_resp *r, size_t n)
{
	size_t keep = 0;

	if (r->raw_len < RAW_KEEP) {
		keep = RAW_KEEP - r->raw_len < n ? RAW_KEEP - r->raw_len : n;
		if (r->raw == NULL)
			r->raw = xmalloc(RAW_KEEP + 1);
		memcpy(r->raw + r->raw_len, c->in + c->off, keep);
		r->raw_len += keep;
		r->raw[r->raw_len] = '\0';
	}
	c->off += n;
}

static void
body_add(struct lbt_resp *r, const char *data, size_t n, int flags, size_t *cap)
{
	char *nb;

	r->body_crc32 = lbt_crc32(r->body_crc32, data, n);
	if (!(flags & LBT_DISCARD)) {
		if (r->body_len + n + 1 > *cap) {
			*cap = (r->body_len + n + 1) * 2;
			if ((nb = realloc(r->body, *cap)) == NULL)
				die("harness: out of memory");
			r->body = nb;
		}
		memcpy(r->body + r->body_len, data, n);
		r->body[r->body_len + n] = '\0';
	}
	r->body_len += n;
}

/* Make sure a whole line is buffered; its length (with LF) in *LINELEN. */
static int
need_line(struct lbt_conn *c, long long end, size_t *linelen,
    struct lbt_resp *r)
{
	char *nl;
	int   rc;

	for (;;) {
		nl = c->in ? memchr(c->in + c->off, '\n', avail(c)) : NULL;
		if (nl != NULL) {
			*linelen = (size_t)(nl - (c->in + c->off)) + 1;
			return 0;
		}
		if (avail(c) > HEAD_MAX) {
			r->err = LBT_EPARSE;
			return -1;
		}
		if ((rc = conn_fill(c, end)) <= 0) {
			r->err = fill_err(rc);
			return -1;
		}
	}
}

static void
free_head(struct lbt_resp *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->reason);
	r->headers = NULL;
	r->nheaders = 0;
	r->reason = NULL;
	r->status = 0;
}

static char *
trimdup(const char *s, size_t n)
{
	char *d;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (
	    n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	d = xmalloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Parse the head of HEADLEN bytes at the front of C's buffer into R. */
static int
parse_head(struct lbt_conn *c, size_t headlen, struct lbt_resp *r)
{
	const char	  *p = c->in + c->off, *end = p + headlen, *eol, *colon;
	struct lbt_header *h;
	size_t		   cap = 0;
	int		   major, minor, status, n = 0;

	if (sscanf(p, "HTTP/%d.%d %3d%n", &major, &minor, &status, &n) < 3 ||
	    major != 1 || status < 100 || status > 999)
		return -1;
	r->status = status;
	r->minor = minor;
	eol = memchr(p, '\n', (size_t)(end - p));
	r->reason = trimdup(p + n, (size_t)(eol - p) - (size_t)n);
	for (p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == p || (eol == p + 1 && *p == '\r'))
			break;
		if ((colon = memchr(p, ':', (size_t)(eol - p))) == NULL)
			return -1;
		if (r->nheaders == cap) {
			cap = cap ? cap * 2 : 16;
			h = realloc(r->headers, cap * sizeof(*h));
			if (h == NULL)
				die("harness: out of memory");
			r->headers = h;
		}
		h = &r->headers[r->nheaders++];
		h->name = trimdup(p, (size_t)(colon - p));
		h->value = trimdup(colon + 1, (size_t)(eol - colon - 1));
	}
	return 0;
}

/* Buffer a whole head (through the empty line); its length in *HEADLEN. */
static int
read_head(struct lbt_conn *c, long long end, size_t *headlen,
    struct lbt_resp *r)
{
	const char *p, *s;
	size_t	    n;
	int	    rc;

	for (;;) {
		n = avail(c);
		p = c->in ? c->in + c->off : "";
		if (n >= 5 && memcmp(p, "HTTP/", 5) != 0)
			break;
		for (s = p; s != NULL &&
		     (s = memchr(s, '\n', n - (size_t)(s - p))) != NULL;
		     s++) {
			if (s + 1 < p + n && s[1] == '\n') {
				*headlen = (size_t)(s - p) + 2;
				return 0;
			}
			if (s + 2 < p + n && s[1] == '\r' && s[2] == '\n') {
				*headlen = (size_t)(s - p) + 3;
				return 0;
			}
		}
		if (n > HEAD_MAX)
			break;
		if ((rc = conn_fill(c, end)) <= 0) {
			r->err = fill_err(rc);
			/* Garbage followed by a close is still garbage (the
			 * buffer may have moved: look again). */
			n = avail(c);
			p = c->in ? c->in + c->off : "";
			if (rc == 0 && n > 0 &&
			    memcmp(p, "HTTP/", n < 5 ? n : 5) != 0)
				r->err = LBT_EPARSE;
			consume(c, r, avail(c));
			return -1;
		}
	}
	/* Not HTTP: keep what comes until the peer closes, for messages. */
	r->err = LBT_EPARSE;
	while (avail(c) < RAW_KEEP && conn_fill(c, end) > 0)
		;
	consume(c, r, avail(c));
	return -1;
}

static int
read_chunked(struct lbt_conn *c, long long end, int flags, struct lbt_resp *r,
    size_t *cap)
{
	unsigned long long size;
	size_t		   linelen, n;
	char		  *ep;
	int		   rc;

	r->chunked = true;
	for (;;) {
		if (need_line(c, end, &linelen, r) == -1)
			return -1;
		errno = 0;
		size = strtoull(c->in + c->off, &ep, 16);
		if (ep == c->in + c->off || errno != 0 ||
		    (*ep != '\r' && *ep != '\n' && *ep != ';' && *ep != ' ')) {
			r->err = LBT_EPARSE;
			return -1;
		}
		consume(c, r, linelen);
		if (size == 0)
			break;
		while (size > 0) {
			if (avail(c) == 0 && (rc = conn_fill(c, end)) <= 0) {
				r->err = fill_err(rc);
				return -1;
			}
			n = avail(c) < size ? avail(c) : (size_t)size;
			body_add(r, c->in + c->off, n, flags, cap);
			consume(c, r, n);
			size -= n;
		}
		if (need_line(c, end, &linelen, r) == -1)
			return -1;
		if (linelen > 2 || (linelen == 2 && c->in[c->off] != '\r')) {
			r->err = LBT_EPARSE;
			return -1;
		}
		consume(c, r, linelen);
	}
	/* Trailers, up to the empty line. */
	for (;;) {
		if (need_line(c, end, &linelen, r) == -1)
			return -1;
		n = linelen;
		consume(c, r, linelen);
		if (n == 1 || (n == 2 && c->in[c->off - 2] == '\r'))
			return 0;
	}
}

int
lbt_conn_response(struct lbt_conn *c, int flags, struct lbt_resp *r)
{
	long long	   end = lbt_now_ms() + c->timeout_ms;
	unsigned long long cl = 0, v;
	const char	  *te, *s;
	size_t		   headlen, cap = 0, n, i;
	bool		   have_cl = false;
	char		  *ep;
	int		   rc;

	memset(r, 0, sizeof(*r));
	for (;;) {
		if (read_head(c, end, &headlen, r) == -1)
			return -1;
		if (parse_head(c, headlen, r) == -1) {
			free_head(r);
			consume(c, r, headlen);
			r->err = LBT_EPARSE;
			return -1;
		}
		consume(c, r, headlen);
		if (r->status >= 200 || r->status == 101 ||
		    (flags & LBT_KEEP_1XX))
			break;
		free_head(r);
	}

	if ((flags & LBT_HEAD) || r->status < 200 || r->status == 204 ||
	    r->status == 304)
		return 0;
	te = NULL;
	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Transfer-Encoding") == 0)
			te = r->headers[i].value;
		if (strcasecmp(r->headers[i].name, "Content-Length") != 0)
			continue;
		errno = 0;
		v = strtoull(r->headers[i].value, &ep, 10);
		if (errno != 0 || ep == r->headers[i].value || *ep != '\0' ||
		    (have_cl && v != cl)) {
			r->err = LBT_EPARSE;
			return -1;
		}
		cl = v;
		have_cl = true;
	}
	if (!(flags & LBT_DISCARD)) {
		/* An empty body is "" rather than NULL. */
		cap = 1;
		r->body = xmalloc(cap);
		r->body[0] = '\0';
	}
	if (te != NULL) {
		s = te + strlen(te);
		if (s - te >= 7 && strcasecmp(s - 7, "chunked") == 0)
			return read_chunked(c, end, flags, r, &cap);
	}
	while (!have_cl || r->body_len < cl) {
		if (avail(c) == 0) {
			rc = conn_fill(c, end);
			if (rc == 0 && !have_cl)
				return 0; /* close-delimited: done */
			if (rc <= 0) {
				r->err = fill_err(rc);
				return -1;
			}
		}
		n = avail(c);
		if (have_cl && n > cl - r->body_len)
			n = (size_t)(cl - r->body_len);
		body_add(r, c->in + c->off, n, flags, &cap);
		consume(c, r, n);
	}
	return 0;
}

static bool
is_head(const char *raw, size_t len)
{
	return len >= 5 && memcmp(raw, "HEAD ", 5) == 0;
}

/*
 * Send, then read the response even when the send failed: a server may
 * answer (413, 400) and close before it has read the whole request.
 */
static int
conn_exchange(struct lbt_conn *c, const char *raw, size_t len, int flags,
    struct lbt_resp *r)
{
	int sent = lbt_conn_send(c, raw, len);

	if (is_head(raw, len))
		flags |= LBT_HEAD;
	if (lbt_conn_response(c, flags, r) == 0)
		return 0;
	if (sent == -1 && r->status == 0 && r->raw_len == 0)
		r->err = LBT_ESEND;
	return -1;
}

int
lbt_conn_request(struct lbt_conn *c, const char *raw, size_t len,
    struct lbt_resp *r)
{
	return conn_exchange(c, raw, len, 0, r);
}

int
lbt_http_ex(const char *src_ip, unsigned port, const char *raw, size_t len,
    int flags, int timeout_ms, struct lbt_resp *r)
{
	struct lbt_conn *c;
	int		 rc;

	memset(r, 0, sizeof(*r));
	if ((c = lbt_conn_open(src_ip, port)) == NULL) {
		r->err = LBT_ECONNECT;
		return -1;
	}
	lbt_conn_set_timeout(c, timeout_ms);
	rc = conn_exchange(c, raw, len, flags, r);
	lbt_conn_close(c);
	return rc;
}

int
lbt_http(const char *src_ip, unsigned port, const char *raw, size_t len,
    struct lbt_resp *r)
{
	return lbt_http_ex(src_ip, port, raw, len, 0, LBT_IO_MS, r);
}

int
lbt_httpf(unsigned port, struct lbt_resp *r, const char *fmt, ...)
{
	char   *raw;
	va_list ap;
	int	rc, len;

	va_start(ap, fmt);
	len = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (len == -1)
		die("harness: out of memory");
	rc = lbt_http(NULL, port, raw, (size_t)len, r);
	free(raw);
	return rc;
}

ssize_t
lbt_conn_recv(struct lbt_conn *c, void *buf, size_t len)
{
	size_t n;
	int    rc;

	if (avail(c) == 0 &&
	    (rc = conn_fill(c, lbt_now_ms() + c->timeout_ms)) <= 0)
		return rc;
	n = avail(c) < len ? avail(c) : len;
	memcpy(buf, c->in + c->off, n);
	c->off += n;
	return (ssize_t)n;
}

bool
lbt_conn_wait_closed(struct lbt_conn *c, int timeout_ms)
{
	long long end = lbt_now_ms() + timeout_ms;
	int	  rc;

	for (;;) {
		c->off = c->len = 0;
		rc = conn_fill(c, end);
		if (rc == 0)
			return true;
		if (rc == -1)
			return errno != ETIMEDOUT;
	}
}

void
lbt_resp_free(struct lbt_resp *r)
{
	free_head(r);
	free(r->body);
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

size_t
lbt_header_count(const struct lbt_resp *r, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			n++;
	return n;
}

const char *
lbt_header_nth(const struct lbt_resp *r, const char *name, size_t nth)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0 && nth-- == 0)
			return r->headers[i].value;
	return NULL;
}

const char *
lbt_header(const struct lbt_resp *r, const char *name)
{
	return lbt_header_nth(r, name, 0);
}

/* ------------------------------------------------------------- JSON */

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static int
hex4(const char *p)
{
	int v = 0, i, d;

	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * Decode the string at P (at its opening quote). Returns the position
 * after the closing quote, or NULL. *OUT (if not NULL) gets the value,
 * malloc'ed.
 */
static const char *
json_string(const char *p, char **out)
{
	char  *d = NULL;
	size_t n = 0;
	int    u, lo;

	if (*p++ != '"')
		return NULL;
	if (out != NULL)
		d = xmalloc(strlen(p) + 1);
	for (; *p != '"'; p++) {
		if (*p == '\0')
			goto fail;
		if (*p != '\\') {
			if (d)
				d[n++] = *p;
			continue;
		}
		switch (*++p) {
		case 'b':
			u = '\b';
			break;
		case 'f':
			u = '\f';
			break;
		case 'n':
			u = '\n';
			break;
		case 'r':
			u = '\r';
			break;
		case 't':
			u = '\t';
			break;
		case '"':
		case '\\':
		case '/':
			u = *p;
			break;
		case 'u':
			if ((u = hex4(p + 1)) == -1)
				goto fail;
			p += 4;
			if (u >= 0xd800 && u < 0xdc00 && p[1] == '\\' &&
			    p[2] == 'u' && (lo = hex4(p + 3)) >= 0xdc00 &&
			    lo < 0xe000) {
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			}
			break;
		default:
			goto fail;
		}
		if (d == NULL)
			continue;
		/* Every escape is shorter than its UTF-8: d is big enough. */
		if (u < 0x80)
			d[n++] = (char)u;
		else if (u < 0x800) {
			d[n++] = (char)(0xc0 | u >> 6);
			d[n++] = (char)(0x80 | (u & 0x3f));
		} else if (u < 0x10000) {
			d[n++] = (char)(0xe0 | u >> 12);
			d[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
			d[n++] = (char)(0x80 | (u & 0x3f));
		} else {
			d[n++] = (char)(0xf0 | u >> 18);
			d[n++] = (char)(0x80 | ((u >> 12) & 0x3f));
			d[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
			d[n++] = (char)(0x80 | (u & 0x3f));
		}
	}
	if (d != NULL) {
		d[n] = '\0';
		*out = d;
	}
	return p + 1;
fail:
	free(d);
	return NULL;
}

/* The position after the value at P, or NULL. */
static const char *
json_skip(const char *p)
{
	char close;

	p = json_ws(p);
	if (*p == '"')
		return json_string(p, NULL);
	if (*p == '{' || *p == '[') {
		close = *p == '{' ? '}' : ']';
		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if ((p = json_string(json_ws(p), NULL)) ==
					NULL ||
				    *(p = json_ws(p)) != ':')
					return NULL;
				p++;
			}
			if ((p = json_skip(p)) == NULL)
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '\0' || strchr(",:}]", *p) != NULL)
		return NULL;
	while (*p != '\0' && strchr(",}] \t\r\n", *p) == NULL)
		p++;
	return p;
}

/*
 * The value of KEY (KEYLEN bytes) in the object at P, or NULL. KEY is a
 * member name, or a dotted path into nested objects; a member whose name
 * has a dot in it is found as it is first.
 */
static const char *
json_find(const char *p, const char *key, size_t keylen)
{
	const char *val, *found = NULL;
	size_t	    nl, found_len = 0;
	char	   *name;

	p = json_ws(p);
	if (*p != '{')
		return NULL;
	p = json_ws(p + 1);
	if (*p == '}')
		return NULL;
	for (;;) {
		if ((p = json_string(json_ws(p), &name)) == NULL)
			return NULL;
		p = json_ws(p);
		if (*p++ != ':') {
			free(name);
			return NULL;
		}
		val = json_ws(p);
		nl = strlen(name);
		if (nl == keylen && memcmp(name, key, nl) == 0) {
			free(name);
			return val;
		}
		if (found == NULL && nl < keylen && key[nl] == '.' &&
		    memcmp(name, key, nl) == 0 && *val == '{') {
			found = val;
			found_len = nl;
		}
		free(name);
		if ((p = json_skip(val)) == NULL)
			return NULL;
		p = json_ws(p);
		if (*p == '}')
			break;
		if (*p++ != ',')
			return NULL;
	}
	/* No exact member: descend along the dotted path. */
	if (found == NULL)
		return NULL;
	return json_find(found, key + found_len + 1, keylen - found_len - 1);
}

const char *
lbt_json_str(const char *json, const char *key)
{
	const char *v;
	char	   *s;

	if (json == NULL || (v = json_find(json, key, strlen(key))) == NULL ||
	    *v != '"' || json_string(v, &s) == NULL)
		return NULL;
	return own(s);
}

long long
lbt_json_int(const char *json, const char *key)
{
	const char *v;
	char	   *ep;
	long long   n;

	if (json == NULL || (v = json_find(json, key, strlen(key))) == NULL)
		return LLONG_MIN;
	errno = 0;
	n = strtoll(v, &ep, 10);
	if (ep == v || errno != 0 || *ep == '.' || *ep == 'e' || *ep == 'E')
		return LLONG_MIN;
	return n;
}

const char *
lbt_json_raw(const char *json, const char *key)
{
	const char *v, *e;

	if (json == NULL || (v = json_find(json, key, strlen(key))) == NULL ||
	    (e = json_skip(v)) == NULL)
		return NULL;
	return own(strndup(v, (size_t)(e - v)));
}

/* ----------------------------------------------------------- bodies */

uint32_t
lbt_crc32(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t	     c;
	int		     i, k;

	if (!crc_ready) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
		crc_ready = true;
	}
	crc = ~crc;
	while (len-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* Byte I is 'a' + (I + I / 26) % 26: as pattern_add in tests/origin.c. */
void
lbt_pattern_fill(void *buf, uint64_t off, size_t len)
{
	unsigned char *p = buf;
	size_t	       i;

	for (i = 0; i < len; i++, off++)
		p[i] = (unsigned char)('a' + (off + off / 26) % 26);
}

uint32_t
lbt_pattern_crc32(uint64_t len)
{
	unsigned char buf[READ_PIECE];
	uint32_t      crc = 0;
	uint64_t      off = 0;
	size_t	      n;

	while (off < len) {
		n = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
		lbt_pattern_fill(buf, off, n);
		crc = lbt_crc32(crc, buf, n);
		off += n;
	}
	return crc;
}

/*
 * tests/itcommon.c -- helpers the proxy integration tests share. See
 * itcommon.h.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tests/itcommon.h"

void
itc_lb_start(struct itc_lb *lb, int workers, const char *fmt, ...)
{
	char   *rest;
	va_list ap;
	int	n;

	va_start(ap, fmt);
	n = vasprintf(&rest, fmt, ap);
	va_end(ap);
	ck_assert_int_ne(n, -1);
	lb->port = lbt_free_port();
	lb->pid =
	    lbt_lbmaster_start(lbt_fmt("listen: 127.0.0.1:%u\n"
				       "workers: %d\nhealth_check: off\n%s",
				   lb->port, workers, rest),
		lb->port);
	free(rest);
}

void
itc_fruit_start(struct itc_lb *lb, int workers, const char *extra,
    const char *servers)
{
	itc_lb_start(lb, workers,
	    "%s"
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [%s]\n",
	    extra, servers);
}

void
itc_lb_stop(struct itc_lb *lb)
{
	ck_assert_int_eq(lbt_stop(lb->pid), 0);
}

pid_t
itc_origin(const char *name, unsigned *port, const char *const extra[])
{
	*port = 0;
	return lbt_origin_start(name, port, extra);
}

int
itc_req(const char *src, unsigned port, const char *method, const char *host,
    const char *target, const char *hdrs, struct lbt_resp *r)
{
	const char *raw;

	raw = lbt_fmt("%s %s HTTP/1.1\r\n%s%s%s%sConnection: close\r\n\r\n",
	    method, target, host ? "Host: " : "", host ? host : "",
	    host ? "\r\n" : "", hdrs ? hdrs : "");
	return lbt_http(src, port, raw, strlen(raw), r);
}

int
itc_get(unsigned port, const char *host, const char *target, const char *hdrs,
    struct lbt_resp *r)
{
	return itc_req(NULL, port, "GET", host, target, hdrs, r);
}

const char *
itc_text(const struct lbt_resp *r)
{
	size_t n;

	if (r->body == NULL)
		return "";
	n = r->body_len;
	while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
		n--;
	return lbt_fmt("%.*s", (int)n, r->body);
}

const char *
itc_path_seen(unsigned port, const char *host, const char *target,
    const char *app)
{
	struct lbt_resp r;
	const char     *path, *got;

	ck_assert_msg(itc_get(port, host, target, NULL, &r) == 0,
	    "GET %s (Host %s): %s", target, host, lbt_err_str(r.err));
	ck_assert_msg(r.status == 200, "GET %s (Host %s): status %d, body %s",
	    target, host, r.status, r.body);
	got = lbt_json_str(r.body, "app");
	ck_assert_msg(got != NULL && strcmp(got, app) == 0,
	    "GET %s (Host %s) reached %s, not %s", target, host, got, app);
	path = lbt_json_str(r.body, "path");
	ck_assert_ptr_nonnull(path);
	lbt_resp_free(&r);
	return path;
}

const char *
itc_seen(unsigned port, const char *host, const char *target, const char *hdrs)
{
	struct lbt_resp r;
	const char     *json;

	ck_assert_msg(itc_get(port, host, target, hdrs, &r) == 0, "GET %s: %s",
	    target, lbt_err_str(r.err));
	ck_assert_msg(r.status == 200, "GET %s: status %d, body %s", target,
	    r.status, r.body);
	json = lbt_fmt("%s", r.body);
	lbt_resp_free(&r);
	return json;
}

void
itc_expect(unsigned port, const char *src, const char *host, const char *target,
    int status, const char *body)
{
	struct lbt_resp r;

	ck_assert_msg(itc_req(src, port, "GET", host, target, NULL, &r) == 0,
	    "GET %s (Host %s): %s", target, host, lbt_err_str(r.err));
	ck_assert_msg(r.status == status,
	    "GET %s (Host %s) from %s: status "
	    "%d, expected %d; body %s",
	    target, host, src ? src : "any", r.status, status, r.body);
	if (body != NULL)
		ck_assert_msg(strcmp(itc_text(&r), body) == 0,
		    "GET %s (Host "
		    "%s): body \"%s\", expected \"%s\"",
		    target, host, itc_text(&r), body);
	lbt_resp_free(&r);
}

struct stat_want {
	unsigned    port;
	const char *field;
	long long   value;
};

static bool
stat_is(void *arg)
{
	struct stat_want *w = arg;

	return lbt_origin_stat(w->port, w->field) == w->value;
}

bool
itc_wait_stat(unsigned port, const char *field, long long value, int timeout_ms)
{
	struct stat_want w = { port, field, value };

	return lbt_wait_for(stat_is, &w, timeout_ms);
}

bool
itc_have_ipv6(void)
{
	struct sockaddr_in6 sin6;
	int		    fd;
	bool		    ok;

	if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	close(fd);
	return ok;
}

struct worker_find {
	pid_t master;
	pid_t worker;
};

/* Find a worker child of F->master (0 if none yet). */
static bool
worker_found(void *arg)
{
	struct worker_find *f = arg;
	struct dirent	   *d;
	const char	   *stat, *p, *cmd;
	DIR		   *dir;
	long		    ppid;

	f->worker = 0;
	if ((dir = opendir("/proc")) == NULL)
		return false;
	while (f->worker == 0 && (d = readdir(dir)) != NULL) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		stat = lbt_read_file(lbt_fmt("/proc/%s/stat", d->d_name), NULL);
		/* "PID (COMM) STATE PPID ...": COMM may hold anything. */
		if (stat == NULL || (p = strrchr(stat, ')')) == NULL ||
		    sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid != f->master)
			continue;
		cmd = lbt_read_file(lbt_fmt("/proc/%s/cmdline", d->d_name),
		    NULL);
		if (cmd != NULL && strstr(cmd, "worker process") != NULL)
			f->worker = (pid_t)atol(d->d_name);
	}
	closedir(dir);
	return f->worker != 0;
}

pid_t
itc_worker_of(pid_t master)
{
	struct worker_find f = { master, 0 };

	ck_assert_msg(lbt_wait_for(worker_found, &f, LBT_START_MS),
	    "no \"lbmaster: worker process\" child of pid %d", (int)master);
	return f.worker;
}

long
itc_rss_kib(pid_t pid)
{
	char	path[64], buf[4096], *p;
	ssize_t n;
	int	fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "VmRSS:")) == NULL)
		return -1;
	return strtol(p + 6, NULL, 10);
}

static void *
sampler_run(void *arg)
{
	struct itc_sampler *s = arg;
	long		    kib;

	while (!atomic_load(&s->stop)) {
		if ((kib = itc_rss_kib(s->pid)) >= 0) {
			s->samples++;
			if (kib > s->max_kib)
				s->max_kib = kib;
		}
		lbt_pause_ms(s->interval_ms);
	}
	return NULL;
}

void
itc_sampler_start(struct itc_sampler *s, pid_t pid, long interval_ms)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->interval_ms = interval_ms;
	atomic_init(&s->stop, false);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, sampler_run, s), 0);
}

void
itc_sampler_stop(struct itc_sampler *s)
{
	atomic_store(&s->stop, true);
	ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
}

/*
 * worker/access_log.c -- the access log: one line per request.
 *
 *	IP - - [28/Nov/2026:10:15:02 +0000] "GET /v1 HTTP/1.1" 200 10 "-"
 *	    "curl/8.5.0" upstream=127.0.0.1:8081 status=200 rt=0.002 urt=0.001
 *
 * (one line). Every worker appends to the same file, so each line goes
 * out in one write(2): with O_APPEND the kernel never interleaves two of
 * them. Bytes a client chose (the request line, Referer, User-Agent) are
 * escaped as nginx does, so that a line can neither be split nor forged:
 * '"', '\', control bytes and bytes above 0x7e become \xHH. The request's
 * ID and the client's traceparent follow, when there are any:
 * request_id=ID traceparent=VALUE, escaped the same way and spaces too.
 *
 * With access_log_format: json, each line is instead one JSON object
 * with the keys of SPEC section 10; what the client chose is escaped as
 * JSON wants it (\" \\ and \u00XX for control bytes and for every byte
 * above 0x7e, so that a line is valid UTF-8 whatever the client sent).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/str.h"
#include "worker/access_log.h"

/* al.fd for "syslog": the lines go to syslog(3), not to a descriptor. */
#define FD_SYSLOG (-2)

/* The access log's state: the one mutable struct of this file. */
static struct {
	int	      fd;	  /* -1: off, FD_SYSLOG: syslog */
	char	      path[4096]; /* "" unless logging to a file */
	struct lb_buf line;	  /* reused for every line */
	time_t	      stamp_sec;  /* the second stamp was made for */
	char	      stamp[32];  /* "28/Nov/2026:10:15:02 +0000" */
	bool	      json;	  /* access_log_format: json */
	time_t	      iso_sec;	  /* the second iso was made for */
	char	      iso[32];	  /* "2026-11-28T10:15:02+00:00" */
} al = { .fd = -1, .stamp_sec = -1, .iso_sec = -1 };

void
lb_access_log_json(bool on)
{
	al.json = on;
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
lb_access_log_open(const char *target)
{
	int fd;

	lb_access_log_close();
	if (target == NULL || strcmp(target, "off") == 0)
		return 0;
	if (strcmp(target, "stderr") == 0) {
		al.fd = STDERR_FILENO;
		return 0;
	}
	/* As the error log's "syslog" (common/log.c), at info. */
	if (strcmp(target, "syslog") == 0) {
		openlog("lbmaster", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		al.fd = FD_SYSLOG;
		return 0;
	}
	if (strlen(target) >= sizeof(al.path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open_file(target)) == -1)
		return -1;
	al.fd = fd;
	lb_strlcpy(al.path, target, sizeof(al.path));
	return 0;
}

int
lb_access_log_reopen(void)
{
	int fd;

	if (al.path[0] == '\0')
		return 0;
	/* On failure keep writing to the old file: better than nothing. */
	if ((fd = open_file(al.path)) == -1)
		return -1;
	close(al.fd);
	al.fd = fd;
	return 0;
}

void
lb_access_log_close(void)
{
	if (al.fd > STDERR_FILENO)
		close(al.fd);
	al.fd = -1;
	al.path[0] = '\0';
	lb_buf_free(&al.line);
}

bool
lb_access_log_enabled(void)
{
	return al.fd != -1;
}

/*
 * The local time of NOW into *TM, and its offset from UTC in minutes
 * (*OFF, without its sign, which goes to *SIGN).
 */
static void
local_time(time_t now, struct tm *tm, char *sign, long *off)
{
	if (localtime_r(&now, tm) == NULL)
		memset(tm, 0, sizeof(*tm));
	*off = tm->tm_gmtoff / 60;
	*sign = *off < 0 ? '-' : '+';
	if (*off < 0)
		*off = -*off;
}

/* "[dd/Mon/yyyy:HH:MM:SS +zzzz]" in local time, made once a second. */
static const char *
stamp(void)
{
	static const char *const months[] = {
		"Jan",
		"Feb",
		"Mar",
		"Apr",
		"May",
		"Jun",
		"Jul",
		"Aug",
		"Sep",
		"Oct",
		"Nov",
		"Dec",
	};
	time_t	  now = time(NULL);
	struct tm tm;
	long	  off;
	char	  sign;

	if (now == al.stamp_sec)
		return al.stamp;
	/* Spelled out: %b and %z would follow the locale and the libc. */
	local_time(now, &tm, &sign, &off);
	lb_snprintf(al.stamp, sizeof(al.stamp),
	    "%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld", tm.tm_mday,
	    months[tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
	    off % 60);
	al.stamp_sec = now;
	return al.stamp;
}

/* "yyyy-mm-ddTHH:MM:SS+zz:zz" in local time, made once a second. */
static const char *
iso_stamp(void)
{
	time_t	  now = time(NULL);
	struct tm tm;
	long	  off;
	char	  sign;

	if (now == al.iso_sec)
		return al.iso;
	local_time(now, &tm, &sign, &off);
	lb_snprintf(al.iso, sizeof(al.iso),
	    "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	    off / 60, off % 60);
	al.iso_sec = now;
	return al.iso;
}

static void add_escaped_sp(struct lb_buf *b, const char *s, bool space);

/* S, escaped for a quoted field; NULL is "-". */
static void
add_escaped(struct lb_buf *b, const char *s)
{
	add_escaped_sp(b, s, false);
}

/* The same, and a space escaped too when SPACE (an unquoted field). */
static void
add_escaped_sp(struct lb_buf *b, const char *s, bool space)
{
	static const char    hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t		     run;

	if (s == NULL) {
		lb_buf_addc(b, '-');
		return;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p += run) {
		/* Copy the longest run that needs no escape at once. */
		for (run = 0;
		     p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
		     p[run] != '\\' && (!space || p[run] != ' ');
		     run++)
			;
		if (run > 0) {
			lb_buf_add(b, p, run);
			continue;
		}
		lb_buf_adds(b, "\\x");
		lb_buf_addc(b, hex[*p >> 4]);
		lb_buf_addc(b, hex[*p & 0xf]);
		run = 1;
	}
}

/* Microseconds as seconds with three decimals, truncated like nginx. */
static void
add_seconds(struct lb_buf *b, int64_t us)
{
	int64_t ms = us > 0 ? us / 1000 : 0;

	lb_buf_printf(b, "%" PRId64 ".%03d", ms / 1000, (int)(ms % 1000));
}

/* S as a JSON string; NULL is null. */
static void
add_json(struct lb_buf *b, const char *s)
{
	if (s == NULL) {
		lb_buf_adds(b, "null");
		return;
	}
	lb_buf_addc(b, '"');
	lb_buf_add_json(b, s);
	lb_buf_addc(b, '"');
}

/* The line of A as a JSON object (access_log_format: json). */
static void
format_json(struct lb_buf *b, const struct lb_access *a)
{
	lb_buf_printf(b, "{\"time\": \"%s\", \"client\": ", iso_stamp());
	add_json(b, a->client_ip);
	lb_buf_adds(b, ", \"method\": ");
	add_json(b, a->method);
	lb_buf_adds(b, ", \"uri\": ");
	add_json(b, a->target);
	lb_buf_printf(b,
	    ", \"status\": %d, \"bytes\": %" PRIu64 ", \"referer\": ",
	    a->status, a->bytes);
	add_json(b, a->referer);
	lb_buf_adds(b, ", \"user_agent\": ");
	add_json(b, a->user_agent);
	lb_buf_adds(b, ", \"route\": ");
	add_json(b, a->route);
	lb_buf_adds(b, ", \"upstream\": ");
	add_json(b, a->upstream);
	if (a->upstream_status > 0)
		lb_buf_printf(b, ", \"upstream_status\": %d",
		    a->upstream_status);
	else
		lb_buf_adds(b, ", \"upstream_status\": null");
	lb_buf_adds(b, ", \"rt\": ");
	add_seconds(b, a->rt_us);
	lb_buf_adds(b, ", \"urt\": ");
	if (a->urt_us >= 0)
		add_seconds(b, a->urt_us);
	else
		lb_buf_adds(b, "null");
	lb_buf_adds(b, ", \"request_id\": ");
	add_json(b, a->request_id);
	lb_buf_adds(b, ", \"traceparent\": ");
	add_json(b, a->traceparent);
	lb_buf_adds(b, ", \"tls\": ");
	add_json(b, a->tls);
	lb_buf_adds(b, "}\n");
}

void
lb_access_log_write(const struct lb_access *a)
{
	struct lb_buf *b = &al.line;
	ssize_t	       n;

	if (al.fd == -1)
		return;
	lb_buf_reset(b);
	if (al.json) {
		format_json(b, a);
		goto out;
	}
	lb_buf_adds(b, a->client_ip != NULL ? a->client_ip : "-");
	lb_buf_printf(b, " - - [%s] \"", stamp());
	add_escaped(b, a->method);
	lb_buf_addc(b, ' ');
	add_escaped(b, a->target);
	lb_buf_printf(b, " HTTP/1.%d\" %d %" PRIu64 " \"", a->http_minor,
	    a->status, a->bytes);
	add_escaped(b, a->referer);
	lb_buf_adds(b, "\" \"");
	add_escaped(b, a->user_agent);
	lb_buf_addc(b, '"');
	if (a->tls != NULL) {
		lb_buf_adds(b, " tls=");
		lb_buf_adds(b, a->tls);
		lb_buf_adds(b, " sni=");
		add_escaped(b, a->sni);
	}
	lb_buf_adds(b, " upstream=");
	lb_buf_adds(b, a->upstream != NULL ? a->upstream : "-");
	if (a->upstream_status > 0)
		lb_buf_printf(b, " status=%d", a->upstream_status);
	else
		lb_buf_adds(b, " status=-");
	lb_buf_adds(b, " rt=");
	add_seconds(b, a->rt_us);
	lb_buf_adds(b, " urt=");
	if (a->urt_us >= 0)
		add_seconds(b, a->urt_us);
	else
		lb_buf_addc(b, '-');
	if (a->request_id != NULL) {
		lb_buf_adds(b, " request_id=");
		add_escaped_sp(b, a->request_id, true);
	}
	if (a->traceparent != NULL) {
		lb_buf_adds(b, " traceparent=");
		add_escaped_sp(b, a->traceparent, true);
	}
	lb_buf_addc(b, '\n');
out:
	/* Out of memory: drop the line, not the worker. */
	if (lb_buf_failed(b))
		return;
	if (al.fd == FD_SYSLOG) {
		/* One message a line: syslog adds its own stamp and end. */
		syslog(LOG_INFO, "%.*s", (int)(b->len - 1), b->data);
		return;
	}
	/* Best effort: a full disk must not stop the traffic. */
	do
		n = write(al.fd, b->data, b->len);
	while (n == -1 && errno == EINTR);
}

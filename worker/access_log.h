/*
 * worker/access_log.h -- one line per request (SPEC section 4.7): the
 * combined log format, then tls=VERSION sni=NAME (TLS connections only),
 * upstream=ADDR status=CODE rt=SECONDS urt=SECONDS.
 */
#ifndef LB_ACCESS_LOG_H
#define LB_ACCESS_LOG_H

#include <stdbool.h>
#include <stdint.h>

struct lb_access {
	const char *client_ip;	     /* "192.0.2.1" */
	const char *method;	     /* "GET" */
	const char *target;	     /* the request-target as received */
	int	    http_minor;	     /* HTTP/1.minor */
	int	    status;	     /* what the client got */
	uint64_t    bytes;	     /* response body bytes sent */
	const char *referer;	     /* NULL: "-" */
	const char *user_agent;	     /* NULL: "-" */
	const char *tls;	     /* "TLSv1.3"; NULL: plain, not shown */
	const char *sni;	     /* with tls; NULL: "-" */
	const char *upstream;	     /* "127.0.0.1:8081", NULL: "-" */
	int	    upstream_status; /* 0: "-" */
	int64_t	    rt_us;	     /* request time */
	int64_t	    urt_us;	     /* upstream time; -1: "-" */

	const char *request_id;	 /* NULL: none */
	const char *traceparent; /* the client's, NULL: none */
	const char *route;	 /* the route's label, NULL: none */
};

/* worker/access_log.c */

/*
 * Log to TARGET: NULL (off), "stderr" or a file path (appended, created
 * 0640). 0, or -1 with errno.
 */
int lb_access_log_open(const char *target);
/* Write JSON objects (access_log_format: json), or the combined format. */
void lb_access_log_json(bool);
/* Reopen the file (SIGUSR1, logrotate). 0 or -1 with errno. */
int  lb_access_log_reopen(void);
void lb_access_log_close(void);
/* Nothing is done (nor formatted) when the log is off. */
bool lb_access_log_enabled(void);
void lb_access_log_write(const struct lb_access *);

#endif /* LB_ACCESS_LOG_H */

/*
 * config/config.h -- the parsed configuration (lbmaster.yaml(5)).
 *
 * A struct lb_cfg is built from YAML in one go and is immutable afterwards:
 * the master loads a new one on reload and swaps a pointer. Nothing in
 * config/ logs or touches a process or socket; errors go into a caller's
 * buffer as "FILE:LINE:COL: message".
 */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <sys/socket.h>

#include <sched.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/str.h"

#define LB_ERRLEN 512 /* room for one error line */

/* Where a YAML node stood in its file, 1-based like libyaml's marks + 1. */
struct lb_pos {
	unsigned line;
	unsigned col;
};

enum lb_algo {
	LB_ALGO_ROUND_ROBIN = 0,
	LB_ALGO_LEAST_CONN,
	LB_ALGO_RANDOM,
	LB_ALGO_TWO_CHOICES,
	LB_ALGO_IP_HASH,
	LB_ALGO_CONSISTENT_HASH,
};

struct lb_firewall {
	struct lb_cidr *ip_reject; /* owned array */
	size_t		n_ip_reject;
	char	      **path_reject; /* owned; normalized, leading '/' */
	size_t		n_path_reject;
	/* Where each rule is written (lbmaster -x names it): owned. */
	struct lb_pos *ip_reject_pos;
	struct lb_pos *path_reject_pos;
};

enum lb_rl_keykind {
	LB_RL_KEY_CLIENT_IP = 0, /* the client's address */
	LB_RL_KEY_HEADER,	 /* a header's value, else the address */
};

/* rate_limit: at the top (the default of every route) or a route's own. */
struct lb_rate_limit {
	bool		   enabled;   /* false: off (the top's default) */
	bool		   own;	      /* a route's own, not the top's */
	unsigned	   count;     /* rate: COUNT per PERIOD_MS */
	unsigned	   period_ms; /* 1000 (N/s) or 60000 (N/m) */
	unsigned	   burst;     /* default: COUNT */
	enum lb_rl_keykind key;
	char		  *header;   /* owned; the header's name, or NULL */
	unsigned	   max_keys; /* the table's slots, 100000 */
	size_t		   id;	     /* its table: lb_shm.limits[id] (0 is
					the top's, which inheriting routes
					share) */
};

struct lb_health {
	bool	 enabled;     /* false for "health_check: off" */
	char	*path;	      /* owned; default "/healthcheck" */
	unsigned interval_ms; /* default 2000 */
	unsigned timeout_ms;  /* default 1000 */
	unsigned rise;	      /* default 2 */
	unsigned fall;	      /* default 2 */
};

/* How a server's addresses are found. */
enum lb_follow {
	LB_FOLLOW_NONE = 0, /* resolved once, when the config is loaded */
	LB_FOLLOW_A,	    /* resolve: true; A/AAAA, followed live */
	LB_FOLLOW_SRV,	    /* service:; SRV, followed live */
};

#define LB_MAX_ADDRESSES     32	  /* a followed name's default slots */
#define LB_MAX_ADDRESSES_MAX 1024 /* and the most it may have */

/*
 * One backend address. A server written by name ("localhost:8081") that
 * resolves to several addresses becomes several lb_server entries, each
 * with the same name.
 */
struct lb_server {
	char		       *name; /* owned; as written, "localhost:8081":
					   sent as Host and used in metrics */
	struct sockaddr_storage addr; /* resolved at load time */
	socklen_t		addrlen;
	char	      addrstr[64]; /* "127.0.0.1:8081", "[::1]:8081" */
	unsigned      weight;	   /* 1-1000, default 1 */
	bool	      backup;	   /* used only when no primary is up */
	size_t	      id;	   /* 0 .. lb_cfg.n_servers-1, unique in
					   the config: its shared-memory slot */
	struct lb_pos pos;
	/* Reached over TLS (https://, or its route's backend_tls): how. */
	const struct lb_backend_tls *tls;   /* its route's; NULL: plain */
	bool			     https; /* written https:// */
	/*
	 * A followed name (resolve: true or service:) is max_addresses
	 * consecutive servers, its slots, with no address in the config:
	 * the health checker's resolver writes each slot's address into
	 * shared memory (common/shm.h) and every process reads it there.
	 * NAME is the address as written ("api.internal:8080") or the SRV
	 * name ("_http._tcp.api.service.consul").
	 */
	enum lb_follow follow;
	unsigned       max_addresses; /* followed: its name's slots */
	unsigned       slot;	      /* followed: 0 .. max_addresses-1 */
	uint32_t       gen; /* 0 in the config; a process's own copy of a
				   followed slot: the slot generation it
				   holds (lb_shm_addr_read) */
};

/*
 * How a route's servers are reached over TLS: its backend_tls: map, or
 * the defaults when only https:// servers say so.
 */
struct lb_backend_tls {
	char	     *ca;     /* owned or NULL: the system's store */
	bool	      verify; /* default true */
	char	     *sni;    /* owned or NULL: each server's host name */
	char	     *cert;   /* owned or NULL: no client certificate */
	char	     *key;    /* owned; with cert */
	struct lb_pos ca_pos, cert_pos, key_pos;
	bool	      written; /* backend_tls: is in the file */
	char	     *where;   /* owned; "backend_tls", for messages */
	/* Built by lb_tls_build (worker/tls.c), freed through ctx_free. */
	struct lb_tls_ctx *ctx;
	void (*ctx_free)(struct lb_tls_ctx *);
};

struct lb_tls_ctx; /* worker/tls.h: the OpenSSL contexts built from it */

enum lb_route_kind {
	LB_ROUTE_HOST = 0, /* a hosts: entry */
	LB_ROUTE_PATH,	   /* a paths: entry */
};

struct lb_route {
	enum lb_route_kind kind;
	char		  *match;	 /* owned; host lowercased ("*.a.com"
					   for wildcards) or path ("/mango",
					   normalized, no trailing '/') */
	char		  *label;	 /* owned; metrics label: the host, or
					   the path */
	bool		   strip_prefix; /* paths only; default true */
	enum lb_algo	   algorithm;	 /* default: lb_cfg.algorithm */
	struct lb_health   health; /* the global one, overridden by field */

	struct lb_kv	  *hdr_add; /* owned; header_rules.add */
	size_t		   n_hdr_add;
	char		 **hdr_remove; /* owned; header_rules.remove names */
	size_t		   n_hdr_remove;
	struct lb_kv	  *param_add; /* owned; param_rules.add */
	size_t		   n_param_add;
	char		 **param_remove; /* owned; param_rules.remove names */
	size_t		   n_param_remove;
	struct lb_kv	  *rewrite; /* owned; rewrite_rules.replace, both
					   sides normalized to "/seg[/seg]" */
	size_t		   n_rewrite;
	struct lb_firewall firewall; /* the route's own rules */

	struct lb_rate_limit rate_limit; /* the top's unless own */

	char *sticky_cookie; /* owned; sticky.cookie, or NULL (off) */

	struct lb_server *servers; /* owned array */
	size_t		  n_servers;
	size_t		  id; /* index in lb_cfg.routes */
	struct lb_pos	  pos;

	/* How its servers are reached over TLS; NULL: plain HTTP. */
	struct lb_backend_tls *backend_tls; /* owned */
};

/* One certificate of a TLS listener: PEM files, where they were written. */
struct lb_tls_cert {
	char	     *cert; /* owned; absolute path */
	char	     *key;  /* owned; absolute path */
	struct lb_pos cert_pos, key_pos;
};

/* A listener's tls: map (lbmaster.yaml(5)). */
struct lb_tls {
	struct lb_tls_cert *certs; /* owned; at least one; [0] the default */
	size_t		    n_certs;
	unsigned	    min_version; /* 12 ("1.2", default) or 13 */
	char		   *ciphers;	 /* owned; default: AEAD with ECDHE */
	struct lb_pos	    ciphers_pos;
	bool		    session_tickets; /* default true */
	char		   *client_ca; /* owned or NULL: mutual TLS's CAs */
	struct lb_pos	    client_ca_pos;
	bool client_optional; /* client_verify: optional (else required) */
	/*
	 * Built from the files by the master before it forks (lb_tls_build
	 * in worker/tls.c), freed with the config through ctx_free: config/
	 * knows nothing of OpenSSL.
	 */
	struct lb_tls_ctx *ctx;
	void (*ctx_free)(struct lb_tls_ctx *);
};

struct lb_listen {
	char		       *text; /* owned; as written, "0.0.0.0:8080" */
	struct sockaddr_storage addr;
	socklen_t		addrlen;
	struct lb_tls	       *tls;   /* owned or NULL: plain HTTP */
	char		       *where; /* owned; "listen[1]", for messages */
	unsigned redirect_https;       /* plain: 308 to this port, or 0 */

	bool proxy_protocol; /* a PROXY header starts every connection */
};

/*
 * One of the config's tests: (lbmaster.yaml(5)): a request and what
 * lbmaster must do with it, checked at every load by the master
 * (worker/explain.c runs it through the worker's own code).
 */
struct lb_test {
	char		       *method;	 /* owned; request: "GET /a?b" */
	char		       *target;	 /* owned */
	struct lb_kv	       *headers; /* owned; headers: */
	size_t			n_headers;
	char		       *from; /* owned; from: as written, or NULL */
	struct sockaddr_storage from_addr; /* from:, default 127.0.0.1 */
	/* expect: a part left out is not checked. */
	bool	      has_status;
	int	      status;	      /* 0: forward; else the status answered */
	char	     *route;	      /* owned or NULL: the route's label */
	char	     *path;	      /* owned or NULL: path and query sent */
	struct lb_kv *expect_headers; /* owned: headers sent */
	size_t	      n_expect_headers;
	struct lb_pos pos; /* of the test's mapping */
};

struct lb_routes; /* config/routes.h: compiled lookup */

struct lb_cfg {
	char *file; /* owned; path it was loaded from */

	struct lb_listen *listen; /* owned array; default 0.0.0.0:8080 */
	size_t		  n_listen;
	unsigned	  workers;	/* resolved: "auto" = online CPUs */
	bool		  workers_auto; /* as written, for -T */
	cpu_set_t	 *cpu_sets;	/* owned; worker slot i runs on */
	size_t		  n_cpu_sets;	/* [i % n]; none: unpinned */
	bool		  cpu_auto;	/* "auto", as written, for -T */
	char		 *user;		/* owned or NULL */
	char		 *group;	/* owned or NULL */
	struct lb_pos	  user_pos;	/* where user: and group: stood, */
	struct lb_pos	  group_pos;	/* for start-up's errors */
	char		 *pid_file;	/* owned or NULL */
	char		 *error_log; /* owned; "stderr", "syslog" or a path */
	enum lb_loglevel  log_level; /* default info */
	char	*access_log; /* owned or NULL (= off); "stderr" or path */
	unsigned shutdown_timeout_ms; /* default 30 s */

	bool  access_log_json; /* access_log_format: json */
	char *request_id;      /* owned or NULL (= off): its header's name,
				  "X-Request-ID" by default */

	struct lb_listen *admin;       /* owned or NULL: admin.listen */
	char		 *admin_token; /* owned or NULL: admin.token, the
					  drain API's bearer token */

	char   **nameservers; /* owned; resolver.nameservers, "IP:PORT";
				 none: those of /etc/resolv.conf */
	size_t	 n_nameservers;
	unsigned resolver_valid_ms; /* resolver.valid, 1 s .. 1 h: a
				       followed name is asked again after
				       its TTL, or this, if shorter */
	size_t	 n_followed;	    /* followed names (each max_addresses
				servers) */

	unsigned connect_timeout_ms;   /* timeouts.connect, 3 s */
	unsigned backend_timeout_ms;   /* timeouts.backend, 60 s */
	unsigned client_timeout_ms;    /* timeouts.client, 60 s */
	unsigned keepalive_timeout_ms; /* timeouts.keepalive, 75 s; 0: no
					  keep-alive */
	unsigned tunnel_timeout_ms;    /* timeouts.tunnel, 1 h */

	uint64_t max_body_size;		   /* limits, bytes: 16m */
	uint64_t max_header_size;	   /* 32k */
	uint64_t max_response_header_size; /* 64k: an origin's head */
	unsigned max_connections;	   /* 10000, per worker */

	enum lb_algo	   algorithm; /* default for every route */
	struct lb_health   health;    /* default for every route */
	struct lb_firewall firewall;  /* global rules, before the route's */

	struct lb_rate_limit rate_limit; /* the default of every route */
	size_t n_limits; /* tables: the top's and the routes' own */

	struct lb_cidr *trusted; /* owned; trusted_proxies */
	size_t		n_trusted;
	struct lb_pos  *trusted_pos; /* owned */

	struct lb_route *routes; /* owned; hosts first, then paths, in
					   file order */
	size_t		 n_routes;
	size_t		 n_host_routes; /* routes[0 .. n_host_routes) */
	size_t		 n_servers;	/* sum of every route's n_servers */

	struct lb_test *tests; /* owned; tests:, in file order */
	size_t		n_tests;

	struct lb_routes *table; /* owned; compiled by lb_cfg_load */
};

/* config/config.c */

/*
 * Load, validate and compile FILE. Server names are resolved (getaddrinfo)
 * here. On success *out belongs to the caller (lb_cfg_free) and 0 is
 * returned. On failure returns -1 and err holds one line,
 * "FILE:LINE:COL: what is wrong" (no trailing newline).
 */
int
lb_cfg_load(const char *file, struct lb_cfg **out, char *err, size_t errlen);
/*
 * From now on a relative config file is read from DIR (the directory
 * lbmaster was started in), keeping its name as written in messages, and
 * the relative paths in it (pid_file, error_log, access_log) are made
 * absolute from DIR. NULL: paths are left as written.
 */
void lb_cfg_set_base(const char *dir);
/*
 * Only the pid_file of FILE (absolute, as above), for lbmaster -s: the
 * rest of the file may be invalid. 0 with *OUT malloc'ed, or NULL when
 * the file sets none; -1 with ERR when it cannot be read.
 */
int lb_cfg_pid_file(const char *file, char **out, char *err, size_t errlen);
/* The same from a string; NAME stands for the file in error messages. */
int  lb_cfg_load_string(const char *name, const char *yaml, size_t len,
     struct lb_cfg **out, char *err, size_t errlen);
void lb_cfg_free(struct lb_cfg *);
/*
 * Write the effective configuration (every default filled in) as YAML
 * that lb_cfg_load accepts again. Returns 0, or -1 on a write error.
 */
int lb_cfg_dump(const struct lb_cfg *, FILE *);

const char *lb_algo_name(enum lb_algo);

/* config/diff.c */

/*
 * What changes from OLD to NEW, one LINE call per difference: "+ host
 * a.com", "- server 127.0.0.1:8082 from a.com", "~ a.com algorithm
 * round_robin -> least_conn", "~ timeouts.connect 3s -> 1s"; or "no
 * changes". Every key -T prints is compared. 0, or -1 out of memory.
 */
int lb_cfg_diff(const struct lb_cfg *old, const struct lb_cfg *new,
    void (*line)(const char *, void *), void *arg);

#endif /* LB_CONFIG_H */

/*
 * common/addr.h -- socket addresses, "host:port" text and CIDR blocks.
 * Pure functions: nothing here logs, binds or connects.
 */
#ifndef LB_ADDR_H
#define LB_ADDR_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address with a prefix length: "10.0.0.0/8", "::1" (= /128). */
struct lb_cidr {
	int	 family;   /* AF_INET or AF_INET6 */
	uint8_t	 addr[16]; /* network byte order, host bits zero */
	unsigned prefix;   /* 0-32 or 0-128 */
};

struct lb_sockaddr {
	struct sockaddr_storage ss;
	socklen_t		len;
};

#define LB_ADDRSTRLEN 64 /* "[ffff:...:ffff]:65535" and NUL */

/* common/addr.c */

/*
 * Split "host:port", "[v6]:port" or "v6-with-brackets" into HOST (without
 * brackets) and PORT. A missing port is an error unless DEFPORT is nonzero,
 * in which case it is used. Returns 0, or -1 with a message in err
 * ("port 99999 out of range (1-65535)", "missing port in \"x\"", ...).
 */
int lb_addr_split(const char *text, char *host, size_t hostlen, unsigned *port,
    unsigned defport, char *err, size_t errlen);
/*
 * Parse a numeric listen address: "0.0.0.0:8080", "[::]:8080", "*:8080"
 * (= 0.0.0.0), ":8080" (= 0.0.0.0), "8080" (= 0.0.0.0). No name lookup.
 */
int lb_addr_parse_listen(const char *text, struct lb_sockaddr *, char *err,
    size_t errlen);
/*
 * Resolve HOST:PORT (a name or a literal) with getaddrinfo, TCP. *out is a
 * malloc'ed array of *n addresses in resolver order, duplicates removed.
 */
int lb_addr_resolve(const char *host, unsigned port, struct lb_sockaddr **out,
    size_t *n, char *err, size_t errlen);
/* "1.2.3.4:80", "[::1]:80" into buf (LB_ADDRSTRLEN is enough). */
void lb_addr_format(const struct sockaddr *, char *buf, size_t len);
/* The address alone, without port: "1.2.3.4", "::1". */
void lb_addr_format_host(const struct sockaddr *, char *buf, size_t len);
/* Equal family, address and port. */
bool lb_addr_equal(const struct sockaddr *, const struct sockaddr *);

/* "10.0.0.0/8", "10.1.2.3", "2001:db8::/32", "::1". Host bits are cleared. */
int lb_cidr_parse(const char *text, struct lb_cidr *, char *err, size_t errlen);
/* Does SA fall in C? IPv4-mapped IPv6 peers match IPv4 blocks. */
bool lb_cidr_match(const struct lb_cidr *c, const struct sockaddr *sa);
/* "10.0.0.0/8" back into text. */
void lb_cidr_format(const struct lb_cidr *, char *buf, size_t len);

#endif /* LB_ADDR_H */

/*
 * common/addr.c -- socket addresses, "host:port" text and CIDR blocks.
 *
 * Everything here is pure: errors go into the caller's buffer, nothing is
 * logged, bound or connected. Only lb_addr_resolve may block (getaddrinfo),
 * which is why the config loader calls it and the workers never do.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/str.h"

static void
seterr(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

/*
 * Fill the caller's error buffer, which may be NULL or empty. The text
 * quoted in a message may hold any byte a YAML string can: control bytes
 * become '?' so that an error stays one printable line.
 */
static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
	lb_str_printable(err);
}

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * Parse the N bytes at S as a TCP port. Digits only: "+80", " 80" and
 * "0x50" are refused so that a port means the same thing to every reader.
 */
static int
parse_port(const char *s, size_t n, unsigned *port, char *err, size_t errlen)
{
	unsigned long v = 0;

	if (!all_digits(s, n)) {
		seterr(err, errlen, "invalid port \"%.*s\"", (int)n, s);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			break; /* no overflow on long inputs */
	}
	if (v < 1 || v > 65535) {
		seterr(err, errlen, "port %.*s out of range (1-65535)", (int)n,
		    s);
		return -1;
	}
	*port = (unsigned)v;
	return 0;
}

/*
 * The work of lb_addr_split. ALLOW_EMPTY_HOST lets lb_addr_parse_listen
 * accept ":8080"; to everyone else an empty host is a mistake.
 */
static int
split(const char *text, bool allow_empty_host, char *host, size_t hostlen,
    unsigned *port, unsigned defport, char *err, size_t errlen)
{
	const char *h, *p, *colon;
	size_t	    hlen;

	if (*text == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL) {
			seterr(err, errlen, "missing ']' in \"%s\"", text);
			return -1;
		}
		h = text + 1;
		hlen = (size_t)(close - h);
		if (hlen == 0 || memchr(h, ':', hlen) == NULL) {
			seterr(err, errlen,
			    "brackets hold an IPv6 address in \"%s\"", text);
			return -1;
		}
		if (close[1] == '\0')
			p = NULL;
		else if (close[1] == ':')
			p = close + 2;
		else {
			seterr(err, errlen,
			    "unexpected \"%s\" after ']' in "
			    "\"%s\"",
			    close + 1, text);
			return -1;
		}
	} else {
		h = text;
		colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* "::1:80" could be read two ways; make the user say. */
			seterr(err, errlen,
			    "IPv6 address must be in brackets, "
			    "as in \"[::1]:80\": \"%s\"",
			    text);
			return -1;
		}
		if (colon == NULL) {
			hlen = strlen(text);
			p = NULL;
		} else {
			hlen = (size_t)(colon - text);
			p = colon + 1;
		}
	}

	if (hlen == 0 && !allow_empty_host) {
		seterr(err, errlen, "missing host in \"%s\"", text);
		return -1;
	}
	if (hlen >= hostlen) {
		seterr(err, errlen, "host name too long in \"%s\"", text);
		return -1;
	}

	if (p == NULL || *p == '\0') {
		if (defport == 0 || p != NULL) {
			/* "host:" is a typo, not a request for the default. */
			seterr(err, errlen, "missing port in \"%s\"", text);
			return -1;
		}
		*port = defport;
	} else if (parse_port(p, strlen(p), port, err, errlen) == -1)
		return -1;

	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return 0;
}

/*
 * Split "host:port", "[v6]:port" or "[v6]" into HOST (without brackets)
 * and PORT; DEFPORT (when nonzero) stands in for a missing port. An IPv6
 * literal must be in brackets. Returns 0, or -1 with a message in err.
 */
int
lb_addr_split(const char *text, char *host, size_t hostlen, unsigned *port,
    unsigned defport, char *err, size_t errlen)
{
	return split(text, false, host, hostlen, port, defport, err, errlen);
}

/*
 * Parse a numeric listen address: "0.0.0.0:8080", "[::]:8080", "*:8080",
 * ":8080" and "8080" (the last three mean 0.0.0.0). A name is refused: a
 * listener must not depend on DNS at start-up. Returns 0 or -1 with err.
 */
int
lb_addr_parse_listen(const char *text, struct lb_sockaddr *sa, char *err,
    size_t errlen)
{
	char		    host[INET6_ADDRSTRLEN + 32];
	unsigned	    port;
	struct sockaddr_in *sin = (struct sockaddr_in *)&sa->ss;

	memset(sa, 0, sizeof(*sa));
	if (all_digits(text, strlen(text))) {
		if (parse_port(text, strlen(text), &port, err, errlen) == -1)
			return -1;
		host[0] = '\0';
	} else if (split(text, true, host, sizeof(host), &port, 0, err,
		       errlen) == -1)
		return -1;

	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sa->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1 && text[0] != '[') {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sa->len = sizeof(*sin);
		return 0;
	}
	if (text[0] == '[') {
		struct addrinfo hints, *res;

		/* getaddrinfo, not inet_pton, so that "fe80::1%eth0" works. */
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_INET6;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		if (getaddrinfo(host, NULL, &hints, &res) == 0) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa
							->ss;

			memcpy(sin6, res->ai_addr, sizeof(*sin6));
			sin6->sin6_port = htons((uint16_t)port);
			sa->len = sizeof(*sin6);
			freeaddrinfo(res);
			return 0;
		}
	}
	memset(sa, 0, sizeof(*sa));
	seterr(err, errlen,
	    "listen address must be a numeric IP address: "
	    "\"%s\"",
	    text);
	return -1;
}

/*
 * Resolve HOST:PORT with getaddrinfo for TCP. AI_ADDRCONFIG is off on
 * purpose: a host whose only address family is loopback (a container, a
 * test box) must still get "localhost" as both 127.0.0.1 and ::1. *out is
 * a malloc'ed array of *n addresses in resolver order, duplicates removed.
 * Returns 0, or -1 with a message in err (*out NULL, *n 0).
 */
int
lb_addr_resolve(const char *host, unsigned port, struct lb_sockaddr **out,
    size_t *n, char *err, size_t errlen)
{
	struct addrinfo	    hints, *res = NULL, *ai;
	struct lb_sockaddr *v = NULL;
	char		    serv[8];
	size_t		    count = 0, cap = 0;
	int		    rc;

	*out = NULL;
	*n = 0;
	if (port < 1 || port > 65535) {
		seterr(err, errlen, "port %u out of range (1-65535)", port);
		return -1;
	}
	snprintf(serv, sizeof(serv), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, serv, &hints, &res)) != 0) {
		seterr(err, errlen, "cannot resolve \"%s\": %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		bool dup = false;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(v[0].ss))
			continue;
		for (size_t i = 0; i < count && !dup; i++)
			dup = lb_addr_equal((struct sockaddr *)&v[i].ss,
			    ai->ai_addr);
		if (dup)
			continue;
		if (count == cap) {
			size_t		    ncap = cap ? cap * 2 : 4;
			struct lb_sockaddr *nv;

			if ((nv = reallocarray(v, ncap, sizeof(*v))) == NULL) {
				seterr(err, errlen, "resolving \"%s\": %s",
				    host, strerror(errno));
				goto fail;
			}
			v = nv;
			cap = ncap;
		}
		memset(&v[count], 0, sizeof(v[count]));
		memcpy(&v[count].ss, ai->ai_addr, ai->ai_addrlen);
		v[count].len = ai->ai_addrlen;
		count++;
	}
	if (count == 0) {
		seterr(err, errlen,
		    "cannot resolve \"%s\": no IPv4 or IPv6 "
		    "address",
		    host);
		goto fail;
	}
	freeaddrinfo(res);
	*out = v;
	*n = count;
	return 0;
fail:
	free(v);
	freeaddrinfo(res);
	return -1;
}

/* The address part of SA as text; false for a family we do not know. */
static bool
host_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a;

	if (sa->sa_family == AF_INET && len >= INET_ADDRSTRLEN) {
		/* By hand: inet_ntop prints IPv4 with sprintf, per request. */
		const unsigned char *o = (const void *)&(
		    (const struct sockaddr_in *)sa)
					     ->sin_addr;
		char *p = buf;

		for (int i = 0; i < 4; i++) {
			if (o[i] >= 100)
				*p++ = (char)('0' + o[i] / 100);
			if (o[i] >= 10)
				*p++ = (char)('0' + o[i] / 10 % 10);
			*p++ = (char)('0' + o[i] % 10);
			*p++ = i < 3 ? '.' : '\0';
		}
		return true;
	}
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return false;
	return inet_ntop(sa->sa_family, a, buf, (socklen_t)len) != NULL;
}

/*
 * "1.2.3.4:80" or "[::1]:80" into BUF; LB_ADDRSTRLEN is enough. An
 * unknown family prints as "(unknown)".
 */
void
lb_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	if (!host_text(sa, h, sizeof(h))) {
		lb_snprintf(buf, len, "(unknown)");
		return;
	}
	if (sa->sa_family == AF_INET)
		lb_snprintf(buf, len, "%s:%u", h,
		    ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else
		lb_snprintf(buf, len, "[%s]:%u", h,
		    ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
}

/* The address alone, without port or brackets: "1.2.3.4", "::1". */
void
lb_addr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	if (!host_text(sa, h, sizeof(h)))
		lb_strlcpy(buf, "(unknown)", len);
	else
		lb_strlcpy(buf, h, len);
}

/*
 * Equal family, address and port (and, for IPv6, scope: fe80::1 on two
 * interfaces is two addresses). Unknown families are never equal.
 */
bool
lb_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a;
		const struct sockaddr_in *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a;
		const struct sockaddr_in6 *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    x->sin6_scope_id == y->sin6_scope_id &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

/* Zero every bit of ADDR after the first PREFIX. */
static void
clear_host_bits(uint8_t *addr, size_t bytes, unsigned prefix)
{
	for (size_t i = 0; i < bytes; i++) {
		if (prefix >= 8) {
			prefix -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff00 >> prefix);
		prefix = 0;
	}
}

/*
 * Parse "10.0.0.0/8", "10.1.2.3" (= /32), "2001:db8::/32" or "::1"
 * (= /128). Host bits are cleared, so "10.1.2.3/8" is 10.0.0.0/8. Returns
 * 0, or -1 with a message in err.
 */
int
lb_cidr_parse(const char *text, struct lb_cidr *c, char *err, size_t errlen)
{
	char	    a[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t	    alen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned    max;

	memset(c, 0, sizeof(*c));
	if (alen == 0 || alen >= sizeof(a))
		goto bad_addr;
	memcpy(a, text, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		goto bad_addr;

	c->prefix = max;
	if (slash != NULL) {
		const char *p = slash + 1;
		size_t	    plen = strlen(p);
		unsigned    v = 0;

		if (!all_digits(p, plen) || plen > 3) {
			seterr(err, errlen, "invalid prefix length in \"%s\"",
			    text);
			goto fail;
		}
		for (size_t i = 0; i < plen; i++)
			v = v * 10 + (unsigned)(p[i] - '0');
		if (v > max) {
			seterr(err, errlen,
			    "prefix length %u out of range "
			    "(0-%u) in \"%s\"",
			    v, max, text);
			goto fail;
		}
		c->prefix = v;
	}
	clear_host_bits(c->addr, max / 8, c->prefix);
	return 0;
bad_addr:
	seterr(err, errlen, "invalid IP address in \"%s\"", text);
fail:
	memset(c, 0, sizeof(*c));
	return -1;
}

/* Do the first PREFIX bits of A and B agree? */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	size_t	 whole = prefix / 8;
	unsigned rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff00 >> rest)) == 0;
}

/*
 * Does SA fall in C? A dual-stack listener sees IPv4 clients as
 * ::ffff:a.b.c.d, so such a peer is matched against IPv4 blocks by its
 * IPv4 part. An IPv6 block only ever matches IPv6 peers: "::/0" does not
 * silently cover every IPv4 client.
 */
bool
lb_cidr_match(const struct lb_cidr *c, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };
	const uint8_t	    *a;

	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return false;
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)
			->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (c->family == AF_INET) {
			if (memcmp(a, mapped, sizeof(mapped)) != 0)
				return false;
			a += sizeof(mapped);
		} else if (c->family != AF_INET6)
			return false;
	} else
		return false;
	return prefix_equal(a, c->addr, c->prefix);
}

/*
 * "10.0.0.0/8" into BUF. A single address (/32, /128) is written without
 * its prefix, as people usually write it; lb_cidr_parse reads both back.
 */
void
lb_cidr_format(const struct lb_cidr *c, char *buf, size_t len)
{
	char	 a[INET6_ADDRSTRLEN];
	unsigned max = c->family == AF_INET ? 32 : 128;

	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    inet_ntop(c->family, c->addr, a, sizeof(a)) == NULL) {
		lb_snprintf(buf, len, "(unknown)");
		return;
	}
	if (c->prefix == max)
		lb_snprintf(buf, len, "%s", a);
	else
		lb_snprintf(buf, len, "%s/%u", a, c->prefix);
}

/*
 * common/proxyproto.c -- the PROXY protocol header reader (see
 * proxyproto.h).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>

#include "common/proxyproto.h"

static const unsigned char v2sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

#define V2_HEAD 16 /* signature, version and command, family, length */

/*
 * One decimal port of a v1 line, "0" to "65535" without leading zeros.
 * Returns 0 and *PORT, or -1.
 */
static int
v1_port(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* One address of FAMILY, LEN bytes at S, into SS with PORT. */
static int
v1_addr(int family, const char *s, size_t len, uint16_t port,
    struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return inet_pton(AF_INET, buf, &sin->sin_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1 ? 0 : -1;
	}
}

/*
 * "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN...\r\n":
 * LINE is LEN bytes, the CRLF excluded.
 */
static int
v1_line(const char *line, size_t len, struct lb_proxyhdr *h)
{
	const char *f[5], *end = line + len, *p;
	size_t	    flen[5], n = 0;
	uint16_t    sport, dport;
	int	    family;

	if (len >= 13 && memcmp(line, "PROXY UNKNOWN", 13) == 0) {
		/* Whatever follows: the balancer could not say. */
		h->local = true;
		return 0;
	}
	if (len < 11 || memcmp(line, "PROXY TCP", 9) != 0 || line[10] != ' ')
		return -1;
	if (line[9] == '4')
		family = AF_INET;
	else if (line[9] == '6')
		family = AF_INET6;
	else
		return -1;
	/* Exactly four fields, one space apart. */
	for (p = line + 11; n < 5 && p <= end; n++) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));

		f[n] = p;
		flen[n] = (size_t)((sp != NULL ? sp : end) - p);
		if (sp == NULL) {
			n++;
			break;
		}
		p = sp + 1;
	}
	if (n != 4 || v1_port(f[2], flen[2], &sport) == -1 ||
	    v1_port(f[3], flen[3], &dport) == -1 ||
	    v1_addr(family, f[0], flen[0], sport, &h->src) == -1 ||
	    v1_addr(family, f[1], flen[1], dport, &h->dst) == -1)
		return -1;
	h->addrlen = family == AF_INET ? sizeof(struct sockaddr_in) :
					 sizeof(struct sockaddr_in6);
	return 0;
}

static ssize_t
v1(const char *buf, size_t len, struct lb_proxyhdr *h)
{
	static const char sig[] = "PROXY ";
	size_t		  n = len < 6 ? len : 6;
	const char	 *lf;

	if (memcmp(buf, sig, n) != 0)
		return -1;
	h->version = 1;
	/* Only printable ASCII until CRLF, within LB_PP_V1_MAX. */
	for (size_t i = 0; i < len && i < LB_PP_V1_MAX; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch == '\r')
			break;
		if (ch < 0x20 || ch > 0x7e)
			return -1;
	}
	lf = memchr(buf, '\n', len < LB_PP_V1_MAX ? len : LB_PP_V1_MAX);
	if (lf == NULL) {
		const char *cr = memchr(buf, '\r', len);

		if (len >= LB_PP_V1_MAX || (cr != NULL && cr + 1 < buf + len))
			return -1;
		return 0;
	}
	if (lf == buf || lf[-1] != '\r' ||
	    memchr(buf, '\r', (size_t)(lf - buf)) != lf - 1)
		return -1;
	if (v1_line(buf, (size_t)(lf - 1 - buf), h) == -1)
		return -1;
	return lf + 1 - buf;
}

static ssize_t
v2(const unsigned char *buf, size_t len, struct lb_proxyhdr *h)
{
	size_t n = len < sizeof(v2sig) ? len : sizeof(v2sig), total;
	int    cmd, fam;

	if (memcmp(buf, v2sig, n) != 0)
		return -1;
	/* Version 2; command LOCAL or PROXY. */
	if (len > 12 && ((buf[12] >> 4) != 2 || (buf[12] & 0xf) > 1))
		return -1;
	if (len < V2_HEAD)
		return 0;
	cmd = buf[12] & 0xf;
	fam = buf[13];
	total = V2_HEAD + ((size_t)buf[14] << 8 | buf[15]);
	if (total > LB_PP_MAX)
		return -1;
	/* PROXY speaks for TCP over IPv4 or IPv6 only. */
	if (cmd == 1 && fam != 0x11 && fam != 0x21)
		return -1;
	if (cmd == 1 && total < V2_HEAD + (fam == 0x11 ? 12 : 36))
		return -1;
	if (len < total)
		return 0;
	h->version = 2;
	if (cmd == 0) {
		h->local = true;
		return (ssize_t)total;
	}
	memset(&h->src, 0, sizeof(h->src));
	memset(&h->dst, 0, sizeof(h->dst));
	if (fam == 0x11) {
		struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, buf + 16, 4);
		memcpy(&d->sin_addr, buf + 20, 4);
		memcpy(&s->sin_port, buf + 24, 2);
		memcpy(&d->sin_port, buf + 26, 2);
		h->addrlen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, buf + 16, 16);
		memcpy(&d->sin6_addr, buf + 32, 16);
		memcpy(&s->sin6_port, buf + 48, 2);
		memcpy(&d->sin6_port, buf + 50, 2);
		h->addrlen = sizeof(*s);
	}
	return (ssize_t)total;
}

ssize_t
lb_proxyhdr_parse(const void *buf, size_t len, struct lb_proxyhdr *h)
{
	const unsigned char *b = buf;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return 0;
	if (b[0] == 'P')
		return v1(buf, len, h);
	if (b[0] == v2sig[0])
		return v2(b, len, h);
	return -1;
}

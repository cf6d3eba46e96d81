/*
 * common/dns.c -- a question and its answer (see dns.h).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/dns.h"

#define T_OPT	41
#define C_IN	1
#define HDRLEN	12
#define F_QR	0x8000
#define F_TC	0x0200
#define F_RD	0x0100
#define EDNS_SZ LB_DNS_MAXMSG

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

int
lb_dns_query(uint8_t *buf, size_t len, uint16_t id, const char *name,
    uint16_t type)
{
	size_t n = HDRLEN, label;

	if (len < HDRLEN + 1 + 4 + 11 || *name == '\0' || strlen(name) > 253)
		return -1;
	memset(buf, 0, HDRLEN);
	put16(buf, id);
	put16(buf + 2, F_RD);
	put16(buf + 4, 1);  /* one question */
	put16(buf + 10, 1); /* one additional: EDNS0, for large answers */
	while (*name != '\0') {
		label = strcspn(name, ".");
		if (label == 0 || label > 63 ||
		    n + 1 + label + 1 + 4 + 11 > len)
			return -1;
		buf[n++] = (uint8_t)label;
		memcpy(buf + n, name, label);
		n += label;
		name += label;
		if (*name == '.')
			name++;
	}
	buf[n++] = 0;
	put16(buf + n, type);
	put16(buf + n + 2, C_IN);
	n += 4;
	/* OPT: root name, type, our UDP size, no extended flags, no data. */
	buf[n++] = 0;
	put16(buf + n, T_OPT);
	put16(buf + n + 2, EDNS_SZ);
	memset(buf + n + 4, 0, 6);
	n += 10;
	return (int)n;
}

/*
 * Read the (possibly compressed) name at *OFF of MSG into OUT (dotted,
 * lowercased, no trailing dot) and move *OFF past it. -1 on a name that
 * runs out of the message, loops, or is too long.
 */
static int
read_name(const uint8_t *msg, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t p = *off, n = 0, end = 0;
	int    jumps = 0;

	for (;;) {
		uint8_t l;

		if (p >= len)
			return -1;
		l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++jumps > 16)
				return -1;
			if (end == 0)
				end = p + 2;
			p = ((size_t)(l & 0x3f) << 8) | msg[p + 1];
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1;
		p++;
		if (l == 0)
			break;
		if (p + l > len || n + l + 2 > outlen)
			return -1;
		if (n > 0)
			out[n++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)msg[p + i];

			out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		p += l;
	}
	if (outlen == 0)
		return -1;
	out[n] = '\0';
	*off = end != 0 ? end : p;
	return 0;
}

/* NAME, lowercased and without a trailing dot, equal to the plain A? */
static bool
same_name(const char *a, const char *name)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (strlen(a) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (a[i] != c)
			return false;
	}
	return true;
}

int
lb_dns_parse(const uint8_t *msg, size_t len, uint16_t id, const char *name,
    uint16_t qtype, int *rcode, struct lb_dns_rr *out, size_t max)
{
	char	 owner[256];
	size_t	 off = HDRLEN, stored = 0;
	uint16_t flags, qd, an;

	if (len < HDRLEN || get16(msg) != id)
		return -1;
	flags = get16(msg + 2);
	if ((flags & F_QR) == 0 || (flags & F_TC) != 0)
		return -1;
	*rcode = flags & 0x0f;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	if (qd != 1)
		return -1;
	if (read_name(msg, len, &off, owner, sizeof(owner)) == -1 ||
	    !same_name(owner, name) || off + 4 > len ||
	    get16(msg + off) != qtype || get16(msg + off + 2) != C_IN)
		return -1;
	off += 4;
	for (uint16_t i = 0; i < an; i++) {
		struct lb_dns_rr *rr = &out[stored];
		uint16_t	  type, class, rdlen;
		uint32_t	  ttl;
		size_t		  rd;

		if (read_name(msg, len, &off, owner, sizeof(owner)) == -1 ||
		    off + 10 > len)
			return -1;
		type = get16(msg + off);
		class = get16(msg + off + 2);
		ttl = get32(msg + off + 4);
		rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -1;
		rd = off;
		off += rdlen;
		/* A CNAME on the way, or another type: skip. */
		if (type != qtype || class != C_IN || stored == max)
			continue;
		memset(rr, 0, sizeof(*rr));
		rr->ttl = ttl > 0x7fffffff ? 0 : ttl;
		if (type == LB_DNS_A || type == LB_DNS_AAAA) {
			if (rdlen != (type == LB_DNS_A ? 4 : 16))
				return -1;
			memcpy(rr->addr, msg + rd, rdlen);
			stored++;
			continue;
		}
		if (type != LB_DNS_SRV || !same_name(owner, name))
			continue;
		if (rdlen < 7)
			return -1;
		rr->priority = get16(msg + rd);
		rr->weight = get16(msg + rd + 2);
		rr->port = get16(msg + rd + 4);
		rd += 6;
		if (read_name(msg, rd + (rdlen - 6), &rd, rr->target,
			sizeof(rr->target)) == -1)
			return -1;
		/* "." means: no service here (RFC 2782). */
		if (rr->target[0] == '\0' || rr->port == 0)
			continue;
		stored++;
	}
	return (int)stored;
}

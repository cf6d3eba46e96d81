/*
 * tests/fuzz/fuzz_dns.c -- common/dns.c under what a hostile (or spoofed)
 * DNS answer could hold.
 *
 * The input is an answer; it is read as the answer to an A, an AAAA and
 * an SRV question for the name its question section names (so that the
 * id and question checks pass and the records are reached), and for a
 * fixed name. Its first bytes up to a NUL are also a name to ask about.
 *
 * Invariants of lb_dns_parse: at most MAX records and -1 otherwise;
 * nothing read outside the input (ASan: the input is an exact-size copy);
 * every SRV target is NUL-terminated within its buffer, lowercase, with a
 * port other than 0. lb_dns_query: a question for a name is never an
 * answer to itself (QR is clear), and never longer than its buffer.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"
#include "tests/fuzz/fuzz.h"

#define MAX 8

/* The question's name of MSG, dotted, or "" when there is none. */
static void
qname(const uint8_t *m, size_t len, char *out, size_t outlen)
{
	size_t p = 12, n = 0;

	out[0] = '\0';
	while (p < len && m[p] != 0 && (m[p] & 0xc0) == 0) {
		size_t l = m[p++];

		if (p + l > len || n + l + 2 > outlen)
			return;
		if (n > 0)
			out[n++] = '.';
		memcpy(out + n, m + p, l);
		n += l;
		p += l;
	}
	out[n] = '\0';
}

static void
parse(const uint8_t *msg, size_t len, const char *name, uint16_t type)
{
	struct lb_dns_rr rr[MAX];
	uint16_t	 id = len >= 2 ? (uint16_t)((msg[0] << 8) | msg[1]) : 0;
	int		 rcode = -1, n;

	n = lb_dns_parse(msg, len, id, name, type, &rcode, rr, MAX);
	if (n < -1 || n > MAX)
		fuzz_fail("%d records for a table of %d", n, MAX);
	if (n >= 0 && (rcode < 0 || rcode > 15))
		fuzz_fail("rcode %d", rcode);
	for (int i = 0; i < n && type == LB_DNS_SRV; i++) {
		if (memchr(rr[i].target, '\0', sizeof(rr[i].target)) == NULL)
			fuzz_fail("an SRV target without its NUL");
		if (rr[i].port == 0 || rr[i].target[0] == '\0')
			fuzz_fail("a \"no service\" record kept");
		for (const char *c = rr[i].target; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				fuzz_fail("target %s not lowercased",
				    rr[i].target);
	}
}

int
lb_fuzz_dns(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { LB_DNS_A, LB_DNS_AAAA, LB_DNS_SRV };
	uint8_t		     *copy, q[512];
	char		      name[300];
	const void	     *nul;
	int		      n;

	if ((copy = malloc(size ? size : 1)) == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, data, size);
	qname(copy, size, name, sizeof(name));
	for (size_t t = 0; t < 3; t++) {
		parse(copy, size, name, types[t]);
		parse(copy, size, "_http._tcp.web.test", types[t]);
	}
	free(copy);

	nul = memchr(data, '\0', size);
	if (nul != NULL && (size_t)((const uint8_t *)nul - data) < 260) {
		memcpy(name, data, (size_t)((const uint8_t *)nul - data) + 1);
		n = lb_dns_query(q, sizeof(q), 7, name, LB_DNS_SRV);
		if (n > (int)sizeof(q))
			fuzz_fail("a question of %d bytes", n);
		if (n > 0)
			parse(q, (size_t)n, name, LB_DNS_SRV);
		if (n > 0 && (q[2] & 0x80) != 0)
			fuzz_fail("a question that says it is an answer");
	}
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_dns(data, size);
}
#endif

/*
 * common/dns.h -- the DNS messages the resolver (worker/resolver.c) builds
 * and reads itself: a question for the A, AAAA or SRV records of a name,
 * and its answer (RFC 1035 section 4, RFC 2782), with EDNS0 so that an
 * answer of 4 KiB comes over UDP whole. Pure: bytes in, records out, so
 * that it can be unit-tested and fuzzed alone.
 */
#ifndef LB_DNS_H
#define LB_DNS_H

#include <stddef.h>
#include <stdint.h>

#define LB_DNS_MAXMSG 4096 /* what we read of an answer (UDP) */

#define LB_DNS_A    1
#define LB_DNS_AAAA 28
#define LB_DNS_SRV  33

#define LB_DNS_NOERROR	0
#define LB_DNS_SERVFAIL 2
#define LB_DNS_NXDOMAIN 3

/* One record of an answer: an address (A, AAAA) or a service (SRV). */
struct lb_dns_rr {
	uint32_t ttl;
	uint8_t	 addr[16]; /* A: 4 bytes, AAAA: 16 */
	uint16_t priority; /* SRV */
	uint16_t weight;
	uint16_t port;
	char	 target[256]; /* SRV: lowercased, no trailing dot */
};

/* common/dns.c */

/*
 * Build into BUF (LEN bytes) a recursive query with ID for the records of
 * TYPE (LB_DNS_A, _AAAA, _SRV) of NAME (dotted, no trailing dot needed).
 * Returns its length, or -1 when NAME is not a valid domain name or BUF
 * is too small.
 */
int lb_dns_query(uint8_t *buf, size_t len, uint16_t id, const char *name,
    uint16_t type);
/*
 * Read MSG (LEN bytes), the answer to query ID for the TYPE records of
 * NAME: *RCODE gets its response code, OUT up to MAX of its records of
 * TYPE (in the answer section, whatever their owner: a CNAME chain ends
 * at another name; other types are passed over). Returns the number of
 * records stored, or -1 when MSG is not an answer to that query (another
 * id, name or type, truncated, malformed: the caller waits on).
 */
int lb_dns_parse(const uint8_t *msg, size_t len, uint16_t id, const char *name,
    uint16_t type, int *rcode, struct lb_dns_rr *out, size_t max);

#endif /* LB_DNS_H */

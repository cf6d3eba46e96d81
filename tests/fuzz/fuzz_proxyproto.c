/*
 * tests/fuzz/fuzz_proxyproto.c -- common/proxyproto.c, the PROXY header
 * reader, under whatever a peer could send first on a connection.
 *
 * The input is the byte stream; the reader is called as the worker calls
 * it, on every prefix (as bytes arrive one at a time) and on the whole,
 * each time on an exact-size copy, so that ASan sees a read past the end.
 *
 * Invariants: a length returned is within the bytes given and at most
 * LB_PP_MAX; the verdict on the whole stream decides every prefix: a
 * header of N bytes is "more" (0) on each shorter prefix and N, with the
 * same addresses, on each longer one; a refusal (-1) is refused or "more"
 * on each prefix, never a header; and once a prefix is refused every
 * longer one is refused too. A header that is not local has an IPv4 or
 * IPv6 source and destination of the same family.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/proxyproto.h"
#include "tests/fuzz/fuzz.h"

static ssize_t
parse_copy(const uint8_t *data, size_t n, struct lb_proxyhdr *h)
{
	uint8_t *copy;
	ssize_t	 rc;

	if ((copy = malloc(n ? n : 1)) == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, data, n);
	rc = lb_proxyhdr_parse(copy, n, h);
	free(copy);
	if (rc > (ssize_t)n || rc < -1 || rc > LB_PP_MAX)
		fuzz_fail("returned %zd for %zu bytes", rc, n);
	if (rc > 0 && !h->local) {
		int f = h->src.ss_family;

		if ((f != AF_INET && f != AF_INET6) || h->dst.ss_family != f)
			fuzz_fail("families %d and %d", f, h->dst.ss_family);
	}
	return rc;
}

int
lb_fuzz_proxyproto(const uint8_t *data, size_t size)
{
	struct lb_proxyhdr whole, h;
	ssize_t		   all, rc;
	bool		   refused = false;

	if (size > 2 * LB_PP_MAX)
		size = 2 * LB_PP_MAX;
	all = parse_copy(data, size, &whole);
	for (size_t n = 0; n < size; n++) {
		rc = parse_copy(data, n, &h);
		if (refused && rc != -1)
			fuzz_fail("prefix %zu: %zd after a refusal", n, rc);
		refused = rc == -1;
		if (all > 0 && (size_t)all > n && rc != 0)
			fuzz_fail("prefix %zu of a %zd-byte header: %zd", n,
			    all, rc);
		if (all > 0 && (size_t)all <= n &&
		    (rc != all || h.local != whole.local ||
			memcmp(&h.src, &whole.src, sizeof(h.src)) != 0 ||
			memcmp(&h.dst, &whole.dst, sizeof(h.dst)) != 0))
			fuzz_fail("prefix %zu: %zd, the whole: %zd", n, rc,
			    all);
		if (all == -1 && rc > 0)
			fuzz_fail("prefix %zu is a header, the whole is not",
			    n);
		if (all == 0 && rc != 0)
			fuzz_fail("prefix %zu: %zd, the whole needs more", n,
			    rc);
	}
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_proxyproto(data, size);
}
#endif

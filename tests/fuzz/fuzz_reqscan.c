/*
 * tests/fuzz/fuzz_reqscan.c -- common/reqscan.c, the strict scanner every
 * client byte passes, under whatever a client could send.
 *
 * The first byte chooses a split step (1-32) and the head limit; the rest
 * is the byte stream of one connection.
 *
 * Invariants: the verdict (0, 400 or 431) and the number of complete
 * requests are the same whether the stream is fed whole, in pieces of the
 * chosen size, or one byte at a time -- the scanner's answer may never
 * depend on how TCP happened to segment the bytes. Once failed, it stays
 * failed. Only 0, 400 and 431 are ever answered. While idle after a
 * verdict of 0, no head or body is said to be in progress with a count of
 * requests that went backwards.
 *
 * The client side reads a head with lb_reqscan_head, which stops at the
 * head's end: its verdict and the head's length do not depend on the
 * split either; a head it takes is one the streaming scanner takes too
 * (fed exactly those bytes), and a head it refuses gets the same status
 * from the streaming scanner fed the whole stream.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/reqscan.h"
#include "tests/fuzz/fuzz.h"

struct verdict {
	int		  code;
	uint64_t	  requests;
	enum lb_scan_wait wait;
};

static struct verdict
feed(const uint8_t *data, size_t size, size_t step, uint64_t max_head)
{
	struct lb_reqscan s;
	struct verdict	  v = { 0, 0, LB_SCAN_IDLE };
	uint64_t	  last = 0;

	lb_reqscan_init(&s, max_head);
	for (size_t off = 0; off < size && v.code == 0; off += step) {
		size_t n = size - off < step ? size - off : step;

		v.code = lb_reqscan_feed(&s, (const char *)data + off, n);
		if (s.requests < last)
			fuzz_fail("request count went back from %llu to %llu",
			    (unsigned long long)last,
			    (unsigned long long)s.requests);
		last = s.requests;
	}
	if (v.code != 0 && lb_reqscan_feed(&s, "\r\n", 2) != v.code)
		fuzz_fail("a failed scanner answered differently afterwards");
	v.requests = s.requests;
	v.wait = lb_reqscan_waiting(&s);
	return v;
}

struct head {
	int    code;
	size_t len; /* 0: not complete */
};

/* The first head of DATA, as worker/client.c reads it, by STEP bytes. */
static struct head
head(const uint8_t *data, size_t size, size_t step, uint64_t max_head)
{
	struct lb_reqscan s;
	struct head	  h = { 0, 0 };

	lb_reqscan_init(&s, max_head);
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step, used = 0;

		if ((h.code = lb_reqscan_head(&s, (const char *)data + off, n,
			 &used)) != 0)
			break;
		if (s.head_complete) {
			h.len = off + used;
			break;
		}
		if (used != n)
			fuzz_fail("lb_reqscan_head used %zu of %zu bytes "
				  "without completing a head",
			    used, n);
	}
	return h;
}

static void
check_heads(const uint8_t *data, size_t size, size_t step, uint64_t max_head,
    const struct verdict *whole)
{
	struct head a = head(data, size, size ? size : 1, max_head);
	struct head b = head(data, size, step, max_head);
	struct head c = head(data, size, 1, max_head);

	if (a.code != b.code || a.code != c.code || a.len != b.len ||
	    a.len != c.len)
		fuzz_fail("head depends on the split: %d/%zu, %d/%zu, %d/%zu",
		    a.code, a.len, b.code, b.len, c.code, c.len);
	if (a.code != 0 && a.code != whole->code)
		fuzz_fail("head refused with %d, the stream with %d", a.code,
		    whole->code);
	if (a.code == 0 && a.len > 0) {
		struct verdict v = feed(data, a.len, a.len, max_head);

		if (v.code != 0)
			fuzz_fail("a head of %zu bytes taken, but the stream "
				  "scanner says %d",
			    a.len, v.code);
	}
}

int
lb_fuzz_reqscan(const uint8_t *data, size_t size)
{
	struct verdict whole, split, bytes;
	size_t	       step;
	uint64_t       max_head;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] & 31) + 1;
	max_head = data[0] & 0x80 ? 64 : 32 * 1024;
	data++;
	size--;

	whole = feed(data, size, size ? size : 1, max_head);
	split = feed(data, size, step, max_head);
	bytes = feed(data, size, 1, max_head);
	if (whole.code != 0 && whole.code != 400 && whole.code != 431)
		fuzz_fail("unexpected verdict %d", whole.code);
	if (whole.code != split.code || whole.code != bytes.code)
		fuzz_fail("verdict depends on the split: whole %d, by %zu %d, "
			  "by 1 %d",
		    whole.code, step, split.code, bytes.code);
	if (whole.code == 0 &&
	    (whole.requests != split.requests ||
		whole.requests != bytes.requests || whole.wait != split.wait ||
		whole.wait != bytes.wait))
		fuzz_fail("requests or state depend on the split: %llu/%d, "
			  "%llu/%d, %llu/%d",
		    (unsigned long long)whole.requests, whole.wait,
		    (unsigned long long)split.requests, split.wait,
		    (unsigned long long)bytes.requests, bytes.wait);
	check_heads(data, size, step, max_head, &whole);
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_reqscan(data, size);
}
#endif

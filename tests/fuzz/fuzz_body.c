/*
 * tests/fuzz/fuzz_body.c -- common/body.c, the body framing decoder, under
 * whatever a client or an origin could send.
 *
 * The first four bytes choose the set-up: byte 0 the framing (its low two
 * bits, as enum lb_body_framing) and, with bit 2, a Content-Length near
 * UINT64_MAX; bytes 1 and 2 the Content-Length (little-endian); byte 3
 * seeds the sizes of the pieces. The rest is the byte stream, which is
 * fed as a caller would: whole, in pieces of pseudo-random sizes (1 to
 * 64), and one byte at a time. Each piece handed to lb_body_next is an
 * exact-size copy, so that ASan sees a read past P+N.
 *
 * Invariants: *skip + *data <= n; AGAIN consumes all n bytes; DATA hands
 * out at least one byte; the payload bytes, the final rc, the final state
 * and (but after an ERROR) the bytes consumed are the same however the
 * stream was split; total is the length of the payload; lb_body_done
 * agrees with a final DONE; after DONE the decoder takes no more bytes,
 * after ERROR it stays failed. LENGTH and CLOSE payloads are the stream's
 * first bytes; a chunked payload is at least 5 bytes shorter than the
 * framed body.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/body.h"
#include "tests/fuzz/fuzz.h"

struct run {
	struct lb_body	b;
	enum lb_body_rc rc;	  /* the last rc, after lb_body_eof */
	size_t		consumed; /* of the stream */
	unsigned char  *payload;  /* malloc'ed, as long as the stream */
	size_t		payload_len;
};

/* A small generator for the piece sizes: the same input, the same run. */
static uint32_t
next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* lb_body_next on an exact copy of P[0..N); checks what holds per call. */
static enum lb_body_rc
next_copy(struct run *r, const uint8_t *p, size_t n)
{
	char	       *copy;
	size_t		skip = 12345, data = 12345;
	enum lb_body_rc rc;

	if ((copy = malloc(n ? n : 1)) == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, p, n);
	rc = lb_body_next(&r->b, copy, n, &skip, &data);
	if (skip > n || data > n - skip)
		fuzz_fail("skip %zu + data %zu > n %zu", skip, data, n);
	if (rc != LB_BODY_DATA && data != 0)
		fuzz_fail("rc %d with %zu data bytes", rc, data);
	if (rc == LB_BODY_DATA && data == 0)
		fuzz_fail("DATA without a byte");
	if (rc == LB_BODY_AGAIN && skip != n)
		fuzz_fail("AGAIN left %zu of %zu bytes", n - skip, n);
	if (rc == LB_BODY_ERROR && (skip != 0 || data != 0))
		fuzz_fail("ERROR with skip %zu data %zu", skip, data);
	memcpy(r->payload + r->payload_len, copy + skip, data);
	free(copy);
	r->payload_len += data;
	r->consumed += skip + data;
	return rc;
}

/*
 * Feed STREAM[0..LEN) in pieces: STEP bytes each, or random sizes from
 * SEED when STEP is 0.
 */
static void
feed(struct run *r, const uint8_t *stream, size_t len,
    enum lb_body_framing framing, uint64_t length, size_t step, uint32_t seed)
{
	size_t arrived = 0, done;

	memset(r, 0, sizeof(*r));
	if ((r->payload = malloc(len ? len : 1)) == NULL)
		fuzz_fail("out of memory");
	lb_body_init(&r->b, framing, length);
	seed |= 1;
	for (;;) {
		size_t piece = step ? step : 1 + next_rand(&seed) % 64;

		/* Everything that arrived and is unread, until it waits. */
		do {
			r->rc = next_copy(r, stream + r->consumed,
			    arrived - r->consumed);
		} while (r->rc == LB_BODY_DATA);
		if (r->rc != LB_BODY_AGAIN)
			break;
		if (arrived == len) {
			r->rc = lb_body_eof(&r->b);
			break;
		}
		arrived += piece < len - arrived ? piece : len - arrived;
	}
	if (r->b.total != r->payload_len)
		fuzz_fail("total %llu, payload %zu",
		    (unsigned long long)r->b.total, r->payload_len);
	if (lb_body_done(&r->b) != (r->rc == LB_BODY_DONE))
		fuzz_fail("done %d, rc %d", lb_body_done(&r->b), r->rc);
	/* Done or failed for good: the rest of the stream is left alone. */
	done = r->consumed;
	if (next_copy(r, stream + done, len - done) != r->rc ||
	    r->consumed != done)
		fuzz_fail("rc %d changed, or more was consumed, once final",
		    r->rc);
	if (lb_body_eof(&r->b) != r->rc)
		fuzz_fail("eof after rc %d changed it", r->rc);
}

static void
same(const struct run *a, const struct run *b, const char *how)
{
	if (a->rc != b->rc)
		fuzz_fail("rc %d whole, %d %s", a->rc, b->rc, how);
	if (a->payload_len != b->payload_len ||
	    memcmp(a->payload, b->payload, a->payload_len) != 0)
		fuzz_fail("payload of %zu bytes whole, %zu %s", a->payload_len,
		    b->payload_len, how);
	/* On ERROR the stream is dropped: what it consumed is moot. */
	if (a->rc != LB_BODY_ERROR && a->consumed != b->consumed)
		fuzz_fail("%zu bytes consumed whole, %zu %s", a->consumed,
		    b->consumed, how);
	if (a->b.state != b->b.state || a->b.remaining != b->b.remaining ||
	    a->b.total != b->b.total || a->b.line_len != b->b.line_len ||
	    a->b.cr != b->b.cr || a->b.n_trailers != b->b.n_trailers)
		fuzz_fail("final state differs %s", how);
}

int
lb_fuzz_body(const uint8_t *data, size_t size)
{
	enum lb_body_framing framing;
	uint64_t	     length;
	uint32_t	     seed;
	struct run	     whole, pieces, bytes;
	size_t		     want;

	if (size < 4)
		return 0;
	framing = (enum lb_body_framing)(data[0] & 3);
	length = (uint64_t)data[1] | (uint64_t)data[2] << 8;
	if (data[0] & 4)
		length = UINT64_MAX - length;
	seed = (uint32_t)data[3] << 8 | data[0];
	data += 4;
	size -= 4;

	feed(&whole, data, size, framing, length, size ? size : 1, 0);
	feed(&pieces, data, size, framing, length, 0, seed);
	feed(&bytes, data, size, framing, length, 1, 0);
	same(&whole, &pieces, "in pieces");
	same(&whole, &bytes, "byte by byte");

	/* The framings that need no parsing, against a plain reading. */
	switch (framing) {
	case LB_BODY_NONE:
		if (whole.rc != LB_BODY_DONE || whole.consumed != 0)
			fuzz_fail("NONE: rc %d, %zu consumed", whole.rc,
			    whole.consumed);
		break;
	case LB_BODY_LENGTH:
		want = length < size ? (size_t)length : size;
		if (whole.payload_len != want ||
		    memcmp(whole.payload, data, want) != 0 ||
		    whole.rc != (length <= size ? LB_BODY_DONE : LB_BODY_ERROR))
			fuzz_fail("LENGTH %llu of %zu: rc %d, %zu bytes",
			    (unsigned long long)length, size, whole.rc,
			    whole.payload_len);
		break;
	case LB_BODY_CLOSE:
		if (whole.payload_len != size ||
		    memcmp(whole.payload, data, size) != 0 ||
		    whole.rc != LB_BODY_DONE)
			fuzz_fail("CLOSE: rc %d, %zu of %zu bytes", whole.rc,
			    whole.payload_len, size);
		break;
	case LB_BODY_CHUNKED:
		/* Payload is never more than the stream less its framing. */
		if (whole.rc == LB_BODY_DONE &&
		    whole.payload_len + 5 > whole.consumed)
			fuzz_fail("CHUNKED: %zu payload in %zu bytes",
			    whole.payload_len, whole.consumed);
		break;
	}
	free(whole.payload);
	free(pieces.payload);
	free(bytes.payload);
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_body(data, size);
}
#endif

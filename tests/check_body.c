/*
 * tests/check_body.c -- the message body framing decoder (common/body.h):
 * what payload it hands out, what framing it refuses, and that it
 * answers the same however the bytes are split.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/body.h"
#include "common/str.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))
#define ALL	  SIZE_MAX /* consumed: the whole input */

/* What a caller saw when it fed a whole input. */
struct result {
	enum lb_body_rc rc; /* the last one, lb_body_eof's if called */
	char	       *payload;
	size_t		payload_len;
	size_t		consumed;
	struct lb_body	b;
};

/*
 * Feed IN[0..LEN) as a caller would, STEP bytes arriving at a time: call
 * lb_body_next on everything arrived and unread until it waits, then let
 * more arrive. At the end of the input call lb_body_eof if EOF. Checks
 * what every call must hold; R->payload is the caller's to free.
 */
static void
decode(enum lb_body_framing framing, uint64_t length, const char *in,
    size_t len, size_t step, bool eof, struct result *r)
{
	size_t arrived = 0;

	memset(r, 0, sizeof(*r));
	ck_assert_ptr_nonnull(r->payload = malloc(len + 1));
	lb_body_init(&r->b, framing, length);
	for (;;) {
		size_t skip, data, n;

		n = arrived - r->consumed;
		r->rc = lb_body_next(&r->b, in + r->consumed, n, &skip, &data);
		ck_assert_uint_le(skip + data, n);
		if (r->rc == LB_BODY_AGAIN)
			ck_assert_uint_eq(skip, n); /* framing is taken */
		if (r->rc != LB_BODY_DATA)
			ck_assert_uint_eq(data, 0);
		memcpy(r->payload + r->payload_len, in + r->consumed + skip,
		    data);
		r->payload_len += data;
		r->consumed += skip + data;
		if (r->rc == LB_BODY_DATA) {
			ck_assert_uint_gt(data, 0);
			continue;
		}
		if (r->rc != LB_BODY_AGAIN)
			break;
		if (arrived == len) {
			if (eof)
				r->rc = lb_body_eof(&r->b);
			break;
		}
		arrived += len - arrived < step ? len - arrived : step;
	}
	ck_assert_uint_eq(r->b.total, r->payload_len);
}

/* ------------------------------------------------------------ the table */

static const struct body_case {
	const char	    *name;
	enum lb_body_framing framing;
	uint64_t	     length; /* LB_BODY_LENGTH */
	const char	    *in;
	size_t		     in_len; /* 0: strlen(in) */
	bool		     eof;    /* the peer closes after IN */
	enum lb_body_rc	     want;
	const char	    *payload;  /* NULL: none */
	size_t		     consumed; /* ALL: the whole input */
	unsigned	     trailers;
} cases[] = {
	/* Content-Length, none, until close. */
	{ "length", LB_BODY_LENGTH, 5, "hello", 0, false, LB_BODY_DONE, "hello",
	    ALL, 0 },
	{ "length leaves the next message", LB_BODY_LENGTH, 5,
	    "helloGET / HTTP/1.1\r\n", 0, false, LB_BODY_DONE, "hello", 5, 0 },
	{ "length not there yet", LB_BODY_LENGTH, 9, "hello", 0, false,
	    LB_BODY_AGAIN, "hello", ALL, 0 },
	{ "length truncated by eof", LB_BODY_LENGTH, 9, "hello", 0, true,
	    LB_BODY_ERROR, "hello", ALL, 0 },
	{ "length 0", LB_BODY_LENGTH, 0, "", 0, false, LB_BODY_DONE, NULL, ALL,
	    0 },
	{ "length 0 takes nothing", LB_BODY_LENGTH, 0, "abc", 0, false,
	    LB_BODY_DONE, NULL, 0, 0 },
	{ "length 0 then eof", LB_BODY_LENGTH, 0, "", 0, true, LB_BODY_DONE,
	    NULL, ALL, 0 },
	{ "none takes nothing", LB_BODY_NONE, 0, "abc", 0, false, LB_BODY_DONE,
	    NULL, 0, 0 },
	{ "none then eof", LB_BODY_NONE, 0, "", 0, true, LB_BODY_DONE, NULL,
	    ALL, 0 },
	{ "close: every byte is data", LB_BODY_CLOSE, 0, "0\r\n\r\nabc", 0,
	    false, LB_BODY_AGAIN, "0\r\n\r\nabc", ALL, 0 },
	{ "close ends at eof", LB_BODY_CLOSE, 0, "abc", 0, true, LB_BODY_DONE,
	    "abc", ALL, 0 },
	{ "close, empty", LB_BODY_CLOSE, 0, "", 0, true, LB_BODY_DONE, NULL,
	    ALL, 0 },

	/* Chunked. */
	{ "one chunk", LB_BODY_CHUNKED, 0, "5\r\nhello\r\n0\r\n\r\n", 0, false,
	    LB_BODY_DONE, "hello", ALL, 0 },
	{ "two chunks", LB_BODY_CHUNKED, 0,
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0, false, LB_BODY_DONE,
	    "hello world", ALL, 0 },
	{ "empty body", LB_BODY_CHUNKED, 0, "0\r\n\r\n", 0, false, LB_BODY_DONE,
	    NULL, ALL, 0 },
	{ "hex either case", LB_BODY_CHUNKED, 0,
	    "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n", 0, false,
	    LB_BODY_DONE, "0123456789abcdefghijk", ALL, 0 },
	{ "leading zeros", LB_BODY_CHUNKED, 0, "0005\r\nhello\r\n0000\r\n\r\n",
	    0, false, LB_BODY_DONE, "hello", ALL, 0 },
	{ "data that looks like framing", LB_BODY_CHUNKED, 0,
	    "7\r\n0\r\n\r\nGE\r\n0\r\n\r\n", 0, false, LB_BODY_DONE,
	    "0\r\n\r\nGE", ALL, 0 },
	{ "leaves the next message", LB_BODY_CHUNKED, 0,
	    "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, false,
	    LB_BODY_DONE, "hi", 12, 0 },
	{ "not there yet", LB_BODY_CHUNKED, 0, "5\r\nhel", 0, false,
	    LB_BODY_AGAIN, "hel", ALL, 0 },
	/* RFC 9112 7.1.1: ";name", ";name=token", ";name=quoted", BWS. */
	{ "extension name", LB_BODY_CHUNKED, 0, "5;foo\r\nhello\r\n0\r\n\r\n",
	    0, false, LB_BODY_DONE, "hello", ALL, 0 },
	{ "extension name=value", LB_BODY_CHUNKED, 0,
	    "5;foo=bar\r\nhello\r\n0;last=1\r\n\r\n", 0, false, LB_BODY_DONE,
	    "hello", ALL, 0 },
	{ "extension quoted", LB_BODY_CHUNKED, 0,
	    "5;q=\"a b;c=\\\"d\\\\\"\r\nhello\r\n0\r\n\r\n", 0, false,
	    LB_BODY_DONE, "hello", ALL, 0 },
	{ "extensions with white space", LB_BODY_CHUNKED, 0,
	    "5 ; a = b\t;c ;d=\"x\"\r\nhello\r\n0\t;e\r\n\r\n", 0, false,
	    LB_BODY_DONE, "hello", ALL, 0 },
	{ "extension with obs-text quoted", LB_BODY_CHUNKED, 0,
	    "5;a=\"\xe9t\xe9\"\r\nhello\r\n0\r\n\r\n", 0, false, LB_BODY_DONE,
	    "hello", ALL, 0 },
	/* Trailers: counted and dropped. */
	{ "trailers dropped", LB_BODY_CHUNKED, 0,
	    "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B:\r\nX-C:\ta\xff b \r\n\r\n", 0,
	    false, LB_BODY_DONE, "hello", ALL, 3 },
	{ "trailers leave the next message", LB_BODY_CHUNKED, 0,
	    "0\r\nT: v\r\n\r\nNEXT", 0, false, LB_BODY_DONE, NULL, 11, 1 },

	/* The chunk-size line. */
	{ "size 0x", LB_BODY_CHUNKED, 0, "0x5\r\nhello\r\n0\r\n\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size +", LB_BODY_CHUNKED, 0, "+5\r\nhello\r\n0\r\n\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size -", LB_BODY_CHUNKED, 0, "-5\r\nhello\r\n0\r\n\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size after a space", LB_BODY_CHUNKED, 0, " 5\r\nhello\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size after a tab", LB_BODY_CHUNKED, 0, "\t5\r\nhello\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size then a space", LB_BODY_CHUNKED, 0, "5 \r\nhello\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size missing", LB_BODY_CHUNKED, 0, "\r\nhello\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size missing before extension", LB_BODY_CHUNKED, 0,
	    ";a\r\nhello\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "size not hex", LB_BODY_CHUNKED, 0, "5g\r\nhello\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "size overflows", LB_BODY_CHUNKED, 0, "10000000000000000\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "size overflows by a digit", LB_BODY_CHUNKED, 0,
	    "ffffffffffffffff0\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "size then bare LF", LB_BODY_CHUNKED, 0, "5\nhello\r\n0\r\n\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "size then bare CR", LB_BODY_CHUNKED, 0, "5\rhello\r\n0\r\n\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "size then CR CR LF", LB_BODY_CHUNKED, 0, "5\r\r\nhello\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "NUL in the size line", LB_BODY_CHUNKED, 0, "5\0\r\nhello\r\n", 11,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "NUL in an extension", LB_BODY_CHUNKED, 0, "5;a\0\r\nhello\r\n", 13,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "control in an extension", LB_BODY_CHUNKED, 0,
	    "5;a=\"\x01\"\r\nhello\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "DEL in an extension", LB_BODY_CHUNKED, 0, "5;a\x7f\r\nhello\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension without a name", LB_BODY_CHUNKED, 0, "5;\r\nhello\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension =value", LB_BODY_CHUNKED, 0, "5;=v\r\nhello\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension name= without value", LB_BODY_CHUNKED, 0,
	    "5;a=\r\nhello\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension unterminated quote", LB_BODY_CHUNKED, 0,
	    "5;a=\"x\r\nhello\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension name with a space", LB_BODY_CHUNKED, 0,
	    "5;a b\r\nhello\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension value with a space", LB_BODY_CHUNKED, 0,
	    "5;a=b c\r\nhello\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension junk after quote", LB_BODY_CHUNKED, 0,
	    "5;a=\"b\"c\r\nhello\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension trailing space", LB_BODY_CHUNKED, 0, "5;a=b \r\nhello\r\n",
	    0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "extension comma", LB_BODY_CHUNKED, 0, "5;a,b\r\nhello\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },

	/* The CRLF after chunk data. */
	{ "data longer than its size", LB_BODY_CHUNKED, 0,
	    "2\r\nhello\r\n0\r\n\r\n", 0, false, LB_BODY_ERROR, "he", 5, 0 },
	{ "data then bare LF", LB_BODY_CHUNKED, 0, "5\r\nhello\n0\r\n\r\n", 0,
	    false, LB_BODY_ERROR, "hello", 8, 0 },
	{ "data then bare CR", LB_BODY_CHUNKED, 0, "5\r\nhello\r0\r\n\r\n", 0,
	    false, LB_BODY_ERROR, "hello", 8, 0 },
	{ "data then CR and junk", LB_BODY_CHUNKED, 0, "5\r\nhello\rX0\r\n\r\n",
	    0, false, LB_BODY_ERROR, "hello", 8, 0 },
	{ "data then nothing", LB_BODY_CHUNKED, 0, "5\r\nhello0\r\n\r\n", 0,
	    false, LB_BODY_ERROR, "hello", 8, 0 },

	/* Trailers. */
	{ "trailer folded", LB_BODY_CHUNKED, 0, "0\r\nX: 1\r\n 2\r\n\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 1 },
	{ "trailer folded with a tab", LB_BODY_CHUNKED, 0,
	    "0\r\nX: 1\r\n\t2\r\n\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 1 },
	{ "trailer without a colon", LB_BODY_CHUNKED, 0, "0\r\nX\r\n\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer without a colon, then a value", LB_BODY_CHUNKED, 0,
	    "0\r\nX 1\r\n\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer name with a space", LB_BODY_CHUNKED, 0,
	    "0\r\nX Y: 1\r\n\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer space before colon", LB_BODY_CHUNKED, 0,
	    "0\r\nX : 1\r\n\r\n", 0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer empty name", LB_BODY_CHUNKED, 0, "0\r\n: 1\r\n\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer name not a token", LB_BODY_CHUNKED, 0, "0\r\nX@Y: 1\r\n\r\n",
	    0, false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer bare LF", LB_BODY_CHUNKED, 0, "0\r\nX: 1\n\r\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer bare CR", LB_BODY_CHUNKED, 0, "0\r\nX: 1\r\r\n\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer NUL", LB_BODY_CHUNKED, 0, "0\r\nX: a\0b\r\n\r\n", 13, false,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "trailer control", LB_BODY_CHUNKED, 0, "0\r\nX: a\x1b b\r\n\r\n", 0,
	    false, LB_BODY_ERROR, NULL, 0, 0 },
	{ "end of trailers bare LF", LB_BODY_CHUNKED, 0, "0\r\n\n", 0, false,
	    LB_BODY_ERROR, NULL, 0, 0 },

	/* The peer closes too soon. */
	{ "eof before the size", LB_BODY_CHUNKED, 0, "", 0, true, LB_BODY_ERROR,
	    NULL, 0, 0 },
	{ "eof in the size line", LB_BODY_CHUNKED, 0, "5;a", 0, true,
	    LB_BODY_ERROR, NULL, 0, 0 },
	{ "eof mid-chunk", LB_BODY_CHUNKED, 0, "5\r\nhel", 0, true,
	    LB_BODY_ERROR, "hel", 0, 0 },
	{ "eof before the data's CRLF", LB_BODY_CHUNKED, 0, "5\r\nhello", 0,
	    true, LB_BODY_ERROR, "hello", 0, 0 },
	{ "eof without the last chunk", LB_BODY_CHUNKED, 0, "5\r\nhello\r\n", 0,
	    true, LB_BODY_ERROR, "hello", 0, 0 },
	{ "eof in the trailers", LB_BODY_CHUNKED, 0, "0\r\nX: 1\r\n", 0, true,
	    LB_BODY_ERROR, NULL, 0, 1 },
	{ "eof before the last CRLF", LB_BODY_CHUNKED, 0, "0\r\n", 0, true,
	    LB_BODY_ERROR, NULL, 0, 0 },
};

static size_t
case_len(const struct body_case *c)
{
	return c->in_len ? c->in_len : strlen(c->in);
}

/*
 * Whole, in pieces of 2, 3 and 7, and one byte at a time: the same rc,
 * payload, bytes consumed and trailers. (On ERROR, what was consumed
 * does not matter: the stream is dropped.)
 */
START_TEST(test_table_whole_and_split_alike)
{
	static const size_t	steps[] = { SIZE_MAX, 7, 3, 2, 1 };
	const struct body_case *c = &cases[_i];
	size_t			len = case_len(c);
	size_t			plen = c->payload ? strlen(c->payload) : 0;

	for (size_t k = 0; k < NITEMS(steps); k++) {
		struct result r;

		decode(c->framing, c->length, c->in, len, steps[k], c->eof, &r);
		ck_assert_msg(r.rc == c->want, "%s, by %zu: rc %d, want %d",
		    c->name, steps[k], r.rc, c->want);
		ck_assert_msg(r.payload_len == plen &&
			memcmp(r.payload, c->payload ? c->payload : "", plen) ==
			    0,
		    "%s, by %zu: payload \"%.*s\"", c->name, steps[k],
		    (int)r.payload_len, r.payload);
		if (c->want != LB_BODY_ERROR)
			ck_assert_msg(r.consumed ==
				(c->consumed == ALL ? len : c->consumed),
			    "%s, by %zu: %zu bytes consumed", c->name, steps[k],
			    r.consumed);
		ck_assert_msg(r.b.n_trailers == c->trailers,
		    "%s, by %zu: %u trailers", c->name, steps[k],
		    r.b.n_trailers);
		ck_assert(lb_body_done(&r.b) == (c->want == LB_BODY_DONE));
		free(r.payload);
	}
}
END_TEST

/* -------------------------------------------------------- content-length */

/* The first piece ends anywhere: before, inside or after the body. */
START_TEST(test_length_split_at_every_point)
{
	static const char in[] = "hello, worldNEXT";
	const size_t	  len = sizeof(in) - 1;

	for (size_t cut = 0; cut <= len; cut++) {
		struct lb_body	b;
		size_t		skip, data, off = 0;
		char		out[32];
		size_t		outlen = 0;
		enum lb_body_rc rc;

		lb_body_init(&b, LB_BODY_LENGTH, 12);
		rc = lb_body_next(&b, in, cut, &skip, &data);
		if (cut == 0) {
			ck_assert_int_eq(rc, LB_BODY_AGAIN);
		} else {
			ck_assert_int_eq(rc, LB_BODY_DATA);
			ck_assert_uint_eq(skip, 0);
			ck_assert_uint_eq(data, cut < 12 ? cut : 12);
			memcpy(out, in, data);
			outlen = off = data;
		}
		while ((rc = lb_body_next(&b, in + off, len - off, &skip,
			    &data)) == LB_BODY_DATA) {
			memcpy(out + outlen, in + off + skip, data);
			outlen += data;
			off += skip + data;
		}
		ck_assert_int_eq(rc, LB_BODY_DONE);
		ck_assert_uint_eq(skip, 0);
		ck_assert_uint_eq(outlen, 12);
		ck_assert(memcmp(out, "hello, world", 12) == 0);
		ck_assert_uint_eq(b.total, 12);
		ck_assert_uint_eq(b.remaining, 0);
	}
}
END_TEST

START_TEST(test_length_counts_total_and_remaining)
{
	struct lb_body b;
	size_t	       skip, data;

	lb_body_init(&b, LB_BODY_LENGTH, 10);
	ck_assert_int_eq(lb_body_next(&b, "abcd", 4, &skip, &data),
	    LB_BODY_DATA);
	ck_assert_uint_eq(data, 4);
	ck_assert_uint_eq(b.total, 4);
	ck_assert_uint_eq(b.remaining, 6);
	ck_assert(!lb_body_done(&b));
	ck_assert_int_eq(lb_body_eof(&b), LB_BODY_ERROR);
}
END_TEST

/*
 * Bytes spliced past the decoder count as payload; the decoder keeps at
 * least the last byte to itself, and takes no skip in any other state.
 */
START_TEST(test_length_bytes_passed_by_splice)
{
	struct lb_body b;
	size_t	       skip, data;

	lb_body_init(&b, LB_BODY_LENGTH, 10);
	ck_assert(lb_body_passed(&b, 7));
	ck_assert_uint_eq(b.total, 7);
	ck_assert_uint_eq(b.remaining, 3);
	ck_assert(!lb_body_passed(&b, 3)); /* would end it */
	ck_assert_uint_eq(b.remaining, 3);
	ck_assert_int_eq(lb_body_next(&b, "xyzNEXT", 7, &skip, &data),
	    LB_BODY_DATA);
	ck_assert_uint_eq(data, 3);
	ck_assert_int_eq(lb_body_next(&b, "NEXT", 4, &skip, &data),
	    LB_BODY_DONE);
	ck_assert_uint_eq(b.total, 10);
	ck_assert(!lb_body_passed(&b, 0)); /* done */
	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert(!lb_body_passed(&b, 1));
	lb_body_init(&b, LB_BODY_CLOSE, 0);
	ck_assert(!lb_body_passed(&b, 1));
}
END_TEST

/* A Content-Length far past what size_t holds on any machine is fine. */
START_TEST(test_length_huge)
{
	struct lb_body b;
	size_t	       skip, data;

	lb_body_init(&b, LB_BODY_LENGTH, UINT64_MAX);
	ck_assert_int_eq(lb_body_next(&b, "abc", 3, &skip, &data),
	    LB_BODY_DATA);
	ck_assert_uint_eq(data, 3);
	ck_assert_uint_eq(b.remaining, UINT64_MAX - 3);
}
END_TEST

/* ------------------------------------------------------ no bytes at all */

START_TEST(test_zero_bytes)
{
	struct lb_body b;
	size_t	       skip = 9, data = 9;

	/* Nothing to wait for: done at once. */
	lb_body_init(&b, LB_BODY_NONE, 0);
	ck_assert_int_eq(lb_body_next(&b, "", 0, &skip, &data), LB_BODY_DONE);
	ck_assert_uint_eq(skip + data, 0);
	ck_assert(lb_body_done(&b));
	lb_body_init(&b, LB_BODY_LENGTH, 0);
	ck_assert(lb_body_done(&b));
	ck_assert_int_eq(lb_body_next(&b, "x", 1, &skip, &data), LB_BODY_DONE);
	ck_assert_uint_eq(skip + data, 0);
	/* Something to wait for: AGAIN, nothing consumed. */
	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	skip = data = 9;
	ck_assert_int_eq(lb_body_next(&b, "", 0, &skip, &data), LB_BODY_AGAIN);
	ck_assert_uint_eq(skip + data, 0);
	lb_body_init(&b, LB_BODY_CLOSE, 0);
	ck_assert_int_eq(lb_body_next(&b, "", 0, &skip, &data), LB_BODY_AGAIN);
	ck_assert_uint_eq(skip + data, 0);
	lb_body_init(&b, LB_BODY_LENGTH, 1);
	ck_assert_int_eq(lb_body_next(&b, "", 0, &skip, &data), LB_BODY_AGAIN);
	ck_assert_uint_eq(skip + data, 0);
	ck_assert(!lb_body_done(&b));
}
END_TEST

/* --------------------------------------------------------------- chunked */

/* Each call: framing to skip, then the payload right after it, whole. */
START_TEST(test_chunked_events_in_order)
{
	static const char in[] = "5;x=y\r\nhello\r\n3\r\nabc\r\n"
				 "0\r\nT: v\r\n\r\nNEXT";
	struct lb_body	  b;
	size_t		  skip, data, off = 0;

	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, in, sizeof(in) - 1, &skip, &data),
	    LB_BODY_DATA);
	ck_assert_uint_eq(skip, 7);
	ck_assert_uint_eq(data, 5);
	ck_assert(memcmp(in + skip, "hello", 5) == 0);
	off += skip + data;
	ck_assert_int_eq(lb_body_next(&b, in + off, sizeof(in) - 1 - off, &skip,
			     &data),
	    LB_BODY_DATA);
	ck_assert_uint_eq(skip, 5); /* "\r\n3\r\n" */
	ck_assert_uint_eq(data, 3);
	ck_assert(memcmp(in + off + skip, "abc", 3) == 0);
	off += skip + data;
	ck_assert_int_eq(lb_body_next(&b, in + off, sizeof(in) - 1 - off, &skip,
			     &data),
	    LB_BODY_DONE);
	ck_assert_uint_eq(skip, 13); /* "\r\n0\r\nT: v\r\n\r\n" */
	ck_assert_uint_eq(data, 0);
	off += skip;
	ck_assert_str_eq(in + off, "NEXT");
	ck_assert_uint_eq(b.total, 8);
	ck_assert_uint_eq(b.n_trailers, 1);
}
END_TEST

/* A chunk at hand is handed out in one piece, however large. */
START_TEST(test_chunked_data_not_split)
{
	static char    in[6 + 0x3000 + 7];
	struct lb_body b;
	size_t	       skip, data;

	memcpy(in, "3000\r\n", 6);
	memset(in + 6, 'x', 0x3000);
	memcpy(in + 6 + 0x3000, "\r\n0\r\n\r\n", 7);
	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, in, 6 + 0x3000 + 7, &skip, &data),
	    LB_BODY_DATA);
	ck_assert_uint_eq(skip, 6);
	ck_assert_uint_eq(data, 0x3000);
	ck_assert_uint_eq(b.remaining, 0);
	ck_assert_int_eq(lb_body_next(&b, in + 6 + 0x3000, 7, &skip, &data),
	    LB_BODY_DONE);
	ck_assert_uint_eq(skip, 7);
}
END_TEST

/* Chunk data is any bytes, NUL and CRLF included. */
START_TEST(test_chunked_binary_data)
{
	static const char in[] = "3\r\n\0\r\n\r\n0\r\n\r\n";
	struct result	  r;

	decode(LB_BODY_CHUNKED, 0, in, sizeof(in) - 1, 1, false, &r);
	ck_assert_int_eq(r.rc, LB_BODY_DONE);
	ck_assert_uint_eq(r.payload_len, 3);
	ck_assert(memcmp(r.payload, "\0\r\n", 3) == 0);
	free(r.payload);
}
END_TEST

/* The largest size there is is accepted; one more digit is not. */
START_TEST(test_chunked_size_overflow)
{
	struct lb_body b;
	size_t	       skip, data;

	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, LB_LIT("ffffffffffffffff\r\n"), &skip,
			     &data),
	    LB_BODY_AGAIN);
	ck_assert_uint_eq(b.remaining, UINT64_MAX);
	ck_assert_int_eq(lb_body_next(&b, "ab", 2, &skip, &data), LB_BODY_DATA);
	ck_assert_uint_eq(b.remaining, UINT64_MAX - 2);

	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, LB_LIT("fffffffffffffffff;a\r\n"),
			     &skip, &data),
	    LB_BODY_ERROR);
	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, LB_LIT("18446744073709551616\r\n"),
			     &skip, &data),
	    LB_BODY_ERROR);
}
END_TEST

/* Leading zeros are digits like any other, up to the 64 kept. */
START_TEST(test_chunked_size_digits_bounded)
{
	char	       in[80];
	struct lb_body b;
	size_t	       skip, data;

	memset(in, '0', 63);
	memcpy(in + 63, "1\r\nx", 4);
	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, in, 67, &skip, &data), LB_BODY_DATA);
	ck_assert_uint_eq(skip, 66);
	ck_assert_uint_eq(data, 1);

	memset(in, '0', 64);
	memcpy(in + 64, "1\r\nx", 4);
	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, in, 68, &skip, &data), LB_BODY_ERROR);
}
END_TEST

/*
 * A line of LB_BODY_MAX_LINE bytes passes; one more byte fails at once,
 * without waiting for its end.
 */
static enum lb_body_rc
long_line(const char *start, size_t fill, const char *end, bool *early)
{
	struct lb_body	b;
	size_t		len = strlen(start) + fill, skip, data, off = 0;
	char	       *in = malloc(len + strlen(end));
	enum lb_body_rc rc;

	ck_assert_ptr_nonnull(in);
	memcpy(in, start, strlen(start));
	memset(in + strlen(start), 'a', fill);
	memcpy(in + len, end, strlen(end));
	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	*early = lb_body_next(&b, in, len, &skip, &data) == LB_BODY_ERROR;
	if (!*early)
		off = skip;
	while ((rc = lb_body_next(&b, in + off, len + strlen(end) - off, &skip,
		    &data)) == LB_BODY_DATA)
		off += skip + data;
	free(in);
	return rc;
}

START_TEST(test_line_limit)
{
	bool early;

	/* A chunk-size line: "5;" and a long extension name. */
	ck_assert_int_eq(long_line("5;", LB_BODY_MAX_LINE - 2,
			     "\r\nhello\r\n0\r\n\r\n", &early),
	    LB_BODY_DONE);
	ck_assert(!early);
	ck_assert_int_eq(long_line("5;", LB_BODY_MAX_LINE - 1,
			     "\r\nhello\r\n0\r\n\r\n", &early),
	    LB_BODY_ERROR);
	ck_assert(early);
	/* A trailer line: "0\r\nX:" and a long value. */
	ck_assert_int_eq(long_line("0\r\nX:", LB_BODY_MAX_LINE - 2, "\r\n\r\n",
			     &early),
	    LB_BODY_DONE);
	ck_assert(!early);
	ck_assert_int_eq(long_line("0\r\nX:", LB_BODY_MAX_LINE - 1, "\r\n\r\n",
			     &early),
	    LB_BODY_ERROR);
	ck_assert(early);
}
END_TEST

START_TEST(test_trailer_limit)
{
	struct lb_body	b;
	size_t		skip, data;
	enum lb_body_rc rc;

	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, "0\r\n", 3, &skip, &data),
	    LB_BODY_AGAIN);
	for (int i = 0; i < LB_BODY_MAX_TRAILERS; i++)
		ck_assert_int_eq(lb_body_next(&b, "X: y\r\n", 6, &skip, &data),
		    LB_BODY_AGAIN);
	ck_assert_uint_eq(b.n_trailers, LB_BODY_MAX_TRAILERS);
	/* The last one allowed still ends the body... */
	{
		struct lb_body c = b;

		ck_assert_int_eq(lb_body_next(&c, "\r\n", 2, &skip, &data),
		    LB_BODY_DONE);
	}
	/* ...one more does not. */
	rc = lb_body_next(&b, "X: y\r\n", 6, &skip, &data);
	ck_assert_int_eq(rc, LB_BODY_ERROR);
}
END_TEST

/* ----------------------------------------------------- after the end */

START_TEST(test_done_is_final)
{
	struct lb_body b;
	size_t	       skip, data;

	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, "0\r\n\r\nGET", 8, &skip, &data),
	    LB_BODY_DONE);
	ck_assert_uint_eq(skip, 5);
	ck_assert_int_eq(lb_body_next(&b, "GET", 3, &skip, &data),
	    LB_BODY_DONE);
	ck_assert_uint_eq(skip, 0);
	ck_assert_uint_eq(data, 0);
	ck_assert_int_eq(lb_body_eof(&b), LB_BODY_DONE);
	ck_assert(lb_body_done(&b));
}
END_TEST

START_TEST(test_error_is_final)
{
	struct lb_body b;
	size_t	       skip = 9, data = 9;

	lb_body_init(&b, LB_BODY_CHUNKED, 0);
	ck_assert_int_eq(lb_body_next(&b, "x\r\n", 3, &skip, &data),
	    LB_BODY_ERROR);
	ck_assert_uint_eq(skip + data, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(lb_body_next(&b, "0\r\n\r\n", 5, &skip, &data),
		    LB_BODY_ERROR);
		ck_assert_uint_eq(skip + data, 0);
		ck_assert(!lb_body_done(&b));
	}
	ck_assert_int_eq(lb_body_eof(&b), LB_BODY_ERROR);
	ck_assert(!lb_body_done(&b));
}
END_TEST

/* CLOSE: everything is payload, and only the close ends it. */
START_TEST(test_close_done_only_at_eof)
{
	struct lb_body b;
	size_t	       skip, data;

	lb_body_init(&b, LB_BODY_CLOSE, 0);
	ck_assert_int_eq(lb_body_next(&b, "0\r\n\r\n", 5, &skip, &data),
	    LB_BODY_DATA);
	ck_assert_uint_eq(skip, 0);
	ck_assert_uint_eq(data, 5);
	ck_assert(!lb_body_done(&b));
	ck_assert_int_eq(lb_body_eof(&b), LB_BODY_DONE);
	ck_assert(lb_body_done(&b));
	ck_assert_int_eq(lb_body_next(&b, "more", 4, &skip, &data),
	    LB_BODY_DONE);
	ck_assert_uint_eq(skip + data, 0);
	ck_assert_uint_eq(b.total, 5);
}
END_TEST

static Suite *
body_suite(void)
{
	Suite *s = suite_create("body");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_loop_test(tc, test_table_whole_and_split_alike, 0,
	    (int)NITEMS(cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("length");
	tcase_add_test(tc, test_length_split_at_every_point);
	tcase_add_test(tc, test_length_counts_total_and_remaining);
	tcase_add_test(tc, test_length_bytes_passed_by_splice);
	tcase_add_test(tc, test_length_huge);
	tcase_add_test(tc, test_zero_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_add_test(tc, test_chunked_events_in_order);
	tcase_add_test(tc, test_chunked_data_not_split);
	tcase_add_test(tc, test_chunked_binary_data);
	tcase_add_test(tc, test_chunked_size_overflow);
	tcase_add_test(tc, test_chunked_size_digits_bounded);
	tcase_add_test(tc, test_line_limit);
	tcase_add_test(tc, test_trailer_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("end");
	tcase_add_test(tc, test_done_is_final);
	tcase_add_test(tc, test_error_is_final);
	tcase_add_test(tc, test_close_done_only_at_eof);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(body_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

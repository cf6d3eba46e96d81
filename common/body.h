/*
 * common/body.h -- the framing of an HTTP/1.1 message body (RFC 9112
 * sections 6 and 7.1), decoded without sockets, allocation or libevent:
 * bytes in, events out. The same decoder reads a client's request body
 * and an origin's response body.
 *
 * The caller looks at the start of what it has not consumed yet (one
 * contiguous segment of an evbuffer, say), calls lb_body_next, discards
 * the *skip framing bytes it was told of, moves the *data payload bytes
 * that follow them, and calls again with what is left. Bytes may be split
 * anywhere: fed one at a time, the decoder hands out the same payload and
 * ends in the same state as fed everything at once.
 */
#ifndef LB_BODY_H
#define LB_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lb_body_framing {
	LB_BODY_NONE,	 /* no body at all */
	LB_BODY_LENGTH,	 /* Content-Length bytes */
	LB_BODY_CHUNKED, /* chunked transfer coding */
	LB_BODY_CLOSE,	 /* until the peer closes (responses only) */
};

enum lb_body_rc {
	/* *skip framing bytes consumed; give more bytes */
	LB_BODY_AGAIN,
	/* *skip framing bytes, then *data payload bytes at p + *skip */
	LB_BODY_DATA,
	/* *skip bytes (the last framing bytes) end the message */
	LB_BODY_DONE,
	/* malformed: the stream cannot be trusted */
	LB_BODY_ERROR,
};

/* A chunk-size or trailer line longer than this (CRLF aside): error. */
#define LB_BODY_MAX_LINE 4096
/* More trailer fields than this: error. */
#define LB_BODY_MAX_TRAILERS 64

struct lb_body {
	enum lb_body_framing framing;
	int		     state;	 /* private */
	uint64_t	     remaining;	 /* of the body (LENGTH) or the chunk */
	uint64_t	     total;	 /* payload bytes passed so far */
	size_t		     line_len;	 /* private: bytes of the line so far */
	char		     line[64];	 /* private: a chunk size's digits */
	bool		     cr;	 /* private */
	unsigned	     n_trailers; /* trailer fields seen, and dropped */
};

/* common/body.c */

/*
 * Start decoding a body framed as FRAMING; LENGTH is the Content-Length
 * (LB_BODY_LENGTH only, 0 is a complete body).
 */
void lb_body_init(struct lb_body *, enum lb_body_framing, uint64_t length);
/*
 * Look at P[0..N), the start of what is unread. Sets *skip (framing bytes
 * the caller must discard first) and *data (payload bytes right after
 * them, only with LB_BODY_DATA). Never looks past P+N; consumes at most N
 * bytes (*skip + *data <= N). N may be 0 (returns AGAIN with *skip 0, or
 * DONE for NONE / a LENGTH of 0). For LB_BODY_CLOSE every byte is data,
 * and DONE comes only from lb_body_eof. Payload bytes are handed out as
 * large as possible (never split needlessly): a caller moves them with
 * one evbuffer_remove_buffer.
 *
 * The next call must start right after the bytes consumed. AGAIN consumes
 * all N bytes. After DONE, further calls return DONE with *skip 0 and
 * *data 0: bytes after the body belong to the next message. After ERROR
 * (*skip 0, *data 0) the decoder stays failed.
 */
enum lb_body_rc lb_body_next(struct lb_body *, const char *p, size_t n,
    size_t *skip, size_t *data);
/*
 * The peer closed: LB_BODY_DONE if that ends the body correctly (CLOSE
 * framing, or nothing was expected), else LB_BODY_ERROR (truncated).
 */
enum lb_body_rc lb_body_eof(struct lb_body *);
/* Is the body complete? */
bool lb_body_done(const struct lb_body *);
/*
 * N payload bytes of a LENGTH body went by without the decoder (spliced
 * from socket to socket): count them. N must leave at least one byte of
 * the body, which the decoder then ends with as usual; false otherwise
 * (nothing counted).
 */
bool lb_body_passed(struct lb_body *, uint64_t n);

#endif /* LB_BODY_H */

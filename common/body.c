/*
 * common/body.c -- HTTP/1.1 message body framing, decoded (body.h).
 *
 * Payload is handed out in runs as long as the bytes at hand allow;
 * framing (chunk-size lines, the CRLF after chunk data, trailers) is read
 * a byte at a time, so that nothing needs to be kept across calls but a
 * few counters and the digits of a chunk size.
 */
#include <string.h>

#include "common/body.h"
#include "common/http.h"
#include "common/str.h"

enum state {
	S_LENGTH,	 /* Content-Length payload */
	S_CLOSE,	 /* payload until the peer closes */
	S_SIZE,		 /* the digits of a chunk-size line */
	S_SIZE_EXT,	 /* its extensions (see EXT_SHIFT) */
	S_DATA,		 /* chunk payload */
	S_DATA_CR,	 /* the CR after it */
	S_DATA_LF,	 /* the LF after it */
	S_TRAILER_NAME,	 /* a trailer field's name, or the empty line */
	S_TRAILER_VALUE, /* after its colon */
	S_DONE,
	S_ERROR,
};

/*
 * In S_SIZE_EXT the state of lb_http_chunk_ext_feed rides in the bits of
 * b->state above EXT_SHIFT: extensions may run for LB_BODY_MAX_LINE bytes,
 * which line[] cannot keep, so they are checked as they pass.
 */
#define EXT_SHIFT 8
#define EXT_MASK  ((1 << EXT_SHIFT) - 1)

static enum state
state_of(const struct lb_body *b)
{
	return (enum state)(b->state & EXT_MASK);
}

static void
set_state(struct lb_body *b, enum state st)
{
	b->state = (int)st;
}

static void
set_ext(struct lb_body *b, int ext)
{
	b->state = (int)S_SIZE_EXT | ext << EXT_SHIFT;
}

static int
ext_of(const struct lb_body *b)
{
	return b->state >> EXT_SHIFT;
}

/* A new line begins in state ST. */
static void
line_start(struct lb_body *b, enum state st)
{
	set_state(b, st);
	b->line_len = 0;
	b->cr = false;
}

/* The CRLF of a line was seen: act on the line. -1 when it is bad. */
static int
line_end(struct lb_body *b)
{
	uint64_t size;

	switch (state_of(b)) {
	case S_SIZE:
		/* The line was all digits (or none: refused there). */
		if (lb_http_parse_chunk_size(b->line, b->line_len, &size) == -1)
			return -1;
		b->remaining = size;
		break;
	case S_SIZE_EXT:
		if (!lb_http_chunk_ext_end(ext_of(b)))
			return -1;
		break;
	case S_TRAILER_NAME:
		/* The empty line ends the message; a field needs a colon. */
		if (b->line_len > 0)
			return -1;
		set_state(b, S_DONE);
		return 0;
	case S_TRAILER_VALUE:
		if (b->n_trailers == LB_BODY_MAX_TRAILERS)
			return -1;
		b->n_trailers++;
		line_start(b, S_TRAILER_NAME);
		return 0;
	default:
		return -1;
	}
	/* The end of a chunk-size line. */
	if (b->remaining == 0)
		line_start(b, S_TRAILER_NAME);
	else
		set_state(b, S_DATA);
	return 0;
}

/* One byte of a chunk-size or trailer line. -1 when it cannot be there. */
static int
line_byte(struct lb_body *b, unsigned char c)
{
	uint64_t size;
	int	 ext;

	if (b->cr) {
		if (c != '\n')
			return -1; /* bare CR */
		b->cr = false;
		return line_end(b);
	}
	if (c == '\r') {
		b->cr = true;
		return 0;
	}
	/* Bare LF, NUL and the other controls; a tab may be in values. */
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return -1;
	if (++b->line_len > LB_BODY_MAX_LINE)
		return -1;

	switch (state_of(b)) {
	case S_SIZE:
		if (lb_hexval(c) != -1) {
			/* 16 digits hold any size; line[] keeps 64. */
			if (b->line_len > sizeof(b->line))
				return -1;
			b->line[b->line_len - 1] = (char)c;
			return 0;
		}
		/* The digits are over: their value now, then extensions. */
		if (lb_http_parse_chunk_size(b->line, b->line_len - 1, &size) ==
		    -1)
			return -1;
		b->remaining = size;
		ext = lb_http_chunk_ext_feed(LB_HTTP_EXT_START,
		    (const char *)&c, 1);
		if (ext == -1)
			return -1;
		set_ext(b, ext);
		return 0;
	case S_SIZE_EXT:
		ext = lb_http_chunk_ext_feed(ext_of(b), (const char *)&c, 1);
		if (ext == -1)
			return -1;
		set_ext(b, ext);
		return 0;
	case S_TRAILER_NAME:
		/*
		 * A token, then a colon. White space at the start of a line
		 * (obs-fold) or before the colon is not a tchar: refused.
		 */
		if (c == ':') {
			if (b->line_len == 1)
				return -1;
			set_state(b, S_TRAILER_VALUE);
			return 0;
		}
		return lb_http_is_token((const char *)&c, 1) ? 0 : -1;
	case S_TRAILER_VALUE:
		return 0; /* field-content: anything but controls */
	default:
		return -1;
	}
}

void
lb_body_init(struct lb_body *b, enum lb_body_framing framing, uint64_t length)
{
	memset(b, 0, sizeof(*b));
	b->framing = framing;
	switch (framing) {
	case LB_BODY_NONE:
		set_state(b, S_DONE);
		break;
	case LB_BODY_LENGTH:
		b->remaining = length;
		set_state(b, length == 0 ? S_DONE : S_LENGTH);
		break;
	case LB_BODY_CHUNKED:
		line_start(b, S_SIZE);
		break;
	case LB_BODY_CLOSE:
		set_state(b, S_CLOSE);
		break;
	default:
		set_state(b, S_ERROR);
		break;
	}
}

enum lb_body_rc
lb_body_next(struct lb_body *b, const char *p, size_t n, size_t *skip,
    size_t *data)
{
	size_t i = 0, k;

	*skip = 0;
	*data = 0;
	for (;;) {
		switch (state_of(b)) {
		case S_DONE:
			*skip = i;
			return LB_BODY_DONE;
		case S_ERROR:
			return LB_BODY_ERROR;
		case S_CLOSE:
			if (n == 0)
				return LB_BODY_AGAIN;
			*data = n;
			b->total += n;
			return LB_BODY_DATA;
		case S_LENGTH:
		case S_DATA:
			if (i == n) {
				*skip = i;
				return LB_BODY_AGAIN;
			}
			k = n - i;
			if (k > b->remaining)
				k = (size_t)b->remaining;
			b->remaining -= k;
			b->total += k;
			if (b->remaining == 0)
				set_state(b,
				    state_of(b) == S_LENGTH ? S_DONE :
							      S_DATA_CR);
			*skip = i;
			*data = k;
			return LB_BODY_DATA;
		case S_DATA_CR:
		case S_DATA_LF:
			if (i == n) {
				*skip = i;
				return LB_BODY_AGAIN;
			}
			/* Exactly CRLF after a chunk's data. */
			if (state_of(b) == S_DATA_CR && p[i] == '\r')
				set_state(b, S_DATA_LF);
			else if (state_of(b) == S_DATA_LF && p[i] == '\n')
				line_start(b, S_SIZE);
			else
				goto fail;
			i++;
			break;
		default:
			/* A chunk-size or trailer line. */
			if (i == n) {
				*skip = i;
				return LB_BODY_AGAIN;
			}
			if (line_byte(b, (unsigned char)p[i++]) == -1)
				goto fail;
			break;
		}
	}
fail:
	set_state(b, S_ERROR);
	return LB_BODY_ERROR;
}

enum lb_body_rc
lb_body_eof(struct lb_body *b)
{
	switch (state_of(b)) {
	case S_DONE:
		return LB_BODY_DONE;
	case S_CLOSE:
		set_state(b, S_DONE);
		return LB_BODY_DONE;
	default:
		set_state(b, S_ERROR);
		return LB_BODY_ERROR;
	}
}

bool
lb_body_done(const struct lb_body *b)
{
	return state_of(b) == S_DONE;
}

bool
lb_body_passed(struct lb_body *b, uint64_t n)
{
	if (state_of(b) != S_LENGTH || n >= b->remaining)
		return false;
	b->remaining -= n;
	b->total += n;
	return true;
}

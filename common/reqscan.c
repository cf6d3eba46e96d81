/*
 * common/reqscan.c -- strict request framing, byte by byte (reqscan.h).
 */
#include <string.h>
#include <strings.h>

#include "common/http.h"
#include "common/reqscan.h"

enum phase {
	P_IDLE, /* before a request line (empty lines allowed) */
	P_REQLINE,
	P_HEADER,
	P_BODY, /* Content-Length bytes */
	P_CHUNK_SIZE,
	P_CHUNK_DATA,
	P_CHUNK_END, /* the CRLF after chunk data */
	P_TRAILER,
	P_FAILED_400,
	P_FAILED_431,
};

void
lb_reqscan_init(struct lb_reqscan *s, uint64_t max_head)
{
	memset(s, 0, sizeof(*s));
	s->phase = P_IDLE;
	s->max_head = max_head;
}

enum lb_scan_wait
lb_reqscan_waiting(const struct lb_reqscan *s)
{
	switch (s->phase) {
	case P_REQLINE:
	case P_HEADER:
		return LB_SCAN_HEAD;
	case P_BODY:
	case P_CHUNK_SIZE:
	case P_CHUNK_DATA:
	case P_CHUNK_END:
	case P_TRAILER:
		return LB_SCAN_BODY;
	default:
		return LB_SCAN_IDLE;
	}
}

static int
fail(struct lb_reqscan *s, int code)
{
	s->phase = code == 431 ? P_FAILED_431 : P_FAILED_400;
	return code;
}

static void
message_done(struct lb_reqscan *s)
{
	s->phase = P_IDLE;
	s->requests++;
}

/*
 * evhttp 2.1 reads a body only for POST, PUT and PATCH: for any other
 * method the bytes after the head are taken as the next request. A body
 * on those would be framed one way here and another way there.
 */
static bool
method_takes_body(const struct lb_reqscan *s)
{
	static const char *const with_body[] = { "POST", "PUT", "PATCH" };

	for (size_t i = 0; i < 3; i++)
		if (s->rl_part == 2 &&
		    strlen(with_body[i]) == s->rl_method_len &&
		    memcmp(s->method, with_body[i], s->rl_method_len) == 0)
			return true;
	return false;
}

/* One byte of the request line (CR and LF handled by the caller). */
static int
request_line_byte(struct lb_reqscan *s, unsigned char c)
{
	/* A tab passes the caller's control check: not here (RFC 9112 3). */
	if (c == '\t')
		return 400;
	if (c == ' ') {
		/* Exactly one SP between the three parts. */
		if (s->rl_part == 2 || s->rl_len == 0)
			return 400;
		if (s->rl_part == 0)
			s->rl_method_len = s->rl_len;
		s->rl_part++;
		s->rl_len = 0;
		return 0;
	}
	switch (s->rl_part) {
	case 0:
		if (!lb_http_is_token((const char *)&c, 1))
			return 400;
		if (s->rl_len < sizeof(s->method))
			s->method[s->rl_len] = (char)c;
		break;
	case 2:
		if (s->rl_len >= sizeof(s->version))
			return 400;
		s->version[s->rl_len] = (char)c;
		break;
	}
	s->rl_len++;
	return 0;
}

/* The request line ended: is its version HTTP/1.0 or HTTP/1.1? */
static int
request_line_done(struct lb_reqscan *s)
{
	if (s->rl_part != 2 || s->rl_len != 8 ||
	    memcmp(s->version, "HTTP/1.", 7) != 0 ||
	    (s->version[7] != '0' && s->version[7] != '1'))
		return 400;
	s->http10 = s->version[7] == '0';
	return 0;
}

/* The blank line: is the head's framing unambiguous? */
static int
head_check(struct lb_reqscan *s)
{
	if (s->n_te > 0 && (s->n_cl > 0 || s->http10))
		return 400;
	if ((s->chunked || s->cl > 0) && !method_takes_body(s))
		return 400;
	return 0;
}

/* The blank line: the head is over; where does the body end? */
static int
head_done(struct lb_reqscan *s)
{
	int rc;

	if ((rc = head_check(s)) != 0)
		return rc;
	if (s->chunked) {
		s->phase = P_CHUNK_SIZE;
		s->serial++;
	} else if (s->cl > 0) {
		s->phase = P_BODY;
		s->remaining = s->cl;
		s->serial++;
	} else {
		message_done(s);
	}
	return 0;
}

/* A header (or trailer) field line, without its CRLF. */
static int
header_line(struct lb_reqscan *s, bool trailer)
{
	const char *l = s->line, *colon, *v, *e;
	size_t	    n = s->line_len;

	/* Obsolete line folding (RFC 9112 section 5.2): refuse. */
	if (l[0] == ' ' || l[0] == '\t')
		return 400;
	if (++s->n_headers > LB_SCAN_MAX_HEADERS)
		return 431;
	if ((colon = memchr(l, ':',
		 n < sizeof(s->line) ? n : sizeof(s->line))) == NULL)
		return n > sizeof(s->line) ? 431 : 400;
	/* No white space between name and colon (section 5.1). */
	if (!lb_http_is_token(l, (size_t)(colon - l)))
		return 400;
	if (trailer)
		return 0;
	v = colon + 1;
	e = l + (n < sizeof(s->line) ? n : sizeof(s->line));
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(colon - l) == 14 &&
	    strncasecmp(l, "Content-Length", 14) == 0) {
		uint64_t cl;

		if (n > sizeof(s->line) ||
		    lb_http_parse_content_length(v, (size_t)(e - v), &cl) ==
			-1 ||
		    (s->n_cl > 0 && cl != s->cl))
			return 400;
		s->cl = cl;
		s->n_cl++;
	} else if ((size_t)(colon - l) == 17 &&
	    strncasecmp(l, "Transfer-Encoding", 17) == 0) {
		/* Only "chunked" alone: no other coding is understood. */
		if (e - v != 7 || strncasecmp(v, "chunked", 7) != 0 ||
		    s->n_te > 0)
			return 400;
		s->chunked = true;
		s->n_te++;
	}
	return 0;
}

/* A complete line (CRLF seen) in the current phase. */
static int
line_done(struct lb_reqscan *s)
{
	uint64_t size;
	int	 rc = 0;

	switch (s->phase) {
	case P_REQLINE:
		if ((rc = request_line_done(s)) != 0)
			return rc;
		s->phase = P_HEADER;
		return 0;
	case P_HEADER:
		if (s->line_len == 0)
			return head_done(s);
		return header_line(s, false);
	case P_CHUNK_SIZE:
		/*
		 * Chunk extensions are refused, not ignored: evhttp 2.1 fails
		 * on "5;x=y" (with a misleading 413) and skips " ;x=y", so
		 * the only way to be consistent is to take neither.
		 */
		if (s->line_len > sizeof(s->line) ||
		    memchr(s->line, ';', s->line_len) != NULL ||
		    lb_http_parse_chunk_size(s->line, s->line_len, &size) == -1)
			return 400;
		if (size == 0) {
			s->phase = P_TRAILER;
		} else {
			s->phase = P_CHUNK_DATA;
			s->remaining = size;
		}
		return 0;
	case P_TRAILER:
		if (s->line_len == 0) {
			message_done(s);
			return 0;
		}
		return header_line(s, true);
	}
	return 400;
}

static void
head_start(struct lb_reqscan *s)
{
	s->phase = P_REQLINE;
	s->head_bytes = 0;
	s->n_headers = 0;
	s->n_cl = s->n_te = 0;
	s->cl = 0;
	s->chunked = false;
	s->http10 = false;
	s->rl_part = 0;
	s->rl_len = 0;
	s->rl_method_len = 0;
	s->line_len = 0;
	s->cr = false;
	s->serial++;
}

/*
 * The scanner proper. With HEAD_ONLY it returns as soon as a head is
 * complete, *USED saying how many bytes of P made it.
 */
static int
scan(struct lb_reqscan *s, const char *p, size_t n, bool head_only,
    size_t *used)
{
	const char *start = p, *end = p + n;
	int	    rc;

	while (p < end) {
		unsigned char c;

		switch (s->phase) {
		case P_FAILED_400:
			return 400;
		case P_FAILED_431:
			return 431;
		case P_BODY:
		case P_CHUNK_DATA: {
			size_t k = (size_t)(end - p);

			if (k > s->remaining)
				k = (size_t)s->remaining;
			p += k;
			s->remaining -= k;
			if (s->remaining == 0) {
				if (s->phase == P_BODY)
					message_done(s);
				else
					s->phase = P_CHUNK_END;
			}
			continue;
		}
		case P_CHUNK_END:
			/* Exactly CRLF after a chunk's data. */
			c = (unsigned char)*p++;
			if (!s->cr && c == '\r') {
				s->cr = true;
				continue;
			}
			if (!s->cr || c != '\n')
				return fail(s, 400);
			s->cr = false;
			s->phase = P_CHUNK_SIZE;
			s->line_len = 0;
			continue;
		case P_IDLE:
			c = (unsigned char)*p;
			/* Empty lines before a request may be ignored. */
			if (c == '\r' && !s->cr) {
				s->cr = true;
				p++;
				continue;
			}
			if (s->cr) {
				if (c != '\n')
					return fail(s, 400);
				s->cr = false;
				p++;
				continue;
			}
			head_start(s);
			continue;
		default:
			break;
		}

		/* A line: request line, header, chunk size or trailer. */
		c = (unsigned char)*p++;
		if (s->phase == P_REQLINE || s->phase == P_HEADER ||
		    s->phase == P_TRAILER) {
			if (++s->head_bytes > s->max_head)
				return fail(s, 431);
		}
		if (s->cr) {
			if (c != '\n')
				return fail(s, 400); /* bare CR */
			s->cr = false;
			if (head_only && s->phase == P_HEADER &&
			    s->line_len == 0) {
				if ((rc = head_check(s)) != 0)
					return fail(s, rc);
				s->phase = P_IDLE;
				s->head_complete = true;
				*used = (size_t)(p - start);
				return 0;
			}
			if ((rc = line_done(s)) != 0)
				return fail(s, rc);
			s->line_len = 0;
			continue;
		}
		if (c == '\r') {
			s->cr = true;
			continue;
		}
		/* Bare LF, NUL and other controls (tab is fine in values). */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(s, 400);
		if (s->phase == P_REQLINE) {
			if ((rc = request_line_byte(s, c)) != 0)
				return fail(s, rc);
			continue;
		}
		if (s->line_len < sizeof(s->line))
			s->line[s->line_len] = (char)c;
		s->line_len++;
	}
	*used = n;
	return 0;
}

int
lb_reqscan_feed(struct lb_reqscan *s, const char *p, size_t n)
{
	size_t used;

	return scan(s, p, n, false, &used);
}

int
lb_reqscan_head(struct lb_reqscan *s, const char *p, size_t n, size_t *used)
{
	s->head_complete = false;
	return scan(s, p, n, true, used);
}

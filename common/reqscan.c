/*
 * common/reqscan.c -- strict request framing, byte by byte (reqscan.h).
 */
#include <string.h>
#include <strings.h>

#include "common/body.h"
#include "common/http.h"
#include "common/reqscan.h"

enum phase {
	P_IDLE, /* before a request line (empty lines allowed) */
	P_REQLINE,
	P_HEADER,
	P_BODY, /* lb_reqscan_feed: a body, framed by s->body */
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
		s->rl_part++;
		s->rl_len = 0;
		return 0;
	}
	switch (s->rl_part) {
	case 0:
		if (!lb_http_is_token((const char *)&c, 1))
			return 400;
		if (s->rl_len < sizeof(s->method) - 1) {
			s->method[s->rl_len] = (char)c;
			s->method[s->rl_len + 1] = '\0';
		} else {
			s->method[0] = '\0'; /* too long to keep */
		}
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

/*
 * The request line ended: is its version HTTP/1.x? Any minor version is
 * taken, and served as the highest we speak, 1.1 (RFC 9110 section 2.5).
 */
static int
request_line_done(struct lb_reqscan *s)
{
	if (s->rl_part != 2 || s->rl_len != 8 ||
	    memcmp(s->version, "HTTP/1.", 7) != 0 || s->version[7] < '0' ||
	    s->version[7] > '9')
		return 400;
	s->http10 = s->version[7] == '0';
	return 0;
}

/*
 * The blank line: is the head's framing unambiguous? Any method may have
 * a body (GET to a search API, DELETE with one): it is framed the same
 * way whatever the method (RFC 9112 section 6).
 */
static int
head_check(struct lb_reqscan *s)
{
	if (s->n_te > 0 && (s->n_cl > 0 || s->http10))
		return 400;
	return 0;
}

/* A header field line, without its CRLF. */
static int
header_line(struct lb_reqscan *s)
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
	v = colon + 1;
	e = l + (n < sizeof(s->line) ? n : sizeof(s->line));
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(colon - l) == 14 &&
	    strncasecmp(l, "Content-Length", 14) == 0) {
		uint64_t cl;

		/* Past the bytes kept, only white space may follow. */
		if (s->line_cut ||
		    lb_http_parse_content_length(v, (size_t)(e - v), &cl) ==
			-1 ||
		    (s->n_cl > 0 && cl != s->cl))
			return 400;
		s->cl = cl;
		s->n_cl++;
	} else if ((size_t)(colon - l) == 4 && strncasecmp(l, "Host", 4) == 0) {
		if (s->host[0] == '\0' && !s->line_cut &&
		    (size_t)(e - v) < sizeof(s->host)) {
			memcpy(s->host, v, (size_t)(e - v));
			s->host[e - v] = '\0';
		}
	} else if ((size_t)(colon - l) == 17 &&
	    strncasecmp(l, "Transfer-Encoding", 17) == 0) {
		/* Only "chunked" alone: no other coding is understood. */
		if (s->line_cut || e - v != 7 ||
		    strncasecmp(v, "chunked", 7) != 0 || s->n_te > 0)
			return 400;
		s->chunked = true;
		s->n_te++;
	}
	return 0;
}

/* A complete line (CRLF seen) of the head, but its last. */
static int
line_done(struct lb_reqscan *s)
{
	if (s->phase == P_REQLINE) {
		s->phase = P_HEADER;
		return request_line_done(s);
	}
	return header_line(s);
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
	s->line_len = 0;
	s->line_cut = false;
	s->cr = false;
	s->method[0] = '\0';
	s->host[0] = '\0';
	s->serial++;
}

/*
 * The head scanner: it returns as soon as a head is complete, *USED
 * saying how many bytes of P made it.
 */
static int
scan(struct lb_reqscan *s, const char *p, size_t n, size_t *used)
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

		/* A line of the head: the request line or a field. */
		c = (unsigned char)*p++;
		if (++s->head_bytes > s->max_head)
			return fail(s, 431);
		if (s->cr) {
			if (c != '\n')
				return fail(s, 400); /* bare CR */
			s->cr = false;
			if (s->phase == P_HEADER && s->line_len == 0) {
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
			s->line_cut = false;
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
		else if (c != ' ' && c != '\t')
			s->line_cut = true;
		s->line_len++;
	}
	*used = n;
	return 0;
}

int
lb_reqscan_head(struct lb_reqscan *s, const char *p, size_t n, size_t *used)
{
	s->head_complete = false;
	return scan(s, p, n, used);
}

/*
 * A connection's bytes: heads by the scanner above, each body by the
 * decoder the client side uses (common/body.c), as worker/client.c
 * composes them.
 */
int
lb_reqscan_feed(struct lb_reqscan *s, const char *p, size_t n)
{
	size_t used, skip, data;
	int    rc;

	while (n > 0) {
		if (s->phase != P_BODY) {
			if ((rc = lb_reqscan_head(s, p, n, &used)) != 0 ||
			    !s->head_complete)
				return rc;
			p += used;
			n -= used;
			s->serial++;
			if (s->chunked)
				lb_body_init(&s->body, LB_BODY_CHUNKED, 0);
			else if (s->cl > 0)
				lb_body_init(&s->body, LB_BODY_LENGTH, s->cl);
			else {
				message_done(s);
				continue;
			}
			s->phase = P_BODY;
			continue;
		}
		if (lb_body_next(&s->body, p, n, &skip, &data) == LB_BODY_ERROR)
			return fail(s, 400);
		p += skip + data;
		n -= skip + data;
		if (lb_body_done(&s->body))
			message_done(s);
	}
	return s->phase == P_FAILED_400 ? 400 :
	    s->phase == P_FAILED_431	? 431 :
					  0;
}

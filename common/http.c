/*
 * common/http.c -- strict parsing of what origins send (see http.h).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/http.h"
#include "common/str.h"

/* tchar of RFC 9110 section 5.6.2. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool
lb_http_is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* The next line from *P (bounded by END): its length without CR LF. */
static const char *
next_line(const char **p, const char *end, size_t *len)
{
	const char *start = *p, *nl;

	nl = memchr(start, '\n', (size_t)(end - start));
	if (nl == NULL)
		return NULL;
	*len = (size_t)(nl - start);
	if (*len > 0 && start[*len - 1] == '\r')
		(*len)--;
	*p = nl + 1;
	return start;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

ssize_t
lb_http_parse_response(const char *buf, size_t len,
    struct lb_http_response *resp, struct lb_http_header *hdrs, size_t max)
{
	const char *p = buf, *end = buf + len, *line;
	size_t	    n;

	memset(resp, 0, sizeof(*resp));
	/* Reject garbage as soon as we see it, not after a timeout. */
	if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0)
		return -1;
	if (len < 5 && memcmp(buf, "HTTP/", len) != 0)
		return -1;
	if ((line = next_line(&p, end, &n)) == NULL)
		return 0;
	/* HTTP/1.x SP 3DIGIT [SP reason] */
	if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || !is_digit(line[7]) ||
	    line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) ||
	    !is_digit(line[11]) || (n > 12 && line[12] != ' '))
		return -1;
	resp->minor = (unsigned)(line[7] - '0');
	resp->status = (unsigned)((line[9] - '0') * 100 +
	    (line[10] - '0') * 10 + (line[11] - '0'));
	if (resp->status < 100)
		return -1;
	resp->reason = n > 13 ? line + 13 : line + n;
	resp->reason_len = n > 13 ? n - 13 : 0;
	for (size_t i = 0; i < resp->reason_len; i++) {
		unsigned char c = (unsigned char)resp->reason[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}

	for (;;) {
		const char *colon, *v, *ve;

		if ((line = next_line(&p, end, &n)) == NULL)
			return 0;
		if (n == 0)
			break;
		/* Obsolete line folding: refuse rather than guess. */
		if (line[0] == ' ' || line[0] == '\t')
			return -1;
		if ((colon = memchr(line, ':', n)) == NULL ||
		    !lb_http_is_token(line, (size_t)(colon - line)))
			return -1;
		v = colon + 1;
		ve = line + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (const char *q = v; q < ve; q++) {
			unsigned char c = (unsigned char)*q;

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -1;
		}
		if (hdrs != NULL) {
			if (resp->n_headers == max)
				return -1;
			hdrs[resp->n_headers].name = line;
			hdrs[resp->n_headers].name_len = (size_t)(colon - line);
			hdrs[resp->n_headers].value = v;
			hdrs[resp->n_headers].value_len = (size_t)(ve - v);
		}
		resp->n_headers++;
	}
	return (ssize_t)(p - buf);
}

/* Where lb_http_chunk_ext_feed is in the grammar of http.h. */
enum ext_state {
	EXT_AFTER = LB_HTTP_EXT_START, /* after the digits or an extension */
	EXT_AFTER_WS,		       /* ... and white space */
	EXT_SEMI,		       /* after ";" (and white space) */
	EXT_NAME,		       /* in a name */
	EXT_NAME_WS,		       /* after a name and white space */
	EXT_EQ,			       /* after "=" (and white space) */
	EXT_TOKEN,		       /* in a token value */
	EXT_QUOTED,		       /* in a quoted string */
	EXT_QPAIR,		       /* after a backslash in it */
};

static bool
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* One byte of a chunk-ext; -1 when it cannot be there. */
static int
ext_byte(enum ext_state st, unsigned char c)
{
	switch (st) {
	case EXT_AFTER:
	case EXT_AFTER_WS:
		if (is_ws(c))
			return EXT_AFTER_WS;
		return c == ';' ? EXT_SEMI : -1;
	case EXT_SEMI:
		if (is_ws(c))
			return EXT_SEMI;
		return is_tchar(c) ? EXT_NAME : -1;
	case EXT_NAME:
	case EXT_NAME_WS:
		if (st == EXT_NAME && is_tchar(c))
			return EXT_NAME;
		if (is_ws(c))
			return EXT_NAME_WS;
		if (c == ';')
			return EXT_SEMI;
		return c == '=' ? EXT_EQ : -1;
	case EXT_EQ:
		if (is_ws(c))
			return EXT_EQ;
		if (c == '"')
			return EXT_QUOTED;
		return is_tchar(c) ? EXT_TOKEN : -1;
	case EXT_TOKEN:
		if (is_tchar(c))
			return EXT_TOKEN;
		if (is_ws(c))
			return EXT_AFTER_WS;
		return c == ';' ? EXT_SEMI : -1;
	case EXT_QUOTED:
		/* qdtext: HTAB, SP, VCHAR but '"' and '\\', obs-text. */
		if (c == '"')
			return EXT_AFTER;
		if (c == '\\')
			return EXT_QPAIR;
		return c == '\t' || (c >= 0x20 && c != 0x7f) ? EXT_QUOTED : -1;
	case EXT_QPAIR:
		return c == '\t' || (c >= 0x20 && c != 0x7f) ? EXT_QUOTED : -1;
	}
	return -1;
}

int
lb_http_chunk_ext_feed(int state, const char *p, size_t n)
{
	for (size_t i = 0; i < n && state != -1; i++)
		state = ext_byte((enum ext_state)state, (unsigned char)p[i]);
	return state;
}

bool
lb_http_chunk_ext_end(int state)
{
	return state == EXT_AFTER || state == EXT_NAME || state == EXT_TOKEN;
}

int
lb_http_parse_chunk_size(const char *line, size_t len, uint64_t *size)
{
	uint64_t v = 0;
	size_t	 i = 0;
	int	 d, ext;

	/* No sign, no "0x", no leading white space: 1*HEXDIG. */
	for (; i < len && (d = lb_hexval(line[i])) != -1; i++) {
		if (v > (UINT64_MAX >> 4))
			return -1;
		v = (v << 4) | (uint64_t)d;
	}
	if (i == 0)
		return -1;
	ext = lb_http_chunk_ext_feed(LB_HTTP_EXT_START, line + i, len - i);
	if (!lb_http_chunk_ext_end(ext))
		return -1;
	*size = v;
	return 0;
}

int
lb_http_parse_content_length(const char *value, size_t len, uint64_t *out)
{
	uint64_t first = 0;
	bool	 have = false;
	size_t	 i = 0;

	while (i < len) {
		uint64_t v = 0;
		size_t	 start;

		while (i < len && (value[i] == ' ' || value[i] == '\t'))
			i++;
		start = i;
		for (; i < len && is_digit(value[i]); i++) {
			if (v > (UINT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (uint64_t)(value[i] - '0');
		}
		if (i == start)
			return -1;
		while (i < len && (value[i] == ' ' || value[i] == '\t'))
			i++;
		if (i < len && value[i] != ',')
			return -1;
		if (i < len)
			i++;
		if (have && v != first)
			return -1;
		first = v;
		have = true;
		if (i == len && value[len - 1] == ',')
			return -1;
	}
	if (!have)
		return -1;
	*out = first;
	return 0;
}

/*
 * The one list of the headers lbmaster manages (common/http.h says what
 * each flag means). Proxy-Authenticate and Proxy-Authorization are hop by
 * hop but not framing: a route may set its own for the next hop.
 */
static const struct {
	const char *name;
	size_t	    len;
	unsigned    flags;
} managed[] = {
	{ LB_LIT("Connection"), LB_HTTP_HOP | LB_HTTP_FRAMING },
	{ LB_LIT("Keep-Alive"), LB_HTTP_HOP | LB_HTTP_FRAMING },
	{ LB_LIT("Proxy-Connection"), LB_HTTP_HOP | LB_HTTP_FRAMING },
	{ LB_LIT("Proxy-Authenticate"), LB_HTTP_HOP },
	{ LB_LIT("Proxy-Authorization"), LB_HTTP_HOP },
	{ LB_LIT("TE"), LB_HTTP_HOP | LB_HTTP_FRAMING },
	{ LB_LIT("Trailer"), LB_HTTP_HOP | LB_HTTP_FRAMING },
	{ LB_LIT("Transfer-Encoding"), LB_HTTP_HOP | LB_HTTP_FRAMING },
	{ LB_LIT("Upgrade"), LB_HTTP_HOP | LB_HTTP_FRAMING },
	{ LB_LIT("Content-Length"), LB_HTTP_FRAMING },
	{ LB_LIT("Expect"), LB_HTTP_FRAMING },
	{ LB_LIT("Host"), LB_HTTP_OURS },
	{ LB_LIT("X-Forwarded-For"), LB_HTTP_OURS },
	{ LB_LIT("X-Forwarded-Proto"), LB_HTTP_OURS },
	{ LB_LIT("X-Forwarded-Host"), LB_HTTP_OURS },
	/* Mutual TLS's: never what a client says of itself. */
	{ LB_LIT("X-Client-Cert-Subject"), LB_HTTP_OURS },
};

unsigned
lb_http_managed_n(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++)
		if (managed[i].len == len &&
		    strncasecmp(name, managed[i].name, len) == 0)
			return managed[i].flags;
	return 0;
}

unsigned
lb_http_managed(const char *name)
{
	return lb_http_managed_n(name, strlen(name));
}

bool
lb_http_is_hop_by_hop_n(const char *name, size_t len)
{
	return (lb_http_managed_n(name, len) & LB_HTTP_HOP) != 0;
}

bool
lb_http_is_hop_by_hop(const char *name)
{
	return lb_http_is_hop_by_hop_n(name, strlen(name));
}

bool
lb_http_list_has_n(const char *value, size_t len, const char *token,
    size_t tlen)
{
	const char *p = value, *end = value + len;

	while (p < end) {
		const char *s, *e;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		s = p;
		while (p < end && *p != ',')
			p++;
		e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tlen && strncasecmp(s, token, tlen) == 0)
			return true;
	}
	return false;
}

bool
lb_http_list_has(const char *value, const char *token)
{
	return lb_http_list_has_n(value, strlen(value), token, strlen(token));
}

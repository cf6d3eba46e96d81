/*
 * tests/fuzz/fuzz_http.c -- common/http.c under what a hostile origin
 * could send.
 *
 * The input is a response head (and whatever follows it); its first line
 * is also a chunk-size line and a Content-Length value, and so is the
 * whole input.
 *
 * Invariants of lb_http_parse_response: the length returned is at most the
 * input's; the status is 100-999; every name and value points inside the
 * head, names are tokens, values hold no control byte and no surrounding
 * blank; the head alone parses to the same length, any shorter prefix of
 * it asks for more bytes, and a head that asks for more still does so one
 * byte shorter (it was not garbage then either). No more than MAX headers;
 * without a table (counting only) the same verdict and count, unless the
 * table was too small.
 * The chunk-size and Content-Length parsers agree with a plain reading of
 * the digits they accept.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "tests/fuzz/fuzz.h"

static bool
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/*
 * An exact-size copy of the first LEN bytes of DATA, so that ASan sees a
 * read past them; free() it once the results pointing into it are used.
 */
static char *
copy_of(const uint8_t *data, size_t len)
{
	char *copy;

	if ((copy = malloc(len ? len : 1)) == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, data, len);
	return copy;
}

/* lb_http_parse_response on the first LEN bytes, results unused. */
static ssize_t
parse_prefix(const uint8_t *data, size_t len, size_t max)
{
	struct lb_http_response r;
	struct lb_http_header	h[LB_HTTP_MAX_HEADERS];
	char		       *copy = copy_of(data, len);
	ssize_t			rc;

	rc = lb_http_parse_response(copy, len, &r, h, max);
	free(copy);
	return rc;
}

static void
check_head(const char *buf, size_t len, ssize_t rc,
    const struct lb_http_response *r, const struct lb_http_header *h,
    size_t max)
{
	const char *end = buf + rc;

	if (rc < -1 || (rc > 0 && (size_t)rc > len))
		fuzz_fail("parse returned %zd for %zu bytes", rc, len);
	if (rc <= 0)
		return;
	if (rc < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[rc - 1] != '\n')
		fuzz_fail("head of %zd bytes is not a head", rc);
	if (r->status < 100 || r->status > 999 || r->minor > 9)
		fuzz_fail("status %u, minor %u", r->status, r->minor);
	if (r->n_headers > max)
		fuzz_fail("%zu headers, max %zu", r->n_headers, max);
	if (r->reason < buf || r->reason + r->reason_len > end)
		fuzz_fail("reason outside the head");
	for (size_t i = 0; i < r->reason_len; i++)
		if (is_ctl((unsigned char)r->reason[i]))
			fuzz_fail("control byte in the reason");
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct lb_http_header *x = &h[i];

		if (x->name < buf || x->name + x->name_len > end ||
		    x->value < buf || x->value + x->value_len > end)
			fuzz_fail("header %zu outside the head", i);
		if (!lb_http_is_token(x->name, x->name_len))
			fuzz_fail("header %zu: name not a token", i);
		if (x->name[x->name_len] != ':')
			fuzz_fail("header %zu: name not followed by ':'", i);
		for (size_t j = 0; j < x->value_len; j++)
			if (is_ctl((unsigned char)x->value[j]))
				fuzz_fail("header %zu: control byte", i);
		if (x->value_len > 0 &&
		    (x->value[0] == ' ' || x->value[0] == '\t' ||
			x->value[x->value_len - 1] == ' ' ||
			x->value[x->value_len - 1] == '\t'))
			fuzz_fail("header %zu: value not trimmed", i);
		if (i > 0 && x->name <= h[i - 1].value)
			fuzz_fail("header %zu: out of order", i);
	}
}

static void
fuzz_response(const uint8_t *data, size_t size, size_t max)
{
	struct lb_http_response r;
	struct lb_http_header	h[LB_HTTP_MAX_HEADERS];
	char		       *buf = copy_of(data, size);
	ssize_t			rc, rc2;

	struct lb_http_response counted;

	rc = lb_http_parse_response(buf, size, &r, h, max);
	check_head(buf, size, rc, &r, h, max);
	/*
	 * Without a table the verdict is the same, except that a head
	 * refused for having more than MAX fields is taken, with more.
	 */
	rc2 = lb_http_parse_response(buf, size, &counted, NULL, 0);
	if (rc != -1 && (rc2 != rc || counted.n_headers != r.n_headers))
		fuzz_fail("counting gives %zd (%zu fields), storing %zd (%zu)",
		    rc2, counted.n_headers, rc, r.n_headers);
	if (rc == -1 && rc2 != -1 && counted.n_headers <= max)
		fuzz_fail("refused with a table of %zu, but counting takes "
			  "%zu fields",
		    max, counted.n_headers);
	free(buf);
	if (rc > 0) {
		/* The head alone is the same head... */
		if ((rc2 = parse_prefix(data, (size_t)rc, max)) != rc)
			fuzz_fail("head alone parses to %zd, not %zd", rc2, rc);
		/* ...and one byte less of it is not enough. */
		if ((rc2 = parse_prefix(data, (size_t)rc - 1, max)) != 0)
			fuzz_fail("head less one byte gives %zd", rc2);
	} else if (rc == 0 && size > 0) {
		if ((rc2 = parse_prefix(data, size - 1, max)) != 0)
			fuzz_fail("needs more, but a byte less gives %zd", rc2);
		if ((rc2 = parse_prefix(data, size / 2, max)) != 0)
			fuzz_fail("needs more, but half gives %zd", rc2);
	}
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
fuzz_chunk(const char *s, size_t len)
{
	uint64_t v = 0x5a5a, want = 0;
	size_t	 i = 0, sig = 0;
	int	 d;

	if (lb_http_parse_chunk_size(s, len, &v) == -1) {
		if (v != 0x5a5a)
			fuzz_fail("refused chunk size, yet wrote %llu",
			    (unsigned long long)v);
		return;
	}
	for (; i < len && (d = hexval((unsigned char)s[i])) != -1; i++) {
		if (want != 0 || d != 0)
			sig++;
		want = want << 4 | (uint64_t)d;
	}
	if (i == 0 || sig > 16)
		fuzz_fail("chunk size \"%.*s\" accepted", (int)len, s);
	if (v != want)
		fuzz_fail("chunk size \"%.*s\" is %llu, not %llu", (int)len, s,
		    (unsigned long long)v, (unsigned long long)want);
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < len && s[i] != ';')
		fuzz_fail("chunk size \"%.*s\": junk accepted", (int)len, s);
	for (; i < len; i++)
		if (is_ctl((unsigned char)s[i]))
			fuzz_fail("chunk extension with a control byte");
}

static void
fuzz_content_length(const char *s, size_t len)
{
	uint64_t v = 0x5a5a, first = 0;
	size_t	 i = 0, n = 0;

	if (lb_http_parse_content_length(s, len, &v) == -1) {
		if (v != 0x5a5a)
			fuzz_fail("refused length, yet wrote %llu",
			    (unsigned long long)v);
		return;
	}
	/* Accepted: digit runs, all equal, between blanks and commas. */
	if (len == 0 || s[len - 1] == ',')
		fuzz_fail("Content-Length \"%.*s\" accepted", (int)len, s);
	while (i < len) {
		uint64_t x = 0;
		size_t	 start;

		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		start = i;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (x > UINT64_MAX / 10)
				fuzz_fail("overflowing length accepted");
			x = x * 10 + (uint64_t)(s[i] - '0');
		}
		if (i == start)
			fuzz_fail("empty element in \"%.*s\" accepted",
			    (int)len, s);
		if (n++ == 0)
			first = x;
		else if (x != first)
			fuzz_fail("differing lengths in \"%.*s\" accepted",
			    (int)len, s);
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < len && s[i++] != ',')
			fuzz_fail("junk in \"%.*s\" accepted", (int)len, s);
	}
	if (v != first)
		fuzz_fail("Content-Length \"%.*s\" is %llu, not %llu", (int)len,
		    s, (unsigned long long)v, (unsigned long long)first);
}

int
lb_fuzz_http(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl;
	size_t	    line;

	fuzz_response(data, size, LB_HTTP_MAX_HEADERS);
	/* A small limit too, so that "too many" is reached often. */
	if (size > 0)
		fuzz_response(data, size, data[0] % 4);

	nl = size > 0 ? memchr(s, '\n', size) : NULL;
	line = nl != NULL ? (size_t)(nl - s) : size;
	if (line > 0 && s[line - 1] == '\r')
		line--;
	fuzz_chunk(s, line);
	fuzz_chunk(s, size);
	fuzz_content_length(s, line);
	fuzz_content_length(s, size);
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_http(data, size);
}
#endif

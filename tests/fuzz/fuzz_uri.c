/*
 * tests/fuzz/fuzz_uri.c -- common/uri.c under hostile bytes.
 *
 * The whole input is a path for lb_uri_normalize_path. Split at NUL bytes
 * it is also up to seven fields: PATH, PREFIX, REPLACEMENT for the prefix
 * functions, then QUERY, a REMOVE name and an ADD name and value for
 * lb_uri_query_rewrite.
 *
 * Invariants: a normalized path starts with '/', holds no "//", "/./" or
 * "/../" (nor ends in "/." or "/.."), no byte below 0x21, 0x7F or '\',
 * only escapes "%XX" of bytes that must stay escaped, and normalizes to
 * itself. Replacing a prefix succeeds exactly when it is a prefix, and
 * keeps a normalized path normalized. A rewritten query keeps the input's
 * parameters in order, minus the removed and replaced ones, with no empty
 * pair, then the added one, encoded so that it decodes back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "common/uri.h"
#include "tests/fuzz/fuzz.h"

#define NFIELDS 7

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* Abort unless S is what lb_uri_normalize_path may return. */
static void
check_normalized(const char *s, const char *what)
{
	size_t len = strlen(s);

	if (s[0] != '/')
		fuzz_fail("%s \"%s\" does not start with '/'", what, s);
	if (strstr(s, "//") != NULL || strstr(s, "/./") != NULL ||
	    strstr(s, "/../") != NULL)
		fuzz_fail("%s \"%s\" has an empty or dot segment", what, s);
	if ((len >= 2 && strcmp(s + len - 2, "/.") == 0) ||
	    (len >= 3 && strcmp(s + len - 3, "/..") == 0))
		fuzz_fail("%s \"%s\" ends in a dot segment", what, s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int	      hi, lo, v;

		if (c < 0x21 || c == 0x7f || c == '\\')
			fuzz_fail("%s \"%s\" has byte 0x%02x", what, s, c);
		if (c != '%')
			continue;
		/* Escapes left are uppercase and of bytes kept escaped. */
		if (i + 2 >= len ||
		    (hi = hexval((unsigned char)s[i + 1])) == -1 ||
		    (lo = hexval((unsigned char)s[i + 2])) == -1 ||
		    (s[i + 1] >= 'a' && s[i + 1] <= 'f') ||
		    (s[i + 2] >= 'a' && s[i + 2] <= 'f'))
			fuzz_fail("%s \"%s\": bad escape at %zu", what, s, i);
		v = hi << 4 | lo;
		if (unreserved((unsigned char)v) || v == '/' || v == '\\' ||
		    v == 0)
			fuzz_fail("%s \"%s\": escape of 0x%02x left", what, s,
			    v);
		i += 2;
	}
}

/* Normalize P (LEN bytes) and check the result; NULL when refused. */
static char *
normalize(const char *p, size_t len)
{
	char *out = NULL, *again = NULL;

	if (lb_uri_normalize_path(p, len, &out) == -1) {
		if (out != NULL)
			fuzz_fail("refused path left *out set");
		if (errno != EINVAL && errno != ENOMEM)
			fuzz_fail("refused path with errno %d", errno);
		return NULL;
	}
	if (strlen(out) > len + 1)
		fuzz_fail("normalized \"%s\" longer than its input (%zu)", out,
		    len);
	check_normalized(out, "normalized path");
	if (lb_uri_normalize_path(out, strlen(out), &again) == -1)
		fuzz_fail("normalized \"%s\" refused the second time", out);
	if (strcmp(out, again) != 0)
		fuzz_fail("not idempotent: \"%s\" -> \"%s\"", out, again);
	free(again);
	return out;
}

/*
 * A prefix as config/ stores one: normalized, without a trailing '/'
 * except "/" itself. NULL when S does not normalize.
 */
static char *
as_config_prefix(const char *s)
{
	char  *n;
	size_t len;

	if (lb_uri_normalize_path(s, strlen(s), &n) == -1)
		return NULL;
	len = strlen(n);
	if (len > 1 && n[len - 1] == '/')
		n[len - 1] = '\0';
	return n;
}

static void
fuzz_prefix(const char *path, const char *prefix, const char *repl)
{
	char *np, *npre, *nrepl, *r;
	bool  has;

	/* Raw strings first: nothing may crash, whatever they hold. */
	has = lb_uri_has_prefix(path, prefix);
	errno = EBADF;
	r = lb_uri_replace_prefix(path, prefix, repl);
	if (has != (r != NULL))
		fuzz_fail("has_prefix(\"%s\", \"%s\") %d, replace %s", path,
		    prefix, has, r ? r : "NULL");
	if (r == NULL && errno != 0)
		fuzz_fail("no prefix, yet errno %d", errno);
	if (r != NULL && r[0] != '/')
		fuzz_fail("replaced \"%s\" does not start with '/'", r);
	free(r);

	/* Normalized path and config-style rules: stays normalized. */
	np = normalize(path, strlen(path));
	npre = as_config_prefix(prefix);
	nrepl = as_config_prefix(repl);
	if (np != NULL && npre != NULL && nrepl != NULL &&
	    (r = lb_uri_replace_prefix(np, npre, nrepl)) != NULL) {
		check_normalized(r, "rewritten path");
		free(r);
	}
	free(np);
	free(npre);
	free(nrepl);
}

/*
 * RAW (N bytes) decoded as a query component: '+' is a space, "%XX" its
 * byte, any other '%' itself. Equal to the C string NAME?
 */
static bool
name_is(const char *raw, size_t n, const char *name)
{
	struct lb_buf b;
	bool	      eq;
	int	      hi, lo;

	lb_buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (raw[i] == '+')
			lb_buf_addc(&b, ' ');
		else if (raw[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)raw[i + 1])) != -1 &&
		    (lo = hexval((unsigned char)raw[i + 2])) != -1) {
			lb_buf_addc(&b, (char)(hi << 4 | lo));
			i += 2;
		} else
			lb_buf_addc(&b, raw[i]);
	}
	if (lb_buf_failed(&b))
		fuzz_fail("out of memory");
	eq = b.len == strlen(name) &&
	    memcmp(b.len ? b.data : "", name, b.len) == 0;
	lb_buf_free(&b);
	return eq;
}

/* S percent-encoded by lb_uri_encode_query; decodes back to S? */
static void
check_encoded(const char *enc, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)enc[i];

		if (c == '%') {
			if (i + 2 >= n ||
			    hexval((unsigned char)enc[i + 1]) == -1 ||
			    hexval((unsigned char)enc[i + 2]) == -1)
				fuzz_fail("bad escape in \"%.*s\"", (int)n,
				    enc);
			i += 2;
		} else if (!unreserved(c))
			fuzz_fail("'%c' left unencoded in \"%.*s\"", c, (int)n,
			    enc);
	}
	if (!name_is(enc, n, s))
		fuzz_fail("\"%.*s\" does not decode to \"%s\"", (int)n, enc, s);
}

static void
fuzz_query(const char *query, const char *rm, const char *add_name,
    const char *add_value)
{
	char	     *remove[1] = { (char *)rm };
	struct lb_kv  add = { (char *)add_name, (char *)add_value };
	struct lb_buf b;
	size_t	      n_add = add_name[0] != '\0' ? 1 : 0;
	const char   *p = query, *q, *amp;
	char	     *out;

	if ((out = lb_uri_query_rewrite(query, remove, 1, &add, n_add)) == NULL)
		fuzz_fail("query rewrite failed");

	/* What the function should keep, computed independently. */
	lb_buf_init(&b);
	while (*p != '\0') {
		size_t plen = strcspn(p, "&"), nlen = strcspn(p, "=&");

		if (plen > 0 && !name_is(p, nlen, rm) &&
		    !(n_add && name_is(p, nlen, add_name))) {
			if (b.len > 0)
				lb_buf_addc(&b, '&');
			lb_buf_add(&b, p, plen);
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	if (lb_buf_failed(&b))
		fuzz_fail("out of memory");
	q = b.len > 0 ? b.data : "";
	if (strncmp(out, q, b.len) != 0)
		fuzz_fail("query \"%s\" minus \"%s\": \"%s\", want \"%s...\"",
		    query, rm, out, q);
	if (n_add == 0) {
		if (out[b.len] != '\0')
			fuzz_fail("query \"%s\": trailing \"%s\"", query,
			    out + b.len);
	} else {
		/* "&" if anything was kept, then NAME=VALUE encoded. */
		p = out + b.len;
		if (b.len > 0 && *p++ != '&')
			fuzz_fail("no '&' before the added pair in \"%s\"",
			    out);
		if ((amp = strchr(p, '=')) == NULL)
			fuzz_fail("no '=' in the added pair \"%s\"", p);
		check_encoded(p, (size_t)(amp - p), add_name);
		check_encoded(amp + 1, strlen(amp + 1), add_value);
	}
	if (strstr(out, "&&") != NULL || out[0] == '&' ||
	    (out[0] != '\0' && out[strlen(out) - 1] == '&'))
		fuzz_fail("empty pair in \"%s\"", out);
	lb_buf_free(&b);
	free(out);
}

int
lb_fuzz_uri(const uint8_t *data, size_t size)
{
	const char *field[NFIELDS];
	char	   *copy, *p, *end;
	size_t	    i;

	/* The whole input, NUL bytes and all, is a path. */
	free(normalize((const char *)data, size));

	/* Then NUL-separated fields; missing ones are empty. */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	end = copy + size;
	for (i = 0, p = copy; i < NFIELDS; i++) {
		field[i] = p;
		p += strlen(p);
		if (p < end)
			p++;
	}
	fuzz_prefix(field[0], field[1], field[2]);
	fuzz_query(field[3], field[4], field[5], field[6]);
	free(copy);
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_uri(data, size);
}
#endif

/*
 * common/uri.c -- request-target handling: path normalization for the
 * firewall and the origin, whole-segment prefixes, query rewriting.
 *
 * The normalizer is the firewall's defence: path_reject compares prefixes
 * of its output, and the origin receives that same output, so a path that
 * could mean two things to two readers is refused rather than guessed at.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "common/uri.h"

static const char hexdigits[] = "0123456789ABCDEF";

/* RFC 3986 section 2.3: ALPHA DIGIT "-" "." "_" "~". */
static bool
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/*
 * First pass: decode the escapes of unreserved characters into D (room for
 * LEN + 1 bytes), uppercase the others, refuse what must not reach either
 * the firewall or an origin. Returns the length written, or -1.
 */
static ssize_t
decode_path(const char *path, size_t len, char *d)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		int	      hi, lo, v;

		/*
		 * A raw backslash is not a URI character, and some origins
		 * read it as '/': refuse it as we refuse %5C.
		 */
		if (c < 0x21 || c == 0x7f || c == '\\')
			return -1;
		if (c != '%') {
			d[o++] = (char)c;
			continue;
		}
		if (i + 2 >= len)
			return -1; /* "%" or "%4" at the end */
		if ((hi = lb_hexval((unsigned char)path[i + 1])) == -1 ||
		    (lo = lb_hexval((unsigned char)path[i + 2])) == -1)
			return -1;
		v = hi << 4 | lo;
		/*
		 * An encoded '/' or '\' would be a separator to some origins
		 * and not to us; an encoded NUL truncates C strings.
		 */
		if (v == '/' || v == '\\' || v == 0)
			return -1;
		if (unreserved((unsigned char)v))
			d[o++] = (char)v;
		else {
			d[o++] = '%';
			d[o++] = hexdigits[hi];
			d[o++] = hexdigits[lo];
		}
		i += 2;
	}
	d[o] = '\0';
	return (ssize_t)o;
}

/*
 * Normalize the path of an origin-form request target (without query):
 * decode escapes of unreserved characters and uppercase the others, merge
 * repeated slashes, remove "." and ".." segments (RFC 3986 section 5.2.4).
 * Decoding comes first, so "%2e%2E" is a ".." segment; "%252e" is not.
 * Returns -1 for a path not starting with '/', ".." above the root, %2F,
 * %5C, %00, a raw '\', a bad escape, or raw bytes below 0x21 or 0x7F.
 * Bytes 0x80-0xFF and overlong UTF-8 escapes ("%C0%AE") pass unchanged:
 * they are not '.' or '/'. On success returns 0 and *out is malloc'ed;
 * on failure errno tells a refused path (EINVAL) from ENOMEM.
 */
int
lb_uri_normalize_path(const char *path, size_t len, char **out)
{
	char   *d = NULL, *o = NULL;
	ssize_t dlen;
	size_t	olen = 0, i = 0;
	bool	trailing = false;

	*out = NULL;
	if (len == 0 || len > SSIZE_MAX - 2 || path[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	if ((d = malloc(len + 1)) == NULL || (o = malloc(len + 2)) == NULL)
		goto fail;
	if ((dlen = decode_path(path, len, d)) == -1) {
		errno = EINVAL;
		goto fail;
	}

	/*
	 * Second pass, one segment at a time. O holds "/seg/seg" without a
	 * trailing slash; TRAILING says whether one is due at the end.
	 */
	while ((ssize_t)i < dlen) {
		const char *seg;
		size_t	    slen;

		while ((ssize_t)i < dlen && d[i] == '/')
			i++;
		if ((ssize_t)i == dlen) {
			trailing = true; /* the path ended in '/' */
			break;
		}
		seg = d + i;
		slen = strcspn(seg, "/");
		i += slen;
		if (slen == 1 && seg[0] == '.') {
			trailing = true;
		} else if (slen == 2 && seg[0] == '.' && seg[1] == '.') {
			if (olen == 0) {
				errno = EINVAL; /* above the root */
				goto fail;
			}
			while (o[--olen] != '/')
				;
			trailing = true;
		} else {
			o[olen++] = '/';
			memcpy(o + olen, seg, slen);
			olen += slen;
			trailing = false;
		}
	}
	if (olen == 0 || trailing)
		o[olen++] = '/';
	o[olen] = '\0';
	free(d);
	*out = o;
	return 0;
fail:
	free(d);
	free(o);
	return -1;
}

/* The length of PREFIX that counts: "/" and "" are 0, a trailing '/' off. */
static size_t
prefix_len(const char *prefix)
{
	size_t n = strlen(prefix);

	while (n > 0 && prefix[n - 1] == '/')
		n--;
	return n;
}

/*
 * Does PATH start with PREFIX on a segment boundary? "/mango" is a prefix
 * of "/mango", "/mango/" and "/mango/x", not of "/mangos"; "/" is a prefix
 * of every path. A ';' is a boundary too: "/mango;v=1" is the segment
 * "mango" with a parameter to many origins, so the firewall treats it so.
 * Case-sensitive, as paths are.
 */
bool
lb_uri_has_prefix(const char *path, const char *prefix)
{
	size_t n = prefix_len(prefix);

	if (n == 0)
		return true;
	if (strncmp(path, prefix, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/' || path[n] == ';';
}

/*
 * If PREFIX is a whole-segment prefix of PATH, a malloc'ed copy of PATH
 * with PREFIX replaced by REPLACEMENT: "/v1/users" with "/v1" -> "/v2" is
 * "/v2/users"; "/mango" with "/mango" -> "/" is "/", "/mango/x" is "/x".
 * Otherwise NULL with errno 0; NULL with errno ENOMEM when out of memory.
 */
char *
lb_uri_replace_prefix(const char *path, const char *prefix,
    const char *replacement)
{
	const char   *rest;
	size_t	      rlen = prefix_len(replacement);
	struct lb_buf b;

	if (!lb_uri_has_prefix(path, prefix)) {
		errno = 0;
		return NULL;
	}
	rest = path + prefix_len(prefix);
	lb_buf_init(&b);
	if (rlen > 0 && replacement[0] != '/')
		lb_buf_addc(&b, '/'); /* "v2" means "/v2" */
	lb_buf_add(&b, replacement, rlen);
	if (rlen == 0 && *rest != '/')
		lb_buf_addc(&b, '/'); /* "/mango" -> "/": never empty */
	lb_buf_adds(&b, rest);
	return lb_buf_take(&b);
}

/*
 * Does the raw query component RAW (N bytes, still encoded) decode to the
 * C string NAME? '+' decodes to a space, as in form encoding; a '%' not
 * followed by two hex digits stands for itself. Nothing is allocated.
 */
static bool
decoded_equal(const char *raw, size_t n, const char *name)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];
		int	      hi, lo;

		if (c == '+')
			c = ' ';
		else if (c == '%' && i + 2 < n &&
		    (hi = lb_hexval((unsigned char)raw[i + 1])) != -1 &&
		    (lo = lb_hexval((unsigned char)raw[i + 2])) != -1) {
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (name[j] == '\0' || (unsigned char)name[j] != c)
			return false;
		j++;
	}
	return name[j] == '\0';
}

/* Is the parameter whose raw name is RAW (N bytes) removed or replaced? */
static bool
dropped(const char *raw, size_t n, char *const *remove, size_t n_remove,
    const struct lb_kv *add, size_t n_add)
{
	for (size_t i = 0; i < n_remove; i++)
		if (decoded_equal(raw, n, remove[i]))
			return true;
	for (size_t i = 0; i < n_add; i++)
		if (decoded_equal(raw, n, add[i].name))
			return true;
	return false;
}

/*
 * Rewrite a raw query string (without '?'; NULL or "" for none): drop
 * each parameter whose decoded name is in REMOVE (case-sensitive) or is
 * set by ADD, drop empty pairs ("a=1&&b=2"), then append ADD's pairs,
 * percent-encoded, in order. Kept parameters keep their order and their
 * exact bytes. Returns a malloc'ed string ("" when nothing is left), or
 * NULL on ENOMEM.
 */
char *
lb_uri_query_rewrite(const char *query, char *const *remove, size_t n_remove,
    const struct lb_kv *add, size_t n_add)
{
	struct lb_buf b;
	const char   *p = query != NULL ? query : "";

	lb_buf_init(&b);
	while (*p != '\0') {
		size_t plen = strcspn(p, "&"), nlen;

		nlen = strcspn(p, "=&");
		if (plen > 0 &&
		    !dropped(p, nlen, remove, n_remove, add, n_add)) {
			if (b.len > 0)
				lb_buf_addc(&b, '&');
			lb_buf_add(&b, p, plen);
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	for (size_t i = 0; i < n_add; i++) {
		if (b.len > 0)
			lb_buf_addc(&b, '&');
		lb_uri_encode_query(&b, add[i].name);
		lb_buf_addc(&b, '=');
		lb_uri_encode_query(&b, add[i].value);
	}
	return lb_buf_take(&b);
}

/*
 * Percent-encode S for a query name or value into B: unreserved bytes as
 * they are, every other byte as %XX (uppercase), a space as %20.
 */
void
lb_uri_encode_query(struct lb_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (unreserved(c))
			lb_buf_addc(b, (char)c);
		else {
			char e[3] = { '%', hexdigits[c >> 4],
				hexdigits[c & 0xf] };

			lb_buf_add(b, e, sizeof(e));
		}
	}
}

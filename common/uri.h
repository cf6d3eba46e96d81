/*
 * common/uri.h -- request-target handling: path normalization for the
 * firewall and the origin, whole-segment prefixes, query rewriting.
 * Pure functions on bytes; nothing here logs.
 */
#ifndef LB_URI_H
#define LB_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "common/str.h"

/*
 * Normalize the path part of an origin-form request target (no query):
 *  - percent-decode only unreserved characters (ALPHA DIGIT - . _ ~);
 *    other escapes are kept, their hex digits uppercased;
 *  - merge repeated slashes;
 *  - remove "." and ".." segments (RFC 3986 section 5.2.4).
 * Refused (returns -1): a path not starting with '/', ".." that climbs
 * above the root, an encoded '/' (%2F), '\\' or NUL (%00, %5C), a bad
 * escape ("%G1", "%4"), raw bytes below 0x21 or 0x7F.
 * On success returns 0 and *out is a malloc'ed C string.
 */
int lb_uri_normalize_path(const char *path, size_t len, char **out);

/*
 * Does PATH start with PREFIX on a segment boundary? "/mango" is a prefix
 * of "/mango", "/mango/" and "/mango/x", not of "/mangos". "/" is a prefix
 * of every path. PREFIX has no trailing '/' (except "/" itself).
 */
bool lb_uri_has_prefix(const char *path, const char *prefix);

/*
 * If PREFIX is a whole-segment prefix of PATH, return a malloc'ed copy of
 * PATH with PREFIX replaced by REPLACEMENT ("/v1/users" with "/v1" -> "/v2"
 * gives "/v2/users"; "/mango" with "/mango" -> "/" gives "/", "/mango/x"
 * gives "/x"). Otherwise NULL (and errno 0), or NULL with errno ENOMEM.
 */
char *lb_uri_replace_prefix(const char *path, const char *prefix,
    const char *replacement);

/*
 * Rewrite a raw query string (without '?', may be NULL or ""): drop every
 * parameter whose decoded name equals one of REMOVE (case-sensitive), drop
 * those whose name is set by ADD, then append ADD's pairs, percent-encoded,
 * in order. Untouched parameters keep their order and exact encoding.
 * Returns a malloc'ed string ("" when nothing is left), NULL on ENOMEM.
 */
char *lb_uri_query_rewrite(const char *query, char *const *remove,
    size_t n_remove, const struct lb_kv *add, size_t n_add);

/* Percent-encode S for a query component into B (unreserved kept). */
void lb_uri_encode_query(struct lb_buf *b, const char *s);

#endif /* LB_URI_H */

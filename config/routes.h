/*
 * config/routes.h -- the compiled route table of one configuration.
 *
 * Built once per config generation so that a lookup does not grow with the
 * number of routes: exact host names in a hash table, wildcard hosts
 * ("*.mango.com") by their suffix, path prefixes in a segment trie.
 */
#ifndef LB_ROUTES_H
#define LB_ROUTES_H

#include <stddef.h>

#include "config/config.h"

struct lb_routes;

/* config/routes.c */

/*
 * Compile ROUTES (hosts first: routes[0 .. n_host), then paths). The table
 * points into ROUTES, which must outlive it. Returns NULL on ENOMEM, or on a
 * duplicate host or path: then *dup (if not NULL) is the index of the
 * second occurrence and errno is EEXIST.
 */
struct lb_routes *lb_routes_compile(const struct lb_route *routes,
    size_t n_routes, size_t n_host, size_t *dup);
void		  lb_routes_free(struct lb_routes *);

/*
 * The route for a request. HOST is the Host header as received (any case,
 * may carry ":port", may be NULL); exact names win, then the longest
 * matching wildcard. Only when no host route matches, PATH (normalized)
 * picks the path route with the longest whole-segment prefix. NULL: none.
 */
const struct lb_route *
lb_routes_match(const struct lb_routes *, const char *host, const char *path);

#endif /* LB_ROUTES_H */

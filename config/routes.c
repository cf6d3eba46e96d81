/*
 * config/routes.c -- the compiled route table of one configuration.
 *
 * Three open-addressing hash tables, built once per config generation and
 * read-only afterwards (so every worker can share the one it inherited):
 *  - exact host names;
 *  - wildcard hosts by their suffix: "*.mango.com" is stored as
 *    "mango.com", and a lookup tries each proper suffix of the request's
 *    host after a dot, longest first, so the first hit is the longest
 *    wildcard, at most one probe per label;
 *  - the edges of a path trie with one node per segment, keyed by
 *    (parent node, segment), so a lookup costs one probe per segment of
 *    the request path whatever the number of routes.
 * Keys point into the routes' own strings; a lookup never allocates.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/routes.h"

struct slot {
	const char *key; /* NULL: empty; points into a route */
	size_t	    keylen;
	size_t	    parent; /* trie edges: the parent node */
	size_t	    value;  /* route index, or child node */
	uint64_t    hash;
};

struct table {
	struct slot *slots; /* owned; a power of two of them */
	size_t	     mask;  /* number of slots - 1 */
	size_t	     count;
	bool	     fold; /* ASCII case-insensitive keys */
};

struct lb_routes {
	const struct lb_route  *routes; /* the config's; not owned */
	struct table		exact;	/* host name -> route */
	struct table		wild;	/* "*.SUFFIX": SUFFIX -> route */
	struct table		edges;	/* (node, segment) -> child node */
	const struct lb_route **nodes;	/* owned; trie node -> its route or
					   NULL; node 0 is the root, "/" */
	size_t			n_nodes;
	size_t			cap_nodes;
};

static inline unsigned char
fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * FNV-1a over the key (folded when asked), seeded with the parent node,
 * then a final avalanche so that the low bits used as the index depend on
 * every byte.
 */
static uint64_t
hash_key(const char *key, size_t len, size_t parent, bool fold_case)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h ^= (uint64_t)parent * 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		h ^= fold_case ? fold(c) : c;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static bool
key_equal(const struct table *t, const struct slot *s, const char *key,
    size_t len, size_t parent)
{
	if (s->keylen != len || s->parent != parent)
		return false;
	if (!t->fold)
		return memcmp(s->key, key, len) == 0;
	for (size_t i = 0; i < len; i++)
		if (fold((unsigned char)s->key[i]) !=
		    fold((unsigned char)key[i]))
			return false;
	return true;
}

/* The slot holding KEY, or NULL. */
static const struct slot *
table_find(const struct table *t, const char *key, size_t len, size_t parent)
{
	uint64_t h;
	size_t	 i;

	if (t->count == 0)
		return NULL;
	h = hash_key(key, len, parent, t->fold);
	for (i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
		const struct slot *s = &t->slots[i];

		if (s->key == NULL)
			return NULL;
		if (s->hash == h && key_equal(t, s, key, len, parent))
			return s;
	}
}

/* Place S in T's slots, which have room and do not hold its key. */
static void
table_place(struct table *t, const struct slot *s)
{
	size_t i;

	for (i = (size_t)s->hash & t->mask; t->slots[i].key != NULL;
	     i = (i + 1) & t->mask)
		;
	t->slots[i] = *s;
	t->count++;
}

/* Keep the load at or below 1/2: short probe runs on misses too. */
static int
table_grow(struct table *t)
{
	struct slot *old = t->slots;
	size_t	     oldn = old ? t->mask + 1 : 0, n;

	if (old != NULL && (t->count + 1) * 2 <= oldn)
		return 0;
	n = oldn ? oldn * 2 : 16;
	if (n < oldn || (t->slots = calloc(n, sizeof(*old))) == NULL) {
		t->slots = old;
		errno = ENOMEM;
		return -1;
	}
	t->mask = n - 1;
	t->count = 0;
	for (size_t i = 0; i < oldn; i++)
		if (old[i].key != NULL)
			table_place(t, &old[i]);
	free(old);
	return 0;
}

/*
 * Add KEY -> VALUE. Returns 0; -1 with errno EEXIST when KEY is there
 * already (*had is then its value), or ENOMEM.
 */
static int
table_add(struct table *t, const char *key, size_t len, size_t parent,
    size_t value, size_t *had)
{
	const struct slot *found;
	struct slot	   s;

	if ((found = table_find(t, key, len, parent)) != NULL) {
		*had = found->value;
		errno = EEXIST;
		return -1;
	}
	if (table_grow(t) == -1)
		return -1;
	s.key = key;
	s.keylen = len;
	s.parent = parent;
	s.value = value;
	s.hash = hash_key(key, len, parent, t->fold);
	table_place(t, &s);
	return 0;
}

/*
 * Trim a host name to what routing compares: no brackets around an IPv6
 * literal, no trailing dot and, for a request's Host (ROUTE false), no
 * ":port". A route's own name has no port, so there a bare IPv6 literal
 * ("::1") is taken whole; in a Host header it is invalid and ends at its
 * first ':', matching nothing. Sets *len; returns the start.
 */
static const char *
host_key(const char *host, bool route, size_t *len)
{
	const char *end;

	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL) {
			*len = 0;
			return host;
		}
		host++;
	} else if (route || (end = strchr(host, ':')) == NULL)
		end = host + strlen(host);
	if (end > host && end[-1] == '.')
		end--;
	*len = (size_t)(end - host);
	return host;
}

static int
add_node(struct lb_routes *t)
{
	if (t->n_nodes == t->cap_nodes) {
		size_t ncap = t->cap_nodes ? t->cap_nodes * 2 : 64;
		const struct lb_route **nn;

		nn = reallocarray(t->nodes, ncap, sizeof(*nn));
		if (nn == NULL)
			return -1;
		t->nodes = nn;
		t->cap_nodes = ncap;
	}
	t->nodes[t->n_nodes++] = NULL;
	return 0;
}

/* Walk or extend the trie along R's path; EEXIST when a route sits there. */
static int
add_path(struct lb_routes *t, const struct lb_route *r)
{
	const char *p = r->match;
	size_t	    node = 0, had;

	while (*p != '\0') {
		const char	  *seg, *end;
		const struct slot *e;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		seg = p;
		if ((end = strchr(seg, '/')) == NULL)
			end = seg + strlen(seg);
		p = end;
		if ((e = table_find(&t->edges, seg, (size_t)(end - seg),
			 node)) != NULL) {
			node = e->value;
			continue;
		}
		if (add_node(t) == -1 ||
		    table_add(&t->edges, seg, (size_t)(end - seg), node,
			t->n_nodes - 1, &had) == -1)
			return -1;
		node = t->n_nodes - 1;
	}
	if (t->nodes[node] != NULL) {
		errno = EEXIST;
		return -1;
	}
	t->nodes[node] = r;
	return 0;
}

/*
 * Compile ROUTES: routes[0 .. n_host) are host routes, the rest path
 * routes. The table points into ROUTES, which must outlive it. Returns
 * NULL with errno ENOMEM, or EEXIST on a duplicate host or path (*dup, if
 * not NULL, is then the index of the second occurrence).
 */
struct lb_routes *
lb_routes_compile(const struct lb_route *routes, size_t n_routes, size_t n_host,
    size_t *dup)
{
	struct lb_routes *t;
	size_t		  i = 0, had;

	if (n_host > n_routes) {
		errno = EINVAL;
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->routes = routes;
	t->exact.fold = true;
	t->wild.fold = true;
	if (add_node(t) == -1) /* the root */
		goto fail;

	for (i = 0; i < n_host; i++) {
		const char *m = routes[i].match;
		size_t	    len;

		if (m[0] == '*' && m[1] == '.') {
			m = host_key(m + 2, true, &len);
			if (table_add(&t->wild, m, len, 0, i, &had) == -1)
				goto fail;
		} else {
			m = host_key(m, true, &len);
			if (table_add(&t->exact, m, len, 0, i, &had) == -1)
				goto fail;
		}
	}
	for (; i < n_routes; i++)
		if (add_path(t, &routes[i]) == -1)
			goto fail;
	return t;
fail:
	if (errno == EEXIST && dup != NULL)
		*dup = i;
	else if (errno != EEXIST)
		errno = ENOMEM;
	lb_routes_free(t);
	return NULL;
}

void
lb_routes_free(struct lb_routes *t)
{
	int saved = errno;

	if (t == NULL)
		return;
	free(t->exact.slots);
	free(t->wild.slots);
	free(t->edges.slots);
	free(t->nodes);
	free(t);
	errno = saved;
}

static const struct lb_route *
match_host(const struct lb_routes *t, const char *host)
{
	const struct slot *s;
	const char	  *key;
	size_t		   len;

	key = host_key(host, false, &len);
	if (len == 0)
		return NULL;
	if ((s = table_find(&t->exact, key, len, 0)) != NULL)
		return &t->routes[s->value];
	if (t->wild.count == 0)
		return NULL;
	/*
	 * Suffixes after each dot, longest first; never the whole name, and
	 * never after an empty first label (".mango.com").
	 */
	for (size_t i = 2; i < len; i++) {
		if (key[i - 1] != '.')
			continue;
		if ((s = table_find(&t->wild, key + i, len - i, 0)) != NULL)
			return &t->routes[s->value];
	}
	return NULL;
}

/*
 * The deepest route along PATH's segments. An empty segment ("//") or a
 * '?' ends the walk, so the match agrees with lb_uri_has_prefix even on a
 * path that was not normalized.
 */
static const struct lb_route *
match_path(const struct lb_routes *t, const char *path)
{
	const struct lb_route *best = t->nodes[0];
	const char	      *p = path;
	size_t		       node = 0;

	if (*p == '/')
		p++;
	while (*p != '\0' && *p != '?') {
		const struct slot *e;
		size_t		   len = strcspn(p, "/?");

		if (len == 0)
			break;
		if ((e = table_find(&t->edges, p, len, node)) == NULL)
			break;
		node = e->value;
		if (t->nodes[node] != NULL)
			best = t->nodes[node];
		p += len;
		if (*p == '/')
			p++;
	}
	return best;
}

/*
 * The route for a request: HOST as received (any case, maybe ":port",
 * "[v6]:port", a trailing dot, or NULL) against exact names, then the
 * longest wildcard; only when no host route matches, PATH (normalized, no
 * query) against the path routes, longest whole-segment prefix. NULL when
 * nothing matches. Never allocates.
 */
const struct lb_route *
lb_routes_match(const struct lb_routes *t, const char *host, const char *path)
{
	const struct lb_route *r;

	if (t == NULL)
		return NULL;
	if (host != NULL && (r = match_host(t, host)) != NULL)
		return r;
	if (path == NULL)
		return NULL;
	return match_path(t, path);
}

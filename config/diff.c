/*
 * config/diff.c -- what a reload changes, in words (lb_cfg_diff).
 *
 * Both configurations are written as lbmaster -T writes them, every
 * default filled in, and read back into flat items: an entity (the
 * configuration itself, a route, a route's server, a test), a key in it
 * ("timeouts.connect", "algorithm", "weight") and the value as text. An
 * entity in one only is one "+" or "-" line; a value that differs is one
 * "~" line. Going through the dump means every key the loader knows is
 * compared, with no list of keys here to keep up to date.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/str.h"
#include "config/config.h"

struct item {
	char *entity; /* "" (global), "host a.com", "host a.com\tserver x" */
	char *key;    /* "" marks the entity itself */
	char *value;
};

struct items {
	struct item *v;
	size_t	     n, cap;
	bool	     failed;
};

static void
add(struct items *it, const char *entity, const char *key, const char *value)
{
	struct item *v;

	if (it->failed)
		return;
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 64;

		if ((v = reallocarray(it->v, cap, sizeof(*v))) == NULL) {
			it->failed = true;
			return;
		}
		it->v = v;
		it->cap = cap;
	}
	v = &it->v[it->n];
	v->entity = strdup(entity);
	v->key = strdup(key);
	v->value = strdup(value);
	if (v->entity == NULL || v->key == NULL || v->value == NULL) {
		free(v->entity);
		free(v->key);
		free(v->value);
		it->failed = true;
		return;
	}
	it->n++;
}

static void
items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++) {
		free(it->v[i].entity);
		free(it->v[i].key);
		free(it->v[i].value);
	}
	free(it->v);
}

/* N as one line of text: a scalar, or a flow list or mapping. */
static void
flow(yaml_document_t *d, yaml_node_t *n, struct lb_buf *b)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		lb_buf_add(b, n->data.scalar.value, n->data.scalar.length);
		break;
	case YAML_SEQUENCE_NODE:
		lb_buf_addc(b, '[');
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			if (i > n->data.sequence.items.start)
				lb_buf_adds(b, ", ");
			flow(d, yaml_document_get_node(d, *i), b);
		}
		lb_buf_addc(b, ']');
		break;
	case YAML_MAPPING_NODE:
		lb_buf_addc(b, '{');
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			if (p > n->data.mapping.pairs.start)
				lb_buf_adds(b, ", ");
			flow(d, yaml_document_get_node(d, p->key), b);
			lb_buf_adds(b, ": ");
			flow(d, yaml_document_get_node(d, p->value), b);
		}
		lb_buf_addc(b, '}');
		break;
	default:
		break;
	}
}

/* The scalar value of KEY in mapping N, or "". */
static const char *
member(yaml_document_t *d, yaml_node_t *n, const char *key)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		yaml_node_t *v = yaml_document_get_node(d, p->value);

		if (strcmp((const char *)k->data.scalar.value, key) == 0 &&
		    v->type == YAML_SCALAR_NODE)
			return (const char *)v->data.scalar.value;
	}
	return "";
}

static void flatten(yaml_document_t *, yaml_node_t *, const char *entity,
    const char *prefix, struct items *);

/* A tag that changes with a secret but does not give it away (FNV-1a). */
static unsigned
secret_tag(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (unsigned)(h >> 8);
}

/*
 * The entities of a list: routes by their host or path, servers by their
 * address, tests by their place.
 */
static void
entities(yaml_document_t *d, yaml_node_t *seq, const char *entity,
    const char *key, struct items *it)
{
	char   child[1024];
	size_t i = 0;

	for (yaml_node_item_t *p = seq->data.sequence.items.start;
	     p < seq->data.sequence.items.top; p++, i++) {
		yaml_node_t *n = yaml_document_get_node(d, *p);

		if (strcmp(key, "hosts") == 0)
			lb_snprintf(child, sizeof(child), "host %s",
			    member(d, n, "host"));
		else if (strcmp(key, "paths") == 0)
			lb_snprintf(child, sizeof(child), "path %s",
			    member(d, n, "path"));
		else if (strcmp(key, "servers") == 0)
			lb_snprintf(child, sizeof(child), "%s\tserver %s",
			    entity,
			    *member(d, n, "address") != '\0' ?
				member(d, n, "address") :
				member(d, n, "service"));
		else
			lb_snprintf(child, sizeof(child), "test %zu: %s", i,
			    member(d, n, "request"));
		add(it, child, "", "");
		flatten(d, n, child, "", it);
	}
}

/* The items of mapping N, in ENTITY, its keys named PREFIX + key. */
static void
flatten(yaml_document_t *d, yaml_node_t *n, const char *entity,
    const char *prefix, struct items *it)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t  *kn = yaml_document_get_node(d, p->key);
		yaml_node_t  *vn = yaml_document_get_node(d, p->value);
		const char   *k = (const char *)kn->data.scalar.value;
		char	      key[256];
		struct lb_buf b;

		lb_snprintf(key, sizeof(key), "%s%s", prefix, k);
		if (vn->type == YAML_SEQUENCE_NODE &&
		    (strcmp(k, "hosts") == 0 || strcmp(k, "paths") == 0 ||
			strcmp(k, "servers") == 0 || strcmp(k, "tests") == 0)) {
			entities(d, vn, entity, k, it);
			continue;
		}
		/* Nested mappings are walked, but for lists of user names. */
		if (vn->type == YAML_MAPPING_NODE && strcmp(k, "add") != 0 &&
		    strcmp(k, "replace") != 0 && strcmp(k, "headers") != 0) {
			lb_snprintf(key, sizeof(key), "%s%s.", prefix, k);
			flatten(d, vn, entity, key, it);
			continue;
		}
		lb_buf_init(&b);
		/* The log is no place for a secret: say that it changed. */
		if (strcmp(key, "admin.token") == 0)
			lb_buf_printf(&b, "(secret %08x)",
			    secret_tag((const char *)vn->data.scalar.value));
		else
			flow(d, vn, &b);
		if (lb_buf_failed(&b))
			it->failed = true;
		else
			add(it, entity, key, lb_buf_cstr(&b));
		lb_buf_free(&b);
	}
}

/* CFG as items: its -T dump, read back. -1 when out of memory. */
static int
items_of(const struct lb_cfg *cfg, struct items *it)
{
	yaml_parser_t	parser;
	yaml_document_t doc;
	yaml_node_t    *root;
	char	       *text = NULL;
	size_t		len = 0;
	FILE	       *fp;
	int		rc = -1;

	memset(it, 0, sizeof(*it));
	if ((fp = open_memstream(&text, &len)) == NULL)
		return -1;
	if (lb_cfg_dump(cfg, fp) == -1) {
		fclose(fp);
		free(text);
		return -1;
	}
	fclose(fp);
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (yaml_parser_load(&parser, &doc)) {
		if ((root = yaml_document_get_root_node(&doc)) != NULL &&
		    root->type == YAML_MAPPING_NODE) {
			add(it, "", "", ""); /* the configuration itself */
			flatten(&doc, root, "", "", it);
			rc = it->failed ? -1 : 0;
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	free(text);
	return rc;
}

static const struct item *
find(const struct items *it, const char *entity, const char *key)
{
	for (size_t i = 0; i < it->n; i++)
		if (strcmp(it->v[i].entity, entity) == 0 &&
		    strcmp(it->v[i].key, key) == 0)
			return &it->v[i];
	return NULL;
}

/*
 * "host a.com" or "server x from a.com" (TO: "to" instead of "from"),
 * for a "+" or "-" line; a route's own items are named by its name.
 */
static void
say_entity(const char *entity, const char *to, struct lb_buf *b)
{
	const char *tab = strchr(entity, '\t');

	if (tab == NULL) {
		lb_buf_adds(b, entity);
		return;
	}
	lb_buf_adds(b, tab + 1);
	lb_buf_printf(b, " %s %.*s", to, (int)(tab - entity - 5), entity + 5);
}

/* "www.mango.com " or "www.mango.com server x " or "": whose a key is. */
static void
say_scope(const char *entity, struct lb_buf *b)
{
	const char *tab = strchr(entity, '\t');

	if (*entity == '\0')
		return;
	if (strncmp(entity, "test ", 5) == 0) {
		lb_buf_printf(b, "%s ", entity);
		return;
	}
	if (tab == NULL) {
		lb_buf_printf(b, "%s ", strchr(entity, ' ') + 1);
		return;
	}
	lb_buf_printf(b, "%.*s %s ", (int)(tab - entity - 5), entity + 5,
	    tab + 1);
}

static int
emit(struct lb_buf *b, void (*line)(const char *, void *), void *arg)
{
	if (lb_buf_failed(b))
		return -1;
	line(lb_buf_cstr(b), arg);
	lb_buf_reset(b);
	return 0;
}

int
lb_cfg_diff(const struct lb_cfg *old, const struct lb_cfg *new,
    void (*line)(const char *, void *), void *arg)
{
	struct items  a, b;
	struct lb_buf out;
	size_t	      lines = 0;
	int	      rc = -1;

	if (items_of(old, &a) == -1) {
		items_free(&a);
		return -1;
	}
	if (items_of(new, &b) == -1) {
		items_free(&a);
		items_free(&b);
		return -1;
	}
	lb_buf_init(&out);
	/* What went: entities of the old one only. */
	for (size_t i = 0; i < a.n; i++) {
		const struct item *x = &a.v[i];
		const char	  *tab = strchr(x->entity, '\t');
		char		   owner[1024];

		if (x->key[0] != '\0' || find(&b, x->entity, "") != NULL)
			continue;
		/* A server whose route went goes with it. */
		lb_snprintf(owner, sizeof(owner), "%.*s",
		    tab ? (int)(tab - x->entity) : 0, x->entity);
		if (tab != NULL && find(&b, owner, "") == NULL)
			continue;
		lb_buf_adds(&out, "- ");
		say_entity(x->entity, "from", &out);
		if (emit(&out, line, arg) == -1)
			goto done;
		lines++;
	}
	/* What came, and what changed. */
	for (size_t i = 0; i < b.n; i++) {
		const struct item *y = &b.v[i], *x;
		const char	  *tab = strchr(y->entity, '\t');
		char		   owner[1024];

		if (y->key[0] == '\0') {
			if (find(&a, y->entity, "") != NULL)
				continue;
			lb_snprintf(owner, sizeof(owner), "%.*s",
			    tab ? (int)(tab - y->entity) : 0, y->entity);
			if (tab != NULL && find(&a, owner, "") == NULL)
				continue;
			lb_buf_adds(&out, "+ ");
			say_entity(y->entity, "to", &out);
		} else {
			if (find(&a, y->entity, "") == NULL)
				continue; /* a new entity: said above */
			x = find(&a, y->entity, y->key);
			if (x != NULL && strcmp(x->value, y->value) == 0)
				continue;
			lb_buf_adds(&out, "~ ");
			say_scope(y->entity, &out);
			lb_buf_printf(&out, "%s %s -> %s", y->key,
			    x != NULL ? x->value : "(none)", y->value);
		}
		if (emit(&out, line, arg) == -1)
			goto done;
		lines++;
	}
	/* A key the new one no longer has (an optional one). */
	for (size_t i = 0; i < a.n; i++) {
		const struct item *x = &a.v[i];

		if (x->key[0] == '\0' || find(&b, x->entity, "") == NULL ||
		    find(&b, x->entity, x->key) != NULL)
			continue;
		lb_buf_adds(&out, "~ ");
		say_scope(x->entity, &out);
		lb_buf_printf(&out, "%s %s -> (none)", x->key, x->value);
		if (emit(&out, line, arg) == -1)
			goto done;
		lines++;
	}
	if (lines == 0) {
		lb_buf_adds(&out, "no changes");
		if (emit(&out, line, arg) == -1)
			goto done;
	}
	rc = 0;
done:
	lb_buf_free(&out);
	items_free(&a);
	items_free(&b);
	return rc;
}

/*
 * config/config.c -- load lbmaster.yaml(5) into a struct lb_cfg.
 *
 * libyaml parses the text into a document tree; the tree is then walked
 * with one table of keys per mapping. Each table entry names the handler
 * that checks a value and stores it at an offset in the struct being
 * filled, so the schema reads as data (the tables near the end of the
 * parsing part) rather than as a ladder of string comparisons.
 *
 * The first error stops the load at the offending node: the half-built
 * config is freed and the caller gets one line, "FILE:LINE:COL: message".
 * Nothing here logs, binds or connects; server names are resolved.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "common/addr.h"
#include "common/http.h"
#include "common/str.h"
#include "common/uri.h"
#include "config/config.h"
#include "config/routes.h"

#define MAX_WORKERS	1024
#define MAX_DURATION_MS 86400000ULL /* one day: longer is a typo */
#define MAX_FILE_SIZE	(16 * 1024 * 1024)
#define WHERELEN	128 /* "servers[3].weight" */
#define DEFAULT_LISTEN	"0.0.0.0:8080"
/*
 * TLS 1.2's suites unless tls.ciphers says otherwise: forward secrecy and
 * AEAD only, as Mozilla's "intermediate" without the DHE ones (no CBC:
 * testssl.sh reports LUCKY13 for those).
 */
#define DEFAULT_TLS_CIPHERS                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Everything a handler needs while one file is walked. */
struct cfg_ctx {
	const char	*file; /* name used in messages */
	const char	*text; /* the YAML, to place reader errors */
	size_t		 textlen;
	yaml_document_t *doc;
	struct lb_cfg	*cfg;	     /* being filled; freed on error */
	yaml_node_t	*admin_node; /* admin.listen, for the clash check */
	yaml_node_t	*token_node; /* admin.token, which needs it */
	char		*err;
	size_t		 errlen;
};

/*
 * One key of a mapping; a table ends with a NULL name. The handler checks
 * the value node N and stores it in BASE (the struct the mapping fills)
 * at K->off; WHERE names the value in messages ("timeouts.connect",
 * "servers[1]"). It returns 0, or -1 with ctx->err set.
 */
struct cfg_key {
	const char *name;
	int (*parse)(struct cfg_ctx *ctx, const struct cfg_key *k,
	    yaml_node_t *n, const char *where, void *base);
	size_t		      off;     /* the field in the base struct */
	size_t		      off_n;   /* its element count, for arrays */
	size_t		      off_pos; /* its items' positions (firewall) */
	const struct cfg_key *sub;     /* the keys of a nested mapping */
	uint64_t	      lo, hi;  /* accepted range of a number */
	unsigned	      flags;
};

#define KEY_REQUIRED 0x01 /* a mapping without it is an error */
#define KEY_LATE     0x02 /* parsed after the others, in table order */
#define KEY_HEADER   0x04 /* names are HTTP header names */

static const char *const algo_names[] = {
	[LB_ALGO_ROUND_ROBIN] = "round_robin",
	[LB_ALGO_LEAST_CONN] = "least_conn",
	[LB_ALGO_RANDOM] = "random",
	[LB_ALGO_TWO_CHOICES] = "two_choices",
	[LB_ALGO_IP_HASH] = "ip_hash",
	[LB_ALGO_CONSISTENT_HASH] = "consistent_hash",
};
#define N_ALGOS (sizeof(algo_names) / sizeof(algo_names[0]))

static const char *const level_names[] = {
	[LB_LOG_DEBUG] = "debug",
	[LB_LOG_INFO] = "info",
	[LB_LOG_NOTICE] = "notice",
	[LB_LOG_WARN] = "warn",
	[LB_LOG_ERROR] = "error",
};
#define N_LEVELS (sizeof(level_names) / sizeof(level_names[0]))

static int cfg_error(struct cfg_ctx *, const yaml_node_t *, const char *,
    const char *, ...) __attribute__((format(printf, 4, 5)));
static int cfg_error_at(struct cfg_ctx *, unsigned, unsigned, const char *,
    const char *, ...) __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------ errors */

static int
cfg_verror(struct cfg_ctx *ctx, unsigned line, unsigned col, const char *where,
    const char *fmt, va_list ap)
{
	size_t n;

	n = lb_snprintf(ctx->err, ctx->errlen, "%s:%u:%u: ", ctx->file, line,
	    col);
	if (where != NULL && *where != '\0')
		n += lb_snprintf(ctx->err + n, ctx->errlen - n, "%s: ", where);
	if (n < ctx->errlen)
		vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
	/* What the file said is quoted: keep the error one printable line. */
	lb_str_printable(ctx->err);
	return -1;
}

/*
 * Put "FILE:LINE:COL: WHERE: message" in ctx->err, at NODE (or at the
 * start of the file when there is no node to blame); returns -1.
 */
static int
cfg_error(struct cfg_ctx *ctx, const yaml_node_t *node, const char *where,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (node == NULL)
		cfg_verror(ctx, 1, 1, where, fmt, ap);
	else
		cfg_verror(ctx, (unsigned)node->start_mark.line + 1,
		    (unsigned)node->start_mark.column + 1, where, fmt, ap);
	va_end(ap);
	return -1;
}

/* The same at a position kept from an earlier node. */
static int
cfg_error_at(struct cfg_ctx *ctx, unsigned line, unsigned col,
    const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror(ctx, line, col, where, fmt, ap);
	va_end(ap);
	return -1;
}

static int
nomem(struct cfg_ctx *ctx, const yaml_node_t *node)
{
	return cfg_error(ctx, node, NULL, "out of memory");
}

/*
 * A scalar as it may appear in a message: quoted, control bytes escaped,
 * cut after 60 bytes so that one line stays one line.
 */
static const char *
quote(const char *s, char *buf, size_t len)
{
	size_t n = 0, i;

	n += lb_snprintf(buf + n, len - n, "\"");
	for (i = 0; s[i] != '\0' && i < 60 && n + 6 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			n += lb_snprintf(buf + n, len - n, "\\x%02X", c);
		else if (c == '"' || c == '\\')
			n += lb_snprintf(buf + n, len - n, "\\%c", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	lb_snprintf(buf + n, len - n, "%s\"", s[i] != '\0' ? "..." : "");
	return buf;
}

/* The closest of NAMES to S, when it is close enough to be a typo. */
static const char *
closest(const char *s, const char *const *names, size_t n)
{
	const char *best = NULL;
	unsigned    bestd = 3, d;

	for (size_t i = 0; i < n; i++)
		if ((d = lb_strdist(s, names[i])) < bestd) {
			bestd = d;
			best = names[i];
		}
	return best;
}

/* ------------------------------------------------------- YAML nodes */

static yaml_node_t *
node_at(struct cfg_ctx *ctx, int index)
{
	return yaml_document_get_node(ctx->doc, index);
}

/* "key: " with nothing, "~" or "null": YAML's null, not the string. */
static bool
is_null(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* What N is, for "expected X, found Y". */
static const char *
describe(const yaml_node_t *n, char *buf, size_t len)
{
	switch (n->type) {
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SCALAR_NODE:
		if (is_null(n))
			return "an empty value";
		return quote((const char *)n->data.scalar.value, buf, len);
	default:
		return "nothing";
	}
}

static int
expect(struct cfg_ctx *ctx, yaml_node_t *n, yaml_node_type_t type,
    const char *where)
{
	char q[96];

	if (n->type == type)
		return 0;
	return cfg_error(ctx, n, where, "expected %s, found %s",
	    type == YAML_SEQUENCE_NODE	  ? "a list" :
		type == YAML_MAPPING_NODE ? "a mapping" :
					    "a single value",
	    describe(n, q, sizeof(q)));
}

/*
 * The text of scalar N; WHAT says what was expected ("a duration") for
 * the message when N is a list, a mapping or null. A NUL byte (written
 * as "\0" in a quoted scalar) is refused here, once for every handler.
 */
static const char *
scalar(struct cfg_ctx *ctx, yaml_node_t *n, const char *where, const char *what)
{
	char q[96];

	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		cfg_error(ctx, n, where, "expected %s, found %s", what,
		    describe(n, q, sizeof(q)));
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) !=
	    n->data.scalar.length) {
		cfg_error(ctx, n, where, "contains a NUL byte");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static size_t
seq_len(const yaml_node_t *n)
{
	return (
	    size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *
seq_item(struct cfg_ctx *ctx, const yaml_node_t *n, size_t i)
{
	return node_at(ctx, n->data.sequence.items.start[i]);
}

/* The value of KEY in mapping N, or NULL. */
static yaml_node_t *
map_value(struct cfg_ctx *ctx, const yaml_node_t *n, const char *key)
{
	yaml_node_pair_t *p;

	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ctx, p->key);

		if (k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return node_at(ctx, p->value);
	}
	return NULL;
}

static void *
field(void *base, size_t off)
{
	return (char *)base + off;
}

/* Grow ARR of N elements of SIZE by one zeroed element; NULL on ENOMEM. */
static void *
grow(void *arr, size_t n, size_t size)
{
	char *p;

	if (n >= SIZE_MAX / size - 1) {
		errno = ENOMEM;
		return NULL;
	}
	if ((p = realloc(arr, (n + 1) * size)) == NULL)
		return NULL;
	memset(p + n * size, 0, size);
	return p;
}

/* Append N's position to the array *POS of COUNT positions. */
static int
add_pos(struct cfg_ctx *ctx, struct lb_pos **pos, size_t count, yaml_node_t *n)
{
	struct lb_pos *p;

	if ((p = grow(*pos, count, sizeof(*p))) == NULL)
		return nomem(ctx, n);
	*pos = p;
	p[count].line = (unsigned)n->start_mark.line + 1;
	p[count].col = (unsigned)n->start_mark.column + 1;
	return 0;
}

/* ------------------------------------------------ words and numbers */

/* A decimal number made of digits only, with *end after the digits. */
static bool
parse_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	*end = s;
	return true;
}

/* YAML 1.1 booleans, as people write them: true/false, yes/no, on/off. */
static int
parse_bool_word(const char *s, bool *b)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	return -1;
}

/*
 * "250ms", "5s", "2m", "1h"; a bare number is seconds, as in nginx.
 * Returns 0 with *ms, or -1 on a bad form or an overflow.
 */
static int
parse_duration_text(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t    ms;
	} units[] = {
		{ "ms", 1 },
		{ "s", 1000 },
		{ "", 1000 },
		{ "m", 60000 },
		{ "h", 3600000 },
	};
	const char *end;
	uint64_t    v;

	if (!parse_digits(s, &v, &end))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ms)
			return -1;
		*ms = v * units[i].ms;
		return 0;
	}
	return -1;
}

/* "512", "16k", "10m", "1g": binary multiples. */
static int
parse_size_text(const char *s, uint64_t *bytes)
{
	const char *end;
	uint64_t    v;
	unsigned    shift;

	if (!parse_digits(s, &v, &end))
		return -1;
	switch (*end) {
	case '\0':
		shift = 0;
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*bytes = v << shift;
	return 0;
}

/* A duration in the largest unit that writes it exactly: "3s", "250ms". */
static const char *
fmt_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		lb_snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		lb_snprintf(buf, len, "%llums", (unsigned long long)ms);
	return buf;
}

static const char *
fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "gmk";

	for (unsigned i = 0; i < 3; i++) {
		unsigned shift = 30 - 10 * i;

		if (v != 0 && v % (1ULL << shift) == 0) {
			lb_snprintf(buf, len, "%llu%c",
			    (unsigned long long)(v >> shift), units[i]);
			return buf;
		}
	}
	lb_snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/* RFC 9110 token: the characters a header name may hold. */
static bool
is_token(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || strchr(tchar, c) != NULL))
			return false;
	}
	return true;
}

/*
 * A host name as the Host header carries it, already lowercased: labels
 * of letters, digits, '-' and '_' joined by dots, optionally behind a
 * leading "*." wildcard.
 */
static bool
valid_host(const char *s)
{
	size_t label = 0;

	if (s[0] == '*' && s[1] == '.')
		s += 2;
	if (*s == '\0' || strlen(s) > 253)
		return false;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0 || s[-1] == '-' || s[1] == '\0')
				return false;
			label = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
			*s == '-' || *s == '_'))
			return false;
		if ((*s == '-' && label == 0) || ++label > 63)
			return false;
	}
	return s[-1] != '-';
}

/*
 * Normalize a path prefix the way requests are normalized, so that the
 * two compare byte for byte: "/a//b/./c/" becomes "/a/b/c". IMPLY_SLASH
 * reads "v1" as "/v1" (rewrite_rules). Returns a malloc'ed string, or
 * NULL with *why saying what is wrong (ENOMEM: *why is NULL).
 */
static char *
norm_prefix(const char *s, bool imply_slash, const char **why)
{
	char  *in = NULL, *out = NULL;
	size_t n;

	*why = NULL;
	if (*s != '/' && !imply_slash) {
		*why = "must start with '/'";
		return NULL;
	}
	if (strpbrk(s, "?#") != NULL) {
		*why = "must not contain '?' or '#'";
		return NULL;
	}
	if (asprintf(&in, "%s%s", *s == '/' ? "" : "/", s) == -1)
		return NULL;
	if (lb_uri_normalize_path(in, strlen(in), &out) == -1) {
		free(in);
		if (errno != ENOMEM)
			*why = "cannot be normalized (a '..' above the root, "
			       "an encoded '/', '\\' or NUL, a bad %-escape, a "
			       "space or a control character)";
		return NULL;
	}
	free(in);
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return out;
}

/* -------------------------------------------------------- the walker */

static int
unknown_key(struct cfg_ctx *ctx, yaml_node_t *kn, const char *where,
    const struct cfg_key *keys)
{
	const char *names[64], *s = (const char *)kn->data.scalar.value;
	const char *best;
	char	    q[96];
	size_t	    n;

	for (n = 0; keys[n].name != NULL && n < 64; n++)
		names[n] = keys[n].name;
	quote(s, q, sizeof(q));
	if ((best = closest(s, names, n)) != NULL)
		return cfg_error(ctx, kn, where,
		    "unknown key %s (did you mean '%s'?)", q, best);
	return cfg_error(ctx, kn, where, "unknown key %s", q);
}

/*
 * Walk mapping MAP with the table KEYS, filling BASE. WHERE names the
 * mapping in messages; each value is named PREFIX + its key. Keys marked
 * KEY_LATE are parsed after all the others and in table order, whatever
 * their order in the file: hosts and paths need the global defaults.
 */
static int
walk_map(struct cfg_ctx *ctx, yaml_node_t *map, const char *where,
    const char *prefix, const struct cfg_key *keys, void *base)
{
	yaml_node_pair_t *p;
	yaml_node_t	 *kn, *vn, *late[64] = { NULL };
	uint64_t	  seen = 0;
	char		  child[WHERELEN];
	size_t		  i;

	if (expect(ctx, map, YAML_MAPPING_NODE, where) == -1)
		return -1;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		kn = node_at(ctx, p->key);
		vn = node_at(ctx, p->value);
		if (kn->type != YAML_SCALAR_NODE)
			return cfg_error(ctx, kn, where,
			    "expected a key name, found %s",
			    kn->type == YAML_SEQUENCE_NODE ? "a list" :
							     "a mapping");
		for (i = 0; keys[i].name != NULL; i++)
			if (strcmp(keys[i].name,
				(const char *)kn->data.scalar.value) == 0)
				break;
		if (keys[i].name == NULL)
			return unknown_key(ctx, kn, where, keys);
		if (seen & (1ULL << i))
			return cfg_error(ctx, kn, where, "duplicate key '%s'",
			    keys[i].name);
		seen |= 1ULL << i;
		if (keys[i].flags & KEY_LATE) {
			late[i] = vn;
			continue;
		}
		lb_snprintf(child, sizeof(child), "%s%s", prefix, keys[i].name);
		if (keys[i].parse(ctx, &keys[i], vn, child, base) == -1)
			return -1;
	}
	for (i = 0; keys[i].name != NULL; i++) {
		if ((keys[i].flags & KEY_REQUIRED) && !(seen & (1ULL << i)))
			return cfg_error(ctx, map, where, "missing '%s'",
			    keys[i].name);
	}
	for (i = 0; keys[i].name != NULL; i++) {
		if (late[i] == NULL)
			continue;
		lb_snprintf(child, sizeof(child), "%s%s", prefix, keys[i].name);
		if (keys[i].parse(ctx, &keys[i], late[i], child, base) == -1)
			return -1;
	}
	return 0;
}

/* A nested mapping filling the struct at K->off of BASE. */
static int
parse_map(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	char prefix[WHERELEN];

	lb_snprintf(prefix, sizeof(prefix), "%s.", where);
	return walk_map(ctx, n, where, prefix, k->sub, field(base, k->off));
}

/* ------------------------------------------------------ scalar values */

/* Any non-empty string without control characters (char * at off). */
static int
parse_str(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	char	  **dst = field(base, k->off), *copy;
	const char *s;

	if ((s = scalar(ctx, n, where, "a string")) == NULL)
		return -1;
	if (*s == '\0')
		return cfg_error(ctx, n, where, "empty string");
	if (lb_str_has_ctl(s, strlen(s)))
		return cfg_error(ctx, n, where, "contains a control character");
	if ((copy = strdup(s)) == NULL)
		return nomem(ctx, n);
	free(*dst);
	*dst = copy;
	return 0;
}

/*
 * user, group: whether they exist is known at start-up only (the master
 * checks), so where they stood is kept for its error.
 */
static int
parse_account(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg *cfg = base;
	struct lb_pos *pos;

	if (parse_str(ctx, k, n, where, base) == -1)
		return -1;
	pos = k->off == offsetof(struct lb_cfg, user) ? &cfg->user_pos :
							&cfg->group_pos;
	pos->line = (unsigned)n->start_mark.line + 1;
	pos->col = (unsigned)n->start_mark.column + 1;
	return 0;
}

/*
 * Relative paths in the file (pid_file, the logs) are taken from the
 * directory lbmaster was started in (lb_cfg_set_base), so that they mean
 * the same after the daemon's chdir("/") and at every reload.
 */
static char *base_dir;

void
lb_cfg_set_base(const char *dir)
{
	free(base_dir);
	base_dir = dir != NULL ? strdup(dir) : NULL;
}

/* *DST, a path, made absolute from base_dir; 0 or -1 (ENOMEM). */
static int
absolutize(char **dst)
{
	char *abs;

	if (*dst == NULL || (*dst)[0] == '/' || base_dir == NULL)
		return 0;
	if (asprintf(&abs, "%s/%s", base_dir, *dst) == -1)
		return -1;
	free(*dst);
	*dst = abs;
	return 0;
}

/* pid_file: a path. */
static int
parse_path(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	if (parse_str(ctx, k, n, where, base) == -1)
		return -1;
	return absolutize(field(base, k->off)) == -1 ? nomem(ctx, n) : 0;
}

/* A log target: stderr, syslog, or a path (made absolute). */
static int
parse_log_target(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	const char *s = (const char *)n->data.scalar.value;

	if (strcmp(s, "stderr") == 0 || strcmp(s, "syslog") == 0)
		return parse_str(ctx, k, n, where, base);
	return parse_path(ctx, k, n, where, base);
}

/*
 * nginx's "syslog:server=..." would be a file of that name here: lbmaster
 * logs to the local syslog only, written "syslog".
 */
static int
check_log_target(struct cfg_ctx *ctx, yaml_node_t *n, const char *where,
    const char *s)
{
	char q[96];

	if (strncmp(s, "syslog:", 7) == 0)
		return cfg_error(ctx, n, where,
		    "%s: only the local syslog "
		    "is supported: write syslog",
		    quote(s, q, sizeof(q)));
	return 0;
}

/* error_log: stderr, syslog or a path; never off (see lbmaster.yaml(5)). */
static int
parse_error_log(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	const char *s;

	if ((s = scalar(ctx, n, where, "stderr, syslog or a path")) == NULL)
		return -1;
	if (strcasecmp(s, "off") == 0)
		return cfg_error(ctx, n, where,
		    "cannot be off (lbmaster always "
		    "keeps an error log): write stderr, syslog or a file, "
		    "/dev/null to discard it, or raise log_level");
	if (check_log_target(ctx, n, where, s) == -1)
		return -1;
	return parse_log_target(ctx, k, n, where, base);
}

/*
 * access_log: "off" leaves it NULL; anything else is a target: stderr,
 * syslog or a path.
 */
static int
parse_access_log(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	char	  **dst = field(base, k->off);
	const char *s;

	if ((s = scalar(ctx, n, where, "off, stderr, syslog or a path")) ==
	    NULL)
		return -1;
	if (strcasecmp(s, "off") == 0) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (check_log_target(ctx, n, where, s) == -1)
		return -1;
	return parse_log_target(ctx, k, n, where, base);
}

static int
parse_uint(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	const char *s, *end;
	uint64_t    v;
	char	    q[96];

	if ((s = scalar(ctx, n, where, "a number")) == NULL)
		return -1;
	if (!parse_digits(s, &v, &end) || *end != '\0')
		return cfg_error(ctx, n, where, "expected a number, found %s",
		    quote(s, q, sizeof(q)));
	if (v < k->lo || v > k->hi)
		return cfg_error(ctx, n, where, "%s out of range (%llu-%llu)",
		    s, (unsigned long long)k->lo, (unsigned long long)k->hi);
	*(unsigned *)field(base, k->off) = (unsigned)v;
	return 0;
}

static int
parse_bool(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	const char *s;
	char	    q[96];

	if ((s = scalar(ctx, n, where, "true or false")) == NULL)
		return -1;
	if (parse_bool_word(s, field(base, k->off)) == -1)
		return cfg_error(ctx, n, where,
		    "expected true or false, found %s", quote(s, q, sizeof(q)));
	return 0;
}

/* A duration in milliseconds (unsigned at off), within lo-hi. */
static int
parse_duration(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	const char *s;
	uint64_t    ms;
	char	    q[96], d[32];

	if ((s = scalar(ctx, n, where, "a duration")) == NULL)
		return -1;
	if (parse_duration_text(s, &ms) == -1)
		return cfg_error(ctx, n, where,
		    "bad duration %s (use a number "
		    "and ms, s, m or h, as in 250ms, 5s, 2m)",
		    quote(s, q, sizeof(q)));
	if (ms < k->lo)
		return cfg_error(ctx, n, where,
		    "duration %s too short "
		    "(at least %s)",
		    s, fmt_duration(k->lo, d, sizeof(d)));
	if (ms > k->hi)
		return cfg_error(ctx, n, where,
		    "duration %s too long "
		    "(at most %s)",
		    s, fmt_duration(k->hi, d, sizeof(d)));
	*(unsigned *)field(base, k->off) = (unsigned)ms;
	return 0;
}

/* A size in bytes (uint64_t at off), within lo-hi. */
static int
parse_size(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	const char *s;
	uint64_t    v;
	char	    q[96], lo[32], hi[32];

	if ((s = scalar(ctx, n, where, "a size")) == NULL)
		return -1;
	if (parse_size_text(s, &v) == -1)
		return cfg_error(ctx, n, where,
		    "bad size %s (use a number "
		    "of bytes, optionally with k, m or g, as in 512, 16k, 10m)",
		    quote(s, q, sizeof(q)));
	if (v < k->lo || v > k->hi)
		return cfg_error(ctx, n, where, "size %s out of range (%s-%s)",
		    s, fmt_size(k->lo, lo, sizeof(lo)),
		    fmt_size(k->hi, hi, sizeof(hi)));
	*(uint64_t *)field(base, k->off) = v;
	return 0;
}

/* One of NAMES; *idx is its index. WHAT names the setting in messages. */
static int
parse_word(struct cfg_ctx *ctx, yaml_node_t *n, const char *where,
    const char *what, const char *const *names, size_t nnames, size_t *idx)
{
	struct lb_buf list;
	const char   *s, *best;
	char	      q[96];
	int	      rc;

	if ((s = scalar(ctx, n, where, "a name")) == NULL)
		return -1;
	for (size_t i = 0; i < nnames; i++)
		if (strcmp(s, names[i]) == 0) {
			*idx = i;
			return 0;
		}
	lb_buf_init(&list);
	for (size_t i = 0; i < nnames; i++)
		lb_buf_printf(&list, "%s%s", i ? ", " : "", names[i]);
	if (lb_buf_failed(&list))
		rc = nomem(ctx, n);
	else if ((best = closest(s, names, nnames)) != NULL)
		rc = cfg_error(ctx, n, where,
		    "unknown %s %s, did you mean "
		    "'%s'? (valid: %s)",
		    what, quote(s, q, sizeof(q)), best, lb_buf_cstr(&list));
	else
		rc = cfg_error(ctx, n, where, "unknown %s %s (valid: %s)", what,
		    quote(s, q, sizeof(q)), lb_buf_cstr(&list));
	lb_buf_free(&list);
	return rc;
}

static int
parse_algo(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	size_t i;

	if (parse_word(ctx, n, where, "algorithm", algo_names, N_ALGOS, &i) ==
	    -1)
		return -1;
	*(enum lb_algo *)field(base, k->off) = (enum lb_algo)i;
	return 0;
}

static int
parse_log_level(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	size_t i;

	if (parse_word(ctx, n, where, "log_level", level_names, N_LEVELS, &i) ==
	    -1)
		return -1;
	*(enum lb_loglevel *)field(base, k->off) = (enum lb_loglevel)i;
	return 0;
}

/* ---------------------------------------------------------- CPU sets */

/*
 * The CPUs this process may run on (systemd's CPUAffinity=, taskset, a
 * container's cpuset), or the online ones when the kernel will not say.
 */
static void
usable_cpus(cpu_set_t *set)
{
	long n;

	CPU_ZERO(set);
	if (sched_getaffinity(0, sizeof(*set), set) == 0 && CPU_COUNT(set) > 0)
		return;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	for (long c = 0; c < n && c < CPU_SETSIZE; c++)
		CPU_SET((int)c, set);
	if (CPU_COUNT(set) == 0)
		CPU_SET(0, set);
}

/* workers: auto, one per usable CPU (as nginx's worker_processes auto). */
static unsigned
auto_workers(void)
{
	cpu_set_t usable;
	int	  n;

	usable_cpus(&usable);
	n = CPU_COUNT(&usable);
	return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

/* SET as the kernel lists CPUs ("0-3,8"), appended to B. */
static void
cpuset_text(struct lb_buf *b, const cpu_set_t *set)
{
	bool first = true;

	for (int c = 0; c < CPU_SETSIZE; c++) {
		int last = c;

		if (!CPU_ISSET(c, set))
			continue;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		lb_buf_printf(b, last == c ? "%s%d" : "%s%d-%d",
		    first ? "" : ",", c, last);
		first = false;
		c = last;
	}
}

/*
 * "0", "2-3", "0,4-5" into SET. Returns 0; -1 if S is no such list; -2
 * with *BIG set if it names a CPU past the last a cpu_set_t holds.
 */
static int
cpuset_parse(const char *s, cpu_set_t *set, uint64_t *big)
{
	uint64_t lo, hi;

	CPU_ZERO(set);
	for (;;) {
		if (!parse_digits(s, &lo, &s))
			return -1;
		hi = lo;
		if (*s == '-' && !parse_digits(s + 1, &hi, &s))
			return -1;
		if (hi < lo)
			return -1;
		if (hi >= CPU_SETSIZE) {
			*big = hi;
			return -2;
		}
		for (uint64_t c = lo; c <= hi; c++)
			CPU_SET((int)c, set);
		if (*s == '\0')
			return 0;
		if (*s++ != ',')
			return -1;
	}
}

/* One entry of cpu_affinity into SET, checked against the usable CPUs. */
static int
cpu_affinity_entry(struct cfg_ctx *ctx, yaml_node_t *n, const char *where,
    const cpu_set_t *usable, cpu_set_t *set)
{
	struct lb_buf b;
	const char   *s;
	uint64_t      big = 0;
	char	      q[96];
	int	      rc;

	if ((s = scalar(ctx, n, where, "a CPU set")) == NULL)
		return -1;
	if ((rc = cpuset_parse(s, set, &big)) == -2)
		return cfg_error(ctx, n, where,
		    "CPU %llu is past the highest CPU number (%d)",
		    (unsigned long long)big, CPU_SETSIZE - 1);
	if (rc == -1)
		return cfg_error(ctx, n, where,
		    "%s is not a CPU set (CPU numbers, ranges low-high, commas: "
		    "\"0\", \"2-3\", \"0,4-5\")",
		    quote(s, q, sizeof(q)));
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set) || CPU_ISSET(c, usable))
			continue;
		lb_buf_init(&b);
		cpuset_text(&b, usable);
		if (lb_buf_failed(&b))
			rc = nomem(ctx, n);
		else
			rc = cfg_error(ctx, n, where,
			    "CPU %d is not one lbmaster may run on here (it "
			    "may use %s)",
			    c, lb_buf_cstr(&b));
		lb_buf_free(&b);
		return rc;
	}
	return 0;
}

#define CPU_AFFINITY_FORMS                                   \
	"auto, off or a list of CPU sets such as [0, 1] or " \
	"[\"0-3\", \"4-7\"]"

/*
 * cpu_affinity: off (the default), auto (worker slot i on the i-th usable
 * CPU), or a list of CPU sets, worker slot i on entry i modulo their
 * number. A single set is a list of one, as elsewhere.
 */
static int
parse_cpu_affinity(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg *cfg = base;
	cpu_set_t      usable;
	const char    *s;
	size_t	       count;
	char	       q[96];

	(void)k;
	usable_cpus(&usable);
	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		s = (const char *)n->data.scalar.value;
		if (strcasecmp(s, "off") == 0)
			return 0;
		if (strcasecmp(s, "auto") == 0) {
			count = (size_t)CPU_COUNT(&usable);
			if ((cfg->cpu_sets = calloc(count,
				 sizeof(*cfg->cpu_sets))) == NULL)
				return nomem(ctx, n);
			for (int c = 0; c < CPU_SETSIZE; c++)
				if (CPU_ISSET(c, &usable))
					CPU_SET(c,
					    &cfg->cpu_sets[cfg->n_cpu_sets++]);
			cfg->cpu_auto = true;
			return 0;
		}
		if (s[0] < '0' || s[0] > '9')
			return cfg_error(ctx, n, where,
			    "expected " CPU_AFFINITY_FORMS ", found %s",
			    quote(s, q, sizeof(q)));
		if ((cfg->cpu_sets = calloc(1, sizeof(*cfg->cpu_sets))) == NULL)
			return nomem(ctx, n);
		cfg->n_cpu_sets = 1;
		return cpu_affinity_entry(ctx, n, where, &usable,
		    &cfg->cpu_sets[0]);
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_error(ctx, n, where,
		    "expected " CPU_AFFINITY_FORMS ", found %s",
		    describe(n, q, sizeof(q)));
	if ((count = seq_len(n)) == 0)
		return cfg_error(ctx, n, where,
		    "an empty list; write off to leave the workers where the "
		    "kernel puts them");
	if ((cfg->cpu_sets = calloc(count, sizeof(*cfg->cpu_sets))) == NULL)
		return nomem(ctx, n);
	for (size_t i = 0; i < count; i++) {
		if (cpu_affinity_entry(ctx, seq_item(ctx, n, i), where, &usable,
			&cfg->cpu_sets[i]) == -1)
			return -1;
		cfg->n_cpu_sets++;
	}
	return 0;
}

/* workers: 1-1024, or auto (the CPUs lbmaster may use, at least one). */
static int
parse_workers(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg *cfg = base;
	const char    *s, *end;
	uint64_t       v;
	char	       q[96];

	if ((s = scalar(ctx, n, where, "a number or auto")) == NULL)
		return -1;
	if (strcasecmp(s, "auto") == 0) {
		cfg->workers = auto_workers();
		cfg->workers_auto = true;
		return 0;
	}
	if (!parse_digits(s, &v, &end) || *end != '\0')
		return cfg_error(ctx, n, where,
		    "expected a number or auto, "
		    "found %s",
		    quote(s, q, sizeof(q)));
	if (v < 1 || v > MAX_WORKERS)
		return cfg_error(ctx, n, where,
		    "%s out of range (1-%d, or auto)", s, MAX_WORKERS);
	cfg->workers = (unsigned)v;
	cfg->workers_auto = false;
	return 0;
}

/* --------------------------------------------------------- addresses */

static int
listen_parse(struct cfg_ctx *ctx, yaml_node_t *n, const char *where,
    struct lb_listen *l)
{
	struct lb_sockaddr sa;
	const char	  *s;
	char		   e[LB_ERRLEN];

	if ((s = scalar(ctx, n, where, "an address")) == NULL)
		return -1;
	if (lb_addr_parse_listen(s, &sa, e, sizeof(e)) == -1)
		return cfg_error(ctx, n, where, "%s", e);
	if ((l->text = strdup(s)) == NULL)
		return nomem(ctx, n);
	memcpy(&l->addr, &sa.ss, sizeof(l->addr));
	l->addrlen = sa.len;
	return 0;
}

/* Where N stood, into the struct lb_pos at K->off_pos. */
static void
note_pos(const struct cfg_key *k, yaml_node_t *n, void *base)
{
	struct lb_pos *pos = field(base, k->off_pos);

	pos->line = (unsigned)n->start_mark.line + 1;
	pos->col = (unsigned)n->start_mark.column + 1;
}

/*
 * A string or a path, and where it stood (into the struct lb_pos at
 * K->off_pos), for the error of a value that turns out bad only when the
 * TLS contexts are built (lb_tls_build reports it there): a certificate's
 * cert or key, the ciphers, the client CAs.
 */
static int
parse_str_at(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	if (parse_str(ctx, k, n, where, base) == -1)
		return -1;
	note_pos(k, n, base);
	return 0;
}

static int
parse_path_at(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	if (parse_path(ctx, k, n, where, base) == -1)
		return -1;
	note_pos(k, n, base);
	return 0;
}

static const struct cfg_key tls_cert_keys[] = {
	{ .name = "cert",
	    .parse = parse_path_at,
	    .off = offsetof(struct lb_tls_cert, cert),
	    .off_pos = offsetof(struct lb_tls_cert, cert_pos),
	    .flags = KEY_REQUIRED },
	{ .name = "key",
	    .parse = parse_path_at,
	    .off = offsetof(struct lb_tls_cert, key),
	    .off_pos = offsetof(struct lb_tls_cert, key_pos),
	    .flags = KEY_REQUIRED },
	{ .name = NULL }
};

/* tls.certificates: a list of {cert, key}; the first is the default. */
static int
parse_tls_certs(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_tls	   *tls = base;
	struct lb_tls_cert *c;
	char		    w[WHERELEN], prefix[WHERELEN];

	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	if (seq_len(n) == 0)
		return cfg_error(ctx, n, where,
		    "empty list (give at least one {cert: FILE, key: FILE})");
	for (size_t i = 0; i < seq_len(n); i++) {
		if ((c = grow(tls->certs, tls->n_certs, sizeof(*c))) == NULL)
			return nomem(ctx, n);
		tls->certs = c;
		c = &tls->certs[tls->n_certs++];
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		lb_snprintf(prefix, sizeof(prefix), "%s.", w);
		if (walk_map(ctx, seq_item(ctx, n, i), w, prefix, tls_cert_keys,
			c) == -1)
			return -1;
	}
	return 0;
}

/* tls.min_version: "1.2" or "1.3"; the older ones are refused by name. */
static int
parse_tls_version(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_tls *tls = base;
	const char    *s;
	char	       q[96];

	if ((s = scalar(ctx, n, where, "\"1.2\" or \"1.3\"")) == NULL)
		return -1;
	if (strcmp(s, "1.2") == 0)
		tls->min_version = 12;
	else if (strcmp(s, "1.3") == 0)
		tls->min_version = 13;
	else if (strcmp(s, "1.0") == 0 || strcmp(s, "1.1") == 0 ||
	    strcmp(s, "1") == 0)
		return cfg_error(ctx, n, where,
		    "TLS %s is not supported (broken, and refused by "
		    "browsers): \"1.2\" or \"1.3\"",
		    s);
	else
		return cfg_error(ctx, n, where,
		    "expected \"1.2\" or \"1.3\", found %s",
		    quote(s, q, sizeof(q)));
	return 0;
}

/* tls.client_verify: required or optional; only with client_ca. */
static int
parse_tls_verify(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_tls *tls = base;
	const char    *s;
	char	       q[96];

	if ((s = scalar(ctx, n, where, "required or optional")) == NULL)
		return -1;
	if (strcmp(s, "required") == 0)
		tls->client_optional = false;
	else if (strcmp(s, "optional") == 0)
		tls->client_optional = true;
	else
		return cfg_error(ctx, n, where,
		    "expected required or optional, found %s",
		    quote(s, q, sizeof(q)));
	if (tls->client_ca == NULL)
		return cfg_error(ctx, n, where,
		    "needs client_ca: the CAs that client certificates are "
		    "verified against");
	return 0;
}

static const struct cfg_key tls_keys[] = { { .name = "certificates",
					       .parse = parse_tls_certs,
					       .flags = KEY_REQUIRED },
	{ .name = "min_version", .parse = parse_tls_version },
	{ .name = "ciphers",
	    .parse = parse_str_at,
	    .off = offsetof(struct lb_tls, ciphers),
	    .off_pos = offsetof(struct lb_tls, ciphers_pos) },
	{ .name = "session_tickets",
	    .parse = parse_bool,
	    .off = offsetof(struct lb_tls, session_tickets) },
	{ .name = "client_ca",
	    .parse = parse_path_at,
	    .off = offsetof(struct lb_tls, client_ca),
	    .off_pos = offsetof(struct lb_tls, client_ca_pos) },
	{ .name = "client_verify",
	    .parse = parse_tls_verify,
	    .flags = KEY_LATE }, /* after client_ca, wherever it is */
	{ .name = NULL } };

/* A listener's tls: map, into a fresh struct lb_tls at *(l->tls). */
static int
parse_listen_tls(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_listen *l = base;
	char		  prefix[WHERELEN];

	if ((l->tls = calloc(1, sizeof(*l->tls))) == NULL)
		return nomem(ctx, n);
	l->tls->min_version = 12;
	l->tls->session_tickets = true;
	if ((l->tls->ciphers = strdup(DEFAULT_TLS_CIPHERS)) == NULL)
		return nomem(ctx, n);
	lb_snprintf(prefix, sizeof(prefix), "%s.", where);
	return walk_map(ctx, n, where, prefix, tls_keys, l->tls);
}

/* listen[].address, of a listener written as a mapping. */
static int
parse_listen_address(struct cfg_ctx *ctx, const struct cfg_key *k,
    yaml_node_t *n, const char *where, void *base)
{
	(void)k;
	return listen_parse(ctx, n, where, base);
}

/*
 * redirect_https: a port, or true for 443. Only on a plain listener:
 * checked after tls, wherever it is.
 */
static int
parse_redirect_https(struct cfg_ctx *ctx, const struct cfg_key *k,
    yaml_node_t *n, const char *where, void *base)
{
	struct lb_listen *l = base;
	const char	 *s, *end;
	uint64_t	  v;
	bool		  b;
	char		  q[96];

	if ((s = scalar(ctx, n, where, "a port or true")) == NULL)
		return -1;
	if (parse_bool_word(s, &b) == 0) {
		if (!b)
			return cfg_error(ctx, n, where,
			    "false is the default: leave the key out");
		v = 443;
	} else if (!parse_digits(s, &v, &end) || *end != '\0')
		return cfg_error(ctx, n, where,
		    "expected a port or true, found %s",
		    quote(s, q, sizeof(q)));
	if (v < 1 || v > 65535)
		return cfg_error(ctx, n, where, "%s out of range (1-65535)", s);
	if (l->tls != NULL)
		return cfg_error(ctx, n, where,
		    "a TLS listener serves its requests: redirect_https is "
		    "for a plain one");
	l->redirect_https = (unsigned)v;
	return 0;
}

static const struct cfg_key listen_keys[] = { { .name = "address",
						  .parse = parse_listen_address,
						  .flags = KEY_REQUIRED },
	{ .name = "proxy_protocol",
	    .parse = parse_bool,
	    .off = offsetof(struct lb_listen, proxy_protocol) },
	{ .name = "tls", .parse = parse_listen_tls },
	{ .name = "redirect_https",
	    .parse = parse_redirect_https,
	    .flags = KEY_LATE },
	{ .name = NULL } };

/*
 * One listener: "address", or {address, proxy_protocol, tls,
 * redirect_https}.
 */
static int
add_listen(struct cfg_ctx *ctx, yaml_node_t *n, const char *where)
{
	struct lb_cfg	 *cfg = ctx->cfg;
	struct lb_listen *l;
	char		  q[96], prefix[WHERELEN];

	if ((l = grow(cfg->listen, cfg->n_listen, sizeof(*l))) == NULL)
		return nomem(ctx, n);
	cfg->listen = l;
	l = &cfg->listen[cfg->n_listen++];
	if ((l->where = strdup(where)) == NULL)
		return nomem(ctx, n);
	lb_snprintf(prefix, sizeof(prefix), "%s.", where);
	if (n->type == YAML_MAPPING_NODE ?
		walk_map(ctx, n, where, prefix, listen_keys, l) == -1 :
		listen_parse(ctx, n, where, l) == -1)
		return -1;
	for (size_t i = 0; i + 1 < cfg->n_listen; i++)
		if (lb_addr_equal((struct sockaddr *)&cfg->listen[i].addr,
			(struct sockaddr *)&l->addr))
			return cfg_error(ctx, n, where,
			    "duplicate listen address %s",
			    quote(l->text, q, sizeof(q)));
	return 0;
}

/* listen: one address, or a list of them. */
static int
parse_listen(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	char w[WHERELEN];

	if (n->type == YAML_SCALAR_NODE || n->type == YAML_MAPPING_NODE)
		return add_listen(ctx, n, where);
	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	if (seq_len(n) == 0)
		return cfg_error(ctx, n, where,
		    "empty list (give at least one "
		    "address, such as \"0.0.0.0:8080\")");
	for (size_t i = 0; i < seq_len(n); i++) {
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (add_listen(ctx, seq_item(ctx, n, i), w) == -1)
			return -1;
	}
	return 0;
}

static int
parse_admin_listen(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_listen **dst = field(base, k->off);

	if ((*dst = calloc(1, sizeof(**dst))) == NULL)
		return nomem(ctx, n);
	ctx->admin_node = n;
	return listen_parse(ctx, n, where, *dst);
}

/*
 * admin.token: the drain API's bearer token. Sent in a header, so only
 * visible ASCII; short ones are guessed.
 */
static int
parse_admin_token(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg *cfg = base;
	const char    *s;

	(void)k;
	if ((s = scalar(ctx, n, where, "a token")) == NULL)
		return -1;
	if (strlen(s) < 16 || strlen(s) > 256)
		return cfg_error(ctx, n, where,
		    "a token of %zu characters (use 16 to 256, such as the "
		    "output of \"openssl rand -hex 16\")",
		    strlen(s));
	for (const char *c = s; *c != '\0'; c++)
		if (*c <= ' ' || *c > '~')
			return cfg_error(ctx, n, where,
			    "a token is visible ASCII characters "
			    "only (no spaces)");
	ctx->token_node = n;
	free(cfg->admin_token);
	if ((cfg->admin_token = strdup(s)) == NULL)
		return nomem(ctx, n);
	return 0;
}

/*
 * resolver.nameservers: numeric "IP" or "IP:PORT" (port 53 by default),
 * stored as "IP:PORT" ("[::1]:53" for IPv6), as evdns takes them.
 */
static int
parse_nameservers(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg	  *cfg = base;
	struct lb_sockaddr sa;
	yaml_node_t	  *item;
	const char	  *s;
	char		   w[WHERELEN], e[LB_ERRLEN], text[80], q[96], **p;

	(void)k;
	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	for (size_t i = 0; i < seq_len(n); i++) {
		item = seq_item(ctx, n, i);
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if ((s = scalar(ctx, item, w, "an address")) == NULL)
			return -1;
		if (strchr(s, ':') == NULL ||
		    (s[0] != '[' && strchr(s, ':') != strrchr(s, ':')))
			lb_snprintf(text, sizeof(text),
			    strchr(s, ':') ? "[%s]:53" : "%s:53", s);
		else
			lb_snprintf(text, sizeof(text), "%s", s);
		if (lb_addr_parse_listen(text, &sa, e, sizeof(e)) == -1)
			return cfg_error(ctx, item, w,
			    "%s is not an IP address with an optional port "
			    "(as in \"127.0.0.1:53\")",
			    quote(s, q, sizeof(q)));
		lb_addr_format((struct sockaddr *)&sa.ss, text, sizeof(text));
		if ((p = grow(cfg->nameservers, cfg->n_nameservers,
			 sizeof(*p))) == NULL)
			return nomem(ctx, item);
		cfg->nameservers = p;
		if ((p[cfg->n_nameservers] = strdup(text)) == NULL)
			return nomem(ctx, item);
		cfg->n_nameservers++;
	}
	return 0;
}

/* A list of addresses and CIDR blocks (struct lb_cidr array at off). */
static int
parse_cidrs(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cidr **arr = field(base, k->off), *c;
	size_t		*cnt = field(base, k->off_n);
	yaml_node_t	*item;
	const char	*s;
	char		 w[WHERELEN], e[LB_ERRLEN];

	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	for (size_t i = 0; i < seq_len(n); i++) {
		item = seq_item(ctx, n, i);
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if ((s = scalar(ctx, item, w, "an address or CIDR block")) ==
		    NULL)
			return -1;
		if ((c = grow(*arr, *cnt, sizeof(*c))) == NULL)
			return nomem(ctx, item);
		*arr = c;
		if (lb_cidr_parse(s, &c[*cnt], e, sizeof(e)) == -1)
			return cfg_error(ctx, item, w, "%s", e);
		if (add_pos(ctx, field(base, k->off_pos), *cnt, item) == -1)
			return -1;
		(*cnt)++;
	}
	return 0;
}

/* ------------------------------------------------------ paths, names */

/* A list of path prefixes (char * array at off): firewall path_reject. */
static int
parse_path_list(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	char	  ***arr = field(base, k->off), **p;
	size_t	    *cnt = field(base, k->off_n);
	yaml_node_t *item;
	const char  *s, *why;
	char	     w[WHERELEN], q[96];

	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	for (size_t i = 0; i < seq_len(n); i++) {
		item = seq_item(ctx, n, i);
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if ((s = scalar(ctx, item, w, "a path")) == NULL)
			return -1;
		if ((p = grow(*arr, *cnt, sizeof(*p))) == NULL)
			return nomem(ctx, item);
		*arr = p;
		if ((p[*cnt] = norm_prefix(s, false, &why)) == NULL)
			return why == NULL ? nomem(ctx, item) :
					     cfg_error(ctx, item, w, "%s %s",
						 quote(s, q, sizeof(q)), why);
		if (add_pos(ctx, field(base, k->off_pos), *cnt, item) == -1)
			return -1;
		(*cnt)++;
	}
	return 0;
}

/* health_check.path: what the checker asks for; a query is allowed. */
static int
parse_check_path(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	const char *s;
	char	    q[96];

	if ((s = scalar(ctx, n, where, "a path")) == NULL)
		return -1;
	if (*s != '/' || strpbrk(s, " #") != NULL)
		return cfg_error(ctx, n, where,
		    "path %s must start with '/' "
		    "and hold no space or '#'",
		    quote(s, q, sizeof(q)));
	return parse_str(ctx, k, n, where, base);
}

/* A header or parameter name: a token for headers, no controls for both. */
static int
check_name(struct cfg_ctx *ctx, yaml_node_t *n, const char *where,
    const char *s, bool header)
{
	char q[96];

	if (header && !is_token(s))
		return cfg_error(ctx, n, where,
		    "%s is not a valid header name "
		    "(letters, digits and !#$%%&'*+-.^_`|~ only)",
		    quote(s, q, sizeof(q)));
	if (*s == '\0' || lb_str_has_ctl(s, strlen(s)))
		return cfg_error(ctx, n, where,
		    "%s is not a valid parameter "
		    "name (empty or holding a control character)",
		    quote(s, q, sizeof(q)));
	return 0;
}

/* add: a mapping NAME -> VALUE (struct lb_kv array at off). */
static int
parse_kv(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_kv	**arr = field(base, k->off), *kv;
	size_t		 *cnt = field(base, k->off_n);
	bool		  header = k->flags & KEY_HEADER;
	yaml_node_pair_t *p;
	yaml_node_t	 *kn, *vn;
	const char	 *name, *value;
	char		  q[96];

	if (expect(ctx, n, YAML_MAPPING_NODE, where) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		kn = node_at(ctx, p->key);
		vn = node_at(ctx, p->value);
		if ((name = scalar(ctx, kn, where, "a name")) == NULL ||
		    check_name(ctx, kn, where, name, header) == -1)
			return -1;
		/* Framing set by a config line would invite smuggling. */
		if (header && (lb_http_managed(name) & LB_HTTP_FRAMING))
			return cfg_error(ctx, kn, where,
			    "cannot set '%s': lbmaster manages it", name);
		for (size_t i = 0; i < *cnt; i++)
			if (header ? strcasecmp((*arr)[i].name, name) == 0 :
				     strcmp((*arr)[i].name, name) == 0)
				return cfg_error(ctx, kn, where,
				    "duplicate name %s",
				    quote(name, q, sizeof(q)));
		if (is_null(vn))
			return cfg_error(ctx, vn, where,
			    "missing value for "
			    "'%s' (write \"\" for an empty one)",
			    name);
		if ((value = scalar(ctx, vn, where, "a value")) == NULL)
			return -1;
		if (lb_str_has_ctl(value, strlen(value)))
			return cfg_error(ctx, vn, where,
			    "value of '%s' "
			    "contains a control character (CR and LF would "
			    "inject a line)",
			    name);
		if ((kv = grow(*arr, *cnt, sizeof(*kv))) == NULL)
			return nomem(ctx, kn);
		*arr = kv;
		kv = &kv[(*cnt)++];
		if ((kv->name = strdup(name)) == NULL ||
		    (kv->value = strdup(value)) == NULL)
			return nomem(ctx, kn);
	}
	return 0;
}

/*
 * remove: a list of names, or a mapping whose keys are the names (the
 * course's form "remove: {Host: www.mango.com}"; the values are ignored).
 */
static int
parse_names(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	char	  ***arr = field(base, k->off), **p;
	size_t	    *cnt = field(base, k->off_n);
	bool	     header = k->flags & KEY_HEADER;
	bool	     map = n->type == YAML_MAPPING_NODE;
	size_t	     count;
	yaml_node_t *item;
	const char  *name;
	char	     w[WHERELEN];

	if (!map && n->type != YAML_SEQUENCE_NODE) {
		char q[96];

		return cfg_error(ctx, n, where,
		    "expected a list of names or "
		    "a mapping, found %s",
		    describe(n, q, sizeof(q)));
	}
	count = map ?
	    (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start) :
	    seq_len(n);
	for (size_t i = 0; i < count; i++) {
		if (map) {
			item = node_at(ctx, n->data.mapping.pairs.start[i].key);
			lb_strlcpy(w, where, sizeof(w));
		} else {
			item = seq_item(ctx, n, i);
			lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		}
		if ((name = scalar(ctx, item, w, "a name")) == NULL ||
		    check_name(ctx, item, w, name, header) == -1)
			return -1;
		if (header && (lb_http_managed(name) & LB_HTTP_FRAMING))
			return cfg_error(ctx, item, w,
			    "cannot remove '%s': lbmaster manages it", name);
		if ((p = grow(*arr, *cnt, sizeof(*p))) == NULL)
			return nomem(ctx, item);
		*arr = p;
		if ((p[*cnt] = strdup(name)) == NULL)
			return nomem(ctx, item);
		(*cnt)++;
	}
	return 0;
}

/* rewrite_rules.replace: FROM -> TO prefixes, both normalized. */
static int
parse_rewrite(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_kv	**arr = field(base, k->off), *kv;
	size_t		 *cnt = field(base, k->off_n);
	yaml_node_pair_t *p;
	yaml_node_t	 *side[2];
	const char	 *s, *why;
	char		 *norm[2], q[96];

	if (expect(ctx, n, YAML_MAPPING_NODE, where) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		side[0] = node_at(ctx, p->key);
		side[1] = node_at(ctx, p->value);
		if ((kv = grow(*arr, *cnt, sizeof(*kv))) == NULL)
			return nomem(ctx, side[0]);
		*arr = kv;
		kv = &kv[(*cnt)++];
		for (int i = 0; i < 2; i++) {
			if ((s = scalar(ctx, side[i], where, "a path")) == NULL)
				return -1;
			if ((norm[i] = norm_prefix(s, true, &why)) == NULL)
				return why == NULL ?
				    nomem(ctx, side[i]) :
				    cfg_error(ctx, side[i], where, "%s %s",
					quote(s, q, sizeof(q)), why);
			if (i == 0)
				kv->name = norm[0];
			else
				kv->value = norm[1];
		}
		for (size_t i = 0; i + 1 < *cnt; i++)
			if (strcmp((*arr)[i].name, kv->name) == 0)
				return cfg_error(ctx, side[0], where,
				    "duplicate rewrite of '%s'", kv->name);
	}
	return 0;
}

/* ----------------------------------------------------------- edge */

/*
 * request_id: off, on (X-Request-ID), or the name of the header that
 * carries it: a token lbmaster does not manage itself.
 */
static int
parse_request_id(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg *cfg = base;
	const char    *s;
	char	       q[96], *copy;
	bool	       on;

	(void)k;
	if ((s = scalar(ctx, n, where, "a header name or off")) == NULL)
		return -1;
	if (parse_bool_word(s, &on) == 0)
		s = on ? "X-Request-ID" : NULL;
	else if (!is_token(s))
		return cfg_error(ctx, n, where,
		    "%s is not a header name (use off, or a name such as "
		    "X-Request-ID)",
		    quote(s, q, sizeof(q)));
	else if (lb_http_managed(s) != 0 || strcasecmp(s, "Host") == 0)
		return cfg_error(ctx, n, where,
		    "%s is a header lbmaster writes itself (use another name, "
		    "such as X-Request-ID)",
		    quote(s, q, sizeof(q)));
	copy = NULL;
	if (s != NULL && (copy = strdup(s)) == NULL)
		return nomem(ctx, n);
	free(cfg->request_id);
	cfg->request_id = copy;
	return 0;
}

/* sticky.cookie: a cookie name (a token, RFC 6265). */
static int
parse_cookie_name(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_route *r = base;
	const char	*s;
	char		 q[96], *copy;

	(void)k;
	if ((s = scalar(ctx, n, where, "a cookie name")) == NULL)
		return -1;
	if (!is_token(s))
		return cfg_error(ctx, n, where,
		    "%s is not a cookie name (letters, digits and "
		    "!#$%%&'*+-.^_`|~, as in lbm_srv)",
		    quote(s, q, sizeof(q)));
	if ((copy = strdup(s)) == NULL)
		return nomem(ctx, n);
	free(r->sticky_cookie);
	r->sticky_cookie = copy;
	return 0;
}

static const struct cfg_key sticky_keys[] = {
	{ .name = "cookie", .parse = parse_cookie_name, .flags = KEY_REQUIRED },
	{ .name = NULL }
};

/* sticky: off, or {cookie: NAME}. */
static int
parse_sticky(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_route *r = base;
	char		 prefix[WHERELEN], q[96];
	bool		 on;

	(void)k;
	free(r->sticky_cookie);
	r->sticky_cookie = NULL;
	if (n->type == YAML_MAPPING_NODE) {
		lb_snprintf(prefix, sizeof(prefix), "%s.", where);
		return walk_map(ctx, n, where, prefix, sticky_keys, r);
	}
	if (n->type != YAML_SCALAR_NODE || is_null(n) ||
	    parse_bool_word((const char *)n->data.scalar.value, &on) == -1 ||
	    on)
		return cfg_error(ctx, n, where,
		    "expected off or a mapping such as {cookie: lbm_srv}, "
		    "found %s",
		    describe(n, q, sizeof(q)));
	return 0;
}

static const char *const log_formats[] = { "combined", "json" };

static int
parse_log_format(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	size_t i;

	if (parse_word(ctx, n, where, "access_log_format", log_formats, 2,
		&i) == -1)
		return -1;
	*(bool *)field(base, k->off) = i == 1;
	return 0;
}

/* -------------------------------------------------------- rate limits */

/* rate_limit.rate: "N/s" or "N/m", N 1-1000000. */
static int
parse_rate(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_rate_limit *rl = base;
	const char	     *s, *end;
	uint64_t	      v;
	char		      q[96];

	(void)k;
	if ((s = scalar(ctx, n, where, "a rate")) == NULL)
		return -1;
	if (!parse_digits(s, &v, &end) || end[0] != '/' ||
	    (strcmp(end + 1, "s") != 0 && strcmp(end + 1, "m") != 0))
		return cfg_error(ctx, n, where,
		    "bad rate %s (use requests per second or minute, as in "
		    "100/s or 30/m)",
		    quote(s, q, sizeof(q)));
	if (v < 1 || v > 1000000)
		return cfg_error(ctx, n, where,
		    "rate %s out of range (1-1000000 per second or minute)", s);
	rl->count = (unsigned)v;
	rl->period_ms = end[1] == 's' ? 1000 : 60000;
	return 0;
}

/* rate_limit.key: client_ip or header:NAME. */
static int
parse_rl_key(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_rate_limit *rl = base;
	const char	     *s;
	char		      q[96], *copy;

	(void)k;
	if ((s = scalar(ctx, n, where, "a key")) == NULL)
		return -1;
	if (strcmp(s, "client_ip") == 0) {
		free(rl->header);
		rl->header = NULL;
		rl->key = LB_RL_KEY_CLIENT_IP;
		return 0;
	}
	if (strncmp(s, "header:", 7) != 0 || !is_token(s + 7))
		return cfg_error(ctx, n, where,
		    "unknown key %s (valid: client_ip, header:NAME, as in "
		    "header:X-Api-Key)",
		    quote(s, q, sizeof(q)));
	if ((copy = strdup(s + 7)) == NULL)
		return nomem(ctx, n);
	free(rl->header);
	rl->header = copy;
	rl->key = LB_RL_KEY_HEADER;
	return 0;
}

static const struct cfg_key rate_limit_keys[] = {
	{ .name = "rate", .parse = parse_rate, .flags = KEY_REQUIRED },
	{ .name = "burst",
	    .parse = parse_uint,
	    .off = offsetof(struct lb_rate_limit, burst),
	    .lo = 1,
	    .hi = 1000000 },
	{ .name = "key", .parse = parse_rl_key },
	{ .name = "max_keys",
	    .parse = parse_uint,
	    .off = offsetof(struct lb_rate_limit, max_keys),
	    .lo = 1,
	    .hi = 10000000 },
	{ .name = NULL }
};

/*
 * rate_limit: off, or a mapping with rate and optionally burst (default:
 * the rate's count), key and max_keys. At the top it is every route's
 * default; in a route it is the route's own, off included.
 */
static int
parse_rate_limit(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_rate_limit *rl = field(base, k->off);
	char		      prefix[WHERELEN], q[96];
	bool		      on;

	free(rl->header);
	memset(rl, 0, sizeof(*rl));
	rl->own = true;
	if (n->type == YAML_MAPPING_NODE) {
		rl->enabled = true;
		rl->max_keys = 100000;
		lb_snprintf(prefix, sizeof(prefix), "%s.", where);
		if (walk_map(ctx, n, where, prefix, rate_limit_keys, rl) == -1)
			return -1;
		if (rl->burst == 0)
			rl->burst = rl->count;
		return 0;
	}
	if (n->type != YAML_SCALAR_NODE || is_null(n) ||
	    parse_bool_word((const char *)n->data.scalar.value, &on) == -1 ||
	    on)
		return cfg_error(ctx, n, where,
		    "expected off or a mapping such as {rate: 100/s, burst: "
		    "50}, found %s",
		    describe(n, q, sizeof(q)));
	return 0;
}

/* ------------------------------------------------------ health checks */

static const struct cfg_key health_keys[] = {
	{ .name = "path",
	    .parse = parse_check_path,
	    .off = offsetof(struct lb_health, path) },
	{ .name = "interval",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_health, interval_ms),
	    .lo = 1,
	    .hi = 3600000 },
	{ .name = "timeout",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_health, timeout_ms),
	    .lo = 1,
	    .hi = 3600000 },
	{ .name = "rise",
	    .parse = parse_uint,
	    .off = offsetof(struct lb_health, rise),
	    .lo = 1,
	    .hi = 100 },
	{ .name = "fall",
	    .parse = parse_uint,
	    .off = offsetof(struct lb_health, fall),
	    .lo = 1,
	    .hi = 100 },
	{ .name = NULL }
};

/*
 * health_check: off (or on), or a mapping. The struct at off already
 * holds the defaults (for a route: the global check), so a mapping
 * overrides only the fields it names.
 */
static int
parse_health(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_health *h = field(base, k->off);
	char		  prefix[WHERELEN], q[96];

	if (n->type == YAML_MAPPING_NODE) {
		h->enabled = true;
		lb_snprintf(prefix, sizeof(prefix), "%s.", where);
		return walk_map(ctx, n, where, prefix, health_keys, h);
	}
	if (n->type != YAML_SCALAR_NODE || is_null(n) ||
	    parse_bool_word((const char *)n->data.scalar.value, &h->enabled) ==
		-1)
		return cfg_error(ctx, n, where,
		    "expected off or a mapping, "
		    "found %s",
		    describe(n, q, sizeof(q)));
	return 0;
}

/* ------------------------------------------------------------ servers */

/*
 * A server written as a URL: "http://host[:port][/]" becomes "host:port"
 * (port 80 by default) in TMPL->name, and so does "https://..." (443),
 * with *TLS set. Any other scheme, or a path, is an error at N. Returns 0
 * (TMPL->name left alone when it has no scheme) or -1.
 */
static int
strip_scheme(struct cfg_ctx *ctx, struct lb_server *tmpl, yaml_node_t *n,
    const char *where, bool *tls)
{
	const char *s = tmpl->name, *sep = strstr(s, "://"), *rest, *slash;
	char	    q[96], *name;
	size_t	    len;
	bool	    port;

	if (sep == NULL)
		return 0;
	quote(s, q, sizeof(q));
	rest = sep + 3;
	/* https://: over TLS (SPEC section 8), port 443 by default. */
	*tls = (size_t)(sep - s) == 5 && strncasecmp(s, "https", 5) == 0;
	if (!*tls && ((size_t)(sep - s) != 4 || strncasecmp(s, "http", 4) != 0))
		return cfg_error(ctx, n, where,
		    "%s: unknown scheme (a server "
		    "is host:port, http://host:port or https://host:port)",
		    q);
	len = strcspn(rest, "/");
	slash = rest + len;
	if (*slash != '\0' && strcmp(slash, "/") != 0)
		return cfg_error(ctx, n, where,
		    "%s: a server has no path (use "
		    "rewrite_rules to change the path)",
		    q);
	/* A port is after the last ':', and after a ']' for IPv6. */
	port = memchr(rest, ':', len) != NULL &&
	    (rest[0] != '[' ||
		(memchr(rest, ']', len) != NULL &&
		    ((const char *)memchr(rest, ']', len))[1] == ':'));
	if (asprintf(&name, "%.*s%s", (int)len, rest,
		port	 ? "" :
		    *tls ? ":443" :
			   ":80") == -1)
		return nomem(ctx, n);
	free(tmpl->name);
	tmpl->name = name;
	return 0;
}

/*
 * Resolve the server TMPL (its name, weight, backup) written at node N,
 * and append one lb_server per address to R.
 */
static int
add_server(struct cfg_ctx *ctx, struct lb_route *r,
    const struct lb_server *tmpl, yaml_node_t *n, const char *where)
{
	struct lb_sockaddr *sa = NULL;
	struct lb_server   *s;
	size_t		    nsa = 0, i;
	unsigned	    port;
	char		    host[256], e[LB_ERRLEN];
	int		    rc = -1;

	if (lb_addr_split(tmpl->name, host, sizeof(host), &port, 0, e,
		sizeof(e)) == -1 ||
	    lb_addr_resolve(host, port, &sa, &nsa, e, sizeof(e)) == -1) {
		cfg_error(ctx, n, where, "%s", e);
		goto fail;
	}
	for (i = 0; i < nsa; i++) {
		if ((s = grow(r->servers, r->n_servers, sizeof(*s))) == NULL) {
			nomem(ctx, n);
			goto fail;
		}
		r->servers = s;
		s = &s[r->n_servers++];
		if ((s->name = strdup(tmpl->name)) == NULL) {
			nomem(ctx, n);
			goto fail;
		}
		memcpy(&s->addr, &sa[i].ss, sizeof(s->addr));
		s->addrlen = sa[i].len;
		lb_addr_format((struct sockaddr *)&s->addr, s->addrstr,
		    sizeof(s->addrstr));
		s->weight = tmpl->weight;
		s->backup = tmpl->backup;
		s->https = tmpl->https;
		s->pos.line = (unsigned)n->start_mark.line + 1;
		s->pos.col = (unsigned)n->start_mark.column + 1;
	}
	rc = 0;
fail:
	free(sa);
	return rc;
}

/*
 * A followed name's slots: MAX servers named as written, with no address
 * yet (the health checker's resolver finds them, worker/resolver.c).
 */
static int
add_followed(struct cfg_ctx *ctx, struct lb_route *r,
    const struct lb_server *tmpl, yaml_node_t *n)
{
	struct lb_server *s;

	if (tmpl->max_addresses > SIZE_MAX / sizeof(*s) - r->n_servers)
		return nomem(ctx, n);
	s = realloc(r->servers,
	    (r->n_servers + tmpl->max_addresses) * sizeof(*s));
	if (s == NULL)
		return nomem(ctx, n);
	r->servers = s;
	for (unsigned i = 0; i < tmpl->max_addresses; i++) {
		s = &r->servers[r->n_servers];
		memset(s, 0, sizeof(*s));
		if ((s->name = strdup(tmpl->name)) == NULL)
			return nomem(ctx, n);
		r->n_servers++;
		s->weight = tmpl->weight;
		s->backup = tmpl->backup;
		s->follow = tmpl->follow;
		s->max_addresses = tmpl->max_addresses;
		s->slot = i;
		s->pos.line = (unsigned)n->start_mark.line + 1;
		s->pos.col = (unsigned)n->start_mark.column + 1;
	}
	ctx->cfg->n_followed++;
	return 0;
}

/* A server mapping as written, before it becomes servers. */
struct srv_tmpl {
	char	*address;
	char	*service;
	unsigned weight;
	bool	 backup;
	bool	 resolve;
	unsigned max_addresses;
};

static const struct cfg_key server_keys[] = {
	{ .name = "address",
	    .parse = parse_str,
	    .off = offsetof(struct srv_tmpl, address) },
	{ .name = "weight",
	    .parse = parse_uint,
	    .off = offsetof(struct srv_tmpl, weight),
	    .lo = 1,
	    .hi = 1000 },
	{ .name = "backup",
	    .parse = parse_bool,
	    .off = offsetof(struct srv_tmpl, backup) },
	{ .name = "resolve",
	    .parse = parse_bool,
	    .off = offsetof(struct srv_tmpl, resolve) },
	{ .name = "service",
	    .parse = parse_str,
	    .off = offsetof(struct srv_tmpl, service) },
	{ .name = "max_addresses",
	    .parse = parse_uint,
	    .off = offsetof(struct srv_tmpl, max_addresses),
	    .lo = 1,
	    .hi = LB_MAX_ADDRESSES_MAX },
	{ .name = NULL }
};

/*
 * What a server mapping asks that its keys alone cannot say: an address
 * or a service, not both; a name to follow. 0, or -1 with ctx->err.
 */
static int
check_followed(struct cfg_ctx *ctx, yaml_node_t *item, const char *w,
    struct srv_tmpl *t, struct lb_server *tmpl)
{
	char	 host[256], e[LB_ERRLEN], q[96];
	unsigned port;

	if (t->address == NULL && t->service == NULL)
		return cfg_error(ctx, item, w,
		    "missing 'address' (or 'service' "
		    "for SRV records, as in \"service: "
		    "_http._tcp.api.service.consul\")");
	if (t->address != NULL && t->service != NULL)
		return cfg_error(ctx, map_value(ctx, item, "service"), w,
		    "'address' and 'service' together "
		    "(a server is one or the other)");
	if (map_value(ctx, item, "max_addresses") != NULL && !t->resolve &&
	    t->service == NULL)
		return cfg_error(ctx, map_value(ctx, item, "max_addresses"), w,
		    "max_addresses without a followed name "
		    "(add \"resolve: true\", or use 'service')");
	if (t->service != NULL) {
		if (map_value(ctx, item, "weight") != NULL)
			return cfg_error(ctx, map_value(ctx, item, "weight"), w,
			    "a service's weights are its SRV records' (remove "
			    "'weight')");
		if (map_value(ctx, item, "resolve") != NULL)
			return cfg_error(ctx, map_value(ctx, item, "resolve"),
			    w,
			    "a service is always followed (remove "
			    "'resolve')");
		for (char *c = t->service; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c += 'a' - 'A';
		if (!valid_host(t->service) || strchr(t->service, '*'))
			return cfg_error(ctx, map_value(ctx, item, "service"),
			    w,
			    "invalid SRV name %s (as in "
			    "\"_http._tcp.api.service.consul\")",
			    quote(t->service, q, sizeof(q)));
		tmpl->follow = LB_FOLLOW_SRV;
		tmpl->name = t->service;
		t->service = NULL;
	} else {
		tmpl->name = t->address;
		t->address = NULL;
		if (t->resolve)
			tmpl->follow = LB_FOLLOW_A;
	}
	tmpl->weight = t->weight;
	tmpl->backup = t->backup;
	tmpl->max_addresses = t->max_addresses;
	if (tmpl->follow != LB_FOLLOW_A)
		return 0;
	if (lb_addr_split(tmpl->name, host, sizeof(host), &port, 0, e,
		sizeof(e)) == -1)
		return cfg_error(ctx, map_value(ctx, item, "address"), w, "%s",
		    e);
	for (char *c = host; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c += 'a' - 'A';
	if (!valid_host(host) || strchr(host, '*') != NULL ||
	    strspn(host, "0123456789.") == strlen(host))
		return cfg_error(ctx, map_value(ctx, item, "address"), w,
		    "resolve: true needs a host name to follow, not %s "
		    "(remove 'resolve' for a fixed address)",
		    quote(host, q, sizeof(q)));
	return 0;
}

/* servers: "host:port" strings or {address, weight, backup} mappings. */
static int
parse_servers(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_route *r = base;
	struct lb_server tmpl;
	struct srv_tmpl	 t;
	yaml_node_t	*item, *addr;
	char		 w[WHERELEN], prefix[WHERELEN], q[96];
	bool		 primary = false;
	int		 rc;

	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	if (seq_len(n) == 0)
		return cfg_error(ctx, n, where,
		    "empty list (give at least one "
		    "server, such as \"localhost:8081\")");
	for (size_t i = 0; i < seq_len(n); i++) {
		item = seq_item(ctx, n, i);
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		memset(&tmpl, 0, sizeof(tmpl));
		memset(&t, 0, sizeof(t));
		t.weight = 1;
		t.max_addresses = LB_MAX_ADDRESSES;
		addr = item;
		if (item->type == YAML_MAPPING_NODE) {
			lb_snprintf(prefix, sizeof(prefix), "%s.", w);
			rc = walk_map(ctx, item, w, prefix, server_keys, &t);
			if (rc == 0)
				rc = check_followed(ctx, item, w, &t, &tmpl);
			if ((addr = map_value(ctx, item, "address")) == NULL)
				addr = map_value(ctx, item, "service");
		} else if (item->type == YAML_SCALAR_NODE && !is_null(item)) {
			rc = parse_str(ctx, &server_keys[0], item, w, &t);
			tmpl.name = t.address;
			t.address = NULL;
			tmpl.weight = 1;
		} else
			rc = cfg_error(ctx, item, w,
			    "expected \"host:port\" "
			    "or a mapping, found %s",
			    describe(item, q, sizeof(q)));
		if (rc == 0 && tmpl.follow != LB_FOLLOW_SRV)
			rc = strip_scheme(ctx, &tmpl, addr, w, &tmpl.https);
		if (rc == 0 && tmpl.follow != LB_FOLLOW_NONE)
			rc = add_followed(ctx, r, &tmpl, addr);
		else if (rc == 0)
			rc = add_server(ctx, r, &tmpl, addr, w);
		free(tmpl.name);
		free(t.address);
		free(t.service);
		if (rc == -1)
			return -1;
		primary |= !tmpl.backup;
	}
	if (!primary)
		return cfg_error(ctx, n, where,
		    "every server is a backup (a "
		    "pool needs at least one without 'backup: true')");
	return 0;
}

/* ------------------------------------------------------------- routes */

/* hosts[].host: exact or "*.suffix", stored lowercased. */
static int
parse_route_host(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_route *r = base;
	const char	*s;
	char		 q[96];

	if ((s = scalar(ctx, n, where, "a host name")) == NULL)
		return -1;
	if ((r->match = strdup(s)) == NULL)
		return nomem(ctx, n);
	for (char *p = r->match; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	if (!valid_host(r->match))
		return cfg_error(ctx, n, where,
		    "invalid host name %s (use "
		    "letters, digits, '-' and '.', optionally after \"*.\", as "
		    "in \"*.mango.com\")",
		    quote(s, q, sizeof(q)));
	r->pos.line = (unsigned)n->start_mark.line + 1;
	r->pos.col = (unsigned)n->start_mark.column + 1;
	return 0;
}

/* paths[].path: normalized, no trailing '/' ("/" stays "/"). */
static int
parse_route_path(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_route *r = base;
	const char	*s, *why;
	char		 q[96];

	if ((s = scalar(ctx, n, where, "a path")) == NULL)
		return -1;
	if ((r->match = norm_prefix(s, false, &why)) == NULL)
		return why == NULL ?
		    nomem(ctx, n) :
		    cfg_error(ctx, n, where, "%s %s%s", quote(s, q, sizeof(q)),
			why, *s != '/' ? " (as in \"/mango\")" : "");
	r->pos.line = (unsigned)n->start_mark.line + 1;
	r->pos.col = (unsigned)n->start_mark.column + 1;
	return 0;
}

static const struct cfg_key firewall_keys[] = {
	{ .name = "ip_reject",
	    .parse = parse_cidrs,
	    .off = offsetof(struct lb_firewall, ip_reject),
	    .off_n = offsetof(struct lb_firewall, n_ip_reject),
	    .off_pos = offsetof(struct lb_firewall, ip_reject_pos) },
	{ .name = "path_reject",
	    .parse = parse_path_list,
	    .off = offsetof(struct lb_firewall, path_reject),
	    .off_n = offsetof(struct lb_firewall, n_path_reject),
	    .off_pos = offsetof(struct lb_firewall, path_reject_pos) },
	{ .name = NULL }
};

static const struct cfg_key header_rule_keys[] = {
	{ .name = "add",
	    .parse = parse_kv,
	    .off = offsetof(struct lb_route, hdr_add),
	    .off_n = offsetof(struct lb_route, n_hdr_add),
	    .flags = KEY_HEADER },
	{ .name = "remove",
	    .parse = parse_names,
	    .off = offsetof(struct lb_route, hdr_remove),
	    .off_n = offsetof(struct lb_route, n_hdr_remove),
	    .flags = KEY_HEADER },
	{ .name = NULL }
};

static const struct cfg_key param_rule_keys[] = {
	{ .name = "add",
	    .parse = parse_kv,
	    .off = offsetof(struct lb_route, param_add),
	    .off_n = offsetof(struct lb_route, n_param_add) },
	{ .name = "remove",
	    .parse = parse_names,
	    .off = offsetof(struct lb_route, param_remove),
	    .off_n = offsetof(struct lb_route, n_param_remove) },
	{ .name = NULL }
};

static const struct cfg_key rewrite_rule_keys[] = {
	{ .name = "replace",
	    .parse = parse_rewrite,
	    .off = offsetof(struct lb_route, rewrite),
	    .off_n = offsetof(struct lb_route, n_rewrite) },
	{ .name = NULL }
};

/* The keys of a hosts entry; a paths entry has the same but host. */
/* backend_tls: a file and where it stood (position at K->off_pos). */
static int
parse_btls_file(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_pos *pos = field(base, k->off_pos);

	if (parse_path(ctx, k, n, where, base) == -1)
		return -1;
	pos->line = (unsigned)n->start_mark.line + 1;
	pos->col = (unsigned)n->start_mark.column + 1;
	return 0;
}

static const struct cfg_key backend_tls_keys[] = {
	{ .name = "ca",
	    .parse = parse_btls_file,
	    .off = offsetof(struct lb_backend_tls, ca),
	    .off_pos = offsetof(struct lb_backend_tls, ca_pos) },
	{ .name = "verify",
	    .parse = parse_bool,
	    .off = offsetof(struct lb_backend_tls, verify) },
	{ .name = "sni",
	    .parse = parse_str,
	    .off = offsetof(struct lb_backend_tls, sni) },
	{ .name = "cert",
	    .parse = parse_btls_file,
	    .off = offsetof(struct lb_backend_tls, cert),
	    .off_pos = offsetof(struct lb_backend_tls, cert_pos) },
	{ .name = "key",
	    .parse = parse_btls_file,
	    .off = offsetof(struct lb_backend_tls, key),
	    .off_pos = offsetof(struct lb_backend_tls, key_pos) },
	{ .name = NULL }
};

static struct lb_backend_tls *
btls_new(const char *where)
{
	struct lb_backend_tls *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->verify = true;
	if ((t->where = strdup(where)) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

/* A route's backend_tls: every server of it is reached over TLS. */
static int
parse_backend_tls(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_route	      *r = base;
	struct lb_backend_tls *t;
	char		       prefix[WHERELEN];

	if ((t = r->backend_tls = btls_new(where)) == NULL)
		return nomem(ctx, n);
	t->written = true;
	lb_snprintf(prefix, sizeof(prefix), "%s.", where);
	if (walk_map(ctx, n, where, prefix, backend_tls_keys, t) == -1)
		return -1;
	if ((t->cert == NULL) != (t->key == NULL))
		return cfg_error(ctx, n, where,
		    "cert and key go together (the client certificate and "
		    "its key)");
	return 0;
}

static const struct cfg_key host_keys[] = {
	{ .name = "host", .parse = parse_route_host, .flags = KEY_REQUIRED },
	{ .name = "algorithm",
	    .parse = parse_algo,
	    .off = offsetof(struct lb_route, algorithm) },
	{ .name = "health_check",
	    .parse = parse_health,
	    .off = offsetof(struct lb_route, health) },
	{ .name = "header_rules", .parse = parse_map, .sub = header_rule_keys },
	{ .name = "param_rules", .parse = parse_map, .sub = param_rule_keys },
	{ .name = "rewrite_rules",
	    .parse = parse_map,
	    .sub = rewrite_rule_keys },
	{ .name = "firewall_rules",
	    .parse = parse_map,
	    .off = offsetof(struct lb_route, firewall),
	    .sub = firewall_keys },
	{ .name = "rate_limit",
	    .parse = parse_rate_limit,
	    .off = offsetof(struct lb_route, rate_limit) },
	{ .name = "sticky", .parse = parse_sticky },
	{ .name = "servers", .parse = parse_servers, .flags = KEY_REQUIRED },
	{ .name = "backend_tls", .parse = parse_backend_tls }, { .name = NULL }
};

static const struct cfg_key path_keys[] = {
	{ .name = "path", .parse = parse_route_path, .flags = KEY_REQUIRED },
	{ .name = "strip_prefix",
	    .parse = parse_bool,
	    .off = offsetof(struct lb_route, strip_prefix) },
	{ .name = "algorithm",
	    .parse = parse_algo,
	    .off = offsetof(struct lb_route, algorithm) },
	{ .name = "health_check",
	    .parse = parse_health,
	    .off = offsetof(struct lb_route, health) },
	{ .name = "header_rules", .parse = parse_map, .sub = header_rule_keys },
	{ .name = "param_rules", .parse = parse_map, .sub = param_rule_keys },
	{ .name = "rewrite_rules",
	    .parse = parse_map,
	    .sub = rewrite_rule_keys },
	{ .name = "firewall_rules",
	    .parse = parse_map,
	    .off = offsetof(struct lb_route, firewall),
	    .sub = firewall_keys },
	{ .name = "rate_limit",
	    .parse = parse_rate_limit,
	    .off = offsetof(struct lb_route, rate_limit) },
	{ .name = "sticky", .parse = parse_sticky },
	{ .name = "servers", .parse = parse_servers, .flags = KEY_REQUIRED },
	{ .name = "backend_tls", .parse = parse_backend_tls }, { .name = NULL }
};

/*
 * hosts: or paths: (K->sub says which), a list of route mappings. Each
 * route starts from the global algorithm and health check, which is why
 * these two keys are KEY_LATE at the top level.
 */
static int
parse_routes(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg	*cfg = base;
	struct lb_route *r;
	yaml_node_t	*item;
	char		 w[WHERELEN];

	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	for (size_t i = 0; i < seq_len(n); i++) {
		item = seq_item(ctx, n, i);
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if ((r = grow(cfg->routes, cfg->n_routes, sizeof(*r))) == NULL)
			return nomem(ctx, item);
		cfg->routes = r;
		r = &r[cfg->n_routes];
		r->id = cfg->n_routes++;
		r->kind = k->sub == host_keys ? LB_ROUTE_HOST : LB_ROUTE_PATH;
		r->strip_prefix = true;
		r->algorithm = cfg->algorithm;
		r->health = cfg->health;
		if ((r->health.path = strdup(cfg->health.path)) == NULL)
			return nomem(ctx, item);
		r->rate_limit = cfg->rate_limit;
		r->rate_limit.own = false;
		if (cfg->rate_limit.header != NULL &&
		    (r->rate_limit.header = strdup(cfg->rate_limit.header)) ==
			NULL)
			return nomem(ctx, item);
		if (walk_map(ctx, item, w, "", k->sub, r) == -1)
			return -1;
		if ((r->label = strdup(r->match)) == NULL)
			return nomem(ctx, item);
	}
	return 0;
}

/* -------------------------------------------------------------- tests */

/* tests[].request: "METHOD TARGET", as a request line has them. */
static int
parse_test_request(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_test *t = base;
	const char     *s, *sp;
	char		q[96];

	(void)k;
	if ((s = scalar(ctx, n, where, "a request")) == NULL)
		return -1;
	sp = strchr(s, ' ');
	if (sp == NULL || sp == s || sp[1] == '\0' ||
	    strpbrk(sp + 1, " \t") != NULL ||
	    !lb_http_is_token(s, (size_t)(sp - s)) ||
	    lb_str_has_ctl(sp + 1, strlen(sp + 1)))
		return cfg_error(ctx, n, where,
		    "%s is not \"METHOD TARGET\" (as in \"GET /v1/users?a=1\")",
		    quote(s, q, sizeof(q)));
	free(t->method);
	free(t->target);
	if ((t->method = strndup(s, (size_t)(sp - s))) == NULL ||
	    (t->target = strdup(sp + 1)) == NULL)
		return nomem(ctx, n);
	return 0;
}

/* tests[].from: the client's address, IPv4 or IPv6. */
static int
parse_test_from(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_test	    *t = base;
	struct sockaddr_in  *sin = (struct sockaddr_in *)&t->from_addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->from_addr;
	const char	    *s;
	char		     q[96];

	(void)k;
	if ((s = scalar(ctx, n, where, "an address")) == NULL)
		return -1;
	memset(&t->from_addr, 0, sizeof(t->from_addr));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
	} else {
		return cfg_error(ctx, n, where,
		    "%s is not an IPv4 or IPv6 address",
		    quote(s, q, sizeof(q)));
	}
	free(t->from);
	if ((t->from = strdup(s)) == NULL)
		return nomem(ctx, n);
	return 0;
}

/* tests[].expect.status: "forward", or the status lbmaster answers. */
static int
parse_test_status(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_test *t = base;
	const char     *s, *end;
	uint64_t	v;
	char		q[96];

	(void)k;
	if ((s = scalar(ctx, n, where, "a status")) == NULL)
		return -1;
	if (strcmp(s, "forward") == 0) {
		t->status = 0;
	} else if (parse_digits(s, &v, &end) && *end == '\0' && v >= 100 &&
	    v <= 599) {
		t->status = (int)v;
	} else {
		return cfg_error(ctx, n, where,
		    "%s is not a status (write forward, or a code "
		    "such as 403)",
		    quote(s, q, sizeof(q)));
	}
	t->has_status = true;
	return 0;
}

static const struct cfg_key expect_keys[] = { { .name = "status",
						  .parse = parse_test_status },
	{ .name = "route",
	    .parse = parse_str,
	    .off = offsetof(struct lb_test, route) },
	{ .name = "path",
	    .parse = parse_str,
	    .off = offsetof(struct lb_test, path) },
	{ .name = "headers",
	    .parse = parse_kv,
	    .off = offsetof(struct lb_test, expect_headers),
	    .off_n = offsetof(struct lb_test, n_expect_headers) },
	{ .name = NULL } };

static const struct cfg_key test_keys[] = { { .name = "request",
						.parse = parse_test_request,
						.flags = KEY_REQUIRED },
	{ .name = "headers",
	    .parse = parse_kv,
	    .off = offsetof(struct lb_test, headers),
	    .off_n = offsetof(struct lb_test, n_headers) },
	{ .name = "from", .parse = parse_test_from },
	{ .name = "expect",
	    .parse = parse_map,
	    .sub = expect_keys,
	    .flags = KEY_REQUIRED },
	{ .name = NULL } };

/* tests: a list of requests and what lbmaster must do with each. */
static int
parse_tests(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
    const char *where, void *base)
{
	struct lb_cfg	   *cfg = base;
	struct lb_test	   *t;
	struct sockaddr_in *sin;
	yaml_node_t	   *item;
	char		    w[WHERELEN], prefix[WHERELEN];

	(void)k;
	if (expect(ctx, n, YAML_SEQUENCE_NODE, where) == -1)
		return -1;
	for (size_t i = 0; i < seq_len(n); i++) {
		item = seq_item(ctx, n, i);
		lb_snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if ((t = grow(cfg->tests, cfg->n_tests, sizeof(*t))) == NULL)
			return nomem(ctx, item);
		cfg->tests = t;
		t = &t[cfg->n_tests++];
		sin = (struct sockaddr_in *)&t->from_addr;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		t->pos.line = (unsigned)item->start_mark.line + 1;
		t->pos.col = (unsigned)item->start_mark.column + 1;
		lb_snprintf(prefix, sizeof(prefix), "%s.", w);
		if (walk_map(ctx, item, w, prefix, test_keys, t) == -1)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- top level */

static const struct cfg_key admin_keys[] = { { .name = "listen",
						 .parse = parse_admin_listen,
						 .off = offsetof(struct lb_cfg,
						     admin) },
	{ .name = "token", .parse = parse_admin_token }, { .name = NULL } };

static const struct cfg_key resolver_keys[] = {
	{ .name = "nameservers", .parse = parse_nameservers },
	{ .name = "valid",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_cfg, resolver_valid_ms),
	    .lo = 1000,
	    .hi = 3600000 },
	{ .name = NULL }
};

static const struct cfg_key timeout_keys[] = {
	{ .name = "connect",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_cfg, connect_timeout_ms),
	    .lo = 1,
	    .hi = MAX_DURATION_MS },
	{ .name = "backend",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_cfg, backend_timeout_ms),
	    .lo = 1,
	    .hi = MAX_DURATION_MS },
	{ .name = "client",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_cfg, client_timeout_ms),
	    .lo = 1,
	    .hi = MAX_DURATION_MS },
	{ .name = "keepalive",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_cfg, keepalive_timeout_ms),
	    .lo = 0,
	    .hi = MAX_DURATION_MS },
	{ .name = "tunnel",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_cfg, tunnel_timeout_ms),
	    .lo = 1,
	    .hi = MAX_DURATION_MS },
	{ .name = NULL }
};

static const struct cfg_key limit_keys[] = { { .name = "max_body_size",
						 .parse = parse_size,
						 .off = offsetof(struct lb_cfg,
						     max_body_size),
						 .lo = 0,
						 .hi = 1ULL << 40 },
	{ .name = "max_header_size",
	    .parse = parse_size,
	    .off = offsetof(struct lb_cfg, max_header_size),
	    .lo = 1024,
	    .hi = 16ULL << 20 },
	{ .name = "max_response_header_size",
	    .parse = parse_size,
	    .off = offsetof(struct lb_cfg, max_response_header_size),
	    .lo = 1024,
	    .hi = 16ULL << 20 },
	{ .name = "max_connections",
	    .parse = parse_uint,
	    .off = offsetof(struct lb_cfg, max_connections),
	    .lo = 1,
	    .hi = 1000000 },
	{ .name = NULL } };

static const struct cfg_key top_keys[] = { { .name = "listen",
					       .parse = parse_listen },
	{ .name = "workers", .parse = parse_workers },
	{ .name = "cpu_affinity", .parse = parse_cpu_affinity },
	{ .name = "user",
	    .parse = parse_account,
	    .off = offsetof(struct lb_cfg, user) },
	{ .name = "group",
	    .parse = parse_account,
	    .off = offsetof(struct lb_cfg, group) },
	{ .name = "pid_file",
	    .parse = parse_path,
	    .off = offsetof(struct lb_cfg, pid_file) },
	{ .name = "error_log",
	    .parse = parse_error_log,
	    .off = offsetof(struct lb_cfg, error_log) },
	{ .name = "log_level",
	    .parse = parse_log_level,
	    .off = offsetof(struct lb_cfg, log_level) },
	{ .name = "access_log",
	    .parse = parse_access_log,
	    .off = offsetof(struct lb_cfg, access_log) },
	{ .name = "access_log_format",
	    .parse = parse_log_format,
	    .off = offsetof(struct lb_cfg, access_log_json) },
	{ .name = "request_id", .parse = parse_request_id },
	{ .name = "shutdown_timeout",
	    .parse = parse_duration,
	    .off = offsetof(struct lb_cfg, shutdown_timeout_ms),
	    .lo = 0,
	    .hi = MAX_DURATION_MS },
	{ .name = "admin", .parse = parse_map, .sub = admin_keys },
	{ .name = "resolver", .parse = parse_map, .sub = resolver_keys },
	{ .name = "timeouts", .parse = parse_map, .sub = timeout_keys },
	{ .name = "limits", .parse = parse_map, .sub = limit_keys },
	{ .name = "algorithm",
	    .parse = parse_algo,
	    .off = offsetof(struct lb_cfg, algorithm) },
	{ .name = "health_check",
	    .parse = parse_health,
	    .off = offsetof(struct lb_cfg, health) },
	{ .name = "firewall_rules",
	    .parse = parse_map,
	    .off = offsetof(struct lb_cfg, firewall),
	    .sub = firewall_keys },
	{ .name = "rate_limit",
	    .parse = parse_rate_limit,
	    .off = offsetof(struct lb_cfg, rate_limit) },
	{ .name = "trusted_proxies",
	    .parse = parse_cidrs,
	    .off = offsetof(struct lb_cfg, trusted),
	    .off_n = offsetof(struct lb_cfg, n_trusted),
	    .off_pos = offsetof(struct lb_cfg, trusted_pos) },
	{ .name = "hosts",
	    .parse = parse_routes,
	    .sub = host_keys,
	    .flags = KEY_LATE },
	{ .name = "paths",
	    .parse = parse_routes,
	    .sub = path_keys,
	    .flags = KEY_LATE },
	{ .name = "tests", .parse = parse_tests }, { .name = NULL } };

/* The values every config starts from (lbmaster.yaml(5)). */
static int
set_defaults(struct lb_cfg *cfg)
{
	cfg->workers = auto_workers();
	cfg->workers_auto = true;
	cfg->log_level = LB_LOG_INFO;
	cfg->shutdown_timeout_ms = 30000;
	cfg->connect_timeout_ms = 3000;
	cfg->backend_timeout_ms = 60000;
	cfg->client_timeout_ms = 60000;
	cfg->keepalive_timeout_ms = 75000;
	cfg->tunnel_timeout_ms = 3600000;
	cfg->max_body_size = 16ULL << 20;
	cfg->max_header_size = 32ULL << 10;
	cfg->max_response_header_size = 64ULL << 10;
	cfg->max_connections = 10000;
	cfg->resolver_valid_ms = 3600000;
	cfg->algorithm = LB_ALGO_ROUND_ROBIN;
	cfg->health.enabled = true;
	cfg->health.interval_ms = 2000;
	cfg->health.timeout_ms = 1000;
	cfg->health.rise = 2;
	cfg->health.fall = 2;
	if ((cfg->error_log = strdup("stderr")) == NULL ||
	    (cfg->request_id = strdup("X-Request-ID")) == NULL ||
	    (cfg->health.path = strdup("/healthcheck")) == NULL)
		return -1;
	return 0;
}

/*
 * A config without a route would answer every request 404: refused, at
 * the first empty hosts or paths list, or at the start of the file.
 */
static int
no_routes(struct cfg_ctx *ctx, yaml_node_t *root)
{
	yaml_node_t *at = NULL, *v;
	const char  *where = NULL;

	for (int i = 0;
	     i < 2 && root != NULL && root->type == YAML_MAPPING_NODE; i++) {
		const char *key = i == 0 ? "hosts" : "paths";

		if ((v = map_value(ctx, root, key)) == NULL)
			continue;
		if (at == NULL || v->start_mark.index < at->start_mark.index) {
			at = v;
			where = key;
		}
	}
	if (at == NULL)
		return cfg_error_at(ctx, 1, 1, NULL,
		    "no routes (add a hosts or "
		    "paths entry, such as \"paths: [{path: /, servers: "
		    "[127.0.0.1:8081]}]\")");
	return cfg_error(ctx, at, where,
	    "no routes (add a hosts or paths "
	    "entry, such as \"paths: [{path: /, servers: [127.0.0.1:8081]}]\")");
}

/*
 * The servers of R that are reached over TLS point at how: all of them
 * with a backend_tls, else those written https://, with the defaults.
 */
static int
link_backend_tls(struct lb_route *r)
{
	bool any = r->backend_tls != NULL;

	for (size_t j = 0; j < r->n_servers && !any; j++)
		any = r->servers[j].https;
	if (!any)
		return 0;
	if (r->backend_tls == NULL) {
		char w[WHERELEN];

		lb_snprintf(w, sizeof(w), "%s", r->label);
		if ((r->backend_tls = btls_new(w)) == NULL)
			return -1;
	}
	for (size_t j = 0; j < r->n_servers; j++)
		if (r->backend_tls->written || r->servers[j].https)
			r->servers[j].tls = r->backend_tls;
	return 0;
}

/*
 * What the file cannot say in one node: the default listener, the clash
 * of admin with a listener, server ids, and the compiled route table
 * (which finds duplicate hosts and paths).
 */
static int
finish(struct cfg_ctx *ctx, yaml_node_t *root)
{
	struct lb_cfg	  *cfg = ctx->cfg;
	struct lb_route	  *r;
	struct lb_sockaddr sa;
	size_t		   dup, first;
	char		   e[LB_ERRLEN];

	if (cfg->n_listen == 0) {
		if (lb_addr_parse_listen(DEFAULT_LISTEN, &sa, e, sizeof(e)) ==
		    -1)
			return cfg_error(ctx, root, NULL, "%s", e);
		if ((cfg->listen = calloc(1, sizeof(*cfg->listen))) == NULL)
			return nomem(ctx, root);
		cfg->n_listen = 1;
		if ((cfg->listen->text = strdup(DEFAULT_LISTEN)) == NULL ||
		    (cfg->listen->where = strdup("listen")) == NULL)
			return nomem(ctx, root);
		memcpy(&cfg->listen->addr, &sa.ss, sizeof(cfg->listen->addr));
		cfg->listen->addrlen = sa.len;
	}
	if (cfg->admin_token != NULL && cfg->admin == NULL)
		return cfg_error(ctx, ctx->token_node, "admin.token",
		    "no admin endpoint to serve it (add admin.listen, as in "
		    "\"listen: 127.0.0.1:9090\")");
	for (size_t i = 0; cfg->admin != NULL && i < cfg->n_listen; i++)
		if (lb_addr_equal((struct sockaddr *)&cfg->admin->addr,
			(struct sockaddr *)&cfg->listen[i].addr))
			return cfg_error(ctx, ctx->admin_node, "admin.listen",
			    "address already used by listen");

	if (cfg->n_routes == 0)
		return no_routes(ctx, root);
	cfg->n_host_routes = 0;
	while (cfg->n_host_routes < cfg->n_routes &&
	    cfg->routes[cfg->n_host_routes].kind == LB_ROUTE_HOST)
		cfg->n_host_routes++;
	cfg->n_servers = 0;
	for (size_t i = 0; i < cfg->n_routes; i++)
		for (size_t j = 0; j < cfg->routes[i].n_servers; j++)
			cfg->routes[i].servers[j].id = cfg->n_servers++;
	for (size_t i = 0; i < cfg->n_routes; i++)
		if (link_backend_tls(&cfg->routes[i]) == -1)
			return nomem(ctx, root);
	/* Table 0 is the top's, shared by the routes that inherit it. */
	cfg->rate_limit.own = false;
	cfg->n_limits = 1;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		struct lb_rate_limit *rl = &cfg->routes[i].rate_limit;

		rl->id = rl->own && rl->enabled ? cfg->n_limits++ : 0;
	}

	dup = SIZE_MAX;
	errno = 0;
	cfg->table = lb_routes_compile(cfg->routes, cfg->n_routes,
	    cfg->n_host_routes, &dup);
	if (cfg->table != NULL)
		return 0;
	if (errno != EEXIST || dup >= cfg->n_routes)
		return nomem(ctx, root);
	r = &cfg->routes[dup];
	for (first = 0; first < dup; first++)
		if (cfg->routes[first].kind == r->kind &&
		    strcmp(cfg->routes[first].match, r->match) == 0)
			break;
	if (first == dup)
		return cfg_error_at(ctx, r->pos.line, r->pos.col, NULL,
		    "duplicate %s '%s'",
		    r->kind == LB_ROUTE_HOST ? "host" : "path", r->match);
	return cfg_error_at(ctx, r->pos.line, r->pos.col, NULL,
	    "duplicate %s '%s' (first at line %u)",
	    r->kind == LB_ROUTE_HOST ? "host" : "path", r->match,
	    cfg->routes[first].pos.line);
}

/* libyaml's own words and position for a syntax error. */
static void
syntax_error(struct cfg_ctx *ctx, const yaml_parser_t *p)
{
	unsigned    line = (unsigned)p->problem_mark.line + 1;
	unsigned    col = (unsigned)p->problem_mark.column + 1;
	const char *problem = p->problem ? p->problem : "syntax error";

	if (p->error == YAML_MEMORY_ERROR) {
		cfg_error_at(ctx, 1, 1, NULL, "out of memory");
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* The reader counts bytes, not lines: place it ourselves. */
		line = 1;
		col = 1;
		for (size_t i = 0; i < p->problem_offset && i < ctx->textlen;
		     i++) {
			if (ctx->text[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)ctx->text[i] & 0xC0) != 0x80)
				col++;
		}
		cfg_error_at(ctx, line, col, NULL, "%s", problem);
		return;
	}
	if (p->context != NULL)
		cfg_error_at(ctx, line, col, NULL, "%s (%s at line %u)",
		    problem, p->context, (unsigned)p->context_mark.line + 1);
	else
		cfg_error_at(ctx, line, col, NULL, "%s", problem);
}

/* ---------------------------------------------------------------- API */

/*
 * Parse YAML (LEN bytes, NAME in messages) into a fresh config. On success
 * *out is the caller's (lb_cfg_free); on failure *out is NULL, nothing is
 * left allocated and err holds "NAME:LINE:COL: message".
 */
int
lb_cfg_load_string(const char *name, const char *yaml, size_t len,
    struct lb_cfg **out, char *err, size_t errlen)
{
	struct cfg_ctx	ctx;
	yaml_parser_t	parser;
	yaml_document_t doc, extra;
	yaml_node_t    *root;
	struct lb_cfg  *cfg = NULL;
	bool		have_parser = false, have_doc = false;
	char		dummy[1];

	*out = NULL;
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = name;
	ctx.text = yaml;
	ctx.textlen = len;
	ctx.err = err;
	ctx.errlen = errlen;
	ctx.doc = &doc;

	if (!yaml_parser_initialize(&parser)) {
		cfg_error_at(&ctx, 1, 1, NULL, "out of memory");
		goto fail;
	}
	have_parser = true;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&ctx, &parser);
		goto fail;
	}
	have_doc = true;

	/* A second document would be silently ignored: refuse it. */
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&ctx, &parser);
		goto fail;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		cfg_error_at(&ctx, (unsigned)extra.start_mark.line + 1,
		    (unsigned)extra.start_mark.column + 1, NULL,
		    "a second YAML document (a config file holds one)");
		yaml_document_delete(&extra);
		goto fail;
	}
	yaml_document_delete(&extra);

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->file = strdup(name)) == NULL || set_defaults(cfg) == -1) {
		cfg_error_at(&ctx, 1, 1, NULL, "out of memory");
		goto fail;
	}
	ctx.cfg = cfg;

	root = yaml_document_get_root_node(&doc);
	if (root != NULL && !is_null(root) &&
	    walk_map(&ctx, root, "", "", top_keys, cfg) == -1)
		goto fail;
	if (finish(&ctx, root) == -1)
		goto fail;

	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	*out = cfg;
	return 0;
fail:
	lb_cfg_free(cfg);
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	return -1;
}

/*
 * Read FILE whole, then lb_cfg_load_string. A file that cannot be read
 * gives "FILE: strerror" (there is no line to point at).
 */
/*
 * FILE's bytes into *BUF (*LEN of them, free it); 0 or -1 with ERR. A
 * relative FILE is taken from base_dir.
 */
static int
read_file(const char *file, char **buf, size_t *lenp, char *err, size_t errlen)
{
	FILE  *fp;
	char  *p;
	size_t len = 0, cap = 0, n;

	*buf = NULL;
	if (file[0] != '/' && base_dir != NULL) {
		char path[8192];

		lb_snprintf(path, sizeof(path), "%s/%s", base_dir, file);
		fp = fopen(path, "r");
	} else {
		fp = fopen(file, "r");
	}
	if (fp == NULL) {
		lb_snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_FILE_SIZE) {
				lb_snprintf(err, errlen,
				    "%s: file too large "
				    "(more than %d bytes)",
				    file, MAX_FILE_SIZE);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			if ((p = realloc(*buf, cap)) == NULL) {
				lb_snprintf(err, errlen, "%s: %s", file,
				    strerror(errno));
				goto fail;
			}
			*buf = p;
		}
		n = fread(*buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		lb_snprintf(err, errlen, "%s: %s", file, strerror(errno));
		goto fail;
	}
	fclose(fp);
	*lenp = len;
	return 0;
fail:
	free(*buf);
	*buf = NULL;
	fclose(fp);
	return -1;
}

int
lb_cfg_load(const char *file, struct lb_cfg **out, char *err, size_t errlen)
{
	char  *buf;
	size_t len;
	int    rc;

	*out = NULL;
	if (read_file(file, &buf, &len, err, errlen) == -1)
		return -1;
	/* Named as written, in messages and cfg->file, wherever it is read. */
	rc = lb_cfg_load_string(file, buf, len, out, err, errlen);
	free(buf);
	return rc;
}

int
lb_cfg_pid_file(const char *file, char **out, char *err, size_t errlen)
{
	yaml_parser_t	parser;
	yaml_document_t doc;
	yaml_node_t    *root, *k, *v;
	char	       *buf;
	size_t		len;
	int		rc = -1;

	*out = NULL;
	if (read_file(file, &buf, &len, err, errlen) == -1)
		return -1;
	if (!yaml_parser_initialize(&parser)) {
		free(buf);
		lb_snprintf(err, errlen, "%s: out of memory", file);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		lb_snprintf(err, errlen, "%s:%zu:%zu: %s: cannot read pid_file",
		    file, parser.problem_mark.line + 1,
		    parser.problem_mark.column + 1,
		    parser.problem != NULL ? parser.problem : "invalid YAML");
		goto done;
	}
	rc = 0;
	root = yaml_document_get_root_node(&doc);
	for (yaml_node_pair_t *p =
		 root != NULL && root->type == YAML_MAPPING_NODE ?
		 root->data.mapping.pairs.start :
		 NULL;
	     p != NULL && p < root->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(&doc, p->key);
		v = yaml_document_get_node(&doc, p->value);
		if (k->type != YAML_SCALAR_NODE ||
		    strcmp((const char *)k->data.scalar.value, "pid_file") != 0)
			continue;
		if (v->type != YAML_SCALAR_NODE ||
		    v->data.scalar.value[0] == '\0') {
			lb_snprintf(err, errlen,
			    "%s:%zu:%zu: pid_file: not a path", file,
			    v->start_mark.line + 1, v->start_mark.column + 1);
			rc = -1;
		} else if ((*out = strdup(
				(const char *)v->data.scalar.value)) == NULL ||
		    absolutize(out) == -1) {
			lb_snprintf(err, errlen, "%s: out of memory", file);
			rc = -1;
		}
		break;
	}
	yaml_document_delete(&doc);
done:
	yaml_parser_delete(&parser);
	free(buf);
	if (rc == -1) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static void
firewall_free(struct lb_firewall *fw)
{
	free(fw->ip_reject);
	for (size_t i = 0; i < fw->n_path_reject; i++)
		free(fw->path_reject[i]);
	free(fw->path_reject);
	free(fw->ip_reject_pos);
	free(fw->path_reject_pos);
}

static void
kv_free(struct lb_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

static void
test_free(struct lb_test *t)
{
	free(t->method);
	free(t->target);
	kv_free(t->headers, t->n_headers);
	free(t->from);
	free(t->route);
	free(t->path);
	kv_free(t->expect_headers, t->n_expect_headers);
}

static void
names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
route_free(struct lb_route *r)
{
	free(r->match);
	free(r->label);
	free(r->health.path);
	kv_free(r->hdr_add, r->n_hdr_add);
	names_free(r->hdr_remove, r->n_hdr_remove);
	kv_free(r->param_add, r->n_param_add);
	names_free(r->param_remove, r->n_param_remove);
	kv_free(r->rewrite, r->n_rewrite);
	firewall_free(&r->firewall);
	free(r->rate_limit.header);
	free(r->sticky_cookie);
	for (size_t i = 0; i < r->n_servers; i++)
		free(r->servers[i].name);
	free(r->servers);
	if (r->backend_tls != NULL) {
		struct lb_backend_tls *t = r->backend_tls;

		if (t->ctx != NULL && t->ctx_free != NULL)
			t->ctx_free(t->ctx);
		free(t->ca);
		free(t->sni);
		free(t->cert);
		free(t->key);
		free(t->where);
		free(t);
	}
}

/* Frees a config, complete or abandoned half-way by a failed load. */
static void
listen_tls_free(struct lb_tls *t)
{
	if (t == NULL)
		return;
	if (t->ctx != NULL && t->ctx_free != NULL)
		t->ctx_free(t->ctx);
	for (size_t i = 0; i < t->n_certs; i++) {
		free(t->certs[i].cert);
		free(t->certs[i].key);
	}
	free(t->certs);
	free(t->ciphers);
	free(t->client_ca);
	free(t);
}

void
lb_cfg_free(struct lb_cfg *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->table != NULL)
		lb_routes_free(cfg->table);
	for (size_t i = 0; i < cfg->n_routes; i++)
		route_free(&cfg->routes[i]);
	free(cfg->routes);
	firewall_free(&cfg->firewall);
	free(cfg->rate_limit.header);
	free(cfg->trusted);
	free(cfg->trusted_pos);
	for (size_t i = 0; i < cfg->n_tests; i++)
		test_free(&cfg->tests[i]);
	free(cfg->tests);
	free(cfg->health.path);
	if (cfg->admin != NULL) {
		free(cfg->admin->text);
		free(cfg->admin);
	}
	free(cfg->admin_token);
	for (size_t i = 0; i < cfg->n_nameservers; i++)
		free(cfg->nameservers[i]);
	free(cfg->nameservers);
	for (size_t i = 0; i < cfg->n_listen; i++) {
		free(cfg->listen[i].text);
		free(cfg->listen[i].where);
		listen_tls_free(cfg->listen[i].tls);
	}
	free(cfg->listen);
	free(cfg->cpu_sets);
	free(cfg->user);
	free(cfg->group);
	free(cfg->pid_file);
	free(cfg->error_log);
	free(cfg->access_log);
	free(cfg->request_id);
	free(cfg->file);
	free(cfg);
}

/* The name an algorithm is written with in the config ("least_conn"). */
const char *
lb_algo_name(enum lb_algo a)
{
	if ((size_t)a >= N_ALGOS)
		return "unknown";
	return algo_names[a];
}

/* ---------------------------------------------------------------- dump */

/* S as a double-quoted YAML scalar: always safe, whatever S holds. */
static void
dump_str(struct lb_buf *b, const char *s)
{
	lb_buf_addc(b, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"':
			lb_buf_adds(b, "\\\"");
			break;
		case '\\':
			lb_buf_adds(b, "\\\\");
			break;
		case '\t':
			lb_buf_adds(b, "\\t");
			break;
		case '\n':
			lb_buf_adds(b, "\\n");
			break;
		case '\r':
			lb_buf_adds(b, "\\r");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				lb_buf_printf(b, "\\x%02X", c);
			else
				lb_buf_addc(b, (char)c);
		}
	}
	lb_buf_addc(b, '"');
}

static void
dump_key_str(struct lb_buf *b, int indent, const char *key, const char *s)
{
	lb_buf_printf(b, "%*s%s: ", indent, "", key);
	dump_str(b, s);
	lb_buf_addc(b, '\n');
}

static void
dump_duration(struct lb_buf *b, int indent, const char *key, unsigned ms)
{
	char d[32];

	lb_buf_printf(b, "%*s%s: %s\n", indent, "", key,
	    fmt_duration(ms, d, sizeof(d)));
}

static void
dump_names(struct lb_buf *b, int indent, const char *key, char *const *v,
    size_t n)
{
	lb_buf_printf(b, "%*s%s:%s\n", indent, "", key, n ? "" : " []");
	for (size_t i = 0; i < n; i++) {
		lb_buf_printf(b, "%*s- ", indent + 2, "");
		dump_str(b, v[i]);
		lb_buf_addc(b, '\n');
	}
}

static void
dump_kv(struct lb_buf *b, int indent, const char *key, const struct lb_kv *kv,
    size_t n)
{
	lb_buf_printf(b, "%*s%s:%s\n", indent, "", key, n ? "" : " {}");
	for (size_t i = 0; i < n; i++) {
		lb_buf_printf(b, "%*s", indent + 2, "");
		dump_str(b, kv[i].name);
		lb_buf_adds(b, ": ");
		dump_str(b, kv[i].value);
		lb_buf_addc(b, '\n');
	}
}

static void
dump_test(struct lb_buf *b, const struct lb_test *t)
{
	char *line;

	if (asprintf(&line, "%s %s", t->method, t->target) == -1) {
		b->failed = true;
		return;
	}
	dump_key_str(b, 2, "- request", line);
	free(line);
	if (t->n_headers > 0)
		dump_kv(b, 4, "headers", t->headers, t->n_headers);
	if (t->from != NULL)
		dump_key_str(b, 4, "from", t->from);
	lb_buf_printf(b, "    expect:%s\n",
	    t->has_status || t->route || t->path || t->n_expect_headers ?
		"" :
		" {}");
	if (t->has_status && t->status == 0)
		lb_buf_adds(b, "      status: forward\n");
	else if (t->has_status)
		lb_buf_printf(b, "      status: %d\n", t->status);
	if (t->route != NULL)
		dump_key_str(b, 6, "route", t->route);
	if (t->path != NULL)
		dump_key_str(b, 6, "path", t->path);
	if (t->n_expect_headers > 0)
		dump_kv(b, 6, "headers", t->expect_headers,
		    t->n_expect_headers);
}

static void
dump_health(struct lb_buf *b, int indent, const struct lb_health *h)
{
	if (!h->enabled) {
		lb_buf_printf(b, "%*shealth_check: off\n", indent, "");
		return;
	}
	lb_buf_printf(b, "%*shealth_check:\n", indent, "");
	dump_key_str(b, indent + 2, "path", h->path);
	dump_duration(b, indent + 2, "interval", h->interval_ms);
	dump_duration(b, indent + 2, "timeout", h->timeout_ms);
	lb_buf_printf(b, "%*srise: %u\n", indent + 2, "", h->rise);
	lb_buf_printf(b, "%*sfall: %u\n", indent + 2, "", h->fall);
}

static void
dump_firewall(struct lb_buf *b, int indent, const struct lb_firewall *fw)
{
	char c[64];

	if (fw->n_ip_reject == 0 && fw->n_path_reject == 0) {
		lb_buf_printf(b,
		    "%*sfirewall_rules: {ip_reject: [], "
		    "path_reject: []}\n",
		    indent, "");
		return;
	}
	lb_buf_printf(b, "%*sfirewall_rules:\n", indent, "");
	lb_buf_printf(b, "%*sip_reject:%s\n", indent + 2, "",
	    fw->n_ip_reject ? "" : " []");
	for (size_t i = 0; i < fw->n_ip_reject; i++) {
		lb_cidr_format(&fw->ip_reject[i], c, sizeof(c));
		lb_buf_printf(b, "%*s- ", indent + 4, "");
		dump_str(b, c);
		lb_buf_addc(b, '\n');
	}
	dump_names(b, indent + 2, "path_reject", fw->path_reject,
	    fw->n_path_reject);
}

/*
 * The servers of R, once per node of the file: the addresses one name
 * resolved to are consecutive, share name and position, and differ from
 * each other (lb_addr_resolve removes duplicates).
 */
static void
dump_servers(struct lb_buf *b, int indent, const struct lb_route *r)
{
	size_t i = 0, j, start;

	lb_buf_printf(b, "%*sservers:\n", indent, "");
	while (i < r->n_servers) {
		const struct lb_server *s = &r->servers[i];

		if (s->follow == LB_FOLLOW_SRV) {
			lb_buf_printf(b, "%*s- service: ", indent + 2, "");
			dump_str(b, s->name);
			lb_buf_printf(b, "\n%*sbackup: %s\n", indent + 4, "",
			    s->backup ? "true" : "false");
			lb_buf_printf(b, "%*smax_addresses: %u\n", indent + 4,
			    "", s->max_addresses);
			i += s->max_addresses;
			continue;
		}
		lb_buf_printf(b, "%*s- address: ", indent + 2, "");
		if (s->https) {
			char *url;

			if (asprintf(&url, "https://%s", s->name) == -1)
				url = NULL;
			dump_str(b, url != NULL ? url : s->name);
			free(url);
		} else
			dump_str(b, s->name);
		if (s->follow == LB_FOLLOW_A) {
			lb_buf_printf(b, "\n%*sweight: %u\n", indent + 4, "",
			    s->weight);
			lb_buf_printf(b, "%*sbackup: %s\n", indent + 4, "",
			    s->backup ? "true" : "false");
			lb_buf_printf(b, "%*sresolve: true\n", indent + 4, "");
			lb_buf_printf(b, "%*smax_addresses: %u\n", indent + 4,
			    "", s->max_addresses);
			i += s->max_addresses;
			continue;
		}
		lb_buf_printf(b, "\n%*sweight: %u\n", indent + 4, "",
		    s->weight);
		lb_buf_printf(b, "%*sbackup: %s\n", indent + 4, "",
		    s->backup ? "true" : "false");
		start = i++;
		for (; i < r->n_servers; i++) {
			const struct lb_server *t = &r->servers[i];
			bool			same = false;

			if (strcmp(t->name, s->name) != 0 ||
			    t->pos.line != s->pos.line ||
			    t->pos.col != s->pos.col)
				break;
			for (j = start; j < i && !same; j++)
				same = lb_addr_equal((const struct sockaddr *)&t
							 ->addr,
				    (const struct sockaddr *)&r->servers[j]
					.addr);
			if (same)
				break;
		}
	}
}

static void
dump_rate_limit(struct lb_buf *b, int indent, const struct lb_rate_limit *rl)
{
	if (!rl->enabled) {
		lb_buf_printf(b, "%*srate_limit: off\n", indent, "");
		return;
	}
	lb_buf_printf(b, "%*srate_limit:\n", indent, "");
	lb_buf_printf(b, "%*srate: %u/%c\n", indent + 2, "", rl->count,
	    rl->period_ms == 1000 ? 's' : 'm');
	lb_buf_printf(b, "%*sburst: %u\n", indent + 2, "", rl->burst);
	if (rl->key == LB_RL_KEY_HEADER)
		lb_buf_printf(b, "%*skey: \"header:%s\"\n", indent + 2, "",
		    rl->header);
	else
		lb_buf_printf(b, "%*skey: client_ip\n", indent + 2, "");
	lb_buf_printf(b, "%*smax_keys: %u\n", indent + 2, "", rl->max_keys);
}

/* header_rules or param_rules of a route; one line when there are none. */
static void
dump_rules(struct lb_buf *b, const char *key, const struct lb_kv *add,
    size_t n_add, char *const *remove, size_t n_remove)
{
	if (n_add == 0 && n_remove == 0) {
		lb_buf_printf(b, "    %s: {add: {}, remove: []}\n", key);
		return;
	}
	lb_buf_printf(b, "    %s:\n", key);
	dump_kv(b, 6, "add", add, n_add);
	dump_names(b, 6, "remove", remove, n_remove);
}

static void
dump_route(struct lb_buf *b, const struct lb_route *r)
{
	if (r->kind == LB_ROUTE_HOST)
		dump_key_str(b, 2, "- host", r->match);
	else {
		dump_key_str(b, 2, "- path", r->match);
		lb_buf_printf(b, "    strip_prefix: %s\n",
		    r->strip_prefix ? "true" : "false");
	}
	lb_buf_printf(b, "    algorithm: %s\n", lb_algo_name(r->algorithm));
	dump_health(b, 4, &r->health);
	dump_rules(b, "header_rules", r->hdr_add, r->n_hdr_add, r->hdr_remove,
	    r->n_hdr_remove);
	dump_rules(b, "param_rules", r->param_add, r->n_param_add,
	    r->param_remove, r->n_param_remove);
	if (r->n_rewrite == 0)
		lb_buf_adds(b, "    rewrite_rules: {replace: {}}\n");
	else {
		lb_buf_adds(b, "    rewrite_rules:\n");
		dump_kv(b, 6, "replace", r->rewrite, r->n_rewrite);
	}
	dump_firewall(b, 4, &r->firewall);
	if (r->rate_limit.own)
		dump_rate_limit(b, 4, &r->rate_limit);
	if (r->sticky_cookie != NULL) {
		lb_buf_adds(b, "    sticky:\n");
		dump_key_str(b, 6, "cookie", r->sticky_cookie);
	} else
		lb_buf_adds(b, "    sticky: off\n");
	dump_servers(b, 4, r);
	if (r->backend_tls != NULL && r->backend_tls->written) {
		const struct lb_backend_tls *t = r->backend_tls;

		lb_buf_adds(b, "    backend_tls:\n");
		if (t->ca != NULL)
			dump_key_str(b, 6, "ca", t->ca);
		lb_buf_printf(b, "      verify: %s\n",
		    t->verify ? "true" : "false");
		if (t->sni != NULL)
			dump_key_str(b, 6, "sni", t->sni);
		if (t->cert != NULL) {
			dump_key_str(b, 6, "cert", t->cert);
			dump_key_str(b, 6, "key", t->key);
		}
	}
}

/* One listener: the string form, or the map form when it has tls. */
static void
dump_listen(struct lb_buf *b, const struct lb_listen *l)
{
	const struct lb_tls *t = l->tls;

	if (t == NULL && l->redirect_https == 0 && !l->proxy_protocol) {
		lb_buf_adds(b, "  - ");
		dump_str(b, l->text);
		lb_buf_addc(b, '\n');
		return;
	}
	dump_key_str(b, 2, "- address", l->text);
	if (l->proxy_protocol)
		lb_buf_adds(b, "    proxy_protocol: true\n");
	if (l->redirect_https != 0)
		lb_buf_printf(b, "    redirect_https: %u\n", l->redirect_https);
	if (t == NULL)
		return;
	lb_buf_adds(b, "    tls:\n      certificates:\n");
	for (size_t i = 0; i < t->n_certs; i++) {
		dump_key_str(b, 8, "- cert", t->certs[i].cert);
		dump_key_str(b, 10, "key", t->certs[i].key);
	}
	lb_buf_printf(b, "      min_version: \"1.%u\"\n", t->min_version % 10);
	dump_key_str(b, 6, "ciphers", t->ciphers);
	lb_buf_printf(b, "      session_tickets: %s\n",
	    t->session_tickets ? "true" : "false");
	if (t->client_ca != NULL) {
		dump_key_str(b, 6, "client_ca", t->client_ca);
		lb_buf_printf(b, "      client_verify: %s\n",
		    t->client_optional ? "optional" : "required");
	}
}

/*
 * Write CFG as YAML that lb_cfg_load reads back into the same config:
 * every default spelled out, strings double-quoted, each server once as
 * written (not once per resolved address). The text is built in memory
 * and written in one go. Returns 0, or -1 on ENOMEM or a write error.
 */
int
lb_cfg_dump(const struct lb_cfg *cfg, FILE *fp)
{
	struct lb_buf b;
	char	      s1[32], s2[32];
	size_t	      i;
	int	      rc = 0;

	lb_buf_init(&b);
	lb_buf_adds(&b, "listen:\n");
	for (i = 0; i < cfg->n_listen; i++)
		dump_listen(&b, &cfg->listen[i]);
	if (cfg->workers_auto)
		lb_buf_adds(&b, "workers: auto\n");
	else
		lb_buf_printf(&b, "workers: %u\n", cfg->workers);
	if (cfg->cpu_auto)
		lb_buf_adds(&b, "cpu_affinity: auto\n");
	else if (cfg->n_cpu_sets == 0)
		lb_buf_adds(&b, "cpu_affinity: off\n");
	else {
		lb_buf_adds(&b, "cpu_affinity: [");
		for (i = 0; i < cfg->n_cpu_sets; i++) {
			lb_buf_adds(&b, i > 0 ? ", \"" : "\"");
			cpuset_text(&b, &cfg->cpu_sets[i]);
			lb_buf_adds(&b, "\"");
		}
		lb_buf_adds(&b, "]\n");
	}
	if (cfg->user != NULL)
		dump_key_str(&b, 0, "user", cfg->user);
	if (cfg->group != NULL)
		dump_key_str(&b, 0, "group", cfg->group);
	if (cfg->pid_file != NULL)
		dump_key_str(&b, 0, "pid_file", cfg->pid_file);
	dump_key_str(&b, 0, "error_log", cfg->error_log);
	lb_buf_printf(&b, "log_level: %s\n",
	    (size_t)cfg->log_level < N_LEVELS ? level_names[cfg->log_level] :
						"info");
	if (cfg->access_log != NULL)
		dump_key_str(&b, 0, "access_log", cfg->access_log);
	else
		lb_buf_adds(&b, "access_log: off\n");
	lb_buf_printf(&b, "access_log_format: %s\n",
	    cfg->access_log_json ? "json" : "combined");
	if (cfg->request_id != NULL)
		dump_key_str(&b, 0, "request_id", cfg->request_id);
	else
		lb_buf_adds(&b, "request_id: off\n");
	dump_duration(&b, 0, "shutdown_timeout", cfg->shutdown_timeout_ms);
	if (cfg->admin != NULL) {
		lb_buf_adds(&b, "admin:\n");
		dump_key_str(&b, 2, "listen", cfg->admin->text);
		if (cfg->admin_token != NULL)
			dump_key_str(&b, 2, "token", cfg->admin_token);
	}
	lb_buf_adds(&b, "resolver:\n");
	dump_names(&b, 2, "nameservers", cfg->nameservers, cfg->n_nameservers);
	dump_duration(&b, 2, "valid", cfg->resolver_valid_ms);
	lb_buf_adds(&b, "timeouts:\n");
	dump_duration(&b, 2, "connect", cfg->connect_timeout_ms);
	dump_duration(&b, 2, "backend", cfg->backend_timeout_ms);
	dump_duration(&b, 2, "client", cfg->client_timeout_ms);
	dump_duration(&b, 2, "keepalive", cfg->keepalive_timeout_ms);
	dump_duration(&b, 2, "tunnel", cfg->tunnel_timeout_ms);
	lb_buf_printf(&b,
	    "limits:\n  max_body_size: %s\n"
	    "  max_header_size: %s\n",
	    fmt_size(cfg->max_body_size, s1, sizeof(s1)),
	    fmt_size(cfg->max_header_size, s2, sizeof(s2)));
	lb_buf_printf(&b,
	    "  max_response_header_size: %s\n  max_connections: %u\n",
	    fmt_size(cfg->max_response_header_size, s1, sizeof(s1)),
	    cfg->max_connections);
	lb_buf_printf(&b, "algorithm: %s\n", lb_algo_name(cfg->algorithm));
	dump_health(&b, 0, &cfg->health);
	dump_firewall(&b, 0, &cfg->firewall);
	dump_rate_limit(&b, 0, &cfg->rate_limit);
	lb_buf_printf(&b, "trusted_proxies:%s\n", cfg->n_trusted ? "" : " []");
	for (i = 0; i < cfg->n_trusted; i++) {
		char c[64];

		lb_cidr_format(&cfg->trusted[i], c, sizeof(c));
		lb_buf_adds(&b, "  - ");
		dump_str(&b, c);
		lb_buf_addc(&b, '\n');
	}

	lb_buf_printf(&b, "hosts:%s\n", cfg->n_host_routes ? "" : " []");
	for (i = 0; i < cfg->n_host_routes; i++)
		dump_route(&b, &cfg->routes[i]);
	lb_buf_printf(&b, "paths:%s\n",
	    cfg->n_routes > cfg->n_host_routes ? "" : " []");
	for (; i < cfg->n_routes; i++)
		dump_route(&b, &cfg->routes[i]);
	lb_buf_printf(&b, "tests:%s\n", cfg->n_tests ? "" : " []");
	for (i = 0; i < cfg->n_tests; i++)
		dump_test(&b, &cfg->tests[i]);

	if (lb_buf_failed(&b)) {
		errno = ENOMEM;
		rc = -1;
	} else if (fwrite(b.data, 1, b.len, fp) != b.len || fflush(fp) != 0)
		rc = -1;
	lb_buf_free(&b);
	return rc;
}

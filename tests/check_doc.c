/*
 * tests/check_doc.c -- lbmaster.yaml(5) and the program agree: every key
 * that "lbmaster -T" prints is documented in the page and every key the
 * page documents is printed; each range the loader enforces is the one
 * the page states; each value form the loader takes is shown in VALUE
 * SYNTAX.
 *
 * A key, in the page, is a tagged paragraph (".TP", then ".B name") in
 * GLOBAL KEYS or ROUTES; a key of a nested map is one inside the .RS/.RE
 * of its parent's paragraph. Keys are compared as "parent.key": the key
 * of the map they sit in ("timeouts.connect", "servers.weight"),
 * "route.key" for the keys of a hosts or paths entry, and the bare name
 * at the top level.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#include <yaml.h>

#include "config/config.h"

#define MAX_KEYS 256
#define KEYLEN	 96

/* A set of "parent.key" strings, and for the page the text of each. */
struct keys {
	char   name[MAX_KEYS][KEYLEN];
	char  *text[MAX_KEYS]; /* owned, the page's only: the entry as text */
	size_t n;
};

/* $NAME, else DEFAULT (a path relative to this source file's directory). */
static const char *
env_or_source(const char *name, const char *rel)
{
	static char buf[2][4096];
	static int  i;
	const char *env = getenv(name), *slash = strrchr(__FILE__, '/');

	if (env != NULL && *env != '\0')
		return env;
	i = (i + 1) % 2;
	snprintf(buf[i], sizeof(buf[i]), "%.*s/%s",
	    slash == NULL ? 1 : (int)(slash - __FILE__),
	    slash == NULL ? "." : __FILE__, rel);
	return buf[i];
}

static const char *
page_path(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/lbmaster.yaml.5",
	    env_or_source("LB_MANDIR", "../man"));
	return path;
}

static bool
keys_has(const struct keys *k, const char *name)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->name[i], name) == 0)
			return true;
	return false;
}

/* Add "PARENT.KEY" (KEY alone at the top level) once; its index. */
static size_t
keys_add(struct keys *k, const char *parent, const char *key)
{
	char name[KEYLEN];

	snprintf(name, sizeof(name), "%s%s%s", parent, *parent ? "." : "", key);
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->name[i], name) == 0)
			return i;
	ck_assert_uint_lt(k->n, MAX_KEYS);
	strcpy(k->name[k->n], name);
	k->text[k->n] = NULL;
	return k->n++;
}

static void
keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->text[i]);
	k->n = 0;
}

/* ------------------------------------------------------------ the page */

/*
 * One line of roff as the reader sees it: the macro name dropped, quotes
 * and font escapes removed, \(en and \- as '-'. Appended to OUT.
 */
static void
render(const char *line, char *out, size_t len)
{
	size_t n = strlen(out);

	if (line[0] == '.') {
		while (*line != '\0' && *line != ' ')
			line++;
		while (*line == ' ')
			line++;
	}
	if (n > 0 && n + 1 < len)
		out[n++] = ' ';
	for (; *line != '\0' && n + 1 < len; line++) {
		if (*line == '"')
			continue;
		if (strncmp(line, "\\(en", 4) == 0) {
			out[n++] = '-';
			line += 3;
		} else if (strncmp(line, "\\-", 2) == 0) {
			out[n++] = '-';
			line++;
		} else if (strncmp(line, "\\f", 2) == 0 && line[2] != '\0')
			line += 2;
		else
			out[n++] = *line;
	}
	out[n] = '\0';
}

/*
 * The keys of the page, each with its entry rendered as text (from its
 * tag to the next paragraph or nested list); and the text of the section
 * SECTION into SECTEXT when it is not NULL.
 */
static void
page_read(struct keys *k, const char *section, char *sectext, size_t seclen)
{
	FILE	   *fp = fopen(page_path(), "r");
	char	    line[1024], sec[64] = "", last[8][KEYLEN];
	char	    text[4096];
	int	    depth = 0;
	bool	    tp = false, keys_sec;
	long	    cur = -1; /* the entry whose text is being read */
	const char *parent;

	ck_assert_msg(fp != NULL, "cannot read %s", page_path());
	memset(last, 0, sizeof(last));
	if (sectext != NULL)
		sectext[0] = '\0';
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SH ", 4) == 0) {
			snprintf(sec, sizeof(sec), "%.63s", line + 4);
			depth = 0;
			memset(last, 0, sizeof(last));
		}
		keys_sec = strcmp(sec, "GLOBAL KEYS") == 0 ||
		    strcmp(sec, "ROUTES") == 0;
		if (cur >= 0 &&
		    (strncmp(line, ".TP", 3) == 0 ||
			strncmp(line, ".RS", 3) == 0 ||
			strncmp(line, ".RE", 3) == 0 ||
			strncmp(line, ".SH", 3) == 0 ||
			strncmp(line, ".PP", 3) == 0)) {
			k->text[cur] = strdup(text);
			cur = -1;
		}
		if (strncmp(line, ".RS", 3) == 0 && depth < 7)
			depth++;
		else if (strncmp(line, ".RE", 3) == 0 && depth > 0)
			last[depth--][0] = '\0';
		if (sectext != NULL && strcmp(sec, section) == 0 &&
		    strncmp(line, ".SH", 3) != 0)
			render(line, sectext, seclen);
		if (cur >= 0) {
			render(line, text, sizeof(text));
			continue;
		}
		if (strcmp(line, ".TP") == 0) {
			tp = true;
			continue;
		}
		if (tp && keys_sec && strncmp(line, ".B ", 3) == 0 &&
		    strspn(line + 3, "abcdefghijklmnopqrstuvwxyz_") ==
			strlen(line + 3)) {
			parent = depth > 0	       ? last[depth - 1] :
			    strcmp(sec, "ROUTES") == 0 ? "route" :
							 "";
			snprintf(last[depth], KEYLEN, "%.*s", KEYLEN - 1,
			    line + 3);
			cur = (long)keys_add(k, parent, line + 3);
			if (k->text[cur] != NULL)
				cur = -1; /* documented twice: keep the first */
			else
				text[0] = '\0';
		}
		tp = false;
	}
	if (cur >= 0)
		k->text[cur] = strdup(text);
	fclose(fp);
}

/* ------------------------------------------------------------ -T output */

/*
 * The keys of mapping N under PARENT. The maps of header_rules.add,
 * param_rules.add, rewrite_rules.replace and the headers of tests hold
 * the user's names, not keys; the items of hosts and paths are routes.
 */
static void
yaml_keys(yaml_document_t *d, yaml_node_t *n, const char *parent,
    struct keys *k)
{
	yaml_node_pair_t *p;

	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(d, p->key);
		yaml_node_t *vn = yaml_document_get_node(d, p->value);
		const char  *key = (const char *)kn->data.scalar.value;
		const char  *child = key;

		keys_add(k, parent, key);
		if (strcmp(key, "add") == 0 || strcmp(key, "replace") == 0 ||
		    strcmp(key, "headers") == 0)
			continue;
		if (strcmp(key, "hosts") == 0 || strcmp(key, "paths") == 0)
			child = "route";
		if (vn->type == YAML_MAPPING_NODE)
			yaml_keys(d, vn, key, k);
		else if (vn->type == YAML_SEQUENCE_NODE)
			for (yaml_node_item_t *i =
				 vn->data.sequence.items.start;
			     i < vn->data.sequence.items.top; i++) {
				yaml_node_t *in = yaml_document_get_node(d, *i);

				if (in->type == YAML_MAPPING_NODE)
					yaml_keys(d, in, child, k);
			}
	}
}

/* DIR/NAME, in a static buffer. */
static const char *
doc_path(const char *dir, const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/*
 * The keys "lbmaster -T" prints for tests/fixtures/every_key.yaml. Its
 * TLS listener names every_key.pem and every_key.key, relative: they are
 * made here, in a fresh directory that lbmaster runs in, and removed.
 */
static void
dump_keys(struct keys *k)
{
	const char     *lbmaster = getenv("LBMASTER");
	char	       *cmd, out[65536], dir[] = "/tmp/check_doc-XXXXXX";
	char		fixtures[4096];
	FILE	       *fp;
	size_t		len;
	int		rc;
	yaml_parser_t	parser;
	yaml_document_t doc;
	yaml_node_t    *root;

	ck_assert_msg(lbmaster != NULL && *lbmaster != '\0',
	    "$LBMASTER is not set: run the test through `make check`");
	ck_assert(realpath(env_or_source("LB_FIXTURES", "fixtures"),
		      fixtures) != NULL);
	ck_assert(mkdtemp(dir) != NULL);
	ck_assert(asprintf(&cmd,
		      "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
		      "ec_paramgen_curve:P-256 -nodes -keyout every_key.key "
		      "-out every_key.pem -days 30 -subj /CN=every.key.test "
		      "2>/dev/null && '%s' -T -c '%s/every_key.yaml'",
		      dir, lbmaster, fixtures) != -1);
	ck_assert_msg((fp = popen(cmd, "r")) != NULL, "%s", cmd);
	len = fread(out, 1, sizeof(out) - 1, fp);
	out[len] = '\0';
	rc = pclose(fp);
	unlink(doc_path(dir, "every_key.key"));
	unlink(doc_path(dir, "every_key.pem"));
	rmdir(dir);
	ck_assert_msg(rc == 0, "%s failed:\n%s", cmd, out);
	free(cmd);

	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)out, len);
	ck_assert_msg(yaml_parser_load(&parser, &doc), "-T is not YAML");
	root = yaml_document_get_root_node(&doc);
	ck_assert(root != NULL && root->type == YAML_MAPPING_NODE);
	yaml_keys(&doc, root, "", k);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}

/* ---------------------------------------------------------------- keys */

static struct keys dumped, documented;

START_TEST(test_every_key_of_the_dump_is_documented)
{
	char missing[4096] = "";

	dump_keys(&dumped);
	page_read(&documented, "", NULL, 0);
	ck_assert_uint_gt(dumped.n, 40);
	for (size_t i = 0; i < dumped.n; i++)
		if (!keys_has(&documented, dumped.name[i]))
			snprintf(missing + strlen(missing),
			    sizeof(missing) - strlen(missing), " %s",
			    dumped.name[i]);
	ck_assert_msg(missing[0] == '\0',
	    "lbmaster -T prints keys that lbmaster.yaml(5) does not "
	    "document:%s",
	    missing);
	keys_free(&dumped);
	keys_free(&documented);
}
END_TEST

START_TEST(test_every_documented_key_is_in_the_dump)
{
	char missing[4096] = "";

	dump_keys(&dumped);
	page_read(&documented, "", NULL, 0);
	ck_assert_uint_gt(documented.n, 40);
	for (size_t i = 0; i < documented.n; i++)
		if (!keys_has(&dumped, documented.name[i]))
			snprintf(missing + strlen(missing),
			    sizeof(missing) - strlen(missing), " %s",
			    documented.name[i]);
	ck_assert_msg(missing[0] == '\0',
	    "lbmaster.yaml(5) documents keys that lbmaster -T does not "
	    "print:%s",
	    missing);
	keys_free(&dumped);
	keys_free(&documented);
}
END_TEST

/* -------------------------------------------------------------- ranges */

#define ROUTE "paths: [{path: /, servers: [127.0.0.1:9000]}]\n"

/*
 * For each key with a range: a value outside it, what the loader says
 * (its bounds), and what the key's entry in the page must say.
 */
static const struct range_case {
	const char *key;
	const char *yaml;
	const char *error; /* in the loader's message */
	const char *page;  /* in the page's entry for KEY */
} range_cases[] = {
	{ "workers", "workers: 1025\n" ROUTE, "(1-1024", "1-1024" },
	{ "servers.weight",
	    "paths: [{path: /, servers: [{address: 127.0.0.1:1, "
	    "weight: 1001}]}]\n",
	    "(1-1000)", "1-1000" },
	{ "servers.max_addresses",
	    "paths: [{path: /, servers: [{address: a.test:1, resolve: true, "
	    "max_addresses: 1025}]}]\n",
	    "(1-1024)", "1-1024" },
	{ "resolver.valid", "resolver: {valid: 2h}\n" ROUTE, "at most 3600s",
	    "1s to 1h" },
	{ "shutdown_timeout", "shutdown_timeout: 25h\n" ROUTE, "at most 86400s",
	    "0 to 24h" },
	{ "timeouts.connect", "timeouts: {connect: 0}\n" ROUTE, "at least 1ms",
	    "1ms to 24h" },
	{ "timeouts.backend", "timeouts: {backend: 25h}\n" ROUTE,
	    "at most 86400s", "1ms to 24h" },
	{ "timeouts.client", "timeouts: {client: 0}\n" ROUTE, "at least 1ms",
	    "1ms to 24h" },
	{ "timeouts.keepalive", "timeouts: {keepalive: 25h}\n" ROUTE,
	    "at most 86400s", "0 to 24h" },
	{ "timeouts.tunnel", "timeouts: {tunnel: 0}\n" ROUTE, "at least 1ms",
	    "1ms to 24h" },
	{ "limits.max_body_size", "limits: {max_body_size: 1025g}\n" ROUTE,
	    "(0-1024g)", "0 to 1024g" },
	{ "limits.max_header_size", "limits: {max_header_size: 1023}\n" ROUTE,
	    "(1k-16m)", "1k-16m" },
	{ "limits.max_connections", "limits: {max_connections: 0}\n" ROUTE,
	    "(1-1000000)", "1-1000000" },
	{ "health_check.interval", "health_check: {interval: 2h}\n" ROUTE,
	    "at most 3600s", "1ms to 1h" },
	{ "health_check.timeout", "health_check: {timeout: 0}\n" ROUTE,
	    "at least 1ms", "1ms to 1h" },
	{ "health_check.rise", "health_check: {rise: 101}\n" ROUTE, "(1-100)",
	    "1-100" },
	{ "health_check.fall", "health_check: {fall: 0}\n" ROUTE, "(1-100)",
	    "1-100" },
	{ "tls.min_version",
	    "listen: [{address: 127.0.0.1:1, tls: {certificates: [{cert: /c, "
	    "key: /k}], min_version: \"1.1\"}}]\n" ROUTE,
	    "\"1.2\" or \"1.3\"", "TLS 1.0 and 1.1 are never accepted" },
	{ "listen.redirect_https",
	    "listen: [{address: 127.0.0.1:1, redirect_https: 65536}]\n" ROUTE,
	    "(1-65535)", "1-65535" },
	{ "rate_limit.rate", "rate_limit: {rate: 1000001/s}\n" ROUTE,
	    "(1-1000000 per second or minute)", "1-1000000" },
	{ "rate_limit.burst", "rate_limit: {rate: 1/s, burst: 0}\n" ROUTE,
	    "(1-1000000)", "1-1000000" },
	{ "rate_limit.max_keys",
	    "rate_limit: {rate: 1/s, max_keys: 10000001}\n" ROUTE,
	    "(1-10000000)", "1-10000000" },
};

START_TEST(test_every_range_the_loader_enforces_is_in_the_page)
{
	const struct range_case *c = &range_cases[_i];
	struct lb_cfg		*cfg;
	char			 err[LB_ERRLEN];
	size_t			 i;

	ck_assert_int_eq(lb_cfg_load_string("t.yaml", c->yaml, strlen(c->yaml),
			     &cfg, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, c->error) != NULL,
	    "the range of %s changed: \"%s\" (update lbmaster.yaml(5))", c->key,
	    err);
	page_read(&documented, "", NULL, 0);
	for (i = 0; i < documented.n; i++)
		if (strcmp(documented.name[i], c->key) == 0)
			break;
	ck_assert_msg(i < documented.n, "%s is not documented", c->key);
	ck_assert_msg(strstr(documented.text[i], c->page) != NULL,
	    "lbmaster.yaml(5) does not say \"%s\" for %s: \"%s\"", c->page,
	    c->key, documented.text[i]);
	keys_free(&documented);
}
END_TEST

/* --------------------------------------------------------- value forms */

/* A value form the loader takes, and the word VALUE SYNTAX shows it by. */
static const struct form_case {
	const char *yaml;
	const char *word;
} form_cases[] = {
	{ "timeouts: {client: 1h}\n" ROUTE, "1h" },
	{ "timeouts: {client: 90}\n" ROUTE, "90" },
	{ "timeouts: {client: 250ms}\n" ROUTE, "250ms" },
	{ "limits: {max_body_size: 1g}\n" ROUTE, "1g" },
	{ "limits: {max_body_size: 16K}\n" ROUTE, "16K" },
	{ "limits: {max_body_size: 512}\n" ROUTE, "512" },
	{ "paths: [{path: /a, strip_prefix: yes, servers: [127.0.0.1:1]}]\n",
	    "yes" },
	{ "paths: [{path: /a, strip_prefix: on, servers: [127.0.0.1:1]}]\n",
	    "on" },
	{ "paths: [{path: /a, strip_prefix: no, servers: [127.0.0.1:1]}]\n",
	    "no" },
	{ "paths: [{path: /a, strip_prefix: off, servers: [127.0.0.1:1]}]\n",
	    "off" },
	{ "paths: [{path: /a, strip_prefix: YES, servers: [127.0.0.1:1]}]\n",
	    "YES" },
	{ "paths: [{path: /, servers: [\"http://127.0.0.1:1\"]}]\n",
	    "http://" },
	{ "paths: [{path: /, servers: [\"https://127.0.0.1:1\"]}]\n",
	    "https://" },
};

/* Does TEXT hold WORD with no letter or digit right before or after? */
static bool
has_word(const char *text, const char *word)
{
	size_t	    n = strlen(word);
	const char *p;

	for (p = strstr(text, word); p != NULL; p = strstr(p + 1, word))
		if ((p == text || !isalnum((unsigned char)p[-1])) &&
		    (!isalnum((unsigned char)word[n - 1]) ||
			!isalnum((unsigned char)p[n])))
			return true;
	return false;
}

START_TEST(test_every_value_form_the_loader_takes_is_shown)
{
	const struct form_case *c = &form_cases[_i];
	struct lb_cfg	       *cfg;
	char			err[LB_ERRLEN], *text;

	if (lb_cfg_load_string("t.yaml", c->yaml, strlen(c->yaml), &cfg, err,
		sizeof(err)) == -1)
		ck_abort_msg("load failed: %s", err);
	lb_cfg_free(cfg);
	ck_assert_ptr_nonnull(text = calloc(1, 65536));
	page_read(&documented, "VALUE SYNTAX", text, 65536);
	ck_assert_msg(has_word(text, c->word),
	    "VALUE SYNTAX in lbmaster.yaml(5) does not show \"%s\"", c->word);
	free(text);
	keys_free(&documented);
}
END_TEST

/* ------------------------------------------------------------ HACKING */

/*
 * HACKING.md counts the fuzzers in words ("Six libFuzzer harnesses"); the
 * Makefile.am lists them in FUZZERS.
 */
START_TEST(test_hacking_counts_the_fuzzers_of_the_makefile)
{
	static const char *const words[] = { "zero", "one", "two", "three",
		"four", "five", "six", "seven", "eight", "nine", "ten",
		"eleven", "twelve" };
	char			 path[4096], line[1024], *tok, *save = NULL;
	const char		*src = env_or_source("LB_SRCDIR", "..");
	size_t			 n = 0, said = 0;
	FILE			*fp;

	snprintf(path, sizeof(path), "%s/Makefile.am", src);
	ck_assert_msg((fp = fopen(path, "r")) != NULL, "cannot read %s", path);
	/* The names, over continued lines; the backslashes are not. */
	while (fgets(line, sizeof(line), fp) != NULL) {
		bool more = false;

		if (strncmp(line, "FUZZERS = ", 10) != 0)
			continue;
		do {
			more = false;
			for (tok = strtok_r(line + (n == 0 ? 10 : 0), " \t\n",
				 &save);
			     tok != NULL; tok = strtok_r(NULL, " \t\n", &save))
				if (strcmp(tok, "\\") == 0)
					more = true;
				else
					n++;
		} while (more && fgets(line, sizeof(line), fp) != NULL);
		break;
	}
	fclose(fp);
	ck_assert_uint_gt(n, 0);

	snprintf(path, sizeof(path), "%s/HACKING.md", src);
	ck_assert_msg((fp = fopen(path, "r")) != NULL, "cannot read %s", path);
	while (fgets(line, sizeof(line), fp) != NULL)
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strncasecmp(line, words[i], strlen(words[i])) ==
				0 &&
			    strncmp(line + strlen(words[i]),
				" libFuzzer harnesses", 20) == 0) {
				said = i;
				break;
			}
	fclose(fp);
	ck_assert_msg(said == n,
	    "HACKING.md counts %zu fuzzers, Makefile.am's FUZZERS has %zu",
	    said, n);
}
END_TEST

static Suite *
doc_suite(void)
{
	Suite *s = suite_create("doc");
	TCase *tc;

	tc = tcase_create("keys");
	tcase_add_test(tc, test_every_key_of_the_dump_is_documented);
	tcase_add_test(tc, test_every_documented_key_is_in_the_dump);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_loop_test(tc,
	    test_every_range_the_loader_enforces_is_in_the_page, 0,
	    sizeof(range_cases) / sizeof(range_cases[0]));
	tcase_add_loop_test(tc, test_every_value_form_the_loader_takes_is_shown,
	    0, sizeof(form_cases) / sizeof(form_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("hacking");
	tcase_add_test(tc, test_hacking_counts_the_fuzzers_of_the_makefile);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(doc_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/fuzz/fuzz_config.c -- config/config.c (and the route table it
 * compiles) under arbitrary YAML.
 *
 * Invariants: a refused input leaves no config and one error line,
 * "fuzz.yaml:LINE:COL: message", without control bytes. An accepted one
 * dumps (lb_cfg_dump, as -T does) to YAML that loads again, and whose own
 * dump is the same text: the dump is a fixed point.
 *
 * Offline: the loader resolves server names with getaddrinfo, and a fuzzer
 * must not query DNS thousands of times a second. Before loading, the
 * harness walks every scalar of the input's YAML document; one that
 * splits as "host:port" (which is what the loader resolves, and only that)
 * must name a numeric address or "localhost", which /etc/hosts answers.
 * Other inputs are skipped. The dump writes server names as they were
 * written, so the reload needs no other names either.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/addr.h"
#include "config/config.h"
#include "tests/fuzz/fuzz.h"

/* Inputs past this are not more interesting, only slower. */
#define MAX_INPUT (64 * 1024)

/* Is HOST answered without DNS: a literal address, or "localhost"? */
static bool
host_offline(const char *host)
{
	struct addrinfo hints, *res = NULL;

	if (strcmp(host, "localhost") == 0)
		return true;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	freeaddrinfo(res);
	return true;
}

/* Could loading DATA make the loader look a name up in DNS? */
static bool
input_offline(const uint8_t *data, size_t size)
{
	yaml_parser_t	parser;
	yaml_document_t doc;
	yaml_node_t    *n;
	bool		ok = true;
	char		host[256];
	unsigned	port;

	if (!yaml_parser_initialize(&parser))
		return false;
	yaml_parser_set_input_string(&parser, data, size);
	/* What libyaml cannot load, the loader refuses before resolving. */
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_parser_delete(&parser);
		return true;
	}
	for (n = doc.nodes.start; ok && n < doc.nodes.top; n++) {
		if (n->type != YAML_SCALAR_NODE)
			continue;
		/* As config.c's add_server splits a server's text. */
		if (lb_addr_split((const char *)n->data.scalar.value, host,
			sizeof(host), &port, 0, NULL, 0) == 0 &&
		    !host_offline(host))
			ok = false;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ok;
}

/* "fuzz.yaml:LINE:COL: message", one line of printable text. */
static void
check_error(const char *err)
{
	const char *p = err;
	size_t	    digits;

	if (strncmp(p, "fuzz.yaml:", 10) != 0)
		fuzz_fail("error without the file name: \"%s\"", err);
	p += 10;
	for (int part = 0; part < 2; part++) {
		digits = strspn(p, "0123456789");
		if (digits == 0 || *p == '0' || p[digits] != ':')
			fuzz_fail("error without LINE:COL: \"%s\"", err);
		p += digits + 1;
	}
	if (*p != ' ' || p[1] == '\0')
		fuzz_fail("error without a message: \"%s\"", err);
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fuzz_fail("control byte 0x%02x in error \"%s\"",
			    (unsigned char)*p, err);
}

/* CFG as lb_cfg_dump writes it, malloc'ed; *len its length. */
static char *
dump(const struct lb_cfg *cfg, size_t *len)
{
	FILE *fp;
	char *text = NULL;

	if ((fp = open_memstream(&text, len)) == NULL)
		fuzz_fail("open_memstream failed");
	if (lb_cfg_dump(cfg, fp) == -1)
		fuzz_fail("lb_cfg_dump failed");
	if (fclose(fp) != 0)
		fuzz_fail("fclose of the memstream failed");
	return text;
}

int
lb_fuzz_config(const uint8_t *data, size_t size)
{
	static struct lb_cfg sentinel;
	struct lb_cfg	    *cfg, *again = NULL;
	char		     err[LB_ERRLEN], *d1, *d2;
	size_t		     l1, l2;

	if (size > MAX_INPUT || !input_offline(data, size))
		return 0;
	/* Not NULL, so that a failed load must clear it. */
	cfg = &sentinel;
	err[0] = 'x';
	err[1] = '\0';
	if (lb_cfg_load_string("fuzz.yaml", (const char *)data, size, &cfg, err,
		sizeof(err)) == -1) {
		if (cfg != NULL)
			fuzz_fail("refused config left *out set");
		check_error(err);
		return 0;
	}
	if (cfg == NULL || cfg->table == NULL)
		fuzz_fail("accepted config without a route table");

	d1 = dump(cfg, &l1);
	if (lb_cfg_load_string("fuzz.yaml", d1, l1, &again, err, sizeof(err)) ==
	    -1)
		fuzz_fail("the dump does not load: %s\n--- dump:\n%s", err, d1);
	d2 = dump(again, &l2);
	if (l1 != l2 || memcmp(d1, d2, l1) != 0)
		fuzz_fail("the dump of the dump differs\n--- first:\n%s\n"
			  "--- second:\n%s",
		    d1, d2);
	free(d1);
	free(d2);
	lb_cfg_free(again);
	lb_cfg_free(cfg);
	return 0;
}

#ifndef LB_FUZZ_REGRESS
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lb_fuzz_config(data, size);
}
#endif

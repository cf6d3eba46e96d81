/*
 * tests/check_cfg.c -- lbmaster.yaml(5) as config/config.c reads it: the
 * course file, every default, units, rule forms, health check merging,
 * the -T round trip, and one exact "FILE:LINE:COL: message" per kind of
 * mistake, plus every broken file in tests/fixtures/bad/.
 */
#include <sys/socket.h>

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/addr.h"
#include "common/str.h"
#include "config/config.h"
#include "config/routes.h"

/* The fixtures directory: $LB_FIXTURES (make check), else next to us. */
static const char *
fixtures_dir(void)
{
	static char dir[4096];
	const char *env = getenv("LB_FIXTURES"), *slash;

	if (env != NULL && *env != '\0')
		return env;
	slash = strrchr(__FILE__, '/');
	if (slash == NULL)
		return "fixtures";
	snprintf(dir, sizeof(dir), "%.*s/fixtures", (int)(slash - __FILE__),
	    __FILE__);
	return dir;
}

/* DIR/NAME into BUF, which must be big enough. */
static void
join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	ck_assert_msg(n > 0 && (size_t)n < len, "path too long: %s", dir);
}

/* One route, for the files that test something else: routes are required. */
#define ROUTE "paths: [{path: /r, servers: [127.0.0.1:9000]}]\n"

/* Load YAML as "t.yaml"; the test fails with the message if it does not. */
static struct lb_cfg *
load_ok(const char *yaml)
{
	struct lb_cfg *cfg = NULL;
	char	       err[LB_ERRLEN];

	if (lb_cfg_load_string("t.yaml", yaml, strlen(yaml), &cfg, err,
		sizeof(err)) == -1)
		ck_abort_msg("load failed: %s", err);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* Loading YAML fails, leaves no config behind, and says exactly EXPECTED. */
static void
expect_error(const char *yaml, const char *expected)
{
	struct lb_cfg *cfg = (struct lb_cfg *)&cfg; /* anything but NULL */
	char	       err[LB_ERRLEN];

	ck_assert_int_eq(lb_cfg_load_string("t.yaml", yaml, strlen(yaml), &cfg,
			     err, sizeof(err)),
	    -1);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, expected);
}

/* The dump of CFG as a malloc'ed string. */
static char *
dump(const struct lb_cfg *cfg)
{
	char  *text = NULL;
	size_t len = 0;
	FILE  *fp = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(lb_cfg_dump(cfg, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
	return text;
}

/* How many of R's servers were written as NAME. */
static size_t
count_named(const struct lb_route *r, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_servers; i++)
		if (strcmp(r->servers[i].name, name) == 0)
			n++;
	return n;
}

/* ------------------------------------------------------- valid files */

START_TEST(test_course_file_loads_unchanged)
{
	static const char *const paths[] = { "/mango", "/apple", "/orange" };
	struct lb_cfg		*cfg = NULL;
	const struct lb_route	*mango, *apple, *orange;
	char			 file[4096], err[LB_ERRLEN], c[64];
	size_t			 id = 0;

	join(file, sizeof(file), fixtures_dir(), "loadbalancer.yaml");
	if (lb_cfg_load(file, &cfg, err, sizeof(err)) == -1)
		ck_abort_msg("%s", err);

	ck_assert_str_eq(cfg->file, file);
	ck_assert_uint_eq(cfg->n_routes, 6);
	ck_assert_uint_eq(cfg->n_host_routes, 3);
	ck_assert_ptr_nonnull(cfg->table);

	mango = &cfg->routes[0];
	ck_assert_int_eq(mango->kind, LB_ROUTE_HOST);
	ck_assert_str_eq(mango->match, "www.mango.com");
	ck_assert_str_eq(mango->label, "www.mango.com");
	ck_assert_uint_eq(mango->n_hdr_add, 1);
	ck_assert_str_eq(mango->hdr_add[0].name, "MyCustomHeader");
	ck_assert_str_eq(mango->hdr_add[0].value, "Test");
	ck_assert_uint_eq(mango->n_hdr_remove, 1);
	ck_assert_str_eq(mango->hdr_remove[0], "Host");
	ck_assert_uint_eq(mango->n_param_add, 1);
	ck_assert_str_eq(mango->param_add[0].name, "MyCustomParam");
	ck_assert_str_eq(mango->param_add[0].value, "Test");
	ck_assert_uint_eq(mango->n_param_remove, 1);
	ck_assert_str_eq(mango->param_remove[0], "RemoveMe");
	ck_assert_uint_eq(mango->n_rewrite, 1);
	ck_assert_str_eq(mango->rewrite[0].name, "/v1");
	ck_assert_str_eq(mango->rewrite[0].value, "/v2");
	ck_assert_uint_eq(mango->firewall.n_ip_reject, 2);
	lb_cidr_format(&mango->firewall.ip_reject[0], c, sizeof(c));
	ck_assert_str_eq(c, "10.192.0.1");
	lb_cidr_format(&mango->firewall.ip_reject[1], c, sizeof(c));
	ck_assert_str_eq(c, "10.192.0.2");
	ck_assert_uint_eq(mango->firewall.n_path_reject, 0);
	ck_assert_uint_ge(count_named(mango, "localhost:8081"), 1);
	ck_assert_uint_ge(count_named(mango, "localhost:8082"), 1);
	ck_assert_uint_eq(count_named(mango, "localhost:8081") +
		count_named(mango, "localhost:8082"),
	    mango->n_servers);

	apple = &cfg->routes[1];
	ck_assert_str_eq(apple->match, "www.apple.com");
	ck_assert_uint_eq(apple->n_hdr_add, 0);
	ck_assert_uint_eq(apple->n_hdr_remove, 1);
	ck_assert_str_eq(apple->hdr_remove[0], "Host");
	ck_assert_uint_eq(apple->firewall.n_path_reject, 2);
	ck_assert_str_eq(apple->firewall.path_reject[0], "/messages");
	ck_assert_str_eq(apple->firewall.path_reject[1], "/apps");
	ck_assert_uint_ge(count_named(apple, "localhost:8888"), 1);

	orange = &cfg->routes[2];
	ck_assert_str_eq(orange->match, "www.orange.com");
	ck_assert_uint_eq(orange->n_rewrite + orange->n_hdr_add +
		orange->n_hdr_remove + orange->firewall.n_ip_reject,
	    0);

	for (size_t i = 0; i < 3; i++) {
		const struct lb_route *r = &cfg->routes[3 + i];

		ck_assert_int_eq(r->kind, LB_ROUTE_PATH);
		ck_assert_str_eq(r->match, paths[i]);
		ck_assert_str_eq(r->label, paths[i]);
		ck_assert(r->strip_prefix);
	}

	/* Routes and servers are numbered in order across the config. */
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		ck_assert_uint_eq(r->id, i);
		ck_assert_int_eq(r->algorithm, LB_ALGO_ROUND_ROBIN);
		ck_assert(r->health.enabled);
		ck_assert_str_eq(r->health.path, "/healthcheck");
		for (size_t j = 0; j < r->n_servers; j++) {
			ck_assert_uint_eq(r->servers[j].id, id++);
			ck_assert_uint_eq(r->servers[j].weight, 1);
			ck_assert(!r->servers[j].backup);
		}
	}
	ck_assert_uint_eq(cfg->n_servers, id);

	ck_assert_ptr_eq(lb_routes_match(cfg->table, "WWW.Mango.com:8080",
			     "/x"),
	    mango);
	ck_assert_ptr_eq(lb_routes_match(cfg->table, "unknown.example",
			     "/apple/pie"),
	    &cfg->routes[4]);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_one_route_gives_every_default)
{
	struct lb_cfg *cfg = load_ok("# nothing but a route\n" ROUTE);
	cpu_set_t      usable;
	char	       a[LB_ADDRSTRLEN];

	ck_assert_uint_eq(cfg->n_listen, 1);
	ck_assert_str_eq(cfg->listen[0].text, "0.0.0.0:8080");
	lb_addr_format((struct sockaddr *)&cfg->listen[0].addr, a, sizeof(a));
	ck_assert_str_eq(a, "0.0.0.0:8080");
	ck_assert(cfg->workers_auto);
	ck_assert_int_eq(sched_getaffinity(0, sizeof(usable), &usable), 0);
	ck_assert_uint_eq(cfg->workers, (unsigned)CPU_COUNT(&usable));
	ck_assert_uint_eq(cfg->n_cpu_sets, 0);
	ck_assert_ptr_null(cfg->user);
	ck_assert_ptr_null(cfg->group);
	ck_assert_ptr_null(cfg->pid_file);
	ck_assert_str_eq(cfg->error_log, "stderr");
	ck_assert_int_eq(cfg->log_level, LB_LOG_INFO);
	ck_assert_ptr_null(cfg->access_log);
	ck_assert_uint_eq(cfg->shutdown_timeout_ms, 30000);
	ck_assert_ptr_null(cfg->admin);
	ck_assert_uint_eq(cfg->connect_timeout_ms, 3000);
	ck_assert_uint_eq(cfg->backend_timeout_ms, 60000);
	ck_assert_uint_eq(cfg->client_timeout_ms, 60000);
	ck_assert_uint_eq(cfg->keepalive_timeout_ms, 75000);
	ck_assert_uint_eq(cfg->max_body_size, 16 * 1024 * 1024);
	ck_assert_uint_eq(cfg->max_header_size, 32 * 1024);
	ck_assert_uint_eq(cfg->max_response_header_size, 64 * 1024);
	ck_assert_uint_eq(cfg->max_connections, 10000);
	ck_assert_int_eq(cfg->algorithm, LB_ALGO_ROUND_ROBIN);
	ck_assert(cfg->health.enabled);
	ck_assert_str_eq(cfg->health.path, "/healthcheck");
	ck_assert_uint_eq(cfg->health.interval_ms, 2000);
	ck_assert_uint_eq(cfg->health.timeout_ms, 1000);
	ck_assert_uint_eq(cfg->health.rise, 2);
	ck_assert_uint_eq(cfg->health.fall, 2);
	ck_assert_uint_eq(cfg->firewall.n_ip_reject, 0);
	ck_assert_uint_eq(cfg->firewall.n_path_reject, 0);
	ck_assert_uint_eq(cfg->n_routes, 1);
	ck_assert_uint_eq(cfg->n_servers, 1);
	ck_assert_ptr_nonnull(cfg->table);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_a_route_gets_the_defaults_too)
{
	struct lb_cfg	      *cfg = load_ok("paths:\n"
						     "  - path: /\n"
						     "    servers: [127.0.0.1:9000]\n");
	const struct lb_route *r = &cfg->routes[0];

	ck_assert_str_eq(r->match, "/");
	ck_assert(r->strip_prefix);
	ck_assert_int_eq(r->algorithm, LB_ALGO_ROUND_ROBIN);
	ck_assert(r->health.enabled);
	ck_assert_str_eq(r->health.path, "/healthcheck");
	ck_assert_uint_eq(r->health.interval_ms, 2000);
	ck_assert_uint_eq(r->n_servers, 1);
	ck_assert_str_eq(r->servers[0].name, "127.0.0.1:9000");
	ck_assert_str_eq(r->servers[0].addrstr, "127.0.0.1:9000");
	ck_assert_uint_eq(r->servers[0].weight, 1);
	ck_assert_uint_eq(r->servers[0].pos.line, 3);
	ck_assert_uint_eq(r->servers[0].pos.col, 15);
	ck_assert_uint_eq(r->pos.line, 2);
	ck_assert_uint_eq(r->pos.col, 11);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_top_level_settings_are_read)
{
	struct lb_cfg *cfg = load_ok(
	    "listen: [\"127.0.0.1:8080\", \"[::1]:8081\"]\n"
	    "workers: 3\n"
	    "user: nobody\n"
	    "group: nogroup\n"
	    "pid_file: /run/lbmaster.pid\n"
	    "error_log: syslog\n"
	    "log_level: warn\n"
	    "access_log: stderr\n"
	    "admin: {listen: 127.0.0.1:9090}\n"
	    "algorithm: two_choices\n"
	    "limits: {max_connections: 64}\n" ROUTE);
	char a[LB_ADDRSTRLEN];

	ck_assert_uint_eq(cfg->n_listen, 2);
	ck_assert_str_eq(cfg->listen[1].text, "[::1]:8081");
	lb_addr_format((struct sockaddr *)&cfg->listen[1].addr, a, sizeof(a));
	ck_assert_str_eq(a, "[::1]:8081");
	ck_assert_uint_eq(cfg->workers, 3);
	ck_assert(!cfg->workers_auto);
	ck_assert_str_eq(cfg->user, "nobody");
	ck_assert_str_eq(cfg->group, "nogroup");
	ck_assert_str_eq(cfg->pid_file, "/run/lbmaster.pid");
	ck_assert_str_eq(cfg->error_log, "syslog");
	ck_assert_int_eq(cfg->log_level, LB_LOG_WARN);
	ck_assert_str_eq(cfg->access_log, "stderr");
	ck_assert_ptr_nonnull(cfg->admin);
	ck_assert_str_eq(cfg->admin->text, "127.0.0.1:9090");
	ck_assert_int_eq(cfg->algorithm, LB_ALGO_TWO_CHOICES);
	ck_assert_uint_eq(cfg->max_connections, 64);
	ck_assert_str_eq(lb_algo_name(cfg->algorithm), "two_choices");
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_listen_takes_a_single_string)
{
	struct lb_cfg *cfg = load_ok(
	    "listen: \"8081\"\naccess_log: off\n" ROUTE);

	ck_assert_uint_eq(cfg->n_listen, 1);
	ck_assert_str_eq(cfg->listen[0].text, "8081");
	ck_assert_ptr_null(cfg->access_log);
	lb_cfg_free(cfg);
}
END_TEST

/* A TLS listener is the map form; the files are read later (lb_tls_build). */
START_TEST(test_listen_map_form_with_tls_is_read)
{
	struct lb_cfg *cfg = load_ok(
	    "listen:\n"
	    "  - 127.0.0.1:8080\n"
	    "  - address: 127.0.0.1:8443\n"
	    "    tls:\n"
	    "      certificates:\n"
	    "        - {cert: /etc/a.pem, key: /etc/a.key}\n"
	    "        - cert: /etc/b.pem\n"
	    "          key: /etc/b.key\n"
	    "  - address: 127.0.0.1:9443\n"
	    "    tls: {certificates: [{cert: /c, key: /k}], min_version: "
	    "\"1.3\",\n"
	    "          ciphers: \"ECDHE+AESGCM\", session_tickets: off,\n"
	    "          client_verify: optional, client_ca: /ca.pem}\n"
	    "  - {address: 127.0.0.1:8081}\n" ROUTE);
	const struct lb_tls *t;

	ck_assert_uint_eq(cfg->n_listen, 4);
	ck_assert_ptr_null(cfg->listen[0].tls);
	ck_assert_ptr_null(cfg->listen[3].tls);
	ck_assert_str_eq(cfg->listen[3].text, "127.0.0.1:8081");
	ck_assert_ptr_nonnull(t = cfg->listen[1].tls);
	ck_assert_str_eq(cfg->listen[1].text, "127.0.0.1:8443");
	ck_assert_str_eq(cfg->listen[1].where, "listen[1]");
	ck_assert_uint_eq(t->n_certs, 2);
	ck_assert_str_eq(t->certs[0].cert, "/etc/a.pem");
	ck_assert_str_eq(t->certs[1].key, "/etc/b.key");
	ck_assert_uint_eq(t->certs[1].cert_pos.line, 7);
	ck_assert_uint_eq(t->certs[1].cert_pos.col, 17);
	ck_assert_uint_eq(t->certs[1].key_pos.line, 8);
	ck_assert_uint_eq(t->min_version, 12);
	ck_assert_str_eq(t->ciphers,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
	ck_assert(t->session_tickets);
	ck_assert_ptr_null(t->ctx);
	ck_assert_ptr_nonnull(t = cfg->listen[2].tls);
	ck_assert_uint_eq(t->min_version, 13);
	ck_assert_str_eq(t->ciphers, "ECDHE+AESGCM");
	ck_assert(!t->session_tickets);
	ck_assert_str_eq(t->client_ca, "/ca.pem");
	ck_assert(t->client_optional);
	ck_assert_ptr_null(cfg->listen[1].tls->client_ca);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_tls_listener_dump_round_trips)
{
	static const char
		       yaml[] = "listen:\n"
				"  - address: 127.0.0.1:8443\n"
				"    tls: {certificates: [{cert: /a.pem, key: /a.key},\n"
				"                         {cert: /b.pem, key: /b.key}],\n"
				"          min_version: \"1.3\", ciphers: HIGH,\n"
				"          session_tickets: false, client_ca: /ca}\n"
				"  - 127.0.0.1:8080\n"
				"  - {address: 127.0.0.1:8081, "
				"redirect_https: yes}\n" ROUTE;
	struct lb_cfg *cfg = load_ok(yaml), *again;
	char	      *first, *second;

	first = dump(cfg);
	ck_assert_ptr_nonnull(strstr(first,
	    "  - address: \"127.0.0.1:8443\"\n    tls:\n      certificates:\n"
	    "        - cert: \"/a.pem\"\n          key: \"/a.key\"\n"));
	ck_assert_ptr_nonnull(strstr(first, "      min_version: \"1.3\"\n"));
	ck_assert_ptr_nonnull(strstr(first, "  - \"127.0.0.1:8080\"\n"));
	ck_assert_ptr_nonnull(strstr(first,
	    "  - address: \"127.0.0.1:8081\"\n    redirect_https: 443\n"));
	again = load_ok(first);
	second = dump(again);
	ck_assert_str_eq(first, second);
	free(first);
	free(second);
	lb_cfg_free(cfg);
	lb_cfg_free(again);
}
END_TEST

START_TEST(test_tls_listener_mistakes_are_refused_where_they_are)
{
	expect_error(
	    "listen: [{tls: {certificates: [{cert: /c, key: /k}]}}]\n" ROUTE,
	    "t.yaml:1:10: listen[0]: missing 'address'");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {}}]\n" ROUTE,
	    "t.yaml:1:38: listen[0].tls: missing 'certificates'");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {certificates: "
		     "[]}}]\n" ROUTE,
	    "t.yaml:1:53: listen[0].tls.certificates: empty list (give at "
	    "least one {cert: FILE, key: FILE})");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {certificates: "
		     "[{cert: /c}]}}]\n" ROUTE,
	    "t.yaml:1:54: listen[0].tls.certificates[0]: missing 'key'");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {certificates: "
		     "[{cert: /c, key: /k}], min_versoin: \"1.3\"}}]\n" ROUTE,
	    "t.yaml:1:76: listen[0].tls: unknown key \"min_versoin\" (did "
	    "you mean 'min_version'?)");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {certificates: "
		     "[{cert: /c, key: /k}], min_version: \"1.0\"}}]\n" ROUTE,
	    "t.yaml:1:89: listen[0].tls.min_version: TLS 1.0 is not "
	    "supported (broken, and refused by browsers): \"1.2\" or "
	    "\"1.3\"");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {certificates: "
		     "[{cert: /c, key: /k}], min_version: 2}}]\n" ROUTE,
	    "t.yaml:1:89: listen[0].tls.min_version: expected \"1.2\" or "
	    "\"1.3\", found \"2\"");
	expect_error(
	    "listen: [{address: 127.0.0.1:1, tls: {certificates: "
	    "[{cert: /c, key: /k}], client_verify: optional}}]\n" ROUTE,
	    "t.yaml:1:91: listen[0].tls.client_verify: needs client_ca: the "
	    "CAs that client certificates are verified against");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {certificates: "
		     "[{cert: /c, key: /k}], client_verify: maybe, client_ca: "
		     "/ca}}]\n" ROUTE,
	    "t.yaml:1:91: listen[0].tls.client_verify: expected required or "
	    "optional, found \"maybe\"");
	expect_error("listen: [{redirect_https: 443, address: 127.0.0.1:1, "
		     "tls: {certificates: [{cert: /c, key: /k}]}}]\n" ROUTE,
	    "t.yaml:1:27: listen[0].redirect_https: a TLS listener serves its "
	    "requests: redirect_https is for a plain one");
	expect_error(
	    "listen: [{address: 127.0.0.1:1, redirect_https: 0}]\n" ROUTE,
	    "t.yaml:1:49: listen[0].redirect_https: 0 out of range (1-65535)");
	expect_error(
	    "listen: [{address: 127.0.0.1:1, redirect_https: no}]\n" ROUTE,
	    "t.yaml:1:49: listen[0].redirect_https: false is the default: "
	    "leave the key out");
	expect_error("listen: [{address: 127.0.0.1:1, tls: {certificates: "
		     "[{cert: /c, key: /k}]}, redirect: 1}]\n" ROUTE,
	    "t.yaml:1:77: listen[0]: unknown key \"redirect\"");
}
END_TEST

/* backend_tls: every server of the route over TLS, with these settings. */
START_TEST(test_backend_tls_applies_to_every_server_of_its_route)
{
	struct lb_cfg *cfg = load_ok(
	    "paths:\n"
	    "  - path: /\n"
	    "    servers: [127.0.0.1:8443, \"https://127.0.0.1:9443\"]\n"
	    "    backend_tls: {ca: /etc/ca.pem, verify: false, sni: api.test,\n"
	    "                  cert: /c.pem, key: /c.key}\n"
	    "  - path: /plain\n"
	    "    servers: [127.0.0.1:8080]\n");
	const struct lb_backend_tls *t = cfg->routes[0].backend_tls;
	struct lb_cfg		    *again;
	char			    *first, *second;

	ck_assert_ptr_nonnull(t);
	ck_assert(t->written);
	ck_assert_str_eq(t->ca, "/etc/ca.pem");
	ck_assert(!t->verify);
	ck_assert_str_eq(t->sni, "api.test");
	ck_assert_str_eq(t->cert, "/c.pem");
	ck_assert_ptr_eq(cfg->routes[0].servers[0].tls, t);
	ck_assert_ptr_eq(cfg->routes[0].servers[1].tls, t);
	ck_assert_ptr_null(cfg->routes[1].backend_tls);
	ck_assert_ptr_null(cfg->routes[1].servers[0].tls);
	first = dump(cfg);
	ck_assert_ptr_nonnull(
	    strstr(first, "- address: \"https://127.0.0.1:9443\""));
	ck_assert_ptr_nonnull(strstr(first, "    backend_tls:\n      ca: "));
	again = load_ok(first);
	second = dump(again);
	ck_assert_str_eq(first, second);
	free(first);
	free(second);
	lb_cfg_free(again);
	lb_cfg_free(cfg);
	expect_error("paths:\n"
		     "  - path: /\n"
		     "    servers: [127.0.0.1:8443]\n"
		     "    backend_tls: {cert: /c.pem}\n",
	    "t.yaml:4:18: backend_tls: cert and key go together (the "
	    "client certificate and its key)");
	expect_error("paths:\n"
		     "  - path: /\n"
		     "    servers: [127.0.0.1:8443]\n"
		     "    backend_tls: {verfiy: false}\n",
	    "t.yaml:4:19: backend_tls: unknown key \"verfiy\" (did you "
	    "mean 'verify'?)");
}
END_TEST

/*
 * The CPUs this process may run on (into SET), and the kernel's own
 * writing of them ("0-1,3", /proc/self/status), which lbmaster's
 * messages follow.
 */
static const char *
usable_cpus(cpu_set_t *set)
{
	static char buf[256];
	const char *key = "Cpus_allowed_list:";
	FILE	   *fp;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(*set), set), 0);
	ck_assert_ptr_nonnull(fp = fopen("/proc/self/status", "r"));
	while (fgets(buf, sizeof(buf), fp) != NULL)
		if (strncmp(buf, key, strlen(key)) == 0)
			break;
	fclose(fp);
	ck_assert_msg(strncmp(buf, key, strlen(key)) == 0, "no %s", key);
	buf[strcspn(buf, "\n")] = '\0';
	return buf + strlen(key) + strspn(buf + strlen(key), " \t");
}

/*
 * auto counts the CPUs lbmaster may run on (systemd's CPUAffinity=,
 * taskset, a cpuset), not all the machine's: each test runs in a child
 * process of its own, so this one may narrow its own set.
 */
START_TEST(test_workers_auto_counts_the_cpus_it_may_use)
{
	struct lb_cfg *cfg = load_ok("workers: 2\n" ROUTE);
	cpu_set_t      usable, one;
	int	       last = -1;

	ck_assert(!cfg->workers_auto);
	lb_cfg_free(cfg);
	usable_cpus(&usable);
	cfg = load_ok("workers: auto\n" ROUTE);
	ck_assert(cfg->workers_auto);
	ck_assert_uint_eq(cfg->workers, (unsigned)CPU_COUNT(&usable));
	lb_cfg_free(cfg);

	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &usable))
			last = c;
	CPU_ZERO(&one);
	CPU_SET(last, &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	cfg = load_ok("workers: auto\ncpu_affinity: auto\n" ROUTE);
	ck_assert_uint_eq(cfg->workers, 1);
	ck_assert_uint_eq(cfg->n_cpu_sets, 1);
	ck_assert(CPU_EQUAL(&cfg->cpu_sets[0], &one));
	lb_cfg_free(cfg);
}
END_TEST

/* Each worker on a CPU of its own, on the sets listed, or unpinned. */
START_TEST(test_cpu_affinity_auto_lists_and_off)
{
	struct lb_cfg *cfg;
	cpu_set_t      usable;
	char	       yaml[256], *text;
	int	       first = -1, n = 0;

	usable_cpus(&usable);
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &usable))
			first = c;
	ck_assert_int_ge(first, 0);

	cfg = load_ok(ROUTE); /* the default: the kernel places them */
	ck_assert_uint_eq(cfg->n_cpu_sets, 0);
	ck_assert(!cfg->cpu_auto);
	lb_cfg_free(cfg);
	cfg = load_ok("cpu_affinity: off\n" ROUTE);
	ck_assert_uint_eq(cfg->n_cpu_sets, 0);
	lb_cfg_free(cfg);

	/* auto: one set per usable CPU, each that CPU alone, in order. */
	cfg = load_ok("cpu_affinity: auto\n" ROUTE);
	ck_assert(cfg->cpu_auto);
	ck_assert_uint_eq(cfg->n_cpu_sets, (size_t)CPU_COUNT(&usable));
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &usable))
			continue;
		ck_assert_int_eq(CPU_COUNT(&cfg->cpu_sets[n]), 1);
		ck_assert(CPU_ISSET(c, &cfg->cpu_sets[n]));
		n++;
	}
	lb_cfg_free(cfg);

	/* A list: a number, a string, ranges and commas; one per worker. */
	snprintf(yaml, sizeof(yaml), "cpu_affinity: [%d, \"%d-%d,%d\"]\n" ROUTE,
	    first, first, first, first);
	cfg = load_ok(yaml);
	ck_assert(!cfg->cpu_auto);
	ck_assert_uint_eq(cfg->n_cpu_sets, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(CPU_COUNT(&cfg->cpu_sets[i]), 1);
		ck_assert(CPU_ISSET(first, &cfg->cpu_sets[i]));
	}
	/* -T writes each set the way the kernel lists CPUs. */
	text = dump(cfg);
	snprintf(yaml, sizeof(yaml), "\ncpu_affinity: [\"%d\", \"%d\"]\n",
	    first, first);
	ck_assert_msg(strstr(text, yaml) != NULL, "%s", text);
	free(text);
	lb_cfg_free(cfg);
	cfg = load_ok("cpu_affinity: AUTO\n" ROUTE);
	ck_assert_ptr_nonnull(
	    strstr(text = dump(cfg), "\ncpu_affinity: auto\n"));
	free(text);
	lb_cfg_free(cfg);
	cfg = load_ok(ROUTE);
	ck_assert_ptr_nonnull(
	    strstr(text = dump(cfg), "\ncpu_affinity: off\n"));
	free(text);
	lb_cfg_free(cfg);
}
END_TEST

/* A set that names no CPU lbmaster may use is an error, not a surprise. */
START_TEST(test_error_cpu_affinity)
{
	cpu_set_t   usable;
	const char *list = usable_cpus(&usable);
	char	    msg[512];

	expect_error("cpu_affinity: yes\n",
	    "t.yaml:1:15: cpu_affinity: expected auto, off or a list of CPU "
	    "sets such as [0, 1] or [\"0-3\", \"4-7\"], found \"yes\"");
	expect_error("cpu_affinity: []\n",
	    "t.yaml:1:15: cpu_affinity: an empty list; write off to leave "
	    "the workers where the kernel puts them");
	expect_error("cpu_affinity: [\"1-0\"]\n",
	    "t.yaml:1:16: cpu_affinity: \"1-0\" is not a CPU set (CPU numbers, "
	    "ranges low-high, commas: \"0\", \"2-3\", \"0,4-5\")");
	expect_error("cpu_affinity: [\"0,\"]\n",
	    "t.yaml:1:16: cpu_affinity: \"0,\" is not a CPU set (CPU numbers, "
	    "ranges low-high, commas: \"0\", \"2-3\", \"0,4-5\")");
	expect_error("cpu_affinity: [{cpu: 0}]\n",
	    "t.yaml:1:16: cpu_affinity: expected a CPU set, found a mapping");
	expect_error("cpu_affinity: [4096]\n",
	    "t.yaml:1:16: cpu_affinity: CPU 4096 is past the highest CPU "
	    "number (1023)");
	/* CPU 1023 exists on no machine these tests run on. */
	if (CPU_ISSET(1023, &usable))
		return;
	snprintf(msg, sizeof(msg),
	    "t.yaml:1:19: cpu_affinity: CPU 1023 is not one lbmaster may run "
	    "on here (it may use %s)",
	    list);
	expect_error("cpu_affinity: [0, 1023]\n", msg);
}
END_TEST

/* ------------------------------------------------- durations, sizes */

static const struct {
	const char *text;
	unsigned    ms;
} durations[] = {
	{ "250ms", 250 },
	{ "5s", 5000 },
	{ "2m", 120000 },
	{ "1h", 3600000 },
	{ "7", 7000 },
	{ "0s", 0 },
	{ "1500ms", 1500 },
};

START_TEST(test_durations_take_ms_s_m_h_and_bare_seconds)
{
	char	       yaml[128];
	struct lb_cfg *cfg;

	snprintf(yaml, sizeof(yaml), "timeouts: {keepalive: %s}\n" ROUTE,
	    durations[_i].text);
	cfg = load_ok(yaml);
	ck_assert_uint_eq(cfg->keepalive_timeout_ms, durations[_i].ms);
	lb_cfg_free(cfg);
}
END_TEST

static const char *const bad_durations[] = {
	"5x",
	"-1s",
	"1.5s",
	"s",
	"5 s",
	"5S",
	"0x10",
	"99999999999999999999s",
	"\"\"",
};

START_TEST(test_durations_refuse_other_forms)
{
	char yaml[128], expected[256];

	snprintf(yaml, sizeof(yaml), "timeouts:\n  client: %s\n",
	    bad_durations[_i]);
	snprintf(expected, sizeof(expected),
	    "t.yaml:2:11: timeouts.client: "
	    "bad duration \"%s\" (use a number and ms, s, m or h, as in 250ms, "
	    "5s, 2m)",
	    strcmp(bad_durations[_i], "\"\"") == 0 ? "" : bad_durations[_i]);
	expect_error(yaml, expected);
}
END_TEST

static const struct {
	const char *text;
	uint64_t    bytes;
} sizes[] = {
	{ "512", 512 },
	{ "16k", 16384 },
	{ "10m", 10485760 },
	{ "1g", 1073741824 },
	{ "2K", 2048 },
	{ "3M", 3145728 },
};

START_TEST(test_sizes_take_binary_multiples)
{
	char	       yaml[128];
	struct lb_cfg *cfg;

	snprintf(yaml, sizeof(yaml), "limits: {max_body_size: %s}\n" ROUTE,
	    sizes[_i].text);
	cfg = load_ok(yaml);
	ck_assert_uint_eq(cfg->max_body_size, sizes[_i].bytes);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_zero_duration_is_refused_where_it_makes_no_sense)
{
	expect_error("timeouts: {connect: 0ms}\n",
	    "t.yaml:1:21: timeouts.connect: duration 0ms too short "
	    "(at least 1ms)");
	expect_error("limits: {max_header_size: 100}\n",
	    "t.yaml:1:27: limits.max_header_size: size 100 out of range "
	    "(1k-16m)");
}
END_TEST

/* --------------------------------------------------- rate limits */

START_TEST(test_rate_limit_is_the_default_of_routes_that_set_none)
{
	struct lb_cfg *cfg = load_ok(
	    "rate_limit: {rate: 100/s, burst: 50}\n"
	    "hosts:\n"
	    "  - host: a.example\n"
	    "    servers: [127.0.0.1:9000]\n"
	    "  - host: b.example\n"
	    "    rate_limit: {rate: 30/m, key: \"header:X-Api-Key\"}\n"
	    "    servers: [127.0.0.1:9000]\n"
	    "  - host: c.example\n"
	    "    rate_limit: off\n"
	    "    servers: [127.0.0.1:9000]\n");
	const struct lb_rate_limit *top = &cfg->rate_limit,
				   *a = &cfg->routes[0].rate_limit,
				   *b = &cfg->routes[1].rate_limit,
				   *c = &cfg->routes[2].rate_limit;

	ck_assert(top->enabled);
	ck_assert_uint_eq(top->count, 100);
	ck_assert_uint_eq(top->period_ms, 1000);
	ck_assert_uint_eq(top->burst, 50);
	ck_assert_uint_eq(top->max_keys, 100000);
	ck_assert_int_eq(top->key, LB_RL_KEY_CLIENT_IP);
	/* a shares the top's table; b has its own; c has none. */
	ck_assert(a->enabled && !a->own);
	ck_assert_uint_eq(a->id, 0);
	ck_assert(b->enabled && b->own);
	ck_assert_uint_eq(b->id, 1);
	ck_assert_uint_eq(b->period_ms, 60000);
	ck_assert_uint_eq(b->burst, 30); /* the rate's count */
	ck_assert_int_eq(b->key, LB_RL_KEY_HEADER);
	ck_assert_str_eq(b->header, "X-Api-Key");
	ck_assert(!c->enabled);
	ck_assert_uint_eq(cfg->n_limits, 2);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_error_rate_limit_says_what_it_takes)
{
	expect_error("rate_limit: {rate: 10/h}\n" ROUTE,
	    "t.yaml:1:20: rate_limit.rate: bad rate \"10/h\" (use requests "
	    "per second or minute, as in 100/s or 30/m)");
	expect_error("rate_limit: on\n" ROUTE,
	    "t.yaml:1:13: rate_limit: expected off or a mapping such as "
	    "{rate: 100/s, burst: 50}, found \"on\"");
	expect_error("rate_limit: {burst: 5}\n" ROUTE,
	    "t.yaml:1:13: rate_limit: missing 'rate'");
	expect_error("rate_limit: {rate: 1/s, key: ip}\n" ROUTE,
	    "t.yaml:1:30: rate_limit.key: unknown key \"ip\" (valid: "
	    "client_ip, header:NAME, as in header:X-Api-Key)");
	expect_error("rate_limit: {rate: 1/s, key: \"header:a b\"}\n" ROUTE,
	    "t.yaml:1:30: rate_limit.key: unknown key \"header:a b\" (valid: "
	    "client_ip, header:NAME, as in header:X-Api-Key)");
}
END_TEST

START_TEST(test_request_id_is_on_by_default_and_names_its_header)
{
	struct lb_cfg *cfg = load_ok(ROUTE);

	ck_assert_str_eq(cfg->request_id, "X-Request-ID");
	ck_assert(!cfg->access_log_json);
	lb_cfg_free(cfg);
	cfg = load_ok(
	    "request_id: X-Trace-Id\naccess_log_format: json\n" ROUTE);
	ck_assert_str_eq(cfg->request_id, "X-Trace-Id");
	ck_assert(cfg->access_log_json);
	lb_cfg_free(cfg);
	cfg = load_ok("request_id: off\n" ROUTE);
	ck_assert_ptr_null(cfg->request_id);
	lb_cfg_free(cfg);
	cfg = load_ok("request_id: on\n" ROUTE);
	ck_assert_str_eq(cfg->request_id, "X-Request-ID");
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_error_request_id_must_be_a_header_of_its_own)
{
	expect_error("request_id: \"X Id\"\n" ROUTE,
	    "t.yaml:1:13: request_id: \"X Id\" is not a header name (use off, "
	    "or a name such as X-Request-ID)");
	expect_error("request_id: X-Forwarded-For\n" ROUTE,
	    "t.yaml:1:13: request_id: \"X-Forwarded-For\" is a header "
	    "lbmaster writes itself (use another name, such as X-Request-ID)");
	expect_error("access_log_format: jsn\n" ROUTE,
	    "t.yaml:1:20: access_log_format: unknown access_log_format "
	    "\"jsn\", did you mean 'json'? (valid: combined, json)");
}
END_TEST

START_TEST(test_listen_takes_a_map_with_proxy_protocol)
{
	struct lb_cfg *cfg = load_ok(
	    "listen: [127.0.0.1:8000, {address: \"127.0.0.1:8001\", "
	    "proxy_protocol: true}]\n"
	    "trusted_proxies: [10.0.0.0/8, \"::1\"]\n" ROUTE);

	ck_assert_uint_eq(cfg->n_listen, 2);
	ck_assert(!cfg->listen[0].proxy_protocol);
	ck_assert(cfg->listen[1].proxy_protocol);
	ck_assert_str_eq(cfg->listen[1].text, "127.0.0.1:8001");
	ck_assert_uint_eq(cfg->n_trusted, 2);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_error_listen_map_and_trusted_proxies)
{
	expect_error("listen: [{proxy_protocol: true}]\n" ROUTE,
	    "t.yaml:1:10: listen[0]: missing 'address'");
	expect_error(
	    "listen: [{address: 127.0.0.1:1, proxy_protocol: 2}]\n" ROUTE,
	    "t.yaml:1:49: listen[0].proxy_protocol: expected true or false, "
	    "found \"2\"");
	expect_error("trusted_proxies: [10.0.0.0/33]\n" ROUTE,
	    "t.yaml:1:19: trusted_proxies[0]: prefix length 33 out of range "
	    "(0-32) in \"10.0.0.0/33\"");
}
END_TEST

START_TEST(test_sticky_takes_a_cookie_name_or_off)
{
	struct lb_cfg *cfg = load_ok("hosts:\n"
				     "  - host: a.example\n"
				     "    sticky: {cookie: lbm_srv}\n"
				     "    servers: [127.0.0.1:9000]\n"
				     "  - host: b.example\n"
				     "    sticky: off\n"
				     "    servers: [127.0.0.1:9000]\n");

	ck_assert_str_eq(cfg->routes[0].sticky_cookie, "lbm_srv");
	ck_assert_ptr_null(cfg->routes[1].sticky_cookie);
	lb_cfg_free(cfg);
	expect_error("paths: [{path: /, sticky: {cookie: \"a b\"}, "
		     "servers: [127.0.0.1:1]}]\n",
	    "t.yaml:1:36: sticky.cookie: \"a b\" is not a cookie "
	    "name (letters, digits and !#$%&'*+-.^_`|~, as in lbm_srv)");
	expect_error("paths: [{path: /, sticky: {}, servers: [127.0.0.1:1]}]\n",
	    "t.yaml:1:27: sticky: missing 'cookie'");
}
END_TEST

/* --------------------------------------------------------- rules */

START_TEST(test_remove_takes_a_map_or_a_list)
{
	struct lb_cfg *cfg = load_ok(
	    "hosts:\n"
	    "  - host: a.example\n"
	    "    header_rules: {remove: {Host: www.mango.com, Cookie: x}}\n"
	    "    param_rules: {remove: {RemoveMe: Remove}}\n"
	    "    servers: [127.0.0.1:9000]\n"
	    "  - host: b.example\n"
	    "    header_rules: {remove: [Host, Cookie]}\n"
	    "    param_rules: {remove: [RemoveMe, utm_source]}\n"
	    "    servers: [127.0.0.1:9000]\n");
	const struct lb_route *a = &cfg->routes[0], *b = &cfg->routes[1];

	ck_assert_uint_eq(a->n_hdr_remove, 2);
	ck_assert_str_eq(a->hdr_remove[0], "Host");
	ck_assert_str_eq(a->hdr_remove[1], "Cookie");
	ck_assert_uint_eq(a->n_param_remove, 1);
	ck_assert_str_eq(a->param_remove[0], "RemoveMe");
	ck_assert_uint_eq(b->n_hdr_remove, 2);
	ck_assert_str_eq(b->hdr_remove[0], "Host");
	ck_assert_str_eq(b->hdr_remove[1], "Cookie");
	ck_assert_uint_eq(b->n_param_remove, 2);
	ck_assert_str_eq(b->param_remove[1], "utm_source");
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_rewrite_implies_the_leading_slash)
{
	struct lb_cfg *cfg = load_ok(
	    "paths:\n"
	    "  - path: /api\n"
	    "    rewrite_rules:\n"
	    "      replace: {v1: v2, /old//x/: new/, /: /root}\n"
	    "    servers: [127.0.0.1:9000]\n");
	const struct lb_route *r = &cfg->routes[0];

	ck_assert_uint_eq(r->n_rewrite, 3);
	ck_assert_str_eq(r->rewrite[0].name, "/v1");
	ck_assert_str_eq(r->rewrite[0].value, "/v2");
	ck_assert_str_eq(r->rewrite[1].name, "/old/x");
	ck_assert_str_eq(r->rewrite[1].value, "/new");
	ck_assert_str_eq(r->rewrite[2].name, "/");
	ck_assert_str_eq(r->rewrite[2].value, "/root");
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_paths_are_stored_normalized)
{
	struct lb_cfg *cfg = load_ok(
	    "firewall_rules:\n"
	    "  path_reject: [/messages/, //a/./b, /%6Dessages, /x/../y]\n"
	    "paths:\n"
	    "  - path: /mango//\n"
	    "    strip_prefix: off\n"
	    "    servers: [127.0.0.1:9000]\n");
	const struct lb_firewall *fw = &cfg->firewall;

	ck_assert_uint_eq(fw->n_path_reject, 4);
	ck_assert_str_eq(fw->path_reject[0], "/messages");
	ck_assert_str_eq(fw->path_reject[1], "/a/b");
	ck_assert_str_eq(fw->path_reject[2], "/messages");
	ck_assert_str_eq(fw->path_reject[3], "/y");
	ck_assert_str_eq(cfg->routes[0].match, "/mango");
	ck_assert(!cfg->routes[0].strip_prefix);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_firewall_takes_addresses_and_cidr_blocks)
{
	struct lb_cfg *cfg = load_ok(
	    "firewall_rules:\n"
	    "  ip_reject: [192.0.2.7, 10.1.2.3/8, \"2001:db8::/32\", \"::1\"]\n" ROUTE);
	static const char *const want[] = {
		"192.0.2.7",
		"10.0.0.0/8",
		"2001:db8::/32",
		"::1",
	};
	char c[64];

	ck_assert_uint_eq(cfg->firewall.n_ip_reject, 4);
	for (size_t i = 0; i < 4; i++) {
		lb_cidr_format(&cfg->firewall.ip_reject[i], c, sizeof(c));
		ck_assert_str_eq(c, want[i]);
	}
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_wildcard_host_is_kept_lowercased)
{
	struct lb_cfg *cfg = load_ok("hosts:\n"
				     "  - host: \"*.Mango.COM\"\n"
				     "    servers: [127.0.0.1:9000]\n"
				     "  - host: WWW.Mango.com\n"
				     "    servers: [127.0.0.1:9001]\n");

	ck_assert_str_eq(cfg->routes[0].match, "*.mango.com");
	ck_assert_str_eq(cfg->routes[0].label, "*.mango.com");
	ck_assert_str_eq(cfg->routes[1].match, "www.mango.com");
	ck_assert_ptr_eq(lb_routes_match(cfg->table, "shop.mango.com", "/"),
	    &cfg->routes[0]);
	ck_assert_ptr_eq(lb_routes_match(cfg->table, "www.mango.com", "/"),
	    &cfg->routes[1]);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_hosts_come_before_paths_whatever_the_file_order)
{
	struct lb_cfg *cfg = load_ok(
	    "paths:\n"
	    "  - path: /p\n"
	    "    servers: [127.0.0.1:9000]\n"
	    "hosts:\n"
	    "  - host: h.example\n"
	    "    servers: [127.0.0.1:9001, 127.0.0.1:9002]\n"
	    "algorithm: ip_hash\n");

	ck_assert_uint_eq(cfg->n_host_routes, 1);
	ck_assert_str_eq(cfg->routes[0].match, "h.example");
	ck_assert_str_eq(cfg->routes[1].match, "/p");
	ck_assert_uint_eq(cfg->routes[1].id, 1);
	/* The global algorithm applies though it comes after the routes. */
	ck_assert_int_eq(cfg->routes[0].algorithm, LB_ALGO_IP_HASH);
	ck_assert_int_eq(cfg->routes[1].algorithm, LB_ALGO_IP_HASH);
	ck_assert_uint_eq(cfg->routes[0].servers[1].id, 1);
	ck_assert_uint_eq(cfg->routes[1].servers[0].id, 2);
	ck_assert_uint_eq(cfg->n_servers, 3);
	lb_cfg_free(cfg);
}
END_TEST

/* ------------------------------------------------------ health checks */

START_TEST(test_route_health_check_overrides_field_by_field)
{
	struct lb_cfg *cfg = load_ok(
	    "hosts:\n"
	    "  - host: a.example\n"
	    "    health_check: {interval: 500ms, fall: 5}\n"
	    "    servers: [127.0.0.1:9000]\n"
	    "health_check: {path: /up, interval: 5s, timeout: 2s, rise: 3}\n");
	const struct lb_health *h = &cfg->routes[0].health;

	ck_assert(cfg->health.enabled);
	ck_assert_str_eq(cfg->health.path, "/up");
	ck_assert_uint_eq(cfg->health.fall, 2);
	ck_assert(h->enabled);
	ck_assert_str_eq(h->path, "/up");
	ck_assert_uint_eq(h->interval_ms, 500);
	ck_assert_uint_eq(h->timeout_ms, 2000);
	ck_assert_uint_eq(h->rise, 3);
	ck_assert_uint_eq(h->fall, 5);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_health_check_off_globally_or_per_route)
{
	struct lb_cfg *cfg = load_ok("health_check: off\n"
				     "hosts:\n"
				     "  - host: inherits.example\n"
				     "    servers: [127.0.0.1:9000]\n"
				     "  - host: own.example\n"
				     "    health_check: {path: /ping}\n"
				     "    servers: [127.0.0.1:9000]\n"
				     "paths:\n"
				     "  - path: /off\n"
				     "    health_check: off\n"
				     "    servers: [127.0.0.1:9000]\n");

	ck_assert(!cfg->health.enabled);
	ck_assert(!cfg->routes[0].health.enabled);
	/* A map turns checks back on, from the global values. */
	ck_assert(cfg->routes[1].health.enabled);
	ck_assert_str_eq(cfg->routes[1].health.path, "/ping");
	ck_assert_uint_eq(cfg->routes[1].health.interval_ms, 2000);
	ck_assert(!cfg->routes[2].health.enabled);
	lb_cfg_free(cfg);
}
END_TEST

/* ------------------------------------------------------------ servers */

START_TEST(test_server_name_resolves_to_each_address)
{
	struct lb_cfg *cfg = load_ok(
	    "hosts:\n"
	    "  - host: a.example\n"
	    "    servers:\n"
	    "      - localhost:8081\n"
	    "      - {address: localhost:8082, weight: 3}\n"
	    "      - {address: \"[::1]:8083\", backup: true}\n");
	const struct lb_route *r = &cfg->routes[0];
	size_t		       n1 = count_named(r, "localhost:8081");

	ck_assert_uint_ge(n1, 1);
	ck_assert_uint_eq(count_named(r, "localhost:8082"), n1);
	ck_assert_uint_eq(r->n_servers, 2 * n1 + 1);
	for (size_t i = 0; i < n1; i++) {
		const struct lb_server *s = &r->servers[i];

		ck_assert_msg(strcmp(s->addrstr, "127.0.0.1:8081") == 0 ||
			strcmp(s->addrstr, "[::1]:8081") == 0,
		    "%s", s->addrstr);
		ck_assert_uint_eq(s->weight, 1);
		ck_assert_uint_eq(s->id, i);
		ck_assert_uint_eq(s->pos.line, 4);
		ck_assert_uint_eq(s->pos.col, 9);
		ck_assert_uint_eq(r->servers[n1 + i].weight, 3);
	}
	ck_assert_str_eq(r->servers[2 * n1].addrstr, "[::1]:8083");
	ck_assert(r->servers[2 * n1].backup);
	ck_assert_uint_eq(cfg->n_servers, r->n_servers);
	lb_cfg_free(cfg);
}
END_TEST

/* ------------------------------------------------------------- dump */

static const char rich[] =
    "listen: [\"127.0.0.1:8080\", \"[::1]:8081\"]\n"
    "workers: 3\n"
    "user: nobody\n"
    "group: nogroup\n"
    "pid_file: /run/lbmaster.pid\n"
    "error_log: /var/log/lbmaster/error.log\n"
    "log_level: debug\n"
    "access_log: /var/log/lbmaster/access.log\n"
    "shutdown_timeout: 1500ms\n"
    "admin: {listen: \"127.0.0.1:9090\"}\n"
    "timeouts: {connect: 250ms, backend: 2m, client: 10s, keepalive: 0}\n"
    "limits: {max_body_size: 1g, max_header_size: 8k, max_connections: 9,\n"
    "         max_response_header_size: 1m}\n"
    "algorithm: least_conn\n"
    "health_check: {path: /up, interval: 5s, timeout: 500ms, rise: 3}\n"
    "firewall_rules: {ip_reject: [192.0.2.0/24, \"2001:db8::/32\"],\n"
    "                 path_reject: [/admin]}\n"
    "hosts:\n"
    "  - host: \"*.Mango.com\"\n"
    "    algorithm: consistent_hash\n"
    "    health_check: off\n"
    "    header_rules:\n"
    "      add: {X-Quote: \"say \\\"hi\\\"\\tand \\\\ more\", X-Empty: \"\"}\n"
    "      remove: [Cookie]\n"
    "    param_rules: {add: {a: \"b c\"}, remove: {utm: x}}\n"
    "    rewrite_rules: {replace: {v1: v2, \"/old/\": /new}}\n"
    "    firewall_rules: {ip_reject: [10.0.0.1], path_reject: [/x/../p/]}\n"
    "    servers:\n"
    "      - localhost:8081\n"
    "      - {address: \"127.0.0.1:8082\", weight: 5}\n"
    "      - {address: \"[::1]:8083\", backup: true}\n"
    "paths:\n"
    "  - path: /api/\n"
    "    strip_prefix: no\n"
    "    health_check: {interval: 250ms}\n"
    "    servers: [127.0.0.1:9000, 127.0.0.1:9000]\n";

START_TEST(test_dump_round_trips_to_the_same_text)
{
	struct lb_cfg *cfg = load_ok(rich), *again;
	char	      *first, *second, err[LB_ERRLEN];

	first = dump(cfg);
	if (lb_cfg_load_string("dump.yaml", first, strlen(first), &again, err,
		sizeof(err)) == -1)
		ck_abort_msg("%s in\n%s", err, first);
	second = dump(again);
	ck_assert_str_eq(first, second);

	/* The reloaded config is the same config. */
	ck_assert_uint_eq(again->n_servers, cfg->n_servers);
	ck_assert_uint_eq(again->n_routes, cfg->n_routes);
	ck_assert_str_eq(again->routes[0].hdr_add[0].value,
	    "say \"hi\"\tand \\ more");
	ck_assert_uint_eq(again->routes[1].n_servers, 2);
	ck_assert_uint_eq(again->keepalive_timeout_ms, 0);
	ck_assert_uint_eq(again->routes[1].health.interval_ms, 250);
	ck_assert_uint_eq(again->routes[1].health.rise, 3);

	/* Defaults are spelled out; servers appear once per config node. */
	ck_assert_ptr_nonnull(strstr(first, "  connect: 250ms\n"));
	ck_assert_ptr_nonnull(strstr(first, "  backend: 120s\n"));
	ck_assert_ptr_nonnull(strstr(first, "  max_body_size: 1g\n"));
	ck_assert_ptr_nonnull(
	    strstr(first, "  max_response_header_size: 1m\n"));
	ck_assert_uint_eq(again->max_response_header_size, 1024 * 1024);
	ck_assert_ptr_nonnull(strstr(first, "shutdown_timeout: 1500ms\n"));
	ck_assert_ptr_nonnull(strstr(first, "    health_check: off\n"));
	ck_assert_ptr_nonnull(strstr(first, "        \"/v1\": \"/v2\"\n"));
	ck_assert_ptr_null(strstr(strstr(first, "\"localhost:8081\"") + 1,
	    "\"localhost:8081\""));
	lb_cfg_free(again);
	lb_cfg_free(cfg);
	free(first);
	free(second);
}
END_TEST

START_TEST(test_dump_of_the_course_file_round_trips)
{
	struct lb_cfg *cfg = NULL, *again = NULL;
	char	       file[4096], err[LB_ERRLEN], *first, *second;

	join(file, sizeof(file), fixtures_dir(), "loadbalancer.yaml");
	if (lb_cfg_load(file, &cfg, err, sizeof(err)) == -1)
		ck_abort_msg("%s", err);
	first = dump(cfg);
	ck_assert_ptr_nonnull(strstr(first, "  keepalive: 75s\n"));
	ck_assert_ptr_nonnull(strstr(first, "  max_header_size: 32k\n"));
	ck_assert_ptr_nonnull(
	    strstr(first, "  max_response_header_size: 64k\n"));
	ck_assert_ptr_nonnull(strstr(first, "access_log: off\n"));
	ck_assert_ptr_nonnull(strstr(first, "workers: auto\n"));
	if (lb_cfg_load_string("dump.yaml", first, strlen(first), &again, err,
		sizeof(err)) == -1)
		ck_abort_msg("%s in\n%s", err, first);
	second = dump(again);
	ck_assert_str_eq(first, second);
	lb_cfg_free(again);
	lb_cfg_free(cfg);
	free(first);
	free(second);
}
END_TEST

/* ------------------------------------------------ one test per error */

START_TEST(test_error_yaml_syntax_uses_libyaml_position)
{
	expect_error("hosts:\n  - host: [a, b\n",
	    "t.yaml:3:1: did not find expected ',' or ']' (while parsing a "
	    "flow sequence at line 2)");
}
END_TEST

START_TEST(test_error_unknown_key_suggests_the_closest)
{
	expect_error("listen: \"8080\"\nworkerz: 2\n",
	    "t.yaml:2:1: unknown key \"workerz\" (did you mean 'workers'?)");
	expect_error("colour: blue\n", "t.yaml:1:1: unknown key \"colour\"");
	expect_error("timeouts: {conect: 1s}\n",
	    "t.yaml:1:12: timeouts: "
	    "unknown key \"conect\" (did you mean 'connect'?)");
}
END_TEST

START_TEST(test_error_wrong_type_says_what_was_expected)
{
	expect_error("hosts:\n  host: a.example\n",
	    "t.yaml:2:3: hosts: expected a list, found a mapping");
	expect_error("timeouts: 5s\n",
	    "t.yaml:1:11: timeouts: expected a mapping, found \"5s\"");
	expect_error("user: [a, b]\n",
	    "t.yaml:1:7: user: expected a string, found a list");
}
END_TEST

START_TEST(test_error_port_out_of_range)
{
	expect_error("hosts:\n"
		     "  - host: www.mango.com\n"
		     "    servers:\n"
		     "      - localhost:8081\n"
		     "      - localhost:99999\n",
	    "t.yaml:5:9: servers[1]: port 99999 out of range (1-65535)");
	expect_error("paths:\n"
		     "  - path: /a\n"
		     "    servers: [{address: \"127.0.0.1:0\"}]\n",
	    "t.yaml:3:25: servers[0]: port 0 out of range (1-65535)");
}
END_TEST

START_TEST(test_error_empty_or_missing_servers)
{
	expect_error("hosts:\n  - host: a.example\n    servers: []\n",
	    "t.yaml:3:14: servers: empty list (give at least one server, such "
	    "as \"localhost:8081\")");
	expect_error("hosts:\n  - host: a.example\n",
	    "t.yaml:2:5: hosts[0]: missing 'servers'");
}
END_TEST

/* The page says routes are required: a file without one is refused. */
START_TEST(test_error_no_route_at_all)
{
	expect_error("# nothing but a comment\n",
	    "t.yaml:1:1: no routes (add a hosts or paths entry, such as "
	    "\"paths: [{path: /, servers: [127.0.0.1:8081]}]\")");
	expect_error("workers: 2\nhosts: []\n",
	    "t.yaml:2:8: hosts: no routes (add a hosts or paths entry, such "
	    "as \"paths: [{path: /, servers: [127.0.0.1:8081]}]\")");
	expect_error("paths: []\nhosts: []\n",
	    "t.yaml:1:8: paths: no routes (add a hosts or paths entry, such "
	    "as \"paths: [{path: /, servers: [127.0.0.1:8081]}]\")");
	lb_cfg_free(load_ok("hosts: []\n"
			    "paths: [{path: /, servers: [127.0.0.1:8081]}]\n"));
}
END_TEST

/*
 * "http://host:port" is taken for "host:port" (the scheme lbmaster speaks
 * to its servers), "https://host:port" too, reached over TLS; any other
 * scheme is refused as unknown, and the message is not about IPv6
 * brackets.
 */
START_TEST(test_server_with_http_scheme_is_stripped)
{
	struct lb_cfg *cfg = load_ok(
	    "paths:\n"
	    "  - path: /\n"
	    "    servers: [\"http://127.0.0.1:8081\", \"HTTP://127.0.0.1:8082/\",\n"
	    "              {address: \"http://127.0.0.1\", weight: 2}]\n");

	ck_assert_uint_eq(cfg->routes[0].n_servers, 3);
	ck_assert_str_eq(cfg->routes[0].servers[0].name, "127.0.0.1:8081");
	ck_assert_str_eq(cfg->routes[0].servers[0].addrstr, "127.0.0.1:8081");
	ck_assert_str_eq(cfg->routes[0].servers[1].name, "127.0.0.1:8082");
	ck_assert_str_eq(cfg->routes[0].servers[2].name, "127.0.0.1:80");
	ck_assert_uint_eq(cfg->routes[0].servers[2].weight, 2);
	lb_cfg_free(cfg);
	cfg = load_ok("paths:\n"
		      "  - path: /\n"
		      "    servers: [\"https://127.0.0.1:8443\", "
		      "\"HTTPS://127.0.0.1/\", 127.0.0.1:80]\n");
	ck_assert_str_eq(cfg->routes[0].servers[0].name, "127.0.0.1:8443");
	ck_assert(cfg->routes[0].servers[0].https);
	ck_assert_ptr_nonnull(cfg->routes[0].servers[0].tls);
	ck_assert_str_eq(cfg->routes[0].servers[1].name, "127.0.0.1:443");
	ck_assert_ptr_null(cfg->routes[0].servers[2].tls);
	ck_assert(cfg->routes[0].backend_tls->verify);
	ck_assert(!cfg->routes[0].backend_tls->written);
	lb_cfg_free(cfg);
	expect_error("paths:\n"
		     "  - path: /\n"
		     "    servers: [\"ftp://127.0.0.1:21\"]\n",
	    "t.yaml:3:15: servers[0]: \"ftp://127.0.0.1:21\": unknown scheme "
	    "(a server is host:port, http://host:port or https://host:port)");
	expect_error("paths:\n"
		     "  - path: /\n"
		     "    servers: [\"http://127.0.0.1:8081/api\"]\n",
	    "t.yaml:3:15: servers[0]: \"http://127.0.0.1:8081/api\": a "
	    "server has no path (use rewrite_rules to change the path)");
}
END_TEST

/*
 * access_log: syslog logs to syslog, as error_log: syslog does (not to a
 * file named "syslog"); error_log: off is refused, since lbmaster keeps
 * an error log, and so is nginx's "syslog:server=..." form.
 */
START_TEST(test_log_targets_syslog_and_off)
{
	struct lb_cfg *cfg = load_ok(
	    "access_log: syslog\n"
	    "error_log: syslog\n"
	    "paths: [{path: /, servers: [127.0.0.1:1]}]\n");

	ck_assert_str_eq(cfg->access_log, "syslog");
	ck_assert_str_eq(cfg->error_log, "syslog");
	lb_cfg_free(cfg);
	expect_error("error_log: off\n",
	    "t.yaml:1:12: error_log: cannot be off (lbmaster always keeps an "
	    "error log): write stderr, syslog or a file, /dev/null to discard "
	    "it, or raise log_level");
	expect_error("access_log: \"syslog:server=10.0.0.1\"\n",
	    "t.yaml:1:13: access_log: \"syslog:server=10.0.0.1\": only the "
	    "local syslog is supported: write syslog");
	expect_error("error_log: \"syslog:server=10.0.0.1\"\n",
	    "t.yaml:1:12: error_log: \"syslog:server=10.0.0.1\": only the "
	    "local syslog is supported: write syslog");
}
END_TEST

/* What the page says the value syntax is, the loader takes. */
START_TEST(test_booleans_are_yaml_words_in_any_case)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "YES",
		"On" };
	static const char *const no[] = { "false", "no", "off", "False", "NO",
		"Off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		char	       yaml[160];
		struct lb_cfg *cfg;

		snprintf(yaml, sizeof(yaml),
		    "paths: [{path: /a, strip_prefix: %s, servers: "
		    "[127.0.0.1:1]}]\n",
		    no[i]);
		cfg = load_ok(yaml);
		ck_assert(!cfg->routes[0].strip_prefix);
		lb_cfg_free(cfg);
		snprintf(yaml, sizeof(yaml),
		    "paths: [{path: /a, strip_prefix: %s, servers: "
		    "[127.0.0.1:1]}]\n",
		    yes[i]);
		cfg = load_ok(yaml);
		ck_assert(cfg->routes[0].strip_prefix);
		lb_cfg_free(cfg);
	}
}
END_TEST

START_TEST(test_error_duplicate_host_points_at_the_second)
{
	expect_error("hosts:\n"
		     "  - host: a.example\n"
		     "    servers: [127.0.0.1:9000]\n"
		     "  - host: A.Example\n"
		     "    servers: [127.0.0.1:9001]\n",
	    "t.yaml:4:11: duplicate host 'a.example' (first at line 2)");
}
END_TEST

START_TEST(test_error_duplicate_path_points_at_the_second)
{
	expect_error("paths:\n"
		     "  - path: /mango\n"
		     "    servers: [127.0.0.1:9000]\n"
		     "  - path: /x/../mango/\n"
		     "    servers: [127.0.0.1:9001]\n",
	    "t.yaml:4:11: duplicate path '/mango' (first at line 2)");
}
END_TEST

START_TEST(test_error_bad_duration)
{
	expect_error("health_check:\n  interval: 2 s\n",
	    "t.yaml:2:13: health_check.interval: bad duration \"2 s\" (use a "
	    "number and ms, s, m or h, as in 250ms, 5s, 2m)");
}
END_TEST

START_TEST(test_error_bad_size)
{
	expect_error("limits:\n  max_body_size: 1.5m\n",
	    "t.yaml:2:18: limits.max_body_size: bad size \"1.5m\" (use a number "
	    "of bytes, optionally with k, m or g, as in 512, 16k, 10m)");
}
END_TEST

START_TEST(test_error_bad_address_or_cidr)
{
	expect_error("listen: [\"127.0.0.1:80\", \"localhost:81\"]\n",
	    "t.yaml:1:26: listen[1]: listen address must be a numeric IP "
	    "address: \"localhost:81\"");
	expect_error("firewall_rules:\n  ip_reject: [192.0.2.1/40]\n",
	    "t.yaml:2:15: firewall_rules.ip_reject[0]: prefix length 40 out "
	    "of range (0-32) in \"192.0.2.1/40\"");
	expect_error("firewall_rules:\n  ip_reject: [192.0.2.300]\n",
	    "t.yaml:2:15: firewall_rules.ip_reject[0]: invalid IP address in "
	    "\"192.0.2.300\"");
	expect_error("listen: [\"127.0.0.1:80\", \"127.0.0.1:80\"]\n",
	    "t.yaml:1:26: listen[1]: duplicate listen address "
	    "\"127.0.0.1:80\"");
	expect_error("admin: {listen: \"127.0.0.1:80\"}\n"
		     "listen: \"127.0.0.1:80\"\n",
	    "t.yaml:1:17: admin.listen: address already used by listen");
}
END_TEST

START_TEST(test_error_unknown_algorithm_lists_the_valid_ones)
{
	expect_error("algorithm: fastest\n",
	    "t.yaml:1:12: algorithm: unknown algorithm \"fastest\" (valid: "
	    "round_robin, least_conn, random, two_choices, ip_hash, "
	    "consistent_hash)");
	expect_error("algorithm: leastconn\n",
	    "t.yaml:1:12: algorithm: unknown algorithm \"leastconn\", did you "
	    "mean 'least_conn'? (valid: round_robin, least_conn, random, "
	    "two_choices, ip_hash, consistent_hash)");
}
END_TEST

START_TEST(test_error_weight_out_of_range)
{
	expect_error("paths:\n"
		     "  - path: /a\n"
		     "    servers:\n"
		     "      - {address: 127.0.0.1:9000, weight: 0}\n",
	    "t.yaml:4:43: servers[0].weight: 0 out of range (1-1000)");
}
END_TEST

START_TEST(test_error_backup_without_a_primary)
{
	expect_error("paths:\n"
		     "  - path: /a\n"
		     "    servers:\n"
		     "      - {address: 127.0.0.1:9000, backup: true}\n",
	    "t.yaml:4:7: servers: every server is a backup (a pool needs at "
	    "least one without 'backup: true')");
}
END_TEST

#define ROUTE_A "paths: [{path: /, servers: [127.0.0.1:9000]}]\n"

/* A config text of the test's own, static (a test is one process). */
static const char *
lbt_cfg_fmt(const char *fmt, const char *arg)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), fmt, arg);
	return buf;
}

START_TEST(test_followed_names_get_their_slots_and_load_again)
{
	struct lb_cfg	      *cfg;
	const struct lb_route *r;
	char		      *text = NULL;
	size_t		       len = 0;
	FILE		      *fp;

	cfg = load_ok(
	    "resolver: {nameservers: [127.0.0.1, \"::1\", "
	    "\"127.0.0.1:5353\"], valid: 10s}\n"
	    "admin: {listen: 127.0.0.1:9090, token: "
	    "0123456789abcdef}\n"
	    "paths:\n"
	    "  - path: /a\n"
	    "    servers:\n"
	    "      - 127.0.0.1:9000\n"
	    "      - {address: Api.Internal:8080, resolve: true, "
	    "max_addresses: 3, weight: 2}\n"
	    "      - {service: _http._tcp.api.consul, backup: true}\n");
	ck_assert_uint_eq(cfg->n_nameservers, 3);
	ck_assert_str_eq(cfg->nameservers[0], "127.0.0.1:53");
	ck_assert_str_eq(cfg->nameservers[1], "[::1]:53");
	ck_assert_str_eq(cfg->nameservers[2], "127.0.0.1:5353");
	ck_assert_uint_eq(cfg->resolver_valid_ms, 10000);
	ck_assert_str_eq(cfg->admin_token, "0123456789abcdef");
	ck_assert_uint_eq(cfg->n_followed, 2);
	r = &cfg->routes[0];
	/* One fixed server, 3 slots, then the default 32. */
	ck_assert_uint_eq(r->n_servers, 1 + 3 + LB_MAX_ADDRESSES);
	ck_assert_uint_eq(cfg->n_servers, r->n_servers);
	ck_assert_int_eq(r->servers[1].follow, LB_FOLLOW_A);
	ck_assert_uint_eq(r->servers[3].slot, 2);
	ck_assert_uint_eq(r->servers[3].weight, 2);
	ck_assert_uint_eq(r->servers[3].addrlen, 0);
	ck_assert_int_eq(r->servers[4].follow, LB_FOLLOW_SRV);
	ck_assert_str_eq(r->servers[4].name, "_http._tcp.api.consul");
	ck_assert(r->servers[4].backup);
	/* -T names each followed name once, and loads again the same. */
	fp = open_memstream(&text, &len);
	ck_assert_int_eq(lb_cfg_dump(cfg, fp), 0);
	fclose(fp);
	ck_assert_msg(strstr(text,
			  "      - address: \"Api.Internal:8080\"\n"
			  "        weight: 2\n"
			  "        backup: false\n"
			  "        resolve: true\n"
			  "        max_addresses: 3\n"
			  "      - service: \"_http._tcp.api.consul\"\n"
			  "        backup: true\n"
			  "        max_addresses: 32\n") != NULL,
	    "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "  token: \"0123456789abcdef\"\n"));
	ck_assert_ptr_nonnull(strstr(text, "  valid: 10s\n"));
	lb_cfg_free(cfg);
	cfg = load_ok(text);
	ck_assert_uint_eq(cfg->n_servers, 1 + 3 + LB_MAX_ADDRESSES);
	lb_cfg_free(cfg);
	free(text);
}
END_TEST

START_TEST(test_error_followed_names_and_the_drain_token)
{
	static const struct {
		const char *yaml, *err;
	} c[] = {
		{ "{address: a.test:80, resolve: true, max_addresses: 1025}",
		    "t.yaml:1:80: servers[0].max_addresses: 1025 out of range "
		    "(1-1024)" },
		{ "{address: 1.2.3.4:80, resolve: true}",
		    "t.yaml:1:39: servers[0]: resolve: true needs a host name "
		    "to follow, not \"1.2.3.4\" (remove 'resolve' for a fixed "
		    "address)" },
		{ "{service: _x._tcp.a.test, weight: 2}",
		    "t.yaml:1:63: servers[0]: a service's weights are its SRV "
		    "records' (remove 'weight')" },
		{ "{weight: 2}",
		    "t.yaml:1:29: servers[0]: missing 'address' (or 'service' "
		    "for SRV records, as in \"service: "
		    "_http._tcp.api.service.consul\")" },
		{ "{address: a.test:80, service: _x._tcp.a.test}",
		    "t.yaml:1:59: servers[0]: 'address' and 'service' together "
		    "(a server is one or the other)" },
		{ "{address: a.test:80, max_addresses: 3}",
		    "t.yaml:1:65: servers[0]: max_addresses without a followed "
		    "name (add \"resolve: true\", or use 'service')" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		expect_error(lbt_cfg_fmt("paths: [{path: /, servers: [%s]}]\n",
				 c[i].yaml),
		    c[i].err);
	expect_error("resolver: {valid: 500ms}\n" ROUTE_A,
	    "t.yaml:1:19: resolver.valid: duration 500ms too short (at "
	    "least 1s)");
	expect_error("resolver: {nameservers: [ns.example]}\n" ROUTE_A,
	    "t.yaml:1:26: resolver.nameservers[0]: \"ns.example\" is not an "
	    "IP address with an optional port (as in \"127.0.0.1:53\")");
	expect_error("admin: {listen: 127.0.0.1:9090, token: short}\n" ROUTE_A,
	    "t.yaml:1:40: admin.token: a token of 5 characters (use 16 to "
	    "256, such as the output of \"openssl rand -hex 16\")");
	expect_error("admin: {token: 0123456789abcdef01}\n" ROUTE_A,
	    "t.yaml:1:16: admin.token: no admin endpoint to serve it (add "
	    "admin.listen, as in \"listen: 127.0.0.1:9090\")");
}
END_TEST

START_TEST(test_error_header_name_must_be_a_token)
{
	expect_error("hosts:\n"
		     "  - host: a.example\n"
		     "    header_rules: {remove: [\"X:Y\"]}\n"
		     "    servers: [127.0.0.1:9000]\n",
	    "t.yaml:3:29: header_rules.remove[0]: \"X:Y\" is not a valid "
	    "header name (letters, digits and !#$%&'*+-.^_`|~ only)");
	expect_error("hosts:\n"
		     "  - host: a.example\n"
		     "    header_rules: {add: {Content-Length: \"0\"}}\n"
		     "    servers: [127.0.0.1:9000]\n",
	    "t.yaml:3:26: header_rules.add: cannot set 'Content-Length': "
	    "lbmaster manages it");
}
END_TEST

/*
 * Framing and connection headers are lbmaster's alone, added or removed;
 * its X-Forwarded-* and Host may be replaced or removed.
 */
START_TEST(test_header_rules_refuse_framing_but_take_forwarded)
{
	struct lb_cfg *cfg;

	expect_error("hosts:\n"
		     "  - host: a.example\n"
		     "    header_rules:\n"
		     "      remove: [X-A, connection]\n"
		     "    servers: [127.0.0.1:9000]\n",
	    "t.yaml:4:21: header_rules.remove[1]: cannot remove "
	    "'connection': lbmaster manages it");
	expect_error("hosts:\n"
		     "  - host: a.example\n"
		     "    header_rules: {remove: {Transfer-Encoding: x}}\n"
		     "    servers: [127.0.0.1:9000]\n",
	    "t.yaml:3:29: header_rules.remove: cannot remove "
	    "'Transfer-Encoding': lbmaster manages it");
	expect_error("hosts:\n"
		     "  - host: a.example\n"
		     "    header_rules: {add: {Expect: 100-continue}}\n"
		     "    servers: [127.0.0.1:9000]\n",
	    "t.yaml:3:26: header_rules.add: cannot set 'Expect': "
	    "lbmaster manages it");
	cfg = load_ok(
	    "hosts:\n"
	    "  - host: a.example\n"
	    "    header_rules:\n"
	    "      add: {X-Forwarded-Proto: https}\n"
	    "      remove: [X-Forwarded-For, X-Forwarded-Host, Host]\n"
	    "    servers: [127.0.0.1:9000]\n");
	ck_assert_uint_eq(cfg->routes[0].n_hdr_add, 1);
	ck_assert_uint_eq(cfg->routes[0].n_hdr_remove, 3);
	lb_cfg_free(cfg);
}
END_TEST

START_TEST(test_error_header_value_with_crlf_is_refused)
{
	expect_error(
	    "hosts:\n"
	    "  - host: a.example\n"
	    "    header_rules: {add: {X-A: \"1\\r\\nX-Injected: 2\"}}\n"
	    "    servers: [127.0.0.1:9000]\n",
	    "t.yaml:3:31: header_rules.add: value of 'X-A' contains a control "
	    "character (CR and LF would inject a line)");
}
END_TEST

START_TEST(test_error_param_value_with_control_is_refused)
{
	expect_error("paths:\n"
		     "  - path: /a\n"
		     "    param_rules: {add: {p: \"a\\x01b\"}}\n"
		     "    servers: [127.0.0.1:9000]\n",
	    "t.yaml:3:28: param_rules.add: value of 'p' contains a control "
	    "character (CR and LF would inject a line)");
	expect_error("user: \"a\\0b\"\n",
	    "t.yaml:1:7: user: contains a NUL "
	    "byte");
}
END_TEST

START_TEST(test_error_workers_out_of_range)
{
	expect_error("workers: 0\n",
	    "t.yaml:1:10: workers: 0 out of range (1-1024, or auto)");
	expect_error("workers: many\n",
	    "t.yaml:1:10: workers: expected a number or auto, found \"many\"");
}
END_TEST

START_TEST(test_error_bad_log_level)
{
	expect_error("log_level: warning\n",
	    "t.yaml:1:12: log_level: unknown log_level \"warning\" (valid: "
	    "debug, info, notice, warn, error)");
}
END_TEST

START_TEST(test_error_bad_host_and_path)
{
	expect_error("hosts:\n  - host: www.mango.com:80\n    servers: []\n",
	    "t.yaml:2:11: host: invalid host name \"www.mango.com:80\" (use "
	    "letters, digits, '-' and '.', optionally after \"*.\", as in "
	    "\"*.mango.com\")");
	expect_error("paths:\n  - path: mango\n",
	    "t.yaml:2:11: path: \"mango\" must start with '/' "
	    "(as in \"/mango\")");
}
END_TEST

START_TEST(test_error_second_document_is_refused)
{
	expect_error("workers: 1\n---\nworkers: 2\n",
	    "t.yaml:2:1: a second YAML document (a config file holds one)");
}
END_TEST

START_TEST(test_error_missing_file_names_it)
{
	struct lb_cfg *cfg = NULL;
	char	       err[LB_ERRLEN];

	ck_assert_int_eq(lb_cfg_load("/nonexistent/lb.yaml", &cfg, err,
			     sizeof(err)),
	    -1);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err,
	    "/nonexistent/lb.yaml: No such file or "
	    "directory");
}
END_TEST

/* --------------------------------------------- tests/fixtures/bad/ */

/*
 * Each broken file starts with "# expect: LINE:COL: SUBSTRING": loading
 * it must fail with "FILE:LINE:COL: ..." containing SUBSTRING. The same
 * files check `lbmaster -t` from the command line.
 */
START_TEST(test_every_bad_fixture_fails_where_it_says)
{
	char	       dir[4096], file[4096 + 256], line[512], prefix[4600];
	char	       err[LB_ERRLEN], *pos, *sub;
	struct dirent *de;
	struct lb_cfg *cfg;
	size_t	       n = 0;
	DIR	      *d;
	FILE	      *fp;

	join(dir, sizeof(dir), fixtures_dir(), "bad");
	ck_assert_msg((d = opendir(dir)) != NULL, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		join(file, sizeof(file), dir, de->d_name);
		ck_assert_ptr_nonnull(fp = fopen(file, "r"));
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
		fclose(fp);
		line[strcspn(line, "\n")] = '\0';
		ck_assert_msg(strncmp(line, "# expect: ", 10) == 0,
		    "%s: no '# expect:' line", file);
		pos = line + 10;
		/* "LINE:COL: substring" */
		sub = strchr(pos, ':');
		ck_assert_ptr_nonnull(sub);
		sub = strchr(sub + 1, ':');
		ck_assert_msg(sub != NULL && sub[1] == ' ',
		    "%s: bad expect "
		    "line",
		    file);
		*sub = '\0';
		sub += 2;

		cfg = NULL;
		ck_assert_msg(lb_cfg_load(file, &cfg, err, sizeof(err)) == -1,
		    "%s loaded", file);
		ck_assert_ptr_null(cfg);
		ck_assert_int_lt(snprintf(prefix, sizeof(prefix),
				     "%s:%s: ", file, pos),
		    (int)sizeof(prefix));
		ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		    "%s: got \"%s\", want \"%s...\"", de->d_name, err, prefix);
		ck_assert_msg(strstr(err + strlen(prefix), sub) != NULL,
		    "%s: got \"%s\", want \"%s\"", de->d_name, err, sub);
		n++;
	}
	closedir(d);
	ck_assert_uint_ge(n, 18);
}
END_TEST

/* ---------------------------------------------------------- lb_cfg_diff */

static void
collect(const char *line, void *arg)
{
	struct lb_buf *b = arg;

	lb_buf_printf(b, "%s\n", line);
}

/* The lines lb_cfg_diff says from OLD to NEW, each ending in "\n". */
static char *
diff(const char *old, const char *new)
{
	struct lb_cfg *a = load_ok(old), *b = load_ok(new);
	struct lb_buf  out;

	lb_buf_init(&out);
	ck_assert_int_eq(lb_cfg_diff(a, b, collect, &out), 0);
	lb_cfg_free(a);
	lb_cfg_free(b);
	ck_assert(!lb_buf_failed(&out));
	return lb_buf_take(&out);
}

#define DIFF_BASE                                         \
	"timeouts: {connect: 3s}\n"                       \
	"hosts:\n"                                        \
	"  - host: www.mango.com\n"                       \
	"    servers: [127.0.0.1:8081, 127.0.0.1:8082]\n" \
	"  - host: www.orange.com\n"                      \
	"    servers: [127.0.0.1:1111]\n"

/* Each kind of line: +, -, ~, and "no changes". */
START_TEST(test_diff_says_what_a_reload_changes)
{
	char *d;

	d = diff(DIFF_BASE, DIFF_BASE);
	ck_assert_str_eq(d, "no changes\n");
	free(d);

	d = diff(DIFF_BASE,
	    "timeouts: {connect: 1s}\n"
	    "hosts:\n"
	    "  - host: www.mango.com\n"
	    "    algorithm: least_conn\n"
	    "    servers: [127.0.0.1:8081, {address: 127.0.0.1:8083, "
	    "weight: 3}]\n"
	    "  - host: api.mango.com\n"
	    "    servers: [127.0.0.1:9000]\n"
	    "paths:\n"
	    "  - path: /apple\n"
	    "    servers: [127.0.0.1:9001]\n");
	ck_assert_msg(strstr(d, "- host www.orange.com\n") != NULL, "%s", d);
	ck_assert_msg(strstr(d,
			  "- server 127.0.0.1:8082 from www.mango.com\n") !=
		NULL,
	    "%s", d);
	ck_assert_msg(strstr(d, "+ server 127.0.0.1:8083 to www.mango.com\n") !=
		NULL,
	    "%s", d);
	ck_assert_msg(strstr(d, "+ host api.mango.com\n") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "+ path /apple\n") != NULL, "%s", d);
	ck_assert_msg(strstr(d,
			  "~ www.mango.com algorithm round_robin -> "
			  "least_conn\n") != NULL,
	    "%s", d);
	ck_assert_msg(strstr(d, "~ timeouts.connect 3s -> 1s\n") != NULL, "%s",
	    d);
	/* A removed route's servers go with it; an added one's come. */
	ck_assert_ptr_null(strstr(d, "127.0.0.1:1111"));
	ck_assert_ptr_null(strstr(d, "127.0.0.1:9000"));
	ck_assert_ptr_null(strstr(d, "no changes"));
	free(d);

	/* A server's own keys, and rules given as user names. */
	d = diff(DIFF_BASE,
	    "timeouts: {connect: 3s}\n"
	    "hosts:\n"
	    "  - host: www.mango.com\n"
	    "    header_rules: {add: {X-A: a}}\n"
	    "    servers: [{address: 127.0.0.1:8081, weight: 2}, "
	    "127.0.0.1:8082]\n"
	    "  - host: www.orange.com\n"
	    "    servers: [127.0.0.1:1111]\n");
	ck_assert_msg(strstr(d,
			  "~ www.mango.com server 127.0.0.1:8081 weight 1 -> "
			  "2\n") != NULL,
	    "%s", d);
	ck_assert_msg(
	    strstr(d, "~ www.mango.com header_rules.add {} -> {X-A: a}\n") !=
		NULL,
	    "%s", d);
	free(d);
}
END_TEST

/* What a reload says of the keys of SPEC section 10. */
START_TEST(test_diff_says_what_changes_at_the_edge)
{
	char *d;

	d = diff("listen: [127.0.0.1:8000]\n" ROUTE,
	    "listen: [{address: \"127.0.0.1:8000\", proxy_protocol: true}]\n"
	    "trusted_proxies: [10.0.0.0/8]\n"
	    "rate_limit: {rate: 10/s}\n"
	    "request_id: off\n"
	    "paths: [{path: /r, sticky: {cookie: s}, servers: "
	    "[127.0.0.1:9000]}]\n");
	ck_assert_msg(strstr(d, "proxy_protocol") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "trusted_proxies") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "rate_limit") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "~ request_id X-Request-ID -> off\n") != NULL,
	    "%s", d);
	ck_assert_msg(strstr(d, "sticky") != NULL, "%s", d);
	free(d);
}
END_TEST

START_TEST(test_diff_names_a_new_token_without_saying_it)
{
	char *d;

	d = diff("admin: {listen: 127.0.0.1:9090, token: first-token-0123456}\n"
		 "paths: [{path: /, servers: [127.0.0.1:9000]}]\n",
	    "admin: {listen: 127.0.0.1:9090, token: other-token-0123456}\n"
	    "paths: [{path: /, servers: [127.0.0.1:9000, {service: "
	    "_http._tcp.a.test}]}]\n");
	ck_assert_msg(strstr(d, "~ admin.token (secret ") != NULL, "%s", d);
	ck_assert_ptr_null(strstr(d, "token-0123456"));
	ck_assert_msg(strstr(d, "+ server _http._tcp.a.test to /\n") != NULL,
	    "%s", d);
	free(d);
}
END_TEST

static Suite *
cfg_suite(void)
{
	Suite *s = suite_create("cfg");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_test(tc, test_course_file_loads_unchanged);
	tcase_add_test(tc, test_one_route_gives_every_default);
	tcase_add_test(tc, test_a_route_gets_the_defaults_too);
	tcase_add_test(tc, test_top_level_settings_are_read);
	tcase_add_test(tc, test_listen_takes_a_single_string);
	tcase_add_test(tc, test_listen_map_form_with_tls_is_read);
	tcase_add_test(tc,
	    test_backend_tls_applies_to_every_server_of_its_route);
	tcase_add_test(tc, test_tls_listener_dump_round_trips);
	tcase_add_test(tc,
	    test_tls_listener_mistakes_are_refused_where_they_are);
	tcase_add_test(tc, test_workers_auto_counts_the_cpus_it_may_use);
	tcase_add_test(tc, test_cpu_affinity_auto_lists_and_off);
	tcase_add_loop_test(tc, test_durations_take_ms_s_m_h_and_bare_seconds,
	    0, sizeof(durations) / sizeof(durations[0]));
	tcase_add_loop_test(tc, test_durations_refuse_other_forms, 0,
	    sizeof(bad_durations) / sizeof(bad_durations[0]));
	tcase_add_loop_test(tc, test_sizes_take_binary_multiples, 0,
	    sizeof(sizes) / sizeof(sizes[0]));
	tcase_add_test(tc,
	    test_zero_duration_is_refused_where_it_makes_no_sense);
	tcase_add_test(tc, test_remove_takes_a_map_or_a_list);
	tcase_add_test(tc, test_rewrite_implies_the_leading_slash);
	tcase_add_test(tc, test_paths_are_stored_normalized);
	tcase_add_test(tc, test_firewall_takes_addresses_and_cidr_blocks);
	tcase_add_test(tc, test_wildcard_host_is_kept_lowercased);
	tcase_add_test(tc,
	    test_hosts_come_before_paths_whatever_the_file_order);
	tcase_add_test(tc, test_route_health_check_overrides_field_by_field);
	tcase_add_test(tc, test_health_check_off_globally_or_per_route);
	tcase_add_test(tc, test_server_name_resolves_to_each_address);
	suite_add_tcase(s, tc);

	tc = tcase_create("dump");
	tcase_add_test(tc, test_dump_round_trips_to_the_same_text);
	tcase_add_test(tc, test_dump_of_the_course_file_round_trips);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_error_yaml_syntax_uses_libyaml_position);
	tcase_add_test(tc, test_error_unknown_key_suggests_the_closest);
	tcase_add_test(tc, test_error_wrong_type_says_what_was_expected);
	tcase_add_test(tc, test_error_port_out_of_range);
	tcase_add_test(tc, test_error_empty_or_missing_servers);
	tcase_add_test(tc, test_error_no_route_at_all);
	tcase_add_test(tc, test_server_with_http_scheme_is_stripped);
	tcase_add_test(tc, test_log_targets_syslog_and_off);
	tcase_add_test(tc, test_booleans_are_yaml_words_in_any_case);
	tcase_add_test(tc, test_error_duplicate_host_points_at_the_second);
	tcase_add_test(tc, test_error_duplicate_path_points_at_the_second);
	tcase_add_test(tc, test_error_bad_duration);
	tcase_add_test(tc, test_error_bad_size);
	tcase_add_test(tc, test_error_bad_address_or_cidr);
	tcase_add_test(tc, test_error_unknown_algorithm_lists_the_valid_ones);
	tcase_add_test(tc, test_error_weight_out_of_range);
	tcase_add_test(tc, test_error_backup_without_a_primary);
	tcase_add_test(tc, test_followed_names_get_their_slots_and_load_again);
	tcase_add_test(tc, test_error_followed_names_and_the_drain_token);
	tcase_add_test(tc, test_error_header_name_must_be_a_token);
	tcase_add_test(tc, test_header_rules_refuse_framing_but_take_forwarded);
	tcase_add_test(tc, test_error_header_value_with_crlf_is_refused);
	tcase_add_test(tc, test_error_param_value_with_control_is_refused);
	tcase_add_test(tc, test_error_workers_out_of_range);
	tcase_add_test(tc, test_error_cpu_affinity);
	tcase_add_test(tc, test_error_bad_log_level);
	tcase_add_test(tc, test_error_bad_host_and_path);
	tcase_add_test(tc, test_error_second_document_is_refused);
	tcase_add_test(tc, test_error_missing_file_names_it);
	tcase_add_test(tc, test_every_bad_fixture_fails_where_it_says);
	tcase_add_test(tc, test_diff_says_what_a_reload_changes);
	tcase_add_test(tc, test_diff_names_a_new_token_without_saying_it);
	tcase_add_test(tc,
	    test_rate_limit_is_the_default_of_routes_that_set_none);
	tcase_add_test(tc, test_error_rate_limit_says_what_it_takes);
	tcase_add_test(tc,
	    test_request_id_is_on_by_default_and_names_its_header);
	tcase_add_test(tc, test_error_request_id_must_be_a_header_of_its_own);
	tcase_add_test(tc, test_listen_takes_a_map_with_proxy_protocol);
	tcase_add_test(tc, test_error_listen_map_and_trusted_proxies);
	tcase_add_test(tc, test_sticky_takes_a_cookie_name_or_off);
	tcase_add_test(tc, test_diff_says_what_changes_at_the_edge);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cfg_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

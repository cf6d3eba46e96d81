/*
 * tests/it_admin.c -- the admin endpoint seen from outside (SPEC section
 * 6): /metrics in strict Prometheus text format 0.0.4, counters that count
 * exactly and survive reloads, /status with the same numbers as JSON,
 * /healthz.
 */
#include <sys/types.h>

#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

#define MAX_SERIES 512

/* ---------------------------------------------------------- helpers */

/* GET (or METHOD) PATH on the admin port; the response, or fail. */
static void
admin_req(unsigned admin, const char *method, const char *path,
    struct lbt_resp *r)
{
	ck_assert_msg(lbt_httpf(admin, r,
			  "%s %s HTTP/1.1\r\nHost: admin\r\n"
			  "Connection: close\r\n\r\n",
			  method, path) == 0,
	    "%s %s: %s", method, path, lbt_err_str(r->err));
}

/* The /metrics page, harness-owned. */
static const char *
scrape(unsigned admin)
{
	struct lbt_resp r;
	const char     *body;

	admin_req(admin, "GET", "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_header(&r, "Content-Type"),
	    "text/plain; version=0.0.4; charset=utf-8");
	body = lbt_fmt("%s", r.body);
	lbt_resp_free(&r);
	return body;
}

/* The /status document, harness-owned. */
static const char *
status_json(unsigned admin)
{
	struct lbt_resp r;
	const char     *body;

	admin_req(admin, "GET", "/status", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(lbt_header(&r, "Content-Type"), "application/json");
	body = lbt_fmt("%s", r.body);
	lbt_resp_free(&r);
	return body;
}

/* The value of the sample SERIES ("name{labels}", exactly), or -1. */
static double
value_of(const char *page, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = page; l != NULL && *l != '\0';) {
		if (strncmp(l, series, n) == 0 && l[n] == ' ')
			return strtod(l + n + 1, NULL);
		l = strchr(l, '\n');
		l = l != NULL ? l + 1 : NULL;
	}
	return -1;
}

/* The sum of every sample of NAME whose labels contain LABEL (or all). */
static double
sum_of(const char *page, const char *name, const char *label)
{
	size_t n = strlen(name);
	double sum = 0;

	for (const char *l = page; l != NULL && *l != '\0';) {
		const char *end = strchr(l, '\n'), *sp;

		if (strncmp(l, name, n) == 0 && (l[n] == '{' || l[n] == ' ')) {
			sp = strrchr(lbt_fmt("%.*s", (int)(end - l), l), ' ');
			if (label == NULL ||
			    (strstr(lbt_fmt("%.*s", (int)(end - l), l),
				 label) != NULL))
				sum += strtod(sp + 1, NULL);
		}
		l = end != NULL ? end + 1 : NULL;
	}
	return sum;
}

/* Split PAGE into its samples: series text and value. Returns how many. */
static size_t
samples(const char *page, const char **series, double *values, size_t max)
{
	size_t n = 0;

	for (const char *l = page; l != NULL && *l != '\0';) {
		const char *end = strchr(l, '\n');
		const char *line = lbt_fmt("%.*s", (int)(end - l), l);
		const char *sp = strrchr(line, ' ');

		if (line[0] != '#' && sp != NULL && n < max) {
			series[n] = lbt_fmt("%.*s", (int)(sp - line), line);
			values[n++] = strtod(sp + 1, NULL);
		}
		l = end != NULL ? end + 1 : NULL;
	}
	return n;
}

static const char *
series_label(const char *route, const char *server, const char *address)
{
	return lbt_fmt("{route=\"%s\",server=\"%s\",address=\"%s\"}", route,
	    server, address);
}

/* --------------------------------------------- the strict format check */

#define NAME   "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LNAME  "[a-zA-Z_][a-zA-Z0-9_]*"
#define LVALUE "\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
#define LABEL  LNAME "=" LVALUE
#define VALUE  "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|[+-]Inf|NaN)"

static const char help_re[] = "^# HELP (" NAME ") ([^\\\\]|\\\\[\\\\n])*$";
static const char type_re[] = "^# TYPE (" NAME
			      ") (counter|gauge|histogram|summary|untyped)$";
static const char sample_re[] = "^(" NAME ")(\\{" LABEL "(," LABEL
				")*\\})? " VALUE "$";

struct family {
	char *name;
	char *type; /* NULL until its TYPE line */
};

static void
re_compile(regex_t *re, const char *pattern)
{
	int  rc = regcomp(re, pattern, REG_EXTENDED);
	char msg[256];

	if (rc != 0) {
		regerror(rc, re, msg, sizeof(msg));
		ck_abort_msg("regex %s: %s", pattern, msg);
	}
}

static char *
group(const char *line, const regmatch_t *m)
{
	return lbt_fmt("%.*s", (int)(m->rm_eo - m->rm_so), line + m->rm_so);
}

/*
 * The label names of a sample's LABELS ("{...}", already matched by the
 * regex), each at most once; *LE gets le's value. NULL, or what is wrong.
 */
static const char *
labels_error(const char *labels, const char **le)
{
	const char *names[16];
	size_t	    n = 0;

	*le = NULL;
	for (const char *p = labels + 1; *p != '}';) {
		const char *eq = strchr(p, '='), *v = eq + 2, *q = v;
		char	   *name = lbt_fmt("%.*s", (int)(eq - p), p);

		while (*q != '"')
			q += *q == '\\' ? 2 : 1;
		for (size_t i = 0; i < n; i++)
			if (strcmp(names[i], name) == 0)
				return lbt_fmt("label %s twice", name);
		if (n == 16)
			return "too many labels";
		names[n++] = name;
		if (strcmp(name, "le") == 0)
			*le = lbt_fmt("%.*s", (int)(q - v), v);
		p = q[1] == ',' ? q + 2 : q + 1;
	}
	return NULL;
}

/*
 * Check every line of PAGE: a HELP, then a TYPE, then the samples of
 * each family together; label values escaped; no series twice;
 * histograms cumulative, ending in +Inf and agreeing with their _count.
 * NULL when it passes, else what is wrong and where.
 */
static const char *
format_error(const char *page)
{
	regex_t	       hre, tre, sre;
	regmatch_t     m[8];
	struct family  fam[64];
	size_t	       nfam = 0, nseries = 0;
	const char    *seen[MAX_SERIES], *err = NULL, *at = NULL;
	struct family *cur = NULL;
	double	       last_le = -1, last_bucket = -1, inf_bucket = -1;

	if (page[0] == '\0' || page[strlen(page) - 1] != '\n')
		return "the page does not end with a newline";
	re_compile(&hre, help_re);
	re_compile(&tre, type_re);
	re_compile(&sre, sample_re);
	for (const char *l = page; *l != '\0' && err == NULL;) {
		const char *end = strchr(l, '\n'), *le = NULL;
		char	   *line = lbt_fmt("%.*s", (int)(end - l), l);
		char	   *name, *series;
		double	    v;

		l = end + 1;
		at = line;
		if (regexec(&hre, line, 8, m, 0) == 0 ||
		    regexec(&tre, line, 8, m, 0) == 0) {
			bool	       is_help = line[2] == 'H';
			struct family *f = NULL;

			name = group(line, &m[1]);
			for (size_t i = 0; i < nfam; i++)
				if (strcmp(fam[i].name, name) == 0)
					f = &fam[i];
			if (f == NULL && is_help && nfam < 64) {
				f = cur = &fam[nfam++];
				f->name = name;
				f->type = NULL;
				last_le = last_bucket = inf_bucket = -1;
			} else if (f == NULL || f != cur || is_help ||
			    f->type != NULL) {
				err = "HELP or TYPE missing, repeated or late";
			} else {
				f->type = group(line, &m[2]);
			}
			continue;
		}
		if (regexec(&sre, line, 8, m, 0) != 0) {
			err = "not a HELP, TYPE or sample line";
			continue;
		}
		name = group(line, &m[1]);
		series = lbt_fmt("%.*s", (int)(strrchr(line, ' ') - line),
		    line);
		v = strtod(strrchr(line, ' ') + 1, NULL);
		for (size_t i = 0; i < nseries && err == NULL; i++)
			if (strcmp(seen[i], series) == 0)
				err = "series twice";
		if (err == NULL && nseries == MAX_SERIES)
			err = "too many series";
		if (err != NULL)
			continue;
		seen[nseries++] = series;
		if (m[2].rm_so != -1 &&
		    (err = labels_error(group(line, &m[2]), &le)) != NULL)
			continue;
		if (cur == NULL || cur->type == NULL) {
			err = "sample without HELP and TYPE";
		} else if (strcmp(cur->type, "histogram") == 0) {
			size_t n = strlen(cur->name);

			if (strncmp(name, cur->name, n) != 0) {
				err = "sample of another family";
			} else if (strcmp(name + n, "_bucket") == 0) {
				double b = le == NULL	    ? 0 :
				    strcmp(le, "+Inf") == 0 ? -2 :
							      strtod(le, NULL);

				if (le == NULL)
					err = "bucket without le";
				else if (inf_bucket >= 0)
					err = "bucket after +Inf";
				else if (b != -2 && b <= last_le)
					err = "le not increasing";
				else if (v < last_bucket)
					err = "buckets not cumulative";
				last_le = b;
				last_bucket = v;
				if (b == -2)
					inf_bucket = v;
			} else if (strcmp(name + n, "_count") == 0) {
				if (inf_bucket != v)
					err = "_count is not the +Inf bucket";
			} else if (strcmp(name + n, "_sum") != 0) {
				err = "sample of another family";
			}
		} else if (strcmp(name, cur->name) != 0) {
			err = "sample of another family";
		} else if (strcmp(cur->type, "counter") == 0 && v < 0) {
			err = "negative counter";
		}
	}
	regfree(&hre);
	regfree(&tre);
	regfree(&sre);
	return err != NULL ? lbt_fmt("%s: \"%s\"", err, at) : NULL;
}

static void
check_format(const char *page)
{
	const char *err = format_error(page);

	ck_assert_msg(err == NULL, "%.1000s", err);
}

/* The format check itself must fail on what is not the format. */
START_TEST(test_format_check_rejects_bad_pages)
{
	static const char *const bad[] = {
		"# HELP a_total x\n# TYPE a_total counter\na_total{l=\"x\"} 1",
		"# HELP a_total x\n# TYPE a_total counter\n"
		"a_total{l=\"a\"b\"} 1\n",
		"# HELP a_total x\n# TYPE a_total counter\n"
		"a_total{l=\"a\\b\"} 1\n",
		"# HELP a_total x\n# TYPE a_total counter\na_total{l=x} 1\n",
		"# HELP a_total x\n# TYPE a_total counter\na_total 1 2 3\n",
		"# HELP a_total x\n# TYPE a_total counter\na_total 1x\n",
		"# HELP a_total x\n# TYPE a_total counter\nb_total 1\n",
		"# HELP a_total x\n# TYPE a_total counter\n\na_total 1\n",
		"# HELP a_total x\\y\n# TYPE a_total counter\na_total 1\n",
		"# HELP a_total x\n# TYPE a_total countr\na_total 1\n",
		"a_total 1\n",
		"# HELP a_total x\n# TYPE a_total counter\n"
		"a_total 1\na_total 2\n",
		"# HELP a_total x\n# TYPE a_total counter\n"
		"a_total{l=\"1\",l=\"2\"} 1\n",
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
		"h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\n"
		"h_sum 0\nh_count 3\n",
		"# HELP a x\n# TYPE a gauge\na 1\n# HELP a y\n",
		"# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na 1\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(format_error(bad[i]) != NULL, "passed: %s",
		    bad[i]);
	check_format("# HELP a_total x \\\\ \\n\n# TYPE a_total counter\n"
		     "a_total{l=\"q\\\"b\\\\s\\n\",m=\"\"} 1\n"
		     "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\n"
		     "h_bucket{le=\"+Inf\"} 2\nh_sum 0.75\nh_count 2\n");
}
END_TEST

/* -------------------------------------------------------- JSON check */

static const char *json_value(const char *p, int depth);

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (strchr("0123456789abcdefABCDEF", p[i]) ==
					NULL ||
				    p[i] == '\0')
					return NULL;
			p += 4;
		} else if (*p == '\0' || strchr("\"\\/bfnrt", *p) == NULL) {
			return NULL;
		}
	}
	return p + 1;
}

static const char *
json_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		if (*++p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

/* One JSON value at P (after white space); the end of it, or NULL. */
static const char *
json_value(const char *p, int depth)
{
	char close;

	p = json_ws(p);
	if (depth > 32)
		return NULL;
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	if (*p != '{' && *p != '[')
		return json_number(p);
	close = *p == '{' ? '}' : ']';
	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			if ((p = json_string(json_ws(p))) == NULL)
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if ((p = json_value(p, depth + 1)) == NULL)
			return NULL;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static bool
json_valid(const char *doc)
{
	const char *end = json_value(doc, 0);

	return end != NULL && *json_ws(end) == '\0';
}

/* The elements of the JSON array ARR as texts; how many. */
static size_t
json_elements(const char *arr, const char **out, size_t max)
{
	const char *p = json_ws(arr), *end;
	size_t	    n = 0;

	ck_assert_msg(*p == '[', "not an array: %.40s", arr);
	p = json_ws(p + 1);
	if (*p == ']')
		return 0;
	for (;;) {
		p = json_ws(p);
		end = json_value(p, 0);
		ck_assert_ptr_nonnull(end);
		ck_assert_uint_lt(n, max);
		out[n++] = lbt_fmt("%.*s", (int)(end - p), p);
		p = json_ws(end);
		if (*p == ']')
			return n;
		ck_assert_int_eq(*p, ',');
		p++;
	}
}

START_TEST(test_json_check_rejects_bad_documents)
{
	static const char *const bad[] = {
		"",
		"{",
		"{\"a\": 1,}",
		"{\"a\" 1}",
		"[1 2]",
		"{\"a\": 01}",
		"{\"a\": \"\x01\"}",
		"{\"a\": tru}",
		"{\"a\": \"\\x\"}",
		"{} {}",
		"{\"a\": 1.}",
		"{a: 1}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!json_valid(bad[i]), "valid: %s", bad[i]);
	ck_assert(json_valid(" {\"a\": [1, -2.5e3, \"x\\u00e9\\n\", true, "
			     "null, {}], \"b\": {\"c\": false}}\n"));
}
END_TEST

/* ------------------------------------------------------------ set-up */

struct lbm {
	pid_t	    pid;
	unsigned    port; /* proxy */
	unsigned    admin;
	unsigned    a, b; /* origins */
	unsigned    dead; /* a port nobody serves */
	pid_t	    pa, pb;
	const char *yaml; /* the config file */
};

/*
 * Config: www.fruit.com on origins a and b, the path '/we"ird' on a and
 * a dead port, with checks every 200 ms. EXTRA is more YAML at the end.
 */
static const char *
config(const struct lbm *t, unsigned workers, const char *extra)
{
	return lbt_fmt(
	    "listen: 127.0.0.1:%u\n"
	    "admin: {listen: 127.0.0.1:%u}\n"
	    "workers: %u\n"
	    "health_check: {interval: 200ms, timeout: 150ms, rise: 1, "
	    "fall: 1}\n"
	    "hosts:\n"
	    "  - host: www.fruit.com\n"
	    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n"
	    "paths:\n"
	    "  - path: '/we\"ird'\n"
	    "    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n"
	    "%s",
	    t->port, t->admin, workers, t->a, t->b, t->a, t->dead,
	    extra != NULL ? extra : "");
}

static void
start(struct lbm *t, unsigned workers)
{
	memset(t, 0, sizeof(*t));
	t->port = lbt_free_port();
	t->admin = lbt_free_port();
	t->dead = lbt_free_port();
	t->pa = lbt_origin_start("apple", &t->a, NULL);
	t->pb = lbt_origin_start("banana", &t->b, NULL);
	t->pid = lbt_lbmaster_start(config(t, workers, NULL), t->port);
	t->yaml = lbt_path("lbmaster.yaml");
	lbt_wait_port(t->pid, "127.0.0.1", t->admin, LBT_START_MS);
}

static void
stop(struct lbm *t)
{
	ck_assert_int_eq(lbt_stop(t->pid), 0);
	lbt_stop(t->pa);
	lbt_stop(t->pb);
}

/* Send N requests for HOST and PATH; each must get STATUS. */
static void
send_n(const struct lbm *t, int n, const char *host, const char *path,
    int status)
{
	for (int i = 0; i < n; i++) {
		struct lbt_resp r;

		ck_assert_int_eq(lbt_httpf(t->port, &r,
				     "GET %s HTTP/1.1\r\n"
				     "Host: %s\r\nConnection: close\r\n\r\n",
				     path, host),
		    0);
		ck_assert_int_eq(r.status, status);
		lbt_resp_free(&r);
	}
}

struct until {
	const struct lbm *t;
	const char	 *series;
	double		  value;
	int		  stable; /* scrapes in a row to agree */
	int		  seen;
};

static bool
reads(void *arg)
{
	struct until *u = arg;

	if (value_of(scrape(u->t->admin), u->series) == u->value)
		u->seen++;
	else
		u->seen = 0;
	return u->seen >= u->stable;
}

/* Wait until SERIES reads VALUE on STABLE scrapes in a row. */
static void
wait_metric(const struct lbm *t, const char *series, double value, int stable,
    int timeout_ms)
{
	struct until u = { t, series, value, stable, 0 };

	ck_assert_msg(lbt_wait_for(reads, &u, timeout_ms), "%s never read %g",
	    series, value);
}

/* ------------------------------------------------------------- tests */

START_TEST(test_metrics_pass_a_strict_format_check)
{
	struct lbm		 t;
	const char		*page;
	static const char *const families[] = {
		"lbmaster_requests_total{",
		"lbmaster_backend_up{",
		"lbmaster_backend_active_connections{",
		"lbmaster_backend_requests_total{",
		"lbmaster_backend_failures_total{",
		"lbmaster_request_duration_seconds_bucket{le=\"+Inf\"} ",
		"lbmaster_request_duration_seconds_sum ",
		"lbmaster_request_duration_seconds_count ",
		"lbmaster_workers ",
		"lbmaster_tunnels_active 0\n",
		"lbmaster_config_reloads_total{result=\"success\"} ",
		"lbmaster_config_reloads_total{result=\"failure\"} ",
		"lbmaster_config_generation ",
	};

	start(&t, 3);
	send_n(&t, 5, "www.fruit.com", "/", 200);
	send_n(&t, 2, "elsewhere.com", "/x", 404);
	send_n(&t, 4, "elsewhere.com", "/we\"ird/x", 200);
	page = scrape(t.admin);
	check_format(page);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		ck_assert_msg(strstr(page, families[i]) != NULL, "no %s",
		    families[i]);
	/* The label escapes the quote of the route's path. */
	ck_assert_msg(strstr(page,
			  "lbmaster_requests_total{route="
			  "\"/we\\\"ird\",code=\"2xx\"} 4\n") != NULL,
	    "no 4 requests for route=\"/we\\\"ird\"");
	ck_assert_double_eq(value_of(page, "lbmaster_workers"), 3);
	ck_assert_double_eq(value_of(page, "lbmaster_config_generation"), 1);
	stop(&t);
}
END_TEST

START_TEST(test_requests_total_rises_by_exactly_the_requests_sent)
{
	struct lbm  t;
	const char *p0, *p1;

	start(&t, 2);
	send_n(&t, 3, "www.fruit.com", "/", 200);
	p0 = scrape(t.admin);
	send_n(&t, 7, "www.fruit.com", "/", 200);
	send_n(&t, 2, "elsewhere.com", "/x", 404);
	p1 = scrape(t.admin);

	/* Scrapes and health probes are not requests. */
	ck_assert_double_eq(sum_of(p1, "lbmaster_requests_total", NULL) -
		sum_of(p0, "lbmaster_requests_total", NULL),
	    9);
	ck_assert_double_eq(value_of(p1,
				"lbmaster_requests_total{route="
				"\"www.fruit.com\",code=\"2xx\"}"),
	    10);
	/* Requests no route took count under route="". */
	ck_assert_double_eq(value_of(p1,
				"lbmaster_requests_total{route=\"\","
				"code=\"4xx\"}") -
		value_of(p0,
		    "lbmaster_requests_total{route="
		    "\"\",code=\"4xx\"}"),
	    2);
	ck_assert_double_eq(sum_of(p1, "lbmaster_backend_requests_total",
				"route=\"www.fruit.com\"") -
		sum_of(p0, "lbmaster_backend_requests_total",
		    "route=\"www.fruit.com\""),
	    7);
	ck_assert_double_eq(value_of(p1,
				"lbmaster_request_duration_seconds_count") -
		value_of(p0, "lbmaster_request_duration_seconds_count"),
	    9);
	/* Every request is over: nothing in flight. */
	ck_assert_double_eq(sum_of(p1, "lbmaster_backend_active_connections",
				NULL),
	    0);
	stop(&t);
}
END_TEST

/* ------------------------------------------- every answer, counted */

struct own_case {
	const char *what;
	const char *raw; /* the request, as sent */
	int	    status;
	const char *logged; /* "METHOD TARGET" in its access-log line */
	const char *route;  /* the route it counts under */
	size_t	    bytes;  /* body bytes the client got */
};

/*
 * Every answer lbmaster makes itself, one of each kind: the reader's 400
 * and 431 (refused before the head was whole), 413, 417, 501, the
 * firewall's 403, 404, 502, 503, 504, 408, and a client that left before
 * its answer (499). Each is one access-log line with its status, method
 * and the body bytes the client got, and one count of
 * lbmaster_requests_total under the route its Host names ("" for none).
 */
START_TEST(test_every_answer_of_our_own_is_counted_and_logged)
{
	static char	big[1200];
	struct own_case cases[] = {
		{ "a malformed head",
		    "GET /a HTTP/1.1\r\nHost: www.fruit.com\r\nX-Name : v\r\n\r\n",
		    400, "GET -", "www.fruit.com", 12 },
		{ "a head over max_header_size", NULL, 431, "GET -",
		    "www.fruit.com", 32 },
		{ "a body over max_body_size",
		    "POST /c HTTP/1.1\r\nHost: www.fruit.com\r\n"
		    "Content-Length: 100\r\n\r\n",
		    413, "POST /c", "www.fruit.com", 18 },
		{ "an unknown expectation",
		    "GET /e HTTP/1.1\r\nHost: www.fruit.com\r\n"
		    "Expect: 200-ok\r\n\r\n",
		    417, "GET /e", "www.fruit.com", 19 },
		{ "CONNECT",
		    "CONNECT www.fruit.com:443 HTTP/1.1\r\n"
		    "Host: www.fruit.com\r\n\r\n",
		    501, "CONNECT www.fruit.com:443", "www.fruit.com", 16 },
		{ "userinfo in an absolute-form target",
		    "GET http://u@www.fruit.com/ HTTP/1.1\r\n"
		    "Host: www.fruit.com\r\nConnection: close\r\n\r\n",
		    400, "GET http://u@www.fruit.com/", "www.fruit.com", 12 },
		{ "the firewall",
		    "GET /secret HTTP/1.1\r\nHost: www.fruit.com\r\n"
		    "Connection: close\r\n\r\n",
		    403, "GET /secret", "www.fruit.com", 10 },
		{ "the firewall, HEAD",
		    "HEAD /secret HTTP/1.1\r\nHost: www.fruit.com\r\n"
		    "Connection: close\r\n\r\n",
		    403, "HEAD /secret", "www.fruit.com", 0 },
		{ "no route",
		    "GET /x HTTP/1.1\r\nHost: nowhere.example\r\n"
		    "Connection: close\r\n\r\n",
		    404, "GET /x", "", 10 },
		{ "a backend that sends garbage",
		    "GET /g HTTP/1.1\r\nHost: garbage.example\r\n"
		    "Connection: close\r\n\r\n",
		    502, "GET /g", "garbage.example", 12 },
		{ "no backend",
		    "GET /d HTTP/1.1\r\nHost: dead.example\r\n"
		    "Connection: close\r\n\r\n",
		    503, "GET /d", "dead.example", 30 },
		{ "a silent backend",
		    "GET /s HTTP/1.1\r\nHost: www.fruit.com\r\n"
		    "X-Test-Delay: 3000\r\nConnection: close\r\n\r\n",
		    504, "GET /s", "www.fruit.com", 16 },
		{ "a head not whole within timeouts.client",
		    "GET /t HTTP/1.1\r\nHost: www.fruit.com\r\n", 408, "GET -",
		    "www.fruit.com", 16 },
	};
	size_t		n = sizeof(cases) / sizeof(cases[0]);
	struct lbm	t;
	const char     *access = lbt_path("access.log"), *p0, *p1, *log;
	unsigned	g = 0;
	pid_t		pg;
	struct lbt_resp r;

	memset(big, 'x', sizeof(big) - 1);
	cases[1].raw = lbt_fmt("GET /b HTTP/1.1\r\nHost: www.fruit.com\r\n"
			       "X-Big: %s\r\n\r\n",
	    big);
	memset(&t, 0, sizeof(t));
	t.port = lbt_free_port();
	t.admin = lbt_free_port();
	t.dead = lbt_free_port();
	t.pa = lbt_origin_start("apple", &t.a, NULL);
	pg = lbt_origin_start("garbage", &g,
	    (const char *const[]){ "--mode", "garbage", NULL });
	t.pid = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\nadmin: {listen: 127.0.0.1:%u}\n"
		    "workers: 1\nhealth_check: off\naccess_log: %s\n"
		    "timeouts: {backend: 500ms, client: 1s}\n"
		    "limits: {max_body_size: 10, max_header_size: 1k}\n"
		    "firewall_rules: {path_reject: [/secret]}\n"
		    "hosts:\n"
		    "  - host: www.fruit.com\n    servers: [127.0.0.1:%u]\n"
		    "  - host: garbage.example\n    servers: [127.0.0.1:%u]\n"
		    "  - host: dead.example\n    servers: [127.0.0.1:%u]\n",
		t.port, t.admin, access, t.a, g, t.dead),
	    t.port);
	lbt_wait_port(t.pid, "127.0.0.1", t.admin, LBT_START_MS);

	/* Every series is there from the first scrape, "other" too. */
	p0 = scrape(t.admin);
	ck_assert_double_eq(value_of(p0,
				"lbmaster_requests_total{route="
				"\"www.fruit.com\",code=\"other\"}"),
	    0);
	ck_assert_double_eq(value_of(p0,
				"lbmaster_requests_total{route=\"\","
				"code=\"other\"}"),
	    0);

	for (size_t i = 0; i < n; i++) {
		struct own_case *oc = &cases[i];

		ck_assert_msg(lbt_http_ex(NULL, t.port, oc->raw,
				  strlen(oc->raw),
				  strncmp(oc->raw, "HEAD", 4) == 0 ? LBT_HEAD :
								     0,
				  5000, &r) == 0,
		    "%s: %s", oc->what, lbt_err_str(r.err));
		ck_assert_msg(r.status == oc->status, "%s: status %d", oc->what,
		    r.status);
		ck_assert_msg(r.body_len ==
			(oc->status == 403 && strncmp(oc->raw, "HEAD", 4) == 0 ?
				0 :
				oc->bytes),
		    "%s: %zu body bytes", oc->what, r.body_len);
		lbt_resp_free(&r);
		/* The line is written before the answer's last byte. */
		ck_assert_msg(mp_wait_file(access,
				  lbt_fmt("\"%s HTTP/1.1\" %d %zu ", oc->logged,
				      oc->status, oc->bytes),
				  2000),
		    "%s: no line \"%s HTTP/1.1\" %d %zu in\n%s", oc->what,
		    oc->logged, oc->status, oc->bytes,
		    lbt_read_file(access, NULL));
	}

	/* A client that leaves before its answer: 499, a 4xx. */
	{
		static const char slow[] = "GET /gone HTTP/1.1\r\n"
					   "Host: www.fruit.com\r\n"
					   "X-Test-Delay: 300\r\n\r\n";
		struct linger	  lg = { 1, 0 };
		struct lbt_conn	 *c;

		ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, t.port));
		ck_assert_int_eq(lbt_conn_send(c, slow, sizeof(slow) - 1), 0);
		/* With the origin: the 504's request was its first. */
		for (int w = 0; w < 300 && lbt_origin_stat(t.a, "requests") < 2;
		     w++)
			lbt_pause_ms(10);
		ck_assert_int_eq(lbt_origin_stat(t.a, "requests"), 2);
		setsockopt(lbt_conn_fd(c), SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg));
		lbt_conn_close(c);
		ck_assert_msg(mp_wait_file(access,
				  "\"GET /gone HTTP/1.1\" 499 0 ", 3000),
		    "no 499 in\n%s", lbt_read_file(access, NULL));
	}

	/* One line per answer, and one count: no more, no less. */
	log = lbt_read_file(access, NULL);
	ck_assert_uint_eq(mp_count(access, "HTTP/1.1\" "), n + 1);
	p1 = scrape(t.admin);
	ck_assert_double_eq(sum_of(p1, "lbmaster_requests_total", NULL) -
		sum_of(p0, "lbmaster_requests_total", NULL),
	    (double)(n + 1));
	for (size_t i = 0; i <= n; i++) {
		const char *route = i < n ? cases[i].route : "www.fruit.com";
		int	    status = i < n ? cases[i].status : 499;
		double	    want = 0;

		for (size_t j = 0; j <= n; j++)
			if (strcmp(j < n ? cases[j].route : "www.fruit.com",
				route) == 0 &&
			    (j < n ? cases[j].status : 499) / 100 ==
				status / 100)
				want++;
		ck_assert_msg(value_of(p1,
				  lbt_fmt("lbmaster_requests_total{route="
					  "\"%s\",code=\"%dxx\"}",
				      route, status / 100)) == want,
		    "route \"%s\", %dxx: %g, want %g; log:\n%s", route,
		    status / 100,
		    value_of(p1,
			lbt_fmt("lbmaster_requests_total{route=\"%s\","
				"code=\"%dxx\"}",
			    route, status / 100)),
		    want, log);
	}
	ck_assert_double_eq(value_of(p1,
				"lbmaster_requests_total{route="
				"\"www.fruit.com\",code=\"2xx\"}"),
	    0);
	ck_assert_int_eq(lbt_stop(t.pid), 0);
	lbt_stop(t.pa);
	lbt_stop(pg);
}
END_TEST

START_TEST(test_backend_up_reads_zero_for_a_dead_server)
{
	struct lbm  t;
	const char *addr, *page;

	start(&t, 2);
	addr = lbt_fmt("127.0.0.1:%u", t.dead);
	/* fall: 1, interval: 200ms. */
	wait_metric(&t,
	    lbt_fmt("lbmaster_backend_up%s",
		series_label("/we\\\"ird", addr, addr)),
	    0, 1, 3000);
	page = scrape(t.admin);
	addr = lbt_fmt("127.0.0.1:%u", t.a);
	ck_assert_double_eq(value_of(page,
				lbt_fmt("lbmaster_backend_up%s",
				    series_label("/we\\\"ird", addr, addr))),
	    1);
	ck_assert_double_eq(value_of(page,
				lbt_fmt("lbmaster_backend_up%s",
				    series_label("www.fruit.com", addr, addr))),
	    1);
	stop(&t);
}
END_TEST

START_TEST(test_reloads_are_counted_and_counters_survive_them)
{
	struct lbm  t;
	const char *p0, *p1, *p2, *s0[MAX_SERIES], *s1[MAX_SERIES];
	double	    v0[MAX_SERIES], v1[MAX_SERIES];
	size_t	    n0, n1, compared = 0;

	start(&t, 2);
	send_n(&t, 6, "www.fruit.com", "/", 200);
	send_n(&t, 2, "elsewhere.com", "/x", 404);
	p0 = scrape(t.admin);
	ck_assert_double_eq(value_of(p0,
				"lbmaster_config_reloads_total{"
				"result=\"success\"}"),
	    0);
	ck_assert_double_eq(value_of(p0,
				"lbmaster_config_reloads_total{"
				"result=\"failure\"}"),
	    0);

	/* A good config, with one more route. */
	lbt_write_file(t.yaml,
	    config(&t, 2, "  - path: /more\n    servers: [127.0.0.1:1]\n"));
	lbt_signal(t.pid, SIGHUP);
	/* Until the old generation's workers no longer answer. */
	wait_metric(&t, "lbmaster_config_reloads_total{result=\"success\"}", 1,
	    5, 10000);
	p1 = scrape(t.admin);
	check_format(p1);
	ck_assert_double_eq(value_of(p1, "lbmaster_config_generation"), 2);
	ck_assert_ptr_nonnull(strstr(p1, "route=\"/more\""));

	/*
	 * No counter went backwards; with no traffic, none but the reload
	 * count moved.
	 */
	n0 = samples(p0, s0, v0, MAX_SERIES);
	n1 = samples(p1, s1, v1, MAX_SERIES);
	for (size_t i = 0; i < n0; i++) {
		const char *name = s0[i];

		if (strstr(name, "_total") == NULL &&
		    strstr(name, "_seconds_") == NULL)
			continue;
		for (size_t j = 0; j < n1; j++) {
			if (strcmp(s1[j], name) != 0)
				continue;
			ck_assert_msg(v1[j] >= v0[i], "%s: %g, then %g", name,
			    v0[i], v1[j]);
			if (strstr(name, "config_reloads") == NULL)
				ck_assert_msg(v1[j] == v0[i], "%s: %g, then %g",
				    name, v0[i], v1[j]);
			compared++;
		}
	}
	ck_assert_uint_gt(compared, 20);
	ck_assert_double_eq(sum_of(p1, "lbmaster_requests_total", NULL), 8);

	/* A broken one: counted, and nothing else changes. */
	lbt_write_file(t.yaml, "hosts: [\n");
	lbt_signal(t.pid, SIGHUP);
	wait_metric(&t, "lbmaster_config_reloads_total{result=\"failure\"}", 1,
	    1, 10000);
	p2 = scrape(t.admin);
	ck_assert_double_eq(value_of(p2,
				"lbmaster_config_reloads_total{"
				"result=\"success\"}"),
	    1);
	ck_assert_double_eq(value_of(p2, "lbmaster_config_generation"), 2);
	ck_assert_double_eq(sum_of(p2, "lbmaster_requests_total", NULL), 8);
	send_n(&t, 1, "www.fruit.com", "/", 200);
	ck_assert_double_eq(sum_of(scrape(t.admin), "lbmaster_requests_total",
				NULL),
	    9);
	stop(&t);
}
END_TEST

START_TEST(test_status_is_json_with_the_same_numbers)
{
	struct lbm  t;
	const char *page, *doc, *routes[8], *servers[8];
	size_t	    nr, ns;
	double	    total = 0;

	start(&t, 2);
	send_n(&t, 5, "www.fruit.com", "/", 200);
	send_n(&t, 3, "elsewhere.com", "/we\"ird", 200);
	send_n(&t, 1, "elsewhere.com", "/x", 404);
	/* Let the checker find the dead server (fall: 1). */
	{
		const char *dead = lbt_fmt("127.0.0.1:%u", t.dead);

		wait_metric(&t,
		    lbt_fmt("lbmaster_backend_up%s",
			series_label("/we\\\"ird", dead, dead)),
		    0, 1, 3000);
	}
	page = scrape(t.admin);
	doc = status_json(t.admin);
	ck_assert_msg(json_valid(doc), "not JSON:\n%.1500s", doc);

	ck_assert_int_eq(lbt_json_int(doc, "generation"),
	    (long long)value_of(page, "lbmaster_config_generation"));
	ck_assert_int_eq(lbt_json_int(doc, "workers"), 2);
	ck_assert_int_eq(lbt_json_int(doc, "reloads.success"), 0);
	ck_assert_int_eq(lbt_json_int(doc, "reloads.failure"), 0);
	ck_assert_int_eq(lbt_json_int(doc, "requests.total"), 9);
	ck_assert_int_eq(lbt_json_int(doc, "requests.total"),
	    (long long)sum_of(page, "lbmaster_requests_total", NULL));
	ck_assert_int_eq(lbt_json_int(doc, "unrouted.requests.4xx"), 1);
	ck_assert_int_eq(lbt_json_int(doc, "request_duration_seconds.count"),
	    (long long)value_of(page,
		"lbmaster_request_duration_seconds_count"));

	nr = json_elements(lbt_json_raw(doc, "routes"), routes, 8);
	ck_assert_uint_eq(nr, 2);
	for (size_t i = 0; i < nr; i++) {
		const char *label = lbt_json_str(routes[i], "route");
		const char *esc = strcmp(label, "www.fruit.com") == 0 ?
		    label :
		    "/we\\\"ird";

		ck_assert_int_eq(lbt_json_int(routes[i], "requests.total"),
		    (long long)sum_of(page, "lbmaster_requests_total",
			lbt_fmt("route=\"%s\"", esc)));
		total += (double)lbt_json_int(routes[i], "requests.total");
		ns = json_elements(lbt_json_raw(routes[i], "servers"), servers,
		    8);
		ck_assert_uint_eq(ns, 2);
		for (size_t j = 0; j < ns; j++) {
			const char *lab = series_label(esc,
			    lbt_json_str(servers[j], "server"),
			    lbt_json_str(servers[j], "address"));

			ck_assert_int_eq(lbt_json_int(servers[j], "requests"),
			    (long long)value_of(page,
				lbt_fmt("lbmaster_backend_requests_total%s",
				    lab)));
			ck_assert_int_eq(lbt_json_int(servers[j], "failures"),
			    (long long)value_of(page,
				lbt_fmt("lbmaster_backend_failures_total%s",
				    lab)));
			ck_assert_int_eq(lbt_json_int(servers[j],
					     "active_connections"),
			    (long long)value_of(page,
				lbt_fmt("lbmaster_backend_active_connections%s",
				    lab)));
			ck_assert_str_eq(lbt_json_raw(servers[j], "up"),
			    value_of(page,
				lbt_fmt("lbmaster_backend_up%s", lab)) == 1 ?
				"true" :
				"false");
		}
	}
	ck_assert_double_eq(total +
		(double)lbt_json_int(doc, "unrouted.requests.total"),
	    9);
	ck_assert_str_eq(lbt_json_str(routes[1], "route"), "/we\"ird");
	stop(&t);
}
END_TEST

START_TEST(test_healthz_and_other_requests)
{
	struct lbm	t;
	struct lbt_resp r;
	const char     *before;

	start(&t, 2);
	before = scrape(t.admin);

	admin_req(t.admin, "GET", "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "OK\n");
	lbt_resp_free(&r);

	admin_req(t.admin, "GET", "/nope", &r);
	ck_assert_int_eq(r.status, 404);
	lbt_resp_free(&r);
	admin_req(t.admin, "GET", "/metrics/x", &r);
	ck_assert_int_eq(r.status, 404);
	lbt_resp_free(&r);

	admin_req(t.admin, "POST", "/metrics", &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(lbt_header(&r, "Allow"), "GET, HEAD");
	lbt_resp_free(&r);
	admin_req(t.admin, "DELETE", "/status", &r);
	ck_assert_int_eq(r.status, 405);
	lbt_resp_free(&r);

	ck_assert_int_eq(lbt_httpf(t.admin, &r,
			     "HEAD /metrics HTTP/1.1\r\n"
			     "Host: admin\r\nConnection: close\r\n\r\n"),
	    0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_int_gt(atoi(lbt_header(&r, "Content-Length")), 100);
	lbt_resp_free(&r);

	/* A query string does not matter. */
	admin_req(t.admin, "GET", "/metrics?x=1", &r);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);

	/* None of that was proxied traffic. */
	ck_assert_double_eq(sum_of(scrape(t.admin), "lbmaster_requests_total",
				NULL),
	    sum_of(before, "lbmaster_requests_total", NULL));
	stop(&t);
}
END_TEST

START_TEST(test_admin_is_not_served_on_the_proxy_port)
{
	struct lbm	t;
	struct lbt_resp r;

	start(&t, 2);
	ck_assert_int_eq(
	    lbt_httpf(t.port, &r,
		"GET /metrics HTTP/1.1\r\n"
		"Host: elsewhere.com\r\nConnection: close\r\n\r\n"),
	    0);
	ck_assert_int_eq(r.status, 404);
	ck_assert_ptr_null(strstr(r.body, "lbmaster_"));
	lbt_resp_free(&r);
	stop(&t);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc;

	tc = tcase_create("checks");
	tcase_add_test(tc, test_format_check_rejects_bad_pages);
	tcase_add_test(tc, test_json_check_rejects_bad_documents);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("metrics");
	tcase_add_test(tc, test_metrics_pass_a_strict_format_check);
	tcase_add_test(tc,
	    test_requests_total_rises_by_exactly_the_requests_sent);
	tcase_add_test(tc, test_backend_up_reads_zero_for_a_dead_server);
	tcase_add_test(tc, test_every_answer_of_our_own_is_counted_and_logged);
	tcase_add_test(tc, test_reloads_are_counted_and_counters_survive_them);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("status");
	tcase_add_test(tc, test_status_is_json_with_the_same_numbers);
	tcase_add_test(tc, test_healthz_and_other_requests);
	tcase_add_test(tc, test_admin_is_not_served_on_the_proxy_port);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(admin_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

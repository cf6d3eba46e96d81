/*
 * worker/admin.c -- the admin endpoint (SPEC section 6).
 *
 * Every worker serves the one admin socket the master holds, each with
 * an evhttp of its own beside the proxy's, and answers from the
 * generation's shared memory: whichever worker accepts, the numbers are
 * the same. Nothing here is counted as proxied traffic.
 *
 * Labels (the same strings appear in /status):
 *
 *   route    the route's label: its host ("www.mango.com",
 *            "*.mango.com") or its path ("/mango"). Requests no route
 *            matched (answered 404) count under route="", which no real
 *            route can have.
 *   code     the status class, "1xx" .. "5xx"; "other" (only once
 *            non-zero) for codes outside 100-599.
 *   server   the server as written in the config ("localhost:8081").
 *   address  the address it resolved to ("127.0.0.1:8081", "[::1]:8081").
 *            A name that resolves to several addresses is several
 *            servers, so (route, server, address) names one shared-memory
 *            slot. Should a route list the same name twice, the repeats
 *            are told apart as server="localhost:8081#2", "#3"...
 *
 * lbmaster_backend_up is 1 when the server takes requests now: up by the
 * active checks and not passively marked down by a worker. /status gives
 * the two apart as "health" and "passive_down".
 */
#include <sys/types.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/shm.h"
#include "common/str.h"
#include "worker/admin.h"
#include "worker/tls.h"
#include "worker/servers.h"

#define ADMIN_TIMEOUT_S	  10
#define ADMIN_MAX_HEADERS (16 * 1024)
#define ADMIN_MAX_BODY	  (64 * 1024) /* none is read */

struct lb_admin {
	struct evhttp		   *http;  /* owned */
	struct evhttp_bound_socket *bound; /* NULL once stopped */
	const struct lb_cfg	   *cfg;   /* not owned; the generation's */
	struct lb_shm		   *shm;   /* not owned */
};

static const char *const code_names[LB_SHM_CODES] = {
	"1xx",
	"2xx",
	"3xx",
	"4xx",
	"5xx",
	"other",
};

/* -------------------------------------------------------- formatting */

/* US microseconds as seconds, without trailing zeros: "0.0025", "5". */
static void
add_seconds(struct lb_buf *b, uint64_t us)
{
	char frac[8];
	int  n;

	lb_buf_printf(b, "%" PRIu64, us / 1000000);
	if (us % 1000000 == 0)
		return;
	n = (int)lb_snprintf(frac, sizeof(frac), "%06" PRIu64, us % 1000000);
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	lb_buf_printf(b, ".%s", frac);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void
add_label(struct lb_buf *b, const char *name, const char *value,
    const char *suffix)
{
	lb_buf_printf(b, "%s=\"", name);
	for (const char *s = value; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			lb_buf_addc(b, '\\');
		if (*s == '\n')
			lb_buf_adds(b, "\\n");
		else
			lb_buf_addc(b, *s);
	}
	if (suffix != NULL)
		lb_buf_adds(b, suffix);
	lb_buf_addc(b, '"');
}

/* A JSON string, with SUFFIX (if any) inside its quotes. */
static void
add_json_str(struct lb_buf *b, const char *s, const char *suffix)
{
	lb_buf_addc(b, '"');
	lb_buf_add_json(b, s);
	if (suffix != NULL)
		lb_buf_adds(b, suffix);
	lb_buf_addc(b, '"');
}

static void
family(struct lb_buf *b, const char *name, const char *type, const char *help)
{
	lb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/*
 * The suffix that tells the Ith server of R apart from an earlier one with
 * the same name and address ("#2"), in BUF; NULL when there is none.
 */
static const char *
repeat_suffix(const struct lb_route *r, size_t i, char *buf, size_t len)
{
	size_t k = 0;

	/* A followed name's addresses are distinct: no repeats to tell. */
	if (r->servers[i].follow != LB_FOLLOW_NONE)
		return NULL;
	for (size_t j = 0; j < i; j++)
		if (strcmp(r->servers[j].name, r->servers[i].name) == 0 &&
		    strcmp(r->servers[j].addrstr, r->servers[i].addrstr) == 0)
			k++;
	if (k == 0)
		return NULL;
	lb_snprintf(buf, len, "#%zu", k + 1);
	return buf;
}

static void
server_labels(struct lb_buf *b, const struct lb_route *r, size_t i,
    const struct lb_server_view *v)
{
	char sfx[24];

	lb_buf_addc(b, '{');
	add_label(b, "route", r->label, NULL);
	lb_buf_addc(b, ',');
	add_label(b, "server", r->servers[i].name,
	    repeat_suffix(r, i, sfx, sizeof(sfx)));
	lb_buf_addc(b, ',');
	add_label(b, "address", v->addr, NULL);
	lb_buf_addc(b, '}');
}

static uint64_t
load64(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* ----------------------------------------------------------- metrics */

static void
route_codes(struct lb_buf *b, const char *label, const struct lb_shm *shm,
    const struct lb_shm_route *rt)
{
	for (size_t c = 0; c < LB_SHM_CODES; c++) {
		uint64_t v = lb_shm_sum(shm, &rt->codes[c]);

		lb_buf_adds(b, "lbmaster_requests_total{");
		add_label(b, "route", label, NULL);
		lb_buf_addc(b, ',');
		add_label(b, "code", code_names[c], NULL);
		lb_buf_printf(b, "} %" PRIu64 "\n", v);
	}
}

/* One line per server of every route: WHICH picks the number. */
enum srv_metric {
	SM_UP,
	SM_ACTIVE,
	SM_REQUESTS,
	SM_FAILURES,
	SM_STATE
};

static void
server_lines(struct lb_buf *b, const char *name, enum srv_metric which,
    const struct lb_cfg *cfg, const struct lb_shm *shm, int64_t now_ms)
{
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		for (size_t j = 0; j < r->n_servers; j++) {
			const struct lb_shm_server
			    *st = &shm->servers[r->servers[j].id];
			struct lb_server_view view;
			uint64_t	      v = 0;

			/* An empty followed slot is no server (yet). */
			if (!lb_server_view(&r->servers[j], shm, &view))
				continue;
			if (which == SM_STATE) {
				for (int d = 0; d < 2; d++) {
					lb_buf_adds(b, name);
					server_labels(b, r, j, &view);
					b->len--; /* reopen the braces */
					lb_buf_printf(b, ",state=\"%s\"} %d\n",
					    d ? "draining" : "ready",
					    view.draining == (d == 1));
				}
				continue;
			}
			switch (which) {
			case SM_UP:
				v = lb_shm_server_usable(st, now_ms);
				break;
			case SM_ACTIVE:
				v = lb_shm_active(shm, r->servers[j].id);
				break;
			case SM_REQUESTS:
				v = lb_shm_sum(shm, &st->requests);
				break;
			case SM_FAILURES:
				v = lb_shm_sum(shm, &st->failures);
				break;
			case SM_STATE:
				break;
			}
			lb_buf_adds(b, name);
			server_labels(b, r, j, &view);
			lb_buf_printf(b, " %" PRIu64 "\n", v);
		}
	}
}

void
lb_admin_metrics(struct lb_buf *b, const struct lb_cfg *cfg,
    const struct lb_shm *shm, int64_t now_ms)
{
	uint64_t cum[LB_SHM_BUCKETS + 1], sum_us, count;

	family(b, "lbmaster_requests_total", "counter",
	    "Requests answered, "
	    "by route and status class; route=\"\" counts requests no route "
	    "matched.");
	for (size_t i = 0; i < cfg->n_routes; i++)
		route_codes(b, cfg->routes[i].label, shm,
		    &shm->routes[cfg->routes[i].id]);
	route_codes(b, "", shm, &shm->routes[shm->n_routes]);

	family(b, "lbmaster_rate_limited_total", "counter",
	    "Requests refused with 429 by their route's rate limit.");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		lb_buf_adds(b, "lbmaster_rate_limited_total{");
		add_label(b, "route", cfg->routes[i].label, NULL);
		lb_buf_printf(b, "} %" PRIu64 "\n",
		    lb_shm_sum(shm, &shm->routes[cfg->routes[i].id].limited));
	}
	family(b, "lbmaster_rate_limit_table_full_total", "counter",
	    "Requests of new keys let through because their rate limit's "
	    "table had no room (rate_limit.max_keys).");
	lb_buf_printf(b, "lbmaster_rate_limit_table_full_total %" PRIu64 "\n",
	    lb_shm_sum(shm, &shm->totals->limit_full));
	family(b, "lbmaster_spliced_bytes_total", "counter",
	    "Response body bytes passed from an origin's socket to a "
	    "client's without a copy into the worker (splice).");
	lb_buf_printf(b, "lbmaster_spliced_bytes_total %" PRIu64 "\n",
	    lb_shm_sum(shm, &shm->totals->spliced));

	family(b, "lbmaster_backend_up", "gauge",
	    "Whether the server takes "
	    "requests: 1 when up by the active checks and not passively "
	    "marked down, else 0.");
	server_lines(b, "lbmaster_backend_up", SM_UP, cfg, shm, now_ms);
	family(b, "lbmaster_backend_active_connections", "gauge",
	    "Requests "
	    "in flight to the server, from every worker.");
	server_lines(b, "lbmaster_backend_active_connections", SM_ACTIVE, cfg,
	    shm, now_ms);
	family(b, "lbmaster_backend_requests_total", "counter",
	    "Requests "
	    "sent to the server, retries included.");
	server_lines(b, "lbmaster_backend_requests_total", SM_REQUESTS, cfg,
	    shm, now_ms);
	family(b, "lbmaster_backend_failures_total", "counter",
	    "Requests to "
	    "the server that failed: connect, send or receive errors and "
	    "timeouts.");
	server_lines(b, "lbmaster_backend_failures_total", SM_FAILURES, cfg,
	    shm, now_ms);
	family(b, "lbmaster_backend_state", "gauge",
	    "The server's admin "
	    "state: 1 for the one it is in, ready or draining (POST "
	    "/servers/drain: no new requests).");
	server_lines(b, "lbmaster_backend_state", SM_STATE, cfg, shm, now_ms);

	family(b, "lbmaster_request_duration_seconds", "histogram",
	    "Time "
	    "from a request's arrival until its response was handed to the "
	    "client.");
	count = lb_shm_histogram(shm, cum, &sum_us);
	for (size_t i = 0; i <= LB_SHM_BUCKETS; i++) {
		lb_buf_adds(b,
		    "lbmaster_request_duration_seconds_bucket"
		    "{le=\"");
		if (i < LB_SHM_BUCKETS)
			add_seconds(b, (uint64_t)lb_shm_bucket_us[i]);
		else
			lb_buf_adds(b, "+Inf");
		lb_buf_printf(b, "\"} %" PRIu64 "\n", cum[i]);
	}
	lb_buf_adds(b, "lbmaster_request_duration_seconds_sum ");
	add_seconds(b, sum_us);
	lb_buf_printf(b,
	    "\nlbmaster_request_duration_seconds_count %" PRIu64 "\n", count);

	family(b, "lbmaster_workers", "gauge",
	    "Live worker processes of the "
	    "configuration generation that answers.");
	lb_buf_printf(b, "lbmaster_workers %u\n", atomic_load(&shm->workers));
	family(b, "lbmaster_tunnels_active", "gauge",
	    "Upgrade tunnels (WebSocket...) open in the workers of this "
	    "generation.");
	lb_buf_printf(b, "lbmaster_tunnels_active %u\n", lb_shm_tunnels(shm));
	family(b, "lbmaster_config_reloads_total", "counter",
	    "Configuration "
	    "reloads (SIGHUP), by result.");
	lb_buf_printf(b,
	    "lbmaster_config_reloads_total{result=\"success\"} %" PRIu64 "\n",
	    load64(&shm->reloads_ok));
	lb_buf_printf(b,
	    "lbmaster_config_reloads_total{result=\"failure\"} %" PRIu64 "\n",
	    load64(&shm->reloads_failed));
	family(b, "lbmaster_config_generation", "gauge",
	    "Number of the "
	    "configuration generation that answers: 1 at start, higher "
	    "after each reload that started workers.");
	lb_buf_printf(b, "lbmaster_config_generation %u\n",
	    atomic_load(&shm->generation));
	lb_tls_metrics(b, cfg);
}

/* ------------------------------------------------------------ status */

/* {"total": N, "1xx": N, ... "other": N} */
static void
json_codes(struct lb_buf *b, const struct lb_shm *shm,
    const struct lb_shm_route *const *rts, size_t n)
{
	uint64_t v[LB_SHM_CODES] = { 0 }, total = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < LB_SHM_CODES; c++)
			v[c] += lb_shm_sum(shm, &rts[i]->codes[c]);
	for (size_t c = 0; c < LB_SHM_CODES; c++)
		total += v[c];
	lb_buf_printf(b, "{\"total\": %" PRIu64, total);
	for (size_t c = 0; c < LB_SHM_CODES; c++)
		lb_buf_printf(b, ", \"%s\": %" PRIu64, code_names[c], v[c]);
	lb_buf_addc(b, '}');
}

static void
json_server(struct lb_buf *b, const struct lb_route *r, size_t i,
    const struct lb_shm *shm, int64_t now_ms, const struct lb_server_view *v)
{
	const struct lb_server	   *s = &r->servers[i];
	const struct lb_shm_server *st = &shm->servers[s->id];
	char			    sfx[24];
	int64_t			    down = atomic_load(&st->down_until);

	lb_buf_adds(b, "{\"server\": ");
	add_json_str(b, s->name, repeat_suffix(r, i, sfx, sizeof(sfx)));
	lb_buf_adds(b, ", \"address\": ");
	add_json_str(b, v->addr, NULL);
	lb_buf_printf(b,
	    ", \"weight\": %u, \"backup\": %s, \"state\": \"%s\", "
	    "\"up\": %s, "
	    "\"health\": \"%s\", \"passive_down\": %s, "
	    "\"active_connections\": %u, \"requests\": %" PRIu64 ", "
	    "\"failures\": %" PRIu64 "}",
	    v->weight, v->backup ? "true" : "false",
	    v->draining ? "draining" : "ready",
	    lb_shm_server_usable(st, now_ms) ? "true" : "false",
	    atomic_load(&st->up) == 1 ? "up" : "down",
	    down > now_ms ? "true" : "false", lb_shm_active(shm, s->id),
	    lb_shm_sum(shm, &st->requests), lb_shm_sum(shm, &st->failures));
}

void
lb_admin_status(struct lb_buf *b, const struct lb_cfg *cfg,
    const struct lb_shm *shm, int64_t now_ms)
{
	const struct lb_shm_route *rt, **all;
	uint64_t		   cum[LB_SHM_BUCKETS + 1], sum_us, count;

	lb_buf_printf(b,
	    "{\"generation\": %u, \"workers\": %u, \"tunnels\": %u, "
	    "\"reloads\": {\"success\": %" PRIu64 ", \"failure\": %" PRIu64
	    "},\n \"requests\": ",
	    atomic_load(&shm->generation), atomic_load(&shm->workers),
	    lb_shm_tunnels(shm), load64(&shm->reloads_ok),
	    load64(&shm->reloads_failed));
	/* Every route's counters and the unrouted ones: routes[0..n]. */
	if ((all = calloc((size_t)shm->n_routes + 1, sizeof(*all))) == NULL) {
		b->failed = true;
		return;
	}
	for (size_t i = 0; i <= shm->n_routes; i++)
		all[i] = &shm->routes[i];
	json_codes(b, shm, all, (size_t)shm->n_routes + 1);
	free(all);

	count = lb_shm_histogram(shm, cum, &sum_us);
	lb_buf_printf(b,
	    ",\n \"request_duration_seconds\": {\"count\": %" PRIu64
	    ", \"sum\": ",
	    count);
	add_seconds(b, sum_us);
	lb_buf_adds(b, ", \"buckets\": [");
	for (size_t i = 0; i <= LB_SHM_BUCKETS; i++) {
		lb_buf_adds(b, i > 0 ? ", {\"le\": \"" : "{\"le\": \"");
		if (i < LB_SHM_BUCKETS)
			add_seconds(b, (uint64_t)lb_shm_bucket_us[i]);
		else
			lb_buf_adds(b, "+Inf");
		lb_buf_printf(b, "\", \"count\": %" PRIu64 "}", cum[i]);
	}
	lb_buf_adds(b, "]},\n \"unrouted\": {\"route\": \"\", \"requests\": ");
	rt = &shm->routes[shm->n_routes];
	json_codes(b, shm, &rt, 1);
	lb_buf_adds(b, "},\n \"routes\": [");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		lb_buf_adds(b,
		    i > 0 ? ",\n  {\"route\": " : "\n  {\"route\": ");
		add_json_str(b, r->label, NULL);
		lb_buf_printf(b,
		    ", \"kind\": \"%s\", \"algorithm\": \"%s\", "
		    "\"health_check\": %s, \"rate_limited\": %" PRIu64
		    ", \"requests\": ",
		    r->kind == LB_ROUTE_HOST ? "host" : "path",
		    lb_algo_name(r->algorithm),
		    r->health.enabled ? "true" : "false",
		    lb_shm_sum(shm, &shm->routes[r->id].limited));
		rt = &shm->routes[r->id];
		json_codes(b, shm, &rt, 1);
		lb_buf_adds(b, ", \"servers\": [");
		for (size_t j = 0, k = 0; j < r->n_servers; j++) {
			struct lb_server_view v;

			if (!lb_server_view(&r->servers[j], shm, &v))
				continue;
			lb_buf_adds(b, k++ > 0 ? ",\n    " : "\n    ");
			json_server(b, r, j, shm, now_ms, &v);
		}
		lb_buf_adds(b, "]}");
	}
	lb_buf_adds(b, "]}\n");
}

/* ------------------------------------------------------------- HTTP */

/* Every request ends here, in exactly one reply. */
static void
reply(struct lb_admin *ad, struct evhttp_request *req, int code,
    const char *reason, const char *type, struct lb_buf *b)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	struct evbuffer	 *body = NULL;
	char		  len[24];

	evhttp_add_header(oh, "Content-Type", type);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	/* Draining: a scraper's next request goes to the new generation. */
	if (ad->bound == NULL)
		evhttp_add_header(oh, "Connection", "close");
	if (code == 405)
		evhttp_add_header(oh, "Allow",
		    strncmp(evhttp_request_get_uri(req), "/servers/", 9) == 0 ?
			"POST" :
			"GET, HEAD");
	/* evhttp 2.1 would send a body even to a HEAD: give only its size. */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		lb_snprintf(len, sizeof(len), "%zu", b->len);
		evhttp_add_header(oh, "Content-Length", len);
	} else if ((body = evbuffer_new()) != NULL) {
		evbuffer_add(body, b->data != NULL ? b->data : "", b->len);
	}
	evhttp_send_reply(req, code, reason, body);
	if (body != NULL)
		evbuffer_free(body);
}

static void
admin_handle(struct evhttp_request *req, void *arg)
{
	struct lb_admin		*ad = arg;
	const struct evhttp_uri *uri;
	const char		*path;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	const char		*text = "text/plain; charset=utf-8";
	struct lb_buf		 b;
	int			 code;
	bool			 json;

	uri = evhttp_request_get_evhttp_uri(req);
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	lb_buf_init(&b);
	if (path != NULL && strncmp(path, "/servers", 8) == 0 &&
	    (code = lb_servers_handle(ad->cfg, ad->shm, cmd == EVHTTP_REQ_POST,
		 path, evhttp_uri_get_query(uri),
		 evhttp_find_header(evhttp_request_get_input_headers(req),
		     "Authorization"),
		 &b, &json)) != 0) {
		if (lb_buf_failed(&b)) {
			lb_buf_reset(&b);
			lb_buf_adds(&b, "Internal Server Error\n");
			code = 500;
		}
		reply(ad, req, code, NULL,
		    json && code == 200 ? "application/json" : text, &b);
	} else if (path == NULL ||
	    (strcmp(path, "/metrics") != 0 && strcmp(path, "/status") != 0 &&
		strcmp(path, "/healthz") != 0)) {
		lb_buf_adds(&b, "Not Found\n");
		reply(ad, req, 404, "Not Found", text, &b);
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		lb_buf_adds(&b, "Method Not Allowed\n");
		reply(ad, req, 405, "Method Not Allowed", text, &b);
	} else if (strcmp(path, "/healthz") == 0) {
		/* A worker answers, but the master may have lost the rest. */
		if (atomic_load(&ad->shm->workers) > 0) {
			lb_buf_adds(&b, "OK\n");
			reply(ad, req, 200, "OK", text, &b);
		} else {
			lb_buf_adds(&b, "No live workers\n");
			reply(ad, req, 503, "Service Unavailable", text, &b);
		}
	} else {
		bool metrics = strcmp(path, "/metrics") == 0;

		if (metrics)
			lb_admin_metrics(&b, ad->cfg, ad->shm, lb_now_ms());
		else
			lb_admin_status(&b, ad->cfg, ad->shm, lb_now_ms());
		if (lb_buf_failed(&b)) {
			lb_buf_reset(&b);
			lb_buf_adds(&b, "Internal Server Error\n");
			reply(ad, req, 500, "Internal Server Error", text, &b);
		} else {
			reply(ad, req, 200, "OK",
			    metrics ?
				"text/plain; version=0.0.4; charset=utf-8" :
				"application/json",
			    &b);
		}
	}
	lb_buf_free(&b);
}

struct lb_admin *
lb_admin_new(struct event_base *base, int fd, const struct lb_cfg *cfg,
    struct lb_shm *shm)
{
	struct lb_admin *ad;

	if ((ad = calloc(1, sizeof(*ad))) == NULL)
		return NULL;
	ad->cfg = cfg;
	ad->shm = shm;
	if ((ad->http = evhttp_new(base)) == NULL)
		goto fail;
	/* Every method reaches us, so that we answer 405 and not 501. */
	evhttp_set_allowed_methods(ad->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_TRACE | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(ad->http, NULL);
	evhttp_set_max_headers_size(ad->http, ADMIN_MAX_HEADERS);
	evhttp_set_max_body_size(ad->http, ADMIN_MAX_BODY);
	evhttp_set_timeout(ad->http, ADMIN_TIMEOUT_S);
	evhttp_set_gencb(ad->http, admin_handle, ad);
	if ((ad->bound = evhttp_accept_socket_with_handle(ad->http, fd)) ==
	    NULL)
		goto fail;
	return ad;
fail:
	if (ad->http != NULL)
		evhttp_free(ad->http);
	free(ad);
	return NULL;
}

void
lb_admin_stop(struct lb_admin *ad)
{
	if (ad == NULL || ad->bound == NULL)
		return;
	evhttp_del_accept_socket(ad->http, ad->bound);
	ad->bound = NULL;
}

void
lb_admin_free(struct lb_admin *ad)
{
	if (ad == NULL)
		return;
	evhttp_free(ad->http);
	free(ad);
}

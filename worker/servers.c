/*
 * worker/servers.c -- the servers as the admin endpoint shows them, and
 * the drain API (see servers.h).
 *
 * A server's admin state is one atomic word of its shared record
 * (common/shm.h), so that whichever worker's admin endpoint takes the
 * POST, every worker's balancer sees it at its next pick; a reload
 * carries it to the next generation (master/carry.c). Draining only
 * stops new requests: those in flight finish, and the server's
 * active-connection gauge shows them draining to zero.
 *
 * A server is named by its route (route=, the route's label) and either
 * its name as written (server=localhost:8081: every address of it,
 * followed slots included) or one address (server=127.0.0.1:8081).
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/addr.h"
#include "common/shm.h"
#include "common/str.h"
#include "worker/servers.h"

bool
lb_server_view(const struct lb_server *s, const struct lb_shm *shm,
    struct lb_server_view *out)
{
	const struct lb_shm_server *st = &shm->servers[s->id];
	struct lb_shm_addr	    a;

	out->draining = atomic_load_explicit(&st->drain,
			    memory_order_relaxed) != 0;
	out->weight = s->weight;
	out->backup = s->backup;
	if (s->follow == LB_FOLLOW_NONE) {
		lb_strlcpy(out->addr, s->addrstr, sizeof(out->addr));
		return true;
	}
	lb_shm_addr_read(st, &a);
	/* Gone from DNS: shown while what it had in flight finishes. */
	if (!a.present &&
	    (a.len == 0 || lb_shm_active(shm, (uint32_t)s->id) == 0))
		return false;
	if (!a.present)
		out->draining = true;
	lb_addr_format((const struct sockaddr *)&a.ss, out->addr,
	    sizeof(out->addr));
	if (s->follow == LB_FOLLOW_SRV) {
		out->weight = a.weight > 0 ? a.weight : 1;
		out->backup = a.backup;
	}
	return true;
}

static void
json_str(struct lb_buf *b, const char *s)
{
	lb_buf_addc(b, '"');
	lb_buf_add_json(b, s);
	lb_buf_addc(b, '"');
}

static void
json_one(struct lb_buf *b, const struct lb_route *r, const struct lb_server *s,
    const struct lb_shm *shm, const struct lb_server_view *v, bool *first)
{
	lb_buf_adds(b, *first ? "\n  {\"route\": " : ",\n  {\"route\": ");
	*first = false;
	json_str(b, r->label);
	lb_buf_adds(b, ", \"server\": ");
	json_str(b, s->name);
	lb_buf_adds(b, ", \"address\": ");
	json_str(b, v->addr);
	lb_buf_printf(b,
	    ", \"followed\": %s, \"weight\": %u, \"backup\": %s, "
	    "\"state\": \"%s\", \"up\": %s, \"active_connections\": %u}",
	    s->follow == LB_FOLLOW_A	   ? "\"dns\"" :
		s->follow == LB_FOLLOW_SRV ? "\"srv\"" :
					     "null",
	    v->weight, v->backup ? "true" : "false",
	    v->draining ? "draining" : "ready",
	    lb_shm_server_usable(&shm->servers[s->id], lb_now_ms()) ? "true" :
								      "false",
	    lb_shm_active(shm, (uint32_t)s->id));
}

/* GET /servers: every server of every route, with its state. */
static int
list(const struct lb_cfg *cfg, const struct lb_shm *shm, struct lb_buf *out)
{
	struct lb_server_view v;
	bool		      first = true;

	lb_buf_adds(out, "{\"servers\": [");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct lb_route *r = &cfg->routes[i];

		for (size_t j = 0; j < r->n_servers; j++)
			if (lb_server_view(&r->servers[j], shm, &v))
				json_one(out, r, &r->servers[j], shm, &v,
				    &first);
	}
	lb_buf_adds(out, "]}\n");
	return 200;
}

/* Compare in time that does not depend on where they differ. */
static bool
token_equal(const char *a, const char *b)
{
	size_t	      la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

static int
fail(struct lb_buf *out, int code, const char *msg)
{
	lb_buf_adds(out, msg);
	lb_buf_addc(out, '\n');
	return code;
}

/* POST /servers/drain or /servers/ready: set the state of R's server S. */
static int
set_state(const struct lb_cfg *cfg, struct lb_shm *shm, bool drain,
    const char *query, struct lb_buf *out)
{
	struct evkeyvalq       q;
	const char	      *route, *server;
	const struct lb_route *r = NULL;
	struct lb_server_view  v;
	bool		       first = true;
	size_t		       hits = 0;
	int		       code;

	TAILQ_INIT(&q);
	if (query == NULL || evhttp_parse_query_str(query, &q) == -1 ||
	    (route = evhttp_find_header(&q, "route")) == NULL ||
	    (server = evhttp_find_header(&q, "server")) == NULL) {
		evhttp_clear_headers(&q);
		return fail(out, 400,
		    "Bad Request: give route= and server=, as in "
		    "?route=www.mango.com&server=127.0.0.1:8081");
	}
	for (size_t i = 0; i < cfg->n_routes && r == NULL; i++)
		if (strcmp(cfg->routes[i].label, route) == 0)
			r = &cfg->routes[i];
	if (r == NULL) {
		evhttp_clear_headers(&q);
		return fail(out, 404, "Not Found: no such route");
	}
	lb_buf_adds(out, "{\"servers\": [");
	for (size_t j = 0; j < r->n_servers; j++) {
		const struct lb_server *s = &r->servers[j];
		bool			present = lb_server_view(s, shm, &v);

		if (strcmp(s->name, server) != 0 &&
		    (!present || strcmp(v.addr, server) != 0))
			continue;
		/* An empty slot of a drained name: its future address too. */
		atomic_store(&shm->servers[s->id].drain, drain ? 1 : 0);
		hits++;
		if (present) {
			v.draining = drain;
			json_one(out, r, s, shm, &v, &first);
		}
	}
	lb_buf_adds(out, "]}\n");
	evhttp_clear_headers(&q);
	if (hits > 0)
		return 200;
	lb_buf_reset(out);
	code = fail(out, 404, "Not Found: no such server in that route");
	return code;
}

int
lb_servers_handle(const struct lb_cfg *cfg, struct lb_shm *shm, bool post,
    const char *path, const char *query, const char *auth, struct lb_buf *out,
    bool *json)
{
	bool drain;

	*json = false;
	if (strcmp(path, "/servers") == 0) {
		if (post)
			return fail(out, 405, "Method Not Allowed");
		*json = true;
		return list(cfg, shm, out);
	}
	if (strcmp(path, "/servers/drain") == 0)
		drain = true;
	else if (strcmp(path, "/servers/ready") == 0)
		drain = false;
	else
		return 0;
	/* Without a token, nothing may change: the endpoint is not here. */
	if (cfg->admin_token == NULL)
		return fail(out, 404, "Not Found");
	if (!post)
		return fail(out, 405, "Method Not Allowed");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    !token_equal(auth + 7 + strspn(auth + 7, " "), cfg->admin_token))
		return fail(out, 403, "Forbidden");
	*json = true;
	return set_state(cfg, shm, drain, query, out);
}

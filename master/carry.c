/*
 * master/carry.c -- what a reload carries from one generation's shared
 * segment to the next (see lb_carry_over in master.h).
 *
 * It lives in master/ because it matches two configurations' routes and
 * servers: common/shm.c knows the segment's layout, not what its records
 * stand for.
 */
#include <sys/random.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/ratelimit.h"
#include "common/shm.h"
#include "config/config.h"
#include "master/master.h"

static void
add(_Atomic uint64_t *to, const _Atomic uint64_t *from)
{
	atomic_fetch_add_explicit(to,
	    atomic_load_explicit(from, memory_order_relaxed),
	    memory_order_relaxed);
}

/* Counter FROM of OLD, every stripe's, into stripe 0's TO (shm.h). */
static void
carry(_Atomic uint64_t *to, const struct lb_shm *old,
    const _Atomic uint64_t *from)
{
	atomic_fetch_add_explicit(to, lb_shm_sum(old, from),
	    memory_order_relaxed);
}

static int
route_cmp(const void *a, const void *b)
{
	const struct lb_route *ra = *(const struct lb_route *const *)a;
	const struct lb_route *rb = *(const struct lb_route *const *)b;

	return strcmp(ra->label, rb->label);
}

/*
 * The route of OLD_CFG labelled like R. SORTED holds OLD_CFG's routes
 * ordered by label, or is NULL (no memory for it): then a linear search.
 * Configs mostly keep their order, so the same index is tried first.
 */
static const struct lb_route *
route_find(const struct lb_cfg *old_cfg, const struct lb_route **sorted,
    const struct lb_route *r)
{
	const struct lb_route **hit;

	if (r->id < old_cfg->n_routes &&
	    strcmp(old_cfg->routes[r->id].label, r->label) == 0)
		return &old_cfg->routes[r->id];
	if (sorted != NULL) {
		hit = bsearch(&r, sorted, old_cfg->n_routes, sizeof(*sorted),
		    route_cmp);
		return hit != NULL ? *hit : NULL;
	}
	for (size_t i = 0; i < old_cfg->n_routes; i++)
		if (strcmp(old_cfg->routes[i].label, r->label) == 0)
			return &old_cfg->routes[i];
	return NULL;
}

/* How many servers of R before index I have the address of servers[i]. */
static size_t
addr_rank(const struct lb_route *r, size_t i)
{
	size_t k = 0;

	for (size_t j = 0; j < i; j++)
		if (strcmp(r->servers[j].addrstr, r->servers[i].addrstr) == 0)
			k++;
	return k;
}

/* The server of OR with S's address and rank K, or NULL. */
static const struct lb_server *
server_find(const struct lb_route * or, const struct lb_server *s, size_t k)
{
	for (size_t j = 0; j < or->n_servers; j++)
		if (strcmp(or->servers[j].addrstr, s->addrstr) == 0 && k-- == 0)
			return & or->servers[j];
	return NULL;
}

static void
server_carry(struct lb_shm_server *to, const struct lb_shm *old,
    const struct lb_shm_server *from, bool checked)
{
	int64_t down;

	carry(&to->requests, old, &from->requests);
	carry(&to->failures, old, &from->failures);
	carry(&to->bytes_in, old, &from->bytes_in);
	carry(&to->bytes_out, old, &from->bytes_out);
	down = atomic_load(&from->down_until);
	if (checked) {
		/* The new checker goes on from the old verdict. */
		atomic_store(&to->up, atomic_load(&from->up));
	} else {
		/* Nobody would ever clear these: time-limit them. */
		if (down > lb_now_ms() + LB_SHM_PASSIVE_MS)
			down = lb_now_ms() + LB_SHM_PASSIVE_MS;
	}
	atomic_store(&to->down_until, down);
	/* A drained server stays drained while it stays in the config. */
	atomic_store(&to->drain, atomic_load(&from->drain));
}

/*
 * The slot of OR that S (a followed slot) was: the same name followed the
 * same way, the same place among its slots. A resized name keeps the
 * slots both have.
 */
static const struct lb_server *
slot_find(const struct lb_route * or, const struct lb_server *s)
{
	for (size_t j = 0; j < or->n_servers; j++) {
		const struct lb_server *o = & or->servers[j];

		if (o->follow == s->follow && o->slot == 0 &&
		    strcmp(o->name, s->name) == 0)
			return s->slot < o->max_addresses ? o + s->slot : NULL;
	}
	return NULL;
}

/*
 * A followed slot: what the old generation's resolver found goes on
 * serving at once, instead of 503s until the new one has asked again.
 * The master writes it before it forks the new checker, so it is the
 * slot's only writer.
 */
static void
slot_carry(struct lb_shm_server *to, const struct lb_shm *old,
    const struct lb_shm_server *from, bool checked)
{
	struct lb_shm_addr a;

	server_carry(to, old, from, checked);
	lb_shm_addr_read(from, &a);
	if (a.present)
		lb_shm_addr_write(to, &a);
}

void
lb_carry_over(struct lb_shm *new, const struct lb_cfg *new_cfg,
    const struct lb_shm *old, const struct lb_cfg *old_cfg)
{
	const struct lb_route **sorted;

	for (size_t i = 0; i <= LB_SHM_BUCKETS; i++)
		carry(&new->totals->duration[i], old,
		    &old->totals->duration[i]);
	carry(&new->totals->duration_sum_us, old,
	    &old->totals->duration_sum_us);
	add(&new->reloads_ok, &old->reloads_ok);
	add(&new->reloads_failed, &old->reloads_failed);
	for (size_t c = 0; c < LB_SHM_CODES; c++)
		carry(&new->routes[new->n_routes].codes[c], old,
		    &old->routes[old->n_routes].codes[c]);
	carry(&new->totals->limit_full, old, &old->totals->limit_full);
	carry(&new->totals->spliced, old, &old->totals->spliced);

	if ((sorted = calloc(old_cfg->n_routes ? old_cfg->n_routes : 1,
		 sizeof(*sorted))) != NULL) {
		for (size_t i = 0; i < old_cfg->n_routes; i++)
			sorted[i] = &old_cfg->routes[i];
		qsort(sorted, old_cfg->n_routes, sizeof(*sorted), route_cmp);
	}
	for (size_t i = 0; i < new_cfg->n_routes; i++) {
		const struct lb_route *r = &new_cfg->routes[i], * or ;

		if ((or = route_find(old_cfg, sorted, r)) == NULL)
			continue;
		for (size_t c = 0; c < LB_SHM_CODES; c++)
			carry(&new->routes[r->id].codes[c], old,
			    &old->routes[or->id].codes[c]);
		carry(&new->routes[r->id].limited, old,
		    &old->routes[or->id].limited);
		for (size_t j = 0; j < r->n_servers; j++) {
			const struct lb_server *s = &r->servers[j], *os;

			if (s->follow != LB_FOLLOW_NONE) {
				if ((os = slot_find(or, s)) != NULL)
					slot_carry(&new->servers[s->id], old,
					    &old->servers[os->id],
					    r->health.enabled);
				continue;
			}
			os = server_find(or, s, addr_rank(r, j));
			if (os != NULL && os->follow == LB_FOLLOW_NONE)
				server_carry(&new->servers[s->id], old,
				    &old->servers[os->id], r->health.enabled);
		}
	}
	free(sorted);
}

/* Do A and B limit the same way (so a table of A's serves B)? */
static bool
limit_same(const struct lb_rate_limit *a, const struct lb_rate_limit *b)
{
	return a->enabled && b->enabled && a->count == b->count &&
	    a->period_ms == b->period_ms && a->burst == b->burst &&
	    a->key == b->key && a->max_keys == b->max_keys &&
	    (a->key != LB_RL_KEY_HEADER ||
		strcasecmp(a->header, b->header) == 0);
}

/* The table OLD has for the limit RL (of NEW_CFG's route R, or the top). */
static struct lb_rl *
limit_find(const struct lb_shm *old, const struct lb_cfg *old_cfg,
    const struct lb_route *r, const struct lb_rate_limit *rl)
{
	const struct lb_rate_limit *orl = NULL;

	if (old == NULL || old_cfg == NULL)
		return NULL;
	if (r == NULL)
		orl = &old_cfg->rate_limit;
	else
		for (size_t i = 0; i < old_cfg->n_routes && orl == NULL; i++)
			if (old_cfg->routes[i].rate_limit.own &&
			    strcmp(old_cfg->routes[i].label, r->label) == 0)
				orl = &old_cfg->routes[i].rate_limit;
	if (orl == NULL || !limit_same(orl, rl) || orl->id >= old->n_limits)
		return NULL;
	return old->limits[orl->id];
}

static int
limit_give(struct lb_shm *new, const struct lb_shm *old,
    const struct lb_cfg *old_cfg, const struct lb_route *r,
    const struct lb_rate_limit *rl)
{
	struct lb_rl *t;
	uint64_t      seed;

	/* A key hash nobody can aim at one slot. */
	if (getentropy(&seed, sizeof(seed)) == -1)
		seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	if ((t = limit_find(old, old_cfg, r, rl)) != NULL)
		lb_rl_hold(t);
	else if ((t = lb_rl_create(rl->max_keys, rl->count, rl->period_ms,
		      rl->burst, seed)) == NULL)
		return -1;
	new->limits[rl->id] = t;
	return 0;
}

int
lb_carry_limits(struct lb_shm *new, const struct lb_cfg *new_cfg,
    const struct lb_shm *old, const struct lb_cfg *old_cfg)
{
	if ((new->limits = calloc(new_cfg->n_limits ? new_cfg->n_limits : 1,
		 sizeof(*new->limits))) == NULL)
		return -1;
	new->n_limits = new_cfg->n_limits;
	/* Sticky cookies name the same servers after a reload. */
	if (old != NULL)
		new->sticky_key = old->sticky_key;
	else if (getentropy(&new->sticky_key, sizeof(new->sticky_key)) == -1)
		new->sticky_key = (uint64_t)getpid() << 32 ^
		    (uint64_t)time(NULL);
	if (new_cfg->rate_limit.enabled &&
	    limit_give(new, old, old_cfg, NULL, &new_cfg->rate_limit) == -1)
		return -1;
	for (size_t i = 0; i < new_cfg->n_routes; i++) {
		const struct lb_route *r = &new_cfg->routes[i];

		if (r->rate_limit.own && r->rate_limit.enabled &&
		    limit_give(new, old, old_cfg, r, &r->rate_limit) == -1)
			return -1;
	}
	return 0;
}

/*
 * common/shm.h -- state shared by the master, the workers and the health
 * checker of one config generation.
 *
 * The master maps one anonymous MAP_SHARED segment per generation before it
 * forks, so every child of that generation sees the same bytes at the same
 * address. Only fixed-size records of C11 atomics live here: no pointers,
 * no locks, so a child that dies mid-update leaves nothing inconsistent.
 *
 * What a worker holds (requests in flight, open tunnels) is counted in a
 * share per worker slot that only that slot's worker writes, and readers
 * add up the shares. A worker killed with requests in flight never counts
 * them down; the master clears its shares when it reaps it
 * (lb_shm_slot_clear), so no gauge stays up and least_conn does not starve
 * a server after a crash. A single counter could not be repaired: nobody
 * would know how much of it the dead worker held. Each slot's shares
 * start a cache line of their own, so that two workers on two CPUs do
 * not pull one line back and forth at every request.
 *
 * Counters (requests, codes, durations...) are kept apart for the same
 * reason: the server and route records and the totals are laid out once
 * per "stripe", worker slot S adding to stripe S modulo the number of
 * stripes (lb_shm_count), and readers add the stripes up (lb_shm_sum). A
 * pointer into stripe 0 (shm->servers, shm->routes, shm->totals) names a
 * counter. Health state (up, down_until, drain, a followed slot's
 * address) lives in stripe 0 only. There is a stripe per slot unless that
 * would take more than LB_SHM_STRIPES_MAX bytes (tens of thousands of
 * routes on many workers); slots then share stripes, and their adds stay
 * atomic.
 */
#ifndef LB_SHM_H
#define LB_SHM_H

#include <sys/socket.h>
#include <sys/time.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One backend server (by the id the config gave it). */
struct lb_shm_server {
	_Atomic uint32_t up;	     /* active checks' verdict: 1 up, 0 down;
					   starts at 1 */
	_Atomic int64_t	 down_until; /* passive: a refused or timed-out
					   connect sets it (CLOCK_MONOTONIC ms);
					   INT64_MAX until the checker sees the
					   server pass, now + 10 s when checks
					   are off. 0: not passively down */
	_Atomic uint64_t requests;   /* requests sent to it */
	_Atomic uint64_t failures;   /* connect/send/receive failures */
	_Atomic uint64_t bytes_in;   /* response bytes received */
	_Atomic uint64_t bytes_out;  /* request bytes sent */
	_Atomic uint32_t drain;	     /* 1: draining (the admin API's
					   POST /servers/drain): no new
					   requests */
	/*
	 * A followed slot (a server of a name lbmaster follows in DNS): its
	 * address, written only by the health checker's resolver and read by
	 * everyone through lb_shm_addr_read. SEQ is the slot's generation:
	 * odd while the checker writes, and different after each change, so
	 * a reader that saw the same even SEQ before and after its copy has
	 * a whole address, and a worker knows when to drop its pooled
	 * connections. Unused for servers with a fixed address.
	 */
	_Atomic uint32_t seq;
	_Atomic uint64_t where[3]; /* lb_shm_addr, packed: no pointers */
};

/* What a followed slot holds (lb_shm_addr_read, lb_shm_addr_write). */
struct lb_shm_addr {
	bool			present; /* false: the slot is empty (SS
					    may still hold the address that
					    left it, for what it has in
					    flight) */
	bool			backup;	 /* SRV: not of the lowest priority */
	unsigned		weight;	 /* SRV: the record's; else 0 */
	struct sockaddr_storage ss;	 /* AF_INET or AF_INET6 */
	socklen_t		len;
};

#define LB_SHM_CODES   6  /* 1xx .. 5xx, and "other" */
#define LB_SHM_BUCKETS 12 /* request duration histogram */

/* One route (by its id in the config), plus one slot for "no route". */
struct lb_shm_route {
	_Atomic uint64_t codes[LB_SHM_CODES];
	_Atomic uint64_t limited; /* answered 429 by its rate limit */
};

/* The counters that are neither a server's nor a route's. */
struct lb_shm_totals {
	_Atomic uint64_t duration[LB_SHM_BUCKETS + 1]; /* +Inf last; not
							   cumulative */
	_Atomic uint64_t duration_sum_us;
	_Atomic uint64_t limit_full; /* new keys a full table let pass */
	_Atomic uint64_t spliced;    /* body bytes moved by splice(2) */
};

#define LB_SHM_STRIPES_MAX (64u << 20) /* bytes of counters, all stripes */
#define LB_SHM_LINE	   64	       /* a cache line */

struct lb_rl;

struct lb_shm {
	uint32_t	 n_servers;
	uint32_t	 n_routes;   /* routes[n_routes] counts unrouted */
	_Atomic uint32_t workers;    /* live workers of this generation;
					   the master keeps it */
	_Atomic uint32_t generation; /* this generation's number, set by
					   the master */
	/* The master's reload counts, carried from generation to generation. */
	_Atomic uint64_t      reloads_ok;     /* reloads that took effect */
	_Atomic uint64_t      reloads_failed; /* and those that did not */
	uint32_t	      n_slots;	      /* worker slots, cfg->workers */
	uint32_t	      n_stripes;      /* 1 .. n_slots */
	size_t		      stripe_size; /* bytes from a stripe to the next */
	struct lb_shm_server *servers;	   /* stripe 0's, into this segment */
	struct lb_shm_route  *routes;	   /* stripe 0's */
	struct lb_shm_totals *totals;	   /* stripe 0's */
	/*
	 * Into this segment, one share per worker slot, written only by
	 * that slot's worker (so a load and a store, no read-modify-write)
	 * and cleared by the master when it dies: requests in flight to
	 * each server, [slot * active_stride + server id] (a worker's
	 * shares side by side, from a cache line of their own), and open
	 * upgrade tunnels, [slot * LB_SHM_LINE / 4].
	 */
	_Atomic uint32_t *active;
	size_t		  active_stride;
	_Atomic uint32_t *tunnels;
	/*
	 * [slot], into this segment: 1 while the slot has no worker that
	 * accepts (it died; its replacement has not said it accepts yet),
	 * so the others accept on its listening sockets. The master keeps
	 * it and tells the workers when it changes.
	 */
	_Atomic uint32_t *vacant;
	/*
	 * The rate limits' tables, [lb_rate_limit.id] (NULL: that limit is
	 * off), each a mapping of its own so that a reload can keep it
	 * (master/carry.c); the master fills the array, in its own memory,
	 * before it forks, and lb_shm_destroy drops the references.
	 */
	struct lb_rl **limits;
	size_t	       n_limits;
	uint64_t       sticky_key; /* keys sticky cookies' server IDs; the
					master's, kept across reloads */
};

/* common/shm.c */

/*
 * Map a zeroed segment for N_SERVERS servers, N_ROUTES routes (+1) and
 * N_SLOTS worker slots (at least 1), servers marked up. NULL with errno
 * set on failure.
 */
struct lb_shm *lb_shm_create(size_t n_servers, size_t n_routes, size_t n_slots);
void	       lb_shm_destroy(struct lb_shm *);

/*
 * The worker of SLOT is gone (the master reaped it): what it had in
 * flight is over. Only the master calls it, and only once the process is
 * dead, so that nobody writes the shares meanwhile.
 */
void lb_shm_slot_clear(struct lb_shm *, unsigned slot);
/* Requests in flight to server ID, every worker's share added up. */
uint32_t lb_shm_active(const struct lb_shm *, uint32_t id);
/* Open upgrade tunnels, every worker's share added up. */
uint32_t lb_shm_tunnels(const struct lb_shm *);

/* Worker SLOT's share of the requests in flight to server ID. */
static inline _Atomic uint32_t *
lb_shm_active_share(struct lb_shm *shm, unsigned slot, uint32_t id)
{
	return &shm->active[(size_t)slot * shm->active_stride + id];
}

/* Worker SLOT's share of the open tunnels. */
static inline _Atomic uint32_t *
lb_shm_tunnel_share(const struct lb_shm *shm, unsigned slot)
{
	return &shm->tunnels[(size_t)slot * (LB_SHM_LINE / 4)];
}

/* Worker SLOT's copy of the counter C, a pointer into stripe 0. */
static inline _Atomic uint64_t *
lb_shm_mine(const struct lb_shm *shm, unsigned slot, const _Atomic uint64_t *c)
{
	return (_Atomic uint64_t *)((uintptr_t)c +
	    (size_t)(slot % shm->n_stripes) * shm->stripe_size);
}

/* Add N to worker SLOT's copy of the counter C (stripe 0's). */
static inline void
lb_shm_count(struct lb_shm *shm, unsigned slot, _Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(lb_shm_mine(shm, slot, c), n,
	    memory_order_relaxed);
}

/* The counter C (stripe 0's) over every stripe. */
uint64_t lb_shm_sum(const struct lb_shm *, const _Atomic uint64_t *c);

/*
 * Add DELTA to a share. Only its own worker writes a share, so a relaxed
 * load and store do: other processes read a whole value, old or new.
 */
static inline void
lb_shm_share_add(_Atomic uint32_t *share, int delta)
{
	atomic_store_explicit(share,
	    atomic_load_explicit(share, memory_order_relaxed) + (uint32_t)delta,
	    memory_order_relaxed);
}

/*
 * Copy the slot ST's address into OUT, whole (retrying while the checker
 * writes it); returns the slot generation it belongs to.
 */
uint32_t
lb_shm_addr_read(const struct lb_shm_server *st, struct lb_shm_addr *out);
/*
 * Put A in the slot ST and give it a new generation. Only the health
 * checker calls it: one writer per slot.
 */
void lb_shm_addr_write(struct lb_shm_server *st, const struct lb_shm_addr *a);

/* Record the master's reload counts (carried over by the next reload). */
void lb_shm_set_reloads(struct lb_shm *, uint64_t ok, uint64_t failed);

/* A passive mark lasts this long when a route has no active checks. */
#define LB_SHM_PASSIVE_MS 10000

/*
 * Does ST take requests at NOW_MS: up by the active checks and not
 * passively marked down?
 */
bool lb_shm_server_usable(const struct lb_shm_server *st, int64_t now_ms);

/* Count one request that took US microseconds, for worker SLOT. */
void lb_shm_observe(struct lb_shm *, unsigned slot, int64_t us);
/* Upper bounds of the histogram buckets, in microseconds (+Inf after). */
extern const int64_t lb_shm_bucket_us[LB_SHM_BUCKETS];
/*
 * A snapshot of the histogram as Prometheus wants it: CUM[i] requests took
 * at most lb_shm_bucket_us[i], CUM[LB_SHM_BUCKETS] is every request (+Inf).
 * *SUM_US gets the sum of their durations. Returns the count (the +Inf
 * bucket). Concurrent requests may land between the reads: the buckets
 * agree with each other and with the count, the sum may be a little ahead.
 */
uint64_t lb_shm_histogram(const struct lb_shm *,
    uint64_t cum[LB_SHM_BUCKETS + 1], uint64_t *sum_us);

/* CLOCK_MONOTONIC in milliseconds, and in microseconds. */
int64_t lb_now_ms(void);
int64_t lb_now_us(void);
/* MS milliseconds as a struct timeval, for libevent's timeouts. */
void lb_tv_ms(struct timeval *tv, uint64_t ms);

#endif /* LB_SHM_H */

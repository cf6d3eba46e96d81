/*
 * common/ratelimit.h -- a rate limit's table of buckets, shared by every
 * process of a generation (and by the next generation when a reload
 * keeps the limit as it is).
 *
 * The generic cell rate algorithm (GCRA): a key's whole state is one
 * 64-bit word, its theoretical arrival time (TAT), the moment its bucket
 * is full again. A request at NOW passes when max(TAT, NOW) + T - NOW <=
 * BURST * T, T being the time one request is worth (the period over the
 * rate), and moves TAT there with one compare-and-swap: no lock, so two
 * workers cannot both spend the last token, and a worker that dies in
 * the middle leaves a word that is old or new, never torn.
 *
 * The table has a fixed number of slots (max_keys), a key word and a TAT
 * word each, found by open addressing over a short window. A key whose
 * TAT is past holds nothing (its bucket is full), so its slot is taken
 * over by the next new key that finds no free one; when none is free or
 * past, the new key passes unlimited and the table counts it (fail-open).
 */
#ifndef LB_RATELIMIT_H
#define LB_RATELIMIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct lb_rl_slot {
	_Atomic uint64_t key; /* 0: free; else the key's hash */
	_Atomic uint64_t tat; /* CLOCK_MONOTONIC ns; LB_RL_BUSY while the
				 slot changes hands */
};

struct lb_rl {
	uint64_t	  interval_ns; /* T: the time one request is worth */
	uint64_t	  tau_ns;      /* BURST * T */
	uint64_t	  seed;	       /* of the key hash */
	uint32_t	  n_slots;
	uint32_t	  refs; /* generations that use it; the master's */
	size_t		  size; /* of the mapping */
	_Atomic uint64_t  full; /* new keys that found no slot */
	struct lb_rl_slot slots[];
};

enum lb_rl_verdict {
	LB_RL_PASS = 0, /* within the limit */
	LB_RL_LIMITED,	/* over it */
	LB_RL_FULL,	/* a new key found no room: passes, counted */
};

/* common/ratelimit.c */

/*
 * Map a table of MAX_KEYS slots (1 or more) for a limit of COUNT
 * requests per PERIOD_MS with BURST (1 or more) at once; one reference.
 * SEED salts the key hash. NULL with errno set on failure.
 */
struct lb_rl *lb_rl_create(uint32_t max_keys, uint32_t count,
    uint32_t period_ms, uint32_t burst, uint64_t seed);
/* Take a reference, or drop one (the last unmaps the table). */
void lb_rl_hold(struct lb_rl *);
void lb_rl_release(struct lb_rl *);
/* The key of LEN bytes at DATA, prefixed by the byte KIND; never 0. */
uint64_t
lb_rl_key(const struct lb_rl *, int kind, const void *data, size_t len);
/*
 * Spend one request of KEY at NOW_NS (lb_rl_now_ns). When LIMITED,
 * *WAIT_NS (if not NULL) says how long until one would pass.
 */
enum lb_rl_verdict
lb_rl_take(struct lb_rl *, uint64_t key, uint64_t now_ns, uint64_t *wait_ns);
/* CLOCK_MONOTONIC in nanoseconds: the same clock in every process. */
uint64_t lb_rl_now_ns(void);

#endif /* LB_RATELIMIT_H */

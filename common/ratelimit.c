/*
 * common/ratelimit.c -- a rate limit's shared table of GCRA buckets (see
 * ratelimit.h).
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/ratelimit.h"

#define LB_RL_BUSY   UINT64_MAX /* a slot's TAT while it changes hands */
#define LB_RL_WINDOW 32		/* slots a key may sit in, from its hash */

struct lb_rl *
lb_rl_create(uint32_t max_keys, uint32_t count, uint32_t period_ms,
    uint32_t burst, uint64_t seed)
{
	struct lb_rl *rl;
	size_t	      size;
	void	     *p;

	if (max_keys == 0 || count == 0 || period_ms == 0 || burst == 0) {
		errno = EINVAL;
		return NULL;
	}
	size = sizeof(*rl) + (size_t)max_keys * sizeof(struct lb_rl_slot);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Zero pages: every slot free. */
	rl = p;
	rl->interval_ns = (uint64_t)period_ms * 1000000 / count;
	if (rl->interval_ns == 0)
		rl->interval_ns = 1;
	rl->tau_ns = rl->interval_ns * burst;
	rl->seed = seed;
	rl->n_slots = max_keys;
	rl->refs = 1;
	rl->size = size;
	return rl;
}

void
lb_rl_hold(struct lb_rl *rl)
{
	rl->refs++;
}

void
lb_rl_release(struct lb_rl *rl)
{
	if (rl != NULL && --rl->refs == 0)
		munmap(rl, rl->size);
}

uint64_t
lb_rl_key(const struct lb_rl *rl, int kind, const void *data, size_t len)
{
	const unsigned char *s = data;
	uint64_t	     h = 0xcbf29ce484222325ULL ^ rl->seed;

	/* FNV-1a, salted, then a 64-bit finalizer to spread the bits. */
	h = (h ^ (unsigned char)kind) * 0x100000001b3ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h != 0 ? h : 1;
}

uint64_t
lb_rl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The slot of KEY: its own, a free one claimed, or one whose bucket is
 * full again (TAT past) taken over. NULL when the window has none.
 */
static struct lb_rl_slot *
find(struct lb_rl *rl, uint64_t key, uint64_t now)
{
	struct lb_rl_slot *past = NULL;
	uint64_t	   past_tat = 0, k, t;
	size_t		   home = key % rl->n_slots;
	size_t n = rl->n_slots < LB_RL_WINDOW ? rl->n_slots : LB_RL_WINDOW;

	for (size_t i = 0; i < n; i++) {
		struct lb_rl_slot *s = &rl->slots[(home + i) % rl->n_slots];

		k = atomic_load(&s->key);
		if (k == key)
			return s;
		if (k == 0) {
			/* Free: ours, unless another key was quicker. */
			if (atomic_compare_exchange_strong(&s->key, &k, key) ||
			    k == key)
				return s;
			continue;
		}
		t = atomic_load(&s->tat);
		if (past == NULL && t != LB_RL_BUSY && t <= now) {
			past = s;
			past_tat = t;
		}
	}
	if (past == NULL)
		return NULL;
	/*
	 * Take the past slot over: BUSY first, so that its old key's users
	 * (who read the key before the TAT) fail their CAS and look again.
	 */
	if (!atomic_compare_exchange_strong(&past->tat, &past_tat, LB_RL_BUSY))
		return NULL;
	atomic_store(&past->key, key);
	atomic_store(&past->tat, 0);
	return past;
}

enum lb_rl_verdict
lb_rl_take(struct lb_rl *rl, uint64_t key, uint64_t now, uint64_t *wait_ns)
{
	struct lb_rl_slot *s = NULL;
	uint64_t	   t, from, next;

	for (int tries = 0; tries < 8; tries++) {
		if (s == NULL && (s = find(rl, key, now)) == NULL) {
			atomic_fetch_add_explicit(&rl->full, 1,
			    memory_order_relaxed);
			return LB_RL_FULL;
		}
		t = atomic_load(&s->tat);
		/* Changing hands, or no longer ours: look again. */
		if (t == LB_RL_BUSY || atomic_load(&s->key) != key) {
			s = NULL;
			continue;
		}
		from = t > now ? t : now;
		next = from + rl->interval_ns;
		if (next - now > rl->tau_ns) {
			if (wait_ns != NULL)
				*wait_ns = next - now - rl->tau_ns;
			return LB_RL_LIMITED;
		}
		if (atomic_compare_exchange_weak(&s->tat, &t, next))
			return LB_RL_PASS;
	}
	/* Contended past reason: let it pass rather than spin. */
	return LB_RL_PASS;
}

/*
 * common/rng.h -- the one pseudo-random generator of the workers and the
 * health checker: xorshift64*, small and fast, for spreading choices
 * (random balancing, probe start jitter, DNS query ids, which name server
 * to ask first). Not for secrets.
 */
#ifndef LB_RNG_H
#define LB_RNG_H

#include <stdint.h>

/* The next number of the sequence kept in *STATE, which must not be 0. */
static inline uint64_t
lb_rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

#endif /* LB_RNG_H */

/*
 * tests/fuzz/fuzz.h -- the fuzz harnesses' entry points.
 *
 * Each tests/fuzz/fuzz_NAME.c defines lb_fuzz_NAME(), which runs one input
 * through the code under test and abort()s (through fuzz_fail) when an
 * invariant does not hold. Built for libFuzzer (`make fuzz`, clang), a
 * harness also defines LLVMFuzzerTestOneInput as a call to it; built with
 * LB_FUZZ_REGRESS for tests/check_fuzz_regress, all of them live in one
 * program, which replays every saved input through the same functions.
 */
#ifndef LB_FUZZ_H
#define LB_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int lb_fuzz_config(const uint8_t *, size_t);
int lb_fuzz_uri(const uint8_t *, size_t);
int lb_fuzz_http(const uint8_t *, size_t);
int lb_fuzz_rules(const uint8_t *, size_t);
int lb_fuzz_reqscan(const uint8_t *, size_t);
int lb_fuzz_body(const uint8_t *, size_t);
int lb_fuzz_dns(const uint8_t *, size_t);
int lb_fuzz_proxyproto(const uint8_t *, size_t);

/* libFuzzer's entry point; each fuzzer binary has exactly one. */
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* An invariant is broken: say which, and crash so the input is kept. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz invariant failed: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#endif /* LB_FUZZ_H */

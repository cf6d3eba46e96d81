/*
 * tests/it_stream.c -- SPEC section 4 step 6, "responses are streamed": a
 * worker never holds a whole large body in memory, and a slow client
 * slows the read from the backend instead of filling memory.
 *
 * The proof is the worker's resident memory: a 1 GiB answer goes through
 * one worker (workers: 1) while the test reads VmRSS from
 * /proc/PID/status every 100 ms, and it must stay under RSS_LIMIT_KIB
 * whether the client reads as fast as it can or at 4 MiB/s. A worker that
 * buffered the body, or read the origin faster than the client takes it,
 * would pass the limit within a fraction of a second. tests/it_forward.c
 * covers the smaller cases (64 MiB bodies arriving whole, a client that
 * reads nothing, a client leaving mid-body).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/itcommon.h"

#define MIB	      (1024 * 1024)
#define GIB	      (1024ULL * MIB)
#define RSS_LIMIT_KIB (64 * 1024) /* the worker's VmRSS must stay below */
#define SAMPLE_MS     100	  /* how often VmRSS is read */
#define BIG_MS	      100000	  /* bound for one 1 GiB exchange */
#define SLOW_RATE     (4 * MIB)	  /* bytes/s the slow reader takes */
#define SLOW_MS	      3000	  /* how long it reads before leaving */
/*
 * lbt_pattern_crc32(GIB), computed once: the test's own CRC of what
 * arrives already costs seconds of CPU, and the machine has to move the
 * gigabyte meanwhile. Recompute it if tests/origin.c's pattern changes.
 */
#define GIB_PATTERN_CRC 0x45d95c5bU

/* ---------------------------------------------------------- helpers */

/* ---------------------------------------------------------- fast */

/*
 * A client reads a 1 GiB answer as fast as it can: it must arrive whole
 * and the worker's memory must stay bounded all along.
 */
static void
gib_to_fast_client(bool chunked)
{
	struct itc_sampler s;
	struct lbt_resp	   r;
	const char	  *raw;
	unsigned	   fruit;
	long long	   t0, took;
	pid_t		   o, w;
	int		   rc;
	struct itc_lb	   lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	w = itc_worker_of(lb.pid);
	raw = lbt_fmt("GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
		      "X-Test-Body: %llu\r\n%sConnection: close\r\n\r\n",
	    GIB, chunked ? "X-Test-Chunked: 1\r\n" : "");
	itc_sampler_start(&s, w, SAMPLE_MS);
	t0 = lbt_now_ms();
	rc = lbt_http_ex(NULL, lb.port, raw, strlen(raw), LBT_DISCARD, BIG_MS,
	    &r);
	took = lbt_now_ms() - t0;
	itc_sampler_stop(&s);
	ck_assert_msg(rc == 0,
	    "1 GiB answer: %s after %zu bytes and %lld ms "
	    "(worker %d, now %d); lbmaster: %s; origin: %s",
	    lbt_err_str(r.err), r.body_len, took, (int)w,
	    (int)itc_worker_of(lb.pid), lbt_log_tail(lb.pid, 1000),
	    lbt_log_tail(o, 500));

	ck_assert_int_eq(r.status, 200);
	ck_assert(r.chunked == chunked);
	if (!chunked)
		ck_assert_str_eq(lbt_header(&r, "Content-Length"),
		    lbt_fmt("%llu", GIB));
	ck_assert_uint_eq(r.body_len, GIB);
	ck_assert_msg(r.body_crc32 == GIB_PATTERN_CRC,
	    "1 GiB answer: CRC-32 "
	    "%08x, expected %08x",
	    (unsigned)r.body_crc32, GIB_PATTERN_CRC);
	ck_assert_msg(s.samples > 0, "VmRSS of worker %d could not be read",
	    (int)w);
	ck_assert_msg(s.max_kib < RSS_LIMIT_KIB,
	    "the worker's VmRSS reached "
	    "%ld KiB while passing on 1 GiB (%u samples, %lld ms)",
	    s.max_kib, s.samples, took);
	lbt_resp_free(&r);
	ck_assert_int_eq(itc_worker_of(lb.pid), w);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_1gib_answer_with_length_to_a_fast_client_in_bounded_memory)
{
	gib_to_fast_client(false);
}
END_TEST

START_TEST(test_1gib_chunked_answer_to_a_fast_client_in_bounded_memory)
{
	gib_to_fast_client(true);
}
END_TEST

/* ---------------------------------------------------------- slow */

/*
 * A client asks for 1 GiB and reads it at SLOW_RATE for SLOW_MS, then
 * leaves. The worker's memory stays bounded all along (so the origin was
 * read no faster than the client took it: 1 GiB cannot hide anywhere
 * else), what arrived is the start of the body, and the worker serves the
 * next client afterwards.
 */
static void
gib_to_slow_client(bool chunked)
{
	enum {
		PIECE = 64 * 1024
	};
	struct lbt_conn *c;
	struct lbt_resp	 r;
	char		*buf, *head_end;
	const char	*raw;
	size_t		 have = 0, quota;
	long long	 t0, tick, body = 0;
	long		 kib;
	unsigned	 fruit, samples = 0;
	uint32_t	 crc = 0;
	ssize_t		 n;
	pid_t		 o, w;
	struct itc_lb	 lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	w = itc_worker_of(lb.pid);
	raw = lbt_fmt("GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
		      "X-Test-Body: %llu\r\n%s\r\n",
	    GIB, chunked ? "X-Test-Chunked: 1\r\n" : "");
	ck_assert_ptr_nonnull(buf = malloc(PIECE + 1));
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, lb.port));
	lbt_conn_set_timeout(c, 5000);
	ck_assert_int_eq(lbt_conn_send(c, raw, strlen(raw)), 0);

	/* The head, and whatever body bytes came with it. */
	for (head_end = NULL; head_end == NULL; have += (size_t)n) {
		ck_assert_uint_lt(have, PIECE);
		n = lbt_conn_recv(c, buf + have, PIECE - have);
		ck_assert_msg(n > 0, "no answer: %s",
		    n == 0 ? "EOF" : strerror(errno));
		buf[have + (size_t)n] = '\0';
		head_end = strstr(buf, "\r\n\r\n");
	}
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
	    "the answer "
	    "begins with \"%.40s\"",
	    buf);
	ck_assert_msg(chunked ==
		(strstr(buf, "Transfer-Encoding: chunked") != NULL),
	    "head: %.*s", (int)(head_end - buf), buf);
	head_end += 4;
	body = (long long)(have - (size_t)(head_end - buf));
	crc = lbt_crc32(crc, head_end, (size_t)body);

	/* Each tick of SAMPLE_MS: read that tick's share, then VmRSS. */
	t0 = lbt_now_ms();
	for (tick = t0; tick - t0 < SLOW_MS; tick += SAMPLE_MS) {
		quota = (size_t)(SLOW_RATE / (1000 / SAMPLE_MS));
		while (quota > 0) {
			n = lbt_conn_recv(c, buf,
			    quota < PIECE ? quota : PIECE);
			ck_assert_msg(n > 0,
			    "the answer stopped after %lld "
			    "body bytes: %s",
			    body, n == 0 ? "EOF" : strerror(errno));
			crc = lbt_crc32(crc, buf, (size_t)n);
			body += n;
			quota -= (size_t)n;
		}
		if ((kib = itc_rss_kib(w)) >= 0)
			samples++;
		ck_assert_msg(kib < RSS_LIMIT_KIB,
		    "the worker's VmRSS reached "
		    "%ld KiB after %lld bytes to a client reading 4 MiB/s",
		    kib, body);
		if (lbt_now_ms() < tick + SAMPLE_MS)
			lbt_pause_ms((long)(tick + SAMPLE_MS - lbt_now_ms()));
	}
	lbt_conn_close(c);
	free(buf);
	/* No stall on the way, and the bytes are the body's first ones. */
	ck_assert_msg(body >= (long long)SLOW_RATE, "only %lld bytes in %d ms",
	    body, SLOW_MS);
	if (!chunked)
		ck_assert_msg(crc == lbt_pattern_crc32((uint64_t)body),
		    "the first %lld bytes are not the body's", body);
	ck_assert_uint_gt(samples, SLOW_MS / SAMPLE_MS / 2);

	/* The worker let the answer go and serves the next client. */
	ck_assert_int_eq(itc_get(lb.port, "www.fruit.com", "/v1", NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "This is V1");
	lbt_resp_free(&r);
	ck_assert_int_eq(itc_worker_of(lb.pid), w);
	ck_assert_msg(itc_rss_kib(w) < RSS_LIMIT_KIB,
	    "VmRSS %ld KiB afterwards", itc_rss_kib(w));
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}

START_TEST(test_1gib_answer_to_a_slow_reader_keeps_the_worker_memory_bounded)
{
	gib_to_slow_client(false);
}
END_TEST

START_TEST(test_1gib_chunked_answer_to_a_slow_reader_keeps_memory_bounded)
{
	gib_to_slow_client(true);
}
END_TEST

/* ----------------------------------------------------- streaming */

/*
 * The origin announces 1 GiB, sends the head and the first MiB, and
 * closes: it never finishes. A proxy that waited for the whole body
 * would have nothing to give but a 502; a streaming one has already
 * passed on the head and body bytes, and can only cut the connection.
 */
START_TEST(test_head_and_first_bytes_arrive_before_the_origin_finishes)
{
	static const char
			req[] = "GET /big HTTP/1.1\r\nHost: www.fruit.com\r\n"
				"X-Test-Body: 1073741824\r\nX-Test-Fault: partial\r\n"
				"Connection: close\r\n\r\n";
	struct lbt_resp r;
	unsigned	fruit;
	pid_t		o;
	struct itc_lb	lb;

	o = itc_origin("fruit", &fruit, NULL);
	itc_fruit_start(&lb, 1, "", lbt_fmt("127.0.0.1:%u", fruit));
	ck_assert_int_eq(lbt_http_ex(NULL, lb.port, req, strlen(req),
			     LBT_DISCARD, 20000, &r),
	    -1);
	ck_assert_msg(r.err == LBT_EEOF || r.err == LBT_ERESET,
	    "a cut answer ended with: %s", lbt_err_str(r.err));
	ck_assert_msg(r.status == 200,
	    "status %d: the head was not passed "
	    "on before the body ended; got %.200s",
	    r.status, r.raw);
	ck_assert_str_eq(lbt_header(&r, "Content-Length"), "1073741824");
	ck_assert_msg(r.body_len > 0 && r.body_len <= MIB,
	    "%zu body bytes "
	    "of the 1 MiB the origin sent",
	    r.body_len);
	ck_assert_uint_eq(r.body_crc32, lbt_pattern_crc32(r.body_len));
	lbt_resp_free(&r);
	ck_assert_int_eq(lbt_origin_stat(fruit, "requests"), 1);
	itc_lb_stop(&lb);
	ck_assert_int_eq(lbt_stop(o), 0);
}
END_TEST

static Suite *
stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc;

	tc = lbt_tcase("memory");
	/* 1 GiB each: far more than CK_DEFAULT_TIMEOUT on a slow machine. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    test_1gib_answer_with_length_to_a_fast_client_in_bounded_memory);
	tcase_add_test(tc,
	    test_1gib_chunked_answer_to_a_fast_client_in_bounded_memory);
	tcase_add_test(tc,
	    test_1gib_answer_to_a_slow_reader_keeps_the_worker_memory_bounded);
	tcase_add_test(tc,
	    test_1gib_chunked_answer_to_a_slow_reader_keeps_memory_bounded);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("streaming");
	tcase_add_test(tc,
	    test_head_and_first_bytes_arrive_before_the_origin_finishes);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner	   *sr = srunner_create(stream_suite());
	const char *asan = getenv("ASAN_OPTIONS");
	char	    opts[1024];
	int	    failed;

	/*
	 * Under AddressSanitizer freed memory waits in a quarantine (256 MB
	 * by default) before it is reused, which is RSS that lbmaster does not
	 * hold. A small quarantine keeps the 64 MiB bound meaningful in the
	 * sanitizer build too; lbmaster, spawned by the harness, inherits it.
	 */
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=8",
	    asan != NULL ? asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	if (setenv("ASAN_OPTIONS", opts, 1) == -1)
		return EXIT_FAILURE;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

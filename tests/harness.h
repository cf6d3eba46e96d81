/*
 * tests/harness.h -- what every integration test uses (prefix lbt_).
 *
 * An integration test starts real processes (tests/origin, lbmaster) on
 * ports the kernel chose, talks to them over raw sockets and asserts on
 * what a client and an origin observe. Conventions:
 *
 * - Build each TCase with lbt_tcase(): its checked fixture gives every
 *   test (a forked child) a temp dir of its own, frees what the harness
 *   handed out and, at the end, fails the test if a process it started
 *   is still running -- every process must be stopped with lbt_stop() by
 *   pid on the success path. The temp dir (config files, one log per
 *   process) is removed when the test passes and kept when it fails, so
 *   its path in a failure message is worth opening. LBT_KEEP=1 keeps it
 *   always.
 * - Children get PR_SET_PDEATHSIG(SIGKILL): a failed Check assertion
 *   _exit()s the test process, and that is what stops its children then.
 * - Functions that cannot go on (a process that does not start, a missing
 *   environment variable, no memory) fail the test themselves with the
 *   cause and the tail of the process's log. Functions that report what a
 *   peer did (lbt_http...) return -1 and say why in the result instead,
 *   since that is often what the test asserts on.
 * - Strings a function returns as "harness-owned" stay valid until the
 *   test ends; do not free them. Everything else says who frees it.
 * - $LBMASTER, $LB_ORIGIN and $LB_FIXTURES come from `make check`
 *   (AM_TESTS_ENVIRONMENT in Makefile.am).
 */
#ifndef LBT_HARNESS_H
#define LBT_HARNESS_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

/* Bounds, in milliseconds, used where a call takes none. */
#define LBT_START_MS 20000 /* a process must accept within this */
#define LBT_STOP_MS  10000 /* SIGTERM to exit, before SIGKILL */
#define LBT_IO_MS    10000 /* one HTTP exchange */

/* ------------------------------------------------------------ tests */

/* A TCase with the harness's checked fixture (see above). */
TCase *lbt_tcase(const char *name);
/* The fixture itself, for a TCase built by hand. */
void lbt_setup(void);
void lbt_teardown(void);

/* This test's temp dir (made on first use). Harness-owned. */
const char *lbt_tmpdir(void);
/* NAME inside the temp dir. Harness-owned. */
const char *lbt_path(const char *name);
/* printf into a harness-owned string. */
char *lbt_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* $LB_FIXTURES/NAME (fails the test when $LB_FIXTURES is unset). */
const char *lbt_fixture(const char *name);

/*
 * Write TEXT to PATH, or to NAME in the temp dir when there is no '/' in
 * it, replacing the file atomically (a process reloading it never reads
 * half). Returns the path, harness-owned. Fails the test on error.
 */
const char *lbt_write_file(const char *path_or_name, const char *text);
/* The whole file, NUL-terminated, harness-owned; NULL with errno if it
 * cannot be read. *LEN (if not NULL) gets its length. */
char *lbt_read_file(const char *path, size_t *len);

/* CLOCK_MONOTONIC in milliseconds. */
long long lbt_now_ms(void);
/*
 * Let MS pass. For a scenario that needs time to go by (a trickle, an
 * idle tunnel), never to wait for a condition (lbt_wait_for is for that).
 * Uses nothing else of the harness: a thread of the test may call it.
 */
void lbt_pause_ms(long ms);

/* Call COND(ARG) every few ms until it returns true (then true) or
 * TIMEOUT_MS pass (then false). */
bool lbt_wait_for(bool (*cond)(void *), void *arg, int timeout_ms);

/* ------------------------------------------------------------ ports */

/*
 * A port of 127.0.0.1 reserved for the test until its teardown: a server
 * that binds it with SO_REUSEADDR (lbmaster, the origin) can, and nobody
 * else's bind(0) or connect() takes it meanwhile. A connection to it is
 * refused until a server listens.
 */
unsigned lbt_free_port(void);
/*
 * A socket listening on a fresh port of 127.0.0.1 (the port in *PORT), to
 * hold an address that lbmaster must find taken. The caller closes it.
 */
int lbt_hold_port(unsigned *port);
/* Whether 127.0.0.1:PORT can be bound by a server right now. */
bool lbt_port_is_free(unsigned port);
/* Whether HOST:PORT accepts a TCP connection (HOST numeric or a name). */
bool lbt_port_accepts(const char *host, unsigned port);

/* -------------------------------------------------------- processes */

/*
 * Start ARGV (argv[0] a path) with stdout and stderr going to NAME.log in
 * the temp dir (NAME-2.log... when taken) and stdin from /dev/null.
 * Returns the pid; fails the test if fork fails.
 */
pid_t lbt_spawn(const char *name, const char *const argv[]);
/* The log of a process the harness started, harness-owned, or NULL. */
const char *lbt_log_path(pid_t);
/* The last MAX bytes of that log, harness-owned ("" when none). */
const char *lbt_log_tail(pid_t, size_t max);

/*
 * Wait until HOST:PORT accepts, failing the test (with PID's log tail)
 * if PID exits first or TIMEOUT_MS pass.
 */
void lbt_wait_port(pid_t pid, const char *host, unsigned port, int timeout_ms);

/*
 * Start $LB_ORIGIN --name NAME --listen 127.0.0.1:*PORT [EXTRA...] and
 * wait until it accepts. *PORT 0 lets the kernel choose (via the origin's
 * --port-file) and gets the port back. EXTRA is NULL or NULL-terminated,
 * e.g. (const char *[]){ "--mode", "slow:100", NULL }.
 */
pid_t
lbt_origin_start(const char *name, unsigned *port, const char *const extra[]);
/* The same on HOST ("127.0.0.2", "::1", "localhost": every address). */
pid_t lbt_origin_start_at(const char *name, const char *host, unsigned *port,
    const char *const extra[]);
/* GET /__stats of the origin on 127.0.0.1:PORT and return FIELD
 * ("connections", "requests", "health_probes", "open_connections"). */
long long lbt_origin_stat(unsigned port, const char *field);
/* POST /__control?health=ok|fail. Fails the test if it is not 200. */
void lbt_origin_health(unsigned port, bool ok);

/*
 * Write YAML to lbmaster.yaml in the temp dir (lbmaster-2.yaml... for
 * later ones; lbt_write_file on that name and SIGHUP is a reload), start
 * $LBMASTER -f -c FILE and wait until 127.0.0.1:LISTEN_PORT accepts.
 */
pid_t lbt_lbmaster_start(const char *yaml, unsigned listen_port);
/* The same with a config file used as it is. EXTRA as above. */
pid_t lbt_lbmaster_start_file(const char *path, unsigned listen_port,
    const char *const extra[]);

/*
 * Run ARGV to completion (at most TIMEOUT_MS, else the test fails) and
 * return its exit code, 128+N if signal N killed it. *OUTPUT (if not
 * NULL) gets stdout and stderr together, harness-owned.
 */
int lbt_run(const char *const argv[], int timeout_ms, char **output);
/* Send SIG to PID. Fails the test if that is impossible. */
void lbt_signal(pid_t pid, int sig);
/*
 * Wait up to TIMEOUT_MS for PID (a child) to exit by itself. Returns its
 * exit code (128+N for signal N), or -1 if it is still running.
 */
int lbt_wait_exit(pid_t pid, int timeout_ms);
/*
 * SIGTERM, wait up to LBT_STOP_MS, then SIGKILL. Returns the exit code
 * (128+N for signal N), or -1 when SIGKILL was needed.
 */
int lbt_stop(pid_t pid);

/* ------------------------------------------------------------- HTTP */

enum lbt_err {
	LBT_OK,
	LBT_ECONNECT, /* connect (or bind to src_ip) failed */
	LBT_ESEND,    /* the request could not be sent */
	LBT_ETIMEOUT, /* no complete response in time */
	LBT_ERESET,   /* connection reset (RST) */
	LBT_EEOF,     /* closed before a complete response */
	LBT_EPARSE    /* bytes that are not an HTTP response */
};

/* Flags for lbt_http_ex and lbt_conn_response. */
#define LBT_HEAD     0x01 /* the response has no body (HEAD request) */
#define LBT_DISCARD  0x02 /* count and checksum the body, keep none */
#define LBT_KEEP_1XX 0x04 /* return a 1xx response instead of skipping */

struct lbt_header {
	char *name;  /* owned by the lbt_resp */
	char *value; /* owned; spaces around it trimmed */
};

/* One response. lbt_resp_free releases what it holds. */
struct lbt_resp {
	enum lbt_err	   err;
	int		   status;  /* 0 until a status line was read */
	int		   minor;   /* HTTP/1.MINOR */
	char		  *reason;  /* owned */
	struct lbt_header *headers; /* owned, in arrival order */
	size_t		   nheaders;
	char		  *body;       /* owned, NUL-terminated; NULL with
					 * LBT_DISCARD */
	size_t		   body_len;   /* bytes of body received */
	uint32_t	   body_crc32; /* CRC-32 of those bytes */
	bool		   chunked;    /* the body came chunked */
	char		  *raw;	       /* owned: the first bytes received for
					 * it (64 KiB at most), for messages */
	size_t		   raw_len;
};

/*
 * Send the LEN bytes of RAW, as given, to 127.0.0.1:PORT (to ::1 when
 * SRC_IP is an IPv6 address) from SRC_IP (NULL: any; "127.0.0.2" puts
 * the client there) and read one response, in at most LBT_IO_MS. A HEAD
 * request is recognised from RAW. Returns 0 when a whole response was
 * read; otherwise -1, with R->err saying why and R holding what came.
 * Either way call lbt_resp_free(R).
 */
int lbt_http(const char *src_ip, unsigned port, const char *raw, size_t len,
    struct lbt_resp *r);
/* The same with LBT_* FLAGS and a bound of TIMEOUT_MS. */
int lbt_http_ex(const char *src_ip, unsigned port, const char *raw, size_t len,
    int flags, int timeout_ms, struct lbt_resp *r);
/* lbt_http of the printf-formatted request, from any address. */
int lbt_httpf(unsigned port, struct lbt_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void lbt_resp_free(struct lbt_resp *r);
/* The first value of header NAME (any case), or NULL. */
const char *lbt_header(const struct lbt_resp *r, const char *name);
/* How many times header NAME came; the Nth (from 0) value or NULL. */
size_t lbt_header_count(const struct lbt_resp *r, const char *name);
const char *
lbt_header_nth(const struct lbt_resp *r, const char *name, size_t n);
/* "reset", "timeout"... for messages. */
const char *lbt_err_str(enum lbt_err);

/*
 * A client connection kept open across requests (keep-alive,
 * pipelining, slow readers, half-sent requests).
 */
struct lbt_conn;

/* Connect as lbt_http does. NULL (errno set) if connect fails. Free with
 * lbt_conn_close. */
struct lbt_conn *lbt_conn_open(const char *src_ip, unsigned port);
/* The same to DST_IP instead of the loopback address. */
struct lbt_conn *
lbt_conn_open_to(const char *src_ip, const char *dst_ip, unsigned port);
/* The bound for each later call (default LBT_IO_MS). */
void lbt_conn_set_timeout(struct lbt_conn *, int timeout_ms);
/* Send all LEN bytes. 0, or -1 with errno. */
int lbt_conn_send(struct lbt_conn *, const void *, size_t);
/* Read one response (bytes past it stay buffered for the next one). */
int lbt_conn_response(struct lbt_conn *, int flags, struct lbt_resp *r);
/* Send RAW and read its response (HEAD recognised). */
int lbt_conn_request(struct lbt_conn *, const char *raw, size_t len,
    struct lbt_resp *r);
/* Raw bytes, buffered ones first: >0 read, 0 EOF, -1 error or timeout. */
ssize_t lbt_conn_recv(struct lbt_conn *, void *buf, size_t len);
/* Whether the peer closes (EOF or RST) within TIMEOUT_MS; data that
 * arrives meanwhile is discarded. */
bool lbt_conn_wait_closed(struct lbt_conn *, int timeout_ms);
int  lbt_conn_fd(const struct lbt_conn *);
void lbt_conn_close(struct lbt_conn *);

/* ------------------------------------------------------------- JSON */

/*
 * Just enough JSON for the origin's answers. KEY names a member of the
 * top-level object, or a dotted path into nested objects
 * ("headers.X-Forwarded-For"). Returned strings are harness-owned.
 */
/* The string's decoded value; NULL when missing, null or not a string. */
const char *lbt_json_str(const char *json, const char *key);
/* The integer; LLONG_MIN when missing or not an integer. */
long long lbt_json_int(const char *json, const char *key);
/* The value's JSON text as it is (e.g. "[\"a\", \"b\"]", "null"); NULL
 * when missing. */
const char *lbt_json_raw(const char *json, const char *key);

/* ---------------------------------------------------------- bodies */

/* CRC-32 (IEEE, as zlib's crc32) continued from CRC; start with 0. */
uint32_t lbt_crc32(uint32_t crc, const void *, size_t);
/* The origin's body pattern (X-Test-Body) from offset OFF. */
void lbt_pattern_fill(void *buf, uint64_t off, size_t len);
/* CRC-32 of the first LEN bytes of the pattern. */
uint32_t lbt_pattern_crc32(uint64_t len);

#endif /* LBT_HARNESS_H */

/*
 * common/reqscan.h -- a strict scanner of the bytes clients send.
 *
 * The worker's client side (worker/client.c) runs every byte of a request
 * head through this scanner as it arrives. It follows the message framing
 * of RFC 9112 and refuses anything that is not unambiguous (bare LF, obs-
 * fold, white space before a colon, controls, two different
 * Content-Lengths, Content-Length with Transfer-Encoding, codings other
 * than chunked), so that lbmaster and any server behind it can never
 * disagree about where a request ends (request smuggling), and it bounds
 * a head's size (431) without keeping more than one short line of it.
 */
#ifndef LB_REQSCAN_H
#define LB_REQSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/body.h"

/*
 * Bytes of a line kept for parsing: enough for a field name and a
 * Content-Length, Transfer-Encoding or chunk-size value. The request line
 * is checked as it streams past and never kept, so this bounds the memory
 * a connection costs whatever its URL.
 */
#define LB_SCAN_LINE 256
/*
 * Fields a head may have (431 past it), besides limits.max_header_size:
 * it bounds the table of fields a head is parsed into (worker/client.c),
 * 32 bytes of it per field. Far more than any client sends: the many
 * cookies and tracing headers of a browser behind several proxies come
 * to a few dozen.
 */
#define LB_SCAN_MAX_HEADERS 1000

enum lb_scan_wait {
	LB_SCAN_IDLE = 0, /* between requests */
	LB_SCAN_HEAD,	  /* inside a request head */
	LB_SCAN_BODY,	  /* inside a request body */
};

struct lb_reqscan {
	int	      phase;	  /* private */
	uint64_t      max_head;	  /* bytes a head may have (431 past it) */
	uint64_t      head_bytes; /* of the head in progress */
	unsigned      n_headers;
	char	      line[LB_SCAN_LINE]; /* start of the current line */
	size_t	      line_len;		  /* its length so far (may exceed) */
	bool	      line_cut;		  /* bytes past `line` other than white
					     space */
	bool	      cr;		  /* the previous byte was CR */
	bool	      http10;		  /* the request is HTTP/1.0 */
	unsigned char rl_part;		  /* request line: 0 method, 1 target,
					   2 version */
	size_t	      rl_len;		  /* bytes of that part so far */
	char	      version[8];	  /* "HTTP/1.1" */
	/*
	 * For the log and the counts of a head refused before it was
	 * whole: its method and first Host value, when they fit (else
	 * empty), NUL-terminated.
	 */
	char	       method[16];
	char	       host[LB_SCAN_LINE];
	unsigned       n_cl, n_te;
	uint64_t       cl;
	bool	       chunked;
	struct lb_body body;	      /* lb_reqscan_feed: the body's framing */
	unsigned       serial;	      /* +1 whenever a head or a body begins */
	uint64_t       requests;      /* complete requests seen */
	bool	       head_complete; /* lb_reqscan_head found the end */
};

/* common/reqscan.c */

void lb_reqscan_init(struct lb_reqscan *, uint64_t max_head);
/*
 * Scan the next N bytes of the connection: each head with this scanner,
 * each body with common/body.c's decoder, composed as worker/client.c
 * composes them (which reads a head with lb_reqscan_head, then its body
 * as it streams). For the tests and the fuzzer. Returns 0, or the status to
 * answer before closing: 400 (malformed, or ambiguous framing) or 431
 * (a head larger than max_head, or with too many fields). After an error
 * the scanner stays failed.
 */
int lb_reqscan_feed(struct lb_reqscan *, const char *p, size_t n);
/*
 * Scan the next N bytes of a request head and stop at its end. Returns
 * 0 or the status to answer (as lb_reqscan_feed). When head_complete is
 * then set, *USED bytes of P completed the head; the scanner is left
 * between requests, its fields (cl, chunked, http10, n_headers) telling
 * the head's framing, and the body is the caller's to frame. Otherwise
 * *USED is N: give it the next bytes.
 */
int lb_reqscan_head(struct lb_reqscan *, const char *p, size_t n, size_t *used);
/* Is a head or a body in progress (for deadlines)? */
enum lb_scan_wait lb_reqscan_waiting(const struct lb_reqscan *);

#endif /* LB_REQSCAN_H */

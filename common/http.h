/*
 * common/http.h -- the little HTTP/1.1 parsing lbmaster does itself: the
 * head of a backend's response, chunk sizes and Content-Length values.
 * common/reqscan.c frames what clients send; these parse what origins
 * send, strictly enough that a confused origin yields a 502, never a
 * smuggled response.
 */
#ifndef LB_HTTP_H
#define LB_HTTP_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Points into the parsed buffer. */
struct lb_http_header {
	const char *name;
	size_t	    name_len;
	const char *value; /* without surrounding white space */
	size_t	    value_len;
};

struct lb_http_response {
	unsigned    minor;  /* HTTP/1.minor */
	unsigned    status; /* 100-999 */
	const char *reason;
	size_t	    reason_len;
	size_t	    n_headers;
};

/* Fields a caller's table on the stack holds; more go to the heap. */
#define LB_HTTP_MAX_HEADERS 128

/* common/http.c */

/*
 * Parse a response head from BUF (LEN bytes so far), lines ending in CRLF
 * or LF. Returns the length of the head including its blank line, 0 if more
 * bytes are needed, or -1 if it is not a valid HTTP/1.x response head (or
 * has obsolete line folding, or more than MAX fields to store in HDRS).
 * With HDRS NULL the fields are checked and counted (resp->n_headers),
 * not stored, and MAX does not apply: a caller learns how large a table
 * a head needs.
 */
ssize_t lb_http_parse_response(const char *buf, size_t len,
    struct lb_http_response *resp, struct lb_http_header *hdrs, size_t max);
/*
 * A chunk-size line without its line ending: 1*HEXDIG [chunk-ext], the
 * extensions as lb_http_chunk_ext_feed takes them. 0 or -1 (no digits,
 * overflow, anything else); *size is written only on success.
 */
int lb_http_parse_chunk_size(const char *line, size_t len, uint64_t *size);
/*
 * The chunk extensions after a chunk size's digits, for a caller that sees
 * the line in pieces and cannot keep it (RFC 9112 section 7.1.1):
 *
 *	*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 *
 * Start from LB_HTTP_EXT_START and feed the bytes that follow the digits,
 * split anywhere; each call returns the new state, or -1 once the bytes
 * can no longer begin a chunk-ext (it stays -1). lb_http_chunk_ext_end
 * says whether the line may end in STATE: not after white space, a ";" or
 * an "=", nor inside a quoted string.
 */
#define LB_HTTP_EXT_START 0
int  lb_http_chunk_ext_feed(int state, const char *p, size_t n);
bool lb_http_chunk_ext_end(int state);
/*
 * A Content-Length value: digits, or a list of identical values ("5, 5").
 * 0 or -1 (empty, sign, overflow, differing values).
 */
int lb_http_parse_content_length(const char *value, size_t len, uint64_t *out);
/* RFC 9110 token characters only, at least one. */
bool lb_http_is_token(const char *s, size_t len);
/*
 * The headers lbmaster manages: one list (common/http.c) for the config
 * check, the forwarded request head (worker/rules.c) and the hop-by-hop
 * filter of both directions. A header may be several of these.
 */
#define LB_HTTP_HOP \
	0x01 /* hop-by-hop (RFC 9110 section 7.6.1, plus
				Proxy-Connection and Keep-Alive): a peer's
				is never forwarded */
#define LB_HTTP_FRAMING \
	0x02 /* framing, connection or expectation:
				lbmaster alone writes it, and header_rules
				may neither add nor remove it */
#define LB_HTTP_OURS \
	0x04 /* lbmaster sends its own value (Host and
				X-Forwarded-*): header_rules.add replaces
				it, header_rules.remove drops it (Host
				becomes the server's name) */
/* Which of the LB_HTTP_* NAME is, case-insensitively; 0 for none. */
unsigned lb_http_managed(const char *name);
/* The same for the LEN bytes at NAME, which need no NUL. */
unsigned lb_http_managed_n(const char *name, size_t len);
/* Is NAME hop-by-hop (LB_HTTP_HOP)? Case-insensitive. */
bool lb_http_is_hop_by_hop(const char *name);
/* The same for the LEN bytes at NAME, which need no NUL. */
bool lb_http_is_hop_by_hop_n(const char *name, size_t len);
/*
 * Does the comma-separated header VALUE list TOKEN (case-insensitive)?
 * "keep-alive, Upgrade" lists "upgrade".
 */
bool lb_http_list_has(const char *value, const char *token);
/* The same for LEN bytes of VALUE and TLEN of TOKEN, which need no NUL. */
bool lb_http_list_has_n(const char *value, size_t len, const char *token,
    size_t tlen);

#endif /* LB_HTTP_H */

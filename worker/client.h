/*
 * worker/client.h -- lbmaster's own HTTP/1.1 server connection.
 *
 * One module owns a client connection from accept to close: it reads the
 * request head through the strict scanner (common/reqscan.h), parses it,
 * hands it to the proxy (worker/proxy.h) as an exchange, streams the
 * request body to it on demand, writes the answer the proxy gives back,
 * keeps the connection alive or closes it (lingering after an error), and
 * turns it into a byte tunnel after a 101. Nobody else reads or writes the
 * socket or frees the record.
 */
#ifndef LB_CLIENT_H
#define LB_CLIENT_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/addr.h"
#include "common/body.h"
#include "common/http.h"
#include "config/config.h"

struct lb_clients;
struct lb_client;
struct lb_conn;
struct lb_proxy;

/*
 * A request head as the client sent it. Everything points into storage
 * that lives until the exchange ends (lb_client_end, lb_client_abort or
 * the ops' gone).
 */
struct lb_request {
	struct lb_client      *client;
	const char	      *method; /* NUL-terminated */
	size_t		       method_len;
	const char	      *target; /* NUL-terminated, as received */
	size_t		       target_len;
	unsigned	       minor; /* HTTP/1.minor */
	struct lb_http_header *hdrs;  /* in the order received */
	size_t		       n_hdrs;
	const char	      *host; /* the Host field's value, NUL-terminated,
					or NULL */
	enum lb_body_framing   body; /* NONE, LENGTH or CHUNKED */
	uint64_t	       body_len; /* with LENGTH */
	bool		       expect_continue;
	bool		       upgrade; /* Connection: upgrade and an
					   Upgrade other than h2c */
	const struct sockaddr *peer;
	const char	      *client_ip; /* "192.0.2.1" */
	int64_t		       start_us;  /* first byte of the head */

	/*
	 * On a TLS connection, else NULL: "TLSv1.3", the SNI asked for, the
	 * subject of the client's verified certificate.
	 */
	const char *tls;
	const char *sni;
	const char *client_subject;
	unsigned    retry_after; /* a 429's Retry-After, in seconds */
	/* The request's ID (request_id), sent to the origin and the client
	   under the header REQUEST_ID_NAME; NULL when off. */
	const char *hop_ip; /* the connection's client (socket, PROXY
			       header): what X-Forwarded-For appends */
	const char *request_id_name;
	const char *request_id; /* the client's value, or rid */
	char	    rid[33];	/* one made for it: 128 bits, hex */
};

/* What the client side tells the exchange bound to it. */
struct lb_client_ops {
	/* Body bytes wait (lb_client_body_take), or the body is complete. */
	void (*body)(void *x);
	/* The output written to the client fell below the low-water mark. */
	void (*drained)(void *x);
	/*
	 * The client went away (STATUS 0), or its body was malformed, too
	 * large or too slow (400, 413 or 408), or shutdown_timeout cut the
	 * request (503): the client side answers STATUS itself if nothing
	 * was answered yet. Called from the
	 * client's own events, never from inside an lb_client_* call: a
	 * client that dies during one is marked, later calls do nothing,
	 * and this comes on the same loop turn. The exchange must let go:
	 * no more calls with this client.
	 */
	void (*gone)(void *x, int status);
};

/* Output past this is not written yet: the exchange should wait. */
#define LB_CLIENT_HIGH_WATER (256 * 1024)

/* worker/client.c */

/*
 * The client connections of one worker, served from the listening
 * sockets added with lb_clients_listen. Complete request heads go to
 * lb_proxy_request(PX). NULL on ENOMEM.
 */
struct lb_clients *
lb_clients_new(struct event_base *, const struct lb_cfg *, struct lb_proxy *px);
/*
 * Hold the listening socket FD (inherited; closed by lb_clients_free or
 * lb_clients_drain), accepting on it if SERVE. Returns its index for
 * lb_clients_serve, or -1.
 */
int lb_clients_listen(struct lb_clients *, int fd, bool serve);
/* Accept on listener I, or stop (what is queued on it stays queued). */
void lb_clients_serve(struct lb_clients *, size_t i, bool serve);
/*
 * Stop accepting, close the listening sockets. Idle keep-alive clients
 * get one more request at most, answered with Connection: close, and are
 * closed at lb_clients_close_idle.
 */
void lb_clients_drain(struct lb_clients *);
/* Close every connection that has nothing in flight. */
void lb_clients_close_idle(struct lb_clients *);
/*
 * shutdown_timeout: every request still waiting for its answer gets 503
 * (counted and logged as such) and its connection is closed. Answers
 * under way are left to lb_clients_free, which cuts them.
 */
void lb_clients_cut(struct lb_clients *);
/* Close everything. */
void lb_clients_free(struct lb_clients *);
/* Connections open now. */
unsigned lb_clients_count(const struct lb_clients *);

/* Bind the exchange X to the request in progress on C. */
void
lb_client_bind(struct lb_client *c, const struct lb_client_ops *ops, void *x);
/*
 * Move up to MAX bytes of request body (decoded) to DST, chunk-framed
 * when CHUNKED. Returns the bytes moved (0: none waiting now).
 */
size_t lb_client_body_take(struct lb_client *c, struct evbuffer *dst,
    size_t max, bool chunked);
/* Has the whole request body been taken? */
bool lb_client_body_done(const struct lb_client *c);
/*
 * Tell the client to send its body (Expect: 100-continue): writes
 * "100 Continue" once, and only if the client asked for it.
 */
void lb_client_continue(struct lb_client *c);

/*
 * Start the answer: the status line, with the client's HTTP version.
 * Returns the buffer to add header lines to ("Name: value\r\n"), then
 * call lb_client_head_end. BODY says how the answer's body is delimited
 * as the origin sends it: NONE (HEAD, 204, 304), LENGTH (a Content-Length
 * line was added), or CLOSE (unknown: chunked to an HTTP/1.1 client,
 * until close to 1.0). HAVE_DATE: a Date line was added. Whether the
 * connection stays open is the client side's to decide.
 */
struct evbuffer *lb_client_head_begin(struct lb_client *c, int status,
    const char *reason, size_t reason_len);
void lb_client_head_end(struct lb_client *c, enum lb_body_framing body,
    bool have_date);
/* The head of a 101: the origin's fields as they are, and no others. */
void lb_client_head_end_tunnel(struct lb_client *c);
/* The reason phrase lbmaster writes for STATUS. */
const char *lb_client_reason(int status);
/* The text (then a newline) of lbmaster's own answer STATUS. */
const char *lb_client_reply_text(int status);
/* N body bytes from SRC, framed as the head said; written at once
 * unless LAST (lb_client_end writes those). */
void
lb_client_send(struct lb_client *c, struct evbuffer *src, size_t n, bool last);
/* Bytes of the answer not yet written to the socket. */
size_t lb_client_pending(const struct lb_client *c);
/*
 * May body bytes go to the client's socket straight from a pipe? Only on
 * a plain connection, with nothing else waiting to be written before them
 * and the body not re-framed as chunks.
 */
bool lb_client_can_splice(const struct lb_client *c);
/*
 * Move up to LEN bytes from PIPE_FD to the client's socket (splice(2)).
 * Returns the bytes moved; when fewer than LEN (0 included), ops->drained
 * follows once the socket takes more (bounded by the keep-alive timeout);
 * -1 when the client is done for (ops->gone follows, as for
 * lb_client_send).
 */
ssize_t lb_client_splice(struct lb_client *c, int pipe_fd, size_t len);
/* The answer is complete: the exchange lets go. */
void lb_client_end(struct lb_client *c);
/* The answer cannot be completed: close so that it shows truncated. */
void lb_client_abort(struct lb_client *c);
/*
 * A whole answer of our own, STATUS with a plain-text body, and the
 * exchange (if any) lets go. CLOSE: close the connection after it.
 */
void lb_client_reply(struct lb_client *c, int status, bool close);
/*
 * The origin switched protocols: the 101 head is in the client's output
 * already (lb_client_head_begin/_end with NONE); from now on bytes pass
 * both ways between C and ORIGIN (whose callback this takes over) until
 * one side closes. The exchange lets go; C owns ORIGIN.
 */
void lb_client_tunnel(struct lb_client *c, struct lb_conn *origin);

#endif /* LB_CLIENT_H */

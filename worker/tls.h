/*
 * worker/tls.h -- TLS for the client side: the contexts of a listener's
 * certificates, the pick by SNI, and a transport that reads and writes
 * an SSL as the plain code reads and writes a socket.
 *
 * The contexts are built by the master from a generation's config before
 * it forks (lb_tls_build), so that a bad certificate fails -t, start-up
 * and a reload, never a worker; the workers inherit them. They live as
 * long as the config that holds them: a connection's SSL holds its own
 * reference, so one that is open across a reload keeps its certificate.
 */
#ifndef LB_TLS_H
#define LB_TLS_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/ssl.h>

#include "common/str.h"
#include "config/config.h"

/* worker/tls.c */

/*
 * Build the contexts of every TLS listener of CFG (tls->ctx), reading
 * every certificate and key. 0, or -1 with ERR holding
 * "FILE:LINE:COL: listen[1].tls.certificates[0].key: reason": the
 * position of the cert, key or ciphers at fault, and OpenSSL's reason.
 */
int lb_tls_build(struct lb_cfg *cfg, char *err, size_t errlen);
/*
 * For each certificate of CFG (built) that has expired or expires within
 * DAYS days of NOW, call WARN with one line "FILE:LINE:COL: WHERE:
 * certificate ... expires ...". Returns how many.
 */
size_t lb_tls_expiring(const struct lb_cfg *cfg, time_t now, unsigned days,
    void (*warn)(const char *line, void *arg), void *arg);

/* How a handshake ended, for lbmaster_tls_handshakes_total. */
enum lb_tls_result {
	LB_TLS_OK,
	LB_TLS_FAILED,
	LB_TLS_TIMEOUT,
	LB_TLS_PLAIN, /* plain HTTP was sent to the TLS port */
	LB_TLS_NRESULTS
};

/* Count the handshake of SSL, under its listener; workers share these. */
void lb_tls_count(SSL *, enum lb_tls_result);
/*
 * Append to B, in Prometheus' text format, the handshakes of CFG's TLS
 * listeners (counted since the master started) and when each of their
 * certificates expires.
 */
void lb_tls_metrics(struct lb_buf *b, const struct lb_cfg *cfg);

/* A server-side SSL on the accepted socket FD, or NULL (ENOMEM). */
SSL *lb_tls_accept(struct lb_tls_ctx *, int fd);
/*
 * A client-side SSL on FD, connected to SRV (srv->tls set): SNI and the
 * name its certificate must have are backend_tls.sni, else the host SRV
 * was written with. FD -1: none yet (a bufferevent's). NULL on failure.
 */
SSL *lb_tls_connect(const struct lb_server *srv, int fd);
/*
 * Go on with the handshake of SSL: 1 done, 0 it waits to read, 2 to
 * write, -1 it failed (logged at debug, with OpenSSL's reason).
 */
int lb_tls_handshake(SSL *);
/*
 * As lb_sock_read (pool.h): decrypted bytes added to IN; 0 on the peer's
 * close; -1 with errno (EAGAIN: nothing now).
 */
ssize_t lb_tls_read(SSL *, struct evbuffer *in);
/*
 * As evbuffer_write: write what OUT holds, a record of up to 16 KiB at a
 * time, and drain it; 0, or -1 with errno (EAGAIN: the rest waits).
 */
int lb_tls_write(SSL *, struct evbuffer *out);
/* Why a client-side handshake failed: the certificate's fault, or not. */
const char *lb_tls_verify_error(const SSL *);
/*
 * Bytes OpenSSL read from the socket and did not give out yet (a handshake
 * reads ahead): the socket will not signal them. lb_tls_read leaves none.
 */
bool lb_tls_buffered(const SSL *);
/*
 * Did the peer's close_notify come? It may come with the last bytes
 * lb_tls_read returned, and the socket then says nothing more: the
 * caller reads again at once, and gets its 0.
 */
bool lb_tls_closed(const SSL *);
/* Say close_notify (once, without waiting for the peer's), then free. */
void lb_tls_close(SSL *, bool clean);
/* "TLSv1.3", and the server name the client asked for or NULL. */
const char *lb_tls_version(const SSL *);
const char *lb_tls_sni(const SSL *);
/*
 * The subject of the client's verified certificate (mutual TLS), RFC 2253
 * ("CN=alice,O=Mango"), malloc'ed; NULL when it sent none.
 */
char *lb_tls_client_subject(const SSL *);

#endif /* LB_TLS_H */

/*
 * common/proxyproto.h -- the PROXY protocol header (versions 1 and 2) a
 * network balancer sends before a connection's first byte, saying whom
 * the connection is from (haproxy.org's proxy-protocol.txt).
 *
 * A pure, bounded reader: bytes in, a verdict out, no socket. It may be
 * called again as bytes arrive, with all of them each time: it says that
 * more are needed as long as what came is a prefix of a valid header, and
 * refuses as soon as it is not (a plain HTTP request is refused at its
 * first byte). A header is never longer than LB_PP_MAX bytes.
 */
#ifndef LB_PROXYPROTO_H
#define LB_PROXYPROTO_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#define LB_PP_V1_MAX 107  /* "PROXY ... \r\n", at most */
#define LB_PP_MAX    1024 /* a version 2 header, TLVs included */

struct lb_proxyhdr {
	int			version; /* 1 or 2 */
	bool			local;	 /* no address: LOCAL (v2), UNKNOWN
					    (v1); the connection's own stand */
	struct sockaddr_storage src;	 /* the client, unless local */
	struct sockaddr_storage dst;	 /* the address it connected to */
	socklen_t		addrlen; /* of src and dst */
};

/* common/proxyproto.c */

/*
 * Read the PROXY header at the start of the LEN bytes at BUF. Returns its
 * length, and fills *H; 0 when BUF is a prefix of a header that needs
 * more bytes; -1 when BUF does not start with a valid one.
 */
ssize_t lb_proxyhdr_parse(const void *buf, size_t len, struct lb_proxyhdr *h);

#endif /* LB_PROXYPROTO_H */

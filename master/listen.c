/*
 * master/listen.c -- the listening sockets the master holds for its whole
 * life.
 *
 * Every address gets one socket per worker slot, all bound with
 * SO_REUSEPORT, so the kernel spreads connections over the workers without
 * a shared accept queue (no thundering herd, no uneven spread). The master
 * keeps the sockets across generations: the worker of slot 2 in generation
 * 5 inherits the very socket, accept queue included, that the worker of
 * slot 2 in generation 4 served, so a reload never resets a queued
 * connection. When the worker count shrinks, no socket is closed (its
 * queue would be lost with it): worker j of n serves slots j, j + n, ...
 * Every worker holds all the sockets of its generation, though, and
 * accepts on a dead sibling's until the replacement does (adopt() in
 * worker/worker.c): the kernel keeps hashing connections to a socket
 * nobody accepts on.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/str.h"
#include "master/master.h"

#define LISTEN_BACKLOG 4096 /* the kernel caps it at somaxconn */

static int
open_socket(const struct lb_sockaddr *sa, bool reuseport, char *err,
    size_t errlen)
{
	char text[LB_ADDRSTRLEN];
	int  fd, on = 1;

	lb_addr_format((const struct sockaddr *)&sa->ss, text, sizeof(text));
	fd = socket(sa->ss.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		lb_snprintf(err, errlen, "socket for %s: %s", text,
		    strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (reuseport &&
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) ==
		    -1) ||
	    (sa->ss.ss_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) ==
		    -1)) {
		lb_snprintf(err, errlen, "setsockopt on %s: %s", text,
		    strerror(errno));
		goto fail;
	}
	/*
	 * Accepted sockets inherit it: answers are written whole, and Nagle
	 * would hold the last part of a large one until the client's
	 * (delayed) ACK of the one before, up to 40 ms. Not worth failing on.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&sa->ss, sa->len) == -1) {
		lb_snprintf(err, errlen, "bind %s: %s", text, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * SO_REUSEPORT lets a second lbmaster (of the same user) bind the same port
 * and silently share its traffic. A plain bind first tells us whether
 * anybody already holds the address.
 */
static int
probe_free(const struct lb_sockaddr *sa, char *err, size_t errlen)
{
	int fd;

	if ((fd = open_socket(sa, false, err, errlen)) == -1)
		return -1;
	close(fd);
	return 0;
}

struct lb_listener *
lb_listener_find(struct lb_listener *list, size_t n,
    const struct lb_sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (lb_addr_equal((const struct sockaddr *)&list[i].addr.ss,
			(const struct sockaddr *)&sa->ss))
			return &list[i];
	return NULL;
}

int
lb_listener_open(struct lb_listener *l, const struct lb_sockaddr *sa,
    size_t slots, bool reuseport, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->addr = *sa;
	l->reuseport = reuseport;
	if (reuseport && probe_free(sa, err, errlen) == -1)
		return -1;
	return lb_listener_grow(l, slots, err, errlen);
}

int
lb_listener_grow(struct lb_listener *l, size_t slots, char *err, size_t errlen)
{
	int *fds;

	if (!l->reuseport)
		slots = 1;
	if (slots <= l->n_fds)
		return 0;
	if ((fds = reallocarray(l->fds, slots, sizeof(*fds))) == NULL) {
		lb_snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	l->fds = fds;
	while (l->n_fds < slots) {
		int fd = open_socket(&l->addr, l->reuseport, err, errlen);

		if (fd == -1)
			return -1;
		if (listen(fd, LISTEN_BACKLOG) == -1) {
			lb_snprintf(err, errlen, "listen: %s", strerror(errno));
			close(fd);
			return -1;
		}
		l->fds[l->n_fds++] = fd;
	}
	return 0;
}

void
lb_listener_close(struct lb_listener *l)
{
	for (size_t i = 0; i < l->n_fds; i++)
		close(l->fds[i]);
	free(l->fds);
	memset(l, 0, sizeof(*l));
}

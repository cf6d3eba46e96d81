/*
 * tests/check_listen.c -- the listening sockets the master holds
 * (master/listen.c): one per worker slot with SO_REUSEPORT, or one shared;
 * a port somebody else holds is refused; accepted connections come with
 * TCP_NODELAY.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/addr.h"
#include "master/master.h"
#include "tests/harness.h"

/* 127.0.0.1 and a port the kernel just gave out and took back. */
static struct lb_sockaddr
free_addr(void)
{
	struct lb_sockaddr a;
	char		   text[32], err[256];

	snprintf(text, sizeof(text), "127.0.0.1:%u", lbt_free_port());
	ck_assert_msg(lb_addr_parse_listen(text, &a, err, sizeof(err)) == 0,
	    "%s", err);
	return a;
}

/* Connect to A; accept on whichever of L's sockets got it. */
static int
accept_one(const struct lb_listener *l, const struct lb_sockaddr *a,
    int *client)
{
	struct pollfd pfd[8];

	ck_assert_uint_le(l->n_fds, 8);
	ck_assert_int_ge(*client = socket(AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(connect(*client, (const struct sockaddr *)&a->ss,
			     a->len),
	    0);
	for (size_t i = 0; i < l->n_fds; i++) {
		pfd[i].fd = l->fds[i];
		pfd[i].events = POLLIN;
	}
	ck_assert_int_gt(poll(pfd, l->n_fds, 5000), 0);
	for (size_t i = 0; i < l->n_fds; i++)
		if (pfd[i].revents & POLLIN)
			return accept(l->fds[i], NULL, NULL);
	return -1;
}

START_TEST(test_one_reuseport_socket_per_slot_on_the_same_port)
{
	struct lb_sockaddr a = free_addr();
	struct lb_listener l;
	char		   err[256];
	int		   on = 0;
	socklen_t	   len = sizeof(on);

	ck_assert_msg(lb_listener_open(&l, &a, 3, true, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(l.n_fds, 3);
	for (size_t i = 0; i < l.n_fds; i++) {
		ck_assert_int_eq(getsockopt(l.fds[i], SOL_SOCKET, SO_REUSEPORT,
				     &on, &len),
		    0);
		ck_assert_int_eq(on, 1);
	}
	/* Growing adds slots; asking for fewer closes none. */
	ck_assert_int_eq(lb_listener_grow(&l, 4, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.n_fds, 4);
	ck_assert_int_eq(lb_listener_grow(&l, 2, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.n_fds, 4);
	lb_listener_close(&l);
}
END_TEST

START_TEST(test_shared_listener_has_one_socket_whatever_the_slots)
{
	struct lb_sockaddr a = free_addr();
	struct lb_listener l;
	char		   err[256];

	ck_assert_int_eq(lb_listener_open(&l, &a, 4, false, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(l.n_fds, 1);
	lb_listener_close(&l);
}
END_TEST

START_TEST(test_a_port_held_elsewhere_is_refused_not_shared)
{
	struct lb_sockaddr a = free_addr();
	struct lb_listener l, second;
	char		   err[256];

	ck_assert_int_eq(lb_listener_open(&l, &a, 2, true, err, sizeof(err)),
	    0);
	ck_assert_int_eq(lb_listener_open(&second, &a, 2, true, err,
			     sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "bind 127.0.0.1:") != NULL &&
		strstr(err, strerror(EADDRINUSE)) != NULL,
	    "%s", err);
	lb_listener_close(&second);
	lb_listener_close(&l);
}
END_TEST

/*
 * Answers are written whole: Nagle would only hold back the last segment
 * of a large one until the client's delayed ACK of the one before.
 */
START_TEST(test_accepted_connections_have_tcp_nodelay)
{
	struct lb_sockaddr a = free_addr();
	struct lb_listener l;
	char		   err[256];
	int		   fd, client, on = 0;
	socklen_t	   len = sizeof(on);

	ck_assert_int_eq(lb_listener_open(&l, &a, 2, true, err, sizeof(err)),
	    0);
	ck_assert_int_ge(fd = accept_one(&l, &a, &client), 0);
	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len),
	    0);
	ck_assert_int_eq(on, 1);
	close(fd);
	close(client);
	lb_listener_close(&l);
}
END_TEST

static Suite *
listen_suite(void)
{
	Suite *s = suite_create("listen");
	TCase *tc = tcase_create("listen");

	tcase_add_test(tc, test_one_reuseport_socket_per_slot_on_the_same_port);
	tcase_add_test(tc,
	    test_shared_listener_has_one_socket_whatever_the_slots);
	tcase_add_test(tc, test_a_port_held_elsewhere_is_refused_not_shared);
	tcase_add_test(tc, test_accepted_connections_have_tcp_nodelay);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(listen_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

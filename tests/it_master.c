/*
 * tests/it_master.c -- the lbmaster command line (lbmaster(8), OPTIONS and
 * EXIT STATUS) and the process tree it starts: pid file, start-up errors,
 * privileges, titles, systemd notification, daemon mode.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

#define RUN_MS 10000 /* bound for one lbmaster -t, -s ... */
#define BURST  300   /* connections at once, beyond libevent's 128 */

/* Run $LBMASTER with ARGS (NULL-terminated); the exit code, *OUT. */
static int
lbmaster(char **out, const char *a1, const char *a2, const char *a3,
    const char *a4)
{
	const char *argv[] = { getenv("LBMASTER"), a1, a2, a3, a4, NULL };

	ck_assert_msg(argv[0] != NULL,
	    "$LBMASTER is not set: run the "
	    "integration tests through `make check`");
	return lbt_run(argv, RUN_MS, out);
}

/* The first line of S, harness-owned. */
static const char *
first_line(const char *s)
{
	return lbt_fmt("%.*s", (int)strcspn(s, "\n"), s);
}

/* ------------------------------------------------------- -t, -T, -V */

START_TEST(test_t_accepts_a_good_file)
{
	const char *cfg = lbt_write_file("good.yaml",
	    mp_yaml(lbt_free_port(), 1, 2, "", ""));
	char	   *out;

	ck_assert_int_eq(lbmaster(&out, "-t", "-c", cfg, NULL), 0);
	ck_assert_str_eq(out,
	    lbt_fmt("lbmaster: configuration file %s test "
		    "is successful\n",
		cfg));
}
END_TEST

START_TEST(test_t_reports_each_bad_fixture_at_its_position)
{
	const char    *dir = lbt_fixture("bad");
	struct dirent *d;
	DIR	      *dp;
	int	       seen = 0;

	ck_assert_ptr_nonnull(dp = opendir(dir));
	while ((d = readdir(dp)) != NULL) {
		const char *file, *text, *expect, *msg, *line;
		char	   *out;
		int	    l, c, n = 0;

		if (strstr(d->d_name, ".yaml") == NULL)
			continue;
		file = lbt_fmt("%s/%s", dir, d->d_name);
		ck_assert_ptr_nonnull(text = lbt_read_file(file, NULL));
		ck_assert_msg(sscanf(text, "# expect: %d:%d: %n", &l, &c, &n) ==
			    2 &&
			n > 0,
		    "%s: no \"# expect: L:C: ...\" line", file);
		expect = lbt_fmt("%s:%d:%d: ", file, l, c);
		msg = first_line(text + n);
		ck_assert_msg(lbmaster(&out, "-t", "-c", file, NULL) == 1,
		    "%s: -t did not exit 1: %s", file, out);
		line = first_line(out);
		ck_assert_msg(strncmp(line, expect, strlen(expect)) == 0 &&
			strstr(line, msg) != NULL,
		    "%s: expected \"%s%s\", "
		    "got \"%s\"",
		    file, expect, msg, line);
		ck_assert_msg(strstr(out,
				  lbt_fmt("lbmaster: configuration "
					  "file %s test failed\n",
				      file)) != NULL,
		    "%s", out);
		seen++;
	}
	closedir(dp);
	ck_assert_int_ge(seen, 10);
}
END_TEST

/* What -T prints loads again, and prints the same. */
static void
round_trip(const char *cfg)
{
	static int  n;
	const char *dump, *again;
	char	   *out, *out2;

	ck_assert_msg(lbmaster(&out, "-T", "-c", cfg, NULL) == 0, "%s", out);
	ck_assert_str_eq(first_line(out),
	    lbt_fmt("# lbmaster: "
		    "configuration file %s test is successful",
		cfg));
	dump = lbt_write_file(lbt_fmt("dump-%d.yaml", ++n), out);
	ck_assert_msg(lbmaster(&out2, "-T", "-c", dump, NULL) == 0,
	    "%s does not load again: %s", dump, out2);
	/* The same, once the comment naming the file is left aside. */
	again = strchr(out2, '\n');
	ck_assert_str_eq(again, strchr(out, '\n'));
}

START_TEST(test_T_output_loads_again)
{
	round_trip(lbt_fixture("loadbalancer.yaml"));
	round_trip(lbt_write_file("rich.yaml",
	    mp_yaml(lbt_free_port(), 1, 3,
		lbt_fmt("user: nobody\npid_file: %s\naccess_log: %s\n"
			"log_level: debug\nshutdown_timeout: 1500ms\n"
			"admin:\n  listen: 127.0.0.1:9\n",
		    lbt_path("x.pid"), lbt_path("a.log")),
		"  - path: /x\n    strip_prefix: false\n"
		"    algorithm: least_conn\n    servers:\n"
		"      - {address: 127.0.0.1:7, weight: 3}\n"
		"      - {address: 127.0.0.1:8, backup: true}\n")));
}
END_TEST

START_TEST(test_V_h_and_usage_errors)
{
	const char *cfg = lbt_write_file("good.yaml",
	    mp_yaml(lbt_free_port(), 1, 1, "", ""));
	char	   *out;

	ck_assert_int_eq(lbmaster(&out, "-V", NULL, NULL, NULL), 0);
	ck_assert_msg(strncmp(out, "lbmaster ", 9) == 0 &&
		strstr(out, "\nlibevent ") != NULL &&
		strstr(out, "\nlibyaml ") != NULL,
	    "%s", out);
	ck_assert_int_eq(lbmaster(&out, "-h", NULL, NULL, NULL), 0);
	ck_assert_msg(strncmp(out, "usage: lbmaster ", 16) == 0, "%s", out);

	ck_assert_int_eq(lbmaster(&out, "-x", NULL, NULL, NULL), 2);
	ck_assert_ptr_nonnull(strstr(out, "usage: lbmaster "));
	ck_assert_int_eq(lbmaster(&out, "-c", NULL, NULL, NULL), 2);
	ck_assert_int_eq(lbmaster(&out, "-c", cfg, "extra", NULL), 2);
	ck_assert_ptr_nonnull(strstr(out, "unexpected argument \"extra\""));
	ck_assert_int_eq(lbmaster(&out, "-s", "restart", "-c", cfg), 2);
	ck_assert_ptr_nonnull(strstr(out, "unknown signal \"restart\""));
	ck_assert_int_eq(lbmaster(&out, "-s", "reload", "-t", NULL), 2);
	/* A file that is not there is a start-up error, not a usage one. */
	ck_assert_int_eq(lbmaster(&out, "-t", "-c", lbt_path("none.yaml"),
			     NULL),
	    1);
	ck_assert_ptr_nonnull(strstr(out, "none.yaml"));
}
END_TEST

/* ---------------------------------------------------------------- -s */

START_TEST(test_s_signals_the_master_named_by_the_pid_file)
{
	const char *pid_file = lbt_path("lb.pid"), *cfg;
	unsigned    port = lbt_free_port();
	char	   *out;
	pid_t	    lb;

	lb = lbt_lbmaster_start(mp_yaml(port, 1, 1,
				    lbt_fmt("pid_file: %s\n", pid_file), ""),
	    port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert(mp_wait_file(pid_file, lbt_fmt("%d\n", (int)lb), 2000));

	ck_assert_int_eq(lbmaster(&out, "-s", "reload", "-c", cfg), 0);
	ck_assert_str_eq(out, "");
	mp_wait_log(lb, "generation 2 serves", 3000);
	ck_assert_int_eq(lbmaster(&out, "-s", "reopen", "-c", cfg), 0);
	mp_wait_log(lb, "reopening log files", 2000);
	ck_assert_int_eq(lbmaster(&out, "-s", "quit", "-c", cfg), 0);
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 0);
	mp_wait_log(lb, "graceful shutdown", 0);
	ck_assert_int_eq(access(pid_file, F_OK), -1);

	lb = lbt_lbmaster_start_file(cfg, port, NULL);
	ck_assert(mp_wait_file(pid_file, lbt_fmt("%d\n", (int)lb), 2000));
	ck_assert_int_eq(lbmaster(&out, "-s", "stop", "-c", cfg), 0);
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 0);
	mp_wait_log(lb, "fast shutdown", 0);
	ck_assert_int_eq(access(pid_file, F_OK), -1);
}
END_TEST

START_TEST(test_s_without_a_master_fails_clearly)
{
	const char *pid_file = lbt_path("lb.pid"), *cfg;
	char	   *out;
	pid_t	    gone;

	cfg = lbt_write_file("with.yaml",
	    mp_yaml(lbt_free_port(), 1, 1, lbt_fmt("pid_file: %s\n", pid_file),
		""));
	ck_assert_int_eq(lbmaster(&out, "-s", "reload", "-c", cfg), 1);
	ck_assert_str_eq(out,
	    lbt_fmt("lbmaster: no master is running: pid "
		    "file %s is missing or empty\n",
		pid_file));

	/* A pid file left by a master that died: its pid is nobody's. */
	gone = lbt_spawn("true", (const char *const[]){ "/bin/true", NULL });
	ck_assert_int_eq(lbt_wait_exit(gone, 5000), 0);
	lbt_write_file(pid_file, lbt_fmt("%d\n", (int)gone));
	ck_assert_int_eq(lbmaster(&out, "-s", "stop", "-c", cfg), 1);
	ck_assert_msg(strstr(out, "no master is running") != NULL, "%s", out);

	/* A pid file that holds no pid is named as such, not as empty. */
	lbt_write_file(pid_file, "hello\n");
	ck_assert_int_eq(lbmaster(&out, "-s", "reload", "-c", cfg), 1);
	ck_assert_str_eq(out,
	    lbt_fmt("lbmaster: pid file %s holds no pid (\"hello\\n\"): "
		    "is pid_file the file lbmaster writes?\n",
		pid_file));

	cfg = lbt_write_file("without.yaml",
	    mp_yaml(lbt_free_port(), 1, 1, "", ""));
	ck_assert_int_eq(lbmaster(&out, "-s", "quit", "-c", cfg), 1);
	ck_assert_str_eq(out,
	    lbt_fmt("lbmaster: %s sets no pid_file: cannot "
		    "find the master to signal\n",
		cfg));
}
END_TEST

/* ----------------------------------------------------------- start-up */

START_TEST(test_refuses_a_pid_file_naming_a_live_master)
{
	const char *pid_file = lbt_path("lb.pid"), *top;
	unsigned    port = lbt_free_port(), port2 = lbt_free_port();
	pid_t	    lb, second, gone;

	top = lbt_fmt("pid_file: %s\n", pid_file);
	lb = lbt_lbmaster_start(mp_yaml(port, 1, 1, top, ""), port);
	ck_assert(mp_wait_file(pid_file, lbt_fmt("%d\n", (int)lb), 2000));
	second = lbt_spawn("second",
	    (const char *const[]){ getenv("LBMASTER"), "-f", "-c",
		lbt_write_file("second.yaml", mp_yaml(port2, 1, 1, top, "")),
		NULL });
	ck_assert_int_eq(lbt_wait_exit(second, 5000), 1);
	ck_assert_msg(strstr(lbt_log_tail(second, 2000),
			  lbt_fmt("pid file %s "
				  "names a running lbmaster (pid %d)",
			      pid_file, (int)lb)) != NULL,
	    "%s", lbt_log_tail(second, 2000));
	/* It bound nothing, and the first one's pid file is untouched. */
	ck_assert(!lbt_port_accepts("127.0.0.1", port2));
	ck_assert(mp_wait_file(pid_file, lbt_fmt("%d\n", (int)lb), 0));
	ck_assert_int_eq(lbt_stop(lb), 0);

	/* A stale pid file does not stop a start. */
	gone = lbt_spawn("true", (const char *const[]){ "/bin/true", NULL });
	ck_assert_int_eq(lbt_wait_exit(gone, 5000), 0);
	lbt_write_file(pid_file, lbt_fmt("%d\n", (int)gone));
	second = lbt_lbmaster_start_file(lbt_path("second.yaml"), port2, NULL);
	ck_assert(mp_wait_file(pid_file, lbt_fmt("%d\n", (int)second), 2000));
	ck_assert_int_eq(lbt_stop(second), 0);
}
END_TEST

START_TEST(test_bind_failure_exits_1_naming_the_address)
{
	unsigned    port;
	const char *cfg, *log;
	pid_t	    lb;
	int	    fd = lbt_hold_port(&port);

	cfg = lbt_write_file("lb.yaml", mp_yaml(port, 1, 1, "", ""));
	lb = lbt_spawn("lbmaster",
	    (const char *const[]){ getenv("LBMASTER"), "-f", "-c", cfg, NULL });
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 1);
	ck_assert_msg(strstr(lbt_log_tail(lb, 2000),
			  lbt_fmt("bind "
				  "127.0.0.1:%u: Address already in use",
			      port)) != NULL,
	    "%s", lbt_log_tail(lb, 2000));

	/* With the log in a file, the terminal hears of it all the same. */
	log = lbt_path("error.log");
	cfg = lbt_write_file("lb2.yaml",
	    mp_yaml(port, 1, 1, lbt_fmt("error_log: %s\n", log), ""));
	lb = lbt_spawn("lbmaster",
	    (const char *const[]){ getenv("LBMASTER"), "-f", "-c", cfg, NULL });
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 1);
	ck_assert_str_eq(lbt_log_tail(lb, 2000),
	    lbt_fmt("lbmaster: bind "
		    "127.0.0.1:%u: Address already in use\n",
		port));
	ck_assert(mp_wait_file(log, "Address already in use", 0));
	close(fd);
}
END_TEST

/*
 * A burst of new connections waits in the listening socket's accept queue
 * while the workers are busy (lbmaster(8), PROCESSES): the queue
 * holds LISTEN_BACKLOG (4096, capped by net.core.somaxconn), as the master
 * made it, and a worker's own listener does not shrink it. With its one
 * worker stopped, 300 connections are all accepted by the kernel, and
 * served once it runs again.
 */
START_TEST(test_a_burst_waits_in_the_accept_queue)
{
	unsigned	   port = lbt_free_port(), oport = 0;
	struct sockaddr_in sin;
	struct pollfd	   pfd[BURST];
	long long	   end;
	int		   done = 0, somaxconn = 0, want;
	char		  *s;
	pid_t		   origin, lb, w;

	if ((s = lbt_read_file("/proc/sys/net/core/somaxconn", NULL)) != NULL)
		somaxconn = atoi(s);
	want = somaxconn > BURST ? BURST : somaxconn + 1;
	origin = lbt_origin_start("o", &oport, NULL);
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 1, "", ""), port);
	ck_assert(mp_wait_children(lb, MP_WORKER, 1, 5000));
	ck_assert_uint_eq(mp_children(lb, MP_WORKER, &w, 1), 1);
	ck_assert_int_eq(kill(w, SIGSTOP), 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	for (int i = 0; i < BURST; i++) {
		pfd[i].fd = socket(AF_INET,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		pfd[i].events = POLLOUT;
		ck_assert_int_ge(pfd[i].fd, 0);
		if (connect(pfd[i].fd, (struct sockaddr *)&sin, sizeof(sin)) ==
		    0)
			continue;
		ck_assert_int_eq(errno, EINPROGRESS);
	}
	/* A SYN the full queue dropped is sent again after 1 s: wait less. */
	for (end = lbt_now_ms() + 800; done < BURST && lbt_now_ms() < end;) {
		done = 0;
		ck_assert_int_ge(poll(pfd, BURST, 50), 0);
		for (int i = 0; i < BURST; i++)
			done += (pfd[i].revents & POLLOUT) != 0;
	}
	kill(w, SIGCONT);
	for (int i = 0; i < BURST; i++)
		close(pfd[i].fd);
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
	ck_assert_msg(done >= want,
	    "%d of %d connections accepted by the kernel (somaxconn %d)", done,
	    BURST, somaxconn);
}
END_TEST

START_TEST(test_unknown_user_is_a_start_up_error)
{
	const char *cfg;
	unsigned    port = lbt_free_port();
	char	   *out;
	pid_t	    lb;

	cfg = lbt_write_file("lb.yaml",
	    mp_yaml(port, 1, 1, "user: lbt-no-such-user\n", ""));
	ck_assert_int_eq(lbmaster(&out, "-t", "-c", cfg, NULL), 1);
	/* FILE:LINE:COL, as every other mistake in the file. */
	ck_assert_str_eq(first_line(out),
	    lbt_fmt("%s:4:7: user: unknown user "
		    "\"lbt-no-such-user\"",
		cfg));
	lb = lbt_spawn("lbmaster",
	    (const char *const[]){ getenv("LBMASTER"), "-f", "-c", cfg, NULL });
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 1);
	ck_assert_ptr_nonnull(strstr(lbt_log_tail(lb, 2000),
	    "unknown user \"lbt-no-such-user\""));
	ck_assert(!lbt_port_accepts("127.0.0.1", port));

	cfg = lbt_write_file("lb.yaml",
	    mp_yaml(port, 1, 1, "user: root\ngroup:  lbt-no-such-group\n", ""));
	ck_assert_int_eq(lbmaster(&out, "-t", "-c", cfg, NULL), 1);
	ck_assert_str_eq(first_line(out),
	    lbt_fmt("%s:5:9: group: unknown group "
		    "\"lbt-no-such-group\"",
		cfg));
}
END_TEST

/* A first generation that cannot run stops the master, exit 1. */
START_TEST(test_workers_that_cannot_start_stop_the_master)
{
	const char *cfg;
	unsigned    port = lbt_free_port();
	pid_t	    lb;

	cfg = lbt_write_file("lb.yaml",
	    mp_yaml(port, 1, 2,
		lbt_fmt("access_log: %s/no/such/dir/access.log\n",
		    lbt_tmpdir()),
		""));
	lb = lbt_spawn("lbmaster",
	    (const char *const[]){ getenv("LBMASTER"), "-f", "-c", cfg, NULL });
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 1);
	ck_assert_ptr_nonnull(
	    strstr(lbt_log_tail(lb, 3000), "cannot start: stopping"));
}
END_TEST

/* ------------------------------------------------------ process tree */

START_TEST(test_workers_drop_to_the_configured_user)
{
	const char    *access, *error, *uid, *gid;
	struct passwd *pw;
	struct stat    st;
	unsigned       port, oport = 0;
	pid_t	       origin, lb, w[2];

	if (geteuid() != 0) {
		fprintf(stderr,
		    "test_workers_drop_to_the_configured_user: "
		    "skipped, it needs root (to drop to \"nobody\")\n");
		return;
	}
	ck_assert_ptr_nonnull(pw = getpwnam("nobody"));
	uid = lbt_fmt("%u", (unsigned)pw->pw_uid);
	gid = lbt_fmt("%u", (unsigned)pw->pw_gid);
	/* The workers write the access log: they must get through. */
	ck_assert_int_eq(chmod(lbt_tmpdir(), 0755), 0);
	access = lbt_path("access.log");
	error = lbt_path("error.log");
	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2,
				    lbt_fmt("user: nobody"
					    "\naccess_log: %s\nerror_log: %s\n",
					access, error),
				    ""),
	    port);
	/* Every worker said it accepts: each has dropped by then. */
	ck_assert(mp_wait_file(error, "generation 1 serves", 5000));
	ck_assert_uint_eq(mp_children(lb, MP_WORKER, w, 2), 2);
	for (int i = 0; i < 2; i++) {
		/* Real, effective, saved and filesystem ids. */
		ck_assert_str_eq(mp_status(w[i], "Uid"),
		    lbt_fmt("%s\t%s\t%s\t%s", uid, uid, uid, uid));
		ck_assert_str_eq(mp_status(w[i], "Gid"),
		    lbt_fmt("%s\t%s\t%s\t%s", gid, gid, gid, gid));
		ck_assert_str_eq(mp_status(w[i], "Groups"), gid);
	}
	ck_assert_str_eq(mp_status(lb, "Uid"), "0\t0\t0\t0");
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	ck_assert(mp_wait_file(access, "GET /base", 2000));
	/* The master made it, root's, and lets the workers' group write. */
	ck_assert_int_eq(stat(access, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_gid, pw->pw_gid);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);

	/* logrotate moves it: nobody cannot create the new one in a root
	 * directory, so the master makes it first. */
	ck_assert_int_eq(rename(access, lbt_path("access.log.1")), 0);
	ck_assert_int_eq(rename(error, lbt_path("error.log.1")), 0);
	lbt_signal(lb, SIGUSR1);
	for (int i = 0; i < 100 && mp_count(access, "GET /after") == 0; i++) {
		ck_assert_int_eq(mp_get(port, NULL, "/after"), 404);
		usleep(20 * 1000);
	}
	ck_assert_msg(mp_count(access, "GET /after") > 0, "log:\n%s",
	    lbt_read_file(error, NULL));
	/* The workers reopened the error log as well: they drain into it. */
	lbt_signal(lb, SIGQUIT);
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 0);
	ck_assert_msg(mp_count(error, "worker 0[") > 0 &&
		mp_count(error, "worker 1[") > 0 &&
		mp_count(error, "reopening") == 1,
	    "error log:\n%s", lbt_read_file(error, NULL));
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/* "A | B" with the two in strcmp order. */
static const char *
sorted_pair(const char *a, const char *b)
{
	return strcmp(a, b) <= 0 ? lbt_fmt("%s | %s", a, b) :
				   lbt_fmt("%s | %s", b, a);
}

/* The two workers' Cpus_allowed_list (/proc), as sorted_pair. */
static const char *
worker_cpus(pid_t lb)
{
	pid_t w[2];

	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 5000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	ck_assert_uint_eq(mp_children(lb, MP_WORKER, w, 2), 2);
	return sorted_pair(mp_status(w[0], "Cpus_allowed_list"),
	    mp_status(w[1], "Cpus_allowed_list"));
}

/*
 * cpu_affinity: auto puts each worker on a CPU of its own, a list puts
 * them where it says (a respawned worker where its slot was), and a
 * reload to off lets the new workers run on every CPU the master may
 * use; the master is never pinned. On a one-CPU machine both workers
 * share that CPU.
 */
START_TEST(test_cpu_affinity_pins_the_workers)
{
	const char *cfg = lbt_path("lbmaster.yaml"), *all, *both, *want;
	cpu_set_t   usable;
	unsigned    port = lbt_free_port(), oport = 0;
	int	    c0 = -1, c1 = -1;
	pid_t	    origin, lb, w[2];

	ck_assert_int_eq(sched_getaffinity(0, sizeof(usable), &usable), 0);
	for (int c = 0; c < CPU_SETSIZE && c1 == -1; c++)
		if (CPU_ISSET(c, &usable)) {
			if (c0 == -1)
				c0 = c;
			else
				c1 = c;
		}
	if (c1 == -1)
		c1 = c0;
	/* {c0, c1} as the kernel lists it. */
	both = c0 == c1	 ? lbt_fmt("%d", c0) :
	    c1 == c0 + 1 ? lbt_fmt("%d-%d", c0, c1) :
			   lbt_fmt("%d,%d", c0, c1);
	origin = lbt_origin_start("o", &oport, NULL);
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2, "cpu_affinity: auto\n",
				    ""),
	    port);
	all = mp_status(lb, "Cpus_allowed_list");
	ck_assert_str_eq(worker_cpus(lb),
	    sorted_pair(lbt_fmt("%d", c0), lbt_fmt("%d", c1)));
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);

	lbt_write_file(cfg,
	    mp_yaml(port, oport, 2,
		lbt_fmt("cpu_affinity: [\"%d\", \"%d,%d\"]\n", c1, c0, c1),
		""));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "generation 2 serves", 5000);
	want = sorted_pair(lbt_fmt("%d", c1), both);
	ck_assert_str_eq(worker_cpus(lb), want);
	ck_assert_uint_eq(mp_children(lb, MP_WORKER, w, 2), 2);
	ck_assert_int_eq(kill(w[0], SIGKILL), 0);
	ck_assert(mp_wait_gone(w[0], 5000));
	ck_assert_str_eq(worker_cpus(lb), want);

	lbt_write_file(cfg, mp_yaml(port, oport, 2, "cpu_affinity: off\n", ""));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "generation 3 serves", 5000);
	ck_assert_str_eq(worker_cpus(lb), sorted_pair(all, all));
	ck_assert_str_eq(mp_status(lb, "Cpus_allowed_list"), all);
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

START_TEST(test_process_titles)
{
	unsigned port = lbt_free_port(), oport = 0;
	pid_t	 origin, lb, w[2], hc;

	origin = lbt_origin_start("o", &oport, NULL);
	/* Health checks on: there is a checker too. */
	lb = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\nworkers: 2\n"
		    "paths:\n  - path: /base\n    servers: [127.0.0.1:%u]\n",
		port, oport),
	    port);
	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 5000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	ck_assert_msg(mp_wait_children(lb, "lbmaster: health checker", 1, 5000),
	    "log:\n%s", lbt_log_tail(lb, 3000));
	ck_assert_str_eq(mp_cmdline(lb), MP_MASTER);
	ck_assert_uint_eq(mp_children(lb, MP_WORKER, w, 2), 2);
	ck_assert_str_eq(mp_cmdline(w[0]), MP_WORKER);
	ck_assert_str_eq(mp_cmdline(w[1]), MP_WORKER);
	ck_assert_uint_eq(mp_children(lb, "lbmaster: health checker", &hc, 1),
	    1);
	/* Every child is one of those. */
	ck_assert_uint_eq(mp_children(lb, NULL, NULL, 0), 3);
	/* pgrep and pkill still find them by name. */
	ck_assert_str_eq(lbt_read_file(lbt_fmt("/proc/%d/comm", (int)w[0]),
			     NULL),
	    "lbmaster\n");
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/* ------------------------------------------------------------ systemd */

/* The next datagram on FD within 5 s, harness-owned; "" on timeout. */
static const char *
notify_next(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char	      buf[512];
	ssize_t	      n;

	if (poll(&p, 1, 5000) != 1 ||
	    (n = recv(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return "";
	buf[n] = '\0';
	return lbt_fmt("%s", buf);
}

static long long
monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

START_TEST(test_systemd_hears_ready_reloading_and_stopping)
{
	struct sockaddr_un sun;
	const char	  *path = lbt_path("notify"), *msg, *cfg;
	unsigned	   port = lbt_free_port();
	long long	   before, usec;
	pid_t		   lb;
	int		   fd;

	ck_assert_int_ne(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0),
	    -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);

	lb = lbt_lbmaster_start(mp_yaml(port, 1, 2, "", ""), port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert_str_eq(notify_next(fd), "READY=1");
	/* Only once the workers accept. */
	ck_assert_uint_eq(mp_children(lb, MP_WORKER, NULL, 0), 2);

	before = monotonic_us();
	lbt_signal(lb, SIGHUP);
	msg = notify_next(fd);
	ck_assert_msg(sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%lld", &usec) ==
		1,
	    "got \"%s\"", msg);
	ck_assert_int_ge(usec, before);
	ck_assert_int_le(usec, monotonic_us());
	ck_assert_str_eq(notify_next(fd), "READY=1");
	mp_wait_log(lb, "generation 2 serves", 0);

	/* A failed reload is over too: systemd must not wait for it. */
	lbt_write_file(cfg, "listen: [\n");
	lbt_signal(lb, SIGHUP);
	ck_assert_str_eq(first_line(notify_next(fd)), "RELOADING=1");
	ck_assert_str_eq(notify_next(fd), "READY=1");
	mp_wait_log(lb, "reload failed", 0);

	lbt_signal(lb, SIGTERM);
	ck_assert_str_eq(notify_next(fd), "STOPPING=1");
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 0);
	close(fd);
}
END_TEST

/* ------------------------------------------------------------- daemon */

/* The daemon is no child of ours: stop it even when a test fails. */
static pid_t daemon_pid;

static void
daemon_setup(void)
{
	lbt_setup();
	daemon_pid = 0;
}

static void
daemon_teardown(void)
{
	if (daemon_pid > 0 && mp_alive(daemon_pid)) {
		kill(daemon_pid, SIGKILL);
		mp_wait_gone(daemon_pid, 5000);
	}
	lbt_teardown();
}

static pid_t
pid_in(const char *file)
{
	const char *text = lbt_read_file(file, NULL);

	return text != NULL ? (pid_t)atoi(text) : 0;
}

START_TEST(test_daemon_mode_detaches_serves_and_stops)
{
	const char *pid_file = lbt_path("lb.pid"), *cfg;
	unsigned    port = lbt_free_port(), oport = 0;
	pid_t	    origin;
	char	   *out;

	/* The daemon and its workers are reparented to us: we reap them. */
	mp_subreaper();
	origin = lbt_origin_start("o", &oport, NULL);
	cfg = lbt_write_file("lb.yaml",
	    mp_yaml(port, oport, 2, lbt_fmt("pid_file: %s\n", pid_file), ""));
	/* It returns once the workers accept: the port is ready. */
	ck_assert_msg(lbmaster(&out, "-c", cfg, NULL, NULL) == 0, "%s", out);
	ck_assert_int_gt(daemon_pid = pid_in(pid_file), 0);
	ck_assert(mp_alive(daemon_pid));
	ck_assert_str_eq(mp_cmdline(daemon_pid), MP_MASTER);
	/* A session of its own: no terminal of ours can reach it. */
	ck_assert_int_ne(getsid(daemon_pid), getsid(0));
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);

	ck_assert_int_eq(lbmaster(&out, "-s", "stop", "-c", cfg), 0);
	ck_assert(mp_wait_gone(daemon_pid, 5000));
	ck_assert_int_eq(access(pid_file, F_OK), -1);
	ck_assert(!lbt_port_accepts("127.0.0.1", port));
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/* A start-up failure after detaching still reaches the exit status. */
START_TEST(test_daemon_mode_reports_a_failed_start)
{
	const char *pid_file = lbt_path("lb.pid"), *cfg;
	unsigned    port = lbt_free_port();
	char	   *out;

	mp_subreaper();
	cfg = lbt_write_file("lb.yaml",
	    mp_yaml(port, 1, 1,
		lbt_fmt("pid_file: %s\naccess_log: %s/no/such/dir/a.log\n",
		    pid_file, lbt_tmpdir()),
		""));
	ck_assert_int_eq(lbmaster(&out, "-c", cfg, NULL, NULL), 1);
	ck_assert_msg(strstr(out, "cannot start") != NULL, "%s", out);
	daemon_pid = pid_in(pid_file);
	ck_assert_int_eq(daemon_pid, 0);
	ck_assert(!lbt_port_accepts("127.0.0.1", port));
}
END_TEST

static Suite *
master_suite(void)
{
	Suite *s = suite_create("master");
	TCase *tc;

	tc = lbt_tcase("command line");
	tcase_add_test(tc, test_t_accepts_a_good_file);
	tcase_add_test(tc, test_t_reports_each_bad_fixture_at_its_position);
	tcase_add_test(tc, test_T_output_loads_again);
	tcase_add_test(tc, test_V_h_and_usage_errors);
	tcase_add_test(tc, test_s_signals_the_master_named_by_the_pid_file);
	tcase_add_test(tc, test_s_without_a_master_fails_clearly);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("start-up");
	tcase_add_test(tc, test_refuses_a_pid_file_naming_a_live_master);
	tcase_add_test(tc, test_bind_failure_exits_1_naming_the_address);
	tcase_add_test(tc, test_a_burst_waits_in_the_accept_queue);
	tcase_add_test(tc, test_unknown_user_is_a_start_up_error);
	tcase_add_test(tc, test_workers_that_cannot_start_stop_the_master);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("process tree");
	tcase_add_test(tc, test_workers_drop_to_the_configured_user);
	tcase_add_test(tc, test_process_titles);
	tcase_add_test(tc, test_cpu_affinity_pins_the_workers);
	tcase_add_test(tc, test_systemd_hears_ready_reloading_and_stopping);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_daemon_mode_detaches_serves_and_stops);
	tcase_add_test(tc, test_daemon_mode_reports_a_failed_start);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(master_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

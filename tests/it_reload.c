/*
 * tests/it_reload.c -- SIGHUP (lbmaster(8), RELOAD): a valid config
 * replaces the workers without a client noticing, an invalid one changes
 * nothing.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

/* The paths entries for routes /r1 .. /rN to the origin on ORIGIN. */
static const char *
routes(unsigned n, unsigned origin)
{
	const char *s = "";

	for (unsigned i = 1; i <= n; i++)
		s = lbt_fmt("%s  - path: /r%u\n    servers: [127.0.0.1:%u]\n",
		    s, i, origin);
	return s;
}

static bool
port_refuses(void *arg)
{
	return !lbt_port_accepts("127.0.0.1", *(unsigned *)arg);
}

/*
 * Three reloads, each adding a route, while clients keep coming on new
 * and kept-alive connections: not one request fails, and each new route
 * answers soon after its SIGHUP.
 */
START_TEST(test_three_reloads_under_load_drop_no_request)
{
	const char *cfg, *out;
	unsigned    port, oport = 0;
	pid_t	    origin, lb, load;
	long long   t0;
	int	    code;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2, "", ""), port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert_msg(mp_wait_status(port, "/base", 200, 5000), "log:\n%s",
	    lbt_log_tail(lb, 3000));

	ck_assert_msg(getenv("LB_LOADGEN") != NULL,
	    "$LB_LOADGEN is not set: "
	    "run the integration tests through `make check`");
	load = lbt_spawn("loadgen",
	    (const char *const[]){ getenv("LB_LOADGEN"), "-p",
		lbt_fmt("%u", port), "-c", "16", "-k", "50", "-d", "5000", "-w",
		"5", "-u", "/base", NULL });
	usleep(500 * 1000);
	for (unsigned i = 1; i <= 3; i++) {
		const char *path = lbt_fmt("/r%u", i);

		ck_assert_int_eq(mp_get(port, NULL, path), 404);
		lbt_write_file(cfg,
		    mp_yaml(port, oport, 2, "", routes(i, oport)));
		t0 = lbt_now_ms();
		lbt_signal(lb, SIGHUP);
		ck_assert_msg(mp_wait_status(port, path, 200, 2000),
		    "%s does not answer 2 s after reload %u; log:\n%s", path, i,
		    lbt_log_tail(lb, 3000));
		/* Let the old workers drain under load before the next. */
		while (lbt_now_ms() - t0 < 1200)
			usleep(50 * 1000);
	}
	code = lbt_wait_exit(load, 10000);
	out = lbt_log_tail(load, 1000);
	ck_assert_msg(code == 0 && strstr(out, " 0 failed\n") != NULL,
	    "loadgen exit %d: %s", code, out);
	/* Only the last generation's two workers are left. */
	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 10000),
	    "old workers did not exit; log:\n%s", lbt_log_tail(lb, 3000));
	ck_assert_uint_eq(mp_count(lbt_log_path(lb), "generation 4 serves"), 1);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

START_TEST(test_broken_config_reload_keeps_the_old_workers)
{
	const char *cfg, *good, *pos;
	unsigned    port, oport = 0;
	pid_t	    origin, lb, before[2], after[2];

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	good = mp_yaml(port, oport, 2, "", "");
	lb = lbt_lbmaster_start(good, port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 5000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	mp_children(lb, MP_WORKER, before, 2);

	/* Line 3, column 1: a key that does not exist. */
	lbt_write_file(cfg,
	    lbt_fmt("listen: 127.0.0.1:%u\nworkers: 2\n"
		    "wrokers: 3\n",
		port));
	lbt_signal(lb, SIGHUP);
	pos = lbt_fmt("%s:3:1: unknown key \"wrokers\"", cfg);
	ck_assert_msg(mp_wait_file(lbt_log_path(lb), pos, 2000),
	    "no \"%s\" in the log:\n%s", pos, lbt_log_tail(lb, 2000));
	mp_wait_log(lb, "reload failed", 2000);
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	ck_assert_uint_eq(mp_children(lb, MP_WORKER, after, 2), 2);
	ck_assert(after[0] == before[0] || after[0] == before[1]);
	ck_assert(after[1] == before[0] || after[1] == before[1]);
	ck_assert_int_eq(lbt_wait_exit(lb, 0), -1);

	/* The master is not stuck: the next valid file is taken. */
	lbt_write_file(cfg, mp_yaml(port, oport, 2, "", routes(1, oport)));
	lbt_signal(lb, SIGHUP);
	ck_assert_msg(mp_wait_status(port, "/r1", 200, 3000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/*
 * A SIGHUP that comes while the previous reload still starts its workers
 * is not lost: the file as it is then is what serves in the end.
 */
START_TEST(test_reload_during_a_reload_takes_the_last_file)
{
	const char *cfg;
	unsigned    port, oport = 0;
	pid_t	    origin, lb;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2, "", ""), port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 5000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	lbt_write_file(cfg, mp_yaml(port, oport, 2, "", routes(1, oport)));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "reloading", 2000);
	lbt_write_file(cfg, mp_yaml(port, oport, 2, "", routes(2, oport)));
	lbt_signal(lb, SIGHUP);
	ck_assert_msg(mp_wait_status(port, "/r2", 200, 3000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/* A request in flight when the reload comes is answered by its worker. */
START_TEST(test_reload_lets_a_request_in_flight_finish)
{
	struct lbt_conn *c;
	struct lbt_resp	 r;
	const char	*req = "GET /base HTTP/1.1\r\nHost: t\r\n"
			       "X-Test-Delay: 1200\r\n\r\n";
	unsigned	 port, oport = 0;
	pid_t		 origin, lb;
	long long	 seen;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 1, "", ""), port);
	ck_assert_msg(mp_wait_status(port, "/base", 200, 5000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	seen = lbt_origin_stat(oport, "requests");
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, port));
	ck_assert_int_eq(lbt_conn_send(c, req, strlen(req)), 0);
	while (lbt_origin_stat(oport, "requests") == seen)
		usleep(10 * 1000);
	lbt_signal(lb, SIGHUP);
	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	/* The old worker drains: it closes the connection after this. */
	ck_assert_str_eq(lbt_header(&r, "Connection"), "close");
	lbt_resp_free(&r);
	lbt_conn_close(c);
	mp_wait_log(lb, "generation 2 serves", 2000);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/* Unchanged addresses keep their sockets; new ones open, old ones close. */
START_TEST(test_reload_moves_the_listen_address)
{
	const char *cfg;
	unsigned    port, port2, oport = 0;
	pid_t	    origin, lb;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	port2 = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2, "", ""), port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert(!lbt_port_accepts("127.0.0.1", port2));

	/* Both. */
	lbt_write_file(cfg,
	    lbt_fmt("listen: [127.0.0.1:%u, 127.0.0.1:%u]\n"
		    "workers: 2\nhealth_check: off\npaths:\n  - path: /base\n"
		    "    servers: [127.0.0.1:%u]\n",
		port, port2, oport));
	lbt_signal(lb, SIGHUP);
	ck_assert_msg(mp_wait_status(port2, "/base", 200, 3000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);

	/* Only the new one. */
	lbt_write_file(cfg, mp_yaml(port2, oport, 2, "", ""));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "generation 3 serves", 3000);
	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 10000),
	    "the old workers do not exit; log:\n%s", lbt_log_tail(lb, 3000));
	ck_assert_msg(!lbt_port_accepts("127.0.0.1", port),
	    "the address the config dropped still accepts");
	ck_assert_int_eq(mp_get(port2, NULL, "/base"), 200);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

START_TEST(test_reload_to_an_address_in_use_changes_nothing)
{
	const char *cfg;
	unsigned    port, taken, oport = 0;
	pid_t	    origin, lb;
	int	    fd;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2, "", ""), port);
	cfg = lbt_path("lbmaster.yaml");
	fd = lbt_hold_port(&taken);
	lbt_write_file(cfg,
	    lbt_fmt("listen: [127.0.0.1:%u, 127.0.0.1:%u]\n"
		    "workers: 2\nhealth_check: off\npaths:\n  - path: /base\n"
		    "    servers: [127.0.0.1:%u]\n",
		port, taken, oport));
	lbt_signal(lb, SIGHUP);
	ck_assert_msg(mp_wait_file(lbt_log_path(lb),
			  lbt_fmt("reload failed: "
				  "bind 127.0.0.1:%u: Address already in use",
			      taken),
			  2000),
	    "log:\n%s", lbt_log_tail(lb, 2000));
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	ck_assert_uint_eq(mp_count(lbt_log_path(lb), "generation 2"), 0);
	close(fd);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/*
 * A config whose workers cannot start (here: an access log nobody can
 * open) fails the reload as soon as they say so, and what it bound is
 * closed again.
 */
START_TEST(test_reload_whose_workers_cannot_start_fails_at_once)
{
	const char *cfg;
	unsigned    port, port2, oport = 0;
	pid_t	    origin, lb, before[2];

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	port2 = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2, "", ""), port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 5000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	mp_children(lb, MP_WORKER, before, 2);
	lbt_write_file(cfg,
	    lbt_fmt(
		"listen: [127.0.0.1:%u, 127.0.0.1:%u]\n"
		"workers: 2\nhealth_check: off\naccess_log: %s/no/such/dir/a.log\n"
		"paths:\n  - path: /base\n    servers: [127.0.0.1:%u]\n",
		port, port2, lbt_tmpdir(), oport));
	lbt_signal(lb, SIGHUP);
	/* Well before the 10 s a generation gets to start. */
	ck_assert_msg(mp_wait_file(lbt_log_path(lb), "reload failed", 3000),
	    "log:\n%s", lbt_log_tail(lb, 3000));
	/* Once the new workers are gone, nobody holds it. */
	ck_assert_msg(lbt_wait_for(port_refuses, &port2, 2000),
	    "the failed reload's address still accepts");
	ck_assert_msg(mp_wait_children(lb, MP_WORKER, 2, 3000), "log:\n%s",
	    lbt_log_tail(lb, 3000));
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	ck_assert_int_eq(lbt_wait_exit(lb, 0), -1);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/*
 * The admin listener moves with a reload that succeeds, and stays where
 * it was with one that fails.
 */
START_TEST(test_admin_listener_moves_only_with_a_good_reload)
{
	const char *cfg, *bad;
	unsigned    port, aport, aport2, oport = 0;
	pid_t	    origin, lb;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	aport = lbt_free_port();
	aport2 = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 2,
				    lbt_fmt("admin:\n"
					    "  listen: 127.0.0.1:%u\n",
					aport),
				    ""),
	    port);
	cfg = lbt_path("lbmaster.yaml");
	lbt_wait_port(lb, "127.0.0.1", aport, LBT_START_MS);

	/* Its workers cannot start: the old admin address stays. */
	bad = lbt_fmt("admin:\n  listen: 127.0.0.1:%u\naccess_log: "
		      "%s/no/such/dir/a.log\n",
	    aport2, lbt_tmpdir());
	lbt_write_file(cfg, mp_yaml(port, oport, 2, bad, ""));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "reload failed", 3000);
	ck_assert(lbt_wait_for(port_refuses, &aport2, 2000));
	ck_assert(lbt_port_accepts("127.0.0.1", aport));
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);

	lbt_write_file(cfg,
	    mp_yaml(port, oport, 2,
		lbt_fmt("admin:\n"
			"  listen: 127.0.0.1:%u\n",
		    aport2),
		""));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "generation 3 serves", 3000);
	ck_assert(lbt_port_accepts("127.0.0.1", aport2));
	ck_assert_msg(lbt_wait_for(port_refuses, &aport, 3000),
	    "the old admin address still accepts");
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/* ------------------------------------------------ the operator's side */

/* lbmaster ARGS...; exit code, *OUT its output. */
static int
lbm(char **out, const char *a1, const char *a2, const char *a3, const char *a4)
{
	const char *argv[] = { getenv("LBMASTER"), a1, a2, a3, a4, NULL };

	return lbt_run(argv, 40000, out);
}

/*
 * A successful reload logs what changed, one notice line per
 * difference; one that changes nothing says so.
 */
START_TEST(test_reload_logs_what_changed)
{
	const char *cfg, *log;
	unsigned    port, oport = 0, o2 = 0;
	pid_t	    origin, origin2, lb;

	origin = lbt_origin_start("o", &oport, NULL);
	origin2 = lbt_origin_start("o2", &o2, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 1, "", routes(2, oport)),
	    port);
	cfg = lbt_path("lbmaster.yaml");
	lbt_write_file(cfg,
	    mp_yaml(port, oport, 1, "timeouts: {connect: 1s}\n",
		lbt_fmt("  - path: /r1\n    algorithm: least_conn\n"
			"    servers: [127.0.0.1:%u, 127.0.0.1:%u]\n"
			"  - path: /r3\n    servers: [127.0.0.1:%u]\n",
		    oport, o2, oport)));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "generation 2 serves", 5000);
	mp_wait_log(lb, "reload: ~ timeouts.connect 3s -> 1s", 2000);
	log = lbt_read_file(lbt_log_path(lb), NULL);
	ck_assert_msg(strstr(log, "[notice] master") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "reload: - path /r2\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "reload: + path /r3\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log,
			  lbt_fmt("reload: + server 127.0.0.1:%u to /r1\n",
			      o2)) != NULL,
	    "%s", log);
	ck_assert_msg(strstr(log,
			  "reload: ~ /r1 algorithm round_robin -> "
			  "least_conn\n") != NULL,
	    "%s", log);
	/* The same file again: no changes. */
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "generation 3 serves", 5000);
	mp_wait_log(lb, "reload: no changes", 2000);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
	ck_assert_int_eq(lbt_stop(origin2), 0);
}
END_TEST

/*
 * lbmaster -s reload waits for the outcome: 0 when the new generation
 * serves, 1 with the master's error line when the reload was refused
 * (here the new listener is taken), the old config serving on.
 */
START_TEST(test_s_reload_reports_the_outcome)
{
	const char *cfg, *pid = lbt_path("lb.pid");
	unsigned    port, taken, oport = 0;
	pid_t	    origin, lb;
	char	   *out;
	int	    fd;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 1,
				    lbt_fmt("pid_file: %s\n", pid), ""),
	    port);
	cfg = lbt_path("lbmaster.yaml");
	ck_assert_int_eq(lbm(&out, "-s", "reload", "-c", cfg), 0);
	ck_assert_msg(strstr(lbt_read_file(lbt_log_path(lb), NULL),
			  "generation 2 serves") != NULL,
	    "-s reload returned before the reload was done");

	fd = lbt_hold_port(&taken);
	lbt_write_file(cfg,
	    lbt_fmt("listen: [127.0.0.1:%u, 127.0.0.1:%u]\npid_file: %s\n"
		    "workers: 1\nhealth_check: off\npaths:\n  - path: /base\n"
		    "    servers: [127.0.0.1:%u]\n",
		port, taken, pid, oport));
	ck_assert_int_eq(lbm(&out, "-s", "reload", "-c", cfg), 1);
	ck_assert_msg(strstr(out,
			  lbt_fmt("lbmaster: reload failed: bind 127.0.0.1:%u: "
				  "Address already in use",
			      taken)) != NULL,
	    "%s", out);
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	close(fd);

	/* A config error: its FILE:LINE:COL line. */
	lbt_write_file(cfg,
	    lbt_fmt("%sbogus: 1\n",
		mp_yaml(port, oport, 1, lbt_fmt("pid_file: %s\n", pid), "")));
	ck_assert_int_eq(lbm(&out, "-s", "reload", "-c", cfg), 1);
	ck_assert_msg(strstr(out,
			  lbt_fmt("reload failed: %s:8:1: unknown "
				  "key \"bogus\"",
			      cfg)) != NULL,
	    "%s", out);
	ck_assert_int_eq(mp_get(port, NULL, "/base"), 200);
	ck_assert_int_eq(lbt_stop(lb), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/*
 * -s needs only the pid_file: with an unknown key and a backend name
 * that does not resolve in the file, -s quit still finds and stops the
 * master.
 */
START_TEST(test_s_quit_needs_only_the_pid_file)
{
	const char *cfg, *pid = lbt_path("lb.pid");
	unsigned    port, oport = 0;
	pid_t	    origin, lb;
	char	   *out;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	lb = lbt_lbmaster_start(mp_yaml(port, oport, 1,
				    lbt_fmt("pid_file: %s\n", pid), ""),
	    port);
	cfg = lbt_path("lbmaster.yaml");
	lbt_write_file(cfg,
	    lbt_fmt("%s  - path: /x\n"
		    "    servers: [no-such-host.invalid:80]\nunknown_key: 1\n",
		mp_yaml(port, oport, 1, lbt_fmt("pid_file: %s\n", pid), "")));
	ck_assert_int_ne(lbm(&out, "-t", "-c", cfg, NULL), 0);
	ck_assert_int_eq(lbm(&out, "-s", "reopen", "-c", cfg), 0);
	ck_assert_int_eq(lbm(&out, "-s", "quit", "-c", cfg), 0);
	ck_assert_int_eq(lbt_wait_exit(lb, 5000), 0);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

/*
 * A daemon started with relative paths (-c, pid_file, the logs) keeps
 * them relative to where it was started: its pid file is there, and a
 * reload rereads the right file.
 */
START_TEST(test_daemon_with_relative_paths_reloads)
{
	const char *dir = lbt_tmpdir(), *failure = NULL;
	unsigned    port, oport = 0;
	pid_t	    origin, lb = 0;
	char	   *out = NULL, *pidtext;

	origin = lbt_origin_start("o", &oport, NULL);
	port = lbt_free_port();
	ck_assert_int_eq(chdir(dir), 0);
	lbt_write_file("rel.yaml",
	    mp_yaml(port, oport, 1,
		"pid_file: rel.pid\nerror_log: rel-error.log\n"
		"access_log: rel-access.log\n",
		""));
	/* Without -f: it detaches, and this returns once it serves. */
	ck_assert_int_eq(lbm(&out, "-c", "rel.yaml", NULL, NULL), 0);
	ck_assert_ptr_nonnull(
	    pidtext = lbt_read_file(lbt_path("rel.pid"), NULL));
	lb = (pid_t)atol(pidtext);
	ck_assert_int_gt(lb, 1);
	/*
	 * A failed check ends this process at once: the daemon, not our
	 * child, is stopped before any check can fail.
	 */
	lbt_write_file("rel.yaml",
	    mp_yaml(port, oport, 1,
		"pid_file: rel.pid\nerror_log: rel-error.log\n"
		"access_log: rel-access.log\n",
		routes(1, oport)));
	if (mp_get(port, NULL, "/base") != 200)
		failure = "the daemon does not serve";
	else if (lbm(&out, "-s", "reload", "-c", "rel.yaml") != 0)
		failure = lbt_fmt("-s reload: %s", out);
	else if (mp_get(port, NULL, "/r1") != 200)
		failure = "the reloaded config does not serve /r1";
	else if (!mp_wait_file(lbt_path("rel-access.log"), "GET /r1 ", 2000))
		failure = "no access log line in the relative access_log";
	else if (!mp_wait_file(lbt_path("rel-error.log"), "generation 2 serves",
		     2000))
		failure = "no reload in the relative error_log";
	else if (access("/rel.pid", F_OK) == 0)
		failure = "a pid file at /rel.pid";
	kill(lb, SIGTERM);
	if (!mp_wait_gone(lb, 5000)) {
		kill(lb, SIGKILL);
		mp_wait_gone(lb, 2000);
		ck_abort_msg("the daemon (pid %d) did not stop", (int)lb);
	}
	ck_assert_msg(failure == NULL, "%s", failure);
	ck_assert_int_eq(lbt_stop(origin), 0);
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc;

	tc = lbt_tcase("reload");
	tcase_add_test(tc, test_three_reloads_under_load_drop_no_request);
	tcase_add_test(tc, test_broken_config_reload_keeps_the_old_workers);
	tcase_add_test(tc, test_reload_during_a_reload_takes_the_last_file);
	tcase_add_test(tc, test_reload_lets_a_request_in_flight_finish);
	tcase_add_test(tc, test_reload_moves_the_listen_address);
	tcase_add_test(tc, test_reload_to_an_address_in_use_changes_nothing);
	tcase_add_test(tc,
	    test_reload_whose_workers_cannot_start_fails_at_once);
	tcase_add_test(tc, test_admin_listener_moves_only_with_a_good_reload);
	tcase_add_test(tc, test_reload_logs_what_changed);
	tcase_add_test(tc, test_s_reload_reports_the_outcome);
	tcase_add_test(tc, test_s_quit_needs_only_the_pid_file);
	tcase_add_test(tc, test_daemon_with_relative_paths_reloads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reload_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

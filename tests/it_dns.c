/*
 * tests/it_dns.c -- backends that change without a reload (SPEC section
 * 9): names followed in DNS (A/AAAA with resolve: true, SRV with
 * service:) and the admin API's drain.
 *
 * The DNS server is a real one, Debian's dnsmasq, started by each test on
 * a loopback port of its own with --no-resolv and --no-hosts: it answers
 * only from the hosts file the test writes (SIGHUP makes it read the file
 * again) and the SRV records of its config file, and --local=/test/ makes
 * it answer NXDOMAIN for a .test name it does not know. The origins
 * answer with their name ("app"), so a test sees who served.
 */
#include <sys/types.h>

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

#define TOKEN "s3cret-t0ken-0123456789"

/* Every process a test starts, stopped by stop_all in reverse order. */
static pid_t procs[8];
static int   nprocs;

static pid_t
track(pid_t pid)
{
	ck_assert_int_lt(nprocs, 8);
	procs[nprocs++] = pid;
	return pid;
}

/* Stop PID now (and not again in stop_all). */
static void
stop(pid_t pid)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i] == pid)
			procs[i] = 0;
	lbt_stop(pid);
}

static void
stop_all(void)
{
	while (nprocs > 0)
		if (procs[--nprocs] != 0)
			lbt_stop(procs[nprocs]);
}

static pid_t
origin(const char *name, const char *host, unsigned *port)
{
	return track(lbt_origin_start_at(name, host, port, NULL));
}

struct dns {
	pid_t	    pid;
	unsigned    port;
	const char *hosts; /* the hosts file dnsmasq reads */
};

static const char *
dnsmasq_path(void)
{
	const char *env = getenv("LB_DNSMASQ");

	if (env != NULL && *env != '\0')
		return env;
	if (access("/usr/sbin/dnsmasq", X_OK) == 0)
		return "/usr/sbin/dnsmasq";
	ck_abort_msg("dnsmasq not found: apt-get install dnsmasq (or set "
		     "LB_DNSMASQ)");
	return NULL;
}

/*
 * Start dnsmasq on a free loopback port, answering from HOSTS (a hosts
 * file's text) and the config lines CONF (srv-host=...), and wait until
 * it answers (it listens on TCP too).
 */
static void
dns_start(struct dns *d, const char *hosts, const char *conf)
{
	const char *argv[16];
	size_t	    n = 0;

	d->port = lbt_free_port();
	d->hosts = lbt_write_file("hosts", hosts);
	argv[n++] = dnsmasq_path();
	argv[n++] = "--keep-in-foreground";
	argv[n++] = lbt_fmt("--port=%u", d->port);
	argv[n++] = "--listen-address=127.0.0.1";
	argv[n++] = "--bind-interfaces";
	argv[n++] = "--no-resolv";
	argv[n++] = "--no-hosts";
	argv[n++] = lbt_fmt("--addn-hosts=%s", d->hosts);
	argv[n++] = "--local=/test/";
	argv[n++] = lbt_fmt("--conf-file=%s",
	    lbt_write_file("dnsmasq.conf", conf));
	argv[n++] = "--log-facility=-";
	argv[n++] = "--pid-file=";
	/* As root it would become nobody, who cannot read our files. */
	if (geteuid() == 0)
		argv[n++] = "--user=root";
	argv[n] = NULL;
	d->pid = track(lbt_spawn("dnsmasq", argv));
	lbt_wait_port(d->pid, "127.0.0.1", d->port, 5000);
}

/* Rewrite the hosts file and have dnsmasq read it again. */
static void
dns_hosts(struct dns *d, const char *hosts)
{
	lbt_write_file(d->hosts, hosts);
	lbt_signal(d->pid, SIGHUP);
}

/* One lbmaster with an admin port. */
struct lbm {
	pid_t	 pid;
	unsigned port, admin;
};

static void
lb_start(struct lbm *m, const char *fmt, const char *a, const char *b)
{
	m->port = lbt_free_port();
	m->admin = lbt_free_port();
	m->pid = track(lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 1\n"
		    "admin: {listen: 127.0.0.1:%u, token: " TOKEN "}\n"
		    "health_check: off\n%s",
		m->port, m->admin, lbt_fmt(fmt, a, b)),
	    m->port));
	/*
	 * The master binds the admin address just after the listener the
	 * harness waited for: a connection in between would be refused.
	 */
	lbt_wait_port(m->pid, "127.0.0.1", m->admin, LBT_START_MS);
}

/* Who serves a GET for Host HOST: the origin's name, or "503"... */
static const char *
served_by(unsigned port, const char *host)
{
	struct lbt_resp r;
	const char     *who;

	if (lbt_httpf(port, &r,
		"GET /x HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
		host) != 0) {
		lbt_resp_free(&r);
		return "error";
	}
	if (r.status == 200 && lbt_json_str(r.body, "app") != NULL)
		who = lbt_fmt("%s", lbt_json_str(r.body, "app"));
	else
		who = lbt_fmt("%d", r.status);
	lbt_resp_free(&r);
	return who;
}

struct until_arg {
	unsigned    port;
	const char *host;
	const char *who;
};

static bool
served_by_is(void *arg)
{
	struct until_arg *u = arg;

	return strcmp(served_by(u->port, u->host), u->who) == 0;
}

/* Wait until a request for HOST is served by WHO (up to MS). */
static bool
wait_served(unsigned port, const char *host, const char *who, int ms)
{
	struct until_arg u = { port, host, who };

	return lbt_wait_for(served_by_is, &u, ms);
}

/* A request on the admin port; the response in R. */
static void
admin(unsigned port, const char *method, const char *target, const char *auth,
    struct lbt_resp *r)
{
	ck_assert_msg(lbt_httpf(port, r,
			  "%s %s HTTP/1.1\r\nHost: admin\r\n%s%s%s"
			  "Connection: close\r\n\r\n",
			  method, target, auth ? "Authorization: " : "",
			  auth ? auth : "", auth ? "\r\n" : "") == 0,
	    "%s %s: %s", method, target, lbt_err_str(r->err));
}

/* GET /servers, harness-owned. */
static const char *
servers(unsigned port)
{
	struct lbt_resp r;
	const char     *s;

	admin(port, "GET", "/servers", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	s = lbt_fmt("%s", r.body);
	lbt_resp_free(&r);
	return s;
}

struct listed_arg {
	unsigned    admin;
	const char *needle;
	bool	    present;
};

static bool
listed(void *arg)
{
	struct listed_arg *l = arg;

	return (strstr(servers(l->admin), l->needle) != NULL) == l->present;
}

/* Wait until GET /servers contains NEEDLE (or, !PRESENT, does not). */
static bool
wait_listed(unsigned admin, const char *needle, bool present, int ms)
{
	struct listed_arg l = { admin, needle, present };

	return lbt_wait_for(listed, &l, ms);
}

/* A slow request (the origin waits MS) sent on a connection of its own. */
static struct lbt_conn *
slow_request(unsigned port, const char *host, int ms)
{
	struct lbt_conn *c = lbt_conn_open(NULL, port);
	const char	*req = lbt_fmt("GET /slow HTTP/1.1\r\nHost: %s\r\n"
					    "X-Test-Delay: %d\r\n"
					    "Connection: close\r\n\r\n",
		 host, ms);

	ck_assert_ptr_nonnull(c);
	lbt_conn_set_timeout(c, ms + 10000);
	ck_assert_int_eq(lbt_conn_send(c, req, strlen(req)), 0);
	return c;
}

/* The name of the origin that answered C's request. */
static const char *
slow_answer(struct lbt_conn *c)
{
	struct lbt_resp r;
	const char     *who;

	ck_assert_int_eq(lbt_conn_response(c, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	who = lbt_fmt("%s", lbt_json_str(r.body, "app"));
	lbt_resp_free(&r);
	lbt_conn_close(c);
	return who;
}

/*
 * Origins "a" on 127.0.0.1:*PORT and "b" on 127.0.0.2, same port, for a
 * name with two A records. b first: a port the kernel gave on 127.0.0.2
 * is then checked free on 127.0.0.1.
 */
static void
two_addresses(unsigned *port)
{
	*port = 0;
	origin("b", "127.0.0.2", port);
	origin("a", "127.0.0.1", port);
}

static const char *const
    followed_yaml = "resolver: {nameservers: [\"127.0.0.1:%s\"]}\n"
		    "hosts:\n"
		    "  - host: api.test\n"
		    "    servers:\n"
		    "      - {address: \"api.test:%s\", resolve: true}\n";

/* ------------------------------------------------------- A records */

START_TEST(test_added_address_takes_requests_without_a_reload)
{
	struct dns d;
	struct lbm m;
	unsigned   port;
	bool	   b = false;
	long long  until;

	two_addresses(&port);
	dns_start(&d, "127.0.0.1 api.test\n", "");
	lb_start(&m, followed_yaml, lbt_fmt("%u", d.port), lbt_fmt("%u", port));
	ck_assert_msg(wait_served(m.port, "api.test", "a", 10000),
	    "api.test never served: %s", lbt_log_tail(m.pid, 2000));
	for (int i = 0; i < 10; i++)
		ck_assert_str_eq(served_by(m.port, "api.test"), "a");

	dns_hosts(&d, "127.0.0.1 api.test\n127.0.0.2 api.test\n");
	/* dnsmasq's TTL is 0: asked again every second. */
	until = lbt_now_ms() + 5000;
	while (!b && lbt_now_ms() < until)
		b = strcmp(served_by(m.port, "api.test"), "b") == 0;
	ck_assert_msg(b, "127.0.0.2 never served: %s",
	    lbt_log_tail(m.pid, 2000));
	/* The same generation: no reload happened. */
	ck_assert_int_eq(mp_metric(m.admin, "lbmaster_config_generation"), 1);
	ck_assert_int_eq(
	    mp_metric(m.admin,
		"lbmaster_config_reloads_total{result=\"success\"}"),
	    0);
	ck_assert_ptr_nonnull(strstr(servers(m.admin),
	    lbt_fmt("\"address\": \"127.0.0.2:%u\"", port)));
	stop_all();
}
END_TEST

START_TEST(test_removed_address_finishes_its_request_and_gets_no_new_one)
{
	struct dns	 d;
	struct lbm	 m;
	struct lbt_conn *c1, *c2;
	unsigned	 port;
	const char	*w1, *w2, *gone;

	two_addresses(&port);
	dns_start(&d, "127.0.0.1 api.test\n127.0.0.2 api.test\n", "");
	lb_start(&m, followed_yaml, lbt_fmt("%u", d.port), lbt_fmt("%u", port));
	ck_assert(wait_served(m.port, "api.test", "a", 10000));
	ck_assert(wait_served(m.port, "api.test", "b", 5000));
	/* One worker, round robin: one slow request on each. */
	c1 = slow_request(m.port, "api.test", 6000);
	c2 = slow_request(m.port, "api.test", 6000);
	gone = lbt_fmt("\"address\": \"127.0.0.2:%u\"", port);
	ck_assert(
	    wait_listed(m.admin, "\"active_connections\": 1}", true, 3000));

	dns_hosts(&d, "127.0.0.1 api.test\n");
	/* Listed while its request is in flight, as draining. */
	ck_assert_msg(wait_listed(m.admin,
			  lbt_fmt("%s, \"followed\": \"dns\", \"weight\": 1, "
				  "\"backup\": false, \"state\": \"draining\"",
			      gone),
			  true, 5000),
	    "127.0.0.2 not draining: %s", servers(m.admin));
	for (int i = 0; i < 20; i++)
		ck_assert_str_eq(served_by(m.port, "api.test"), "a");
	ck_assert_int_eq(
	    mp_metric(m.admin,
		lbt_fmt("lbmaster_backend_active_connections{"
			"route=\"api.test\",server=\"api.test:%u\","
			"address=\"127.0.0.2:%u\"}",
		    port, port)),
	    1);
	w1 = slow_answer(c1);
	w2 = slow_answer(c2);
	ck_assert_msg((strcmp(w1, "a") == 0 && strcmp(w2, "b") == 0) ||
		(strcmp(w1, "b") == 0 && strcmp(w2, "a") == 0),
	    "slow requests served by %s and %s", w1, w2);
	/* Its count drained to zero: no longer a server at all. */
	ck_assert(wait_listed(m.admin, gone, false, 3000));
	stop_all();
}
END_TEST

/*
 * A DNS server that answers SERVFAIL to every question, on 127.0.0.1:PORT
 * (UDP): the question sent back with QR, RA and rcode 2, no records.
 */
static pid_t
servfail_start(unsigned port)
{
	const char
		   *py = "import socket, sys\n"
			 "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
			 "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
			 "print('ready', flush=True)\n"
			 "while True:\n"
			 "    d, a = s.recvfrom(4096)\n"
			 "    s.sendto(d[:2] + bytes([0x81, 0x82]) + d[4:6] +\n"
			 "             bytes(6) + d[12:], a)\n";
	const char *argv[] = { "/usr/bin/python3", "-c", py,
		lbt_fmt("%u", port), NULL };
	pid_t	    pid = track(lbt_spawn("servfail", argv));

	ck_assert(mp_wait_file(lbt_log_path(pid), "ready", 5000));
	return pid;
}

START_TEST(test_failed_lookups_keep_the_last_addresses)
{
	struct dns d;
	struct lbm m;
	unsigned   port;
	pid_t	   sf;

	two_addresses(&port);
	dns_start(&d, "127.0.0.1 api.test\n", "");
	lb_start(&m, followed_yaml, lbt_fmt("%u", d.port), lbt_fmt("%u", port));
	ck_assert(wait_served(m.port, "api.test", "a", 10000));

	/* NXDOMAIN: the name is gone from DNS, not from the pool. */
	dns_hosts(&d, "127.0.0.9 other.test\n");
	mp_wait_log(m.pid,
	    lbt_fmt("api.test:%u: lookup failed (NXDOMAIN)", port), 5000);
	for (int i = 0; i < 10; i++)
		ck_assert_str_eq(served_by(m.port, "api.test"), "a");
	dns_hosts(&d, "127.0.0.1 api.test\n");
	mp_wait_log(m.pid, lbt_fmt("api.test:%u: resolves again", port), 5000);

	/* SERVFAIL, from a server of our own on the same port. */
	stop(d.pid);
	sf = servfail_start(d.port);
	mp_wait_log(m.pid,
	    lbt_fmt("api.test:%u: lookup failed (SERVFAIL)", port), 5000);
	for (int i = 0; i < 10; i++)
		ck_assert_str_eq(served_by(m.port, "api.test"), "a");

	/* No answer at all (timeouts): still the same. */
	stop(sf);
	lbt_pause_ms(2500);
	for (int i = 0; i < 10; i++)
		ck_assert_str_eq(served_by(m.port, "api.test"), "a");
	ck_assert_int_eq(mp_metric(m.admin, "lbmaster_config_generation"), 1);
	stop_all();
}
END_TEST

START_TEST(test_a_name_that_never_resolved_answers_503)
{
	struct dns d;
	struct lbm m;

	dns_start(&d, "127.0.0.9 other.test\n", "");
	lb_start(&m, followed_yaml, lbt_fmt("%u", d.port), "8080");
	mp_wait_log(m.pid, "api.test:8080: lookup failed (NXDOMAIN)", 5000);
	ck_assert_str_eq(served_by(m.port, "api.test"), "503");
	ck_assert_ptr_null(strstr(servers(m.admin), "api.test"));
	stop_all();
}
END_TEST

START_TEST(test_a_name_with_32_addresses_is_followed_whole)
{
	struct dns  d;
	struct lbm  m;
	char	    hosts[2048] = "";
	const char *list;
	size_t	    n = 0;

	/* 32 A records: more than a 512-byte answer holds. */
	for (int i = 1; i <= 32; i++)
		snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts),
		    "127.0.0.%d api.test\n", i);
	dns_start(&d, hosts, "");
	lb_start(&m, followed_yaml, lbt_fmt("%u", d.port), "8080");
	ck_assert(wait_listed(m.admin, "\"127.0.0.32:8080\"", true, 10000));
	list = servers(m.admin);
	for (const char *p = list; (p = strstr(p, "\"address\"")) != NULL; p++)
		n++;
	ck_assert_uint_eq(n, 32);
	stop_all();
}
END_TEST

/* -------------------------------------------------------------- SRV */

static const char
    *const srv_yaml = "resolver: {nameservers: [\"127.0.0.1:%s\"]}\n"
		      "hosts:\n"
		      "  - host: web.test\n"
		      "%s"
		      "    servers:\n"
		      "      - {service: _http._tcp.web.test}\n";

START_TEST(test_srv_weights_split_requests_by_weight)
{
	struct dns d;
	struct lbm m;
	unsigned   pa = 0, pb = 0, na = 0, nb = 0;

	origin("a", "127.0.0.1", &pa);
	origin("b", "127.0.0.1", &pb);
	dns_start(&d, "127.0.0.1 t.test\n",
	    lbt_fmt("srv-host=_http._tcp.web.test,t.test,%u,0,1\n"
		    "srv-host=_http._tcp.web.test,t.test,%u,0,3\n",
		pa, pb));
	lb_start(&m, srv_yaml, lbt_fmt("%u", d.port), "");
	ck_assert(
	    wait_listed(m.admin, lbt_fmt("127.0.0.1:%u", pb), true, 10000));
	ck_assert(
	    wait_listed(m.admin, lbt_fmt("127.0.0.1:%u", pa), true, 1000));
	for (int i = 0; i < 400; i++) {
		const char *who = served_by(m.port, "web.test");

		if (strcmp(who, "a") == 0)
			na++;
		else if (strcmp(who, "b") == 0)
			nb++;
	}
	ck_assert_uint_eq(na + nb, 400);
	ck_assert_msg(nb >= 3 * na * 9 / 10 && nb <= 3 * na * 11 / 10,
	    "a %u, b %u: not 1:3", na, nb);
	ck_assert_ptr_nonnull(strstr(servers(m.admin), "\"weight\": 3"));
	stop_all();
}
END_TEST

START_TEST(test_srv_lower_priority_serves_only_when_the_primary_is_down)
{
	struct dns d;
	struct lbm m;
	unsigned   pa = 0, pb = 0;

	origin("a", "127.0.0.1", &pa);
	origin("b", "127.0.0.1", &pb);
	dns_start(&d, "127.0.0.1 t.test\n",
	    lbt_fmt("srv-host=_http._tcp.web.test,t.test,%u,10,1\n"
		    "srv-host=_http._tcp.web.test,t.test,%u,20,1\n",
		pa, pb));
	lb_start(&m, srv_yaml, lbt_fmt("%u", d.port),
	    "    health_check: {interval: 200ms, timeout: 200ms, rise: 1, "
	    "fall: 1}\n");
	ck_assert(
	    wait_listed(m.admin, lbt_fmt("127.0.0.1:%u", pb), true, 10000));
	ck_assert(wait_served(m.port, "web.test", "a", 5000));
	for (int i = 0; i < 20; i++)
		ck_assert_str_eq(served_by(m.port, "web.test"), "a");
	lbt_origin_health(pa, false);
	ck_assert(wait_served(m.port, "web.test", "b", 5000));
	for (int i = 0; i < 10; i++)
		ck_assert_str_eq(served_by(m.port, "web.test"), "b");
	lbt_origin_health(pa, true);
	ck_assert(wait_served(m.port, "web.test", "a", 5000));
	stop_all();
}
END_TEST

/* ------------------------------------------------------------ drain */

static const char *const
    static_yaml = "hosts:\n"
		  "  - host: app.test\n"
		  "    servers: [\"127.0.0.1:%s\", {address: \"127.0.0.1:%s\", "
		  "backup: true}]\n";

START_TEST(test_drain_needs_the_token)
{
	struct lbm	m;
	struct lbt_resp r;
	unsigned	pa = 0, pb = 0;
	const char     *q;

	origin("a", "127.0.0.1", &pa);
	origin("b", "127.0.0.1", &pb);
	lb_start(&m, static_yaml, lbt_fmt("%u", pa), lbt_fmt("%u", pb));
	q = lbt_fmt("/servers/drain?route=app.test&server=127.0.0.1:%u", pa);

	admin(m.admin, "POST", q, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	lbt_resp_free(&r);
	admin(m.admin, "POST", q, "Bearer wrong-token-0123456789", &r);
	ck_assert_int_eq(r.status, 403);
	lbt_resp_free(&r);
	admin(m.admin, "POST", q, "Basic " TOKEN, &r);
	ck_assert_int_eq(r.status, 403);
	lbt_resp_free(&r);
	ck_assert_str_eq(served_by(m.port, "app.test"), "a");

	admin(m.admin, "POST", q, "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"state\": \"draining\""));
	lbt_resp_free(&r);
	ck_assert_str_eq(served_by(m.port, "app.test"), "b");

	/* Unknown route or server: 404; GET is not a change: 405. */
	admin(m.admin, "POST", "/servers/drain?route=nope&server=x",
	    "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 404);
	lbt_resp_free(&r);
	admin(m.admin, "POST", "/servers/drain?route=app.test&server=x",
	    "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 404);
	lbt_resp_free(&r);
	admin(m.admin, "POST", "/servers/drain?route=app.test", "Bearer " TOKEN,
	    &r);
	ck_assert_int_eq(r.status, 400);
	lbt_resp_free(&r);
	admin(m.admin, "GET", q, "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 405);
	lbt_resp_free(&r);

	admin(m.admin, "POST",
	    lbt_fmt("/servers/ready?route=app.test&server=127.0.0.1:%u", pa),
	    "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	ck_assert_str_eq(served_by(m.port, "app.test"), "a");
	stop_all();
}
END_TEST

START_TEST(test_without_a_token_the_write_endpoints_do_not_exist)
{
	struct lbt_resp r;
	unsigned	pa = 0, port, adm;

	origin("a", "127.0.0.1", &pa);
	port = lbt_free_port();
	adm = lbt_free_port();
	track(lbt_lbmaster_start(lbt_fmt("listen: 127.0.0.1:%u\n"
					 "admin: {listen: 127.0.0.1:%u}\n"
					 "health_check: off\n"
					 "paths: [{path: /, servers: "
					 "[\"127.0.0.1:%u\"]}]\n",
				     port, adm, pa),
	    port));
	admin(adm, "POST",
	    lbt_fmt("/servers/drain?route=/&server=127.0.0.1:%u", pa),
	    "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 404);
	lbt_resp_free(&r);
	ck_assert_ptr_nonnull(strstr(servers(adm), "\"state\": \"ready\""));
	stop_all();
}
END_TEST

START_TEST(test_drain_lets_the_request_in_flight_finish)
{
	struct lbm	 m;
	struct lbt_resp	 r;
	struct lbt_conn *c;
	unsigned	 pa = 0, pb = 0;
	const char	*series;

	origin("a", "127.0.0.1", &pa);
	origin("b", "127.0.0.1", &pb);
	lb_start(&m, static_yaml, lbt_fmt("%u", pa), lbt_fmt("%u", pb));
	series = lbt_fmt("{route=\"app.test\",server=\"127.0.0.1:%u\","
			 "address=\"127.0.0.1:%u\"",
	    pa, pa);
	c = slow_request(m.port, "app.test", 2000);
	ck_assert(
	    wait_listed(m.admin, "\"active_connections\": 1}", true, 3000));
	admin(m.admin, "POST",
	    lbt_fmt("/servers/drain?route=app.test&server=127.0.0.1:%u", pa),
	    "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	ck_assert_int_eq(
	    mp_metric(m.admin,
		lbt_fmt("lbmaster_backend_state%s,state=\"draining\"}",
		    series)),
	    1);
	ck_assert_int_eq(
	    mp_metric(m.admin,
		lbt_fmt("lbmaster_backend_state%s,state=\"ready\"}", series)),
	    0);
	for (int i = 0; i < 10; i++)
		ck_assert_str_eq(served_by(m.port, "app.test"), "b");
	ck_assert_int_eq(mp_metric(m.admin,
			     lbt_fmt("lbmaster_backend_active_connections%s}",
				 series)),
	    1);
	ck_assert_str_eq(slow_answer(c), "a");
	ck_assert_int_eq(mp_metric(m.admin,
			     lbt_fmt("lbmaster_backend_active_connections%s}",
				 series)),
	    0);
	stop_all();
}
END_TEST

START_TEST(test_drain_state_survives_a_reload)
{
	struct lbm	m;
	struct lbt_resp r;
	unsigned	pa = 0, pb = 0;

	origin("a", "127.0.0.1", &pa);
	origin("b", "127.0.0.1", &pb);
	lb_start(&m, static_yaml, lbt_fmt("%u", pa), lbt_fmt("%u", pb));
	admin(m.admin, "POST",
	    lbt_fmt("/servers/drain?route=app.test&server=127.0.0.1:%u", pa),
	    "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);

	/* A reload that changes something else. */
	lbt_write_file("lbmaster.yaml",
	    lbt_fmt("listen: 127.0.0.1:%u\n"
		    "workers: 1\n"
		    "admin: {listen: 127.0.0.1:%u, token: " TOKEN "}\n"
		    "health_check: off\n"
		    "hosts:\n"
		    "  - host: app.test\n"
		    "    servers: [\"127.0.0.1:%u\", {address: "
		    "\"127.0.0.1:%u\", backup: true}]\n"
		    "  - host: other.test\n"
		    "    servers: [\"127.0.0.1:%u\"]\n",
		m.port, m.admin, pa, pb, pb));
	lbt_signal(m.pid, SIGHUP);
	mp_wait_log(m.pid, "generation 2 serves", 10000);
	ck_assert_int_eq(mp_metric(m.admin, "lbmaster_config_generation"), 2);
	ck_assert_ptr_nonnull(strstr(servers(m.admin),
	    lbt_fmt("\"address\": \"127.0.0.1:%u\", \"followed\": null, "
		    "\"weight\": 1, \"backup\": false, \"state\": "
		    "\"draining\"",
		pa)));
	for (int i = 0; i < 10; i++)
		ck_assert_str_eq(served_by(m.port, "app.test"), "b");
	admin(m.admin, "POST",
	    lbt_fmt("/servers/ready?route=app.test&server=127.0.0.1:%u", pa),
	    "Bearer " TOKEN, &r);
	ck_assert_int_eq(r.status, 200);
	lbt_resp_free(&r);
	ck_assert_str_eq(served_by(m.port, "app.test"), "a");
	stop_all();
}
END_TEST

static Suite *
dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc;

	tc = lbt_tcase("follow");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_added_address_takes_requests_without_a_reload);
	tcase_add_test(tc,
	    test_removed_address_finishes_its_request_and_gets_no_new_one);
	tcase_add_test(tc, test_failed_lookups_keep_the_last_addresses);
	tcase_add_test(tc, test_a_name_that_never_resolved_answers_503);
	tcase_add_test(tc, test_a_name_with_32_addresses_is_followed_whole);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("srv");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_srv_weights_split_requests_by_weight);
	tcase_add_test(tc,
	    test_srv_lower_priority_serves_only_when_the_primary_is_down);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("drain");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_drain_needs_the_token);
	tcase_add_test(tc,
	    test_without_a_token_the_write_endpoints_do_not_exist);
	tcase_add_test(tc, test_drain_lets_the_request_in_flight_finish);
	tcase_add_test(tc, test_drain_state_survives_a_reload);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

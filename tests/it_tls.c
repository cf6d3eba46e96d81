/*
 * tests/it_tls.c -- SPEC section 8: HTTPS listeners. Certificates are
 * made when the test runs, with the openssl command (no private key is
 * kept in the tree); the client is OpenSSL's, here (tls_get), or the
 * openssl command's s_client when a session must be carried from one
 * connection to the next.
 *
 * SNI picks a certificate by its own subjectAltNames, TLS 1.0 and 1.1 are
 * refused, plain HTTP on the TLS port gets a 400, a handshake is bounded
 * by timeouts.client, a bad certificate or key is the config's error at
 * its position (-t, start, reload: a failed reload keeps the old
 * certificate), a reload swaps certificates, sessions resume on any
 * worker, and the origin learns X-Forwarded-Proto: https.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/str.h"
#include "tests/harness.h"
#include "tests/mproc.h"

#define WAIT_MS 10000

/* ---------------------------------------------------- certificates */

/*
 * A self-signed ECDSA P-256 certificate NAME.pem, key NAME.key in the
 * temp dir, with CN=NAME and subjectAltName SANS ("DNS:a.test,..."),
 * valid for DAYS days. Returns NAME's path without the suffix.
 */
static const char *
make_cert(const char *name, const char *sans, int days)
{
	const char *base = lbt_path(name);
	char	   *out = NULL;
	/* argv[0] must be a path: the shell finds openssl on $PATH. */
	const char *argv[] = { "/bin/sh", "-c", "exec openssl \"$@\"",
		"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:P-256", "-nodes", "-keyout",
		lbt_fmt("%s.key", base), "-out", lbt_fmt("%s.pem", base),
		"-days", lbt_fmt("%d", days), "-subj", lbt_fmt("/CN=%s", name),
		"-addext", lbt_fmt("subjectAltName=%s", sans), NULL };
	int	    rc = lbt_run(argv, WAIT_MS, &out);

	ck_assert_msg(rc == 0, "openssl req: %s", out);
	return base;
}

/*
 * A CA (CA.pem, CA.key) and a client certificate it signs, CLIENT.pem and
 * CLIENT.key, with the subject SUBJ ("/CN=alice/O=Mango"). Returns
 * CLIENT's path without the suffix.
 */
static const char *
make_client_cert(const char *ca, const char *client, const char *subj)
{
	char	   *out = NULL;
	const char *argv[] = { "/bin/sh", "-c",
		lbt_fmt("cd '%s' && "
			"openssl req -x509 -newkey ec -pkeyopt "
			"ec_paramgen_curve:P-256 -nodes -keyout %s.key -out "
			"%s.pem -days 30 -subj /CN=%s && "
			"openssl req -new -newkey ec -pkeyopt "
			"ec_paramgen_curve:P-256 -nodes -keyout %s.key -out "
			"%s.csr -subj '%s' && "
			"openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key "
			"-CAcreateserial -out %s.pem -days 30",
		    lbt_tmpdir(), ca, ca, ca, client, client, subj, client, ca,
		    ca, client),
		NULL };
	int	    rc = lbt_run(argv, WAIT_MS, &out);

	ck_assert_msg(rc == 0, "openssl: %s", out);
	return lbt_path(client);
}

/* A listen: entry in the map form with the certificates BASES. */
static const char *
tls_listener(unsigned port, const char *const bases[], const char *more)
{
	char *s = lbt_fmt("  - address: 127.0.0.1:%u\n    tls:\n"
			  "      certificates:\n",
	    port);

	for (size_t i = 0; bases[i] != NULL; i++)
		s = lbt_fmt("%s        - {cert: %s.pem, key: %s.key}\n", s,
		    bases[i], bases[i]);
	return lbt_fmt("%s%s", s, more);
}

/*
 * A config: a plain listener on PLAIN, the TLS listener TLS (from
 * tls_listener), WORKERS workers, the access log to the error log, one
 * route / to the origin on ORIGIN, and TOP.
 */
static const char *
config(unsigned plain, const char *tls, unsigned workers, unsigned origin,
    const char *top)
{
	return lbt_fmt("listen:\n  - 127.0.0.1:%u\n%sworkers: %u\n"
		       "access_log: stderr\nhealth_check: off\n%s"
		       "paths:\n  - path: /\n    servers: [127.0.0.1:%u]\n",
	    plain, tls, workers, top, origin);
}

/* ------------------------------------------------------ TLS client */

struct tls_res {
	int   handshake; /* 1: done, 0: refused or failed */
	char  cn[256];	 /* the certificate's CN */
	char  version[32];
	char  alpn[32];
	char *text; /* harness-owned: all the server sent, or NULL */
};

/* A TCP connection to 127.0.0.1:PORT whose reads give up after TIMEOUT s. */
static int
tcp_connect(unsigned port, time_t timeout)
{
	struct sockaddr_in sin;
	struct timeval	   tv = { timeout, 0 };
	int		   fd;

	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/*
 * Connect to 127.0.0.1:PORT over TLS (SNI when not NULL, no newer than
 * MAX_VERSION when not 0), send REQ (when not NULL) and read until the
 * server closes. No verification: the test looks at the certificate.
 */
static void
tls_get_as(unsigned port, const char *sni, int max_version, const char *req,
    const char *client, struct tls_res *res)
{
	static const unsigned char alpn[] = "\x02h2\x08http/1.1";
	SSL_CTX			  *ctx;
	SSL			  *ssl;
	X509			  *x;
	const unsigned char	  *proto;
	unsigned		   plen;
	char			   buf[16384], *text;
	int			   fd, n;

	memset(res, 0, sizeof(*res));
	ck_assert_ptr_nonnull(ctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	/* Let the old versions be offered at all: level 0. */
	SSL_CTX_set_security_level(ctx, 0);
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(ctx, max_version);
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
	if (client != NULL) {
		ck_assert_int_eq(SSL_CTX_use_certificate_file(ctx,
				     lbt_fmt("%s.pem", client),
				     SSL_FILETYPE_PEM),
		    1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx,
				     lbt_fmt("%s.key", client),
				     SSL_FILETYPE_PEM),
		    1);
	}
	fd = tcp_connect(port, 5);
	ck_assert_ptr_nonnull(ssl = SSL_new(ctx));
	SSL_set_fd(ssl, fd);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	if (SSL_connect(ssl) != 1)
		goto out;
	res->handshake = 1;
	snprintf(res->version, sizeof(res->version), "%s",
	    SSL_get_version(ssl));
	SSL_get0_alpn_selected(ssl, &proto, &plen);
	if (plen < sizeof(res->alpn)) {
		memcpy(res->alpn, proto, plen);
		res->alpn[plen] = '\0';
	}
	if ((x = SSL_get1_peer_certificate(ssl)) != NULL) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, res->cn, sizeof(res->cn));
		X509_free(x);
	}
	if (req == NULL)
		goto out;
	/* A refused client may learn it here already (mutual TLS). */
	if (SSL_write(ssl, req, (int)strlen(req)) != (int)strlen(req))
		goto out;
	text = lbt_fmt("%s", "");
	while ((n = SSL_read(ssl, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		text = lbt_fmt("%s%s", text, buf);
	}
	res->text = text;
out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

/* Without a client certificate. */
static void
tls_get(unsigned port, const char *sni, int max_version, const char *req,
    struct tls_res *res)
{
	tls_get_as(port, sni, max_version, req, NULL, res);
}

/* GET PATH with Host HOST and Connection: close, over TLS with SNI. */
static const char *
https_get(unsigned port, const char *sni, const char *path)
{
	struct tls_res r;

	tls_get(port, sni, 0,
	    lbt_fmt("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
		path, sni != NULL ? sni : "test"),
	    &r);
	ck_assert_msg(r.handshake, "no TLS handshake with port %u", port);
	return r.text != NULL ? r.text : "";
}

/* The CN of the certificate a handshake with SNI gets. */
static const char *
cn_for(unsigned port, const char *sni)
{
	struct tls_res r;

	tls_get(port, sni, 0, NULL, &r);
	ck_assert_msg(r.handshake, "no TLS handshake (SNI %s)",
	    sni ? sni : "none");
	return lbt_fmt("%s", r.cn);
}

struct cn_wait {
	unsigned    port;
	const char *cn;
};

static bool
serves_cn(void *arg)
{
	struct cn_wait *w = arg;
	struct tls_res	r;

	tls_get(w->port, NULL, 0, NULL, &r);
	return r.handshake && strcmp(r.cn, w->cn) == 0;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_https_request_reaches_the_origin_with_forwarded_proto_https)
{
	unsigned       plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char    *a = make_cert("a.test", "DNS:a.test", 30), *text;
	struct tls_res r;
	pid_t	       op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o, ""),
	    tls);
	text = https_get(tls, "a.test", "/hello");
	tls_get(tls, "a.test", 0, NULL, &r);
	mp_wait_log(lb, "sni=a.test", WAIT_MS);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_msg(strncmp(text, "HTTP/1.1 200 ", 13) == 0, "%s", text);
	ck_assert_msg(strstr(text, "\"X-Forwarded-Proto\": \"https\"") != NULL,
	    "%s", text);
	ck_assert_str_eq(r.alpn, "http/1.1");
	ck_assert_str_eq(r.version, "TLSv1.3");
	/* The access log says how: between the combined part and upstream=. */
	ck_assert_ptr_nonnull(strstr(lbt_log_tail(lb, 4096),
	    "\"-\" tls=TLSv1.3 sni=a.test upstream="));
}
END_TEST

/*
 * Large request bodies stream through TLS to the origin whole, again and
 * again (curl: it waits for 100 Continue, then sends as the socket
 * takes it). A TLS client's read left errno 0, and the origin
 * connection's write event, meeting a buffer already written, took that
 * for an error: a 502 for about a third of these uploads.
 */
START_TEST(test_large_bodies_over_tls_reach_the_origin_whole)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *argv[] = { "/bin/sh", "-c",
		lbt_fmt("head -c 30000000 /dev/zero > '%s' && "
			"for i in 1 2 3 4 5 6 7 8; do curl -sk -m 60 "
			"--data-binary @'%s' -o /dev/null -w '%%{http_code} ' "
			"https://127.0.0.1:%u/up; done",
		    lbt_path("body"), lbt_path("body"), tls),
		NULL };
	char	   *out = NULL;
	pid_t	    op, lb;
	int	    rc;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o, "limits: {max_body_size: 64m}\n"),
	    tls);
	rc = lbt_run(argv, 120000, &out);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "200 200 200 200 200 200 200 200 ");
}
END_TEST

START_TEST(test_plain_listener_still_says_http)
{
	unsigned	plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char     *a = make_cert("a.test", "DNS:a.test", 30);
	struct lbt_resp resp;
	pid_t		op, lb;
	int		rc;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o, ""),
	    plain);
	rc = lbt_httpf(plain, &resp,
	    "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	mp_wait_log(lb, "upstream=", WAIT_MS);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_nonnull(
	    strstr(resp.body, "\"X-Forwarded-Proto\": \"http\""));
	ck_assert_ptr_null(strstr(lbt_log_tail(lb, 4096), "tls="));
	lbt_resp_free(&resp);
}
END_TEST

START_TEST(test_sni_picks_the_certificate_by_its_subject_alt_names)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("first", "DNS:a.test,DNS:*.w.test", 30);
	const char *b = make_cert("second", "DNS:b.test,DNS:x.w.test", 30);
	const char *c = make_cert("third", "DNS:*.c.test", 30);
	const char *by_a, *by_b, *exact, *wild, *wild_c, *deep, *none, *other;
	const char *upper;
	pid_t	    op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, b, c, NULL }, ""),
				    1, o, ""),
	    tls);
	by_a = cn_for(tls, "a.test");
	by_b = cn_for(tls, "b.test");
	exact = cn_for(tls, "x.w.test"); /* exact beats first's wildcard */
	wild = cn_for(tls, "y.w.test");
	wild_c = cn_for(tls, "www.c.test");
	deep = cn_for(tls, "a.www.c.test"); /* one label only */
	none = cn_for(tls, NULL);
	other = cn_for(tls, "unknown.test");
	upper = cn_for(tls, "B.TEST");
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_str_eq(by_a, "first");
	ck_assert_str_eq(by_b, "second");
	ck_assert_str_eq(exact, "second");
	ck_assert_str_eq(wild, "first");
	ck_assert_str_eq(wild_c, "third");
	ck_assert_str_eq(deep, "first");
	ck_assert_str_eq(none, "first");
	ck_assert_str_eq(other, "first");
	ck_assert_str_eq(upper, "second");
}
END_TEST

START_TEST(test_tls_1_1_is_refused_and_min_version_1_3_refuses_1_2)
{
	unsigned       plain = lbt_free_port(), tls = lbt_free_port();
	unsigned       tls13 = lbt_free_port(), o = 0;
	const char    *a = make_cert("a.test", "DNS:a.test", 30);
	struct tls_res v11, v12, v12on13, v13;
	pid_t	       op, lb;
	const char    *both;

	op = lbt_origin_start("o1", &o, NULL);
	both = lbt_fmt("%s%s",
	    tls_listener(tls, (const char *[]){ a, NULL }, ""),
	    tls_listener(tls13, (const char *[]){ a, NULL },
		"      min_version: \"1.3\"\n"));
	lb = lbt_lbmaster_start(config(plain, both, 1, o, ""), tls);
	tls_get(tls, "a.test", TLS1_1_VERSION, NULL, &v11);
	tls_get(tls, "a.test", TLS1_2_VERSION, NULL, &v12);
	tls_get(tls13, "a.test", TLS1_2_VERSION, NULL, &v12on13);
	tls_get(tls13, "a.test", 0, NULL, &v13);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_int_eq(v11.handshake, 0);
	ck_assert_int_eq(v12.handshake, 1);
	ck_assert_str_eq(v12.version, "TLSv1.2");
	ck_assert_int_eq(v12on13.handshake, 0);
	ck_assert_int_eq(v13.handshake, 1);
}
END_TEST

START_TEST(test_plain_http_on_the_tls_port_gets_400_and_garbage_is_closed)
{
	unsigned	 plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char	*a = make_cert("a.test", "DNS:a.test", 30);
	struct lbt_resp	 resp;
	struct lbt_conn *g;
	const char	*ok;
	char		 buf[64];
	pid_t		 op, lb;
	int		 rc;
	ssize_t		 n;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o, ""),
	    tls);
	rc = lbt_httpf(tls, &resp,
	    "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	ck_assert_ptr_nonnull(g = lbt_conn_open(NULL, tls));
	lbt_conn_send(g, "\x01\x02\x03garbage\r\n\r\n", 14);
	n = lbt_conn_recv(g, buf, sizeof(buf));
	lbt_conn_close(g);
	ok = https_get(tls, "a.test", "/after");
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(resp.status, 400);
	ck_assert_str_eq(resp.body,
	    "The plain HTTP request was sent to an HTTPS port.\n");
	ck_assert_int_le(n, 0);
	ck_assert_msg(strncmp(ok, "HTTP/1.1 200 ", 13) == 0, "%s", ok);
	lbt_resp_free(&resp);
}
END_TEST

START_TEST(test_a_silent_handshake_is_closed_after_timeouts_client)
{
	unsigned	 plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char	*a = make_cert("a.test", "DNS:a.test", 30);
	struct lbt_conn *silent, *half;
	const char	*ok;
	pid_t		 op, lb;
	bool		 closed, half_closed;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o,
				    "timeouts: {client: 1s, keepalive: 30s}\n"),
	    tls);
	ck_assert_ptr_nonnull(silent = lbt_conn_open(NULL, tls));
	/* Half a ClientHello: the record header promises more. */
	ck_assert_ptr_nonnull(half = lbt_conn_open(NULL, tls));
	lbt_conn_send(half, "\x16\x03\x01\x02\x00\x01", 6);
	/* Others are served meanwhile. */
	ok = https_get(tls, "a.test", "/meanwhile");
	closed = lbt_conn_wait_closed(silent, 5000);
	half_closed = lbt_conn_wait_closed(half, 5000);
	lbt_conn_close(silent);
	lbt_conn_close(half);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_msg(strncmp(ok, "HTTP/1.1 200 ", 13) == 0, "%s", ok);
	ck_assert(closed);
	ck_assert(half_closed);
}
END_TEST

/* ------------------------------------------------------ mutual TLS */

#define GET_WITH_FAKE                                             \
	"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n" \
	"X-Client-Cert-Subject: CN=mallory\r\n\r\n"

START_TEST(test_mutual_tls_passes_the_verified_subject_and_refuses_others)
{
	unsigned	plain = lbt_free_port(), req = lbt_free_port();
	unsigned	opt = lbt_free_port(), o = 0;
	const char     *a = make_cert("a.test", "DNS:a.test", 30);
	const char     *alice = make_client_cert("ca", "alice",
		"/CN=alice/O=Mango");
	const char     *eve = make_client_cert("otherca", "eve", "/CN=eve");
	const char     *both, *ca = lbt_fmt("%s.pem", lbt_path("ca"));
	struct tls_res	with, without, stranger, opt_without, opt_with;
	struct lbt_resp resp;
	pid_t		op, lb;
	int		rc;

	op = lbt_origin_start("o1", &o, NULL);
	both = lbt_fmt("%s%s",
	    tls_listener(req, (const char *[]){ a, NULL },
		lbt_fmt("      client_ca: %s\n", ca)),
	    tls_listener(opt, (const char *[]){ a, NULL },
		lbt_fmt("      client_ca: %s\n      client_verify: optional\n",
		    ca)));
	lb = lbt_lbmaster_start(config(plain, both, 1, o, ""), req);
	tls_get_as(req, "a.test", 0, GET_WITH_FAKE, alice, &with);
	tls_get_as(req, "a.test", 0, GET_WITH_FAKE, NULL, &without);
	tls_get_as(req, "a.test", 0, GET_WITH_FAKE, eve, &stranger);
	tls_get_as(opt, "a.test", 0, GET_WITH_FAKE, NULL, &opt_without);
	tls_get_as(opt, "a.test", 0, GET_WITH_FAKE, alice, &opt_with);
	rc = lbt_httpf(plain, &resp, "%s", GET_WITH_FAKE);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_ptr_nonnull(with.text);
	ck_assert_msg(strstr(with.text,
			  "\"X-Client-Cert-Subject\": \"O=Mango,CN=alice\"") !=
		NULL,
	    "%s", with.text);
	ck_assert_ptr_null(strstr(with.text, "mallory"));
	/* No certificate, or one of another CA: no answer at all. */
	ck_assert(without.text == NULL || without.text[0] == '\0');
	ck_assert(stranger.text == NULL || stranger.text[0] == '\0');
	/* optional: served without, and nothing of what the client said. */
	ck_assert_ptr_nonnull(opt_without.text);
	ck_assert_msg(strncmp(opt_without.text, "HTTP/1.1 200 ", 13) == 0, "%s",
	    opt_without.text);
	ck_assert_ptr_null(strstr(opt_without.text, "X-Client-Cert-Subject"));
	ck_assert_ptr_nonnull(strstr(opt_with.text, "CN=alice"));
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_null(strstr(resp.body, "X-Client-Cert-Subject"));
	lbt_resp_free(&resp);
}
END_TEST

/* ------------------------------------------------------ redirect */

START_TEST(test_redirect_https_answers_308_to_the_same_target)
{
	unsigned	plain = lbt_free_port(), tls = lbt_free_port();
	unsigned	redir = lbt_free_port();
	unsigned	to443 = lbt_free_port(), o = 0;
	const char     *a = make_cert("a.test", "DNS:a.test", 30);
	struct lbt_resp r1, r2, r3;
	pid_t		op, lb;
	int		rc1, rc2, rc3;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(
	    config(plain,
		lbt_fmt("%s  - address: 127.0.0.1:%u\n    redirect_https: %u\n"
			"  - {address: 127.0.0.1:%u, redirect_https: true}\n",
		    tls_listener(tls, (const char *[]){ a, NULL }, ""), redir,
		    tls, to443),
		1, o, ""),
	    tls);
	rc1 = lbt_httpf(redir, &r1,
	    "GET /a/b?c=1 HTTP/1.1\r\nHost: www.a.test:%u\r\n\r\n", redir);
	rc2 = lbt_httpf(to443, &r2, "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n");
	rc3 = lbt_httpf(redir, &r3,
	    "POST /up HTTP/1.1\r\nHost: [::1]:%u\r\n"
	    "Content-Length: 5\r\n\r\nhello",
	    redir);
	mp_wait_log(lb, "\"POST /up HTTP/1.1\" 308", WAIT_MS);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_int_eq(rc1, 0);
	ck_assert_int_eq(r1.status, 308);
	ck_assert_str_eq(lbt_header(&r1, "Location"),
	    lbt_fmt("https://www.a.test:%u/a/b?c=1", tls));
	ck_assert_int_eq(rc2, 0);
	ck_assert_int_eq(r2.status, 308);
	ck_assert_str_eq(lbt_header(&r2, "Location"), "https://a.test/x");
	ck_assert_int_eq(rc3, 0);
	ck_assert_int_eq(r3.status, 308);
	ck_assert_str_eq(lbt_header(&r3, "Location"),
	    lbt_fmt("https://[::1]:%u/up", tls));
	/* Nothing reached the origin. */
	ck_assert_ptr_null(strstr(lbt_log_tail(lb, 8192), "upstream=127"));
	lbt_resp_free(&r1);
	lbt_resp_free(&r2);
	lbt_resp_free(&r3);
}
END_TEST

/* ------------------------------------------------- origins over TLS */

/*
 * The TLS origin is an lbmaster of its own, B, with a TLS listener in
 * front of a test origin: it speaks HTTP/1.1 with keep-alive, and its
 * /metrics count the handshakes it saw.
 */
struct tls_origin {
	pid_t	 origin, lb;
	unsigned port, admin, plain;
};

static void
tls_origin_start(struct tls_origin *t, const char *cert)
{
	unsigned o = 0;

	t->port = lbt_free_port();
	t->admin = lbt_free_port();
	t->plain = lbt_free_port();
	t->origin = lbt_origin_start("behind", &o, NULL);
	t->lb =
	    lbt_lbmaster_start(config(t->plain,
				   tls_listener(t->port,
				       (const char *[]){ cert, NULL }, ""),
				   1, o,
				   lbt_fmt("admin: {listen: 127.0.0.1:%u}\n",
				       t->admin)),
		t->port);
	lbt_wait_port(t->lb, "127.0.0.1", t->admin, WAIT_MS);
}

static long long
tls_origin_handshakes(const struct tls_origin *t, const char *result)
{
	return mp_metric(t->admin,
	    lbt_fmt("lbmaster_tls_handshakes_total{listener=\"127.0.0.1:%u\","
		    "result=\"%s\"}",
		t->port, result));
}

START_TEST(test_origin_over_tls_is_verified_and_pooled)
{
	const char *oc = make_cert("o.test", "DNS:o.test,IP:127.0.0.1", 30);
	struct tls_origin b;
	struct lbt_conn	 *c;
	struct lbt_resp	  r[5], sni, unknown, name;
	unsigned	  plain = lbt_free_port();
	long long	  ok, failed;
	pid_t		  a;
	int		  rc[5], rcs, rcu, rcn;
	const char	 *good = "GET /good/x HTTP/1.1\r\nHost: a.test\r\n\r\n";

	tls_origin_start(&b, oc);
	a = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\nworkers: 1\nhealth_check: off\n"
		    "paths:\n"
		    "  - path: /good\n"
		    "    servers: [\"https://127.0.0.1:%u\"]\n"
		    "    backend_tls: {ca: %s.pem}\n"
		    "  - path: /sni\n"
		    "    servers: [\"127.0.0.1:%u\"]\n"
		    "    backend_tls: {ca: %s.pem, sni: o.test}\n"
		    "  - path: /wrongname\n"
		    "    servers: [\"127.0.0.1:%u\"]\n"
		    "    backend_tls: {ca: %s.pem, sni: other.test}\n"
		    "  - path: /unknown\n"
		    "    servers: [\"https://127.0.0.1:%u\"]\n",
		plain, b.port, oc, b.port, oc, b.port, oc, b.port),
	    plain);
	ck_assert_ptr_nonnull(c = lbt_conn_open(NULL, plain));
	for (int i = 0; i < 5; i++)
		rc[i] = lbt_conn_request(c, good, strlen(good), &r[i]);
	lbt_conn_close(c);
	rcs = lbt_httpf(plain, &sni,
	    "GET /sni/y HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
	rcn = lbt_httpf(plain, &name,
	    "GET /wrongname/y HTTP/1.1\r\nHost: a.test\r\n"
	    "Connection: close\r\n\r\n");
	rcu = lbt_httpf(plain, &unknown,
	    "GET /unknown/z HTTP/1.1\r\nHost: a.test\r\n"
	    "Connection: close\r\n\r\n");
	ok = tls_origin_handshakes(&b, "success");
	failed = tls_origin_handshakes(&b, "failure");
	lbt_stop(a);
	lbt_stop(b.lb);
	lbt_stop(b.origin);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(rc[i], 0);
		ck_assert_int_eq(r[i].status, 200);
		/* B heard it over TLS. */
		ck_assert_ptr_nonnull(
		    strstr(r[i].body, "\"X-Forwarded-Proto\": \"https\""));
		lbt_resp_free(&r[i]);
	}
	ck_assert_int_eq(rcs, 0);
	ck_assert_int_eq(sni.status, 200);
	ck_assert_int_eq(rcn, 0);
	ck_assert_int_eq(name.status, 502);
	ck_assert_int_eq(rcu, 0);
	ck_assert_int_eq(unknown.status, 502);
	/* Five requests on one pooled connection, one for /sni. */
	ck_assert_int_eq(ok, 2);
	ck_assert_int_eq(failed, 2);
	lbt_resp_free(&sni);
	lbt_resp_free(&name);
	lbt_resp_free(&unknown);
}
END_TEST

struct status_wait {
	unsigned    port;
	const char *path;
	int	    status;
};

static bool
answers(void *arg)
{
	struct status_wait *w = arg;

	return mp_get(w->port, "a.test", w->path) == w->status;
}

static bool
probed_thrice(void *arg)
{
	return tls_origin_handshakes(arg, "success") >= 3;
}

START_TEST(test_origin_over_tls_is_health_checked_over_tls)
{
	const char *oc = make_cert("o.test", "DNS:o.test,IP:127.0.0.1", 30);
	struct tls_origin  b;
	struct status_wait up, down;
	unsigned	   plain = lbt_free_port();
	pid_t		   a;
	bool		   good, bad, probed;
	long long	   probes;

	tls_origin_start(&b, oc);
	a = lbt_lbmaster_start(
	    lbt_fmt("listen: 127.0.0.1:%u\nworkers: 1\n"
		    "health_check: {interval: 100ms, rise: 1, fall: 1}\n"
		    "paths:\n"
		    "  - path: /good\n"
		    "    servers: [\"https://127.0.0.1:%u\"]\n"
		    "    backend_tls: {ca: %s.pem}\n"
		    "  - path: /unknown\n"
		    "    servers: [\"https://127.0.0.1:%u\"]\n",
		plain, b.port, oc, b.port),
	    plain);
	up = (struct status_wait){ plain, "/good/", 200 };
	down = (struct status_wait){ plain, "/unknown/", 503 };
	good = lbt_wait_for(answers, &up, WAIT_MS);
	bad = lbt_wait_for(answers, &down, WAIT_MS);
	mp_wait_log(a, "TLS: certificate verify failed", WAIT_MS);
	/* Every probe of /good is a handshake of its own, and succeeds. */
	probed = lbt_wait_for(probed_thrice, &b, WAIT_MS);
	probes = tls_origin_handshakes(&b, "success");
	lbt_stop(a);
	lbt_stop(b.lb);
	lbt_stop(b.origin);
	ck_assert(good);
	ck_assert(bad);
	ck_assert_msg(probed, "%lld handshakes", probes);
}
END_TEST

/* ---------------------------------------------------------- metrics */

START_TEST(test_metrics_count_handshakes_and_say_when_certificates_expire)
{
	unsigned	 plain = lbt_free_port(), tls = lbt_free_port();
	unsigned	 admin = lbt_free_port(), o = 0;
	const char	*a = make_cert("a.test", "DNS:a.test", 30);
	const char	*series;
	struct tls_res	 r;
	struct lbt_resp	 resp;
	struct lbt_conn *silent;
	long long	 ok, failed, plain_http, timeout, expiry;
	pid_t		 op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    2, o,
				    lbt_fmt("admin: {listen: 127.0.0.1:%u}\n"
					    "timeouts: {client: 1s}\n",
					admin)),
	    tls);
	lbt_wait_port(lb, "127.0.0.1", admin, WAIT_MS);
	tls_get(tls, "a.test", 0, NULL, &r);
	tls_get(tls, NULL, 0, NULL, &r);
	tls_get(tls, "a.test", TLS1_1_VERSION, NULL, &r);
	lbt_httpf(tls, &resp, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	lbt_resp_free(&resp);
	ck_assert_ptr_nonnull(silent = lbt_conn_open(NULL, tls));
	lbt_conn_send(silent, "\x16\x03\x01", 3);
	lbt_conn_wait_closed(silent, 5000);
	lbt_conn_close(silent);
	series = lbt_fmt("lbmaster_tls_handshakes_total{listener="
			 "\"127.0.0.1:%u\",result=",
	    tls);
	ok = mp_metric(admin, lbt_fmt("%s\"success\"}", series));
	failed = mp_metric(admin, lbt_fmt("%s\"failure\"}", series));
	plain_http = mp_metric(admin, lbt_fmt("%s\"plain_http\"}", series));
	timeout = mp_metric(admin, lbt_fmt("%s\"timeout\"}", series));
	expiry = mp_metric(admin,
	    lbt_fmt("lbmaster_tls_certificate_expiry_timestamp_seconds{"
		    "certificate=\"%s.pem\"}",
		a));
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_int_eq(ok, 2);
	ck_assert_int_eq(failed, 1);
	ck_assert_int_eq(plain_http, 1);
	ck_assert_int_eq(timeout, 1);
	ck_assert_int_gt(expiry, (long long)time(NULL) + 29 * 86400);
	ck_assert_int_le(expiry, (long long)time(NULL) + 30 * 86400 + 60);
}
END_TEST

/* --------------------------------------------------- config errors */

START_TEST(test_version_names_openssl)
{
	const char *argv[] = { getenv("LBMASTER"), "-V", NULL };
	char	   *out;

	ck_assert_int_eq(lbt_run(argv, WAIT_MS, &out), 0);
	ck_assert_msg(strstr(out, "\nOpenSSL 3.") != NULL, "%s", out);
}
END_TEST

/* lbmaster -t on YAML; its exit code, *OUT its output. */
static int
test_config(const char *yaml, char **out)
{
	const char *path = lbt_write_file("t.yaml", yaml);
	const char *argv[] = { getenv("LBMASTER"), "-t", "-c", path, NULL };

	return lbt_run(argv, WAIT_MS, out);
}

START_TEST(test_bad_certificate_files_are_errors_at_their_position)
{
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *b = make_cert("b.test", "DNS:b.test", 30);
	const char *yaml, *junk;
	char	   *out;
	int	    rc;

	junk = lbt_write_file("junk.pem", "not a certificate\n");
	/* Line 3, column 10 is "{cert": the cert value at 18, key at 30+. */
	yaml = lbt_fmt("listen:\n  - address: 127.0.0.1:1\n    tls:\n"
		       "      certificates:\n        - cert: %s\n"
		       "          key: %s.key\n"
		       "paths: [{path: /, servers: [127.0.0.1:2]}]\n",
	    "/nonexistent/a.pem", a);
	rc = test_config(yaml, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out,
			  "t.yaml:5:17: listen[0].tls.certificates[0]"
			  ".cert: No such file or directory") != NULL,
	    "%s", out);

	yaml = lbt_fmt("listen:\n  - address: 127.0.0.1:1\n    tls:\n"
		       "      certificates:\n        - cert: %s\n"
		       "          key: %s.key\n"
		       "paths: [{path: /, servers: [127.0.0.1:2]}]\n",
	    junk, a);
	rc = test_config(yaml, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out,
			  "t.yaml:5:17: listen[0].tls.certificates[0]"
			  ".cert: no start line") != NULL,
	    "%s", out);

	yaml = lbt_fmt("listen:\n  - address: 127.0.0.1:1\n    tls:\n"
		       "      certificates:\n        - cert: %s.pem\n"
		       "          key: %s.key\n"
		       "paths: [{path: /, servers: [127.0.0.1:2]}]\n",
	    a, b);
	rc = test_config(yaml, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out,
			  "t.yaml:6:16: listen[0].tls.certificates[0]"
			  ".key: does not match the certificate") != NULL,
	    "%s", out);

	yaml = lbt_fmt("listen:\n  - address: 127.0.0.1:1\n    tls:\n"
		       "      certificates:\n        - cert: %s.pem\n"
		       "          key: %s.key\n      ciphers: NOPE\n"
		       "paths: [{path: /, servers: [127.0.0.1:2]}]\n",
	    a, a);
	rc = test_config(yaml, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out,
			  "t.yaml:7:16: listen[0].tls.ciphers: no "
			  "cipher match") != NULL,
	    "%s", out);

	yaml = lbt_fmt("listen:\n  - address: 127.0.0.1:1\n    tls:\n"
		       "      certificates:\n        - cert: %s.pem\n"
		       "          key: %s.key\n      min_version: \"1.1\"\n"
		       "paths: [{path: /, servers: [127.0.0.1:2]}]\n",
	    a, a);
	rc = test_config(yaml, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out,
			  "t.yaml:7:20: listen[0].tls.min_version: "
			  "TLS 1.1 is not supported") != NULL,
	    "%s", out);
}
END_TEST

START_TEST(test_t_warns_of_a_certificate_that_expires_within_14_days)
{
	const char *soon = make_cert("soon.test", "DNS:soon.test", 5);
	const char *later = make_cert("later.test", "DNS:later.test", 30);
	char	   *out;
	int	    rc;

	rc = test_config(lbt_fmt("listen:\n  - address: 127.0.0.1:1\n"
				 "    tls:\n      certificates:\n"
				 "        - {cert: %s.pem, key: %s.key}\n"
				 "        - {cert: %s.pem, key: %s.key}\n"
				 "paths: [{path: /, servers: [127.0.0.1:2]}]\n",
			     later, later, soon, soon),
	    &out);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out,
			  "t.yaml:6:18: listen[0].tls.certificates[1]"
			  ".cert: warning: certificate ") != NULL,
	    "%s", out);
	ck_assert_msg(strstr(out, "soon.test.pem expires 20") != NULL, "%s",
	    out);
	ck_assert_ptr_null(strstr(out, "later.test.pem expires"));
	ck_assert_ptr_nonnull(strstr(out, "test is successful"));
}
END_TEST

/* ---------------------------------------------------------- reload */

START_TEST(test_reload_swaps_the_certificate_and_a_broken_key_keeps_it)
{
	unsigned       plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char    *a = make_cert("a.test", "DNS:a.test", 30);
	const char    *b = make_cert("b.test", "DNS:b.test", 30);
	const char    *live;
	struct cn_wait w = { tls, "b.test" };
	struct tls_res r;
	pid_t	       op, lb;
	bool	       swapped;
	char	      *key;
	size_t	       len;

	op = lbt_origin_start("o1", &o, NULL);
	/* The config names live.pem and live.key: the files change. */
	live = lbt_path("live");
	lbt_write_file("live.pem", lbt_read_file(lbt_fmt("%s.pem", a), &len));
	lbt_write_file("live.key", lbt_read_file(lbt_fmt("%s.key", a), &len));
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ live, NULL }, ""),
				    2, o, ""),
	    tls);
	ck_assert_str_eq(cn_for(tls, NULL), "a.test");

	/* Same config, new files: SIGHUP reads them again. */
	lbt_write_file("live.pem", lbt_read_file(lbt_fmt("%s.pem", b), &len));
	lbt_write_file("live.key", lbt_read_file(lbt_fmt("%s.key", b), &len));
	lbt_signal(lb, SIGHUP);
	swapped = lbt_wait_for(serves_cn, &w, WAIT_MS);
	if (!swapped) {
		lbt_stop(lb);
		lbt_stop(op);
		ck_abort_msg("b.test not served after the reload: %s",
		    lbt_log_tail(lb, 2048));
	}

	/* A key that does not match: the reload fails, b.test stays. */
	key = lbt_read_file(lbt_fmt("%s.key", a), &len);
	lbt_write_file("live.key", key);
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "does not match the certificate", WAIT_MS);
	tls_get(tls, NULL, 0, NULL, &r);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_int_eq(r.handshake, 1);
	ck_assert_str_eq(r.cn, "b.test");
}
END_TEST

/*
 * A TLS 1.3 client may send its request right behind its Finished, and
 * both may arrive in one read: the server reads ahead, so the request is
 * already inside OpenSSL when the handshake ends, and no socket event
 * will say so. The client here puts both in one send(2).
 */
START_TEST(test_a_request_sent_with_the_clients_finished_is_answered)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *req = "GET / HTTP/1.1\r\nHost: a.test\r\n"
			  "Connection: close\r\n\r\n";
	SSL_CTX	   *ctx;
	SSL	   *ssl;
	BIO	   *rbio, *wbio;
	char	    buf[16384], *text = "";
	int	    fd, n, rc;
	pid_t	    op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o, ""),
	    tls);
	ck_assert_ptr_nonnull(ctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	fd = tcp_connect(tls, 2);
	ssl = SSL_new(ctx);
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_tlsext_host_name(ssl, "a.test");
	SSL_set_connect_state(ssl);
	/* Flush what the client wrote, except with its Finished. */
	while ((rc = SSL_do_handshake(ssl)) != 1) {
		ck_assert_int_eq(SSL_get_error(ssl, rc), SSL_ERROR_WANT_READ);
		while ((n = BIO_read(wbio, buf, sizeof(buf))) > 0)
			ck_assert_int_eq(send(fd, buf, (size_t)n, 0), n);
		n = (int)recv(fd, buf, sizeof(buf), 0);
		ck_assert_int_gt(n, 0);
		BIO_write(rbio, buf, n);
	}
	ck_assert_int_eq(SSL_write(ssl, req, (int)strlen(req)),
	    (int)strlen(req));
	n = BIO_read(wbio, buf, sizeof(buf)); /* Finished and request */
	ck_assert_int_eq(send(fd, buf, (size_t)n, 0), n);
	/* Until the server closes, or 2 s of silence. */
	while ((n = (int)recv(fd, buf, sizeof(buf), 0)) > 0) {
		BIO_write(rbio, buf, n);
		while ((n = SSL_read(ssl, buf, sizeof(buf) - 1)) > 0) {
			buf[n] = '\0';
			text = lbt_fmt("%s%s", text, buf);
		}
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_msg(strncmp(text, "HTTP/1.1 200 ", 13) == 0 &&
		strstr(text, "\"X-Forwarded-Proto\": \"https\"") != NULL,
	    "no whole answer within 2 s: \"%s\"", text);
}
END_TEST

/* ------------------------------------------------------ resumption */

/* Everything one s_client connection with OPTS printed. */
static char *
s_client_run(unsigned port, const char *opts)
{
	char	   *out = NULL;
	const char *argv[] = { "/bin/sh", "-c",
		lbt_fmt("printf 'GET / HTTP/1.1\\r\\nHost: a.test\\r\\n"
			"Connection: close\\r\\n\\r\\n' | openssl s_client "
			"-connect 127.0.0.1:%u -servername a.test %s "
			"-ign_eof 2>&1",
		    port, opts),
		NULL };

	lbt_run(argv, WAIT_MS, &out);
	return out;
}

/* s_client once, with -sess_out or -sess_in FILE; "Reused" or "New". */
static const char *
s_client(unsigned port, const char *opt, const char *file)
{
	char *out = s_client_run(port, lbt_fmt("%s %s", opt, file));

	if (strstr(out, "\nReused, ") != NULL)
		return "Reused";
	if (strstr(out, "\nNew, ") != NULL)
		return "New";
	return out;
}

/* How many NewSessionTicket messages one s_client connection gets. */
static size_t
tickets_sent(unsigned port)
{
	const char *p, *out = s_client_run(port, "-msg");
	size_t	    n = 0;

	ck_assert_msg(strstr(out, "\nNew, ") != NULL, "%s", out);
	for (p = out; (p = strstr(p, "NewSessionTicket")) != NULL; p++)
		n++;
	return n;
}

START_TEST(test_a_session_resumes_on_every_worker)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *sess = lbt_path("session.pem"), *got[8];
	pid_t	    op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    4, o, ""),
	    tls);
	mp_wait_children(lb, MP_WORKER, 4, WAIT_MS);
	got[0] = s_client(tls, "-sess_out", sess);
	/* Eight connections, spread by the kernel over four workers. */
	for (int i = 1; i < 8; i++)
		got[i] = s_client(tls, "-sess_in", sess);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_str_eq(got[0], "New");
	for (int i = 1; i < 8; i++)
		ck_assert_str_eq(got[i], "Reused");
}
END_TEST

START_TEST(test_a_session_resumes_across_a_reload)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *sess = lbt_path("session.pem"), *first, *again, *yaml;
	pid_t	    op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	yaml = config(plain, tls_listener(tls, (const char *[]){ a, NULL }, ""),
	    2, o, "");
	lb = lbt_lbmaster_start(yaml, tls);
	first = s_client(tls, "-sess_out", sess);
	/* A new generation: new workers, new contexts, the same keys. */
	lbt_write_file("lbmaster.yaml",
	    lbt_fmt("%s  - path: /new\n    servers: [127.0.0.1:%u]\n", yaml,
		o));
	lbt_signal(lb, SIGHUP);
	mp_wait_log(lb, "generation 2 serves", WAIT_MS);
	again = s_client(tls, "-sess_in", sess);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_str_eq(first, "New");
	ck_assert_str_eq(again, "Reused");
}
END_TEST

/*
 * RFC 8446 C.4: a client should not offer one ticket twice, so a TLS 1.3
 * resumption must hand out a fresh one. Without it, OpenSSL clients that
 * keep their SSL object (wrk, for one) resumed every other connection
 * only: the session of a resumption carried no ticket they would offer.
 */
START_TEST(test_a_resumed_session_gets_a_fresh_ticket)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *s1 = lbt_path("s1.pem"), *s2 = lbt_path("s2.pem");
	const char *got[3];
	size_t	    tickets;
	pid_t	    op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o, ""),
	    tls);
	got[0] = s_client(tls, "-sess_out", s1);
	got[1] = s_client(tls, lbt_fmt("-sess_in %s -sess_out", s1), s2);
	got[2] = s_client(tls, "-sess_in", s2);
	tickets = tickets_sent(tls);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_uint_gt(tickets, 0);
	ck_assert_str_eq(got[0], "New");
	ck_assert_str_eq(got[1], "Reused");
	ck_assert_str_eq(got[2], "Reused");
}
END_TEST

/* The period (hour since the epoch) of the key that sealed FILE's ticket. */
static long long
ticket_period(const char *file)
{
	FILE		    *fp = fopen(file, "r");
	SSL_SESSION	    *sess;
	const unsigned char *tick;
	size_t		     len;
	long long	     period = 0;

	ck_assert_msg(fp != NULL, "no session in %s", file);
	sess = PEM_read_SSL_SESSION(fp, NULL, NULL, NULL);
	fclose(fp);
	ck_assert_ptr_nonnull(sess);
	SSL_SESSION_get0_ticket(sess, &tick, &len);
	ck_assert_uint_ge(len, 8);
	for (int i = 0; i < 8; i++) /* the key name's first 8 bytes */
		period = period << 8 | tick[i];
	SSL_SESSION_free(sess);
	return period;
}

/*
 * libfaketime and AddressSanitizer deadlock when the process starts (both
 * wrap the clock before either is ready), so a sanitizer build runs the
 * test below without the clock moved: only what holds at one instant.
 */
#define FAKETIME_WORKS (!LB_ASAN)

/* Move the clock of the lbmaster started under faketime to AT. */
static void
fake_clock(const char *rc, time_t at)
{
	lbt_write_file(rc, lbt_fmt("%+lld\n", (long long)(at - time(NULL))));
}

/*
 * Ticket keys rotate every hour, and a key opens tickets for two hours
 * more, so that a ticket resumes for the whole of its two-hour lifetime.
 * The clock is Debian's libfaketime, moved through a file; OpenSSL's
 * checks of a session's age see the same clock as lbmaster.
 */
START_TEST(test_ticket_keys_rotate_hourly_and_tickets_live_two_hours)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *s1 = lbt_path("s1.pem"), *s2 = lbt_path("s2.pem");
	const char *s3 = lbt_path("s3.pem"), *rc = "faketime.rc", *got[4];
	time_t	    b = (time(NULL) / 3600 + 1) * 3600; /* an hour's start */
	long long   p1, p2;
	glob_t	    g;
	pid_t	    op, lb;

	ck_assert_msg(glob("/usr/lib/*/faketime/libfaketime.so.1", 0, NULL,
			  &g) == 0,
	    "libfaketime not found: apt-get install libfaketime");
	op = lbt_origin_start("o1", &o, NULL);
	fake_clock(rc, b - 10);
	if (FAKETIME_WORKS) {
		setenv("LD_PRELOAD", g.gl_pathv[0], 1);
		setenv("FAKETIME_TIMESTAMP_FILE", lbt_path(rc), 1);
		setenv("FAKETIME_NO_CACHE", "1", 1);
		setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1); /* libevent */
	}
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL }, ""),
				    1, o, ""),
	    tls);
	unsetenv("LD_PRELOAD");
	globfree(&g);

	got[0] = s_client(tls, "-sess_out", s1); /* 10 s before the hour */
	fake_clock(rc, b + 10);			 /* a new key seals */
	got[1] = s_client(tls, lbt_fmt("-sess_in %s -sess_out", s1), s2);
	fake_clock(rc, b + 7205); /* s2 is 7195 s old, its key two back */
	got[2] = s_client(tls, lbt_fmt("-sess_in %s -sess_out", s2), s3);
	fake_clock(rc, b + 7215); /* s2 is 7205 s old: gone */
	got[3] = s_client(tls, "-sess_in", s2);
	lbt_stop(lb);
	lbt_stop(op);
	if (!FAKETIME_WORKS) { /* one instant, one key */
		ck_assert_str_eq(got[0], "New");
		ck_assert_str_eq(got[1], "Reused");
		ck_assert_str_eq(got[2], "Reused");
		ck_assert_int_eq(ticket_period(s2), ticket_period(s1));
		return;
	}
	ck_assert_str_eq(got[0], "New");
	ck_assert_str_eq(got[1], "Reused");
	ck_assert_str_eq(got[2], "Reused");
	ck_assert_str_eq(got[3], "New");
	p1 = ticket_period(s1);
	p2 = ticket_period(s2);
	ck_assert_int_eq(p1, (long long)b / 3600 - 1);
	ck_assert_int_eq(p2, (long long)b / 3600);
	ck_assert_int_eq(ticket_period(s3), (long long)b / 3600 + 2);
}
END_TEST

START_TEST(test_session_tickets_off_means_no_resumption)
{
	unsigned    plain = lbt_free_port(), tls = lbt_free_port(), o = 0;
	const char *a = make_cert("a.test", "DNS:a.test", 30);
	const char *sess = lbt_path("session.pem"), *first, *again;
	size_t	    tickets;
	bool	    saved[2];
	pid_t	    op, lb;

	op = lbt_origin_start("o1", &o, NULL);
	lb = lbt_lbmaster_start(config(plain,
				    tls_listener(tls,
					(const char *[]){ a, NULL },
					"      session_tickets: off\n"),
				    1, o, ""),
	    tls);
	/*
	 * Nothing a client could offer back: no ticket, not even one that
	 * could never resume (the client would store it, offer it with a
	 * binder computed for nothing, and be refused), and in TLS 1.2 no
	 * session ID. So s_client has no session to save.
	 */
	first = s_client(tls, "-tls1_2 -sess_out", sess);
	saved[0] = access(sess, F_OK) == 0;
	again = s_client(tls, "-sess_out", sess);
	saved[1] = access(sess, F_OK) == 0;
	tickets = tickets_sent(tls);
	lbt_stop(lb);
	lbt_stop(op);
	ck_assert_str_eq(first, "New");
	ck_assert_str_eq(again, "New");
	ck_assert(!saved[0] && !saved[1]);
	ck_assert_uint_eq(tickets, 0);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc;

	tc = lbt_tcase("serve");
	tcase_add_test(tc,
	    test_https_request_reaches_the_origin_with_forwarded_proto_https);
	tcase_add_test(tc, test_plain_listener_still_says_http);
	tcase_add_test(tc, test_large_bodies_over_tls_reach_the_origin_whole);
	tcase_add_test(tc,
	    test_sni_picks_the_certificate_by_its_subject_alt_names);
	tcase_add_test(tc,
	    test_tls_1_1_is_refused_and_min_version_1_3_refuses_1_2);
	tcase_add_test(tc,
	    test_a_request_sent_with_the_clients_finished_is_answered);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("mutual");
	tcase_add_test(tc,
	    test_mutual_tls_passes_the_verified_subject_and_refuses_others);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("redirect");
	tcase_add_test(tc, test_redirect_https_answers_308_to_the_same_target);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("origins");
	tcase_add_test(tc, test_origin_over_tls_is_verified_and_pooled);
	tcase_add_test(tc, test_origin_over_tls_is_health_checked_over_tls);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("metrics");
	tcase_add_test(tc,
	    test_metrics_count_handshakes_and_say_when_certificates_expire);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("hostile");
	tcase_add_test(tc,
	    test_plain_http_on_the_tls_port_gets_400_and_garbage_is_closed);
	tcase_add_test(tc,
	    test_a_silent_handshake_is_closed_after_timeouts_client);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("config");
	tcase_add_test(tc,
	    test_bad_certificate_files_are_errors_at_their_position);
	tcase_add_test(tc,
	    test_t_warns_of_a_certificate_that_expires_within_14_days);
	tcase_add_test(tc, test_version_names_openssl);
	tcase_add_test(tc,
	    test_reload_swaps_the_certificate_and_a_broken_key_keeps_it);
	suite_add_tcase(s, tc);

	tc = lbt_tcase("resume");
	tcase_add_test(tc, test_a_session_resumes_on_every_worker);
	tcase_add_test(tc, test_a_session_resumes_across_a_reload);
	tcase_add_test(tc, test_a_resumed_session_gets_a_fresh_ticket);
	tcase_add_test(tc,
	    test_ticket_keys_rotate_hourly_and_tickets_live_two_hours);
	tcase_add_test(tc, test_session_tickets_off_means_no_resumption);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

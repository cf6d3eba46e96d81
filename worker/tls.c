/*
 * worker/tls.c -- TLS contexts, SNI, and the client side's transport
 * (tls.h).
 *
 * Each certificate of a listener gets an SSL_CTX of its own, set up the
 * same way; the first is the one every connection starts with, and its
 * servername callback moves a connection to the context whose
 * certificate names the server the client asked for: an exact
 * subjectAltName first, then a wildcard, else the first certificate
 * stays.
 *
 * The transport is what worker/client.c calls instead of readv and
 * writev on a TLS connection: the socket stays non-blocking and driven by
 * the client's own events, OpenSSL only frames and encrypts. Without
 * read-ahead OpenSSL reads a record's bytes and no more, and each read
 * here offers a whole record's room, so nothing waits inside OpenSSL
 * that the socket would not announce: the level-triggered read event
 * stays the truth.
 *
 * Session tickets are sealed with keys that every worker of every
 * generation shares: a ring of them in a segment the master maps once,
 * before its first fork, and never writes to disk (nor to a core dump).
 * The key of hour H (of the Unix clock) is made by the first worker that
 * needs it, seals the tickets issued during H and opens those of H, H-1
 * and H-2: a key encrypts for an hour and decrypts for two more. A reload
 * keeps the segment, so sessions resume across reloads too.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/buffer.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/str.h"
#include "worker/tls.h"

#define TLS_RECORD   16384	  /* the largest plaintext of a record */
#define TLS_READ_MAX (256 * 1024) /* decrypted per read event, at most */

/* One certificate: its context and the names it answers for. */
struct tls_cert {
	SSL_CTX *ctx;
	char   **names; /* lowercased; "*.a.com" for a wildcard */
	size_t	 n_names;
	time_t	 not_after;
};

struct lb_tls_ctx {
	struct tls_cert *certs; /* [0]: the default, the one SSLs start on */
	size_t		 n_certs;
	struct hs_count *hs; /* in the shared segment; NULL: not counted */
};

#define TICKET_PERIOD_S 3600 /* a key encrypts for this long */
#define TICKET_OLD	2    /* and decrypts for this many periods more */
#define TICKET_RING	4    /* > TICKET_OLD + 1: none rewritten in use */

/* Ticket key states, in the low bits of tkey.state (the period above). */
#define TKEY_EMPTY   0
#define TKEY_WRITING 1
#define TKEY_READY   2

/*
 * One ticket key. STATE is period << 2 | TKEY_*: a worker that finds the
 * slot of the current period holding an older one claims it by CAS
 * (WRITING), fills it and publishes it (READY, release). Readers copy a
 * key and check STATE again, as a seqlock.
 */
struct tkey {
	_Atomic uint64_t state;
	unsigned char	 name[16]; /* the period, then random bytes */
	unsigned char	 aes[32];
	unsigned char	 hmac[32];
};

#define HS_LISTENERS 64 /* TLS addresses counted in a master's life */

/*
 * The handshakes of one TLS listener address, by result, counted by the
 * workers of every generation: a reload goes on counting.
 */
struct hs_count {
	char		 listener[64]; /* the address as written; "" free */
	_Atomic uint64_t n[LB_TLS_NRESULTS];
};

/* What the master maps once and every worker shares. */
struct tls_shared {
	struct tkey	keys[TICKET_RING];
	struct hs_count hs[HS_LISTENERS];
};

/* The shared segment, NULL until a TLS listener needs it; and its keys. */
static struct tls_shared *shared;
static struct tkey	 *tkeys;
/*
 * The tickets' cipher, fetched once: EVP_aes_256_cbc() would be looked up
 * in the provider again for every ticket (OpenSSL 3).
 */
static EVP_CIPHER *ticket_cipher;

static const char *const hs_results[LB_TLS_NRESULTS] = {
	[LB_TLS_OK] = "success",
	[LB_TLS_FAILED] = "failure",
	[LB_TLS_TIMEOUT] = "timeout",
	[LB_TLS_PLAIN] = "plain_http",
};

/* --------------------------------------------------------- errors */

/*
 * OpenSSL's reason for the error, and the queue emptied: the first one
 * queued, the cause ("no start line"), not what it made fail ("PEM lib").
 */
static const char *
ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char   *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		lb_strlcpy(buf, r, len);
	else if (e != 0)
		ERR_error_string_n(e, buf, len);
	else
		lb_strlcpy(buf, "unknown error", len);
	ERR_clear_error();
	return buf;
}

static int
at(const struct lb_cfg *cfg, const struct lb_pos *pos, const char *where,
    const char *what, const char *msg, char *err, size_t errlen)
{
	lb_snprintf(err, errlen, "%s:%u:%u: %s%s: %s", cfg->file, pos->line,
	    pos->col, where, what, msg);
	return -1;
}

/* --------------------------------------------------------- contexts */

static void
cert_free(struct tls_cert *c)
{
	for (size_t i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	SSL_CTX_free(c->ctx);
}

static void
tls_ctx_free(struct lb_tls_ctx *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_certs; i++)
		cert_free(&t->certs[i]);
	free(t->certs);
	free(t);
}

static int
add_name(struct tls_cert *c, const char *s, size_t len)
{
	char **v, *name;

	if (len == 0 || memchr(s, '\0', len) != NULL)
		return 0; /* no name anybody could ask for */
	if ((v = reallocarray(c->names, c->n_names + 1, sizeof(*v))) == NULL)
		return -1;
	c->names = v;
	if ((name = strndup(s, len)) == NULL)
		return -1;
	for (char *p = name; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	c->names[c->n_names++] = name;
	return 0;
}

/*
 * The DNS names of the certificate: its subjectAltNames, or its common
 * name when it has none (as clients did before SANs were required).
 */
static int
cert_names(struct tls_cert *c, X509 *x)
{
	GENERAL_NAMES *sans;
	int	       rc = 0;

	sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type != GEN_DNS)
			continue;
		if (add_name(c,
			(const char *)ASN1_STRING_get0_data(g->d.dNSName),
			(size_t)ASN1_STRING_length(g->d.dNSName)) == -1)
			rc = -1;
	}
	GENERAL_NAMES_free(sans);
	if (rc == 0 && c->n_names == 0) {
		char cn[256];
		int  n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		     NID_commonName, cn, sizeof(cn));

		if (n > 0)
			rc = add_name(c, cn, (size_t)n);
	}
	return rc;
}

/* Does NAME (lowercased) match PATTERN exactly, or as a wildcard? */
static bool
name_is(const char *pattern, const char *name)
{
	return strcmp(pattern, name) == 0;
}

static bool
name_under(const char *pattern, const char *name)
{
	const char *dot;

	if (pattern[0] != '*' || pattern[1] != '.')
		return false;
	/* "*.a.com" covers one label: "b.a.com", not "a.com" or "c.b.a.com" */
	if ((dot = strchr(name, '.')) == NULL || dot == name)
		return false;
	return strcmp(dot + 1, pattern + 2) == 0;
}

static const struct tls_cert *
pick(const struct lb_tls_ctx *t, const char *name)
{
	for (size_t i = 0; i < t->n_certs; i++)
		for (size_t j = 0; j < t->certs[i].n_names; j++)
			if (name_is(t->certs[i].names[j], name))
				return &t->certs[i];
	for (size_t i = 0; i < t->n_certs; i++)
		for (size_t j = 0; j < t->certs[i].n_names; j++)
			if (name_under(t->certs[i].names[j], name))
				return &t->certs[i];
	return NULL;
}

/* SNI: the certificate that names the server asked for. */
static int
servername(SSL *ssl, int *alert, void *arg)
{
	const struct lb_tls_ctx *t = arg;
	const struct tls_cert	*c;
	const char		*sni;
	char			 name[256];
	size_t			 i;

	sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni == NULL)
		return SSL_TLSEXT_ERR_OK; /* the first certificate */
	for (i = 0; sni[i] != '\0' && i + 1 < sizeof(name); i++)
		name[i] = (sni[i] >= 'A' && sni[i] <= 'Z') ?
		    (char)(sni[i] - 'A' + 'a') :
		    sni[i];
	name[i] = '\0';
	if (i > 0 && name[i - 1] == '.')
		name[i - 1] = '\0';
	if ((c = pick(t, name)) != NULL && c != &t->certs[0])
		SSL_set_SSL_CTX(ssl, c->ctx);
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 when the client offers it; nothing else is spoken. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char		  *sel;

	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
		inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* Map the shared segment, once, in the master. 0 or -1. */
static int
shared_map(void)
{
	void *p;

	if (shared != NULL)
		return 0;
	p = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	/* Keys never go to disk: not in a core dump either. */
	(void)madvise(p, sizeof(*shared), MADV_DONTDUMP);
	shared = p;
	tkeys = shared->keys;
	if ((ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) ==
	    NULL)
		return -1;
	return 0;
}

/*
 * The counters of listener ADDRESS: its own from an earlier generation,
 * or a free one (the master alone claims them, before it forks). NULL
 * when all are taken.
 */
static struct hs_count *
hs_slot(const char *address)
{
	if (strlen(address) >= sizeof(shared->hs[0].listener))
		return NULL; /* no address is written that long */
	for (size_t i = 0; i < HS_LISTENERS; i++) {
		struct hs_count *h = &shared->hs[i];

		if (h->listener[0] == '\0')
			lb_strlcpy(h->listener, address, sizeof(h->listener));
		if (strcmp(h->listener, address) == 0)
			return h;
	}
	return NULL;
}

/* A copy of the key of PERIOD into *OUT if the ring holds it. */
static bool
tkey_get(uint64_t period, struct tkey *out)
{
	struct tkey *k = &tkeys[period % TICKET_RING];
	uint64_t     want = period << 2 | TKEY_READY;

	if (atomic_load_explicit(&k->state, memory_order_acquire) != want)
		return false;
	memcpy(out->name, k->name, sizeof(out->name));
	memcpy(out->aes, k->aes, sizeof(out->aes));
	memcpy(out->hmac, k->hmac, sizeof(out->hmac));
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&k->state, memory_order_relaxed) == want;
}

/*
 * The key that seals tickets now: this period's, made here if nobody made
 * it yet; the last period's while another worker makes it. false: none.
 */
static bool
tkey_current(uint64_t period, struct tkey *out)
{
	struct tkey *k = &tkeys[period % TICKET_RING];
	uint64_t     seen;

	if (tkey_get(period, out))
		return true;
	seen = atomic_load_explicit(&k->state, memory_order_acquire);
	if ((seen >> 2) < period &&
	    atomic_compare_exchange_strong(&k->state, &seen,
		period << 2 | TKEY_WRITING)) {
		uint64_t be = period;

		for (int i = 7; i >= 0; i--, be >>= 8)
			k->name[i] = (unsigned char)be;
		if (RAND_bytes(k->name + 8, 8) != 1 ||
		    RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
		    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
			atomic_store_explicit(&k->state, TKEY_EMPTY,
			    memory_order_release);
			return false;
		}
		atomic_store_explicit(&k->state, period << 2 | TKEY_READY,
		    memory_order_release);
		return tkey_get(period, out);
	}
	return period > 0 && tkey_get(period - 1, out);
}

/*
 * OpenSSL's ticket key callback: seal with the current key (ENC), or find
 * the key a ticket names among the current and the TICKET_OLD before it.
 * 1: done; 2: done, but issue a new ticket; 0: no ticket, a full
 * handshake; -1: failure. A new ticket goes with a TLS 1.2 ticket sealed
 * by an old key, and with every TLS 1.3 resumption: RFC 8446 C.4 asks
 * clients not to offer a ticket twice, and OpenSSL's own clients do not
 * offer the session of a resumption that brought no ticket, so without
 * one they resume every other connection only.
 */
static int
ticket_key(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	uint64_t    period = (uint64_t)time(NULL) / TICKET_PERIOD_S;
	struct tkey k;
	OSSL_PARAM  params[3];
	int	    rc = 1;

	if (enc) {
		if (!tkey_current(period, &k) ||
		    RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
			return -1;
		memcpy(name, k.name, sizeof(k.name));
		if (EVP_EncryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv) !=
		    1)
			return -1;
	} else {
		uint64_t p = 0;

		for (int i = 0; i < 8; i++)
			p = p << 8 | name[i];
		if (p > period || p + TICKET_OLD < period || !tkey_get(p, &k) ||
		    memcmp(k.name, name, sizeof(k.name)) != 0)
			return 0;
		if (EVP_DecryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv) !=
		    1)
			return -1;
		rc = p == period && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    k.hmac, sizeof(k.hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

static time_t
not_after(X509 *x)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return timegm(&tm);
}

/*
 * Mutual TLS: ask for a client certificate, verified against the CAs of
 * client_ca; without one the handshake fails, unless client_verify is
 * optional. A certificate that does not verify always fails it.
 */
static int
client_ca(const struct lb_cfg *cfg, const struct lb_listen *l, SSL_CTX *ctx,
    char *err, size_t errlen)
{
	const struct lb_tls *t = l->tls;
	STACK_OF(X509_NAME) * names;
	char  why[256];
	FILE *fp;

	if ((fp = fopen(t->client_ca, "r")) == NULL)
		return at(cfg, &t->client_ca_pos, l->where, ".tls.client_ca",
		    strerror(errno), err, errlen);
	fclose(fp);
	if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(t->client_ca)) == NULL)
		return at(cfg, &t->client_ca_pos, l->where, ".tls.client_ca",
		    ssl_reason(why, sizeof(why)), err, errlen);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER |
		(t->client_optional ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
	    NULL);
	return 0;
}

/*
 * One certificate's context, set up as every context of the listener:
 * TLS 1.2 or 1.3 from MIN up, no renegotiation, no compression, the
 * server's cipher order, ALPN http/1.1.
 */
static int
cert_build(const struct lb_cfg *cfg, const struct lb_listen *l, size_t i,
    struct tls_cert *c, char *err, size_t errlen)
{
	const struct lb_tls	 *t = l->tls;
	const struct lb_tls_cert *tc = &t->certs[i];
	char			  where[160], why[256];
	FILE			 *fp;
	SSL_CTX			 *ctx;

	lb_snprintf(where, sizeof(where), "%s.tls.certificates[%zu]", l->where,
	    i);
	if ((ctx = c->ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return at(cfg, &tc->cert_pos, where, ".cert",
		    ssl_reason(why, sizeof(why)), err, errlen);
	SSL_CTX_set_min_proto_version(ctx,
	    t->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	/*
	 * SSL_OP_IGNORE_UNEXPECTED_EOF: most clients close without
	 * close_notify once they have their answer; OpenSSL 3 would call
	 * that an error. A truncation attack cannot hurt HTTP/1.1 here:
	 * every message lbmaster reads is delimited by its own framing, so
	 * a cut one is seen as cut.
	 */
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
		SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
		(t->session_tickets ? 0 : SSL_OP_NO_TICKET));
	/*
	 * SSL_MODE_RELEASE_BUFFERS: an idle connection gives its record
	 * buffers back. 2,000 idle TLS 1.3 connections on one worker cost
	 * 28 KiB each without, 16 KiB with (as nginx, which sets it too);
	 * tls_small did not get slower in a quick run.
	 */
	SSL_CTX_set_mode(ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/*
	 * Read ahead: one read(2) takes what the socket holds, up to a
	 * record buffer, not a record's 5-byte header and then its body.
	 * That halves the reads of a handshake and saves one per request
	 * of a keep-alive connection. OpenSSL may then hold bytes the
	 * socket no longer signals: lb_tls_read drains them every time, and
	 * the client reads at once after a handshake that left some.
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	/*
	 * Sessions resume by ticket only: a session cache would be per
	 * worker, and a client would resume on one worker out of N.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/*
	 * A ticket lives as long as the keys that seal it open it, whenever
	 * in its hour it was sealed (OpenSSL's default is the same 2 h, but
	 * this must not drift from TICKET_OLD).
	 */
	SSL_CTX_set_timeout(ctx, TICKET_OLD * TICKET_PERIOD_S);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"lbmaster",
	    8);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	/*
	 * Without tickets nothing can resume (no cache either, above), so
	 * TLS 1.3 sends no NewSessionTicket at all: OpenSSL would send two
	 * session IDs that no worker remembers, and the client would store
	 * them, offer one with a binder computed for nothing, and do the
	 * full handshake anyway.
	 */
	if (t->session_tickets)
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key);
	else
		SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1)
		return at(cfg, &t->ciphers_pos, l->where, ".tls.ciphers",
		    ssl_reason(why, sizeof(why)), err, errlen);

	if (t->client_ca != NULL && client_ca(cfg, l, ctx, err, errlen) == -1)
		return -1;

	/* A file we cannot open says why in errno's words, not OpenSSL's. */
	if ((fp = fopen(tc->cert, "r")) == NULL)
		return at(cfg, &tc->cert_pos, where, ".cert", strerror(errno),
		    err, errlen);
	fclose(fp);
	if (SSL_CTX_use_certificate_chain_file(ctx, tc->cert) != 1)
		return at(cfg, &tc->cert_pos, where, ".cert",
		    ssl_reason(why, sizeof(why)), err, errlen);
	if ((fp = fopen(tc->key, "r")) == NULL)
		return at(cfg, &tc->key_pos, where, ".key", strerror(errno),
		    err, errlen);
	fclose(fp);
	if (SSL_CTX_use_PrivateKey_file(ctx, tc->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH)
		return at(cfg, &tc->key_pos, where, ".key",
		    ssl_reason(why, sizeof(why)), err, errlen);
	if (ERR_peek_error() != 0 || SSL_CTX_check_private_key(ctx) != 1) {
		lb_snprintf(why, sizeof(why),
		    "does not match the certificate %s (", tc->cert);
		ssl_reason(why + strlen(why), sizeof(why) - strlen(why));
		lb_strlcpy(why + strlen(why), ")", sizeof(why) - strlen(why));
		return at(cfg, &tc->key_pos, where, ".key", why, err, errlen);
	}
	if (cert_names(c, SSL_CTX_get0_certificate(ctx)) == -1)
		return at(cfg, &tc->cert_pos, where, ".cert", "out of memory",
		    err, errlen);
	c->not_after = not_after(SSL_CTX_get0_certificate(ctx));
	return 0;
}

static int
listener_build(const struct lb_cfg *cfg, struct lb_listen *l, char *err,
    size_t errlen)
{
	struct lb_tls_ctx *t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->certs = calloc(l->tls->n_certs, sizeof(*t->certs))) == NULL) {
		free(t);
		lb_snprintf(err, errlen, "%s: out of memory", cfg->file);
		return -1;
	}
	/* Owned by the config from now on, built whole or not. */
	l->tls->ctx = t;
	t->hs = hs_slot(l->text);
	l->tls->ctx_free = tls_ctx_free;
	for (size_t i = 0; i < l->tls->n_certs; i++) {
		t->n_certs = i + 1;
		if (cert_build(cfg, l, i, &t->certs[i], err, errlen) == -1)
			return -1;
	}
	SSL_CTX_set_tlsext_servername_callback(t->certs[0].ctx, servername);
	SSL_CTX_set_tlsext_servername_arg(t->certs[0].ctx, t);
	return 0;
}

/*
 * The client context of a route's servers over TLS: TLS 1.2 and up, the
 * server's certificate verified against CA (or the system's store) unless
 * verify is off, a client certificate when given. Its host name is
 * checked per connection (lb_tls_connect).
 */
static int
backend_build(const struct lb_cfg *cfg, struct lb_backend_tls *b, char *err,
    size_t errlen)
{
	struct lb_tls_ctx *t;
	SSL_CTX		  *ctx;
	char		   why[256];
	FILE		  *fp;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->certs = calloc(1, sizeof(*t->certs))) == NULL) {
		free(t);
		lb_snprintf(err, errlen, "%s: out of memory", cfg->file);
		return -1;
	}
	b->ctx = t;
	b->ctx_free = tls_ctx_free;
	t->n_certs = 1;
	if ((ctx = t->certs[0].ctx = SSL_CTX_new(TLS_client_method())) ==
	    NULL) {
		lb_snprintf(err, errlen, "%s: %s: %s", cfg->file, b->where,
		    ssl_reason(why, sizeof(why)));
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
		SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, b->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	if (b->ca != NULL) {
		if ((fp = fopen(b->ca, "r")) == NULL)
			return at(cfg, &b->ca_pos, b->where, ".ca",
			    strerror(errno), err, errlen);
		fclose(fp);
		if (SSL_CTX_load_verify_locations(ctx, b->ca, NULL) != 1)
			return at(cfg, &b->ca_pos, b->where, ".ca",
			    ssl_reason(why, sizeof(why)), err, errlen);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		lb_snprintf(err, errlen, "%s: %s: the system's CAs: %s",
		    cfg->file, b->where, ssl_reason(why, sizeof(why)));
		return -1;
	}
	if (b->cert == NULL)
		return 0;
	if ((fp = fopen(b->cert, "r")) == NULL)
		return at(cfg, &b->cert_pos, b->where, ".cert", strerror(errno),
		    err, errlen);
	fclose(fp);
	if (SSL_CTX_use_certificate_chain_file(ctx, b->cert) != 1)
		return at(cfg, &b->cert_pos, b->where, ".cert",
		    ssl_reason(why, sizeof(why)), err, errlen);
	if ((fp = fopen(b->key, "r")) == NULL)
		return at(cfg, &b->key_pos, b->where, ".key", strerror(errno),
		    err, errlen);
	fclose(fp);
	if (SSL_CTX_use_PrivateKey_file(ctx, b->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		return at(cfg, &b->key_pos, b->where, ".key",
		    ssl_reason(why, sizeof(why)), err, errlen);
	return 0;
}

int
lb_tls_build(struct lb_cfg *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_routes; i++) {
		struct lb_backend_tls *b = cfg->routes[i].backend_tls;

		if (b == NULL || b->ctx != NULL)
			continue;
		if (backend_build(cfg, b, err, errlen) == -1) {
			ERR_clear_error();
			return -1;
		}
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		struct lb_listen *l = &cfg->listen[i];

		if (l->tls == NULL || l->tls->ctx != NULL)
			continue;
		if (shared_map() == -1) {
			lb_snprintf(err, errlen, "%s: session ticket keys: %s",
			    cfg->file, strerror(errno));
			return -1;
		}
		if (listener_build(cfg, l, err, errlen) == -1) {
			ERR_clear_error();
			return -1;
		}
	}
	return 0;
}

size_t
lb_tls_expiring(const struct lb_cfg *cfg, time_t now, unsigned days,
    void (*warn)(const char *, void *), void *arg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct lb_listen *l = &cfg->listen[i];

		if (l->tls == NULL || l->tls->ctx == NULL)
			continue;
		for (size_t j = 0; j < l->tls->ctx->n_certs; j++) {
			const struct tls_cert	 *c = &l->tls->ctx->certs[j];
			const struct lb_tls_cert *tc = &l->tls->certs[j];
			char			  line[LB_ERRLEN], date[32];
			struct tm		  tm;

			if (c->not_after > now + (time_t)days * 86400)
				continue;
			gmtime_r(&c->not_after, &tm);
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC",
			    &tm);
			lb_snprintf(line, sizeof(line),
			    "%s:%u:%u: %s.tls.certificates[%zu].cert: "
			    "warning: certificate %s %s %s",
			    cfg->file, tc->cert_pos.line, tc->cert_pos.col,
			    l->where, j, tc->cert,
			    c->not_after <= now ? "expired" : "expires", date);
			warn(line, arg);
			n++;
		}
	}
	return n;
}

/* ---------------------------------------------------------- metrics */

void
lb_tls_count(SSL *ssl, enum lb_tls_result r)
{
	const struct lb_tls_ctx *t = SSL_get_app_data(ssl);

	if (t != NULL && t->hs != NULL)
		atomic_fetch_add_explicit(&t->hs->n[r], 1,
		    memory_order_relaxed);
}

/* NAME="VALUE", with backslash, double quote and newline escaped. */
static void
label(struct lb_buf *b, const char *name, const char *value)
{
	lb_buf_printf(b, "%s=\"", name);
	for (; *value != '\0'; value++) {
		if (*value == '\n') {
			lb_buf_adds(b, "\\n");
			continue;
		}
		if (*value == '\\' || *value == '"')
			lb_buf_addc(b, '\\');
		lb_buf_addc(b, *value);
	}
	lb_buf_addc(b, '"');
}

void
lb_tls_metrics(struct lb_buf *b, const struct lb_cfg *cfg)
{
	lb_buf_adds(b,
	    "# HELP lbmaster_tls_handshakes_total TLS handshakes by "
	    "listener and result: success, failure, timeout (not done "
	    "within timeouts.client), plain_http (plain HTTP sent to "
	    "the TLS port).\n# TYPE lbmaster_tls_handshakes_total counter\n");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct lb_tls_ctx *t = cfg->listen[i].tls != NULL ?
		    cfg->listen[i].tls->ctx :
		    NULL;

		if (t == NULL || t->hs == NULL)
			continue;
		for (int r = 0; r < LB_TLS_NRESULTS; r++) {
			lb_buf_adds(b, "lbmaster_tls_handshakes_total{");
			label(b, "listener", t->hs->listener);
			lb_buf_addc(b, ',');
			label(b, "result", hs_results[r]);
			lb_buf_printf(b, "} %llu\n",
			    (unsigned long long)
				atomic_load_explicit(&t->hs->n[r],
				    memory_order_relaxed));
		}
	}
	lb_buf_adds(b,
	    "# HELP lbmaster_tls_certificate_expiry_timestamp_seconds When "
	    "each certificate of a TLS listener expires, in seconds since "
	    "the epoch.\n# TYPE "
	    "lbmaster_tls_certificate_expiry_timestamp_seconds gauge\n");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct lb_tls_ctx *t = cfg->listen[i].tls != NULL ?
		    cfg->listen[i].tls->ctx :
		    NULL;

		for (size_t j = 0; t != NULL && j < t->n_certs; j++) {
			lb_buf_adds(b,
			    "lbmaster_tls_certificate_expiry_timestamp_"
			    "seconds{");
			label(b, "certificate",
			    cfg->listen[i].tls->certs[j].cert);
			lb_buf_printf(b, "} %lld\n",
			    (long long)t->certs[j].not_after);
		}
	}
}

/* -------------------------------------------------------- transport */

SSL *
lb_tls_accept(struct lb_tls_ctx *t, int fd)
{
	SSL *ssl;

	if ((ssl = SSL_new(t->certs[0].ctx)) == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	SSL_set_app_data(ssl, t); /* for lb_tls_count */
	return ssl;
}

SSL *
lb_tls_connect(const struct lb_server *srv, int fd)
{
	const struct lb_backend_tls *b = srv->tls;
	SSL			    *ssl;
	char			     host[256];
	unsigned char		     bin[16];
	size_t			     len;
	bool			     ip;

	if ((ssl = SSL_new(b->ctx->certs[0].ctx)) == NULL)
		return NULL;
	if (fd != -1 && SSL_set_fd(ssl, fd) != 1)
		goto fail;
	SSL_set_connect_state(ssl);
	/* The server's name: sni, else the host it was written with. */
	if (b->sni != NULL)
		lb_strlcpy(host, b->sni, sizeof(host));
	else {
		const char *n = srv->name;

		if (n[0] == '[') {
			n++;
			len = strcspn(n, "]");
		} else
			len = strcspn(n, ":");
		if (len >= sizeof(host))
			len = sizeof(host) - 1;
		memcpy(host, n, len);
		host[len] = '\0';
	}
	ip = inet_pton(AF_INET, host, bin) == 1 ||
	    inet_pton(AF_INET6, host, bin) == 1;
	/* SNI carries names only; an address is checked as an address. */
	if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	if (b->verify &&
	    (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) :
		  SSL_set1_host(ssl, host)) != 1)
		goto fail;
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

int
lb_tls_handshake(SSL *ssl)
{
	char why[256];
	int  rc = SSL_do_handshake(ssl);

	if (rc == 1)
		return 1;
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		return 2;
	case SSL_ERROR_SYSCALL:
		log_debug("TLS handshake: %s",
		    errno != 0 ? strerror(errno) : "closed");
		ERR_clear_error();
		return -1;
	default:
		log_debug("TLS handshake: %s", ssl_reason(why, sizeof(why)));
		return -1;
	}
}

/* errno for a failed SSL_read or SSL_write that returned RC. */
static void
set_errno(SSL *ssl, int rc)
{
	int saved = errno;

	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		break;
	case SSL_ERROR_SYSCALL:
		errno = saved != 0 && saved != EAGAIN ? saved : EPIPE;
		break;
	default:
		errno = EPROTO;
		break;
	}
	ERR_clear_error();
}

ssize_t
lb_tls_read(SSL *ssl, struct evbuffer *in)
{
	size_t total = 0;

	/* Its close_notify came with the last bytes: this is the EOF. */
	if (lb_tls_closed(ssl))
		return 0;
	/* Past TLS_READ_MAX only for what OpenSSL holds already (read ahead). */
	while (total < TLS_READ_MAX || SSL_has_pending(ssl)) {
		struct evbuffer_iovec v;
		int		      n;

		if (evbuffer_reserve_space(in, TLS_RECORD, &v, 1) < 1)
			break;
		errno = 0;
		n = SSL_read(ssl, v.iov_base,
		    (int)(v.iov_len > INT32_MAX ? INT32_MAX : v.iov_len));
		if (n <= 0) {
			int e = SSL_get_error(ssl, n);

			evbuffer_commit_space(in, &v, 0);
			if (e == SSL_ERROR_ZERO_RETURN) {
				ERR_clear_error();
				if (total > 0)
					break;
				return 0;
			}
			if (total > 0 &&
			    (e == SSL_ERROR_WANT_READ ||
				e == SSL_ERROR_WANT_WRITE)) {
				ERR_clear_error();
				break;
			}
			set_errno(ssl, n);
			if (total > 0 && errno != EAGAIN)
				break; /* found again on the next read */
			return -1;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		total += (size_t)n;
	}
	return (ssize_t)total;
}

int
lb_tls_write(SSL *ssl, struct evbuffer *out)
{
	size_t len;

	/*
	 * A record of up to 16 KiB at a time, made from the head and body
	 * together: one record each would cost a lot more. A write that
	 * must wait is retried with the same bytes first (they stay at the
	 * front of OUT), as OpenSSL requires.
	 */
	while ((len = evbuffer_get_length(out)) > 0) {
		size_t	       n = len < TLS_RECORD ? len : TLS_RECORD;
		unsigned char *p = evbuffer_pullup(out, (ssize_t)n);
		int	       w;

		if (p == NULL) {
			errno = ENOMEM;
			return -1;
		}
		errno = 0;
		if ((w = SSL_write(ssl, p, (int)n)) <= 0) {
			set_errno(ssl, w);
			return -1;
		}
		evbuffer_drain(out, (size_t)w);
	}
	return 0;
}

const char *
lb_tls_verify_error(const SSL *ssl)
{
	long rc = SSL_get_verify_result(ssl);

	if (rc == X509_V_OK)
		return "handshake failed";
	return X509_verify_cert_error_string(rc);
}

bool
lb_tls_buffered(const SSL *ssl)
{
	return SSL_has_pending(ssl) == 1;
}

bool
lb_tls_closed(const SSL *ssl)
{
	return (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

void
lb_tls_close(SSL *ssl, bool clean)
{
	if (ssl == NULL)
		return;
	/* One close_notify, not waiting for the peer's: never blocks. */
	if (clean && SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
}

const char *
lb_tls_version(const SSL *ssl)
{
	return SSL_get_version(ssl);
}

char *
lb_tls_client_subject(const SSL *ssl)
{
	X509	*x = SSL_get0_peer_certificate(ssl);
	BIO	*bio;
	BUF_MEM *mem;
	char	*s = NULL;

	if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	/* RFC 2253, as nginx's $ssl_client_s_dn; control bytes escaped. */
	if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
		XN_FLAG_RFC2253) >= 0) {
		BIO_get_mem_ptr(bio, &mem);
		s = strndup(mem->data, mem->length);
	}
	BIO_free(bio);
	return s;
}

const char *
lb_tls_sni(const SSL *ssl)
{
	return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

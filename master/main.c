/*
 * master/main.c -- the lbmaster command line (lbmaster(8)).
 *
 *	lbmaster [-c FILE] [-f] [-t | -T] [-s SIGNAL] [-V] [-h]
 *	lbmaster [-c FILE] -x 'METHOD TARGET' [-H 'Name: value']... [--from ADDR]
 *
 * Exit status: 0 success, 1 configuration or start-up error, 2 usage;
 * with -x, 3 when the request would be refused.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "common/evmem.h"
#include "common/http.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/str.h"
#include "config/config.h"
#include "master/master.h"
#include "worker/explain.h"
#include "worker/tls.h"

#define DEFAULT_CONFIG SYSCONFDIR "/lbmaster/lbmaster.yaml"
#define MAX_X_HEADERS  100   /* -H options */
#define RELOAD_WAIT_MS 30000 /* -s reload waits for the outcome */

/* -t warns of TLS certificates this close to their end. */
#define EXPIRY_WARN_DAYS 14

/* -t's warnings go to stderr: the test still succeeds. */
static void
warn_line(const char *line, void *arg)
{
	fprintf(stderr, "%s\n", line);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: lbmaster [-c FILE] [-f] [-t | -T] [-s SIGNAL] [-V] [-h]\n"
	    "       lbmaster [-c FILE] -x 'METHOD TARGET' [-H 'Name: value']..."
	    " [--from ADDR]\n"
	    "  -c FILE    configuration file (default %s)\n"
	    "  -f         stay in the foreground\n"
	    "  -t         test the configuration and exit\n"
	    "  -T         test it, then print the effective configuration\n"
	    "  -s SIGNAL  send reload, reopen, quit or stop to the master\n"
	    "  -x REQ     explain what the configuration does with a request\n"
	    "  -H FIELD   a header field of that request (repeatable)\n"
	    "  --from IP  the client's address (default 127.0.0.1)\n"
	    "  -V         print the version and exit\n"
	    "  -h         print this help and exit\n",
	    DEFAULT_CONFIG);
}

static const struct {
	const char *name;
	int	    signo;
} signals[] = {
	{ "reload", SIGHUP },
	{ "reopen", SIGUSR1 },
	{ "quit", SIGQUIT },
	{ "stop", SIGTERM },
};

/* The -x request, as the command line gave it. */
struct xreq {
	char		     *method;
	const char	     *target;
	struct lb_http_header hdrs[MAX_X_HEADERS];
	size_t		      n_hdrs;
	const char	     *from;
};

/* -H 'Name: value': a token, a colon, a value without controls. */
static bool
x_header(struct xreq *x, char *arg)
{
	char *colon = strchr(arg, ':'), *v;

	if (colon == NULL || x->n_hdrs == MAX_X_HEADERS ||
	    !lb_http_is_token(arg, (size_t)(colon - arg)))
		return false;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (lb_str_has_ctl(v, strlen(v)))
		return false;
	x->hdrs[x->n_hdrs].name = arg;
	x->hdrs[x->n_hdrs].name_len = strlen(arg);
	x->hdrs[x->n_hdrs].value = v;
	x->hdrs[x->n_hdrs].value_len = strlen(v);
	x->n_hdrs++;
	return true;
}

/*
 * lbmaster -x: load FILE as the master would, explain the request, bind
 * and fork nothing. Exit 0 forwarded, 3 refused, 1 config error.
 */
static int
explain(const char *file, struct xreq *x)
{
	struct sockaddr_storage ss;
	struct sockaddr_in     *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6    *sin6 = (struct sockaddr_in6 *)&ss;
	struct lb_explanation	e;
	struct lb_cfg	       *cfg;
	char		       *sp, err[LB_ERRLEN];
	int			rc;

	/* "METHOD TARGET": a token, one space, a target without blanks. */
	sp = strchr(x->method, ' ');
	if (sp == NULL || sp == x->method || sp[1] == '\0' ||
	    strpbrk(sp + 1, " \t") != NULL ||
	    !lb_http_is_token(x->method, (size_t)(sp - x->method)) ||
	    lb_str_has_ctl(sp + 1, strlen(sp + 1))) {
		fprintf(stderr,
		    "lbmaster: -x \"%s\": want 'METHOD TARGET', as in "
		    "-x 'GET /v1/users?a=1'\n",
		    x->method);
		return 2;
	}
	*sp = '\0';
	x->target = sp + 1;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, x->from, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, x->from, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
	} else {
		fprintf(stderr,
		    "lbmaster: --from \"%s\": not an IPv4 or IPv6 "
		    "address\n",
		    x->from);
		return 2;
	}
	if (lb_master_load(file, &cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (lb_explain(cfg, x->method, x->target, x->hdrs, x->n_hdrs,
		(struct sockaddr *)&ss, &e) == -1) {
		fprintf(stderr, "lbmaster: %s\n", strerror(errno));
		lb_cfg_free(cfg);
		return 1;
	}
	lb_explain_print(cfg, &e, stdout);
	rc = e.d.status == 0 ? 0 : 3;
	lb_explanation_free(&e);
	lb_cfg_free(cfg);
	if (fflush(stdout) == EOF)
		return 1;
	return rc;
}

/*
 * lbmaster -s: find the master through FILE's pid_file alone (the rest
 * of FILE may be broken, a backend name may not resolve), signal it, and
 * for a reload wait for its outcome (see HACKING.md, "-s reload").
 */
static int
send_signal(const char *file, int signo)
{
	char   *pid_file, err[LB_ERRLEN], msg[LB_ERRLEN];
	pid_t	pid, wpid = 0;
	size_t	seq0 = 0, seq;
	int64_t deadline;
	int	rc, outcome;

	if (lb_cfg_pid_file(file, &pid_file, err, sizeof(err)) == -1) {
		fprintf(stderr, "lbmaster: %s\n", err);
		return 1;
	}
	/* The last outcome before ours, to tell ours from it. */
	if (signo == SIGHUP && pid_file != NULL &&
	    lb_reload_outcome_read(pid_file, &wpid, &seq0, msg, sizeof(msg)) ==
		-1)
		wpid = 0;
	if (lb_master_signal(file, pid_file, signo, &pid, err, sizeof(err)) ==
	    -1) {
		fprintf(stderr, "lbmaster: %s\n", err);
		free(pid_file);
		return 1;
	}
	if (signo != SIGHUP) {
		free(pid_file);
		return 0;
	}
	if (wpid != pid)
		seq0 = 0; /* written by an earlier master, or none */
	deadline = lb_now_ms() + RELOAD_WAIT_MS;
	rc = 1;
	for (;;) {
		outcome = lb_reload_outcome_read(pid_file, &wpid, &seq, msg,
		    sizeof(msg));
		if (outcome != -1 && wpid == pid && seq > seq0) {
			if (outcome == 1)
				rc = 0;
			else
				fprintf(stderr, "lbmaster: reload failed: %s\n",
				    msg);
			break;
		}
		if (kill(pid, 0) == -1 && errno == ESRCH) {
			fprintf(stderr,
			    "lbmaster: the master (pid %ld) exited during "
			    "the reload\n",
			    (long)pid);
			break;
		}
		if (lb_now_ms() >= deadline) {
			fprintf(stderr,
			    "lbmaster: no outcome from the master (pid %ld) "
			    "within %d s: see its error log\n",
			    (long)pid, RELOAD_WAIT_MS / 1000);
			break;
		}
		usleep(20 * 1000);
	}
	free(pid_file);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	struct xreq    x = { .from = "127.0.0.1" };
	char	       cwd[4096];
	bool	       x_used = false;
	const char    *file = DEFAULT_CONFIG, *signame = NULL;
	bool	       foreground = false, test = false, dump = false;
	char	       err[LB_ERRLEN];
	struct lb_cfg *cfg;
	int	       ch, signo = 0;

	lb_evmem_init(); /* before anything libevent allocates */
	while ((ch = getopt_long(argc, argv, "c:fhs:tTVx:H:", longopts,
		    NULL)) != -1) {
		switch (ch) {
		case 'x':
			x.method = optarg;
			break;
		case 'H':
			if (!x_header(&x, optarg)) {
				fprintf(stderr,
				    "lbmaster: -H \"%s\": want 'Name: "
				    "value'\n",
				    optarg);
				return 2;
			}
			x_used = true;
			break;
		case 'F':
			x.from = optarg;
			x_used = true;
			break;
		case 'c':
			file = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 's':
			signame = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'T':
			test = dump = true;
			break;
		case 'V':
			printf("lbmaster %s\nlibevent %s\nlibyaml %s\n%s\n",
			    PACKAGE_VERSION, event_get_version(),
			    yaml_get_version_string(),
			    OpenSSL_version(OPENSSL_VERSION));
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "lbmaster: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	/*
	 * Relative paths, the file's own and those in it, are the
	 * directory we were started in: a daemon's chdir("/") and later
	 * reloads must not change what they name.
	 */
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, "lbmaster: getcwd: %s\n", strerror(errno));
		return 1;
	}
	lb_cfg_set_base(cwd);
	if (x.method != NULL) {
		if (signame != NULL || test || foreground) {
			fprintf(stderr,
			    "lbmaster: -x goes with -c, -H and --from only\n");
			return 2;
		}
		return explain(file, &x);
	}
	if (x_used) {
		fprintf(stderr, "lbmaster: -H and --from go with -x\n");
		return 2;
	}
	if (signame != NULL) {
		for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]);
		     i++)
			if (strcmp(signame, signals[i].name) == 0)
				signo = signals[i].signo;
		if (signo == 0) {
			fprintf(stderr,
			    "lbmaster: unknown signal \"%s\": use "
			    "reload, reopen, quit or stop\n",
			    signame);
			return 2;
		}
		if (test) {
			fprintf(stderr,
			    "lbmaster: -s and -t do not go "
			    "together\n");
			return 2;
		}
	}

	if (signo != 0)
		return send_signal(file, signo);

	if (lb_master_load(file, &cfg, err, sizeof(err)) == -1) {
		/* The error line starts with FILE:LINE:COL, for editors. */
		fprintf(stderr, "%s\n", err);
		if (test)
			fprintf(stderr,
			    "lbmaster: configuration file %s test "
			    "failed\n",
			    file);
		return 1;
	}
	if (test) {
		/* Start-up would fail on it: so does the test. */
		if (lb_user_check(cfg, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s\n", err);
			fprintf(stderr,
			    "lbmaster: configuration file %s test "
			    "failed\n",
			    file);
			lb_cfg_free(cfg);
			return 1;
		}
	}
	if (test) {
		/* A certificate near its end still passes: a warning. */
		lb_tls_expiring(cfg, time(NULL), EXPIRY_WARN_DAYS, warn_line,
		    NULL);
		/* With -T the line is a YAML comment: stdout stays loadable. */
		printf("%slbmaster: configuration file %s test is successful\n",
		    dump ? "# " : "", file);
		if (dump &&
		    (lb_cfg_dump(cfg, stdout) == -1 || fflush(stdout) == EOF)) {
			fprintf(stderr,
			    "lbmaster: writing the configuration: "
			    "%s\n",
			    strerror(errno));
			lb_cfg_free(cfg);
			return 1;
		}
		lb_cfg_free(cfg);
		return 0;
	}
	/* cfg owns copies of what it needs: argv's space may be reused. */
	lb_proctitle_init(argc, argv);
	return lb_master_run(cfg, foreground);
}

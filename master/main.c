/*
 * master/main.c -- the lbmaster command line (lbmaster(8)).
 *
 *	lbmaster [-c FILE] [-f] [-t | -T] [-s SIGNAL] [-V] [-h]
 *
 * Exit status: 0 success, 1 configuration or start-up error, 2 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <yaml.h>

#include "common/log.h"
#include "config/config.h"
#include "master/master.h"

#define DEFAULT_CONFIG SYSCONFDIR "/lbmaster/lbmaster.yaml"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: lbmaster [-c FILE] [-f] [-t | -T] [-s SIGNAL] [-V] [-h]\n"
	    "  -c FILE    configuration file (default %s)\n"
	    "  -f         stay in the foreground\n"
	    "  -t         test the configuration and exit\n"
	    "  -T         test it, then print the effective configuration\n"
	    "  -s SIGNAL  send reload, reopen, quit or stop to the master\n"
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

int
main(int argc, char *argv[])
{
	const char    *file = DEFAULT_CONFIG, *signame = NULL;
	bool	       foreground = false, test = false, dump = false;
	char	       err[LB_ERRLEN];
	struct lb_cfg *cfg;
	int	       ch, signo = 0;

	while ((ch = getopt(argc, argv, "c:fhs:tTV")) != -1) {
		switch (ch) {
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
			printf("lbmaster %s\nlibevent %s\nlibyaml %s\n",
			    PACKAGE_VERSION, event_get_version(),
			    yaml_get_version_string());
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

	if (lb_cfg_load(file, &cfg, err, sizeof(err)) == -1) {
		/* The error line starts with FILE:LINE:COL, for editors. */
		fprintf(stderr, "%s\n", err);
		if (test)
			fprintf(stderr,
			    "lbmaster: configuration file %s test "
			    "failed\n",
			    file);
		return 1;
	}
	if (signo != 0) {
		int rc = lb_master_signal(cfg, signo, err, sizeof(err));

		if (rc == -1)
			fprintf(stderr, "lbmaster: %s\n", err);
		lb_cfg_free(cfg);
		return rc == -1 ? 1 : 0;
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

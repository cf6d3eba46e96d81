/*
 * tests/it_examples.c -- lbmaster(8)'s walk-through ("A change, from its
 * test to its reload", in EXAMPLES) is run as the page shows it, so the
 * page cannot drift from the program: the text is read from the page's
 * source, not retyped here.
 *
 * In that subsection, the .nf block after a roff comment ".\" example
 * file NAME" is written to NAME; in every other .nf block, a line that
 * starts with "$ " is a command for sh(1), run in the test's directory
 * with lbmaster first on PATH, and the lines after it, up to the next
 * command, are its output (standard output and error), compared whole.
 * The page's ports 8080, 8081 and 8082 become ports of this test:
 * lbmaster's and two real origins'.
 */
#include <sys/types.h>

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tests/harness.h"
#include "tests/mproc.h"

#define SUBSECTION ".SS A change, from its test to its reload"
#define MAX_LINES  256

/* The master the walk-through starts: not our child, stopped by pid. */
static pid_t daemon_pid;

static void
stop_daemon(void)
{
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		mp_wait_gone(daemon_pid, 2000);
	daemon_pid = 0;
}

/* LINE (from the page) as the reader sees it, ports made ours. */
static char *
plain(const char *line, const char *const ports[3])
{
	static const char *const from[] = { "8080", "8081", "8082" };
	static const struct {
		const char *esc, *text;
	} esc[] = { { "\\-", "-" }, { "\\(aq", "'" }, { "\\(dq", "\"" },
		{ "\\e", "\\" }, { "\\&", "" } };
	char *out = lbt_fmt("%s", line), *p;

	for (size_t i = 0; i < sizeof(esc) / sizeof(esc[0]); i++)
		while ((p = strstr(out, esc[i].esc)) != NULL)
			out = lbt_fmt("%.*s%s%s", (int)(p - out), out,
			    esc[i].text, p + strlen(esc[i].esc));
	for (size_t i = 0; i < 3; i++)
		while ((p = strstr(out, from[i])) != NULL)
			out = lbt_fmt("%.*s%s%s", (int)(p - out), out, ports[i],
			    p + strlen(from[i]));
	return out;
}

/* Run CMD with sh in the current directory; its output, harness-owned. */
static const char *
run(const char *cmd)
{
	char *out = NULL;
	int   rc;

	rc = lbt_run((const char *const[]){ "/bin/sh", "-c", cmd, NULL }, 40000,
	    &out);
	(void)rc; /* the output says what went wrong, and is compared */
	return out != NULL ? out : "";
}

START_TEST(test_the_walk_through_of_lbmaster_8_runs_as_shown)
{
	const char *man = getenv("LB_MANDIR"), *lbm = getenv("LBMASTER");
	char	   *page, *save = NULL, *line, *dir;
	const char *ports[3], *file = NULL, *cmd = NULL;
	char	   *expect = NULL;
	unsigned    lport, o1 = 0, o2 = 0;
	pid_t	    a, b;
	bool	    in_sub = false, in_nf = false, is_file = false;
	char	   *content = NULL;
	const char *failure = NULL;
	size_t	    commands = 0;

	ck_assert_msg(man != NULL && lbm != NULL,
	    "run the integration tests through `make check`");
	a = lbt_origin_start("a", &o1, NULL);
	b = lbt_origin_start("b", &o2, NULL);
	lport = lbt_free_port();
	ports[0] = lbt_fmt("%u", lport);
	ports[1] = lbt_fmt("%u", o1);
	ports[2] = lbt_fmt("%u", o2);
	ck_assert_int_eq(chdir(lbt_tmpdir()), 0);
	dir = lbt_fmt("%s", lbm);
	ck_assert_int_eq(setenv("PATH",
			     lbt_fmt("%s:%s", dirname(dir), getenv("PATH")), 1),
	    0);
	ck_assert_ptr_nonnull(
	    page = lbt_read_file(lbt_fmt("%s/lbmaster.8", man), NULL));

	for (line = strtok_r(page, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, SUBSECTION) == 0) {
			in_sub = true;
			continue;
		}
		if (!in_sub)
			continue;
		if (strncmp(line, ".SS", 3) == 0 ||
		    strncmp(line, ".SH", 3) == 0)
			break;
		if (strncmp(line, ".\\\" example file ", 17) == 0) {
			file = lbt_fmt("%s", line + 17);
			is_file = true;
			continue;
		}
		if (strcmp(line, ".nf") == 0) {
			in_nf = true;
			content = lbt_fmt("%s", "");
			continue;
		}
		if (strcmp(line, ".fi") == 0) {
			if (is_file) {
				lbt_write_file(file, content);
				is_file = false;
			}
			in_nf = false;
		}
		if (!in_nf && cmd == NULL)
			continue;
		/* The end of a command's expected output: run it. */
		if (cmd != NULL && (!in_nf || strncmp(line, "$ ", 2) == 0)) {
			const char *got = run(cmd);

			/* The walk-through's own master, once it started. */
			if (daemon_pid == 0 && access("lb.pid", F_OK) == 0) {
				char *pid = lbt_read_file("lb.pid", NULL);

				daemon_pid = (pid_t)atol(pid);
			}
			if (strcmp(got, expect) != 0) {
				failure = lbt_fmt("$ %s\nwant:\n%s\ngot:\n%s",
				    cmd, expect, got);
				break;
			}
			commands++;
			cmd = NULL;
		}
		if (!in_nf)
			continue;
		if (is_file) {
			content = lbt_fmt("%s%s\n", content,
			    plain(line, ports));
		} else if (strncmp(line, "$ ", 2) == 0) {
			cmd = plain(line + 2, ports);
			expect = lbt_fmt("%s", "");
		} else if (cmd != NULL) {
			expect = lbt_fmt("%s%s\n", expect, plain(line, ports));
		}
	}
	/*
	 * A failed check ends the test's process at once (no atexit, no
	 * teardown): the master it started is stopped first.
	 */
	if (failure != NULL) {
		stop_daemon();
		ck_abort_msg("%s", failure);
	}
	ck_assert_msg(in_sub, "no \"%s\" in lbmaster.8", SUBSECTION);
	/* The walk-through ends with -s quit: its master is gone. */
	if (daemon_pid <= 1 || !mp_wait_gone(daemon_pid, 5000)) {
		stop_daemon();
		ck_abort_msg("the walk-through's master (pid %d) did not "
			     "start, or is still running",
		    (int)daemon_pid);
	}
	daemon_pid = 0;
	ck_assert_uint_ge(commands, 8);
	ck_assert_int_eq(lbt_stop(a), 0);
	ck_assert_int_eq(lbt_stop(b), 0);
}
END_TEST

static Suite *
examples_suite(void)
{
	Suite *s = suite_create("examples");
	TCase *tc = lbt_tcase("lbmaster.8");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_the_walk_through_of_lbmaster_8_runs_as_shown);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(examples_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

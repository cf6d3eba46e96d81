/*
 * tests/check_access_log.c -- worker/access_log.c: the line format, the
 * escaping of what clients chose, missing values, off, reopen, and lines
 * from several processes that never mix.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "worker/access_log.h"

static char dir[64];

static void
setup(void)
{
	/* Every stamp in UTC, so that the offset is known: +0000. */
	setenv("TZ", "UTC", 1);
	tzset();
	umask(022);
	strcpy(dir, "/tmp/check_access_log-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[128];

	lb_access_log_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *
path(const char *name)
{
	static char buf[2][128];
	static int  i;

	i = !i;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* The whole file; the caller frees it. "" when it does not exist. */
static char *
slurp(const char *file)
{
	struct stat st;
	char	   *buf;
	size_t	    len = 0;
	ssize_t	    n;
	int	    fd;

	if ((fd = open(file, O_RDONLY)) == -1)
		return calloc(1, 1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_ptr_nonnull(buf = malloc((size_t)st.st_size + 1));
	while (len < (size_t)st.st_size &&
	    (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* A line with the "[...]" stamp replaced by "[T]", after checking it. */
static char *
unstamped(char *line)
{
	char *open = strchr(line, '['), *close = strchr(line, ']');
	int   day, year, h, m, s;
	char  mon[4], tz[6];

	ck_assert_ptr_nonnull(open);
	ck_assert_ptr_nonnull(close);
	ck_assert_int_eq(close - open, 27);
	ck_assert_int_eq(sscanf(open, "[%2d/%3s/%4d:%2d:%2d:%2d %5s]", &day,
			     mon, &year, &h, &m, &s, tz),
	    7);
	ck_assert_str_eq(tz, "+0000");
	ck_assert_int_ge(year, 2024);
	ck_assert_ptr_nonnull(
	    strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon));
	memmove(open + 2, close, strlen(close) + 1);
	open[1] = 'T';
	return line;
}

static struct lb_access
proxied(void)
{
	struct lb_access a = {
		.client_ip = "192.0.2.1",
		.method = "GET",
		.target = "/v1/users?a=1",
		.http_minor = 1,
		.status = 200,
		.bytes = 1234,
		.referer = "http://www.mango.com/",
		.user_agent = "curl/8.5.0",
		.upstream = "127.0.0.1:8081",
		.upstream_status = 200,
		.rt_us = 2345,
		.urt_us = 1999,
	};

	return a;
}

START_TEST(test_line_is_combined_format_then_upstream_fields)
{
	struct lb_access a = proxied();
	char		*all;

	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	ck_assert(lb_access_log_enabled());
	lb_access_log_write(&a);
	all = slurp(path("a.log"));
	ck_assert_str_eq(unstamped(all),
	    "192.0.2.1 - - [T] \"GET "
	    "/v1/users?a=1 HTTP/1.1\" 200 1234 \"http://www.mango.com/\" "
	    "\"curl/8.5.0\" upstream=127.0.0.1:8081 status=200 rt=0.002 "
	    "urt=0.001\n");
	free(all);
}
END_TEST

START_TEST(test_request_id_and_traceparent_follow_when_there_are_any)
{
	struct lb_access a = proxied();
	char		*all;

	a.request_id = "4f\"x";
	a.traceparent = "00-ab cd-01";
	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	lb_access_log_write(&a);
	all = slurp(path("a.log"));
	/* Unquoted: a space would split them, so it is escaped too. */
	ck_assert_str_eq(unstamped(all),
	    "192.0.2.1 - - [T] \"GET "
	    "/v1/users?a=1 HTTP/1.1\" 200 1234 \"http://www.mango.com/\" "
	    "\"curl/8.5.0\" upstream=127.0.0.1:8081 status=200 rt=0.002 "
	    "urt=0.001 request_id=4f\\x22x traceparent=00-ab\\x20cd-01\n");
	free(all);
}
END_TEST

START_TEST(test_json_line_has_every_key_and_escapes_what_the_client_chose)
{
	struct lb_access a = proxied();
	char		*all;

	a.target = "/a\"b\\c\x01\xc3\xa9";
	a.user_agent = "line\r\nbreak\t\x7f";
	a.request_id = "r1";
	a.route = "www.mango.com";
	lb_access_log_json(true);
	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	lb_access_log_write(&a);
	all = slurp(path("a.log"));
	ck_assert_str_eq(all +
		strlen("{\"time\": \"2026-12-06T03:12:00+00:00\""),
	    ", \"client\": \"192.0.2.1\", \"method\": \"GET\", "
	    "\"uri\": \"/a\\\"b\\\\c\\u0001\\u00c3\\u00a9\", \"status\": 200, "
	    "\"bytes\": 1234, \"referer\": \"http://www.mango.com/\", "
	    "\"user_agent\": \"line\\u000d\\u000abreak\\u0009\\u007f\", "
	    "\"route\": \"www.mango.com\", \"upstream\": \"127.0.0.1:8081\", "
	    "\"upstream_status\": 200, \"rt\": 0.002, \"urt\": 0.001, "
	    "\"request_id\": \"r1\", \"traceparent\": null, \"tls\": null}\n");
	ck_assert_int_eq(strncmp(all, "{\"time\": \"20", 12), 0);
	free(all);
}
END_TEST

START_TEST(test_json_line_has_nulls_for_what_is_missing)
{
	struct lb_access a = {
		.client_ip = "2001:db8::1",
		.method = "HEAD",
		.target = "/",
		.status = 404,
		.rt_us = 999,
		.urt_us = -1,
	};
	char *all, *p;

	lb_access_log_json(true);
	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	lb_access_log_write(&a);
	all = slurp(path("a.log"));
	ck_assert_ptr_nonnull(p = strstr(all, ", \"client\""));
	ck_assert_str_eq(p,
	    ", \"client\": \"2001:db8::1\", \"method\": \"HEAD\", "
	    "\"uri\": \"/\", \"status\": 404, \"bytes\": 0, \"referer\": null, "
	    "\"user_agent\": null, \"route\": null, \"upstream\": null, "
	    "\"upstream_status\": null, \"rt\": 0.000, \"urt\": null, "
	    "\"request_id\": null, \"traceparent\": null, \"tls\": null}\n");
	free(all);
}
END_TEST

START_TEST(test_stamp_is_the_local_time_now)
{
	struct lb_access a = proxied();
	char		 want[32], *all;
	time_t		 now = time(NULL);
	struct tm	 tm;

	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	lb_access_log_write(&a);
	all = slurp(path("a.log"));
	gmtime_r(&now, &tm);
	/* To the minute: the second may tick between the two. */
	strftime(want, sizeof(want), "[%d/%b/%Y:%H:%M:", &tm);
	ck_assert_msg(strstr(all, want) != NULL, "%s lacks %s", all, want);
	free(all);
}
END_TEST

START_TEST(test_missing_values_are_dashes)
{
	struct lb_access a = {
		.client_ip = "2001:db8::1",
		.method = "HEAD",
		.target = "/",
		.http_minor = 0,
		.status = 404,
		.rt_us = 999,
		.urt_us = -1,
	};
	char *all;

	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	lb_access_log_write(&a);
	all = slurp(path("a.log"));
	ck_assert_str_eq(unstamped(all),
	    "2001:db8::1 - - [T] \"HEAD / "
	    "HTTP/1.0\" 404 0 \"-\" \"-\" upstream=- status=- rt=0.000 "
	    "urt=-\n");
	free(all);
}
END_TEST

START_TEST(test_client_chosen_bytes_are_escaped)
{
	struct lb_access a = proxied();
	char		*all;

	a.target = "/a\"b\\c\x01\x7f\xc3\xa9";
	a.referer = "x\" \"forged";
	a.user_agent = "line\r\nbreak\t";
	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	lb_access_log_write(&a);
	all = slurp(path("a.log"));
	ck_assert_str_eq(unstamped(all),
	    "192.0.2.1 - - [T] \"GET "
	    "/a\\x22b\\x5Cc\\x01\\x7F\\xC3\\xA9 HTTP/1.1\" 200 1234 "
	    "\"x\\x22 \\x22forged\" \"line\\x0D\\x0Abreak\\x09\" "
	    "upstream=127.0.0.1:8081 status=200 rt=0.002 urt=0.001\n");
	/* One line, whatever the client sent. */
	ck_assert_ptr_eq(strchr(all, '\n'), all + strlen(all) - 1);
	free(all);
}
END_TEST

START_TEST(test_seconds_have_three_decimals)
{
	static const struct {
		int64_t	    us;
		const char *text;
	} cases[] = {
		{ 0, "0.000" },
		{ 999, "0.000" },
		{ 1000, "0.001" },
		{ 1234567, "1.234" },
		{ 60000000, "60.000" },
		{ -5, "0.000" },
	};
	char *all, want[64];

	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lb_access a = proxied();

		a.rt_us = cases[i].us;
		a.urt_us = cases[i].us < 0 ? 0 : cases[i].us;
		lb_access_log_write(&a);
	}
	all = slurp(path("a.log"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want), "rt=%s urt=%s\n", cases[i].text,
		    cases[i].text);
		ck_assert_msg(strstr(all, want) != NULL, "no \"%s\" in:\n%s",
		    want, all);
	}
	free(all);
}
END_TEST

START_TEST(test_off_writes_nothing)
{
	struct lb_access a = proxied();

	ck_assert_int_eq(lb_access_log_open(NULL), 0);
	ck_assert(!lb_access_log_enabled());
	lb_access_log_write(&a);
	ck_assert_int_eq(lb_access_log_reopen(), 0);
	ck_assert_int_eq(lb_access_log_open("off"), 0);
	ck_assert(!lb_access_log_enabled());
}
END_TEST

/* "syslog" is the local syslog, as for the error log: not a file. */
START_TEST(test_syslog_is_not_a_file_named_syslog)
{
	struct lb_access a = proxied();

	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(lb_access_log_open("syslog"), 0);
	ck_assert(lb_access_log_enabled());
	lb_access_log_write(&a);
	ck_assert_int_eq(lb_access_log_reopen(), 0);
	ck_assert_int_eq(access("syslog", F_OK), -1);
	lb_access_log_close();
	ck_assert(!lb_access_log_enabled());
}
END_TEST

START_TEST(test_open_fails_on_a_missing_directory)
{
	ck_assert_int_eq(lb_access_log_open(path("no/such.log")), -1);
	ck_assert(!lb_access_log_enabled());
}
END_TEST

START_TEST(test_reopen_follows_a_rename)
{
	struct lb_access a = proxied();
	struct stat	 st;
	char		*old, *cur;

	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	lb_access_log_write(&a);
	ck_assert_int_eq(stat(path("a.log"), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	ck_assert_int_eq(rename(path("a.log"), path("a.log.1")), 0);
	a.target = "/before-reopen";
	lb_access_log_write(&a);
	ck_assert_int_eq(lb_access_log_reopen(), 0);
	a.target = "/after-reopen";
	lb_access_log_write(&a);
	old = slurp(path("a.log.1"));
	cur = slurp(path("a.log"));
	ck_assert_ptr_nonnull(strstr(old, "/before-reopen"));
	ck_assert_ptr_null(strstr(old, "/after-reopen"));
	ck_assert_ptr_nonnull(strstr(cur, "/after-reopen"));
	ck_assert_ptr_null(strstr(cur, "/before-reopen"));
	free(old);
	free(cur);
}
END_TEST

/* Four processes, long lines: each line arrives whole. */
START_TEST(test_lines_of_several_processes_never_mix)
{
	static char ua[3000];
	char	   *all, *line, *save;
	int	    st, lines = 0;

	ck_assert_int_eq(lb_access_log_open(path("a.log")), 0);
	for (int p = 0; p < 4; p++) {
		pid_t pid = fork();

		ck_assert_int_ne(pid, -1);
		if (pid == 0) {
			struct lb_access a = proxied();

			memset(ua, 'a' + p, sizeof(ua) - 1);
			a.user_agent = ua;
			for (int i = 0; i < 500; i++)
				lb_access_log_write(&a);
			_exit(0);
		}
	}
	for (int p = 0; p < 4; p++) {
		ck_assert_int_ne(wait(&st), -1);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	all = slurp(path("a.log"));
	for (line = strtok_r(all, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *q = strstr(line, "\" \"") + 3;

		lines++;
		/* 2999 times the same letter, then the closing quote. */
		ck_assert_int_eq(strspn(q, (char[]){ *q, '\0' }), 2999);
		ck_assert_int_eq(q[2999], '"');
		ck_assert_ptr_nonnull(strstr(line, " urt=0.001"));
	}
	ck_assert_int_eq(lines, 2000);
	free(all);
}
END_TEST

static Suite *
access_log_suite(void)
{
	Suite *s = suite_create("access_log");
	TCase *tc = tcase_create("access_log");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_line_is_combined_format_then_upstream_fields);
	tcase_add_test(tc, test_stamp_is_the_local_time_now);
	tcase_add_test(tc,
	    test_request_id_and_traceparent_follow_when_there_are_any);
	tcase_add_test(tc,
	    test_json_line_has_every_key_and_escapes_what_the_client_chose);
	tcase_add_test(tc, test_json_line_has_nulls_for_what_is_missing);
	tcase_add_test(tc, test_missing_values_are_dashes);
	tcase_add_test(tc, test_client_chosen_bytes_are_escaped);
	tcase_add_test(tc, test_seconds_have_three_decimals);
	tcase_add_test(tc, test_off_writes_nothing);
	tcase_add_test(tc, test_syslog_is_not_a_file_named_syslog);
	tcase_add_test(tc, test_open_fails_on_a_missing_directory);
	tcase_add_test(tc, test_reopen_follows_a_rename);
	tcase_add_test(tc, test_lines_of_several_processes_never_mix);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(access_log_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

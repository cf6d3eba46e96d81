/*
 * tests/check_fuzz_regress.c -- every input the fuzzers ever crashed on,
 * and every seed, replayed through the same harness functions, so that a
 * fixed crash stays fixed in `make check`.
 *
 * The inputs are the files of tests/fuzz/crashes/NAME/ and
 * tests/fuzz/corpus/NAME/ for each fuzzer NAME; one loop test per file,
 * forked, so a crash names its file. A harness reports a broken invariant
 * by aborting, which Check shows as a signal with the file's name on
 * stderr just before it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/fuzz/fuzz.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct fuzzer {
	const char *name;
	int (*one)(const uint8_t *, size_t);
} fuzzers[] = {
	{ "fuzz_config", lb_fuzz_config },
	{ "fuzz_uri", lb_fuzz_uri },
	{ "fuzz_http", lb_fuzz_http },
	{ "fuzz_rules", lb_fuzz_rules },
	{ "fuzz_reqscan", lb_fuzz_reqscan },
	{ "fuzz_body", lb_fuzz_body },
	{ "fuzz_dns", lb_fuzz_dns },
	{ "fuzz_proxyproto", lb_fuzz_proxyproto },
};

struct input {
	const struct fuzzer *fz;
	char		     path[PATH_MAX];
};

static struct input *inputs;
static size_t	     n_inputs;
static size_t	     n_seeds[NITEMS(fuzzers)];
static char	     fuzz_dir[PATH_MAX];

/* tests/fuzz of the source tree: next to $LB_FIXTURES, else to us. */
static void
find_fuzz_dir(void)
{
	const char *env = getenv("LB_FIXTURES"), *slash;

	if (env != NULL && *env != '\0')
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/../fuzz", env);
	else if ((slash = strrchr(__FILE__, '/')) != NULL)
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%.*s/fuzz",
		    (int)(slash - __FILE__), __FILE__);
	else
		snprintf(fuzz_dir, sizeof(fuzz_dir), "fuzz");
}

static int
by_path(const void *a, const void *b)
{
	return strcmp(((const struct input *)a)->path,
	    ((const struct input *)b)->path);
}

/* Add every regular file of fuzz_dir/KIND/NAME; a missing dir adds none. */
static size_t
collect(const struct fuzzer *fz, const char *kind)
{
	char	       dir[PATH_MAX];
	DIR	      *d;
	struct dirent *e;
	struct stat    st;
	struct input  *in;
	size_t	       added = 0;
	int	       n;

	n = snprintf(dir, sizeof(dir), "%s/%s/%s", fuzz_dir, kind, fz->name);
	if (n < 0 || (size_t)n >= sizeof(dir) || (d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if ((in = realloc(inputs, (n_inputs + 1) * sizeof(*in))) ==
		    NULL) {
			perror("realloc");
			exit(EXIT_FAILURE);
		}
		inputs = in;
		in = &inputs[n_inputs];
		in->fz = fz;
		n = snprintf(in->path, sizeof(in->path), "%s/%s", dir,
		    e->d_name);
		if (n < 0 || (size_t)n >= sizeof(in->path) ||
		    stat(in->path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		n_inputs++;
		added++;
	}
	closedir(d);
	return added;
}

/* The whole of PATH, malloc'ed (at least one byte); *len its length. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE	*fp;
	uint8_t *buf = NULL, *p;
	size_t	 cap = 0, n;

	*len = 0;
	ck_assert_msg((fp = fopen(path, "rb")) != NULL, "%s: %s", path,
	    strerror(errno));
	do {
		if (*len == cap) {
			cap = cap ? cap * 2 : 4096;
			ck_assert_ptr_nonnull(p = realloc(buf, cap));
			buf = p;
		}
		n = fread(buf + *len, 1, cap - *len, fp);
		*len += n;
	} while (n > 0);
	ck_assert_msg(!ferror(fp), "%s: read error", path);
	fclose(fp);
	return buf;
}

/* Each saved input goes through its harness without an abort. */
START_TEST(test_replay_input)
{
	const struct input *in = &inputs[_i];
	uint8_t		   *data;
	size_t		    len;

	data = slurp(in->path, &len);
	/* A crash names its input: Check shows only the signal. */
	fprintf(stderr, "replaying %s\n", in->path);
	in->fz->one(data, len);
	free(data);
}
END_TEST

/* Without seeds the replay would pass by testing nothing. */
START_TEST(test_every_fuzzer_has_seeds)
{
	ck_assert_msg(n_seeds[_i] > 0, "no seeds found in %s/corpus/%s",
	    fuzz_dir, fuzzers[_i].name);
}
END_TEST

static Suite *
fuzz_regress_suite(void)
{
	Suite *s = suite_create("fuzz_regress");
	TCase *tc;

	tc = tcase_create("seeds");
	tcase_add_loop_test(tc, test_every_fuzzer_has_seeds, 0,
	    NITEMS(fuzzers));
	suite_add_tcase(s, tc);

	tc = tcase_create("replay");
	if (n_inputs > 0)
		tcase_add_loop_test(tc, test_replay_input, 0, (int)n_inputs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	size_t	 crashes = 0;
	int	 failed;

	find_fuzz_dir();
	for (size_t i = 0; i < NITEMS(fuzzers); i++) {
		crashes += collect(&fuzzers[i], "crashes");
		n_seeds[i] = collect(&fuzzers[i], "corpus");
	}
	/* A stable order, so that a failure's index means the same file. */
	if (n_inputs > 0)
		qsort(inputs, n_inputs, sizeof(*inputs), by_path);
	printf("%zu saved crashes, %zu seeds under %s\n", crashes,
	    n_inputs - crashes, fuzz_dir);

	sr = srunner_create(fuzz_regress_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(inputs);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * alloccount.c: count the calls to malloc and its kin in every process it
 * is preloaded into, for the `allocs` scenario of bench/bench.py.
 *
 *     cc -shared -fPIC -O2 -o alloccount.so alloccount.c -ldl
 *     ALLOCCOUNT_DIR=DIR LD_PRELOAD=./alloccount.so PROGRAM ...
 *
 * Every process maps the file DIR/<its pid> (MAP_SHARED, 8 bytes) when the
 * library is loaded and adds one to the 64-bit counter in it (host byte
 * order) with a relaxed atomic add at every call to malloc, calloc,
 * realloc, reallocarray, posix_memalign, aligned_alloc, memalign and
 * valloc; free is not counted. Another process reads the file whenever it
 * likes, without stopping or tracing this one. A forked child maps a file
 * of its own before fork() returns in it (pthread_atfork); a process that
 * execs starts from zero in the same file. Without ALLOCCOUNT_DIR, or when
 * the file cannot be made, the calls are counted where nobody reads them.
 *
 * The real functions are found with dlsym(RTLD_NEXT), which may itself
 * allocate: what is asked for while they are being looked up comes from a
 * static buffer and is never given back.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t	 nobody_reads;
static uint64_t *counter = &nobody_reads;

static void *(*r_malloc)(size_t);
static void *(*r_calloc)(size_t, size_t);
static void *(*r_realloc)(void *, size_t);
static void *(*r_reallocarray)(void *, size_t, size_t);
static void (*r_free)(void *);
static int (*r_posix_memalign)(void **, size_t, size_t);
static void *(*r_aligned_alloc)(size_t, size_t);
static void *(*r_memalign)(size_t, size_t);
static void *(*r_valloc)(size_t);
static int resolving;

#define COUNT() __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED)

/* ------------------------------------------------------------ bootstrap */

#define BOOT_SIZE (64 * 1024)
#define BOOT_HEAD 16 /* the size of each block, kept before it */

static _Alignas(64) unsigned char boot[BOOT_SIZE];
static size_t boot_used;

static int
in_boot(const void *p)
{
	return (const unsigned char *)p >= boot &&
	    (const unsigned char *)p < boot + BOOT_SIZE;
}

/* Zeroed memory from the static buffer; alignment a power of two <= 64. */
static void *
boot_alloc(size_t n, size_t align)
{
	size_t at;

	if (align < BOOT_HEAD)
		align = BOOT_HEAD;
	at = (boot_used + BOOT_HEAD + align - 1) & ~(align - 1);
	if (align > 64 || n > BOOT_SIZE || at + n > BOOT_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	boot_used = at + n;
	memcpy(boot + at - BOOT_HEAD, &n, sizeof(n));
	return boot + at;
}

static size_t
boot_size(const void *p)
{
	size_t n;

	memcpy(&n, (const unsigned char *)p - BOOT_HEAD, sizeof(n));
	return n;
}

/* Look the real functions up, once; false while that is under way. */
static int
ready(void)
{
	if (r_free != NULL && r_malloc != NULL)
		return 1;
	if (resolving)
		return 0;
	resolving = 1;
	r_free = dlsym(RTLD_NEXT, "free");
	r_malloc = dlsym(RTLD_NEXT, "malloc");
	r_calloc = dlsym(RTLD_NEXT, "calloc");
	r_realloc = dlsym(RTLD_NEXT, "realloc");
	r_reallocarray = dlsym(RTLD_NEXT, "reallocarray");
	r_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	r_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	r_memalign = dlsym(RTLD_NEXT, "memalign");
	r_valloc = dlsym(RTLD_NEXT, "valloc");
	resolving = 0;
	return r_free != NULL && r_malloc != NULL;
}

/* ------------------------------------------------------------ the file */

/* Map DIR/<pid> and count there from now on. */
static void
map_counter(void)
{
	const char *dir = getenv("ALLOCCOUNT_DIR");
	char	    path[4096], digits[24];
	size_t	    len, nd = 0;
	pid_t	    pid = getpid();
	void	   *m;
	int	    fd;

	if (counter != &nobody_reads) {
		/* A forked child: the mapping it inherited is its parent's. */
		munmap(counter, sizeof(*counter));
		counter = &nobody_reads;
	}
	if (dir == NULL || *dir == '\0')
		return;
	len = strlen(dir);
	do
		digits[nd++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0);
	if (len + 1 + nd + 1 > sizeof(path))
		return;
	memcpy(path, dir, len);
	path[len++] = '/';
	while (nd > 0)
		path[len++] = digits[--nd];
	path[len] = '\0';
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	if (ftruncate(fd, sizeof(*counter)) == 0) {
		m = mmap(NULL, sizeof(*counter), PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
		if (m != MAP_FAILED)
			counter = m;
	}
	close(fd);
}

__attribute__((constructor)) static void
alloccount_init(void)
{
	int saved = errno;

	ready();
	map_counter();
	pthread_atfork(NULL, NULL, map_counter);
	errno = saved;
}

/* ------------------------------------------------------------ the hooks */

void *
malloc(size_t n)
{
	COUNT();
	if (!ready())
		return boot_alloc(n, 16);
	return r_malloc(n);
}

void *
calloc(size_t k, size_t n)
{
	COUNT();
	if (!ready() || r_calloc == NULL) {
		if (n != 0 && k > SIZE_MAX / n) {
			errno = ENOMEM;
			return NULL;
		}
		return boot_alloc(k * n, 16); /* static: zeroed already */
	}
	return r_calloc(k, n);
}

void
free(void *p)
{
	if (p == NULL || in_boot(p))
		return;
	if (ready())
		r_free(p);
	/* else: nothing could have come from the real malloc yet. */
}

/* A block of the bootstrap buffer grown into real memory. */
static void *
from_boot(void *p, size_t n)
{
	size_t old = boot_size(p);
	void  *q = r_malloc(n);

	if (q != NULL)
		memcpy(q, p, old < n ? old : n);
	return q;
}

/* realloc, not counted: realloc and reallocarray count their calls. */
static void *
grow(void *p, size_t n)
{
	if (!ready() || r_realloc == NULL) {
		void *q = boot_alloc(n, 16);

		if (q != NULL && p != NULL) {
			size_t old = boot_size(p);

			memcpy(q, p, old < n ? old : n);
		}
		return q;
	}
	if (in_boot(p))
		return from_boot(p, n);
	return r_realloc(p, n);
}

void *
realloc(void *p, size_t n)
{
	COUNT();
	return grow(p, n);
}

void *
reallocarray(void *p, size_t k, size_t n)
{
	COUNT();
	if (n != 0 && k > SIZE_MAX / n) {
		errno = ENOMEM;
		return NULL;
	}
	if (!ready() || r_reallocarray == NULL || in_boot(p))
		return grow(p, k * n);
	return r_reallocarray(p, k, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	COUNT();
	if (!ready() || r_posix_memalign == NULL) {
		*out = boot_alloc(n, align);
		return *out != NULL ? 0 : ENOMEM;
	}
	return r_posix_memalign(out, align, n);
}

void *
aligned_alloc(size_t align, size_t n)
{
	COUNT();
	if (!ready() || r_aligned_alloc == NULL)
		return boot_alloc(n, align);
	return r_aligned_alloc(align, n);
}

void *
memalign(size_t align, size_t n)
{
	COUNT();
	if (!ready() || r_memalign == NULL)
		return boot_alloc(n, align);
	return r_memalign(align, n);
}

void *
valloc(size_t n)
{
	COUNT();
	if (!ready() || r_valloc == NULL)
		return boot_alloc(n, 4096); /* cannot: NULL */
	return r_valloc(n);
}

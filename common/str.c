/*
 * common/str.c -- growable buffers and small string helpers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"

void
lb_buf_init(struct lb_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
lb_buf_free(struct lb_buf *b)
{
	free(b->data);
	lb_buf_init(b);
}

void
lb_buf_reset(struct lb_buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Make room for N more bytes and a NUL. */
static bool
buf_reserve(struct lb_buf *b, size_t n)
{
	size_t cap;
	char  *p;

	if (b->failed)
		return false;
	/* Before the sum below, which a huge N would wrap around. */
	if (n > SIZE_MAX / 2 - b->len - 1) {
		b->failed = true;
		return false;
	}
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void
lb_buf_add(struct lb_buf *b, const void *p, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
lb_buf_adds(struct lb_buf *b, const char *s)
{
	lb_buf_add(b, s, strlen(s));
}

void
lb_buf_addc(struct lb_buf *b, char c)
{
	lb_buf_add(b, &c, 1);
}

void
lb_buf_printf(struct lb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *
lb_buf_cstr(struct lb_buf *b)
{
	if (b->failed)
		return NULL;
	if (b->data == NULL)
		return "";
	return b->data;
}

char *
lb_buf_take(struct lb_buf *b)
{
	char *p;

	if (b->failed) {
		lb_buf_free(b);
		errno = ENOMEM;
		return NULL;
	}
	p = b->data != NULL ? b->data : strdup("");
	lb_buf_init(b);
	return p;
}

bool
lb_buf_failed(const struct lb_buf *b)
{
	return b->failed;
}

size_t
lb_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t m = n < size - 1 ? n : size - 1;

		memcpy(dst, src, m);
		dst[m] = '\0';
	}
	return n;
}

size_t
lb_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int	n;

	if (size == 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < size ? (size_t)n : size - 1;
}

static inline unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool
lb_strncaseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
		if (a[i] == '\0')
			return true;
	}
	return true;
}

unsigned
lb_strdist(const char *a, const char *b)
{
	/* Two rows of the classic dynamic programme; names are short. */
	unsigned row0[65], row1[65], *prev = row0, *cur = row1, *t;
	size_t	 la = strlen(a), lb = strlen(b);

	if (la > 64 || lb > 64)
		return 255;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = prev[j - 1] +
			    (lower((unsigned char)a[i - 1]) !=
				lower((unsigned char)b[j - 1]));
			unsigned del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? sub : del;
			if (ins < cur[j])
				cur[j] = ins;
		}
		t = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb] > 255 ? 255 : prev[lb];
}

bool
lb_str_has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

int
lb_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
lb_str_printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void
lb_buf_add_json(struct lb_buf *b, const char *s)
{
	static const char    hex[] = "0123456789abcdef";
	const unsigned char *p;
	size_t		     run;

	for (p = (const unsigned char *)s; *p != '\0'; p += run) {
		for (run = 0; p[run] >= 0x20 && p[run] < 0x7f &&
		     p[run] != '"' && p[run] != '\\';
		     run++)
			;
		if (run > 0) {
			lb_buf_add(b, p, run);
			continue;
		}
		run = 1;
		if (*p == '"' || *p == '\\') {
			lb_buf_addc(b, '\\');
			lb_buf_addc(b, (char)*p);
			continue;
		}
		lb_buf_adds(b, "\\u00");
		lb_buf_addc(b, hex[*p >> 4]);
		lb_buf_addc(b, hex[*p & 0xf]);
	}
}

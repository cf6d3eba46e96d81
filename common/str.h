/*
 * common/str.h -- small string helpers shared by every module.
 */
#ifndef LB_STR_H
#define LB_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* A NAME: VALUE pair (header_rules.add, param_rules.add, rewrite_rules). */
struct lb_kv {
	char *name;  /* owned */
	char *value; /* owned */
};

/*
 * A growable byte buffer. Always NUL-terminated when len > 0 or after
 * lb_buf_cstr. On allocation failure the buffer is marked failed and
 * further appends do nothing; check lb_buf_failed once at the end.
 */
struct lb_buf {
	char  *data; /* owned */
	size_t len;
	size_t cap;
	bool   failed;
};

/* common/str.c */
void lb_buf_init(struct lb_buf *);
void lb_buf_free(struct lb_buf *);
void lb_buf_reset(struct lb_buf *);
void lb_buf_add(struct lb_buf *, const void *, size_t);
void lb_buf_adds(struct lb_buf *, const char *);
void lb_buf_addc(struct lb_buf *, char);
void lb_buf_printf(struct lb_buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* The contents as a C string ("" when empty); NULL after a failure. */
const char *lb_buf_cstr(struct lb_buf *);
/* Hand the contents to the caller (free()); the buffer is left empty. */
char *lb_buf_take(struct lb_buf *);
/*
 * S escaped for the inside of a JSON string: '"' and '\\' backslashed,
 * every other byte outside 0x20-0x7e as \\u00XX, so that the result is
 * valid JSON (and one line) whatever bytes S holds.
 */
void lb_buf_add_json(struct lb_buf *, const char *s);
bool lb_buf_failed(const struct lb_buf *);

/*
 * A string literal and its length without the NUL, as the two arguments
 * of lb_buf_add, evbuffer_add and the like: lb_buf_add(b, LB_LIT("\r\n")).
 */
#define LB_LIT(s) ("" s), (sizeof(s) - 1)

/* 1 in a build with AddressSanitizer (gcc's or clang's spelling), else 0. */
#if defined(__SANITIZE_ADDRESS__)
#define LB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LB_ASAN 1
#endif
#endif
#ifndef LB_ASAN
#define LB_ASAN 0
#endif

size_t lb_strlcpy(char *, const char *, size_t);
/* snprintf that never overflows and returns how much it wrote. */
size_t lb_snprintf(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));
/* ASCII case-insensitive comparison of N bytes / of C strings. */
bool lb_strncaseeq(const char *, const char *, size_t);
/* Levenshtein distance, capped at 255: for "did you mean". */
unsigned lb_strdist(const char *, const char *);
/*
 * Make S one printable line in place: control bytes (and DEL) become '?'.
 * For error messages that quote what a configuration said.
 */
void lb_str_printable(char *s);
/* The value of hexadecimal digit C, or -1 when it is not one. */
int lb_hexval(int c);
/* True when S contains CR, LF or NUL within LEN, or other C0 controls
 * except tab: not allowed in a header value. */
bool lb_str_has_ctl(const char *s, size_t len);

#endif /* LB_STR_H */

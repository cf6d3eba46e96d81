/*
 * tests/check_http.c -- the strict parsing of what origins send
 * (common/http.c): response heads, chunk sizes, Content-Length, and the
 * header-name helpers the proxy uses to decide what it forwards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/http.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAXH	  8
/* A literal and its length, for those holding a NUL. */
#define BIN(s) (s), sizeof(s) - 1

/* ------------------------------------------------ lb_http_parse_response */

/* A valid head, and what it parses into. */
static const struct head_case {
	const char *head;
	unsigned    minor;
	unsigned    status;
	const char *reason;
	size_t	    n_headers;
	const char *names[3];
	const char *values[3];
} head_cases[] = {
	{ "HTTP/1.1 200 OK\r\n\r\n", 1, 200, "OK", 0, { NULL }, { NULL } },
	{ "HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\n", 0, 404,
	    "Not Found", 1, { "Content-Length" }, { "9" } },
	/* Bare LF, and a mix of both. */
	{ "HTTP/1.1 200 OK\nA: 1\nB: 2\n\n", 1, 200, "OK", 2, { "A", "B" },
	    { "1", "2" } },
	{ "HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\n", 1, 200, "OK", 2, { "A", "B" },
	    { "1", "2" } },
	/* Reason empty, or missing with its space. */
	{ "HTTP/1.1 204 \r\n\r\n", 1, 204, "", 0, { NULL }, { NULL } },
	{ "HTTP/1.1 204\r\n\r\n", 1, 204, "", 0, { NULL }, { NULL } },
	/* Reason with spaces and a tab; 8-bit bytes are not controls. */
	{ "HTTP/1.1 500 Internal\tServer  Error\r\n\r\n", 1, 500,
	    "Internal\tServer  Error", 0, { NULL }, { NULL } },
	{ "HTTP/1.1 200 \xc3\x93K\r\n\r\n", 1, 200, "\xc3\x93K", 0, { NULL },
	    { NULL } },
	/* 1xx heads are heads like any other; the caller loops. */
	{ "HTTP/1.1 100 Continue\r\n\r\n", 1, 100, "Continue", 0, { NULL },
	    { NULL } },
	{ "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", 1, 103,
	    "Early Hints", 1, { "Link" }, { "</a.css>" } },
	{ "HTTP/1.1 999 Odd\r\n\r\n", 1, 999, "Odd", 0, { NULL }, { NULL } },
	/* Values lose surrounding blanks, keep inner ones. */
	{ "HTTP/1.1 200 OK\r\nX:  a b \t\r\nY:\tz\r\nEmpty:   \r\n\r\n", 1, 200,
	    "OK", 3, { "X", "Y", "Empty" }, { "a b", "z", "" } },
	/* A value may hold ':' and 8-bit bytes; names keep their case. */
	{ "HTTP/1.1 302 Found\r\nLOCATION: http://a:8/x\r\nX-U: \xff\r\n\r\n",
	    1, 302, "Found", 2, { "LOCATION", "X-U" },
	    { "http://a:8/x", "\xff" } },
	{ "HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09Az: t\r\n\r\n", 1, 200, "OK", 1,
	    { "!#$%&'*+-.^_`|~09Az" }, { "t" } },
};

START_TEST(test_response_valid_heads)
{
	const struct head_case *c = &head_cases[_i];
	struct lb_http_response r;
	struct lb_http_header	h[MAXH];
	size_t			len = strlen(c->head);

	ck_assert_int_eq(lb_http_parse_response(c->head, len, &r, h, MAXH),
	    (ssize_t)len);
	ck_assert_uint_eq(r.minor, c->minor);
	ck_assert_uint_eq(r.status, c->status);
	ck_assert_uint_eq(r.reason_len, strlen(c->reason));
	ck_assert_int_eq(memcmp(r.reason, c->reason, r.reason_len), 0);
	ck_assert_uint_eq(r.n_headers, c->n_headers);
	for (size_t i = 0; i < c->n_headers; i++) {
		ck_assert_uint_eq(h[i].name_len, strlen(c->names[i]));
		ck_assert_int_eq(memcmp(h[i].name, c->names[i], h[i].name_len),
		    0);
		ck_assert_uint_eq(h[i].value_len, strlen(c->values[i]));
		ck_assert_int_eq(memcmp(h[i].value, c->values[i],
				     h[i].value_len),
		    0);
		/* They point into the buffer, not at copies. */
		ck_assert(h[i].name >= c->head && h[i].name < c->head + len);
	}
}
END_TEST

/* The body that follows is not part of the head. */
START_TEST(test_response_length_stops_at_blank_line)
{
	static const char
	    buf[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	struct lb_http_response r;
	struct lb_http_header	h[MAXH];

	ck_assert_int_eq(lb_http_parse_response(buf, sizeof(buf) - 1, &r, h,
			     MAXH),
	    (ssize_t)(sizeof(buf) - 1 - 5));
	/* Even when the body looks like another head. */
	ck_assert_int_eq(lb_http_parse_response(BIN("HTTP/1.1 200 OK\n\n"
						    "HTTP/1.1 500 X\n\n"),
			     &r, h, MAXH),
	    17);
	ck_assert_uint_eq(r.status, 200);
}
END_TEST

/*
 * Every proper prefix of a valid head asks for more bytes, whichever byte
 * the read stopped at; the whole head then parses at once.
 */
START_TEST(test_response_needs_more_at_every_prefix)
{
	const char	       *head = head_cases[_i].head;
	size_t			len = strlen(head);
	struct lb_http_response r;
	struct lb_http_header	h[MAXH];
	char		       *copy;

	for (size_t n = 0; n < len; n++) {
		/* An exact-size copy, so ASan sees any read past N. */
		copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, head, n);
		ck_assert_msg(lb_http_parse_response(copy, n, &r, h, MAXH) == 0,
		    "prefix of %zu bytes of case %d not 0", n, _i);
		free(copy);
	}
	ck_assert_int_eq(lb_http_parse_response(head, len, &r, h, MAXH),
	    (ssize_t)len);
}
END_TEST

/* Refused heads; LEN 0 means strlen. */
static const struct bad_case {
	const char *head;
	size_t	    len;
	const char *why;
} bad_cases[] = {
	/* Not HTTP at all: refused from the first wrong byte. */
	{ "X", 0, "garbage first byte" },
	{ "<html>", 0, "HTML" },
	{ "\r\nHTTP/1.1 200 OK\r\n\r\n", 0, "leading CRLF" },
	{ " HTTP/1.1 200 OK\r\n\r\n", 0, "leading space" },
	{ "http/1.1 200 OK\r\n\r\n", 0, "lowercase" },
	{ "HTTX", 0, "fourth byte" },
	{ "SSH-2.0-OpenSSH_9.2\r\n", 0, "another protocol" },
	{ BIN("\0\0\0\0\0\0"), "NULs" },
	/* Versions other than HTTP/1.x. */
	{ "HTTP/2 200\r\n\r\n", 0, "HTTP/2" },
	{ "HTTP/2.0 200 OK\r\n\r\n", 0, "HTTP/2.0" },
	{ "HTTP/1.10 200 OK\r\n\r\n", 0, "two-digit minor" },
	{ "HTTP/1. 200 OK\r\n\r\n", 0, "no minor" },
	{ "HTTP/1.x 200 OK\r\n\r\n", 0, "letter minor" },
	{ "HTTP/0.9 200 OK\r\n\r\n", 0, "0.9" },
	/* Status. */
	{ "HTTP/1.1 099 Low\r\n\r\n", 0, "status below 100" },
	{ "HTTP/1.1 000\r\n\r\n", 0, "status 000" },
	{ "HTTP/1.1 20 OK\r\n\r\n", 0, "two digits" },
	{ "HTTP/1.1 2000 OK\r\n\r\n", 0, "four digits" },
	{ "HTTP/1.1 20x OK\r\n\r\n", 0, "letter" },
	{ "HTTP/1.1  200 OK\r\n\r\n", 0, "two spaces" },
	{ "HTTP/1.1\t200 OK\r\n\r\n", 0, "tab" },
	{ "HTTP/1.1 200\tOK\r\n\r\n", 0, "tab before reason" },
	{ "HTTP/1.1 +20 OK\r\n\r\n", 0, "sign" },
	{ "HTTP/1.1\r\n\r\n", 0, "no status" },
	/* Control bytes. */
	{ "HTTP/1.1 200 O\x01K\r\n\r\n", 0, "control in reason" },
	{ "HTTP/1.1 200 O\rK\r\n\r\n", 0, "bare CR in reason" },
	{ BIN("HTTP/1.1 200 O\0K\r\n\r\n"), "NUL in reason" },
	{ "HTTP/1.1 200 OK\x7f\r\n\r\n", 0, "DEL in reason" },
	{ "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", 0, "bare CR in value" },
	{ BIN("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n"), "NUL in value" },
	{ "HTTP/1.1 200 OK\r\nA: b\x1b[0m\r\n\r\n", 0, "ESC in value" },
	{ "HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n", 0, "CR CR LF" },
	{ "HTTP/1.1 200 OK\r\n\r\r\n", 0, "CR before the blank line" },
	/* Obsolete line folding. */
	{ "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", 0, "obs-fold space" },
	{ "HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n", 0, "obs-fold tab" },
	{ "HTTP/1.1 200 OK\r\n x: y\r\n\r\n", 0, "first header folded" },
	/* Header names. */
	{ "HTTP/1.1 200 OK\r\nA b: c\r\n\r\n", 0, "space in name" },
	{ "HTTP/1.1 200 OK\r\nA : c\r\n\r\n", 0, "space before colon" },
	{ "HTTP/1.1 200 OK\r\nA\t: c\r\n\r\n", 0, "tab before colon" },
	{ "HTTP/1.1 200 OK\r\n: c\r\n\r\n", 0, "empty name" },
	{ "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", 0, "no colon" },
	{ "HTTP/1.1 200 OK\r\nA(b): c\r\n\r\n", 0, "separator in name" },
	{ "HTTP/1.1 200 OK\r\nA\"b: c\r\n\r\n", 0, "quote in name" },
	{ "HTTP/1.1 200 OK\r\nA\xc3\xa9: c\r\n\r\n", 0, "8-bit name" },
	{ BIN("HTTP/1.1 200 OK\r\nA\0b: c\r\n\r\n"), "NUL in name" },
	{ "HTTP/1.1 200 OK\r\nA/b: c\r\n\r\n", 0, "slash in name" },
};

START_TEST(test_response_refused)
{
	const struct bad_case  *c = &bad_cases[_i];
	size_t			len = c->len ? c->len : strlen(c->head);
	struct lb_http_response r;
	struct lb_http_header	h[MAXH];

	ck_assert_msg(lb_http_parse_response(c->head, len, &r, h, MAXH) == -1,
	    "%s: not refused", c->why);
}
END_TEST

/* Garbage is refused on its first byte, not after a timeout. */
START_TEST(test_response_garbage_refused_immediately)
{
	static const char *const starts[] = {
		"G",
		"H ",
		"HT\n",
		"HTT\r",
		"HTTP ",
		"Hello",
		"\n",
		"\r",
		"h",
		"\x16\x03\x01",
	};
	struct lb_http_response r;
	struct lb_http_header	h[MAXH];

	for (size_t i = 0; i < NITEMS(starts); i++)
		ck_assert_msg(lb_http_parse_response(starts[i],
				  strlen(starts[i]), &r, h, MAXH) == -1,
		    "\"%s\" not refused", starts[i]);
	/* ...but the beginning of a real status line is just short. */
	ck_assert_int_eq(lb_http_parse_response("H", 1, &r, h, MAXH), 0);
	ck_assert_int_eq(lb_http_parse_response("HTTP/", 5, &r, h, MAXH), 0);
	ck_assert_int_eq(lb_http_parse_response("HTTP/1.1 2", 10, &r, h, MAXH),
	    0);
}
END_TEST

/*
 * MAX headers fit; one more is refused rather than silently dropped.
 * Without a table they are counted (the proxy then makes one to fit).
 */
START_TEST(test_response_too_many_headers)
{
	static const char
	    three[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	struct lb_http_response r;
	struct lb_http_header	h[LB_HTTP_MAX_HEADERS];
	char			big[LB_HTTP_MAX_HEADERS * 16 + 64];
	size_t			n = 0;

	ck_assert_int_eq(lb_http_parse_response(three, sizeof(three) - 1, &r, h,
			     3),
	    (ssize_t)(sizeof(three) - 1));
	ck_assert_uint_eq(r.n_headers, 3);
	ck_assert_int_eq(lb_http_parse_response(three, sizeof(three) - 1, &r, h,
			     2),
	    -1);
	ck_assert_int_eq(lb_http_parse_response("HTTP/1.1 200 OK\r\n\r\n", 19,
			     &r, NULL, 0),
	    19);
	/* No table: the fields are counted, whatever their number. */
	ck_assert_int_eq(lb_http_parse_response(three, sizeof(three) - 1, &r,
			     NULL, 0),
	    (ssize_t)(sizeof(three) - 1));
	ck_assert_uint_eq(r.n_headers, 3);

	n += (size_t)snprintf(big + n, sizeof(big) - n, "HTTP/1.1 200 OK\n");
	for (int i = 0; i <= LB_HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "H%d: v\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\n");
	ck_assert_uint_lt(n, sizeof(big));
	ck_assert_int_eq(lb_http_parse_response(big, n, &r, h,
			     LB_HTTP_MAX_HEADERS),
	    -1);
	ck_assert_int_eq(lb_http_parse_response(big, n, &r, NULL, 0),
	    (ssize_t)n);
	ck_assert_uint_eq(r.n_headers, LB_HTTP_MAX_HEADERS + 1);
}
END_TEST

/* ----------------------------------------------- lb_http_parse_chunk_size */

static const struct chunk_case {
	const char *line;
	int	    rc;
	uint64_t    size;
} chunk_cases[] = {
	{ "1a", 0, 26 },
	{ "1A", 0, 26 },
	{ "1A;ext=1", 0, 26 },
	{ "1a ; name=\"quoted value\"", 0, 26 },
	{ "1a\t;x", 0, 26 },
	{ "0", 0, 0 },
	{ "000000000000000000000010", 0, 16 },
	{ "ffffffffffffffff", 0, UINT64_MAX },
	{ "FfFf", 0, 0xffff },
	/* chunk-ext (RFC 9112 7.1.1): name, name=token, name="quoted". */
	{ "5;name", 0, 5 },
	{ "5;name=value", 0, 5 },
	{ "5;name=\"\"", 0, 5 },
	{ "5;name=\"a; b=c\"", 0, 5 },
	{ "5;n=\"q\\\"uote\\\\\"", 0, 5 },
	{ "5;n=\"\xe9\"", 0, 5 },
	/* BWS around ";" and "=", several in a row. */
	{ "5 ;a", 0, 5 },
	{ "5; a", 0, 5 },
	{ "5;a = b", 0, 5 },
	{ "5;a=\t\"b\"", 0, 5 },
	{ "5;a;b=1 ; c=\"2\";d", 0, 5 },
	{ "5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~", 0, 5 },
	/* Refused. */
	{ "", -1, 0 },
	{ ";ext", -1, 0 },
	{ "0x1", -1, 0 },
	{ "+1", -1, 0 },
	{ "-1", -1, 0 },
	{ " 1", -1, 0 },
	{ "\t1", -1, 0 },
	{ "10000000000000000", -1, 0 },
	{ "fffffffffffffffff", -1, 0 },
	{ "1 x", -1, 0 },
	{ "1g", -1, 0 },
	{ "1,2", -1, 0 },
	{ "1 2", -1, 0 },
	{ "1;ext\x01", -1, 0 },
	{ "1;\x7f", -1, 0 },
	{ "1\r", -1, 0 },
	{ "1;a\rb", -1, 0 },
	/* White space only before ";" and around "=". */
	{ "1 ", -1, 0 },
	{ "1\t", -1, 0 },
	{ "1;", -1, 0 },
	{ "1; ", -1, 0 },
	{ "1;;a", -1, 0 },
	{ "1;=v", -1, 0 },
	{ "1;a=", -1, 0 },
	{ "1;a= ", -1, 0 },
	{ "1;a ", -1, 0 },
	{ "1;a=b ", -1, 0 },
	{ "1;a b", -1, 0 },
	{ "1;a=b c", -1, 0 },
	{ "1;a=b=c", -1, 0 },
	{ "1;a,b", -1, 0 },
	{ "1;a@b", -1, 0 },
	/* Quoted strings are closed, hold no control. */
	{ "1;a=\"b", -1, 0 },
	{ "1;a=\"b\\\"", -1, 0 },
	{ "1;a=\"b\"c", -1, 0 },
	{ "1;a=\"b\" c", -1, 0 },
	{ "1;a=\"\x01\"", -1, 0 },
	{ "1;a=\"\\\x01\"", -1, 0 },
	{ "1;a=\"\x7f\"", -1, 0 },
	{ "1;\xe9", -1, 0 },
	{ "1;a=\xe9", -1, 0 },
};

START_TEST(test_chunk_size_table)
{
	const struct chunk_case *c = &chunk_cases[_i];
	uint64_t		 v = 12345;

	ck_assert_msg(lb_http_parse_chunk_size(c->line, strlen(c->line), &v) ==
		c->rc,
	    "\"%s\": want %d", c->line, c->rc);
	if (c->rc == 0)
		ck_assert_uint_eq(v, c->size);
	else
		ck_assert_uint_eq(v, 12345); /* untouched on failure */
}
END_TEST

/* LEN bounds the line: what follows is not read. */
START_TEST(test_chunk_size_uses_len_not_nul)
{
	uint64_t v = 0;

	ck_assert_int_eq(lb_http_parse_chunk_size("1a\r\n", 2, &v), 0);
	ck_assert_uint_eq(v, 26);
	ck_assert_int_eq(lb_http_parse_chunk_size("1aZZ", 1, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(lb_http_parse_chunk_size("1", 0, &v), -1);
	ck_assert_int_eq(lb_http_parse_chunk_size("1\0", 2, &v), -1);
}
END_TEST

/*
 * The extension scanner fed in pieces -- every split point, and a byte at
 * a time -- agrees with the whole line: a caller that cannot keep a long
 * line gets the same answer.
 */
START_TEST(test_chunk_ext_split_anywhere)
{
	const struct chunk_case *c = &chunk_cases[_i];
	size_t			 len = strlen(c->line), digits = 0;
	bool			 whole;
	int			 st;

	while (digits < len &&
	    strchr("0123456789abcdefABCDEF", c->line[digits]) != NULL)
		digits++;
	if (digits == 0)
		return; /* refused before any extension */
	whole = lb_http_chunk_ext_end(lb_http_chunk_ext_feed(LB_HTTP_EXT_START,
	    c->line + digits, len - digits));
	/* The digits are fine in every row whose extension is. */
	if (c->rc == 0)
		ck_assert_msg(whole, "\"%s\": extension refused", c->line);
	for (size_t cut = digits; cut <= len; cut++) {
		st = lb_http_chunk_ext_feed(LB_HTTP_EXT_START, c->line + digits,
		    cut - digits);
		st = lb_http_chunk_ext_feed(st, c->line + cut, len - cut);
		ck_assert_msg(lb_http_chunk_ext_end(st) == whole,
		    "\"%s\" cut at %zu", c->line, cut);
	}
	st = LB_HTTP_EXT_START;
	for (size_t i = digits; i < len; i++)
		st = lb_http_chunk_ext_feed(st, c->line + i, 1);
	ck_assert_msg(lb_http_chunk_ext_end(st) == whole, "\"%s\" byte by byte",
	    c->line);
}
END_TEST

/* Once refused, the scanner stays refused. */
START_TEST(test_chunk_ext_refusal_is_final)
{
	int st = lb_http_chunk_ext_feed(LB_HTTP_EXT_START, "x", 1);

	ck_assert_int_eq(st, -1);
	ck_assert_int_eq(lb_http_chunk_ext_feed(st, ";a=b", 4), -1);
	ck_assert(!lb_http_chunk_ext_end(st));
	/* Nothing at all is a fine (empty) list of extensions. */
	ck_assert(lb_http_chunk_ext_end(LB_HTTP_EXT_START));
}
END_TEST

/* ------------------------------------------- lb_http_parse_content_length */

static const struct cl_case {
	const char *value;
	int	    rc;
	uint64_t    n;
} cl_cases[] = {
	{ "5", 0, 5 },
	{ "0", 0, 0 },
	{ "0005", 0, 5 },
	{ "5, 5", 0, 5 },
	{ "5,5,5", 0, 5 },
	{ " 5 ,\t5 ", 0, 5 },
	{ "18446744073709551609", 0, 18446744073709551609ULL },
	/* Refused. */
	{ "5, 6", -1, 0 },
	{ "5, 5, 6", -1, 0 },
	{ "+5", -1, 0 },
	{ "-5", -1, 0 },
	{ "", -1, 0 },
	{ " ", -1, 0 },
	{ ",", -1, 0 },
	{ "5,", -1, 0 },
	{ "5, ", -1, 0 },
	{ ",5", -1, 0 },
	{ "5,,5", -1, 0 },
	{ "5 5", -1, 0 },
	{ "5a", -1, 0 },
	{ "0x5", -1, 0 },
	{ "5.0", -1, 0 },
	{ "1e3", -1, 0 },
	{ "18446744073709551616", -1, 0 },
	{ "99999999999999999999999", -1, 0 },
	{ "5;5", -1, 0 },
};

START_TEST(test_content_length_table)
{
	const struct cl_case *c = &cl_cases[_i];
	uint64_t	      v = 12345;

	ck_assert_msg(lb_http_parse_content_length(c->value, strlen(c->value),
			  &v) == c->rc,
	    "\"%s\": want %d", c->value, c->rc);
	if (c->rc == 0)
		ck_assert_uint_eq(v, c->n);
	else
		ck_assert_uint_eq(v, 12345);
}
END_TEST

START_TEST(test_content_length_uses_len_not_nul)
{
	uint64_t v = 0;

	ck_assert_int_eq(lb_http_parse_content_length("56", 1, &v), 0);
	ck_assert_uint_eq(v, 5);
	ck_assert_int_eq(lb_http_parse_content_length("5\0", 2, &v), -1);
	ck_assert_int_eq(lb_http_parse_content_length("5", 0, &v), -1);
}
END_TEST

/* ------------------------------------------------------- header helpers */

START_TEST(test_is_token)
{
	ck_assert(lb_http_is_token("Content-Length", 14));
	ck_assert(lb_http_is_token("!#$%&'*+-.^_`|~", 15));
	ck_assert(lb_http_is_token("x", 1));
	ck_assert(lb_http_is_token("ab cd", 2)); /* LEN counts */
	ck_assert(!lb_http_is_token("", 0));
	ck_assert(!lb_http_is_token("x", 0));
	ck_assert(!lb_http_is_token("a b", 3));
	ck_assert(!lb_http_is_token("a:b", 3));
	ck_assert(!lb_http_is_token("a\0b", 3));
	ck_assert(!lb_http_is_token("a\r", 2));
	ck_assert(!lb_http_is_token("\xc3\xa9", 2));
	for (const char *p = "()<>@,;\\\"/[]?={}\t\x7f"; *p != '\0'; p++)
		ck_assert_msg(!lb_http_is_token(p, 1), "'%c' is a token", *p);
}
END_TEST

START_TEST(test_is_hop_by_hop)
{
	static const char *const hop[] = {
		"Connection",
		"connection",
		"KEEP-ALIVE",
		"Proxy-Connection",
		"Proxy-Authenticate",
		"proxy-authorization",
		"TE",
		"te",
		"Trailer",
		"Transfer-Encoding",
		"upgrade",
	};
	static const char *const end[] = {
		"Host",
		"Content-Length",
		"Trailers",
		"T",
		"TE2",
		"X-Upgrade",
		"Connection ",
		"",
		"Authorization",
		"Proxy",
	};

	for (size_t i = 0; i < NITEMS(hop); i++)
		ck_assert_msg(lb_http_is_hop_by_hop(hop[i]), "%s", hop[i]);
	for (size_t i = 0; i < NITEMS(end); i++)
		ck_assert_msg(!lb_http_is_hop_by_hop(end[i]), "%s", end[i]);
}
END_TEST

/* One list says what lbmaster does with each header it manages. */
START_TEST(test_managed_headers_say_how_they_are_managed)
{
	static const struct {
		const char *name;
		unsigned    flags;
	} cases[] = {
		{ "connection", LB_HTTP_HOP | LB_HTTP_FRAMING },
		{ "Keep-Alive", LB_HTTP_HOP | LB_HTTP_FRAMING },
		{ "Upgrade", LB_HTTP_HOP | LB_HTTP_FRAMING },
		{ "TRANSFER-ENCODING", LB_HTTP_HOP | LB_HTTP_FRAMING },
		{ "Proxy-Authorization", LB_HTTP_HOP },
		{ "Content-Length", LB_HTTP_FRAMING },
		{ "expect", LB_HTTP_FRAMING },
		{ "Host", LB_HTTP_OURS },
		{ "X-Forwarded-For", LB_HTTP_OURS },
		{ "x-forwarded-proto", LB_HTTP_OURS },
		{ "X-Forwarded-Host", LB_HTTP_OURS },
		{ "X-Forwarded-Port", 0 },
		{ "MyCustomHeader", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < NITEMS(cases); i++) {
		ck_assert_msg(lb_http_managed(cases[i].name) == cases[i].flags,
		    "%s: %#x", cases[i].name, lb_http_managed(cases[i].name));
		ck_assert(lb_http_is_hop_by_hop(cases[i].name) ==
		    ((cases[i].flags & LB_HTTP_HOP) != 0));
	}
	ck_assert_uint_eq(lb_http_managed_n("Hostile", 4), LB_HTTP_OURS);
}
END_TEST

/* A client never says its own mutual TLS subject: lbmaster does. */
START_TEST(test_client_cert_subject_is_ours)
{
	ck_assert_uint_eq(lb_http_managed("X-Client-Cert-Subject"),
	    LB_HTTP_OURS);
	ck_assert_uint_eq(lb_http_managed("x-client-cert-subject"),
	    LB_HTTP_OURS);
}
END_TEST

static const struct list_case {
	const char *value, *token;
	bool	    want;
} list_cases[] = {
	{ "keep-alive, Upgrade", "upgrade", true },
	{ "keep-alive, Upgrade", "KEEP-ALIVE", true },
	{ "close", "close", true },
	{ " close ", "close", true },
	{ "\tX-Foo\t,\tX-Bar\t", "x-bar", true },
	{ ",,a,,", "a", true },
	{ "a,b,c", "b", true },
	{ "keep-alive, Upgrade", "keep", false },
	{ "keep-alive, Upgrade", "alive", false },
	{ "keep-alive", "keep-alive2", false },
	{ "a b, c", "a", false },
	{ "", "close", false },
	{ ",", "close", false },
	{ "closed", "close", false },
};

START_TEST(test_list_has_table)
{
	const struct list_case *c = &list_cases[_i];

	ck_assert_msg(lb_http_list_has(c->value, c->token) == c->want,
	    "\"%s\" has \"%s\": want %d", c->value, c->token, c->want);
}
END_TEST

/*
 * The length-bounded forms read no byte past their lengths: the origin's
 * header fields they are given are not NUL-terminated.
 */
START_TEST(test_list_has_n_and_hop_by_hop_n_stop_at_their_lengths)
{
	static const char value[] = "keep-alive, closeX";
	static const char name[] = "Connection: close";

	ck_assert(lb_http_list_has_n(value, 10, "keep-alive", 10));
	ck_assert(!lb_http_list_has_n(value, 9, "keep-alive", 10));
	ck_assert(lb_http_list_has_n(value, sizeof(value) - 2, "close", 5));
	ck_assert(!lb_http_list_has_n(value, sizeof(value) - 1, "close", 5));
	ck_assert(lb_http_list_has_n(value, sizeof(value) - 2, "closeX", 5));
	ck_assert(!lb_http_list_has_n(value, 0, "keep-alive", 10));
	ck_assert(lb_http_is_hop_by_hop_n(name, 10));
	ck_assert(!lb_http_is_hop_by_hop_n(name, 11));
	ck_assert(!lb_http_is_hop_by_hop_n(name, 9));
	ck_assert(lb_http_is_hop_by_hop_n("TEXT", 2));
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("response");
	tcase_add_loop_test(tc, test_response_valid_heads, 0,
	    NITEMS(head_cases));
	tcase_add_test(tc, test_response_length_stops_at_blank_line);
	tcase_add_loop_test(tc, test_response_needs_more_at_every_prefix, 0,
	    NITEMS(head_cases));
	tcase_add_loop_test(tc, test_response_refused, 0, NITEMS(bad_cases));
	tcase_add_test(tc, test_response_garbage_refused_immediately);
	tcase_add_test(tc, test_response_too_many_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("framing");
	tcase_add_loop_test(tc, test_chunk_size_table, 0, NITEMS(chunk_cases));
	tcase_add_test(tc, test_chunk_size_uses_len_not_nul);
	tcase_add_loop_test(tc, test_chunk_ext_split_anywhere, 0,
	    NITEMS(chunk_cases));
	tcase_add_test(tc, test_chunk_ext_refusal_is_final);
	tcase_add_loop_test(tc, test_content_length_table, 0, NITEMS(cl_cases));
	tcase_add_test(tc, test_content_length_uses_len_not_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("headers");
	tcase_add_test(tc, test_is_token);
	tcase_add_test(tc, test_is_hop_by_hop);
	tcase_add_test(tc, test_managed_headers_say_how_they_are_managed);
	tcase_add_test(tc, test_client_cert_subject_is_ours);
	tcase_add_loop_test(tc, test_list_has_table, 0, NITEMS(list_cases));
	tcase_add_test(tc,
	    test_list_has_n_and_hop_by_hop_n_stop_at_their_lengths);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

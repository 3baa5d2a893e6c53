/*
 * util.h: small pure helpers shared by every module: time, identifier syntax,
 * UTF-8 validation, a growable byte buffer and JSON string escaping.
 */
#ifndef SLATE_UTIL_H
#define SLATE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in milliseconds since the epoch. */
int64_t slate_now_ms(void);
/* Monotonic time in milliseconds. */
uint64_t slate_mono_ms(void);
/* RFC 3339 UTC with seconds ("2026-12-04T19:40:00Z"); buf holds >= 21 bytes. */
#define SLATE_TIME_MAX 32
void slate_format_time(int64_t ms, char buf[SLATE_TIME_MAX]);
/* Parses RFC 3339 ("...Z" or "...+00:00", optional fraction) into ms since
 * the epoch; returns -1 when it does not parse. */
int slate_parse_time(const char *s, int64_t *ms);

/* Identifier syntax of PROTOCOL.md. */
bool slate_valid_id(const char *s, size_t n);       /* [A-Za-z0-9_.-]{1,64} */
bool slate_valid_job_id(const char *s, size_t n);   /* [A-Za-z0-9_.:-]{1,128} */
bool slate_valid_prefix(const char *s);             /* [A-Za-z0-9_.-]{1,32} */
bool slate_valid_utf8(const char *s, size_t n);

/* Strict decimal parse of a whole string; false on junk, sign or overflow. */
bool slate_parse_u64(const char *s, uint64_t *out);
bool slate_parse_i64(const char *s, int64_t *out);

/* A growable byte buffer, always NUL-terminated. */
struct slate_buf {
    char *data;
    size_t len;
    size_t cap;
};
void slate_buf_init(struct slate_buf *b);
void slate_buf_append(struct slate_buf *b, const void *p, size_t n);
void slate_buf_puts(struct slate_buf *b, const char *s);
void slate_buf_printf(struct slate_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends v in decimal (printf's %lld, without printf's cost on hot paths). */
void slate_buf_int(struct slate_buf *b, int64_t v);
/* Appends s as a JSON string literal, quotes included. */
void slate_buf_json_str(struct slate_buf *b, const char *s, size_t n);
void slate_buf_reset(struct slate_buf *b);
void slate_buf_free(struct slate_buf *b);
/* Hands the data to the caller (who frees it with slate_free). */
char *slate_buf_steal(struct slate_buf *b);

/* Uniform random number in [0, n) (for jitter), from a per-process PRNG. */
uint64_t slate_rand_below(uint64_t n);

#endif

/*
 * util.h: small pure helpers shared by every module: time, identifier syntax,
 * UTF-8 validation, a growable byte buffer and JSON string escaping.
 */
#ifndef SLATE_UTIL_H
#define SLATE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
/* Grows b so that n more bytes and the NUL fit (slate_buf_reserve's slow
 * path). */
void slate_buf_grow(struct slate_buf *b, size_t n);

/* Makes room for n more bytes and the NUL: after it, b->data + b->len may be
 * written up to n bytes directly (then bump len and write the NUL). */
static inline void slate_buf_reserve(struct slate_buf *b, size_t n)
{
    if (b->cap - b->len <= n)
        slate_buf_grow(b, n);
}

/* Inline, because the JSON writers append many small pieces: when they fit
 * (nearly always) it is a memcpy and a length bump, without a call. */
static inline void slate_buf_append(struct slate_buf *b, const void *p, size_t n)
{
    slate_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Inline so that strlen of a literal is folded at compile time. */
static inline void slate_buf_puts(struct slate_buf *b, const char *s)
{
    slate_buf_append(b, s, strlen(s));
}

void slate_buf_printf(struct slate_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends v in decimal (printf's %lld, without printf's cost on hot paths). */
void slate_buf_int(struct slate_buf *b, int64_t v);
/* Appends s as a JSON string literal, quotes included.  Bytes >= 0x80 are
 * copied as they are. */
void slate_buf_json_str(struct slate_buf *b, const char *s, size_t n);
/* The same, for text that may not be valid UTF-8: every byte that does not
 * begin a valid UTF-8 sequence (slate_valid_utf8's rules) is written as
 * U+FFFD, checked in the same pass as the escaping.  For s without NUL bytes
 * that is what slate_valid_utf8, then slate_buf_json_str of s or of s with
 * those bytes replaced, gave; a NUL is written as \u0000. */
void slate_buf_json_text(struct slate_buf *b, const char *s, size_t n);
void slate_buf_reset(struct slate_buf *b);
void slate_buf_free(struct slate_buf *b);
/* Hands the data to the caller (who frees it with slate_free). */
char *slate_buf_steal(struct slate_buf *b);

/* Uniform random number in [0, n) (for jitter), from a per-process PRNG. */
uint64_t slate_rand_below(uint64_t n);

#endif

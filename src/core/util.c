/* util.c: time, identifier syntax, UTF-8, numbers, buffers (see util.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "slate/alloc.h"
#include "slate/util.h"

int64_t slate_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t slate_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void slate_format_time(int64_t ms, char buf[SLATE_TIME_MAX])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, SLATE_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int slate_parse_time(const char *s, int64_t *ms)
{
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm) */
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return -1;
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            frac_ms *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (strlen(p) != 6 || p[3] != ':')
            return -1;
        int oh = digits(p + 1, 2), om = digits(p + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    /* Days from civil (Howard Hinnant's algorithm), no timegm/TZ needed. */
    int yy = y - (mo <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    unsigned yoe = (unsigned)(yy - era * 400);
    unsigned doy = (unsigned)((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + (int64_t)doe - 719468;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (int64_t)off * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

static bool id_chars(const char *s, size_t n, size_t max, bool colon)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-' || (colon && c == ':'))
            continue;
        return false;
    }
    return true;
}

bool slate_valid_id(const char *s, size_t n)
{
    return id_chars(s, n, 64, false);
}

bool slate_valid_job_id(const char *s, size_t n)
{
    return id_chars(s, n, 128, true);
}

bool slate_valid_prefix(const char *s)
{
    return id_chars(s, strlen(s), 32, false);
}

/* The length of the valid UTF-8 sequence that begins at s[0] (>= 0x80), or
 * 0 if none does (a bad lead byte, a truncated sequence, an overlong form, a
 * surrogate or more than U+10FFFF).  The one place of the rules: both
 * slate_valid_utf8 and the JSON text writer go through it. */
static inline size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        min = 0x80;
        c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        min = 0x800;
        c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (len > avail)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return len;
}

bool slate_valid_utf8(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    /* ASCII 8 bytes at a time while 8 are left, then byte by byte. */
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (!(w & 0x8080808080808080ULL)) {
            i += 8;
            continue;
        }
        for (size_t stop = i + 8; i < stop;) {
            size_t len = s[i] < 0x80 ? 1 : utf8_seq(s + i, n - i);
            if (!len)
                return false;
            i += len;
        }
    }
    while (i < n) {
        size_t len = s[i] < 0x80 ? 1 : utf8_seq(s + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

bool slate_parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool slate_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    const char *p = s[0] == '-' ? s + 1 : s;
    if (*p < '0' || *p > '9')
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

void slate_buf_init(struct slate_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void slate_buf_grow(struct slate_buf *b, size_t n)
{
    size_t need = n < SIZE_MAX - b->len ? b->len + n + 1 : SIZE_MAX; /* SIZE_MAX: oom */
    b->data = slate_grow(b->data, &b->cap, need, 1);
}

void slate_buf_printf(struct slate_buf *b, const char *fmt, ...)
{
    /* Formatted once when it fits in the room left (nearly always), twice
     * when the buffer must grow first. */
    va_list ap;
    slate_buf_reserve(b, 0);
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        slate_buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void slate_buf_int(struct slate_buf *b, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    char *p = tmp + sizeof tmp;
    /* Negate as unsigned so that INT64_MIN works; two digits per division. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        p -= 2;
        memcpy(p, pairs + d, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + u * 2, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    slate_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

/*
 * JSON strings.  Most text is printable ASCII, which is copied 8 bytes at a
 * time after one test of the whole word; other bytes go one at a time
 * through json_byte_class.  Room: the string's length plus its quotes is
 * reserved first; an escape or a U+FFFD writes more bytes than it reads, so
 * it makes room for the rest again (rare, so cheap).
 */
enum { JSON_COPY, JSON_ESCAPE, JSON_HIGH };

#define JSON_ROW(k) k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k
static const unsigned char json_byte_class[256] = {
    JSON_ROW(JSON_ESCAPE), JSON_ROW(JSON_ESCAPE),             /* 0x00-0x1f */
    JSON_COPY, JSON_COPY, JSON_ESCAPE, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY,
    JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY,
    JSON_COPY, JSON_COPY,                                     /* 0x20-0x2f: '"' */
    JSON_ROW(JSON_COPY), JSON_ROW(JSON_COPY),                 /* 0x30-0x4f */
    JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY,
    JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_COPY, JSON_ESCAPE, JSON_COPY,
    JSON_COPY, JSON_COPY,                                     /* 0x50-0x5f: '\\' */
    JSON_ROW(JSON_COPY), JSON_ROW(JSON_COPY),                 /* 0x60-0x7f */
    JSON_ROW(JSON_HIGH), JSON_ROW(JSON_HIGH), JSON_ROW(JSON_HIGH), JSON_ROW(JSON_HIGH),
    JSON_ROW(JSON_HIGH), JSON_ROW(JSON_HIGH), JSON_ROW(JSON_HIGH), JSON_ROW(JSON_HIGH),
};
#undef JSON_ROW

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether none of the 8 bytes of w needs a look of its own: no control
 * character, '"' or '\\' and, if high counts, no byte >= 0x80.  These are
 * the zero-byte tests of "Bit Twiddling Hacks" (exact for "is there one");
 * when high bytes count, ORing w in makes the ~w masks unnecessary: with no
 * byte >= 0x80 a subtraction sets a byte's top bit only when that byte (or
 * one below it, already caught) is too small. */
static inline bool json_word_plain(uint64_t w, bool high)
{
    uint64_t q = w ^ (ONES * '"'), bs = w ^ (ONES * '\\');
    if (high)
        return ((w | (w - ONES * 0x20) | (q - ONES) | (bs - ONES)) & HIGHS) == 0;
    return ((((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs)) & HIGHS) == 0;
}

/* Writes the escape of c (< 0x20, '"' or '\\') at o; returns its length. */
static inline size_t json_escape(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    o[0] = '\\';
    switch (c) {
    case '"': o[1] = '"'; return 2;
    case '\\': o[1] = '\\'; return 2;
    case '\n': o[1] = 'n'; return 2;
    case '\r': o[1] = 'r'; return 2;
    case '\t': o[1] = 't'; return 2;
    default:
        o[1] = 'u';
        o[2] = '0';
        o[3] = '0';
        o[4] = hex[c >> 4];
        o[5] = hex[c & 15];
        return 6;
    }
}

/* The rest of a JSON string, s[i..n), from the first word that is not all
 * plain bytes on, and the closing quote: words while they are plain, bytes
 * one at a time through json_byte_class otherwise.  o is where the output
 * is; room for n - i bytes, '"' and the NUL is there. */
__attribute__((noinline)) static void json_string_slow(struct slate_buf *b, char *o,
                                                      const unsigned char *s, size_t i,
                                                      size_t n, bool clean)
{
    while (i < n) {
        size_t stop = n;
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (json_word_plain(w, clean)) {
                memcpy(o, &w, 8);
                o += 8;
                i += 8;
                continue;
            }
            stop = i + 8;
        }
        while (i < stop) {
            unsigned char c = s[i];
            unsigned k = json_byte_class[c];
            if (k == JSON_COPY || (k == JSON_HIGH && !clean)) {
                *o++ = (char)c;
                i++;
                continue;
            }
            if (k == JSON_HIGH) {
                size_t len = utf8_seq(s + i, n - i);
                if (len) {
                    memcpy(o, s + i, len);
                    o += len;
                    i += len;
                    continue;
                }
            }
            /* Up to 6 bytes for this one, then 1 per byte left and '"'. */
            b->len = (size_t)(o - b->data);
            slate_buf_reserve(b, n - i + 6);
            o = b->data + b->len;
            if (k == JSON_ESCAPE) {
                o += json_escape(o, c);
            } else {
                memcpy(o, "\xef\xbf\xbd", 3);
                o += 3;
            }
            i++;
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->data);
}

/* Both JSON string writers; clean (a constant) says whether bytes >= 0x80
 * are checked as UTF-8.  Inline, the fast path only: a string of plain
 * bytes, tested 8 at a time, the tail of fewer than 8 as one word too (the
 * last 8 bytes of the string when it has 8: if they are all plain, those
 * before the tail were copied as they are and are written again, unchanged;
 * two overlapping 4-byte halves when it has 4 to 7).  The first word that
 * is not all plain hands the rest to json_string_slow, out of line so
 * that the fast path needs few registers. */
__attribute__((always_inline)) static inline void json_string(struct slate_buf *b,
                                                              const char *str, size_t n,
                                                              bool clean)
{
    const unsigned char *s = (const unsigned char *)str;
    slate_buf_reserve(b, n + 2);
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; n - i >= 8; i += 8, o += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (!json_word_plain(w, clean)) {
            json_string_slow(b, o, s, i, n, clean);
            return;
        }
        memcpy(o, &w, 8);
    }
    size_t left = n - i;
    if (n >= 8 && left) {
        uint64_t w;
        memcpy(&w, s + n - 8, 8);
        if (!json_word_plain(w, clean)) {
            json_string_slow(b, o, s, i, n, clean);
            return;
        }
        memcpy(o + left - 8, &w, 8);
    } else if (left >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        if (!json_word_plain(lo | (uint64_t)hi << 32, clean)) {
            json_string_slow(b, o, s, i, n, clean);
            return;
        }
        memcpy(o, &lo, 4);
        memcpy(o + left - 4, &hi, 4);
    } else if (left) {
        json_string_slow(b, o, s, i, n, clean);
        return;
    }
    o += left;
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->data);
}

void slate_buf_json_str(struct slate_buf *b, const char *s, size_t n)
{
    json_string(b, s, n, false);
}

void slate_buf_json_text(struct slate_buf *b, const char *s, size_t n)
{
    json_string(b, s, n, true);
}

void slate_buf_reset(struct slate_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void slate_buf_free(struct slate_buf *b)
{
    slate_free(b->data);
    slate_buf_init(b);
}

char *slate_buf_steal(struct slate_buf *b)
{
    char *p = b->data ? b->data : slate_strdup("");
    slate_buf_init(b);
    return p;
}

/* xorshift64*, seeded from getrandom; jitter needs spread, not secrecy. */
static uint64_t rng_state;

uint64_t slate_rand_below(uint64_t n)
{
    if (n == 0)
        return 0;
    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state)
            rng_state = (uint64_t)slate_mono_ms() | 1;
    }
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (rng_state * 2685821657736338717ULL) % n;
}

/*
 * argv.c: Redis commands built one argument at a time (see jobs_int.h).
 *
 * Arguments the argv owns are written into one growing buffer (text), one
 * after the other, each followed by a NUL, instead of one allocation each: a
 * page of 50 servers is 100+ arguments.  Their addresses are resolved only
 * when the command is sent, since the buffer moves as it grows.
 *
 * Commands are built and sent one at a time on the loop's one thread, so the
 * buffer of the last one freed is kept and reused by the next (up to
 * SPARE_MAX): a page's buffer would otherwise grow from nothing by doubling,
 * a dozen reallocs and copies, for every page.
 */
#include <stdint.h>
#include <string.h>

#include "jobs_int.h"
#include "slate/alloc.h"

#define BORROWED SIZE_MAX
#define SPARE_MAX (1u << 20)

static struct slate_buf spare;

static void push(struct slate_argv *a, const char *s, size_t off, size_t n)
{
    size_t cap = a->cap;
    a->v = slate_grow(a->v, &cap, a->n + 1, sizeof *a->v);
    cap = a->cap;
    a->off = slate_grow(a->off, &cap, a->n + 1, sizeof *a->off);
    a->len = slate_grow(a->len, &a->cap, a->n + 1, sizeof *a->len);
    a->v[a->n] = s;
    a->off[a->n] = off;
    a->len[a->n++] = n;
}

void slate_argv_add(struct slate_argv *a, const char *s, size_t n)
{
    push(a, s, BORROWED, n);
}

void slate_argv_str(struct slate_argv *a, const char *s)
{
    push(a, s, BORROWED, strlen(s));
}

struct slate_buf *slate_argv_open(struct slate_argv *a)
{
    if (!a->text.data && spare.data && !a->kept) {
        a->text = spare;
        slate_buf_init(&spare);
        slate_buf_reset(&a->text);
    }
    a->open_at = a->text.len;
    return &a->text;
}

void slate_argv_close(struct slate_argv *a)
{
    size_t at = a->open_at;
    size_t n = a->text.len - at;
    slate_buf_append(&a->text, "", 1);
    push(a, NULL, at, n);
}

void slate_argv_copy(struct slate_argv *a, const char *s, size_t n)
{
    slate_buf_append(slate_argv_open(a), s, n);
    slate_argv_close(a);
}

void slate_argv_extend(struct slate_argv *a, const struct slate_argv *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const char *p = src->off[i] != BORROWED ? src->text.data + src->off[i] : src->v[i];
        push(a, p, BORROWED, src->len[i]);
    }
}

size_t slate_argv_bytes(const struct slate_argv *a)
{
    return a->text.cap + a->cap * (sizeof *a->v + sizeof *a->off + sizeof *a->len);
}

void slate_argv_own(struct slate_argv *a, char *s)
{
    a->owned = slate_grow(a->owned, &a->cap_owned, a->n_owned + 1, sizeof *a->owned);
    a->owned[a->n_owned++] = s;
    slate_argv_str(a, s);
}

void slate_argv_int(struct slate_argv *a, long long v)
{
    slate_buf_int(slate_argv_open(a), v);
    slate_argv_close(a);
}

void slate_argv_set_count(struct slate_argv *a, size_t at, size_t count)
{
    struct slate_buf *b = slate_argv_open(a);
    size_t start = b->len;
    slate_buf_int(b, (int64_t)count);
    a->off[at] = start;
    a->len[at] = b->len - start;
    slate_buf_append(b, "", 1);
}

void slate_argv_free(struct slate_argv *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        slate_free(a->owned[i]);
    slate_free(a->owned);
    slate_free(a->v);
    slate_free(a->off);
    slate_free(a->len);
    if (!a->kept && a->text.cap <= SPARE_MAX && a->text.cap > spare.cap) {
        slate_buf_free(&spare);
        spare = a->text;
    } else {
        slate_buf_free(&a->text);
    }
    bool kept = a->kept;
    memset(a, 0, sizeof *a);
    a->kept = kept;
}

int slate_argv_send(struct slate_redis *r, int64_t timeout, struct slate_argv *a,
                    slate_redis_cb *cb, void *ud)
{
    if (!r)
        return -1;
    for (size_t i = 0; i < a->n; i++) {
        if (a->off[i] != BORROWED)
            a->v[i] = a->text.data + a->off[i];
    }
    return slate_redis_cmd(r, timeout, cb, ud, (int)a->n, a->v, a->len);
}

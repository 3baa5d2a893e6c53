/*
 * alloc.c: allocation wrappers that abort on failure (see alloc.h), and the
 * arena that parsed records live in.
 *
 * Arena blocks start at 1 KiB and double up to 16 KiB; a request larger
 * than a quarter block gets a block of its own so that big strings do not
 * waste the rest.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slate/alloc.h"

static void oom(size_t n)
{
    /* No allocation from here on: write(2) a fixed line and abort. */
    char line[128];
    int len = snprintf(line, sizeof line,
                       "{\"level\":\"error\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
    if (len > 0)
        (void)!write(2, line, (size_t)len);
    abort();
}

void slate_alloc_tune(void)
{
    /* glibc raises its mmap threshold to the size of each large block freed,
     * so that after the first big command buffers come from the heap, which
     * then keeps the high-water mark of every burst (fragmented, it cannot
     * give it back).  A fixed threshold keeps the buffers past 128 KiB (a
     * page's command, hiredis's output) mmapped and returned when freed:
     * with 512 jobs in flight, peak RSS 45-48 MiB instead of 54-63 MiB. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

void *slate_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *slate_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *slate_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

void *slate_grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            oom(SIZE_MAX);
        ncap *= 2;
    }
    if (size && ncap > SIZE_MAX / size)
        oom(SIZE_MAX);
    p = slate_realloc(p, ncap * size);
    *cap = ncap;
    return p;
}

char *slate_strndup(const char *s, size_t n)
{
    char *p = slate_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *slate_strdup(const char *s)
{
    return slate_strndup(s, strlen(s));
}

char *slate_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    char *p = slate_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void slate_free(void *p)
{
    free(p);
}

/* Blocks start small and double up to ARENA_BLOCK: a job keeps the arenas
 * of its keys and firewalls pages for its whole life, and most of those
 * pages are a few KiB, while a page of servers fills several full blocks. */
#define ARENA_FIRST 1024
#define ARENA_BLOCK 16384

struct slate_arena_block {
    struct slate_arena_block *next;
    size_t size;
    _Alignas(max_align_t) unsigned char data[];
};

void slate_arena_init(struct slate_arena *a)
{
    a->head = NULL;
    a->used = 0;
    a->total = 0;
}

void *slate_arena_alloc(struct slate_arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    a->total += n;
    if (n > ARENA_BLOCK / 4) {
        /* A block of its own, linked behind the head so the head stays in use. */
        struct slate_arena_block *b = slate_malloc(sizeof *b + n);
        b->size = n;
        if (a->head) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = NULL;
            a->head = b;
            a->used = n;
        }
        return b->data;
    }
    if (!a->head || a->head->size - a->used < n) {
        size_t size = a->head ? a->head->size * 2 : ARENA_FIRST;
        if (size > ARENA_BLOCK)
            size = ARENA_BLOCK;
        while (size < n)
            size *= 2;
        struct slate_arena_block *b = slate_malloc(sizeof *b + size);
        b->size = size;
        b->next = a->head;
        a->head = b;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    return p;
}

char *slate_arena_strndup(struct slate_arena *a, const char *s, size_t n)
{
    char *p = slate_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *slate_arena_strdup(struct slate_arena *a, const char *s)
{
    return slate_arena_strndup(a, s, strlen(s));
}

void slate_arena_free(struct slate_arena *a)
{
    struct slate_arena_block *b = a->head;
    while (b) {
        struct slate_arena_block *next = b->next;
        free(b);
        b = next;
    }
    slate_arena_init(a);
}

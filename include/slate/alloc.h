/*
 * alloc.h: allocation failure is decided once, here.
 *
 * A daemon that cannot allocate a few hundred bytes cannot do anything useful
 * or even report it reliably, so these wrappers log and abort instead of
 * sprinkling NULL checks through every module.  Tests can install a hook that
 * is called before each allocation and may make it fail (returning true).
 */
#ifndef SLATE_ALLOC_H
#define SLATE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *slate_malloc(size_t n);
void *slate_calloc(size_t count, size_t size);
void *slate_realloc(void *p, size_t n);
/* Grows an array to hold at least `need` elements of `size` bytes, doubling;
 * *cap is updated.  Aborts on overflow. */
void *slate_grow(void *p, size_t *cap, size_t need, size_t size);
char *slate_strdup(const char *s);
char *slate_strndup(const char *s, size_t n);
char *slate_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void slate_free(void *p);
/* Tunes the C library's allocator for a long-running worker (once, at start):
 * see alloc.c. */
void slate_alloc_tune(void);

/* An arena: many small allocations freed together (a page of parsed
 * records).  Zero-initialise or call slate_arena_init. */
struct slate_arena_block;
struct slate_arena {
    struct slate_arena_block *head;
    size_t used;      /* bytes used in head */
    size_t total;     /* bytes handed out, for accounting */
};

void slate_arena_init(struct slate_arena *a);
void *slate_arena_alloc(struct slate_arena *a, size_t n);
/* Copies n bytes and a terminating NUL; s may hold NULs (they are copied). */
char *slate_arena_strndup(struct slate_arena *a, const char *s, size_t n);
char *slate_arena_strdup(struct slate_arena *a, const char *s);
void slate_arena_free(struct slate_arena *a);

#endif

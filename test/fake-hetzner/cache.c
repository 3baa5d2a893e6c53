/*
 * cache.c - rendered JSON of generated items, kept for later requests.
 *
 * A generated item is a pure function of (spec, version, index) and the
 * spec never changes after start-up, so its rendering can be kept: a list
 * page becomes a few memcpy calls instead of 50 renderings.  The version is
 * part of the key (a request uses the version it snapshotted under p->mu),
 * so switching it at run time can never serve the other version's bytes.
 *
 * Layout: per project, version and resource, an array of chunk pointers,
 * one per CHUNK_ITEMS items (allocated at load).  A chunk is built on first
 * use, without a lock, and published by compare-and-swap (the loser of a
 * race frees its copy); readers load it with acquire order.  Chunks live
 * until the project is freed.  A chunk holds its items each followed by a
 * comma, so a run of items inside one chunk is one memcpy.
 *
 * Memory: all projects together cache at most CACHE_BUDGET bytes of JSON
 * (a 5,000-server project is about 9 MB per version); beyond it items are
 * rendered on every request, as without the cache.  The bytes are the same
 * either way: a chunk is made by gen_render.
 */
#include "fake.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_ITEMS 64
#define CACHE_BUDGET ((size_t)512 << 20)

struct chunk {
    size_t n;                       /* items in this chunk */
    size_t off[CHUNK_ITEMS + 1];    /* item k: text[off[k], off[k+1] - 1) */
    char *text;                     /* "item," per item */
};

struct gen_cache {
    _Atomic(struct chunk *) *slot[2][RES__COUNT];
    size_t nslots[2][RES__COUNT];
    size_t count[2][RES__COUNT];    /* items */
};

static atomic_size_t cached_bytes;

/* Index of a version in the arrays (gen.c treats anything but 1 as 2). */
static int vix(int version)
{
    return version == 1 ? 0 : 1;
}

int cache_init(struct project *p)
{
    struct gen_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    p->cache = c;
    for (int v = 0; v < 2; v++) {
        for (int r = 0; r < RES__COUNT; r++) {
            size_t n = gen_count(&p->gen, v + 1, (enum resource)r);
            size_t ns = (n + CHUNK_ITEMS - 1) / CHUNK_ITEMS;
            c->count[v][r] = n;
            c->nslots[v][r] = ns;
            c->slot[v][r] = malloc((ns > 0 ? ns : 1) * sizeof *c->slot[v][r]);
            if (c->slot[v][r] == NULL)
                return -1;          /* cache_free cleans up */
            for (size_t s = 0; s < ns; s++)
                atomic_init(&c->slot[v][r][s], NULL);
        }
    }
    return 0;
}

static void chunk_free(struct chunk *ch)
{
    if (ch != NULL) {
        free(ch->text);
        free(ch);
    }
}

void cache_free(struct project *p)
{
    struct gen_cache *c = p->cache;
    if (c == NULL)
        return;
    for (int v = 0; v < 2; v++) {
        for (int r = 0; r < RES__COUNT; r++) {
            if (c->slot[v][r] == NULL)
                continue;
            for (size_t s = 0; s < c->nslots[v][r]; s++) {
                struct chunk *ch = atomic_load(&c->slot[v][r][s]);
                if (ch != NULL) {
                    atomic_fetch_sub(&cached_bytes, ch->off[ch->n]);
                    chunk_free(ch);
                }
            }
            free(c->slot[v][r]);
        }
    }
    free(c);
    p->cache = NULL;
}

/* Renders chunk s; NULL when out of memory or over the budget. */
static struct chunk *chunk_build(const struct project *p, int version,
                                 enum resource r, size_t s)
{
    const struct gen_cache *c = p->cache;
    if (atomic_load_explicit(&cached_bytes, memory_order_relaxed) >= CACHE_BUDGET)
        return NULL;
    struct chunk *ch = malloc(sizeof *ch);
    if (ch == NULL)
        return NULL;
    size_t first = s * CHUNK_ITEMS;
    size_t end = first + CHUNK_ITEMS;
    if (end > c->count[vix(version)][r])
        end = c->count[vix(version)][r];
    ch->n = end - first;
    struct buf b;
    buf_init(&b);
    for (size_t k = 0; k < ch->n; k++) {
        ch->off[k] = b.len;
        gen_render(p, version, r, first + k, &b);
        buf_chr(&b, ',');
    }
    ch->off[ch->n] = b.len;
    size_t len;
    ch->text = buf_take(&b, &len);
    if (ch->text == NULL) {
        free(ch);
        return NULL;
    }
    if (atomic_fetch_add(&cached_bytes, len) + len > CACHE_BUDGET) {
        atomic_fetch_sub(&cached_bytes, len);
        chunk_free(ch);
        return NULL;
    }
    return ch;
}

/* The chunk holding items from s * CHUNK_ITEMS, built if needed; NULL when
 * it cannot be cached. */
static const struct chunk *chunk_get(const struct project *p, int version,
                                     enum resource r, size_t s)
{
    _Atomic(struct chunk *) *slot = &p->cache->slot[vix(version)][r][s];
    struct chunk *ch = atomic_load_explicit(slot, memory_order_acquire);
    if (ch != NULL)
        return ch;
    ch = chunk_build(p, version, r, s);
    if (ch == NULL)
        return NULL;
    struct chunk *seen = NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &seen, ch,
                                                memory_order_acq_rel,
                                                memory_order_acquire))
        return ch;
    atomic_fetch_sub(&cached_bytes, ch->off[ch->n]);
    chunk_free(ch);
    return seen;
}

void cache_render_range(const struct project *p, int version, enum resource r,
                        size_t from, size_t n, struct buf *b)
{
    const struct gen_cache *c = p->cache;
    size_t count = c->count[vix(version)][r];
    if (from >= count || n == 0)
        return;
    if (n > count - from)
        n = count - from;
    size_t end = from + n;
    size_t s0 = from / CHUNK_ITEMS, s1 = (end - 1) / CHUNK_ITEMS;

    /* Pass 1: the chunks (built now if needed) and the bytes they give. */
    size_t need = 0;
    for (size_t s = s0; s <= s1; s++) {
        const struct chunk *ch = chunk_get(p, version, r, s);
        if (ch == NULL)
            continue;
        size_t a = s == s0 ? from % CHUNK_ITEMS : 0;
        size_t e = s == s1 ? end - s * CHUNK_ITEMS : ch->n;
        need += ch->off[e] - ch->off[a];
    }
    buf_reserve(b, need + 256);     /* and the pagination after it */

    /* Pass 2: items a..e-1 of each chunk and the commas between them are
     * one run of bytes; an uncacheable chunk is rendered item by item. */
    for (size_t s = s0; s <= s1; s++) {
        size_t a = s == s0 ? from % CHUNK_ITEMS : 0;
        size_t e = s == s1 ? end - s * CHUNK_ITEMS : CHUNK_ITEMS;
        if (s > s0)
            buf_chr(b, ',');
        const struct chunk *ch =
            atomic_load_explicit(&c->slot[vix(version)][r][s], memory_order_acquire);
        if (ch != NULL) {
            buf_mem(b, ch->text + ch->off[a], ch->off[e] - ch->off[a] - 1);
            continue;
        }
        for (size_t k = a; k < e; k++) {
            if (k > a)
                buf_chr(b, ',');
            gen_render(p, version, r, s * CHUNK_ITEMS + k, b);
        }
    }
}

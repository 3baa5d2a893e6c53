/*
 * common.c: small helpers the files of src/hetzner/ share (hetzner_int.h):
 * yajl allocation through slate_malloc, strict integers, text cleaning,
 * canonical label and id order, and the collection names.
 */
#include <stdlib.h>
#include <string.h>

#include "hetzner_int.h"
#include "slate/alloc.h"

static void *yajl_malloc_cb(void *ctx, size_t n)
{
    (void)ctx;
    return slate_malloc(n);
}

static void *yajl_realloc_cb(void *ctx, void *ptr, size_t n)
{
    (void)ctx;
    return slate_realloc(ptr, n);
}

static void yajl_free_cb(void *ctx, void *ptr)
{
    (void)ctx;
    slate_free(ptr);
}

yajl_alloc_funcs slate_hz_yajl_alloc = {yajl_malloc_cb, yajl_realloc_cb, yajl_free_cb, NULL};

bool slate_hz_parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return true;
}

static bool text_clean(const char *s, size_t n)
{
    return !memchr(s, '\0', n) && slate_valid_utf8(s, n);
}

void slate_hz_append_clean(struct slate_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c == 0      ? 0
                     : c < 0x80  ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len && i + len <= n && slate_valid_utf8(s + i, len)) {
            slate_buf_append(b, s + i, len);
            i += len;
        } else {
            slate_buf_append(b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

char *slate_hz_arena_text(struct slate_arena *a, const char *s, size_t n)
{
    if (text_clean(s, n))
        return slate_arena_strndup(a, s, n);
    struct slate_buf b;
    slate_buf_init(&b);
    slate_hz_append_clean(&b, s, n);
    char *out = slate_arena_strndup(a, b.data, b.len);
    slate_buf_free(&b);
    return out;
}

static int label_cmp(const struct slate_hz_label *x, const struct slate_hz_label *y)
{
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int label_qsort_cmp(const void *a, const void *b)
{
    return label_cmp(a, b);
}

size_t slate_hz_labels_canonical(struct slate_hz_label *v, size_t n)
{
    if (n < 2)
        return n;
    /* The handful of labels a record has by an insertion sort (qsort's
     * setup and indirect calls cost more than the sort here).  The order is
     * total (seq is unique), so either sort gives the same result. */
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            struct slate_hz_label x = v[i];
            size_t j = i;
            for (; j > 0 && label_cmp(&v[j - 1], &x) > 0; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    } else {
        qsort(v, n, sizeof *v, label_qsort_cmp);
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        /* Of a run of equal keys keep the last (highest seq); most keys
         * differ in their first byte. */
        if (i + 1 < n && v[i].key[0] == v[i + 1].key[0] && strcmp(v[i].key, v[i + 1].key) == 0)
            continue;
        v[out++] = v[i];
    }
    return out;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

size_t slate_hz_ids_sort_unique(int64_t *ids, size_t n)
{
    if (n < 2)
        return n;
    qsort(ids, n, sizeof *ids, id_cmp);
    size_t out = 1;
    for (size_t i = 1; i < n; i++) {
        if (ids[i] != ids[out - 1])
            ids[out++] = ids[i];
    }
    return out;
}

const char *slate_collection_name(enum slate_collection c)
{
    switch (c) {
    case SLATE_COLL_SERVERS: return "servers";
    case SLATE_COLL_SSH_KEYS: return "ssh_keys";
    case SLATE_COLL_FIREWALLS: return "firewalls";
    }
    return "unknown";
}

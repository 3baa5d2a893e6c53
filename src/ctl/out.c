/*
 * out.c: what slatectl prints.
 *
 * Everything shown comes from Redis, where people, a web tier and the
 * Hetzner API (server names, error sentences) put it, so text for a terminal
 * is made safe first: control characters and invalid UTF-8 become '?'.  JSON
 * output is always valid JSON for the same reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "slate/alloc.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n || !slate_valid_utf8(s, len))
        return 0;
    return len;
}

void ctl_buf_text(struct slate_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = utf8_seq(s + i, n - i);
        /* C0 controls, DEL, and the C1 controls (U+0080..U+009F, which some
         * terminals obey as escape sequences). */
        bool control = c < 0x20 || c == 0x7f || (c == 0xc2 && len == 2 &&
                                                  (unsigned char)s[i + 1] < 0xa0);
        if (len == 0 || control) {
            slate_buf_append(b, "?", 1);
            i += len ? len : 1;
            continue;
        }
        slate_buf_append(b, s + i, len);
        i += len;
    }
}

void ctl_buf_json(struct slate_buf *b, const char *s)
{
    /* Invalid UTF-8 becomes U+FFFD, byte by byte. */
    slate_buf_json_text(b, s, strlen(s));
}

void ctl_format_age(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        ms = 0;
    if (ms < 10000)
        snprintf(out, n, "%lld.%lld s", (long long)(ms / 1000), (long long)(ms % 1000 / 100));
    else if (ms < 120000)
        snprintf(out, n, "%lld s", (long long)(ms / 1000));
    else if (ms < 2 * 3600000LL)
        snprintf(out, n, "%lld min", (long long)(ms / 60000));
    else if (ms < 2 * 86400000LL)
        snprintf(out, n, "%lld h", (long long)(ms / 3600000));
    else
        snprintf(out, n, "%lld d", (long long)(ms / 86400000));
}

/* ---- tables ---- */

/* Display width of a string already made safe: one column per code point. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

void ctl_table_init(struct ctl_table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->width = slate_calloc(ncols, sizeof *t->width);
}

void ctl_table_row(struct ctl_table *t, const char *const *cells)
{
    t->cells = slate_grow(t->cells, &t->cap, (t->nrows + 1) * t->ncols, sizeof *t->cells);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *v = cells[i] ? cells[i] : "-";
        struct slate_buf b;
        slate_buf_init(&b);
        ctl_buf_text(&b, v, strlen(v));
        char *cell = b.data ? slate_buf_steal(&b) : slate_strdup("");
        size_t w = text_width(cell);
        if (w > t->width[i])
            t->width[i] = w;
        t->cells[t->nrows * t->ncols + i] = cell;
    }
    t->nrows++;
}

void ctl_table_render(const struct ctl_table *t, const char *indent, struct slate_buf *b)
{
    for (size_t r = 0; r < t->nrows; r++) {
        slate_buf_puts(b, indent);
        for (size_t i = 0; i < t->ncols; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            slate_buf_puts(b, cell);
            if (i + 1 < t->ncols) {
                size_t pad = t->width[i] - text_width(cell) + 2;
                for (size_t k = 0; k < pad; k++)
                    slate_buf_append(b, " ", 1);
            }
        }
        /* Empty last columns leave no trailing blanks. */
        while (b->len > 0 && b->data[b->len - 1] == ' ')
            b->data[--b->len] = '\0';
        slate_buf_puts(b, "\n");
    }
}

void ctl_table_free(struct ctl_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        slate_free(t->cells[i]);
    slate_free(t->cells);
    slate_free(t->width);
    memset(t, 0, sizeof *t);
}

/* ---- JSON input ---- */

yajl_val ctl_json_get(yajl_val obj, const char *key)
{
    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    }
    return NULL;
}

const char *ctl_json_str(yajl_val obj, const char *key)
{
    yajl_val v = ctl_json_get(obj, key);
    return YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

long long ctl_json_int(yajl_val obj, const char *key, long long def)
{
    yajl_val v = ctl_json_get(obj, key);
    return YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : def;
}

yajl_val ctl_json_parse(const char *text)
{
    char err[128];
    return yajl_tree_parse(text, err, sizeof err);
}

void ctl_flush(const struct slate_buf *b)
{
    if (b->len)
        fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
}

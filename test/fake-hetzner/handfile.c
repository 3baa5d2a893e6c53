/*
 * handfile.c - hand-written data sets.
 *
 * A file holds {"servers":[...],"ssh_keys":[...],"firewalls":[...]} (each
 * key optional) with items in API shape.  Each item is parsed once with
 * yajl_tree and re-serialised compactly with yajl_gen, keeping key order and
 * number spelling, so the fake serves the file's items as written, in file
 * order.  Each item must be an object with an integer "id"; its "name" and
 * string-valued "labels" are kept for the name= and label_selector= filters.
 */
#include "fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define MAX_FILE (64 * 1024 * 1024)

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    struct buf b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_mem(&b, chunk, n);
        if (b.len > MAX_FILE) {
            snprintf(err, errlen, "%s is larger than 64 MB", path);
            fclose(f);
            buf_free(&b);
            return NULL;
        }
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0)
        bad = true;
    if (bad) {
        snprintf(err, errlen, "cannot read %s", path);
        buf_free(&b);
        return NULL;
    }
    char *s = buf_take(&b, NULL);
    if (s == NULL)
        snprintf(err, errlen, "out of memory reading %s", path);
    return s;
}

static int gen_node(yajl_gen g, yajl_val v)
{
    yajl_gen_status st = yajl_gen_status_ok;
    switch (v->type) {
    case yajl_t_string:
        st = yajl_gen_string(g, (const unsigned char *)v->u.string,
                             strlen(v->u.string));
        break;
    case yajl_t_number:
        st = yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
        break;
    case yajl_t_object:
        st = yajl_gen_map_open(g);
        for (size_t i = 0; st == yajl_gen_status_ok && i < v->u.object.len; i++) {
            const char *k = v->u.object.keys[i];
            st = yajl_gen_string(g, (const unsigned char *)k, strlen(k));
            if (st == yajl_gen_status_ok && gen_node(g, v->u.object.values[i]) != 0)
                return -1;
        }
        if (st == yajl_gen_status_ok)
            st = yajl_gen_map_close(g);
        break;
    case yajl_t_array:
        st = yajl_gen_array_open(g);
        for (size_t i = 0; st == yajl_gen_status_ok && i < v->u.array.len; i++)
            if (gen_node(g, v->u.array.values[i]) != 0)
                return -1;
        if (st == yajl_gen_status_ok)
            st = yajl_gen_array_close(g);
        break;
    case yajl_t_true:
        st = yajl_gen_bool(g, 1);
        break;
    case yajl_t_false:
        st = yajl_gen_bool(g, 0);
        break;
    case yajl_t_null:
        st = yajl_gen_null(g);
        break;
    default:
        return -1;
    }
    return st == yajl_gen_status_ok ? 0 : -1;
}

static void item_free(struct hand_item *it)
{
    free(it->name);
    free(it->json);
    for (size_t i = 0; i < it->labels.n; i++) {
        free((char *)it->labels.v[i].key);
        free((char *)it->labels.v[i].value);
    }
}

static int load_item(yajl_val v, struct hand_item *it, char *err, size_t errlen)
{
    memset(it, 0, sizeof *it);
    if (!YAJL_IS_OBJECT(v)) {
        snprintf(err, errlen, "an item is not an object");
        return -1;
    }
    const char *idp[] = { "id", NULL };
    yajl_val id = yajl_tree_get(v, idp, yajl_t_number);
    if (id == NULL || !YAJL_IS_INTEGER(id)) {
        snprintf(err, errlen, "an item has no integer \"id\"");
        return -1;
    }
    it->id = YAJL_GET_INTEGER(id);
    const char *np[] = { "name", NULL };
    yajl_val name = yajl_tree_get(v, np, yajl_t_string);
    it->name = xstrdup(name != NULL ? YAJL_GET_STRING(name) : "");
    if (it->name == NULL)
        goto oom;
    const char *lp[] = { "labels", NULL };
    yajl_val labels = yajl_tree_get(v, lp, yajl_t_object);
    if (labels != NULL) {
        for (size_t i = 0; i < labels->u.object.len && it->labels.n < MAX_LABELS; i++) {
            yajl_val lv = labels->u.object.values[i];
            if (!YAJL_IS_STRING(lv))
                continue;
            char *k = xstrdup(labels->u.object.keys[i]);
            char *s = xstrdup(YAJL_GET_STRING(lv));
            if (k == NULL || s == NULL) {
                free(k);
                free(s);
                goto oom;
            }
            it->labels.v[it->labels.n++] = (struct label){ k, s };
        }
    }
    yajl_gen g = yajl_gen_alloc(NULL);
    if (g == NULL)
        goto oom;
    if (gen_node(g, v) != 0) {
        yajl_gen_free(g);
        snprintf(err, errlen, "item %lld cannot be re-serialised (too deep?)",
                 (long long)it->id);
        return -1;
    }
    const unsigned char *out;
    size_t outlen;
    if (yajl_gen_get_buf(g, &out, &outlen) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        goto oom;
    }
    it->json = xstrndup((const char *)out, outlen);
    it->json_len = outlen;
    yajl_gen_free(g);
    if (it->json == NULL)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

void hand_free(struct hand_data *h)
{
    if (h == NULL)
        return;
    for (int r = 0; r < RES__COUNT; r++) {
        for (size_t i = 0; i < h->n[r]; i++)
            item_free(&h->items[r][i]);
        free(h->items[r]);
    }
    free(h);
}

int hand_load(const char *path, struct hand_data **out, char *err,
              size_t errlen)
{
    *out = NULL;
    char *text = read_file(path, err, errlen);
    if (text == NULL)
        return -1;
    char perr[256];
    yajl_val root = yajl_tree_parse(text, perr, sizeof perr);
    free(text);
    if (root == NULL) {
        snprintf(err, errlen, "%s: invalid JSON: %.200s", path, perr);
        return -1;
    }
    struct hand_data *h = calloc(1, sizeof *h);
    if (h == NULL) {
        yajl_tree_free(root);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char ierr[200];
    if (!YAJL_IS_OBJECT(root)) {
        snprintf(err, errlen, "%s: top level is not an object", path);
        goto fail;
    }
    for (size_t k = 0; k < root->u.object.len; k++) {
        const char *key = root->u.object.keys[k];
        yajl_val arr = root->u.object.values[k];
        int r = -1;
        for (int q = 0; q < RES__COUNT; q++)
            if (strcmp(key, resource_plural[q]) == 0)
                r = q;
        if (r < 0) {
            snprintf(err, errlen, "%s: unknown key \"%.60s\" (expected servers, "
                     "ssh_keys, firewalls)", path, key);
            goto fail;
        }
        if (!YAJL_IS_ARRAY(arr)) {
            snprintf(err, errlen, "%s: \"%s\" is not an array", path, key);
            goto fail;
        }
        if (h->items[r] != NULL) {
            snprintf(err, errlen, "%s: \"%s\" given twice", path, key);
            goto fail;
        }
        size_t n = arr->u.array.len;
        h->items[r] = calloc(n > 0 ? n : 1, sizeof *h->items[r]);
        if (h->items[r] == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (load_item(arr->u.array.values[i], &h->items[r][i], ierr,
                          sizeof ierr) != 0) {
                item_free(&h->items[r][i]);
                snprintf(err, errlen, "%s: %s[%zu]: %s", path, key, i, ierr);
                goto fail;
            }
            h->n[r]++;
        }
    }
    yajl_tree_free(root);
    *out = h;
    return 0;
fail:
    yajl_tree_free(root);
    hand_free(h);
    return -1;
}

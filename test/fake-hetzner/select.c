/*
 * select.c - Hetzner label selectors (`label_selector=` query parameter and
 * firewall `label_selector.selector`).
 *
 * Grammar as documented by Hetzner: comma-separated terms, all of which must
 * hold:  k==v  k=v  k!=v  k  !k  k in (v1,v2)  k notin (v1,v2).
 * Commas inside parentheses belong to the value list.  Whitespace around
 * keys, operators and values is ignored.
 */
#include "fake.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static bool valid_word(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/'))
            return false;
    }
    return true;
}

static int add_val(struct sel_term *t, const char *s, size_t n)
{
    trim(&s, &n);
    if (n > 0 && !valid_word(s, n))
        return -1;
    char **nv = realloc(t->vals, (t->nvals + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    t->vals = nv;
    t->vals[t->nvals] = xstrndup(s, n);
    if (t->vals[t->nvals] == NULL)
        return -1;
    t->nvals++;
    return 0;
}

/* Parses "key in (a,b)" / "key notin (a,b)"; s points at the whole term. */
static int parse_set(struct sel_term *t, const char *s, size_t n,
                     const char *open)
{
    const char *close = s + n - 1;
    if (*close != ')')
        return -1;
    /* key and operator are before '(' */
    const char *k = s;
    size_t kl = 0;
    while (k + kl < open && !isspace((unsigned char)k[kl]))
        kl++;
    const char *op = k + kl;
    size_t opl = (size_t)(open - op);
    trim(&op, &opl);
    if (opl == 2 && memcmp(op, "in", 2) == 0)
        t->op = SEL_IN;
    else if (opl == 5 && memcmp(op, "notin", 5) == 0)
        t->op = SEL_NOTIN;
    else
        return -1;
    if (!valid_word(k, kl))
        return -1;
    t->key = xstrndup(k, kl);
    if (t->key == NULL)
        return -1;
    const char *v = open + 1;
    while (v <= close) {
        const char *e = v;
        while (e < close && *e != ',')
            e++;
        if (add_val(t, v, (size_t)(e - v)) != 0)
            return -1;
        v = e + 1;
    }
    return 0;
}

static int parse_term(struct sel_term *t, const char *s, size_t n)
{
    memset(t, 0, sizeof *t);
    trim(&s, &n);
    if (n == 0)
        return -1;
    const char *open = memchr(s, '(', n);
    if (open != NULL)
        return parse_set(t, s, n, open);
    const char *eq = memchr(s, '=', n);
    if (eq == NULL) {
        bool neg = s[0] == '!';
        const char *k = s + (neg ? 1 : 0);
        size_t kl = n - (neg ? 1 : 0);
        trim(&k, &kl);
        if (!valid_word(k, kl))
            return -1;
        t->op = neg ? SEL_ABSENT : SEL_EXISTS;
        t->key = xstrndup(k, kl);
        return t->key == NULL ? -1 : 0;
    }
    const char *kend = eq;
    const char *v = eq + 1;
    if (eq > s && eq[-1] == '!') {
        t->op = SEL_NE;
        kend = eq - 1;
    } else {
        t->op = SEL_EQ;
        if (v < s + n && *v == '=')
            v++;
    }
    const char *k = s;
    size_t kl = (size_t)(kend - s);
    trim(&k, &kl);
    if (!valid_word(k, kl))
        return -1;
    t->key = xstrndup(k, kl);
    if (t->key == NULL)
        return -1;
    return add_val(t, v, (size_t)(s + n - v));
}

static void term_free(struct sel_term *t)
{
    free(t->key);
    for (size_t i = 0; i < t->nvals; i++)
        free(t->vals[i]);
    free(t->vals);
}

int selector_parse(const char *s, struct selector *out)
{
    out->t = NULL;
    out->n = 0;
    size_t len = strlen(s);
    size_t start = 0;
    int depth = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? s[i] : ',';
        if (c == '(')
            depth++;
        else if (c == ')')
            depth--;
        if (depth < 0 || depth > 1)
            goto bad;
        if (c != ',' || depth != 0)
            continue;
        struct sel_term *nt = realloc(out->t, (out->n + 1) * sizeof *nt);
        if (nt == NULL)
            goto bad;
        out->t = nt;
        if (parse_term(&out->t[out->n], s + start, i - start) != 0) {
            term_free(&out->t[out->n]);
            goto bad;
        }
        out->n++;
        start = i + 1;
    }
    return 0;
bad:
    selector_free(out);
    return -1;
}

void selector_free(struct selector *sel)
{
    for (size_t i = 0; i < sel->n; i++)
        term_free(&sel->t[i]);
    free(sel->t);
    sel->t = NULL;
    sel->n = 0;
}

static const char *lookup(const struct labelset *ls, const char *key)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].key, key) == 0)
            return ls->v[i].value;
    return NULL;
}

bool selector_match(const struct selector *sel, const struct labelset *ls)
{
    for (size_t i = 0; i < sel->n; i++) {
        const struct sel_term *t = &sel->t[i];
        const char *v = lookup(ls, t->key);
        bool in = false;
        if (v != NULL)
            for (size_t j = 0; j < t->nvals; j++)
                if (strcmp(v, t->vals[j]) == 0)
                    in = true;
        bool ok;
        switch (t->op) {
        case SEL_EQ: ok = v != NULL && in; break;
        case SEL_NE: ok = v == NULL || !in; break;
        case SEL_EXISTS: ok = v != NULL; break;
        case SEL_ABSENT: ok = v == NULL; break;
        case SEL_IN: ok = v != NULL && in; break;
        case SEL_NOTIN: ok = v == NULL || !in; break;
        default: ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

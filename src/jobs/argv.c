/* argv.c: Redis commands built one argument at a time (see jobs_int.h). */
#include <string.h>

#include "jobs_int.h"
#include "slate/alloc.h"

void slate_argv_add(struct slate_argv *a, const char *s, size_t n)
{
    size_t cap = a->cap;
    a->v = slate_grow(a->v, &cap, a->n + 1, sizeof *a->v);
    a->len = slate_grow(a->len, &a->cap, a->n + 1, sizeof *a->len);
    a->v[a->n] = s;
    a->len[a->n++] = n;
}

void slate_argv_str(struct slate_argv *a, const char *s)
{
    slate_argv_add(a, s, strlen(s));
}

static void own(struct slate_argv *a, char *s)
{
    a->owned = slate_grow(a->owned, &a->cap_owned, a->n_owned + 1, sizeof *a->owned);
    a->owned[a->n_owned++] = s;
}

void slate_argv_own(struct slate_argv *a, char *s)
{
    own(a, s);
    slate_argv_str(a, s);
}

void slate_argv_int(struct slate_argv *a, long long v)
{
    slate_argv_own(a, slate_asprintf("%lld", v));
}

void slate_argv_set_count(struct slate_argv *a, size_t at, size_t count)
{
    char *s = slate_asprintf("%zu", count);
    own(a, s);
    a->v[at] = s;
    a->len[at] = strlen(s);
}

void slate_argv_free(struct slate_argv *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        slate_free(a->owned[i]);
    slate_free(a->owned);
    slate_free(a->v);
    slate_free(a->len);
    memset(a, 0, sizeof *a);
}

int slate_argv_send(struct slate_redis *r, int64_t timeout, struct slate_argv *a,
                    slate_redis_cb *cb, void *ud)
{
    if (!r)
        return -1;
    return slate_redis_cmd(r, timeout, cb, ud, (int)a->n, a->v, a->len);
}

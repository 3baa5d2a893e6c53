/*
 * data.c - one interface over generated and hand-written data sets.
 *
 * A hand-written project without a version2 file serves its version 1 data
 * for version 2 too (projects.c refuses version=2 for it anyway).
 */
#include "fake.h"

static const struct hand_data *hand_for(const struct project *p, int version)
{
    if (version == 2 && p->hand[1] != NULL)
        return p->hand[1];
    return p->hand[0];
}

size_t data_count(const struct project *p, int version, enum resource r)
{
    if (p->generated)
        return gen_count(&p->gen, version, r);
    return hand_for(p, version)->n[r];
}

void data_render(const struct project *p, int version, enum resource r,
                 size_t idx, struct buf *b)
{
    if (p->generated) {
        cache_render_range(p, version, r, idx, 1, b);
        return;
    }
    const struct hand_item *it = &hand_for(p, version)->items[r][idx];
    buf_mem(b, it->json, it->json_len);
}

void data_render_range(const struct project *p, int version, enum resource r,
                       size_t from, size_t n, struct buf *b)
{
    if (p->generated) {
        cache_render_range(p, version, r, from, n, b);
        return;
    }
    const struct hand_data *h = hand_for(p, version);
    for (size_t k = from; k < h->n[r] && k - from < n; k++) {
        if (k > from)
            buf_chr(b, ',');
        buf_mem(b, h->items[r][k].json, h->items[r][k].json_len);
    }
}

void data_meta(const struct project *p, int version, enum resource r,
               size_t idx, struct item_meta *m)
{
    if (p->generated) {
        gen_meta(p, version, r, idx, m);
        return;
    }
    const struct hand_item *it = &hand_for(p, version)->items[r][idx];
    m->name = it->name;
    m->labels = it->labels;
}

long data_find_id(const struct project *p, int version, enum resource r,
                  int64_t id)
{
    if (p->generated)
        return gen_find_id(&p->gen, version, r, id);
    const struct hand_data *h = hand_for(p, version);
    for (size_t i = 0; i < h->n[r]; i++)
        if (h->items[r][i].id == id)
            return (long)i;
    return -1;
}

/* model.c: the inventory container and lookups over the models (model.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slate/model.h"

void slate_inventory_init(struct slate_inventory *inv)
{
    memset(inv, 0, sizeof *inv);
    slate_arena_init(&inv->arena);
}

void slate_inventory_free(struct slate_inventory *inv)
{
    slate_arena_free(&inv->arena);
    slate_free(inv->servers);
    slate_free(inv->ssh_keys);
    slate_free(inv->firewalls);
    memset(inv, 0, sizeof *inv);
}

#define ADD(inv, arr, n, cap)                                              \
    do {                                                                   \
        (inv)->arr = slate_grow((inv)->arr, &(inv)->cap, (inv)->n + 1,     \
                                sizeof *(inv)->arr);                       \
        memset(&(inv)->arr[(inv)->n], 0, sizeof *(inv)->arr);              \
        return &(inv)->arr[(inv)->n++];                                    \
    } while (0)

struct slate_server *slate_inventory_add_server(struct slate_inventory *inv)
{
    ADD(inv, servers, n_servers, cap_servers);
}

struct slate_ssh_key *slate_inventory_add_ssh_key(struct slate_inventory *inv)
{
    ADD(inv, ssh_keys, n_ssh_keys, cap_ssh_keys);
}

struct slate_firewall *slate_inventory_add_firewall(struct slate_inventory *inv)
{
    ADD(inv, firewalls, n_firewalls, cap_firewalls);
}

const char *slate_labels_get(const struct slate_labels *labels, const char *key)
{
    for (size_t i = 0; i < labels->n; i++) {
        if (strcmp(labels->v[i].key, key) == 0)
            return labels->v[i].value;
    }
    return NULL;
}

bool slate_strset_has(const struct slate_strset *set, const char *s)
{
    size_t lo = 0, hi = set ? set->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(set->v[mid], s);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

const char *slate_strmap_get(const struct slate_strmap *map, const char *key)
{
    size_t lo = 0, hi = map ? map->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(map->v[mid].key, key);
        if (c == 0)
            return map->v[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t slate_asset_id(char buf[SLATE_ASSET_ID_MAX], const char *integration, int64_t server_id)
{
    /* Called several times per server on the sync's hot path: no printf.
     * Integration ids are at most 64 bytes, so it always fits. */
    char digits[24];
    char *d = digits + sizeof digits;
    uint64_t u = server_id < 0 ? 0 - (uint64_t)server_id : (uint64_t)server_id;
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (server_id < 0)
        *--d = '-';
    size_t il = strnlen(integration, 64), dl = (size_t)(digits + sizeof digits - d);
    char *o = buf;
    memcpy(o, "hetzner:", 8);
    o += 8;
    memcpy(o, integration, il);
    o += il;
    memcpy(o, ":server:", 8);
    o += 8;
    memcpy(o, d, dl);
    o[dl] = '\0';
    return (size_t)(o + dl - buf);
}

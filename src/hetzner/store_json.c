/*
 * store_json.c: the JSON slate-worker stores of servers, SSH keys and
 * firewalls (PROTOCOL.md, "Workspace keys"), and reading it back.
 *
 * Writing is deterministic, because the sync compares the bytes of a
 * server's asset JSON with what is stored to count "changed" assets: keys in
 * a fixed order, labels sorted by key, a server's firewalls sorted by id, a
 * firewall's servers sorted and unique.  Rule order and CIDR order are kept
 * as Hetzner gives them (they are part of what the firewall says).
 *
 * Strings are written with slate_buf_json_str after a UTF-8 check: what the
 * parsers produced is already valid (yajl validates), but a record built any
 * other way must not be able to produce invalid JSON either, so invalid
 * bytes become U+FFFD.
 *
 * Reading back goes through the page parsers' engine (parse.c), which knows
 * the stored shapes as well.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hetzner_int.h"
#include "slate/alloc.h"

static void put_str(struct slate_buf *b, const char *s)
{
    if (!s) {
        slate_buf_append(b, "null", 4);
        return;
    }
    size_t n = strlen(s);
    if (slate_valid_utf8(s, n)) {
        slate_buf_json_str(b, s, n);
        return;
    }
    struct slate_buf clean;
    slate_buf_init(&clean);
    slate_hz_append_clean(&clean, s, n);
    slate_buf_json_str(b, clean.data, clean.len);
    slate_buf_free(&clean);
}

static void put_key(struct slate_buf *b, const char *key, bool first)
{
    if (!first)
        slate_buf_append(b, ",", 1);
    slate_buf_append(b, "\"", 1);
    slate_buf_puts(b, key);
    slate_buf_append(b, "\":", 2);
}

static void put_i64(struct slate_buf *b, int64_t v)
{
    slate_buf_int(b, v);
}

static void put_labels(struct slate_buf *b, const struct slate_labels *labels)
{
    slate_buf_append(b, "{", 1);
    size_t n = labels ? labels->n : 0;
    if (n) {
        struct slate_hz_label *v = slate_malloc(n * sizeof *v);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (!labels->v[i].key)
                continue;
            v[m] = (struct slate_hz_label){labels->v[i].key, labels->v[i].value, i};
            m++;
        }
        m = slate_hz_labels_canonical(v, m);
        for (size_t i = 0; i < m; i++) {
            if (i)
                slate_buf_append(b, ",", 1);
            put_str(b, v[i].key);
            slate_buf_append(b, ":", 1);
            put_str(b, v[i].value ? v[i].value : "");
        }
        slate_free(v);
    }
    slate_buf_append(b, "}", 1);
}

static void put_str_array(struct slate_buf *b, char *const *v, size_t n)
{
    slate_buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            slate_buf_append(b, ",", 1);
        put_str(b, v[i]);
    }
    slate_buf_append(b, "]", 1);
}

/* The value of the last label with this key: the one put_labels writes. */
static const char *label_last(const struct slate_labels *labels, const char *key)
{
    for (size_t i = labels->n; i-- > 0;) {
        if (labels->v[i].key && strcmp(labels->v[i].key, key) == 0)
            return labels->v[i].value ? labels->v[i].value : "";
    }
    return NULL;
}

static int binding_cmp(const void *a, const void *b)
{
    const struct slate_fw_binding *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (int)x->status - (int)y->status;
}

void slate_server_asset_json(const struct slate_server *s, const char *integration,
                             struct slate_buf *out)
{
    char asset_id[SLATE_ASSET_ID_MAX];
    slate_asset_id(asset_id, integration ? integration : "", s->id);

    slate_buf_append(out, "{", 1);
    put_key(out, "id", true);
    put_str(out, asset_id);
    put_key(out, "category", false);
    put_str(out, "compute_instance");
    put_key(out, "provider", false);
    put_str(out, "hetzner");
    put_key(out, "integration", false);
    put_str(out, integration);
    put_key(out, "hetzner_id", false);
    put_i64(out, s->id);
    put_key(out, "name", false);
    put_str(out, s->name);
    put_key(out, "region", false);
    put_str(out, s->location);
    put_key(out, "instance_type", false);
    put_str(out, s->server_type);
    put_key(out, "status", false);
    put_str(out, s->status);
    put_key(out, "ipv4", false);
    put_str(out, s->ipv4);
    put_key(out, "ipv6", false);
    put_str(out, s->ipv6);
    put_key(out, "labels", false);
    put_labels(out, &s->labels);
    put_key(out, "created", false);
    put_str(out, s->created);

    put_key(out, "firewalls", false);
    slate_buf_append(out, "[", 1);
    if (s->n_firewalls) {
        struct slate_fw_binding *fw = slate_malloc(s->n_firewalls * sizeof *fw);
        memcpy(fw, s->firewalls, s->n_firewalls * sizeof *fw);
        qsort(fw, s->n_firewalls, sizeof *fw, binding_cmp);
        for (size_t i = 0; i < s->n_firewalls; i++) {
            if (i)
                slate_buf_append(out, ",", 1);
            slate_buf_append(out, "{\"id\":", 6);
            put_i64(out, fw[i].id);
            slate_buf_puts(out, fw[i].status == SLATE_FW_APPLIED ? ",\"status\":\"applied\"}"
                                                                 : ",\"status\":\"pending\"}");
        }
        slate_free(fw);
    }
    slate_buf_append(out, "]", 1);

    put_key(out, "owner_label", false);
    put_str(out, label_last(&s->labels, "owner"));
    slate_buf_append(out, "}", 1);
}

void slate_ssh_key_json(const struct slate_ssh_key *k, struct slate_buf *out)
{
    slate_buf_append(out, "{", 1);
    put_key(out, "name", true);
    put_str(out, k->name);
    put_key(out, "fingerprint", false);
    put_str(out, k->fingerprint);
    put_key(out, "sha256", false);
    put_str(out, k->sha256);
    put_key(out, "key_type", false);
    put_str(out, k->key_type);
    put_key(out, "bits", false);
    if (k->bits < 0)
        slate_buf_append(out, "null", 4);
    else
        slate_buf_printf(out, "%d", k->bits);
    put_key(out, "labels", false);
    put_labels(out, &k->labels);
    put_key(out, "created", false);
    put_str(out, k->created);
    slate_buf_append(out, "}", 1);
}

void slate_firewall_json(const struct slate_firewall *f, struct slate_buf *out)
{
    slate_buf_append(out, "{", 1);
    put_key(out, "name", true);
    put_str(out, f->name);
    put_key(out, "labels", false);
    put_labels(out, &f->labels);

    put_key(out, "rules", false);
    slate_buf_append(out, "[", 1);
    for (size_t i = 0; i < f->n_rules; i++) {
        const struct slate_fw_rule *r = &f->rules[i];
        if (i)
            slate_buf_append(out, ",", 1);
        slate_buf_append(out, "{", 1);
        put_key(out, "direction", true);
        put_str(out, r->direction);
        put_key(out, "protocol", false);
        put_str(out, r->protocol);
        put_key(out, "port", false);
        put_str(out, r->port);
        put_key(out, "source_ips", false);
        put_str_array(out, r->source_ips, r->n_source_ips);
        put_key(out, "destination_ips", false);
        put_str_array(out, r->destination_ips, r->n_destination_ips);
        put_key(out, "description", false);
        put_str(out, r->description);
        slate_buf_append(out, "}", 1);
    }
    slate_buf_append(out, "]", 1);

    put_key(out, "servers", false);
    slate_buf_append(out, "[", 1);
    if (f->n_servers) {
        int64_t *ids = slate_malloc(f->n_servers * sizeof *ids);
        memcpy(ids, f->servers, f->n_servers * sizeof *ids);
        size_t n = slate_hz_ids_sort_unique(ids, f->n_servers);
        for (size_t i = 0; i < n; i++) {
            if (i)
                slate_buf_append(out, ",", 1);
            put_i64(out, ids[i]);
        }
        slate_free(ids);
    }
    slate_buf_append(out, "]", 1);
    slate_buf_append(out, "}", 1);
}

int slate_server_from_asset_json(const char *json, size_t n, struct slate_inventory *inv,
                                 struct slate_err *err)
{
    return slate_hz_parse_stored(SLATE_HZ_STORED_SERVER, 0, json, n, inv, err);
}

int slate_ssh_key_from_json(int64_t id, const char *json, size_t n,
                            struct slate_inventory *inv, struct slate_err *err)
{
    return slate_hz_parse_stored(SLATE_HZ_STORED_SSH_KEY, id, json, n, inv, err);
}

int slate_firewall_from_json(int64_t id, const char *json, size_t n,
                             struct slate_inventory *inv, struct slate_err *err)
{
    return slate_hz_parse_stored(SLATE_HZ_STORED_FIREWALL, id, json, n, inv, err);
}

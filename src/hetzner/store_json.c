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
 * Strings are written with slate_buf_json_text, which checks UTF-8 while it
 * escapes: what the parsers produced is already valid (yajl validates), but
 * a record built any other way must not be able to produce invalid JSON
 * either, so invalid bytes become U+FFFD (as slate_hz_append_clean makes
 * them).
 *
 * The server's asset JSON is written for every server of every sync, so the
 * writers are cheap: keys and other fixed text are literals appended with
 * their compile-time length (PUT_LIT), small arrays are sorted on the stack.
 *
 * Reading back goes through the page parsers' engine (parse.c), which knows
 * the stored shapes as well.
 */
#include <stdlib.h>
#include <string.h>

#include "hetzner_int.h"
#include "slate/alloc.h"

/* A piece of fixed JSON (keys, punctuation, literal values). */
#define PUT_LIT(b, lit) slate_buf_append((b), (lit), sizeof(lit) - 1)

static void put_str(struct slate_buf *b, const char *s)
{
    if (!s) {
        PUT_LIT(b, "null");
        return;
    }
    slate_buf_json_text(b, s, strlen(s));
}

/* Labels of most records fit here; more go to the heap. */
#define LABELS_ON_STACK 16

static void put_labels(struct slate_buf *b, const struct slate_labels *labels)
{
    PUT_LIT(b, "{");
    size_t n = labels ? labels->n : 0;
    if (n) {
        struct slate_hz_label stack[LABELS_ON_STACK];
        struct slate_hz_label *v = n <= LABELS_ON_STACK ? stack : slate_malloc(n * sizeof *v);
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
                PUT_LIT(b, ",");
            put_str(b, v[i].key);
            PUT_LIT(b, ":");
            put_str(b, v[i].value ? v[i].value : "");
        }
        if (v != stack)
            slate_free(v);
    }
    PUT_LIT(b, "}");
}

static void put_str_array(struct slate_buf *b, char *const *v, size_t n)
{
    PUT_LIT(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            PUT_LIT(b, ",");
        put_str(b, v[i]);
    }
    PUT_LIT(b, "]");
}

/* The value of the last label with this key: the one put_labels writes.
 * (The first byte is compared first: most keys differ there.) */
static const char *label_last(const struct slate_labels *labels, const char *key)
{
    for (size_t i = labels->n; i-- > 0;) {
        const char *k = labels->v[i].key;
        if (k && k[0] == key[0] && strcmp(k, key) == 0)
            return labels->v[i].value ? labels->v[i].value : "";
    }
    return NULL;
}

static int binding_cmp(const struct slate_fw_binding *x, const struct slate_fw_binding *y)
{
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (int)x->status - (int)y->status;
}

static int binding_qsort_cmp(const void *a, const void *b)
{
    return binding_cmp(a, b);
}

/* A server has a few firewalls: insertion sort on the stack, qsort beyond. */
#define BINDINGS_ON_STACK 16

static void put_bindings(struct slate_buf *b, const struct slate_fw_binding *v, size_t n)
{
    PUT_LIT(b, "[");
    struct slate_fw_binding stack[BINDINGS_ON_STACK];
    struct slate_fw_binding *fw = n <= BINDINGS_ON_STACK ? stack : slate_malloc(n * sizeof *fw);
    if (n)
        memcpy(fw, v, n * sizeof *fw);
    if (fw == stack) {
        for (size_t i = 1; i < n; i++) {
            struct slate_fw_binding x = fw[i];
            size_t j = i;
            for (; j > 0 && binding_cmp(&fw[j - 1], &x) > 0; j--)
                fw[j] = fw[j - 1];
            fw[j] = x;
        }
    } else {
        qsort(fw, n, sizeof *fw, binding_qsort_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            PUT_LIT(b, ",");
        PUT_LIT(b, "{\"id\":");
        slate_buf_int(b, fw[i].id);
        if (fw[i].status == SLATE_FW_APPLIED)
            PUT_LIT(b, ",\"status\":\"applied\"}");
        else
            PUT_LIT(b, ",\"status\":\"pending\"}");
    }
    if (fw != stack)
        slate_free(fw);
    PUT_LIT(b, "]");
}

void slate_server_asset_json(const struct slate_server *s, const char *integration,
                             struct slate_buf *out)
{
    char asset_id[SLATE_ASSET_ID_MAX];
    size_t id_len = slate_asset_id(asset_id, integration ? integration : "", s->id);

    PUT_LIT(out, "{\"id\":");
    slate_buf_json_text(out, asset_id, id_len);
    PUT_LIT(out, ",\"category\":\"compute_instance\",\"provider\":\"hetzner\",\"integration\":");
    put_str(out, integration);
    PUT_LIT(out, ",\"hetzner_id\":");
    slate_buf_int(out, s->id);
    PUT_LIT(out, ",\"name\":");
    put_str(out, s->name);
    PUT_LIT(out, ",\"region\":");
    put_str(out, s->location);
    PUT_LIT(out, ",\"instance_type\":");
    put_str(out, s->server_type);
    PUT_LIT(out, ",\"status\":");
    put_str(out, s->status);
    PUT_LIT(out, ",\"ipv4\":");
    put_str(out, s->ipv4);
    PUT_LIT(out, ",\"ipv6\":");
    put_str(out, s->ipv6);
    PUT_LIT(out, ",\"labels\":");
    put_labels(out, &s->labels);
    PUT_LIT(out, ",\"created\":");
    put_str(out, s->created);
    PUT_LIT(out, ",\"firewalls\":");
    put_bindings(out, s->firewalls, s->n_firewalls);
    PUT_LIT(out, ",\"owner_label\":");
    put_str(out, label_last(&s->labels, "owner"));
    PUT_LIT(out, "}");
}

void slate_ssh_key_json(const struct slate_ssh_key *k, struct slate_buf *out)
{
    PUT_LIT(out, "{\"name\":");
    put_str(out, k->name);
    PUT_LIT(out, ",\"fingerprint\":");
    put_str(out, k->fingerprint);
    PUT_LIT(out, ",\"sha256\":");
    put_str(out, k->sha256);
    PUT_LIT(out, ",\"key_type\":");
    put_str(out, k->key_type);
    PUT_LIT(out, ",\"bits\":");
    if (k->bits < 0)
        PUT_LIT(out, "null");
    else
        slate_buf_int(out, k->bits);
    PUT_LIT(out, ",\"labels\":");
    put_labels(out, &k->labels);
    PUT_LIT(out, ",\"created\":");
    put_str(out, k->created);
    PUT_LIT(out, "}");
}

void slate_firewall_json(const struct slate_firewall *f, struct slate_buf *out)
{
    PUT_LIT(out, "{\"name\":");
    put_str(out, f->name);
    PUT_LIT(out, ",\"labels\":");
    put_labels(out, &f->labels);

    PUT_LIT(out, ",\"rules\":[");
    for (size_t i = 0; i < f->n_rules; i++) {
        const struct slate_fw_rule *r = &f->rules[i];
        if (i)
            PUT_LIT(out, ",");
        PUT_LIT(out, "{\"direction\":");
        put_str(out, r->direction);
        PUT_LIT(out, ",\"protocol\":");
        put_str(out, r->protocol);
        PUT_LIT(out, ",\"port\":");
        put_str(out, r->port);
        PUT_LIT(out, ",\"source_ips\":");
        put_str_array(out, r->source_ips, r->n_source_ips);
        PUT_LIT(out, ",\"destination_ips\":");
        put_str_array(out, r->destination_ips, r->n_destination_ips);
        PUT_LIT(out, ",\"description\":");
        put_str(out, r->description);
        PUT_LIT(out, "}");
    }
    PUT_LIT(out, "]");

    PUT_LIT(out, ",\"servers\":[");
    if (f->n_servers) {
        int64_t *ids = slate_malloc(f->n_servers * sizeof *ids);
        memcpy(ids, f->servers, f->n_servers * sizeof *ids);
        size_t n = slate_hz_ids_sort_unique(ids, f->n_servers);
        for (size_t i = 0; i < n; i++) {
            if (i)
                PUT_LIT(out, ",");
            slate_buf_int(out, ids[i]);
        }
        slate_free(ids);
    }
    PUT_LIT(out, "]}");
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

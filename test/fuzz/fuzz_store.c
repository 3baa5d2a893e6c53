/*
 * fuzz_store.c: libFuzzer target for reading back the stored JSON of
 * servers, SSH keys and firewalls (what Redis holds may have been written by
 * an older worker, or by hand).
 *
 * Each input is read as each of the three kinds.  Oracles: no crash or leak
 * (ASan/UBSan); a failure appends nothing; a success writes valid JSON that
 * reads back and writes again to the same bytes (the writer is
 * deterministic, which "changed" detection relies on).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "slate/hetzner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_json(const char *s, size_t n)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    yajl_status st = yajl_parse(h, (const unsigned char *)s, n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    return st == yajl_status_ok;
}

/* Reads json as kind into inv; writes the last record into out. */
static int read_write(int kind, const char *json, size_t n, struct slate_inventory *inv,
                      struct slate_buf *out)
{
    struct slate_err err;
    size_t before = inv->n_servers + inv->n_ssh_keys + inv->n_firewalls;
    int rc;
    if (kind == 0) {
        rc = slate_server_from_asset_json(json, n, inv, &err);
        if (rc == 0)
            slate_server_asset_json(&inv->servers[inv->n_servers - 1], "fuzz", out);
    } else if (kind == 1) {
        rc = slate_ssh_key_from_json(7, json, n, inv, &err);
        if (rc == 0)
            slate_ssh_key_json(&inv->ssh_keys[inv->n_ssh_keys - 1], out);
    } else {
        rc = slate_firewall_from_json(7, json, n, inv, &err);
        if (rc == 0)
            slate_firewall_json(&inv->firewalls[inv->n_firewalls - 1], out);
    }
    size_t after = inv->n_servers + inv->n_ssh_keys + inv->n_firewalls;
    if (after != before + (rc == 0 ? 1 : 0))
        abort();
    if (rc != 0 && (err.code != SLATE_E_INTERNAL || err.msg[0] == '\0'))
        abort();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int kind = 0; kind < 3; kind++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        struct slate_buf first, second;
        slate_buf_init(&first);
        slate_buf_init(&second);
        if (read_write(kind, (const char *)data, size, &inv, &first) == 0) {
            if (!valid_json(first.data, first.len)) {
                fprintf(stderr, "invalid JSON written: %s\n", first.data);
                abort();
            }
            if (read_write(kind, first.data, first.len, &inv, &second) != 0 ||
                first.len != second.len || memcmp(first.data, second.data, first.len) != 0) {
                fprintf(stderr, "not a fixed point:\n%s\n%s\n", first.data,
                        second.data ? second.data : "");
                abort();
            }
        }
        slate_buf_free(&first);
        slate_buf_free(&second);
        slate_inventory_free(&inv);
    }
    return 0;
}

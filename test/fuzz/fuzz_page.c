/*
 * fuzz_page.c: libFuzzer target for the Hetzner page parsers and the error
 * body parser, the code that reads bytes from the network.
 *
 * Each input is parsed by each of the three page parsers, once whole and
 * once cut into random chunks (seeded from the input, so a crash
 * reproduces); small inputs also byte by byte.  Oracles: no crash or leak
 * (ASan/UBSan), the same outcome however the body is cut (status, error
 * code, pagination and every record), and every record's stored JSON is
 * valid JSON that reads back to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "slate/hetzner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static bool valid_json(const char *s, size_t n)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    yajl_status st = yajl_parse(h, (const unsigned char *)s, n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    return st == yajl_status_ok;
}

/* Stored JSON of one record must be valid and read back to the same bytes. */
static void check_stored(const char *json, size_t n, int kind, int64_t id)
{
    if (!valid_json(json, n)) {
        fprintf(stderr, "invalid stored JSON: %s\n", json);
        abort();
    }
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    struct slate_err err;
    struct slate_buf again;
    slate_buf_init(&again);
    int rc;
    if (kind == 0) {
        rc = slate_server_from_asset_json(json, n, &inv, &err);
        if (rc == 0)
            slate_server_asset_json(&inv.servers[0], "fuzz", &again);
    } else if (kind == 1) {
        rc = slate_ssh_key_from_json(id, json, n, &inv, &err);
        if (rc == 0)
            slate_ssh_key_json(&inv.ssh_keys[0], &again);
    } else {
        rc = slate_firewall_from_json(id, json, n, &inv, &err);
        if (rc == 0)
            slate_firewall_json(&inv.firewalls[0], &again);
    }
    if (rc != 0 || again.len != n || memcmp(again.data, json, n) != 0) {
        fprintf(stderr, "stored JSON does not round-trip (%s):\n%s\n%s\n",
                rc ? err.msg : "differs", json, again.data ? again.data : "");
        abort();
    }
    slate_buf_free(&again);
    slate_inventory_free(&inv);
}

/* Parses data as a page of c cut into chunks (0: whole, 1: bytes, else
 * random from seed); describes the outcome in out. */
static void run(enum slate_collection c, const uint8_t *data, size_t size, int mode,
                uint64_t seed, struct slate_buf *out, bool check)
{
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    struct slate_page_parser *p = slate_page_parser_new(c, &inv);
    struct slate_err err;
    int rc = 0;
    size_t off = 0;
    while (off < size && rc == 0) {
        size_t len = size - off;
        if (mode == 1)
            len = 1;
        else if (mode == 2) {
            seed = mix(seed + off);
            len = 1 + seed % (seed & 1 ? 7 : 300);
        }
        if (len > size - off)
            len = size - off;
        rc = slate_page_parser_feed(p, data + off, len, &err);
        off += len;
    }
    struct slate_pagination pg;
    size_t n_items = 0;
    if (rc == 0)
        rc = slate_page_parser_finish(p, &pg, &n_items, &err);
    slate_page_parser_free(p);

    slate_buf_printf(out, "rc=%d", rc);
    if (rc)
        slate_buf_printf(out, " code=%s", slate_code_name(err.code));
    else
        slate_buf_printf(out, " n=%zu pg=%d,%lld,%lld,%lld,%lld,%lld,%lld", n_items, pg.present,
                         (long long)pg.page, (long long)pg.per_page,
                         (long long)pg.previous_page, (long long)pg.next_page,
                         (long long)pg.last_page, (long long)pg.total_entries);
    slate_buf_puts(out, "\n");
    struct slate_buf one;
    slate_buf_init(&one);
    for (size_t i = 0; i < inv.n_servers; i++) {
        slate_buf_reset(&one);
        slate_server_asset_json(&inv.servers[i], "fuzz", &one);
        if (check)
            check_stored(one.data, one.len, 0, 0);
        slate_buf_append(out, one.data, one.len);
    }
    for (size_t i = 0; i < inv.n_ssh_keys; i++) {
        slate_buf_reset(&one);
        slate_ssh_key_json(&inv.ssh_keys[i], &one);
        if (check)
            check_stored(one.data, one.len, 1, inv.ssh_keys[i].id);
        slate_buf_printf(out, "%lld", (long long)inv.ssh_keys[i].id);
        slate_buf_append(out, one.data, one.len);
    }
    for (size_t i = 0; i < inv.n_firewalls; i++) {
        slate_buf_reset(&one);
        slate_firewall_json(&inv.firewalls[i], &one);
        if (check)
            check_stored(one.data, one.len, 2, inv.firewalls[i].id);
        slate_buf_printf(out, "%lld", (long long)inv.firewalls[i].id);
        slate_buf_append(out, one.data, one.len);
    }
    slate_buf_free(&one);
    slate_inventory_free(&inv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed = size;
    for (size_t i = 0; i < size; i++)
        seed = seed * 1099511628211ull ^ data[i];

    for (int c = 0; c < SLATE_COLL_COUNT; c++) {
        struct slate_buf whole, cut;
        slate_buf_init(&whole);
        slate_buf_init(&cut);
        run((enum slate_collection)c, data, size, 0, seed, &whole, true);
        run((enum slate_collection)c, data, size, 2, seed + (uint64_t)c, &cut, false);
        if (whole.len != cut.len || memcmp(whole.data, cut.data, whole.len) != 0) {
            fprintf(stderr, "whole and cut parses differ:\n%s\n---\n%s\n", whole.data, cut.data);
            abort();
        }
        if (size <= 2048) {
            slate_buf_reset(&cut);
            run((enum slate_collection)c, data, size, 1, seed, &cut, false);
            if (whole.len != cut.len || memcmp(whole.data, cut.data, whole.len) != 0) {
                fprintf(stderr, "whole and bytewise parses differ:\n%s\n---\n%s\n", whole.data,
                        cut.data);
                abort();
            }
        }
        slate_buf_free(&whole);
        slate_buf_free(&cut);
    }

    char code[SLATE_API_ERROR_CODE_MAX], message[SLATE_API_ERROR_MESSAGE_MAX];
    if (slate_api_error_parse((const char *)data, size, code, message) == 0) {
        if (strlen(code) >= sizeof code || strlen(message) >= sizeof message)
            abort();
    }
    return 0;
}

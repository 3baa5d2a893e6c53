/*
 * parse_bench.c: how fast the servers page parser is.
 *
 * Builds a page of N servers (default 5,000) from the spec2026 sample server
 * (about 5 KB of JSON each, every field Hetzner sends), feeds it in 16 KiB
 * chunks as curl would, and prints MB/s and microseconds per server (best of
 * a few rounds), then the same for writing each server's asset JSON.
 *
 * With the path of spec2026-list-ssh-keys.generated.json after the server
 * count, also a page of K SSH keys (default 2,000) from the sample key with
 * real public keys in turn (ed25519, ed25519, RSA 2048, RSA 3072, ECDSA 256:
 * the sample's own key does not decode), which is mostly base64 and SHA-256.
 *
 *   parse_bench spec2026-list-servers.generated.json [servers
 *               [spec2026-list-ssh-keys.generated.json [keys]]]
 *
 * CMake builds it with the other test/bench programs (build-rel/test/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slate/hetzner.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first object of the sample's collection array, and its length. */
static const char *first_item(const char *json, size_t *len)
{
    const char *start = strchr(strchr(json, '[') + 1, '{');
    const char *p = start;
    int depth = 0;
    do {
        depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
        p++;
    } while (depth > 0);
    *len = (size_t)(p - start);
    return start;
}

static size_t read_sample(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

/* Best of five parses of body in 16 KiB chunks; the items parsed. */
static double time_parse(enum slate_collection c, const struct slate_buf *body, size_t *items)
{
    double best = 1e9;
    struct slate_page_parser *pp = NULL;
    for (int round = 0; round < 5; round++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        double t0 = now_s();
        if (pp)
            slate_page_parser_reset(pp, c, &inv);
        else
            pp = slate_page_parser_new(c, &inv);
        struct slate_err err;
        int rc = 0;
        for (size_t off = 0; off < body->len && rc == 0; off += 16384) {
            size_t len = body->len - off < 16384 ? body->len - off : 16384;
            rc = slate_page_parser_feed(pp, body->data + off, len, &err);
        }
        if (rc == 0)
            rc = slate_page_parser_finish(pp, NULL, items, &err);
        double dt = now_s() - t0;
        if (rc != 0) {
            fprintf(stderr, "parse failed: %s\n", err.msg);
            exit(1);
        }
        if (c == SLATE_COLL_SSH_KEYS && inv.n_ssh_keys && !inv.ssh_keys[0].sha256) {
            fprintf(stderr, "the first SSH key has no fingerprint\n");
            exit(1);
        }
        if (dt < best)
            best = dt;
        slate_inventory_free(&inv);
    }
    slate_page_parser_free(pp);
    return best;
}

/* Public keys from test_hetzner_parse.c (generated with ssh-keygen). */
static const char *const public_keys[] = {
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILEymljEsBcEh0Ah0H4Mj1zAHYYMM2jXgC0lfSkcmvJ4 "
    "test-ed25519@slate",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILEymljEsBcEh0Ah0H4Mj1zAHYYMM2jXgC0lfSkcmvJ4 jane@laptop",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCwQOiMzmT5Vaef0EYA9PpNbIusmwwKSgGXufpt2ULu9TQ45hBYAC"
    "BToJKXowhFmRLkpRkqb8M5/WwEpYPPO94dQLTN/gQarp6FpaKmN9t1Xbhwf63NSM35r9LluIbL7gjrQWgbwCGAmEhRA"
    "/14a6QDDsxt7N+zoCMy9SJkxKjV13b611HAaxRetyjhgV1NHoNYsKeXIRYHwheW55FlCI6rZg78o3ymnZn5pX4djyvJ"
    "fymbxsSp/zallDky0+YOK0/YCNtG3XS+Uhrh7eWzx4QGmx1qL+A2iH4ZDr7OtXsD1Cg4SSdxh96OXnOIHTffY132C73"
    "HTzqugnFfafzZ1OaH test-rsa-2048@slate",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCfI3uNpcH7XnsWlVdfiJ0XhtZRRlnhH6B2o01CGwqOHEMJTfmZOj"
    "XgrUdmG0gmCLyiYgg26ybxI8/Nop4jxyL5csBnW4g6DqfSImTLe3I8m8Jc53AemBvVcy7vcB8tqBInRrl2Q2UlyUl4sb"
    "hstOAVzjAZoUPFL+1CaYR1vb4xR2oD+HHoqWrKel+Rf+j9cVIbVu7G9JaKPrsEpqFlH9Uo6J+/TIVC/Hitf3lt4lLHyi"
    "OuDZwbjkDWmGhtZjry8FO3ahgsY7XIxHeJIizeDfAVKL2jAIsBpYPbB8x2vZEthWz9c/9/CUWidkvT7OloWlWjmXzU6l"
    "qaTlPES8G393ITYkyNN8qOC6WK48F9mqNbfIktC9zHfIE0slfb5iEn8cSaGceTxhApJJyNWWYK2bQA/3Wfi+svqAvJfC"
    "8H9iUqHvlp1LomJULpfajcRrqUjGRVbvbBWi8yq1TCGCPdnTCbkqrBzpxnCNoEr53rsTnpVX2ksuJo4gZ4VLopkbPZ5t"
    "0= test-rsa-3072@slate",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBxVS3RkPjaT6Xwjnud8"
    "IR5VsXuxbuwfmwHSDUjL0D3haQRbnpaO4uyI8rAJyrs8IvyD6CcJJfxig4MlmbZsxYc= test-ecdsa-256@slate",
};

/* A page of count SSH keys: the sample key with ids and public keys set. */
static void ssh_keys_page(const char *sample_path, int count, struct slate_buf *body)
{
    static char one[1 << 20];
    read_sample(sample_path, one, sizeof one);
    size_t obj_len;
    const char *start = first_item(one, &obj_len);
    const char *end = start + obj_len;
    const char *id_at = strstr(start, "\"id\": 42");
    const char *pk_at = strstr(start, "\"public_key\": \"");
    const char *pk_end = pk_at ? strchr(pk_at + 15, '"') : NULL;
    if (!id_at || !pk_at || id_at > pk_at || !pk_end || pk_end > end) {
        fprintf(stderr, "%s: no \"id\": 42 before a \"public_key\"\n", sample_path);
        exit(1);
    }
    slate_buf_puts(body, "{\"ssh_keys\":[");
    for (int i = 0; i < count; i++) {
        if (i)
            slate_buf_puts(body, ",");
        slate_buf_append(body, start, (size_t)(id_at - start));
        slate_buf_printf(body, "\"id\": %d", 1000 + i);
        slate_buf_append(body, id_at + 8, (size_t)(pk_at - (id_at + 8)));
        slate_buf_printf(body, "\"public_key\": \"%s\"",
                         public_keys[i % (sizeof public_keys / sizeof public_keys[0])]);
        slate_buf_append(body, pk_end + 1, (size_t)(end - (pk_end + 1)));
    }
    slate_buf_puts(body, "]}");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s spec2026-list-servers.generated.json [servers "
                "[spec2026-list-ssh-keys.generated.json [keys]]]\n",
                argv[0]);
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 5000;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static char one[1 << 20];
    size_t n = fread(one, 1, sizeof one - 1, f);
    fclose(f);
    one[n] = '\0';

    /* The first server object, and where its "id": 42 is. */
    const char *start = strchr(strchr(one, '[') + 1, '{');
    const char *p = start;
    int depth = 0;
    do {
        depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
        p++;
    } while (depth > 0);
    size_t obj_len = (size_t)(p - start);
    const char *id_at = strstr(start, "\"id\": 42");
    if (!id_at)
        return 1;

    struct slate_buf body;
    slate_buf_init(&body);
    slate_buf_puts(&body, "{\"servers\":[");
    for (int i = 0; i < count; i++) {
        if (i)
            slate_buf_puts(&body, ",");
        slate_buf_append(&body, start, (size_t)(id_at - start));
        slate_buf_printf(&body, "\"id\": %d", 1000 + i);
        slate_buf_append(&body, id_at + 8, obj_len - (size_t)(id_at + 8 - start));
    }
    slate_buf_puts(&body, "],\"meta\":{\"pagination\":{\"page\":1,\"per_page\":50,"
                          "\"previous_page\":null,\"next_page\":null,\"last_page\":1,"
                          "\"total_entries\":1}}}");

    double best = 1e9, best_json = 1e9;
    size_t json_bytes = 0;
    struct slate_page_parser *pp = NULL;
    for (int round = 0; round < 5; round++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        double t0 = now_s();
        if (pp)
            slate_page_parser_reset(pp, SLATE_COLL_SERVERS, &inv);
        else
            pp = slate_page_parser_new(SLATE_COLL_SERVERS, &inv);
        struct slate_err err;
        int rc = 0;
        for (size_t off = 0; off < body.len && rc == 0; off += 16384) {
            size_t len = body.len - off < 16384 ? body.len - off : 16384;
            rc = slate_page_parser_feed(pp, body.data + off, len, &err);
        }
        size_t items = 0;
        if (rc == 0)
            rc = slate_page_parser_finish(pp, NULL, &items, &err);
        double dt = now_s() - t0;
        if (rc != 0 || items != (size_t)count) {
            fprintf(stderr, "parse failed: %s\n", err.msg);
            return 1;
        }
        if (dt < best)
            best = dt;

        struct slate_buf out;
        slate_buf_init(&out);
        t0 = now_s();
        for (size_t i = 0; i < inv.n_servers; i++) {
            slate_buf_reset(&out);
            slate_server_asset_json(&inv.servers[i], "hz-prod", &out);
            json_bytes += out.len;
        }
        dt = now_s() - t0;
        if (dt < best_json)
            best_json = dt;
        slate_buf_free(&out);
        slate_inventory_free(&inv);
    }
    slate_page_parser_free(pp);
    printf("parse: %d servers, %.1f MB in %.1f ms: %.0f MB/s, %.2f us/server\n", count,
           (double)body.len / 1e6, best * 1e3, (double)body.len / 1e6 / best, best * 1e6 / count);
    printf("asset JSON: %.2f us/server (%zu bytes each)\n", best_json * 1e6 / count,
           json_bytes / 5 / (size_t)count);
    slate_buf_free(&body);

    if (argc > 3) {
        int keys = argc > 4 ? atoi(argv[4]) : 2000;
        struct slate_buf page;
        slate_buf_init(&page);
        ssh_keys_page(argv[3], keys, &page);
        size_t items = 0;
        double t = time_parse(SLATE_COLL_SSH_KEYS, &page, &items);
        if (items != (size_t)keys) {
            fprintf(stderr, "parsed %zu SSH keys of %d\n", items, keys);
            return 1;
        }
        printf("parse: %d SSH keys, %.1f MB in %.1f ms: %.0f MB/s, %.2f us/key\n", keys,
               (double)page.len / 1e6, t * 1e3, (double)page.len / 1e6 / t, t * 1e6 / keys);
        slate_buf_free(&page);
    }
    return 0;
}

/*
 * parse_bench.c: how fast the servers page parser is.
 *
 * Builds a page of N servers (default 5,000) from the spec2026 sample server
 * (about 5 KB of JSON each, every field Hetzner sends), feeds it in 16 KiB
 * chunks as curl would, and prints MB/s and microseconds per server (best of
 * a few rounds), then the same for writing each server's asset JSON.
 *
 * Not built by default: compile it with -O2 together with the .c files of
 * src/hetzner and src/core (include/ on the include path, -lyajl -lsodium)
 * and run it with the path of spec2026-list-servers.generated.json and
 * optionally the number of servers.
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s spec2026-list-servers.generated.json [servers]\n", argv[0]);
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
    return 0;
}

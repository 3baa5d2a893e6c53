/*
 * floor.c: the CPU floor of a sync, measured on the bytes a sync really gets.
 *
 *   floor FILE [--servers N] [--reps N] [--min-cpu-ms N] [--chunk BYTES]
 *
 * FILE holds API response bodies as scripts/bench saves them (every page of
 * the three collections of one project, fetched from the fake): each record
 * is a header line "COLLECTION LENGTH\n" (COLLECTION is servers, ssh_keys or
 * firewalls), then LENGTH bytes of body, then "\n".
 *
 * Two figures, each the CPU time (CLOCK_PROCESS_CPUTIME_ID) of one pass over
 * every body, fed in chunks of --chunk bytes (16 KiB, curl's write size):
 *
 *  - floor: yajl alone with empty callbacks (every callback returns 1, the
 *    same callback set the worker's parser registers: yajl_number, not
 *    integer/double, default yajl options, so UTF-8 is validated).  This is
 *    the least CPU any yajl-based worker can spend on these bytes.
 *  - parser: the worker's own streaming page parser (slate_page_parser,
 *    records and strings into a slate_inventory, freed after each pass), for
 *    reference: what the parse itself costs before Redis, checks and HTTP.
 *
 * Floor and parser passes alternate (a shared or virtual machine's speed
 * drifts by tens of percent within seconds; alternating lets both figures see
 * the same machine) until each has used --min-cpu-ms of CPU (default 400) and
 * at least --reps passes (default 5) ran; the median and the minimum pass are
 * printed, per pass, per server (--servers: the project's server count;
 * default: the records found in servers bodies) and as MB/s.  The last line
 * is one JSON object (prefixed "FLOOR ") for scripts/bench.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_parse.h>

#include "slate/hetzner.h"
#include "slate/model.h"

struct body {
    enum slate_collection coll;
    const unsigned char *data;
    size_t len;
};

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- empty callbacks ---- */

static int e_null(void *ctx) { (void)ctx; return 1; }
static int e_bool(void *ctx, int b) { (void)ctx; (void)b; return 1; }
static int e_number(void *ctx, const char *s, size_t l) { (void)ctx; (void)s; (void)l; return 1; }
static int e_string(void *ctx, const unsigned char *s, size_t l) { (void)ctx; (void)s; (void)l; return 1; }
static int e_start_map(void *ctx) { (void)ctx; return 1; }
static int e_map_key(void *ctx, const unsigned char *s, size_t l) { (void)ctx; (void)s; (void)l; return 1; }
static int e_end_map(void *ctx) { (void)ctx; return 1; }
static int e_start_array(void *ctx) { (void)ctx; return 1; }
static int e_end_array(void *ctx) { (void)ctx; return 1; }

static const yajl_callbacks empty = {
    .yajl_null = e_null,
    .yajl_boolean = e_bool,
    .yajl_number = e_number,
    .yajl_string = e_string,
    .yajl_start_map = e_start_map,
    .yajl_map_key = e_map_key,
    .yajl_end_map = e_end_map,
    .yajl_start_array = e_start_array,
    .yajl_end_array = e_end_array,
};

static size_t chunk = 16384;

/* One pass of yajl with empty callbacks over every body; -1 on a parse error. */
__attribute__((noinline)) static int pass_floor(const struct body *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        yajl_handle h = yajl_alloc(&empty, NULL, NULL);
        if (!h)
            return -1;
        yajl_status st = yajl_status_ok;
        for (size_t off = 0; off < b[i].len && st == yajl_status_ok; off += chunk) {
            size_t len = b[i].len - off < chunk ? b[i].len - off : chunk;
            st = yajl_parse(h, b[i].data + off, len);
        }
        if (st == yajl_status_ok)
            st = yajl_complete_parse(h);
        yajl_free(h);
        if (st != yajl_status_ok)
            return -1;
    }
    return 0;
}

/* One pass of the worker's page parser; counts the server records. */
__attribute__((noinline)) static int pass_parser(const struct body *b, size_t n, size_t *servers)
{
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    struct slate_page_parser *pp = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (pp)
            slate_page_parser_reset(pp, b[i].coll, &inv);
        else
            pp = slate_page_parser_new(b[i].coll, &inv);
        struct slate_err err;
        for (size_t off = 0; off < b[i].len && rc == 0; off += chunk) {
            size_t len = b[i].len - off < chunk ? b[i].len - off : chunk;
            rc = slate_page_parser_feed(pp, b[i].data + off, len, &err);
        }
        if (rc == 0)
            rc = slate_page_parser_finish(pp, NULL, NULL, &err);
        if (rc != 0)
            fprintf(stderr, "floor: body %zu (%s): %s\n", i, slate_collection_name(b[i].coll),
                    err.msg);
    }
    *servers = inv.n_servers;
    slate_page_parser_free(pp);
    slate_inventory_free(&inv);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct timing {
    double median, min;
    int passes;
};

struct series {
    double *t;
    size_t n, cap;
    double total;
};

static int series_add(struct series *s, double dt)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *nt = realloc(s->t, cap * sizeof *nt);
        if (!nt)
            return -1;
        s->t = nt;
        s->cap = cap;
    }
    s->t[s->n++] = dt;
    s->total += dt;
    return 0;
}

static void series_timing(struct series *s, struct timing *out)
{
    qsort(s->t, s->n, sizeof *s->t, cmp_double);
    out->median = s->n % 2 ? s->t[s->n / 2] : (s->t[s->n / 2 - 1] + s->t[s->n / 2]) / 2;
    out->min = s->t[0];
    out->passes = (int)s->n;
    free(s->t);
}

/* Alternates floor and parser passes, so that both see the same machine (a
 * shared or virtual machine's speed drifts by tens of percent over seconds),
 * until each has used min_cpu seconds and min_reps passes ran. */
static int measure(const struct body *b, size_t n, int min_reps, double min_cpu,
                   struct timing *floor_t, struct timing *parser_t, size_t *servers)
{
    struct series f = {0}, p = {0};
    /* One untimed pass of each warms caches and the allocator, as a running
     * worker's are. */
    if (pass_floor(b, n) != 0 || pass_parser(b, n, servers) != 0)
        return -1;
    while ((int)f.n < min_reps || f.total < min_cpu || p.total < min_cpu) {
        size_t s;
        double t0 = cpu_s();
        int rc = pass_floor(b, n);
        double t1 = cpu_s();
        rc |= pass_parser(b, n, &s);
        double t2 = cpu_s();
        if (rc != 0 || series_add(&f, t1 - t0) != 0 || series_add(&p, t2 - t1) != 0) {
            free(f.t);
            free(p.t);
            return -1;
        }
    }
    series_timing(&f, floor_t);
    series_timing(&p, parser_t);
    return 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        unsigned char *nb = realloc(buf, cap *= 2);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int usage(void)
{
    fprintf(stderr, "usage: floor FILE [--servers N] [--reps N] [--min-cpu-ms N] [--chunk BYTES]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    long servers_arg = -1, reps = 5, min_cpu_ms = 400;
    for (int i = 1; i < argc; i++) {
        long *dst = NULL;
        if (strcmp(argv[i], "--servers") == 0)
            dst = &servers_arg;
        else if (strcmp(argv[i], "--reps") == 0)
            dst = &reps;
        else if (strcmp(argv[i], "--min-cpu-ms") == 0)
            dst = &min_cpu_ms;
        else if (strcmp(argv[i], "--chunk") == 0) {
            if (i + 1 >= argc)
                return usage();
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1)
                return usage();
            chunk = (size_t)v;
            continue;
        } else if (argv[i][0] == '-' || path)
            return usage();
        else {
            path = argv[i];
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        char *end;
        *dst = strtol(argv[++i], &end, 10);
        if (*end || *dst < 0)
            return usage();
    }
    if (!path)
        return usage();

    size_t flen;
    unsigned char *file = read_all(path, &flen);
    if (!file) {
        fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t n = 0, cap = 16, bytes = 0;
    size_t coll_bytes[SLATE_COLL_COUNT] = {0};
    struct body *b = malloc(cap * sizeof *b);
    for (size_t off = 0; off < flen;) {
        char name[32];
        unsigned long long len;
        int used = 0;
        const char *nl = memchr(file + off, '\n', flen - off);
        if (!nl || sscanf((const char *)file + off, "%31s %llu%n", name, &len, &used) != 2 ||
            (const unsigned char *)nl != file + off + used ||
            len > flen - (size_t)((const unsigned char *)nl + 1 - file)) {
            fprintf(stderr, "floor: %s: bad record header at byte %zu\n", path, off);
            return 1;
        }
        enum slate_collection c;
        if (strcmp(name, "servers") == 0)
            c = SLATE_COLL_SERVERS;
        else if (strcmp(name, "ssh_keys") == 0)
            c = SLATE_COLL_SSH_KEYS;
        else if (strcmp(name, "firewalls") == 0)
            c = SLATE_COLL_FIREWALLS;
        else {
            fprintf(stderr, "floor: %s: unknown collection %s\n", path, name);
            return 1;
        }
        if (n == cap)
            b = realloc(b, (cap *= 2) * sizeof *b);
        if (!b)
            return 1;
        const unsigned char *data = (const unsigned char *)nl + 1;
        b[n++] = (struct body){c, data, (size_t)len};
        bytes += (size_t)len;
        coll_bytes[c] += (size_t)len;
        off = (size_t)(data + len - file);
        if (off < flen && file[off] == '\n')
            off++;
    }
    if (n == 0) {
        fprintf(stderr, "floor: %s: no bodies\n", path);
        return 1;
    }

    struct timing tf, tp;
    size_t parsed_servers = 0;
    if (measure(b, n, (int)reps, (double)min_cpu_ms / 1e3, &tf, &tp, &parsed_servers) != 0) {
        fprintf(stderr, "floor: a body did not parse\n");
        return 1;
    }
    size_t servers = servers_arg >= 0 ? (size_t)servers_arg : parsed_servers;
    double per = servers ? 1e6 / (double)servers : 0;
    double mb = (double)bytes / 1e6;
    printf("%zu bodies, %.2f MB (servers %.2f, ssh_keys %.2f, firewalls %.2f MB), %zu servers, "
           "%.0f bytes of response per server\n",
           n, mb, coll_bytes[0] / 1e6, coll_bytes[1] / 1e6, coll_bytes[2] / 1e6, servers,
           servers ? (double)bytes / (double)servers : 0.0);
    printf("floor (yajl, empty callbacks): %.3f ms a pass (min %.3f, %d passes), %.2f us/server, "
           "%.0f MB/s\n",
           tf.median * 1e3, tf.min * 1e3, tf.passes, tf.median * per, mb / tf.median);
    printf("worker page parser:            %.3f ms a pass (min %.3f, %d passes), %.2f us/server, "
           "%.0f MB/s (%.2fx the floor)\n",
           tp.median * 1e3, tp.min * 1e3, tp.passes, tp.median * per, mb / tp.median,
           tp.median / tf.median);
    printf("FLOOR {\"bodies\":%zu,\"bytes\":%zu,\"servers\":%zu,\"parsed_servers\":%zu,"
           "\"floor_pass_s\":%.9f,\"floor_min_pass_s\":%.9f,\"floor_us_per_server\":%.4f,"
           "\"floor_mb_s\":%.1f,\"parser_pass_s\":%.9f,\"parser_min_pass_s\":%.9f,"
           "\"parser_us_per_server\":%.4f,\"parser_mb_s\":%.1f}\n",
           n, bytes, servers, parsed_servers, tf.median, tf.min, tf.median * per, mb / tf.median,
           tp.median, tp.min, tp.median * per, mb / tp.median);
    free(b);
    free(file);
    return 0;
}

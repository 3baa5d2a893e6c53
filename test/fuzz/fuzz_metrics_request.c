/*
 * fuzz_metrics_request.c: libFuzzer target for the request-head parser of
 * src/metrics/ (the only code that reads bytes from the metrics port).
 *
 * Besides "no crash, no sanitizer report", it checks properties: the answer
 * is 0, 200, 400 or 431; 431 only at the cap and never 0 at the cap; a
 * well-formed head points inside the input with a sane method and a path
 * starting with "/"; and a decision, once made on a prefix, does not change
 * when more bytes arrive (the server answers on the first decision).
 */
#include <stdint.h>
#include <string.h>

#include "../../src/metrics/metrics_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SLATE_METRICS_MAX_REQUEST)
        size = SLATE_METRICS_MAX_REQUEST;
    const char *s = (const char *)data;
    struct slate_metrics_req r;
    int st = slate_metrics_parse_request(s, size, &r);
    must(st == 0 || st == 200 || st == 400 || st == 431);
    must(st != 431 || size >= SLATE_METRICS_MAX_REQUEST);
    must(st != 0 || size < SLATE_METRICS_MAX_REQUEST);
    if (st == 200) {
        must(r.method == s && r.method_len >= 1 && r.method_len <= 16);
        must(r.path > s && r.path + r.path_len <= s + size);
        must(r.path_len >= 1 && r.path[0] == '/');
        must(r.minor_version == 0 || r.minor_version == 1);
    }
    for (size_t k = 0; k < size; k += 1 + size / 8) {
        struct slate_metrics_req p;
        int sp = slate_metrics_parse_request(s, k, &p);
        if (sp == 200 || sp == 400)
            must(sp == st);
    }
    return 0;
}

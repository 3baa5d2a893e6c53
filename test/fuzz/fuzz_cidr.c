/*
 * fuzz_cidr.c: libFuzzer target for the firewall-rule parsers of src/checks/
 * (CIDRs, addresses, ports) and the range merge.
 *
 * Besides "no crash, no sanitizer report", it checks properties: an accepted
 * address is exactly what inet_pton(3) accepts, with the same value; an
 * accepted CIDR is an aligned block of its family; an accepted port range is
 * within 1-65535 and prints back to the input; the input read as a list of
 * CIDRs merges into sorted, disjoint, non-adjacent ranges that cover every
 * input range and nothing between them.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/checks/checks_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 4096
#define MAX_RANGES 64

static void must(int cond)
{
    if (!cond)
        __builtin_trap();
}

static void check_address(const char *s, size_t n)
{
    int family;
    slate_u128 v = 0;
    bool ok = slate_ip_parse(s, n, &family, &v);
    if (memchr(s, '\0', n))
        return;   /* inet_pton reads C strings */
    char cstr[MAX_INPUT + 1];
    memcpy(cstr, s, n);
    cstr[n] = '\0';
    unsigned char b[16];
    int is4 = inet_pton(AF_INET, cstr, b) == 1;
    int is6 = !is4 && inet_pton(AF_INET6, cstr, b) == 1;
    must(ok == (is4 || is6));
    if (!ok)
        return;
    slate_u128 w = 0;
    for (int k = 0; k < (is4 ? 4 : 16); k++)
        w = w << 8 | b[k];
    must(family == (is4 ? 4 : 6));
    must(v == w);
}

static void check_cidr(const char *cstr)
{
    struct slate_ip_range r;
    int prefix;
    if (!slate_cidr_parse(cstr, &r, &prefix))
        return;
    int width = r.family == 4 ? 32 : 128;
    must(r.family == 4 || r.family == 6);
    must(prefix >= 0 && prefix <= width);
    must(r.lo <= r.hi);
    slate_u128 span = r.hi - r.lo;   /* 2^(width-prefix) - 1 */
    must((span & (span + 1)) == 0);
    must((r.lo & span) == 0);
    if (r.family == 4)
        must(r.hi <= 0xffffffffu);
    must(slate_ip_range_at_least(&r, prefix));
    if (prefix > 0)
        must(!slate_ip_range_at_least(&r, prefix - 1));
    /* The address part parses alone, and agrees with inet_pton. */
    const char *slash = strchr(cstr, '/');
    must(slash != NULL);
    check_address(cstr, (size_t)(slash - cstr));
}

static void check_port(const char *cstr)
{
    unsigned lo, hi;
    if (!slate_port_range_parse(cstr, &lo, &hi))
        return;
    must(lo >= 1 && lo <= hi && hi <= 65535);
    if (!strchr(cstr, '-'))
        must(lo == hi || strcmp(cstr, "any") == 0);
    if (strcmp(cstr, "any") == 0)
        return;
    char back[32];
    if (!strchr(cstr, '-'))
        snprintf(back, sizeof back, "%u", lo);
    else
        snprintf(back, sizeof back, "%u-%u", lo, hi);
    must(strcmp(back, cstr) == 0);
}

static void check_merge(char *cstr)
{
    struct slate_ip_range in[MAX_RANGES], out[MAX_RANGES];
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(cstr, " ,\n", &save); t && n < MAX_RANGES;
         t = strtok_r(NULL, " ,\n", &save)) {
        if (slate_cidr_parse(t, &in[n], NULL))
            n++;
    }
    memcpy(out, in, n * sizeof in[0]);
    size_t m = slate_ip_ranges_merge(out, n);
    must(m <= n);
    must((m == 0) == (n == 0));
    for (size_t i = 0; i < m; i++) {
        must(out[i].lo <= out[i].hi);
        if (i > 0 && out[i].family == out[i - 1].family)
            must(out[i].lo > out[i - 1].hi && out[i].lo - out[i - 1].hi >= 2);
        if (i > 0)
            must(out[i].family >= out[i - 1].family);
    }
    /* Every input is inside one merged range; every merged range's ends are
     * an input's ends (nothing is covered that no input covers, since the
     * inputs inside one merged range chain without gaps). */
    for (size_t k = 0; k < n; k++) {
        size_t hits = 0;
        for (size_t i = 0; i < m; i++)
            hits += out[i].family == in[k].family && in[k].lo >= out[i].lo && in[k].hi <= out[i].hi;
        must(hits == 1);
    }
    for (size_t i = 0; i < m; i++) {
        bool lo = false, hi = false;
        for (size_t k = 0; k < n; k++) {
            lo |= in[k].family == out[i].family && in[k].lo == out[i].lo;
            hi |= in[k].family == out[i].family && in[k].hi == out[i].hi;
        }
        must(lo && hi);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    char cstr[MAX_INPUT + 1];
    memcpy(cstr, data, size);
    cstr[size] = '\0';
    check_address((const char *)data, size);
    check_cidr(cstr);
    check_port(cstr);
    check_merge(cstr);
    return 0;
}

/*
 * cidr.c: strict parsers for the CIDRs and ports of Hetzner firewall rules,
 * and the merge of address ranges that lets hetzner.ssh_not_public judge the
 * union of every rule bound to a server instead of one rule at a time.
 *
 * The input is untrusted (the API's bytes, as stored): the parsers accept
 * exactly one spelling per syntax element and reject everything else, so that
 * an address we cannot read becomes an `error` finding, never a silent pass.
 * The address grammar is the one inet_pton(3) implements (the fuzz target
 * checks that they agree); inet_pton itself was not used so that the rules are
 * written down here and do not depend on the libc.
 */
#include <stdlib.h>
#include <string.h>

#include "checks_int.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Dotted-quad IPv4: exactly four octets 0-255, no leading zeros. */
static bool parse_ipv4(const char *s, size_t n, uint32_t *out)
{
    uint32_t addr = 0;
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i > start && s[start] == '0')
                return false;   /* leading zero */
            v = v * 10 + (unsigned)(s[i] - '0');
            if (v > 255)
                return false;
            i++;
        }
        if (i == start)
            return false;
        addr = addr << 8 | v;
    }
    if (i != n)
        return false;
    *out = addr;
    return true;
}

/* RFC 4291 text: eight groups of 1-4 hex digits; one "::" may stand for one
 * or more zero groups; the last 32 bits may be a dotted quad. */
static bool parse_ipv6(const char *s, size_t n, slate_u128 *out)
{
    uint16_t groups[8];
    int ng = 0;          /* groups written */
    int gap = -1;        /* index in groups where "::" stands, or -1 */
    size_t i = 0;

    if (n == 0)
        return false;
    if (s[0] == ':') {
        if (n < 2 || s[1] != ':')
            return false;
        gap = 0;
        i = 2;
    }
    while (i < n) {
        /* One token: hex digits up to ':' or the end, or a dotted quad. */
        size_t start = i;
        unsigned v = 0;
        while (i < n && hex_value(s[i]) >= 0) {
            if (i - start == 4)
                return false;
            v = v << 4 | (unsigned)hex_value(s[i]);
            i++;
        }
        if (i < n && s[i] == '.') {
            uint32_t v4;
            if (ng > 6 || !parse_ipv4(s + start, n - start, &v4))
                return false;
            groups[ng++] = (uint16_t)(v4 >> 16);
            groups[ng++] = (uint16_t)v4;
            i = n;
            break;
        }
        if (i == start)
            return false;   /* an empty group or a stray character */
        if (ng == 8)
            return false;
        groups[ng++] = (uint16_t)v;
        if (i == n)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return false;   /* a second "::" */
            gap = ng;
            i++;
        } else if (i == n) {
            return false;       /* a trailing single ':' */
        }
    }
    if (gap >= 0) {
        if (ng == 8)
            return false;       /* "::" must stand for at least one group */
        int fill = 8 - ng;
        memmove(&groups[gap + fill], &groups[gap], (size_t)(ng - gap) * sizeof groups[0]);
        for (int k = 0; k < fill; k++)
            groups[gap + k] = 0;
        ng = 8;
    }
    if (ng != 8)
        return false;
    slate_u128 a = 0;
    for (int k = 0; k < 8; k++)
        a = a << 16 | groups[k];
    *out = a;
    return true;
}

bool slate_ip_parse(const char *s, size_t n, int *family, slate_u128 *addr)
{
    if (memchr(s, ':', n)) {
        *family = 6;
        return parse_ipv6(s, n, addr);
    }
    uint32_t v4;
    if (!parse_ipv4(s, n, &v4))
        return false;
    *family = 4;
    *addr = v4;
    return true;
}

/* 2^bits - 1, for bits 0-128. */
static slate_u128 low_ones(int bits)
{
    if (bits >= 128)
        return ~(slate_u128)0;
    return ((slate_u128)1 << bits) - 1;
}

bool slate_cidr_parse(const char *s, struct slate_ip_range *out, int *prefix)
{
    size_t n = strnlen(s, SLATE_CIDR_MAX + 1);
    if (n > SLATE_CIDR_MAX)
        return false;
    const char *slash = memchr(s, '/', n);
    if (!slash)
        return false;
    const char *p = slash + 1;
    size_t plen = n - (size_t)(p - s);
    if (plen == 0 || plen > 3 || (plen > 1 && p[0] == '0'))
        return false;
    int len = 0;
    for (size_t k = 0; k < plen; k++) {
        if (p[k] < '0' || p[k] > '9')
            return false;
        len = len * 10 + (p[k] - '0');
    }
    int family;
    slate_u128 addr;
    if (!slate_ip_parse(s, (size_t)(slash - s), &family, &addr))
        return false;
    int width = family == 4 ? 32 : 128;
    if (len > width)
        return false;
    slate_u128 host = low_ones(width - len);
    out->family = family;
    out->lo = addr & ~host;
    out->hi = out->lo | host;
    if (prefix)
        *prefix = len;
    return true;
}

/* A port number: 1-65535, decimal, no leading zeros. */
static bool parse_port(const char *s, size_t n, unsigned *out)
{
    if (n == 0 || n > 5 || s[0] == '0')
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = v;
    return true;
}

bool slate_port_range_parse(const char *s, unsigned *lo, unsigned *hi)
{
    if (!s || strcmp(s, "any") == 0) {
        *lo = 1;
        *hi = 65535;
        return true;
    }
    /* Longest valid form: "65535-65535". */
    size_t n = strnlen(s, 12);
    if (n > 11)
        return false;
    const char *dash = memchr(s, '-', n);
    unsigned a, b;
    if (!dash) {
        if (!parse_port(s, n, &a))
            return false;
        b = a;
    } else if (!parse_port(s, (size_t)(dash - s), &a) ||
               !parse_port(dash + 1, n - (size_t)(dash - s) - 1, &b) || a > b) {
        return false;
    }
    *lo = a;
    *hi = b;
    return true;
}

static int range_cmp(const void *pa, const void *pb)
{
    const struct slate_ip_range *a = pa, *b = pb;
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    return 0;
}

size_t slate_ip_ranges_merge(struct slate_ip_range *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, range_cmp);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        struct slate_ip_range *cur = &v[out];
        /* next.lo > cur.lo >= 0 when it does not overlap, so lo - 1 cannot
         * wrap; cur.hi + 1 could (::/0). */
        if (v[i].family == cur->family && (v[i].lo <= cur->hi || v[i].lo - 1 == cur->hi)) {
            if (v[i].hi > cur->hi)
                cur->hi = v[i].hi;
        } else {
            v[++out] = v[i];
        }
    }
    return out + 1;
}

bool slate_ip_range_at_least(const struct slate_ip_range *r, int prefix)
{
    int width = r->family == 4 ? 32 : 128;
    if (prefix < 0)
        prefix = 0;
    if (prefix > width)
        prefix = width;
    return r->hi - r->lo >= low_ones(width - prefix);
}

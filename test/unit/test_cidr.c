/* test_cidr.c: the CIDR and port parsers and the range merge of src/checks/. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "../../src/checks/checks_int.h"

static slate_u128 u128(uint64_t hi, uint64_t lo)
{
    return (slate_u128)hi << 64 | lo;
}

static const slate_u128 ALL = ~(slate_u128)0;

struct cidr_case {
    const char *s;
    bool ok;
    int family, prefix;
    slate_u128 lo, hi;
};

TEST(cidr_parse_table)
{
    const struct cidr_case cases[] = {
        {"0.0.0.0/0", true, 4, 0, 0, 0xffffffffu},
        {"10.0.0.0/8", true, 4, 8, 0x0a000000u, 0x0affffffu},
        {"10.0.1.1/32", true, 4, 32, 0x0a000101u, 0x0a000101u},
        {"10.0.1.1/24", true, 4, 24, 0x0a000100u, 0x0a0001ffu},    /* host bits masked */
        {"255.255.255.255/32", true, 4, 32, 0xffffffffu, 0xffffffffu},
        {"128.0.0.0/1", true, 4, 1, 0x80000000u, 0xffffffffu},
        {"203.0.113.7/31", true, 4, 31, 0xcb007106u, 0xcb007107u},
        {"::/0", true, 6, 0, 0, ALL},
        {"::1/128", true, 6, 128, 1, 1},
        {"2001:db8::/32", true, 6, 32, u128(0x20010db800000000ull, 0),
         u128(0x20010db8ffffffffull, ~0ull)},
        {"2001:DB8::1/32", true, 6, 32, u128(0x20010db800000000ull, 0),
         u128(0x20010db8ffffffffull, ~0ull)},
        {"8000::/1", true, 6, 1, u128(0x8000000000000000ull, 0), ALL},
        {"1:2:3:4:5:6:7:8/128", true, 6, 128, u128(0x0001000200030004ull, 0x0005000600070008ull),
         u128(0x0001000200030004ull, 0x0005000600070008ull)},
        {"1::/16", true, 6, 16, u128(0x0001000000000000ull, 0), u128(0x0001ffffffffffffull, ~0ull)},
        {"1:2:3:4:5:6:7::/128", true, 6, 128, u128(0x0001000200030004ull, 0x0005000600070000ull),
         u128(0x0001000200030004ull, 0x0005000600070000ull)},
        {"::ffff:10.0.0.1/128", true, 6, 128, u128(0, 0x0000ffff0a000001ull),
         u128(0, 0x0000ffff0a000001ull)},
        {"1:2:3:4:5:6:1.2.3.4/128", true, 6, 128,
         u128(0x0001000200030004ull, 0x0005000601020304ull),
         u128(0x0001000200030004ull, 0x0005000601020304ull)},
        {"fe80::1:2/64", true, 6, 64, u128(0xfe80000000000000ull, 0),
         u128(0xfe80000000000000ull, ~0ull)},

        {"", false, 0, 0, 0, 0},
        {"/", false, 0, 0, 0, 0},
        {"0.0.0.0", false, 0, 0, 0, 0},            /* the prefix is required */
        {"0.0.0.0/", false, 0, 0, 0, 0},
        {"0.0.0.0/33", false, 0, 0, 0, 0},
        {"0.0.0.0/00", false, 0, 0, 0, 0},
        {"0.0.0.0/08", false, 0, 0, 0, 0},
        {"0.0.0.0/-1", false, 0, 0, 0, 0},
        {"0.0.0.0/+8", false, 0, 0, 0, 0},
        {"0.0.0.0/8 ", false, 0, 0, 0, 0},
        {" 0.0.0.0/8", false, 0, 0, 0, 0},
        {"0.0.0.0 /8", false, 0, 0, 0, 0},
        {"0.0.0.0/8/8", false, 0, 0, 0, 0},
        {"0.0.0.0/1000", false, 0, 0, 0, 0},
        {"010.0.0.0/8", false, 0, 0, 0, 0},        /* leading zero: octal to some */
        {"10.0.0.00/8", false, 0, 0, 0, 0},
        {"256.0.0.0/8", false, 0, 0, 0, 0},
        {"10.0.0/8", false, 0, 0, 0, 0},
        {"10.0.0.0.0/8", false, 0, 0, 0, 0},
        {"10.0.0./8", false, 0, 0, 0, 0},
        {".10.0.0.0/8", false, 0, 0, 0, 0},
        {"10..0.0/8", false, 0, 0, 0, 0},
        {"0x0a.0.0.0/8", false, 0, 0, 0, 0},
        {"10/8", false, 0, 0, 0, 0},
        {"any", false, 0, 0, 0, 0},
        {"::/129", false, 0, 0, 0, 0},
        {"::/1280", false, 0, 0, 0, 0},
        {":/0", false, 0, 0, 0, 0},
        {":::/0", false, 0, 0, 0, 0},
        {"1::2::3/128", false, 0, 0, 0, 0},
        {"1:2:3:4:5:6:7:8:9/128", false, 0, 0, 0, 0},
        {"1:2:3:4:5:6:7/128", false, 0, 0, 0, 0},
        {"1:2:3:4:5:6:7:8::/128", false, 0, 0, 0, 0},   /* "::" standing for nothing */
        {"::1:2:3:4:5:6:7:8/128", false, 0, 0, 0, 0},
        {"1:/16", false, 0, 0, 0, 0},
        {":1::/16", false, 0, 0, 0, 0},
        {"12345::/16", false, 0, 0, 0, 0},
        {"g::/16", false, 0, 0, 0, 0},
        {"fe80::1%eth0/64", false, 0, 0, 0, 0},
        {"::ffff:010.0.0.1/128", false, 0, 0, 0, 0},
        {"::ffff:1.2.3/128", false, 0, 0, 0, 0},
        {"1:2:3:4:5:6:7:1.2.3.4/128", false, 0, 0, 0, 0},
        {"1.2.3.4::/128", false, 0, 0, 0, 0},
        {"[::1]/128", false, 0, 0, 0, 0},
        {"0.0.0.0/0\n", false, 0, 0, 0, 0},
        {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128", true, 6, 128, ALL, ALL},
        {"0000:0000:0000:0000:0000:0000:0000:0000/0000", false, 0, 0, 0, 0},
        {"0000:0000:0000:0000:0000:0000:0000:0000/0", true, 6, 0, 0, ALL},
        {"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000/0", false, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct cidr_case *c = &cases[i];
        struct slate_ip_range r;
        int prefix = -1;
        bool ok = slate_cidr_parse(c->s, &r, &prefix);
        if (ok != c->ok)
            fprintf(stderr, "case '%s': ok %d, expected %d\n", c->s, ok, c->ok);
        CHECK(ok == c->ok);
        if (!ok || !c->ok)
            continue;
        CHECK_INT(r.family, c->family);
        CHECK_INT(prefix, c->prefix);
        if (r.lo != c->lo || r.hi != c->hi)
            fprintf(stderr, "case '%s': wrong range\n", c->s);
        CHECK(r.lo == c->lo);
        CHECK(r.hi == c->hi);
    }
}

/* The address grammar is inet_pton's: every address of the table above, and
 * a few more, is accepted by both or by neither, with the same value. */
TEST(ip_parse_agrees_with_inet_pton)
{
    const char *addrs[] = {
        "0.0.0.0", "1.2.3.4", "255.255.255.255", "01.2.3.4", "1.2.3", "1.2.3.4.", "256.1.1.1",
        "1.2.3.04", "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", ":::", ":1::", "1:::2", "1::2::3", "12345::",
        "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
        "1:2:3:4:5::1.2.3.4", "1:2:3:4:5:6::1.2.3.4", "::01.2.3.4", "::a.2.3.4", "::1.2.3.4:5",
        "FFFF::", "fFfF::aBcD", "1:", ":1", "1:2", "", ".", ":", "0:0:0:0:0:0:0:0",
        "::0.0.0.0", "::255.255.255.255", "::1234.1.1.1", "::12.1.1.1", "1::2:3:4:5:6:7",
    };
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        const char *a = addrs[i];
        unsigned char b[16];
        int want4 = inet_pton(AF_INET, a, b);
        int want6 = want4 == 1 ? 0 : inet_pton(AF_INET6, a, b);
        int family = 0;
        slate_u128 v = 0;
        bool ok = slate_ip_parse(a, strlen(a), &family, &v);
        if (ok != (want4 == 1 || want6 == 1))
            fprintf(stderr, "address '%s': ours %d, inet_pton %d/%d\n", a, ok, want4, want6);
        CHECK(ok == (want4 == 1 || want6 == 1));
        if (!ok)
            continue;
        slate_u128 w = 0;
        for (int k = 0; k < (want4 == 1 ? 4 : 16); k++)
            w = w << 8 | b[k];
        CHECK_INT(family, want4 == 1 ? 4 : 6);
        CHECK(v == w);
    }
}

struct port_case {
    const char *s;
    bool ok;
    unsigned lo, hi;
};

TEST(port_range_parse_table)
{
    const struct port_case cases[] = {
        {"22", true, 22, 22},
        {"20-30", true, 20, 30},
        {"any", true, 1, 65535},
        {NULL, true, 1, 65535},
        {"1-65535", true, 1, 65535},
        {"65535", true, 65535, 65535},
        {"1", true, 1, 1},
        {"22-22", true, 22, 22},
        {"65535-65535", true, 65535, 65535},
        {"", false, 0, 0},
        {"0", false, 0, 0},
        {"65536", false, 0, 0},
        {"022", false, 0, 0},
        {"30-20", false, 0, 0},
        {"0-22", false, 0, 0},
        {"22-", false, 0, 0},
        {"-22", false, 0, 0},
        {"20--30", false, 0, 0},
        {"20-30-40", false, 0, 0},
        {" 22", false, 0, 0},
        {"22 ", false, 0, 0},
        {"+22", false, 0, 0},
        {"ANY", false, 0, 0},
        {"any ", false, 0, 0},
        {"ssh", false, 0, 0},
        {"22,80", false, 0, 0},
        {"99999999999999999999", false, 0, 0},
        {"1-655350", false, 0, 0},
        {"0x16", false, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct port_case *c = &cases[i];
        unsigned lo = 0, hi = 0;
        bool ok = slate_port_range_parse(c->s, &lo, &hi);
        if (ok != c->ok)
            fprintf(stderr, "port '%s': ok %d, expected %d\n", c->s ? c->s : "(null)", ok, c->ok);
        CHECK(ok == c->ok);
        if (ok && c->ok) {
            CHECK_INT(lo, c->lo);
            CHECK_INT(hi, c->hi);
        }
    }
}

static struct slate_ip_range R(const char *cidr)
{
    struct slate_ip_range r;
    memset(&r, 0, sizeof r);
    if (!slate_cidr_parse(cidr, &r, NULL))
        fprintf(stderr, "bad test CIDR %s\n", cidr);
    return r;
}

TEST(merge_examples)
{
    struct slate_ip_range v[8];
    /* Two halves of the internet make all of it. */
    v[0] = R("128.0.0.0/1");
    v[1] = R("0.0.0.0/1");
    REQUIRE(slate_ip_ranges_merge(v, 2) == 1);
    CHECK(v[0].lo == 0 && v[0].hi == 0xffffffffu);
    CHECK(slate_ip_range_at_least(&v[0], 0));

    /* Adjacent /9s make a /8; non-adjacent ones do not. */
    v[0] = R("10.128.0.0/9");
    v[1] = R("10.0.0.0/9");
    REQUIRE(slate_ip_ranges_merge(v, 2) == 1);
    CHECK(slate_ip_range_at_least(&v[0], 8));
    CHECK(!slate_ip_range_at_least(&v[0], 7));
    v[0] = R("10.0.0.0/9");
    v[1] = R("11.0.0.0/9");
    REQUIRE(slate_ip_ranges_merge(v, 2) == 2);
    CHECK(!slate_ip_range_at_least(&v[0], 8));
    CHECK(!slate_ip_range_at_least(&v[1], 8));
    CHECK(slate_ip_range_at_least(&v[1], 9));

    /* A /9 ending just before a /9 that starts the next /8 is still one
     * range of a /8's size, though it is no CIDR block. */
    v[0] = R("10.128.0.0/9");
    v[1] = R("11.0.0.0/9");
    REQUIRE(slate_ip_ranges_merge(v, 2) == 1);
    CHECK(slate_ip_range_at_least(&v[0], 8));

    /* Overlaps and duplicates; families never merge with each other. */
    v[0] = R("10.0.0.0/8");
    v[1] = R("10.1.0.0/16");
    v[2] = R("10.0.0.0/8");
    v[3] = R("::/0");
    v[4] = R("0.0.0.0/32");
    v[5] = R("::/128");
    REQUIRE(slate_ip_ranges_merge(v, 6) == 3);
    CHECK(v[0].family == 4 && v[0].lo == 0 && v[0].hi == 0);
    CHECK(v[1].family == 4 && v[1].lo == 0x0a000000u && v[1].hi == 0x0affffffu);
    CHECK(v[2].family == 6 && v[2].lo == 0 && v[2].hi == ALL);
    CHECK(slate_ip_range_at_least(&v[2], 0));
    CHECK(slate_ip_range_at_least(&v[2], 32));

    /* The top of each space, where hi + 1 would wrap. */
    v[0] = R("ffff::/16");
    v[1] = R("ffff:ffff::/32");
    v[2] = R("fffe::/16");
    REQUIRE(slate_ip_ranges_merge(v, 3) == 1);
    CHECK(v[0].hi == ALL);
    CHECK(slate_ip_range_at_least(&v[0], 15));
    CHECK(!slate_ip_range_at_least(&v[0], 14));
    v[0] = R("255.255.255.255/32");
    v[1] = R("0.0.0.0/32");
    REQUIRE(slate_ip_ranges_merge(v, 2) == 2);

    /* IPv6 broad threshold: a /32 is, a /33 is not; two /33s are. */
    v[0] = R("2001:db8::/33");
    REQUIRE(slate_ip_ranges_merge(v, 1) == 1);
    CHECK(!slate_ip_range_at_least(&v[0], 32));
    v[0] = R("2001:db8::/33");
    v[1] = R("2001:db8:8000::/33");
    REQUIRE(slate_ip_ranges_merge(v, 2) == 1);
    CHECK(slate_ip_range_at_least(&v[0], 32));

    /* A /32 office address is one address. */
    v[0] = R("203.0.113.7/32");
    CHECK(slate_ip_range_at_least(&v[0], 32));
    CHECK(!slate_ip_range_at_least(&v[0], 31));
    CHECK(!slate_ip_range_at_least(&v[0], 8));
    /* Out-of-range prefixes are clamped. */
    CHECK(slate_ip_range_at_least(&v[0], 99));
    CHECK(!slate_ip_range_at_least(&v[0], -1));

    CHECK_INT(slate_ip_ranges_merge(v, 0), 0);
}

/* ---- property test: merge against a brute-force bitmap ------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(uint64_t n)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (rng * 2685821657736338717ull) % n;
}

/* A scenario: CIDR strings whose ranges fall on a grid of 256 cells (one
 * cell = 2^shift addresses starting at `base`), so that a 256-bit bitmap is
 * the truth. */
struct scenario {
    const char *name;
    int family;
    int min_prefix, max_prefix;     /* of the generated CIDRs */
    int shift;                      /* log2 of the addresses in one cell */
    slate_u128 base;
    int width;                      /* 32 or 128 */
};

static void make_cidr(const struct scenario *sc, char *buf, size_t n, int *prefix)
{
    *prefix = sc->min_prefix + (int)rnd((uint64_t)(sc->max_prefix - sc->min_prefix + 1));
    /* A random address inside the grid, host bits and all. */
    slate_u128 cell = rnd(256);
    int host_bits = sc->shift > 24 ? 24 : sc->shift;
    slate_u128 addr = sc->base + (cell << sc->shift) + rnd((uint64_t)1 << host_bits);
    if (sc->family == 4) {
        uint32_t a = (uint32_t)addr;
        snprintf(buf, n, "%u.%u.%u.%u/%d", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255, *prefix);
    } else {
        uint16_t g[8];
        for (int k = 0; k < 8; k++)
            g[k] = (uint16_t)(addr >> (112 - 16 * k));
        snprintf(buf, n, "%x:%x:%x:%x:%x:%x:%x:%x/%d", g[0], g[1], g[2], g[3], g[4], g[5], g[6],
                 g[7], *prefix);
    }
}

static void property(const struct scenario *sc, int iterations)
{
    for (int it = 0; it < iterations; it++) {
        struct slate_ip_range v[12];
        bool bit[256] = {0};
        size_t n = 1 + rnd(12);
        for (size_t i = 0; i < n; i++) {
            char buf[80];
            int prefix;
            make_cidr(sc, buf, sizeof buf, &prefix);
            REQUIRE(slate_cidr_parse(buf, &v[i], NULL));
            REQUIRE(v[i].family == sc->family);
            /* Truth: the cells the block covers. */
            slate_u128 first = (v[i].lo - sc->base) >> sc->shift;
            slate_u128 last = (v[i].hi - sc->base) >> sc->shift;
            REQUIRE(first < 256 && last < 256);
            for (slate_u128 c = first; c <= last; c++)
                bit[c] = true;
        }
        size_t m = slate_ip_ranges_merge(v, n);

        /* The runs of the bitmap are exactly the merged ranges, in order. */
        size_t runs = 0, longest = 0;
        for (int c = 0; c < 256;) {
            if (!bit[c]) {
                c++;
                continue;
            }
            int start = c;
            while (c < 256 && bit[c])
                c++;
            REQUIRE(runs < m);
            slate_u128 lo = sc->base + ((slate_u128)start << sc->shift);
            /* At the top of the IPv6 space c << shift wraps to 0, and 0 - 1
             * is the last address, as it should be. */
            slate_u128 hi = sc->base + ((slate_u128)c << sc->shift) - 1;
            CHECK(v[runs].lo == lo);
            CHECK(v[runs].hi == hi);
            if ((size_t)(c - start) > longest)
                longest = (size_t)(c - start);
            runs++;
        }
        CHECK_INT(runs, m);

        /* The largest merged range, and the broad-range verdict for every
         * prefix the grid can express. */
        size_t biggest = 0;
        for (size_t i = 0; i < m; i++) {
            size_t cells = (size_t)(((v[i].hi - v[i].lo) >> sc->shift) + 1);
            if (cells > biggest)
                biggest = cells;
        }
        CHECK_INT(biggest, longest);
        for (int bits = 0; bits <= 8; bits++) {
            int prefix = sc->width - sc->shift - bits;
            bool any = false;
            for (size_t i = 0; i < m; i++)
                any |= slate_ip_range_at_least(&v[i], prefix);
            CHECK(any == (longest >= ((size_t)1 << bits)));
        }
        if (unit_failures)
            return;
    }
}

TEST(merge_property_ipv4_small)
{
    /* /24 ... /32 inside 10.0.0.0/24: one cell per address. */
    const struct scenario sc = {"v4 small", 4, 24, 32, 0, 0x0a000000u, 32};
    property(&sc, 5000);
}

TEST(merge_property_ipv4_top)
{
    /* /0 ... /8 over the whole space: one cell per /8. */
    const struct scenario sc = {"v4 top", 4, 0, 8, 24, 0, 32};
    property(&sc, 5000);
}

TEST(merge_property_ipv6_small)
{
    const struct scenario sc = {"v6 small", 6, 120, 128, 0, u128(0x20010db800000000ull, 0), 128};
    property(&sc, 5000);
}

TEST(merge_property_ipv6_top)
{
    const struct scenario sc = {"v6 top", 6, 0, 8, 120, 0, 128};
    property(&sc, 5000);
}

UNIT_MAIN()

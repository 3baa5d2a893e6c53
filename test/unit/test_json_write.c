/*
 * test_json_write.c: the JSON writers (slate_buf_json_text/_str, the stored
 * records of store_json.c) give exactly the bytes the first, simple writers
 * gave.  The sync counts an asset as changed when its bytes change, so a
 * faster writer must not move one byte.
 *
 * The ref_ functions are those first writers, kept here as the oracle: a
 * UTF-8 check, then per-byte escaping of the string or of its cleaned copy
 * (every byte that does not begin a valid sequence becomes U+FFFD), keys and
 * values appended piece by piece, labels and firewalls sorted with qsort.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slate/alloc.h"
#include "slate/hetzner.h"
#include "slate/model.h"
#include "slate/util.h"
#include "unit.h"

/* --- The oracle. --- */

static bool ref_valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned min;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            min = 0x80;
            c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            min = 0x800;
            c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static void ref_clean(struct slate_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c == 0      ? 0
                     : c < 0x80  ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len && i + len <= n && ref_valid_utf8(s + i, len)) {
            slate_buf_append(b, s + i, len);
            i += len;
        } else {
            slate_buf_append(b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

static void ref_json_str(struct slate_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    slate_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            slate_buf_append(b, s + i, 1);
            continue;
        }
        char esc[7] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        slate_buf_append(b, esc, el);
    }
    slate_buf_append(b, "\"", 1);
}

/* What put_str wrote for s[0..n). */
static void ref_json_text(struct slate_buf *b, const char *s, size_t n)
{
    if (ref_valid_utf8((const unsigned char *)s, n)) {
        ref_json_str(b, s, n);
        return;
    }
    struct slate_buf clean;
    slate_buf_init(&clean);
    ref_clean(&clean, s, n);
    ref_json_str(b, clean.data, clean.len);
    slate_buf_free(&clean);
}

static void ref_put_str(struct slate_buf *b, const char *s)
{
    if (!s)
        slate_buf_append(b, "null", 4);
    else
        ref_json_text(b, s, strlen(s));
}

static void ref_put_key(struct slate_buf *b, const char *key, bool first)
{
    if (!first)
        slate_buf_append(b, ",", 1);
    slate_buf_append(b, "\"", 1);
    slate_buf_append(b, key, strlen(key));
    slate_buf_append(b, "\":", 2);
}

static void ref_put_int(struct slate_buf *b, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    slate_buf_append(b, tmp, (size_t)n);
}

struct ref_label {
    const char *key, *value;
    size_t seq;
};

static int ref_label_cmp(const void *a, const void *b)
{
    const struct ref_label *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void ref_put_labels(struct slate_buf *b, const struct slate_labels *labels)
{
    slate_buf_append(b, "{", 1);
    struct ref_label *v = malloc((labels->n + 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < labels->n; i++) {
        if (labels->v[i].key)
            v[m++] = (struct ref_label){labels->v[i].key, labels->v[i].value, i};
    }
    qsort(v, m, sizeof *v, ref_label_cmp);
    bool first = true;
    for (size_t i = 0; i < m; i++) {
        if (i + 1 < m && strcmp(v[i].key, v[i + 1].key) == 0)
            continue;
        if (!first)
            slate_buf_append(b, ",", 1);
        first = false;
        ref_put_str(b, v[i].key);
        slate_buf_append(b, ":", 1);
        ref_put_str(b, v[i].value ? v[i].value : "");
    }
    free(v);
    slate_buf_append(b, "}", 1);
}

static int ref_binding_cmp(const void *a, const void *b)
{
    const struct slate_fw_binding *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (int)x->status - (int)y->status;
}

static int ref_id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void ref_server_json(const struct slate_server *s, const char *integration,
                            struct slate_buf *out)
{
    char id[256];
    snprintf(id, sizeof id, "hetzner:%.64s:server:%lld", integration ? integration : "",
             (long long)s->id);
    slate_buf_append(out, "{", 1);
    ref_put_key(out, "id", true);
    ref_put_str(out, id);
    ref_put_key(out, "category", false);
    ref_put_str(out, "compute_instance");
    ref_put_key(out, "provider", false);
    ref_put_str(out, "hetzner");
    ref_put_key(out, "integration", false);
    ref_put_str(out, integration);
    ref_put_key(out, "hetzner_id", false);
    ref_put_int(out, s->id);
    ref_put_key(out, "name", false);
    ref_put_str(out, s->name);
    ref_put_key(out, "region", false);
    ref_put_str(out, s->location);
    ref_put_key(out, "instance_type", false);
    ref_put_str(out, s->server_type);
    ref_put_key(out, "status", false);
    ref_put_str(out, s->status);
    ref_put_key(out, "ipv4", false);
    ref_put_str(out, s->ipv4);
    ref_put_key(out, "ipv6", false);
    ref_put_str(out, s->ipv6);
    ref_put_key(out, "labels", false);
    ref_put_labels(out, &s->labels);
    ref_put_key(out, "created", false);
    ref_put_str(out, s->created);
    ref_put_key(out, "firewalls", false);
    slate_buf_append(out, "[", 1);
    struct slate_fw_binding *fw = malloc((s->n_firewalls + 1) * sizeof *fw);
    if (s->n_firewalls)
        memcpy(fw, s->firewalls, s->n_firewalls * sizeof *fw);
    qsort(fw, s->n_firewalls, sizeof *fw, ref_binding_cmp);
    for (size_t i = 0; i < s->n_firewalls; i++) {
        if (i)
            slate_buf_append(out, ",", 1);
        slate_buf_append(out, "{\"id\":", 6);
        ref_put_int(out, fw[i].id);
        const char *st = fw[i].status == SLATE_FW_APPLIED ? ",\"status\":\"applied\"}"
                                                          : ",\"status\":\"pending\"}";
        slate_buf_append(out, st, strlen(st));
    }
    free(fw);
    slate_buf_append(out, "]", 1);
    const char *owner = NULL;
    for (size_t i = s->labels.n; i-- > 0;) {
        if (s->labels.v[i].key && strcmp(s->labels.v[i].key, "owner") == 0) {
            owner = s->labels.v[i].value ? s->labels.v[i].value : "";
            break;
        }
    }
    ref_put_key(out, "owner_label", false);
    ref_put_str(out, owner);
    slate_buf_append(out, "}", 1);
}

static void ref_ssh_key_json(const struct slate_ssh_key *k, struct slate_buf *out)
{
    slate_buf_append(out, "{", 1);
    ref_put_key(out, "name", true);
    ref_put_str(out, k->name);
    ref_put_key(out, "fingerprint", false);
    ref_put_str(out, k->fingerprint);
    ref_put_key(out, "sha256", false);
    ref_put_str(out, k->sha256);
    ref_put_key(out, "key_type", false);
    ref_put_str(out, k->key_type);
    ref_put_key(out, "bits", false);
    if (k->bits < 0)
        slate_buf_append(out, "null", 4);
    else
        ref_put_int(out, k->bits);
    ref_put_key(out, "labels", false);
    ref_put_labels(out, &k->labels);
    ref_put_key(out, "created", false);
    ref_put_str(out, k->created);
    slate_buf_append(out, "}", 1);
}

static void ref_str_array(struct slate_buf *b, char *const *v, size_t n)
{
    slate_buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            slate_buf_append(b, ",", 1);
        ref_put_str(b, v[i]);
    }
    slate_buf_append(b, "]", 1);
}

static void ref_firewall_json(const struct slate_firewall *f, struct slate_buf *out)
{
    slate_buf_append(out, "{", 1);
    ref_put_key(out, "name", true);
    ref_put_str(out, f->name);
    ref_put_key(out, "labels", false);
    ref_put_labels(out, &f->labels);
    ref_put_key(out, "rules", false);
    slate_buf_append(out, "[", 1);
    for (size_t i = 0; i < f->n_rules; i++) {
        const struct slate_fw_rule *r = &f->rules[i];
        if (i)
            slate_buf_append(out, ",", 1);
        slate_buf_append(out, "{", 1);
        ref_put_key(out, "direction", true);
        ref_put_str(out, r->direction);
        ref_put_key(out, "protocol", false);
        ref_put_str(out, r->protocol);
        ref_put_key(out, "port", false);
        ref_put_str(out, r->port);
        ref_put_key(out, "source_ips", false);
        ref_str_array(out, r->source_ips, r->n_source_ips);
        ref_put_key(out, "destination_ips", false);
        ref_str_array(out, r->destination_ips, r->n_destination_ips);
        ref_put_key(out, "description", false);
        ref_put_str(out, r->description);
        slate_buf_append(out, "}", 1);
    }
    slate_buf_append(out, "]", 1);
    ref_put_key(out, "servers", false);
    slate_buf_append(out, "[", 1);
    int64_t *ids = malloc((f->n_servers + 1) * sizeof *ids);
    if (f->n_servers)
        memcpy(ids, f->servers, f->n_servers * sizeof *ids);
    qsort(ids, f->n_servers, sizeof *ids, ref_id_cmp);
    for (size_t i = 0; i < f->n_servers; i++) {
        if (i && ids[i] == ids[i - 1])
            continue;
        if (i)
            slate_buf_append(out, ",", 1);
        ref_put_int(out, ids[i]);
    }
    free(ids);
    slate_buf_append(out, "]", 1);
    slate_buf_append(out, "}", 1);
}

/* --- Inputs. --- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

/* Pieces text is made of: mostly plain ASCII, and every kind of byte the
 * writers treat on its own. */
static const char *const pieces[] = {
    "a", "b", "Z", "0", "-", ".", ":", "/", " ", "~", "\x7f", "hetzner", "my-server-01",
    "2016-01-30T23:55:00Z", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f",
    "\xc3\xa9", "\xc2\x80", "\xdf\xbf", "\xe2\x82\xac", "\xe0\xa0\x80", "\xef\xbf\xbf",
    "\xed\x9f\xbf", "\xee\x80\x80", "\xf0\x90\x80\x80", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
    "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf", "\xf0\x80\x80\xaf",
    "\xf0\x8f\xbf\xbf",                                           /* overlong */
    "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80",   /* surrogates */
    "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf",   /* > U+10FFFF */
    "\xc3", "\xe2\x82", "\xe2", "\xf0\x9f\x98", "\xf0\x9f", "\xf0", /* truncated */
    "\x80", "\xbf", "\xc0", "\xf8", "\xfc", "\xfe", "\xff",       /* lone bytes */
    "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80",           /* 5 and 6 bytes */
};
#define N_PIECES (sizeof pieces / sizeof pieces[0])

/* Random text of up to max pieces into buf (NUL-terminated); its length. */
static size_t rnd_text(char *buf, size_t cap, size_t max)
{
    size_t n = 0, k = rnd_below(max + 1);
    for (size_t i = 0; i < k; i++) {
        /* Plain ASCII half of the time, so that long plain runs occur. */
        const char *p = rnd_below(2) ? pieces[rnd_below(12)] : pieces[rnd_below(N_PIECES)];
        size_t l = strlen(p);
        if (n + l + 1 > cap)
            break;
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = '\0';
    return n;
}

/* Text (or sometimes NULL) in the arena. */
static char *rnd_str(struct slate_arena *a, size_t max)
{
    if (rnd_below(10) == 0)
        return NULL;
    char buf[512];
    size_t n = rnd_text(buf, sizeof buf, max);
    return slate_arena_strndup(a, buf, n);
}

static bool same(const struct slate_buf *got, const struct slate_buf *want)
{
    return got->len == want->len && memcmp(got->data, want->data, got->len) == 0 &&
           got->data[got->len] == '\0';
}

/* Appends s[0..n) with both writers after the same prefix into fresh
 * buffers (so that growth is exercised from every size); false if they
 * differ. */
static bool text_matches(const char *s, size_t n, size_t prefix)
{
    struct slate_buf got, want;
    slate_buf_init(&got);
    slate_buf_init(&want);
    for (size_t i = 0; i < prefix; i++) {
        slate_buf_append(&got, "x", 1);
        slate_buf_append(&want, "x", 1);
    }
    slate_buf_json_text(&got, s, n);
    ref_json_text(&want, s, n);
    /* With a NUL, the first writers made it U+FFFD when the string was
     * invalid elsewhere, "\u0000" when not; put_str never has a NUL. */
    bool ok = same(&got, &want) || memchr(s, '\0', n);
    slate_buf_reset(&got);
    slate_buf_reset(&want);
    slate_buf_json_str(&got, s, n);
    ref_json_str(&want, s, n);
    ok = ok && same(&got, &want);
    ok = ok && slate_valid_utf8(s, n) == ref_valid_utf8((const unsigned char *)s, n);
    if (!ok) {
        fprintf(stderr, "differs for %zu bytes:", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %02x", (unsigned char)s[i]);
        fprintf(stderr, "\n");
    }
    slate_buf_free(&got);
    slate_buf_free(&want);
    return ok;
}

/* --- Tests. --- */

TEST(json_text_cases)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
#define C(in, out) {in, sizeof(in) - 1, out}
        C("", "\"\""),
        C("plain", "\"plain\""),
        C("exactly8", "\"exactly8\""),
        C("a\"b\\c\n\r\t\b\f\x01\x1f\x7f",
          "\"a\\\"b\\\\c\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\x7f\""),
        C("a\0b", "\"a\\u0000b\""),
        C("\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\""),
        C("\xe2\x82\xac \xf0\x9f\x98\x80", "\"\xe2\x82\xac \xf0\x9f\x98\x80\""),
        C("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""),
        /* Every byte that does not begin a valid sequence is one U+FFFD. */
        C("\xff", "\"\xef\xbf\xbd\""),
        C("\x80", "\"\xef\xbf\xbd\""),
        C("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""),
        C("\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
        C("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
        C("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
        C("\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\""),
        C("\xe2\x82x", "\"\xef\xbf\xbd\xef\xbf\xbdx\""),
        C("ok \xf0\x9f\x98", "\"ok \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
        C("\xc3\xa9\xff\"", "\"\xc3\xa9\xef\xbf\xbd\\\"\""),
        C("abcdefgh\xffijklmnop", "\"abcdefgh\xef\xbf\xbdijklmnop\""),
        C("abcdefghij\x01", "\"abcdefghij\\u0001\""),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct slate_buf b;
        slate_buf_init(&b);
        slate_buf_json_text(&b, cases[i].in, cases[i].n);
        CHECK_STR(b.data, cases[i].out);
        CHECK_INT(b.len, strlen(cases[i].out));
        slate_buf_free(&b);
        CHECK(text_matches(cases[i].in, cases[i].n, 0));
    }
    /* The writer without the UTF-8 check copies bytes >= 0x80. */
    struct slate_buf b;
    slate_buf_init(&b);
    slate_buf_json_str(&b, "\xff\xc0\xaf\"", 4);
    CHECK_STR(b.data, "\"\xff\xc0\xaf\\\"\"");
    slate_buf_free(&b);
}

TEST(json_text_every_short_string)
{
    /* Every string of 1 and 2 bytes, and of 3 bytes from the bytes that
     * matter, at every offset from a word boundary (a plain prefix). */
    static const unsigned char interesting[] = {
        0x00, 0x01, 0x08, 0x0a, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x41, 0x5b, 0x5c, 0x5d, 0x7e,
        0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
        0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfb, 0xfc, 0xfe,
        0xff,
    };
    const size_t ni = sizeof interesting;
    char s[32];
    int bad = 0;
    for (size_t pre = 0; pre < 10 && !bad; pre++) {
        memset(s, 'p', pre);
        for (unsigned a = 0; a < 256; a++) {
            s[pre] = (char)a;
            bad += !text_matches(s, pre + 1, pre);
            for (unsigned b = 0; b < 256; b++) {
                s[pre + 1] = (char)b;
                bad += !text_matches(s, pre + 2, 0);
            }
        }
        for (size_t a = 0; a < ni; a++)
            for (size_t b = 0; b < ni; b++)
                for (size_t c = 0; c < ni; c++) {
                    s[pre] = (char)interesting[a];
                    s[pre + 1] = (char)interesting[b];
                    s[pre + 2] = (char)interesting[c];
                    bad += !text_matches(s, pre + 3, 1);
                    /* And followed by a plain tail. */
                    memset(s + pre + 3, 'q', 6);
                    bad += !text_matches(s, pre + 9, 0);
                }
    }
    CHECK_INT(bad, 0);
}

TEST(json_text_random_strings)
{
    char s[512];
    int bad = 0;
    for (int i = 0; i < 100000 && bad < 5; i++) {
        size_t n = rnd_text(s, sizeof s, 40);
        bad += !text_matches(s, n, rnd_below(40));
    }
    CHECK_INT(bad, 0);
    /* Growth from small buffers when nearly every byte expands. */
    memset(s, 1, 300);
    CHECK(text_matches(s, 300, 3));
    memset(s, 0xff, 300);
    CHECK(text_matches(s, 300, 5));
    for (int i = 0; i < 300; i++)
        s[i] = (char)(i % 3 ? 0xe9 : '"');
    CHECK(text_matches(s, 300, 0));
}

TEST(buffer_int_is_printf)
{
    struct slate_buf b;
    slate_buf_init(&b);
    char want[32];
    int64_t v = 1;
    for (int i = 0; i < 19; i++) {
        /* 99..9 of each length (the largest 19-digit one is INT64_MAX's). */
        const int64_t nines = i < 18 ? v * 9 + (v - 1) : INT64_MAX;
        const int64_t vals[] = {v - 1, v, v + 1, -v, -v + 1, v * 5, nines, -nines};
        for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
            slate_buf_reset(&b);
            slate_buf_int(&b, vals[k]);
            snprintf(want, sizeof want, "%lld", (long long)vals[k]);
            CHECK_STR(b.data, want);
        }
        if (i < 18)
            v *= 10;
    }
    for (int i = 0; i < 10000; i++) {
        int64_t r = (int64_t)(rnd() >> rnd_below(64));
        slate_buf_reset(&b);
        slate_buf_int(&b, r);
        snprintf(want, sizeof want, "%lld", (long long)r);
        CHECK_STR(b.data, want);
    }
    slate_buf_free(&b);
}

static const char *const label_keys[] = {"owner", "o", "env", "a", "b", "", "owner2", "k\xff",
                                          "x\"y", "env"};

static struct slate_labels rnd_labels(struct slate_arena *a)
{
    /* Up to 40 labels: both the small (on the stack) and the qsort paths,
     * with repeated keys, NULL keys and NULL values. */
    size_t n = rnd_below(4) ? rnd_below(6) : rnd_below(41);
    struct slate_label *v = slate_arena_alloc(a, (n + 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        if (rnd_below(20) == 0) {
            v[i].key = NULL;
        } else if (rnd_below(2)) {
            v[i].key = (char *)label_keys[rnd_below(sizeof label_keys / sizeof label_keys[0])];
        } else {
            char k[16];
            snprintf(k, sizeof k, "k%02zu", rnd_below(30));
            v[i].key = slate_arena_strdup(a, k);
        }
        v[i].value = rnd_str(a, 6);
    }
    return (struct slate_labels){v, n};
}

static char **rnd_strs(struct slate_arena *a, size_t *n)
{
    *n = rnd_below(4);
    char **v = slate_arena_alloc(a, (*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = rnd_str(a, 4);
    return v;
}

TEST(records_match_the_first_writers)
{
    struct slate_buf got, want;
    slate_buf_init(&got);
    slate_buf_init(&want);
    static const char *const integrations[] = {
        "hz-prod", "", "i\xff", NULL,
        "a-very-long-integration-name-that-is-longer-than-the-64-bytes-an-id-can-have"};
    int bad = 0;
    for (int round = 0; round < 3000 && bad < 3; round++) {
        struct slate_arena a;
        slate_arena_init(&a);
        struct slate_server s = {0};
        s.id = rnd_below(8) ? (int64_t)rnd_below(100000000) : (int64_t)rnd();
        s.name = rnd_str(&a, 20);
        s.status = rnd_str(&a, 3);
        s.created = rnd_str(&a, 3);
        s.location = rnd_str(&a, 3);
        s.server_type = rnd_str(&a, 3);
        s.ipv4 = rnd_str(&a, 3);
        s.ipv6 = rnd_str(&a, 8);
        s.labels = rnd_labels(&a);
        s.n_firewalls = rnd_below(4) ? rnd_below(4) : rnd_below(40);
        s.firewalls = slate_arena_alloc(&a, (s.n_firewalls + 1) * sizeof *s.firewalls);
        for (size_t i = 0; i < s.n_firewalls; i++) {
            s.firewalls[i].id = (int64_t)rnd_below(20) - 2;
            s.firewalls[i].status = rnd_below(2) ? SLATE_FW_APPLIED : SLATE_FW_PENDING;
        }
        const char *integration = integrations[rnd_below(5)];
        slate_buf_reset(&got);
        slate_buf_reset(&want);
        slate_server_asset_json(&s, integration, &got);
        ref_server_json(&s, integration, &want);
        if (!same(&got, &want)) {
            bad++;
            CHECK_STR(got.data, want.data);
        }

        struct slate_ssh_key k = {0};
        k.name = rnd_str(&a, 5);
        k.fingerprint = rnd_str(&a, 5);
        k.sha256 = rnd_str(&a, 5);
        k.key_type = rnd_str(&a, 2);
        k.bits = rnd_below(3) == 0 ? -1 : rnd_below(10) == 0 ? INT_MAX : (int)rnd_below(20000);
        k.labels = rnd_labels(&a);
        k.created = rnd_str(&a, 3);
        slate_buf_reset(&got);
        slate_buf_reset(&want);
        slate_ssh_key_json(&k, &got);
        ref_ssh_key_json(&k, &want);
        if (!same(&got, &want)) {
            bad++;
            CHECK_STR(got.data, want.data);
        }

        struct slate_firewall f = {0};
        f.name = rnd_str(&a, 5);
        f.labels = rnd_labels(&a);
        f.n_rules = rnd_below(4);
        f.rules = slate_arena_alloc(&a, (f.n_rules + 1) * sizeof *f.rules);
        for (size_t i = 0; i < f.n_rules; i++) {
            struct slate_fw_rule *r = &f.rules[i];
            r->direction = rnd_str(&a, 2);
            r->protocol = rnd_str(&a, 2);
            r->port = rnd_str(&a, 2);
            r->source_ips = rnd_strs(&a, &r->n_source_ips);
            r->destination_ips = rnd_strs(&a, &r->n_destination_ips);
            r->description = rnd_str(&a, 10);
        }
        f.n_servers = rnd_below(10);
        f.servers = slate_arena_alloc(&a, (f.n_servers + 1) * sizeof *f.servers);
        for (size_t i = 0; i < f.n_servers; i++)
            f.servers[i] = (int64_t)rnd_below(8) - 1;
        slate_buf_reset(&got);
        slate_buf_reset(&want);
        slate_firewall_json(&f, &got);
        ref_firewall_json(&f, &want);
        if (!same(&got, &want)) {
            bad++;
            CHECK_STR(got.data, want.data);
        }
        slate_arena_free(&a);
    }
    CHECK_INT(bad, 0);
    slate_buf_free(&got);
    slate_buf_free(&want);
}

TEST(asset_id_length)
{
    char id[SLATE_ASSET_ID_MAX];
    CHECK_INT(slate_asset_id(id, "hz-prod", 4711), strlen("hetzner:hz-prod:server:4711"));
    CHECK_INT(slate_asset_id(id, "", -1), strlen(id));
    char longest[80];
    memset(longest, 'a', 79);
    longest[79] = '\0';
    CHECK_INT(slate_asset_id(id, longest, INT64_MIN), 8 + 64 + 8 + 20);
    CHECK_INT(strlen(id), 8 + 64 + 8 + 20);
}

UNIT_MAIN()

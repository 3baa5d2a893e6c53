/*
 * projects.c - the projects file, runtime knobs and the token bucket.
 *
 * File format: one project per line, words `key=value` separated by blanks;
 * a word starting with '#' starts a comment.  Spec keys (what the data looks
 * like) are read once; knob keys (faults, limits, version) may also be set
 * at run time through POST /_fake/projects/NAME, which goes through
 * project_apply_words() and applies all of its words or none.
 *
 * Token bucket: capacity `limit`, refilled continuously at limit/3600 per
 * second, one token per authenticated /v1 request.
 */
#include "fake.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNT 1000000000L

const struct api_error api_errors[] = {
    { "unauthorized", 401, "unauthorized", "unable to authenticate", "null" },
    { "token_readonly", 401, "token_readonly",
      "The token is only allowed to perform GET requests", "null" },
    { "forbidden", 403, "forbidden",
      "Insufficient permissions for this request", "null" },
    { "maintenance", 403, "maintenance",
      "Cannot perform operation due to maintenance", "null" },
    { "not_found", 404, "not_found", "Entity not found", "null" },
    { "conflict", 409, "conflict",
      "The resource has changed during the request, please retry", "null" },
    { "deprecated_api_endpoint", 410, "deprecated_api_endpoint",
      "API functionality was removed",
      "{\"announcement\":\"https://docs.hetzner.cloud/changelog#2023-07-20-foo-endpoint-is-deprecated\"}" },
    { "invalid_input", 422, "invalid_input",
      "invalid input in field 'broken_field': is too long",
      "{\"fields\":[{\"name\":\"broken_field\",\"messages\":[\"is too long\"]}]}" },
    { "rate_limit_exceeded", 429, "rate_limit_exceeded", NULL, "null" },
    { "server_error", 500, "server_error", "Error within a service", "null" },
    { "bad_gateway", 502, "bad_gateway", "bad gateway", "null" },
    { "unavailable", 503, "unavailable",
      "A service or product is currently not available", "null" },
    { "timeout", 504, "timeout", "gateway timeout", "null" },
};
const size_t n_api_errors = sizeof api_errors / sizeof api_errors[0];

int api_error_index(const char *code)
{
    for (size_t i = 0; i < n_api_errors; i++)
        if (strcmp(api_errors[i].code, code) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------- knobs */

static void knobs_default(struct knobs *k)
{
    memset(k, 0, sizeof *k);
    k->limit = 3600;
    k->fail_status = -1;
    k->stall_ms = 600000;
    k->deep_depth = 10000;
    k->huge_mb = 100;
    k->fault_path = FAULT_PATH_ANY;
    k->version = 1;
}

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

/* fail=STATUS:COUNT or fail=NAME:COUNT ("fail=none" clears). */
static int parse_fail(const char *v, struct knobs *k, char *err, size_t errlen)
{
    if (strcmp(v, "none") == 0 || strcmp(v, "0") == 0) {
        k->fail_status = -1;
        k->fail_count = 0;
        return 0;
    }
    const char *colon = strchr(v, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "fail wants STATUS:COUNT, e.g. fail=503:2");
        return -1;
    }
    char what[40];
    size_t wl = (size_t)(colon - v);
    if (wl == 0 || wl >= sizeof what) {
        snprintf(err, errlen, "fail: bad status");
        return -1;
    }
    memcpy(what, v, wl);
    what[wl] = '\0';
    long count;
    if (parse_long(colon + 1, 0, MAX_COUNT, &count) != 0) {
        snprintf(err, errlen, "fail: bad count");
        return -1;
    }
    int idx = -1;
    long status;
    if (parse_long(what, 100, 599, &status) == 0) {
        for (size_t i = 0; i < n_api_errors && idx < 0; i++)
            if (api_errors[i].status == status &&
                strcmp(api_errors[i].code, "token_readonly") != 0 &&
                strcmp(api_errors[i].code, "maintenance") != 0)
                idx = (int)i;
    } else {
        idx = api_error_index(what);
    }
    if (idx < 0) {
        snprintf(err, errlen, "fail: unknown status or code \"%s\"", what);
        return -1;
    }
    k->fail_status = idx;
    k->fail_count = count;
    return 0;
}

/* Applies one knob.  Returns 0 if applied, 1 if key is not a knob, -1 if
 * the value is bad.  *remaining is set for ratelimit_remaining (else left). */
static int apply_knob(struct knobs *k, const char *key, const char *v,
                      long *remaining, char *err, size_t errlen)
{
    struct {
        const char *name;
        long *field;
        long min, max;
    } nums[] = {
        { "limit", &k->limit, 1, MAX_COUNT },
        { "latency_ms", &k->latency_ms, 0, 3600000 },
        { "html502", &k->html502, 0, MAX_COUNT },
        { "stall", &k->stall, 0, MAX_COUNT },
        { "stall_ms", &k->stall_ms, 0, 86400000 },
        { "truncate", &k->truncate, 0, MAX_COUNT },
        { "malformed", &k->malformed, 0, MAX_COUNT },
        { "deep", &k->deep, 0, MAX_COUNT },
        { "deep_depth", &k->deep_depth, 1, 10000000 },
        { "huge", &k->huge, 0, MAX_COUNT },
        { "huge_mb", &k->huge_mb, 1, 1000000 },
        { "fault_page", &k->fault_page, 0, MAX_COUNT },
        { "retry_after", &k->retry_after, 0, 86400 },
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(key, nums[i].name) != 0)
            continue;
        if (parse_long(v, nums[i].min, nums[i].max, nums[i].field) != 0) {
            snprintf(err, errlen, "%s wants an integer in [%ld, %ld]", key,
                     nums[i].min, nums[i].max);
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "ratelimit_remaining") == 0) {
        if (parse_long(v, 0, MAX_COUNT, remaining) != 0) {
            snprintf(err, errlen, "ratelimit_remaining wants an integer >= 0");
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "fail") == 0)
        return parse_fail(v, k, err, errlen);
    if (strcmp(key, "huge_length") == 0 || strcmp(key, "null_totals") == 0) {
        bool *f = key[0] == 'h' ? &k->huge_length : &k->null_totals;
        if (parse_bool(v, f) != 0) {
            snprintf(err, errlen, "%s wants 0 or 1", key);
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "fault_path") == 0) {
        if (strcmp(v, "any") == 0) {
            k->fault_path = FAULT_PATH_ANY;
            return 0;
        }
        for (int r = 0; r < RES__COUNT; r++) {
            if (strcmp(v, resource_plural[r]) == 0) {
                k->fault_path = r;
                return 0;
            }
        }
        snprintf(err, errlen, "fault_path wants servers, ssh_keys, firewalls or any");
        return -1;
    }
    if (strcmp(key, "version") == 0) {
        long ver;
        if (parse_long(v, 1, 2, &ver) != 0) {
            snprintf(err, errlen, "version wants 1 or 2");
            return -1;
        }
        k->version = (int)ver;
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------- bucket */

static void bucket_refill(struct project *p, double now)
{
    double rate = (double)p->knobs.limit / 3600.0;
    if (now > p->last) {
        p->level += (now - p->last) * rate;
        if (p->level > (double)p->knobs.limit)
            p->level = (double)p->knobs.limit;
    }
    p->last = now;
}

bool bucket_take(struct project *p, double now_mono, double now_wall,
                 long *limit, long *remaining, int64_t *reset)
{
    bucket_refill(p, now_mono);
    bool ok = p->level >= 1.0;
    if (ok)
        p->level -= 1.0;
    double lim = (double)p->knobs.limit;
    *limit = p->knobs.limit;
    *remaining = (long)floor(p->level);
    double rate = lim / 3600.0;
    *reset = (int64_t)ceil(now_wall + (lim - p->level) / rate);
    return ok;
}

/* ------------------------------------------------------ admin words */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes); -1 if too long or bad. */
static int url_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
            hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int project_apply_words(struct project *p, const char *text, size_t len,
                        char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    bucket_refill(p, mono_now());
    struct knobs k = p->knobs;
    long remaining = -1;
    size_t i = 0;
    while (i < len && rc == 0) {
        while (i < len && (isspace((unsigned char)text[i]) || text[i] == '&'))
            i++;
        size_t start = i;
        while (i < len && !isspace((unsigned char)text[i]) && text[i] != '&')
            i++;
        if (i == start)
            break;
        char word[512];
        if (url_decode(text + start, i - start, word, sizeof word) != 0) {
            snprintf(err, errlen, "word too long");
            rc = -1;
            break;
        }
        char *eq = strchr(word, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "\"%.60s\" is not key=value", word);
            rc = -1;
            break;
        }
        *eq = '\0';
        int r = apply_knob(&k, word, eq + 1, &remaining, err, errlen);
        if (r == 1) {
            snprintf(err, errlen, "\"%.60s\" is not a runtime knob", word);
            rc = -1;
        } else if (r < 0) {
            rc = -1;
        }
    }
    if (rc == 0 && k.version == 2 && !p->generated && p->hand[1] == NULL) {
        snprintf(err, errlen, "project %s has no version2 file", p->name);
        rc = -1;
    }
    if (rc == 0) {
        p->knobs = k;
        if (remaining >= 0)
            p->level = (double)remaining;
        if (p->level > (double)k.limit)
            p->level = (double)k.limit;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void project_to_json(struct project *p, struct buf *b)
{
    pthread_mutex_lock(&p->mu);
    bucket_refill(p, mono_now());
    struct knobs k = p->knobs;
    double level = p->level;
    pthread_mutex_unlock(&p->mu);

    buf_str(b, "{\"project\":");
    buf_json_str(b, p->name);
    buf_str(b, ",\"generated\":");
    buf_str(b, p->generated ? "true" : "false");
    buf_str(b, ",\"version\":");
    buf_i64(b, k.version);
    buf_str(b, ",\"counts\":{");
    for (int r = 0; r < RES__COUNT; r++) {
        buf_printf(b, "%s\"%s\":%zu", r ? "," : "", resource_plural[r],
                   data_count(p, k.version, (enum resource)r));
    }
    buf_printf(b, "},\"limit\":%ld,\"ratelimit_remaining\":%ld,"
                  "\"latency_ms\":%ld,\"fail\":",
               k.limit, (long)floor(level), k.latency_ms);
    if (k.fail_status >= 0 && k.fail_count > 0)
        buf_printf(b, "\"%s:%ld\"", api_errors[k.fail_status].code, k.fail_count);
    else
        buf_str(b, "null");
    buf_printf(b, ",\"fail_status\":%d,\"fail_count\":%ld,\"html502\":%ld,"
                  "\"stall\":%ld,\"stall_ms\":%ld,\"truncate\":%ld,"
                  "\"malformed\":%ld,\"deep\":%ld,\"deep_depth\":%ld,"
                  "\"huge\":%ld,\"huge_mb\":%ld,\"huge_length\":%s,"
                  "\"fault_path\":\"%s\",\"fault_page\":%ld,"
                  "\"null_totals\":%s,\"retry_after\":%ld}",
               k.fail_status >= 0 ? api_errors[k.fail_status].status : 0,
               k.fail_status >= 0 ? k.fail_count : 0, k.html502, k.stall,
               k.stall_ms, k.truncate, k.malformed, k.deep, k.deep_depth,
               k.huge, k.huge_mb, k.huge_length ? "true" : "false",
               k.fault_path == FAULT_PATH_ANY ? "any" : resource_plural[k.fault_path],
               k.fault_page, k.null_totals ? "true" : "false", k.retry_after);
}

/* ------------------------------------------------------ file parser */

static void project_free(struct project *p)
{
    if (p == NULL)
        return;
    cache_free(p);
    free(p->name);
    free(p->token);
    for (int v = 0; v < 2; v++) {
        hand_free(p->hand[v]);
        free(p->file_path[v]);
    }
    for (size_t i = 0; i < p->gen.nlabels; i++) {
        free((char *)p->gen.labels[i].key);
        free((char *)p->gen.labels[i].value);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static bool header_safe(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    return true;
}

static bool name_safe(const char *s)
{
    if (*s == '\0' || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* labels=k:v,k2:v2 (a value may be empty). */
static int parse_labels(struct gen_spec *g, const char *v, char *err, size_t errlen)
{
    const char *s = v;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        const char *colon = memchr(s, ':', n);
        if (colon == NULL || colon == s) {
            snprintf(err, errlen, "labels wants key:value,key:value");
            return -1;
        }
        if (g->nlabels >= MAX_PROJECT_LABELS) {
            snprintf(err, errlen, "at most %d labels", MAX_PROJECT_LABELS);
            return -1;
        }
        for (size_t i = 0; i < g->nlabels; i++) {
            if (strlen(g->labels[i].key) == (size_t)(colon - s) &&
                memcmp(g->labels[i].key, s, (size_t)(colon - s)) == 0) {
                snprintf(err, errlen, "label key given twice");
                return -1;
            }
        }
        char *k = xstrndup(s, (size_t)(colon - s));
        char *val = xstrndup(colon + 1, n - (size_t)(colon - s) - 1);
        if (k == NULL || val == NULL) {
            free(k);
            free(val);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        g->labels[g->nlabels++] = (struct label){ k, val };
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

static int parse_shapes(struct gen_spec *g, const char *v, char *err, size_t errlen)
{
    g->nshapes = 0;
    if (strcmp(v, "mixed") == 0) {
        for (int i = 0; i < SHAPE_NONE; i++)
            g->shapes[g->nshapes++] = (enum rule_shape)i;
        return 0;
    }
    const char *s = v;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (g->nshapes >= MAX_SHAPES || !shape_from_name(s, n, &g->shapes[g->nshapes])) {
            snprintf(err, errlen, "rules wants mixed or a list of ssh_open, "
                     "ssh_office, web_only, wide_open, db_internal, none");
            return -1;
        }
        g->nshapes++;
        s += n;
        if (*s == ',')
            s++;
    }
    if (g->nshapes == 0) {
        snprintf(err, errlen, "rules is empty");
        return -1;
    }
    return 0;
}

static int parse_key_types(struct gen_spec *g, const char *v, char *err,
                           size_t errlen)
{
    g->nkey_types = 0;
    const char *s = v;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char w[32];
        if (n == 0 || n >= sizeof w || g->nkey_types >= MAX_KEY_TYPES)
            goto bad;
        memcpy(w, s, n);
        w[n] = '\0';
        struct key_type kt;
        long bits;
        if (strcmp(w, "ed25519") == 0) {
            kt = (struct key_type){ KEY_ED25519, 256 };
        } else if (strncmp(w, "rsa", 3) == 0 &&
                   parse_long(w + 3, 1024, 8192, &bits) == 0 && bits % 8 == 0) {
            kt = (struct key_type){ KEY_RSA, (int)bits };
        } else if (strncmp(w, "ecdsa", 5) == 0 &&
                   parse_long(w + 5, 256, 521, &bits) == 0 &&
                   (bits == 256 || bits == 384 || bits == 521)) {
            kt = (struct key_type){ KEY_ECDSA, (int)bits };
        } else {
            goto bad;
        }
        g->key_types[g->nkey_types++] = kt;
        s += n;
        if (*s == ',')
            s++;
    }
    if (g->nkey_types > 0)
        return 0;
bad:
    snprintf(err, errlen, "key_types wants a list of ed25519, rsaBITS "
             "(1024-8192), ecdsa256, ecdsa384, ecdsa521");
    return -1;
}

/* Resolves path relative to the directory of the projects file. */
static char *resolve_path(const char *projects_path, const char *v)
{
    if (v[0] == '/')
        return xstrdup(v);
    const char *slash = strrchr(projects_path, '/');
    if (slash == NULL)
        return xstrdup(v);
    struct buf b;
    buf_init(&b);
    buf_mem(&b, projects_path, (size_t)(slash - projects_path) + 1);
    buf_str(&b, v);
    return buf_take(&b, NULL);
}

struct spec_seen {
    bool any_gen;       /* a generation key was given */
    long v2_remove, v2_add, v2_change;      /* -1 = default */
    long remaining;
};

static int apply_spec(struct project *p, struct spec_seen *seen,
                      const char *projects_path, const char *key,
                      const char *v, char *err, size_t errlen)
{
    struct gen_spec *g = &p->gen;
    struct {
        const char *name;
        long *field;
        long min, max;
    } nums[] = {
        { "servers", &g->servers, 0, 500000 },
        { "ssh_keys", &g->ssh_keys, 0, 199998 },
        { "firewalls", &g->firewalls, 0, 100000 },
        { "pending", &g->pending, 0, 500000 },
        { "private", &g->private_n, 0, 500000 },
        { "unbound", &g->unbound, 0, 500000 },
        { "ipv6_only", &g->ipv6_only, 0, 500000 },
        { "v2_remove", &seen->v2_remove, 0, 500000 },
        { "v2_add", &seen->v2_add, 0, 99999 },
        { "v2_change", &seen->v2_change, 0, 500000 },
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(key, nums[i].name) != 0)
            continue;
        if (parse_long(v, nums[i].min, nums[i].max, nums[i].field) != 0) {
            snprintf(err, errlen, "%s wants an integer in [%ld, %ld]", key,
                     nums[i].min, nums[i].max);
            return -1;
        }
        seen->any_gen = true;
        return 0;
    }
    if (strcmp(key, "project") == 0) {
        if (p->name != NULL || !name_safe(v)) {
            snprintf(err, errlen, "project= given twice or not [A-Za-z0-9._-]{1,63}");
            return -1;
        }
        p->name = xstrdup(v);
        return p->name ? 0 : -1;
    }
    if (strcmp(key, "token") == 0) {
        if (p->token != NULL || !header_safe(v) || strlen(v) > 256) {
            snprintf(err, errlen, "token= given twice or not printable ASCII "
                     "without blanks (at most 256 characters)");
            return -1;
        }
        p->token = xstrdup(v);
        return p->token ? 0 : -1;
    }
    if (strcmp(key, "file") == 0 || strcmp(key, "version2") == 0) {
        int ver = key[0] == 'f' ? 0 : 1;
        if (p->file_path[ver] != NULL) {
            snprintf(err, errlen, "%s= given twice", key);
            return -1;
        }
        p->file_path[ver] = resolve_path(projects_path, v);
        return p->file_path[ver] ? 0 : -1;
    }
    if (strcmp(key, "seed") == 0) {
        int64_t s;
        if (parse_i64(v, 0, INT64_MAX, &s) != 0) {
            snprintf(err, errlen, "seed wants a non-negative integer");
            return -1;
        }
        g->seed = (uint64_t)s;
        seen->any_gen = true;
        return 0;
    }
    if (strcmp(key, "id_base") == 0) {
        if (parse_i64(v, 0, INT64_MAX / 4, &g->id_base) != 0) {
            snprintf(err, errlen, "id_base wants a non-negative integer");
            return -1;
        }
        seen->any_gen = true;
        return 0;
    }
    if (strcmp(key, "bind") == 0) {
        static const char *const names[] = { "direct", "selector", "mixed", "none" };
        for (int i = 0; i < 4; i++) {
            if (strcmp(v, names[i]) == 0) {
                g->bind = (enum bind_mode)i;
                seen->any_gen = true;
                return 0;
            }
        }
        snprintf(err, errlen, "bind wants direct, selector, mixed or none");
        return -1;
    }
    if (strcmp(key, "rules") == 0) {
        seen->any_gen = true;
        return parse_shapes(g, v, err, errlen);
    }
    if (strcmp(key, "labels") == 0) {
        seen->any_gen = true;
        return parse_labels(g, v, err, errlen);
    }
    if (strcmp(key, "key_types") == 0) {
        seen->any_gen = true;
        return parse_key_types(g, v, err, errlen);
    }
    int r = apply_knob(&p->knobs, key, v, &seen->remaining, err, errlen);
    if (r == 1)
        snprintf(err, errlen, "unknown key \"%.60s\"", key);
    return r == 0 ? 0 : -1;
}

static int finish_project(struct project *p, struct spec_seen *seen,
                          char *err, size_t errlen)
{
    struct gen_spec *g = &p->gen;
    if (p->name == NULL || p->token == NULL) {
        snprintf(err, errlen, "every project needs project= and token=");
        return -1;
    }
    if (p->file_path[1] != NULL && p->file_path[0] == NULL) {
        snprintf(err, errlen, "version2= needs file=");
        return -1;
    }
    if (p->file_path[0] != NULL) {
        if (seen->any_gen) {
            snprintf(err, errlen, "file= cannot be combined with generation keys");
            return -1;
        }
        for (int v = 0; v < 2; v++)
            if (p->file_path[v] != NULL &&
                hand_load(p->file_path[v], &p->hand[v], err, errlen) != 0)
                return -1;
        p->generated = false;
    } else {
        p->generated = true;
        if (g->private_n + g->unbound + g->pending + g->ipv6_only > g->servers) {
            snprintf(err, errlen, "private + unbound + pending + ipv6_only "
                     "exceeds servers");
            return -1;
        }
        long n = g->servers;
        g->v2_remove = seen->v2_remove >= 0 ? seen->v2_remove : n / 10;
        g->v2_add = seen->v2_add >= 0 ? seen->v2_add : n / 10;
        g->v2_change = seen->v2_change >= 0 ? seen->v2_change : n / 10;
        if (g->v2_remove > n) {
            snprintf(err, errlen, "v2_remove exceeds servers");
            return -1;
        }
        if (g->v2_change > n - g->v2_remove) {
            snprintf(err, errlen, "v2_remove + v2_change exceeds servers");
            return -1;
        }
        if (cache_init(p) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (p->knobs.version == 2 && !p->generated && p->hand[1] == NULL) {
        snprintf(err, errlen, "version=2 needs version2= for a file project");
        return -1;
    }
    p->level = (double)p->knobs.limit;
    if (seen->remaining >= 0 && seen->remaining < p->knobs.limit)
        p->level = (double)seen->remaining;
    p->last = mono_now();
    return 0;
}

static struct project *project_new(int ordinal)
{
    struct project *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    p->ordinal = ordinal;
    knobs_default(&p->knobs);
    struct gen_spec *g = &p->gen;
    g->seed = 1;
    g->servers = 0;
    g->ssh_keys = 0;
    g->firewalls = 0;
    g->bind = BIND_DIRECT;
    g->shapes[0] = SHAPE_SSH_OPEN;
    g->nshapes = 1;
    static const struct key_type defkt[] = {
        { KEY_ED25519, 256 }, { KEY_ED25519, 256 }, { KEY_RSA, 2048 }, { KEY_RSA, 4096 }
    };
    memcpy(g->key_types, defkt, sizeof defkt);
    g->nkey_types = 4;
    g->id_base = (int64_t)ordinal * 1000000;
    g->ordinal = ordinal;
    return p;
}

static int cmp_token(const void *a, const void *b)
{
    const struct project *pa = *(const struct project *const *)a;
    const struct project *pb = *(const struct project *const *)b;
    return strcmp(pa->token, pb->token);
}

/* Parses one line into a new project; *out stays NULL for blank lines. */
static int parse_line(char *line, int ordinal, const char *path,
                      struct project **out, char *err, size_t errlen)
{
    *out = NULL;
    struct project *p = NULL;
    struct spec_seen seen = { false, -1, -1, -1, -1 };
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r\n", &save); w != NULL;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (w[0] == '#')
            break;
        if (p == NULL) {
            p = project_new(ordinal);
            if (p == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        char *eq = strchr(w, '=');
        if (eq == NULL || eq == w) {
            snprintf(err, errlen, "\"%.60s\" is not key=value", w);
            project_free(p);
            return -1;
        }
        *eq = '\0';
        if (apply_spec(p, &seen, path, w, eq + 1, err, errlen) != 0) {
            project_free(p);
            return -1;
        }
    }
    if (p != NULL && finish_project(p, &seen, err, errlen) != 0) {
        project_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int projects_load(const char *path, struct projects *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open projects file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    int rc = 0;
    char lerr[400];
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        struct project *p;
        if (parse_line(line, (int)out->n + 1, path, &p, lerr, sizeof lerr) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, lerr);
            rc = -1;
            break;
        }
        if (p == NULL)
            continue;
        if (projects_by_name(out, p->name) != NULL) {
            snprintf(err, errlen, "%s:%d: project %s given twice", path, lineno,
                     p->name);
            project_free(p);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < out->n; i++) {
            if (strcmp(out->v[i]->token, p->token) == 0) {
                snprintf(err, errlen, "%s:%d: token of %s is already used by %s",
                         path, lineno, p->name, out->v[i]->name);
                project_free(p);
                rc = -1;
                break;
            }
        }
        if (rc != 0)
            break;
        struct project **nv = realloc(out->v, (out->n + 1) * sizeof *nv);
        if (nv == NULL) {
            snprintf(err, errlen, "out of memory");
            project_free(p);
            rc = -1;
            break;
        }
        out->v = nv;
        out->v[out->n++] = p;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read %s", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    if (rc == 0 && out->n == 0) {
        snprintf(err, errlen, "%s defines no project", path);
        rc = -1;
    }
    if (rc == 0) {
        out->by_token = malloc(out->n * sizeof *out->by_token);
        if (out->by_token == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            memcpy(out->by_token, out->v, out->n * sizeof *out->v);
            qsort(out->by_token, out->n, sizeof *out->by_token, cmp_token);
        }
    }
    if (rc != 0)
        projects_free(out);
    return rc;
}

void projects_free(struct projects *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        project_free(ps->v[i]);
    free(ps->v);
    free(ps->by_token);
    memset(ps, 0, sizeof *ps);
}

struct project *projects_by_token(const struct projects *ps, const char *token,
                                  size_t len)
{
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *t = ps->by_token[mid]->token;
        size_t tl = strlen(t);
        int c = memcmp(t, token, tl < len ? tl : len);
        if (c == 0)
            c = tl < len ? -1 : tl > len ? 1 : 0;
        if (c == 0)
            return ps->by_token[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct project *projects_by_name(const struct projects *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i]->name, name) == 0)
            return ps->v[i];
    return NULL;
}

/*
 * http.c - the libmicrohttpd request handler.
 *
 * Threads: MHD runs a pool of worker threads (epoll where available); the
 * handler never sleeps.  Latency and stalls suspend the connection and let
 * timer.c resume it, so thousands of delayed requests cost no threads.
 *
 * Per request (struct req, created by the URI log callback so that the raw
 * query string is known, freed by the completion callback):
 *   1st handler call         -> wait for the body
 *   calls with upload data   -> keep up to MAX_BODY bytes (admin), drop rest
 *   last call                -> decide and build the whole response now
 *                               (rate-limit headers, faults, page), then
 *                               either queue it or suspend for latency_ms
 *   call after resume        -> queue the prepared response
 *
 * Decision order for /v1: token -> bucket (429) -> method (token_readonly)
 * -> count-based faults -> route, parameters and page.  /_fake/ admin paths
 * skip all of that and are not logged.
 */
#include "fake.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY 65536
#define PER_PAGE_DEFAULT 25
#define PER_PAGE_MAX 50

enum phase { PH_NEW, PH_BODY, PH_WAITING };

struct req {
    char *uri;                  /* raw request target, query included */
    enum phase phase;
    struct buf body;
    struct MHD_Response *resp;  /* prepared while suspended */
    unsigned status;
};

static struct projects *projects;
static struct project anon;     /* bucket for requests without a project */
static atomic_uint_fast64_t corr_counter;
static uint64_t corr_base;

/* ------------------------------------------------------- responses */

struct ratelimit {
    bool set;
    long limit, remaining;
    int64_t reset;
};

static struct MHD_Response *buffer_response(char *body, size_t len)
{
    if (body == NULL)
        return NULL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL)
        free(body);
    return r;
}

static struct MHD_Response *copy_response(const char *s)
{
    return MHD_create_response_from_buffer(strlen(s), (void *)s,
                                           MHD_RESPMEM_MUST_COPY);
}

static bool add_headers(struct MHD_Response *r, const char *ctype,
                        const char *corr, const struct ratelimit *rl,
                        long retry_after)
{
    if (r == NULL)
        return false;
    bool ok = MHD_add_response_header(r, "Content-Type", ctype) == MHD_YES;
    if (corr != NULL)
        ok = ok && MHD_add_response_header(r, "X-Correlation-Id", corr) == MHD_YES;
    if (rl != NULL && rl->set) {
        char v[3][32];
        snprintf(v[0], sizeof v[0], "%ld", rl->limit);
        snprintf(v[1], sizeof v[1], "%ld", rl->remaining);
        snprintf(v[2], sizeof v[2], "%lld", (long long)rl->reset);
        ok = ok && MHD_add_response_header(r, "RateLimit-Limit", v[0]) == MHD_YES;
        ok = ok && MHD_add_response_header(r, "RateLimit-Remaining", v[1]) == MHD_YES;
        ok = ok && MHD_add_response_header(r, "RateLimit-Reset", v[2]) == MHD_YES;
    }
    if (retry_after > 0) {
        char v[32];
        snprintf(v, sizeof v, "%ld", retry_after);
        ok = ok && MHD_add_response_header(r, "Retry-After", v) == MHD_YES;
    }
    return ok;
}

static char *error_body(int idx, long limit, size_t *len)
{
    const struct api_error *e = &api_errors[idx];
    struct buf b;
    buf_init(&b);
    if (e->message == NULL) {   /* 429: key order as captured from the API */
        buf_printf(&b, "{\"error\":{\"message\":\"limit of %ld requests per hour "
                       "reached\",\"code\":\"%s\",\"details\":%s}}",
                   limit, e->code, e->details);
    } else {
        buf_str(&b, "{\"error\":{\"code\":");
        buf_json_str(&b, e->code);
        buf_str(&b, ",\"message\":");
        buf_json_str(&b, e->message);
        buf_str(&b, ",\"details\":");
        buf_str(&b, e->details);
        buf_str(&b, "}}");
    }
    return buf_take(&b, len);
}

static char *custom_error(const char *code, const char *message,
                          const char *details, size_t *len)
{
    struct buf b;
    buf_init(&b);
    buf_str(&b, "{\"error\":{\"code\":");
    buf_json_str(&b, code);
    buf_str(&b, ",\"message\":");
    buf_json_str(&b, message);
    buf_str(&b, ",\"details\":");
    buf_str(&b, details);
    buf_str(&b, "}}");
    return buf_take(&b, len);
}

/* ---------------------------------------------------------- streams */

/* A body made of segments, each literal bytes or one byte repeated. */
struct segment {
    const char *data;       /* NULL: repeat ch count times */
    char ch;
    uint64_t count;
};

enum stream_kind { ST_STALL, ST_TRUNCATE, ST_SEGMENTS };

struct stream {
    enum stream_kind kind;
    struct MHD_Connection *conn;
    char *owned;            /* body (stall, truncate) or segment storage */
    size_t len;
    size_t split;           /* stall/truncate: bytes before the stall/cut */
    bool stalled;
    long stall_ms;
    struct segment seg[4];
    size_t nseg;
};

static void stream_free(void *cls)
{
    struct stream *s = cls;
    free(s->owned);
    free(s);
}

static ssize_t copy_out(const char *src, size_t srclen, uint64_t pos, char *buf,
                        size_t max)
{
    size_t n = srclen - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, src + pos, n);
    return (ssize_t)n;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    switch (s->kind) {
    case ST_TRUNCATE:
        if (pos >= s->split)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        return copy_out(s->owned, s->split, pos, buf, max);
    case ST_STALL:
        if (pos < s->split)
            return copy_out(s->owned, s->split, pos, buf, max);
        if (!s->stalled) {
            s->stalled = true;
            if (timer_suspend(s->conn, s->stall_ms) != 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            return 0;   /* nothing now; called again after the resume */
        }
        if (timer_stopping())
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (pos >= s->len)
            return MHD_CONTENT_READER_END_OF_STREAM;
        return copy_out(s->owned, s->len, pos, buf, max);
    case ST_SEGMENTS: {
        uint64_t off = pos;
        size_t out = 0;
        for (size_t i = 0; i < s->nseg && out < max; i++) {
            const struct segment *g = &s->seg[i];
            if (off >= g->count) {
                off -= g->count;
                continue;
            }
            uint64_t avail = g->count - off;
            size_t n = max - out < avail ? max - out : (size_t)avail;
            if (g->data != NULL)
                memcpy(buf + out, g->data + off, n);
            else
                memset(buf + out, g->ch, n);
            out += n;
            off = 0;
        }
        if (out == 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        return (ssize_t)out;
    }
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static struct MHD_Response *stream_response(struct stream *s, uint64_t total)
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        total, 32 * 1024, stream_read, s, stream_free);
    if (r == NULL)
        stream_free(s);
    return r;
}

/* ------------------------------------------------------------ pages */

static void render_pagination(struct buf *b, long page, long per_page,
                              size_t total, bool null_totals)
{
    size_t last = total == 0 ? 1 : (total + (size_t)per_page - 1) / (size_t)per_page;
    buf_str(b, "\"meta\":{\"pagination\":{\"page\":");
    buf_i64(b, page);
    buf_str(b, ",\"per_page\":");
    buf_i64(b, per_page);
    buf_str(b, ",\"previous_page\":");
    if (page > 1)
        buf_i64(b, page - 1);
    else
        buf_str(b, "null");
    buf_str(b, ",\"next_page\":");
    if ((size_t)page < last)
        buf_i64(b, page + 1);
    else
        buf_str(b, "null");
    buf_str(b, ",\"last_page\":");
    if (null_totals)
        buf_str(b, "null");
    else
        buf_u64(b, last);
    buf_str(b, ",\"total_entries\":");
    if (null_totals)
        buf_str(b, "null");
    else
        buf_u64(b, total);
    buf_str(b, "}}");
}

struct list_query {
    long page, per_page;
    const char *name;
    struct selector sel;
    bool has_sel;
};

/* Indexes of matching items (NULL when unfiltered: all of them). */
static int filter_items(const struct project *p, int version, enum resource r,
                        const struct list_query *q, size_t **out, size_t *total)
{
    size_t n = data_count(p, version, r);
    *out = NULL;
    *total = n;
    if (q->name == NULL && !q->has_sel)
        return 0;
    size_t *v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL)
        return -1;
    size_t m = 0;
    struct item_meta meta;
    for (size_t i = 0; i < n; i++) {
        data_meta(p, version, r, i, &meta);
        if (q->name != NULL && strcmp(meta.name, q->name) != 0)
            continue;
        if (q->has_sel && !selector_match(&q->sel, &meta.labels))
            continue;
        v[m++] = i;
    }
    *out = v;
    *total = m;
    return 0;
}

static char *render_list(const struct project *p, int version, enum resource r,
                         const struct list_query *q, bool null_totals,
                         size_t *len)
{
    size_t *sel;
    size_t total;
    if (filter_items(p, version, r, q, &sel, &total) != 0)
        return NULL;
    struct buf b;
    buf_init(&b);
    buf_str(&b, "{\"");
    buf_str(&b, resource_plural[r]);
    buf_str(&b, "\":[");
    size_t start = (size_t)(q->page - 1) * (size_t)q->per_page;
    if (sel == NULL) {
        data_render_range(p, version, r, start, (size_t)q->per_page, &b);
    } else {
        for (size_t k = start; k < total && k < start + (size_t)q->per_page; k++) {
            if (k > start)
                buf_chr(&b, ',');
            data_render(p, version, r, sel[k], &b);
        }
    }
    buf_str(&b, "],");
    render_pagination(&b, q->page, q->per_page, total, null_totals);
    buf_chr(&b, '}');
    free(sel);
    return buf_take(&b, len);
}

/* ------------------------------------------------------------ routes */

struct route {
    int res;                /* enum resource, -1 = unknown path */
    bool item;
    int64_t id;
};

static struct route parse_route(const char *url)
{
    struct route rt = { -1, false, 0 };
    if (strncmp(url, "/v1/", 4) != 0)
        return rt;
    const char *s = url + 4;
    for (int r = 0; r < RES__COUNT; r++) {
        size_t n = strlen(resource_plural[r]);
        if (strncmp(s, resource_plural[r], n) != 0)
            continue;
        const char *t = s + n;
        if (*t == '\0' || strcmp(t, "/") == 0) {
            rt.res = r;
            return rt;
        }
        if (*t == '/' && parse_i64(t + 1, 1, INT64_MAX, &rt.id) == 0) {
            rt.res = r;
            rt.item = true;
        }
        return rt;
    }
    return rt;
}

/* ----------------------------------------------------------- decide */

enum outcome {
    OUT_NORMAL, OUT_UNAUTH, OUT_RATELIMIT, OUT_READONLY, OUT_FAIL,
    OUT_HTML502, OUT_STALL, OUT_TRUNCATE, OUT_MALFORMED, OUT_DEEP, OUT_HUGE
};

static const char html502_body[] =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n";

static void new_corr_id(char out[17])
{
    uint64_t c = atomic_fetch_add(&corr_counter, 1);
    snprintf(out, 17, "%016llx", (unsigned long long)mix64(corr_base + c));
}

/* The project of "Authorization: Bearer <token>", or NULL. */
static struct project *authenticate(struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
        n--;
    if (n == 0)
        return NULL;
    return projects_by_token(projects, t, n);
}

static bool fault_applies(const struct knobs *k, const struct route *rt,
                          long page)
{
    if (k->fault_path != FAULT_PATH_ANY && k->fault_path != rt->res)
        return false;
    return k->fault_page == 0 || k->fault_page == page;
}

static enum outcome take_fault(struct knobs *k)
{
    if (k->fail_count > 0 && k->fail_status >= 0) {
        k->fail_count--;
        return OUT_FAIL;
    }
    struct {
        long *count;
        enum outcome out;
    } order[] = {
        { &k->html502, OUT_HTML502 }, { &k->stall, OUT_STALL },
        { &k->truncate, OUT_TRUNCATE }, { &k->malformed, OUT_MALFORMED },
        { &k->deep, OUT_DEEP }, { &k->huge, OUT_HUGE },
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (*order[i].count > 0) {
            (*order[i].count)--;
            return order[i].out;
        }
    }
    return OUT_NORMAL;
}

static int parse_list_query(struct MHD_Connection *conn, struct list_query *q,
                            const char **bad)
{
    memset(q, 0, sizeof *q);
    q->page = 1;
    q->per_page = PER_PAGE_DEFAULT;
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page");
    if (v != NULL && parse_long(v, 1, 1000000000L, &q->page) != 0) {
        *bad = "page";
        return -1;
    }
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "per_page");
    if (v != NULL) {
        if (parse_long(v, 1, 1000000000L, &q->per_page) != 0) {
            *bad = "per_page";
            return -1;
        }
        if (q->per_page > PER_PAGE_MAX)
            q->per_page = PER_PAGE_MAX;
    }
    q->name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "label_selector");
    if (v != NULL) {
        if (selector_parse(v, &q->sel) != 0) {
            *bad = "label_selector";
            return -1;
        }
        q->has_sel = true;
    }
    return 0;
}

static char *invalid_param(const char *field, size_t *len)
{
    char msg[96], det[160];
    snprintf(msg, sizeof msg, "invalid input in field '%s'", field);
    snprintf(det, sizeof det,
             "{\"fields\":[{\"name\":\"%s\",\"messages\":[\"is invalid\"]}]}", field);
    return custom_error("invalid_input", msg, det, len);
}

/* The body and status of a successful-path request (which may still be a
 * 404 or 422). */
static char *build_normal(struct MHD_Connection *conn, const struct project *p,
                          int version, const struct route *rt, bool null_totals,
                          unsigned *status, size_t *len)
{
    *status = 200;
    if (rt->res < 0) {
        *status = 404;
        return error_body(api_error_index("not_found"), 0, len);
    }
    enum resource r = (enum resource)rt->res;
    if (rt->item) {
        long idx = data_find_id(p, version, r, rt->id);
        if (idx < 0) {
            *status = 404;
            return error_body(api_error_index("not_found"), 0, len);
        }
        struct buf b;
        buf_init(&b);
        buf_str(&b, "{\"");
        buf_str(&b, resource_singular[r]);
        buf_str(&b, "\":");
        data_render(p, version, r, (size_t)idx, &b);
        buf_chr(&b, '}');
        return buf_take(&b, len);
    }
    struct list_query q;
    const char *bad = NULL;
    if (parse_list_query(conn, &q, &bad) != 0) {
        *status = 422;
        return invalid_param(bad, len);
    }
    char *body = render_list(p, version, r, &q, null_totals, len);
    if (q.has_sel)
        selector_free(&q.sel);
    return body;
}

/* Snapshot of what the response needs, taken under the project lock. */
struct decision {
    enum outcome out;
    int fail_idx;
    int version;
    bool null_totals, huge_length;
    long latency_ms, stall_ms, deep_depth, huge_mb, retry_after;
    struct ratelimit rl;
};

static void decide(struct project *p, bool is_get, const struct route *rt,
                   long page, struct decision *d)
{
    double mono = mono_now(), wall = wall_now();
    memset(d, 0, sizeof *d);
    pthread_mutex_lock(&p->mu);
    d->rl.set = true;
    bool ok = bucket_take(p, mono, wall, &d->rl.limit, &d->rl.remaining,
                          &d->rl.reset);
    struct knobs *k = &p->knobs;
    if (!ok)
        d->out = OUT_RATELIMIT;
    else if (!is_get)
        d->out = OUT_READONLY;
    else if (fault_applies(k, rt, page))
        d->out = take_fault(k);
    else
        d->out = OUT_NORMAL;
    d->fail_idx = k->fail_status;
    d->version = k->version;
    d->null_totals = k->null_totals;
    d->huge_length = k->huge_length;
    d->latency_ms = k->latency_ms;
    d->stall_ms = k->stall_ms;
    d->deep_depth = k->deep_depth;
    d->huge_mb = k->huge_mb;
    d->retry_after = k->retry_after;
    pthread_mutex_unlock(&p->mu);
}

static const char *pagination_one =
    "\"meta\":{\"pagination\":{\"page\":1,\"per_page\":50,\"previous_page\":null,"
    "\"next_page\":null,\"last_page\":1,\"total_entries\":1}}}";

static struct MHD_Response *segments_response(const char *prefix, char fill1,
                                              uint64_t n1, char fill2, uint64_t n2,
                                              const char *suffix, bool chunked)
{
    struct stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    size_t pl = strlen(prefix), sl = strlen(suffix);
    s->owned = malloc(pl + sl + 1);
    if (s->owned == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->owned, prefix, pl);
    memcpy(s->owned + pl, suffix, sl + 1);
    s->kind = ST_SEGMENTS;
    s->seg[0] = (struct segment){ s->owned, 0, pl };
    s->seg[1] = (struct segment){ NULL, fill1, n1 };
    s->seg[2] = (struct segment){ NULL, fill2, n2 };
    s->seg[3] = (struct segment){ s->owned + pl, 0, sl };
    s->nseg = 4;
    return stream_response(s, chunked ? MHD_SIZE_UNKNOWN : pl + n1 + n2 + sl);
}

/* Builds the response of a /v1 request.  *delay_ms is the latency. */
static struct MHD_Response *handle_api(struct MHD_Connection *conn,
                                       const char *url, const char *method,
                                       struct project *p, const char *corr,
                                       unsigned *status, long *delay_ms)
{
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    struct route rt = parse_route(url);
    long page = 0;
    if (rt.res >= 0 && !rt.item) {
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                    "page");
        if (v == NULL)
            page = 1;
        else if (parse_long(v, 1, 1000000000L, &page) != 0)
            page = -1;
    }
    struct decision d;
    decide(p != NULL ? p : &anon, is_get, &rt, page, &d);
    if (p == NULL && d.out != OUT_RATELIMIT)
        d.out = OUT_UNAUTH;
    if (p == NULL) {
        d.latency_ms = 0;
        d.retry_after = 0;
    }
    *delay_ms = d.latency_ms;

    const char *plural = rt.res >= 0 ? resource_plural[rt.res] : "servers";
    char *body = NULL;
    size_t len = 0;
    struct MHD_Response *r = NULL;
    const char *ctype = "application/json";
    long retry_after = 0;
    switch (d.out) {
    case OUT_UNAUTH:
        *status = 401;
        body = error_body(api_error_index("unauthorized"), 0, &len);
        r = buffer_response(body, len);
        break;
    case OUT_RATELIMIT:
        *status = 429;
        retry_after = d.retry_after;
        body = error_body(api_error_index("rate_limit_exceeded"), d.rl.limit, &len);
        r = buffer_response(body, len);
        break;
    case OUT_READONLY:
        *status = 401;
        body = error_body(api_error_index("token_readonly"), 0, &len);
        r = buffer_response(body, len);
        break;
    case OUT_FAIL:
        *status = (unsigned)api_errors[d.fail_idx].status;
        body = error_body(d.fail_idx, d.rl.limit, &len);
        r = buffer_response(body, len);
        break;
    case OUT_HTML502:
        *status = 502;
        ctype = "text/html";
        r = copy_response(html502_body);
        break;
    case OUT_MALFORMED: {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "{\"%s\": [ {\"id\": 1,,", plural);
        *status = 200;
        r = copy_response(tmp);
        break;
    }
    case OUT_DEEP: {
        char pre[40], suf[200];
        snprintf(pre, sizeof pre, "{\"%s\":", plural);
        snprintf(suf, sizeof suf, ",%s", pagination_one);
        *status = 200;
        r = segments_response(pre, '[', (uint64_t)d.deep_depth, ']',
                              (uint64_t)d.deep_depth, suf, false);
        break;
    }
    case OUT_HUGE: {
        char pre[64], suf[200];
        snprintf(pre, sizeof pre, "{\"%s\":[{\"id\":1,\"name\":\"", plural);
        snprintf(suf, sizeof suf, "\"}],%s", pagination_one);
        uint64_t total = (uint64_t)d.huge_mb * 1024 * 1024;
        uint64_t fixed = strlen(pre) + strlen(suf);
        *status = 200;
        r = segments_response(pre, 'x', total > fixed ? total - fixed : 0, 'x', 0,
                              suf, !d.huge_length);
        break;
    }
    case OUT_NORMAL:
    case OUT_STALL:
    case OUT_TRUNCATE:
        body = build_normal(conn, p, d.version, &rt, d.null_totals, status, &len);
        if (body == NULL)
            break;
        if (d.out == OUT_NORMAL) {
            r = buffer_response(body, len);
            break;
        }
        {
            struct stream *s = calloc(1, sizeof *s);
            if (s == NULL) {
                free(body);
                break;
            }
            s->kind = d.out == OUT_STALL ? ST_STALL : ST_TRUNCATE;
            s->conn = conn;
            s->owned = body;
            s->len = len;
            s->split = len / 2;
            s->stall_ms = d.stall_ms;
            r = stream_response(s, len);
        }
        break;
    }
    if (r == NULL)
        return NULL;
    if (!add_headers(r, ctype, corr, &d.rl, retry_after)) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------ admin */

static struct MHD_Response *admin_json(char *body, size_t len)
{
    struct MHD_Response *r = buffer_response(body, len);
    if (r != NULL && !add_headers(r, "application/json", NULL, NULL, 0)) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static struct MHD_Response *admin_error(const char *msg, unsigned code,
                                        unsigned *status)
{
    struct buf b;
    buf_init(&b);
    buf_str(&b, "{\"error\":");
    buf_json_str(&b, msg);
    buf_chr(&b, '}');
    *status = code;
    size_t len;
    char *s = buf_take(&b, &len);
    return admin_json(s, len);
}

static struct MHD_Response *handle_admin(struct MHD_Connection *conn,
                                         const char *url, const char *method,
                                         struct req *rq, unsigned *status)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    struct buf b;
    buf_init(&b);
    size_t len;
    *status = 200;
    if (strcmp(url, "/_fake/health") == 0 && get) {
        buf_str(&b, "{\"ok\":true}");
    } else if (strcmp(url, "/_fake/requests") == 0 && get) {
        const char *proj = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                       "project");
        const char *since_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                          "since");
        int64_t since = 0;
        if (since_s != NULL && parse_i64(since_s, 0, INT64_MAX, &since) != 0)
            return admin_error("since wants an integer", 400, status);
        reqlog_dump(&b, proj, (uint64_t)since);
    } else if (strcmp(url, "/_fake/reset-log") == 0 && post) {
        reqlog_reset();
        buf_str(&b, "{\"ok\":true}");
    } else if (strcmp(url, "/_fake/projects") == 0 && get) {
        buf_chr(&b, '[');
        for (size_t i = 0; i < projects->n; i++) {
            if (i > 0)
                buf_chr(&b, ',');
            project_to_json(projects->v[i], &b);
        }
        buf_chr(&b, ']');
    } else if (strncmp(url, "/_fake/projects/", 16) == 0 && (get || post)) {
        struct project *p = projects_by_name(projects, url + 16);
        if (p == NULL)
            return admin_error("no such project", 404, status);
        if (post) {
            char err[200];
            const char *words = rq->body.p != NULL ? rq->body.p : "";
            size_t wl = rq->body.len;
            if (rq->body.oom)
                return admin_error("body too large", 413, status);
            if (wl == 0) {      /* allow ?k=v&k=v as well */
                const char *q = strchr(rq->uri, '?');
                words = q != NULL ? q + 1 : "";
                wl = strlen(words);
            }
            if (project_apply_words(p, words, wl, err, sizeof err) != 0)
                return admin_error(err, 400, status);
        }
        project_to_json(p, &b);
    } else {
        return admin_error("no such admin path or method", 404, status);
    }
    char *s = buf_take(&b, &len);
    return admin_json(s, len);
}

/* --------------------------------------------------------- handler */

static void log_request(struct req *rq, const char *method,
                        const struct project *p, unsigned status,
                        const char *corr)
{
    const char *q = strchr(rq->uri, '?');
    char *path = xstrndup(rq->uri, q != NULL ? (size_t)(q - rq->uri) : strlen(rq->uri));
    reqlog_add(method, path != NULL ? path : "", q != NULL ? q + 1 : NULL,
               p != NULL ? p->name : NULL, status, corr);
    free(path);
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct MHD_Response *r,
                             unsigned status)
{
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct req *rq = *con_cls;
    if (rq == NULL)
        return MHD_NO;
    if (rq->phase == PH_NEW) {
        rq->phase = PH_BODY;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (strncmp(url, "/_fake/", 7) == 0) {
            if (rq->body.len + *upload_data_size > MAX_BODY)
                rq->body.oom = true;
            else
                buf_mem(&rq->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->phase == PH_WAITING) {
        struct MHD_Response *r = rq->resp;
        rq->resp = NULL;
        return queue(conn, r, rq->status);
    }

    unsigned status = 500;
    if (strncmp(url, "/_fake/", 7) == 0) {
        struct MHD_Response *r = handle_admin(conn, url, method, rq, &status);
        return queue(conn, r, status);
    }

    char corr[17];
    new_corr_id(corr);
    if (strncmp(url, "/v1/", 4) != 0) {
        size_t len;
        char *body = error_body(api_error_index("not_found"), 0, &len);
        struct MHD_Response *r = buffer_response(body, len);
        if (r != NULL && !add_headers(r, "application/json", corr, NULL, 0)) {
            MHD_destroy_response(r);
            r = NULL;
        }
        log_request(rq, method, NULL, 404, corr);
        return queue(conn, r, 404);
    }

    struct project *p = authenticate(conn);
    long delay_ms = 0;
    struct MHD_Response *r = handle_api(conn, url, method, p, corr, &status,
                                        &delay_ms);
    log_request(rq, method, p, status, corr);
    if (r == NULL)
        return MHD_NO;
    if (delay_ms > 0) {
        rq->resp = r;
        rq->status = status;
        rq->phase = PH_WAITING;
        if (timer_suspend(conn, delay_ms) == 0)
            return MHD_YES;
        rq->resp = NULL;
    }
    return queue(conn, r, status);
}

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct req *rq = calloc(1, sizeof *rq);
    if (rq == NULL)
        return NULL;
    rq->uri = xstrdup(uri != NULL ? uri : "");
    if (rq->uri == NULL) {
        free(rq);
        return NULL;
    }
    buf_init(&rq->body);
    return rq;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req *rq = *con_cls;
    if (rq == NULL)
        return;
    if (rq->resp != NULL)
        MHD_destroy_response(rq->resp);
    buf_free(&rq->body);
    free(rq->uri);
    free(rq);
    *con_cls = NULL;
}

/* MHD's own messages (e.g. a truncate fault closing the connection). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("fake-hetzner: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *http_start(int listen_fd, struct projects *ps,
                              unsigned threads)
{
    projects = ps;
    anon.knobs.limit = 3600;
    anon.level = 3600;
    anon.last = mono_now();
    if (pthread_mutex_init(&anon.mu, NULL) != 0)
        return NULL;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        ts.tv_nsec = 0;
    corr_base = mix64((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^
                (uint64_t)getpid();
    atomic_init(&corr_counter, 0);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL
                                                                   : MHD_USE_POLL;
    struct MHD_Daemon *d;
    if (threads > 1)
        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                             MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                             MHD_OPTION_URI_LOG_CALLBACK, uri_logger, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)30000,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                             MHD_OPTION_THREAD_POOL_SIZE, threads,
                             MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                             MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                             MHD_OPTION_URI_LOG_CALLBACK, uri_logger, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)30000,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                             MHD_OPTION_END);
    if (d == NULL)
        pthread_mutex_destroy(&anon.mu);
    return d;
}

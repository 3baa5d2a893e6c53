/*
 * fetch.c: every page of the three collections (see fetch.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "slate/alloc.h"
#include "slate/hetzner.h"
#include "slate/log.h"

#define PER_PAGE 50
/* A project of 500,000 records per collection is far past any real one; a
 * last_page beyond this is a broken or hostile answer. */
#define MAX_PAGES 10000
/* Above this many bytes waiting to be sent to Redis, no new page is asked
 * for: the pages' writes are what fills that buffer, and hiredis's cost per
 * write grows with it (see slate_redis_backlog). */
#define REDIS_BACKLOG_MAX (4u << 20)
/* How soon a held-back fetch looks again. */
#define BACKLOG_RECHECK_MS 5
/* First backoff between retries of one request inside an attempt. */
#define RETRY_BACKOFF_MS 200

struct page {
    struct fetch *f;
    enum slate_collection coll;
    int64_t number;
    int tries;
    struct slate_inventory inv;
    struct slate_page_parser *parser;
    struct slate_err perr;
    bool parse_failed;
    struct slate_http_req *req;
    uv_timer_t timer;            /* backoff before a retry */
    bool timer_open;
    bool done;
    bool queued;                 /* waiting for a request slot (env->pages) */
    struct page *qnext;
};

struct coll {
    int64_t last_page;           /* 0 while unknown */
    int64_t next_to_start;       /* next page number to start (concurrent mode) */
    int in_flight;
    int open_pages;              /* started and not yet whole (retries included) */
    bool sequential;
};

struct fetch {
    struct slate_env *env;
    char *token;
    char log_id[160];
    fetch_progress_cb *progress;
    fetch_page_cb *page_cb;
    fetch_done_cb *done;
    bool side_ready;             /* every key and firewall is in f->side */
    size_t servers;
    void *ud;
    struct coll colls[SLATE_COLL_COUNT];
    struct page **pages;
    size_t n_pages, cap_pages;
    unsigned pages_done, pages_known, requests;
    int active;                  /* requests in flight + retry timers pending */
    bool failed;
    bool reported;
    struct fetch_result res;
    char error[SLATE_ERR_MSG_MAX];
    struct slate_inventory side;  /* every key and firewall, once whole */
    int open_timers;
    bool free_requested;
    bool cancelling;             /* inside fail(): report later */
    uv_timer_t throttle;         /* rechecks a Redis backlog that held pages back */
};

static void start_page(struct fetch *f, enum slate_collection c, int64_t number);
static void send_page(struct page *p);
static int gate_drop(struct slate_env *env, struct fetch *f);
static void gate_kick(struct slate_env *env);

static bool coll_complete(const struct fetch *f, enum slate_collection c)
{
    const struct coll *col = &f->colls[c];
    bool more = !col->sequential && col->last_page > 0 && col->next_to_start <= col->last_page;
    return col->open_pages == 0 && !more;
}

static void on_timer_closed(uv_handle_t *h);

/* A page that is no longer in f->pages (or all of them are going). */
static void page_free(struct page *p)
{
    slate_page_parser_free(p->parser);
    slate_inventory_free(&p->inv);
    if (p->timer_open)
        uv_close((uv_handle_t *)&p->timer, on_timer_closed);
    else
        slate_free(p);
}

/* Keys and firewalls, joined in collection and page order, once whole. */
static void build_side(struct fetch *f)
{
    struct slate_inventory *m = &f->side;
    for (int c = SLATE_COLL_SSH_KEYS; c <= SLATE_COLL_FIREWALLS; c++) {
        for (int64_t n = 1;; n++) {
            struct page *pg = NULL;
            for (size_t i = 0; i < f->n_pages && !pg; i++) {
                if (f->pages[i]->coll == (enum slate_collection)c && f->pages[i]->number == n &&
                    f->pages[i]->done)
                    pg = f->pages[i];
            }
            if (!pg)
                break;
            for (size_t i = 0; i < pg->inv.n_ssh_keys; i++)
                *slate_inventory_add_ssh_key(m) = pg->inv.ssh_keys[i];
            for (size_t i = 0; i < pg->inv.n_firewalls; i++)
                *slate_inventory_add_firewall(m) = pg->inv.firewalls[i];
        }
    }
    f->side_ready = true;
}

/* Hands every whole page of servers to the caller once the keys and
 * firewalls are in, and frees it. */
static void deliver(struct fetch *f)
{
    if (f->failed)
        return;
    if (!f->side_ready) {
        if (!coll_complete(f, SLATE_COLL_SSH_KEYS) || !coll_complete(f, SLATE_COLL_FIREWALLS))
            return;
        build_side(f);
    }
    /* A delivered page leaves the list at once: a job of a big project
     * would otherwise keep a record of every page it ever read. */
    size_t kept = 0;
    for (size_t i = 0; i < f->n_pages; i++) {
        struct page *p = f->pages[i];
        if (p->coll != SLATE_COLL_SERVERS || !p->done) {
            f->pages[kept++] = p;
            continue;
        }
        f->servers += p->inv.n_servers;
        f->page_cb(f->ud, p->number, &p->inv, &f->side);
        page_free(p);
    }
    f->n_pages = kept;
}

static void report(struct fetch *f)
{
    if (f->reported || f->active > 0 || f->cancelling)
        return;
    /* Nothing in flight is not the end while pages wait to be asked for
     * (held back by the Redis backlog): a partial project is never "all". */
    if (!f->failed && !(coll_complete(f, SLATE_COLL_SERVERS) &&
                        coll_complete(f, SLATE_COLL_SSH_KEYS) &&
                        coll_complete(f, SLATE_COLL_FIREWALLS)))
        return;
    deliver(f);
    f->reported = true;
    bool ok = !f->failed;
    if (ok)
        f->res.code = SLATE_E_OK;
    f->res.pages = f->pages_done;
    f->res.requests = f->requests;
    f->res.servers = f->servers;
    f->res.error = f->error;
    f->done(f->ud, &f->res, ok ? &f->side : NULL);
}

static void fail(struct fetch *f, enum slate_code code, const char *msg)
{
    if (f->failed)
        return;
    f->failed = true;
    f->res.code = code;
    snprintf(f->error, sizeof f->error, "%s", msg);
    /* Cancel the rest; their on_done runs from inside slate_http_cancel,
     * and must not report (and so free us) while this loop runs. */
    f->cancelling = true;
    f->active -= gate_drop(f->env, f);
    for (size_t i = 0; i < f->n_pages; i++) {
        struct page *p = f->pages[i];
        if (p->req) {
            struct slate_http_req *r = p->req;
            p->req = NULL;
            slate_http_cancel(r);
        }
        if (p->timer_open && uv_is_active((uv_handle_t *)&p->timer)) {
            uv_timer_stop(&p->timer);
            f->active--;
        }
    }
    f->cancelling = false;
}

static void collection_progress(struct fetch *f)
{
    if (f->progress && !f->failed)
        f->progress(f->ud, f->pages_done, f->pages_known);
}

/* Pages of servers that are whole but wait for the keys and firewalls. */
static int held_pages(const struct fetch *f, enum slate_collection c)
{
    int n = 0;
    for (size_t i = 0; c == SLATE_COLL_SERVERS && i < f->n_pages; i++)
        n += f->pages[i]->coll == c && f->pages[i]->done;
    return n;
}

static void on_throttle(uv_timer_t *t);

static void maybe_start_more(struct fetch *f, enum slate_collection c)
{
    struct coll *col = &f->colls[c];
    if (c == SLATE_COLL_SERVERS && slate_redis_backlog(f->env->redis) > REDIS_BACKLOG_MAX) {
        if (!f->failed && !uv_is_active((uv_handle_t *)&f->throttle))
            uv_timer_start(&f->throttle, on_throttle, BACKLOG_RECHECK_MS, 0);
        return;
    }
    while (!f->failed && !col->sequential && col->last_page > 0 &&
           col->next_to_start <= col->last_page &&
           col->in_flight + held_pages(f, c) < f->env->cfg->page_concurrency) {
        start_page(f, c, col->next_to_start++);
    }
}

static void on_throttle(uv_timer_t *t)
{
    struct fetch *f = t->data;
    struct slate_env *env = f->env;
    if (!f->reported) {
        maybe_start_more(f, SLATE_COLL_SERVERS);
        report(f); /* may free f: a page that could not be asked for ended it */
    }
    gate_kick(env);
}

static int on_body(void *ud, const char *buf, size_t n)
{
    struct page *p = ud;
    if (slate_page_parser_feed(p->parser, buf, n, &p->perr) != 0) {
        p->parse_failed = true;
        return -1;
    }
    return 0;
}

static void on_retry_timer(uv_timer_t *t)
{
    struct page *p = t->data;
    p->f->active--;
    if (p->f->failed) {
        report(p->f);
        return;
    }
    send_page(p);
    if (p->f->failed)
        report(p->f); /* the retry could not even start */
}

/* Whether one failed request is worth another try inside the attempt. */
static bool retry_request(struct page *p, enum slate_code code)
{
    struct fetch *f = p->f;
    /* INTERNAL from the HTTP layer is a cancel or a refusal, never the
     * network: not worth another request. */
    if (!slate_code_transient(code) || code == SLATE_E_RATE_LIMITED ||
        code == SLATE_E_INTERNAL || p->tries > f->env->cfg->http_retries || f->failed)
        return false;
    if (!p->timer_open) {
        uv_timer_init(f->env->loop, &p->timer);
        p->timer.data = p;
        p->timer_open = true;
        f->open_timers++;
    }
    uint64_t delay = (uint64_t)RETRY_BACKOFF_MS << (p->tries - 1);
    delay = delay / 2 + slate_rand_below(delay / 2 + 1);
    f->active++;
    uv_timer_start(&p->timer, on_retry_timer, delay, 0);
    return true;
}

/* Maps an HTTP answer that is not 2xx to PROTOCOL.md's codes. */
static enum slate_code status_code(const struct slate_http_result *res, char *msg, size_t n,
                                   int64_t *due_ms, int64_t pages_needed)
{
    char code[SLATE_API_ERROR_CODE_MAX] = "", message[SLATE_API_ERROR_MESSAGE_MAX] = "";
    slate_api_error_parse(res->error_body, res->error_body_len, code, message);
    long st = res->status;
    if (st == 401 && strcmp(code, "token_readonly") != 0) {
        snprintf(msg, n, "Invalid API token");
        return SLATE_E_INVALID_TOKEN;
    }
    if (st == 429) {
        int64_t limit = res->ratelimit_limit > 0 ? res->ratelimit_limit : 3600;
        int64_t now = slate_now_ms();
        /* The budget refills at limit/3600 per second: wait until it holds
         * what this sync needs, or until it is full, whichever is sooner. */
        int64_t wait = pages_needed * 3600 * 1000 / limit + 1000;
        if (res->ratelimit_reset > 0) {
            int64_t full = res->ratelimit_reset * 1000 - now;
            if (full > 0 && full < wait)
                wait = full;
        }
        *due_ms = now + wait;
        snprintf(msg, n, "the project's Hetzner API rate limit (%lld requests an hour) is used up",
                 (long long)limit);
        return SLATE_E_RATE_LIMITED;
    }
    if (st == 403 && strcmp(code, "maintenance") == 0) {
        snprintf(msg, n, "the Hetzner Cloud API is in maintenance");
        return SLATE_E_HETZNER_UNAVAILABLE;
    }
    if (st == 403) {
        snprintf(msg, n, "the API token may not read this project (403 %s)", code[0] ? code : "forbidden");
        return SLATE_E_FORBIDDEN;
    }
    if (st == 409 || st >= 500) {
        snprintf(msg, n, "the Hetzner Cloud API answered %ld%s%s", st, code[0] ? " " : "", code);
        return st == 504 ? SLATE_E_TIMEOUT : SLATE_E_HETZNER_UNAVAILABLE;
    }
    if (st >= 300 && st < 400) {
        snprintf(msg, n, "the Hetzner Cloud API answered with a redirect (%ld), which is not followed", st);
        return SLATE_E_BAD_RESPONSE;
    }
    snprintf(msg, n, "the Hetzner Cloud API answered %ld%s%s", st, code[0] ? " " : "", code);
    return SLATE_E_BAD_RESPONSE;
}

static void on_done_inner(void *ud, const struct slate_http_result *res);

static void on_done(void *ud, const struct slate_http_result *res)
{
    struct page *p = ud;
    struct slate_env *env = p->f->env;
    env->pages.active--;
    /* May free the fetch (its report ends the job): nothing of it after. */
    on_done_inner(ud, res);
    gate_kick(env);
}

static void on_done_inner(void *ud, const struct slate_http_result *res)
{
    struct page *p = ud;
    struct fetch *f = p->f;
    struct coll *col = &f->colls[p->coll];
    p->req = NULL;
    f->active--;
    col->in_flight--;
    char code_s[24];
    if (res->status > 0)
        snprintf(code_s, sizeof code_s, "%ld", res->status);
    else
        snprintf(code_s, sizeof code_s, "%s", res->code == SLATE_E_TIMEOUT ? "timeout" : "error");
    const char *labels[] = {code_s};
    slate_metric_add(f->env->m.api_requests, labels, 1);
    slate_metric_observe(f->env->m.api_seconds, NULL, res->total_s);
    if (res->ratelimit_limit >= 0) {
        f->res.rl_limit = res->ratelimit_limit;
        f->res.rl_remaining = res->ratelimit_remaining;
        f->res.rl_reset = res->ratelimit_reset;
    }
    if (f->failed) {
        report(f);
        return;
    }

    enum slate_code code = SLATE_E_OK;
    char msg[SLATE_ERR_MSG_MAX] = "";
    struct slate_pagination pg;
    int64_t due = 0;
    if (p->parse_failed) {
        code = p->perr.code;
        snprintf(msg, sizeof msg, "%s", p->perr.msg);
    } else if (res->code != SLATE_E_OK) {
        code = res->code;
        snprintf(msg, sizeof msg, "%s", res->error);
    } else if (res->status < 200 || res->status >= 300) {
        int64_t needed = 0;
        for (int c = 0; c < SLATE_COLL_COUNT; c++)
            needed += f->colls[c].last_page > 0 ? f->colls[c].last_page : 1;
        needed -= f->pages_done;
        code = status_code(res, msg, sizeof msg, &due, needed > 0 ? needed : 1);
    } else if (slate_page_parser_finish(p->parser, &pg, NULL, &p->perr) != 0) {
        code = p->perr.code;
        snprintf(msg, sizeof msg, "%s", p->perr.msg);
    }

    if (code != SLATE_E_OK) {
        char st[16];
        snprintf(st, sizeof st, "%ld", res->status);
        slate_warn("Hetzner API request failed", "job_id", f->log_id, "collection",
                   slate_collection_name(p->coll), "status", st, "error_code",
                   slate_code_name(code), "error", msg, "correlation_id", res->correlation_id);
        /* Discard what the page added before it failed. */
        slate_inventory_free(&p->inv);
        slate_inventory_init(&p->inv);
        if (retry_request(p, code))
            return;
        if (code == SLATE_E_RATE_LIMITED)
            f->res.retry_due_ms = due;
        fail(f, code, msg);
        report(f);
        return;
    }

    p->done = true;
    col->open_pages--;
    slate_page_parser_free(p->parser);
    p->parser = NULL;
    f->pages_done++;
    if (p->number == 1 || col->sequential) {
        if (p->number == 1 && pg.present && pg.last_page > 0) {
            if (pg.last_page > MAX_PAGES) {
                fail(f, SLATE_E_BAD_RESPONSE, "the API says a collection has more pages than any real project");
                report(f);
                return;
            }
            col->last_page = pg.last_page;
            col->next_to_start = 2;
            f->pages_known += (unsigned)(pg.last_page - 1);
        } else if (pg.present && pg.next_page > p->number && pg.next_page <= MAX_PAGES) {
            col->sequential = true;
            f->pages_known++;
            start_page(f, p->coll, pg.next_page);
        } else if (pg.present && pg.next_page > 0) {
            fail(f, SLATE_E_BAD_RESPONSE, "the API's next_page does not move forward");
            report(f);
            return;
        }
    }
    deliver(f);
    for (int c = 0; c < SLATE_COLL_COUNT; c++)
        maybe_start_more(f, (enum slate_collection)c);
    collection_progress(f);
    report(f);
}

/* ---- the worker-wide request slots ---- */

static void gate_push(struct slate_env *env, struct page *p)
{
    p->queued = true;
    p->qnext = NULL;
    if (env->pages.tail)
        ((struct page *)env->pages.tail)->qnext = p;
    else
        env->pages.head = p;
    env->pages.tail = p;
}

/* Takes every queued page of f out of the queue; returns how many. */
static int gate_drop(struct slate_env *env, struct fetch *f)
{
    int n = 0;
    struct page *prev = NULL, *p = env->pages.head;
    while (p) {
        struct page *next = p->qnext;
        if (p->f == f) {
            if (prev)
                prev->qnext = next;
            else
                env->pages.head = next;
            if (env->pages.tail == p)
                env->pages.tail = prev;
            p->queued = false;
            n++;
        } else {
            prev = p;
        }
        p = next;
    }
    return n;
}

static void send_now(struct page *p);

/* Sends queued pages while slots are free, oldest first. */
static void gate_kick(struct slate_env *env)
{
    while (env->pages.head && env->pages.active < env->pages.limit) {
        struct page *p = env->pages.head;
        if (slate_redis_backlog(env->redis) > REDIS_BACKLOG_MAX) {
            /* Redis has not taken the pages already read: look again soon,
             * from the timer of the first waiting fetch. */
            if (!uv_is_active((uv_handle_t *)&p->f->throttle))
                uv_timer_start(&p->f->throttle, on_throttle, BACKLOG_RECHECK_MS, 0);
            return;
        }
        env->pages.head = p->qnext;
        if (!env->pages.head)
            env->pages.tail = NULL;
        p->queued = false;
        p->f->active--; /* the wait ends; send_now counts the request */
        struct fetch *f = p->f;
        send_now(p);
        if (f->failed)
            report(f);
    }
}

static void send_page(struct page *p)
{
    struct slate_env *env = p->f->env;
    if (env->pages.active >= env->pages.limit || env->pages.head) {
        gate_push(env, p);
        p->f->active++; /* waiting counts as in flight: no report meanwhile */
        return;
    }
    send_now(p);
}

static void send_now(struct page *p)
{
    struct fetch *f = p->f;
    if (!f->env->http) {
        fail(f, SLATE_E_INTERNAL, "the worker is shutting down");
        return;
    }
    p->tries++;
    f->requests++;
    if (p->parser)
        slate_page_parser_reset(p->parser, p->coll, &p->inv);
    else
        p->parser = slate_page_parser_new(p->coll, &p->inv);
    p->parse_failed = false;
    char path[128];
    snprintf(path, sizeof path, "/%s?page=%lld&per_page=%d", slate_collection_name(p->coll),
             (long long)p->number, PER_PAGE);
    static const struct slate_http_cb cb = {on_body, on_done};
    struct slate_err err = {0};
    p->req = slate_http_get(f->env->http, path, f->token, &cb, p, &err);
    if (!p->req) {
        fail(f, err.code, err.msg);
        return;
    }
    f->env->pages.active++;
    f->active++;
    f->colls[p->coll].in_flight++;
}

static void start_page(struct fetch *f, enum slate_collection c, int64_t number)
{
    struct page *p = slate_calloc(1, sizeof *p);
    p->f = f;
    p->coll = c;
    p->number = number;
    slate_inventory_init(&p->inv);
    f->colls[c].open_pages++;
    f->pages = slate_grow(f->pages, &f->cap_pages, f->n_pages + 1, sizeof *f->pages);
    f->pages[f->n_pages++] = p;
    send_page(p);
}

struct fetch *fetch_start(struct slate_env *env, const char *token, const char *log_id,
                          fetch_progress_cb *progress, fetch_page_cb *page, fetch_done_cb *done,
                          void *ud, struct slate_err *err)
{
    if (!env->http) {
        slate_err_set(err, SLATE_E_INTERNAL, "the worker is shutting down");
        return NULL;
    }
    struct fetch *f = slate_calloc(1, sizeof *f);
    f->env = env;
    f->token = slate_strdup(token);
    snprintf(f->log_id, sizeof f->log_id, "%s", log_id);
    f->progress = progress;
    f->page_cb = page;
    f->done = done;
    f->ud = ud;
    f->res.rl_limit = f->res.rl_remaining = f->res.rl_reset = -1;
    f->pages_known = SLATE_COLL_COUNT;
    slate_inventory_init(&f->side);
    uv_timer_init(env->loop, &f->throttle);
    f->throttle.data = f;
    f->open_timers = 1;
    for (int c = 0; c < SLATE_COLL_COUNT && !f->failed; c++)
        start_page(f, (enum slate_collection)c, 1);
    if (f->failed && f->active == 0) {
        /* Nothing is in flight: report synchronously is not allowed by the
         * contract, so hand the error back instead. */
        slate_err_set(err, f->res.code, "%s", f->error);
        f->reported = true;
        fetch_free(f);
        return NULL;
    }
    return f;
}

int64_t fetch_server_pages(const struct fetch *f)
{
    const struct coll *col = &f->colls[SLATE_COLL_SERVERS];
    return col->sequential ? 0 : col->last_page;
}

static void on_throttle_closed(uv_handle_t *h)
{
    struct fetch *f = h->data;
    if (--f->open_timers == 0 && f->free_requested)
        slate_free(f);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct page *p = h->data;
    struct fetch *f = p->f;
    slate_free(p);
    if (--f->open_timers == 0 && f->free_requested)
        slate_free(f);
}

void fetch_free(struct fetch *f)
{
    if (!f)
        return;
    gate_drop(f->env, f);
    /* The side inventory borrows the pages' strings: free its arrays only. */
    slate_free(f->side.servers);
    slate_free(f->side.ssh_keys);
    slate_free(f->side.firewalls);
    for (size_t i = 0; i < f->n_pages; i++)
        page_free(f->pages[i]);
    slate_free(f->pages);
    explicit_bzero(f->token, strlen(f->token));
    slate_free(f->token);
    f->free_requested = true;
    uv_timer_stop(&f->throttle);
    uv_close((uv_handle_t *)&f->throttle, on_throttle_closed);
}

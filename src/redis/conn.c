/*
 * conn.c: a self-healing Redis connection (see redis.h).
 *
 * States: RESOLVING -> CONNECTING -> HANDSHAKE (AUTH, SELECT) -> READY, and
 * from any of them to BACKOFF on a failure, then RESOLVING again when the
 * backoff timer fires.  A watchdog timer (every WATCHDOG_MS) enforces the
 * connect deadline and each command's deadline: hiredis 0.14 has no timeouts.
 *
 * hiredis frees the context itself after a failed connect or a disconnect,
 * and calls every pending callback with a NULL reply first; we never free
 * from inside its callbacks, and every callback checks that the context it
 * hears from is still the current one (r->ac), so a late event from an old
 * context is ignored.
 */
#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/sds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"
#include "slate/alloc.h"
#include "slate/log.h"
#include "slate/redis.h"
#include "slate/util.h"

#define WATCHDOG_MS 100
/* The largest command buffer kept between commands. */
#define WIRE_KEEP_MAX (1u << 20)

enum state { ST_RESOLVING, ST_CONNECTING, ST_HANDSHAKE, ST_READY, ST_BACKOFF, ST_CLOSED };

struct pending {
    struct slate_redis *r;
    slate_redis_cb *cb;
    void *ud;
    uint64_t deadline;
    struct pending *prev, *next;
};

struct slate_redis {
    uv_loop_t *loop;
    struct slate_redis_url url;
    char *name;
    struct slate_redis_opts opts;
    enum state state;
    redisAsyncContext *ac;
    uv_getaddrinfo_t gai;
    bool gai_active;
    uv_timer_t backoff_timer;
    uv_timer_t watchdog;
    uint64_t connect_deadline;
    int64_t attempts;
    uint64_t reconnects;
    bool ever_ready;
    bool kill_requested;
    const char *fail_reason;
    struct pending *pend;
    uint64_t last_progress;      /* last reply, or the send that found none pending */
    int open_handles;
    void (*closed)(void *);
    void *closed_data;
    struct slate_buf wire;       /* the command being sent, reused */
};

static void start_connect(struct slate_redis *r);

int slate_redis_url_parse(const char *url, struct slate_redis_url *out, char *errbuf, size_t n)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        const char *q = strchr(path, '?');
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (plen == 0 || path[0] != '/') {
            snprintf(errbuf, n, "SLATE_REDIS_URL: a unix:// URL needs an absolute path");
            return -1;
        }
        if (q) {
            uint64_t db;
            if (strncmp(q, "?db=", 4) != 0 || !slate_parse_u64(q + 4, &db) || db > 1000000) {
                snprintf(errbuf, n, "SLATE_REDIS_URL: only ?db=N may follow a unix socket path");
                return -1;
            }
            out->db = (int)db;
        }
        out->path = slate_strndup(path, plen);
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(errbuf, n, "SLATE_REDIS_URL must start with redis:// or unix://");
        return -1;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            snprintf(errbuf, n, "SLATE_REDIS_URL: write the password as redis://:password@host");
            return -1;
        }
        if (at - colon - 1 > 0)
            out->password = slate_strndup(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hostport_len = slash ? (size_t)(slash - p) : strlen(p);
    char *hostport = slate_strndup(p, hostport_len);
    char *port_s = NULL;
    if (hostport[0] == '[') {
        char *close = strchr(hostport, ']');
        if (!close) {
            snprintf(errbuf, n, "SLATE_REDIS_URL: unterminated IPv6 address");
            goto fail;
        }
        *close = '\0';
        out->host = slate_strdup(hostport + 1);
        if (close[1] == ':')
            port_s = close + 2;
        else if (close[1]) {
            snprintf(errbuf, n, "SLATE_REDIS_URL: junk after the IPv6 address");
            goto fail;
        }
    } else {
        char *colon = strchr(hostport, ':');
        if (colon) {
            *colon = '\0';
            port_s = colon + 1;
        }
        out->host = slate_strdup(hostport);
    }
    if (!out->host[0]) {
        snprintf(errbuf, n, "SLATE_REDIS_URL has no host");
        goto fail;
    }
    out->port = 6379;
    if (port_s) {
        uint64_t port;
        if (!slate_parse_u64(port_s, &port) || port == 0 || port > 65535) {
            snprintf(errbuf, n, "SLATE_REDIS_URL: the port must be 1-65535");
            goto fail;
        }
        out->port = (int)port;
    }
    if (slash && slash[1]) {
        uint64_t db;
        if (!slate_parse_u64(slash + 1, &db) || db > 1000000) {
            snprintf(errbuf, n, "SLATE_REDIS_URL: the database must be a number");
            goto fail;
        }
        out->db = (int)db;
    }
    slate_free(hostport);
    return 0;
fail:
    slate_free(hostport);
    slate_redis_url_free(out);
    return -1;
}

void slate_redis_url_free(struct slate_redis_url *u)
{
    slate_free(u->host);
    slate_free(u->path);
    if (u->password)
        explicit_bzero(u->password, strlen(u->password));
    slate_free(u->password);
    memset(u, 0, sizeof *u);
}

static void set_ready(struct slate_redis *r, bool ready)
{
    bool was = r->state == ST_READY;
    if (ready) {
        r->state = ST_READY;
        r->attempts = 0;
        if (r->ever_ready)
            r->reconnects++;
        r->ever_ready = true;
        slate_info("redis connected", "conn", r->name);
    }
    if (was != ready && r->opts.on_state)
        r->opts.on_state(r, ready, r->opts.ud);
}

static void on_backoff(uv_timer_t *t)
{
    struct slate_redis *r = t->data;
    if (r->state == ST_BACKOFF)
        start_connect(r);
}

/* The current context is gone (hiredis frees it, or we just did). */
static void lost(struct slate_redis *r, const char *why)
{
    if (r->state == ST_CLOSED)
        return;
    bool was_ready = r->state == ST_READY;
    r->ac = NULL;
    r->state = ST_BACKOFF;
    /* Full jitter: a uniform delay up to min(max, min * 2^attempts). */
    int64_t cap = r->opts.backoff_min_ms;
    for (int64_t i = 0; i < r->attempts && cap < r->opts.backoff_max_ms; i++)
        cap *= 2;
    if (cap > r->opts.backoff_max_ms)
        cap = r->opts.backoff_max_ms;
    r->attempts++;
    uint64_t delay = (uint64_t)(cap / 4) + slate_rand_below((uint64_t)(cap - cap / 4) + 1);
    char dbuf[32];
    snprintf(dbuf, sizeof dbuf, "%llu", (unsigned long long)delay);
    slate_warn("redis connection lost", "conn", r->name, "reason", why, "retry_in_ms", dbuf);
    uv_timer_start(&r->backoff_timer, on_backoff, delay, 0);
    if (was_ready && r->opts.on_state)
        r->opts.on_state(r, false, r->opts.ud);
}

/* Frees the current context from outside any hiredis callback. */
static void kill_context(struct slate_redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    r->fail_reason = why;
    lost(r, why);
    if (ac)
        redisAsyncFree(ac);
    r->fail_reason = NULL;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct pending *p = privdata;
    struct slate_redis *r = p->r;
    r->last_progress = slate_mono_ms();
    if (p->prev)
        p->prev->next = p->next;
    else
        r->pend = p->next;
    if (p->next)
        p->next->prev = p->prev;
    const char *err = NULL;
    if (!reply) {
        if (r->fail_reason)
            err = r->fail_reason;
        else if (ac->err && ac->errstr)
            err = ac->errstr;
        else
            err = "connection to Redis lost";
    }
    p->cb(reply, err, p->ud);
    slate_free(p);
}

/* The command in Redis's protocol, written here: hiredis's own formatter
 * (a generic printf-like one per argument) cost more than copying the
 * arguments, and a page of servers is a hundred of them.  The buffer is
 * kept, since hiredis copies the command into its output buffer at once. */
static void format_cmd(struct slate_buf *b, int argc, const char **argv, const size_t *len)
{
    size_t total = 16;
    for (int i = 0; i < argc; i++)
        total += len[i] + 24;
    slate_buf_reset(b);
    slate_buf_reserve(b, total);
    slate_buf_append(b, "*", 1);
    slate_buf_int(b, argc);
    slate_buf_append(b, "\r\n", 2);
    for (int i = 0; i < argc; i++) {
        slate_buf_append(b, "$", 1);
        slate_buf_int(b, (int64_t)len[i]);
        slate_buf_append(b, "\r\n", 2);
        slate_buf_append(b, argv[i], len[i]);
        slate_buf_append(b, "\r\n", 2);
    }
}

static int send_cmd(struct slate_redis *r, int64_t timeout_ms, slate_redis_cb *cb, void *ud,
                    int argc, const char **argv, const size_t *argvlen)
{
    if (!r->ac)
        return -1;
    struct pending *p = slate_calloc(1, sizeof *p);
    p->r = r;
    p->cb = cb;
    p->ud = ud;
    uint64_t now = slate_mono_ms();
    p->deadline = now + (uint64_t)(timeout_ms > 0 ? timeout_ms : r->opts.timeout_ms);
    if (!r->pend)
        r->last_progress = now;
    format_cmd(&r->wire, argc, argv, argvlen);
    int rc = redisAsyncFormattedCommand(r->ac, on_reply, p, r->wire.data, r->wire.len);
    /* A rare command far bigger than the usual ones is not kept. */
    if (r->wire.cap > WIRE_KEEP_MAX)
        slate_buf_free(&r->wire);
    if (rc != REDIS_OK) {
        slate_free(p);
        return -1;
    }
    p->next = r->pend;
    if (r->pend)
        r->pend->prev = p;
    r->pend = p;
    return 0;
}

int slate_redis_cmd(struct slate_redis *r, int64_t timeout_ms, slate_redis_cb *cb, void *ud,
                    int argc, const char **argv, const size_t *argvlen)
{
    if (r->state != ST_READY)
        return -1;
    return send_cmd(r, timeout_ms, cb, ud, argc, argv, argvlen);
}

static int handshake_left(struct slate_redis *r)
{
    return (r->url.password ? 1 : 0) + (r->url.db ? 1 : 0);
}

static void on_handshake(redisReply *reply, const char *error, void *ud)
{
    struct slate_redis *r = ud;
    if (r->state != ST_HANDSHAKE)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        /* A wrong password or database: say so and keep retrying (the
         * operator may fix Redis), without hammering it. */
        slate_error("redis handshake refused", "conn", r->name, "reason",
                    reply ? reply->str : error);
        r->kill_requested = true;
    }
}

static void on_handshake_done(redisReply *reply, const char *error, void *ud)
{
    struct slate_redis *r = ud;
    on_handshake(reply, error, ud);
    if (r->state == ST_HANDSHAKE && !r->kill_requested)
        set_ready(r, true);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct slate_redis *r = ac->data;
    if (!r || r->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns. */
        lost(r, ac->errstr ? ac->errstr : "connect failed");
        return;
    }
    r->state = ST_HANDSHAKE;
    int left = handshake_left(r);
    if (left == 0) {
        set_ready(r, true);
        return;
    }
    if (r->url.password) {
        const char *argv[] = {"AUTH", r->url.password};
        size_t lens[] = {4, strlen(r->url.password)};
        send_cmd(r, 0, left == 1 ? on_handshake_done : on_handshake, r, 2, argv, lens);
    }
    if (r->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->url.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        send_cmd(r, 0, on_handshake_done, r, 2, argv, lens);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct slate_redis *r = ac->data;
    if (!r || r->ac != ac)
        return;
    lost(r, ac->errstr && ac->err ? ac->errstr : "server closed the connection");
}

static void connect_ip(struct slate_redis *r, const char *ip)
{
    redisAsyncContext *ac = r->url.path ? redisAsyncConnectUnix(r->url.path)
                                        : redisAsyncConnect(ip, r->url.port);
    if (!ac) {
        lost(r, "out of memory creating the Redis context");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        lost(r, why);
        return;
    }
    if (slate_redis_adapter_attach(r->loop, ac) != 0) {
        redisAsyncFree(ac);
        lost(r, "could not watch the Redis socket");
        return;
    }
    ac->data = r;
    r->ac = ac;
    r->state = ST_CONNECTING;
    r->connect_deadline = slate_mono_ms() + (uint64_t)r->opts.timeout_ms;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Setting the connect callback arms the first write event. */
    redisAsyncSetConnectCallback(ac, on_connect);
}

/* One of the connection's handles or requests is released; the last one
 * frees the connection and tells the owner. */
static void release_one(struct slate_redis *r)
{
    if (--r->open_handles > 0)
        return;
    void (*closed)(void *) = r->closed;
    void *data = r->closed_data;
    slate_free(r->name);
    slate_redis_url_free(&r->url);
    slate_buf_free(&r->wire);
    slate_free(r);
    if (closed)
        closed(data);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct slate_redis *r = req->data;
    r->gai_active = false;
    if (r->state == ST_CLOSED) {
        uv_freeaddrinfo(res);
        release_one(r);
        return;
    }
    r->open_handles--;
    if (status != 0 || !res) {
        uv_freeaddrinfo(res);
        lost(r, uv_strerror(status));
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (res->ai_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
    else
        uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
    uv_freeaddrinfo(res);
    connect_ip(r, ip);
}

static void start_connect(struct slate_redis *r)
{
    r->state = ST_RESOLVING;
    r->kill_requested = false;
    if (r->url.path) {
        connect_ip(r, NULL);
        return;
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET, r->url.host, buf) == 1 || inet_pton(AF_INET6, r->url.host, buf) == 1) {
        connect_ip(r, r->url.host);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    r->gai.data = r;
    if (uv_getaddrinfo(r->loop, &r->gai, on_resolved, r->url.host, NULL, &hints) != 0) {
        lost(r, "name resolution could not start");
        return;
    }
    r->gai_active = true;
    r->open_handles++;
    r->connect_deadline = slate_mono_ms() + (uint64_t)r->opts.timeout_ms;
}

static void on_watchdog(uv_timer_t *t)
{
    struct slate_redis *r = t->data;
    uint64_t now = slate_mono_ms();
    if (r->kill_requested && r->ac) {
        r->kill_requested = false;
        kill_context(r, "connection reset");
        return;
    }
    if ((r->state == ST_CONNECTING || r->state == ST_HANDSHAKE) && now > r->connect_deadline) {
        kill_context(r, "timed out connecting to Redis");
        return;
    }
    /* Replies come in order: a busy Redis working through a long pipeline
     * keeps answering, a dead one does not.  A command past its deadline
     * drops the connection only when nothing at all came back for the
     * timeout. */
    if (r->pend && now - r->last_progress > (uint64_t)r->opts.timeout_ms) {
        for (struct pending *p = r->pend; p; p = p->next) {
            if (now > p->deadline) {
                kill_context(r, "Redis command timed out");
                return;
            }
        }
    }
}

struct slate_redis *slate_redis_new(uv_loop_t *loop, const char *url,
                                    const struct slate_redis_opts *opts, char *errbuf, size_t n)
{
    struct slate_redis *r = slate_calloc(1, sizeof *r);
    if (slate_redis_url_parse(url, &r->url, errbuf, n) != 0) {
        slate_free(r);
        return NULL;
    }
    r->loop = loop;
    r->opts = *opts;
    r->name = slate_strdup(opts->name ? opts->name : "redis");
    r->opts.name = r->name;
    if (r->opts.timeout_ms <= 0)
        r->opts.timeout_ms = 5000;
    if (r->opts.backoff_min_ms <= 0)
        r->opts.backoff_min_ms = 100;
    if (r->opts.backoff_max_ms < r->opts.backoff_min_ms)
        r->opts.backoff_max_ms = 10000;
    uv_timer_init(loop, &r->backoff_timer);
    uv_timer_init(loop, &r->watchdog);
    r->backoff_timer.data = r;
    r->watchdog.data = r;
    r->open_handles = 2;
    uv_timer_start(&r->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS);
    start_connect(r);
    return r;
}

size_t slate_redis_backlog(const struct slate_redis *r)
{
    return r->ac && r->ac->c.obuf ? sdslen(r->ac->c.obuf) : 0;
}

bool slate_redis_ready(const struct slate_redis *r)
{
    return r->state == ST_READY;
}

uint64_t slate_redis_reconnects(const struct slate_redis *r)
{
    return r->reconnects;
}

void slate_redis_reset(struct slate_redis *r)
{
    if (r->ac)
        r->kill_requested = true;
}

static void on_handle_closed(uv_handle_t *h)
{
    release_one(h->data);
}

void slate_redis_close(struct slate_redis *r, void (*closed)(void *data), void *data)
{
    r->closed = closed;
    r->closed_data = data;
    redisAsyncContext *ac = r->ac;
    r->state = ST_CLOSED;
    r->ac = NULL;
    if (ac) {
        r->fail_reason = "the Redis connection is closing";
        redisAsyncFree(ac);
        r->fail_reason = NULL;
    }
    if (r->gai_active)
        uv_cancel((uv_req_t *)&r->gai);
    uv_timer_stop(&r->backoff_timer);
    uv_timer_stop(&r->watchdog);
    uv_close((uv_handle_t *)&r->backoff_timer, on_handle_closed);
    uv_close((uv_handle_t *)&r->watchdog, on_handle_closed);
}

bool slate_reply_is_error(const redisReply *r, const char *prefix)
{
    return r && r->type == REDIS_REPLY_ERROR &&
           (!prefix || strncmp(r->str, prefix, strlen(prefix)) == 0);
}

/*
 * conn.c: slatectl's Redis connection (hiredis, synchronous) and its
 * failure record.
 *
 * One connection per run; every command has the configured timeout
 * (SLATE_REDIS_TIMEOUT_MS).  A command that cannot reach Redis drops the
 * connection and records CTL_UNREACHABLE; later commands then fail at once
 * instead of each waiting for its own timeout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "ctl.h"
#include "slate/alloc.h"
#include "slate/redis.h"

/* Arguments of one ctl_cmdl() call: the longest command slatectl builds
 * with it is XADD with a few fields. */
#define CTL_MAX_ARGS 32

int ctl_fail(struct ctl *c, int code, const char *fmt, ...)
{
    if (c->exit != CTL_OK)
        return code;
    c->exit = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

void ctl_clear_failure(struct ctl *c)
{
    c->exit = CTL_OK;
    c->err[0] = '\0';
}

void ctl_init_keys(struct ctl *c)
{
    c->k_jobs = slate_asprintf("%s:{q}:jobs", c->cfg.prefix);
    c->k_results = slate_asprintf("%s:{q}:results", c->cfg.prefix);
    c->k_delayed = slate_asprintf("%s:{q}:delayed", c->cfg.prefix);
    c->k_dead = slate_asprintf("%s:{q}:dead", c->cfg.prefix);
    c->k_workers = slate_asprintf("%s:{q}:workers", c->cfg.prefix);
}

static struct timeval tv_of(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

int ctl_connect(struct ctl *c)
{
    if (c->redis)
        return CTL_OK;
    struct slate_redis_url u;
    char errbuf[200];
    if (slate_redis_url_parse(c->cfg.redis_url, &u, errbuf, sizeof errbuf) != 0)
        return ctl_fail(c, CTL_USAGE, "%s.", errbuf);
    struct timeval tv = tv_of(c->cfg.redis_timeout_ms);
    if (u.path) {
        snprintf(c->where, sizeof c->where, "%.120s db %d", u.path, u.db);
        c->redis = redisConnectUnixWithTimeout(u.path, tv);
    } else {
        snprintf(c->where, sizeof c->where, "%s%.100s%s:%d db %d",
                 strchr(u.host, ':') ? "[" : "", u.host, strchr(u.host, ':') ? "]" : "",
                 u.port, u.db);
        c->redis = redisConnectWithTimeout(u.host, u.port, tv);
    }
    int rc = CTL_OK;
    if (!c->redis || c->redis->err) {
        rc = ctl_fail(c, CTL_UNREACHABLE, "Redis at %s is not reachable: %s.", c->where,
                      c->redis ? c->redis->errstr : "out of memory");
        goto out;
    }
    redisSetTimeout(c->redis, tv);
    if (u.password) {
        const char *argv[] = {"AUTH", u.password};
        redisReply *r = ctl_cmd(c, 0, 2, argv, NULL);
        if (!r) {
            rc = CTL_UNREACHABLE;
            goto out;
        }
        if (r->type == REDIS_REPLY_ERROR)
            rc = ctl_fail(c, CTL_USAGE, "Redis at %s refused the password of SLATE_REDIS_URL: %s.",
                          c->where, r->str);
        freeReplyObject(r);
        if (rc != CTL_OK)
            goto out;
    }
    if (u.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", u.db);
        const char *argv[] = {"SELECT", db};
        redisReply *r = ctl_cmd(c, 0, 2, argv, NULL);
        if (!r) {
            rc = CTL_UNREACHABLE;
            goto out;
        }
        if (r->type == REDIS_REPLY_ERROR)
            rc = ctl_fail(c, CTL_USAGE, "Redis at %s cannot select database %d: %s.", c->where,
                          u.db, r->str);
        freeReplyObject(r);
    }
out:
    if (rc != CTL_OK)
        ctl_disconnect(c);
    slate_redis_url_free(&u);
    return rc;
}

void ctl_disconnect(struct ctl *c)
{
    if (c->redis)
        redisFree(c->redis);
    c->redis = NULL;
}

void ctl_free(struct ctl *c)
{
    ctl_disconnect(c);
    slate_free(c->k_jobs);
    slate_free(c->k_results);
    slate_free(c->k_delayed);
    slate_free(c->k_dead);
    slate_free(c->k_workers);
    slate_config_free(&c->cfg);
}

redisReply *ctl_cmd(struct ctl *c, int64_t extra_ms, int argc, const char **argv,
                    const size_t *lens)
{
    if (!c->redis) {
        ctl_fail(c, CTL_UNREACHABLE, "Redis at %s is not connected.",
                 c->where[0] ? c->where : c->cfg.redis_url);
        return NULL;
    }
    size_t own[CTL_MAX_ARGS];
    if (!lens) {
        if (argc > CTL_MAX_ARGS) {
            ctl_fail(c, CTL_FAILED, "internal error: too many arguments for %s", argv[0]);
            return NULL;
        }
        for (int i = 0; i < argc; i++)
            own[i] = strlen(argv[i]);
        lens = own;
    }
    if (extra_ms > 0)
        redisSetTimeout(c->redis, tv_of(c->cfg.redis_timeout_ms + extra_ms));
    redisReply *r = redisCommandArgv(c->redis, argc, argv, lens);
    if (!r) {
        ctl_fail(c, CTL_UNREACHABLE, "Redis at %s stopped answering: %s.", c->where,
                 c->redis->errstr[0] ? c->redis->errstr : "connection lost");
        ctl_disconnect(c);
        return NULL;
    }
    if (extra_ms > 0)
        redisSetTimeout(c->redis, tv_of(c->cfg.redis_timeout_ms));
    return r;
}

static redisReply *cmd_va(struct ctl *c, const char *arg, va_list ap)
{
    const char *argv[CTL_MAX_ARGS];
    int argc = 0;
    for (const char *a = arg; a; a = va_arg(ap, const char *)) {
        if (argc == CTL_MAX_ARGS) {
            ctl_fail(c, CTL_FAILED, "internal error: too many arguments for %s", arg);
            return NULL;
        }
        argv[argc++] = a;
    }
    return ctl_cmd(c, 0, argc, argv, NULL);
}

redisReply *ctl_cmdl(struct ctl *c, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    redisReply *r = cmd_va(c, arg, ap);
    va_end(ap);
    return r;
}

redisReply *ctl_cmdl_ok(struct ctl *c, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    redisReply *r = cmd_va(c, arg, ap);
    va_end(ap);
    if (r && r->type == REDIS_REPLY_ERROR) {
        ctl_fail(c, CTL_FAILED, "Redis at %s refused %s: %.300s.", c->where, arg, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

long long ctl_reply_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

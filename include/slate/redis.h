/*
 * redis.h: one logical Redis connection on the libuv loop, over hiredis's
 * async API and the project's own libuv adapter.
 *
 * The connection resolves names with uv_getaddrinfo (hiredis would block the
 * loop), connects with a timeout, authenticates and selects the database from
 * the URL, and reconnects on its own after any loss, with exponential backoff
 * and full jitter.  Every command has a timeout; on expiry the context is
 * freed, which fails every command in flight, and the connection reconnects.
 *
 * Contract of slate_redis_cmd: on a -1 return the callback is never called;
 * otherwise it is called exactly once, with the reply, or with reply NULL and
 * a sentence in `error` (connection lost, timeout, closed).  A reply is valid
 * only during the callback.
 */
#ifndef SLATE_REDIS_H
#define SLATE_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "slate/error.h"

struct slate_redis;

struct slate_redis_url {
    char *host;      /* NULL for unix sockets */
    int port;
    char *path;      /* unix socket path, or NULL */
    char *password;  /* NULL when none */
    int db;
};

/* Parses redis://[:password@]host[:port][/db] and unix:///path[?db=N].
 * Returns 0, or -1 with a sentence in errbuf. */
int slate_redis_url_parse(const char *url, struct slate_redis_url *out, char *errbuf, size_t n);
void slate_redis_url_free(struct slate_redis_url *u);

typedef void slate_redis_cb(redisReply *reply, const char *error, void *ud);
/* Called on every change between ready and not ready. */
typedef void slate_redis_state_cb(struct slate_redis *r, bool ready, void *ud);

struct slate_redis_opts {
    const char *name;          /* for logs: "commands", "reader" */
    int64_t timeout_ms;        /* connect and default command timeout */
    int64_t backoff_min_ms;    /* first reconnect delay */
    int64_t backoff_max_ms;
    slate_redis_state_cb *on_state;
    void *ud;
};

/* Starts connecting at once; the state callback says when it is ready.
 * Returns NULL with a sentence in errbuf when the URL does not parse. */
struct slate_redis *slate_redis_new(uv_loop_t *loop, const char *url,
                                    const struct slate_redis_opts *opts, char *errbuf,
                                    size_t n);
bool slate_redis_ready(const struct slate_redis *r);
/* Reconnects since start (for metrics). */
uint64_t slate_redis_reconnects(const struct slate_redis *r);

/* Bytes of commands written to the connection but not yet sent to Redis
 * (0 when not connected).  hiredis moves the rest of this buffer after every
 * partial write, so it must stay small: producers hold back above a few
 * MiB. */
size_t slate_redis_backlog(const struct slate_redis *r);

/* Sends a command (binary-safe argv).  timeout_ms 0 takes the default.
 * Returns -1 when not connected (callback never called). */
int slate_redis_cmd(struct slate_redis *r, int64_t timeout_ms, slate_redis_cb *cb, void *ud,
                    int argc, const char **argv, const size_t *argvlen);

/* Drops the connection now (as if it had failed) and reconnects after the
 * backoff; commands in flight fail.  For tests and for NOGROUP handling. */
void slate_redis_reset(struct slate_redis *r);

/* Fails every command in flight, closes the connection and its handles; no
 * state callback after this.  `closed` runs once everything is released. */
void slate_redis_close(struct slate_redis *r, void (*closed)(void *data), void *data);

/* Helpers for reading replies. */
bool slate_reply_is_error(const redisReply *r, const char *prefix);

#endif

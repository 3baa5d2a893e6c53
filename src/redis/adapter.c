/*
 * adapter.c: the hiredis <-> libuv glue (the five hooks of hiredis 0.14).
 *
 * Debian's bundled adapters/libuv.h ignores poll errors, so a refused connect
 * never reaches the connect callback and a reset connection never reaches the
 * reply or disconnect callbacks: the caller hangs forever.  Here a poll error
 * is handed to hiredis as both a read and a write event, so that hiredis
 * looks at the socket, sees the error and fails the connection.
 */
#include <hiredis/async.h>

#include "redis_int.h"
#include "slate/alloc.h"

struct adapter {
    redisAsyncContext *ac;
    uv_poll_t poll;
    int events;
    bool closing;
};

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct adapter *a = handle->data;
    if (a->closing)
        return;
    if (status < 0) {
        /* hiredis reads or writes, sees the socket error, and disconnects
         * (which runs our cleanup hook): touch nothing after the first call
         * if it closed us. */
        redisAsyncContext *ac = a->ac;
        if (a->events & UV_WRITABLE)
            redisAsyncHandleWrite(ac);
        else
            redisAsyncHandleRead(ac);
        return;
    }
    if ((events & UV_READABLE) && !a->closing)
        redisAsyncHandleRead(a->ac);
    if ((events & UV_WRITABLE) && !a->closing)
        redisAsyncHandleWrite(a->ac);
}

static void update(struct adapter *a, int events)
{
    if (a->closing)
        return;
    a->events = events;
    if (events)
        uv_poll_start(&a->poll, events, on_poll);
    else
        uv_poll_stop(&a->poll);
}

static void add_read(void *p)
{
    struct adapter *a = p;
    update(a, a->events | UV_READABLE);
}

static void del_read(void *p)
{
    struct adapter *a = p;
    update(a, a->events & ~UV_READABLE);
}

static void add_write(void *p)
{
    struct adapter *a = p;
    update(a, a->events | UV_WRITABLE);
}

static void del_write(void *p)
{
    struct adapter *a = p;
    update(a, a->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *h)
{
    slate_free(h->data);
}

static void cleanup(void *p)
{
    struct adapter *a = p;
    a->closing = true;
    uv_poll_stop(&a->poll);
    uv_close((uv_handle_t *)&a->poll, on_closed);
}

int slate_redis_adapter_attach(uv_loop_t *loop, redisAsyncContext *ac)
{
    if (ac->ev.data)
        return -1;
    struct adapter *a = slate_calloc(1, sizeof *a);
    if (uv_poll_init_socket(loop, &a->poll, ac->c.fd) != 0) {
        slate_free(a);
        return -1;
    }
    a->ac = ac;
    a->poll.data = a;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = a;
    return 0;
}

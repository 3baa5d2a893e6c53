/*
 * adapter.c: the hiredis <-> libuv glue (the five hooks of hiredis 0.14).
 *
 * Debian's bundled adapters/libuv.h ignores poll errors, so a refused connect
 * never reaches the connect callback and a reset connection never reaches the
 * reply or disconnect callbacks: the caller hangs forever.  Here a poll error
 * is handed to hiredis as both a read and a write event, so that hiredis
 * looks at the socket, sees the error and fails the connection.
 *
 * Writes: hiredis asks for write events after every command it buffers.
 * Watching for POLLOUT each time costs two epoll_ctl calls per command
 * (libuv's uv_poll_start drops the descriptor from epoll and adds it back,
 * even for the same events) and a loop turn before the write.  Once the
 * connection is up, a uv_prepare_t flushes instead: it runs right before the
 * loop next waits for I/O, so every command buffered during this turn goes
 * out in one write(2), and POLLOUT is watched only when the socket is full.
 * Before the connection is up, POLLOUT is how the connect completes, so it
 * is watched as hiredis asks.
 */
#include <hiredis/async.h>

#include "redis_int.h"
#include "slate/alloc.h"

struct adapter {
    redisAsyncContext *ac;
    uv_poll_t poll;
    uv_prepare_t flush;
    int events;       /* what the poll handle watches */
    bool in_write;    /* hiredis is writing: a further add_write means "full" */
    bool closing;
    int open_handles; /* freed when both handles have closed */
};

static void on_poll(uv_poll_t *handle, int status, int events);

static void watch(struct adapter *a, int events)
{
    if (a->closing || events == a->events)
        return;
    a->events = events;
    if (events)
        uv_poll_start(&a->poll, events, on_poll);
    else
        uv_poll_stop(&a->poll);
}

static void handle_write(struct adapter *a)
{
    a->in_write = true;
    redisAsyncHandleWrite(a->ac);
    /* hiredis may have failed and cleaned up (closing): a lives on until
     * its handles have closed. */
    a->in_write = false;
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct adapter *a = handle->data;
    if (a->closing)
        return;
    if (status < 0) {
        /* hiredis reads or writes, sees the socket error, and disconnects
         * (which runs our cleanup hook): touch nothing after the first call
         * if it closed us. */
        if (a->events & UV_WRITABLE)
            handle_write(a);
        else
            redisAsyncHandleRead(a->ac);
        return;
    }
    if ((events & UV_READABLE) && !a->closing)
        redisAsyncHandleRead(a->ac);
    if ((events & UV_WRITABLE) && !a->closing)
        handle_write(a);
}

static void on_flush(uv_prepare_t *p)
{
    struct adapter *a = p->data;
    uv_prepare_stop(p);
    if (!a->closing)
        handle_write(a);
}

static void add_read(void *p)
{
    struct adapter *a = p;
    watch(a, a->events | UV_READABLE);
}

static void del_read(void *p)
{
    struct adapter *a = p;
    watch(a, a->events & ~UV_READABLE);
}

static void add_write(void *p)
{
    struct adapter *a = p;
    if (a->closing)
        return;
    if (a->in_write || !(a->ac->c.flags & REDIS_CONNECTED))
        watch(a, a->events | UV_WRITABLE);
    else
        uv_prepare_start(&a->flush, on_flush);
}

static void del_write(void *p)
{
    struct adapter *a = p;
    watch(a, a->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *h)
{
    struct adapter *a = h->data;
    if (--a->open_handles == 0)
        slate_free(a);
}

static void cleanup(void *p)
{
    struct adapter *a = p;
    a->closing = true;
    uv_poll_stop(&a->poll);
    uv_prepare_stop(&a->flush);
    uv_close((uv_handle_t *)&a->poll, on_closed);
    uv_close((uv_handle_t *)&a->flush, on_closed);
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
    uv_prepare_init(loop, &a->flush);
    a->ac = ac;
    a->poll.data = a;
    a->flush.data = a;
    a->open_handles = 2;
    ac->ev.addRead = add_read;
    ac->ev.addWrite = add_write;
    ac->ev.delRead = del_read;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = a;
    return 0;
}

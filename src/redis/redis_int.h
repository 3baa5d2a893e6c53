/* redis_int.h: private to src/redis/. */
#ifndef SLATE_REDIS_INT_H
#define SLATE_REDIS_INT_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches our libuv adapter to a fresh context.  Returns 0 or -1. */
int slate_redis_adapter_attach(uv_loop_t *loop, redisAsyncContext *ac);

#endif

/*
 * worker.h: the job worker: reads jobs from the stream, runs them on the
 * loop, writes results, heartbeats, takes over jobs of dead workers, moves
 * delayed jobs back when due, and drains on shutdown.
 */
#ifndef SLATE_WORKER_H
#define SLATE_WORKER_H

#include <uv.h>

#include "slate/config.h"
#include "slate/crypto.h"
#include "slate/error.h"

struct slate_worker;

/* Creates the worker (connections start at once).  cfg and keys are borrowed
 * and must outlive it; keys_prev (the previous secret during a rotation) may
 * be NULL.  Returns NULL with err set. */
struct slate_worker *slate_worker_new(uv_loop_t *loop, const struct slate_config *cfg,
                                      const struct slate_keys *keys,
                                      const struct slate_keys *keys_prev, struct slate_err *err);

/* Stops taking jobs, lets the jobs in flight finish (up to the drain
 * timeout), releases the rest for immediate takeover, closes every handle
 * and frees the worker; `done` is called last. */
void slate_worker_shutdown(struct slate_worker *w, void (*done)(void *data), void *data);

#endif

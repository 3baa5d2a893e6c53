/*
 * jobs_int.h: private to src/jobs/, the only module that joins I/O (Redis,
 * HTTP) and logic (parsers, checks, crypto).
 */
#ifndef SLATE_JOBS_INT_H
#define SLATE_JOBS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "slate/checks.h"
#include "slate/config.h"
#include "slate/crypto.h"
#include "slate/error.h"
#include "slate/http.h"
#include "slate/job.h"
#include "slate/metrics.h"
#include "slate/redis.h"
#include "slate/util.h"

/* The worker's metric families (NULL-safe: every family may be NULL). */
struct slate_worker_metrics {
    struct slate_metric *jobs;            /* {type,status} */
    struct slate_metric *job_seconds;     /* {type} */
    struct slate_metric *in_flight;
    struct slate_metric *api_requests;    /* {code} */
    struct slate_metric *api_seconds;
    struct slate_metric *api_budget;      /* {integration} (bounded) */
    struct slate_metric *sync_pages;      /* {path}: held, staged, spilled */
    struct slate_metric *redis_reconnects;
    struct slate_metric *queue;           /* {queue} */
    struct slate_metric *workers;
};

/* What every handler may use; owned by the worker. */
struct slate_env {
    struct slate_worker_metrics m;
    /* API requests in flight across every job of the worker, and the pages
     * waiting for one (fetch.c): what bounds memory, whatever the number of
     * jobs in flight. */
    struct {
        int active;
        int limit;
        void *head, *tail;
    } pages;
    uv_loop_t *loop;
    struct slate_redis *redis;        /* commands (never the blocking read) */
    struct slate_http *http;
    const struct slate_config *cfg;
    const struct slate_keys *keys;
    const struct slate_keys *keys_prev; /* the old key during a rotation, or NULL */
    struct slate_check_config checks;
    const char *prefix;
    const char *consumer;
    /* Bytes of pages of servers the jobs keep for their commit instead of
     * staging them in Redis (handlers.c, SLATE_SYNC_HOLD_BYTES). */
    size_t held_bytes;
};

/* The life of one attempt of a job.  Changed only by run_set_state(), which
 * logs each transition. */
enum run_state {
    RUN_RECEIVED,
    RUN_RUNNING,
    RUN_FETCHING,
    RUN_STORING,
    RUN_EVALUATING,
    RUN_FINISHING,
    RUN_DONE,
};

struct slate_run {
    struct slate_env *env;
    struct slate_worker *worker;
    struct slate_job job;
    enum run_state state;
    uint64_t started_mono;
    /* The outcome, set by slate_run_done. */
    enum slate_code code;
    char error[SLATE_ERR_MSG_MAX];
    char *summary;                    /* JSON object, heap; NULL: none */
    int64_t retry_due_ms;             /* rate limited: when the budget allows */
    void *handler;                    /* the handler's own state */
    bool abandon;                     /* shutdown: finish without writing */
    bool force_dead;                  /* poison: straight to the dead stream */
    bool waiting;                     /* ended waiting for a lease: not counted */
    bool finish_pending;              /* its finish did not reach Redis: retried */
    const char *status;               /* the result's status once decided; NULL: none */
    char epoch[40];                   /* the queue's epoch when the job was read */
    struct slate_run *prev, *next;
};

void run_set_state(struct slate_run *run, enum run_state st);

/* Whether an attempt that ends now with this code is the job's last one
 * (no retry will follow), given when it would be due again. */
bool slate_run_is_final(const struct slate_run *run, enum slate_code code, int64_t due_ms);

/* A handler calls this exactly once when the attempt is over.  code OK means
 * success.  Takes ownership of summary (a JSON object, or NULL). */
void slate_run_done(struct slate_run *run, enum slate_code code, const char *error,
                    char *summary);

/* Starts the handler of run->job.type (handlers.c). */
void slate_handler_start(struct slate_run *run);

/* Key names: "<prefix>:{q}:<name>" and "<prefix>:{W}:<rest>". */
char *slate_qkey(const struct slate_env *env, const char *name);
char *slate_wkey(const struct slate_env *env, const char *ws, const char *rest);

/* A Redis command built one argument at a time.  Strings added with
 * slate_argv_add and slate_argv_str are borrowed (they must outlive the
 * send); slate_argv_own takes a heap string; the others are copied into the
 * argv's own bytes.  All of it is freed by slate_argv_free. */
struct slate_argv {
    const char **v;
    size_t *len;
    size_t *off;            /* where an argument of text starts, or SIZE_MAX */
    size_t n, cap;
    struct slate_buf text;  /* the arguments the argv holds, NUL after each */
    size_t open_at;
    char **owned;
    size_t n_owned, cap_owned;
    bool kept;              /* lives long: never takes or gives the spare buffer */
};
void slate_argv_add(struct slate_argv *a, const char *s, size_t n);
void slate_argv_str(struct slate_argv *a, const char *s);
void slate_argv_own(struct slate_argv *a, char *s);
void slate_argv_copy(struct slate_argv *a, const char *s, size_t n);
/* Adds every argument of src, borrowed: src must not change until a is
 * sent. */
void slate_argv_extend(struct slate_argv *a, const struct slate_argv *src);
/* Bytes a holds: its arguments' buffer and its arrays. */
size_t slate_argv_bytes(const struct slate_argv *a);
void slate_argv_int(struct slate_argv *a, long long v);
/* One argument written in place: append to the buffer slate_argv_open
 * returns (nothing else may be added meanwhile), then slate_argv_close. */
struct slate_buf *slate_argv_open(struct slate_argv *a);
void slate_argv_close(struct slate_argv *a);
/* Puts a count into a slot reserved earlier. */
void slate_argv_set_count(struct slate_argv *a, size_t at, size_t count);
void slate_argv_free(struct slate_argv *a);
/* slate_redis_cmd with the argv (r may be NULL: -1). */
int slate_argv_send(struct slate_redis *r, int64_t timeout, struct slate_argv *a,
                    slate_redis_cb *cb, void *ud);

#endif

/*
 * worker.c: the queue side of slate-worker.
 *
 * Two Redis connections: `reader` only ever runs the blocking XREADGROUP
 * (with a finite BLOCK), `cmd` runs everything else.  Reads ask for as many
 * entries as there are free slots (SLATE_CONCURRENCY), so the worker never
 * holds a job it cannot start.
 *
 * Each entry becomes a `struct slate_run`.  Its end is one owner-checked Lua
 * step (result + retry/dead/reseal + XACK + XDEL): a worker that lost the
 * entry to a takeover writes nothing.  A finish that cannot reach Redis is
 * kept and tried again until it lands, so a result computed while Redis was
 * away is not lost.
 *
 * Timers: heartbeat (every third of the visibility timeout: XCLAIM JUSTID of
 * held entries, owner-checked, and the worker's record in the workers hash),
 * reclaim (XAUTOCLAIM of entries idle past the visibility timeout), due
 * (delayed jobs back to the stream), finish retry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs_int.h"
#include "scripts.h"
#include "slate/alloc.h"
#include "slate/log.h"
#include "slate/worker.h"

#define GROUP "workers"
/* Due jobs moved back per tick; the next tick takes the rest. */
#define MOVE_DUE_BATCH "200"
/* Longest delay between attempts (PROTOCOL.md: capped at 5 minutes). */
#define RETRY_CAP_MS 300000
/* How often dead consumers and stale heartbeats are looked for. */
#define REAP_EVERY_MS 60000

struct slate_worker {
    struct slate_env env;
    struct slate_metrics *metrics;
    struct slate_metrics_server *metrics_server;
    uint64_t last_depth_ms;
    const struct slate_config *cfg;
    struct slate_redis *reader;
    char *k_jobs, *k_results, *k_delayed, *k_dead, *k_workers;
    uv_timer_t heartbeat_timer;
    uv_timer_t tick_timer;          /* reclaim, due, finish retries: every second */
    uv_timer_t drain_timer;
    struct slate_run *runs;
    int64_t n_runs;
    bool reading;
    bool group_ok;
    bool group_creating;
    bool reclaiming;
    long long poison_deliveries;    /* set while starting a poison entry */
    uint64_t last_reap_ms;
    char *k_schedule;
    char *k_epoch;
    char epoch[40];                 /* the queue's epoch when the group was last seen */
    bool stopping;
    bool releasing;
    bool closing;
    int open;                       /* handles and connections left to close */
    int64_t started_ms;
    uint64_t done, failed;
    char host[64];
    void (*on_done)(void *);
    void *on_done_data;
};

static void maybe_read(struct slate_worker *w);
static void finish_run(struct slate_run *run);
static void maybe_close(struct slate_worker *w);
static void refresh_depths(struct slate_worker *w);

static const char *const state_names[] = {"received", "running", "fetching", "storing",
                                          "evaluating", "finishing", "done"};

void run_set_state(struct slate_run *run, enum run_state st)
{
    if (run->state == st)
        return;
    slate_debug("job state", "job_id", run->job.job_id, "from", state_names[run->state], "to",
                state_names[st]);
    run->state = st;
}

char *slate_qkey(const struct slate_env *env, const char *name)
{
    return slate_asprintf("%s:{q}:%s", env->prefix, name);
}

char *slate_wkey(const struct slate_env *env, const char *ws, const char *rest)
{
    return slate_asprintf("%s:{%s}:%s", env->prefix, ws, rest);
}

/* ---- group ---- */

static void on_group(redisReply *reply, const char *error, void *ud)
{
    struct slate_worker *w = ud;
    w->group_creating = false;
    if (reply && reply->type == REDIS_REPLY_STRING) {
        if (strcmp(w->epoch, reply->str) != 0 && w->epoch[0])
            slate_warn("the queue's data was lost (Redis restarted without persistence); "
                       "the group was created again");
        snprintf(w->epoch, sizeof w->epoch, "%s", reply->str);
        w->group_ok = true;
        maybe_read(w);
        return;
    }
    slate_warn("could not create the consumer group", "reason",
               reply && reply->type == REDIS_REPLY_ERROR ? reply->str : error);
}

static void ensure_group(struct slate_worker *w)
{
    if (w->group_creating || w->stopping)
        return;
    char epoch[40];
    snprintf(epoch, sizeof epoch, "%016llx%016llx", (unsigned long long)slate_rand_below(UINT64_MAX),
             (unsigned long long)slate_rand_below(UINT64_MAX));
    const char *argv[] = {"EVAL", slate_lua_group, "2", w->k_jobs, w->k_epoch, GROUP, epoch};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    if (slate_redis_cmd(w->env.redis, 0, on_group, w, 7, argv, lens) == 0)
        w->group_creating = true;
}

/* ---- runs ---- */

static void run_free(struct slate_run *run)
{
    struct slate_worker *w = run->worker;
    if (run->prev)
        run->prev->next = run->next;
    else
        w->runs = run->next;
    if (run->next)
        run->next->prev = run->prev;
    w->n_runs--;
    slate_job_clear(&run->job);
    slate_free(run->summary);
    slate_free(run);
}

static void run_release(struct slate_run *run)
{
    struct slate_worker *w = run->worker;
    run_free(run);
    if (w->stopping)
        maybe_close(w);
    else
        maybe_read(w);
}

static struct slate_run *run_new(struct slate_worker *w)
{
    struct slate_run *run = slate_calloc(1, sizeof *run);
    run->env = &w->env;
    run->worker = w;
    run->started_mono = slate_mono_ms();
    run->next = w->runs;
    if (w->runs)
        w->runs->prev = run;
    w->runs = run;
    w->n_runs++;
    return run;
}

static int64_t retry_delay_ms(const struct slate_config *cfg, long attempt)
{
    int64_t d = cfg->retry_base_ms;
    for (long i = 1; i < attempt && d < RETRY_CAP_MS; i++)
        d *= 2;
    if (d > RETRY_CAP_MS)
        d = RETRY_CAP_MS;
    /* Jitter: a uniform delay in [d/2, d], so retries spread out but still
     * grow with each attempt. */
    return d / 2 + (int64_t)slate_rand_below((uint64_t)(d - d / 2) + 1);
}

/* Total time a job may wait for a project's rate budget (PROTOCOL.md). */
#define RATE_WAIT_MAX_MS (2LL * 3600 * 1000)

static const char *status_of(struct slate_run *run, const char **action)
{
    const struct slate_job *job = &run->job;
    *action = "result";
    if (run->force_dead) {
        *action = "dead";
        return "dead";
    }
    if (run->code == SLATE_E_OK)
        return "succeeded";
    if (!slate_code_transient(run->code) || !job->type_valid || job->invalid)
        return "failed";
    if (run->code == SLATE_E_RATE_LIMITED || run->waiting) {
        /* Attempts that waited (for the project's budget, or for another
         * sync of the integration to end) do not count toward
         * SLATE_MAX_ATTEMPTS, but the total wait is bounded. */
        int64_t now = slate_now_ms();
        if (run->retry_due_ms <= now)
            run->retry_due_ms = now + retry_delay_ms(run->env->cfg, 1);
        if (job->rate_wait_ms + (run->retry_due_ms - now) > RATE_WAIT_MAX_MS) {
            *action = "dead";
            return "dead";
        }
        *action = "retry";
        return "retrying";
    }
    if (job->attempt - job->rate_waits >= run->env->cfg->max_attempts) {
        *action = "dead";
        return "dead";
    }
    *action = "retry";
    return "retrying";
}

bool slate_run_is_final(const struct slate_run *run, enum slate_code code, int64_t due_ms)
{
    const struct slate_job *job = &run->job;
    if (!slate_code_transient(code))
        return true;
    if (code == SLATE_E_RATE_LIMITED)
        return job->rate_wait_ms + (due_ms - slate_now_ms()) > RATE_WAIT_MAX_MS;
    return job->attempt - job->rate_waits >= run->env->cfg->max_attempts;
}

/* The job as a delayed-set member: its fields as a JSON object of strings. */
static char *job_member(const struct slate_job *job, long next_attempt, long rate_waits,
                        long long rate_wait_ms)
{
    struct slate_buf b;
    slate_buf_init(&b);
    slate_buf_puts(&b, "{\"type\":");
    const char *t = slate_job_type_name(job->type);
    slate_buf_json_str(&b, t, strlen(t));
    slate_buf_puts(&b, ",\"workspace\":");
    slate_buf_json_str(&b, job->workspace, strlen(job->workspace));
    slate_buf_puts(&b, ",\"integration\":");
    slate_buf_json_str(&b, job->integration, strlen(job->integration));
    slate_buf_puts(&b, ",\"job_id\":");
    slate_buf_json_str(&b, job->job_id, strlen(job->job_id));
    slate_buf_printf(&b, ",\"attempt\":\"%ld\"", next_attempt);
    if (rate_waits > 0)
        slate_buf_printf(&b, ",\"rate_waits\":\"%ld\",\"rate_wait_ms\":\"%lld\"", rate_waits,
                         rate_wait_ms);
    if (job->token_sealed) {
        slate_buf_puts(&b, ",\"token_sealed\":");
        slate_buf_json_str(&b, job->token_sealed, strlen(job->token_sealed));
    }
    slate_buf_puts(&b, "}");
    return slate_buf_steal(&b);
}

static void on_finished(redisReply *reply, const char *error, void *ud)
{
    struct slate_run *run = ud;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        /* Kept: the tick timer tries again until Redis takes it. */
        slate_warn("could not write the result, will retry", "job_id", run->job.job_id, "reason",
                   reply ? reply->str : error);
        run->finish_pending = true;
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
        slate_warn("job was taken over by another worker; its result is dropped", "job_id",
                   run->job.job_id);
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 2)
        slate_warn("Redis lost the job's entry while it ran; its result is written anyway",
                   "job_id", run->job.job_id);
    if (run->status && !(reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)) {
        /* Counted once, when its result is in: not per try of the finish. */
        const struct slate_job *job = &run->job;
        const char *labels[] = {job->type_valid ? slate_job_type_name(job->type) : "invalid",
                                run->status};
        slate_metric_add(run->env->m.jobs, labels, 1);
        slate_metric_observe(run->env->m.job_seconds, labels,
                             (double)(slate_mono_ms() - run->started_mono) / 1000.0);
    }
    run_set_state(run, RUN_DONE);
    run_release(run);
}

static void add_pair(struct slate_argv *a, const char *k, const char *v)
{
    slate_argv_str(a, k);
    slate_argv_str(a, v);
}

static void finish_run(struct slate_run *run)
{
    struct slate_worker *w = run->worker;
    const struct slate_job *job = &run->job;
    if (run->abandon) {
        run_release(run);
        return;
    }
    const char *action;
    const char *status = status_of(run, &action);
    bool reseal = run->code == SLATE_E_OK && job->token && !job->invalid && run->summary == NULL &&
                  job->token_sealed;
    if (reseal)
        action = "reseal";

    struct slate_argv a = {0};
    slate_argv_str(&a, "EVAL");
    slate_argv_str(&a, slate_lua_finish);
    slate_argv_str(&a, "5");
    slate_argv_str(&a, w->k_jobs);
    slate_argv_str(&a, w->k_results);
    slate_argv_str(&a, w->k_delayed);
    slate_argv_str(&a, w->k_dead);
    slate_argv_str(&a, w->k_epoch);
    slate_argv_str(&a, GROUP);
    slate_argv_str(&a, w->env.consumer);
    slate_argv_str(&a, job->entry_id);
    slate_argv_int(&a, w->cfg->results_maxlen);
    slate_argv_str(&a, action);
    size_t nres_at = a.n;
    slate_argv_str(&a, "0");
    slate_argv_str(&a, run->epoch);
    size_t before = a.n;

    char attempt[24], duration[24], finished[SLATE_TIME_MAX];
    snprintf(attempt, sizeof attempt, "%ld", job->attempt);
    snprintf(duration, sizeof duration, "%llu",
             (unsigned long long)(slate_mono_ms() - run->started_mono));
    slate_format_time(slate_now_ms(), finished);
    if (!reseal) {
        add_pair(&a, "job_id", job->job_id);
        if (job->type_valid)
            add_pair(&a, "type", slate_job_type_name(job->type));
        add_pair(&a, "attempt", attempt);
        if (job->workspace[0])
            add_pair(&a, "workspace", job->workspace);
        if (job->integration[0])
            add_pair(&a, "integration", job->integration);
        add_pair(&a, "status", status);
        if (run->code != SLATE_E_OK) {
            add_pair(&a, "error_code", slate_code_name(run->code));
            add_pair(&a, "error", run->error);
        }
        add_pair(&a, "duration_ms", duration);
        add_pair(&a, "finished_at", finished);
        if (run->summary)
            add_pair(&a, "summary", run->summary);
    }
    slate_argv_set_count(&a, nres_at, a.n - before);

    if (strcmp(action, "retry") == 0) {
        int64_t now = slate_now_ms();
        bool limited = run->code == SLATE_E_RATE_LIMITED || run->waiting;
        int64_t due = limited ? run->retry_due_ms
                              : now + retry_delay_ms(w->cfg, job->attempt - job->rate_waits);
        slate_argv_int(&a, due);
        slate_argv_own(&a, job_member(job, job->attempt + 1, job->rate_waits + (limited ? 1 : 0),
                                      job->rate_wait_ms + (limited ? due - now : 0)));
    } else if (strcmp(action, "dead") == 0) {
        slate_argv_int(&a, w->cfg->dead_maxlen);
        size_t nd_at = a.n;
        slate_argv_str(&a, "0");
        size_t b2 = a.n;
        add_pair(&a, "job_id", job->job_id);
        add_pair(&a, "type", slate_job_type_name(job->type));
        add_pair(&a, "workspace", job->workspace);
        add_pair(&a, "integration", job->integration);
        add_pair(&a, "attempt", attempt);
        add_pair(&a, "error_code", slate_code_name(run->code));
        add_pair(&a, "error", run->error);
        add_pair(&a, "attempts", attempt);
        add_pair(&a, "finished_at", finished);
        slate_argv_set_count(&a, nd_at, a.n - b2);
    } else if (reseal) {
        size_t nn_at = a.n;
        slate_argv_str(&a, "0");
        size_t b2 = a.n;
        add_pair(&a, "type", "connect");
        add_pair(&a, "workspace", job->workspace);
        add_pair(&a, "integration", job->integration);
        add_pair(&a, "job_id", job->job_id);
        add_pair(&a, "token_sealed", job->token_sealed);
        if (job->attempt > 1)
            add_pair(&a, "attempt", attempt);
        slate_argv_set_count(&a, nn_at, a.n - b2);
    }

    run->status = reseal ? NULL : status;
    run_set_state(run, RUN_FINISHING);
    run->finish_pending = false;
    if (slate_argv_send(w->env.redis, 0, &a, on_finished, run) != 0) {
        run->finish_pending = true; /* the tick timer tries again */
        slate_warn("Redis is not reachable; the result is kept and retried", "job_id",
                   job->job_id);
    }
    slate_argv_free(&a);
}

void slate_run_done(struct slate_run *run, enum slate_code code, const char *error, char *summary)
{
    struct slate_worker *w = run->worker;
    run->code = code;
    snprintf(run->error, sizeof run->error, "%s",
             error ? error : slate_code_message(code));
    slate_free(run->summary);
    run->summary = summary;
    if (code == SLATE_E_OK) {
        w->done++;
        slate_info("job succeeded", "job_id", run->job.job_id, "type",
                   slate_job_type_name(run->job.type), "workspace", run->job.workspace,
                   "integration", run->job.integration);
    } else {
        w->failed++;
        slate_warn("job failed", "job_id", run->job.job_id, "error_code", slate_code_name(code),
                   "error", run->error);
    }
    finish_run(run);
}

/* A plain token is replaced, in one step, by an identical entry that holds
 * it sealed; the job then runs from that entry like any other. */
static void reseal(struct slate_run *run)
{
    struct slate_job *job = &run->job;
    job->token_sealed = slate_seal_b64(run->env->keys->seal_pk, job->token, job->token_len);
    if (!job->token_sealed) {
        slate_run_done(run, SLATE_E_INTERNAL, "the token could not be sealed", NULL);
        return;
    }
    slate_info("plain token sealed and re-enqueued", "job_id", job->job_id);
    run->code = SLATE_E_OK;
    finish_run(run);
}

static void start_entry(struct slate_worker *w, const redisReply *entry)
{
    /* [id, fields] from XREADGROUP, [id, fields, deliveries] from reclaim. */
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *id = entry->element[0];
    const redisReply *fields = entry->element[1];
    size_t nf = fields->type == REDIS_REPLY_ARRAY ? fields->elements / 2 : 0;
    if (nf > 64)
        nf = 64;
    const char *keys[64], *vals[64];
    size_t klens[64], vlens[64];
    size_t k = 0;
    for (size_t i = 0; i < nf; i++) {
        const redisReply *kr = fields->element[2 * i], *vr = fields->element[2 * i + 1];
        if (kr->type != REDIS_REPLY_STRING || vr->type != REDIS_REPLY_STRING)
            continue;
        keys[k] = kr->str;
        klens[k] = kr->len;
        vals[k] = vr->str;
        vlens[k] = vr->len;
        k++;
    }
    struct slate_run *run = run_new(w);
    snprintf(run->epoch, sizeof run->epoch, "%s", w->epoch);
    slate_job_parse(&run->job, id->str, fields->type == REDIS_REPLY_ARRAY ? fields->elements / 2 : 0,
                    keys, klens, vals, vlens);
    if (nf < (fields->type == REDIS_REPLY_ARRAY ? fields->elements / 2 : 0) || k < nf) {
        run->job.invalid = true;
        snprintf(run->job.reason, sizeof run->job.reason, "the entry is malformed");
    }
    slate_info("job received", "job_id", run->job.job_id, "entry", id->str, "type",
               run->job.type_valid ? slate_job_type_name(run->job.type) : NULL);
    if (w->poison_deliveries > 0) {
        /* Taken over again and again: whatever it does kills workers.  It
         * goes to the dead stream instead of around the ring forever. */
        char why[200];
        snprintf(why, sizeof why,
                 "the job was delivered %lld times without finishing (its workers stopped)",
                 w->poison_deliveries);
        run->force_dead = true;
        slate_run_done(run, SLATE_E_INTERNAL, why, NULL);
        return;
    }
    if (run->job.invalid) {
        char why[300];
        snprintf(why, sizeof why, "Invalid job: %s", run->job.reason);
        slate_run_done(run, SLATE_E_INVALID_JOB, why, NULL);
        return;
    }
    if (run->job.token) {
        reseal(run);
        return;
    }
    run_set_state(run, RUN_RUNNING);
    slate_handler_start(run);
}

static void release_ids(struct slate_worker *w, const char *const *ids, size_t n, int64_t idle,
                        slate_redis_cb *cb, void *ud);

static void ignore_reply(redisReply *reply, const char *error, void *ud)
{
    (void)reply;
    (void)error;
    (void)ud;
}

static void on_read(redisReply *reply, const char *error, void *ud)
{
    struct slate_worker *w = ud;
    w->reading = false;
    if (!reply) {
        /* The state callback reads again once the connection is back. */
        if (w->stopping)
            maybe_close(w);
        return;
    }
    if (slate_reply_is_error(reply, "NOGROUP")) {
        w->group_ok = false;
        ensure_group(w);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* The stream or group may be gone (a DEL, a FLUSHALL, a Redis still
         * loading): make sure the group exists, then read again.  The tick
         * keeps trying while it cannot be created. */
        slate_warn("XREADGROUP failed", "reason", reply->str);
        w->group_ok = false;
        ensure_group(w);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY) {
        for (size_t s = 0; s < reply->elements; s++) {
            const redisReply *stream = reply->element[s];
            if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2)
                continue;
            const redisReply *entries = stream->element[1];
            if (entries->type != REDIS_REPLY_ARRAY)
                continue;
            if (w->stopping) {
                /* Delivered while we were stopping: hand them back at once. */
                const char *ids[512];
                size_t n = 0;
                for (size_t i = 0; i < entries->elements && n < 512; i++) {
                    const redisReply *e = entries->element[i];
                    if (e->type == REDIS_REPLY_ARRAY && e->elements == 2)
                        ids[n++] = e->element[0]->str;
                }
                release_ids(w, ids, n, w->cfg->visibility_timeout_ms * 10, NULL, NULL);
                continue;
            }
            for (size_t i = 0; i < entries->elements; i++)
                start_entry(w, entries->element[i]);
        }
    }
    if (w->stopping)
        maybe_close(w);
    else
        maybe_read(w);
}

static void maybe_read(struct slate_worker *w)
{
    if (w->stopping || w->reading || !w->group_ok || !slate_redis_ready(w->reader))
        return;
    int64_t free_slots = w->cfg->concurrency - w->n_runs;
    if (free_slots <= 0)
        return;
    char count[24], block[24];
    snprintf(count, sizeof count, "%lld", (long long)free_slots);
    snprintf(block, sizeof block, "%lld", (long long)w->cfg->read_block_ms);
    const char *argv[] = {"XREADGROUP", "GROUP", GROUP, w->env.consumer, "COUNT", count,
                          "BLOCK", block, "STREAMS", w->k_jobs, ">"};
    size_t lens[11];
    for (int i = 0; i < 11; i++)
        lens[i] = strlen(argv[i]);
    if (slate_redis_cmd(w->reader, w->cfg->read_block_ms + w->cfg->redis_timeout_ms, on_read, w,
                        11, argv, lens) == 0)
        w->reading = true;
}

static void on_state(struct slate_redis *r, bool ready, void *ud)
{
    struct slate_worker *w = ud;
    if (!ready) {
        if (r == w->env.redis)
            w->group_ok = false;
        return;
    }
    if (r == w->env.redis)
        ensure_group(w);
    maybe_read(w);
}

/* ---- heartbeat, reclaim, due ---- */

static void release_ids(struct slate_worker *w, const char *const *ids, size_t n, int64_t idle,
                        slate_redis_cb *cb, void *ud)
{
    if (n == 0)
        return;
    struct slate_argv a = {0};
    slate_argv_str(&a, "EVAL");
    slate_argv_str(&a, slate_lua_heartbeat);
    slate_argv_str(&a, "1");
    slate_argv_str(&a, w->k_jobs);
    slate_argv_str(&a, GROUP);
    slate_argv_str(&a, w->env.consumer);
    slate_argv_int(&a, idle);
    for (size_t i = 0; i < n; i++)
        slate_argv_str(&a, ids[i]);
    slate_argv_send(w->env.redis, 0, &a, cb ? cb : ignore_reply, ud);
    slate_argv_free(&a);
}

static void write_heartbeat(struct slate_worker *w)
{
    char started[SLATE_TIME_MAX], now[SLATE_TIME_MAX];
    slate_format_time(w->started_ms, started);
    slate_format_time(slate_now_ms(), now);
    struct slate_buf b;
    slate_buf_init(&b);
    slate_buf_puts(&b, "{\"host\":");
    slate_buf_json_str(&b, w->host, strlen(w->host));
    slate_buf_printf(&b,
                     ",\"pid\":%ld,\"started\":\"%s\",\"last_seen\":\"%s\",\"last_seen_ms\":%lld,"
                     "\"in_flight\":%lld,\"done\":%llu,\"failed\":%llu}",
                     (long)getpid(), started, now, (long long)slate_now_ms(), (long long)w->n_runs,
                     (unsigned long long)w->done, (unsigned long long)w->failed);
    const char *argv[] = {"HSET", w->k_workers, w->env.consumer, b.data};
    size_t lens[] = {4, strlen(w->k_workers), strlen(w->env.consumer), b.len};
    slate_redis_cmd(w->env.redis, 0, ignore_reply, NULL, 4, argv, lens);
    slate_buf_free(&b);
}

static void on_heartbeat(uv_timer_t *t)
{
    struct slate_worker *w = t->data;
    if (!slate_redis_ready(w->env.redis) || (w->stopping && w->n_runs == 0))
        return;
    const char **ids = slate_calloc((size_t)w->n_runs + 1, sizeof *ids);
    size_t n = 0;
    for (struct slate_run *r = w->runs; r; r = r->next)
        ids[n++] = r->job.entry_id;
    release_ids(w, ids, n, 0, ignore_reply, NULL);
    slate_free(ids);
    write_heartbeat(w);
}

static void on_reclaimed(redisReply *reply, const char *error, void *ud)
{
    struct slate_worker *w = ud;
    w->reclaiming = false;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || w->stopping)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        bool held = false;
        for (struct slate_run *r = w->runs; r; r = r->next)
            held |= strcmp(r->job.entry_id, e->element[0]->str) == 0;
        if (held)
            continue;
        long long deliveries = e->element[2]->type == REDIS_REPLY_INTEGER ? e->element[2]->integer : 1;
        char n[24];
        snprintf(n, sizeof n, "%lld", deliveries);
        slate_warn("took over a job whose worker stopped heartbeating", "entry",
                   e->element[0]->str, "deliveries", n);
        w->poison_deliveries = deliveries > w->cfg->max_deliveries ? deliveries : 0;
        start_entry(w, e);
        w->poison_deliveries = 0;
    }
}

static void reclaim(struct slate_worker *w)
{
    int64_t free_slots = w->cfg->concurrency - w->n_runs;
    if (w->reclaiming || free_slots <= 0 || !w->group_ok)
        return;
    char idle[24], count[24];
    snprintf(idle, sizeof idle, "%lld", (long long)w->cfg->visibility_timeout_ms);
    snprintf(count, sizeof count, "%lld", (long long)(free_slots < 100 ? free_slots : 100));
    const char *argv[] = {"EVAL", slate_lua_reclaim, "1", w->k_jobs, GROUP, w->env.consumer,
                          idle, count};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    if (slate_redis_cmd(w->env.redis, 0, on_reclaimed, w, 8, argv, lens) == 0)
        w->reclaiming = true;
}

static void on_moved(redisReply *reply, const char *error, void *ud)
{
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        char n[24];
        snprintf(n, sizeof n, "%lld", reply->integer);
        slate_debug("delayed jobs due", "moved", n);
    }
}

static void move_due(struct slate_worker *w)
{
    char now[24], maxlen[24];
    snprintf(now, sizeof now, "%lld", (long long)slate_now_ms());
    snprintf(maxlen, sizeof maxlen, "%lld", (long long)w->cfg->dead_maxlen);
    const char *argv[] = {"EVAL", slate_lua_move_due, "3", w->k_delayed, w->k_jobs, w->k_dead,
                          now, MOVE_DUE_BATCH, maxlen};
    size_t lens[9];
    for (int i = 0; i < 9; i++)
        lens[i] = strlen(argv[i]);
    slate_redis_cmd(w->env.redis, 0, on_moved, NULL, 9, argv, lens);
}

static void run_script(struct slate_worker *w, const char *script, int nkeys,
                       const char *const *keys_and_args, int n)
{
    const char *argv[16];
    size_t lens[16];
    char nk[8];
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = nk;
    for (int i = 0; i < n && i < 13; i++)
        argv[3 + i] = keys_and_args[i];
    for (int i = 0; i < 3 + n; i++)
        lens[i] = strlen(argv[i]);
    slate_redis_cmd(w->env.redis, 0, ignore_reply, NULL, 3 + n, argv, lens);
}

static void reap(struct slate_worker *w)
{
    char now[24], stale[24];
    snprintf(now, sizeof now, "%lld", (long long)slate_now_ms());
    snprintf(stale, sizeof stale, "%lld", (long long)w->cfg->visibility_timeout_ms * 10);
    const char *ka[] = {w->k_jobs, w->k_workers, GROUP, now, stale};
    run_script(w, slate_lua_reap, 2, ka, 5);
}

static void schedule(struct slate_worker *w)
{
    char now[24], every[24];
    snprintf(now, sizeof now, "%lld", (long long)slate_now_ms());
    snprintf(every, sizeof every, "%lld", (long long)w->cfg->sync_interval_s * 1000);
    const char *ka[] = {w->k_schedule, w->k_jobs, now, every, "100"};
    run_script(w, slate_lua_schedule, 2, ka, 5);
}

static void on_tick(uv_timer_t *t)
{
    struct slate_worker *w = t->data;
    if (!slate_redis_ready(w->env.redis))
        return;
    for (struct slate_run *r = w->runs, *next; r; r = next) {
        next = r->next;
        if (r->state == RUN_FINISHING && r->finish_pending)
            finish_run(r);
    }
    if (w->stopping)
        return;
    if (!w->group_ok)
        ensure_group(w);
    maybe_read(w);
    move_due(w);
    reclaim(w);
    if (slate_mono_ms() - w->last_depth_ms >= 5000) {
        w->last_depth_ms = slate_mono_ms();
        refresh_depths(w);
    }
    if (w->cfg->sync_interval_s > 0)
        schedule(w);
    uint64_t now = slate_mono_ms();
    if (now - w->last_reap_ms > REAP_EVERY_MS) {
        w->last_reap_ms = now;
        reap(w);
    }
}

/* ---- metrics and health ---- */

static const double job_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
static const double api_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static void metrics_init(struct slate_worker *w)
{
    struct slate_metrics *m = w->metrics = slate_metrics_new();
    struct slate_worker_metrics *f = &w->env.m;
    f->jobs = slate_metric_register(m, SLATE_METRIC_COUNTER, "slate_jobs_total",
                                    "Finished job attempts by type and status.", "type,status",
                                    NULL, 0, 0);
    f->job_seconds = slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "slate_job_duration_seconds",
                                           "Wall time of a job attempt.", "type,status",
                                           job_buckets, sizeof job_buckets / sizeof *job_buckets, 0);
    f->in_flight = slate_metric_register(m, SLATE_METRIC_GAUGE, "slate_jobs_in_flight",
                                         "Jobs this worker holds now.", NULL, NULL, 0, 0);
    f->sync_pages = slate_metric_register(
        m, SLATE_METRIC_COUNTER, "slate_sync_pages_total",
        "Pages of servers by the way they reached Redis: held for the commit (small "
        "projects), staged as they came, or held and then staged (spilled) when the "
        "worker kept too many.",
        "path", NULL, 0, 0);
    f->api_requests = slate_metric_register(m, SLATE_METRIC_COUNTER, "slate_api_requests_total",
                                            "Hetzner API requests by HTTP status (or error).",
                                            "code", NULL, 0, 0);
    f->api_seconds = slate_metric_register(m, SLATE_METRIC_HISTOGRAM,
                                           "slate_api_request_duration_seconds",
                                           "Hetzner API request latency.", NULL, api_buckets,
                                           sizeof api_buckets / sizeof *api_buckets, 0);
    /* Bounded: the 1,000 integrations seen last. */
    f->api_budget = slate_metric_register(m, SLATE_METRIC_GAUGE, "slate_api_ratelimit_remaining",
                                          "Hetzner API requests left in the project's budget, "
                                          "as last seen (workspace/integration).",
                                          "integration", NULL, 0, 1000);
    f->redis_reconnects = slate_metric_register(m, SLATE_METRIC_COUNTER,
                                                "slate_redis_reconnects_total",
                                                "Redis reconnections since start.", "connection",
                                                NULL, 0, 0);
    f->queue = slate_metric_register(m, SLATE_METRIC_GAUGE, "slate_queue_depth",
                                     "Entries in the queue's keys (jobs, delayed, dead, results).",
                                     "queue", NULL, 0, 0);
}

static void on_depth(redisReply *reply, const char *error, void *ud)
{
    struct slate_worker *w = ud;
    static const char *const names[] = {"jobs", "delayed", "dead", "results"};
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4)
        return;
    for (size_t i = 0; i < 4; i++) {
        const char *labels[] = {names[i]};
        if (reply->element[i]->type == REDIS_REPLY_INTEGER)
            slate_metric_set(w->env.m.queue, labels, (double)reply->element[i]->integer);
    }
}

static void refresh_depths(struct slate_worker *w)
{
    static const char script[] =
        "return {redis.call('XLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]),"
        " redis.call('XLEN', KEYS[3]), redis.call('XLEN', KEYS[4])}";
    const char *argv[] = {"EVAL", script, "4", w->k_jobs, w->k_delayed, w->k_dead, w->k_results};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    slate_redis_cmd(w->env.redis, 0, on_depth, w, 7, argv, lens);
}

static void metrics_collect(void *ud)
{
    struct slate_worker *w = ud;
    slate_metric_set(w->env.m.in_flight, NULL, (double)w->n_runs);
    const char *cmd[] = {"commands"}, *rd[] = {"reader"};
    slate_metric_set(w->env.m.redis_reconnects, cmd, (double)slate_redis_reconnects(w->env.redis));
    slate_metric_set(w->env.m.redis_reconnects, rd, (double)slate_redis_reconnects(w->reader));
}

static bool metrics_ready(void *ud, char *why, size_t n)
{
    struct slate_worker *w = ud;
    if (w->stopping) {
        snprintf(why, n, "shutting down");
        return false;
    }
    if (!slate_redis_ready(w->env.redis) || !slate_redis_ready(w->reader)) {
        snprintf(why, n, "Redis is not reachable");
        return false;
    }
    if (!w->group_ok) {
        snprintf(why, n, "the consumer group is not there yet");
        return false;
    }
    return true;
}

/* ---- life ---- */

static void on_closed_one(void *data)
{
    struct slate_worker *w = data;
    if (--w->open > 0)
        return;
    void (*done)(void *) = w->on_done;
    void *dd = w->on_done_data;
    slate_free(w->k_jobs);
    slate_free(w->k_results);
    slate_free(w->k_delayed);
    slate_free(w->k_dead);
    slate_free(w->k_workers);
    slate_free(w->k_schedule);
    slate_free(w->k_epoch);
    slate_metrics_free(w->metrics);
    slate_free(w);
    if (done)
        done(dd);
}

static void on_handle_closed(uv_handle_t *h)
{
    on_closed_one(h->data);
}

static void close_all(struct slate_worker *w)
{
    if (w->closing)
        return;
    w->closing = true;
    w->open = 5 + (w->env.http ? 1 : 0) + (w->metrics_server ? 1 : 0);
    if (w->metrics_server)
        slate_metrics_server_close(w->metrics_server, on_closed_one, w);
    w->metrics_server = NULL;
    if (w->env.http)
        slate_http_close(w->env.http, on_closed_one, w);
    w->env.http = NULL;
    slate_redis_close(w->reader, on_closed_one, w);
    slate_redis_close(w->env.redis, on_closed_one, w);
    uv_close((uv_handle_t *)&w->heartbeat_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->tick_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->drain_timer, on_handle_closed);
}

static void on_worker_record_gone(redisReply *reply, const char *error, void *ud)
{
    close_all(ud);
}

static void maybe_close(struct slate_worker *w)
{
    if (!w->stopping || w->n_runs > 0 || w->reading || w->closing || w->releasing)
        return;
    slate_info("worker stopped", "consumer", w->env.consumer);
    const char *argv[] = {"HDEL", w->k_workers, w->env.consumer};
    size_t lens[] = {4, strlen(w->k_workers), strlen(w->env.consumer)};
    if (slate_redis_cmd(w->env.redis, 1000, on_worker_record_gone, w, 3, argv, lens) != 0)
        close_all(w);
}

static void on_released(redisReply *reply, const char *error, void *ud)
{
    struct slate_worker *w = ud;
    w->releasing = false;
    /* What is still running is abandoned: cancelling the HTTP transfers ends
     * each handler, which then finishes without writing anything. */
    for (struct slate_run *r = w->runs; r; r = r->next)
        r->abandon = true;
    slate_warn("drain timeout: unfinished jobs released for takeover");
    for (struct slate_run *r = w->runs, *next; r; r = next) {
        next = r->next;
        if (r->state == RUN_FINISHING)
            run_release(r);
    }
    struct slate_http *http = w->env.http;
    w->env.http = NULL; /* handlers see NULL and stop */
    if (http)
        slate_http_close(http, NULL, NULL);
    maybe_close(w);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct slate_worker *w = t->data;
    const char **ids = slate_calloc((size_t)w->n_runs + 1, sizeof *ids);
    size_t n = 0;
    for (struct slate_run *r = w->runs; r; r = r->next)
        ids[n++] = r->job.entry_id;
    w->releasing = true;
    /* IDLE far past the visibility timeout: any worker's next reclaim takes
     * them at once. */
    release_ids(w, ids, n, w->cfg->visibility_timeout_ms * 10, on_released, w);
    slate_free(ids);
    if (n == 0 || !slate_redis_ready(w->env.redis))
        on_released(NULL, "not connected", w);
}

void slate_worker_shutdown(struct slate_worker *w, void (*done)(void *data), void *data)
{
    if (w->stopping)
        return;
    w->stopping = true;
    w->on_done = done;
    w->on_done_data = data;
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)w->n_runs);
    slate_info("shutting down: finishing jobs in flight", "in_flight", n);
    /* Heartbeats go on while draining, so nobody takes over a job that is
     * still finishing here. */
    if (w->n_runs > 0)
        uv_timer_start(&w->drain_timer, on_drain_timeout, (uint64_t)w->cfg->drain_timeout_ms, 0);
    if (w->reading && !slate_redis_ready(w->reader))
        w->reading = false;
    maybe_close(w);
}

struct slate_worker *slate_worker_new(uv_loop_t *loop, const struct slate_config *cfg,
                                      const struct slate_keys *keys,
                                      const struct slate_keys *keys_prev, struct slate_err *err)
{
    struct slate_worker *w = slate_calloc(1, sizeof *w);
    w->env.keys_prev = keys_prev;
    w->cfg = cfg;
    w->env.loop = loop;
    w->env.cfg = cfg;
    w->env.keys = keys;
    w->env.prefix = cfg->prefix;
    w->env.consumer = cfg->consumer;
    /* One request per connection to the API host: more would only wait
     * inside curl, holding buffers. */
    w->env.pages.limit = (int)(cfg->http_max_conns_host < cfg->http_max_conns
                                   ? cfg->http_max_conns_host
                                   : cfg->http_max_conns);
    slate_check_config_default(&w->env.checks);
    w->env.checks.freshness_s = cfg->freshness_s;
    w->env.checks.ipv4_broad_prefix = (int)cfg->ssh_broad_ipv4;
    w->env.checks.ipv6_broad_prefix = (int)cfg->ssh_broad_ipv6;
    w->started_ms = slate_now_ms();
    gethostname(w->host, sizeof w->host - 1);

    struct slate_http_opts ho = {
        .base_url = cfg->hetzner_url,
        .insecure_http = cfg->insecure_http,
        .ca_file = cfg->ca_file,
        .connect_timeout_ms = (long)cfg->http_connect_timeout_ms,
        .total_timeout_ms = (long)cfg->http_timeout_ms,
        .low_speed_time_s = (long)cfg->http_low_speed_s,
        .max_body = (size_t)cfg->http_max_body,
        .max_host_conns = (long)cfg->http_max_conns_host,
        .max_total_conns = (long)cfg->http_max_conns,
    };
    if (slate_http_new(loop, &ho, &w->env.http, err) != 0) {
        slate_free(w);
        return NULL;
    }

    w->k_jobs = slate_qkey(&w->env, "jobs");
    w->k_results = slate_qkey(&w->env, "results");
    w->k_delayed = slate_qkey(&w->env, "delayed");
    w->k_dead = slate_qkey(&w->env, "dead");
    w->k_workers = slate_qkey(&w->env, "workers");
    w->k_schedule = slate_qkey(&w->env, "schedule");
    w->k_epoch = slate_qkey(&w->env, "epoch");

    char errbuf[200];
    struct slate_redis_opts ro = {.name = "commands",
                                  .timeout_ms = cfg->redis_timeout_ms,
                                  .backoff_min_ms = 100,
                                  .backoff_max_ms = 10000,
                                  .on_state = on_state,
                                  .ud = w};
    w->env.redis = slate_redis_new(loop, cfg->redis_url, &ro, errbuf, sizeof errbuf);
    ro.name = "reader";
    w->reader = w->env.redis ? slate_redis_new(loop, cfg->redis_url, &ro, errbuf, sizeof errbuf)
                             : NULL;
    if (!w->reader) {
        /* The URL was checked at start, so this is unreachable in practice;
         * unwinding the HTTP client and connection is still done properly. */
        slate_err_set(err, SLATE_E_INTERNAL, "%s", errbuf);
        w->stopping = true;
        w->open = 1 + (w->env.redis ? 1 : 0);
        w->closing = true;
        slate_http_close(w->env.http, on_closed_one, w);
        if (w->env.redis)
            slate_redis_close(w->env.redis, on_closed_one, w);
        return NULL;
    }

    metrics_init(w);
    if (strcmp(cfg->metrics_addr, "off") != 0) {
        struct slate_metrics_server_opts mo = {.addr = cfg->metrics_addr,
                                               .metrics = w->metrics,
                                               .collect = metrics_collect,
                                               .ready = metrics_ready,
                                               .ud = w};
        struct slate_err merr = {0};
        if (slate_metrics_server_start(loop, &mo, &w->metrics_server, &merr) != 0) {
            /* Refused at start, like any bad setting. */
            slate_err_set(err, SLATE_E_INTERNAL, "SLATE_METRICS_ADDR: %.200s", merr.msg);
            w->stopping = true;
            w->closing = true;
            w->open = 3;
            slate_http_close(w->env.http, on_closed_one, w);
            slate_redis_close(w->reader, on_closed_one, w);
            slate_redis_close(w->env.redis, on_closed_one, w);
            return NULL;
        }
        char port[16];
        snprintf(port, sizeof port, "%d", slate_metrics_server_port(w->metrics_server));
        slate_info("metrics and health endpoint listening", "addr", cfg->metrics_addr, "port", port);
    }
    uv_timer_init(loop, &w->heartbeat_timer);
    uv_timer_init(loop, &w->tick_timer);
    uv_timer_init(loop, &w->drain_timer);
    w->heartbeat_timer.data = w->tick_timer.data = w->drain_timer.data = w;
    uint64_t hb = (uint64_t)cfg->visibility_timeout_ms / 3;
    uv_timer_start(&w->heartbeat_timer, on_heartbeat, hb, hb);
    uint64_t tick = hb < 1000 ? hb : 1000;
    uv_timer_start(&w->tick_timer, on_tick, tick, tick);
    slate_info("worker started", "consumer", cfg->consumer, "prefix", cfg->prefix);
    return w;
}

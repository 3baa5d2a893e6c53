/*
 * handlers.c: the four jobs, each a chain of asynchronous steps.
 *
 *   connect:    open token -> syntax -> begin -> fetch (pages staged and
 *               judged as they come) -> commit
 *   sync:       begin -> decrypt token -> fetch -> commit
 *               (fetch failed: mark the record, load, evaluate what is stored)
 *   evaluate:   load -> evaluate
 *   disconnect: one script removes everything and bumps the generation
 *
 * begin is one script (generation, people, for a sync the record and a
 * budget reservation, the lease), and so is commit (the inventory, the test
 * results, the lease's release): a job's chain is as short in round trips
 * as the fencing allows, because with many jobs in flight every round trip
 * is a wait in Redis's queue.
 *
 * Every write is a fenced Lua script (scripts.c): it does nothing when the
 * integration was disconnected since the job began (its generation moved)
 * or when the job no longer holds the integration's sync lease.  Every step
 * that fails calls finish(), which releases what the job holds and reports
 * the outcome exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "jobs_int.h"
#include "scripts.h"
#include "slate/alloc.h"
#include "slate/hetzner.h"
#include "slate/log.h"

/* Pages of servers of a project this small are kept for the commit rather
 * than staged (see on_server_page), up to SLATE_SYNC_HOLD_BYTES for all the
 * worker's jobs. */
#define HOLD_PAGES 4

struct handler {
    struct slate_run *run;
    struct slate_env *env;
    const struct slate_job *job;
    char *k_int, *k_gens, *k_lease, *k_keys, *k_fws, *k_tests, *k_iassets, *k_assets;
    char *k_vendors, *k_ints, *k_members, *k_owners;
    char gen[24];
    char lease_token[320];
    bool have_lease;
    uv_timer_t lease_timer;
    bool lease_timer_open;
    char *token;
    size_t token_len;
    struct fetch *fetch;
    struct fetch_result fres;
    char ferror[SLATE_ERR_MSG_MAX];
    const struct slate_inventory *inv;
    struct slate_inventory stored;
    bool stored_init;
    struct slate_arena arena;         /* strings of the sync state and people */
    struct slate_sync_state sync;
    struct slate_strset members;
    struct slate_strmap owners;
    long added, changed, removed;
    bool with_inventory_summary;
    int64_t rl_limit, rl_remaining, rl_reset;
    char *k_schedule;
    char *k_stage_assets, *k_stage_tests;
    /* Streaming: what the pages of servers added up to so far. */
    size_t servers;
    long checked[8];
    size_t counts[8][3];              /* failing, not_applicable, errors per test */
    int pending_stages;               /* page writes not yet answered */
    size_t servers_staged;            /* in the staging hash, for the commit's check */
    bool staging;                     /* pages go to Redis as they come */
    struct slate_argv held, held_findings; /* or wait in memory for the commit */
    size_t held_servers, held_pages, held_bytes;
    bool fetched;
    enum slate_code stage_code;
    char stage_error[SLATE_ERR_MSG_MAX];
    const struct slate_inventory *side; /* every key and firewall (the fetch's) */
    /* The outcome once the evaluation is stored. */
    enum slate_code code;
    char error[SLATE_ERR_MSG_MAX];
    char *tests_summary;              /* {"id":"status",...} */
    int64_t retry_due_ms;
    bool finished;
};

static void finish(struct handler *h, enum slate_code code, const char *error);
static void evaluate_and_store(struct handler *h);
static void load(struct handler *h, slate_redis_cb *cb);
static void schedule_syncs(struct handler *h, bool on);

/* ---- helpers ---- */

static int hsend(struct handler *h, struct slate_argv *a, slate_redis_cb *cb)
{
    int rc = slate_argv_send(h->env->redis, 0, a, cb, h);
    slate_argv_free(a);
    return rc;
}

static void redis_unreachable(struct handler *h)
{
    finish(h, SLATE_E_INTERNAL, "Redis is not reachable");
}

/* A fenced script's first reply element: -1 disconnected, -2 lease lost. */
static bool fence_broken(struct handler *h, redisReply *reply, const char *error)
{
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        char msg[SLATE_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "Redis failed: %s",
                 reply ? reply->str : (error ? error : "no reply"));
        finish(h, SLATE_E_INTERNAL, msg);
        return true;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer < 0) {
        if (reply->element[0]->integer == -2)
            finish(h, SLATE_E_INTERNAL,
                   "another job took over this integration's sync; this one stops without writing");
        else if (reply->element[0]->integer == -3)
            finish(h, SLATE_E_INTERNAL,
                   "the staged servers of this sync are incomplete in Redis; it will try again");
        else
            finish(h, SLATE_E_NOT_CONNECTED,
                   "The integration is not connected (it was disconnected while the job ran)");
        return true;
    }
    return false;
}

static void add_fence(struct handler *h, struct slate_argv *a, const char *script, int nkeys)
{
    slate_argv_str(a, "EVAL");
    slate_argv_str(a, script);
    slate_argv_int(a, nkeys);
    slate_argv_str(a, h->k_int);
    slate_argv_str(a, h->k_gens);
    slate_argv_str(a, h->k_lease);
}

static void add_fence_args(struct handler *h, struct slate_argv *a, bool lease)
{
    slate_argv_str(a, h->job->integration);
    slate_argv_str(a, h->gen);
    slate_argv_str(a, lease ? h->lease_token : "");
}

/* Frees the pages a job kept for its commit (on_server_page). */
static void drop_held(struct handler *h)
{
    h->env->held_bytes -= h->held_bytes;
    h->held_bytes = 0;
    h->held_servers = 0;
    h->held_pages = 0;
    slate_argv_free(&h->held);
    slate_argv_free(&h->held_findings);
}

static void free_handler(struct handler *h)
{
    slate_free(h->k_int);
    slate_free(h->k_gens);
    slate_free(h->k_lease);
    slate_free(h->k_keys);
    slate_free(h->k_fws);
    slate_free(h->k_tests);
    slate_free(h->k_iassets);
    slate_free(h->k_assets);
    slate_free(h->k_vendors);
    slate_free(h->k_ints);
    slate_free(h->k_members);
    slate_free(h->k_owners);
    slate_free(h->k_schedule);
    slate_free(h->k_stage_assets);
    slate_free(h->k_stage_tests);
    if (h->token) {
        explicit_bzero(h->token, h->token_len);
        slate_free(h->token);
    }
    fetch_free(h->fetch);
    if (h->stored_init)
        slate_inventory_free(&h->stored);
    slate_arena_free(&h->arena);
    slate_free(h->members.v);
    slate_free(h->owners.v);
    slate_free(h->tests_summary);
    drop_held(h);
    slate_free(h);
}

/* The handler is freed when it has finished and nothing still refers to it
 * (its lease timer closing, page writes not yet answered). */
static void maybe_free(struct handler *h)
{
    if (h->finished && !h->lease_timer_open && h->pending_stages == 0)
        free_handler(h);
}

static void on_lease_timer_closed(uv_handle_t *t)
{
    struct handler *h = t->data;
    h->lease_timer_open = false;
    maybe_free(h);
}

static void ignore(redisReply *reply, const char *error, void *ud)
{
    (void)reply;
    (void)error;
    (void)ud;
}

static char *build_summary(struct handler *h)
{
    struct slate_buf b;
    slate_buf_init(&b);
    if (h->job->type == SLATE_JOB_DISCONNECT) {
        slate_buf_printf(&b, "{\"assets\":{\"removed\":%ld}}", h->removed);
        return slate_buf_steal(&b);
    }
    if (!h->tests_summary && !h->with_inventory_summary) {
        slate_buf_free(&b);
        return NULL;
    }
    slate_buf_puts(&b, "{");
    if (h->with_inventory_summary && h->side) {
        slate_buf_printf(&b,
                         "\"servers\":%zu,\"ssh_keys\":%zu,\"firewalls\":%zu,"
                         "\"assets\":{\"added\":%ld,\"changed\":%ld,\"removed\":%ld},",
                         h->servers, h->side->n_ssh_keys, h->side->n_firewalls, h->added,
                         h->changed, h->removed);
    }
    slate_buf_printf(&b, "\"tests\":%s}", h->tests_summary ? h->tests_summary : "{}");
    return slate_buf_steal(&b);
}

static void finish(struct handler *h, enum slate_code code, const char *error)
{
    if (h->finished)
        return;
    h->finished = true;
    if (h->have_lease && h->env->redis) {
        const char *argv[] = {"EVAL", slate_lua_release_lease, "1", h->k_lease, h->lease_token};
        size_t lens[5];
        for (int i = 0; i < 5; i++)
            lens[i] = strlen(argv[i]);
        slate_redis_cmd(h->env->redis, 0, ignore, NULL, 5, argv, lens);
    }
    struct slate_run *run = h->run;
    run->retry_due_ms = h->retry_due_ms;
    char *summary = build_summary(h);
    /* The sentence may live in h: copy it before h goes. */
    char msg[SLATE_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", error ? error : slate_code_message(code));
    if (h->lease_timer_open) {
        uv_timer_stop(&h->lease_timer);
        uv_close((uv_handle_t *)&h->lease_timer, on_lease_timer_closed);
    }
    /* Freed now, or by the last thing still referring to it. */
    maybe_free(h);
    slate_run_done(run, code, code == SLATE_E_OK ? NULL : msg, summary);
}

/* ---- evaluation ---- */

static void fill_people(struct handler *h, const redisReply *members, const redisReply *owners)
{
    slate_free(h->members.v);
    slate_free(h->owners.v);
    memset(&h->members, 0, sizeof h->members);
    memset(&h->owners, 0, sizeof h->owners);
    if (members && members->type == REDIS_REPLY_ARRAY && members->elements) {
        h->members.v = slate_calloc(members->elements, sizeof *h->members.v);
        for (size_t i = 0; i < members->elements; i++) {
            if (members->element[i]->type == REDIS_REPLY_STRING)
                h->members.v[h->members.n++] = slate_arena_strndup(
                    &h->arena, members->element[i]->str, members->element[i]->len);
        }
    }
    if (owners && owners->type == REDIS_REPLY_ARRAY && owners->elements >= 2) {
        h->owners.v = slate_calloc(owners->elements / 2, sizeof *h->owners.v);
        for (size_t i = 0; i + 1 < owners->elements; i += 2) {
            const redisReply *k = owners->element[i], *v = owners->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            struct slate_strmap_entry *e = &h->owners.v[h->owners.n++];
            e->key = slate_arena_strndup(&h->arena, k->str, k->len);
            e->value = slate_arena_strndup(&h->arena, v->str, v->len);
        }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_owner(const void *a, const void *b)
{
    return strcmp(((const struct slate_strmap_entry *)a)->key,
                  ((const struct slate_strmap_entry *)b)->key);
}

static void sort_people(struct handler *h)
{
    if (h->members.n > 1)
        qsort(h->members.v, h->members.n, sizeof *h->members.v, cmp_str);
    if (h->owners.n > 1)
        qsort(h->owners.v, h->owners.n, sizeof *h->owners.v, cmp_owner);
}

static void on_tests_stored(redisReply *reply, const char *error, void *ud)
{
    struct handler *h = ud;
    if (fence_broken(h, reply, error))
        return;
    finish(h, h->code, h->code == SLATE_E_OK ? NULL : h->error);
}

static void evaluate_and_store(struct handler *h)
{
    run_set_state(h->run, RUN_EVALUATING);
    int64_t now = slate_now_ms();
    struct slate_check_input in = {
        .integration = h->job->integration,
        .sync = &h->sync,
        .inv = h->inv,
        .members = &h->members,
        .owners = &h->owners,
        .cfg = &h->env->checks,
        .now_ms = now,
    };
    struct slate_argv a = {0};
    add_fence(h, &a, slate_lua_store_tests, 4);
    slate_argv_str(&a, h->k_tests);
    add_fence_args(h, &a, false);
    struct slate_buf summary;
    slate_buf_init(&summary);
    slate_buf_puts(&summary, "{");
    for (size_t i = 0; i < slate_n_checks; i++) {
        struct slate_check_result r;
        slate_check_run(&slate_checks[i], &in, &r);
        struct slate_buf json;
        slate_buf_init(&json);
        slate_check_result_json(&r, now, &json);
        slate_argv_str(&a, slate_checks[i].id);
        slate_argv_own(&a, slate_buf_steal(&json));
        const char *st = slate_check_status_name(r.status);
        slate_buf_printf(&summary, "%s\"%s\":\"%s\"", i ? "," : "", slate_checks[i].id, st);
        slate_check_result_free(&r);
    }
    slate_buf_puts(&summary, "}");
    slate_free(h->tests_summary);
    h->tests_summary = slate_buf_steal(&summary);
    if (hsend(h, &a, on_tests_stored) != 0)
        redis_unreachable(h);
}

/* Fills h->sync from the integration hash (flat field/value reply). */
static bool read_integration(struct handler *h, const redisReply *integ)
{
    memset(&h->sync, 0, sizeof h->sync);
    if (!integ || integ->type != REDIS_REPLY_ARRAY || integ->elements == 0)
        return false;
    h->sync.connected = true;
    for (size_t i = 0; i + 1 < integ->elements; i += 2) {
        const redisReply *k = integ->element[i], *v = integ->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char *val = slate_arena_strndup(&h->arena, v->str, v->len);
        if (strcmp(k->str, "status") == 0)
            h->sync.status = val;
        else if (strcmp(k->str, "last_error") == 0)
            h->sync.last_error = val;
        else if (strcmp(k->str, "last_error_code") == 0)
            h->sync.last_error_code = val;
        else if (strcmp(k->str, "last_success_at") == 0) {
            int64_t ms;
            if (slate_parse_time(val, &ms) == 0) {
                h->sync.last_success_ms = ms;
                h->sync.servers_complete = h->sync.ssh_keys_complete =
                    h->sync.firewalls_complete = true;
            }
        } else if (strcmp(k->str, "token") == 0 && h->job->type == SLATE_JOB_SYNC) {
            struct slate_err err;
            const char *why = NULL;
            if (h->token) {
                explicit_bzero(h->token, h->token_len);
                slate_free(h->token);
                h->token = NULL;
            }
            /* During a key rotation the old key still opens what it sealed. */
            if (slate_token_decrypt(h->env->keys, h->job->workspace, h->job->integration, v->str,
                                    v->len, &h->token, &h->token_len, &why) != 0 &&
                (!h->env->keys_prev ||
                 slate_token_decrypt(h->env->keys_prev, h->job->workspace, h->job->integration,
                                     v->str, v->len, &h->token, &h->token_len, &why) != 0)) {
                (void)err;
                slate_warn("stored token does not open", "integration", h->job->integration,
                           "reason", why);
            }
        } else if (strcmp(k->str, "ratelimit_limit") == 0) {
            slate_parse_i64(val, &h->rl_limit);
        } else if (strcmp(k->str, "ratelimit_remaining") == 0) {
            slate_parse_i64(val, &h->rl_remaining);
        } else if (strcmp(k->str, "ratelimit_reset") == 0) {
            slate_parse_i64(val, &h->rl_reset);
        }
    }
    return true;
}

typedef int from_json_fn(int64_t id, const char *json, size_t n, struct slate_inventory *inv,
                         struct slate_err *err);

/* A hash of id -> stored JSON (flat HGETALL reply) into the inventory. */
static int read_by_id(const redisReply *hash, from_json_fn *fn, const char *what,
                      struct slate_inventory *inv, char *msg, size_t n)
{
    struct slate_err err = {0};
    for (size_t i = 0; hash->type == REDIS_REPLY_ARRAY && i + 1 < hash->elements; i += 2) {
        int64_t id;
        const redisReply *k = hash->element[i], *v = hash->element[i + 1];
        if (!slate_parse_i64(k->str, &id) || fn(id, v->str, v->len, inv, &err) != 0) {
            snprintf(msg, n, "a stored %s does not parse: %.200s", what, err.msg);
            return -1;
        }
    }
    return 0;
}

/* Rebuilds the stored inventory from the JSON a sync wrote.  Returns -1 with
 * a sentence when something stored does not parse. */
static int read_stored(struct handler *h, const redisReply *keys, const redisReply *fws,
                       const redisReply *assets, char *msg, size_t n)
{
    if (h->stored_init)
        slate_inventory_free(&h->stored);
    slate_inventory_init(&h->stored);
    h->stored_init = true;
    struct slate_err err = {0};
    for (size_t i = 0; assets->type == REDIS_REPLY_ARRAY && i < assets->elements; i++) {
        const redisReply *v = assets->element[i];
        if (v->type == REDIS_REPLY_STRING &&
            slate_server_from_asset_json(v->str, v->len, &h->stored, &err) != 0) {
            snprintf(msg, n, "a stored server asset does not parse: %.200s", err.msg);
            return -1;
        }
    }
    if (read_by_id(keys, slate_ssh_key_from_json, "SSH key", &h->stored, msg, n) != 0 ||
        read_by_id(fws, slate_firewall_from_json, "firewall", &h->stored, msg, n) != 0)
        return -1;
    h->inv = &h->stored;
    return 0;
}

/* ---- load ---- */

static void load(struct handler *h, slate_redis_cb *cb)
{
    struct slate_argv a = {0};
    slate_argv_str(&a, "EVAL");
    slate_argv_str(&a, slate_lua_load);
    slate_argv_str(&a, "8");
    slate_argv_str(&a, h->k_int);
    slate_argv_str(&a, h->k_gens);
    slate_argv_str(&a, h->k_keys);
    slate_argv_str(&a, h->k_fws);
    slate_argv_str(&a, h->k_iassets);
    slate_argv_str(&a, h->k_assets);
    slate_argv_str(&a, h->k_members);
    slate_argv_str(&a, h->k_owners);
    slate_argv_str(&a, h->job->integration);
    if (hsend(h, &a, cb) != 0)
        redis_unreachable(h);
}

static bool load_reply_ok(struct handler *h, redisReply *reply, const char *error)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 7) {
        char msg[SLATE_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "Redis failed: %s",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                          : (error ? error : "unexpected reply"));
        finish(h, SLATE_E_INTERNAL, msg);
        return false;
    }
    return true;
}

/* The evaluate job, and a sync that failed: judge what is stored. */
static void on_loaded_for_evaluate(redisReply *reply, const char *error, void *ud)
{
    struct handler *h = ud;
    if (!load_reply_ok(h, reply, error))
        return;
    if (h->job->type == SLATE_JOB_EVALUATE)
        snprintf(h->gen, sizeof h->gen, "%s", reply->element[0]->str);
    if (!read_integration(h, reply->element[1])) {
        finish(h, SLATE_E_NOT_CONNECTED, NULL);
        return;
    }
    fill_people(h, reply->element[5], reply->element[6]);
    sort_people(h);
    char msg[SLATE_ERR_MSG_MAX];
    if (read_stored(h, reply->element[2], reply->element[3], reply->element[4], msg, sizeof msg) != 0) {
        /* Judging half of what is stored would be a lie: no test result. */
        finish(h, SLATE_E_INTERNAL, msg);
        return;
    }
    if (h->sync.last_success_ms == 0)
        h->inv = NULL;
    evaluate_and_store(h);
}

/* ---- sync / connect ---- */

/* The sync's own state, for the tests it decides as it goes. */
static void set_fresh_sync_state(struct handler *h)
{
    memset(&h->sync, 0, sizeof h->sync);
    h->sync.connected = true;
    h->sync.status = "connected";
    h->sync.last_success_ms = slate_now_ms();
    h->sync.servers_complete = h->sync.ssh_keys_complete = h->sync.firewalls_complete = true;
}

static struct slate_check_input check_input(struct handler *h, const struct slate_inventory *inv)
{
    return (struct slate_check_input){
        .integration = h->job->integration,
        .sync = &h->sync,
        .inv = inv,
        .members = &h->members,
        .owners = &h->owners,
        .cfg = &h->env->checks,
        .now_ms = h->sync.last_success_ms,
    };
}

/* The six results, appended to the commit's arguments: per-server tests
 * as the parts around the findings the pages staged, the others decided
 * now on the keys and firewalls. */
static void add_streamed_tests(struct handler *h, struct slate_argv *a)
{
    int64_t now = slate_now_ms();
    struct slate_inventory view = *h->side;
    view.servers = NULL;
    view.n_servers = 0;
    struct slate_check_input in = check_input(h, &view);
    in.n_servers_total = h->servers;
    struct slate_buf summary;
    slate_buf_init(&summary);
    slate_buf_puts(&summary, "{");
    for (size_t i = 0; i < slate_n_checks && i < 8; i++) {
        const struct slate_check_desc *d = &slate_checks[i];
        enum slate_check_status st;
        slate_argv_str(a, d->id);
        if (d->per_server) {
            st = slate_check_status_of(h->counts[i][0], h->counts[i][2], h->checked[i]);
            struct slate_buf parts[4];
            for (int k = 0; k < 4; k++)
                slate_buf_init(&parts[k]);
            slate_check_json_parts(d, st, h->checked[i], now, parts);
            slate_argv_str(a, "parts");
            for (int k = 0; k < 4; k++)
                slate_argv_own(a, slate_buf_steal(&parts[k]));
        } else {
            struct slate_check_result r;
            slate_check_run(d, &in, &r);
            st = r.status;
            slate_argv_str(a, "full");
            slate_check_result_json(&r, now, slate_argv_open(a));
            slate_argv_close(a);
            slate_check_result_free(&r);
        }
        slate_buf_printf(&summary, "%s\"%s\":\"%s\"", i ? "," : "", d->id,
                         slate_check_status_name(st));
    }
    slate_buf_puts(&summary, "}");
    slate_free(h->tests_summary);
    h->tests_summary = slate_buf_steal(&summary);
}

static void on_committed(redisReply *reply, const char *error, void *ud)
{
    struct handler *h = ud;
    if (fence_broken(h, reply, error))
        return;
    if (h->fres.rl_remaining >= 0) {
        char key[140];
        snprintf(key, sizeof key, "%s/%s", h->job->workspace, h->job->integration);
        const char *labels[] = {key};
        slate_metric_set(h->env->m.api_budget, labels, (double)h->fres.rl_remaining);
    }
    /* The script released the lease with its last write. */
    h->have_lease = false;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
        h->added = (long)reply->element[0]->integer;
        h->changed = (long)reply->element[1]->integer;
        h->removed = (long)reply->element[2]->integer;
    }
    h->with_inventory_summary = true;
    char counts[96];
    snprintf(counts, sizeof counts, "%zu/%zu/%zu", h->servers, h->side->n_ssh_keys,
             h->side->n_firewalls);
    slate_debug("inventory stored", "job_id", h->job->job_id, "servers/keys/firewalls", counts);
    h->code = SLATE_E_OK;
    if (h->job->type == SLATE_JOB_CONNECT && h->env->cfg->sync_interval_s > 0)
        schedule_syncs(h, true);
    finish(h, SLATE_E_OK, NULL);
}

/* The schedule lives in the queue's slot ({q}), so it cannot be written in
 * the same script as the integration ({W}): it is kept in step right after.
 * A scheduled sync of an integration that is gone fails not_connected and
 * the next disconnect (or this one) removes the entry. */
static void schedule_syncs(struct handler *h, bool on)
{
    char member[140];
    snprintf(member, sizeof member, "%s/%s", h->job->workspace, h->job->integration);
    if (on) {
        /* The first scheduled sync lands anywhere in the next interval, so
         * that integrations connected together do not sync together. */
        int64_t every = h->env->cfg->sync_interval_s * 1000;
        char due[24];
        snprintf(due, sizeof due, "%lld",
                 (long long)(slate_now_ms() + every / 2 +
                             (int64_t)slate_rand_below((uint64_t)every / 2 + 1)));
        const char *argv[] = {"ZADD", h->k_schedule, due, member};
        size_t lens[] = {4, strlen(h->k_schedule), strlen(due), strlen(member)};
        slate_redis_cmd(h->env->redis, 0, ignore, NULL, 4, argv, lens);
    } else {
        const char *argv[] = {"ZREM", h->k_schedule, member};
        size_t lens[] = {4, strlen(h->k_schedule), strlen(member)};
        slate_redis_cmd(h->env->redis, 0, ignore, NULL, 3, argv, lens);
    }
}

static void commit(struct handler *h)
{
    run_set_state(h->run, RUN_STORING);
    bool connect = h->job->type == SLATE_JOB_CONNECT;
    struct slate_argv a = {0};
    add_fence(h, &a, slate_lua_commit_sync, 12);
    slate_argv_str(&a, h->k_keys);
    slate_argv_str(&a, h->k_fws);
    slate_argv_str(&a, h->k_iassets);
    slate_argv_str(&a, h->k_assets);
    slate_argv_str(&a, h->k_vendors);
    slate_argv_str(&a, h->k_ints);
    slate_argv_str(&a, h->k_stage_assets);
    slate_argv_str(&a, h->k_tests);
    slate_argv_str(&a, h->k_stage_tests);
    add_fence_args(h, &a, true);
    slate_argv_str(&a, connect ? "connect" : "sync");
    char now[SLATE_TIME_MAX];
    slate_format_time(slate_now_ms(), now);
    slate_argv_copy(&a, now, strlen(now));
    if (connect) {
        char hint[SLATE_TOKEN_HINT_MAX];
        slate_token_hint(h->token, h->token_len, hint);
        slate_argv_own(&a, slate_token_encrypt(h->env->keys, h->job->workspace,
                                               h->job->integration, h->token, h->token_len));
        slate_argv_copy(&a, hint, strlen(hint));
    } else {
        slate_argv_str(&a, "");
        slate_argv_str(&a, "");
    }
    slate_argv_int(&a, h->fres.rl_limit);
    slate_argv_int(&a, h->fres.rl_remaining);
    slate_argv_int(&a, h->fres.rl_reset);
    slate_argv_int(&a, (long long)h->servers_staged);
    const struct slate_inventory *inv = h->side;
    slate_argv_int(&a, (long long)inv->n_ssh_keys);
    for (size_t i = 0; i < inv->n_ssh_keys; i++) {
        slate_argv_int(&a, (long long)inv->ssh_keys[i].id);
        slate_ssh_key_json(&inv->ssh_keys[i], slate_argv_open(&a));
        slate_argv_close(&a);
    }
    slate_argv_int(&a, (long long)inv->n_firewalls);
    for (size_t i = 0; i < inv->n_firewalls; i++) {
        slate_argv_int(&a, (long long)inv->firewalls[i].id);
        slate_firewall_json(&inv->firewalls[i], slate_argv_open(&a));
        slate_argv_close(&a);
    }
    slate_argv_int(&a, (long long)h->held_servers);
    slate_argv_extend(&a, &h->held);
    slate_argv_int(&a, (long long)h->held_findings.n / 2);
    slate_argv_extend(&a, &h->held_findings);
    add_streamed_tests(h, &a);
    if (h->held_pages)
        slate_metric_add(h->env->m.sync_pages, (const char *[]){"held"}, (double)h->held_pages);
    int rc = hsend(h, &a, on_committed);
    /* Sent (hiredis copied it) or not, what was kept is no longer needed. */
    drop_held(h);
    if (rc != 0)
        redis_unreachable(h);
}

/* Commits once the fetch is over and every page's write was answered. */
static void maybe_commit(struct handler *h)
{
    if (!h->fetched || h->pending_stages > 0 || h->finished)
        return;
    if (h->stage_code != SLATE_E_OK) {
        finish(h, h->stage_code, h->stage_error);
        return;
    }
    commit(h);
}

static void on_staged(redisReply *reply, const char *error, void *ud)
{
    struct handler *h = ud;
    h->pending_stages--;
    if (h->finished) {
        maybe_free(h);
        return;
    }
    if (h->stage_code == SLATE_E_OK) {
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
            h->stage_code = SLATE_E_INTERNAL;
            snprintf(h->stage_error, sizeof h->stage_error, "Redis failed: %.200s",
                     reply ? reply->str : (error ? error : "no reply"));
        } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
                   reply->element[0]->type == REDIS_REPLY_INTEGER &&
                   reply->element[0]->integer < 0) {
            h->stage_code = reply->element[0]->integer == -2 ? SLATE_E_INTERNAL
                                                            : SLATE_E_NOT_CONNECTED;
            snprintf(h->stage_error, sizeof h->stage_error, "%s",
                     reply->element[0]->integer == -2
                         ? "another job took over this integration's sync; this one stops "
                           "without writing"
                         : "The integration is not connected (it was disconnected while the "
                           "job ran)");
        }
    }
    maybe_commit(h);
}

/* A page's assets (id/json pairs) into `assets`, and the findings the
 * page gives each per-server test ("<test>|<list>|<page>" / items pairs)
 * into `findings`. */
static void write_page(struct handler *h, int64_t number, const struct slate_inventory *page,
                       const struct slate_inventory *side, struct slate_argv *assets,
                       struct slate_argv *findings)
{
    struct slate_inventory view = *side;
    view.servers = page->servers;
    view.n_servers = page->n_servers;
    struct slate_check_input in = check_input(h, &view);
    for (size_t i = 0; i < page->n_servers; i++) {
        char id[SLATE_ASSET_ID_MAX];
        slate_argv_copy(assets, id, slate_asset_id(id, h->job->integration, page->servers[i].id));
        slate_server_asset_json(&page->servers[i], h->job->integration, slate_argv_open(assets));
        slate_argv_close(assets);
    }
    static const char *const lists[3] = {"failing", "not_applicable", "errors"};
    for (size_t t = 0; t < slate_n_checks && t < 8; t++) {
        if (!slate_checks[t].per_server)
            continue;
        struct slate_check_result r;
        slate_check_run(&slate_checks[t], &in, &r);
        const struct slate_findings *f[3] = {&r.failing, &r.not_applicable, &r.errors};
        for (int l = 0; l < 3; l++) {
            if (!f[l]->n)
                continue;
            h->counts[t][l] += f[l]->n;
            struct slate_buf *field = slate_argv_open(findings);
            slate_buf_puts(field, slate_checks[t].id);
            slate_buf_append(field, "|", 1);
            slate_buf_puts(field, lists[l]);
            slate_buf_append(field, "|", 1);
            /* The page's number, not its arrival: the findings are joined
             * in the API's order, whatever order the pages came in. */
            slate_buf_int(field, number);
            slate_argv_close(findings);
            slate_findings_json_items(f[l], slate_argv_open(findings));
            slate_argv_close(findings);
        }
        h->checked[t] += r.checked;
        slate_check_result_free(&r);
    }
}

/* Writes pages' assets and findings to the staging hashes (one fenced
 * script); the commit checks that every staged server is there. */
static void stage(struct handler *h, const struct slate_argv *assets,
                  const struct slate_argv *findings, size_t n_servers)
{
    struct slate_argv a = {0};
    add_fence(h, &a, slate_lua_stage_page, 5);
    slate_argv_str(&a, h->k_stage_assets);
    slate_argv_str(&a, h->k_stage_tests);
    add_fence_args(h, &a, true);
    slate_argv_int(&a, (long long)n_servers);
    slate_argv_extend(&a, assets);
    slate_argv_extend(&a, findings);
    h->servers_staged += n_servers;
    if (hsend(h, &a, on_staged) == 0) {
        h->pending_stages++;
    } else if (h->stage_code == SLATE_E_OK) {
        h->stage_code = SLATE_E_INTERNAL;
        snprintf(h->stage_error, sizeof h->stage_error, "Redis is not reachable");
    }
}

/* A page of servers: its servers judged, its assets and findings kept for
 * the commit or staged in Redis, then the fetch frees it.
 *
 * Staging costs Redis twice (each page written to a staging hash, then read
 * back by the commit) and a small project does not need it: the pages of a
 * project of at most HOLD_PAGES pages are kept in memory and go to Redis
 * with the commit, while the worker's jobs keep at most
 * SLATE_SYNC_HOLD_BYTES so.  Past that, what a job kept is staged and it stages from then
 * on; a bigger project stages every page as it comes, so memory still grows
 * with the page, not with the project. */
static void on_server_page(void *ud, int64_t number, const struct slate_inventory *page,
                           const struct slate_inventory *side)
{
    struct handler *h = ud;
    h->servers += page->n_servers;
    int64_t pages = fetch_server_pages(h->fetch);
    if (!h->staging && (pages <= 0 || pages > HOLD_PAGES || h->env->cfg->sync_hold_bytes == 0))
        h->staging = true;
    if (h->staging) {
        struct slate_argv assets = {0}, findings = {0};
        write_page(h, number, page, side, &assets, &findings);
        stage(h, &assets, &findings, page->n_servers);
        slate_argv_free(&assets);
        slate_argv_free(&findings);
        slate_metric_add(h->env->m.sync_pages, (const char *[]){"staged"}, 1);
        return;
    }
    h->held.kept = h->held_findings.kept = true;
    write_page(h, number, page, side, &h->held, &h->held_findings);
    h->held_servers += page->n_servers;
    h->held_pages++;
    size_t bytes = slate_argv_bytes(&h->held) + slate_argv_bytes(&h->held_findings);
    h->env->held_bytes += bytes - h->held_bytes;
    h->held_bytes = bytes;
    if (h->env->held_bytes > (size_t)h->env->cfg->sync_hold_bytes) {
        h->staging = true;
        stage(h, &h->held, &h->held_findings, h->held_servers);
        slate_metric_add(h->env->m.sync_pages, (const char *[]){"spilled"}, (double)h->held_pages);
        drop_held(h);
    }
}

static void on_sync_failed_marked(redisReply *reply, const char *error, void *ud)
{
    struct handler *h = ud;
    if (fence_broken(h, reply, error))
        return;
    /* hetzner.cloud_linked must show the failure at once: evaluate what is
     * stored, under the new status. */
    load(h, on_loaded_for_evaluate);
}

static void on_progress_written(redisReply *reply, const char *error, void *ud)
{
    (void)reply;
    (void)error;
    (void)ud;
}

static void on_progress(void *ud, unsigned done, unsigned known)
{
    struct handler *h = ud;
    if (h->job->type != SLATE_JOB_SYNC || !h->env->redis)
        return;
    char progress[48];
    snprintf(progress, sizeof progress, "%u/%u", done, known);
    struct slate_argv a = {0};
    add_fence(h, &a, slate_lua_set_progress, 3);
    add_fence_args(h, &a, true);
    slate_argv_copy(&a, progress, strlen(progress));
    slate_argv_send(h->env->redis, 0, &a, on_progress_written, h);
    slate_argv_free(&a);
}

static void on_fetched(void *ud, const struct fetch_result *res, const struct slate_inventory *inv)
{
    struct handler *h = ud;
    h->fres = *res;
    snprintf(h->ferror, sizeof h->ferror, "%s", res->error ? res->error : "");
    h->fres.error = h->ferror;
    char pages[32];
    snprintf(pages, sizeof pages, "%u/%u", res->pages, res->requests);
    if (res->code == SLATE_E_OK) {
        slate_debug("fetched", "job_id", h->job->job_id, "pages/requests", pages);
        h->side = inv;
        h->fetched = true;
        maybe_commit(h);
        return;
    }
    h->retry_due_ms = res->retry_due_ms;
    if (h->job->type == SLATE_JOB_CONNECT) {
        /* Nothing is stored: an integration already connected keeps its
         * old token and data. */
        finish(h, res->code, res->error);
        return;
    }
    if (!slate_run_is_final(h->run, res->code, res->retry_due_ms)) {
        /* Another attempt is coming: leave the record alone until the sync
         * fails for good. */
        finish(h, res->code, res->error);
        return;
    }
    h->code = res->code;
    snprintf(h->error, sizeof h->error, "%s", res->error);
    struct slate_argv a = {0};
    add_fence(h, &a, slate_lua_sync_failed, 3);
    add_fence_args(h, &a, true);
    char now[SLATE_TIME_MAX];
    slate_format_time(slate_now_ms(), now);
    slate_argv_copy(&a, now, strlen(now));
    slate_argv_str(&a, slate_code_name(res->code));
    slate_argv_str(&a, h->error);
    slate_argv_int(&a, res->rl_limit);
    slate_argv_int(&a, res->rl_remaining);
    slate_argv_int(&a, res->rl_reset);
    if (hsend(h, &a, on_sync_failed_marked) != 0)
        redis_unreachable(h);
}

static void start_fetch(struct handler *h)
{
    run_set_state(h->run, RUN_FETCHING);
    struct slate_err err = {0};
    set_fresh_sync_state(h);
    h->fetch = fetch_start(h->env, h->token, h->job->job_id, on_progress, on_server_page,
                           on_fetched, h, &err);
    if (!h->fetch)
        finish(h, err.code, err.msg);
}

static void on_lease_renewed(redisReply *reply, const char *error, void *ud)
{
    (void)ud;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
        slate_warn("the sync lease was taken by another job; this job's writes will be refused");
    (void)error;
}

static void on_lease_timer(uv_timer_t *t)
{
    struct handler *h = t->data;
    if (!h->have_lease || h->finished || !h->env->redis)
        return;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)h->env->cfg->visibility_timeout_ms);
    const char *argv[] = {"EVAL", slate_lua_lease, "1", h->k_lease, h->lease_token, ttl};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    slate_redis_cmd(h->env->redis, 0, on_lease_renewed, h, 6, argv, lens);
}

static void start_lease_timer(struct handler *h)
{
    uv_timer_init(h->env->loop, &h->lease_timer);
    h->lease_timer.data = h;
    h->lease_timer_open = true;
    uint64_t every = (uint64_t)h->env->cfg->visibility_timeout_ms / 3;
    uv_timer_start(&h->lease_timer, on_lease_timer, every, every);
}

static void on_begun(redisReply *reply, const char *error, void *ud)
{
    struct handler *h = ud;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 6 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[5]->type != REDIS_REPLY_INTEGER) {
        char msg[SLATE_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "Redis failed: %s",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                          : (error ? error : "unexpected reply"));
        finish(h, SLATE_E_INTERNAL, msg);
        return;
    }
    snprintf(h->gen, sizeof h->gen, "%s", reply->element[1]->str);
    switch (reply->element[0]->integer) {
    case 1:
        break;
    case 0:
        h->retry_due_ms = slate_now_ms() + 5000;
        h->run->waiting = true;
        finish(h, SLATE_E_INTERNAL,
               "another sync of this integration is running; this job will try again");
        return;
    case -2:
        h->retry_due_ms = slate_now_ms() + reply->element[5]->integer;
        finish(h, SLATE_E_RATE_LIMITED,
               "the project's Hetzner API budget is too low for a sync; waiting for it to refill");
        return;
    default:
        finish(h, SLATE_E_NOT_CONNECTED, NULL);
        return;
    }
    h->have_lease = true;
    start_lease_timer(h);
    fill_people(h, reply->element[3], reply->element[4]);
    sort_people(h);
    if (h->job->type == SLATE_JOB_SYNC) {
        read_integration(h, reply->element[2]);
        if (!h->token) {
            finish(h, SLATE_E_INTERNAL,
                   "the stored token does not open with this worker's key (was the key rotated?)");
            return;
        }
    }
    start_fetch(h);
}

/* Everything a connect or a sync needs before its first request, in one
 * script (slate_lua_begin). */
static void begin(struct handler *h)
{
    snprintf(h->lease_token, sizeof h->lease_token, "%s %ld %s:%s:%llu", h->job->job_id,
             h->job->attempt, h->env->consumer, h->job->entry_id,
             (unsigned long long)slate_rand_below(UINT64_MAX));
    struct slate_argv a = {0};
    slate_argv_str(&a, "EVAL");
    slate_argv_str(&a, slate_lua_begin);
    slate_argv_int(&a, 7);
    slate_argv_str(&a, h->k_int);
    slate_argv_str(&a, h->k_gens);
    slate_argv_str(&a, h->k_lease);
    slate_argv_str(&a, h->k_members);
    slate_argv_str(&a, h->k_owners);
    slate_argv_str(&a, h->k_stage_assets);
    slate_argv_str(&a, h->k_stage_tests);
    slate_argv_str(&a, h->job->integration);
    slate_argv_str(&a, h->job->type == SLATE_JOB_SYNC ? "sync" : "connect");
    slate_argv_str(&a, h->lease_token);
    slate_argv_int(&a, h->env->cfg->visibility_timeout_ms);
    if (hsend(h, &a, on_begun) != 0)
        redis_unreachable(h);
}

static void on_disconnected(redisReply *reply, const char *error, void *ud)
{
    struct handler *h = ud;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 1) {
        char msg[SLATE_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "Redis failed: %s",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : (error ? error : "no reply"));
        finish(h, SLATE_E_INTERNAL, msg);
        return;
    }
    h->removed = (long)reply->element[0]->integer;
    schedule_syncs(h, false);
    finish(h, SLATE_E_OK, NULL);
}

static void disconnect(struct handler *h)
{
    run_set_state(h->run, RUN_STORING);
    const char *argv[] = {"EVAL",       slate_lua_disconnect, "12",        h->k_int,
                          h->k_gens,    h->k_lease,           h->k_keys,   h->k_fws,
                          h->k_tests,   h->k_iassets,         h->k_assets, h->k_vendors,
                          h->k_ints,    h->k_stage_assets,    h->k_stage_tests,
                          h->job->integration};
    size_t lens[16];
    for (int i = 0; i < 16; i++)
        lens[i] = strlen(argv[i]);
    if (slate_redis_cmd(h->env->redis, 0, on_disconnected, h, 16, argv, lens) != 0)
        redis_unreachable(h);
}

static void do_connect(struct handler *h)
{
    const char *why = NULL;
    size_t sl = strlen(h->job->token_sealed);
    if (slate_unseal_b64(h->env->keys, h->job->token_sealed, sl, &h->token, &h->token_len,
                         &why) != 0 &&
        (!h->env->keys_prev || slate_unseal_b64(h->env->keys_prev, h->job->token_sealed, sl,
                                                &h->token, &h->token_len, &why) != 0)) {
        char msg[SLATE_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "Invalid job: %s", why ? why : "token_sealed does not open");
        finish(h, SLATE_E_INVALID_JOB, msg);
        return;
    }
    if (!slate_token_syntax_ok(h->token, h->token_len)) {
        /* Never sent anywhere: it could not even be a header. */
        finish(h, SLATE_E_INVALID_TOKEN, "Invalid API token");
        return;
    }
    begin(h);
}

void slate_handler_start(struct slate_run *run)
{
    struct handler *h = slate_calloc(1, sizeof *h);
    h->run = run;
    h->env = run->env;
    h->job = &run->job;
    run->handler = h;
    slate_arena_init(&h->arena);
    h->rl_limit = h->rl_remaining = h->rl_reset = -1;
    const char *ws = run->job.workspace, *id = run->job.integration;
    struct slate_env *env = run->env;
    char rest[160];
#define IKEY(suffix) (snprintf(rest, sizeof rest, "integration:%s%s", id, suffix), slate_wkey(env, ws, rest))
    h->k_int = IKEY("");
    h->k_lease = IKEY(":lease");
    h->k_keys = IKEY(":ssh_keys");
    h->k_fws = IKEY(":firewalls");
    h->k_tests = IKEY(":tests");
    h->k_iassets = IKEY(":assets");
#undef IKEY
    h->k_gens = slate_wkey(env, ws, "generations");
    h->k_assets = slate_wkey(env, ws, "assets");
    h->k_vendors = slate_wkey(env, ws, "vendors");
    h->k_ints = slate_wkey(env, ws, "integrations");
    h->k_members = slate_wkey(env, ws, "members");
    h->k_owners = slate_wkey(env, ws, "asset_owners");
    h->k_schedule = slate_qkey(env, "schedule");
    snprintf(rest, sizeof rest, "integration:%s:staging:assets", id);
    h->k_stage_assets = slate_wkey(env, ws, rest);
    snprintf(rest, sizeof rest, "integration:%s:staging:tests", id);
    h->k_stage_tests = slate_wkey(env, ws, rest);

    switch (run->job.type) {
    case SLATE_JOB_CONNECT:
        do_connect(h);
        break;
    case SLATE_JOB_SYNC:
        begin(h);
        break;
    case SLATE_JOB_EVALUATE:
        load(h, on_loaded_for_evaluate);
        break;
    case SLATE_JOB_DISCONNECT:
        disconnect(h);
        break;
    default:
        finish(h, SLATE_E_INVALID_JOB, "Invalid job: unknown type");
    }
}

/*
 * status.c: `slatectl status` and `slatectl watch`.
 *
 * One snapshot of the queue is gathered (struct snapshot) and then rendered
 * as a table or as JSON; watch renders the table again every interval.
 * The figures:
 *   waiting  entries of the job stream not yet delivered to any worker: the
 *            group's `lag` (XINFO GROUPS, Redis 7) when Redis knows it, else
 *            XLEN minus the pending count (exact too, since the worker
 *            deletes every entry it has finished);
 *   pending  delivered and not finished, per consumer, with the longest idle
 *            time (the worker heartbeats held entries, so an idle time past
 *            the visibility timeout means a worker that stopped);
 *   delayed  members of the delayed set, and how many are due now;
 *   dead, results: stream lengths;
 *   workers  the heartbeat records, stale when older than 3 x the
 *            visibility timeout (the worker writes one every third of it).
 * The snapshot is not atomic (several commands); for an operator's view that
 * is fine, and it never blocks the queue with a script.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "slate/alloc.h"

#define GROUP "workers"
/* Pending entries read per XPENDING page while looking for the longest idle
 * time of a consumer. */
#define PENDING_PAGE 1000
/* Workers and consumers shown; more than this is a misconfiguration (or
 * records of thousands of dead workers) and the rest is counted only. */
#define MAX_LISTED 1000

const char ctl_help_status[] =
    "Usage: slatectl [global options] status [--json]\n"
    "\n"
    "Shows the queue and the workers:\n"
    "  waiting   jobs in <prefix>:{q}:jobs that no worker has taken yet\n"
    "  pending   jobs taken by a worker and not finished, per consumer, with the\n"
    "            longest idle time; idle longer than the visibility timeout means\n"
    "            the worker stopped and another worker will take the job over\n"
    "  delayed   jobs waiting for a retry or a scheduled sync, and how many are due\n"
    "  dead      jobs that gave up after their last attempt (see slatectl dead)\n"
    "  results   entries in <prefix>:{q}:results\n"
    "  workers   each worker's last heartbeat (\"3 s ago\"), jobs in flight, jobs\n"
    "            done and failed; \"stale\" when the heartbeat is older than three\n"
    "            visibility timeouts (SLATE_VISIBILITY_TIMEOUT_MS, default 60000)\n"
    "\n"
    "Options:\n"
    "  --json    print one JSON object instead (its shape is in slatectl(1))\n"
    "  -h, --help\n"
    "\n"
    "Examples:\n"
    "  slatectl status\n"
    "  slatectl --prefix staging status --json | jq .queue.waiting\n";

const char ctl_help_watch[] =
    "Usage: slatectl [global options] watch [--interval S]\n"
    "\n"
    "Shows `slatectl status` and redraws it in place every S seconds (default 1)\n"
    "until Ctrl-C, which exits 0.  When Redis goes away the screen says so and\n"
    "watch keeps trying to reconnect; when it cannot be reached at the start,\n"
    "watch exits 3 like every other command.\n"
    "\n"
    "Options:\n"
    "  --interval S   seconds between redraws, 0.1 to 3600 (default 1)\n"
    "  -h, --help\n";

struct consumer {
    char *name;
    long long pending;
    long long max_idle_ms;
};

struct worker_rec {
    char *name;
    char *host;                  /* NULL when the record has none */
    long long pid;               /* -1: unknown */
    char *started, *last_seen;
    long long age_ms;            /* -1: unknown */
    long long in_flight, done, failed;
    bool stale;
    bool malformed;              /* the record is not the JSON a worker writes */
};

struct snapshot {
    int64_t now_ms;
    long long stream_len;
    long long waiting;
    const char *waiting_from;    /* "lag" or "length" */
    bool group_exists;
    long long pending;
    long long delayed, due;
    long long dead, results;
    struct consumer *consumers;
    size_t n_consumers, cap_consumers;
    struct worker_rec *workers;
    size_t n_workers, cap_workers;
    size_t workers_total;
};

static void snapshot_free(struct snapshot *s)
{
    for (size_t i = 0; i < s->n_consumers; i++)
        slate_free(s->consumers[i].name);
    for (size_t i = 0; i < s->n_workers; i++) {
        struct worker_rec *w = &s->workers[i];
        slate_free(w->name);
        slate_free(w->host);
        slate_free(w->started);
        slate_free(w->last_seen);
    }
    slate_free(s->consumers);
    slate_free(s->workers);
    memset(s, 0, sizeof *s);
}

static long long len_of(struct ctl *c, const char *cmd, const char *key)
{
    redisReply *r = ctl_cmdl_ok(c, cmd, key, NULL);
    long long n = ctl_reply_int(r);
    freeReplyObject(r);
    return n;
}

/* The group's lag from XINFO GROUPS, or -1 when Redis does not know it
 * (before 7.0, or after deletions it cannot account for). */
static long long group_lag(struct ctl *c, bool *exists)
{
    *exists = false;
    redisReply *r = ctl_cmdl(c, "XINFO", "GROUPS", c->k_jobs, NULL);
    long long lag = -1;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        goto out;
    for (size_t g = 0; g < r->elements; g++) {
        const redisReply *grp = r->element[g];
        if (grp->type != REDIS_REPLY_ARRAY)
            continue;
        bool ours = false;
        long long this_lag = -1;
        for (size_t i = 0; i + 1 < grp->elements; i += 2) {
            const redisReply *k = grp->element[i], *v = grp->element[i + 1];
            if (k->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING)
                ours = strcmp(v->str, GROUP) == 0;
            else if (strcmp(k->str, "lag") == 0 && v->type == REDIS_REPLY_INTEGER)
                this_lag = v->integer;
        }
        if (ours) {
            *exists = true;
            lag = this_lag;
        }
    }
out:
    freeReplyObject(r);
    return lag;
}

static long long max_idle(struct ctl *c, const char *consumer)
{
    long long best = 0;
    char start[64] = "-", page[16];
    snprintf(page, sizeof page, "%d", PENDING_PAGE);
    for (;;) {
        redisReply *r = ctl_cmdl(c, "XPENDING", c->k_jobs, GROUP, start, "+", page, consumer,
                                 NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            return best;
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type == REDIS_REPLY_ARRAY && e->elements >= 3 &&
                e->element[2]->type == REDIS_REPLY_INTEGER && e->element[2]->integer > best)
                best = e->element[2]->integer;
        }
        const redisReply *last = r->element[r->elements - 1];
        bool more = r->elements == PENDING_PAGE && last->type == REDIS_REPLY_ARRAY &&
                    last->elements >= 1 && last->element[0]->type == REDIS_REPLY_STRING;
        if (more)
            snprintf(start, sizeof start, "(%.60s", last->element[0]->str);
        freeReplyObject(r);
        if (!more)
            return best;
    }
}

static void read_pending(struct ctl *c, struct snapshot *s)
{
    redisReply *r = ctl_cmdl(c, "XPENDING", c->k_jobs, GROUP, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4) {
        freeReplyObject(r);
        return;
    }
    s->pending = ctl_reply_int(r->element[0]);
    if (s->pending < 0)
        s->pending = 0;
    const redisReply *list = r->element[3];
    for (size_t i = 0; list->type == REDIS_REPLY_ARRAY && i < list->elements; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
            e->element[0]->type != REDIS_REPLY_STRING || s->n_consumers >= MAX_LISTED)
            continue;
        /* The count is a bulk string in RESP2. */
        int64_t n = 0;
        if (e->element[1]->type == REDIS_REPLY_STRING)
            slate_parse_i64(e->element[1]->str, &n);
        else if (e->element[1]->type == REDIS_REPLY_INTEGER)
            n = e->element[1]->integer;
        s->consumers = slate_grow(s->consumers, &s->cap_consumers, s->n_consumers + 1,
                                  sizeof *s->consumers);
        s->consumers[s->n_consumers++] =
            (struct consumer){slate_strdup(e->element[0]->str), (long long)n, 0};
    }
    freeReplyObject(r);
    for (size_t i = 0; i < s->n_consumers && c->exit == CTL_OK; i++)
        s->consumers[i].max_idle_ms = max_idle(c, s->consumers[i].name);
}

static char *dup_or_null(const char *s)
{
    return s ? slate_strdup(s) : NULL;
}

static int cmp_workers(const void *a, const void *b)
{
    return strcmp(((const struct worker_rec *)a)->name, ((const struct worker_rec *)b)->name);
}

static void read_workers(struct ctl *c, struct snapshot *s)
{
    redisReply *r = ctl_cmdl_ok(c, "HGETALL", c->k_workers, NULL);
    if (!r || (r->type != REDIS_REPLY_ARRAY)) {
        freeReplyObject(r);
        return;
    }
    int64_t stale_ms = c->cfg.visibility_timeout_ms * 3;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        s->workers_total++;
        if (s->n_workers >= MAX_LISTED)
            continue;
        s->workers = slate_grow(s->workers, &s->cap_workers, s->n_workers + 1, sizeof *s->workers);
        struct worker_rec *w = &s->workers[s->n_workers++];
        memset(w, 0, sizeof *w);
        w->name = slate_strdup(k->str);
        w->pid = w->age_ms = w->in_flight = w->done = w->failed = -1;
        yajl_val j = ctl_json_parse(v->str);
        if (!YAJL_IS_OBJECT(j)) {
            w->malformed = w->stale = true;
            yajl_tree_free(j);
            continue;
        }
        w->host = dup_or_null(ctl_json_str(j, "host"));
        w->pid = ctl_json_int(j, "pid", -1);
        w->started = dup_or_null(ctl_json_str(j, "started"));
        w->last_seen = dup_or_null(ctl_json_str(j, "last_seen"));
        w->in_flight = ctl_json_int(j, "in_flight", -1);
        w->done = ctl_json_int(j, "done", -1);
        w->failed = ctl_json_int(j, "failed", -1);
        /* last_seen_ms is exact; last_seen (seconds) is what older workers
         * wrote. */
        int64_t seen = ctl_json_int(j, "last_seen_ms", -1);
        if (seen >= 0 || (w->last_seen && slate_parse_time(w->last_seen, &seen) == 0)) {
            w->age_ms = s->now_ms - seen;
            if (w->age_ms < 0)
                w->age_ms = 0;      /* a clock ahead of ours */
            w->stale = w->age_ms > stale_ms;
        } else {
            w->malformed = w->stale = true;
        }
        yajl_tree_free(j);
    }
    freeReplyObject(r);
    if (s->n_workers > 1)
        qsort(s->workers, s->n_workers, sizeof *s->workers, cmp_workers);
}

/* Gathers everything; returns CTL_OK or the recorded failure. */
static int gather(struct ctl *c, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->now_ms = slate_now_ms();
    s->stream_len = len_of(c, "XLEN", c->k_jobs);
    if (c->exit != CTL_OK)
        return c->exit;
    long long lag = group_lag(c, &s->group_exists);
    if (s->group_exists)
        read_pending(c, s);
    if (lag >= 0) {
        s->waiting = lag;
        s->waiting_from = "lag";
    } else {
        s->waiting = s->stream_len - s->pending;
        if (s->waiting < 0)
            s->waiting = 0;
        s->waiting_from = "length";
    }
    s->delayed = len_of(c, "ZCARD", c->k_delayed);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)s->now_ms);
    redisReply *r = ctl_cmdl_ok(c, "ZCOUNT", c->k_delayed, "-inf", now, NULL);
    s->due = ctl_reply_int(r);
    freeReplyObject(r);
    s->dead = len_of(c, "XLEN", c->k_dead);
    s->results = len_of(c, "XLEN", c->k_results);
    read_workers(c, s);
    return c->exit;
}

static void age_or_dash(long long ms, const char *suffix, char *out, size_t n)
{
    if (ms < 0) {
        snprintf(out, n, "-");
        return;
    }
    char a[32];
    ctl_format_age(ms, a, sizeof a);
    snprintf(out, n, "%s%s", a, suffix);
}

static void num_or_dash(long long v, char *out, size_t n)
{
    if (v < 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%lld", v);
}

static void render_text(const struct ctl *c, const struct snapshot *s, struct slate_buf *b)
{
    char when[SLATE_TIME_MAX];
    slate_format_time(s->now_ms, when);
    slate_buf_puts(b, "Queue ");
    ctl_buf_text(b, c->cfg.prefix, strlen(c->cfg.prefix));
    slate_buf_printf(b, ":{q} on %s at %s\n", c->where, when);

    long long oldest = -1;
    for (size_t i = 0; i < s->n_consumers; i++)
        if (s->consumers[i].max_idle_ms > oldest)
            oldest = s->consumers[i].max_idle_ms;
    char idle[48] = "";
    if (oldest >= 0) {
        char a[32];
        ctl_format_age(oldest, a, sizeof a);
        snprintf(idle, sizeof idle, "longest idle %s", a);
    }
    char v[6][32], due[48];
    snprintf(v[0], sizeof v[0], "%lld", s->waiting);
    snprintf(v[1], sizeof v[1], "%lld", s->pending);
    snprintf(v[2], sizeof v[2], "%lld", s->delayed);
    snprintf(v[3], sizeof v[3], "%lld", s->dead);
    snprintf(v[4], sizeof v[4], "%lld", s->results);
    snprintf(due, sizeof due, "%lld due now", s->due);
    struct ctl_table t;
    ctl_table_init(&t, 3);
    ctl_table_row(&t, (const char *[]){"waiting", v[0],
                                       s->group_exists ? "" : "no worker has ever started"});
    ctl_table_row(&t, (const char *[]){"pending", v[1], idle});
    ctl_table_row(&t, (const char *[]){"delayed", v[2], due});
    ctl_table_row(&t, (const char *[]){"dead", v[3], s->dead ? "see: slatectl dead list" : ""});
    ctl_table_row(&t, (const char *[]){"results", v[4], ""});
    ctl_table_render(&t, "  ", b);
    ctl_table_free(&t);

    if (s->n_consumers) {
        slate_buf_puts(b, "\nPending by consumer\n");
        ctl_table_init(&t, 4);
        ctl_table_row(&t, (const char *[]){"CONSUMER", "PENDING", "LONGEST IDLE", ""});
        for (size_t i = 0; i < s->n_consumers; i++) {
            const struct consumer *k = &s->consumers[i];
            char n[24], a[32];
            snprintf(n, sizeof n, "%lld", k->pending);
            ctl_format_age(k->max_idle_ms, a, sizeof a);
            ctl_table_row(&t, (const char *[]){k->name, n, a,
                                               k->max_idle_ms > c->cfg.visibility_timeout_ms
                                                   ? "overdue: will be taken over"
                                                   : ""});
        }
        ctl_table_render(&t, "  ", b);
        ctl_table_free(&t);
    }

    slate_buf_printf(b, "\nWorkers (%zu)\n", s->workers_total);
    if (s->n_workers == 0) {
        slate_buf_puts(b, "  none has written a heartbeat\n");
        return;
    }
    ctl_table_init(&t, 8);
    ctl_table_row(&t, (const char *[]){"CONSUMER", "HOST", "PID", "HEARTBEAT", "IN FLIGHT", "DONE",
                                       "FAILED", "STATE"});
    for (size_t i = 0; i < s->n_workers; i++) {
        const struct worker_rec *w = &s->workers[i];
        char pid[24], hb[48], fl[24], dn[24], fa[24];
        num_or_dash(w->pid, pid, sizeof pid);
        age_or_dash(w->age_ms, " ago", hb, sizeof hb);
        num_or_dash(w->in_flight, fl, sizeof fl);
        num_or_dash(w->done, dn, sizeof dn);
        num_or_dash(w->failed, fa, sizeof fa);
        ctl_table_row(&t, (const char *[]){w->name, w->host, pid, hb, fl, dn, fa,
                                           w->malformed ? "unreadable"
                                           : w->stale   ? "stale"
                                                        : "ok"});
    }
    ctl_table_render(&t, "  ", b);
    ctl_table_free(&t);
    if (s->workers_total > s->n_workers)
        slate_buf_printf(b, "  ... and %zu more\n", s->workers_total - s->n_workers);
}

static void json_str_or_null(struct slate_buf *b, const char *s)
{
    if (s)
        ctl_buf_json(b, s);
    else
        slate_buf_puts(b, "null");
}

static void json_int_or_null(struct slate_buf *b, long long v)
{
    if (v < 0)
        slate_buf_puts(b, "null");
    else
        slate_buf_printf(b, "%lld", v);
}

static void render_json(const struct ctl *c, const struct snapshot *s, struct slate_buf *b)
{
    char when[SLATE_TIME_MAX];
    slate_format_time(s->now_ms, when);
    slate_buf_puts(b, "{\"prefix\":");
    ctl_buf_json(b, c->cfg.prefix);
    slate_buf_printf(b, ",\"time\":\"%s\",\"visibility_timeout_ms\":%lld", when,
                     (long long)c->cfg.visibility_timeout_ms);
    slate_buf_printf(b,
                     ",\"queue\":{\"waiting\":%lld,\"waiting_from\":\"%s\",\"group_exists\":%s,"
                     "\"stream_length\":%lld,\"pending\":%lld,\"delayed\":%lld,"
                     "\"delayed_due\":%lld,\"dead\":%lld,\"results\":%lld}",
                     s->waiting, s->waiting_from, s->group_exists ? "true" : "false",
                     s->stream_len, s->pending, s->delayed, s->due, s->dead, s->results);
    slate_buf_puts(b, ",\"consumers\":[");
    for (size_t i = 0; i < s->n_consumers; i++) {
        const struct consumer *k = &s->consumers[i];
        slate_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        ctl_buf_json(b, k->name);
        slate_buf_printf(b, ",\"pending\":%lld,\"max_idle_ms\":%lld,\"overdue\":%s}", k->pending,
                         k->max_idle_ms,
                         k->max_idle_ms > c->cfg.visibility_timeout_ms ? "true" : "false");
    }
    slate_buf_printf(b, "],\"workers_total\":%zu,\"workers\":[", s->workers_total);
    for (size_t i = 0; i < s->n_workers; i++) {
        const struct worker_rec *w = &s->workers[i];
        slate_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        ctl_buf_json(b, w->name);
        slate_buf_puts(b, ",\"host\":");
        json_str_or_null(b, w->host);
        slate_buf_puts(b, ",\"pid\":");
        json_int_or_null(b, w->pid);
        slate_buf_puts(b, ",\"started\":");
        json_str_or_null(b, w->started);
        slate_buf_puts(b, ",\"last_seen\":");
        json_str_or_null(b, w->last_seen);
        slate_buf_puts(b, ",\"heartbeat_age_ms\":");
        json_int_or_null(b, w->age_ms);
        slate_buf_puts(b, ",\"in_flight\":");
        json_int_or_null(b, w->in_flight);
        slate_buf_puts(b, ",\"done\":");
        json_int_or_null(b, w->done);
        slate_buf_puts(b, ",\"failed\":");
        json_int_or_null(b, w->failed);
        slate_buf_printf(b, ",\"stale\":%s,\"malformed\":%s}", w->stale ? "true" : "false",
                         w->malformed ? "true" : "false");
    }
    slate_buf_puts(b, "]}\n");
}

int ctl_status(struct ctl *c, int argc, char **argv)
{
    static const struct option lopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    bool json = false;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        if (opt == 'j') {
            json = true;
            continue;
        }
        int rc = ctl_opt_common(c, opt, "status", ctl_help_status, argv);
        if (rc)
            return rc > 0 ? CTL_OK : c->exit;
    }
    if (optind < argc)
        return ctl_fail(c, CTL_USAGE, "status takes no arguments, not '%.60s' (see slatectl status --help).",
                        argv[optind]);
    if (ctl_connect(c) != CTL_OK)
        return c->exit;
    struct snapshot s;
    if (gather(c, &s) != CTL_OK) {
        snapshot_free(&s);
        return c->exit;
    }
    struct slate_buf b;
    slate_buf_init(&b);
    if (json)
        render_json(c, &s, &b);
    else
        render_text(c, &s, &b);
    ctl_flush(&b);
    slate_buf_free(&b);
    snapshot_free(&s);
    return CTL_OK;
}

/* ---- watch ---- */

static volatile sig_atomic_t watch_stop;

static void on_watch_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

/* Sleeps ms, waking early on a signal. */
static void nap(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (!watch_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int ctl_watch(struct ctl *c, int argc, char **argv)
{
    static const struct option lopts[] = {
        {"interval", required_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int64_t interval_ms = 1000;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":hi:", lopts, NULL)) != -1) {
        if (opt == 'i') {
            char *end;
            errno = 0;
            double secs = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(secs >= 0.1 && secs <= 3600))
                return ctl_fail(c, CTL_USAGE,
                                "watch --interval must be a number of seconds from 0.1 to 3600, not '%.40s'.",
                                optarg);
            interval_ms = (int64_t)(secs * 1000);
            continue;
        }
        int rc = ctl_opt_common(c, opt, "watch", ctl_help_watch, argv);
        if (rc)
            return rc > 0 ? CTL_OK : c->exit;
    }
    if (optind < argc)
        return ctl_fail(c, CTL_USAGE, "watch takes no arguments, not '%.60s' (see slatectl watch --help).",
                        argv[optind]);
    if (ctl_connect(c) != CTL_OK)
        return c->exit;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_watch_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the nap ends at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    bool tty = isatty(STDOUT_FILENO);
    struct slate_buf b;
    slate_buf_init(&b);
    while (!watch_stop) {
        slate_buf_reset(&b);
        /* Home, then each line cleared to its end, then the rest of the
         * screen: no flicker, and nothing of a longer previous frame left. */
        if (tty)
            slate_buf_puts(&b, "\033[H");
        struct snapshot s = {0};
        ctl_clear_failure(c);
        if (!c->redis)
            ctl_connect(c);
        if (c->redis && gather(c, &s) == CTL_OK) {
            render_text(c, &s, &b);
        } else {
            char when[SLATE_TIME_MAX];
            slate_format_time(slate_now_ms(), when);
            slate_buf_printf(&b, "%s\n", when);
            ctl_buf_text(&b, c->err, strlen(c->err));
            slate_buf_puts(&b, "\nRetrying...\n");
        }
        snapshot_free(&s);
        slate_buf_printf(&b, "\nEvery %lld.%lld s; Ctrl-C to quit.\n",
                         (long long)(interval_ms / 1000), (long long)(interval_ms % 1000 / 100));
        if (tty) {
            struct slate_buf f;
            slate_buf_init(&f);
            for (const char *p = b.data; *p; p++) {
                if (*p == '\n')
                    slate_buf_puts(&f, "\033[K");
                slate_buf_append(&f, p, 1);
            }
            slate_buf_puts(&f, "\033[J");
            ctl_flush(&f);
            slate_buf_free(&f);
        } else {
            slate_buf_puts(&b, "\n");
            ctl_flush(&b);
        }
        nap(interval_ms);
    }
    slate_buf_free(&b);
    /* Redis failing during watch is shown, not an exit status: Ctrl-C is 0. */
    ctl_clear_failure(c);
    return CTL_OK;
}

/*
 * dead.c: `slatectl dead list|retry|purge`, over <prefix>:{q}:dead.
 *
 * A dead entry holds the job's fields (never a token) with error_code,
 * error, attempts and finished_at.  Retrying one re-enqueues type,
 * workspace, integration and job_id (without attempt, so the job gets all
 * its attempts again) and deletes the dead entry, in one Lua step: two
 * operators retrying the same entry enqueue it once.  A connect cannot be
 * retried, since its token was never kept: it has to be enqueued again with
 * the token.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "slate/alloc.h"
#include "slate/job.h"

/* Entries read per XRANGE page by `retry --all`. */
#define RETRY_PAGE 500
/* Largest --count of `dead list`. */
#define LIST_MAX 100000

const char ctl_help_dead[] =
    "Usage: slatectl [global options] dead list [--json] [--count N]\n"
    "       slatectl [global options] dead retry ENTRY-ID | --all\n"
    "       slatectl [global options] dead purge\n"
    "\n"
    "Jobs that gave up after their last attempt (SLATE_MAX_ATTEMPTS) land in\n"
    "<prefix>:{q}:dead with their fields and the last error.\n"
    "\n"
    "  list    shows the N most recent dead jobs, oldest first (default 50):\n"
    "          entry id, when, type, workspace/integration, job id, attempts, error.\n"
    "          --json prints {\"total\": N, \"entries\": [{\"entry_id\": ..., field: value,\n"
    "          ...}]} with every field of each entry as a string.\n"
    "  retry   enqueues the dead job ENTRY-ID (an id from `dead list`) again, with\n"
    "          its type, workspace, integration and job_id and a fresh attempt count,\n"
    "          and removes it from the dead stream.  --all retries every dead job.  A\n"
    "          dead connect cannot be retried (its token is never kept): enqueue it\n"
    "          again with `slatectl enqueue connect ... --token-file FILE`.  Exit\n"
    "          status 1 when something could not be retried.\n"
    "  purge   deletes the dead stream and prints how many entries it held.\n"
    "\n"
    "Examples:\n"
    "  slatectl dead list\n"
    "  slatectl dead retry 1733340000000-0\n"
    "  slatectl dead retry --all\n";

/* Re-enqueue + delete, in one step.  KEYS: dead, jobs.  ARGV: entry id, then
 * the job's field/value pairs.  Returns the new entry id, or nil when the
 * dead entry is gone (retried or purged by someone else meanwhile). */
static const char lua_retry[] =
    "if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return false end\n"
    "local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "return id\n";

/* KEYS: dead.  Returns how many entries it held. */
static const char lua_purge[] =
    "local n = redis.call('XLEN', KEYS[1])\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n";

static const char *entry_field(const redisReply *kv, const char *k)
{
    for (size_t i = 0; kv->type == REDIS_REPLY_ARRAY && i + 1 < kv->elements; i += 2) {
        const redisReply *key = kv->element[i], *v = kv->element[i + 1];
        if (key->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(key->str, k) == 0)
            return v->str;
    }
    return NULL;
}

static bool entry_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
           e->element[0]->type == REDIS_REPLY_STRING && e->element[1]->type == REDIS_REPLY_ARRAY;
}

/* A stream entry id: digits, optionally "-" and digits. */
static bool valid_entry_id(const char *s)
{
    size_t n = strlen(s), dash = 0, digits = 0;
    if (n == 0 || n > 41)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-') {
            if (dash++ || digits == 0 || i + 1 == n)
                return false;
        } else if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        digits++;
    }
    return true;
}

/* ---- list ---- */

static int dead_list(struct ctl *c, int argc, char **argv)
{
    enum { O_JSON = 1000, O_COUNT };
    static const struct option lopts[] = {{"json", no_argument, NULL, O_JSON},
                                          {"count", required_argument, NULL, O_COUNT},
                                          {"help", no_argument, NULL, 'h'},
                                          {0, 0, 0, 0}};
    bool json = false;
    uint64_t count = 50;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        if (opt == O_JSON) {
            json = true;
        } else if (opt == O_COUNT) {
            if (!slate_parse_u64(optarg, &count) || count == 0 || count > LIST_MAX)
                return ctl_fail(c, CTL_USAGE, "dead list --count must be a whole number from 1 "
                                              "to %d, not '%.40s'.", LIST_MAX, optarg);
        } else {
            int rc = ctl_opt_common(c, opt, "dead list", ctl_help_dead, argv);
            if (rc)
                return rc > 0 ? CTL_OK : c->exit;
        }
    }
    if (optind < argc)
        return ctl_fail(c, CTL_USAGE, "dead list takes no arguments, not '%.60s'.", argv[optind]);
    if (ctl_connect(c) != CTL_OK)
        return c->exit;
    redisReply *len = ctl_cmdl_ok(c, "XLEN", c->k_dead, NULL);
    if (!len)
        return c->exit;
    long long total = ctl_reply_int(len);
    freeReplyObject(len);
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)count);
    redisReply *r = ctl_cmdl_ok(c, "XREVRANGE", c->k_dead, "+", "-", "COUNT", n, NULL);
    if (!r)
        return c->exit;
    struct slate_buf b;
    slate_buf_init(&b);
    size_t shown = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    if (json) {
        slate_buf_printf(&b, "{\"total\":%lld,\"entries\":[", total);
        bool first = true;
        for (size_t i = shown; i-- > 0;) {
            const redisReply *e = r->element[i];
            if (!entry_ok(e))
                continue;
            slate_buf_puts(&b, first ? "{\"entry_id\":" : ",{\"entry_id\":");
            first = false;
            ctl_buf_json(&b, e->element[0]->str);
            const redisReply *kv = e->element[1];
            for (size_t k = 0; k + 1 < kv->elements; k += 2) {
                if (kv->element[k]->type != REDIS_REPLY_STRING ||
                    kv->element[k + 1]->type != REDIS_REPLY_STRING ||
                    strcmp(kv->element[k]->str, "entry_id") == 0)
                    continue;
                slate_buf_puts(&b, ",");
                ctl_buf_json(&b, kv->element[k]->str);
                slate_buf_puts(&b, ":");
                ctl_buf_json(&b, kv->element[k + 1]->str);
            }
            slate_buf_puts(&b, "}");
        }
        slate_buf_puts(&b, "]}\n");
    } else if (shown == 0) {
        slate_buf_puts(&b, "No dead jobs.\n");
    } else {
        if ((long long)shown < total)
            slate_buf_printf(&b, "%lld dead jobs; the %zu most recent, oldest first:\n", total,
                             shown);
        else
            slate_buf_printf(&b, "%lld dead job%s, oldest first:\n", total, total == 1 ? "" : "s");
        struct ctl_table t;
        ctl_table_init(&t, 7);
        ctl_table_row(&t, (const char *[]){"ENTRY", "FINISHED", "TYPE", "INTEGRATION", "JOB ID",
                                           "ATTEMPTS", "ERROR"});
        for (size_t i = shown; i-- > 0;) {
            const redisReply *e = r->element[i];
            if (!entry_ok(e))
                continue;
            const redisReply *kv = e->element[1];
            const char *ws = entry_field(kv, "workspace"), *in = entry_field(kv, "integration");
            const char *code = entry_field(kv, "error_code"), *err = entry_field(kv, "error");
            struct slate_buf wi, er;
            slate_buf_init(&wi);
            slate_buf_init(&er);
            slate_buf_printf(&wi, "%s/%s", ws ? ws : "-", in ? in : "-");
            slate_buf_printf(&er, "%s%s%s", code ? code : "", code && err ? ": " : "",
                             err ? err : "");
            ctl_table_row(&t, (const char *[]){e->element[0]->str, entry_field(kv, "finished_at"),
                                               entry_field(kv, "type"), wi.data,
                                               entry_field(kv, "job_id"),
                                               entry_field(kv, "attempts"), er.data});
            slate_buf_free(&wi);
            slate_buf_free(&er);
        }
        ctl_table_render(&t, "", &b);
        ctl_table_free(&t);
    }
    freeReplyObject(r);
    ctl_flush(&b);
    slate_buf_free(&b);
    return CTL_OK;
}

/* ---- retry ---- */

enum retry_outcome { RETRIED, GONE, NOT_RETRIABLE, REDIS_DOWN };

/* Retries one dead entry; prints what happened (stdout) or why not
 * (stderr, through *why). */
static enum retry_outcome retry_entry(struct ctl *c, const redisReply *e, char *why, size_t n)
{
    const char *id = e->element[0]->str;
    const redisReply *kv = e->element[1];
    const char *type = entry_field(kv, "type"), *ws = entry_field(kv, "workspace");
    const char *in = entry_field(kv, "integration"), *job = entry_field(kv, "job_id");
    if (type && strcmp(type, "connect") == 0) {
        snprintf(why, n, "Dead entry %s is a connect job (%.64s/%.64s), which cannot be retried: "
                         "dead entries never hold the token. Enqueue it again with `slatectl "
                         "enqueue connect %.64s %.64s --token-file FILE`.", id, ws ? ws : "?",
                 in ? in : "?", ws ? ws : "WORKSPACE", in ? in : "INTEGRATION");
        return NOT_RETRIABLE;
    }
    bool type_ok = false;
    for (int i = 0; type && i < SLATE_JOB__COUNT; i++)
        type_ok |= strcmp(type, slate_job_type_name((enum slate_job_type)i)) == 0;
    if (!type_ok || !ws || !slate_valid_id(ws, strlen(ws)) || !in ||
        !slate_valid_id(in, strlen(in)) || (job && !slate_valid_job_id(job, strlen(job)))) {
        snprintf(why, n, "Dead entry %s does not hold a valid job (type, workspace, integration), "
                         "so it cannot be retried.", id);
        return NOT_RETRIABLE;
    }
    const char *argv[] = {"EVAL", lua_retry, "2", c->k_dead, c->k_jobs, id, "type", type,
                          "workspace", ws, "integration", in, "job_id", job};
    redisReply *r = ctl_cmd(c, 0, job ? 14 : 12, argv, NULL);
    if (!r)
        return REDIS_DOWN;
    enum retry_outcome out = GONE;
    if (r->type == REDIS_REPLY_STRING) {
        struct slate_buf b;
        slate_buf_init(&b);
        slate_buf_printf(&b, "Dead entry %s (%s %s/%s, job %s) enqueued again as entry %s.\n", id,
                         type, ws, in, job ? job : r->str, r->str);
        ctl_flush(&b);
        slate_buf_free(&b);
        out = RETRIED;
    } else if (r->type == REDIS_REPLY_ERROR) {
        ctl_fail(c, CTL_FAILED, "Redis at %s refused the retry: %.300s.", c->where, r->str);
        out = REDIS_DOWN;
    } else {
        snprintf(why, n, "Dead entry %s is gone (retried or purged meanwhile).", id);
    }
    freeReplyObject(r);
    return out;
}

static int retry_one(struct ctl *c, const char *id)
{
    redisReply *r = ctl_cmdl_ok(c, "XRANGE", c->k_dead, id, id, NULL);
    if (!r)
        return c->exit;
    int rc = CTL_OK;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || !entry_ok(r->element[0])) {
        rc = ctl_fail(c, CTL_FAILED, "There is no dead entry %s in %s (see slatectl dead list).",
                      id, c->k_dead);
    } else {
        char why[CTL_ERR_MAX];
        switch (retry_entry(c, r->element[0], why, sizeof why)) {
        case RETRIED: break;
        case GONE:
        case NOT_RETRIABLE: rc = ctl_fail(c, CTL_FAILED, "%s", why); break;
        case REDIS_DOWN: rc = c->exit; break;
        }
    }
    freeReplyObject(r);
    return rc;
}

static int retry_all(struct ctl *c)
{
    char start[64] = "-", page[16];
    snprintf(page, sizeof page, "%d", RETRY_PAGE);
    long retried = 0, connects = 0, invalid = 0;
    for (;;) {
        redisReply *r = ctl_cmdl_ok(c, "XRANGE", c->k_dead, start, "+", "COUNT", page, NULL);
        if (!r)
            return c->exit;
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = r->element[i];
            if (!entry_ok(e))
                continue;
            snprintf(start, sizeof start, "(%.60s", e->element[0]->str);
            char why[CTL_ERR_MAX];
            const char *type = entry_field(e->element[1], "type");
            switch (retry_entry(c, e, why, sizeof why)) {
            case RETRIED: retried++; break;
            case GONE: break;
            case NOT_RETRIABLE:
                if (type && strcmp(type, "connect") == 0)
                    connects++;
                else
                    invalid++;
                break;
            case REDIS_DOWN: freeReplyObject(r); return c->exit;
            }
        }
        freeReplyObject(r);
        if (n < RETRY_PAGE)
            break;
    }
    printf("Retried %ld dead job%s.\n", retried, retried == 1 ? "" : "s");
    fflush(stdout);
    if (connects || invalid) {
        char what[160] = "";
        if (connects)
            snprintf(what, sizeof what, "%ld connect job%s (dead entries never hold the token; "
                                        "enqueue them again with --token-file)",
                     connects, connects == 1 ? "" : "s");
        if (invalid) {
            size_t l = strlen(what);
            snprintf(what + l, sizeof what - l, "%s%ld malformed entr%s", connects ? " and " : "",
                     invalid, invalid == 1 ? "y" : "ies");
        }
        return ctl_fail(c, CTL_FAILED, "Not retried, left in the dead stream: %s.", what);
    }
    return CTL_OK;
}

static int dead_retry(struct ctl *c, int argc, char **argv)
{
    static const struct option lopts[] = {
        {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    bool all = false;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        if (opt == 'a') {
            all = true;
            continue;
        }
        int rc = ctl_opt_common(c, opt, "dead retry", ctl_help_dead, argv);
        if (rc)
            return rc > 0 ? CTL_OK : c->exit;
    }
    int nargs = argc - optind;
    if ((all && nargs != 0) || (!all && nargs != 1))
        return ctl_fail(c, CTL_USAGE, "dead retry needs one ENTRY-ID or --all (see slatectl dead "
                                      "--help).");
    if (!all && !valid_entry_id(argv[optind]))
        return ctl_fail(c, CTL_USAGE, "'%.60s' is not a stream entry id (like 1733340000000-0; "
                                      "see slatectl dead list).", argv[optind]);
    if (ctl_connect(c) != CTL_OK)
        return c->exit;
    return all ? retry_all(c) : retry_one(c, argv[optind]);
}

/* ---- purge ---- */

static int dead_purge(struct ctl *c, int argc, char **argv)
{
    static const struct option lopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        int rc = ctl_opt_common(c, opt, "dead purge", ctl_help_dead, argv);
        if (rc)
            return rc > 0 ? CTL_OK : c->exit;
    }
    if (optind < argc)
        return ctl_fail(c, CTL_USAGE, "dead purge takes no arguments, not '%.60s'.", argv[optind]);
    if (ctl_connect(c) != CTL_OK)
        return c->exit;
    const char *args[] = {"EVAL", lua_purge, "1", c->k_dead};
    redisReply *r = ctl_cmd(c, 0, 4, args, NULL);
    if (!r)
        return c->exit;
    int rc = CTL_OK;
    if (r->type == REDIS_REPLY_INTEGER)
        printf("Removed %lld dead job%s.\n", r->integer, r->integer == 1 ? "" : "s");
    else
        rc = ctl_fail(c, CTL_FAILED, "Redis at %s refused the purge: %.300s.", c->where,
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    fflush(stdout);
    freeReplyObject(r);
    return rc;
}

int ctl_dead(struct ctl *c, int argc, char **argv)
{
    if (argc < 2)
        return ctl_fail(c, CTL_USAGE, "dead needs list, retry or purge (see slatectl dead --help).");
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        fputs(ctl_help_dead, stdout);
        return CTL_OK;
    }
    if (strcmp(sub, "list") == 0)
        return dead_list(c, argc - 1, argv + 1);
    if (strcmp(sub, "retry") == 0)
        return dead_retry(c, argc - 1, argv + 1);
    if (strcmp(sub, "purge") == 0)
        return dead_purge(c, argc - 1, argv + 1);
    return ctl_fail(c, CTL_USAGE, "Unknown dead command '%.40s': use list, retry or purge.", sub);
}

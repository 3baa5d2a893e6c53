/*
 * show.c: `slatectl integration show WORKSPACE INTEGRATION`.
 *
 * Reads the integration record, its test results and its asset count (three
 * reads, not one atomic step: a sync that commits in between shows the new
 * record beside the old tests for a moment, which is harmless for a person
 * looking).  The stored token is never printed, only its hint.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "slate/alloc.h"

/* Failing resources listed per test unless --limit says otherwise: a
 * project of thousands of servers would bury everything else. */
#define DEFAULT_LIMIT 20

const char ctl_help_integration[] =
    "Usage: slatectl [global options] integration show WORKSPACE INTEGRATION\n"
    "                [--json] [--limit N]\n"
    "\n"
    "Shows one integration as the workers stored it: status, when it was\n"
    "connected, the last sync (time, outcome, error), the inventory counts, the\n"
    "Hetzner rate-limit budget last seen (requests left of the limit, and when\n"
    "the budget is full again), the progress of a sync that is running, and each\n"
    "automated test with its status, its failing resources (name and reason) and\n"
    "its errors.  The token itself is never shown, only its last 4 characters.\n"
    "\n"
    "Options:\n"
    "  --json      print one JSON object: {\"workspace\", \"integration\", \"record\"\n"
    "              (every field of the integration hash but the token), \"assets\"\n"
    "              (count), \"tests\" (the stored test results, by id)}\n"
    "  --limit N   failing resources listed per test (default 20, 0 for all)\n"
    "  -h, --help\n"
    "\n"
    "Exit status 1 when the integration does not exist.\n"
    "\n"
    "Example:\n"
    "  slatectl integration show acme hz-prod\n";

struct kv {
    const char *k, *v;
};

static const char *get(const redisReply *h, const char *k)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        if (h->element[i]->type == REDIS_REPLY_STRING &&
            h->element[i + 1]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, k) == 0)
            return h->element[i + 1]->str;
    }
    return NULL;
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/* The hash's pairs sorted by field, strings only. */
static struct kv *sorted_pairs(const redisReply *h, size_t *n)
{
    struct kv *v = slate_calloc(h->elements / 2 + 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        if (h->element[i]->type == REDIS_REPLY_STRING &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            v[(*n)++] = (struct kv){h->element[i]->str, h->element[i + 1]->str};
    }
    qsort(v, *n, sizeof *v, cmp_kv);
    return v;
}

/* "2026-12-04T19:40:00Z (3 min ago)" */
static void time_with_age(int64_t now, const char *t, struct slate_buf *b)
{
    slate_buf_puts(b, t);
    int64_t ms;
    if (slate_parse_time(t, &ms) != 0)
        return;
    char a[32];
    ctl_format_age(now > ms ? now - ms : ms - now, a, sizeof a);
    slate_buf_printf(b, now >= ms ? " (%s ago)" : " (in %s)", a);
}

static void row(struct ctl_table *t, const char *k, const struct slate_buf *v)
{
    ctl_table_row(t, (const char *[]){k, v->data ? v->data : ""});
}

static void render_record(const redisReply *h, long long assets, int64_t now, struct slate_buf *out)
{
    struct ctl_table t;
    ctl_table_init(&t, 2);
    struct slate_buf v;
    slate_buf_init(&v);
    static const char *const shown[] = {"provider", "status", "token", "token_hint",
                                        "connected_at", "last_sync_at", "last_sync_status",
                                        "last_success_at", "last_error", "last_error_code",
                                        "servers", "ssh_keys", "firewalls", "ratelimit_limit",
                                        "ratelimit_remaining", "ratelimit_reset",
                                        "ratelimit_seen_at", "ratelimit_seen_ms",
                                        "sync_progress", NULL};
    const char *s;
    if ((s = get(h, "provider")))
        ctl_table_row(&t, (const char *[]){"provider", s});
    ctl_table_row(&t, (const char *[]){"status", get(h, "status")});
    if ((s = get(h, "token_hint"))) {
        slate_buf_reset(&v);
        slate_buf_printf(&v, "...%s", s);
        row(&t, "token", &v);
    }
    if ((s = get(h, "connected_at"))) {
        slate_buf_reset(&v);
        time_with_age(now, s, &v);
        row(&t, "connected at", &v);
    }
    slate_buf_reset(&v);
    if ((s = get(h, "last_sync_at"))) {
        time_with_age(now, s, &v);
        const char *st = get(h, "last_sync_status");
        if (st)
            slate_buf_printf(&v, ": %s", st);
    } else {
        slate_buf_puts(&v, "never");
    }
    row(&t, "last sync", &v);
    if ((s = get(h, "last_success_at"))) {
        slate_buf_reset(&v);
        time_with_age(now, s, &v);
        row(&t, "last success", &v);
    }
    const char *code = get(h, "last_error_code"), *err = get(h, "last_error");
    if (code || err) {
        slate_buf_reset(&v);
        slate_buf_printf(&v, "%s%s%s", code ? code : "", code && err ? ": " : "", err ? err : "");
        row(&t, "last error", &v);
    }
    slate_buf_reset(&v);
    const char *sv = get(h, "servers"), *sk = get(h, "ssh_keys"), *fw = get(h, "firewalls");
    slate_buf_printf(&v, "%s servers, %s SSH keys, %s firewalls", sv ? sv : "-", sk ? sk : "-",
                     fw ? fw : "-");
    if (assets >= 0)
        slate_buf_printf(&v, "; %lld assets", assets);
    row(&t, "inventory", &v);
    const char *lim = get(h, "ratelimit_limit"), *rem = get(h, "ratelimit_remaining");
    const char *reset = get(h, "ratelimit_reset"), *seen = get(h, "ratelimit_seen_at");
    if (lim || rem) {
        slate_buf_reset(&v);
        slate_buf_printf(&v, "%s of %s requests left", rem ? rem : "?", lim ? lim : "?");
        int64_t secs;
        if (reset && slate_parse_i64(reset, &secs) && secs > 0) {
            char when[SLATE_TIME_MAX];
            slate_format_time(secs * 1000, when);
            slate_buf_puts(&v, ", full ");
            if (secs * 1000 <= now)
                slate_buf_printf(&v, "since %s", when);
            else {
                slate_buf_puts(&v, "at ");
                time_with_age(now, when, &v);
            }
        }
        int64_t seen_ms;
        if (seen && slate_parse_time(seen, &seen_ms) == 0) {
            char a[32];
            ctl_format_age(now > seen_ms ? now - seen_ms : 0, a, sizeof a);
            slate_buf_printf(&v, " (seen %s ago)", a);
        }
        row(&t, "rate limit", &v);
    }
    if ((s = get(h, "sync_progress"))) {
        slate_buf_reset(&v);
        slate_buf_printf(&v, "%s pages (a sync is running)", s);
        row(&t, "sync progress", &v);
    }
    /* Anything else a newer worker stores, shown as it is. */
    size_t n;
    struct kv *pairs = sorted_pairs(h, &n);
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t k = 0; shown[k]; k++)
            known |= strcmp(pairs[i].k, shown[k]) == 0;
        if (!known)
            ctl_table_row(&t, (const char *[]){pairs[i].k, pairs[i].v});
    }
    slate_free(pairs);
    ctl_table_render(&t, "  ", out);
    ctl_table_free(&t);
    slate_buf_free(&v);
}

static void findings(struct slate_buf *out, int indent, const char *label, yajl_val list,
                     long limit)
{
    if (!YAJL_IS_ARRAY(list))
        return;
    size_t n = list->u.array.len;
    for (size_t i = 0; i < n; i++) {
        if (limit > 0 && i == (size_t)limit) {
            slate_buf_printf(out, "%*s... and %zu more %s (--limit 0 or --json for all)\n",
                             indent, "", n - i, label);
            return;
        }
        yajl_val f = list->u.array.values[i];
        const char *name = ctl_json_str(f, "name"), *res = ctl_json_str(f, "resource");
        const char *reason = ctl_json_str(f, "reason");
        struct slate_buf line;
        slate_buf_init(&line);
        slate_buf_printf(&line, "%s: %s", label, name ? name : res ? res : "?");
        if (name && res && strcmp(name, res) != 0)
            slate_buf_printf(&line, " (%s)", res);
        if (reason)
            slate_buf_printf(&line, ": %s", reason);
        slate_buf_printf(out, "%*s", indent, "");
        ctl_buf_text(out, line.data, line.len);
        slate_buf_puts(out, "\n");
        slate_buf_free(&line);
    }
}

static void render_tests(const redisReply *tests, long limit, struct slate_buf *out)
{
    size_t n;
    struct kv *pairs = sorted_pairs(tests, &n);
    yajl_val *parsed = slate_calloc(n + 1, sizeof *parsed);
    /* The status column is as wide as its longest word; the evaluation time
     * goes in the heading when every test has the same (the usual case). */
    int width = 1;
    const char *when = NULL;
    bool same_time = true;
    for (size_t i = 0; i < n; i++) {
        parsed[i] = ctl_json_parse(pairs[i].v);
        const char *st = ctl_json_str(parsed[i], "status");
        if (st && (int)strlen(st) > width && strlen(st) < 32)
            width = (int)strlen(st);
        const char *t = ctl_json_str(parsed[i], "evaluated_at");
        if (i == 0)
            when = t;
        same_time &= t && when && strcmp(t, when) == 0;
    }
    slate_buf_printf(out, "\nTests (%zu)", n);
    if (n && same_time) {
        slate_buf_puts(out, ", evaluated at ");
        ctl_buf_text(out, when, strlen(when));
    }
    slate_buf_puts(out, "\n");
    if (n == 0)
        slate_buf_puts(out, "  none evaluated yet\n");
    for (size_t i = 0; i < n; i++) {
        yajl_val j = parsed[i];
        struct slate_buf line;
        slate_buf_init(&line);
        if (!YAJL_IS_OBJECT(j)) {
            slate_buf_printf(&line, "%-*s %s: the stored result is not readable JSON", width, "?",
                             pairs[i].k);
        } else {
            const char *st = ctl_json_str(j, "status"), *title = ctl_json_str(j, "title");
            slate_buf_printf(&line, "%-*s %s", width, st ? st : "?", pairs[i].k);
            if (title)
                slate_buf_printf(&line, ": %s", title);
            yajl_val fail = ctl_json_get(j, "failing");
            size_t nfail = YAJL_IS_ARRAY(fail) ? fail->u.array.len : 0;
            long long checked = ctl_json_int(j, "checked", -1);
            if (checked >= 0)
                slate_buf_printf(&line, " (%lld checked, %zu failing)", checked, nfail);
            const char *at = ctl_json_str(j, "evaluated_at");
            if (at && !same_time)
                slate_buf_printf(&line, " at %s", at);
        }
        slate_buf_puts(out, "  ");
        ctl_buf_text(out, line.data, line.len);
        slate_buf_puts(out, "\n");
        slate_buf_free(&line);
        /* Under the test's id: two of indent, the status, a blank. */
        findings(out, width + 3, "failing", ctl_json_get(j, "failing"), limit);
        findings(out, width + 3, "error", ctl_json_get(j, "errors"), limit);
    }
    for (size_t i = 0; i < n; i++)
        yajl_tree_free(parsed[i]);
    slate_free(parsed);
    slate_free(pairs);
}

static void render_json(const char *ws, const char *in, const redisReply *h,
                        const redisReply *tests, long long assets, struct slate_buf *out)
{
    slate_buf_puts(out, "{\"workspace\":");
    ctl_buf_json(out, ws);
    slate_buf_puts(out, ",\"integration\":");
    ctl_buf_json(out, in);
    slate_buf_puts(out, ",\"record\":{");
    size_t n;
    struct kv *pairs = sorted_pairs(h, &n);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(pairs[i].k, "token") == 0)
            continue;
        if (!first)
            slate_buf_puts(out, ",");
        first = false;
        ctl_buf_json(out, pairs[i].k);
        slate_buf_puts(out, ":");
        ctl_buf_json(out, pairs[i].v);
    }
    slate_free(pairs);
    slate_buf_printf(out, "},\"assets\":%lld,\"tests\":{", assets < 0 ? 0 : assets);
    pairs = sorted_pairs(tests, &n);
    for (size_t i = 0; i < n; i++) {
        if (i)
            slate_buf_puts(out, ",");
        ctl_buf_json(out, pairs[i].k);
        slate_buf_puts(out, ":");
        yajl_val j = ctl_json_parse(pairs[i].v);
        if (j && slate_valid_utf8(pairs[i].v, strlen(pairs[i].v)))
            slate_buf_puts(out, pairs[i].v);
        else
            ctl_buf_json(out, pairs[i].v); /* not JSON: kept as a string */
        yajl_tree_free(j);
    }
    slate_free(pairs);
    slate_buf_puts(out, "}}\n");
}

static int show(struct ctl *c, int argc, char **argv)
{
    enum { O_JSON = 1000, O_LIMIT };
    static const struct option lopts[] = {{"json", no_argument, NULL, O_JSON},
                                          {"limit", required_argument, NULL, O_LIMIT},
                                          {"help", no_argument, NULL, 'h'},
                                          {0, 0, 0, 0}};
    bool json = false;
    uint64_t limit = DEFAULT_LIMIT;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        if (opt == O_JSON) {
            json = true;
        } else if (opt == O_LIMIT) {
            if (!slate_parse_u64(optarg, &limit) || limit > 1000000000)
                return ctl_fail(c, CTL_USAGE, "integration show --limit must be a whole number, "
                                              "not '%.40s'.", optarg);
        } else {
            int rc = ctl_opt_common(c, opt, "integration show", ctl_help_integration, argv);
            if (rc)
                return rc > 0 ? CTL_OK : c->exit;
        }
    }
    if (argc - optind != 2)
        return ctl_fail(c, CTL_USAGE, "integration show needs WORKSPACE INTEGRATION (see "
                                      "slatectl integration --help).");
    const char *ws = argv[optind], *in = argv[optind + 1];
    if (!slate_valid_id(ws, strlen(ws)))
        return ctl_fail(c, CTL_USAGE, "The workspace id must match [A-Za-z0-9_.-]{1,64}.");
    if (!slate_valid_id(in, strlen(in)))
        return ctl_fail(c, CTL_USAGE, "The integration id must match [A-Za-z0-9_.-]{1,64}.");
    if (ctl_connect(c) != CTL_OK)
        return c->exit;

    char *k_int = slate_asprintf("%s:{%s}:integration:%s", c->cfg.prefix, ws, in);
    char *k_tests = slate_asprintf("%s:tests", k_int);
    char *k_assets = slate_asprintf("%s:assets", k_int);
    redisReply *h = NULL, *tests = NULL, *sc = NULL;
    int rc = CTL_OK;
    h = ctl_cmdl_ok(c, "HGETALL", k_int, NULL);
    if (h)
        tests = ctl_cmdl_ok(c, "HGETALL", k_tests, NULL);
    if (tests)
        sc = ctl_cmdl_ok(c, "SCARD", k_assets, NULL);
    if (!sc) {
        rc = c->exit;
        goto out;
    }
    if (h->type != REDIS_REPLY_ARRAY || tests->type != REDIS_REPLY_ARRAY) {
        rc = ctl_fail(c, CTL_FAILED, "Redis at %s answered HGETALL with something else than a "
                                     "hash.", c->where);
        goto out;
    }
    if (h->elements == 0) {
        rc = ctl_fail(c, CTL_FAILED, "Integration %s/%s is not connected: %s does not exist.", ws,
                      in, k_int);
        goto out;
    }
    struct slate_buf b;
    slate_buf_init(&b);
    if (json) {
        render_json(ws, in, h, tests, ctl_reply_int(sc), &b);
    } else {
        slate_buf_puts(&b, "Integration ");
        slate_buf_printf(&b, "%s/%s\n", ws, in);
        render_record(h, ctl_reply_int(sc), slate_now_ms(), &b);
        render_tests(tests, (long)limit, &b);
    }
    ctl_flush(&b);
    slate_buf_free(&b);
out:
    freeReplyObject(h);
    freeReplyObject(tests);
    freeReplyObject(sc);
    slate_free(k_int);
    slate_free(k_tests);
    slate_free(k_assets);
    return rc;
}

int ctl_integration(struct ctl *c, int argc, char **argv)
{
    if (argc < 2)
        return ctl_fail(c, CTL_USAGE, "integration needs a command: show (see slatectl "
                                      "integration --help).");
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        fputs(ctl_help_integration, stdout);
        return CTL_OK;
    }
    if (strcmp(sub, "show") == 0)
        return show(c, argc - 1, argv + 1);
    return ctl_fail(c, CTL_USAGE, "Unknown integration command '%.40s': use show.", sub);
}

/*
 * enqueue.c: `slatectl enqueue`, and following a job to its final result.
 *
 * A job is one XADD of flat fields, exactly what a web tier writes.  The
 * token of a connect is read from a file (never an argument, which `ps`
 * would show to every user of the machine), checked, and sealed here to the
 * workers' public key, so slatectl never writes a plaintext token to Redis.
 *
 * --wait remembers the last id of the results stream before enqueueing,
 * then follows the stream from there with XREAD BLOCK, so that no older
 * result of a reused job_id is taken for this one.  Between reads it looks
 * at the integration's sync_progress and draws it on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "slate/alloc.h"
#include "slate/job.h"

/* How long one XREAD blocks: also how often progress is redrawn and how
 * quickly Ctrl-C is noticed. */
#define WAIT_BLOCK_MS 250
/* Width of the progress bar, in characters. */
#define BAR_WIDTH 30

const char ctl_help_enqueue[] =
    "Usage: slatectl [global options] enqueue TYPE WORKSPACE INTEGRATION [options]\n"
    "\n"
    "Adds one job to <prefix>:{q}:jobs, as a web tier does, and prints its job id\n"
    "(the --job-id given, else the id of the stream entry; every result of the\n"
    "job carries it).  TYPE is connect, sync, evaluate or disconnect.  WORKSPACE\n"
    "and INTEGRATION match [A-Za-z0-9_.-]{1,64}.\n"
    "\n"
    "A connect needs the Hetzner API token in a file (or on standard input with\n"
    "--token-file -): one line, one trailing newline allowed.  The token is never\n"
    "a command-line argument, since any user of the machine can read those.\n"
    "slatectl seals it to the workers' public key before it reaches Redis, so it\n"
    "needs the same key as the workers (SLATE_SECRET_KEY_FILE, or\n"
    "SLATE_DEV_INSECURE_KEY=1 in development).\n"
    "\n"
    "Options:\n"
    "  --job-id ID        the caller's id, [A-Za-z0-9_.:-]{1,128} (idempotency key)\n"
    "  --token-file FILE  connect only: the file that holds the token ('-': stdin)\n"
    "  --wait             follow the job until its final result (succeeded, failed\n"
    "                     or dead) and print it; `retrying` attempts are printed as\n"
    "                     they pass, and a running sync shows its page progress on\n"
    "                     stderr.  Exit status 0 when it succeeded, 1 otherwise.\n"
    "  --timeout S        with --wait: give up waiting after S seconds (exit 1; the\n"
    "                     job itself goes on).  Default: wait as long as it takes.\n"
    "  --json             print the job id, or with --wait the final result, as JSON\n"
    "  -h, --help\n"
    "\n"
    "Ctrl-C while waiting stops the waiting, not the job (exit 130).\n"
    "\n"
    "Examples:\n"
    "  slatectl enqueue sync acme hz-prod --wait\n"
    "  slatectl enqueue connect acme hz-prod --token-file ~/hetzner.token --wait\n"
    "  pass show hetzner/acme | slatectl enqueue connect acme hz-prod --token-file -\n";

struct enqueue_opts {
    const char *type, *workspace, *integration;
    const char *job_id;
    const char *token_file;
    bool wait;
    bool json;
    int64_t timeout_ms;          /* 0: none */
};

/* ---- the token ---- */

/* Reads the token of `path` into buf (at least SLATE_TOKEN_MAX + 2 bytes).
 * Returns its length, or -1 with a failure recorded; never puts a byte of
 * the token in a message. */
static long read_token(struct ctl *c, const char *path, char *buf, size_t cap)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ctl_fail(c, CTL_USAGE, "The token file %.200s cannot be opened: %s.", path,
                 strerror(errno));
        return -1;
    }
    size_t n = 0;
    bool more = false;
    for (;;) {
        if (n == cap) {
            char extra;
            ssize_t r = read(fd, &extra, 1);
            more = r > 0;
            explicit_bzero(&extra, 1);
            break;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            if (!is_stdin)
                close(fd);
            explicit_bzero(buf, cap);
            ctl_fail(c, CTL_USAGE, "The token file %.200s cannot be read: %s.", path, strerror(e));
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (!is_stdin)
        close(fd);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (more || n > SLATE_TOKEN_MAX) {
        explicit_bzero(buf, cap);
        ctl_fail(c, CTL_USAGE, "The token in %.200s is longer than %d bytes; a Hetzner API token "
                               "is 64 characters.", path, SLATE_TOKEN_MAX);
        return -1;
    }
    if (n == 0) {
        ctl_fail(c, CTL_USAGE, "The token file %.200s is empty.", path);
        return -1;
    }
    if (!slate_token_syntax_ok(buf, n)) {
        explicit_bzero(buf, cap);
        ctl_fail(c, CTL_USAGE, "The token in %.200s is not a valid Hetzner API token: it must be "
                               "printable ASCII without spaces, on one line.", path);
        return -1;
    }
    return (long)n;
}

/* The sealed token of the file, to free with slate_free(); NULL on failure
 * (recorded).  The plaintext is wiped before this returns. */
static char *sealed_token(struct ctl *c, const char *path)
{
    char buf[SLATE_TOKEN_MAX + 2];
    long n = read_token(c, path, buf, sizeof buf);
    if (n < 0)
        return NULL;
    struct slate_keys keys;
    char *sealed = NULL;
    if (ctl_keys_load(c, &keys) == CTL_OK) {
        sealed = slate_seal_b64(keys.seal_pk, buf, (size_t)n);
        if (!sealed)
            ctl_fail(c, CTL_USAGE, "The token cannot be sealed: the public key is unusable.");
        slate_keys_wipe(&keys);
    }
    explicit_bzero(buf, sizeof buf);
    return sealed;
}

/* ---- printing a result ---- */

struct field {
    const char *k, *v;
};

static const char *field_get(const struct field *f, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].k, k) == 0)
            return f[i].v;
    return NULL;
}

/* One summary value as text: a number, "k v, k v" for an object of
 * numbers; objects of strings (the tests) get one row per member. */
static void summary_rows(struct ctl_table *t, const char *key, yajl_val v)
{
    struct slate_buf b;
    slate_buf_init(&b);
    if (YAJL_IS_OBJECT(v)) {
        bool strings = v->u.object.len > 0;
        int width = 1;
        for (size_t i = 0; i < v->u.object.len; i++) {
            const char *str = YAJL_GET_STRING(v->u.object.values[i]);
            strings &= str != NULL;
            if (str && strlen(str) < 32 && (int)strlen(str) > width)
                width = (int)strlen(str);
        }
        for (size_t i = 0; i < v->u.object.len; i++) {
            yajl_val m = v->u.object.values[i];
            if (strings) {
                slate_buf_reset(&b);
                slate_buf_printf(&b, "%-*s %s", width, YAJL_GET_STRING(m), v->u.object.keys[i]);
                ctl_table_row(t, (const char *[]){i == 0 ? key : "", b.data});
                continue;
            }
            slate_buf_printf(&b, "%s%s ", i ? ", " : "", v->u.object.keys[i]);
            if (YAJL_IS_INTEGER(m))
                slate_buf_printf(&b, "%lld", YAJL_GET_INTEGER(m));
            else if (YAJL_IS_STRING(m))
                slate_buf_puts(&b, YAJL_GET_STRING(m));
            else
                slate_buf_puts(&b, "...");
        }
        if (!strings)
            ctl_table_row(t, (const char *[]){key, b.data ? b.data : ""});
    } else if (YAJL_IS_INTEGER(v)) {
        slate_buf_printf(&b, "%lld", YAJL_GET_INTEGER(v));
        ctl_table_row(t, (const char *[]){key, b.data});
    } else if (YAJL_IS_STRING(v)) {
        ctl_table_row(t, (const char *[]){key, YAJL_GET_STRING(v)});
    }
    slate_buf_free(&b);
}

static void print_result_text(const struct field *f, size_t n)
{
    struct slate_buf b;
    slate_buf_init(&b);
    const char *job = field_get(f, n, "job_id"), *status = field_get(f, n, "status");
    const char *attempt = field_get(f, n, "attempt"), *dur = field_get(f, n, "duration_ms");
    slate_buf_puts(&b, "job ");
    ctl_buf_text(&b, job ? job : "?", strlen(job ? job : "?"));
    slate_buf_puts(&b, ": ");
    ctl_buf_text(&b, status ? status : "?", strlen(status ? status : "?"));
    slate_buf_puts(&b, "\n");
    struct ctl_table t;
    ctl_table_init(&t, 2);
    const char *type = field_get(f, n, "type"), *ws = field_get(f, n, "workspace");
    const char *integ = field_get(f, n, "integration");
    if (type)
        ctl_table_row(&t, (const char *[]){"type", type});
    if (ws && integ) {
        struct slate_buf wi;
        slate_buf_init(&wi);
        slate_buf_printf(&wi, "%s/%s", ws, integ);
        ctl_table_row(&t, (const char *[]){"integration", wi.data});
        slate_buf_free(&wi);
    }
    if (attempt)
        ctl_table_row(&t, (const char *[]){"attempt", attempt});
    if (dur) {
        char d[48];
        snprintf(d, sizeof d, "%.30s ms", dur);
        ctl_table_row(&t, (const char *[]){"duration", d});
    }
    const char *fin = field_get(f, n, "finished_at");
    if (fin)
        ctl_table_row(&t, (const char *[]){"finished", fin});
    const char *code = field_get(f, n, "error_code"), *err = field_get(f, n, "error");
    if (code || err) {
        struct slate_buf e;
        slate_buf_init(&e);
        slate_buf_printf(&e, "%s%s%s", code ? code : "", code && err ? ": " : "", err ? err : "");
        ctl_table_row(&t, (const char *[]){"error", e.data});
        slate_buf_free(&e);
    }
    const char *summary = field_get(f, n, "summary");
    yajl_val sj = summary ? ctl_json_parse(summary) : NULL;
    if (YAJL_IS_OBJECT(sj)) {
        for (size_t i = 0; i < sj->u.object.len; i++)
            summary_rows(&t, sj->u.object.keys[i], sj->u.object.values[i]);
    } else if (summary) {
        ctl_table_row(&t, (const char *[]){"summary", summary});
    }
    yajl_tree_free(sj);
    ctl_table_render(&t, "  ", &b);
    ctl_table_free(&t);
    ctl_flush(&b);
    slate_buf_free(&b);
}

static void print_result_json(const char *entry_id, const struct field *f, size_t n)
{
    struct slate_buf b;
    slate_buf_init(&b);
    slate_buf_puts(&b, "{\"entry_id\":");
    ctl_buf_json(&b, entry_id);
    for (size_t i = 0; i < n; i++) {
        slate_buf_puts(&b, ",");
        ctl_buf_json(&b, f[i].k);
        slate_buf_puts(&b, ":");
        yajl_val j = strcmp(f[i].k, "summary") == 0 ? ctl_json_parse(f[i].v) : NULL;
        if (j && slate_valid_utf8(f[i].v, strlen(f[i].v)))
            slate_buf_puts(&b, f[i].v); /* valid JSON: embedded as it is */
        else
            ctl_buf_json(&b, f[i].v);
        yajl_tree_free(j);
    }
    slate_buf_puts(&b, "}\n");
    ctl_flush(&b);
    slate_buf_free(&b);
}

/* ---- waiting ---- */

static volatile sig_atomic_t wait_stop;

static void on_wait_signal(int sig)
{
    (void)sig;
    wait_stop = 1;
}

struct progress {
    bool tty;
    bool shown;                  /* a bar is on the terminal's last line */
    char last[48];
};

static void progress_clear(struct progress *p)
{
    if (p->tty && p->shown)
        fputs("\r\033[K", stderr);
    p->shown = false;
    fflush(stderr);
}

static void progress_show(struct progress *p, const char *v)
{
    if (strcmp(v, p->last) == 0)
        return;
    snprintf(p->last, sizeof p->last, "%s", v);
    unsigned long done = 0, known = 0;
    char *end;
    done = strtoul(v, &end, 10);
    bool ok = *end == '/';
    if (ok) {
        known = strtoul(end + 1, &end, 10);
        ok = *end == '\0';
    }
    if (!ok) /* not a progress a worker writes: not shown */
        return;
    if (!p->tty) {
        fprintf(stderr, "%lu/%lu pages\n", done, known);
        fflush(stderr);
        return;
    }
    int fill = known ? (int)((done > known ? known : done) * BAR_WIDTH / known) : 0;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r\033[Ksyncing [%s] %lu/%lu pages", bar, done, known);
    fflush(stderr);
    p->shown = true;
}

/* The last id of the results stream, "0-0" when it is empty. */
static int results_tail(struct ctl *c, char *out, size_t n)
{
    redisReply *r = ctl_cmdl_ok(c, "XREVRANGE", c->k_results, "+", "-", "COUNT", "1", NULL);
    if (!r)
        return c->exit;
    snprintf(out, n, "0-0");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 1 &&
        r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(out, n, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    return CTL_OK;
}

/* Looks at one result entry; returns 1 when it is this job's final result
 * (printed, *outcome set), 0 otherwise. */
static int on_result(struct ctl *c, const struct enqueue_opts *o, const char *job_id,
                     const redisReply *entry, struct progress *p, int *outcome)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const redisReply *kv = entry->element[1];
    struct field f[SLATE_JOB_MAX_FIELDS];
    size_t n = 0;
    for (size_t i = 0; i + 1 < kv->elements && n < SLATE_JOB_MAX_FIELDS; i += 2) {
        if (kv->element[i]->type == REDIS_REPLY_STRING &&
            kv->element[i + 1]->type == REDIS_REPLY_STRING)
            f[n++] = (struct field){kv->element[i]->str, kv->element[i + 1]->str};
    }
    const char *id = field_get(f, n, "job_id"), *status = field_get(f, n, "status");
    if (!id || !status || strcmp(id, job_id) != 0)
        return 0;
    if (strcmp(status, "retrying") == 0) {
        const char *attempt = field_get(f, n, "attempt"), *code = field_get(f, n, "error_code");
        const char *err = field_get(f, n, "error");
        progress_clear(p);
        p->last[0] = '\0';
        struct slate_buf b;
        slate_buf_init(&b);
        slate_buf_printf(&b, "attempt %s: retrying", attempt ? attempt : "?");
        if (code || err)
            slate_buf_printf(&b, " (%s%s%s)", code ? code : "", code && err ? ": " : "",
                             err ? err : "");
        struct slate_buf safe;
        slate_buf_init(&safe);
        ctl_buf_text(&safe, b.data, b.len);
        slate_buf_puts(&safe, "\n");
        /* With --json, stdout holds only the final JSON object. */
        if (o->json) {
            fputs(safe.data, stderr);
            fflush(stderr);
        } else {
            ctl_flush(&safe);
        }
        slate_buf_free(&safe);
        slate_buf_free(&b);
        return 0;
    }
    if (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0 &&
        strcmp(status, "dead") != 0)
        return 0;
    progress_clear(p);
    if (o->json)
        print_result_json(entry->element[0]->str, f, n);
    else
        print_result_text(f, n);
    *outcome = strcmp(status, "succeeded") == 0 ? CTL_OK : CTL_FAILED;
    if (*outcome != CTL_OK) {
        const char *code = field_get(f, n, "error_code");
        ctl_fail(c, CTL_FAILED, "Job %s %s%s%.64s%s.", job_id, status, code ? " (" : "",
                 code ? code : "", code ? ")" : "");
    }
    return 1;
}

static int wait_for_result(struct ctl *c, const struct enqueue_opts *o, const char *job_id,
                           char last_id[SLATE_JOB_ENTRY_ID_MAX])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_wait_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct progress p = {.tty = isatty(STDERR_FILENO) == 1};
    bool follow = strcmp(o->type, "sync") == 0 || strcmp(o->type, "connect") == 0;
    char *k_int = slate_asprintf("%s:{%s}:integration:%s", c->cfg.prefix, o->workspace,
                                 o->integration);
    uint64_t deadline = o->timeout_ms ? slate_mono_ms() + (uint64_t)o->timeout_ms : 0;
    int outcome = -1;
    char block[24];
    snprintf(block, sizeof block, "%d", WAIT_BLOCK_MS);
    while (outcome < 0 && !wait_stop) {
        if (deadline && slate_mono_ms() >= deadline) {
            progress_clear(&p);
            ctl_fail(c, CTL_FAILED, "No final result for job %.128s within %lld s; the job goes "
                                    "on (see slatectl status).", job_id,
                     (long long)(o->timeout_ms / 1000));
            break;
        }
        const char *argv[] = {"XREAD", "COUNT", "100", "BLOCK", block, "STREAMS", c->k_results,
                              last_id};
        redisReply *r = ctl_cmd(c, WAIT_BLOCK_MS, 8, argv, NULL);
        if (!r)
            break;
        if (r->type == REDIS_REPLY_ERROR) {
            ctl_fail(c, CTL_FAILED, "Redis at %s refused XREAD: %.300s.", c->where, r->str);
            freeReplyObject(r);
            break;
        }
        /* [[stream, [[id, [k, v, ...]], ...]]], or nil on timeout. */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
            const redisReply *entries = r->element[0]->element[1];
            for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
                const redisReply *e = entries->element[i];
                if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
                    e->element[0]->type == REDIS_REPLY_STRING)
                    snprintf(last_id, SLATE_JOB_ENTRY_ID_MAX, "%s", e->element[0]->str);
                if (outcome < 0 && on_result(c, o, job_id, e, &p, &outcome))
                    break;
            }
        }
        freeReplyObject(r);
        if (outcome >= 0 || !follow)
            continue;
        r = ctl_cmdl(c, "HGET", k_int, "sync_progress", NULL);
        if (!r)
            break;
        if (r->type == REDIS_REPLY_STRING)
            progress_show(&p, r->str);
        else if (p.last[0]) {
            progress_clear(&p);
            p.last[0] = '\0';
        }
        freeReplyObject(r);
    }
    progress_clear(&p);
    slate_free(k_int);
    if (outcome >= 0)
        return outcome;
    if (wait_stop)
        return ctl_fail(c, CTL_INTERRUPTED, "Stopped waiting for job %.128s; the job goes on and "
                                            "its result will be in %s.", job_id, c->k_results);
    return c->exit;
}

/* ---- the command ---- */

static bool valid_type(const char *t)
{
    for (int i = 0; i < SLATE_JOB__COUNT; i++)
        if (strcmp(t, slate_job_type_name((enum slate_job_type)i)) == 0)
            return true;
    return false;
}

static int parse_args(struct ctl *c, int argc, char **argv, struct enqueue_opts *o)
{
    enum { O_JOB_ID = 1000, O_TOKEN_FILE, O_WAIT, O_TIMEOUT, O_JSON };
    static const struct option lopts[] = {
        {"job-id", required_argument, NULL, O_JOB_ID},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"wait", no_argument, NULL, O_WAIT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    bool timeout_given = false;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        switch (opt) {
        case O_JOB_ID: o->job_id = optarg; break;
        case O_TOKEN_FILE: o->token_file = optarg; break;
        case O_WAIT: o->wait = true; break;
        case O_JSON: o->json = true; break;
        case O_TIMEOUT: {
            uint64_t s;
            if (!slate_parse_u64(optarg, &s) || s == 0 || s > 604800)
                return ctl_fail(c, CTL_USAGE, "enqueue --timeout must be a whole number of "
                                              "seconds from 1 to 604800, not '%.40s'.", optarg);
            o->timeout_ms = (int64_t)s * 1000;
            timeout_given = true;
            break;
        }
        default: {
            int rc = ctl_opt_common(c, opt, "enqueue", ctl_help_enqueue, argv);
            if (rc)
                return rc > 0 ? 1 : c->exit;
        }
        }
    }
    if (argc - optind != 3)
        return ctl_fail(c, CTL_USAGE, "enqueue needs TYPE WORKSPACE INTEGRATION (see slatectl "
                                      "enqueue --help).");
    o->type = argv[optind];
    o->workspace = argv[optind + 1];
    o->integration = argv[optind + 2];
    if (!valid_type(o->type))
        return ctl_fail(c, CTL_USAGE, "The job type must be connect, sync, evaluate or "
                                      "disconnect.");
    if (!slate_valid_id(o->workspace, strlen(o->workspace)))
        return ctl_fail(c, CTL_USAGE, "The workspace id must match [A-Za-z0-9_.-]{1,64}.");
    if (!slate_valid_id(o->integration, strlen(o->integration)))
        return ctl_fail(c, CTL_USAGE, "The integration id must match [A-Za-z0-9_.-]{1,64}.");
    if (o->job_id && !slate_valid_job_id(o->job_id, strlen(o->job_id)))
        return ctl_fail(c, CTL_USAGE, "The job id must match [A-Za-z0-9_.:-]{1,128}.");
    bool connect = strcmp(o->type, "connect") == 0;
    if (connect && !o->token_file)
        return ctl_fail(c, CTL_USAGE, "A connect job needs the token: --token-file FILE (or - "
                                      "for standard input).");
    if (!connect && o->token_file)
        return ctl_fail(c, CTL_USAGE, "Only a connect job carries a token; drop --token-file.");
    if (timeout_given && !o->wait)
        return ctl_fail(c, CTL_USAGE, "--timeout only applies with --wait.");
    return 0;
}

int ctl_enqueue(struct ctl *c, int argc, char **argv)
{
    struct enqueue_opts o;
    int rc = parse_args(c, argc, argv, &o);
    if (rc)
        return rc == 1 ? CTL_OK : rc;
    char *sealed = NULL;
    if (o.token_file && !(sealed = sealed_token(c, o.token_file)))
        return c->exit;
    if (ctl_connect(c) != CTL_OK) {
        slate_free(sealed);
        return c->exit;
    }
    char last_id[SLATE_JOB_ENTRY_ID_MAX] = "0-0";
    if (o.wait && results_tail(c, last_id, sizeof last_id) != CTL_OK) {
        slate_free(sealed);
        return c->exit;
    }
    const char *args[14] = {"XADD", c->k_jobs, "*", "type", o.type, "workspace", o.workspace,
                            "integration", o.integration};
    int n = 9;
    if (o.job_id) {
        args[n++] = "job_id";
        args[n++] = o.job_id;
    }
    if (sealed) {
        args[n++] = "token_sealed";
        args[n++] = sealed;
    }
    redisReply *r = ctl_cmd(c, 0, n, args, NULL);
    slate_free(sealed);
    if (!r)
        return c->exit;
    if (r->type != REDIS_REPLY_STRING) {
        ctl_fail(c, CTL_FAILED, "Redis at %s refused the job: %.300s.", c->where,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return c->exit;
    }
    char entry[SLATE_JOB_ENTRY_ID_MAX];
    snprintf(entry, sizeof entry, "%s", r->str);
    freeReplyObject(r);
    const char *job_id = o.job_id ? o.job_id : entry;
    if (o.json && !o.wait) {
        struct slate_buf b;
        slate_buf_init(&b);
        slate_buf_puts(&b, "{\"job_id\":");
        ctl_buf_json(&b, job_id);
        slate_buf_puts(&b, ",\"entry_id\":");
        ctl_buf_json(&b, entry);
        slate_buf_puts(&b, "}\n");
        ctl_flush(&b);
        slate_buf_free(&b);
    } else if (!o.json) {
        printf("%s\n", job_id);
        fflush(stdout);
    }
    if (!o.wait)
        return CTL_OK;
    return wait_for_result(c, &o, job_id, last_id);
}

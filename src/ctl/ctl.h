/*
 * ctl.h: private to slatectl (src/slatectl.c and src/ctl/).
 *
 * slatectl is a short-lived command: it talks to Redis with hiredis's
 * synchronous API (a CLI may block), one command at a time, always in argv
 * form so that no user data is ever read as a format string.  Every
 * failure is recorded once in `struct ctl` (an exit code and one sentence)
 * and printed once, by main, on stderr.
 *
 * Exit codes (documented in --help and in docs/slatectl.1):
 *   0  success
 *   1  the operation's outcome was a failure (a job failed, nothing to retry)
 *   2  usage or configuration error
 *   3  Redis unreachable
 */
#ifndef SLATE_CTL_H
#define SLATE_CTL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <yajl/yajl_tree.h>

#include "slate/config.h"
#include "slate/crypto.h"
#include "slate/util.h"

enum ctl_exit {
    CTL_OK = 0,
    CTL_FAILED = 1,
    CTL_USAGE = 2,
    CTL_UNREACHABLE = 3,
    /* Not an exit code of its own: --wait stopped by SIGINT exits 130, as a
     * shell does for a command killed by SIGINT. */
    CTL_INTERRUPTED = 130,
};

/* Longest sentence slatectl prints for a failure. */
#define CTL_ERR_MAX 512

struct ctl {
    struct slate_config cfg;
    redisContext *redis;         /* NULL until ctl_connect() */
    char where[160];             /* "127.0.0.1:6379 db 0", never the password */
    char *k_jobs, *k_results, *k_delayed, *k_dead, *k_workers;
    int exit;                    /* the first failure's exit code, or CTL_OK */
    char err[CTL_ERR_MAX];       /* its sentence */
};

/* ---- failures (conn.c) ---- */

/* Records a failure (the first one wins) and returns its exit code, so that
 * a command can write `return ctl_fail(c, CTL_USAGE, "...")`. */
int ctl_fail(struct ctl *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Forgets a recorded failure (watch goes on after Redis comes back). */
void ctl_clear_failure(struct ctl *c);

/* ---- Redis (conn.c) ---- */

/* Builds the key names from cfg.prefix; call once after config load. */
void ctl_init_keys(struct ctl *c);
/* Connects to SLATE_REDIS_URL with the configured timeout, then AUTH and
 * SELECT.  Returns CTL_OK, CTL_UNREACHABLE, or CTL_USAGE (a URL that does not
 * parse, a password Redis refuses, a database it does not have). */
int ctl_connect(struct ctl *c);
void ctl_disconnect(struct ctl *c);
void ctl_free(struct ctl *c);

/* Sends one command in argv form (lens NULL: every argument is a C string).
 * Returns the reply, which may be an error reply for the caller to judge;
 * NULL when Redis could not be reached (then the failure is recorded as
 * CTL_UNREACHABLE and the connection is dropped).  Free with
 * freeReplyObject().  extra_ms lengthens the command timeout (for BLOCK). */
redisReply *ctl_cmd(struct ctl *c, int64_t extra_ms, int argc, const char **argv,
                    const size_t *lens);
/* The same with C-string arguments ending with NULL. */
redisReply *ctl_cmdl(struct ctl *c, const char *arg, ...) __attribute__((sentinel));
/* Like ctl_cmdl, but an error reply is a failure too (CTL_FAILED, with the
 * command's name and Redis's message): NULL then. */
redisReply *ctl_cmdl_ok(struct ctl *c, const char *arg, ...) __attribute__((sentinel));
/* An integer reply's value, or -1 for anything else. */
long long ctl_reply_int(const redisReply *r);

/* ---- output helpers (out.c) ---- */

/* Appends s (n bytes) for a terminal: control characters and invalid UTF-8
 * become '?', so that nothing stored in Redis can move the cursor or change
 * the colours of an operator's terminal. */
void ctl_buf_text(struct slate_buf *b, const char *s, size_t n);
/* A JSON string literal of s that is always valid JSON (bad UTF-8 becomes
 * U+FFFD). */
void ctl_buf_json(struct slate_buf *b, const char *s);
/* "3 s", "2 min", "5 h", "3 d" (ms >= 0). */
void ctl_format_age(int64_t ms, char *out, size_t n);

/* A table of text cells printed in aligned columns, two spaces apart.  Cells
 * are copied (and made terminal-safe) on add. */
struct ctl_table {
    size_t ncols;
    size_t nrows;
    size_t cap;
    char **cells;                /* nrows * ncols */
    size_t *width;               /* display width per column */
};
void ctl_table_init(struct ctl_table *t, size_t ncols);
/* Adds one row of ncols C strings (NULL prints as "-"). */
void ctl_table_row(struct ctl_table *t, const char *const *cells);
/* Appends the table to b, each line starting with indent. */
void ctl_table_render(const struct ctl_table *t, const char *indent, struct slate_buf *b);
void ctl_table_free(struct ctl_table *t);

/* yajl tree helpers: a member of an object, or NULL. */
yajl_val ctl_json_get(yajl_val obj, const char *key);
/* The string of a member (NULL when absent or not a string). */
const char *ctl_json_str(yajl_val obj, const char *key);
/* The integer of a member, or def. */
long long ctl_json_int(yajl_val obj, const char *key, long long def);
/* Parses a NUL-terminated JSON text; NULL when it does not parse. */
yajl_val ctl_json_parse(const char *text);

/* Writes all of b to stdout (fwrite + fflush). */
void ctl_flush(const struct slate_buf *b);

/* ---- keys (keys.c) ---- */

/* Loads the keys exactly as slate-worker does: SLATE_SECRET_KEY_FILE, or the
 * development key with a warning on stderr when SLATE_DEV_INSECURE_KEY=1.
 * Returns CTL_OK or CTL_USAGE (recorded). */
int ctl_keys_load(struct ctl *c, struct slate_keys *keys);

/* ---- commands: argv[0] is the command's name ---- */

struct ctl_command {
    const char *name;
    int (*run)(struct ctl *c, int argc, char **argv);
    const char *summary;         /* one line for the program's --help */
    const char *help;            /* the command's own --help */
};

int ctl_status(struct ctl *c, int argc, char **argv);
int ctl_watch(struct ctl *c, int argc, char **argv);
int ctl_enqueue(struct ctl *c, int argc, char **argv);
int ctl_public_key(struct ctl *c, int argc, char **argv);
int ctl_dead(struct ctl *c, int argc, char **argv);
int ctl_integration(struct ctl *c, int argc, char **argv);
int ctl_rotate_key(struct ctl *c, int argc, char **argv);

extern const char ctl_help_status[];
extern const char ctl_help_watch[];
extern const char ctl_help_enqueue[];
extern const char ctl_help_public_key[];
extern const char ctl_help_dead[];
extern const char ctl_help_integration[];
extern const char ctl_help_rotate_key[];

/* Shared handling of a command's getopt result: prints the command's help on
 * -h/--help (returns 1), records a usage failure for an unknown option or a
 * missing argument (returns -1).  Returns 0 for any other c. */
int ctl_opt_common(struct ctl *c, int opt, const char *cmd, const char *help, char **argv);

#endif

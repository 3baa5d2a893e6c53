/*
 * job.h: a job as it arrives in a stream entry, parsed strictly.
 *
 * Parsing is pure (bytes in, struct out) so that it can be fuzzed.  An entry
 * that breaks a rule of PROTOCOL.md is still parsed as far as it can be, and
 * comes out with `invalid` set and a sentence in `reason`: its result must
 * carry the fields that are valid (job_id, type, workspace, integration) and
 * never echo a bad value.
 */
#ifndef SLATE_JOB_H
#define SLATE_JOB_H

#include <stdbool.h>
#include <stddef.h>

enum slate_job_type {
    SLATE_JOB_CONNECT,
    SLATE_JOB_SYNC,
    SLATE_JOB_EVALUATE,
    SLATE_JOB_DISCONNECT,
    SLATE_JOB__COUNT,
};

const char *slate_job_type_name(enum slate_job_type t);

/* Field size limits.  A stream entry is written by people too: anything over
 * these is a mistake or an attack, never a job. */
#define SLATE_JOB_MAX_FIELDS 16
#define SLATE_JOB_MAX_VALUE 1024          /* token_sealed of a 256-byte token is 408 */
#define SLATE_JOB_ENTRY_ID_MAX 48

struct slate_job {
    char entry_id[SLATE_JOB_ENTRY_ID_MAX];
    bool type_valid;
    enum slate_job_type type;
    char workspace[65];                   /* "" when missing or invalid */
    char integration[65];
    char job_id[129];                     /* the caller's, else the entry id */
    bool job_id_given;
    long attempt;                         /* >= 1 */
    /* Written by workers on retries after a 429 (see docs/protocol.md):
     * attempts that ended rate limited, which do not count toward
     * SLATE_MAX_ATTEMPTS, and the total time waited for budget. */
    long rate_waits;
    long long rate_wait_ms;
    char *token_sealed;                   /* heap, or NULL */
    char *token;                          /* plain token: heap, wiped on free */
    size_t token_len;
    bool has_token_field;                 /* entry held `token` or `token_sealed` */
    bool invalid;
    char reason[256];
};

/* Parses the flat fields of one entry.  Never fails: problems set `invalid`.
 * keys/vals are not NUL-terminated (lengths given). */
void slate_job_parse(struct slate_job *job, const char *entry_id, size_t nfields,
                     const char *const *keys, const size_t *klens,
                     const char *const *vals, const size_t *vlens);
/* Wipes and frees the token fields. */
void slate_job_clear(struct slate_job *job);

#endif

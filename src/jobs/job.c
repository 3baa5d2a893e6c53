/*
 * job.c: strict parsing of a job entry (see job.h).
 *
 * Rules, in the order they are checked: every field name is known and
 * appears once; no value is over SLATE_JOB_MAX_VALUE or holds bytes that are
 * not UTF-8; `type`, `workspace` and `integration` are present and valid;
 * `job_id` and `attempt` are valid when present; a connect carries exactly
 * one of `token` and `token_sealed`, and no other type carries either.
 * The first broken rule gives the reason; valid fields are kept either way.
 */
#include <stdio.h>
#include <string.h>

#include "slate/alloc.h"
#include "slate/job.h"
#include "slate/util.h"

static const char *const type_names[SLATE_JOB__COUNT] = {"connect", "sync", "evaluate",
                                                         "disconnect"};

const char *slate_job_type_name(enum slate_job_type t)
{
    return (unsigned)t < SLATE_JOB__COUNT ? type_names[t] : "unknown";
}

enum field {
    F_TYPE, F_WORKSPACE, F_INTEGRATION, F_JOB_ID, F_TOKEN_SEALED, F_TOKEN, F_ATTEMPT,
    F_RATE_WAITS, F_RATE_WAIT_MS, F__N
};
static const char *const field_names[F__N] = {"type",         "workspace", "integration",
                                              "job_id",       "token_sealed", "token",
                                              "attempt",      "rate_waits", "rate_wait_ms"};

/* A small non-negative decimal field; false when it does not parse. */
static bool small_number(const char *v, size_t n, uint64_t max, uint64_t *out)
{
    char tmp[24];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    return slate_parse_u64(tmp, out) && *out <= max;
}

static void invalid(struct slate_job *job, const char *fmt, const char *a)
{
    if (job->invalid)
        return;
    job->invalid = true;
    snprintf(job->reason, sizeof job->reason, fmt, a);
}

/* A field name is echoed in a reason only when it is short and plain. */
static const char *printable_name(const char *k, size_t n, char buf[40])
{
    if (n < 33 && slate_valid_job_id(k, n)) {
        memcpy(buf, k, n);
        buf[n] = '\0';
        return buf;
    }
    return "(unprintable)";
}

void slate_job_parse(struct slate_job *job, const char *entry_id, size_t nfields,
                     const char *const *keys, const size_t *klens,
                     const char *const *vals, const size_t *vlens)
{
    memset(job, 0, sizeof *job);
    snprintf(job->entry_id, sizeof job->entry_id, "%s", entry_id);
    snprintf(job->job_id, sizeof job->job_id, "%s", entry_id);
    job->attempt = 1;

    const char *val[F__N] = {0};
    size_t vlen[F__N] = {0};
    if (nfields > SLATE_JOB_MAX_FIELDS)
        invalid(job, "the entry has more than %s fields", "16");
    for (size_t i = 0; i < nfields && i < 64; i++) {
        int f = -1;
        for (int k = 0; k < F__N; k++) {
            if (klens[i] == strlen(field_names[k]) && memcmp(keys[i], field_names[k], klens[i]) == 0)
                f = k;
        }
        char nb[40];
        if (f < 0) {
            invalid(job, "unknown field '%s'", printable_name(keys[i], klens[i], nb));
            continue;
        }
        if (f == F_TOKEN || f == F_TOKEN_SEALED)
            job->has_token_field = true;
        if (val[f]) {
            invalid(job, "the field '%s' appears twice", field_names[f]);
            continue;
        }
        if (vlens[i] > SLATE_JOB_MAX_VALUE) {
            invalid(job, "the field '%s' is longer than 1024 bytes", field_names[f]);
            continue;
        }
        /* A plain token with a NUL is an invalid token, decided later. */
        if (f != F_TOKEN && memchr(vals[i], '\0', vlens[i])) {
            invalid(job, "the field '%s' holds a NUL byte", field_names[f]);
            continue;
        }
        if (!slate_valid_utf8(vals[i], vlens[i])) {
            invalid(job, "the field '%s' is not valid UTF-8", field_names[f]);
            continue;
        }
        val[f] = vals[i];
        vlen[f] = vlens[i];
    }

    /* Keep every valid identifier, whatever else is wrong. */
    if (val[F_JOB_ID]) {
        if (slate_valid_job_id(val[F_JOB_ID], vlen[F_JOB_ID])) {
            memcpy(job->job_id, val[F_JOB_ID], vlen[F_JOB_ID]);
            job->job_id[vlen[F_JOB_ID]] = '\0';
            job->job_id_given = true;
        } else {
            invalid(job, "job_id must match [A-Za-z0-9_.:-]{1,128}%s", "");
        }
    }
    if (val[F_TYPE]) {
        for (int t = 0; t < SLATE_JOB__COUNT; t++) {
            if (vlen[F_TYPE] == strlen(type_names[t]) &&
                memcmp(val[F_TYPE], type_names[t], vlen[F_TYPE]) == 0) {
                job->type = (enum slate_job_type)t;
                job->type_valid = true;
            }
        }
        if (!job->type_valid)
            invalid(job, "type must be connect, sync, evaluate or disconnect%s", "");
    } else {
        invalid(job, "the field 'type' is missing%s", "");
    }
    if (val[F_WORKSPACE]) {
        if (slate_valid_id(val[F_WORKSPACE], vlen[F_WORKSPACE])) {
            memcpy(job->workspace, val[F_WORKSPACE], vlen[F_WORKSPACE]);
            job->workspace[vlen[F_WORKSPACE]] = '\0';
        } else {
            invalid(job, "workspace must match [A-Za-z0-9_.-]{1,64}%s", "");
        }
    } else {
        invalid(job, "the field 'workspace' is missing%s", "");
    }
    if (val[F_INTEGRATION]) {
        if (slate_valid_id(val[F_INTEGRATION], vlen[F_INTEGRATION])) {
            memcpy(job->integration, val[F_INTEGRATION], vlen[F_INTEGRATION]);
            job->integration[vlen[F_INTEGRATION]] = '\0';
        } else {
            invalid(job, "integration must match [A-Za-z0-9_.-]{1,64}%s", "");
        }
    } else {
        invalid(job, "the field 'integration' is missing%s", "");
    }
    if (val[F_ATTEMPT]) {
        uint64_t a = 0;
        if (small_number(val[F_ATTEMPT], vlen[F_ATTEMPT], 1000000, &a) && a >= 1)
            job->attempt = (long)a;
        else
            invalid(job, "attempt must be a whole number from 1%s", "");
    }
    if (val[F_RATE_WAITS]) {
        uint64_t a = 0;
        if (small_number(val[F_RATE_WAITS], vlen[F_RATE_WAITS], 1000000, &a))
            job->rate_waits = (long)a;
        else
            invalid(job, "rate_waits must be a whole number%s", "");
    }
    if (val[F_RATE_WAIT_MS]) {
        uint64_t a = 0;
        if (small_number(val[F_RATE_WAIT_MS], vlen[F_RATE_WAIT_MS], 1000000000000ULL, &a))
            job->rate_wait_ms = (long long)a;
        else
            invalid(job, "rate_wait_ms must be a whole number%s", "");
    }

    bool sealed = val[F_TOKEN_SEALED] != NULL, plain = val[F_TOKEN] != NULL;
    if (job->type_valid && job->type == SLATE_JOB_CONNECT) {
        if (sealed && plain)
            invalid(job, "a connect carries token or token_sealed, not both%s", "");
        else if (!sealed && !plain && !job->has_token_field)
            invalid(job, "a connect needs token or token_sealed%s", "");
    } else if (job->type_valid && job->has_token_field) {
        invalid(job, "only a connect may carry a token%s", "");
    }
    if (!job->invalid && sealed)
        job->token_sealed = slate_strndup(val[F_TOKEN_SEALED], vlen[F_TOKEN_SEALED]);
    if (!job->invalid && plain) {
        job->token = slate_strndup(val[F_TOKEN], vlen[F_TOKEN]);
        job->token_len = vlen[F_TOKEN];
    }
}

void slate_job_clear(struct slate_job *job)
{
    if (job->token) {
        explicit_bzero(job->token, job->token_len);
        slate_free(job->token);
        job->token = NULL;
    }
    slate_free(job->token_sealed);
    job->token_sealed = NULL;
}

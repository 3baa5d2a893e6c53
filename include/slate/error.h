/*
 * error.h: the one error vocabulary of slate-worker.
 *
 * Every failure a job can end with is one of these codes; the second column is
 * the `error_code` written into results (PROTOCOL.md), the third says whether
 * an attempt that ends with it is worth another attempt.  Library codes
 * (CURLcode, HTTP status, hiredis err, yajl status) are translated into these
 * in exactly one place each, inside the module that uses the library.
 *
 * A `struct slate_err` carries the code and one sentence for a person (like
 * curl's failf()); it never holds a secret.
 */
#ifndef SLATE_ERROR_H
#define SLATE_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/*      name                 error_code             transient  default sentence */
#define SLATE_ERROR_MAP(X)                                                           \
    X(OK,                  "ok",                  false, "success")                  \
    X(INVALID_TOKEN,       "invalid_token",       false, "Invalid API token")        \
    X(FORBIDDEN,           "forbidden",           false, "The API token is not allowed to read this project") \
    X(RATE_LIMITED,        "rate_limited",        true,  "The project's Hetzner API rate limit is exhausted") \
    X(HETZNER_UNAVAILABLE, "hetzner_unavailable", true,  "The Hetzner Cloud API is unavailable") \
    X(TIMEOUT,             "timeout",             true,  "The Hetzner Cloud API did not answer in time") \
    X(BAD_RESPONSE,        "bad_response",        false, "The Hetzner Cloud API sent a response that does not match its schema") \
    X(INVALID_JOB,         "invalid_job",         false, "The job is malformed")     \
    X(NOT_CONNECTED,       "not_connected",       false, "The integration is not connected") \
    X(INTERNAL,            "internal",            true,  "Internal error")

enum slate_code {
#define SLATE_X_ENUM(name, code, transient, msg) SLATE_E_##name,
    SLATE_ERROR_MAP(SLATE_X_ENUM)
#undef SLATE_X_ENUM
    SLATE_E__COUNT
};

#define SLATE_ERR_MSG_MAX 256

struct slate_err {
    enum slate_code code;
    char msg[SLATE_ERR_MSG_MAX];
};

/* The `error_code` string of a code ("invalid_token"). */
const char *slate_code_name(enum slate_code code);
/* The default sentence of a code. */
const char *slate_code_message(enum slate_code code);
/* Whether an attempt that failed with this code may succeed if tried again. */
bool slate_code_transient(enum slate_code code);

/* Sets err (if not NULL) to code with a printf-formatted sentence; a NULL fmt
 * takes the code's default sentence.  Returns -1 so that callers can write
 * `return slate_err_set(err, ...);`. */
int slate_err_set(struct slate_err *err, enum slate_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void slate_err_clear(struct slate_err *err);

#endif

/* error.c: the error table of error.h, and slate_err_set (curl's failf()). */
#include <stdarg.h>
#include <stdio.h>

#include "slate/error.h"

static const struct {
    const char *name;
    bool transient;
    const char *msg;
} table[] = {
#define SLATE_X_ROW(name, code, transient, msg) {code, transient, msg},
    SLATE_ERROR_MAP(SLATE_X_ROW)
#undef SLATE_X_ROW
};

const char *slate_code_name(enum slate_code code)
{
    return (unsigned)code < SLATE_E__COUNT ? table[code].name : "internal";
}

const char *slate_code_message(enum slate_code code)
{
    return (unsigned)code < SLATE_E__COUNT ? table[code].msg : "Internal error";
}

bool slate_code_transient(enum slate_code code)
{
    return (unsigned)code < SLATE_E__COUNT && table[code].transient;
}

int slate_err_set(struct slate_err *err, enum slate_code code, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    if (!fmt) {
        snprintf(err->msg, sizeof err->msg, "%s", slate_code_message(code));
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void slate_err_clear(struct slate_err *err)
{
    if (err) {
        err->code = SLATE_E_OK;
        err->msg[0] = '\0';
    }
}

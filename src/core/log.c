/*
 * log.c: JSON lines on stderr (see log.h).  One write(2) per line so that
 * lines of concurrent processes sharing a pipe do not interleave.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "slate/log.h"
#include "slate/util.h"

static enum slate_log_level min_level = SLATE_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void slate_log_set_level(enum slate_log_level level)
{
    min_level = level;
}

int slate_log_parse_level(const char *s, enum slate_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum slate_log_level)i;
            return 0;
        }
    }
    return -1;
}

void slate_log(enum slate_log_level level, const char *msg, ...)
{
    if (level < min_level)
        return;
    int64_t now = slate_now_ms();
    char ts[SLATE_TIME_MAX];
    slate_format_time(now, ts);
    struct slate_buf b;
    slate_buf_init(&b);
    /* Milliseconds in log timestamps: "...T19:40:00.123Z". */
    size_t tl = strlen(ts);
    slate_buf_puts(&b, "{\"ts\":\"");
    slate_buf_append(&b, ts, tl - 1);
    slate_buf_printf(&b, ".%03dZ\",\"level\":\"%s\",\"msg\":", (int)(now % 1000), names[level]);
    slate_buf_json_str(&b, msg, strlen(msg));
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        slate_buf_puts(&b, ",");
        slate_buf_json_str(&b, k, strlen(k));
        slate_buf_puts(&b, ":");
        if (v)
            slate_buf_json_str(&b, v, strlen(v));
        else
            slate_buf_puts(&b, "null");
    }
    va_end(ap);
    slate_buf_puts(&b, "}\n");
    (void)!write(2, b.data, b.len);
    slate_buf_free(&b);
}

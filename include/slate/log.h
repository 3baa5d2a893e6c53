/*
 * log.h: JSON lines on stderr, one object per event:
 *   {"ts":"2026-12-04T19:40:00.123Z","level":"info","msg":"job finished","job_id":"..."}
 *
 * Fields are passed as key/value string pairs ending with NULL, so a value can
 * never be taken as a format string; values are JSON-escaped.  No caller passes
 * a secret: tokens and the Authorization header never reach this module.
 */
#ifndef SLATE_LOG_H
#define SLATE_LOG_H

enum slate_log_level { SLATE_LOG_DEBUG, SLATE_LOG_INFO, SLATE_LOG_WARN, SLATE_LOG_ERROR };

void slate_log_set_level(enum slate_log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int slate_log_parse_level(const char *s, enum slate_log_level *out);
void slate_log(enum slate_log_level level, const char *msg, ...)
    __attribute__((sentinel));

#define slate_debug(...) slate_log(SLATE_LOG_DEBUG, __VA_ARGS__, (char *)NULL)
#define slate_info(...)  slate_log(SLATE_LOG_INFO, __VA_ARGS__, (char *)NULL)
#define slate_warn(...)  slate_log(SLATE_LOG_WARN, __VA_ARGS__, (char *)NULL)
#define slate_error(...) slate_log(SLATE_LOG_ERROR, __VA_ARGS__, (char *)NULL)

#endif

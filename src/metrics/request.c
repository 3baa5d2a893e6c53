/*
 * request.c: just enough of an HTTP/1.x request-head parser for the metrics
 * endpoint (see metrics_int.h for the contract).
 *
 * The whole head is parsed again each time bytes arrive: it is at most 8 KiB
 * and a scrape sends one short packet, so an incremental state machine would
 * buy nothing.  Every complete line is checked as soon as it is there, so
 * junk (a TLS hello, a binary probe) is refused at once instead of after the
 * read timeout.  Header values are not interpreted: we answer and close, so
 * Connection, Content-Length and friends change nothing.
 *
 * Rejected: absolute-form and asterisk-form targets (no proxy talks to us),
 * HTTP/0.9, leading empty lines.
 */
#include <stdbool.h>
#include <string.h>

#include "metrics_int.h"

/* Longest method we accept; the longest registered one is 7 bytes. */
#define MAX_METHOD 16

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes that may never appear in a head outside the line ends: controls
 * other than HT, and DEL. */
static bool is_bad_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool parse_request_line(const char *s, size_t n, struct slate_metrics_req *req)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i > MAX_METHOD || i >= n || s[i] != ' ')
        return false;
    req->method = s;
    req->method_len = i;
    size_t t = ++i;
    while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
        i++;
    if (i == t || i >= n || s[i] != ' ' || s[t] != '/')
        return false;
    size_t path_len = 0;
    while (t + path_len < i && s[t + path_len] != '?' && s[t + path_len] != '#')
        path_len++;
    req->path = s + t;
    req->path_len = path_len;
    i++;
    if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || (s[i + 7] != '0' && s[i + 7] != '1'))
        return false;
    req->minor_version = s[i + 7] - '0';
    return true;
}

static bool valid_header(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (is_bad_ctl((unsigned char)s[i]))
            return false;
    return true;
}

int slate_metrics_parse_request(const char *buf, size_t len, struct slate_metrics_req *req)
{
    size_t pos = 0;
    bool first = true;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) {
            /* A partial line: refuse what can never become valid.  A CR is
             * fine only as the last byte (its LF may be on the way). */
            for (size_t i = pos; i < len; i++) {
                unsigned char c = (unsigned char)buf[i];
                if (is_bad_ctl(c) && !(c == '\r' && i + 1 == len))
                    return 400;
            }
            return len >= SLATE_METRICS_MAX_REQUEST ? 431 : 0;
        }
        size_t end = (size_t)(nl - buf);
        size_t n = end - pos;
        if (n > 0 && buf[end - 1] == '\r')
            n--;
        const char *line = buf + pos;
        if (first) {
            if (!parse_request_line(line, n, req))
                return 400;
            first = false;
        } else if (n == 0) {
            return 200;
        } else if (!valid_header(line, n)) {
            return 400; /* also obsolete line folding: no tchar first */
        }
        pos = end + 1;
    }
}

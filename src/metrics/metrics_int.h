/*
 * metrics_int.h: what the files of src/metrics/ share: the number format of
 * the exposition (registry.c) and the HTTP request-head parser (request.c),
 * both pure functions.  The unit tests (and a fuzz target) include this file
 * by its path; nothing outside src/metrics/ calls it.
 */
#ifndef SLATE_METRICS_INT_H
#define SLATE_METRICS_INT_H

#include <stddef.h>

/* Longest number slate_metrics_format_value writes: "-1.2345678901234567e-308"
 * is 24 bytes; room to spare. */
#define SLATE_METRICS_NUM_MAX 32

/* Formats v as the exposition format wants it, without depending on the
 * locale: "NaN", "+Inf", "-Inf"; an integer of magnitude up to 2^53 without
 * a fraction or exponent ("3", "-0" becomes "0"); anything else in the
 * shortest %.{15,16,17}g form that reads back to exactly v.  Returns the
 * length written (buf is NUL-terminated). */
size_t slate_metrics_format_value(double v, char buf[SLATE_METRICS_NUM_MAX]);

/* A request head is capped here: the three paths we serve need a few dozen
 * bytes, and a client that sends more is broken or hostile. */
#define SLATE_METRICS_MAX_REQUEST 8192

/* What the parser found in a complete, well-formed request head.  Pointers
 * point into the parsed buffer. */
struct slate_metrics_req {
    const char *method;
    size_t method_len;
    const char *path; /* the request target without "?query" or "#fragment" */
    size_t path_len;
    int minor_version; /* HTTP/1.0 or HTTP/1.1 */
};

/*
 * Parses the request head in buf[0..len), as much as has arrived:
 *   0    the head is not complete yet (every complete line is well-formed);
 *   200  a well-formed head ending with an empty line (`req` filled);
 *   400  junk: a bad request line (method token, SP, origin-form target of
 *        visible ASCII, SP, "HTTP/1.0" or "HTTP/1.1"), a bad header line
 *        ("name: value", obsolete folding refused), or a control byte;
 *   431  len reached SLATE_METRICS_MAX_REQUEST without the head's end.
 * Lines end with CRLF or a bare LF.  Bytes after the head are ignored.
 */
int slate_metrics_parse_request(const char *buf, size_t len, struct slate_metrics_req *req);

#endif

/*
 * http.h: a read-only HTTP client for the Hetzner Cloud API, on curl multi
 * driven by the libuv loop.
 *
 * Read-only by construction: the only request this interface can make is a
 * GET of a path under the configured API base URL.  There is no method
 * parameter, no body, no custom request.  Response bodies of 2xx answers are
 * handed to the caller chunk by chunk as they arrive; nothing is buffered
 * whole, except the first bytes of an error body (capped) so that the caller
 * can read its `error.code`.
 *
 * Policy applied to every transfer: https only (http:// only to a loopback
 * host, or anywhere with insecure_http), TLS peer and host verification always
 * on (ca_file for a private CA), no redirects, connect/total/low-speed
 * timeouts, a byte cap on headers and body counted in the callbacks, and a
 * bounded connection pool.  The bearer token is validated (printable ASCII,
 * no spaces) before it can become a header, and is never logged.
 */
#ifndef SLATE_HTTP_H
#define SLATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "slate/error.h"

struct slate_http;
struct slate_http_req;

struct slate_http_opts {
    const char *base_url;        /* "https://api.hetzner.cloud/v1" */
    bool insecure_http;          /* allow http:// to any host */
    const char *ca_file;         /* NULL: system store */
    long connect_timeout_ms;
    long total_timeout_ms;
    long low_speed_time_s;       /* abort when below 1 byte/s this long */
    size_t max_body;             /* body bytes accepted per response */
    long max_host_conns;
    long max_total_conns;
};

/* What a finished transfer reports.  Valid only during on_done. */
struct slate_http_result {
    enum slate_code code;        /* SLATE_E_OK when an HTTP answer arrived whole */
    const char *error;           /* sentence when code != OK */
    long status;                 /* HTTP status, 0 when none */
    int64_t ratelimit_limit;     /* RateLimit-* headers; -1 when absent */
    int64_t ratelimit_remaining;
    int64_t ratelimit_reset;
    const char *correlation_id;  /* X-Correlation-Id, "" when absent */
    const char *error_body;      /* first bytes of a non-2xx body */
    size_t error_body_len;
    uint64_t body_bytes;         /* body bytes received */
    double total_s;              /* transfer time */
};

struct slate_http_cb {
    /* A chunk of a 2xx body; return 0 to go on, -1 to abort the transfer
     * (on_done then reports SLATE_E_BAD_RESPONSE with the sentence set by
     * the caller through its own state).  May be NULL. */
    int (*on_body)(void *ud, const char *buf, size_t n);
    /* Called exactly once per request that slate_http_get accepted: on
     * completion, on error, on cancel and on slate_http_close. */
    void (*on_done)(void *ud, const struct slate_http_result *res);
};

/* Validates the options (the base URL's scheme and host against the policy)
 * and creates the client on `loop`.  Returns 0, or -1 with err set. */
int slate_http_new(uv_loop_t *loop, const struct slate_http_opts *opts,
                   struct slate_http **out, struct slate_err *err);

/* Whether the URL's host is loopback (127.0.0.0/8, ::1, localhost). */
bool slate_http_url_is_loopback(const char *url);

/* Starts GET <base_url><path>, with `Authorization: Bearer <token>` when
 * token is not NULL.  `path` must start with '/' and hold only URL-safe
 * characters.  Returns the request (a handle for slate_http_cancel), or NULL
 * with err set, in which case cb->on_done is never called. */
struct slate_http_req *slate_http_get(struct slate_http *h, const char *path, const char *token,
                                      const struct slate_http_cb *cb, void *ud,
                                      struct slate_err *err);

/* Cancels a request in flight: on_done is called (code INTERNAL, "cancelled")
 * from inside this call, and the handle is invalid afterwards. */
void slate_http_cancel(struct slate_http_req *req);

/* Transfers in flight. */
size_t slate_http_in_flight(const struct slate_http *h);

/* Cancels every request (each on_done called) and closes the client's
 * handles; `closed` is called once everything is released. */
void slate_http_close(struct slate_http *h, void (*closed)(void *data), void *data);

#endif

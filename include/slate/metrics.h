/*
 * metrics.h: a small metrics registry and the worker's own HTTP endpoint
 * (/metrics in the Prometheus text format, /healthz, /readyz), served on the
 * worker's libuv loop.
 *
 * Families are registered once with their label names; a series is found or
 * created by its label values.  Families with unbounded label values (per
 * integration) are bounded by `max_series`: past it, the series with the
 * oldest update is dropped, so memory never grows with the customer count.
 *
 * Not thread-safe: everything runs on the loop's thread.
 */
#ifndef SLATE_METRICS_H
#define SLATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "slate/error.h"
#include "slate/util.h"

struct slate_metrics;
struct slate_metric;

enum slate_metric_type { SLATE_METRIC_COUNTER, SLATE_METRIC_GAUGE, SLATE_METRIC_HISTOGRAM };

struct slate_metrics *slate_metrics_new(void);
/* Frees the registry and every family in it; NULL is fine. */
void slate_metrics_free(struct slate_metrics *m);

/* Registers a family.  label_names: comma-separated ("type,status") or NULL.
 * buckets/n_buckets: histogram upper bounds, ascending (ignored otherwise;
 * copied; a trailing +Inf is implied).  max_series: 0 for no bound.  Names
 * and help are borrowed (string literals).  Returns NULL (and logs) on a bad
 * name, label name or bucket list, or a name that collides with a family
 * already registered; every function below ignores a NULL family.  A family
 * without labels has its one series from the start (it renders 0). */
struct slate_metric *slate_metric_register(struct slate_metrics *m, enum slate_metric_type type,
                                           const char *name, const char *help,
                                           const char *label_names, const double *buckets,
                                           size_t n_buckets, size_t max_series);

/* label_values: one per label name, in order (NULL when the family has no
 * labels; a NULL value is taken as "").  Values are copied and escaped when
 * rendered.  add: counters and gauges; set: gauges, and counters that mirror
 * a total kept elsewhere; observe: histograms.  Ignored: a call that does not
 * fit the type, a negative or NaN value for a counter, a NaN observation.
 * Each update makes its series the most recently updated one (max_series). */
void slate_metric_add(struct slate_metric *f, const char *const *label_values, double v);
void slate_metric_set(struct slate_metric *f, const char *const *label_values, double v);
void slate_metric_observe(struct slate_metric *f, const char *const *label_values, double v);
void slate_metric_remove(struct slate_metric *f, const char *const *label_values);

/* The whole registry in the Prometheus text exposition format 0.0.4,
 * appended to `out`: families by name, series by label values, integers
 * without a fraction ("3"), other numbers in the shortest form that reads
 * back exactly (never locale dependent). */
void slate_metrics_render(const struct slate_metrics *m, struct slate_buf *out);

/* The HTTP endpoint.  `addr` is "HOST:PORT" (an IPv4 literal, or [IPv6]);
 * port 0 picks one (slate_metrics_server_port tells which).  collect (may be
 * NULL) is called before each /metrics render to refresh gauges; ready (may
 * be NULL: always ready) returns whether /readyz answers 200 and fills `why`
 * otherwise.  Both run on the loop, inside the server's read callback.
 * The metrics registry is borrowed and must outlive the server. */
struct slate_metrics_server;
struct slate_metrics_server_opts {
    const char *addr;
    struct slate_metrics *metrics;
    void (*collect)(void *ud);
    bool (*ready)(void *ud, char *why, size_t n);
    void *ud;
    /* How long a client may take to send its request and read the answer;
     * 0: 5000. */
    unsigned read_timeout_ms;
};
/* Binds and listens (no name resolution: the loop never blocks).  On error
 * returns -1 with `err` filled and *out NULL; nothing is left behind, except
 * if libuv refuses the bound socket (not seen in practice): then one handle
 * is still closing, and the loop must run before uv_loop_close(). */
int slate_metrics_server_start(uv_loop_t *loop, const struct slate_metrics_server_opts *opts,
                               struct slate_metrics_server **out, struct slate_err *err);
int slate_metrics_server_port(const struct slate_metrics_server *s);
/* Closes the listener and every connection; `closed` (may be NULL) runs
 * exactly once, from a later loop turn, once all handles are closed and the
 * server is freed.  A NULL server, or a second close, is a no-op. */
void slate_metrics_server_close(struct slate_metrics_server *s, void (*closed)(void *data),
                                void *data);

#endif

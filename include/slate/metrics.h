/*
 * metrics.h: a small metrics registry and the worker's own HTTP endpoint
 * (/metrics in the Prometheus text format, /healthz, /readyz), served on the
 * worker's libuv loop.
 *
 * Families are registered once with their label names; a series is found or
 * created by its label values.  Families with unbounded label values (per
 * integration) are bounded by `max_series`: past it, the series with the
 * oldest update is dropped, so memory never grows with the customer count.
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
void slate_metrics_free(struct slate_metrics *m);

/* Registers a family.  label_names: comma-separated ("type,status") or NULL.
 * buckets/n_buckets: histogram upper bounds, ascending (ignored otherwise).
 * max_series: 0 for no bound.  Names and help are borrowed (string
 * literals). */
struct slate_metric *slate_metric_register(struct slate_metrics *m, enum slate_metric_type type,
                                           const char *name, const char *help,
                                           const char *label_names, const double *buckets,
                                           size_t n_buckets, size_t max_series);

/* label_values: one per label name, in order (NULL when the family has no
 * labels).  Values are escaped when rendered. */
void slate_metric_add(struct slate_metric *f, const char *const *label_values, double v);
void slate_metric_set(struct slate_metric *f, const char *const *label_values, double v);
void slate_metric_observe(struct slate_metric *f, const char *const *label_values, double v);
void slate_metric_remove(struct slate_metric *f, const char *const *label_values);

/* The whole registry in the Prometheus text exposition format 0.0.4. */
void slate_metrics_render(const struct slate_metrics *m, struct slate_buf *out);

/* The HTTP endpoint.  `addr` is "HOST:PORT" (IPv4, or [IPv6]); port 0
 * picks one (slate_metrics_server_port tells which).  collect (may be NULL)
 * is called before each /metrics render to refresh gauges; ready returns
 * whether /readyz answers 200 and fills `why` otherwise. */
struct slate_metrics_server;
struct slate_metrics_server_opts {
    const char *addr;
    struct slate_metrics *metrics;
    void (*collect)(void *ud);
    bool (*ready)(void *ud, char *why, size_t n);
    void *ud;
};
int slate_metrics_server_start(uv_loop_t *loop, const struct slate_metrics_server_opts *opts,
                               struct slate_metrics_server **out, struct slate_err *err);
int slate_metrics_server_port(const struct slate_metrics_server *s);
/* Closes the listener and every connection; `closed` runs once all handles
 * are closed. */
void slate_metrics_server_close(struct slate_metrics_server *s, void (*closed)(void *data),
                                void *data);

#endif

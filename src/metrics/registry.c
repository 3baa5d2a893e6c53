/*
 * registry.c: metric families, their series, and the Prometheus text
 * exposition format 0.0.4 (see metrics.h).
 *
 * Data: the registry keeps its families in an array sorted by name; a family
 * keeps its series in an array sorted by label values (compared value by
 * value with strcmp), so a lookup is a binary search and rendering walks both
 * arrays in order: the output is deterministic without a sort per scrape.
 * The worker has about ten families and a few hundred series, so inserting
 * with memmove costs nothing worth a hash table.
 *
 * Eviction: every update stamps the series with the registry's update
 * counter (not the clock: deterministic in tests, and two updates in one
 * millisecond still order).  Creating a series in a family at max_series
 * first drops the series with the oldest stamp (a linear scan, only when a
 * series is created).
 *
 * Numbers: integers up to 2^53 print without a fraction, everything else in
 * the shortest of %.15g/%.16g/%.17g that reads back exactly (so a bucket
 * bound 0.1 prints as le="0.1", not "0.10000000000000001").  printf and
 * strtod follow LC_NUMERIC, which stays "C" because nothing in the worker
 * calls setlocale().
 *
 * Rejected: atomics and per-thread shards (one thread), summaries (quantiles
 * over a window need state per series; histograms aggregate across workers).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"
#include "slate/alloc.h"
#include "slate/log.h"
#include "slate/metrics.h"

struct series {
    char **values;   /* one per label name */
    uint64_t stamp;  /* registry update counter at the last update */
    double value;    /* counter, gauge */
    uint64_t *counts; /* histogram: n_bounds + 1 counts, not cumulative; the last is +Inf */
    double sum;
    uint64_t count;
};

struct slate_metric {
    struct slate_metrics *reg;
    enum slate_metric_type type;
    const char *name;
    const char *help;
    char **labels;
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    size_t max_series;
    struct series **series;
    size_t n_series, cap_series;
};

struct slate_metrics {
    struct slate_metric **fams;
    size_t n_fams, cap_fams;
    uint64_t updates;
};

/* ---- numbers ------------------------------------------------------------ */

size_t slate_metrics_format_value(double v, char buf[SLATE_METRICS_NUM_MAX])
{
    if (isnan(v))
        return (size_t)snprintf(buf, SLATE_METRICS_NUM_MAX, "NaN");
    if (isinf(v))
        return (size_t)snprintf(buf, SLATE_METRICS_NUM_MAX, v > 0 ? "+Inf" : "-Inf");
    /* 2^53: every integer up to here is exact, and fits a long long. */
    if (fabs(v) <= 9007199254740992.0 && v == (double)(long long)v)
        return (size_t)snprintf(buf, SLATE_METRICS_NUM_MAX, "%lld", (long long)v);
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, SLATE_METRICS_NUM_MAX, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return (size_t)n;
}

static void put_value(struct slate_buf *out, double v)
{
    char num[SLATE_METRICS_NUM_MAX];
    size_t n = slate_metrics_format_value(v, num);
    slate_buf_append(out, num, n);
}

static void put_u64(struct slate_buf *out, uint64_t v)
{
    slate_buf_printf(out, "%llu", (unsigned long long)v);
}

/* ---- names -------------------------------------------------------------- */

static bool valid_name(const char *s, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Whether a family named `a` would print a sample named `b`. */
static bool prints_name(const struct slate_metric *a, const char *b)
{
    if (strcmp(a->name, b) == 0)
        return true;
    if (a->type != SLATE_METRIC_HISTOGRAM)
        return false;
    size_t n = strlen(a->name);
    if (strncmp(a->name, b, n) != 0)
        return false;
    const char *rest = b + n;
    return strcmp(rest, "_bucket") == 0 || strcmp(rest, "_sum") == 0 ||
           strcmp(rest, "_count") == 0;
}

static bool names_collide(const struct slate_metric *a, const struct slate_metric *b)
{
    return prints_name(a, b->name) || prints_name(b, a->name);
}

/* Splits "a,b,c" into names; returns false on an empty, invalid, reserved
 * or repeated name. */
static bool parse_labels(struct slate_metric *f, const char *list)
{
    if (!list || !*list)
        return true;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!valid_name(p, n, false) || (n >= 2 && p[0] == '_' && p[1] == '_'))
            return false;
        if (f->type == SLATE_METRIC_HISTOGRAM && n == 2 && memcmp(p, "le", 2) == 0)
            return false;
        for (size_t i = 0; i < f->n_labels; i++)
            if (strlen(f->labels[i]) == n && memcmp(f->labels[i], p, n) == 0)
                return false;
        f->labels = slate_realloc(f->labels, (f->n_labels + 1) * sizeof *f->labels);
        f->labels[f->n_labels++] = slate_strndup(p, n);
        if (!comma)
            return true;
        p = comma + 1;
    }
}

/* ---- series ------------------------------------------------------------- */

static const char *label_value(const char *const *values, size_t i)
{
    return values && values[i] ? values[i] : "";
}

static int cmp_values(const struct slate_metric *f, const struct series *s,
                      const char *const *values)
{
    for (size_t i = 0; i < f->n_labels; i++) {
        int c = strcmp(s->values[i], label_value(values, i));
        if (c)
            return c;
    }
    return 0;
}

/* Binary search: returns the index of the series or where it would go. */
static size_t find_pos(const struct slate_metric *f, const char *const *values, bool *found)
{
    size_t lo = 0, hi = f->n_series;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_values(f, f->series[mid], values);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void series_free(const struct slate_metric *f, struct series *s)
{
    for (size_t i = 0; i < f->n_labels; i++)
        slate_free(s->values[i]);
    slate_free(s->values);
    slate_free(s->counts);
    slate_free(s);
}

static void remove_at(struct slate_metric *f, size_t i)
{
    series_free(f, f->series[i]);
    memmove(f->series + i, f->series + i + 1, (f->n_series - i - 1) * sizeof *f->series);
    f->n_series--;
}

static void evict_oldest(struct slate_metric *f)
{
    size_t oldest = 0;
    for (size_t i = 1; i < f->n_series; i++)
        if (f->series[i]->stamp < f->series[oldest]->stamp)
            oldest = i;
    remove_at(f, oldest);
}

/* Finds the series of these label values, creating it if `create`. */
static struct series *lookup(struct slate_metric *f, const char *const *values, bool create)
{
    bool found;
    size_t pos = find_pos(f, values, &found);
    if (found || !create)
        return found ? f->series[pos] : NULL;
    if (f->max_series && f->n_series >= f->max_series) {
        evict_oldest(f);
        pos = find_pos(f, values, &found);
    }
    struct series *s = slate_calloc(1, sizeof *s);
    s->values = slate_calloc(f->n_labels ? f->n_labels : 1, sizeof *s->values);
    for (size_t i = 0; i < f->n_labels; i++)
        s->values[i] = slate_strdup(label_value(values, i));
    if (f->type == SLATE_METRIC_HISTOGRAM)
        s->counts = slate_calloc(f->n_bounds + 1, sizeof *s->counts);
    f->series = slate_grow(f->series, &f->cap_series, f->n_series + 1, sizeof *f->series);
    memmove(f->series + pos + 1, f->series + pos, (f->n_series - pos) * sizeof *f->series);
    f->series[pos] = s;
    f->n_series++;
    return s;
}

static struct series *touch(struct slate_metric *f, const char *const *values)
{
    struct series *s = lookup(f, values, true);
    s->stamp = ++f->reg->updates;
    return s;
}

/* ---- families ----------------------------------------------------------- */

static void family_free(struct slate_metric *f)
{
    for (size_t i = 0; i < f->n_series; i++)
        series_free(f, f->series[i]);
    slate_free(f->series);
    for (size_t i = 0; i < f->n_labels; i++)
        slate_free(f->labels[i]);
    slate_free(f->labels);
    slate_free(f->bounds);
    slate_free(f);
}

struct slate_metrics *slate_metrics_new(void)
{
    return slate_calloc(1, sizeof(struct slate_metrics));
}

void slate_metrics_free(struct slate_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_fams; i++)
        family_free(m->fams[i]);
    slate_free(m->fams);
    slate_free(m);
}

static const char *type_name(enum slate_metric_type t)
{
    switch (t) {
    case SLATE_METRIC_COUNTER: return "counter";
    case SLATE_METRIC_GAUGE: return "gauge";
    case SLATE_METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

static struct slate_metric *refuse(struct slate_metric *f, const char *name, const char *why)
{
    slate_error("metrics: family not registered", "name", name ? name : "(null)", "reason", why);
    if (f)
        family_free(f);
    return NULL;
}

struct slate_metric *slate_metric_register(struct slate_metrics *m, enum slate_metric_type type,
                                           const char *name, const char *help,
                                           const char *label_names, const double *buckets,
                                           size_t n_buckets, size_t max_series)
{
    if (!m)
        return refuse(NULL, name, "no registry");
    if (!name || !valid_name(name, strlen(name), true))
        return refuse(NULL, name, "invalid metric name");
    if (type != SLATE_METRIC_COUNTER && type != SLATE_METRIC_GAUGE &&
        type != SLATE_METRIC_HISTOGRAM)
        return refuse(NULL, name, "unknown type");
    struct slate_metric *f = slate_calloc(1, sizeof *f);
    f->reg = m;
    f->type = type;
    f->name = name;
    f->help = help ? help : "";
    f->max_series = max_series;
    if (!parse_labels(f, label_names))
        return refuse(f, name, "invalid, reserved or repeated label name");
    if (type == SLATE_METRIC_HISTOGRAM) {
        if (n_buckets && !buckets)
            return refuse(f, name, "no bucket bounds");
        /* A trailing +Inf is the implied last bucket. */
        if (n_buckets && isinf(buckets[n_buckets - 1]) && buckets[n_buckets - 1] > 0)
            n_buckets--;
        for (size_t i = 0; i < n_buckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
                return refuse(f, name, "bucket bounds must be finite and ascending");
        if (n_buckets) {
            f->bounds = slate_malloc(n_buckets * sizeof *f->bounds);
            memcpy(f->bounds, buckets, n_buckets * sizeof *f->bounds);
        }
        f->n_bounds = n_buckets;
    }
    size_t pos = 0;
    while (pos < m->n_fams && strcmp(m->fams[pos]->name, name) < 0)
        pos++;
    for (size_t i = 0; i < m->n_fams; i++)
        if (names_collide(m->fams[i], f))
            return refuse(f, name, "name collides with a registered family");
    m->fams = slate_grow(m->fams, &m->cap_fams, m->n_fams + 1, sizeof *m->fams);
    memmove(m->fams + pos + 1, m->fams + pos, (m->n_fams - pos) * sizeof *m->fams);
    m->fams[pos] = f;
    m->n_fams++;
    if (f->n_labels == 0)
        lookup(f, NULL, true);
    return f;
}

void slate_metric_add(struct slate_metric *f, const char *const *label_values, double v)
{
    if (!f || f->type == SLATE_METRIC_HISTOGRAM)
        return;
    if (f->type == SLATE_METRIC_COUNTER && !(v >= 0))
        return; /* counters only go up; NaN would poison the total */
    touch(f, label_values)->value += v;
}

void slate_metric_set(struct slate_metric *f, const char *const *label_values, double v)
{
    if (!f || f->type == SLATE_METRIC_HISTOGRAM)
        return;
    if (f->type == SLATE_METRIC_COUNTER && !(v >= 0))
        return;
    touch(f, label_values)->value = v;
}

void slate_metric_observe(struct slate_metric *f, const char *const *label_values, double v)
{
    if (!f || f->type != SLATE_METRIC_HISTOGRAM || isnan(v))
        return;
    struct series *s = touch(f, label_values);
    size_t i = 0;
    while (i < f->n_bounds && !(v <= f->bounds[i]))
        i++;
    s->counts[i]++;
    s->count++;
    s->sum += v;
}

void slate_metric_remove(struct slate_metric *f, const char *const *label_values)
{
    if (!f)
        return;
    bool found;
    size_t pos = find_pos(f, label_values, &found);
    if (found)
        remove_at(f, pos);
}

/* ---- rendering ---------------------------------------------------------- */

/* HELP escapes backslash and newline; label values also the double quote. */
static void put_escaped(struct slate_buf *out, const char *s, bool quote)
{
    size_t start = 0, i = 0;
    for (; s[i]; i++) {
        const char *esc = NULL;
        if (s[i] == '\\')
            esc = "\\\\";
        else if (s[i] == '\n')
            esc = "\\n";
        else if (quote && s[i] == '"')
            esc = "\\\"";
        if (!esc)
            continue;
        slate_buf_append(out, s + start, i - start);
        slate_buf_puts(out, esc);
        start = i + 1;
    }
    slate_buf_append(out, s + start, i - start);
}

/* name{labels[,le="bound"]} value\n; `le` NULL for no le label. */
static void put_sample(struct slate_buf *out, const struct slate_metric *f,
                       const struct series *s, const char *suffix, const char *le)
{
    slate_buf_puts(out, f->name);
    slate_buf_puts(out, suffix);
    if (f->n_labels || le) {
        slate_buf_append(out, "{", 1);
        for (size_t i = 0; i < f->n_labels; i++) {
            if (i)
                slate_buf_append(out, ",", 1);
            slate_buf_puts(out, f->labels[i]);
            slate_buf_append(out, "=\"", 2);
            put_escaped(out, s->values[i], true);
            slate_buf_append(out, "\"", 1);
        }
        if (le) {
            if (f->n_labels)
                slate_buf_append(out, ",", 1);
            slate_buf_puts(out, "le=\"");
            slate_buf_puts(out, le);
            slate_buf_append(out, "\"", 1);
        }
        slate_buf_append(out, "}", 1);
    }
    slate_buf_append(out, " ", 1);
}

static void render_family(const struct slate_metric *f, struct slate_buf *out)
{
    slate_buf_puts(out, "# HELP ");
    slate_buf_puts(out, f->name);
    slate_buf_append(out, " ", 1);
    put_escaped(out, f->help, false);
    slate_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    for (size_t i = 0; i < f->n_series; i++) {
        const struct series *s = f->series[i];
        if (f->type != SLATE_METRIC_HISTOGRAM) {
            put_sample(out, f, s, "", NULL);
            put_value(out, s->value);
            slate_buf_append(out, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b <= f->n_bounds; b++) {
            char le[SLATE_METRICS_NUM_MAX];
            if (b < f->n_bounds)
                slate_metrics_format_value(f->bounds[b], le);
            else
                memcpy(le, "+Inf", 5);
            cum += s->counts[b];
            put_sample(out, f, s, "_bucket", le);
            put_u64(out, cum);
            slate_buf_append(out, "\n", 1);
        }
        put_sample(out, f, s, "_sum", NULL);
        put_value(out, s->sum);
        slate_buf_append(out, "\n", 1);
        put_sample(out, f, s, "_count", NULL);
        put_u64(out, s->count);
        slate_buf_append(out, "\n", 1);
    }
}

void slate_metrics_render(const struct slate_metrics *m, struct slate_buf *out)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_fams; i++)
        render_family(m->fams[i], out);
}

/*
 * Unit tests of src/metrics/: the registry and its exposition byte for byte,
 * the request-head parser, and the HTTP endpoint through real sockets.
 *
 * Server tests run the loop on the main thread and a client with blocking
 * sockets on a second thread; when the client is done it wakes the loop with
 * a uv_async_t, the server is closed, and every test ends with
 * uv_loop_close() == 0 (a leaked handle fails it).
 *
 * `test_metrics serve ADDR` is not a test: it serves a fixed set of metrics
 * until SIGTERM (test/integration/test_metrics_endpoint.py drives it).  It
 * prints "listening on PORT"; SIGUSR1 toggles /readyz.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "slate/alloc.h"
#include "slate/metrics.h"
#include "slate/util.h"
#include "unit.h"
#include "../../src/metrics/metrics_int.h"

static char *render(const struct slate_metrics *m)
{
    struct slate_buf b;
    slate_buf_init(&b);
    slate_metrics_render(m, &b);
    return slate_buf_steal(&b);
}

#define CHECK_RENDER(m, expected)           \
    do {                                    \
        char *got_ = render(m);             \
        CHECK_STR(got_, expected);          \
        slate_free(got_);                   \
    } while (0)

static const char *fmt(double v)
{
    static char buf[SLATE_METRICS_NUM_MAX];
    slate_metrics_format_value(v, buf);
    return buf;
}

/* ---- registry and exposition ---------------------------------------------- */

TEST(render_counter_with_labels)
{
    struct slate_metrics *m = slate_metrics_new();
    struct slate_metric *c = slate_metric_register(m, SLATE_METRIC_COUNTER, "slate_jobs_total",
                                                   "Jobs finished.", "type,status", NULL, 0, 0);
    REQUIRE(c != NULL);
    /* Created out of order: rendered sorted by label values. */
    slate_metric_add(c, (const char *[]){"sync", "ok"}, 2);
    slate_metric_add(c, (const char *[]){"connect", "ok"}, 1);
    slate_metric_add(c, (const char *[]){"sync", "failed"}, 1);
    slate_metric_add(c, (const char *[]){"sync", "ok"}, 1);
    CHECK_RENDER(m, "# HELP slate_jobs_total Jobs finished.\n"
                    "# TYPE slate_jobs_total counter\n"
                    "slate_jobs_total{type=\"connect\",status=\"ok\"} 1\n"
                    "slate_jobs_total{type=\"sync\",status=\"failed\"} 1\n"
                    "slate_jobs_total{type=\"sync\",status=\"ok\"} 3\n");
    slate_metrics_free(m);
}

TEST(render_gauge)
{
    struct slate_metrics *m = slate_metrics_new();
    struct slate_metric *g = slate_metric_register(m, SLATE_METRIC_GAUGE, "slate_jobs_in_flight",
                                                   "Jobs running now.", NULL, NULL, 0, 0);
    REQUIRE(g != NULL);
    /* A family without labels renders its one series from the start. */
    CHECK_RENDER(m, "# HELP slate_jobs_in_flight Jobs running now.\n"
                    "# TYPE slate_jobs_in_flight gauge\n"
                    "slate_jobs_in_flight 0\n");
    slate_metric_set(g, NULL, 5);
    slate_metric_add(g, NULL, -2);
    slate_metric_add(g, NULL, 0.25);
    CHECK_RENDER(m, "# HELP slate_jobs_in_flight Jobs running now.\n"
                    "# TYPE slate_jobs_in_flight gauge\n"
                    "slate_jobs_in_flight 3.25\n");
    slate_metric_set(g, NULL, -1e300);
    CHECK_RENDER(m, "# HELP slate_jobs_in_flight Jobs running now.\n"
                    "# TYPE slate_jobs_in_flight gauge\n"
                    "slate_jobs_in_flight -1e+300\n");
    slate_metrics_free(m);
}

TEST(render_histogram)
{
    struct slate_metrics *m = slate_metrics_new();
    static const double b[] = {0.1, 0.5, 2.5};
    struct slate_metric *h = slate_metric_register(m, SLATE_METRIC_HISTOGRAM,
                                                   "slate_job_duration_seconds",
                                                   "Job duration.", "type", b, 3, 0);
    REQUIRE(h != NULL);
    const char *sync[] = {"sync"};
    slate_metric_observe(h, sync, 0.05);
    slate_metric_observe(h, sync, 0.1);  /* le is inclusive */
    slate_metric_observe(h, sync, 1);
    slate_metric_observe(h, sync, 30);
    slate_metric_observe(h, sync, NAN); /* ignored */
    slate_metric_observe(h, (const char *[]){"evaluate"}, 0.5);
    CHECK_RENDER(m,
                 "# HELP slate_job_duration_seconds Job duration.\n"
                 "# TYPE slate_job_duration_seconds histogram\n"
                 "slate_job_duration_seconds_bucket{type=\"evaluate\",le=\"0.1\"} 0\n"
                 "slate_job_duration_seconds_bucket{type=\"evaluate\",le=\"0.5\"} 1\n"
                 "slate_job_duration_seconds_bucket{type=\"evaluate\",le=\"2.5\"} 1\n"
                 "slate_job_duration_seconds_bucket{type=\"evaluate\",le=\"+Inf\"} 1\n"
                 "slate_job_duration_seconds_sum{type=\"evaluate\"} 0.5\n"
                 "slate_job_duration_seconds_count{type=\"evaluate\"} 1\n"
                 "slate_job_duration_seconds_bucket{type=\"sync\",le=\"0.1\"} 2\n"
                 "slate_job_duration_seconds_bucket{type=\"sync\",le=\"0.5\"} 2\n"
                 "slate_job_duration_seconds_bucket{type=\"sync\",le=\"2.5\"} 3\n"
                 "slate_job_duration_seconds_bucket{type=\"sync\",le=\"+Inf\"} 4\n"
                 "slate_job_duration_seconds_sum{type=\"sync\"} 31.15\n"
                 "slate_job_duration_seconds_count{type=\"sync\"} 4\n");
    slate_metrics_free(m);
}

TEST(render_histogram_without_labels)
{
    struct slate_metrics *m = slate_metrics_new();
    static const double b[] = {1, INFINITY}; /* a trailing +Inf is the implied one */
    struct slate_metric *h = slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "lat", "L.", NULL,
                                                   b, 2, 0);
    REQUIRE(h != NULL);
    CHECK_RENDER(m, "# HELP lat L.\n# TYPE lat histogram\n"
                    "lat_bucket{le=\"1\"} 0\nlat_bucket{le=\"+Inf\"} 0\n"
                    "lat_sum 0\nlat_count 0\n");
    slate_metric_observe(h, NULL, 2);
    CHECK_RENDER(m, "# HELP lat L.\n# TYPE lat histogram\n"
                    "lat_bucket{le=\"1\"} 0\nlat_bucket{le=\"+Inf\"} 1\n"
                    "lat_sum 2\nlat_count 1\n");
    slate_metrics_free(m);
}

TEST(families_sorted_by_name)
{
    struct slate_metrics *m = slate_metrics_new();
    slate_metric_register(m, SLATE_METRIC_GAUGE, "b", "B.", NULL, NULL, 0, 0);
    slate_metric_register(m, SLATE_METRIC_COUNTER, "a", "A.", NULL, NULL, 0, 0);
    struct slate_metric *c = slate_metric_register(m, SLATE_METRIC_COUNTER, "c", "", "x", NULL,
                                                   0, 0);
    CHECK(c != NULL);
    CHECK_RENDER(m, "# HELP a A.\n# TYPE a counter\na 0\n"
                    "# HELP b B.\n# TYPE b gauge\nb 0\n"
                    "# HELP c \n# TYPE c counter\n");
    slate_metrics_free(m);
}

TEST(escaping)
{
    struct slate_metrics *m = slate_metrics_new();
    struct slate_metric *g = slate_metric_register(
        m, SLATE_METRIC_GAUGE, "esc", "Help with \\ backslash,\nnewline and \"quotes\".", "v",
        NULL, 0, 0);
    REQUIRE(g != NULL);
    slate_metric_set(g, (const char *[]){"a\\b\"c\nd"}, 1);
    slate_metric_set(g, (const char *[]){"caf\xc3\xa9 {x=1}"}, 2);
    slate_metric_set(g, (const char *[]){NULL}, 3); /* NULL is "" */
    CHECK_RENDER(m, "# HELP esc Help with \\\\ backslash,\\nnewline and \"quotes\".\n"
                    "# TYPE esc gauge\n"
                    "esc{v=\"\"} 3\n"
                    "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n"
                    "esc{v=\"caf\xc3\xa9 {x=1}\"} 2\n");
    slate_metrics_free(m);
}

TEST(number_format)
{
    CHECK_STR(fmt(0), "0");
    CHECK_STR(fmt(-0.0), "0");
    CHECK_STR(fmt(3), "3");
    CHECK_STR(fmt(-42), "-42");
    CHECK_STR(fmt(1e15), "1000000000000000");
    CHECK_STR(fmt(9007199254740992.0), "9007199254740992");
    CHECK_STR(fmt(18446744073709551616.0), "1.8446744073709552e+19");
    CHECK_STR(fmt(0.1), "0.1");
    CHECK_STR(fmt(0.25), "0.25");
    CHECK_STR(fmt(1.0 / 3), "0.3333333333333333");
    CHECK_STR(fmt(0.1 + 0.2), "0.30000000000000004");
    CHECK_STR(fmt(-2.5e-7), "-2.5e-07");
    CHECK_STR(fmt(5e-324), "4.94065645841247e-324");
    CHECK_STR(fmt(0.1 * 3), "0.30000000000000004");
    CHECK_STR(fmt(1.1), "1.1");
    CHECK_STR(fmt(NAN), "NaN");
    CHECK_STR(fmt(INFINITY), "+Inf");
    CHECK_STR(fmt(-INFINITY), "-Inf");
    /* Every non-integer reads back exactly. */
    double samples[] = {0.1, 1.0 / 3, 2.0 / 3, 1e-300, 123456.789, 6.02214076e23, -1.5};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++)
        CHECK(strtod(fmt(samples[i]), NULL) == samples[i]);
}

TEST(counter_rules)
{
    struct slate_metrics *m = slate_metrics_new();
    struct slate_metric *c = slate_metric_register(m, SLATE_METRIC_COUNTER, "c", "C.", NULL,
                                                   NULL, 0, 0);
    REQUIRE(c != NULL);
    slate_metric_add(c, NULL, 2);
    slate_metric_add(c, NULL, -1);       /* counters never go down */
    slate_metric_add(c, NULL, NAN);      /* and are never poisoned */
    slate_metric_observe(c, NULL, 100);  /* not a histogram: ignored */
    CHECK_RENDER(m, "# HELP c C.\n# TYPE c counter\nc 2\n");
    slate_metric_set(c, NULL, 10); /* mirroring a total kept elsewhere */
    slate_metric_set(c, NULL, -5);
    CHECK_RENDER(m, "# HELP c C.\n# TYPE c counter\nc 10\n");
    /* NULL families are no-ops. */
    slate_metric_add(NULL, NULL, 1);
    slate_metric_set(NULL, NULL, 1);
    slate_metric_observe(NULL, NULL, 1);
    slate_metric_remove(NULL, NULL);
    slate_metrics_free(m);
    slate_metrics_free(NULL);
}

TEST(histogram_ignores_add_and_set)
{
    struct slate_metrics *m = slate_metrics_new();
    static const double b[] = {1};
    struct slate_metric *h = slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "h", "H.", NULL,
                                                   b, 1, 0);
    REQUIRE(h != NULL);
    slate_metric_add(h, NULL, 1);
    slate_metric_set(h, NULL, 1);
    CHECK_RENDER(m, "# HELP h H.\n# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
    slate_metrics_free(m);
}

TEST(register_refuses_bad_families)
{
    struct slate_metrics *m = slate_metrics_new();
    static const double up[] = {1, 2}, down[] = {2, 1}, same[] = {1, 1}, nan[] = {NAN};
    CHECK(slate_metric_register(m, SLATE_METRIC_GAUGE, "ok_name:x", "", "a,b_2", NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "", "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, NULL, "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "1abc", "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "a-b", "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "x1", "", "a,,b", NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "x2", "", "a,", NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "x3", "", "a,a", NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "x4", "", "a:b", NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "x5", "", "__name", NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "x6", "", "a b", NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "x7", "", "le", up, 2, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "x8", "", NULL, down, 2, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "x9", "", NULL, same, 2, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "x10", "", NULL, nan, 1, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "x11", "", NULL, NULL, 2, 0));
    CHECK(!slate_metric_register(m, (enum slate_metric_type)7, "x12", "", NULL, NULL, 0, 0));
    /* "le" is an ordinary label outside histograms. */
    CHECK(slate_metric_register(m, SLATE_METRIC_GAUGE, "g_le", "", "le", NULL, 0, 0));
    /* Names that would print the same sample name. */
    CHECK(slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "lat", "", NULL, up, 2, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_COUNTER, "lat", "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "lat_count", "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "lat_bucket", "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_GAUGE, "ok_name:x", "", NULL, NULL, 0, 0));
    CHECK(slate_metric_register(m, SLATE_METRIC_GAUGE, "lat_counts", "", NULL, NULL, 0, 0));
    CHECK(slate_metric_register(m, SLATE_METRIC_GAUGE, "q_sum", "", NULL, NULL, 0, 0));
    CHECK(!slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "q", "", NULL, up, 2, 0));
    char *out = render(m);
    CHECK(strstr(out, "x1") == NULL);
    CHECK(strstr(out, "# TYPE lat histogram\n") != NULL);
    slate_free(out);
    slate_metrics_free(m);
}

TEST(eviction_drops_least_recently_updated)
{
    struct slate_metrics *m = slate_metrics_new();
    struct slate_metric *g = slate_metric_register(m, SLATE_METRIC_GAUGE, "per_integration",
                                                   "P.", "integration", NULL, 0, 3);
    REQUIRE(g != NULL);
    slate_metric_set(g, (const char *[]){"a"}, 1);
    slate_metric_set(g, (const char *[]){"b"}, 2);
    slate_metric_set(g, (const char *[]){"c"}, 3);
    slate_metric_set(g, (const char *[]){"a"}, 10); /* a is now the newest; b the oldest */
    slate_metric_set(g, (const char *[]){"d"}, 4);  /* evicts b */
    CHECK_RENDER(m, "# HELP per_integration P.\n# TYPE per_integration gauge\n"
                    "per_integration{integration=\"a\"} 10\n"
                    "per_integration{integration=\"c\"} 3\n"
                    "per_integration{integration=\"d\"} 4\n");
    slate_metric_add(g, (const char *[]){"c"}, 1);
    slate_metric_set(g, (const char *[]){"0"}, 0); /* evicts a (d is newer) */
    CHECK_RENDER(m, "# HELP per_integration P.\n# TYPE per_integration gauge\n"
                    "per_integration{integration=\"0\"} 0\n"
                    "per_integration{integration=\"c\"} 4\n"
                    "per_integration{integration=\"d\"} 4\n");
    /* The bound holds under churn. */
    for (int i = 0; i < 1000; i++) {
        char id[16];
        snprintf(id, sizeof id, "i%04d", i);
        slate_metric_add(g, (const char *[]){id}, 1);
    }
    CHECK_RENDER(m, "# HELP per_integration P.\n# TYPE per_integration gauge\n"
                    "per_integration{integration=\"i0997\"} 1\n"
                    "per_integration{integration=\"i0998\"} 1\n"
                    "per_integration{integration=\"i0999\"} 1\n");
    slate_metrics_free(m);
}

TEST(eviction_of_histogram_series)
{
    struct slate_metrics *m = slate_metrics_new();
    static const double b[] = {1};
    struct slate_metric *h = slate_metric_register(m, SLATE_METRIC_HISTOGRAM, "h", "H.", "k", b,
                                                   1, 1);
    REQUIRE(h != NULL);
    slate_metric_observe(h, (const char *[]){"x"}, 0.5);
    slate_metric_observe(h, (const char *[]){"y"}, 5);
    CHECK_RENDER(m, "# HELP h H.\n# TYPE h histogram\n"
                    "h_bucket{k=\"y\",le=\"1\"} 0\nh_bucket{k=\"y\",le=\"+Inf\"} 1\n"
                    "h_sum{k=\"y\"} 5\nh_count{k=\"y\"} 1\n");
    slate_metrics_free(m);
}

TEST(remove_series)
{
    struct slate_metrics *m = slate_metrics_new();
    struct slate_metric *c = slate_metric_register(m, SLATE_METRIC_COUNTER, "c", "C.", "a,b",
                                                   NULL, 0, 0);
    REQUIRE(c != NULL);
    slate_metric_add(c, (const char *[]){"1", "x"}, 1);
    slate_metric_add(c, (const char *[]){"1", "y"}, 1);
    slate_metric_add(c, (const char *[]){"2", "x"}, 1);
    slate_metric_remove(c, (const char *[]){"1", "y"});
    slate_metric_remove(c, (const char *[]){"3", "z"}); /* absent: nothing */
    CHECK_RENDER(m, "# HELP c C.\n# TYPE c counter\n"
                    "c{a=\"1\",b=\"x\"} 1\nc{a=\"2\",b=\"x\"} 1\n");
    /* A removed series starts again from zero. */
    slate_metric_add(c, (const char *[]){"1", "y"}, 5);
    CHECK_RENDER(m, "# HELP c C.\n# TYPE c counter\n"
                    "c{a=\"1\",b=\"x\"} 1\nc{a=\"1\",b=\"y\"} 5\nc{a=\"2\",b=\"x\"} 1\n");
    slate_metrics_free(m);
}

TEST(many_series_stay_sorted)
{
    struct slate_metrics *m = slate_metrics_new();
    struct slate_metric *c = slate_metric_register(m, SLATE_METRIC_COUNTER, "c", "C.", "k",
                                                   NULL, 0, 0);
    REQUIRE(c != NULL);
    /* Insert 500 keys in a scrambled order, each several times. */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 500; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%03d", (i * 7919) % 500);
            slate_metric_add(c, (const char *[]){k}, 1);
        }
    char *out = render(m);
    const char *p = strstr(out, "counter\n") + 8;
    for (int i = 0; i < 500; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "c{k=\"k%03d\"} 3\n", i);
        REQUIRE(strncmp(p, line, (size_t)n) == 0);
        p += n;
    }
    CHECK(*p == '\0');
    slate_free(out);
    slate_metrics_free(m);
}

/* ---- request parser ------------------------------------------------------ */

static int parse(const char *s, struct slate_metrics_req *r)
{
    return slate_metrics_parse_request(s, strlen(s), r);
}

TEST(request_parser_accepts)
{
    struct slate_metrics_req r;
    CHECK_INT(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(r.method_len == 3 && memcmp(r.method, "GET", 3) == 0);
    CHECK(r.path_len == 8 && memcmp(r.path, "/metrics", 8) == 0);
    CHECK_INT(r.minor_version, 1);
    CHECK_INT(parse("HEAD /healthz?x=1&y HTTP/1.0\n\n", &r), 200);
    CHECK(r.path_len == 8 && memcmp(r.path, "/healthz", 8) == 0);
    CHECK_INT(r.minor_version, 0);
    CHECK_INT(parse("GET /readyz#frag HTTP/1.1\r\n\r\nbody bytes\x01\x02", &r), 200);
    CHECK(r.path_len == 7);
    CHECK_INT(parse("DELETE / HTTP/1.1\r\nA: \t\xff\x80 v\r\nB:\r\n\r\n", &r), 200);
    CHECK(r.method_len == 6);
    /* Not complete yet. */
    CHECK_INT(parse("", &r), 0);
    CHECK_INT(parse("GE", &r), 0);
    CHECK_INT(parse("GET /metrics HTTP/1.1\r", &r), 0);
    CHECK_INT(parse("GET /metrics HTTP/1.1\r\n", &r), 0);
    CHECK_INT(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), 0);
    CHECK_INT(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r", &r), 0);
}

TEST(request_parser_refuses_junk)
{
    struct slate_metrics_req r;
    const char *junk[] = {
        "\r\n",
        "\r\nGET / HTTP/1.1\r\n\r\n",
        "GET\r\n\r\n",
        "GET /\r\n\r\n",                      /* HTTP/0.9 */
        "GET / HTTP/1.1 \r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET /  HTTP/1.1\r\n\r\n",
        " GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.2\r\n\r\n",
        "GET / http/1.1\r\n\r\n",
        "GET / HTTP/1.10\r\n\r\n",
        "GET http://x/metrics HTTP/1.1\r\n\r\n",
        "GET * HTTP/1.1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GETGETGETGETGETGET / HTTP/1.1\r\n\r\n",
        "GET /a\x7f HTTP/1.1\r\n\r\n",
        "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
        "GET / HTTP/1.1\r\nName : v\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",
        "\x16\x03\x01\x02\x00",                 /* a TLS client hello, at once */
        "GET /metr\x00ics",                    /* a NUL before the line is complete */
        "GET /\rmetrics",
    };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        size_t n = strlen(junk[i]);
        if (i == sizeof junk / sizeof *junk - 2)
            n = 14; /* with its NUL */
        int st = slate_metrics_parse_request(junk[i], n, &r);
        if (st != 400)
            fprintf(stderr, "junk #%zu answered %d\n", i, st);
        CHECK_INT(st, 400);
    }
}

TEST(request_parser_caps_the_head)
{
    struct slate_metrics_req r;
    static char buf[SLATE_METRICS_MAX_REQUEST + 1];
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "GET /", 5);
    CHECK_INT(slate_metrics_parse_request(buf, SLATE_METRICS_MAX_REQUEST - 1, &r), 0);
    CHECK_INT(slate_metrics_parse_request(buf, SLATE_METRICS_MAX_REQUEST, &r), 431);
    /* Many short headers count the same. */
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    while (n + 8 < SLATE_METRICS_MAX_REQUEST) {
        memcpy(buf + n, "X-A: b\r\n", 8);
        n += 8;
    }
    CHECK_INT(slate_metrics_parse_request(buf, n, &r), 0);
    memset(buf + n, 'x', SLATE_METRICS_MAX_REQUEST - n);
    CHECK_INT(slate_metrics_parse_request(buf, SLATE_METRICS_MAX_REQUEST, &r), 431);
    /* A head that fills the cap exactly is fine. */
    n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nX: ");
    memset(buf + n, 'v', SLATE_METRICS_MAX_REQUEST - n - 4);
    memcpy(buf + SLATE_METRICS_MAX_REQUEST - 4, "\r\n\r\n", 4);
    CHECK_INT(slate_metrics_parse_request(buf, SLATE_METRICS_MAX_REQUEST, &r), 200);
}

/* ---- the endpoint through real sockets ------------------------------------ */

struct harness;
typedef void client_fn(struct harness *h);

struct harness {
    uv_loop_t loop;
    uv_async_t done;
    struct slate_metrics *m;
    struct slate_metric *requests;
    struct slate_metrics_server *srv;
    int family;
    int port;
    client_fn *client;
    int collects;
    atomic_bool not_ready; /* set by the client thread, read by the loop */
    int closed_calls;
    int held[80]; /* sockets a client leaves open for the main thread */
    int n_held;
};

static void on_closed(void *data)
{
    struct harness *h = data;
    h->closed_calls++;
}

static void on_client_done(uv_async_t *a)
{
    struct harness *h = a->data;
    uv_close((uv_handle_t *)a, NULL);
    slate_metrics_server_close(h->srv, on_closed, h);
}

static void *client_thread(void *arg)
{
    struct harness *h = arg;
    h->client(h);
    uv_async_send(&h->done);
    return NULL;
}

static void collect(void *ud)
{
    struct harness *h = ud;
    h->collects++;
    slate_metric_set(h->requests, NULL, h->collects);
}

static bool ready(void *ud, char *why, size_t n)
{
    struct harness *h = ud;
    if (h->not_ready)
        snprintf(why, n, "redis is not connected");
    return !h->not_ready;
}

static void harness_init(struct harness *h)
{
    memset(h, 0, sizeof *h);
    signal(SIGPIPE, SIG_IGN);
    REQUIRE(uv_loop_init(&h->loop) == 0);
    h->m = slate_metrics_new();
    h->requests = slate_metric_register(h->m, SLATE_METRIC_GAUGE, "scrapes", "Scrapes seen.",
                                        NULL, NULL, 0, 0);
}

/* Starts a server on `addr`, runs `client` on a thread against it, closes
 * the server when the client is done, and checks that everything closed. */
static void run_with(struct harness *h, const char *addr, unsigned timeout_ms, client_fn *client)
{
    struct slate_metrics_server_opts o = {.addr = addr, .metrics = h->m, .collect = collect,
                                          .ready = ready, .ud = h,
                                          .read_timeout_ms = timeout_ms};
    struct slate_err err = {0};
    int rc = slate_metrics_server_start(&h->loop, &o, &h->srv, &err);
    if (rc != 0)
        fprintf(stderr, "start: %s\n", err.msg);
    REQUIRE(rc == 0);
    h->port = slate_metrics_server_port(h->srv);
    CHECK(h->port > 0);
    h->family = addr[0] == '[' ? AF_INET6 : AF_INET;
    h->client = client;
    uv_async_init(&h->loop, &h->done, on_client_done);
    h->done.data = h;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, client_thread, h) == 0);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    CHECK_INT(h->closed_calls, 1);
    CHECK_INT(uv_loop_close(&h->loop), 0);
    slate_metrics_free(h->m);
}

static int connect_to(struct harness *h)
{
    int fd = socket(h->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc;
    if (h->family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)h->port),
                                 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads until EOF; NULL on an error or a timeout (never EOF). */
static char *read_all(int fd)
{
    struct slate_buf b;
    slate_buf_init(&b);
    char tmp[4096];
    for (;;) {
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            slate_buf_free(&b);
            return NULL;
        }
        if (r == 0)
            break;
        slate_buf_append(&b, tmp, (size_t)r);
    }
    return slate_buf_steal(&b);
}

/* One raw exchange: the whole answer, or NULL. */
static char *exchange(struct harness *h, const char *req, size_t n)
{
    int fd = connect_to(h);
    if (fd < 0)
        return NULL;
    char *resp = NULL;
    if (send_all(fd, req, n))
        resp = read_all(fd);
    close(fd);
    return resp;
}

static char *get(struct harness *h, const char *req)
{
    return exchange(h, req, strlen(req));
}

static int status_of(const char *resp)
{
    int st = -1;
    if (resp && sscanf(resp, "HTTP/1.1 %d ", &st) != 1)
        st = -1;
    return st;
}

static const char *body_of(const char *resp)
{
    const char *p = resp ? strstr(resp, "\r\n\r\n") : NULL;
    return p ? p + 4 : "";
}

static bool has_header(const char *resp, const char *line)
{
    const char *end = resp ? strstr(resp, "\r\n\r\n") : NULL;
    const char *p = resp ? strstr(resp, line) : NULL;
    return p && p < end;
}

static void client_endpoints(struct harness *h)
{
    char *r = get(h, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_INT(status_of(r), 200);
    CHECK(has_header(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    CHECK(has_header(r, "\r\nConnection: close\r\n"));
    CHECK(has_header(r, "\r\nContent-Length: 60\r\n"));
    CHECK_STR(body_of(r), "# HELP scrapes Scrapes seen.\n# TYPE scrapes gauge\nscrapes 1\n");
    slate_free(r);
    /* collect runs before each render. */
    r = get(h, "GET /metrics?x=y HTTP/1.0\r\n\r\n");
    CHECK_STR(body_of(r), "# HELP scrapes Scrapes seen.\n# TYPE scrapes gauge\nscrapes 2\n");
    slate_free(r);
    /* HEAD: the same head, no body. */
    r = get(h, "HEAD /metrics HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 200);
    CHECK(has_header(r, "\r\nContent-Length: 60\r\n"));
    CHECK_STR(body_of(r), "");
    slate_free(r);
    r = get(h, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 200);
    CHECK(has_header(r, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    CHECK_STR(body_of(r), "ok\n");
    slate_free(r);
    r = get(h, "GET /readyz HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 200);
    CHECK_STR(body_of(r), "ready\n");
    slate_free(r);
    h->not_ready = true;
    r = get(h, "GET /readyz HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 503);
    CHECK_STR(body_of(r), "redis is not connected\n");
    slate_free(r);
    /* Bare LF line ends are accepted. */
    r = get(h, "GET /healthz HTTP/1.1\nHost: x\n\n");
    CHECK_INT(status_of(r), 200);
    slate_free(r);
}

TEST(server_endpoints)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "127.0.0.1:0", 0, client_endpoints);
    CHECK_INT(h.collects, 3); /* HEAD renders too, for its Content-Length */
}

static void client_errors(struct harness *h)
{
    char *r = get(h, "GET /nope HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 404);
    CHECK_STR(body_of(r), "not found\n");
    CHECK(has_header(r, "\r\nConnection: close\r\n"));
    slate_free(r);
    r = get(h, "GET /metrics/ HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 404);
    slate_free(r);
    r = get(h, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    CHECK_INT(status_of(r), 405);
    CHECK(has_header(r, "\r\nAllow: GET, HEAD\r\n"));
    slate_free(r);
    r = get(h, "get /metrics HTTP/1.1\r\n\r\n"); /* methods are case-sensitive */
    CHECK_INT(status_of(r), 405);
    slate_free(r);
    r = get(h, "hello\r\n\r\n");
    CHECK_INT(status_of(r), 400);
    CHECK_STR(body_of(r), "bad request\n");
    slate_free(r);
    /* Junk is answered at once, without waiting for the end of the head. */
    r = get(h, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    CHECK_INT(status_of(r), 400);
    slate_free(r);
    /* An oversized head: 431, and the answer survives the bytes we never read. */
    size_t n = 20000;
    char *big = slate_malloc(n + 1);
    memset(big, 'a', n);
    memcpy(big, "GET /", 5);
    memcpy(big + n - 13, " HTTP/1.1\r\n\r\n", 13);
    big[n] = '\0';
    r = exchange(h, big, n);
    CHECK_INT(status_of(r), 431);
    slate_free(r);
    slate_free(big);
    /* A request followed by a lot more: the answer still arrives whole. */
    n = 256 * 1024;
    big = slate_malloc(n);
    memset(big, 'x', n);
    memcpy(big, "GET /healthz HTTP/1.1\r\n\r\n", 25);
    r = exchange(h, big, n);
    CHECK_INT(status_of(r), 200);
    CHECK_STR(body_of(r), "ok\n");
    slate_free(r);
    slate_free(big);
}

TEST(server_errors)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "127.0.0.1:0", 0, client_errors);
    CHECK_INT(h.collects, 0);
}

static void client_slow_request(struct harness *h)
{
    int fd = connect_to(h);
    REQUIRE(fd >= 0);
    const char *parts[] = {"GE", "T /hea", "lthz HTTP/1.1\r", "\nHost: x\r\n", "\r", "\n"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        CHECK(send_all(fd, parts[i], strlen(parts[i])));
        usleep(20 * 1000);
    }
    char *r = read_all(fd);
    CHECK_INT(status_of(r), 200);
    CHECK_STR(body_of(r), "ok\n");
    slate_free(r);
    close(fd);
}

TEST(server_request_in_pieces)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "127.0.0.1:0", 0, client_slow_request);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void client_idle(struct harness *h)
{
    double t0 = now_s();
    int idle = connect_to(h);
    int partial = connect_to(h);
    REQUIRE(idle >= 0 && partial >= 0);
    CHECK(send_all(partial, "GET /metrics HTTP/1.1\r\n", 23));
    /* Both are closed by the server without an answer once the timeout
     * (300 ms here) has passed. */
    char *r1 = read_all(idle);
    char *r2 = read_all(partial);
    double took = now_s() - t0;
    CHECK_STR(r1, "");
    CHECK_STR(r2, "");
    CHECK(took >= 0.25);
    CHECK(took < 5);
    slate_free(r1);
    slate_free(r2);
    close(idle);
    close(partial);
    /* The server still answers. */
    char *r = get(h, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 200);
    slate_free(r);
}

TEST(server_read_timeout)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "127.0.0.1:0", 300, client_idle);
}

static void client_limit(struct harness *h)
{
    int fds[64];
    for (int i = 0; i < 64; i++) {
        fds[i] = connect_to(h);
        REQUIRE(fds[i] >= 0);
    }
    /* The 65th is accepted and closed at once. */
    int extra = connect_to(h);
    REQUIRE(extra >= 0);
    char *r = read_all(extra);
    CHECK_STR(r, "");
    slate_free(r);
    close(extra);
    /* The 64 are all still served. */
    CHECK(send_all(fds[0], "GET /healthz HTTP/1.1\r\n\r\n", 25));
    r = read_all(fds[0]);
    CHECK_INT(status_of(r), 200);
    slate_free(r);
    close(fds[0]);
    /* Once one place is free, a new client is served (the server may need a
     * moment to see that fds[0] is gone). */
    bool served = false;
    for (int tries = 0; tries < 100 && !served; tries++) {
        r = get(h, "GET /healthz HTTP/1.1\r\n\r\n");
        served = status_of(r) == 200;
        slate_free(r);
        if (!served)
            usleep(10 * 1000);
    }
    CHECK(served);
    for (int i = 1; i < 64; i++)
        close(fds[i]);
}

TEST(server_connection_limit)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "127.0.0.1:0", 30000, client_limit);
}

static void client_leaves_connections_open(struct harness *h)
{
    for (int i = 0; i < 5; i++) {
        int fd = connect_to(h);
        REQUIRE(fd >= 0);
        if (i % 2)
            CHECK(send_all(fd, "GET /metr", 9));
        h->held[h->n_held++] = fd;
    }
    /* Make sure the server has accepted them before it is closed. */
    char *r = get(h, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 200);
    slate_free(r);
}

TEST(server_close_with_open_connections)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "127.0.0.1:0", 30000, client_leaves_connections_open);
    /* The server closed every one of them, without an answer. */
    for (int i = 0; i < h.n_held; i++) {
        char *r = read_all(h.held[i]);
        CHECK(r == NULL || r[0] == '\0'); /* EOF, or a reset */
        slate_free(r);
        close(h.held[i]);
    }
}

static void client_one_get(struct harness *h)
{
    char *r = get(h, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_INT(status_of(r), 200);
    CHECK_STR(body_of(r), "ok\n");
    slate_free(r);
}

TEST(server_ipv6)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "[::1]:0", 0, client_one_get);
}

TEST(server_any_address)
{
    struct harness h;
    harness_init(&h);
    run_with(&h, "0.0.0.0:0", 0, client_one_get);
}

TEST(server_bad_addresses)
{
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    const char *bad[] = {
        "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80",
        "127.0.0.1:80x", "localhost:9464", "::1:80", "[::1]", "[::1]80", "[::1]:", "1.2.3:80",
        "[127.0.0.1]:80", "[::1:80", ":9464", "192.0.2.1:0", /* not an address of ours */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct slate_metrics_server_opts o = {.addr = bad[i]};
        struct slate_metrics_server *s = (void *)1;
        struct slate_err err = {0};
        CHECK_INT(slate_metrics_server_start(&loop, &o, &s, &err), -1);
        CHECK(s == NULL);
        CHECK(strncmp(err.msg, "metrics: ", 9) == 0);
    }
    struct slate_metrics_server_opts o = {.addr = NULL};
    struct slate_metrics_server *s;
    struct slate_err err = {0};
    CHECK_INT(slate_metrics_server_start(&loop, &o, &s, &err), -1);
    /* Nothing was left behind: the loop closes without running. */
    CHECK_INT(uv_loop_close(&loop), 0);
}

static void on_closed_count(void *data)
{
    (*(int *)data)++;
}

TEST(server_port_in_use)
{
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    struct slate_metrics_server_opts o = {.addr = "127.0.0.1:0"};
    struct slate_metrics_server *a = NULL, *b = NULL;
    struct slate_err err = {0};
    REQUIRE(slate_metrics_server_start(&loop, &o, &a, &err) == 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", slate_metrics_server_port(a));
    o.addr = addr;
    CHECK_INT(slate_metrics_server_start(&loop, &o, &b, &err), -1);
    CHECK(b == NULL);
    CHECK(strstr(err.msg, "Address already in use") != NULL);
    int closed = 0;
    slate_metrics_server_close(a, on_closed_count, &closed);
    CHECK_INT(closed, 0); /* never from inside close */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(closed, 1);
    CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(server_close_without_callback)
{
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    struct slate_metrics_server_opts o = {.addr = "127.0.0.1:0"};
    struct slate_metrics_server *a = NULL;
    struct slate_err err = {0};
    REQUIRE(slate_metrics_server_start(&loop, &o, &a, &err) == 0);
    slate_metrics_server_close(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
}

/* ---- `test_metrics serve ADDR` -------------------------------------------- */

struct serve {
    uv_loop_t loop;
    uv_signal_t term, usr1;
    struct slate_metrics *m;
    struct slate_metrics_server *srv;
    struct slate_metric *scrapes;
    bool not_ready;
};

static void serve_collect(void *ud)
{
    struct serve *sv = ud;
    slate_metric_add(sv->scrapes, NULL, 1);
}

static bool serve_ready(void *ud, char *why, size_t n)
{
    struct serve *sv = ud;
    if (sv->not_ready)
        snprintf(why, n, "toggled by SIGUSR1");
    return !sv->not_ready;
}

static void serve_closed(void *data)
{
    struct serve *sv = data;
    uv_close((uv_handle_t *)&sv->term, NULL);
    uv_close((uv_handle_t *)&sv->usr1, NULL);
}

static void serve_signal(uv_signal_t *sig, int signum)
{
    struct serve *sv = sig->data;
    if (signum == SIGUSR1) {
        sv->not_ready = !sv->not_ready;
        return;
    }
    uv_signal_stop(sig);
    slate_metrics_server_close(sv->srv, serve_closed, sv);
}

/* The metrics test_metrics_endpoint.py expects. */
static void serve_register(struct serve *sv)
{
    struct slate_metrics *m = sv->m;
    struct slate_metric *c = slate_metric_register(m, SLATE_METRIC_COUNTER, "test_jobs_total",
                                                   "Jobs finished, by type and status.",
                                                   "type,status", NULL, 0, 0);
    slate_metric_add(c, (const char *[]){"sync", "ok"}, 3);
    slate_metric_add(c, (const char *[]){"connect", "failed"}, 1);
    slate_metric_add(c, (const char *[]){"we\"ird\\type\nx", "ok"}, 2);
    struct slate_metric *g = slate_metric_register(m, SLATE_METRIC_GAUGE, "test_temperature",
                                                   "A gauge with a fraction.\nSecond line \\.",
                                                   NULL, NULL, 0, 0);
    slate_metric_set(g, NULL, -3.5);
    sv->scrapes = slate_metric_register(m, SLATE_METRIC_COUNTER, "test_scrapes_total",
                                        "Scrapes served.", NULL, NULL, 0, 0);
    static const double b[] = {0.1, 0.5, 1, 2.5};
    struct slate_metric *h = slate_metric_register(m, SLATE_METRIC_HISTOGRAM,
                                                   "test_duration_seconds", "Durations.", "type",
                                                   b, 4, 0);
    const double obs[] = {0.05, 0.1, 0.3, 0.7, 2, 9};
    for (size_t i = 0; i < sizeof obs / sizeof *obs; i++)
        slate_metric_observe(h, (const char *[]){"sync"}, obs[i]);
    slate_metric_observe(h, (const char *[]){"evaluate"}, 0.2);
    struct slate_metric *lru = slate_metric_register(m, SLATE_METRIC_GAUGE,
                                                     "test_per_integration", "Bounded to 3.",
                                                     "integration", NULL, 0, 3);
    for (int i = 1; i <= 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "int-%d", i);
        slate_metric_set(lru, (const char *[]){id}, i);
    }
    struct slate_metric *big = slate_metric_register(m, SLATE_METRIC_GAUGE, "test_big",
                                                     "Large and special values.", "k", NULL,
                                                     0, 0);
    slate_metric_set(big, (const char *[]){"int53"}, 9007199254740992.0);
    slate_metric_set(big, (const char *[]){"huge"}, 1e300);
    slate_metric_set(big, (const char *[]){"tiny"}, 1e-300);
    slate_metric_set(big, (const char *[]){"third"}, 1.0 / 3);
    slate_metric_set(big, (const char *[]){"nan"}, NAN);
    slate_metric_set(big, (const char *[]){"inf"}, INFINITY);
    slate_metric_set(big, (const char *[]){"ninf"}, -INFINITY);
}

static int serve_main(const char *addr)
{
    signal(SIGPIPE, SIG_IGN);
    struct serve sv = {0};
    uv_loop_init(&sv.loop);
    sv.m = slate_metrics_new();
    serve_register(&sv);
    struct slate_metrics_server_opts o = {.addr = addr, .metrics = sv.m,
                                          .collect = serve_collect, .ready = serve_ready,
                                          .ud = &sv};
    struct slate_err err = {0};
    if (slate_metrics_server_start(&sv.loop, &o, &sv.srv, &err) != 0) {
        fprintf(stderr, "test_metrics serve: %s\n", err.msg);
        uv_run(&sv.loop, UV_RUN_DEFAULT);
        uv_loop_close(&sv.loop);
        slate_metrics_free(sv.m);
        return 1;
    }
    uv_signal_init(&sv.loop, &sv.term);
    uv_signal_init(&sv.loop, &sv.usr1);
    sv.term.data = sv.usr1.data = &sv;
    uv_signal_start(&sv.term, serve_signal, SIGTERM);
    uv_signal_start(&sv.usr1, serve_signal, SIGUSR1);
    printf("listening on %d\n", slate_metrics_server_port(sv.srv));
    fflush(stdout);
    uv_run(&sv.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&sv.loop);
    slate_metrics_free(sv.m);
    if (rc != 0) {
        fprintf(stderr, "test_metrics serve: uv_loop_close: %s\n", uv_strerror(rc));
        return 3;
    }
    return 0;
}

/* UNIT_MAIN's main becomes unit_main, so that `serve` can come first. */
int unit_main(int argc, char **argv);
#define main unit_main
UNIT_MAIN()
#undef main

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve_main(argv[2]);
    return unit_main(argc, argv);
}

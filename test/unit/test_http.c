/* Unit tests of the HTTP client's policy (no server needed: every refusal
 * happens before a byte is sent). */
#include <string.h>
#include <uv.h>

#include "slate/http.h"
#include "unit.h"

static struct slate_http *make(uv_loop_t *loop, const char *url, bool insecure, struct slate_err *err)
{
    struct slate_http_opts o = {.base_url = url, .insecure_http = insecure,
                                .connect_timeout_ms = 1000, .total_timeout_ms = 1000,
                                .low_speed_time_s = 1, .max_body = 1 << 20,
                                .max_host_conns = 4, .max_total_conns = 8};
    struct slate_http *h = NULL;
    if (slate_http_new(loop, &o, &h, err) != 0)
        return NULL;
    return h;
}

static void close_and_run(uv_loop_t *loop, struct slate_http *h)
{
    slate_http_close(h, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(loop) == 0);
}

TEST(loopback_detection)
{
    CHECK(slate_http_url_is_loopback("http://127.0.0.1:8080/v1"));
    CHECK(slate_http_url_is_loopback("http://127.1.2.3/v1"));
    CHECK(slate_http_url_is_loopback("http://localhost:1/v1"));
    CHECK(slate_http_url_is_loopback("http://[::1]:8/v1"));
    CHECK(!slate_http_url_is_loopback("http://10.0.0.1/v1"));
    CHECK(!slate_http_url_is_loopback("http://128.0.0.1/v1"));
    CHECK(!slate_http_url_is_loopback("http://localhost.evil.example/v1"));
    CHECK(!slate_http_url_is_loopback("http://api.hetzner.cloud/v1"));
}

TEST(plain_http_refused_off_loopback)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct slate_err err = {0};
    CHECK(make(&loop, "http://api.hetzner.cloud/v1", false, &err) == NULL);
    CHECK(strstr(err.msg, "SLATE_HETZNER_URL") != NULL);
    CHECK(make(&loop, "ftp://127.0.0.1/v1", false, &err) == NULL);
    CHECK(make(&loop, "file:///etc/passwd", false, &err) == NULL);
    struct slate_http *h = make(&loop, "http://api.hetzner.cloud/v1", true, &err);
    CHECK(h != NULL);
    if (h)
        close_and_run(&loop, h);
    else
        uv_loop_close(&loop);
}

static int done_calls;
static void on_done(void *ud, const struct slate_http_result *res)
{
    (void)ud;
    (void)res;
    done_calls++;
}

TEST(token_with_crlf_never_becomes_a_header)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct slate_err err = {0};
    struct slate_http *h = make(&loop, "https://api.hetzner.cloud/v1", false, &err);
    REQUIRE(h != NULL);
    struct slate_http_cb cb = {NULL, on_done};
    done_calls = 0;
    CHECK(slate_http_get(h, "/servers", "abc\r\nX-Evil: 1", &cb, NULL, &err) == NULL);
    CHECK(err.code == SLATE_E_INVALID_TOKEN);
    CHECK(slate_http_get(h, "/servers", "has space", &cb, NULL, &err) == NULL);
    CHECK(slate_http_get(h, "/servers", "", &cb, NULL, &err) == NULL);
    CHECK(slate_http_get(h, "/servers", "caf\xc3\xa9", &cb, NULL, &err) == NULL);
    /* Paths outside the URL-safe set are refused too. */
    CHECK(slate_http_get(h, "/servers\r\nHost: x", NULL, &cb, NULL, &err) == NULL);
    CHECK(slate_http_get(h, "servers", NULL, &cb, NULL, &err) == NULL);
    CHECK_INT(done_calls, 0);
    CHECK_INT(slate_http_in_flight(h), 0);
    close_and_run(&loop, h);
}

TEST(cancel_calls_done_once)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct slate_err err = {0};
    /* Port 9 (discard) on loopback: nothing answers in this test's time. */
    struct slate_http *h = make(&loop, "http://127.0.0.1:9/v1", false, &err);
    REQUIRE(h != NULL);
    struct slate_http_cb cb = {NULL, on_done};
    done_calls = 0;
    struct slate_http_req *r = slate_http_get(h, "/servers?page=1", "tok", &cb, NULL, &err);
    REQUIRE(r != NULL);
    CHECK_INT(slate_http_in_flight(h), 1);
    slate_http_cancel(r);
    CHECK_INT(done_calls, 1);
    CHECK_INT(slate_http_in_flight(h), 0);
    /* close with one in flight: done is called for it as well */
    r = slate_http_get(h, "/servers?page=2", "tok", &cb, NULL, &err);
    REQUIRE(r != NULL);
    close_and_run(&loop, h);
    CHECK_INT(done_calls, 2);
}

UNIT_MAIN()

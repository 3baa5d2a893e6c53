/* Unit tests of src/core: time, identifiers, UTF-8, numbers, buffers, arena,
 * the error table, configuration. */
#include <stdlib.h>
#include <string.h>

#include "slate/alloc.h"
#include "slate/config.h"
#include "slate/error.h"
#include "slate/model.h"
#include "slate/util.h"
#include "unit.h"

TEST(time_format_and_parse)
{
    char buf[SLATE_TIME_MAX];
    slate_format_time(1796416800123LL, buf);
    CHECK_STR(buf, "2026-12-04T20:40:00Z");
    int64_t ms;
    CHECK(slate_parse_time("2026-12-04T20:40:00Z", &ms) == 0);
    CHECK_INT(ms, 1796416800000LL);
    CHECK(slate_parse_time("2026-12-04T21:40:00+01:00", &ms) == 0);
    CHECK_INT(ms, 1796416800000LL);
    CHECK(slate_parse_time("2026-12-04T20:40:00.5Z", &ms) == 0);
    CHECK_INT(ms, 1796416800500LL);
    CHECK(slate_parse_time("2016-01-30T23:50:00+00:00", &ms) == 0);
    CHECK(slate_parse_time("2026-12-04 20:40:00Z", &ms) != 0);
    CHECK(slate_parse_time("2026-13-04T20:40:00Z", &ms) != 0);
    CHECK(slate_parse_time("2026-12-04T20:40:00", &ms) != 0);
    CHECK(slate_parse_time("", &ms) != 0);
}

TEST(identifiers)
{
    CHECK(slate_valid_id("hz-prod_1.x", 11));
    CHECK(!slate_valid_id("", 0));
    CHECK(!slate_valid_id("a{b}", 4));
    CHECK(!slate_valid_id("a/b", 3));
    CHECK(!slate_valid_id("a b", 3));
    CHECK(!slate_valid_id("a:b", 3));
    char long_id[66];
    memset(long_id, 'a', 65);
    CHECK(slate_valid_id(long_id, 64));
    CHECK(!slate_valid_id(long_id, 65));
    CHECK(slate_valid_job_id("sched:acme:hz:1796416800000", 27));
    CHECK(!slate_valid_job_id("a b", 3));
    CHECK(slate_valid_prefix("slate"));
    CHECK(!slate_valid_prefix("bad prefix"));
    CHECK(!slate_valid_prefix("123456789012345678901234567890123"));
}

TEST(utf8)
{
    CHECK(slate_valid_utf8("plain", 5));
    CHECK(slate_valid_utf8("\xc3\xa9t\xc3\xa9", 6));
    CHECK(slate_valid_utf8("\xf0\x9f\x98\x80", 4));
    CHECK(!slate_valid_utf8("\xff", 1));
    CHECK(!slate_valid_utf8("\xc0\xaf", 2));          /* overlong */
    CHECK(!slate_valid_utf8("\xed\xa0\x80", 3));      /* surrogate */
    CHECK(!slate_valid_utf8("\xe2\x82", 2));          /* truncated */
}

TEST(numbers)
{
    uint64_t u;
    int64_t i;
    CHECK(slate_parse_u64("42", &u) && u == 42);
    CHECK(!slate_parse_u64("-1", &u));
    CHECK(!slate_parse_u64("4x", &u));
    CHECK(!slate_parse_u64("", &u));
    CHECK(!slate_parse_u64("99999999999999999999999", &u));
    CHECK(slate_parse_i64("-5", &i) && i == -5);
    CHECK(!slate_parse_i64(" 5", &i));
}

TEST(buffer_and_json_strings)
{
    struct slate_buf b;
    slate_buf_init(&b);
    slate_buf_json_str(&b, "a\"b\\c\n\x01", 7);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    slate_buf_reset(&b);
    slate_buf_printf(&b, "%d-%s", 7, "x");
    CHECK_STR(b.data, "7-x");
    char *s = slate_buf_steal(&b);
    CHECK_STR(s, "7-x");
    slate_free(s);
    slate_buf_free(&b);
}

TEST(buffer_integers)
{
    struct slate_buf b;
    slate_buf_init(&b);
    slate_buf_int(&b, 0);
    slate_buf_puts(&b, " ");
    slate_buf_int(&b, -42);
    slate_buf_puts(&b, " ");
    slate_buf_int(&b, INT64_MAX);
    slate_buf_puts(&b, " ");
    slate_buf_int(&b, INT64_MIN);
    CHECK_STR(b.data, "0 -42 9223372036854775807 -9223372036854775808");
    slate_buf_free(&b);
}

TEST(asset_ids)
{
    char id[SLATE_ASSET_ID_MAX];
    slate_asset_id(id, "hz-prod", 4711);
    CHECK_STR(id, "hetzner:hz-prod:server:4711");
    slate_asset_id(id, "i", 0);
    CHECK_STR(id, "hetzner:i:server:0");
    slate_asset_id(id, "i", INT64_MAX);
    CHECK_STR(id, "hetzner:i:server:9223372036854775807");
    char longest[65];
    memset(longest, 'a', 64);
    longest[64] = '\0';
    slate_asset_id(id, longest, INT64_MIN);
    CHECK_INT(strlen(id), 8 + 64 + 8 + 20);
}

TEST(arena)
{
    struct slate_arena a;
    slate_arena_init(&a);
    char *big = slate_arena_alloc(&a, 100000);
    memset(big, 1, 100000);
    for (int i = 0; i < 10000; i++) {
        char *s = slate_arena_strdup(&a, "hello");
        CHECK_STR(s, "hello");
    }
    char *t = slate_arena_strndup(&a, "abcdef", 3);
    CHECK_STR(t, "abc");
    slate_arena_free(&a);
}

TEST(error_table)
{
    CHECK_STR(slate_code_name(SLATE_E_INVALID_TOKEN), "invalid_token");
    CHECK_STR(slate_code_message(SLATE_E_INVALID_TOKEN), "Invalid API token");
    CHECK(slate_code_transient(SLATE_E_TIMEOUT));
    CHECK(slate_code_transient(SLATE_E_HETZNER_UNAVAILABLE));
    CHECK(!slate_code_transient(SLATE_E_BAD_RESPONSE));
    CHECK(!slate_code_transient(SLATE_E_INVALID_JOB));
    CHECK(!slate_code_transient(SLATE_E_NOT_CONNECTED));
    struct slate_err e;
    CHECK(slate_err_set(&e, SLATE_E_FORBIDDEN, "x %d", 3) == -1);
    CHECK_STR(e.msg, "x 3");
}

static int load(const char **argv, int argc, struct slate_config *cfg, char *err)
{
    return slate_config_load(cfg, argc, (char **)argv, NULL, stdout, "usage", err, 256);
}

TEST(config_defaults_env_and_flags)
{
    char err[256];
    struct slate_config cfg;
    unsetenv("SLATE_CONCURRENCY");
    setenv("SLATE_PREFIX", "tenant", 1);
    const char *argv[] = {"prog", "--concurrency=12", "--consumer", "c1"};
    REQUIRE(load(argv, 4, &cfg, err) == 0);
    CHECK_INT(cfg.concurrency, 12);
    CHECK_STR(cfg.prefix, "tenant");
    CHECK_STR(cfg.consumer, "c1");
    CHECK_INT(cfg.visibility_timeout_ms, 60000);
    CHECK_INT(cfg.max_attempts, 5);
    CHECK_INT(cfg.results_maxlen, 100000);
    CHECK_STR(cfg.hetzner_url, "https://api.hetzner.cloud/v1");
    slate_config_free(&cfg);
    unsetenv("SLATE_PREFIX");
}

TEST(config_bad_values_name_the_variable)
{
    char err[256];
    struct slate_config cfg;
    const char *argv[] = {"prog"};
    setenv("SLATE_MAX_ATTEMPTS", "five", 1);
    CHECK(load(argv, 1, &cfg, err) == -1);
    CHECK(strstr(err, "SLATE_MAX_ATTEMPTS") != NULL);
    slate_config_free(&cfg);
    unsetenv("SLATE_MAX_ATTEMPTS");
    setenv("SLATE_PREFIX", "a:b", 1);
    CHECK(load(argv, 1, &cfg, err) == -1);
    CHECK(strstr(err, "SLATE_PREFIX") != NULL);
    slate_config_free(&cfg);
    unsetenv("SLATE_PREFIX");
    const char *argv2[] = {"prog", "--concurrency=0"};
    CHECK(load(argv2, 2, &cfg, err) == -1);
    CHECK(strstr(err, "--concurrency") != NULL);
    slate_config_free(&cfg);
    const char *argv3[] = {"prog", "--no-such-flag"};
    CHECK(load(argv3, 2, &cfg, err) == -1);
    slate_config_free(&cfg);
}

UNIT_MAIN()

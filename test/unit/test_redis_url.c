/* Unit tests of Redis URL parsing. */
#include <string.h>

#include "slate/redis.h"
#include "unit.h"

TEST(redis_urls)
{
    struct slate_redis_url u;
    char err[200];
    REQUIRE(slate_redis_url_parse("redis://127.0.0.1:6380/2", &u, err, sizeof err) == 0);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 6380);
    CHECK_INT(u.db, 2);
    CHECK(u.password == NULL);
    slate_redis_url_free(&u);
    REQUIRE(slate_redis_url_parse("redis://:s3cr:et@redis.internal", &u, err, sizeof err) == 0);
    CHECK_STR(u.password, "s3cr:et");
    CHECK_STR(u.host, "redis.internal");
    CHECK_INT(u.port, 6379);
    CHECK_INT(u.db, 0);
    slate_redis_url_free(&u);
    REQUIRE(slate_redis_url_parse("redis://[::1]:7000/0", &u, err, sizeof err) == 0);
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.port, 7000);
    slate_redis_url_free(&u);
    REQUIRE(slate_redis_url_parse("unix:///run/redis.sock?db=3", &u, err, sizeof err) == 0);
    CHECK_STR(u.path, "/run/redis.sock");
    CHECK_INT(u.db, 3);
    slate_redis_url_free(&u);
}

TEST(bad_redis_urls)
{
    struct slate_redis_url u;
    char err[200];
    CHECK(slate_redis_url_parse("http://x", &u, err, sizeof err) != 0);
    CHECK(strstr(err, "SLATE_REDIS_URL") != NULL);
    CHECK(slate_redis_url_parse("redis://h:0", &u, err, sizeof err) != 0);
    CHECK(slate_redis_url_parse("redis://h:99999", &u, err, sizeof err) != 0);
    CHECK(slate_redis_url_parse("redis://h/x", &u, err, sizeof err) != 0);
    CHECK(slate_redis_url_parse("redis://user@h", &u, err, sizeof err) != 0);
    CHECK(slate_redis_url_parse("redis://", &u, err, sizeof err) != 0);
    CHECK(slate_redis_url_parse("unix://relative", &u, err, sizeof err) != 0);
    CHECK(slate_redis_url_parse("redis://[::1", &u, err, sizeof err) != 0);
}

UNIT_MAIN()

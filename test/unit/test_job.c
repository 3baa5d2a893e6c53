/* Unit tests of job entry parsing (src/jobs/job.c). */
#include <string.h>

#include "slate/job.h"
#include "unit.h"

static void parse(struct slate_job *job, const char *const *kv, size_t n)
{
    const char *keys[32], *vals[32];
    size_t kl[32], vl[32];
    for (size_t i = 0; i < n; i++) {
        keys[i] = kv[2 * i];
        vals[i] = kv[2 * i + 1];
        kl[i] = strlen(keys[i]);
        vl[i] = strlen(vals[i]);
    }
    slate_job_parse(job, "1-0", n, keys, kl, vals, vl);
}

TEST(valid_sync)
{
    struct slate_job j;
    const char *kv[] = {"type", "sync", "workspace", "acme", "integration", "hz", "job_id", "j:1"};
    parse(&j, kv, 4);
    CHECK(!j.invalid);
    CHECK(j.type == SLATE_JOB_SYNC);
    CHECK_STR(j.job_id, "j:1");
    CHECK_INT(j.attempt, 1);
    slate_job_clear(&j);
}

TEST(default_job_id_is_entry_id)
{
    struct slate_job j;
    const char *kv[] = {"type", "evaluate", "workspace", "acme", "integration", "hz", "attempt", "3"};
    parse(&j, kv, 4);
    CHECK(!j.invalid);
    CHECK_STR(j.job_id, "1-0");
    CHECK_INT(j.attempt, 3);
    slate_job_clear(&j);
}

TEST(connect_token_rules)
{
    struct slate_job j;
    const char *ok[] = {"type", "connect", "workspace", "a", "integration", "b", "token", "t0k"};
    parse(&j, ok, 4);
    CHECK(!j.invalid);
    CHECK_STR(j.token, "t0k");
    slate_job_clear(&j);
    CHECK(j.token == NULL);
    const char *both[] = {"type", "connect", "workspace", "a", "integration", "b",
                          "token", "t", "token_sealed", "s"};
    parse(&j, both, 5);
    CHECK(j.invalid);
    slate_job_clear(&j);
    const char *none[] = {"type", "connect", "workspace", "a", "integration", "b"};
    parse(&j, none, 3);
    CHECK(j.invalid);
    const char *other[] = {"type", "sync", "workspace", "a", "integration", "b", "token_sealed", "x"};
    parse(&j, other, 4);
    CHECK(j.invalid);
    CHECK(j.has_token_field);
    CHECK(j.token_sealed == NULL);
}

TEST(bad_values_are_not_kept)
{
    struct slate_job j;
    const char *kv[] = {"type", "nope", "workspace", "a{b}", "integration", "ok", "job_id", "bad id"};
    parse(&j, kv, 4);
    CHECK(j.invalid);
    CHECK(!j.type_valid);
    CHECK_STR(j.workspace, "");
    CHECK_STR(j.integration, "ok");
    CHECK_STR(j.job_id, "1-0");
}

TEST(duplicate_and_unknown_fields)
{
    struct slate_job j;
    const char *dup[] = {"type", "sync", "type", "sync", "workspace", "a", "integration", "b"};
    parse(&j, dup, 4);
    CHECK(j.invalid);
    CHECK(strstr(j.reason, "twice") != NULL);
    const char *unk[] = {"type", "sync", "workspace", "a", "integration", "b", "x", "1"};
    parse(&j, unk, 4);
    CHECK(j.invalid);
    CHECK(strstr(j.reason, "unknown field 'x'") != NULL);
}

TEST(binary_values)
{
    struct slate_job j;
    const char *keys[] = {"type", "workspace", "integration"};
    const char *vals[] = {"sync", "a\0b", "c"};
    size_t kl[] = {4, 9, 11}, vl[] = {4, 3, 1};
    slate_job_parse(&j, "1-0", 3, keys, kl, vals, vl);
    CHECK(j.invalid);
    CHECK_STR(j.workspace, "");
}

UNIT_MAIN()

/*
 * unit.h: the smallest test runner that does what we need.
 *
 * A test file defines its cases with TEST(name) { ... } at the start of a line
 * (CMake greps for that to register each case as its own ctest test) and ends
 * with UNIT_MAIN().  `binary name` runs one case, `binary` runs them all.
 * CHECK() records a failure and goes on; REQUIRE() returns from the case.
 */
#ifndef SLATE_TEST_UNIT_H
#define SLATE_TEST_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit_case {
    const char *name;
    void (*fn)(void);
};

extern int unit_failures;
#define UNIT_MAX_CASES 256
extern struct unit_case unit_cases[UNIT_MAX_CASES];
extern int unit_ncases;

#define TEST(name)                                                        \
    static void test_##name(void);                                        \
    __attribute__((constructor)) static void register_##name(void)        \
    {                                                                     \
        if (unit_ncases < UNIT_MAX_CASES)                                 \
            unit_cases[unit_ncases++] = (struct unit_case){#name, test_##name}; \
    }                                                                     \
    static void test_##name(void)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                     \
            unit_failures++;                                              \
        }                                                                 \
    } while (0)

#define REQUIRE(cond)                                                     \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                     \
            unit_failures++;                                              \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                   \
    do {                                                                  \
        const char *a_ = (a), *b_ = (b);                                  \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                          \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s\n"         \
                    "    got:      %s\n    expected: %s\n", __FILE__,     \
                    __LINE__, #a, #b, a_ ? a_ : "(null)",                  \
                    b_ ? b_ : "(null)");                                  \
            unit_failures++;                                              \
        }                                                                 \
    } while (0)

#define CHECK_INT(a, b)                                                   \
    do {                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);               \
        if (a_ != b_) {                                                   \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, a_, b_);                  \
            unit_failures++;                                              \
        }                                                                 \
    } while (0)

#define UNIT_MAIN()                                                       \
    int unit_failures;                                                    \
    struct unit_case unit_cases[UNIT_MAX_CASES];                          \
    int unit_ncases;                                                      \
    int main(int argc, char **argv)                                       \
    {                                                                     \
        int ran = 0;                                                      \
        for (int i = 0; i < unit_ncases; i++) {                           \
            if (argc > 1 && strcmp(argv[1], unit_cases[i].name) != 0)     \
                continue;                                                 \
            int before = unit_failures;                                   \
            unit_cases[i].fn();                                           \
            fprintf(stderr, "%s %s\n",                                    \
                    unit_failures == before ? "ok  " : "FAIL",            \
                    unit_cases[i].name);                                  \
            ran++;                                                        \
        }                                                                 \
        if (ran == 0) {                                                   \
            fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "");\
            return 2;                                                     \
        }                                                                 \
        return unit_failures ? 1 : 0;                                     \
    }

#endif

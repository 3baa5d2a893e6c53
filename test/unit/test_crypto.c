/*
 * test_crypto.c: key file, derivation, sealed tokens, tokens at rest and
 * token syntax (src/crypto/).
 *
 * The derivation vectors were computed independently with Python's hashlib
 * (BLAKE2b keyed, SHA-512) and PyNaCl (crypto_scalarmult_base,
 * PrivateKey.from_seed); test/integration/test_crypto_interop.py checks the
 * same vectors and the wire formats against PyNaCl.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "slate/alloc.h"
#include "slate/crypto.h"
#include "unit.h"

/* secret = 00 01 02 ... 1f */
#define VEC_SECRET_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define VEC_SECRET_HEX_UPPER "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
#define VEC_PK_B64 "lGMdmuH/nvTVzb120yZITPI7fZESHk/Ll0RE+fP9918="
#define VEC_SK_HEX "78f7efa82550b18ca80465521a397c5071b53688948861c5981c577cb61b37c8"
#define VEC_AT_REST_HEX "3b9a63775ffb95e27c073d13cad1c3634569e5b8e7fd9ef34edf67d683156233"
/* secret = 32 zero bytes: the development keys */
#define DEV_PK_B64 "4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="
#define DEV_AT_REST_HEX "5f7c94ef0880e8d3ee79e394317cc84b9d9251c31ca46ecae52f58aed03c5864"

#define TOKEN "hcloud-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"

static void vec_secret(unsigned char s[32])
{
    for (int i = 0; i < 32; i++)
        s[i] = (unsigned char)i;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    sodium_bin2hex(out, n * 2 + 1, b, n);
}

static void vec_keys(struct slate_keys *k)
{
    unsigned char s[32];
    vec_secret(s);
    slate_keys_derive(s, k);
}

/* ---- a scratch directory for key files ---- */

static char tmp_root[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static const char *tmp_dir(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/slate-crypto-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        abort();
    }
    return tmp_root;
}

static void tmp_cleanup(void)
{
    nftw(tmp_root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes content (n bytes) to dir/name with the given mode; returns the
 * path in a static buffer. */
static const char *key_file(const char *name, const char *content, size_t n, mode_t mode)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, content, n) != (ssize_t)n || fchmod(fd, mode) != 0) {
        perror(path);
        abort();
    }
    close(fd);
    return path;
}

/* Loads path and expects a refusal whose sentence names the file and holds
 * no key material. */
static void expect_refused(const char *path, const char *what)
{
    struct slate_keys k;
    memset(&k, 0xaa, sizeof k);
    struct slate_err err = {0};
    CHECK_INT(slate_keys_load(path, &k, &err), -1);
    CHECK_INT(err.code, SLATE_E_INTERNAL);
    if (path)
        CHECK(strstr(err.msg, path) != NULL);
    if (what && !strstr(err.msg, what)) {
        fprintf(stderr, "    sentence: %s\n    expected to contain: %s\n", err.msg, what);
        unit_failures++;
    }
    CHECK(strstr(err.msg, "0001020304") == NULL);
    CHECK(strstr(err.msg, "0A0B0C") == NULL);
    struct slate_keys zero = {0};
    CHECK(memcmp(&k, &zero, sizeof k) == 0);
}

static void expect_vec_loaded(const char *path)
{
    struct slate_keys k;
    struct slate_err err = {0};
    int rc = slate_keys_load(path, &k, &err);
    if (rc != 0)
        fprintf(stderr, "    %s\n", err.msg);
    REQUIRE(rc == 0);
    char pk[SLATE_PUBLIC_KEY_B64_MAX];
    slate_public_key_b64(&k, pk);
    CHECK_STR(pk, VEC_PK_B64);
    char h[65];
    hex(k.at_rest, 32, h);
    CHECK_STR(h, VEC_AT_REST_HEX);
    slate_keys_wipe(&k);
}

/* ---- derivation ---- */

TEST(derive_vector)
{
    struct slate_keys k;
    vec_keys(&k);
    char pk[SLATE_PUBLIC_KEY_B64_MAX];
    slate_public_key_b64(&k, pk);
    CHECK_STR(pk, VEC_PK_B64);
    CHECK_INT(strlen(pk), 44);
    char h[65];
    hex(k.seal_sk, 32, h);
    CHECK_STR(h, VEC_SK_HEX);
    hex(k.at_rest, 32, h);
    CHECK_STR(h, VEC_AT_REST_HEX);
    /* The pair is a real crypto_box pair. */
    unsigned char pk2[32];
    crypto_scalarmult_base(pk2, k.seal_sk);
    CHECK(memcmp(pk2, k.seal_pk, 32) == 0);
}

TEST(dev_keys_are_the_zero_secret)
{
    struct slate_keys k;
    slate_keys_dev(&k);
    char pk[SLATE_PUBLIC_KEY_B64_MAX];
    slate_public_key_b64(&k, pk);
    CHECK_STR(pk, DEV_PK_B64);
    char h[65];
    hex(k.at_rest, 32, h);
    CHECK_STR(h, DEV_AT_REST_HEX);
}

TEST(wipe_zeroes_keys)
{
    struct slate_keys k, zero = {0};
    vec_keys(&k);
    slate_keys_wipe(&k);
    CHECK(memcmp(&k, &zero, sizeof k) == 0);
}

TEST(crypto_init_is_idempotent)
{
    CHECK_INT(slate_crypto_init(), 0);
    CHECK_INT(slate_crypto_init(), 0);
}

/* ---- sealed tokens ---- */

TEST(seal_round_trip)
{
    struct slate_keys k;
    vec_keys(&k);
    char *b64 = slate_seal_b64(k.seal_pk, TOKEN, strlen(TOKEN));
    REQUIRE(b64 != NULL);
    CHECK_INT(strlen(b64), sodium_base64_ENCODED_LEN(strlen(TOKEN) + crypto_box_SEALBYTES,
                                                     sodium_base64_VARIANT_ORIGINAL) - 1);
    char *tok = NULL;
    size_t len = 0;
    const char *why = NULL;
    CHECK_INT(slate_unseal_b64(&k, b64, strlen(b64), &tok, &len, &why), 0);
    CHECK_INT(len, strlen(TOKEN));
    CHECK_STR(tok, TOKEN);
    slate_secret_free(tok, len);

    /* Sealing is randomised: the same token seals differently each time. */
    char *again = slate_seal_b64(k.seal_pk, TOKEN, strlen(TOKEN));
    CHECK(strcmp(again, b64) != 0);
    slate_free(again);
    slate_free(b64);
}

TEST(seal_round_trip_edge_sizes)
{
    struct slate_keys k;
    vec_keys(&k);
    char big[SLATE_TOKEN_MAX + 1];
    memset(big, 'x', sizeof big);
    size_t sizes[] = {0, 1, 4, SLATE_TOKEN_MAX, SLATE_TOKEN_MAX + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *b64 = slate_seal_b64(k.seal_pk, big, sizes[i]);
        REQUIRE(b64 != NULL);
        char *tok = NULL;
        size_t len = 99;
        CHECK_INT(slate_unseal_b64(&k, b64, strlen(b64), &tok, &len, NULL), 0);
        CHECK_INT(len, sizes[i]);
        REQUIRE(tok != NULL);
        CHECK(memcmp(tok, big, len) == 0);
        CHECK_INT(tok[len], 0);
        slate_secret_free(tok, len);
        slate_free(b64);
    }
}

TEST(seal_input_need_not_be_terminated)
{
    struct slate_keys k;
    vec_keys(&k);
    char *b64 = slate_seal_b64(k.seal_pk, "abcdefXYZ", 6);
    size_t n = strlen(b64);
    char *padded = slate_malloc(n + 5);
    memcpy(padded, b64, n);
    memcpy(padded + n, "JUNK", 5);
    char *tok = NULL;
    size_t len = 0;
    CHECK_INT(slate_unseal_b64(&k, padded, n, &tok, &len, NULL), 0);
    CHECK_STR(tok, "abcdef");
    slate_secret_free(tok, len);
    slate_free(padded);
    slate_free(b64);
}

TEST(seal_tampered_fails)
{
    struct slate_keys k;
    vec_keys(&k);
    char *b64 = slate_seal_b64(k.seal_pk, TOKEN, strlen(TOKEN));
    unsigned char bin[512];
    size_t bin_len;
    REQUIRE(sodium_base642bin(bin, sizeof bin, b64, strlen(b64), NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0);
    /* Flip one bit in the ephemeral key, the MAC, the ciphertext, the end. */
    size_t at[] = {0, 31, 32, 47, 48, bin_len - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        bin[at[i]] ^= 0x01;
        char t[1024];
        sodium_bin2base64(t, sizeof t, bin, bin_len, sodium_base64_VARIANT_ORIGINAL);
        char *tok = (char *)"sentinel";
        size_t len = 7;
        const char *why = NULL;
        CHECK_INT(slate_unseal_b64(&k, t, strlen(t), &tok, &len, &why), -1);
        CHECK(tok == NULL);
        CHECK_INT(len, 0);
        CHECK_STR(why, "token_sealed does not open with this worker's key");
        bin[at[i]] ^= 0x01;
    }
    /* A truncated blob fails too. */
    char t[1024];
    sodium_bin2base64(t, sizeof t, bin, bin_len - 1, sodium_base64_VARIANT_ORIGINAL);
    char *tok = NULL;
    size_t len;
    CHECK_INT(slate_unseal_b64(&k, t, strlen(t), &tok, &len, NULL), -1);
    slate_free(b64);
}

TEST(seal_for_another_key_fails)
{
    struct slate_keys k, other;
    vec_keys(&k);
    slate_keys_dev(&other);
    char *b64 = slate_seal_b64(other.seal_pk, TOKEN, strlen(TOKEN));
    char *tok = NULL;
    size_t len;
    const char *why = NULL;
    CHECK_INT(slate_unseal_b64(&k, b64, strlen(b64), &tok, &len, &why), -1);
    CHECK(tok == NULL);
    CHECK_STR(why, "token_sealed does not open with this worker's key");
    CHECK_INT(slate_unseal_b64(&other, b64, strlen(b64), &tok, &len, &why), 0);
    slate_secret_free(tok, len);
    slate_free(b64);
}

TEST(seal_bad_base64_fails)
{
    struct slate_keys k;
    vec_keys(&k);
    char *good = slate_seal_b64(k.seal_pk, TOKEN, strlen(TOKEN));
    size_t n = strlen(good);
    struct {
        const char *b64;
        const char *why;
    } cases[] = {
        {"", "token_sealed is too short to be a sealed box"},
        {"not base64!", "token_sealed is not valid base64"},
        {"AAAA AAAA", "token_sealed is not valid base64"},
        {"AAA", "token_sealed is not valid base64"},           /* padding missing */
        {"AB==", "token_sealed is not valid base64"},          /* unused bits set */
        {"AA==AA==", "token_sealed is not valid base64"},
        {"-_-_", "token_sealed is not valid base64"},          /* URL-safe alphabet */
        {"AAAAAAAAAAAAAAAA", "token_sealed is too short to be a sealed box"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = NULL;
        size_t len;
        const char *why = NULL;
        CHECK_INT(slate_unseal_b64(&k, cases[i].b64, strlen(cases[i].b64), &tok, &len, &why), -1);
        CHECK(tok == NULL);
        CHECK_STR(why, cases[i].why);
    }
    /* Trailing newline, dropped padding, a NUL inside. */
    char *t = slate_malloc(n + 2);
    memcpy(t, good, n);
    t[n] = '\n';
    char *tok = NULL;
    size_t len;
    CHECK_INT(slate_unseal_b64(&k, t, n + 1, &tok, &len, NULL), -1);
    CHECK_INT(good[n - 1], '=');
    CHECK_INT(slate_unseal_b64(&k, good, n - 1, &tok, &len, NULL), -1);
    memcpy(t, good, n);
    t[10] = '\0';
    CHECK_INT(slate_unseal_b64(&k, t, n, &tok, &len, NULL), -1);
    slate_free(t);
    slate_free(good);
}

TEST(seal_too_long_refused_before_decoding)
{
    struct slate_keys k;
    vec_keys(&k);
    char big[SLATE_TOKEN_MAX * 32];
    memset(big, 't', sizeof big);
    char *b64 = slate_seal_b64(k.seal_pk, big, sizeof big);
    REQUIRE(strlen(b64) > SLATE_SEALED_B64_MAX);
    char *tok = NULL;
    size_t len;
    const char *why = NULL;
    CHECK_INT(slate_unseal_b64(&k, b64, strlen(b64), &tok, &len, &why), -1);
    CHECK_STR(why, "token_sealed is too long");
    slate_free(b64);
}

TEST(seal_to_low_order_key_fails)
{
    unsigned char zero[32] = {0};
    CHECK(slate_seal_b64(zero, TOKEN, strlen(TOKEN)) == NULL);
}

/* ---- tokens at rest ---- */

TEST(at_rest_round_trip)
{
    struct slate_keys k;
    vec_keys(&k);
    char *stored = slate_token_encrypt(&k, "acme", "hz-prod", TOKEN, strlen(TOKEN));
    REQUIRE(stored != NULL);
    unsigned char bin[512];
    size_t bin_len;
    REQUIRE(sodium_base642bin(bin, sizeof bin, stored, strlen(stored), NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0);
    CHECK_INT(bin_len, 24 + strlen(TOKEN) + 16);
    CHECK(strstr(stored, "hcloud") == NULL);

    char *tok = NULL;
    size_t len = 0;
    const char *why = NULL;
    CHECK_INT(slate_token_decrypt(&k, "acme", "hz-prod", stored, strlen(stored), &tok, &len, &why),
              0);
    CHECK_INT(len, strlen(TOKEN));
    CHECK_STR(tok, TOKEN);
    slate_secret_free(tok, len);

    /* A fresh nonce each time. */
    char *again = slate_token_encrypt(&k, "acme", "hz-prod", TOKEN, strlen(TOKEN));
    CHECK(strcmp(again, stored) != 0);
    CHECK(memcmp(again, stored, 32) != 0);
    slate_free(again);
    slate_free(stored);
}

TEST(at_rest_matches_manual_construction)
{
    /* Decrypt by hand what slate_token_encrypt wrote: nonce || aead(ad=W:I). */
    struct slate_keys k;
    vec_keys(&k);
    char *stored = slate_token_encrypt(&k, "w1", "i.2", "tok", 3);
    unsigned char bin[128], out[128];
    size_t bin_len;
    REQUIRE(sodium_base642bin(bin, sizeof bin, stored, strlen(stored), NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0);
    unsigned long long out_len;
    CHECK_INT(crypto_aead_xchacha20poly1305_ietf_decrypt(out, &out_len, NULL, bin + 24,
                                                         bin_len - 24,
                                                         (const unsigned char *)"w1:i.2", 6,
                                                         bin, k.at_rest),
              0);
    CHECK_INT(out_len, 3);
    CHECK(memcmp(out, "tok", 3) == 0);
    slate_free(stored);
}

TEST(at_rest_empty_token_round_trip)
{
    struct slate_keys k;
    vec_keys(&k);
    char *stored = slate_token_encrypt(&k, "acme", "hz", "", 0);
    char *tok = NULL;
    size_t len = 9;
    CHECK_INT(slate_token_decrypt(&k, "acme", "hz", stored, strlen(stored), &tok, &len, NULL), 0);
    CHECK_INT(len, 0);
    CHECK_STR(tok, "");
    slate_secret_free(tok, len);
    slate_free(stored);
}

TEST(at_rest_moved_ciphertext_fails)
{
    struct slate_keys k;
    vec_keys(&k);
    char *stored = slate_token_encrypt(&k, "acme", "hz-prod", TOKEN, strlen(TOKEN));
    const char *places[][2] = {
        {"acme", "hz-dev"}, {"other", "hz-prod"}, {"acme:hz", "prod"}, {"acm", "e:hz-prod"},
        {"hz-prod", "acme"}, {"", "acme:hz-prod"},
    };
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        char *tok = NULL;
        size_t len = 5;
        const char *why = NULL;
        CHECK_INT(slate_token_decrypt(&k, places[i][0], places[i][1], stored, strlen(stored),
                                      &tok, &len, &why),
                  -1);
        CHECK(tok == NULL);
        CHECK_INT(len, 0);
        CHECK_STR(why,
                  "the stored token does not open with this worker's key for this integration");
    }
    slate_free(stored);
}

TEST(at_rest_other_key_fails)
{
    struct slate_keys k, other;
    vec_keys(&k);
    slate_keys_dev(&other);
    char *stored = slate_token_encrypt(&other, "acme", "hz", TOKEN, strlen(TOKEN));
    char *tok = NULL;
    size_t len;
    CHECK_INT(slate_token_decrypt(&k, "acme", "hz", stored, strlen(stored), &tok, &len, NULL), -1);
    CHECK(tok == NULL);
    slate_free(stored);
}

TEST(at_rest_tampered_fails)
{
    struct slate_keys k;
    vec_keys(&k);
    char *stored = slate_token_encrypt(&k, "acme", "hz", TOKEN, strlen(TOKEN));
    unsigned char bin[512];
    size_t bin_len;
    REQUIRE(sodium_base642bin(bin, sizeof bin, stored, strlen(stored), NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0);
    size_t at[] = {0, 23, 24, 30, bin_len - 16, bin_len - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        bin[at[i]] ^= 0x80;
        char t[1024];
        sodium_bin2base64(t, sizeof t, bin, bin_len, sodium_base64_VARIANT_ORIGINAL);
        char *tok = NULL;
        size_t len;
        CHECK_INT(slate_token_decrypt(&k, "acme", "hz", t, strlen(t), &tok, &len, NULL), -1);
        CHECK(tok == NULL);
        bin[at[i]] ^= 0x80;
    }
    slate_free(stored);
}

TEST(at_rest_bad_input_fails)
{
    struct slate_keys k;
    vec_keys(&k);
    struct {
        const char *b64;
        const char *why;
    } cases[] = {
        {"", "the stored token is too short"},
        {"%%%%", "the stored token is not valid base64"},
        {"AAAAAAAAAAAAAAAA", "the stored token is too short"}, /* 12 bytes < 40 */
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* 39 bytes */
         "the stored token is too short"},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", /* 40 bytes */
         "the stored token does not open with this worker's key for this integration"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = NULL;
        size_t len;
        const char *why = NULL;
        CHECK_INT(slate_token_decrypt(&k, "a", "b", cases[i].b64, strlen(cases[i].b64), &tok,
                                      &len, &why),
                  -1);
        CHECK_STR(why, cases[i].why);
    }
    char big[SLATE_SEALED_B64_MAX + 4];
    memset(big, 'A', sizeof big);
    char *tok = NULL;
    size_t len;
    const char *why = NULL;
    CHECK_INT(slate_token_decrypt(&k, "a", "b", big, sizeof big, &tok, &len, &why), -1);
    CHECK_STR(why, "the stored token is too long");
}

TEST(secret_free_accepts_null)
{
    slate_secret_free(NULL, 0);
    slate_secret_free(NULL, 10);
}

/* ---- the key file ---- */

TEST(key_file_valid_forms)
{
    tmp_dir();
    expect_vec_loaded(key_file("lower", VEC_SECRET_HEX, 64, 0600));
    expect_vec_loaded(key_file("lower-nl", VEC_SECRET_HEX "\n", 65, 0600));
    expect_vec_loaded(key_file("upper", VEC_SECRET_HEX_UPPER, 64, 0600));
    expect_vec_loaded(key_file("upper-nl", VEC_SECRET_HEX_UPPER "\n", 65, 0600));
    expect_vec_loaded(key_file("mixed",
                               "000102030405060708090A0b0C0d0E0f101112131415161718191a1B1c1D1e1F",
                               64, 0600));
    expect_vec_loaded(key_file("ro", VEC_SECRET_HEX "\n", 65, 0400));
    tmp_cleanup();
}

TEST(key_file_group_or_other_permissions_refused)
{
    tmp_dir();
    mode_t bad[] = {0640, 0644, 0604, 0660, 0602, 0610, 0601, 0620, 0666, 0777, 0440, 0040};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%04o", (unsigned)bad[i]);
        const char *p = key_file(name, VEC_SECRET_HEX "\n", 65, bad[i]);
        char mode[16];
        snprintf(mode, sizeof mode, "mode %04o", (unsigned)bad[i]);
        expect_refused(p, mode);
    }
    /* 0700 and 0200 grant nothing to group or others: the mode passes, and
     * 0700 loads (root reads 0200 too, so it is not checked here). */
    expect_vec_loaded(key_file("m0700", VEC_SECRET_HEX, 64, 0700));
    tmp_cleanup();
}

TEST(key_file_missing_refused)
{
    tmp_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/nope", tmp_root);
    expect_refused(path, "cannot be opened: No such file or directory");
    tmp_cleanup();
    expect_refused(NULL, NULL);
    struct slate_keys k;
    struct slate_err err = {0};
    CHECK_INT(slate_keys_load("", &k, &err), -1);
    CHECK_STR(err.msg, "No secret key file was given");
}

TEST(key_file_malformed_refused)
{
    tmp_dir();
    const char *hex63 = VEC_SECRET_HEX "\n";
    char buf[80];

    expect_refused(key_file("empty", "", 0, 0600), "is empty");
    expect_refused(key_file("nl-only", "\n", 1, 0600), "fewer than 64 hex");
    expect_refused(key_file("63", hex63 + 1, 63, 0600), "fewer than 64 hex");
    snprintf(buf, sizeof buf, "%.63s\n", VEC_SECRET_HEX);
    expect_refused(key_file("63-nl", buf, 64, 0600), "fewer than 64 hex");
    snprintf(buf, sizeof buf, "%sa", VEC_SECRET_HEX);
    expect_refused(key_file("65", buf, 65, 0600), "more than 64 hex");
    snprintf(buf, sizeof buf, "%sab\n", VEC_SECRET_HEX);
    expect_refused(key_file("66-nl", buf, 67, 0600), "more than 64 hex");
    expect_refused(key_file("two-nl", VEC_SECRET_HEX "\n\n", 66, 0600),
                   "something other than one newline");
    expect_refused(key_file("crlf", VEC_SECRET_HEX "\r\n", 66, 0600),
                   "something other than one newline");
    expect_refused(key_file("space", VEC_SECRET_HEX " ", 65, 0600),
                   "something other than one newline");
    expect_refused(key_file("lead-nl", "\n" VEC_SECRET_HEX, 65, 0600), "not a hex digit");
    expect_refused(key_file("lead-sp", " " VEC_SECRET_HEX, 65, 0600), "not a hex digit");
    snprintf(buf, sizeof buf, "%s", VEC_SECRET_HEX);
    buf[20] = 'g';
    expect_refused(key_file("non-hex", buf, 64, 0600), "not a hex digit");
    buf[20] = '\0';
    expect_refused(key_file("nul", buf, 64, 0600), "not a hex digit");
    expect_refused(key_file("0x", "0x" VEC_SECRET_HEX, 66, 0600), "not a hex digit");
    /* Base64 of 32 bytes (a plausible mistake). */
    expect_refused(key_file("b64", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 45, 0600),
                   NULL);
    /* A large file is refused without reading it all. */
    char big[4096];
    memset(big, 'a', sizeof big);
    expect_refused(key_file("big", big, sizeof big, 0600), "more than 64 hex");
    tmp_cleanup();
}

TEST(key_file_not_regular_refused)
{
    tmp_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/dir", tmp_root);
    REQUIRE(mkdir(path, 0700) == 0);
    expect_refused(path, "is not a regular file");

    /* A FIFO is refused at once (O_NONBLOCK), not waited on. */
    snprintf(path, sizeof path, "%s/fifo", tmp_root);
    REQUIRE(mkfifo(path, 0600) == 0);
    expect_refused(path, "is not a regular file");

    expect_refused("/dev/null", "is not a regular file");
    tmp_cleanup();
}

TEST(key_file_symlink_checks_the_target)
{
    tmp_dir();
    char link[128];
    snprintf(link, sizeof link, "%s/link", tmp_root);

    const char *target = key_file("target", VEC_SECRET_HEX "\n", 65, 0600);
    REQUIRE(symlink(target, link) == 0);
    expect_vec_loaded(link);

    /* The link's own mode (0777) is irrelevant; the target's counts. */
    REQUIRE(chmod(target, 0644) == 0);
    expect_refused(link, "mode 0644");

    unlink(target);
    expect_refused(link, "cannot be opened");
    tmp_cleanup();
}

/* ---- token syntax and hint ---- */

TEST(token_syntax)
{
    char t[SLATE_TOKEN_MAX + 2];
    memset(t, 'a', sizeof t);
    CHECK(!slate_token_syntax_ok("", 0));
    CHECK(slate_token_syntax_ok("a", 1));
    CHECK(slate_token_syntax_ok(t, SLATE_TOKEN_MAX));
    CHECK(!slate_token_syntax_ok(t, SLATE_TOKEN_MAX + 1));
    CHECK(slate_token_syntax_ok(TOKEN, strlen(TOKEN)));
    const char *alnum64 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZab";
    CHECK_INT(strlen(alnum64), 64);
    CHECK(slate_token_syntax_ok(alnum64, 64));
    CHECK(slate_token_syntax_ok("!~", 2));              /* 0x21 and 0x7e */
    CHECK(slate_token_syntax_ok("a!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", 33));
    CHECK(!slate_token_syntax_ok("ab cd", 5));
    CHECK(!slate_token_syntax_ok("abcd\r", 5));
    CHECK(!slate_token_syntax_ok("abcd\n", 5));
    CHECK(!slate_token_syntax_ok("\tabcd", 5));
    CHECK(!slate_token_syntax_ok("ab\x7f", 3));
    CHECK(!slate_token_syntax_ok("ab\x80", 3));
    CHECK(!slate_token_syntax_ok("t\xc3\xa9st", 5));     /* UTF-8 é */
    CHECK(!slate_token_syntax_ok("ab\0cd", 5));
    CHECK(!slate_token_syntax_ok("\x20", 1));
    CHECK(!slate_token_syntax_ok("\xff", 1));
}

TEST(token_hint)
{
    char h[SLATE_TOKEN_HINT_MAX];
    slate_token_hint(TOKEN, strlen(TOKEN), h);
    CHECK_STR(h, "STUV");
    slate_token_hint("abcdefgh", 8, h);
    CHECK_STR(h, "efgh");
    slate_token_hint("abcd", 4, h);
    CHECK_STR(h, "abcd");
    slate_token_hint("abc", 3, h);
    CHECK_STR(h, "abc");
    slate_token_hint("x", 1, h);
    CHECK_STR(h, "x");
    slate_token_hint("", 0, h);
    CHECK_STR(h, "");
    slate_token_hint("abcdefXYZ", 6, h); /* only n bytes count */
    CHECK_STR(h, "cdef");
}

UNIT_MAIN()

/*
 * seal.c: sealed tokens (crypto_box_seal) and tokens at rest
 * (XChaCha20-Poly1305), both carried as standard base64 (crypto.h).
 *
 * Input from Redis is bounded (SLATE_SEALED_B64_MAX) before anything is
 * decoded.  Plaintext tokens only ever live in buffers that are wiped before
 * they are freed: the caller's (slate_secret_free) or ours on a failed open.
 * Ciphertext and base64 are not secret and are freed plainly.
 */
#include <string.h>

#include <sodium.h>

#include "crypto_int.h"
#include "slate/alloc.h"
#include "slate/crypto.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

static char *to_b64(const unsigned char *bin, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = slate_malloc(cap);
    sodium_bin2base64(out, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

/* Decodes strict standard base64 (padding required, no whitespace, unused
 * bits zero) into a fresh buffer; NULL when it does not decode. */
static unsigned char *from_b64(const char *b64, size_t n, size_t *out_len)
{
    size_t cap = n / 4 * 3 + 3;
    unsigned char *bin = slate_malloc(cap);
    if (sodium_base642bin(bin, cap, b64, n, NULL, out_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        slate_free(bin);
        return NULL;
    }
    return bin;
}

/* "W:I", the associated data of a stored token. */
static char *at_rest_ad(const char *workspace, const char *integration)
{
    return slate_asprintf("%s:%s", workspace, integration);
}

void slate_secret_free(char *p, size_t n)
{
    if (!p)
        return;
    sodium_memzero(p, n);
    slate_free(p);
}

char *slate_seal_b64(const unsigned char pk[32], const char *token, size_t n)
{
    slate__crypto_ready();
    size_t sealed_len = n + crypto_box_SEALBYTES;
    unsigned char *sealed = slate_malloc(sealed_len);
    if (crypto_box_seal(sealed, (const unsigned char *)token, n, pk) != 0) {
        slate_free(sealed);
        return NULL;
    }
    char *out = to_b64(sealed, sealed_len);
    slate_free(sealed);
    return out;
}

int slate_unseal_b64(const struct slate_keys *k, const char *b64, size_t n, char **token,
                     size_t *token_len, const char **why)
{
    slate__crypto_ready();
    const char *unused;
    if (!why)
        why = &unused;
    *token = NULL;
    *token_len = 0;
    if (n > SLATE_SEALED_B64_MAX) {
        *why = "token_sealed is too long";
        return -1;
    }
    size_t len;
    unsigned char *sealed = from_b64(b64, n, &len);
    if (!sealed) {
        *why = "token_sealed is not valid base64";
        return -1;
    }
    if (len < crypto_box_SEALBYTES) {
        slate_free(sealed);
        *why = "token_sealed is too short to be a sealed box";
        return -1;
    }
    size_t plain_len = len - crypto_box_SEALBYTES;
    char *plain = slate_malloc(plain_len + 1);
    if (crypto_box_seal_open((unsigned char *)plain, sealed, len, k->seal_pk, k->seal_sk) != 0) {
        slate_free(sealed);
        slate_secret_free(plain, plain_len + 1);
        *why = "token_sealed does not open with this worker's key";
        return -1;
    }
    slate_free(sealed);
    plain[plain_len] = '\0';
    *token = plain;
    *token_len = plain_len;
    return 0;
}

char *slate_token_encrypt(const struct slate_keys *k, const char *workspace,
                          const char *integration, const char *token, size_t n)
{
    slate__crypto_ready();
    char *ad = at_rest_ad(workspace, integration);
    size_t blob_len = NONCE_BYTES + n + TAG_BYTES;
    unsigned char *blob = slate_malloc(blob_len);
    randombytes_buf(blob, NONCE_BYTES);
    unsigned long long ct_len;
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + NONCE_BYTES, &ct_len,
                                               (const unsigned char *)token, n,
                                               (const unsigned char *)ad, strlen(ad), NULL,
                                               blob, k->at_rest);
    char *out = to_b64(blob, NONCE_BYTES + (size_t)ct_len);
    slate_free(blob);
    slate_free(ad);
    return out;
}

int slate_token_decrypt(const struct slate_keys *k, const char *workspace,
                        const char *integration, const char *stored_b64, size_t n,
                        char **token, size_t *token_len, const char **why)
{
    slate__crypto_ready();
    const char *unused;
    if (!why)
        why = &unused;
    *token = NULL;
    *token_len = 0;
    if (n > SLATE_SEALED_B64_MAX) {
        *why = "the stored token is too long";
        return -1;
    }
    size_t len;
    unsigned char *blob = from_b64(stored_b64, n, &len);
    if (!blob) {
        *why = "the stored token is not valid base64";
        return -1;
    }
    if (len < NONCE_BYTES + TAG_BYTES) {
        slate_free(blob);
        *why = "the stored token is too short";
        return -1;
    }
    size_t plain_cap = len - NONCE_BYTES - TAG_BYTES;
    char *plain = slate_malloc(plain_cap + 1);
    char *ad = at_rest_ad(workspace, integration);
    unsigned long long plain_len = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        (unsigned char *)plain, &plain_len, NULL, blob + NONCE_BYTES, len - NONCE_BYTES,
        (const unsigned char *)ad, strlen(ad), blob, k->at_rest);
    slate_free(ad);
    slate_free(blob);
    if (rc != 0) {
        slate_secret_free(plain, plain_cap + 1);
        *why = "the stored token does not open with this worker's key for this integration";
        return -1;
    }
    plain[plain_len] = '\0';
    *token = plain;
    *token_len = (size_t)plain_len;
    return 0;
}

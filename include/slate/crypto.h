/*
 * crypto.h: the worker's secrets, over libsodium only (PROTOCOL.md, "Secrets
 * in jobs").
 *
 * One 32-byte secret (the key file) is shared by all workers.  Two keys are
 * derived from it with BLAKE2b-256 keyed by the secret (crypto_generichash):
 *   - over "slate-worker seal v1": the seed of an X25519 key pair
 *     (crypto_box_seed_keypair); a web tier seals tokens to its public key
 *     with crypto_box_seal, and only the workers can open them;
 *   - over "slate-worker at-rest v1": the XChaCha20-Poly1305 key that
 *     encrypts the tokens stored in Redis, with the associated data "W:I"
 *     (workspace id, ':', integration id), so that a ciphertext moved to
 *     another integration does not open.
 * Every binary field is carried as standard base64 with padding.
 *
 * Secrets never reach an error sentence or the log.  A decrypted token lives
 * in memory that the caller wipes and frees with slate_secret_free().
 */
#ifndef SLATE_CRYPTO_H
#define SLATE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "slate/error.h"

/* The longest token PROTOCOL.md accepts (bytes). */
#define SLATE_TOKEN_MAX 256
/* Room for the base64 public key (44 characters) and its NUL. */
#define SLATE_PUBLIC_KEY_B64_MAX 64
/* Room for a token hint (up to 4 characters) and its NUL. */
#define SLATE_TOKEN_HINT_MAX 5

struct slate_keys {
    unsigned char seal_pk[32]; /* X25519 public key: tokens are sealed to it */
    unsigned char seal_sk[32]; /* X25519 secret key: opens sealed tokens */
    unsigned char at_rest[32]; /* XChaCha20-Poly1305 key of stored tokens */
};

/* Initialises libsodium (idempotent, thread-safe).  Returns -1 when it
 * cannot be initialised; main calls it once at start to report that as a
 * sentence.  Every other function here calls it again and aborts on failure,
 * so forgetting this call is harmless. */
int slate_crypto_init(void);

/* Reads the key file at path: exactly 64 hex characters (either case),
 * optionally followed by one "\n", nothing else.  The file is opened
 * (following symlinks) and the opened file itself is checked with fstat: it
 * must be a regular file whose mode grants nothing to group or others (0600
 * and 0400 are fine), as OpenSSH demands of private keys.  On success fills
 * out and returns 0.  On failure returns -1 with err set to SLATE_E_INTERNAL
 * and a sentence naming the file and what is wrong (never any of its bytes);
 * out is then zeroed. */
int slate_keys_load(const char *path, struct slate_keys *out, struct slate_err *err);

/* Derives both keys from a 32-byte secret (see the top of this file). */
void slate_keys_derive(const unsigned char secret[32], struct slate_keys *out);

/* The development keys (SLATE_DEV_INSECURE_KEY=1): the same as a key file
 * of 64 zeros, so a development web tier can derive them too.  Anyone can
 * open what is sealed to them; the caller logs the loud warning. */
void slate_keys_dev(struct slate_keys *out);

/* Overwrites the keys with zeros (sodium_memzero). */
void slate_keys_wipe(struct slate_keys *k);

/* Standard base64 (with padding, 44 characters) of the sealing public key,
 * what `slatectl public-key` prints. */
void slate_public_key_b64(const struct slate_keys *k, char out[SLATE_PUBLIC_KEY_B64_MAX]);

/* token_sealed: standard base64 of crypto_box_seal(token, pk).  What a web
 * tier does; the worker uses it to re-seal a plain `token` field.  Returns a
 * string to free with slate_free(), or NULL when pk is not a usable X25519
 * public key (a low-order point).  token need not be NUL-terminated. */
char *slate_seal_b64(const unsigned char pk[32], const char *token, size_t n);

/* Opens a token_sealed field (b64 of n bytes, need not be NUL-terminated).
 * Returns 0 and sets *token (NUL-terminated; it may hold NUL bytes, *token_len
 * says how long it is) in memory the caller frees with slate_secret_free().
 * Returns -1 on bad base64, a blob too short or too long
 * (SLATE_SEALED_B64_MAX) or one that does not open with these keys; then
 * *token is NULL and *why (when why is not NULL) points to a static sentence
 * that holds no secret.  The caller decides which error that is. */
int slate_unseal_b64(const struct slate_keys *k, const char *b64, size_t n, char **token,
                     size_t *token_len, const char **why);

/* The stored `token` field: standard base64 of a fresh 24-byte nonce followed
 * by crypto_aead_xchacha20poly1305_ietf_encrypt(token, ad = "W:I").  The ids
 * are the caller's, already valid (slate_valid_id: no ':' in either, so the
 * associated data is unambiguous).  Returns a string to free with
 * slate_free(). */
char *slate_token_encrypt(const struct slate_keys *k, const char *workspace,
                          const char *integration, const char *token, size_t n);

/* Decrypts a stored `token` field (n bytes of base64) of integration
 * workspace/integration.  Same results as slate_unseal_b64(): 0 with the
 * token, or -1 with a static reason (bad base64, too short or too long, or it
 * does not open: another key, another integration, or tampered with). */
int slate_token_decrypt(const struct slate_keys *k, const char *workspace,
                        const char *integration, const char *stored_b64, size_t n,
                        char **token, size_t *token_len, const char **why);

/* Wipes n bytes at p (sodium_memzero), then frees p; p may be NULL.  n is the
 * token_len that came with the token. */
void slate_secret_free(char *p, size_t n);

/* PROTOCOL.md's token syntax: 1..256 bytes, each 0x21-0x7e (printable ASCII
 * without spaces).  Anything else is `invalid_token` with no request made. */
bool slate_token_syntax_ok(const char *t, size_t n);

/* The token_hint of a token: its last 4 bytes (all of it if shorter),
 * NUL-terminated. */
void slate_token_hint(const char *t, size_t n, char out[SLATE_TOKEN_HINT_MAX]);

/* The longest base64 field that slate_unseal_b64() and slate_token_decrypt()
 * look at.  Both fields come from Redis, written by other programs; a token
 * longer than SLATE_TOKEN_MAX is still opened (up to this bound) so that the
 * caller can answer `invalid_token` for it rather than a garbled job, but
 * nothing larger is decoded. */
#define SLATE_SEALED_B64_MAX 8192

#endif

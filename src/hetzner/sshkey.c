/*
 * sshkey.c: what an OpenSSH public key line says about its key.
 *
 * The line is "<type> <base64 blob> [comment]".  The blob is the key in SSH
 * wire format (RFC 4253 6.6): a string with the key type, then the key's
 * fields.  The SHA-256 fingerprint is computed over the blob, exactly as
 * `ssh-keygen -lf` does; the size comes from the type for curves and from
 * the modulus (RSA) or prime p (DSA) otherwise, as OpenSSH's sshkey_size().
 *
 * libsodium does the hashing and base64 (no other crypto library).
 */
#include <string.h>

#include <sodium.h>

#include "hetzner_int.h"
#include "slate/alloc.h"

/* A reader over the blob. */
struct wire {
    const unsigned char *p;
    size_t n;
};

/* Reads an SSH "string" (uint32 length + bytes); false when truncated. */
static bool wire_string(struct wire *w, const unsigned char **s, size_t *len)
{
    if (w->n < 4)
        return false;
    size_t l = (size_t)w->p[0] << 24 | (size_t)w->p[1] << 16 | (size_t)w->p[2] << 8 | w->p[3];
    if (l > w->n - 4)
        return false;
    *s = w->p + 4;
    *len = l;
    w->p += 4 + l;
    w->n -= 4 + l;
    return true;
}

/* Bit length of an mpint (big-endian, leading zero bytes skipped); -1 when
 * it cannot be read or is zero. */
static int mpint_bits(struct wire *w)
{
    const unsigned char *s;
    size_t len;
    if (!wire_string(w, &s, &len))
        return -1;
    while (len > 0 && *s == 0) {
        s++;
        len--;
    }
    if (len == 0 || len > (size_t)(1 << 20))
        return -1;
    int bits = (int)(len - 1) * 8;
    for (unsigned c = *s; c; c >>= 1)
        bits++;
    return bits;
}

static bool is(const unsigned char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* Key size from the type and, for RSA and DSA, the blob after the type. */
static int key_bits(const unsigned char *type, size_t n, struct wire *rest)
{
    static const struct {
        const char *type;
        int bits;
    } fixed[] = {
        {"ssh-ed25519", 256},
        {"sk-ssh-ed25519@openssh.com", 256},
        {"ssh-ed448", 456},
        {"ecdsa-sha2-nistp256", 256},
        {"ecdsa-sha2-nistp384", 384},
        {"ecdsa-sha2-nistp521", 521},
        {"sk-ecdsa-sha2-nistp256@openssh.com", 256},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (is(type, n, fixed[i].type))
            return fixed[i].bits;
    }
    if (is(type, n, "ssh-rsa")) {
        /* e, then n */
        if (mpint_bits(rest) < 0)
            return -1;
        return mpint_bits(rest);
    }
    if (is(type, n, "ssh-dss"))
        return mpint_bits(rest); /* p */
    return -1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void slate_ssh_public_key_info(const char *text, size_t n, struct slate_arena *arena,
                               char **key_type, char **sha256, int *bits)
{
    *key_type = NULL;
    *sha256 = NULL;
    *bits = -1;

    size_t i = 0;
    while (i < n && is_space(text[i]))
        i++;
    size_t t0 = i;
    while (i < n && !is_space(text[i]))
        i++;
    size_t t1 = i;
    while (i < n && is_space(text[i]))
        i++;
    size_t b0 = i;
    while (i < n && !is_space(text[i]))
        i++;
    size_t b1 = i;

    if (t1 > t0)
        *key_type = slate_hz_arena_text(arena, text + t0, t1 - t0);
    /* Idempotent and thread-safe; hashing and base64 do not depend on it in
     * libsodium 1.0.18, but its contract asks for it before any use. */
    if (b1 == b0 || sodium_init() < 0)
        return;

    size_t cap = (b1 - b0) / 4 * 3 + 3;
    unsigned char *blob = slate_malloc(cap);
    size_t blob_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(blob, cap, text + b0, b1 - b0, NULL, &blob_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text + b1)
        goto out;

    struct wire w = {blob, blob_len};
    const unsigned char *type;
    size_t type_len;
    if (!wire_string(&w, &type, &type_len) || type_len == 0 || type_len != t1 - t0 ||
        memcmp(type, text + t0, type_len) != 0)
        goto out; /* not decodable, or the blob is another key type than the text says */

    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, blob, blob_len);
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, digest, sizeof digest,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    size_t l = strlen(b64);
    char *fp = slate_arena_alloc(arena, 7 + l + 1);
    memcpy(fp, "SHA256:", 7);
    memcpy(fp + 7, b64, l + 1);
    *sha256 = fp;
    *bits = key_bits(type, type_len, &w);
out:
    slate_free(blob);
}

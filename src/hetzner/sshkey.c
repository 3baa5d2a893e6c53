/*
 * sshkey.c: what an OpenSSH public key line says about its key.
 *
 * The line is "<type> <base64 blob> [comment]".  The blob is the key in SSH
 * wire format (RFC 4253 6.6): a string with the key type, then the key's
 * fields.  The SHA-256 fingerprint is computed over the blob, exactly as
 * `ssh-keygen -lf` does; the size comes from the type for curves and from
 * the modulus (RSA) or prime p (DSA) otherwise, as OpenSSH's sshkey_size().
 *
 * libsodium does the hashing (no other crypto library).  Base64 is ours,
 * plain table code: sodium's is constant-time, which public keys and their
 * fingerprints do not need, and decoding with it cost the parser more than
 * SHA-256 on SSH key pages.  slate_hz_base64_decode accepts what
 * sodium_base642bin accepted, except bytes above 127: libsodium 1.0.18
 * reads them as negative chars, which its constant-time tests take for '/'
 * where char is signed (x86); they are not base64, here as on arm64
 * (test_hetzner_parse.c compares the two).
 */
#include <string.h>

#include <sodium.h>

#include "hetzner_int.h"
#include "slate/alloc.h"

/* The value of each base64 character (RFC 4648, "+/"); 0xff: not one. */
static const unsigned char b64_value[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 62,   0xff, 0xff, 0xff, 63,
    52,   53,   54,   55,   56,   57,   58,   59,   60,   61,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,
    15,   16,   17,   18,   19,   20,   21,   22,   23,   24,   25,   0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 26,   27,   28,   29,   30,   31,   32,   33,   34,   35,   36,   37,   38,   39,   40,
    41,   42,   43,   44,   45,   46,   47,   48,   49,   50,   51,   0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

bool slate_hz_base64_decode(const char *b64, size_t n, unsigned char *out, size_t *out_len,
                            size_t *used)
{
    const unsigned char *s = (const unsigned char *)b64;
    size_t i = 0, o = 0;
    /* Whole groups of four characters, three bytes each. */
    for (; n - i >= 4; i += 4) {
        unsigned a = b64_value[s[i]], b = b64_value[s[i + 1]], c = b64_value[s[i + 2]],
                 d = b64_value[s[i + 3]];
        if ((a | b | c | d) & 0x80)
            break;
        unsigned long v = (unsigned long)a << 18 | b << 12 | c << 6 | d;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        o += 3;
    }
    /* The last group: 0, 2 or 3 characters (one is 6 bits, not a byte)
     * whose bits past the last whole byte are zero, then one '=' for each
     * character short of four. */
    unsigned acc = 0, m = 0;
    for (; i < n && m < 3 && b64_value[s[i]] != 0xff; i++, m++)
        acc = acc << 6 | b64_value[s[i]];
    if (m == 1 || (m == 2 && (acc & 0xf)) || (m == 3 && (acc & 0x3)))
        return false;
    if (m == 2)
        out[o++] = (unsigned char)(acc >> 4);
    else if (m == 3) {
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    for (unsigned pad = m ? 4 - m : 0; pad > 0; pad--, i++) {
        if (i == n || s[i] != '=')
            return false;
    }
    *out_len = o;
    *used = i;
    return true;
}

size_t slate_hz_base64_encode(char *out, const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; n - i >= 3; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        out[o++] = abc[in[i] >> 2];
        out[o++] = abc[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 8 | in[i + 1];
        out[o++] = abc[v >> 10];
        out[o++] = abc[v >> 4 & 63];
        out[o++] = abc[(v & 15) << 2];
    }
    out[o] = '\0';
    return o;
}

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

#define IS(s, n, lit) ((n) == sizeof lit - 1 && memcmp(s, lit, sizeof lit - 1) == 0)

/* Key size from the type and, for RSA and DSA, the blob after the type. */
static int key_bits(const unsigned char *type, size_t n, struct wire *rest)
{
#define FIXED(lit, bits) {lit, sizeof lit - 1, bits}
    static const struct {
        const char *type;
        size_t len;
        int bits;
    } fixed[] = {
        FIXED("ssh-ed25519", 256),
        FIXED("sk-ssh-ed25519@openssh.com", 256),
        FIXED("ssh-ed448", 456),
        FIXED("ecdsa-sha2-nistp256", 256),
        FIXED("ecdsa-sha2-nistp384", 384),
        FIXED("ecdsa-sha2-nistp521", 521),
        FIXED("sk-ecdsa-sha2-nistp256@openssh.com", 256),
    };
#undef FIXED
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (n == fixed[i].len && memcmp(type, fixed[i].type, n) == 0)
            return fixed[i].bits;
    }
    if (IS(type, n, "ssh-rsa")) {
        /* e, then n */
        if (mpint_bits(rest) < 0)
            return -1;
        return mpint_bits(rest);
    }
    if (IS(type, n, "ssh-dss"))
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

    if (t1 > t0)
        *key_type = slate_hz_arena_text(arena, text + t0, t1 - t0);
    /* Idempotent and thread-safe; hashing does not depend on it in
     * libsodium 1.0.18, but its contract asks for it before any use. */
    if (b0 == n || sodium_init() < 0)
        return;

    /* The blob is the second field, all of it: the base64 must end where
     * the field does (no scan for the field's end first: the decoder stops
     * at the first character not its own).  Keys up to RSA 8192 bits fit
     * on the stack. */
    unsigned char small[2048];
    size_t cap = (n - b0) / 4 * 3 + 3;
    unsigned char *blob = cap <= sizeof small ? small : slate_malloc(cap);
    size_t blob_len = 0, used = 0;
    if (!slate_hz_base64_decode(text + b0, n - b0, blob, &blob_len, &used) ||
        (b0 + used < n && !is_space(text[b0 + used])))
        goto out;

    struct wire w = {blob, blob_len};
    const unsigned char *type;
    size_t type_len;
    if (!wire_string(&w, &type, &type_len) || type_len == 0 || type_len != t1 - t0 ||
        memcmp(type, text + t0, type_len) != 0)
        goto out; /* not decodable, or the blob is another key type than the text says */

    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, blob, blob_len);
    char *fp = slate_arena_alloc(arena, 7 + (crypto_hash_sha256_BYTES + 2) / 3 * 4 + 1);
    memcpy(fp, "SHA256:", 7);
    slate_hz_base64_encode(fp + 7, digest, sizeof digest);
    *sha256 = fp;
    *bits = key_bits(type, type_len, &w);
out:
    if (blob != small)
        slate_free(blob);
}

/*
 * sealtool.c: the crypto module on the command line, for the interop test
 * (test/integration/test_crypto_interop.py), which checks it against PyNaCl.
 *
 *   sealtool public-key KEY          print the sealing public key (base64)
 *   sealtool seal PUBKEY_B64         stdin: token       -> stdout: token_sealed
 *   sealtool unseal KEY              stdin: token_sealed -> stdout: token
 *   sealtool encrypt KEY W I         stdin: token       -> stdout: stored token
 *   sealtool decrypt KEY W I         stdin: stored token -> stdout: token
 *
 * KEY is a key file, or `--dev` for the development keys.  Standard input is
 * taken byte for byte (no newline is stripped); output has no newline.
 * Exit status: 0 done, 1 refused (the reason on stderr), 2 usage.
 * A test tool: it prints tokens, which the worker never does.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "slate/alloc.h"
#include "slate/crypto.h"
#include "slate/util.h"

static int usage(void)
{
    fputs("usage: sealtool public-key KEY | seal PUBKEY_B64 | unseal KEY |\n"
          "                encrypt KEY W I | decrypt KEY W I   (KEY: a file or --dev)\n",
          stderr);
    return 2;
}

static int load(const char *arg, struct slate_keys *k)
{
    if (strcmp(arg, "--dev") == 0) {
        slate_keys_dev(k);
        return 0;
    }
    struct slate_err err;
    if (slate_keys_load(arg, k, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void read_stdin(struct slate_buf *b)
{
    char chunk[4096];
    size_t n;
    slate_buf_append(b, "", 0); /* data is never NULL, even for empty input */
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        slate_buf_append(b, chunk, n);
    sodium_memzero(chunk, sizeof chunk);
}

static int put(const char *s, size_t n)
{
    return fwrite(s, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (slate_crypto_init() != 0) {
        fputs("libsodium could not be initialised\n", stderr);
        return 1;
    }
    if (argc < 3)
        return usage();
    const char *cmd = argv[1];
    struct slate_keys k;
    struct slate_buf in;
    slate_buf_init(&in);
    int rc = 1;

    if (strcmp(cmd, "public-key") == 0 && argc == 3) {
        if (load(argv[2], &k) != 0)
            return 1;
        char pk[SLATE_PUBLIC_KEY_B64_MAX];
        slate_public_key_b64(&k, pk);
        rc = put(pk, strlen(pk));
    } else if (strcmp(cmd, "seal") == 0 && argc == 3) {
        slate_keys_dev(&k); /* unused; keeps the cleanup below uniform */
        unsigned char pk[32];
        size_t pk_len;
        if (sodium_base642bin(pk, sizeof pk, argv[2], strlen(argv[2]), NULL, &pk_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            pk_len != sizeof pk) {
            fputs("the public key is not 32 bytes of base64\n", stderr);
            return 1;
        }
        read_stdin(&in);
        char *sealed = slate_seal_b64(pk, in.data, in.len);
        if (!sealed) {
            fputs("the public key is not usable\n", stderr);
        } else {
            rc = put(sealed, strlen(sealed));
            slate_free(sealed);
        }
    } else if (strcmp(cmd, "unseal") == 0 && argc == 3) {
        if (load(argv[2], &k) != 0)
            return 1;
        read_stdin(&in);
        char *tok;
        size_t len;
        const char *why;
        if (slate_unseal_b64(&k, in.data, in.len, &tok, &len, &why) != 0) {
            fprintf(stderr, "%s\n", why);
        } else {
            rc = put(tok, len);
            slate_secret_free(tok, len);
        }
    } else if ((strcmp(cmd, "encrypt") == 0 || strcmp(cmd, "decrypt") == 0) && argc == 5) {
        if (load(argv[2], &k) != 0)
            return 1;
        read_stdin(&in);
        if (cmd[0] == 'e') {
            char *stored = slate_token_encrypt(&k, argv[3], argv[4], in.data, in.len);
            rc = put(stored, strlen(stored));
            slate_free(stored);
        } else {
            char *tok;
            size_t len;
            const char *why;
            if (slate_token_decrypt(&k, argv[3], argv[4], in.data, in.len, &tok, &len, &why) != 0) {
                fprintf(stderr, "%s\n", why);
            } else {
                rc = put(tok, len);
                slate_secret_free(tok, len);
            }
        }
    } else {
        return usage();
    }
    slate_keys_wipe(&k);
    if (in.data)
        sodium_memzero(in.data, in.len);
    slate_buf_free(&in);
    return rc;
}

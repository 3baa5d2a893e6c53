/*
 * keys.c: the key file, and the two keys derived from it (crypto.h).
 *
 * The file is opened once and everything is checked on the opened
 * descriptor (fstat, then read), so that nothing can be swapped between the
 * check and the use.  O_NONBLOCK keeps a FIFO planted at the path from
 * hanging the start; fstat then refuses it as not a regular file.  Symlinks
 * are followed (a Kubernetes secret volume is all symlinks); what is checked
 * is the file they lead to.  Owner checks (OpenSSH also wants the file to be
 * ours) were left out: PROTOCOL.md asks only that group and others get
 * nothing, and a secret mounted by an orchestrator is often owned by root.
 *
 * The secret, the read buffer and the derived seed are wiped before return.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto_int.h"
#include "slate/crypto.h"

#define SEAL_CONTEXT "slate-worker seal v1"
#define AT_REST_CONTEXT "slate-worker at-rest v1"
#define SECRET_HEX 64 /* 32 bytes */
/* A valid file is 64 or 65 bytes; reading one more tells "too long". */
#define KEY_FILE_READ (SECRET_HEX + 2)

int slate_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void slate__crypto_ready(void)
{
    if (sodium_init() < 0) {
        static const char line[] =
            "{\"level\":\"error\",\"msg\":\"libsodium could not be initialised\"}\n";
        (void)!write(2, line, sizeof line - 1);
        abort();
    }
}

void slate_keys_derive(const unsigned char secret[32], struct slate_keys *out)
{
    slate__crypto_ready();
    unsigned char seed[crypto_box_SEEDBYTES];
    crypto_generichash(seed, sizeof seed, (const unsigned char *)SEAL_CONTEXT,
                       strlen(SEAL_CONTEXT), secret, 32);
    crypto_box_seed_keypair(out->seal_pk, out->seal_sk, seed);
    sodium_memzero(seed, sizeof seed);
    crypto_generichash(out->at_rest, sizeof out->at_rest,
                       (const unsigned char *)AT_REST_CONTEXT, strlen(AT_REST_CONTEXT),
                       secret, 32);
}

void slate_keys_dev(struct slate_keys *out)
{
    static const unsigned char zero[32];
    slate_keys_derive(zero, out);
}

void slate_keys_wipe(struct slate_keys *k)
{
    sodium_memzero(k, sizeof *k);
}

void slate_public_key_b64(const struct slate_keys *k, char out[SLATE_PUBLIC_KEY_B64_MAX])
{
    slate__crypto_ready();
    sodium_bin2base64(out, SLATE_PUBLIC_KEY_B64_MAX, k->seal_pk, sizeof k->seal_pk,
                      sodium_base64_VARIANT_ORIGINAL);
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* What is wrong with the content of a key file, or NULL when it is valid.
 * The sentence tells the shape of the problem, never a byte of the file. */
static const char *content_problem(const unsigned char *buf, size_t len)
{
    size_t h = 0;
    while (h < len && is_hex(buf[h]))
        h++;
    if (len == 0)
        return "is empty";
    if (h == SECRET_HEX && (len == SECRET_HEX || (len == SECRET_HEX + 1 && buf[h] == '\n')))
        return NULL;
    if (h > SECRET_HEX)
        return "holds more than 64 hex characters";
    if (h < SECRET_HEX && (h == len || (h + 1 == len && buf[h] == '\n')))
        return "holds fewer than 64 hex characters";
    if (h < SECRET_HEX)
        return "holds a character that is not a hex digit";
    return "holds something other than one newline after the 64 hex characters";
}

int slate_keys_load(const char *path, struct slate_keys *out, struct slate_err *err)
{
    slate__crypto_ready();
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return slate_err_set(err, SLATE_E_INTERNAL, "No secret key file was given");

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return slate_err_set(err, SLATE_E_INTERNAL, "The secret key file %s cannot be opened: %s",
                             path, strerror(errno));

    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return slate_err_set(err, SLATE_E_INTERNAL, "The secret key file %s cannot be examined: %s",
                             path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return slate_err_set(err, SLATE_E_INTERNAL,
                             "The secret key file %s is not a regular file", path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return slate_err_set(err, SLATE_E_INTERNAL,
                             "The secret key file %s grants permissions to group or others "
                             "(mode %04o); it must be readable by its owner only "
                             "(chmod 600 or 400)",
                             path, (unsigned)(st.st_mode & 07777));
    }

    unsigned char buf[KEY_FILE_READ];
    size_t len = 0;
    while (len < KEY_FILE_READ) {
        ssize_t r = read(fd, buf + len, KEY_FILE_READ - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            sodium_memzero(buf, sizeof buf);
            close(fd);
            return slate_err_set(err, SLATE_E_INTERNAL, "The secret key file %s cannot be read: %s",
                                 path, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);

    const char *problem = content_problem(buf, len);
    if (problem) {
        sodium_memzero(buf, sizeof buf);
        return slate_err_set(err, SLATE_E_INTERNAL,
                             "The secret key file %s %s; it must hold exactly 64 hex characters "
                             "(32 bytes), optionally followed by one newline",
                             path, problem);
    }

    unsigned char secret[32];
    size_t secret_len = 0;
    int rc = sodium_hex2bin(secret, sizeof secret, (const char *)buf, SECRET_HEX, NULL,
                            &secret_len, NULL);
    sodium_memzero(buf, sizeof buf);
    if (rc != 0 || secret_len != sizeof secret) {
        /* Unreachable after content_problem(); kept so a change there
         * cannot turn into a half-read secret. */
        sodium_memzero(secret, sizeof secret);
        return slate_err_set(err, SLATE_E_INTERNAL,
                             "The secret key file %s does not decode as hex", path);
    }
    slate_keys_derive(secret, out);
    sodium_memzero(secret, sizeof secret);
    return 0;
}

/*
 * keys.c: the worker's keys, loaded exactly as slate-worker loads them, and
 * `slatectl public-key`.
 *
 * slatectl needs the keys for two things only: printing the public key a
 * web tier seals tokens with, and sealing the token of `enqueue connect`
 * itself, so that no plaintext token ever reaches Redis from slatectl.
 */
#include <getopt.h>
#include <stdio.h>

#include "ctl.h"

const char ctl_help_public_key[] =
    "Usage: slatectl [global options] public-key\n"
    "\n"
    "Prints the X25519 public key (standard base64, 44 characters) that a web\n"
    "tier seals Hetzner API tokens to (crypto_box_seal) before it writes them\n"
    "into a connect job's token_sealed field.  Only the workers, which hold the\n"
    "secret, can open what is sealed to it, so it may be shared freely.\n"
    "\n"
    "The key is derived from SLATE_SECRET_KEY_FILE (--secret-key-file), as the\n"
    "workers derive it; SLATE_DEV_INSECURE_KEY=1 prints the public development\n"
    "key instead (never for production).  Redis is not contacted.\n"
    "\n"
    "Example:\n"
    "  SLATE_SECRET_KEY_FILE=/etc/slate/secret.key slatectl public-key\n";

int ctl_keys_load(struct ctl *c, struct slate_keys *keys)
{
    if (slate_crypto_init() != 0)
        return ctl_fail(c, CTL_USAGE, "libsodium could not be initialised.");
    if (c->cfg.secret_key_file) {
        struct slate_err err = {0};
        if (slate_keys_load(c->cfg.secret_key_file, keys, &err) != 0)
            return ctl_fail(c, CTL_USAGE, "SLATE_SECRET_KEY_FILE: %s", err.msg);
        return CTL_OK;
    }
    if (c->cfg.dev_insecure_key) {
        slate_keys_dev(keys);
        fprintf(stderr, "slatectl: warning: SLATE_DEV_INSECURE_KEY=1: using the PUBLIC "
                        "development key; never use it in production.\n");
        return CTL_OK;
    }
    return ctl_fail(c, CTL_USAGE,
                    "SLATE_SECRET_KEY_FILE is required (or SLATE_DEV_INSECURE_KEY=1 for "
                    "development).");
}

int ctl_public_key(struct ctl *c, int argc, char **argv)
{
    static const struct option lopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        int rc = ctl_opt_common(c, opt, "public-key", ctl_help_public_key, argv);
        if (rc)
            return rc > 0 ? CTL_OK : c->exit;
    }
    if (optind < argc)
        return ctl_fail(c, CTL_USAGE, "public-key takes no arguments (see slatectl public-key --help).");
    struct slate_keys keys;
    if (ctl_keys_load(c, &keys) != CTL_OK)
        return c->exit;
    char b64[SLATE_PUBLIC_KEY_B64_MAX];
    slate_public_key_b64(&keys, b64);
    slate_keys_wipe(&keys);
    printf("%s\n", b64);
    fflush(stdout);
    return CTL_OK;
}

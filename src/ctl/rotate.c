/*
 * rotate.c: `slatectl rotate-key --old-key-file OLD`: every stored token
 * re-encrypted under the current secret (SLATE_SECRET_KEY_FILE), without
 * downtime.
 *
 * Workers running with the new secret and SLATE_PREVIOUS_SECRET_KEY_FILE=OLD
 * open tokens under either key, so this can run while they work.  Each token
 * is replaced by a compare-and-set script: a connect that stored a new token
 * meanwhile is never overwritten.  Tokens that already open with the new key
 * are left alone, so the command can be run again after an interruption.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "slate/alloc.h"

const char ctl_help_rotate_key[] =
    "Usage: slatectl rotate-key --old-key-file FILE\n"
    "\n"
    "Re-encrypts every stored Hetzner API token under the current secret\n"
    "(SLATE_SECRET_KEY_FILE); FILE is the previous secret.  Run it after every\n"
    "worker runs with the new secret and SLATE_PREVIOUS_SECRET_KEY_FILE=FILE;\n"
    "then publish the new public key (slatectl public-key) to the web tier and\n"
    "drop the previous secret.  Safe to run again.\n"
    "\n"
    "Prints how many tokens were re-encrypted, already current, and unreadable.\n"
    "Exit 0 when every token opens with the current secret afterwards, 1 when\n"
    "some token opens with neither secret.\n";

static const char cas_script[] =
    "if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then\n"
    "  redis.call('HSET', KEYS[1], 'token', ARGV[2]) return 1 end\n"
    "return 0\n";

/* "P:{W}:integration:I" -> W and I; false for any other key. */
static bool split_key(const char *prefix, const char *key, char ws[65], char integ[65])
{
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) != 0 || strncmp(key + pl, ":{", 2) != 0)
        return false;
    const char *w = key + pl + 2;
    const char *close = strchr(w, '}');
    if (!close || close - w > 64 || strncmp(close, "}:integration:", 14) != 0)
        return false;
    const char *i = close + 14;
    if (strchr(i, ':') || strlen(i) > 64 || !slate_valid_id(i, strlen(i)) ||
        !slate_valid_id(w, (size_t)(close - w)))
        return false;
    memcpy(ws, w, (size_t)(close - w));
    ws[close - w] = '\0';
    snprintf(integ, 65, "%s", i);
    return true;
}

int ctl_rotate_key(struct ctl *c, int argc, char **argv)
{
    static const struct option lopts[] = {{"old-key-file", required_argument, NULL, 'o'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0, 0, 0, 0}};
    const char *old_file = NULL;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":ho:", lopts, NULL)) != -1) {
        if (opt == 'o') {
            old_file = optarg;
            continue;
        }
        int rc = ctl_opt_common(c, opt, "rotate-key", ctl_help_rotate_key, argv);
        if (rc)
            return rc > 0 ? CTL_OK : c->exit;
    }
    if (optind < argc || !old_file)
        return ctl_fail(c, CTL_USAGE,
                        "rotate-key needs --old-key-file FILE and nothing else "
                        "(see slatectl rotate-key --help).");
    struct slate_keys cur, old;
    if (ctl_keys_load(c, &cur) != CTL_OK)
        return c->exit;
    struct slate_err err = {0};
    if (slate_keys_load(old_file, &old, &err) != 0) {
        slate_keys_wipe(&cur);
        return ctl_fail(c, CTL_USAGE, "--old-key-file: %s", err.msg);
    }
    if (ctl_connect(c) != CTL_OK) {
        slate_keys_wipe(&cur);
        slate_keys_wipe(&old);
        return c->exit;
    }

    char *pattern = slate_asprintf("%s:{*}:integration:*", c->cfg.prefix);
    long rotated = 0, current = 0, unreadable = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = ctl_cmdl(c, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000", NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t k = 0; k < keys->elements; k++) {
            char ws[65], integ[65];
            const char *key = keys->element[k]->str;
            if (!split_key(c->cfg.prefix, key, ws, integ))
                continue;
            redisReply *t = ctl_cmdl(c, "HGET", key, "token", NULL);
            if (!t || t->type != REDIS_REPLY_STRING) {
                if (t)
                    freeReplyObject(t);
                continue;
            }
            char *token = NULL;
            size_t len = 0;
            const char *why = NULL;
            if (slate_token_decrypt(&cur, ws, integ, t->str, t->len, &token, &len, &why) == 0) {
                current++;
            } else if (slate_token_decrypt(&old, ws, integ, t->str, t->len, &token, &len,
                                           &why) == 0) {
                char *sealed = slate_token_encrypt(&cur, ws, integ, token, len);
                redisReply *s = ctl_cmdl(c, "EVAL", cas_script, "1", key, t->str, sealed, NULL);
                if (s && s->type == REDIS_REPLY_INTEGER && s->integer == 1)
                    rotated++;
                else
                    current++; /* replaced meanwhile by a connect, under the new key */
                if (s)
                    freeReplyObject(s);
                slate_free(sealed);
            } else {
                unreadable++;
                fprintf(stderr, "slatectl: the token of %s/%s opens with neither secret\n", ws,
                        integ);
            }
            slate_secret_free(token, len);
            freeReplyObject(t);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && c->exit == CTL_OK);
    slate_free(pattern);
    slate_keys_wipe(&cur);
    slate_keys_wipe(&old);
    if (c->exit != CTL_OK)
        return c->exit;
    printf("re-encrypted %ld, already current %ld, unreadable %ld\n", rotated, current,
           unreadable);
    fflush(stdout);
    return unreadable ? CTL_FAILED : CTL_OK;
}

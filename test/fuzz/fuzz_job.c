/*
 * fuzz_job.c: libFuzzer target for slate_job_parse (include/slate/job.h),
 * the strict parser of a job's stream entry, which anyone who can write to
 * Redis (a web tier, a person with redis-cli, an attacker) controls.
 *
 * Input format: fields separated by '\n'; in each field the first '=' splits
 * the name from the value (no '=': an empty value).  Every other byte,
 * NUL, CR and invalid UTF-8 included, reaches the parser as is, as it would
 * from Redis (values are binary-safe there).  Up to 128 fields are passed,
 * past the parser's own caps.
 *
 * Oracles, besides "no crash, no leak, no sanitizer report":
 *  - the verdict (valid or invalid) equals an independent reference model of
 *    PROTOCOL.md's rules, written here from the document, not from job.c:
 *    known field names only, each once, at most 16 fields, values of at most
 *    1024 bytes of UTF-8; type one of the four; workspace and integration
 *    [A-Za-z0-9_.-]{1,64}; job_id [A-Za-z0-9_.:-]{1,128}; attempt a whole
 *    number (ASCII digits only) from 1; rate_waits / rate_wait_ms whole
 *    numbers; a connect carries exactly one of token and token_sealed, no
 *    other type carries either (a token_sealed with a byte outside the base64
 *    alphabet may be refused at once or kept for unsealing to refuse);
 *  - what is kept is exactly what was sent: identifiers, attempt, tokens
 *    (byte for byte, with their length), and nothing secret survives an
 *    invalid entry (token and token_sealed NULL);
 *  - kept identifiers are always valid, even in an invalid entry (a result
 *    echoes them);
 *  - an invalid entry has a reason: a NUL-terminated sentence of printable
 *    ASCII (it goes into a result and a log line);
 *  - parsing is deterministic, and slate_job_clear leaves no token behind.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slate/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 128
#define ENTRY_ID "1733340000000-7"

static void must(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_job: oracle failed: %s\n", what);
        abort();
    }
}

/* ---- the reference model ---- */

static bool ref_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static bool ref_id(const char *s, size_t n, size_t max, bool colon)
{
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-' || (colon && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

/* A whole number in ASCII digits, no sign, no blanks, nothing after it.
 * Over 23 digits is refused (job.c documents that bound). */
static bool ref_number(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n < 1 || n > 23)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

enum { R_TYPE, R_WORKSPACE, R_INTEGRATION, R_JOB_ID, R_TOKEN_SEALED, R_TOKEN, R_ATTEMPT,
       R_RATE_WAITS, R_RATE_WAIT_MS, R__N };
static const char *const ref_names[R__N] = {"type", "workspace", "integration", "job_id",
                                            "token_sealed", "token", "attempt", "rate_waits",
                                            "rate_wait_ms"};
static const char *const ref_types[4] = {"connect", "sync", "evaluate", "disconnect"};

struct ref {
    bool valid;
    int type;                      /* -1 unknown */
    const char *val[R__N];
    size_t len[R__N];
    int count[R__N];
    uint64_t attempt, rate_waits, rate_wait_ms;
    bool sealed_not_b64;           /* token_sealed holds a byte outside base64 */
};

static void reference(struct ref *r, size_t nf, const char *const *k, const size_t *kl,
                      const char *const *v, const size_t *vl)
{
    memset(r, 0, sizeof *r);
    r->type = -1;
    r->attempt = 1;
    bool ok = nf <= 16;
    for (size_t i = 0; i < nf; i++) {
        int f = -1;
        for (int j = 0; j < R__N; j++) {
            if (kl[i] == strlen(ref_names[j]) && memcmp(k[i], ref_names[j], kl[i]) == 0)
                f = j;
        }
        if (f < 0) {
            ok = false;
            continue;
        }
        if (++r->count[f] > 1)
            ok = false;
        if (vl[i] > 1024 || !ref_utf8((const unsigned char *)v[i], vl[i]))
            ok = false;
        if (r->count[f] == 1) {
            r->val[f] = v[i];
            r->len[f] = vl[i];
        }
    }
    if (r->val[R_TYPE]) {
        for (int t = 0; t < 4; t++) {
            if (r->len[R_TYPE] == strlen(ref_types[t]) &&
                memcmp(r->val[R_TYPE], ref_types[t], r->len[R_TYPE]) == 0)
                r->type = t;
        }
    }
    ok = ok && r->type >= 0;
    ok = ok && r->val[R_WORKSPACE] && ref_id(r->val[R_WORKSPACE], r->len[R_WORKSPACE], 64, false);
    ok = ok && r->val[R_INTEGRATION] &&
         ref_id(r->val[R_INTEGRATION], r->len[R_INTEGRATION], 64, false);
    if (r->val[R_JOB_ID])
        ok = ok && ref_id(r->val[R_JOB_ID], r->len[R_JOB_ID], 128, true);
    if (r->val[R_ATTEMPT])
        ok = ok && ref_number(r->val[R_ATTEMPT], r->len[R_ATTEMPT], 1000000, &r->attempt) &&
             r->attempt >= 1;
    if (r->val[R_RATE_WAITS])
        ok = ok && ref_number(r->val[R_RATE_WAITS], r->len[R_RATE_WAITS], 1000000, &r->rate_waits);
    if (r->val[R_RATE_WAIT_MS])
        ok = ok && ref_number(r->val[R_RATE_WAIT_MS], r->len[R_RATE_WAIT_MS], 1000000000000ULL,
                              &r->rate_wait_ms);
    if (r->val[R_TOKEN_SEALED]) {
        for (size_t i = 0; i < r->len[R_TOKEN_SEALED]; i++) {
            char c = r->val[R_TOKEN_SEALED][i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '='))
                r->sealed_not_b64 = true;
        }
    }
    int tokens = (r->count[R_TOKEN] > 0) + (r->count[R_TOKEN_SEALED] > 0);
    if (r->type == 0)
        ok = ok && tokens == 1;
    else
        ok = ok && tokens == 0;
    r->valid = ok;
}

/* ---- checks of the parser's output ---- */

/* The fields the parser may see (set before check()). */
static struct {
    size_t n;
    const char *const *k, *const *v;
    const size_t *kl, *vl;
} in;

static bool same(const char *a, const char *b, size_t bl)
{
    return strlen(a) == bl && memcmp(a, b, bl) == 0;
}

/* Whether `kept` is the value of one of the fields named name[f] (when a
 * field is repeated, the entry is invalid, and any of them may be kept). */
static bool was_sent(const char *kept, int f)
{
    for (size_t i = 0; i < in.n; i++) {
        if (in.kl[i] == strlen(ref_names[f]) && memcmp(in.k[i], ref_names[f], in.kl[i]) == 0 &&
            same(kept, in.v[i], in.vl[i]))
            return true;
    }
    return false;
}

static void check_id_field(const char *kept, int f, size_t max, bool colon)
{
    size_t n = strnlen(kept, max + 1);
    must(n <= max, "a kept identifier is NUL-terminated within its size");
    if (n == 0)
        return;
    must(ref_id(kept, n, max, colon), "a kept identifier is valid");
    must(was_sent(kept, f), "a kept identifier is the one sent");
}

static void check(const struct slate_job *job, const struct ref *r)
{
    /* token_sealed is base64: a parser may refuse other bytes at once, or
     * keep them (byte for byte) for the unsealing to refuse. */
    bool either = r->valid && job->invalid && r->sealed_not_b64;
    if (job->invalid != !r->valid && !either) {
        fprintf(stderr, "fuzz_job: parser says %s, the reference says %s (reason: %s)\n",
                job->invalid ? "invalid" : "valid", r->valid ? "valid" : "invalid",
                job->invalid ? job->reason : "-");
        abort();
    }
    must(strcmp(job->entry_id, ENTRY_ID) == 0, "entry id kept");
    check_id_field(job->workspace, R_WORKSPACE, 64, false);
    check_id_field(job->integration, R_INTEGRATION, 64, false);
    if (job->job_id_given) {
        check_id_field(job->job_id, R_JOB_ID, 128, true);
        must(job->job_id[0] != '\0', "a given job_id is not empty");
    } else {
        must(strcmp(job->job_id, ENTRY_ID) == 0, "job_id defaults to the entry id");
    }
    if (job->type_valid) {
        must((unsigned)job->type < SLATE_JOB__COUNT, "type in range");
        must(was_sent(ref_types[job->type], R_TYPE), "the kept type is the one sent");
    }
    must(job->attempt >= 1, "attempt >= 1");
    must(job->rate_waits >= 0 && job->rate_wait_ms >= 0, "rate fields non-negative");
    must(job->has_token_field == (r->count[R_TOKEN] + r->count[R_TOKEN_SEALED] > 0),
         "has_token_field says whether a token field was present");

    if (job->invalid) {
        size_t n = strnlen(job->reason, sizeof job->reason);
        must(n > 0 && n < sizeof job->reason, "an invalid entry has a reason");
        for (size_t i = 0; i < n; i++)
            must(job->reason[i] >= 0x20 && job->reason[i] < 0x7f, "the reason is printable ASCII");
        must(job->token == NULL && job->token_sealed == NULL,
             "no secret is kept from an invalid entry");
        return;
    }
    must(job->type_valid && (int)job->type == r->type, "a valid entry has its type");
    must(job->workspace[0] && job->integration[0], "a valid entry has its identifiers");
    must(job->job_id_given == (r->val[R_JOB_ID] != NULL), "job_id_given");
    must((uint64_t)job->attempt == r->attempt, "attempt is the number sent (default 1)");
    must((uint64_t)job->rate_waits == r->rate_waits, "rate_waits is the number sent");
    must((uint64_t)job->rate_wait_ms == r->rate_wait_ms, "rate_wait_ms is the number sent");
    if (job->type == SLATE_JOB_CONNECT) {
        if (r->val[R_TOKEN]) {
            must(job->token && !job->token_sealed, "a plain token is kept alone");
            must(job->token_len == r->len[R_TOKEN] &&
                     memcmp(job->token, r->val[R_TOKEN], job->token_len) == 0,
                 "the plain token is kept byte for byte");
        } else {
            must(job->token_sealed && !job->token, "a sealed token is kept alone");
            must(same(job->token_sealed, r->val[R_TOKEN_SEALED], r->len[R_TOKEN_SEALED]),
                 "token_sealed is kept byte for byte");
        }
    } else {
        must(!job->token && !job->token_sealed, "only a connect keeps a token");
    }
}

static bool same_job(const struct slate_job *a, const struct slate_job *b)
{
    return a->invalid == b->invalid && strcmp(a->reason, b->reason) == 0 &&
           a->type_valid == b->type_valid && (!a->type_valid || a->type == b->type) &&
           strcmp(a->workspace, b->workspace) == 0 && strcmp(a->integration, b->integration) == 0 &&
           strcmp(a->job_id, b->job_id) == 0 && a->attempt == b->attempt &&
           a->rate_waits == b->rate_waits && a->rate_wait_ms == b->rate_wait_ms &&
           (a->token == NULL) == (b->token == NULL) &&
           (a->token_sealed == NULL) == (b->token_sealed == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Each field in its own heap block, so that ASan sees any read past a
     * field's length. */
    char *kbuf[MAX_FIELDS], *vbuf[MAX_FIELDS];
    const char *keys[MAX_FIELDS], *vals[MAX_FIELDS];
    size_t klens[MAX_FIELDS], vlens[MAX_FIELDS];
    size_t nf = 0;
    size_t pos = 0;
    while (pos <= size && nf < MAX_FIELDS) {
        const uint8_t *line = data + pos;
        const uint8_t *nl = memchr(line, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - line) : size - pos;
        const uint8_t *eq = memchr(line, '=', len);
        size_t kl = eq ? (size_t)(eq - line) : len;
        size_t vl = eq ? len - kl - 1 : 0;
        kbuf[nf] = malloc(kl ? kl : 1);
        vbuf[nf] = malloc(vl ? vl : 1);
        if (kl)
            memcpy(kbuf[nf], line, kl);
        if (vl)
            memcpy(vbuf[nf], eq + 1, vl);
        keys[nf] = kbuf[nf];
        vals[nf] = vbuf[nf];
        klens[nf] = kl;
        vlens[nf] = vl;
        nf++;
        if (!nl)
            break;
        pos += len + 1;
    }
    /* An empty input is an entry without fields. */
    if (size == 0) {
        free(kbuf[0]);
        free(vbuf[0]);
        nf = 0;
    }

    /* The worker never passes more than 64 fields (start_entry caps them);
     * the reference sees what the parser may see. */
    size_t seen = nf < 64 ? nf : 64;
    struct ref r;
    reference(&r, seen, keys, klens, vals, vlens);
    in.n = seen;
    in.k = keys;
    in.v = vals;
    in.kl = klens;
    in.vl = vlens;
    if (nf > 16)
        r.valid = false;

    struct slate_job job, again;
    slate_job_parse(&job, ENTRY_ID, nf, keys, klens, vals, vlens);
    check(&job, &r);
    slate_job_parse(&again, ENTRY_ID, nf, keys, klens, vals, vlens);
    must(same_job(&job, &again), "parsing is deterministic");
    slate_job_clear(&again);

    slate_job_clear(&job);
    must(job.token == NULL && job.token_sealed == NULL, "slate_job_clear drops the tokens");
    slate_job_clear(&job); /* twice is harmless */

    for (size_t i = 0; i < nf; i++) {
        free(kbuf[i]);
        free(vbuf[i]);
    }
    return 0;
}

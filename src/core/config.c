/*
 * config.c: environment + flags, from one table.
 *
 * Each row names the flag, the variable, the kind of value, its default and
 * bounds.  Loading is two passes over the table: environment first, then the
 * flags; validation of cross-field rules (the prefix's character set) last.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slate/alloc.h"
#include "slate/config.h"
#include "slate/util.h"

enum kind { K_STR, K_BOOL, K_INT };

struct opt {
    const char *flag;
    const char *env;
    enum kind kind;
    size_t off;
    const char *def;
    int64_t min, max;
    const char *help;
};

#define S(f) offsetof(struct slate_config, f)
static const struct opt opts[] = {
    {"redis-url", "SLATE_REDIS_URL", K_STR, S(redis_url), "redis://127.0.0.1:6379/0", 0, 0,
     "Redis to use: redis://[:password@]host:port/db or unix:///path"},
    {"prefix", "SLATE_PREFIX", K_STR, S(prefix), "slate", 0, 0,
     "key prefix, [A-Za-z0-9_.-]{1,32}"},
    {"hetzner-url", "SLATE_HETZNER_URL", K_STR, S(hetzner_url), "https://api.hetzner.cloud/v1", 0, 0,
     "Hetzner Cloud API base URL (http:// only to loopback)"},
    {"insecure-http", "SLATE_HETZNER_INSECURE_HTTP", K_BOOL, S(insecure_http), "0", 0, 1,
     "allow plain http:// to a non-loopback API host"},
    {"ca-file", "SLATE_CA_FILE", K_STR, S(ca_file), NULL, 0, 0,
     "CA bundle for TLS to the API (default: system store)"},
    {"secret-key-file", "SLATE_SECRET_KEY_FILE", K_STR, S(secret_key_file), NULL, 0, 0,
     "the shared secret: 64 hex characters, mode 0600 or stricter"},
    {"dev-insecure-key", "SLATE_DEV_INSECURE_KEY", K_BOOL, S(dev_insecure_key), "0", 0, 1,
     "use a fixed development key (never in production)"},
    {"consumer", "SLATE_CONSUMER", K_STR, S(consumer), NULL, 0, 0,
     "consumer name in the group (default: host-pid)"},
    {"log-level", "SLATE_LOG_LEVEL", K_STR, S(log_level), "info", 0, 0,
     "debug, info, warn or error"},
    {"metrics-addr", "SLATE_METRICS_ADDR", K_STR, S(metrics_addr), "127.0.0.1:9464", 0, 0,
     "HOST:PORT of /metrics, /healthz and /readyz; \"off\" disables"},
    {"previous-secret-key-file", "SLATE_PREVIOUS_SECRET_KEY_FILE", K_STR,
     S(previous_secret_key_file), NULL, 0, 0,
     "during a key rotation: the old secret, still accepted for opening tokens"},
    {"concurrency", "SLATE_CONCURRENCY", K_INT, S(concurrency), "64", 1, 4096,
     "jobs in flight per worker"},
    {"visibility-timeout-ms", "SLATE_VISIBILITY_TIMEOUT_MS", K_INT, S(visibility_timeout_ms), "60000", 300, 86400000,
     "a job not heartbeated this long is taken over"},
    {"max-attempts", "SLATE_MAX_ATTEMPTS", K_INT, S(max_attempts), "5", 1, 1000,
     "attempts before a job goes to the dead stream"},
    {"retry-base-ms", "SLATE_RETRY_BASE_MS", K_INT, S(retry_base_ms), "1000", 1, 3600000,
     "first delay between attempts"},
    {"http-retries", "SLATE_HTTP_RETRIES", K_INT, S(http_retries), "2", 0, 10,
     "retries of one API request inside an attempt"},
    {"drain-timeout-ms", "SLATE_DRAIN_TIMEOUT_MS", K_INT, S(drain_timeout_ms), "30000", 0, 3600000,
     "how long SIGTERM waits for jobs in flight"},
    {"freshness-s", "SLATE_FRESHNESS_S", K_INT, S(freshness_s), "86400", 1, 31536000,
     "age of the last sync before hetzner.cloud_linked fails"},
    {"results-maxlen", "SLATE_RESULTS_MAXLEN", K_INT, S(results_maxlen), "100000", 1, INT64_MAX,
     "approximate cap of the results stream"},
    {"dead-maxlen", "SLATE_DEAD_MAXLEN", K_INT, S(dead_maxlen), "100000", 1, INT64_MAX,
     "approximate cap of the dead stream"},
    {"read-block-ms", "SLATE_READ_BLOCK_MS", K_INT, S(read_block_ms), "2000", 10, 60000,
     "how long one XREADGROUP blocks"},
    {"redis-timeout-ms", "SLATE_REDIS_TIMEOUT_MS", K_INT, S(redis_timeout_ms), "15000", 50, 600000,
     "Redis connect and command timeout (a command unanswered this long drops the connection)"},
    {"http-connect-timeout-ms", "SLATE_HTTP_CONNECT_TIMEOUT_MS", K_INT, S(http_connect_timeout_ms), "10000", 10, 600000,
     "API connect timeout"},
    {"http-timeout-ms", "SLATE_HTTP_TIMEOUT_MS", K_INT, S(http_timeout_ms), "60000", 10, 3600000,
     "API request timeout, whole transfer"},
    {"http-low-speed-s", "SLATE_HTTP_LOW_SPEED_S", K_INT, S(http_low_speed_s), "15", 1, 3600,
     "abort a transfer that receives nothing for this long"},
    {"http-max-body", "SLATE_HTTP_MAX_BODY", K_INT, S(http_max_body), "33554432", 4096, 4294967296,
     "largest API response body accepted, bytes"},
    {"http-max-conns-host", "SLATE_HTTP_MAX_CONNS_HOST", K_INT, S(http_max_conns_host), "64", 1, 10000,
     "connections to the API host at once"},
    {"http-max-conns", "SLATE_HTTP_MAX_CONNS", K_INT, S(http_max_conns), "128", 1, 10000,
     "connections in total"},
    {"page-concurrency", "SLATE_PAGE_CONCURRENCY", K_INT, S(page_concurrency), "4", 1, 64,
     "pages of one collection fetched at once"},
    {"sync-hold-bytes", "SLATE_SYNC_HOLD_BYTES", K_INT, S(sync_hold_bytes), "8388608", 0, 1073741824,
     "memory for small projects' pages kept for their commit instead of staged in Redis (0: stage all)"},
    {"ssh-broad-ipv4", "SLATE_SSH_BROAD_IPV4_PREFIX", K_INT, S(ssh_broad_ipv4), "8", 0, 32,
     "an allowed IPv4 range this wide (/N) counts as the internet"},
    {"ssh-broad-ipv6", "SLATE_SSH_BROAD_IPV6_PREFIX", K_INT, S(ssh_broad_ipv6), "32", 0, 128,
     "an allowed IPv6 range this wide (/N) counts as the internet"},
    {"sync-interval-s", "SLATE_SYNC_INTERVAL_S", K_INT, S(sync_interval_s), "3600", 0, 31536000,
     "every connected integration is synced this often (0: no scheduled syncs)"},
    {"max-deliveries", "SLATE_MAX_DELIVERIES", K_INT, S(max_deliveries), "3", 1, 1000,
     "an entry taken over more often than this is poison and goes to the dead stream"},
};
#undef S
#define NOPTS (sizeof opts / sizeof opts[0])

static int set_value(struct slate_config *cfg, const struct opt *o, const char *v,
                     const char *source, char *errbuf, size_t errlen)
{
    char *base = (char *)cfg;
    switch (o->kind) {
    case K_STR: {
        char **slot = (char **)(base + o->off);
        slate_free(*slot);
        *slot = v ? slate_strdup(v) : NULL;
        return 0;
    }
    case K_BOOL: {
        bool *slot = (bool *)(base + o->off);
        if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
            *slot = true;
        else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
                 *v == '\0')
            *slot = false;
        else {
            snprintf(errbuf, errlen, "%s must be 0 or 1, not '%.40s'", source, v);
            return -1;
        }
        return 0;
    }
    case K_INT: {
        int64_t *slot = (int64_t *)(base + o->off);
        int64_t n;
        if (!slate_parse_i64(v, &n) || n < o->min || n > o->max) {
            snprintf(errbuf, errlen, "%s must be a whole number from %lld to %lld, not '%.40s'",
                     source, (long long)o->min, (long long)o->max, v);
            return -1;
        }
        *slot = n;
        return 0;
    }
    }
    return -1;
}

void slate_config_print_help(FILE *out)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        fprintf(out, "  --%s%s\n      %s (env %s%s%s)\n", o->flag,
                o->kind == K_BOOL ? "[=0|1]" : "=VALUE", o->help, o->env,
                o->def ? ", default " : "", o->def ? o->def : "");
    }
}

int slate_config_load(struct slate_config *cfg, int argc, char **argv, int *first_arg,
                      FILE *out, const char *usage, char *errbuf, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].def && set_value(cfg, &opts[i], opts[i].def, opts[i].env, errbuf, errlen))
            return -1;
    }
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(opts[i].env);
        if (v && set_value(cfg, &opts[i], v, opts[i].env, errbuf, errlen))
            return -1;
    }

    struct option lopts[NOPTS + 2];
    for (size_t i = 0; i < NOPTS; i++) {
        lopts[i] = (struct option){opts[i].flag,
                                   opts[i].kind == K_BOOL ? optional_argument : required_argument,
                                   NULL, (int)(1000 + i)};
    }
    lopts[NOPTS] = (struct option){"help", no_argument, NULL, 'h'};
    lopts[NOPTS + 1] = (struct option){0, 0, 0, 0};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+h", lopts, NULL);
        if (c == -1)
            break;
        if (c == 'h') {
            fprintf(out, "%s\nOptions (each also read from its environment variable):\n", usage);
            slate_config_print_help(out);
            return 1;
        }
        if (c < 1000 || c >= 1000 + (int)NOPTS) {
            snprintf(errbuf, errlen, "unknown or incomplete option '%.60s' (see --help)",
                     argv[optind - 1]);
            return -1;
        }
        const struct opt *o = &opts[c - 1000];
        char source[64];
        snprintf(source, sizeof source, "--%s", o->flag);
        if (set_value(cfg, o, optarg ? optarg : "1", source, errbuf, errlen))
            return -1;
    }
    if (first_arg)
        *first_arg = optind;

    if (!slate_valid_prefix(cfg->prefix)) {
        snprintf(errbuf, errlen, "SLATE_PREFIX must match [A-Za-z0-9_.-]{1,32}");
        return -1;
    }
    if (cfg->consumer && (!slate_valid_job_id(cfg->consumer, strlen(cfg->consumer)))) {
        snprintf(errbuf, errlen, "SLATE_CONSUMER must match [A-Za-z0-9_.:-]{1,128}");
        return -1;
    }
    if (!cfg->consumer) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        for (char *p = host; *p; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
                *p = '_';
        }
        cfg->consumer = slate_asprintf("%s-%ld", host, (long)getpid());
    }
    return 0;
}

void slate_config_free(struct slate_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].kind == K_STR) {
            char **slot = (char **)((char *)cfg + opts[i].off);
            slate_free(*slot);
            *slot = NULL;
        }
    }
}

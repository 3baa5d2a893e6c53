/*
 * config.h: the worker's and slatectl's configuration.
 *
 * Every setting has an environment variable (PROTOCOL.md's names) and a flag
 * that overrides it; the table in config.c is the single source of names,
 * defaults, bounds and --help text.  A bad value stops the program at start
 * with a sentence naming the variable.
 */
#ifndef SLATE_CONFIG_H
#define SLATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct slate_config {
    char *redis_url;
    char *prefix;
    char *hetzner_url;
    bool insecure_http;
    char *ca_file;
    char *secret_key_file;
    bool dev_insecure_key;
    char *consumer;              /* consumer name; default host-pid */
    char *log_level;
    char *metrics_addr;          /* "127.0.0.1:9464"; "off" disables */
    char *previous_secret_key_file; /* during a key rotation */

    int64_t concurrency;
    int64_t visibility_timeout_ms;
    int64_t max_attempts;
    int64_t retry_base_ms;
    int64_t http_retries;
    int64_t drain_timeout_ms;
    int64_t freshness_s;
    int64_t results_maxlen;
    int64_t dead_maxlen;

    int64_t read_block_ms;       /* XREADGROUP BLOCK */
    int64_t redis_timeout_ms;    /* connect and command timeout */
    int64_t http_connect_timeout_ms;
    int64_t http_timeout_ms;     /* total per request */
    int64_t http_low_speed_s;    /* abort below 1 byte/s for this long */
    int64_t http_max_body;       /* bytes per response body */
    int64_t http_max_conns_host;
    int64_t http_max_conns;
    int64_t page_concurrency;    /* pages of one collection fetched at once */
    int64_t sync_hold_bytes;     /* pages kept for the commit, worker-wide */
    int64_t ssh_broad_ipv4;
    int64_t ssh_broad_ipv6;
    int64_t sync_interval_s;     /* scheduled syncs; 0: none */
    int64_t max_deliveries;      /* deliveries of one entry before it is poison */
};

/* Fills cfg from the environment, then from argv (flags override).  Returns
 * 0, 1 when --help was printed (to `out`), or -1 with a sentence in errbuf.
 * `argv` is consumed up to the first non-flag argument; its index is returned
 * in *first_arg (may be NULL). */
int slate_config_load(struct slate_config *cfg, int argc, char **argv, int *first_arg,
                      FILE *out, const char *usage, char *errbuf, size_t errlen);
void slate_config_free(struct slate_config *cfg);
/* Prints the options table (flags, variables, defaults). */
void slate_config_print_help(FILE *out);

#endif

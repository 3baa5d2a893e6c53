/*
 * main.c: slate-worker's wiring only: configuration, keys, the loop, the
 * signals, the worker, and an orderly exit in which every handle is closed
 * so that uv_loop_close() succeeds.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "slate/alloc.h"
#include "slate/config.h"
#include "slate/crypto.h"
#include "slate/log.h"
#include "slate/worker.h"

static const char usage[] =
    "Usage: slate-worker [options]\n"
    "\n"
    "Runs SecureSlate's Hetzner Cloud jobs (connect, sync, evaluate, disconnect)\n"
    "from the Redis stream <prefix>:{q}:jobs and writes one result per attempt to\n"
    "<prefix>:{q}:results.  SIGTERM or SIGINT drains the jobs in flight and exits 0.\n"
    "See docs/protocol.md for the Redis contract.\n";

struct app {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct slate_worker *worker;
    bool stopping;
};

static void on_worker_done(void *data)
{
    struct app *app = data;
    app->worker = NULL;
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct app *app = s->data;
    if (app->stopping) {
        slate_warn("second signal: exiting without draining");
        exit(1);
    }
    app->stopping = true;
    slate_info("signal received, draining", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    slate_worker_shutdown(app->worker, on_worker_done, app);
}

int main(int argc, char **argv)
{
    struct slate_config cfg;
    char errbuf[256];
    int first = argc;
    slate_alloc_tune();
    int rc = slate_config_load(&cfg, argc, argv, &first, stdout, usage, errbuf, sizeof errbuf);
    if (rc == 0 && first < argc) {
        /* A stray word is a mistake (`--dev-insecure-key 0` for `=0`),
         * never something to ignore. */
        snprintf(errbuf, sizeof errbuf,
                 "unexpected argument '%.60s' (flags take their value as --flag=VALUE; see --help)",
                 argv[first]);
        rc = -1;
    }
    if (rc == 1) {
        slate_config_free(&cfg);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "slate-worker: %s\n", errbuf);
        slate_config_free(&cfg);
        return 2;
    }
    enum slate_log_level level;
    if (slate_log_parse_level(cfg.log_level, &level) != 0) {
        fprintf(stderr, "slate-worker: SLATE_LOG_LEVEL must be debug, info, warn or error\n");
        slate_config_free(&cfg);
        return 2;
    }
    slate_log_set_level(level);

    struct slate_keys keys;
    struct slate_err err = {0};
    if (slate_crypto_init() != 0) {
        fprintf(stderr, "slate-worker: libsodium could not be initialised\n");
        return 2;
    }
    if (cfg.secret_key_file) {
        if (slate_keys_load(cfg.secret_key_file, &keys, &err) != 0) {
            fprintf(stderr, "slate-worker: SLATE_SECRET_KEY_FILE: %s\n", err.msg);
            slate_config_free(&cfg);
            return 2;
        }
    } else if (cfg.dev_insecure_key) {
        slate_keys_dev(&keys);
        slate_warn("SLATE_DEV_INSECURE_KEY=1: using the PUBLIC development key; tokens stored "
                   "now can be read by anyone. Never use this in production.");
    } else {
        fprintf(stderr, "slate-worker: SLATE_SECRET_KEY_FILE is required (or "
                        "SLATE_DEV_INSECURE_KEY=1 for development)\n");
        slate_config_free(&cfg);
        return 2;
    }

    struct slate_keys prev_keys;
    bool have_prev = false;
    if (cfg.previous_secret_key_file) {
        if (slate_keys_load(cfg.previous_secret_key_file, &prev_keys, &err) != 0) {
            fprintf(stderr, "slate-worker: SLATE_PREVIOUS_SECRET_KEY_FILE: %s\n", err.msg);
            slate_keys_wipe(&keys);
            slate_config_free(&cfg);
            return 2;
        }
        have_prev = true;
        slate_info("key rotation: the previous secret still opens tokens sealed with it");
    }

    signal(SIGPIPE, SIG_IGN);
    struct app app = {0};
    uv_loop_init(&app.loop);
    app.worker = slate_worker_new(&app.loop, &cfg, &keys, have_prev ? &prev_keys : NULL, &err);
    if (!app.worker) {
        fprintf(stderr, "slate-worker: %s\n", err.msg);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        uv_loop_close(&app.loop);
        slate_keys_wipe(&keys);
        if (have_prev)
            slate_keys_wipe(&prev_keys);
        slate_config_free(&cfg);
        return 2;
    }
    uv_signal_init(&app.loop, &app.sigterm);
    uv_signal_init(&app.loop, &app.sigint);
    app.sigterm.data = app.sigint.data = &app;
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);

    uv_run(&app.loop, UV_RUN_DEFAULT);
    int close_rc = uv_loop_close(&app.loop);
    slate_keys_wipe(&keys);
    if (have_prev)
        slate_keys_wipe(&prev_keys);
    slate_config_free(&cfg);
    if (close_rc != 0) {
        slate_error("the loop still had open handles at exit", "reason", uv_strerror(close_rc));
        return 3;
    }
    slate_info("exit", "loop_closed", "true");
    return 0;
}

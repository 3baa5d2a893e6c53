/*
 * slatectl.c: the operators' command, wiring only: the shared configuration
 * (the same environment and flags as slate-worker), the command table, and
 * the one place that prints a failure and picks the exit status.
 *
 * Global options come before the command (`slatectl --prefix staging
 * status`); slate_config_load() stops at the first word that is not a flag,
 * and each command then parses its own options (src/ctl/).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "slate/alloc.h"

static const struct ctl_command commands[] = {
    {"status", ctl_status, "the queue (waiting, pending, delayed, dead, results) and the workers",
     ctl_help_status},
    {"watch", ctl_watch, "status, redrawn in place every second until Ctrl-C", ctl_help_watch},
    {"enqueue", ctl_enqueue, "add a job; --wait follows it to its final result", ctl_help_enqueue},
    {"dead", ctl_dead, "list, retry or purge the jobs that gave up", ctl_help_dead},
    {"integration", ctl_integration, "show one integration: sync, rate limit, test results",
     ctl_help_integration},
    {"rotate-key", ctl_rotate_key, "re-encrypt stored tokens under a new secret", ctl_help_rotate_key},
    {"public-key", ctl_public_key, "the public key a web tier seals API tokens to",
     ctl_help_public_key},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char usage[] =
    "Usage: slatectl [global options] COMMAND [command options]\n"
    "\n"
    "The operators' command of slate-worker: looks at the Redis queue the workers\n"
    "serve, enqueues jobs and follows them, retries the jobs that gave up, and\n"
    "shows what the workers stored about an integration.\n"
    "\n"
    "Commands:\n"
    "  status                              the queue and the workers\n"
    "  watch [--interval S]                status, redrawn until Ctrl-C\n"
    "  enqueue TYPE WORKSPACE INTEGRATION  add a job: connect, sync, evaluate or\n"
    "                                      disconnect; --wait follows it\n"
    "  dead list|retry|purge               the jobs that gave up\n"
    "  integration show WORKSPACE INTEGRATION\n"
    "                                      one integration and its test results\n"
    "  public-key                          the key a web tier seals tokens to\n"
    "  rotate-key --old-key-file FILE      re-encrypt stored tokens under a new secret\n"
    "  help [COMMAND]                      this text, or a command's own help\n"
    "\n"
    "Every command has --help (`slatectl enqueue --help`).  status, dead list and\n"
    "integration show also print JSON with --json.\n"
    "\n"
    "Exit status: 0 success; 1 the operation's outcome was a failure (the job\n"
    "failed or went dead, nothing to retry, no such integration); 2 usage or\n"
    "configuration error; 3 Redis unreachable.\n"
    "\n"
    "slatectl reads the same environment as slate-worker; those that matter here:\n"
    "SLATE_REDIS_URL, SLATE_PREFIX, SLATE_REDIS_TIMEOUT_MS, SLATE_SECRET_KEY_FILE\n"
    "or SLATE_DEV_INSECURE_KEY (enqueue connect, public-key), and\n"
    "SLATE_VISIBILITY_TIMEOUT_MS (when a worker counts as stale).  Global options\n"
    "go before the command.  See also slatectl(1).\n";

int ctl_opt_common(struct ctl *c, int opt, const char *cmd, const char *help, char **argv)
{
    switch (opt) {
    case 'h':
        fputs(help, stdout);
        fflush(stdout);
        return 1;
    case ':':
        ctl_fail(c, CTL_USAGE, "%s: option '%.60s' needs a value (see slatectl %s --help).", cmd,
                 argv[optind - 1], cmd);
        return -1;
    case '?':
        ctl_fail(c, CTL_USAGE, "%s: unknown option '%.60s'; global options such as --prefix go "
                               "before the command (see slatectl %s --help).",
                 cmd, argv[optind - 1], cmd);
        return -1;
    default:
        return 0;
    }
}

static const struct ctl_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int help_command(struct ctl *c, int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stdout);
        fputs("\nGlobal options (each also read from its environment variable):\n", stdout);
        slate_config_print_help(stdout);
        return CTL_OK;
    }
    const struct ctl_command *cmd = find_command(argv[1]);
    if (!cmd)
        return ctl_fail(c, CTL_USAGE, "There is no command '%.40s' (see slatectl --help).",
                        argv[1]);
    fputs(cmd->help, stdout);
    return CTL_OK;
}

int main(int argc, char **argv)
{
    struct ctl c;
    memset(&c, 0, sizeof c);
    /* A reader that goes away (`slatectl dead list | head`) ends us quietly
     * with EPIPE on the next write instead of a signal mid-command. */
    signal(SIGPIPE, SIG_IGN);
    char errbuf[256];
    int first = argc;
    int rc = slate_config_load(&c.cfg, argc, argv, &first, stdout, usage, errbuf, sizeof errbuf);
    if (rc == 1) {
        slate_config_free(&c.cfg);
        return CTL_OK;
    }
    if (rc != 0) {
        ctl_fail(&c, CTL_USAGE, "%s.", errbuf);
        goto out;
    }
    ctl_init_keys(&c);
    if (first >= argc) {
        ctl_fail(&c, CTL_USAGE, "No command given: try slatectl status, or slatectl --help.");
        goto out;
    }
    const char *name = argv[first];
    if (strcmp(name, "help") == 0) {
        help_command(&c, argc - first, argv + first);
        goto out;
    }
    const struct ctl_command *cmd = find_command(name);
    if (!cmd) {
        ctl_fail(&c, CTL_USAGE, "There is no command '%.40s' (see slatectl --help).", name);
        goto out;
    }
    int code = cmd->run(&c, argc - first, argv + first);
    if (code != CTL_OK && c.exit == CTL_OK)
        ctl_fail(&c, code, "%s failed.", name);

out:
    fflush(stdout);
    rc = c.exit;
    if (rc != CTL_OK) {
        /* One sentence, made safe for the terminal: it may quote Redis. */
        struct slate_buf b;
        slate_buf_init(&b);
        slate_buf_puts(&b, "slatectl: ");
        ctl_buf_text(&b, c.err, strlen(c.err));
        slate_buf_puts(&b, "\n");
        fputs(b.data, stderr);
        slate_buf_free(&b);
    }
    ctl_free(&c);
    return rc;
}

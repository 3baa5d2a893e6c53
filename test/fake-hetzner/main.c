/*
 * main.c - fake-hetzner command line.
 *
 *   fake-hetzner --listen HOST:PORT --projects FILE [--request-log FILE]
 *                [--threads N]
 *
 * Start-up: parse flags and the projects file (any error: message on stderr,
 * exit 2), block SIGINT/SIGTERM in every thread, bind the listening socket
 * ourselves (so port 0 works and we can read the port back), start the
 * timer thread and the MHD daemon, print "listening on PORT" and wait for a
 * signal with sigwait().  Shutdown resumes every suspended connection (MHD
 * requires that before MHD_stop_daemon), stops the daemon and frees
 * everything, then exits 0.  Runtime failures (bind, thread start) exit 1.
 */
#include "fake.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: fake-hetzner --listen HOST:PORT --projects FILE "
            "[--request-log FILE] [--threads N]\n");
}

struct options {
    const char *listen;
    const char *projects;
    const char *request_log;
    long threads;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = ncpu < 2 ? 2 : ncpu > 64 ? 64 : ncpu;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        const char *names[] = { "--listen", "--projects", "--request-log", "--threads" };
        int which = -1;
        for (int k = 0; k < 4; k++) {
            size_t n = strlen(names[k]);
            if (strcmp(a, names[k]) == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "fake-hetzner: %s needs a value\n", a);
                    return -1;
                }
                which = k;
                val = argv[++i];
            } else if (strncmp(a, names[k], n) == 0 && a[n] == '=') {
                which = k;
                val = a + n + 1;
            }
        }
        if (which < 0) {
            if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                usage();
                exit(0);
            }
            fprintf(stderr, "fake-hetzner: unknown argument \"%s\"\n", a);
            return -1;
        }
        switch (which) {
        case 0: o->listen = val; break;
        case 1: o->projects = val; break;
        case 2: o->request_log = val; break;
        default:
            if (parse_long(val, 1, 256, &o->threads) != 0) {
                fprintf(stderr, "fake-hetzner: --threads wants 1..256\n");
                return -1;
            }
        }
    }
    if (o->listen == NULL || o->projects == NULL) {
        fprintf(stderr, "fake-hetzner: --listen and --projects are required\n");
        return -1;
    }
    return 0;
}

/* Splits HOST:PORT or [V6]:PORT. */
static int split_listen(const char *s, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon;
    const char *h = s;
    size_t n;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        n = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        n = (size_t)(colon - s);
    }
    long p;
    if (n == 0 || n >= hl || parse_long(colon + 1, 0, 65535, &p) != 0)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, pl, "%ld", p);
    return 0;
}

static int open_listener(const char *host, const char *port, int *out_port)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "fake-hetzner: cannot resolve %s: %s\n", host,
                gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    int err = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "fake-hetzner: cannot listen on %s:%s: %s\n", host, port,
                strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        fprintf(stderr, "fake-hetzner: getsockname: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        *out_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *out_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "fake-hetzner: cannot raise the open-file limit\n");
    }
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_args(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    char host[256], port[16];
    if (split_listen(o.listen, host, sizeof host, port, sizeof port) != 0) {
        fprintf(stderr, "fake-hetzner: --listen wants HOST:PORT, got \"%s\"\n",
                o.listen);
        return 2;
    }
    struct projects ps;
    char err[600];
    if (projects_load(o.projects, &ps, err, sizeof err) != 0) {
        fprintf(stderr, "fake-hetzner: %s\n", err);
        return 2;
    }
    if (reqlog_open(o.request_log) != 0) {
        fprintf(stderr, "fake-hetzner: cannot open request log %s: %s\n",
                o.request_log, strerror(errno));
        projects_free(&ps);
        return 2;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 ||
        signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "fake-hetzner: cannot set up signals\n");
        reqlog_close();
        projects_free(&ps);
        return 1;
    }
    raise_fd_limit();

    int rc = 1;
    int bound_port = 0;
    int fd = open_listener(host, port, &bound_port);
    if (fd < 0)
        goto out;
    if (timer_start() != 0) {
        fprintf(stderr, "fake-hetzner: cannot start the timer thread\n");
        close(fd);
        goto out;
    }
    struct MHD_Daemon *d = http_start(fd, &ps, (unsigned)o.threads);
    if (d == NULL) {
        fprintf(stderr, "fake-hetzner: cannot start the HTTP daemon\n");
        close(fd);
        timer_stop();
        goto out;
    }
    printf("listening on %d\n", bound_port);
    if (fflush(stdout) != 0)
        fprintf(stderr, "fake-hetzner: cannot write to stdout\n");

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    /* Resume every suspended connection, give the workers a moment to run
     * them, then stop (MHD_stop_daemon closes the listening socket). */
    timer_drain();
    struct timespec pause = { 0, 100 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    MHD_stop_daemon(d);
    timer_stop();
    rc = 0;
out:
    reqlog_close();
    projects_free(&ps);
    return rc;
}

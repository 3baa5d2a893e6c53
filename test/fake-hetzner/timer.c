/*
 * timer.c - resumes suspended MHD connections when their delay is over.
 *
 * Delays (latency_ms) and stalls (stall) suspend the connection with
 * MHD_suspend_connection() instead of sleeping, so a worker thread is never
 * blocked: thousands of delayed requests cost one heap entry each.  A single
 * thread sleeps on a condition variable (CLOCK_MONOTONIC) until the earliest
 * deadline and calls MHD_resume_connection().
 *
 * Lock order: our mutex, then MHD's internal one (suspend and resume are both
 * called with ours held), never the other way round.  Once timer_drain() has
 * run no connection is suspended any more, which MHD_stop_daemon() requires.
 */
#include "fake.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <time.h>

struct slot {
    double deadline;
    struct MHD_Connection *conn;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_t thread;
static bool started;
static bool stopping;
static bool quit;
static struct slot *heap;
static size_t n, cap;

static void sift_up(size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap[p].deadline <= heap[i].deadline)
            break;
        struct slot t = heap[p];
        heap[p] = heap[i];
        heap[i] = t;
        i = p;
    }
}

static void sift_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && heap[l].deadline < heap[m].deadline)
            m = l;
        if (r < n && heap[r].deadline < heap[m].deadline)
            m = r;
        if (m == i)
            break;
        struct slot t = heap[m];
        heap[m] = heap[i];
        heap[i] = t;
        i = m;
    }
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!quit) {
        double now = mono_now();
        while (n > 0 && heap[0].deadline <= now) {
            struct MHD_Connection *c = heap[0].conn;
            heap[0] = heap[--n];
            sift_down(0);
            MHD_resume_connection(c);
        }
        if (n == 0) {
            pthread_cond_wait(&cv, &mu);
            continue;
        }
        double d = heap[0].deadline;
        struct timespec ts;
        ts.tv_sec = (time_t)d;
        ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = pthread_cond_timedwait(&cv, &mu, &ts);
        (void)rc;   /* ETIMEDOUT or a signal: re-check either way */
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int timer_start(void)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        return -1;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_create(&thread, NULL, run, NULL) != 0) {
        pthread_cond_destroy(&cv);
        return -1;
    }
    started = true;
    return 0;
}

int timer_suspend(struct MHD_Connection *conn, long ms)
{
    pthread_mutex_lock(&mu);
    if (stopping) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    if (n == cap) {
        size_t nc = cap ? cap * 2 : 1024;
        struct slot *nh = realloc(heap, nc * sizeof *nh);
        if (nh == NULL) {
            pthread_mutex_unlock(&mu);
            return -1;
        }
        heap = nh;
        cap = nc;
    }
    MHD_suspend_connection(conn);
    heap[n].deadline = mono_now() + (double)ms / 1000.0;
    heap[n].conn = conn;
    sift_up(n);
    n++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

bool timer_stopping(void)
{
    pthread_mutex_lock(&mu);
    bool s = stopping;
    pthread_mutex_unlock(&mu);
    return s;
}

void timer_drain(void)
{
    pthread_mutex_lock(&mu);
    stopping = true;
    while (n > 0)
        MHD_resume_connection(heap[--n].conn);
    pthread_mutex_unlock(&mu);
}

void timer_stop(void)
{
    if (!started)
        return;
    pthread_mutex_lock(&mu);
    quit = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    pthread_cond_destroy(&cv);
    free(heap);
    heap = NULL;
    n = cap = 0;
    started = false;
}

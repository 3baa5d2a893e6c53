/*
 * reqlog.c - the request log.
 *
 * Every /v1 (and unknown-path) request becomes one JSON object:
 *   {"seq":1,"time":"...","method":"GET","path":"/v1/servers",
 *    "query":"page=1&per_page=50","project":"acme","status":200,
 *    "correlation_id":"..."}
 * kept in a ring of the last RING_CAP entries for GET /_fake/requests and,
 * with --request-log FILE, appended to FILE as one line, flushed per line.
 * One mutex guards everything; formatting a line takes about a microsecond.
 * Entries point at project names, which live as long as the daemon.
 */
#include "fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING_CAP 200000

struct entry {
    uint64_t seq;
    const char *project;
    char *json;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *ring;      /* RING_CAP slots, allocated on first use */
static size_t head;             /* index of the oldest entry */
static size_t count;
static uint64_t next_seq = 1;
static FILE *logfile;

int reqlog_open(const char *path)
{
    if (path == NULL)
        return 0;
    logfile = fopen(path, "a");
    return logfile == NULL ? -1 : 0;
}

void reqlog_close(void)
{
    pthread_mutex_lock(&mu);
    if (logfile != NULL)
        fclose(logfile);
    logfile = NULL;
    for (size_t i = 0; i < count; i++)
        free(ring[(head + i) % RING_CAP].json);
    free(ring);
    ring = NULL;
    head = count = 0;
    pthread_mutex_unlock(&mu);
}

static void format_now(char out[40])
{
    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
        gmtime_r(&ts.tv_sec, &tm) == NULL) {
        snprintf(out, 40, "1970-01-01T00:00:00.000Z");
        return;
    }
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void reqlog_add(const char *method, const char *path, const char *query,
                const char *project, unsigned status, const char *corr_id)
{
    char now[40];
    format_now(now);
    pthread_mutex_lock(&mu);
    if (ring == NULL) {
        ring = calloc(RING_CAP, sizeof *ring);
        if (ring == NULL) {
            pthread_mutex_unlock(&mu);
            return;
        }
    }
    uint64_t seq = next_seq++;
    struct buf b;
    buf_init(&b);
    buf_str(&b, "{\"seq\":");
    buf_u64(&b, seq);
    buf_str(&b, ",\"time\":\"");
    buf_str(&b, now);
    buf_str(&b, "\",\"method\":");
    buf_json_str(&b, method);
    buf_str(&b, ",\"path\":");
    buf_json_str(&b, path);
    buf_str(&b, ",\"query\":");
    buf_json_str(&b, query);
    buf_str(&b, ",\"project\":");
    buf_json_str(&b, project);
    buf_str(&b, ",\"status\":");
    buf_u64(&b, status);
    buf_str(&b, ",\"correlation_id\":");
    buf_json_str(&b, corr_id);
    buf_chr(&b, '}');
    size_t len = 0;
    char *json = buf_take(&b, &len);
    if (json != NULL) {
        if (logfile != NULL) {
            if (fwrite(json, 1, len, logfile) != len || fputc('\n', logfile) == EOF ||
                fflush(logfile) != 0)
                fprintf(stderr, "fake-hetzner: cannot write the request log\n");
        }
        if (count == RING_CAP) {
            free(ring[head].json);
            head = (head + 1) % RING_CAP;
            count--;
        }
        ring[(head + count) % RING_CAP] = (struct entry){ seq, project, json };
        count++;
    }
    pthread_mutex_unlock(&mu);
}

void reqlog_dump(struct buf *b, const char *project, uint64_t since)
{
    pthread_mutex_lock(&mu);
    buf_chr(b, '[');
    bool first = true;
    for (size_t i = 0; i < count; i++) {
        const struct entry *e = &ring[(head + i) % RING_CAP];
        if (e->seq <= since)
            continue;
        if (project != NULL &&
            (e->project == NULL || strcmp(project, e->project) != 0))
            continue;
        if (!first)
            buf_chr(b, ',');
        first = false;
        buf_str(b, e->json);
    }
    buf_chr(b, ']');
    pthread_mutex_unlock(&mu);
}

void reqlog_reset(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < count; i++)
        free(ring[(head + i) % RING_CAP].json);
    head = count = 0;
    pthread_mutex_unlock(&mu);
}

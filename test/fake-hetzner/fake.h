/*
 * fake.h - private header of fake-hetzner, a fake of the Hetzner Cloud API.
 *
 * Module map (one file each):
 *   util.c     growable byte buffer with a sticky out-of-memory flag, JSON
 *              string escaping, number parsing, base64, hashing, time.
 *   md5.c      RFC 1321 MD5 (for SSH key fingerprints).
 *   select.c   Hetzner label-selector parsing and matching.
 *   gen.c      the generated data set: a pure function of the project spec,
 *              the data version and an item index.
 *   cache.c    rendered JSON of generated items, kept per project, version
 *              and resource once first served.
 *   handfile.c hand-written data sets loaded from JSON files.
 *   data.c     one interface over both kinds of data set.
 *   projects.c projects file parser, runtime knobs, token bucket, admin words.
 *   reqlog.c   request log (memory ring + optional JSON-lines file).
 *   timer.c    timer thread that resumes suspended MHD connections.
 *   http.c     the libmicrohttpd request handler: routing, auth, rate limit,
 *              fault injection, pages and the /_fake/ admin interface.
 *   main.c     command line, listening socket, signals.
 *
 * Concurrency: projects are created once at start-up and never freed while
 * the daemon runs.  Everything in a project that changes at run time (knobs,
 * token bucket) is guarded by project->mu.  The data sets are immutable;
 * the rendered-item cache of a generated project fills in lock-free, keyed
 * by version (see cache.c).
 */
#ifndef FAKE_HETZNER_FAKE_H
#define FAKE_HETZNER_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

/* ------------------------------------------------------------ util.c */

/* A growable buffer.  Appends never fail loudly: on allocation failure
 * they set oom and do nothing more, so a caller checks once at the end. */
struct buf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
bool buf_reserve(struct buf *b, size_t extra);
void buf_mem(struct buf *b, const void *p, size_t n);
void buf_str(struct buf *b, const char *s);
void buf_chr(struct buf *b, char c);
void buf_u64(struct buf *b, uint64_t v);
void buf_i64(struct buf *b, int64_t v);
void buf_json_strn(struct buf *b, const char *s, size_t n);
void buf_json_str(struct buf *b, const char *s);   /* NULL -> null */
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the NUL-terminated contents to the caller (free()); NULL on oom. */
char *buf_take(struct buf *b, size_t *len);

uint64_t mix64(uint64_t x);
/* Whole-string decimal parse into [min, max]; 0 on success, -1 otherwise. */
int parse_long(const char *s, long min, long max, long *out);
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Writes NUL-terminated base64 of in; returns its length or 0 if cap is
 * too small. */
size_t base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
void md5(const void *data, size_t n, uint8_t out[16]);
void format_rfc3339(int64_t unix_s, bool zulu, char out[32]);
double mono_now(void);
double wall_now(void);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* --------------------------------------------------------- select.c */

#define MAX_LABELS 40

struct label {
    const char *key;
    const char *value;
};

struct labelset {
    size_t n;
    struct label v[MAX_LABELS];
};

enum sel_op { SEL_EQ, SEL_NE, SEL_EXISTS, SEL_ABSENT, SEL_IN, SEL_NOTIN };

struct sel_term {
    enum sel_op op;
    char *key;
    char **vals;
    size_t nvals;
};

struct selector {
    struct sel_term *t;
    size_t n;
};

int selector_parse(const char *s, struct selector *out);
bool selector_match(const struct selector *sel, const struct labelset *ls);
void selector_free(struct selector *sel);

/* ------------------------------------------------------------ data */

enum resource { RES_SERVERS, RES_SSH_KEYS, RES_FIREWALLS, RES__COUNT };

extern const char *const resource_plural[RES__COUNT];   /* "servers" */
extern const char *const resource_singular[RES__COUNT]; /* "server" */

enum bind_mode { BIND_DIRECT, BIND_SELECTOR, BIND_MIXED, BIND_NONE };

enum rule_shape {
    SHAPE_SSH_OPEN, SHAPE_SSH_OFFICE, SHAPE_WEB_ONLY, SHAPE_WIDE_OPEN,
    SHAPE_DB_INTERNAL, SHAPE_NONE, SHAPE__COUNT
};

enum key_kind { KEY_ED25519, KEY_RSA, KEY_ECDSA };

struct key_type {
    enum key_kind kind;
    int bits;           /* rsa: modulus bits; ecdsa: 256/384/521 */
};

#define MAX_PROJECT_LABELS 32
#define MAX_SHAPES 16
#define MAX_KEY_TYPES 16

/* The deterministic description of a generated project (see README). */
struct gen_spec {
    uint64_t seed;
    long servers, ssh_keys, firewalls;
    enum bind_mode bind;
    long private_n, unbound, pending, ipv6_only;
    enum rule_shape shapes[MAX_SHAPES];
    size_t nshapes;
    struct key_type key_types[MAX_KEY_TYPES];
    size_t nkey_types;
    struct label labels[MAX_PROJECT_LABELS];    /* owned strings */
    size_t nlabels;
    int64_t id_base;
    long v2_remove, v2_add, v2_change;
    int ordinal;                                /* 1-based line order */
};

/* One hand-written item: its JSON text, id, name and labels. */
struct hand_item {
    int64_t id;
    char *name;
    char *json;
    size_t json_len;
    struct labelset labels;     /* strings owned by the item */
};

struct hand_data {
    struct hand_item *items[RES__COUNT];
    size_t n[RES__COUNT];
};

/* Name and labels of one item, for filtering without rendering. */
struct item_meta {
    const char *name;
    struct labelset labels;
    char store[512];            /* backing for generated strings */
};

struct project;

size_t data_count(const struct project *p, int version, enum resource r);
void data_render(const struct project *p, int version, enum resource r,
                 size_t idx, struct buf *b);
/* Items [from, from + n) (clipped to the count), separated by commas. */
void data_render_range(const struct project *p, int version, enum resource r,
                       size_t from, size_t n, struct buf *b);
void data_meta(const struct project *p, int version, enum resource r,
               size_t idx, struct item_meta *m);
/* Index of the item with this id, or -1. */
long data_find_id(const struct project *p, int version, enum resource r,
                  int64_t id);

/* gen.c */
size_t gen_count(const struct gen_spec *g, int version, enum resource r);
void gen_render(const struct project *p, int version, enum resource r,
                size_t idx, struct buf *b);
void gen_meta(const struct project *p, int version, enum resource r,
              size_t idx, struct item_meta *m);
long gen_find_id(const struct gen_spec *g, int version, enum resource r,
                 int64_t id);
bool shape_from_name(const char *s, size_t n, enum rule_shape *out);

/* cache.c: per-project cache of generated items (generated projects only) */
struct gen_cache;
int cache_init(struct project *p);     /* at load; -1 on out of memory */
void cache_free(struct project *p);
/* As data_render_range, from the cache (rendered and kept on first use). */
void cache_render_range(const struct project *p, int version, enum resource r,
                        size_t from, size_t n, struct buf *b);

/* handfile.c */
int hand_load(const char *path, struct hand_data **out, char *err,
              size_t errlen);
void hand_free(struct hand_data *h);

/* -------------------------------------------------------- projects.c */

#define FAULT_PATH_ANY (-1)

/* Everything that can change at run time (projects file or admin POST). */
struct knobs {
    long limit;
    long latency_ms;
    int fail_status;            /* index into the error table, -1 = none */
    long fail_count;
    long html502;
    long stall, stall_ms;
    long truncate;
    long malformed;
    long deep, deep_depth;
    long huge, huge_mb;
    bool huge_length;           /* send Content-Length instead of chunked */
    int fault_path;             /* enum resource or FAULT_PATH_ANY */
    long fault_page;            /* 0 = any */
    int version;                /* 1 or 2 */
    bool null_totals;
    long retry_after;           /* 0 = no Retry-After header on 429 */
};

struct project {
    char *name;
    char *token;
    int ordinal;
    bool generated;
    struct gen_spec gen;
    struct gen_cache *cache;    /* generated: rendered items (cache.c) */
    struct hand_data *hand[2];  /* hand-written: version 1, version 2 */
    char *file_path[2];

    pthread_mutex_t mu;         /* guards knobs, level, last */
    struct knobs knobs;
    double level;               /* token bucket */
    double last;                /* mono_now() of the last refill */
};

struct projects {
    struct project **v;         /* file order */
    size_t n;
    struct project **by_token;  /* sorted by token */
};

int projects_load(const char *path, struct projects *out, char *err,
                  size_t errlen);
void projects_free(struct projects *ps);
struct project *projects_by_token(const struct projects *ps,
                                  const char *token, size_t len);
struct project *projects_by_name(const struct projects *ps, const char *name);
/* Applies admin words ("k=v k=v" or "k=v&k=v") atomically; 0 or -1. */
int project_apply_words(struct project *p, const char *text, size_t len,
                        char *err, size_t errlen);
/* JSON object of the project's knobs and state. */
void project_to_json(struct project *p, struct buf *b);

/* Error table shared by fail= and the HTTP layer. */
struct api_error {
    const char *name;           /* what fail= accepts besides the status */
    int status;
    const char *code;
    const char *message;        /* NULL: built by the caller (429) */
    const char *details;        /* raw JSON */
};

extern const struct api_error api_errors[];
extern const size_t n_api_errors;
int api_error_index(const char *code);

/* Token bucket: refills, then tries to take one.  Fills the header
 * values.  Caller holds p->mu. */
bool bucket_take(struct project *p, double now_mono, double now_wall,
                 long *limit, long *remaining, int64_t *reset);

/* ---------------------------------------------------------- reqlog.c */

int reqlog_open(const char *path);
void reqlog_close(void);
void reqlog_add(const char *method, const char *path, const char *query,
                const char *project, unsigned status, const char *corr_id);
/* JSON array of entries, optionally only one project's, only seq > since. */
void reqlog_dump(struct buf *b, const char *project, uint64_t since);
void reqlog_reset(void);

/* ----------------------------------------------------------- timer.c */

int timer_start(void);
/* Suspends conn and resumes it after ms; -1 if shutting down (then the
 * connection is not suspended).  Call only from MHD callbacks. */
int timer_suspend(struct MHD_Connection *conn, long ms);
/* Resumes every waiting connection and refuses new ones. */
void timer_drain(void);
void timer_stop(void);
bool timer_stopping(void);

/* ------------------------------------------------------------ http.c */

struct MHD_Daemon;
struct MHD_Daemon *http_start(int listen_fd, struct projects *ps,
                              unsigned threads);

#endif

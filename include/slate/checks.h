/*
 * checks.h: the automated tests of CHECKS.md, as pure functions over models.
 *
 * Data in (the last inventory a sync stored, the integration's sync state,
 * members and owners), results out; no I/O, no clock (the caller passes
 * `now_ms`).  The tests are listed in one table of descriptors; adding a test
 * is one function and one row.
 */
#ifndef SLATE_CHECKS_H
#define SLATE_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slate/model.h"
#include "slate/util.h"

enum slate_check_status {
    SLATE_CHECK_PASS,
    SLATE_CHECK_FAIL,
    SLATE_CHECK_NOT_APPLICABLE,
    SLATE_CHECK_ERROR,
};

/* "pass", "fail", "not_applicable", "error". */
const char *slate_check_status_name(enum slate_check_status s);

/* What the integration record says about its syncs. */
struct slate_sync_state {
    bool connected;              /* the integration record exists */
    const char *status;          /* "connected" | "error" (NULL: unknown) */
    const char *last_error;      /* sentence of the last failed sync, or NULL */
    const char *last_error_code; /* its error_code ("invalid_token", ...), or NULL */
    int64_t last_success_ms;     /* end of the last successful complete sync; 0: never */
    /* Whether the last successful sync read each collection completely.  A
     * collection that was not read is never taken as "no resources". */
    bool servers_complete;
    bool ssh_keys_complete;
    bool firewalls_complete;
};

struct slate_check_config {
    int64_t freshness_s;         /* SLATE_FRESHNESS_S, default 86400 */
    int ipv4_broad_prefix;       /* a merged range >= a /8 is "the internet" */
    int ipv6_broad_prefix;       /* ... or >= an IPv6 /32 */
};

void slate_check_config_default(struct slate_check_config *cfg);

/*
 * Everything a test reads; borrowed for the duration of slate_check_run.
 * `sync` NULL reads as "not connected", `inv` NULL as "never synced", `members`
 * and `owners` NULL as empty, `cfg` NULL as slate_check_config_default().
 *
 * Data freshness, for every test over the inventory: the data is judged only
 * when the integration is connected, last_success_ms is set and `inv` is not
 * NULL, and now_ms - last_success_ms <= freshness_s * 1000; otherwise the test
 * is `error` with one integration-level finding in `errors` saying why.  A
 * test that reads a collection whose *_complete flag is false is `error` in the
 * same way (a collection not read is never "no resources").  A failed last
 * sync (status "error") does not stop the other tests from judging the last
 * successful inventory while it is fresh; hetzner.cloud_linked fails at once.
 */
struct slate_check_input {
    const char *integration;              /* integration id */
    const struct slate_sync_state *sync;
    const struct slate_inventory *inv;    /* NULL when nothing was ever stored */
    const struct slate_strset *members;   /* slate:{W}:members */
    const struct slate_strmap *owners;    /* slate:{W}:asset_owners */
    const struct slate_check_config *cfg;
    int64_t now_ms;
    /* Streaming (see below): the project's number of servers when `inv`
     * holds only some of them; 0 means inv->n_servers. */
    size_t n_servers_total;
};

/* Strings owned by the result (freed by slate_check_result_free). */
struct slate_finding {
    char *resource;   /* "hetzner:I:server:ID", "hetzner:I:ssh_key:ID", or "hetzner:I" */
    char *name;       /* the server's or key's name ("" when it has none), or I */
    char *reason;     /* one sentence a person can act on */
};

struct slate_findings {
    struct slate_finding *v;
    size_t n, cap;
};

struct slate_check_desc;

/* status: fail when `failing` is not empty; else error when `errors` is not
 * empty; else pass when checked > 0; else not_applicable.  `checked` counts
 * the resources the test applied to (1 for an integration-level test). */
struct slate_check_result {
    const struct slate_check_desc *desc;
    enum slate_check_status status;
    long checked;
    struct slate_findings failing;
    struct slate_findings not_applicable;
    struct slate_findings errors;
};

typedef void slate_check_fn(const struct slate_check_input *in,
                            struct slate_check_result *out);

struct slate_check_desc {
    const char *id;             /* "hetzner.ssh_not_public" */
    const char *title;
    const char *const *iso27001;   /* NULL-terminated control ids */
    const char *const *soc2;
    const char *remediation;
    slate_check_fn *fn;
    /* Decided server by server: run on each page of servers (with every SSH
     * key and firewall) and the pages' findings joined give the result of
     * the whole project.  The others run once, on no servers, with
     * n_servers_total set. */
    bool per_server;
};

/* The table of every test, in the order they are reported. */
extern const struct slate_check_desc slate_checks[];
extern const size_t slate_n_checks;

/* The descriptor with this id, or NULL. */
const struct slate_check_desc *slate_check_find(const char *id);

/* Runs one test.  `out` is initialised here; release with
 * slate_check_result_free. */
void slate_check_run(const struct slate_check_desc *desc,
                     const struct slate_check_input *in,
                     struct slate_check_result *out);
void slate_check_result_free(struct slate_check_result *r);

/* The result as CHECKS.md's JSON object, compact (no spaces), keys in this
 * order: id, title, status, evaluated_at (now_ms as RFC 3339 UTC), checked,
 * failing, not_applicable, errors (arrays of {resource, name, reason}),
 * controls {iso27001_2022, soc2}, remediation; appended to `out`. */
void slate_check_result_json(const struct slate_check_result *r, int64_t now_ms,
                             struct slate_buf *out);

/* ---- Streaming ----------------------------------------------------------
 * A sync of a big project never holds all its servers: per-server tests run
 * page by page, and their findings are written out as JSON items as they
 * come.  These pieces give the very bytes slate_check_result_json gives. */

/* CHECKS.md's precedence from the counts: fail, error, pass, not_applicable. */
enum slate_check_status slate_check_status_of(size_t n_failing, size_t n_errors, long checked);

/* The findings as comma-separated JSON objects, without brackets. */
void slate_findings_json_items(const struct slate_findings *f, struct slate_buf *out);

/* The four parts of a result's JSON around its three lists: the result is
 *   parts[0] failing-items parts[1] not_applicable-items parts[2]
 *   errors-items parts[3].
 * Each part is appended to its buffer. */
void slate_check_json_parts(const struct slate_check_desc *desc, enum slate_check_status status,
                            long checked, int64_t now_ms, struct slate_buf parts[4]);

#endif
